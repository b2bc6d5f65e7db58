/* SPDX-License-Identifier: Apache-2.0 */
/* CBOR <-> JSON for the record-stream API (kds_cbor.h): libcbor decodes a request into its item
 * tree, which is walked into jansson values; a JSON response is built back into CBOR items and
 * serialised. Blobs and timestamps are the two places where the protocols differ. */
#include "kds_cbor.h"

#include <cbor.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kds.h"

static const char *const timestamp_fields[] = {
    "ApproximateArrivalTimestamp", "StreamCreationTimestamp", "ConsumerCreationTimestamp"};

static void say(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (why == NULL || cap == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
}

/* The bytes of a (possibly chunked) text or byte string, into a new buffer. */
static cs_status string_bytes(const cbor_item_t *it, bool text, uint8_t **out, size_t *len)
{
    bool definite = text ? cbor_string_is_definite(it) : cbor_bytestring_is_definite(it);
    size_t n = 0, count;
    cbor_item_t **chunks;
    uint8_t *b;
    if (definite) {
        n = text ? cbor_string_length(it) : cbor_bytestring_length(it);
        b = malloc(n + 1);
        if (b == NULL) {
            return CS_E_NOMEM;
        }
        if (n > 0) {
            memcpy(b, text ? cbor_string_handle(it) : cbor_bytestring_handle(it), n);
        }
        b[n] = '\0';
        *out = b;
        *len = n;
        return CS_OK;
    }
    count = text ? cbor_string_chunk_count(it) : cbor_bytestring_chunk_count(it);
    chunks = text ? cbor_string_chunks_handle(it) : cbor_bytestring_chunks_handle(it);
    for (size_t i = 0; i < count; i++) {
        n += text ? cbor_string_length(chunks[i]) : cbor_bytestring_length(chunks[i]);
    }
    b = malloc(n + 1);
    if (b == NULL) {
        return CS_E_NOMEM;
    }
    n = 0;
    for (size_t i = 0; i < count; i++) {
        size_t cl = text ? cbor_string_length(chunks[i]) : cbor_bytestring_length(chunks[i]);
        if (cl > 0) {
            memcpy(b + n, text ? cbor_string_handle(chunks[i]) : cbor_bytestring_handle(chunks[i]),
                   cl);
        }
        n += cl;
    }
    b[n] = '\0';
    *out = b;
    *len = n;
    return CS_OK;
}

static cs_status to_json(const cbor_item_t *it, int depth, json_t **out, char *why, size_t cap)
{
    cs_status st = CS_OK;
    if (depth > CSI_KDS_CBOR_MAX_DEPTH) {
        say(why, cap, "CBOR nested deeper than %d", CSI_KDS_CBOR_MAX_DEPTH);
        return CS_E_MALFORMED;
    }
    switch (cbor_typeof(it)) {
    case CBOR_TYPE_UINT: {
        uint64_t v = cbor_get_int(it);
        if (v > (uint64_t)INT64_MAX) {
            say(why, cap, "integer %llu out of range", (unsigned long long)v);
            return CS_E_MALFORMED;
        }
        *out = json_integer((json_int_t)v);
        break;
    }
    case CBOR_TYPE_NEGINT: {
        uint64_t v = cbor_get_int(it); /* the value is -1 - v */
        if (v > (uint64_t)INT64_MAX) {
            say(why, cap, "negative integer out of range");
            return CS_E_MALFORMED;
        }
        *out = json_integer(-1 - (json_int_t)v);
        break;
    }
    case CBOR_TYPE_STRING:
    case CBOR_TYPE_BYTESTRING: {
        bool text = cbor_typeof(it) == CBOR_TYPE_STRING;
        uint8_t *b = NULL;
        size_t n = 0;
        if ((st = string_bytes(it, text, &b, &n)) != CS_OK) {
            return st;
        }
        if (text) {
            *out = json_stringn((const char *)b, n);
            if (*out == NULL) {
                free(b);
                say(why, cap, "a text string that is not UTF-8");
                return CS_E_MALFORMED;
            }
        } else {
            char *e = malloc(csi_kds_base64_len(n) + 1);
            if (e == NULL) {
                free(b);
                return CS_E_NOMEM;
            }
            csi_kds_base64_encode(b, n, e);
            *out = json_stringn(e, csi_kds_base64_len(n));
            free(e);
        }
        free(b);
        break;
    }
    case CBOR_TYPE_ARRAY: {
        size_t n = cbor_array_size(it);
        cbor_item_t **h = cbor_array_handle(it);
        *out = json_array();
        for (size_t i = 0; *out != NULL && i < n; i++) {
            json_t *v = NULL;
            if ((st = to_json(h[i], depth + 1, &v, why, cap)) != CS_OK) {
                json_decref(*out);
                return st;
            }
            json_array_append_new(*out, v);
        }
        break;
    }
    case CBOR_TYPE_MAP: {
        size_t n = cbor_map_size(it);
        struct cbor_pair *h = cbor_map_handle(it);
        *out = json_object();
        for (size_t i = 0; *out != NULL && i < n; i++) {
            uint8_t *k = NULL;
            size_t kl = 0;
            json_t *v = NULL;
            if (cbor_typeof(h[i].key) != CBOR_TYPE_STRING) {
                json_decref(*out);
                say(why, cap, "a map key that is not a text string");
                return CS_E_MALFORMED;
            }
            if ((st = string_bytes(h[i].key, true, &k, &kl)) != CS_OK ||
                (st = to_json(h[i].value, depth + 1, &v, why, cap)) != CS_OK) {
                free(k);
                json_decref(*out);
                return st;
            }
            if (strlen((const char *)k) != kl) {
                free(k);
                json_decref(v);
                json_decref(*out);
                say(why, cap, "a map key with a NUL byte");
                return CS_E_MALFORMED;
            }
            json_object_set_new(*out, (const char *)k, v);
            free(k);
        }
        break;
    }
    case CBOR_TYPE_TAG: {
        cbor_item_t *inner;
        if (cbor_tag_value(it) != 1) {
            say(why, cap, "CBOR tag %llu is not used by this API",
                (unsigned long long)cbor_tag_value(it));
            return CS_E_MALFORMED;
        }
        inner = cbor_tag_item(it);
        if (cbor_typeof(inner) == CBOR_TYPE_UINT) {
            /* The SDKs send epoch milliseconds in tag 1 (PROTOCOL.md §6). */
            *out = json_real((double)cbor_get_int(inner) / 1000.0);
        } else if (cbor_typeof(inner) == CBOR_TYPE_FLOAT_CTRL && !cbor_float_ctrl_is_ctrl(inner)) {
            *out = json_real(cbor_float_get_float(inner));
        } else {
            cbor_decref(&inner);
            say(why, cap, "a timestamp (tag 1) that is not a number");
            return CS_E_MALFORMED;
        }
        cbor_decref(&inner);
        break;
    }
    case CBOR_TYPE_FLOAT_CTRL:
        /* libcbor asserts on bool/null queries of floats: ask which it is first. */
        if (!cbor_float_ctrl_is_ctrl(it)) {
            double d = cbor_float_get_float(it);
            if (!isfinite(d)) {
                say(why, cap, "a number that is not finite");
                return CS_E_MALFORMED;
            }
            *out = json_real(d);
        } else if (cbor_is_bool(it)) {
            *out = json_boolean(cbor_get_bool(it));
        } else if (cbor_is_null(it)) {
            *out = json_null();
        } else {
            say(why, cap, "a CBOR simple value this API does not use");
            return CS_E_MALFORMED;
        }
        break;
    default:
        say(why, cap, "an unknown CBOR item");
        return CS_E_MALFORMED;
    }
    return *out != NULL ? CS_OK : CS_E_NOMEM;
}

/* libcbor's cbor_load() allocates a container for its declared size before reading its items,
 * so a few bytes declaring 2^40 entries ask for terabytes. This pass walks the items with the
 * streaming decoder (no allocation) and refuses any container declaring more entries than bytes
 * remain, each entry needing at least one. */
struct scan {
    size_t left; /* bytes after the item being decoded */
    bool bad;
};

static void scan_array(void *ctx, size_t n)
{
    struct scan *s = ctx;
    s->bad = s->bad || n > s->left;
}

static void scan_map(void *ctx, size_t n)
{
    struct scan *s = ctx;
    s->bad = s->bad || n > s->left / 2;
}

static bool plausible(const uint8_t *data, size_t len)
{
    struct cbor_callbacks cb = cbor_empty_callbacks;
    struct scan s = {0, false};
    size_t pos = 0;
    cb.array_start = scan_array;
    cb.map_start = scan_map;
    while (pos < len && !s.bad) {
        struct cbor_decoder_result r;
        s.left = len - pos;
        r = cbor_stream_decode(data + pos, len - pos, &cb, &s);
        if (r.status != CBOR_DECODER_FINISHED || r.read == 0) {
            return false;
        }
        pos += r.read;
    }
    return !s.bad;
}

cs_status csi_kds_cbor_to_json(const uint8_t *data, size_t len, json_t **out, char *why,
                               size_t why_cap)
{
    struct cbor_load_result res;
    cbor_item_t *root;
    cs_status st;
    if (out == NULL || (data == NULL && len > 0)) {
        return CS_E_INVAL;
    }
    *out = NULL;
    if (len == 0) {
        say(why, why_cap, "an empty body");
        return CS_E_MALFORMED;
    }
    if (!plausible(data, len)) {
        say(why, why_cap, "not CBOR, or a container larger than the body");
        return CS_E_MALFORMED;
    }
    root = cbor_load(data, len, &res);
    if (root == NULL) {
        if (res.error.code == CBOR_ERR_MEMERROR) {
            return CS_E_NOMEM;
        }
        say(why, why_cap, "not CBOR (error %d at byte %zu)", (int)res.error.code,
            res.error.position);
        return CS_E_MALFORMED;
    }
    if (res.read != len) {
        cbor_decref(&root);
        say(why, why_cap, "%zu bytes after the CBOR item", len - res.read);
        return CS_E_MALFORMED;
    }
    st = to_json(root, 0, out, why, why_cap);
    cbor_decref(&root);
    if (st != CS_OK) {
        /* to_json released what it built; the pointer may be stale */
        *out = NULL;
    }
    return st;
}

static bool is_timestamp_field(const char *key)
{
    for (size_t i = 0; i < sizeof(timestamp_fields) / sizeof(timestamp_fields[0]); i++) {
        if (strcmp(key, timestamp_fields[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Integers in their shortest form (libcbor's build_uint64 always writes 8 bytes). */
static cbor_item_t *build_uint(uint64_t v)
{
    if (v <= UINT8_MAX) {
        return cbor_build_uint8((uint8_t)v);
    }
    if (v <= UINT16_MAX) {
        return cbor_build_uint16((uint16_t)v);
    }
    if (v <= UINT32_MAX) {
        return cbor_build_uint32((uint32_t)v);
    }
    return cbor_build_uint64(v);
}

static cbor_item_t *build_negint(uint64_t v)
{
    if (v <= UINT8_MAX) {
        return cbor_build_negint8((uint8_t)v);
    }
    if (v <= UINT16_MAX) {
        return cbor_build_negint16((uint16_t)v);
    }
    if (v <= UINT32_MAX) {
        return cbor_build_negint32((uint32_t)v);
    }
    return cbor_build_negint64(v);
}

/* Tag 1 around integer epoch milliseconds, as the SDKs read timestamps. */
static cbor_item_t *tag1_ms(uint64_t ms, cs_status *st)
{
    cbor_item_t *t = cbor_new_tag(1), *v = build_uint(ms);
    if (t == NULL || v == NULL) {
        if (t != NULL) {
            cbor_decref(&t);
        }
        if (v != NULL) {
            cbor_decref(&v);
        }
        *st = CS_E_NOMEM;
        return NULL;
    }
    cbor_tag_set_item(t, cbor_move(v));
    return t;
}

static cbor_item_t *from_json(const json_t *v, const char *key, cs_status *st)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        cbor_item_t *m = cbor_new_definite_map(json_object_size(v));
        if (m == NULL) {
            *st = CS_E_NOMEM;
            return NULL;
        }
        json_object_foreach((json_t *)v, k, x)
        {
            cbor_item_t *ck = cbor_build_stringn(k, strlen(k));
            cbor_item_t *cv = ck ? from_json(x, k, st) : NULL;
            if (ck == NULL || cv == NULL) {
                if (ck != NULL) {
                    cbor_decref(&ck);
                }
                if (*st == CS_OK) {
                    *st = CS_E_NOMEM;
                }
                cbor_decref(&m);
                return NULL;
            }
            if (!cbor_map_add(m,
                              (struct cbor_pair){.key = cbor_move(ck), .value = cbor_move(cv)})) {
                *st = CS_E_NOMEM;
                cbor_decref(&m);
                return NULL;
            }
        }
        return m;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        cbor_item_t *a = cbor_new_definite_array(json_array_size(v));
        if (a == NULL) {
            *st = CS_E_NOMEM;
            return NULL;
        }
        json_array_foreach((json_t *)v, i, x)
        {
            cbor_item_t *cv = from_json(x, key, st);
            if (cv == NULL || !cbor_array_push(a, cbor_move(cv))) {
                if (*st == CS_OK) {
                    *st = CS_E_NOMEM;
                }
                cbor_decref(&a);
                return NULL;
            }
        }
        return a;
    }
    case JSON_STRING:
        if (key != NULL && strcmp(key, "Data") == 0) {
            size_t n = json_string_length(v), got = 0;
            uint8_t *b = malloc(n / 4 * 3 + 1);
            cbor_item_t *bs;
            if (b == NULL) {
                *st = CS_E_NOMEM;
                return NULL;
            }
            if (csi_kds_base64_decode(json_string_value(v), n, b, n / 4 * 3 + 1, &got) != CS_OK) {
                free(b);
                *st = CS_E_MALFORMED;
                return NULL;
            }
            bs = cbor_build_bytestring(b, got);
            free(b);
            return bs;
        }
        return cbor_build_stringn(json_string_value(v), json_string_length(v));
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        if (key != NULL && is_timestamp_field(key)) {
            return tag1_ms(i > 0 ? (uint64_t)i * 1000u : 0, st);
        }
        return i >= 0 ? build_uint((uint64_t)i) : build_negint((uint64_t)(-1 - i));
    }
    case JSON_REAL:
        if (key != NULL && is_timestamp_field(key)) {
            double ms = floor(json_real_value(v) * 1000.0 + 0.5);
            return tag1_ms(ms > 0 ? (uint64_t)ms : 0, st);
        }
        return cbor_build_float8(json_real_value(v));
    case JSON_TRUE:
        return cbor_build_bool(true);
    case JSON_FALSE:
        return cbor_build_bool(false);
    default:
        return cbor_new_null();
    }
}

cs_status csi_kds_json_to_cbor(const json_t *doc, uint8_t **out, size_t *len)
{
    cs_status st = CS_OK;
    cbor_item_t *root;
    size_t cap = 0;
    if (doc == NULL || out == NULL || len == NULL) {
        return CS_E_INVAL;
    }
    root = from_json(doc, NULL, &st);
    if (root == NULL) {
        return st == CS_OK ? CS_E_NOMEM : st;
    }
    *out = NULL;
    *len = cbor_serialize_alloc(root, out, &cap);
    cbor_decref(&root);
    if (*len == 0 || *out == NULL) {
        free(*out);
        *out = NULL;
        return CS_E_NOMEM;
    }
    return CS_OK;
}
