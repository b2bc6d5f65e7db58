/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target of the record-stream API handlers (ingest-server/api/kds_api.c) on a real store
 * in a temporary directory: the first byte picks the operation and the protocol (JSON or CBOR),
 * the rest is the request body. Beyond not crashing: every answer is a status with either a
 * body (200) or an error type and message (4xx/5xx), never both missing. The store is reset
 * every 2,000 inputs so the disk stays small. */
#define _GNU_SOURCE
#include <stdint.h>

#include "kds_fixture.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kds_fixture_next("cs-fuzz-kds");
    if (size == 0) {
        return 0;
    }
    kds_fixture_run(ops[(data[0] & 127) % N_OPS], data + 1, size - 1, data[0] >= 128);
    return 0;
}
