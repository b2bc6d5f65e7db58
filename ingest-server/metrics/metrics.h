/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file metrics.h
 * @brief The ingest server's operational counters, exposed on `GET /metrics` in the Prometheus
 * text exposition format 0.0.4 (docs/internals/METRICS.md lists every series). Private to the
 * server.
 *
 * A registry is a fixed set of counters, gauges and one histogram, each a relaxed C11 atomic:
 * updating one is a single atomic add from any thread, with no lock and no allocation, so hooks
 * in the HTTP loop and the worker pool cost a few nanoseconds. Labelled series use fixed tables
 * (API names, KVS error names, PutMedia ErrorIds); a value outside the table counts as "other",
 * so the output stays bounded whatever clients send.
 *
 * The server uses one registry, cs_metrics_default() (static storage, always valid): the hooks in
 * http/server.c and api/ are one-line calls on it. Tests may make their own with
 * cs_metrics_create().
 *
 * @code
 * cs_metrics_add(cs_metrics_default(), CS_M_BYTES_IN, len);
 * cs_metrics_gauge_add(cs_metrics_default(), CS_M_CONNECTIONS, +1);
 * size_t n = cs_metrics_render(cs_metrics_default(), NULL, 0); // size
 * char *buf = malloc(n + 1);
 * cs_metrics_render(cs_metrics_default(), buf, n + 1);
 * @endcode
 */
#ifndef CS_INGEST_METRICS_H
#define CS_INGEST_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "camstream/platform.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cs_metrics cs_metrics;

/** Monotonic counters (Prometheus `counter`). */
typedef enum cs_metric_counter {
    CS_M_CONNECTIONS_TOTAL = 0,   /**< camstream_http_connections_total: accepted */
    CS_M_BYTES_IN = 1,            /**< camstream_bytes_in_total: read from sockets (TLS included) */
    CS_M_BYTES_OUT = 2,           /**< camstream_bytes_out_total: written to sockets */
    CS_M_UPLOADS_TOTAL = 3,       /**< camstream_putmedia_uploads_total: uploads that got 200 */
    CS_M_FRAGMENTS_PERSISTED = 4, /**< camstream_fragments_persisted_total: PERSISTED acks */
    CS_M_GETMEDIA_TOTAL = 5,      /**< camstream_getmedia_consumers_total: media responses begun */
    CS_M_COUNTER_COUNT = 6
} cs_metric_counter;

/** Current values (Prometheus `gauge`). */
typedef enum cs_metric_gauge {
    CS_M_CONNECTIONS = 0, /**< camstream_http_connections: open now */
    CS_M_UPLOADS = 1,     /**< camstream_putmedia_uploads: PutMedia uploads running */
    CS_M_CONSUMERS = 2,   /**< camstream_getmedia_consumers: GetMedia/...ForFragmentList bodies */
    CS_M_GAUGE_COUNT = 3
} cs_metric_gauge;

/** Upper bounds of the ack latency histogram's buckets, in seconds (then +Inf). */
#define CS_METRICS_LATENCY_BUCKETS                                                                 \
    {                                                                                              \
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0                              \
    }
#define CS_METRICS_N_LATENCY_BUCKETS 11

/** @brief The server's registry (static storage; never NULL; starts at zero). */
CS_API cs_metrics *cs_metrics_default(void);

/** @brief A separate zeroed registry (tests). @return CS_OK, CS_E_INVAL, CS_E_NOMEM */
CS_API cs_status cs_metrics_create(cs_metrics **out);

/** @brief Frees a registry from cs_metrics_create(); sets `*m` to NULL; accepts NULL. Never
 * pass cs_metrics_default(). */
CS_API void cs_metrics_destroy(cs_metrics **m);

/** @brief Adds `n` to a counter. Any thread; `m` NULL is ignored. */
CS_API void cs_metrics_add(cs_metrics *m, cs_metric_counter c, uint64_t n);

/** @brief Adds `delta` (may be negative) to a gauge. Any thread; `m` NULL is ignored. */
CS_API void cs_metrics_gauge_add(cs_metrics *m, cs_metric_gauge g, int64_t delta);

/** @brief A connection was accepted: camstream_http_connections_total and _connections + 1. */
CS_API void cs_metrics_conn_opened(cs_metrics *m);

/** @brief A PutMedia upload began: camstream_putmedia_uploads_total and _uploads + 1. */
CS_API void cs_metrics_upload_started(cs_metrics *m);

/** @brief A GetMedia body began: camstream_getmedia_consumers_total and _consumers + 1. */
CS_API void cs_metrics_consumer_started(cs_metrics *m);

/**
 * @brief Counts one request: camstream_http_requests_total{api="<name>"}. `path` is the route
 * ("/createStream", "/putMedia", "/metrics", ...); a leading '/' is skipped; names outside the
 * table count as api="other". Any thread.
 */
CS_API void cs_metrics_request(cs_metrics *m, const char *path);

/**
 * @brief Counts one error response: camstream_errors_total{kind="<KVS error name>"}
 * ("ResourceNotFoundException", "NotAuthorizedException", ...; others: kind="other").
 */
CS_API void cs_metrics_error(cs_metrics *m, const char *error_type);

/**
 * @brief Counts one PutMedia ERROR ack: camstream_errors_total{kind="ErrorId_<id>"} for the
 * ErrorIds of PROTOCOL.md §3 (4000..4015, 4500..4505, 5000..5003); others: kind="ErrorId_other".
 */
CS_API void cs_metrics_putmedia_error(cs_metrics *m, uint32_t error_id);

/** @brief Records one fragment's ack latency (last byte received -> PERSISTED ack queued), ns:
 * camstream_ack_latency_seconds. */
CS_API void cs_metrics_ack_latency(cs_metrics *m, uint64_t ns);

/** @brief A fragment was acked PERSISTED `latency_ns` after its last byte:
 * camstream_fragments_persisted_total + 1 and one camstream_ack_latency_seconds sample. */
CS_API void cs_metrics_persisted(cs_metrics *m, uint64_t latency_ns);

/** @brief Reads a counter (tests). */
CS_API uint64_t cs_metrics_counter(const cs_metrics *m, cs_metric_counter c);

/** @brief Reads a gauge (tests). */
CS_API int64_t cs_metrics_gauge(const cs_metrics *m, cs_metric_gauge g);

/**
 * @brief Writes the exposition text (# HELP, # TYPE, then `name{labels} value` lines) into `buf`
 * (NUL-terminated when `cap` > 0, cut short when too small). Sizing and writing are one code path:
 * `buf` NULL (cap 0) only counts. Values are read one atomic at a time (no global snapshot); a
 * histogram's `_count` is always the sum of its buckets.
 * @return the length of the whole text without the NUL (as snprintf)
 */
CS_API size_t cs_metrics_render(const cs_metrics *m, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* CS_INGEST_METRICS_H */
