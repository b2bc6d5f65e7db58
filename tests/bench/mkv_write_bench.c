/* SPDX-License-Identifier: Apache-2.0 */
/* Cost of the MKV writer per frame: 1800 frames of a 720p-like H.264 stream (30 fps, a ~60 KB key
 * frame every 2 s, 4-16 KB otherwise, plus 20 ms A-law audio frames of 160 bytes) written by the
 * fragmenter into one buffer. Prints the median of 11 runs in ns per frame for: the header only
 * (what the producer writes into ring space, payload not copied), size pass + header, the header
 * plus the payload copy (put_frame), and the payload copies alone (memcpy of the same sizes), so
 * "writer cost = put_frame - memcpy". Also counts heap allocations made while writing (malloc
 * family wrapped here; the writer has no allocator, so 0). Target: <= 200 ns/frame + the copy. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "camstream/mkv.h"

#define RUNS 11
#define VIDEO_FRAMES 1800
#define MAX_FRAMES (VIDEO_FRAMES * 3)

static size_t g_allocs; /* heap allocations while counting */
static int g_counting;

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NO_MALLOC_COUNT 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define NO_MALLOC_COUNT 1
#endif

#ifndef NO_MALLOC_COUNT
/* Counting wrappers: this program's own malloc family, forwarding to libc's. */
void *malloc(size_t n);
void *calloc(size_t n, size_t m);
void *realloc(void *p, size_t n);

void *malloc(size_t n)
{
    static void *(*real)(size_t);
    if (real == NULL) {
        real = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    }
    g_allocs += (size_t)g_counting;
    return real(n);
}

void *calloc(size_t n, size_t m)
{
    static void *(*real)(size_t, size_t);
    if (real == NULL) {
        /* dlsym may itself call calloc: serve that one call from a static block */
        static unsigned char early[256];
        static int busy;
        if (busy) {
            return early;
        }
        busy = 1;
        real = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
        busy = 0;
    }
    g_allocs += (size_t)g_counting;
    return real(n, m);
}

void *realloc(void *p, size_t n)
{
    static void *(*real)(void *, size_t);
    if (real == NULL) {
        real = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    }
    g_allocs += (size_t)g_counting;
    return real(p, n);
}
#endif /* NO_MALLOC_COUNT: sanitizer builds own malloc; nothing is counted there */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

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

/* One pass over all frames; returns ns per frame, or -1 on a writer error. */
static double run(enum mode mode, uint8_t *out, size_t cap, const uint8_t *payload)
{
    static cs_mkv_fragmenter f;
    cs_mkv_frame_layout lo, sized;
    size_t pos = 0;
    double t0, t1;

    init_fragmenter(&f);
    g_counting = 1;
    t0 = now_ns();
    for (size_t i = 0; i < g_nframes; i++) {
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
            g_counting = 0;
            fprintf(stderr, "frame %zu: %s\n", i, cs_status_str(st));
            return -1;
        }
    }
    t1 = now_ns();
    g_counting = 0;
    return (t1 - t0) / (double)g_nframes;
}

static double median(enum mode mode, uint8_t *out, size_t cap, const uint8_t *payload)
{
    double r[RUNS];
    for (int i = 0; i < RUNS; i++) {
        r[i] = run(mode, out, cap, payload);
        if (r[i] < 0) {
            exit(1);
        }
    }
    qsort(r, RUNS, sizeof(r[0]), cmp_double);
    return r[RUNS / 2];
}

int main(void)
{
    size_t cap;
    uint8_t *out, *payload;
    double hdr, sized, put, copy;

    make_frames();
    cap = g_payload_total + g_nframes * 64 + 4096;
    out = malloc(cap);
    payload = malloc(80000);
    if (out == NULL || payload == NULL) {
        return 1;
    }
    memset(out, 0, cap); /* fault the pages in before timing */
    memset(payload, 0x42, 80000);

    hdr = median(HEADER_ONLY, out, cap, payload);
    sized = median(SIZE_THEN_HEADER, out, cap, payload);
    put = median(PUT_FRAME, out, cap, payload);
    copy = median(MEMCPY_ONLY, out, cap, payload);

    printf("mkv_write_bench: %zu frames (%d video 720p-like + 20 ms A-law), %.1f MB of payload, "
           "median of %d runs\n",
           g_nframes, VIDEO_FRAMES, (double)g_payload_total / 1e6, RUNS);
    printf("  header only (payload not copied):   %8.1f ns/frame\n", hdr);
    printf("  size pass + header:                 %8.1f ns/frame\n", sized);
    printf("  put_frame (header + payload copy):  %8.1f ns/frame\n", put);
    printf("  payload memcpy alone:               %8.1f ns/frame\n", copy);
    printf("  writer cost beyond the copy:        %8.1f ns/frame (target <= 200)\n", put - copy);
#ifdef NO_MALLOC_COUNT
    printf("  heap allocations while writing:     not counted (sanitizer build)\n");
#else
    printf("  heap allocations while writing:     %zu\n", g_allocs);
#endif
    free(out);
    free(payload);
    return g_allocs == 0 ? 0 : 1;
}
