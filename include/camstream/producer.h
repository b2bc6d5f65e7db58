/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file producer.h
 * @brief The device SDK: stream encoded video (and audio) to a KVS-compatible endpoint (the
 * camstream ingest server, or any server speaking PROTOCOL.md §2-3) from a fixed-size buffer,
 * riding out network outages and losing nothing it did not report. This header is the spec.
 *
 * @code
 * cs_producer_config pc;
 * cs_producer *p;
 * cs_producer_config_init(&pc);
 * pc.endpoint = "http://127.0.0.1:4566";
 * pc.region = "us-east-1";                 // credentials: environment, ~/.aws/credentials, ...
 * if (cs_producer_create(&pc, &p) != CS_OK) { ... }
 *
 * cs_stream_config sc;
 * cs_stream *s;
 * cs_stream_config_init(&sc);
 * sc.name = "front-door";
 * sc.tracks[0].codec = CS_MKV_CODEC_ID_H264; // CodecPrivate from the first key frame's SPS/PPS
 * sc.track_count = 1;
 * sc.store_bytes = 4u << 20;
 * if (cs_stream_create(p, &sc, &s) != CS_OK) { ... }
 *
 * cs_frame f = CS_FRAME_INIT;
 * f.data = annexb; f.size = len; f.pts_ns = f.dts_ns = pts; f.flags = key ? CS_FRAME_KEY : 0;
 * cs_stream_put_frame(s, &f);              // from any thread; never blocks on the network
 * ...
 * cs_stream_flush(s, 10000);               // wait until everything is PERSISTED (or 10 s)
 * cs_stream_destroy(&s);
 * cs_producer_destroy(&p);
 * @endcode
 *
 * Model.
 * - A producer owns one I/O thread. It drives every stream's control-plane calls and upload
 *   through one transport (libcurl's multi interface by default). There is no thread per stream
 *   and no thread per API call.
 * - A stream owns one content store: one block allocated at cs_stream_create(), holding the MKV
 *   bytes of the upload as a ring with a small fixed index of fragment boundaries. A frame is
 *   converted (Annex-B -> AVCC) and written into the ring once; the upload reads from the ring;
 *   only a PERSISTED ack from the server frees ring space. Nothing allocates per frame.
 * - Stream states: DESCRIBING -> (CREATING if missing and allowed) -> GETTING_ENDPOINT ->
 *   CONNECTING -> STREAMING. On any error, or when no ack arrived for `stale_timeout_ms` while
 *   data was outstanding, the stream goes to BACKOFF (exponential with full jitter), then opens a
 *   new upload (a new MKV session: EBML header, Segment, Info, Tracks) and re-sends from the
 *   oldest fragment not yet PERSISTED. The server stores each fragment exactly once.
 * - ERROR acks the server will answer the same way on retry (PROTOCOL.md §3: 4001 too big,
 *   4002 too long, 4004 timecode going back, 4006 invalid MKV, 4009 metadata, 4010-4012 tracks)
 *   drop that fragment, reported through on_drop with reason CS_DROP_REJECTED; the others
 *   (4000, 4003, 4008, 5000, 5001, ...) make the stream reconnect and re-send it.
 *
 * Threading. cs_stream_put_frame() and cs_stream_put_tag() may be called from any thread (calls
 * on one stream are serialized by the stream's lock). Callbacks run on the I/O thread, except
 * on_drop (reason EVICTED or TOO_LARGE) and on_pressure, which run on the thread calling
 * cs_stream_put_frame() when that call makes room or crosses a threshold (a fill falling back
 * below a threshold because acks freed space is reported on the I/O thread). Callbacks must
 * return quickly and must not call cs_stream_destroy(), cs_stream_create(), cs_producer_destroy()
 * or (on_drop, on_pressure) cs_stream_put_frame(); they may call cs_stream_get_metrics() and
 * cs_stream_get_state().
 *
 * Memory. The producer allocates at create time (its own state, the transport's), each stream at
 * cs_stream_create() (the content store: `store_bytes` plus <= 2% index; the stream object:
 * a few KiB). Once streaming, neither allocates per frame. Every allocation goes through the
 * configured allocator (libcurl's own allocations excepted; see docs/producer.md).
 */
#ifndef CAMSTREAM_PRODUCER_H
#define CAMSTREAM_PRODUCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/kvs_ack.h"
#include "camstream/mkv.h"
#include "camstream/platform.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cs_producer cs_producer;
typedef struct cs_stream cs_stream;

/* ---------------------------------------------------------------------------------------------- */
/* Credentials                                                                                    */
/* ---------------------------------------------------------------------------------------------- */

#define CS_CREDENTIALS_KEY_MAX 128    /**< longest access key id / secret key */
#define CS_CREDENTIALS_TOKEN_MAX 2048 /**< longest session token */

/** @brief One set of AWS-style credentials (NUL-terminated strings). */
typedef struct cs_credentials {
    char access_key[CS_CREDENTIALS_KEY_MAX + 1];
    char secret_key[CS_CREDENTIALS_KEY_MAX + 1];
    char session_token[CS_CREDENTIALS_TOKEN_MAX + 1]; /**< "" when none */
    uint64_t expiration_wall_ns; /**< wall-clock ns since the epoch; 0 = does not expire */
} cs_credentials;

/**
 * @brief Supplies rotating credentials. Called on the I/O thread before the first signed
 * request and again when the last ones are within 5 minutes of expiring. Fill `out`, return
 * CS_OK; any other status fails the request that needed them (the stream backs off and retries).
 */
typedef cs_status (*cs_credentials_fn)(void *ctx, cs_credentials *out);

/* ---------------------------------------------------------------------------------------------- */
/* Transport: how the producer speaks HTTP (libcurl by default; a device may bring its own)       */
/* ---------------------------------------------------------------------------------------------- */

/** @brief One request header. */
typedef struct cs_transport_header {
    const char *name;
    const char *value;
} cs_transport_header;

/** @brief A request. Everything is borrowed until on_done has been called (or cancel returned). */
typedef struct cs_transport_request {
    const char *method; /**< "POST" */
    const char *url;    /**< absolute: scheme, host, port, path */
    const cs_transport_header *headers;
    size_t header_count;
    const uint8_t *body; /**< a whole body (control-plane JSON); NULL with streaming_body */
    size_t body_len;
    /** The body is pulled through read_body, of unknown length (HTTP/1.1 chunked, or HTTP/2
     * DATA frames), and the response is delivered through on_data while the body still goes
     * out (full duplex). */
    bool streaming_body;
    uint32_t connect_timeout_ms; /**< 0: the transport's default */
    uint32_t timeout_ms;         /**< whole request; 0: none (streaming uploads) */
} cs_transport_request;

/** @brief What a call reports back. All run on the thread inside cs_transport::run. */
typedef struct cs_transport_handlers {
    /**
     * Pull up to `cap` body bytes into `dst` (streaming_body only). Return the count (> 0); or
     * 0 with `*pause` set: nothing to send now (the call stays open until resume()); or 0 with
     * `*pause` clear: the body is complete.
     */
    size_t (*read_body)(void *ctx, uint8_t *dst, size_t cap, bool *pause);
    /** The response status line and headers arrived. A non-OK return aborts the call. */
    cs_status (*on_status)(void *ctx, int http_status);
    /** Response body bytes, in order. A non-OK return aborts the call. */
    cs_status (*on_data)(void *ctx, const uint8_t *data, size_t len);
    /** Exactly once per started call, last: CS_OK when the exchange completed (whatever the
     * HTTP status), else why not (CS_E_NET, CS_E_TIMEOUT, CS_E_CANCELLED is never reported:
     * cancel() is silent). `http_status` is 0 when no status line arrived. */
    void (*on_done)(void *ctx, cs_status status, int http_status);
    void *ctx;
} cs_transport_handlers;

typedef struct cs_transport_call cs_transport_call;

/**
 * @brief An HTTP client driven by one thread (the producer's I/O thread): every function but
 * wakeup() is called only from that thread. Handlers fire only from inside run().
 */
typedef struct cs_transport {
    void *self;
    /** Starts a call. `req` and `h` are copied or borrowed until on_done (see request). */
    cs_status (*start)(void *self, const cs_transport_request *req, const cs_transport_handlers *h,
                       cs_transport_call **call);
    /** read_body has more bytes for a paused call. */
    void (*resume)(void *self, cs_transport_call *call);
    /** Ends a call now; no handler of it fires after this returns. */
    void (*cancel)(void *self, cs_transport_call *call);
    /** Performs I/O and fires handlers; returns after at most `timeout_ms`, or earlier when
     * something happened or wakeup() was called. */
    cs_status (*run)(void *self, uint32_t timeout_ms);
    /** From any thread: make a blocked or the next run() return promptly. */
    void (*wakeup)(void *self);
    /** Frees the transport; no call may be open. */
    void (*destroy)(void *self);
} cs_transport;

/** @brief Settings of the libcurl transport. */
typedef struct cs_transport_curl_config {
    const cs_allocator *allocator; /**< for the transport's own state (NULL: default) */
    const cs_logger *logger;
    const char *ca_path;    /**< CA bundle file for TLS (NULL: the system's) */
    bool tls_verify;        /**< default true */
    bool http2;             /**< offer h2 by ALPN on https:// (default true); http:// is HTTP/1.1 */
    uint32_t max_calls;     /**< calls open at once (default 64) */
    const char *user_agent; /**< NULL: "camstream-producer/<version>" */
} cs_transport_curl_config;

/** @brief Fills `cfg` with the defaults listed at each field. */
CS_API void cs_transport_curl_config_init(cs_transport_curl_config *cfg);

/**
 * @brief Creates the libcurl multi transport (only in builds with libcurl; else
 * CS_E_UNSUPPORTED). Free with `t->destroy(t->self)`; `*out` points into the allocation.
 */
CS_API cs_status cs_transport_curl_create(const cs_transport_curl_config *cfg, cs_transport **out);

/* ---------------------------------------------------------------------------------------------- */
/* Producer                                                                                       */
/* ---------------------------------------------------------------------------------------------- */

/** @brief Producer settings; fill with cs_producer_config_init(). Fields are only appended. */
typedef struct cs_producer_config {
    /** Control-plane base URL, e.g. "http://127.0.0.1:4566" or "https://kinesisvideo.us-east-1.
     * amazonaws.com". Required. Uploads go to the DataEndpoint the server returns. */
    const char *endpoint;
    const char *region; /**< SigV4 region; default "us-east-1" */

    /* Credentials, first that applies: credentials_fn; access_key + secret_key; the environment
     * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) when use_environment; the
     * shared credentials file (credentials_file, else $AWS_SHARED_CREDENTIALS_FILE, else
     * ~/.aws/credentials), section `profile` (else $AWS_PROFILE, else "default"). None found,
     * or `anonymous`: requests are not signed (a server run with --auth none). */
    cs_credentials_fn credentials_fn;
    void *credentials_ctx;
    const char *access_key;
    const char *secret_key;
    const char *session_token;
    bool use_environment; /**< default true */
    const char *credentials_file;
    const char *profile;
    bool anonymous; /**< default false */

    const char *ca_path; /**< TLS CA bundle (NULL: the system's) */
    bool tls_verify;     /**< default true */

    const cs_allocator *allocator; /**< NULL: cs_allocator_default() */
    const cs_logger *logger;       /**< NULL: cs_logger_default() */
    /** NULL: a libcurl transport created and owned by the producer. Else borrowed: it must
     * outlive the producer. */
    cs_transport *transport;
    const cs_clock *clock; /**< NULL: the system clocks (tests use a manual clock) */

    uint32_t connect_timeout_ms; /**< default 5000 */
    uint32_t request_timeout_ms; /**< a control-plane call; default 10000 */
    /** No ack for this long while bytes are outstanding: the connection is stale and is
     * replaced; default 60000 (the server sends IDLE acks every few seconds). Replacing a
     * connection gives up the bytes in its socket buffers, which a full store counts on (see
     * CS_FULL_DROP_OLDEST); an outage shorter than this keeps them. */
    uint32_t stale_timeout_ms;
    uint32_t backoff_initial_ms; /**< default 200 */
    uint32_t backoff_max_ms;     /**< default 10000 */
    uint32_t endpoint_ttl_ms;    /**< the DataEndpoint is reused this long; default 2700000 */
} cs_producer_config;

/** @brief Fills `cfg` with the defaults listed at each field. */
CS_API void cs_producer_config_init(cs_producer_config *cfg);

/**
 * @brief Creates a producer and starts its I/O thread.
 * @return CS_OK; CS_E_INVAL (NULL arguments, no endpoint, an endpoint that is not an http:// or
 *         https:// URL, a credentials field too long); CS_E_NOTFOUND (credentials_file given but
 *         missing, or its profile missing); CS_E_MALFORMED (credentials file unreadable as INI);
 *         CS_E_UNSUPPORTED (no transport given in a build without libcurl); CS_E_NOMEM
 */
CS_API cs_status cs_producer_create(const cs_producer_config *cfg, cs_producer **out);

/**
 * @brief Stops the I/O thread and frees the producer; sets `*p` to NULL; accepts NULL. Streams
 * still open are destroyed first (as cs_stream_destroy(): unsent data is dropped, reported).
 */
CS_API void cs_producer_destroy(cs_producer **p);

/* ---------------------------------------------------------------------------------------------- */
/* Streams                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

/** @brief Where a stream is. Values are only appended. */
typedef enum cs_stream_state {
    CS_STREAM_STATE_NEW = 0,        /**< created, the I/O thread has not picked it up yet */
    CS_STREAM_STATE_DESCRIBING = 1, /**< describeStream */
    CS_STREAM_STATE_CREATING = 2,   /**< createStream (create_if_missing), then describe again */
    CS_STREAM_STATE_GETTING_ENDPOINT = 3, /**< getDataEndpoint(PUT_MEDIA) */
    CS_STREAM_STATE_CONNECTING = 4,       /**< putMedia sent, no response status yet */
    CS_STREAM_STATE_STREAMING = 5,        /**< upload open (HTTP 200 received) */
    CS_STREAM_STATE_BACKOFF = 6,          /**< waiting before the next attempt */
    CS_STREAM_STATE_STOPPED = 7,          /**< destroyed, or failed for good (see on_error) */
} cs_stream_state;

/** @brief The name of a state, e.g. "STREAMING". */
CS_API const char *cs_stream_state_str(cs_stream_state state);

/** @brief When the content store is full. */
typedef enum cs_full_policy {
    /** first give up the bytes already handed to the connection (their fragments are
     * reported through on_drop, maybe_stored, only if that connection is replaced before their
     * PERSISTED acks), then drop the oldest whole fragments (reported through on_drop) */
    CS_FULL_DROP_OLDEST = 0,
    CS_FULL_WAIT = 1, /**< put_frame waits up to full_wait_ms for PERSISTED acks, then
                           returns CS_E_TIMEOUT and the frame is not stored */
} cs_full_policy;

/** @brief How cluster timecodes relate to frame timestamps (PROTOCOL.md §3). */
typedef enum cs_timecode_mode {
    CS_TIMECODE_ABSOLUTE = 0, /**< cluster timecode = the frame's timestamp in ms */
    CS_TIMECODE_RELATIVE = 1, /**< counted from the stream's first frame; the upload sends
                                   x-amzn-producer-start-timestamp */
} cs_timecode_mode;

/** @brief Why data was dropped. */
typedef enum cs_drop_reason {
    CS_DROP_EVICTED = 1,   /**< the store was full: whole oldest fragment dropped */
    CS_DROP_TOO_LARGE = 2, /**< one frame larger than the whole store: never stored */
    CS_DROP_REJECTED = 3,  /**< the server answered an ERROR ack that retrying cannot fix */
    CS_DROP_DESTROYED = 4, /**< cs_stream_destroy() with data not yet PERSISTED */
} cs_drop_reason;

/** @brief A drop report: which frames will never be PERSISTED. */
typedef struct cs_drop {
    cs_drop_reason reason;
    uint64_t first_ts_ns; /**< timestamp of the first frame dropped (the fragment's key frame) */
    uint64_t last_ts_ns;  /**< timestamp of the last frame dropped */
    uint32_t frames;
    size_t bytes;
    uint32_t error_id; /**< REJECTED: the ErrorId of the ack; else 0 */
    /** EVICTED, DESTROYED: some of it had been uploaded without a PERSISTED ack yet, so the
     * server may still have stored it (an ack lost with its connection); false: it is certainly
     * not stored */
    bool maybe_stored;
} cs_drop;

/** @brief A track. Audio fields are ignored for video and the other way round. */
typedef struct cs_track_config {
    uint64_t number;    /**< TrackNumber; 0 = position + 1 (default) */
    cs_mkv_codec codec; /**< H264, H265, AAC, ALAW, MULAW, PCM */
    const char *name;   /**< optional */
    /** CodecPrivate (avcC, hvcC, AudioSpecificConfig, WAVEFORMATEX). NULL for H.264/H.265:
     * built from the SPS/PPS (VPS) of the first key frame, which must carry them in-band; until
     * then frames are refused with CS_E_STATE. Copied at cs_stream_create(). */
    const uint8_t *codec_private;
    size_t codec_private_len;
    uint32_t width, height; /**< 0: from the SPS */
    uint32_t sampling_rate; /**< audio, Hz */
    uint32_t channels;      /**< audio */
    uint32_t bit_depth;     /**< PCM */
} cs_track_config;

/** @brief A stream-level tag (createStream Tags) or a fragment tag. */
typedef struct cs_tag {
    const char *name;
    const char *value;
} cs_tag;

/** @brief Callbacks; any may be NULL. See "Threading" above for where each runs. */
typedef struct cs_stream_callbacks {
    void (*on_state)(void *ctx, cs_stream *s, cs_stream_state from, cs_stream_state to);
    /** Every ack line the server sends (BUFFERING, RECEIVED, PERSISTED, IDLE, ERROR). */
    void (*on_ack)(void *ctx, cs_stream *s, const cs_kvs_ack *ack);
    void (*on_drop)(void *ctx, cs_stream *s, const cs_drop *drop);
    /** The store's fill crossed a threshold of pressure_pct upwards, or back down. */
    void (*on_pressure)(void *ctx, cs_stream *s, unsigned threshold_pct, bool rising,
                        size_t bytes_used, size_t capacity);
    /** Something failed: `status` says what kind, `http_status`/`error_id` the server's word
     * (0 when none), `message` a readable line. `fatal`: the stream stopped for good (e.g. the
     * stream does not exist and create_if_missing is off, or credentials were refused with
     * a 403); else it retries. */
    void (*on_error)(void *ctx, cs_stream *s, cs_status status, int http_status, uint32_t error_id,
                     bool fatal, const char *message);
    void *ctx;
} cs_stream_callbacks;

#define CS_STREAM_MAX_THRESHOLDS 4

/** @brief Stream settings; fill with cs_stream_config_init(). Fields are only appended. */
typedef struct cs_stream_config {
    const char *name;          /**< required, 1-256 of [a-zA-Z0-9_.-] */
    bool create_if_missing;    /**< default true */
    uint32_t retention_hours;  /**< for createStream; default 2 */
    const char *media_type;    /**< for createStream; default "video/h264" */
    const cs_tag *stream_tags; /**< for createStream; up to 50 */
    size_t stream_tag_count;

    cs_track_config tracks[CS_MKV_MAX_TRACKS];
    size_t track_count; /**< 1..CS_MKV_MAX_TRACKS; default 0 (required) */

    size_t store_bytes;         /**< content store capacity; default 4 MiB; min 64 KiB */
    cs_full_policy full_policy; /**< default CS_FULL_DROP_OLDEST */
    uint32_t full_wait_ms;      /**< CS_FULL_WAIT: longest wait; default 1000 */
    unsigned pressure_pct[CS_STREAM_MAX_THRESHOLDS]; /**< default 50, 75, 90 */
    size_t pressure_count;                           /**< default 3 */

    /** true (default): a fragment starts at every key frame of the first track (and also when
     * one would exceed max_fragment_ms). false: every fragment_ms, at the next key frame. */
    bool key_frame_fragmentation;
    uint32_t fragment_ms;           /**< default 2000 */
    uint32_t max_fragment_ms;       /**< default 10000 (the service limit) */
    cs_timecode_mode timecode_mode; /**< default ABSOLUTE */
    bool ack_required;              /**< x-amzn-fragment-acknowledgment-required; default true */

    cs_stream_callbacks callbacks;
} cs_stream_config;

/** @brief Fills `cfg` with the defaults listed at each field. */
CS_API void cs_stream_config_init(cs_stream_config *cfg);

/**
 * @brief Creates a stream: validates the config, allocates the content store (the only large
 * allocation) and hands the stream to the I/O thread, which starts DESCRIBING. Returns at once.
 * @return CS_OK; CS_E_INVAL (bad name, no tracks, bad track, thresholds); CS_E_EXISTS (a stream
 *         of that name is open in this producer); CS_E_MALFORMED (a given CodecPrivate that does
 *         not parse); CS_E_NOMEM
 */
CS_API cs_status cs_stream_create(cs_producer *p, const cs_stream_config *cfg, cs_stream **out);

/** Frame flags. */
#define CS_FRAME_KEY 0x1u         /**< a key frame (IDR / IRAP); starts a fragment */
#define CS_FRAME_DISCARDABLE 0x2u /**< may be dropped by a decoder */
#define CS_FRAME_INVISIBLE 0x4u   /**< decoded, not shown */

/** @brief How a frame's bytes are laid out. */
typedef enum cs_frame_format {
    CS_FRAME_AUTO = 0,   /**< video: Annex-B if it starts with a start code, else AVCC;
                              audio: raw */
    CS_FRAME_ANNEXB = 1, /**< start codes; converted to AVCC as it is copied into the store */
    CS_FRAME_AVCC = 2,   /**< 4-byte big-endian lengths; copied as is */
    CS_FRAME_RAW = 3,    /**< audio access unit, copied as is */
} cs_frame_format;

/** @brief One encoded frame. Start from CS_FRAME_INIT. */
typedef struct cs_frame {
    const uint8_t *data;
    size_t size;
    uint64_t pts_ns;      /**< presentation time (ABSOLUTE: wall-clock based, e.g. the
                               capture time since the epoch) */
    uint64_t dts_ns;      /**< decode time (the order frames are put in); 0: pts. It must
                               not go back on a track. With B-frames give it: their PTS go
                               back (stored as is: a block may show up to 32.768 s before its
                               fragment's key frame, whose PTS is the fragment's timecode), and
                               without a DTS that counts as going backwards (CS_E_INVAL) */
    uint64_t duration_ns; /**< 0: unknown */
    uint32_t flags;       /**< CS_FRAME_* */
    uint64_t track;       /**< a TrackNumber; 0: the first track */
    cs_frame_format format;
} cs_frame;

#define CS_FRAME_INIT                                                                              \
    {                                                                                              \
        NULL, 0, 0, 0, 0, 0, 0, CS_FRAME_AUTO                                                      \
    }

/**
 * @brief Puts one frame: converts it into the content store (once), cutting fragments as
 * configured. Never waits on the network; with CS_FULL_WAIT it may wait for acks up to
 * full_wait_ms. May run on_drop/on_pressure on this thread.
 * Until every H.264/H.265 track whose CodecPrivate comes from its first key frame has seen
 * one, frames of every track are refused (the stream header needs all of them). When keeping a
 * frame needs the fragment being written evicted (a store too small for one fragment), that
 * fragment and the frames up to the next key frame of the first video track are dropped
 * (reported as EVICTED; those calls return CS_OK).
 * @return CS_OK (stored; older fragments may have been evicted and reported);
 *         CS_E_INVAL (NULL data, size 0, unknown track, a timestamp going backwards on its track);
 *         CS_E_STATE (before the first key frame of a track whose CodecPrivate comes from it;
 *         or the stream is stopped); CS_E_MALFORMED (Annex-B without a NAL unit, or a first
 *         key frame without SPS/PPS); CS_E_NOSPACE (one frame larger than the store: dropped,
 *         reported as TOO_LARGE); CS_E_TIMEOUT (CS_FULL_WAIT ran out: the frame is not stored
 *         and is not reported as dropped: the caller knows)
 */
CS_API cs_status cs_stream_put_frame(cs_stream *s, const cs_frame *frame);

/**
 * @brief Adds a fragment tag (PROTOCOL.md §4), written before the next fragment.
 * @return CS_OK; CS_E_INVAL (empty or NULL name, reserved prefix AWS_KINESISVIDEO_);
 *         CS_E_LIMIT (name > 128 or value > 256 bytes, or 10 tags already pending)
 */
CS_API cs_status cs_stream_put_tag(cs_stream *s, const char *name, const char *value);

/**
 * @brief Ends the current fragment and waits until every stored fragment is PERSISTED or
 * dropped, or `timeout_ms` passes. New frames may be put meanwhile (they are not waited for);
 * the next frame starts a new fragment, key frame or not. The upload body ends once everything
 * stored was sent (the server ends a fragment only at the next Cluster or the end of the body),
 * and the next upload opens at once.
 * @return CS_OK; CS_E_TIMEOUT; CS_E_STATE (the stream stopped for good)
 */
CS_API cs_status cs_stream_flush(cs_stream *s, uint32_t timeout_ms);

/**
 * @brief Stops the stream's upload and frees it; sets `*s` to NULL; accepts NULL. Data not yet
 * PERSISTED is dropped and reported (CS_DROP_DESTROYED): call cs_stream_flush() first to wait.
 * Must not be called from a callback.
 */
CS_API void cs_stream_destroy(cs_stream **s);

/** @brief The stream's state now. */
CS_API cs_stream_state cs_stream_get_state(cs_stream *s);

/** @brief Counters (since create) and gauges (now). Fields are only appended. */
typedef struct cs_stream_metrics {
    cs_stream_state state;
    uint64_t frames_put;
    uint64_t bytes_put;    /**< frame bytes given to put_frame */
    uint64_t bytes_stored; /**< MKV bytes written into the store */
    uint64_t bytes_sent;   /**< MKV bytes handed to the transport (re-sends count again) */
    uint64_t fragments_put;
    uint64_t fragments_sent;
    uint64_t fragments_buffering; /**< BUFFERING acks */
    uint64_t fragments_received;  /**< RECEIVED acks */
    uint64_t fragments_persisted; /**< PERSISTED acks */
    uint64_t acks_idle;
    uint64_t acks_error;
    uint64_t frames_dropped;
    uint64_t fragments_dropped;
    uint64_t bytes_dropped;
    uint64_t connections;      /**< putMedia attempts */
    uint64_t reconnects;       /**< attempts after the first */
    uint64_t errors_network;   /**< connect/send/receive failures */
    uint64_t errors_http;      /**< HTTP error statuses from the server */
    uint64_t errors_stale;     /**< connections replaced for lack of acks */
    uint64_t errors_auth;      /**< 401/403 */
    uint64_t errors_put_frame; /**< put_frame calls that returned an error */
    size_t store_capacity;
    size_t store_bytes_used;
    size_t store_bytes_unsent;
    unsigned store_fill_pct;
    uint64_t store_duration_ns;   /**< newest - oldest stored timestamp */
    uint64_t current_latency_ns;  /**< now - put time of the oldest frame not yet PERSISTED */
    uint64_t last_ack_latency_ns; /**< last fragment: its last byte sent -> PERSISTED */
    uint64_t max_ack_latency_ns;
} cs_stream_metrics;

/** @brief A consistent snapshot of the metrics. */
CS_API void cs_stream_get_metrics(cs_stream *s, cs_stream_metrics *m);

#ifdef __cplusplus
}
#endif

#endif /* CAMSTREAM_PRODUCER_H */
