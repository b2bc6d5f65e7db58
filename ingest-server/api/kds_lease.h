/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file kds_lease.h
 * @brief Leases and checkpoints of record-stream consumers, kept by the server so that several
 * workers of one application share the shards of a stream (our equivalent of the KCL's lease
 * table): camstream's own operations on the KDS endpoint, `X-Amz-Target:
 * Camstream_20261206.<Op>` (AcquireLease, RenewLease, ReleaseLease, Checkpoint, ListLeases),
 * JSON 1.1 or CBOR, SigV4 service `kinesis`, errors as `{"__type","message"}`. One row per
 * (stream, application, shard) in the table kds_leases of the index database. The wire format is
 * in docs/record-streams.md. Private to the ingest server.
 *
 * Threads: any; calls block on disk: run them on the worker pool.
 */
#ifndef CAMSTREAM_KDS_LEASE_H
#define CAMSTREAM_KDS_LEASE_H

#include <jansson.h>
#include <stdbool.h>

#include "kds_store.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The X-Amz-Target prefix of these operations. */
#define CSI_KDS_LEASE_PREFIX "Camstream_20261206."

/** Lease durations a client may ask for (ms). */
#define CSI_KDS_LEASE_MIN_MS 100
#define CSI_KDS_LEASE_MAX_MS 3600000
/** The duration when the request names none. */
#define CSI_KDS_LEASE_DEFAULT_MS 10000

/** @brief Why an operation failed: the HTTP status and the service error. */
typedef struct csi_kds_lease_error {
    int status;
    const char *type;
    char message[512];
} csi_kds_lease_error;

/** @brief Whether `op` (without the prefix) is one of the lease operations. */
bool csi_kds_lease_is_op(const char *op);

/**
 * @brief Runs the lease operation `op` (without the prefix) on the stream `name`.
 * @return the response object (the caller owns it), or NULL with `err` filled.
 */
json_t *csi_kds_lease_run(csi_kds_store *store, const char *op, json_t *in, const char *name,
                          csi_kds_lease_error *err);

#ifdef __cplusplus
}
#endif

#endif /* CAMSTREAM_KDS_LEASE_H */
