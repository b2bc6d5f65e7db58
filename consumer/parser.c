/* SPDX-License-Identifier: Apache-2.0 */
/* The GetMedia stream parser of the consumer SDK: the mkv/ reader's events folded into fragment
 * and frame events. Two fragment slots: the one being read (its cluster started) and the next
 * one, whose header (tracks, producer tags, AWS_KINESISVIDEO_* tags) is arriving. A frame that
 * arrives in one piece is handed out in place (no copy); one split across chunks is assembled in
 * the frame buffer. Invariants: docs/internals/CONSUMER.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "camstream/consumer.h"
#include "camstream/mkv_read.h"

#define ID_TAGS 0x1254C367u
#define ID_SEGMENT 0x18538067u
#define PREFIX "AWS_KINESISVIDEO_"
#define PREFIX_LEN (sizeof(PREFIX) - 1)

struct slot {
    cs_gm_fragment f;
    char tag_bytes[CS_GM_TAG_BYTES];
    size_t tag_used;
    uint8_t cp[CS_GM_CODEC_PRIVATE_BYTES];
    size_t cp_used;
    char codec_ids[CS_MKV_MAX_TRACKS][32];
};

struct cs_gm_parser {
    cs_gm_parser_config cfg;
    const cs_allocator *a;
    cs_mkv_reader rd;
    struct slot slot[2];
    int cur;            /* slot of the open fragment, -1 when none */
    int nxt;            /* slot being filled by the next fragment's header */
    bool pending_start; /* a cluster start to report on the next call */
    uint64_t pending_timecode;
    bool tags_after_cluster; /* those Tags follow the open fragment's cluster */
    bool has_error;
    uint32_t error_id;
    char error_code[256];
    bool failed;
    cs_status fail_status;
    char msg[200];
    uint64_t msg_offset;
    /* frame being assembled */
    bool frame_open;
    uint64_t frame_size;
    uint64_t frame_have;
    cs_gm_frame frame;
    uint8_t *buf; /* max_frame_bytes */
};

void cs_gm_parser_config_init(cs_gm_parser_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_frame_bytes = 4u << 20;
}

static void slot_reset(struct slot *s)
{
    memset(&s->f, 0, sizeof(s->f));
    s->tag_used = 0;
    s->cp_used = 0;
}

cs_status cs_gm_parser_create(const cs_gm_parser_config *cfg, cs_gm_parser **out)
{
    const cs_allocator *a;
    cs_gm_parser *p;
    size_t total;
    if (cfg == NULL || out == NULL || cfg->max_frame_bytes == 0) {
        return CS_E_INVAL;
    }
    a = cfg->allocator ? cfg->allocator : cs_allocator_default();
    if (cs_add_size(sizeof(*p), cfg->max_frame_bytes, &total) != CS_OK) {
        return CS_E_OVERFLOW;
    }
    p = cs_alloc(a, total);
    if (p == NULL) {
        return CS_E_NOMEM;
    }
    memset(p, 0, sizeof(*p));
    p->cfg = *cfg;
    p->a = a;
    p->buf = (uint8_t *)(p + 1);
    cs_gm_parser_reset(p);
    *out = p;
    return CS_OK;
}

void cs_gm_parser_destroy(cs_gm_parser **pp)
{
    if (pp != NULL && *pp != NULL) {
        const cs_allocator *a = (*pp)->a;
        cs_freep(a, pp);
    }
}

void cs_gm_parser_reset(cs_gm_parser *p)
{
    cs_mkv_reader_config rc;
    cs_mkv_reader_config_init(&rc);
    rc.max_element_size = p->cfg.max_frame_bytes + 1024 > rc.max_element_size
                              ? p->cfg.max_frame_bytes + 1024
                              : rc.max_element_size;
    cs_mkv_reader_init(&p->rd, &rc);
    slot_reset(&p->slot[0]);
    slot_reset(&p->slot[1]);
    p->cur = -1;
    p->nxt = 0;
    p->pending_start = false;
    p->tags_after_cluster = false;
    p->has_error = false;
    p->failed = false;
    p->msg[0] = '\0';
    p->frame_open = false;
}

static cs_status fail(cs_gm_parser *p, cs_status st, uint64_t offset, const char *why)
{
    p->failed = true;
    p->fail_status = st;
    p->msg_offset = offset;
    snprintf(p->msg, sizeof(p->msg), "%s", why);
    return st;
}

const char *cs_gm_parser_error(const cs_gm_parser *p, uint64_t *offset)
{
    if (offset != NULL) {
        *offset = p->failed ? p->msg_offset : 0;
    }
    return p->failed ? p->msg : "";
}

/* "1511852109.126" -> ms; false if not that shape. */
static bool parse_ts(const char *s, size_t n, uint64_t *ms)
{
    uint64_t sec = 0, frac = 0;
    size_t i = 0, fd = 0;
    if (n == 0) {
        return false;
    }
    for (; i < n && s[i] != '.'; i++) {
        if (s[i] < '0' || s[i] > '9' || sec > UINT64_MAX / 10000) {
            return false;
        }
        sec = sec * 10 + (uint64_t)(s[i] - '0');
    }
    if (i < n) {
        for (i++; i < n; i++) {
            if (s[i] < '0' || s[i] > '9') {
                return false;
            }
            if (fd < 3) {
                frac = frac * 10 + (uint64_t)(s[i] - '0');
                fd++;
            }
        }
    }
    while (fd < 3) {
        frac *= 10;
        fd++;
    }
    *ms = sec * 1000 + frac;
    return true;
}

static bool parse_i64(const char *s, size_t n, int64_t *v)
{
    int64_t x = 0;
    bool neg = n > 0 && s[0] == '-';
    size_t i = neg ? 1 : 0;
    if (i == n) {
        return false;
    }
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || x > (INT64_MAX - 9) / 10) {
            return false;
        }
        x = x * 10 + (s[i] - '0');
    }
    *v = neg ? -x : x;
    return true;
}

static void copy_str(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap) {
        n = cap - 1;
    }
    if (n > 0) {
        memcpy(dst, s, n);
    }
    dst[n] = '\0';
}

static bool name_is(const cs_mkv_tag_info *t, const char *suffix)
{
    size_t n = strlen(suffix);
    return t->name_len == PREFIX_LEN + n && memcmp(t->name, PREFIX, PREFIX_LEN) == 0 &&
           memcmp(t->name + PREFIX_LEN, suffix, n) == 0;
}

static cs_status on_tag(cs_gm_parser *p, const cs_mkv_event *mev)
{
    const cs_mkv_tag_info *t = &mev->u.tag;
    struct slot *target;
    const char *v = t->value ? t->value : "";
    size_t vl = t->value ? t->value_len : 0;

    if (t->name == NULL || t->binary || t->nesting > 0) {
        return CS_OK; /* not a tag of ours */
    }
    if (name_is(t, "ERROR_ID")) {
        int64_t id;
        p->has_error = true;
        p->error_id = parse_i64(v, vl, &id) && id >= 0 && id <= UINT32_MAX ? (uint32_t)id : 0;
        return CS_OK;
    }
    if (name_is(t, "ERROR_CODE")) {
        p->has_error = true;
        copy_str(p->error_code, sizeof(p->error_code), v, vl);
        return CS_OK;
    }
    /* Tags after the cluster describe the open fragment; before it, the next one. */
    if (p->tags_after_cluster && p->cur >= 0) {
        cs_gm_fragment *f = &p->slot[p->cur].f;
        if (name_is(t, "MILLIS_BEHIND_NOW")) {
            f->has_millis_behind_now = parse_i64(v, vl, &f->millis_behind_now);
        } else if (name_is(t, "CONTINUATION_TOKEN")) {
            copy_str(f->continuation_token, sizeof(f->continuation_token), v, vl);
        }
        return CS_OK;
    }
    target = &p->slot[p->nxt];
    if (name_is(t, "FRAGMENT_NUMBER")) {
        copy_str(target->f.number, sizeof(target->f.number), v, vl);
    } else if (name_is(t, "SERVER_TIMESTAMP")) {
        target->f.has_server_ms = parse_ts(v, vl, &target->f.server_ms);
    } else if (name_is(t, "PRODUCER_TIMESTAMP")) {
        target->f.has_producer_ms = parse_ts(v, vl, &target->f.producer_ms);
    } else if (t->name_len >= PREFIX_LEN && memcmp(t->name, PREFIX, PREFIX_LEN) == 0) {
        /* another service tag: not the producer's */
    } else {
        size_t need = t->name_len + 1 + vl + 1;
        char *dst;
        if (target->f.tag_count == CS_GM_MAX_TAGS || target->tag_used + need > CS_GM_TAG_BYTES) {
            return fail(p, CS_E_LIMIT, mev->offset, "too many producer tags in one fragment");
        }
        dst = target->tag_bytes + target->tag_used;
        memcpy(dst, t->name, t->name_len);
        dst[t->name_len] = '\0';
        if (vl > 0) {
            memcpy(dst + t->name_len + 1, v, vl);
        }
        dst[t->name_len + 1 + vl] = '\0';
        target->f.tags[target->f.tag_count].name = dst;
        target->f.tags[target->f.tag_count].value = dst + t->name_len + 1;
        target->f.tag_count++;
        target->tag_used += need;
    }
    return CS_OK;
}

static cs_status on_track(cs_gm_parser *p, const cs_mkv_event *mev)
{
    struct slot *s = &p->slot[p->nxt];
    cs_mkv_track_info *ti;
    if (s->f.track_count == CS_MKV_MAX_TRACKS) {
        return fail(p, CS_E_LIMIT, mev->offset, "more than 3 tracks in a fragment");
    }
    ti = &s->f.tracks[s->f.track_count];
    *ti = mev->u.track.info;
    ti->name = NULL;
    ti->name_len = 0;
    copy_str(s->codec_ids[s->f.track_count], sizeof(s->codec_ids[0]),
             mev->u.track.info.codec_id ? mev->u.track.info.codec_id : "",
             mev->u.track.info.codec_id_len);
    ti->codec_id = s->codec_ids[s->f.track_count];
    ti->codec_id_len = strlen(ti->codec_id);
    if (ti->codec_private_len > 0) {
        if (s->cp_used + ti->codec_private_len > CS_GM_CODEC_PRIVATE_BYTES) {
            return fail(p, CS_E_LIMIT, mev->offset, "CodecPrivate too large");
        }
        memcpy(s->cp + s->cp_used, mev->u.track.info.codec_private, ti->codec_private_len);
        ti->codec_private = s->cp + s->cp_used;
        s->cp_used += ti->codec_private_len;
    } else {
        ti->codec_private = NULL;
    }
    s->f.track_count++;
    return CS_OK;
}

/* The open fragment ends (complete or not); returns its FRAGMENT_END. */
static void end_fragment(cs_gm_parser *p, bool complete, cs_gm_event *ev)
{
    cs_gm_fragment *f = &p->slot[p->cur].f;
    f->complete = complete;
    ev->type = CS_GM_EV_FRAGMENT_END;
    ev->fragment = f;
    /* The slot stays readable until the next call; it is reused only at the cluster after
     * next, because the next header fills the other slot. */
    p->cur = -1;
    p->tags_after_cluster = false;
}

/* A cluster starts: the next fragment's header becomes the open fragment. */
static void start_fragment(cs_gm_parser *p, uint64_t timecode, cs_gm_event *ev)
{
    struct slot *cur, *nxt;
    cs_gm_fragment *f;
    p->cur = p->nxt;
    p->nxt = 1 - p->cur;
    cur = &p->slot[p->cur];
    nxt = &p->slot[p->nxt];
    f = &cur->f;
    f->cluster_timecode = timecode;
    f->frames = 0;
    f->bytes = 0;
    f->complete = false;
    f->has_millis_behind_now = false;
    f->continuation_token[0] = '\0';
    /* A following cluster without a header of its own (plain MKV) inherits the tracks and
     * tags; GetMedia repeats the header before every cluster, which replaces them. Pointers
     * are rebased into the other slot; the service tags are not inherited. */
    *nxt = *cur;
    nxt->f.number[0] = '\0';
    nxt->f.has_server_ms = nxt->f.has_producer_ms = false;
    for (size_t i = 0; i < nxt->f.tag_count; i++) {
        nxt->f.tags[i].name = nxt->tag_bytes + (f->tags[i].name - cur->tag_bytes);
        nxt->f.tags[i].value = nxt->tag_bytes + (f->tags[i].value - cur->tag_bytes);
    }
    for (size_t i = 0; i < nxt->f.track_count; i++) {
        nxt->f.tracks[i].codec_id = nxt->codec_ids[i];
        if (f->tracks[i].codec_private != NULL) {
            nxt->f.tracks[i].codec_private = nxt->cp + (f->tracks[i].codec_private - cur->cp);
        }
    }
    ev->type = CS_GM_EV_FRAGMENT_START;
    ev->fragment = f;
}

static cs_status frame_done(cs_gm_parser *p, const uint8_t *data, cs_gm_event *ev)
{
    cs_gm_fragment *f = &p->slot[p->cur].f;
    p->frame.data = data;
    p->frame.index = f->frames++;
    f->bytes += p->frame.size;
    ev->type = CS_GM_EV_FRAME;
    ev->fragment = f;
    ev->frame = p->frame;
    p->frame_open = false;
    return CS_OK;
}

/* One reader event -> at most one parser event. */
static cs_status handle(cs_gm_parser *p, const cs_mkv_event *mev, cs_gm_event *ev)
{
    switch (mev->type) {
    case CS_MKV_EV_EBML_HEADER:
        if (p->cur >= 0) {
            /* The next fragment begins: the open one got all its bytes. */
            end_fragment(p, true, ev);
        }
        slot_reset(&p->slot[p->nxt]);
        return CS_OK;
    case CS_MKV_EV_TRACK:
        return on_track(p, mev);
    case CS_MKV_EV_TAG:
        return on_tag(p, mev);
    case CS_MKV_EV_SKIPPED:
        if (mev->depth == 0) {
            return fail(p, CS_E_MALFORMED, mev->offset,
                        "not a media stream: expected an EBML header or a Segment");
        }
        return CS_OK;
    case CS_MKV_EV_SEGMENT_START:
    case CS_MKV_EV_INFO:
    case CS_MKV_EV_BLOCK:
    case CS_MKV_EV_BLOCK_END:
    case CS_MKV_EV_NONE:
        return CS_OK;
    case CS_MKV_EV_CLUSTER_START:
        if (p->cur >= 0) {
            /* Two clusters in one segment (a plain MKV, not GetMedia): end the first now and
             * start the second on the next call, before reading on. */
            end_fragment(p, true, ev);
            p->pending_start = true;
            p->pending_timecode = mev->u.cluster.timecode;
            return CS_OK;
        }
        start_fragment(p, mev->u.cluster.timecode, ev);
        return CS_OK;
    case CS_MKV_EV_FRAME: {
        const cs_mkv_block_info *b = &mev->u.block;
        if (p->cur < 0) {
            return fail(p, CS_E_MALFORMED, mev->offset, "a frame outside a fragment");
        }
        if (b->frame_size > p->cfg.max_frame_bytes) {
            return fail(p, CS_E_LIMIT, b->frame_offset, "a frame larger than max_frame_bytes");
        }
        p->frame.track = b->track;
        p->frame.timestamp_ns = b->timestamp_ns;
        p->frame.key = b->key;
        p->frame.size = (size_t)b->frame_size;
        if (b->data_len == b->frame_size) {
            return frame_done(p, b->frame_size ? b->data : p->buf, ev); /* in place */
        }
        p->frame_open = true;
        p->frame_size = b->frame_size;
        p->frame_have = b->data_len;
        if (b->data_len > 0) {
            memcpy(p->buf, b->data, b->data_len);
        }
        return CS_OK;
    }
    case CS_MKV_EV_FRAME_DATA: {
        const cs_mkv_block_info *b = &mev->u.block;
        if (!p->frame_open || b->data_pos != p->frame_have ||
            b->data_len > p->frame_size - p->frame_have) {
            return fail(p, CS_E_INTERNAL, mev->offset, "frame pieces out of order");
        }
        memcpy(p->buf + p->frame_have, b->data, b->data_len);
        p->frame_have += b->data_len;
        if (p->frame_have == p->frame_size) {
            return frame_done(p, p->buf, ev);
        }
        return CS_OK;
    }
    case CS_MKV_EV_ELEMENT_END:
        if (mev->id == ID_TAGS) {
            bool after = p->tags_after_cluster;
            if (p->has_error) {
                ev->type = CS_GM_EV_ERROR;
                ev->error.id = p->error_id;
                ev->error.code = p->error_code;
                p->has_error = false;
                p->error_id = 0;
                return CS_OK;
            }
            if (after && p->cur >= 0 &&
                (p->slot[p->cur].f.continuation_token[0] != '\0' ||
                 p->slot[p->cur].f.has_millis_behind_now)) {
                end_fragment(p, true, ev);
            }
            return CS_OK;
        }
        if (mev->id == 0x1F43B675u /* Cluster */ && p->cur >= 0) {
            p->tags_after_cluster = true;
        }
        if (mev->id == ID_SEGMENT && p->cur >= 0) {
            end_fragment(p, true, ev);
        }
        return CS_OK;
    }
    return CS_OK;
}

cs_status cs_gm_parser_next(cs_gm_parser *p, const uint8_t *data, size_t len, size_t *used,
                            cs_gm_event *ev)
{
    size_t off = 0;
    if (p == NULL || used == NULL || ev == NULL || (data == NULL && len > 0)) {
        return CS_E_INVAL;
    }
    memset(ev, 0, sizeof(*ev));
    *used = 0;
    if (p->failed) {
        return p->fail_status;
    }
    if (p->pending_start) {
        p->pending_start = false;
        start_fragment(p, p->pending_timecode, ev);
        return CS_OK;
    }
    for (;;) {
        cs_mkv_event mev;
        size_t u = 0;
        cs_status st = cs_mkv_reader_next(&p->rd, data + off, len - off, &u, &mev);
        off += u;
        *used = off;
        if (st != CS_OK) {
            uint64_t at = 0;
            const char *why = cs_mkv_reader_error(&p->rd, &at);
            return fail(p, st == CS_E_LIMIT ? CS_E_LIMIT : CS_E_MALFORMED, at, why);
        }
        if (mev.type == CS_MKV_EV_NONE) {
            return CS_OK;
        }
        st = handle(p, &mev, ev);
        if (st != CS_OK) {
            return st;
        }
        if (ev->type != CS_GM_EV_NONE) {
            return CS_OK;
        }
    }
}

cs_status cs_gm_parser_end(cs_gm_parser *p, cs_gm_event *ev)
{
    if (p == NULL || ev == NULL) {
        return CS_E_INVAL;
    }
    memset(ev, 0, sizeof(*ev));
    if (p->failed) {
        return p->fail_status;
    }
    if (p->cur >= 0) {
        /* Closing tags never came: whether the cluster was whole cannot be known. */
        end_fragment(p, p->slot[p->cur].f.continuation_token[0] != '\0', ev);
        /* Keep the slot alive for the caller; reset everything else next time. */
        p->frame_open = false;
        cs_mkv_reader_reset(&p->rd);
        return CS_OK;
    }
    {
        int keep = p->nxt;
        cs_mkv_reader_reset(&p->rd);
        slot_reset(&p->slot[keep]);
        p->pending_start = false;
        p->tags_after_cluster = false;
        p->frame_open = false;
    }
    return CS_OK;
}
