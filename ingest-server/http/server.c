/* SPDX-License-Identifier: Apache-2.0 */
/* The server object and its loop thread: a libwebsockets context that polls our own listening
 * socket (so that a graceful shutdown can close it alone) and adopts every accepted socket in the
 * raw role, so lws only moves bytes and keeps poll(); on top of each raw
 * connection this file runs TLS (OpenSSL memory BIOs with our own ALPN choice, so lws never
 * switches the socket to its own h1/h2 roles), sniffs the HTTP/2 preface on plain ports, hands
 * bytes to h1.c or h2.c, writes their output when the socket is writable, runs posted functions
 * (lws_cancel_service wakes the loop), and enforces connection limits and timeouts. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "camstream/cs_build_config.h"
#if CS_HAVE_LINUX_SOCKIOS_H
#include <linux/sockios.h>
#endif

#if CSI_HAVE_LIBEV
#include <ev.h>
#endif
#include <libwebsockets.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "http_int.h"
#include "metrics.h"

#define STAGE (64u * 1024u)    /* bytes handed to one lws_write() */
#define RX_READ (128u * 1024u) /* bytes lws reads per RAW_RX */
#define LINGER_NS (2000ull * 1000000ull)
#define PROTO_NAME "cs-http"
#define ACCEPT_BURST 64                     /* accept() calls per readable listener event */
#define DRAIN_CHECK_US (20 * LWS_US_PER_MS) /* the shutdown's completion check */

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct csi_tls {
    SSL *ssl;
    BIO *rbio; /* ciphertext in */
    BIO *wbio; /* ciphertext out */
    bool hs_done;
};

struct csi_sweep {
    lws_sorted_usec_list_t sul;
    cs_http_server *srv;
};

struct csi_drain {
    lws_sorted_usec_list_t sul;
    cs_http_server *srv;
};

uint64_t csi_now_ns(void)
{
    return cs_clock_monotonic_ns(NULL);
}

void cs_http_server_config_init(cs_http_server_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->bind_address = "127.0.0.1";
    cfg->port = 0;
    cfg->max_header_bytes = 16 * 1024;
    cfg->max_headers = 100;
    cfg->max_body_bytes = 8 * 1024 * 1024;
    cfg->idle_timeout_ms = 60 * 1000;
    cfg->slow_client_timeout_ms = 30 * 1000;
    cfg->max_connections = 1024;
    cfg->worker_threads = 4;
    cfg->write_low_water = 256 * 1024;
    cfg->h2_max_concurrent_streams = 128;
    cfg->h2_stream_window = 1024 * 1024;
}

/* ---------------------------------------------------------------------------------------------- */
/* Connections                                                                                    */
/* ---------------------------------------------------------------------------------------------- */

void csi_conn_dirty(struct csi_conn *c)
{
    cs_http_server *srv = c->srv;

    if (c->dirty || c->killing) {
        return;
    }
    c->dirty = true;
    c->dirty_next = srv->dirty_head;
    srv->dirty_head = c;
}

void csi_conn_kill(struct csi_conn *c, cs_status why)
{
    if (c->killing) {
        return;
    }
    c->killing = true;
    c->close_reason = why;
    CS_LOG_DEBUG(c->srv->log, CSI_MOD, "closing connection (proto %d): %s", (int)c->proto,
                 cs_status_str(why));
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

void csi_conn_rx_flow(struct csi_conn *c, bool enable)
{
    lws_rx_flow_control(c->wsi, enable ? 1 : 0);
}

static size_t tls_pending(const struct csi_conn *c)
{
    return c->tls != NULL ? BIO_ctrl_pending(c->tls->wbio) : 0;
}

static bool conn_wants_write(const struct csi_conn *c)
{
    if (c->out.len > 0 || tls_pending(c) > 0) {
        return true;
    }
    if (c->proto == CSI_PROTO_H2 && csi_h2_want_write(c)) {
        return true;
    }
    /* A close waits for a writable callback: lws calls it only once its own buffer is empty. */
    return c->close_after && c->cur == NULL && !c->lingering;
}

/* Descriptors beyond the connections: listeners, the loop's wake-up pipe, the workers' object
 * and directory files, SQLite's files per connection, logs. */
#define FD_RESERVE 1024u
#define FD_TABLE_MAX 65536u

/* lws finds the connection of an event by its descriptor: in a table indexed by descriptor when
 * the table covers the process's open-file limit, by scanning the table when a smaller one was
 * asked for (fd_limit_per_thread below the limit). That scan ran on every event: 4% of the
 * server's CPU, 7% of the loop thread's, at 1,000 uploads. So the server sets its own soft limit
 * to what it needs (raised up to the hard limit; a huge one lowered to FD_TABLE_MAX) and lets lws
 * size an indexed table from it (two pointers per descriptor). */
static void fd_limit_setup(cs_http_server *srv)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)srv->cfg.max_connections + FD_RESERVE;
    rlim_t want;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return;
    }
    want = rl.rlim_cur;
    if (want < need) {
        want = need;
    }
    if (want > FD_TABLE_MAX) {
        want = need > FD_TABLE_MAX ? need : FD_TABLE_MAX;
    }
    if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max) {
        want = rl.rlim_max;
    }
    if (want != rl.rlim_cur) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            CS_LOG_WARN(srv->log, CSI_MOD, "cannot set the open-file limit to %llu: %s",
                        (unsigned long long)want, strerror(errno));
            return;
        }
        CS_LOG_DEBUG(srv->log, CSI_MOD, "open-file limit %llu -> %llu", (unsigned long long)was,
                     (unsigned long long)want);
    }
    if (want < need) {
        CS_LOG_WARN(srv->log, CSI_MOD,
                    "open-file limit %llu (the hard limit) is below the %llu that %u connections "
                    "need: connections and fragment writes may fail with 'too many open files'; "
                    "raise it (ulimit -Hn, or LimitNOFILE= in a systemd unit)",
                    (unsigned long long)want, (unsigned long long)need, srv->cfg.max_connections);
    }
}

static void conn_service(struct csi_conn *c)
{
    if (c->killing) {
        return;
    }
    if (c->proto == CSI_PROTO_H1) {
        csi_h1_service(c);
    } else if (c->proto == CSI_PROTO_H2) {
        csi_h2_service(c);
    }
    if (c->killing) {
        return;
    }
    if (conn_wants_write(c)) {
        lws_callback_on_writable(c->wsi);
    }
}

static void flush_dirty(cs_http_server *srv)
{
    for (int i = 0; srv->dirty_head != NULL; i++) {
        struct csi_conn *c = srv->dirty_head;

        if (i >= 4096) {
            lws_cancel_service(srv->ctx); /* a handler keeps re-arming: continue next turn */
            return;
        }
        srv->dirty_head = c->dirty_next;
        c->dirty = false;
        c->dirty_next = NULL;
        conn_service(c);
    }
}

static void dirty_remove(struct csi_conn *c)
{
    struct csi_conn **pp = &c->srv->dirty_head;

    while (*pp != NULL) {
        if (*pp == c) {
            *pp = c->dirty_next;
            break;
        }
        pp = &(*pp)->dirty_next;
    }
    c->dirty = false;
}

static void plain_rx(struct csi_conn *c, const uint8_t *data, size_t len)
{
    if (c->lingering || c->killing || len == 0) {
        return;
    }
    if (c->proto == CSI_PROTO_SNIFF) {
        size_t take = sizeof(h2_preface) - 1 - c->sniff_len;

        if (take > len) {
            take = len;
        }
        if (memcmp(data, h2_preface + c->sniff_len, take) == 0) {
            memcpy(c->sniff + c->sniff_len, data, take);
            c->sniff_len += take;
            if (c->sniff_len < sizeof(h2_preface) - 1) {
                return; /* maybe HTTP/2: wait for the whole preface */
            }
            if (csi_h2_start(c) != CS_OK || !csi_h2_rx(c, c->sniff, c->sniff_len)) {
                csi_conn_kill(c, CS_E_NOMEM);
                return;
            }
            data += take;
            len -= take;
        } else {
            if (csi_h1_start(c) != CS_OK) {
                csi_conn_kill(c, CS_E_NOMEM);
                return;
            }
            if (c->sniff_len > 0) {
                csi_h1_rx(c, c->sniff, c->sniff_len);
            }
        }
    }
    if (len == 0) {
        return;
    }
    if (c->proto == CSI_PROTO_H1) {
        csi_h1_rx(c, data, len);
    } else if (!csi_h2_rx(c, data, len)) {
        csi_conn_kill(c, CS_E_MALFORMED);
    }
}

static void tls_rx(struct csi_conn *c, const uint8_t *data, size_t len)
{
    struct csi_tls *t = c->tls;
    cs_http_server *srv = c->srv;

    if (BIO_write(t->rbio, data, (int)len) != (int)len) {
        csi_conn_kill(c, CS_E_NOMEM);
        return;
    }
    if (!t->hs_done) {
        int r = SSL_do_handshake(t->ssl);

        if (r != 1) {
            int e = SSL_get_error(t->ssl, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                CS_LOG_DEBUG(srv->log, CSI_MOD, "TLS handshake failed");
                csi_conn_kill(c, CS_E_AUTH);
            }
            csi_conn_dirty(c); /* handshake bytes to send */
            return;
        }
        t->hs_done = true;
        {
            const unsigned char *alpn = NULL;
            unsigned int alpn_len = 0;

            SSL_get0_alpn_selected(t->ssl, &alpn, &alpn_len);
            if (alpn_len == 2 && memcmp(alpn, "h2", 2) == 0) {
                if (csi_h2_start(c) != CS_OK) {
                    csi_conn_kill(c, CS_E_NOMEM);
                    return;
                }
            } else if (alpn_len > 0 && csi_h1_start(c) != CS_OK) {
                csi_conn_kill(c, CS_E_NOMEM);
                return;
            } /* no ALPN: sniff the preface as on a plain port */
        }
        csi_conn_dirty(c);
    }
    for (;;) {
        int n = SSL_read(t->ssl, srv->rxbuf, (int)sizeof(srv->rxbuf));

        if (n <= 0) {
            int e = SSL_get_error(t->ssl, n);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                csi_conn_kill(c, e == SSL_ERROR_ZERO_RETURN ? CS_E_NET : CS_E_MALFORMED);
            }
            break;
        }
        plain_rx(c, srv->rxbuf, (size_t)n);
        if (c->killing || c->lingering) {
            break;
        }
    }
    csi_conn_dirty(c);
}

static int conn_write(struct csi_conn *c)
{
    cs_http_server *srv = c->srv;
    uint8_t *buf = srv->stage + LWS_PRE;
    size_t n = 0;

    if (c->killing) {
        return -1;
    }
    if (c->lingering) {
        return 0;
    }
    if (c->proto == CSI_PROTO_H2 && !csi_h2_fill(c, STAGE)) {
        if (c->out.len == 0 && tls_pending(c) == 0) {
            return -1; /* the session is over (GOAWAY both ways) */
        }
    }
    if (c->tls == NULL) {
        n = csi_bufq_read(&c->out, buf, STAGE);
    } else {
        struct csi_tls *t = c->tls;

        while (t->hs_done && c->out.len > 0 && BIO_ctrl_pending(t->wbio) < STAGE) {
            const uint8_t *p;
            size_t k = csi_bufq_peek(&c->out, &p);
            int w;

            if (k > 16384) {
                k = 16384;
            }
            w = SSL_write(t->ssl, p, (int)k);
            if (w <= 0) {
                return -1;
            }
            csi_bufq_skip(&c->out, (size_t)w);
        }
        if (BIO_ctrl_pending(t->wbio) > 0) {
            int r = BIO_read(t->wbio, buf, (int)STAGE);
            n = r > 0 ? (size_t)r : 0;
        }
    }
    if (n > 0) {
        if (lws_write(c->wsi, buf, n, LWS_WRITE_RAW) < 0) {
            return -1;
        }
        cs_metrics_add(cs_metrics_default(), CS_M_BYTES_OUT, n);
        c->last_io_ns = csi_now_ns();
        csi_conn_dirty(c); /* room freed: service fires on_writable, queues the next write */
        return 0;
    }
    /* Nothing left to write: a pending close can happen now. */
    if (c->close_after && c->cur == NULL && c->out.len == 0 && tls_pending(c) == 0) {
        if (c->tls != NULL && c->tls->hs_done && !c->tls_shutdown_sent) {
            c->tls_shutdown_sent = true;
            SSL_shutdown(c->tls->ssl); /* close_notify, written on the next round */
            csi_conn_dirty(c);
            return 0;
        }
        /* Lingering close: send FIN after the last byte, read and drop what the peer still
         * sends, close on its EOF or after LINGER_NS. Closing at once with unread input would
         * make the kernel send a reset, and the peer could lose the end of our response. */
        shutdown(lws_get_socket_fd(c->wsi), SHUT_WR);
        c->lingering = true;
        c->linger_start_ns = csi_now_ns();
        return 0;
    }
    csi_conn_dirty(c);
    return 0;
}

static struct csi_conn *conn_new(cs_http_server *srv, struct lws *wsi)
{
    struct csi_conn *c;

    if (srv->stopping || srv->draining) {
        return NULL; /* accepted just before the listener closed */
    }
    if (srv->n_conns >= srv->cfg.max_connections) {
        CS_LOG_WARN(srv->log, CSI_MOD, "connection refused: %u open (max_connections)",
                    srv->n_conns);
        return NULL;
    }
    c = cs_calloc(srv->a, 1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->srv = srv;
    c->wsi = wsi;
    c->close_reason = CS_E_NET;
    c->last_io_ns = csi_now_ns();
    csi_bufq_init(&c->out, srv->a);
    csi_bufq_init(&c->hold, srv->a);
    if (srv->ssl_ctx != NULL) {
        c->tls = cs_calloc(srv->a, 1, sizeof(*c->tls));
        if (c->tls == NULL) {
            goto fail;
        }
        c->tls->ssl = SSL_new(srv->ssl_ctx);
        c->tls->rbio = BIO_new(BIO_s_mem());
        c->tls->wbio = BIO_new(BIO_s_mem());
        if (c->tls->ssl == NULL || c->tls->rbio == NULL || c->tls->wbio == NULL) {
            goto fail;
        }
        SSL_set_bio(c->tls->ssl, c->tls->rbio, c->tls->wbio); /* the SSL owns both BIOs now */
        SSL_set_accept_state(c->tls->ssl);
        srv->stats.tls_connections++;
    }
    c->next = srv->conns;
    if (srv->conns != NULL) {
        srv->conns->prev = c;
    }
    srv->conns = c;
    srv->n_conns++;
    srv->stats.connections_accepted++;
    srv->stats.connections_open = srv->n_conns;
    return c;
fail:
    if (c->tls != NULL) {
        if (c->tls->ssl != NULL) {
            SSL_free(c->tls->ssl);
        } else {
            BIO_free(c->tls->rbio);
            BIO_free(c->tls->wbio);
        }
        cs_freep(srv->a, &c->tls);
    }
    cs_freep(srv->a, &c);
    return NULL;
}

static void conn_free(struct csi_conn *c)
{
    cs_http_server *srv = c->srv;

    if (srv->stopping && c->close_reason == CS_E_NET) {
        c->close_reason = CS_E_CANCELLED;
    }
    c->killing = true;
    dirty_remove(c);
    if (c->proto == CSI_PROTO_H1 || c->h1p_ready) {
        csi_h1_conn_closed(c);
    }
    if (c->proto == CSI_PROTO_H2) {
        csi_h2_conn_closed(c);
    }
    csi_bufq_clear(&c->out);
    csi_bufq_clear(&c->hold);
    if (c->tls != NULL) {
        SSL_free(c->tls->ssl);
        cs_freep(srv->a, &c->tls);
    }
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        srv->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    srv->n_conns--;
    srv->stats.connections_open = srv->n_conns;
    cs_freep(srv->a, &c);
}

/* ---------------------------------------------------------------------------------------------- */
/* Posts, timers, the lws callback                                                                */
/* ---------------------------------------------------------------------------------------------- */

static void run_posts(cs_http_server *srv)
{
    struct csi_post *list;

    cs_mutex_lock(&srv->post_mu);
    list = srv->post_head;
    srv->post_head = srv->post_tail = NULL;
    cs_mutex_unlock(&srv->post_mu);
    while (list != NULL) {
        struct csi_post *p = list;

        list = p->next;
        p->fn(p->arg);
        cs_freep(srv->a, &p);
    }
}

void csi_server_post_node(cs_http_server *srv, struct csi_post *node)
{
    node->next = NULL;
    cs_mutex_lock(&srv->post_mu);
    if (srv->posts_closed) {
        cs_mutex_unlock(&srv->post_mu);
        node->fn(node->arg); /* the loop is gone: run here so the argument is released */
        cs_freep(srv->a, &node);
        return;
    }
    if (srv->post_tail != NULL) {
        srv->post_tail->next = node;
    } else {
        srv->post_head = node;
    }
    srv->post_tail = node;
    lws_cancel_service(srv->ctx); /* under the lock: the context outlives an open queue */
    cs_mutex_unlock(&srv->post_mu);
}

cs_status cs_http_server_post(cs_http_server *srv, cs_http_loop_fn fn, void *arg)
{
    struct csi_post *node;

    if (srv == NULL || fn == NULL) {
        return CS_E_INVAL;
    }
    if (!srv->started) {
        return CS_E_STATE;
    }
    node = cs_calloc(srv->a, 1, sizeof(*node));
    if (node == NULL) {
        return CS_E_NOMEM;
    }
    node->fn = fn;
    node->arg = arg;
    cs_mutex_lock(&srv->post_mu);
    if (srv->posts_closed) {
        cs_mutex_unlock(&srv->post_mu);
        cs_freep(srv->a, &node);
        return CS_E_STATE;
    }
    cs_mutex_unlock(&srv->post_mu);
    csi_server_post_node(srv, node);
    return CS_OK;
}

static uint64_t ms_ns(uint32_t ms)
{
    return (uint64_t)ms * 1000000ull;
}

/* A graceful close of an idle connection: HTTP/2 GOAWAY, then the lingering close. */
static void conn_begin_close(struct csi_conn *c)
{
    if (c->close_after || c->killing) {
        return;
    }
    if (c->proto == CSI_PROTO_H2 && !c->goaway_sent) {
        c->goaway_sent = true;
        csi_h2_goaway(c);
    }
    c->close_after = true;
    csi_conn_dirty(c);
}

/* Response bytes handed over but not yet taken by the peer: lws's own buffer of a partial write
 * plus the kernel's send queue (where the system tells it). A connection with such bytes is
 * not idle; their draining counts as progress. */
static uint64_t unsent_bytes(struct csi_conn *c)
{
    uint64_t n = lws_partial_buffered(c->wsi) ? 1 : 0;
#ifdef SIOCOUTQ
    int q = 0;

    if (ioctl(lws_get_socket_fd(c->wsi), SIOCOUTQ, &q) == 0 && q > 0) {
        n += (uint64_t)q;
    }
#endif
    return n;
}

cs_status cs_http_server_add_tick(cs_http_server *srv, cs_http_loop_fn fn, void *arg)
{
    if (srv == NULL || fn == NULL) {
        return CS_E_INVAL;
    }
    if (srv->started) {
        return CS_E_STATE;
    }
    if (srv->n_ticks == CS_HTTP_MAX_TICKS) {
        return CS_E_LIMIT;
    }
    srv->tick_fn[srv->n_ticks] = fn;
    srv->tick_arg[srv->n_ticks] = arg;
    srv->n_ticks++;
    return CS_OK;
}

static void sweep(lws_sorted_usec_list_t *sul)
{
    struct csi_sweep *sw = lws_container_of(sul, struct csi_sweep, sul);
    cs_http_server *srv = sw->srv;
    const cs_http_server_config *cfg = &srv->cfg;
    uint64_t now = csi_now_ns();
    uint32_t tick = cfg->idle_timeout_ms < cfg->slow_client_timeout_ms
                        ? cfg->idle_timeout_ms
                        : cfg->slow_client_timeout_ms;

    for (struct csi_conn *c = srv->conns; c != NULL; c = c->next) {
        bool hs = c->tls != NULL && !c->tls->hs_done;
        bool idle;
        bool expects;

        if (c->killing) {
            continue;
        }
        if (c->lingering) {
            if (now - c->linger_start_ns > LINGER_NS) {
                csi_conn_kill(c, CS_OK);
            }
            continue;
        }
        {
            uint64_t unsent = unsent_bytes(c);

            if (unsent != c->last_unsent) {
                c->last_unsent = unsent;
                c->last_io_ns = now; /* the peer is reading */
            }
        }
        if (c->last_unsent > 0) {
            idle = false;
            expects = true;
        } else if (c->proto == CSI_PROTO_H1) {
            idle = csi_h1_idle(c);
            expects = csi_h1_expects_peer(c);
        } else if (c->proto == CSI_PROTO_H2) {
            idle = csi_h2_idle(c);
            expects = csi_h2_expects_peer(c);
        } else {
            idle = !hs && c->sniff_len == 0;
            expects = !idle;
        }
        if (c->proto == CSI_PROTO_H1 && c->head_start_ns != 0 &&
            now - c->head_start_ns > ms_ns(cfg->slow_client_timeout_ms)) {
            srv->stats.timeouts++;
            csi_conn_kill(c, CS_E_TIMEOUT);
        } else if (idle && now - c->last_io_ns > ms_ns(cfg->idle_timeout_ms)) {
            conn_begin_close(c);
        } else if (!idle && expects && now - c->last_io_ns > ms_ns(cfg->slow_client_timeout_ms)) {
            srv->stats.timeouts++;
            CS_LOG_INFO(srv->log, CSI_MOD, "slow client: connection dropped");
            csi_conn_kill(c, CS_E_TIMEOUT);
        }
    }
    if (srv->accept_paused && srv->listen_wsi != NULL) {
        srv->accept_paused = false; /* retry the accept() that ran out of descriptors */
        lws_rx_flow_control(srv->listen_wsi, 1);
    }
    for (size_t i = 0; i < srv->n_ticks; i++) {
        srv->tick_fn[i](srv->tick_arg[i]);
    }
    tick /= 4;
    if (tick < 10) {
        tick = 10;
    } else if (tick > 1000) {
        tick = 1000;
    }
    lws_sul_schedule(srv->ctx, 0, &sw->sul, sweep, (lws_usec_t)tick * LWS_US_PER_MS);
    flush_dirty(srv);
}

/* ---------------------------------------------------------------------------------------------- */
/* The listening socket: ours, polled by lws as a raw file, so that shutdown can close it alone   */
/* ---------------------------------------------------------------------------------------------- */

static uint16_t sockaddr_port(const struct sockaddr_storage *ss)
{
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;

    if (ss->ss_family == AF_INET6) {
        memcpy(&a6, ss, sizeof(a6));
        return ntohs(a6.sin6_port);
    }
    memcpy(&a4, ss, sizeof(a4));
    return ntohs(a4.sin_port);
}

/* Binds and listens on bind_address:port (the first address that works); sets listen_fd and
 * port. */
static cs_status listen_open(cs_http_server *srv)
{
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    char port[8];
    int on = 1;
    int rc;
    cs_status st = CS_E_NET;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%u", (unsigned)srv->cfg.port);
    rc = getaddrinfo(srv->bind_address, port, &hints, &res);
    if (rc != 0) {
        CS_LOG_ERROR(srv->log, CSI_MOD, "listen address %s: %s", srv->bind_address,
                     gai_strerror(rc));
        return CS_E_NET;
    }
    for (const struct addrinfo *ai = res; ai != NULL && st != CS_OK; ai = ai->ai_next) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);

        if (fd < 0) {
            continue;
        }
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0 &&
            getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
            srv->listen_fd = fd;
            srv->port = sockaddr_port(&ss);
            st = CS_OK;
        } else {
            CS_LOG_DEBUG(srv->log, CSI_MOD, "cannot listen on %s:%s: %s", srv->bind_address, port,
                         strerror(errno));
            close(fd);
        }
    }
    freeaddrinfo(res);
    return st;
}

/* The listener is readable: accepts what is waiting (at most ACCEPT_BURST) and hands each socket
 * to lws (raw role). Returns how many were accepted. */
static int listen_accept(cs_http_server *srv, struct lws *lwsi)
{
    struct lws_vhost *vh = lws_get_vhost(lwsi);
    int i;

    for (i = 0; i < ACCEPT_BURST && srv->listen_fd >= 0; i++) {
        lws_sock_file_fd_type d;
        int one = 1;
        int fd = accept(srv->listen_fd, NULL, NULL);

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* The connection stays in the backlog and poll() would report it at once
                 * again: stop polling until the next sweep. */
                CS_LOG_WARN(srv->log, CSI_MOD, "accept: %s", strerror(errno));
                srv->accept_paused = true;
                lws_rx_flow_control(lwsi, 0);
            }
            break;
        }
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        memset(&d, 0, sizeof(d));
        d.sockfd = fd;
        /* RAW_ADOPT runs inside; on failure (refused, no memory) lws closes the socket. */
        (void)lws_adopt_descriptor_vhost(vh, LWS_ADOPT_SOCKET, d, PROTO_NAME, NULL);
    }
    return i;
}

/* Closes the listening socket now: connects are refused from here on. */
static void listen_close(cs_http_server *srv)
{
    struct lws *w = srv->listen_wsi;

    if (w != NULL) {
        srv->listen_wsi = NULL;
        srv->listen_fd = -1;
        lws_set_timeout(w, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC); /* lws closes the fd */
    } else if (srv->listen_fd >= 0) {
        close(srv->listen_fd);
        srv->listen_fd = -1;
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* Graceful shutdown (cs_http_server_shutdown)                                                    */
/* ---------------------------------------------------------------------------------------------- */

/* Bytes the peer sent that the loop has not read yet: a connection with such bytes is not idle
 * (its request is answered, with 503 during a shutdown, rather than cut). */
static bool input_waiting(struct csi_conn *c)
{
    int n = 0;

    return ioctl(lws_get_socket_fd(c->wsi), FIONREAD, &n) == 0 && n > 0;
}

/* Ends keep-alive on every connection: run when the drain starts and at every check, so that
 * connections becoming idle later close too. `end_finished`: the handlers have been idle for
 * LINGER_NS, HTTP/2 streams whose response is complete stop waiting for the request body. */
static void drain_conns(cs_http_server *srv, bool end_finished)
{
    uint64_t now = csi_now_ns();

    for (struct csi_conn *c = srv->conns; c != NULL; c = c->next) {
        if (c->lingering && !c->killing && now - c->linger_start_ns > LINGER_NS) {
            csi_conn_kill(c, CS_OK); /* as the sweep does, without waiting for it */
            continue;
        }
        if (c->killing || c->lingering || c->close_after) {
            continue;
        }
        if (c->proto == CSI_PROTO_H2) {
            if (csi_h2_idle(c)) {
                conn_begin_close(c); /* GOAWAY, then close */
                continue;
            }
            if (!c->goaway_sent) {
                c->goaway_sent = true;
                csi_h2_goaway(c); /* open streams go on, new ones are refused */
                csi_conn_dirty(c);
            }
            if (end_finished) {
                csi_h2_end_finished(c);
            }
        } else if (c->proto == CSI_PROTO_H1) {
            if (csi_h1_idle(c) && !input_waiting(c)) {
                conn_begin_close(c);
            }
        } else if (c->tls == NULL && c->sniff_len == 0 && !input_waiting(c)) {
            conn_begin_close(c); /* not a byte of a request yet */
        }
    }
}

static void drain_finish(cs_http_server *srv, cs_status st)
{
    cs_mutex_lock(&srv->start_mu);
    if (srv->drain_state == 1) {
        srv->drain_state = 2;
        srv->drain_status = st;
        cs_cond_broadcast(&srv->start_cv);
    }
    cs_mutex_unlock(&srv->start_mu);
}

static void drain_check(lws_sorted_usec_list_t *sul)
{
    struct csi_drain *d = lws_container_of(sul, struct csi_drain, sul);
    cs_http_server *srv = d->srv;
    uint64_t now = csi_now_ns();
    bool idle = srv->drain_idle == NULL || srv->drain_idle(srv->drain_arg);

    if (!idle) {
        srv->drain_idle_ns = 0;
    } else if (srv->drain_idle_ns == 0) {
        srv->drain_idle_ns = now;
    }
    drain_conns(srv, idle && now - srv->drain_idle_ns >= LINGER_NS);
    if (idle && srv->n_conns == 0) {
        CS_LOG_INFO(srv->log, CSI_MOD, "shutdown: every connection closed");
        drain_finish(srv, CS_OK);
    } else if (now >= srv->drain_deadline_ns) {
        CS_LOG_WARN(srv->log, CSI_MOD, "shutdown: timed out with %u connection(s) open%s",
                    srv->n_conns, idle ? "" : " and handlers busy");
        drain_finish(srv, CS_E_TIMEOUT);
    } else {
        lws_sul_schedule(srv->ctx, 0, &d->sul, drain_check, DRAIN_CHECK_US);
    }
    flush_dirty(srv);
}

/* Posted by cs_http_server_shutdown(): runs on the loop. */
static void drain_begin(void *arg)
{
    cs_http_server *srv = arg;
    struct csi_drain *d = srv->drain_sul;

    /* Connections the kernel completed before now are served (a request gets 503), not reset
     * by closing the listener with them in its backlog. */
    if (srv->listen_wsi != NULL && !srv->accept_paused) {
        for (int n = 0; n <= (int)srv->cfg.max_connections / ACCEPT_BURST; n++) {
            if (listen_accept(srv, srv->listen_wsi) < ACCEPT_BURST) {
                break;
            }
        }
    }
    listen_close(srv);
    srv->draining = true;
    CS_LOG_INFO(srv->log, CSI_MOD, "shutdown: listener closed, %u connection(s) open",
                srv->n_conns);
    drain_conns(srv, false);
    if (srv->drain_fn != NULL) {
        srv->drain_fn(srv->drain_arg);
    }
    drain_check(&d->sul);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    cs_http_server *srv = ctx != NULL ? lws_context_user(ctx) : NULL;
    struct csi_conn **pc = user;
    struct csi_conn *c = pc != NULL ? *pc : NULL;
    int rc = 0;

    if (srv == NULL) {
        return 0;
    }
    switch (reason) {
    case LWS_CALLBACK_RAW_ADOPT:
        if (pc == NULL) {
            return -1;
        }
        *pc = conn_new(srv, wsi);
        if (*pc == NULL) {
            return -1;
        }
        cs_metrics_conn_opened(cs_metrics_default());
        break;
    case LWS_CALLBACK_RAW_RX:
        if (c == NULL) {
            return -1;
        }
        c->last_io_ns = csi_now_ns();
        cs_metrics_add(cs_metrics_default(), CS_M_BYTES_IN, len);
        if (c->lingering) {
            break; /* closing: input is dropped */
        }
        if (c->tls != NULL) {
            tls_rx(c, in, len);
        } else {
            plain_rx(c, in, len);
        }
        break;
    case LWS_CALLBACK_RAW_WRITEABLE:
        if (c == NULL) {
            return -1;
        }
        rc = conn_write(c);
        break;
    case LWS_CALLBACK_RAW_CLOSE:
        if (c != NULL) {
            conn_free(c);
            *pc = NULL;
            cs_metrics_gauge_add(cs_metrics_default(), CS_M_CONNECTIONS, -1);
        }
        break;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        run_posts(srv);
        break;
    case LWS_CALLBACK_RAW_RX_FILE:
        if (wsi == srv->listen_wsi) {
            listen_accept(srv, wsi);
        }
        break;
    case LWS_CALLBACK_RAW_CLOSE_FILE:
        if (wsi == srv->listen_wsi) {
            srv->listen_wsi = NULL; /* lws closes the descriptor */
            srv->listen_fd = -1;
        }
        break;
    default:
        break;
    }
    flush_dirty(srv);
    return rc;
}

static const struct lws_protocols protocols[] = {
    {PROTO_NAME, callback, sizeof(struct csi_conn *), RX_READ, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---------------------------------------------------------------------------------------------- */
/* Life cycle                                                                                     */
/* ---------------------------------------------------------------------------------------------- */

static void lws_log_to_cs(int level, const char *line)
{
    size_t n = strlen(line);
    cs_log_level l = level == LLL_ERR ? CS_LOG_ERROR : CS_LOG_WARN;

    if (n > 0 && line[n - 1] == '\n') {
        n--;
    }
    cs_log_emit(NULL, l, "lws", "%.*s", (int)n, line);
}

static char *dup_str(const cs_allocator *a, const char *s)
{
    size_t n;
    char *d;

    if (s == NULL) {
        return NULL;
    }
    n = strlen(s) + 1;
    d = cs_alloc(a, n);
    if (d != NULL) {
        memcpy(d, s, n);
    }
    return d;
}

cs_status cs_http_server_create(const cs_http_server_config *cfg, cs_http_server **out)
{
    const cs_allocator *a;
    cs_http_server *srv = NULL;
    cs_status st = CS_E_NOMEM;

    if (cfg == NULL || out == NULL) {
        return CS_E_INVAL;
    }
    if ((cfg->tls_cert_path == NULL) != (cfg->tls_key_path == NULL) || cfg->max_header_bytes == 0 ||
        cfg->max_headers == 0 || cfg->idle_timeout_ms == 0 || cfg->slow_client_timeout_ms == 0 ||
        cfg->max_connections == 0 || cfg->h2_stream_window == 0 ||
        cfg->h2_stream_window > 0x7fffffff || cfg->max_header_bytes > 1024 * 1024) {
        return CS_E_INVAL;
    }
    a = cfg->allocator != NULL ? cfg->allocator : cs_allocator_default();
    srv = cs_calloc(a, 1, sizeof(*srv));
    if (srv == NULL) {
        goto out;
    }
    srv->cfg = *cfg;
    srv->a = a;
    srv->listen_fd = -1;
    srv->log = cfg->logger != NULL ? cfg->logger : cs_logger_default();
    srv->bind_address = dup_str(a, cfg->bind_address != NULL ? cfg->bind_address : "127.0.0.1");
    srv->tls_cert_path = dup_str(a, cfg->tls_cert_path);
    srv->tls_key_path = dup_str(a, cfg->tls_key_path);
    srv->stage = cs_alloc(a, LWS_PRE + STAGE);
    if (srv->bind_address == NULL || srv->stage == NULL ||
        (cfg->tls_cert_path != NULL && (srv->tls_cert_path == NULL || srv->tls_key_path == NULL))) {
        goto out;
    }
    srv->cfg.bind_address = srv->bind_address;
    srv->cfg.tls_cert_path = srv->tls_cert_path;
    srv->cfg.tls_key_path = srv->tls_key_path;
    if (cs_mutex_init(&srv->post_mu) != CS_OK) {
        goto out;
    }
    if (cs_mutex_init(&srv->start_mu) != CS_OK || cs_cond_init(&srv->start_cv) != CS_OK) {
        goto out;
    }
    *out = srv;
    srv = NULL;
    st = CS_OK;
out:
    if (srv != NULL) {
        cs_freep(a, &srv->bind_address);
        cs_freep(a, &srv->tls_cert_path);
        cs_freep(a, &srv->tls_key_path);
        cs_freep(a, &srv->stage);
        cs_freep(a, &srv);
    }
    return st;
}

cs_status cs_http_server_add_route(cs_http_server *srv, const cs_http_route *route)
{
    struct csi_route *nr;
    struct csi_route *r;
    size_t n;

    if (srv == NULL || route == NULL || route->on_request == NULL) {
        return CS_E_INVAL;
    }
    if (srv->started) {
        return CS_E_STATE;
    }
    if (cs_add_size(srv->n_routes, 1, &n) != CS_OK) {
        return CS_E_OVERFLOW;
    }
    nr = cs_calloc(srv->a, n, sizeof(*nr));
    if (nr == NULL) {
        return CS_E_NOMEM;
    }
    if (srv->n_routes > 0) {
        memcpy(nr, srv->routes, srv->n_routes * sizeof(*nr));
    }
    r = &nr[srv->n_routes];
    r->r = *route;
    r->method = dup_str(srv->a, route->method);
    r->path = dup_str(srv->a, route->path);
    r->header_name = dup_str(srv->a, route->header_name);
    r->header_value = dup_str(srv->a, route->header_value);
    if ((route->method != NULL && r->method == NULL) || (route->path != NULL && r->path == NULL) ||
        (route->header_name != NULL && r->header_name == NULL) ||
        (route->header_value != NULL && r->header_value == NULL)) {
        cs_freep(srv->a, &r->method);
        cs_freep(srv->a, &r->path);
        cs_freep(srv->a, &r->header_name);
        cs_freep(srv->a, &r->header_value);
        cs_freep(srv->a, &nr);
        return CS_E_NOMEM;
    }
    r->r.method = r->method;
    r->r.path = r->path;
    r->r.header_name = r->header_name;
    r->r.header_value = r->header_value;
    cs_freep(srv->a, &srv->routes);
    srv->routes = nr;
    srv->n_routes = n;
    return CS_OK;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char ours[] = "\x02h2\x08http/1.1";
    unsigned char *sel = NULL;

    (void)ssl;
    (void)arg;
    /* Server preference: h2 when the client offers it. */
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static cs_status tls_setup(cs_http_server *srv)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL) {
        return CS_E_NOMEM;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, srv->tls_cert_path) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, srv->tls_key_path, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        CS_LOG_ERROR(srv->log, CSI_MOD, "TLS: cannot use certificate %s / key %s",
                     srv->tls_cert_path, srv->tls_key_path);
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return CS_E_IO;
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    srv->ssl_ctx = ctx;
    return CS_OK;
}

static void loop_main(void *arg)
{
    cs_http_server *srv = arg;
    struct lws_context_creation_info info;
    struct csi_sweep *sw = NULL;
    cs_status st = CS_E_NET;
#if CSI_HAVE_LIBEV
    struct ev_loop *evl = NULL;
#else
    void *evl = NULL;
#endif

    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER; /* the listener is ours: listen_open() */
    info.protocols = protocols;
    info.pt_serv_buf_size = RX_READ;
    info.user = srv;
    info.count_threads = 1;
    /* 0: lws sizes its descriptor table from the open-file limit, indexed (fd_limit_setup()) */
    fd_limit_setup(srv);
    info.fd_limit_per_thread = 0;
#if CSI_HAVE_LIBEV
    /* lws on a libev loop with the epoll backend: lws' own loop polls every connection on each
     * turn (poll() and a scan of its table), ~13% of the server's CPU with 1,000 uploads */
    if (!srv->cfg.poll_loop) {
        void *foreign[1];
        evl = ev_loop_new(EVBACKEND_EPOLL);
        if (evl != NULL) {
            foreign[0] = evl;
            info.options |= LWS_SERVER_OPTION_LIBEV;
            info.foreign_loops = foreign;
            srv->ctx = lws_create_context(&info);
            info.foreign_loops = NULL;
            info.options &= ~(uint64_t)LWS_SERVER_OPTION_LIBEV;
            if (srv->ctx == NULL) {
                ev_loop_destroy(evl);
                evl = NULL;
            }
        }
        if (evl == NULL) {
            CS_LOG_WARN(srv->log, CSI_MOD,
                        "no libev/epoll event loop (is lws' plugin libwebsockets-evlib_ev "
                        "installed?): using poll()");
        }
    }
    if (srv->ctx == NULL)
#endif
    {
        srv->ctx = lws_create_context(&info);
    }
    srv->epoll_loop = evl != NULL;
    CS_LOG_DEBUG(srv->log, CSI_MOD, "event loop: %s", evl != NULL ? "libev (epoll)" : "poll()");
    sw = cs_calloc(srv->a, 1, sizeof(*sw));
    if (srv->ctx != NULL && sw != NULL) {
        struct lws_vhost *vh = lws_get_vhost_by_name(srv->ctx, "default");

        if (vh != NULL && listen_open(srv) == CS_OK) {
            lws_sock_file_fd_type d;

            memset(&d, 0, sizeof(d));
            d.filefd = srv->listen_fd;
            srv->listen_wsi =
                lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, d, PROTO_NAME, NULL);
            if (srv->listen_wsi != NULL) {
                st = CS_OK;
            } else {
                close(srv->listen_fd); /* lws closes only sockets it failed to adopt */
                srv->listen_fd = -1;
            }
        }
    }
    if (st == CS_OK) {
        sw->srv = srv;
        srv->sweep_sul = sw;
        lws_sul_schedule(srv->ctx, 0, &sw->sul, sweep, 10 * LWS_US_PER_MS);
    }
    cs_mutex_lock(&srv->start_mu);
    srv->start_status = st;
    srv->start_state = st == CS_OK ? 1 : -1;
    cs_cond_broadcast(&srv->start_cv);
    cs_mutex_unlock(&srv->start_mu);
    if (st != CS_OK) {
        if (srv->ctx != NULL) {
            lws_context_destroy(srv->ctx);
            srv->ctx = NULL;
        }
#if CSI_HAVE_LIBEV
        if (evl != NULL) {
            ev_loop_destroy(evl);
        }
#endif
        cs_freep(srv->a, &sw);
        return;
    }
    while (!srv->stop_loop) {
#if CSI_HAVE_LIBEV
        if (evl != NULL) {
            ev_run(evl, EVRUN_ONCE); /* lws_cancel_service() wakes it as it wakes poll() */
            continue;
        }
#endif
        lws_service(srv->ctx, 0);
    }
    run_posts(srv); /* the last job completions, while streams still exist */
    srv->stopping = true;
    lws_sul_cancel(&sw->sul);
    if (srv->drain_sul != NULL) {
        lws_sul_cancel(&((struct csi_drain *)srv->drain_sul)->sul);
        drain_finish(srv, CS_E_TIMEOUT); /* destroy during a shutdown: release its caller */
    }
    cs_mutex_lock(&srv->post_mu);
    srv->posts_closed = true;
    cs_mutex_unlock(&srv->post_mu);
    lws_context_destroy(srv->ctx); /* closes every connection: on_close(CS_E_CANCELLED) */
    srv->ctx = NULL;
#if CSI_HAVE_LIBEV
    if (evl != NULL) {
        ev_loop_destroy(evl); /* lws stopped its watchers (libev closes nothing later) */
    }
#endif
    run_posts(srv);
    srv->sweep_sul = NULL;
    cs_freep(srv->a, &sw);
    srv->listen_wsi = NULL; /* adopted: lws_context_destroy() closed it */
    srv->listen_fd = -1;
}

cs_status cs_http_server_start(cs_http_server *srv)
{
    static bool log_set;
    cs_status st;

    if (srv == NULL) {
        return CS_E_INVAL;
    }
    if (srv->started) {
        return CS_E_STATE;
    }
    if (!log_set) {
        log_set = true;
        lws_set_log_level(LLL_ERR, lws_log_to_cs);
    }
    if (srv->tls_cert_path != NULL) {
        st = tls_setup(srv);
        if (st != CS_OK) {
            return st;
        }
    }
    srv->start_state = 0;
    st = cs_thread_create(&srv->loop_thread, loop_main, srv, "cs-http-loop");
    if (st != CS_OK) {
        return st;
    }
    cs_mutex_lock(&srv->start_mu);
    while (srv->start_state == 0) {
        cs_cond_wait(&srv->start_cv, &srv->start_mu);
    }
    st = srv->start_status;
    cs_mutex_unlock(&srv->start_mu);
    if (st != CS_OK) {
        cs_thread_join(&srv->loop_thread);
        CS_LOG_ERROR(srv->log, CSI_MOD, "cannot listen on %s:%u", srv->bind_address, srv->cfg.port);
        return st;
    }
    srv->started = true;
    st = csi_pool_start(&srv->pool, srv, srv->cfg.worker_threads);
    if (st == CS_OK && srv->cfg.bulk_worker_threads > 0) {
        st = csi_pool_start(&srv->bulk, srv, srv->cfg.bulk_worker_threads);
        if (st != CS_OK) {
            csi_pool_stop(&srv->pool);
        }
    }
    if (st != CS_OK) {
        srv->stop_loop = true;
        lws_cancel_service(srv->ctx);
        cs_thread_join(&srv->loop_thread);
        srv->started = false;
        return st;
    }
    return CS_OK;
}

uint16_t cs_http_server_port(const cs_http_server *srv)
{
    return srv != NULL && srv->started ? srv->port : 0;
}

const char *cs_http_server_event_loop(const cs_http_server *srv)
{
    if (srv == NULL || !srv->started) {
        return "";
    }
    return srv->epoll_loop ? "epoll" : "poll";
}

cs_status cs_http_server_submit(cs_http_server *srv, cs_http_loop_fn job, cs_http_loop_fn done,
                                void *arg)
{
    if (srv == NULL || job == NULL) {
        return CS_E_INVAL;
    }
    if (!srv->started) {
        return CS_E_STATE;
    }
    return csi_pool_submit(&srv->pool, job, done, arg);
}

cs_status cs_http_server_submit_bulk(cs_http_server *srv, cs_http_loop_fn job, cs_http_loop_fn done,
                                     void *arg)
{
    if (srv == NULL || job == NULL) {
        return CS_E_INVAL;
    }
    if (!srv->started) {
        return CS_E_STATE;
    }
    return csi_pool_submit(srv->bulk.started ? &srv->bulk : &srv->pool, job, done, arg);
}

cs_status cs_http_server_shutdown(cs_http_server *srv, cs_http_loop_fn drain,
                                  bool (*idle)(void *arg), void *arg, uint32_t timeout_ms)
{
    struct csi_drain *d;
    cs_status st;

    if (srv == NULL) {
        return CS_E_INVAL;
    }
    if (!srv->started) {
        return CS_E_STATE;
    }
    cs_mutex_lock(&srv->start_mu);
    if (srv->drain_state != 0) {
        cs_mutex_unlock(&srv->start_mu);
        return CS_E_STATE;
    }
    srv->drain_state = 1;
    cs_mutex_unlock(&srv->start_mu);
    d = cs_calloc(srv->a, 1, sizeof(*d));
    if (d == NULL) {
        st = CS_E_NOMEM;
        goto fail;
    }
    d->srv = srv;
    /* Written before the post; the post queue's mutex orders them for the loop. */
    srv->drain_sul = d; /* freed by destroy */
    srv->drain_fn = drain;
    srv->drain_idle = idle;
    srv->drain_arg = arg;
    srv->drain_deadline_ns = csi_now_ns() + ms_ns(timeout_ms);
    st = cs_http_server_post(srv, drain_begin, srv);
    if (st != CS_OK) {
        srv->drain_sul = NULL;
        cs_freep(srv->a, &d);
        goto fail;
    }
    cs_mutex_lock(&srv->start_mu);
    while (srv->drain_state != 2) {
        cs_cond_wait(&srv->start_cv, &srv->start_mu);
    }
    st = srv->drain_status;
    cs_mutex_unlock(&srv->start_mu);
    return st;
fail:
    cs_mutex_lock(&srv->start_mu);
    srv->drain_state = 0;
    cs_mutex_unlock(&srv->start_mu);
    return st;
}

void cs_http_server_get_stats(cs_http_server *srv, cs_http_server_stats *out)
{
    *out = srv->stats;
}

void cs_http_server_destroy(cs_http_server **psrv)
{
    cs_http_server *srv;
    const cs_allocator *a;

    if (psrv == NULL || *psrv == NULL) {
        return;
    }
    srv = *psrv;
    a = srv->a;
    if (srv->started) {
        csi_pool_stop(&srv->bulk); /* jobs finish; their completions are queued to the loop */
        csi_pool_stop(&srv->pool);
        cs_mutex_lock(&srv->post_mu);
        srv->stop_loop = true;
        lws_cancel_service(srv->ctx);
        cs_mutex_unlock(&srv->post_mu);
        cs_thread_join(&srv->loop_thread);
    }
    if (srv->ssl_ctx != NULL) {
        SSL_CTX_free(srv->ssl_ctx);
    }
    for (size_t i = 0; i < srv->n_routes; i++) {
        cs_freep(a, &srv->routes[i].method);
        cs_freep(a, &srv->routes[i].path);
        cs_freep(a, &srv->routes[i].header_name);
        cs_freep(a, &srv->routes[i].header_value);
    }
    cs_freep(a, &srv->routes);
    cs_freep(a, &srv->drain_sul);
    cs_mutex_destroy(&srv->post_mu);
    cs_mutex_destroy(&srv->start_mu);
    cs_cond_destroy(&srv->start_cv);
    cs_freep(a, &srv->bind_address);
    cs_freep(a, &srv->tls_cert_path);
    cs_freep(a, &srv->tls_key_path);
    cs_freep(a, &srv->stage);
    cs_freep(a, psrv);
}
