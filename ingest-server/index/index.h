/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file index.h
 * @brief The ingest server's metadata index: streams (name, ARN, version, retention, tags) and
 * fragments (number, timestamps, size, object key, checksum) in one SQLite database in WAL mode.
 * Private to the server (`ingest-server/`): api/ and media/ call it from worker threads, never
 * from the event loop, because every call may block on disk. Schema, durability and threading
 * are described in docs/internals/INDEX.md.
 *
 * Threads: a cs_index is shared by all threads. Each call borrows a connection from a small pool
 * (one connection is used by one thread at a time) and returns it before it returns; writers
 * take the database lock with BEGIN IMMEDIATE and wait up to busy_timeout_ms for each other.
 *
 * @code
 * cs_index_config cfg;
 * cs_index_config_init(&cfg);
 * cfg.path = "/var/lib/camstream/index.sqlite3";
 * cs_index *ix = NULL;
 * if (cs_index_open(&cfg, &ix) == CS_OK) {
 *     cs_index_stream st;
 *     cs_index_stream_init(&st);
 *     snprintf(st.name, sizeof(st.name), "cam1");
 *     cs_index_stream_create(ix, &st, NULL, 0); // fills st.arn, st.version, st.creation_ms
 *     cs_index_close(&ix);
 * }
 * @endcode
 */
#ifndef CS_INGEST_INDEX_H
#define CS_INGEST_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Sizes of the fixed string fields, NUL included (the KVS API's own maxima plus one). */
#define CS_INDEX_NAME_SIZE 257           /**< StreamName: 1..256 */
#define CS_INDEX_ARN_SIZE 1025           /**< StreamARN: 1..1024 */
#define CS_INDEX_DEVICE_SIZE 129         /**< DeviceName: 1..128 */
#define CS_INDEX_MEDIA_TYPE_SIZE 129     /**< MediaType: 1..128 */
#define CS_INDEX_KMS_SIZE 2049           /**< KmsKeyId: 1..2048 */
#define CS_INDEX_VERSION_SIZE 65         /**< Version: 1..64 */
#define CS_INDEX_TOKEN_SIZE 513          /**< NextToken: 0..512 */
#define CS_INDEX_TAG_KEY_SIZE 129        /**< tag key: 1..128 */
#define CS_INDEX_TAG_VALUE_SIZE 257      /**< tag value: 0..256 */
#define CS_INDEX_MAX_TAGS 50             /**< tags per stream */
#define CS_INDEX_FRAGMENT_NUMBER_SIZE 48 /**< 47 decimal digits */
#define CS_INDEX_OBJECT_KEY_SIZE 1025
#define CS_INDEX_CHECKSUM_SIZE 129
/** The longest retention the service accepts (10 years). */
#define CS_INDEX_MAX_RETENTION_HOURS 87600
/** The schema version this build writes (PRAGMA user_version). */
#define CS_INDEX_SCHEMA_VERSION 2

typedef struct cs_index cs_index;

/** Stream status, as the KVS API names them (cs_index_status_str()). Values only appended. */
typedef enum cs_index_status {
    CS_INDEX_CREATING = 0,
    CS_INDEX_ACTIVE = 1,
    CS_INDEX_UPDATING = 2,
    CS_INDEX_DELETING = 3,
} cs_index_status;

/** @brief "CREATING", "ACTIVE", "UPDATING", "DELETING". */
CS_API const char *cs_index_status_str(cs_index_status status);

/** @brief Settings; fill with cs_index_config_init(). Strings are copied by cs_index_open(). */
typedef struct cs_index_config {
    const char *path;         /**< database file (required); created when missing */
    bool durable;             /**< default true: synchronous=FULL, a commit survives power loss;
                                   false: synchronous=NORMAL (tests, benchmarks) */
    uint32_t busy_timeout_ms; /**< how long a writer waits for another; default 5000 */
    uint32_t max_idle_connections; /**< connections kept open between calls; default 8 */
    const char *region;            /**< for ARNs; default "us-west-2" */
    const char *account_id;        /**< for ARNs; default "123456789012" */
    const cs_clock *clock;         /**< creation times and server timestamps; NULL = system */
    const cs_logger *logger;       /**< NULL = cs_logger_default() */
} cs_index_config;

/** @brief Fills `cfg` with the defaults listed at each field. */
CS_API void cs_index_config_init(cs_index_config *cfg);

/**
 * @brief Opens (creating or migrating) the database at cfg->path.
 * @return CS_OK, CS_E_INVAL (no path), CS_E_IO (cannot open or write the file: its directory is
 *         missing or read-only), CS_E_UNSUPPORTED (the file has a newer schema than this build),
 *         CS_E_MALFORMED (not a database), CS_E_NOMEM
 */
CS_API cs_status cs_index_open(const cs_index_config *cfg, cs_index **out);

/** @brief Closes every pooled connection and frees the index; sets `*ix` to NULL; accepts NULL.
 * No call may be in progress on another thread. */
CS_API void cs_index_close(cs_index **ix);

/** @brief The schema version of the open database (PRAGMA user_version). */
CS_API cs_status cs_index_schema_version(cs_index *ix, int *out);

/* ---------------------------------------------------------------------------------------------- */
/* Streams                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

/** A stream's row. Caller-owned; strings are NUL-terminated ("" = absent). */
typedef struct cs_index_stream {
    char name[CS_INDEX_NAME_SIZE];
    char arn[CS_INDEX_ARN_SIZE];
    char device_name[CS_INDEX_DEVICE_SIZE];
    char media_type[CS_INDEX_MEDIA_TYPE_SIZE];
    char kms_key_id[CS_INDEX_KMS_SIZE];
    char version[CS_INDEX_VERSION_SIZE];
    uint32_t retention_hours;
    cs_index_status status;
    int64_t creation_ms; /**< server wall clock, ms since the epoch */
} cs_index_stream;

/** A tag. */
typedef struct cs_index_tag {
    char key[CS_INDEX_TAG_KEY_SIZE];
    char value[CS_INDEX_TAG_VALUE_SIZE];
} cs_index_tag;

/** @brief Zeroes a stream row. */
CS_API void cs_index_stream_init(cs_index_stream *st);

/**
 * @brief Creates a stream from st->name, device_name, media_type, kms_key_id, retention_hours
 * and `tags`, status ACTIVE; fills st->arn, st->version, st->creation_ms and st->status.
 * @return CS_OK, CS_E_EXISTS (a stream of that name exists), CS_E_LIMIT (more than
 *         CS_INDEX_MAX_TAGS tags), CS_E_INVAL, CS_E_IO
 */
CS_API cs_status cs_index_stream_create(cs_index *ix, cs_index_stream *st, const cs_index_tag *tags,
                                        size_t n_tags);

/**
 * @brief Finds a stream by name or by ARN (either may be NULL; when both are given they must
 * name the same stream).
 * @return CS_OK, CS_E_NOTFOUND, CS_E_INVAL (neither given, or they disagree), CS_E_IO
 */
CS_API cs_status cs_index_stream_get(cs_index *ix, const char *name, const char *arn,
                                     cs_index_stream *out);

/** @brief Called once per stream listed; a status other than CS_OK stops the listing and is
 * returned by the list call. `st` is valid during the call only. */
typedef cs_status (*cs_index_stream_fn)(void *ctx, const cs_index_stream *st);

/**
 * @brief Lists streams in name order.
 * @param[in]  prefix      only names beginning with it (BEGINS_WITH); NULL or "" = all
 * @param[in]  after       continue after this name (a previous call's next_name); NULL = start
 * @param[in]  max         1..10000 streams at most
 * @param[out] next_name   CS_INDEX_NAME_SIZE bytes: the last name listed when more streams
 *                         follow, "" otherwise; may be the same buffer as `after`
 * @return CS_OK, CS_E_INVAL, CS_E_IO, or what `fn` returned
 */
CS_API cs_status cs_index_stream_list(cs_index *ix, const char *prefix, const char *after,
                                      uint32_t max, cs_index_stream_fn fn, void *ctx,
                                      char *next_name);

/**
 * @brief Deletes a stream with its tags and fragment rows (not the fragment objects).
 * @param[in] current_version  NULL = any; else it must equal the stream's version
 * @return CS_OK, CS_E_NOTFOUND, CS_E_STATE (version mismatch), CS_E_INVAL, CS_E_IO
 */
CS_API cs_status cs_index_stream_delete(cs_index *ix, const char *name, const char *arn,
                                        const char *current_version);

/**
 * @brief Changes the retention by `delta_hours` (negative decreases) if the stream's version is
 * `current_version` (required); the version changes.
 * @return CS_OK, CS_E_NOTFOUND, CS_E_STATE (version mismatch), CS_E_RANGE (the result would be
 *         negative or above CS_INDEX_MAX_RETENTION_HOURS), CS_E_INVAL, CS_E_IO
 */
CS_API cs_status cs_index_stream_update_retention(cs_index *ix, const char *name, const char *arn,
                                                  const char *current_version, int64_t delta_hours);

/**
 * @brief Adds or replaces tags. @return CS_OK, CS_E_NOTFOUND, CS_E_LIMIT (the stream would have
 * more than CS_INDEX_MAX_TAGS; nothing changed), CS_E_INVAL, CS_E_IO
 */
CS_API cs_status cs_index_stream_tag(cs_index *ix, const char *name, const char *arn,
                                     const cs_index_tag *tags, size_t n_tags);

/** @brief Removes tags by key (missing keys are ignored). @return CS_OK, CS_E_NOTFOUND, CS_E_IO */
CS_API cs_status cs_index_stream_untag(cs_index *ix, const char *name, const char *arn,
                                       const char *const *keys, size_t n_keys);

/**
 * @brief The stream's tags in key order.
 * @param[out] tags  CS_INDEX_MAX_TAGS entries
 * @return CS_OK, CS_E_NOTFOUND, CS_E_IO
 */
CS_API cs_status cs_index_stream_tags(cs_index *ix, const char *name, const char *arn,
                                      cs_index_tag tags[CS_INDEX_MAX_TAGS], size_t *n_tags);

/* ---------------------------------------------------------------------------------------------- */
/* Fragments                                                                                      */
/* ---------------------------------------------------------------------------------------------- */

/** A fragment's row. */
typedef struct cs_index_fragment {
    char number[CS_INDEX_FRAGMENT_NUMBER_SIZE]; /**< 47 digits, increasing within a stream */
    int64_t producer_ms;
    int64_t server_ms;
    int64_t duration_ms;
    uint64_t size;
    char object_key[CS_INDEX_OBJECT_KEY_SIZE];
    char checksum[CS_INDEX_CHECKSUM_SIZE]; /**< opaque to the index (e.g. hex SHA-256) */
} cs_index_fragment;

/**
 * @brief Records a stored fragment, exactly once: if the stream already has a fragment with the
 * same producer_ms, size and checksum, nothing is inserted, `*existed` is set and `frag` is
 * filled from that row. Otherwise the fragment gets the number the caller reserved in
 * frag->number (the generator's 47-digit form) when that is above the stream's last number, else
 * a new one (see INDEX.md); server_ms is set from the clock when 0, and the row is committed
 * durably before the call returns.
 * @param[in,out] frag  producer_ms, duration_ms, size, object_key, checksum in; number: reserved
 *                      in ("" none), the stored one out; server_ms in (0: now) and out
 * @param[out] existed  may be NULL
 * @return CS_OK, CS_E_NOTFOUND (no such stream), CS_E_INVAL, CS_E_IO
 */
CS_API cs_status cs_index_fragment_insert(cs_index *ix, const char *stream_name,
                                          cs_index_fragment *frag, bool *existed);

/** @brief The verdict of cs_index_fragment_insert_async(): what cs_index_fragment_insert() would
 * have returned, and its `existed`. Runs on whichever thread leads the batch, no lock held; it may
 * block briefly (it delays the next batch) and must not call back into the group commit. */
typedef void (*cs_index_insert_cb)(void *arg, cs_status st, bool existed);

/**
 * @brief cs_index_fragment_insert() without waiting for the commit: the row joins the running
 * group commit's next batch and `cb` reports it once committed (durably) or failed, exactly once.
 * The calling thread only runs batches itself when none is running (then `cb` may run before this
 * returns), so a thread that must not wait for a commit's fsync can hand its row over.
 * `stream_name` and `frag` must stay valid until `cb` ran; `frag` is filled as by the insert.
 * @return CS_OK (cb will run), CS_E_INVAL or CS_E_NOMEM (cb will not run)
 */
CS_API cs_status cs_index_fragment_insert_async(cs_index *ix, const char *stream_name,
                                                cs_index_fragment *frag, cs_index_insert_cb cb,
                                                void *arg);

/** @brief The fragment of `stream_name` with this producer timestamp, size and checksum.
 * @return CS_OK, CS_E_NOTFOUND, CS_E_INVAL, CS_E_IO */
CS_API cs_status cs_index_fragment_find(cs_index *ix, const char *stream_name, int64_t producer_ms,
                                        uint64_t size, const char *checksum,
                                        cs_index_fragment *out);

/** @brief A fragment by number. @return CS_OK, CS_E_NOTFOUND, CS_E_INVAL, CS_E_IO */
CS_API cs_status cs_index_fragment_get(cs_index *ix, const char *stream_name, const char *number,
                                       cs_index_fragment *out);

/** @brief The stream's first (`last` false) or last fragment by number.
 * @return CS_OK, CS_E_NOTFOUND (no stream or no fragment), CS_E_INVAL, CS_E_IO */
CS_API cs_status cs_index_fragment_edge(cs_index *ix, const char *stream_name, bool last,
                                        cs_index_fragment *out);

/** Which timestamp a range selects on. */
typedef enum cs_index_time_kind {
    CS_INDEX_PRODUCER_TIME = 0,
    CS_INDEX_SERVER_TIME = 1,
} cs_index_time_kind;

/** @brief Called once per fragment listed; non-CS_OK stops the listing. */
typedef cs_status (*cs_index_fragment_fn)(void *ctx, const cs_index_fragment *frag);

/**
 * @brief Lists the fragments whose timestamp of `kind` is in [start_ms, end_ms], in fragment
 * number order, at most `max`, after fragment number `after` (NULL = from the start).
 * @param[out] next_after  CS_INDEX_FRAGMENT_NUMBER_SIZE bytes: the last number listed when more
 *                         follow, "" otherwise; may be the same buffer as `after`
 * @return CS_OK, CS_E_NOTFOUND (no such stream), CS_E_INVAL, CS_E_IO, or what `fn` returned
 */
CS_API cs_status cs_index_fragment_list(cs_index *ix, const char *stream_name,
                                        cs_index_time_kind kind, int64_t start_ms, int64_t end_ms,
                                        const char *after, uint32_t max, cs_index_fragment_fn fn,
                                        void *ctx, char *next_after);

/* ---------------------------------------------------------------------------------------------- */
/* Maintenance: startup recovery and retention (ingest-server/upkeep)                             */
/* ---------------------------------------------------------------------------------------------- */

/** @brief True when cs_index_open() created the database's schema (a new, empty index) rather
 * than opening an existing one. Recovery uses it to refuse to treat a store full of objects as
 * orphans of a lost index. */
CS_API bool cs_index_was_created(const cs_index *ix);

/** @brief Called once per fragment row by cs_index_fragment_scan(): the row's id (increasing),
 * its stream's name and ARN, and the row; valid during the call only. Non-CS_OK stops the scan. */
typedef cs_status (*cs_index_scan_fn)(void *ctx, int64_t row_id, const char *stream_name,
                                      const char *stream_arn, const cs_index_fragment *frag);

/**
 * @brief Lists the fragment rows of every stream in row id order (insertion order), at most
 * `max` after row id `after_row` (0 = from the start). Rows may be deleted between pages.
 * @param[out] next_row  the last row id listed when more rows follow, 0 otherwise
 * @return CS_OK, CS_E_INVAL, CS_E_IO, or what `fn` returned
 */
CS_API cs_status cs_index_fragment_scan(cs_index *ix, int64_t after_row, uint32_t max,
                                        cs_index_scan_fn fn, void *ctx, int64_t *next_row);

/** @brief Deletes one fragment row (durably, as every write).
 * @return CS_OK, CS_E_NOTFOUND (no such stream or fragment), CS_E_INVAL, CS_E_IO */
CS_API cs_status cs_index_fragment_delete(cs_index *ix, const char *stream_name,
                                          const char *number);

/** @brief Whether any fragment row refers to `object_key`.
 * @return CS_OK (with *used set), CS_E_INVAL, CS_E_IO */
CS_API cs_status cs_index_object_key_used(cs_index *ix, const char *object_key, bool *used);

/**
 * @brief Retention: deletes, in one durable transaction, up to `max` of the stream's oldest
 * fragment rows whose server_ms is below `cutoff_ms`, and returns them (so the caller can delete
 * their objects *after* the rows are gone: a row never points to a deleted object).
 * @param[out] out  `max` entries; filled with the deleted rows in number order
 * @param[out] n    rows deleted (0 when none is older than the cutoff)
 * @return CS_OK, CS_E_NOTFOUND (no such stream), CS_E_INVAL, CS_E_IO
 */
CS_API cs_status cs_index_fragment_expire(cs_index *ix, const char *stream_name, int64_t cutoff_ms,
                                          cs_index_fragment *out, size_t max, size_t *n);

#ifdef __cplusplus
}
#endif

#endif /* CS_INGEST_INDEX_H */
