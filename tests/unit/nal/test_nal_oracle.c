/* SPDX-License-Identifier: Apache-2.0 */
/* Oracle test of the NAL tools against FFmpeg: encode a testsrc frame with libx264 (several sizes,
 * some needing cropping, and profiles baseline/main/high/high10) and libx265, then check that our
 * SPS parser agrees with ffprobe on width/height/profile/level and that our avcC/hvcC builders
 * produce byte-for-byte the CodecPrivate libavformat's Matroska muxer wrote. Each encode goes to
 * MKV once and the Annex-B stream is copied out of it (-c copy -f h264), so both views come from
 * the same encoder run. Skips (77) when ffmpeg cannot encode. Host builds only. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavformat/avformat.h>

#include "camstream/nal.h"
#include "testutil.h"

struct oracle_case {
    const char *name;
    cs_nal_codec codec;
    const char *size;
    int rate;
    const char *encoder_args; /* codec, profile, pixel format */
    const char *ffprobe_profile;
    unsigned width, height;
};

static const struct oracle_case cases[] = {
    {"1920x1080 high", CS_NAL_CODEC_H264, "1920x1080", 25,
     "-pix_fmt yuv420p -c:v libx264 -profile:v high", "High", 1920, 1080},
    {"1280x720 main", CS_NAL_CODEC_H264, "1280x720", 30,
     "-pix_fmt yuv420p -c:v libx264 -profile:v main", "Main", 1280, 720},
    {"642x362 main (cropping)", CS_NAL_CODEC_H264, "642x362", 30,
     "-pix_fmt yuv420p -c:v libx264 -profile:v main", "Main", 642, 362},
    {"320x240 baseline", CS_NAL_CODEC_H264, "320x240", 15,
     "-pix_fmt yuv420p -c:v libx264 -profile:v baseline", "Constrained Baseline", 320, 240},
    {"1280x720 high10", CS_NAL_CODEC_H264, "1280x720", 60,
     "-pix_fmt yuv420p10le -c:v libx264 -profile:v high10", "High 10", 1280, 720},
    {"1920x1080 x265 main", CS_NAL_CODEC_H265, "1920x1080", 25,
     "-pix_fmt yuv420p -c:v libx265 -x265-params info=0:log-level=error", "Main", 1920, 1080},
    {"642x362 x265 main", CS_NAL_CODEC_H265, "642x362", 30,
     "-pix_fmt yuv420p -c:v libx265 -x265-params info=0:log-level=error", "Main", 642, 362},
    {"1280x720 x265 main10", CS_NAL_CODEC_H265, "1280x720", 50,
     "-pix_fmt yuv420p10le -c:v libx265 -x265-params info=0:log-level=error", "Main 10", 1280, 720},
};

static bool have_encoder(const char *name)
{
    return cs_test_sh("ffmpeg -hide_banner -encoders 2>/dev/null | grep -q ' %s '", name) == 0;
}

/* ffprobe's view: "profile,width,height,level". */
static void ffprobe_stream(const char *path, char *out, size_t cap)
{
    char cmd[1024];
    FILE *p;
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -select_streams v:0 -show_entries stream=profile,width,height,level"
             " -of csv=p=0 '%s'",
             path);
    p = popen(cmd, "r");
    assert_non_null(p);
    if (fgets(out, (int)cap, p) == NULL) {
        out[0] = 0;
    }
    out[strcspn(out, "\r\n")] = 0;
    pclose(p);
}

/* The CodecPrivate libavformat reads back from the MKV. */
static uint8_t *mkv_extradata(const char *path, size_t *len)
{
    AVFormatContext *fc = NULL;
    uint8_t *copy = NULL;
    if (avformat_open_input(&fc, path, NULL, NULL) != 0) {
        return NULL;
    }
    if (avformat_find_stream_info(fc, NULL) >= 0 && fc->nb_streams > 0 &&
        fc->streams[0]->codecpar->extradata_size > 0) {
        *len = (size_t)fc->streams[0]->codecpar->extradata_size;
        copy = malloc(*len);
        memcpy(copy, fc->streams[0]->codecpar->extradata, *len);
    }
    avformat_close_input(&fc);
    return copy;
}

static void run_case(const struct oracle_case *c, const char *dir)
{
    char mkv[512], es[512], probe[256], want[256];
    uint8_t *stream, *extradata, cp[1024];
    size_t stream_len, extra_len = 0, cp_len, need;
    cs_nal_param_sets ps;
    unsigned profile_idc, level_idc, width, height;
    bool key;

    snprintf(mkv, sizeof(mkv), "%s/%s.mkv", dir, c->size);
    snprintf(es, sizeof(es), "%s/%s.%s", dir, c->size,
             c->codec == CS_NAL_CODEC_H264 ? "h264" : "hevc");
    assert_int_equal(cs_test_sh("ffmpeg -v error -y -f lavfi -i testsrc=size=%s:rate=%d "
                                "-frames:v 1 %s '%s'",
                                c->size, c->rate, c->encoder_args, mkv),
                     0);
    assert_int_equal(cs_test_sh("ffmpeg -v error -y -i '%s' -c copy -f %s '%s'", mkv,
                                c->codec == CS_NAL_CODEC_H264 ? "h264" : "hevc", es),
                     0);
    stream = cs_test_load(es, &stream_len);
    assert_non_null(stream);

    assert_int_equal(
        cs_nal_is_key_frame(c->codec, CS_NAL_FORMAT_ANNEXB, 0, stream, stream_len, &key), CS_OK);
    assert_true(key);
    assert_int_equal(
        cs_nal_find_param_sets(c->codec, CS_NAL_FORMAT_ANNEXB, 0, stream, stream_len, &ps), CS_OK);
    if (c->codec == CS_NAL_CODEC_H264) {
        cs_h264_sps s;
        assert_int_equal(cs_h264_sps_parse(ps.sps, ps.sps_len, &s), CS_OK);
        profile_idc = s.profile_idc;
        level_idc = s.level_idc;
        width = s.width;
        height = s.height;
        assert_int_equal(s.fps_num, (unsigned)c->rate * s.fps_den); /* time_scale / 2 ticks */
        assert_int_equal(
            cs_nal_avcc_from_sps_pps(ps.sps, ps.sps_len, ps.pps, ps.pps_len, NULL, 0, &need),
            CS_OK);
        assert_int_equal(cs_nal_avcc_from_sps_pps(ps.sps, ps.sps_len, ps.pps, ps.pps_len, cp,
                                                  sizeof(cp), &cp_len),
                         CS_OK);
    } else {
        cs_h265_sps s;
        assert_int_equal(cs_h265_sps_parse(ps.sps, ps.sps_len, &s), CS_OK);
        profile_idc = s.ptl.profile_idc;
        level_idc = s.ptl.level_idc;
        width = s.width;
        height = s.height;
        if (s.timing_info_present) {
            assert_int_equal(s.fps_num, (unsigned)c->rate * s.fps_den);
        }
        assert_int_equal(cs_nal_hvcc_from_vps_sps_pps(ps.vps, ps.vps_len, ps.sps, ps.sps_len,
                                                      ps.pps, ps.pps_len, NULL, 0, &need),
                         CS_OK);
        assert_int_equal(cs_nal_hvcc_from_vps_sps_pps(ps.vps, ps.vps_len, ps.sps, ps.sps_len,
                                                      ps.pps, ps.pps_len, cp, sizeof(cp), &cp_len),
                         CS_OK);
    }
    assert_int_equal(need, cp_len);
    print_message("  ours: profile %u level %u %ux%u\n", profile_idc, level_idc, width, height);
    assert_int_equal(width, c->width);
    assert_int_equal(height, c->height);

    /* ffprobe agrees on profile name, size and level. */
    ffprobe_stream(mkv, probe, sizeof(probe));
    snprintf(want, sizeof(want), "%s,%u,%u,%u", c->ffprobe_profile, width, height, level_idc);
    print_message("  ffprobe: %s\n", probe);
    assert_string_equal(probe, want);

    /* Our CodecPrivate is byte-for-byte the one libavformat wrote. */
    extradata = mkv_extradata(mkv, &extra_len);
    assert_non_null(extradata);
    assert_int_equal(cp_len, extra_len);
    assert_memory_equal(cp, extradata, cp_len);
    free(extradata);
    free(stream);
}

static void test_oracle(void **state)
{
    const char *dir = cs_test_tmpdir("nal_oracle");
    bool x264 = have_encoder("libx264"), x265 = have_encoder("libx265");
    int ran = 0;
    (void)state;

    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        const struct oracle_case *c = &cases[k];
        if ((c->codec == CS_NAL_CODEC_H264 && !x264) || (c->codec == CS_NAL_CODEC_H265 && !x265)) {
            print_message("skip (no encoder): %s\n", c->name);
            continue;
        }
        if (strstr(c->encoder_args, "10le") != NULL &&
            cs_test_sh("ffmpeg -v error -f lavfi -i testsrc=size=64x64 -frames:v 1 -pix_fmt "
                       "yuv420p10le -c:v %s -f null - 2>/dev/null",
                       c->codec == CS_NAL_CODEC_H264 ? "libx264" : "libx265") != 0) {
            print_message("skip (no 10-bit support): %s\n", c->name);
            continue;
        }
        print_message("case: %s\n", c->name);
        run_case(c, dir);
        ran++;
    }
    if (ran == 0) {
        skip();
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oracle),
    };
    if (cs_test_sh("ffmpeg -version >/dev/null 2>&1") != 0) {
        return 77;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
