/* SPDX-License-Identifier: Apache-2.0 */
/* The default allocator and the helpers that route every allocation through a cs_allocator. */
#include <stdlib.h>
#include <string.h>

#include "camstream/platform.h"

static void *malloc_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size);
}

static void malloc_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
}

static const cs_allocator default_allocator = {malloc_alloc, malloc_free, NULL};

const cs_allocator *cs_allocator_default(void)
{
    return &default_allocator;
}

void *cs_alloc(const cs_allocator *a, size_t size)
{
    if (size == 0) {
        return NULL;
    }
    if (a == NULL) {
        a = &default_allocator;
    }
    return a->alloc(a->ctx, size);
}

void *cs_calloc(const cs_allocator *a, size_t n, size_t size)
{
    size_t total;
    void *p;

    if (cs_mul_size(n, size, &total) != CS_OK) {
        return NULL;
    }
    p = cs_alloc(a, total);
    if (p != NULL) {
        memset(p, 0, total);
    }
    return p;
}

void cs_freep(const cs_allocator *a, void *p)
{
    void **pp = (void **)p;

    if (pp == NULL || *pp == NULL) {
        return;
    }
    if (a == NULL) {
        a = &default_allocator;
    }
    a->free(a->ctx, *pp);
    *pp = NULL;
}
