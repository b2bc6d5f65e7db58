/* SPDX-License-Identifier: Apache-2.0 */
/* Allocation failure at every call index across cs_producer_create() + cs_stream_create() + a
 * few frames (the first key frame builds the CodecPrivate and the stream header): every failure
 * is a clean CS_E_NOMEM from the call that needed the memory, nothing crashes, nothing leaks
 * (the counting allocator ends at zero live blocks; ASan checks the rest), and once creation
 * succeeded the frames need no allocation at all. Run twice: with the producer's own default
 * transport (libcurl, when built; its allocations through the allocator fail too) pointed at a
 * closed port, and with a borrowed transport that never connects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "camstream/producer.h"
#include "testutil.h"

static const uint8_t key_frame[] = {0,    0,    0,    1,    0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01,
                                    0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00,
                                    0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0xa4, 0x80, 0,    0,
                                    0,    1,    0x68, 0xcb, 0x83, 0xcb, 0x20, 0,    0,    0,
                                    1,    0x65, 0x88, 0x84, 0x21, 0x43, 0x55, 0x66, 0x77};
static const uint8_t p_frame[] = {0, 0, 0, 1, 0x41, 0x9a, 0x21, 0x43, 0x55, 0x66, 0x77, 0x12};

/* The test allocator, made safe for the I/O thread (which may allocate in the transport). */
typedef struct locked_alloc {
    cs_allocator a;
    cs_test_allocator ta;
    cs_mutex m;
} locked_alloc;

static void *la_alloc(void *ctx, size_t n)
{
    locked_alloc *la = ctx;
    void *p;
    cs_mutex_lock(&la->m);
    p = la->ta.a.alloc(la->ta.a.ctx, n);
    cs_mutex_unlock(&la->m);
    return p;
}

static void la_free(void *ctx, void *ptr)
{
    locked_alloc *la = ctx;
    cs_mutex_lock(&la->m);
    la->ta.a.free(la->ta.a.ctx, ptr);
    cs_mutex_unlock(&la->m);
}

/* A transport that accepts calls and never answers. */
static cs_status n_start(void *self, const cs_transport_request *req,
                         const cs_transport_handlers *h, cs_transport_call **call)
{
    (void)req;
    (void)h;
    *call = (cs_transport_call *)self;
    return CS_OK;
}
static void n_resume(void *self, cs_transport_call *call)
{
    (void)self;
    (void)call;
}
static void n_cancel(void *self, cs_transport_call *call)
{
    (void)self;
    (void)call;
}
static cs_status n_run(void *self, uint32_t timeout_ms)
{
    (void)self;
    cs_clock_sleep_ns(NULL, (uint64_t)(timeout_ms < 5 ? timeout_ms : 5) * 1000000u);
    return CS_OK;
}
static void n_wakeup(void *self)
{
    (void)self;
}
static void n_destroy(void *self)
{
    (void)self;
}

static int nothing;
static cs_transport null_transport = {&nothing, n_start,  n_resume, n_cancel,
                                      n_run,    n_wakeup, n_destroy};

/* One run failing allocation `n`; returns true when nothing failed (n past the last call). */
static bool run(size_t n, bool own_transport, size_t *allocs_after_create)
{
    locked_alloc la;
    cs_producer_config pc;
    cs_stream_config sc;
    cs_producer *p = NULL;
    cs_stream *s = NULL;
    cs_status st;
    bool clean = false;

    cs_test_allocator_init(&la.ta, n);
    assert_int_equal(cs_mutex_init(&la.m), CS_OK);
    la.a.alloc = la_alloc;
    la.a.free = la_free;
    la.a.ctx = &la;
    cs_producer_config_init(&pc);
    pc.endpoint = "http://127.0.0.1:1"; /* nobody listens */
    pc.anonymous = true;
    pc.allocator = &la.a;
    pc.transport = own_transport ? NULL : &null_transport;
    st = cs_producer_create(&pc, &p);
    if (st != CS_OK) {
        assert_int_equal(st, CS_E_NOMEM);
        assert_null(p);
        goto out;
    }
    cs_stream_config_init(&sc);
    sc.name = "alloc";
    sc.tracks[0].codec = CS_MKV_CODEC_ID_H264;
    sc.track_count = 1;
    sc.store_bytes = 65536;
    st = cs_stream_create(p, &sc, &s);
    if (st != CS_OK) {
        assert_int_equal(st, CS_E_NOMEM);
        assert_null(s);
        goto out;
    }
    cs_mutex_lock(&la.m);
    *allocs_after_create = la.ta.calls;
    cs_mutex_unlock(&la.m);
    for (int i = 0; i < 20; i++) {
        cs_frame f = CS_FRAME_INIT;
        f.data = i % 10 == 0 ? key_frame : p_frame;
        f.size = i % 10 == 0 ? sizeof(key_frame) : sizeof(p_frame);
        f.pts_ns = 1000000000ull + (uint64_t)i * 33333333u;
        f.flags = i % 10 == 0 ? CS_FRAME_KEY : 0;
        assert_int_equal(cs_stream_put_frame(s, &f), CS_OK);
    }
    cs_mutex_lock(&la.m);
    clean = la.ta.fail_at == 0 || la.ta.calls < la.ta.fail_at;
    if (!own_transport) {
        /* The frames needed no memory (the borrowed transport allocates nothing). */
        assert_int_equal(la.ta.calls, *allocs_after_create);
    }
    cs_mutex_unlock(&la.m);
out:
    cs_stream_destroy(&s);
    cs_producer_destroy(&p);
    assert_int_equal(la.ta.live, 0);
    cs_mutex_destroy(&la.m);
    return clean;
}

static void fail_every_index(bool own_transport)
{
    size_t n, after = 0;

    for (n = 1; n < 1000; n++) {
        if (run(n, own_transport, &after)) {
            break;
        }
    }
    assert_true(n < 1000);
    printf("  %s transport: %zu allocation sites failed in turn, %zu allocations to create\n",
           own_transport ? "default" : "borrowed", n - 1, after);
}

static void test_borrowed_transport(void **state)
{
    (void)state;
    fail_every_index(false);
}

static void test_default_transport(void **state)
{
    cs_producer_config pc;
    cs_producer *p = NULL;
    cs_status st;
    (void)state;

    cs_producer_config_init(&pc);
    pc.endpoint = "http://127.0.0.1:1";
    pc.anonymous = true;
    st = cs_producer_create(&pc, &p);
    if (st == CS_E_UNSUPPORTED) {
        skip(); /* a build without libcurl */
    }
    assert_int_equal(st, CS_OK);
    cs_producer_destroy(&p);
    fail_every_index(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_borrowed_transport),
        cmocka_unit_test(test_default_transport),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
