/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file mkv_write.h
 * @brief The Matroska writer: a typed EBML element writer into caller memory, the Matroska
 * elements KVS producers send (PROTOCOL.md §4), and a fragmenter that turns frames into clusters.
 *
 * Two layers:
 * - cs_mkv_writer and the `cs_mkv_put_*` functions write typed elements (IDs and sizes are
 *   computed, never patched afterwards) into one contiguous caller-given region, e.g. a region
 *   reserved in a ring buffer. Given a NULL destination the same calls only count, so the size
 *   pass and the write pass are one code path and always agree. Errors are sticky: the `put`
 *   calls return void and cs_mkv_writer_finish() returns the first error.
 * - cs_mkv_fragmenter decides where clusters start (key frames of the video track, a maximum
 *   duration, the int16 range of block timecodes) and writes, per frame, everything that comes
 *   before the frame's payload: the stream header when a segment starts, pending fragment tags,
 *   a new Cluster, and the SimpleBlock header. The producer can therefore write the header
 *   straight into ring space and copy the payload behind it.
 *
 * Memory: nothing here allocates. The writer and fragmenter structs are caller-allocated (stack,
 * static or inside another object); their members are private. Borrowed pointers (track
 * CodecPrivate, names) must stay valid while the call that takes them runs, and for the
 * fragmenter, for as long as the fragmenter is used. A writer or fragmenter is used by one
 * thread at a time.
 *
 * @code
 * uint8_t buf[4096];
 * size_t len;
 * cs_mkv_writer w;
 * cs_mkv_writer_init(&w, buf, sizeof(buf));   // or (&w, NULL, 0) to only measure
 * cs_mkv_put_ebml_header(&w);
 * cs_mkv_put_segment_start(&w);
 * cs_mkv_put_info(&w, uid16);
 * cs_mkv_put_tracks(&w, tracks, 1);
 * cs_mkv_put_cluster_start(&w, 0);
 * cs_mkv_put_simple_block(&w, 1, 0, CS_MKV_BLOCK_KEY, frame, frame_len);
 * if (cs_mkv_writer_finish(&w, &len) != CS_OK) { ... } // len: bytes written (or needed)
 * @endcode
 */
#ifndef CAMSTREAM_MKV_WRITE_H
#define CAMSTREAM_MKV_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/mkv.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The 8-byte EBML size meaning "unknown" (used for the live Segment and Clusters). */
#define CS_MKV_UNKNOWN_SIZE 0x01FFFFFFFFFFFFFFull
/** Largest data size an element can declare (2^56 - 2). */
#define CS_MKV_MAX_ELEMENT_SIZE 0x00FFFFFFFFFFFFFEull
/** Bytes of a SegmentUID. */
#define CS_MKV_SEGMENT_UID_LEN 16
/** Bytes of the WAVEFORMATEX the writer builds for G.711 (cbSize 0). */
#define CS_MKV_WAVEFORMATEX_LEN 18

/* ---------------------------------------------------------------------------------------------- */
/* Element writer                                                                                 */
/* ---------------------------------------------------------------------------------------------- */

/** @brief A sticky-error element writer. Caller-allocated; members are private. */
typedef struct cs_mkv_writer {
    uint8_t *dst;    /* NULL: count only */
    size_t cap;      /* bytes available at dst */
    size_t pos;      /* bytes written, or that would have been */
    cs_status error; /* the first error */
} cs_mkv_writer;

/**
 * @brief Writes the data of a master element. It is called twice when the destination is
 * real (once to size the element, once to write it) and must emit the same bytes both times.
 */
typedef void (*cs_mkv_body_fn)(cs_mkv_writer *w, const void *ctx);

/**
 * @brief Starts a writer over `cap` bytes at `dst`.
 * @param[out] w    the writer
 * @param[in]  dst  the destination; NULL to only count the bytes the same calls would write
 * @param[in]  cap  bytes available at dst (ignored when dst is NULL)
 */
CS_API void cs_mkv_writer_init(cs_mkv_writer *w, uint8_t *dst, size_t cap);

/**
 * @brief Ends a run of puts.
 * @param[in]  w    the writer
 * @param[out] len  bytes written; with a NULL destination, or after CS_E_NOSPACE, the bytes the
 *                  whole run needs. May be NULL.
 * @return the first error of the run, or CS_OK:
 *         CS_E_NOSPACE: the destination is too small (nothing was written past `cap`, and
 *         nothing at all from the first element that did not fit onwards);
 *         CS_E_INVAL: an invalid element ID, a NULL pointer with a non-zero length, or an
 *         invalid track or tag description (see each put);
 *         CS_E_RANGE: a size above CS_MKV_MAX_ELEMENT_SIZE or a timecode out of range;
 *         CS_E_LIMIT: too many tracks or tags, or a tag name or value too long;
 *         CS_E_OVERFLOW: the total size would not fit size_t;
 *         CS_E_MALFORMED: a width/height to take from an avcC/hvcC whose SPS does not parse;
 *         CS_E_INTERNAL: a body callback wrote other bytes than it sized (a bug).
 */
CS_API cs_status cs_mkv_writer_finish(const cs_mkv_writer *w, size_t *len);

/**
 * @brief Records `status` as the writer's error unless it already has one (for body
 * callbacks that find their own input invalid). CS_OK is ignored.
 */
CS_API void cs_mkv_writer_fail(cs_mkv_writer *w, cs_status status);

/** @brief Bytes of an element ID with its marker bits (1-4), or 0 when `id` is not a valid ID. */
CS_API size_t cs_mkv_id_len(uint32_t id);

/** @brief Bytes of the shortest EBML size field for `size` (1-8), or 0 above
 * CS_MKV_MAX_ELEMENT_SIZE. */
CS_API size_t cs_mkv_size_len(uint64_t size);

/* Every put below takes `w`, the writer ([in,out]); it returns nothing: an error is recorded in `w`
 * (the first one sticks) and returned by cs_mkv_writer_finish(). After an error a put writes
 * nothing but still counts its bytes. Element IDs are given with their marker bits. */

/** @brief Appends raw bytes (a frame payload after cs_mkv_put_simple_block_header()). `data`
 * may be NULL only when `len` is 0 or the writer only counts. */
CS_API void cs_mkv_put_raw(cs_mkv_writer *w, const void *data, size_t len);

/** @brief Appends an element ID (e.g. 0x1F43B675). Invalid IDs set CS_E_INVAL. */
CS_API void cs_mkv_put_id(cs_mkv_writer *w, uint32_t id);

/** @brief Appends the shortest size field for `size`; above CS_MKV_MAX_ELEMENT_SIZE: CS_E_RANGE. */
CS_API void cs_mkv_put_size(cs_mkv_writer *w, uint64_t size);

/** @brief Appends an unsigned integer element in the fewest bytes (at least one). */
CS_API void cs_mkv_put_uint(cs_mkv_writer *w, uint32_t id, uint64_t value);

/** @brief Appends a float element as an 8-byte IEEE 754 double, big-endian. */
CS_API void cs_mkv_put_float(cs_mkv_writer *w, uint32_t id, double value);

/** @brief Appends a string element of `len` bytes (no terminating NUL is written). */
CS_API void cs_mkv_put_string(cs_mkv_writer *w, uint32_t id, const char *s, size_t len);

/** @brief Appends a binary element of `len` bytes. */
CS_API void cs_mkv_put_binary(cs_mkv_writer *w, uint32_t id, const void *data, size_t len);

/**
 * @brief Appends a master element of known size: `body(ctx)` is run on a counting writer to
 * size it, then the ID, the size and the body are written. Errors inside `body` become the
 * writer's error.
 * @param[in] id    the master's ID (invalid: CS_E_INVAL)
 * @param[in] body  writes the children; must emit the same bytes on every call (otherwise
 *                  CS_E_INTERNAL); NULL: CS_E_INVAL
 * @param[in] ctx   passed to body
 *
 * @code
 * static void video_body(cs_mkv_writer *w, const void *ctx)
 * {
 *     const uint32_t *wh = ctx;
 *     cs_mkv_put_uint(w, CS_MKV_ID_PIXEL_WIDTH, wh[0]);
 *     cs_mkv_put_uint(w, CS_MKV_ID_PIXEL_HEIGHT, wh[1]);
 * }
 * ...
 * cs_mkv_put_master(&w, CS_MKV_ID_VIDEO, video_body, (uint32_t[]){1280, 720});
 * @endcode
 */
CS_API void cs_mkv_put_master(cs_mkv_writer *w, uint32_t id, cs_mkv_body_fn body, const void *ctx);

/** @brief Appends the ID of a master element and the 8-byte unknown size; its children
 * follow, and it ends where the next element of its level or above starts. */
CS_API void cs_mkv_put_master_unknown(cs_mkv_writer *w, uint32_t id);

/* ---------------------------------------------------------------------------------------------- */
/* Matroska elements                                                                              */
/* ---------------------------------------------------------------------------------------------- */

/** @brief One fragment tag (a SimpleTag with TagName and TagString). Not NUL-terminated. */
typedef struct cs_mkv_tag {
    const char *name; /**< 1..CS_MKV_MAX_TAG_NAME bytes */
    size_t name_len;
    const char *value; /**< 0..CS_MKV_MAX_TAG_VALUE bytes; NULL allowed when value_len is 0 */
    size_t value_len;
} cs_mkv_tag;

/** @brief Appends the EBML header: EBMLVersion 1, EBMLReadVersion 1, EBMLMaxIDLength 4,
 * EBMLMaxSizeLength 8, DocType "matroska", DocTypeVersion 2, DocTypeReadVersion 2 (as KVS). */
CS_API void cs_mkv_put_ebml_header(cs_mkv_writer *w);

/** @brief Appends the Segment ID with the unknown size (live stream). */
CS_API void cs_mkv_put_segment_start(cs_mkv_writer *w);

/**
 * @brief Appends Info: SegmentUID, TimecodeScale 1,000,000, MuxingApp and WritingApp
 * "camstream <cs_version()>".
 * @param[in] segment_uid  CS_MKV_SEGMENT_UID_LEN bytes chosen by the caller (NULL: CS_E_INVAL)
 */
CS_API void cs_mkv_put_info(cs_mkv_writer *w, const uint8_t *segment_uid);

/**
 * @brief Appends Tracks with one TrackEntry per track: TrackNumber, TrackUID (0: the number),
 * TrackType, Name (when set), CodecID, CodecPrivate, DefaultDuration (when set), and Video
 * (PixelWidth, PixelHeight) or Audio (SamplingFrequency, Channels, BitDepth when set).
 *
 * Per codec (`codec`; `codec_id` is used only when codec is CS_MKV_CODEC_UNKNOWN, and then
 * written as given with the given CodecPrivate):
 * - H.264 / H.265: type video, CodecPrivate = avcC / hvcC (required). width and height of 0 are
 *   taken from the first SPS inside it (cs_nal_avcc_parse()/cs_nal_hvcc_parse(), then
 *   cs_h264_sps_parse()/cs_h265_sps_parse(): the cropped size);
 * - AAC: type audio, CodecPrivate = AudioSpecificConfig (required);
 * - A-law / mu-law: type audio, CodecID A_MS/ACM; CodecPrivate is the caller's or, when NULL, a
 *   WAVEFORMATEX built from sampling_frequency and channels (cs_mkv_waveformatex());
 * - PCM: type audio, A_PCM/INT/LIT, bit_depth 8, 16, 24 or 32 (required), no CodecPrivate.
 * Audio needs sampling_frequency > 0 and channels >= 1.
 *
 * @param[in] tracks  `count` descriptions (1..CS_MKV_MAX_TRACKS; more: CS_E_LIMIT)
 * Errors (sticky): CS_E_INVAL for a track that breaks the rules above, a number of 0 or a
 * number used twice; CS_E_MALFORMED for an avcC/hvcC whose SPS cannot be found or parsed when
 * width/height must come from it.
 */
CS_API void cs_mkv_put_tracks(cs_mkv_writer *w, const cs_mkv_track_info *tracks, size_t count);

/** @brief Appends a Cluster of unknown size and its Timecode (in TimecodeScale ticks, ms). */
CS_API void cs_mkv_put_cluster_start(cs_mkv_writer *w, uint64_t timecode);

/**
 * @brief Appends a SimpleBlock's ID, size, track number (EBML vint), int16 relative timecode
 * (big-endian) and flags; the caller appends exactly `payload_len` payload bytes after it
 * (cs_mkv_put_raw(), or a copy straight into the destination).
 * @param[in] track  1..2^56-2 (else CS_E_RANGE; 0 is CS_E_INVAL)
 * @param[in] flags  CS_MKV_BLOCK_KEY | CS_MKV_BLOCK_INVISIBLE | CS_MKV_BLOCK_DISCARDABLE;
 *                   other bits (lacing): CS_E_INVAL
 */
CS_API void cs_mkv_put_simple_block_header(cs_mkv_writer *w, uint64_t track,
                                           int16_t relative_timecode, uint8_t flags,
                                           size_t payload_len);

/** @brief cs_mkv_put_simple_block_header() followed by the payload. */
CS_API void cs_mkv_put_simple_block(cs_mkv_writer *w, uint64_t track, int16_t relative_timecode,
                                    uint8_t flags, const void *payload, size_t payload_len);

/** @brief Bytes of a whole SimpleBlock element (header + payload), or 0 when the track or the
 * size is out of range. */
CS_API size_t cs_mkv_simple_block_len(uint64_t track, size_t payload_len);

/**
 * @brief Appends level-1 Tags with one Tag (an empty Targets, then one SimpleTag of TagName and
 * TagString per tag). `count` 0 writes nothing.
 * Errors (sticky): CS_E_LIMIT for count > CS_MKV_MAX_TAGS_PER_FRAGMENT, a name longer than
 * CS_MKV_MAX_TAG_NAME or a value longer than CS_MKV_MAX_TAG_VALUE; CS_E_INVAL for an empty name
 * or NULL pointers with lengths. Reserved names (CS_MKV_RESERVED_TAG_PREFIX) are accepted here:
 * the server writes them; producers check before.
 */
CS_API void cs_mkv_put_tags(cs_mkv_writer *w, const cs_mkv_tag *tags, size_t count);

/**
 * @brief Builds the 18-byte WAVEFORMATEX of a G.711 track: wFormatTag 6 (A-law) or 7 (mu-law),
 * nChannels, nSamplesPerSec, nAvgBytesPerSec = rate * channels, nBlockAlign = channels,
 * wBitsPerSample 8, cbSize 0; all little-endian.
 * @param[out] out       CS_MKV_WAVEFORMATEX_LEN bytes
 * @param[in]  codec     CS_MKV_CODEC_ID_ALAW or CS_MKV_CODEC_ID_MULAW
 * @param[in]  rate      samples per second, 1..UINT32_MAX / channels
 * @param[in]  channels  1..65535
 * @return CS_OK, or CS_E_INVAL (other codec, NULL out, a zero or too large rate or channels).
 */
CS_API cs_status cs_mkv_waveformatex(uint8_t *out, cs_mkv_codec codec, uint32_t rate,
                                     uint32_t channels);

/* ---------------------------------------------------------------------------------------------- */
/* Fragmenter                                                                                     */
/* ---------------------------------------------------------------------------------------------- */

/*
 * A producer writing frames into ring space (reserve/commit), header first, payload behind it:
 * @code
 * cs_mkv_fragmenter_config cfg;
 * cs_mkv_fragmenter frag; // about 4 KiB, e.g. inside the stream object
 * cs_mkv_fragmenter_config_init(&cfg);
 * cfg.tracks[0] = video; // H.264, avcC from cs_nal_codec_private_from_annexb(), width 0
 * cfg.tracks[1] = audio; // G.711 A-law, 8000 Hz, 1 channel
 * cfg.track_count = 2;
 * memcpy(cfg.segment_uid, uid, CS_MKV_SEGMENT_UID_LEN);
 * if (cs_mkv_fragmenter_init(&frag, &cfg) != CS_OK) { ... }
 *
 * cs_mkv_frame fr = {1, pts_ns, is_key ? CS_MKV_BLOCK_KEY : 0, avcc_len};
 * cs_mkv_frame_layout lo;
 * st = cs_mkv_fragmenter_frame_header(&frag, &fr, NULL, 0, &lo);   // size pass
 * if (st == CS_OK && (region = ring_reserve(ring, lo.total_len)) != NULL) {
 *     st = cs_mkv_fragmenter_frame_header(&frag, &fr, region, lo.total_len, &lo);
 *     memcpy(region + lo.header_len, avcc, avcc_len);
 *     ring_commit(ring, lo.total_len, lo.new_cluster); // a new fragment starts here
 * }
 * @endcode
 */

/** @brief Fragmenter settings. Fill with cs_mkv_fragmenter_config_init(); fields only appended. */
typedef struct cs_mkv_fragmenter_config {
    cs_mkv_track_info tracks[CS_MKV_MAX_TRACKS]; /**< copied; their pointers are borrowed for
                                                      the fragmenter's life */
    size_t track_count;                          /**< 1..CS_MKV_MAX_TRACKS; default 0 */
    uint8_t segment_uid[CS_MKV_SEGMENT_UID_LEN]; /**< default all zero */
    /** false (default): cluster timecodes are the frames' absolute timestamps in ms. true: they
     * count from the first frame's timestamp (which becomes cluster timecode 0). */
    bool relative_timecodes;
    /** Start a cluster at each key frame of key_track (default true). */
    bool cluster_on_key_frame;
    /** The track whose key frames start clusters; 0 (default) = the first video track. */
    uint64_t key_track;
    /** Start a cluster when a frame is this far (ns) from the cluster's start; 0 (default) = no
     * limit but the int16 range of block timecodes (32.767 s). */
    uint64_t max_cluster_duration_ns;
} cs_mkv_fragmenter_config;

/** @brief One frame as given to the fragmenter. */
typedef struct cs_mkv_frame {
    uint64_t track;        /**< a TrackNumber of the config */
    uint64_t timestamp_ns; /**< presentation time, ns (written in 1 ms ticks, rounded down) */
    uint8_t flags;         /**< CS_MKV_BLOCK_KEY / _INVISIBLE / _DISCARDABLE */
    size_t size;           /**< payload bytes */
} cs_mkv_frame;

/** @brief Where a frame's bytes go, as decided by the fragmenter. */
typedef struct cs_mkv_frame_layout {
    size_t header_len;         /**< bytes before the payload */
    size_t total_len;          /**< header_len + payload size */
    bool new_segment;          /**< the output starts with EBML header, Segment, Info, Tracks */
    bool new_cluster;          /**< a Cluster starts in this output (a new fragment) */
    size_t tags_offset;        /**< offset of the Tags element written, SIZE_MAX when none */
    size_t cluster_offset;     /**< offset of the Cluster element when new_cluster */
    size_t block_offset;       /**< offset of the SimpleBlock element */
    uint64_t cluster_timecode; /**< Timecode of the cluster holding the block (ticks, ms) */
    int16_t block_timecode;    /**< the block's timecode relative to its cluster */
} cs_mkv_frame_layout;

/** @brief Pending tags kept by value until they are written. */
typedef struct cs_mkv_fragmenter_tag {
    uint16_t name_len;
    uint16_t value_len;
    char name[CS_MKV_MAX_TAG_NAME];
    char value[CS_MKV_MAX_TAG_VALUE];
} cs_mkv_fragmenter_tag;

/** @brief The fragmenter. Caller-allocated (about 4 KiB, mostly pending-tag storage); members
 * are private. */
typedef struct cs_mkv_fragmenter {
    cs_mkv_fragmenter_config cfg;
    uint64_t key_track;
    bool need_segment;
    bool in_cluster;
    bool have_cluster_tc;
    bool have_origin;
    uint64_t origin_ns;
    uint64_t cluster_tc;
    uint64_t max_cluster_ticks; /* 0: none */
    size_t tag_count;
    cs_mkv_fragmenter_tag tags[CS_MKV_MAX_TAGS_PER_FRAGMENT];
} cs_mkv_fragmenter;

/** @brief Fills `cfg` with the defaults listed at each field. */
CS_API void cs_mkv_fragmenter_config_init(cs_mkv_fragmenter_config *cfg);

/**
 * @brief Prepares a fragmenter. The first frame will start a segment (stream header) and a
 * cluster. Track widths/heights of 0 are resolved from the SPS here.
 * @param[out] f    the fragmenter
 * @param[in]  cfg  settings, copied
 * @return CS_OK; CS_E_INVAL (NULL arguments, no tracks, key_track not a track of the config, or a
 * track cs_mkv_put_tracks() rejects); CS_E_LIMIT (track_count above CS_MKV_MAX_TRACKS);
 * CS_E_MALFORMED as cs_mkv_put_tracks().
 */
CS_API cs_status cs_mkv_fragmenter_init(cs_mkv_fragmenter *f, const cs_mkv_fragmenter_config *cfg);

/**
 * @brief Writes the stream header (EBML header, Segment start, Info, Tracks) without changing
 * the fragmenter, e.g. to resend it on a new connection. dst NULL: only the size.
 * @param[out] len  bytes written, or needed (NULL dst or CS_E_NOSPACE)
 * @return CS_OK, CS_E_NOSPACE, CS_E_INVAL (NULL f or len)
 */
CS_API cs_status cs_mkv_fragmenter_header(const cs_mkv_fragmenter *f, uint8_t *dst, size_t cap,
                                          size_t *len);

/**
 * @brief Writes everything that comes before a frame's payload: the stream header when a
 * segment starts, the pending Tags and a Cluster when a cluster starts, and the SimpleBlock
 * header. The caller then copies exactly `frame->size` payload bytes to `dst + header_len`.
 *
 * A cluster starts at the first frame, at a key frame of the key track (cluster_on_key_frame),
 * when the frame is max_cluster_duration_ns or more after the cluster's start, and when its
 * timecode relative to the cluster would exceed INT16_MAX, and after a flush_tags that wrote
 * tags. Frames may go back in time within a cluster (B-frames, interleaved tracks) by up to 32768
 * ticks. Cluster timecodes never go back: a cluster cut at a frame earlier than the current
 * cluster's start keeps the current timecode and the frame gets a negative block timecode.
 *
 * With dst NULL, or on any error, the fragmenter is not changed: the size pass
 * (`dst == NULL`) reports in `layout` exactly what the write pass will write.
 *
 * @param[in,out] f       the fragmenter
 * @param[in]     frame   the frame (its payload is not read)
 * @param[out]    dst     where to write, or NULL to only size
 * @param[in]     cap     bytes at dst
 * @param[out]    layout  sizes and decisions (also filled on CS_E_NOSPACE)
 * @return CS_OK;
 *         CS_E_NOSPACE: cap < layout->header_len (nothing written past cap);
 *         CS_E_INVAL: NULL f, frame or layout, an unknown track, flag bits other than the three;
 *         CS_E_RANGE: the frame is more than 32768 ms before its cluster's start (the
 *         current one, or the one it would start), its payload size is above 2^56 - 16, or
 *         (relative timecodes) the frame is earlier than the first frame;
 *         CS_E_OVERFLOW: sizes do not fit size_t.
 */
CS_API cs_status cs_mkv_fragmenter_frame_header(cs_mkv_fragmenter *f, const cs_mkv_frame *frame,
                                                uint8_t *dst, size_t cap,
                                                cs_mkv_frame_layout *layout);

/**
 * @brief cs_mkv_fragmenter_frame_header() followed by the payload copy, as one call.
 * @param[in] payload  frame->size bytes (may be NULL when dst is NULL)
 * @return as cs_mkv_fragmenter_frame_header(); CS_E_NOSPACE when cap < layout->total_len;
 *         CS_E_INVAL also for a NULL payload with a non-NULL dst and a non-zero size.
 */
CS_API cs_status cs_mkv_fragmenter_put_frame(cs_mkv_fragmenter *f, const cs_mkv_frame *frame,
                                             const void *payload, uint8_t *dst, size_t cap,
                                             cs_mkv_frame_layout *layout);

/**
 * @brief Queues a fragment tag, copied; pending tags are written before the next cluster (or
 * by cs_mkv_fragmenter_flush_tags()).
 * @return CS_OK; CS_E_LIMIT (already CS_MKV_MAX_TAGS_PER_FRAGMENT pending, name above
 *         CS_MKV_MAX_TAG_NAME or value above CS_MKV_MAX_TAG_VALUE bytes); CS_E_INVAL (NULL f,
 *         empty or NULL name, NULL value with a length).
 */
CS_API cs_status cs_mkv_fragmenter_add_tag(cs_mkv_fragmenter *f, const char *name, size_t name_len,
                                           const char *value, size_t value_len);

/**
 * @brief Writes the pending tags now (e.g. at the end of the stream) as one Tags element.
 * Nothing pending: `*len` = 0. dst NULL: only the size, nothing changes. The Tags element ends
 * the open cluster, so the next frame starts a new one.
 * @return CS_OK; CS_E_NOSPACE (pending tags kept); CS_E_STATE (no segment started yet);
 *         CS_E_INVAL (NULL f or len).
 */
CS_API cs_status cs_mkv_fragmenter_flush_tags(cs_mkv_fragmenter *f, uint8_t *dst, size_t cap,
                                              size_t *len);

/**
 * @brief Makes the next frame start a new segment (stream header) and cluster, e.g. for a new
 * connection that resends from a key frame. Forgets the cluster ordering (resent frames may be
 * older); keeps pending tags and the relative-timecode origin.
 */
CS_API void cs_mkv_fragmenter_restart(cs_mkv_fragmenter *f);

#ifdef __cplusplus
}
#endif

#endif /* CAMSTREAM_MKV_WRITE_H */
