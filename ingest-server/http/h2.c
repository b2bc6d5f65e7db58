/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP/2 on one connection with libnghttp2: a server session fed the received bytes and drained
 * into the connection's output when the socket can take more; several concurrent streams, each a
 * cs_http_stream. Request-body back-pressure is per stream: the window is returned
 * (nghttp2_session_consume) only for bytes the handler has taken, so a paused stream buffers at
 * most one stream window. Response bodies are DATA frames pulled from the stream's queue. */
#include <inttypes.h>
#include <sys/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "http_int.h"

#define SESSION(c) ((nghttp2_session *)(c)->h2)

/* Request body dropped after a complete response before the stream is reset. */
#define DISCARD_MAX (1024u * 1024u)

static void link_stream(struct csi_conn *c, cs_http_stream *s)
{
    s->next_in_conn = c->streams;
    s->prev_in_conn = NULL;
    if (c->streams != NULL) {
        c->streams->prev_in_conn = s;
    }
    c->streams = s;
}

static void unlink_stream(struct csi_conn *c, cs_http_stream *s)
{
    if (s->prev_in_conn != NULL) {
        s->prev_in_conn->next_in_conn = s->next_in_conn;
    } else if (c->streams == s) {
        c->streams = s->next_in_conn;
    }
    if (s->next_in_conn != NULL) {
        s->next_in_conn->prev_in_conn = s->prev_in_conn;
    }
    s->next_in_conn = s->prev_in_conn = NULL;
}

static cs_http_stream *get_stream(nghttp2_session *session, int32_t id)
{
    return nghttp2_session_get_stream_user_data(session, id);
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
    struct csi_conn *c = user;
    const cs_http_server_config *cfg = &c->srv->cfg;
    cs_http_stream *s = NULL;

    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST ||
        c->killing) {
        return 0;
    }
    if (csi_stream_new(c, frame->hd.stream_id, &s) != CS_OK) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (csi_reqhead_new(c->srv->a, cfg->max_header_bytes, cfg->max_headers, &s->head) != CS_OK) {
        csi_stream_close(s, CS_E_NOMEM);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    s->head->version = 20;
    s->head->content_length = -1;
    s->head->keep_alive = true;
    link_stream(c, s);
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, s);
    return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    cs_http_stream *s = get_stream(session, frame->hd.stream_id);
    struct csi_reqhead *r;
    uint32_t n_off;
    uint32_t v_off;

    (void)flags;
    (void)user;
    if (s == NULL || s->head_error != 0 || frame->hd.type != NGHTTP2_HEADERS ||
        frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0; /* trailers are ignored */
    }
    r = s->head;
    n_off = (uint32_t)r->len;
    if (csi_reqhead_put(r, (const char *)name, namelen, true) != CS_OK ||
        csi_reqhead_end(r) != CS_OK) {
        s->head_error = 431;
        return 0;
    }
    v_off = (uint32_t)r->len;
    if (csi_reqhead_put(r, (const char *)value, valuelen, true) != CS_OK ||
        csi_reqhead_end(r) != CS_OK || csi_reqhead_add(r, n_off, v_off) != CS_OK) {
        s->head_error = 431;
        return 0;
    }
    /* nghttp2 has already checked that names are lower case and pseudo-headers well placed. */
    if (strcmp(r->arena + n_off, ":method") == 0) {
        r->method = v_off;
        r->is_head = strcmp(r->arena + v_off, "HEAD") == 0;
    } else if (strcmp(r->arena + n_off, ":path") == 0) {
        /* Keep ":path" whole in the header list; path and query get their own copies. */
        char *q = memchr(r->arena + v_off, '?', valuelen);
        size_t plen = q != NULL ? (size_t)(q - (r->arena + v_off)) : valuelen;
        uint32_t p_off = (uint32_t)r->len;

        if (csi_reqhead_put(r, r->arena + v_off, plen, false) != CS_OK ||
            csi_reqhead_end(r) != CS_OK) {
            s->head_error = 431;
            return 0;
        }
        r->path = p_off;
        if (q != NULL) {
            uint32_t q_off = (uint32_t)r->len;
            if (csi_reqhead_put(r, q + 1, valuelen - plen - 1, false) != CS_OK ||
                csi_reqhead_end(r) != CS_OK) {
                s->head_error = 431;
                return 0;
            }
            r->query = q_off;
        }
    } else if (strcmp(r->arena + n_off, "content-length") == 0) {
        char *end = NULL;
        long long v = strtoll(r->arena + v_off, &end, 10);
        if (end != NULL && *end == '\0' && v >= 0) {
            r->content_length = v;
        }
    }
    return 0;
}

static void end_body(cs_http_stream *s)
{
    if (s->rxhold.len > 0 || s->paused) {
        s->h2_end_pending = true;
    } else {
        csi_stream_body_end(s);
    }
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
    cs_http_stream *s = get_stream(session, frame->hd.stream_id);

    (void)user;
    if (s == NULL) {
        return 0;
    }
    cs_http_stream_ref(s);
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST &&
        (frame->hd.flags & NGHTTP2_FLAG_END_HEADERS)) {
        if (s->head->method == CSI_NOOFF || s->head->path == CSI_NOOFF) {
            s->head_error = 400;
        }
        csi_stream_dispatch(s);
    }
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && !s->closed) {
        end_body(s);
    }
    cs_http_stream_unref(s);
    return 0;
}

static int on_data_chunk_recv(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                              const uint8_t *data, size_t len, void *user)
{
    cs_http_stream *s = get_stream(session, stream_id);

    (void)flags;
    (void)user;
    if (s == NULL || s->closed) {
        nghttp2_session_consume(session, stream_id, len);
        return 0;
    }
    if ((s->paused || s->rxhold.len > 0) && s->route != NULL && !s->doomed) {
        if (csi_bufq_append(&s->rxhold, data, len) != CS_OK) {
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
        return 0; /* the window is returned when the handler takes these bytes */
    }
    cs_http_stream_ref(s);
    csi_stream_body(s, data, len);
    if (s->h2_discarding && !s->closed &&
        s->body_received - s->h2_discard_from > s->srv->cfg.max_body_bytes + DISCARD_MAX) {
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_NO_ERROR);
        s->h2_discarding = false;
    }
    cs_http_stream_unref(s);
    nghttp2_session_consume(session, stream_id, len);
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user)
{
    struct csi_conn *c = user;
    cs_http_stream *s = get_stream(session, stream_id);

    if (s == NULL) {
        return 0;
    }
    nghttp2_session_set_stream_user_data(session, stream_id, NULL);
    unlink_stream(c, s);
    csi_stream_close(s, error_code == NGHTTP2_NO_ERROR && s->finished ? CS_OK : CS_E_NET);
    return 0;
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
    cs_http_stream *s = get_stream(session, frame->hd.stream_id);

    (void)user;
    if (s != NULL && (frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && !s->body_ended) {
        /* A complete response before the request ended. RFC 9113 8.1 allows RST_STREAM
         * (NO_ERROR) now, but curl 7.88 then drops the response: read and drop the rest of the
         * body instead, up to DISCARD_MAX (see on_data_chunk_recv). */
        s->h2_discarding = true;
        s->h2_discard_from = s->body_received;
    }
    return 0;
}

cs_status csi_h2_start(struct csi_conn *c)
{
    const cs_http_server_config *cfg = &c->srv->cfg;
    nghttp2_session_callbacks *cbs = NULL;
    nghttp2_option *opt = NULL;
    nghttp2_session *session = NULL;
    nghttp2_settings_entry iv[3];
    cs_status st = CS_E_NOMEM;

    if (nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0) {
        goto out;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    if (nghttp2_session_server_new2(&session, cbs, c, opt) != 0) {
        goto out;
    }
    iv[0].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
    iv[0].value = cfg->h2_max_concurrent_streams;
    iv[1].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
    iv[1].value = cfg->h2_stream_window;
    iv[2].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
    iv[2].value = (uint32_t)(cfg->max_header_bytes + 32 * cfg->max_headers);
    if (nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, iv, 3) != 0) {
        goto out;
    }
    /* The connection window: room for many streams at full speed. */
    nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0, 64 * 1024 * 1024);
    c->h2 = session;
    session = NULL;
    c->proto = CSI_PROTO_H2;
    if (c->srv->draining) {
        c->goaway_sent = true; /* server shutdown: last stream 0, every request is refused */
        csi_h2_goaway(c);
    }
    c->srv->stats.h2_connections++;
    /* Observable protocol choice: the compat tests check which one each client really used. */
    CS_LOG_DEBUG(c->srv->log, CSI_MOD, "connection speaks HTTP/2 (%s)",
                 c->tls != NULL ? "ALPN h2" : "prior knowledge");
    st = CS_OK;
out:
    if (session != NULL) {
        nghttp2_session_del(session);
    }
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    return st;
}

bool csi_h2_rx(struct csi_conn *c, const uint8_t *data, size_t len)
{
    ssize_t rv;

    if (c->h2 == NULL) {
        return false;
    }
    rv = nghttp2_session_mem_recv(SESSION(c), data, len);
    csi_conn_dirty(c);
    return rv >= 0;
}

bool csi_h2_fill(struct csi_conn *c, size_t want)
{
    while (c->out.len < want) {
        const uint8_t *p = NULL;
        ssize_t n = nghttp2_session_mem_send(SESSION(c), &p);

        if (n < 0) {
            return false;
        }
        if (n == 0) {
            break;
        }
        if (csi_bufq_append(&c->out, p, (size_t)n) != CS_OK) {
            return false;
        }
    }
    return nghttp2_session_want_read(SESSION(c)) || nghttp2_session_want_write(SESSION(c)) ||
           c->out.len > 0;
}

void csi_h2_service(struct csi_conn *c)
{
    cs_http_stream *s = c->streams;

    while (s != NULL && !c->killing) {
        cs_http_stream *next;

        cs_http_stream_ref(s);
        while (!s->paused && s->rxhold.len > 0 && !s->closed) {
            const uint8_t *p;
            size_t n = csi_bufq_peek(&s->rxhold, &p);

            csi_stream_body(s, p, n);
            csi_bufq_skip(&s->rxhold, n);
            nghttp2_session_consume(SESSION(c), s->id, n);
        }
        if (!s->paused && s->rxhold.len == 0 && s->h2_end_pending && !s->closed) {
            s->h2_end_pending = false;
            csi_stream_body_end(s);
        }
        csi_stream_fire_writable(s);
        next = s->next_in_conn;
        cs_http_stream_unref(s);
        s = next;
    }
}

void csi_h2_conn_closed(struct csi_conn *c)
{
    while (c->streams != NULL) {
        cs_http_stream *s = c->streams;

        unlink_stream(c, s);
        if (c->h2 != NULL) {
            nghttp2_session_set_stream_user_data(SESSION(c), s->id, NULL);
        }
        csi_stream_close(s, c->close_reason);
    }
    if (c->h2 != NULL) {
        nghttp2_session_del(SESSION(c));
        c->h2 = NULL;
    }
}

bool csi_h2_idle(const struct csi_conn *c)
{
    return c->streams == NULL && c->out.len == 0;
}

bool csi_h2_expects_peer(const struct csi_conn *c)
{
    for (const cs_http_stream *s = c->streams; s != NULL; s = s->next_in_conn) {
        if ((!s->body_ended && !s->paused && !s->h2_end_pending) || s->out.len > 0) {
            return true;
        }
    }
    return c->out.len > 0;
}

bool csi_h2_want_write(const struct csi_conn *c)
{
    return c->h2 != NULL && nghttp2_session_want_write(SESSION(c));
}

static ssize_t read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *user)
{
    cs_http_stream *s = source->ptr;
    size_t n = csi_bufq_read(&s->out, buf, length);

    (void)session;
    (void)stream_id;
    (void)user;
    if (s->out.len == 0 && s->finished) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        s->h2_eof_sent = true;
    } else if (n == 0) {
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

cs_status csi_h2_respond(cs_http_stream *s, int status, const cs_http_header *headers, size_t n,
                         int64_t content_length)
{
    struct csi_conn *c = s->conn;
    nghttp2_nv *nv = NULL;
    char **lower = NULL;
    char status_str[8];
    char len_str[24];
    size_t k = 0;
    nghttp2_data_provider prd;
    cs_status st = CS_E_NOMEM;

    nv = cs_calloc(c->srv->a, n + 2, sizeof(*nv));
    lower = cs_calloc(c->srv->a, n + 1, sizeof(*lower));
    if (nv == NULL || lower == NULL) {
        goto out;
    }
    snprintf(status_str, sizeof(status_str), "%d", status);
    nv[k++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status_str, 7, strlen(status_str),
                           NGHTTP2_NV_FLAG_NONE};
    for (size_t i = 0; i < n; i++) {
        size_t nl;

        if (headers[i].name == NULL || headers[i].value == NULL) {
            st = CS_E_INVAL;
            goto out;
        }
        nl = strlen(headers[i].name);
        lower[i] = cs_alloc(c->srv->a, nl + 1);
        if (lower[i] == NULL) {
            goto out;
        }
        for (size_t j = 0; j <= nl; j++) {
            char ch = headers[i].name[j];
            lower[i][j] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        }
        nv[k++] = (nghttp2_nv){(uint8_t *)lower[i], (uint8_t *)headers[i].value, nl,
                               strlen(headers[i].value), NGHTTP2_NV_FLAG_NONE};
    }
    if (content_length >= 0 && status != 204 && status != 304) {
        snprintf(len_str, sizeof(len_str), "%" PRId64, content_length);
        nv[k++] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)len_str, 14, strlen(len_str),
                               NGHTTP2_NV_FLAG_NONE};
    }
    prd.source.ptr = s;
    prd.read_callback = read_body;
    if (nghttp2_submit_response(SESSION(c), s->id, nv, k, s->resp_nobody ? NULL : &prd) != 0) {
        st = CS_E_STATE;
        goto out;
    }
    if (s->resp_nobody) {
        s->h2_eof_sent = true;
    }
    st = CS_OK;
out:
    if (lower != NULL) {
        for (size_t i = 0; i < n; i++) {
            cs_freep(c->srv->a, &lower[i]);
        }
    }
    cs_freep(c->srv->a, &lower);
    cs_freep(c->srv->a, &nv);
    return st;
}

cs_status csi_h2_write(cs_http_stream *s, const void *data, size_t len)
{
    cs_status st = csi_bufq_append(&s->out, data, len);

    if (st == CS_OK) {
        nghttp2_session_resume_data(SESSION(s->conn), s->id);
    }
    return st;
}

cs_status csi_h2_finish(cs_http_stream *s)
{
    if (!s->resp_nobody) {
        nghttp2_session_resume_data(SESSION(s->conn), s->id);
    }
    return CS_OK;
}

void csi_h2_reset(cs_http_stream *s)
{
    nghttp2_submit_rst_stream(SESSION(s->conn), NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
    csi_conn_dirty(s->conn);
}

void csi_h2_goaway(struct csi_conn *c)
{
    if (c->h2 != NULL) {
        nghttp2_submit_goaway(SESSION(c), NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(SESSION(c)), NGHTTP2_NO_ERROR,
                              NULL, 0);
    }
}

void csi_h2_end_finished(struct csi_conn *c)
{
    for (cs_http_stream *s = c->streams; s != NULL; s = s->next_in_conn) {
        if (s->h2_eof_sent && !s->body_ended && !s->closed && !s->h2_rst_sent) {
            s->h2_rst_sent = true;
            s->h2_discarding = false;
            nghttp2_submit_rst_stream(SESSION(c), NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
            csi_conn_dirty(c);
        }
    }
}

void csi_h2_consume(cs_http_stream *s, size_t len)
{
    nghttp2_session_consume(SESSION(s->conn), s->id, len);
}
