/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers for tests: an allocator that fails on the Nth call and counts what it hands out,
 * a per-test temporary directory, and whole-file loading. Include after cmocka's headers. */
#ifndef CS_TESTUTIL_H
#define CS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "camstream/platform.h"

/** An allocator over malloc that fails call number `fail_at` (1-based; 0 = never) and counts. */
typedef struct cs_test_allocator {
    cs_allocator a;    /**< pass &ta.a */
    size_t fail_at;    /**< which call fails */
    size_t calls;      /**< alloc calls so far */
    size_t live;       /**< blocks not yet freed */
    size_t bytes_live; /**< bytes not yet freed */
    size_t bytes_peak; /**< the most bytes live at once */
} cs_test_allocator;

void cs_test_allocator_init(cs_test_allocator *ta, size_t fail_at);

/** Makes a fresh empty directory for this test under CS_TEST_TMP (or /tmp) and returns its path
 * (static storage, valid until the next call). */
const char *cs_test_tmpdir(const char *name);

/** Reads a whole file into a malloc'ed buffer (NULL-terminated for convenience); NULL on error. */
uint8_t *cs_test_load(const char *path, size_t *len);

/** Path of a file under tests/data (static storage, valid until the next call). */
const char *cs_test_data(const char *rel);

/** Runs a shell command, returns its exit status (-1 if it did not run). */
int cs_test_sh(const char *fmt, ...) CS_PRINTF(1, 2);

#endif
