/* SPDX-License-Identifier: Apache-2.0 */
/* Record-stream semantics (kds_store.h): a cache of open streams, each with its shards' record
 * logs, refcounted so a delete never frees a log a reader still uses; routing, durable puts
 * (write every shard's part under the store lock, then sync each outside it), iterators, reads,
 * resharding and retention. Invariants: docs/internals/RECORDS.md. */
#define _POSIX_C_SOURCE 200809L
#include "kds_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kds_limits.h"
#include "kds_reshard.h"
#include "reclog.h"

#define MOD "kds"
#define READ_BYTES (10u * 1024u * 1024u)
#define MAX_READ_RECORDS 10000u

struct rt_shard {
    csi_kds_shard meta;
    csi_reclog *log;
    csi_kds_shard_buckets buckets; /* per-shard limits (kds_limits.h) */
};

struct rt_stream {
    char name[CSI_KDS_MAX_STREAM_NAME + 1];
    uint64_t created_ms;
    uint32_t retention_hours;
    csi_kds_limit_conf limits;                  /* the tag's, else the server's default */
    uint64_t reshards[CSI_KDS_RESHARD_PER_DAY]; /* times of the last UpdateShardCount calls */
    struct rt_shard *shards;                    /* by index 0..n-1 */
    size_t n;
    unsigned refs; /* the cache holds one while listed */
    bool dead;     /* deleted: destroy the logs when the last reference goes */
    struct rt_stream *next;
};

struct csi_kds_store {
    csi_kds_store_config cfg;
    char *data_dir;
    csi_kds_meta *meta;
    cs_mutex mu; /* the cache, every stream's shard table, and log writes */
    struct rt_stream *streams;
};

void csi_kds_store_config_init(csi_kds_store_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->durable = true;
    if (cs_entropy_fill(cfg->iterator_key, sizeof(cfg->iterator_key)) != CS_OK) {
        /* zero key: iterators still work, only less unforgeable; say so */
        CS_LOG_WARN(NULL, MOD, "no entropy for the iterator key");
    }
}

static uint64_t now_ms(const csi_kds_store *s)
{
    return cs_clock_wall_ns(s->cfg.clock) / 1000000u;
}

cs_status csi_kds_store_open(const csi_kds_store_config *cfg, csi_kds_store **out)
{
    csi_kds_store *s;
    cs_status st;
    if (cfg == NULL || out == NULL || cfg->data_dir == NULL || cfg->db_path == NULL) {
        return CS_E_INVAL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return CS_E_NOMEM;
    }
    s->cfg = *cfg;
    s->data_dir = strdup(cfg->data_dir);
    if (s->data_dir == NULL || cs_mutex_init(&s->mu) != CS_OK) {
        free(s->data_dir);
        free(s);
        return CS_E_NOMEM;
    }
    st = csi_kds_meta_open(cfg->db_path, cfg->durable, cfg->logger, &s->meta);
    if (st != CS_OK) {
        cs_mutex_destroy(&s->mu);
        free(s->data_dir);
        free(s);
        return st;
    }
    *out = s;
    return CS_OK;
}

static void free_stream(struct rt_stream *r, bool destroy_logs)
{
    for (size_t i = 0; i < r->n; i++) {
        if (destroy_logs) {
            csi_reclog_destroy(&r->shards[i].log);
        } else {
            csi_reclog_close(&r->shards[i].log);
        }
    }
    free(r->shards);
    free(r);
}

void csi_kds_store_close(csi_kds_store **sp)
{
    csi_kds_store *s;
    if (sp == NULL || *sp == NULL) {
        return;
    }
    s = *sp;
    while (s->streams != NULL) {
        struct rt_stream *r = s->streams;
        s->streams = r->next;
        free_stream(r, false);
    }
    csi_kds_meta_close(&s->meta);
    cs_mutex_destroy(&s->mu);
    free(s->data_dir);
    free(s);
    *sp = NULL;
}

csi_kds_meta *csi_kds_store_meta(csi_kds_store *s)
{
    return s->meta;
}

uint64_t csi_kds_store_now_ms(const csi_kds_store *s)
{
    return now_ms(s);
}

static cs_status open_log(csi_kds_store *s, const struct rt_stream *r, uint32_t shard,
                          csi_reclog **log)
{
    char dir[4096];
    csi_reclog_config rc;
    csi_reclog_config_init(&rc);
    rc.sync = s->cfg.durable;
    rc.logger = s->cfg.logger;
    if (s->cfg.segment_bytes) {
        rc.segment_bytes = s->cfg.segment_bytes;
    }
    /* The creation time keeps a re-created stream of the same name apart from the old one. */
    snprintf(dir, sizeof(dir), "%s/records/%s-%" PRIu64 "/%u", s->data_dir, r->name, r->created_ms,
             shard);
    return csi_reclog_open(dir, &rc, log, NULL);
}

/* Adds shards from the metadata that the runtime does not have yet (lock held). */
static cs_status sync_shards(csi_kds_store *s, struct rt_stream *r)
{
    csi_kds_shard *sh = calloc(CSI_KDS_MAX_SHARDS, sizeof(*sh));
    size_t n = 0;
    cs_status st;
    if (sh == NULL) {
        return CS_E_NOMEM;
    }
    st = csi_kds_meta_shards(s->meta, r->name, sh, CSI_KDS_MAX_SHARDS, &n);
    if (st == CS_OK && n > r->n) {
        struct rt_shard *ns = realloc(r->shards, n * sizeof(*ns));
        if (ns == NULL) {
            st = CS_E_NOMEM;
        } else {
            r->shards = ns;
            for (size_t i = r->n; i < n && st == CS_OK; i++) {
                r->shards[i].meta = sh[i];
                r->shards[i].log = NULL;
                memset(&r->shards[i].buckets, 0, sizeof(r->shards[i].buckets));
                st = open_log(s, r, (uint32_t)i, &r->shards[i].log);
                if (st == CS_OK) {
                    r->n = i + 1;
                }
            }
        }
    }
    for (size_t i = 0; st == CS_OK && i < n && i < r->n; i++) {
        r->shards[i].meta = sh[i]; /* closed flags and end offsets */
    }
    free(sh);
    return st;
}

/* The stream's limits: its tag CSI_KDS_LIMITS_TAG when it parses, else the server's default. */
static void load_limits(csi_kds_store *s, struct rt_stream *r)
{
    csi_kds_tag *t = calloc(CSI_KDS_MAX_TAGS, sizeof(*t));
    size_t n = 0;
    r->limits = s->cfg.limits;
    if (t != NULL && csi_kds_meta_tags(s->meta, r->name, t, &n) == CS_OK) {
        for (size_t i = 0; i < n; i++) {
            csi_kds_limit_conf c;
            if (strcmp(t[i].key, CSI_KDS_LIMITS_TAG) == 0 &&
                csi_kds_limits_parse(t[i].value, &c) == CS_OK) {
                r->limits = c;
            }
        }
    }
    free(t);
}

/* The stream, from the cache or the metadata, with a reference (lock held). */
static cs_status find_locked(csi_kds_store *s, const char *name, struct rt_stream **out)
{
    struct rt_stream *r;
    csi_kds_stream ms;
    cs_status st;
    for (r = s->streams; r != NULL; r = r->next) {
        if (strcmp(r->name, name) == 0) {
            r->refs++;
            *out = r;
            return CS_OK;
        }
    }
    st = csi_kds_meta_get(s->meta, name, &ms);
    if (st != CS_OK) {
        return st;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return CS_E_NOMEM;
    }
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->created_ms = ms.created_ms;
    r->retention_hours = ms.retention_hours;
    load_limits(s, r);
    st = sync_shards(s, r);
    if (st != CS_OK) {
        free_stream(r, false);
        return st;
    }
    r->refs = 2; /* the cache's and the caller's */
    r->next = s->streams;
    s->streams = r;
    *out = r;
    return CS_OK;
}

static cs_status acquire(csi_kds_store *s, const char *name, struct rt_stream **out)
{
    cs_status st;
    cs_mutex_lock(&s->mu);
    st = find_locked(s, name, out);
    cs_mutex_unlock(&s->mu);
    return st;
}

static void release_locked(struct rt_stream *r)
{
    if (--r->refs == 0) {
        free_stream(r, r->dead);
    }
}

static void release(csi_kds_store *s, struct rt_stream *r)
{
    cs_mutex_lock(&s->mu);
    release_locked(r);
    cs_mutex_unlock(&s->mu);
}

cs_status csi_kds_store_create(csi_kds_store *s, const char *name, uint32_t shards, bool on_demand)
{
    if (s == NULL || name == NULL) {
        return CS_E_INVAL;
    }
    return csi_kds_meta_create(s->meta, name, shards, on_demand, now_ms(s), NULL);
}

cs_status csi_kds_store_delete(csi_kds_store *s, const char *name)
{
    struct rt_stream *r = NULL, **pp;
    cs_status st;
    if (s == NULL || name == NULL) {
        return CS_E_INVAL;
    }
    cs_mutex_lock(&s->mu);
    st = find_locked(s, name, &r);
    if (st == CS_OK) {
        st = csi_kds_meta_delete(s->meta, name);
    }
    if (st == CS_OK) {
        for (pp = &s->streams; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == r) {
                *pp = r->next;
                r->refs--; /* the cache's reference */
                break;
            }
        }
        r->dead = true;
    }
    if (r != NULL) {
        release_locked(r);
    }
    cs_mutex_unlock(&s->mu);
    return st;
}

cs_status csi_kds_store_put(csi_kds_store *s, const char *name, const csi_kds_put *recs, size_t n,
                            csi_kds_put_result *res)
{
    struct rt_stream *r = NULL;
    uint32_t *route = NULL;
    csi_reclog_record *batch = NULL;
    size_t *members = NULL;
    uint64_t *ends = NULL;
    csi_reclog **logs = NULL, **rec_log = NULL;
    csi_u128 *hash = NULL;
    size_t nlogs = 0;
    uint64_t t = now_ms(s);
    cs_status st = CS_OK;

    if (s == NULL || name == NULL || (recs == NULL && n > 0) || res == NULL || n == 0) {
        return CS_E_INVAL;
    }
    hash = malloc(n * sizeof(*hash));
    route = calloc(n, sizeof(*route));
    batch = calloc(n, sizeof(*batch));
    members = calloc(n, sizeof(*members));
    ends = calloc(n, sizeof(*ends));
    logs = calloc(n, sizeof(*logs));
    rec_log = calloc(n, sizeof(*rec_log));
    if (hash == NULL || route == NULL || batch == NULL || members == NULL || ends == NULL ||
        logs == NULL || rec_log == NULL) {
        st = CS_E_NOMEM;
        goto out;
    }
    /* Validate everything before writing anything. */
    for (size_t i = 0; i < n; i++) {
        if (recs[i].partition_key == NULL || recs[i].key_len == 0 || recs[i].key_len > 256 ||
            recs[i].len > CSI_RECLOG_MAX_DATA || (recs[i].data == NULL && recs[i].len > 0)) {
            st = CS_E_INVAL;
            goto out;
        }
    }
    /* The hash keys before the lock (they depend on the records only). */
    for (size_t i = 0; i < n && st == CS_OK; i++) {
        if (recs[i].explicit_hash != NULL) {
            st = csi_kds_u128_parse(recs[i].explicit_hash, strlen(recs[i].explicit_hash), &hash[i]);
            st = st == CS_OK ? CS_OK : CS_E_INVAL;
        } else {
            st = csi_kds_hash_key(recs[i].partition_key, recs[i].key_len, &hash[i]);
        }
    }
    if (st != CS_OK) {
        /* as before the move: an unknown stream is reported first */
        cs_status ast = acquire(s, name, &r);
        if (ast != CS_OK) {
            st = ast;
        } else {
            release(s, r);
        }
        goto out;
    }
    st = acquire(s, name, &r);
    if (st != CS_OK) {
        goto out;
    }
    cs_mutex_lock(&s->mu);
    for (size_t i = 0; i < n && st == CS_OK; i++) {
        csi_u128 h = hash[i];
        bool found = false;
        for (size_t k = 0; k < r->n; k++) {
            const csi_kds_shard *m = &r->shards[k].meta;
            if (!m->closed && m->start <= h && h <= m->end) {
                route[i] = (uint32_t)k;
                found = true;
                break;
            }
        }
        if (st == CS_OK && !found) {
            st = CS_E_INTERNAL; /* the open shards always cover the space */
        }
    }
    /* Per-shard limits, record by record in the call's order: a record over its shard's limit
     * is not written and fails alone (ProvisionedThroughputExceededException). */
    for (size_t i = 0; st == CS_OK && csi_kds_limits_on(&r->limits) && i < n; i++) {
        if (!csi_kds_limits_take_put(&r->shards[route[i]].buckets, &r->limits, t,
                                     (uint64_t)recs[i].len + recs[i].key_len)) {
            res[i].status = CS_E_LIMIT;
            res[i].shard = route[i];
            res[i].seq[0] = '\0';
            route[i] = UINT32_MAX; /* skipped below */
        }
    }
    /* Write each shard's part, in the records' order (route[j] = UINT32_MAX once written, so
     * each shard's records are gathered once: O(n x shards), not O(n^2)). */
    for (size_t i = 0; i < n && st == CS_OK; i++) {
        size_t k = 0;
        uint64_t first = 0;
        cs_status wst;
        uint32_t sh = route[i];
        if (sh == UINT32_MAX) {
            continue; /* over its limit, or written with an earlier record of its shard */
        }
        for (size_t j = i; j < n; j++) {
            if (route[j] == sh) {
                batch[k] = (csi_reclog_record){recs[j].partition_key, recs[j].key_len, recs[j].data,
                                               recs[j].len};
                members[k++] = j;
                route[j] = UINT32_MAX;
            }
        }
        wst = csi_reclog_write(r->shards[sh].log, batch, k, t, &first, &ends[nlogs]);
        for (size_t m = 0; m < k; m++) {
            csi_kds_put_result *pr = &res[members[m]];
            pr->status = wst;
            pr->shard = sh;
            rec_log[members[m]] = r->shards[sh].log;
            if (wst == CS_OK && m > 0 && res[members[m - 1]].status == CS_OK) {
                /* the previous record's number + 1: only the offset digits change */
                memcpy(pr->seq, res[members[m - 1]].seq, sizeof(pr->seq));
                for (size_t d = 40; d >= 21; d--) { /* the 20 offset digits (kds.c) */
                    if (pr->seq[d] != '9') {
                        pr->seq[d]++;
                        break;
                    }
                    pr->seq[d] = '0';
                }
            } else if (wst == CS_OK) {
                csi_kds_seq_format(r->created_ms, sh, first + m, pr->seq);
            } else {
                pr->seq[0] = '\0';
            }
        }
        if (wst == CS_OK) {
            logs[nlogs++] = r->shards[sh].log;
        }
    }
    cs_mutex_unlock(&s->mu);
    /* Durable: each shard's sync (group commit shares it with other writers). */
    for (size_t k = 0; st == CS_OK && k < nlogs; k++) {
        cs_status sst = csi_reclog_sync(logs[k], ends[k]);
        if (sst != CS_OK) {
            for (size_t i = 0; i < n; i++) {
                if (res[i].status == CS_OK && rec_log[i] == logs[k]) {
                    res[i].status = sst;
                    res[i].seq[0] = '\0';
                }
            }
        }
    }
    release(s, r);
out:
    free(hash);
    free(route);
    free(batch);
    free(members);
    free(ends);
    free(logs);
    free(rec_log);
    return st;
}

cs_status csi_kds_store_iterator(csi_kds_store *s, const char *name, uint32_t shard,
                                 csi_kds_iter_type type, const char *seq, uint64_t ts_ms,
                                 char out[CSI_KDS_ITERATOR_MAX])
{
    struct rt_stream *r = NULL;
    csi_kds_iterator it;
    csi_reclog *log;
    uint64_t first, end, off = 0;
    size_t len;
    cs_status st;
    if (s == NULL || name == NULL || out == NULL) {
        return CS_E_INVAL;
    }
    st = acquire(s, name, &r);
    if (st != CS_OK) {
        return st;
    }
    cs_mutex_lock(&s->mu);
    log = shard < r->n ? r->shards[shard].log : NULL;
    cs_mutex_unlock(&s->mu);
    if (log == NULL) {
        release(s, r);
        return CS_E_NOTFOUND;
    }
    csi_reclog_bounds(log, &first, &end);
    switch (type) {
    case CSI_KDS_AT_SEQUENCE_NUMBER:
    case CSI_KDS_AFTER_SEQUENCE_NUMBER: {
        uint32_t sh;
        char before[CSI_KDS_SEQ_LEN + 1];
        csi_kds_seq_before_first(r->created_ms, shard, before);
        if (seq != NULL && strcmp(seq, before) == 0) {
            off = 0; /* a continuation before the shard's first record (kds.h) */
        } else if (seq == NULL ||
                   csi_kds_seq_parse(seq, strlen(seq), r->created_ms, &sh, &off) != CS_OK ||
                   sh != shard) {
            st = CS_E_INVAL;
        } else if (type == CSI_KDS_AFTER_SEQUENCE_NUMBER) {
            off++;
        }
        break;
    }
    case CSI_KDS_AT_TIMESTAMP:
        st = csi_reclog_seek_time(log, ts_ms, &off);
        break;
    case CSI_KDS_TRIM_HORIZON:
        off = first;
        break;
    case CSI_KDS_LATEST:
    default:
        off = end;
        break;
    }
    if (st == CS_OK) {
        memset(&it, 0, sizeof(it));
        snprintf(it.stream, sizeof(it.stream), "%s", r->name);
        it.stream_created_ms = r->created_ms;
        it.shard = shard;
        it.offset = off;
        it.issued_ms = now_ms(s);
        st = csi_kds_iterator_encode(&it, s->cfg.iterator_key, out, &len);
    }
    release(s, r);
    return st;
}

struct read_ctx {
    const struct rt_stream *r;
    uint32_t shard;
    csi_kds_record_fn fn;
    void *ctx;
    uint64_t last_ms;
    size_t n;
    char seq[CSI_KDS_SEQ_LEN + 1]; /* the last record's sequence number, when n > 0 */
    uint64_t seq_offset;
};

/* The sequence number of the record at `offset`: the previous one + 1 when it follows it (only
 * the offset digits change, as in csi_kds_store_put), else formatted. */
static void next_seq(struct read_ctx *c, uint64_t offset)
{
    if (c->n > 0 && offset == c->seq_offset + 1) {
        for (size_t d = 40; d >= 21; d--) { /* the 20 offset digits (kds.c) */
            if (c->seq[d] != '9') {
                c->seq[d]++;
                break;
            }
            c->seq[d] = '0';
        }
    } else {
        csi_kds_seq_format(c->r->created_ms, c->shard, offset, c->seq);
    }
    c->seq_offset = offset;
}

static bool on_entry(void *ctx, const csi_reclog_entry *e)
{
    struct read_ctx *c = ctx;
    csi_kds_record rec;
    next_seq(c, e->offset);
    rec.seq = c->seq;
    rec.arrival_ms = e->arrival_ms;
    rec.partition_key = e->key;
    rec.key_len = e->key_len;
    rec.data = e->data;
    rec.len = e->data_len;
    if (!c->fn(c->ctx, &rec)) {
        return false;
    }
    c->last_ms = e->arrival_ms;
    c->n++;
    return true;
}

static cs_status get_impl(csi_kds_store *s, const char *iterator, size_t limit,
                          csi_kds_record_fn fn, void *ctx, csi_kds_get_result *res, bool charge);

cs_status csi_kds_store_get(csi_kds_store *s, const char *iterator, size_t limit,
                            csi_kds_record_fn fn, void *ctx, csi_kds_get_result *res)
{
    return get_impl(s, iterator, limit, fn, ctx, res, false);
}

cs_status csi_kds_store_get_limited(csi_kds_store *s, const char *iterator, size_t limit,
                                    csi_kds_record_fn fn, void *ctx, csi_kds_get_result *res)
{
    return get_impl(s, iterator, limit, fn, ctx, res, true);
}

static cs_status get_impl(csi_kds_store *s, const char *iterator, size_t limit,
                          csi_kds_record_fn fn, void *ctx, csi_kds_get_result *res, bool charge)
{
    csi_kds_iterator it;
    struct rt_stream *r = NULL;
    struct read_ctx rc;
    csi_kds_shard meta;
    csi_reclog *log;
    uint64_t next = 0, first, end, t = now_ms(s);
    size_t len;
    cs_status st;
    if (s == NULL || iterator == NULL || fn == NULL || res == NULL) {
        return CS_E_INVAL;
    }
    memset(res, 0, sizeof(*res));
    st = csi_kds_iterator_decode(iterator, strlen(iterator), s->cfg.iterator_key, t, &it);
    if (st != CS_OK) {
        return st;
    }
    st = acquire(s, it.stream, &r);
    if (st != CS_OK) {
        return st;
    }
    cs_mutex_lock(&s->mu);
    log = it.stream_created_ms == r->created_ms && it.shard < r->n ? r->shards[it.shard].log : NULL;
    if (log != NULL) {
        meta = r->shards[it.shard].meta;
        if (charge && !csi_kds_limits_take_get(&r->shards[it.shard].buckets, &r->limits, t)) {
            log = NULL;
            st = CS_E_LIMIT;
        }
    }
    cs_mutex_unlock(&s->mu);
    if (log == NULL) {
        release(s, r);
        return st == CS_E_LIMIT ? st : CS_E_NOTFOUND;
    }
    if (limit == 0 || limit > MAX_READ_RECORDS) {
        limit = MAX_READ_RECORDS;
    }
    memset(&rc, 0, sizeof(rc));
    rc.r = r;
    rc.shard = it.shard;
    rc.fn = fn;
    rc.ctx = ctx;
    st = csi_reclog_read(log, it.offset, limit, READ_BYTES, on_entry, &rc, &next);
    if (st == CS_OK) {
        csi_reclog_bounds(log, &first, &end);
        if (next < first) {
            next = first;
        }
        res->records = rc.n;
        res->millis_behind = next >= end || rc.n == 0 ? 0 : (t > rc.last_ms ? t - rc.last_ms : 0);
        if (meta.closed && next >= meta.end_offset) {
            /* The end of a closed shard: no next iterator, its children instead. */
            cs_mutex_lock(&s->mu);
            for (size_t k = 0; k < r->n && res->n_children < 2; k++) {
                if (r->shards[k].meta.parent == (int64_t)it.shard ||
                    r->shards[k].meta.adjacent_parent == (int64_t)it.shard) {
                    res->child_shards[res->n_children] = r->shards[k].meta;
                    res->children[res->n_children++] = (uint32_t)k;
                }
            }
            cs_mutex_unlock(&s->mu);
        } else {
            it.offset = next;
            it.issued_ms = t;
            st = csi_kds_iterator_encode(&it, s->cfg.iterator_key, res->next, &len);
            res->has_next = st == CS_OK;
        }
    }
    release(s, r);
    return st;
}

cs_status csi_kds_store_split(csi_kds_store *s, const char *name, uint32_t shard,
                              const char *new_start, uint32_t children[2])
{
    struct rt_stream *r = NULL;
    csi_u128 key;
    cs_status st;
    if (s == NULL || name == NULL || new_start == NULL) {
        return CS_E_INVAL;
    }
    if (csi_kds_u128_parse(new_start, strlen(new_start), &key) != CS_OK) {
        return CS_E_INVAL;
    }
    cs_mutex_lock(&s->mu);
    st = find_locked(s, name, &r);
    if (st == CS_OK) {
        /* Writes happen under this lock: no record can land in the parent after this. */
        uint64_t end = shard < r->n ? csi_reclog_written_end(r->shards[shard].log) : 0;
        st = csi_kds_meta_split(s->meta, name, shard, key, end, now_ms(s), children);
        if (st == CS_OK) {
            st = sync_shards(s, r);
        }
        release_locked(r);
    }
    cs_mutex_unlock(&s->mu);
    return st;
}

cs_status csi_kds_store_merge(csi_kds_store *s, const char *name, uint32_t a, uint32_t b,
                              uint32_t *child)
{
    struct rt_stream *r = NULL;
    cs_status st;
    if (s == NULL || name == NULL) {
        return CS_E_INVAL;
    }
    cs_mutex_lock(&s->mu);
    st = find_locked(s, name, &r);
    if (st == CS_OK) {
        uint64_t ea = a < r->n ? csi_reclog_written_end(r->shards[a].log) : 0;
        uint64_t eb = b < r->n ? csi_reclog_written_end(r->shards[b].log) : 0;
        st = csi_kds_meta_merge(s->meta, name, a, b, ea, eb, now_ms(s), child);
        if (st == CS_OK) {
            st = sync_shards(s, r);
        }
        release_locked(r);
    }
    cs_mutex_unlock(&s->mu);
    return st;
}

cs_status csi_kds_store_trim(csi_kds_store *s, uint64_t *removed)
{
    char(*names)[CSI_KDS_MAX_STREAM_NAME + 1] = malloc(100 * sizeof(*names));
    char after[CSI_KDS_MAX_STREAM_NAME + 1] = "";
    uint64_t total = 0, t = now_ms(s);
    cs_status st = CS_OK;
    bool more = true;
    if (s == NULL || names == NULL) {
        free(names);
        return s == NULL ? CS_E_INVAL : CS_E_NOMEM;
    }
    while (more && st == CS_OK) {
        size_t n = 0;
        st = csi_kds_meta_list(s->meta, after[0] ? after : NULL, 100, names, &n, &more);
        for (size_t i = 0; st == CS_OK && i < n; i++) {
            struct rt_stream *r = NULL;
            csi_kds_stream ms;
            if (csi_kds_meta_get(s->meta, names[i], &ms) != CS_OK ||
                acquire(s, names[i], &r) != CS_OK) {
                continue; /* deleted meanwhile */
            }
            csi_reclog **logs;
            size_t nl;
            /* The shard table may grow (a split) meanwhile: copy the logs under the lock; the
             * reference keeps them open. */
            cs_mutex_lock(&s->mu);
            nl = r->n;
            logs = calloc(nl ? nl : 1, sizeof(*logs));
            for (size_t k = 0; logs != NULL && k < nl; k++) {
                logs[k] = r->shards[k].log;
            }
            cs_mutex_unlock(&s->mu);
            for (size_t k = 0; logs != NULL && k < nl; k++) {
                uint64_t gone = 0;
                uint64_t keep = (uint64_t)ms.retention_hours * 3600000u;
                if (t > keep && csi_reclog_trim(logs[k], t - keep, &gone) == CS_OK) {
                    total += gone;
                }
            }
            free(logs);
            release(s, r);
            snprintf(after, sizeof(after), "%s", names[i]);
        }
    }
    free(names);
    if (removed != NULL) {
        *removed = total;
    }
    return st;
}

cs_status csi_kds_store_iterator_position(csi_kds_store *s, const char *iterator,
                                          csi_kds_iterator *out)
{
    if (s == NULL || iterator == NULL || out == NULL) {
        return CS_E_INVAL;
    }
    return csi_kds_iterator_decode(iterator, strlen(iterator), s->cfg.iterator_key, now_ms(s), out);
}

cs_status csi_kds_store_update_shard_count(csi_kds_store *s, const char *name, uint32_t target,
                                           uint32_t *current)
{
    struct rt_stream *r = NULL;
    csi_kds_shard *sh = NULL;
    csi_kds_reshard_op *ops = NULL;
    uint64_t *ends = NULL, t = now_ms(s);
    size_t n = 0, n_ops = 0, n_new = 0, cap;
    uint32_t open = 0, recent = 0;
    cs_status st;
    if (s == NULL || name == NULL || target == 0) {
        return CS_E_INVAL;
    }
    cs_mutex_lock(&s->mu);
    st = find_locked(s, name, &r);
    if (st != CS_OK) {
        cs_mutex_unlock(&s->mu);
        return st;
    }
    n = r->n;
    for (size_t k = 0; k < n; k++) {
        open += r->shards[k].meta.closed ? 0u : 1u;
    }
    for (size_t k = 0; k < CSI_KDS_RESHARD_PER_DAY; k++) {
        recent += r->reshards[k] != 0 && r->reshards[k] + 24u * 3600000u > t ? 1u : 0u;
    }
    if (current != NULL) {
        *current = open;
    }
    if (target > CSI_KDS_RESHARD_MAX_TARGET || target > 2u * (uint64_t)open ||
        2u * (uint64_t)target < open) {
        st = CS_E_RANGE;
        goto out;
    }
    if (recent >= CSI_KDS_RESHARD_PER_DAY) {
        st = CS_E_LIMIT;
        goto out;
    }
    cap = (size_t)open + target + 2;
    sh = calloc(n ? n : 1, sizeof(*sh));
    ends = calloc(n ? n : 1, sizeof(*ends));
    ops = calloc(cap, sizeof(*ops));
    if (sh == NULL || ends == NULL || ops == NULL) {
        st = CS_E_NOMEM;
        goto out;
    }
    /* Writes happen under this lock: no record lands in a shard after its end is taken. */
    for (size_t k = 0; k < n; k++) {
        sh[k] = r->shards[k].meta;
        ends[k] = r->shards[k].meta.closed ? r->shards[k].meta.end_offset
                                           : csi_reclog_written_end(r->shards[k].log);
    }
    st = csi_kds_reshard_plan(sh, n, target, ops, cap, &n_ops, &n_new);
    if (st == CS_OK && n + n_new > CSI_KDS_MAX_SHARDS) {
        st = CS_E_LIMIT;
    }
    if (st == CS_OK && n_ops > 0) {
        st = csi_kds_meta_reshard(s->meta, name, ops, n_ops, ends, n, t);
        if (st == CS_OK) {
            st = sync_shards(s, r);
        }
    }
    if (st == CS_OK) {
        size_t oldest = 0;
        for (size_t k = 1; k < CSI_KDS_RESHARD_PER_DAY; k++) {
            oldest = r->reshards[k] < r->reshards[oldest] ? k : oldest;
        }
        r->reshards[oldest] = t;
    }
out:
    release_locked(r);
    cs_mutex_unlock(&s->mu);
    free(sh);
    free(ends);
    free(ops);
    return st;
}

cs_status csi_kds_store_limits(csi_kds_store *s, const char *name, csi_kds_limit_conf *out)
{
    struct rt_stream *r = NULL;
    cs_status st = CS_OK;
    if (s == NULL || out == NULL) {
        return CS_E_INVAL;
    }
    cs_mutex_lock(&s->mu);
    if (name == NULL) {
        *out = s->cfg.limits;
    } else if ((st = find_locked(s, name, &r)) == CS_OK) {
        *out = r->limits;
        release_locked(r);
    }
    cs_mutex_unlock(&s->mu);
    return st;
}

void csi_kds_store_limits_changed(csi_kds_store *s, const char *name)
{
    if (s == NULL || name == NULL) {
        return;
    }
    cs_mutex_lock(&s->mu);
    for (struct rt_stream *r = s->streams; r != NULL; r = r->next) {
        if (strcmp(r->name, name) == 0) {
            load_limits(s, r);
        }
    }
    cs_mutex_unlock(&s->mu);
}
