/* SPDX-License-Identifier: Apache-2.0 */
/* Record streams through the whole server (issue 7, figure a): starts camstream-ingest, creates
 * a 4-shard stream, then 4 connections (one thread each, keep-alive, SigV4-signed JSON 1.1 over
 * HTTP/1.1) send PutRecords calls of 500 x 100-byte records; then GetRecords drains every shard
 * (10,000 records per call). Prints records/s in and out (median of 3 runs) and p50/p99 latency
 * per call. Targets (issue 7): >= 500,000 records/s in, >= 1,000,000 out, durable. The kinesalite
 * comparison (figure b) is not here yet. */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchutil.h"
#include "camstream/auth.h"
#include "camstream/platform.h"

#define AK "AKIDEXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define CONNS 4
#define BATCH 500
#define REC 100
#define RUNS 3

static char url[128], host[64];
static int calls_per_conn = 100;

struct buf {
    char *p;
    size_t n, cap;
};

static size_t on_write(char *d, size_t sz, size_t n, void *ud)
{
    struct buf *b = ud;
    size_t len = sz * n;
    if (b->n + len + 1 > b->cap) {
        size_t cap = (b->n + len + 1) * 2;
        char *np = realloc(b->p, cap);
        if (np == NULL) {
            return 0;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, len);
    b->n += len;
    b->p[b->n] = '\0';
    return len;
}

/* One signed Kinesis call on `h`; the answer in `out`. Returns the HTTP status. */
static long call(CURL *h, const char *op, const char *body, struct buf *out)
{
    char target[96], auth[512], hdr[600];
    cs_sigv4_header hs[3];
    cs_sigv4_request req;
    cs_sigv4_sign_config cfg;
    cs_sigv4_signature sig;
    struct curl_slist *l = NULL;
    long code = 0;
    snprintf(target, sizeof(target), "Kinesis_20131202.%s", op);
    hs[0] = (cs_sigv4_header){"host", 4, host, strlen(host)};
    hs[1] = (cs_sigv4_header){"content-type", 12, "application/x-amz-json-1.1", 26};
    hs[2] = (cs_sigv4_header){"x-amz-target", 12, target, strlen(target)};
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.method_len = 4;
    req.path = "/";
    req.path_len = 1;
    req.headers = hs;
    req.header_count = 3;
    req.body = body;
    req.body_len = strlen(body);
    cs_sigv4_sign_config_init(&cfg);
    cfg.region = "us-west-2";
    cfg.service = "kinesis";
    cfg.access_key = AK;
    cfg.secret_key = SK;
    if (cs_sigv4_sign(&cfg, &req, auth, sizeof(auth), NULL, &sig) != CS_OK) {
        return 0;
    }
    snprintf(hdr, sizeof(hdr), "Authorization: %s", auth);
    l = curl_slist_append(l, hdr);
    snprintf(hdr, sizeof(hdr), "X-Amz-Date: %s", sig.amz_date);
    l = curl_slist_append(l, hdr);
    l = curl_slist_append(l, "Content-Type: application/x-amz-json-1.1");
    snprintf(hdr, sizeof(hdr), "X-Amz-Target: %s", target);
    l = curl_slist_append(l, hdr);
    l = curl_slist_append(l, "Expect:");
    out->n = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, l);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    if (curl_easy_perform(h) == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    }
    curl_slist_free_all(l);
    return code;
}

struct worker {
    int id;
    double *lat; /* ms per call */
    int ok;
};

static char *put_body;

static void put_main(void *arg)
{
    struct worker *w = arg;
    CURL *h = curl_easy_init();
    struct buf out = {0};
    w->ok = 1;
    for (int i = 0; i < calls_per_conn; i++) {
        double t0 = cs_bench_now_ns();
        long code = call(h, "PutRecords", put_body, &out);
        w->lat[i] = (cs_bench_now_ns() - t0) / 1e6;
        if (code != 200 || strstr(out.p ? out.p : "", "\"FailedRecordCount\":0") == NULL) {
            fprintf(stderr, "records_bench: PutRecords failed: HTTP %ld %.200s\n", code,
                    out.p ? out.p : "");
            w->ok = 0;
            break;
        }
    }
    free(out.p);
    curl_easy_cleanup(h);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    qsort(v, n, sizeof(*v), cmp_d);
    return v[(size_t)((double)(n - 1) * p)];
}

/* JSON string value of `key` in `s` (no escapes in our values). */
static int json_str(const char *s, const char *key, char *out, size_t cap)
{
    char pat[64];
    const char *p, *e;
    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    p = strstr(s, pat);
    if (p == NULL) {
        return -1;
    }
    p += strlen(pat);
    e = strchr(p, '"');
    if (e == NULL || (size_t)(e - p) >= cap) {
        return -1;
    }
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return 0;
}

int main(int argc, char **argv)
{
    const char *server = argc > 1 ? argv[1] : NULL;
    double in_rate[RUNS], out_rate[RUNS], p50[RUNS], p99[RUNS], gp50[RUNS];
    char data_b64[200];
    size_t len;

    if (server == NULL || strcmp(server, "--help") == 0) {
        printf("usage: records_bench PATH/TO/camstream-ingest [CALLS_PER_CONNECTION]\n"
               "PutRecords of %d x %d-byte records from %d connections on a 4-shard stream,\n"
               "then GetRecords draining it; records/s (median of %d runs) and latency per "
               "call.\n",
               BATCH, REC, CONNS, RUNS);
        return server == NULL ? 2 : 0;
    }
    if (argc > 2) {
        calls_per_conn = atoi(argv[2]);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    {
        uint8_t raw[REC];
        memset(raw, 'r', sizeof(raw));
        /* base64 of 100 bytes is 136 characters */
        static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t o = 0;
        for (size_t i = 0; i + 3 <= REC; i += 3) {
            uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
            data_b64[o++] = t[v >> 18];
            data_b64[o++] = t[(v >> 12) & 63];
            data_b64[o++] = t[(v >> 6) & 63];
            data_b64[o++] = t[v & 63];
        }
        /* 100 = 33*3 + 1: one byte left */
        data_b64[o++] = t[raw[99] >> 2];
        data_b64[o++] = t[(raw[99] & 3) << 4];
        data_b64[o++] = '=';
        data_b64[o++] = '=';
        data_b64[o] = '\0';
    }
    len = 64 + BATCH * (strlen(data_b64) + 64);
    put_body = malloc(len);
    {
        size_t o = (size_t)snprintf(put_body, len, "{\"StreamName\":\"bench\",\"Records\":[");
        for (int i = 0; i < BATCH; i++) {
            o += (size_t)snprintf(put_body + o, len - o,
                                  "%s{\"Data\":\"%s\",\"PartitionKey\":\"key-%d\"}", i ? "," : "",
                                  data_b64, i);
        }
        snprintf(put_body + o, len - o, "]}");
    }
    for (int run = 0; run < RUNS; run++) {
        char dir[256], line[512];
        int fds[2];
        pid_t pid;
        FILE *f;
        struct worker w[CONNS];
        cs_thread t[CONNS];
        double *lat_all = calloc((size_t)(CONNS * calls_per_conn), sizeof(double));
        double gl[4096];
        size_t ng = 0, drained = 0;
        double t0, t1;
        CURL *h = curl_easy_init();
        struct buf out = {0};

        snprintf(dir, sizeof(dir), "%s/records-bench-%d-%d",
                 getenv("CS_BENCH_DIR") ? getenv("CS_BENCH_DIR") : "/var/tmp", (int)getpid(), run);
        if (pipe(fds) != 0) {
            return 1;
        }
        pid = fork();
        if (pid == 0) {
            dup2(fds[1], 1);
            close(fds[0]);
            execl(server, server, "--listen", "127.0.0.1:0", "--data-dir", dir, (char *)NULL);
            _exit(127);
        }
        close(fds[1]);
        f = fdopen(fds[0], "r");
        if (f == NULL || fgets(line, sizeof(line), f) == NULL || strrchr(line, ' ') == NULL) {
            fprintf(stderr, "records_bench: the server did not start\n");
            return 1;
        }
        line[strcspn(line, "\r\n")] = '\0';
        snprintf(url, sizeof(url), "%s/", strrchr(line, ' ') + 1);
        snprintf(host, sizeof(host), "%s", strrchr(line, ' ') + 8);
        host[strcspn(host, "/")] = '\0';
        if (call(h, "CreateStream", "{\"StreamName\":\"bench\",\"ShardCount\":4}", &out) != 200) {
            fprintf(stderr, "records_bench: CreateStream failed: %s\n", out.p ? out.p : "");
            return 1;
        }
        t0 = cs_bench_now_ns();
        for (int i = 0; i < CONNS; i++) {
            w[i].id = i;
            w[i].lat = lat_all + i * calls_per_conn;
            cs_thread_create(&t[i], put_main, &w[i], "put");
        }
        for (int i = 0; i < CONNS; i++) {
            cs_thread_join(&t[i]);
            if (!w[i].ok) {
                return 1;
            }
        }
        t1 = cs_bench_now_ns();
        in_rate[run] = (double)CONNS * calls_per_conn * BATCH / ((t1 - t0) / 1e9);
        p50[run] = pct(lat_all, (size_t)(CONNS * calls_per_conn), 0.50);
        p99[run] = pct(lat_all, (size_t)(CONNS * calls_per_conn), 0.99);

        t0 = cs_bench_now_ns();
        for (int s = 0; s < 4; s++) {
            char body[1024], it[512];
            snprintf(body, sizeof(body),
                     "{\"StreamName\":\"bench\",\"ShardId\":\"shardId-00000000000%d\","
                     "\"ShardIteratorType\":\"TRIM_HORIZON\"}",
                     s);
            if (call(h, "GetShardIterator", body, &out) != 200 ||
                json_str(out.p, "ShardIterator", it, sizeof(it)) != 0) {
                fprintf(stderr, "records_bench: GetShardIterator failed\n");
                return 1;
            }
            for (;;) {
                double c0 = cs_bench_now_ns();
                size_t n = 0;
                const char *p;
                snprintf(body, sizeof(body), "{\"ShardIterator\":\"%s\",\"Limit\":10000}", it);
                if (call(h, "GetRecords", body, &out) != 200) {
                    fprintf(stderr, "records_bench: GetRecords failed\n");
                    return 1;
                }
                if (ng < 4096) {
                    gl[ng++] = (cs_bench_now_ns() - c0) / 1e6;
                }
                for (p = out.p; (p = strstr(p, "\"SequenceNumber\"")) != NULL; p++) {
                    n++;
                }
                drained += n;
                if (n == 0 || json_str(out.p, "NextShardIterator", it, sizeof(it)) != 0) {
                    break;
                }
            }
        }
        t1 = cs_bench_now_ns();
        out_rate[run] = (double)drained / ((t1 - t0) / 1e9);
        gp50[run] = pct(gl, ng, 0.5);
        if (drained != (size_t)CONNS * (size_t)calls_per_conn * BATCH) {
            fprintf(stderr, "records_bench: put %d records, drained %zu\n",
                    CONNS * calls_per_conn * BATCH, drained);
            return 1;
        }
        fprintf(stderr,
                "run %d: in %.0f rec/s (p50 %.1f ms, p99 %.1f ms per call), out %.0f rec/s\n",
                run + 1, in_rate[run], p50[run], p99[run], out_rate[run]);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        fclose(f);
        snprintf(line, sizeof(line), "rm -rf '%s'", dir);
        if (system(line) != 0) {
            fprintf(stderr, "records_bench: could not remove %s\n", dir);
        }
        free(lat_all);
        free(out.p);
        curl_easy_cleanup(h);
    }
    printf("records_bench: PutRecords %d x %d B, %d connections, 4 shards, durable; GetRecords "
           "10,000 per call\n",
           BATCH, REC, CONNS);
    printf("  records in:  %10.0f records/s (median of %d; target >= 500,000)  %s\n",
           cs_bench_median(in_rate, RUNS), RUNS,
           cs_bench_median(in_rate, RUNS) >= 500000 ? "PASS" : "MISS");
    printf("  PutRecords latency per call: p50 %.1f ms, p99 %.1f ms (medians)\n",
           cs_bench_median(p50, RUNS), cs_bench_median(p99, RUNS));
    printf("  records out: %10.0f records/s (median of %d; target >= 1,000,000)  %s\n",
           cs_bench_median(out_rate, RUNS), RUNS,
           cs_bench_median(out_rate, RUNS) >= 1000000 ? "PASS" : "MISS");
    printf("  GetRecords latency per call: p50 %.1f ms\n", cs_bench_median(gp50, RUNS));
    free(put_body);
    curl_global_cleanup();
    return 0;
}
