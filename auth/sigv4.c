/* SPDX-License-Identifier: Apache-2.0 */
/* AWS Signature Version 4, the parts signer and verifier share and the signer itself: X-Amz-Date
 * conversion, canonical URI paths, query strings and headers (streamed, never built in memory
 * unless asked), the string to sign, signing-key derivation with its per-(date, region, service)
 * cache, and cs_sigv4_sign(). */
#include <string.h>

#include "auth_int.h"

static const char upper_hex[] = "0123456789ABCDEF";

/* ---------------------------------------------------------------------------------------------- */
/* Dates                                                                                          */
/* ---------------------------------------------------------------------------------------------- */

/* Days since 1970-01-01 of a date in 1970..9999 (H. Hinnant's days_from_civil). */
static uint64_t days_from_civil(unsigned y, unsigned m, unsigned d)
{
    unsigned era, yoe, doy, doe;

    y -= m <= 2 ? 1u : 0u;
    era = y / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (uint64_t)era * 146097 + doe - 719468;
}

static void civil_from_days(uint64_t z, unsigned *y, unsigned *m, unsigned *d)
{
    uint64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = z / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = (unsigned)(yoe + era * 400 + (*m <= 2 ? 1 : 0));
}

static void put_digits(char *dst, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        dst[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

cs_status cs_sigv4_amz_date(uint64_t wall_ns, char out[CS_SIGV4_AMZ_DATE_SIZE])
{
    uint64_t secs = wall_ns / 1000000000ull;
    uint64_t sod = secs % 86400;
    unsigned y, m, d;

    if (out == NULL) {
        return CS_E_INVAL;
    }
    civil_from_days(secs / 86400, &y, &m, &d);
    if (y > 9999) {
        return CS_E_RANGE;
    }
    put_digits(out, y, 4);
    put_digits(out + 4, m, 2);
    put_digits(out + 6, d, 2);
    out[8] = 'T';
    put_digits(out + 9, (unsigned)(sod / 3600), 2);
    put_digits(out + 11, (unsigned)(sod / 60 % 60), 2);
    put_digits(out + 13, (unsigned)(sod % 60), 2);
    out[15] = 'Z';
    out[16] = '\0';
    return CS_OK;
}

static bool parse_digits(const char *s, int n, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        *v = *v * 10 + (unsigned)(s[i] - '0');
    }
    return true;
}

cs_status cs_sigv4_parse_amz_date(const char *s, size_t len, uint64_t *epoch_s)
{
    static const unsigned mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y, mo, d, h, mi, sec, dim;

    if ((s == NULL && len > 0) || epoch_s == NULL) {
        return CS_E_INVAL;
    }
    if (len != 16 || s[8] != 'T' || s[15] != 'Z' || !parse_digits(s, 4, &y) ||
        !parse_digits(s + 4, 2, &mo) || !parse_digits(s + 6, 2, &d) ||
        !parse_digits(s + 9, 2, &h) || !parse_digits(s + 11, 2, &mi) ||
        !parse_digits(s + 13, 2, &sec)) {
        return CS_E_MALFORMED;
    }
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 60) {
        return CS_E_MALFORMED;
    }
    dim = mdays[mo - 1];
    if (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) {
        dim = 29;
    }
    if (d > dim) {
        return CS_E_MALFORMED;
    }
    *epoch_s = days_from_civil(y, mo, d) * 86400 + h * 3600u + mi * 60u + sec;
    return CS_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* Canonical request                                                                              */
/* ---------------------------------------------------------------------------------------------- */

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* URI-encodes bytes (RFC 3986 unreserved kept), optionally keeping '/'. */
static void emit_uri_encoded(struct csi_emit *e, const char *p, size_t n, bool keep_slash)
{
    size_t run = 0; /* start of the pending run of bytes emitted as they are */

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            continue;
        }
        csi_emit(e, p + run, i - run);
        {
            char esc[3] = {'%', upper_hex[c >> 4], upper_hex[c & 0x0f]};
            csi_emit(e, esc, sizeof(esc));
        }
        run = i + 1;
    }
    csi_emit(e, p + run, n - run);
}

struct segment {
    size_t off;
    size_t len;
};

static cs_status emit_path(struct csi_emit *e, const char *path, size_t len, bool normalize)
{
    struct segment segs[CS_SIGV4_MAX_PATH_SEGMENTS];
    size_t nsegs = 0;
    size_t i = 0;

    if (len == 0) {
        csi_emit(e, "/", 1);
        return CS_OK;
    }
    if (!normalize) {
        emit_uri_encoded(e, path, len, true);
        return CS_OK;
    }
    while (i <= len) {
        size_t j = i;
        while (j < len && path[j] != '/') {
            j++;
        }
        if (j - i == 0 || (j - i == 1 && path[i] == '.')) {
            /* empty or "." segment: dropped */
        } else if (j - i == 2 && path[i] == '.' && path[i + 1] == '.') {
            if (nsegs > 0) {
                nsegs--;
            }
        } else {
            if (nsegs == CS_SIGV4_MAX_PATH_SEGMENTS) {
                return CS_E_LIMIT;
            }
            segs[nsegs].off = i;
            segs[nsegs].len = j - i;
            nsegs++;
        }
        i = j + 1;
    }
    if (nsegs == 0) {
        csi_emit(e, "/", 1);
        return CS_OK;
    }
    for (size_t k = 0; k < nsegs; k++) {
        csi_emit(e, "/", 1);
        emit_uri_encoded(e, path + segs[k].off, segs[k].len, false);
    }
    if (path[len - 1] == '/') {
        csi_emit(e, "/", 1);
    }
    return CS_OK;
}

/* Yields the canonical (decoded, then re-encoded) bytes of one query component. */
struct enc_iter {
    const char *p;
    size_t n;
    size_t i;
    char pend[2];
    int npend;
    int ipend;
};

static void enc_iter_init(struct enc_iter *it, const char *p, size_t n)
{
    it->p = p;
    it->n = n;
    it->i = 0;
    it->npend = 0;
    it->ipend = 0;
}

static int enc_iter_next(struct enc_iter *it)
{
    unsigned char c;

    if (it->ipend < it->npend) {
        return (unsigned char)it->pend[it->ipend++];
    }
    if (it->i >= it->n) {
        return -1;
    }
    c = (unsigned char)it->p[it->i];
    if (c == '%' && it->n - it->i >= 3 && hex_value((unsigned char)it->p[it->i + 1]) >= 0 &&
        hex_value((unsigned char)it->p[it->i + 2]) >= 0) {
        c = (unsigned char)(hex_value((unsigned char)it->p[it->i + 1]) * 16 +
                            hex_value((unsigned char)it->p[it->i + 2]));
        it->i += 3;
    } else {
        it->i += 1;
    }
    if (is_unreserved(c)) {
        return c;
    }
    it->pend[0] = upper_hex[c >> 4];
    it->pend[1] = upper_hex[c & 0x0f];
    it->npend = 2;
    it->ipend = 0;
    return '%';
}

static int enc_compare(const char *a, size_t an, const char *b, size_t bn)
{
    struct enc_iter x, y;

    enc_iter_init(&x, a, an);
    enc_iter_init(&y, b, bn);
    for (;;) {
        int cx = enc_iter_next(&x);
        int cy = enc_iter_next(&y);
        if (cx != cy) {
            return cx < cy ? -1 : 1;
        }
        if (cx < 0) {
            return 0;
        }
    }
}

static void emit_enc(struct csi_emit *e, const char *p, size_t n)
{
    struct enc_iter it;
    char buf[64];
    size_t k = 0;
    int c;

    enc_iter_init(&it, p, n);
    while ((c = enc_iter_next(&it)) >= 0) {
        buf[k++] = (char)c;
        if (k == sizeof(buf)) {
            csi_emit(e, buf, k);
            k = 0;
        }
    }
    csi_emit(e, buf, k);
}

struct qparam {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

static int qparam_compare(const struct qparam *a, const struct qparam *b)
{
    int r = enc_compare(a->name, a->name_len, b->name, b->name_len);
    return r != 0 ? r : enc_compare(a->value, a->value_len, b->value, b->value_len);
}

static cs_status emit_query(struct csi_emit *e, const char *q, size_t len)
{
    struct qparam ps[CS_SIGV4_MAX_QUERY_PARAMS];
    size_t n = 0;
    size_t i = 0;

    while (i < len) {
        size_t j = i;
        size_t eq;
        while (j < len && q[j] != '&') {
            j++;
        }
        if (j > i) { /* "a=1&&b=2": empty parts are not parameters */
            if (n == CS_SIGV4_MAX_QUERY_PARAMS) {
                return CS_E_LIMIT;
            }
            eq = i;
            while (eq < j && q[eq] != '=') {
                eq++;
            }
            ps[n].name = q + i;
            ps[n].name_len = eq - i;
            ps[n].value = eq < j ? q + eq + 1 : q + j;
            ps[n].value_len = eq < j ? j - eq - 1 : 0;
            /* Insertion sort: n is small and the order stays stable. */
            {
                size_t k = n;
                struct qparam cur = ps[n];
                while (k > 0 && qparam_compare(&ps[k - 1], &cur) > 0) {
                    ps[k] = ps[k - 1];
                    k--;
                }
                ps[k] = cur;
            }
            n++;
        }
        i = j + 1;
    }
    for (size_t k = 0; k < n; k++) {
        if (k > 0) {
            csi_emit(e, "&", 1);
        }
        emit_enc(e, ps[k].name, ps[k].name_len);
        csi_emit(e, "=", 1);
        emit_enc(e, ps[k].value, ps[k].value_len);
    }
    return CS_OK;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A header value trimmed, with each run of whitespace (folded lines included) as one space. */
static void emit_header_value(struct csi_emit *e, const char *v, size_t n)
{
    size_t i = 0;
    bool first = true;

    while (i < n) {
        size_t j;
        while (i < n && is_ws(v[i])) {
            i++;
        }
        if (i == n) {
            break;
        }
        j = i;
        while (j < n && !is_ws(v[j])) {
            j++;
        }
        if (!first) {
            csi_emit(e, " ", 1);
        }
        csi_emit(e, v + i, j - i);
        first = false;
        i = j;
    }
}

/* Characters of a header name in a SignedHeaders list: lowercase tchar (RFC 9110), and ':' as the
 * first character of an HTTP/2 pseudo-header. */
static bool is_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static size_t count_matches(const cs_sigv4_request *req, const char *name, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < req->header_count; i++) {
        if (csi_ieq(req->headers[i].name, req->headers[i].name_len, name, len)) {
            n++;
        }
    }
    return n;
}

/* Byte order of two names; a prefix sorts first. */
static int name_compare(const char *a, size_t an, const char *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int r = n > 0 ? memcmp(a, b, n) : 0;
    if (r != 0) {
        return r;
    }
    return an < bn ? -1 : (an > bn ? 1 : 0);
}

/* A SignedHeaders list: names of the allowed characters, strictly ascending (so sorted and
 * without repeats), at most CS_SIGV4_MAX_HEADERS of them. Checked whole before anything is
 * emitted, so the answer does not depend on the request. */
static cs_status check_signed_list(const char *list, size_t list_len)
{
    const char *prev = NULL;
    size_t prev_len = 0, names = 0, i = 0;

    while (i <= list_len) {
        size_t j = i;
        const char *name = list + i;
        size_t len;

        while (j < list_len && list[j] != ';') {
            j++;
        }
        len = j - i;
        if (len == 0) {
            return CS_E_MALFORMED;
        }
        for (size_t k = 0; k < len; k++) {
            if (!is_name_char((unsigned char)name[k]) && !(k == 0 && name[k] == ':' && len > 1)) {
                return CS_E_MALFORMED;
            }
        }
        if (prev != NULL && name_compare(prev, prev_len, name, len) >= 0) {
            return CS_E_MALFORMED;
        }
        if (++names > CS_SIGV4_MAX_HEADERS) {
            return CS_E_LIMIT;
        }
        prev = name;
        prev_len = len;
        i = j + 1;
    }
    return CS_OK;
}

cs_status csi_sigv4_canonical(struct csi_emit *e, const cs_sigv4_request *req,
                              const char *signed_headers, size_t signed_headers_len,
                              bool normalize_path, const char *payload_hash,
                              size_t payload_hash_len, bool fallback_authority,
                              const char **missing, size_t *missing_len)
{
    size_t i = 0;
    cs_status st;

    if (req->method == NULL || req->method_len == 0 || (req->path == NULL && req->path_len > 0) ||
        (req->query == NULL && req->query_len > 0) ||
        (req->headers == NULL && req->header_count > 0) || signed_headers == NULL) {
        return CS_E_INVAL;
    }
    if (signed_headers_len == 0 || signed_headers_len > CS_SIGV4_MAX_SIGNED_HEADERS_LEN) {
        return signed_headers_len == 0 ? CS_E_MALFORMED : CS_E_LIMIT;
    }
    for (size_t k = 0; k < req->header_count; k++) {
        if ((req->headers[k].name == NULL && req->headers[k].name_len > 0) ||
            (req->headers[k].value == NULL && req->headers[k].value_len > 0)) {
            return CS_E_INVAL;
        }
    }

    csi_emit(e, req->method, req->method_len);
    csi_emit(e, "\n", 1);
    st = emit_path(e, req->path, req->path_len, normalize_path);
    if (st != CS_OK) {
        return st;
    }
    csi_emit(e, "\n", 1);
    st = emit_query(e, req->query, req->query_len);
    if (st != CS_OK) {
        return st;
    }
    csi_emit(e, "\n", 1);

    st = check_signed_list(signed_headers, signed_headers_len);
    if (st != CS_OK) {
        return st;
    }
    while (i <= signed_headers_len) {
        size_t j = i;
        const char *name = signed_headers + i;
        const char *lookup = name;
        size_t len, lookup_len, found = 0;

        while (j < signed_headers_len && signed_headers[j] != ';') {
            j++;
        }
        len = j - i;
        lookup_len = len;
        if (count_matches(req, name, len) == 0 && fallback_authority) {
            /* HTTP/2 carries Host as :authority; gateways convert one to the other. */
            if (len == 4 && memcmp(name, "host", 4) == 0) {
                lookup = ":authority";
                lookup_len = 10;
            } else if (len == 10 && memcmp(name, ":authority", 10) == 0) {
                lookup = "host";
                lookup_len = 4;
            }
        }
        csi_emit(e, name, len);
        csi_emit(e, ":", 1);
        for (size_t k = 0; k < req->header_count; k++) {
            const cs_sigv4_header *h = &req->headers[k];
            if (csi_ieq(h->name, h->name_len, lookup, lookup_len)) {
                if (found++ > 0) {
                    csi_emit(e, ",", 1);
                }
                emit_header_value(e, h->value, h->value_len);
            }
        }
        if (found == 0) {
            if (missing != NULL) {
                *missing = name;
                *missing_len = len;
            }
            return CS_E_NOTFOUND;
        }
        csi_emit(e, "\n", 1);
        i = j + 1;
    }
    csi_emit(e, "\n", 1);
    csi_emit(e, signed_headers, signed_headers_len);
    csi_emit(e, "\n", 1);
    csi_emit(e, payload_hash, payload_hash_len);
    return CS_OK;
}

/* The payload hash of a request as the signer sees it: given, or hashed from the body. */
static cs_status payload_hash_of(const cs_sigv4_request *req, char out[CS_SHA256_HEX_SIZE])
{
    uint8_t digest[CS_SHA256_SIZE];
    cs_status st;

    if (req->payload_hash != NULL) {
        size_t n = strlen(req->payload_hash);
        if (n == 0 || n >= CS_SHA256_HEX_SIZE) {
            return CS_E_INVAL;
        }
        memcpy(out, req->payload_hash, n + 1);
        return CS_OK;
    }
    if (req->body == NULL && req->body_len > 0) {
        return CS_E_INVAL;
    }
    st = cs_sha256(req->body, req->body_len, digest);
    if (st != CS_OK) {
        return st;
    }
    return cs_hex_encode(digest, sizeof(digest), out, CS_SHA256_HEX_SIZE, NULL);
}

cs_status cs_sigv4_canonical_request(const cs_sigv4_request *req, const char *signed_headers,
                                     size_t signed_headers_len, bool normalize_path, char *dst,
                                     size_t cap, size_t *out_len)
{
    char payload[CS_SHA256_HEX_SIZE];
    struct csi_emit e;
    cs_status st;

    if (req == NULL || signed_headers == NULL) {
        return CS_E_INVAL;
    }
    st = payload_hash_of(req, payload);
    if (st != CS_OK) {
        return st;
    }
    csi_emit_init(&e, NULL, dst, cap);
    st = csi_sigv4_canonical(&e, req, signed_headers, signed_headers_len, normalize_path, payload,
                             strlen(payload), false, NULL, NULL);
    if (st != CS_OK) {
        return st;
    }
    if (out_len != NULL) {
        *out_len = e.len;
    }
    return csi_emit_status(&e);
}

/* ---------------------------------------------------------------------------------------------- */
/* String to sign, keys, signature                                                                */
/* ---------------------------------------------------------------------------------------------- */

cs_status cs_sigv4_string_to_sign(const char *amz_date, const char *region, const char *service,
                                  const char *creq_sha256_hex, char *dst, size_t cap,
                                  size_t *out_len)
{
    struct csi_emit e;

    if (amz_date == NULL || strlen(amz_date) != 16 || region == NULL || service == NULL ||
        creq_sha256_hex == NULL) {
        return CS_E_INVAL;
    }
    csi_emit_init(&e, NULL, dst, cap);
    csi_emit_str(&e, "AWS4-HMAC-SHA256\n");
    csi_emit(&e, amz_date, 16);
    csi_emit(&e, "\n", 1);
    csi_emit(&e, amz_date, 8);
    csi_emit(&e, "/", 1);
    csi_emit_str(&e, region);
    csi_emit(&e, "/", 1);
    csi_emit_str(&e, service);
    csi_emit_str(&e, "/aws4_request\n");
    csi_emit_str(&e, creq_sha256_hex);
    if (out_len != NULL) {
        *out_len = e.len;
    }
    return csi_emit_status(&e);
}

void cs_sigv4_key_cache_clear(cs_sigv4_key_cache *cache)
{
    if (cache != NULL) {
        csi_wipe(cache, sizeof(*cache));
    }
}

static int hmac_step(const uint8_t *key, size_t key_len, const char *data, size_t len,
                     uint8_t out[CS_SHA256_SIZE])
{
    struct csi_hmac h;
    csi_hmac_start(&h, key, key_len, NULL, 0);
    csi_hmac_update(&h, data, len);
    return csi_hmac_finish(&h, out);
}

cs_status csi_sigv4_signing_key(cs_sigv4_key_cache *cache, const char *secret, size_t secret_len,
                                const char *date8, const char *region, size_t region_len,
                                const char *service, size_t service_len,
                                uint8_t key[CS_SHA256_SIZE])
{
    uint8_t digest[CS_SHA256_SIZE];
    uint8_t k[CS_SHA256_SIZE];
    struct csi_hmac h;
    bool cacheable = cache != NULL && region_len < CS_SIGV4_SCOPE_PART_MAX &&
                     service_len < CS_SIGV4_SCOPE_PART_MAX;
    int err;
    cs_status st = CS_OK;

    if (cacheable) {
        st = cs_sha256(secret, secret_len, digest);
        if (st != CS_OK) {
            goto out;
        }
        if (cache->valid && memcmp(cache->date, date8, 8) == 0 &&
            strlen(cache->region) == region_len && memcmp(cache->region, region, region_len) == 0 &&
            strlen(cache->service) == service_len &&
            memcmp(cache->service, service, service_len) == 0 &&
            cs_timing_safe_equal(cache->secret_digest, digest, sizeof(digest))) {
            memcpy(key, cache->key, CS_SHA256_SIZE);
            goto out;
        }
    }
    csi_hmac_start(&h, "AWS4", 4, secret, secret_len);
    csi_hmac_update(&h, date8, 8);
    err = csi_hmac_finish(&h, k);
    err = err ? err : hmac_step(k, sizeof(k), region, region_len, k);
    err = err ? err : hmac_step(k, sizeof(k), service, service_len, k);
    err = err ? err : hmac_step(k, sizeof(k), "aws4_request", 12, k);
    if (err != 0) {
        st = CS_E_INTERNAL;
        goto out;
    }
    memcpy(key, k, CS_SHA256_SIZE);
    if (cacheable) {
        memcpy(cache->key, k, CS_SHA256_SIZE);
        memcpy(cache->secret_digest, digest, sizeof(digest));
        memcpy(cache->date, date8, 8);
        cache->date[8] = '\0';
        memcpy(cache->region, region, region_len);
        cache->region[region_len] = '\0';
        memcpy(cache->service, service, service_len);
        cache->service[service_len] = '\0';
        cache->valid = true;
    }
out:
    csi_wipe(k, sizeof(k));
    csi_wipe(digest, sizeof(digest));
    return st;
}

cs_status csi_sigv4_signature(const uint8_t key[CS_SHA256_SIZE], const char *amz_date,
                              const char *region, size_t region_len, const char *service,
                              size_t service_len, const uint8_t creq_hash[CS_SHA256_SIZE],
                              uint8_t out[CS_SHA256_SIZE])
{
    char hex[CS_SHA256_HEX_SIZE];
    struct csi_hmac h;

    (void)cs_hex_encode(creq_hash, CS_SHA256_SIZE, hex, sizeof(hex), NULL);
    csi_hmac_start(&h, key, CS_SHA256_SIZE, NULL, 0);
    csi_hmac_update(&h, "AWS4-HMAC-SHA256\n", 17);
    csi_hmac_update(&h, amz_date, 16);
    csi_hmac_update(&h, "\n", 1);
    csi_hmac_update(&h, amz_date, 8);
    csi_hmac_update(&h, "/", 1);
    csi_hmac_update(&h, region, region_len);
    csi_hmac_update(&h, "/", 1);
    csi_hmac_update(&h, service, service_len);
    csi_hmac_update(&h, "/aws4_request\n", 14);
    csi_hmac_update(&h, hex, 64);
    return csi_hmac_finish(&h, out) == 0 ? CS_OK : CS_E_INTERNAL;
}

/* ---------------------------------------------------------------------------------------------- */
/* Signing                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

void cs_sigv4_sign_config_init(cs_sigv4_sign_config *cfg)
{
    if (cfg != NULL) {
        memset(cfg, 0, sizeof(*cfg));
        cfg->normalize_path = true;
    }
}

static bool named(const cs_sigv4_header *h, const char *lower)
{
    return csi_ieq(h->name, h->name_len, lower, strlen(lower));
}

/* Whether `h` is named in a ';'-separated list (any case). */
static bool in_list(const char *list, const cs_sigv4_header *h)
{
    const char *p = list;
    while (*p != '\0') {
        const char *q = strchr(p, ';');
        size_t n = q != NULL ? (size_t)(q - p) : strlen(p);
        if (csi_ieq(p, n, h->name, h->name_len)) {
            return true;
        }
        p += n;
        if (*p == ';') {
            p++;
        }
    }
    return false;
}

static int lower_compare(const char *a, size_t an, const char *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i];
        unsigned char y = (unsigned char)b[i];
        x = (unsigned char)(x >= 'A' && x <= 'Z' ? x + 32 : x);
        y = (unsigned char)(y >= 'A' && y <= 'Z' ? y + 32 : y);
        if (x != y) {
            return x < y ? -1 : 1;
        }
    }
    return an < bn ? -1 : (an > bn ? 1 : 0);
}

/* Writes the sorted, distinct, lowercase names of `hs` joined by ';'. */
static cs_status build_signed_list(const cs_sigv4_header *hs, size_t n, char *dst, size_t cap,
                                   size_t *out_len)
{
    const cs_sigv4_header *last = NULL;
    size_t len = 0;

    for (;;) {
        const cs_sigv4_header *next = NULL;
        for (size_t i = 0; i < n; i++) {
            if (last != NULL &&
                lower_compare(hs[i].name, hs[i].name_len, last->name, last->name_len) <= 0) {
                continue;
            }
            if (next == NULL ||
                lower_compare(hs[i].name, hs[i].name_len, next->name, next->name_len) < 0) {
                next = &hs[i];
            }
        }
        if (next == NULL) {
            break;
        }
        if (next->name_len == 0 || len + next->name_len + 1 > cap) {
            return next->name_len == 0 ? CS_E_INVAL : CS_E_LIMIT;
        }
        if (len > 0) {
            dst[len++] = ';';
        }
        for (size_t k = 0; k < next->name_len; k++) {
            char c = next->name[k];
            dst[len++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        last = next;
    }
    *out_len = len;
    return CS_OK;
}

cs_status cs_sigv4_sign(const cs_sigv4_sign_config *cfg, const cs_sigv4_request *req,
                        char *authorization, size_t cap, size_t *auth_len, cs_sigv4_signature *sig)
{
    cs_sigv4_header hs[CS_SIGV4_MAX_HEADERS];
    char list[CS_SIGV4_MAX_SIGNED_HEADERS_LEN + 1];
    char amz_date[CS_SIGV4_AMZ_DATE_SIZE];
    char payload[CS_SHA256_HEX_SIZE];
    char sig_hex[CS_SHA256_HEX_SIZE];
    uint8_t creq_hash[CS_SHA256_SIZE];
    uint8_t key[CS_SHA256_SIZE];
    uint8_t mac[CS_SHA256_SIZE];
    mbedtls_sha256_context sha;
    struct csi_emit e;
    size_t n = 0, list_len = 0;
    size_t region_len, service_len;
    bool sha_started = false;
    cs_status st;

    if (cfg == NULL || req == NULL || cfg->region == NULL || cfg->service == NULL ||
        cfg->access_key == NULL || cfg->secret_key == NULL || cfg->region[0] == '\0' ||
        cfg->service[0] == '\0' || cfg->access_key[0] == '\0' ||
        (req->headers == NULL && req->header_count > 0) || (authorization == NULL && cap > 0)) {
        return CS_E_INVAL;
    }
    region_len = strlen(cfg->region);
    service_len = strlen(cfg->service);
    st = cs_sigv4_amz_date(cs_clock_wall_ns(cfg->clock), amz_date);
    if (st != CS_OK) {
        goto out;
    }
    st = payload_hash_of(req, payload);
    if (st != CS_OK) {
        goto out;
    }

    /* The headers to sign: the request's (filtered), then the ones the signer supplies. */
    for (size_t i = 0; i < req->header_count; i++) {
        const cs_sigv4_header *h = &req->headers[i];
        if (h->name == NULL || h->name_len == 0 || (h->value == NULL && h->value_len > 0)) {
            st = CS_E_INVAL;
            goto out;
        }
        if (named(h, "x-amz-date") || named(h, "authorization") ||
            (cfg->session_token != NULL && named(h, "x-amz-security-token")) ||
            (cfg->add_content_sha256 && named(h, "x-amz-content-sha256")) ||
            (cfg->signed_headers != NULL && !in_list(cfg->signed_headers, h))) {
            continue;
        }
        if (n == CS_SIGV4_MAX_HEADERS - 3) {
            st = CS_E_LIMIT;
            goto out;
        }
        hs[n++] = *h;
    }
    hs[n++] = (cs_sigv4_header){"x-amz-date", 10, amz_date, 16};
    if (cfg->session_token != NULL) {
        hs[n++] = (cs_sigv4_header){"x-amz-security-token", 20, cfg->session_token,
                                    strlen(cfg->session_token)};
    }
    if (cfg->add_content_sha256) {
        hs[n++] = (cs_sigv4_header){"x-amz-content-sha256", 20, payload, strlen(payload)};
    }
    st = build_signed_list(hs, n, list, sizeof(list) - 1, &list_len);
    if (st != CS_OK) {
        goto out;
    }

    /* Task 1: the canonical request, hashed as it is produced. */
    {
        cs_sigv4_request r = *req;
        r.headers = hs;
        r.header_count = n;
        if (csi_sha256_start(&sha) != 0) {
            mbedtls_sha256_free(&sha);
            st = CS_E_INTERNAL;
            goto out;
        }
        sha_started = true;
        csi_emit_init(&e, &sha, NULL, 0);
        st = csi_sigv4_canonical(&e, &r, list, list_len, cfg->normalize_path, payload,
                                 strlen(payload), false, NULL, NULL);
        if (st == CS_E_MALFORMED) {
            st = CS_E_INVAL; /* a header name the signer cannot put in SignedHeaders */
        }
        if (st == CS_OK) {
            st = csi_emit_status(&e);
        }
        sha_started = false;
        if (st != CS_OK) {
            mbedtls_sha256_free(&sha);
            goto out;
        }
        if (csi_sha256_finish(&sha, creq_hash) != 0) {
            st = CS_E_INTERNAL;
            goto out;
        }
    }

    /* Tasks 2 and 3. */
    st = csi_sigv4_signing_key(cfg->cache, cfg->secret_key, strlen(cfg->secret_key), amz_date,
                               cfg->region, region_len, cfg->service, service_len, key);
    if (st != CS_OK) {
        goto out;
    }
    st = csi_sigv4_signature(key, amz_date, cfg->region, region_len, cfg->service, service_len,
                             creq_hash, mac);
    if (st != CS_OK) {
        goto out;
    }
    (void)cs_hex_encode(mac, sizeof(mac), sig_hex, sizeof(sig_hex), NULL);

    /* Task 4: the header value. The same code path measures and writes. */
    csi_emit_init(&e, NULL, authorization, cap > 0 ? cap - 1 : 0);
    csi_emit_str(&e, "AWS4-HMAC-SHA256 Credential=");
    csi_emit_str(&e, cfg->access_key);
    csi_emit(&e, "/", 1);
    csi_emit(&e, amz_date, 8);
    csi_emit(&e, "/", 1);
    csi_emit(&e, cfg->region, region_len);
    csi_emit(&e, "/", 1);
    csi_emit(&e, cfg->service, service_len);
    csi_emit_str(&e, "/aws4_request, SignedHeaders=");
    csi_emit(&e, list, list_len);
    csi_emit_str(&e, ", Signature=");
    csi_emit(&e, sig_hex, 64);
    if (auth_len != NULL) {
        *auth_len = e.len;
    }
    if (authorization != NULL) {
        st = e.len < cap ? csi_emit_status(&e) : CS_E_NOSPACE;
        if (st != CS_OK) {
            goto out;
        }
        authorization[e.len] = '\0';
    }
    if (sig != NULL) {
        memcpy(sig->amz_date, amz_date, sizeof(amz_date));
        memcpy(sig->payload_hash, payload, sizeof(payload));
    }
out:
    if (sha_started) {
        mbedtls_sha256_free(&sha);
    }
    csi_wipe(key, sizeof(key));
    return st;
}
