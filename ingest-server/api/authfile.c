/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The auth file parser (authfile.h): one copy of the file's bytes, split in place into NUL-ended
 * tokens, so keys, secrets and prefixes need no allocation of their own; strict about every byte
 * (the file holds secrets, and a typo must not silently widen or narrow anyone's rights).
 */
#define _POSIX_C_SOURCE 200809L
#include "authfile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void say(char *err, size_t cap, const char *fmt, ...) CS_PRINTF(3, 4);

static void say(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || cap == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* A visible ASCII byte (what secrets may hold). */
static bool is_visible(char c)
{
    return c > 0x20 && c < 0x7f;
}

/* The bytes the SigV4 credential parser accepts in an access key. */
static bool access_key_ok(const char *s, size_t n)
{
    if (n == 0 || n > CSI_AUTHFILE_MAX_ACCESS_KEY) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_visible(s[i]) || s[i] == '/' || s[i] == ',' || s[i] == '=') {
            return false;
        }
    }
    return true;
}

/* A stream-name prefix: the characters of a stream name ([a-zA-Z0-9_.-]). */
static bool prefix_ok(const char *s, size_t n)
{
    if (n == 0 || n > CSI_AUTHFILE_MAX_PREFIX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-')) {
            return false;
        }
    }
    return true;
}

static void wipe(char *p, size_t n)
{
    volatile char *v = p;
    while (n--) {
        *v++ = 0;
    }
}

void csi_authfile_free(struct csi_authfile *af)
{
    if (af == NULL) {
        return;
    }
    if (af->text != NULL) {
        wipe(af->text, af->text_len); /* secrets live here */
    }
    free(af->text);
    free(af->keys);
    free(af->rules);
    memset(af, 0, sizeof(*af));
}

/* Appends one element to a growing array. */
static bool grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    void *na;
    size_t nc;
    if (n < *cap) {
        return true;
    }
    nc = *cap ? *cap * 2 : 8;
    if (cs_mul_size(nc, elem, &(size_t){0}) != CS_OK) {
        return false;
    }
    na = realloc(*arr, nc * elem);
    if (na == NULL) {
        return false;
    }
    *arr = na;
    *cap = nc;
    return true;
}

cs_status csi_authfile_parse(const char *text, size_t len, struct csi_authfile *out, char *err,
                             size_t err_cap)
{
    struct csi_authfile af;
    size_t key_cap = 0, rule_cap = 0;
    size_t *first_rule = NULL; /* per key: index of its first rule (fixed up at the end) */
    size_t *key_line = NULL;
    size_t fr_cap = 0, kl_cap = 0;
    size_t pos = 0;
    unsigned line = 0;
    cs_status st = CS_E_MALFORMED;

    memset(&af, 0, sizeof(af));
    memset(out, 0, sizeof(*out));
    say(err, err_cap, "no error");
    if (text == NULL && len > 0) {
        return CS_E_INVAL;
    }
    af.text = malloc(len + 1);
    if (af.text == NULL) {
        return CS_E_NOMEM;
    }
    if (len > 0) {
        memcpy(af.text, text, len);
    }
    af.text[len] = '\0';
    af.text_len = len;

    while (pos < len) {
        char *tok[4];
        size_t tlen[4];
        size_t nt = 0;
        size_t end = pos;
        line++;
        while (end < len && af.text[end] != '\n') {
            if (af.text[end] == '\0') {
                say(err, err_cap, "line %u: a NUL byte (is this a text file?)", line);
                goto out;
            }
            end++;
        }
        if (end > pos && af.text[end - 1] == '\r') {
            af.text[end - 1] = '\0'; /* CRLF files */
        }
        af.text[end < len ? end : len] = '\0';
        /* Tokens: runs of bytes other than space/tab; anything else but visible bytes is
         * refused. A '#' first on the line makes it a comment. */
        for (size_t i = pos; af.text[i] != '\0';) {
            size_t j;
            if (is_space(af.text[i])) {
                i++;
                continue;
            }
            if (nt == 0 && af.text[i] == '#') {
                break;
            }
            if (nt == 4) {
                say(err, err_cap, "line %u: too many words", line);
                goto out;
            }
            j = i;
            while (af.text[j] != '\0' && !is_space(af.text[j])) {
                if (!is_visible(af.text[j])) {
                    say(err, err_cap, "line %u: byte 0x%02x is not printable ASCII", line,
                        (unsigned)(unsigned char)af.text[j]);
                    goto out;
                }
                j++;
            }
            tok[nt] = af.text + i;
            tlen[nt] = j - i;
            nt++;
            if (af.text[j] != '\0') {
                af.text[j] = '\0';
                j++;
            }
            i = j;
        }
        pos = end + 1;
        if (nt == 0) {
            continue;
        }
        if (strcmp(tok[0], "key") == 0) {
            if (nt != 3) {
                say(err, err_cap, "line %u: 'key' wants ACCESS_KEY SECRET_KEY", line);
                goto out;
            }
            if (!access_key_ok(tok[1], tlen[1])) {
                say(err, err_cap,
                    "line %u: the access key must be 1..%d printable characters other than "
                    "'/', ',' and '='",
                    line, CSI_AUTHFILE_MAX_ACCESS_KEY);
                goto out;
            }
            if (tlen[2] > CSI_AUTHFILE_MAX_SECRET) {
                say(err, err_cap, "line %u: the secret key is longer than %d bytes", line,
                    CSI_AUTHFILE_MAX_SECRET);
                goto out;
            }
            if (af.n_keys > 0 && af.n_rules == first_rule[af.n_keys - 1]) {
                say(err, err_cap,
                    "line %zu: key %s has no rule (add 'read PREFIX' and/or 'write PREFIX' "
                    "lines after it)",
                    key_line[af.n_keys - 1], af.keys[af.n_keys - 1].access_key);
                goto out;
            }
            for (size_t k = 0; k < af.n_keys; k++) {
                if (strcmp(af.keys[k].access_key, tok[1]) == 0) {
                    say(err, err_cap, "line %u: access key %s is already defined on line %zu", line,
                        tok[1], key_line[k]);
                    goto out;
                }
            }
            if (!grow((void **)&af.keys, &key_cap, af.n_keys, sizeof(*af.keys)) ||
                !grow((void **)&first_rule, &fr_cap, af.n_keys, sizeof(*first_rule)) ||
                !grow((void **)&key_line, &kl_cap, af.n_keys, sizeof(*key_line))) {
                st = CS_E_NOMEM;
                goto out;
            }
            af.keys[af.n_keys] = (cs_api_credential){tok[1], tok[2], NULL, 0};
            first_rule[af.n_keys] = af.n_rules;
            key_line[af.n_keys] = line;
            af.n_keys++;
        } else if (strcmp(tok[0], "read") == 0 || strcmp(tok[0], "write") == 0 ||
                   strcmp(tok[0], "readwrite") == 0) {
            unsigned rights = tok[0][4] == '\0'   ? CS_API_READ
                              : tok[0][5] == '\0' ? CS_API_WRITE
                                                  : CS_API_READ | CS_API_WRITE;
            const char *prefix = tok[1];
            if (nt != 2) {
                say(err, err_cap, "line %u: '%s' wants one PREFIX (a stream name prefix, or *)",
                    line, tok[0]);
                goto out;
            }
            if (af.n_keys == 0) {
                say(err, err_cap, "line %u: '%s' before any 'key' line", line, tok[0]);
                goto out;
            }
            if (strcmp(prefix, "*") == 0) {
                prefix = "";
            } else if (!prefix_ok(prefix, tlen[1])) {
                say(err, err_cap,
                    "line %u: the prefix must be * or 1..%d characters of a stream name "
                    "(a-z A-Z 0-9 _ . -)",
                    line, CSI_AUTHFILE_MAX_PREFIX);
                goto out;
            }
            if (!grow((void **)&af.rules, &rule_cap, af.n_rules, sizeof(*af.rules))) {
                st = CS_E_NOMEM;
                goto out;
            }
            af.rules[af.n_rules++] = (cs_api_rule){rights, prefix};
        } else {
            say(err, err_cap,
                "line %u: unknown word '%.40s' (expected key, read, write, readwrite or #)", line,
                tok[0]);
            goto out;
        }
    }
    if (af.n_keys == 0) {
        say(err, err_cap, "no 'key ACCESS_KEY SECRET_KEY' line");
        goto out;
    }
    if (af.n_rules == first_rule[af.n_keys - 1]) {
        say(err, err_cap,
            "line %zu: key %s has no rule (add 'read PREFIX' and/or 'write PREFIX' lines after it)",
            key_line[af.n_keys - 1], af.keys[af.n_keys - 1].access_key);
        goto out;
    }
    for (size_t k = 0; k < af.n_keys; k++) {
        size_t end_rule = k + 1 < af.n_keys ? first_rule[k + 1] : af.n_rules;
        af.keys[k].rules = af.rules + first_rule[k];
        af.keys[k].n_rules = end_rule - first_rule[k];
    }
    *out = af;
    memset(&af, 0, sizeof(af));
    st = CS_OK;
out:
    free(first_rule);
    free(key_line);
    if (af.text != NULL) {
        /* Tokens were NUL-split: wipe the whole buffer, not up to the first NUL. */
        wipe(af.text, len);
    }
    free(af.text);
    free(af.keys);
    free(af.rules);
    return st;
}

cs_status csi_authfile_load(const char *path, struct csi_authfile *out, char *err, size_t err_cap)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    cs_status st = CS_OK;
    char why[200];
    memset(out, 0, sizeof(*out));
    if (f == NULL) {
        say(err, err_cap, "cannot read %s: %s", path, strerror(errno));
        return CS_E_IO;
    }
    for (;;) {
        size_t n;
        if (len == cap) {
            char *nb;
            if (cap >= CSI_AUTHFILE_MAX_BYTES) {
                say(err, err_cap, "%s is larger than %u bytes", path, CSI_AUTHFILE_MAX_BYTES);
                st = CS_E_LIMIT;
                goto out;
            }
            cap = cap ? cap * 2 : 4096;
            nb = realloc(buf, cap);
            if (nb == NULL) {
                st = CS_E_NOMEM;
                goto out;
            }
            buf = nb;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            break;
        }
    }
    if (ferror(f)) {
        say(err, err_cap, "cannot read %s", path);
        st = CS_E_IO;
        goto out;
    }
    st = csi_authfile_parse(buf, len, out, why, sizeof(why));
    if (st != CS_OK) {
        say(err, err_cap, "%s, %s", path, st == CS_E_NOMEM ? "out of memory" : why);
    }
out:
    if (buf != NULL) {
        wipe(buf, cap);
    }
    free(buf);
    fclose(f);
    return st;
}
