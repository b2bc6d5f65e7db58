/* SPDX-License-Identifier: Apache-2.0 */
/*
 * put_frames: the smallest program that streams an H.264 file with the camstream producer SDK.
 * Copy it. It reads an Annex-B file (what `x264 -o out.264`, `ffmpeg -c:v libx264 -f h264` or
 * GStreamer's `h264parse ! video/x-h264,stream-format=byte-stream ! filesink` write), splits it
 * into access units (frames), and puts them one by one at the given frame rate, with timestamps
 * from the wall clock, to a camstream ingest server (or any KVS-compatible endpoint). Then it
 * waits until every fragment is PERSISTED and prints what happened.
 *
 * Credentials come the SDK's way: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and
 * AWS_SESSION_TOKEN), else ~/.aws/credentials; none: unsigned requests (server run with
 * --auth none).
 *
 *   put_frames [--endpoint URL] [--region R] [--fps N] [--store-mib N] FILE STREAM
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "camstream/producer.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: put_frames [OPTIONS] FILE STREAM\n"
            "Streams the H.264 Annex-B file FILE to the stream STREAM (created if missing),\n"
            "frame by frame in real time, then waits until every fragment is persisted.\n\n"
            "  --endpoint URL   server (default $CAMSTREAM_ENDPOINT, else http://127.0.0.1:8080)\n"
            "  --region R       SigV4 region (default us-east-1)\n"
            "  --fps N          frames per second (default 30; 0: as fast as possible)\n"
            "  --store-mib N    content store size in MiB (default 4)\n"
            "  --help           this text\n\n"
            "Credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else ~/.aws/credentials;\n"
            "none: requests are not signed.\n");
}

/* Errors and drops arrive on SDK threads: print them. */
static void on_error(void *ctx, cs_stream *s, cs_status st, int http, uint32_t error_id, bool fatal,
                     const char *msg)
{
    (void)ctx;
    (void)s;
    fprintf(stderr, "put_frames: %s%s (HTTP %d, error %u): %s\n", fatal ? "fatal: " : "",
            cs_status_str(st), http, (unsigned)error_id, msg);
}

static void on_drop(void *ctx, cs_stream *s, const cs_drop *d)
{
    (void)ctx;
    (void)s;
    fprintf(stderr, "put_frames: dropped %u frames (reason %d)\n", (unsigned)d->frames,
            (int)d->reason);
}

/* The next start code (00 00 01) at or after i; returns len when there is none. */
static size_t next_start_code(const uint8_t *b, size_t len, size_t i)
{
    for (; i + 3 <= len; i++) {
        if (b[i] == 0 && b[i + 1] == 0 && b[i + 2] == 1) {
            return i;
        }
    }
    return len;
}

/*
 * The end of the access unit starting at `start`: the first NAL unit after its picture that
 * begins a new one (an AUD, SPS, PPS or SEI, or a slice whose first_mb_in_slice is 0, i.e. whose
 * first header bit is 1). Sets *key when the unit holds an IDR slice.
 */
static size_t access_unit_end(const uint8_t *b, size_t len, size_t start, bool *key)
{
    bool have_slice = false;
    size_t i = next_start_code(b, len, start);
    *key = false;
    while (i < len) {
        size_t nal = i + 3;
        unsigned type = nal < len ? b[nal] & 0x1f : 0;
        bool slice = type >= 1 && type <= 5;
        bool first_slice = slice && nal + 1 < len && (b[nal + 1] & 0x80) != 0;
        if (have_slice && (type == 6 || type == 7 || type == 8 || type == 9 || first_slice)) {
            return i > start && b[i - 1] == 0 ? i - 1 : i; /* a 4-byte start code's zero */
        }
        have_slice |= slice;
        *key |= type == 5;
        i = next_start_code(b, len, nal);
    }
    return len;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;
    if (f == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n)) != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        *len = (size_t)n;
    } else {
        free(buf);
        buf = NULL;
        errno = errno ? errno : EINVAL;
    }
    fclose(f);
    return buf;
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    const char *endpoint = getenv("CAMSTREAM_ENDPOINT"), *region = NULL, *file, *name;
    unsigned fps = 30, store_mib = 4;
    cs_producer_config pc;
    cs_producer *p = NULL;
    cs_stream_config sc;
    cs_stream *s = NULL;
    cs_stream_metrics m;
    cs_status st;
    uint8_t *data;
    size_t len, pos = 0, frames = 0;
    uint64_t start_wall, start_mono;
    int argi = 1, rc = 1;

    for (; argi < argc && strncmp(argv[argi], "--", 2) == 0; argi++) {
        const char *opt = argv[argi];
        if (strcmp(opt, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (argi + 1 >= argc) {
            fprintf(stderr, "put_frames: %s needs a value (see --help)\n", opt);
            return 2;
        }
        if (strcmp(opt, "--endpoint") == 0) {
            endpoint = argv[++argi];
        } else if (strcmp(opt, "--region") == 0) {
            region = argv[++argi];
        } else if (strcmp(opt, "--fps") == 0) {
            fps = (unsigned)strtoul(argv[++argi], NULL, 10);
        } else if (strcmp(opt, "--store-mib") == 0) {
            store_mib = (unsigned)strtoul(argv[++argi], NULL, 10);
        } else {
            fprintf(stderr, "put_frames: unknown option %s (see --help)\n", opt);
            return 2;
        }
    }
    if (argc - argi != 2) {
        usage(stderr);
        return 2;
    }
    file = argv[argi];
    name = argv[argi + 1];
    data = read_file(file, &len);
    if (data == NULL) {
        fprintf(stderr, "put_frames: cannot read %s: %s\n", file, strerror(errno));
        return 1;
    }

    /* 1. A producer: one per process; it owns the I/O thread. */
    cs_producer_config_init(&pc);
    pc.endpoint = endpoint != NULL ? endpoint : "http://127.0.0.1:8080";
    if (region != NULL) {
        pc.region = region;
    }
    st = cs_producer_create(&pc, &p);
    if (st != CS_OK) {
        fprintf(stderr, "put_frames: cannot create the producer for %s: %s\n", pc.endpoint,
                cs_status_str(st));
        goto out;
    }

    /* 2. A stream: one H.264 track whose CodecPrivate comes from the first key frame. */
    cs_stream_config_init(&sc);
    sc.name = name;
    sc.tracks[0].codec = CS_MKV_CODEC_ID_H264;
    sc.track_count = 1;
    sc.store_bytes = (size_t)store_mib << 20;
    sc.callbacks.on_error = on_error;
    sc.callbacks.on_drop = on_drop;
    st = cs_stream_create(p, &sc, &s);
    if (st != CS_OK) {
        fprintf(stderr, "put_frames: cannot create the stream %s: %s\n", name, cs_status_str(st));
        goto out;
    }

    /* 3. Frames: one access unit at a time, paced; timestamps from the wall clock (whole ms). */
    start_wall = clock_ns(CLOCK_REALTIME) / 1000000u * 1000000u;
    start_mono = clock_ns(CLOCK_MONOTONIC);
    pos = next_start_code(data, len, 0);
    while (pos < len) {
        bool key;
        size_t end = access_unit_end(data, len, pos, &key);
        uint64_t offset = fps > 0 ? frames * (1000000000u / fps) : 0;
        cs_frame f = CS_FRAME_INIT;

        if (fps > 0) {
            uint64_t due = start_mono + offset;
            struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        }
        f.data = data + pos;
        f.size = end - pos;
        f.pts_ns = f.dts_ns = start_wall + (fps > 0 ? offset : frames * 33333333u);
        f.duration_ns = fps > 0 ? 1000000000u / fps : 0;
        f.flags = key ? CS_FRAME_KEY : 0;
        st = cs_stream_put_frame(s, &f);
        if (st != CS_OK) {
            /* e.g. CS_E_STATE before the first key frame: the frame is not stored */
            fprintf(stderr, "put_frames: frame %zu: %s\n", frames, cs_status_str(st));
        }
        frames++;
        pos = end;
    }

    /* 4. Wait until the server has persisted everything (or 60 s). */
    st = cs_stream_flush(s, 60000);
    cs_stream_get_metrics(s, &m);
    printf("put_frames: %zu frames put, %llu fragments persisted, %llu frames dropped, "
           "%llu reconnects: %s\n",
           frames, (unsigned long long)m.fragments_persisted, (unsigned long long)m.frames_dropped,
           (unsigned long long)m.reconnects, st == CS_OK ? "done" : cs_status_str(st));
    rc = st == CS_OK && m.frames_dropped == 0 ? 0 : 1;
out:
    cs_stream_destroy(&s);
    cs_producer_destroy(&p);
    free(data);
    return rc;
}
