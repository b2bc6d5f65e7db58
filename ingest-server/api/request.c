/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The request plumbing every buffered JSON route of api/ shares (the control plane in api.c,
 * the media reads in getmedia.c, the record streams in kds_api.c, SubscribeToShard in
 * kds_subscribe.c): the body collected on the loop thread, the SigV4 check, the hand-off to the
 * worker pool with a stream reference, and the hand-over when the client goes away while a job
 * holds the request. The routes keep their own request structs, errors and answers.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

/* The largest body reserved from content-length up front: the server's default max_body_bytes
 * (a larger announced length only costs the copies of a growing buffer). */
#define RESERVE_MAX (8u * 1024u * 1024u)

void csi_api_body_reserve(struct csi_api_body *b, cs_http_stream *s)
{
    const char *cl = cs_http_stream_header(s, "content-length");
    unsigned long long n = cl != NULL ? strtoull(cl, NULL, 10) : 0;
    if (b->data != NULL || n == 0 || n > RESERVE_MAX) {
        return;
    }
    b->data = malloc((size_t)n);
    b->cap = b->data != NULL ? (size_t)n : 0;
}

void csi_api_on_body(cs_http_stream *s, const uint8_t *data, size_t len, void *user)
{
    struct csi_api_body *b = cs_http_stream_data(s); /* the request's first member */
    (void)user;
    if (b == NULL || len == 0) {
        return;
    }
    if (len > SIZE_MAX / 2 - b->len) {
        cs_http_stream_abort(s);
        return;
    }
    if (b->len + len > b->cap) {
        /* Buffered routes get the body in one call: the first size is exact. */
        size_t cap = b->cap == 0 ? len : b->cap * 2;
        char *nb;
        if (cap < b->len + len) {
            cap = b->len + len;
        }
        nb = realloc(b->data, cap);
        if (nb == NULL) {
            cs_http_stream_abort(s);
            return;
        }
        b->data = nb;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

void csi_api_body_free(struct csi_api_body *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

bool csi_api_submit(cs_http_server *srv, cs_http_stream *s, cs_http_loop_fn job,
                    cs_http_loop_fn done, void *arg, bool *in_flight)
{
    *in_flight = true;
    cs_http_stream_ref(s); /* released by done, on the loop */
    if (cs_http_server_submit(srv, job, done, arg) == CS_OK) {
        return true;
    }
    cs_http_stream_unref(s);
    *in_flight = false;
    return false;
}

void csi_api_body_end(cs_api *api, cs_http_stream *s, void *req, const struct csi_api_handler *h,
                      const cs_api_credential **key, bool *in_flight)
{
    const struct csi_api_body *b = req; /* the request's first member */
    const cs_api_credential *signer = NULL;
    int status = 0;
    const char *type = NULL;
    char msg[512];
    bool ok;
    if (h->service != NULL) {
        ok = csi_api_verify(api, s, b->data, b->len, h->service, &signer, &status, &type, msg,
                            sizeof(msg));
        if (key != NULL) {
            *key = signer;
        }
    } else {
        ok = csi_api_authorize(api, s, b->data, b->len, &status, &type, msg, sizeof(msg));
    }
    if (!ok) {
        h->refuse(req, status, type, msg);
    } else if (!csi_api_submit(csi_api_server(api), s, h->job, h->done, req, in_flight)) {
        h->refuse(req, h->busy_status, h->busy_type, h->busy_message);
    }
}

bool csi_api_detach(cs_http_stream *s, bool in_flight, bool *closed)
{
    cs_http_stream_set_data(s, NULL);
    if (in_flight) {
        *closed = true; /* the job's done callback frees it */
        return false;
    }
    return true;
}
