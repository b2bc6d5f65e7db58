/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file kds_limits.h
 * @brief Optional per-shard throughput limits of record streams (PROTOCOL.md §6), as the service
 * has them: records/s and bytes/s in (PutRecord(s)), GetRecords calls/s; a request over a limit
 * gets ProvisionedThroughputExceededException. Token buckets that hold one second of each rate,
 * refilled from the store's replaceable clock (milliseconds), so tests are deterministic. Also
 * the text form of a limit setting, used by the server flag `--kds-shard-limits` and the stream
 * tag `camstream:shard-limits` (docs/record-streams.md). Pure: no I/O, no allocation, no locks
 * (the store calls these under its lock). Private to the ingest server.
 */
#ifndef CAMSTREAM_KDS_LIMITS_H
#define CAMSTREAM_KDS_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The stream tag that sets a stream's limits (overrides the server's default). */
#define CSI_KDS_LIMITS_TAG "camstream:shard-limits"
/** The service's figures per shard. */
#define CSI_KDS_SERVICE_RECORDS_PER_S 1000u
#define CSI_KDS_SERVICE_BYTES_PER_S (1024u * 1024u)
#define CSI_KDS_SERVICE_GETS_PER_S 5u

/** @brief Per-shard limits; 0 in a field: that one is unlimited. All 0: limits off. */
typedef struct csi_kds_limit_conf {
    uint64_t records_per_s; /**< records put per second */
    uint64_t bytes_per_s;   /**< bytes put per second (data and partition key, as the service) */
    uint64_t gets_per_s;    /**< GetRecords calls per second */
} csi_kds_limit_conf;

/** @brief One token bucket; zero-initialised it is full at its first use. */
typedef struct csi_kds_bucket {
    uint64_t milli; /**< tokens x 1000 */
    uint64_t at_ms; /**< when `milli` was last brought up to date */
    bool started;
} csi_kds_bucket;

/** @brief The buckets of one shard. */
typedef struct csi_kds_shard_buckets {
    csi_kds_bucket records, bytes, gets;
} csi_kds_shard_buckets;

/**
 * @brief Parses a limit setting: "off" (or empty), "service" (1000 records/s, 1 MiB/s,
 * 5 GetRecords/s), or comma-separated `records=N`, `bytes=N` (N may end in k or m: KiB, MiB),
 * `getrecords=N`, each optional (a missing one is unlimited), e.g. "records=500,bytes=256k".
 * @return CS_OK; CS_E_MALFORMED (an unknown key, a bad number)
 */
cs_status csi_kds_limits_parse(const char *text, csi_kds_limit_conf *out);

/** @brief Writes the setting in the form csi_kds_limits_parse() reads ("off" when all 0). */
void csi_kds_limits_format(const csi_kds_limit_conf *conf, char *out, size_t cap);

/** @brief Whether any limit is set. */
bool csi_kds_limits_on(const csi_kds_limit_conf *conf);

/**
 * @brief Admits one put record of `bytes` bytes at `now_ms`: takes a token from the records
 * bucket and `bytes` from the bytes bucket when both have enough; else takes nothing.
 * @return true: admitted; false: over a limit (ProvisionedThroughputExceededException)
 */
bool csi_kds_limits_take_put(csi_kds_shard_buckets *b, const csi_kds_limit_conf *conf,
                             uint64_t now_ms, uint64_t bytes);

/** @brief Admits one GetRecords call at `now_ms`. @return as csi_kds_limits_take_put() */
bool csi_kds_limits_take_get(csi_kds_shard_buckets *b, const csi_kds_limit_conf *conf,
                             uint64_t now_ms);

/**
 * @brief A clock for tests of the whole server (the environment variable CS_KDS_CLOCK_FILE of
 * camstream-ingest): its wall and monotonic times are the integer number of milliseconds since
 * the epoch written in the file `path`, read at each use (so a test moves the record streams'
 * time: limits, iterator expiry, retention, by rewriting the file); the system clock when the
 * file cannot be read. Sleeps sleep for real.
 */
typedef struct csi_kds_file_clock {
    cs_clock clock; /**< pass `&fc.clock` */
    char path[4096];
} csi_kds_file_clock;

/** @brief Sets up a file clock reading `path`. */
void csi_kds_file_clock_init(csi_kds_file_clock *fc, const char *path);

#ifdef __cplusplus
}
#endif

#endif /* CAMSTREAM_KDS_LIMITS_H */
