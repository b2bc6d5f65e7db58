/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file mkv_read.h
 * @brief An incremental, allocation-free Matroska/EBML reader that turns bytes into events with
 * absolute byte offsets.
 *
 * The reader is fed the stream in chunks of any size (one byte to the whole file) and reports
 * what it finds: the EBML header, segment start, Info, each TrackEntry, cluster start, each block
 * and each of its (laced) frames, each SimpleTag, the end of every master element, and every
 * element it steps over. It reads a single file as well as a concatenation of EBML header +
 * Segment pairs (the GetMedia format, PROTOCOL.md §5), known- and unknown-size Segments and
 * Clusters, SimpleBlocks and BlockGroups, and Xiph, EBML and fixed-size lacing.
 *
 * Memory: the reader never allocates and never buffers payloads. Frame data is reported as spans
 * into the caller's chunk, in pieces when a frame crosses chunk boundaries. The few small
 * elements it needs whole (header fields, TrackEntry fields, CodecPrivate, tag strings) are
 * copied into a fixed scratch area inside the reader struct, which the caller allocates
 * (`sizeof(cs_mkv_reader)` is about 19 KiB, of which CS_MKV_READER_SCRATCH is the scratch area).
 *
 * Every pointer in an event is valid only until the next call on the reader, and data spans
 * point into the chunk passed to that call. Do not copy a cs_mkv_reader (its state refers to its
 * own scratch area by offset, so a copy works, but two copies fed the same bytes are two
 * readers). A reader is used by one thread at a time.
 *
 * Pull style:
 * @code
 * cs_mkv_reader rd;
 * cs_mkv_event ev;
 * cs_mkv_reader_init(&rd, NULL);
 * while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
 *     size_t off = 0;
 *     for (;;) {
 *         size_t used;
 *         cs_status st = cs_mkv_reader_next(&rd, buf + off, (size_t)n - off, &used, &ev);
 *         if (st != CS_OK) {
 *             uint64_t at;
 *             const char *why = cs_mkv_reader_error(&rd, &at);
 *             fprintf(stderr, "bad MKV at byte %llu: %s\n", (unsigned long long)at, why);
 *             return st;
 *         }
 *         off += used;
 *         if (ev.type == CS_MKV_EV_NONE) {
 *             break; // every byte of this chunk consumed: read more
 *         }
 *         if (ev.type == CS_MKV_EV_FRAME) {
 *             // ev.u.block: track, timestamp_ns, key; ev.u.block.data is the first piece
 *         }
 *     }
 * }
 * while (cs_mkv_reader_end(&rd, &ev) == CS_OK && ev.type != CS_MKV_EV_NONE) {
 *     // the ends of unknown-size elements still open
 * }
 * @endcode
 * Callback style: cs_mkv_reader_feed() and cs_mkv_reader_finish() run the same loop.
 */
#ifndef CAMSTREAM_MKV_READ_H
#define CAMSTREAM_MKV_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/mkv.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The size of an element whose size field is "unknown" (all value bits set). */
#define CS_MKV_SIZE_UNKNOWN UINT64_MAX
/** Deepest nesting of master elements the reader can track (config max_depth <= this). */
#define CS_MKV_READER_MAX_DEPTH 16
/** Bytes of scratch space in the reader for fields it needs whole (header, tracks, tags). */
#define CS_MKV_READER_SCRATCH 16384
/** Most frames one laced block can hold (the lace count is one byte + 1). */
#define CS_MKV_READER_MAX_LACES 256

/** @brief What an event reports. Values are only appended. */
typedef enum cs_mkv_event_type {
    /** No event: every byte given was consumed; call again with more bytes (or end). */
    CS_MKV_EV_NONE = 0,
    /** The end of an EBML header: u.ebml (DocType and versions). */
    CS_MKV_EV_EBML_HEADER = 1,
    /** A Segment's header was read: offset, data_offset, size (CS_MKV_SIZE_UNKNOWN for live). */
    CS_MKV_EV_SEGMENT_START = 2,
    /** The end of an Info element: u.info. */
    CS_MKV_EV_INFO = 3,
    /** The end of a TrackEntry: u.track. */
    CS_MKV_EV_TRACK = 4,
    /** A Cluster's Timecode was read: u.cluster; offset/size are the Cluster's. */
    CS_MKV_EV_CLUSTER_START = 5,
    /** A SimpleBlock's or Block's header was read: u.block (no frame fields yet). */
    CS_MKV_EV_BLOCK = 6,
    /** One frame of the block starts: u.block with frame_* and the first piece of data (which
     * may be empty, or the whole frame). */
    CS_MKV_EV_FRAME = 7,
    /** More data of the current frame: u.block.data/data_len at u.block.data_pos. */
    CS_MKV_EV_FRAME_DATA = 8,
    /** The block is complete (SimpleBlock: after its last frame; Block: at the end of its
     * BlockGroup, when key, duration and references are final): u.block. */
    CS_MKV_EV_BLOCK_END = 9,
    /** One SimpleTag: u.tag. */
    CS_MKV_EV_TAG = 10,
    /** A master element ended: id, offset, data_offset, size as declared; end is where it
     * actually ended (for unknown-size elements: where the next non-child element starts, or
     * the end of the stream). */
    CS_MKV_EV_ELEMENT_END = 11,
    /** An element the reader steps over without interpreting it (Void, CRC-32, SeekHead, Cues,
     * Chapters, Attachments, unknown or misplaced IDs): id, offset, size. Its bytes follow. */
    CS_MKV_EV_SKIPPED = 12,
} cs_mkv_event_type;

/** Block lacing, as coded in bits 1-2 of the block flags. */
typedef enum cs_mkv_lacing {
    CS_MKV_LACING_NONE = 0,
    CS_MKV_LACING_XIPH = 1,
    CS_MKV_LACING_FIXED = 2,
    CS_MKV_LACING_EBML = 3,
} cs_mkv_lacing;

/** @brief CS_MKV_EV_EBML_HEADER. Absent fields hold their EBML defaults. */
typedef struct cs_mkv_ebml_info {
    const char *doctype; /**< e.g. "matroska", "webm" (not NUL-terminated) */
    size_t doctype_len;
    uint64_t doctype_version;
    uint64_t doctype_read_version;
    uint64_t ebml_read_version;
} cs_mkv_ebml_info;

/** @brief CS_MKV_EV_INFO. Strings are not NUL-terminated; absent ones are NULL with length 0. */
typedef struct cs_mkv_segment_info {
    uint64_t timecode_scale; /**< ns per tick, 1000000 when absent */
    double duration;         /**< in ticks; valid when has_duration */
    bool has_duration;
    const char *muxing_app;
    size_t muxing_app_len;
    const char *writing_app;
    size_t writing_app_len;
    const char *title;
    size_t title_len;
} cs_mkv_segment_info;

/** @brief CS_MKV_EV_TRACK. */
typedef struct cs_mkv_track_event {
    cs_mkv_track_info info; /**< number, uid, type, codec (derived from codec_id), codec_id,
                                 codec_private, name, width, height, default_duration_ns,
                                 sampling_frequency, channels, bit_depth */
    const char *language;   /**< Language, NULL when absent */
    size_t language_len;
    unsigned index; /**< 0-based position of this TrackEntry in its segment */
} cs_mkv_track_event;

/** @brief CS_MKV_EV_CLUSTER_START. */
typedef struct cs_mkv_cluster_info {
    uint64_t timecode;    /**< Cluster Timecode in TimecodeScale ticks */
    int64_t timestamp_ns; /**< timecode * TimecodeScale */
} cs_mkv_cluster_info;

/**
 * @brief CS_MKV_EV_BLOCK, CS_MKV_EV_FRAME, CS_MKV_EV_FRAME_DATA, CS_MKV_EV_BLOCK_END.
 * Every event of a block repeats the block fields, so a consumer needs no state of its own.
 */
typedef struct cs_mkv_block_info {
    uint64_t track;            /**< TrackNumber */
    int16_t relative_timecode; /**< as coded, relative to the cluster */
    int64_t timecode;          /**< absolute, in TimecodeScale ticks */
    int64_t timestamp_ns;      /**< absolute, in ns */
    uint8_t flags;             /**< the raw flags byte */
    bool key;       /**< SimpleBlock: flag 0x80. Block: no ReferenceBlock; final only at BLOCK_END
                         (earlier events of a Block say false and key_final false) */
    bool key_final; /**< key is final */
    bool invisible;
    bool discardable;
    bool in_group; /**< a Block inside a BlockGroup */
    cs_mkv_lacing lacing;
    unsigned frame_count;    /**< 1 without lacing */
    uint64_t block_offset;   /**< absolute offset of the SimpleBlock/Block element */
    uint64_t payload_offset; /**< absolute offset of the first frame's data */
    uint64_t payload_size;   /**< bytes of all frames (lace header excluded) */
    /* FRAME and FRAME_DATA (zero in BLOCK and BLOCK_END) */
    unsigned frame_index;  /**< 0-based frame within the block */
    uint64_t frame_offset; /**< absolute offset of the frame's first byte */
    uint64_t frame_size;
    const uint8_t *data; /**< a piece of the frame inside the caller's chunk (NULL when
                              empty, or when config frame_data is false) */
    size_t data_len;
    uint64_t data_pos; /**< offset of `data` within the frame */
    /* BLOCK_END */
    bool has_duration;        /**< BlockDuration present */
    uint64_t duration;        /**< BlockDuration in ticks */
    unsigned reference_count; /**< ReferenceBlock elements in the group */
} cs_mkv_block_info;

/** @brief CS_MKV_EV_TAG: one SimpleTag and where it sits. */
typedef struct cs_mkv_tag_info {
    const char *name; /**< TagName (not NUL-terminated), NULL when absent */
    size_t name_len;
    const char *value; /**< TagString, or TagBinary bytes when binary; NULL when absent */
    size_t value_len;
    bool binary;
    uint64_t tags_offset;      /**< absolute offset of the enclosing Tags element */
    uint64_t tag_offset;       /**< absolute offset of the enclosing Tag element */
    unsigned tag_index;        /**< 0-based Tag within its Tags */
    unsigned simple_tag_index; /**< 0-based SimpleTag within its Tag (nested ones counted too) */
    unsigned nesting;          /**< 0 for a child of Tag, 1 for a SimpleTag inside one, ... */
} cs_mkv_tag_info;

/** @brief One event. Common fields describe the element the event is about. */
typedef struct cs_mkv_event {
    cs_mkv_event_type type;
    uint32_t id;          /**< element ID, marker bits included (e.g. 0x1F43B675) */
    unsigned depth;       /**< 0 for EBML header and Segment, 1 for their children, ... */
    uint64_t offset;      /**< absolute offset of the element's first byte (its ID) */
    uint64_t data_offset; /**< absolute offset of its data (after ID and size) */
    uint64_t size;        /**< declared data size, or CS_MKV_SIZE_UNKNOWN */
    uint64_t end;         /**< one past its last byte; CS_MKV_SIZE_UNKNOWN while unknown */
    union {
        cs_mkv_ebml_info ebml;
        cs_mkv_segment_info info;
        cs_mkv_track_event track;
        cs_mkv_cluster_info cluster;
        cs_mkv_block_info block;
        cs_mkv_tag_info tag;
    } u;
} cs_mkv_event;

/** @brief Limits. Fill with cs_mkv_reader_config_init(), then adjust. Fields are only appended. */
typedef struct cs_mkv_reader_config {
    uint64_t max_element_size; /**< largest non-master element (block, skipped element);
                                    default 256 MiB */
    unsigned max_depth;        /**< master nesting, <= CS_MKV_READER_MAX_DEPTH; default 16 */
    unsigned max_tracks;       /**< TrackEntries per segment; default 16 */
    size_t max_string;         /**< DocType, app names, CodecID, Name, Language, TagName;
                                    default 1024 */
    size_t max_codec_private;  /**< default 8192 */
    size_t max_tag_value;      /**< TagString / TagBinary; default 4096 */
    bool frame_data; /**< true (default): FRAME/FRAME_DATA carry data spans. false: frames are
                          reported with offsets and sizes only and their bytes skipped, without
                          FRAME_DATA events. */
} cs_mkv_reader_config;

/** @brief One open master element (private to the reader). */
typedef struct cs_mkv_reader_elem {
    uint64_t offset;
    uint64_t data_offset;
    uint64_t size;
    uint64_t limit; /* own end, or the nearest known-size ancestor's; UINT64_MAX if none */
    uint32_t id;
    uint32_t arena_mark;
    uint8_t level;
    uint8_t final_done;
} cs_mkv_reader_elem;

/**
 * @brief The reader. Caller-allocated (stack, static or inside another object); all members are
 * private. Initialise with cs_mkv_reader_init().
 */
typedef struct cs_mkv_reader {
    cs_mkv_reader_config cfg;
    int state;
    cs_status error;
    uint64_t pos;
    uint64_t error_offset;
    char error_msg[160];
    unsigned depth;
    cs_mkv_reader_elem stack[CS_MKV_READER_MAX_DEPTH];
    /* element header and the element being read */
    uint8_t hdr[12];
    uint8_t hdr_len;
    uint8_t hdr_need;
    uint8_t id_len;
    uint8_t leaf_kind;
    uint32_t cur_id;
    uint64_t cur_offset;
    uint64_t cur_data_offset;
    uint64_t cur_size;
    uint64_t remaining;
    uint8_t val[8];
    uint8_t val_len;
    uint32_t leaf_off;
    /* segment and cluster */
    uint64_t timecode_scale;
    uint64_t cluster_tc;
    bool cluster_has_tc;
    unsigned track_count;
    /* EBML header, Info, TrackEntry, SimpleTag fields (strings are arena offset/length) */
    uint64_t ebml_u[3];
    uint32_t ebml_doctype[2];
    double info_duration;
    bool info_has_duration;
    uint32_t info_str[3][2];
    cs_mkv_track_info trk;
    uint32_t trk_str[4][2];
    uint64_t tags_offset;
    uint64_t tag_offset;
    unsigned tag_index;
    unsigned simple_tag_index;
    uint32_t stag_str[2][2];
    bool stag_binary;
    bool stag_has_name;
    bool stag_has_value;
    /* block being read */
    cs_mkv_block_info blk;
    uint8_t bh_state;
    uint8_t bh_vint[8];
    uint8_t bh_vint_len;
    uint8_t bh_vint_need;
    unsigned lace_i;
    uint64_t lace_acc;
    uint64_t lace_sum;
    uint64_t lace[CS_MKV_READER_MAX_LACES];
    bool group_has_block;
    uint32_t arena_used;
    uint8_t arena[CS_MKV_READER_SCRATCH];
} cs_mkv_reader;

/**
 * @brief Fills `cfg` with the defaults listed at each field.
 * @param[out] cfg  the config to fill
 */
CS_API void cs_mkv_reader_config_init(cs_mkv_reader_config *cfg);

/**
 * @brief Prepares a reader for a new stream (offset 0).
 * @param[out] r    the reader, caller-allocated
 * @param[in]  cfg  limits, copied; NULL for the defaults
 * @return CS_OK; CS_E_INVAL when r is NULL or a limit is out of range (max_depth 0 or above
 *         CS_MKV_READER_MAX_DEPTH, max_tracks 0, a string/codec-private/tag limit above
 *         CS_MKV_READER_SCRATCH).
 */
CS_API cs_status cs_mkv_reader_init(cs_mkv_reader *r, const cs_mkv_reader_config *cfg);

/** @brief Restarts `r` at offset 0 with its config, forgetting any error. */
CS_API void cs_mkv_reader_reset(cs_mkv_reader *r);

/**
 * @brief Reads from `data` until one event is complete or every byte is consumed.
 *
 * Events whose spans point into `data` are valid until the next call. Call again with
 * `data + *consumed`; when `ev->type` is CS_MKV_EV_NONE, all `len` bytes were consumed and the
 * reader needs the next chunk. An event may be returned with `*consumed == 0` (e.g. the end of an
 * element that ended with the previous chunk). The sequence of events, apart from how frame data
 * is split into pieces, does not depend on how the stream is cut into chunks.
 *
 * @param[in,out] r         the reader
 * @param[in]     data      the next bytes of the stream (may be NULL when len is 0)
 * @param[in]     len       how many
 * @param[out]    consumed  bytes of `data` used up to and including this event
 * @param[out]    ev        the event, or type CS_MKV_EV_NONE
 * @return CS_OK (check ev->type);
 *         CS_E_MALFORMED: the bytes break EBML/Matroska rules; see cs_mkv_reader_error();
 *         CS_E_LIMIT: a configured limit was exceeded (size, depth, tracks, string lengths,
 *         scratch space);
 *         CS_E_UNSUPPORTED: an EBML header this reader cannot follow (EBMLReadVersion > 1,
 *         EBMLMaxIDLength > 4, EBMLMaxSizeLength > 8);
 *         CS_E_INVAL: NULL r, consumed or ev, or NULL data with len > 0.
 *         After an error every call returns the same error until cs_mkv_reader_reset().
 */
CS_API cs_status cs_mkv_reader_next(cs_mkv_reader *r, const uint8_t *data, size_t len,
                                    size_t *consumed, cs_mkv_event *ev);

/**
 * @brief Tells the reader the stream has ended; returns the remaining events one per call (the
 * ends of open unknown-size elements), then CS_MKV_EV_NONE.
 * @param[in,out] r   the reader
 * @param[out]    ev  the event, or type CS_MKV_EV_NONE when the stream is complete
 * @return CS_OK; CS_E_MALFORMED when the stream stops inside an element (a header, a value, a
 *         block, a skipped element, or a known-size master that has not reached its end); the
 *         error offset is the end of the stream; CS_E_INVAL for NULL arguments; an earlier
 *         error.
 */
CS_API cs_status cs_mkv_reader_end(cs_mkv_reader *r, cs_mkv_event *ev);

/** @brief A receiver of events; any status but CS_OK stops the reader with that status. */
typedef cs_status (*cs_mkv_event_fn)(void *ctx, const cs_mkv_event *ev);

/**
 * @brief Callback style: runs cs_mkv_reader_next() over the whole chunk, handing each event to
 * `fn`.
 * @return CS_OK, an error of cs_mkv_reader_next(), or the first non-CS_OK status of `fn` (which
 *         then becomes the reader's sticky error, message "stopped by the event callback").
 */
CS_API cs_status cs_mkv_reader_feed(cs_mkv_reader *r, const uint8_t *data, size_t len,
                                    cs_mkv_event_fn fn, void *ctx);

/** @brief Callback style of cs_mkv_reader_end(): hands every remaining event to `fn`.
 * @return as cs_mkv_reader_end(), or the first non-CS_OK status of `fn`. */
CS_API cs_status cs_mkv_reader_finish(cs_mkv_reader *r, cs_mkv_event_fn fn, void *ctx);

/**
 * @brief Why the reader stopped.
 * @param[in]  r       the reader
 * @param[out] offset  where (absolute byte offset of the offending byte or element); may be NULL
 * @return a message such as "element 0x1F43B675 at 40: size 5000 exceeds its parent (ends at
 *         300)", or "" when there was no error. Valid until the next call on the reader.
 */
CS_API const char *cs_mkv_reader_error(const cs_mkv_reader *r, uint64_t *offset);

/** @brief Bytes of the stream consumed so far (the absolute offset of the next byte). */
CS_API uint64_t cs_mkv_reader_offset(const cs_mkv_reader *r);

/** @brief The name of an event type, e.g. "FRAME"; "?" for values not listed. */
CS_API const char *cs_mkv_event_type_str(cs_mkv_event_type type);

#ifdef __cplusplus
}
#endif

#endif /* CAMSTREAM_MKV_READ_H */
