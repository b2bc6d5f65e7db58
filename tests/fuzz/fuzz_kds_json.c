/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target of the record-stream API handlers (ingest-server/api/kds_api.c) on a real store
 * in a temporary directory: the first byte picks the operation and the protocol (JSON or CBOR),
 * the rest is the request body. Beyond not crashing: every answer is a status with either a
 * body (200) or an error type and message (4xx/5xx), never both missing. The store is reset
 * every 2,000 inputs so the disk stays small. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_int.h"
#include "kds_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ops[] = {"CreateStream",
                                  "DeleteStream",
                                  "DescribeStream",
                                  "DescribeStreamSummary",
                                  "ListStreams",
                                  "ListShards",
                                  "PutRecord",
                                  "PutRecords",
                                  "GetShardIterator",
                                  "GetRecords",
                                  "IncreaseStreamRetentionPeriod",
                                  "DecreaseStreamRetentionPeriod",
                                  "SplitShard",
                                  "MergeShards",
                                  "AddTagsToStream",
                                  "RemoveTagsFromStream",
                                  "ListTagsForStream",
                                  "DescribeLimits",
                                  "Bogus",
                                  "UpdateShardCount"};
#define N_OPS (sizeof(ops) / sizeof(ops[0]))

static csi_kds_store *store;
static char dir[256];
static unsigned runs;

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

static void reset(void)
{
    csi_kds_store_config cfg;
    char cmd[700], db[300];
    csi_kds_store_close(&store);
    if (dir[0] == '\0') {
        snprintf(dir, sizeof(dir), "%s/cs-fuzz-kds-%d",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    check(system(cmd) == 0);
    snprintf(db, sizeof(db), "%s/index.sqlite3", dir);
    csi_kds_store_config_init(&cfg);
    cfg.data_dir = dir;
    cfg.db_path = db;
    cfg.durable = false;
    check(csi_kds_store_open(&cfg, &store) == CS_OK);
    check(csi_kds_store_create(store, "f", 2, false) == CS_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct csi_kds_result res;
    if (store == NULL || ++runs % 2000 == 0) {
        reset();
    }
    if (size == 0) {
        return 0;
    }
    check(csi_kds_run(NULL, store, ops[(data[0] & 127) % N_OPS], data + 1, size - 1, data[0] >= 128,
                      &res) == CS_OK);
    check(res.status >= 200 && res.status < 600);
    check(res.status == 200 ? res.out != NULL && res.error_type == NULL
                            : res.error_type != NULL && res.message[0] != '\0');
    free(res.out);
    return 0;
}
