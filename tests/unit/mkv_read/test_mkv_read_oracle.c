/* SPDX-License-Identifier: Apache-2.0 */
/* Oracle test of the MKV reader: files written at test time by GStreamer's matroskamux, ffmpeg
 * and mkvmerge (SimpleBlocks, BlockGroups, lacing, known- and unknown-size elements, Cues,
 * SeekHead, Void, CRC-32) are read with chunk sizes 1, 7, 4096 and whole, and every frame the
 * reader reports must match ffprobe's packet list: track, timestamp, key flag, size and position,
 * in order; each frame's bytes must be the file's bytes at the reported offset. A file made of two
 * files back to back checks concatenated segments (GetMedia). Skips (77) when a tool is missing. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "camstream/mkv.h"
#include "recorder.h"
#include "testutil.h"

#define MAX_FRAMES 8192

struct probe_pkt {
    int stream;
    int64_t pts; /* INT64_MIN when N/A */
    uint64_t size;
    uint64_t pos;
    bool key;
};

static const char *g_dir;
static struct probe_pkt g_pkts[MAX_FRAMES];
static rec_frame g_frames[MAX_FRAMES];
static rec_frame g_frames2[MAX_FRAMES];
static rec g_rec, g_rec2;

static bool have_tool(const char *name)
{
    return cs_test_sh("command -v %s >/dev/null 2>&1", name) == 0;
}

/* Reads ffprobe's packets of `path` (appending `base_pos` to positions) into g_pkts + *n. */
static void probe(const char *path, size_t *n, uint64_t base_pos)
{
    char csv[1200], line[256];
    FILE *f;

    snprintf(csv, sizeof(csv), "%s.csv", path);
    assert_int_equal(cs_test_sh("ffprobe -v error -show_packets -of csv=p=0 -show_entries "
                                "packet=stream_index,pts,flags,size,pos '%s' > '%s'",
                                path, csv),
                     0);
    f = fopen(csv, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        /* stream_index,pts,size,pos,flags */
        struct probe_pkt *p = &g_pkts[*n];
        char pts[32], flags[16];
        unsigned long long size, pos;
        assert_true(*n < MAX_FRAMES);
        assert_int_equal(
            sscanf(line, "%d,%31[^,],%llu,%llu,%15s", &p->stream, pts, &size, &pos, flags), 5);
        p->pts = strcmp(pts, "N/A") == 0 ? INT64_MIN : strtoll(pts, NULL, 10);
        p->size = size;
        p->pos = pos + base_pos;
        p->key = flags[0] == 'K';
        (*n)++;
    }
    fclose(f);
}

static int stream_of(const rec *r, uint64_t track)
{
    for (size_t i = 0; i < r->n_tracks; i++) {
        if (r->track_numbers[i] == track) {
            return (int)i;
        }
    }
    return -1;
}

/* ffmpeg's timestamp of laced frame i: block timecode + the sum of lace durations before it.
 * matroskadec takes the block's duration from BlockDuration, else default_duration * laces /
 * TimecodeScale (integer ns arithmetic), and splits it evenly. */
static int64_t lace_pts(const rec *r, const rec_frame *f)
{
    int s = stream_of(r, f->track);
    uint64_t dur = f->duration;
    int64_t t = f->timecode;

    if (f->frame_index == 0) {
        return t;
    }
    if (dur == 0 && s >= 0) {
        dur = r->track_default_duration_ns[s] * f->frame_count / 1000000u; /* 1 ms ticks */
    }
    if (dur == 0) {
        return INT64_MIN;
    }
    for (unsigned n = 0; n < f->frame_index; n++) {
        t += (int64_t)(dur * (n + 1) / f->frame_count - dur * n / f->frame_count);
    }
    return t;
}

/* How to compare key flags. ffprobe's flags are not the container's: for H.264 ffmpeg's parser
 * sets them from the bitstream (IDR), and audio packets of intra-only codecs are always key. So
 * video flags are compared where the muxer writes them; KEYS_ALL_SET is for a muxer that writes
 * BlockGroups without ReferenceBlock (every block is then a key frame by the Matroska rule, which
 * the reader must report, and every IDR is among them). */
enum { KEYS_EXACT, KEYS_ALL_SET };
static int g_keys = KEYS_EXACT;

static void check_key(const rec *r, const rec_frame *f, const struct probe_pkt *p)
{
    int s = stream_of(r, f->track);

    if (s >= 0 && r->track_types[s] == CS_MKV_TRACK_AUDIO) {
        assert_true(p->key); /* ffmpeg marks every audio packet key; the container may not */
    } else if (g_keys == KEYS_ALL_SET) {
        assert_true(f->key);
    } else {
        assert_int_equal(f->key, p->key);
    }
}

/* Reads `path` with each chunk size and checks every frame against ffprobe's packets. */
static void check_file(const char *path, const size_t *pkt_counts, size_t n_pkts)
{
    static const size_t chunks[] = {0, 1, 7, 4096};
    size_t len = 0;
    uint8_t *data = cs_test_load(path, &len);
    size_t per_stream[8] = {0};
    size_t laced = 0, groups = 0, keys = 0;

    (void)pkt_counts;
    assert_non_null(data);
    rec_init(&g_rec, g_frames, MAX_FRAMES, true);
    if (rec_run(&g_rec, NULL, data, len, 0) != CS_OK) {
        fprintf(stderr, "%s: %s at %" PRIu64 "\n", path, g_rec.error, g_rec.error_offset);
    }
    assert_int_equal(g_rec.status, CS_OK);
    if (g_rec.n_frames != n_pkts) {
        fprintf(stderr, "%s: reader %zu frames, ffprobe %zu packets\n", path, g_rec.n_frames,
                n_pkts);
    }
    assert_int_equal(g_rec.n_frames, n_pkts);

    /* ffprobe lists packets in file order; so does the reader. */
    for (size_t i = 0; i < n_pkts; i++) {
        const rec_frame *f = &g_frames[i];
        const struct probe_pkt *p = &g_pkts[i];
        int64_t want_pts = lace_pts(&g_rec, f);
        int s = stream_of(&g_rec, f->track);
        if (s != p->stream || want_pts != p->pts || f->size != p->size ||
            f->block_data_offset != p->pos) {
            fprintf(stderr,
                    "%s frame %zu: reader stream %d pts %" PRId64 " key %d size %" PRIu64
                    " pos %" PRIu64 " (lace %u/%u); ffprobe %d,%" PRId64 ",%d,%" PRIu64 ",%" PRIu64
                    "\n",
                    path, i, s, want_pts, f->key, f->size, f->block_data_offset, f->frame_index,
                    f->frame_count, p->stream, p->pts, p->key, p->size, p->pos);
        }
        assert_int_equal(s, p->stream);
        assert_true(want_pts == p->pts);
        check_key(&g_rec, f, p);
        assert_int_equal(f->size, p->size);
        assert_int_equal(f->block_data_offset, p->pos);
        /* the reported offset holds the bytes that were delivered */
        assert_true(f->frame_offset + f->size <= len);
        assert_true(f->hash == rec_fnv(REC_FNV_INIT, data + f->frame_offset, (size_t)f->size));
        if (p->stream >= 0 && p->stream < 8) {
            per_stream[p->stream]++;
        }
        laced += f->frame_count > 1;
        keys += f->key;
    }
    for (size_t i = 0; i < g_rec.n_lines; i++) {
        groups += strncmp(g_rec.lines[i], "BLOCK A1", 8) == 0;
    }
    printf("  %s: %zu bytes, %zu frames (stream 0: %zu, stream 1: %zu), %zu key, %zu laced, "
           "%zu in BlockGroups\n",
           strrchr(path, '/') + 1, len, n_pkts, per_stream[0], per_stream[1], keys, laced, groups);

    /* Every chunking gives the same events (first REC_MAX_LINES lines) and the same frames. */
    for (size_t c = 1; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        rec_init(&g_rec2, g_frames2, MAX_FRAMES, true);
        assert_int_equal(rec_run(&g_rec2, NULL, data, len, chunks[c]), CS_OK);
        assert_int_equal(g_rec2.n_lines, g_rec.n_lines);
        for (size_t i = 0; i < g_rec.n_lines; i++) {
            assert_string_equal(g_rec2.lines[i], g_rec.lines[i]);
        }
        assert_int_equal(g_rec2.n_frames, g_rec.n_frames);
        assert_memory_equal(g_frames2, g_frames, n_pkts * sizeof(g_frames[0]));
    }
    free(data);
}

static void check_generated(const char *name, const char *cmd_fmt)
{
    char path[1024];
    size_t n = 0;

    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    if (cs_test_sh(cmd_fmt, path) != 0) {
        fail_msg("could not generate %s", name);
    }
    probe(path, &n, 0);
    assert_true(n > 0);
    check_file(path, NULL, n);
}

static void test_gst_video(void **state)
{
    (void)state;
    check_generated("gst_video.mkv",
                    "gst-launch-1.0 -q videotestsrc num-buffers=90 pattern=ball ! "
                    "video/x-raw,width=320,height=240,framerate=30/1 ! x264enc key-int-max=30 ! "
                    "h264parse ! matroskamux ! filesink location='%s'");
}

static void test_gst_av(void **state)
{
    (void)state;
    check_generated("gst_av.mkv",
                    "gst-launch-1.0 -q matroskamux name=mux ! filesink location='%s' "
                    "videotestsrc num-buffers=90 pattern=ball ! "
                    "video/x-raw,width=320,height=240,framerate=30/1 ! x264enc key-int-max=30 ! "
                    "h264parse ! mux. audiotestsrc num-buffers=130 ! avenc_aac ! aacparse ! mux.");
}

/* Matroska v1 from matroskamux: BlockGroups with ReferenceBlock instead of SimpleBlocks. */
static void test_gst_blockgroups(void **state)
{
    (void)state;
    g_keys = KEYS_ALL_SET;
    check_generated("gst_v1.mkv",
                    "gst-launch-1.0 -q videotestsrc num-buffers=90 pattern=ball ! "
                    "video/x-raw,width=320,height=240,framerate=30/1 ! x264enc key-int-max=30 ! "
                    "h264parse ! matroskamux version=1 ! filesink location='%s'");
    g_keys = KEYS_EXACT;
}

/* Written to a pipe: matroskamux cannot seek back, so Segment and Clusters keep unknown sizes. */
static void test_gst_streamable(void **state)
{
    (void)state;
    check_generated("gst_live.mkv",
                    "gst-launch-1.0 -q matroskamux name=mux streamable=true ! fdsink fd=1 "
                    "videotestsrc num-buffers=90 pattern=ball ! "
                    "video/x-raw,width=320,height=240,framerate=30/1 ! x264enc key-int-max=30 ! "
                    "h264parse ! mux. audiotestsrc num-buffers=130 ! avenc_aac ! aacparse ! mux. "
                    "> '%s'");
}

static void test_ffmpeg_video(void **state)
{
    (void)state;
    check_generated("ff_video.mkv", "ffmpeg -v error -y -f lavfi -i testsrc=size=320x240:rate=30 "
                                    "-t 3 -c:v libx264 -g 30 -f matroska '%s'");
}

static void test_ffmpeg_av(void **state)
{
    (void)state;
    check_generated("ff_av.mkv",
                    "ffmpeg -v error -y -f lavfi -i testsrc=size=320x240:rate=30 -f lavfi "
                    "-i sine=frequency=440:sample_rate=48000 -t 3 -c:v libx264 -g 30 -c:a aac "
                    "-f matroska '%s'");
}

/* ffmpeg's live mode to a pipe: unknown-size Segment, small clusters. */
static void test_ffmpeg_live(void **state)
{
    (void)state;
    check_generated("ff_live.mkv",
                    "ffmpeg -v error -y -f lavfi -i testsrc=size=320x240:rate=30 -f lavfi "
                    "-i sine=frequency=440:sample_rate=48000 -t 3 -c:v libx264 -g 30 -c:a aac "
                    "-f matroska -live 1 -cluster_time_limit 500 pipe:1 > '%s'");
}

/* mkvmerge from an MP4 with MP3 audio: lacing of audio frames. */
static void test_mkvmerge_lacing(void **state)
{
    (void)state;
    check_generated("mkvmerge.mkv",
                    "ffmpeg -v error -y -f lavfi -i testsrc=size=320x240:rate=30 -f lavfi "
                    "-i sine=frequency=440:sample_rate=44100 -t 3 -c:v libx264 -g 30 "
                    "-c:a libmp3lame -f mp4 '%1$s.mp4' && mkvmerge -q -o '%1$s' '%1$s.mp4'");
}

/* mkvmerge without SimpleBlocks: BlockGroups with ReferenceBlock for every non-key frame. */
static void test_mkvmerge_blockgroups(void **state)
{
    (void)state;
    check_generated("mkvmerge_bg.mkv",
                    "ffmpeg -v error -y -f lavfi -i testsrc=size=320x240:rate=30 -f lavfi "
                    "-i sine=frequency=440:sample_rate=44100 -t 3 -c:v libx264 -g 30 "
                    "-c:a aac -f mp4 '%1$s.mp4' && "
                    "mkvmerge -q --engage no_simpleblocks -o '%1$s' '%1$s.mp4'");
}

/* GetMedia-style: two files back to back are one stream of two segments. */
static void test_concatenated(void **state)
{
    char a[1024], b[1024], ab[1024];
    size_t n = 0, la = 0;
    uint8_t *d;
    (void)state;

    snprintf(a, sizeof(a), "%s/ff_video.mkv", g_dir);
    snprintf(b, sizeof(b), "%s/gst_live.mkv", g_dir);
    snprintf(ab, sizeof(ab), "%s/concat.mkv", g_dir);
    d = cs_test_load(a, &la);
    if (d == NULL) {
        skip();
    }
    free(d);
    assert_int_equal(cs_test_sh("cat '%s' '%s' > '%s'", a, b, ab), 0);
    probe(a, &n, 0);
    probe(b, &n, la);
    check_file(ab, NULL, n);
}

static int setup(void **state)
{
    (void)state;
    if (!have_tool("ffprobe") || !have_tool("ffmpeg") || !have_tool("gst-launch-1.0") ||
        !have_tool("mkvmerge")) {
        printf("ffmpeg, ffprobe, gst-launch-1.0 or mkvmerge missing: skipping\n");
        exit(77);
    }
    g_dir = strdup(cs_test_tmpdir("mkv_read_oracle"));
    return g_dir == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    free((void *)g_dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gst_video),
        cmocka_unit_test(test_gst_av),
        cmocka_unit_test(test_gst_blockgroups),
        cmocka_unit_test(test_gst_streamable),
        cmocka_unit_test(test_ffmpeg_video),
        cmocka_unit_test(test_ffmpeg_av),
        cmocka_unit_test(test_ffmpeg_live),
        cmocka_unit_test(test_mkvmerge_lacing),
        cmocka_unit_test(test_mkvmerge_blockgroups),
        cmocka_unit_test(test_concatenated),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
