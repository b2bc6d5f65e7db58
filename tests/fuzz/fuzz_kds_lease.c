/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target of the lease and checkpoint operations (ingest-server/api/kds_lease.c) through the
 * API's request runner on a real store in a temporary directory (stream "f", 2 shards, one record
 * in shard 0): the first byte picks the operation (low bits) and the protocol (JSON, or CBOR when
 * >= 128), the rest is the request body. Beyond not crashing: every answer is a status with
 * either a body (200) or an error type and message. The store is reset every 2,000 inputs. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_int.h"
#include "kds_lease.h"
#include "kds_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ops[] = {CSI_KDS_LEASE_PREFIX "AcquireLease",
                                  CSI_KDS_LEASE_PREFIX "RenewLease",
                                  CSI_KDS_LEASE_PREFIX "ReleaseLease",
                                  CSI_KDS_LEASE_PREFIX "Checkpoint",
                                  CSI_KDS_LEASE_PREFIX "ListLeases",
                                  CSI_KDS_LEASE_PREFIX "Bogus",
                                  "SplitShard",
                                  "PutRecord"};
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
    csi_kds_put p = {"k", 1, "1", (const uint8_t *)"x", 1};
    csi_kds_put_result r;
    csi_kds_store_close(&store);
    if (dir[0] == '\0') {
        snprintf(dir, sizeof(dir), "%s/cs-fuzz-kds-lease-%d",
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
    check(csi_kds_store_put(store, "f", &p, 1, &r) == CS_OK && r.status == CS_OK);
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
    check(csi_kds_run(NULL, store, ops[data[0] % N_OPS], data + 1, size - 1, data[0] >= 128,
                      &res) == CS_OK);
    check(res.status >= 200 && res.status < 600);
    check(res.status == 200 ? res.out != NULL && res.error_type == NULL
                            : res.error_type != NULL && res.message[0] != '\0');
    free(res.out);
    return 0;
}
