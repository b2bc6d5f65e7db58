/* SPDX-License-Identifier: Apache-2.0 */
/* The stream: configuration, the frame path (a frame is converted once, Annex-B -> AVCC, straight
 * into content-store ring space behind the fragmenter's header), fragment cuts, CodecPrivate from
 * the first key frame, fragment tags, flush, metrics, and the store's drop/pressure callbacks
 * mapped to the application's. The upload itself is session.c, on the I/O thread. Invariants:
 * docs/internals/PRODUCER.md, section "Stream". */
#include <string.h>

#include "producer_int.h"

/* Set on the producer's I/O thread: store callbacks raised there queue their events for the I/O
 * thread, the others for the writer that caused them. */
_Thread_local bool csi_on_io_thread;

static const char *const state_names[] = {
    "NEW",        "DESCRIBING", "CREATING", "GETTING_ENDPOINT",
    "CONNECTING", "STREAMING",  "BACKOFF",  "STOPPED"};

const char *cs_stream_state_str(cs_stream_state state)
{
    if ((unsigned)state < sizeof(state_names) / sizeof(state_names[0])) {
        return state_names[state];
    }
    return "?";
}

void cs_stream_config_init(cs_stream_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    memset(cfg, 0, sizeof(*cfg));
    cfg->create_if_missing = true;
    cfg->retention_hours = 2;
    cfg->media_type = "video/h264";
    cfg->store_bytes = 4u << 20;
    cfg->full_policy = CS_FULL_DROP_OLDEST;
    cfg->full_wait_ms = 1000;
    cfg->pressure_pct[0] = 50;
    cfg->pressure_pct[1] = 75;
    cfg->pressure_pct[2] = 90;
    cfg->pressure_count = 3;
    cfg->key_frame_fragmentation = true;
    cfg->fragment_ms = 2000;
    cfg->max_fragment_ms = 10000;
    cfg->timecode_mode = CS_TIMECODE_ABSOLUTE;
    cfg->ack_required = true;
}

/* ---------------------------------------------------------------------------------------------- */
/* Events (callbacks run outside every lock)                                                      */
/* ---------------------------------------------------------------------------------------------- */

static void queue_event(struct csi_event_queue *q, const struct csi_event *ev)
{
    if (q->n < CSI_EVENTS) {
        q->ev[q->n++] = *ev;
        return;
    }
    /* Full: merge a drop into the last drop of the same reason, or lose a pressure report
     * (the next crossing reports the level again). */
    if (ev->is_drop && q->ev[CSI_EVENTS - 1].is_drop &&
        q->ev[CSI_EVENTS - 1].drop.reason == ev->drop.reason) {
        cs_drop *d = &q->ev[CSI_EVENTS - 1].drop;
        d->last_ts_ns = ev->drop.last_ts_ns > d->last_ts_ns ? ev->drop.last_ts_ns : d->last_ts_ns;
        d->frames += ev->drop.frames;
        d->bytes += ev->drop.bytes;
    }
}

void csi_stream_run_events(cs_stream *s, bool io_queue)
{
    struct csi_event_queue *q = io_queue ? &s->ioq : &s->wq;
    struct csi_event ev;

    for (;;) {
        cs_mutex_lock(&s->mlock);
        if (q->n == 0) {
            cs_mutex_unlock(&s->mlock);
            return;
        }
        ev = q->ev[0];
        q->n--;
        memmove(&q->ev[0], &q->ev[1], q->n * sizeof(q->ev[0]));
        cs_mutex_unlock(&s->mlock);
        if (ev.is_drop) {
            if (s->cfg.callbacks.on_drop != NULL) {
                s->cfg.callbacks.on_drop(s->cfg.callbacks.ctx, s, &ev.drop);
            }
        } else if (s->cfg.callbacks.on_pressure != NULL) {
            s->cfg.callbacks.on_pressure(s->cfg.callbacks.ctx, s, ev.threshold, ev.rising, ev.used,
                                         ev.capacity);
        }
    }
}

struct csi_frag_info *csi_stream_find_info(cs_stream *s, uint64_t key, uint64_t *seq)
{
    uint64_t n = s->frags_put < CSI_FRAG_INFO ? s->frags_put : CSI_FRAG_INFO;

    for (uint64_t i = 1; i <= n; i++) {
        uint64_t q = s->frags_put - i;
        struct csi_frag_info *fi = &s->info[q % CSI_FRAG_INFO];
        if (fi->key == key) {
            if (seq != NULL) {
                *seq = q;
            }
            return fi;
        }
    }
    return NULL;
}

/* The store's drop report -> the application's, queued (the store's mutex is held here). */
static void store_on_drop(void *ctx, const csi_cstore_drop *d)
{
    cs_stream *s = ctx;
    struct csi_event ev;
    struct csi_frag_info *fi;

    memset(&ev, 0, sizeof(ev));
    ev.is_drop = true;
    ev.drop.reason = d->reason == CSI_CSTORE_DROP_TOO_LARGE ? CS_DROP_TOO_LARGE : CS_DROP_EVICTED;
    ev.drop.first_ts_ns = d->first_ts_ns;
    ev.drop.last_ts_ns = d->last_ts_ns;
    ev.drop.frames = d->frames;
    ev.drop.bytes = d->bytes;
    ev.drop.maybe_stored = d->was_sent;
    cs_mutex_lock(&s->mlock);
    if (d->reason == CSI_CSTORE_DROP_EVICTED) {
        /* The store knows the fragment by its key (cluster timecode); report frame times. */
        fi = csi_stream_find_info(s, d->first_ts_ns, NULL);
        if (fi != NULL) {
            ev.drop.first_ts_ns = fi->first_ts;
            ev.drop.last_ts_ns = fi->last_ts;
        } else if (s->cfg.timecode_mode == CS_TIMECODE_RELATIVE) {
            ev.drop.first_ts_ns += s->origin_ns;
            if (d->frames <= 1) {
                ev.drop.last_ts_ns = ev.drop.first_ts_ns;
            }
        }
    }
    queue_event(csi_on_io_thread ? &s->ioq : &s->wq, &ev);
    cs_mutex_unlock(&s->mlock);
}

static void store_on_pressure(void *ctx, unsigned threshold_pct, bool rising, size_t bytes_used,
                              size_t capacity)
{
    cs_stream *s = ctx;
    struct csi_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.threshold = threshold_pct;
    ev.rising = rising;
    ev.used = bytes_used;
    ev.capacity = capacity;
    cs_mutex_lock(&s->mlock);
    queue_event(csi_on_io_thread ? &s->ioq : &s->wq, &ev);
    cs_mutex_unlock(&s->mlock);
}

void csi_stream_notify(cs_stream *s)
{
    cs_mutex_lock(&s->mlock);
    cs_cond_broadcast(&s->cond);
    cs_mutex_unlock(&s->mlock);
}

void csi_stream_set_state(cs_stream *s, cs_stream_state to)
{
    cs_stream_state from;

    cs_mutex_lock(&s->mlock);
    from = s->state;
    s->state = to;
    if (to == CS_STREAM_STATE_STOPPED) {
        cs_cond_broadcast(&s->cond);
    }
    cs_mutex_unlock(&s->mlock);
    s->sess.state = to;
    if (from != to) {
        CS_LOG_DEBUG(s->p->log, CSI_LOG_MOD, "stream %s: %s -> %s", s->cfg.name,
                     cs_stream_state_str(from), cs_stream_state_str(to));
    }
    if (from != to && s->cfg.callbacks.on_state != NULL) {
        s->cfg.callbacks.on_state(s->cfg.callbacks.ctx, s, from, to);
    }
}

void csi_stream_report_error(cs_stream *s, cs_status st, int http_status, uint32_t error_id,
                             bool fatal, const char *msg)
{
    CS_LOG_WARN(s->p->log, CSI_LOG_MOD, "stream %s: %s%s (%s, HTTP %d, ErrorId %u)", s->cfg.name,
                msg, fatal ? ", giving up" : "", cs_status_str(st), http_status, error_id);
    if (s->cfg.callbacks.on_error != NULL) {
        s->cfg.callbacks.on_error(s->cfg.callbacks.ctx, s, st, http_status, error_id, fatal, msg);
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* Create / destroy                                                                               */
/* ---------------------------------------------------------------------------------------------- */

static bool valid_name(const char *n)
{
    size_t len = n != NULL ? strlen(n) : 0;

    if (len == 0 || len > CSI_STREAM_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-')) {
            return false;
        }
    }
    return true;
}

static bool is_video(cs_mkv_codec c)
{
    return c == CS_MKV_CODEC_ID_H264 || c == CS_MKV_CODEC_ID_H265;
}

/* Bytes of a JSON string literal of `v` (quotes included), as json_put writes it. */
static size_t json_len(const char *v)
{
    size_t n = 2;

    for (; *v != '\0'; v++) {
        unsigned char c = (unsigned char)*v;
        n += (c == '"' || c == '\\') ? 2 : c < 0x20 ? 6 : 1;
    }
    return n;
}

static bool check_tracks(const cs_stream_config *cfg)
{
    for (size_t i = 0; i < cfg->track_count; i++) {
        const cs_track_config *t = &cfg->tracks[i];
        uint64_t num = t->number != 0 ? t->number : i + 1;
        if (t->codec < CS_MKV_CODEC_ID_H264 || t->codec > CS_MKV_CODEC_ID_PCM ||
            (t->codec_private == NULL && t->codec_private_len != 0) ||
            (t->codec == CS_MKV_CODEC_ID_AAC && t->codec_private == NULL)) {
            return false;
        }
        if (!is_video(t->codec) && (t->sampling_rate == 0 || t->channels == 0)) {
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            if ((cfg->tracks[j].number != 0 ? cfg->tracks[j].number : j + 1) == num) {
                return false;
            }
        }
    }
    return true;
}

/* The fragmenter's track descriptions from the (arena-copied) config and extracted CPs. */
static void fill_tracks(cs_stream *s, cs_mkv_fragmenter_config *fc)
{
    cs_mkv_fragmenter_config_init(fc);
    for (size_t i = 0; i < s->cfg.track_count; i++) {
        const cs_track_config *t = &s->cfg.tracks[i];
        cs_mkv_track_info *ti = &fc->tracks[i];
        ti->number = t->number;
        ti->type = is_video(t->codec) ? CS_MKV_TRACK_VIDEO : CS_MKV_TRACK_AUDIO;
        ti->codec = t->codec;
        if (t->codec_private != NULL) {
            ti->codec_private = t->codec_private;
            ti->codec_private_len = t->codec_private_len;
        } else if (s->cp_len[i] != 0) {
            ti->codec_private = s->cp_buf[i];
            ti->codec_private_len = s->cp_len[i];
        }
        ti->name = t->name;
        ti->name_len = t->name != NULL ? strlen(t->name) : 0;
        ti->width = t->width;
        ti->height = t->height;
        ti->sampling_frequency = (double)t->sampling_rate;
        ti->channels = t->channels;
        ti->bit_depth = t->bit_depth;
    }
    fc->track_count = s->cfg.track_count;
    fc->relative_timecodes = s->cfg.timecode_mode == CS_TIMECODE_RELATIVE;
    fc->cluster_on_key_frame = true; /* non-key mode forces its cuts itself, see put_frame */
    fc->key_track = s->key_track;
    fc->max_cluster_duration_ns = (uint64_t)s->cfg.max_fragment_ms * 1000000u;
}

/* Every CodecPrivate is known: set the fragmenter up (keeping tags put before) and render the
 * stream header the I/O thread sends on reconnects. Writer lock held. */
static cs_status frag_setup(cs_stream *s)
{
    cs_mkv_fragmenter_config fc;
    cs_mkv_fragmenter tmp;
    cs_status st;
    size_t len = 0;

    fill_tracks(s, &fc);
    if (cs_entropy_fill(fc.segment_uid, sizeof(fc.segment_uid)) != CS_OK) {
        memset(fc.segment_uid, 0x5a, sizeof(fc.segment_uid));
    }
    st = cs_mkv_fragmenter_init(&tmp, &fc);
    if (st != CS_OK) {
        return st;
    }
    for (size_t i = 0; i < s->frag.tag_count; i++) {
        (void)cs_mkv_fragmenter_add_tag(&tmp, s->frag.tags[i].name, s->frag.tags[i].name_len,
                                        s->frag.tags[i].value, s->frag.tags[i].value_len);
    }
    st = cs_mkv_fragmenter_header(&tmp, s->hdr_buf, s->hdr_cap, &len);
    if (st != CS_OK) {
        return st;
    }
    s->frag = tmp;
    s->frag_ready = true;
    cs_mutex_lock(&s->mlock);
    s->hdr_len = len;
    cs_mutex_unlock(&s->mlock);
    return CS_OK;
}

cs_status cs_stream_create(cs_producer *p, const cs_stream_config *cfg, cs_stream **out)
{
    cs_stream *s = NULL;
    csi_cstore_config scfg;
    size_t arena = 0, body = 256, hdr = 512, i;
    char *a;
    cs_status st = CS_OK;
    bool lock = false, mlock = false, cond = false;
    cs_stream *it;

    if (out != NULL) {
        *out = NULL;
    }
    if (p == NULL || cfg == NULL || out == NULL) {
        return CS_E_INVAL;
    }
    if (!valid_name(cfg->name) || cfg->track_count == 0 || cfg->track_count > CS_MKV_MAX_TRACKS ||
        cfg->pressure_count > CS_STREAM_MAX_THRESHOLDS || cfg->stream_tag_count > 50 ||
        (cfg->stream_tags == NULL && cfg->stream_tag_count != 0) || cfg->store_bytes < 65536 ||
        (cfg->full_policy != CS_FULL_DROP_OLDEST && cfg->full_policy != CS_FULL_WAIT) ||
        (cfg->timecode_mode != CS_TIMECODE_ABSOLUTE &&
         cfg->timecode_mode != CS_TIMECODE_RELATIVE) ||
        cfg->max_fragment_ms == 0 || !check_tracks(cfg)) {
        return CS_E_INVAL;
    }
    for (i = 0; i < cfg->pressure_count; i++) {
        if (cfg->pressure_pct[i] == 0 || cfg->pressure_pct[i] > 100 ||
            (i > 0 && cfg->pressure_pct[i] <= cfg->pressure_pct[i - 1])) {
            return CS_E_INVAL;
        }
    }
    /* Given CodecPrivate must parse. */
    for (i = 0; i < cfg->track_count; i++) {
        const cs_track_config *t = &cfg->tracks[i];
        cs_nal_config nc;
        if (t->codec_private != NULL && t->codec == CS_MKV_CODEC_ID_H264 &&
            cs_nal_avcc_parse(t->codec_private, t->codec_private_len, &nc) != CS_OK) {
            return CS_E_MALFORMED;
        }
        if (t->codec_private != NULL && t->codec == CS_MKV_CODEC_ID_H265 &&
            cs_nal_hvcc_parse(t->codec_private, t->codec_private_len, &nc) != CS_OK) {
            return CS_E_MALFORMED;
        }
    }

    /* One arena for every string and CodecPrivate the stream keeps. */
    arena = strlen(cfg->name) + 1 + strlen(cfg->media_type != NULL ? cfg->media_type : "") + 1;
    arena += cfg->stream_tag_count * sizeof(cs_tag) + 16;
    body += json_len(cfg->name) + json_len(cfg->media_type != NULL ? cfg->media_type : "");
    for (i = 0; i < cfg->track_count; i++) {
        const cs_track_config *t = &cfg->tracks[i];
        arena += (t->name != NULL ? strlen(t->name) + 1 : 0) + t->codec_private_len + 16;
        hdr += 128 + (t->name != NULL ? strlen(t->name) : 0) +
               (t->codec_private != NULL ? t->codec_private_len : CSI_CP_EXTRACT_MAX) +
               CS_MKV_WAVEFORMATEX_LEN;
    }
    for (i = 0; i < cfg->stream_tag_count; i++) {
        const cs_tag *t = &cfg->stream_tags[i];
        if (t->name == NULL || t->name[0] == '\0' || t->value == NULL || strlen(t->name) > 128 ||
            strlen(t->value) > 256) {
            return CS_E_INVAL;
        }
        arena += strlen(t->name) + strlen(t->value) + 2;
        body += json_len(t->name) + json_len(t->value) + 2;
    }

    s = cs_calloc(p->alloc, 1, sizeof(*s));
    if (s == NULL) {
        return CS_E_NOMEM;
    }
    s->p = p;
    s->cfg = *cfg;
    s->arena = cs_alloc(p->alloc, arena);
    s->body_cap = body;
    s->body = cs_alloc(p->alloc, body);
    s->hdr_cap = hdr;
    s->hdr_buf = cs_alloc(p->alloc, hdr);
    if (s->arena == NULL || s->body == NULL || s->hdr_buf == NULL) {
        st = CS_E_NOMEM;
        goto out;
    }
    a = s->arena;
    /* cs_tag array first (aligned: the arena is malloc-aligned) */
    s->tags = (cs_tag *)(void *)a;
    a += cfg->stream_tag_count * sizeof(cs_tag);
#define ARENA_STR(dst, src)                                                                        \
    do {                                                                                           \
        size_t l_ = strlen(src) + 1;                                                               \
        memcpy(a, (src), l_);                                                                      \
        (dst) = a;                                                                                 \
        a += l_;                                                                                   \
    } while (0)
    ARENA_STR(s->cfg.name, cfg->name);
    ARENA_STR(s->cfg.media_type, cfg->media_type != NULL ? cfg->media_type : "");
    for (i = 0; i < cfg->stream_tag_count; i++) {
        ARENA_STR(s->tags[i].name, cfg->stream_tags[i].name);
        ARENA_STR(s->tags[i].value, cfg->stream_tags[i].value);
    }
    s->cfg.stream_tags = s->tags;
    for (i = 0; i < cfg->track_count; i++) {
        cs_track_config *t = &s->cfg.tracks[i];
        if (t->number == 0) {
            t->number = i + 1;
        }
        if (t->name != NULL) {
            ARENA_STR(t->name, cfg->tracks[i].name);
        }
        if (t->codec_private != NULL) {
            memcpy(a, cfg->tracks[i].codec_private, t->codec_private_len);
            t->codec_private = (const uint8_t *)a;
            a += t->codec_private_len;
        }
        s->need_cp[i] = is_video(t->codec) && t->codec_private == NULL;
    }
#undef ARENA_STR
    for (i = s->cfg.track_count; i < CS_MKV_MAX_TRACKS; i++) {
        memset(&s->cfg.tracks[i], 0, sizeof(s->cfg.tracks[i]));
    }
    s->key_track = s->cfg.tracks[0].number;
    for (i = 0; i < s->cfg.track_count; i++) {
        if (is_video(s->cfg.tracks[i].codec)) {
            s->key_track = s->cfg.tracks[i].number;
            break;
        }
    }

    st = cs_mutex_init(&s->lock);
    if (st != CS_OK) {
        goto out;
    }
    lock = true;
    st = cs_mutex_init(&s->mlock);
    if (st != CS_OK) {
        goto out;
    }
    mlock = true;
    st = cs_cond_init(&s->cond);
    if (st != CS_OK) {
        goto out;
    }
    cond = true;

    csi_cstore_config_init(&scfg);
    scfg.capacity = cfg->store_bytes;
    scfg.allocator = p->alloc;
    scfg.policy = cfg->full_policy == CS_FULL_WAIT ? CSI_CSTORE_WAIT : CSI_CSTORE_DROP_OLDEST;
    scfg.wait_timeout_ns = (uint64_t)cfg->full_wait_ms * 1000000u;
    for (i = 0; i < cfg->pressure_count; i++) {
        scfg.thresholds_pct[i] = cfg->pressure_pct[i];
    }
    scfg.threshold_count = cfg->pressure_count;
    scfg.on_drop = store_on_drop;
    scfg.on_pressure = store_on_pressure;
    scfg.cb_ctx = s;
    st = csi_cstore_create(&scfg, &s->store);
    if (st != CS_OK) {
        goto out;
    }

    /* Every CodecPrivate given: the fragmenter is ready now (and validates the tracks). */
    if (!s->need_cp[0] && !s->need_cp[1] && !s->need_cp[2]) {
        st = frag_setup(s);
        if (st != CS_OK) {
            st = st == CS_E_MALFORMED ? CS_E_MALFORMED : CS_E_INVAL;
            goto out;
        }
    }
    s->state = CS_STREAM_STATE_NEW;
    s->m.store_capacity = cfg->store_bytes;

    cs_mutex_lock(&p->lock);
    for (it = p->streams; it != NULL; it = it->next) {
        if (!it->closing && strcmp(it->cfg.name, s->cfg.name) == 0) {
            break;
        }
    }
    if (it != NULL || p->stop) {
        cs_mutex_unlock(&p->lock);
        st = it != NULL ? CS_E_EXISTS : CS_E_STATE;
        goto out;
    }
    s->next = p->streams;
    p->streams = s;
    cs_mutex_unlock(&p->lock);
    csi_producer_wake(p);
    *out = s;
    s = NULL; /* the producer's list holds it */
out:
    if (s != NULL) {
        csi_cstore_destroy(&s->store);
        if (cond) {
            cs_cond_destroy(&s->cond);
        }
        if (mlock) {
            cs_mutex_destroy(&s->mlock);
        }
        if (lock) {
            cs_mutex_destroy(&s->lock);
        }
        cs_freep(p->alloc, &s->arena);
        cs_freep(p->alloc, &s->body);
        cs_freep(p->alloc, &s->hdr_buf);
        cs_freep(p->alloc, &s);
    }
    return st;
}

void csi_stream_free(cs_stream *s)
{
    const cs_allocator *a = s->p->alloc;

    csi_cstore_destroy(&s->store);
    cs_cond_destroy(&s->cond);
    cs_mutex_destroy(&s->mlock);
    cs_mutex_destroy(&s->lock);
    cs_freep(a, &s->arena);
    cs_freep(a, &s->body);
    cs_freep(a, &s->hdr_buf);
    cs_freep(a, &s);
}

void cs_stream_destroy(cs_stream **sp)
{
    cs_stream *s;
    cs_producer *p;
    csi_cstore_metrics cm;
    cs_drop d;
    uint64_t seq = 0;

    if (sp == NULL || *sp == NULL) {
        return;
    }
    s = *sp;
    *sp = NULL;
    p = s->p;
    /* Hand the stream back from the I/O thread: it cancels the open call and unlinks it. */
    cs_mutex_lock(&p->lock);
    s->closing = true;
    if (p->thread_started) {
        csi_producer_wake(p);
        while (!s->closed) {
            cs_cond_wait(&p->cond, &p->lock);
        }
    } else {
        cs_stream **pp;
        for (pp = &p->streams; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == s) {
                *pp = s->next;
                break;
            }
        }
        csi_session_close(s);
    }
    cs_mutex_unlock(&p->lock);

    /* Whatever is kept was not PERSISTED: report it, in one drop. */
    csi_stream_run_events(s, false);
    csi_stream_run_events(s, true);
    csi_cstore_get_metrics(s->store, &cm);
    memset(&d, 0, sizeof(d));
    if (s->have_wait_drop && s->cfg.callbacks.on_drop != NULL) {
        s->cfg.callbacks.on_drop(s->cfg.callbacks.ctx, s, &s->wait_drop);
    }
    if (cm.fragments_stored > 0) {
        struct csi_frag_info *fi;
        d.reason = CS_DROP_DESTROYED;
        d.bytes = cm.bytes_used;
        d.maybe_stored = cm.bytes_used > cm.bytes_unsent;
        d.first_ts_ns = cm.oldest_ts_ns;
        d.last_ts_ns = cm.newest_ts_ns;
        cs_mutex_lock(&s->mlock);
        fi = csi_stream_find_info(s, cm.oldest_ts_ns, &seq);
        if (fi != NULL) {
            d.first_ts_ns = fi->first_ts;
            for (; seq < s->frags_put; seq++) {
                d.frames += s->info[seq % CSI_FRAG_INFO].frames;
                if (s->info[seq % CSI_FRAG_INFO].last_ts > d.last_ts_ns) {
                    d.last_ts_ns = s->info[seq % CSI_FRAG_INFO].last_ts;
                }
            }
        }
        cs_mutex_unlock(&s->mlock);
        if (s->cfg.callbacks.on_drop != NULL) {
            s->cfg.callbacks.on_drop(s->cfg.callbacks.ctx, s, &d);
        }
    }
    if (s->cfg.callbacks.on_state != NULL && s->state != CS_STREAM_STATE_STOPPED) {
        s->cfg.callbacks.on_state(s->cfg.callbacks.ctx, s, s->state, CS_STREAM_STATE_STOPPED);
    }
    csi_stream_free(s);
}

/* ---------------------------------------------------------------------------------------------- */
/* Frame path                                                                                     */
/* ---------------------------------------------------------------------------------------------- */

static bool starts_with_start_code(const uint8_t *d, size_t n)
{
    return (n >= 3 && d[0] == 0 && d[1] == 0 && d[2] == 1) ||
           (n >= 4 && d[0] == 0 && d[1] == 0 && d[2] == 0 && d[3] == 1);
}

/* CodecPrivate of track i from its first key frame. Writer lock held. */
static cs_status extract_cp(cs_stream *s, size_t i, const cs_frame *f, cs_frame_format fmt)
{
    cs_nal_codec codec = (cs_nal_codec)s->cfg.tracks[i].codec;
    cs_nal_param_sets ps;
    cs_status st;

    if (fmt == CS_FRAME_ANNEXB) {
        st = cs_nal_codec_private_from_annexb(codec, f->data, f->size, s->cp_buf[i],
                                              CSI_CP_EXTRACT_MAX, &s->cp_len[i]);
    } else {
        st = cs_nal_find_param_sets(codec, CS_NAL_FORMAT_AVCC, 4, f->data, f->size, &ps);
        if (st == CS_OK) {
            st = codec == CS_NAL_CODEC_H264
                     ? cs_nal_avcc_from_sps_pps(ps.sps, ps.sps_len, ps.pps, ps.pps_len,
                                                s->cp_buf[i], CSI_CP_EXTRACT_MAX, &s->cp_len[i])
                     : cs_nal_hvcc_from_vps_sps_pps(ps.vps, ps.vps_len, ps.sps, ps.sps_len, ps.pps,
                                                    ps.pps_len, s->cp_buf[i], CSI_CP_EXTRACT_MAX,
                                                    &s->cp_len[i]);
        }
    }
    if (st != CS_OK) {
        s->cp_len[i] = 0;
        return st == CS_E_NOSPACE ? CS_E_LIMIT : CS_E_MALFORMED;
    }
    s->need_cp[i] = false;
    return CS_OK;
}

static void add_wait_drop(cs_stream *s, uint64_t ts, size_t bytes)
{
    if (!s->have_wait_drop) {
        memset(&s->wait_drop, 0, sizeof(s->wait_drop));
        s->wait_drop.reason = CS_DROP_EVICTED;
        s->wait_drop.first_ts_ns = ts;
        s->have_wait_drop = true;
    }
    if (ts > s->wait_drop.last_ts_ns) {
        s->wait_drop.last_ts_ns = ts;
    }
    s->wait_drop.frames++;
    s->wait_drop.bytes += bytes;
    cs_mutex_lock(&s->mlock);
    s->other_drop_frames++;
    s->other_drop_bytes += bytes;
    cs_mutex_unlock(&s->mlock);
}

static void flush_wait_drop(cs_stream *s)
{
    struct csi_event ev;

    if (!s->have_wait_drop) {
        return;
    }
    memset(&ev, 0, sizeof(ev));
    ev.is_drop = true;
    ev.drop = s->wait_drop;
    s->have_wait_drop = false;
    cs_mutex_lock(&s->mlock);
    queue_event(&s->wq, &ev);
    cs_mutex_unlock(&s->mlock);
}

/* Writes one frame into the store. Writer lock held. */
static cs_status write_frame(cs_stream *s, const cs_frame *f, size_t ti, cs_frame_format fmt,
                             bool *stored)
{
    const cs_track_config *t = &s->cfg.tracks[ti];
    cs_nal_codec codec = (cs_nal_codec)t->codec;
    cs_mkv_frame fr;
    cs_mkv_frame_layout lo;
    size_t payload = f->size, w;
    uint8_t *region;
    unsigned flags;
    uint64_t key;
    cs_status st;
    bool is_key = (f->flags & CS_FRAME_KEY) != 0;
    bool key_of_key_track = is_key && t->number == s->key_track;

    *stored = false;
    if (fmt == CS_FRAME_ANNEXB) {
        st = cs_nal_annexb_to_avcc(codec, CS_NAL_DROP_AUD, f->data, f->size, NULL, 0, &payload);
        if (st != CS_OK) {
            return st == CS_E_OVERFLOW ? CS_E_INVAL : CS_E_MALFORMED;
        }
        if (payload == 0) {
            return CS_E_MALFORMED; /* no NAL unit */
        }
    }
    if (s->wait_key) {
        if (!key_of_key_track) {
            add_wait_drop(s, f->pts_ns, f->size);
            return CS_OK;
        }
        s->wait_key = false;
        flush_wait_drop(s);
        cs_mkv_fragmenter_restart(&s->frag);
    }
    fr.track = t->number;
    fr.timestamp_ns = f->pts_ns;
    fr.flags = (uint8_t)((is_key ? CS_MKV_BLOCK_KEY : 0u) |
                         ((f->flags & CS_FRAME_INVISIBLE) != 0 ? CS_MKV_BLOCK_INVISIBLE : 0u) |
                         ((f->flags & CS_FRAME_DISCARDABLE) != 0 ? CS_MKV_BLOCK_DISCARDABLE : 0u));
    fr.size = payload;
    /* Time-based fragmentation cuts at the first key frame fragment_ms after the fragment's
     * start. The fragmenter cuts at key frames only when told to, so the stream tells it by
     * clearing its key track for the frames that must not cut. */
    if (!s->cfg.key_frame_fragmentation) {
        bool cut = key_of_key_track && s->frag.in_cluster &&
                   f->pts_ns >= s->frag_first_ts + (uint64_t)s->cfg.fragment_ms * 1000000u;
        s->frag.key_track = cut ? s->key_track : 0;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        st = cs_mkv_fragmenter_frame_header(&s->frag, &fr, NULL, 0, &lo);
        if (st != CS_OK) {
            return st == CS_E_RANGE ? CS_E_INVAL : st;
        }
        flags = (lo.new_cluster ? CSI_CSTORE_FRAGMENT_START : 0u) |
                (lo.new_segment ? CSI_CSTORE_SESSION_START : 0u);
        key = lo.new_cluster ? lo.cluster_timecode * CS_MKV_TIMECODE_SCALE_NS : f->pts_ns;
        st = csi_cstore_reserve(s->store, lo.total_len, flags, key, &region);
        if (st == CS_E_STATE && !lo.new_cluster && attempt == 0) {
            /* The server ended (acked) the fragment being written: start a new one here. */
            cs_mkv_fragmenter_restart(&s->frag);
            continue;
        }
        if (st == CS_E_NOSPACE && lo.total_len <= s->cfg.store_bytes) {
            /* Keeping this frame needed the fragment being written evicted (reported): the
             * frames up to the next key frame cannot be decoded, drop them too. */
            if (key_of_key_track) {
                cs_mkv_fragmenter_restart(&s->frag);
                continue;
            }
            s->wait_key = true;
            add_wait_drop(s, f->pts_ns, f->size);
            return CS_OK;
        }
        if (st != CS_OK) {
            return st;
        }
        st = cs_mkv_fragmenter_frame_header(&s->frag, &fr, region, lo.total_len, &lo);
        if (st == CS_OK) {
            if (fmt == CS_FRAME_ANNEXB) {
                st = cs_nal_annexb_to_avcc(codec, CS_NAL_DROP_AUD, f->data, f->size,
                                           region + lo.header_len, payload, &w);
            } else {
                memcpy(region + lo.header_len, f->data, payload);
            }
        }
        if (st != CS_OK) {
            (void)csi_cstore_commit(s->store, 0);
            cs_mkv_fragmenter_restart(&s->frag);
            return CS_E_INTERNAL;
        }
        st = csi_cstore_commit(s->store, lo.total_len);
        if (st == CS_E_STATE && attempt == 0) {
            cs_mkv_fragmenter_restart(&s->frag);
            continue;
        }
        if (st != CS_OK) {
            return st;
        }
        break;
    }
    if (st != CS_OK) {
        return st;
    }
    *stored = true;
    cs_mutex_lock(&s->mlock);
    if (lo.new_cluster) {
        struct csi_frag_info *fi = &s->info[s->frags_put % CSI_FRAG_INFO];
        memset(fi, 0, sizeof(*fi));
        fi->key = key;
        fi->first_ts = f->pts_ns;
        fi->last_ts = f->pts_ns;
        fi->put_ns = csi_producer_now(s->p);
        s->frags_put++;
        s->m.fragments_put++;
        s->frag_first_ts = f->pts_ns;
    }
    if (s->frags_put > 0) {
        struct csi_frag_info *fi = &s->info[(s->frags_put - 1) % CSI_FRAG_INFO];
        fi->frames++;
        fi->bytes += lo.total_len;
        if (f->pts_ns > fi->last_ts) {
            fi->last_ts = f->pts_ns;
        }
        if (f->pts_ns < fi->first_ts) {
            fi->first_ts = f->pts_ns; /* B-frames of an open GOP: before their key frame */
        }
    }
    if (!s->have_origin) {
        s->have_origin = true;
        s->origin_ns = f->pts_ns;
    }
    s->m.bytes_stored += lo.total_len;
    cs_mutex_unlock(&s->mlock);
    return CS_OK;
}

cs_status cs_stream_put_frame(cs_stream *s, const cs_frame *f)
{
    cs_status st;
    size_t ti;
    cs_frame_format fmt;
    uint64_t dts;
    bool stored = false, wake;
    const cs_track_config *t = NULL;

    if (s == NULL) {
        return CS_E_INVAL;
    }
    if (f == NULL || f->data == NULL || f->size == 0) {
        st = CS_E_INVAL;
        goto count;
    }
    for (ti = 0; ti < s->cfg.track_count; ti++) {
        if (f->track == 0 || s->cfg.tracks[ti].number == f->track) {
            t = &s->cfg.tracks[ti];
            break;
        }
    }
    if (t == NULL) {
        st = CS_E_INVAL;
        goto count;
    }
    fmt = f->format;
    if (fmt == CS_FRAME_AUTO) {
        fmt = !is_video(t->codec)                        ? CS_FRAME_RAW
              : starts_with_start_code(f->data, f->size) ? CS_FRAME_ANNEXB
                                                         : CS_FRAME_AVCC;
    }
    if ((unsigned)fmt > CS_FRAME_RAW || (is_video(t->codec) && fmt == CS_FRAME_RAW) ||
        (!is_video(t->codec) && fmt != CS_FRAME_RAW)) {
        st = CS_E_INVAL;
        goto count;
    }
    dts = f->dts_ns != 0 ? f->dts_ns : f->pts_ns;

    cs_mutex_lock(&s->lock);
    cs_mutex_lock(&s->mlock);
    st = s->fatal ? CS_E_STATE : CS_OK;
    cs_mutex_unlock(&s->mlock);
    if (st == CS_OK && s->have_dts[ti] && dts < s->last_dts[ti]) {
        st = CS_E_INVAL;
    }
    if (st == CS_OK && !s->frag_ready) {
        if (s->need_cp[ti] && (f->flags & CS_FRAME_KEY) != 0) {
            st = extract_cp(s, ti, f, fmt);
        }
        if (st == CS_OK && !s->need_cp[0] && !s->need_cp[1] && !s->need_cp[2]) {
            st = frag_setup(s);
        }
        if (st == CS_OK && !s->frag_ready) {
            st = CS_E_STATE; /* before the first key frame of a track whose CodecPrivate it has */
        }
    }
    if (st == CS_OK) {
        st = write_frame(s, f, ti, fmt, &stored);
    }
    if (st == CS_OK) {
        s->have_dts[ti] = true;
        s->last_dts[ti] = dts;
    }
    cs_mutex_unlock(&s->lock);
    csi_stream_run_events(s, false);

count:
    cs_mutex_lock(&s->mlock);
    if (st == CS_OK) {
        s->m.frames_put++;
        s->m.bytes_put += f->size;
    } else {
        s->m.errors_put_frame++;
    }
    wake = stored && s->wake_wanted;
    if (wake) {
        s->wake_wanted = false;
    }
    if (!stored || st != CS_OK) {
        cs_cond_broadcast(&s->cond); /* evictions may have completed a flush */
    }
    cs_mutex_unlock(&s->mlock);
    if (wake) {
        csi_producer_wake(s->p);
    }
    return st;
}

cs_status cs_stream_put_tag(cs_stream *s, const char *name, const char *value)
{
    size_t nl, vl;
    cs_status st;

    if (s == NULL || name == NULL || name[0] == '\0' ||
        strncmp(name, CS_MKV_RESERVED_TAG_PREFIX, strlen(CS_MKV_RESERVED_TAG_PREFIX)) == 0) {
        return CS_E_INVAL;
    }
    nl = strlen(name);
    vl = value != NULL ? strlen(value) : 0;
    if (nl > CS_MKV_MAX_TAG_NAME || vl > CS_MKV_MAX_TAG_VALUE) {
        return CS_E_LIMIT;
    }
    cs_mutex_lock(&s->lock);
    st = cs_mkv_fragmenter_add_tag(&s->frag, name, nl, value, vl);
    cs_mutex_unlock(&s->lock);
    return st;
}

cs_status cs_stream_flush(cs_stream *s, uint32_t timeout_ms)
{
    uint64_t target, deadline, now;
    csi_cstore_metrics cm;
    cs_status st = CS_OK;

    if (s == NULL) {
        return CS_E_INVAL;
    }
    /* End the current fragment: the next frame starts a new session and cluster, and the upload
     * body ends once everything stored so far went out, which makes the server finish (RECEIVED,
     * PERSISTED) the last fragment. */
    cs_mutex_lock(&s->lock);
    if (s->frag_ready) {
        cs_mkv_fragmenter_restart(&s->frag);
    }
    cs_mutex_lock(&s->mlock);
    if (s->fatal) {
        cs_mutex_unlock(&s->mlock);
        cs_mutex_unlock(&s->lock);
        return CS_E_STATE;
    }
    target = s->frags_put;
    if (target > s->flush_target) {
        s->flush_target = target;
    }
    cs_mutex_unlock(&s->mlock);
    cs_mutex_unlock(&s->lock);
    csi_producer_wake(s->p);

    deadline = cs_clock_monotonic_ns(NULL) + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        bool fatal;
        csi_cstore_get_metrics(s->store, &cm);
        if (cm.fragments_persisted + cm.fragments_dropped >= target) {
            break;
        }
        cs_mutex_lock(&s->mlock);
        fatal = s->fatal;
        now = cs_clock_monotonic_ns(NULL);
        if (!fatal && now < deadline) {
            /* Short waits: the store's counters move under its own lock, not ours. */
            uint64_t wait = deadline - now < 20000000u ? deadline - now : 20000000u;
            (void)cs_cond_timedwait(&s->cond, &s->mlock, wait);
        }
        cs_mutex_unlock(&s->mlock);
        if (fatal) {
            st = CS_E_STATE;
            break;
        }
        if (now >= deadline) {
            st = CS_E_TIMEOUT;
            break;
        }
    }
    return st;
}

cs_stream_state cs_stream_get_state(cs_stream *s)
{
    cs_stream_state st;

    if (s == NULL) {
        return CS_STREAM_STATE_STOPPED;
    }
    cs_mutex_lock(&s->mlock);
    st = s->state;
    cs_mutex_unlock(&s->mlock);
    return st;
}

void cs_stream_get_metrics(cs_stream *s, cs_stream_metrics *m)
{
    csi_cstore_metrics cm;
    struct csi_frag_info *fi;
    uint64_t now;

    if (m == NULL) {
        return;
    }
    memset(m, 0, sizeof(*m));
    if (s == NULL) {
        return;
    }
    csi_cstore_get_metrics(s->store, &cm); /* before mlock: store -> mlock is the order */
    now = csi_producer_now(s->p);
    cs_mutex_lock(&s->mlock);
    *m = s->m;
    m->state = s->state;
    m->fragments_sent = cm.fragments_sent;
    m->fragments_persisted = cm.fragments_persisted - s->rejected_frags;
    m->frames_dropped = cm.frames_dropped + s->rejected_frames + s->other_drop_frames;
    m->fragments_dropped = cm.fragments_dropped + s->rejected_frags;
    m->bytes_dropped = cm.bytes_dropped + s->rejected_bytes + s->other_drop_bytes;
    m->store_capacity = cm.capacity;
    m->store_bytes_used = cm.bytes_used;
    m->store_bytes_unsent = cm.bytes_unsent;
    m->store_fill_pct = cm.fill_pct;
    if (cm.fragments_stored > 0) {
        fi = csi_stream_find_info(s, cm.oldest_ts_ns, NULL);
        if (fi != NULL) {
            m->store_duration_ns =
                cm.newest_ts_ns > fi->first_ts ? cm.newest_ts_ns - fi->first_ts : 0;
            m->current_latency_ns = now > fi->put_ns ? now - fi->put_ns : 0;
        } else if (cm.newest_ts_ns > cm.oldest_ts_ns) {
            m->store_duration_ns = cm.newest_ts_ns - cm.oldest_ts_ns;
        }
    }
    cs_mutex_unlock(&s->mlock);
}
