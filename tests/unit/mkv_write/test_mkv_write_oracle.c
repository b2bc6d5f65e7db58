/* SPDX-License-Identifier: Apache-2.0 */
/* Oracle test of the MKV writer: real H.264/H.265 + AAC made by ffmpeg at test time (MP4, read
 * with libavformat for packets and extradata), plus synthetic G.711 A-law, written by the
 * fragmenter (size pass, then write pass, per frame) and read back by libavformat, which must see
 * the same frames, timestamps, key flags and codec parameters (width and height taken by the
 * writer from the SPS inside avcC/hvcC, extradata, sample rate, channels). mkvinfo, when
 * installed, must accept every file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavformat/avformat.h>
#include <libavutil/mathematics.h>

#include "camstream/mkv.h"
#include "testutil.h"

#define MAX_PKTS 4096
#define OUT_CAP (16u << 20)
/* Every timestamp is shifted by this much so AAC priming (negative pts) stays positive. */
#define BASE_NS 1000000000ull

typedef struct pkt {
    int track; /* 1 video, 2 audio */
    uint64_t ts_ns;
    bool key;
    uint8_t *data;
    size_t size;
} pkt;

typedef struct media {
    pkt pkts[MAX_PKTS];
    size_t count;
    cs_mkv_track_info tracks[2];
    uint8_t *extradata[2];
    int width, height;
    enum AVCodecID codec[2];
} media;

static void media_free(media *m)
{
    for (size_t i = 0; i < m->count; i++) {
        free(m->pkts[i].data);
    }
    free(m->extradata[0]);
    free(m->extradata[1]);
    free(m);
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n > 0 ? n : 1);
    assert_non_null(d);
    if (n > 0) {
        memcpy(d, p, n);
    }
    return d;
}

/* Reads an MP4 made by ffmpeg: stream 0 video (track 1), stream 1 audio (track 2) if present. */
static void load_mp4(const char *path, media *m)
{
    AVFormatContext *fc = NULL;
    AVPacket *p = av_packet_alloc();

    assert_non_null(p);
    assert_int_equal(avformat_open_input(&fc, path, NULL, NULL), 0);
    assert_true(avformat_find_stream_info(fc, NULL) >= 0);
    for (unsigned i = 0; i < fc->nb_streams && i < 2; i++) {
        AVCodecParameters *cp = fc->streams[i]->codecpar;
        cs_mkv_track_info *t = &m->tracks[i];
        memset(t, 0, sizeof(*t));
        t->number = i + 1;
        m->codec[i] = cp->codec_id;
        m->extradata[i] = dup_bytes(cp->extradata, (size_t)cp->extradata_size);
        t->codec_private = m->extradata[i];
        t->codec_private_len = (size_t)cp->extradata_size;
        if (cp->codec_type == AVMEDIA_TYPE_VIDEO) {
            assert_int_equal(i, 0);
            t->type = CS_MKV_TRACK_VIDEO;
            t->codec =
                cp->codec_id == AV_CODEC_ID_H264 ? CS_MKV_CODEC_ID_H264 : CS_MKV_CODEC_ID_H265;
            /* width/height left 0: the writer must take them from the SPS */
            m->width = cp->width;
            m->height = cp->height;
        } else {
            assert_int_equal(cp->codec_id, AV_CODEC_ID_AAC);
            t->type = CS_MKV_TRACK_AUDIO;
            t->codec = CS_MKV_CODEC_ID_AAC;
            t->sampling_frequency = cp->sample_rate;
            t->channels = (uint32_t)cp->ch_layout.nb_channels;
        }
    }
    while (av_read_frame(fc, p) >= 0) {
        if (p->stream_index < 2) {
            AVStream *st = fc->streams[p->stream_index];
            int64_t ns = av_rescale_q(p->pts, st->time_base, (AVRational){1, 1000000000});
            pkt *k = &m->pkts[m->count++];
            assert_true(m->count < MAX_PKTS);
            assert_true(ns + (int64_t)BASE_NS >= 0);
            k->track = p->stream_index + 1;
            k->ts_ns = (uint64_t)(ns + (int64_t)BASE_NS);
            k->key = (p->flags & AV_PKT_FLAG_KEY) != 0;
            k->data = dup_bytes(p->data, (size_t)p->size);
            k->size = (size_t)p->size;
        }
        av_packet_unref(p);
    }
    av_packet_free(&p);
    avformat_close_input(&fc);
}

/* Adds 20 ms A-law frames (160 bytes at 8 kHz) as track 2, merged by time after the video. */
static void add_alaw(media *m, uint64_t dur_ns)
{
    pkt *merged = calloc(MAX_PKTS, sizeof(pkt));
    size_t n = 0, v = 0;
    uint64_t t = BASE_NS;
    unsigned seed = 1;

    assert_non_null(merged);
    memset(&m->tracks[1], 0, sizeof(m->tracks[1]));
    m->tracks[1].number = 2;
    m->tracks[1].type = CS_MKV_TRACK_AUDIO;
    m->tracks[1].codec = CS_MKV_CODEC_ID_ALAW;
    m->tracks[1].sampling_frequency = 8000;
    m->tracks[1].channels = 1;
    m->codec[1] = AV_CODEC_ID_PCM_ALAW;
    while (v < m->count || t < BASE_NS + dur_ns) {
        if (v < m->count && (t >= BASE_NS + dur_ns || m->pkts[v].ts_ns <= t)) {
            merged[n++] = m->pkts[v++];
        } else {
            pkt *k = &merged[n++];
            k->track = 2;
            k->ts_ns = t;
            k->key = true;
            k->size = 160;
            k->data = malloc(160);
            assert_non_null(k->data);
            for (int i = 0; i < 160; i++) {
                seed = seed * 1103515245u + 12345u;
                k->data[i] = (uint8_t)(seed >> 16);
            }
            t += 20000000ull;
        }
        assert_true(n < MAX_PKTS);
    }
    memcpy(m->pkts, merged, n * sizeof(pkt));
    m->count = n;
    free(merged);
}

/* Writes the media with the fragmenter; returns the file size. */
static size_t write_mkv(const media *m, const char *path, bool relative)
{
    cs_mkv_fragmenter_config cfg;
    cs_mkv_fragmenter f;
    cs_mkv_frame_layout lo, sized;
    uint8_t *out = malloc(OUT_CAP);
    size_t len = 0, n;
    FILE *fp;
    int clusters = 0;

    assert_non_null(out);
    cs_mkv_fragmenter_config_init(&cfg);
    cfg.tracks[0] = m->tracks[0];
    cfg.tracks[1] = m->tracks[1];
    cfg.track_count = 2;
    cfg.relative_timecodes = relative;
    for (int i = 0; i < CS_MKV_SEGMENT_UID_LEN; i++) {
        cfg.segment_uid[i] = (uint8_t)(0xC0 + i);
    }
    assert_int_equal(cs_mkv_fragmenter_init(&f, &cfg), CS_OK);
    assert_int_equal(cs_mkv_fragmenter_add_tag(&f, "CAMSTREAM_ORACLE", 16, "hello", 5), CS_OK);
    for (size_t i = 0; i < m->count; i++) {
        const pkt *k = &m->pkts[i];
        cs_mkv_frame fr = {(uint64_t)k->track, k->ts_ns, k->key ? CS_MKV_BLOCK_KEY : 0, k->size};
        assert_int_equal(cs_mkv_fragmenter_frame_header(&f, &fr, NULL, 0, &sized), CS_OK);
        assert_true(len + sized.total_len <= OUT_CAP);
        if (i % 2 == 0) {
            /* header into the buffer, then the payload copied by the caller */
            assert_int_equal(cs_mkv_fragmenter_frame_header(&f, &fr, out + len, OUT_CAP - len, &lo),
                             CS_OK);
            memcpy(out + len + lo.header_len, k->data, k->size);
        } else {
            assert_int_equal(
                cs_mkv_fragmenter_put_frame(&f, &fr, k->data, out + len, OUT_CAP - len, &lo),
                CS_OK);
        }
        assert_int_equal(lo.total_len, sized.total_len);
        assert_int_equal(lo.header_len, sized.header_len);
        len += lo.total_len;
        /* A cluster (fragment) at the first frame and at every video key frame, nowhere else. */
        assert_int_equal(lo.new_cluster, i == 0 || (k->track == 1 && k->key));
        clusters += lo.new_cluster;
    }
    assert_true(clusters >= 2);
    /* A trailing Tags element after the last cluster. */
    assert_int_equal(cs_mkv_fragmenter_add_tag(&f, "CAMSTREAM_END", 13, "1", 1), CS_OK);
    assert_int_equal(cs_mkv_fragmenter_flush_tags(&f, out + len, OUT_CAP - len, &n), CS_OK);
    len += n;
    fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(out, 1, len, fp), len);
    fclose(fp);
    free(out);
    return len;
}

/* Reads the MKV back with libavformat and compares everything. */
static void check_mkv(const media *m, const char *path, bool relative)
{
    AVFormatContext *fc = NULL;
    AVPacket *p = av_packet_alloc();
    AVDictionaryEntry *tag;
    size_t i = 0;
    uint64_t origin_ns = m->pkts[0].ts_ns;

    assert_non_null(p);
    assert_int_equal(avformat_open_input(&fc, path, NULL, NULL), 0);
    assert_int_equal(fc->nb_streams, 2);
    for (unsigned s = 0; s < 2; s++) {
        AVCodecParameters *cp = fc->streams[s]->codecpar;
        assert_int_equal(cp->codec_id, m->codec[s]);
        assert_int_equal(fc->streams[s]->time_base.num, 1);
        assert_int_equal(fc->streams[s]->time_base.den, 1000);
        if (s == 0) {
            assert_int_equal(cp->width, m->width);
            assert_int_equal(cp->height, m->height);
            assert_int_equal(cp->extradata_size, (int)m->tracks[0].codec_private_len);
            assert_memory_equal(cp->extradata, m->tracks[0].codec_private,
                                m->tracks[0].codec_private_len);
        } else {
            assert_int_equal(cp->sample_rate, (int)m->tracks[1].sampling_frequency);
            assert_int_equal(cp->ch_layout.nb_channels, (int)m->tracks[1].channels);
            if (m->codec[1] == AV_CODEC_ID_AAC) {
                assert_int_equal(cp->extradata_size, (int)m->tracks[1].codec_private_len);
                assert_memory_equal(cp->extradata, m->tracks[1].codec_private,
                                    m->tracks[1].codec_private_len);
            } else {
                assert_int_equal(cp->bits_per_coded_sample, 8);
            }
        }
    }
    tag = av_dict_get(fc->metadata, "CAMSTREAM_ORACLE", NULL, 0);
    assert_non_null(tag);
    assert_string_equal(tag->value, "hello");
    while (av_read_frame(fc, p) >= 0) {
        const pkt *k;
        uint64_t want_ms;
        assert_true(i < m->count);
        k = &m->pkts[i];
        want_ms = (relative ? k->ts_ns - origin_ns : k->ts_ns) / 1000000u;
        assert_int_equal(p->stream_index + 1, k->track);
        assert_int_equal(p->pts, (int64_t)want_ms);
        assert_int_equal((p->flags & AV_PKT_FLAG_KEY) != 0, k->key);
        assert_int_equal(p->size, (int)k->size);
        assert_memory_equal(p->data, k->data, k->size);
        av_packet_unref(p);
        i++;
    }
    assert_int_equal(i, m->count);
    av_packet_free(&p);
    avformat_close_input(&fc);
}

static void check_mkvinfo(const char *path)
{
    if (cs_test_sh("command -v mkvinfo >/dev/null 2>&1") != 0) {
        print_message("mkvinfo not installed: skipped\n");
        return;
    }
    assert_int_equal(cs_test_sh("mkvinfo '%s' >/dev/null", path), 0);
    /* Every cluster and every tag is found (the file has no cues: -a reads everything). */
    assert_int_equal(cs_test_sh("mkvinfo -a '%s' | grep -q 'Name: CAMSTREAM_END'", path), 0);
}

static void run_case(const char *name, const char *ffmpeg_args, bool alaw, bool relative)
{
    const char *dir = cs_test_tmpdir(name);
    char src[1200], dst[1200];
    media *m = calloc(1, sizeof(*m));

    assert_non_null(m);
    snprintf(src, sizeof(src), "%s/src.mp4", dir);
    snprintf(dst, sizeof(dst), "%s/out.mkv", dir);
    if (cs_test_sh("ffmpeg -nostdin -v error -y %s '%s'", ffmpeg_args, src) != 0) {
        fail_msg("ffmpeg could not make the source file");
    }
    load_mp4(src, m);
    if (alaw) {
        add_alaw(m, 2000000000ull);
    }
    assert_true(write_mkv(m, dst, relative) > 0);
    check_mkv(m, dst, relative);
    check_mkvinfo(dst);
    media_free(m);
}

static void test_h264_aac(void **state)
{
    (void)state;
    run_case("mkv_write_h264_aac",
             "-f lavfi -i testsrc=size=320x240:rate=30 -f lavfi -i sine=frequency=440:"
             "sample_rate=44100 -t 2 -c:v libx264 -g 30 -pix_fmt yuv420p -c:a aac -b:a 64k",
             false, false);
}

static void test_h264_alaw_relative(void **state)
{
    (void)state;
    /* Odd size: the SPS carries cropping, which the writer must apply. */
    run_case("mkv_write_h264_alaw",
             "-f lavfi -i testsrc=size=318x238:rate=25 -t 2 -c:v libx264 -g 20 -bf 0 "
             "-pix_fmt yuv420p",
             true, true);
}

static void test_h265_alaw(void **state)
{
    (void)state;
    run_case("mkv_write_h265_alaw",
             "-f lavfi -i testsrc=size=320x240:rate=30 -t 2 -c:v libx265 -x265-params "
             "log-level=error:keyint=30:min-keyint=30 -pix_fmt yuv420p -tag:v hvc1",
             true, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h264_aac),
        cmocka_unit_test(test_h264_alaw_relative),
        cmocka_unit_test(test_h265_alaw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
