/* SPDX-License-Identifier: Apache-2.0 */
/* The producer's frame path without a network: a producer whose transport only records (it
 * answers describeStream/getDataEndpoint with canned JSON and pulls the PutMedia body through
 * read_body as a socket would, pausing when told). Checks: the calls go describe ->
 * getDataEndpoint -> putMedia with the PROTOCOL.md §3 headers; the bytes read_body hands out
 * parse with the project's MKV reader as ONE valid stream (EBML header, Segment, Tracks with the
 * avcC built from the first key frame's SPS/PPS, one Cluster per key frame) holding every frame
 * byte-identical to its AVCC conversion, with its timestamp and key flag, fragment tags before
 * the right cluster, AVCC input copied as is; put_frame's refusals (before the first key frame,
 * backwards timestamps, no NAL unit, unknown track, a frame larger than the store, reported as
 * TOO_LARGE); RELATIVE timecodes send x-amzn-producer-start-timestamp; time-based fragmentation
 * cuts at the first key frame after fragment_ms; B-frames in decode order with an open GOP
 * (PTS before the key frame: negative block timecodes) stored with their PTS, and evicted with
 * drop reports that span them; and no heap allocation per frame once streaming (an allocator
 * that counts). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "camstream/mkv.h"
#include "camstream/producer.h"
#include "testutil.h"

/* x264 parameter sets (320x240 baseline), as in tests/unit/nal. */
static const uint8_t sps[] = {0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb,
                              0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00,
                              0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0xa4, 0x80};
static const uint8_t pps[] = {0x68, 0xcb, 0x83, 0xcb, 0x20};

#define NFRAMES 240
#define GOP 30
#define FRAME_NS 33333333ull
#define BASE_NS 1700000000000000000ull

/* ---------------------------------------------------------------------------------------------- */
/* The recording transport                                                                        */
/* ---------------------------------------------------------------------------------------------- */

struct rcall {
    bool used;
    bool putmedia;
    bool status_sent;
    bool paused;
    bool ended;
    cs_transport_handlers h;
};

typedef struct rec {
    cs_transport t;
    cs_mutex m;
    cs_cond c;
    bool woken;
    struct rcall calls[4];
    char log[1024];  /* paths in call order */
    char hdrs[2048]; /* putMedia headers "name: value\n" */
    uint8_t *out;
    size_t out_len, out_cap;
    bool hold_body; /* never read a putMedia body (a server that stopped reading) */
} rec;

static cs_status r_start(void *self, const cs_transport_request *req,
                         const cs_transport_handlers *h, cs_transport_call **call)
{
    rec *r = self;
    const char *path = strrchr(req->url, '/');

    for (size_t i = 0; i < 4; i++) {
        if (!r->calls[i].used) {
            memset(&r->calls[i], 0, sizeof(r->calls[i]));
            r->calls[i].used = true;
            r->calls[i].h = *h;
            r->calls[i].putmedia = req->streaming_body;
            strncat(r->log, path, sizeof(r->log) - strlen(r->log) - 1);
            if (req->streaming_body) {
                r->hdrs[0] = '\0';
                for (size_t k = 0; k < req->header_count; k++) {
                    char line[512];
                    snprintf(line, sizeof(line), "%s: %s\n", req->headers[k].name,
                             req->headers[k].value);
                    strncat(r->hdrs, line, sizeof(r->hdrs) - strlen(r->hdrs) - 1);
                }
            }
            *call = (cs_transport_call *)&r->calls[i];
            return CS_OK;
        }
    }
    return CS_E_LIMIT;
}

static void r_resume(void *self, cs_transport_call *call)
{
    (void)self;
    ((struct rcall *)(void *)call)->paused = false;
}

static void r_cancel(void *self, cs_transport_call *call)
{
    (void)self;
    ((struct rcall *)(void *)call)->used = false;
}

static void r_append(rec *r, const uint8_t *p, size_t n)
{
    if (r->out_len + n > r->out_cap) {
        r->out_cap = (r->out_len + n) * 2;
        r->out = realloc(r->out, r->out_cap);
        assert_non_null(r->out);
    }
    memcpy(r->out + r->out_len, p, n);
    r->out_len += n;
}

static cs_status r_run(void *self, uint32_t timeout_ms)
{
    rec *r = self;
    static uint8_t buf[7000]; /* an odd size: spans get split */
    bool busy = false;

    for (size_t i = 0; i < 4; i++) {
        struct rcall *c = &r->calls[i];
        if (!c->used) {
            continue;
        }
        if (!c->putmedia) {
            static const char describe[] = "{\"StreamInfo\":{\"StreamName\":\"s\",\"Status\":"
                                           "\"ACTIVE\"}}";
            static const char endpoint[] = "{\"DataEndpoint\":\"http://127.0.0.1:9\"}";
            const cs_transport_handlers h = c->h;
            c->used = false;
            h.on_status(h.ctx, 200);
            h.on_data(h.ctx, (const uint8_t *)describe, sizeof(describe) - 1);
            h.on_data(h.ctx, (const uint8_t *)endpoint, sizeof(endpoint) - 1);
            h.on_done(h.ctx, CS_OK, 200);
            busy = true;
            continue;
        }
        if (!c->status_sent) {
            c->status_sent = true;
            c->h.on_status(c->h.ctx, 200);
        }
        while (!r->hold_body && !c->paused && !c->ended) {
            bool pause = false;
            size_t n = c->h.read_body(c->h.ctx, buf, sizeof(buf), &pause);
            if (n > 0) {
                r_append(r, buf, n);
                busy = true;
            } else if (pause) {
                c->paused = true;
            } else {
                c->ended = true;
                c->used = false;
                c->h.on_done(c->h.ctx, CS_OK, 200);
            }
        }
    }
    if (!busy) {
        cs_mutex_lock(&r->m);
        if (!r->woken) {
            (void)cs_cond_timedwait(&r->c, &r->m, (uint64_t)timeout_ms * 1000000u);
        }
        r->woken = false;
        cs_mutex_unlock(&r->m);
    }
    return CS_OK;
}

static void r_wakeup(void *self)
{
    rec *r = self;

    cs_mutex_lock(&r->m);
    r->woken = true;
    cs_cond_signal(&r->c);
    cs_mutex_unlock(&r->m);
}

static void r_destroy(void *self)
{
    (void)self;
}

static void rec_init(rec *r)
{
    memset(r, 0, sizeof(*r));
    r->t.self = r;
    r->t.start = r_start;
    r->t.resume = r_resume;
    r->t.cancel = r_cancel;
    r->t.run = r_run;
    r->t.wakeup = r_wakeup;
    r->t.destroy = r_destroy;
    assert_int_equal(cs_mutex_init(&r->m), CS_OK);
    assert_int_equal(cs_cond_init(&r->c), CS_OK);
}

static void rec_free(rec *r)
{
    cs_cond_destroy(&r->c);
    cs_mutex_destroy(&r->m);
    free(r->out);
}

/* ---------------------------------------------------------------------------------------------- */
/* Frames                                                                                         */
/* ---------------------------------------------------------------------------------------------- */

static uint64_t seed = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(seed >> 33);
}

typedef struct frame {
    uint8_t *annexb;
    size_t annexb_len;
    uint8_t *avcc;
    size_t avcc_len;
    bool key;
    unsigned seen;
} frame;

static frame frames[NFRAMES];

/* An Annex-B access unit: AUD, [SPS PPS], slice; payload without zero bytes. */
static void make_frames(void)
{
    for (size_t i = 0; i < NFRAMES; i++) {
        bool key = i % GOP == 0;
        size_t payload = key ? 6000 + rnd() % 3000 : 200 + rnd() % 2500;
        uint8_t *p = malloc(payload + 64), *q = p;
        assert_non_null(p);
        memcpy(q, "\0\0\0\1\x09\xf0", 6);
        q += 6;
        if (key) {
            memcpy(q, "\0\0\0\1", 4);
            memcpy(q + 4, sps, sizeof(sps));
            q += 4 + sizeof(sps);
            memcpy(q, "\0\0\1", 3);
            memcpy(q + 3, pps, sizeof(pps));
            q += 3 + sizeof(pps);
        }
        memcpy(q, "\0\0\0\1", 4);
        q[4] = key ? 0x65 : 0x41;
        q += 5;
        for (size_t j = 0; j < payload; j++) {
            *q++ = (uint8_t)(1 + rnd() % 255);
        }
        frames[i].annexb = p;
        frames[i].annexb_len = (size_t)(q - p);
        frames[i].key = key;
        assert_int_equal(cs_nal_annexb_to_avcc(CS_NAL_CODEC_H264, CS_NAL_DROP_AUD, p,
                                               frames[i].annexb_len, NULL, 0, &frames[i].avcc_len),
                         CS_OK);
        frames[i].avcc = malloc(frames[i].avcc_len);
        assert_non_null(frames[i].avcc);
        assert_int_equal(cs_nal_annexb_to_avcc(CS_NAL_CODEC_H264, CS_NAL_DROP_AUD, p,
                                               frames[i].annexb_len, frames[i].avcc,
                                               frames[i].avcc_len, &frames[i].avcc_len),
                         CS_OK);
    }
}

static void free_frames(void)
{
    for (size_t i = 0; i < NFRAMES; i++) {
        free(frames[i].annexb);
        free(frames[i].avcc);
    }
}

static int setup(void **state)
{
    (void)state;
    make_frames();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free_frames();
    return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Helpers                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

typedef struct cbs {
    cs_drop drops[8];
    size_t n_drops;
} cbs;

static void on_drop(void *ctx, cs_stream *s, const cs_drop *d)
{
    cbs *c = ctx;
    (void)s;
    if (c->n_drops < 8) {
        c->drops[c->n_drops] = *d;
    }
    c->n_drops++;
}

static cs_producer *make_producer(rec *r, cs_test_allocator *ta)
{
    cs_producer_config pc;
    cs_producer *p = NULL;

    cs_producer_config_init(&pc);
    pc.endpoint = "http://127.0.0.1:9";
    pc.anonymous = true;
    pc.transport = &r->t;
    pc.allocator = ta != NULL ? &ta->a : NULL;
    assert_int_equal(cs_producer_create(&pc, &p), CS_OK);
    return p;
}

/* Waits until every stored byte went through read_body (plus the stream header). */
static void wait_sent(cs_stream *s)
{
    for (int i = 0; i < 2000; i++) {
        cs_stream_metrics m;
        cs_stream_get_metrics(s, &m);
        if (m.store_bytes_unsent == 0 && m.state == CS_STREAM_STATE_STREAMING &&
            m.bytes_sent >= m.bytes_stored) {
            return;
        }
        cs_clock_sleep_ns(NULL, 5000000u);
    }
    fail_msg("the upload did not drain");
}

typedef struct parsed {
    unsigned segments, clusters, frames, tags, tracks;
    uint64_t cluster_tc[64];
    uint64_t tag_before_cluster; /* index of the cluster following the tag */
    char tag_name[32], tag_value[32];
    bool cp_ok;
    uint64_t first_ts;
} parsed;

/* Parses the recorded upload; checks frames against `frames[first..]` with timestamps
 * BASE_NS + i * FRAME_NS (or relative to the first). */
static void parse(const rec *r, parsed *out, size_t first, bool relative, bool avcc_from_sps)
{
    static cs_mkv_reader rd;
    cs_mkv_event ev;
    size_t pos = 0, used;
    uint8_t cp[128];
    size_t cp_len;

    memset(out, 0, sizeof(*out));
    out->tag_before_cluster = UINT64_MAX;
    assert_int_equal(
        cs_nal_avcc_from_sps_pps(sps, sizeof(sps), pps, sizeof(pps), cp, sizeof(cp), &cp_len),
        CS_OK);
    for (size_t i = 0; i < NFRAMES; i++) {
        frames[i].seen = 0;
    }
    assert_int_equal(cs_mkv_reader_init(&rd, NULL), CS_OK);
    for (;;) {
        assert_int_equal(cs_mkv_reader_next(&rd, r->out + pos, r->out_len - pos, &used, &ev),
                         CS_OK);
        pos += used;
        if (ev.type == CS_MKV_EV_NONE) {
            break;
        }
        switch (ev.type) {
        case CS_MKV_EV_SEGMENT_START:
            out->segments++;
            break;
        case CS_MKV_EV_TRACK:
            out->tracks++;
            assert_int_equal(ev.u.track.info.number, 1);
            if (avcc_from_sps) {
                out->cp_ok = ev.u.track.info.codec_private_len == cp_len &&
                             memcmp(ev.u.track.info.codec_private, cp, cp_len) == 0;
            }
            assert_int_equal(ev.u.track.info.width, 320);
            assert_int_equal(ev.u.track.info.height, 240);
            break;
        case CS_MKV_EV_CLUSTER_START:
            if (out->clusters < 64) {
                out->cluster_tc[out->clusters] = ev.u.cluster.timecode;
            }
            out->clusters++;
            break;
        case CS_MKV_EV_TAG:
            out->tags++;
            snprintf(out->tag_name, sizeof(out->tag_name), "%.*s", (int)ev.u.tag.name_len,
                     ev.u.tag.name);
            snprintf(out->tag_value, sizeof(out->tag_value), "%.*s", (int)ev.u.tag.value_len,
                     ev.u.tag.value);
            out->tag_before_cluster = out->clusters;
            break;
        case CS_MKV_EV_FRAME: {
            uint64_t ts = (uint64_t)ev.u.block.timestamp_ns, idx;
            uint64_t base = relative ? 0 : BASE_NS / 1000000u * 1000000u;
            frame *f;
            if (out->frames == 0) {
                out->first_ts = ts;
            }
            /* ms ticks: frame i is at floor((BASE + i * FRAME_NS) / 1e6) ms */
            idx = (ts - base + 999999u) / FRAME_NS;
            if (relative) {
                idx = (ts + 999999u) / FRAME_NS + first;
            }
            assert_true(idx < NFRAMES);
            f = &frames[idx];
            assert_int_equal(ev.u.block.frame_size, f->avcc_len);
            assert_int_equal(ev.u.block.data_len, f->avcc_len);
            assert_memory_equal(ev.u.block.data, f->avcc, f->avcc_len);
            assert_int_equal(ev.u.block.key, f->key);
            f->seen++;
            out->frames++;
            break;
        }
        default:
            break;
        }
    }
    do {
        assert_int_equal(cs_mkv_reader_end(&rd, &ev), CS_OK);
    } while (ev.type != CS_MKV_EV_NONE);
}

static cs_status put(cs_stream *s, size_t i, uint64_t ts)
{
    cs_frame f = CS_FRAME_INIT;
    f.data = frames[i].annexb;
    f.size = frames[i].annexb_len;
    f.pts_ns = ts;
    f.flags = frames[i].key ? CS_FRAME_KEY : 0;
    return cs_stream_put_frame(s, &f);
}

/* ---------------------------------------------------------------------------------------------- */
/* Tests                                                                                          */
/* ---------------------------------------------------------------------------------------------- */

static void test_annexb_stream(void **state)
{
    static rec r;
    cs_test_allocator ta;
    cs_producer *p;
    cs_stream_config sc;
    cs_stream *s = NULL;
    cs_stream_metrics m;
    parsed pr;
    size_t calls_before;
    cbs cb;
    uint8_t big[1];
    (void)state;

    memset(&cb, 0, sizeof(cb));
    rec_init(&r);
    cs_test_allocator_init(&ta, 0);
    p = make_producer(&r, &ta);
    cs_stream_config_init(&sc);
    sc.name = "frames-1";
    sc.tracks[0].codec = CS_MKV_CODEC_ID_H264;
    sc.track_count = 1;
    sc.store_bytes = 1u << 20;
    sc.callbacks.on_drop = on_drop;
    sc.callbacks.ctx = &cb;
    assert_int_equal(cs_stream_create(p, &sc, &s), CS_OK);
    {
        cs_stream *dup = NULL;
        assert_int_equal(cs_stream_create(p, &sc, &dup), CS_E_EXISTS);
        assert_null(dup);
    }

    /* Refusals before the first key frame, and of bad input. */
    assert_int_equal(put(s, 1, BASE_NS), CS_E_STATE);
    {
        cs_frame f = CS_FRAME_INIT;
        f.data = (const uint8_t *)"\0\0\0\1";
        f.size = 4;
        f.flags = CS_FRAME_KEY;
        f.format = CS_FRAME_ANNEXB;
        assert_int_equal(cs_stream_put_frame(s, &f), CS_E_MALFORMED);
        f.data = big;
        f.size = 0;
        assert_int_equal(cs_stream_put_frame(s, &f), CS_E_INVAL);
        f.data = frames[0].annexb;
        f.size = frames[0].annexb_len;
        f.track = 7;
        assert_int_equal(cs_stream_put_frame(s, &f), CS_E_INVAL);
    }
    assert_int_equal(cs_stream_put_tag(s, "AWS_KINESISVIDEO_X", "v"), CS_E_INVAL);
    assert_int_equal(cs_stream_put_tag(s, "", "v"), CS_E_INVAL);

    /* Warm up with one GOP, then count allocations over the rest. */
    for (size_t i = 0; i < GOP; i++) {
        assert_int_equal(put(s, i, BASE_NS + i * FRAME_NS), CS_OK);
    }
    wait_sent(s);
    calls_before = ta.calls;
    for (size_t i = GOP; i < NFRAMES; i++) {
        if (i == 3 * GOP + 5) {
            assert_int_equal(cs_stream_put_tag(s, "camera", "door"), CS_OK);
        }
        assert_int_equal(put(s, i, BASE_NS + i * FRAME_NS), CS_OK);
        if (i == 2 * GOP + 3) {
            assert_int_equal(put(s, i, BASE_NS + (i - 2) * FRAME_NS), CS_E_INVAL); /* back */
        }
    }
    wait_sent(s);
    assert_int_equal(ta.calls, calls_before); /* no allocation per frame once streaming */

    /* A frame larger than the whole store: refused and reported. */
    {
        size_t n = (1u << 20) + 100;
        uint8_t *huge = malloc(n);
        cs_frame f = CS_FRAME_INIT;
        assert_non_null(huge);
        memset(huge, 0x55, n);
        memcpy(huge, "\0\0\0\1\x41", 5);
        f.data = huge;
        f.size = n;
        f.pts_ns = BASE_NS + NFRAMES * FRAME_NS;
        assert_int_equal(cs_stream_put_frame(s, &f), CS_E_NOSPACE);
        free(huge);
        assert_int_equal(cb.n_drops, 1);
        assert_int_equal(cb.drops[0].reason, CS_DROP_TOO_LARGE);
        assert_int_equal(cb.drops[0].frames, 1);
    }

    cs_stream_get_metrics(s, &m);
    assert_int_equal(m.frames_put, NFRAMES);
    assert_int_equal(m.fragments_put, NFRAMES / GOP);
    assert_int_equal(m.connections, 1);
    assert_true(m.errors_put_frame >= 6);
    assert_int_equal(cs_stream_get_state(s), CS_STREAM_STATE_STREAMING);
    cs_stream_destroy(&s);
    assert_null(s);
    cs_producer_destroy(&p); /* the I/O thread is joined: the recording is complete */
    assert_null(p);
    assert_int_equal(ta.live, 0);
    assert_string_equal(r.log, "/describeStream/getDataEndpoint/putMedia");
    assert_non_null(strstr(r.hdrs, "x-amzn-stream-name: frames-1\n"));
    assert_non_null(strstr(r.hdrs, "x-amzn-fragment-timecode-type: ABSOLUTE\n"));
    assert_non_null(strstr(r.hdrs, "x-amzn-fragment-acknowledgment-required: 1\n"));
    assert_null(strstr(r.hdrs, "x-amzn-producer-start-timestamp"));

    parse(&r, &pr, 0, false, true);
    assert_int_equal(pr.segments, 1);
    assert_int_equal(pr.tracks, 1);
    assert_true(pr.cp_ok);
    assert_int_equal(pr.frames, NFRAMES);
    assert_int_equal(pr.clusters, NFRAMES / GOP);
    for (size_t i = 0; i < NFRAMES; i++) {
        assert_int_equal(frames[i].seen, 1);
    }
    for (size_t c = 0; c < pr.clusters; c++) {
        assert_int_equal(pr.cluster_tc[c], (BASE_NS + c * GOP * FRAME_NS) / 1000000u);
    }
    assert_int_equal(pr.tags, 1);
    assert_string_equal(pr.tag_name, "camera");
    assert_string_equal(pr.tag_value, "door");
    assert_int_equal(pr.tag_before_cluster, 4); /* put during GOP 3: before cluster 4 */
    rec_free(&r);
}

/* B-frames, as x264 with bframes=2 and an open GOP puts them out: decode order I0 P3 B1 B2 P6
 * B4 B5 ... and, at every later key frame K (an anchor), K B(K-2) B(K-1): those two B-frames
 * belong to K's fragment but show before it, so their block timecodes are negative (-67 and
 * -34 ms), and the others go back within their cluster. DTS given, increasing. Every frame must
 * be stored byte-identical with its own PTS, and each cluster's timecode is its key frame's PTS
 * (KVS: PTS, in DTS order). A frame going back without a DTS is refused (0 means DTS = PTS). */
static void bframe_order(size_t *order)
{
    size_t n = 0;

    order[n++] = 0;
    for (size_t a = 3; a < NFRAMES; a += 3) {
        order[n++] = a;
        order[n++] = a - 2;
        order[n++] = a - 1;
    }
    order[n++] = NFRAMES - 1; /* 238, 239 left: P239 B238 */
    order[n++] = NFRAMES - 2;
    assert_int_equal(n, NFRAMES);
}

/* The k-th frame put, in that decode order: its own PTS, the DTS increasing. */
static cs_frame bframe_at(const size_t *order, size_t k)
{
    size_t i = order[k];
    cs_frame f = CS_FRAME_INIT;
    f.data = frames[i].annexb;
    f.size = frames[i].annexb_len;
    f.pts_ns = BASE_NS + i * FRAME_NS;
    f.dts_ns = BASE_NS + k * FRAME_NS - 2 * FRAME_NS;
    f.flags = frames[i].key ? CS_FRAME_KEY : 0;
    return f;
}

/* An H.264 stream for the B-frames, its drops reported to `cb`. */
static cs_stream *bframe_stream(cs_producer *p, const char *name, size_t store_bytes, cbs *cb)
{
    cs_stream_config sc;
    cs_stream *s = NULL;
    cs_stream_config_init(&sc);
    sc.name = name;
    sc.tracks[0].codec = CS_MKV_CODEC_ID_H264;
    sc.track_count = 1;
    sc.store_bytes = store_bytes;
    sc.callbacks.on_drop = on_drop;
    sc.callbacks.ctx = cb;
    assert_int_equal(cs_stream_create(p, &sc, &s), CS_OK);
    return s;
}

static void test_bframes(void **state)
{
    static rec r;
    cs_producer *p;
    cs_stream *s;
    cs_stream_metrics m;
    parsed pr;
    size_t order[NFRAMES];
    cbs cb;
    (void)state;

    bframe_order(order);
    memset(&cb, 0, sizeof(cb));
    rec_init(&r);
    p = make_producer(&r, NULL);
    s = bframe_stream(p, "frames-b", 1u << 20, &cb);
    for (size_t k = 0; k < NFRAMES; k++) {
        cs_frame f = bframe_at(order, k);
        assert_int_equal(cs_stream_put_frame(s, &f), CS_OK);
        if (k == 10) {
            /* a frame without a DTS whose PTS is before the last DTS */
            f.pts_ns -= 5 * FRAME_NS;
            f.dts_ns = 0;
            assert_int_equal(cs_stream_put_frame(s, &f), CS_E_INVAL);
        }
    }
    wait_sent(s);
    cs_stream_get_metrics(s, &m);
    assert_int_equal(m.frames_put, NFRAMES);
    assert_int_equal(m.fragments_put, NFRAMES / GOP);
    assert_int_equal(m.frames_dropped, 0);
    assert_int_equal(m.errors_put_frame, 1);
    cs_stream_destroy(&s);
    cs_producer_destroy(&p);
    /* destroy reports what was not PERSISTED (the recorder never acks): one drop of every frame,
     * from the earliest PTS to the latest */
    assert_int_equal(cb.n_drops, 1);
    assert_int_equal(cb.drops[0].reason, CS_DROP_DESTROYED);
    assert_int_equal(cb.drops[0].frames, NFRAMES);
    assert_int_equal(cb.drops[0].first_ts_ns, BASE_NS);
    assert_int_equal(cb.drops[0].last_ts_ns, BASE_NS + (NFRAMES - 1) * FRAME_NS);

    parse(&r, &pr, 0, false, true);
    assert_int_equal(pr.segments, 1);
    assert_int_equal(pr.frames, NFRAMES);
    assert_int_equal(pr.clusters, NFRAMES / GOP);
    for (size_t i = 0; i < NFRAMES; i++) {
        assert_int_equal(frames[i].seen, 1);
    }
    for (size_t c = 0; c < pr.clusters; c++) {
        assert_int_equal(pr.cluster_tc[c], (BASE_NS + c * GOP * FRAME_NS) / 1000000u);
    }
    rec_free(&r);
}

/* The same B-frame stream into a 96 KiB store that nothing frees (the recorder never acks): each
 * fragment is evicted whole while the next one is written, and its drop report covers every frame
 * of it, from the B-frames that show before its key frame (PTS 30k-2, 30k-1) to the last one
 * (30k+27): 30 frames, the first fragment 28 (0-27). */
static void test_bframes_evicted(void **state)
{
    static rec r;
    cs_producer *p;
    cs_stream *s;
    cs_stream_metrics m;
    size_t order[NFRAMES], evicted = 0;
    uint64_t frames_evicted = 0;
    cbs cb;
    (void)state;

    bframe_order(order);
    memset(&cb, 0, sizeof(cb));
    rec_init(&r);
    r.hold_body = true; /* nothing sent: the full store evicts (see test_pressure_and_eviction) */
    p = make_producer(&r, NULL);
    s = bframe_stream(p, "frames-b-evicted", 96u << 10, &cb);
    for (size_t k = 0; k < NFRAMES; k++) {
        cs_frame f = bframe_at(order, k);
        assert_int_equal(cs_stream_put_frame(s, &f), CS_OK);
    }
    cs_stream_get_metrics(s, &m);
    assert_true(cb.n_drops >= 5 && cb.n_drops <= 8);
    for (size_t d = 0; d < cb.n_drops; d++) {
        const cs_drop *dr = &cb.drops[d];
        size_t first = d == 0 ? 0 : d * GOP - 2;
        assert_int_equal(dr->reason, CS_DROP_EVICTED);
        assert_int_equal(dr->frames, d == 0 ? GOP - 2 : GOP);
        assert_int_equal(dr->first_ts_ns, BASE_NS + first * FRAME_NS);
        assert_int_equal(dr->last_ts_ns, BASE_NS + (d * GOP + GOP - 3) * FRAME_NS);
        frames_evicted += dr->frames;
        evicted++;
    }
    assert_int_equal(m.fragments_dropped, evicted);
    assert_int_equal(m.frames_dropped, frames_evicted);
    cs_stream_destroy(&s);
    cs_producer_destroy(&p);
    rec_free(&r);
}

static void test_avcc_relative_timebased(void **state)
{
    static rec r;
    cs_producer *p;
    cs_stream_config sc;
    cs_stream *s = NULL;
    parsed pr;
    uint8_t cp[128];
    size_t cp_len;
    const uint64_t t0 = 5000000000ull; /* 5 s: relative timecodes count from here */
    (void)state;

    rec_init(&r);
    p = make_producer(&r, NULL);
    assert_int_equal(
        cs_nal_avcc_from_sps_pps(sps, sizeof(sps), pps, sizeof(pps), cp, sizeof(cp), &cp_len),
        CS_OK);
    cs_stream_config_init(&sc);
    sc.name = "frames-2";
    sc.tracks[0].codec = CS_MKV_CODEC_ID_H264;
    sc.tracks[0].codec_private = cp; /* given: no waiting for a key frame */
    sc.tracks[0].codec_private_len = cp_len;
    sc.track_count = 1;
    sc.store_bytes = 1u << 20;
    sc.timecode_mode = CS_TIMECODE_RELATIVE;
    sc.key_frame_fragmentation = false;
    sc.fragment_ms = 2500; /* GOP of 1 s: a cut at every third key frame */
    assert_int_equal(cs_stream_create(p, &sc, &s), CS_OK);
    for (size_t i = 0; i < NFRAMES; i++) {
        cs_frame f = CS_FRAME_INIT;
        f.data = frames[i].avcc;
        f.size = frames[i].avcc_len;
        f.pts_ns = t0 + i * FRAME_NS;
        f.flags = frames[i].key ? CS_FRAME_KEY : 0;
        f.format = CS_FRAME_AVCC;
        assert_int_equal(cs_stream_put_frame(s, &f), CS_OK);
    }
    wait_sent(s);
    cs_stream_destroy(&s);
    cs_producer_destroy(&p); /* the I/O thread is joined: the recording is complete */
    assert_non_null(strstr(r.hdrs, "x-amzn-fragment-timecode-type: RELATIVE\n"));
    assert_non_null(strstr(r.hdrs, "x-amzn-producer-start-timestamp: 5.000\n"));
    parse(&r, &pr, 0, true, false);
    assert_int_equal(pr.segments, 1);
    assert_int_equal(pr.frames, NFRAMES);
    assert_int_equal(pr.first_ts, 0);
    /* key frames every 1 s (30 frames); cuts at 0, 3 s, 6 s */
    assert_int_equal(pr.clusters, 3);
    assert_int_equal(pr.cluster_tc[0], 0);
    assert_int_equal(pr.cluster_tc[1], 3 * GOP * FRAME_NS / 1000000u);
    assert_int_equal(pr.cluster_tc[2], 6 * GOP * FRAME_NS / 1000000u);
    rec_free(&r);
}

typedef struct pressure_log {
    unsigned th[16];
    bool rising[16];
    size_t n;
    cs_drop drops[16];
    size_t n_drops;
    bool wrong_thread;
    pthread_t writer;
} pressure_log;

static void pl_pressure(void *ctx, cs_stream *s, unsigned th, bool rising, size_t used, size_t cap)
{
    pressure_log *pl = ctx;
    (void)s;
    (void)used;
    (void)cap;
    if (rising && !pthread_equal(pthread_self(), pl->writer)) {
        pl->wrong_thread = true;
    }
    if (pl->n < 16) {
        pl->th[pl->n] = th;
        pl->rising[pl->n] = rising;
    }
    pl->n++;
}

static void pl_drop(void *ctx, cs_stream *s, const cs_drop *d)
{
    pressure_log *pl = ctx;
    (void)s;
    if (!pthread_equal(pthread_self(), pl->writer)) {
        pl->wrong_thread = true;
    }
    if (pl->n_drops < 16) {
        pl->drops[pl->n_drops] = *d;
    }
    pl->n_drops++;
}

/* Nothing is ever acked here, so the store fills: pressure rises through 50/75/90 and the oldest
 * whole fragments are evicted, each reported once with its frames' own timestamps, both on the
 * thread calling put_frame. */
static void test_pressure_and_eviction(void **state)
{
    static rec r;
    static pressure_log pl;
    cs_producer *p;
    cs_stream_config sc;
    cs_stream *s = NULL;
    cs_stream_metrics m;
    size_t gop_bytes = 0, frames_dropped = 0;
    (void)state;

    memset(&pl, 0, sizeof(pl));
    pl.writer = pthread_self();
    rec_init(&r);
    /* Nothing is sent, so a full store can only evict (bytes the connection took would be
     * given up first instead, and how many depends on the I/O thread's timing). */
    r.hold_body = true;
    p = make_producer(&r, NULL);
    cs_stream_config_init(&sc);
    sc.name = "frames-3";
    sc.tracks[0].codec = CS_MKV_CODEC_ID_H264;
    sc.track_count = 1;
    for (size_t i = 0; i < GOP; i++) {
        gop_bytes += frames[i].avcc_len + 16;
    }
    sc.store_bytes = gop_bytes * 3; /* about three GOPs of the eight */
    sc.callbacks.on_pressure = pl_pressure;
    sc.callbacks.on_drop = pl_drop;
    sc.callbacks.ctx = &pl;
    assert_int_equal(cs_stream_create(p, &sc, &s), CS_OK);
    for (size_t i = 0; i < NFRAMES; i++) {
        assert_int_equal(put(s, i, BASE_NS + i * FRAME_NS), CS_OK);
    }
    cs_stream_get_metrics(s, &m);
    assert_false(pl.wrong_thread);
    assert_true(pl.n >= 3);
    assert_int_equal(pl.th[0], 50);
    assert_int_equal(pl.th[1], 75);
    assert_int_equal(pl.th[2], 90);
    assert_true(pl.rising[0] && pl.rising[1] && pl.rising[2]);
    assert_true(pl.n_drops >= 4 && pl.n_drops <= 16);
    for (size_t d = 0; d < pl.n_drops; d++) {
        /* whole GOPs, oldest first, with the frames' own timestamps */
        assert_int_equal(pl.drops[d].reason, CS_DROP_EVICTED);
        assert_int_equal(pl.drops[d].frames, GOP);
        assert_int_equal(pl.drops[d].first_ts_ns, BASE_NS + d * GOP * FRAME_NS);
        assert_int_equal(pl.drops[d].last_ts_ns, BASE_NS + (d * GOP + GOP - 1) * FRAME_NS);
        frames_dropped += pl.drops[d].frames;
    }
    assert_int_equal(m.frames_dropped, frames_dropped);
    assert_int_equal(m.fragments_dropped, pl.n_drops);
    assert_true(m.store_fill_pct >= 50);
    cs_stream_destroy(&s);
    cs_producer_destroy(&p);
    rec_free(&r);
}

static void test_config_errors(void **state)
{
    static rec r;
    cs_producer_config pc;
    cs_producer *p = NULL;
    cs_stream_config sc;
    cs_stream *s = NULL;
    uint8_t junk[8] = {9, 9, 9, 9, 9, 9, 9, 9};
    (void)state;

    rec_init(&r);
    cs_producer_config_init(&pc);
    pc.transport = &r.t;
    assert_int_equal(cs_producer_create(&pc, &p), CS_E_INVAL); /* no endpoint */
    pc.endpoint = "ftp://x";
    assert_int_equal(cs_producer_create(&pc, &p), CS_E_INVAL);
    assert_null(p);
    p = make_producer(&r, NULL);
    cs_stream_config_init(&sc);
    sc.name = "bad name";
    sc.tracks[0].codec = CS_MKV_CODEC_ID_H264;
    sc.track_count = 1;
    assert_int_equal(cs_stream_create(p, &sc, &s), CS_E_INVAL);
    sc.name = "ok";
    sc.track_count = 0;
    assert_int_equal(cs_stream_create(p, &sc, &s), CS_E_INVAL);
    sc.track_count = 1;
    sc.store_bytes = 1000;
    assert_int_equal(cs_stream_create(p, &sc, &s), CS_E_INVAL);
    sc.store_bytes = 65536;
    sc.pressure_pct[1] = 40; /* not ascending */
    assert_int_equal(cs_stream_create(p, &sc, &s), CS_E_INVAL);
    sc.pressure_pct[1] = 75;
    sc.tracks[0].codec_private = junk;
    sc.tracks[0].codec_private_len = sizeof(junk);
    assert_int_equal(cs_stream_create(p, &sc, &s), CS_E_MALFORMED);
    assert_null(s);
    cs_producer_destroy(&p);
    rec_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_annexb_stream),
        cmocka_unit_test(test_avcc_relative_timebased),
        cmocka_unit_test(test_bframes),
        cmocka_unit_test(test_bframes_evicted),
        cmocka_unit_test(test_pressure_and_eviction),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
