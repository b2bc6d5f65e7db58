/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by the files of the HTTP stack: the byte queue, the parsed request head, the
 * socket-free HTTP/1.1 request parser (fed bytes, reports to a sink: what fuzz_http1 drives), the
 * connection and stream structs, and the hooks between server.c (loop, sockets, TLS, timers),
 * stream.c (router, request/response API), h1.c and h2.c (the two wire protocols) and pool.c. */
#ifndef CS_INGEST_HTTP_INT_H
#define CS_INGEST_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

/* ---------------------------------------------------------------------------------------------- */
/* Byte queue: a list of chunks; append copies, peek/skip read from the front.                   */
/* ---------------------------------------------------------------------------------------------- */

struct csi_bufq_chunk {
    struct csi_bufq_chunk *next;
    size_t off; /* first unread byte */
    size_t len; /* bytes written */
    size_t cap;
    uint8_t *ext; /* NULL: the bytes are data[]; else a malloc'ed block the queue frees */
    uint8_t data[];
};

struct csi_bufq {
    struct csi_bufq_chunk *head;
    struct csi_bufq_chunk *tail;
    size_t len; /* unread bytes in all chunks */
    const cs_allocator *a;
};

void csi_bufq_init(struct csi_bufq *q, const cs_allocator *a);
cs_status csi_bufq_append(struct csi_bufq *q, const void *data, size_t len);
/* Queues `len` bytes of a malloc'ed block without copying them; the queue frees it (also when
 * this fails). */
cs_status csi_bufq_append_owned(struct csi_bufq *q, void *data, size_t len);
/* The contiguous unread bytes at the front; returns their count (0 when empty). */
size_t csi_bufq_peek(const struct csi_bufq *q, const uint8_t **p);
void csi_bufq_skip(struct csi_bufq *q, size_t n);
/* Copies up to `n` bytes out and skips them; returns the count. */
size_t csi_bufq_read(struct csi_bufq *q, void *dst, size_t n);
void csi_bufq_clear(struct csi_bufq *q);

/* ---------------------------------------------------------------------------------------------- */
/* Request head: one arena of NUL-terminated strings sized at max_header_bytes, plus offsets.     */
/* ---------------------------------------------------------------------------------------------- */

struct csi_hdr_ent {
    uint32_t name;  /* offset of the lower-case name */
    uint32_t value; /* offset of the value */
};

struct csi_reqhead {
    const cs_allocator *a;
    char *arena;
    size_t len;
    size_t cap;
    size_t counted;   /* bytes counted against max_header_bytes (the NULs are not) */
    size_t max_bytes; /* max_header_bytes */
    struct csi_hdr_ent *ents;
    size_t n;
    size_t max_ents;
    uint32_t method; /* offsets; UINT32_MAX = unset */
    uint32_t path;
    uint32_t query;
    int version;            /* 10, 11, 20 */
    int64_t content_length; /* -1: unknown (chunked, or HTTP/2 without content-length) */
    bool keep_alive;
    bool expect_continue;
    bool is_head;
};

#define CSI_NOOFF UINT32_MAX

cs_status csi_reqhead_new(const cs_allocator *a, size_t max_bytes, size_t max_headers,
                          struct csi_reqhead **out);
void csi_reqhead_free(struct csi_reqhead **h);
/* Appends bytes of the current string, counted against the limit. CS_E_LIMIT above it. */
cs_status csi_reqhead_put(struct csi_reqhead *h, const char *data, size_t len, bool count);
/* Ends the current string (appends NUL); returns the offset it started at via *start. */
cs_status csi_reqhead_end(struct csi_reqhead *h);
/* Starts a header entry; its name and value are the next two strings. CS_E_LIMIT above max. */
cs_status csi_reqhead_add(struct csi_reqhead *h, uint32_t name_off, uint32_t value_off);
const char *csi_reqhead_get(const struct csi_reqhead *h, const char *name);
static inline const char *csi_reqhead_str(const struct csi_reqhead *h, uint32_t off)
{
    return off == CSI_NOOFF ? "" : h->arena + off;
}

/* ---------------------------------------------------------------------------------------------- */
/* HTTP/1.1 request parser: socket-free                                                           */
/* ---------------------------------------------------------------------------------------------- */

enum csi_verdict {
    CSI_GO = 0,    /* keep parsing */
    CSI_PAUSE = 1, /* stop after this event; the caller keeps the unparsed rest */
    CSI_STOP = 2,  /* stop for good (the sink is closing the connection) */
};

struct csi_h1p_sink {
    /* The head is complete; ownership of `head` passes to the sink. */
    enum csi_verdict (*on_head)(void *ctx, struct csi_reqhead *head);
    enum csi_verdict (*on_body)(void *ctx, const uint8_t *data, size_t len);
    enum csi_verdict (*on_end)(void *ctx);
    /* The bytes are not HTTP or over a limit: 400 or 431. Called once; the parser is dead. */
    void (*on_error)(void *ctx, int status);
};

struct http_parser; /* http-parser's, kept out of this header: it clashes with lws */

struct csi_h1p {
    struct http_parser *p;
    const struct csi_h1p_sink *sink;
    void *ctx;
    const cs_allocator *a;
    size_t max_header_bytes;
    size_t max_headers;
    struct csi_reqhead *head; /* being parsed; NULL between messages */
    uint32_t cur_name;        /* offset of the header name being read */
    int last;                 /* 0 url, 1 field, 2 value */
    int error;                /* status reported to on_error, or 0 */
    bool dead;
    bool in_message;
};

cs_status csi_h1p_init(struct csi_h1p *h, const struct csi_h1p_sink *sink, void *ctx,
                       const cs_allocator *a, size_t max_header_bytes, size_t max_headers);
void csi_h1p_cleanup(struct csi_h1p *h);
/* Parses up to `len` bytes and returns how many were consumed: all of them unless a sink
 * verdict paused parsing. After an error or a STOP, everything is consumed (discarded). */
size_t csi_h1p_feed(struct csi_h1p *h, const uint8_t *data, size_t len);
/* True while a request has begun but its head is not complete. */
bool csi_h1p_in_head(const struct csi_h1p *h);

/* ---------------------------------------------------------------------------------------------- */
/* Server, connections, streams                                                                   */
/* ---------------------------------------------------------------------------------------------- */

struct lws;
struct lws_context;
struct csi_conn;

struct csi_route {
    cs_http_route r; /* strings point into the copies below */
    char *method;
    char *path;
    char *header_name;
    char *header_value;
};

enum csi_proto { CSI_PROTO_SNIFF = 0, CSI_PROTO_H1, CSI_PROTO_H2 };

struct cs_http_stream {
    cs_http_server *srv;
    struct csi_conn *conn; /* NULL once closed */
    struct cs_http_stream *next_in_conn;
    struct cs_http_stream *prev_in_conn;
    unsigned refs;
    int32_t id; /* HTTP/2 stream id; 0 on HTTP/1.1 */
    struct csi_reqhead *head;
    const struct csi_route *route; /* NULL: the server answers itself (404, 413, 431) */
    void *data;
    uint64_t body_received;
    int head_error; /* 431 found while reading HTTP/2 headers */
    bool dispatched;
    bool body_ended;
    bool paused;
    bool responded;
    bool finished;
    bool closed;
    bool want_writable;
    bool doomed;       /* the server answered an error; further body is discarded */
    bool resp_chunked; /* HTTP/1.1 chunked framing */
    bool resp_nobody;  /* HEAD, 204, 304 */
    bool h2_eof_sent;
    bool h2_end_pending; /* END_STREAM seen while body was held */
    bool h2_discarding;  /* response complete, request body still coming: dropped */
    bool h2_rst_sent;    /* server shutdown: RST_STREAM(NO_ERROR) submitted */
    uint64_t h2_discard_from;
    int64_t resp_length; /* -1 streamed */
    uint64_t resp_written;
    struct csi_bufq out;    /* HTTP/2: response DATA not yet taken by nghttp2 */
    struct csi_bufq rxhold; /* HTTP/2: body received while paused */
    struct csi_bufq body;   /* CS_HTTP_ROUTE_BUFFERED: the body so far */
};

struct csi_tls;

struct csi_conn {
    cs_http_server *srv;
    struct lws *wsi;
    struct csi_conn *next;
    struct csi_conn *prev;
    struct csi_conn *dirty_next;
    bool dirty;
    enum csi_proto proto;
    struct csi_tls *tls;
    uint8_t sniff[24];
    size_t sniff_len;
    struct csi_bufq out;  /* plaintext to write (HTTP/1.1 output; HTTP/2 spill of mem_send) */
    struct csi_bufq hold; /* HTTP/1.1: received bytes not yet parsed */
    uint64_t last_io_ns;
    uint64_t head_start_ns;
    uint64_t linger_start_ns;
    uint64_t last_unsent; /* unsent_bytes() at the last sweep */
    cs_status close_reason;
    bool rx_off;
    bool killing;
    bool lingering;
    bool close_after; /* close once the current response is flushed */
    bool tls_shutdown_sent;
    bool goaway_sent; /* HTTP/2: GOAWAY submitted (idle close or server shutdown) */
    /* HTTP/1.1 */
    struct csi_h1p h1p;
    bool h1p_ready;
    cs_http_stream *cur;
    /* HTTP/2 */
    void *h2;                /* nghttp2_session */
    cs_http_stream *streams; /* HTTP/2 streams open on this connection */
};

struct csi_post {
    struct csi_post *next;
    cs_http_loop_fn fn;
    void *arg;
};

struct csi_job {
    struct csi_post post; /* reused to report `done` back to the loop */
    struct csi_job *next;
    cs_http_loop_fn job;
    cs_http_loop_fn done;
    void *arg;
    struct csi_pool *pool;
    bool deferred; /* the job called cs_http_job_defer() (its worker thread only) */
    /* With deferred: CSI_JOB_RUNNING until the first of "the job returned" and
     * cs_http_job_complete(); the second of the two posts `done` (see pool.c). */
    _Atomic int phase;
};

enum { CSI_JOB_RUNNING, CSI_JOB_RETURNED, CSI_JOB_COMPLETED };

struct csi_pool {
    cs_http_server *srv;
    cs_mutex mu;
    cs_cond cv;
    struct csi_job *head;
    struct csi_job *tail;
    cs_thread *threads;
    uint32_t n_threads;
    bool stop;
    bool started;
};

struct cs_http_server {
    cs_http_server_config cfg;
    bool epoll_loop; /* the loop runs on libev (set by the loop thread before it reports start) */
    const cs_allocator *a;
    const cs_logger *log;
    char *bind_address;
    char *tls_cert_path;
    char *tls_key_path;
    struct csi_route *routes;
    size_t n_routes;
    cs_http_loop_fn tick_fn[CS_HTTP_MAX_TICKS]; /* cs_http_server_add_tick() */
    void *tick_arg[CS_HTTP_MAX_TICKS];
    size_t n_ticks;
    struct lws_context *ctx;
    void *ssl_ctx; /* SSL_CTX */
    uint16_t port;
    bool started;
    _Atomic bool stop_loop;
    bool stopping;
    cs_thread loop_thread;
    cs_mutex post_mu;
    struct csi_post *post_head;
    struct csi_post *post_tail;
    bool posts_closed;
    int listen_fd;          /* our listening socket; -1 once closed (lws polls it as a raw file) */
    struct lws *listen_wsi; /* NULL once closed */
    /* Graceful shutdown (cs_http_server_shutdown): loop-thread state... */
    bool draining;      /* no new connections; no new requests on open ones */
    bool accept_paused; /* out of descriptors: the listener is not polled until the sweep */
    cs_http_loop_fn drain_fn;
    bool (*drain_idle)(void *arg);
    void *drain_arg;
    uint64_t drain_deadline_ns;
    uint64_t drain_idle_ns; /* when drain_idle() first held, 0 before */
    void *drain_sul;        /* lws_sorted_usec_list_t: the drain's 20 ms check */
    /* ...and its outcome for the waiting caller (under start_mu, signalled on start_cv). */
    int drain_state; /* 0 none, 1 running, 2 done */
    cs_status drain_status;
    struct csi_conn *conns;
    struct csi_conn *dirty_head;
    uint32_t n_conns;
    cs_http_server_stats stats;
    struct csi_pool pool;
    struct csi_pool bulk; /* cs_http_server_submit_bulk(); not started when not configured */
    void *sweep_sul;      /* lws_sorted_usec_list_t */
    uint8_t *stage;       /* write staging buffer, LWS_PRE headroom */
    uint8_t rxbuf[16384]; /* TLS plaintext out of SSL_read */
    size_t stage_cap;
    cs_mutex start_mu;
    cs_cond start_cv;
    int start_state; /* 0 starting, 1 running, -1 failed */
    cs_status start_status;
};

#define CSI_MOD "http"

/* server.c */
void csi_conn_dirty(struct csi_conn *c);
void csi_conn_kill(struct csi_conn *c, cs_status why);
void csi_conn_rx_flow(struct csi_conn *c, bool enable);
void csi_server_post_node(cs_http_server *srv, struct csi_post *node);
uint64_t csi_now_ns(void);

/* stream.c */
cs_status csi_stream_new(struct csi_conn *c, int32_t id, cs_http_stream **out);
/* Head complete (s->head set): route, limits, on_request, 100-continue. */
void csi_stream_dispatch(cs_http_stream *s);
/* Body bytes; returns true when delivered (or discarded), false when held for a paused
 * handler (HTTP/2 only holds; HTTP/1.1 stops parsing instead). */
void csi_stream_body(cs_http_stream *s, const uint8_t *data, size_t len);
void csi_stream_body_end(cs_http_stream *s);
void csi_stream_close(cs_http_stream *s, cs_status why);
/* The server's own answer (404, 413, 431, ...), a small JSON body. */
void csi_stream_error(cs_http_stream *s, int status);
void csi_stream_fire_writable(cs_http_stream *s);
const char *csi_reason(int status);

/* h1.c: the HTTP/1.1 connection protocol */
cs_status csi_h1_start(struct csi_conn *c); /* CS_E_NOMEM */
void csi_h1_rx(struct csi_conn *c, const uint8_t *data, size_t len);
void csi_h1_service(struct csi_conn *c);
void csi_h1_conn_closed(struct csi_conn *c);
bool csi_h1_idle(const struct csi_conn *c);
bool csi_h1_expects_peer(const struct csi_conn *c);
cs_status csi_h1_respond(cs_http_stream *s, int status, const cs_http_header *headers, size_t n,
                         int64_t content_length);
cs_status csi_h1_write(cs_http_stream *s, const void *data, size_t len);
cs_status csi_h1_write_owned(cs_http_stream *s, void *data, size_t len);
cs_status csi_h1_finish(cs_http_stream *s);
void csi_h1_continue(cs_http_stream *s);

/* h2.c: the HTTP/2 connection protocol */
cs_status csi_h2_start(struct csi_conn *c);
/* Returns false when the connection must close. */
bool csi_h2_rx(struct csi_conn *c, const uint8_t *data, size_t len);
/* Moves frames from nghttp2 into c->out until it holds at least `want` bytes. False: close. */
bool csi_h2_fill(struct csi_conn *c, size_t want);
void csi_h2_service(struct csi_conn *c);
void csi_h2_conn_closed(struct csi_conn *c);
bool csi_h2_idle(const struct csi_conn *c);
bool csi_h2_expects_peer(const struct csi_conn *c);
bool csi_h2_want_write(const struct csi_conn *c);
cs_status csi_h2_respond(cs_http_stream *s, int status, const cs_http_header *headers, size_t n,
                         int64_t content_length);
cs_status csi_h2_write(cs_http_stream *s, const void *data, size_t len);
cs_status csi_h2_finish(cs_http_stream *s);
void csi_h2_reset(cs_http_stream *s);
void csi_h2_consume(cs_http_stream *s, size_t len);
void csi_h2_goaway(struct csi_conn *c);
/* Server shutdown, after the handlers had LINGER time to end: RST_STREAM(NO_ERROR) every stream
 * whose response is complete but whose request body is still coming. */
void csi_h2_end_finished(struct csi_conn *c);

/* pool.c */
cs_status csi_pool_start(struct csi_pool *p, cs_http_server *srv, uint32_t n);
cs_status csi_pool_submit(struct csi_pool *p, cs_http_loop_fn job, cs_http_loop_fn done, void *arg);
void csi_pool_stop(struct csi_pool *p);

#endif /* CS_INGEST_HTTP_INT_H */
