/* SPDX-License-Identifier: Apache-2.0 */
/* Cost of the MKV writer per frame: 1800 frames of a 720p-like H.264 stream (30 fps, a ~60 KB key
 * frame every 2 s, 4-16 KB otherwise, plus 20 ms A-law audio frames of 160 bytes) written by the
 * fragmenter into one buffer. Prints the median of 11 runs in ns per frame for: the header only
 * (what the producer writes into ring space, payload not copied), size pass + header, the header
 * plus the payload copy (put_frame), and the payload copies alone (memcpy of the same sizes), so
 * "writer cost = put_frame - memcpy". Also counts heap allocations made while writing (malloc
 * family wrapped by benchutil; the writer has no allocator, so 0). Target: <= 200 ns/frame + the
 * copy. With `--frames N --once MODE` (MODE: header, sized, put or memcpy) it makes one untimed
 * pass of that path over the first N frames and prints only a line naming it: run under
 * callgrind at two N, the difference of the instruction counts over the difference of N is the
 * instructions per frame (tests/bench/callgrind-per-frame.sh), start-up cost cancelling out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "camstream/mkv.h"

#define RUNS 11
#define VIDEO_FRAMES 1800
#define MAX_FRAMES (VIDEO_FRAMES * 3)

static cs_mkv_frame g_frames[MAX_FRAMES];
static size_t g_nframes;
static size_t g_payload_total;

/* Video at 30 fps with audio every 20 ms, in timestamp order; sizes from a fixed LCG. */
static void make_frames(void)
{
    unsigned seed = 12345;
    uint64_t audio_ns = 0;

    for (size_t i = 0; i < VIDEO_FRAMES; i++) {
        uint64_t ts = (uint64_t)i * 1000000000ull / 30u;
        cs_mkv_frame *v;
        while (audio_ns <= ts) {
            g_frames[g_nframes++] = (cs_mkv_frame){2, audio_ns, CS_MKV_BLOCK_KEY, 160};
            audio_ns += 20000000ull;
        }
        seed = seed * 1103515245u + 12345u;
        v = &g_frames[g_nframes++];
        v->track = 1;
        v->timestamp_ns = ts;
        v->flags = i % 60 == 0 ? CS_MKV_BLOCK_KEY : 0;
        v->size = i % 60 == 0 ? 50000 + (seed >> 16) % 20000 : 4000 + (seed >> 16) % 12000;
    }
    for (size_t i = 0; i < g_nframes; i++) {
        g_payload_total += g_frames[i].size;
    }
}

static const uint8_t avcc[] = {0x01, 0x64, 0x00, 0x1F, 0xFF, 0xE1, 0x00, 0x04, 0x67,
                               0x64, 0x00, 0x1F, 0x01, 0x00, 0x02, 0x68, 0xEE};

static void init_fragmenter(cs_mkv_fragmenter *f)
{
    cs_mkv_fragmenter_config cfg;

    cs_mkv_fragmenter_config_init(&cfg);
    cfg.tracks[0].number = 1;
    cfg.tracks[0].type = CS_MKV_TRACK_VIDEO;
    cfg.tracks[0].codec = CS_MKV_CODEC_ID_H264;
    cfg.tracks[0].codec_private = avcc;
    cfg.tracks[0].codec_private_len = sizeof(avcc);
    cfg.tracks[0].width = 1280;
    cfg.tracks[0].height = 720;
    cfg.tracks[1].number = 2;
    cfg.tracks[1].type = CS_MKV_TRACK_AUDIO;
    cfg.tracks[1].codec = CS_MKV_CODEC_ID_ALAW;
    cfg.tracks[1].sampling_frequency = 8000;
    cfg.tracks[1].channels = 1;
    cfg.track_count = 2;
    if (cs_mkv_fragmenter_init(f, &cfg) != CS_OK) {
        fprintf(stderr, "fragmenter init failed\n");
        exit(1);
    }
}

enum mode { HEADER_ONLY, SIZE_THEN_HEADER, PUT_FRAME, MEMCPY_ONLY };

/* One pass over the first `n` frames; returns ns per frame, or -1 on a writer error. */
static double run(enum mode mode, size_t n, uint8_t *out, size_t cap, const uint8_t *payload)
{
    static cs_mkv_fragmenter f;
    cs_mkv_frame_layout lo, sized;
    size_t pos = 0;
    double t0, t1;

    init_fragmenter(&f);
    cs_bench_count_allocs(true);
    t0 = cs_bench_now_ns();
    for (size_t i = 0; i < n; i++) {
        const cs_mkv_frame *fr = &g_frames[i];
        cs_status st = CS_OK;
        switch (mode) {
        case HEADER_ONLY:
            st = cs_mkv_fragmenter_frame_header(&f, fr, out + pos, cap - pos, &lo);
            pos += lo.header_len;
            break;
        case SIZE_THEN_HEADER:
            st = cs_mkv_fragmenter_frame_header(&f, fr, NULL, 0, &sized);
            if (st == CS_OK) {
                st = cs_mkv_fragmenter_frame_header(&f, fr, out + pos, sized.header_len, &lo);
            }
            pos += lo.header_len;
            break;
        case PUT_FRAME:
            st = cs_mkv_fragmenter_put_frame(&f, fr, payload, out + pos, cap - pos, &lo);
            pos += lo.total_len;
            break;
        case MEMCPY_ONLY:
            memcpy(out + pos, payload, fr->size);
            pos += fr->size + 8;
            break;
        }
        if (st != CS_OK) {
            cs_bench_count_allocs(false);
            fprintf(stderr, "frame %zu: %s\n", i, cs_status_str(st));
            return -1;
        }
    }
    t1 = cs_bench_now_ns();
    cs_bench_count_allocs(false);
    return (t1 - t0) / (double)(n > 0 ? n : 1);
}

static double median(enum mode mode, uint8_t *out, size_t cap, const uint8_t *payload,
                     double r[RUNS])
{
    for (int i = 0; i < RUNS; i++) {
        r[i] = run(mode, g_nframes, out, cap, payload);
        if (r[i] < 0) {
            exit(1);
        }
    }
    {
        double sorted[RUNS]; /* r stays in the order measured */
        memcpy(sorted, r, sizeof(sorted));
        return cs_bench_median(sorted, RUNS);
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: mkv_write_bench [--frames N --once header|sized|put|memcpy]\n");
    return 2;
}

int main(int argc, char **argv)
{
    size_t cap, once_frames = 0;
    const char *once = NULL;
    enum mode once_mode = HEADER_ONLY;
    uint8_t *out, *payload;
    double hdr, sized, put, copy, r_hdr[RUNS], r_sized[RUNS], r_put[RUNS], r_copy[RUNS];
    size_t allocs;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--frames") == 0 && i + 1 < argc) {
            once_frames = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--once") == 0 && i + 1 < argc) {
            once = argv[++i];
        } else {
            return usage();
        }
    }
    if (once != NULL) {
        if (strcmp(once, "header") == 0) {
            once_mode = HEADER_ONLY;
        } else if (strcmp(once, "sized") == 0) {
            once_mode = SIZE_THEN_HEADER;
        } else if (strcmp(once, "put") == 0) {
            once_mode = PUT_FRAME;
        } else if (strcmp(once, "memcpy") == 0) {
            once_mode = MEMCPY_ONLY;
        } else {
            return usage();
        }
    } else if (once_frames != 0) {
        return usage();
    }

    make_frames();
    /* sized for all frames whatever N is, so the set-up costs the same at every N */
    cap = g_payload_total + g_nframes * 64 + 4096;
    out = malloc(cap);
    payload = malloc(80000);
    if (out == NULL || payload == NULL) {
        return 1;
    }
    memset(payload, 0x42, 80000);

    if (once != NULL) {
        int rc = 0;
        if (once_frames == 0 || once_frames > g_nframes) {
            fprintf(stderr, "--frames must be 1..%zu\n", g_nframes);
            rc = 2;
        } else if (run(once_mode, once_frames, out, cap, payload) < 0) {
            rc = 1;
        } else {
            printf("mkv_write_bench: one %s pass over %zu frames\n", once, once_frames);
        }
        free(out);
        free(payload);
        return rc;
    }
    memset(out, 0, cap); /* fault the pages in before timing */

    hdr = median(HEADER_ONLY, out, cap, payload, r_hdr);
    sized = median(SIZE_THEN_HEADER, out, cap, payload, r_sized);
    put = median(PUT_FRAME, out, cap, payload, r_put);
    copy = median(MEMCPY_ONLY, out, cap, payload, r_copy);

    allocs = cs_bench_allocs();
    printf("mkv_write_bench: %zu frames (%d video 720p-like + 20 ms A-law), %.1f MB of payload, "
           "median of %d runs\n",
           g_nframes, VIDEO_FRAMES, (double)g_payload_total / 1e6, RUNS);
    printf("  header only (payload not copied):   %8.1f ns/frame\n", hdr);
    printf("  size pass + header:                 %8.1f ns/frame\n", sized);
    printf("  put_frame (header + payload copy):  %8.1f ns/frame\n", put);
    printf("  payload memcpy alone:               %8.1f ns/frame\n", copy);
    printf("  writer cost beyond the copy:        %8.1f ns/frame (target <= 200)\n", put - copy);
    if (cs_bench_allocs_counted()) {
        printf("  heap allocations while writing:     %zu\n", cs_bench_allocs());
    } else {
        printf("  heap allocations while writing:     not counted (sanitizer build)\n");
    }
    {
        /* for scripts/bench-report; "beyond the copy" of run i is put[i] - copy[i] */
        double beyond[RUNS];
        char note[64];
        for (int i = 0; i < RUNS; i++) {
            beyond[i] = r_put[i] - r_copy[i];
        }
        snprintf(note, sizeof(note), "%zu frames per run", g_nframes);
        cs_bench_figure(
            &(struct cs_bench_figure){.bench = "mkv_write_bench",
                                      .id = "mkv_write.beyond_copy",
                                      .label = "fragmenter: put_frame cost beyond the payload copy",
                                      .value = put - copy,
                                      .unit = "ns/frame",
                                      .runs = beyond,
                                      .n_runs = RUNS,
                                      .target = "<= 200",
                                      .note = note});
        cs_bench_figure(
            &(struct cs_bench_figure){.bench = "mkv_write_bench",
                                      .id = "mkv_write.put",
                                      .label = "fragmenter: put_frame (header + payload copy)",
                                      .value = put,
                                      .unit = "ns/frame",
                                      .runs = r_put,
                                      .n_runs = RUNS});
        cs_bench_figure(&(struct cs_bench_figure){.bench = "mkv_write_bench",
                                                  .id = "mkv_write.header",
                                                  .label = "fragmenter: frame header only",
                                                  .value = hdr,
                                                  .unit = "ns/frame",
                                                  .runs = r_hdr,
                                                  .n_runs = RUNS});
        cs_bench_figure(&(struct cs_bench_figure){.bench = "mkv_write_bench",
                                                  .id = "mkv_write.sized",
                                                  .label = "fragmenter: size pass + header",
                                                  .value = sized,
                                                  .unit = "ns/frame",
                                                  .runs = r_sized,
                                                  .n_runs = RUNS});
        cs_bench_figure(&(struct cs_bench_figure){.bench = "mkv_write_bench",
                                                  .id = "mkv_write.memcpy",
                                                  .label = "payload memcpy alone (baseline)",
                                                  .value = copy,
                                                  .unit = "ns/frame",
                                                  .runs = r_copy,
                                                  .n_runs = RUNS,
                                                  .note = "baseline"});
        if (cs_bench_allocs_counted()) {
            cs_bench_figure(&(struct cs_bench_figure){.bench = "mkv_write_bench",
                                                      .id = "mkv_write.allocs",
                                                      .label = "heap allocations while writing",
                                                      .value = (double)allocs,
                                                      .unit = "",
                                                      .target = "<= 0"});
        }
    }
    free(out);
    free(payload);
    return allocs == 0 ? 0 : 1;
}
