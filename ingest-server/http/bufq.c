/* SPDX-License-Identifier: Apache-2.0 */
/* The byte queue of the HTTP stack: a list of heap chunks that appends copy into (or, for a
 * finished response body, take over without copying) and readers consume from the front
 * (peek/skip), used for socket output, bytes held back while a handler
 * pauses, HTTP/2 response data and buffered request bodies. */
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

#define CHUNK_MIN 16384u

void csi_bufq_init(struct csi_bufq *q, const cs_allocator *a)
{
    memset(q, 0, sizeof(*q));
    q->a = a;
}

cs_status csi_bufq_append(struct csi_bufq *q, const void *data, size_t len)
{
    const uint8_t *p = data;

    while (len > 0) {
        struct csi_bufq_chunk *t = q->tail;
        size_t n;

        if (t == NULL || t->len == t->cap) {
            size_t cap = len > CHUNK_MIN ? len : CHUNK_MIN;
            size_t sz;

            if (cs_add_size(sizeof(*t), cap, &sz) != CS_OK) {
                return CS_E_OVERFLOW;
            }
            t = cs_alloc(q->a, sz);
            if (t == NULL) {
                return CS_E_NOMEM;
            }
            t->next = NULL;
            t->off = 0;
            t->len = 0;
            t->cap = cap;
            t->ext = NULL;
            if (q->tail != NULL) {
                q->tail->next = t;
            } else {
                q->head = t;
            }
            q->tail = t;
        }
        n = t->cap - t->len;
        if (n > len) {
            n = len;
        }
        memcpy(t->data + t->len, p, n);
        t->len += n;
        q->len += n;
        p += n;
        len -= n;
    }
    return CS_OK;
}

cs_status csi_bufq_append_owned(struct csi_bufq *q, void *data, size_t len)
{
    struct csi_bufq_chunk *t;

    if (len == 0) {
        free(data);
        return CS_OK;
    }
    t = cs_alloc(q->a, sizeof(*t));
    if (t == NULL) {
        free(data);
        return CS_E_NOMEM;
    }
    t->next = NULL;
    t->off = 0;
    t->len = t->cap = len; /* full: later appends start a chunk of their own */
    t->ext = data;
    if (q->tail != NULL) {
        q->tail->next = t;
    } else {
        q->head = t;
    }
    q->tail = t;
    q->len += len;
    return CS_OK;
}

static void chunk_free(struct csi_bufq *q, struct csi_bufq_chunk *h)
{
    free(h->ext);
    cs_freep(q->a, &h);
}

size_t csi_bufq_peek(const struct csi_bufq *q, const uint8_t **p)
{
    if (q->head == NULL) {
        *p = NULL;
        return 0;
    }
    *p = (q->head->ext != NULL ? q->head->ext : q->head->data) + q->head->off;
    return q->head->len - q->head->off;
}

void csi_bufq_skip(struct csi_bufq *q, size_t n)
{
    while (n > 0 && q->head != NULL) {
        struct csi_bufq_chunk *h = q->head;
        size_t avail = h->len - h->off;
        size_t k = n < avail ? n : avail;

        h->off += k;
        q->len -= k;
        n -= k;
        if (h->off == h->len) {
            q->head = h->next;
            if (q->head == NULL) {
                q->tail = NULL;
            }
            chunk_free(q, h);
        }
    }
}

size_t csi_bufq_read(struct csi_bufq *q, void *dst, size_t n)
{
    uint8_t *d = dst;
    size_t done = 0;

    while (done < n) {
        const uint8_t *p;
        size_t avail = csi_bufq_peek(q, &p);

        if (avail == 0) {
            break;
        }
        if (avail > n - done) {
            avail = n - done;
        }
        memcpy(d + done, p, avail);
        csi_bufq_skip(q, avail);
        done += avail;
    }
    return done;
}

void csi_bufq_clear(struct csi_bufq *q)
{
    csi_bufq_skip(q, q->len);
    while (q->head != NULL) { /* empty chunks left by appends of zero bytes */
        struct csi_bufq_chunk *h = q->head;
        q->head = h->next;
        chunk_free(q, h);
    }
    q->tail = NULL;
    q->len = 0;
}
