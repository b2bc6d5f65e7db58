/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file http.h
 * @brief The ingest server's HTTP stack: one event loop (libwebsockets, raw-socket role) carrying
 * HTTP/1.1 (http-parser) and HTTP/2 (libnghttp2, h2c by prior knowledge on plain ports, ALPN on
 * TLS), one router for both, a request/response interface that is full duplex (a response may
 * start and stream while the request body is still arriving), and a small worker pool whose jobs
 * report back to the loop. Private to the server (`ingest-server/`); the api/ layer builds on it.
 *
 * Threads: every `cs_http_stream_*` call and every handler callback happens on the loop thread.
 * The only functions callable from any thread are cs_http_server_post() and
 * cs_http_server_submit(); use them to get back onto the loop. A stream handed to another thread
 * must be held with cs_http_stream_ref() and released with cs_http_stream_unref() on the loop.
 *
 * @code
 * static void hello(cs_http_stream *s, void *user)
 * {
 *     cs_http_stream_respond_simple(s, 200, "text/plain", "hi\n", 3);
 * }
 * cs_http_server_config cfg;
 * cs_http_server_config_init(&cfg);
 * cfg.port = 0; // ephemeral
 * cs_http_server *srv = NULL;
 * cs_http_server_create(&cfg, &srv);
 * cs_http_route r = {.method = "GET", .path = "/hello", .on_request = hello};
 * cs_http_server_add_route(srv, &r);
 * cs_http_server_start(srv);
 * printf("listening on %u\n", cs_http_server_port(srv));
 * ...
 * cs_http_server_destroy(&srv);
 * @endcode
 */
#ifndef CS_INGEST_HTTP_H
#define CS_INGEST_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/platform.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cs_http_server cs_http_server;
typedef struct cs_http_stream cs_http_stream;

/** @brief Server settings; fill with cs_http_server_config_init(), then adjust. Fields are only
 * ever appended. Strings are copied by cs_http_server_create(). */
typedef struct cs_http_server_config {
    const char *bind_address;        /**< "127.0.0.1" (default), "0.0.0.0", an interface address */
    uint16_t port;                   /**< 0 = ephemeral: ask cs_http_server_port() after start */
    const char *tls_cert_path;       /**< PEM certificate chain; NULL (default) = plain HTTP */
    const char *tls_key_path;        /**< PEM private key; required with tls_cert_path */
    size_t max_header_bytes;         /**< request line + headers (431 above); default 16 KiB */
    size_t max_headers;              /**< number of request headers (431 above); default 100 */
    uint64_t max_body_bytes;         /**< body of non-streaming routes (413 above); default 8 MiB */
    uint32_t idle_timeout_ms;        /**< a connection with no request in flight closes after this
                                          long without a byte; default 60 s */
    uint32_t slow_client_timeout_ms; /**< a request whose headers take longer than this, or whose
                                       body or response makes no progress for this long while
                                       the peer is expected to move, is dropped; default 30 s */
    uint32_t max_connections;     /**< connections beyond this are closed at accept; default 1024 */
    uint32_t worker_threads;      /**< threads of the blocking-job pool; default 4 */
    uint32_t bulk_worker_threads; /**< threads of a second pool for long jobs
                                       (cs_http_server_submit_bulk()); 0 (default): none, bulk
                                       jobs share the first pool */
    size_t write_low_water;       /**< on_writable fires when queued output is at or below this;
                                       default 256 KiB */
    uint32_t h2_max_concurrent_streams; /**< default 128 */
    uint32_t h2_stream_window;          /**< per-stream receive window (bounds what a paused stream
                                             buffers); default 1 MiB */
    const cs_logger *logger;            /**< NULL = cs_logger_default() */
    const cs_allocator *allocator;      /**< NULL = cs_allocator_default() */
    bool poll_loop; /**< false (default): lws on a libev loop with the epoll backend where the
                         build and the lws evlib plugin allow (the loop's cost per event does
                         not grow with the number of connections), else lws' own poll() loop;
                         true: always lws' poll() loop */
} cs_http_server_config;

/** @brief A request or response header. Names of request headers are lower case. Strings are
 * NUL-terminated and owned by the stream (valid until its on_close returns). */
typedef struct cs_http_header {
    const char *name;
    const char *value;
} cs_http_header;

/** Route flags. */
enum {
    /** The request body has no size limit (PutMedia); without it max_body_bytes applies. */
    CS_HTTP_ROUTE_STREAMING = 1u << 0,
    /** The server collects the whole body (within max_body_bytes) and calls on_body once with
     * all of it, then on_body_end. Convenient for JSON APIs. */
    CS_HTTP_ROUTE_BUFFERED = 1u << 1,
};

/**
 * @brief A route and its handler. Routes are tried in the order they were added; the first
 * whose method, path and header condition all match takes the request. No match: 404.
 *
 * Callbacks run on the loop thread and must not block (use cs_http_server_submit()).
 * For each request the handler sees: on_request once (headers complete), on_body zero or more
 * times, on_body_end once when the body is complete (possibly before on_request returns for
 * requests without a body... always after on_request), and on_close exactly once, last.
 */
typedef struct cs_http_route {
    const char *method;       /**< "POST"; NULL = any */
    const char *path;         /**< exact path ("/putMedia"); a trailing '*' makes it a prefix;
                                   NULL = any */
    const char *header_name;  /**< optional condition, e.g. "x-amz-target" (any case) */
    const char *header_value; /**< the value it must have; a trailing '*' makes it a prefix */
    uint32_t flags;           /**< CS_HTTP_ROUTE_* */
    /** Headers are complete. May respond now, pause the body, keep the stream for later. For an
     * HTTP/1.1 `Expect: 100-continue` the server sends `100 Continue` when this returns without
     * a final response having been started (the handler "accepts"). Required. */
    void (*on_request)(cs_http_stream *s, void *user);
    /** A piece of the request body; `data` is valid during the call only. Optional. */
    void (*on_body)(cs_http_stream *s, const uint8_t *data, size_t len, void *user);
    /** The request body is complete. Optional. */
    void (*on_body_end)(cs_http_stream *s, void *user);
    /** Queued response output fell to write_low_water, after cs_http_stream_want_writable().
     * Optional. */
    void (*on_writable)(cs_http_stream *s, void *user);
    /** The stream is over: `why` is CS_OK (response sent and body received), CS_E_NET (peer
     * gone or stream reset), CS_E_TIMEOUT, CS_E_LIMIT, CS_E_MALFORMED or CS_E_CANCELLED (server
     * shutting down). Release per-request state here. Optional. */
    void (*on_close)(cs_http_stream *s, cs_status why, void *user);
    void *user; /**< passed to every callback */
} cs_http_route;

/** @brief Fills `cfg` with the defaults listed at each field. */
CS_API void cs_http_server_config_init(cs_http_server_config *cfg);

/**
 * @brief Creates a server (not yet listening).
 * @return CS_OK, CS_E_INVAL (missing TLS key, zero limits), CS_E_NOMEM
 */
CS_API cs_status cs_http_server_create(const cs_http_server_config *cfg, cs_http_server **out);

/**
 * @brief Adds a route (copied). Only before cs_http_server_start().
 * @return CS_OK, CS_E_INVAL (no on_request), CS_E_STATE (already started), CS_E_NOMEM
 */
CS_API cs_status cs_http_server_add_route(cs_http_server *srv, const cs_http_route *route);

/**
 * @brief Binds, listens and starts the loop thread and the worker pool.
 * @return CS_OK, CS_E_NET (cannot bind), CS_E_IO (TLS certificate or key unusable), CS_E_NOMEM,
 *         CS_E_STATE (already started)
 */
CS_API cs_status cs_http_server_start(cs_http_server *srv);

/** @brief The bound TCP port (useful with port 0); 0 before start. */
CS_API uint16_t cs_http_server_port(const cs_http_server *srv);

/** @brief The event loop the started server runs on: "epoll" (libev) or "poll" (lws' own);
 * "" before start. */
CS_API const char *cs_http_server_event_loop(const cs_http_server *srv);

/**
 * @brief Stops the loop (open streams get on_close(CS_E_CANCELLED)), joins the workers after
 * their current jobs, frees everything, sets `*srv` to NULL. Accepts NULL. Not from the loop.
 */
CS_API void cs_http_server_destroy(cs_http_server **srv);

/** @brief A function run on the loop thread. */
typedef void (*cs_http_loop_fn)(void *arg);

/**
 * @brief Graceful shutdown, step one (cs_http_server_destroy() is step two). Blocks the calling
 * thread (not the loop) while the loop:
 * 1. closes the listening socket (new connections are refused from then on; those the kernel
 *    had already completed are accepted first and treated as below);
 * 2. ends keep-alive: idle HTTP/1.1 connections are closed, a response started from now on says
 *    `connection: close` and its connection closes after it, a request whose head completes from
 *    now on gets `503` + `connection: close`; HTTP/2 connections get GOAWAY (streams above the
 *    last one processed are refused, open ones go on) and close when their last stream ends;
 * 3. calls `drain(arg)` once: the handlers' cue to end what they have in flight (finish uploads,
 *    end live responses);
 * 4. waits until `idle(arg)` returns true (polled on the loop every 20 ms) and every connection
 *    has closed: a connection closes once its responses are complete and written (HTTP/1.1:
 *    FIN after the last byte, then the usual lingering close of at most 2 s). HTTP/2 streams whose
 *    response is complete while the client still sends their request body are reset with
 *    RST_STREAM(NO_ERROR) 2 s after `idle` first held.
 * Worker jobs keep running and reporting to the loop throughout; cs_http_server_destroy() then
 * runs the remaining ones, delivers their completions and closes what is left
 * (on_close(CS_E_CANCELLED)).
 * @param[in] drain      called once on the loop thread; may be NULL
 * @param[in] idle       polled on the loop thread; NULL = always idle (wait for connections only)
 * @param[in] arg        passed to both
 * @param[in] timeout_ms upper bound of the wait (0 = do not wait: stop accepting, call `drain`,
 *                       return CS_E_TIMEOUT unless already idle)
 * @return CS_OK (idle and every connection closed), CS_E_TIMEOUT (`timeout_ms` passed first),
 *         CS_E_STATE (not started, or a shutdown already ran), CS_E_INVAL, CS_E_NOMEM
 *
 * @code
 * sigwait(&sigs, &sig);                        // SIGTERM
 * cs_http_server_shutdown(srv, app_drain, app_idle, app, 10000);
 * cs_http_server_destroy(&srv);
 * @endcode
 */
CS_API cs_status cs_http_server_shutdown(cs_http_server *srv, cs_http_loop_fn drain,
                                         bool (*idle)(void *arg), void *arg, uint32_t timeout_ms);

/**
 * @brief Runs `fn(arg)` on the loop thread soon (thread-safe; FIFO). Wakes the loop with
 * lws_cancel_service(). Posts that arrive after destroy began run with the server stopping
 * (streams already closed); they still run, so arguments are always released.
 * @return CS_OK, CS_E_NOMEM, CS_E_STATE (server not started)
 */
CS_API cs_status cs_http_server_post(cs_http_server *srv, cs_http_loop_fn fn, void *arg);

/**
 * @brief Runs `job(arg)` on a worker thread (may block: disk, SQLite), then `done(arg)` on the
 * loop thread. Thread-safe. Jobs run in submission order on as many workers as configured.
 * @return CS_OK, CS_E_NOMEM, CS_E_STATE (server not started or stopping)
 */
CS_API cs_status cs_http_server_submit(cs_http_server *srv, cs_http_loop_fn job,
                                       cs_http_loop_fn done, void *arg);

/**
 * @brief As cs_http_server_submit(), on the bulk pool (bulk_worker_threads) when there is one:
 * long jobs (a fragment's durable write) then never delay short ones (control-plane requests,
 * stream lookups, reads) queued behind them.
 */
CS_API cs_status cs_http_server_submit_bulk(cs_http_server *srv, cs_http_loop_fn job,
                                            cs_http_loop_fn done, void *arg);

/** A worker job whose completion was deferred (cs_http_job_defer). */
typedef struct csi_job cs_http_job;

/**
 * @brief From inside a job run by cs_http_server_submit() or cs_http_server_submit_bulk(), on its
 * worker thread: its `done` is not posted when the job returns but once cs_http_job_complete() is
 * called as well (from any thread, before or after the job returned). The worker is free for the
 * next job as soon as the job returns: for jobs whose end waits on another thread's work (a group
 * commit) without holding a worker for it.
 * @return the handle to complete exactly once; NULL outside a job or when already deferred
 */
CS_API cs_http_job *cs_http_job_defer(void);

/** @brief The deferred job's work is finished: `done(arg)` is posted to the loop (once the job
 * function has returned too). Thread-safe; cannot fail. NULL is ignored. */
CS_API void cs_http_job_complete(cs_http_job *job);

/** Most tick hooks a server takes. */
#define CS_HTTP_MAX_TICKS 4

/**
 * @brief Adds a hook the loop thread calls about once a second (the server's housekeeping
 * sweep: at most every second, more often with short idle/slow-client timeouts): for handlers
 * that act on time, e.g. keep-alive lines on a quiet response. Only before
 * cs_http_server_start().
 * @return CS_OK, CS_E_INVAL, CS_E_STATE (started), CS_E_LIMIT (CS_HTTP_MAX_TICKS already)
 */
CS_API cs_status cs_http_server_add_tick(cs_http_server *srv, cs_http_loop_fn fn, void *arg);

typedef struct cs_http_server_stats {
    uint64_t connections_accepted;
    uint64_t connections_open;
    uint64_t requests;
    uint64_t h2_connections;
    uint64_t tls_connections;
    uint64_t timeouts;
} cs_http_server_stats;

/** @brief Current counters (loop thread or racy reads elsewhere; for tests and stats). */
CS_API void cs_http_server_get_stats(cs_http_server *srv, cs_http_server_stats *out);

/* ---------------------------------------------------------------------------------------------- */
/* The request                                                                                    */
/* ---------------------------------------------------------------------------------------------- */

/** @brief "GET", "POST", ... */
CS_API const char *cs_http_stream_method(const cs_http_stream *s);
/** @brief The path without the query ("/putMedia"). */
CS_API const char *cs_http_stream_path(const cs_http_stream *s);
/** @brief The query after '?' without it, "" when none. */
CS_API const char *cs_http_stream_query(const cs_http_stream *s);
/** @brief 11 for HTTP/1.1 (10 for 1.0), 20 for HTTP/2. */
CS_API int cs_http_stream_version(const cs_http_stream *s);
/** @brief True when the connection is TLS. */
CS_API bool cs_http_stream_is_tls(const cs_http_stream *s);
/** @brief The first request header called `name` (any case), or NULL. On HTTP/2 "host" also
 * finds ":authority". */
CS_API const char *cs_http_stream_header(const cs_http_stream *s, const char *name);
/** @brief Number of request headers (HTTP/2 pseudo-headers included, with their ':' names). */
CS_API size_t cs_http_stream_header_count(const cs_http_stream *s);
/** @brief Request header `i`. @return CS_OK or CS_E_RANGE. */
CS_API cs_status cs_http_stream_header_at(const cs_http_stream *s, size_t i, cs_http_header *out);
/** @brief The declared body length, or -1 (chunked / HTTP/2 without content-length). */
CS_API int64_t cs_http_stream_content_length(const cs_http_stream *s);
/** @brief Body bytes received so far. */
CS_API uint64_t cs_http_stream_body_received(const cs_http_stream *s);

/** @brief Handler-owned per-request pointer (NULL initially). */
CS_API void cs_http_stream_set_data(cs_http_stream *s, void *data);
CS_API void *cs_http_stream_data(const cs_http_stream *s);

/**
 * @brief Stops (true) or resumes (false) delivery of request body: back-pressure toward the
 * client. HTTP/1.1 stops reading the socket; HTTP/2 stops returning flow-control window, so at
 * most one stream window is buffered. Delivery resumes from the loop soon after `false`.
 */
CS_API void cs_http_stream_pause_body(cs_http_stream *s, bool pause);

/* ---------------------------------------------------------------------------------------------- */
/* The response                                                                                   */
/* ---------------------------------------------------------------------------------------------- */

/**
 * @brief Starts the response; allowed at any time before on_close, including before the body
 * ends. `content_length` >= 0 announces a fixed size; -1 streams (HTTP/1.1 chunked, HTTP/2 DATA
 * frames until cs_http_stream_finish()). The server adds framing headers (content-length,
 * transfer-encoding, connection); do not pass them.
 * @return CS_OK, CS_E_STATE (already started or stream closed), CS_E_INVAL, CS_E_NOMEM
 */
CS_API cs_status cs_http_stream_respond(cs_http_stream *s, int status,
                                        const cs_http_header *headers, size_t n_headers,
                                        int64_t content_length);

/**
 * @brief Queues response body bytes (copied). Never blocks; watch
 * cs_http_stream_write_pending() and use cs_http_stream_want_writable() for back-pressure.
 * @return CS_OK, CS_E_STATE (not started, finished or closed), CS_E_RANGE (beyond
 * content_length), CS_E_NOMEM
 */
CS_API cs_status cs_http_stream_write(cs_http_stream *s, const void *data, size_t len);

/**
 * @brief As cs_http_stream_write(), but takes `data` (from malloc) over: an HTTP/1.1 body that is
 * not chunked is queued without a copy; the stack frees `data` in every case, failures included.
 */
CS_API cs_status cs_http_stream_write_owned(cs_http_stream *s, void *data, size_t len);

/** @brief Ends the response body. @return CS_OK, CS_E_STATE, CS_E_RANGE (short of the announced
 * content_length: the connection or stream is reset instead of finishing cleanly). */
CS_API cs_status cs_http_stream_finish(cs_http_stream *s);

/** @brief respond + write + finish in one call. */
CS_API cs_status cs_http_stream_respond_simple(cs_http_stream *s, int status,
                                               const char *content_type, const void *body,
                                               size_t len);

/** @brief Response bytes queued and not yet handed to the socket. */
CS_API size_t cs_http_stream_write_pending(const cs_http_stream *s);

/** @brief Asks for one on_writable call once queued output is at or below write_low_water
 * (immediately from the loop if it already is). */
CS_API void cs_http_stream_want_writable(cs_http_stream *s);

/** @brief Abandons the stream: HTTP/2 RST_STREAM, HTTP/1.1 closes the connection. on_close
 * follows with CS_E_CANCELLED. */
CS_API void cs_http_stream_abort(cs_http_stream *s);

/** @brief True until on_close has been delivered. */
CS_API bool cs_http_stream_is_open(const cs_http_stream *s);

/** @brief Keeps the handle valid beyond on_close (calls then fail with CS_E_STATE). Loop thread
 * only, like unref. */
CS_API void cs_http_stream_ref(cs_http_stream *s);
CS_API void cs_http_stream_unref(cs_http_stream *s);

#ifdef __cplusplus
}
#endif

#endif /* CS_INGEST_HTTP_H */
