/* SPDX-License-Identifier: Apache-2.0 */
/* PutMedia ack events (PROTOCOL.md §3): the formatter the ingest server uses to answer a PutMedia
 * upload and the strict, bounded parser the producer (and the server's tests) use to read those
 * answers. It lives in mkv/ because that is the lowest module both sides link. A hand-written
 * scanner, not a JSON library: the grammar is one flat object of strings and unsigned integers,
 * and every byte of input is looked at once. */
#include <stdio.h>
#include <string.h>

#include "camstream/kvs_ack.h"

static const char *const type_names[] = {"?",         "BUFFERING", "RECEIVED",
                                         "PERSISTED", "ERROR",     "IDLE"};

const char *cs_kvs_ack_type_str(cs_kvs_ack_type type)
{
    if ((unsigned)type >= sizeof(type_names) / sizeof(type_names[0])) {
        return "?";
    }
    return type_names[type];
}

static bool all_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

cs_status cs_kvs_ack_set_number(cs_kvs_ack *ack, const char *digits, size_t len)
{
    if (ack == NULL || (digits == NULL && len > 0)) {
        return CS_E_INVAL;
    }
    if (len > CS_KVS_FRAGMENT_NUMBER_MAX) {
        return CS_E_LIMIT;
    }
    if (!all_digits(digits, len)) {
        return CS_E_INVAL;
    }
    if (len > 0) {
        memcpy(ack->fragment_number, digits, len);
    }
    ack->fragment_number[len] = '\0';
    ack->fragment_number_len = len;
    return CS_OK;
}

cs_status cs_kvs_ack_format(const cs_kvs_ack *ack, char *dst, size_t cap, size_t *len)
{
    char line[CS_KVS_ACK_MAX_LINE];
    int n;
    size_t used;

    if (ack == NULL || len == NULL) {
        return CS_E_INVAL;
    }
    if (ack->type < CS_KVS_ACK_BUFFERING || ack->type > CS_KVS_ACK_IDLE ||
        ack->fragment_number_len > CS_KVS_FRAGMENT_NUMBER_MAX ||
        !all_digits(ack->fragment_number, ack->fragment_number_len) ||
        (ack->type == CS_KVS_ACK_ERROR) != (ack->error_id != 0)) {
        return CS_E_INVAL;
    }
    /* The longest line is about 200 bytes, far below the local buffer: snprintf cannot cut. */
    n = snprintf(line, sizeof(line), "{\"EventType\":\"%s\"", cs_kvs_ack_type_str(ack->type));
    used = (size_t)n;
    if (ack->has_timecode) {
        n = snprintf(line + used, sizeof(line) - used, ",\"FragmentTimecode\":%llu",
                     (unsigned long long)ack->fragment_timecode);
        used += (size_t)n;
    }
    if (ack->fragment_number_len > 0) {
        n = snprintf(line + used, sizeof(line) - used, ",\"FragmentNumber\":\"%.*s\"",
                     (int)ack->fragment_number_len, ack->fragment_number);
        used += (size_t)n;
    }
    if (ack->type == CS_KVS_ACK_ERROR) {
        n = snprintf(line + used, sizeof(line) - used, ",\"ErrorId\":%lu",
                     (unsigned long)ack->error_id);
        used += (size_t)n;
    }
    line[used++] = '}';
    line[used++] = '\n';
    *len = used;
    if (dst == NULL) {
        return CS_OK;
    }
    if (cap < used) {
        return CS_E_NOSPACE;
    }
    memcpy(dst, line, used);
    if (cap > used) {
        dst[used] = '\0';
    }
    return CS_OK;
}

/* ---- parser ---- */

typedef struct scan {
    const char *p;
    const char *end;
} scan;

static void skip_ws(scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) {
        s->p++;
    }
}

static bool eat(scan *s, char c)
{
    skip_ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

/* A string without escapes or control characters; returns its bytes. */
static bool scan_string(scan *s, const char **str, size_t *len)
{
    const char *start;

    if (!eat(s, '"')) {
        return false;
    }
    start = s->p;
    while (s->p < s->end && *s->p != '"') {
        unsigned char c = (unsigned char)*s->p;
        if (c < 0x20 || c == '\\' || c >= 0x7F) {
            return false;
        }
        s->p++;
    }
    if (s->p == s->end) {
        return false;
    }
    *str = start;
    *len = (size_t)(s->p - start);
    s->p++;
    return true;
}

/* An unsigned decimal integer without sign, fraction, exponent or leading zeros. */
static bool scan_uint(scan *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    const char *start;

    skip_ws(s);
    start = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
        unsigned d = (unsigned)(*s->p - '0');
        if (v > (max - d) / 10) {
            return false;
        }
        v = v * 10 + d;
        s->p++;
    }
    if (s->p == start || (s->p - start > 1 && *start == '0')) {
        return false;
    }
    if (s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E')) {
        return false;
    }
    *out = v;
    return true;
}

static bool scan_word(scan *s, const char *w)
{
    size_t n = strlen(w);

    skip_ws(s);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0) {
        return false;
    }
    s->p += n;
    return true;
}

static bool key_is(const char *k, size_t klen, const char *name)
{
    return klen == strlen(name) && memcmp(k, name, klen) == 0;
}

/* The value of a key we do not know: a scalar, skipped. */
static bool skip_value(scan *s)
{
    const char *str;
    size_t len;
    uint64_t v;

    skip_ws(s);
    if (s->p == s->end) {
        return false;
    }
    switch (*s->p) {
    case '"':
        return scan_string(s, &str, &len);
    case 't':
        return scan_word(s, "true");
    case 'f':
        return scan_word(s, "false");
    case 'n':
        return scan_word(s, "null");
    default:
        return scan_uint(s, UINT64_MAX, &v);
    }
}

static cs_kvs_ack_type type_from(const char *s, size_t len)
{
    for (unsigned t = CS_KVS_ACK_BUFFERING; t <= CS_KVS_ACK_IDLE; t++) {
        if (key_is(s, len, type_names[t])) {
            return (cs_kvs_ack_type)t;
        }
    }
    return CS_KVS_ACK_NONE;
}

cs_status cs_kvs_ack_parse(const char *line, size_t len, cs_kvs_ack *ack)
{
    scan s;
    bool seen_type = false, seen_number = false, seen_error = false;

    if (ack == NULL || (line == NULL && len > 0)) {
        return CS_E_INVAL;
    }
    memset(ack, 0, sizeof(*ack));
    if (len > CS_KVS_ACK_MAX_LINE) {
        return CS_E_LIMIT;
    }
    s.p = line;
    s.end = line + len;
    if (!eat(&s, '{')) {
        return CS_E_MALFORMED;
    }
    if (!eat(&s, '}')) {
        do {
            const char *key, *str;
            size_t klen, slen;
            uint64_t v;

            if (!scan_string(&s, &key, &klen) || !eat(&s, ':')) {
                return CS_E_MALFORMED;
            }
            if (key_is(key, klen, "EventType")) {
                if (seen_type || !scan_string(&s, &str, &slen)) {
                    return CS_E_MALFORMED;
                }
                ack->type = type_from(str, slen);
                if (ack->type == CS_KVS_ACK_NONE) {
                    return CS_E_MALFORMED;
                }
                seen_type = true;
            } else if (key_is(key, klen, "FragmentTimecode")) {
                if (ack->has_timecode || !scan_uint(&s, UINT64_MAX, &v)) {
                    return CS_E_MALFORMED;
                }
                ack->fragment_timecode = v;
                ack->has_timecode = true;
            } else if (key_is(key, klen, "FragmentNumber")) {
                if (seen_number || !scan_string(&s, &str, &slen) || slen == 0 ||
                    cs_kvs_ack_set_number(ack, str, slen) != CS_OK) {
                    return CS_E_MALFORMED;
                }
                seen_number = true;
            } else if (key_is(key, klen, "ErrorId")) {
                if (seen_error || !scan_uint(&s, UINT32_MAX, &v)) {
                    return CS_E_MALFORMED;
                }
                ack->error_id = (uint32_t)v;
                seen_error = true;
            } else if (!skip_value(&s)) {
                return CS_E_MALFORMED;
            }
        } while (eat(&s, ','));
        if (!eat(&s, '}')) {
            return CS_E_MALFORMED;
        }
    }
    skip_ws(&s);
    if (s.p != s.end || !seen_type) {
        return CS_E_MALFORMED;
    }
    switch (ack->type) {
    case CS_KVS_ACK_BUFFERING:
    case CS_KVS_ACK_RECEIVED:
    case CS_KVS_ACK_PERSISTED:
        if (!ack->has_timecode || seen_error) {
            return CS_E_MALFORMED;
        }
        break;
    case CS_KVS_ACK_ERROR:
        if (!seen_error || ack->error_id == 0) {
            return CS_E_MALFORMED;
        }
        break;
    default:
        if (seen_error) {
            return CS_E_MALFORMED;
        }
        break;
    }
    return CS_OK;
}
