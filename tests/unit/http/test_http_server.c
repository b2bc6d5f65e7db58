/* SPDX-License-Identifier: Apache-2.0 */
/* Integration tests of the ingest server's HTTP stack: a real server (the test routes) on an
 * ephemeral loopback port, driven by libcurl (HTTP/1.1, HTTP/2 prior knowledge, TLS with ALPN)
 * and by raw sockets where curl is too polite (pipelining, idle and slow clients). The full
 * duplex proof: the upload's read callback sends the next piece only after the ack line of the
 * previous one has arrived on the response, so a server that answers only after the body ends
 * would deadlock (the transfer then fails on its timeout). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "routes.h"
#include "testutil.h"

#define MAX_BODY (1024 * 1024)
#define IDLE_MS 400
#define SLOW_MS 3000

static cs_http_server *g_srv;
static uint16_t g_port;
static char g_base[64]; /* scheme://host:port used by easy() */

static double now_s(void)
{
    return (double)cs_clock_monotonic_ns(NULL) / 1e9;
}

struct buf {
    char *d;
    size_t n;
};

static size_t buf_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct buf *b = ud;
    size_t n = size * nmemb;
    char *d = realloc(b->d, b->n + n + 1);
    if (d == NULL) {
        return 0;
    }
    memcpy(d + b->n, ptr, n);
    b->d = d;
    b->n += n;
    b->d[b->n] = '\0';
    return n;
}

static CURL *easy(const char *path, long version, struct buf *out)
{
    CURL *h = curl_easy_init();
    char url[256];
    snprintf(url, sizeof(url), "%s%s", g_base, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L); /* the TLS test's self-signed cert */
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    if (version == CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE) {
        /* curl 7.88.1 cannot reuse an h2c connection (curl issue #10634, fixed in 8.0). */
        curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    }
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, version);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, buf_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    return h;
}

static long status_of(CURL *h)
{
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

static long version_of(CURL *h)
{
    long v = 0;
    curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &v);
    return v;
}

static int setup(void **state)
{
    cs_http_server_config cfg;
    (void)state;
    curl_global_init(CURL_GLOBAL_ALL);
    cs_http_server_config_init(&cfg);
    cfg.max_body_bytes = MAX_BODY;
    cfg.poll_loop = getenv("CS_HTTP_POLL_LOOP") != NULL; /* the *_poll variant */
    cfg.idle_timeout_ms = IDLE_MS;
    cfg.slow_client_timeout_ms = SLOW_MS;
    if (cs_http_server_create(&cfg, &g_srv) != CS_OK || cs_test_http_add_routes(g_srv) != CS_OK ||
        cs_http_server_start(g_srv) != CS_OK) {
        return -1;
    }
    g_port = cs_http_server_port(g_srv);
    /* make test installs libev and lws' evlib plugin: the default loop is epoll there */
    if (strcmp(cs_http_server_event_loop(g_srv), cfg.poll_loop ? "poll" : "epoll") != 0) {
        fprintf(stderr, "event loop %s, wanted %s\n", cs_http_server_event_loop(g_srv),
                cfg.poll_loop ? "poll" : "epoll");
        return -1;
    }
    snprintf(g_base, sizeof(g_base), "http://127.0.0.1:%u", g_port);
    return g_port != 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cs_http_server_destroy(&g_srv);
    curl_global_cleanup();
    return 0;
}

/* ---- plain requests, keep-alive, router ---- */

static void test_hello_keepalive(void **state)
{
    cs_http_server_stats before;
    cs_http_server_stats after;
    struct buf b = {0};
    CURL *h = easy("/hello", CURL_HTTP_VERSION_1_1, &b);
    (void)state;

    cs_http_server_get_stats(g_srv, &before);
    for (int i = 0; i < 3; i++) {
        long connects = -1;
        assert_int_equal(curl_easy_perform(h), CURLE_OK);
        assert_int_equal(status_of(h), 200);
        curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
        assert_int_equal(connects, i == 0 ? 1 : 0); /* reused after the first */
    }
    assert_string_equal(b.d, "hello\nhello\nhello\n");
    cs_http_server_get_stats(g_srv, &after);
    assert_int_equal(after.connections_accepted - before.connections_accepted, 1);
    curl_easy_cleanup(h);
    free(b.d);
}

static void test_router(void **state)
{
    struct buf b = {0};
    struct curl_slist *hdrs = curl_slist_append(NULL, "X-Amz-Target: Kinesis_20131202.ListStreams");
    CURL *h = easy("/", CURL_HTTP_VERSION_1_1, &b);
    (void)state;

    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{}");
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    assert_int_equal(status_of(h), 200);
    assert_string_equal(b.d, "ListStreams\n");
    /* Without the header, nothing matches: 404. */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    assert_int_equal(status_of(h), 404);
    curl_easy_cleanup(h);
    /* Same over HTTP/2 prior knowledge. */
    b.n = 0;
    h = easy("/", CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, &b);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{}");
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    assert_int_equal(status_of(h), 200);
    assert_int_equal(version_of(h), CURL_HTTP_VERSION_2_0);
    assert_string_equal(b.d, "ListStreams\n");
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    free(b.d);
}

/* ---- full duplex: the PutMedia shape ---- */

struct duplex {
    CURL *h;
    int total;
    int sent;
    int acked;
    int end_seen;
    int paused;
    int max_ahead;
    size_t piece;
    char line[256];
    size_t line_len;
};

static size_t duplex_read(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct duplex *d = ud;
    size_t cap = size * nmemb;
    size_t n = d->piece < cap ? d->piece : cap;

    if (d->sent == d->total) {
        return 0;
    }
    if (d->sent > d->acked) { /* wait for the ack of the previous piece */
        d->paused = 1;
        return CURL_READFUNC_PAUSE;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        ptr[i] = (char)('a' + (d->sent + (int)i) % 26);
    }
    ptr[n - 1] = '\n';
    d->sent++;
    if (d->sent - d->acked > d->max_ahead) {
        d->max_ahead = d->sent - d->acked;
    }
    return n;
}

static size_t duplex_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct duplex *d = ud;
    size_t n = size * nmemb;

    for (size_t i = 0; i < n; i++) {
        if (ptr[i] != '\n') {
            if (d->line_len + 1 < sizeof(d->line)) {
                d->line[d->line_len++] = ptr[i];
            }
            continue;
        }
        d->line[d->line_len] = '\0';
        if (strstr(d->line, "\"RECEIVED\"") != NULL) {
            d->acked++;
        } else if (strstr(d->line, "\"END\"") != NULL) {
            d->end_seen = 1;
        }
        d->line_len = 0;
    }
    if (d->paused && d->acked >= d->sent) {
        d->paused = 0;
        curl_easy_pause(d->h, CURLPAUSE_CONT);
    }
    return n;
}

static void run_duplex(const char *scheme_host, long version, int pieces, size_t piece)
{
    struct duplex d = {0};
    struct curl_slist *hdrs = NULL;
    char url[256];
    CURL *h = curl_easy_init();
    long v;

    d.h = h;
    d.total = pieces;
    d.piece = piece;
    snprintf(url, sizeof(url), "%s/ack", scheme_host);
    if (version != CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE && version != CURL_HTTP_VERSION_2TLS) {
        hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, version);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, duplex_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &d);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, duplex_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &d);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L); /* a half-duplex server deadlocks into this */
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    assert_int_equal(status_of(h), 200);
    assert_int_equal(d.acked, pieces);
    assert_int_equal(d.end_seen, 1);
    assert_int_equal(d.max_ahead, 1); /* never more than one piece without its ack */
    v = version_of(h);
    if (version == CURL_HTTP_VERSION_1_1) {
        assert_int_equal(v, CURL_HTTP_VERSION_1_1);
    } else {
        assert_int_equal(v, CURL_HTTP_VERSION_2_0);
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
}

static void test_duplex_h1(void **state)
{
    char base[64];
    (void)state;
    snprintf(base, sizeof(base), "http://127.0.0.1:%u", g_port);
    run_duplex(base, CURL_HTTP_VERSION_1_1, 200, 4000);
}

static void test_duplex_h2c(void **state)
{
    char base[64];
    (void)state;
    snprintf(base, sizeof(base), "http://127.0.0.1:%u", g_port);
    run_duplex(base, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, 200, 4000);
}

/* ---- large bodies both ways: echo while uploading ---- */

struct gen {
    size_t total;
    size_t off;
    uint64_t sum;
};

static size_t gen_read(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct gen *g = ud;
    size_t n = size * nmemb;
    if (n > g->total - g->off) {
        n = g->total - g->off;
    }
    for (size_t i = 0; i < n; i++) {
        ptr[i] = (char)((g->off + i) * 7 % 251);
        g->sum += (uint8_t)ptr[i];
    }
    g->off += n;
    return n;
}

struct sink {
    size_t n;
    uint64_t sum;
};

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;
    size_t n = size * nmemb;
    for (size_t i = 0; i < n; i++) {
        s->sum += (uint8_t)ptr[i];
    }
    s->n += n;
    return n;
}

static void run_echo(long version, size_t total)
{
    struct gen g = {total, 0, 0};
    struct sink s = {0};
    struct buf unused = {0};
    struct curl_slist *hdrs = NULL;
    CURL *h = easy("/echo", version, &unused);

    if (version == CURL_HTTP_VERSION_1_1) {
        hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
    }
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, gen_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &g);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    assert_int_equal(status_of(h), 200);
    assert_true(s.n == total);
    assert_true(s.sum == g.sum);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
}

static void test_echo_large(void **state)
{
    (void)state;
    run_echo(CURL_HTTP_VERSION_1_1, 32u * 1024 * 1024);
    run_echo(CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, 32u * 1024 * 1024);
}

/* ---- back-pressure: the handler pauses the body after every piece ---- */

static void run_pause(long version)
{
    const size_t total = 4u * 1024 * 1024;
    char *body = malloc(total);
    uint64_t sum = 0;
    unsigned long long got_n = 0;
    unsigned long long got_sum = 0;
    unsigned long long pieces = 0;
    struct buf b = {0};
    CURL *h = easy("/pause", version, &b);

    for (size_t i = 0; i < total; i++) {
        body[i] = (char)(i * 13 % 256);
        sum += (uint8_t)body[i];
    }
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)total);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    assert_int_equal(status_of(h), 200);
    assert_non_null(b.d);
    assert_int_equal(sscanf(b.d, "%llu %llu %llu", &got_n, &got_sum, &pieces), 3);
    assert_true(got_n == total);
    assert_true(got_sum == sum);
    assert_true(pieces > 1);
    curl_easy_cleanup(h);
    free(b.d);
    free(body);
}

static void test_pause_h1(void **state)
{
    (void)state;
    run_pause(CURL_HTTP_VERSION_1_1);
}

static void test_pause_h2c(void **state)
{
    (void)state;
    run_pause(CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
}

/* ---- Expect: 100-continue ---- */

static void test_expect_continue(void **state)
{
    size_t n = 200000;
    char *body = malloc(n);
    struct buf b = {0};
    struct curl_slist *hdrs = curl_slist_append(NULL, "Expect: 100-continue");
    CURL *h = easy("/echo-buffered", CURL_HTTP_VERSION_1_1, &b);
    double t0;
    (void)state;

    memset(body, 'x', n);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    /* curl would send the body anyway after this long: we must answer well before it. */
    curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 10000L);
    t0 = now_s();
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    assert_true(now_s() - t0 < 5.0);
    assert_int_equal(status_of(h), 200);
    assert_true(b.n == n);
    /* Over the limit: 413 at once, and the body is never sent. */
    n = 2 * MAX_BODY;
    body = realloc(body, n);
    memset(body, 'y', n);
    b.n = 0;
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    t0 = now_s();
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    assert_true(now_s() - t0 < 5.0);
    assert_int_equal(status_of(h), 413);
    {
        curl_off_t up = -1;
        curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &up);
        assert_true(up < (curl_off_t)n);
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    free(body);
    free(b.d);
}

/* ---- limits: 413, 431 ---- */

static void test_limits(void **state)
{
    static const long versions[] = {CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE};
    char *big = malloc(40000);
    (void)state;

    for (size_t v = 0; v < 2; v++) {
        struct buf b = {0};
        struct curl_slist *hdrs;
        struct gen g = {3u * MAX_BODY, 0, 0};
        CURL *h;

        /* A chunked body that grows past max_body_bytes on a non-streaming route. */
        h = easy("/echo-buffered", versions[v], &b);
        hdrs = versions[v] == CURL_HTTP_VERSION_1_1
                   ? curl_slist_append(NULL, "Transfer-Encoding: chunked")
                   : NULL;
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, gen_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &g);
        curl_easy_perform(h); /* the upload may be cut short: only the status matters */
        assert_int_equal(status_of(h), 413);
        curl_easy_cleanup(h);
        curl_slist_free_all(hdrs);

        /* A header block over max_header_bytes (16 KiB). */
        strcpy(big, "X-Big: ");
        memset(big + 7, 'a', 20000);
        big[20007] = '\0';
        hdrs = curl_slist_append(NULL, big);
        h = easy("/hello", versions[v], &b);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_perform(h);
        assert_int_equal(status_of(h), 431);
        curl_easy_cleanup(h);
        curl_slist_free_all(hdrs);

        /* Too many headers (max 100). */
        hdrs = NULL;
        for (int i = 0; i < 150; i++) {
            char line[32];
            snprintf(line, sizeof(line), "X-H%d: v", i);
            hdrs = curl_slist_append(hdrs, line);
        }
        h = easy("/hello", versions[v], &b);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_perform(h);
        assert_int_equal(status_of(h), 431);
        curl_easy_cleanup(h);
        curl_slist_free_all(hdrs);

        /* And the server is still fine. */
        h = easy("/hello", versions[v], &b);
        assert_int_equal(curl_easy_perform(h), CURLE_OK);
        assert_int_equal(status_of(h), 200);
        curl_easy_cleanup(h);
        free(b.d);
    }
    free(big);
}

/* ---- many connections, many streams ---- */

static void run_many(long version, int n, bool reuse)
{
    CURLM *m = curl_multi_init();
    CURL **hs = calloc((size_t)n, sizeof(*hs));
    struct buf *bs = calloc((size_t)n, sizeof(*bs));
    char **bodies = calloc((size_t)n, sizeof(*bodies));
    int running = 1;
    int done = 0;

    curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, reuse ? 1L : 0L);
    for (int i = 0; i < n; i++) {
        size_t len = 10000 + (size_t)i;
        bodies[i] = malloc(len);
        for (size_t k = 0; k < len; k++) {
            bodies[i][k] = (char)('A' + (i + (int)k) % 26);
        }
        hs[i] = easy("/echo-buffered", version, &bs[i]);
        curl_easy_setopt(hs[i], CURLOPT_POSTFIELDS, bodies[i]);
        curl_easy_setopt(hs[i], CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        if (reuse) {
            curl_easy_setopt(hs[i], CURLOPT_PIPEWAIT, 1L);
        } else {
            curl_easy_setopt(hs[i], CURLOPT_FRESH_CONNECT, 1L);
            curl_easy_setopt(hs[i], CURLOPT_FORBID_REUSE, 1L);
        }
        curl_multi_add_handle(m, hs[i]);
    }
    while (running) {
        CURLMsg *msg;
        int left;
        curl_multi_perform(m, &running);
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            if (msg->msg == CURLMSG_DONE) {
                assert_int_equal(msg->data.result, CURLE_OK);
                done++;
            }
        }
        if (running) {
            curl_multi_poll(m, NULL, 0, 1000, NULL);
        }
    }
    assert_int_equal(done, n);
    for (int i = 0; i < n; i++) {
        size_t len = 10000 + (size_t)i;
        assert_int_equal(status_of(hs[i]), 200);
        assert_true(bs[i].n == len);
        assert_memory_equal(bs[i].d, bodies[i], len);
        curl_multi_remove_handle(m, hs[i]);
        curl_easy_cleanup(hs[i]);
        free(bs[i].d);
        free(bodies[i]);
    }
    curl_multi_cleanup(m);
    free(hs);
    free(bs);
    free(bodies);
}

static void test_many_connections(void **state)
{
    cs_http_server_stats before;
    cs_http_server_stats after;
    (void)state;

    cs_http_server_get_stats(g_srv, &before);
    run_many(CURL_HTTP_VERSION_1_1, 200, false);
    cs_http_server_get_stats(g_srv, &after);
    assert_true(after.connections_accepted - before.connections_accepted >= 200);
}

static void test_h2c_streams(void **state)
{
    cs_http_server_stats before;
    cs_http_server_stats after;
    const char *dir = cs_test_tmpdir("http_h2load");
    (void)state;

    /* curl 7.88.1 cannot multiplex h2c (see easy()); nghttp2's h2load can: 8 connections with
     * 32 concurrent streams each, 2000 requests. Over TLS, test_tls multiplexes with curl. */
    if (cs_test_sh("command -v h2load >/dev/null 2>&1") != 0) {
        skip();
    }
    cs_http_server_get_stats(g_srv, &before);
    assert_int_equal(cs_test_sh("h2load -n 2000 -c 8 -m 32 %s/hello 2>&1 | grep -q "
                                "'2000 succeeded, 0 failed, 0 errored'",
                                g_base),
                     0);
    /* And uploads: 400 POSTs of 64 KiB. */
    assert_int_equal(cs_test_sh("head -c 65536 /dev/urandom > %s/body && "
                                "h2load -n 400 -c 4 -m 16 -d %s/body %s/echo-buffered 2>&1 | "
                                "grep -q '400 succeeded, 0 failed, 0 errored'",
                                dir, dir, g_base),
                     0);
    cs_http_server_get_stats(g_srv, &after);
    assert_true(after.requests - before.requests == 2400);
    assert_true(after.h2_connections - before.h2_connections == 12);
}

/* ---- the worker pool keeps the loop free ---- */

static void test_worker_pool(void **state)
{
    CURLM *m = curl_multi_init();
    CURL *slow;
    CURL *quick[20];
    struct buf bs = {0};
    struct buf bq[20];
    double t0 = now_s();
    double slow_done = 0;
    double last_quick = 0;
    int running = 1;
    (void)state;

    memset(bq, 0, sizeof(bq));
    slow = easy("/slow?ms=800", CURL_HTTP_VERSION_1_1, &bs);
    curl_multi_add_handle(m, slow);
    for (int i = 0; i < 20; i++) {
        quick[i] = easy(
            "/hello", i % 2 ? CURL_HTTP_VERSION_1_1 : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, &bq[i]);
        curl_multi_add_handle(m, quick[i]);
    }
    while (running) {
        CURLMsg *msg;
        int left;
        curl_multi_perform(m, &running);
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE) {
                continue;
            }
            assert_int_equal(msg->data.result, CURLE_OK);
            if (msg->easy_handle == slow) {
                slow_done = now_s() - t0;
            } else {
                last_quick = now_s() - t0;
            }
        }
        if (running) {
            curl_multi_poll(m, NULL, 0, 1000, NULL);
        }
    }
    assert_string_equal(bs.d, "slow\n");
    assert_true(slow_done >= 0.75);
    assert_true(last_quick < slow_done); /* the loop never waited for the job */
    for (int i = 0; i < 20; i++) {
        assert_int_equal(status_of(quick[i]), 200);
        curl_multi_remove_handle(m, quick[i]);
        curl_easy_cleanup(quick[i]);
        free(bq[i].d);
    }
    curl_multi_remove_handle(m, slow);
    curl_easy_cleanup(slow);
    curl_multi_cleanup(m);
    free(bs.d);
}

/* ---- deferred job completions (cs_http_job_defer) ---- */

/* Runs the multi handle until `h` is done (or `until` says stop); returns false on a timeout. */
static bool run_until(CURLM *m, CURL *h, size_t (*until)(void), size_t want)
{
    int running = 1;
    for (int spins = 0; spins < 30000; spins++) {
        CURLMsg *msg;
        int left;
        curl_multi_perform(m, &running);
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == h) {
                return true;
            }
        }
        if (until != NULL && until() >= want) {
            return true;
        }
        curl_multi_poll(m, NULL, 0, 10, NULL);
    }
    return false;
}

/* A job completed from inside itself answers; gated jobs (more than the pool has workers) all
 * park their completion and free their worker: a plain job still runs meanwhile and none of the
 * gated requests is answered until their completions come, then each gets exactly one `done`,
 * after its job. */
static void test_job_defer(void **state)
{
    enum { GATED = 10 }; /* the pool has 4 workers */
    CURLM *m = curl_multi_init();
    CURL *g[GATED], *slow, *open;
    struct buf bg[GATED], bs = {0}, bo = {0}, be = {0};
    CURL *early = easy("/defer?early", CURL_HTTP_VERSION_1_1, &be);
    long done_gated = 0;
    (void)state;

    assert_int_equal(curl_easy_perform(early), CURLE_OK);
    assert_int_equal(status_of(early), 200);
    assert_string_equal(be.d, "deferred 1 1\n");
    curl_easy_cleanup(early);
    free(be.d);

    memset(bg, 0, sizeof(bg));
    for (int i = 0; i < GATED; i++) {
        g[i] = easy("/defer", i % 2 ? CURL_HTTP_VERSION_1_1 : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE,
                    &bg[i]);
        curl_multi_add_handle(m, g[i]);
    }
    /* all parked: only possible if each job's worker was free again once it returned */
    assert_true(run_until(m, NULL, cs_test_http_defer_parked, GATED));
    assert_int_equal(cs_test_http_defer_parked(), GATED);
    slow = easy("/slow?ms=1", CURL_HTTP_VERSION_1_1, &bs);
    curl_multi_add_handle(m, slow);
    assert_true(run_until(m, slow, NULL, 0));
    assert_string_equal(bs.d, "slow\n");
    for (int i = 0; i < GATED; i++) {
        assert_int_equal(bg[i].n, 0); /* nothing answered before its completion */
    }
    open = easy("/defer-open", CURL_HTTP_VERSION_1_1, &bo);
    curl_multi_add_handle(m, open);
    assert_true(run_until(m, open, NULL, 0));
    assert_int_equal(atoi(bo.d), GATED);
    for (int spins = 0; spins < 30000 && done_gated < GATED; spins++) {
        int running;
        done_gated = 0;
        curl_multi_perform(m, &running);
        for (int i = 0; i < GATED; i++) {
            done_gated += bg[i].n > 0 && strchr(bg[i].d, '\n') != NULL;
        }
        curl_multi_poll(m, NULL, 0, 10, NULL);
    }
    for (int i = 0; i < GATED; i++) {
        assert_int_equal(status_of(g[i]), 200);
        assert_string_equal(bg[i].d, "deferred 1 1\n");
        curl_multi_remove_handle(m, g[i]);
        curl_easy_cleanup(g[i]);
        free(bg[i].d);
    }
    assert_int_equal(cs_test_http_defer_parked(), 0);
    curl_multi_remove_handle(m, slow);
    curl_multi_remove_handle(m, open);
    curl_easy_cleanup(slow);
    curl_easy_cleanup(open);
    curl_multi_cleanup(m);
    free(bs.d);
    free(bo.d);
}

/* ---- raw sockets: pipelining, idle and slow clients ---- */

static int raw_connect(void)
{
    struct sockaddr_in sa;
    struct timeval tv = {5, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(g_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Reads until the peer closes (returns bytes read) or the receive timeout hits (-1). */
static ssize_t read_to_close(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
        if (r == 0) {
            buf[n] = '\0';
            return (ssize_t)n;
        }
        if (r < 0) {
            if (errno == ECONNRESET) {
                buf[n] = '\0';
                return (ssize_t)n;
            }
            return -1;
        }
        n += (size_t)r;
        if (n + 1 >= cap) {
            return -1;
        }
    }
}

static int count(const char *hay, const char *needle)
{
    int k = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle)) {
        k++;
    }
    return k;
}

static void test_pipelining(void **state)
{
    static const char reqs[] =
        "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
        "POST /echo-buffered HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char buf[8192];
    int fd = raw_connect();
    ssize_t n;
    (void)state;

    /* Three requests in one write: answered one after the other, in order. */
    assert_int_equal(send(fd, reqs, sizeof(reqs) - 1, 0), (ssize_t)(sizeof(reqs) - 1));
    n = read_to_close(fd, buf, sizeof(buf));
    assert_true(n > 0);
    assert_int_equal(count(buf, "HTTP/1.1 200 OK"), 3);
    assert_non_null(strstr(buf, "hello\r\n") == NULL ? strstr(buf, "hello\n") : buf);
    assert_true(strstr(buf, "hello\n") < strstr(buf, "abc"));
    assert_true(strstr(buf, "abc") < strstr(strstr(buf, "abc"), "hello\n"));
    close(fd);
}

static void test_bad_request(void **state)
{
    static const char junk[] = "THIS IS NOT HTTP\r\n\r\n";
    char buf[4096];
    int fd = raw_connect();
    (void)state;

    send(fd, junk, sizeof(junk) - 1, 0);
    assert_true(read_to_close(fd, buf, sizeof(buf)) > 0);
    assert_non_null(strstr(buf, "HTTP/1.1 400 "));
    close(fd);
}

static void test_idle_timeout(void **state)
{
    static const char req[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    char buf[4096];
    double t0;
    double dt;
    int fd;
    (void)state;

    /* A connection that never sends anything. */
    fd = raw_connect();
    t0 = now_s();
    assert_true(read_to_close(fd, buf, sizeof(buf)) == 0);
    dt = now_s() - t0;
    assert_true(dt > IDLE_MS / 1000.0 * 0.8 && dt < 3.0);
    close(fd);

    /* A keep-alive connection after its request. */
    fd = raw_connect();
    send(fd, req, sizeof(req) - 1, 0);
    t0 = now_s();
    assert_true(read_to_close(fd, buf, sizeof(buf)) > 0);
    dt = now_s() - t0;
    assert_non_null(strstr(buf, "hello\n"));
    assert_true(dt > IDLE_MS / 1000.0 * 0.8 && dt < 3.0);
    close(fd);
}

static void test_slow_client(void **state)
{
    static const char part[] = "GET /hello HTTP/1.1\r\nHost: x\r\n";
    char buf[4096];
    double t0 = now_s();
    int fd = raw_connect();
    int closed = 0;
    (void)state;

    /* Headers trickling in one byte every 100 ms: each byte is "activity", but the head as a
     * whole must arrive within slow_client_timeout_ms. */
    send(fd, part, sizeof(part) - 1, MSG_NOSIGNAL);
    for (int i = 0; i < 60 && !closed; i++) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
        if (send(fd, "X", 1, MSG_NOSIGNAL) < 0) {
            closed = 1;
        }
    }
    if (!closed) {
        closed = read_to_close(fd, buf, sizeof(buf)) >= 0;
    }
    assert_true(closed);
    assert_true(now_s() - t0 < SLOW_MS / 1000.0 + 2.0);
    close(fd);
}

/* ---- TLS with ALPN ---- */

static void test_tls(void **state)
{
    const char *dir = cs_test_tmpdir("http_tls");
    char cert[512];
    char key[512];
    char base[64];
    cs_http_server_config cfg;
    cs_http_server *tls = NULL;
    cs_http_server_stats st;
    uint16_t port;
    (void)state;

    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    if (cs_test_sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 1 "
                   "-subj /CN=localhost >/dev/null 2>&1",
                   key, cert) != 0) {
        skip();
    }
    cs_http_server_config_init(&cfg);
    cfg.tls_cert_path = cert;
    cfg.tls_key_path = key;
    cfg.poll_loop = getenv("CS_HTTP_POLL_LOOP") != NULL; /* the *_poll variant */
    assert_int_equal(cs_http_server_create(&cfg, &tls), CS_OK);
    assert_int_equal(cs_test_http_add_routes(tls), CS_OK);
    assert_int_equal(cs_http_server_start(tls), CS_OK);
    port = cs_http_server_port(tls);
    snprintf(base, sizeof(base), "https://127.0.0.1:%u", port);

    for (int i = 0; i < 2; i++) {
        struct buf b = {0};
        char url[128];
        CURL *h = curl_easy_init();
        snprintf(url, sizeof(url), "%s/hello", base);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
                         i == 0 ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, buf_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
        assert_int_equal(curl_easy_perform(h), CURLE_OK);
        assert_int_equal(status_of(h), 200);
        assert_string_equal(b.d, "hello\n");
        /* ALPN picked h2 when offered, http/1.1 otherwise. */
        assert_int_equal(version_of(h), i == 0 ? CURL_HTTP_VERSION_2_0 : CURL_HTTP_VERSION_1_1);
        curl_easy_cleanup(h);
        free(b.d);
    }
    run_duplex(base, CURL_HTTP_VERSION_2TLS, 100, 4000);
    {
        /* 100 streams multiplexed over one TLS connection (ALPN h2). */
        cs_http_server_stats before;
        char saved[64];
        memcpy(saved, g_base, sizeof(saved));
        memcpy(g_base, base, sizeof(g_base));
        cs_http_server_get_stats(tls, &before);
        run_many(CURL_HTTP_VERSION_2TLS, 100, true);
        cs_http_server_get_stats(tls, &st);
        assert_true(st.requests - before.requests == 100);
        assert_true(st.connections_accepted - before.connections_accepted <= 2);
        memcpy(g_base, saved, sizeof(g_base));
    }
    run_duplex(base, CURL_HTTP_VERSION_1_1, 100, 4000);
    cs_http_server_get_stats(tls, &st);
    assert_true(st.tls_connections >= 4);
    assert_true(st.h2_connections >= 2);
    cs_http_server_destroy(&tls);
    assert_null(tls);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_keepalive), cmocka_unit_test(test_router),
        cmocka_unit_test(test_duplex_h1),       cmocka_unit_test(test_duplex_h2c),
        cmocka_unit_test(test_echo_large),      cmocka_unit_test(test_pause_h1),
        cmocka_unit_test(test_pause_h2c),       cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_limits),          cmocka_unit_test(test_many_connections),
        cmocka_unit_test(test_h2c_streams),     cmocka_unit_test(test_worker_pool),
        cmocka_unit_test(test_job_defer),       cmocka_unit_test(test_pipelining),
        cmocka_unit_test(test_bad_request),     cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_slow_client),     cmocka_unit_test(test_tls),
    };
    if (getenv("CS_TEST_FILTER") != NULL) {
        cmocka_set_test_filter(getenv("CS_TEST_FILTER"));
    }
    return cmocka_run_group_tests(tests, setup, teardown);
}
