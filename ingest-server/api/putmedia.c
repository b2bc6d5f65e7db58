/* SPDX-License-Identifier: Apache-2.0 */
/*
 * POST /putMedia (PROTOCOL.md §3): a producer's endless MKV upload, answered at once with 200 and
 * a stream of JSON ack lines while the body keeps arriving. The loop thread checks the signature,
 * feeds body chunks to the media core (media.h) and copies each fragment's bytes into a
 * per-fragment buffer prefixed with the session's stream header and the producer's tags, so the
 * buffer is a standalone MKV. Completed fragments are persisted one at a time per upload on the
 * HTTP worker pool: exactly-once lookup in the index, store put (durable), index insert (durable),
 * then PERSISTED on the loop. Invariants (ack order, durability order, memory bounds,
 * back-pressure) are in docs/internals/PUTMEDIA.md.
 */
#define _POSIX_C_SOURCE 200809L

#include "api_int.h"
#include "putmedia.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "camstream/auth.h"
#include "camstream/kvs_ack.h"
#include "camstream/mkv_write.h"
#include "live.h"
#include "media.h"
#include "metrics.h"
#include "upkeep.h"

#define MOD "putmedia"

/** Fragments received and not yet persisted before the request body is paused. */
#define PM_MAX_WAITING 3
/** ErrorIds this file sends besides the core's. */
#define PM_ERR_READ 4000
#define PM_ERR_STREAM_NOT_ACTIVE 4008
#define PM_ERR_INTERNAL 5000
#define PM_ERR_ARCHIVAL 5001

struct upload;

struct csi_putmedia {
    struct csi_putmedia_config cfg;
    struct upload *uploads; /* loop thread: uploads past the stream lookup (takeover) */
    bool draining;          /* csi_putmedia_drain() was called: no new upload starts */
};

/* One fragment: from fragment_begin to the end of its persist job. Its bytes (the stored
 * object: stream header + producer Tags + Cluster), number and server timestamp are the live
 * hub's fragment `lf` (live.h), which forwards them to GetMedia consumers as they arrive. */
struct frag {
    struct frag *next;
    struct upload *up;
    struct csi_live_frag *lf;
    bool ended;
    uint64_t timecode_ms;
    uint64_t producer_ms;
    uint64_t duration_ms;
    uint64_t size; /* Cluster bytes */
    uint32_t crc32c;
    uint64_t received_ns;
    /* Filled by the job (and by insert_done, after the job handed its row to the group
     * commit). */
    cs_status st;
    bool existed;
    bool stream_gone;
    char number[CS_INDEX_FRAGMENT_NUMBER_SIZE];
    cs_index_fragment row;
    cs_http_job *job; /* the deferred persist job, completed by insert_done */
};

enum phase { PH_LOOKUP, PH_RUN, PH_DONE };

struct upload {
    struct csi_putmedia *pm;
    cs_http_stream *s;
    struct upload *next; /* in pm->uploads */
    bool registered;
    enum phase phase;
    char name[CS_INDEX_NAME_SIZE];
    char arn[CS_INDEX_ARN_SIZE];
    char key_prefix[64];                             /* streams/<hash>/fragments/ */
    char last_number[CS_INDEX_FRAGMENT_NUMBER_SIZE]; /* the index's, at lookup: seeds the hub */
    size_t last_len; /* bytes of the upload's previous fragment: the next one's buffer size */
    cs_media_config mcfg;
    cs_media *m;
    bool ack_required;
    /* The stream lookup job's result. */
    cs_status lookup_st;
    /* Fragments. */
    struct frag *cur;                /* being received */
    struct frag *queue, *queue_tail; /* received, waiting for their job */
    struct frag *inflight;           /* the job's */
    size_t waiting;                  /* queued + in flight */
    bool job_running;                /* a lookup or persist job holds the upload */
    bool paused;
    bool body_ended;
    bool failed;          /* no more body is fed (fatal error or takeover) */
    bool persist_failed;  /* a fragment's persist failed: nothing after it is persisted */
    bool superseded;      /* a newer upload of the stream took over */
    bool finished;        /* the response was finished */
    bool closed;          /* on_close came */
    uint64_t last_ack_ns; /* monotonic time of the last ack line (or of the 200) */
};

/* ---------------------------------------------------------------------------------------------- */
/* Acks and responses (loop thread)                                                               */
/* ---------------------------------------------------------------------------------------------- */

static void send_ack(struct upload *up, cs_kvs_ack_type type, bool has_tc, uint64_t tc,
                     const char *number, uint32_t error_id)
{
    cs_kvs_ack ack;
    char line[CS_KVS_ACK_MAX_LINE];
    size_t n = 0;
    if (type == CS_KVS_ACK_ERROR) {
        cs_metrics_putmedia_error(cs_metrics_default(), error_id);
    }
    if (up->closed || up->finished) {
        return;
    }
    if (!up->ack_required && type != CS_KVS_ACK_ERROR) {
        return;
    }
    memset(&ack, 0, sizeof(ack));
    ack.type = type;
    ack.has_timecode = has_tc;
    ack.fragment_timecode = tc;
    ack.error_id = error_id;
    if (number != NULL && number[0] != '\0') {
        cs_kvs_ack_set_number(&ack, number, strlen(number));
    }
    if (cs_kvs_ack_format(&ack, line, sizeof(line), &n) == CS_OK) {
        cs_http_stream_write(up->s, line, n);
        up->last_ack_ns = cs_clock_monotonic_ns(up->pm->cfg.clock);
    }
}

/* IDLE acks (PROTOCOL.md §3: keep-alive while no data flows): the server's housekeeping tick
 * (about once a second, loop thread) sends one on every running upload that has had no ack line
 * for idle_ack_ms, so a producer can tell a quiet connection from a dead one. */
static void idle_tick(void *arg)
{
    struct csi_putmedia *pm = arg;
    uint64_t now = cs_clock_monotonic_ns(pm->cfg.clock);
    uint64_t idle = (uint64_t)(pm->cfg.idle_ack_ms ? pm->cfg.idle_ack_ms : 3000) * 1000000u;
    for (struct upload *up = pm->uploads; up != NULL; up = up->next) {
        if (up->phase == PH_RUN && !up->finished && !up->closed && !up->failed &&
            now - up->last_ack_ns >= idle) {
            send_ack(up, CS_KVS_ACK_IDLE, false, 0, NULL, 0);
            up->last_ack_ns = now; /* also when acks are off: no line, no busy retry */
        }
    }
}

/* The service's error format; only before the 200 went out. */
static void respond_error(cs_http_stream *s, int status, const char *type, const char *message)
{
    csi_api_respond(s, status, type, message);
}

/* ---------------------------------------------------------------------------------------------- */
/* Fragments                                                                                      */
/* ---------------------------------------------------------------------------------------------- */

/* Frees a fragment that will not be (or was not) persisted: one cut before its end is
 * abandoned in the hub (consumers in the middle of it are aborted). */
static void frag_free(struct frag *f)
{
    if (f != NULL) {
        if (f->ended) {
            csi_live_frag_done(f->lf, NULL);
        } else {
            csi_live_frag_abort(f->lf);
        }
        free(f);
    }
}

static void upload_free(struct upload *up)
{
    struct frag *f;
    frag_free(up->cur);
    while ((f = up->queue) != NULL) {
        up->queue = f->next;
        frag_free(f);
    }
    if (up->m != NULL) {
        cs_metrics_gauge_add(cs_metrics_default(), CS_M_UPLOADS, -1); /* upload_started's */
    }
    cs_media_destroy(&up->m);
    cs_http_stream_unref(up->s);
    free(up);
}

static void unregister(struct upload *up)
{
    struct upload **pp = &up->pm->uploads;
    if (!up->registered) {
        return;
    }
    for (; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == up) {
            *pp = up->next;
            break;
        }
    }
    up->registered = false;
}

/* Ends the response once nothing is left to acknowledge; frees the upload once closed and idle.
 * Returns true when `up` was freed. */
static bool settle(struct upload *up)
{
    if (up->closed) {
        if (!up->job_running && up->queue == NULL) {
            upload_free(up);
            return true;
        }
        return false;
    }
    if (!up->finished && up->phase == PH_RUN && up->waiting == 0 &&
        (up->body_ended || up->failed)) {
        cs_http_stream_finish(up->s);
        up->finished = true;
        up->phase = PH_DONE;
        unregister(up);
    }
    return false;
}

static void persist_job(void *arg);
static void persist_done(void *arg);

/* Starts the next persist job when none runs (one per upload keeps numbers and PERSISTED acks
 * in fragment order). */
static void kick(struct upload *up)
{
    struct frag *f;
    /* After a failed persist the producer re-sends from that fragment (on a new connection);
     * storing a later fragment of this upload first would put the stream's numbers out of
     * producer-timestamp order. The queued ones get the same ERROR and are not stored. */
    while (up->persist_failed && !up->job_running && (f = up->queue) != NULL) {
        up->queue = f->next;
        if (up->queue == NULL) {
            up->queue_tail = NULL;
        }
        up->waiting--;
        send_ack(up, CS_KVS_ACK_ERROR, true, f->timecode_ms, NULL, PM_ERR_ARCHIVAL);
        frag_free(f);
    }
    f = up->queue;
    if (up->job_running || f == NULL) {
        return;
    }
    up->queue = f->next;
    if (up->queue == NULL) {
        up->queue_tail = NULL;
    }
    f->next = NULL;
    up->inflight = f;
    up->job_running = true;
    if (cs_http_server_submit_bulk(up->pm->cfg.srv, persist_job, persist_done, f) != CS_OK) {
        /* Stopping: the fragment is not persisted; nothing was acknowledged as such. */
        f->st = CS_E_STATE;
        up->job_running = false;
        up->inflight = NULL;
        up->waiting--;
        send_ack(up, CS_KVS_ACK_ERROR, true, f->timecode_ms, NULL, PM_ERR_INTERNAL);
        frag_free(f);
    }
}

/* The index insert's verdict (on the thread that led its group commit, or inline). */
static void insert_done(void *arg, cs_status st, bool existed)
{
    struct frag *f = arg;
    struct upload *up = f->up;
    if (st == CS_E_NOTFOUND) {
        f->stream_gone = true; /* deleted mid-upload; the object is an orphan */
        cs_store_delete(up->pm->cfg.store, f->row.object_key);
    }
    f->st = st;
    f->existed = existed;
    snprintf(f->number, sizeof(f->number), "%s", f->row.number);
    cs_http_job_complete(f->job); /* persist_done on the loop (NULL: the job returns it) */
}

/* Worker thread: exactly-once check, durable store put, then the durable index insert, handed to
 * the index's group commit without waiting for it (the job is deferred: persist_done runs once
 * the commit reported). A worker thus holds a fragment only for its store put, and the fsyncs of
 * store puts and index commits overlap. */
static void persist_job(void *arg)
{
    struct frag *f = arg;
    struct upload *up = f->up;
    const struct csi_putmedia_config *cfg = &up->pm->cfg;
    cs_index_fragment *row = &f->row;
    char key[CS_STORE_KEY_MAX + 1];
    char checksum[16];
    cs_status st;
    bool existed = false;
    size_t len = 0;
    const uint8_t *bytes = csi_live_frag_bytes(f->lf, &len); /* no longer changes */
    snprintf(checksum, sizeof(checksum), "crc32c:%08" PRIx32, f->crc32c);
    st = cs_index_fragment_find(cfg->index, up->name, (int64_t)f->producer_ms, f->size, checksum,
                                row);
    if (st == CS_OK) {
        f->existed = true;
        snprintf(f->number, sizeof(f->number), "%s", row->number);
        f->st = CS_OK;
        return;
    }
    if (st != CS_E_NOTFOUND) {
        f->st = st;
        return;
    }
    /* The key is a function of the content, so a put repeated after a crash between put and
     * insert replaces the same object instead of leaving a second one. */
    snprintf(key, sizeof(key), "%s%020" PRIu64 "-%" PRIu64 "-%08" PRIx32 ".mkv", up->key_prefix,
             f->producer_ms, f->size, f->crc32c);
    st = cs_store_put(cfg->store, key, bytes, len);
    if (st != CS_OK) {
        CS_LOG_ERROR(cfg->logger, MOD, "stream %s: store put %s failed: %s", up->name, key,
                     cs_status_str(st));
        f->st = st;
        return;
    }
    memset(row, 0, sizeof(*row));
    /* The number and server timestamp reserved at fragment_begin (the index keeps them unless
     * they would not be above its last number; then it makes a new one, see INDEX.md). */
    snprintf(row->number, sizeof(row->number), "%s", csi_live_frag_number(f->lf));
    row->server_ms = csi_live_frag_server_ms(f->lf);
    row->producer_ms = (int64_t)f->producer_ms;
    row->duration_ms = (int64_t)f->duration_ms;
    row->size = f->size;
    snprintf(row->object_key, sizeof(row->object_key), "%s", key);
    snprintf(row->checksum, sizeof(row->checksum), "%s", checksum);
    f->job = cs_http_job_defer();
    if (f->job == NULL ||
        cs_index_fragment_insert_async(cfg->index, up->name, row, insert_done, f) != CS_OK) {
        /* Not on a pool worker, or no memory for the request: wait for the commit here. */
        st = cs_index_fragment_insert(cfg->index, up->name, row, &existed);
        insert_done(f, st, existed);
    }
}

/* Loop thread: the verdict of one fragment. */
static void persist_done(void *arg)
{
    struct frag *f = arg;
    struct upload *up = f->up;
    const cs_logger *lg = up->pm->cfg.logger;
    up->job_running = false;
    up->inflight = NULL;
    up->waiting--;
    if (f->st == CS_OK) {
        CS_LOG_DEBUG(lg, MOD, "stream %s: fragment %s %s %.3f ms after its end", up->name,
                     f->number, f->existed ? "already stored" : "persisted",
                     (double)(cs_clock_monotonic_ns(up->pm->cfg.clock) - f->received_ns) / 1e6);
        send_ack(up, CS_KVS_ACK_PERSISTED, true, f->timecode_ms, f->number, 0);
        cs_metrics_persisted(cs_metrics_default(),
                             cs_clock_monotonic_ns(up->pm->cfg.clock) - f->received_ns);
        /* In the index now: consumers may find it there. */
        csi_live_frag_done(f->lf, f->existed ? NULL : f->number);
        f->lf = NULL;
    } else if (f->stream_gone) {
        send_ack(up, CS_KVS_ACK_ERROR, true, f->timecode_ms, NULL, PM_ERR_STREAM_NOT_ACTIVE);
        up->failed = true;
    } else {
        send_ack(up, CS_KVS_ACK_ERROR, true, f->timecode_ms, NULL, PM_ERR_ARCHIVAL);
        /* This upload stores nothing more (see kick()); its response ends once the queued
         * fragments are answered, and the producer re-sends from this one. */
        up->persist_failed = true;
        up->failed = true; /* no more body is read */
        if (!up->paused) {
            up->paused = true;
            cs_http_stream_pause_body(up->s, true);
        }
    }
    if (f->lf != NULL) {
        csi_live_frag_done(f->lf, NULL);
    }
    free(f);
    if (up->paused && up->waiting <= PM_MAX_WAITING && !up->failed && !up->closed) {
        up->paused = false;
        cs_http_stream_pause_body(up->s, false);
    }
    kick(up);
    settle(up);
}

/* ---------------------------------------------------------------------------------------------- */
/* The media core's sink (loop thread)                                                            */
/* ---------------------------------------------------------------------------------------------- */

/* No more body is read or fed; the response ends once the queued fragments are acked. */
static void stop_reading(struct upload *up)
{
    up->failed = true;
    if (!up->paused) {
        up->paused = true;
        cs_http_stream_pause_body(up->s, true);
    }
}

static cs_status on_fragment_begin(void *ctx, const cs_media_fragment *mf)
{
    struct upload *up = ctx;
    struct frag *f;
    const uint8_t *hdr;
    uint8_t *prefix;
    size_t hdr_len = 0, tags_len = 0;
    cs_mkv_tag tags[16];
    size_t n = mf->tag_count < 16 ? mf->tag_count : 16;
    cs_mkv_writer w;
    cs_status st;
    frag_free(up->cur);
    up->cur = NULL;
    if (up->pm->draining) {
        /* Shutting down: the fragments before this one are whole and queued; this one is not
         * read (the producer re-sends it to the next server). */
        stop_reading(up);
        return CS_E_CANCELLED;
    }
    hdr = cs_media_header(up->m, &hdr_len);
    if (hdr == NULL) {
        return CS_E_NOMEM;
    }
    /* The prefix of the stored object: the session's stream header, then the producer's tags. */
    for (size_t i = 0; i < n; i++) {
        tags[i] = (cs_mkv_tag){mf->tags[i].name, mf->tags[i].name_len, mf->tags[i].value,
                               mf->tags[i].value_len};
    }
    if (n > 0) {
        cs_mkv_writer_init(&w, NULL, 0);
        cs_mkv_put_tags(&w, tags, n);
        if (cs_mkv_writer_finish(&w, &tags_len) != CS_OK) {
            tags_len = 0;
        }
    }
    prefix = malloc(hdr_len + tags_len + 1);
    f = calloc(1, sizeof(*f));
    if (prefix == NULL || f == NULL) {
        free(prefix);
        free(f);
        return CS_E_NOMEM;
    }
    memcpy(prefix, hdr, hdr_len);
    if (tags_len > 0) {
        cs_mkv_writer_init(&w, prefix + hdr_len, tags_len);
        cs_mkv_put_tags(&w, tags, n);
        if (cs_mkv_writer_finish(&w, NULL) != CS_OK) {
            tags_len = 0;
        }
    }
    f->up = up;
    f->timecode_ms = mf->timecode_ms;
    f->producer_ms = mf->producer_timestamp_ms;
    st = csi_live_frag_begin(up->pm->cfg.live, up->name, prefix, hdr_len + tags_len,
                             (int64_t)f->producer_ms, up->last_len + up->last_len / 4, &f->lf);
    free(prefix);
    if (st != CS_OK) {
        free(f);
        return st;
    }
    up->cur = f;
    send_ack(up, CS_KVS_ACK_BUFFERING, true, f->timecode_ms, csi_live_frag_number(f->lf), 0);
    return CS_OK;
}

static cs_status on_fragment_data(void *ctx, const cs_media_fragment *mf, const uint8_t *data,
                                  size_t len)
{
    struct upload *up = ctx;
    (void)mf;
    if (up->cur == NULL) {
        return CS_OK;
    }
    return csi_live_frag_data(up->cur->lf, data, len);
}

static cs_status on_fragment_end(void *ctx, const cs_media_fragment *mf)
{
    struct upload *up = ctx;
    struct frag *f = up->cur;
    if (f == NULL) {
        return CS_OK;
    }
    up->cur = NULL;
    f->size = mf->size;
    f->crc32c = mf->crc32c;
    f->duration_ms = mf->duration_ms;
    f->received_ns = cs_clock_monotonic_ns(up->pm->cfg.clock);
    f->ended = true;
    csi_live_frag_end(f->lf);
    (void)csi_live_frag_bytes(f->lf, &up->last_len);
    send_ack(up, CS_KVS_ACK_RECEIVED, true, f->timecode_ms, csi_live_frag_number(f->lf), 0);
    if (up->queue_tail) {
        up->queue_tail->next = f;
    } else {
        up->queue = f;
    }
    up->queue_tail = f;
    up->waiting++;
    if (up->waiting > PM_MAX_WAITING && !up->paused) {
        up->paused = true;
        cs_http_stream_pause_body(up->s, true);
    }
    kick(up);
    return CS_OK;
}

static cs_status on_media_error(void *ctx, const cs_media_error *e)
{
    struct upload *up = ctx;
    if (e->begun) {
        frag_free(up->cur);
        up->cur = NULL;
    }
    CS_LOG_INFO(up->pm->cfg.logger, MOD, "stream %s: ErrorId %u at offset %" PRIu64 ": %s",
                up->name, (unsigned)e->error_id, e->offset, e->message ? e->message : "");
    send_ack(up, CS_KVS_ACK_ERROR, e->fragment != NULL, e->fragment ? e->fragment->timecode_ms : 0,
             NULL, e->error_id);
    if (e->fatal) {
        up->failed = true;
    }
    return CS_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* The request (loop thread) and the stream lookup (worker)                                       */
/* ---------------------------------------------------------------------------------------------- */

static void lookup_job(void *arg)
{
    struct upload *up = arg;
    const struct csi_putmedia_config *cfg = &up->pm->cfg;
    cs_index_stream st;
    cs_status s = cs_index_stream_get(cfg->index, up->name[0] ? up->name : NULL,
                                      up->arn[0] ? up->arn : NULL, &st);
    if (s == CS_E_NOTFOUND && cfg->auto_create && up->name[0] && !up->arn[0]) {
        cs_index_stream_init(&st);
        snprintf(st.name, sizeof(st.name), "%s", up->name);
        st.retention_hours = 24;
        s = cs_index_stream_create(cfg->index, &st, NULL, 0);
        if (s == CS_E_EXISTS) { /* a concurrent create */
            s = cs_index_stream_get(cfg->index, up->name, NULL, &st);
        }
    }
    if (s == CS_OK && st.status != CS_INDEX_ACTIVE) {
        s = CS_E_NOTFOUND;
    }
    if (s == CS_OK) {
        char prefix[32];
        cs_index_fragment last;
        snprintf(up->name, sizeof(up->name), "%s", st.name);
        /* the layout recovery and the sweeper read back (upkeep.h) */
        cs_upkeep_stream_prefix(st.arn, prefix);
        snprintf(up->key_prefix, sizeof(up->key_prefix), "%sfragments/", prefix);
        /* The stream's object directories now, not in its first fragment's persist (that adds
         * two directory creations and their parents' fsyncs to its ack). An error here is met
         * again, and reported, by the put. */
        (void)cs_store_prepare(cfg->store, up->key_prefix);
        if (cs_index_fragment_edge(cfg->index, up->name, true, &last) == CS_OK) {
            snprintf(up->last_number, sizeof(up->last_number), "%s", last.number);
        }
    }
    up->lookup_st = s;
}

static void lookup_done(void *arg)
{
    struct upload *up = arg;
    struct csi_putmedia *pm = up->pm;
    cs_media_sink sink;
    cs_http_header h[1] = {{"content-type", "application/json"}};
    up->job_running = false;
    if (up->closed) {
        settle(up);
        return;
    }
    if (pm->draining) {
        respond_error(up->s, 503, "ClientLimitExceededException", "The server is shutting down.");
        up->phase = PH_DONE;
        return;
    }
    if (up->lookup_st == CS_E_NOTFOUND || up->lookup_st == CS_E_INVAL) {
        respond_error(up->s, 404, "ResourceNotFoundException",
                      "The requested stream is not found or not active.");
        up->phase = PH_DONE;
        return;
    }
    if (up->lookup_st != CS_OK) {
        respond_error(up->s, 500, "InternalFailure", "The stream lookup failed.");
        up->phase = PH_DONE;
        return;
    }
    memset(&sink, 0, sizeof(sink));
    sink.ctx = up;
    sink.fragment_begin = on_fragment_begin;
    sink.fragment_data = on_fragment_data;
    sink.fragment_end = on_fragment_end;
    sink.error = on_media_error;
    if (csi_live_seed(pm->cfg.live, up->name, up->last_number) != CS_OK ||
        cs_media_create(&up->mcfg, &sink, &up->m) != CS_OK) {
        respond_error(up->s, 500, "InternalFailure", "Out of memory.");
        up->phase = PH_DONE;
        return;
    }
    cs_metrics_upload_started(cs_metrics_default()); /* undone in upload_free() */
    if (cs_http_stream_respond(up->s, 200, h, 1, -1) != CS_OK) {
        up->phase = PH_DONE;
        return;
    }
    up->phase = PH_RUN;
    up->last_ack_ns = cs_clock_monotonic_ns(up->pm->cfg.clock);
    /* One upload per stream: a newer connection takes over; the older one stops reading, gets
     * an ERROR ack (4000, no fragment: the server stopped reading this connection), lets its
     * received fragments finish persisting, then ends its response. */
    for (struct upload *o = pm->uploads; o != NULL; o = o->next) {
        if (strcmp(o->name, up->name) == 0 && !o->superseded) {
            CS_LOG_INFO(pm->cfg.logger, MOD, "stream %s: a newer upload takes over", up->name);
            o->superseded = true;
            o->failed = true;
            send_ack(o, CS_KVS_ACK_ERROR, false, 0, NULL, PM_ERR_READ);
            frag_free(o->cur);
            o->cur = NULL;
            if (!o->paused) {
                o->paused = true;
                cs_http_stream_pause_body(o->s, true);
            }
        }
    }
    for (struct upload *o = pm->uploads; o != NULL;) {
        struct upload *next = o->next;
        if (o->superseded) {
            settle(o);
        }
        o = next;
    }
    up->next = pm->uploads;
    pm->uploads = up;
    up->registered = true;
    up->paused = false;
    cs_http_stream_pause_body(up->s, false);
    settle(up); /* the body may already have ended (an empty upload) */
}

static void on_request(cs_http_stream *s, void *user)
{
    struct csi_putmedia *pm = user;
    struct upload *up;
    const char *name = cs_http_stream_header(s, "x-amzn-stream-name");
    const char *arn = cs_http_stream_header(s, "x-amzn-stream-arn");
    const char *tc = cs_http_stream_header(s, "x-amzn-fragment-timecode-type");
    const char *start = cs_http_stream_header(s, "x-amzn-producer-start-timestamp");
    const char *ackreq = cs_http_stream_header(s, "x-amzn-fragment-acknowledgment-required");
    int status = 0;
    const char *etype = NULL;
    char msg[512];
    cs_metrics_request(cs_metrics_default(), "/putMedia");
    if (!csi_api_authorize(pm->cfg.api, s, NULL, 0, &status, &etype, msg, sizeof(msg))) {
        respond_error(s, status, etype, msg);
        return;
    }
    if ((name == NULL || name[0] == '\0') && (arn == NULL || arn[0] == '\0')) {
        respond_error(s, 400, "InvalidArgumentException",
                      "x-amzn-stream-name or x-amzn-stream-arn is required.");
        return;
    }
    if ((name && strlen(name) >= CS_INDEX_NAME_SIZE) || (arn && strlen(arn) >= CS_INDEX_ARN_SIZE)) {
        respond_error(s, 400, "InvalidArgumentException", "The stream name or ARN is too long.");
        return;
    }
    if (tc != NULL && strcmp(tc, "ABSOLUTE") != 0 && strcmp(tc, "RELATIVE") != 0) {
        respond_error(s, 400, "InvalidArgumentException",
                      "x-amzn-fragment-timecode-type must be ABSOLUTE or RELATIVE.");
        return;
    }
    if (pm->cfg.store == NULL) {
        respond_error(s, 500, "InternalFailure", "The server has no object store.");
        return;
    }
    up = calloc(1, sizeof(*up));
    if (up == NULL) {
        respond_error(s, 500, "InternalFailure", "Out of memory.");
        return;
    }
    up->pm = pm;
    up->s = s;
    cs_http_stream_ref(s); /* released by upload_free() */
    snprintf(up->name, sizeof(up->name), "%s", name ? name : "");
    snprintf(up->arn, sizeof(up->arn), "%s", arn ? arn : "");
    up->ack_required = ackreq == NULL || strcmp(ackreq, "0") != 0;
    cs_media_config_init(&up->mcfg);
    up->mcfg.timecode_type = tc != NULL && strcmp(tc, "RELATIVE") == 0 ? CS_MEDIA_TIMECODE_RELATIVE
                                                                       : CS_MEDIA_TIMECODE_ABSOLUTE;
    if (start != NULL && cs_media_parse_start_timestamp(start, strlen(start),
                                                        &up->mcfg.producer_start_ms) == CS_OK) {
        up->mcfg.has_producer_start = true;
    }
    /* An invalid start timestamp is reported by the core (4007) at the first cluster of a
     * RELATIVE upload, as an ack. */
    cs_http_stream_set_data(s, up);
    /* No body is read until the stream is known. */
    up->paused = true;
    cs_http_stream_pause_body(s, true);
    up->job_running = true;
    if (cs_http_server_submit(pm->cfg.srv, lookup_job, lookup_done, up) != CS_OK) {
        up->job_running = false;
        cs_http_stream_set_data(s, NULL);
        upload_free(up);
        respond_error(s, 503, "ClientLimitExceededException", "The server is shutting down.");
    }
}

static void on_body(cs_http_stream *s, const uint8_t *data, size_t len, void *user)
{
    struct upload *up = cs_http_stream_data(s);
    (void)user;
    if (up == NULL || up->phase != PH_RUN || up->failed || up->m == NULL) {
        return;
    }
    if (cs_media_feed(up->m, data, len) == CS_E_NOMEM) {
        send_ack(up, CS_KVS_ACK_ERROR, false, 0, NULL, PM_ERR_INTERNAL);
        up->failed = true;
        frag_free(up->cur);
        up->cur = NULL;
    }
    settle(up);
}

static void on_body_end(cs_http_stream *s, void *user)
{
    struct upload *up = cs_http_stream_data(s);
    (void)user;
    if (up == NULL) {
        return;
    }
    up->body_ended = true;
    if (up->phase == PH_RUN && !up->failed && up->m != NULL) {
        cs_media_finish(up->m);
    }
    settle(up);
}

static void on_close(cs_http_stream *s, cs_status why, void *user)
{
    struct upload *up = cs_http_stream_data(s);
    (void)why;
    (void)user;
    if (up == NULL) {
        return;
    }
    cs_http_stream_set_data(s, NULL);
    up->closed = true;
    unregister(up);
    /* A fragment cut by the disconnect is dropped; received ones still get persisted (the
     * producer re-sends them and the exactly-once check acks them). */
    frag_free(up->cur);
    up->cur = NULL;
    settle(up);
}

cs_status csi_putmedia_add_route(const struct csi_putmedia_config *cfg, struct csi_putmedia **out)
{
    struct csi_putmedia *pm = calloc(1, sizeof(*pm));
    cs_http_route r;
    cs_status st;
    *out = NULL;
    if (pm == NULL) {
        return CS_E_NOMEM;
    }
    pm->cfg = *cfg;
    memset(&r, 0, sizeof(r));
    r.method = "POST";
    r.path = "/putMedia";
    r.flags = CS_HTTP_ROUTE_STREAMING;
    r.on_request = on_request;
    r.on_body = on_body;
    r.on_body_end = on_body_end;
    r.on_close = on_close;
    r.user = pm;
    st = cs_http_server_add_route(cfg->srv, &r);
    if (st == CS_OK) {
        st = cs_http_server_add_tick(cfg->srv, idle_tick, pm);
    }
    if (st != CS_OK) {
        free(pm);
        return st;
    }
    *out = pm;
    return CS_OK;
}

void csi_putmedia_drain(struct csi_putmedia *pm)
{
    struct upload *o, *next;
    if (pm == NULL) {
        return;
    }
    pm->draining = true;
    for (o = pm->uploads; o != NULL; o = next) {
        next = o->next;
        if (o->phase != PH_RUN || o->finished || o->closed) {
            continue;
        }
        /* An upload in the middle of a fragment reads on until that fragment ends (the next
         * Cluster starts: on_fragment_begin stops it there), so that it is stored whole: a
         * fragment cut short would be acked PERSISTED by its timecode and the producer would
         * drop the frames that were never stored. One between fragments stops now. The
         * server's shutdown timeout bounds the wait; a fragment still open then is not acked
         * and the producer re-sends it. */
        if (o->cur == NULL) {
            stop_reading(o);
        }
        settle(o);
    }
}

size_t csi_putmedia_active(const struct csi_putmedia *pm)
{
    size_t n = 0;
    if (pm == NULL) {
        return 0;
    }
    for (const struct upload *o = pm->uploads; o != NULL; o = o->next) {
        n += !o->finished && !o->closed;
    }
    return n;
}

void csi_putmedia_destroy(struct csi_putmedia **ppm)
{
    if (ppm == NULL || *ppm == NULL) {
        return;
    }
    free(*ppm);
    *ppm = NULL;
}
