/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The producer SDK's budgets (issue 5), every figure with the reference (KVS C producer v1.6.4,
 * measured on the same clip and set-up) and the target next to it. The input is the benchmark
 * clip: 60 s of 1280x720 30 fps H.264 at about 2 Mbit/s (1,800 frames, ~15 MB, a key frame every
 * 2 s) made by GStreamer at bench time exactly as the issue says (cached beside this program as
 * producer-clip-1800.h264), split into frames at the access unit delimiters x264enc writes
 * (tests/util/prodtest.c), put frame by frame in real time (--fast: 10x faster, for a quick
 * look; the budgets are the real-time figures) into cs_stream_put_frame and streamed to the real
 * camstream-ingest on loopback over plain HTTP, SigV4-signed. Each scenario runs in a child
 * process of its own (`producer_bench --child ...`) so its RSS, threads and counters are its own:
 *
 * - stream (4 MiB store): heap allocations per frame once streaming (frames 300-1799), counted
 *   three ways: the producer's cs_allocator, libcurl's curl_global_init_mem hooks, and every
 *   malloc/calloc/realloc of the process (benchutil's interposed malloc); the SDK's peak live
 *   heap beyond the content store (from its allocator) and libcurl's (from its hooks); threads
 *   while streaming (max of /proc/self/task); peak RSS (VmHWM). Again with a 20 MiB store for RSS,
 *   and over HTTPS with the 4 MiB store (the server with a self-signed certificate made by
 *   `openssl req`, its CA given to the SDK; ALPN offers h2) for RSS and allocations.
 * - massif (tests/bench/producer-massif.sh): peak heap of the whole process beyond the content
 *   store under valgrind --tool=massif.
 * - callgrind (tests/bench/callgrind-per-frame.sh BUILD producer): instructions of the whole
 *   60 s run, all threads, divided by 1,800.
 * - outage: through the loopback fault proxy (tests/util/cs_proxy.c), which stalls 30 s from
 *   t = 15 s (reads nothing from the producer, forwards no ack), then resumes. With a 16 MiB
 *   store (the peak fill is the store this outage needs), 5 MiB (the target) and 3 MiB: frames
 *   lost, and the check that exactly the oldest whole fragments were dropped and every drop was
 *   reported (the server is read back: listFragments + getMediaForFragmentList).
 * - aarch64 size (tests/bench/producer-size-aarch64.sh).
 * - the frame path alone (content store + fragmenter, no network), the old figure.
 *
 * `--once N` runs N synthetic frames through the frame path once (for callgrind-per-frame.sh).
 * Exit status 1 only when something broke (a run failed, a frame lost without a report), never
 * on a figure. `--help` lists the options.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <libgen.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "benchutil.h"
#include "camstream/consumer.h"
#include "camstream/mkv.h"
#include "camstream/producer.h"
#include "content_store.h"
#include "cs_proxy.h"
#include "prodtest.h"

#define NFR 1800
#define RUNS 7
#define STEADY_FROM 300 /* frames before this are start-up (first connection, first acks) */
#define FRAME_NS 33333333ull

/* ============================================================================================== */
/* The frame path alone (the old figure)                                                          */
/* ============================================================================================== */

static const uint8_t sps[] = {0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb,
                              0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00,
                              0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0xa4, 0x80};
static const uint8_t pps[] = {0x68, 0xcb, 0x83, 0xcb, 0x20};

static uint8_t *frames[NFR];
static size_t frame_len[NFR];
static uint8_t sink[128 * 1024];
static uint64_t frame_no; /* timestamps keep going across runs */

static void make_frames(void)
{
    uint64_t seed = 1;
    size_t i, j;

    for (i = 0; i < NFR; i++) {
        bool key = i % 30 == 0;
        size_t payload = key ? 60000 : 8000 + (size_t)(i * 7919 % 8000);
        uint8_t *p = malloc(payload + 64), *q = p;
        if (p == NULL) {
            exit(1);
        }
        if (key) {
            memcpy(q, "\0\0\0\1", 4);
            memcpy(q + 4, sps, sizeof(sps));
            q += 4 + sizeof(sps);
            memcpy(q, "\0\0\0\1", 4);
            memcpy(q + 4, pps, sizeof(pps));
            q += 4 + sizeof(pps);
        }
        memcpy(q, "\0\0\0\1", 4);
        q[4] = key ? 0x65 : 0x41;
        q += 5;
        for (j = 0; j < payload; j++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            *q++ = (uint8_t)(1 + (seed >> 33) % 255);
        }
        frames[i] = p;
        frame_len[i] = (size_t)(q - p);
    }
}

/* Runs n frames through the store; returns ns per frame. */
static double run(csi_cstore *s, cs_mkv_fragmenter *f, size_t n)
{
    double t0 = cs_bench_now_ns();
    uint64_t last_key = 0;
    bool have_key = false;
    size_t i;

    for (i = 0; i < n; i++) {
        size_t k = i % NFR, sz, w;
        cs_mkv_frame fr;
        cs_mkv_frame_layout lo;
        uint8_t *region;
        unsigned flags = 0;
        uint64_t key;
        csi_cstore_span sp;

        cs_nal_annexb_to_avcc(CS_NAL_CODEC_H264, CS_NAL_DROP_AUD, frames[k], frame_len[k], NULL, 0,
                              &sz);
        fr.track = 1;
        fr.timestamp_ns = frame_no++ * 33333333u;
        fr.flags = k % 30 == 0 ? CS_MKV_BLOCK_KEY : 0;
        fr.size = sz;
        if (cs_mkv_fragmenter_frame_header(f, &fr, NULL, 0, &lo) != CS_OK) {
            fprintf(stderr, "frame %zu: header failed\n", i);
            exit(1);
        }
        flags = lo.new_cluster ? CSI_CSTORE_FRAGMENT_START : 0;
        flags |= lo.new_segment ? CSI_CSTORE_SESSION_START : 0;
        key = lo.new_cluster ? lo.cluster_timecode * CS_MKV_TIMECODE_SCALE_NS : fr.timestamp_ns;
        if (csi_cstore_reserve(s, lo.total_len, flags, key, &region) != CS_OK ||
            cs_mkv_fragmenter_frame_header(f, &fr, region, lo.total_len, &lo) != CS_OK ||
            cs_nal_annexb_to_avcc(CS_NAL_CODEC_H264, CS_NAL_DROP_AUD, frames[k], frame_len[k],
                                  region + lo.header_len, sz, &w) != CS_OK ||
            csi_cstore_commit(s, lo.total_len) != CS_OK) {
            fprintf(stderr, "frame %zu failed\n", i);
            exit(1);
        }
        /* The uploader: hand every byte on, ack the previous fragment at each new one. */
        while (csi_cstore_peek(s, &sp) == CS_OK && sp.len > 0) {
            csi_cstore_skip(s, sp.len);
        }
        if (lo.new_cluster) {
            if (have_key) {
                csi_cstore_ack_persisted(s, last_key, NULL);
            }
            last_key = key;
            have_key = true;
        }
    }
    return (cs_bench_now_ns() - t0) / (double)n;
}

static double run_memcpy(size_t n)
{
    double t0 = cs_bench_now_ns();
    size_t i;

    for (i = 0; i < n; i++) {
        size_t k = i % NFR;
        memcpy(sink, frames[k], frame_len[k]);
        __asm__ volatile("" : : "r"(sink) : "memory");
    }
    return (cs_bench_now_ns() - t0) / (double)n;
}

/* Returns 0, or 1 on failure; prints one line (or nothing with once > 0). */
static int frame_path(int once, double *ns, double *memcpy_ns, size_t *allocs)
{
    csi_cstore_config scfg;
    csi_cstore *s = NULL;
    cs_mkv_fragmenter_config fcfg;
    static cs_mkv_fragmenter f;
    uint8_t cp[128];
    size_t cp_len, i;
    double r[RUNS], m[RUNS];
    size_t a0;

    make_frames();
    if (cs_nal_codec_private_from_annexb(CS_NAL_CODEC_H264, frames[0], frame_len[0], cp, sizeof(cp),
                                         &cp_len) != CS_OK) {
        return 1;
    }
    cs_mkv_fragmenter_config_init(&fcfg);
    fcfg.tracks[0].number = 1;
    fcfg.tracks[0].type = CS_MKV_TRACK_VIDEO;
    fcfg.tracks[0].codec = CS_MKV_CODEC_ID_H264;
    fcfg.tracks[0].codec_private = cp;
    fcfg.tracks[0].codec_private_len = cp_len;
    fcfg.track_count = 1;
    if (cs_mkv_fragmenter_init(&f, &fcfg) != CS_OK) {
        return 1;
    }
    csi_cstore_config_init(&scfg);
    scfg.capacity = 8u * 1024u * 1024u;
    if (csi_cstore_create(&scfg, &s) != CS_OK) {
        return 1;
    }
    if (once > 0) {
        run(s, &f, (size_t)once);
    } else {
        run(s, &f, NFR); /* warm-up */
        a0 = cs_bench_allocs();
        cs_bench_count_allocs(true);
        for (i = 0; i < RUNS; i++) {
            r[i] = run(s, &f, NFR);
            m[i] = run_memcpy(NFR);
        }
        cs_bench_count_allocs(false);
        *ns = cs_bench_median(r, RUNS);
        *memcpy_ns = cs_bench_median(m, RUNS);
        *allocs = cs_bench_allocs() - a0;
    }
    csi_cstore_destroy(&s);
    for (i = 0; i < NFR; i++) {
        free(frames[i]);
    }
    return 0;
}

/* ============================================================================================== */
/* Counting hooks: the producer's allocator and libcurl's                                         */
/* ============================================================================================== */

struct counter {
    atomic_size_t calls;
    atomic_size_t live;
    atomic_size_t peak;
    atomic_size_t largest;
};

static struct counter sdk_ctr, curl_ctr;

static void ctr_add(struct counter *c, size_t n)
{
    size_t live = atomic_fetch_add(&c->live, n) + n, peak = atomic_load(&c->peak);
    size_t big = atomic_load(&c->largest);
    atomic_fetch_add(&c->calls, 1);
    while (live > peak && !atomic_compare_exchange_weak(&c->peak, &peak, live)) {
    }
    while (n > big && !atomic_compare_exchange_weak(&c->largest, &big, n)) {
    }
}

#define HDR 16
static void *sdk_alloc(void *ctx, size_t size)
{
    uint8_t *p = malloc(size + HDR);
    (void)ctx;
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, &size, sizeof(size));
    ctr_add(&sdk_ctr, size);
    return p + HDR;
}

static void sdk_free(void *ctx, void *ptr)
{
    uint8_t *p = (uint8_t *)ptr - HDR;
    size_t size;
    (void)ctx;
    memcpy(&size, p, sizeof(size));
    atomic_fetch_sub(&sdk_ctr.live, size);
    free(p);
}

static const cs_allocator sdk_allocator = {sdk_alloc, sdk_free, NULL};

/* libcurl's: sizes from malloc_usable_size (what the block really holds). */
static void *cm_malloc(size_t n)
{
    void *p = malloc(n);
    if (p != NULL) {
        ctr_add(&curl_ctr, malloc_usable_size(p));
    }
    return p;
}

static void cm_free(void *p)
{
    if (p != NULL) {
        atomic_fetch_sub(&curl_ctr.live, malloc_usable_size(p));
        free(p);
    }
}

static void *cm_realloc(void *p, size_t n)
{
    size_t old = p != NULL ? malloc_usable_size(p) : 0;
    void *q = realloc(p, n);
    if (q != NULL) {
        atomic_fetch_sub(&curl_ctr.live, old);
        ctr_add(&curl_ctr, malloc_usable_size(q));
    }
    return q;
}

static char *cm_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = cm_malloc(n);
    if (p != NULL) {
        memcpy(p, s, n);
    }
    return p;
}

static void *cm_calloc(size_t n, size_t m)
{
    void *p = calloc(n, m);
    if (p != NULL) {
        ctr_add(&curl_ctr, malloc_usable_size(p));
    }
    return p;
}

/* ============================================================================================== */
/* A child run: one scenario, printed as "R key value" lines                                      */
/* ============================================================================================== */

#define MAX_DROPS 512

struct child_state {
    pthread_mutex_t lock;
    cs_drop drops[MAX_DROPS];
    size_t n_drops;
    uint64_t persisted;
    uint64_t errors;
};

static struct child_state cst = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void ch_on_drop(void *ctx, cs_stream *s, const cs_drop *d)
{
    (void)ctx;
    (void)s;
    pthread_mutex_lock(&cst.lock);
    if (cst.n_drops < MAX_DROPS) {
        cst.drops[cst.n_drops] = *d;
    }
    cst.n_drops++;
    pthread_mutex_unlock(&cst.lock);
}

static void ch_on_ack(void *ctx, cs_stream *s, const cs_kvs_ack *a)
{
    (void)ctx;
    (void)s;
    if (a->type == CS_KVS_ACK_PERSISTED) {
        pthread_mutex_lock(&cst.lock);
        cst.persisted++;
        pthread_mutex_unlock(&cst.lock);
    }
}

static void ch_on_error(void *ctx, cs_stream *s, cs_status st, int http, uint32_t id, bool fatal,
                        const char *msg)
{
    (void)ctx;
    (void)s;
    pthread_mutex_lock(&cst.lock);
    cst.errors++;
    pthread_mutex_unlock(&cst.lock);
    fprintf(stderr, "  [child] on_error %s HTTP %d id %u%s: %s\n", cs_status_str(st), http,
            (unsigned)id, fatal ? " fatal" : "", msg);
}

/* A value of /proc/self/status ("Threads", "VmHWM" in kB, ...), read without touching the heap
 * (opendir or stdio would allocate, and the heap is being measured). */
static long proc_status(const char *key)
{
    char buf[4096], *p;
    size_t kl = strlen(key);
    ssize_t n;
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return -1;
    }
    buf[n] = '\0';
    for (p = buf; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p != NULL ? p + 1 : NULL) {
        if (strncmp(p, key, kl) == 0 && p[kl] == ':') {
            return strtol(p + kl + 1, NULL, 10);
        }
    }
    return -1;
}

static unsigned count_threads(void)
{
    long n = proc_status("Threads");
    return n > 0 ? (unsigned)n : 0;
}

static long proc_status_kb(const char *key)
{
    return proc_status(key);
}

/* Reads the stream back; counts frames of the clip (by timestamp) on the server. */
static int verify(const char *url, const char *stream, const uint64_t *ts, unsigned *seen)
{
    static char body[1 << 20];
    char req[512];
    cs_consumer_config cc;
    cs_kvs_result res;
    cs_consumer *c = NULL;
    const char *numbers[1000];
    size_t n = 0;
    const char *p;
    int rc = 0;

    cs_consumer_config_init(&cc);
    cc.endpoint = url;
    cc.access_key = PT_AK;
    cc.secret_key = PT_SK;
    cc.stream_name = stream;
    snprintf(req, sizeof(req), "{\"StreamName\":\"%s\",\"MaxResults\":1000}", stream);
    if (cs_kvs_call(&cc, "/listFragments", req, body, sizeof(body), &res) != CS_OK ||
        res.http_status != 200) {
        return 1;
    }
    for (p = body; n < 1000 && (p = strstr(p, "\"FragmentNumber\":\"")) != NULL;) {
        const char *q;
        p += 18;
        q = strchr(p, '"');
        if (q == NULL) {
            break;
        }
        numbers[n++] = strndup(p, (size_t)(q - p));
    }
    if (n == 0) {
        return 0;
    }
    cc.fragments = numbers;
    cc.fragment_count = n;
    if (cs_consumer_open(&cc, &c) != CS_OK) {
        rc = 1;
        goto out;
    }
    for (;;) {
        cs_gm_event ev;
        if (cs_consumer_next(c, 30000, &ev) != CS_OK || ev.type == CS_GM_EV_END) {
            break;
        }
        if (ev.type == CS_GM_EV_FRAME) {
            for (size_t i = 0; i < NFR; i++) {
                if ((int64_t)(ts[i] / 1000000u) * 1000000 == ev.frame.timestamp_ns) {
                    seen[i]++;
                    break;
                }
            }
        }
    }
out:
    cs_consumer_close(&c);
    for (size_t i = 0; i < n; i++) {
        free((void *)numbers[i]);
    }
    return rc;
}

struct child_opts {
    const char *scenario; /* stream | outage */
    size_t store;
    bool fast;
    const char *clip;
    const char *ingest;
    double stall_at_s, stall_for_s;
    bool verify;
    bool tls; /* stream over HTTPS (a self-signed certificate made here, its CA given to the SDK) */
};

static pt_frame clip_frames[NFR];
static pt_server *g_server; /* stopped on every way out of a child */

static void stop_server_at_exit(void)
{
    if (g_server != NULL) {
        pt_server_stop(g_server, SIGKILL);
    }
}

static int child(const struct child_opts *o)
{
    static uint8_t buf[4 << 20];
    static uint64_t ts[NFR];
    static unsigned seen[NFR];
    static bool key_of[NFR];
    pt_clip clip;
    pt_server sv;
    cs_proxy *proxy = NULL;
    cs_producer_config pc;
    cs_producer *p = NULL;
    cs_stream_config sc;
    cs_stream *s = NULL;
    cs_stream_metrics m;
    char data_dir[] = "/var/tmp/producer-bench.XXXXXX", endpoint[128], stream[64], cmd[256];
    char cert[64], key[64];
    const char *flags[] = {NULL, NULL, NULL, NULL, NULL};
    uint64_t t0, base, interval = o->fast ? FRAME_NS / 10 : FRAME_NS;
    size_t sdk0 = 0, curl0 = 0, proc0 = 0, max_used = 0, store_fp = 0, idx;
    uint64_t max_used_dur = 0; /* the video the store held at its peak fill */
    unsigned threads_max = 0;
    size_t stall_frame = (size_t)(o->stall_at_s * 30.0);
    uint32_t stall_ms = (uint32_t)(o->stall_for_s * 1000.0 / (o->fast ? 10.0 : 1.0));
    int rc = 0, put_errors = 0;
    cs_status st;

    long rss_start = proc_status_kb("VmRSS");

    signal(SIGPIPE, SIG_IGN);
    if (pt_clip_open(o->clip, &clip) != 0 || clip.count != NFR) {
        fprintf(stderr, "cannot read the clip %s\n", o->clip);
        return 1;
    }
    /* the frame table into static storage: the heap is what is being measured */
    memcpy(clip_frames, clip.frames, sizeof(clip_frames));
    pt_clip_close(&clip);
    clip.frames = clip_frames;
    clip.count = NFR;
    if (mkdtemp(data_dir) == NULL) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    if (o->tls) {
        char gen[512];
        snprintf(cert, sizeof(cert), "%s/cert.pem", data_dir);
        snprintf(key, sizeof(key), "%s/key.pem", data_dir);
        snprintf(gen, sizeof(gen),
                 "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 1 "
                 "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null",
                 key, cert);
        if (system(gen) != 0) {
            fprintf(stderr, "cannot make a certificate with openssl: %s\n", gen);
            return 1;
        }
        flags[0] = "--tls-cert";
        flags[1] = cert;
        flags[2] = "--tls-key";
        flags[3] = key;
    }
    if (pt_server_start(o->ingest, data_dir, 0, flags, NULL, &sv)) {
        fprintf(stderr, "cannot start %s\n", o->ingest);
        return 1;
    }
    g_server = &sv;
    atexit(stop_server_at_exit);
    snprintf(endpoint, sizeof(endpoint), "%s", sv.url);
    if (strcmp(o->scenario, "outage") == 0) {
        if (cs_proxy_start(sv.port, &proxy) != 0) {
            return 1;
        }
        snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%u", cs_proxy_port(proxy));
    }
    /* libcurl's allocations through counting hooks; the transport's own curl_global_init then
     * only counts up the reference */
    curl_global_init_mem(CURL_GLOBAL_DEFAULT, cm_malloc, cm_free, cm_realloc, cm_strdup, cm_calloc);
    cs_producer_config_init(&pc);
    pc.endpoint = endpoint;
    pc.access_key = PT_AK;
    pc.secret_key = PT_SK;
    pc.use_environment = false;
    pc.allocator = &sdk_allocator;
    pc.ca_path = o->tls ? cert : NULL;
    if (cs_producer_create(&pc, &p) != CS_OK) {
        fprintf(stderr, "cs_producer_create failed\n");
        return 1;
    }
    snprintf(stream, sizeof(stream), "bench-%d", (int)getpid());
    cs_stream_config_init(&sc);
    sc.name = stream;
    sc.tracks[0].codec = CS_MKV_CODEC_ID_H264;
    sc.track_count = 1;
    sc.store_bytes = o->store;
    sc.callbacks.on_drop = ch_on_drop;
    sc.callbacks.on_ack = ch_on_ack;
    sc.callbacks.on_error = ch_on_error;
    if (cs_stream_create(p, &sc, &s) != CS_OK) {
        fprintf(stderr, "cs_stream_create failed\n");
        return 1;
    }
    csi_cstore_footprint(o->store, &store_fp, &idx);

    base = pt_wall_ns() / 1000000u * 1000000u;
    t0 = pt_mono_ns();
    for (size_t i = 0; i < NFR; i++) {
        cs_frame f = CS_FRAME_INIT;
        size_t len = pt_clip_read(&clip, i, buf);
        ts[i] = base + i * FRAME_NS;
        key_of[i] = clip.frames[i].key;
        pt_sleep_until(t0 + i * interval);
        if (i == STEADY_FROM) {
            sdk0 = atomic_load(&sdk_ctr.calls);
            curl0 = atomic_load(&curl_ctr.calls);
            proc0 = cs_bench_allocs();
            cs_bench_count_allocs(true);
        }
        if (proxy != NULL && i == stall_frame && stall_ms > 0) {
            cs_proxy_stall(proxy, stall_ms);
        }
        f.data = buf;
        f.size = len;
        f.pts_ns = f.dts_ns = ts[i];
        f.duration_ns = FRAME_NS;
        f.flags = clip.frames[i].key ? CS_FRAME_KEY : 0;
        st = cs_stream_put_frame(s, &f);
        if (st != CS_OK) {
            put_errors++;
        }
        if (i % 30 == 15) {
            unsigned t = count_threads();
            threads_max = t > threads_max ? t : threads_max;
        }
        if (i % 30 == 15 || proxy != NULL) { /* the outage: the peak fill at every frame */
            cs_stream_get_metrics(s, &m);
            if (m.store_bytes_used > max_used) {
                max_used = m.store_bytes_used;
                max_used_dur = m.store_duration_ns;
            }
        }
    }
    cs_bench_count_allocs(false);
    printf("R allocs_sdk %zu\nR allocs_curl %zu\nR allocs_process %zu\nR steady_frames %d\n",
           atomic_load(&sdk_ctr.calls) - sdk0, atomic_load(&curl_ctr.calls) - curl0,
           cs_bench_allocs() - proc0, NFR - STEADY_FROM);
    printf("R put_seconds %.1f\n", (double)(pt_mono_ns() - t0) / 1e9);
    st = cs_stream_flush(s, 180000);
    printf("R flush_ok %d\n", st == CS_OK);
    cs_stream_get_metrics(s, &m);
    printf("R vmhwm_kb %ld\nR threads_max %u\n", proc_status_kb("VmHWM"), threads_max);
    printf("R rss_anon_kb %ld\nR rss_file_kb %ld\nR vmrss_start_kb %ld\n",
           proc_status_kb("RssAnon"), proc_status_kb("RssFile"), rss_start);
    printf("R sdk_peak_live %zu\nR sdk_largest %zu\nR store_footprint %zu\n",
           atomic_load(&sdk_ctr.peak), atomic_load(&sdk_ctr.largest), store_fp);
    printf("R curl_peak_live %zu\nR curl_calls_total %zu\n", atomic_load(&curl_ctr.peak),
           atomic_load(&curl_ctr.calls));
    printf("R frames_put %" PRIu64 "\nR put_errors %d\nR fragments_put %" PRIu64
           "\nR fragments_persisted %" PRIu64 "\nR frames_dropped %" PRIu64
           "\nR fragments_dropped %" PRIu64 "\nR reconnects %" PRIu64 "\nR errors_stale %" PRIu64
           "\nR max_store_used %zu\nR max_ack_latency_ms %.1f\nR bytes_stored %" PRIu64 "\n",
           m.frames_put, put_errors, m.fragments_put, m.fragments_persisted, m.frames_dropped,
           m.fragments_dropped, m.reconnects, m.errors_stale, max_used,
           (double)m.max_ack_latency_ns / 1e6, m.bytes_stored);
    printf("R max_store_used_s %.2f\nR store_index_bytes %zu\n", (double)max_used_dur / 1e9,
           store_fp - o->store);
    cs_stream_destroy(&s);
    cs_producer_destroy(&p);

    if (o->verify) {
        /* every frame: on the server exactly once, or inside exactly one drop report; drops are
         * whole fragments (key frame to the frame before the next key frame), oldest first */
        unsigned once = 0, twice = 0, lost = 0, reported_there = 0, not_whole = 0, order = 0;
        unsigned missing = 0;
        uint64_t drop_frames = 0, last_first = 0;
        bool dropped[NFR] = {false};
        pthread_mutex_lock(&cst.lock);
        for (size_t k = 0; k < cst.n_drops && k < MAX_DROPS; k++) {
            const cs_drop *d = &cst.drops[k];
            size_t first = NFR, last = 0;
            if (d->reason == CS_DROP_DESTROYED) {
                continue;
            }
            for (size_t i = 0; i < NFR; i++) {
                if (ts[i] >= d->first_ts_ns && ts[i] <= d->last_ts_ns) {
                    dropped[i] = true;
                    first = i < first ? i : first;
                    last = i;
                }
            }
            drop_frames += d->frames;
            if (first >= NFR || !key_of[first] || (last + 1 < NFR && !key_of[last + 1]) ||
                d->frames != last - first + 1) {
                not_whole++;
            }
            if (d->first_ts_ns < last_first) {
                order++;
            }
            last_first = d->first_ts_ns;
            printf("R drop %zu frames %zu-%zu (%u frames, %zu bytes, reason %d)\n", k, first, last,
                   (unsigned)d->frames, d->bytes, (int)d->reason);
        }
        pthread_mutex_unlock(&cst.lock);
        if (verify(sv.url, stream, ts, seen) != 0) {
            fprintf(stderr, "read-back failed\n");
            rc = 1;
        }
        for (size_t i = 0; i < NFR; i++) {
            missing += seen[i] == 0;
            if (seen[i] == 1 && !dropped[i]) {
                once++;
            } else if (seen[i] > 1) {
                twice++;
            } else if (seen[i] == 0 && !dropped[i]) {
                lost++;
            } else if (seen[i] == 1 && dropped[i]) {
                reported_there++;
            }
        }
        printf("R server_once %u\nR server_twice %u\nR lost_unreported %u\nR reported_but_stored "
               "%u\nR drops_not_whole %u\nR drops_out_of_order %u\nR drop_frames_reported %" PRIu64
               "\n",
               once, twice, lost, reported_there, not_whole, order, drop_frames);
        printf("R server_missing %u\n", missing);
    }
    cs_proxy_stop(&proxy);
    pt_server_stop(&sv, SIGTERM);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", data_dir);
    }
    curl_global_cleanup();
    return rc;
}

/* ============================================================================================== */
/* The parent: runs each scenario in a child and prints the table                                 */
/* ============================================================================================== */

#define MAX_KV 96

struct result {
    char key[MAX_KV][40];
    double val[MAX_KV];
    size_t n;
    char drops[4096];
    bool ok;
};

static double get(const struct result *r, const char *key)
{
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->key[i], key) == 0) {
            return r->val[i];
        }
    }
    return -1;
}

static char self_path[1024], self_dir[1024], clip_path[1100];

/* The outage's arithmetic, from the clip itself: what a store must hold to lose nothing when
 * the server stops reading and acking from frame `from` to frame `to` (exclusive). */
struct outage_math {
    double mbit_s;        /* the clip's bitrate (Annex-B bytes over its duration) */
    double stored_bytes;  /* the whole clip as the store holds it: AVCC in SimpleBlocks */
    double avcc_bytes;    /* the frames' AVCC alone */
    size_t inflight_from; /* key frame that starts the fragment in flight when the stall begins */
    double stall_bytes;   /* frames [from, to) as stored */
    double need_bytes;    /* frames [inflight_from, to) as stored: nothing less loses nothing */
};

static void outage_arithmetic(const pt_clip *clip, size_t from, size_t to, struct outage_math *om)
{
    static uint8_t fb[4 << 20];
    memset(om, 0, sizeof(*om));
    om->mbit_s = (double)clip->bytes * 8.0 / ((double)clip->count / 30.0) / 1e6;
    om->inflight_from = from;
    while (om->inflight_from > 0 && !clip->frames[om->inflight_from].key) {
        om->inflight_from--;
    }
    for (size_t i = 0; i < clip->count; i++) {
        size_t len = pt_clip_read(clip, i, fb), avcc = pt_annexb_to_avcc(fb, len, NULL);
        double blk = (double)cs_mkv_simple_block_len(1, avcc);
        om->avcc_bytes += (double)avcc;
        om->stored_bytes += blk;
        if (i >= from && i < to) {
            om->stall_bytes += blk;
        }
        if (i >= om->inflight_from && i < to) {
            om->need_bytes += blk;
        }
    }
}

static int run_child(const char *prefix, const char *args, struct result *r)
{
    char cmd[4096], line[512];
    FILE *f;
    int st;

    memset(r, 0, sizeof(*r));
    snprintf(cmd, sizeof(cmd), "%s '%s' --child %s --clip '%s' --ingest '%s'", prefix, self_path,
             args, clip_path, CS_INGEST_BIN);
    f = popen(cmd, "r");
    if (f == NULL) {
        return 1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char k[40];
        double v;
        if (strncmp(line, "R drop ", 7) == 0) {
            strncat(r->drops, line + 2, sizeof(r->drops) - strlen(r->drops) - 1);
        } else if (sscanf(line, "R %39s %lf", k, &v) == 2 && r->n < MAX_KV) {
            snprintf(r->key[r->n], sizeof(r->key[0]), "%s", k);
            r->val[r->n++] = v;
        }
    }
    st = pclose(f);
    r->ok = st == 0 && get(r, "flush_ok") == 1;
    if (!r->ok) {
        fprintf(stderr, "producer_bench: child failed: %s\n", cmd);
    }
    return r->ok ? 0 : 1;
}

/* Runs a script and returns the value of "RESULT key=value" in its output (printed through). */
static double run_script(const char *cmd, const char *key)
{
    char line[1024];
    double v = -1;
    size_t kl = strlen(key);
    FILE *f = popen(cmd, "r");
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "RESULT ", 7) == 0 && strncmp(line + 7, key, kl) == 0 &&
            line[7 + kl] == '=') {
            v = strcmp(line + 8 + kl, "none\n") == 0 ? -1 : atof(line + 8 + kl);
        } else {
            printf("    | %s", line);
        }
    }
    pclose(f);
    return v;
}

/* The figures for scripts/bench-report ($CS_BENCH_RESULTS; nothing when unset). */
struct figs {
    const struct result *r4, *r20, *r4tls, *o[3];
    int outage;
    double massif, massif_ng, ir, arm, fp_ns, fp_memcpy;
    size_t fp_allocs;
    int fast;
};

#define PFIG(...) cs_bench_figure(&(struct cs_bench_figure){.bench = "producer_bench", __VA_ARGS__})

static void emit_figures(const struct figs *f)
{
    const char *fast = f->fast ? "--fast (10x real time): not the budget figures" : NULL;
    char base[96];
    if (f->r4->ok) {
        double fr = get(f->r4, "steady_frames");
        PFIG(.id = "producer.allocs_per_frame",
             .label = "heap allocations per frame once streaming (SDK + libcurl)",
             .value = (get(f->r4, "allocs_sdk") + get(f->r4, "allocs_curl")) / fr, .unit = "",
             .reference = "4.1", .target = "<= 0", .note = fast);
        PFIG(.id = "producer.allocs_process_per_frame",
             .label = "heap allocations per frame, whole process (every malloc)",
             .value = get(f->r4, "allocs_process") / fr, .unit = "", .note = fast);
        PFIG(.id = "producer.sdk_beyond_store",
             .label = "SDK's own peak heap beyond the store (its allocator), 1 stream",
             .value = (get(f->r4, "sdk_peak_live") - get(f->r4, "store_footprint")) / 1024.0,
             .unit = "KiB", .target = "<= 64", .note = fast);
        PFIG(.id = "producer.curl_peak_live", .label = "libcurl peak live heap (its hooks)",
             .value = get(f->r4, "curl_peak_live") / 1024.0, .unit = "KiB", .note = fast);
        PFIG(.id = "producer.rss_4mib", .label = "peak RSS (VmHWM), HTTP, 4 MiB store",
             .value = get(f->r4, "vmhwm_kb") * 1024.0 / 1e6, .unit = "MB", .reference = "12.0 MB",
             .note = "report only");
        PFIG(.id = "producer.threads", .label = "threads while streaming (caller + SDK)",
             .value = get(f->r4, "threads_max"), .unit = "", .reference = "3 + 1 per API call",
             .target = "<= 2", .note = "the caller's 1 + one I/O thread");
        PFIG(.id = "producer.max_ack_latency", .label = "stream run: max ack latency",
             .value = get(f->r4, "max_ack_latency_ms"), .unit = "ms", .note = fast);
    }
    if (f->r20->ok) {
        PFIG(.id = "producer.rss_20mib", .label = "peak RSS (VmHWM), HTTP, 20 MiB store",
             .value = get(f->r20, "vmhwm_kb") * 1024.0 / 1e6, .unit = "MB", .reference = "12.0 MB",
             .note = "report only");
    }
    if (f->r4tls->ok) {
        PFIG(.id = "producer.rss_4mib_https", .label = "peak RSS (VmHWM), HTTPS, 4 MiB store",
             .value = get(f->r4tls, "vmhwm_kb") * 1024.0 / 1e6, .unit = "MB",
             .reference = "13.1 MB", .note = "report only (Debian's libcurl4 and OpenSSL)");
        PFIG(.id = "producer.allocs_per_frame_https",
             .label = "heap allocations per frame once streaming, HTTPS (SDK + libcurl)",
             .value = (get(f->r4tls, "allocs_sdk") + get(f->r4tls, "allocs_curl")) /
                      get(f->r4tls, "steady_frames"),
             .unit = "", .note = "report only (OpenSSL's allocations are not in libcurl's hooks)");
    }
    if (f->massif >= 0) {
        /* the budget's figure is producer-massif-device.sh's (a libcurl without TLS, as a camera
         * links it); this one is with the system's libcurl4, whose OpenSSL and GnuTLS start-up
         * the producer never uses */
        PFIG(.id = "producer.massif_beyond_store",
             .label = "peak heap beyond the content store (massif, whole process, 4 MiB store), "
                      "Debian's libcurl4 (with its OpenSSL and GnuTLS start-up)",
             .value = f->massif / 1e3, .unit = "KB", .reference = "~577 KB", .note = fast);
    }
    if (f->massif_ng >= 0) {
        PFIG(.id = "producer.massif_beyond_store_no_gnutls",
             .label = "the same with GNUTLS_NO_IMPLICIT_INIT=1", .value = f->massif_ng / 1e3,
             .unit = "KB", .note = fast);
    }
    if (f->ir >= 0) {
        PFIG(.id = "producer.ir_per_frame",
             .label = "instructions per frame, whole 60 s run (callgrind, all threads)",
             .value = f->ir, .unit = "Ir", .reference = "~700,000", .target = "<= 230000",
             .note = fast);
    }
    if (f->outage) {
        static const char *names[] = {"16", "5", "3"};
        for (int k = 0; k < 3; k++) {
            const struct result *o = f->o[k];
            char id[64], label[160], note[200];
            bool sound;
            if (!o->ok) {
                continue;
            }
            sound = get(o, "lost_unreported") == 0 && get(o, "server_twice") == 0 &&
                    get(o, "drops_not_whole") == 0 && get(o, "drops_out_of_order") == 0;
            snprintf(id, sizeof(id), "producer.outage_%smib_lost", names[k]);
            snprintf(label, sizeof(label),
                     "outage 30 s, %s MiB store: frames lost on the server (of %d)", names[k], NFR);
            snprintf(note, sizeof(note),
                     "%.0f reported dropped in %.0f fragments; peak store fill %.2f MiB; every "
                     "frame once or reported, drops whole and oldest first: %s%s%s",
                     get(o, "frames_dropped"), get(o, "fragments_dropped"),
                     get(o, "max_store_used") / 1048576.0, sound ? "yes" : "NO", fast ? "; " : "",
                     fast ? fast : "");
            PFIG(.id = id, .label = label, .value = get(o, "server_missing"), .unit = "frames",
                 .reference = k == 1 ? "needs 6 MiB" : NULL, .target = k == 1 ? "<= 0" : NULL,
                 .note = note,
                 .verdict = !sound                                   ? CS_BENCH_MISS
                            : k == 1 && get(o, "server_missing") > 0 ? CS_BENCH_MISS
                                                                     : CS_BENCH_PASS);
        }
    }
    if (f->arm > 0) {
        PFIG(.id = "producer.aarch64_size",
             .label = "stripped size, aarch64 (producer + mkv + platform + auth)",
             .value = f->arm / 1e3, .unit = "KB", .reference = "~470 KB", .target = "<= 150");
    }
    snprintf(base, sizeof(base), "memcpy %.0f ns", f->fp_memcpy);
    PFIG(.id = "producer.frame_path",
         .label = "frame path alone (store + fragmenter, synthetic 13.6 KB frames)",
         .value = f->fp_ns, .unit = "ns/frame", .baseline = base);
    if (cs_bench_allocs_counted()) {
        PFIG(.id = "producer.frame_path_allocs", .label = "heap allocations in the frame path",
             .value = (double)f->fp_allocs, .unit = "", .target = "<= 0");
    }
}

static void usage(void)
{
    printf("usage: producer_bench [--fast] [--no-valgrind] [--no-size] [--no-outage]\n"
           "       producer_bench --once N     (the frame path alone, N frames, for callgrind)\n"
           "       producer_bench --make-clip FILE   (the benchmark clip, if FILE is missing)\n"
           "       producer_bench --child stream|outage --store BYTES --clip FILE --ingest BIN\n"
           "                      [--fast] [--stall-at S --stall-for S] [--verify] [--tls]\n"
           "Prints every figure of issue 5's budgets with the reference and target beside it.\n"
           "--fast puts the frames 10x faster than real time (quick look; the budgets are the\n"
           "real-time figures). --no-valgrind skips massif and callgrind.\n");
}

#define ROW(name, ours, ref, target) printf("  %-52s %-16s %-16s %s\n", name, ours, ref, target)

int main(int argc, char **argv)
{
    bool fast = false, valgrind = true, size = true, outage = true;
    struct child_opts co = {0};
    struct result r4, r20, r4tls, o16, o5, o3;
    struct outage_math om;
    double fp_ns = 0, fp_memcpy = 0, ir = -1, massif = -1, massif_ng = -1, arm = -1;
    size_t fp_allocs = 0;
    char a[96], b[16], cmd[8192];
    int failed = 0;

    if (argc == 3 && strcmp(argv[1], "--once") == 0) {
        return frame_path(atoi(argv[2]), NULL, NULL, NULL);
    }
    if (argc == 3 && strcmp(argv[1], "--make-clip") == 0) {
        return pt_clip_make(argv[2], NFR);
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--fast") == 0) {
            fast = co.fast = true;
        } else if (strcmp(argv[i], "--no-valgrind") == 0) {
            valgrind = false;
        } else if (strcmp(argv[i], "--no-size") == 0) {
            size = false;
        } else if (strcmp(argv[i], "--no-outage") == 0) {
            outage = false;
        } else if (strcmp(argv[i], "--child") == 0 && i + 1 < argc) {
            co.scenario = argv[++i];
        } else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc) {
            co.store = (size_t)strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--clip") == 0 && i + 1 < argc) {
            co.clip = argv[++i];
        } else if (strcmp(argv[i], "--ingest") == 0 && i + 1 < argc) {
            co.ingest = argv[++i];
        } else if (strcmp(argv[i], "--stall-at") == 0 && i + 1 < argc) {
            co.stall_at_s = atof(argv[++i]);
        } else if (strcmp(argv[i], "--stall-for") == 0 && i + 1 < argc) {
            co.stall_for_s = atof(argv[++i]);
        } else if (strcmp(argv[i], "--verify") == 0) {
            co.verify = true;
        } else if (strcmp(argv[i], "--tls") == 0) {
            co.tls = true;
        } else {
            usage();
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (co.scenario != NULL) {
        if (co.clip == NULL || co.ingest == NULL || co.store == 0) {
            usage();
            return 2;
        }
        return child(&co);
    }

    if (readlink("/proc/self/exe", self_path, sizeof(self_path) - 1) <= 0) {
        return 1;
    }
    {
        char tmp[1024];
        snprintf(tmp, sizeof(tmp), "%s", self_path);
        snprintf(self_dir, sizeof(self_dir), "%s", dirname(tmp));
    }
    snprintf(clip_path, sizeof(clip_path), "%s/producer-clip-%d.h264", self_dir, NFR);
    if (access(CS_INGEST_BIN, X_OK) != 0) {
        printf("producer_bench: %s not built: only the frame path\n", CS_INGEST_BIN);
    }
    {
        int rc = pt_clip_make(clip_path, NFR);
        pt_clip clip;
        size_t keys = 0;
        if (rc != 0 || pt_clip_open(clip_path, &clip) != 0) {
            printf("producer_bench: no benchmark clip (%s): %s\n", clip_path,
                   rc == 77 ? "GStreamer/x264enc missing" : "failed");
            return rc == 77 ? 0 : 1;
        }
        for (size_t i = 0; i < clip.count; i++) {
            keys += clip.frames[i].key;
        }
        outage_arithmetic(&clip, 15 * 30, 45 * 30, &om);
        printf("producer_bench: the benchmark clip, %zu frames (%zu key), %.2f MB, %.2f Mbit/s, "
               "largest frame %zu B\n  %s\n  put %s to camstream-ingest on 127.0.0.1 over plain "
               "HTTP/1.1, SigV4\n",
               clip.count, keys, (double)clip.bytes / 1e6,
               (double)clip.bytes * 8.0 / ((double)clip.count / 30.0) / 1e6, clip.max_frame,
               clip_path,
               fast ? "10x faster than real time (--fast: NOT the budget figures)"
                    : "frame by frame in real time (60 s)");
        pt_clip_close(&clip);
    }
    fflush(stdout);

    /* 1. streaming, 4 MiB and 20 MiB stores */
    snprintf(cmd, sizeof(cmd), "stream --store %zu%s", (size_t)4 << 20, fast ? " --fast" : "");
    failed |= run_child("", cmd, &r4);
    snprintf(cmd, sizeof(cmd), "stream --store %zu%s", (size_t)20 << 20, fast ? " --fast" : "");
    failed |= run_child("", cmd, &r20);
    /* the same 4 MiB run over HTTPS (ALPN offers h2; the server's self-signed certificate) */
    snprintf(cmd, sizeof(cmd), "stream --store %zu --tls%s", (size_t)4 << 20,
             fast ? " --fast" : "");
    failed |= run_child("", cmd, &r4tls);

    /* 2. valgrind: massif and callgrind, through the scripts */
    if (valgrind) {
        snprintf(cmd, sizeof(cmd), "sh '%s/tests/bench/producer-massif.sh' '%s/../..'%s",
                 CS_SOURCE_DIR, self_dir, fast ? " --fast" : "");
        massif = run_script(cmd, "beyond_store_bytes");
        snprintf(cmd, sizeof(cmd),
                 "sh '%s/tests/bench/producer-massif.sh' '%s/../..'%s "
                 "--no-gnutls-init",
                 CS_SOURCE_DIR, self_dir, fast ? " --fast" : "");
        massif_ng = run_script(cmd, "beyond_store_bytes");
        snprintf(cmd, sizeof(cmd),
                 "sh '%s/tests/bench/callgrind-per-frame.sh' '%s/../..' producer%s", CS_SOURCE_DIR,
                 self_dir, fast ? " --fast" : "");
        ir = run_script(cmd, "producer_ir_per_frame");
    }

    /* 3. outage: 30 s stall from t = 15 s */
    if (outage) {
        snprintf(cmd, sizeof(cmd), "outage --store %zu --stall-at 15 --stall-for 30 --verify%s",
                 (size_t)16 << 20, fast ? " --fast" : "");
        failed |= run_child("", cmd, &o16);
        snprintf(cmd, sizeof(cmd), "outage --store %zu --stall-at 15 --stall-for 30 --verify%s",
                 (size_t)5 << 20, fast ? " --fast" : "");
        failed |= run_child("", cmd, &o5);
        snprintf(cmd, sizeof(cmd), "outage --store %zu --stall-at 15 --stall-for 30 --verify%s",
                 (size_t)3 << 20, fast ? " --fast" : "");
        failed |= run_child("", cmd, &o3);
    }

    /* 4. aarch64 size */
    if (size) {
        char build[1100], real[1100];
        snprintf(build, sizeof(build), "%s/../..", self_dir);
        if (realpath(build, real) == NULL) {
            snprintf(real, sizeof(real), "%s", build);
        }
        /* next to this build: build-x -> build-x-aarch64 */
        snprintf(cmd, sizeof(cmd), "sh '%s/tests/bench/producer-size-aarch64.sh' '%s-aarch64'",
                 CS_SOURCE_DIR, real);
        if (getenv("CS_AARCH64_BUILD") != NULL) {
            snprintf(cmd, sizeof(cmd), "sh '%s/tests/bench/producer-size-aarch64.sh' '%s'",
                     CS_SOURCE_DIR, getenv("CS_AARCH64_BUILD"));
        }
        arm = run_script(cmd, "aarch64_stripped_bytes");
    }

    /* 5. the frame path alone */
    if (frame_path(0, &fp_ns, &fp_memcpy, &fp_allocs) != 0) {
        failed = 1;
    }

    printf("\nproducer budgets (issue 5)%s\n", fast ? "  [--fast: not the budget figures]" : "");
    ROW("figure", "ours", "reference", "target");
    if (r4.ok) {
        double fr = get(&r4, "steady_frames");
        snprintf(a, sizeof(a), "%.3f", (get(&r4, "allocs_sdk") + get(&r4, "allocs_curl")) / fr);
        ROW("heap allocations per frame once streaming", a, "4.1", "0");
        snprintf(a, sizeof(a), "%.3f", get(&r4, "allocs_sdk") / fr);
        ROW("  SDK (its cs_allocator), frames 300-1799", a, "", "");
        snprintf(a, sizeof(a), "%.3f", get(&r4, "allocs_curl") / fr);
        ROW("  libcurl (curl_global_init_mem hooks)", a, "", "");
        snprintf(a, sizeof(a), "%.3f", get(&r4, "allocs_process") / fr);
        ROW("  whole process (every malloc/calloc/realloc)", a, "", "");
    }
    if (massif >= 0) {
        snprintf(a, sizeof(a), "%.1f KB", massif / 1e3);
        ROW("peak heap beyond the store (massif, 4 MiB), Debian's libcurl4", a, "~577 KB", "(*)");
        if (massif_ng >= 0) {
            /* the same, without the load-time init of the GnuTLS that Debian's libcurl4 loads
             * (librtmp, libldap) and the producer never calls; OpenSSL's stays */
            snprintf(a, sizeof(a), "%.1f KB", massif_ng / 1e3);
            ROW("  the same, GNUTLS_NO_IMPLICIT_INIT=1", a, "", "");
        }
    } else {
        ROW("peak heap beyond the content store (massif)", "not run", "~577 KB", "(*)");
    }
    printf("(*) the <= 192 KB budget is measured with a libcurl built as a camera links it (HTTP "
           "only, no TLS): tests/bench/producer-massif-device.sh, run by make bench\n");
    if (r4.ok) {
        snprintf(a, sizeof(a), "%.1f KiB",
                 (get(&r4, "sdk_peak_live") - get(&r4, "store_footprint")) / 1024.0);
        ROW("  SDK's own beyond the store (allocator), 1 stream", a, "", "<= 64 KiB");
        snprintf(a, sizeof(a), "%.1f KiB", get(&r4, "curl_peak_live") / 1024.0);
        ROW("  libcurl (its hooks, peak live)", a, "", "");
    }
    if (ir >= 0) {
        snprintf(a, sizeof(a), "%.0f", ir);
        ROW("instructions per frame, whole run (callgrind)", a, "~700,000", "<= 230,000");
    } else {
        ROW("instructions per frame, whole run (callgrind)", "not run", "~700,000", "<= 230,000");
    }
    if (r4.ok) {
        snprintf(a, sizeof(a), "%.1f MB", get(&r4, "vmhwm_kb") * 1024.0 / 1e6);
        ROW("peak RSS (VmHWM), HTTP, 4 MiB store", a, "12.0 MB", "report");
    }
    if (r20.ok) {
        snprintf(a, sizeof(a), "%.1f MB", get(&r20, "vmhwm_kb") * 1024.0 / 1e6);
        ROW("peak RSS (VmHWM), HTTP, 20 MiB store", a, "12.0 MB", "report");
    }
    if (r4tls.ok) {
        snprintf(a, sizeof(a), "%.1f MB", get(&r4tls, "vmhwm_kb") * 1024.0 / 1e6);
        ROW("peak RSS (VmHWM), HTTPS, 4 MiB store", a, "13.1 MB", "report");
        snprintf(a, sizeof(a), "%.2f",
                 (get(&r4tls, "allocs_sdk") + get(&r4tls, "allocs_curl")) /
                     get(&r4tls, "steady_frames"));
        ROW("  heap allocations per frame, HTTPS (SDK + libcurl)", a, "", "");
    }
    if (r4.ok) {
        snprintf(a, sizeof(a), "%.0f (1 + %.0f)", get(&r4, "threads_max"),
                 get(&r4, "threads_max") - 1);
        ROW("threads while streaming (caller + SDK)", a, "3 + 1 per call", "caller's + 1");
    }
    if (outage) {
        const struct result *os[] = {&o16, &o5, &o3};
        const char *names[] = {"16 MiB", "5 MiB", "3 MiB"};
        for (int k = 0; k < 3; k++) {
            const struct result *o = os[k];
            char label[96];
            if (!o->ok) {
                snprintf(label, sizeof(label), "outage 30 s, %s store", names[k]);
                ROW(label, "run failed", "", "");
                continue;
            }
            snprintf(label, sizeof(label), "outage 30 s, %s store: frames lost (server)", names[k]);
            snprintf(a, sizeof(a), "%.0f of %d", get(o, "server_missing"), NFR);
            ROW(label, a, k == 1 ? "needs 6 MiB" : "", k == 1 ? "0" : "");
            snprintf(a, sizeof(a), "%.0f in %.0f fragments", get(o, "frames_dropped"),
                     get(o, "fragments_dropped"));
            ROW("  frames the producer reported dropped (EVICTED)", a, "", "");
            snprintf(a, sizeof(a), "%.0f", get(o, "reported_but_stored"));
            ROW("  of those, stored anyway (sent before eviction)", a, "", "");
            snprintf(a, sizeof(a), "%.2f MiB, %.1f s", get(o, "max_store_used") / 1048576.0,
                     get(o, "max_store_used_s"));
            ROW("  peak store fill (bytes, video it held)", a, "", "");
            snprintf(b, sizeof(b), "%s",
                     get(o, "lost_unreported") == 0 && get(o, "server_twice") == 0 &&
                             get(o, "drops_not_whole") == 0 && get(o, "drops_out_of_order") == 0
                         ? "yes"
                         : "NO");
            snprintf(a, sizeof(a), "%s", b);
            ROW("  each frame once or reported; drops whole, oldest 1st", a, "", "yes");
            if (strcmp(b, "yes") != 0) {
                failed = 1;
                printf("    twice %.0f, lost unreported %.0f, not whole %.0f, out of order %.0f\n",
                       get(o, "server_twice"), get(o, "lost_unreported"), get(o, "drops_not_whole"),
                       get(o, "drops_out_of_order"));
            }
            for (const char *line = o->drops, *nl; *line != '\0'; line = nl + 1) {
                nl = strchr(line, '\n');
                if (nl == NULL) {
                    break;
                }
                printf("    %.*s\n", (int)(nl - line), line);
            }
        }
    }
    if (outage) {
        /* What a 30 s outage of this clip asks of the store and the connection together. */
        double mib = 1048576.0, per_s = om.stored_bytes / ((double)NFR / 30.0);
        printf("  outage arithmetic (the clip as stored: AVCC in SimpleBlocks, %.2f MB = %.3f "
               "Mbit/s, of which SimpleBlock headers %.0f B = %.3f %%; Annex-B in: %.3f "
               "Mbit/s):\n",
               om.stored_bytes / 1e6, per_s * 8.0 / 1e6, om.stored_bytes - om.avcc_bytes,
               (om.stored_bytes - om.avcc_bytes) * 100.0 / om.stored_bytes, om.mbit_s);
        printf("    the 30 s stall itself (frames 450-1349):                %.2f MiB\n",
               om.stall_bytes / mib);
        printf("    + the fragment in flight when it began (from frame %zu): %.2f MiB = what the "
               "store and the connection hold between them to lose nothing\n",
               om.inflight_from, om.need_bytes / mib);
        printf("    a 5 MiB store holds %.1f s of this clip; 30 s + one 2 s fragment fit in 5 MiB "
               "only below %.2f Mbit/s\n",
               5.0 * mib / per_s, 5.0 * mib * 8.0 / 32.0 / 1e6);
        printf("    (a full store first gives up the bytes the connection already carries; a "
               "connection replaced before their acks takes them with it: reported, maybe_stored)"
               "\n");
        if (o16.ok) {
            printf("    index and store header beyond store_bytes: %.0f bytes (%.2f %% of 16 MiB); "
                   "MKV beyond the SimpleBlocks (Clusters, stream headers): %.0f bytes (%.3f %%)\n",
                   get(&o16, "store_index_bytes"),
                   get(&o16, "store_index_bytes") * 100.0 / (16.0 * mib),
                   get(&o16, "bytes_stored") - om.stored_bytes,
                   (get(&o16, "bytes_stored") - om.stored_bytes) * 100.0 / om.stored_bytes);
        }
    }
    if (arm > 0) {
        snprintf(a, sizeof(a), "%.1f KB", arm / 1e3);
        ROW("stripped size, aarch64 (producer+mkv+platform+auth)", a, "~470 KB", "<= 150 KB");
    } else if (size) {
        ROW("stripped size, aarch64", "not built", "~470 KB", "<= 150 KB");
    }
    snprintf(a, sizeof(a), "%.0f ns", fp_ns);
    snprintf(b, sizeof(b), "memcpy %.0f ns", fp_memcpy);
    ROW("frame path alone (store+fragmenter, synthetic 13.6 KB)", a, b, "");
    if (cs_bench_allocs_counted()) {
        snprintf(a, sizeof(a), "%zu", fp_allocs);
        ROW("  heap allocations in the frame path alone", a, "", "0");
    }
    if (r4.ok) {
        snprintf(a, sizeof(a), "%.0f / %.0f", get(&r4, "fragments_persisted"),
                 get(&r4, "fragments_put"));
        ROW("stream run: fragments persisted / put", a, "", "");
        snprintf(a, sizeof(a), "%.1f ms", get(&r4, "max_ack_latency_ms"));
        ROW("stream run: max ack latency (last byte -> PERSISTED)", a, "", "");
    }
    emit_figures(&(struct figs){&r4,
                                &r20,
                                &r4tls,
                                {&o16, &o5, &o3},
                                outage,
                                massif,
                                massif_ng,
                                ir,
                                arm,
                                fp_ns,
                                fp_memcpy,
                                fp_allocs,
                                fast});
    return failed ? 1 : 0;
}
