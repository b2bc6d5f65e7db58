/* SPDX-License-Identifier: Apache-2.0 */
/* cs_http_server_shutdown() on a real server on a loopback port, driven by raw sockets: the
 * listener is closed before the drain callback runs, an upload in flight gets its last response
 * bytes and the chunked terminator, an idle keep-alive connection is closed, a request completed
 * during the drain gets 503, the wait ends when the handlers are idle and every connection has
 * closed, or at the timeout (then destroy cancels what is left). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"

#define MAX_STREAMS 8
#define GUARD_MS 20000 /* hang guard for socket reads, never a measured bound */

/* ---- the routes: /up (a streaming upload acked line by line), /hang (never ends), /hello ---- */

static struct {
    cs_http_server *srv;
    uint16_t port;
    cs_http_stream *open[MAX_STREAMS]; /* streams whose response is not finished */
    bool hang[MAX_STREAMS];
    atomic_int drain_calls;
    atomic_int refused_in_drain; /* a connect from inside drain() was refused */
    atomic_int cancelled;        /* on_close(CS_E_CANCELLED) */
} g;

static void track(cs_http_stream *s, bool hang)
{
    for (int i = 0; i < MAX_STREAMS; i++) {
        if (g.open[i] == NULL) {
            g.open[i] = s;
            g.hang[i] = hang;
            return;
        }
    }
}

static void untrack(cs_http_stream *s)
{
    for (int i = 0; i < MAX_STREAMS; i++) {
        if (g.open[i] == s) {
            g.open[i] = NULL;
        }
    }
}

static void end_stream(cs_http_stream *s, const char *last)
{
    cs_http_stream_write(s, last, strlen(last));
    cs_http_stream_finish(s);
    untrack(s);
}

static void up_req(cs_http_stream *s, void *user)
{
    cs_http_header h = {"content-type", "text/plain"};
    (void)user;
    cs_http_stream_respond(s, 200, &h, 1, -1);
    track(s, false);
}

static void up_body(cs_http_stream *s, const uint8_t *d, size_t n, void *user)
{
    (void)user;
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '\n') {
            cs_http_stream_write(s, "ack\n", 4);
        }
    }
}

static void up_end(cs_http_stream *s, void *user)
{
    (void)user;
    end_stream(s, "end\n");
}

static void hang_req(cs_http_stream *s, void *user)
{
    (void)user;
    cs_http_stream_respond(s, 200, NULL, 0, -1);
    cs_http_stream_write(s, "x\n", 2);
    track(s, true);
}

static void any_close(cs_http_stream *s, cs_status why, void *user)
{
    (void)user;
    untrack(s);
    if (why == CS_E_CANCELLED) {
        g.cancelled++;
    }
}

static void hello(cs_http_stream *s, void *user)
{
    (void)user;
    cs_http_stream_respond_simple(s, 200, "text/plain", "hi\n", 3);
}

static int connect_port(uint16_t port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int e;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0) {
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Loop thread: the handlers' cue. Ends every /up response where it is (as if its body had
 * ended); /hang ones stay. */
static void on_drain(void *arg)
{
    int fd;
    (void)arg;
    g.drain_calls++;
    fd = connect_port(g.port);
    if (fd < 0 && errno == ECONNREFUSED) {
        g.refused_in_drain++;
    } else if (fd >= 0) {
        close(fd);
    }
    for (int i = 0; i < MAX_STREAMS; i++) {
        if (g.open[i] != NULL && !g.hang[i]) {
            cs_http_stream_pause_body(g.open[i], true);
            end_stream(g.open[i], "drained\n");
        }
    }
}

static bool on_idle(void *arg)
{
    (void)arg;
    for (int i = 0; i < MAX_STREAMS; i++) {
        if (g.open[i] != NULL) {
            return false;
        }
    }
    return true;
}

static int setup(void **state)
{
    cs_http_server_config cfg;
    const cs_http_route routes[] = {
        {.method = "POST",
         .path = "/up",
         .flags = CS_HTTP_ROUTE_STREAMING,
         .on_request = up_req,
         .on_body = up_body,
         .on_body_end = up_end,
         .on_close = any_close},
        {.method = "GET", .path = "/hang", .on_request = hang_req, .on_close = any_close},
        {.method = "GET", .path = "/hello", .on_request = hello},
    };
    (void)state;
    memset(&g, 0, sizeof(g));
    cs_http_server_config_init(&cfg);
    cfg.worker_threads = 1;
    cfg.poll_loop = getenv("CS_HTTP_POLL_LOOP") != NULL; /* the *_poll variant */
    if (cs_http_server_create(&cfg, &g.srv) != CS_OK) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (cs_http_server_add_route(g.srv, &routes[i]) != CS_OK) {
            return -1;
        }
    }
    if (cs_http_server_start(g.srv) != CS_OK) {
        return -1;
    }
    g.port = cs_http_server_port(g.srv);
    return g.port != 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cs_http_server_destroy(&g.srv);
    return 0;
}

static void send_str(int fd, const char *s)
{
    size_t n = strlen(s);
    assert_int_equal(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Reads into `buf` until it holds `needle` (NULL: until EOF). Returns the length; -1 when the
 * guard expired first. */
static ssize_t read_until(int fd, char *buf, size_t cap, size_t have, const char *needle)
{
    uint64_t end = cs_clock_monotonic_ns(NULL) + (uint64_t)GUARD_MS * 1000000u;

    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        ssize_t n;

        buf[have] = '\0';
        if (needle != NULL && strstr(buf, needle) != NULL) {
            return (ssize_t)have;
        }
        if (cs_clock_monotonic_ns(NULL) > end || have + 1 >= cap) {
            return -1;
        }
        if (poll(&p, 1, 100) <= 0) {
            continue;
        }
        n = recv(fd, buf + have, cap - 1 - have, 0);
        if (n <= 0) {
            buf[have] = '\0';
            return needle == NULL ? (ssize_t)have : -1; /* EOF (or reset) */
        }
        have += (size_t)n;
    }
}

struct shut {
    uint32_t timeout_ms;
    cs_status st;
};

static void shut_thread(void *arg)
{
    struct shut *sh = arg;
    sh->st = cs_http_server_shutdown(g.srv, on_drain, on_idle, NULL, sh->timeout_ms);
}

/* An idle server: the drain runs after the listener closed, the call returns CS_OK, a second
 * one CS_E_STATE. */
static void test_shutdown_idle(void **state)
{
    int fd;
    (void)state;
    assert_int_equal(cs_http_server_shutdown(g.srv, on_drain, on_idle, NULL, 10000), CS_OK);
    assert_int_equal(g.drain_calls, 1);
    assert_int_equal(g.refused_in_drain, 1);
    fd = connect_port(g.port);
    assert_true(fd < 0 && errno == ECONNREFUSED);
    assert_int_equal(cs_http_server_shutdown(g.srv, on_drain, on_idle, NULL, 10000), CS_E_STATE);
    assert_int_equal(g.drain_calls, 1);
}

/* A busy server: an upload in flight, an idle keep-alive connection, half a request head. */
static void test_shutdown_busy_h1(void **state)
{
    static char b[65536];
    static char ub[65536]; /* the upload's response */
    struct shut sh = {10000, CS_E_STATE};
    cs_thread t;
    int up = connect_port(g.port);
    int ka = connect_port(g.port);
    int half = connect_port(g.port);
    ssize_t n;
    (void)state;

    assert_true(up >= 0 && ka >= 0 && half >= 0);
    send_str(up, "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\na\n\r\n");
    n = read_until(up, ub, sizeof(ub), 0, "ack\n");
    assert_true(n > 0);
    assert_non_null(strstr(ub, "HTTP/1.1 200"));
    send_str(ka, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(read_until(ka, b, sizeof(b), 0, "hi\n") > 0);
    assert_null(strstr(b, "connection: close"));
    send_str(half, "GET /hello HTTP/1.1\r\nHost: x\r\n");

    assert_int_equal(cs_thread_create(&t, shut_thread, &sh, "test-shutdown"), CS_OK);
    /* The upload's response ends: its last line, then the chunked terminator. */
    n = read_until(up, ub, sizeof(ub), (size_t)n, "0\r\n\r\n");
    assert_true(n > 0);
    assert_non_null(strstr(ub, "drained\n"));
    assert_int_equal(g.drain_calls, 1);
    assert_int_equal(g.refused_in_drain, 1);
    /* The shutdown is still waiting (for `half`): new connections are refused. */
    assert_true(connect_port(g.port) < 0 && errno == ECONNREFUSED);
    /* The producer stops; the server closes the upload's connection. */
    shutdown(up, SHUT_WR);
    assert_true(read_until(up, b, sizeof(b), 0, NULL) >= 0);
    /* The idle keep-alive connection is closed by the server. */
    assert_int_equal(read_until(ka, b, sizeof(b), 0, NULL), 0);
    /* The half request, completed now: 503, connection: close, then EOF. */
    send_str(half, "\r\n");
    n = read_until(half, b, sizeof(b), 0, NULL);
    assert_true(n > 0);
    assert_non_null(strstr(b, "HTTP/1.1 503"));
    assert_non_null(strstr(b, "connection: close"));
    close(up);
    close(ka);
    close(half);
    cs_thread_join(&t);
    assert_int_equal(sh.st, CS_OK);
    assert_int_equal(g.drain_calls, 1);
    assert_int_equal(g.cancelled, 0);
}

/* A response the handlers never end: CS_E_TIMEOUT, then destroy cancels it. */
static void test_shutdown_timeout(void **state)
{
    static char b[4096];
    int fd = connect_port(g.port);
    (void)state;

    assert_true(fd >= 0);
    send_str(fd, "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(read_until(fd, b, sizeof(b), 0, "x\n") > 0);
    assert_int_equal(cs_http_server_shutdown(g.srv, on_drain, on_idle, NULL, 300), CS_E_TIMEOUT);
    assert_int_equal(g.drain_calls, 1);
    assert_int_equal(g.cancelled, 0);
    cs_http_server_destroy(&g.srv);
    assert_int_equal(g.cancelled, 1);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shutdown_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_busy_h1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_timeout, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
