/* SPDX-License-Identifier: Apache-2.0 */
/* A worker of the record consumer (records_consumer.h) for records_consumer.py: prints each
 * record as SHARD<TAB>SEQUENCE<TAB>DATA (flushed per batch) and, with --die-in-batch N, kills
 * itself with SIGKILL after printing its Nth batch and before returning from the callback, so
 * that batch is processed but never checkpointed: the case at-least-once delivery is about.
 *
 * usage: records_worker ENDPOINT STREAM APP WORKER_ID LEASE_MS MAX_RECORDS [--die-in-batch N]
 * Runs until SIGTERM (then releases its leases). Credentials from AWS_ACCESS_KEY_ID/SECRET. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "camstream/records_consumer.h"

static volatile sig_atomic_t stop;
static long die_in = 0, batches = 0;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static cs_status process(void *user, const char *shard, const cs_record *recs, size_t n)
{
    (void)user;
    for (size_t i = 0; i < n; i++) {
        printf("%s\t%s\t%.*s\n", shard, recs[i].sequence_number, (int)recs[i].len,
               (const char *)recs[i].data);
    }
    fflush(stdout);
    if (++batches == die_in) {
        raise(SIGKILL); /* processed, not checkpointed */
    }
    return CS_OK;
}

int main(int argc, char **argv)
{
    cs_records_consumer_config cfg;
    cs_records_consumer *c = NULL;
    struct sigaction sa;
    cs_status st;
    if (argc != 7 && !(argc == 9 && strcmp(argv[7], "--die-in-batch") == 0)) {
        fprintf(stderr, "usage: records_worker ENDPOINT STREAM APP WORKER_ID LEASE_MS "
                        "MAX_RECORDS [--die-in-batch N]\n");
        return 2;
    }
    if (argc == 9) {
        die_in = strtol(argv[8], NULL, 10);
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    cs_records_consumer_config_init(&cfg);
    cfg.endpoint = argv[1];
    cfg.stream_name = argv[2];
    cfg.app_name = argv[3];
    cfg.worker_id = argv[4];
    cfg.lease_ms = (uint32_t)strtoul(argv[5], NULL, 10);
    cfg.max_records = (uint32_t)strtoul(argv[6], NULL, 10);
    cfg.process = process;
    st = cs_records_consumer_create(&cfg, &c);
    if (st != CS_OK) {
        fprintf(stderr, "records_worker: create: %s\n", cs_status_str(st));
        return 1;
    }
    st = cs_records_consumer_run(c, &stop);
    if (st != CS_OK) {
        fprintf(stderr, "records_worker: %s\n", cs_records_consumer_error(c));
    }
    cs_records_consumer_destroy(&c);
    return st == CS_OK ? 0 : 1;
}
