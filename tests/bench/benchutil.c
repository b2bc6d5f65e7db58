/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the benchmark programs (see benchutil.h): the clock, the median, and the
 * counting malloc family. The wrappers and the counter API stay in this one file so that whatever
 * links the counter also gets the wrappers; tests/bench/CMakeLists.txt builds it as an OBJECT
 * library, so the object is linked into every bench even if it calls none of these. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchutil.h"

static size_t g_allocs; /* heap allocations while counting */
static size_t g_counting;

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NO_MALLOC_COUNT 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define NO_MALLOC_COUNT 1
#endif

#ifndef NO_MALLOC_COUNT
/* Counting wrappers: the program's own malloc family, forwarding to libc's. */
void *malloc(size_t n)
{
    static void *(*real)(size_t);
    if (real == NULL) {
        real = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    }
    g_allocs += g_counting;
    return real(n);
}

void *calloc(size_t n, size_t m)
{
    static void *(*real)(size_t, size_t);
    if (real == NULL) {
        /* dlsym may itself call calloc: serve that one call from a static block */
        static unsigned char early[256];
        static int busy;
        if (busy) {
            return early;
        }
        busy = 1;
        real = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
        busy = 0;
    }
    g_allocs += g_counting;
    return real(n, m);
}

void *realloc(void *p, size_t n)
{
    static void *(*real)(void *, size_t);
    if (real == NULL) {
        real = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    }
    g_allocs += g_counting;
    return real(p, n);
}
#endif /* NO_MALLOC_COUNT: sanitizer builds own malloc; nothing is counted there */

double cs_bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double cs_bench_median(double *v, size_t n)
{
    qsort(v, n, sizeof(v[0]), cmp_double);
    return v[n / 2];
}

void cs_bench_count_allocs(bool on)
{
    g_counting = on ? 1 : 0;
}

size_t cs_bench_allocs(void)
{
    return g_allocs;
}

bool cs_bench_allocs_counted(void)
{
#ifdef NO_MALLOC_COUNT
    return false;
#else
    return true;
#endif
}

/* ---- machine-readable figures ($CS_BENCH_RESULTS) ---- */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            fprintf(f, "\\%c", c);
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
        } else {
            fputc(c, f);
        }
    }
    fputc('"', f);
}

static void json_num(FILE *f, double v)
{
    if (isnan(v) || isinf(v)) {
        fputs("null", f);
    } else {
        fprintf(f, "%.9g", v);
    }
}

static void json_opt(FILE *f, const char *key, const char *v)
{
    if (v != NULL) {
        fprintf(f, ",\"%s\":", key);
        json_str(f, v);
    }
}

void cs_bench_figure(const struct cs_bench_figure *fig)
{
    const char *path = getenv("CS_BENCH_RESULTS");
    FILE *f;
    if (path == NULL || *path == '\0' || (f = fopen(path, "a")) == NULL) {
        return;
    }
    fputs("{\"kind\":\"figure\"", f);
    json_opt(f, "bench", fig->bench ? fig->bench : "?");
    json_opt(f, "id", fig->id ? fig->id : "?");
    json_opt(f, "label", fig->label ? fig->label : fig->id);
    fputs(",\"value\":", f);
    json_num(f, fig->value);
    json_opt(f, "unit", fig->unit ? fig->unit : "");
    if (fig->runs != NULL && fig->n_runs > 0) {
        fputs(",\"runs\":[", f);
        for (size_t i = 0; i < fig->n_runs; i++) {
            if (i > 0) {
                fputc(',', f);
            }
            json_num(f, fig->runs[i]);
        }
        fputc(']', f);
    }
    json_opt(f, "target", fig->target);
    json_opt(f, "reference", fig->reference);
    json_opt(f, "baseline", fig->baseline);
    json_opt(f, "note", fig->note);
    if (fig->verdict != CS_BENCH_EVAL) {
        json_opt(f, "verdict", fig->verdict == CS_BENCH_PASS ? "PASS" : "MISS");
    }
    fputs("}\n", f);
    fclose(f);
}

void cs_bench_record(const char *fmt, ...)
{
    const char *path = getenv("CS_BENCH_RESULTS");
    FILE *f;
    va_list ap;
    if (path == NULL || *path == '\0' || (f = fopen(path, "a")) == NULL) {
        return;
    }
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}
