/* SPDX-License-Identifier: Apache-2.0 */
/* Record-stream metadata in SQLite (kds_meta.h): kds_streams, kds_shards (hash ranges as
 * decimal text, lineage, closed + end offset), kds_tags, in the index database file. One
 * connection behind a mutex; every change is one transaction. */
#include "kds_meta.h"
#include "kds_reshard.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "kds"

struct csi_kds_meta {
    sqlite3 *db;
    cs_mutex mu;
    const cs_logger *logger;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS kds_streams ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  created_ms INTEGER NOT NULL,"
    "  retention_hours INTEGER NOT NULL,"
    "  on_demand INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS kds_shards ("
    "  stream_id INTEGER NOT NULL REFERENCES kds_streams(id) ON DELETE CASCADE,"
    "  idx INTEGER NOT NULL,"
    "  parent INTEGER NOT NULL,"
    "  adjacent INTEGER NOT NULL,"
    "  hash_start TEXT NOT NULL,"
    "  hash_end TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  closed INTEGER NOT NULL DEFAULT 0,"
    "  end_offset INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (stream_id, idx));"
    "CREATE TABLE IF NOT EXISTS kds_tags ("
    "  stream_id INTEGER NOT NULL REFERENCES kds_streams(id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (stream_id, key));"
    "CREATE TABLE IF NOT EXISTS kds_consumers ("
    "  stream_id INTEGER NOT NULL REFERENCES kds_streams(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (stream_id, name));";

static cs_status db_error(csi_kds_meta *m, const char *what)
{
    int rc = sqlite3_errcode(m->db);
    CS_LOG_ERROR(m->logger, MOD, "%s: %s", what, sqlite3_errmsg(m->db));
    return rc == SQLITE_NOMEM ? CS_E_NOMEM : CS_E_IO;
}

static int busy_wait(void *ctx, int tries)
{
    (void)ctx;
    if (tries >= 20000) { /* about 5 s */
        return 0;
    }
    cs_clock_sleep_ns(NULL, 250000);
    return 1;
}

cs_status csi_kds_meta_open(const char *path, bool durable, const cs_logger *logger,
                            csi_kds_meta **out)
{
    csi_kds_meta *m;
    char sql[128];
    if (path == NULL || out == NULL) {
        return CS_E_INVAL;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return CS_E_NOMEM;
    }
    m->logger = logger;
    if (cs_mutex_init(&m->mu) != CS_OK) {
        free(m);
        return CS_E_NOMEM;
    }
    if (sqlite3_open_v2(path, &m->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        cs_status st = db_error(m, path);
        csi_kds_meta_close(&m);
        return st;
    }
    sqlite3_busy_handler(m->db, busy_wait, m);
    snprintf(sql, sizeof(sql),
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA foreign_keys=ON;",
             durable ? "FULL" : "NORMAL");
    if (sqlite3_exec(m->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(m->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        cs_status st = db_error(m, "kds schema");
        csi_kds_meta_close(&m);
        return st;
    }
    *out = m;
    return CS_OK;
}

void csi_kds_meta_close(csi_kds_meta **mp)
{
    if (mp == NULL || *mp == NULL) {
        return;
    }
    sqlite3_close((*mp)->db);
    cs_mutex_destroy(&(*mp)->mu);
    free(*mp);
    *mp = NULL;
}

static bool valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > CSI_KDS_MAX_STREAM_NAME) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-')) {
            return false;
        }
    }
    return true;
}

/* Runs `sql` with the text/int64 arguments described by `fmt` ('s' text, 'i' int64). */
static cs_status run(csi_kds_meta *m, sqlite3_stmt **out, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *q = NULL;
    va_list ap;
    int i = 1;
    if (sqlite3_prepare_v2(m->db, sql, -1, &q, NULL) != SQLITE_OK) {
        return db_error(m, "prepare");
    }
    va_start(ap, fmt);
    for (const char *f = fmt; *f; f++, i++) {
        if (*f == 's') {
            sqlite3_bind_text(q, i, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
        } else {
            sqlite3_bind_int64(q, i, va_arg(ap, int64_t));
        }
    }
    va_end(ap);
    if (out != NULL) {
        *out = q;
        return CS_OK;
    }
    if (sqlite3_step(q) != SQLITE_DONE) {
        cs_status st =
            sqlite3_errcode(m->db) == SQLITE_CONSTRAINT ? CS_E_EXISTS : db_error(m, "step");
        sqlite3_finalize(q);
        return st;
    }
    sqlite3_finalize(q);
    return CS_OK;
}

static cs_status begin(csi_kds_meta *m)
{
    cs_mutex_lock(&m->mu);
    if (sqlite3_exec(m->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        cs_status st = db_error(m, "begin");
        cs_mutex_unlock(&m->mu);
        return st;
    }
    return CS_OK;
}

static cs_status end(csi_kds_meta *m, cs_status st)
{
    if (st == CS_OK && sqlite3_exec(m->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        st = db_error(m, "commit");
    }
    if (st != CS_OK) {
        sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
    }
    cs_mutex_unlock(&m->mu);
    return st;
}

cs_status csi_kds_meta_with_db(csi_kds_meta *m, cs_status (*fn)(sqlite3 *db, void *ctx), void *ctx)
{
    cs_status st;
    if (m == NULL || fn == NULL) {
        return CS_E_INVAL;
    }
    st = begin(m);
    if (st != CS_OK) {
        return st;
    }
    return end(m, fn(m->db, ctx));
}

/* The stream row (lock held). */
static cs_status load(csi_kds_meta *m, const char *name, csi_kds_stream *out)
{
    sqlite3_stmt *q;
    cs_status st = run(m, &q,
                       "SELECT id, created_ms, retention_hours, on_demand,"
                       " (SELECT count(*) FROM kds_shards WHERE stream_id = s.id AND closed = 0),"
                       " (SELECT count(*) FROM kds_shards WHERE stream_id = s.id)"
                       " FROM kds_streams s WHERE name = ?",
                       "s", name);
    if (st != CS_OK) {
        return st;
    }
    if (sqlite3_step(q) != SQLITE_ROW) {
        sqlite3_finalize(q);
        return CS_E_NOTFOUND;
    }
    memset(out, 0, sizeof(*out));
    out->id = sqlite3_column_int64(q, 0);
    snprintf(out->name, sizeof(out->name), "%s", name);
    out->created_ms = (uint64_t)sqlite3_column_int64(q, 1);
    out->retention_hours = (uint32_t)sqlite3_column_int64(q, 2);
    out->on_demand = sqlite3_column_int64(q, 3) != 0;
    out->open_shards = (uint32_t)sqlite3_column_int64(q, 4);
    out->total_shards = (uint32_t)sqlite3_column_int64(q, 5);
    sqlite3_finalize(q);
    return CS_OK;
}

static cs_status add_shard(csi_kds_meta *m, int64_t stream, uint32_t idx, int64_t parent,
                           int64_t adjacent, csi_u128 start, csi_u128 endk, uint64_t now_ms)
{
    char s[CSI_KDS_U128_MAX_TEXT], e[CSI_KDS_U128_MAX_TEXT];
    csi_kds_u128_format(start, s);
    csi_kds_u128_format(endk, e);
    return run(m, NULL,
               "INSERT INTO kds_shards (stream_id, idx, parent, adjacent, hash_start, hash_end,"
               " created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
               "iiiissi", stream, (int64_t)idx, parent, adjacent, s, e, (int64_t)now_ms);
}

cs_status csi_kds_meta_create(csi_kds_meta *m, const char *name, uint32_t shard_count,
                              bool on_demand, uint64_t now_ms, csi_kds_stream *out)
{
    cs_status st;
    int64_t id;
    if (m == NULL || !valid_name(name) || shard_count == 0 || shard_count > CSI_KDS_MAX_SHARDS) {
        return CS_E_INVAL;
    }
    if ((st = begin(m)) != CS_OK) {
        return st;
    }
    st = run(m, NULL,
             "INSERT INTO kds_streams (name, created_ms, retention_hours, on_demand)"
             " VALUES (?, ?, ?, ?)",
             "siii", name, (int64_t)now_ms, (int64_t)CSI_KDS_MIN_RETENTION,
             (int64_t)(on_demand ? 1 : 0));
    id = sqlite3_last_insert_rowid(m->db);
    for (uint32_t i = 0; st == CS_OK && i < shard_count; i++) {
        csi_u128 s, e;
        st = csi_kds_split_range(0, ~(csi_u128)0, shard_count, i, &s, &e);
        if (st == CS_OK) {
            st = add_shard(m, id, i, -1, -1, s, e, now_ms);
        }
    }
    if (st == CS_OK && out != NULL) {
        st = load(m, name, out);
    }
    return end(m, st);
}

cs_status csi_kds_meta_get(csi_kds_meta *m, const char *name, csi_kds_stream *out)
{
    cs_status st;
    if (m == NULL || name == NULL || out == NULL) {
        return CS_E_INVAL;
    }
    cs_mutex_lock(&m->mu);
    st = load(m, name, out);
    cs_mutex_unlock(&m->mu);
    return st;
}

cs_status csi_kds_meta_delete(csi_kds_meta *m, const char *name)
{
    csi_kds_stream s;
    cs_status st;
    if (m == NULL || name == NULL) {
        return CS_E_INVAL;
    }
    if ((st = begin(m)) != CS_OK) {
        return st;
    }
    st = load(m, name, &s);
    if (st == CS_OK) {
        st = run(m, NULL, "DELETE FROM kds_streams WHERE id = ?", "i", s.id);
    }
    return end(m, st);
}

cs_status csi_kds_meta_list(csi_kds_meta *m, const char *after, size_t max,
                            char (*names)[CSI_KDS_MAX_STREAM_NAME + 1], size_t *n, bool *more)
{
    sqlite3_stmt *q;
    cs_status st;
    if (m == NULL || names == NULL || n == NULL || more == NULL) {
        return CS_E_INVAL;
    }
    *n = 0;
    *more = false;
    cs_mutex_lock(&m->mu);
    st = run(m, &q, "SELECT name FROM kds_streams WHERE name > ? ORDER BY name LIMIT ?", "si",
             after ? after : "", (int64_t)max + 1);
    if (st == CS_OK) {
        int rc;
        while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
            if (*n == max) {
                *more = true;
                break;
            }
            snprintf(names[*n], CSI_KDS_MAX_STREAM_NAME + 1, "%s",
                     (const char *)sqlite3_column_text(q, 0));
            (*n)++;
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            st = db_error(m, "list");
        }
        sqlite3_finalize(q);
    }
    cs_mutex_unlock(&m->mu);
    return st;
}

/* All shards (lock held). */
static cs_status shards_locked(csi_kds_meta *m, int64_t stream, csi_kds_shard *out, size_t cap,
                               size_t *n)
{
    sqlite3_stmt *q;
    int rc;
    cs_status st = run(m, &q,
                       "SELECT idx, parent, adjacent, hash_start, hash_end, created_ms, closed,"
                       " end_offset FROM kds_shards WHERE stream_id = ? ORDER BY idx",
                       "i", stream);
    if (st != CS_OK) {
        return st;
    }
    *n = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        csi_kds_shard *sh;
        const char *a = (const char *)sqlite3_column_text(q, 3);
        const char *b = (const char *)sqlite3_column_text(q, 4);
        if (*n == cap) {
            st = CS_E_NOSPACE;
            break;
        }
        sh = &out[(*n)++];
        sh->index = (uint32_t)sqlite3_column_int64(q, 0);
        sh->parent = sqlite3_column_int64(q, 1);
        sh->adjacent_parent = sqlite3_column_int64(q, 2);
        if (a == NULL || b == NULL || csi_kds_u128_parse(a, strlen(a), &sh->start) != CS_OK ||
            csi_kds_u128_parse(b, strlen(b), &sh->end) != CS_OK) {
            st = CS_E_IO;
            break;
        }
        sh->created_ms = (uint64_t)sqlite3_column_int64(q, 5);
        sh->closed = sqlite3_column_int64(q, 6) != 0;
        sh->end_offset = (uint64_t)sqlite3_column_int64(q, 7);
    }
    if (st == CS_OK && rc != SQLITE_DONE) {
        st = db_error(m, "shards");
    }
    sqlite3_finalize(q);
    return st;
}

cs_status csi_kds_meta_shards(csi_kds_meta *m, const char *name, csi_kds_shard *out, size_t cap,
                              size_t *n)
{
    csi_kds_stream s;
    cs_status st;
    if (m == NULL || name == NULL || out == NULL || n == NULL) {
        return CS_E_INVAL;
    }
    cs_mutex_lock(&m->mu);
    st = load(m, name, &s);
    if (st == CS_OK) {
        st = shards_locked(m, s.id, out, cap, n);
    }
    cs_mutex_unlock(&m->mu);
    return st;
}

static cs_status close_shard(csi_kds_meta *m, int64_t stream, uint32_t idx, uint64_t end_offset)
{
    return run(m, NULL,
               "UPDATE kds_shards SET closed = 1, end_offset = ? WHERE stream_id = ? AND"
               " idx = ?",
               "iii", (int64_t)end_offset, stream, (int64_t)idx);
}

/* The stream and its shards for a change (lock and transaction held). */
static cs_status for_change(csi_kds_meta *m, const char *name, csi_kds_stream *s,
                            csi_kds_shard **sh, size_t *n)
{
    cs_status st = load(m, name, s);
    if (st != CS_OK) {
        return st;
    }
    *sh = calloc(CSI_KDS_MAX_SHARDS, sizeof(**sh));
    if (*sh == NULL) {
        return CS_E_NOMEM;
    }
    return shards_locked(m, s->id, *sh, CSI_KDS_MAX_SHARDS, n);
}

static const csi_kds_shard *find(const csi_kds_shard *sh, size_t n, uint32_t idx)
{
    for (size_t i = 0; i < n; i++) {
        if (sh[i].index == idx) {
            return &sh[i];
        }
    }
    return NULL;
}

/* A split on the in-memory shard table `sh` (n entries, CSI_KDS_MAX_SHARDS slots) and the
 * database (lock and transaction held); the table gets the children. */
static cs_status split_in(csi_kds_meta *m, const csi_kds_stream *s, csi_kds_shard *sh, size_t *n,
                          uint32_t index, csi_u128 new_start, uint64_t end_offset, uint64_t now_ms,
                          uint32_t children[2])
{
    csi_kds_shard *p = (csi_kds_shard *)find(sh, *n, index);
    uint32_t c0 = (uint32_t)*n, c1 = (uint32_t)*n + 1;
    csi_u128 ps, pe;
    cs_status st;
    if (p == NULL) {
        return CS_E_NOTFOUND;
    }
    if (p->closed) {
        return CS_E_STATE;
    }
    if (new_start <= p->start || new_start > p->end) {
        return CS_E_RANGE;
    }
    if (*n + 2 > CSI_KDS_MAX_SHARDS) {
        return CS_E_LIMIT;
    }
    ps = p->start;
    pe = p->end;
    st = close_shard(m, s->id, index, end_offset);
    if (st == CS_OK) {
        st = add_shard(m, s->id, c0, index, -1, ps, new_start - 1, now_ms);
    }
    if (st == CS_OK) {
        st = add_shard(m, s->id, c1, index, -1, new_start, pe, now_ms);
    }
    if (st != CS_OK) {
        return st;
    }
    p->closed = true;
    p->end_offset = end_offset;
    sh[c0] = (csi_kds_shard){c0, index, -1, ps, new_start - 1, now_ms, false, 0};
    sh[c1] = (csi_kds_shard){c1, index, -1, new_start, pe, now_ms, false, 0};
    *n += 2;
    if (children != NULL) {
        children[0] = c0;
        children[1] = c1;
    }
    return CS_OK;
}

/* A merge, as split_in(). */
static cs_status merge_in(csi_kds_meta *m, const csi_kds_stream *s, csi_kds_shard *sh, size_t *n,
                          uint32_t a, uint32_t b, uint64_t end_a, uint64_t end_b, uint64_t now_ms,
                          uint32_t *child)
{
    csi_kds_shard *pa = (csi_kds_shard *)find(sh, *n, a), *pb = (csi_kds_shard *)find(sh, *n, b);
    csi_u128 lo, hi;
    uint32_t c = (uint32_t)*n;
    cs_status st;
    if (pa == NULL || pb == NULL) {
        return CS_E_NOTFOUND;
    }
    if (pa->closed || pb->closed) {
        return CS_E_STATE;
    }
    if (!((pa->end != ~(csi_u128)0 && pa->end + 1 == pb->start) ||
          (pb->end != ~(csi_u128)0 && pb->end + 1 == pa->start))) {
        /* (the last shard's end + 1 would wrap to 0, the first shard's start) */
        return CS_E_RANGE;
    }
    if (*n + 1 > CSI_KDS_MAX_SHARDS) {
        return CS_E_LIMIT;
    }
    lo = pa->start < pb->start ? pa->start : pb->start;
    hi = pa->end > pb->end ? pa->end : pb->end;
    st = close_shard(m, s->id, a, end_a);
    if (st == CS_OK) {
        st = close_shard(m, s->id, b, end_b);
    }
    if (st == CS_OK) {
        st = add_shard(m, s->id, c, a, b, lo, hi, now_ms);
    }
    if (st != CS_OK) {
        return st;
    }
    pa->closed = true;
    pa->end_offset = end_a;
    pb->closed = true;
    pb->end_offset = end_b;
    sh[c] = (csi_kds_shard){c, a, b, lo, hi, now_ms, false, 0};
    *n += 1;
    if (child != NULL) {
        *child = c;
    }
    return CS_OK;
}

cs_status csi_kds_meta_split(csi_kds_meta *m, const char *name, uint32_t index, csi_u128 new_start,
                             uint64_t end_offset, uint64_t now_ms, uint32_t children[2])
{
    csi_kds_stream s;
    csi_kds_shard *sh = NULL;
    size_t n = 0;
    cs_status st;
    if (m == NULL || name == NULL) {
        return CS_E_INVAL;
    }
    if ((st = begin(m)) != CS_OK) {
        return st;
    }
    st = for_change(m, name, &s, &sh, &n);
    if (st == CS_OK) {
        st = split_in(m, &s, sh, &n, index, new_start, end_offset, now_ms, children);
    }
    free(sh);
    return end(m, st);
}

cs_status csi_kds_meta_merge(csi_kds_meta *m, const char *name, uint32_t a, uint32_t b,
                             uint64_t end_a, uint64_t end_b, uint64_t now_ms, uint32_t *child)
{
    csi_kds_stream s;
    csi_kds_shard *sh = NULL;
    size_t n = 0;
    cs_status st;
    if (m == NULL || name == NULL || a == b) {
        return CS_E_INVAL;
    }
    if ((st = begin(m)) != CS_OK) {
        return st;
    }
    st = for_change(m, name, &s, &sh, &n);
    if (st == CS_OK) {
        st = merge_in(m, &s, sh, &n, a, b, end_a, end_b, now_ms, child);
    }
    free(sh);
    return end(m, st);
}

cs_status csi_kds_meta_reshard(csi_kds_meta *m, const char *name, const csi_kds_reshard_op *ops,
                               size_t n_ops, const uint64_t *ends, size_t n_ends, uint64_t now_ms)
{
    csi_kds_stream s;
    csi_kds_shard *sh = NULL;
    size_t n = 0;
    cs_status st;
    if (m == NULL || name == NULL || (ops == NULL && n_ops > 0) || (ends == NULL && n_ends > 0)) {
        return CS_E_INVAL;
    }
    if ((st = begin(m)) != CS_OK) {
        return st;
    }
    st = for_change(m, name, &s, &sh, &n);
    for (size_t i = 0; st == CS_OK && i < n_ops; i++) {
        const csi_kds_reshard_op *o = &ops[i];
        uint64_t ea = o->a < n_ends ? ends[o->a] : 0, eb = o->b < n_ends ? ends[o->b] : 0;
        if (o->merge) {
            st = o->a == o->b ? CS_E_INVAL
                              : merge_in(m, &s, sh, &n, o->a, o->b, ea, eb, now_ms, NULL);
        } else {
            st = split_in(m, &s, sh, &n, o->a, o->key, ea, now_ms, NULL);
        }
    }
    free(sh);
    return end(m, st);
}

cs_status csi_kds_meta_set_retention(csi_kds_meta *m, const char *name, uint32_t hours)
{
    csi_kds_stream s;
    cs_status st;
    if (m == NULL || name == NULL) {
        return CS_E_INVAL;
    }
    if (hours < CSI_KDS_MIN_RETENTION || hours > CSI_KDS_MAX_RETENTION) {
        return CS_E_RANGE;
    }
    if ((st = begin(m)) != CS_OK) {
        return st;
    }
    st = load(m, name, &s);
    if (st == CS_OK) {
        st = run(m, NULL, "UPDATE kds_streams SET retention_hours = ? WHERE id = ?", "ii",
                 (int64_t)hours, s.id);
    }
    return end(m, st);
}

cs_status csi_kds_meta_tag(csi_kds_meta *m, const char *name, const csi_kds_tag *tags, size_t n)
{
    csi_kds_stream s;
    sqlite3_stmt *q;
    cs_status st;
    if (m == NULL || name == NULL || (tags == NULL && n > 0)) {
        return CS_E_INVAL;
    }
    if ((st = begin(m)) != CS_OK) {
        return st;
    }
    st = load(m, name, &s);
    for (size_t i = 0; st == CS_OK && i < n; i++) {
        st =
            run(m, NULL, "INSERT OR REPLACE INTO kds_tags (stream_id, key, value) VALUES (?, ?, ?)",
                "iss", s.id, tags[i].key, tags[i].value);
    }
    if (st == CS_OK && (st = run(m, &q, "SELECT count(*) FROM kds_tags WHERE stream_id = ?", "i",
                                 s.id)) == CS_OK) {
        if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int64(q, 0) > CSI_KDS_MAX_TAGS) {
            st = CS_E_LIMIT;
        }
        sqlite3_finalize(q);
    }
    return end(m, st);
}

cs_status csi_kds_meta_untag(csi_kds_meta *m, const char *name, const char *const *keys, size_t n)
{
    csi_kds_stream s;
    cs_status st;
    if (m == NULL || name == NULL || (keys == NULL && n > 0)) {
        return CS_E_INVAL;
    }
    if ((st = begin(m)) != CS_OK) {
        return st;
    }
    st = load(m, name, &s);
    for (size_t i = 0; st == CS_OK && i < n; i++) {
        st = run(m, NULL, "DELETE FROM kds_tags WHERE stream_id = ? AND key = ?", "is", s.id,
                 keys[i]);
    }
    return end(m, st);
}

cs_status csi_kds_meta_tags(csi_kds_meta *m, const char *name, csi_kds_tag *out, size_t *n)
{
    csi_kds_stream s;
    sqlite3_stmt *q;
    cs_status st;
    if (m == NULL || name == NULL || out == NULL || n == NULL) {
        return CS_E_INVAL;
    }
    *n = 0;
    cs_mutex_lock(&m->mu);
    st = load(m, name, &s);
    if (st == CS_OK &&
        (st = run(m, &q, "SELECT key, value FROM kds_tags WHERE stream_id = ? ORDER BY key", "i",
                  s.id)) == CS_OK) {
        while (sqlite3_step(q) == SQLITE_ROW && *n < CSI_KDS_MAX_TAGS) {
            snprintf(out[*n].key, sizeof(out[*n].key), "%s",
                     (const char *)sqlite3_column_text(q, 0));
            snprintf(out[*n].value, sizeof(out[*n].value), "%s",
                     (const char *)sqlite3_column_text(q, 1));
            (*n)++;
        }
        sqlite3_finalize(q);
    }
    cs_mutex_unlock(&m->mu);
    return st;
}

/* ---- consumers (kds_consumers; api/kds_subscribe.c) ------------------------------------------ */

static void consumer_row(sqlite3_stmt *q, const csi_kds_stream *s, csi_kds_consumer *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->stream, sizeof(out->stream), "%s", s->name);
    snprintf(out->name, sizeof(out->name), "%s", (const char *)sqlite3_column_text(q, 0));
    out->created_ms = (uint64_t)sqlite3_column_int64(q, 1);
    out->stream_created_ms = s->created_ms;
}

cs_status csi_kds_meta_consumer_add(csi_kds_meta *m, const char *stream, const char *name,
                                    uint64_t now_ms, csi_kds_consumer *out)
{
    csi_kds_stream s;
    sqlite3_stmt *q;
    cs_status st;
    if (m == NULL || stream == NULL || !valid_name(name)) {
        return CS_E_INVAL;
    }
    if ((st = begin(m)) != CS_OK) {
        return st;
    }
    st = load(m, stream, &s);
    if (st == CS_OK && (st = run(m, &q, "SELECT count(*) FROM kds_consumers WHERE stream_id = ?",
                                 "i", s.id)) == CS_OK) {
        if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int64(q, 0) >= CSI_KDS_MAX_CONSUMERS) {
            st = CS_E_LIMIT;
        }
        sqlite3_finalize(q);
    }
    if (st == CS_OK) {
        st =
            run(m, NULL, "INSERT INTO kds_consumers (stream_id, name, created_ms) VALUES (?, ?, ?)",
                "isi", s.id, name, (int64_t)now_ms);
    }
    if (st == CS_OK && out != NULL) {
        memset(out, 0, sizeof(*out));
        snprintf(out->stream, sizeof(out->stream), "%s", stream);
        snprintf(out->name, sizeof(out->name), "%s", name);
        out->created_ms = now_ms;
        out->stream_created_ms = s.created_ms;
    }
    return end(m, st);
}

cs_status csi_kds_meta_consumer_get(csi_kds_meta *m, const char *stream, const char *name,
                                    csi_kds_consumer *out)
{
    csi_kds_stream s;
    sqlite3_stmt *q;
    cs_status st;
    if (m == NULL || stream == NULL || name == NULL || out == NULL) {
        return CS_E_INVAL;
    }
    cs_mutex_lock(&m->mu);
    st = load(m, stream, &s);
    if (st == CS_OK &&
        (st = run(m, &q,
                  "SELECT name, created_ms FROM kds_consumers WHERE stream_id = ? AND name = ?",
                  "is", s.id, name)) == CS_OK) {
        if (sqlite3_step(q) == SQLITE_ROW) {
            consumer_row(q, &s, out);
        } else {
            st = CS_E_NOTFOUND;
        }
        sqlite3_finalize(q);
    }
    cs_mutex_unlock(&m->mu);
    return st;
}

cs_status csi_kds_meta_consumer_remove(csi_kds_meta *m, const char *stream, const char *name)
{
    csi_kds_stream s;
    cs_status st;
    if (m == NULL || stream == NULL || name == NULL) {
        return CS_E_INVAL;
    }
    if ((st = begin(m)) != CS_OK) {
        return st;
    }
    st = load(m, stream, &s);
    if (st == CS_OK) {
        st = run(m, NULL, "DELETE FROM kds_consumers WHERE stream_id = ? AND name = ?", "is", s.id,
                 name);
    }
    if (st == CS_OK && sqlite3_changes(m->db) == 0) {
        st = CS_E_NOTFOUND;
    }
    return end(m, st);
}

cs_status csi_kds_meta_consumers(csi_kds_meta *m, const char *stream, const char *after, size_t max,
                                 csi_kds_consumer *out, size_t *n, bool *more)
{
    csi_kds_stream s;
    sqlite3_stmt *q;
    cs_status st;
    if (m == NULL || stream == NULL || (out == NULL && max > 0) || n == NULL || more == NULL) {
        return CS_E_INVAL;
    }
    *n = 0;
    *more = false;
    cs_mutex_lock(&m->mu);
    st = load(m, stream, &s);
    if (st == CS_OK &&
        (st = run(m, &q,
                  "SELECT name, created_ms FROM kds_consumers WHERE stream_id = ? AND name > ?"
                  " ORDER BY name LIMIT ?",
                  "isi", s.id, after ? after : "", (int64_t)max + 1)) == CS_OK) {
        while (sqlite3_step(q) == SQLITE_ROW) {
            if (*n == max) {
                *more = true;
                break;
            }
            consumer_row(q, &s, &out[(*n)++]);
        }
        sqlite3_finalize(q);
    }
    cs_mutex_unlock(&m->mu);
    return st;
}
