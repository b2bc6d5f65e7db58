/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file kds_reshard.h
 * @brief UpdateShardCount (ScalingType UNIFORM_SCALING) of record streams: the plan of splits
 * and merges that takes a stream's open shards to `target` shards splitting the hash space
 * evenly (as CreateStream does), keeping the lineage the service shows (each result shard has a
 * ParentShardId, merges also an AdjacentParentShardId; intermediate shards are created and
 * closed in the same step), and its one-transaction application to the metadata. Private to the
 * ingest server.
 *
 * The plan: first every open shard that straddles the end of a target range is split there
 * (a shard straddling several ends is split again on its right child); then the pieces inside
 * each target range are merged left to right. 2 -> 4 is two splits; 4 -> 3 is two splits and
 * three merges.
 */
#ifndef CAMSTREAM_KDS_RESHARD_H
#define CAMSTREAM_KDS_RESHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/platform.h"
#include "kds.h"
#include "kds_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Most UpdateShardCount calls per stream in a rolling 24 hours (the service: 10). */
#define CSI_KDS_RESHARD_PER_DAY 10
/** Most open shards UpdateShardCount goes to (the service: 10,000). */
#define CSI_KDS_RESHARD_MAX_TARGET 10000

/** @brief One step: a split of `a` at `key` (children: next two indexes), or a merge of `a` and
 * `b` (child: the next index; parent a, adjacent parent b). */
typedef struct csi_kds_reshard_op {
    bool merge;
    uint32_t a, b;
    csi_u128 key;
} csi_kds_reshard_op;

/**
 * @brief Plans the steps from the shards `sh` (all of a stream's shards, indexes 0..n-1) to
 * `target` open shards; new shards get the indexes n, n+1, ... in the order of the steps.
 * @param[out] ops     up to `cap` steps
 * @param[out] n_ops   steps written
 * @param[out] n_new   shards the steps create
 * @return CS_OK; CS_E_INVAL (target 0, no open shards); CS_E_INTERNAL (the open shards do not
 *         cover the hash space); CS_E_NOSPACE (more than `cap` steps)
 */
cs_status csi_kds_reshard_plan(const csi_kds_shard *sh, size_t n, uint32_t target,
                               csi_kds_reshard_op *ops, size_t cap, size_t *n_ops, size_t *n_new);

/**
 * @brief Applies planned steps in one transaction (all or nothing). Each step is checked as
 * csi_kds_meta_split()/csi_kds_meta_merge() check it. `ends[i]` is the end offset of existing
 * shard i (its log's written end) for shards the steps close; shards the steps create are
 * empty (end 0). Implemented in kds_meta.c.
 * @return CS_OK; CS_E_NOTFOUND; CS_E_STATE; CS_E_RANGE; CS_E_LIMIT (over CSI_KDS_MAX_SHARDS);
 *         CS_E_IO
 */
cs_status csi_kds_meta_reshard(csi_kds_meta *m, const char *name, const csi_kds_reshard_op *ops,
                               size_t n_ops, const uint64_t *ends, size_t n_ends, uint64_t now_ms);

#ifdef __cplusplus
}
#endif

#endif /* CAMSTREAM_KDS_RESHARD_H */
