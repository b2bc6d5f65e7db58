/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the ingest server's auth file parser (ingest-server/api/authfile.c): the
 * input is the file's bytes, copied to an exact-size heap block (no NUL) so AddressSanitizer sees
 * any read past it. On success the parse is checked against the format's rules (every key has a
 * rule; keys, secrets and prefixes hold only the allowed bytes and fit their limits; no key twice)
 * and then written back in canonical form and parsed again, which must give the same keys and
 * rules. csi_api_key_allows() is run on a few names for every key. On failure the message must
 * name a line or say there is no key. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "authfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const struct csi_authfile *a, const struct csi_authfile *b)
{
    if (a->n_keys != b->n_keys || a->n_rules != b->n_rules) {
        return false;
    }
    for (size_t k = 0; k < a->n_keys; k++) {
        const cs_api_credential *x = &a->keys[k], *y = &b->keys[k];
        if (strcmp(x->access_key, y->access_key) != 0 ||
            strcmp(x->secret_key, y->secret_key) != 0 || x->n_rules != y->n_rules) {
            return false;
        }
        for (size_t r = 0; r < x->n_rules; r++) {
            if (x->rules[r].rights != y->rules[r].rights ||
                strcmp(x->rules[r].prefix, y->rules[r].prefix) != 0) {
                return false;
            }
        }
    }
    return true;
}

static void check(const struct csi_authfile *af)
{
    static const char *const names[] = {"", "a", "cam1", "lobby-1", "zzzzzzzz"};
    size_t rules = 0;
    if (af->n_keys == 0) {
        abort();
    }
    for (size_t k = 0; k < af->n_keys; k++) {
        const cs_api_credential *c = &af->keys[k];
        size_t al = strlen(c->access_key), sl = strlen(c->secret_key);
        if (al == 0 || al > CSI_AUTHFILE_MAX_ACCESS_KEY || sl == 0 ||
            sl > CSI_AUTHFILE_MAX_SECRET || c->n_rules == 0 || c->rules != af->rules + rules) {
            abort();
        }
        rules += c->n_rules;
        if (strpbrk(c->access_key, "/,= \t") != NULL) {
            abort();
        }
        for (size_t j = 0; j < k; j++) {
            if (strcmp(af->keys[j].access_key, c->access_key) == 0) {
                abort();
            }
        }
        for (size_t r = 0; r < c->n_rules; r++) {
            const cs_api_rule *rule = &c->rules[r];
            if (rule->rights == 0 || (rule->rights & ~(CS_API_READ | CS_API_WRITE)) != 0 ||
                strlen(rule->prefix) > CSI_AUTHFILE_MAX_PREFIX ||
                strspn(rule->prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789_.-") != strlen(rule->prefix)) {
                abort();
            }
            /* A rule always allows what it names. */
            if (!csi_api_key_allows(c, rule->rights, rule->prefix)) {
                abort();
            }
        }
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            (void)csi_api_key_allows(c, CS_API_READ, names[i]);
            (void)csi_api_key_allows(c, CS_API_WRITE, names[i]);
        }
    }
    if (rules != af->n_rules) {
        abort();
    }
}

/* The canonical text of a parsed file. */
static char *write_back(const struct csi_authfile *af, size_t *len)
{
    size_t cap = 64;
    char *out;
    size_t n = 0;
    for (size_t k = 0; k < af->n_keys; k++) {
        cap += strlen(af->keys[k].access_key) + strlen(af->keys[k].secret_key) + 8;
        for (size_t r = 0; r < af->keys[k].n_rules; r++) {
            cap += strlen(af->keys[k].rules[r].prefix) + 16;
        }
    }
    out = malloc(cap);
    if (out == NULL) {
        return NULL;
    }
    for (size_t k = 0; k < af->n_keys; k++) {
        const cs_api_credential *c = &af->keys[k];
        n += (size_t)snprintf(out + n, cap - n, "key %s %s\n", c->access_key, c->secret_key);
        for (size_t r = 0; r < c->n_rules; r++) {
            unsigned rt = c->rules[r].rights;
            const char *p = c->rules[r].prefix[0] ? c->rules[r].prefix : "*";
            n += (size_t)snprintf(out + n, cap - n, "  %s %s\n",
                                  rt == CS_API_READ    ? "read"
                                  : rt == CS_API_WRITE ? "write"
                                                       : "readwrite",
                                  p);
        }
    }
    *len = n;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    struct csi_authfile af, again;
    char err[256];
    cs_status st;
    if (copy == NULL) {
        return 0;
    }
    if (size) {
        memcpy(copy, data, size);
    }
    st = csi_authfile_parse(copy, size, &af, err, sizeof(err));
    free(copy);
    if (st != CS_OK) {
        if (st != CS_E_MALFORMED && st != CS_E_NOMEM) {
            abort();
        }
        if (st == CS_E_MALFORMED && strncmp(err, "line ", 5) != 0 &&
            strncmp(err, "no 'key", 7) != 0) {
            abort();
        }
        if (af.n_keys != 0 || af.keys != NULL) {
            abort();
        }
        return 0;
    }
    check(&af);
    {
        size_t len = 0;
        char *text = write_back(&af, &len);
        if (text != NULL) {
            if (csi_authfile_parse(text, len, &again, err, sizeof(err)) != CS_OK ||
                !same(&af, &again)) {
                abort();
            }
            csi_authfile_free(&again);
            free(text);
        }
    }
    csi_authfile_free(&af);
    return 0;
}
