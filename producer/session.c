/* SPDX-License-Identifier: Apache-2.0 */
/* The per-stream upload state machine, run only on the producer's I/O thread: describeStream ->
 * createStream when missing -> getDataEndpoint(PUT_MEDIA) (cached for endpoint_ttl_ms) -> putMedia
 * with a streaming body pulled from the content store (pause when drained, resumed when a frame
 * comes), acks parsed as they arrive (PERSISTED frees store space), stale connections replaced,
 * errors retried after an exponential backoff with full jitter, and every new connection rewound
 * to the oldest fragment not yet PERSISTED with a fresh stream header. Invariants:
 * docs/internals/PRODUCER.md, section "Session". */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "producer_int.h"

extern _Thread_local bool csi_on_io_thread;

/* ---------------------------------------------------------------------------------------------- */
/* Small helpers                                                                                  */
/* ---------------------------------------------------------------------------------------------- */

/* Appends a JSON string literal of `v`; returns false when it does not fit. */
static bool json_put(char *dst, size_t cap, size_t *pos, const char *v)
{
    static const char hex[] = "0123456789abcdef";
    size_t p = *pos;

    if (p + 1 >= cap) {
        return false;
    }
    dst[p++] = '"';
    for (; *v != '\0'; v++) {
        unsigned char c = (unsigned char)*v;
        if (p + 7 >= cap) {
            return false;
        }
        if (c == '"' || c == '\\') {
            dst[p++] = '\\';
            dst[p++] = (char)c;
        } else if (c < 0x20) {
            memcpy(dst + p, "\\u00", 4);
            dst[p + 4] = hex[c >> 4];
            dst[p + 5] = hex[c & 15];
            p += 6;
        } else {
            dst[p++] = (char)c;
        }
    }
    dst[p++] = '"';
    dst[p] = '\0';
    *pos = p;
    return true;
}

static bool raw_put(char *dst, size_t cap, size_t *pos, const char *v)
{
    size_t l = strlen(v);

    if (*pos + l + 1 > cap) {
        return false;
    }
    memcpy(dst + *pos, v, l + 1);
    *pos += l;
    return true;
}

/* Finds the string value of "key" in a JSON text (first occurrence, any depth) and copies it,
 * unescaping the simple escapes. A bounded scan, enough for the control plane's answers. */
static bool json_get(const char *js, size_t len, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);

    for (size_t i = 0; i + kl + 2 < len; i++) {
        size_t j, o = 0;
        if (js[i] != '"' || memcmp(js + i + 1, key, kl) != 0 || js[i + 1 + kl] != '"') {
            continue;
        }
        j = i + kl + 2;
        while (j < len && (js[j] == ' ' || js[j] == '\t' || js[j] == '\r' || js[j] == '\n')) {
            j++;
        }
        if (j >= len || js[j] != ':') {
            continue;
        }
        j++;
        while (j < len && (js[j] == ' ' || js[j] == '\t' || js[j] == '\r' || js[j] == '\n')) {
            j++;
        }
        if (j >= len || js[j] != '"') {
            continue;
        }
        for (j++; j < len && js[j] != '"'; j++) {
            char c = js[j];
            if (c == '\\' && j + 1 < len) {
                c = js[++j];
                c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
            }
            if (o + 1 >= cap) {
                return false;
            }
            out[o++] = c;
        }
        if (j >= len) {
            return false;
        }
        out[o] = '\0';
        return true;
    }
    return false;
}

static uint64_t ms_ns(uint32_t ms)
{
    return (uint64_t)ms * 1000000u;
}

static bool non_retriable(uint32_t id)
{
    switch (id) {
    case 4001:
    case 4002:
    case 4004:
    case 4006:
    case 4009:
    case 4010:
    case 4011:
    case 4012:
        return true;
    default:
        return false;
    }
}

static void count(cs_stream *s, uint64_t *field)
{
    cs_mutex_lock(&s->mlock);
    (*field)++;
    cs_mutex_unlock(&s->mlock);
}

/* ---------------------------------------------------------------------------------------------- */
/* Transitions                                                                                    */
/* ---------------------------------------------------------------------------------------------- */

static void stop_fatal(cs_stream *s, cs_status st, int http, const char *msg)
{
    cs_mutex_lock(&s->mlock);
    s->fatal = true;
    cs_mutex_unlock(&s->mlock);
    csi_stream_report_error(s, st, http, 0, true, msg);
    csi_stream_set_state(s, CS_STREAM_STATE_STOPPED);
}

/* An attempt failed: wait (exponential, full jitter), then go on at `next`. */
static void backoff(cs_stream *s, cs_stream_state next, uint64_t now)
{
    struct csi_session *ss = &s->sess;
    const cs_producer_config *pc = &s->p->cfg;
    uint64_t cap = pc->backoff_initial_ms;
    uint32_t n = ss->attempt < 30 ? ss->attempt : 30;

    for (uint32_t i = 0; i < n && cap < pc->backoff_max_ms; i++) {
        cap *= 2;
    }
    if (cap > pc->backoff_max_ms) {
        cap = pc->backoff_max_ms;
    }
    ss->attempt++;
    ss->next_ns = now + csi_producer_random(s->p, ms_ns((uint32_t)cap));
    ss->after_backoff = next;
    csi_stream_set_state(s, CS_STREAM_STATE_BACKOFF);
}

/* ---------------------------------------------------------------------------------------------- */
/* Handlers                                                                                       */
/* ---------------------------------------------------------------------------------------------- */

static cs_status h_status(void *ctx, int http_status)
{
    cs_stream *s = ctx;
    struct csi_session *ss = &s->sess;

    ss->http_status = http_status;
    if (ss->kind == CSI_CALL_PUTMEDIA && http_status == 200) {
        ss->stale_since_ns = csi_producer_now(s->p);
        csi_stream_set_state(s, CS_STREAM_STATE_STREAMING);
    }
    return CS_OK;
}

/* Frees rejected fragments that became the oldest kept one. Freeing a later one before would
 * tell the store that everything before it was persisted too (its ack mark is a high-water
 * mark). */
static void free_rejects(cs_stream *s)
{
    struct csi_session *ss = &s->sess;
    csi_cstore_metrics cm;

    while (ss->reject_count > 0) {
        size_t i, hit = SIZE_MAX;
        csi_cstore_get_metrics(s->store, &cm);
        for (i = 0; i < ss->reject_count; i++) {
            if (cm.fragments_stored == 0 || ss->rejects[i] < cm.oldest_ts_ns) {
                hit = i; /* gone already (evicted or freed) */
                break;
            }
            if (ss->rejects[i] == cm.oldest_ts_ns) {
                (void)csi_cstore_ack_persisted(s->store, ss->rejects[i], NULL);
                hit = i;
                break;
            }
        }
        if (hit == SIZE_MAX) {
            return;
        }
        ss->rejects[hit] = ss->rejects[ss->reject_count - 1];
        ss->reject_ids[hit] = ss->reject_ids[ss->reject_count - 1];
        ss->reject_count--;
    }
}

static void on_reject(cs_stream *s, const cs_kvs_ack *a)
{
    struct csi_session *ss = &s->sess;
    uint64_t key = a->fragment_timecode * CS_MKV_TIMECODE_SCALE_NS;
    struct csi_frag_info *fi;
    cs_drop d;

    for (size_t i = 0; i < ss->reject_count; i++) {
        if (ss->rejects[i] == key) {
            return; /* the same refusal of a resent fragment: reported already */
        }
    }
    memset(&d, 0, sizeof(d));
    d.reason = CS_DROP_REJECTED;
    d.error_id = a->error_id;
    d.first_ts_ns = d.last_ts_ns = key;
    cs_mutex_lock(&s->mlock);
    fi = csi_stream_find_info(s, key, NULL);
    if (fi != NULL) {
        d.first_ts_ns = fi->first_ts;
        d.last_ts_ns = fi->last_ts;
        d.frames = fi->frames;
        d.bytes = fi->bytes;
    } else if (s->cfg.timecode_mode == CS_TIMECODE_RELATIVE) {
        d.first_ts_ns = d.last_ts_ns = key + s->origin_ns;
    }
    s->rejected_frags++;
    s->rejected_frames += d.frames;
    s->rejected_bytes += d.bytes;
    cs_mutex_unlock(&s->mlock);
    if (ss->reject_count < CSI_REJECTS) {
        ss->rejects[ss->reject_count] = key;
        ss->reject_ids[ss->reject_count] = a->error_id;
        ss->reject_count++;
    }
    if (s->cfg.callbacks.on_drop != NULL) {
        s->cfg.callbacks.on_drop(s->cfg.callbacks.ctx, s, &d);
    }
    free_rejects(s);
}

static void on_ack(cs_stream *s, const cs_kvs_ack *a)
{
    struct csi_session *ss = &s->sess;
    cs_producer *p = s->p;
    uint64_t now = csi_producer_now(p);

    ss->stale_since_ns = now;
    cs_mutex_lock(&s->mlock);
    switch (a->type) {
    case CS_KVS_ACK_BUFFERING:
        s->m.fragments_buffering++;
        if (a->has_timecode) {
            ss->have_buffering = true;
            ss->buffering_key = a->fragment_timecode * CS_MKV_TIMECODE_SCALE_NS;
        }
        break;
    case CS_KVS_ACK_RECEIVED:
        s->m.fragments_received++;
        break;
    case CS_KVS_ACK_IDLE:
        s->m.acks_idle++;
        break;
    case CS_KVS_ACK_ERROR:
        s->m.acks_error++;
        break;
    default:
        break;
    }
    if (a->type == CS_KVS_ACK_PERSISTED && a->has_timecode) {
        struct csi_frag_info *fi =
            csi_stream_find_info(s, a->fragment_timecode * CS_MKV_TIMECODE_SCALE_NS, NULL);
        if (fi != NULL && fi->sent_ns != 0 && now >= fi->sent_ns) {
            s->m.last_ack_latency_ns = now - fi->sent_ns;
            if (s->m.last_ack_latency_ns > s->m.max_ack_latency_ns) {
                s->m.max_ack_latency_ns = s->m.last_ack_latency_ns;
            }
        }
    }
    cs_mutex_unlock(&s->mlock);
    if (s->cfg.callbacks.on_ack != NULL) {
        s->cfg.callbacks.on_ack(s->cfg.callbacks.ctx, s, a);
    }
    if (a->type == CS_KVS_ACK_PERSISTED && a->has_timecode) {
        (void)csi_cstore_ack_persisted(s->store, a->fragment_timecode * CS_MKV_TIMECODE_SCALE_NS,
                                       NULL);
        ss->attempt = 0;
        free_rejects(s);
        csi_stream_run_events(s, true);
        csi_stream_notify(s);
    } else if (a->type == CS_KVS_ACK_ERROR) {
        if (a->has_timecode && non_retriable(a->error_id)) {
            on_reject(s, a);
            csi_stream_run_events(s, true);
            csi_stream_notify(s);
        } else {
            /* The server may answer differently next time: reconnect and resend. */
            ss->replace = true;
            ss->redescribe = a->error_id == 4008;
            csi_stream_report_error(s, CS_E_NET, 200, a->error_id, false,
                                    "PutMedia ERROR ack: reconnecting");
            p->tr->wakeup(p->tr->self);
        }
    }
}

static cs_status h_data(void *ctx, const uint8_t *data, size_t len)
{
    cs_stream *s = ctx;
    struct csi_session *ss = &s->sess;

    if (ss->kind != CSI_CALL_PUTMEDIA || ss->http_status != 200) {
        size_t n = len < CSI_RESP_MAX - 1 - ss->resp_len ? len : CSI_RESP_MAX - 1 - ss->resp_len;
        memcpy(ss->resp + ss->resp_len, data, n);
        ss->resp_len += n;
        ss->resp[ss->resp_len] = '\0';
        return CS_OK;
    }
    /* Streaming ack lines. */
    while (len > 0) {
        const uint8_t *nl = memchr(data, '\n', len);
        size_t n = nl != NULL ? (size_t)(nl - data) + 1 : len;
        if (!ss->line_overflow && ss->line_len + n <= sizeof(ss->line)) {
            memcpy(ss->line + ss->line_len, data, n);
            ss->line_len += n;
        } else {
            ss->line_overflow = true;
        }
        if (nl != NULL) {
            cs_kvs_ack a;
            if (!ss->line_overflow && cs_kvs_ack_parse(ss->line, ss->line_len, &a) == CS_OK) {
                on_ack(s, &a);
            } else if (ss->line_len > 2 || ss->line_overflow) {
                CS_LOG_WARN(s->p->log, CSI_LOG_MOD, "stream %s: unreadable ack line skipped",
                            s->cfg.name);
            }
            ss->line_len = 0;
            ss->line_overflow = false;
        }
        data += n;
        len -= n;
    }
    return CS_OK;
}

static void h_done(void *ctx, cs_status status, int http_status)
{
    cs_stream *s = ctx;
    struct csi_session *ss = &s->sess;

    ss->done = true;
    ss->done_status = status;
    if (http_status != 0) {
        ss->http_status = http_status;
    }
}

/* Marks fragments whose last byte just went out (ack latency). mlock held. */
static void mark_sent(cs_stream *s, uint64_t sent_count, uint64_t now)
{
    struct csi_session *ss = &s->sess;

    while (ss->last_sent_count < sent_count) {
        ss->last_sent_count++;
        if (ss->sent_seq < s->frags_put && s->frags_put - ss->sent_seq <= CSI_FRAG_INFO) {
            s->info[ss->sent_seq % CSI_FRAG_INFO].sent_ns = now;
        }
        ss->sent_seq++;
    }
}

/* Whether a flush still waits for fragments to be freed; sets wake_wanted when asked. */
static bool flush_wanted(cs_stream *s, bool want_wake)
{
    csi_cstore_metrics cm;
    bool flush;

    csi_cstore_get_metrics(s->store, &cm); /* before mlock (lock order) */
    cs_mutex_lock(&s->mlock);
    if (want_wake) {
        s->wake_wanted = true;
    }
    flush = s->flush_target > cm.fragments_persisted + cm.fragments_dropped;
    cs_mutex_unlock(&s->mlock);
    return flush;
}

/* Positions the connection's first byte: the oldest fragment not yet PERSISTED, with a stream
 * header in front unless that fragment carries one. */
static void rewind_connection(cs_stream *s)
{
    struct csi_session *ss = &s->sess;
    csi_cstore_metrics cm;
    bool nh = true;
    uint64_t seq;

    (void)csi_cstore_rewind(s->store, &nh);
    ss->rewound = true;
    ss->header_pos = 0;
    csi_cstore_get_metrics(s->store, &cm);
    cs_mutex_lock(&s->mlock);
    ss->send_header = nh && s->hdr_len > 0;
    ss->last_sent_count = cm.fragments_sent;
    ss->sent_seq = s->frags_put;
    if (cm.fragments_stored > 0 && csi_stream_find_info(s, cm.oldest_ts_ns, &seq) != NULL) {
        ss->sent_seq = seq;
    }
    cs_mutex_unlock(&s->mlock);
}

static size_t h_read(void *ctx, uint8_t *dst, size_t cap, bool *pause)
{
    cs_stream *s = ctx;
    struct csi_session *ss = &s->sess;
    csi_cstore_span sp;
    csi_cstore_metrics cm;
    size_t n;
    bool flush;

    *pause = false;
    if (ss->replace) {
        *pause = true;
        return 0;
    }
    if (!ss->rewound) {
        /* Fragments kept from an earlier connection go out again first. With none, the rewind
         * waits for the first new byte (its fragment may carry its own stream header). */
        csi_cstore_get_metrics(s->store, &cm);
        if (cm.fragments_stored > 0) {
            rewind_connection(s);
        }
    }
    if (ss->send_header && ss->header_pos < s->hdr_len) {
        n = s->hdr_len - ss->header_pos < cap ? s->hdr_len - ss->header_pos : cap;
        memcpy(dst, s->hdr_buf + ss->header_pos, n);
        ss->header_pos += n;
        ss->conn_bytes += n;
        cs_mutex_lock(&s->mlock);
        s->m.bytes_sent += n;
        cs_mutex_unlock(&s->mlock);
        return n;
    }
    (void)csi_cstore_peek(s->store, &sp);
    if (sp.len == 0 && !sp.discontinuity) {
        /* Drained: ask put_frame for a wake-up, then look once more (no lost wake-up). */
        flush = flush_wanted(s, true);
        (void)csi_cstore_peek(s->store, &sp);
        if (sp.len == 0 && !sp.discontinuity) {
            if (flush) {
                /* A flush waits: end the body, so the server ends the last fragment and acks
                 * it. Every upload does so until the flushed fragments are all freed (an
                 * upload cut before its acks came resends and ends again). */
                cs_mutex_lock(&s->mlock);
                s->wake_wanted = false;
                cs_mutex_unlock(&s->mlock);
                ss->body_ended = true;
                return 0;
            }
            ss->body_paused = true;
            *pause = true;
            return 0;
        }
        cs_mutex_lock(&s->mlock);
        s->wake_wanted = false;
        cs_mutex_unlock(&s->mlock);
    }
    if (!ss->rewound) {
        rewind_connection(s);
        return h_read(ctx, dst, cap, pause);
    }
    if (sp.discontinuity) {
        /* Bytes were evicted under the upload: it is no longer one MKV stream. */
        ss->replace = true;
        *pause = true;
        s->p->tr->wakeup(s->p->tr->self);
        return 0;
    }
    n = sp.len < cap ? sp.len : cap;
    memcpy(dst, sp.data, n);
    (void)csi_cstore_skip(s->store, n);
    csi_cstore_get_metrics(s->store, &cm);
    cs_mutex_lock(&s->mlock);
    s->m.bytes_sent += n;
    mark_sent(s, cm.fragments_sent, csi_producer_now(s->p));
    cs_mutex_unlock(&s->mlock);
    ss->conn_bytes += n;
    csi_stream_run_events(s, true);
    return n;
}

/* ---------------------------------------------------------------------------------------------- */
/* Calls                                                                                          */
/* ---------------------------------------------------------------------------------------------- */

static void start_call(cs_stream *s, enum csi_call_kind kind, uint64_t now)
{
    struct csi_session *ss = &s->sess;
    cs_producer *p = s->p;
    const char *base = kind == CSI_CALL_PUTMEDIA ? ss->endpoint : p->cfg.endpoint;
    const char *path = kind == CSI_CALL_DESCRIBE   ? "/describeStream"
                       : kind == CSI_CALL_CREATE   ? "/createStream"
                       : kind == CSI_CALL_ENDPOINT ? "/getDataEndpoint"
                                                   : "/putMedia";
    char *b = (char *)s->body;
    size_t pos = 0, bl = strlen(base);
    bool ok = true;
    cs_stream_state st = kind == CSI_CALL_DESCRIBE   ? CS_STREAM_STATE_DESCRIBING
                         : kind == CSI_CALL_CREATE   ? CS_STREAM_STATE_CREATING
                         : kind == CSI_CALL_ENDPOINT ? CS_STREAM_STATE_GETTING_ENDPOINT
                                                     : CS_STREAM_STATE_CONNECTING;
    cs_status rc;

    while (bl > 0 && base[bl - 1] == '/') {
        bl--;
    }
    if (bl + strlen(path) + 1 > sizeof(ss->url)) {
        stop_fatal(s, CS_E_INVAL, 0, "endpoint URL too long");
        return;
    }
    memcpy(ss->url, base, bl);
    memcpy(ss->url + bl, path, strlen(path) + 1);

    memset(&ss->req, 0, sizeof(ss->req));
    ss->hdr_count = 0;
    ss->resp_len = 0;
    ss->resp[0] = '\0';
    ss->http_status = 0;
    ss->done = false;
    ss->done_status = CS_OK;
    ss->kind = kind;
    b[0] = '\0';
    switch (kind) {
    case CSI_CALL_DESCRIBE:
        ok = raw_put(b, s->body_cap, &pos, "{\"StreamName\":") &&
             json_put(b, s->body_cap, &pos, s->cfg.name) && raw_put(b, s->body_cap, &pos, "}");
        break;
    case CSI_CALL_ENDPOINT:
        ok = raw_put(b, s->body_cap, &pos, "{\"StreamName\":") &&
             json_put(b, s->body_cap, &pos, s->cfg.name) &&
             raw_put(b, s->body_cap, &pos, ",\"APIName\":\"PUT_MEDIA\"}");
        break;
    case CSI_CALL_CREATE: {
        char num[32];
        snprintf(num, sizeof(num), "%" PRIu32, s->cfg.retention_hours);
        ok = raw_put(b, s->body_cap, &pos, "{\"StreamName\":") &&
             json_put(b, s->body_cap, &pos, s->cfg.name) &&
             raw_put(b, s->body_cap, &pos, ",\"MediaType\":") &&
             json_put(b, s->body_cap, &pos, s->cfg.media_type) &&
             raw_put(b, s->body_cap, &pos, ",\"DataRetentionInHours\":") &&
             raw_put(b, s->body_cap, &pos, num);
        if (ok && s->cfg.stream_tag_count > 0) {
            ok = raw_put(b, s->body_cap, &pos, ",\"Tags\":{");
            for (size_t i = 0; ok && i < s->cfg.stream_tag_count; i++) {
                ok = (i == 0 || raw_put(b, s->body_cap, &pos, ",")) &&
                     json_put(b, s->body_cap, &pos, s->tags[i].name) &&
                     raw_put(b, s->body_cap, &pos, ":") &&
                     json_put(b, s->body_cap, &pos, s->tags[i].value);
            }
            ok = ok && raw_put(b, s->body_cap, &pos, "}");
        }
        ok = ok && raw_put(b, s->body_cap, &pos, "}");
        break;
    }
    case CSI_CALL_PUTMEDIA:
    case CSI_CALL_NONE:
        break;
    }
    if (!ok) {
        stop_fatal(s, CS_E_INTERNAL, 0, "request body does not fit");
        return;
    }
    if (kind != CSI_CALL_PUTMEDIA) {
        ss->hdrs[ss->hdr_count++] = (cs_transport_header){"Content-Type", "application/json"};
        ss->req.body = s->body;
        ss->req.body_len = pos;
        ss->req.timeout_ms = p->cfg.request_timeout_ms;
    } else {
        ss->hdrs[ss->hdr_count++] = (cs_transport_header){"x-amzn-stream-name", s->cfg.name};
        ss->hdrs[ss->hdr_count++] = (cs_transport_header){
            "x-amzn-fragment-timecode-type",
            s->cfg.timecode_mode == CS_TIMECODE_RELATIVE ? "RELATIVE" : "ABSOLUTE"};
        if (s->cfg.timecode_mode == CS_TIMECODE_RELATIVE) {
            uint64_t origin_ms;
            bool have;
            cs_mutex_lock(&s->mlock);
            have = s->have_origin;
            origin_ms = s->origin_ns / 1000000u;
            if (!have) {
                s->wake_wanted = true; /* the first frame wakes the I/O thread */
            }
            cs_mutex_unlock(&s->mlock);
            if (!have) {
                /* The start timestamp is the first frame's: connect once there is one. */
                ss->kind = CSI_CALL_NONE;
                ss->call = NULL;
                csi_stream_set_state(s, CS_STREAM_STATE_CONNECTING);
                return;
            }
            snprintf(ss->start_ts, sizeof(ss->start_ts), "%" PRIu64 ".%03u", origin_ms / 1000u,
                     (unsigned)(origin_ms % 1000u));
            ss->hdrs[ss->hdr_count++] =
                (cs_transport_header){"x-amzn-producer-start-timestamp", ss->start_ts};
        }
        ss->hdrs[ss->hdr_count++] = (cs_transport_header){"x-amzn-fragment-acknowledgment-required",
                                                          s->cfg.ack_required ? "1" : "0"};
        ss->req.streaming_body = true;
        ss->req.timeout_ms = 0;
        ss->line_len = 0;
        ss->line_overflow = false;
        ss->rewound = false;
        ss->send_header = false;
        ss->header_pos = 0;
        ss->body_paused = false;
        ss->body_ended = false;
        ss->replace = false;
        ss->redescribe = false;
        ss->conn_bytes = 0;
        ss->have_buffering = false;
        ss->stale_since_ns = now;
        cs_mutex_lock(&s->mlock);
        s->m.connections++;
        if (s->m.connections > 1) {
            s->m.reconnects++;
        }
        cs_mutex_unlock(&s->mlock);
    }
    ss->req.method = "POST";
    ss->req.url = ss->url;
    ss->req.connect_timeout_ms = p->cfg.connect_timeout_ms;
    ss->h.read_body = kind == CSI_CALL_PUTMEDIA ? h_read : NULL;
    ss->h.on_status = h_status;
    ss->h.on_data = h_data;
    ss->h.on_done = h_done;
    ss->h.ctx = s;
    csi_stream_set_state(s, st);

    rc = csi_producer_sign(p, ss);
    if (rc != CS_OK) {
        if (rc == CS_E_AUTH || rc == CS_E_PERM) {
            count(s, &s->m.errors_auth);
        }
        csi_stream_report_error(s, rc, 0, 0, false, "cannot sign the request (credentials)");
        backoff(s, st == CS_STREAM_STATE_CONNECTING ? CS_STREAM_STATE_CONNECTING : st, now);
        return;
    }
    ss->call_start_ns = now;
    rc = p->tr->start(p->tr->self, &ss->req, &ss->h, &ss->call);
    if (rc != CS_OK) {
        ss->call = NULL;
        ss->kind = CSI_CALL_NONE;
        count(s, &s->m.errors_network);
        csi_stream_report_error(s, rc, 0, 0, false, "transport refused the call");
        backoff(s, st, now);
    }
}

static void start_state(cs_stream *s, cs_stream_state st, uint64_t now)
{
    struct csi_session *ss = &s->sess;

    switch (st) {
    case CS_STREAM_STATE_CREATING:
        start_call(s, CSI_CALL_CREATE, now);
        break;
    case CS_STREAM_STATE_GETTING_ENDPOINT:
        if (ss->have_endpoint && now < ss->endpoint_expiry_ns) {
            start_call(s, CSI_CALL_PUTMEDIA, now);
        } else {
            start_call(s, CSI_CALL_ENDPOINT, now);
        }
        break;
    case CS_STREAM_STATE_CONNECTING:
    case CS_STREAM_STATE_STREAMING:
        if (ss->have_endpoint && now < ss->endpoint_expiry_ns) {
            start_call(s, CSI_CALL_PUTMEDIA, now);
        } else {
            start_call(s, CSI_CALL_ENDPOINT, now);
        }
        break;
    default:
        start_call(s, CSI_CALL_DESCRIBE, now);
        break;
    }
}

/* A failed HTTP exchange: count it, give up on 401/403, else back off. */
static void http_failed(cs_stream *s, cs_stream_state next, uint64_t now, const char *what)
{
    struct csi_session *ss = &s->sess;
    char msg[192], detail[96];
    int http = ss->http_status;

    if (ss->done_status != CS_OK || http == 0) {
        count(s, &s->m.errors_network);
        snprintf(msg, sizeof(msg), "%s: %s", what, cs_status_str(ss->done_status));
        csi_stream_report_error(s, ss->done_status != CS_OK ? ss->done_status : CS_E_NET, 0, 0,
                                false, msg);
        backoff(s, next, now);
        return;
    }
    count(s, &s->m.errors_http);
    if (!json_get(ss->resp, ss->resp_len, "Message", detail, sizeof(detail)) &&
        !json_get(ss->resp, ss->resp_len, "message", detail, sizeof(detail))) {
        detail[0] = '\0';
    }
    snprintf(msg, sizeof(msg), "%s: HTTP %d %s", what, http, detail);
    if (http == 401 || http == 403) {
        count(s, &s->m.errors_auth);
        stop_fatal(s, http == 401 ? CS_E_AUTH : CS_E_PERM, http, msg);
        return;
    }
    csi_stream_report_error(s, CS_E_NET, http, 0, false, msg);
    backoff(s, next, now);
}

/* A finished call. */
static void call_done(cs_stream *s, uint64_t now)
{
    struct csi_session *ss = &s->sess;
    enum csi_call_kind kind = ss->kind;
    int http = ss->http_status;
    char val[CSI_URL_MAX];
    bool ok = ss->done_status == CS_OK && http >= 200 && http < 300;

    ss->call = NULL;
    ss->kind = CSI_CALL_NONE;
    ss->done = false;
    switch (kind) {
    case CSI_CALL_DESCRIBE:
        if (ok && json_get(ss->resp, ss->resp_len, "Status", val, sizeof(val))) {
            if (strcmp(val, "ACTIVE") == 0) {
                start_state(s, CS_STREAM_STATE_GETTING_ENDPOINT, now);
            } else {
                /* CREATING/UPDATING: look again shortly (not an error) */
                ss->next_ns = now + ms_ns(s->p->cfg.backoff_initial_ms);
                ss->after_backoff = CS_STREAM_STATE_DESCRIBING;
                csi_stream_set_state(s, CS_STREAM_STATE_BACKOFF);
            }
        } else if (ss->done_status == CS_OK && http == 404) {
            if (s->cfg.create_if_missing) {
                start_call(s, CSI_CALL_CREATE, now);
            } else {
                count(s, &s->m.errors_http);
                stop_fatal(s, CS_E_NOTFOUND, 404, "the stream does not exist");
            }
        } else {
            http_failed(s, CS_STREAM_STATE_DESCRIBING, now, "describeStream");
        }
        break;
    case CSI_CALL_CREATE:
        if (ok) {
            start_call(s, CSI_CALL_DESCRIBE, now);
        } else {
            http_failed(s, CS_STREAM_STATE_DESCRIBING, now, "createStream");
        }
        break;
    case CSI_CALL_ENDPOINT:
        if (ok && json_get(ss->resp, ss->resp_len, "DataEndpoint", val, sizeof(val)) &&
            strlen(val) < sizeof(ss->endpoint) - 16) {
            memcpy(ss->endpoint, val, strlen(val) + 1);
            ss->have_endpoint = true;
            ss->endpoint_expiry_ns = now + ms_ns(s->p->cfg.endpoint_ttl_ms);
            start_call(s, CSI_CALL_PUTMEDIA, now);
        } else if (ss->done_status == CS_OK && http == 404) {
            http_failed(s, CS_STREAM_STATE_DESCRIBING, now, "getDataEndpoint");
        } else {
            http_failed(s, CS_STREAM_STATE_GETTING_ENDPOINT, now, "getDataEndpoint");
        }
        break;
    case CSI_CALL_PUTMEDIA:
        if (ss->done_status == CS_OK && http == 200 && ss->body_ended) {
            /* A flush ended the body; everything sent was acked: open the next upload. */
            start_call(s, CSI_CALL_PUTMEDIA, now);
        } else if (ss->done_status == CS_OK && http == 200) {
            /* The server ended the upload (a fatal MKV error, a takeover): resend after a
             * pause. */
            backoff(s, CS_STREAM_STATE_CONNECTING, now);
        } else {
            if (http != 200 && http != 0) {
                ss->have_endpoint = false;
            }
            http_failed(s,
                        http == 404         ? CS_STREAM_STATE_DESCRIBING
                        : ss->have_endpoint ? CS_STREAM_STATE_CONNECTING
                                            : CS_STREAM_STATE_GETTING_ENDPOINT,
                        now, "putMedia");
        }
        break;
    case CSI_CALL_NONE:
        break;
    }
}

void csi_session_close(cs_stream *s)
{
    struct csi_session *ss = &s->sess;

    if (ss->call != NULL) {
        s->p->tr->cancel(s->p->tr->self, ss->call);
        ss->call = NULL;
    }
    ss->kind = CSI_CALL_NONE;
}

uint64_t csi_session_step(cs_stream *s, uint64_t now)
{
    struct csi_session *ss = &s->sess;
    cs_producer *p = s->p;
    uint64_t next = now + ms_ns(1000);

    csi_on_io_thread = true;
    if (s->fatal || ss->state == CS_STREAM_STATE_STOPPED) {
        csi_session_close(s);
        return now + ms_ns(60000);
    }
    if (ss->call != NULL && ss->done) {
        call_done(s, now);
    }
    switch (ss->state) {
    case CS_STREAM_STATE_NEW:
        start_call(s, CSI_CALL_DESCRIBE, now);
        break;
    case CS_STREAM_STATE_BACKOFF:
        if (now >= ss->next_ns) {
            start_state(s, ss->after_backoff, now);
        } else {
            next = ss->next_ns;
        }
        break;
    case CS_STREAM_STATE_CONNECTING:
    case CS_STREAM_STATE_STREAMING: {
        csi_cstore_metrics cm;
        bool outstanding, more;
        if (ss->call == NULL) {
            if (ss->state == CS_STREAM_STATE_CONNECTING) {
                start_state(s, CS_STREAM_STATE_CONNECTING, now); /* RELATIVE: a first frame? */
            }
            break;
        }
        csi_cstore_get_metrics(s->store, &cm);
        /* Outstanding: this upload sent bytes and the store still holds data (unacked, or
         * waiting behind a connection that stopped reading; evictions may have removed
         * everything it sent; a full store may have released the bytes of fragments it still
         * keeps for their acks). */
        outstanding = ss->conn_bytes > 0 && (cm.bytes_used > 0 || cm.fragments_stored > 0);
        if (cm.bytes_unsent == 0 && cm.fragments_stored == 1 && ss->have_buffering &&
            ss->buffering_key == cm.oldest_ts_ns && !ss->body_ended && !flush_wanted(s, false)) {
            /* Only the open fragment is kept, all sent, and the server has begun it: it waits
             * for the producer's next frame (a Cluster ends only at the next one), not the
             * other way round. A paused camera does not make the connection stale (a flush
             * does wait on the server: then it counts). */
            outstanding = false;
        }
        if (ss->rewound && !ss->replace) {
            csi_cstore_span sp;
            /* Bytes evicted under the upload: replace it now rather than when it reads. */
            (void)csi_cstore_peek(s->store, &sp);
            (void)csi_cstore_skip(s->store, 0);
            if (sp.discontinuity) {
                ss->replace = true;
            }
        }
        if (ss->http_status == 0) {
            /* No status line yet: the upload gets connect + request timeouts to answer. */
            uint64_t t = ss->call_start_ns + ms_ns(p->cfg.connect_timeout_ms) +
                         ms_ns(p->cfg.request_timeout_ms);
            if (now >= t) {
                count(s, &s->m.errors_network);
                csi_stream_report_error(s, CS_E_TIMEOUT, 0, 0, false,
                                        "putMedia: no response: replacing the connection");
                ss->replace = true;
            } else if (t < next) {
                next = t;
            }
            ss->stale_since_ns = now;
        } else if (!outstanding) {
            ss->stale_since_ns = now;
        } else if (now - ss->stale_since_ns >= ms_ns(p->cfg.stale_timeout_ms)) {
            count(s, &s->m.errors_stale);
            csi_stream_report_error(s, CS_E_TIMEOUT, 0, 0, false,
                                    "no ack for stale_timeout_ms: replacing the connection");
            ss->replace = true;
        } else {
            uint64_t t = ss->stale_since_ns + ms_ns(p->cfg.stale_timeout_ms);
            next = t < next ? t : next;
        }
        if (ss->replace) {
            bool redescribe = ss->redescribe;
            csi_session_close(s);
            if (redescribe) {
                ss->have_endpoint = false;
            }
            backoff(s, redescribe ? CS_STREAM_STATE_DESCRIBING : CS_STREAM_STATE_CONNECTING, now);
            next = ss->next_ns;
            break;
        }
        more = ss->body_paused && cm.bytes_unsent == 0 && flush_wanted(s, false);
        if (ss->body_paused && (cm.bytes_unsent > 0 || more)) {
            ss->body_paused = false;
            p->tr->resume(p->tr->self, ss->call);
        }
        break;
    }
    default:
        break;
    }
    return next;
}
