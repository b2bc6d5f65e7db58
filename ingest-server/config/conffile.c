/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The config file reader (conffile.h): each `key = value` line becomes one "--key=value"
 * argument, checked against the program's option table here so that a wrong key is reported
 * with its line before anything else happens.
 */
#define _POSIX_C_SOURCE 200809L
#include "conffile.h"

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

const char *csi_conf_path(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            break;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        }
    }
    return path;
}

static char *trim(char *s, char *e)
{
    while (s < e && (*s == ' ' || *s == '\t')) {
        s++;
    }
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) {
        e--;
    }
    *e = '\0';
    return s;
}

static bool word_in(const char *v, const char *const *words)
{
    for (; *words != NULL; words++) {
        if (strcmp(v, *words) == 0) {
            return true;
        }
    }
    return false;
}

void csi_conf_free(struct csi_conf *conf)
{
    if (conf == NULL) {
        return;
    }
    for (size_t i = 0; i < conf->n; i++) {
        free(conf->argv[i]);
    }
    free(conf->argv);
    free(conf->lines);
    free(conf->path);
    memset(conf, 0, sizeof(*conf));
}

cs_status csi_conf_parse(const char *text, size_t len, const char *path, const struct option *opts,
                         const char *const *refused, struct csi_conf *out, char *err,
                         size_t err_cap)
{
    static const char *const yes[] = {"true", "yes", "on", "1", NULL};
    static const char *const no[] = {"false", "no", "off", "0", NULL};
    char *buf = NULL;
    size_t pos = 0;
    unsigned line = 0;
    cs_status st = CS_E_MALFORMED;
    struct csi_conf c;

    memset(&c, 0, sizeof(c));
    memset(out, 0, sizeof(*out));
    if (len > CSI_CONF_MAX_BYTES) {
        say(err, err_cap, "the config file %s is larger than %u bytes", path, CSI_CONF_MAX_BYTES);
        return CS_E_LIMIT;
    }
    if (len > 0 && memchr(text, '\0', len) != NULL) {
        say(err, err_cap, "%s: a NUL byte (not a text file?)", path);
        return CS_E_MALFORMED;
    }
    buf = malloc(len + 1);
    c.path = strdup(path);
    if (buf == NULL || c.path == NULL) {
        st = CS_E_NOMEM;
        goto out;
    }
    if (len > 0) {
        memcpy(buf, text, len);
    }
    buf[len] = '\0';
    while (pos < len) {
        char *ln = buf + pos;
        char *nl = strchr(ln, '\n');
        char *end = nl != NULL ? nl : buf + len;
        char *eq, *key, *val;
        const struct option *o;
        char *arg;
        char **na;
        unsigned *nlines;
        size_t need;
        line++;
        pos = (size_t)(end - buf) + 1;
        ln = trim(ln, end);
        if (*ln == '\0' || *ln == '#') {
            continue;
        }
        eq = strchr(ln, '=');
        if (eq == NULL) {
            say(err, err_cap, "%s line %u: expected 'key = value', got '%.60s'", path, line, ln);
            goto out;
        }
        key = trim(ln, eq);
        val = trim(eq + 1, eq + 1 + strlen(eq + 1));
        if (strlen(val) >= 2 && val[0] == '"' && val[strlen(val) - 1] == '"') {
            val[strlen(val) - 1] = '\0';
            val++;
        }
        for (o = opts; o->name != NULL && strcmp(o->name, key) != 0; o++) {
        }
        if (o->name == NULL || (refused != NULL && word_in(key, refused))) {
            say(err, err_cap,
                "%s line %u: unknown key '%.60s' (keys are the long flags of --help without the "
                "leading --)",
                path, line, key);
            goto out;
        }
        if (o->has_arg == no_argument) {
            if (word_in(val, no)) {
                continue;
            }
            if (!word_in(val, yes)) {
                say(err, err_cap, "%s line %u: %s wants true or false, not '%.60s'", path, line,
                    key, val);
                goto out;
            }
            need = strlen(key) + 3;
        } else {
            if (*val == '\0' && o->has_arg == required_argument) {
                say(err, err_cap, "%s line %u: %s wants a value", path, line, key);
                goto out;
            }
            need = strlen(key) + strlen(val) + 4;
        }
        arg = malloc(need);
        na = realloc(c.argv, (c.n + 1) * sizeof(*c.argv));
        if (na != NULL) {
            c.argv = na;
        }
        nlines = realloc(c.lines, (c.n + 1) * sizeof(*c.lines));
        if (nlines != NULL) {
            c.lines = nlines;
        }
        if (arg == NULL || na == NULL || nlines == NULL) {
            free(arg);
            st = CS_E_NOMEM;
            goto out;
        }
        if (o->has_arg == no_argument) {
            snprintf(arg, need, "--%s", key);
        } else {
            snprintf(arg, need, "--%s=%s", key, val);
        }
        c.argv[c.n] = arg;
        c.lines[c.n] = line;
        c.n++;
    }
    *out = c;
    memset(&c, 0, sizeof(c));
    st = CS_OK;
out:
    csi_conf_free(&c);
    free(buf);
    return st;
}

cs_status csi_conf_load(const char *path, const struct option *opts, const char *const *refused,
                        struct csi_conf *out, char *err, size_t err_cap)
{
    FILE *f = NULL;
    char *buf = NULL;
    size_t len = 0;
    size_t cap = 0;
    cs_status st = CS_OK;

    memset(out, 0, sizeof(*out));
    f = fopen(path, "rb");
    if (f == NULL) {
        say(err, err_cap, "cannot read the config file %s: %s", path, strerror(errno));
        return CS_E_IO;
    }
    for (;;) {
        size_t n;
        if (len == cap) {
            char *nb;
            if (cap > CSI_CONF_MAX_BYTES) {
                say(err, err_cap, "the config file %s is larger than %u bytes", path,
                    CSI_CONF_MAX_BYTES);
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
        say(err, err_cap, "cannot read the config file %s", path);
        st = CS_E_IO;
        goto out;
    }
    st = csi_conf_parse(buf, len, path, opts, refused, out, err, err_cap);
out:
    free(buf);
    fclose(f);
    return st;
}

cs_status csi_conf_merge(const struct csi_conf *conf, int argc, char **argv, int *out_argc,
                         char ***out_argv)
{
    size_t n = (size_t)argc + conf->n;
    char **v = calloc(n + 1, sizeof(*v));
    if (v == NULL) {
        return CS_E_NOMEM;
    }
    v[0] = argv[0];
    for (size_t i = 0; i < conf->n; i++) {
        v[1 + i] = conf->argv[i];
    }
    for (int i = 1; i < argc; i++) {
        v[conf->n + (size_t)i] = argv[i];
    }
    *out_argc = (int)n;
    *out_argv = v;
    return CS_OK;
}

unsigned csi_conf_line_of(const struct csi_conf *conf, int index)
{
    if (conf == NULL || index < 1 || (size_t)index > conf->n) {
        return 0;
    }
    return conf->lines[index - 1];
}
