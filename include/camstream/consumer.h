/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file consumer.h
 * @brief The consumer SDK: read video back from a KVS-compatible server (the camstream ingest
 * server, or any server speaking PROTOCOL.md §5) as fragment and frame events.
 *
 * Two layers:
 * - **cs_gm_parser**: turns the bytes of a GetMedia / GetMediaForFragmentList response (one
 *   EBML header + Segment per fragment, with the AWS_KINESISVIDEO_* tags) into events: a
 *   fragment starts (number, server and producer timestamps, the producer's tags, the tracks),
 *   each whole frame (track, timestamp, key flag, payload), the fragment ends (millis behind
 *   now, continuation token), or the server reported an error inside the stream. No I/O; memory
 *   fixed at create (the largest frame it will assemble is a setting).
 * - **cs_consumer**: the client. Signs and sends getDataEndpoint and getMedia (any start
 *   selector) or getMediaForFragmentList, feeds the response to a parser, and hands out events
 *   one at a time. After a dropped connection it reconnects with the last continuation token and
 *   skips what it already delivered, so the caller sees every frame exactly once, in order.
 *
 * @code
 * cs_consumer_config cc;
 * cs_consumer *c;
 * cs_consumer_config_init(&cc);
 * cc.endpoint = "http://127.0.0.1:4566";
 * cc.stream_name = "front-door";
 * cc.start.type = CS_START_EARLIEST;
 * if (cs_consumer_open(&cc, &c) != CS_OK) { ... }
 * for (;;) {
 *     cs_gm_event ev;
 *     cs_status st = cs_consumer_next(c, 5000, &ev);
 *     if (st == CS_E_TIMEOUT) continue;            // nothing new within 5 s (live stream)
 *     if (st != CS_OK || ev.type == CS_GM_EV_END) break;
 *     if (ev.type == CS_GM_EV_FRAME) write(fd, ev.frame.data, ev.frame.size);
 * }
 * cs_consumer_close(&c);
 * @endcode
 */
#ifndef CAMSTREAM_CONSUMER_H
#define CAMSTREAM_CONSUMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/kvs_ack.h"
#include "camstream/mkv.h"
#include "camstream/platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------- */
/* Parser                                                                                         */
/* ---------------------------------------------------------------------------------------------- */

/** Longest fragment number / continuation token kept (KVS uses 47 digits). */
#define CS_GM_NUMBER_MAX CS_KVS_FRAGMENT_NUMBER_MAX
/** Producer tags kept per fragment (PROTOCOL.md §4: at most 10). */
#define CS_GM_MAX_TAGS 10
/** Bytes kept for the producer's tags (names and values) per fragment. */
#define CS_GM_TAG_BYTES 4096
/** Bytes kept for the CodecPrivate of all tracks. */
#define CS_GM_CODEC_PRIVATE_BYTES 8192

/** @brief What an event reports. Values are only appended. */
typedef enum cs_gm_event_type {
    CS_GM_EV_NONE = 0,           /**< every byte given was used: feed more */
    CS_GM_EV_FRAGMENT_START = 1, /**< u: fragment (tracks, number, timestamps, tags) */
    CS_GM_EV_FRAME = 2,          /**< frame, and fragment (the one it belongs to) */
    CS_GM_EV_FRAGMENT_END = 3,   /**< fragment, now with millis_behind_now/continuation */
    CS_GM_EV_ERROR = 4,          /**< the server reported an error inside the stream: error */
    CS_GM_EV_END = 5,            /**< cs_consumer only: the response ended and nothing follows
                                      (a fragment list, or a GetMedia the server closed) */
} cs_gm_event_type;

/** @brief One producer tag (name and value point into the parser; NUL-terminated). */
typedef struct cs_gm_tag {
    const char *name;
    const char *value;
} cs_gm_tag;

/** @brief The fragment being read. */
typedef struct cs_gm_fragment {
    char number[CS_GM_NUMBER_MAX + 1]; /**< AWS_KINESISVIDEO_FRAGMENT_NUMBER ("" if absent) */
    uint64_t server_ms;                /**< AWS_KINESISVIDEO_SERVER_TIMESTAMP, ms since the epoch */
    uint64_t producer_ms; /**< AWS_KINESISVIDEO_PRODUCER_TIMESTAMP, ms since the epoch */
    bool has_server_ms, has_producer_ms;
    /** Set at FRAGMENT_END when the server sent it. */
    int64_t millis_behind_now;
    bool has_millis_behind_now;
    char continuation_token[CS_GM_NUMBER_MAX + 1]; /**< "" until FRAGMENT_END (if sent) */
    cs_gm_tag tags[CS_GM_MAX_TAGS];                /**< the producer's own fragment tags */
    size_t tag_count;
    cs_mkv_track_info tracks[CS_MKV_MAX_TRACKS]; /**< codec_private points into the parser */
    size_t track_count;
    uint64_t cluster_timecode; /**< Cluster Timecode, ms */
    uint32_t frames;           /**< frames so far (final at FRAGMENT_END) */
    /** FRAGMENT_END: the fragment's closing Tags (MILLIS_BEHIND_NOW / CONTINUATION_TOKEN) or
     * the next fragment's header arrived, so every frame of it was delivered. */
    bool complete;
    uint64_t bytes; /**< frame payload bytes so far */
} cs_gm_fragment;

/** @brief One whole frame. */
typedef struct cs_gm_frame {
    uint64_t track;       /**< TrackNumber */
    int64_t timestamp_ns; /**< absolute: cluster timecode + block timecode, in ns */
    bool key;
    uint32_t index;      /**< 0-based frame index within the fragment */
    const uint8_t *data; /**< the payload as stored (AVCC for H.264/H.265) */
    size_t size;
} cs_gm_frame;

/** @brief An error the server sent inside the stream (AWS_KINESISVIDEO_ERROR_* tags). */
typedef struct cs_gm_error {
    uint32_t id;      /**< AWS_KINESISVIDEO_ERROR_ID (e.g. 4000 fragment not found) */
    const char *code; /**< AWS_KINESISVIDEO_ERROR_CODE text ("" if absent) */
} cs_gm_error;

/** @brief One event; pointers are valid until the next call on the parser. */
typedef struct cs_gm_event {
    cs_gm_event_type type;
    const cs_gm_fragment *fragment; /**< FRAGMENT_START, FRAME, FRAGMENT_END */
    cs_gm_frame frame;              /**< FRAME */
    cs_gm_error error;              /**< ERROR */
} cs_gm_event;

/** @brief Parser settings; fill with cs_gm_parser_config_init(). Fields are only appended. */
typedef struct cs_gm_parser_config {
    size_t max_frame_bytes;        /**< largest frame assembled; default 4 MiB */
    const cs_allocator *allocator; /**< NULL: default */
} cs_gm_parser_config;

typedef struct cs_gm_parser cs_gm_parser;

/** @brief Fills `cfg` with the defaults listed at each field. */
CS_API void cs_gm_parser_config_init(cs_gm_parser_config *cfg);

/**
 * @brief Creates a parser (one allocation: the reader, the frame buffer, tag and track space).
 * @return CS_OK; CS_E_INVAL; CS_E_NOMEM
 */
CS_API cs_status cs_gm_parser_create(const cs_gm_parser_config *cfg, cs_gm_parser **out);

/** @brief Frees it; sets `*p` to NULL; accepts NULL. */
CS_API void cs_gm_parser_destroy(cs_gm_parser **p);

/** @brief Starts over for a new response (offset 0, no fragment open). */
CS_API void cs_gm_parser_reset(cs_gm_parser *p);

/**
 * @brief Reads `data` until one event is complete or every byte is used. Call again with
 * `data + *used` until the event type is CS_GM_EV_NONE.
 * @return CS_OK (see ev->type); CS_E_MALFORMED (the bytes are not a GetMedia stream:
 *         cs_gm_parser_error() says where and why; the parser stays failed until reset);
 *         CS_E_LIMIT (a frame above max_frame_bytes, too many tags or tracks); CS_E_INVAL
 */
CS_API cs_status cs_gm_parser_next(cs_gm_parser *p, const uint8_t *data, size_t len, size_t *used,
                                   cs_gm_event *ev);

/**
 * @brief The response ended. If a fragment was still open (its closing tags never came: the
 * stream was cut, or the server does not send them), returns a FRAGMENT_END for it with
 * `complete` false; else an event of type NONE. Then the parser is reset.
 */
CS_API cs_status cs_gm_parser_end(cs_gm_parser *p, cs_gm_event *ev);

/** @brief Why the parser failed and at which byte; "" when it did not. */
CS_API const char *cs_gm_parser_error(const cs_gm_parser *p, uint64_t *offset);

/* ---------------------------------------------------------------------------------------------- */
/* Remux: events back into one continuous Matroska stream                                         */
/* ---------------------------------------------------------------------------------------------- */

/**
 * @brief Writes parser events as one Matroska stream that any demuxer plays: the header (EBML,
 * Segment of unknown size, Info, the first fragment's Tracks) once, a Cluster per fragment, a
 * SimpleBlock per frame. GetMedia's per-fragment headers and service tags are left out. Used by
 * camstreamsrc and `camstream get-media`. Caller-allocated; members are private.
 * @code
 * cs_gm_remux rm;
 * cs_gm_remux_init(&rm);
 * ... for each event ev:
 * size_t n;
 * if (cs_gm_remux_write(&rm, &ev, NULL, 0, &n) == CS_OK && n > 0) {   // measure
 *     cs_gm_remux_write(&rm, &ev, buf, n, &n);                          // write
 *     fwrite(buf, 1, n, out);
 * }
 * @endcode
 */
typedef struct cs_gm_remux {
    bool header_sent;
    uint64_t cluster_ms;
    bool in_cluster;
} cs_gm_remux;

/** @brief Starts a new output stream (the header comes again). */
CS_API void cs_gm_remux_init(cs_gm_remux *r);

/**
 * @brief The bytes `ev` adds: FRAGMENT_START a Cluster (after the header, the first time);
 * FRAME a SimpleBlock; other events nothing (`*len` 0). With `dst` NULL only measures (and the
 * state does not move); a write moves it.
 * @return CS_OK; CS_E_NOSPACE (cap < *len); CS_E_RANGE (a frame more than 32 s from its
 *         fragment's start: not expressible in a Cluster); CS_E_STATE (a frame before any
 *         fragment); CS_E_INVAL (tracks the writer refuses)
 */
CS_API cs_status cs_gm_remux_write(cs_gm_remux *r, const cs_gm_event *ev, uint8_t *dst, size_t cap,
                                   size_t *len);

/* ---------------------------------------------------------------------------------------------- */
/* Client                                                                                         */
/* ---------------------------------------------------------------------------------------------- */

/** @brief Where GetMedia starts (PROTOCOL.md §5). */
typedef enum cs_start_type {
    CS_START_NOW = 0,
    CS_START_EARLIEST = 1,
    CS_START_FRAGMENT_NUMBER = 2,    /**< at `fragment_number` (inclusive) */
    CS_START_SERVER_TIMESTAMP = 3,   /**< at `timestamp_ms` */
    CS_START_PRODUCER_TIMESTAMP = 4, /**< at `timestamp_ms` */
    CS_START_CONTINUATION_TOKEN = 5, /**< after the fragment `continuation_token` names */
} cs_start_type;

/** @brief A start selector. */
typedef struct cs_start_selector {
    cs_start_type type;
    const char *fragment_number;
    uint64_t timestamp_ms;
    const char *continuation_token;
} cs_start_selector;

/** @brief Client settings; fill with cs_consumer_config_init(). Fields are only appended. */
typedef struct cs_consumer_config {
    const char *endpoint; /**< control-plane base URL (required) */
    const char *region;   /**< default "us-east-1" */
    /** Static credentials; NULL: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
     * AWS_SESSION_TOKEN from the environment; none there: requests are not signed. */
    const char *access_key;
    const char *secret_key;
    const char *session_token;
    const char *stream_name; /**< stream_name or stream_arn (required) */
    const char *stream_arn;
    cs_start_selector start; /**< GetMedia; default NOW */
    /** Non-NULL: GetMediaForFragmentList of these fragment numbers instead of GetMedia. */
    const char *const *fragments;
    size_t fragment_count;
    size_t max_frame_bytes;  /**< parser setting; default 4 MiB */
    bool reconnect;          /**< resume after a dropped connection; default true */
    uint32_t max_reconnects; /**< in a row without progress; default 10 */
    /** GetMedia ended by the server (idle or its time limit): reconnect with the continuation
     * token and go on (true, default: follow the stream forever) or report END (false). */
    bool follow;
    uint32_t connect_timeout_ms; /**< default 5000 */
    const char *ca_path;         /**< TLS CA bundle (NULL: the system's) */
    bool tls_verify;             /**< default true */
    const cs_allocator *allocator;
    const cs_logger *logger;
    /** A reader picking up where an earlier one stopped (a restarted process, typically with
     * CS_START_CONTINUATION_TOKEN from the last fragment it processed): set
     * `resume_producer_ms_set` and the producer timestamp of that fragment. Fragments whose
     * producer timestamp is at or before it are then skipped as delivered already, as they are
     * after a reconnect inside one client: a fragment served live that the server then failed
     * to store (a crash, a full disk) comes back re-sent by the producer under a newer number,
     * and a continuation token alone resumes after the old number, so before the copy. */
    bool resume_producer_ms_set;
    uint64_t resume_producer_ms;
} cs_consumer_config;

typedef struct cs_consumer cs_consumer;

/** @brief Fills `cfg` with the defaults listed at each field. */
CS_API void cs_consumer_config_init(cs_consumer_config *cfg);

/**
 * @brief Asks for the data endpoint and starts the GetMedia (or fragment list) request.
 * @return CS_OK; CS_E_INVAL (missing endpoint or stream, bad selector); CS_E_NOTFOUND (no such
 *         stream); CS_E_AUTH (credentials refused); CS_E_NET (cannot connect); CS_E_UNSUPPORTED
 *         (a build without libcurl); CS_E_NOMEM. cs_consumer_error() has the server's message
 *         for the failures it answered.
 */
CS_API cs_status cs_consumer_open(const cs_consumer_config *cfg, cs_consumer **out);

/**
 * @brief The next event, waiting up to `timeout_ms` for it. FRAGMENT_START, FRAME and
 * FRAGMENT_END come exactly once per fragment and frame, in order, also across reconnects.
 * Pointers in the event are valid until the next call.
 * @return CS_OK (ev->type is never NONE; END means nothing more will come); CS_E_TIMEOUT (no
 *         event within the time; call again); CS_E_NET (the connection failed and reconnecting
 *         did not help); CS_E_MALFORMED / CS_E_LIMIT (the stream could not be parsed); CS_E_AUTH,
 *         CS_E_NOTFOUND (on reconnect)
 */
CS_API cs_status cs_consumer_next(cs_consumer *c, uint32_t timeout_ms, cs_gm_event *ev);

/** @brief The last error's message (server's or ours), "" if none. */
CS_API const char *cs_consumer_error(const cs_consumer *c);

/** @brief The answer to a control-plane call. */
typedef struct cs_kvs_result {
    int http_status;      /**< 0: no answer (see the return status) */
    char error_type[128]; /**< x-amzn-ErrorType, "" on success */
    size_t body_len;      /**< bytes of the body (may exceed what fitted in `out`) */
} cs_kvs_result;

/**
 * @brief One signed KVS control-plane or archived-media call (`POST <endpoint><path>` with a
 * JSON body), e.g. "/listStreams", "/describeStream", "/listFragments", with the endpoint,
 * region and credentials of `cfg` (stream and selector fields are not used). The response body
 * goes to `out` (NUL-terminated, truncated to `cap`).
 * @return CS_OK when an HTTP answer came (any status: see res->http_status and
 *         res->error_type); CS_E_NET (no answer); CS_E_INVAL; CS_E_NOMEM; CS_E_UNSUPPORTED
 */
CS_API cs_status cs_kvs_call(const cs_consumer_config *cfg, const char *path, const char *json,
                             char *out, size_t cap, cs_kvs_result *res);

/** @brief Counters: bytes received, fragments and frames delivered, reconnects. */
typedef struct cs_consumer_stats {
    uint64_t bytes;
    uint64_t fragments;
    uint64_t frames;
    uint64_t reconnects;
    uint64_t skipped_frames; /**< re-sent after a reconnect and not delivered twice */
} cs_consumer_stats;

/** @brief A snapshot of the counters. */
CS_API void cs_consumer_get_stats(const cs_consumer *c, cs_consumer_stats *s);

/** @brief Ends the request and frees the client; sets `*c` to NULL; accepts NULL. */
CS_API void cs_consumer_close(cs_consumer **c);

#ifdef __cplusplus
}
#endif

#endif /* CAMSTREAM_CONSUMER_H */
