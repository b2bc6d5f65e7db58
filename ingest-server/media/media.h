/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file media.h
 * @brief The PutMedia ingest core: turns the bytes of one upload, fed as they arrive in chunks of
 * any size, into sessions and fragments, and tells its owner what to do through a sink of
 * callbacks. It knows nothing of sockets, storage or fragment numbers. Private to the ingest
 * server (its users include it from ingest-server/media/).
 *
 * What it reports, in order, for each session (EBML header + Segment; a new EBML header after
 * a producer reconnect starts the next one):
 * - session_begin: the stream header is complete (EBML header, Segment start, Info, Tracks and
 *   anything else before the first Cluster or level-1 Tags, as received);
 * - per Cluster (= one fragment): fragment_begin (-> BUFFERING ack), fragment_data with the
 *   fragment's bytes as they arrive, then fragment_end (-> RECEIVED) or error (the fragment is
 *   abandoned: drop what fragment_data gave);
 * - error for everything refused, with the KVS ErrorId (PROTOCOL.md §3) and whether the upload
 *   can go on (fatal: it cannot; the owner sends the ERROR ack and closes the connection).
 * The bytes of a fragment are exactly the bytes of its Cluster element, from its ID to the byte
 * before the next level-0/1 element (Cluster, Tags, EBML header...) or the end of the upload.
 * Level-1 Tags between clusters are the producer's fragment metadata: they belong to the Cluster
 * that follows them in the same session (fragment.tags); their bytes are not fragment bytes.
 * docs/internals/MEDIA.md has the rules and the reasons.
 *
 * Memory: one allocation at create (the core, the mkv reader, the stream-header buffer of
 * max_header_bytes, a carry area of CS_MEDIA_CARRY bytes and the pending tags), none after.
 * Fragment bytes are not copied: fragment_data spans point into the chunk given to
 * cs_media_feed(), or, for the few bytes of an element header split across two chunks, into the
 * carry area. Every pointer passed to a callback is valid only during that callback, except
 * cs_media_session.header, which stays valid until the next session_begin or destroy.
 * One thread at a time per core; the callbacks run on the thread that calls feed/finish.
 *
 * @code
 * cs_media_config cfg;
 * cs_media_config_init(&cfg);
 * cfg.timecode_type = CS_MEDIA_TIMECODE_RELATIVE;
 * if (cs_media_parse_start_timestamp(hdr, hdr_len, &cfg.producer_start_ms) != CS_OK) {
 *     ... // ERROR ack 4007
 * }
 * cfg.has_producer_start = true;
 * cs_media_sink sink = {.ctx = up, .fragment_begin = on_begin, .fragment_data = on_data,
 *                       .fragment_end = on_end, .error = on_error};
 * cs_media *m = NULL;
 * if (cs_media_create(&cfg, &sink, &m) != CS_OK) { ... }
 * while (body chunk arrives) {
 *     if (cs_media_feed(m, chunk, chunk_len) != CS_OK) break; // fatal: error() said why
 * }
 * cs_media_finish(m); // end of the body
 * cs_media_destroy(&m);
 * @endcode
 */
#ifndef CAMSTREAM_MEDIA_H
#define CAMSTREAM_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/mkv.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ErrorIds of PROTOCOL.md §3 that this module reports. */
#define CS_MEDIA_ERR_FRAGMENT_SIZE 4001      /**< fragment above max_fragment_bytes */
#define CS_MEDIA_ERR_FRAGMENT_DURATION 4002  /**< fragment above max_fragment_duration_ms */
#define CS_MEDIA_ERR_TIMECODE_ORDER 4004     /**< producer timestamp below the previous one */
#define CS_MEDIA_ERR_INVALID_MKV 4006        /**< the reader refused the bytes, or bad structure */
#define CS_MEDIA_ERR_PRODUCER_TIMESTAMP 4007 /**< timestamp missing, or out of range */
#define CS_MEDIA_ERR_METADATA_LIMIT 4009     /**< fragment tags break the limits */
#define CS_MEDIA_ERR_TRACK_MISMATCH 4010     /**< a block of a track not in Tracks */
#define CS_MEDIA_ERR_FRAMES_MISSING 4011     /**< a declared track has no frame in a fragment */
#define CS_MEDIA_ERR_TOO_MANY_TRACKS 4012    /**< more than max_tracks TrackEntries */

/** Bytes of the carry area (element headers split across chunks; see MEDIA.md). */
#define CS_MEDIA_CARRY 8192
/** Largest max_header_bytes accepted. */
#define CS_MEDIA_MAX_HEADER_LIMIT (1u << 20)

/** @brief How cluster timecodes map to producer timestamps (x-amzn-fragment-timecode-type). */
typedef enum cs_media_timecode_type {
    CS_MEDIA_TIMECODE_ABSOLUTE = 0, /**< the cluster timecode is the timestamp (ms) */
    CS_MEDIA_TIMECODE_RELATIVE = 1, /**< producer_start_ms + cluster timecode */
} cs_media_timecode_type;

/** @brief Settings. Fill with cs_media_config_init(), then adjust. Fields are only appended. */
typedef struct cs_media_config {
    cs_media_timecode_type timecode_type; /**< default ABSOLUTE */
    uint64_t producer_start_ms;           /**< x-amzn-producer-start-timestamp, ms */
    bool has_producer_start;              /**< RELATIVE needs it (else 4007 at the first cluster) */
    uint64_t max_fragment_bytes;          /**< default 50 MB (50,000,000); 4001 above */
    uint64_t max_fragment_duration_ms;    /**< default 10,000; 4002 above */
    unsigned max_tracks;                  /**< default CS_MKV_MAX_TRACKS (3); 4012 above */
    size_t max_header_bytes;              /**< stream header buffer; default 65536, at most
                                               CS_MEDIA_MAX_HEADER_LIMIT; 4006 above */
    const cs_allocator *allocator;        /**< default cs_allocator_default() */
} cs_media_config;

/** @brief One declared track of a session. */
typedef struct cs_media_track {
    uint64_t number;
    cs_mkv_track_type type;
    cs_mkv_codec codec; /**< CS_MKV_CODEC_UNKNOWN for codecs the mkv module does not name */
    uint64_t default_duration_ns; /**< 0 = absent */
} cs_media_track;

/** @brief A session: one EBML header + Segment of the upload. */
typedef struct cs_media_session {
    uint64_t index;        /**< 0-based session within the upload */
    uint64_t offset;       /**< upload offset of its EBML header */
    const uint8_t *header; /**< the stream header as received; valid until the next
                                session_begin or cs_media_destroy() */
    size_t header_len;
    uint64_t timecode_scale; /**< ns per tick */
    const cs_media_track *tracks;
    size_t track_count;
} cs_media_session;

/** @brief One fragment tag (SimpleTag), not NUL-terminated. */
typedef struct cs_media_tag {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} cs_media_tag;

/**
 * @brief One fragment (one Cluster). Fields marked "final" are set at fragment_end (and as far
 * as known at error); the others from fragment_begin on.
 */
typedef struct cs_media_fragment {
    uint64_t index;                 /**< 0-based Cluster within the upload (rejected ones count) */
    uint64_t session;               /**< cs_media_session.index */
    uint64_t offset;                /**< upload offset of the Cluster's ID */
    uint64_t timecode_ms;           /**< the Cluster Timecode in ms: FragmentTimecode of acks */
    uint64_t producer_timestamp_ms; /**< ABSOLUTE: timecode_ms; RELATIVE: start + timecode_ms */
    const cs_media_tag *tags;       /**< the producer's tags that came before the Cluster */
    size_t tag_count;
    uint64_t size;        /**< bytes given to fragment_data so far (final: the Cluster's size) */
    uint32_t crc32c;      /**< final: CRC-32C (Castagnoli) of the Cluster bytes */
    uint64_t duration_ms; /**< final: latest block end - earliest block start */
    uint64_t frame_count; /**< final: frames (a laced block counts each frame) */
    bool first_key;       /**< final: the first block is a key frame */
} cs_media_fragment;

/** @brief A refusal. */
typedef struct cs_media_error {
    uint32_t error_id; /**< a CS_MEDIA_ERR_* (KVS ErrorId) */
    bool fatal;        /**< true: the upload cannot go on; feed/finish return CS_E_MALFORMED */
    const cs_media_fragment *fragment; /**< the fragment refused, or NULL when none is involved */
    bool begun;          /**< fragment_begin was called for it: drop the bytes it received */
    uint64_t offset;     /**< upload offset where the problem was found */
    const char *message; /**< human-readable, e.g. the mkv reader's message */
} cs_media_error;

/**
 * @brief What the core tells its owner. Any callback may be NULL. A callback returning anything
 * but CS_OK stops the core: feed/finish return that status from then on (no error callback).
 */
typedef struct cs_media_sink {
    void *ctx;
    cs_status (*session_begin)(void *ctx, const cs_media_session *session);
    cs_status (*fragment_begin)(void *ctx, const cs_media_fragment *fragment);
    cs_status (*fragment_data)(void *ctx, const cs_media_fragment *fragment, const uint8_t *data,
                               size_t len);
    cs_status (*fragment_end)(void *ctx, const cs_media_fragment *fragment);
    cs_status (*error)(void *ctx, const cs_media_error *error);
} cs_media_sink;

/** @brief The core of one upload (opaque). */
typedef struct cs_media cs_media;

/** @brief Fills `cfg` with the defaults listed at each field. */
CS_API void cs_media_config_init(cs_media_config *cfg);

/**
 * @brief Creates the core of one upload.
 * @param[in]  cfg   settings, copied
 * @param[in]  sink  callbacks, copied
 * @param[out] out   the core
 * @return CS_OK; CS_E_INVAL (NULL argument, a zero limit, max_tracks above CS_MKV_MAX_TRACKS * 4,
 *         max_header_bytes above CS_MEDIA_MAX_HEADER_LIMIT); CS_E_NOMEM.
 */
CS_API cs_status cs_media_create(const cs_media_config *cfg, const cs_media_sink *sink,
                                 cs_media **out);

/** @brief Frees the core; NULL and `*m == NULL` are fine; sets `*m` to NULL. */
CS_API void cs_media_destroy(cs_media **m);

/**
 * @brief Feeds the next bytes of the upload body. Callbacks run before it returns.
 * @param[in] data  the bytes; owned by the caller, only read during the call
 * @return CS_OK (also when a fragment was refused and the upload goes on);
 *         CS_E_MALFORMED after a fatal error (reported once through error());
 *         a callback's status; CS_E_STATE after cs_media_finish(); CS_E_INVAL (NULL m, or NULL
 *         data with len > 0).
 */
CS_API cs_status cs_media_feed(cs_media *m, const uint8_t *data, size_t len);

/**
 * @brief The upload body ended: completes a fragment whose Cluster ends with the upload
 * (fragment_end), or refuses one cut inside an element (error 4006). Pending tags that no
 * Cluster followed are dropped.
 * @return as cs_media_feed().
 */
CS_API cs_status cs_media_finish(cs_media *m);

/**
 * @brief The current session's stream header, once session_begin has been called for it.
 * @param[out] len  its length (0 when none)
 * @return the bytes (owned by the core, valid until the next session_begin or destroy), or NULL.
 */
CS_API const uint8_t *cs_media_header(const cs_media *m, size_t *len);

/**
 * @brief Parses x-amzn-producer-start-timestamp: `<seconds>[.<fraction>]` (decimal digits only;
 * the fraction is cut to ms).
 * @param[out] ms  the timestamp in ms
 * @return CS_OK; CS_E_MALFORMED (empty, a non-digit, more than one '.', an empty part, a value
 *         that does not fit in uint64 ms) — ErrorId 4007; CS_E_INVAL (NULL arguments).
 */
CS_API cs_status cs_media_parse_start_timestamp(const char *s, size_t len, uint64_t *ms);

/** @brief CRC-32C (Castagnoli, reflected, as iSCSI) of `len` bytes, continuing from `crc`
 * (start with 0). */
CS_API uint32_t cs_media_crc32c(uint32_t crc, const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* CAMSTREAM_MEDIA_H */
