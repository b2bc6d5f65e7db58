/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target for the ingest server's HTTP/1.1 request parser (ingest-server/http/parse.c): the
 * raw bytes a client could send, fed in pieces whose sizes come from the input itself, to a sink
 * that pauses parsing now and then the way a handler applying back-pressure would. Small limits
 * so that the 431 paths are reached. Checks the parser's promises: it consumes every byte unless
 * paused, reports an error at most once, and every request head it hands over is well formed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

struct fz {
    unsigned events;
    unsigned errors;
    unsigned heads;
    unsigned ends;
    uint8_t pause_mask;
};

static enum csi_verdict maybe_pause(struct fz *f)
{
    f->events++;
    return (f->pause_mask >> (f->events % 8)) & 1 ? CSI_PAUSE : CSI_GO;
}

static enum csi_verdict on_head(void *ctx, struct csi_reqhead *h)
{
    struct fz *f = ctx;
    cs_http_header hd;

    f->heads++;
    /* Every string the head exposes is NUL-terminated inside its arena. */
    if (h->method == CSI_NOOFF || h->path == CSI_NOOFF || h->method >= h->len ||
        h->path >= h->len) {
        abort();
    }
    for (size_t i = 0; i < h->n; i++) {
        hd.name = h->arena + h->ents[i].name;
        hd.value = h->arena + h->ents[i].value;
        if (h->ents[i].name >= h->len || h->ents[i].value >= h->len ||
            strlen(hd.name) + h->ents[i].name >= h->len ||
            strlen(hd.value) + h->ents[i].value >= h->len) {
            abort();
        }
    }
    (void)csi_reqhead_get(h, "content-length");
    if (h->counted > h->max_bytes || h->n > h->max_ents) {
        abort();
    }
    csi_reqhead_free(&h);
    return maybe_pause(f);
}

static enum csi_verdict on_body(void *ctx, const uint8_t *data, size_t len)
{
    struct fz *f = ctx;
    volatile uint8_t x = 0;

    for (size_t i = 0; i < len; i++) {
        x ^= data[i]; /* touch every byte: ASan checks the pointer range */
    }
    (void)x;
    return maybe_pause(f);
}

static enum csi_verdict on_end(void *ctx)
{
    struct fz *f = ctx;
    f->ends++;
    return CSI_PAUSE; /* as the server does: one request at a time */
}

static void on_error(void *ctx, int status)
{
    struct fz *f = ctx;
    if (status != 400 && status != 431 && status != 505 && status != 503) {
        abort();
    }
    f->errors++;
}

static const struct csi_h1p_sink sink = {on_head, on_body, on_end, on_error};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct csi_h1p h;
    struct fz f = {0};
    size_t step;
    size_t off = 2;
    unsigned last_events = 0;

    if (size < 2) {
        return 0;
    }
    step = (size_t)data[0] % 64 + 1; /* bytes per read: 1..64 */
    f.pause_mask = data[1];
    if (csi_h1p_init(&h, &sink, &f, NULL, 1024, 16) != CS_OK) {
        return 0;
    }
    while (off < size) {
        size_t n = size - off < step ? size - off : step;
        size_t k = csi_h1p_feed(&h, data + off, n);

        if (k > n) {
            abort();
        }
        if (k < n && h.dead) {
            abort(); /* a dead parser swallows everything */
        }
        off += k;
        if (k == 0) {
            /* A pause can take no byte (http-parser ends a message on state alone), but then
             * an event was reported: feeding again resumes. No event and no byte: stuck. */
            if (f.events + f.ends == last_events) {
                abort();
            }
        }
        last_events = f.events + f.ends;
    }
    if (f.errors > 1) {
        abort();
    }
    csi_h1p_cleanup(&h);
    return 0;
}
