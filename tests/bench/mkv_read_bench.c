/* SPDX-License-Identifier: Apache-2.0 */
/* Throughput of the MKV reader: a 60 s 720p H.264 clip (made with ffmpeg in /tmp when absent, or
 * the file named on the command line) is read from memory with payloads skipped (frame_data
 * off), whole and in 64 KiB chunks; also with frame data spans delivered. Prints the median of
 * 7 runs in MB/s with the file size and frame count, and the heap allocations made while
 * reading (counted by benchutil's malloc/calloc/realloc wrappers; the reader has no allocator, so
 * 0). With `--once MB [FILE]` it reads only the first MB megabytes once, in 64 KiB chunks with
 * payloads skipped, untimed, and prints the bytes and frames read: run under callgrind at two
 * sizes, the difference of the instruction counts gives instructions per MB and per block
 * (tests/bench/callgrind-per-frame.sh). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "camstream/mkv.h"

#define RUNS 7
#define DEFAULT_CLIP "/tmp/camstream-bench-720p60s-4mbps.mkv"

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

static double bench(const uint8_t *data, size_t len, size_t chunk, bool frame_data, struct tally *t,
                    double mbps[RUNS])
{
    double sorted[RUNS];

    for (int i = 0; i < RUNS; i++) {
        double t0 = cs_bench_now_ns(), dt;
        if (read_all(data, len, chunk, frame_data, t) != 0) {
            exit(1);
        }
        dt = (cs_bench_now_ns() - t0) / 1e9;
        mbps[i] = (double)len / 1e6 / (dt > 0 ? dt : 1e-9);
    }
    memcpy(sorted, mbps, sizeof(sorted));
    return cs_bench_median(sorted, RUNS);
}

int main(int argc, char **argv)
{
    double once_mb = 0;
    const char *path;
    FILE *f;
    uint8_t *data;
    long size;
    size_t len;
    struct tally t;
    double whole, chunked, with_data, r_whole[RUNS], r_chunked[RUNS], r_data[RUNS];
    size_t allocs;

    if (argc > 1 && strcmp(argv[1], "--once") == 0) {
        if (argc < 3 || (once_mb = strtod(argv[2], NULL)) <= 0) {
            fprintf(stderr, "usage: mkv_read_bench [--once MB] [FILE]\n");
            return 2;
        }
        argc -= 2;
        argv += 2;
    }
    path = argc > 1 ? argv[1] : DEFAULT_CLIP;
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

    if (once_mb > 0) {
        /* the whole file was loaded above at every size, so only the reading differs */
        size_t n = once_mb * 1e6 < (double)len ? (size_t)(once_mb * 1e6) : len;
        if (read_all(data, n, 65536, false, &t) != 0) {
            return 1;
        }
        printf("mkv_read_bench: one pass over %zu bytes, %zu frames\n", n, t.frames);
        free(data);
        return 0;
    }

    cs_bench_count_allocs(true);
    whole = bench(data, len, 0, false, &t, r_whole);
    chunked = bench(data, len, 65536, false, &t, r_chunked);
    with_data = bench(data, len, 65536, true, &t, r_data);
    cs_bench_count_allocs(false);
    allocs = cs_bench_allocs();

    printf("mkv_read_bench: %s, %.1f MB, %zu frames, %zu-byte reader\n", path, (double)len / 1e6,
           t.frames, sizeof(cs_mkv_reader));
    printf("  payloads skipped, whole buffer : %10.0f MB/s (median of %d)\n", whole, RUNS);
    printf("  payloads skipped, 64 KiB chunks: %10.0f MB/s\n", chunked);
    printf("  frame data spans, 64 KiB chunks: %10.0f MB/s (%" PRIu64 " payload bytes)\n",
           with_data, t.bytes);
    if (cs_bench_allocs_counted()) {
        printf("  heap allocations while reading : %zu\n", cs_bench_allocs());
    } else {
        printf("  heap allocations while reading : not counted (sanitizer build)\n");
    }
    cs_bench_figure(&(struct cs_bench_figure){.bench = "mkv_read_bench",
                                              .id = "mkv_read.whole",
                                              .label = "MKV reader, payloads skipped, whole buffer",
                                              .value = whole,
                                              .unit = "MB/s",
                                              .runs = r_whole,
                                              .n_runs = RUNS});
    cs_bench_figure(
        &(struct cs_bench_figure){.bench = "mkv_read_bench",
                                  .id = "mkv_read.chunked",
                                  .label = "MKV reader, payloads skipped, 64 KiB chunks",
                                  .value = chunked,
                                  .unit = "MB/s",
                                  .runs = r_chunked,
                                  .n_runs = RUNS});
    cs_bench_figure(
        &(struct cs_bench_figure){.bench = "mkv_read_bench",
                                  .id = "mkv_read.frame_data",
                                  .label = "MKV reader, frame data spans, 64 KiB chunks",
                                  .value = with_data,
                                  .unit = "MB/s",
                                  .runs = r_data,
                                  .n_runs = RUNS});
    if (cs_bench_allocs_counted()) {
        cs_bench_figure(&(struct cs_bench_figure){.bench = "mkv_read_bench",
                                                  .id = "mkv_read.allocs",
                                                  .label = "heap allocations while reading",
                                                  .value = (double)allocs,
                                                  .unit = "",
                                                  .target = "<= 0"});
    }
    free(data);
    return allocs == 0 ? 0 : 1;
}
