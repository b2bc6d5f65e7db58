/* SPDX-License-Identifier: Apache-2.0 */
/* Throughput of the MKV reader: a 60 s 720p H.264 clip (made with ffmpeg in /tmp when absent, or
 * the file named on the command line) is read from memory with payloads skipped (frame_data
 * off), whole and in 64 KiB chunks; also with frame data spans delivered. Prints the median of
 * 7 runs in MB/s with the file size and frame count, and the heap allocations made while
 * reading (counted by wrapping malloc/calloc/realloc; the reader has no allocator, so 0). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "camstream/mkv.h"

#define RUNS 7
#define DEFAULT_CLIP "/tmp/camstream-bench-720p60s-4mbps.mkv"

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

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct tally {
    size_t frames;
    uint64_t bytes;
};

/* Reads the whole buffer in `chunk`-byte pieces (0 = at once) with the pull API. */
static int read_all(const uint8_t *data, size_t len, size_t chunk, bool frame_data, struct tally *t)
{
    static cs_mkv_reader rd;
    cs_mkv_reader_config cfg;
    cs_mkv_event ev;

    cs_mkv_reader_config_init(&cfg);
    cfg.frame_data = frame_data;
    if (cs_mkv_reader_init(&rd, &cfg) != CS_OK) {
        return -1;
    }
    if (chunk == 0) {
        chunk = len;
    }
    memset(t, 0, sizeof(*t));
    for (size_t off = 0; off < len;) {
        size_t n = len - off < chunk ? len - off : chunk;
        size_t pos = 0;
        for (;;) {
            size_t used;
            if (cs_mkv_reader_next(&rd, data + off + pos, n - pos, &used, &ev) != CS_OK) {
                uint64_t at;
                const char *msg = cs_mkv_reader_error(&rd, &at);
                fprintf(stderr, "read error at %" PRIu64 ": %s\n", at, msg);
                return -1;
            }
            pos += used;
            if (ev.type == CS_MKV_EV_NONE) {
                break;
            }
            if (ev.type == CS_MKV_EV_FRAME) {
                t->frames++;
                t->bytes += ev.u.block.data_len;
            } else if (ev.type == CS_MKV_EV_FRAME_DATA) {
                t->bytes += ev.u.block.data_len;
            }
        }
        off += n;
    }
    while (cs_mkv_reader_end(&rd, &ev) == CS_OK && ev.type != CS_MKV_EV_NONE) {
    }
    return 0;
}

static double bench(const uint8_t *data, size_t len, size_t chunk, bool frame_data, struct tally *t)
{
    double mbps[RUNS];

    for (int i = 0; i < RUNS; i++) {
        double t0 = now_s(), dt;
        if (read_all(data, len, chunk, frame_data, t) != 0) {
            exit(1);
        }
        dt = now_s() - t0;
        mbps[i] = (double)len / 1e6 / (dt > 0 ? dt : 1e-9);
    }
    qsort(mbps, RUNS, sizeof(mbps[0]), cmp_double);
    return mbps[RUNS / 2];
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : DEFAULT_CLIP;
    FILE *f;
    uint8_t *data;
    long size;
    size_t len;
    struct tally t;
    double whole, chunked, with_data;

    f = fopen(path, "rb");
    if (f == NULL && argc <= 1) {
        printf("generating %s with ffmpeg (60 s, 1280x720, 30 fps, x264 ultrafast, ~4 Mb/s)...\n",
               path);
        if (system(/* Film-grain noise keeps the bitrate at what a 720p camera sends (~4 Mb/s,
                    * ~30 MB a minute); a clean test pattern compresses to a tenth of that. */
                   "ffmpeg -v error -y -f lavfi -i testsrc=size=1280x720:rate=30 -t 60 "
                   "-vf noise=alls=12:allf=t -c:v libx264 -preset ultrafast -g 30 -b:v 4M "
                   "-maxrate 4M -bufsize 2M -f matroska " DEFAULT_CLIP) != 0) {
            fprintf(stderr, "ffmpeg failed\n");
            return 1;
        }
        f = fopen(path, "rb");
    }
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = malloc(size > 0 ? (size_t)size : 1);
    if (data == NULL || fread(data, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    fclose(f);
    len = (size_t)size;

    g_counting = 1;
    whole = bench(data, len, 0, false, &t);
    chunked = bench(data, len, 65536, false, &t);
    with_data = bench(data, len, 65536, true, &t);
    g_counting = 0;

    printf("mkv_read_bench: %s, %.1f MB, %zu frames, %zu-byte reader\n", path, (double)len / 1e6,
           t.frames, sizeof(cs_mkv_reader));
    printf("  payloads skipped, whole buffer : %10.0f MB/s (median of %d)\n", whole, RUNS);
    printf("  payloads skipped, 64 KiB chunks: %10.0f MB/s\n", chunked);
    printf("  frame data spans, 64 KiB chunks: %10.0f MB/s (%" PRIu64 " payload bytes)\n",
           with_data, t.bytes);
    printf("  heap allocations while reading : %zu\n", g_allocs);
    free(data);
    return g_allocs == 0 ? 0 : 1;
}
