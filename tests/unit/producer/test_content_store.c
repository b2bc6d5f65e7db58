/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the producer's content store: byte-exact round trips through reserve/commit and
 * peek/skip at every wrap position and over thousands of random wraps, rewind/resend, persisted
 * tail by whole fragments, DROP_OLDEST reports, WAIT timeouts and wake-ups, pressure hysteresis,
 * the <= 2% overhead from the real allocation, allocation failure, no allocation after create, and
 * a two-thread writer/reader stress run. Pure C: runs under qemu for the cross targets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "content_store.h"
#include "testutil.h"

/* The byte at stream offset o: writer and reader agree without sharing state. */
static uint8_t pat(uint64_t o)
{
    return (uint8_t)((o * 2654435761u) >> 13);
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

#define MAX_DROPS 4096
typedef struct recorder {
    csi_cstore_drop drops[MAX_DROPS];
    size_t n_drops;
    unsigned ev_th[64];
    bool ev_up[64];
    size_t n_ev;
} recorder;

static void on_drop(void *ctx, const csi_cstore_drop *d)
{
    recorder *r = ctx;
    if (r->n_drops < MAX_DROPS) {
        r->drops[r->n_drops] = *d;
    }
    r->n_drops++;
}

static void on_pressure(void *ctx, unsigned th, bool rising, size_t used, size_t cap)
{
    recorder *r = ctx;
    (void)used;
    (void)cap;
    if (r->n_ev < 64) {
        r->ev_th[r->n_ev] = th;
        r->ev_up[r->n_ev] = rising;
    }
    r->n_ev++;
}

static csi_cstore *mk(size_t cap, csi_cstore_policy pol, uint64_t timeout_ns, recorder *r,
                      const cs_allocator *a)
{
    csi_cstore_config cfg;
    csi_cstore *s = NULL;

    csi_cstore_config_init(&cfg);
    cfg.capacity = cap;
    cfg.policy = pol;
    cfg.wait_timeout_ns = timeout_ns;
    cfg.allocator = a;
    cfg.on_drop = on_drop;
    cfg.on_pressure = on_pressure;
    cfg.cb_ctx = r;
    assert_int_equal(csi_cstore_create(&cfg, &s), CS_OK);
    return s;
}

/* Writer state of the pattern tests. */
typedef struct wstate {
    uint64_t off;  /* stream offset of the next byte written */
    uint64_t roff; /* stream offset of the next byte read */
} wstate;

static cs_status put(csi_cstore *s, wstate *w, size_t len, unsigned flags, uint64_t ts,
                     size_t *region_off, const uint8_t *base)
{
    uint8_t *p;
    cs_status st = csi_cstore_reserve(s, len, flags, ts, &p);
    size_t i;

    if (st != CS_OK) {
        return st;
    }
    if (region_off != NULL && base != NULL) {
        *region_off = (size_t)(p - base);
    }
    for (i = 0; i < len; i++) {
        p[i] = pat(w->off + i);
    }
    st = csi_cstore_commit(s, len);
    if (st == CS_OK) {
        w->off += len;
    }
    return st;
}

/* Reads everything unsent in chunks of random size, checking each byte. */
static void drain(csi_cstore *s, wstate *w)
{
    csi_cstore_span sp;
    size_t i, n;

    for (;;) {
        assert_int_equal(csi_cstore_peek(s, &sp), CS_OK);
        if (sp.len == 0) {
            break;
        }
        assert_false(sp.discontinuity);
        n = 1 + (size_t)(rnd() % sp.len);
        for (i = 0; i < n; i++) {
            if (sp.data[i] != pat(w->roff + i)) {
                fail_msg("byte %llu differs", (unsigned long long)(w->roff + i));
            }
        }
        assert_int_equal(csi_cstore_skip(s, n), CS_OK);
        w->roff += n;
    }
    assert_int_equal(w->roff, w->off);
}

static const uint8_t *ring_base(csi_cstore *s, wstate *w)
{
    /* The first reservation of an empty store lands at offset 0. */
    uint8_t *p;
    (void)w;
    assert_int_equal(csi_cstore_reserve(s, 1, CSI_CSTORE_FRAGMENT_START, 0, &p), CS_OK);
    assert_int_equal(csi_cstore_commit(s, 0), CS_OK);
    return p;
}

/* ---------------------------------------------------------------------------------------------- */

/* Puts a fragment and returns the physical end of its region. */
static size_t put_at(csi_cstore *s, wstate *w, size_t len, unsigned flags, uint64_t ts,
                     const uint8_t *base, size_t *off)
{
    *off = 0; /* put() sets it; this keeps -O3's maybe-uninitialized analysis quiet */
    assert_int_equal(put(s, w, len, flags, ts, off, base), CS_OK);
    return *off + len;
}

/* Every physical head position o: a frame one byte longer than the room left at the block's end
 * pads to the start when the 1-byte fragment before it can stay (o > cap/2), else evicts it (then
 * the empty store simply restarts at 0) when it cannot. That fragment was sent, so its byte is
 * given up first (it stays indexed until its ack); only the padding makes the eviction needed.
 * Bytes are checked after every step. */
static void test_every_wrap_position(void **state)
{
    const size_t cap = 4096;
    recorder r = {0};
    wstate w = {0};
    csi_cstore *s = mk(cap, CSI_CSTORE_DROP_OLDEST, 0, &r, NULL);
    const uint8_t *base = ring_base(s, &w);
    size_t o, off, h = 0, drops = 0, padded = 0;
    uint64_t ts = 0;
    (void)state;

    for (o = 1; o < cap; o++) {
        size_t len = cap - o + 1;
        /* Fillers (freed at once) bring the head to o - 1; a 1-byte fragment stays live. */
        while (h != o - 1) {
            h = put_at(s, &w, h < o - 1 ? o - 1 - h : cap - h, CSI_CSTORE_FRAGMENT_START, ++ts,
                       base, &off) %
                cap;
            drain(s, &w);
            assert_int_equal(csi_cstore_ack_persisted(s, ts, NULL), CS_OK);
        }
        h = put_at(s, &w, 1, CSI_CSTORE_FRAGMENT_START, ++ts, base, &off);
        assert_int_equal(h, o);
        drain(s, &w); /* sent, not persisted: it stays */
        assert_int_equal(put(s, &w, len, CSI_CSTORE_FRAGMENT_START, ++ts, &off, base), CS_OK);
        assert_int_equal(off, 0);
        if (2 * len <= cap) { /* 1 live + (len - 1) padding + len */
            padded++;
        } else {
            drops++;
            assert_int_equal(r.drops[r.n_drops - 1].first_ts_ns, ts - 1);
            assert_true(r.drops[r.n_drops - 1].was_sent);
        }
        assert_int_equal(r.n_drops, drops);
        /* A continuation right behind it, then everything is read back and freed. */
        if (len < cap) {
            /* (when 2 * len == cap it needs the 1-byte fragment's byte, given up already: the
             * fragment stays, sent and indexed, until the ack) */
            h = put_at(s, &w, 1, 0, ts, base, &off) % cap;
            assert_int_equal(off, len);
            assert_int_equal(r.n_drops, drops);
        } else {
            h = 0;
        }
        drain(s, &w);
        assert_int_equal(csi_cstore_ack_persisted(s, ts, NULL), CS_OK);
    }
    /* Padded: o = cap/2 + 1 .. cap - 1. Evicted: o = 1 .. cap/2. */
    assert_int_equal(padded, cap / 2 - 1);
    assert_int_equal(r.n_drops, cap / 2);
    csi_cstore_destroy(&s);
    assert_null(s);
}

typedef struct wrap_case {
    size_t cap;
    size_t max_frame;
    unsigned frames_per_fragment;
    unsigned wraps;
} wrap_case;

static const wrap_case wrap_cases[] = {
    {4096, 2048, 1, 3000},   {4096, 700, 5, 3000},        {65536, 9000, 30, 2000},
    {65536, 65536, 1, 1000}, {1u << 20, 200000, 60, 200}, {8192, 64, 100, 2000},
};

static void test_random_wraps(void **state)
{
    size_t c;
    (void)state;

    for (c = 0; c < sizeof(wrap_cases) / sizeof(wrap_cases[0]); c++) {
        const wrap_case *wc = &wrap_cases[c];
        recorder r = {0};
        wstate w = {0};
        csi_cstore *s = mk(wc->cap, CSI_CSTORE_WAIT, 0, &r, NULL);
        uint64_t frame = 0, frag_ts = 0;
        csi_cstore_metrics m;

        while (w.off < (uint64_t)wc->cap * wc->wraps) {
            size_t len = 1 + (size_t)(rnd() % wc->max_frame);
            unsigned fl = frame % wc->frames_per_fragment == 0 ? CSI_CSTORE_FRAGMENT_START : 0;
            cs_status st;
            if (fl != 0) {
                frag_ts = frame;
            }
            st = put(s, &w, len, fl, fl != 0 ? frag_ts : frame, NULL, NULL);
            if (st == CS_E_TIMEOUT) {
                /* Full: read and acknowledge everything (the open fragment too), then the same
                 * frame fits, as the start of a new fragment. */
                drain(s, &w);
                assert_int_equal(csi_cstore_ack_persisted(s, frame, NULL), CS_OK);
                st = put(s, &w, len, fl, fl != 0 ? frag_ts : frame, NULL, NULL);
            }
            if (st == CS_E_STATE) {
                assert_int_equal(fl, 0);
                frag_ts = frame;
                st = put(s, &w, len, CSI_CSTORE_FRAGMENT_START, frag_ts, NULL, NULL);
            }
            assert_int_equal(st, CS_OK);
            if (rnd() % 4 == 0) {
                drain(s, &w);
            }
            frame++;
        }
        drain(s, &w);
        csi_cstore_get_metrics(s, &m);
        assert_int_equal(r.n_drops, 0);
        assert_int_equal(m.fragments_dropped, 0);
        csi_cstore_destroy(&s);
    }
}

static void test_ring_geometry_and_args(void **state)
{
    recorder r = {0};
    csi_cstore *s = mk(4096, CSI_CSTORE_DROP_OLDEST, 0, &r, NULL);
    csi_cstore_config cfg;
    csi_cstore *bad = NULL;
    uint8_t *p;
    csi_cstore_span sp;
    (void)state;

    assert_int_equal(csi_cstore_reserve(s, 0, CSI_CSTORE_FRAGMENT_START, 0, &p), CS_E_INVAL);
    assert_int_equal(csi_cstore_commit(s, 1), CS_E_STATE);
    /* The first frame must start a fragment. */
    assert_int_equal(csi_cstore_reserve(s, 10, 0, 0, &p), CS_E_STATE);
    assert_int_equal(csi_cstore_reserve(s, 10, CSI_CSTORE_FRAGMENT_START, 0, &p), CS_OK);
    assert_int_equal(csi_cstore_reserve(s, 10, CSI_CSTORE_FRAGMENT_START, 0, &p), CS_E_STATE);
    assert_int_equal(csi_cstore_commit(s, 11), CS_E_INVAL);
    assert_int_equal(csi_cstore_commit(s, 0), CS_OK); /* abandoned */
    assert_int_equal(csi_cstore_peek(s, &sp), CS_OK);
    assert_int_equal(sp.len, 0);
    assert_int_equal(csi_cstore_skip(s, 1), CS_E_INVAL);
    csi_cstore_destroy(&s);
    csi_cstore_destroy(&s);

    csi_cstore_config_init(&cfg);
    cfg.capacity = 100;
    assert_int_equal(csi_cstore_create(&cfg, &bad), CS_E_INVAL);
    csi_cstore_config_init(&cfg);
    cfg.thresholds_pct[1] = 40;
    assert_int_equal(csi_cstore_create(&cfg, &bad), CS_E_INVAL);
    assert_null(bad);
}

/* ---------------------------------------------------------------------------------------------- */

/* Five fragments of 3 frames; returns each fragment's start offset in frag_off[0..5]. */
static void five_fragments(csi_cstore *s, wstate *w, uint64_t frag_off[6])
{
    unsigned f, i;

    for (f = 0; f < 5; f++) {
        frag_off[f] = w->off;
        for (i = 0; i < 3; i++) {
            unsigned fl = i == 0 ? CSI_CSTORE_FRAGMENT_START : 0;
            if (f == 0 && i == 0) {
                fl |= CSI_CSTORE_SESSION_START;
            }
            assert_int_equal(put(s, w, 100 + f * 10 + i, fl, 1000u * (f + 1) + i, NULL, NULL),
                             CS_OK);
        }
    }
    frag_off[5] = w->off;
}

static void read_n(csi_cstore *s, wstate *w, uint64_t upto)
{
    csi_cstore_span sp;
    size_t i, n;

    while (w->roff < upto) {
        assert_int_equal(csi_cstore_peek(s, &sp), CS_OK);
        assert_true(sp.len > 0);
        n = sp.len < upto - w->roff ? sp.len : (size_t)(upto - w->roff);
        for (i = 0; i < n; i++) {
            assert_int_equal(sp.data[i], pat(w->roff + i));
        }
        assert_int_equal(csi_cstore_skip(s, n), CS_OK);
        w->roff += n;
    }
}

static void test_rewind_and_persisted_tail(void **state)
{
    recorder r = {0};
    wstate w = {0};
    csi_cstore *s = mk(8192, CSI_CSTORE_DROP_OLDEST, 0, &r, NULL);
    uint64_t fo[6];
    size_t freed;
    bool nh;
    csi_cstore_metrics m;
    (void)state;

    five_fragments(s, &w, fo);
    /* Send F0, F1 and half of F2. */
    read_n(s, &w, fo[2] + 50);
    /* An ack in the middle of F1's timestamps frees only F0 (F1's key 2000 > 1500). */
    assert_int_equal(csi_cstore_ack_persisted(s, 1500, &freed), CS_OK);
    assert_int_equal(freed, 1);
    /* F2 is covered by the ack but not fully sent: F1 goes, F2 stays. */
    assert_int_equal(csi_cstore_ack_persisted(s, 3000, &freed), CS_OK);
    assert_int_equal(freed, 1);
    csi_cstore_get_metrics(s, &m);
    assert_int_equal(m.fragments_stored, 3);
    assert_int_equal(m.fragments_persisted, 2);
    assert_int_equal(m.fragments_sent, 2);
    assert_int_equal(m.bytes_used, fo[5] - fo[2]);
    assert_int_equal(m.oldest_ts_ns, 3000);
    assert_int_equal(m.newest_ts_ns, 5002);

    /* Reconnect: back to F2's first byte; F2 has no stream header. */
    assert_int_equal(csi_cstore_rewind(s, &nh), CS_OK);
    assert_true(nh);
    w.roff = fo[2];
    read_n(s, &w, fo[5]);
    /* F2 fully sent now: the remembered ack frees it; F3 stays. */
    csi_cstore_get_metrics(s, &m);
    assert_int_equal(m.fragments_stored, 2);
    /* An ack of F3 frees F3 only; F4 (being written) stays. */
    assert_int_equal(csi_cstore_ack_persisted(s, 4000, &freed), CS_OK);
    assert_int_equal(freed, 1);
    csi_cstore_get_metrics(s, &m);
    assert_int_equal(m.fragments_stored, 1);
    assert_int_equal(m.bytes_used, fo[5] - fo[4]);
    assert_int_equal(put(s, &w, 10, 0, 5003, NULL, NULL), CS_OK);
    /* The server ends F4 (end of stream): freed once sent; a continuation is then refused. */
    assert_int_equal(csi_cstore_ack_persisted(s, 5000, &freed), CS_OK);
    assert_int_equal(freed, 0);
    read_n(s, &w, w.off);
    csi_cstore_get_metrics(s, &m);
    assert_int_equal(m.fragments_stored, 0);
    assert_int_equal(m.bytes_used, 0);
    assert_int_equal(m.fragments_persisted, 5);
    assert_int_equal(put(s, &w, 10, 0, 5004, NULL, NULL), CS_E_STATE);
    assert_int_equal(put(s, &w, 10, CSI_CSTORE_FRAGMENT_START, 6000, NULL, NULL), CS_OK);
    read_n(s, &w, w.off);
    assert_int_equal(r.n_drops, 0);

    /* A rewind to a fragment that begins with a stream header says so. */
    csi_cstore_destroy(&s);
    s = mk(8192, CSI_CSTORE_DROP_OLDEST, 0, &r, NULL);
    w.off = w.roff = 0;
    five_fragments(s, &w, fo);
    read_n(s, &w, fo[3]);
    assert_int_equal(csi_cstore_rewind(s, &nh), CS_OK);
    assert_false(nh);
    w.roff = 0;
    read_n(s, &w, fo[5]);
    csi_cstore_destroy(&s);
}

/* ---------------------------------------------------------------------------------------------- */

static void test_drop_oldest(void **state)
{
    recorder r = {0};
    wstate w = {0};
    const size_t cap = 65536;
    csi_cstore *s = mk(cap, CSI_CSTORE_DROP_OLDEST, 0, &r, NULL);
    uint64_t starts[200], ts0[200];
    uint32_t frames[200];
    unsigned f, i, nf = 0, kept_first;
    csi_cstore_metrics m;
    csi_cstore_span sp;
    bool nh;
    (void)state;

    /* 200 fragments of 1..8 frames, nothing read: the oldest whole fragments are dropped. */
    for (f = 0; f < 200; f++) {
        unsigned k = 1 + (unsigned)(rnd() % 8);
        starts[f] = w.off;
        ts0[f] = 1000000ull * f;
        frames[f] = k;
        for (i = 0; i < k; i++) {
            size_t len = 50 + (size_t)(rnd() % 1500);
            unsigned fl = i == 0 ? CSI_CSTORE_FRAGMENT_START : 0;
            if (f == 0 && i == 0) {
                fl |= CSI_CSTORE_SESSION_START;
            }
            assert_int_equal(put(s, &w, len, fl, ts0[f] + 1000u * i, NULL, NULL), CS_OK);
        }
        nf++;
    }
    assert_true(r.n_drops > 0);
    csi_cstore_get_metrics(s, &m);
    assert_int_equal(m.fragments_dropped, r.n_drops);
    kept_first = (unsigned)r.n_drops;
    /* Exactly the oldest fragments, in order, whole, with their timestamps. */
    for (f = 0; f < r.n_drops; f++) {
        uint64_t end = starts[f + 1];
        assert_int_equal(r.drops[f].reason, CSI_CSTORE_DROP_EVICTED);
        assert_int_equal(r.drops[f].first_ts_ns, ts0[f]);
        assert_int_equal(r.drops[f].last_ts_ns, ts0[f] + 1000u * (frames[f] - 1));
        assert_int_equal(r.drops[f].frames, frames[f]);
        /* Bytes: the fragment, plus the wrap padding that ends it, if any. */
        assert_true(r.drops[f].bytes >= end - starts[f]);
        assert_true(r.drops[f].bytes < end - starts[f] + 1550);
        assert_false(r.drops[f].was_sent);
    }
    assert_int_equal(m.fragments_stored, nf - kept_first);
    assert_int_equal(m.oldest_ts_ns, ts0[kept_first]);
    assert_true(m.bytes_used <= cap);
    /* The first fragment had a stream header the reader never sent: reconnect and rewind. */
    assert_int_equal(csi_cstore_peek(s, &sp), CS_OK);
    assert_true(sp.discontinuity);
    assert_int_equal(csi_cstore_rewind(s, &nh), CS_OK);
    assert_true(nh);
    w.roff = starts[kept_first];
    read_n(s, &w, w.off);

    /* A partially sent fragment dropped under the reader: discontinuity, whole fragment. */
    csi_cstore_destroy(&s);
    memset(&r, 0, sizeof(r));
    s = mk(4096, CSI_CSTORE_DROP_OLDEST, 0, &r, NULL);
    w.off = w.roff = 0;
    assert_int_equal(put(s, &w, 1000, CSI_CSTORE_FRAGMENT_START, 1, NULL, NULL), CS_OK);
    assert_int_equal(put(s, &w, 1000, 0, 2, NULL, NULL), CS_OK);
    assert_int_equal(put(s, &w, 1000, CSI_CSTORE_FRAGMENT_START, 3, NULL, NULL), CS_OK);
    read_n(s, &w, 500); /* half of the first frame; the span is released by skip */
    assert_int_equal(put(s, &w, 2000, CSI_CSTORE_FRAGMENT_START, 4, NULL, NULL), CS_OK);
    assert_int_equal(r.n_drops, 1);
    assert_int_equal(r.drops[0].first_ts_ns, 1);
    assert_int_equal(r.drops[0].last_ts_ns, 2);
    assert_int_equal(r.drops[0].bytes, 2000);
    assert_true(r.drops[0].was_sent);
    assert_int_equal(csi_cstore_peek(s, &sp), CS_OK);
    assert_true(sp.discontinuity);
    assert_int_equal(csi_cstore_rewind(s, &nh), CS_OK);
    w.roff = 2000;
    read_n(s, &w, w.off);

    /* A frame larger than the store: reported, never stored. */
    assert_int_equal(csi_cstore_reserve(s, 4097, CSI_CSTORE_FRAGMENT_START, 77, &(uint8_t *){NULL}),
                     CS_E_NOSPACE);
    assert_int_equal(r.n_drops, 2);
    assert_int_equal(r.drops[1].reason, CSI_CSTORE_DROP_TOO_LARGE);
    assert_int_equal(r.drops[1].first_ts_ns, 77);
    assert_int_equal(r.drops[1].bytes, 4097);

    /* The fragment being written outgrows the store: evicted, and the next commit must start
     * a fragment. */
    assert_int_equal(put(s, &w, 3000, CSI_CSTORE_FRAGMENT_START, 10, NULL, NULL), CS_OK);
    assert_int_equal(put(s, &w, 3000, 0, 11, NULL, NULL), CS_E_NOSPACE);
    assert_int_equal(r.drops[r.n_drops - 1].first_ts_ns, 10);
    assert_int_equal(put(s, &w, 100, 0, 12, NULL, NULL), CS_E_STATE);
    assert_int_equal(put(s, &w, 100, CSI_CSTORE_FRAGMENT_START, 13, NULL, NULL), CS_OK);
    csi_cstore_destroy(&s);
}

/* DROP_OLDEST gives up sent bytes before it drops anything: the fragments stay indexed (no
 * report) and their PERSISTED ack frees them; a rewind drops, oldest first and whole, every one
 * whose bytes were given up; the unsent bytes are never touched. */
static void test_release_sent_before_evicting(void **state)
{
    recorder r = {0};
    wstate w = {0};
    csi_cstore *s = mk(8192, CSI_CSTORE_DROP_OLDEST, 0, &r, NULL);
    csi_cstore_metrics m;
    csi_cstore_span sp;
    size_t freed = 0;
    bool nh = false;
    (void)state;

    /* F1..F3 of 2000 bytes each (two frames); F1, F2 and half of F3 sent; nothing acked. */
    for (unsigned f = 1; f <= 3; f++) {
        unsigned fl = CSI_CSTORE_FRAGMENT_START | (f == 1 ? CSI_CSTORE_SESSION_START : 0u);
        assert_int_equal(put(s, &w, 1000, fl, f * 100u, NULL, NULL), CS_OK);
        assert_int_equal(put(s, &w, 1000, 0, f * 100u + 1, NULL, NULL), CS_OK);
    }
    read_n(s, &w, 5000);
    /* F4 (3000) does not fit in the 2192 left at the block's end: it wraps, and needs the
     * 5000 sent bytes, which go; nothing is dropped. Used: F3's unsent 1000, the padding, F4. */
    assert_int_equal(put(s, &w, 3000, CSI_CSTORE_FRAGMENT_START, 400, NULL, NULL), CS_OK);
    assert_int_equal(r.n_drops, 0);
    csi_cstore_get_metrics(s, &m);
    assert_int_equal(m.fragments_stored, 4);
    assert_int_equal(m.bytes_used, 1000 + 2192 + 3000);
    assert_int_equal(m.bytes_unsent, 1000 + 2192 + 3000);
    assert_int_equal(m.oldest_ts_ns, 100);
    /* The reader goes on where it was: F3's second half, then F4, byte-exact. */
    read_n(s, &w, 7000);
    /* The acks free the released fragments as if they were whole. */
    assert_int_equal(csi_cstore_ack_persisted(s, 300, &freed), CS_OK);
    assert_int_equal(freed, 3);
    csi_cstore_get_metrics(s, &m);
    assert_int_equal(m.fragments_stored, 1);
    assert_int_equal(m.fragments_persisted, 3);
    assert_int_equal(m.bytes_used, 3000);
    assert_int_equal(r.n_drops, 0);

    /* Unsent bytes are not given up: F4 has 2000 unsent; F5 (7500) evicts F4 whole. */
    assert_int_equal(put(s, &w, 7500, CSI_CSTORE_FRAGMENT_START, 500, NULL, NULL), CS_OK);
    assert_int_equal(r.n_drops, 1);
    assert_int_equal(r.drops[0].first_ts_ns, 400);
    assert_int_equal(r.drops[0].bytes, 3000);
    assert_true(r.drops[0].was_sent);
    /* (F4 was evicted under the reader: a new connection.) */
    assert_int_equal(csi_cstore_peek(s, &sp), CS_OK);
    assert_true(sp.discontinuity);
    assert_int_equal(csi_cstore_rewind(s, &nh), CS_OK);
    assert_true(nh);
    w.roff = 9000;
    read_n(s, &w, w.off);
    csi_cstore_destroy(&s);

    /* A connection replaced before the acks: the released fragments cannot be sent again. */
    memset(&r, 0, sizeof(r));
    w.off = w.roff = 0;
    s = mk(8192, CSI_CSTORE_DROP_OLDEST, 0, &r, NULL);
    for (unsigned f = 1; f <= 3; f++) {
        assert_int_equal(put(s, &w, 2000, CSI_CSTORE_FRAGMENT_START, f * 100u, NULL, NULL), CS_OK);
    }
    read_n(s, &w, 4000); /* F1 and F2 */
    assert_int_equal(put(s, &w, 4000, CSI_CSTORE_FRAGMENT_START, 400, NULL, NULL), CS_OK);
    assert_int_equal(r.n_drops, 0);
    assert_int_equal(csi_cstore_rewind(s, &nh), CS_OK);
    assert_int_equal(r.n_drops, 2); /* F1, F2: oldest first, whole, reported as sent */
    assert_int_equal(r.drops[0].first_ts_ns, 100);
    assert_int_equal(r.drops[1].first_ts_ns, 200);
    assert_int_equal(r.drops[1].bytes, 2000);
    assert_true(r.drops[0].was_sent && r.drops[1].was_sent);
    assert_true(nh);
    csi_cstore_get_metrics(s, &m);
    assert_int_equal(m.fragments_stored, 2);
    assert_int_equal(m.fragments_dropped, 2);
    assert_int_equal(m.oldest_ts_ns, 300);
    w.roff = 4000; /* re-sent from F3, byte-exact */
    read_n(s, &w, w.off);

    /* The fragment being written, released and then rewound past: the writer starts anew. */
    assert_int_equal(put(s, &w, 4000, CSI_CSTORE_FRAGMENT_START, 500, NULL, NULL), CS_OK);
    assert_int_equal(csi_cstore_ack_persisted(s, 400, &freed), CS_OK);
    read_n(s, &w, w.off);
    assert_int_equal(put(s, &w, 6000, 0, 501, NULL, NULL), CS_OK); /* releases F5's 4000 */
    csi_cstore_get_metrics(s, &m);
    assert_int_equal(m.fragments_stored, 1);
    assert_int_equal(m.bytes_used, 192 + 6000); /* the wrap's padding and the new frame */
    assert_int_equal(csi_cstore_rewind(s, NULL), CS_OK);
    assert_int_equal(r.drops[r.n_drops - 1].first_ts_ns, 500);
    assert_int_equal(r.drops[r.n_drops - 1].frames, 2);
    assert_int_equal(put(s, &w, 10, 0, 502, NULL, NULL), CS_E_STATE);
    assert_int_equal(put(s, &w, 10, CSI_CSTORE_FRAGMENT_START, 600, NULL, NULL), CS_OK);
    csi_cstore_destroy(&s);
}

/* A full index counts as a full store: DROP_OLDEST evicts, WAIT waits; continuing frames need
 * no entry. */
static void test_index_full(void **state)
{
    recorder r = {0};
    wstate w = {0};
    csi_cstore *s = mk(4096, CSI_CSTORE_DROP_OLDEST, 0, &r, NULL);
    csi_cstore_metrics m;
    unsigned f;
    (void)state;

    csi_cstore_get_metrics(s, &m);
    assert_int_equal(m.index_entries, CSI_CSTORE_MIN_INDEX_ENTRIES);
    for (f = 0; f < CSI_CSTORE_MIN_INDEX_ENTRIES; f++) {
        assert_int_equal(put(s, &w, 10, CSI_CSTORE_FRAGMENT_START, f, NULL, NULL), CS_OK);
    }
    assert_int_equal(put(s, &w, 10, 0, 100, NULL, NULL), CS_OK);
    assert_int_equal(r.n_drops, 0);
    assert_int_equal(put(s, &w, 10, CSI_CSTORE_FRAGMENT_START, 8, NULL, NULL), CS_OK);
    assert_int_equal(r.n_drops, 1);
    assert_int_equal(r.drops[0].first_ts_ns, 0);
    /* Sent bytes are given up for bytes, not for index entries: all sent, the index full
     * again, the oldest is evicted and the others keep their bytes for a resend. */
    w.roff = 10; /* fragment 0 was evicted unsent */
    read_n(s, &w, w.off);
    assert_int_equal(put(s, &w, 10, CSI_CSTORE_FRAGMENT_START, 9, NULL, NULL), CS_OK);
    assert_int_equal(r.n_drops, 2);
    assert_int_equal(r.drops[1].first_ts_ns, 1);
    csi_cstore_get_metrics(s, &m);
    assert_int_equal(m.fragments_stored, CSI_CSTORE_MIN_INDEX_ENTRIES);
    assert_int_equal(m.bytes_used, 90); /* fragments 2..9, fragment 7 with two frames */
    csi_cstore_destroy(&s);

    memset(&r, 0, sizeof(r));
    s = mk(4096, CSI_CSTORE_WAIT, 1000000ull, &r, NULL);
    for (f = 0; f < CSI_CSTORE_MIN_INDEX_ENTRIES; f++) {
        assert_int_equal(put(s, &w, 10, CSI_CSTORE_FRAGMENT_START, f, NULL, NULL), CS_OK);
    }
    assert_int_equal(put(s, &w, 10, CSI_CSTORE_FRAGMENT_START, 8, NULL, NULL), CS_E_TIMEOUT);
    assert_int_equal(r.n_drops, 0);
    csi_cstore_destroy(&s);
}

/* A span the reader holds is never overwritten, even when its fragment is evicted. */
static void test_pinned_span_survives_eviction(void **state)
{
    recorder r = {0};
    wstate w = {0};
    csi_cstore *s = mk(4096, CSI_CSTORE_DROP_OLDEST, 20000000ull, &r, NULL);
    csi_cstore_span sp;
    size_t i;
    (void)state;

    assert_int_equal(put(s, &w, 1500, CSI_CSTORE_FRAGMENT_START, 1, NULL, NULL), CS_OK);
    assert_int_equal(put(s, &w, 1500, CSI_CSTORE_FRAGMENT_START, 2, NULL, NULL), CS_OK);
    assert_int_equal(csi_cstore_peek(s, &sp), CS_OK);
    assert_int_equal(sp.len, 3000);
    /* Needs F1's space; F1 is evicted but pinned: the reserve waits, then times out. */
    assert_int_equal(put(s, &w, 1500, CSI_CSTORE_FRAGMENT_START, 3, NULL, NULL), CS_E_TIMEOUT);
    for (i = 0; i < sp.len; i++) {
        assert_int_equal(sp.data[i], pat(i));
    }
    assert_int_equal(csi_cstore_skip(s, sp.len), CS_OK);
    assert_int_equal(put(s, &w, 1500, CSI_CSTORE_FRAGMENT_START, 3, NULL, NULL), CS_OK);
    /* The reader was sending the evicted fragment: it is told to reconnect. */
    assert_int_equal(csi_cstore_peek(s, &sp), CS_OK);
    assert_true(sp.discontinuity);
    assert_int_equal(r.n_drops, 1);
    assert_true(r.drops[0].first_ts_ns == 1);
    csi_cstore_destroy(&s);
}

/* ---------------------------------------------------------------------------------------------- */

typedef struct acker {
    csi_cstore *s;
    uint64_t delay_ns;
    wstate *w;
} acker;

static void ack_thread(void *arg)
{
    acker *a = arg;
    cs_clock_sleep_ns(NULL, a->delay_ns);
    drain(a->s, a->w);
    (void)csi_cstore_ack_persisted(a->s, UINT64_MAX, NULL);
}

static void test_wait_timeout_and_wake(void **state)
{
    recorder r = {0};
    wstate w = {0};
    csi_cstore *s = mk(4096, CSI_CSTORE_WAIT, 50000000ull, &r, NULL);
    uint64_t t0, dt;
    cs_thread th;
    acker a = {NULL, 30000000ull, NULL};
    csi_cstore_config cfg;
    (void)state;

    assert_int_equal(put(s, &w, 2000, CSI_CSTORE_FRAGMENT_START, 1, NULL, NULL), CS_OK);
    assert_int_equal(put(s, &w, 2000, CSI_CSTORE_FRAGMENT_START, 2, NULL, NULL), CS_OK);
    t0 = cs_clock_monotonic_ns(NULL);
    assert_int_equal(put(s, &w, 2000, CSI_CSTORE_FRAGMENT_START, 3, NULL, NULL), CS_E_TIMEOUT);
    dt = cs_clock_monotonic_ns(NULL) - t0;
    assert_true(dt >= 50000000ull);
    assert_int_equal(r.n_drops, 0);
    csi_cstore_destroy(&s);

    /* A second thread reads and acks after 30 ms: the writer wakes well before its 5 s. */
    csi_cstore_config_init(&cfg);
    cfg.capacity = 4096;
    cfg.policy = CSI_CSTORE_WAIT;
    cfg.wait_timeout_ns = 5000000000ull;
    assert_int_equal(csi_cstore_create(&cfg, &s), CS_OK);
    w.off = w.roff = 0;
    assert_int_equal(put(s, &w, 2000, CSI_CSTORE_FRAGMENT_START, 1, NULL, NULL), CS_OK);
    assert_int_equal(put(s, &w, 2000, CSI_CSTORE_FRAGMENT_START, 2, NULL, NULL), CS_OK);
    a.s = s;
    a.w = &w;
    assert_int_equal(cs_thread_create(&th, ack_thread, &a, "acker"), CS_OK);
    t0 = cs_clock_monotonic_ns(NULL);
    {
        /* The pattern offset is the writer's; the reader thread checks only what is committed
         * before it starts (both frames), so write after it has drained. */
        uint8_t *p;
        assert_int_equal(csi_cstore_reserve(s, 2000, CSI_CSTORE_FRAGMENT_START, 3, &p), CS_OK);
        memset(p, 0, 2000);
        assert_int_equal(csi_cstore_commit(s, 0), CS_OK);
    }
    dt = cs_clock_monotonic_ns(NULL) - t0;
    assert_int_equal(cs_thread_join(&th), CS_OK);
    assert_true(dt >= 20000000ull);
    assert_true(dt < 4000000000ull);
    csi_cstore_destroy(&s);
}

/* ---------------------------------------------------------------------------------------------- */

static void test_pressure_hysteresis(void **state)
{
    recorder r = {0};
    wstate w = {0};
    csi_cstore *s = mk(10000, CSI_CSTORE_DROP_OLDEST, 0, &r, NULL);
    static const size_t sizes[] = {400, 4700, 2500, 1500};
    static const size_t events_after[] = {0, 1, 2, 3}; /* 4%, 51%, 76%, 91% */
    static const unsigned th[] = {50, 75, 90, 90, 75, 50, 50};
    static const bool up[] = {true, true, true, false, false, false, true};
    unsigned f;
    (void)state;

    for (f = 0; f < 4; f++) {
        assert_int_equal(put(s, &w, sizes[f], CSI_CSTORE_FRAGMENT_START, f, NULL, NULL), CS_OK);
        assert_int_equal(r.n_ev, events_after[f]);
    }
    read_n(s, &w, w.off);
    /* 87%: below 90 but within its hysteresis of 5 points: nothing. */
    assert_int_equal(csi_cstore_ack_persisted(s, 0, NULL), CS_OK);
    assert_int_equal(r.n_ev, 3);
    /* 40%: all three cleared, highest first. */
    assert_int_equal(csi_cstore_ack_persisted(s, 1, NULL), CS_OK);
    assert_int_equal(r.n_ev, 6);
    /* 59%: 50 again. */
    assert_int_equal(put(s, &w, 1900, CSI_CSTORE_FRAGMENT_START, 4, NULL, NULL), CS_OK);
    assert_int_equal(r.n_ev, 7);
    for (f = 0; f < 7; f++) {
        assert_int_equal(r.ev_th[f], th[f]);
        assert_int_equal(r.ev_up[f], up[f]);
    }
    csi_cstore_destroy(&s);
}

/* ---------------------------------------------------------------------------------------------- */

static void test_overhead(void **state)
{
    size_t cap;
    (void)state;

    for (cap = 64u * 1024u; cap <= 64u * 1024u * 1024u; cap *= 2) {
        size_t caps[3] = {cap, cap + cap / 3, cap - 1};
        size_t k;
        for (k = 0; k < 3; k++) {
            cs_test_allocator ta;
            csi_cstore_config cfg;
            csi_cstore *s = NULL;
            csi_cstore_metrics m;
            size_t over;

            cs_test_allocator_init(&ta, 0);
            csi_cstore_config_init(&cfg);
            cfg.capacity = caps[k];
            cfg.allocator = &ta.a;
            assert_int_equal(csi_cstore_create(&cfg, &s), CS_OK);
            assert_int_equal(ta.calls, 1);
            over = ta.bytes_live - caps[k];
            csi_cstore_get_metrics(s, &m);
            assert_int_equal(m.footprint_bytes, ta.bytes_live);
            if (k == 0) {
                print_message("capacity %9zu: allocation %9zu, overhead %6zu bytes = %.3f%% "
                              "(%zu index entries)\n",
                              caps[k], ta.bytes_live, over, 100.0 * (double)over / (double)caps[k],
                              m.index_entries);
            }
            assert_true(over * 50 <= caps[k]);
            csi_cstore_destroy(&s);
            assert_int_equal(ta.live, 0);
        }
    }
}

static void test_alloc_failure(void **state)
{
    size_t n;
    (void)state;

    for (n = 1; n <= 2; n++) {
        cs_test_allocator ta;
        csi_cstore_config cfg;
        csi_cstore *s = NULL;
        cs_status st;

        cs_test_allocator_init(&ta, n);
        csi_cstore_config_init(&cfg);
        cfg.capacity = 65536;
        cfg.allocator = &ta.a;
        st = csi_cstore_create(&cfg, &s);
        if (n <= 1) {
            assert_int_equal(st, CS_E_NOMEM);
            assert_null(s);
        } else {
            assert_int_equal(st, CS_OK); /* one call in all: no index past it fails */
            csi_cstore_destroy(&s);
        }
        assert_int_equal(ta.live, 0);
        assert_int_equal(ta.bytes_live, 0);
    }
}

static void test_no_allocation_after_create(void **state)
{
    cs_test_allocator ta;
    csi_cstore_config cfg;
    csi_cstore *s = NULL;
    wstate w = {0};
    uint64_t f;
    size_t calls;
    (void)state;

    cs_test_allocator_init(&ta, 0);
    csi_cstore_config_init(&cfg);
    cfg.capacity = 1u << 20;
    cfg.allocator = &ta.a;
    assert_int_equal(csi_cstore_create(&cfg, &s), CS_OK);
    calls = ta.calls;
    for (f = 0; f < 100000; f++) {
        size_t len = 100 + (size_t)(rnd() % 4000);
        assert_int_equal(
            put(s, &w, len, f % 30 == 0 ? CSI_CSTORE_FRAGMENT_START : 0, f, NULL, NULL), CS_OK);
        if (f % 7 == 0 && f >= 30) {
            /* Everything before the fragment being written is persisted. */
            drain(s, &w);
            assert_int_equal(csi_cstore_ack_persisted(s, f - f % 30 - 1, NULL), CS_OK);
        }
    }
    assert_int_equal(ta.calls, calls);
    csi_cstore_destroy(&s);
    assert_int_equal(ta.live, 0);
}

/* ---------------------------------------------------------------------------------------------- */

#define STRESS_FRAMES 200000u

typedef struct stress {
    csi_cstore *s;
    uint64_t total; /* bytes the writer wrote, known to the reader when done */
    volatile int done;
    cs_mutex m;
    uint64_t bad;
    uint64_t restarts;
} stress;

static void writer_thread(void *arg)
{
    stress *st = arg;
    uint64_t off = 0, f, seed = 12345;

    for (f = 0; f < STRESS_FRAMES; f++) {
        uint8_t *p = NULL;
        size_t len, i;
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        len = 1 + (size_t)((seed >> 33) % 3000);
        /* A fragment every 10 frames, keyed by its stream offset. When the reader's ack freed
         * the fragment being written, the frame is written again as a fragment start. */
        unsigned fl = f % 10 == 0 ? CSI_CSTORE_FRAGMENT_START : 0;
        cs_status cst;
        for (;;) {
            cst = csi_cstore_reserve(st->s, len, fl, off, &p);
            if (cst == CS_OK) {
                for (i = 0; i < len; i++) {
                    p[i] = pat(off + i);
                }
                cst = csi_cstore_commit(st->s, len);
            }
            if (cst != CS_E_STATE || fl != 0) {
                break;
            }
            st->restarts++;
            fl = CSI_CSTORE_FRAGMENT_START;
        }
        if (cst != CS_OK) {
            st->bad++;
            break;
        }
        off += len;
    }
    cs_mutex_lock(&st->m);
    st->total = off;
    st->done = 1;
    cs_mutex_unlock(&st->m);
}

static void test_two_thread_stress(void **state)
{
    stress st;
    cs_thread th;
    csi_cstore_config cfg;
    uint64_t roff = 0;
    unsigned spins = 0;
    (void)state;

    memset(&st, 0, sizeof(st));
    assert_int_equal(cs_mutex_init(&st.m), CS_OK);
    csi_cstore_config_init(&cfg);
    cfg.capacity = 64u * 1024u;
    cfg.policy = CSI_CSTORE_WAIT;
    cfg.wait_timeout_ns = 30000000000ull;
    assert_int_equal(csi_cstore_create(&cfg, &st.s), CS_OK);
    assert_int_equal(cs_thread_create(&th, writer_thread, &st, "writer"), CS_OK);
    for (;;) {
        csi_cstore_span sp;
        size_t i, n;
        int done;
        uint64_t total;

        assert_int_equal(csi_cstore_peek(st.s, &sp), CS_OK);
        if (sp.len == 0) {
            /* Idle: everything sent is persisted, the fragment being written included. */
            assert_int_equal(csi_cstore_ack_persisted(st.s, roff, NULL), CS_OK);
            cs_mutex_lock(&st.m);
            done = st.done;
            total = st.total;
            cs_mutex_unlock(&st.m);
            if (done) {
                /* Everything committed before "done" is visible now; one more peek decides. */
                assert_int_equal(csi_cstore_peek(st.s, &sp), CS_OK);
                if (sp.len == 0) {
                    assert_int_equal(roff, total);
                    break;
                }
            } else {
                if (++spins % 64 == 0) {
                    cs_clock_sleep_ns(NULL, 10000);
                }
                continue;
            }
        }
        assert_false(sp.discontinuity);
        n = 1 + (size_t)(rnd() % sp.len);
        for (i = 0; i < n; i++) {
            if (sp.data[i] != pat(roff + i)) {
                fail_msg("stress: byte %llu differs", (unsigned long long)(roff + i));
            }
        }
        assert_int_equal(csi_cstore_skip(st.s, n), CS_OK);
        roff += n;
        if (rnd() % 3 == 0) {
            assert_int_equal(csi_cstore_ack_persisted(st.s, roff, NULL), CS_OK);
        }
    }
    assert_int_equal(cs_thread_join(&th), CS_OK);
    assert_int_equal(st.bad, 0);
    csi_cstore_destroy(&st.s);
    cs_mutex_destroy(&st.m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_geometry_and_args),
        cmocka_unit_test(test_every_wrap_position),
        cmocka_unit_test(test_random_wraps),
        cmocka_unit_test(test_rewind_and_persisted_tail),
        cmocka_unit_test(test_drop_oldest),
        cmocka_unit_test(test_release_sent_before_evicting),
        cmocka_unit_test(test_index_full),
        cmocka_unit_test(test_pinned_span_survives_eviction),
        cmocka_unit_test(test_wait_timeout_and_wake),
        cmocka_unit_test(test_pressure_hysteresis),
        cmocka_unit_test(test_overhead),
        cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_no_allocation_after_create),
        cmocka_unit_test(test_two_thread_stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
