/* SPDX-License-Identifier: Apache-2.0 */
/* The socket-free HTTP/1.1 request parser: http-parser underneath, our limits on top (header
 * bytes and count: 431), request heads collected into one arena per request, and events handed
 * to a sink that can pause parsing at any event (back-pressure, one request at a time). Also the
 * request-head arena shared with HTTP/2. The fuzz target tests/fuzz/fuzz_http1.c drives this file
 * directly with raw bytes. */
#include <ctype.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "http_int.h"

/* ---------------------------------------------------------------------------------------------- */
/* Request head                                                                                   */
/* ---------------------------------------------------------------------------------------------- */

cs_status csi_reqhead_new(const cs_allocator *a, size_t max_bytes, size_t max_headers,
                          struct csi_reqhead **out)
{
    struct csi_reqhead *h = cs_calloc(a, 1, sizeof(*h));
    size_t cap;
    cs_status st = CS_E_NOMEM;

    if (h == NULL) {
        goto out;
    }
    h->a = a;
    h->max_bytes = max_bytes;
    h->max_ents = max_headers;
    /* Room for every counted byte, plus the NULs of up to max_headers names and values, the
     * method and the URL split into path and query. */
    if (cs_mul_size(max_headers, 2, &cap) != CS_OK || cs_add_size(cap, max_bytes, &cap) != CS_OK ||
        cs_add_size(cap, 64, &cap) != CS_OK || cap >= CSI_NOOFF) {
        st = CS_E_INVAL;
        goto out;
    }
    h->arena = cs_alloc(a, cap);
    h->ents = cs_calloc(a, max_headers > 0 ? max_headers : 1, sizeof(*h->ents));
    if (h->arena == NULL || h->ents == NULL) {
        goto out;
    }
    h->cap = cap;
    h->method = h->path = h->query = CSI_NOOFF;
    h->content_length = 0;
    *out = h;
    h = NULL;
    st = CS_OK;
out:
    csi_reqhead_free(&h);
    return st;
}

void csi_reqhead_free(struct csi_reqhead **hp)
{
    struct csi_reqhead *h = *hp;

    if (h == NULL) {
        return;
    }
    cs_freep(h->a, &h->arena);
    cs_freep(h->a, &h->ents);
    cs_freep(h->a, hp);
}

cs_status csi_reqhead_put(struct csi_reqhead *h, const char *data, size_t len, bool count)
{
    if (count) {
        if (len > h->max_bytes - h->counted) {
            return CS_E_LIMIT;
        }
        h->counted += len;
    }
    if (len + 1 > h->cap - h->len) { /* keep room for the NUL that ends this string */
        return CS_E_LIMIT;
    }
    memcpy(h->arena + h->len, data, len);
    h->len += len;
    return CS_OK;
}

cs_status csi_reqhead_end(struct csi_reqhead *h)
{
    if (h->len >= h->cap) {
        return CS_E_LIMIT;
    }
    h->arena[h->len++] = '\0';
    return CS_OK;
}

cs_status csi_reqhead_add(struct csi_reqhead *h, uint32_t name_off, uint32_t value_off)
{
    if (h->n >= h->max_ents) {
        return CS_E_LIMIT;
    }
    h->ents[h->n].name = name_off;
    h->ents[h->n].value = value_off;
    h->n++;
    return CS_OK;
}

const char *csi_reqhead_get(const struct csi_reqhead *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++) {
        if (strcasecmp(h->arena + h->ents[i].name, name) == 0) {
            return h->arena + h->ents[i].value;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------------------- */
/* HTTP/1.1 parser                                                                                */
/* ---------------------------------------------------------------------------------------------- */

static int verdict(http_parser *p, enum csi_verdict v)
{
    struct csi_h1p *h = p->data;

    if (v == CSI_PAUSE) {
        http_parser_pause(p, 1);
        return 0;
    }
    if (v == CSI_STOP) {
        h->dead = true;
        return -1;
    }
    return 0;
}

static int fail(struct csi_h1p *h, int status)
{
    if (h->error == 0) {
        h->error = status;
    }
    return -1;
}

static int on_message_begin(http_parser *p)
{
    struct csi_h1p *h = p->data;

    if (h->head == NULL &&
        csi_reqhead_new(h->a, h->max_header_bytes, h->max_headers, &h->head) != CS_OK) {
        return fail(h, 503);
    }
    h->last = 0;
    h->in_message = true;
    return 0;
}

/* Ends the string being read (URL, name or value) when the kind of data changes. */
static int switch_to(struct csi_h1p *h, int kind)
{
    struct csi_reqhead *r = h->head;

    if (h->last == kind) {
        return 0;
    }
    if (csi_reqhead_end(r) != CS_OK) {
        return fail(h, 431);
    }
    if (kind == 1) {
        h->cur_name = (uint32_t)r->len;
    } else if (kind == 2) {
        if (csi_reqhead_add(r, h->cur_name, (uint32_t)r->len) != CS_OK) {
            return fail(h, 431);
        }
    }
    h->last = kind;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct csi_h1p *h = p->data;

    if (h->head->path == CSI_NOOFF) {
        h->head->path = (uint32_t)h->head->len;
    }
    if (csi_reqhead_put(h->head, at, len, true) != CS_OK) {
        return fail(h, 431);
    }
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct csi_h1p *h = p->data;

    if (h->head == NULL) {
        return 0; /* a trailer of a chunked body: ignored (http-parser bounds its size) */
    }
    if (h->head->path == CSI_NOOFF) {
        return fail(h, 400);
    }
    if (switch_to(h, 1) != 0 || csi_reqhead_put(h->head, at, len, true) != CS_OK) {
        return fail(h, 431);
    }
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct csi_h1p *h = p->data;

    if (h->head == NULL) {
        return 0;
    }
    if (switch_to(h, 2) != 0 || csi_reqhead_put(h->head, at, len, true) != CS_OK) {
        return fail(h, 431);
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct csi_h1p *h = p->data;
    struct csi_reqhead *r = h->head;
    const char *m = http_method_str((enum http_method)p->method);
    const char *ex;
    char *q;

    if (r->path == CSI_NOOFF) {
        return fail(h, 400);
    }
    if (h->last == 1) { /* a name without a value cannot happen with http-parser; be safe */
        return fail(h, 400);
    }
    if (csi_reqhead_end(r) != CS_OK) {
        return fail(h, 431);
    }
    for (size_t i = 0; i < r->n; i++) {
        for (char *c = r->arena + r->ents[i].name; *c != '\0'; c++) {
            *c = (char)tolower((unsigned char)*c);
        }
    }
    q = strchr(r->arena + r->path, '?');
    if (q != NULL && q < r->arena + r->len) {
        *q = '\0';
        r->query = (uint32_t)(q + 1 - r->arena);
    }
    r->method = (uint32_t)r->len;
    if (csi_reqhead_put(r, m, strlen(m), false) != CS_OK || csi_reqhead_end(r) != CS_OK) {
        return fail(h, 431);
    }
    r->version = p->http_major * 10 + p->http_minor;
    if (p->http_major != 1) {
        return fail(h, 505);
    }
    if (p->flags & F_CHUNKED) {
        r->content_length = -1;
    } else if (p->content_length != ULLONG_MAX && p->content_length <= INT64_MAX) {
        r->content_length = (int64_t)p->content_length;
    } else {
        r->content_length = 0;
    }
    r->keep_alive = http_should_keep_alive(p) != 0;
    r->is_head = p->method == HTTP_HEAD;
    ex = csi_reqhead_get(r, "expect");
    r->expect_continue = ex != NULL && strcasecmp(ex, "100-continue") == 0 && r->version >= 11;
    /* We never switch protocols (h2c upgrade is not offered): an Upgrade header is ignored and
     * the request handled as HTTP/1.1, which RFC 9110 allows. */
    p->upgrade = 0;
    h->head = NULL; /* the sink owns it now */
    return verdict(p, h->sink->on_head(h->ctx, r));
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct csi_h1p *h = p->data;

    return verdict(p, h->sink->on_body(h->ctx, (const uint8_t *)at, len));
}

static int on_message_complete(http_parser *p)
{
    struct csi_h1p *h = p->data;

    h->in_message = false;
    return verdict(p, h->sink->on_end(h->ctx));
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

cs_status csi_h1p_init(struct csi_h1p *h, const struct csi_h1p_sink *sink, void *ctx,
                       const cs_allocator *a, size_t max_header_bytes, size_t max_headers)
{
    memset(h, 0, sizeof(*h));
    h->p = cs_alloc(a, sizeof(*h->p));
    if (h->p == NULL) {
        return CS_E_NOMEM;
    }
    http_parser_init(h->p, HTTP_REQUEST);
    h->p->data = h;
    h->sink = sink;
    h->ctx = ctx;
    h->a = a;
    h->max_header_bytes = max_header_bytes;
    h->max_headers = max_headers;
    return CS_OK;
}

void csi_h1p_cleanup(struct csi_h1p *h)
{
    csi_reqhead_free(&h->head);
    cs_freep(h->a, &h->p);
}

bool csi_h1p_in_head(const struct csi_h1p *h)
{
    return h->head != NULL && h->in_message;
}

size_t csi_h1p_feed(struct csi_h1p *h, const uint8_t *data, size_t len)
{
    size_t off = 0;

    if (h->dead) {
        return len;
    }
    if (HTTP_PARSER_ERRNO(h->p) == HPE_PAUSED) {
        http_parser_pause(h->p, 0);
    }
    while (off < len) {
        size_t n = http_parser_execute(h->p, &settings, (const char *)data + off, len - off);
        enum http_errno e = HTTP_PARSER_ERRNO(h->p);

        off += n;
        if (e == HPE_PAUSED) {
            return off;
        }
        if (e != HPE_OK || h->error != 0) {
            int status = h->error;

            if (h->dead && status == 0) { /* the sink said STOP */
                return len;
            }
            if (status == 0) {
                status = e == HPE_HEADER_OVERFLOW ? 431 : 400;
            }
            h->dead = true;
            h->error = status;
            csi_reqhead_free(&h->head);
            h->sink->on_error(h->ctx, status);
            return len;
        }
        if (n == 0) { /* no progress without an error: cannot happen; never spin */
            h->dead = true;
            h->error = 400;
            h->sink->on_error(h->ctx, 400);
            return len;
        }
    }
    return off;
}
