/* SPDX-License-Identifier: Apache-2.0 */
/* SigV4 on the server side: the strict Authorization header parser (outside bytes: every byte is
 * checked, nothing is read past `len`) and cs_sigv4_verify(), which rebuilds the canonical request
 * from the request as received and answers accepted or why not, with a message fit for an AWS
 * error body. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "auth_int.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define ALGORITHM_LEN 16
#define SECRET_MAX 256

/* ---------------------------------------------------------------------------------------------- */
/* Authorization header                                                                           */
/* ---------------------------------------------------------------------------------------------- */

static bool scope_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static bool key_char(unsigned char c)
{
    /* Visible ASCII except the separators of the header itself. */
    return c > 0x20 && c < 0x7f && c != '/' && c != ',' && c != '=';
}

static cs_status fail(const char **why, const char *msg)
{
    if (why != NULL) {
        *why = msg;
    }
    return CS_E_MALFORMED;
}

static cs_status parse_credential(const char *v, size_t n, cs_sigv4_authorization *out,
                                  const char **why)
{
    const char *part[5];
    size_t plen[5];
    size_t np = 0, i = 0;

    while (np < 5) {
        size_t j = i;
        while (j < n && v[j] != '/') {
            j++;
        }
        part[np] = v + i;
        plen[np] = j - i;
        np++;
        if (j == n) {
            break;
        }
        i = j + 1;
    }
    if (np != 5 || part[4] + plen[4] != v + n) {
        return fail(why, "Credential must be AccessKey/YYYYMMDD/region/service/aws4_request");
    }
    if (plen[0] == 0 || plen[0] >= CS_SIGV4_ACCESS_KEY_SIZE) {
        return fail(why, "Credential has an empty or overlong access key");
    }
    for (size_t k = 0; k < plen[0]; k++) {
        if (!key_char((unsigned char)part[0][k])) {
            return fail(why, "Credential access key has a character that is not allowed");
        }
    }
    if (plen[1] != 8) {
        return fail(why, "Credential date must be YYYYMMDD");
    }
    for (size_t k = 0; k < 8; k++) {
        if (part[1][k] < '0' || part[1][k] > '9') {
            return fail(why, "Credential date must be YYYYMMDD");
        }
    }
    for (int p = 2; p <= 3; p++) {
        if (plen[p] == 0 || plen[p] > 64) {
            return fail(why, p == 2 ? "Credential region is empty or too long"
                                    : "Credential service is empty or too long");
        }
        for (size_t k = 0; k < plen[p]; k++) {
            if (!scope_char((unsigned char)part[p][k])) {
                return fail(why, p == 2 ? "Credential region has a character that is not allowed"
                                        : "Credential service has a character that is not allowed");
            }
        }
    }
    if (plen[4] != 12 || memcmp(part[4], "aws4_request", 12) != 0) {
        return fail(why, "Credential should be scoped with a valid terminator: 'aws4_request'");
    }
    out->access_key = part[0];
    out->access_key_len = plen[0];
    out->date = part[1];
    out->region = part[2];
    out->region_len = plen[2];
    out->service = part[3];
    out->service_len = plen[3];
    return CS_OK;
}

static cs_status parse_signed_headers(const char *v, size_t n, cs_sigv4_authorization *out,
                                      const char **why)
{
    if (n == 0) {
        return fail(why, "SignedHeaders is empty");
    }
    if (n > CS_SIGV4_MAX_SIGNED_HEADERS_LEN) {
        return fail(why, "SignedHeaders is too long");
    }
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)v[k];
        bool start = k == 0 || v[k - 1] == ';';
        if (c == ';') {
            if (start || k + 1 == n) {
                return fail(why, "SignedHeaders has an empty header name");
            }
        } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     strchr("!#$%&'*+-.^_`|~", c) != NULL || (c == ':' && start))) {
            return fail(why, "SignedHeaders must be lowercase header names separated by ';'");
        }
    }
    out->signed_headers = v;
    out->signed_headers_len = n;
    return CS_OK;
}

static cs_status parse_signature(const char *v, size_t n, cs_sigv4_authorization *out,
                                 const char **why)
{
    if (n != 2 * CS_SHA256_SIZE) {
        return fail(why, "Signature must be 64 lowercase hex digits");
    }
    for (size_t k = 0; k < CS_SHA256_SIZE; k++) {
        int hi = -1, lo = -1;
        char a = v[2 * k], b = v[2 * k + 1];
        if (a >= '0' && a <= '9') {
            hi = a - '0';
        } else if (a >= 'a' && a <= 'f') {
            hi = a - 'a' + 10;
        }
        if (b >= '0' && b <= '9') {
            lo = b - '0';
        } else if (b >= 'a' && b <= 'f') {
            lo = b - 'a' + 10;
        }
        if (hi < 0 || lo < 0) {
            return fail(why, "Signature must be 64 lowercase hex digits");
        }
        out->signature[k] = (uint8_t)(hi * 16 + lo);
    }
    return CS_OK;
}

cs_status cs_sigv4_parse_authorization(const char *value, size_t len, cs_sigv4_authorization *out,
                                       const char **why)
{
    bool have[3] = {false, false, false};
    size_t i;

    if ((value == NULL && len > 0) || out == NULL) {
        return CS_E_INVAL;
    }
    memset(out, 0, sizeof(*out));
    /* Leading and trailing whitespace belongs to the HTTP layer; tolerate it. */
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t')) {
        len--;
    }
    i = 0;
    while (i < len && (value[i] == ' ' || value[i] == '\t')) {
        i++;
    }
    {
        size_t j = i;
        while (j < len && value[j] != ' ') {
            j++;
        }
        if (j == i) {
            return fail(why, "Authorization header is empty");
        }
        if (j - i != ALGORITHM_LEN || memcmp(value + i, ALGORITHM, ALGORITHM_LEN) != 0) {
            if (why != NULL) {
                *why = "Authorization algorithm is not AWS4-HMAC-SHA256";
            }
            return CS_E_UNSUPPORTED;
        }
        if (j == len) {
            return fail(why, "Authorization header requires 'Credential', 'SignedHeaders' and "
                             "'Signature' parameters");
        }
        i = j;
    }
    for (;;) {
        size_t k, ks, vs;
        int which;
        cs_status st;

        while (i < len && value[i] == ' ') {
            i++;
        }
        ks = i;
        while (i < len && value[i] != '=' && value[i] != ',' && value[i] != ' ') {
            i++;
        }
        k = i - ks;
        if (i == len || value[i] != '=') {
            return fail(why, "Authorization parameters must be Name=value separated by ','");
        }
        if (k == 10 && memcmp(value + ks, "Credential", 10) == 0) {
            which = 0;
        } else if (k == 13 && memcmp(value + ks, "SignedHeaders", 13) == 0) {
            which = 1;
        } else if (k == 9 && memcmp(value + ks, "Signature", 9) == 0) {
            which = 2;
        } else {
            return fail(why, "Authorization has an unknown parameter (only Credential, "
                             "SignedHeaders and Signature)");
        }
        if (have[which]) {
            return fail(why, "Authorization names a parameter twice");
        }
        have[which] = true;
        vs = ++i;
        while (i < len && value[i] != ',' && value[i] != ' ') {
            i++;
        }
        if (which == 0) {
            st = parse_credential(value + vs, i - vs, out, why);
        } else if (which == 1) {
            st = parse_signed_headers(value + vs, i - vs, out, why);
        } else {
            st = parse_signature(value + vs, i - vs, out, why);
        }
        if (st != CS_OK) {
            return st;
        }
        while (i < len && value[i] == ' ') {
            i++;
        }
        if (i == len) {
            break;
        }
        if (value[i] != ',') {
            return fail(why, "Authorization parameters must be separated by ','");
        }
        i++;
    }
    if (!have[0]) {
        return fail(why, "Authorization header requires 'Credential' parameter");
    }
    if (!have[1]) {
        return fail(why, "Authorization header requires 'SignedHeaders' parameter");
    }
    if (!have[2]) {
        return fail(why, "Authorization header requires 'Signature' parameter");
    }
    return CS_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* Verification                                                                                   */
/* ---------------------------------------------------------------------------------------------- */

void cs_sigv4_verify_config_init(cs_sigv4_verify_config *cfg)
{
    if (cfg != NULL) {
        memset(cfg, 0, sizeof(*cfg));
        cfg->max_skew_ns = 15ull * 60ull * 1000000000ull;
        cfg->normalize_path = true;
    }
}

const char *cs_sigv4_error_str(cs_sigv4_error error)
{
    switch (error) {
    case CS_SIGV4_ERR_NONE:
        return "CS_SIGV4_ERR_NONE";
    case CS_SIGV4_ERR_MISSING:
        return "CS_SIGV4_ERR_MISSING";
    case CS_SIGV4_ERR_MALFORMED:
        return "CS_SIGV4_ERR_MALFORMED";
    case CS_SIGV4_ERR_UNKNOWN_KEY:
        return "CS_SIGV4_ERR_UNKNOWN_KEY";
    case CS_SIGV4_ERR_SIGNATURE:
        return "CS_SIGV4_ERR_SIGNATURE";
    case CS_SIGV4_ERR_SKEW:
        return "CS_SIGV4_ERR_SKEW";
    case CS_SIGV4_ERR_SERVICE:
        return "CS_SIGV4_ERR_SERVICE";
    case CS_SIGV4_ERR_REGION:
        return "CS_SIGV4_ERR_REGION";
    case CS_SIGV4_ERR_PAYLOAD:
        return "CS_SIGV4_ERR_PAYLOAD";
    case CS_SIGV4_ERR_LIMIT:
        return "CS_SIGV4_ERR_LIMIT";
    }
    return "CS_SIGV4_ERR_UNKNOWN";
}

static const char *error_type_of(cs_sigv4_error error)
{
    switch (error) {
    case CS_SIGV4_ERR_NONE:
        return "";
    case CS_SIGV4_ERR_MISSING:
        return "MissingAuthenticationTokenException";
    case CS_SIGV4_ERR_MALFORMED:
    case CS_SIGV4_ERR_LIMIT:
        return "IncompleteSignatureException";
    case CS_SIGV4_ERR_UNKNOWN_KEY:
        return "UnrecognizedClientException";
    case CS_SIGV4_ERR_SIGNATURE:
    case CS_SIGV4_ERR_SKEW:
    case CS_SIGV4_ERR_SERVICE:
    case CS_SIGV4_ERR_REGION:
    case CS_SIGV4_ERR_PAYLOAD:
        return "InvalidSignatureException";
    }
    return "InvalidSignatureException";
}

/* Records a refusal. The message may quote request bytes, so it is made JSON-safe here. */
static cs_status refuse(cs_sigv4_verdict *v, cs_sigv4_error error, const char *fmt, ...)
    CS_PRINTF(3, 4);

static cs_status refuse(cs_sigv4_verdict *v, cs_sigv4_error error, const char *fmt, ...)
{
    va_list ap;

    v->error = error;
    v->error_type = error_type_of(error);
    va_start(ap, fmt);
    (void)vsnprintf(v->message, sizeof(v->message), fmt, ap);
    va_end(ap);
    for (char *p = v->message; *p != '\0'; p++) {
        if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\') {
            *p = '?';
        }
    }
    return CS_E_AUTH;
}

/* The only header of that name: CS_OK, CS_E_NOTFOUND, or CS_E_EXISTS when there are several. */
static cs_status find_one(const cs_sigv4_request *req, const char *name, const char **value,
                          size_t *value_len)
{
    size_t n = strlen(name);
    bool found = false;

    for (size_t i = 0; i < req->header_count; i++) {
        const cs_sigv4_header *h = &req->headers[i];
        if (csi_ieq(h->name, h->name_len, name, n)) {
            if (found) {
                return CS_E_EXISTS;
            }
            found = true;
            *value = h->value;
            *value_len = h->value_len;
        }
    }
    return found ? CS_OK : CS_E_NOTFOUND;
}

static void trim(const char **p, size_t *n)
{
    while (*n > 0 && ((*p)[0] == ' ' || (*p)[0] == '\t')) {
        (*p)++;
        (*n)--;
    }
    while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t')) {
        (*n)--;
    }
}

static bool list_has(const char *list, size_t len, const char *name)
{
    size_t n = strlen(name);
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && list[j] != ';') {
            j++;
        }
        if (j - i == n && memcmp(list + i, name, n) == 0) {
            return true;
        }
        i = j + 1;
    }
    return false;
}

/* Checks the request's time against the clock; fills the verdict when outside the window. */
static cs_status check_skew(const cs_sigv4_verify_config *cfg, const char *amz_date, uint64_t t_s,
                            cs_sigv4_verdict *v)
{
    uint64_t now_ns = cs_clock_wall_ns(cfg->clock);
    uint64_t t_ns = t_s > UINT64_MAX / 1000000000ull ? UINT64_MAX : t_s * 1000000000ull;
    uint64_t skew = cfg->max_skew_ns;
    char now_s[CS_SIGV4_AMZ_DATE_SIZE], edge_s[CS_SIGV4_AMZ_DATE_SIZE];
    unsigned minutes = (unsigned)(skew / 60000000000ull);

    if (t_ns < now_ns && now_ns - t_ns > skew) {
        (void)cs_sigv4_amz_date(now_ns, now_s);
        (void)cs_sigv4_amz_date(now_ns - skew, edge_s);
        return refuse(v, CS_SIGV4_ERR_SKEW,
                      "Signature expired: %.16s is now earlier than %s (%s - %u min.)", amz_date,
                      edge_s, now_s, minutes);
    }
    if (t_ns > now_ns && t_ns - now_ns > skew) {
        (void)cs_sigv4_amz_date(now_ns, now_s);
        if (cs_sigv4_amz_date(now_ns + skew, edge_s) != CS_OK) {
            memcpy(edge_s, "9999", 5);
        }
        return refuse(v, CS_SIGV4_ERR_SKEW,
                      "Signature not yet current: %.16s is still later than %s (%s + %u min.)",
                      amz_date, edge_s, now_s, minutes);
    }
    return CS_OK;
}

cs_status cs_sigv4_verify(const cs_sigv4_verify_config *cfg, const cs_sigv4_request *req,
                          cs_sigv4_verdict *v)
{
    cs_sigv4_authorization a;
    const char *auth = NULL, *date = NULL, *sha = NULL, *token = NULL, *why = NULL;
    size_t auth_len = 0, date_len = 0, sha_len = 0, token_len = 0;
    char payload[CS_SHA256_HEX_SIZE];
    const char *payload_hash;
    size_t payload_len;
    char secret[SECRET_MAX];
    size_t secret_len = 0;
    uint8_t key[CS_SHA256_SIZE], creq_hash[CS_SHA256_SIZE], mac[CS_SHA256_SIZE];
    mbedtls_sha256_context ctx;
    struct csi_emit e;
    const char *missing = NULL;
    size_t missing_len = 0;
    uint64_t t_s;
    cs_status st;

    if (v == NULL) {
        return CS_E_INVAL;
    }
    memset(v, 0, sizeof(*v));
    v->error_type = "";
    if (cfg == NULL || req == NULL || cfg->service == NULL || cfg->lookup == NULL ||
        (req->headers == NULL && req->header_count > 0) || req->method == NULL ||
        (req->body == NULL && req->body_len > 0)) {
        return CS_E_INVAL;
    }

    st = find_one(req, "authorization", &auth, &auth_len);
    if (st == CS_E_NOTFOUND) {
        return refuse(v, CS_SIGV4_ERR_MISSING, "Missing Authentication Token");
    }
    if (st != CS_OK) {
        return refuse(v, CS_SIGV4_ERR_MALFORMED, "Only one Authorization header is allowed");
    }
    st = cs_sigv4_parse_authorization(auth, auth_len, &a, &why);
    if (st == CS_E_UNSUPPORTED) {
        return refuse(v, CS_SIGV4_ERR_MALFORMED, "%s", why);
    }
    if (st != CS_OK) {
        return refuse(v, CS_SIGV4_ERR_MALFORMED, "%s", why != NULL ? why : "bad Authorization");
    }
    memcpy(v->access_key, a.access_key, a.access_key_len);
    v->access_key[a.access_key_len] = '\0';

    st = find_one(req, "x-amz-date", &date, &date_len);
    if (st != CS_OK) {
        return refuse(v, CS_SIGV4_ERR_MALFORMED,
                      st == CS_E_NOTFOUND
                          ? "Authorization header requires existence of a 'X-Amz-Date' header"
                          : "Only one X-Amz-Date header is allowed");
    }
    trim(&date, &date_len);
    if (cs_sigv4_parse_amz_date(date, date_len, &t_s) != CS_OK) {
        return refuse(v, CS_SIGV4_ERR_MALFORMED,
                      "X-Amz-Date must be in the ISO8601 basic format YYYYMMDD'T'HHMMSS'Z'");
    }
    if (memcmp(a.date, date, 8) != 0) {
        return refuse(v, CS_SIGV4_ERR_MALFORMED,
                      "Date in Credential scope does not match YYYYMMDD from X-Amz-Date");
    }
    if (a.service_len != strlen(cfg->service) ||
        memcmp(a.service, cfg->service, a.service_len) != 0) {
        return refuse(v, CS_SIGV4_ERR_SERVICE,
                      "Credential should be scoped to correct service: '%s'.", cfg->service);
    }
    if (cfg->region != NULL &&
        (a.region_len != strlen(cfg->region) || memcmp(a.region, cfg->region, a.region_len) != 0)) {
        return refuse(v, CS_SIGV4_ERR_REGION,
                      "Credential should be scoped to a valid region, not '%.*s'; expecting '%s'",
                      (int)a.region_len, a.region, cfg->region);
    }
    if (!list_has(a.signed_headers, a.signed_headers_len, "host") &&
        !list_has(a.signed_headers, a.signed_headers_len, ":authority")) {
        return refuse(v, CS_SIGV4_ERR_MALFORMED,
                      "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
    }
    st = check_skew(cfg, date, t_s, v);
    if (st != CS_OK) {
        return st;
    }

    /* Who is it? */
    st = find_one(req, "x-amz-security-token", &token, &token_len);
    if (st == CS_E_EXISTS) {
        return refuse(v, CS_SIGV4_ERR_MALFORMED, "Only one X-Amz-Security-Token header is allowed");
    }
    if (st == CS_OK) {
        trim(&token, &token_len);
    }
    st = cfg->lookup(cfg->lookup_ctx, a.access_key, a.access_key_len, token, token_len, secret,
                     sizeof(secret), &secret_len);
    if (st == CS_E_NOTFOUND) {
        st = refuse(v, CS_SIGV4_ERR_UNKNOWN_KEY,
                    "The security token included in the request is invalid.");
        goto out;
    }
    if (st != CS_OK) {
        goto out;
    }
    if (secret_len > sizeof(secret)) {
        st = CS_E_INVAL;
        goto out;
    }

    /* What the payload counts as. */
    st = find_one(req, "x-amz-content-sha256", &sha, &sha_len);
    if (st == CS_E_EXISTS) {
        st = refuse(v, CS_SIGV4_ERR_MALFORMED, "Only one x-amz-content-sha256 header is allowed");
        goto out;
    }
    if (st == CS_OK) {
        trim(&sha, &sha_len);
        payload_hash = sha;
        payload_len = sha_len;
        if (req->payload_hash == NULL &&
            !(sha_len == 16 && memcmp(sha, "UNSIGNED-PAYLOAD", 16) == 0) &&
            !(sha_len >= 10 && memcmp(sha, "STREAMING-", 10) == 0)) {
            uint8_t digest[CS_SHA256_SIZE];
            st = cs_sha256(req->body, req->body_len, digest);
            if (st != CS_OK) {
                goto out;
            }
            (void)cs_hex_encode(digest, sizeof(digest), payload, sizeof(payload), NULL);
            if (sha_len != 64 || memcmp(sha, payload, 64) != 0) {
                st = refuse(v, CS_SIGV4_ERR_PAYLOAD,
                            "The provided 'x-amz-content-sha256' header does not match what was "
                            "computed.");
                goto out;
            }
        }
    } else if (req->payload_hash != NULL) {
        payload_hash = req->payload_hash;
        payload_len = strlen(req->payload_hash);
    } else {
        uint8_t digest[CS_SHA256_SIZE];
        st = cs_sha256(req->body, req->body_len, digest);
        if (st != CS_OK) {
            goto out;
        }
        (void)cs_hex_encode(digest, sizeof(digest), payload, sizeof(payload), NULL);
        payload_hash = payload;
        payload_len = 64;
    }

    /* Rebuild and hash the canonical request. */
    if (csi_sha256_start(&ctx) != 0) {
        mbedtls_sha256_free(&ctx);
        st = CS_E_INTERNAL;
        goto out;
    }
    csi_emit_init(&e, &ctx, NULL, 0);
    st = csi_sigv4_canonical(&e, req, a.signed_headers, a.signed_headers_len, cfg->normalize_path,
                             payload_hash, payload_len, true, &missing, &missing_len);
    if (st == CS_OK) {
        st = csi_emit_status(&e);
    }
    if (st != CS_OK) {
        mbedtls_sha256_free(&ctx);
        if (st == CS_E_NOTFOUND) {
            st = refuse(v, CS_SIGV4_ERR_SIGNATURE,
                        "SignedHeaders names '%.*s', which the request does not carry",
                        (int)(missing_len > 64 ? 64 : missing_len), missing);
        } else if (st == CS_E_MALFORMED) {
            st = refuse(v, CS_SIGV4_ERR_MALFORMED, "SignedHeaders must be sorted, without repeats");
        } else if (st == CS_E_LIMIT) {
            st = refuse(v, CS_SIGV4_ERR_LIMIT,
                        "The request has more headers, query parameters or path segments than "
                        "this server signs");
        }
        goto out;
    }
    if (csi_sha256_finish(&ctx, creq_hash) != 0) {
        st = CS_E_INTERNAL;
        goto out;
    }
    st = csi_sigv4_signing_key(cfg->cache, secret, secret_len, a.date, a.region, a.region_len,
                               a.service, a.service_len, key);
    if (st != CS_OK) {
        goto out;
    }
    st = csi_sigv4_signature(key, date, a.region, a.region_len, a.service, a.service_len, creq_hash,
                             mac);
    if (st != CS_OK) {
        goto out;
    }
    if (!cs_timing_safe_equal(mac, a.signature, sizeof(mac))) {
        st = refuse(v, CS_SIGV4_ERR_SIGNATURE,
                    "The request signature we calculated does not match the signature you "
                    "provided. Check your AWS Secret Access Key and signing method. Consult the "
                    "service documentation for details.");
        goto out;
    }
    st = CS_OK;
out:
    csi_wipe(secret, sizeof(secret));
    csi_wipe(key, sizeof(key));
    return st;
}
