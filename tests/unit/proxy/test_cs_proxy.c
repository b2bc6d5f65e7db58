/* SPDX-License-Identifier: Apache-2.0 */
/* Unit test of the loopback fault proxy (tests/util/cs_proxy.c) against an echo server thread in
 * this process: 1 MB goes through both ways unchanged; drop_all resets an open connection and
 * the next one works; during a stall no byte moves and no connection is accepted, after it the
 * bytes arrive; cut_after(K) lets exactly K bytes reach the server and closes the connection; a
 * target that refuses the connect makes the proxy close the client. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "cs_proxy.h"
#include "testutil.h"

/* The echo server: one connection at a time, counts the bytes it received on each. */
struct echo {
    int lfd;
    uint16_t port;
    pthread_t thread;
    pthread_mutex_t lock;
    uint64_t last_conn_bytes; /* bytes of the connection that ended last */
    uint64_t conns;
};

struct echo_conn {
    struct echo *e;
    int fd;
};

static void *echo_conn_main(void *arg)
{
    struct echo_conn *ec = arg;
    uint8_t buf[16384];
    uint64_t got = 0;
    ssize_t n;
    while ((n = read(ec->fd, buf, sizeof(buf))) > 0) {
        got += (uint64_t)n;
        if (send(ec->fd, buf, (size_t)n, MSG_NOSIGNAL) != n) {
            break;
        }
    }
    close(ec->fd);
    pthread_mutex_lock(&ec->e->lock);
    ec->e->last_conn_bytes = got;
    pthread_mutex_unlock(&ec->e->lock);
    free(ec);
    return NULL;
}

/* Accepts until the listening socket is closed; a detached thread echoes each connection. */
static void *echo_main(void *arg)
{
    struct echo *e = arg;
    for (;;) {
        pthread_t t;
        struct echo_conn *ec;
        int fd = accept(e->lfd, NULL, NULL);
        if (fd < 0) {
            return NULL; /* closed: the test is over */
        }
        pthread_mutex_lock(&e->lock);
        e->conns++;
        pthread_mutex_unlock(&e->lock);
        ec = malloc(sizeof(*ec));
        ec->e = e;
        ec->fd = fd;
        if (pthread_create(&t, NULL, echo_conn_main, ec) != 0) {
            close(fd);
            free(ec);
            continue;
        }
        pthread_detach(t);
    }
}

static int listen_any(uint16_t *port)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void echo_start(struct echo *e)
{
    memset(e, 0, sizeof(*e));
    pthread_mutex_init(&e->lock, NULL);
    e->lfd = listen_any(&e->port);
    assert_int_equal(pthread_create(&e->thread, NULL, echo_main, e), 0);
}

static void echo_stop(struct echo *e)
{
    shutdown(e->lfd, SHUT_RDWR);
    close(e->lfd);
    pthread_join(e->thread, NULL);
    pthread_mutex_destroy(&e->lock);
}

static uint64_t echo_last(struct echo *e, uint64_t *conns)
{
    uint64_t v;
    pthread_mutex_lock(&e->lock);
    v = e->last_conn_bytes;
    if (conns != NULL) {
        *conns = e->conns;
    }
    pthread_mutex_unlock(&e->lock);
    return v;
}

static int dial(uint16_t port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* Reads until `want` bytes, EOF/reset or `ms` without data; returns the count. */
static size_t read_some(int fd, uint8_t *dst, size_t want, int ms)
{
    size_t got = 0;
    while (got < want) {
        struct pollfd pf = {fd, POLLIN, 0};
        ssize_t n;
        if (poll(&pf, 1, ms) <= 0) {
            break;
        }
        n = read(fd, dst + got, want - got);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    return got;
}

/* true when the peer closed or reset the connection within `ms` */
static bool closed_within(int fd, int ms)
{
    uint8_t b[256];
    for (;;) {
        struct pollfd pf = {fd, POLLIN, 0};
        ssize_t n;
        if (poll(&pf, 1, ms) <= 0) {
            return false;
        }
        n = read(fd, b, sizeof(b));
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            return true;
        }
        if (n < 0) {
            return false;
        }
    }
}

static void wait_open(cs_proxy *p, unsigned want)
{
    cs_proxy_stats st;
    for (int i = 0; i < 500; i++) {
        cs_proxy_get_stats(p, &st);
        if (st.open == want) {
            return;
        }
        usleep(10000);
    }
    fail_msg("proxy has %u connections open, want %u", st.open, want);
}

static void test_forward(void **state)
{
    struct echo e;
    cs_proxy *p = NULL;
    cs_proxy_stats st;
    const size_t len = 1u << 20;
    uint8_t *out = malloc(len), *in = malloc(len);
    size_t sent = 0, got = 0;
    int fd;
    (void)state;

    echo_start(&e);
    assert_int_equal(cs_proxy_start(e.port, &p), 0);
    assert_true(cs_proxy_port(p) != 0 && cs_proxy_port(p) != e.port);
    for (size_t i = 0; i < len; i++) {
        out[i] = (uint8_t)(i * 131u + (i >> 11));
    }
    fd = dial(cs_proxy_port(p));
    /* interleave writes and reads so neither side's buffers fill up */
    while (got < len) {
        if (sent < len) {
            size_t n = len - sent < 32768 ? len - sent : 32768;
            ssize_t w = write(fd, out + sent, n);
            assert_true(w > 0);
            sent += (size_t)w;
        }
        got += read_some(fd, in + got, sent - got, 2000);
        if (sent == len && got < len) {
            size_t more = read_some(fd, in + got, len - got, 5000);
            assert_true(more > 0);
            got += more;
        }
    }
    assert_memory_equal(in, out, len);
    close(fd);
    wait_open(p, 0);
    cs_proxy_get_stats(p, &st);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.bytes_up, len);
    assert_int_equal(st.bytes_down, len);
    cs_proxy_stop(&p);
    assert_null(p);
    cs_proxy_stop(&p); /* accepts NULL */
    echo_stop(&e);
    free(out);
    free(in);
}

static void test_drop_all(void **state)
{
    struct echo e;
    cs_proxy *p = NULL;
    cs_proxy_stats st;
    uint8_t b[8];
    int fd, fd2;
    (void)state;

    echo_start(&e);
    assert_int_equal(cs_proxy_start(e.port, &p), 0);
    fd = dial(cs_proxy_port(p));
    assert_int_equal(write(fd, "ping", 4), 4);
    assert_int_equal(read_some(fd, b, 4, 5000), 4);
    cs_proxy_drop_all(p);
    assert_true(closed_within(fd, 5000));
    close(fd);
    cs_proxy_get_stats(p, &st);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.open, 0);
    /* the proxy goes on accepting */
    fd2 = dial(cs_proxy_port(p));
    assert_int_equal(write(fd2, "pong", 4), 4);
    assert_int_equal(read_some(fd2, b, 4, 5000), 4);
    assert_memory_equal(b, "pong", 4);
    close(fd2);
    cs_proxy_stop(&p);
    echo_stop(&e);
}

static void test_stall(void **state)
{
    struct echo e;
    cs_proxy *p = NULL;
    cs_proxy_stats st;
    uint8_t b[8];
    uint64_t conns_before, conns_after;
    int fd, fd2;
    (void)state;

    echo_start(&e);
    assert_int_equal(cs_proxy_start(e.port, &p), 0);
    fd = dial(cs_proxy_port(p));
    assert_int_equal(write(fd, "a", 1), 1);
    assert_int_equal(read_some(fd, b, 1, 5000), 1);
    echo_last(&e, &conns_before);
    cs_proxy_stall(p, 3000);
    assert_int_equal(write(fd, "bcd", 3), 3);
    fd2 = dial(cs_proxy_port(p)); /* completes in the kernel's backlog */
    assert_int_equal(write(fd2, "xy", 2), 2);
    /* well inside the stall: nothing comes back, the new connection is not accepted */
    assert_int_equal(read_some(fd, b, 3, 500), 0);
    cs_proxy_get_stats(p, &st);
    assert_true(st.stalled);
    assert_int_equal(st.accepted, 1);
    echo_last(&e, &conns_after);
    assert_int_equal(conns_after, conns_before);
    /* after it, everything moves */
    assert_int_equal(read_some(fd, b, 3, 10000), 3);
    assert_memory_equal(b, "bcd", 3);
    assert_int_equal(read_some(fd2, b, 2, 10000), 2);
    assert_memory_equal(b, "xy", 2);
    cs_proxy_get_stats(p, &st);
    assert_false(st.stalled);
    assert_int_equal(st.accepted, 2);
    /* a stall can be ended early */
    cs_proxy_stall(p, 60000);
    cs_proxy_stall(p, 0);
    assert_int_equal(write(fd, "e", 1), 1);
    assert_int_equal(read_some(fd, b, 1, 5000), 1);
    close(fd);
    close(fd2);
    cs_proxy_stop(&p);
    echo_stop(&e);
}

static void test_cut_after(void **state)
{
    struct echo e;
    cs_proxy *p = NULL;
    cs_proxy_stats st;
    uint8_t out[5000], in[5000];
    size_t got;
    int fd;
    (void)state;

    memset(out, 'z', sizeof(out));
    echo_start(&e);
    assert_int_equal(cs_proxy_start(e.port, &p), 0);
    cs_proxy_cut_after(p, 1000);
    for (int round = 0; round < 3; round++) {
        fd = dial(cs_proxy_port(p));
        assert_int_equal(write(fd, out, sizeof(out)), (ssize_t)sizeof(out));
        got = read_some(fd, in, sizeof(in), 3000);
        assert_true(got <= 1000);
        assert_true(closed_within(fd, 5000) || got <= 1000);
        close(fd);
        wait_open(p, 0);
        /* the echo server saw exactly the first 1000 bytes */
        for (int i = 0; i < 500 && echo_last(&e, NULL) == 0; i++) {
            usleep(10000);
        }
        assert_int_equal(echo_last(&e, NULL), 1000);
        pthread_mutex_lock(&e.lock);
        e.last_conn_bytes = 0;
        pthread_mutex_unlock(&e.lock);
    }
    cs_proxy_get_stats(p, &st);
    assert_int_equal(st.cut, 3);
    assert_int_equal(st.bytes_up, 3000);
    /* off again: a whole 5000 bytes go through */
    cs_proxy_cut_after(p, 0);
    fd = dial(cs_proxy_port(p));
    assert_int_equal(write(fd, out, sizeof(out)), (ssize_t)sizeof(out));
    assert_int_equal(read_some(fd, in, sizeof(in), 5000), sizeof(in));
    close(fd);
    cs_proxy_stop(&p);
    echo_stop(&e);
}

static void test_refused(void **state)
{
    cs_proxy *p = NULL;
    cs_proxy_stats st;
    uint16_t dead;
    int lfd, fd;
    (void)state;

    lfd = listen_any(&dead);
    close(lfd); /* nothing listens there now */
    assert_int_equal(cs_proxy_start(dead, &p), 0);
    fd = dial(cs_proxy_port(p));
    assert_true(closed_within(fd, 5000));
    close(fd);
    cs_proxy_get_stats(p, &st);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.open, 0);
    cs_proxy_stop(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward), cmocka_unit_test(test_drop_all),
        cmocka_unit_test(test_stall),   cmocka_unit_test(test_cut_after),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
