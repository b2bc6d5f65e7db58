/* SPDX-License-Identifier: Apache-2.0 */
/* PutRecords/PutRecord in JSON without a JSON tree (kds_fastjson.h). jansson built ~4 nodes per
 * record, copied every string and was ~40% of the server's time on a 500-record PutRecords. This
 * parser makes one pass over the body and base64-decodes each Data straight into one buffer.
 *
 * It accepts only the shape the SDKs send, each record valid:
 *   {"StreamName":"s","Records":[{"Data":"b64","PartitionKey":"k"[,"ExplicitHashKey":"n"]},...]}
 *   {"StreamName":"s","Data":"b64","PartitionKey":"k"[,"ExplicitHashKey":"n"]
 *    [,"SequenceNumberForOrdering":"n"]}                                        (PutRecord)
 * members in any order, JSON whitespace anywhere, strings of printable ASCII without escapes.
 * Anything else (an escape, a non-ASCII byte, another member, a duplicate member, null, StreamARN,
 * 0 or more than 500 records, an invalid record) returns false and the jansson path runs, with
 * its error messages: so the two paths cannot differ in an answer, only in speed.
 * tests/fuzz/fuzz_kds_fastjson.c checks every accepted body against jansson. */
#include "kds_fastjson.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DATA (1024u * 1024u) /* kds_api.c: "Data is larger than 1 MiB." */

struct cur {
    const char *s, *e;
};

static void ws(struct cur *c)
{
    while (c->s < c->e && (*c->s == ' ' || *c->s == '\t' || *c->s == '\n' || *c->s == '\r')) {
        c->s++;
    }
}

static bool lit(struct cur *c, char ch)
{
    ws(c);
    if (c->s < c->e && *c->s == ch) {
        c->s++;
        return true;
    }
    return false;
}

/* A string of printable ASCII without escapes. */
static bool str(struct cur *c, const char **v, size_t *n)
{
    const char *b;
    ws(c);
    if (c->s >= c->e || *c->s != '"') {
        return false;
    }
    b = ++c->s;
    while (c->s < c->e) {
        unsigned char ch = (unsigned char)*c->s;
        if (ch == '"') {
            *v = b;
            *n = (size_t)(c->s - b);
            c->s++;
            return true;
        }
        if (ch < 0x20 || ch >= 0x80 || ch == '\\') {
            return false;
        }
        c->s++;
    }
    return false;
}

/* Data: the closing quote by memchr; the base64 decoder rejects every byte outside its alphabet
 * (escapes, control characters, non-ASCII), so the string needs no scan of its own. */
static bool data_str(struct cur *c, const char **v, size_t *n)
{
    const char *q;
    ws(c);
    if (c->s >= c->e || *c->s != '"') {
        return false;
    }
    c->s++;
    q = memchr(c->s, '"', (size_t)(c->e - c->s));
    if (q == NULL) {
        return false;
    }
    *v = c->s;
    *n = (size_t)(q - c->s);
    c->s = q + 1;
    return true;
}

static bool key_is(const char *k, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(k, want, n) == 0;
}

struct parse {
    struct cur c;
    csi_kds_fast_put *out;
    size_t used, cap; /* arena */
};

enum { HAVE_DATA = 1, HAVE_KEY = 2, HAVE_HASH = 4, HAVE_NAME = 8, HAVE_RECS = 16, HAVE_SEQ = 32 };

/* One of a record's members (key already read, ':' too); `have` tracks duplicates. */
static bool record_member(struct parse *p, const char *k, size_t kn, csi_kds_put *r, unsigned *have)
{
    const char *v;
    size_t n, got = 0;
    if (key_is(k, kn, "Data")) {
        if ((*have & HAVE_DATA) || !data_str(&p->c, &v, &n)) {
            return false;
        }
        /* decoded <= n * 3 / 4 <= n: the arena (body length) always has room */
        if (csi_kds_base64_decode(v, n, p->out->arena + p->used, p->cap - p->used, &got) != CS_OK ||
            got > MAX_DATA) {
            return false;
        }
        r->data = p->out->arena + p->used;
        r->len = got;
        p->used += got;
        *have |= HAVE_DATA;
        return true;
    }
    if (key_is(k, kn, "PartitionKey")) {
        if ((*have & HAVE_KEY) || !str(&p->c, &v, &n) || n == 0 || n > 256) {
            return false;
        }
        r->partition_key = v;
        r->key_len = n;
        *have |= HAVE_KEY;
        return true;
    }
    if (key_is(k, kn, "ExplicitHashKey")) {
        csi_u128 h;
        char *copy;
        if ((*have & HAVE_HASH) || !str(&p->c, &v, &n) || csi_kds_u128_parse(v, n, &h) != CS_OK ||
            p->cap - p->used < n + 1) {
            return false;
        }
        copy = (char *)p->out->arena + p->used; /* NUL-terminated: the store wants a C string */
        memcpy(copy, v, n);
        copy[n] = '\0';
        p->used += n + 1;
        r->explicit_hash = copy;
        *have |= HAVE_HASH;
        return true;
    }
    return false;
}

static bool record(struct parse *p, csi_kds_put *r)
{
    unsigned have = 0;
    if (!lit(&p->c, '{')) {
        return false;
    }
    do {
        const char *k;
        size_t kn;
        if (!str(&p->c, &k, &kn) || !lit(&p->c, ':') || !record_member(p, k, kn, r, &have)) {
            return false;
        }
    } while (lit(&p->c, ','));
    return lit(&p->c, '}') && (have & (HAVE_DATA | HAVE_KEY)) == (HAVE_DATA | HAVE_KEY);
}

static bool records(struct parse *p)
{
    if (!lit(&p->c, '[')) {
        return false;
    }
    do {
        if (p->out->n == CSI_KDS_FAST_MAX_RECORDS) {
            return false;
        }
        memset(&p->out->recs[p->out->n], 0, sizeof(p->out->recs[0]));
        if (!record(p, &p->out->recs[p->out->n])) {
            return false;
        }
        p->out->n++;
    } while (lit(&p->c, ','));
    return lit(&p->c, ']');
}

static bool parse(struct parse *p, bool single)
{
    unsigned have = 0, rec_have = 0;
    if (!lit(&p->c, '{')) {
        return false;
    }
    if (single) {
        memset(&p->out->recs[0], 0, sizeof(p->out->recs[0]));
    }
    do {
        const char *k, *v;
        size_t kn, n;
        if (!str(&p->c, &k, &kn) || !lit(&p->c, ':')) {
            return false;
        }
        if (key_is(k, kn, "StreamName")) {
            if ((have & HAVE_NAME) || !str(&p->c, &v, &n) || n == 0 ||
                n > CSI_KDS_MAX_STREAM_NAME) {
                return false;
            }
            memcpy(p->out->name, v, n);
            p->out->name[n] = '\0';
            have |= HAVE_NAME;
        } else if (!single && key_is(k, kn, "Records")) {
            if ((have & HAVE_RECS) || !records(p)) {
                return false;
            }
            have |= HAVE_RECS;
        } else if (single && key_is(k, kn, "SequenceNumberForOrdering")) {
            if ((have & HAVE_SEQ) || !str(&p->c, &v, &n)) { /* not used by the put */
                return false;
            }
            have |= HAVE_SEQ;
        } else if (!single || !record_member(p, k, kn, &p->out->recs[0], &rec_have)) {
            return false;
        }
    } while (lit(&p->c, ','));
    if (!lit(&p->c, '}')) {
        return false;
    }
    ws(&p->c);
    if (p->c.s != p->c.e || !(have & HAVE_NAME)) {
        return false;
    }
    if (single) {
        if ((rec_have & (HAVE_DATA | HAVE_KEY)) != (HAVE_DATA | HAVE_KEY)) {
            return false;
        }
        p->out->n = 1;
    }
    return p->out->n > 0;
}

bool csi_kds_fast_put_parse(const char *body, size_t len, bool single, csi_kds_fast_put *out)
{
    struct parse p;
    if (body == NULL || len == 0 || out == NULL) {
        return false;
    }
    out->n = 0;
    out->name[0] = '\0';
    out->arena = malloc(len + 1);
    if (out->arena == NULL) {
        return false;
    }
    p.c.s = body;
    p.c.e = body + len;
    p.out = out;
    p.used = 0;
    p.cap = len + 1;
    if (!parse(&p, single)) {
        csi_kds_fast_put_free(out);
        return false;
    }
    return true;
}

void csi_kds_fast_put_free(csi_kds_fast_put *out)
{
    if (out != NULL) {
        free(out->arena);
        out->arena = NULL;
        out->n = 0;
    }
}
