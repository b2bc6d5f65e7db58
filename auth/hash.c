/* SPDX-License-Identifier: Apache-2.0 */
/* Hashes over mbedTLS: one-shot SHA-256, HMAC-SHA256 and MD5 for users, the incremental SHA-256 and
 * heap-free HMAC the SigV4 code streams through, hex encoding, a timing-safe comparison and the
 * canonical-bytes emitter. Wraps the naming difference between mbedTLS 2.28 and 3.x. */
#include <string.h>

#include <mbedtls/md5.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

#include "auth_int.h"

#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#define SHA256_STARTS mbedtls_sha256_starts
#define SHA256_UPDATE mbedtls_sha256_update
#define SHA256_FINISH mbedtls_sha256_finish
#define MD5_ONESHOT mbedtls_md5
#else
#define SHA256_STARTS mbedtls_sha256_starts_ret
#define SHA256_UPDATE mbedtls_sha256_update_ret
#define SHA256_FINISH mbedtls_sha256_finish_ret
#define MD5_ONESHOT mbedtls_md5_ret
#endif

int csi_sha256_start(mbedtls_sha256_context *c)
{
    mbedtls_sha256_init(c);
    return SHA256_STARTS(c, 0);
}

int csi_sha256_update(mbedtls_sha256_context *c, const void *p, size_t n)
{
    if (n == 0) {
        return 0;
    }
    return SHA256_UPDATE(c, (const unsigned char *)p, n);
}

int csi_sha256_finish(mbedtls_sha256_context *c, uint8_t out[CS_SHA256_SIZE])
{
    int err = SHA256_FINISH(c, out);
    mbedtls_sha256_free(c);
    return err;
}

void csi_wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n-- > 0) {
        *v++ = 0;
    }
}

void csi_hmac_start(struct csi_hmac *h, const void *k1, size_t n1, const void *k2, size_t n2)
{
    uint8_t key[CSI_SHA256_BLOCK];
    uint8_t ikey[CSI_SHA256_BLOCK];

    memset(key, 0, sizeof(key));
    h->err = 0;
    if (n1 + n2 > CSI_SHA256_BLOCK || n1 + n2 < n1) {
        /* Keys longer than a block are replaced by their hash (RFC 2104). */
        mbedtls_sha256_context c;
        int err = csi_sha256_start(&c);
        err = err ? err : csi_sha256_update(&c, k1, n1);
        err = err ? err : csi_sha256_update(&c, k2, n2);
        if (err != 0) {
            mbedtls_sha256_free(&c);
            h->err = err;
        } else {
            h->err = csi_sha256_finish(&c, key);
        }
    } else {
        if (n1 > 0) {
            memcpy(key, k1, n1);
        }
        if (n2 > 0) {
            memcpy(key + n1, k2, n2);
        }
    }
    for (size_t i = 0; i < CSI_SHA256_BLOCK; i++) {
        ikey[i] = (uint8_t)(key[i] ^ 0x36);
        h->okey[i] = (uint8_t)(key[i] ^ 0x5c);
    }
    {
        int err = csi_sha256_start(&h->inner);
        err = err ? err : csi_sha256_update(&h->inner, ikey, sizeof(ikey));
        if (h->err == 0) {
            h->err = err;
        }
    }
    csi_wipe(key, sizeof(key));
    csi_wipe(ikey, sizeof(ikey));
}

void csi_hmac_update(struct csi_hmac *h, const void *p, size_t n)
{
    if (h->err == 0) {
        h->err = csi_sha256_update(&h->inner, p, n);
    }
}

int csi_hmac_finish(struct csi_hmac *h, uint8_t out[CS_SHA256_SIZE])
{
    uint8_t ihash[CS_SHA256_SIZE];
    mbedtls_sha256_context outer;
    int err = h->err;

    if (err == 0) {
        err = csi_sha256_finish(&h->inner, ihash);
    } else {
        mbedtls_sha256_free(&h->inner);
    }
    if (err == 0) {
        err = csi_sha256_start(&outer);
        err = err ? err : csi_sha256_update(&outer, h->okey, sizeof(h->okey));
        err = err ? err : csi_sha256_update(&outer, ihash, sizeof(ihash));
        if (err == 0) {
            err = csi_sha256_finish(&outer, out);
        } else {
            mbedtls_sha256_free(&outer);
        }
    }
    csi_wipe(ihash, sizeof(ihash));
    csi_wipe(h->okey, sizeof(h->okey));
    return err;
}

cs_status cs_sha256(const void *data, size_t len, uint8_t out[CS_SHA256_SIZE])
{
    mbedtls_sha256_context c;
    int err;

    if (out == NULL || (data == NULL && len > 0)) {
        return CS_E_INVAL;
    }
    if (csi_sha256_x86(data, len, out)) {
        return CS_OK; /* SHA-NI */
    }
    err = csi_sha256_start(&c);
    err = err ? err : csi_sha256_update(&c, data, len);
    if (err != 0) {
        mbedtls_sha256_free(&c);
        return CS_E_INTERNAL;
    }
    return csi_sha256_finish(&c, out) == 0 ? CS_OK : CS_E_INTERNAL;
}

cs_status cs_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                         uint8_t out[CS_SHA256_SIZE])
{
    struct csi_hmac h;

    if (out == NULL || (key == NULL && key_len > 0) || (data == NULL && len > 0)) {
        return CS_E_INVAL;
    }
    csi_hmac_start(&h, key, key_len, NULL, 0);
    csi_hmac_update(&h, data, len);
    return csi_hmac_finish(&h, out) == 0 ? CS_OK : CS_E_INTERNAL;
}

cs_status cs_md5(const void *data, size_t len, uint8_t out[CS_MD5_SIZE])
{
    static const unsigned char empty[1] = {0};

    if (out == NULL || (data == NULL && len > 0)) {
        return CS_E_INVAL;
    }
    return MD5_ONESHOT(data != NULL ? (const unsigned char *)data : empty, len, out) == 0
               ? CS_OK
               : CS_E_INTERNAL;
}

cs_status cs_hex_encode(const void *src, size_t len, char *dst, size_t cap, size_t *out_len)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *s = src;
    size_t need;

    if (src == NULL && len > 0) {
        return CS_E_INVAL;
    }
    if (len > (SIZE_MAX - 1) / 2) {
        return CS_E_OVERFLOW;
    }
    need = 2 * len;
    if (out_len != NULL) {
        *out_len = need;
    }
    if (dst == NULL) {
        return CS_OK;
    }
    if (cap < need + 1) {
        return CS_E_NOSPACE;
    }
    for (size_t i = 0; i < len; i++) {
        dst[2 * i] = digits[s[i] >> 4];
        dst[2 * i + 1] = digits[s[i] & 0x0f];
    }
    dst[need] = '\0';
    return CS_OK;
}

bool cs_timing_safe_equal(const void *a, const void *b, size_t len)
{
    const volatile uint8_t *x = a;
    const volatile uint8_t *y = b;
    uint8_t acc = 0;

    for (size_t i = 0; i < len; i++) {
        acc = (uint8_t)(acc | (x[i] ^ y[i]));
    }
    return acc == 0;
}

void csi_emit_init(struct csi_emit *e, mbedtls_sha256_context *sha, char *dst, size_t cap)
{
    e->sha = sha;
    e->dst = dst;
    e->cap = cap;
    e->len = 0;
    e->overflow = false;
    e->err = 0;
}

void csi_emit(struct csi_emit *e, const void *p, size_t n)
{
    if (n == 0) {
        return;
    }
    if (e->sha != NULL && e->err == 0) {
        e->err = csi_sha256_update(e->sha, p, n);
    }
    if (n > SIZE_MAX - e->len) {
        e->overflow = true;
        return;
    }
    if (e->dst != NULL && e->len + n <= e->cap) {
        memcpy(e->dst + e->len, p, n);
    }
    e->len += n;
}

void csi_emit_str(struct csi_emit *e, const char *s)
{
    csi_emit(e, s, strlen(s));
}

cs_status csi_emit_status(const struct csi_emit *e)
{
    if (e->err != 0) {
        return CS_E_INTERNAL;
    }
    if (e->overflow) {
        return CS_E_OVERFLOW;
    }
    if (e->dst != NULL && e->len > e->cap) {
        return CS_E_NOSPACE;
    }
    return CS_OK;
}

bool csi_ieq(const char *a, size_t an, const char *b, size_t bn)
{
    if (an != bn) {
        return false;
    }
    for (size_t i = 0; i < an; i++) {
        unsigned char x = (unsigned char)a[i];
        unsigned char y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z') {
            x = (unsigned char)(x + 32);
        }
        if (y >= 'A' && y <= 'Z') {
            y = (unsigned char)(y + 32);
        }
        if (x != y) {
            return false;
        }
    }
    return true;
}
