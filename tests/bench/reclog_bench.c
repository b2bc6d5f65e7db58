/* SPDX-License-Identifier: Apache-2.0 */
/* The record log's own ceiling (ingest-server/records/reclog.c), below any HTTP or JSON: the
 * records_bench workload of issue 7 (PutRecords of 500 x 100-byte records from 4 writers on a
 * 4-shard stream, durable), as appends of 500-record batches from 4 threads, each batch routed
 * to one of 4 logs (shards), every append fdatasync'ed by group commit; then one reader drains
 * each log in GetRecords-sized calls (10,000 records). Prints records/s in and out (median of
 * several runs) and the fdatasync count per append (group commit at work). Data directory:
 * $CS_BENCH_DIR or ./build/bench-tmp (the disk the server would use). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "camstream/platform.h"
#include "reclog.h"

#define SHARDS 4
#define WRITERS 4
#define BATCH 500
#define REC_BYTES 100
#define RUNS 3

static int batches_per_writer = 200;
static csi_reclog *logs[SHARDS];
static unsigned long syncs;

static void on_durable(void *ctx, uint64_t end)
{
    (void)ctx;
    (void)end;
    __atomic_add_fetch(&syncs, 1, __ATOMIC_RELAXED);
}

struct writer {
    int id;
    cs_status st;
};

static void writer_main(void *arg)
{
    struct writer *w = arg;
    static const char key[] = "partition-key-0001";
    csi_reclog_record *r = calloc(BATCH, sizeof(*r));
    uint8_t *data = malloc(BATCH * REC_BYTES);
    if (r == NULL || data == NULL) {
        w->st = CS_E_NOMEM;
        goto out;
    }
    memset(data, 'x', BATCH * REC_BYTES);
    for (int i = 0; i < BATCH; i++) {
        r[i] = (csi_reclog_record){key, sizeof(key) - 1, data + i * REC_BYTES, REC_BYTES};
    }
    for (int b = 0; b < batches_per_writer; b++) {
        /* PutRecords spreads a batch over the shards: write each shard's part, then wait for
         * the syncs (group commit shares them with the other writers). */
        uint64_t end[SHARDS];
        for (int s = 0; s < SHARDS; s++) {
            w->st =
                csi_reclog_write(logs[(s + w->id) % SHARDS], r, BATCH / SHARDS, 1, NULL, &end[s]);
            if (w->st != CS_OK) {
                goto out;
            }
        }
        for (int s = 0; s < SHARDS; s++) {
            w->st = csi_reclog_sync(logs[(s + w->id) % SHARDS], end[s]);
            if (w->st != CS_OK) {
                goto out;
            }
        }
    }
out:
    free(r);
    free(data);
}

static bool count_fn(void *ctx, const csi_reclog_entry *e)
{
    (void)e;
    (*(uint64_t *)ctx)++;
    return true;
}

int main(int argc, char **argv)
{
    const char *base = getenv("CS_BENCH_DIR") ? getenv("CS_BENCH_DIR") : "build/bench-tmp";
    double in_rate[RUNS], out_rate[RUNS], sync_per_append[RUNS];
    char dir[512];

    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: reclog_bench [BATCHES_PER_WRITER]\n"
               "Appends %d-record batches of %d-byte records from %d threads to %d durable record\n"
               "logs, then drains them; prints records/s (median of %d runs). Data directory:\n"
               "$CS_BENCH_DIR or ./build/bench-tmp.\n",
               BATCH, REC_BYTES, WRITERS, SHARDS, RUNS);
        return 0;
    }
    if (argc > 1) {
        batches_per_writer = atoi(argv[1]);
        if (batches_per_writer <= 0) {
            fprintf(stderr, "reclog_bench: BATCHES_PER_WRITER must be a positive number\n");
            return 2;
        }
    }
    for (int run = 0; run < RUNS; run++) {
        csi_reclog_config cfg;
        struct writer w[WRITERS];
        cs_thread t[WRITERS];
        uint64_t total = 0, read_total = 0;
        unsigned long appends = (unsigned long)WRITERS * (unsigned long)batches_per_writer * SHARDS;
        double t0, t1;

        csi_reclog_config_init(&cfg);
        cfg.on_durable = on_durable;
        syncs = 0;
        for (int s = 0; s < SHARDS; s++) {
            snprintf(dir, sizeof(dir), "%s/reclog-bench-%d/shard-%d", base, run, s);
            if (csi_reclog_open(dir, &cfg, &logs[s], NULL) != CS_OK) {
                fprintf(stderr, "reclog_bench: cannot open a log under %s\n", dir);
                return 1;
            }
        }
        t0 = cs_bench_now_ns();
        for (int i = 0; i < WRITERS; i++) {
            w[i].id = i;
            w[i].st = CS_OK;
            if (cs_thread_create(&t[i], writer_main, &w[i], "writer") != CS_OK) {
                return 1;
            }
        }
        for (int i = 0; i < WRITERS; i++) {
            cs_thread_join(&t[i]);
            if (w[i].st != CS_OK) {
                fprintf(stderr, "reclog_bench: append failed: %s\n", cs_status_str(w[i].st));
                return 1;
            }
        }
        t1 = cs_bench_now_ns();
        for (int s = 0; s < SHARDS; s++) {
            uint64_t end;
            csi_reclog_bounds(logs[s], NULL, &end);
            total += end;
        }
        in_rate[run] = (double)total / ((t1 - t0) / 1e9);
        sync_per_append[run] = (double)syncs / (double)appends;

        t0 = cs_bench_now_ns();
        for (int s = 0; s < SHARDS; s++) {
            uint64_t next = 0, end;
            csi_reclog_bounds(logs[s], NULL, &end);
            while (next < end) {
                if (csi_reclog_read(logs[s], next, 10000, 10u << 20, count_fn, &read_total,
                                    &next) != CS_OK) {
                    return 1;
                }
            }
        }
        t1 = cs_bench_now_ns();
        out_rate[run] = (double)read_total / ((t1 - t0) / 1e9);
        if (read_total != total) {
            fprintf(stderr, "reclog_bench: wrote %" PRIu64 " records, read %" PRIu64 "\n", total,
                    read_total);
            return 1;
        }
        for (int s = 0; s < SHARDS; s++) {
            csi_reclog_destroy(&logs[s]);
        }
        fprintf(stderr, "run %d: %" PRIu64 " records, in %.0f/s, out %.0f/s\n", run + 1, total,
                in_rate[run], out_rate[run]);
    }
    printf("reclog_bench: %d writers x %d batches x %d records of %d B on %d shards, durable\n",
           WRITERS, batches_per_writer, BATCH, REC_BYTES, SHARDS);
    printf("  records in  (appended, fdatasync'ed): %10.0f records/s (median of %d)\n",
           cs_bench_median(in_rate, RUNS), RUNS);
    printf("  records out (drained, CRC checked):   %10.0f records/s (median of %d)\n",
           cs_bench_median(out_rate, RUNS), RUNS);
    printf("  fdatasync per append (group commit):  %10.2f\n",
           cs_bench_median(sync_per_append, RUNS));
    /* cs_bench_median sorted the arrays: the runs are reported as a set */
    cs_bench_figure(
        &(struct cs_bench_figure){.bench = "reclog_bench",
                                  .id = "reclog.in",
                                  .label = "record log alone: records in (appended, fdatasync'ed)",
                                  .value = cs_bench_median(in_rate, RUNS),
                                  .unit = "records/s",
                                  .runs = in_rate,
                                  .n_runs = RUNS});
    cs_bench_figure(
        &(struct cs_bench_figure){.bench = "reclog_bench",
                                  .id = "reclog.out",
                                  .label = "record log alone: records out (drained, CRC checked)",
                                  .value = cs_bench_median(out_rate, RUNS),
                                  .unit = "records/s",
                                  .runs = out_rate,
                                  .n_runs = RUNS});
    cs_bench_figure(
        &(struct cs_bench_figure){.bench = "reclog_bench",
                                  .id = "reclog.sync_per_append",
                                  .label = "record log alone: fdatasync per append (group commit)",
                                  .value = cs_bench_median(sync_per_append, RUNS),
                                  .unit = "",
                                  .runs = sync_per_append,
                                  .n_runs = RUNS});
    return 0;
}
