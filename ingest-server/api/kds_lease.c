/* SPDX-License-Identifier: Apache-2.0 */
/* Leases and checkpoints of record-stream consumers (kds_lease.h): the Camstream_20261206.*
 * operations of the KDS endpoint over the table kds_leases of the index database. A lease is
 * (owner, counter, expiry); the counter changes only when the lease changes hands, so a worker
 * that lost its lease (expired and taken, or handed over) is fenced off: its renewals, releases
 * and checkpoints name the old counter and are refused. Every check and change of one call is
 * one SQLite transaction under the metadata's lock, so two workers never both win a lease.
 * Expiry is judged by the server's clock only; clients see the time left, never a timestamp. */
#define _POSIX_C_SOURCE 200809L
#include "kds_lease.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define E_ARG "InvalidArgumentException"
#define E_NOTFOUND "ResourceNotFoundException"
#define E_INUSE "ResourceInUseException"
#define E_LOST "LeaseLostException"
#define E_VALIDATION "ValidationException"
#define E_INTERNAL "InternalFailure"

#define SHARD_END "SHARD_END"
#define MAX_APP 128
#define MAX_WORKER 256

static const char schema[] = "CREATE TABLE IF NOT EXISTS kds_leases ("
                             "  stream_id INTEGER NOT NULL REFERENCES kds_streams(id) ON DELETE"
                             " CASCADE,"
                             "  app TEXT NOT NULL,"
                             "  shard INTEGER NOT NULL,"
                             "  owner TEXT NOT NULL DEFAULT '',"
                             "  counter INTEGER NOT NULL DEFAULT 0,"
                             "  expires_ms INTEGER NOT NULL DEFAULT 0,"
                             "  checkpoint TEXT NOT NULL DEFAULT '',"
                             "  pending TEXT NOT NULL DEFAULT '',"
                             "  PRIMARY KEY (stream_id, app, shard));";

enum lop { OP_ACQUIRE, OP_RENEW, OP_RELEASE, OP_CHECKPOINT, OP_LIST };

static const char *const op_names[] = {"AcquireLease", "RenewLease", "ReleaseLease", "Checkpoint",
                                       "ListLeases"};

struct lease {
    char owner[MAX_WORKER + 1];
    int64_t counter;
    uint64_t expires_ms;
    char checkpoint[CSI_KDS_SEQ_LEN + 16];
    char pending[MAX_WORKER + 1];
};

/* One call: its arguments, and what the transaction found. */
struct lctx {
    enum lop op;
    const csi_kds_stream *stream;
    const csi_kds_shard *shard;
    const char *app, *worker, *seq;
    int64_t counter;
    uint32_t duration_ms;
    bool transfer;
    uint64_t now;
    /* out */
    struct lease row;
    const char *refused; /* error type: the call was answered, nothing changed but `pending` */
    char why[256];
    /* ListLeases */
    const csi_kds_shard *shards;
    size_t n_shards;
    struct lease *rows; /* n_shards, by position in shards */
};

static void lfail(csi_kds_lease_error *e, int status, const char *type, const char *fmt, ...)
    CS_PRINTF(4, 5);

static void lfail(csi_kds_lease_error *e, int status, const char *type, const char *fmt, ...)
{
    va_list ap;
    e->status = status;
    e->type = type;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

bool csi_kds_lease_is_op(const char *op)
{
    for (size_t i = 0; op != NULL && i < sizeof(op_names) / sizeof(op_names[0]); i++) {
        if (strcmp(op, op_names[i]) == 0) {
            return true;
        }
    }
    return false;
}

static bool valid_app(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > MAX_APP) {
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

static bool valid_worker(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > MAX_WORKER) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            return false;
        }
    }
    return true;
}

static cs_status prepare(sqlite3 *db, const char *sql, sqlite3_stmt **q)
{
    return sqlite3_prepare_v2(db, sql, -1, q, NULL) == SQLITE_OK ? CS_OK : CS_E_IO;
}

static void copy_col(sqlite3_stmt *q, int col, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(q, col);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

static void read_row(sqlite3_stmt *q, struct lease *l)
{
    copy_col(q, 0, l->owner, sizeof(l->owner));
    l->counter = sqlite3_column_int64(q, 1);
    l->expires_ms = (uint64_t)sqlite3_column_int64(q, 2);
    copy_col(q, 3, l->checkpoint, sizeof(l->checkpoint));
    copy_col(q, 4, l->pending, sizeof(l->pending));
}

/* The row of one shard; a shard without one has a free lease and no checkpoint. */
static cs_status load(sqlite3 *db, const struct lctx *c, struct lease *l)
{
    sqlite3_stmt *q = NULL;
    int rc;
    memset(l, 0, sizeof(*l));
    if (prepare(db,
                "SELECT owner, counter, expires_ms, checkpoint, pending FROM kds_leases"
                " WHERE stream_id = ? AND app = ? AND shard = ?",
                &q) != CS_OK) {
        return CS_E_IO;
    }
    sqlite3_bind_int64(q, 1, c->stream->id);
    sqlite3_bind_text(q, 2, c->app, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, (int64_t)c->shard->index);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        read_row(q, l);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? CS_OK : CS_E_IO;
}

static cs_status store(sqlite3 *db, const struct lctx *c, const struct lease *l)
{
    sqlite3_stmt *q = NULL;
    int rc;
    if (prepare(db,
                "INSERT OR REPLACE INTO kds_leases (stream_id, app, shard, owner, counter,"
                " expires_ms, checkpoint, pending) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                &q) != CS_OK) {
        return CS_E_IO;
    }
    sqlite3_bind_int64(q, 1, c->stream->id);
    sqlite3_bind_text(q, 2, c->app, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, (int64_t)c->shard->index);
    sqlite3_bind_text(q, 4, l->owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, l->counter);
    sqlite3_bind_int64(q, 6, (int64_t)l->expires_ms);
    sqlite3_bind_text(q, 7, l->checkpoint, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 8, l->pending, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? CS_OK : CS_E_IO;
}

static bool held(const struct lease *l, uint64_t now)
{
    return l->owner[0] != '\0' && l->expires_ms > now;
}

/* The caller still holds the lease it names (expired but not taken counts: nobody else read). */
static bool holds(const struct lctx *c, const struct lease *l)
{
    return l->owner[0] != '\0' && strcmp(l->owner, c->worker) == 0 && l->counter == c->counter;
}

static void refuse(struct lctx *c, const char *type, const char *fmt, ...) CS_PRINTF(3, 4);

static void refuse(struct lctx *c, const char *type, const char *fmt, ...)
{
    va_list ap;
    c->refused = type;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof(c->why), fmt, ap);
    va_end(ap);
}

/* The checks and the change of one lease operation, inside the transaction. */
static cs_status txn(sqlite3 *db, void *arg)
{
    struct lctx *c = arg;
    struct lease *l = &c->row;
    bool write = false;
    if (sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        return CS_E_IO;
    }
    if (c->op == OP_LIST) {
        sqlite3_stmt *q = NULL;
        if (prepare(db,
                    "SELECT owner, counter, expires_ms, checkpoint, pending, shard FROM kds_leases"
                    " WHERE stream_id = ? AND app = ?",
                    &q) != CS_OK) {
            return CS_E_IO;
        }
        sqlite3_bind_int64(q, 1, c->stream->id);
        sqlite3_bind_text(q, 2, c->app, -1, SQLITE_STATIC);
        while (sqlite3_step(q) == SQLITE_ROW) {
            int64_t idx = sqlite3_column_int64(q, 5);
            for (size_t i = 0; i < c->n_shards; i++) {
                if ((int64_t)c->shards[i].index == idx) {
                    read_row(q, &c->rows[i]);
                }
            }
        }
        sqlite3_finalize(q);
        return CS_OK;
    }
    if (load(db, c, l) != CS_OK) {
        return CS_E_IO;
    }
    switch (c->op) {
    case OP_ACQUIRE:
        if (held(l, c->now) && strcmp(l->owner, c->worker) != 0) {
            if (c->transfer && strcmp(l->pending, c->worker) != 0) {
                snprintf(l->pending, sizeof(l->pending), "%s", c->worker);
                write = true;
            }
            refuse(c, E_INUSE, "The lease is held by %s for %llu ms more%s.", l->owner,
                   (unsigned long long)(l->expires_ms - c->now),
                   c->transfer ? "; the transfer was requested" : "");
            break;
        }
        if (!(l->owner[0] != '\0' && strcmp(l->owner, c->worker) == 0 && held(l, c->now))) {
            l->counter++; /* changes hands: a new fencing token */
            snprintf(l->owner, sizeof(l->owner), "%s", c->worker);
        }
        l->pending[0] = '\0';
        l->expires_ms = c->now + c->duration_ms;
        write = true;
        break;
    case OP_RENEW:
        if (!holds(c, l)) {
            refuse(c, E_LOST, "The lease is no longer held by %s (owner %s, counter %lld).",
                   c->worker, l->owner[0] ? l->owner : "none", (long long)l->counter);
            break;
        }
        l->expires_ms = c->now + c->duration_ms;
        write = true;
        break;
    case OP_RELEASE:
        if (!holds(c, l)) {
            refuse(c, E_LOST, "The lease is no longer held by %s.", c->worker);
            break;
        }
        if (l->pending[0] != '\0' && strcmp(l->pending, l->owner) != 0) {
            /* a transfer was asked for: the lease goes to the asker for the rest of its term
             * (a new counter), so that no third worker, nor the releaser's own stale view,
             * takes it in between; it acquires it as its own, or lets it expire */
            snprintf(l->owner, sizeof(l->owner), "%s", l->pending);
            l->counter++;
        } else {
            l->owner[0] = '\0';
            l->expires_ms = 0;
        }
        l->pending[0] = '\0';
        write = true;
        break;
    case OP_CHECKPOINT:
        if (!holds(c, l)) {
            refuse(c, E_LOST, "The lease is no longer held by %s: checkpoint refused.", c->worker);
            break;
        }
        if (strcmp(l->checkpoint, SHARD_END) == 0 && strcmp(c->seq, SHARD_END) != 0) {
            refuse(c, E_ARG, "The shard is already checkpointed at SHARD_END.");
            break;
        }
        if (strcmp(c->seq, SHARD_END) != 0 && l->checkpoint[0] != '\0' &&
            strcmp(l->checkpoint, SHARD_END) != 0 && strcmp(c->seq, l->checkpoint) < 0) {
            refuse(c, E_ARG, "SequenceNumber %s is before the checkpoint %s.", c->seq,
                   l->checkpoint);
            break;
        }
        snprintf(l->checkpoint, sizeof(l->checkpoint), "%s", c->seq);
        write = true;
        break;
    case OP_LIST:
        break;
    }
    return write ? store(db, c, l) : CS_OK;
}

static json_t *lease_json(const csi_kds_shard *sh, const struct lease *l, uint64_t now,
                          bool lineage)
{
    char id[CSI_KDS_SHARD_ID_LEN + 1];
    json_t *o;
    csi_kds_shard_id(sh->index, id);
    o = json_pack("{s:s,s:I,s:I}", "ShardId", id, "LeaseCounter", (json_int_t)l->counter,
                  "LeaseExpiresInMillis",
                  (json_int_t)(held(l, now) ? l->expires_ms - now : (uint64_t)0));
    if (o == NULL) {
        return NULL;
    }
    if (l->owner[0] != '\0') {
        json_object_set_new(o, "LeaseOwner", json_string(l->owner));
    }
    if (l->checkpoint[0] != '\0') {
        json_object_set_new(o, "Checkpoint", json_string(l->checkpoint));
    }
    if (l->pending[0] != '\0' && strcmp(l->pending, l->owner) != 0) {
        json_object_set_new(o, "TransferRequestedBy", json_string(l->pending));
    }
    if (lineage) {
        if (sh->parent >= 0) {
            csi_kds_shard_id((uint32_t)sh->parent, id);
            json_object_set_new(o, "ParentShardId", json_string(id));
        }
        if (sh->adjacent_parent >= 0) {
            csi_kds_shard_id((uint32_t)sh->adjacent_parent, id);
            json_object_set_new(o, "AdjacentParentShardId", json_string(id));
        }
        json_object_set_new(o, "Closed", json_boolean(sh->closed));
    }
    return o;
}

/* Checks a checkpoint's sequence number against the shard. */
static bool check_seq(const struct lctx *c, csi_kds_lease_error *err)
{
    uint32_t shard;
    uint64_t off;
    cs_status st;
    if (strcmp(c->seq, SHARD_END) == 0) {
        if (!c->shard->closed) {
            lfail(err, 400, E_ARG, "SHARD_END: the shard is open.");
            return false;
        }
        return true;
    }
    st = csi_kds_seq_parse(c->seq, strlen(c->seq), c->stream->created_ms, &shard, &off);
    if (st != CS_OK || shard != c->shard->index ||
        (c->shard->closed && off >= c->shard->end_offset)) {
        lfail(err, 400, E_ARG, "SequenceNumber %s is not a record of this shard.", c->seq);
        return false;
    }
    return true;
}

json_t *csi_kds_lease_run(csi_kds_store *store, const char *op, json_t *in, const char *name,
                          csi_kds_lease_error *err)
{
    struct lctx c;
    csi_kds_stream stream;
    csi_kds_shard *shards = NULL;
    size_t n = 0;
    json_t *out = NULL, *v;
    const char *shard_id;
    uint32_t idx = 0;
    cs_status st;
    memset(&c, 0, sizeof(c));
    memset(err, 0, sizeof(*err));
    for (size_t i = 0;; i++) {
        if (i == sizeof(op_names) / sizeof(op_names[0])) {
            lfail(err, 400, "UnknownOperationException", "Unknown operation %s.", op);
            return NULL;
        }
        if (strcmp(op, op_names[i]) == 0) {
            c.op = (enum lop)i;
            break;
        }
    }
    c.app = json_string_value(json_object_get(in, "ApplicationName"));
    if (c.app == NULL || name == NULL) {
        lfail(err, 400, E_VALIDATION, "StreamName and ApplicationName are required.");
        return NULL;
    }
    if (!valid_app(c.app)) {
        lfail(err, 400, E_ARG, "ApplicationName must be 1-128 of [a-zA-Z0-9_.-].");
        return NULL;
    }
    if (c.op != OP_LIST) {
        shard_id = json_string_value(json_object_get(in, "ShardId"));
        c.worker = json_string_value(json_object_get(in, "WorkerId"));
        if (shard_id == NULL || c.worker == NULL) {
            lfail(err, 400, E_VALIDATION, "ShardId and WorkerId are required.");
            return NULL;
        }
        if (!valid_worker(c.worker)) {
            lfail(err, 400, E_ARG, "WorkerId must be 1-256 printable characters.");
            return NULL;
        }
        if (csi_kds_shard_id_parse(shard_id, strlen(shard_id), &idx) != CS_OK) {
            lfail(err, 400, E_ARG, "Invalid ShardId %s.", shard_id);
            return NULL;
        }
    }
    if (c.op == OP_RENEW || c.op == OP_RELEASE || c.op == OP_CHECKPOINT) {
        v = json_object_get(in, "LeaseCounter");
        if (!json_is_integer(v)) {
            lfail(err, 400, E_VALIDATION, "LeaseCounter is required.");
            return NULL;
        }
        c.counter = json_integer_value(v);
    }
    if (c.op == OP_ACQUIRE || c.op == OP_RENEW) {
        v = json_object_get(in, "LeaseDurationMillis");
        json_int_t d = v != NULL ? json_integer_value(v) : CSI_KDS_LEASE_DEFAULT_MS;
        if ((v != NULL && !json_is_integer(v)) || d < CSI_KDS_LEASE_MIN_MS ||
            d > CSI_KDS_LEASE_MAX_MS) {
            lfail(err, 400, E_ARG, "LeaseDurationMillis must be between %d and %d.",
                  CSI_KDS_LEASE_MIN_MS, CSI_KDS_LEASE_MAX_MS);
            return NULL;
        }
        c.duration_ms = (uint32_t)d;
        c.transfer = json_is_true(json_object_get(in, "RequestTransfer"));
    }
    if (c.op == OP_CHECKPOINT) {
        c.seq = json_string_value(json_object_get(in, "SequenceNumber"));
        if (c.seq == NULL) {
            lfail(err, 400, E_VALIDATION, "SequenceNumber is required (or SHARD_END).");
            return NULL;
        }
    }
    st = csi_kds_meta_get(csi_kds_store_meta(store), name, &stream);
    if (st == CS_OK) {
        shards = calloc(CSI_KDS_MAX_SHARDS, sizeof(*shards));
        st = shards == NULL ? CS_E_NOMEM
                            : csi_kds_meta_shards(csi_kds_store_meta(store), name, shards,
                                                  CSI_KDS_MAX_SHARDS, &n);
    }
    if (st == CS_E_NOTFOUND) {
        lfail(err, 400, E_NOTFOUND, "Stream %s not found.", name);
        goto out;
    }
    if (st != CS_OK) {
        lfail(err, 500, E_INTERNAL, "Stream %s: %s.", name, cs_status_str(st));
        goto out;
    }
    c.stream = &stream;
    if (c.op != OP_LIST) {
        for (size_t i = 0; i < n; i++) {
            if (shards[i].index == idx) {
                c.shard = &shards[i];
            }
        }
        if (c.shard == NULL) {
            char id[CSI_KDS_SHARD_ID_LEN + 1];
            csi_kds_shard_id(idx, id);
            lfail(err, 400, E_NOTFOUND, "Shard %s of stream %s not found.", id, name);
            goto out;
        }
        if (c.op == OP_CHECKPOINT && !check_seq(&c, err)) {
            goto out;
        }
    } else {
        c.shards = shards;
        c.n_shards = n;
        c.rows = calloc(n ? n : 1, sizeof(*c.rows));
        if (c.rows == NULL) {
            lfail(err, 500, E_INTERNAL, "Out of memory.");
            goto out;
        }
    }
    c.now = csi_kds_store_now_ms(store);
    st = csi_kds_meta_with_db(csi_kds_store_meta(store), txn, &c);
    if (st != CS_OK) {
        lfail(err, 500, E_INTERNAL, "The lease table: %s.", cs_status_str(st));
        goto out;
    }
    if (c.refused != NULL) {
        lfail(err, 400, c.refused, "%s", c.why);
        goto out;
    }
    if (c.op == OP_LIST) {
        json_t *arr = json_array();
        for (size_t i = 0; arr != NULL && i < n; i++) {
            json_array_append_new(arr, lease_json(&shards[i], &c.rows[i], c.now, true));
        }
        out = arr ? json_pack("{s:o}", "Leases", arr) : NULL;
    } else if (c.op == OP_RELEASE) {
        out = json_object();
    } else {
        json_t *l = lease_json(c.shard, &c.row, c.now, false);
        out = l ? json_pack("{s:o}", "Lease", l) : NULL;
    }
    if (out == NULL) {
        lfail(err, 500, E_INTERNAL, "Out of memory.");
    }
out:
    free(c.rows);
    free(shards);
    return out;
}
