/* SPDX-License-Identifier: Apache-2.0 */
/* The consumer SDK's GetMedia parser (consumer/parser.c) on streams laid out as GetMedia sends
 * them (PROTOCOL.md §5), written with the mkv/ writer: the same events whatever the chunking
 * (whole, byte by byte, random), frames byte-identical and in place when whole, producer and
 * service tags, errors inside the stream, a cut stream, a plain MKV with several clusters, the
 * frame-size limit, garbage, and allocation failure. CS_GM_WRITE_SEED=path writes the stream
 * used here (the fuzz target's seed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "camstream/consumer.h"
#include "camstream/mkv.h"
#include "testutil.h"

#define NFRAG 3
#define NFRAMES 5

static uint8_t stream[1 << 20];
static size_t stream_len;

static size_t frame_len(int f, int i)
{
    return (size_t)(100 + f * 1000 + i * 37 + (i == 0 ? 3000 : 0));
}

static uint8_t frame_byte(int f, int i, size_t k)
{
    return (uint8_t)(f * 31 + i * 7 + (int)k * 13);
}

static void put_header(cs_mkv_writer *w)
{
    static const uint8_t uid[CS_MKV_SEGMENT_UID_LEN] = {1, 2, 3};
    static const uint8_t cp[] = {0xAA, 0xBB, 0xCC};
    cs_mkv_track_info t[2];
    memset(t, 0, sizeof(t));
    t[0].number = 1;
    t[0].type = CS_MKV_TRACK_VIDEO;
    t[0].codec_id = "V_TEST";
    t[0].codec_id_len = 6;
    t[0].codec_private = cp;
    t[0].codec_private_len = sizeof(cp);
    t[0].width = 320;
    t[0].height = 240;
    t[1].number = 2;
    t[1].type = CS_MKV_TRACK_AUDIO;
    t[1].codec_id = "A_TEST";
    t[1].codec_id_len = 6;
    t[1].sampling_frequency = 8000;
    t[1].channels = 1;
    cs_mkv_put_ebml_header(w);
    cs_mkv_put_segment_start(w);
    cs_mkv_put_info(w, uid);
    cs_mkv_put_tracks(w, t, 2);
}

static cs_mkv_tag tag(const char *n, const char *v)
{
    cs_mkv_tag t = {n, strlen(n), v, strlen(v)};
    return t;
}

/* GetMedia layout: per fragment a header, producer tags, service tags, the cluster, end tags. */
static size_t build(uint8_t *dst, size_t cap, bool end_tags, bool error_at_end)
{
    cs_mkv_writer w;
    size_t len = 0;
    cs_mkv_writer_init(&w, dst, cap);
    for (int f = 0; f < NFRAG; f++) {
        char num[48], ts[32], behind[16];
        snprintf(num, sizeof(num), "9100000000000000000000000000000000000000000000%d", f);
        put_header(&w);
        cs_mkv_tag prod[] = {tag("camera", "front door"), tag("f", f == 1 ? "one" : "other")};
        cs_mkv_put_tags(&w, prod, 2);
        snprintf(ts, sizeof(ts), "1700000000.%03d", 100 + f);
        cs_mkv_tag svc[] = {tag("AWS_KINESISVIDEO_FRAGMENT_NUMBER", num),
                            tag("AWS_KINESISVIDEO_SERVER_TIMESTAMP", ts),
                            tag("AWS_KINESISVIDEO_PRODUCER_TIMESTAMP", "1699999999.5")};
        cs_mkv_put_tags(&w, svc, 3);
        cs_mkv_put_cluster_start(&w, (uint64_t)(1000 * f));
        for (int i = 0; i < NFRAMES; i++) {
            uint8_t payload[8000];
            size_t n = frame_len(f, i);
            for (size_t k = 0; k < n; k++) {
                payload[k] = frame_byte(f, i, k);
            }
            cs_mkv_put_simple_block(&w, (uint64_t)(i % 2 + 1), (int16_t)(i * 33),
                                    i == 0 ? CS_MKV_BLOCK_KEY : 0, payload, n);
        }
        if (end_tags) {
            snprintf(behind, sizeof(behind), "%d", 50 - f);
            cs_mkv_tag end[] = {tag("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", behind),
                                tag("AWS_KINESISVIDEO_CONTINUATION_TOKEN", num)};
            cs_mkv_put_tags(&w, end, 2);
        }
    }
    if (error_at_end) {
        put_header(&w);
        cs_mkv_tag err[] = {tag("AWS_KINESISVIDEO_ERROR_CODE", "fragment not found"),
                            tag("AWS_KINESISVIDEO_ERROR_ID", "4000")};
        cs_mkv_put_tags(&w, err, 2);
    }
    assert_int_equal(cs_mkv_writer_finish(&w, &len), CS_OK);
    return len;
}

struct log {
    char lines[200][400];
    size_t n;
    uint32_t frames_ok;
    uint32_t in_place;
};

static void record(struct log *lg, const cs_gm_event *ev, const uint8_t *chunk, size_t chunk_len)
{
    char *l = lg->lines[lg->n++];
    const cs_gm_fragment *f = ev->fragment;
    assert_true(lg->n < 200);
    switch (ev->type) {
    case CS_GM_EV_FRAGMENT_START:
        snprintf(l, 400, "start %s srv=%llu prod=%llu tc=%llu tracks=%zu tags=%zu %s=%s %s=%s",
                 f->number, (unsigned long long)f->server_ms, (unsigned long long)f->producer_ms,
                 (unsigned long long)f->cluster_timecode, f->track_count, f->tag_count,
                 f->tag_count ? f->tags[0].name : "", f->tag_count ? f->tags[0].value : "",
                 f->tag_count > 1 ? f->tags[1].name : "", f->tag_count > 1 ? f->tags[1].value : "");
        assert_int_equal(f->track_count, 2);
        assert_string_equal(f->tracks[0].codec_id, "V_TEST");
        assert_int_equal(f->tracks[0].codec_private_len, 3);
        assert_int_equal(f->tracks[0].codec_private[2], 0xCC);
        assert_int_equal(f->tracks[0].width, 320);
        break;
    case CS_GM_EV_FRAME: {
        int fi = (int)(f->cluster_timecode / 1000), i = (int)ev->frame.index;
        bool ok = ev->frame.size == frame_len(fi, i);
        for (size_t k = 0; ok && k < ev->frame.size; k++) {
            ok = ev->frame.data[k] == frame_byte(fi, i, k);
        }
        lg->frames_ok += ok;
        if (ev->frame.data >= chunk && ev->frame.data < chunk + chunk_len) {
            lg->in_place++;
        }
        snprintf(l, 400, "frame %u track=%llu ts=%lld key=%d size=%zu", ev->frame.index,
                 (unsigned long long)ev->frame.track, (long long)ev->frame.timestamp_ns,
                 ev->frame.key, ev->frame.size);
        break;
    }
    case CS_GM_EV_FRAGMENT_END:
        snprintf(l, 400, "end %s frames=%u complete=%d behind=%lld token=%s", f->number, f->frames,
                 f->complete, f->has_millis_behind_now ? (long long)f->millis_behind_now : -1LL,
                 f->continuation_token);
        break;
    case CS_GM_EV_ERROR:
        snprintf(l, 400, "error %u %s", ev->error.id, ev->error.code);
        break;
    default:
        snprintf(l, 400, "?");
    }
}

/* Parses data in chunks of `step` (0: random sizes from `seed`). */
static cs_status run(const uint8_t *data, size_t len, size_t step, unsigned seed, struct log *lg,
                     size_t max_frame)
{
    cs_gm_parser_config cfg;
    cs_gm_parser *p = NULL;
    cs_gm_event ev;
    size_t off = 0;
    cs_status st = CS_OK;
    memset(lg, 0, sizeof(*lg));
    cs_gm_parser_config_init(&cfg);
    if (max_frame) {
        cfg.max_frame_bytes = max_frame;
    }
    assert_int_equal(cs_gm_parser_create(&cfg, &p), CS_OK);
    srand(seed);
    while (off < len && st == CS_OK) {
        size_t n = step ? step : 1 + (size_t)rand() % 3000;
        size_t at = 0;
        if (n > len - off) {
            n = len - off;
        }
        for (;;) {
            size_t used;
            st = cs_gm_parser_next(p, data + off + at, n - at, &used, &ev);
            if (st != CS_OK) {
                break;
            }
            at += used;
            if (ev.type == CS_GM_EV_NONE) {
                break;
            }
            record(lg, &ev, data + off, n);
        }
        off += n;
    }
    if (st == CS_OK) {
        st = cs_gm_parser_end(p, &ev);
        if (st == CS_OK && ev.type != CS_GM_EV_NONE) {
            record(lg, &ev, NULL, 0);
        }
    }
    cs_gm_parser_destroy(&p);
    assert_null(p);
    return st;
}

static void test_chunkings_agree(void **state)
{
    (void)state;
    static struct log whole, bytes, random;
    stream_len = build(stream, sizeof(stream), true, false);
    if (getenv("CS_GM_WRITE_SEED") != NULL) {
        FILE *f = fopen(getenv("CS_GM_WRITE_SEED"), "wb");
        assert_non_null(f);
        fwrite(stream, 1, stream_len, f);
        fclose(f);
    }
    assert_int_equal(run(stream, stream_len, stream_len, 0, &whole, 0), CS_OK);
    assert_int_equal(whole.n, NFRAG * (NFRAMES + 2));
    assert_int_equal(whole.frames_ok, NFRAG * NFRAMES);
    assert_int_equal(whole.in_place, NFRAG * NFRAMES); /* one chunk: no copies */
    assert_string_equal(whole.lines[0],
                        "start 91000000000000000000000000000000000000000000000 srv=1700000000100 "
                        "prod=1699999999500 tc=0 tracks=2 tags=2 camera=front door f=other");
    assert_string_equal(whole.lines[1], "frame 0 track=1 ts=0 key=1 size=3100");
    assert_string_equal(whole.lines[2], "frame 1 track=2 ts=33000000 key=0 size=137");
    assert_string_equal(whole.lines[6], "end 91000000000000000000000000000000000000000000000 "
                                        "frames=5 complete=1 behind=50 "
                                        "token=91000000000000000000000000000000000000000000000");
    assert_string_equal(whole.lines[7],
                        "start 91000000000000000000000000000000000000000000001 srv=1700000000101 "
                        "prod=1699999999500 tc=1000 tracks=2 tags=2 camera=front door f=one");
    assert_string_equal(whole.lines[8], "frame 0 track=1 ts=1000000000 key=1 size=4100");
    assert_int_equal(run(stream, stream_len, 1, 0, &bytes, 0), CS_OK);
    assert_int_equal(run(stream, stream_len, 0, 7, &random, 0), CS_OK);
    assert_int_equal(bytes.n, whole.n);
    assert_int_equal(random.n, whole.n);
    for (size_t i = 0; i < whole.n; i++) {
        assert_string_equal(bytes.lines[i], whole.lines[i]);
        assert_string_equal(random.lines[i], whole.lines[i]);
    }
    assert_int_equal(bytes.frames_ok, NFRAG * NFRAMES);
    assert_int_equal(random.frames_ok, NFRAG * NFRAMES);
    assert_int_equal(bytes.in_place, 0); /* assembled */
}

static void test_without_end_tags_and_errors(void **state)
{
    (void)state;
    static struct log lg;
    /* No closing tags: a fragment ends when the next one's header starts (complete), and the
     * last one at the end of the bytes (not known complete). */
    size_t len = build(stream, sizeof(stream), false, false);
    assert_int_equal(run(stream, len, 999, 0, &lg, 0), CS_OK);
    assert_int_equal(lg.n, NFRAG * (NFRAMES + 2));
    assert_string_equal(lg.lines[6], "end 91000000000000000000000000000000000000000000000 "
                                     "frames=5 complete=1 behind=-1 token=");
    assert_string_equal(lg.lines[lg.n - 1], "end 91000000000000000000000000000000000000000000002 "
                                            "frames=5 complete=0 behind=-1 token=");
    /* An error reported inside the stream. */
    len = build(stream, sizeof(stream), true, true);
    assert_int_equal(run(stream, len, 0, 3, &lg, 0), CS_OK);
    assert_string_equal(lg.lines[lg.n - 1], "error 4000 fragment not found");
    /* Cut inside the last fragment's last frame. */
    len = build(stream, sizeof(stream), true, false);
    assert_int_equal(run(stream, len - 500, 0, 5, &lg, 0), CS_OK);
    assert_int_equal(lg.n, NFRAG * (NFRAMES + 2) - 1); /* its last frame never came */
    assert_true(strncmp(lg.lines[lg.n - 1], "end 91000000000000000000000000000000000000000000002",
                        51) == 0);
    if (strstr(lg.lines[lg.n - 1], "complete=0") == NULL) {
        for (size_t i = 0; i < lg.n; i++) {
            print_message("%s\n", lg.lines[i]);
        }
    }
    assert_non_null(strstr(lg.lines[lg.n - 1], "complete=0"));
}

static void test_plain_mkv_clusters(void **state)
{
    (void)state;
    static struct log lg;
    cs_mkv_writer w;
    size_t len;
    uint8_t payload[64] = {0};
    cs_mkv_writer_init(&w, stream, sizeof(stream));
    put_header(&w);
    for (int c = 0; c < 3; c++) {
        cs_mkv_put_cluster_start(&w, (uint64_t)(c * 1000));
        cs_mkv_put_simple_block(&w, 1, 0, CS_MKV_BLOCK_KEY, payload, sizeof(payload));
        cs_mkv_put_simple_block(&w, 1, 40, 0, payload, sizeof(payload));
    }
    assert_int_equal(cs_mkv_writer_finish(&w, &len), CS_OK);
    assert_int_equal(run(stream, len, 0, 9, &lg, 0), CS_OK);
    /* start, 2 frames, end: three times */
    assert_int_equal(lg.n, 12);
    assert_true(strncmp(lg.lines[0], "start  ", 7) == 0);
    assert_string_equal(lg.lines[3], "end  frames=2 complete=1 behind=-1 token=");
    assert_true(strncmp(lg.lines[4], "start ", 6) == 0);
    assert_non_null(strstr(lg.lines[4], "tc=1000 tracks=2"));
    assert_string_equal(lg.lines[6], "frame 1 track=1 ts=1040000000 key=0 size=64");
}

static void test_limits_and_garbage(void **state)
{
    (void)state;
    static struct log lg;
    cs_gm_parser_config cfg;
    cs_gm_parser *p = NULL;
    cs_gm_event ev;
    size_t used;
    uint64_t at;
    static const uint8_t junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t len = build(stream, sizeof(stream), true, false);
    /* The biggest frame is 5100 bytes. */
    assert_int_equal(run(stream, len, 0, 1, &lg, 5099), CS_E_LIMIT);
    assert_int_equal(run(stream, len, 0, 1, &lg, 5100), CS_OK);

    cs_gm_parser_config_init(&cfg);
    assert_int_equal(cs_gm_parser_create(&cfg, &p), CS_OK);
    assert_int_equal(cs_gm_parser_next(p, junk, sizeof(junk) - 1, &used, &ev), CS_E_MALFORMED);
    assert_true(strlen(cs_gm_parser_error(p, &at)) > 0);
    /* Failed stays failed until reset; reset makes it usable again. */
    assert_int_equal(cs_gm_parser_next(p, stream, len, &used, &ev), CS_E_MALFORMED);
    cs_gm_parser_reset(p);
    assert_string_equal(cs_gm_parser_error(p, &at), "");
    assert_int_equal(cs_gm_parser_next(p, stream, len, &used, &ev), CS_OK);
    assert_int_equal(ev.type, CS_GM_EV_FRAGMENT_START);
    cs_gm_parser_destroy(&p);
    cs_gm_parser_destroy(NULL);

    cfg.max_frame_bytes = 0;
    assert_int_equal(cs_gm_parser_create(&cfg, &p), CS_E_INVAL);
    {
        cs_test_allocator ta;
        cs_test_allocator_init(&ta, 1);
        cs_gm_parser_config_init(&cfg);
        cfg.allocator = &ta.a;
        assert_int_equal(cs_gm_parser_create(&cfg, &p), CS_E_NOMEM);
        assert_int_equal(ta.live, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunkings_agree),
        cmocka_unit_test(test_without_end_tags_and_errors),
        cmocka_unit_test(test_plain_mkv_clusters),
        cmocka_unit_test(test_limits_and_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
