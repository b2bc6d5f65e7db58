/* SPDX-License-Identifier: Apache-2.0 */
/* The producer's state machine against the REAL ingest server (camstream-ingest on a free
 * loopback port, a temporary data dir, SigV4 on), through fault_transport wrapping the libcurl
 * transport. For every call index N in a range (every call a run makes: describe, create,
 * describe, getDataEndpoint, three uploads) and every fault kind (start fails, body fails
 * part-way, response cut, call stalls), a fresh producer streams one GOP of H.264, flushes,
 * streams two more and flushes again;
 * then the server is asked (signed listFragments + getMediaForFragmentList, parsed with the MKV
 * reader) and every frame must be stored exactly once, byte-identical, or have been reported
 * dropped; flush returns CS_OK and nothing leaks (ASan). A second test makes the server refuse
 * one fragment for good (ERROR 4002, longer than 10 s): it is reported once as CS_DROP_REJECTED
 * with its frames, the stream goes on, the others are stored and flush completes. Exit 77 when
 * the server binary or libcurl transport is missing. Env: CS_INGEST = path of camstream-ingest. */
#define _GNU_SOURCE

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "camstream/auth.h"
#include "camstream/mkv.h"
#include "camstream/producer.h"
#include "fault_transport.h"
#include "testutil.h"

#define AK "AKIDEXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define GOP 30
#define NFRAMES (3 * GOP)
#define FRAME_NS 33333333ull
#define BASE_NS 1700000000000000000ull
#define MAX_INDEX 8

static const uint8_t sps[] = {0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb,
                              0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00,
                              0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0xa4, 0x80};
static const uint8_t pps[] = {0x68, 0xcb, 0x83, 0xcb, 0x20};

static pid_t server_pid;
static char server_url[128];
static char server_host[64];

/* ---------------------------------------------------------------------------------------------- */
/* The server                                                                                     */
/* ---------------------------------------------------------------------------------------------- */

static bool server_start(const char *bin)
{
    int fds[2];
    FILE *f;
    char line[256];
    const char *p, *dir = cs_test_tmpdir("producer_fault");

    if (pipe(fds) != 0) {
        return false;
    }
    server_pid = fork();
    if (server_pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(bin, bin, "--listen", "127.0.0.1:0", "--data-dir", dir, "--access-key", AK,
              "--secret-key", SK, "--log-level", "error", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    f = fdopen(fds[0], "r");
    if (f == NULL || fgets(line, sizeof(line), f) == NULL) {
        return false;
    }
    line[strcspn(line, "\r\n")] = '\0';
    p = strrchr(line, ' ');
    if (p == NULL || strncmp(p + 1, "http://", 7) != 0) {
        return false;
    }
    snprintf(server_url, sizeof(server_url), "%s", p + 1);
    snprintf(server_host, sizeof(server_host), "%s", p + 8);
    return true; /* the pipe stays open until exit */
}

static void server_stop(void)
{
    int st;
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, &st, 0);
        server_pid = 0;
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* Signed requests for checking what the server stored                                            */
/* ---------------------------------------------------------------------------------------------- */

typedef struct buf {
    uint8_t *d;
    size_t n, cap;
} buf;

static size_t on_write(char *b, size_t size, size_t n, void *ctx)
{
    buf *o = ctx;
    size_t len = size * n;
    if (o->n + len + 1 > o->cap) {
        o->cap = (o->n + len + 1) * 2;
        o->d = realloc(o->d, o->cap);
        assert_non_null(o->d);
    }
    memcpy(o->d + o->n, b, len);
    o->n += len;
    o->d[o->n] = '\0';
    return len;
}

static long post(const char *path, const char *body, buf *out)
{
    cs_sigv4_header hs[2];
    cs_sigv4_request req;
    cs_sigv4_sign_config cfg;
    cs_sigv4_signature sig;
    char auth[512], url[256], hdr[600];
    struct curl_slist *list = NULL;
    CURL *h = curl_easy_init();
    long code = 0;

    assert_non_null(h);
    hs[0] = (cs_sigv4_header){"host", 4, server_host, strlen(server_host)};
    hs[1] = (cs_sigv4_header){"content-type", 12, "application/json", 16};
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.method_len = 4;
    req.path = path;
    req.path_len = strlen(path);
    req.headers = hs;
    req.header_count = 2;
    req.body = body;
    req.body_len = strlen(body);
    cs_sigv4_sign_config_init(&cfg);
    cfg.region = "us-east-1";
    cfg.service = "kinesisvideo";
    cfg.access_key = AK;
    cfg.secret_key = SK;
    assert_int_equal(cs_sigv4_sign(&cfg, &req, auth, sizeof(auth), NULL, &sig), CS_OK);
    snprintf(hdr, sizeof(hdr), "Authorization: %s", auth);
    list = curl_slist_append(list, hdr);
    snprintf(hdr, sizeof(hdr), "X-Amz-Date: %s", sig.amz_date);
    list = curl_slist_append(list, hdr);
    list = curl_slist_append(list, "Content-Type: application/json");
    snprintf(url, sizeof(url), "%s%s", server_url, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    out->n = 0;
    if (curl_easy_perform(h) == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    }
    curl_slist_free_all(list);
    curl_easy_cleanup(h);
    return code;
}

/* ---------------------------------------------------------------------------------------------- */
/* Frames                                                                                         */
/* ---------------------------------------------------------------------------------------------- */

typedef struct frame {
    uint8_t *annexb;
    size_t annexb_len;
    uint8_t *avcc;
    size_t avcc_len;
    bool key;
} frame;

static frame frames[NFRAMES];
static uint64_t seed = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(seed >> 33);
}

static void make_frames(void)
{
    for (size_t i = 0; i < NFRAMES; i++) {
        bool key = i % GOP == 0;
        size_t payload = key ? 20000 + rnd() % 3000 : 2000 + rnd() % 4000;
        uint8_t *p = malloc(payload + 64), *q = p;
        assert_non_null(p);
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
        for (size_t j = 0; j < payload; j++) {
            *q++ = (uint8_t)(1 + rnd() % 255);
        }
        frames[i].annexb = p;
        frames[i].annexb_len = (size_t)(q - p);
        frames[i].key = key;
        assert_int_equal(cs_nal_annexb_to_avcc(CS_NAL_CODEC_H264, 0, p, frames[i].annexb_len, NULL,
                                               0, &frames[i].avcc_len),
                         CS_OK);
        frames[i].avcc = malloc(frames[i].avcc_len);
        assert_non_null(frames[i].avcc);
        assert_int_equal(cs_nal_annexb_to_avcc(CS_NAL_CODEC_H264, 0, p, frames[i].annexb_len,
                                               frames[i].avcc, frames[i].avcc_len,
                                               &frames[i].avcc_len),
                         CS_OK);
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* Checking the server                                                                            */
/* ---------------------------------------------------------------------------------------------- */

/* Frames the server holds for `name`, counted by frame index; checks their bytes and key flags.
 * `ts0` is the first frame's timestamp, `step` the spacing. Returns the fragment count. */
static unsigned server_frames(const char *name, uint64_t ts0, uint64_t step, size_t off,
                              unsigned *seen, size_t nframes)
{
    char body[512];
    buf lst = {0}, med = {0};
    char *req = NULL, *p;
    size_t req_len = 0, req_cap = 0;
    unsigned nfrag = 0;
    static cs_mkv_reader rd;
    cs_mkv_event ev;
    size_t pos = 0, used;

    memset(seen, 0, nframes * sizeof(*seen));
    snprintf(body, sizeof(body),
             "{\"StreamName\":\"%s\",\"MaxResults\":1000,\"FragmentSelector\":{"
             "\"FragmentSelectorType\":\"PRODUCER_TIMESTAMP\",\"TimestampRange\":{"
             "\"StartTimestamp\":0,\"EndTimestamp\":4000000000}}}",
             name);
    assert_int_equal(post("/listFragments", body, &lst), 200);
    /* {"StreamName":..,"Fragments":["n1","n2"]} built by hand */
    req_cap = lst.n + 256;
    req = malloc(req_cap);
    assert_non_null(req);
    req_len = (size_t)snprintf(req, req_cap, "{\"StreamName\":\"%s\",\"Fragments\":[", name);
    for (p = (char *)lst.d; (p = strstr(p, "\"FragmentNumber\"")) != NULL;) {
        char *q = strchr(p + 16, '"'), *e;
        assert_non_null(q);
        e = strchr(q + 1, '"');
        assert_non_null(e);
        req_len += (size_t)snprintf(req + req_len, req_cap - req_len, "%s\"%.*s\"",
                                    nfrag > 0 ? "," : "", (int)(e - q - 1), q + 1);
        nfrag++;
        p = e;
    }
    snprintf(req + req_len, req_cap - req_len, "]}");
    free(lst.d);
    if (nfrag == 0) {
        free(req);
        return 0;
    }
    assert_int_equal(post("/getMediaForFragmentList", req, &med), 200);
    free(req);
    assert_int_equal(cs_mkv_reader_init(&rd, NULL), CS_OK);
    for (;;) {
        assert_int_equal(cs_mkv_reader_next(&rd, med.d + pos, med.n - pos, &used, &ev), CS_OK);
        pos += used;
        if (ev.type == CS_MKV_EV_NONE) {
            break;
        }
        if (ev.type == CS_MKV_EV_FRAME) {
            uint64_t ts = (uint64_t)ev.u.block.timestamp_ns;
            uint64_t idx = (ts - ts0 / 1000000u * 1000000u + 999999u) / step;
            assert_true(idx < nframes);
            {
                const frame *fr = &frames[(idx + off) % NFRAMES];
                assert_int_equal(ev.u.block.data_len, fr->avcc_len);
                assert_memory_equal(ev.u.block.data, fr->avcc, fr->avcc_len);
                assert_int_equal(ev.u.block.key, fr->key);
                seen[idx]++;
            }
        }
    }
    do {
        assert_int_equal(cs_mkv_reader_end(&rd, &ev), CS_OK);
    } while (ev.type != CS_MKV_EV_NONE);
    free(med.d);
    return nfrag;
}

/* ---------------------------------------------------------------------------------------------- */
/* The producer                                                                                   */
/* ---------------------------------------------------------------------------------------------- */

typedef struct cbs {
    cs_mutex m;
    cs_drop drops[64];
    size_t n_drops;
    unsigned errors;
    unsigned fatal;
} cbs;

static void on_drop(void *ctx, cs_stream *s, const cs_drop *d)
{
    cbs *c = ctx;
    (void)s;
    cs_mutex_lock(&c->m);
    if (c->n_drops < 64) {
        c->drops[c->n_drops] = *d;
    }
    c->n_drops++;
    cs_mutex_unlock(&c->m);
}

static void on_error(void *ctx, cs_stream *s, cs_status st, int http, uint32_t id, bool fatal,
                     const char *msg)
{
    cbs *c = ctx;
    (void)s;
    (void)st;
    (void)http;
    (void)id;
    (void)msg;
    cs_mutex_lock(&c->m);
    c->fatal += fatal ? 1u : 0u;
    c->errors++;
    cs_mutex_unlock(&c->m);
}

static cs_transport *curl_transport(void)
{
    cs_transport_curl_config tc;
    cs_transport *t = NULL;

    cs_transport_curl_config_init(&tc);
    if (cs_transport_curl_create(&tc, &t) != CS_OK) {
        return NULL;
    }
    return t;
}

static cs_producer *producer(cs_transport *t)
{
    cs_producer_config pc;
    cs_producer *p = NULL;

    cs_producer_config_init(&pc);
    pc.endpoint = server_url;
    pc.access_key = AK;
    pc.secret_key = SK;
    pc.use_environment = false;
    pc.transport = t;
    pc.connect_timeout_ms = 2000;
    pc.request_timeout_ms = 2000;
    pc.stale_timeout_ms = 1500;
    pc.backoff_initial_ms = 20;
    pc.backoff_max_ms = 300;
    assert_int_equal(cs_producer_create(&pc, &p), CS_OK);
    return p;
}

static void stream_config(cs_stream_config *sc, const char *name, cbs *cb)
{
    cs_stream_config_init(sc);
    sc->name = name;
    sc->tracks[0].codec = CS_MKV_CODEC_ID_H264;
    sc->track_count = 1;
    sc->store_bytes = 2u << 20;
    sc->callbacks.on_drop = on_drop;
    sc->callbacks.on_error = on_error;
    sc->callbacks.ctx = cb;
}

static void run_one(fault_kind kind, unsigned index)
{
    cs_transport *inner = curl_transport();
    fault_transport *ft;
    cs_producer *p;
    cs_stream_config sc;
    cs_stream *s = NULL;
    cs_stream_metrics m;
    cbs cb;
    char name[64];
    unsigned seen[NFRAMES], nfrag;
    cs_status st;

    assert_non_null(inner);
    ft = fault_transport_create(inner, kind, index);
    assert_non_null(ft);
    memset(&cb, 0, sizeof(cb));
    assert_int_equal(cs_mutex_init(&cb.m), CS_OK);
    snprintf(name, sizeof(name), "fault-%s-%u", fault_kind_str(kind), index);
    p = producer(fault_transport_get(ft));
    stream_config(&sc, name, &cb);
    assert_int_equal(cs_stream_create(p, &sc, &s), CS_OK);
    for (size_t i = 0; i < NFRAMES; i++) {
        cs_frame f = CS_FRAME_INIT;
        f.data = frames[i].annexb;
        f.size = frames[i].annexb_len;
        f.pts_ns = BASE_NS + i * FRAME_NS;
        f.flags = frames[i].key ? CS_FRAME_KEY : 0;
        assert_int_equal(cs_stream_put_frame(s, &f), CS_OK);
        if (i == GOP - 1) {
            /* a first flush: the upload body ends, the next frames go on a new upload */
            st = cs_stream_flush(s, 30000);
            assert_int_equal(st, CS_OK);
        }
        if (i == 2 * GOP + 3) {
            cs_clock_sleep_ns(NULL, 100000000u); /* let part of it go out first */
        }
    }
    st = cs_stream_flush(s, 30000);
    cs_stream_get_metrics(s, &m);
    cs_stream_destroy(&s);
    cs_producer_destroy(&p); /* the I/O thread is joined: the counters below are settled */
    printf("  %-10s call %u: flush %s, fired %d, calls %u, connections %" PRIu64
           ", errors %u, persisted %" PRIu64 "\n",
           fault_kind_str(kind), index, cs_status_str(st), fault_transport_fired(ft),
           fault_transport_calls(ft), m.connections, cb.errors, m.fragments_persisted);
    assert_int_equal(st, CS_OK);
    assert_int_equal(cb.fatal, 0);
    assert_int_equal(cb.n_drops, 0); /* nothing dropped, nothing unpersisted at destroy */
    assert_int_equal(m.frames_dropped, 0);
    fault_transport_destroy(ft);
    inner->destroy(inner->self);
    cs_mutex_destroy(&cb.m);

    nfrag = server_frames(name, BASE_NS, FRAME_NS, 0, seen, NFRAMES);
    assert_int_equal(nfrag, NFRAMES / GOP);
    for (size_t i = 0; i < NFRAMES; i++) {
        if (seen[i] != 1) {
            fail_msg("%s call %u: frame %zu stored %u times", fault_kind_str(kind), index, i,
                     seen[i]);
        }
    }
}

static void test_faults_at_every_call(void **state)
{
    (void)state;
    run_one(FAULT_NONE, 0);
    for (unsigned k = FAULT_FAIL_START; k <= FAULT_STALL; k++) {
        for (unsigned n = 1; n <= MAX_INDEX; n++) {
            run_one((fault_kind)k, n);
        }
    }
}

/* A fragment the server refuses for good (4002: longer than 10 s) is dropped and reported once;
 * the stream carries on. */
static void test_rejected_fragment(void **state)
{
    cs_transport *inner = curl_transport();
    cs_producer *p;
    cs_stream_config sc;
    cs_stream *s = NULL;
    cs_stream_metrics m;
    cbs cb;
    const char *name = "rejected-4002";
    const uint64_t step = 400000000ull; /* 400 ms between frames */
    const size_t n = 2 * GOP + GOP;     /* GOP 0: 30 frames = 12 s, then 2 normal GOPs */
    unsigned seen[3 * GOP];
    (void)state;

    assert_non_null(inner);
    memset(&cb, 0, sizeof(cb));
    assert_int_equal(cs_mutex_init(&cb.m), CS_OK);
    p = producer(inner);
    stream_config(&sc, name, &cb);
    sc.max_fragment_ms = 20000; /* let the producer make a fragment the server refuses */
    assert_int_equal(cs_stream_create(p, &sc, &s), CS_OK);
    for (size_t i = 0; i < n; i++) {
        cs_frame f = CS_FRAME_INIT;
        /* the first GOP is 12 s long, the next ones are 30 frames 1/10 s apart */
        uint64_t ts = i < GOP ? BASE_NS + i * step : BASE_NS + GOP * step + (i - GOP) * step / 4;
        f.data = frames[i % NFRAMES].annexb;
        f.size = frames[i % NFRAMES].annexb_len;
        f.pts_ns = ts;
        f.flags = frames[i % NFRAMES].key ? CS_FRAME_KEY : 0;
        assert_int_equal(cs_stream_put_frame(s, &f), CS_OK);
    }
    assert_int_equal(cs_stream_flush(s, 30000), CS_OK);
    cs_stream_get_metrics(s, &m);
    assert_int_equal(cb.n_drops, 1);
    assert_int_equal(cb.drops[0].reason, CS_DROP_REJECTED);
    assert_int_equal(cb.drops[0].error_id, 4002);
    assert_int_equal(cb.drops[0].frames, GOP);
    assert_int_equal(cb.drops[0].first_ts_ns, BASE_NS);
    assert_int_equal(cb.drops[0].last_ts_ns, BASE_NS + (GOP - 1) * step);
    assert_int_equal(m.fragments_dropped, 1);
    assert_int_equal(m.frames_dropped, GOP);
    assert_int_equal(m.fragments_persisted, 2);
    assert_int_equal(m.acks_error, 1);
    cs_stream_destroy(&s);
    cs_producer_destroy(&p);
    assert_int_equal(cb.n_drops, 1);
    inner->destroy(inner->self);
    cs_mutex_destroy(&cb.m);
    /* the server holds the two later GOPs, once each */
    assert_int_equal(server_frames(name, BASE_NS + GOP * step, step / 4, GOP, seen, 2 * GOP), 2);
    for (size_t i = 0; i < 2 * GOP; i++) {
        assert_int_equal(seen[i], 1);
    }
}

/* The upload stalls while a store too small for the backlog fills: the oldest whole fragments
 * are evicted and reported, the stale connection is replaced, and in the end every frame is on
 * the server exactly once or was reported dropped, never both, never neither. */
static void test_small_store_outage(void **state)
{
    cs_transport *inner = curl_transport();
    fault_transport *ft;
    cs_producer *p;
    cs_stream_config sc;
    cs_stream *s = NULL;
    cs_stream_metrics m;
    cbs cb;
    const char *name = "small-store-outage";
    enum { N = 9 * GOP };
    static unsigned seen[N];
    unsigned dropped_frames = 0, reported = 0;
    (void)state;

    assert_non_null(inner);
    ft = fault_transport_create(inner, FAULT_STALL, 5); /* the first upload */
    assert_non_null(ft);
    memset(&cb, 0, sizeof(cb));
    assert_int_equal(cs_mutex_init(&cb.m), CS_OK);
    p = producer(fault_transport_get(ft));
    stream_config(&sc, name, &cb);
    sc.store_bytes = 512u * 1024u; /* about 3.5 GOPs */
    assert_int_equal(cs_stream_create(p, &sc, &s), CS_OK);
    for (size_t i = 0; i < N; i++) {
        cs_frame f = CS_FRAME_INIT;
        f.data = frames[i % NFRAMES].annexb;
        f.size = frames[i % NFRAMES].annexb_len;
        f.pts_ns = BASE_NS + i * FRAME_NS;
        f.flags = frames[i % NFRAMES].key ? CS_FRAME_KEY : 0;
        assert_int_equal(cs_stream_put_frame(s, &f), CS_OK);
        if (i == GOP) {
            /* the first acks arrive, then the upload stalls: the rest piles up */
            for (int w = 0; w < 500 && !fault_transport_fired(ft); w++) {
                cs_clock_sleep_ns(NULL, 10000000u);
            }
            assert_true(fault_transport_fired(ft));
        }
    }
    assert_int_equal(cs_stream_flush(s, 60000), CS_OK);
    cs_stream_get_metrics(s, &m);
    cs_stream_destroy(&s);
    cs_producer_destroy(&p);
    fault_transport_destroy(ft);
    inner->destroy(inner->self);
    assert_true(cb.n_drops > 0 && cb.n_drops <= 64);
    assert_true(m.reconnects >= 1); /* stale or discontinuity: the stalled upload was replaced */
    server_frames(name, BASE_NS, FRAME_NS, 0, seen, N);
    for (size_t d = 0; d < cb.n_drops; d++) {
        assert_int_equal(cb.drops[d].reason, CS_DROP_EVICTED);
        reported += cb.drops[d].frames;
    }
    for (size_t i = 0; i < N; i++) {
        uint64_t ts = BASE_NS + i * FRAME_NS;
        unsigned in_drop = 0;
        bool maybe = false;
        for (size_t d = 0; d < cb.n_drops; d++) {
            bool in = ts >= cb.drops[d].first_ts_ns && ts <= cb.drops[d].last_ts_ns;
            in_drop += in;
            maybe = maybe || (in && cb.drops[d].maybe_stored);
        }
        /* Stored once, or reported; a report of data that went out unacknowledged says the
         * server may hold it (its ack was lost with the stalled connection). */
        if (seen[i] > 1 || in_drop > 1 || (seen[i] + in_drop != 1 && !(maybe && seen[i] == 1))) {
            fail_msg("frame %zu: stored %u times, in %u drop reports", i, seen[i], in_drop);
        }
        dropped_frames += in_drop;
    }
    assert_int_equal(dropped_frames, reported);
    assert_int_equal(m.frames_dropped, reported);
    printf("  outage with a 512 KiB store: %u of %d frames dropped in %zu reports, %" PRIu64
           " reconnects\n",
           reported, N, cb.n_drops, m.reconnects);
    cs_mutex_destroy(&cb.m);
}

/* A counting allocator safe for two threads (the I/O thread allocates transport slots). */
typedef struct counting {
    cs_allocator a;
    cs_mutex m;
    size_t calls, live;
} counting;

static void *c_alloc(void *ctx, size_t n)
{
    counting *c = ctx;
    void *p = malloc(n);
    cs_mutex_lock(&c->m);
    c->calls++;
    c->live += p != NULL;
    cs_mutex_unlock(&c->m);
    return p;
}

static void c_free(void *ctx, void *p)
{
    counting *c = ctx;
    cs_mutex_lock(&c->m);
    c->live--;
    cs_mutex_unlock(&c->m);
    free(p);
}

static size_t c_calls(counting *c)
{
    size_t n;
    cs_mutex_lock(&c->m);
    n = c->calls;
    cs_mutex_unlock(&c->m);
    return n;
}

/* Once streaming, frames, uploads (a new one after each flush), acks and frees allocate nothing
 * through the producer's allocator (the default libcurl transport included; libcurl's own
 * allocations are its business, see docs/producer.md). */
static void test_no_alloc_while_streaming(void **state)
{
    counting ca;
    cs_producer_config pc;
    cs_producer *p = NULL;
    cs_stream_config sc;
    cs_stream *s = NULL;
    cs_stream_metrics m;
    size_t before;
    cbs cb;
    (void)state;

    memset(&ca, 0, sizeof(ca));
    assert_int_equal(cs_mutex_init(&ca.m), CS_OK);
    ca.a.alloc = c_alloc;
    ca.a.free = c_free;
    ca.a.ctx = &ca;
    memset(&cb, 0, sizeof(cb));
    assert_int_equal(cs_mutex_init(&cb.m), CS_OK);
    cs_producer_config_init(&pc);
    pc.endpoint = server_url;
    pc.access_key = AK;
    pc.secret_key = SK;
    pc.allocator = &ca.a;
    assert_int_equal(cs_producer_create(&pc, &p), CS_OK);
    stream_config(&sc, "no-alloc", &cb);
    assert_int_equal(cs_stream_create(p, &sc, &s), CS_OK);
    before = 0;
    for (size_t round = 0; round < 3; round++) {
        for (size_t i = 0; i < NFRAMES; i++) {
            cs_frame f = CS_FRAME_INIT;
            f.data = frames[i].annexb;
            f.size = frames[i].annexb_len;
            f.pts_ns = BASE_NS + (round * NFRAMES + i) * FRAME_NS;
            f.flags = frames[i].key ? CS_FRAME_KEY : 0;
            assert_int_equal(cs_stream_put_frame(s, &f), CS_OK);
        }
        assert_int_equal(cs_stream_flush(s, 30000), CS_OK);
        if (round == 0) {
            before = c_calls(&ca); /* warmed up: connections and slots made */
        }
    }
    cs_stream_get_metrics(s, &m);
    printf("  %zu allocations before streaming, %zu over %d frames, %" PRIu64 " acks, %" PRIu64
           " uploads after\n",
           before, c_calls(&ca) - before, 2 * NFRAMES,
           m.fragments_buffering + m.fragments_received + m.fragments_persisted, m.connections);
    assert_int_equal(c_calls(&ca), before);
    assert_int_equal(m.fragments_persisted, 3 * NFRAMES / GOP);
    cs_stream_destroy(&s);
    cs_producer_destroy(&p);
    assert_int_equal(ca.live, 0);
    cs_mutex_destroy(&ca.m);
    cs_mutex_destroy(&cb.m);
}

/* A camera that pauses in the middle of a fragment leaves it open on the server (it ends at the
 * next Cluster): that is not a stale connection, nothing is replaced, and the fragment goes on
 * when frames come again. */
static void test_paused_producer_not_stale(void **state)
{
    cs_transport *inner = curl_transport();
    cs_producer *p;
    cs_stream_config sc;
    cs_stream *s = NULL;
    cs_stream_metrics m;
    unsigned seen[NFRAMES];
    cbs cb;
    (void)state;

    assert_non_null(inner);
    memset(&cb, 0, sizeof(cb));
    assert_int_equal(cs_mutex_init(&cb.m), CS_OK);
    p = producer(inner); /* stale_timeout_ms 1500 */
    stream_config(&sc, "paused", &cb);
    assert_int_equal(cs_stream_create(p, &sc, &s), CS_OK);
    for (size_t i = 0; i < NFRAMES; i++) {
        cs_frame f = CS_FRAME_INIT;
        f.data = frames[i].annexb;
        f.size = frames[i].annexb_len;
        f.pts_ns = BASE_NS + i * FRAME_NS;
        f.flags = frames[i].key ? CS_FRAME_KEY : 0;
        assert_int_equal(cs_stream_put_frame(s, &f), CS_OK);
        if (i == GOP + 10) {
            cs_clock_sleep_ns(NULL, 4000000000ull); /* more than twice stale_timeout_ms */
            cs_stream_get_metrics(s, &m);
            assert_int_equal(m.errors_stale, 0);
            assert_int_equal(m.connections, 1);
            assert_int_equal(m.fragments_persisted, 1); /* GOP 0; GOP 1 is open */
        }
    }
    assert_int_equal(cs_stream_flush(s, 30000), CS_OK);
    cs_stream_get_metrics(s, &m);
    assert_int_equal(m.errors_stale, 0);
    cs_stream_destroy(&s);
    cs_producer_destroy(&p);
    inner->destroy(inner->self);
    cs_mutex_destroy(&cb.m);
    assert_int_equal(server_frames("paused", BASE_NS, FRAME_NS, 0, seen, NFRAMES), 3);
    for (size_t i = 0; i < NFRAMES; i++) {
        assert_int_equal(seen[i], 1);
    }
}

static void wait_state(cs_stream *s, cs_stream_state want)
{
    for (int i = 0; i < 1000 && cs_stream_get_state(s) != want; i++) {
        cs_clock_sleep_ns(NULL, 10000000u);
    }
    assert_int_equal(cs_stream_get_state(s), want);
}

/* Failures retrying cannot fix stop the stream for good, with a fatal on_error: a stream that
 * does not exist with create_if_missing off (404), and a key the server refuses (403). */
static void test_fatal_errors(void **state)
{
    cs_transport *inner = curl_transport();
    cs_producer_config pc;
    cs_producer *p;
    cs_stream_config sc;
    cs_stream *s = NULL;
    cs_stream_metrics m;
    cs_frame f = CS_FRAME_INIT;
    cbs cb;
    (void)state;

    assert_non_null(inner);
    memset(&cb, 0, sizeof(cb));
    assert_int_equal(cs_mutex_init(&cb.m), CS_OK);
    p = producer(inner);
    stream_config(&sc, "never-created", &cb);
    sc.create_if_missing = false;
    assert_int_equal(cs_stream_create(p, &sc, &s), CS_OK);
    wait_state(s, CS_STREAM_STATE_STOPPED);
    assert_int_equal(cb.fatal, 1);
    f.data = frames[0].annexb;
    f.size = frames[0].annexb_len;
    f.pts_ns = BASE_NS;
    f.flags = CS_FRAME_KEY;
    assert_int_equal(cs_stream_put_frame(s, &f), CS_E_STATE);
    assert_int_equal(cs_stream_flush(s, 1000), CS_E_STATE);
    cs_stream_destroy(&s);
    cs_producer_destroy(&p);

    cs_producer_config_init(&pc);
    pc.endpoint = server_url;
    pc.access_key = AK;
    pc.secret_key = "not-the-secret";
    pc.transport = inner;
    assert_int_equal(cs_producer_create(&pc, &p), CS_OK);
    cb.fatal = 0;
    stream_config(&sc, "wrong-key", &cb);
    assert_int_equal(cs_stream_create(p, &sc, &s), CS_OK);
    wait_state(s, CS_STREAM_STATE_STOPPED);
    cs_stream_get_metrics(s, &m);
    assert_int_equal(cb.fatal, 1);
    assert_int_equal(m.errors_auth, 1);
    cs_stream_destroy(&s);
    cs_producer_destroy(&p);
    inner->destroy(inner->self);
    cs_mutex_destroy(&cb.m);
}

int main(void)
{
    const char *bin = getenv("CS_INGEST");
    cs_transport *t;
    int rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_faults_at_every_call),
        cmocka_unit_test(test_rejected_fragment),
        cmocka_unit_test(test_small_store_outage),
        cmocka_unit_test(test_fatal_errors),
        cmocka_unit_test(test_no_alloc_while_streaming),
        cmocka_unit_test(test_paused_producer_not_stale),
    };

    if (bin == NULL || access(bin, X_OK) != 0) {
        printf("skipped: CS_INGEST (camstream-ingest) not set or not executable\n");
        return 77;
    }
    t = curl_transport();
    if (t == NULL) {
        printf("skipped: no libcurl transport in this build\n");
        return 77;
    }
    t->destroy(t->self);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!server_start(bin)) {
        printf("cannot start %s\n", bin);
        return 1;
    }
    make_frames();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    server_stop();
    for (size_t i = 0; i < NFRAMES; i++) {
        free(frames[i].annexb);
        free(frames[i].avcc);
    }
    curl_global_cleanup();
    return rc;
}
