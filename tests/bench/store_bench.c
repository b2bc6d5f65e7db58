/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Durable puts per second of the ingest server's fs object store (issue 4), the measurement behind
 * two of its choices (docs/internals/PUTMEDIA.md, "Fourth round"):
 *  - how many threads persist fragments (`--workers`, default 64): a disk completes more durable
 *    writes per second the more it is given at once, so the bench runs the same closed loop of
 *    `cs_store_put()`s (temporary, write, fdatasync, rename, group directory fsync) on 4, 16 and
 *    64 threads;
 *  - one directory per stream (the layout putmedia.c writes): at each thread count the same puts
 *    also go to one directory shared by every stream (per 10 s bucket), where the group directory
 *    fsync covers many fragments at once. If directory fsyncs were what limits the store, the
 *    shared layout would put more per second.
 * Objects are fragment-sized (250,000 bytes: 1 s at 2 Mbit/s) over 1,000 streams whose
 * directories exist beforehand (the server makes them at the upload's stream lookup). Runs of the
 * two layouts alternate; medians of the runs are printed. Files stay until the end (removing them
 * between runs taxes the next runs' file creation on an ext4 without a journal) and are removed
 * then. Prints figures only: exit 0 unless a put failed.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "benchutil.h"
#include "storage.h"

#define MAX_THREADS 256
#define MAX_LEVELS 8
#define STREAMS 1000u

struct opts {
    const char *dir;
    size_t size;
    double seconds;
    unsigned runs;
    unsigned threads[MAX_LEVELS];
    size_t n_threads;
};

struct run {
    cs_store *st;
    bool shared;
    const uint8_t *obj;
    size_t size;
    atomic_uint_fast64_t next;
    atomic_bool stop;
    atomic_bool failed;
    double *lat_ms; /* one slot per put, up to cap */
    size_t cap;
    atomic_size_t n_lat;
};

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: store_bench [options]\n"
        "Durable puts per second of camstream-ingest's fs object store, by number of threads\n"
        "and by directory layout (one directory per stream, as the server writes, or one shared\n"
        "by all streams). Prints figures; see the head of tests/bench/store_bench.c.\n"
        "  --dir DIR        where the store goes (default $TMPDIR or /var/tmp; the disk of\n"
        "                   the server's --data-dir is the one to measure)\n"
        "  --threads LIST   thread counts (default 4,16,64; at most %d each)\n"
        "  --seconds S      seconds of each run (default 2)\n"
        "  --runs N         runs of each layout at each thread count (default 3)\n"
        "  --size BYTES     object size (default 250000: 1 s of 2 Mbit/s video)\n"
        "  --help           this text\n"
        "Needs free space for about size x 1,700 puts/s x seconds x runs x 2 x the thread counts\n"
        "(~13 GB with the defaults on a fast disk); the files are removed at the end.\n",
        MAX_THREADS);
}

static void *putter(void *arg)
{
    struct run *r = arg;
    char key[CS_STORE_KEY_MAX + 1];
    while (!atomic_load(&r->stop)) {
        uint64_t i = atomic_fetch_add(&r->next, 1);
        unsigned s = (unsigned)(i % STREAMS);
        uint64_t n = i / STREAMS;
        double t0;
        size_t slot;
        if (r->shared) {
            uint64_t bucket = (uint64_t)(cs_bench_now_ns() / 1e10); /* 10 s */
            snprintf(key, sizeof(key), "fragments/%" PRIu64 "/%016x-%020" PRIu64 ".mkv", bucket, s,
                     n);
        } else {
            snprintf(key, sizeof(key), "streams/%016x/fragments/%020" PRIu64 ".mkv", s, n);
        }
        t0 = cs_bench_now_ns();
        if (cs_store_put(r->st, key, r->obj, r->size) != CS_OK) {
            fprintf(stderr, "store_bench: put %s failed (disk full? see --help)\n", key);
            atomic_store(&r->failed, true);
            atomic_store(&r->stop, true);
            break;
        }
        slot = atomic_fetch_add(&r->n_lat, 1);
        if (slot < r->cap) {
            r->lat_ms[slot] = (cs_bench_now_ns() - t0) / 1e6;
        }
    }
    return NULL;
}

/* One closed-loop run; fills puts/s, p50 and p99 (ms). false: a put failed. */
static bool run_once(const struct opts *o, const char *dir, bool shared, unsigned threads,
                     const uint8_t *obj, double *pps, double *p50, double *p99)
{
    cs_store_config cfg;
    struct run r;
    pthread_t th[MAX_THREADS];
    double t0, el;
    size_t n;
    memset(&r, 0, sizeof(r));
    cs_store_config_init(&cfg);
    cfg.fs_dir = dir;
    if (cs_store_create(&cfg, &r.st) != CS_OK) {
        fprintf(stderr, "store_bench: cannot open a store in %s\n", dir);
        return false;
    }
    if (!shared) {
        for (unsigned s = 0; s < STREAMS; s++) {
            char prefix[64];
            snprintf(prefix, sizeof(prefix), "streams/%016x/fragments/", s);
            (void)cs_store_prepare(r.st, prefix);
        }
    }
    r.shared = shared;
    r.obj = obj;
    r.size = o->size;
    r.cap = 1u << 20;
    r.lat_ms = malloc(sizeof(double) * r.cap);
    if (r.lat_ms == NULL) {
        cs_store_destroy(&r.st);
        return false;
    }
    t0 = cs_bench_now_ns();
    for (unsigned i = 0; i < threads; i++) {
        if (pthread_create(&th[i], NULL, putter, &r) != 0) {
            fprintf(stderr, "store_bench: pthread_create failed\n");
            exit(1);
        }
    }
    usleep((useconds_t)(o->seconds * 1e6));
    atomic_store(&r.stop, true);
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
    }
    el = (cs_bench_now_ns() - t0) / 1e9;
    n = atomic_load(&r.n_lat);
    n = n < r.cap ? n : r.cap;
    *pps = (double)n / el;
    *p50 = *p99 = 0;
    if (n > 0) {
        cs_bench_median(r.lat_ms, n); /* sorts */
        *p50 = r.lat_ms[n / 2];
        *p99 = r.lat_ms[n * 99 / 100];
    }
    free(r.lat_ms);
    cs_store_destroy(&r.st);
    return !atomic_load(&r.failed);
}

static int rm_fn(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

static bool parse_threads(const char *s, struct opts *o)
{
    char *end;
    o->n_threads = 0;
    while (*s) {
        unsigned long v = strtoul(s, &end, 10);
        if (end == s || v == 0 || v > MAX_THREADS || o->n_threads == MAX_LEVELS ||
            (*end != ',' && *end != '\0')) {
            return false;
        }
        o->threads[o->n_threads++] = (unsigned)v;
        s = *end == ',' ? end + 1 : end;
    }
    return o->n_threads > 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"threads", required_argument, NULL, 't'},
        {"seconds", required_argument, NULL, 's'},
        {"runs", required_argument, NULL, 'r'},
        {"size", required_argument, NULL, 'z'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct opts o = {NULL, 250000, 2.0, 3, {4, 16, 64}, 3};
    char root[600];
    uint8_t *obj;
    struct statvfs vfs;
    bool ok = true;
    int c;
    const char *tmp = getenv("TMPDIR");
    o.dir = tmp && *tmp ? tmp : "/var/tmp";
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o.dir = optarg;
            break;
        case 't':
            if (!parse_threads(optarg, &o)) {
                fprintf(stderr, "store_bench: --threads wants numbers 1..%d, e.g. 4,16,64\n",
                        MAX_THREADS);
                return 2;
            }
            break;
        case 's':
            o.seconds = atof(optarg);
            break;
        case 'r':
            o.runs = (unsigned)atoi(optarg);
            break;
        case 'z':
            o.size = (size_t)strtoull(optarg, NULL, 10);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (o.seconds <= 0 || o.seconds > 600 || o.runs == 0 || o.runs > 50 || o.size == 0 ||
        o.size > 64u * 1024 * 1024) {
        fprintf(stderr, "store_bench: --seconds 0..600, --runs 1..50, --size 1..64 MiB\n");
        return 2;
    }
    snprintf(root, sizeof(root), "%s/store_bench.XXXXXX", o.dir);
    if (mkdtemp(root) == NULL) {
        fprintf(stderr, "store_bench: cannot make a directory under %s: %s\n", o.dir,
                strerror(errno));
        return 1;
    }
    if (statvfs(root, &vfs) == 0) {
        double need = (double)o.size * 1700 * o.seconds * o.runs * 2 * (double)o.n_threads;
        double have = (double)vfs.f_bavail * (double)vfs.f_frsize;
        if (have < need) {
            fprintf(stderr,
                    "store_bench: %.1f GB free under %s, the runs may need up to %.1f GB: "
                    "fewer --runs or --seconds, or another --dir\n",
                    have / 1e9, o.dir, need / 1e9);
            rmdir(root);
            return 1;
        }
    }
    obj = malloc(o.size);
    if (obj == NULL) {
        return 1;
    }
    for (size_t i = 0; i < o.size; i++) {
        obj[i] = (uint8_t)(i * 131 + (i >> 9));
    }
    printf("store_bench: %zu-byte durable puts over %u streams in %s, %u runs of %.1f s per "
           "layout and thread count\n",
           o.size, STREAMS, root, o.runs, o.seconds);
    printf("  threads  layout        puts/s   p50 ms   p99 ms   (median of %u runs)\n", o.runs);
    for (size_t t = 0; t < o.n_threads && ok; t++) {
        double pps[2][50], p50[2][50], p99[2][50];
        for (unsigned k = 0; k < o.runs && ok; k++) {
            for (int shared = 0; shared < 2 && ok; shared++) {
                char dir[700];
                snprintf(dir, sizeof(dir), "%s/t%u-r%u-%s", root, o.threads[t], k,
                         shared ? "shared" : "stream");
                ok = run_once(&o, dir, shared, o.threads[t], obj, &pps[shared][k], &p50[shared][k],
                              &p99[shared][k]);
                printf("    run %u, %u threads, %s: %.0f puts/s, p50 %.1f ms, p99 %.1f ms\n", k + 1,
                       o.threads[t], shared ? "shared directory" : "per-stream directories",
                       pps[shared][k], p50[shared][k], p99[shared][k]);
                fflush(stdout);
            }
        }
        if (!ok) {
            break;
        }
        double m[2][3];
        for (int shared = 0; shared < 2; shared++) {
            double v[3][50];
            memcpy(v[0], pps[shared], sizeof(double) * o.runs);
            memcpy(v[1], p50[shared], sizeof(double) * o.runs);
            memcpy(v[2], p99[shared], sizeof(double) * o.runs);
            for (int j = 0; j < 3; j++) {
                m[shared][j] = cs_bench_median(v[j], o.runs);
            }
            printf("  %7u  %-12s %7.0f  %7.1f  %7.1f\n", o.threads[t],
                   shared ? "shared" : "per-stream", m[shared][0], m[shared][1], m[shared][2]);
        }
        {
            char id[64], label[200], base[200], note[200];
            snprintf(id, sizeof(id), "store.puts_per_s.t%u", o.threads[t]);
            snprintf(label, sizeof(label),
                     "fs store durable puts/s, %u threads, one directory per stream", o.threads[t]);
            snprintf(base, sizeof(base), "one shared directory: %.0f puts/s (ratio %.2f)", m[1][0],
                     m[0][0] > 0 ? m[1][0] / m[0][0] : 0.0);
            snprintf(note, sizeof(note), "%zu-byte objects; put p50 %.1f ms, p99 %.1f ms", o.size,
                     m[0][1], m[0][2]);
            cs_bench_figure(&(struct cs_bench_figure){.bench = "store_bench",
                                                      .id = id,
                                                      .label = label,
                                                      .value = m[0][0],
                                                      .unit = "puts/s",
                                                      .runs = pps[0],
                                                      .n_runs = o.runs,
                                                      .baseline = base,
                                                      .note = note});
        }
    }
    printf("store_bench: removing the files ...\n");
    fflush(stdout);
    nftw(root, rm_fn, 32, FTW_DEPTH | FTW_PHYS);
    free(obj);
    if (!ok) {
        fprintf(stderr, "store_bench: a run failed\n");
        return 1;
    }
    return 0;
}
