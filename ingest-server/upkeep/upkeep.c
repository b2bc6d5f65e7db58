/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Startup recovery and the retention sweeper: the two jobs that keep the index (index/) and the
 * object store (storage/) consistent across crashes, retention and stream deletion. Both delete
 * a row before its object, so a crash at any point leaves at worst an orphan object, which
 * recovery removes. See docs/internals/STORAGE.md, "Recovery and retention".
 */
#define _POSIX_C_SOURCE 200809L
#include "upkeep.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media.h"

#define MOD "upkeep"
#define STREAMS_PAGE 64
#define HASH_LEN 16
#define PREFIX_LEN (8 + HASH_LEN) /* "streams/" + hash */

void cs_upkeep_config_init(cs_upkeep_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->check = CS_RECOVERY_CHECKSUM;
    cfg->interval_ms = 60000;
    cfg->batch = 256;
}

void cs_upkeep_stream_prefix(const char *stream_arn, char out[32])
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a 64; putmedia.c names objects with this */
    for (const char *s = stream_arn; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ull;
    }
    snprintf(out, 32, "streams/%016" PRIx64 "/", h);
}

static const cs_logger *logger_of(const cs_upkeep_config *cfg)
{
    return cfg->logger ? cfg->logger : cs_logger_default();
}

static uint32_t batch_of(const cs_upkeep_config *cfg)
{
    return cfg->batch == 0 ? 256 : cfg->batch > 4096 ? 4096 : cfg->batch;
}

/* True for `streams/<16 hex>/fragments/<name>.mkv`, the only keys the server writes. */
static bool fragment_key(const char *key)
{
    size_t n = strlen(key);
    if (n < PREFIX_LEN + 11 + 4 || strncmp(key, "streams/", 8) != 0 ||
        strncmp(key + PREFIX_LEN, "/fragments/", 11) != 0 || strcmp(key + n - 4, ".mkv") != 0) {
        return false;
    }
    for (size_t i = 8; i < PREFIX_LEN; i++) {
        if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

/* ---------------------------------------------------------------------------------------------- */
/* Recovery                                                                                       */
/* ---------------------------------------------------------------------------------------------- */

struct bad_row {
    char stream[CS_INDEX_NAME_SIZE];
    char number[CS_INDEX_FRAGMENT_NUMBER_SIZE];
    char key[CS_INDEX_OBJECT_KEY_SIZE];
    bool torn;
};

struct scan_ctx {
    const cs_upkeep_config *cfg;
    cs_recovery_report *rep;
    struct bad_row *bad;
    size_t n_bad;
};

static cs_status crc_fn(void *ctx, const void *data, size_t len)
{
    uint32_t *crc = ctx;
    *crc = cs_media_crc32c(*crc, data, len);
    return CS_OK;
}

/* Checks one row's object; CS_OK with missing/torn set, or an error that stops recovery. */
static cs_status check_object(const cs_upkeep_config *cfg, const cs_index_fragment *f,
                              bool *missing, bool *torn)
{
    uint64_t size = 0;
    uint32_t crc = 0;
    char want[CS_INDEX_CHECKSUM_SIZE];
    cs_status st;
    *missing = false;
    *torn = false;
    if (cs_store_key_check(f->object_key) != CS_OK) {
        *missing = true; /* no object can have that key */
        return CS_OK;
    }
    st = cs_store_head(cfg->store, f->object_key, &size);
    if (st == CS_E_NOTFOUND) {
        *missing = true;
        return CS_OK;
    }
    if (st != CS_OK) {
        return st;
    }
    /* The object is the stream header (+ tags) followed by the Cluster of `size` bytes. */
    if (size <= f->size) {
        *torn = true;
        return CS_OK;
    }
    if (cfg->check != CS_RECOVERY_CHECKSUM || strncmp(f->checksum, "crc32c:", 7) != 0) {
        return CS_OK;
    }
    st =
        cs_store_get_stream(cfg->store, f->object_key, size - f->size, f->size, crc_fn, &crc, NULL);
    if (st == CS_E_NOTFOUND) {
        *missing = true;
        return CS_OK;
    }
    if (st != CS_OK) {
        return st;
    }
    snprintf(want, sizeof(want), "crc32c:%08" PRIx32, crc);
    *torn = strcmp(want, f->checksum) != 0;
    return CS_OK;
}

static cs_status scan_fn(void *ctx, int64_t row_id, const char *stream_name, const char *stream_arn,
                         const cs_index_fragment *frag)
{
    struct scan_ctx *c = ctx;
    bool missing, torn;
    cs_status st = check_object(c->cfg, frag, &missing, &torn);
    (void)row_id;
    (void)stream_arn;
    c->rep->rows_checked++;
    if (st != CS_OK) {
        CS_LOG_ERROR(logger_of(c->cfg), MOD, "recovery: cannot check %s: %s", frag->object_key,
                     cs_status_str(st));
        return st;
    }
    if (missing || torn) {
        struct bad_row *b = &c->bad[c->n_bad++];
        snprintf(b->stream, sizeof(b->stream), "%s", stream_name);
        snprintf(b->number, sizeof(b->number), "%s", frag->number);
        snprintf(b->key, sizeof(b->key), "%s", frag->object_key);
        b->torn = torn;
    }
    return CS_OK;
}

static cs_status recover_rows(const cs_upkeep_config *cfg, cs_recovery_report *rep)
{
    const cs_logger *lg = logger_of(cfg);
    uint32_t batch = batch_of(cfg);
    struct scan_ctx c = {cfg, rep, NULL, 0};
    int64_t after = 0;
    cs_status st = CS_OK;
    c.bad = malloc(sizeof(*c.bad) * batch);
    if (c.bad == NULL) {
        return CS_E_NOMEM;
    }
    do {
        c.n_bad = 0;
        st = cs_index_fragment_scan(cfg->index, after, batch, scan_fn, &c, &after);
        if (st != CS_OK) {
            break;
        }
        /* Row first, then the (torn) object: a crash in between leaves an orphan object. */
        for (size_t i = 0; i < c.n_bad && st == CS_OK; i++) {
            const struct bad_row *b = &c.bad[i];
            CS_LOG_WARN(lg, MOD, "recovery: stream %s fragment %s: object %s %s; row removed",
                        b->stream, b->number, b->key,
                        b->torn ? "is torn (size or checksum mismatch)" : "is missing");
            st = cs_index_fragment_delete(cfg->index, b->stream, b->number);
            if (st == CS_E_NOTFOUND) {
                st = CS_OK;
            }
            if (st == CS_OK && b->torn) {
                st = cs_store_delete(cfg->store, b->key);
            }
            if (st == CS_OK) {
                *(b->torn ? &rep->rows_torn : &rep->rows_missing) += 1;
            }
        }
    } while (st == CS_OK && after != 0);
    free(c.bad);
    return st;
}

static cs_status recover_orphans(const cs_upkeep_config *cfg, cs_recovery_report *rep)
{
    const cs_logger *lg = logger_of(cfg);
    uint32_t batch = batch_of(cfg);
    cs_store_entry *e = malloc(sizeof(*e) * batch);
    char after[CS_STORE_KEY_MAX + 1] = "";
    size_t n = 0;
    bool more = true;
    cs_status st = CS_OK;
    if (e == NULL) {
        return CS_E_NOMEM;
    }
    while (st == CS_OK && more) {
        st = cs_store_list(cfg->store, "streams/", after, e, batch, &n, &more);
        for (size_t i = 0; st == CS_OK && i < n; i++) {
            bool used = true;
            if (!fragment_key(e[i].key)) {
                continue; /* not the server's: left alone */
            }
            rep->objects_checked++;
            st = cs_index_object_key_used(cfg->index, e[i].key, &used);
            if (st == CS_OK && !used) {
                CS_LOG_WARN(lg, MOD, "recovery: object %s has no index row; removed", e[i].key);
                st = cs_store_delete(cfg->store, e[i].key);
                rep->orphans_removed += st == CS_OK;
            }
        }
        if (n > 0) {
            snprintf(after, sizeof(after), "%s", e[n - 1].key);
        }
    }
    free(e);
    return st;
}

cs_status cs_upkeep_recover(const cs_upkeep_config *cfg, cs_recovery_report *out)
{
    cs_recovery_report rep;
    cs_store_stats ss;
    const cs_logger *lg;
    cs_status st;
    if (cfg == NULL || cfg->index == NULL || cfg->store == NULL) {
        return CS_E_INVAL;
    }
    lg = logger_of(cfg);
    memset(&rep, 0, sizeof(rep));
    if (cs_index_was_created(cfg->index)) {
        cs_store_entry e;
        size_t n = 0;
        bool more = false;
        st = cs_store_list(cfg->store, "streams/", NULL, &e, 1, &n, &more);
        if (st != CS_OK) {
            return st;
        }
        if (n > 0) {
            CS_LOG_ERROR(lg, MOD,
                         "recovery: the index is new but the object store holds fragments "
                         "(e.g. %s): refusing to treat them as orphans",
                         e.key);
            return CS_E_STATE;
        }
    }
    if (cs_store_stat(cfg->store, &ss) == CS_OK) {
        rep.tmp_removed = ss.recovered_tmp;
    }
    st = recover_rows(cfg, &rep);
    if (st == CS_OK) {
        st = recover_orphans(cfg, &rep);
    }
    if (rep.rows_missing + rep.rows_torn + rep.orphans_removed + rep.tmp_removed > 0) {
        CS_LOG_WARN(lg, MOD,
                    "recovery: %" PRIu64 " temporaries removed, %" PRIu64 " rows checked, %" PRIu64
                    " rows without an object and %" PRIu64 " with a torn object removed, %" PRIu64
                    " of %" PRIu64 " objects had no row and were removed",
                    rep.tmp_removed, rep.rows_checked, rep.rows_missing, rep.rows_torn,
                    rep.orphans_removed, rep.objects_checked);
    } else {
        CS_LOG_INFO(lg, MOD,
                    "recovery: %" PRIu64 " rows and %" PRIu64 " objects checked, all consistent",
                    rep.rows_checked, rep.objects_checked);
    }
    if (out) {
        *out = rep;
    }
    return st;
}

/* ---------------------------------------------------------------------------------------------- */
/* Sweeping                                                                                       */
/* ---------------------------------------------------------------------------------------------- */

struct stream_ref {
    char name[CS_INDEX_NAME_SIZE];
    char prefix[32];
    uint32_t retention_hours;
};

struct stream_page {
    struct stream_ref refs[STREAMS_PAGE];
    size_t n;
};

static cs_status page_fn(void *ctx, const cs_index_stream *st)
{
    struct stream_page *p = ctx;
    struct stream_ref *r = &p->refs[p->n++];
    snprintf(r->name, sizeof(r->name), "%s", st->name);
    cs_upkeep_stream_prefix(st->arn, r->prefix);
    r->retention_hours = st->retention_hours;
    return CS_OK;
}

static int cmp_prefix(const void *a, const void *b)
{
    return memcmp(a, b, PREFIX_LEN);
}

typedef char prefix_t[32];

/* The prefixes of every stream in the index, sorted; *out is malloc'd. */
static cs_status live_prefixes(const cs_upkeep_config *cfg, prefix_t **out, size_t *n_out)
{
    struct stream_page *p = malloc(sizeof(*p));
    char after[CS_INDEX_NAME_SIZE] = "";
    prefix_t *v = NULL;
    size_t n = 0, cap = 0;
    cs_status st = CS_OK;
    if (p == NULL) {
        return CS_E_NOMEM;
    }
    do {
        p->n = 0;
        st = cs_index_stream_list(cfg->index, NULL, after, STREAMS_PAGE, page_fn, p, after);
        for (size_t i = 0; st == CS_OK && i < p->n; i++) {
            if (n == cap) {
                prefix_t *nv = realloc(v, sizeof(*v) * (cap ? cap * 2 : 64));
                if (nv == NULL) {
                    st = CS_E_NOMEM;
                    break;
                }
                v = nv;
                cap = cap ? cap * 2 : 64;
            }
            memcpy(v[n++], p->refs[i].prefix, sizeof(prefix_t));
        }
    } while (st == CS_OK && after[0] != '\0');
    free(p);
    if (st != CS_OK) {
        free(v);
        return st;
    }
    if (n > 1) {
        qsort(v, n, sizeof(*v), cmp_prefix);
    }
    *out = v;
    *n_out = n;
    return CS_OK;
}

static bool has_prefix(prefix_t *v, size_t n, const char *key)
{
    return n > 0 && bsearch(key, v, n, sizeof(*v), cmp_prefix) != NULL;
}

/* Retention of one stream: rows first (durably), then their objects. */
static void expire_stream(const cs_upkeep_config *cfg, const struct stream_ref *r, int64_t now_ms,
                          cs_index_fragment *buf, uint32_t batch, cs_sweep_report *rep)
{
    const cs_logger *lg = logger_of(cfg);
    int64_t cutoff = now_ms - (int64_t)r->retention_hours * 3600000;
    size_t n;
    do {
        cs_status st = cs_index_fragment_expire(cfg->index, r->name, cutoff, buf, batch, &n);
        if (st != CS_OK) {
            if (st != CS_E_NOTFOUND) { /* NOTFOUND: deleted meanwhile */
                CS_LOG_ERROR(lg, MOD, "retention: stream %s: %s", r->name, cs_status_str(st));
                rep->errors++;
            }
            return;
        }
        for (size_t i = 0; i < n; i++) {
            st = cs_store_delete(cfg->store, buf[i].object_key);
            if (st != CS_OK) {
                /* The row is gone: the object is an orphan that recovery removes. */
                CS_LOG_ERROR(lg, MOD, "retention: delete %s: %s", buf[i].object_key,
                             cs_status_str(st));
                rep->errors++;
            }
        }
        rep->fragments_expired += n;
        if (n > 0) {
            CS_LOG_INFO(lg, MOD, "retention: stream %s: %zu fragments older than %u h removed",
                        r->name, n, r->retention_hours);
        }
    } while (n == batch);
}

static cs_status sweep_retention(const cs_upkeep_config *cfg, cs_sweep_report *rep)
{
    struct stream_page *p = malloc(sizeof(*p));
    uint32_t batch = batch_of(cfg);
    cs_index_fragment *buf = malloc(sizeof(*buf) * batch);
    char after[CS_INDEX_NAME_SIZE] = "";
    int64_t now_ms = (int64_t)(cs_clock_wall_ns(cfg->clock) / 1000000u);
    cs_status st = CS_OK;
    if (p == NULL || buf == NULL) {
        free(p);
        free(buf);
        return CS_E_NOMEM;
    }
    do {
        p->n = 0;
        st = cs_index_stream_list(cfg->index, NULL, after, STREAMS_PAGE, page_fn, p, after);
        for (size_t i = 0; st == CS_OK && i < p->n; i++) {
            rep->streams++;
            if (p->refs[i].retention_hours > 0) {
                expire_stream(cfg, &p->refs[i], now_ms, buf, batch, rep);
            }
        }
    } while (st == CS_OK && after[0] != '\0');
    free(p);
    free(buf);
    return st;
}

/* Objects under streams/<h>/ where no stream has prefix h: a deleted stream's. */
static cs_status sweep_deleted(const cs_upkeep_config *cfg, cs_sweep_report *rep)
{
    const cs_logger *lg = logger_of(cfg);
    prefix_t *live = NULL;
    size_t n_live = 0;
    cs_store_entry e[64];
    char after[CS_STORE_KEY_MAX + 1] = "";
    size_t n = 0;
    bool more = true;
    cs_status st = live_prefixes(cfg, &live, &n_live);
    if (st != CS_OK) {
        return st;
    }
    while (st == CS_OK && more) {
        char prefix[32];
        st = cs_store_list(cfg->store, "streams/", after, e, 1, &n, &more);
        if (st != CS_OK || n == 0) {
            break;
        }
        if (!fragment_key(e[0].key)) {
            snprintf(after, sizeof(after), "%s", e[0].key);
            continue;
        }
        memcpy(prefix, e[0].key, PREFIX_LEN);
        prefix[PREFIX_LEN] = '/';
        prefix[PREFIX_LEN + 1] = '\0';
        if (!has_prefix(live, n_live, prefix)) {
            /* Look again: a stream created since the list above may own it. */
            free(live);
            live = NULL;
            st = live_prefixes(cfg, &live, &n_live);
            if (st == CS_OK && !has_prefix(live, n_live, prefix)) {
                bool pmore = true;
                size_t removed = 0;
                while (st == CS_OK && pmore) {
                    size_t pn = 0;
                    st = cs_store_list(cfg->store, prefix, NULL, e, 64, &pn, &pmore);
                    size_t kept = 0;
                    for (size_t i = 0; st == CS_OK && i < pn; i++) {
                        bool used = false;
                        /* Belt and braces: never delete an object a row names (a prefix computed
                         * differently from putmedia.c's would otherwise wipe a live stream). */
                        st = cs_index_object_key_used(cfg->index, e[i].key, &used);
                        if (st == CS_OK && used) {
                            CS_LOG_ERROR(lg, MOD, "sweep: %s has a row but no stream prefix",
                                         e[i].key);
                            kept++;
                            continue;
                        }
                        if (st == CS_OK) {
                            st = cs_store_delete(cfg->store, e[i].key);
                            removed += st == CS_OK;
                        }
                    }
                    if (pn == 0 || kept > 0) {
                        break; /* kept objects would be listed again: leave the prefix */
                    }
                }
                rep->objects_of_deleted += removed;
                CS_LOG_INFO(lg, MOD, "sweep: %zu objects of a deleted stream (%s) removed", removed,
                            prefix);
            }
        }
        /* Every key under "streams/<h>/" sorts before "streams/<h>0" ('/' < '0'). */
        memcpy(after, prefix, PREFIX_LEN);
        after[PREFIX_LEN] = '0';
        after[PREFIX_LEN + 1] = '\0';
    }
    free(live);
    return st;
}

cs_status cs_upkeep_sweep(const cs_upkeep_config *cfg, cs_sweep_report *out)
{
    cs_sweep_report rep;
    cs_status st, st2;
    if (cfg == NULL || cfg->index == NULL || cfg->store == NULL) {
        return CS_E_INVAL;
    }
    memset(&rep, 0, sizeof(rep));
    st = sweep_retention(cfg, &rep);
    st2 = sweep_deleted(cfg, &rep);
    if (st == CS_OK && st2 != CS_OK) {
        st = st2;
    }
    if (st != CS_OK) {
        CS_LOG_ERROR(logger_of(cfg), MOD, "sweep: %s", cs_status_str(st));
        rep.errors++;
    }
    if (out) {
        *out = rep;
    }
    return st;
}

/* ---------------------------------------------------------------------------------------------- */
/* The sweeper thread                                                                             */
/* ---------------------------------------------------------------------------------------------- */

struct cs_sweeper {
    cs_upkeep_config cfg;
    cs_thread thread;
    cs_mutex mu;
    cs_cond cond;
    bool stop;
    bool kick;
    uint64_t runs;
};

static void sweeper_main(void *arg)
{
    cs_sweeper *sw = arg;
    cs_mutex_lock(&sw->mu);
    for (;;) {
        /* Real time (not cfg.clock): the period is the operator's, the cutoffs are cfg.clock's. */
        uint64_t deadline = cs_clock_monotonic_ns(NULL) + sw->cfg.interval_ms * 1000000u;
        while (!sw->stop && !sw->kick) {
            uint64_t now = cs_clock_monotonic_ns(NULL);
            if (now >= deadline) {
                break;
            }
            cs_cond_timedwait(&sw->cond, &sw->mu, deadline - now);
        }
        if (sw->stop) {
            break;
        }
        sw->kick = false;
        cs_mutex_unlock(&sw->mu);
        cs_upkeep_sweep(&sw->cfg, NULL);
        if (sw->cfg.also != NULL) {
            sw->cfg.also(sw->cfg.also_ctx);
        }
        cs_mutex_lock(&sw->mu);
        sw->runs++;
        cs_cond_broadcast(&sw->cond);
    }
    cs_mutex_unlock(&sw->mu);
}

cs_status cs_sweeper_start(const cs_upkeep_config *cfg, cs_sweeper **out)
{
    cs_sweeper *sw;
    if (cfg == NULL || cfg->index == NULL || cfg->store == NULL || out == NULL ||
        cfg->interval_ms == 0) {
        return CS_E_INVAL;
    }
    sw = calloc(1, sizeof(*sw));
    if (sw == NULL) {
        return CS_E_NOMEM;
    }
    sw->cfg = *cfg;
    if (cs_mutex_init(&sw->mu) != CS_OK) {
        free(sw);
        return CS_E_NOMEM;
    }
    if (cs_cond_init(&sw->cond) != CS_OK) {
        cs_mutex_destroy(&sw->mu);
        free(sw);
        return CS_E_NOMEM;
    }
    if (cs_thread_create(&sw->thread, sweeper_main, sw, "cs-sweeper") != CS_OK) {
        cs_cond_destroy(&sw->cond);
        cs_mutex_destroy(&sw->mu);
        free(sw);
        return CS_E_NOMEM;
    }
    *out = sw;
    return CS_OK;
}

void cs_sweeper_kick(cs_sweeper *sw)
{
    if (sw == NULL) {
        return;
    }
    cs_mutex_lock(&sw->mu);
    sw->kick = true;
    cs_cond_broadcast(&sw->cond);
    cs_mutex_unlock(&sw->mu);
}

uint64_t cs_sweeper_runs(cs_sweeper *sw)
{
    uint64_t n;
    cs_mutex_lock(&sw->mu);
    n = sw->runs;
    cs_mutex_unlock(&sw->mu);
    return n;
}

void cs_sweeper_stop(cs_sweeper **psw)
{
    cs_sweeper *sw = psw ? *psw : NULL;
    if (sw == NULL) {
        return;
    }
    cs_mutex_lock(&sw->mu);
    sw->stop = true;
    cs_cond_broadcast(&sw->cond);
    cs_mutex_unlock(&sw->mu);
    cs_thread_join(&sw->thread);
    cs_cond_destroy(&sw->cond);
    cs_mutex_destroy(&sw->mu);
    free(sw);
    *psw = NULL;
}
