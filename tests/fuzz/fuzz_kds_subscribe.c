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
#include <string.h>

#include "kds_fixture.h"
#include "kds_sub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ops[] = {"RegisterStreamConsumer", "DeregisterStreamConsumer",
                                  "DescribeStreamConsumer", "ListStreamConsumers",
                                  "SubscribeToShard",       "PutRecords"};
#define N_OPS (sizeof(ops) / sizeof(ops[0]))

/* Consumer "c" of stream "f", and 3 records routed by their keys. */
static void add_consumer_and_records(void)
{
    static const char put[] = "{\"StreamName\":\"f\",\"Records\":["
                              "{\"Data\":\"YQ==\",\"PartitionKey\":\"a\"},"
                              "{\"Data\":\"Yg==\",\"PartitionKey\":\"b\"},"
                              "{\"Data\":\"Yw==\",\"PartitionKey\":\"c\"}]}";
    struct csi_kds_result res;
    check(csi_kds_meta_consumer_add(csi_kds_store_meta(kds_store), "f", "c", 1700000000000u,
                                    NULL) == CS_OK);
    check(csi_kds_run(NULL, kds_store, "PutRecords", (const uint8_t *)put, sizeof(put) - 1, false,
                      &res) == CS_OK &&
          res.status == 200);
    free(res.out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *op;
    bool cbor;
    if (kds_fixture_next("cs-fuzz-kds-sub")) {
        add_consumer_and_records();
    }
    if (size == 0) {
        return 0;
    }
    /* consumer "c" again if an input deregistered it (CS_E_EXISTS, or CS_E_LIMIT when full) */
    (void)csi_kds_meta_consumer_add(csi_kds_store_meta(kds_store), "f", "c", 1700000000000u, NULL);
    op = ops[(data[0] & 0x7f) % N_OPS];
    cbor = (data[0] & 0x80) != 0;
    if (strcmp(op, "SubscribeToShard") == 0) {
        struct csi_kds_err err;
        size_t n = 0;
        check(csi_kds_sub_run(NULL, kds_store, data + 1, size - 1, cbor, &err, &n) == CS_OK);
        check(err.type == NULL || (err.status >= 400 && err.status < 600 && err.message[0]));
    } else {
        kds_fixture_run(op, data + 1, size - 1, cbor);
    }
    return 0;
}
