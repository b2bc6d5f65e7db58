/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The live hub (live.c), private to the api library: where PutMedia hands each fragment's bytes
 * as they arrive and GetMedia responses at the live edge take them, so a consumer gets a byte a
 * moment after the producer sent it, not after the fragment was stored and a poll found it.
 *
 * Per stream name the hub keeps the fragment-number generator (numbers are reserved when a
 * fragment begins, so BUFFERING acks and live consumers know them) and the fragments held in
 * memory: the one being received and the received ones not yet persisted. Everything runs on the
 * loop thread; persist jobs only read a fragment's bytes after csi_live_frag_end().
 * docs/internals/GETMEDIA.md ("The live edge") has the invariants.
 */
#ifndef CS_INGEST_LIVE_H
#define CS_INGEST_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "camstream/platform.h"
#include "index.h"

struct csi_live;
struct csi_live_frag;
struct csi_live_sub;

/** Why a subscriber left the live edge (its `detached` callback). */
enum csi_live_why {
    CSI_LIVE_SLOW = 1,    /* its output queue was too long at a fragment boundary: read the store */
    CSI_LIVE_RECHECK = 2, /* quiet for a while: re-read the index (deleted stream, idle, max) */
    CSI_LIVE_DRAIN = 3,   /* the server is shutting down: end the response */
    CSI_LIVE_TORN = 4,    /* the fragment it was in the middle of was abandoned: abort */
    CSI_LIVE_OVERFLOW = 5 /* its output queue passed the hard limit mid-fragment: abort */
};

/**
 * Called when the hub lets a subscriber go (never from inside csi_live_detach()). The
 * subscriber handle is already freed; `after` is the number of the last fragment it received
 * completely ("" none), where a read from the store continues.
 */
typedef void (*csi_live_detached_fn)(void *ctx, enum csi_live_why why, const char *after);

/** Bounds (bytes of queued output of one consumer). */
#define CSI_LIVE_SOFT_QUEUE (2u * 1024u * 1024u)
#define CSI_LIVE_HARD_QUEUE (64u * 1024u * 1024u)

cs_status csi_live_create(const cs_clock *clock, struct csi_live **out);
/** Frees the hub; every fragment and subscriber must be gone. Accepts NULL. */
void csi_live_destroy(struct csi_live **hub);

/* ---- Producer side (putmedia.c) ------------------------------------------------------------- */

/** Raises the stream's number generator to at least `last_number` (the index's last fragment
 * number; "" none). Called after each upload's stream lookup, before its first fragment. */
cs_status csi_live_seed(struct csi_live *hub, const char *stream, const char *last_number);

/**
 * Begins a fragment of `stream`: reserves its number (above every number reserved or seeded
 * before for the stream) and its server timestamp (the wall clock now, ms), and copies `prefix`
 * (stream header + the producer's Tags) as the start of its bytes. Forwards it to the waiting
 * subscribers, except to one that already got a fragment with a producer timestamp at or above
 * this one whole (a producer's re-send after a reconnect that this response already carries;
 * decided per subscriber, never per stream: see GETMEDIA.md "Re-sends, per response").
 * `size_hint`: the bytes the fragment will likely take (e.g. the upload's previous one; 0 none),
 * allocated at once so the buffer is not copied while it grows.
 */
cs_status csi_live_frag_begin(struct csi_live *hub, const char *stream, const uint8_t *prefix,
                              size_t prefix_len, int64_t producer_ms, size_t size_hint,
                              struct csi_live_frag **out);

/** Appends Cluster bytes and forwards them. CS_E_NOMEM when the buffer cannot grow. */
cs_status csi_live_frag_data(struct csi_live_frag *f, const uint8_t *data, size_t len);

/** The fragment is complete: its subscribers get the closing tags (MILLIS_BEHIND_NOW,
 * CONTINUATION_TOKEN). Its bytes no longer change. */
void csi_live_frag_end(struct csi_live_frag *f);

/** The fragment was refused or cut: subscribers in the middle of it are aborted; freed. */
void csi_live_frag_abort(struct csi_live_frag *f);

/** The persist job is over; `persisted_as`: the number the index stored it under (NULL: not
 * stored, or stored before under another number); freed. */
void csi_live_frag_done(struct csi_live_frag *f, const char *persisted_as);

const char *csi_live_frag_number(const struct csi_live_frag *f);
int64_t csi_live_frag_server_ms(const struct csi_live_frag *f);
/** The stored object: prefix + Cluster bytes. */
const uint8_t *csi_live_frag_bytes(const struct csi_live_frag *f, size_t *len);

/* ---- Consumer side (getmedia.c) ------------------------------------------------------------- */

/**
 * Attaches a GetMedia response at the live edge of `stream`, after fragment `after` ("" none).
 * @return CS_OK: attached; fragments above `after` still in memory were written to `s` (whole
 *         ones, then the one in progress so far) and the next arrive as they come;
 *         CS_AGAIN: a fragment above `after` was persisted and left memory since the caller
 *         read the index: read it again; CS_E_STATE: the hub is draining; CS_E_NOMEM.
 */
cs_status csi_live_attach(struct csi_live *hub, const char *stream, const char *after,
                          cs_http_stream *s, csi_live_detached_fn detached, void *ctx,
                          struct csi_live_sub **out);

/** The subscriber leaves with CSI_LIVE_RECHECK at its first fragment boundary at or after this
 * monotonic time (a GetMedia response's maximum duration). */
void csi_live_sub_set_deadline(struct csi_live_sub *sub, uint64_t deadline_ns);

/** true once csi_live_drain() was called. */
bool csi_live_draining(const struct csi_live *hub);

/** Detaches without a callback (the response closed). `*sub` becomes NULL; accepts NULL. */
void csi_live_detach(struct csi_live_sub **sub);

/** Housekeeping (about once a second): subscribers quiet for `recheck_ms` between fragments get
 * CSI_LIVE_RECHECK. */
void csi_live_tick(struct csi_live *hub, uint32_t recheck_ms);

/** Shutdown: every subscriber leaves with CSI_LIVE_DRAIN at its next fragment boundary (at once
 * when between fragments); later attaches fail with CS_E_STATE. */
void csi_live_drain(struct csi_live *hub);

/** Subscribers attached. */
size_t csi_live_subscribers(const struct csi_live *hub);

/** Writes the GetMedia tags that go before a fragment's Cluster (FRAGMENT_NUMBER,
 * SERVER_TIMESTAMP, PRODUCER_TIMESTAMP) or after it (MILLIS_BEHIND_NOW, CONTINUATION_TOKEN) into
 * `out` (NULL: measure). @return bytes */
size_t csi_live_tags_before(const char *number, int64_t server_ms, int64_t producer_ms,
                            uint8_t *out, size_t cap);
size_t csi_live_tags_after(const char *number, int64_t behind_ms, uint8_t *out, size_t cap);

#endif /* CS_INGEST_LIVE_H */
