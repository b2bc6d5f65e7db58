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

/* Machine-readable figures for scripts/bench-report. When the environment variable
 * CS_BENCH_RESULTS names a file, every figure is appended to it as one JSON line (the file is
 * opened, appended and closed per figure, so child processes and scripts may add theirs); when
 * it is unset, nothing is written. The human output of the benches stays as it is. */

enum cs_bench_verdict {
    CS_BENCH_EVAL = 0, /* PASS/MISS from `target` (or none without one) */
    CS_BENCH_PASS,     /* forced: the bench knows more than the comparison (e.g. nothing lost) */
    CS_BENCH_MISS,
};

struct cs_bench_figure {
    const char *bench;     /* "ingest_bench" */
    const char *id;        /* stable key, unique in a run: "ingest.ack_p99" */
    const char *label;     /* what it is, for people */
    double value;          /* the figure (the median when runs are given); NaN: not measured */
    const char *unit;      /* "ms", "MB/s", "%", "records/s", "B", ... */
    const double *runs;    /* the value of each run (min/max and spread come from them), or NULL */
    size_t n_runs;         /* entries of runs */
    const char *target;    /* "<= 50", ">= 70" (in `unit`), or NULL */
    const char *reference; /* a reference figure as text, or NULL */
    const char *baseline;  /* a baseline measured in the same run, as text, or NULL */
    const char *note;      /* anything else, or NULL */
    enum cs_bench_verdict verdict;
};

/** Appends `f` to $CS_BENCH_RESULTS (see above); runs need not be sorted. */
void cs_bench_figure(const struct cs_bench_figure *f);

/** Appends one raw JSON object (printf format, no newline) to $CS_BENCH_RESULTS. */
void cs_bench_record(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
