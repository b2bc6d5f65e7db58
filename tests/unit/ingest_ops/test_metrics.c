/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the metrics registry (ingest-server/metrics/metrics.c): counters, gauges,
 * labelled series with their "other" slots, the histogram's buckets (cumulative, _count = +Inf),
 * the exposition text line by line, sizing = writing, truncation, and exact totals when threads
 * add at once. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"
#include "testutil.h"

static char *render(const cs_metrics *m)
{
    size_t n = cs_metrics_render(m, NULL, 0);
    char *t = malloc(n + 1);
    assert_non_null(t);
    assert_int_equal(cs_metrics_render(m, t, n + 1), n); /* sizing and writing agree */
    assert_int_equal(strlen(t), n);
    return t;
}

/* The value of the series `series` (name with labels, exactly as written); fails if absent. */
static double value(const char *text, const char *series)
{
    size_t sl = strlen(series);
    for (const char *p = text; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, series, sl) == 0 && p[sl] == ' ') {
            return strtod(p + sl + 1, NULL);
        }
    }
    fail_msg("series %s not found", series);
    return -1;
}

static void test_counts(void **state)
{
    cs_metrics *m = NULL;
    char *t;
    (void)state;
    assert_int_equal(cs_metrics_create(&m), CS_OK);
    cs_metrics_conn_opened(m);
    cs_metrics_conn_opened(m);
    cs_metrics_gauge_add(m, CS_M_CONNECTIONS, -1);
    cs_metrics_add(m, CS_M_BYTES_IN, 1000);
    cs_metrics_add(m, CS_M_BYTES_OUT, 5);
    cs_metrics_upload_started(m);
    cs_metrics_consumer_started(m);
    cs_metrics_request(m, "/createStream");
    cs_metrics_request(m, "/createStream");
    cs_metrics_request(m, "putMedia");
    cs_metrics_request(m, "/no-such-api");
    cs_metrics_request(m, NULL);
    cs_metrics_error(m, "ResourceNotFoundException");
    cs_metrics_error(m, "NotAuthorizedException");
    cs_metrics_error(m, "SomethingNew");
    cs_metrics_putmedia_error(m, 4002);
    cs_metrics_putmedia_error(m, 5001);
    cs_metrics_putmedia_error(m, 4500);
    cs_metrics_putmedia_error(m, 4016); /* outside the table */
    cs_metrics_putmedia_error(m, 7);
    cs_metrics_add(m, CS_M_COUNTER_COUNT, 1); /* out of range: ignored */
    cs_metrics_add(NULL, CS_M_BYTES_IN, 1);   /* NULL: ignored */
    assert_int_equal(cs_metrics_counter(m, CS_M_CONNECTIONS_TOTAL), 2);
    assert_int_equal(cs_metrics_gauge(m, CS_M_CONNECTIONS), 1);
    t = render(m);
    assert_true(value(t, "camstream_http_connections") == 1);
    assert_true(value(t, "camstream_http_connections_total") == 2);
    assert_true(value(t, "camstream_bytes_in_total") == 1000);
    assert_true(value(t, "camstream_bytes_out_total") == 5);
    assert_true(value(t, "camstream_putmedia_uploads") == 1);
    assert_true(value(t, "camstream_putmedia_uploads_total") == 1);
    assert_true(value(t, "camstream_getmedia_consumers") == 1);
    assert_true(value(t, "camstream_http_requests_total{api=\"createStream\"}") == 2);
    assert_true(value(t, "camstream_http_requests_total{api=\"putMedia\"}") == 1);
    assert_true(value(t, "camstream_http_requests_total{api=\"other\"}") == 2);
    assert_true(value(t, "camstream_http_requests_total{api=\"getMedia\"}") == 0);
    assert_true(value(t, "camstream_errors_total{kind=\"ResourceNotFoundException\"}") == 1);
    assert_true(value(t, "camstream_errors_total{kind=\"NotAuthorizedException\"}") == 1);
    assert_true(value(t, "camstream_errors_total{kind=\"other\"}") == 1);
    assert_true(value(t, "camstream_errors_total{kind=\"ErrorId_4002\"}") == 1);
    assert_true(value(t, "camstream_errors_total{kind=\"ErrorId_5001\"}") == 1);
    assert_true(value(t, "camstream_errors_total{kind=\"ErrorId_4500\"}") == 1);
    assert_true(value(t, "camstream_errors_total{kind=\"ErrorId_other\"}") == 2);
    assert_true(value(t, "camstream_errors_total{kind=\"ErrorId_4015\"}") == 0);
    free(t);
    cs_metrics_destroy(&m);
    assert_null(m);
    cs_metrics_destroy(&m);
}

static void test_histogram(void **state)
{
    cs_metrics *m = NULL;
    char *t;
    (void)state;
    assert_int_equal(cs_metrics_create(&m), CS_OK);
    cs_metrics_persisted(m, 1000000);     /* 1 ms -> le 0.005 */
    cs_metrics_persisted(m, 5000000);     /* exactly 5 ms -> le 0.005 (le is inclusive) */
    cs_metrics_persisted(m, 30000000);    /* 30 ms -> le 0.05 */
    cs_metrics_persisted(m, 60000000000); /* 60 s -> +Inf only */
    t = render(m);
    assert_true(value(t, "camstream_fragments_persisted_total") == 4);
    assert_true(value(t, "camstream_ack_latency_seconds_bucket{le=\"0.005\"}") == 2);
    assert_true(value(t, "camstream_ack_latency_seconds_bucket{le=\"0.025\"}") == 2);
    assert_true(value(t, "camstream_ack_latency_seconds_bucket{le=\"0.05\"}") == 3);
    assert_true(value(t, "camstream_ack_latency_seconds_bucket{le=\"10\"}") == 3);
    assert_true(value(t, "camstream_ack_latency_seconds_bucket{le=\"+Inf\"}") == 4);
    assert_true(value(t, "camstream_ack_latency_seconds_count") == 4);
    assert_true(value(t, "camstream_ack_latency_seconds_sum") > 60.035 &&
                value(t, "camstream_ack_latency_seconds_sum") < 60.037);
    free(t);
    cs_metrics_destroy(&m);
}

/* Every line is "# HELP name text", "# TYPE name type" (before the name's samples, once), or
 * "name{labels} value" with a name that has a TYPE line. */
static void test_format(void **state)
{
    cs_metrics *m = cs_metrics_default();
    char *t;
    char typed[64][80];
    size_t n_typed = 0;
    size_t samples = 0;
    (void)state;
    cs_metrics_add(m, CS_M_BYTES_IN, 1);
    t = render(m);
    assert_true(strlen(t) > 0 && t[strlen(t) - 1] == '\n');
    for (char *line = strtok(t, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char name[80], rest[200];
        if (strncmp(line, "# HELP ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%79s %199[^\n]", name, rest), 2);
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%79s %199s", name, rest), 2);
            assert_true(strcmp(rest, "counter") == 0 || strcmp(rest, "gauge") == 0 ||
                        strcmp(rest, "histogram") == 0);
            for (size_t i = 0; i < n_typed; i++) {
                assert_string_not_equal(typed[i], name); /* one TYPE per name */
            }
            assert_true(n_typed < 64);
            snprintf(typed[n_typed++], sizeof(typed[0]), "%s", name);
            continue;
        }
        {
            size_t nl = strcspn(line, "{ ");
            char *sp = strrchr(line, ' ');
            char *end = NULL;
            bool known = false;
            assert_non_null(sp);
            strtod(sp + 1, &end);
            assert_true(end != sp + 1 && *end == '\0');
            if (line[nl] == '{') {
                assert_ptr_equal(strchr(line, '}') + 1, sp);
            }
            for (size_t i = 0; i < n_typed && !known; i++) {
                size_t tl = strlen(typed[i]);
                known =
                    strncmp(line, typed[i], tl) == 0 &&
                    (nl == tl || strncmp(line + tl, "_bucket", 7) == 0 ||
                     strncmp(line + tl, "_sum", 4) == 0 || strncmp(line + tl, "_count", 6) == 0);
            }
            assert_true(known);
            samples++;
        }
    }
    assert_true(samples > 40);
    free(t);
}

static void test_truncated(void **state)
{
    cs_metrics *m = NULL;
    char small[100];
    size_t full;
    (void)state;
    assert_int_equal(cs_metrics_create(&m), CS_OK);
    full = cs_metrics_render(m, NULL, 0);
    memset(small, 'x', sizeof(small));
    assert_int_equal(cs_metrics_render(m, small, sizeof(small)), full);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_int_equal(cs_metrics_render(NULL, small, sizeof(small)), 0);
    assert_string_equal(small, "");
    cs_metrics_destroy(&m);
}

#define THREADS 4
#define ADDS 100000

static void *adder(void *arg)
{
    cs_metrics *m = arg;
    for (int i = 0; i < ADDS; i++) {
        cs_metrics_add(m, CS_M_BYTES_OUT, 3);
        cs_metrics_request(m, "/getMedia");
        cs_metrics_gauge_add(m, CS_M_UPLOADS, (i & 1) ? -1 : 1);
    }
    return NULL;
}

static void test_threads(void **state)
{
    cs_metrics *m = NULL;
    pthread_t th[THREADS];
    char *t;
    (void)state;
    assert_int_equal(cs_metrics_create(&m), CS_OK);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, adder, m), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
    }
    assert_int_equal(cs_metrics_counter(m, CS_M_BYTES_OUT), (uint64_t)THREADS * ADDS * 3);
    assert_int_equal(cs_metrics_gauge(m, CS_M_UPLOADS), 0);
    t = render(m);
    assert_true(value(t, "camstream_http_requests_total{api=\"getMedia\"}") == THREADS * ADDS);
    free(t);
    cs_metrics_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts),  cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_format),  cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
