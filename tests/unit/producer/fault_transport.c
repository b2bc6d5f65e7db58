/* SPDX-License-Identifier: Apache-2.0 */
/* A fault-injecting wrapper around a real cs_transport (see fault_transport.h). */
#include "fault_transport.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CALLS 64
#define BODY_READS_BEFORE_FAULT 2

struct fcall {
    bool used;
    struct fault_transport *ft;
    cs_transport_call *inner;
    cs_transport_handlers outer;
    bool faulty;
    bool streaming;
    unsigned reads;
    unsigned data_chunks;
    int http;
    bool abort;              /* run() ends it: cancel the inner call, report CS_E_NET */
    bool stalled;            /* nothing passes any more */
    uint64_t stall_deadline; /* control call: report CS_E_TIMEOUT then (0: never) */
};

struct fault_transport {
    cs_transport t;
    cs_transport *inner;
    fault_kind kind;
    unsigned index;
    unsigned calls;
    atomic_bool fired; /* polled by the test thread while the I/O thread runs */
    struct fcall fc[MAX_CALLS];
};

const char *fault_kind_str(fault_kind kind)
{
    static const char *const n[] = {"none", "fail-start", "fail-body", "cut", "stall"};
    return (unsigned)kind < 5 ? n[kind] : "?";
}

static void release(struct fcall *c)
{
    memset(c, 0, sizeof(*c));
}

/* ---- inner handlers ---- */

static size_t i_read(void *ctx, uint8_t *dst, size_t cap, bool *pause)
{
    struct fcall *c = ctx;

    if (c->faulty && !c->abort && c->ft->kind == FAULT_FAIL_BODY &&
        ++c->reads > BODY_READS_BEFORE_FAULT) {
        c->ft->fired = true;
        c->abort = true;
        c->ft->inner->wakeup(c->ft->inner->self);
    }
    if (c->stalled || c->abort) {
        *pause = true;
        return 0;
    }
    return c->outer.read_body(c->outer.ctx, dst, cap, pause);
}

static cs_status i_status(void *ctx, int http_status)
{
    struct fcall *c = ctx;

    c->http = http_status;
    if (c->stalled || c->abort) {
        return CS_OK;
    }
    return c->outer.on_status(c->outer.ctx, http_status);
}

static cs_status i_data(void *ctx, const uint8_t *data, size_t len)
{
    struct fcall *c = ctx;

    if (c->stalled || c->abort) {
        return CS_OK;
    }
    if (c->faulty && c->ft->kind == FAULT_CUT) {
        /* control calls: cut before any body; PutMedia: after the first chunk of acks */
        if (!c->streaming || c->data_chunks >= 1) {
            c->ft->fired = true;
            return CS_E_NET; /* the inner call aborts and reports on_done */
        }
    }
    c->data_chunks++;
    if (c->faulty && c->ft->kind == FAULT_STALL && c->streaming) {
        /* PutMedia: the first acks arrive, then nothing more is read or delivered */
        c->stalled = true;
        c->ft->fired = true;
    }
    return c->outer.on_data(c->outer.ctx, data, len);
}

static void i_done(void *ctx, cs_status status, int http_status)
{
    struct fcall *c = ctx;
    cs_transport_handlers h = c->outer;

    c->inner = NULL;
    if (c->stalled) {
        return; /* held: a stalled call never ends by itself (control: at its deadline) */
    }
    if (c->faulty && c->ft->kind == FAULT_CUT && c->ft->fired) {
        status = CS_E_NET;
    }
    if (c->abort) {
        status = CS_E_NET;
    }
    release(c);
    h.on_done(h.ctx, status, http_status);
}

/* ---- the interface ---- */

static cs_status f_start(void *self, const cs_transport_request *req,
                         const cs_transport_handlers *h, cs_transport_call **call)
{
    struct fault_transport *ft = self;
    struct fcall *c = NULL;
    cs_transport_handlers ih;
    cs_status st;

    ft->calls++;
    if (ft->kind == FAULT_FAIL_START && ft->calls == ft->index) {
        ft->fired = true;
        return CS_E_NET;
    }
    for (size_t i = 0; i < MAX_CALLS; i++) {
        if (!ft->fc[i].used) {
            c = &ft->fc[i];
            break;
        }
    }
    if (c == NULL) {
        return CS_E_LIMIT;
    }
    memset(c, 0, sizeof(*c));
    c->used = true;
    c->ft = ft;
    c->outer = *h;
    c->streaming = req->streaming_body;
    c->faulty = ft->calls == ft->index;
    if (c->faulty && ft->kind == FAULT_STALL && !c->streaming) {
        c->stalled = true;
        ft->fired = true;
        c->stall_deadline = req->timeout_ms != 0
                                ? cs_clock_monotonic_ns(NULL) + (uint64_t)req->timeout_ms * 1000000u
                                : 0;
    }
    if (c->faulty && ft->kind == FAULT_FAIL_BODY && !c->streaming) {
        c->abort = true; /* a whole body: fails as it is sent */
        ft->fired = true;
    }
    ih.read_body = i_read;
    ih.on_status = i_status;
    ih.on_data = i_data;
    ih.on_done = i_done;
    ih.ctx = c;
    st = ft->inner->start(ft->inner->self, req, &ih, &c->inner);
    if (st != CS_OK) {
        release(c);
        return st;
    }
    *call = (cs_transport_call *)(void *)c;
    return CS_OK;
}

static void f_resume(void *self, cs_transport_call *call)
{
    struct fault_transport *ft = self;
    struct fcall *c = (struct fcall *)(void *)call;

    if (c->inner != NULL && !c->stalled && !c->abort) {
        ft->inner->resume(ft->inner->self, c->inner);
    }
}

static void f_cancel(void *self, cs_transport_call *call)
{
    struct fault_transport *ft = self;
    struct fcall *c = (struct fcall *)(void *)call;

    if (c->inner != NULL) {
        ft->inner->cancel(ft->inner->self, c->inner);
    }
    release(c);
}

/* Ends calls the wrapper decided to end; from inside run(), as handlers must fire. */
static void settle(struct fault_transport *ft)
{
    uint64_t now = cs_clock_monotonic_ns(NULL);

    for (size_t i = 0; i < MAX_CALLS; i++) {
        struct fcall *c = &ft->fc[i];
        cs_transport_handlers h = c->outer;
        cs_status st;
        int http;
        if (!c->used) {
            continue;
        }
        if (c->abort) {
            st = CS_E_NET;
        } else if (c->stalled && c->stall_deadline != 0 && now >= c->stall_deadline) {
            st = CS_E_TIMEOUT;
        } else {
            continue;
        }
        http = c->abort ? c->http : 0;
        if (c->inner != NULL) {
            ft->inner->cancel(ft->inner->self, c->inner);
        }
        release(c);
        h.on_done(h.ctx, st, http);
    }
}

static cs_status f_run(void *self, uint32_t timeout_ms)
{
    struct fault_transport *ft = self;
    cs_status st;

    settle(ft);
    for (size_t i = 0; i < MAX_CALLS; i++) {
        if (ft->fc[i].used && ft->fc[i].stalled && ft->fc[i].stall_deadline != 0 &&
            timeout_ms > 50) {
            timeout_ms = 50;
        }
    }
    st = ft->inner->run(ft->inner->self, timeout_ms);
    settle(ft);
    return st;
}

static void f_wakeup(void *self)
{
    struct fault_transport *ft = self;
    ft->inner->wakeup(ft->inner->self);
}

static void f_destroy(void *self)
{
    (void)self; /* the owner calls fault_transport_destroy() */
}

fault_transport *fault_transport_create(cs_transport *inner, fault_kind kind, unsigned index)
{
    struct fault_transport *ft = calloc(1, sizeof(*ft));

    if (ft == NULL) {
        return NULL;
    }
    ft->inner = inner;
    ft->kind = kind;
    ft->index = index;
    ft->t.self = ft;
    ft->t.start = f_start;
    ft->t.resume = f_resume;
    ft->t.cancel = f_cancel;
    ft->t.run = f_run;
    ft->t.wakeup = f_wakeup;
    ft->t.destroy = f_destroy;
    return ft;
}

cs_transport *fault_transport_get(fault_transport *ft)
{
    return &ft->t;
}

unsigned fault_transport_calls(const fault_transport *ft)
{
    return ft->calls;
}

bool fault_transport_fired(const fault_transport *ft)
{
    return ft->fired;
}

void fault_transport_destroy(fault_transport *ft)
{
    free(ft);
}
