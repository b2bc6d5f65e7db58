/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target of the lease and checkpoint operations (ingest-server/api/kds_lease.c) through the
 * API's request runner on a real store in a temporary directory (stream "f", 2 shards, one record
 * in shard 0): the first byte picks the operation (low bits) and the protocol (JSON, or CBOR when
 * >= 128), the rest is the request body. Beyond not crashing: every answer is a status with
 * either a body (200) or an error type and message. The store is reset every 2,000 inputs. */
#define _GNU_SOURCE
#include <stdint.h>

#include "kds_fixture.h"
#include "kds_lease.h"

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

/* Stream "f" holds one record in shard 0. */
static void add_record(void)
{
    csi_kds_put p = {"k", 1, "1", (const uint8_t *)"x", 1};
    csi_kds_put_result r;
    check(csi_kds_store_put(kds_store, "f", &p, 1, &r) == CS_OK && r.status == CS_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (kds_fixture_next("cs-fuzz-kds-lease")) {
        add_record();
    }
    if (size == 0) {
        return 0;
    }
    kds_fixture_run(ops[data[0] % N_OPS], data + 1, size - 1, data[0] >= 128);
    return 0;
}
