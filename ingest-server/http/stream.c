/* SPDX-License-Identifier: Apache-2.0 */
/* One request/response exchange, the same for HTTP/1.1 and HTTP/2: the router (method, path,
 * optional header condition), body limits (413), the server's own error answers, buffered bodies,
 * back-pressure and the public cs_http_stream_* API. The wire framing is delegated to h1.c/h2.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_int.h"

cs_status csi_stream_new(struct csi_conn *c, int32_t id, cs_http_stream **out)
{
    cs_http_server *srv = c->srv;
    cs_http_stream *s = cs_calloc(srv->a, 1, sizeof(*s));

    if (s == NULL) {
        return CS_E_NOMEM;
    }
    s->srv = srv;
    s->conn = c;
    s->id = id;
    s->refs = 1; /* the connection's */
    s->resp_length = -1;
    csi_bufq_init(&s->out, srv->a);
    csi_bufq_init(&s->rxhold, srv->a);
    csi_bufq_init(&s->body, srv->a);
    *out = s;
    return CS_OK;
}

static void stream_free(cs_http_stream *s)
{
    const cs_allocator *a = s->srv->a;

    csi_reqhead_free(&s->head);
    csi_bufq_clear(&s->out);
    csi_bufq_clear(&s->rxhold);
    csi_bufq_clear(&s->body);
    cs_freep(a, &s);
}

void cs_http_stream_ref(cs_http_stream *s)
{
    s->refs++;
}

void cs_http_stream_unref(cs_http_stream *s)
{
    if (s != NULL && --s->refs == 0) {
        stream_free(s);
    }
}

static bool match_pattern(const char *pat, const char *val)
{
    size_t n = strlen(pat);

    if (n > 0 && pat[n - 1] == '*') {
        return strncmp(pat, val, n - 1) == 0;
    }
    return strcmp(pat, val) == 0;
}

static const struct csi_route *route_find(const cs_http_server *srv, const struct csi_reqhead *h)
{
    const char *method = csi_reqhead_str(h, h->method);
    const char *path = csi_reqhead_str(h, h->path);

    for (size_t i = 0; i < srv->n_routes; i++) {
        const cs_http_route *r = &srv->routes[i].r;

        if (r->method != NULL && strcmp(r->method, method) != 0) {
            continue;
        }
        if (r->path != NULL && !match_pattern(r->path, path)) {
            continue;
        }
        if (r->header_name != NULL) {
            const char *v = csi_reqhead_get(h, r->header_name);
            if (v == NULL || (r->header_value != NULL && !match_pattern(r->header_value, v))) {
                continue;
            }
        }
        return &srv->routes[i];
    }
    return NULL;
}

const char *csi_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Status";
    }
}

void csi_stream_error(cs_http_stream *s, int status)
{
    char body[160];
    int n;

    s->doomed = true;
    if (s->responded || s->conn == NULL) {
        cs_http_stream_abort(s);
        return;
    }
    n = snprintf(body, sizeof(body), "{\"message\":\"%s\"}\n", csi_reason(status));
    (void)cs_http_stream_respond_simple(s, status, "application/json", body, (size_t)n);
}

void csi_stream_dispatch(cs_http_stream *s)
{
    cs_http_server *srv = s->srv;
    const struct csi_route *r;

    s->dispatched = true;
    srv->stats.requests++;
    if (s->head_error != 0) {
        csi_stream_error(s, s->head_error);
        return;
    }
    r = route_find(srv, s->head);
    if (r == NULL) {
        csi_stream_error(s, 404);
        return;
    }
    if (!(r->r.flags & CS_HTTP_ROUTE_STREAMING) && s->head->content_length > 0 &&
        (uint64_t)s->head->content_length > srv->cfg.max_body_bytes) {
        csi_stream_error(s, 413); /* before 100-continue: the client need not send the body */
        return;
    }
    s->route = r;
    cs_http_stream_ref(s);
    r->r.on_request(s, r->r.user);
    if (s->conn != NULL && s->id == 0 && s->head->expect_continue && !s->responded) {
        csi_h1_continue(s);
    }
    cs_http_stream_unref(s);
}

void csi_stream_body(cs_http_stream *s, const uint8_t *data, size_t len)
{
    const struct csi_route *r = s->route;

    s->body_received += len;
    if (r == NULL || s->doomed || s->closed) {
        return; /* the server already answered: discard */
    }
    if (!(r->r.flags & CS_HTTP_ROUTE_STREAMING) && s->body_received > s->srv->cfg.max_body_bytes) {
        csi_stream_error(s, 413);
        return;
    }
    if (r->r.flags & CS_HTTP_ROUTE_BUFFERED) {
        if (csi_bufq_append(&s->body, data, len) != CS_OK) {
            csi_stream_error(s, 503);
        }
        return;
    }
    if (r->r.on_body != NULL) {
        r->r.on_body(s, data, len, r->r.user);
    }
}

void csi_stream_body_end(cs_http_stream *s)
{
    const struct csi_route *r = s->route;

    if (s->body_ended) {
        return;
    }
    s->body_ended = true;
    if (r == NULL || s->doomed || s->closed) {
        return;
    }
    cs_http_stream_ref(s);
    if ((r->r.flags & CS_HTTP_ROUTE_BUFFERED) && r->r.on_body != NULL) {
        /* Hand the body over in one piece. */
        uint8_t *all = NULL;
        size_t n = s->body.len;

        if (n > 0) {
            all = cs_alloc(s->srv->a, n);
            if (all == NULL) {
                csi_stream_error(s, 503);
                goto out;
            }
            csi_bufq_read(&s->body, all, n);
        }
        r->r.on_body(s, all != NULL ? all : (const uint8_t *)"", n, r->r.user);
        cs_freep(s->srv->a, &all);
    }
    if (!s->closed && r->r.on_body_end != NULL) {
        r->r.on_body_end(s, r->r.user);
    }
out:
    cs_http_stream_unref(s);
}

void csi_stream_close(cs_http_stream *s, cs_status why)
{
    const struct csi_route *r = s->route;

    if (s->closed) {
        return;
    }
    s->closed = true;
    s->conn = NULL;
    if (r != NULL && s->dispatched && r->r.on_close != NULL) {
        r->r.on_close(s, why, r->r.user);
    }
    cs_http_stream_unref(s); /* the connection's reference */
}

void csi_stream_fire_writable(cs_http_stream *s)
{
    const struct csi_route *r = s->route;

    if (!s->want_writable || s->closed || r == NULL) {
        return;
    }
    if (cs_http_stream_write_pending(s) > s->srv->cfg.write_low_water) {
        return;
    }
    s->want_writable = false;
    if (r->r.on_writable != NULL) {
        r->r.on_writable(s, r->r.user);
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* Public request accessors                                                                       */
/* ---------------------------------------------------------------------------------------------- */

const char *cs_http_stream_method(const cs_http_stream *s)
{
    return csi_reqhead_str(s->head, s->head->method);
}

const char *cs_http_stream_path(const cs_http_stream *s)
{
    return csi_reqhead_str(s->head, s->head->path);
}

const char *cs_http_stream_query(const cs_http_stream *s)
{
    return csi_reqhead_str(s->head, s->head->query);
}

int cs_http_stream_version(const cs_http_stream *s)
{
    return s->head->version;
}

bool cs_http_stream_is_tls(const cs_http_stream *s)
{
    return s->conn != NULL && s->conn->tls != NULL;
}

const char *cs_http_stream_header(const cs_http_stream *s, const char *name)
{
    const char *v = csi_reqhead_get(s->head, name);

    if (v == NULL && s->id != 0 && strcasecmp(name, "host") == 0) {
        v = csi_reqhead_get(s->head, ":authority");
    }
    return v;
}

size_t cs_http_stream_header_count(const cs_http_stream *s)
{
    return s->head->n;
}

cs_status cs_http_stream_header_at(const cs_http_stream *s, size_t i, cs_http_header *out)
{
    if (i >= s->head->n) {
        return CS_E_RANGE;
    }
    out->name = s->head->arena + s->head->ents[i].name;
    out->value = s->head->arena + s->head->ents[i].value;
    return CS_OK;
}

int64_t cs_http_stream_content_length(const cs_http_stream *s)
{
    return s->head->content_length;
}

uint64_t cs_http_stream_body_received(const cs_http_stream *s)
{
    return s->body_received;
}

void cs_http_stream_set_data(cs_http_stream *s, void *data)
{
    s->data = data;
}

void *cs_http_stream_data(const cs_http_stream *s)
{
    return s->data;
}

bool cs_http_stream_is_open(const cs_http_stream *s)
{
    return !s->closed;
}

/* ---------------------------------------------------------------------------------------------- */
/* Public response API                                                                            */
/* ---------------------------------------------------------------------------------------------- */

void cs_http_stream_pause_body(cs_http_stream *s, bool pause)
{
    if (s->closed || s->paused == pause) {
        return;
    }
    s->paused = pause;
    if (!pause && s->conn != NULL) {
        csi_conn_dirty(s->conn); /* the loop delivers what was held, then reads again */
    }
}

cs_status cs_http_stream_respond(cs_http_stream *s, int status, const cs_http_header *headers,
                                 size_t n_headers, int64_t content_length)
{
    cs_status st;

    if (s->closed || s->conn == NULL || s->responded) {
        return CS_E_STATE;
    }
    if (status < 200 || status > 999 || (n_headers > 0 && headers == NULL)) {
        return CS_E_INVAL;
    }
    s->resp_length = content_length < 0 ? -1 : content_length;
    s->resp_nobody = s->head->is_head || status == 204 || status == 304;
    st = s->id == 0 ? csi_h1_respond(s, status, headers, n_headers, content_length)
                    : csi_h2_respond(s, status, headers, n_headers, content_length);
    if (st == CS_OK) {
        s->responded = true;
        csi_conn_dirty(s->conn);
    }
    return st;
}

cs_status cs_http_stream_write(cs_http_stream *s, const void *data, size_t len)
{
    cs_status st;

    if (s->closed || s->conn == NULL || !s->responded || s->finished) {
        return CS_E_STATE;
    }
    if (s->resp_length >= 0 && len > (uint64_t)s->resp_length - s->resp_written) {
        return CS_E_RANGE;
    }
    if (len == 0) {
        return CS_OK;
    }
    s->resp_written += len;
    if (s->resp_nobody) {
        return CS_OK;
    }
    st = s->id == 0 ? csi_h1_write(s, data, len) : csi_h2_write(s, data, len);
    if (st == CS_OK) {
        csi_conn_dirty(s->conn);
    }
    return st;
}

cs_status cs_http_stream_write_owned(cs_http_stream *s, void *data, size_t len)
{
    cs_status st;

    if (s->closed || s->conn == NULL || !s->responded || s->finished) {
        free(data);
        return CS_E_STATE;
    }
    if (s->id != 0 || s->resp_nobody || len == 0 ||
        (s->resp_length >= 0 && len > (uint64_t)s->resp_length - s->resp_written)) {
        st = cs_http_stream_write(s, data, len); /* HTTP/2 copies into its DATA frames */
        free(data);
        return st;
    }
    s->resp_written += len;
    st = csi_h1_write_owned(s, data, len);
    if (st == CS_OK) {
        csi_conn_dirty(s->conn);
    }
    return st;
}

cs_status cs_http_stream_finish(cs_http_stream *s)
{
    if (s->closed || s->conn == NULL || !s->responded || s->finished) {
        return CS_E_STATE;
    }
    if (s->resp_length >= 0 && s->resp_written != (uint64_t)s->resp_length && !s->resp_nobody) {
        cs_http_stream_abort(s);
        return CS_E_RANGE;
    }
    s->finished = true;
    csi_conn_dirty(s->conn);
    return s->id == 0 ? csi_h1_finish(s) : csi_h2_finish(s);
}

cs_status cs_http_stream_respond_simple(cs_http_stream *s, int status, const char *content_type,
                                        const void *body, size_t len)
{
    cs_http_header h = {"content-type", content_type};
    cs_status st;

    st = cs_http_stream_respond(s, status, &h, content_type != NULL ? 1 : 0, (int64_t)len);
    if (st == CS_OK && len > 0) {
        st = cs_http_stream_write(s, body, len);
    }
    if (st == CS_OK) {
        st = cs_http_stream_finish(s);
    }
    return st;
}

size_t cs_http_stream_write_pending(const cs_http_stream *s)
{
    if (s->conn == NULL) {
        return 0;
    }
    return s->id == 0 ? s->conn->out.len : s->out.len;
}

void cs_http_stream_want_writable(cs_http_stream *s)
{
    if (s->closed || s->conn == NULL) {
        return;
    }
    s->want_writable = true;
    csi_conn_dirty(s->conn);
}

void cs_http_stream_abort(cs_http_stream *s)
{
    if (s->closed || s->conn == NULL) {
        return;
    }
    s->doomed = true;
    if (s->id == 0) {
        csi_conn_kill(s->conn, CS_E_CANCELLED);
    } else {
        csi_h2_reset(s);
    }
}
