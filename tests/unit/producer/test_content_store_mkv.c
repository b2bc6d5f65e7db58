/* SPDX-License-Identifier: Apache-2.0 */
/* End to end through the content store as the producer's frame path will use it: hand-made
 * H.264 Annex-B frames (real x264 SPS/PPS) are converted to AVCC straight into ring space behind
 * the fragmenter's header (one copy), read back through peek/skip as an uploader would, with
 * PERSISTED acks, an offline period that makes DROP_OLDEST evict whole fragments, and a reconnect
 * that rewinds to the oldest unpersisted fragment and resends the stream header. Each connection's
 * bytes are parsed by the MKV reader, which must find a valid stream holding exactly the frames
 * expected (byte-identical AVCC, timestamps, key flags). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "camstream/mkv.h"
#include "content_store.h"
#include "testutil.h"

/* x264 parameter sets (320x240 baseline), as in tests/unit/nal. */
static const uint8_t sps[] = {0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb,
                              0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00,
                              0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0xa4, 0x80};
static const uint8_t pps[] = {0x68, 0xcb, 0x83, 0xcb, 0x20};

#define NFRAMES 300
#define GOP 15
#define FRAME_NS 33000000ull
#define CAP (64u * 1024u)

typedef struct frame_rec {
    uint8_t *avcc; /* expected payload */
    size_t avcc_len;
    unsigned frag; /* fragment number */
    bool key;
    bool stored;   /* the store took it */
    unsigned seen; /* times the reader found it in the current connection */
} frame_rec;

typedef struct ctx {
    frame_rec frames[NFRAMES];
    uint64_t frag_key[NFRAMES]; /* fragment number -> key (cluster timecode in ns) */
    bool frag_dropped[NFRAMES];
    bool frag_persisted[NFRAMES];
    unsigned nfrags;
    uint8_t *out; /* one connection's bytes */
    size_t out_len, out_cap;
    size_t drops;
} ctx;

static uint64_t seed = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(seed >> 33);
}

/* An Annex-B access unit: [AUD] [SPS PPS] slice, payload without zero bytes. */
static uint8_t *make_annexb(bool key, size_t payload, size_t *len)
{
    uint8_t *p = malloc(payload + 64), *q = p;
    size_t i;

    assert_non_null(p);
    memcpy(q, "\0\0\0\1\x09\xf0", 6); /* AUD, dropped by the conversion */
    q += 6;
    if (key) {
        memcpy(q, "\0\0\0\1", 4);
        memcpy(q + 4, sps, sizeof(sps));
        q += 4 + sizeof(sps);
        memcpy(q, "\0\0\1", 3); /* a 3-byte start code grows by one */
        memcpy(q + 3, pps, sizeof(pps));
        q += 3 + sizeof(pps);
    }
    memcpy(q, "\0\0\0\1", 4);
    q[4] = key ? 0x65 : 0x41;
    q += 5;
    for (i = 0; i < payload; i++) {
        *q++ = (uint8_t)(1 + rnd() % 255);
    }
    *len = (size_t)(q - p);
    return p;
}

static void on_drop(void *arg, const csi_cstore_drop *d)
{
    ctx *c = arg;
    unsigned f;

    assert_int_equal(d->reason, CSI_CSTORE_DROP_EVICTED);
    for (f = 0; f < c->nfrags; f++) {
        if (c->frag_key[f] == d->first_ts_ns && !c->frag_dropped[f] && !c->frag_persisted[f]) {
            c->frag_dropped[f] = true;
            c->drops++;
            return;
        }
    }
    fail_msg("drop of an unknown fragment %llu", (unsigned long long)d->first_ts_ns);
}

static void append(ctx *c, const uint8_t *p, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        c->out_cap = (c->out_len + n) * 2;
        c->out = realloc(c->out, c->out_cap);
        assert_non_null(c->out);
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

static void upload(ctx *c, csi_cstore *s)
{
    csi_cstore_span sp;

    for (;;) {
        assert_int_equal(csi_cstore_peek(s, &sp), CS_OK);
        assert_false(sp.discontinuity);
        if (sp.len == 0) {
            return;
        }
        append(c, sp.data, sp.len);
        assert_int_equal(csi_cstore_skip(s, sp.len), CS_OK);
    }
}

/* Parses one connection's bytes; checks every frame against what was written. */
static unsigned check_mkv(ctx *c)
{
    static cs_mkv_reader rd;
    cs_mkv_event ev;
    size_t pos = 0, used;
    unsigned frames = 0, segments = 0, i;

    assert_int_equal(cs_mkv_reader_init(&rd, NULL), CS_OK);
    for (i = 0; i < NFRAMES; i++) {
        c->frames[i].seen = 0;
    }
    for (;;) {
        assert_int_equal(cs_mkv_reader_next(&rd, c->out + pos, c->out_len - pos, &used, &ev),
                         CS_OK);
        pos += used;
        if (ev.type == CS_MKV_EV_NONE) {
            break;
        }
        if (ev.type == CS_MKV_EV_SEGMENT_START) {
            segments++;
        }
        if (ev.type == CS_MKV_EV_FRAME) {
            uint64_t idx = (uint64_t)ev.u.block.timestamp_ns / FRAME_NS;
            frame_rec *f;
            assert_true(idx < NFRAMES);
            assert_int_equal((uint64_t)ev.u.block.timestamp_ns, idx * FRAME_NS);
            f = &c->frames[idx];
            assert_int_equal(ev.u.block.frame_size, f->avcc_len);
            assert_int_equal(ev.u.block.data_len, f->avcc_len); /* one chunk: whole frames */
            assert_memory_equal(ev.u.block.data, f->avcc, f->avcc_len);
            assert_int_equal(ev.u.block.key, f->key);
            f->seen++;
            frames++;
        }
    }
    do {
        assert_int_equal(cs_mkv_reader_end(&rd, &ev), CS_OK);
    } while (ev.type != CS_MKV_EV_NONE);
    assert_int_equal(segments, 1);
    return frames;
}

static void test_h264_through_store(void **state)
{
    static ctx c;
    cs_mkv_fragmenter_config fcfg;
    static cs_mkv_fragmenter frag;
    csi_cstore_config scfg;
    csi_cstore *s = NULL;
    uint8_t cp[256];
    size_t cp_len, i, hdr_len;
    bool nh;
    unsigned f, expect, persisted = 0;
    cs_test_allocator ta;
    size_t calls;
    (void)state;

    memset(&c, 0, sizeof(c));
    {
        size_t len;
        uint8_t *k = make_annexb(true, 10, &len);
        assert_int_equal(
            cs_nal_codec_private_from_annexb(CS_NAL_CODEC_H264, k, len, cp, sizeof(cp), &cp_len),
            CS_OK);
        free(k);
    }
    cs_mkv_fragmenter_config_init(&fcfg);
    fcfg.tracks[0].number = 1;
    fcfg.tracks[0].type = CS_MKV_TRACK_VIDEO;
    fcfg.tracks[0].codec = CS_MKV_CODEC_ID_H264;
    fcfg.tracks[0].codec_private = cp;
    fcfg.tracks[0].codec_private_len = cp_len;
    fcfg.track_count = 1;
    memset(fcfg.segment_uid, 0x5a, CS_MKV_SEGMENT_UID_LEN);
    assert_int_equal(cs_mkv_fragmenter_init(&frag, &fcfg), CS_OK);

    cs_test_allocator_init(&ta, 0);
    csi_cstore_config_init(&scfg);
    scfg.capacity = CAP;
    scfg.allocator = &ta.a;
    scfg.on_drop = on_drop;
    scfg.cb_ctx = &c;
    assert_int_equal(csi_cstore_create(&scfg, &s), CS_OK);
    calls = ta.calls;

    for (i = 0; i < NFRAMES; i++) {
        frame_rec *fr = &c.frames[i];
        bool key = i % GOP == 0;
        size_t ab_len, n, w;
        uint8_t *ab = make_annexb(key, key ? 4000 + rnd() % 2000 : 100 + rnd() % 1400, &ab_len);
        cs_mkv_frame mf;
        cs_mkv_frame_layout lo;
        uint8_t *region;
        unsigned flags = 0;
        uint64_t k;

        /* Size pass of the conversion: the SimpleBlock header carries the payload size. */
        assert_int_equal(
            cs_nal_annexb_to_avcc(CS_NAL_CODEC_H264, CS_NAL_DROP_AUD, ab, ab_len, NULL, 0, &n),
            CS_OK);
        fr->avcc = malloc(n);
        assert_non_null(fr->avcc);
        assert_int_equal(
            cs_nal_annexb_to_avcc(CS_NAL_CODEC_H264, CS_NAL_DROP_AUD, ab, ab_len, fr->avcc, n, &w),
            CS_OK);
        fr->avcc_len = n;
        fr->key = key;
        mf.track = 1;
        mf.timestamp_ns = i * FRAME_NS;
        mf.flags = key ? CS_MKV_BLOCK_KEY : 0;
        mf.size = n;
        assert_int_equal(cs_mkv_fragmenter_frame_header(&frag, &mf, NULL, 0, &lo), CS_OK);
        if (lo.new_cluster) {
            flags |= CSI_CSTORE_FRAGMENT_START;
            c.frag_key[c.nfrags++] = lo.cluster_timecode * CS_MKV_TIMECODE_SCALE_NS;
        }
        if (lo.new_segment) {
            flags |= CSI_CSTORE_SESSION_START;
        }
        fr->frag = c.nfrags - 1;
        k = lo.new_cluster ? lo.cluster_timecode * CS_MKV_TIMECODE_SCALE_NS : mf.timestamp_ns;
        assert_int_equal(csi_cstore_reserve(s, lo.total_len, flags, k, &region), CS_OK);
        assert_int_equal(cs_mkv_fragmenter_frame_header(&frag, &mf, region, lo.total_len, &lo),
                         CS_OK);
        /* The one copy of the frame: Annex-B converted straight into the ring. */
        assert_int_equal(cs_nal_annexb_to_avcc(CS_NAL_CODEC_H264, CS_NAL_DROP_AUD, ab, ab_len,
                                               region + lo.header_len, n, &w),
                         CS_OK);
        assert_int_equal(w, n);
        assert_int_equal(csi_cstore_commit(s, lo.total_len), CS_OK);
        fr->stored = true;
        free(ab);

        if (i < 100) {
            /* Online: upload at once; the server persists each fragment once the next one
             * starts (that is when it knows the fragment ended). */
            upload(&c, s);
            if (lo.new_cluster && c.nfrags >= 2) {
                size_t freed;
                assert_int_equal(csi_cstore_ack_persisted(s, c.frag_key[c.nfrags - 2], &freed),
                                 CS_OK);
                assert_int_equal(freed, 1);
                c.frag_persisted[c.nfrags - 2] = true;
                persisted++;
            }
        }
        /* Frames 100..299: offline, nothing read; the store drops the oldest fragments. */
    }
    assert_int_equal(ta.calls, calls); /* no allocation on the frame path */
    assert_true(c.drops > 0);

    /* Connection 1: a valid MKV with every frame of frames 0..99 exactly once, plus whatever of
     * the offline frames it had not started to see (none). */
    expect = check_mkv(&c);
    assert_int_equal(expect, 100);
    for (i = 0; i < 100; i++) {
        assert_int_equal(c.frames[i].seen, 1);
    }

    /* Connection 2: rewind to the oldest unpersisted, undropped fragment; stream header first. */
    c.out_len = 0;
    assert_int_equal(csi_cstore_rewind(s, &nh), CS_OK);
    assert_true(nh);
    assert_int_equal(cs_mkv_fragmenter_header(&frag, NULL, 0, &hdr_len), CS_OK);
    {
        uint8_t *h = malloc(hdr_len);
        assert_non_null(h);
        assert_int_equal(cs_mkv_fragmenter_header(&frag, h, hdr_len, &hdr_len), CS_OK);
        append(&c, h, hdr_len);
        free(h);
    }
    upload(&c, s);
    expect = 0;
    for (i = 0; i < NFRAMES; i++) {
        f = c.frames[i].frag;
        if (!c.frag_persisted[f] && !c.frag_dropped[f]) {
            expect++;
        }
    }
    assert_int_equal(check_mkv(&c), expect);
    for (i = 0; i < NFRAMES; i++) {
        f = c.frames[i].frag;
        assert_int_equal(c.frames[i].seen, !c.frag_persisted[f] && !c.frag_dropped[f] ? 1 : 0);
    }
    print_message("%u fragments: %u persisted online, %zu dropped offline, %u frames resent\n",
                  c.nfrags, persisted, c.drops, expect);

    csi_cstore_destroy(&s);
    assert_int_equal(ta.live, 0);
    for (i = 0; i < NFRAMES; i++) {
        free(c.frames[i].avcc);
    }
    free(c.out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h264_through_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
