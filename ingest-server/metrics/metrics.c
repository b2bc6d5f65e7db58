/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metrics registry (metrics.h): fixed arrays of relaxed atomics, and the Prometheus text
 * renderer. Relaxed ordering is enough: each value is independent and a scrape only needs each
 * one to be a value it really had.
 */
#define _POSIX_C_SOURCE 200809L
#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const apis[] = {
    "createStream",
    "describeStream",
    "listStreams",
    "deleteStream",
    "updateDataRetention",
    "getDataEndpoint",
    "tagStream",
    "untagStream",
    "listTagsForStream",
    "putMedia",
    "getMedia",
    "listFragments",
    "getMediaForFragmentList",
    "metrics",
    "other",
};
#define N_APIS (sizeof(apis) / sizeof(apis[0]))

static const char *const errors[] = {
    "ResourceNotFoundException",
    "ResourceInUseException",
    "InvalidArgumentException",
    "ClientLimitExceededException",
    "NotAuthorizedException",
    "AccessDeniedException",
    "VersionMismatchException",
    "SerializationException",
    "TagsPerResourceExceededLimitException",
    "InternalFailure",
    "other",
};
#define N_ERRORS (sizeof(errors) / sizeof(errors[0]))

/* PutMedia ErrorIds counted by value: [base, base + n). The last slot is "other". */
static const struct {
    uint32_t base;
    uint32_t n;
} id_ranges[] = {{4000, 16}, {4500, 6}, {5000, 4}};
#define N_IDS (16 + 6 + 4 + 1)

#define N_BUCKETS CS_METRICS_N_LATENCY_BUCKETS

struct cs_metrics {
    atomic_uint_fast64_t counters[CS_M_COUNTER_COUNT];
    atomic_int_fast64_t gauges[CS_M_GAUGE_COUNT];
    atomic_uint_fast64_t requests[N_APIS];
    atomic_uint_fast64_t errors[N_ERRORS];
    atomic_uint_fast64_t ids[N_IDS];
    atomic_uint_fast64_t buckets[N_BUCKETS + 1]; /* per bucket (not cumulative); last = +Inf */
    atomic_uint_fast64_t latency_sum_ns;
};

static const double bounds[N_BUCKETS] = CS_METRICS_LATENCY_BUCKETS;

/* Zero-initialised static storage is a valid registry: atomics of value 0. */
static cs_metrics default_registry;

cs_metrics *cs_metrics_default(void)
{
    return &default_registry;
}

cs_status cs_metrics_create(cs_metrics **out)
{
    if (out == NULL) {
        return CS_E_INVAL;
    }
    *out = calloc(1, sizeof(**out));
    return *out != NULL ? CS_OK : CS_E_NOMEM;
}

void cs_metrics_destroy(cs_metrics **m)
{
    if (m == NULL || *m == NULL || *m == &default_registry) {
        return;
    }
    free(*m);
    *m = NULL;
}

void cs_metrics_add(cs_metrics *m, cs_metric_counter c, uint64_t n)
{
    if (m != NULL && (unsigned)c < CS_M_COUNTER_COUNT) {
        atomic_fetch_add_explicit(&m->counters[c], n, memory_order_relaxed);
    }
}

void cs_metrics_gauge_add(cs_metrics *m, cs_metric_gauge g, int64_t delta)
{
    if (m != NULL && (unsigned)g < CS_M_GAUGE_COUNT) {
        atomic_fetch_add_explicit(&m->gauges[g], delta, memory_order_relaxed);
    }
}

void cs_metrics_conn_opened(cs_metrics *m)
{
    cs_metrics_add(m, CS_M_CONNECTIONS_TOTAL, 1);
    cs_metrics_gauge_add(m, CS_M_CONNECTIONS, 1);
}

void cs_metrics_upload_started(cs_metrics *m)
{
    cs_metrics_add(m, CS_M_UPLOADS_TOTAL, 1);
    cs_metrics_gauge_add(m, CS_M_UPLOADS, 1);
}

void cs_metrics_consumer_started(cs_metrics *m)
{
    cs_metrics_add(m, CS_M_GETMEDIA_TOTAL, 1);
    cs_metrics_gauge_add(m, CS_M_CONSUMERS, 1);
}

void cs_metrics_request(cs_metrics *m, const char *path)
{
    size_t i = 0;
    if (m == NULL) {
        return;
    }
    if (path != NULL && path[0] == '/') {
        path++;
    }
    while (i < N_APIS - 1 && (path == NULL || strcmp(path, apis[i]) != 0)) {
        i++;
    }
    atomic_fetch_add_explicit(&m->requests[i], 1, memory_order_relaxed);
}

void cs_metrics_error(cs_metrics *m, const char *error_type)
{
    size_t i = 0;
    if (m == NULL) {
        return;
    }
    while (i < N_ERRORS - 1 && (error_type == NULL || strcmp(error_type, errors[i]) != 0)) {
        i++;
    }
    atomic_fetch_add_explicit(&m->errors[i], 1, memory_order_relaxed);
}

void cs_metrics_putmedia_error(cs_metrics *m, uint32_t error_id)
{
    size_t slot = 0;
    size_t i;
    if (m == NULL) {
        return;
    }
    for (i = 0; i < sizeof(id_ranges) / sizeof(id_ranges[0]); i++) {
        if (error_id >= id_ranges[i].base && error_id - id_ranges[i].base < id_ranges[i].n) {
            slot += error_id - id_ranges[i].base;
            break;
        }
        slot += id_ranges[i].n;
    }
    /* Not in a range: slot is now N_IDS - 1, "other". */
    atomic_fetch_add_explicit(&m->ids[slot], 1, memory_order_relaxed);
}

void cs_metrics_ack_latency(cs_metrics *m, uint64_t ns)
{
    size_t b = 0;
    double s = (double)ns / 1e9;
    if (m == NULL) {
        return;
    }
    while (b < N_BUCKETS && s > bounds[b]) {
        b++;
    }
    atomic_fetch_add_explicit(&m->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->latency_sum_ns, ns, memory_order_relaxed);
}

void cs_metrics_persisted(cs_metrics *m, uint64_t latency_ns)
{
    cs_metrics_add(m, CS_M_FRAGMENTS_PERSISTED, 1);
    cs_metrics_ack_latency(m, latency_ns);
}

uint64_t cs_metrics_counter(const cs_metrics *m, cs_metric_counter c)
{
    if (m == NULL || (unsigned)c >= CS_M_COUNTER_COUNT) {
        return 0;
    }
    return atomic_load_explicit(&((cs_metrics *)m)->counters[c], memory_order_relaxed);
}

int64_t cs_metrics_gauge(const cs_metrics *m, cs_metric_gauge g)
{
    if (m == NULL || (unsigned)g >= CS_M_GAUGE_COUNT) {
        return 0;
    }
    return atomic_load_explicit(&((cs_metrics *)m)->gauges[g], memory_order_relaxed);
}

/* ---------------------------------------------------------------------------------------------- */
/* Rendering                                                                                      */
/* ---------------------------------------------------------------------------------------------- */

/* A counting writer: keeps the total length, writes what fits (snprintf semantics). */
struct out {
    char *buf;
    size_t cap;
    size_t len;
};

static void put(struct out *o, const char *fmt, ...) CS_PRINTF(2, 3);

static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *dst = NULL;
    size_t room = 0;
    if (o->buf != NULL && o->len < o->cap) {
        dst = o->buf + o->len;
        room = o->cap - o->len;
    }
    va_start(ap, fmt);
    n = vsnprintf(dst, room, fmt, ap);
    va_end(ap);
    if (n > 0) {
        o->len += (size_t)n;
    }
}

static void head(struct out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static uint64_t ld(const atomic_uint_fast64_t *a)
{
    return atomic_load_explicit((atomic_uint_fast64_t *)a, memory_order_relaxed);
}

size_t cs_metrics_render(const cs_metrics *m, char *buf, size_t cap)
{
    static const struct {
        cs_metric_counter c;
        const char *name;
        const char *help;
    } counters[] = {
        {CS_M_CONNECTIONS_TOTAL, "camstream_http_connections_total", "HTTP connections accepted."},
        {CS_M_BYTES_IN, "camstream_bytes_in_total", "Bytes read from client sockets."},
        {CS_M_BYTES_OUT, "camstream_bytes_out_total", "Bytes written to client sockets."},
        {CS_M_UPLOADS_TOTAL, "camstream_putmedia_uploads_total",
         "PutMedia uploads started (answered 200)."},
        {CS_M_FRAGMENTS_PERSISTED, "camstream_fragments_persisted_total",
         "Fragments acknowledged PERSISTED (stored and indexed)."},
        {CS_M_GETMEDIA_TOTAL, "camstream_getmedia_consumers_total",
         "GetMedia and GetMediaForFragmentList responses begun."},
    };
    static const struct {
        cs_metric_gauge g;
        const char *name;
        const char *help;
    } gauges[] = {
        {CS_M_CONNECTIONS, "camstream_http_connections", "HTTP connections open now."},
        {CS_M_UPLOADS, "camstream_putmedia_uploads", "PutMedia uploads running now."},
        {CS_M_CONSUMERS, "camstream_getmedia_consumers",
         "GetMedia and GetMediaForFragmentList responses streaming now."},
    };
    struct out o = {buf, cap, 0};
    uint64_t cum = 0;
    size_t slot = 0;
    cs_metrics *mm = (cs_metrics *)m;

    if (buf != NULL && cap > 0) {
        buf[0] = '\0';
    }
    if (m == NULL) {
        return 0;
    }
    for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++) {
        head(&o, gauges[i].name, "gauge", gauges[i].help);
        put(&o, "%s %" PRId64 "\n", gauges[i].name, cs_metrics_gauge(m, gauges[i].g));
    }
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
        head(&o, counters[i].name, "counter", counters[i].help);
        put(&o, "%s %" PRIu64 "\n", counters[i].name, cs_metrics_counter(m, counters[i].c));
    }
    head(&o, "camstream_http_requests_total", "counter", "Requests by API (route).");
    for (size_t i = 0; i < N_APIS; i++) {
        put(&o, "camstream_http_requests_total{api=\"%s\"} %" PRIu64 "\n", apis[i],
            ld(&mm->requests[i]));
    }
    head(&o, "camstream_errors_total", "counter",
         "Error responses by KVS error name, and PutMedia ERROR acks by ErrorId.");
    for (size_t i = 0; i < N_ERRORS; i++) {
        put(&o, "camstream_errors_total{kind=\"%s\"} %" PRIu64 "\n", errors[i], ld(&mm->errors[i]));
    }
    for (size_t r = 0; r < sizeof(id_ranges) / sizeof(id_ranges[0]); r++) {
        for (uint32_t k = 0; k < id_ranges[r].n; k++, slot++) {
            put(&o, "camstream_errors_total{kind=\"ErrorId_%" PRIu32 "\"} %" PRIu64 "\n",
                id_ranges[r].base + k, ld(&mm->ids[slot]));
        }
    }
    put(&o, "camstream_errors_total{kind=\"ErrorId_other\"} %" PRIu64 "\n", ld(&mm->ids[slot]));
    head(&o, "camstream_ack_latency_seconds", "histogram",
         "PutMedia: last byte of a fragment received to its PERSISTED ack sent.");
    for (size_t b = 0; b <= N_BUCKETS; b++) {
        cum += ld(&mm->buckets[b]);
        if (b < N_BUCKETS) {
            put(&o, "camstream_ack_latency_seconds_bucket{le=\"%g\"} %" PRIu64 "\n", bounds[b],
                cum);
        } else {
            put(&o, "camstream_ack_latency_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
        }
    }
    put(&o, "camstream_ack_latency_seconds_sum %.9f\n", (double)ld(&mm->latency_sum_ns) / 1e9);
    put(&o, "camstream_ack_latency_seconds_count %" PRIu64 "\n", cum);
    return o.len;
}
