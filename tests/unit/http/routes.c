/* SPDX-License-Identifier: Apache-2.0 */
/* The test server's routes (see routes.h):
 *   GET  /hello            "hello\n"
 *   POST /echo             streams the body back while it arrives (chunked / DATA frames)
 *   POST /echo-buffered    CS_HTTP_ROUTE_BUFFERED: the whole body back with a content-length
 *   POST /ack              streaming (no body limit): one JSON line per '\n' received, written
 *                          as soon as it is seen, then {"EventType":"END",...} when the body ends
 *   GET  /slow?ms=N        sleeps N ms on the worker pool, then answers "slow\n"
 *   POST /pause            streaming: pauses the body after every piece and resumes it from a
 *                          worker job; answers "<bytes> <sum>\n" at the end
 *   POST / + X-Amz-Target: Kinesis_20131202.*   answers the target's operation name */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "routes.h"

static void hello(cs_http_stream *s, void *user)
{
    (void)user;
    cs_http_stream_respond_simple(s, 200, "text/plain", "hello\n", 6);
}

/* ---- echo ---- */
static void echo_req(cs_http_stream *s, void *user)
{
    cs_http_header h = {"content-type", "application/octet-stream"};
    (void)user;
    cs_http_stream_respond(s, 200, &h, 1, -1);
}

static void echo_body(cs_http_stream *s, const uint8_t *d, size_t n, void *user)
{
    (void)user;
    cs_http_stream_write(s, d, n);
}

static void echo_end(cs_http_stream *s, void *user)
{
    (void)user;
    cs_http_stream_finish(s);
}

/* ---- echo-buffered ---- */
static void ebuf_req(cs_http_stream *s, void *user)
{
    (void)s;
    (void)user;
}

static void ebuf_body(cs_http_stream *s, const uint8_t *d, size_t n, void *user)
{
    (void)user;
    cs_http_stream_respond_simple(s, 200, "application/octet-stream", d, n);
}

/* ---- ack: the PutMedia shape ---- */
struct ack_state {
    uint64_t lines;
    uint64_t bytes;
};

static void ack_req(cs_http_stream *s, void *user)
{
    cs_http_header h = {"content-type", "application/json"};
    struct ack_state *st = calloc(1, sizeof(*st));
    (void)user;
    if (st == NULL) {
        cs_http_stream_respond_simple(s, 503, NULL, NULL, 0);
        return;
    }
    cs_http_stream_set_data(s, st);
    cs_http_stream_respond(s, 200, &h, 1, -1);
}

static void ack_body(cs_http_stream *s, const uint8_t *d, size_t n, void *user)
{
    struct ack_state *st = cs_http_stream_data(s);
    (void)user;
    for (size_t i = 0; i < n; i++) {
        st->bytes++;
        if (d[i] == '\n') {
            char line[128];
            int k;
            st->lines++;
            k = snprintf(line, sizeof(line),
                         "{\"EventType\":\"RECEIVED\",\"Seq\":%llu,\"Bytes\":%llu}\n",
                         (unsigned long long)st->lines, (unsigned long long)st->bytes);
            cs_http_stream_write(s, line, (size_t)k);
        }
    }
}

static void ack_end(cs_http_stream *s, void *user)
{
    struct ack_state *st = cs_http_stream_data(s);
    char line[128];
    int k = snprintf(line, sizeof(line), "{\"EventType\":\"END\",\"Seq\":%llu,\"Bytes\":%llu}\n",
                     (unsigned long long)st->lines, (unsigned long long)st->bytes);
    (void)user;
    cs_http_stream_write(s, line, (size_t)k);
    cs_http_stream_finish(s);
}

static void ack_close(cs_http_stream *s, cs_status why, void *user)
{
    (void)why;
    (void)user;
    free(cs_http_stream_data(s));
    cs_http_stream_set_data(s, NULL);
}

/* ---- slow: a blocking job on the worker pool ---- */
struct slow_job {
    cs_http_stream *s;
    long ms;
};

static void slow_work(void *arg)
{
    struct slow_job *j = arg;
    struct timespec ts = {j->ms / 1000, (j->ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* stands for disk or SQLite work */
}

static void slow_done(void *arg)
{
    struct slow_job *j = arg;
    /* Back on the loop thread; the stream may have gone meanwhile (then this fails quietly). */
    cs_http_stream_respond_simple(j->s, 200, "text/plain", "slow\n", 5);
    cs_http_stream_unref(j->s);
    free(j);
}

static void slow_req(cs_http_stream *s, void *user)
{
    cs_http_server *srv = user;
    struct slow_job *j = calloc(1, sizeof(*j));
    const char *q = cs_http_stream_query(s);

    if (j == NULL) {
        cs_http_stream_respond_simple(s, 503, NULL, NULL, 0);
        return;
    }
    j->s = s;
    j->ms = strncmp(q, "ms=", 3) == 0 ? atol(q + 3) : 100;
    cs_http_stream_ref(s); /* released by slow_done on the loop */
    if (cs_http_server_submit(srv, slow_work, slow_done, j) != CS_OK) {
        cs_http_stream_unref(s);
        free(j);
        cs_http_stream_respond_simple(s, 503, NULL, NULL, 0);
    }
}

/* ---- defer: jobs whose completion comes later, from another thread (cs_http_job_defer) ----
 * /defer?early: the job completes itself before returning. /defer (gated): the job returns at
 * once with its completion parked here; GET /defer-open completes every parked one from the loop
 * thread. `done` answers "deferred <job calls> <done calls>\n". */
#define DEFER_MAX 64
static cs_mutex defer_mu;
static cs_http_job *defer_parked[DEFER_MAX];
static size_t defer_n;

struct defer_job {
    cs_http_stream *s;
    bool early;
    int job_calls;
    int done_calls;
};

static void defer_work(void *arg)
{
    struct defer_job *j = arg;
    cs_http_job *h = cs_http_job_defer();
    j->job_calls++;
    if (h == NULL || cs_http_job_defer() != NULL) { /* once per job */
        j->job_calls = -100;
        return;
    }
    if (j->early) {
        cs_http_job_complete(h);
        return;
    }
    cs_mutex_lock(&defer_mu);
    defer_parked[defer_n++] = h;
    cs_mutex_unlock(&defer_mu);
}

static void defer_done(void *arg)
{
    struct defer_job *j = arg;
    char line[64];
    int n = snprintf(line, sizeof(line), "deferred %d %d\n", j->job_calls, ++j->done_calls);
    cs_http_stream_respond_simple(j->s, 200, "text/plain", line, (size_t)n);
    cs_http_stream_unref(j->s);
    free(j);
}

static void defer_req(cs_http_stream *s, void *user)
{
    cs_http_server *srv = user;
    struct defer_job *j = calloc(1, sizeof(*j));
    if (j == NULL || cs_http_job_defer() != NULL) { /* not a job: NULL */
        free(j);
        cs_http_stream_respond_simple(s, 503, NULL, NULL, 0);
        return;
    }
    j->s = s;
    j->early = strcmp(cs_http_stream_query(s), "early") == 0;
    cs_mutex_lock(&defer_mu);
    if (!j->early && defer_n >= DEFER_MAX) {
        cs_mutex_unlock(&defer_mu);
        free(j);
        cs_http_stream_respond_simple(s, 503, NULL, NULL, 0);
        return;
    }
    cs_mutex_unlock(&defer_mu);
    cs_http_stream_ref(s); /* released by defer_done */
    if (cs_http_server_submit(srv, defer_work, defer_done, j) != CS_OK) {
        cs_http_stream_unref(s);
        free(j);
        cs_http_stream_respond_simple(s, 503, NULL, NULL, 0);
    }
}

size_t cs_test_http_defer_parked(void)
{
    size_t n;
    cs_mutex_lock(&defer_mu);
    n = defer_n;
    cs_mutex_unlock(&defer_mu);
    return n;
}

static void defer_open(cs_http_stream *s, void *user)
{
    char line[32];
    size_t n;
    (void)user;
    cs_mutex_lock(&defer_mu);
    n = defer_n;
    for (size_t i = 0; i < defer_n; i++) {
        cs_http_job_complete(defer_parked[i]);
    }
    defer_n = 0;
    cs_mutex_unlock(&defer_mu);
    snprintf(line, sizeof(line), "%zu\n", n);
    cs_http_stream_respond_simple(s, 200, "text/plain", line, strlen(line));
}

/* ---- pause: back-pressure toward the client ---- */
struct pause_state {
    cs_http_server *srv;
    cs_http_stream *s;
    uint64_t bytes;
    uint64_t sum;
    uint64_t pieces;
};

static void pause_work(void *arg)
{
    struct timespec ts = {0, 200000}; /* a slow consumer: 0.2 ms per piece */
    (void)arg;
    nanosleep(&ts, NULL);
}

static void pause_done(void *arg)
{
    cs_http_stream *s = arg;
    cs_http_stream_pause_body(s, false);
    cs_http_stream_unref(s);
}

static void pause_req(cs_http_stream *s, void *user)
{
    struct pause_state *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        cs_http_stream_respond_simple(s, 503, NULL, NULL, 0);
        return;
    }
    st->srv = user;
    st->s = s;
    cs_http_stream_set_data(s, st);
}

static void pause_body(cs_http_stream *s, const uint8_t *d, size_t n, void *user)
{
    struct pause_state *st = cs_http_stream_data(s);
    (void)user;
    for (size_t i = 0; i < n; i++) {
        st->sum += d[i];
    }
    st->bytes += n;
    st->pieces++;
    cs_http_stream_pause_body(s, true);
    cs_http_stream_ref(s);
    if (cs_http_server_submit(st->srv, pause_work, pause_done, s) != CS_OK) {
        cs_http_stream_unref(s);
        cs_http_stream_pause_body(s, false);
    }
}

static void pause_end(cs_http_stream *s, void *user)
{
    struct pause_state *st = cs_http_stream_data(s);
    char line[96];
    int k = snprintf(line, sizeof(line), "%llu %llu %llu\n", (unsigned long long)st->bytes,
                     (unsigned long long)st->sum, (unsigned long long)st->pieces);
    (void)user;
    cs_http_stream_respond_simple(s, 200, "text/plain", line, (size_t)k);
}

static void pause_close(cs_http_stream *s, cs_status why, void *user)
{
    (void)why;
    (void)user;
    free(cs_http_stream_data(s));
    cs_http_stream_set_data(s, NULL);
}

/* ---- X-Amz-Target ---- */
static void kds_req(cs_http_stream *s, void *user)
{
    const char *t = cs_http_stream_header(s, "X-Amz-Target");
    const char *op = strchr(t, '.');
    char body[128];
    int k = snprintf(body, sizeof(body), "%s\n", op != NULL ? op + 1 : t);
    (void)user;
    cs_http_stream_respond_simple(s, 200, "application/x-amz-json-1.1", body, (size_t)k);
}

cs_status cs_test_http_add_routes(cs_http_server *srv)
{
    static bool mu_ready;
    if (!mu_ready) {
        if (cs_mutex_init(&defer_mu) != CS_OK) {
            return CS_E_NOMEM;
        }
        mu_ready = true;
    }
    const cs_http_route routes[] = {
        {.method = "GET", .path = "/hello", .on_request = hello},
        {.method = "POST",
         .path = "/echo",
         .flags = CS_HTTP_ROUTE_STREAMING,
         .on_request = echo_req,
         .on_body = echo_body,
         .on_body_end = echo_end},
        {.method = "POST",
         .path = "/echo-buffered",
         .flags = CS_HTTP_ROUTE_BUFFERED,
         .on_request = ebuf_req,
         .on_body = ebuf_body},
        {.method = "POST",
         .path = "/ack",
         .flags = CS_HTTP_ROUTE_STREAMING,
         .on_request = ack_req,
         .on_body = ack_body,
         .on_body_end = ack_end,
         .on_close = ack_close},
        {.method = "GET", .path = "/slow", .on_request = slow_req, .user = srv},
        {.method = "GET", .path = "/defer", .on_request = defer_req, .user = srv},
        {.method = "GET", .path = "/defer-open", .on_request = defer_open},
        {.method = "POST",
         .path = "/pause",
         .flags = CS_HTTP_ROUTE_STREAMING,
         .on_request = pause_req,
         .on_body = pause_body,
         .on_body_end = pause_end,
         .on_close = pause_close,
         .user = srv},
        {.method = "POST",
         .path = "/",
         .header_name = "x-amz-target",
         .header_value = "Kinesis_20131202.*",
         .on_request = kds_req},
    };

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        cs_status st = cs_http_server_add_route(srv, &routes[i]);
        if (st != CS_OK) {
            return st;
        }
    }
    return CS_OK;
}
