/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file kds_meta.h
 * @brief The metadata of record streams (PROTOCOL.md §6): streams, shards with their hash-key
 * ranges and lineage, tags and registered consumers, in tables of their own (`kds_*`) inside
 * the server's index database (the same SQLite file as the video streams, WAL mode). The
 * records themselves live in per-shard logs (reclog.h). Private to the ingest server.
 *
 * Threads: any; one connection guarded by a mutex (metadata changes are rare, and the API keeps
 * what it needs on the hot path in memory). Every call may block on disk: never from the loop.
 */
#ifndef CAMSTREAM_KDS_META_H
#define CAMSTREAM_KDS_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/platform.h"
#include "kds.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Most shards (open and closed) one stream may have. */
#define CSI_KDS_MAX_SHARDS 1024
/** Most tags per stream (the service: 50). */
#define CSI_KDS_MAX_TAGS 50
/** Retention bounds in hours (the service: 24 .. 8760). */
#define CSI_KDS_MIN_RETENTION 24
#define CSI_KDS_MAX_RETENTION 8760

typedef struct csi_kds_meta csi_kds_meta;

/** @brief A stream. */
typedef struct csi_kds_stream {
    int64_t id;
    char name[CSI_KDS_MAX_STREAM_NAME + 1];
    uint64_t created_ms;
    uint32_t retention_hours;
    bool on_demand;       /**< StreamModeDetails ON_DEMAND (else PROVISIONED) */
    uint32_t open_shards; /**< shards not closed */
    uint32_t total_shards;
} csi_kds_stream;

/** @brief A shard: its range, lineage and whether it is closed. */
typedef struct csi_kds_shard {
    uint32_t index;          /**< shardId-<index 12 digits> */
    int64_t parent;          /**< index of the parent, -1 none */
    int64_t adjacent_parent; /**< the other parent of a merge, -1 none */
    csi_u128 start;          /**< StartingHashKey */
    csi_u128 end;            /**< EndingHashKey */
    uint64_t created_ms;
    bool closed;
    uint64_t end_offset; /**< closed: offset after its last record (EndingSequenceNumber) */
} csi_kds_shard;

/** @brief A tag. */
typedef struct csi_kds_tag {
    char key[129];
    char value[257];
} csi_kds_tag;

/**
 * @brief Opens the metadata in the database file `path` (creating the kds_* tables when
 * missing).
 * @param[in] durable  synchronous=FULL (a change survives power loss) or NORMAL (tests)
 * @return CS_OK; CS_E_IO; CS_E_NOMEM
 */
cs_status csi_kds_meta_open(const char *path, bool durable, const cs_logger *logger,
                            csi_kds_meta **out);

/** @brief Closes it; sets `*m` to NULL; accepts NULL. */
void csi_kds_meta_close(csi_kds_meta **m);

/**
 * @brief Creates a stream with `shard_count` shards splitting the hash space evenly.
 * @return CS_OK; CS_E_EXISTS (ResourceInUseException); CS_E_INVAL (name or count out of
 *         range); CS_E_IO
 */
cs_status csi_kds_meta_create(csi_kds_meta *m, const char *name, uint32_t shard_count,
                              bool on_demand, uint64_t now_ms, csi_kds_stream *out);

/** @brief Reads a stream. @return CS_OK; CS_E_NOTFOUND; CS_E_IO */
cs_status csi_kds_meta_get(csi_kds_meta *m, const char *name, csi_kds_stream *out);

/** @brief Deletes a stream with its shards, tags and consumers (its logs are the caller's).
 * @return CS_OK; CS_E_NOTFOUND; CS_E_IO */
cs_status csi_kds_meta_delete(csi_kds_meta *m, const char *name);

/**
 * @brief Stream names in order after `after` (NULL: from the first), at most `max`.
 * @param[out] names  `max` slots of CSI_KDS_MAX_STREAM_NAME + 1 bytes
 * @param[out] more   whether names follow
 */
cs_status csi_kds_meta_list(csi_kds_meta *m, const char *after, size_t max,
                            char (*names)[CSI_KDS_MAX_STREAM_NAME + 1], size_t *n, bool *more);

/** @brief Every shard of a stream, by index. @return CS_OK; CS_E_NOTFOUND; CS_E_NOSPACE (cap) */
cs_status csi_kds_meta_shards(csi_kds_meta *m, const char *name, csi_kds_shard *out, size_t cap,
                              size_t *n);

/**
 * @brief SplitShard: closes open shard `index` at `end_offset` and creates two children, the
 * first [start, new_start - 1], the second [new_start, end].
 * @param[out] children  the two new indexes (may be NULL)
 * @return CS_OK; CS_E_NOTFOUND (stream or shard); CS_E_STATE (the shard is closed);
 *         CS_E_RANGE (new_start not strictly inside the shard's range); CS_E_LIMIT (too many
 *         shards); CS_E_IO
 */
cs_status csi_kds_meta_split(csi_kds_meta *m, const char *name, uint32_t index, csi_u128 new_start,
                             uint64_t end_offset, uint64_t now_ms, uint32_t children[2]);

/**
 * @brief MergeShards: closes open shards `a` and `b`, whose ranges must be adjacent, at their
 * end offsets, and creates one child covering both (parent `a`, adjacent parent `b`).
 * @return CS_OK; CS_E_NOTFOUND; CS_E_STATE (a shard is closed); CS_E_RANGE (not adjacent);
 *         CS_E_LIMIT; CS_E_IO
 */
cs_status csi_kds_meta_merge(csi_kds_meta *m, const char *name, uint32_t a, uint32_t b,
                             uint64_t end_a, uint64_t end_b, uint64_t now_ms, uint32_t *child);

/** @brief Sets the retention. @return CS_OK; CS_E_NOTFOUND; CS_E_RANGE; CS_E_IO */
cs_status csi_kds_meta_set_retention(csi_kds_meta *m, const char *name, uint32_t hours);

/** @brief Adds or replaces tags. @return CS_OK; CS_E_NOTFOUND; CS_E_LIMIT (over 50); CS_E_IO */
cs_status csi_kds_meta_tag(csi_kds_meta *m, const char *name, const csi_kds_tag *tags, size_t n);

/** @brief Removes tags by key (absent keys are fine). */
cs_status csi_kds_meta_untag(csi_kds_meta *m, const char *name, const char *const *keys, size_t n);

/** @brief The tags, by key. @param[out] out  CSI_KDS_MAX_TAGS slots */
cs_status csi_kds_meta_tags(csi_kds_meta *m, const char *name, csi_kds_tag *out, size_t *n);

struct sqlite3;

/**
 * @brief Runs `fn` on the connection in one write transaction (BEGIN IMMEDIATE; COMMIT when `fn`
 * returns CS_OK, else ROLLBACK) under the metadata's lock: for the tables of other files of the
 * server in the same database (kds_lease.c: kds_leases). `fn` must not call csi_kds_meta_*.
 * @return what `fn` returned; CS_E_IO (begin or commit failed); CS_E_INVAL
 */
cs_status csi_kds_meta_with_db(csi_kds_meta *m, cs_status (*fn)(struct sqlite3 *db, void *ctx),
                               void *ctx);

/** Most consumers one stream may have registered (the service: 20). */
#define CSI_KDS_MAX_CONSUMERS 20
/** Longest consumer name (the service: 128, [a-zA-Z0-9_.-]). */
#define CSI_KDS_MAX_CONSUMER_NAME 128

/** @brief A registered stream consumer (RegisterStreamConsumer); ACTIVE once registered. */
typedef struct csi_kds_consumer {
    char stream[CSI_KDS_MAX_STREAM_NAME + 1];
    char name[CSI_KDS_MAX_CONSUMER_NAME + 1];
    uint64_t created_ms;        /**< its ARN ends with ":<created_ms / 1000>" */
    uint64_t stream_created_ms; /**< of the stream it belongs to */
} csi_kds_consumer;

/**
 * @brief Registers consumer `name` of `stream` (kds_consumers; deleted with the stream).
 * @return CS_OK; CS_E_NOTFOUND (stream); CS_E_EXISTS (the name is taken:
 *         ResourceInUseException); CS_E_LIMIT (CSI_KDS_MAX_CONSUMERS already); CS_E_INVAL
 *         (name not 1..128 of [a-zA-Z0-9_.-]); CS_E_IO
 */
cs_status csi_kds_meta_consumer_add(csi_kds_meta *m, const char *stream, const char *name,
                                    uint64_t now_ms, csi_kds_consumer *out);

/** @brief Reads a consumer. @return CS_OK; CS_E_NOTFOUND (stream or consumer); CS_E_IO */
cs_status csi_kds_meta_consumer_get(csi_kds_meta *m, const char *stream, const char *name,
                                    csi_kds_consumer *out);

/** @brief Deregisters a consumer. @return CS_OK; CS_E_NOTFOUND (stream or consumer); CS_E_IO */
cs_status csi_kds_meta_consumer_remove(csi_kds_meta *m, const char *stream, const char *name);

/**
 * @brief The consumers of `stream` by name after `after` (NULL: from the first), at most `max`.
 * @param[out] out   `max` slots
 * @param[out] more  whether more follow
 * @return CS_OK; CS_E_NOTFOUND (stream); CS_E_IO
 */
cs_status csi_kds_meta_consumers(csi_kds_meta *m, const char *stream, const char *after, size_t max,
                                 csi_kds_consumer *out, size_t *n, bool *more);

#ifdef __cplusplus
}
#endif

#endif /* CAMSTREAM_KDS_META_H */
