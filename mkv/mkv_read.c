/* SPDX-License-Identifier: Apache-2.0 */
/* The incremental Matroska reader: a resumable state machine over EBML element headers, leaf
 * values it needs (copied into a fixed scratch area), block headers and lace sizes (parsed a byte
 * at a time), and frame payloads (reported as spans of the caller's bytes, never copied).
 * Invariants and the unknown-size rule are in docs/internals/MKV.md, section Reader. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "camstream/mkv.h"

/* Reader states: where the next byte belongs. */
enum {
    ST_ELEM = 0,    /* between elements: close ended masters, then start a header */
    ST_HDR,         /* inside an element header (ID + size) */
    ST_DISPATCH,    /* header read: close unknown-size parents, then act on the element */
    ST_LEAF,        /* collecting a value the reader needs */
    ST_SKIP,        /* stepping over an element's bytes */
    ST_BLOCK_HDR,   /* block header and lace sizes */
    ST_FRAME_BEGIN, /* the next frame of a block starts (or the block ends) */
    ST_FRAME_DATA,  /* inside a frame */
    ST_ERROR,
};

/* Block header sub-states. */
enum { BH_TRACK = 0, BH_TC0, BH_TC1, BH_FLAGS, BH_LACE_COUNT, BH_LACE_SIZE };

/* What the reader does with an element. */
enum {
    K_SKIP = 0, /* step over it (SKIPPED event) */
    K_MASTER,   /* descend */
    K_UINT,
    K_INT,
    K_FLOAT,
    K_STRING,
    K_BINARY,
    K_BLOCK,
};

#define ROOT 0u /* "parent" of the top-level elements */
#define ANY 1u  /* parent of global elements (Void, CRC-32) */
#define NO_LIMIT UINT64_MAX

struct elem_def {
    uint32_t id;
    uint32_t parent;
    uint8_t level;
    uint8_t kind;
};

/* The elements the reader knows: where they live (for placement and the unknown-size rule) and
 * what it does with them. Every other ID is skipped. */
static const struct elem_def defs[] = {
    {CS_MKV_ID_SIMPLE_BLOCK, CS_MKV_ID_CLUSTER, 2, K_BLOCK},
    {CS_MKV_ID_BLOCK_GROUP, CS_MKV_ID_CLUSTER, 2, K_MASTER},
    {CS_MKV_ID_BLOCK, CS_MKV_ID_BLOCK_GROUP, 3, K_BLOCK},
    {CS_MKV_ID_BLOCK_DURATION, CS_MKV_ID_BLOCK_GROUP, 3, K_UINT},
    {CS_MKV_ID_REFERENCE_BLOCK, CS_MKV_ID_BLOCK_GROUP, 3, K_INT},
    {CS_MKV_ID_CLUSTER, CS_MKV_ID_SEGMENT, 1, K_MASTER},
    {CS_MKV_ID_TIMECODE, CS_MKV_ID_CLUSTER, 2, K_UINT},
    {CS_MKV_ID_POSITION, CS_MKV_ID_CLUSTER, 2, K_SKIP},
    {CS_MKV_ID_PREV_SIZE, CS_MKV_ID_CLUSTER, 2, K_SKIP},
    {CS_EBML_ID_VOID, ANY, 0, K_SKIP},
    {CS_EBML_ID_CRC32, ANY, 0, K_SKIP},
    {CS_EBML_ID_HEADER, ROOT, 0, K_MASTER},
    {CS_EBML_ID_VERSION, CS_EBML_ID_HEADER, 1, K_SKIP},
    {CS_EBML_ID_READ_VERSION, CS_EBML_ID_HEADER, 1, K_UINT},
    {CS_EBML_ID_MAX_ID_LENGTH, CS_EBML_ID_HEADER, 1, K_UINT},
    {CS_EBML_ID_MAX_SIZE_LENGTH, CS_EBML_ID_HEADER, 1, K_UINT},
    {CS_EBML_ID_DOCTYPE, CS_EBML_ID_HEADER, 1, K_STRING},
    {CS_EBML_ID_DOCTYPE_VERSION, CS_EBML_ID_HEADER, 1, K_UINT},
    {CS_EBML_ID_DOCTYPE_READ_VERSION, CS_EBML_ID_HEADER, 1, K_UINT},
    {CS_MKV_ID_SEGMENT, ROOT, 0, K_MASTER},
    {CS_MKV_ID_SEEKHEAD, CS_MKV_ID_SEGMENT, 1, K_SKIP},
    {CS_MKV_ID_INFO, CS_MKV_ID_SEGMENT, 1, K_MASTER},
    {CS_MKV_ID_TRACKS, CS_MKV_ID_SEGMENT, 1, K_MASTER},
    {CS_MKV_ID_CUES, CS_MKV_ID_SEGMENT, 1, K_SKIP},
    {CS_MKV_ID_CHAPTERS, CS_MKV_ID_SEGMENT, 1, K_SKIP},
    {CS_MKV_ID_ATTACHMENTS, CS_MKV_ID_SEGMENT, 1, K_SKIP},
    {CS_MKV_ID_TAGS, CS_MKV_ID_SEGMENT, 1, K_MASTER},
    {CS_MKV_ID_TIMECODE_SCALE, CS_MKV_ID_INFO, 2, K_UINT},
    {CS_MKV_ID_DURATION, CS_MKV_ID_INFO, 2, K_FLOAT},
    {CS_MKV_ID_TITLE, CS_MKV_ID_INFO, 2, K_STRING},
    {CS_MKV_ID_MUXING_APP, CS_MKV_ID_INFO, 2, K_STRING},
    {CS_MKV_ID_WRITING_APP, CS_MKV_ID_INFO, 2, K_STRING},
    {CS_MKV_ID_SEGMENT_UID, CS_MKV_ID_INFO, 2, K_SKIP},
    {CS_MKV_ID_DATE_UTC, CS_MKV_ID_INFO, 2, K_SKIP},
    {CS_MKV_ID_TRACK_ENTRY, CS_MKV_ID_TRACKS, 2, K_MASTER},
    {CS_MKV_ID_TRACK_NUMBER, CS_MKV_ID_TRACK_ENTRY, 3, K_UINT},
    {CS_MKV_ID_TRACK_UID, CS_MKV_ID_TRACK_ENTRY, 3, K_UINT},
    {CS_MKV_ID_TRACK_TYPE, CS_MKV_ID_TRACK_ENTRY, 3, K_UINT},
    {CS_MKV_ID_DEFAULT_DURATION, CS_MKV_ID_TRACK_ENTRY, 3, K_UINT},
    {CS_MKV_ID_NAME, CS_MKV_ID_TRACK_ENTRY, 3, K_STRING},
    {CS_MKV_ID_LANGUAGE, CS_MKV_ID_TRACK_ENTRY, 3, K_STRING},
    {CS_MKV_ID_CODEC_ID, CS_MKV_ID_TRACK_ENTRY, 3, K_STRING},
    {CS_MKV_ID_CODEC_PRIVATE, CS_MKV_ID_TRACK_ENTRY, 3, K_BINARY},
    {CS_MKV_ID_VIDEO, CS_MKV_ID_TRACK_ENTRY, 3, K_MASTER},
    {CS_MKV_ID_AUDIO, CS_MKV_ID_TRACK_ENTRY, 3, K_MASTER},
    {CS_MKV_ID_PIXEL_WIDTH, CS_MKV_ID_VIDEO, 4, K_UINT},
    {CS_MKV_ID_PIXEL_HEIGHT, CS_MKV_ID_VIDEO, 4, K_UINT},
    {CS_MKV_ID_SAMPLING_FREQUENCY, CS_MKV_ID_AUDIO, 4, K_FLOAT},
    {CS_MKV_ID_CHANNELS, CS_MKV_ID_AUDIO, 4, K_UINT},
    {CS_MKV_ID_BIT_DEPTH, CS_MKV_ID_AUDIO, 4, K_UINT},
    {CS_MKV_ID_TAG, CS_MKV_ID_TAGS, 2, K_MASTER},
    {CS_MKV_ID_TARGETS, CS_MKV_ID_TAG, 3, K_SKIP},
    {CS_MKV_ID_SIMPLE_TAG, CS_MKV_ID_TAG, 3, K_MASTER},
    {CS_MKV_ID_TAG_NAME, CS_MKV_ID_SIMPLE_TAG, 4, K_STRING},
    {CS_MKV_ID_TAG_STRING, CS_MKV_ID_SIMPLE_TAG, 4, K_STRING},
    {CS_MKV_ID_TAG_BINARY, CS_MKV_ID_SIMPLE_TAG, 4, K_BINARY},
};

static const struct elem_def *find_def(uint32_t id)
{
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        if (defs[i].id == id) {
            return &defs[i];
        }
    }
    return NULL;
}

/* Length of a vint from its first byte (1..8), 0 for the invalid 0x00. */
static unsigned vint_len(uint8_t b)
{
    unsigned n = 1;

    if (b == 0) {
        return 0;
    }
    while ((b & 0x80u) == 0) {
        b = (uint8_t)(b << 1);
        n++;
    }
    return n;
}

/* Value of a vint of n bytes with the length marker removed. */
static uint64_t vint_value(const uint8_t *p, unsigned n)
{
    uint64_t v = p[0] & (0xFFu >> n);

    for (unsigned i = 1; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static cs_status fail(cs_mkv_reader *r, cs_status st, uint64_t at, const char *fmt, ...)
    CS_PRINTF(4, 5);

static cs_status fail(cs_mkv_reader *r, cs_status st, uint64_t at, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->error_msg, sizeof(r->error_msg), fmt, ap);
    va_end(ap);
    r->error = st;
    r->error_offset = at;
    r->state = ST_ERROR;
    return st;
}

static uint64_t read_uint(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static double read_float(const uint8_t *p, unsigned n)
{
    uint64_t v = read_uint(p, n);

    if (n == 4) {
        uint32_t u = (uint32_t)v;
        float f;
        memcpy(&f, &u, sizeof(f));
        return (double)f;
    }
    if (n == 8) {
        double d;
        memcpy(&d, &v, sizeof(d));
        return d;
    }
    return 0.0;
}

static const char *arena_str(const cs_mkv_reader *r, const uint32_t s[2])
{
    return s[1] == 0 ? NULL : (const char *)&r->arena[s[0]];
}

static cs_mkv_codec codec_of(const char *id, size_t len)
{
    static const struct {
        const char *id;
        cs_mkv_codec codec;
    } map[] = {
        {CS_MKV_CODEC_H264, CS_MKV_CODEC_ID_H264},
        {CS_MKV_CODEC_H265, CS_MKV_CODEC_ID_H265},
        {CS_MKV_CODEC_AAC, CS_MKV_CODEC_ID_AAC},
        {CS_MKV_CODEC_PCM, CS_MKV_CODEC_ID_PCM},
    };

    if (id == NULL) {
        return CS_MKV_CODEC_UNKNOWN;
    }
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strlen(map[i].id) == len && memcmp(map[i].id, id, len) == 0) {
            return map[i].codec;
        }
    }
    /* A_MS/ACM is A-law or mu-law by the WAVEFORMATEX format tag (see trk_codec()). */
    return CS_MKV_CODEC_UNKNOWN;
}

void cs_mkv_reader_config_init(cs_mkv_reader_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_element_size = 256u * 1024u * 1024u;
    cfg->max_depth = CS_MKV_READER_MAX_DEPTH;
    cfg->max_tracks = 16;
    cfg->max_string = 1024;
    cfg->max_codec_private = 8192;
    cfg->max_tag_value = 4096;
    cfg->frame_data = true;
}

void cs_mkv_reader_reset(cs_mkv_reader *r)
{
    cs_mkv_reader_config cfg;

    if (r == NULL) {
        return;
    }
    cfg = r->cfg;
    /* Only the fixed part is cleared; the scratch area is overwritten as it is used. */
    memset(r, 0, offsetof(cs_mkv_reader, arena));
    r->cfg = cfg;
    r->state = ST_ELEM;
    r->timecode_scale = CS_MKV_TIMECODE_SCALE_NS;
}

cs_status cs_mkv_reader_init(cs_mkv_reader *r, const cs_mkv_reader_config *cfg)
{
    cs_mkv_reader_config c;

    if (r == NULL) {
        return CS_E_INVAL;
    }
    if (cfg != NULL) {
        c = *cfg;
    } else {
        cs_mkv_reader_config_init(&c);
    }
    if (c.max_depth == 0 || c.max_depth > CS_MKV_READER_MAX_DEPTH || c.max_tracks == 0 ||
        c.max_string > CS_MKV_READER_SCRATCH || c.max_codec_private > CS_MKV_READER_SCRATCH ||
        c.max_tag_value > CS_MKV_READER_SCRATCH) {
        return CS_E_INVAL;
    }
    r->cfg = c;
    cs_mkv_reader_reset(r);
    return CS_OK;
}

const char *cs_mkv_reader_error(const cs_mkv_reader *r, uint64_t *offset)
{
    if (r == NULL || r->error == CS_OK) {
        if (offset != NULL) {
            *offset = 0;
        }
        return "";
    }
    if (offset != NULL) {
        *offset = r->error_offset;
    }
    return r->error_msg;
}

uint64_t cs_mkv_reader_offset(const cs_mkv_reader *r)
{
    return r == NULL ? 0 : r->pos;
}

const char *cs_mkv_event_type_str(cs_mkv_event_type type)
{
    static const char *const names[] = {
        "NONE",  "EBML_HEADER", "SEGMENT_START", "INFO", "TRACK",       "CLUSTER_START", "BLOCK",
        "FRAME", "FRAME_DATA",  "BLOCK_END",     "TAG",  "ELEMENT_END", "SKIPPED",
    };

    if ((unsigned)type < sizeof(names) / sizeof(names[0])) {
        return names[type];
    }
    return "?";
}

/* ---------------------------------------------------------------------------------------------- */
/* Events                                                                                         */
/* ---------------------------------------------------------------------------------------------- */

static void ev_elem(cs_mkv_event *ev, cs_mkv_event_type type, const cs_mkv_reader_elem *e,
                    unsigned depth)
{
    memset(ev, 0, sizeof(*ev));
    ev->type = type;
    ev->id = e->id;
    ev->depth = depth;
    ev->offset = e->offset;
    ev->data_offset = e->data_offset;
    ev->size = e->size;
    ev->end = e->size == CS_MKV_SIZE_UNKNOWN ? CS_MKV_SIZE_UNKNOWN : e->data_offset + e->size;
}

/* The element whose header was just read, as an event. */
static void ev_cur(const cs_mkv_reader *r, cs_mkv_event *ev, cs_mkv_event_type type)
{
    memset(ev, 0, sizeof(*ev));
    ev->type = type;
    ev->id = r->cur_id;
    ev->depth = r->depth;
    ev->offset = r->cur_offset;
    ev->data_offset = r->cur_data_offset;
    ev->size = r->cur_size;
    ev->end =
        r->cur_size == CS_MKV_SIZE_UNKNOWN ? CS_MKV_SIZE_UNKNOWN : r->cur_data_offset + r->cur_size;
}

static void ev_block(const cs_mkv_reader *r, cs_mkv_event *ev, cs_mkv_event_type type)
{
    ev_cur(r, ev, type);
    ev->u.block = r->blk;
    if (type == CS_MKV_EV_BLOCK || type == CS_MKV_EV_BLOCK_END) {
        ev->u.block.frame_index = 0;
        ev->u.block.frame_offset = 0;
        ev->u.block.frame_size = 0;
        ev->u.block.data_pos = 0;
    }
}

static cs_mkv_codec trk_codec(const cs_mkv_track_info *t)
{
    cs_mkv_codec c = codec_of(t->codec_id, t->codec_id_len);

    if (c == CS_MKV_CODEC_UNKNOWN && t->codec_id_len == strlen(CS_MKV_CODEC_ACM) &&
        memcmp(t->codec_id, CS_MKV_CODEC_ACM, t->codec_id_len) == 0 && t->codec_private_len >= 2) {
        unsigned tag = (unsigned)t->codec_private[0] | (unsigned)t->codec_private[1] << 8;
        c = tag == 6 ? CS_MKV_CODEC_ID_ALAW : tag == 7 ? CS_MKV_CODEC_ID_MULAW : c;
    }
    return c;
}

/* Ends the innermost open master: first its own event (Info, TrackEntry, ...) if it has one,
 * then, on the next call, ELEMENT_END. `at` is where it ends. Returns CS_OK with an event, or an
 * error. */
static cs_status close_top(cs_mkv_reader *r, cs_mkv_event *ev, uint64_t at)
{
    cs_mkv_reader_elem *e = &r->stack[r->depth - 1];
    unsigned depth = r->depth - 1;

    if (!e->final_done) {
        e->final_done = 1;
        switch (e->id) {
        case CS_EBML_ID_HEADER:
            ev_elem(ev, CS_MKV_EV_EBML_HEADER, e, depth);
            ev->u.ebml.doctype = arena_str(r, r->ebml_doctype);
            ev->u.ebml.doctype_len = r->ebml_doctype[1];
            ev->u.ebml.ebml_read_version = r->ebml_u[0];
            ev->u.ebml.doctype_version = r->ebml_u[1];
            ev->u.ebml.doctype_read_version = r->ebml_u[2];
            return CS_OK;
        case CS_MKV_ID_INFO:
            ev_elem(ev, CS_MKV_EV_INFO, e, depth);
            ev->u.info.timecode_scale = r->timecode_scale;
            ev->u.info.duration = r->info_duration;
            ev->u.info.has_duration = r->info_has_duration;
            ev->u.info.muxing_app = arena_str(r, r->info_str[0]);
            ev->u.info.muxing_app_len = r->info_str[0][1];
            ev->u.info.writing_app = arena_str(r, r->info_str[1]);
            ev->u.info.writing_app_len = r->info_str[1][1];
            ev->u.info.title = arena_str(r, r->info_str[2]);
            ev->u.info.title_len = r->info_str[2][1];
            return CS_OK;
        case CS_MKV_ID_TRACK_ENTRY:
            if (r->trk.number == 0) {
                return fail(r, CS_E_MALFORMED, e->offset,
                            "TrackEntry at %" PRIu64 " has no TrackNumber (or 0)", e->offset);
            }
            ev_elem(ev, CS_MKV_EV_TRACK, e, depth);
            ev->u.track.info = r->trk;
            ev->u.track.info.codec_id = arena_str(r, r->trk_str[0]);
            ev->u.track.info.codec_id_len = r->trk_str[0][1];
            ev->u.track.info.codec_private = (const uint8_t *)arena_str(r, r->trk_str[1]);
            ev->u.track.info.codec_private_len = r->trk_str[1][1];
            ev->u.track.info.name = arena_str(r, r->trk_str[2]);
            ev->u.track.info.name_len = r->trk_str[2][1];
            ev->u.track.language = arena_str(r, r->trk_str[3]);
            ev->u.track.language_len = r->trk_str[3][1];
            ev->u.track.info.codec = trk_codec(&ev->u.track.info);
            ev->u.track.index = r->track_count - 1;
            return CS_OK;
        case CS_MKV_ID_CLUSTER:
            if (!r->cluster_has_tc) {
                return fail(r, CS_E_MALFORMED, e->offset, "Cluster at %" PRIu64 " has no Timecode",
                            e->offset);
            }
            break;
        case CS_MKV_ID_BLOCK_GROUP:
            if (!r->group_has_block) {
                return fail(r, CS_E_MALFORMED, e->offset, "BlockGroup at %" PRIu64 " has no Block",
                            e->offset);
            }
            ev_elem(ev, CS_MKV_EV_BLOCK_END, e, depth);
            r->blk.key = r->blk.reference_count == 0;
            r->blk.key_final = true;
            ev->u.block = r->blk;
            ev->u.block.frame_index = 0;
            ev->u.block.frame_offset = 0;
            ev->u.block.frame_size = 0;
            ev->u.block.data_pos = 0;
            return CS_OK;
        case CS_MKV_ID_SIMPLE_TAG:
            ev_elem(ev, CS_MKV_EV_TAG, e, depth);
            ev->u.tag.name = arena_str(r, r->stag_str[0]);
            ev->u.tag.name_len = r->stag_str[0][1];
            ev->u.tag.value = arena_str(r, r->stag_str[1]);
            ev->u.tag.value_len = r->stag_str[1][1];
            ev->u.tag.binary = r->stag_binary;
            ev->u.tag.tags_offset = r->tags_offset;
            ev->u.tag.tag_offset = r->tag_offset;
            ev->u.tag.tag_index = r->tag_index - 1;
            ev->u.tag.simple_tag_index = r->simple_tag_index - 1;
            for (unsigned i = depth; i > 0 && r->stack[i - 1].id == CS_MKV_ID_SIMPLE_TAG; i--) {
                ev->u.tag.nesting++;
            }
            return CS_OK;
        default:
            break;
        }
    }
    ev_elem(ev, CS_MKV_EV_ELEMENT_END, e, depth);
    ev->end = at;
    if (e->id == CS_MKV_ID_CLUSTER) {
        r->cluster_has_tc = false;
    }
    r->arena_used = e->arena_mark;
    r->depth--;
    return CS_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* Dispatch                                                                                       */
/* ---------------------------------------------------------------------------------------------- */

/* Room in the scratch area for a value of `size` bytes; the value goes at r->leaf_off. */
static cs_status reserve(cs_mkv_reader *r, uint64_t size, size_t limit, const char *what)
{
    if (size > limit) {
        return fail(r, CS_E_LIMIT, r->cur_offset,
                    "%s at %" PRIu64 ": %" PRIu64 " bytes exceed the limit of %zu", what,
                    r->cur_offset, size, limit);
    }
    if (size > CS_MKV_READER_SCRATCH - r->arena_used) {
        return fail(r, CS_E_LIMIT, r->cur_offset,
                    "%s at %" PRIu64 ": the reader's scratch area (%d bytes) is full", what,
                    r->cur_offset, CS_MKV_READER_SCRATCH);
    }
    r->leaf_off = r->arena_used;
    r->arena_used += (uint32_t)size;
    return CS_OK;
}

static void push(cs_mkv_reader *r, const struct elem_def *d, uint64_t limit)
{
    cs_mkv_reader_elem *e = &r->stack[r->depth++];

    e->id = r->cur_id;
    e->offset = r->cur_offset;
    e->data_offset = r->cur_data_offset;
    e->size = r->cur_size;
    e->limit = limit;
    e->level = d->level;
    e->final_done = 0;
    e->arena_mark = r->arena_used;
}

/* Starts a master element: resets the fields it collects. Returns true with an event for the
 * Segment. */
static cs_status start_master(cs_mkv_reader *r, cs_mkv_event *ev, bool *have)
{
    switch (r->cur_id) {
    case CS_EBML_ID_HEADER:
        r->ebml_u[0] = 1;
        r->ebml_u[1] = 1;
        r->ebml_u[2] = 1;
        memset(r->ebml_doctype, 0, sizeof(r->ebml_doctype));
        break;
    case CS_MKV_ID_SEGMENT:
        r->timecode_scale = CS_MKV_TIMECODE_SCALE_NS;
        r->track_count = 0;
        r->cluster_has_tc = false;
        ev_elem(ev, CS_MKV_EV_SEGMENT_START, &r->stack[r->depth - 1], r->depth - 1);
        *have = true;
        break;
    case CS_MKV_ID_INFO:
        r->info_duration = 0.0;
        r->info_has_duration = false;
        memset(r->info_str, 0, sizeof(r->info_str));
        break;
    case CS_MKV_ID_TRACK_ENTRY:
        if (r->track_count >= r->cfg.max_tracks) {
            return fail(r, CS_E_LIMIT, r->cur_offset,
                        "TrackEntry at %" PRIu64 ": more than %u tracks", r->cur_offset,
                        r->cfg.max_tracks);
        }
        r->track_count++;
        memset(&r->trk, 0, sizeof(r->trk));
        memset(r->trk_str, 0, sizeof(r->trk_str));
        r->trk.channels = 1;
        r->trk.sampling_frequency = 8000.0;
        break;
    case CS_MKV_ID_CLUSTER:
        r->cluster_has_tc = false;
        break;
    case CS_MKV_ID_BLOCK_GROUP:
        r->group_has_block = false;
        memset(&r->blk, 0, sizeof(r->blk));
        break;
    case CS_MKV_ID_TAGS:
        r->tags_offset = r->cur_offset;
        r->tag_index = 0;
        break;
    case CS_MKV_ID_TAG:
        r->tag_offset = r->cur_offset;
        r->tag_index++;
        r->simple_tag_index = 0;
        break;
    case CS_MKV_ID_SIMPLE_TAG:
        r->simple_tag_index++;
        memset(r->stag_str, 0, sizeof(r->stag_str));
        r->stag_binary = false;
        break;
    default:
        break;
    }
    return CS_OK;
}

/* A leaf value is complete: store it where it belongs. May produce CLUSTER_START. */
static cs_status store_leaf(cs_mkv_reader *r, cs_mkv_event *ev, bool *have)
{
    unsigned n = r->val_len;
    uint64_t u = read_uint(r->val, n);
    uint32_t str[2] = {r->leaf_off, (uint32_t)r->cur_size};

    if (r->leaf_kind == K_STRING) {
        /* EBML strings may be padded with NULs: the string ends at the first one. */
        const uint8_t *nul = memchr(&r->arena[str[0]], 0, str[1]);
        if (nul != NULL) {
            str[1] = (uint32_t)(nul - &r->arena[str[0]]);
        }
    }
    switch (r->cur_id) {
    case CS_EBML_ID_READ_VERSION:
        r->ebml_u[0] = u;
        if (u > 1) {
            return fail(r, CS_E_UNSUPPORTED, r->cur_offset,
                        "EBMLReadVersion %" PRIu64 " at %" PRIu64 " (only 1 is known)", u,
                        r->cur_offset);
        }
        break;
    case CS_EBML_ID_MAX_ID_LENGTH:
        if (u > 4) {
            return fail(r, CS_E_UNSUPPORTED, r->cur_offset,
                        "EBMLMaxIDLength %" PRIu64 " at %" PRIu64 " (4 at most)", u, r->cur_offset);
        }
        break;
    case CS_EBML_ID_MAX_SIZE_LENGTH:
        if (u > 8) {
            return fail(r, CS_E_UNSUPPORTED, r->cur_offset,
                        "EBMLMaxSizeLength %" PRIu64 " at %" PRIu64 " (8 at most)", u,
                        r->cur_offset);
        }
        break;
    case CS_EBML_ID_DOCTYPE:
        memcpy(r->ebml_doctype, str, sizeof(str));
        break;
    case CS_EBML_ID_DOCTYPE_VERSION:
        r->ebml_u[1] = u;
        break;
    case CS_EBML_ID_DOCTYPE_READ_VERSION:
        r->ebml_u[2] = u;
        break;
    case CS_MKV_ID_TIMECODE_SCALE:
        if (u == 0 || u > (uint64_t)INT64_MAX) {
            return fail(r, CS_E_MALFORMED, r->cur_offset,
                        "TimecodeScale %" PRIu64 " at %" PRIu64 " is out of range", u,
                        r->cur_offset);
        }
        r->timecode_scale = u;
        break;
    case CS_MKV_ID_DURATION:
        r->info_duration = read_float(r->val, n);
        r->info_has_duration = true;
        break;
    case CS_MKV_ID_MUXING_APP:
        memcpy(r->info_str[0], str, sizeof(str));
        break;
    case CS_MKV_ID_WRITING_APP:
        memcpy(r->info_str[1], str, sizeof(str));
        break;
    case CS_MKV_ID_TITLE:
        memcpy(r->info_str[2], str, sizeof(str));
        break;
    case CS_MKV_ID_TRACK_NUMBER:
        r->trk.number = u;
        break;
    case CS_MKV_ID_TRACK_UID:
        r->trk.uid = u;
        break;
    case CS_MKV_ID_TRACK_TYPE:
        r->trk.type = (cs_mkv_track_type)(u & 0xFFu);
        break;
    case CS_MKV_ID_DEFAULT_DURATION:
        r->trk.default_duration_ns = u;
        break;
    case CS_MKV_ID_CODEC_ID:
        memcpy(r->trk_str[0], str, sizeof(str));
        break;
    case CS_MKV_ID_CODEC_PRIVATE:
        memcpy(r->trk_str[1], str, sizeof(str));
        break;
    case CS_MKV_ID_NAME:
        memcpy(r->trk_str[2], str, sizeof(str));
        break;
    case CS_MKV_ID_LANGUAGE:
        memcpy(r->trk_str[3], str, sizeof(str));
        break;
    case CS_MKV_ID_PIXEL_WIDTH:
        r->trk.width = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
        break;
    case CS_MKV_ID_PIXEL_HEIGHT:
        r->trk.height = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
        break;
    case CS_MKV_ID_SAMPLING_FREQUENCY:
        r->trk.sampling_frequency = read_float(r->val, n);
        break;
    case CS_MKV_ID_CHANNELS:
        r->trk.channels = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
        break;
    case CS_MKV_ID_BIT_DEPTH:
        r->trk.bit_depth = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
        break;
    case CS_MKV_ID_TIMECODE: {
        cs_mkv_reader_elem *c = &r->stack[r->depth - 1];
        if (r->cluster_has_tc) {
            return fail(r, CS_E_MALFORMED, r->cur_offset,
                        "second Timecode at %" PRIu64 " in one Cluster", r->cur_offset);
        }
        if (u > (uint64_t)INT64_MAX / r->timecode_scale) {
            return fail(r, CS_E_MALFORMED, r->cur_offset,
                        "Cluster Timecode %" PRIu64 " at %" PRIu64 " overflows int64 ns", u,
                        r->cur_offset);
        }
        r->cluster_tc = u;
        r->cluster_has_tc = true;
        ev_elem(ev, CS_MKV_EV_CLUSTER_START, c, r->depth - 1);
        ev->u.cluster.timecode = u;
        ev->u.cluster.timestamp_ns = (int64_t)(u * r->timecode_scale);
        *have = true;
        break;
    }
    case CS_MKV_ID_BLOCK_DURATION:
        r->blk.duration = u;
        r->blk.has_duration = true;
        break;
    case CS_MKV_ID_REFERENCE_BLOCK:
        r->blk.reference_count++;
        break;
    case CS_MKV_ID_TAG_NAME:
        memcpy(r->stag_str[0], str, sizeof(str));
        break;
    case CS_MKV_ID_TAG_STRING:
        memcpy(r->stag_str[1], str, sizeof(str));
        r->stag_binary = false;
        break;
    case CS_MKV_ID_TAG_BINARY:
        memcpy(r->stag_str[1], str, sizeof(str));
        r->stag_binary = true;
        break;
    default:
        break;
    }
    return CS_OK;
}

/* The header of an element has been read (r->cur_*). Emits at most one event per call; the
 * caller stays in ST_DISPATCH until the element has been acted on (state changed). */
static cs_status dispatch(cs_mkv_reader *r, cs_mkv_event *ev, bool *have)
{
    const struct elem_def *d = find_def(r->cur_id);
    cs_mkv_reader_elem *top = r->depth > 0 ? &r->stack[r->depth - 1] : NULL;
    uint32_t parent = top != NULL ? top->id : ROOT;
    uint64_t limit = top != NULL ? top->limit : NO_LIMIT;
    int kind;

    /* An unknown-size element ends where an element of its own level or above starts. */
    if (top != NULL && top->size == CS_MKV_SIZE_UNKNOWN && d != NULL && d->parent != ANY &&
        d->level <= top->level) {
        return close_top(r, ev, r->cur_offset);
    }
    /* A SimpleTag's tag is reported before the SimpleTags nested in it. */
    if (top != NULL && top->id == CS_MKV_ID_SIMPLE_TAG && r->cur_id == CS_MKV_ID_SIMPLE_TAG &&
        !top->final_done) {
        *have = true;
        return close_top(r, ev, r->cur_offset);
    }
    if (limit != NO_LIMIT && r->cur_data_offset > limit) {
        return fail(r, CS_E_MALFORMED, r->cur_offset,
                    "element 0x%" PRIX32 " at %" PRIu64
                    ": its header crosses its parent's end (%" PRIu64 ")",
                    r->cur_id, r->cur_offset, limit);
    }
    if (r->cur_size != CS_MKV_SIZE_UNKNOWN && limit != NO_LIMIT &&
        r->cur_size > limit - r->cur_data_offset) {
        return fail(r, CS_E_MALFORMED, r->cur_offset,
                    "element 0x%" PRIX32 " at %" PRIu64 ": size %" PRIu64
                    " exceeds its parent (ends at %" PRIu64 ")",
                    r->cur_id, r->cur_offset, r->cur_size, limit);
    }

    kind = K_SKIP;
    if (d != NULL && (d->parent == parent || d->parent == ANY ||
                      (r->cur_id == CS_MKV_ID_SIMPLE_TAG && parent == CS_MKV_ID_SIMPLE_TAG))) {
        kind = d->kind;
    }
    if (kind == K_MASTER) {
        if (r->cur_size == CS_MKV_SIZE_UNKNOWN && r->cur_id != CS_MKV_ID_SEGMENT &&
            r->cur_id != CS_MKV_ID_CLUSTER) {
            return fail(r, CS_E_MALFORMED, r->cur_offset,
                        "element 0x%" PRIX32 " at %" PRIu64
                        ": unknown size is allowed only for Segment and Cluster",
                        r->cur_id, r->cur_offset);
        }
        if (r->depth >= r->cfg.max_depth) {
            return fail(r, CS_E_LIMIT, r->cur_offset,
                        "element 0x%" PRIX32 " at %" PRIu64 ": nesting deeper than %u", r->cur_id,
                        r->cur_offset, r->cfg.max_depth);
        }
        if (parent == CS_MKV_ID_CLUSTER && !r->cluster_has_tc) {
            return fail(r, CS_E_MALFORMED, r->cur_offset,
                        "BlockGroup at %" PRIu64 " before the Cluster's Timecode", r->cur_offset);
        }
        push(r, d, r->cur_size == CS_MKV_SIZE_UNKNOWN ? limit : r->cur_data_offset + r->cur_size);
        r->state = ST_ELEM;
        return start_master(r, ev, have);
    }
    /* Everything else has bytes to step through: it needs a size. */
    if (r->cur_size == CS_MKV_SIZE_UNKNOWN) {
        return fail(r, CS_E_MALFORMED, r->cur_offset,
                    "element 0x%" PRIX32 " at %" PRIu64
                    ": unknown size is allowed only for Segment and Cluster",
                    r->cur_id, r->cur_offset);
    }
    if (r->cur_size > r->cfg.max_element_size) {
        return fail(r, CS_E_LIMIT, r->cur_offset,
                    "element 0x%" PRIX32 " at %" PRIu64 ": size %" PRIu64
                    " exceeds max_element_size %" PRIu64,
                    r->cur_id, r->cur_offset, r->cur_size, r->cfg.max_element_size);
    }
    r->remaining = r->cur_size;
    r->leaf_kind = (uint8_t)kind;
    r->val_len = 0;
    switch (kind) {
    case K_UINT:
    case K_INT:
        if (r->cur_size > 8) {
            return fail(r, CS_E_MALFORMED, r->cur_offset,
                        "integer element 0x%" PRIX32 " at %" PRIu64 " has %" PRIu64 " bytes",
                        r->cur_id, r->cur_offset, r->cur_size);
        }
        r->state = ST_LEAF;
        break;
    case K_FLOAT:
        if (r->cur_size != 0 && r->cur_size != 4 && r->cur_size != 8) {
            return fail(r, CS_E_MALFORMED, r->cur_offset,
                        "float element 0x%" PRIX32 " at %" PRIu64 " has %" PRIu64 " bytes",
                        r->cur_id, r->cur_offset, r->cur_size);
        }
        r->state = ST_LEAF;
        break;
    case K_STRING:
    case K_BINARY: {
        cs_status st;
        if (r->cur_id == CS_MKV_ID_CODEC_PRIVATE) {
            st = reserve(r, r->cur_size, r->cfg.max_codec_private, "CodecPrivate");
        } else if (r->cur_id == CS_MKV_ID_TAG_STRING || r->cur_id == CS_MKV_ID_TAG_BINARY) {
            st = reserve(r, r->cur_size, r->cfg.max_tag_value, "tag value");
        } else {
            st = reserve(r, r->cur_size, r->cfg.max_string, "string");
        }
        if (st != CS_OK) {
            return st;
        }
        r->state = ST_LEAF;
        break;
    }
    case K_BLOCK:
        if (!r->cluster_has_tc) {
            return fail(r, CS_E_MALFORMED, r->cur_offset,
                        "block at %" PRIu64 " before the Cluster's Timecode", r->cur_offset);
        }
        if (r->cur_id == CS_MKV_ID_BLOCK) {
            if (r->group_has_block) {
                return fail(r, CS_E_MALFORMED, r->cur_offset,
                            "second Block at %" PRIu64 " in one BlockGroup", r->cur_offset);
            }
            r->group_has_block = true;
        } else {
            memset(&r->blk, 0, sizeof(r->blk));
        }
        r->blk.in_group = r->cur_id == CS_MKV_ID_BLOCK;
        r->blk.block_offset = r->cur_offset;
        r->bh_state = BH_TRACK;
        r->bh_vint_len = 0;
        r->bh_vint_need = 1;
        r->state = ST_BLOCK_HDR;
        break;
    default:
        ev_cur(r, ev, CS_MKV_EV_SKIPPED);
        *have = true;
        r->state = ST_SKIP;
        break;
    }
    return CS_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* Blocks                                                                                         */
/* ---------------------------------------------------------------------------------------------- */

/* The block header is complete: work out the frame sizes. */
static cs_status block_ready(cs_mkv_reader *r, uint64_t at)
{
    cs_mkv_block_info *b = &r->blk;
    uint64_t payload = r->remaining;
    int64_t tc;

    b->payload_offset = at;
    b->payload_size = payload;
    if (b->lacing == CS_MKV_LACING_NONE) {
        b->frame_count = 1;
        r->lace[0] = payload;
    } else if (b->lacing == CS_MKV_LACING_FIXED) {
        if (payload % b->frame_count != 0) {
            return fail(r, CS_E_MALFORMED, b->block_offset,
                        "block at %" PRIu64 ": %" PRIu64 " bytes do not split into %u equal frames",
                        b->block_offset, payload, b->frame_count);
        }
        for (unsigned i = 0; i < b->frame_count; i++) {
            r->lace[i] = payload / b->frame_count;
        }
    } else {
        if (r->lace_sum > payload) {
            return fail(r, CS_E_MALFORMED, b->block_offset,
                        "block at %" PRIu64 ": lace sizes (%" PRIu64 ") exceed the %" PRIu64
                        " bytes of the block",
                        b->block_offset, r->lace_sum, payload);
        }
        r->lace[b->frame_count - 1] = payload - r->lace_sum;
    }
    /* cluster_tc <= INT64_MAX / timecode_scale (checked at the Timecode). */
    if (b->relative_timecode > 0 && r->cluster_tc > (uint64_t)(INT64_MAX - b->relative_timecode)) {
        return fail(r, CS_E_MALFORMED, b->block_offset,
                    "block at %" PRIu64 ": timestamp overflows int64", b->block_offset);
    }
    tc = (int64_t)r->cluster_tc + b->relative_timecode;
    if (tc < 0 && tc < INT64_MIN / (int64_t)r->timecode_scale) {
        return fail(r, CS_E_MALFORMED, b->block_offset,
                    "block at %" PRIu64 ": timestamp overflows int64 ns", b->block_offset);
    }
    if (tc > 0 && (uint64_t)tc > (uint64_t)INT64_MAX / r->timecode_scale) {
        return fail(r, CS_E_MALFORMED, b->block_offset,
                    "block at %" PRIu64 ": timestamp overflows int64 ns", b->block_offset);
    }
    b->timecode = tc;
    b->timestamp_ns = tc * (int64_t)r->timecode_scale;
    b->key = r->cur_id == CS_MKV_ID_SIMPLE_BLOCK && (b->flags & CS_MKV_BLOCK_KEY) != 0;
    b->key_final = r->cur_id == CS_MKV_ID_SIMPLE_BLOCK;
    b->invisible = (b->flags & CS_MKV_BLOCK_INVISIBLE) != 0;
    b->discardable =
        r->cur_id == CS_MKV_ID_SIMPLE_BLOCK && (b->flags & CS_MKV_BLOCK_DISCARDABLE) != 0;
    b->frame_index = 0;
    b->frame_offset = at;
    return CS_OK;
}

/* Feeds one byte of block header. Sets *done when the header is complete. */
static cs_status block_byte(cs_mkv_reader *r, uint8_t c, uint64_t at, bool *done)
{
    cs_mkv_block_info *b = &r->blk;

    switch (r->bh_state) {
    case BH_TRACK:
        if (r->bh_vint_len == 0) {
            unsigned n = vint_len(c);
            if (n == 0) {
                return fail(r, CS_E_MALFORMED, at,
                            "block at %" PRIu64 ": invalid track number vint (0x00) at %" PRIu64,
                            b->block_offset, at);
            }
            r->bh_vint_need = (uint8_t)n;
        }
        r->bh_vint[r->bh_vint_len++] = c;
        if (r->bh_vint_len == r->bh_vint_need) {
            b->track = vint_value(r->bh_vint, r->bh_vint_len);
            r->bh_state = BH_TC0;
        }
        break;
    case BH_TC0:
        r->bh_vint[0] = c;
        r->bh_state = BH_TC1;
        break;
    case BH_TC1:
        b->relative_timecode = (int16_t)(uint16_t)((unsigned)r->bh_vint[0] << 8 | c);
        r->bh_state = BH_FLAGS;
        break;
    case BH_FLAGS:
        b->flags = c;
        b->lacing = (cs_mkv_lacing)((c >> 1) & 3u);
        if (b->lacing == CS_MKV_LACING_NONE) {
            *done = true;
        } else {
            r->bh_state = BH_LACE_COUNT;
        }
        break;
    case BH_LACE_COUNT:
        b->frame_count = (unsigned)c + 1;
        r->lace_i = 0;
        r->lace_acc = 0;
        r->lace_sum = 0;
        r->bh_vint_len = 0;
        if (b->lacing == CS_MKV_LACING_FIXED || b->frame_count == 1) {
            *done = true;
        } else {
            r->bh_state = BH_LACE_SIZE;
        }
        break;
    case BH_LACE_SIZE:
        if (b->lacing == CS_MKV_LACING_XIPH) {
            r->lace_acc += c;
            if (c == 0xFF && r->lace_acc <= r->remaining) {
                break;
            }
        } else {
            if (r->bh_vint_len == 0) {
                unsigned n = vint_len(c);
                if (n == 0) {
                    return fail(r, CS_E_MALFORMED, at,
                                "block at %" PRIu64 ": invalid EBML lace size (0x00) at %" PRIu64,
                                b->block_offset, at);
                }
                r->bh_vint_need = (uint8_t)n;
            }
            r->bh_vint[r->bh_vint_len++] = c;
            if (r->bh_vint_len < r->bh_vint_need) {
                break;
            }
            uint64_t v = vint_value(r->bh_vint, r->bh_vint_len);
            if (r->lace_i == 0) {
                r->lace_acc = v;
            } else {
                /* Signed difference to the previous size: subtract the bias 2^(7n-1) - 1. */
                int64_t bias = ((int64_t)1 << (7 * r->bh_vint_len - 1)) - 1;
                int64_t diff = (int64_t)v - bias;
                int64_t size = (int64_t)r->lace[r->lace_i - 1] + diff;
                if (size < 0) {
                    return fail(r, CS_E_MALFORMED, at,
                                "block at %" PRIu64 ": negative EBML lace size at %" PRIu64,
                                b->block_offset, at);
                }
                r->lace_acc = (uint64_t)size;
            }
            r->bh_vint_len = 0;
        }
        if (r->lace_acc > r->remaining) {
            return fail(r, CS_E_MALFORMED, b->block_offset,
                        "block at %" PRIu64 ": lace size %" PRIu64 " exceeds the block",
                        b->block_offset, r->lace_acc);
        }
        r->lace[r->lace_i++] = r->lace_acc;
        r->lace_sum += r->lace_acc;
        r->lace_acc = 0;
        if (r->lace_i == b->frame_count - 1) {
            *done = true;
        }
        break;
    default:
        break;
    }
    return CS_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* The state machine                                                                              */
/* ---------------------------------------------------------------------------------------------- */

cs_status cs_mkv_reader_next(cs_mkv_reader *r, const uint8_t *data, size_t len, size_t *consumed,
                             cs_mkv_event *ev)
{
    const uint8_t *p = data;
    const uint8_t *end;
    cs_status st = CS_OK;
    bool have = false;

    if (r == NULL || consumed == NULL || ev == NULL || (data == NULL && len > 0)) {
        return CS_E_INVAL;
    }
    *consumed = 0;
    ev->type = CS_MKV_EV_NONE;
    if (r->state == ST_ERROR) {
        return r->error;
    }
    /* NULL + 0 is undefined behaviour in C: an empty call walks an empty range of real memory. */
    if (data == NULL) {
        static const uint8_t none[1];
        data = p = none;
    }
    end = data + len;

#define HERE (r->pos + (uint64_t)(p - data))
    while (!have && st == CS_OK) {
        switch (r->state) {
        case ST_ELEM: {
            if (r->depth > 0 && HERE == r->stack[r->depth - 1].limit) {
                st = close_top(r, ev, HERE);
                have = st == CS_OK;
                break;
            }
            if (p == end) {
                goto out;
            }
            r->cur_offset = HERE;
            r->hdr_len = 0;
            r->hdr_need = 1;
            r->state = ST_HDR;
            break;
        }
        case ST_HDR:
            while (r->hdr_len < r->hdr_need) {
                uint8_t c;
                unsigned n;
                if (p == end) {
                    goto out;
                }
                c = *p++;
                r->hdr[r->hdr_len++] = c;
                if (r->hdr_len == 1) {
                    n = vint_len(c);
                    if (n == 0 || n > 4) {
                        st = fail(r, CS_E_MALFORMED, HERE - 1,
                                  "invalid element ID: first byte 0x%02X at %" PRIu64, c, HERE - 1);
                        goto out;
                    }
                    r->id_len = (uint8_t)n;
                    r->hdr_need = (uint8_t)(n + 1);
                } else if (r->hdr_len == r->id_len + 1) {
                    n = vint_len(c);
                    if (n == 0) {
                        st = fail(r, CS_E_MALFORMED, HERE - 1,
                                  "invalid element size: first byte 0x00 at %" PRIu64, HERE - 1);
                        goto out;
                    }
                    r->hdr_need = (uint8_t)(r->id_len + n);
                }
            }
            {
                unsigned szlen = r->hdr_len - r->id_len;
                uint64_t v = vint_value(r->hdr + r->id_len, szlen);
                r->cur_id = (uint32_t)read_uint(r->hdr, r->id_len);
                /* All value bits set is reserved for IDs, and means "unknown" for sizes. */
                if (vint_value(r->hdr, r->id_len) == (1u << (7 * r->id_len)) - 1u ||
                    vint_value(r->hdr, r->id_len) == 0) {
                    st = fail(r, CS_E_MALFORMED, r->cur_offset,
                              "reserved element ID 0x%" PRIX32 " at %" PRIu64, r->cur_id,
                              r->cur_offset);
                    goto out;
                }
                r->cur_size = v == ((uint64_t)1 << (7 * szlen)) - 1u ? CS_MKV_SIZE_UNKNOWN : v;
                r->cur_data_offset = HERE;
                r->state = ST_DISPATCH;
            }
            break;
        case ST_DISPATCH:
            st = dispatch(r, ev, &have);
            if (st == CS_OK && ev->type != CS_MKV_EV_NONE) {
                have = true;
            }
            break;
        case ST_LEAF: {
            size_t n = (size_t)(end - p);
            if (r->remaining < n) {
                n = (size_t)r->remaining;
            }
            if (r->leaf_kind == K_STRING || r->leaf_kind == K_BINARY) {
                memcpy(&r->arena[r->leaf_off + (r->cur_size - r->remaining)], p, n);
            } else {
                memcpy(&r->val[r->val_len], p, n);
                r->val_len = (uint8_t)(r->val_len + n);
            }
            p += n;
            r->remaining -= n;
            if (r->remaining > 0) {
                goto out;
            }
            r->state = ST_ELEM;
            st = store_leaf(r, ev, &have);
            break;
        }
        case ST_SKIP: {
            size_t n = (size_t)(end - p);
            if (r->remaining < n) {
                n = (size_t)r->remaining;
            }
            p += n;
            r->remaining -= n;
            if (r->remaining > 0) {
                goto out;
            }
            r->state = ST_ELEM;
            break;
        }
        case ST_BLOCK_HDR: {
            bool done = false;
            while (!done) {
                if (r->remaining == 0) {
                    st = fail(r, CS_E_MALFORMED, r->cur_offset,
                              "block at %" PRIu64 ": header longer than the element (%" PRIu64
                              " bytes)",
                              r->cur_offset, r->cur_size);
                    goto out;
                }
                if (p == end) {
                    goto out;
                }
                p++;
                r->remaining--;
                st = block_byte(r, p[-1], HERE - 1, &done);
                if (st != CS_OK) {
                    goto out;
                }
            }
            st = block_ready(r, HERE);
            if (st != CS_OK) {
                goto out;
            }
            ev_block(r, ev, CS_MKV_EV_BLOCK);
            have = true;
            r->state = ST_FRAME_BEGIN;
            break;
        }
        case ST_FRAME_BEGIN: {
            cs_mkv_block_info *b = &r->blk;
            size_t n;
            if (b->frame_index == b->frame_count) {
                r->state = ST_ELEM;
                if (r->cur_id == CS_MKV_ID_SIMPLE_BLOCK) {
                    ev_block(r, ev, CS_MKV_EV_BLOCK_END);
                    have = true;
                }
                break;
            }
            b->frame_size = r->lace[b->frame_index];
            n = (size_t)(end - p);
            if (b->frame_size < n) {
                n = (size_t)b->frame_size;
            }
            ev_block(r, ev, CS_MKV_EV_FRAME);
            ev->u.block.data = r->cfg.frame_data && n > 0 ? p : NULL;
            ev->u.block.data_len = r->cfg.frame_data ? n : 0;
            ev->u.block.data_pos = 0;
            have = true;
            p += n;
            r->remaining = b->frame_size - n;
            b->data_pos = n;
            if (r->remaining > 0) {
                r->state = ST_FRAME_DATA;
            } else {
                b->frame_offset += b->frame_size;
                b->frame_index++;
            }
            break;
        }
        case ST_FRAME_DATA: {
            cs_mkv_block_info *b = &r->blk;
            size_t n = (size_t)(end - p);
            if (n == 0) {
                goto out;
            }
            if (r->remaining < n) {
                n = (size_t)r->remaining;
            }
            if (r->cfg.frame_data) {
                ev_block(r, ev, CS_MKV_EV_FRAME_DATA);
                ev->u.block.data = p;
                ev->u.block.data_len = n;
                ev->u.block.data_pos = b->data_pos;
                have = true;
            }
            p += n;
            r->remaining -= n;
            b->data_pos += n;
            if (r->remaining == 0) {
                b->frame_offset += b->frame_size;
                b->frame_index++;
                r->state = ST_FRAME_BEGIN;
            }
            break;
        }
        default:
            st = r->error != CS_OK ? r->error : CS_E_INTERNAL;
            goto out;
        }
    }
out:
    *consumed = (size_t)(p - data);
    r->pos += *consumed;
    if (st != CS_OK) {
        ev->type = CS_MKV_EV_NONE;
    }
    return st;
#undef HERE
}

cs_status cs_mkv_reader_end(cs_mkv_reader *r, cs_mkv_event *ev)
{
    size_t used;
    cs_status st;
    cs_mkv_reader_elem *top;

    if (r == NULL || ev == NULL) {
        return CS_E_INVAL;
    }
    /* Anything that needs no more bytes (ends of elements at this offset, the last frame
     * events of an empty frame) comes first. */
    st = cs_mkv_reader_next(r, NULL, 0, &used, ev);
    if (st != CS_OK || ev->type != CS_MKV_EV_NONE) {
        return st;
    }
    if (r->state == ST_HDR) {
        return fail(r, CS_E_MALFORMED, r->pos,
                    "the stream ends at %" PRIu64 " inside the element header at %" PRIu64, r->pos,
                    r->cur_offset);
    }
    if (r->state != ST_ELEM) {
        return fail(r, CS_E_MALFORMED, r->pos,
                    "the stream ends at %" PRIu64 " inside element 0x%" PRIX32 " (at %" PRIu64 ")",
                    r->pos, r->cur_id, r->cur_offset);
    }
    if (r->depth == 0) {
        return CS_OK;
    }
    top = &r->stack[r->depth - 1];
    if (top->limit != NO_LIMIT) {
        return fail(r, CS_E_MALFORMED, r->pos,
                    "the stream ends at %" PRIu64 " inside element 0x%" PRIX32 " (at %" PRIu64
                    ", ends at %" PRIu64 ")",
                    r->pos, top->id, top->offset, top->limit);
    }
    return close_top(r, ev, r->pos);
}

cs_status cs_mkv_reader_feed(cs_mkv_reader *r, const uint8_t *data, size_t len, cs_mkv_event_fn fn,
                             void *ctx)
{
    cs_mkv_event ev;
    size_t off = 0;

    if (r == NULL || fn == NULL) {
        return CS_E_INVAL;
    }
    for (;;) {
        size_t used;
        cs_status st =
            cs_mkv_reader_next(r, data == NULL ? NULL : data + off, len - off, &used, &ev);
        if (st != CS_OK) {
            return st;
        }
        off += used;
        if (ev.type == CS_MKV_EV_NONE) {
            return CS_OK;
        }
        st = fn(ctx, &ev);
        if (st != CS_OK) {
            return fail(r, st, r->pos, "stopped by the event callback at %" PRIu64, r->pos);
        }
    }
}

cs_status cs_mkv_reader_finish(cs_mkv_reader *r, cs_mkv_event_fn fn, void *ctx)
{
    cs_mkv_event ev;

    if (r == NULL || fn == NULL) {
        return CS_E_INVAL;
    }
    for (;;) {
        cs_status st = cs_mkv_reader_end(r, &ev);
        if (st != CS_OK) {
            return st;
        }
        if (ev.type == CS_MKV_EV_NONE) {
            return CS_OK;
        }
        st = fn(ctx, &ev);
        if (st != CS_OK) {
            return fail(r, st, r->pos, "stopped by the event callback at %" PRIu64, r->pos);
        }
    }
}
