/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by the files of the auth module: an incremental SHA-256 and an allocation-free
 * HMAC-SHA256 over mbedTLS (2.28 `_ret` names or 3.x names), the byte emitter that lets one code
 * path hash a canonical request, write it to a buffer or only measure it, and the SigV4 steps both
 * the signer and the verifier run. */
#ifndef CS_AUTH_INT_H
#define CS_AUTH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/sha256.h>

#include "camstream/auth.h"

#define CSI_SHA256_BLOCK 64

/* Incremental SHA-256. Each call returns 0 or an mbedTLS error (only alternative, hardware
 * implementations fail). */
int csi_sha256_start(mbedtls_sha256_context *c);
int csi_sha256_update(mbedtls_sha256_context *c, const void *p, size_t n);
int csi_sha256_finish(mbedtls_sha256_context *c, uint8_t out[CS_SHA256_SIZE]);
/* One-shot SHA-256 with SHA-NI (sha256_x86.c); false: not on this CPU, use mbedTLS. */
bool csi_sha256_x86(const void *data, size_t len, uint8_t out[CS_SHA256_SIZE]);

/* HMAC-SHA256 without the heap (mbedtls_md_hmac allocates its context). The key is the
 * concatenation of two parts so "AWS4" + secret needs no copy. */
struct csi_hmac {
    mbedtls_sha256_context inner;
    uint8_t okey[CSI_SHA256_BLOCK]; /* key XOR opad */
    int err;                        /* sticky: first mbedTLS error */
};

void csi_hmac_start(struct csi_hmac *h, const void *k1, size_t n1, const void *k2, size_t n2);
void csi_hmac_update(struct csi_hmac *h, const void *p, size_t n);
/* Writes the MAC, wipes the state. Returns the first error of the whole HMAC (0 = ok). */
int csi_hmac_finish(struct csi_hmac *h, uint8_t out[CS_SHA256_SIZE]);

/* Wipes memory in a way the compiler does not remove. */
void csi_wipe(void *p, size_t n);

/* Where canonical bytes go: into a SHA-256 (sha != NULL), into dst (when it fits), and always
 * counted. Errors are sticky; the caller checks once at the end. */
struct csi_emit {
    mbedtls_sha256_context *sha;
    char *dst;
    size_t cap;
    size_t len;
    bool overflow; /* len wrapped: never in practice, checked anyway */
    int err;       /* first mbedTLS error */
};

void csi_emit_init(struct csi_emit *e, mbedtls_sha256_context *sha, char *dst, size_t cap);
void csi_emit(struct csi_emit *e, const void *p, size_t n);
void csi_emit_str(struct csi_emit *e, const char *s);
/* CS_OK, CS_E_NOSPACE (dst given and too small), CS_E_OVERFLOW, CS_E_INTERNAL. */
cs_status csi_emit_status(const struct csi_emit *e);

/* The canonical request of `req` for `signed_headers` with the resolved payload hash, emitted.
 * The host/:authority fallback applies when `fallback_authority` (the verifier) is set.
 * Returns CS_OK, CS_E_NOTFOUND (`*missing` = the signed name not in the request), CS_E_MALFORMED,
 * CS_E_LIMIT, CS_E_INVAL; emitter errors are left in `e`. */
cs_status csi_sigv4_canonical(struct csi_emit *e, const cs_sigv4_request *req,
                              const char *signed_headers, size_t signed_headers_len,
                              bool normalize_path, const char *payload_hash,
                              size_t payload_hash_len, bool fallback_authority,
                              const char **missing, size_t *missing_len);

/* kSigning for (secret, date, region, service), through the cache when one is given. */
cs_status csi_sigv4_signing_key(cs_sigv4_key_cache *cache, const char *secret, size_t secret_len,
                                const char *date8, const char *region, size_t region_len,
                                const char *service, size_t service_len,
                                uint8_t key[CS_SHA256_SIZE]);

/* HMAC(key, string to sign) for a canonical request hash (raw bytes). */
cs_status csi_sigv4_signature(const uint8_t key[CS_SHA256_SIZE], const char *amz_date,
                              const char *region, size_t region_len, const char *service,
                              size_t service_len, const uint8_t creq_hash[CS_SHA256_SIZE],
                              uint8_t out[CS_SHA256_SIZE]);

/* Case-insensitive (ASCII) equality of two byte strings. */
bool csi_ieq(const char *a, size_t an, const char *b, size_t bn);

#endif
