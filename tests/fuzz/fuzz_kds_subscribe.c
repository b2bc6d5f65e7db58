/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target of enhanced fan-out (ingest-server/api/kds_subscribe.c) on a real store in a
 * temporary directory holding stream "f" (2 shards, 3 records routed by their keys)
 * and consumer "c" (ARN ...:stream/f/consumer/c:1700000000): the first byte picks the operation
 * (Register/Deregister/Describe/ListStreamConsumers through csi_kds_run(), SubscribeToShard
 * through csi_kds_sub_run(): the request checks, then the first read and its event-stream
 * message, or PutRecords to add records) and the protocol (bit 7: CBOR), the rest is the body.
 * Beyond not crashing: every answer is a success or an error type with a message. The store is
 * reset every 2,000 inputs so the disk stays small. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_int.h"
#include "kds_store.h"
#include "kds_sub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ops[] = {"RegisterStreamConsumer", "DeregisterStreamConsumer",
                                  "DescribeStreamConsumer", "ListStreamConsumers",
                                  "SubscribeToShard",       "PutRecords"};
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
    static const char put[] = "{\"StreamName\":\"f\",\"Records\":["
                              "{\"Data\":\"YQ==\",\"PartitionKey\":\"a\"},"
                              "{\"Data\":\"Yg==\",\"PartitionKey\":\"b\"},"
                              "{\"Data\":\"Yw==\",\"PartitionKey\":\"c\"}]}";
    struct csi_kds_result res;
    csi_kds_store_config cfg;
    char cmd[700], db[300];
    csi_kds_store_close(&store);
    if (dir[0] == '\0') {
        snprintf(dir, sizeof(dir), "%s/cs-fuzz-kds-sub-%d",
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
    check(csi_kds_meta_consumer_add(csi_kds_store_meta(store), "f", "c", 1700000000000u, NULL) ==
          CS_OK);
    check(csi_kds_run(NULL, store, "PutRecords", (const uint8_t *)put, sizeof(put) - 1, false,
                      &res) == CS_OK &&
          res.status == 200);
    free(res.out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *op;
    bool cbor;
    if (store == NULL || ++runs % 2000 == 0) {
        reset();
    }
    if (size == 0) {
        return 0;
    }
    /* consumer "c" again if an input deregistered it (CS_E_EXISTS, or CS_E_LIMIT when full) */
    (void)csi_kds_meta_consumer_add(csi_kds_store_meta(store), "f", "c", 1700000000000u, NULL);
    op = ops[(data[0] & 0x7f) % N_OPS];
    cbor = (data[0] & 0x80) != 0;
    if (strcmp(op, "SubscribeToShard") == 0) {
        struct csi_kds_err err;
        size_t n = 0;
        check(csi_kds_sub_run(NULL, store, data + 1, size - 1, cbor, &err, &n) == CS_OK);
        check(err.type == NULL || (err.status >= 400 && err.status < 600 && err.message[0]));
    } else {
        struct csi_kds_result res;
        check(csi_kds_run(NULL, store, op, data + 1, size - 1, cbor, &res) == CS_OK);
        check(res.status >= 200 && res.status < 600);
        check(res.status == 200 ? res.out != NULL && res.error_type == NULL
                                : res.error_type != NULL && res.message[0] != '\0');
        free(res.out);
    }
    return 0;
}
