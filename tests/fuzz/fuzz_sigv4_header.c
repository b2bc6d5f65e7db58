/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for SigV4 on the server side: the Authorization header parser on the whole
 * input, then the verifier on a request built from it. Input layout, by lines: 1 the Authorization
 * value, 2 the query, 3 the path, the rest the body. Every part is copied to a heap block of its
 * exact size so AddressSanitizer sees any read past it. The clock, host, X-Amz-Date and the key
 * (AKIDEXAMPLE) are those of the AWS test suite, so seeds from it verify. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "camstream/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cs_status lookup(void *ctx, const char *ak, size_t ak_len, const char *token,
                        size_t token_len, char *secret, size_t cap, size_t *secret_len)
{
    static const char sk[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    (void)ctx;
    (void)token;
    (void)token_len;
    if (ak_len != 11 || memcmp(ak, "AKIDEXAMPLE", 11) != 0 || cap < sizeof(sk) - 1) {
        return CS_E_NOTFOUND;
    }
    memcpy(secret, sk, sizeof(sk) - 1);
    *secret_len = sizeof(sk) - 1;
    return CS_OK;
}

/* The next line of [*p, end) as an exact-size heap copy (NULL when empty). */
static char *take_line(const uint8_t **p, const uint8_t *end, size_t *len)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    const uint8_t *stop = nl != NULL ? nl : end;
    char *copy = NULL;

    *len = (size_t)(stop - *p);
    if (*len > 0) {
        copy = malloc(*len);
        if (copy != NULL) {
            memcpy(copy, *p, *len);
        } else {
            *len = 0;
        }
    }
    *p = nl != NULL ? nl + 1 : end;
    return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    cs_sigv4_authorization a;
    cs_sigv4_header hs[3];
    cs_sigv4_request req;
    cs_sigv4_verify_config vc;
    cs_sigv4_verdict v;
    cs_manual_clock mc;
    char *auth, *query, *path, *body;
    size_t auth_len, query_len, path_len, body_len;
    const char *why = NULL;
    uint64_t t;

    (void)cs_sigv4_parse_authorization((const char *)data, size, &a, &why);
    (void)cs_sigv4_parse_amz_date((const char *)data, size, &t);

    auth = take_line(&p, end, &auth_len);
    query = take_line(&p, end, &query_len);
    path = take_line(&p, end, &path_len);
    body_len = (size_t)(end - p);
    body = body_len > 0 ? malloc(body_len) : NULL;
    if (body != NULL) {
        memcpy(body, p, body_len);
    } else {
        body_len = 0;
    }

    hs[0] = (cs_sigv4_header){"Host", 4, "example.amazonaws.com", 21};
    hs[1] = (cs_sigv4_header){"X-Amz-Date", 10, "20150830T123600Z", 16};
    hs[2] = (cs_sigv4_header){"Authorization", 13, auth, auth_len};
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.method_len = 3;
    req.path = path;
    req.path_len = path_len;
    req.query = query;
    req.query_len = query_len;
    req.headers = hs;
    req.header_count = 3;
    req.body = body;
    req.body_len = body_len;

    cs_manual_clock_init(&mc, 0, 1440938160ull * 1000000000ull);
    cs_sigv4_verify_config_init(&vc);
    vc.service = "service";
    vc.lookup = lookup;
    vc.clock = &mc.clock;
    vc.normalize_path = size % 2 == 0;
    if (cs_sigv4_verify(&vc, &req, &v) == CS_E_AUTH) {
        /* The message must be JSON-safe whatever the input was. */
        for (const char *m = v.message; *m != '\0'; m++) {
            if (*m < 0x20 || *m > 0x7e || *m == '"' || *m == '\\') {
                abort();
            }
        }
    }
    /* The canonical request with the fuzzed line as the SignedHeaders list. */
    if (auth != NULL) {
        size_t len;
        (void)cs_sigv4_canonical_request(&req, auth, auth_len, true, NULL, 0, &len);
    }
    free(auth);
    free(query);
    free(path);
    free(body);
    return 0;
}
