/* SPDX-License-Identifier: Apache-2.0 */
/* Per-shard throughput limits of record streams (kds_limits.h): token buckets holding one
 * second of a rate, counted in thousandths of a token so that a millisecond refills rate/1000
 * tokens exactly; and the text form of a setting. Invariants: docs/internals/RECORDS.md. */
#define _POSIX_C_SOURCE 200809L
#include "kds_limits.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool csi_kds_limits_on(const csi_kds_limit_conf *conf)
{
    return conf != NULL && (conf->records_per_s || conf->bytes_per_s || conf->gets_per_s);
}

/* Most a rate may be: its bucket (rate x 1000) stays far inside 64 bits. */
#define MAX_RATE (UINT64_C(1) << 40)

static cs_status number(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0, mul = 1;
    if (n > 0 && (s[n - 1] == 'k' || s[n - 1] == 'K')) {
        mul = 1024;
        n--;
    } else if (n > 0 && (s[n - 1] == 'm' || s[n - 1] == 'M')) {
        mul = 1024 * 1024;
        n--;
    }
    if (n == 0 || n > 13) {
        return CS_E_MALFORMED;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return CS_E_MALFORMED;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    v *= mul;
    if (v > MAX_RATE) {
        return CS_E_MALFORMED;
    }
    *out = v;
    return CS_OK;
}

cs_status csi_kds_limits_parse(const char *text, csi_kds_limit_conf *out)
{
    csi_kds_limit_conf c = {0, 0, 0};
    const char *p = text;
    if (out == NULL) {
        return CS_E_INVAL;
    }
    if (p == NULL || *p == '\0' || strcmp(p, "off") == 0) {
        *out = c;
        return CS_OK;
    }
    if (strcmp(p, "service") == 0) {
        c.records_per_s = CSI_KDS_SERVICE_RECORDS_PER_S;
        c.bytes_per_s = CSI_KDS_SERVICE_BYTES_PER_S;
        c.gets_per_s = CSI_KDS_SERVICE_GETS_PER_S;
        *out = c;
        return CS_OK;
    }
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t klen;
        uint64_t *field;
        if (eq == NULL) {
            return CS_E_MALFORMED;
        }
        klen = (size_t)(eq - p);
        if (klen == 7 && memcmp(p, "records", 7) == 0) {
            field = &c.records_per_s;
        } else if (klen == 5 && memcmp(p, "bytes", 5) == 0) {
            field = &c.bytes_per_s;
        } else if (klen == 10 && memcmp(p, "getrecords", 10) == 0) {
            field = &c.gets_per_s;
        } else {
            return CS_E_MALFORMED;
        }
        if (number(eq + 1, len - klen - 1, field) != CS_OK) {
            return CS_E_MALFORMED;
        }
        p += len;
        if (*p == ',') {
            p++;
            if (*p == '\0') {
                return CS_E_MALFORMED;
            }
        }
    }
    *out = c;
    return CS_OK;
}

void csi_kds_limits_format(const csi_kds_limit_conf *conf, char *out, size_t cap)
{
    if (out == NULL || cap == 0) {
        return;
    }
    if (!csi_kds_limits_on(conf)) {
        snprintf(out, cap, "off");
        return;
    }
    snprintf(out, cap, "records=%" PRIu64 ",bytes=%" PRIu64 ",getrecords=%" PRIu64,
             conf->records_per_s, conf->bytes_per_s, conf->gets_per_s);
}

/* Brings a bucket up to `now_ms`; a bucket holds at most one second of its rate. A clock that
 * went backwards refills nothing. */
static void refill(csi_kds_bucket *b, uint64_t rate, uint64_t now_ms)
{
    uint64_t cap = rate * 1000u;
    if (!b->started) {
        b->started = true;
        b->milli = cap;
        b->at_ms = now_ms;
        return;
    }
    if (now_ms > b->at_ms) {
        uint64_t el = now_ms - b->at_ms;
        if (el > 1000u) {
            el = 1000u; /* full after a second: no overflow for long pauses */
        }
        b->milli += rate * el;
        if (b->milli > cap) {
            b->milli = cap;
        }
        b->at_ms = now_ms;
    }
}

static bool has(csi_kds_bucket *b, uint64_t rate, uint64_t now_ms, uint64_t amount)
{
    if (rate == 0) {
        return true;
    }
    refill(b, rate, now_ms);
    /* A request larger than the whole bucket passes when the bucket is full (the service takes
     * a 1 MiB record at 1 MiB/s). */
    return amount * 1000u <= b->milli || (amount > rate && b->milli == rate * 1000u);
}

static void take(csi_kds_bucket *b, uint64_t rate, uint64_t amount)
{
    if (rate == 0) {
        return;
    }
    b->milli = amount * 1000u <= b->milli ? b->milli - amount * 1000u : 0;
}

bool csi_kds_limits_take_put(csi_kds_shard_buckets *b, const csi_kds_limit_conf *conf,
                             uint64_t now_ms, uint64_t bytes)
{
    if (b == NULL || !csi_kds_limits_on(conf)) {
        return true;
    }
    if (bytes > MAX_RATE) {
        bytes = MAX_RATE;
    }
    if (!has(&b->records, conf->records_per_s, now_ms, 1) ||
        !has(&b->bytes, conf->bytes_per_s, now_ms, bytes)) {
        return false;
    }
    take(&b->records, conf->records_per_s, 1);
    take(&b->bytes, conf->bytes_per_s, bytes);
    return true;
}

bool csi_kds_limits_take_get(csi_kds_shard_buckets *b, const csi_kds_limit_conf *conf,
                             uint64_t now_ms)
{
    if (b == NULL || conf == NULL || conf->gets_per_s == 0) {
        return true;
    }
    if (!has(&b->gets, conf->gets_per_s, now_ms, 1)) {
        return false;
    }
    take(&b->gets, conf->gets_per_s, 1);
    return true;
}

static uint64_t file_ns(void *ctx)
{
    const csi_kds_file_clock *fc = ctx;
    char buf[32];
    uint64_t ms = 0;
    size_t n;
    FILE *f = fopen(fc->path, "r");
    if (f == NULL) {
        return cs_clock_wall_ns(NULL);
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    {
        char *end = NULL;
        unsigned long long v = strtoull(buf, &end, 10);
        if (end == buf) {
            return cs_clock_wall_ns(NULL);
        }
        ms = (uint64_t)v;
    }
    return ms * 1000000u;
}

static void file_sleep(void *ctx, uint64_t ns)
{
    (void)ctx;
    cs_clock_sleep_ns(NULL, ns);
}

void csi_kds_file_clock_init(csi_kds_file_clock *fc, const char *path)
{
    memset(fc, 0, sizeof(*fc));
    snprintf(fc->path, sizeof(fc->path), "%s", path ? path : "");
    fc->clock.monotonic_ns = file_ns;
    fc->clock.wall_ns = file_ns;
    fc->clock.sleep_ns = file_sleep;
    fc->clock.ctx = fc;
}
