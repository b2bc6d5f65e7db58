/* SPDX-License-Identifier: Apache-2.0 */
/* SigV4 signing of the producer's requests: the Host the transport will send, then
 * cs_sigv4_sign() over exactly the headers that go out. See sign.h; invariants in
 * docs/internals/PRODUCER.md, "Transport, credentials, signing". */
#include "sign.h"

#include <string.h>

static char lower(char ch)
{
    return (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
}

static bool ieq(const char *a, const char *b)
{
    while (*a != '\0' && *b != '\0') {
        if (lower(*a) != lower(*b)) {
            return false;
        }
        a++;
        b++;
    }
    return *a == *b;
}

static bool iprefix(const char *s, const char *prefix, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\0' || lower(s[i]) != prefix[i]) {
            return false;
        }
    }
    return true;
}

cs_status csi_sign_url_host(const char *url, char *host, size_t cap, const char **path)
{
    const char *a, *e, *at, *hb, *port = NULL;
    const char *def_port;
    size_t n;

    if (url == NULL || host == NULL || cap == 0) {
        return CS_E_INVAL;
    }
    if (iprefix(url, "http://", 7)) {
        a = url + 7;
        def_port = "80";
    } else if (iprefix(url, "https://", 8)) {
        a = url + 8;
        def_port = "443";
    } else {
        return CS_E_INVAL;
    }
    e = a;
    while (*e != '\0' && *e != '/' && *e != '?' && *e != '#') {
        e++;
    }
    hb = a;
    for (at = a; at < e; at++) {
        if (*at == '@') {
            hb = at + 1; /* userinfo is never sent in Host */
        }
    }
    /* The port: after the last ':' that follows any bracketed IPv6 literal. */
    {
        const char *s = hb, *c;
        if (s < e && *s == '[') {
            const char *rb = memchr(s, ']', (size_t)(e - s));
            if (rb == NULL) {
                return CS_E_INVAL;
            }
            s = rb + 1;
        }
        for (c = s; c < e; c++) {
            if (*c == ':') {
                port = c;
            }
        }
    }
    n = (size_t)(e - hb);
    if (port != NULL) {
        size_t pl = (size_t)(e - port - 1);
        if (pl == 0 || (pl == strlen(def_port) && memcmp(port + 1, def_port, pl) == 0)) {
            n = (size_t)(port - hb);
        }
    }
    if (n == 0 || (port != NULL && port == hb)) {
        return CS_E_INVAL;
    }
    if (n + 1 > cap) {
        return CS_E_NOSPACE;
    }
    memcpy(host, hb, n);
    host[n] = '\0';
    if (path != NULL) {
        *path = e;
    }
    return CS_OK;
}

/* A clock that always answers the one wall-clock time given. */
static uint64_t fixed_ns(void *ctx)
{
    return *(const uint64_t *)ctx;
}

static void no_sleep(void *ctx, uint64_t ns)
{
    (void)ctx;
    (void)ns;
}

cs_status csi_sign_request(const cs_credentials *cr, const char *region, const char *service,
                           const char *method, const char *url, const cs_transport_header *in,
                           size_t n_in, const uint8_t *body, size_t body_len, bool streaming,
                           uint64_t wall_ns, csi_signed_headers *out)
{
    cs_sigv4_header hs[CSI_SIGN_MAX_IN + 1];
    cs_sigv4_request rq;
    cs_sigv4_sign_config sc;
    cs_sigv4_signature sig;
    cs_clock clock;
    const char *path, *q, *pe;
    bool have_host = false;
    size_t n = 0, alen = 0, tl;
    cs_status st;

    if (out == NULL) {
        return CS_E_INVAL;
    }
    memset(out, 0, sizeof(*out));
    if (method == NULL || url == NULL || (in == NULL && n_in > 0) || n_in > CSI_SIGN_MAX_IN ||
        (body == NULL && body_len > 0) || (cr != NULL && (region == NULL || service == NULL))) {
        return CS_E_INVAL;
    }
    for (size_t i = 0; i < n_in; i++) {
        if (in[i].name == NULL || in[i].value == NULL || ieq(in[i].name, "authorization") ||
            ieq(in[i].name, "x-amz-date") || ieq(in[i].name, "x-amz-security-token")) {
            return CS_E_INVAL;
        }
        if (ieq(in[i].name, "host")) {
            have_host = true;
        }
        hs[n++] =
            (cs_sigv4_header){in[i].name, strlen(in[i].name), in[i].value, strlen(in[i].value)};
    }
    st = csi_sign_url_host(url, out->host, sizeof(out->host), &path);
    if (st != CS_OK) {
        return st;
    }
    if (!have_host) {
        out->h[out->count++] = (cs_transport_header){"Host", out->host};
        hs[n++] = (cs_sigv4_header){"host", 4, out->host, strlen(out->host)};
    }
    if (cr == NULL) {
        return CS_OK;
    }
    if (memchr(cr->access_key, '\0', sizeof(cr->access_key)) == NULL ||
        memchr(cr->secret_key, '\0', sizeof(cr->secret_key)) == NULL ||
        memchr(cr->session_token, '\0', sizeof(cr->session_token)) == NULL ||
        cr->access_key[0] == '\0' || cr->secret_key[0] == '\0') {
        memset(out, 0, sizeof(*out));
        return CS_E_INVAL;
    }
    pe = path;
    while (*pe != '\0' && *pe != '?' && *pe != '#') {
        pe++;
    }
    memset(&rq, 0, sizeof(rq));
    rq.method = method;
    rq.method_len = strlen(method);
    rq.path = path;
    rq.path_len = (size_t)(pe - path);
    if (*pe == '?') {
        q = pe + 1;
        rq.query = q;
        while (q[rq.query_len] != '\0' && q[rq.query_len] != '#') {
            rq.query_len++;
        }
    }
    rq.headers = hs;
    rq.header_count = n;
    if (streaming) {
        rq.payload_hash = CS_SIGV4_EMPTY_SHA256;
    } else {
        rq.body = body_len > 0 ? body : NULL;
        rq.body_len = body_len;
    }
    clock = (cs_clock){fixed_ns, fixed_ns, no_sleep, &wall_ns};
    cs_sigv4_sign_config_init(&sc);
    sc.region = region;
    sc.service = service;
    sc.access_key = cr->access_key;
    sc.secret_key = cr->secret_key;
    sc.session_token = cr->session_token[0] != '\0' ? cr->session_token : NULL;
    sc.clock = &clock;
    st = cs_sigv4_sign(&sc, &rq, out->authorization, sizeof(out->authorization), &alen, &sig);
    if (st != CS_OK) {
        memset(out, 0, sizeof(*out));
        return st;
    }
    memcpy(out->amz_date, sig.amz_date, sizeof(out->amz_date));
    out->h[out->count++] = (cs_transport_header){"X-Amz-Date", out->amz_date};
    if (sc.session_token != NULL) {
        tl = strlen(cr->session_token); /* terminated: checked above */
        memcpy(out->token, cr->session_token, tl);
        out->token[tl] = '\0';
        out->h[out->count++] = (cs_transport_header){"X-Amz-Security-Token", out->token};
    }
    out->h[out->count++] = (cs_transport_header){"Authorization", out->authorization};
    return CS_OK;
}
