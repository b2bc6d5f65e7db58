/* SPDX-License-Identifier: Apache-2.0 */
/* Test helpers: fault-injecting allocator, temporary directories, file loading. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "testutil.h"

/* Each block carries its size in a header so the counters stay exact. */
#define HDR 16

static void *ta_alloc(void *ctx, size_t size)
{
    cs_test_allocator *ta = ctx;
    uint8_t *p;

    ta->calls++;
    if (ta->fail_at != 0 && ta->calls == ta->fail_at) {
        return NULL;
    }
    p = malloc(size + HDR);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, &size, sizeof(size));
    ta->live++;
    ta->bytes_live += size;
    if (ta->bytes_live > ta->bytes_peak) {
        ta->bytes_peak = ta->bytes_live;
    }
    return p + HDR;
}

static void ta_free(void *ctx, void *ptr)
{
    cs_test_allocator *ta = ctx;
    uint8_t *p = (uint8_t *)ptr - HDR;
    size_t size;

    memcpy(&size, p, sizeof(size));
    ta->live--;
    ta->bytes_live -= size;
    free(p);
}

void cs_test_allocator_init(cs_test_allocator *ta, size_t fail_at)
{
    memset(ta, 0, sizeof(*ta));
    ta->a.alloc = ta_alloc;
    ta->a.free = ta_free;
    ta->a.ctx = ta;
    ta->fail_at = fail_at;
}

const char *cs_test_tmpdir(const char *name)
{
    static char path[1024];
    const char *base = getenv("CS_TEST_TMP");

    if (base == NULL || base[0] == '\0') {
        base = "/tmp/camstream-test";
    }
    snprintf(path, sizeof(path), "%s/%s.%d", base, name, (int)getpid());
    cs_test_sh("rm -rf '%s' && mkdir -p '%s'", path, path);
    return path;
}

uint8_t *cs_test_load(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;

    if (f == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    buf = malloc((size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf != NULL) {
        buf[n] = 0;
        *len = (size_t)n;
    }
    return buf;
}

const char *cs_test_data(const char *rel)
{
    static char path[1024];
    const char *base = getenv("CS_TEST_DATA");

    snprintf(path, sizeof(path), "%s/%s", base != NULL ? base : "tests/data", rel);
    return path;
}

int cs_test_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    rc = system(cmd);
    if (rc == -1 || !WIFEXITED(rc)) {
        return -1;
    }
    return WEXITSTATUS(rc);
}
