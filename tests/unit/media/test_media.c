/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the PutMedia ingest core: uploads written by the mkv fragmenter (and by hand for
 * the malformed cases) are fed through cs_media, and the recorded sink events are checked: the
 * session header is the fragmenter's header byte for byte, each fragment's bytes are exactly its
 * Cluster, timestamps (ABSOLUTE/RELATIVE), tags, every ErrorId and whether ingest goes on, two
 * sessions in one upload, and identical events for every chunking from 1 byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media.h"
#include "recorder.h"

#define CAP (1u << 20)
#define T0_NS 1700000000000000000ull /* an epoch time in ns, ms-aligned */

static const uint8_t fake_avcc[] = {0x01, 0x64, 0x00, 0x1F, 0xFF};

typedef struct upl {
    uint8_t *buf;
    size_t len;
    size_t clusters[64]; /* offsets of Cluster elements */
    size_t ncl;
    size_t header_end[8]; /* per session: where the header ends */
    size_t header_start[8];
    size_t nsess;
} upl;

static void upl_init(upl *u)
{
    memset(u, 0, sizeof(*u));
    u->buf = malloc(CAP);
    assert_non_null(u->buf);
}

static void video_track(cs_mkv_track_info *t, uint64_t number)
{
    memset(t, 0, sizeof(*t));
    t->number = number;
    t->type = CS_MKV_TRACK_VIDEO;
    t->codec = CS_MKV_CODEC_ID_H264;
    t->codec_private = fake_avcc;
    t->codec_private_len = sizeof(fake_avcc);
    t->width = 320;
    t->height = 240;
}

static void frag_init(cs_mkv_fragmenter *f, size_t ntracks, bool relative)
{
    cs_mkv_fragmenter_config cfg;
    cs_mkv_fragmenter_config_init(&cfg);
    video_track(&cfg.tracks[0], 1);
    if (ntracks > 1) {
        memset(&cfg.tracks[1], 0, sizeof(cfg.tracks[1]));
        cfg.tracks[1].number = 2;
        cfg.tracks[1].type = CS_MKV_TRACK_AUDIO;
        cfg.tracks[1].codec = CS_MKV_CODEC_ID_ALAW;
        cfg.tracks[1].sampling_frequency = 8000.0;
        cfg.tracks[1].channels = 1;
    }
    cfg.track_count = ntracks;
    cfg.relative_timecodes = relative;
    assert_int_equal(cs_mkv_fragmenter_init(f, &cfg), CS_OK);
}

/* `n` frames of track `track`, 33 ms apart from t_ns, a key frame every `gop` frames. */
static void put_frames(upl *u, cs_mkv_fragmenter *f, uint64_t track, size_t n, uint64_t t_ns,
                       size_t gop, size_t payload)
{
    uint8_t pl[2048];
    assert_true(payload <= sizeof(pl));
    for (size_t i = 0; i < n; i++) {
        cs_mkv_frame fr = {track, t_ns + i * 33000000ull,
                           (uint8_t)(i % gop == 0 ? CS_MKV_BLOCK_KEY : 0), payload};
        cs_mkv_frame_layout lo;
        memset(pl, (int)((fr.timestamp_ns / 1000000u) & 0xFF), payload);
        assert_int_equal(
            cs_mkv_fragmenter_put_frame(f, &fr, pl, u->buf + u->len, CAP - u->len, &lo), CS_OK);
        if (lo.new_segment) {
            u->header_start[u->nsess] = u->len;
            u->header_end[u->nsess++] =
                u->len + (lo.tags_offset != SIZE_MAX ? lo.tags_offset : lo.cluster_offset);
        }
        if (lo.new_cluster) {
            u->clusters[u->ncl++] = u->len + lo.cluster_offset;
        }
        u->len += lo.total_len;
    }
}

static void put_raw(upl *u, void (*fn)(cs_mkv_writer *w, const void *ctx), const void *ctx)
{
    cs_mkv_writer w;
    size_t n;
    cs_mkv_writer_init(&w, u->buf + u->len, CAP - u->len);
    fn(&w, ctx);
    assert_int_equal(cs_mkv_writer_finish(&w, &n), CS_OK);
    u->len += n;
}

static void cfg_abs(cs_media_config *c)
{
    cs_media_config_init(c);
}

/* ---- the basic upload ---- */

static void make_basic(upl *u)
{
    cs_mkv_fragmenter f;
    upl_init(u);
    frag_init(&f, 1, false);
    put_frames(u, &f, 1, 30, T0_NS, 10, 100);
}

static void test_basic(void **state)
{
    upl u;
    rec r;
    cs_media_config c;
    (void)state;
    make_basic(&u);
    assert_int_equal(u.ncl, 3);
    rec_init(&r);
    cfg_abs(&c);
    assert_int_equal(rec_run(&r, &c, u.buf, u.len, 0), CS_OK);
    assert_int_equal(r.sessions, 1);
    assert_int_equal(r.nerrors, 0);
    /* the header is the fragmenter's header, byte for byte */
    assert_int_equal(r.cur_header_len, u.header_end[0]);
    assert_memory_equal(r.headers, u.buf, u.header_end[0]);
    assert_int_equal(r.nfrags, 3);
    for (size_t i = 0; i < 3; i++) {
        rec_frag *rf = &r.frags[i];
        size_t end = i + 1 < u.ncl ? u.clusters[i + 1] : u.len;
        assert_true(rf->complete);
        assert_int_equal(rf->final.offset, u.clusters[i]);
        assert_int_equal(rf->data_len, end - u.clusters[i]);
        assert_memory_equal(r.data + rf->data_start, u.buf + u.clusters[i], rf->data_len);
        assert_int_equal(rf->final.crc32c, cs_media_crc32c(0, u.buf + u.clusters[i], rf->data_len));
        assert_int_equal(rf->final.frame_count, 10);
        assert_true(rf->final.first_key);
        assert_int_equal(rf->final.timecode_ms, T0_NS / 1000000 + i * 330);
        assert_int_equal(rf->final.producer_timestamp_ms, rf->final.timecode_ms);
        assert_int_equal(rf->final.duration_ms, 297); /* 9 * 33 ms, no block durations */
    }
    /* a re-sent identical fragment has the same checksum */
    assert_int_equal(r.frags[1].final.crc32c,
                     cs_media_crc32c(0, u.buf + u.clusters[1], u.clusters[2] - u.clusters[1]));
    rec_free(&r);
    free(u.buf);
}

/* Every chunk size from 1 byte on (and irregular cuts) gives the same events and bytes. */
static void test_every_chunking(void **state)
{
    upl u;
    rec ref, r;
    cs_media_config c;
    cs_mkv_fragmenter f;
    cs_mkv_frame_layout lo;
    size_t n;
    (void)state;
    upl_init(&u);
    frag_init(&f, 2, false);
    put_frames(&u, &f, 1, 12, T0_NS, 6, 40);
    assert_int_equal(cs_mkv_fragmenter_add_tag(&f, "k", 1, "v", 1), CS_OK);
    /* audio + video so both tracks have frames in each fragment */
    for (size_t i = 0; i < 12; i++) {
        cs_mkv_frame fr = {i % 2 ? 2u : 1u, T0_NS + 400000000ull + i * 20000000ull,
                           (uint8_t)(i == 0 ? CS_MKV_BLOCK_KEY : 0), 30};
        uint8_t pl[30] = {0};
        assert_int_equal(cs_mkv_fragmenter_put_frame(&f, &fr, pl, u.buf + u.len, CAP - u.len, &lo),
                         CS_OK);
        u.len += lo.total_len;
    }
    assert_int_equal(cs_mkv_fragmenter_flush_tags(&f, u.buf + u.len, CAP - u.len, &n), CS_OK);
    u.len += n;
    cfg_abs(&c);
    rec_init(&ref);
    assert_int_equal(rec_run(&ref, &c, u.buf, u.len, 0), CS_OK);
    /* fragments 0 and 1 lack audio: 4011; fragment 2 has both tracks and the tag */
    for (size_t chunk = 1; chunk <= u.len; chunk += chunk < 64 ? 1 : 37) {
        rec_init(&r);
        assert_int_equal(rec_run(&r, &c, u.buf, u.len, chunk), CS_OK);
        assert_string_equal(r.log, ref.log);
        assert_int_equal(r.data_len, ref.data_len);
        assert_memory_equal(r.data, ref.data, r.data_len);
        rec_free(&r);
    }
    assert_non_null(strstr(ref.log, "tags=1 k=v"));
    rec_free(&ref);
    free(u.buf);
}

static void test_basic_every_chunking(void **state)
{
    upl u;
    rec ref, r;
    cs_media_config c;
    (void)state;
    make_basic(&u);
    cfg_abs(&c);
    rec_init(&ref);
    assert_int_equal(rec_run(&ref, &c, u.buf, u.len, 0), CS_OK);
    for (size_t chunk = 1; chunk <= 300; chunk++) {
        rec_init(&r);
        assert_int_equal(rec_run(&r, &c, u.buf, u.len, chunk), CS_OK);
        assert_string_equal(r.log, ref.log);
        assert_memory_equal(r.data, ref.data, r.data_len);
        assert_memory_equal(r.headers, ref.headers, ref.headers_len);
        rec_free(&r);
    }
    rec_free(&ref);
    free(u.buf);
}

static void test_relative(void **state)
{
    upl u;
    rec r;
    cs_media_config c;
    cs_mkv_fragmenter f;
    (void)state;
    upl_init(&u);
    frag_init(&f, 1, true);
    put_frames(&u, &f, 1, 20, 5000000000ull, 10, 10);
    cs_media_config_init(&c);
    c.timecode_type = CS_MEDIA_TIMECODE_RELATIVE;
    assert_int_equal(cs_media_parse_start_timestamp("1700000000.123", 14, &c.producer_start_ms),
                     CS_OK);
    c.has_producer_start = true;
    rec_init(&r);
    assert_int_equal(rec_run(&r, &c, u.buf, u.len, 7), CS_OK);
    assert_int_equal(r.nfrags, 2);
    assert_int_equal(r.frags[0].final.timecode_ms, 0);
    assert_int_equal(r.frags[0].final.producer_timestamp_ms, 1700000000123ull);
    assert_int_equal(r.frags[1].final.timecode_ms, 330);
    assert_int_equal(r.frags[1].final.producer_timestamp_ms, 1700000000453ull);
    rec_free(&r);
    /* RELATIVE without a start timestamp: 4007, fatal */
    c.has_producer_start = false;
    rec_init(&r);
    assert_int_equal(rec_run(&r, &c, u.buf, u.len, 0), CS_E_MALFORMED);
    assert_int_equal(r.nerrors, 1);
    assert_int_equal(r.errors[0], 4007);
    assert_true(r.fatal[0]);
    assert_int_equal(r.nfrags, 0);
    rec_free(&r);
    free(u.buf);
}

static void test_start_timestamp(void **state)
{
    static const struct {
        const char *s;
        cs_status st;
        uint64_t ms;
    } cases[] = {
        {"1700000000.123", CS_OK, 1700000000123ull},
        {"1700000000", CS_OK, 1700000000000ull},
        {"1.5", CS_OK, 1500},
        {"1.123456", CS_OK, 1123},
        {"0.001", CS_OK, 1},
        {"", CS_E_MALFORMED, 0},
        {".5", CS_E_MALFORMED, 0},
        {"1.", CS_E_MALFORMED, 0},
        {"-1", CS_E_MALFORMED, 0},
        {"1.2.3", CS_E_MALFORMED, 0},
        {"1e9", CS_E_MALFORMED, 0},
        {"99999999999999999999", CS_E_MALFORMED, 0},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t ms = 0;
        assert_int_equal(cs_media_parse_start_timestamp(cases[i].s, strlen(cases[i].s), &ms),
                         cases[i].st);
        if (cases[i].st == CS_OK) {
            assert_int_equal(ms, cases[i].ms);
        }
    }
}

static void test_crc32c(void **state)
{
    (void)state;
    /* RFC 3720 B.4 check value and vectors */
    assert_int_equal(cs_media_crc32c(0, "123456789", 9), 0xE3069283u);
    uint8_t z[32] = {0}, o[32];
    memset(o, 0xFF, sizeof(o));
    assert_int_equal(cs_media_crc32c(0, z, 32), 0x8A9136AAu);
    assert_int_equal(cs_media_crc32c(0, o, 32), 0x62A8AB43u);
    /* incremental = whole */
    assert_int_equal(cs_media_crc32c(cs_media_crc32c(0, "12345", 5), "6789", 4), 0xE3069283u);
}

/* The two implementations in crc32c.c (declared there, not in a header). */
uint32_t csi_media_crc32c_sw(uint32_t crc, const void *data, size_t len);
bool csi_media_crc32c_hw(uint32_t *crc, const void *data, size_t len);

/* The CRC32-instruction path (when this CPU has one) and the table agree on random inputs of
 * every length 0..300 at every alignment 0..7, chained from random seeds, and on the RFC vector
 * through both. On a CPU without the instruction, only the table is checked (said on stdout). */
static void test_crc32c_paths(void **state)
{
    (void)state;
    static uint8_t buf[4 * 8192 * 3 + 8];
    uint32_t seed = 0x2545F491u;
    uint32_t h = 0;
    bool hw = csi_media_crc32c_hw(&h, "123456789", 9);
    assert_int_equal(csi_media_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    if (!hw) {
        printf("# no CRC32 instruction on this CPU: only the table path is tested\n");
        return;
    }
    assert_int_equal(h, 0xE3069283u);
    for (size_t i = 0; i < sizeof(buf); i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (uint8_t)(seed >> 16);
    }
    for (size_t off = 0; off < 8; off++) {
        for (size_t len = 0; len <= 300; len++) {
            uint32_t start = (uint32_t)(len * 2654435761u) ^ (uint32_t)off;
            uint32_t a = csi_media_crc32c_sw(start, buf + off, len);
            uint32_t b = start;
            assert_true(csi_media_crc32c_hw(&b, buf + off, len));
            assert_int_equal(a, b);
        }
    }
    /* the three-chain paths (3 x 256 and 3 x 8192 bytes) and their joins, at every offset */
    for (size_t off = 0; off < 8; off++) {
        static const size_t lens[] = {767,  768,   769,   775,   776,   1535,  1536,  2304,
                                      4096, 24575, 24576, 24577, 25344, 49152, 50000, 98304};
        for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
            uint32_t start = (uint32_t)(lens[k] * 2654435761u) ^ (uint32_t)off;
            uint32_t a = csi_media_crc32c_sw(start, buf + off, lens[k]);
            uint32_t b = start;
            assert_true(csi_media_crc32c_hw(&b, buf + off, lens[k]));
            assert_int_equal(a, b);
        }
    }
    h = 0;
    assert_true(csi_media_crc32c_hw(&h, buf, 4096));
    assert_int_equal(h, csi_media_crc32c_sw(0, buf, 4096));
    assert_int_equal(cs_media_crc32c(0, buf, 4096), h);
}

/* ---- sessions ---- */

static void test_two_sessions(void **state)
{
    upl u;
    rec r;
    cs_media_config c;
    cs_mkv_fragmenter f;
    (void)state;
    upl_init(&u);
    frag_init(&f, 1, false);
    put_frames(&u, &f, 1, 20, T0_NS, 10, 50);
    /* the producer reconnects and resends from the second fragment (older than the last) */
    cs_mkv_fragmenter_restart(&f);
    put_frames(&u, &f, 1, 20, T0_NS + 330000000ull, 10, 50);
    assert_int_equal(u.nsess, 2);
    cfg_abs(&c);
    for (size_t chunk = 0; chunk < 40; chunk += 13) {
        rec_init(&r);
        assert_int_equal(rec_run(&r, &c, u.buf, u.len, chunk), CS_OK);
        assert_int_equal(r.sessions, 2);
        assert_int_equal(r.nerrors, 0); /* no 4004 across sessions */
        assert_int_equal(r.nfrags, 4);
        assert_int_equal(r.frags[2].final.session, 1);
        assert_int_equal(r.frags[2].final.timecode_ms, r.frags[1].final.timecode_ms);
        assert_int_equal(r.frags[2].final.crc32c, r.frags[1].final.crc32c);
        /* second session header as sent */
        assert_int_equal(r.frags[2].header_len, u.header_end[1] - u.header_start[1]);
        assert_memory_equal(r.headers + r.frags[2].header_start, u.buf + u.header_start[1],
                            r.frags[2].header_len);
        /* the last cluster of session 1 ends where the EBML header of session 2 starts */
        assert_int_equal(r.frags[1].data_len, u.header_start[1] - u.clusters[1]);
        rec_free(&r);
    }
    free(u.buf);
}

/* ---- error ids ---- */

static void w_header1(cs_mkv_writer *w, const void *ctx)
{
    cs_mkv_track_info t[2];
    size_t n = ctx ? *(const size_t *)ctx : 1;
    uint8_t uid[16] = {0};
    video_track(&t[0], 1);
    if (n > 1) {
        video_track(&t[1], 2);
    }
    cs_mkv_put_ebml_header(w);
    cs_mkv_put_segment_start(w);
    cs_mkv_put_info(w, uid);
    cs_mkv_put_tracks(w, t, n);
}

typedef struct cl {
    uint64_t tc;
    uint64_t track;
    size_t frames;
    size_t payload;
} cl;

static void w_cluster(cs_mkv_writer *w, const void *ctx)
{
    const cl *c = ctx;
    uint8_t pl[4096] = {0};
    cs_mkv_put_cluster_start(w, c->tc);
    for (size_t i = 0; i < c->frames; i++) {
        cs_mkv_put_simple_block(w, c->track, (int16_t)(i * 40),
                                (uint8_t)(i == 0 ? CS_MKV_BLOCK_KEY : 0), pl, c->payload);
    }
}

static void add_cluster(upl *u, uint64_t tc, uint64_t track, size_t frames, size_t payload)
{
    cl c = {tc, track, frames, payload};
    u->clusters[u->ncl++] = u->len;
    put_raw(u, w_cluster, &c);
}

static size_t run_errors(upl *u, const cs_media_config *c, rec *r, cs_status want)
{
    rec ref;
    rec_init(&ref);
    if (rec_run(&ref, c, u->buf, u->len, 0) != want) {
        fail_msg("%s", ref.log);
    }
    /* the same for 1-byte and odd chunks */
    for (size_t chunk = 1; chunk < 12; chunk += 5) {
        rec_init(r);
        assert_int_equal(rec_run(r, c, u->buf, u->len, chunk), want);
        assert_string_equal(r->log, ref.log);
        rec_free(r);
    }
    *r = ref;
    return r->nerrors;
}

static void test_err_timecode_order(void **state)
{
    upl u;
    rec r;
    cs_media_config c;
    (void)state;
    upl_init(&u);
    put_raw(&u, w_header1, NULL);
    add_cluster(&u, 1000, 1, 3, 10);
    add_cluster(&u, 500, 1, 3, 10); /* 4004: skipped, ingest goes on */
    add_cluster(&u, 1500, 1, 3, 10);
    cfg_abs(&c);
    assert_int_equal(run_errors(&u, &c, &r, CS_OK), 1);
    assert_int_equal(r.errors[0], 4004);
    assert_false(r.fatal[0]);
    assert_false(r.begun[0]);
    assert_int_equal(r.nfrags, 2);
    assert_int_equal(r.frags[1].index, 2);
    assert_int_equal(r.frags[1].final.timecode_ms, 1500);
    assert_int_equal(r.frags[0].final.duration_ms, 80);
    assert_non_null(strstr(r.log, "X 4004 fatal=0 begun=0 frag=1 tc=500"));
    rec_free(&r);
    free(u.buf);
}

static void test_err_size_duration(void **state)
{
    upl u;
    rec r;
    cs_media_config c;
    (void)state;
    upl_init(&u);
    put_raw(&u, w_header1, NULL);
    add_cluster(&u, 1000, 1, 3, 10);
    add_cluster(&u, 2000, 1, 8, 300); /* 2.4 KB: above 2000 bytes */
    add_cluster(&u, 3000, 1, 3, 10);
    add_cluster(&u, 4000, 1, 10, 10); /* 360 ms: above 300 */
    add_cluster(&u, 5000, 1, 4, 10);  /* 120 ms */
    cfg_abs(&c);
    c.max_fragment_bytes = 2000;
    c.max_fragment_duration_ms = 300; /* the 2.4 KB cluster lasts 280 ms */
    assert_int_equal(run_errors(&u, &c, &r, CS_OK), 2);
    assert_int_equal(r.errors[0], 4001);
    assert_true(r.begun[0]);
    assert_false(r.fatal[0]);
    assert_int_equal(r.errors[1], 4002);
    assert_true(r.begun[1]);
    assert_false(r.fatal[1]);
    /* 5 clusters, 3 completed: 0, 2, 4 */
    assert_non_null(strstr(r.log, "E 0 "));
    assert_non_null(strstr(r.log, "E 2 "));
    assert_non_null(strstr(r.log, "E 4 "));
    assert_null(strstr(r.log, "E 1 "));
    assert_null(strstr(r.log, "E 3 "));
    rec_free(&r);
    free(u.buf);
}

static void test_err_tracks(void **state)
{
    upl u;
    rec r;
    cs_media_config c;
    size_t two = 2;
    (void)state;
    /* 4010: a block of an undeclared track, skipped; ingest goes on */
    upl_init(&u);
    put_raw(&u, w_header1, NULL);
    add_cluster(&u, 1000, 5, 2, 10);
    add_cluster(&u, 2000, 1, 2, 10);
    cfg_abs(&c);
    assert_int_equal(run_errors(&u, &c, &r, CS_OK), 1);
    assert_int_equal(r.errors[0], 4010);
    assert_true(r.begun[0]);
    assert_int_equal(r.nfrags, 2);
    assert_true(r.frags[1].complete);
    rec_free(&r);
    free(u.buf);
    /* 4011: two tracks declared, frames of one only */
    upl_init(&u);
    put_raw(&u, w_header1, &two);
    add_cluster(&u, 1000, 1, 2, 10);
    assert_int_equal(run_errors(&u, &c, &r, CS_OK), 1);
    assert_int_equal(r.errors[0], 4011);
    assert_true(r.begun[0]);
    rec_free(&r);
    /* 4012: more tracks than allowed: fatal, before any fragment */
    c.max_tracks = 1;
    assert_int_equal(run_errors(&u, &c, &r, CS_E_MALFORMED), 1);
    assert_int_equal(r.errors[0], 4012);
    assert_true(r.fatal[0]);
    assert_int_equal(r.nfrags, 0);
    assert_int_equal(r.sessions, 0);
    rec_free(&r);
    free(u.buf);
}

static void w_tags(cs_mkv_writer *w, const void *ctx)
{
    const size_t *n = ctx;
    cs_mkv_tag t[10];
    for (size_t i = 0; i < *n; i++) {
        t[i].name = "name";
        t[i].name_len = 4;
        t[i].value = "value";
        t[i].value_len = 5;
    }
    cs_mkv_put_tags(w, t, *n);
}

static void w_simpletag_body(cs_mkv_writer *w, const void *ctx)
{
    const char *name = ctx;
    cs_mkv_put_string(w, CS_MKV_ID_TAG_NAME, name, strlen(name));
    cs_mkv_put_string(w, CS_MKV_ID_TAG_STRING, "v", 1);
}

static void w_targets(cs_mkv_writer *w, const void *ctx)
{
    (void)w;
    (void)ctx;
}

static void w_tag_body(cs_mkv_writer *w, const void *ctx)
{
    cs_mkv_put_master(w, CS_MKV_ID_TARGETS, w_targets, NULL);
    cs_mkv_put_master(w, CS_MKV_ID_SIMPLE_TAG, w_simpletag_body, ctx);
}

static void w_tags_body(cs_mkv_writer *w, const void *ctx)
{
    cs_mkv_put_master(w, CS_MKV_ID_TAG, w_tag_body, ctx);
}

static void w_one_tag(cs_mkv_writer *w, const void *ctx)
{
    cs_mkv_put_master(w, CS_MKV_ID_TAGS, w_tags_body, ctx);
}

static void test_err_metadata(void **state)
{
    upl u;
    rec r;
    cs_media_config c;
    size_t six = 6, two = 2;
    char longname[200];
    (void)state;
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    upl_init(&u);
    put_raw(&u, w_header1, NULL);
    put_raw(&u, w_tags, &two); /* tags of fragment 0, before the first cluster */
    add_cluster(&u, 1000, 1, 2, 10);
    put_raw(&u, w_tags, &six);
    put_raw(&u, w_tags, &six); /* 12 tags for fragment 1: 4009 */
    add_cluster(&u, 2000, 1, 2, 10);
    put_raw(&u, w_one_tag, longname); /* name of 199 bytes: 4009 */
    add_cluster(&u, 3000, 1, 2, 10);
    put_raw(&u, w_one_tag, "AWS_KINESISVIDEO_FRAGMENT_NUMBER"); /* reserved: 4009 */
    add_cluster(&u, 4000, 1, 2, 10);
    put_raw(&u, w_one_tag, "mine");
    add_cluster(&u, 5000, 1, 2, 10);
    cfg_abs(&c);
    assert_int_equal(run_errors(&u, &c, &r, CS_OK), 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(r.errors[i], 4009);
        assert_false(r.fatal[i]);
        assert_false(r.begun[i]);
    }
    assert_int_equal(r.nfrags, 2);
    assert_string_equal(r.frags[0].tag0, "name=value");
    assert_non_null(strstr(r.log, "B 0 s=0 off="));
    assert_non_null(strstr(r.log, "tags=2 name=value"));
    assert_string_equal(r.frags[1].tag0, "mine=v");
    assert_int_equal(r.frags[1].index, 4);
    /* the header stops where the first Tags starts */
    assert_int_equal(r.sessions, 1);
    rec_free(&r);
    free(u.buf);
}

static void test_err_invalid_mkv(void **state)
{
    upl u;
    rec r;
    cs_media_config c;
    size_t full;
    (void)state;
    upl_init(&u);
    put_raw(&u, w_header1, NULL);
    add_cluster(&u, 1000, 1, 3, 10);
    full = u.len;
    /* cut inside the last block: the open fragment is refused with 4006 at finish */
    u.len = full - 4;
    cfg_abs(&c);
    assert_int_equal(run_errors(&u, &c, &r, CS_E_MALFORMED), 1);
    assert_int_equal(r.errors[0], 4006);
    assert_true(r.fatal[0]);
    assert_true(r.begun[0]);
    assert_non_null(strstr(r.log, "invalid MKV at"));
    rec_free(&r);
    /* garbage after a cluster: a reader error, with the reader's message */
    u.len = full;
    memcpy(u.buf + u.len, "\x00\x00\x00\x00\x00\x00\x00\x00", 8);
    u.len += 8;
    assert_int_equal(run_errors(&u, &c, &r, CS_E_MALFORMED), 1);
    assert_int_equal(r.errors[0], 4006);
    assert_true(r.fatal[0]);
    rec_free(&r);
    /* stream header above the limit */
    u.len = full;
    c.max_header_bytes = 64;
    assert_int_equal(run_errors(&u, &c, &r, CS_E_MALFORMED), 1);
    assert_int_equal(r.errors[0], 4006);
    assert_non_null(strstr(r.log, "stream header larger than 64"));
    rec_free(&r);
    /* not MKV at all */
    memcpy(u.buf, "HTTP/1.1 200 OK\r\n\r\n", 19);
    u.len = 19;
    cfg_abs(&c);
    assert_int_equal(run_errors(&u, &c, &r, CS_E_MALFORMED), 1);
    assert_int_equal(r.errors[0], 4006);
    rec_free(&r);
    free(u.buf);
}

static void test_err_producer_timestamp(void **state)
{
    upl u;
    rec r;
    cs_media_config c;
    (void)state;
    upl_init(&u);
    put_raw(&u, w_header1, NULL);
    add_cluster(&u, 5, 1, 2, 10);
    add_cluster(&u, 1000, 1, 2, 10); /* start + 1000 ms overflows: 4007, skipped */
    add_cluster(&u, 6, 1, 2, 10);
    cs_media_config_init(&c);
    c.timecode_type = CS_MEDIA_TIMECODE_RELATIVE;
    c.has_producer_start = true;
    c.producer_start_ms = UINT64_MAX - 100;
    assert_int_equal(run_errors(&u, &c, &r, CS_OK), 1);
    assert_int_equal(r.errors[0], 4007);
    assert_false(r.fatal[0]);
    assert_int_equal(r.nfrags, 2);
    assert_int_equal(r.frags[1].final.producer_timestamp_ms, UINT64_MAX - 94);
    rec_free(&r);
    /* a Cluster Timecode whose ns overflow int64: the reader refuses it (4006, its message) */
    u.len = 0;
    u.ncl = 0;
    put_raw(&u, w_header1, NULL);
    add_cluster(&u, UINT64_MAX / 1000, 1, 2, 10);
    cfg_abs(&c);
    assert_int_equal(run_errors(&u, &c, &r, CS_E_MALFORMED), 1);
    assert_int_equal(r.errors[0], 4006);
    assert_non_null(strstr(r.log, "overflows int64 ns"));
    rec_free(&r);
    free(u.buf);
}

/* A sink that says stop: feed returns its status, nothing more is reported. */
static void test_sink_stops(void **state)
{
    upl u;
    rec r;
    cs_media_config c;
    (void)state;
    make_basic(&u);
    cfg_abs(&c);
    for (size_t at = 1; at < 12; at++) {
        rec_init(&r);
        r.fail_at = at;
        r.fail_status = CS_E_IO;
        assert_int_equal(rec_run(&r, &c, u.buf, u.len, 17), CS_E_IO);
        assert_int_equal(r.calls, at);
        rec_free(&r);
    }
    free(u.buf);
}

static void test_api(void **state)
{
    cs_media_config c;
    cs_media_sink s = {0};
    cs_media *m = NULL;
    size_t len = 9;
    (void)state;
    cs_media_config_init(&c);
    assert_int_equal(c.max_fragment_bytes, 50000000u);
    assert_int_equal(c.max_fragment_duration_ms, 10000u);
    assert_int_equal(c.max_tracks, 3);
    assert_int_equal(cs_media_create(NULL, &s, &m), CS_E_INVAL);
    c.max_header_bytes = CS_MEDIA_MAX_HEADER_LIMIT + 1;
    assert_int_equal(cs_media_create(&c, &s, &m), CS_E_INVAL);
    cs_media_config_init(&c);
    assert_int_equal(cs_media_create(&c, &s, &m), CS_OK);
    assert_null(cs_media_header(m, &len));
    assert_int_equal(len, 0);
    assert_int_equal(cs_media_feed(m, NULL, 0), CS_OK);
    assert_int_equal(cs_media_feed(m, NULL, 1), CS_E_INVAL);
    assert_int_equal(cs_media_finish(m), CS_OK);
    assert_int_equal(cs_media_feed(m, (const uint8_t *)"x", 1), CS_E_STATE);
    cs_media_destroy(&m);
    assert_null(m);
    cs_media_destroy(&m);
    cs_media_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api),
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test(test_crc32c_paths),
        cmocka_unit_test(test_start_timestamp),
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_basic_every_chunking),
        cmocka_unit_test(test_every_chunking),
        cmocka_unit_test(test_relative),
        cmocka_unit_test(test_two_sessions),
        cmocka_unit_test(test_err_timecode_order),
        cmocka_unit_test(test_err_size_duration),
        cmocka_unit_test(test_err_tracks),
        cmocka_unit_test(test_err_metadata),
        cmocka_unit_test(test_err_invalid_mkv),
        cmocka_unit_test(test_err_producer_timestamp),
        cmocka_unit_test(test_sink_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
