/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the metadata index (ingest-server/index): a fresh database gets the current
 * schema; stream create/get/list (prefix, pages)/delete/retention/tags with their error
 * statuses; fragment insert with generated increasing numbers, exactly-once dedup, lookups and
 * time-range pages; data survives close and reopen; two threads inserting at once both succeed
 * with distinct, increasing numbers; group commit (many threads, each its own result, a failing
 * row fails only its caller, all there after reopen); the maintenance calls recovery and retention
 * use (scan, delete, object key lookup, expire, was_created).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "index.h"
#include "testutil.h"

static char db_path[1024];
static cs_manual_clock mclock;

static cs_index *open_db(const char *name, bool fresh)
{
    cs_index_config cfg;
    cs_index *ix = NULL;
    if (fresh) {
        snprintf(db_path, sizeof(db_path), "%s/index.sqlite3", cs_test_tmpdir(name));
    }
    cs_index_config_init(&cfg);
    cfg.path = db_path;
    cfg.durable = false;
    cfg.region = "eu-west-1";
    cfg.account_id = "111122223333";
    cfg.clock = &mclock.clock;
    assert_int_equal(cs_index_open(&cfg, &ix), CS_OK);
    return ix;
}

static void make_stream(cs_index *ix, const char *name, uint32_t retention)
{
    cs_index_stream st;
    cs_index_stream_init(&st);
    snprintf(st.name, sizeof(st.name), "%s", name);
    st.retention_hours = retention;
    assert_int_equal(cs_index_stream_create(ix, &st, NULL, 0), CS_OK);
}

static void test_schema(void **state)
{
    (void)state;
    cs_index *ix = open_db("index_schema", true);
    int v = -1;
    assert_int_equal(cs_index_schema_version(ix, &v), CS_OK);
    assert_int_equal(v, CS_INDEX_SCHEMA_VERSION);
    cs_index_close(&ix);
    assert_null(ix);
    cs_index_close(&ix); /* NULL accepted */
}

static void test_open_errors(void **state)
{
    (void)state;
    cs_index_config cfg;
    cs_index *ix = NULL;
    cs_index_config_init(&cfg);
    assert_int_equal(cs_index_open(&cfg, &ix), CS_E_INVAL);
    cfg.path = "/nonexistent-dir-for-camstream/index.sqlite3";
    assert_int_equal(cs_index_open(&cfg, &ix), CS_E_IO);
    assert_null(ix);
}

static void test_stream_crud(void **state)
{
    (void)state;
    cs_index *ix = open_db("index_crud", true);
    cs_index_stream st, got;
    cs_index_tag tags[2] = {{"k1", "v1"}, {"k2", ""}};
    cs_index_tag out[CS_INDEX_MAX_TAGS];
    size_t n = 0;
    const char *keys[] = {"k1", "missing"};

    cs_index_stream_init(&st);
    snprintf(st.name, sizeof(st.name), "cam-1");
    snprintf(st.media_type, sizeof(st.media_type), "video/h264");
    st.retention_hours = 24;
    assert_int_equal(cs_index_stream_create(ix, &st, tags, 2), CS_OK);
    assert_string_equal(st.arn,
                        "arn:aws:kinesisvideo:eu-west-1:111122223333:stream/cam-1/1700000000000");
    assert_int_equal(st.status, CS_INDEX_ACTIVE);
    assert_true(strlen(st.version) > 0);
    assert_int_equal(cs_index_stream_create(ix, &st, NULL, 0), CS_E_EXISTS);

    assert_int_equal(cs_index_stream_get(ix, "cam-1", NULL, &got), CS_OK);
    assert_string_equal(got.media_type, "video/h264");
    assert_int_equal(got.retention_hours, 24);
    assert_int_equal(got.creation_ms, 1700000000000LL);
    assert_int_equal(cs_index_stream_get(ix, NULL, st.arn, &got), CS_OK);
    assert_string_equal(got.name, "cam-1");
    assert_int_equal(cs_index_stream_get(ix, "other", st.arn, &got), CS_E_INVAL);
    assert_int_equal(cs_index_stream_get(ix, "nope", NULL, &got), CS_E_NOTFOUND);
    assert_int_equal(cs_index_stream_get(ix, NULL, NULL, &got), CS_E_INVAL);

    /* Retention: version checked and changed; range enforced. */
    assert_int_equal(cs_index_stream_update_retention(ix, "cam-1", NULL, "bad", 1), CS_E_STATE);
    assert_int_equal(cs_index_stream_update_retention(ix, "cam-1", NULL, got.version, -25),
                     CS_E_RANGE);
    assert_int_equal(cs_index_stream_update_retention(ix, "cam-1", NULL, got.version, 6), CS_OK);
    assert_int_equal(cs_index_stream_get(ix, "cam-1", NULL, &st), CS_OK);
    assert_int_equal(st.retention_hours, 30);
    assert_string_not_equal(st.version, got.version);

    /* Tags. */
    assert_int_equal(cs_index_stream_tags(ix, "cam-1", NULL, out, &n), CS_OK);
    assert_int_equal(n, 2);
    assert_string_equal(out[0].key, "k1");
    assert_string_equal(out[1].value, "");
    assert_int_equal(cs_index_stream_untag(ix, "cam-1", NULL, keys, 2), CS_OK);
    assert_int_equal(cs_index_stream_tags(ix, "cam-1", NULL, out, &n), CS_OK);
    assert_int_equal(n, 1);
    {
        cs_index_tag many[CS_INDEX_MAX_TAGS];
        for (int i = 0; i < CS_INDEX_MAX_TAGS; i++) {
            snprintf(many[i].key, sizeof(many[i].key), "t%02d", i);
            snprintf(many[i].value, sizeof(many[i].value), "%d", i);
        }
        /* 50 new + k2 = 51: refused, nothing changed. */
        assert_int_equal(cs_index_stream_tag(ix, "cam-1", NULL, many, CS_INDEX_MAX_TAGS),
                         CS_E_LIMIT);
        assert_int_equal(cs_index_stream_tags(ix, "cam-1", NULL, out, &n), CS_OK);
        assert_int_equal(n, 1);
        assert_int_equal(cs_index_stream_tag(ix, "cam-1", NULL, many, 3), CS_OK);
        assert_int_equal(cs_index_stream_tags(ix, "cam-1", NULL, out, &n), CS_OK);
        assert_int_equal(n, 4);
    }
    assert_int_equal(cs_index_stream_tag(ix, "nope", NULL, tags, 1), CS_E_NOTFOUND);

    /* Delete: version checked. */
    assert_int_equal(cs_index_stream_delete(ix, NULL, st.arn, "wrong"), CS_E_STATE);
    assert_int_equal(cs_index_stream_delete(ix, NULL, st.arn, st.version), CS_OK);
    assert_int_equal(cs_index_stream_get(ix, "cam-1", NULL, &got), CS_E_NOTFOUND);
    assert_int_equal(cs_index_stream_delete(ix, NULL, st.arn, NULL), CS_E_NOTFOUND);
    cs_index_close(&ix);
}

struct names {
    char list[64][CS_INDEX_NAME_SIZE];
    size_t n;
};

static cs_status collect(void *ctx, const cs_index_stream *st)
{
    struct names *nm = ctx;
    snprintf(nm->list[nm->n++], CS_INDEX_NAME_SIZE, "%s", st->name);
    return CS_OK;
}

static void test_stream_list(void **state)
{
    (void)state;
    cs_index *ix = open_db("index_list", true);
    struct names nm;
    char next[CS_INDEX_NAME_SIZE];
    const char *names[] = {"b-2", "a-1", "b-1", "c", "b-3", "ba"};
    for (size_t i = 0; i < 6; i++) {
        make_stream(ix, names[i], 0);
    }
    memset(&nm, 0, sizeof(nm));
    assert_int_equal(cs_index_stream_list(ix, NULL, NULL, 100, collect, &nm, next), CS_OK);
    assert_int_equal(nm.n, 6);
    assert_string_equal(nm.list[0], "a-1");
    assert_string_equal(nm.list[5], "c");
    assert_string_equal(next, "");

    /* BEGINS_WITH b-, pages of 2. */
    memset(&nm, 0, sizeof(nm));
    assert_int_equal(cs_index_stream_list(ix, "b-", NULL, 2, collect, &nm, next), CS_OK);
    assert_int_equal(nm.n, 2);
    assert_string_equal(next, "b-2");
    assert_int_equal(cs_index_stream_list(ix, "b-", next, 2, collect, &nm, next), CS_OK);
    assert_int_equal(nm.n, 3);
    assert_string_equal(nm.list[2], "b-3");
    assert_string_equal(next, "");

    /* Exactly a full page at the end: no next. */
    memset(&nm, 0, sizeof(nm));
    assert_int_equal(cs_index_stream_list(ix, "b", NULL, 4, collect, &nm, next), CS_OK);
    assert_int_equal(nm.n, 4);
    assert_string_equal(next, "");
    assert_int_equal(cs_index_stream_list(ix, NULL, NULL, 0, collect, &nm, next), CS_E_INVAL);
    cs_index_close(&ix);
}

static cs_index_fragment frag(int64_t producer_ms, uint64_t size, const char *sum)
{
    cs_index_fragment f;
    memset(&f, 0, sizeof(f));
    f.producer_ms = producer_ms;
    f.size = size;
    f.duration_ms = 1000;
    snprintf(f.checksum, sizeof(f.checksum), "%s", sum);
    snprintf(f.object_key, sizeof(f.object_key), "cam/%lld", (long long)producer_ms);
    return f;
}

struct frags {
    cs_index_fragment list[64];
    size_t n;
};

static cs_status collect_frag(void *ctx, const cs_index_fragment *f)
{
    struct frags *fr = ctx;
    fr->list[fr->n++] = *f;
    return CS_OK;
}

static void test_fragments(void **state)
{
    (void)state;
    cs_index *ix = open_db("index_frag", true);
    cs_index_fragment f, g;
    char prev[CS_INDEX_FRAGMENT_NUMBER_SIZE] = "";
    char next[CS_INDEX_FRAGMENT_NUMBER_SIZE];
    bool existed = true;
    struct frags fr;
    make_stream(ix, "cam", 24);

    for (int i = 0; i < 10; i++) {
        f = frag(1000 * i, 100 + (uint64_t)i, "sum");
        if (i == 5) {
            cs_manual_clock_advance(&mclock, 2000000000ull); /* 2 s later */
        }
        assert_int_equal(cs_index_fragment_insert(ix, "cam", &f, &existed), CS_OK);
        assert_false(existed);
        assert_int_equal(strlen(f.number), 47);
        assert_true(strcmp(f.number, prev) > 0);
        snprintf(prev, sizeof(prev), "%s", f.number);
    }
    /* Exactly once: same producer ts, size and checksum -> the existing row. */
    f = frag(3000, 103, "sum");
    assert_int_equal(cs_index_fragment_insert(ix, "cam", &f, &existed), CS_OK);
    assert_true(existed);
    assert_int_equal(cs_index_fragment_find(ix, "cam", 3000, 103, "sum", &g), CS_OK);
    assert_string_equal(g.number, f.number);
    assert_int_equal(cs_index_fragment_find(ix, "cam", 3000, 103, "other", &g), CS_E_NOTFOUND);
    assert_int_equal(cs_index_fragment_get(ix, "cam", f.number, &g), CS_OK);
    assert_int_equal(g.producer_ms, 3000);
    assert_string_equal(g.object_key, "cam/3000");
    assert_int_equal(cs_index_fragment_get(ix, "cam", "1", &g), CS_E_NOTFOUND);
    assert_int_equal(cs_index_fragment_insert(ix, "none", &f, NULL), CS_E_NOTFOUND);

    assert_int_equal(cs_index_fragment_edge(ix, "cam", false, &g), CS_OK);
    assert_int_equal(g.producer_ms, 0);
    assert_int_equal(cs_index_fragment_edge(ix, "cam", true, &g), CS_OK);
    assert_int_equal(g.producer_ms, 9000);

    /* Producer range [2000, 7000] in pages of 4. */
    memset(&fr, 0, sizeof(fr));
    assert_int_equal(cs_index_fragment_list(ix, "cam", CS_INDEX_PRODUCER_TIME, 2000, 7000, NULL, 4,
                                            collect_frag, &fr, next),
                     CS_OK);
    assert_int_equal(fr.n, 4);
    assert_true(next[0] != '\0');
    assert_int_equal(cs_index_fragment_list(ix, "cam", CS_INDEX_PRODUCER_TIME, 2000, 7000, next, 4,
                                            collect_frag, &fr, next),
                     CS_OK);
    assert_int_equal(fr.n, 6);
    assert_string_equal(next, "");
    assert_int_equal(fr.list[0].producer_ms, 2000);
    assert_int_equal(fr.list[5].producer_ms, 7000);

    /* Server range: the last five came 2 s later. */
    memset(&fr, 0, sizeof(fr));
    assert_int_equal(cs_index_fragment_list(ix, "cam", CS_INDEX_SERVER_TIME, 1700000001000LL,
                                            1700000009000LL, NULL, 100, collect_frag, &fr, next),
                     CS_OK);
    assert_int_equal(fr.n, 5);
    assert_int_equal(fr.list[0].producer_ms, 5000);
    cs_index_close(&ix);
}

static void test_reopen(void **state)
{
    (void)state;
    cs_index *ix = open_db("index_reopen", true);
    cs_index_fragment f = frag(42, 7, "x");
    cs_index_fragment g;
    cs_index_stream st;
    make_stream(ix, "keep", 5);
    assert_int_equal(cs_index_fragment_insert(ix, "keep", &f, NULL), CS_OK);
    cs_index_close(&ix);
    ix = open_db("index_reopen", false);
    assert_int_equal(cs_index_stream_get(ix, "keep", NULL, &st), CS_OK);
    assert_int_equal(st.retention_hours, 5);
    assert_int_equal(cs_index_fragment_edge(ix, "keep", true, &g), CS_OK);
    assert_string_equal(g.number, f.number);
    /* Numbers keep increasing after reopening, even with the clock unchanged. */
    f = frag(43, 7, "x");
    assert_int_equal(cs_index_fragment_insert(ix, "keep", &f, NULL), CS_OK);
    assert_true(strcmp(f.number, g.number) > 0);
    cs_index_close(&ix);
}

struct writer {
    cs_index *ix;
    int base;
    cs_status st;
};

static void writer_main(void *arg)
{
    struct writer *w = arg;
    for (int i = 0; i < 100 && w->st == CS_OK; i++) {
        cs_index_fragment f = frag(w->base + i, 10, "w");
        w->st = cs_index_fragment_insert(w->ix, "shared", &f, NULL);
        if (w->st == CS_OK && i % 10 == 0) {
            char name[32];
            cs_index_stream st;
            cs_index_stream_init(&st);
            snprintf(name, sizeof(name), "w%d-%d", w->base, i);
            snprintf(st.name, sizeof(st.name), "%s", name);
            w->st = cs_index_stream_create(w->ix, &st, NULL, 0);
        }
    }
}

static void test_concurrent_writers(void **state)
{
    (void)state;
    cs_index *ix = open_db("index_threads", true);
    struct writer w[2] = {{ix, 0, CS_OK}, {ix, 100000, CS_OK}};
    cs_thread t[2];
    struct frags fr;
    char next[CS_INDEX_FRAGMENT_NUMBER_SIZE];
    size_t total = 0;
    char after[CS_INDEX_FRAGMENT_NUMBER_SIZE] = "";
    char last[CS_INDEX_FRAGMENT_NUMBER_SIZE] = "";
    make_stream(ix, "shared", 1);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(cs_thread_create(&t[i], writer_main, &w[i], "writer"), CS_OK);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(cs_thread_join(&t[i]), CS_OK);
        assert_int_equal(w[i].st, CS_OK);
    }
    /* 200 distinct fragments, numbers strictly increasing in listing order. */
    do {
        memset(&fr, 0, sizeof(fr));
        assert_int_equal(cs_index_fragment_list(ix, "shared", CS_INDEX_PRODUCER_TIME, 0, INT64_MAX,
                                                after, 64, collect_frag, &fr, next),
                         CS_OK);
        for (size_t i = 0; i < fr.n; i++) {
            assert_true(strcmp(fr.list[i].number, last) > 0);
            snprintf(last, sizeof(last), "%s", fr.list[i].number);
        }
        total += fr.n;
        snprintf(after, sizeof(after), "%s", next);
    } while (after[0]);
    assert_int_equal(total, 200);
    cs_index_close(&ix);
}

#define GC_THREADS 8
#define GC_ROWS 40

struct gc_writer {
    cs_index *ix;
    int t;
    cs_index_fragment rows[GC_ROWS];
    int bad; /* failures other than the expected ones */
};

/* Each thread inserts its own rows, a duplicate of its previous row (existed, same number) and,
 * every fifth row, a row into a missing stream (CS_E_NOTFOUND for that caller only). */
static void gc_main(void *arg)
{
    struct gc_writer *w = arg;
    for (int i = 0; i < GC_ROWS; i++) {
        bool existed = true;
        cs_index_fragment *f = &w->rows[i];
        *f = frag(w->t * 1000 + i, (uint64_t)(w->t + 1), "gc");
        if (cs_index_fragment_insert(w->ix, "group", f, &existed) != CS_OK || existed) {
            w->bad++;
        }
        if (i > 0) {
            cs_index_fragment d = frag(w->t * 1000 + i - 1, (uint64_t)(w->t + 1), "gc");
            existed = false;
            if (cs_index_fragment_insert(w->ix, "group", &d, &existed) != CS_OK || !existed ||
                strcmp(d.number, w->rows[i - 1].number) != 0) {
                w->bad++;
            }
        }
        if (i % 5 == 0) {
            cs_index_fragment m = frag(w->t * 1000 + i, 1, "gc");
            if (cs_index_fragment_insert(w->ix, "missing", &m, &existed) != CS_E_NOTFOUND ||
                existed) {
                w->bad++;
            }
        }
    }
}

/* Group commit: many threads inserting at once each get their own result (numbers distinct,
 * duplicates found, a failing row fails only its caller), and every committed row is there after
 * reopening the database. */
static void test_group_commit(void **state)
{
    (void)state;
    cs_index *ix = open_db("index_group", true);
    static struct gc_writer w[GC_THREADS];
    cs_thread t[GC_THREADS];
    make_stream(ix, "group", 1);
    for (int i = 0; i < GC_THREADS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].ix = ix;
        w[i].t = i;
        assert_int_equal(cs_thread_create(&t[i], gc_main, &w[i], "gc"), CS_OK);
    }
    for (int i = 0; i < GC_THREADS; i++) {
        assert_int_equal(cs_thread_join(&t[i]), CS_OK);
        assert_int_equal(w[i].bad, 0);
    }
    cs_index_close(&ix);
    ix = open_db("index_group", false);
    for (int i = 0; i < GC_THREADS; i++) {
        for (int j = 0; j < GC_ROWS; j++) {
            cs_index_fragment g;
            assert_int_equal(cs_index_fragment_get(ix, "group", w[i].rows[j].number, &g), CS_OK);
            assert_int_equal(g.producer_ms, w[i].rows[j].producer_ms);
            assert_int_equal(g.size, (uint64_t)(i + 1));
            for (int k = 0; k < j; k++) {
                assert_true(strcmp(w[i].rows[k].number, w[i].rows[j].number) < 0);
            }
        }
    }
    cs_index_close(&ix);
}

/* Asynchronous inserts: each writer hands all its rows to the group commit without waiting, and
 * a row for a missing stream every fifth; a sync writer runs beside them. */
struct agc_row {
    cs_index_fragment f;
    atomic_int calls;
    cs_status st;
    bool existed;
};

struct agc_writer {
    cs_index *ix;
    int t;
    struct agc_row rows[GC_ROWS];
    struct agc_row missing[GC_ROWS / 5];
    int bad;
};

static void agc_cb(void *arg, cs_status st, bool existed)
{
    struct agc_row *r = arg;
    r->st = st;
    r->existed = existed;
    atomic_fetch_add(&r->calls, 1);
}

static void agc_main(void *arg)
{
    struct agc_writer *w = arg;
    for (int i = 0; i < GC_ROWS; i++) {
        struct agc_row *r = &w->rows[i];
        r->f = frag(w->t * 1000 + i, (uint64_t)(w->t + 1), "agc");
        if (cs_index_fragment_insert_async(w->ix, "async", &r->f, agc_cb, r) != CS_OK) {
            w->bad++;
        }
        if (i % 5 == 0) {
            struct agc_row *m = &w->missing[i / 5];
            m->f = frag(w->t * 1000 + i, 1, "agc");
            if (cs_index_fragment_insert_async(w->ix, "missing", &m->f, agc_cb, m) != CS_OK) {
                w->bad++;
            }
        }
    }
}

/* Every callback runs exactly once, and before the last submitting thread returns (a request is
 * never left queued without a leader); each row gets its own verdict; a writer's rows are
 * numbered in its submission order; everything committed is there after reopening. */
static void test_group_commit_async(void **state)
{
    (void)state;
    cs_index *ix = open_db("index_agroup", true);
    static struct agc_writer w[GC_THREADS];
    static struct gc_writer sw;
    cs_thread t[GC_THREADS], st;
    cs_index_fragment f;
    make_stream(ix, "async", 1);
    make_stream(ix, "group", 2);
    memset(&sw, 0, sizeof(sw));
    sw.ix = ix;
    sw.t = 99;
    assert_int_equal(cs_thread_create(&st, gc_main, &sw, "gc"), CS_OK);
    for (int i = 0; i < GC_THREADS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].ix = ix;
        w[i].t = i;
        assert_int_equal(cs_thread_create(&t[i], agc_main, &w[i], "agc"), CS_OK);
    }
    for (int i = 0; i < GC_THREADS; i++) {
        assert_int_equal(cs_thread_join(&t[i]), CS_OK);
    }
    assert_int_equal(cs_thread_join(&st), CS_OK);
    assert_int_equal(sw.bad, 0);
    for (int i = 0; i < GC_THREADS; i++) {
        assert_int_equal(w[i].bad, 0);
        for (int j = 0; j < GC_ROWS; j++) {
            assert_int_equal(atomic_load(&w[i].rows[j].calls), 1);
            assert_int_equal(w[i].rows[j].st, CS_OK);
            assert_false(w[i].rows[j].existed);
            if (j > 0) {
                assert_true(strcmp(w[i].rows[j - 1].f.number, w[i].rows[j].f.number) < 0);
            }
        }
        for (int j = 0; j < GC_ROWS / 5; j++) {
            assert_int_equal(atomic_load(&w[i].missing[j].calls), 1);
            assert_int_equal(w[i].missing[j].st, CS_E_NOTFOUND);
        }
    }
    /* a re-sent row: found, same number */
    f = frag(3 * 1000 + 7, 4, "agc");
    {
        struct agc_row r;
        memset(&r, 0, sizeof(r));
        r.f = f;
        assert_int_equal(cs_index_fragment_insert_async(ix, "async", &r.f, agc_cb, &r), CS_OK);
        assert_int_equal(atomic_load(&r.calls), 1); /* no batch ran: this caller led */
        assert_int_equal(r.st, CS_OK);
        assert_true(r.existed);
        assert_string_equal(r.f.number, w[3].rows[7].f.number);
    }
    assert_int_equal(cs_index_fragment_insert_async(ix, "async", NULL, agc_cb, NULL), CS_E_INVAL);
    assert_int_equal(cs_index_fragment_insert_async(ix, "async", &f, NULL, NULL), CS_E_INVAL);
    cs_index_close(&ix);
    ix = open_db("index_agroup", false);
    for (int i = 0; i < GC_THREADS; i++) {
        for (int j = 0; j < GC_ROWS; j++) {
            cs_index_fragment g;
            assert_int_equal(cs_index_fragment_get(ix, "async", w[i].rows[j].f.number, &g), CS_OK);
            assert_int_equal(g.producer_ms, w[i].rows[j].f.producer_ms);
            assert_int_equal(g.size, (uint64_t)(i + 1));
        }
    }
    cs_index_close(&ix);
}

struct scanned {
    int64_t ids[64];
    char streams[64][16];
    size_t n;
};

static cs_status collect_scan(void *ctx, int64_t row_id, const char *stream_name,
                              const char *stream_arn, const cs_index_fragment *f)
{
    struct scanned *sc = ctx;
    (void)f;
    assert_non_null(strstr(stream_arn, stream_name));
    sc->ids[sc->n] = row_id;
    snprintf(sc->streams[sc->n], sizeof(sc->streams[0]), "%s", stream_name);
    sc->n++;
    return CS_OK;
}

/* The maintenance calls of ingest-server/upkeep: was_created, scan pages, delete, object key
 * lookup, expire (oldest first, by server time, in batches, nothing on an unknown stream). */
static void test_maintenance(void **state)
{
    cs_index *ix = open_db("index_maint", true);
    cs_index_fragment f, out[4];
    struct scanned sc;
    struct frags fr;
    char next[CS_INDEX_FRAGMENT_NUMBER_SIZE];
    int64_t after = 0;
    size_t n = 0;
    bool used = true;
    (void)state;
    assert_true(cs_index_was_created(ix));
    make_stream(ix, "a", 1);
    make_stream(ix, "b", 0);
    for (int i = 0; i < 5; i++) {
        f = frag(1000 + i, 10, "s");
        assert_int_equal(cs_index_fragment_insert(ix, i % 2 ? "b" : "a", &f, NULL), CS_OK);
        cs_manual_clock_advance(&mclock, 60ull * 1000000000u); /* a minute apart */
    }
    /* Scan in pages of 2: all 5 rows, increasing ids, with their streams. */
    memset(&sc, 0, sizeof(sc));
    do {
        assert_int_equal(cs_index_fragment_scan(ix, after, 2, collect_scan, &sc, &after), CS_OK);
    } while (after != 0);
    assert_int_equal(sc.n, 5);
    for (size_t i = 1; i < sc.n; i++) {
        assert_true(sc.ids[i] > sc.ids[i - 1]);
    }
    assert_string_equal(sc.streams[0], "a");
    assert_string_equal(sc.streams[1], "b");
    assert_int_equal(cs_index_fragment_scan(ix, 0, 0, collect_scan, &sc, &after), CS_E_INVAL);

    assert_int_equal(cs_index_object_key_used(ix, "cam/1001", &used), CS_OK);
    assert_true(used);
    assert_int_equal(cs_index_object_key_used(ix, "cam/9999", &used), CS_OK);
    assert_false(used);

    /* Delete one row of b. */
    memset(&fr, 0, sizeof(fr));
    assert_int_equal(cs_index_fragment_list(ix, "b", CS_INDEX_PRODUCER_TIME, 0, INT64_MAX, NULL, 10,
                                            collect_frag, &fr, next),
                     CS_OK);
    assert_int_equal(fr.n, 2);
    assert_int_equal(cs_index_fragment_delete(ix, "b", fr.list[0].number), CS_OK);
    assert_int_equal(cs_index_fragment_delete(ix, "b", fr.list[0].number), CS_E_NOTFOUND);
    assert_int_equal(cs_index_fragment_delete(ix, "nosuch", fr.list[0].number), CS_E_NOTFOUND);
    assert_int_equal(cs_index_object_key_used(ix, fr.list[0].object_key, &used), CS_OK);
    assert_false(used);

    /* Expire: a's rows are at +0, +2, +4 minutes; cutoff +3 min takes the first two, in number
     * order, one per call with max 1. */
    {
        int64_t t0 = 1700000000000ll;
        assert_int_equal(cs_index_fragment_expire(ix, "a", t0 + 3 * 60000, out, 1, &n), CS_OK);
        assert_int_equal(n, 1);
        assert_string_equal(out[0].object_key, "cam/1000");
        assert_int_equal(cs_index_fragment_expire(ix, "a", t0 + 3 * 60000, out, 4, &n), CS_OK);
        assert_int_equal(n, 1);
        assert_string_equal(out[0].object_key, "cam/1002");
        assert_int_equal(cs_index_fragment_expire(ix, "a", t0 + 3 * 60000, out, 4, &n), CS_OK);
        assert_int_equal(n, 0);
        assert_int_equal(cs_index_fragment_expire(ix, "nosuch", t0, out, 4, &n), CS_E_NOTFOUND);
        assert_int_equal(n, 0);
        assert_int_equal(cs_index_fragment_expire(ix, "a", t0, out, 0, &n), CS_E_INVAL);
    }
    memset(&fr, 0, sizeof(fr));
    assert_int_equal(cs_index_fragment_list(ix, "a", CS_INDEX_PRODUCER_TIME, 0, INT64_MAX, NULL, 10,
                                            collect_frag, &fr, next),
                     CS_OK);
    assert_int_equal(fr.n, 1); /* only the newest of a is left */
    assert_string_equal(fr.list[0].object_key, "cam/1004");
    cs_index_close(&ix);
    ix = open_db("index_maint", false);
    assert_false(cs_index_was_created(ix));
    cs_index_close(&ix);
}

static int setup(void **state)
{
    (void)state;
    cs_manual_clock_init(&mclock, 1, 1700000000000ull * 1000000ull);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_schema, setup),
        cmocka_unit_test_setup(test_open_errors, setup),
        cmocka_unit_test_setup(test_stream_crud, setup),
        cmocka_unit_test_setup(test_stream_list, setup),
        cmocka_unit_test_setup(test_fragments, setup),
        cmocka_unit_test_setup(test_reopen, setup),
        cmocka_unit_test_setup(test_concurrent_writers, setup),
        cmocka_unit_test_setup(test_group_commit, setup),
        cmocka_unit_test_setup(test_group_commit_async, setup),
        cmocka_unit_test_setup(test_maintenance, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
