/* SPDX-License-Identifier: Apache-2.0 */
/* The storage module's front: configuration defaults, the key grammar every backend shares,
 * argument checks, the sticky error of writers, and dispatch to the backend's vtable. Whole and
 * ranged gets are built here on the backend's streamed read. */
#include <string.h>

#include "store_int.h"

void cs_store_config_init(cs_store_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    memset(cfg, 0, sizeof(*cfg));
    cfg->kind = CS_STORE_FS;
    cfg->s3_region = "us-east-1";
    cfg->s3_timeout_ms = 30000;
    cfg->s3_max_streamed = (size_t)256 * 1024 * 1024;
}

const char *cs_store_kind_str(cs_store_kind kind)
{
    switch (kind) {
    case CS_STORE_FS:
        return "fs";
    case CS_STORE_S3:
        return "s3";
    }
    return "unknown";
}

cs_status cs_store_create(const cs_store_config *cfg, cs_store **out)
{
    if (out == NULL) {
        return CS_E_INVAL;
    }
    *out = NULL;
    if (cfg == NULL) {
        return CS_E_INVAL;
    }
    switch (cfg->kind) {
    case CS_STORE_FS:
        return csi_store_fs_create(cfg, out);
    case CS_STORE_S3:
        return csi_store_s3_create(cfg, out);
    }
    return CS_E_INVAL;
}

void cs_store_destroy(cs_store **st)
{
    if (st == NULL || *st == NULL) {
        return;
    }
    (*st)->ops->destroy(*st);
    *st = NULL;
}

static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == '/';
}

cs_status cs_store_key_check(const char *key)
{
    size_t i;

    if (key == NULL || key[0] == '\0') {
        return CS_E_INVAL;
    }
    for (i = 0; key[i] != '\0'; i++) {
        if (i >= CS_STORE_KEY_MAX || !key_char(key[i])) {
            return CS_E_INVAL;
        }
        /* At the start of each segment: not empty ("//", leading '/'), not hidden ('.', "..") */
        if (i == 0 || key[i - 1] == '/') {
            if (key[i] == '/' || key[i] == '.') {
                return CS_E_INVAL;
            }
        }
    }
    if (key[i - 1] == '/' || strstr(key, ".tmp.") != NULL) {
        return CS_E_INVAL;
    }
    return CS_OK;
}

/* A prefix or start_after need not be a whole key, but no key could start with one that breaks
 * the grammar's segment rules ("/x", "a//", "../"), so those are refused as the mistakes they are.
 */
static cs_status partial_key_check(const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        if (i >= CS_STORE_KEY_MAX || !key_char(s[i])) {
            return CS_E_INVAL;
        }
        if ((i == 0 || s[i - 1] == '/') && (s[i] == '/' || s[i] == '.')) {
            return CS_E_INVAL;
        }
    }
    return CS_OK;
}

cs_status cs_store_put(cs_store *st, const char *key, const void *data, size_t len)
{
    cs_store_writer *w = NULL;
    cs_status s;

    if (st == NULL || (data == NULL && len > 0)) {
        return CS_E_INVAL;
    }
    if (st->ops->put != NULL) {
        s = cs_store_key_check(key);
        return s == CS_OK ? st->ops->put(st, key, data, len) : s;
    }
    s = cs_store_writer_open(st, key, &w);
    if (s != CS_OK) {
        return s;
    }
    s = cs_store_writer_write(w, data, len);
    if (s != CS_OK) {
        cs_store_writer_abort(&w);
        return s;
    }
    return cs_store_writer_commit(&w);
}

cs_status cs_store_writer_open(cs_store *st, const char *key, cs_store_writer **out)
{
    cs_status s;

    if (out == NULL) {
        return CS_E_INVAL;
    }
    *out = NULL;
    if (st == NULL) {
        return CS_E_INVAL;
    }
    s = cs_store_key_check(key);
    if (s != CS_OK) {
        return s;
    }
    s = st->ops->writer_open(st, key, out);
    if (s == CS_OK) {
        (*out)->st = st;
        (*out)->error = CS_OK;
    }
    return s;
}

cs_status cs_store_writer_write(cs_store_writer *w, const void *data, size_t len)
{
    if (w == NULL || (data == NULL && len > 0)) {
        return CS_E_INVAL;
    }
    if (w->error != CS_OK) {
        return w->error;
    }
    if (len > 0) {
        w->error = w->st->ops->writer_write(w, data, len);
    }
    return w->error;
}

cs_status cs_store_writer_commit(cs_store_writer **w)
{
    cs_store_writer *wr;

    if (w == NULL || *w == NULL) {
        return CS_E_INVAL;
    }
    wr = *w;
    *w = NULL;
    if (wr->error != CS_OK) {
        cs_status s = wr->error;
        wr->st->ops->writer_abort(wr);
        return s;
    }
    return wr->st->ops->writer_commit(wr);
}

void cs_store_writer_abort(cs_store_writer **w)
{
    if (w == NULL || *w == NULL) {
        return;
    }
    (*w)->st->ops->writer_abort(*w);
    *w = NULL;
}

struct copy_ctx {
    uint8_t *buf;
    size_t cap;
    size_t len;
    bool whole; /* overflow is CS_E_NOSPACE (a whole get), else the read just stops */
};

static cs_status copy_fn(void *ctx, const void *data, size_t len)
{
    struct copy_ctx *c = ctx;

    if (len > c->cap - c->len) {
        if (c->whole) {
            return CS_E_NOSPACE;
        }
        len = c->cap - c->len;
    }
    if (len > 0) {
        memcpy(c->buf + c->len, data, len);
        c->len += len;
    }
    return CS_OK;
}

cs_status cs_store_get(cs_store *st, const char *key, void *buf, size_t cap, size_t *len)
{
    struct copy_ctx c = {buf, cap, 0, true};
    uint64_t size = 0;
    cs_status s;

    if (len == NULL) {
        return CS_E_INVAL;
    }
    *len = 0;
    if (st == NULL || (buf == NULL && cap > 0)) {
        return CS_E_INVAL;
    }
    s = cs_store_key_check(key);
    if (s != CS_OK) {
        return s;
    }
    s = st->ops->read(st, key, 0, UINT64_MAX, copy_fn, &c, &size);
    if (s == CS_E_NOSPACE) {
        *len = size > SIZE_MAX ? SIZE_MAX : (size_t)size;
    } else if (s == CS_OK) {
        *len = c.len;
    }
    return s;
}

cs_status cs_store_get_range(cs_store *st, const char *key, uint64_t offset, void *buf, size_t cap,
                             size_t *len)
{
    struct copy_ctx c = {buf, cap, 0, false};
    cs_status s;

    if (len == NULL) {
        return CS_E_INVAL;
    }
    *len = 0;
    if (st == NULL || (buf == NULL && cap > 0)) {
        return CS_E_INVAL;
    }
    s = cs_store_key_check(key);
    if (s != CS_OK) {
        return s;
    }
    s = st->ops->read(st, key, offset, (uint64_t)cap, copy_fn, &c, NULL);
    if (s == CS_OK) {
        *len = c.len;
    }
    return s;
}

cs_status cs_store_get_stream(cs_store *st, const char *key, uint64_t offset, uint64_t length,
                              cs_store_read_fn fn, void *ctx, uint64_t *size)
{
    cs_status s;

    if (st == NULL || fn == NULL) {
        return CS_E_INVAL;
    }
    s = cs_store_key_check(key);
    if (s != CS_OK) {
        return s;
    }
    return st->ops->read(st, key, offset, length, fn, ctx, size);
}

cs_status cs_store_head(cs_store *st, const char *key, uint64_t *size)
{
    uint64_t dummy;
    cs_status s;

    if (st == NULL) {
        return CS_E_INVAL;
    }
    s = cs_store_key_check(key);
    if (s != CS_OK) {
        return s;
    }
    return st->ops->head(st, key, size != NULL ? size : &dummy);
}

cs_status cs_store_delete(cs_store *st, const char *key)
{
    cs_status s;

    if (st == NULL) {
        return CS_E_INVAL;
    }
    s = cs_store_key_check(key);
    if (s != CS_OK) {
        return s;
    }
    return st->ops->del(st, key);
}

cs_status cs_store_list(cs_store *st, const char *prefix, const char *start_after,
                        cs_store_entry *entries, size_t cap, size_t *count, bool *more)
{
    if (count != NULL) {
        *count = 0;
    }
    if (more != NULL) {
        *more = false;
    }
    if (st == NULL || entries == NULL || cap == 0 || count == NULL || more == NULL) {
        return CS_E_INVAL;
    }
    if (prefix == NULL) {
        prefix = "";
    }
    if (start_after == NULL) {
        start_after = "";
    }
    if (partial_key_check(prefix) != CS_OK || partial_key_check(start_after) != CS_OK) {
        return CS_E_INVAL;
    }
    return st->ops->list(st, prefix, start_after, entries, cap, count, more);
}

cs_status cs_store_stat(cs_store *st, cs_store_stats *out)
{
    if (st == NULL || out == NULL) {
        return CS_E_INVAL;
    }
    memset(out, 0, sizeof(*out));
    return st->ops->stat(st, out);
}

cs_status cs_store_prepare(cs_store *st, const char *prefix)
{
    char key[CS_STORE_KEY_MAX + 2];
    size_t n = prefix != NULL ? strlen(prefix) : 0;
    cs_status s;

    if (st == NULL || n == 0 || n >= CS_STORE_KEY_MAX || prefix[n - 1] != '/') {
        return CS_E_INVAL;
    }
    memcpy(key, prefix, n);
    key[n] = 'x';
    key[n + 1] = '\0';
    s = cs_store_key_check(key);
    if (s != CS_OK || st->ops->prepare == NULL) {
        return s;
    }
    return st->ops->prepare(st, prefix);
}
