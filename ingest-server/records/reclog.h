/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file reclog.h
 * @brief The record log of one shard (issue 7, record streams): an append-only sequence of
 * records in segment files under one directory, each record addressed by its offset (0, 1, 2...
 * per shard, never reused), with group commit: an append returns only once its records are on
 * disk (fdatasync), and one fdatasync covers every append that was waiting for it. Readers see
 * only durable records. Private to the ingest server.
 *
 * On disk: `<dir>/<base offset, 20 digits>.seg`, records back to back, each a 32-byte header
 * (length, CRC-32C, offset, arrival ms, data length, key length) then the partition key and the
 * data. A segment is sealed (fdatasync'ed) when it reaches segment_bytes and a new one is created
 * (directory fsync'ed). Opening a log re-reads every segment, checks every record, truncates a
 * torn tail and rebuilds the sparse in-memory index (one entry per index_interval bytes).
 * Retention removes whole segments. docs/internals/RECORDS.md has the invariants.
 *
 * Threads: any number of appenders and readers at once; trim from any thread.
 *
 * @code
 * csi_reclog_config cfg;
 * csi_reclog *log;
 * csi_reclog_config_init(&cfg);
 * if (csi_reclog_open("/data/records/s1/shardId-000000000000", &cfg, &log) != CS_OK) { ... }
 * csi_reclog_record r = {.key = "user-7", .key_len = 6, .data = buf, .data_len = n};
 * uint64_t first;
 * if (csi_reclog_append(log, &r, 1, now_ms, &first) == CS_OK) { ... durable, offset first }
 * csi_reclog_read(log, first, 100, 1 << 20, on_record, ctx, &next);
 * csi_reclog_close(&log);
 * @endcode
 */
#ifndef CAMSTREAM_RECLOG_H
#define CAMSTREAM_RECLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Bytes of a record header on disk. */
#define CSI_RECLOG_HEADER 32u
/** Longest partition key (KDS: 256 characters). */
#define CSI_RECLOG_MAX_KEY 256u
/** Largest record data (KDS: 1 MiB; newer service 10 MiB). */
#define CSI_RECLOG_MAX_DATA (10u * 1024u * 1024u)

/** @brief Settings; fill with csi_reclog_config_init(). */
typedef struct csi_reclog_config {
    uint64_t segment_bytes;        /**< seal a segment past this size; default 64 MiB */
    uint32_t index_interval;       /**< sparse index: an entry per this many bytes; default 4096 */
    bool sync;                     /**< fdatasync before an append returns; default true */
    const cs_allocator *allocator; /**< NULL: default */
    const cs_logger *logger;       /**< NULL: default */
    /** Called after records became durable (visible), outside the log's lock, on the appending
     * thread that ran the sync: `end` is the offset after the last visible record. */
    void (*on_durable)(void *ctx, uint64_t end);
    void *ctx;
} csi_reclog_config;

/** @brief A record to append. */
typedef struct csi_reclog_record {
    const char *key; /**< partition key, 1..CSI_RECLOG_MAX_KEY bytes */
    size_t key_len;
    const uint8_t *data; /**< 0..CSI_RECLOG_MAX_DATA bytes */
    size_t data_len;
} csi_reclog_record;

/** @brief A record read back; pointers valid during the callback only. */
typedef struct csi_reclog_entry {
    uint64_t offset;
    uint64_t arrival_ms;
    const char *key;
    size_t key_len;
    const uint8_t *data;
    size_t data_len;
} csi_reclog_entry;

/** @brief Return false to stop reading (the entry is not consumed). */
typedef bool (*csi_reclog_read_fn)(void *ctx, const csi_reclog_entry *e);

typedef struct csi_reclog csi_reclog;

/** @brief What open found and did. */
typedef struct csi_reclog_recovery {
    uint32_t segments;        /**< segments kept */
    uint64_t records;         /**< records found */
    uint64_t truncated_bytes; /**< torn or corrupt bytes cut off */
    uint32_t removed_files;   /**< empty segments and temporary files removed */
} csi_reclog_recovery;

/** @brief Fills `cfg` with the defaults listed at each field. */
void csi_reclog_config_init(csi_reclog_config *cfg);

/**
 * @brief Opens (creating the directory if needed) and recovers the log in `dir`.
 * @param[out] rec  what recovery did (may be NULL)
 * @return CS_OK; CS_E_INVAL; CS_E_IO (the directory or a segment cannot be read or created);
 *         CS_E_NOMEM
 */
cs_status csi_reclog_open(const char *dir, const csi_reclog_config *cfg, csi_reclog **out,
                          csi_reclog_recovery *rec);

/** @brief Closes the log; sets `*l` to NULL; accepts NULL. No call may be running. */
void csi_reclog_close(csi_reclog **l);

/**
 * @brief Appends `n` records as one batch: they get consecutive offsets, and the call returns
 * once all of them are durable (or none of them will ever be read).
 * @param[in]  arrival_ms  their arrival time (kept non-decreasing: an earlier value is raised
 *                         to the last one)
 * @param[out] first       offset of the first record (may be NULL)
 * @return CS_OK; CS_E_INVAL (n 0, a key empty or too long, data too long); CS_E_NOSPACE (the
 *         disk is full: nothing appended); CS_E_IO (a write or sync failed: nothing appended,
 *         and the log refuses appends until reopened if it could not undo the write)
 */
cs_status csi_reclog_append(csi_reclog *l, const csi_reclog_record *recs, size_t n,
                            uint64_t arrival_ms, uint64_t *first);

/**
 * @brief The first half of csi_reclog_append(): writes the batch and returns at once. The records
 * are not readable, and not safe, until csi_reclog_sync() with `*end` returned (from any
 * thread). Lets one request write to several logs, then wait for all their syncs.
 * @param[out] end  offset after the batch: pass it to csi_reclog_sync()
 * @return as csi_reclog_append()
 */
cs_status csi_reclog_write(csi_reclog *l, const csi_reclog_record *recs, size_t n,
                           uint64_t arrival_ms, uint64_t *first, uint64_t *end);

/**
 * @brief Returns once every record below offset `end` is durable (group commit: the caller
 * either runs the fdatasync for everyone written so far or waits for the one running).
 * @return CS_OK; CS_E_IO (a sync failed: the log refuses writes until reopened)
 */
cs_status csi_reclog_sync(csi_reclog *l, uint64_t end);

/**
 * @brief Reads durable records from offset `from` (or the first kept one, if `from` was trimmed)
 * in order, calling `fn` for each, until `max_records`, about `max_bytes` of data (at least one
 * record is returned), the end of the durable records, or `fn` returns false.
 * @param[out] next  the offset to read from next time
 * @return CS_OK; CS_E_IO; CS_E_NOMEM
 */
cs_status csi_reclog_read(csi_reclog *l, uint64_t from, size_t max_records, size_t max_bytes,
                          csi_reclog_read_fn fn, void *ctx, uint64_t *next);

/** @brief Offsets: `first` kept (trim horizon), `end` after the last durable one (LATEST).
 * Equal when the log holds nothing. */
void csi_reclog_bounds(csi_reclog *l, uint64_t *first, uint64_t *end);

/** @brief The offset the next written record will get (written records included, durable or
 * not): where a shard closed now ends. */
uint64_t csi_reclog_written_end(csi_reclog *l);

/** @brief The first durable offset whose arrival time is >= ts_ms (`end` when none). */
cs_status csi_reclog_seek_time(csi_reclog *l, uint64_t ts_ms, uint64_t *offset);

/**
 * @brief Removes whole segments whose newest record arrived before `cutoff_ms` (the active
 * segment is sealed first when all of it is older). Readers in the middle of a removed segment
 * finish reading it.
 * @param[out] removed  records removed (may be NULL)
 */
cs_status csi_reclog_trim(csi_reclog *l, uint64_t cutoff_ms, uint64_t *removed);

/** @brief Closes the log and deletes its directory and segments. Sets `*l` to NULL. */
cs_status csi_reclog_destroy(csi_reclog **l);

#ifdef __cplusplus
}
#endif

#endif /* CAMSTREAM_RECLOG_H */
