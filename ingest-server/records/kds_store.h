/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file kds_store.h
 * @brief The semantics of record streams (PROTOCOL.md §6) below HTTP and JSON: streams with
 * shards (metadata in kds_meta.h), one record log per shard (reclog.h), MD5 routing of
 * partition keys (or explicit hash keys) to the open shard whose range holds them, 56-digit
 * sequence numbers, durable puts (group commit across shards), shard iterators of the five
 * types (authenticated, expiring), reads with the next iterator, MillisBehindLatest and the
 * children at a closed shard's end, resharding (split, merge) and retention. The HTTP layer maps
 * JSON/CBOR requests onto these calls. Private to the ingest server.
 *
 * Threads: any. Calls block on disk: run them on the worker pool, never on the loop.
 */
#ifndef CAMSTREAM_KDS_STORE_H
#define CAMSTREAM_KDS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/platform.h"
#include "kds.h"
#include "kds_limits.h"
#include "kds_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct csi_kds_store csi_kds_store;

/** @brief Settings; fill with csi_kds_store_config_init(). Strings are copied. */
typedef struct csi_kds_store_config {
    const char *data_dir; /**< logs go to <data_dir>/records/<stream>/<shard> (required) */
    const char *db_path;  /**< the index database file (required) */
    bool durable;         /**< fdatasync each put (group commit); default true */
    uint8_t iterator_key[CSI_KDS_ITERATOR_KEY_LEN]; /**< the server's secret; default random */
    const cs_clock *clock;                          /**< NULL: system */
    const cs_logger *logger;
    uint64_t segment_bytes;    /**< record log segment size; 0: the log's default */
    csi_kds_limit_conf limits; /**< per-shard limits of streams without the tag
                                    CSI_KDS_LIMITS_TAG; default all 0: off */
} csi_kds_store_config;

/** @brief Fills `cfg` with the defaults listed at each field (a random iterator key). */
void csi_kds_store_config_init(csi_kds_store_config *cfg);

/** @brief Opens the store. @return CS_OK; CS_E_INVAL; CS_E_IO; CS_E_NOMEM */
cs_status csi_kds_store_open(const csi_kds_store_config *cfg, csi_kds_store **out);

/** @brief Closes it; sets `*s` to NULL; accepts NULL. No call may be running. */
void csi_kds_store_close(csi_kds_store **s);

/** @brief The metadata, for the describe/list/tag calls the store does not wrap. */
csi_kds_meta *csi_kds_store_meta(csi_kds_store *s);

/** @brief Wall-clock milliseconds of the store's clock (replaceable in tests), for the leases. */
uint64_t csi_kds_store_now_ms(const csi_kds_store *s);

/** @brief CreateStream. @return as csi_kds_meta_create() */
cs_status csi_kds_store_create(csi_kds_store *s, const char *name, uint32_t shards, bool on_demand);

/** @brief DeleteStream: the metadata, then every shard's log. @return CS_OK; CS_E_NOTFOUND */
cs_status csi_kds_store_delete(csi_kds_store *s, const char *name);

/** @brief One record to put. */
typedef struct csi_kds_put {
    const char *partition_key; /**< 1..256 bytes */
    size_t key_len;
    const char *explicit_hash; /**< decimal hash key, or NULL: MD5 of the partition key */
    const uint8_t *data;
    size_t len; /**< up to CSI_RECLOG_MAX_DATA */
} csi_kds_put;

/** @brief What happened to one record of a put. */
typedef struct csi_kds_put_result {
    cs_status status; /**< CS_OK, or why this record failed (CS_E_NOSPACE, CS_E_IO, CS_E_INVAL) */
    uint32_t shard;
    char seq[CSI_KDS_SEQ_LEN + 1];
} csi_kds_put_result;

/**
 * @brief PutRecord(s): routes each record to its shard, writes every shard's part, then waits
 * until all are durable. Records of one shard keep their order in the call. Each record gets
 * its own result; the call fails as a whole only when the stream cannot be used.
 * @param[out] res  `n` results
 * @return CS_OK (see each result); CS_E_NOTFOUND (no such stream); CS_E_INVAL (an explicit hash
 *         key that is not a number below 2^128, a key of bad length: checked for all records
 *         before anything is written)
 */
cs_status csi_kds_store_put(csi_kds_store *s, const char *name, const csi_kds_put *recs, size_t n,
                            csi_kds_put_result *res);

/** @brief ShardIteratorType. */
typedef enum csi_kds_iter_type {
    CSI_KDS_AT_SEQUENCE_NUMBER = 0,
    CSI_KDS_AFTER_SEQUENCE_NUMBER = 1,
    CSI_KDS_AT_TIMESTAMP = 2,
    CSI_KDS_TRIM_HORIZON = 3,
    CSI_KDS_LATEST = 4,
} csi_kds_iter_type;

/**
 * @brief GetShardIterator.
 * @param[in] seq    for AT/AFTER_SEQUENCE_NUMBER
 * @param[in] ts_ms  for AT_TIMESTAMP
 * @return CS_OK; CS_E_NOTFOUND (stream or shard); CS_E_INVAL (a sequence number that is not of
 *         this shard, or missing)
 */
cs_status csi_kds_store_iterator(csi_kds_store *s, const char *name, uint32_t shard,
                                 csi_kds_iter_type type, const char *seq, uint64_t ts_ms,
                                 char out[CSI_KDS_ITERATOR_MAX]);

/** @brief A record read back; pointers valid during the callback. */
typedef struct csi_kds_record {
    const char *seq;
    uint64_t arrival_ms;
    const char *partition_key;
    size_t key_len;
    const uint8_t *data;
    size_t len;
} csi_kds_record;

/** @brief Return false to stop early (the record is not consumed). */
typedef bool (*csi_kds_record_fn)(void *ctx, const csi_kds_record *r);

/** @brief What a read returns besides the records. */
typedef struct csi_kds_get_result {
    bool has_next; /**< false at the end of a closed shard (NextShardIterator null) */
    char next[CSI_KDS_ITERATOR_MAX];
    uint64_t millis_behind;        /**< 0 when the read reached the shard's tip */
    uint32_t children[2];          /**< at the end of a closed shard: ChildShards */
    csi_kds_shard child_shards[2]; /**< ...with their ranges and parents */
    size_t n_children;
    size_t records;
} csi_kds_get_result;

/**
 * @brief GetRecords: up to `limit` records (<= 10,000) and about 10 MiB from the iterator.
 * @return CS_OK; CS_E_MALFORMED (not an iterator of this server: InvalidArgumentException);
 *         CS_E_TIMEOUT (expired: ExpiredIteratorException); CS_E_NOTFOUND (the stream or shard
 *         is gone); CS_E_IO
 */
cs_status csi_kds_store_get(csi_kds_store *s, const char *iterator, size_t limit,
                            csi_kds_record_fn fn, void *ctx, csi_kds_get_result *res);

/**
 * @brief GetRecords as a client calls it: csi_kds_store_get() that also takes a token from the
 * shard's GetRecords calls/s limit (kds_limits.h) after the iterator checks. (Readers inside the
 * server, such as SubscribeToShard, use csi_kds_store_get(): not limited.)
 * @return as csi_kds_store_get(); CS_E_LIMIT (over the limit: nothing read;
 *         ProvisionedThroughputExceededException)
 */
cs_status csi_kds_store_get_limited(csi_kds_store *s, const char *iterator, size_t limit,
                                    csi_kds_record_fn fn, void *ctx, csi_kds_get_result *res);

/** @brief SplitShard at `new_start` (decimal hash key). @return as csi_kds_meta_split() */
cs_status csi_kds_store_split(csi_kds_store *s, const char *name, uint32_t shard,
                              const char *new_start, uint32_t children[2]);

/** @brief MergeShards. @return as csi_kds_meta_merge() */
cs_status csi_kds_store_merge(csi_kds_store *s, const char *name, uint32_t a, uint32_t b,
                              uint32_t *child);

/** @brief Retention: removes whole log segments older than each stream's retention.
 * @param[out] removed  records removed (may be NULL) */
cs_status csi_kds_store_trim(csi_kds_store *s, uint64_t *removed);

/**
 * @brief Where an iterator of this store points (stream, shard, next offset): for the
 * ContinuationSequenceNumber of SubscribeToShard (api/kds_subscribe.c).
 * @return as csi_kds_iterator_decode()
 */
cs_status csi_kds_store_iterator_position(csi_kds_store *s, const char *iterator,
                                          csi_kds_iterator *out);

/**
 * @brief UpdateShardCount (UNIFORM_SCALING): splits and merges (kds_reshard.h) in one metadata
 * transaction so that `target` open shards split the hash space evenly; parents close and stay
 * readable. The service's limits: target at most twice and at least half the open shards, at
 * most CSI_KDS_RESHARD_MAX_TARGET, at most CSI_KDS_RESHARD_PER_DAY calls per stream in a rolling
 * 24 hours (counted in memory since the server started).
 * @param[out] current  the open shards before (may be NULL)
 * @return CS_OK; CS_E_NOTFOUND; CS_E_RANGE (the target is out of the bounds above:
 *         InvalidArgumentException); CS_E_LIMIT (calls per day, or more than CSI_KDS_MAX_SHARDS
 *         shards in all: LimitExceededException); CS_E_IO
 */
cs_status csi_kds_store_update_shard_count(csi_kds_store *s, const char *name, uint32_t target,
                                           uint32_t *current);

/** @brief The per-shard limits of stream `name` (NULL: the server's default). @return CS_OK;
 * CS_E_NOTFOUND */
cs_status csi_kds_store_limits(csi_kds_store *s, const char *name, csi_kds_limit_conf *out);

/** @brief Re-reads the limits tag of `name` after its tags changed (AddTagsToStream,
 * RemoveTagsFromStream). */
void csi_kds_store_limits_changed(csi_kds_store *s, const char *name);

#ifdef __cplusplus
}
#endif

#endif /* CAMSTREAM_KDS_STORE_H */
