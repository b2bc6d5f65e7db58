/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP/1.1 on one connection: drives the socket-free parser (parse.c) with received bytes, one
 * request at a time (a pipelined request waits, unread, until the previous response is complete:
 * requests are processed sequentially, never refused), frames responses (content-length or
 * chunked), answers Expect: 100-continue, and decides keep-alive or close. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

/* Received bytes held back (handler paused, or a pipelined request waiting) beyond which the
 * socket is no longer read. */
#define HOLD_MAX (64u * 1024u)

static bool can_feed(const struct csi_conn *c)
{
    const cs_http_stream *s = c->cur;

    if (c->killing || c->lingering || c->close_after) {
        return false;
    }
    return s == NULL || (!s->paused && !s->body_ended);
}

static enum csi_verdict verdict_for(const struct csi_conn *c)
{
    if (c->killing) {
        return CSI_STOP;
    }
    if (!can_feed(c)) {
        return CSI_PAUSE;
    }
    return CSI_GO;
}

static void raw_error(struct csi_conn *c, int status)
{
    char buf[256];
    char body[96];
    int bn = snprintf(body, sizeof(body), "{\"message\":\"%s\"}\n", csi_reason(status));
    int n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                     "connection: close\r\n\r\n%s",
                     status, csi_reason(status), bn, body);

    if (csi_bufq_append(&c->out, buf, (size_t)n) != CS_OK) {
        csi_conn_kill(c, CS_E_NOMEM);
        return;
    }
    c->close_after = true;
    csi_conn_dirty(c);
}

static enum csi_verdict sink_head(void *ctx, struct csi_reqhead *head)
{
    struct csi_conn *c = ctx;
    cs_http_stream *s = NULL;

    c->head_start_ns = 0;
    if (c->srv->draining) {
        /* Server shutdown: a request that completes its head now is not taken. */
        csi_reqhead_free(&head);
        raw_error(c, 503);
        return CSI_STOP;
    }
    if (csi_stream_new(c, 0, &s) != CS_OK) {
        csi_reqhead_free(&head);
        raw_error(c, 503);
        return CSI_STOP;
    }
    s->head = head;
    c->cur = s;
    csi_stream_dispatch(s);
    return verdict_for(c);
}

static enum csi_verdict sink_body(void *ctx, const uint8_t *data, size_t len)
{
    struct csi_conn *c = ctx;

    if (c->cur != NULL) {
        csi_stream_body(c->cur, data, len);
    }
    return verdict_for(c);
}

static enum csi_verdict sink_end(void *ctx)
{
    struct csi_conn *c = ctx;

    if (c->cur != NULL) {
        csi_stream_body_end(c->cur);
    }
    /* Always stop after a request: the next one is parsed when this one's response is done. */
    return c->killing ? CSI_STOP : CSI_PAUSE;
}

static void sink_error(void *ctx, int status)
{
    struct csi_conn *c = ctx;
    cs_http_stream *s = c->cur;

    if (s == NULL) {
        raw_error(c, status);
    } else if (!s->responded) {
        csi_stream_error(s, status);
        c->close_after = true;
    } else {
        csi_conn_kill(c, CS_E_MALFORMED);
    }
}

static const struct csi_h1p_sink sink = {
    .on_head = sink_head,
    .on_body = sink_body,
    .on_end = sink_end,
    .on_error = sink_error,
};

cs_status csi_h1_start(struct csi_conn *c)
{
    const cs_http_server_config *cfg = &c->srv->cfg;

    cs_status st;

    c->proto = CSI_PROTO_H1;
    CS_LOG_DEBUG(c->srv->log, CSI_MOD, "connection speaks HTTP/1.1");
    st = csi_h1p_init(&c->h1p, &sink, c, c->srv->a, cfg->max_header_bytes, cfg->max_headers);
    c->h1p_ready = st == CS_OK;
    return st;
}

static void track_head_time(struct csi_conn *c)
{
    if (csi_h1p_in_head(&c->h1p)) {
        if (c->head_start_ns == 0) {
            c->head_start_ns = csi_now_ns();
        }
    } else {
        c->head_start_ns = 0;
    }
}

void csi_h1_rx(struct csi_conn *c, const uint8_t *data, size_t len)
{
    if (c->lingering || c->killing) {
        return; /* discard */
    }
    if (c->hold.len == 0 && can_feed(c)) {
        size_t k = csi_h1p_feed(&c->h1p, data, len);
        data += k;
        len -= k;
    }
    if (len > 0) {
        if (csi_bufq_append(&c->hold, data, len) != CS_OK) {
            csi_conn_kill(c, CS_E_NOMEM);
            return;
        }
        if (c->hold.len >= HOLD_MAX && !c->rx_off) {
            c->rx_off = true;
            csi_conn_rx_flow(c, false);
        }
    }
    track_head_time(c);
    csi_conn_dirty(c);
}

void csi_h1_service(struct csi_conn *c)
{
    bool progress = true;

    for (int round = 0; progress && round < 64 && !c->killing; round++) {
        cs_http_stream *s = c->cur;

        progress = false;
        if (s != NULL && s->finished && c->out.len == 0) {
            bool keep =
                s->body_ended && s->head->keep_alive && !c->close_after && !c->srv->draining;

            c->cur = NULL;
            csi_stream_close(s, CS_OK);
            if (!keep) {
                c->close_after = true;
            }
            progress = true;
        }
        while (c->hold.len > 0 && can_feed(c)) {
            const uint8_t *p;
            size_t n = csi_bufq_peek(&c->hold, &p);
            size_t k = csi_h1p_feed(&c->h1p, p, n);

            csi_bufq_skip(&c->hold, k);
            progress = true;
            if (k < n) {
                break;
            }
        }
    }
    track_head_time(c);
    if (c->rx_off && c->hold.len < HOLD_MAX / 2 && !c->killing) {
        c->rx_off = false;
        csi_conn_rx_flow(c, true);
    }
    if (c->cur != NULL) {
        csi_stream_fire_writable(c->cur);
    }
}

void csi_h1_conn_closed(struct csi_conn *c)
{
    if (c->cur != NULL) {
        cs_http_stream *s = c->cur;
        c->cur = NULL;
        csi_stream_close(s, c->close_reason);
    }
    if (c->h1p_ready) {
        csi_h1p_cleanup(&c->h1p);
        c->h1p_ready = false;
    }
}

bool csi_h1_idle(const struct csi_conn *c)
{
    return c->cur == NULL && c->hold.len == 0 && c->out.len == 0 && !csi_h1p_in_head(&c->h1p);
}

bool csi_h1_expects_peer(const struct csi_conn *c)
{
    const cs_http_stream *s = c->cur;

    if (csi_h1p_in_head(&c->h1p) || c->out.len > 0) {
        return true;
    }
    return s != NULL && !s->body_ended && !s->paused;
}

static cs_status put(struct csi_conn *c, const char *str)
{
    return csi_bufq_append(&c->out, str, strlen(str));
}

cs_status csi_h1_respond(cs_http_stream *s, int status, const cs_http_header *headers, size_t n,
                         int64_t content_length)
{
    struct csi_conn *c = s->conn;
    char line[128];
    cs_status st;

    for (size_t i = 0; i < n; i++) {
        if (headers[i].name == NULL || headers[i].value == NULL ||
            strpbrk(headers[i].name, "\r\n:") != NULL ||
            strpbrk(headers[i].value, "\r\n") != NULL) {
            return CS_E_INVAL;
        }
    }
    snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status, csi_reason(status));
    st = put(c, line);
    for (size_t i = 0; st == CS_OK && i < n; i++) {
        if (put(c, headers[i].name) != CS_OK || put(c, ": ") != CS_OK ||
            put(c, headers[i].value) != CS_OK || put(c, "\r\n") != CS_OK) {
            st = CS_E_NOMEM;
        }
    }
    if (st != CS_OK) {
        return st;
    }
    if (content_length >= 0) {
        if (status != 204 && status != 304) {
            snprintf(line, sizeof(line), "content-length: %" PRId64 "\r\n", content_length);
            st = put(c, line);
        }
    } else if (s->head->version >= 11) {
        if (!s->resp_nobody) {
            s->resp_chunked = true;
            st = put(c, "transfer-encoding: chunked\r\n");
        }
    } else {
        c->close_after = true; /* HTTP/1.0: the end of the connection ends the body */
    }
    if (st == CS_OK && (!s->head->keep_alive || c->close_after || c->srv->draining)) {
        st = put(c, "connection: close\r\n");
    } else if (st == CS_OK && s->head->version == 10) {
        st = put(c, "connection: keep-alive\r\n");
    }
    if (st == CS_OK) {
        st = put(c, "\r\n");
    }
    return st;
}

cs_status csi_h1_write(cs_http_stream *s, const void *data, size_t len)
{
    struct csi_conn *c = s->conn;
    cs_status st = CS_OK;

    if (s->resp_chunked) {
        char line[24];
        snprintf(line, sizeof(line), "%zx\r\n", len);
        st = put(c, line);
    }
    if (st == CS_OK) {
        st = csi_bufq_append(&c->out, data, len);
    }
    if (st == CS_OK && s->resp_chunked) {
        st = put(c, "\r\n");
    }
    if (st != CS_OK) {
        csi_conn_kill(c, st); /* the framing is broken now */
    }
    return st;
}

/* As csi_h1_write, without copying a body that is not chunked (the queue frees `data`). */
cs_status csi_h1_write_owned(cs_http_stream *s, void *data, size_t len)
{
    cs_status st;

    if (s->resp_chunked) {
        st = csi_h1_write(s, data, len);
        free(data);
        return st;
    }
    st = csi_bufq_append_owned(&s->conn->out, data, len);
    if (st != CS_OK) {
        csi_conn_kill(s->conn, st);
    }
    return st;
}

cs_status csi_h1_finish(cs_http_stream *s)
{
    struct csi_conn *c = s->conn;
    cs_status st = CS_OK;

    if (s->resp_chunked) {
        st = put(c, "0\r\n\r\n");
    }
    if (!s->body_ended && s->head->content_length != 0) {
        /* Answered before the body ended (an error, or a handler that is done): the rest of the
         * body is not read; the connection closes once the response is out. */
        c->close_after = true;
    }
    if (st != CS_OK) {
        csi_conn_kill(c, st);
    }
    return st;
}

void csi_h1_continue(cs_http_stream *s)
{
    if (put(s->conn, "HTTP/1.1 100 Continue\r\n\r\n") != CS_OK) {
        csi_conn_kill(s->conn, CS_E_NOMEM);
    }
    csi_conn_dirty(s->conn);
}
