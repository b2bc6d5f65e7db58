/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metadata index over SQLite: opening and migrating the database, the connection pool that
 * lets worker threads use it concurrently, and every query the control plane and the media path
 * need (streams, tags, fragments with exactly-once insert and time-range listing). See
 * docs/internals/INDEX.md for the schema, the durability settings and the thread rules.
 */
#define _POSIX_C_SOURCE 200809L
#include "index.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "index"
#define POOL_MAX 32
#define STMT_CACHE_MAX 256

struct cs_index {
    char *path;
    bool durable;
    uint32_t busy_timeout_ms;
    uint32_t max_idle;
    char region[64];
    char account_id[32];
    const cs_clock *clock;
    const cs_logger *logger;
    bool created; /* the schema was created by this open (user_version was 0) */
    cs_mutex mu;  /* guards idle/n_idle and the statement cache */
    sqlite3 *idle[POOL_MAX];
    size_t n_idle;
    /* Prepared statements kept for reuse, of every open connection (prepare() and done()):
     * compiling the SQL was 13% of the server's CPU on PutMedia before (ingest_bench, perf). */
    struct cached_stmt {
        sqlite3 *db;
        sqlite3_stmt *st;
        uint32_t hash; /* of the SQL text */
        bool busy;     /* handed out by prepare(), not yet back through done() */
    } cache[STMT_CACHE_MAX];
    size_t n_cache;
    /* Group commit of fragment inserts (see cs_index_fragment_insert). */
    cs_mutex gc_mu;         /* guards gc_head, gc_tail, gc_leading and each request's done */
    cs_cond gc_cv;          /* broadcast when a batch is finished */
    struct gc_req *gc_head; /* inserts waiting for the next batch, in arrival order */
    struct gc_req *gc_tail;
    bool gc_leading; /* a caller is running a batch */
};

/* One pending fragment insert: on the caller's stack until done (cs_index_fragment_insert), or
 * on the heap until its callback returned (cs_index_fragment_insert_async, `cb` set). */
struct gc_req {
    const char *stream_name;
    cs_index_fragment *f;
    bool existed;
    cs_status st;
    bool done;
    cs_index_insert_cb cb;
    void *cb_arg;
    struct gc_req *next;
};

/* Schema migrations: entry i takes user_version i to i + 1. Only ever appended. */
static const char *const migrations[] = {
    "CREATE TABLE streams ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  arn TEXT NOT NULL UNIQUE,"
    "  device_name TEXT NOT NULL DEFAULT '',"
    "  media_type TEXT NOT NULL DEFAULT '',"
    "  kms_key_id TEXT NOT NULL DEFAULT '',"
    "  retention_hours INTEGER NOT NULL DEFAULT 0,"
    "  version TEXT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  creation_ms INTEGER NOT NULL);"
    "CREATE TABLE stream_tags ("
    "  stream_id INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (stream_id, key)) WITHOUT ROWID;"
    "CREATE TABLE fragments ("
    "  id INTEGER PRIMARY KEY,"
    "  stream_id INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,"
    "  number TEXT NOT NULL,"
    "  gen_ms INTEGER NOT NULL,"
    "  gen_seq INTEGER NOT NULL,"
    "  producer_ms INTEGER NOT NULL,"
    "  server_ms INTEGER NOT NULL,"
    "  duration_ms INTEGER NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  object_key TEXT NOT NULL,"
    "  checksum TEXT NOT NULL,"
    "  UNIQUE (stream_id, number));"
    "CREATE INDEX fragments_producer ON fragments(stream_id, producer_ms);"
    "CREATE INDEX fragments_server ON fragments(stream_id, server_ms);",
    /* 1 -> 2: recovery looks objects up by key. */
    "CREATE INDEX fragments_object ON fragments(object_key);",
};

const char *cs_index_status_str(cs_index_status status)
{
    switch (status) {
    case CS_INDEX_CREATING:
        return "CREATING";
    case CS_INDEX_ACTIVE:
        return "ACTIVE";
    case CS_INDEX_UPDATING:
        return "UPDATING";
    case CS_INDEX_DELETING:
        return "DELETING";
    }
    return "UNKNOWN";
}

void cs_index_config_init(cs_index_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->durable = true;
    cfg->busy_timeout_ms = 5000;
    cfg->max_idle_connections = 8;
    cfg->region = "us-west-2";
    cfg->account_id = "123456789012";
}

void cs_index_stream_init(cs_index_stream *st)
{
    memset(st, 0, sizeof(*st));
}

static cs_status map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return CS_OK;
    case SQLITE_NOMEM:
        return CS_E_NOMEM;
    case SQLITE_CONSTRAINT:
        return CS_E_EXISTS;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return CS_E_MALFORMED;
    case SQLITE_TOOBIG:
        return CS_E_LIMIT;
    default:
        return CS_E_IO;
    }
}

static cs_status log_rc(cs_index *ix, sqlite3 *db, int rc, const char *what)
{
    CS_LOG_ERROR(ix->logger, MOD, "%s: %s (%d)", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc),
                 rc);
    return map_rc(rc);
}

static void copy_str(char *dst, size_t cap, const unsigned char *src)
{
    snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

/* ---------------------------------------------------------------------------------------------- */
/* Connections                                                                                    */
/* ---------------------------------------------------------------------------------------------- */

/* Another connection holds the write lock. SQLite's own busy_timeout handler sleeps 1, 2, 5, 10
 * ... 100 ms between tries; with one fsync'ed commit per fragment from several workers, those
 * sleeps were ~40% of the workers' time (tests/bench/ingest_bench). A commit holds the lock for
 * about one fsync, so try again every 250 us, up to busy_timeout_ms in all. */
static int busy_wait(void *ctx, int tries)
{
    const cs_index *ix = ctx;
    const uint64_t step_ns = 250000;
    if ((uint64_t)tries * step_ns >= (uint64_t)ix->busy_timeout_ms * 1000000u) {
        return 0;
    }
    cs_clock_sleep_ns(NULL, step_ns);
    return 1;
}

static cs_status conn_open(cs_index *ix, sqlite3 **out)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(
        ix->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    cs_status st;
    char sql[128];
    if (rc != SQLITE_OK) {
        st = log_rc(ix, db, rc, ix->path);
        goto out;
    }
    sqlite3_busy_handler(db, busy_wait, ix);
    snprintf(sql, sizeof(sql), "PRAGMA synchronous=%s; PRAGMA foreign_keys=ON;",
             ix->durable ? "FULL" : "NORMAL");
    rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        st = log_rc(ix, db, rc, "pragmas");
        goto out;
    }
    *out = db;
    db = NULL;
    st = CS_OK;
out:
    sqlite3_close(db);
    return st;
}

static cs_status conn_get(cs_index *ix, sqlite3 **out)
{
    cs_mutex_lock(&ix->mu);
    if (ix->n_idle > 0) {
        *out = ix->idle[--ix->n_idle];
        cs_mutex_unlock(&ix->mu);
        return CS_OK;
    }
    cs_mutex_unlock(&ix->mu);
    return conn_open(ix, out);
}

static void conn_close(cs_index *ix, sqlite3 *db);

static void conn_put(cs_index *ix, sqlite3 *db)
{
    if (db == NULL) {
        return;
    }
    cs_mutex_lock(&ix->mu);
    if (ix->n_idle < ix->max_idle) {
        ix->idle[ix->n_idle++] = db;
        db = NULL;
    }
    cs_mutex_unlock(&ix->mu);
    conn_close(ix, db);
}

static cs_status exec(cs_index *ix, sqlite3 *db, const char *sql)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? CS_OK : log_rc(ix, db, rc, sql);
}

static uint32_t sql_hash(const char *sql)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++) {
        h = (h ^ *p) * 16777619u;
    }
    return h;
}

/* A statement for `sql` on `db`: a cached one that is not in use (same text), or a new one that
 * is cached when there is room. Give it back with done(), never sqlite3_finalize(). */
static cs_status prepare(cs_index *ix, sqlite3 *db, const char *sql, sqlite3_stmt **stmt)
{
    uint32_t h = sql_hash(sql);
    int rc;
    cs_mutex_lock(&ix->mu);
    for (size_t i = 0; i < ix->n_cache; i++) {
        struct cached_stmt *e = &ix->cache[i];
        if (e->db == db && e->hash == h && !e->busy && strcmp(sqlite3_sql(e->st), sql) == 0) {
            e->busy = true;
            *stmt = e->st;
            cs_mutex_unlock(&ix->mu);
            return CS_OK;
        }
    }
    cs_mutex_unlock(&ix->mu);
    rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL);
    if (rc != SQLITE_OK) {
        return log_rc(ix, db, rc, "prepare");
    }
    cs_mutex_lock(&ix->mu);
    if (ix->n_cache < STMT_CACHE_MAX) {
        ix->cache[ix->n_cache++] = (struct cached_stmt){db, *stmt, h, true};
    }
    cs_mutex_unlock(&ix->mu);
    return CS_OK;
}

/* Gives a statement of prepare() back: reset for the next user, or finalized if not cached. */
static void done(cs_index *ix, sqlite3_stmt *q)
{
    bool cached = false;
    if (q == NULL) {
        return;
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    cs_mutex_lock(&ix->mu);
    for (size_t i = 0; i < ix->n_cache; i++) {
        if (ix->cache[i].st == q) {
            ix->cache[i].busy = false;
            cached = true;
            break;
        }
    }
    cs_mutex_unlock(&ix->mu);
    if (!cached) {
        done(ix, q);
    }
}

/* Closes a connection with its cached statements (sqlite3_close refuses while any is left). */
static void conn_close(cs_index *ix, sqlite3 *db)
{
    if (db == NULL) {
        return;
    }
    if (ix != NULL) {
        cs_mutex_lock(&ix->mu);
        for (size_t i = 0; i < ix->n_cache;) {
            if (ix->cache[i].db == db) {
                sqlite3_finalize(ix->cache[i].st);
                ix->cache[i] = ix->cache[--ix->n_cache];
            } else {
                i++;
            }
        }
        cs_mutex_unlock(&ix->mu);
    }
    sqlite3_close(db);
}

/* Runs one statement without results through the cache (BEGIN, SAVEPOINT, COMMIT...); the
 * SQLite result code (SQLITE_DONE when it ran). */
static int run1(cs_index *ix, sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q = NULL;
    int rc = SQLITE_NOMEM;
    if (prepare(ix, db, sql, &q) == CS_OK) {
        rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) {
            rc = SQLITE_DONE;
        }
    }
    done(ix, q);
    return rc;
}

/* exec() of one statement through the cache: logs a failure. */
static cs_status exec1(cs_index *ix, sqlite3 *db, const char *sql)
{
    int rc = run1(ix, db, sql);
    return rc == SQLITE_DONE ? CS_OK : log_rc(ix, db, rc, sql);
}

/* Ends a transaction begun with BEGIN IMMEDIATE: COMMIT when st is CS_OK, else ROLLBACK. */
static cs_status finish_tx(cs_index *ix, sqlite3 *db, cs_status st)
{
    if (st == CS_OK) {
        st = exec(ix, db, "COMMIT");
    }
    if (st != CS_OK) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    return st;
}

static cs_status migrate(cs_index *ix, sqlite3 *db)
{
    sqlite3_stmt *q = NULL;
    int version = 0;
    char sql[64];
    cs_status st = exec(ix, db, "PRAGMA journal_mode=WAL");
    if (st != CS_OK) {
        return st;
    }
    st = exec(ix, db, "BEGIN IMMEDIATE");
    if (st != CS_OK) {
        return st;
    }
    st = prepare(ix, db, "PRAGMA user_version", &q);
    if (st != CS_OK) {
        goto out;
    }
    if (sqlite3_step(q) == SQLITE_ROW) {
        version = sqlite3_column_int(q, 0);
    }
    if (version > CS_INDEX_SCHEMA_VERSION) {
        CS_LOG_ERROR(ix->logger, MOD, "%s has schema version %d; this build knows up to %d",
                     ix->path, version, CS_INDEX_SCHEMA_VERSION);
        st = CS_E_UNSUPPORTED;
        goto out;
    }
    for (int v = version; v < CS_INDEX_SCHEMA_VERSION; v++) {
        st = exec(ix, db, migrations[v]);
        if (st != CS_OK) {
            goto out;
        }
    }
    ix->created = version == 0;
    if (version != CS_INDEX_SCHEMA_VERSION) {
        snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", CS_INDEX_SCHEMA_VERSION);
        st = exec(ix, db, sql);
    }
out:
    done(ix, q);
    return finish_tx(ix, db, st);
}

cs_status cs_index_open(const cs_index_config *cfg, cs_index **out)
{
    cs_index *ix = NULL;
    sqlite3 *db = NULL;
    cs_status st;
    if (cfg == NULL || cfg->path == NULL || cfg->path[0] == '\0' || out == NULL) {
        return CS_E_INVAL;
    }
    ix = calloc(1, sizeof(*ix));
    if (ix == NULL) {
        return CS_E_NOMEM;
    }
    ix->path = strdup(cfg->path);
    if (ix->path == NULL || cs_mutex_init(&ix->mu) != CS_OK) {
        free(ix->path);
        free(ix);
        return CS_E_NOMEM;
    }
    if (cs_mutex_init(&ix->gc_mu) != CS_OK) {
        cs_mutex_destroy(&ix->mu);
        free(ix->path);
        free(ix);
        return CS_E_NOMEM;
    }
    if (cs_cond_init(&ix->gc_cv) != CS_OK) {
        cs_mutex_destroy(&ix->gc_mu);
        cs_mutex_destroy(&ix->mu);
        free(ix->path);
        free(ix);
        return CS_E_NOMEM;
    }
    ix->durable = cfg->durable;
    ix->busy_timeout_ms = cfg->busy_timeout_ms;
    ix->max_idle = cfg->max_idle_connections > POOL_MAX ? POOL_MAX : cfg->max_idle_connections;
    snprintf(ix->region, sizeof(ix->region), "%s", cfg->region ? cfg->region : "us-west-2");
    snprintf(ix->account_id, sizeof(ix->account_id), "%s",
             cfg->account_id ? cfg->account_id : "123456789012");
    ix->clock = cfg->clock ? cfg->clock : cs_clock_system();
    ix->logger = cfg->logger ? cfg->logger : cs_logger_default();

    st = conn_open(ix, &db);
    if (st != CS_OK) {
        goto out;
    }
    st = migrate(ix, db);
    if (st != CS_OK) {
        goto out;
    }
    conn_put(ix, db);
    db = NULL;
    *out = ix;
    ix = NULL;
out:
    conn_close(ix, db);
    cs_index_close(&ix);
    return st;
}

void cs_index_close(cs_index **pix)
{
    cs_index *ix = pix ? *pix : NULL;
    if (ix == NULL) {
        return;
    }
    for (size_t i = 0; i < ix->n_idle; i++) {
        conn_close(ix, ix->idle[i]);
    }
    cs_cond_destroy(&ix->gc_cv);
    cs_mutex_destroy(&ix->gc_mu);
    cs_mutex_destroy(&ix->mu);
    free(ix->path);
    free(ix);
    *pix = NULL;
}

cs_status cs_index_schema_version(cs_index *ix, int *out)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    cs_status st = conn_get(ix, &db);
    if (st != CS_OK) {
        return st;
    }
    st = prepare(ix, db, "PRAGMA user_version", &q);
    if (st == CS_OK) {
        st = sqlite3_step(q) == SQLITE_ROW ? CS_OK : CS_E_IO;
        *out = sqlite3_column_int(q, 0);
    }
    done(ix, q);
    conn_put(ix, db);
    return st;
}

/* ---------------------------------------------------------------------------------------------- */
/* Streams                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

#define STREAM_COLS                                                                                \
    "id, name, arn, device_name, media_type, kms_key_id, version, retention_hours, status, "       \
    "creation_ms"

static void read_stream(sqlite3_stmt *q, int64_t *id, cs_index_stream *st)
{
    if (id) {
        *id = sqlite3_column_int64(q, 0);
    }
    if (st == NULL) {
        return;
    }
    copy_str(st->name, sizeof(st->name), sqlite3_column_text(q, 1));
    copy_str(st->arn, sizeof(st->arn), sqlite3_column_text(q, 2));
    copy_str(st->device_name, sizeof(st->device_name), sqlite3_column_text(q, 3));
    copy_str(st->media_type, sizeof(st->media_type), sqlite3_column_text(q, 4));
    copy_str(st->kms_key_id, sizeof(st->kms_key_id), sqlite3_column_text(q, 5));
    copy_str(st->version, sizeof(st->version), sqlite3_column_text(q, 6));
    st->retention_hours = (uint32_t)sqlite3_column_int64(q, 7);
    st->status = (cs_index_status)sqlite3_column_int(q, 8);
    st->creation_ms = sqlite3_column_int64(q, 9);
}

/* Looks a stream up by name and/or ARN on `db`; fills id and (if non-NULL) st. */
static cs_status resolve(cs_index *ix, sqlite3 *db, const char *name, const char *arn, int64_t *id,
                         cs_index_stream *st)
{
    sqlite3_stmt *q = NULL;
    cs_status s;
    int rc;
    if (name && name[0] == '\0') {
        name = NULL;
    }
    if (arn && arn[0] == '\0') {
        arn = NULL;
    }
    if (name == NULL && arn == NULL) {
        return CS_E_INVAL;
    }
    s = prepare(ix, db,
                arn ? "SELECT " STREAM_COLS " FROM streams WHERE arn = ?1"
                    : "SELECT " STREAM_COLS " FROM streams WHERE name = ?1",
                &q);
    if (s != CS_OK) {
        return s;
    }
    sqlite3_bind_text(q, 1, arn ? arn : name, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        cs_index_stream tmp;
        read_stream(q, id, &tmp);
        if (arn && name && strcmp(tmp.name, name) != 0) {
            s = CS_E_INVAL;
        } else {
            s = CS_OK;
            if (st) {
                *st = tmp;
            }
        }
    } else if (rc == SQLITE_DONE) {
        s = CS_E_NOTFOUND;
    } else {
        s = log_rc(ix, db, rc, "resolve");
    }
    done(ix, q);
    return s;
}

static void new_version(char out[CS_INDEX_VERSION_SIZE])
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    uint8_t rnd[12];
    if (cs_entropy_fill(rnd, sizeof(rnd)) != CS_OK) {
        for (size_t i = 0; i < sizeof(rnd); i++) {
            rnd[i] = (uint8_t)rand();
        }
    }
    for (size_t i = 0; i < sizeof(rnd); i++) {
        out[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
    }
    out[sizeof(rnd)] = '\0';
}

static cs_status put_tags(cs_index *ix, sqlite3 *db, int64_t id, const cs_index_tag *tags,
                          size_t n_tags)
{
    sqlite3_stmt *q = NULL;
    sqlite3_stmt *count = NULL;
    cs_status st = prepare(ix, db,
                           "INSERT INTO stream_tags(stream_id, key, value) VALUES (?1, ?2, ?3) "
                           "ON CONFLICT(stream_id, key) DO UPDATE SET value = excluded.value",
                           &q);
    if (st != CS_OK) {
        goto out;
    }
    for (size_t i = 0; i < n_tags; i++) {
        int rc;
        sqlite3_bind_int64(q, 1, id);
        sqlite3_bind_text(q, 2, tags[i].key, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, tags[i].value, -1, SQLITE_STATIC);
        rc = sqlite3_step(q);
        sqlite3_reset(q);
        if (rc != SQLITE_DONE) {
            st = log_rc(ix, db, rc, "tag");
            goto out;
        }
    }
    st = prepare(ix, db, "SELECT count(*) FROM stream_tags WHERE stream_id = ?1", &count);
    if (st != CS_OK) {
        goto out;
    }
    sqlite3_bind_int64(count, 1, id);
    if (sqlite3_step(count) != SQLITE_ROW) {
        st = CS_E_IO;
    } else if (sqlite3_column_int64(count, 0) > CS_INDEX_MAX_TAGS) {
        st = CS_E_LIMIT;
    }
out:
    done(ix, count);
    done(ix, q);
    return st;
}

cs_status cs_index_stream_create(cs_index *ix, cs_index_stream *stm, const cs_index_tag *tags,
                                 size_t n_tags)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    cs_status st;
    int rc;
    if (ix == NULL || stm == NULL || stm->name[0] == '\0' || (n_tags > 0 && tags == NULL)) {
        return CS_E_INVAL;
    }
    if (n_tags > CS_INDEX_MAX_TAGS) {
        return CS_E_LIMIT;
    }
    stm->creation_ms = (int64_t)(cs_clock_wall_ns(ix->clock) / 1000000u);
    stm->status = CS_INDEX_ACTIVE;
    new_version(stm->version);
    snprintf(stm->arn, sizeof(stm->arn), "arn:aws:kinesisvideo:%s:%s:stream/%s/%" PRId64,
             ix->region, ix->account_id, stm->name, stm->creation_ms);
    st = conn_get(ix, &db);
    if (st != CS_OK) {
        return st;
    }
    st = exec(ix, db, "BEGIN IMMEDIATE");
    if (st != CS_OK) {
        goto out;
    }
    st = prepare(ix, db,
                 "INSERT INTO streams(name, arn, device_name, media_type, kms_key_id, "
                 "retention_hours, version, status, creation_ms) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                 &q);
    if (st == CS_OK) {
        sqlite3_bind_text(q, 1, stm->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, stm->arn, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, stm->device_name, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, stm->media_type, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 5, stm->kms_key_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 6, stm->retention_hours);
        sqlite3_bind_text(q, 7, stm->version, -1, SQLITE_STATIC);
        sqlite3_bind_int(q, 8, (int)stm->status);
        sqlite3_bind_int64(q, 9, stm->creation_ms);
        rc = sqlite3_step(q);
        st = rc == SQLITE_DONE                  ? CS_OK
             : (rc & 0xff) == SQLITE_CONSTRAINT ? CS_E_EXISTS
                                                : log_rc(ix, db, rc, "create stream");
    }
    if (st == CS_OK && n_tags > 0) {
        st = put_tags(ix, db, sqlite3_last_insert_rowid(db), tags, n_tags);
    }
    done(ix, q);
    st = finish_tx(ix, db, st);
out:
    conn_put(ix, db);
    return st;
}

cs_status cs_index_stream_get(cs_index *ix, const char *name, const char *arn, cs_index_stream *out)
{
    sqlite3 *db = NULL;
    cs_status st;
    if (ix == NULL || out == NULL) {
        return CS_E_INVAL;
    }
    st = conn_get(ix, &db);
    if (st != CS_OK) {
        return st;
    }
    st = resolve(ix, db, name, arn, NULL, out);
    conn_put(ix, db);
    return st;
}

cs_status cs_index_stream_list(cs_index *ix, const char *prefix, const char *after, uint32_t max,
                               cs_index_stream_fn fn, void *ctx, char *next_name)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    cs_status st;
    uint32_t n = 0;
    int rc;
    cs_index_stream row;
    char after_copy[CS_INDEX_NAME_SIZE];
    if (ix == NULL || fn == NULL || next_name == NULL || max == 0 || max > 10000) {
        return CS_E_INVAL;
    }
    /* `after` may be the caller's next_name buffer from the previous page. */
    snprintf(after_copy, sizeof(after_copy), "%s", after ? after : "");
    next_name[0] = '\0';
    st = conn_get(ix, &db);
    if (st != CS_OK) {
        return st;
    }
    /* One row more than asked tells whether a next page exists. Names beginning with a prefix
     * are a contiguous run in BINARY order, so the substr test only trims that run. */
    st = prepare(ix, db,
                 "SELECT " STREAM_COLS " FROM streams WHERE name > ?1 AND name >= ?2 "
                 "AND substr(name, 1, length(?2)) = ?2 ORDER BY name LIMIT ?3",
                 &q);
    if (st != CS_OK) {
        goto out;
    }
    sqlite3_bind_text(q, 1, after_copy, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, prefix ? prefix : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, (int64_t)max + 1);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        read_stream(q, NULL, &row);
        if (n == max) {
            break; /* more follow: next_name already holds the last one listed */
        }
        st = fn(ctx, &row);
        if (st != CS_OK) {
            goto out;
        }
        n++;
        if (n == max) {
            snprintf(next_name, CS_INDEX_NAME_SIZE, "%s", row.name);
        }
    }
    if (rc == SQLITE_DONE) {
        next_name[0] = '\0'; /* the last page */
    } else if (rc != SQLITE_ROW) {
        st = log_rc(ix, db, rc, "list streams");
    }
out:
    done(ix, q);
    conn_put(ix, db);
    return st;
}

/* Runs `sql` (binding ?1 = stream id) in a write transaction after checking the version. */
typedef cs_status (*stream_op_fn)(cs_index *ix, sqlite3 *db, int64_t id, cs_index_stream *row,
                                  const void *arg);

static cs_status with_stream(cs_index *ix, const char *name, const char *arn,
                             const char *current_version, stream_op_fn op, const void *arg)
{
    sqlite3 *db = NULL;
    cs_status st;
    int64_t id = 0;
    cs_index_stream row;
    if (ix == NULL) {
        return CS_E_INVAL;
    }
    st = conn_get(ix, &db);
    if (st != CS_OK) {
        return st;
    }
    st = exec(ix, db, "BEGIN IMMEDIATE");
    if (st != CS_OK) {
        goto out;
    }
    st = resolve(ix, db, name, arn, &id, &row);
    if (st == CS_OK && current_version && strcmp(current_version, row.version) != 0) {
        st = CS_E_STATE;
    }
    if (st == CS_OK) {
        st = op(ix, db, id, &row, arg);
    }
    st = finish_tx(ix, db, st);
out:
    conn_put(ix, db);
    return st;
}

static cs_status run_id(cs_index *ix, sqlite3 *db, const char *sql, int64_t id, int64_t v,
                        const char *text)
{
    sqlite3_stmt *q = NULL;
    cs_status st = prepare(ix, db, sql, &q);
    int rc;
    if (st != CS_OK) {
        return st;
    }
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, v);
    if (text) {
        sqlite3_bind_text(q, 3, text, -1, SQLITE_STATIC);
    }
    rc = sqlite3_step(q);
    st = rc == SQLITE_DONE ? CS_OK : log_rc(ix, db, rc, sql);
    done(ix, q);
    return st;
}

static cs_status op_delete(cs_index *ix, sqlite3 *db, int64_t id, cs_index_stream *row,
                           const void *arg)
{
    (void)row;
    (void)arg;
    return run_id(ix, db, "DELETE FROM streams WHERE id = ?1 AND ?2 = 0", id, 0, NULL);
}

cs_status cs_index_stream_delete(cs_index *ix, const char *name, const char *arn,
                                 const char *current_version)
{
    return with_stream(ix, name, arn, current_version, op_delete, NULL);
}

static cs_status op_retention(cs_index *ix, sqlite3 *db, int64_t id, cs_index_stream *row,
                              const void *arg)
{
    int64_t hours = (int64_t)row->retention_hours + *(const int64_t *)arg;
    char version[CS_INDEX_VERSION_SIZE];
    if (hours < 0 || hours > CS_INDEX_MAX_RETENTION_HOURS) {
        return CS_E_RANGE;
    }
    new_version(version);
    return run_id(ix, db, "UPDATE streams SET retention_hours = ?2, version = ?3 WHERE id = ?1", id,
                  hours, version);
}

cs_status cs_index_stream_update_retention(cs_index *ix, const char *name, const char *arn,
                                           const char *current_version, int64_t delta_hours)
{
    if (current_version == NULL) {
        return CS_E_INVAL;
    }
    return with_stream(ix, name, arn, current_version, op_retention, &delta_hours);
}

struct tag_args {
    const cs_index_tag *tags;
    size_t n;
    const char *const *keys;
};

static cs_status op_tag(cs_index *ix, sqlite3 *db, int64_t id, cs_index_stream *row,
                        const void *arg)
{
    const struct tag_args *a = arg;
    (void)row;
    return put_tags(ix, db, id, a->tags, a->n);
}

cs_status cs_index_stream_tag(cs_index *ix, const char *name, const char *arn,
                              const cs_index_tag *tags, size_t n_tags)
{
    struct tag_args a = {tags, n_tags, NULL};
    if (n_tags > 0 && tags == NULL) {
        return CS_E_INVAL;
    }
    return with_stream(ix, name, arn, NULL, op_tag, &a);
}

static cs_status op_untag(cs_index *ix, sqlite3 *db, int64_t id, cs_index_stream *row,
                          const void *arg)
{
    const struct tag_args *a = arg;
    cs_status st = CS_OK;
    (void)row;
    for (size_t i = 0; i < a->n && st == CS_OK; i++) {
        st = run_id(ix, db, "DELETE FROM stream_tags WHERE stream_id = ?1 AND key = ?3 AND ?2 = 0",
                    id, 0, a->keys[i]);
    }
    return st;
}

cs_status cs_index_stream_untag(cs_index *ix, const char *name, const char *arn,
                                const char *const *keys, size_t n_keys)
{
    struct tag_args a = {NULL, n_keys, keys};
    if (n_keys > 0 && keys == NULL) {
        return CS_E_INVAL;
    }
    return with_stream(ix, name, arn, NULL, op_untag, &a);
}

cs_status cs_index_stream_tags(cs_index *ix, const char *name, const char *arn,
                               cs_index_tag tags[CS_INDEX_MAX_TAGS], size_t *n_tags)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    int64_t id = 0;
    int rc;
    cs_status st;
    if (ix == NULL || tags == NULL || n_tags == NULL) {
        return CS_E_INVAL;
    }
    *n_tags = 0;
    st = conn_get(ix, &db);
    if (st != CS_OK) {
        return st;
    }
    st = resolve(ix, db, name, arn, &id, NULL);
    if (st != CS_OK) {
        goto out;
    }
    st =
        prepare(ix, db, "SELECT key, value FROM stream_tags WHERE stream_id = ?1 ORDER BY key", &q);
    if (st != CS_OK) {
        goto out;
    }
    sqlite3_bind_int64(q, 1, id);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW && *n_tags < CS_INDEX_MAX_TAGS) {
        copy_str(tags[*n_tags].key, sizeof(tags[0].key), sqlite3_column_text(q, 0));
        copy_str(tags[*n_tags].value, sizeof(tags[0].value), sqlite3_column_text(q, 1));
        (*n_tags)++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        st = log_rc(ix, db, rc, "list tags");
    }
out:
    done(ix, q);
    conn_put(ix, db);
    return st;
}

/* ---------------------------------------------------------------------------------------------- */
/* Fragments                                                                                      */
/* ---------------------------------------------------------------------------------------------- */

#define FRAG_COLS "number, producer_ms, server_ms, duration_ms, size, object_key, checksum"

static void read_fragment(sqlite3_stmt *q, cs_index_fragment *f)
{
    copy_str(f->number, sizeof(f->number), sqlite3_column_text(q, 0));
    f->producer_ms = sqlite3_column_int64(q, 1);
    f->server_ms = sqlite3_column_int64(q, 2);
    f->duration_ms = sqlite3_column_int64(q, 3);
    f->size = (uint64_t)sqlite3_column_int64(q, 4);
    copy_str(f->object_key, sizeof(f->object_key), sqlite3_column_text(q, 5));
    copy_str(f->checksum, sizeof(f->checksum), sqlite3_column_text(q, 6));
}

/* Runs a one-row fragment query with ?1 = stream id and the caller's binds. */
typedef void (*bind_fn)(sqlite3_stmt *q, const void *arg);

static cs_status frag_one(cs_index *ix, sqlite3 *db, int64_t id, const char *sql, bind_fn bind,
                          const void *arg, cs_index_fragment *out)
{
    sqlite3_stmt *q = NULL;
    cs_status st = prepare(ix, db, sql, &q);
    int rc;
    if (st != CS_OK) {
        return st;
    }
    sqlite3_bind_int64(q, 1, id);
    if (bind) {
        bind(q, arg);
    }
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        read_fragment(q, out);
    } else if (rc == SQLITE_DONE) {
        st = CS_E_NOTFOUND;
    } else {
        st = log_rc(ix, db, rc, "fragment");
    }
    done(ix, q);
    return st;
}

static void bind_dedup(sqlite3_stmt *q, const void *arg)
{
    const cs_index_fragment *f = arg;
    sqlite3_bind_int64(q, 2, f->producer_ms);
    sqlite3_bind_int64(q, 3, (int64_t)f->size);
    sqlite3_bind_text(q, 4, f->checksum, -1, SQLITE_STATIC);
}

#define DEDUP_SQL                                                                                  \
    "SELECT " FRAG_COLS " FROM fragments WHERE stream_id = ?1 AND producer_ms = ?2 AND size = ?3 " \
    "AND checksum = ?4 LIMIT 1"

/* One fragment insert inside the caller's open transaction: dedup, number generator, INSERT. */
static cs_status frag_insert_tx(cs_index *ix, sqlite3 *db, const char *stream_name,
                                cs_index_fragment *f, bool *existed)
{
    sqlite3_stmt *q = NULL;
    int64_t id = 0;
    int64_t gen_ms = f->server_ms;
    int64_t gen_seq = 0;
    int64_t res_ms = -1, res_seq = -1; /* a number reserved by the caller */
    int rc;
    cs_status st;
    *existed = false;
    if (strlen(f->number) == CS_INDEX_FRAGMENT_NUMBER_SIZE - 1 && f->number[0] == '9' &&
        f->number[1] == '1' &&
        strspn(f->number, "0123456789") == CS_INDEX_FRAGMENT_NUMBER_SIZE - 1) {
        char a[21], b[26];
        memcpy(a, f->number + 2, 20);
        a[20] = '\0';
        memcpy(b, f->number + 22, 25);
        b[25] = '\0';
        res_ms = (int64_t)strtoull(a, NULL, 10);
        res_seq = (int64_t)strtoull(b, NULL, 10);
    }
    st = resolve(ix, db, stream_name, NULL, &id, NULL);
    if (st != CS_OK) {
        goto tx;
    }
    st = frag_one(ix, db, id, DEDUP_SQL, bind_dedup, f, f);
    if (st == CS_OK) {
        *existed = true;
        goto tx;
    }
    if (st != CS_E_NOTFOUND) {
        goto tx;
    }
    /* The generator: (gen_ms, gen_seq) only grows within a stream, even when the clock steps
     * back, and the number is its fixed-width decimal rendering, so numeric, string and
     * insertion order agree. */
    st = prepare(ix, db,
                 "SELECT gen_ms, gen_seq FROM fragments WHERE stream_id = ?1 "
                 "ORDER BY number DESC LIMIT 1",
                 &q);
    if (st != CS_OK) {
        goto tx;
    }
    sqlite3_bind_int64(q, 1, id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        int64_t last_ms = sqlite3_column_int64(q, 0);
        int64_t last_seq = sqlite3_column_int64(q, 1);
        if (res_ms > last_ms || (res_ms == last_ms && res_seq > last_seq)) {
            gen_ms = res_ms; /* the reserved number keeps the order: take it */
            gen_seq = res_seq;
        } else if (gen_ms <= last_ms) {
            gen_ms = last_ms;
            gen_seq = last_seq + 1;
        }
    } else if (rc == SQLITE_DONE && res_ms >= 0) {
        gen_ms = res_ms;
        gen_seq = res_seq;
    } else if (rc != SQLITE_DONE) {
        st = log_rc(ix, db, rc, "fragment generator");
        goto tx;
    }
    done(ix, q);
    q = NULL;
    if (gen_ms < 0) {
        gen_ms = 0;
    }
    snprintf(f->number, sizeof(f->number), "91%020" PRIu64 "%025" PRIu64, (uint64_t)gen_ms,
             (uint64_t)gen_seq);
    st = prepare(ix, db,
                 "INSERT INTO fragments(stream_id, number, gen_ms, gen_seq, producer_ms, "
                 "server_ms, duration_ms, size, object_key, checksum) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                 &q);
    if (st != CS_OK) {
        goto tx;
    }
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_text(q, 2, f->number, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, gen_ms);
    sqlite3_bind_int64(q, 4, gen_seq);
    sqlite3_bind_int64(q, 5, f->producer_ms);
    sqlite3_bind_int64(q, 6, f->server_ms);
    sqlite3_bind_int64(q, 7, f->duration_ms);
    sqlite3_bind_int64(q, 8, (int64_t)f->size);
    sqlite3_bind_text(q, 9, f->object_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 10, f->checksum, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    st = rc == SQLITE_DONE ? CS_OK : log_rc(ix, db, rc, "insert fragment");
tx:
    done(ix, q);
    return st;
}

/* Runs one batch of inserts in a single BEGIN IMMEDIATE ... COMMIT (one WAL fsync for all).
 * Each row runs under its own SAVEPOINT so a failing row is rolled back alone and fails only its
 * caller; if BEGIN or COMMIT fails, or SQLite itself rolled the transaction back after an error,
 * every row of the batch that had not failed gets that error (none of them is committed). */
static void gc_run(cs_index *ix, struct gc_req *batch)
{
    sqlite3 *db = NULL;
    cs_status st = conn_get(ix, &db);
    if (st == CS_OK) {
        st = exec1(ix, db, "BEGIN IMMEDIATE");
    }
    if (st != CS_OK) {
        for (struct gc_req *r = batch; r != NULL; r = r->next) {
            r->st = st;
        }
        conn_put(ix, db);
        return;
    }
    for (struct gc_req *r = batch; r != NULL; r = r->next) {
        if (sqlite3_get_autocommit(db)) {
            /* SQLite rolled the whole transaction back (I/O error, full disk, no memory): the
             * rows before are gone, and a SAVEPOINT now would start (and commit) a new one. */
            st = CS_E_IO;
            r->st = st;
            continue;
        }
        r->st = exec1(ix, db, "SAVEPOINT frag");
        if (r->st != CS_OK) {
            continue;
        }
        r->st = frag_insert_tx(ix, db, r->stream_name, r->f, &r->existed);
        if (r->st != CS_OK) {
            r->existed = false;
            sqlite3_exec(db, "ROLLBACK TO frag", NULL, NULL, NULL);
        }
        (void)run1(ix, db, "RELEASE frag");
    }
    if (st == CS_OK && sqlite3_get_autocommit(db)) {
        st = CS_E_IO; /* the last row's failure ended the transaction */
    }
    if (st == CS_OK) {
        st = exec1(ix, db, "COMMIT");
    }
    if (st != CS_OK) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        for (struct gc_req *r = batch; r != NULL; r = r->next) {
            if (r->st == CS_OK) {
                r->st = st;
                r->existed = false;
            }
        }
    }
    conn_put(ix, db);
}

/* Called with gc_mu held and no leader: becomes the leader and runs batches until the queue is
 * empty, so no queued request is ever left without a leader (an asynchronous caller does not
 * wait for its own batch). Returns with gc_mu held. Callbacks run without any lock. */
static void gc_lead(cs_index *ix)
{
    ix->gc_leading = true;
    while (ix->gc_head != NULL) {
        struct gc_req *batch = ix->gc_head, *waiters = NULL, **wtail = &waiters;
        ix->gc_head = NULL;
        ix->gc_tail = NULL;
        cs_mutex_unlock(&ix->gc_mu);
        gc_run(ix, batch);
        for (struct gc_req *r = batch; r != NULL;) {
            struct gc_req *next = r->next;
            if (r->cb != NULL) {
                r->cb(r->cb_arg, r->st, r->existed);
                free(r);
            } else {
                r->next = NULL;
                *wtail = r;
                wtail = &r->next;
            }
            r = next;
        }
        cs_mutex_lock(&ix->gc_mu);
        for (struct gc_req *r = waiters; r != NULL;) {
            struct gc_req *next = r->next; /* r may return (and vanish) once done is set */
            r->done = true;
            r = next;
        }
        cs_cond_broadcast(&ix->gc_cv);
    }
    ix->gc_leading = false;
}

/* Queues `req` (gc_mu held); a row without a server timestamp gets the clock's now. */
static void gc_enqueue(cs_index *ix, struct gc_req *req)
{
    if (req->f->server_ms == 0) {
        req->f->server_ms = (int64_t)(cs_clock_wall_ns(ix->clock) / 1000000u);
    }
    if (ix->gc_tail != NULL) {
        ix->gc_tail->next = req;
    } else {
        ix->gc_head = req;
    }
    ix->gc_tail = req;
}

/* Group commit, leader-follower (as csi_reclog_sync): the caller queues its row; when no batch
 * is running it becomes the leader (gc_lead), takes every queued row, runs them in one
 * transaction and wakes the others; rows queued meanwhile go into the next batch. Each caller
 * returns only once its own row is committed (or has failed). */
cs_status cs_index_fragment_insert(cs_index *ix, const char *stream_name, cs_index_fragment *f,
                                   bool *existed)
{
    struct gc_req req;
    if (ix == NULL || stream_name == NULL || f == NULL) {
        return CS_E_INVAL;
    }
    if (existed) {
        *existed = false;
    }
    memset(&req, 0, sizeof(req));
    req.stream_name = stream_name;
    req.f = f;
    cs_mutex_lock(&ix->gc_mu);
    gc_enqueue(ix, &req);
    while (!req.done) {
        if (!ix->gc_leading) {
            gc_lead(ix);
        } else {
            cs_cond_wait(&ix->gc_cv, &ix->gc_mu);
        }
    }
    cs_mutex_unlock(&ix->gc_mu);
    if (existed) {
        *existed = req.existed;
    }
    return req.st;
}

/* As cs_index_fragment_insert, but the caller does not wait: its row joins the next batch and
 * `cb` reports the verdict. When no batch is running the caller leads (runs batches until none
 * is queued) and `cb` runs before this returns; otherwise the running leader takes it. */
cs_status cs_index_fragment_insert_async(cs_index *ix, const char *stream_name,
                                         cs_index_fragment *f, cs_index_insert_cb cb, void *arg)
{
    struct gc_req *req;
    if (ix == NULL || stream_name == NULL || f == NULL || cb == NULL) {
        return CS_E_INVAL;
    }
    req = calloc(1, sizeof(*req));
    if (req == NULL) {
        return CS_E_NOMEM;
    }
    req->stream_name = stream_name;
    req->f = f;
    req->cb = cb;
    req->cb_arg = arg;
    cs_mutex_lock(&ix->gc_mu);
    gc_enqueue(ix, req);
    if (!ix->gc_leading) {
        gc_lead(ix);
    }
    cs_mutex_unlock(&ix->gc_mu);
    return CS_OK;
}

/* Resolves the stream and runs a one-row fragment query. */
static cs_status frag_query(cs_index *ix, const char *stream_name, const char *sql, bind_fn bind,
                            const void *arg, cs_index_fragment *out)
{
    sqlite3 *db = NULL;
    int64_t id = 0;
    cs_status st;
    if (ix == NULL || stream_name == NULL || out == NULL) {
        return CS_E_INVAL;
    }
    st = conn_get(ix, &db);
    if (st != CS_OK) {
        return st;
    }
    st = resolve(ix, db, stream_name, NULL, &id, NULL);
    if (st == CS_OK) {
        st = frag_one(ix, db, id, sql, bind, arg, out);
    }
    conn_put(ix, db);
    return st;
}

cs_status cs_index_fragment_find(cs_index *ix, const char *stream_name, int64_t producer_ms,
                                 uint64_t size, const char *checksum, cs_index_fragment *out)
{
    cs_index_fragment key;
    if (checksum == NULL) {
        return CS_E_INVAL;
    }
    memset(&key, 0, sizeof(key));
    key.producer_ms = producer_ms;
    key.size = size;
    snprintf(key.checksum, sizeof(key.checksum), "%s", checksum);
    return frag_query(ix, stream_name, DEDUP_SQL, bind_dedup, &key, out);
}

static void bind_number(sqlite3_stmt *q, const void *arg)
{
    sqlite3_bind_text(q, 2, arg, -1, SQLITE_STATIC);
}

cs_status cs_index_fragment_get(cs_index *ix, const char *stream_name, const char *number,
                                cs_index_fragment *out)
{
    if (number == NULL) {
        return CS_E_INVAL;
    }
    return frag_query(ix, stream_name,
                      "SELECT " FRAG_COLS " FROM fragments WHERE stream_id = ?1 AND number = ?2",
                      bind_number, number, out);
}

cs_status cs_index_fragment_edge(cs_index *ix, const char *stream_name, bool last,
                                 cs_index_fragment *out)
{
    return frag_query(ix, stream_name,
                      last ? "SELECT " FRAG_COLS
                             " FROM fragments WHERE stream_id = ?1 ORDER BY number DESC LIMIT 1"
                           : "SELECT " FRAG_COLS
                             " FROM fragments WHERE stream_id = ?1 ORDER BY number ASC LIMIT 1",
                      NULL, NULL, out);
}

cs_status cs_index_fragment_list(cs_index *ix, const char *stream_name, cs_index_time_kind kind,
                                 int64_t start_ms, int64_t end_ms, const char *after, uint32_t max,
                                 cs_index_fragment_fn fn, void *ctx, char *next_after)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    int64_t id = 0;
    uint32_t n = 0;
    int rc;
    cs_status st;
    cs_index_fragment row;
    char after_copy[CS_INDEX_FRAGMENT_NUMBER_SIZE];
    if (ix == NULL || stream_name == NULL || fn == NULL || next_after == NULL || max == 0) {
        return CS_E_INVAL;
    }
    snprintf(after_copy, sizeof(after_copy), "%s", after ? after : "");
    next_after[0] = '\0';
    st = conn_get(ix, &db);
    if (st != CS_OK) {
        return st;
    }
    st = resolve(ix, db, stream_name, NULL, &id, NULL);
    if (st != CS_OK) {
        goto out;
    }
    st = prepare(ix, db,
                 kind == CS_INDEX_SERVER_TIME
                     ? "SELECT " FRAG_COLS " FROM fragments WHERE stream_id = ?1 AND server_ms "
                       "BETWEEN ?2 AND ?3 AND number > ?4 ORDER BY number LIMIT ?5"
                     : "SELECT " FRAG_COLS " FROM fragments WHERE stream_id = ?1 AND producer_ms "
                       "BETWEEN ?2 AND ?3 AND number > ?4 ORDER BY number LIMIT ?5",
                 &q);
    if (st != CS_OK) {
        goto out;
    }
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, start_ms);
    sqlite3_bind_int64(q, 3, end_ms);
    sqlite3_bind_text(q, 4, after_copy, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, (int64_t)max + 1);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == max) {
            break;
        }
        read_fragment(q, &row);
        st = fn(ctx, &row);
        if (st != CS_OK) {
            goto out;
        }
        if (++n == max) {
            snprintf(next_after, CS_INDEX_FRAGMENT_NUMBER_SIZE, "%s", row.number);
        }
    }
    if (rc == SQLITE_DONE) {
        next_after[0] = '\0';
    } else if (rc != SQLITE_ROW) {
        st = log_rc(ix, db, rc, "list fragments");
    }
out:
    done(ix, q);
    conn_put(ix, db);
    return st;
}

/* ---------------------------------------------------------------------------------------------- */
/* Maintenance                                                                                    */
/* ---------------------------------------------------------------------------------------------- */

bool cs_index_was_created(const cs_index *ix)
{
    return ix != NULL && ix->created;
}

cs_status cs_index_fragment_scan(cs_index *ix, int64_t after_row, uint32_t max, cs_index_scan_fn fn,
                                 void *ctx, int64_t *next_row)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    cs_index_fragment row;
    char name[CS_INDEX_NAME_SIZE];
    char arn[CS_INDEX_ARN_SIZE];
    uint32_t n = 0;
    int rc;
    cs_status st;
    if (ix == NULL || fn == NULL || next_row == NULL || max == 0) {
        return CS_E_INVAL;
    }
    *next_row = 0;
    st = conn_get(ix, &db);
    if (st != CS_OK) {
        return st;
    }
    st = prepare(ix, db,
                 "SELECT f.number, f.producer_ms, f.server_ms, f.duration_ms, f.size, "
                 "f.object_key, f.checksum, f.id, s.name, s.arn FROM fragments f "
                 "JOIN streams s ON s.id = f.stream_id WHERE f.id > ?1 ORDER BY f.id LIMIT ?2",
                 &q);
    if (st != CS_OK) {
        goto out;
    }
    sqlite3_bind_int64(q, 1, after_row);
    sqlite3_bind_int64(q, 2, (int64_t)max + 1);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(q, 7);
        if (n == max) {
            break; /* more follow: *next_row holds the last one listed */
        }
        read_fragment(q, &row);
        copy_str(name, sizeof(name), sqlite3_column_text(q, 8));
        copy_str(arn, sizeof(arn), sqlite3_column_text(q, 9));
        st = fn(ctx, id, name, arn, &row);
        if (st != CS_OK) {
            goto out;
        }
        if (++n == max) {
            *next_row = id;
        }
    }
    if (rc == SQLITE_DONE) {
        *next_row = 0;
    } else if (rc != SQLITE_ROW) {
        st = log_rc(ix, db, rc, "scan fragments");
    }
out:
    done(ix, q);
    conn_put(ix, db);
    return st;
}

static cs_status op_frag_delete(cs_index *ix, sqlite3 *db, int64_t id, cs_index_stream *row,
                                const void *arg)
{
    (void)row;
    cs_status st =
        run_id(ix, db, "DELETE FROM fragments WHERE stream_id = ?1 AND number = ?3 AND ?2 = 0", id,
               0, arg);
    if (st == CS_OK && sqlite3_changes(db) == 0) {
        st = CS_E_NOTFOUND;
    }
    return st;
}

cs_status cs_index_fragment_delete(cs_index *ix, const char *stream_name, const char *number)
{
    if (stream_name == NULL || number == NULL) {
        return CS_E_INVAL;
    }
    return with_stream(ix, stream_name, NULL, NULL, op_frag_delete, number);
}

cs_status cs_index_object_key_used(cs_index *ix, const char *object_key, bool *used)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    int rc;
    cs_status st;
    if (ix == NULL || object_key == NULL || used == NULL) {
        return CS_E_INVAL;
    }
    *used = false;
    st = conn_get(ix, &db);
    if (st != CS_OK) {
        return st;
    }
    st = prepare(ix, db, "SELECT 1 FROM fragments WHERE object_key = ?1 LIMIT 1", &q);
    if (st == CS_OK) {
        sqlite3_bind_text(q, 1, object_key, -1, SQLITE_STATIC);
        rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) {
            *used = true;
        } else if (rc != SQLITE_DONE) {
            st = log_rc(ix, db, rc, "object key");
        }
    }
    done(ix, q);
    conn_put(ix, db);
    return st;
}

struct expire_args {
    int64_t cutoff_ms;
    cs_index_fragment *out;
    size_t max;
    size_t *n;
};

static cs_status op_expire(cs_index *ix, sqlite3 *db, int64_t id, cs_index_stream *row,
                           const void *arg)
{
    const struct expire_args *a = arg;
    sqlite3_stmt *q = NULL;
    int rc;
    (void)row;
    cs_status st = prepare(ix, db,
                           "SELECT " FRAG_COLS " FROM fragments WHERE stream_id = ?1 AND "
                           "server_ms < ?2 ORDER BY number LIMIT ?3",
                           &q);
    if (st != CS_OK) {
        return st;
    }
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, a->cutoff_ms);
    sqlite3_bind_int64(q, 3, (int64_t)a->max);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        read_fragment(q, &a->out[*a->n]);
        (*a->n)++;
    }
    if (rc != SQLITE_DONE) {
        st = log_rc(ix, db, rc, "expire");
    }
    done(ix, q);
    for (size_t i = 0; i < *a->n && st == CS_OK; i++) {
        st = run_id(ix, db, "DELETE FROM fragments WHERE stream_id = ?1 AND number = ?3 AND ?2 = 0",
                    id, 0, a->out[i].number);
    }
    if (st != CS_OK) {
        *a->n = 0; /* rolled back: nothing was deleted */
    }
    return st;
}

cs_status cs_index_fragment_expire(cs_index *ix, const char *stream_name, int64_t cutoff_ms,
                                   cs_index_fragment *out, size_t max, size_t *n)
{
    struct expire_args a = {cutoff_ms, out, max, n};
    if (stream_name == NULL || out == NULL || n == NULL || max == 0) {
        return CS_E_INVAL;
    }
    cs_status st;
    *n = 0;
    st = with_stream(ix, stream_name, NULL, NULL, op_expire, &a);
    if (st != CS_OK) {
        *n = 0; /* the transaction rolled back */
    }
    return st;
}
