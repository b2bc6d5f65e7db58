/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the benchmark programs: a monotonic clock in ns, the median of a set of runs,
 * and a count of heap allocations. The count comes from this library's own malloc, calloc and
 * realloc, which forward to libc's through dlsym(RTLD_NEXT) and count while counting is on; they
 * live in the same object file as the counter API and the library is an OBJECT library, so every
 * *_bench program gets them. Sanitizer builds bring their own malloc: nothing is counted there and
 * cs_bench_allocs_counted() says so. */
#ifndef CS_BENCHUTIL_H
#define CS_BENCHUTIL_H

#include <stdbool.h>
#include <stddef.h>

/** CLOCK_MONOTONIC in ns. */
double cs_bench_now_ns(void);

/** Sorts `v[0..n)` in place and returns its median (the upper one for even n); n must be > 0. */
double cs_bench_median(double *v, size_t n);

/** Starts (true) or stops (false) counting heap allocations made by this program. */
void cs_bench_count_allocs(bool on);

/** malloc/calloc/realloc calls made while counting was on, since the program started. */
size_t cs_bench_allocs(void);

/** false in sanitizer builds, where the sanitizer owns malloc and cs_bench_allocs() stays 0. */
bool cs_bench_allocs_counted(void);

#endif
