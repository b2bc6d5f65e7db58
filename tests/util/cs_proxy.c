/* SPDX-License-Identifier: Apache-2.0 */
/* The fault-injecting loopback TCP proxy of cs_proxy.h: one thread, poll() over the listening
 * socket, a wake-up pipe and both sockets of every connection, with a fixed table of connections
 * and their buffers allocated at start. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cs_proxy.h"

#define MAX_CONN 32
#define BUF_SIZE (64 * 1024)

struct pbuf {
    uint8_t *data;
    size_t off, len; /* bytes [off, len) wait to be written */
};

struct conn {
    int cfd, sfd; /* -1: slot free */
    struct pbuf up, down;
    bool c_eof, s_eof, c_shut, s_shut;
    uint64_t up_total; /* bytes written to the target */
};

struct cs_proxy {
    int lfd;
    int wake[2];
    uint16_t port;
    pthread_t thread;
    pthread_mutex_t lock;
    /* commands, under lock */
    bool stop;
    bool drop_req;
    uint16_t target;
    uint64_t stall_until_ns;
    uint64_t cut_after;
    uint64_t gen, seen_gen; /* commands given / commands the thread has taken in */
    pthread_cond_t cond;
    cs_proxy_stats st;
    /* the thread's */
    struct conn conns[MAX_CONN];
    struct pollfd pfd[2 + 2 * MAX_CONN];
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void wake(cs_proxy *p)
{
    char c = 1;
    ssize_t r = write(p->wake[1], &c, 1);
    (void)r; /* a full pipe already wakes the thread */
}

/* Called with the lock held after changing a command: wakes the thread and waits until it has
 * taken the command in, so that it applies to every byte the caller sends afterwards. */
static void command(cs_proxy *p)
{
    uint64_t g = ++p->gen;
    wake(p);
    while (p->seen_gen < g && !p->stop) {
        pthread_cond_wait(&p->cond, &p->lock);
    }
}

static void reset_fd(int fd)
{
    struct linger lg = {1, 0};
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(fd);
    }
}

/* Counts first, then closes: whoever sees the close also sees the count. */
static void conn_close(cs_proxy *p, struct conn *c, bool reset, uint64_t *counter)
{
    pthread_mutex_lock(&p->lock);
    p->st.open--;
    if (counter != NULL) {
        (*counter)++;
    }
    pthread_mutex_unlock(&p->lock);
    if (reset) {
        reset_fd(c->cfd);
        reset_fd(c->sfd);
    } else {
        close(c->cfd);
        close(c->sfd);
    }
    c->cfd = c->sfd = -1;
}

static int connect_target(uint16_t port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0) {
        return -1;
    }
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void do_accept(cs_proxy *p, uint16_t target)
{
    int cfd, sfd, one = 1;
    struct conn *c = NULL;

    cfd = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
        return;
    }
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    pthread_mutex_lock(&p->lock);
    p->st.accepted++;
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < MAX_CONN; i++) {
        if (p->conns[i].cfd < 0) {
            c = &p->conns[i];
            break;
        }
    }
    sfd = c != NULL ? connect_target(target) : -1;
    if (sfd < 0) {
        pthread_mutex_lock(&p->lock);
        p->st.refused++;
        pthread_mutex_unlock(&p->lock);
        reset_fd(cfd);
        return;
    }
    c->cfd = cfd;
    c->sfd = sfd;
    c->up.off = c->up.len = c->down.off = c->down.len = 0;
    c->c_eof = c->s_eof = c->c_shut = c->s_shut = false;
    c->up_total = 0;
    pthread_mutex_lock(&p->lock);
    p->st.open++;
    pthread_mutex_unlock(&p->lock);
}

/* Reads what fits (at most `limit`) from fd into b; returns false on a hard error. */
static bool fill(int fd, struct pbuf *b, size_t limit, bool *eof)
{
    ssize_t n;
    size_t room;
    if (b->off > 0) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    room = BUF_SIZE - b->len;
    if (room > limit) {
        room = limit;
    }
    if (room == 0) {
        return true;
    }
    n = read(fd, b->data + b->len, room);
    if (n > 0) {
        b->len += (size_t)n;
    } else if (n == 0) {
        *eof = true;
    } else if (errno != EAGAIN && errno != EINTR) {
        return false;
    }
    return true;
}

/* Writes what it can of b to fd; returns the count written, or -1 on a hard error. */
static ssize_t drain(int fd, struct pbuf *b)
{
    ssize_t n;
    if (b->len == b->off) {
        return 0;
    }
    n = send(fd, b->data + b->off, b->len - b->off, MSG_NOSIGNAL);
    if (n > 0) {
        b->off += (size_t)n;
        if (b->off == b->len) {
            b->off = b->len = 0;
        }
        return n;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return 0;
    }
    return -1;
}

/* Moves bytes of one connection after poll said something; false: close it. */
static bool service(cs_proxy *p, struct conn *c, short cev, short sev, uint64_t cut_after)
{
    ssize_t n;
    if ((cev | sev) & (POLLHUP | POLLERR)) {
        return false; /* a reset, or both directions shut: nothing more can move */
    }
    if (cev & POLLIN) {
        size_t limit = BUF_SIZE;
        if (cut_after > 0) {
            uint64_t queued = c->up_total + (c->up.len - c->up.off);
            limit = queued >= cut_after ? 0 : (size_t)(cut_after - queued);
        }
        if (!c->c_eof && !fill(c->cfd, &c->up, limit, &c->c_eof)) {
            return false;
        }
    }
    if (sev & POLLIN) {
        if (!c->s_eof && !fill(c->sfd, &c->down, BUF_SIZE, &c->s_eof)) {
            return false;
        }
    }
    n = drain(c->sfd, &c->up);
    if (n < 0) {
        return false;
    }
    c->up_total += (uint64_t)n;
    pthread_mutex_lock(&p->lock);
    p->st.bytes_up += (uint64_t)n;
    pthread_mutex_unlock(&p->lock);
    n = drain(c->cfd, &c->down);
    if (n < 0) {
        return false;
    }
    pthread_mutex_lock(&p->lock);
    p->st.bytes_down += (uint64_t)n;
    pthread_mutex_unlock(&p->lock);
    if (c->c_eof && c->up.len == c->up.off && !c->s_shut) {
        shutdown(c->sfd, SHUT_WR);
        c->s_shut = true;
    }
    if (c->s_eof && c->down.len == c->down.off && !c->c_shut) {
        shutdown(c->cfd, SHUT_WR);
        c->c_shut = true;
    }
    return !(c->c_shut && c->s_shut);
}

static void *proxy_main(void *arg)
{
    cs_proxy *p = arg;
    for (;;) {
        bool stop, drop, stalled;
        uint16_t target;
        uint64_t until, cut, now;
        nfds_t n = 0;
        int timeout = 200;
        size_t idx[MAX_CONN];

        pthread_mutex_lock(&p->lock);
        stop = p->stop;
        drop = p->drop_req;
        p->drop_req = false;
        target = p->target;
        until = p->stall_until_ns;
        cut = p->cut_after;
        now = now_ns();
        stalled = now < until;
        p->st.stalled = stalled;
        p->seen_gen = p->gen;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        if (stop) {
            break;
        }
        for (size_t i = 0; i < MAX_CONN; i++) {
            struct conn *c = &p->conns[i];
            if (c->cfd < 0) {
                continue;
            }
            if (drop) {
                conn_close(p, c, true, &p->st.dropped);
            } else if (cut > 0 && c->up_total >= cut) {
                conn_close(p, c, true, &p->st.cut);
            }
        }
        p->pfd[n].fd = p->wake[0];
        p->pfd[n++].events = POLLIN;
        p->pfd[n].fd = p->lfd;
        p->pfd[n++].events = stalled ? 0 : POLLIN;
        for (size_t i = 0; i < MAX_CONN; i++) {
            struct conn *c = &p->conns[i];
            short ce = 0, se = 0;
            if (c->cfd < 0) {
                continue;
            }
            if (!stalled) {
                ce = (short)((!c->c_eof && c->up.len < BUF_SIZE ? POLLIN : 0) |
                             (c->down.len > c->down.off ? POLLOUT : 0));
                se = (short)((!c->s_eof && c->down.len < BUF_SIZE ? POLLIN : 0) |
                             (c->up.len > c->up.off ? POLLOUT : 0));
            }
            idx[n / 2 - 1] = i;
            /* stalled: negative fds, so not even a hang-up wakes the loop */
            p->pfd[n].fd = stalled ? -1 : c->cfd;
            p->pfd[n++].events = ce;
            p->pfd[n].fd = stalled ? -1 : c->sfd;
            p->pfd[n++].events = se;
        }
        if (stalled && until - now < 200000000u) {
            timeout = (int)((until - now) / 1000000u) + 1;
        }
        if (poll(p->pfd, n, timeout) < 0 && errno != EINTR) {
            break;
        }
        if (p->pfd[0].revents & POLLIN) {
            char buf[64];
            while (read(p->wake[0], buf, sizeof(buf)) > 0) {
            }
        }
        /* a stall commanded while we polled applies before any byte moves */
        pthread_mutex_lock(&p->lock);
        stalled = stalled || now_ns() < p->stall_until_ns;
        pthread_mutex_unlock(&p->lock);
        if (stalled) {
            continue;
        }
        if (p->pfd[1].revents & POLLIN) {
            do_accept(p, target);
        }
        for (nfds_t k = 2; k + 1 < n; k += 2) {
            struct conn *c = &p->conns[idx[k / 2 - 1]];
            if (c->cfd >= 0 && !service(p, c, p->pfd[k].revents, p->pfd[k + 1].revents, cut)) {
                conn_close(p, c, true, NULL);
            }
        }
    }
    return NULL;
}

int cs_proxy_start(uint16_t target_port, cs_proxy **out)
{
    cs_proxy *p = calloc(1, sizeof(*p));
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int one = 1;

    if (p == NULL) {
        return -1;
    }
    p->lfd = p->wake[0] = p->wake[1] = -1;
    for (size_t i = 0; i < MAX_CONN; i++) {
        p->conns[i].cfd = p->conns[i].sfd = -1;
        p->conns[i].up.data = malloc(BUF_SIZE);
        p->conns[i].down.data = malloc(BUF_SIZE);
        if (p->conns[i].up.data == NULL || p->conns[i].down.data == NULL) {
            goto fail;
        }
    }
    p->target = target_port;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    if (pipe2(p->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        goto fail;
    }
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->lfd < 0) {
        goto fail;
    }
    setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(p->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(p->lfd, 64) != 0 ||
        getsockname(p->lfd, (struct sockaddr *)&a, &alen) != 0) {
        goto fail;
    }
    p->port = ntohs(a.sin_port);
    if (pthread_create(&p->thread, NULL, proxy_main, p) != 0) {
        goto fail;
    }
    *out = p;
    return 0;
fail:
    if (p->lfd >= 0) {
        close(p->lfd);
    }
    if (p->wake[0] >= 0) {
        close(p->wake[0]);
        close(p->wake[1]);
    }
    for (size_t i = 0; i < MAX_CONN; i++) {
        free(p->conns[i].up.data);
        free(p->conns[i].down.data);
    }
    free(p);
    return -1;
}

uint16_t cs_proxy_port(const cs_proxy *p)
{
    return p->port;
}

void cs_proxy_set_target(cs_proxy *p, uint16_t target_port)
{
    pthread_mutex_lock(&p->lock);
    p->target = target_port;
    pthread_mutex_unlock(&p->lock);
}

void cs_proxy_drop_all(cs_proxy *p)
{
    pthread_mutex_lock(&p->lock);
    p->drop_req = true;
    command(p);
    pthread_mutex_unlock(&p->lock);
}

void cs_proxy_stall(cs_proxy *p, uint32_t ms)
{
    pthread_mutex_lock(&p->lock);
    p->stall_until_ns = ms == 0 ? 0 : now_ns() + (uint64_t)ms * 1000000u;
    p->st.stalled = ms > 0;
    command(p);
    pthread_mutex_unlock(&p->lock);
}

void cs_proxy_cut_after(cs_proxy *p, uint64_t bytes)
{
    pthread_mutex_lock(&p->lock);
    p->cut_after = bytes;
    command(p);
    pthread_mutex_unlock(&p->lock);
}

void cs_proxy_get_stats(cs_proxy *p, cs_proxy_stats *st)
{
    pthread_mutex_lock(&p->lock);
    *st = p->st;
    pthread_mutex_unlock(&p->lock);
}

void cs_proxy_stop(cs_proxy **pp)
{
    cs_proxy *p = pp != NULL ? *pp : NULL;
    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_mutex_unlock(&p->lock);
    wake(p);
    pthread_join(p->thread, NULL);
    for (size_t i = 0; i < MAX_CONN; i++) {
        if (p->conns[i].cfd >= 0) {
            reset_fd(p->conns[i].cfd);
            reset_fd(p->conns[i].sfd);
        }
        free(p->conns[i].up.data);
        free(p->conns[i].down.data);
    }
    close(p->lfd);
    close(p->wake[0]);
    close(p->wake[1]);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
    *pp = NULL;
}
