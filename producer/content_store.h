/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file content_store.h
 * @brief The producer's content store (private to the producer library): one block, allocated
 * once at create time, holding the MKV bytes of a stream as a ring, plus a small fixed index of
 * fragment boundaries. The frame path writes each frame once, straight into ring space
 * (reserve/commit); the uploader reads contiguous spans (peek/skip) and moves a "sent" tail; the
 * server's PERSISTED acks move the "persisted" tail by whole fragments. Nothing here allocates
 * after csi_cstore_create(). Invariants and the reasons behind them: docs/internals/PRODUCER.md,
 * section "Content store".
 *
 * Thread safety: every function takes the store's own mutex, so one writer thread (the
 * application's, under the stream lock) and one reader thread (the I/O thread) may call in
 * concurrently. Callbacks run with that mutex held and must not call back into the store.
 * Only one reservation and one peeked span exist at a time.
 */
#ifndef CAMSTREAM_PRODUCER_CONTENT_STORE_H
#define CAMSTREAM_PRODUCER_CONTENT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Index sizing: one entry per this many bytes of capacity (an average fragment of >= 4 KiB). */
#define CSI_CSTORE_BYTES_PER_INDEX_ENTRY 4096u
/** Fewest and most index entries. */
#define CSI_CSTORE_MIN_INDEX_ENTRIES 8u
#define CSI_CSTORE_MAX_INDEX_ENTRIES 65536u
/** Smallest capacity accepted. */
#define CSI_CSTORE_MIN_CAPACITY 4096u
/** Most pressure thresholds. */
#define CSI_CSTORE_MAX_THRESHOLDS 4u

/** What reserve does when the store is full. */
typedef enum csi_cstore_policy {
    /** Give up the bytes already handed to the reader (their fragments stay indexed until
     * acked; csi_cstore_rewind() drops and reports the ones it cannot send again), then drop the
     * oldest whole fragments, reporting each. */
    CSI_CSTORE_DROP_OLDEST = 0,
    /** Block up to wait_timeout_ns for acks to free space; then CS_E_TIMEOUT. */
    CSI_CSTORE_WAIT = 1,
} csi_cstore_policy;

/** commit() flags. */
#define CSI_CSTORE_FRAGMENT_START 0x1u /**< the committed bytes start a fragment (a Cluster) */
#define CSI_CSTORE_SESSION_START 0x2u  /**< ...and begin with a stream header (a Segment) */

/** Why data was dropped. */
typedef enum csi_cstore_drop_reason {
    CSI_CSTORE_DROP_EVICTED = 1,   /**< a whole stored fragment evicted to make room */
    CSI_CSTORE_DROP_TOO_LARGE = 2, /**< one frame larger than the whole store, never stored */
} csi_cstore_drop_reason;

/** A drop report. */
typedef struct csi_cstore_drop {
    csi_cstore_drop_reason reason;
    uint64_t first_ts_ns; /**< the fragment's key timestamp (its first commit), or the frame's */
    uint64_t last_ts_ns;  /**< the largest timestamp committed into it */
    size_t bytes;         /**< bytes dropped */
    uint32_t frames;      /**< commits dropped */
    bool was_sent;        /**< some of its bytes had been handed to the uploader */
} csi_cstore_drop;

typedef void (*csi_cstore_drop_fn)(void *ctx, const csi_cstore_drop *drop);

/**
 * @brief Fill crossed a threshold: upwards (`rising`, fill >= threshold_pct) or back down
 * (fill < threshold_pct - hysteresis_pct).
 */
typedef void (*csi_cstore_pressure_fn)(void *ctx, unsigned threshold_pct, bool rising,
                                       size_t bytes_used, size_t capacity);

/** @brief Settings; fill with csi_cstore_config_init(). Fields are only appended. */
typedef struct csi_cstore_config {
    size_t capacity;               /**< ring bytes (>= CSI_CSTORE_MIN_CAPACITY); default 4 MiB */
    const cs_allocator *allocator; /**< NULL: cs_allocator_default() */
    csi_cstore_policy policy;      /**< default DROP_OLDEST */
    uint64_t wait_timeout_ns;      /**< WAIT: longest block in reserve; default 1 s */
    unsigned thresholds_pct[CSI_CSTORE_MAX_THRESHOLDS]; /**< ascending; default 50, 75, 90 */
    size_t threshold_count;                             /**< default 3 */
    unsigned hysteresis_pct; /**< default 5 (points below a threshold to report it cleared) */
    csi_cstore_drop_fn on_drop;
    csi_cstore_pressure_fn on_pressure;
    void *cb_ctx;
} csi_cstore_config;

/** @brief A span handed to the reader. */
typedef struct csi_cstore_span {
    const uint8_t *data; /**< valid until the next skip/rewind by the reader */
    size_t len;          /**< 0: nothing unsent */
    /** Bytes were evicted under the reader in the middle of what it was sending (or a stream
     * header it had not sent yet): the upload is no longer a valid MKV stream. The caller ends
     * the connection and calls csi_cstore_rewind(). */
    bool discontinuity;
} csi_cstore_span;

/** @brief Counters and gauges. */
typedef struct csi_cstore_metrics {
    size_t capacity;
    size_t bytes_used;   /**< stored bytes (kept fragments, wrap padding included) */
    size_t bytes_unsent; /**< committed bytes not yet skipped by the reader */
    unsigned fill_pct;
    uint64_t oldest_ts_ns; /**< first timestamp of the oldest kept fragment (0 if empty) */
    uint64_t newest_ts_ns; /**< largest committed timestamp kept (0 if empty) */
    size_t fragments_stored;
    uint64_t fragments_sent;      /**< fragments whose last byte was skipped (counter) */
    uint64_t fragments_persisted; /**< counter */
    uint64_t fragments_dropped;   /**< counter */
    uint64_t frames_dropped;      /**< counter (evicted commits + too-large frames) */
    uint64_t bytes_dropped;       /**< counter */
    size_t index_entries;         /**< fixed at create */
    size_t footprint_bytes;       /**< the one allocation */
} csi_cstore_metrics;

typedef struct csi_cstore csi_cstore;

/** @brief Fills `cfg` with the defaults listed at each field. */
void csi_cstore_config_init(csi_cstore_config *cfg);

/**
 * @brief Bytes of the one allocation for a capacity, and the index entries it holds.
 * @return CS_OK, CS_E_INVAL (capacity below the minimum), CS_E_OVERFLOW
 */
cs_status csi_cstore_footprint(size_t capacity, size_t *bytes, size_t *index_entries);

/**
 * @brief Creates a store: one allocation through cfg->allocator.
 * @return CS_OK, CS_E_INVAL (NULL arguments, capacity too small, thresholds not ascending or
 *         above 100, too many thresholds), CS_E_NOMEM, CS_E_OVERFLOW
 */
cs_status csi_cstore_create(const csi_cstore_config *cfg, csi_cstore **out);

/** @brief Frees the store and sets `*s` to NULL; accepts NULL. Nobody may be blocked in it. */
void csi_cstore_destroy(csi_cstore **s);

/**
 * @brief Reserves `len` contiguous bytes for the writer. The region is owned by the writer until
 * csi_cstore_commit(); the reader never sees it before. Makes room by policy. The frame's flags
 * and timestamp are given here, not at commit, because making room depends on them: a frame
 * that starts a fragment may evict the fragment being written; one that continues it may not.
 * @param[in]  flags   CSI_CSTORE_FRAGMENT_START (and CSI_CSTORE_SESSION_START), or 0 for a frame
 *                     that continues the current fragment
 * @param[in]  ts_ns   at a fragment start: the fragment's key (the cluster timecode in ns, which
 *                     PERSISTED acks name); otherwise the frame's timestamp. Also the timestamp
 *                     of a drop report if the frame cannot be stored.
 * @param[out] region  the bytes
 * @return CS_OK; CS_E_INVAL (len 0 or NULL region); CS_E_STATE (a reservation is open, or a
 *         fragment must start here: the one being written was evicted or persisted, and flags
 *         do not start one); CS_E_NOSPACE (len > capacity: reported as DROP_TOO_LARGE; or, for
 *         a continuing frame, making room would evict the fragment being written: it is evicted
 *         and reported, and the next frame must start a fragment); CS_E_TIMEOUT (WAIT: no room
 *         within wait_timeout_ns; DROP_OLDEST: the reader held the only reclaimable span that
 *         long)
 */
cs_status csi_cstore_reserve(csi_cstore *s, size_t len, unsigned flags, uint64_t ts_ns,
                             uint8_t **region);

/**
 * @brief Publishes the first `len` bytes of the reservation (0 = abandon it).
 * @return CS_OK; CS_E_STATE (no reservation; or the fragment this frame continued was persisted
 *         meanwhile: the bytes are discarded and the next frame must start a fragment);
 *         CS_E_INVAL (len above the reservation)
 */
cs_status csi_cstore_commit(csi_cstore *s, size_t len);

/** @brief The next unsent contiguous bytes (possibly fewer than all unsent; peek again after
 * skip). Pins them until the next skip/rewind: eviction never reuses pinned bytes. */
cs_status csi_cstore_peek(csi_cstore *s, csi_cstore_span *span);

/** @brief Marks `n` bytes of the last peeked span sent and unpins it.
 * @return CS_OK, CS_E_INVAL (n above the peeked length) */
cs_status csi_cstore_skip(csi_cstore *s, size_t n);

/**
 * @brief The server persisted the fragment keyed `ts_ns` and all before it: frees every fully
 * sent fragment whose key is <= ts_ns, oldest first, stopping at the first that is not. The
 * high-water mark is kept, so fragments acked before they were (re)sent are freed once sent.
 * Freeing the fragment still being written (the server ended it, e.g. at end of stream) makes
 * the next commit start a fragment (else CS_E_STATE).
 * @param[out] freed  fragments freed now (may be NULL)
 */
cs_status csi_cstore_ack_persisted(csi_cstore *s, uint64_t ts_ns, size_t *freed);

/**
 * @brief For a new connection: drops (and reports, was_sent) every fragment some of whose bytes
 * were given up to make room, then moves "sent" back to the oldest kept (unpersisted) fragment,
 * a fragment boundary, and clears the discontinuity.
 * @param[out] needs_header  true when the bytes there do not begin with a stream header, so the
 *                           caller sends cs_mkv_fragmenter_header() first (may be NULL)
 */
cs_status csi_cstore_rewind(csi_cstore *s, bool *needs_header);

/** @brief A snapshot of the metrics. */
void csi_cstore_get_metrics(csi_cstore *s, csi_cstore_metrics *m);

#ifdef __cplusplus
}
#endif

#endif /* CAMSTREAM_PRODUCER_CONTENT_STORE_H */
