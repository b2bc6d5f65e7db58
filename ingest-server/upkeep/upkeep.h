/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file upkeep.h
 * @brief Keeping the index and the object store consistent: startup recovery (run before the
 * server accepts connections) and the retention sweeper (a background thread). Private to the
 * server. Invariants and choices are in docs/internals/STORAGE.md ("Recovery and retention").
 *
 * The one rule both follow: **a row is deleted before its object**. A crash between the two
 * leaves an object without a row (an orphan, never served: reads go through the index), which
 * the next startup recovery removes; never a row pointing to a missing object.
 *
 * Threads: every call blocks on disk (index, store). cs_upkeep_recover() runs on the main thread
 * before the HTTP server starts; the sweeper runs on its own thread, never on the event loop.
 *
 * @code
 * cs_upkeep_config uc;
 * cs_upkeep_config_init(&uc);
 * uc.index = ix;
 * uc.store = store;
 * cs_recovery_report rep;
 * if (cs_upkeep_recover(&uc, &rep) == CS_OK) {
 *     cs_sweeper *sw = NULL;
 *     cs_sweeper_start(&uc, &sw); // every uc.interval_ms
 *     ...
 *     cs_sweeper_stop(&sw);
 * }
 * @endcode
 */
#ifndef CS_INGEST_UPKEEP_H
#define CS_INGEST_UPKEEP_H

#include <stdbool.h>
#include <stdint.h>

#include "camstream/platform.h"
#include "index.h"
#include "storage.h"

#ifdef __cplusplus
extern "C" {
#endif

/** How much startup recovery checks of each indexed fragment's object. */
typedef enum cs_recovery_check {
    /** Read the object's Cluster (its last `size` bytes) and compare its CRC-32C with the row's
     * checksum: catches any torn or damaged object; reads every stored byte once (default). */
    CS_RECOVERY_CHECKSUM = 0,
    /** Only that the object exists and is larger than the row's size (fast on large stores). */
    CS_RECOVERY_SIZE = 1,
} cs_recovery_check;

/** Settings shared by recovery and the sweeper; fill with cs_upkeep_config_init(). */
typedef struct cs_upkeep_config {
    cs_index *index;         /**< required */
    cs_store *store;         /**< required */
    cs_recovery_check check; /**< default CS_RECOVERY_CHECKSUM */
    uint64_t interval_ms;    /**< sweeper period; default 60000 */
    uint32_t batch;          /**< rows per index transaction; default 256 */
    const cs_clock *clock;   /**< retention cutoffs; NULL = system */
    const cs_logger *logger; /**< NULL = cs_logger_default() */
    /** Optional: more retention work the sweeper runs after each sweep (record streams). */
    void (*also)(void *ctx);
    void *also_ctx;
} cs_upkeep_config;

/** @brief Defaults as listed at each field. */
CS_API void cs_upkeep_config_init(cs_upkeep_config *cfg);

/**
 * @brief The key prefix of a stream's fragment objects, `streams/<fnv1a64(arn), 16 hex>/`
 * (the layout putmedia.c writes: PUTMEDIA.md "Stored object format").
 * @param[out] out  at least 26 bytes
 */
CS_API void cs_upkeep_stream_prefix(const char *stream_arn, char out[32]);

/** What recovery did. */
typedef struct cs_recovery_report {
    uint64_t tmp_removed;     /**< temporaries the fs store removed when it was opened */
    uint64_t rows_checked;    /**< fragment rows looked at */
    uint64_t rows_missing;    /**< rows removed: no object */
    uint64_t rows_torn;       /**< rows removed: object too small or checksum mismatch */
    uint64_t objects_checked; /**< fragment objects listed */
    uint64_t orphans_removed; /**< objects without a row, removed */
} cs_recovery_report;

/**
 * @brief Startup recovery. (1) Reports the temporaries the store removed at open. (2) Every
 * fragment row whose object is missing, smaller than the row's size, or (CS_RECOVERY_CHECKSUM)
 * whose Cluster does not match the row's CRC-32C is deleted, then its object. (3) Every object
 * under `streams/` without a row is deleted (never re-indexed: such an object was never acked
 * PERSISTED, or its row was removed on purpose; STORAGE.md says why). Logs the counts (INFO, WARN
 * when something was repaired). Must run before the server serves requests.
 * @return CS_OK; CS_E_STATE when the index was just created while the store holds fragment
 *         objects (a lost or misplaced index.sqlite3: nothing is deleted, the caller should
 *         refuse to start); CS_E_INVAL; or the first index/store error (CS_E_IO, CS_E_NET...)
 */
CS_API cs_status cs_upkeep_recover(const cs_upkeep_config *cfg, cs_recovery_report *out);

/** What one sweep did. */
typedef struct cs_sweep_report {
    uint64_t streams;            /**< streams looked at */
    uint64_t fragments_expired;  /**< rows (and objects) removed by retention */
    uint64_t objects_of_deleted; /**< objects of streams no longer in the index, removed */
    uint64_t errors;             /**< failed index or store calls (retried next sweep) */
} cs_sweep_report;

/**
 * @brief One sweep, on the calling thread: for each stream with retention_hours > 0, deletes
 * the rows with server_ms older than now - retention (in batches, each durable), then their
 * objects; then deletes every object under `streams/<h>/` when no stream in the index has the
 * prefix `h` (deleted streams). Errors are counted and logged, the sweep goes on.
 * @return CS_OK, CS_E_INVAL, or the error that stopped the stream listing
 */
CS_API cs_status cs_upkeep_sweep(const cs_upkeep_config *cfg, cs_sweep_report *out);

typedef struct cs_sweeper cs_sweeper;

/** @brief Starts a thread that runs cs_upkeep_sweep() every cfg->interval_ms (first run after one
 * interval). @return CS_OK, CS_E_INVAL, CS_E_NOMEM */
CS_API cs_status cs_sweeper_start(const cs_upkeep_config *cfg, cs_sweeper **out);

/** @brief Makes the sweeper run a sweep now (e.g. after deleteStream). Accepts NULL. */
CS_API void cs_sweeper_kick(cs_sweeper *sw);

/** @brief How many sweeps finished so far (tests). */
CS_API uint64_t cs_sweeper_runs(cs_sweeper *sw);

/** @brief Stops the thread (waits for a sweep in progress to end) and frees it; `*sw` = NULL;
 * accepts NULL. */
CS_API void cs_sweeper_stop(cs_sweeper **sw);

#ifdef __cplusplus
}
#endif

#endif /* CS_INGEST_UPKEEP_H */
