/* SPDX-License-Identifier: Apache-2.0 */
/* The object store conformance suite: the same cmocka tests run against every backend (put, get,
 * ranges, streamed reads, head, delete, list order and pagination, streamed put with commit and
 * abort, key validation), so fs and s3 stay interchangeable. */
#ifndef CS_STORAGE_CONFORMANCE_H
#define CS_STORAGE_CONFORMANCE_H

#include "storage.h"

/** Opens a fresh store of the backend under test (called once per test). */
typedef cs_status (*cs_store_factory)(void *ctx, cs_store **out);

/** Runs the suite as a cmocka group named `name`; returns the number of failed tests. */
int cs_store_conformance_run(const char *name, cs_store_factory make, void *ctx);

#endif
