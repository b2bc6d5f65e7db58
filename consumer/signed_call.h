/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the consumer SDK's two libcurl clients share (client.c: the KVS media reads, REST-JSON
 * with service `kinesisvideo`; records.c: the record streams, JSON 1.1 with X-Amz-Target and
 * service `kinesis`): the header list of a SigV4-signed JSON POST and the x-amzn-ErrorType of an
 * answer. Private to consumer/.
 */
#ifndef CS_CONSUMER_SIGNED_CALL_H
#define CS_CONSUMER_SIGNED_CALL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "camstream/auth.h"

/** Who signs a call. Strings borrowed for the call. */
struct csi_signer {
    bool sign;                 /**< false: the call goes unsigned (no credentials) */
    const char *region;        /**< "us-west-2" */
    const char *service;       /**< "kinesisvideo", "kinesis" */
    const char *access_key;    /**< used when `sign` */
    const char *secret_key;    /**< used when `sign` */
    const char *session_token; /**< "" or NULL: none */
    cs_sigv4_key_cache *cache; /**< the signing-key cache (may be NULL) */
};

/** A JSON POST to sign. Strings borrowed for the call. */
struct csi_signed_post {
    const char *url;          /**< absolute http(s) URL: its authority is the Host header */
    const char *path;         /**< the path signed; NULL: the URL's own */
    const char *content_type; /**< "application/json", "application/x-amz-json-1.1" */
    const char *target;       /**< X-Amz-Target; NULL: none */
    const char *body;         /**< NUL-terminated */
};

/**
 * Host (authority) and path of an absolute http(s) URL.
 * @param[out] path  the path in `url` ("" when it has none)
 * @return false: not such a URL, or its host does not fit `host_cap`
 */
bool csi_split_url(const char *url, char *host, size_t host_cap, const char **path);

/**
 * The header list of `p`: Host, Content-Type, X-Amz-Target (when set), an empty Expect (no
 * 100-continue round trip) and, when `k` signs, Authorization and X-Amz-Date (SigV4 over host,
 * content-type and x-amz-target) and X-Amz-Security-Token when there is a session token.
 * @param[out] out  on CS_OK the list (the caller frees it with curl_slist_free_all())
 * @return CS_OK; CS_E_INVAL (not an http(s) URL); the signer's error (cs_sigv4_sign());
 *         CS_E_NOMEM. On an error `err` says why.
 */
cs_status csi_signed_headers(const struct csi_signer *k, const struct csi_signed_post *p,
                             struct curl_slist **out, char *err, size_t err_cap);

/**
 * For a CURLOPT_HEADERFUNCTION: when the header line `line` (`len` bytes, not NUL-terminated) is
 * x-amzn-ErrorType (any case), copies its value into `out` (cut to `cap`), trimmed and without
 * the suffix from its first ':' ("Name:http://..." forms). Other lines leave `out` as it is.
 */
void csi_error_type_header(const char *line, size_t len, char *out, size_t cap);

#endif /* CS_CONSUMER_SIGNED_CALL_H */
