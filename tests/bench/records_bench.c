/* SPDX-License-Identifier: Apache-2.0 */
/* Record streams through the whole server (issue 7).
 * (a) starts camstream-ingest, creates a 4-shard stream, then 4 connections (one thread each,
 * keep-alive, SigV4-signed JSON 1.1 over HTTP/1.1; `--auth none`: unsigned, server without auth)
 * send PutRecords calls of 500 x 100-byte records; then GetRecords drains every shard (10,000
 * records per call). Prints records/s in and out (median of 3 runs), p50/p99 latency per call, and
 * the server's CPU time per record (utime + stime of its process from /proc/PID/stat, read around
 * each phase: independent of the other load on the machine, unlike records/s). Targets (issue 7):
 * >= 500,000 records/s in, >= 1,000,000 out, durable.
 * (b) runs records_bench.mjs with node: the same workload from the AWS SDK for JavaScript v3
 * against camstream and against kinesalite (npm, tests/compat/js), both started in the same run;
 * records/s and server CPU-seconds per million records for both, and their ratio (target >= 50x).
 * Skipped with a message when node or the npm modules are missing. */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
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
static bool auth_none;

#ifndef CS_RECORDS_JS_BENCH
#define CS_RECORDS_JS_BENCH "tests/bench/records_js_bench.mjs"
#endif
#ifndef CS_JS_PREFIX
#define CS_JS_PREFIX "build/bench-js"
#endif

/* CPU seconds (user + system) of process `pid` so far; -1 when unknown. */
static double proc_cpu(pid_t pid)
{
    char path[64], buf[1024];
    const char *p;
    unsigned long long ut = 0, st = 0;
    FILE *f;
    size_t n;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the name may hold spaces */
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) {
        return -1;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

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
    if (!auth_none) {
        if (cs_sigv4_sign(&cfg, &req, auth, sizeof(auth), NULL, &sig) != CS_OK) {
            return 0;
        }
        snprintf(hdr, sizeof(hdr), "Authorization: %s", auth);
        l = curl_slist_append(l, hdr);
        snprintf(hdr, sizeof(hdr), "X-Amz-Date: %s", sig.amz_date);
        l = curl_slist_append(l, hdr);
    }
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

/* Figure (b): records_js_bench.mjs (the "bench" helper's JS SDK workload) under node; it prints
 * its figures and appends them to $CS_BENCH_RESULTS itself. Returns 0 (done or skipped) or 1. */
static int js_part(const char *server, const char *prefix, int calls, int runs)
{
    char cmd[2048], mods[1024];
    int st;
    if (system("node --version >/dev/null 2>&1") != 0) {
        printf("records_bench (b): skipped: node is not installed (scripts/setup installs it)\n");
        return 0;
    }
    snprintf(mods, sizeof(mods), "%s/node_modules/kinesalite/package.json", prefix);
    if (access(mods, R_OK) != 0) {
        printf("records_bench (b): skipped: no kinesalite in %s/node_modules: install the "
               "pinned packages with\n  cp tests/bench/js/package*.json %s/ && npm ci --prefix "
               "%s\n(scripts/run-bench does it), or pass --js-prefix DIR\n",
               prefix, prefix, prefix);
        return 0;
    }
    fflush(stdout);
    snprintf(cmd, sizeof(cmd),
             "NODE_NO_WARNINGS=1 node '%s' --ingest '%s' --modules '%s' --calls %d --runs %d",
             CS_RECORDS_JS_BENCH, server, prefix, calls, runs);
    st = system(cmd);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
        return 0; /* it said why */
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "records_bench (b): records_js_bench.mjs failed\n");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *server = NULL, *js_prefix = CS_JS_PREFIX;
    double in_rate[RUNS], out_rate[RUNS], p50[RUNS], p99[RUNS], gp50[RUNS];
    double cpu_in[RUNS], cpu_out[RUNS];
    char data_b64[200];
    size_t len;
    bool js = true, only_js = false, help = false;
    int js_calls = 50, js_runs = 3, rc = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            help = true;
        } else if (strcmp(argv[i], "--auth") == 0 && i + 1 < argc) {
            auth_none = strcmp(argv[++i], "none") == 0;
        } else if (strcmp(argv[i], "--no-js") == 0) {
            js = false;
        } else if (strcmp(argv[i], "--only-js") == 0) {
            only_js = true;
        } else if (strcmp(argv[i], "--js-prefix") == 0 && i + 1 < argc) {
            js_prefix = argv[++i];
        } else if (strcmp(argv[i], "--js-calls") == 0 && i + 1 < argc) {
            js_calls = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--js-runs") == 0 && i + 1 < argc) {
            js_runs = atoi(argv[++i]);
        } else if (server == NULL && argv[i][0] != '-') {
            server = argv[i];
        } else if (argv[i][0] != '-') {
            calls_per_conn = atoi(argv[i]);
        } else {
            fprintf(stderr, "records_bench: unknown option %s (--help)\n", argv[i]);
            return 2;
        }
    }
    if (server == NULL || help) {
        printf(
            "usage: records_bench PATH/TO/camstream-ingest [CALLS_PER_CONNECTION] [OPTIONS]\n"
            "(a) PutRecords of %d x %d-byte records from %d connections (libcurl, HTTP/1.1;\n"
            "    default %d calls each) on a 4-shard stream, then GetRecords draining it:\n"
            "    records/s (median of %d runs), latency per call, and the server's CPU time\n"
            "    per record (utime + stime from /proc/PID/stat: robust on a busy machine).\n"
            "(b) the same workload from the AWS SDK for JavaScript v3 against camstream and\n"
            "    kinesalite (npm), both started in the same run: tests/bench/records_js_bench.mjs\n"
            "    under node: records/s and server CPU seconds per million records for both,\n"
            "    and their ratio (target >= 50x). Needs node and the packages pinned in\n"
            "    tests/bench/js/ installed in --js-prefix DIR (default %s;\n"
            "    scripts/run-bench installs them there); skipped with a message without them.\n"
            "  --auth none      (a) without SigV4: the server runs --auth none, requests unsigned\n"
            "  --no-js          skip (b) (scripts/run-bench runs records_js_bench.mjs itself)\n"
            "  --only-js        run only (b)\n"
            "  --js-prefix DIR  where (b)'s node_modules is\n"
            "  --js-calls N     (b) PutRecords calls per client (default 50)\n"
            "  --js-runs R      (b) runs, median reported (default 3)\n",
            BATCH, REC, CONNS, calls_per_conn, RUNS, CS_JS_PREFIX);
        return help ? 0 : 2;
    }
    if (only_js) {
        return js_part(server, js_prefix, js_calls, js_runs);
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
            if (auth_none) {
                execl(server, server, "--listen", "127.0.0.1:0", "--data-dir", dir, "--auth",
                      "none", (char *)NULL);
            } else {
                execl(server, server, "--listen", "127.0.0.1:0", "--data-dir", dir, (char *)NULL);
            }
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
        cpu_in[run] = proc_cpu(pid);
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
        cpu_in[run] =
            (proc_cpu(pid) - cpu_in[run]) * 1e6 / ((double)CONNS * calls_per_conn * BATCH);
        in_rate[run] = (double)CONNS * calls_per_conn * BATCH / ((t1 - t0) / 1e9);
        p50[run] = pct(lat_all, (size_t)(CONNS * calls_per_conn), 0.50);
        p99[run] = pct(lat_all, (size_t)(CONNS * calls_per_conn), 0.99);

        cpu_out[run] = proc_cpu(pid);
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
        cpu_out[run] = (proc_cpu(pid) - cpu_out[run]) * 1e6 / (double)drained;
        out_rate[run] = (double)drained / ((t1 - t0) / 1e9);
        gp50[run] = pct(gl, ng, 0.5);
        if (drained != (size_t)CONNS * (size_t)calls_per_conn * BATCH) {
            fprintf(stderr, "records_bench: put %d records, drained %zu\n",
                    CONNS * calls_per_conn * BATCH, drained);
            return 1;
        }
        fprintf(stderr,
                "run %d: in %.0f rec/s (p50 %.1f ms, p99 %.1f ms per call, server %.2f us CPU per "
                "record), out %.0f rec/s (server %.2f us CPU per record)\n",
                run + 1, in_rate[run], p50[run], p99[run], cpu_in[run], out_rate[run],
                cpu_out[run]);
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
    printf("records_bench (a): PutRecords %d x %d B, %d connections, 4 shards, durable, %s; "
           "GetRecords 10,000 per call\n",
           BATCH, REC, CONNS, auth_none ? "--auth none" : "SigV4");
    printf("  records in:  %10.0f records/s (median of %d; target >= 500,000)  %s\n",
           cs_bench_median(in_rate, RUNS), RUNS,
           cs_bench_median(in_rate, RUNS) >= 500000 ? "PASS" : "MISS");
    printf("  PutRecords latency per call: p50 %.1f ms, p99 %.1f ms (medians)\n",
           cs_bench_median(p50, RUNS), cs_bench_median(p99, RUNS));
    printf("  records out: %10.0f records/s (median of %d; target >= 1,000,000)  %s\n",
           cs_bench_median(out_rate, RUNS), RUNS,
           cs_bench_median(out_rate, RUNS) >= 1000000 ? "PASS" : "MISS");
    printf("  GetRecords latency per call: p50 %.1f ms\n", cs_bench_median(gp50, RUNS));
    printf("  server CPU per record (utime+stime, medians): in %.2f us, out %.2f us\n",
           cs_bench_median(cpu_in, RUNS), cs_bench_median(cpu_out, RUNS));
    cs_bench_figure(&(struct cs_bench_figure){
        .bench = "records_bench",
        .id = auth_none ? "records.in_noauth" : "records.in",
        .label = "PutRecords 500 x 100 B, 4 connections, 4 shards, durable: records in",
        .value = cs_bench_median(in_rate, RUNS),
        .unit = "records/s",
        .runs = in_rate,
        .n_runs = RUNS,
        .target = ">= 500000"});
    cs_bench_figure(&(struct cs_bench_figure){
        .bench = "records_bench",
        .id = auth_none ? "records.out_noauth" : "records.out",
        .label = "GetRecords (10,000 per call) draining the stream: records out",
        .value = cs_bench_median(out_rate, RUNS),
        .unit = "records/s",
        .runs = out_rate,
        .n_runs = RUNS,
        .target = ">= 1000000"});
    cs_bench_figure(&(struct cs_bench_figure){.bench = "records_bench",
                                              .id = "records.put_p50",
                                              .label = "PutRecords latency per call, p50",
                                              .value = cs_bench_median(p50, RUNS),
                                              .unit = "ms",
                                              .runs = p50,
                                              .n_runs = RUNS});
    cs_bench_figure(&(struct cs_bench_figure){.bench = "records_bench",
                                              .id = "records.put_p99",
                                              .label = "PutRecords latency per call, p99",
                                              .value = cs_bench_median(p99, RUNS),
                                              .unit = "ms",
                                              .runs = p99,
                                              .n_runs = RUNS});
    cs_bench_figure(&(struct cs_bench_figure){.bench = "records_bench",
                                              .id = "records.get_p50",
                                              .label = "GetRecords latency per call, p50",
                                              .value = cs_bench_median(gp50, RUNS),
                                              .unit = "ms",
                                              .runs = gp50,
                                              .n_runs = RUNS});
    cs_bench_figure(
        &(struct cs_bench_figure){.bench = "records_bench",
                                  .id = auth_none ? "records.cpu_in_noauth" : "records.cpu_in",
                                  .label = "server CPU time per record put (utime+stime)",
                                  .value = cs_bench_median(cpu_in, RUNS),
                                  .unit = "us",
                                  .runs = cpu_in,
                                  .n_runs = RUNS});
    cs_bench_figure(
        &(struct cs_bench_figure){.bench = "records_bench",
                                  .id = "records.cpu_out",
                                  .label = "server CPU time per record read (utime+stime)",
                                  .value = cs_bench_median(cpu_out, RUNS),
                                  .unit = "us",
                                  .runs = cpu_out,
                                  .n_runs = RUNS});
    free(put_body);
    curl_global_cleanup();
    if (js) {
        rc = js_part(server, js_prefix, js_calls, js_runs);
    }
    return rc;
}
