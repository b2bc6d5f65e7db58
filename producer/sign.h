/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file sign.h
 * @brief SigV4 signing of the producer's requests (private to the producer library), on top of
 * cs_sigv4_sign() (auth.h). It signs exactly what the transport will send: the caller's headers,
 * a Host header equal to the URL's authority (default port dropped, as curl and the AWS SDKs
 * send it), X-Amz-Date and, with a session token, X-Amz-Security-Token; all of these are signed,
 * and the extra ones come back in a fixed-size csi_signed_headers that the caller appends to its
 * own headers. The transport must not send another Host (curl takes the given one, and makes
 * HTTP/2's :authority from it). Invariants: docs/internals/PRODUCER.md, section "Transport,
 * credentials, signing".
 *
 * Nothing here allocates; about 7 KiB of stack (cs_sigv4_sign's tables). Any thread.
 */
#ifndef CAMSTREAM_PRODUCER_SIGN_H
#define CAMSTREAM_PRODUCER_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/auth.h"
#include "camstream/producer.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest Host value (a DNS name of 253 bytes, ':' and a port, or a bracketed IPv6 literal). */
#define CSI_SIGN_HOST_MAX 270
/** Longest Authorization value: the credential scope with a 128-byte key, a SignedHeaders list of
 * the request's headers, the signature. */
#define CSI_SIGN_AUTH_MAX 1024
/** Most request headers the caller may pass (besides the ones signing adds). */
#define CSI_SIGN_MAX_IN 24
/** Headers signing adds at most: Host, X-Amz-Date, X-Amz-Security-Token, Authorization. */
#define CSI_SIGN_MAX_OUT 4

/**
 * The headers to send besides the caller's own. `h[i].value` points into this struct (and name
 * to static strings), so it must stay where it is (and unchanged) for as long as the transport
 * borrows the request: until on_done, or until cancel returns.
 */
typedef struct csi_signed_headers {
    cs_transport_header h[CSI_SIGN_MAX_OUT];
    size_t count; /* in order: Host (unless the caller gave one), X-Amz-Date,
                     X-Amz-Security-Token (with a token), Authorization */
    char host[CSI_SIGN_HOST_MAX + 1];
    char amz_date[CS_SIGV4_AMZ_DATE_SIZE];
    char token[CS_CREDENTIALS_TOKEN_MAX + 1]; /* a copy: credentials may rotate mid-call */
    char authorization[CSI_SIGN_AUTH_MAX + 1];
} csi_signed_headers;

/**
 * @brief The Host value of an absolute http:// or https:// URL: its authority without any
 * userinfo, with the port dropped when it is the scheme's default (80, 443).
 * @param[out] host  `cap` bytes for the value and a NUL
 * @param[out] path  where the path starts in `url` ("" when the URL has none: it means "/"); may
 *                   be NULL
 * @return CS_OK; CS_E_INVAL (NULL arguments, not http(s)://, an empty host); CS_E_NOSPACE (cap)
 */
cs_status csi_sign_url_host(const char *url, char *host, size_t cap, const char **path);

/**
 * @brief Signs a request for `service` in `region` at wall-clock time `wall_ns`.
 *
 * Signed: every header of `in` (in order), Host (from the URL, unless `in` has one: then that one
 * is signed and none is added), X-Amz-Date, X-Amz-Security-Token (when cr->session_token is not
 * ""). `in` must not hold Authorization, X-Amz-Date or X-Amz-Security-Token. The canonical URI
 * and query come from the URL. The payload hash is the SHA-256 of body[0..body_len), or, with
 * `streaming`, that of the empty string, as KVS producers sign PutMedia (whose body is still to
 * come); no x-amz-content-sha256 header is added.
 *
 * @param[in]  cr   the credentials; NULL: anonymous: out gets only the Host header (so a signed
 *                  and an unsigned request go out with the same headers)
 * @param[out] out  overwritten; append out->h[0..out->count) to `in` when sending
 * @return CS_OK; CS_E_INVAL (NULL arguments, a URL that is not http(s)://, empty keys, more
 *         than CSI_SIGN_MAX_IN headers, a header of `in` that signing supplies);
 *         CS_E_NOSPACE (host or Authorization longer than the CSI_SIGN_* limits);
 *         CS_E_LIMIT, CS_E_RANGE, CS_E_INTERNAL (from cs_sigv4_sign)
 */
cs_status csi_sign_request(const cs_credentials *cr, const char *region, const char *service,
                           const char *method, const char *url, const cs_transport_header *in,
                           size_t n_in, const uint8_t *body, size_t body_len, bool streaming,
                           uint64_t wall_ns, csi_signed_headers *out);

#ifdef __cplusplus
}
#endif

#endif /* CAMSTREAM_PRODUCER_SIGN_H */
