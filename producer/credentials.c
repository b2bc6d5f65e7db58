/* SPDX-License-Identifier: Apache-2.0 */
/* The producer's credentials: resolving the source once (config, environment, shared credentials
 * file), the INI reader of that file, and handing out (refreshing) credentials for each signed
 * request. See credentials.h; invariants in docs/internals/PRODUCER.md, "Transport, credentials,
 * signing". */
#include "credentials.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Wipes memory in a way the compiler may not drop. */
static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n-- > 0) {
        *v++ = 0;
    }
}

const char *csi_creds_source_str(enum csi_creds_source source)
{
    switch (source) {
    case CSI_CREDS_ANONYMOUS:
        return "anonymous";
    case CSI_CREDS_CALLBACK:
        return "callback";
    case CSI_CREDS_STATIC:
        return "static";
    case CSI_CREDS_ENV:
        return "environment";
    case CSI_CREDS_FILE:
        return "file";
    }
    return "unknown";
}

void csi_creds_clear(csi_creds *c)
{
    if (c == NULL) {
        return;
    }
    wipe(c, sizeof(*c));
    c->source = CSI_CREDS_ANONYMOUS;
}

/* Copies a NUL-terminated string of at most `max` bytes into dst[max + 1]. */
static cs_status copy_field(char *dst, size_t max, const char *src, size_t len)
{
    if (len > max) {
        return CS_E_INVAL;
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
    return CS_OK;
}

static cs_status set_creds(cs_credentials *out, const char *ak, const char *sk, const char *tok)
{
    cs_status st;
    memset(out, 0, sizeof(*out));
    st = copy_field(out->access_key, CS_CREDENTIALS_KEY_MAX, ak, strlen(ak));
    if (st == CS_OK) {
        st = copy_field(out->secret_key, CS_CREDENTIALS_KEY_MAX, sk, strlen(sk));
    }
    if (st == CS_OK && tok != NULL) {
        st = copy_field(out->session_token, CS_CREDENTIALS_TOKEN_MAX, tok, strlen(tok));
    }
    if (st != CS_OK) {
        wipe(out, sizeof(*out));
    }
    return st;
}

/* ---------------------------------------------------------------------------------------------- */
/* INI                                                                                            */
/* ---------------------------------------------------------------------------------------------- */

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\v' || ch == '\f';
}

static char lower(char ch)
{
    return (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
}

/* Trims blanks (and a final '\r') from both ends of [*b, *e). */
static void trim(const char **b, const char **e)
{
    while (*b < *e && is_blank(**b)) {
        (*b)++;
    }
    while (*e > *b && (is_blank((*e)[-1]) || (*e)[-1] == '\r')) {
        (*e)--;
    }
}

static bool key_is(const char *k, size_t kl, const char *name)
{
    size_t n = strlen(name);
    if (kl != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (lower(k[i]) != name[i]) {
            return false;
        }
    }
    return true;
}

cs_status csi_creds_parse_ini(const char *text, size_t len, const char *profile,
                              cs_credentials *out, bool *found)
{
    const char *p, *end;
    bool in_section = false, in_profile = false, have_key = false, seen = false;
    bool have_ak = false, have_sk = false;
    size_t plen;
    cs_status st = CS_OK;

    if ((text == NULL && len > 0) || profile == NULL || out == NULL || found == NULL) {
        return CS_E_INVAL;
    }
    memset(out, 0, sizeof(*out));
    *found = false;
    plen = strlen(profile);
    if (len == 0) {
        return CS_OK;
    }
    p = text;
    end = text + len;
    if (memchr(text, '\0', len) != NULL) {
        return CS_E_MALFORMED;
    }
    if (len >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB &&
        (unsigned char)p[2] == 0xBF) {
        p += 3;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl != NULL ? nl : end;
        const char *b = p, *e = le;
        p = nl != NULL ? nl + 1 : end;

        if (b < e && is_blank(*b) && have_key) {
            continue; /* an indented line after a key continues its value */
        }
        trim(&b, &e);
        if (b == e || *b == '#' || *b == ';') {
            continue;
        }
        if (*b == '[') {
            const char *cl = memchr(b, ']', (size_t)(e - b));
            const char *nb = b + 1, *ne;
            if (cl == NULL || cl + 1 != e) {
                return CS_E_MALFORMED;
            }
            ne = cl;
            trim(&nb, &ne);
            if (nb == ne) {
                return CS_E_MALFORMED;
            }
            in_section = true;
            have_key = false;
            in_profile = (size_t)(ne - nb) == plen && memcmp(nb, profile, plen) == 0;
            if (in_profile) {
                seen = true;
            }
            continue;
        }
        {
            const char *eq = b, *kb = b, *ke, *vb, *ve = e;
            while (eq < e && *eq != '=' && *eq != ':') {
                eq++;
            }
            if (eq == e || !in_section) {
                return CS_E_MALFORMED;
            }
            ke = eq;
            vb = eq + 1;
            trim(&kb, &ke);
            trim(&vb, &ve);
            if (kb == ke) {
                return CS_E_MALFORMED;
            }
            have_key = true;
            if (!in_profile || st != CS_OK) {
                continue;
            }
            if (key_is(kb, (size_t)(ke - kb), "aws_access_key_id")) {
                st = copy_field(out->access_key, CS_CREDENTIALS_KEY_MAX, vb, (size_t)(ve - vb));
                have_ak = ve > vb;
            } else if (key_is(kb, (size_t)(ke - kb), "aws_secret_access_key")) {
                st = copy_field(out->secret_key, CS_CREDENTIALS_KEY_MAX, vb, (size_t)(ve - vb));
                have_sk = ve > vb;
            } else if (key_is(kb, (size_t)(ke - kb), "aws_session_token")) {
                st =
                    copy_field(out->session_token, CS_CREDENTIALS_TOKEN_MAX, vb, (size_t)(ve - vb));
            }
        }
    }
    /* The whole text parsed: a too-long field of the profile is the answer now. */
    if (st != CS_OK) {
        wipe(out, sizeof(*out));
        return st;
    }
    if (!seen || !have_ak || !have_sk) {
        wipe(out, sizeof(*out));
        return CS_OK;
    }
    *found = true;
    return CS_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* Resolving                                                                                      */
/* ---------------------------------------------------------------------------------------------- */

static const char *nonempty_env(const char *name)
{
    const char *v = getenv(name);
    return (v != NULL && v[0] != '\0') ? v : NULL;
}

/* Reads the whole file through `alloc`. NOTFOUND when it cannot be opened. */
static cs_status read_file(const cs_allocator *alloc, const char *path, char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *b = NULL;
    size_t n = 0, cap = 4096;
    cs_status st = CS_OK;

    *buf = NULL;
    *len = 0;
    if (f == NULL) {
        return CS_E_NOTFOUND;
    }
    b = cs_alloc(alloc, cap);
    if (b == NULL) {
        st = CS_E_NOMEM;
        goto out;
    }
    for (;;) {
        size_t got;
        if (n == cap) {
            char *nb;
            if (cap >= CSI_CREDS_FILE_MAX) {
                st = CS_E_MALFORMED;
                goto out;
            }
            nb = cs_alloc(alloc, cap * 2);
            if (nb == NULL) {
                st = CS_E_NOMEM;
                goto out;
            }
            memcpy(nb, b, n);
            wipe(b, n);
            cs_freep(alloc, &b);
            b = nb;
            cap *= 2;
        }
        got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                st = CS_E_MALFORMED;
                goto out;
            }
            break;
        }
    }
    *buf = b;
    *len = n;
    b = NULL;
out:
    if (b != NULL) {
        wipe(b, n);
        cs_freep(alloc, &b);
    }
    fclose(f);
    return st;
}

static cs_status from_file(csi_creds *c, const cs_producer_config *cfg)
{
    const cs_allocator *alloc = cfg->allocator;
    const char *path = cfg->credentials_file, *profile = cfg->profile;
    bool explicit_file = path != NULL && path[0] != '\0';
    bool explicit_profile;
    char home_path[4096];
    char *buf = NULL;
    size_t len = 0;
    bool found = false;
    cs_status st;

    if (!explicit_file) {
        path = nonempty_env("AWS_SHARED_CREDENTIALS_FILE");
        explicit_file = path != NULL;
    }
    if (path == NULL) {
        const char *home = nonempty_env("HOME");
        int w;
        if (home == NULL) {
            return CS_OK;
        }
        w = snprintf(home_path, sizeof(home_path), "%s/.aws/credentials", home);
        if (w < 0 || (size_t)w >= sizeof(home_path)) {
            return CS_OK;
        }
        path = home_path;
    }
    if (profile == NULL || profile[0] == '\0') {
        profile = nonempty_env("AWS_PROFILE");
    }
    explicit_profile = profile != NULL;
    if (profile == NULL) {
        profile = "default";
    }
    st = read_file(alloc, path, &buf, &len);
    if (st == CS_E_NOTFOUND) {
        return explicit_file ? CS_E_NOTFOUND : CS_OK;
    }
    if (st != CS_OK) {
        return st;
    }
    st = csi_creds_parse_ini(buf, len, profile, &c->cur, &found);
    wipe(buf, len);
    cs_freep(alloc, &buf);
    if (st != CS_OK) {
        return st;
    }
    if (!found) {
        return (explicit_file || explicit_profile) ? CS_E_NOTFOUND : CS_OK;
    }
    c->source = CSI_CREDS_FILE;
    c->have = true;
    return CS_OK;
}

cs_status csi_creds_init(csi_creds *c, const cs_producer_config *cfg)
{
    cs_status st = CS_OK;

    if (c == NULL) {
        return CS_E_INVAL;
    }
    csi_creds_clear(c);
    if (cfg == NULL) {
        return CS_E_INVAL;
    }
    if (cfg->anonymous) {
        return CS_OK;
    }
    if (cfg->credentials_fn != NULL) {
        c->source = CSI_CREDS_CALLBACK;
        c->fn = cfg->credentials_fn;
        c->fn_ctx = cfg->credentials_ctx;
        return CS_OK;
    }
    if (cfg->access_key != NULL || cfg->secret_key != NULL) {
        if (cfg->access_key == NULL || cfg->secret_key == NULL || cfg->access_key[0] == '\0' ||
            cfg->secret_key[0] == '\0') {
            return CS_E_INVAL;
        }
        st = set_creds(&c->cur, cfg->access_key, cfg->secret_key, cfg->session_token);
        if (st == CS_OK) {
            c->source = CSI_CREDS_STATIC;
            c->have = true;
        }
        return st;
    }
    if (cfg->use_environment) {
        const char *ak = nonempty_env("AWS_ACCESS_KEY_ID");
        const char *sk = nonempty_env("AWS_SECRET_ACCESS_KEY");
        if (ak != NULL && sk != NULL) {
            st = set_creds(&c->cur, ak, sk, nonempty_env("AWS_SESSION_TOKEN"));
            if (st == CS_OK) {
                c->source = CSI_CREDS_ENV;
                c->have = true;
            }
            return st;
        }
    }
    st = from_file(c, cfg);
    if (st != CS_OK) {
        csi_creds_clear(c);
    }
    return st;
}

/* ---------------------------------------------------------------------------------------------- */
/* Handing out                                                                                    */
/* ---------------------------------------------------------------------------------------------- */

static bool terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

cs_status csi_creds_get(csi_creds *c, uint64_t wall_ns, const cs_credentials **out)
{
    if (c == NULL || out == NULL) {
        return CS_E_INVAL;
    }
    *out = NULL;
    switch (c->source) {
    case CSI_CREDS_ANONYMOUS:
        return CS_OK;
    case CSI_CREDS_STATIC:
    case CSI_CREDS_ENV:
    case CSI_CREDS_FILE:
        *out = &c->cur;
        return CS_OK;
    case CSI_CREDS_CALLBACK:
        break;
    }
    {
        uint64_t exp = c->cur.expiration_wall_ns;
        bool valid = c->have && (exp == 0 || exp > wall_ns);
        bool fresh = c->have && (exp == 0 || exp - wall_ns > CSI_CREDS_REFRESH_NS);
        cs_status st;

        if (valid && fresh) {
            *out = &c->cur;
            return CS_OK;
        }
        memset(&c->next, 0, sizeof(c->next));
        st = c->fn(c->fn_ctx, &c->next);
        if (st == CS_OK && terminated(c->next.access_key, sizeof(c->next.access_key)) &&
            terminated(c->next.secret_key, sizeof(c->next.secret_key)) &&
            terminated(c->next.session_token, sizeof(c->next.session_token)) &&
            c->next.access_key[0] != '\0' && c->next.secret_key[0] != '\0') {
            c->cur = c->next;
            c->have = true;
            wipe(&c->next, sizeof(c->next));
            *out = &c->cur;
            return CS_OK;
        }
        wipe(&c->next, sizeof(c->next));
        if (valid) {
            *out = &c->cur;
            return CS_OK;
        }
        return CS_E_AUTH;
    }
}
