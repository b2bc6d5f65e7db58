/* SPDX-License-Identifier: Apache-2.0 */
/* The PutMedia ingest core: drives the incremental mkv reader over an upload fed in chunks of any
 * size, classifies every byte (stream header, fragment, dropped), finds sessions, fragments and
 * fragment tags, enforces the PROTOCOL.md §3 limits with their ErrorIds, and reports through the
 * sink. Bytes are classified by absolute offset: the reader tells where elements start and end,
 * sometimes only after it has read past them (the end of an unknown-size Cluster is known when the
 * next element's ID is read), so the core keeps a window of consumed-but-unclassified bytes and
 * carries the few of them that cross a chunk boundary. docs/internals/MEDIA.md has the rules. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "media_int.h"

#define MS_NS 1000000ull
/* Reader limits above the KVS ones, so a long tag name or value is a 4009 and not a 4006. */
#define READER_MAX_STRING 512
#define READER_MAX_TAG_VALUE 1024
#define MAX_TRACKS_LIMIT (CS_MKV_MAX_TRACKS * 4)

enum state {
    ST_IDLE,   /* before an EBML header (start, or after a Segment ended) */
    ST_HEADER, /* inside a session's stream header */
    ST_GAP,    /* between clusters: Tags, Void, Cues... (dropped) */
    ST_FRAG,   /* inside an accepted Cluster: bytes go to the sink */
    ST_SKIP,   /* inside a refused Cluster: bytes dropped */
    ST_DEAD,   /* a fatal error or a sink's status: nothing more */
    ST_DONE,   /* finished */
};

enum dest { D_DROP, D_HDR, D_FRAG };

struct stored_tag {
    char name[CS_MKV_MAX_TAG_NAME];
    char value[CS_MKV_MAX_TAG_VALUE];
};

struct cs_media {
    cs_media_config cfg;
    cs_media_sink sink;
    cs_mkv_reader rd;
    enum state state;
    cs_status status;
    /* byte accounting: [0, fwd) is dispatched; carry holds [fwd, fwd + carry_len) */
    uint64_t fwd;
    uint64_t known_until;
    const uint8_t *chunk;
    uint64_t chunk_base;
    size_t chunk_len;
    size_t carry_pos;
    size_t carry_len;
    /* session */
    uint64_t session_count;
    cs_media_session session;
    uint64_t session_offset;
    uint8_t *hdr;
    size_t hdr_len;
    cs_media_track tracks[MAX_TRACKS_LIMIT];
    size_t track_count;
    bool tracks_done; /* the Tracks element ended: later Tags are fragment tags */
    uint64_t timecode_scale;
    bool have_prev;
    uint64_t prev_ts;
    /* tags waiting for the next cluster */
    size_t tag_count;
    uint32_t tag_error;
    char tag_error_msg[128];
    struct stored_tag tag_store[CS_MKV_MAX_TAGS_PER_FRAGMENT];
    cs_media_tag tag_view[CS_MKV_MAX_TAGS_PER_FRAGMENT];
    /* fragment */
    uint64_t frag_count;
    cs_media_fragment frag;
    bool frag_begun;
    bool frag_any_block;
    int64_t min_start_ns;
    int64_t max_end_ns;
    uint32_t track_seen;
    uint32_t crc;
    char msg[320];
    uint8_t carry[CS_MEDIA_CARRY];
};

void cs_media_config_init(cs_media_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    memset(cfg, 0, sizeof(*cfg));
    cfg->timecode_type = CS_MEDIA_TIMECODE_ABSOLUTE;
    cfg->max_fragment_bytes = 50000000u;
    cfg->max_fragment_duration_ms = 10000u;
    cfg->max_tracks = CS_MKV_MAX_TRACKS;
    cfg->max_header_bytes = 65536u;
    cfg->allocator = cs_allocator_default();
}

/* ---- sink helpers ---- */

static void check_cb(cs_media *m, cs_status st)
{
    if (st != CS_OK && m->status == CS_OK) {
        m->status = st;
        m->state = ST_DEAD;
    }
}

/* Reports an error. With `with_frag`, the current fragment is the one refused. Fatal errors end
 * the core; a refused fragment's remaining bytes are dropped (ST_SKIP) until its Cluster ends. */
static void fail(cs_media *m, uint32_t id, bool fatal, bool with_frag, uint64_t offset,
                 const char *fmt, ...) CS_PRINTF(6, 7);

static void fail(cs_media *m, uint32_t id, bool fatal, bool with_frag, uint64_t offset,
                 const char *fmt, ...)
{
    cs_media_error e;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(m->msg, sizeof(m->msg), fmt, ap);
    va_end(ap);
    memset(&e, 0, sizeof(e));
    e.error_id = id;
    e.fatal = fatal;
    e.fragment = with_frag ? &m->frag : NULL;
    e.begun = with_frag && m->frag_begun;
    e.offset = offset;
    e.message = m->msg;
    if (with_frag) {
        m->frag_begun = false;
    }
    if (fatal) {
        m->state = ST_DEAD;
        m->status = CS_E_MALFORMED;
    } else if (with_frag) {
        m->state = ST_SKIP;
    }
    if (m->sink.error != NULL) {
        cs_status st = m->sink.error(m->sink.ctx, &e);
        if (st != CS_OK) {
            m->status = st;
            m->state = ST_DEAD;
        }
    }
}

/* ---- byte routing ---- */

static void emit(cs_media *m, enum dest d, const uint8_t *p, size_t n)
{
    if (d == D_HDR) {
        if (n > m->cfg.max_header_bytes - m->hdr_len) {
            fail(m, CS_MEDIA_ERR_INVALID_MKV, true, false, m->fwd,
                 "stream header larger than %zu bytes", m->cfg.max_header_bytes);
            return;
        }
        memcpy(m->hdr + m->hdr_len, p, n);
        m->hdr_len += n;
        return;
    }
    if (d != D_FRAG || m->state != ST_FRAG) {
        return;
    }
    if (n > m->cfg.max_fragment_bytes || m->frag.size > m->cfg.max_fragment_bytes - n) {
        fail(m, CS_MEDIA_ERR_FRAGMENT_SIZE, false, true, m->fwd, "fragment larger than %llu bytes",
             (unsigned long long)m->cfg.max_fragment_bytes);
        return;
    }
    m->crc = cs_media_crc32c(m->crc, p, n);
    if (m->sink.fragment_data != NULL) {
        check_cb(m, m->sink.fragment_data(m->sink.ctx, &m->frag, p, n));
    }
    m->frag.size += n;
}

/* Dispatches the bytes [fwd, to) to `d`: first from the carry, then from the current chunk. */
static void route(cs_media *m, uint64_t to, enum dest d)
{
    while (m->fwd < to && m->status == CS_OK) {
        const uint8_t *p;
        size_t n;
        uint64_t want = to - m->fwd;

        if (m->carry_len > 0) {
            n = want < m->carry_len ? (size_t)want : m->carry_len;
            p = m->carry + m->carry_pos;
            m->carry_pos += n;
            m->carry_len -= n;
            if (m->carry_len == 0) {
                m->carry_pos = 0;
            }
        } else {
            if (m->fwd < m->chunk_base || to > m->chunk_base + m->chunk_len) {
                m->status = CS_E_INTERNAL;
                m->state = ST_DEAD;
                return;
            }
            p = m->chunk + (m->fwd - m->chunk_base);
            n = (size_t)want;
        }
        m->fwd += n;
        emit(m, d, p, n);
    }
}

/* Keeps the unclassified bytes [fwd, pos) of this chunk for the next call. */
static void carry_rest(cs_media *m, uint64_t pos)
{
    uint64_t from;
    size_t add;

    if (m->fwd >= pos || m->status != CS_OK) {
        return;
    }
    from = m->fwd > m->chunk_base ? m->fwd : m->chunk_base;
    add = (size_t)(pos - from);
    if (m->carry_pos > 0 && m->carry_len > 0) {
        memmove(m->carry, m->carry + m->carry_pos, m->carry_len);
    }
    m->carry_pos = 0;
    if (add > CS_MEDIA_CARRY - m->carry_len) {
        fail(m, CS_MEDIA_ERR_INVALID_MKV, true, m->state == ST_FRAG, m->fwd,
             "more than %u bytes of element headers pending at %llu", CS_MEDIA_CARRY,
             (unsigned long long)m->fwd);
        return;
    }
    if (add > 0) {
        memcpy(m->carry + m->carry_len, m->chunk + (from - m->chunk_base), add);
        m->carry_len += add;
    }
}

/* ---- sessions ---- */

static void start_session(cs_media *m, uint64_t offset)
{
    m->session_offset = offset;
    m->hdr_len = 0;
    m->track_count = 0;
    m->tracks_done = false;
    m->timecode_scale = CS_MKV_TIMECODE_SCALE_NS;
    m->have_prev = false;
    m->tag_count = 0;
    m->tag_error = 0;
    memset(&m->session, 0, sizeof(m->session));
    m->state = ST_HEADER;
}

/* The stream header ends at `end` (a Cluster or level-1 Tags starts there). `keep_tail`: the bytes
 * from `end` already copied into the header buffer are the start of a Cluster and go back to the
 * unclassified window; otherwise they are dropped. */
static void finish_header(cs_media *m, uint64_t end, bool keep_tail)
{
    size_t keep;

    route(m, end, D_HDR);
    if (m->status != CS_OK) {
        return;
    }
    keep = (size_t)(end - m->session_offset);
    if (m->hdr_len > keep) {
        if (keep_tail) {
            uint64_t tail_end = m->fwd < m->chunk_base ? m->fwd : m->chunk_base;
            if (tail_end > end && tail_end - end > CS_MEDIA_CARRY) {
                fail(m, CS_MEDIA_ERR_INVALID_MKV, true, false, end,
                     "Cluster at %llu: more than %u bytes before its Timecode",
                     (unsigned long long)end, CS_MEDIA_CARRY);
                return;
            }
            if (tail_end > end) {
                /* The carry is empty here: in ST_HEADER every event drains it. */
                memcpy(m->carry, m->hdr + keep, (size_t)(tail_end - end));
                m->carry_pos = 0;
                m->carry_len = (size_t)(tail_end - end);
            }
            m->fwd = end;
        }
        m->hdr_len = keep;
    }
    if (m->track_count == 0) {
        fail(m, CS_MEDIA_ERR_INVALID_MKV, true, false, end, "no Tracks before offset %llu",
             (unsigned long long)end);
        return;
    }
    m->session.index = m->session_count++;
    m->session.offset = m->session_offset;
    m->session.header = m->hdr;
    m->session.header_len = m->hdr_len;
    m->session.timecode_scale = m->timecode_scale;
    m->session.tracks = m->tracks;
    m->session.track_count = m->track_count;
    if (m->sink.session_begin != NULL) {
        check_cb(m, m->sink.session_begin(m->sink.ctx, &m->session));
    }
}

static int track_slot(const cs_media *m, uint64_t number)
{
    for (size_t i = 0; i < m->track_count; i++) {
        if (m->tracks[i].number == number) {
            return (int)i;
        }
    }
    return -1;
}

static void on_track(cs_media *m, const cs_mkv_event *ev)
{
    const cs_mkv_track_info *t = &ev->u.track.info;

    if (m->state != ST_HEADER) {
        fail(m, CS_MEDIA_ERR_INVALID_MKV, true, false, ev->offset,
             "TrackEntry at %llu outside the stream header", (unsigned long long)ev->offset);
        return;
    }
    if (m->track_count >= m->cfg.max_tracks) {
        fail(m, CS_MEDIA_ERR_TOO_MANY_TRACKS, true, false, ev->offset, "more than %u tracks",
             m->cfg.max_tracks);
        return;
    }
    if (t->number == 0 || track_slot(m, t->number) >= 0) {
        fail(m, CS_MEDIA_ERR_INVALID_MKV, true, false, ev->offset,
             "TrackEntry at %llu: track number %llu is 0 or used twice",
             (unsigned long long)ev->offset, (unsigned long long)t->number);
        return;
    }
    m->tracks[m->track_count].number = t->number;
    m->tracks[m->track_count].type = t->type;
    m->tracks[m->track_count].codec = t->codec;
    m->tracks[m->track_count].default_duration_ns = t->default_duration_ns;
    m->track_count++;
}

/* ---- tags ---- */

static void tag_refuse(cs_media *m, const char *why)
{
    if (m->tag_error == 0) {
        m->tag_error = CS_MEDIA_ERR_METADATA_LIMIT;
        snprintf(m->tag_error_msg, sizeof(m->tag_error_msg), "%s", why);
    }
}

static void on_tag(cs_media *m, const cs_mkv_event *ev)
{
    const cs_mkv_tag_info *t = &ev->u.tag;
    size_t prefix = strlen(CS_MKV_RESERVED_TAG_PREFIX);

    if (m->state == ST_HEADER && !m->tracks_done) {
        return; /* Tags before Tracks (GStreamer's matroskamux): part of the stream header */
    }
    if (m->state == ST_HEADER) {
        finish_header(m, t->tags_offset, false);
        if (m->status != CS_OK) {
            return;
        }
        m->state = ST_GAP;
    }
    if (m->state != ST_GAP) {
        return; /* cannot happen: Tags end a Cluster first */
    }
    if (t->name == NULL || t->name_len == 0 || t->binary) {
        tag_refuse(m, "a SimpleTag without TagName or with TagBinary");
    } else if (t->name_len > CS_MKV_MAX_TAG_NAME) {
        tag_refuse(m, "tag name longer than 128 bytes");
    } else if (t->value_len > CS_MKV_MAX_TAG_VALUE) {
        tag_refuse(m, "tag value longer than 256 bytes");
    } else if (m->tag_count >= CS_MKV_MAX_TAGS_PER_FRAGMENT) {
        tag_refuse(m, "more than 10 tags for one fragment");
    } else if (t->name_len >= prefix && memcmp(t->name, CS_MKV_RESERVED_TAG_PREFIX, prefix) == 0) {
        tag_refuse(m, "tag name with the reserved prefix AWS_KINESISVIDEO_");
    } else if (m->tag_error == 0) {
        struct stored_tag *s = &m->tag_store[m->tag_count];
        cs_media_tag *v = &m->tag_view[m->tag_count];
        memcpy(s->name, t->name, t->name_len);
        if (t->value_len > 0) {
            memcpy(s->value, t->value, t->value_len);
        }
        v->name = s->name;
        v->name_len = t->name_len;
        v->value = s->value;
        v->value_len = t->value_len;
        m->tag_count++;
    }
}

/* ---- fragments ---- */

static void on_cluster_start(cs_media *m, const cs_mkv_event *ev)
{
    uint64_t ns, ts;

    if (m->state == ST_HEADER) {
        finish_header(m, ev->offset, true);
        if (m->status != CS_OK) {
            return;
        }
    } else {
        route(m, ev->offset, D_DROP);
    }
    memset(&m->frag, 0, sizeof(m->frag));
    m->frag.index = m->frag_count++;
    m->frag.session = m->session.index;
    m->frag.offset = ev->offset;
    m->frag.tags = m->tag_view;
    m->frag.tag_count = m->tag_error == 0 ? m->tag_count : 0;
    m->frag_begun = false;
    m->frag_any_block = false;
    m->track_seen = 0;
    m->crc = 0;
    m->state = ST_FRAG;
    if (m->cfg.timecode_type == CS_MEDIA_TIMECODE_RELATIVE && !m->cfg.has_producer_start) {
        fail(m, CS_MEDIA_ERR_PRODUCER_TIMESTAMP, true, true, ev->offset,
             "RELATIVE timecodes without x-amzn-producer-start-timestamp");
        return;
    }
    if (__builtin_mul_overflow(ev->u.cluster.timecode, m->timecode_scale, &ns)) {
        fail(m, CS_MEDIA_ERR_PRODUCER_TIMESTAMP, false, true, ev->offset,
             "cluster timecode %llu out of range", (unsigned long long)ev->u.cluster.timecode);
        return;
    }
    m->frag.timecode_ms = ns / MS_NS;
    ts = m->frag.timecode_ms;
    if (m->cfg.timecode_type == CS_MEDIA_TIMECODE_RELATIVE &&
        __builtin_add_overflow(m->cfg.producer_start_ms, ts, &ts)) {
        fail(m, CS_MEDIA_ERR_PRODUCER_TIMESTAMP, false, true, ev->offset,
             "producer timestamp out of range");
        return;
    }
    m->frag.producer_timestamp_ms = ts;
    if (m->tag_error != 0) {
        uint32_t id = m->tag_error;
        m->tag_error = 0;
        m->tag_count = 0;
        fail(m, id, false, true, ev->offset, "%s", m->tag_error_msg);
        return;
    }
    m->tag_count = 0; /* the views stay valid until the next Tags, after this cluster */
    if (m->have_prev && ts < m->prev_ts) {
        fail(m, CS_MEDIA_ERR_TIMECODE_ORDER, false, true, ev->offset,
             "fragment timestamp %llu below the previous %llu", (unsigned long long)ts,
             (unsigned long long)m->prev_ts);
        return;
    }
    m->have_prev = true;
    m->prev_ts = ts;
    m->frag_begun = true;
    if (m->sink.fragment_begin != NULL) {
        check_cb(m, m->sink.fragment_begin(m->sink.ctx, &m->frag));
    }
}

static void on_block(cs_media *m, const cs_mkv_event *ev)
{
    int slot;

    if (ev->size != CS_MKV_SIZE_UNKNOWN && ev->data_offset + ev->size > m->known_until) {
        m->known_until = ev->data_offset + ev->size;
    }
    if (m->state != ST_FRAG) {
        return;
    }
    slot = track_slot(m, ev->u.block.track);
    if (slot < 0) {
        fail(m, CS_MEDIA_ERR_TRACK_MISMATCH, false, true, ev->offset,
             "block at %llu for track %llu, not in Tracks", (unsigned long long)ev->offset,
             (unsigned long long)ev->u.block.track);
        return;
    }
    m->track_seen |= 1u << slot;
}

static void on_block_end(cs_media *m, const cs_mkv_event *ev)
{
    const cs_mkv_block_info *b = &ev->u.block;
    int64_t start = b->timestamp_ns, end = start, d = 0;
    int slot = track_slot(m, b->track);

    if (m->state != ST_FRAG || slot < 0) {
        return;
    }
    if (b->has_duration) {
        if (b->duration > (uint64_t)INT64_MAX / m->timecode_scale) {
            d = INT64_MAX;
        } else {
            d = (int64_t)(b->duration * m->timecode_scale);
        }
    } else if (m->tracks[slot].default_duration_ns <= (uint64_t)INT64_MAX) {
        d = (int64_t)m->tracks[slot].default_duration_ns;
    }
    if (__builtin_add_overflow(start, d, &end)) {
        end = INT64_MAX;
    }
    if (!m->frag_any_block) {
        m->frag_any_block = true;
        m->frag.first_key = b->key;
        m->min_start_ns = start;
        m->max_end_ns = end;
    } else {
        if (start < m->min_start_ns) {
            m->min_start_ns = start;
        }
        if (end > m->max_end_ns) {
            m->max_end_ns = end;
        }
    }
    m->frag.duration_ms = (uint64_t)(m->max_end_ns - m->min_start_ns) / MS_NS;
    if ((uint64_t)(m->max_end_ns - m->min_start_ns) > m->cfg.max_fragment_duration_ms * MS_NS) {
        fail(m, CS_MEDIA_ERR_FRAGMENT_DURATION, false, true, ev->offset,
             "fragment longer than %llu ms", (unsigned long long)m->cfg.max_fragment_duration_ms);
    }
}

static void on_cluster_end(cs_media *m, const cs_mkv_event *ev)
{
    route(m, ev->end, D_FRAG);
    if (m->state == ST_FRAG && m->status == CS_OK) {
        for (size_t i = 0; i < m->track_count; i++) {
            if ((m->track_seen & (1u << i)) == 0) {
                fail(m, CS_MEDIA_ERR_FRAMES_MISSING, false, true, ev->end,
                     "fragment at %llu has no frame of track %llu",
                     (unsigned long long)m->frag.offset, (unsigned long long)m->tracks[i].number);
                break;
            }
        }
    }
    if (m->state == ST_FRAG && m->status == CS_OK) {
        m->frag.crc32c = m->crc;
        m->frag_begun = false;
        if (m->sink.fragment_end != NULL) {
            check_cb(m, m->sink.fragment_end(m->sink.ctx, &m->frag));
        }
    }
    if (m->status == CS_OK) {
        m->state = ST_GAP;
    }
}

/* ---- events ---- */

static enum dest state_dest(const cs_media *m)
{
    switch (m->state) {
    case ST_HEADER:
        return D_HDR;
    case ST_FRAG:
        return D_FRAG;
    default:
        return D_DROP;
    }
}

static void handle(cs_media *m, const cs_mkv_event *ev, uint64_t pos)
{
    uint64_t upto = pos;

    switch (ev->type) {
    case CS_MKV_EV_EBML_HEADER:
        if (m->state == ST_FRAG || m->state == ST_SKIP) {
            /* the reader ends every open element first; this is only defensive */
            route(m, ev->offset, m->state == ST_FRAG ? D_FRAG : D_DROP);
            m->state = ST_GAP;
        }
        route(m, ev->offset, D_DROP);
        start_session(m, ev->offset);
        break;
    case CS_MKV_EV_SEGMENT_START:
        if (m->state != ST_HEADER) {
            fail(m, CS_MEDIA_ERR_INVALID_MKV, true, false, ev->offset,
                 "Segment at %llu without an EBML header", (unsigned long long)ev->offset);
            return;
        }
        break;
    case CS_MKV_EV_INFO:
        if (m->state == ST_HEADER) {
            if (ev->u.info.timecode_scale == 0) {
                fail(m, CS_MEDIA_ERR_INVALID_MKV, true, false, ev->offset, "TimecodeScale 0");
                return;
            }
            m->timecode_scale = ev->u.info.timecode_scale;
        }
        break;
    case CS_MKV_EV_TRACK:
        on_track(m, ev);
        break;
    case CS_MKV_EV_CLUSTER_START:
        on_cluster_start(m, ev);
        break;
    case CS_MKV_EV_BLOCK:
        on_block(m, ev);
        break;
    case CS_MKV_EV_FRAME:
        if (m->state == ST_FRAG) {
            m->frag.frame_count++;
        }
        break;
    case CS_MKV_EV_BLOCK_END:
        on_block_end(m, ev);
        break;
    case CS_MKV_EV_TAG:
        on_tag(m, ev);
        break;
    case CS_MKV_EV_ELEMENT_END:
        upto = ev->end;
        if (ev->id == CS_MKV_ID_CLUSTER && (m->state == ST_FRAG || m->state == ST_SKIP)) {
            on_cluster_end(m, ev);
            return;
        }
        if (ev->id == CS_MKV_ID_TRACKS && m->state == ST_HEADER) {
            m->tracks_done = true;
        }
        if (ev->id == CS_MKV_ID_SEGMENT && ev->depth == 0) {
            route(m, upto, state_dest(m));
            m->state = ST_IDLE; /* a Segment without a Cluster is dropped */
            return;
        }
        break;
    case CS_MKV_EV_SKIPPED:
        if (m->state == ST_GAP && ev->depth >= 2) {
            /* Void or CRC-32 inside a Cluster whose Timecode (CLUSTER_START) is still to come:
             * its bytes stay unclassified until then. */
            return;
        }
        if (ev->size != CS_MKV_SIZE_UNKNOWN && ev->data_offset + ev->size > m->known_until) {
            m->known_until = ev->data_offset + ev->size;
        }
        break;
    default:
        break;
    }
    if (m->status != CS_OK) {
        return;
    }
    if (m->state == ST_IDLE) {
        if (ev->type != CS_MKV_EV_ELEMENT_END && ev->type != CS_MKV_EV_SKIPPED) {
            fail(m, CS_MEDIA_ERR_INVALID_MKV, true, false, ev->offset,
                 "%s at %llu before an EBML header", cs_mkv_event_type_str(ev->type),
                 (unsigned long long)ev->offset);
        }
        return; /* unclassified until the next EBML header */
    }
    route(m, upto, state_dest(m));
}

static void reader_failed(cs_media *m)
{
    uint64_t at = 0;
    const char *why = cs_mkv_reader_error(&m->rd, &at);

    fail(m, CS_MEDIA_ERR_INVALID_MKV, true, m->state == ST_FRAG, at, "invalid MKV at %llu: %s",
         (unsigned long long)at, why);
}

/* The chunk is used up: dispatch what is certainly classified, carry the rest. */
static void chunk_done(cs_media *m, uint64_t pos)
{
    uint64_t safe = pos < m->known_until ? pos : m->known_until;

    switch (m->state) {
    case ST_HEADER:
        route(m, pos, D_HDR);
        break;
    case ST_FRAG:
        route(m, safe, D_FRAG);
        break;
    case ST_GAP:
    case ST_SKIP:
        route(m, safe, D_DROP);
        break;
    default:
        break;
    }
    carry_rest(m, pos);
}

cs_status cs_media_feed(cs_media *m, const uint8_t *data, size_t len)
{
    size_t off = 0;

    if (m == NULL || (data == NULL && len > 0)) {
        return CS_E_INVAL;
    }
    if (m->state == ST_DONE) {
        return CS_E_STATE;
    }
    if (m->status != CS_OK || len == 0) {
        return m->status;
    }
    m->chunk = data;
    m->chunk_len = len;
    m->chunk_base = cs_mkv_reader_offset(&m->rd);
    if (m->fwd + m->carry_len != m->chunk_base) {
        m->status = CS_E_INTERNAL;
        m->state = ST_DEAD;
        return m->status;
    }
    while (m->status == CS_OK) {
        size_t used = 0;
        cs_mkv_event ev;
        cs_status st = cs_mkv_reader_next(&m->rd, data + off, len - off, &used, &ev);

        if (st != CS_OK) {
            reader_failed(m);
            break;
        }
        off += used;
        if (ev.type == CS_MKV_EV_NONE) {
            chunk_done(m, m->chunk_base + off);
            break;
        }
        handle(m, &ev, m->chunk_base + off);
    }
    m->chunk = NULL;
    m->chunk_len = 0;
    return m->status;
}

cs_status cs_media_finish(cs_media *m)
{
    if (m == NULL) {
        return CS_E_INVAL;
    }
    if (m->state == ST_DONE) {
        return CS_E_STATE;
    }
    m->chunk = NULL;
    m->chunk_len = 0;
    m->chunk_base = cs_mkv_reader_offset(&m->rd);
    while (m->status == CS_OK) {
        cs_mkv_event ev;
        cs_status st = cs_mkv_reader_end(&m->rd, &ev);

        if (st != CS_OK) {
            reader_failed(m);
            break;
        }
        if (ev.type == CS_MKV_EV_NONE) {
            break;
        }
        handle(m, &ev, m->chunk_base);
    }
    if (m->status == CS_OK) {
        m->state = ST_DONE;
    }
    return m->status;
}

cs_status cs_media_create(const cs_media_config *cfg, const cs_media_sink *sink, cs_media **out)
{
    cs_media_config c;
    cs_mkv_reader_config rc;
    cs_media *m = NULL;
    size_t total;
    cs_status st = CS_E_INVAL;

    if (cfg == NULL || sink == NULL || out == NULL) {
        return CS_E_INVAL;
    }
    c = *cfg;
    if (c.allocator == NULL) {
        c.allocator = cs_allocator_default();
    }
    if (c.max_fragment_bytes == 0 || c.max_fragment_duration_ms == 0 ||
        c.max_fragment_duration_ms > UINT64_MAX / MS_NS || c.max_tracks == 0 ||
        c.max_tracks > MAX_TRACKS_LIMIT || c.max_header_bytes == 0 ||
        c.max_header_bytes > CS_MEDIA_MAX_HEADER_LIMIT ||
        (c.timecode_type != CS_MEDIA_TIMECODE_ABSOLUTE &&
         c.timecode_type != CS_MEDIA_TIMECODE_RELATIVE)) {
        goto out;
    }
    st = cs_add_size(sizeof(*m), c.max_header_bytes, &total);
    if (st != CS_OK) {
        goto out;
    }
    m = cs_alloc(c.allocator, total);
    if (m == NULL) {
        st = CS_E_NOMEM;
        goto out;
    }
    memset(m, 0, sizeof(*m));
    m->cfg = c;
    m->sink = *sink;
    m->hdr = (uint8_t *)(m + 1);
    m->state = ST_IDLE;
    cs_mkv_reader_config_init(&rc);
    rc.frame_data = false; /* bytes are routed by offset; the reader need not hand out spans */
    rc.max_string = READER_MAX_STRING;
    rc.max_tag_value = READER_MAX_TAG_VALUE;
    st = cs_mkv_reader_init(&m->rd, &rc);
    if (st != CS_OK) {
        goto out;
    }
    *out = m;
    m = NULL; /* the caller owns it */
out:
    if (m != NULL) {
        cs_freep(c.allocator, &m);
    }
    return st;
}

void cs_media_destroy(cs_media **m)
{
    if (m == NULL || *m == NULL) {
        return;
    }
    cs_freep((*m)->cfg.allocator, m);
}

const uint8_t *cs_media_header(const cs_media *m, size_t *len)
{
    if (len != NULL) {
        *len = 0;
    }
    if (m == NULL || m->session.header == NULL) {
        return NULL;
    }
    if (len != NULL) {
        *len = m->session.header_len;
    }
    return m->session.header;
}

cs_status cs_media_parse_start_timestamp(const char *s, size_t len, uint64_t *ms)
{
    uint64_t sec = 0, frac = 0;
    size_t i = 0, int_digits = 0, frac_digits = 0;

    if (s == NULL || ms == NULL) {
        return CS_E_INVAL;
    }
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, int_digits++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (sec > (UINT64_MAX / 1000 - d) / 10) {
            return CS_E_MALFORMED;
        }
        sec = sec * 10 + d;
    }
    if (int_digits == 0) {
        return CS_E_MALFORMED;
    }
    if (i < len) {
        if (s[i] != '.') {
            return CS_E_MALFORMED;
        }
        for (i++; i < len; i++, frac_digits++) {
            if (s[i] < '0' || s[i] > '9') {
                return CS_E_MALFORMED;
            }
            if (frac_digits < 3) {
                frac = frac * 10 + (uint64_t)(s[i] - '0');
            }
        }
        if (frac_digits == 0) {
            return CS_E_MALFORMED;
        }
    }
    for (size_t k = frac_digits; k < 3; k++) {
        frac *= 10;
    }
    if (sec * 1000 > UINT64_MAX - frac) {
        return CS_E_MALFORMED;
    }
    *ms = sec * 1000 + frac;
    return CS_OK;
}
