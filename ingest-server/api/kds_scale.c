/* SPDX-License-Identifier: Apache-2.0 */
/* UpdateShardCount and DescribeLimits of the record-stream API (kds_scale.h): request checks and
 * the service's messages over kds_store. Invariants: docs/internals/RECORDS.md. */
#define _POSIX_C_SOURCE 200809L
#include "kds_scale.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kds_reshard.h"

#define ACCOUNT "123456789012"

static void efail(struct csi_kds_scale_err *e, int status, const char *type, const char *fmt, ...)
    CS_PRINTF(4, 5);

static void efail(struct csi_kds_scale_err *e, int status, const char *type, const char *fmt, ...)
{
    va_list ap;
    e->status = status;
    e->type = type;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

void csi_kds_throughput_message(const char *stream, uint32_t shard, char *out, size_t cap)
{
    char id[CSI_KDS_SHARD_ID_LEN + 1];
    csi_kds_shard_id(shard, id);
    snprintf(out, cap, "Rate exceeded for shard %s in stream %s under account %s.", id,
             stream ? stream : "", ACCOUNT);
}

json_t *csi_kds_update_shard_count(csi_kds_store *store, json_t *in, const char *name,
                                   const char *arn, struct csi_kds_scale_err *err)
{
    json_t *tc = json_object_get(in, "TargetShardCount");
    const char *type = json_string_value(json_object_get(in, "ScalingType"));
    json_int_t target = json_integer_value(tc);
    uint32_t current = 0;
    cs_status st;
    memset(err, 0, sizeof(*err));
    if (type == NULL || strcmp(type, "UNIFORM_SCALING") != 0) {
        efail(err, 400, "ValidationException",
              "1 validation error detected: Value '%s' at 'scalingType' failed to satisfy "
              "constraint: Member must satisfy enum value set: [UNIFORM_SCALING]",
              type ? type : "null");
        return NULL;
    }
    if (!json_is_integer(tc) || target < 1 || target > 100000) {
        efail(err, 400, "ValidationException",
              "1 validation error detected: Value at 'targetShardCount' failed to satisfy "
              "constraint: Member must have value between 1 and 100000");
        return NULL;
    }
    {
        csi_kds_stream s;
        if (csi_kds_meta_get(csi_kds_store_meta(store), name, &s) == CS_OK && s.on_demand) {
            efail(err, 400, "ValidationException",
                  "UpdateShardCount is only supported for streams in the PROVISIONED capacity "
                  "mode; stream %s is ON_DEMAND.",
                  name);
            return NULL;
        }
    }
    st = csi_kds_store_update_shard_count(store, name, (uint32_t)target, &current);
    switch (st) {
    case CS_OK:
        break;
    case CS_E_NOTFOUND:
        efail(err, 400, "ResourceNotFoundException", "Stream %s under account %s not found.", name,
              ACCOUNT);
        return NULL;
    case CS_E_RANGE:
        if (target > CSI_KDS_RESHARD_MAX_TARGET) {
            efail(err, 400, "InvalidArgumentException",
                  "UpdateShardCount cannot scale up over %d shards.", CSI_KDS_RESHARD_MAX_TARGET);
        } else if ((uint64_t)target > 2u * (uint64_t)current) {
            efail(err, 400, "InvalidArgumentException",
                  "UpdateShardCount cannot scale up over double your current open shard count. "
                  "Current open shard count: %u Target shard count: %lld",
                  current, (long long)target);
        } else {
            efail(err, 400, "InvalidArgumentException",
                  "UpdateShardCount cannot scale down below half your current open shard count. "
                  "Current open shard count: %u Target shard count: %lld",
                  current, (long long)target);
        }
        return NULL;
    case CS_E_LIMIT:
        efail(err, 400, "LimitExceededException",
              "UpdateShardCount of stream %s: at most %d calls in a rolling 24 hours, and at most "
              "%d shards (open and closed) in a stream.",
              name, CSI_KDS_RESHARD_PER_DAY, CSI_KDS_MAX_SHARDS);
        return NULL;
    default:
        efail(err, 500, "InternalFailure", "UpdateShardCount of stream %s: %s.", name,
              cs_status_str(st));
        return NULL;
    }
    return json_pack("{s:s,s:s,s:i,s:i}", "StreamName", name, "StreamARN", arn, "CurrentShardCount",
                     (json_int_t)current, "TargetShardCount", (json_int_t)target);
}

json_t *csi_kds_describe_limits(csi_kds_store *store, const char *name,
                                struct csi_kds_scale_err *err)
{
    char(*names)[CSI_KDS_MAX_STREAM_NAME + 1] = calloc(100, sizeof(*names));
    char after[CSI_KDS_MAX_STREAM_NAME + 1] = "";
    csi_kds_meta *m = csi_kds_store_meta(store);
    csi_kds_limit_conf lim;
    uint64_t open = 0, on_demand = 0;
    bool more = true;
    cs_status st = CS_OK;
    memset(err, 0, sizeof(*err));
    if (names == NULL) {
        efail(err, 500, "InternalFailure", "Out of memory.");
        return NULL;
    }
    while (more && st == CS_OK) {
        size_t n = 0;
        st = csi_kds_meta_list(m, after[0] ? after : NULL, 100, names, &n, &more);
        for (size_t i = 0; st == CS_OK && i < n; i++) {
            csi_kds_stream s;
            if (csi_kds_meta_get(m, names[i], &s) == CS_OK) {
                open += s.open_shards;
                on_demand += s.on_demand ? 1u : 0u;
            }
            snprintf(after, sizeof(after), "%s", names[i]);
        }
    }
    free(names);
    if (st == CS_OK) {
        st = csi_kds_store_limits(store, name, &lim);
    }
    if (st != CS_OK) {
        if (st == CS_E_NOTFOUND) {
            efail(err, 400, "ResourceNotFoundException", "Stream %s under account %s not found.",
                  name ? name : "", ACCOUNT);
        } else {
            efail(err, 500, "InternalFailure", "DescribeLimits: %s.", cs_status_str(st));
        }
        return NULL;
    }
    return json_pack("{s:i,s:i,s:i,s:i,s:{s:I,s:I,s:I}}", "ShardLimit",
                     (json_int_t)CSI_KDS_MAX_SHARDS, "OpenShardCount", (json_int_t)open,
                     "OnDemandStreamCount", (json_int_t)on_demand, "OnDemandStreamCountLimit",
                     (json_int_t)50, "CamstreamShardLimits", "RecordsPerSecond",
                     (json_int_t)lim.records_per_s, "BytesPerSecond", (json_int_t)lim.bytes_per_s,
                     "GetRecordsPerSecond", (json_int_t)lim.gets_per_s);
}
