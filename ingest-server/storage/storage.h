/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file storage.h
 * @brief The ingest server's object store: whole objects under keys, written atomically, read
 * whole, by range or streamed, listed by prefix. Backends: `fs` (files under a data directory,
 * the embedded default) and `s3` (any S3-compatible store over libcurl with SigV4).
 *
 * Invariants (docs/internals/STORAGE.md): an object is visible whole or not at all; a put that
 * returned CS_OK is durable (fs: file fsynced, renamed, directory fsynced; s3: the store's 200);
 * a failed or aborted put leaves nothing visible; keys follow one grammar on every backend.
 *
 * Threads: every call blocks (disk or network I/O) and must be made from a worker thread, never
 * from the HTTP event loop. One cs_store may be used from many threads at once; a
 * cs_store_writer belongs to one thread at a time. cs_store_create() and cs_store_destroy() are
 * not concurrent with anything else on the same store.
 *
 * @code
 * cs_store_config cfg;
 * cs_store *st = NULL;
 * cs_store_config_init(&cfg);
 * cfg.kind = CS_STORE_FS;
 * cfg.fs_dir = "/var/lib/camstream/objects";
 * if (cs_store_create(&cfg, &st) == CS_OK) {
 *     cs_status s = cs_store_put(st, "streams/cam1/fragments/42.mkv", mkv, mkv_len);
 *     // s == CS_E_NOSPACE: disk full, nothing was stored
 *     cs_store_destroy(&st);
 * }
 * @endcode
 */
#ifndef CAMSTREAM_STORAGE_H
#define CAMSTREAM_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The longest key, in bytes (without the NUL). */
#define CS_STORE_KEY_MAX 512

typedef struct cs_store cs_store;
typedef struct cs_store_writer cs_store_writer;

/** Which backend. Values are explicit and only appended. */
typedef enum cs_store_kind {
    CS_STORE_FS = 0, /**< files under fs_dir */
    CS_STORE_S3 = 1, /**< an S3-compatible object store (path-style URLs) */
} cs_store_kind;

/** How to open a store; fill with cs_store_config_init(). Fields are only ever appended. */
typedef struct cs_store_config {
    cs_store_kind kind;
    const cs_allocator *allocator; /**< NULL = cs_allocator_default(); kept, must outlive */
    const cs_logger *logger;       /**< NULL = cs_logger_default(); kept, must outlive */
    /* fs */
    /** The directory the store owns (created if missing; its parent must exist; at most 499
     * bytes). Everything in it named `*.tmp.*` is removed at create. Copied. */
    const char *fs_dir;
    /* s3: strings are copied at create */
    const char *s3_endpoint;      /**< "http://127.0.0.1:7480" (scheme, host, port; no path) */
    const char *s3_bucket;        /**< the bucket; objects are `<endpoint>/<bucket>/<key>` */
    const char *s3_region;        /**< default "us-east-1" */
    const char *s3_access_key;    /**< required for s3 */
    const char *s3_secret_key;    /**< required for s3 */
    const char *s3_session_token; /**< NULL: none */
    bool s3_create_bucket;        /**< create the bucket at create time (default false) */
    uint32_t s3_timeout_ms;       /**< per request, default 30000 */
    size_t s3_max_streamed;       /**< bytes a streamed put may buffer; default 256 MiB */
    const cs_clock *clock;        /**< signing time; NULL = system */
} cs_store_config;

/** @brief Defaults: fs backend, default allocator and logger, region us-east-1, 30 s timeout. */
CS_API void cs_store_config_init(cs_store_config *cfg);

/**
 * @brief Opens a store. The fs backend creates fs_dir if missing and runs recovery: it removes
 * every temporary (`*.tmp.*`) a crash left behind, logs each at WARN, and counts them in
 * cs_store_stats.recovered_tmp. The s3 backend checks the bucket is reachable (creating it when
 * s3_create_bucket).
 * @param[out] out  the store on CS_OK, NULL otherwise
 * @return CS_OK, CS_E_INVAL (missing or bad config), CS_E_NOMEM, CS_E_IO (fs_dir unusable),
 *         CS_E_PERM, CS_E_NET (store unreachable), CS_E_AUTH (credentials refused)
 */
CS_API cs_status cs_store_create(const cs_store_config *cfg, cs_store **out);

/** @brief Closes a store, sets `*st` to NULL; accepts NULL. No writer may be open on it. */
CS_API void cs_store_destroy(cs_store **st);

/**
 * @brief Checks a key against the grammar every backend shares: 1..CS_STORE_KEY_MAX bytes of
 * `[A-Za-z0-9._-]` and '/'; not starting or ending with '/'; no empty segment; no segment
 * starting with '.' (so no `.` or `..`); no `.tmp.` anywhere (temporaries are named so).
 * @return CS_OK or CS_E_INVAL
 */
CS_API cs_status cs_store_key_check(const char *key);

/**
 * @brief Stores `len` bytes under `key`, replacing any object there, atomically and durably.
 * @param[in] data  read during the call only; may be NULL when len is 0
 * @return CS_OK, CS_E_INVAL (bad key or arguments), CS_E_NOSPACE (store full: nothing stored, any
 *         old object under key untouched), CS_E_EXISTS (fs: a prefix of key is an object, or key
 *         is a prefix of others), CS_E_IO, CS_E_NOMEM, CS_E_NET, CS_E_AUTH, CS_E_PERM
 */
CS_API cs_status cs_store_put(cs_store *st, const char *key, const void *data, size_t len);

/**
 * @brief Starts a streamed put: bytes are appended with cs_store_writer_write() and appear under
 * `key` only at cs_store_writer_commit(). Nothing is visible before, or after an abort or error.
 * @param[out] out  the writer on CS_OK
 * @return as cs_store_put()
 */
CS_API cs_status cs_store_writer_open(cs_store *st, const char *key, cs_store_writer **out);

/**
 * @brief Appends bytes. The first error is sticky: later writes and the commit return it.
 * @return CS_OK, CS_E_NOSPACE, CS_E_LIMIT (s3: more than s3_max_streamed), CS_E_IO, CS_E_NOMEM
 */
CS_API cs_status cs_store_writer_write(cs_store_writer *w, const void *data, size_t len);

/**
 * @brief Makes the object visible (durably) and frees the writer; `*w` becomes NULL whatever the
 * outcome. On failure nothing is visible.
 * @return CS_OK, the sticky error, or as cs_store_put()
 */
CS_API cs_status cs_store_writer_commit(cs_store_writer **w);

/** @brief Drops the writer and everything written; `*w` becomes NULL; accepts NULL. */
CS_API void cs_store_writer_abort(cs_store_writer **w);

/**
 * @brief Reads a whole object into `buf`.
 * @param[out] len  the bytes read; on CS_E_NOSPACE the object's size (so the caller can retry)
 * @return CS_OK, CS_E_NOTFOUND, CS_E_NOSPACE (the object is larger than cap), CS_E_INVAL,
 *         CS_E_IO, CS_E_NET, CS_E_AUTH
 */
CS_API cs_status cs_store_get(cs_store *st, const char *key, void *buf, size_t cap, size_t *len);

/**
 * @brief Reads up to `cap` bytes from `offset`; fewer when the object ends first.
 * @param[out] len  bytes read (0 when offset is the object's size)
 * @return CS_OK, CS_E_NOTFOUND, CS_E_RANGE (offset past the end), or as cs_store_get()
 */
CS_API cs_status cs_store_get_range(cs_store *st, const char *key, uint64_t offset, void *buf,
                                    size_t cap, size_t *len);

/**
 * @brief Receives the bytes of a streamed read, in order; `data` is valid during the call.
 * @return CS_OK to go on; any other status stops the read, which returns that status.
 */
typedef cs_status (*cs_store_read_fn)(void *ctx, const void *data, size_t len);

/**
 * @brief Streams `length` bytes from `offset` (UINT64_MAX: to the end) to `fn`.
 * @param[out] size  the object's whole size; may be NULL
 * @return CS_OK, CS_E_NOTFOUND, CS_E_RANGE, what `fn` returned, CS_E_IO, CS_E_NET
 */
CS_API cs_status cs_store_get_stream(cs_store *st, const char *key, uint64_t offset,
                                     uint64_t length, cs_store_read_fn fn, void *ctx,
                                     uint64_t *size);

/**
 * @brief The size of an object.
 * @param[out] size  may be NULL (an existence check)
 * @return CS_OK, CS_E_NOTFOUND, CS_E_INVAL, CS_E_IO, CS_E_NET, CS_E_AUTH
 */
CS_API cs_status cs_store_head(cs_store *st, const char *key, uint64_t *size);

/** @brief Removes an object. Idempotent: CS_OK also when there was none (as S3 does).
 * @return CS_OK, CS_E_INVAL, CS_E_IO, CS_E_NET, CS_E_AUTH */
CS_API cs_status cs_store_delete(cs_store *st, const char *key);

/** One object of a listing. */
typedef struct cs_store_entry {
    char key[CS_STORE_KEY_MAX + 1];
    uint64_t size;
} cs_store_entry;

/**
 * @brief Lists objects whose key starts with `prefix`, in ascending byte order of key, starting
 * after `start_after`. Page on by passing the last key returned as the next `start_after`.
 * @param[in]  prefix       "" or NULL for all; need not be a whole segment
 * @param[in]  start_after  NULL or "": from the first
 * @param[out] entries      `cap` entries (cap >= 1)
 * @param[out] count        entries filled
 * @param[out] more         true when keys after the last returned remain
 * @return CS_OK, CS_E_INVAL, CS_E_NOMEM, CS_E_IO, CS_E_NET, CS_E_AUTH, CS_E_MALFORMED (s3: a
 *         response that does not parse)
 */
CS_API cs_status cs_store_list(cs_store *st, const char *prefix, const char *start_after,
                               cs_store_entry *entries, size_t cap, size_t *count, bool *more);

/** What cs_store_stat() reports. Fields are only ever appended. */
typedef struct cs_store_stats {
    bool space_known;       /**< false for s3: free and total are then 0 */
    uint64_t free_bytes;    /**< available to the server's user */
    uint64_t total_bytes;   /**< the file system's size */
    uint64_t recovered_tmp; /**< fs: temporaries removed by recovery at create */
} cs_store_stats;

/**
 * @brief Health and space: fs stats the data directory's file system, s3 HEADs the bucket.
 * @return CS_OK (healthy), CS_E_IO, CS_E_NET, CS_E_AUTH
 */
CS_API cs_status cs_store_stat(cs_store *st, cs_store_stats *out);

/**
 * @brief Optional: makes ready, durably, what puts of keys under `prefix` will need, so that the
 * first put does not pay for it (fs: creates the directories, fsyncing each new one's parent;
 * s3: nothing). A later put works without it, and after a delete emptied the prefix.
 * @param prefix  a key prefix ending in '/' (a valid key once a name is appended)
 * @return CS_OK, CS_E_INVAL, CS_E_EXISTS (an object is in the way), CS_E_NOSPACE, CS_E_IO
 */
CS_API cs_status cs_store_prepare(cs_store *st, const char *prefix);

/** @brief The backend's name: "fs" or "s3". */
const char *cs_store_kind_str(cs_store_kind kind);

#ifdef __cplusplus
}
#endif

#endif /* CAMSTREAM_STORAGE_H */
