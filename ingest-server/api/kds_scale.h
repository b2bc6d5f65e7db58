/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scaling and throughput of the record-stream API (kds_scale.c, PROTOCOL.md §6), dispatched by
 * kds_api.c: UpdateShardCount (UNIFORM_SCALING over kds_store's splits and merges), DescribeLimits
 * (the service's fields, plus the per-shard limits camstream enforces), and the service's
 * ProvisionedThroughputExceededException message. Worker threads. Invariants:
 * docs/internals/RECORDS.md.
 */
#ifndef CS_INGEST_KDS_SCALE_H
#define CS_INGEST_KDS_SCALE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "kds_store.h"

#define CSI_KDS_E_THROUGHPUT "ProvisionedThroughputExceededException"

/** An operation's error: HTTP status, `__type` (static string) and message. */
struct csi_kds_scale_err {
    int status;
    const char *type;
    char message[512];
};

/** UpdateShardCount {StreamName|StreamARN, TargetShardCount, ScalingType}: the response
 * {StreamName, StreamARN, CurrentShardCount, TargetShardCount}, or NULL with `err`. `arn` is the
 * stream's ARN. */
json_t *csi_kds_update_shard_count(csi_kds_store *store, json_t *in, const char *name,
                                   const char *arn, struct csi_kds_scale_err *err);

/** DescribeLimits: ShardLimit, OpenShardCount (over every stream), OnDemandStreamCount(Limit),
 * and `CamstreamShardLimits` {RecordsPerSecond, BytesPerSecond, GetRecordsPerSecond} (0:
 * unlimited): the server's default, or stream `name`'s when the request names one. */
json_t *csi_kds_describe_limits(csi_kds_store *store, const char *name,
                                struct csi_kds_scale_err *err);

/** The service's message for a shard over its limit, into `out`. */
void csi_kds_throughput_message(const char *stream, uint32_t shard, char *out, size_t cap);

#endif /* CS_INGEST_KDS_SCALE_H */
