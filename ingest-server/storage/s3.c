/* SPDX-License-Identifier: Apache-2.0 */
/* The s3 backend: objects in one bucket of an S3-compatible store, reached with path-style URLs
 * (`<endpoint>/<bucket>/<key>`) over libcurl (one easy handle per call, so calls from many worker
 * threads never share state) and signed with SigV4 (service "s3", x-amz-content-sha256 always).
 * A PUT is atomic at the store, so a streamed put buffers its bytes (up to s3_max_streamed) and
 * sends one PUT at commit: nothing reaches the store before, and an abort sends nothing. */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "camstream/auth.h"
#include "store_int.h"

#define S3_HOST_MAX 256
#define S3_URL_MAX 2048
#define S3_ERRBODY_MAX (16 * 1024)
#define S3_LIST_BODY_MAX (8 * 1024 * 1024)
#define S3_LIST_MAX_KEYS 1000

struct s3_store {
    struct cs_store base;
    char *endpoint; /* scheme://host[:port], no trailing '/' */
    char *bucket;
    char *region;
    char *access_key;
    char *secret_key;
    char *session_token;
    char host[S3_HOST_MAX];
    uint32_t timeout_ms;
    size_t max_streamed;
    const cs_clock *clock;
};

struct s3_writer {
    struct cs_store_writer base;
    char key[CS_STORE_KEY_MAX + 1];
    uint8_t *buf;
    size_t len;
    size_t cap;
};

/* Bytes collected from a response (list bodies, error bodies). */
struct membuf {
    uint8_t *p;
    size_t len;
    size_t cap;
    size_t max;
};

struct s3_req {
    const char *method;
    const char *key;   /* NULL: the bucket itself */
    const char *query; /* NULL: none; already URI-encoded */
    const void *body;
    size_t body_len;
    bool ranged;
    uint64_t range_first;
    uint64_t range_last; /* UINT64_MAX: to the end */
    cs_store_read_fn fn; /* 2xx body goes here when set, else to `out` */
    void *ctx;
    struct membuf *out;
    /* response */
    long code;
    bool have_length;
    uint64_t length; /* Content-Length */
    bool have_total;
    uint64_t total; /* from Content-Range */
    bool started;   /* the body's first byte arrived */
    uint64_t skip;  /* a 200 to a ranged GET: bytes to drop before the range */
    uint64_t remain;
    uint64_t *size_out;
    cs_status cb_status;
    struct membuf err;
    const cs_allocator *alloc;
};

static char *dup_str(const cs_allocator *a, const char *s)
{
    size_t n;
    char *p;

    if (s == NULL) {
        return NULL;
    }
    n = strlen(s);
    p = cs_alloc(a, n + 1);
    if (p != NULL) {
        memcpy(p, s, n + 1);
    }
    return p;
}

static cs_status membuf_add(const cs_allocator *a, struct membuf *m, const void *data, size_t len)
{
    if (len > m->max - m->len) {
        return CS_E_LIMIT;
    }
    if (m->len + len + 1 > m->cap) {
        size_t ncap = m->cap == 0 ? 4096 : m->cap;
        uint8_t *np;
        while (ncap < m->len + len + 1) {
            ncap *= 2;
        }
        np = cs_alloc(a, ncap);
        if (np == NULL) {
            return CS_E_NOMEM;
        }
        if (m->len > 0) {
            memcpy(np, m->p, m->len);
        }
        cs_freep(a, &m->p);
        m->p = np;
        m->cap = ncap;
    }
    memcpy(m->p + m->len, data, len);
    m->len += len;
    m->p[m->len] = '\0';
    return CS_OK;
}

static bool header_is(const char *line, size_t n, const char *name, const char **value)
{
    size_t nl = strlen(name);

    if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':') {
        return false;
    }
    *value = line + nl + 1;
    while (**value == ' ') {
        (*value)++;
    }
    return true;
}

static size_t header_cb(char *line, size_t size, size_t n, void *userdata)
{
    struct s3_req *r = userdata;
    size_t len = size * n;
    const char *v;
    char tmp[128];

    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        const char *sp = memchr(line, ' ', len);
        r->code = sp != NULL ? strtol(sp + 1, NULL, 10) : 0;
        r->have_length = false;
        r->have_total = false;
        return len;
    }
    if (len >= sizeof(tmp)) {
        return len;
    }
    memcpy(tmp, line, len);
    tmp[len] = '\0';
    if (header_is(tmp, len, "content-length", &v)) {
        r->length = strtoull(v, NULL, 10);
        r->have_length = true;
    } else if (header_is(tmp, len, "content-range", &v)) {
        const char *slash = strchr(v, '/');
        if (slash != NULL && slash[1] != '*') {
            r->total = strtoull(slash + 1, NULL, 10);
            r->have_total = true;
        }
    }
    return len;
}

static size_t write_cb(char *data, size_t size, size_t n, void *userdata)
{
    struct s3_req *r = userdata;
    size_t len = size * n;

    if (r->code < 200 || r->code > 299) {
        (void)membuf_add(r->alloc, &r->err, data, len); /* truncated error bodies are fine */
        return len;
    }
    if (r->fn == NULL) {
        r->cb_status = membuf_add(r->alloc, r->out, data, len);
        return r->cb_status == CS_OK ? len : 0;
    }
    if (!r->started) {
        r->started = true;
        if (r->code == 200 && r->ranged) {
            /* The store ignored Range: cut the range out of the whole object ourselves. */
            r->skip = r->range_first;
            r->remain =
                r->range_last == UINT64_MAX ? UINT64_MAX : r->range_last - r->range_first + 1;
        } else {
            r->remain = UINT64_MAX;
        }
        if (r->size_out != NULL) {
            *r->size_out = r->have_total ? r->total : r->length;
        }
    }
    if (r->skip > 0) {
        size_t k = r->skip < len ? (size_t)r->skip : len;
        r->skip -= k;
        data += k;
        len -= k;
    }
    if (len > r->remain) {
        len = (size_t)r->remain;
    }
    if (len > 0) {
        r->remain -= len;
        r->cb_status = r->fn(r->ctx, data, len);
        if (r->cb_status != CS_OK) {
            return 0; /* stops the transfer */
        }
    }
    return size * n;
}

struct upload {
    const uint8_t *p;
    size_t left;
};

static size_t read_cb(char *dst, size_t size, size_t n, void *userdata)
{
    struct upload *u = userdata;
    size_t len = size * n;

    if (len > u->left) {
        len = u->left;
    }
    memcpy(dst, u->p, len);
    u->p += len;
    u->left -= len;
    return len;
}

static cs_status http_status(const struct s3_req *r)
{
    const char *body = r->err.p != NULL ? (const char *)r->err.p : "";

    if (r->code >= 200 && r->code <= 299) {
        return CS_OK;
    }
    if (strstr(body, "QuotaExceeded") != NULL || strstr(body, "InsufficientCapacity") != NULL ||
        r->code == 507) {
        return CS_E_NOSPACE;
    }
    switch (r->code) {
    case 404:
        return CS_E_NOTFOUND;
    case 416:
        return CS_E_RANGE;
    case 403:
        return strstr(body, "AccessDenied") != NULL ? CS_E_PERM : CS_E_AUTH;
    case 400:
        return strstr(body, "EntityTooLarge") != NULL ? CS_E_LIMIT : CS_E_INVAL;
    case 409:
        return CS_E_EXISTS;
    default:
        return r->code >= 500 ? CS_E_IO : CS_E_NET;
    }
}

static struct curl_slist *add_header(struct curl_slist *list, bool *ok, const char *fmt,
                                     const char *value)
{
    char line[1024];
    struct curl_slist *n;

    if (!*ok || snprintf(line, sizeof(line), fmt, value) >= (int)sizeof(line)) {
        *ok = false;
        return list;
    }
    n = curl_slist_append(list, line);
    if (n == NULL) {
        *ok = false;
        return list;
    }
    return n;
}

static cs_status s3_do(struct s3_store *s3, struct s3_req *r)
{
    const cs_logger *log = s3->base.log;
    char url[S3_URL_MAX];
    char path[CS_STORE_KEY_MAX + 128];
    char range[64] = "";
    char auth[1024];
    char hash_hex[CS_SHA256_HEX_SIZE];
    uint8_t hash[CS_SHA256_SIZE];
    cs_sigv4_header hdrs[2];
    size_t nh = 0;
    cs_sigv4_sign_config sc;
    cs_sigv4_request sreq;
    cs_sigv4_signature sig;
    struct curl_slist *hl = NULL;
    struct upload up = {r->body, r->body_len};
    CURL *c = NULL;
    CURLcode cc;
    bool ok = true;
    cs_status s;
    int n;

    r->alloc = s3->base.alloc;
    r->err.max = S3_ERRBODY_MAX;
    r->code = 0;
    r->cb_status = CS_OK;
    n = snprintf(path, sizeof(path), "/%s%s%s", s3->bucket, r->key != NULL ? "/" : "",
                 r->key != NULL ? r->key : "");
    if (n < 0 || (size_t)n >= sizeof(path)) {
        return CS_E_INVAL;
    }
    n = snprintf(url, sizeof(url), "%s%s%s%s", s3->endpoint, path, r->query != NULL ? "?" : "",
                 r->query != NULL ? r->query : "");
    if (n < 0 || (size_t)n >= sizeof(url)) {
        return CS_E_INVAL;
    }
    hdrs[nh++] = (cs_sigv4_header){"host", 4, s3->host, strlen(s3->host)};
    if (r->ranged) {
        if (r->range_last == UINT64_MAX) {
            snprintf(range, sizeof(range), "bytes=%llu-", (unsigned long long)r->range_first);
        } else {
            snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)r->range_first,
                     (unsigned long long)r->range_last);
        }
        hdrs[nh++] = (cs_sigv4_header){"range", 5, range, strlen(range)};
    }
    if (r->body_len > 0) {
        s = cs_sha256(r->body, r->body_len, hash);
        if (s == CS_OK) {
            s = cs_hex_encode(hash, sizeof(hash), hash_hex, sizeof(hash_hex), NULL);
        }
        if (s != CS_OK) {
            return s;
        }
    } else {
        memcpy(hash_hex, CS_SIGV4_EMPTY_SHA256, sizeof(hash_hex));
    }
    cs_sigv4_sign_config_init(&sc);
    sc.region = s3->region;
    sc.service = "s3";
    sc.access_key = s3->access_key;
    sc.secret_key = s3->secret_key;
    sc.session_token = s3->session_token;
    sc.add_content_sha256 = true;
    sc.normalize_path = false; /* S3 signs the path as sent */
    sc.clock = s3->clock;
    memset(&sreq, 0, sizeof(sreq));
    sreq.method = r->method;
    sreq.method_len = strlen(r->method);
    sreq.path = path;
    sreq.path_len = strlen(path);
    sreq.query = r->query;
    sreq.query_len = r->query != NULL ? strlen(r->query) : 0;
    sreq.headers = hdrs;
    sreq.header_count = nh;
    sreq.payload_hash = hash_hex;
    s = cs_sigv4_sign(&sc, &sreq, auth, sizeof(auth), NULL, &sig);
    if (s != CS_OK) {
        CS_LOG_ERROR(log, CSI_STORE_MODULE, "s3: signing failed: %s", cs_status_str(s));
        return s;
    }
    hl = add_header(hl, &ok, "Host: %s", s3->host);
    hl = add_header(hl, &ok, "Authorization: %s", auth);
    hl = add_header(hl, &ok, "X-Amz-Date: %s", sig.amz_date);
    hl = add_header(hl, &ok, "x-amz-content-sha256: %s", sig.payload_hash);
    if (s3->session_token != NULL) {
        hl = add_header(hl, &ok, "X-Amz-Security-Token: %s", s3->session_token);
    }
    if (r->ranged) {
        hl = add_header(hl, &ok, "Range: %s", range);
    }
    hl = add_header(hl, &ok, "Expect:%s", ""); /* no 100-continue round trip */
    if (!ok) {
        s = CS_E_NOMEM;
        goto out;
    }
    c = curl_easy_init();
    if (c == NULL) {
        s = CS_E_NOMEM;
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)s3->timeout_ms);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    if (strcmp(r->method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
    }
    cc = curl_easy_perform(c);
    if (cc == CURLE_WRITE_ERROR && r->cb_status != CS_OK) {
        s = r->cb_status;
    } else if (cc != CURLE_OK) {
        CS_LOG_WARN(log, CSI_STORE_MODULE, "s3: %s %s: %s", r->method, path,
                    curl_easy_strerror(cc));
        s = cc == CURLE_OUT_OF_MEMORY ? CS_E_NOMEM
                                      : (cc == CURLE_OPERATION_TIMEDOUT ? CS_E_TIMEOUT : CS_E_NET);
    } else {
        s = http_status(r);
        if (s != CS_OK && r->code != 404 && r->code != 416) {
            CS_LOG_WARN(log, CSI_STORE_MODULE, "s3: %s %s: HTTP %ld %.200s", r->method, path,
                        r->code, r->err.p != NULL ? (const char *)r->err.p : "");
        }
    }
out:
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    cs_freep(s3->base.alloc, &r->err.p);
    return s;
}

static cs_status s3_put(cs_store *st, const char *key, const void *data, size_t len)
{
    struct s3_req r;

    memset(&r, 0, sizeof(r));
    r.method = "PUT";
    r.key = key;
    r.body = data;
    r.body_len = len;
    return s3_do((struct s3_store *)st, &r);
}

static cs_status s3_writer_open(cs_store *st, const char *key, cs_store_writer **out)
{
    struct s3_writer *w = cs_calloc(st->alloc, 1, sizeof(*w));

    if (w == NULL) {
        return CS_E_NOMEM;
    }
    memcpy(w->key, key, strlen(key) + 1);
    *out = &w->base;
    return CS_OK;
}

static cs_status s3_writer_write(cs_store_writer *base, const void *data, size_t len)
{
    struct s3_writer *w = (struct s3_writer *)base;
    struct s3_store *s3 = (struct s3_store *)base->st;
    struct membuf m = {w->buf, w->len, w->cap, s3->max_streamed};
    cs_status s = membuf_add(base->st->alloc, &m, data, len);

    w->buf = m.p;
    w->len = m.len;
    w->cap = m.cap;
    return s;
}

static void s3_writer_abort(cs_store_writer *base)
{
    struct s3_writer *w = (struct s3_writer *)base;
    const cs_allocator *a = base->st->alloc;

    cs_freep(a, &w->buf);
    cs_freep(a, &w);
}

static cs_status s3_writer_commit(cs_store_writer *base)
{
    struct s3_writer *w = (struct s3_writer *)base;
    cs_status s = s3_put(base->st, w->key, w->buf, w->len);

    s3_writer_abort(base);
    return s;
}

static cs_status s3_head(cs_store *st, const char *key, uint64_t *size)
{
    struct s3_req r;
    cs_status s;

    memset(&r, 0, sizeof(r));
    r.method = "HEAD";
    r.key = key;
    s = s3_do((struct s3_store *)st, &r);
    if (s == CS_OK) {
        *size = r.length;
    }
    return s;
}

static cs_status s3_read(cs_store *st, const char *key, uint64_t offset, uint64_t length,
                         cs_store_read_fn fn, void *ctx, uint64_t *size)
{
    struct s3_req r;
    uint64_t sz = 0;
    cs_status s;

    if (length == 0) {
        s = s3_head(st, key, &sz);
        if (s == CS_OK && size != NULL) {
            *size = sz;
        }
        return s == CS_OK && offset > sz ? CS_E_RANGE : s;
    }
    memset(&r, 0, sizeof(r));
    r.method = "GET";
    r.key = key;
    r.fn = fn;
    r.ctx = ctx;
    r.size_out = size;
    if (offset > 0 || length != UINT64_MAX) {
        r.ranged = true;
        r.range_first = offset;
        r.range_last = length > UINT64_MAX - offset ? UINT64_MAX : offset + length - 1;
    }
    s = s3_do((struct s3_store *)st, &r);
    if (s == CS_E_RANGE) {
        /* 416: offset at or past the end (or an empty object). At the end is an empty read. */
        s = s3_head(st, key, &sz);
        if (s == CS_OK) {
            if (size != NULL) {
                *size = sz;
            }
            s = offset == sz ? CS_OK : CS_E_RANGE;
        }
    } else if (s == CS_OK && !r.started && size != NULL) {
        *size = r.have_total ? r.total : r.length; /* an empty body */
    }
    return s;
}

static cs_status s3_del(cs_store *st, const char *key)
{
    struct s3_req r;
    cs_status s;

    memset(&r, 0, sizeof(r));
    r.method = "DELETE";
    r.key = key;
    s = s3_do((struct s3_store *)st, &r);
    return s == CS_E_NOTFOUND ? CS_OK : s;
}

/* Appends `s` URI-encoded (AWS rules: unreserved bytes as they are, the rest %XX). */
static bool query_add(char *q, size_t cap, size_t *len, const char *name, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = *len;
    const char *v;

    if (n > 0) {
        if (n + 1 >= cap) {
            return false;
        }
        q[n++] = '&';
    }
    if (n + strlen(name) + 1 >= cap) {
        return false;
    }
    memcpy(q + n, name, strlen(name));
    n += strlen(name);
    q[n++] = '=';
    for (v = value; *v != '\0'; v++) {
        unsigned char ch = (unsigned char)*v;
        bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~';
        if (n + 4 >= cap) {
            return false;
        }
        if (plain) {
            q[n++] = (char)ch;
        } else {
            q[n++] = '%';
            q[n++] = hex[ch >> 4];
            q[n++] = hex[ch & 15];
        }
    }
    q[n] = '\0';
    *len = n;
    return true;
}

/* The text of <tag>...</tag> at or after `p`, before `end`; NULL when absent. */
static const char *xml_find(const char *p, const char *end, const char *tag, size_t *len)
{
    char open[32];
    char close[32];
    const char *a;
    const char *b;

    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    a = strstr(p, open);
    if (a == NULL || a >= end) {
        return NULL;
    }
    a += strlen(open);
    b = strstr(a, close);
    if (b == NULL || b > end) {
        return NULL;
    }
    *len = (size_t)(b - a);
    return a;
}

/* Copies XML text, decoding the five predefined entities. */
static bool xml_text(const char *s, size_t len, char *dst, size_t cap)
{
    static const struct {
        const char *ent;
        char ch;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    size_t i = 0;
    size_t n = 0;
    size_t e;

    while (i < len) {
        char ch = s[i];
        size_t adv = 1;
        if (ch == '&') {
            for (e = 0; e < sizeof(ents) / sizeof(ents[0]); e++) {
                size_t el = strlen(ents[e].ent);
                if (len - i >= el && memcmp(s + i, ents[e].ent, el) == 0) {
                    ch = ents[e].ch;
                    adv = el;
                    break;
                }
            }
        }
        if (n + 1 >= cap) {
            return false;
        }
        dst[n++] = ch;
        i += adv;
    }
    dst[n] = '\0';
    return true;
}

static cs_status s3_list(cs_store *st, const char *prefix, const char *start_after,
                         cs_store_entry *entries, size_t cap, size_t *count, bool *more)
{
    struct s3_store *s3 = (struct s3_store *)st;
    struct membuf body = {NULL, 0, 0, S3_LIST_BODY_MAX};
    char query[3 * 2 * CS_STORE_KEY_MAX + 128];
    char maxk[24];
    size_t qlen = 0;
    struct s3_req r;
    const char *p;
    const char *end;
    const char *v;
    size_t vlen;
    size_t n = 0;
    cs_status s;

    /* Parameters in sorted order, as the canonical request will have them. */
    snprintf(maxk, sizeof(maxk), "%zu", cap < S3_LIST_MAX_KEYS ? cap : (size_t)S3_LIST_MAX_KEYS);
    if (!query_add(query, sizeof(query), &qlen, "list-type", "2") ||
        !query_add(query, sizeof(query), &qlen, "max-keys", maxk) ||
        (prefix[0] != '\0' && !query_add(query, sizeof(query), &qlen, "prefix", prefix)) ||
        (start_after[0] != '\0' &&
         !query_add(query, sizeof(query), &qlen, "start-after", start_after))) {
        return CS_E_INVAL;
    }
    memset(&r, 0, sizeof(r));
    r.method = "GET";
    r.query = query;
    r.out = &body;
    s = s3_do(s3, &r);
    if (s != CS_OK) {
        goto out;
    }
    if (body.p == NULL) {
        s = CS_E_MALFORMED;
        goto out;
    }
    p = (const char *)body.p;
    end = p + body.len;
    if (strstr(p, "<ListBucketResult") == NULL) {
        s = CS_E_MALFORMED;
        goto out;
    }
    while ((p = strstr(p, "<Contents>")) != NULL) {
        const char *cend = strstr(p, "</Contents>");
        if (cend == NULL) {
            s = CS_E_MALFORMED;
            goto out;
        }
        if (n == cap) {
            *more = true; /* more than asked for: keep the page to cap */
            break;
        }
        v = xml_find(p, cend, "Key", &vlen);
        if (v == NULL || !xml_text(v, vlen, entries[n].key, sizeof(entries[n].key))) {
            s = CS_E_MALFORMED;
            goto out;
        }
        v = xml_find(p, cend, "Size", &vlen);
        entries[n].size = v != NULL ? strtoull(v, NULL, 10) : 0;
        n++;
        p = cend + strlen("</Contents>");
    }
    v = xml_find((const char *)body.p, end, "IsTruncated", &vlen);
    if (v != NULL && vlen == 4 && memcmp(v, "true", 4) == 0) {
        *more = true;
    }
    *count = n;
out:
    cs_freep(st->alloc, &body.p);
    return s;
}

static cs_status s3_stat(cs_store *st, cs_store_stats *out)
{
    struct s3_req r;

    (void)out; /* an object store does not tell its free space */
    memset(&r, 0, sizeof(r));
    r.method = "HEAD";
    return s3_do((struct s3_store *)st, &r);
}

static void s3_destroy(cs_store *st)
{
    struct s3_store *s3 = (struct s3_store *)st;
    const cs_allocator *a = st->alloc;

    cs_freep(a, &s3->endpoint);
    cs_freep(a, &s3->bucket);
    cs_freep(a, &s3->region);
    cs_freep(a, &s3->access_key);
    if (s3->secret_key != NULL) {
        memset(s3->secret_key, 0, strlen(s3->secret_key));
    }
    cs_freep(a, &s3->secret_key);
    cs_freep(a, &s3->session_token);
    cs_freep(a, &s3);
    curl_global_cleanup();
}

static const struct csi_store_ops s3_ops = {
    .name = "s3",
    .destroy = s3_destroy,
    .put = s3_put,
    .writer_open = s3_writer_open,
    .writer_write = s3_writer_write,
    .writer_commit = s3_writer_commit,
    .writer_abort = s3_writer_abort,
    .read = s3_read,
    .head = s3_head,
    .del = s3_del,
    .list = s3_list,
    .stat = s3_stat,
};

static bool bucket_ok(const char *b)
{
    size_t i;
    size_t n = strlen(b);

    if (n < 3 || n > 63) {
        return false;
    }
    for (i = 0; i < n; i++) {
        char ch = b[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.')) {
            return false;
        }
    }
    return true;
}

cs_status csi_store_s3_create(const cs_store_config *cfg, cs_store **out)
{
    const cs_allocator *a = cfg->allocator != NULL ? cfg->allocator : cs_allocator_default();
    const cs_logger *log = cfg->logger != NULL ? cfg->logger : cs_logger_default();
    struct s3_store *s3 = NULL;
    const char *h;
    size_t hl;
    size_t el;
    cs_status s;

    if (cfg->s3_endpoint == NULL || cfg->s3_bucket == NULL || cfg->s3_access_key == NULL ||
        cfg->s3_secret_key == NULL || cfg->s3_region == NULL || !bucket_ok(cfg->s3_bucket)) {
        CS_LOG_ERROR(log, CSI_STORE_MODULE, "s3: endpoint, a valid bucket and keys are required");
        return CS_E_INVAL;
    }
    h = strstr(cfg->s3_endpoint, "://");
    if (h == NULL || (strncmp(cfg->s3_endpoint, "http://", 7) != 0 &&
                      strncmp(cfg->s3_endpoint, "https://", 8) != 0)) {
        return CS_E_INVAL;
    }
    h += 3;
    hl = strcspn(h, "/");
    if (hl == 0 || hl >= S3_HOST_MAX || (h[hl] != '\0' && strcmp(h + hl, "/") != 0)) {
        return CS_E_INVAL; /* no path in the endpoint */
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return CS_E_INTERNAL;
    }
    s3 = cs_calloc(a, 1, sizeof(*s3));
    if (s3 == NULL) {
        curl_global_cleanup();
        return CS_E_NOMEM;
    }
    s3->base.ops = &s3_ops;
    s3->base.alloc = a;
    s3->base.log = log;
    memcpy(s3->host, h, hl);
    s3->host[hl] = '\0';
    s3->timeout_ms = cfg->s3_timeout_ms;
    s3->max_streamed = cfg->s3_max_streamed;
    s3->clock = cfg->clock;
    s3->endpoint = dup_str(a, cfg->s3_endpoint);
    s3->bucket = dup_str(a, cfg->s3_bucket);
    s3->region = dup_str(a, cfg->s3_region);
    s3->access_key = dup_str(a, cfg->s3_access_key);
    s3->secret_key = dup_str(a, cfg->s3_secret_key);
    s3->session_token = dup_str(a, cfg->s3_session_token);
    if (s3->endpoint == NULL || s3->bucket == NULL || s3->region == NULL ||
        s3->access_key == NULL || s3->secret_key == NULL ||
        (cfg->s3_session_token != NULL && s3->session_token == NULL)) {
        s = CS_E_NOMEM;
        goto out;
    }
    el = strlen(s3->endpoint);
    if (el > 0 && s3->endpoint[el - 1] == '/') {
        s3->endpoint[el - 1] = '\0';
    }
    if (cfg->s3_create_bucket) {
        struct s3_req r;
        memset(&r, 0, sizeof(r));
        r.method = "PUT";
        s = s3_do(s3, &r);
        if (s == CS_E_EXISTS) {
            s = CS_OK; /* BucketAlreadyOwnedByYou */
        }
    } else {
        cs_store_stats unused;
        s = s3_stat(&s3->base, &unused);
    }
    if (s != CS_OK) {
        CS_LOG_ERROR(log, CSI_STORE_MODULE, "s3: bucket %s at %s unusable: %s", cfg->s3_bucket,
                     cfg->s3_endpoint, cs_status_str(s));
        goto out;
    }
    *out = &s3->base;
    s3 = NULL; /* the caller owns it */
out:
    if (s3 != NULL) {
        s3_destroy(&s3->base);
    }
    return s;
}
