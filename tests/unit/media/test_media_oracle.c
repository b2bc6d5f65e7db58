/* SPDX-License-Identifier: Apache-2.0 */
/* Oracle test of the PutMedia ingest core: real upload-like MKV made at test time by GStreamer
 * (matroskamux streamable=true: unknown-size Segment and Clusters) and by ffmpeg (live matroska
 * to a pipe: known-size Clusters, Cues between them) is fed through cs_media in 4 KiB and in
 * 1-byte chunks; each fragment's bytes, behind its session header, are written to a file that
 * ffprobe must read with exactly the frame count the core reported, and the counts add up to
 * every frame of the input. Skipped (77) when the tools are missing. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media.h"
#include "recorder.h"
#include "testutil.h"

static long probe_frames(const char *path)
{
    char cmd[1024];
    char out[64] = {0};
    FILE *p;
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -count_frames -select_streams v:0 -show_entries "
             "stream=nb_read_frames -of csv=p=0 '%s'",
             path);
    p = popen(cmd, "r");
    assert_non_null(p);
    if (fgets(out, sizeof(out), p) == NULL) {
        out[0] = '\0';
    }
    pclose(p);
    return strtol(out, NULL, 10);
}

static void check_file(const char *dir, const char *name, long total_frames)
{
    char path[512];
    size_t len;
    uint8_t *buf;
    rec r, r1;
    cs_media_config c;
    long sum = 0;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    buf = cs_test_load(path, &len);
    assert_non_null(buf);
    cs_media_config_init(&c);
    rec_init(&r);
    if (rec_run(&r, &c, buf, len, 4096) != CS_OK || r.nerrors != 0) {
        fail_msg("%s", r.log);
    }
    assert_int_equal(r.sessions, 1);
    assert_true(r.nfrags >= 2);
    rec_init(&r1);
    assert_int_equal(rec_run(&r1, &c, buf, len, 1), CS_OK);
    assert_string_equal(r1.log, r.log);
    assert_memory_equal(r1.data, r.data, r.data_len);
    rec_free(&r1);
    for (size_t i = 0; i < r.nfrags; i++) {
        rec_frag *f = &r.frags[i];
        char fp[600];
        FILE *o;
        assert_true(f->complete);
        snprintf(fp, sizeof(fp), "%s/%s.frag%zu.mkv", dir, name, i);
        o = fopen(fp, "wb");
        assert_non_null(o);
        assert_int_equal(fwrite(r.headers + f->header_start, 1, f->header_len, o), f->header_len);
        assert_int_equal(fwrite(r.data + f->data_start, 1, f->data_len, o), f->data_len);
        fclose(o);
        long n = probe_frames(fp);
        if (n != (long)f->final.frame_count) {
            fail_msg("%s: ffprobe reads %ld frames, the core counted %llu", fp, n,
                     (unsigned long long)f->final.frame_count);
        }
        sum += n;
    }
    assert_int_equal(sum, total_frames);
    rec_free(&r);
    free(buf);
}

static void test_gstreamer(void **state)
{
    const char *dir = cs_test_tmpdir("media_oracle_gst");
    (void)state;
    if (cs_test_sh("command -v gst-launch-1.0 >/dev/null && command -v ffprobe >/dev/null") != 0) {
        skip();
    }
    assert_int_equal(cs_test_sh("cd '%s' && gst-launch-1.0 -q videotestsrc is-live=false "
                                "num-buffers=150 pattern=ball ! video/x-raw,width=320,height=240 "
                                "! x264enc key-int-max=30 ! h264parse ! matroskamux "
                                "streamable=true ! filesink location=gst.mkv",
                                dir),
                     0);
    check_file(dir, "gst.mkv", 150);
}

static void test_ffmpeg(void **state)
{
    const char *dir = cs_test_tmpdir("media_oracle_ffmpeg");
    (void)state;
    if (cs_test_sh("command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null") != 0) {
        skip();
    }
    assert_int_equal(cs_test_sh("cd '%s' && ffmpeg -v error -y -f lavfi -i "
                                "testsrc=duration=5:size=320x240:rate=30 -c:v libx264 -g 30 "
                                "-cluster_time_limit 1000 -f matroska -live 1 pipe:1 > ff.mkv",
                                dir),
                     0);
    check_file(dir, "ff.mkv", 150);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gstreamer),
        cmocka_unit_test(test_ffmpeg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
