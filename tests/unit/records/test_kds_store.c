/* SPDX-License-Identifier: Apache-2.0 */
/* Record-stream semantics (ingest-server/records/kds_store.c) on real files and SQLite, with a
 * manual clock: MD5 routing checked against each shard's range, explicit hash keys, sequence
 * numbers increasing per shard, all five iterator types, iterator expiry and tampering, reading
 * across a split and a merge (parents to their end, then children), delete and re-create,
 * persistence across reopen, and retention by whole segments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kds_store.h"
#include "testutil.h"

#define T0_MS 1700000000000ull

static cs_manual_clock mc;
static char dir[600], db[700];
static csi_kds_shard shards[64];

static csi_kds_store *open_store(void)
{
    csi_kds_store_config cfg;
    csi_kds_store *s = NULL;
    csi_kds_store_config_init(&cfg);
    memset(cfg.iterator_key, 0x5a, sizeof(cfg.iterator_key)); /* the same across reopen */
    cfg.data_dir = dir;
    cfg.db_path = db;
    cfg.durable = false;
    cfg.clock = &mc.clock;
    cfg.segment_bytes = 4096;
    assert_int_equal(csi_kds_store_open(&cfg, &s), CS_OK);
    return s;
}

static void setup_dirs(const char *name)
{
    snprintf(dir, sizeof(dir), "%s", cs_test_tmpdir(name));
    snprintf(db, sizeof(db), "%s/index.sqlite3", dir);
    cs_manual_clock_init(&mc, 0, T0_MS * 1000000ull);
}

struct got {
    char seq[2000][CSI_KDS_SEQ_LEN + 1];
    char key[2000][32];
    uint64_t ms[2000];
    size_t n;
};
static struct got g;

static bool collect(void *ctx, const csi_kds_record *r)
{
    struct got *gg = ctx;
    if (gg->n == 2000) {
        return false;
    }
    snprintf(gg->seq[gg->n], sizeof(gg->seq[0]), "%s", r->seq);
    snprintf(gg->key[gg->n], sizeof(gg->key[0]), "%.*s", (int)r->key_len, r->partition_key);
    gg->ms[gg->n] = r->arrival_ms;
    assert_int_equal(r->len, r->key_len); /* the tests put the key as the data */
    assert_memory_equal(r->data, r->partition_key, r->len);
    gg->n++;
    return true;
}

static void put_keys(csi_kds_store *s, const char *stream, int from, int to,
                     csi_kds_put_result *res)
{
    char keys[600][32];
    csi_kds_put recs[600];
    int n = to - from;
    assert_true(n <= 600);
    for (int i = 0; i < n; i++) {
        snprintf(keys[i], sizeof(keys[i]), "pk-%d", from + i);
        recs[i] = (csi_kds_put){keys[i], strlen(keys[i]), NULL, (const uint8_t *)keys[i],
                                strlen(keys[i])};
    }
    assert_int_equal(csi_kds_store_put(s, stream, recs, (size_t)n, res), CS_OK);
    for (int i = 0; i < n; i++) {
        assert_int_equal(res[i].status, CS_OK);
    }
}

/* Reads a whole shard from an iterator; returns the result of the last call. */
static csi_kds_get_result drain(csi_kds_store *s, const char *iter)
{
    csi_kds_get_result res;
    char it[CSI_KDS_ITERATOR_MAX];
    snprintf(it, sizeof(it), "%s", iter);
    for (;;) {
        size_t before = g.n;
        assert_int_equal(csi_kds_store_get(s, it, 100, collect, &g, &res), CS_OK);
        if (!res.has_next || g.n == before) {
            return res;
        }
        snprintf(it, sizeof(it), "%s", res.next);
    }
}

static void test_routing_and_iterators(void **state)
{
    (void)state;
    static csi_kds_put_result res[600];
    char it[CSI_KDS_ITERATOR_MAX];
    csi_kds_get_result gr;
    size_t n, total = 0;
    setup_dirs("kds_store_route");
    csi_kds_store *s = open_store();
    assert_int_equal(csi_kds_store_create(s, "events", 4, false), CS_OK);
    put_keys(s, "events", 0, 500, res);
    assert_int_equal(csi_kds_meta_shards(csi_kds_store_meta(s), "events", shards, 64, &n), CS_OK);
    for (int i = 0; i < 500; i++) {
        char key[32];
        csi_u128 h;
        snprintf(key, sizeof(key), "pk-%d", i);
        assert_int_equal(csi_kds_hash_key(key, strlen(key), &h), CS_OK);
        assert_true(shards[res[i].shard].start <= h && h <= shards[res[i].shard].end);
        assert_int_equal(strlen(res[i].seq), 56);
        for (int j = 0; j < i; j++) {
            if (res[j].shard == res[i].shard) {
                assert_true(strcmp(res[j].seq, res[i].seq) < 0);
            }
        }
    }
    /* TRIM_HORIZON over every shard: every record exactly once, in put order per shard. */
    memset(&g, 0, sizeof(g));
    for (uint32_t k = 0; k < 4; k++) {
        size_t before = g.n;
        assert_int_equal(csi_kds_store_iterator(s, "events", k, CSI_KDS_TRIM_HORIZON, NULL, 0, it),
                         CS_OK);
        gr = drain(s, it);
        assert_true(gr.has_next);
        assert_int_equal(gr.millis_behind, 0);
        for (size_t i = before + 1; i < g.n; i++) {
            assert_true(strcmp(g.seq[i - 1], g.seq[i]) < 0);
        }
        total = g.n;
    }
    assert_int_equal(total, 500);
    /* AT / AFTER a sequence number of that shard; another shard's is refused. */
    uint32_t sh = res[10].shard;
    memset(&g, 0, sizeof(g));
    assert_int_equal(
        csi_kds_store_iterator(s, "events", sh, CSI_KDS_AT_SEQUENCE_NUMBER, res[10].seq, 0, it),
        CS_OK);
    assert_int_equal(csi_kds_store_get(s, it, 1, collect, &g, &gr), CS_OK);
    assert_string_equal(g.seq[0], res[10].seq);
    assert_true(gr.millis_behind == 0 || gr.has_next);
    assert_int_equal(
        csi_kds_store_iterator(s, "events", sh, CSI_KDS_AFTER_SEQUENCE_NUMBER, res[10].seq, 0, it),
        CS_OK);
    assert_int_equal(csi_kds_store_get(s, it, 1, collect, &g, &gr), CS_OK);
    assert_true(strcmp(g.seq[1], res[10].seq) > 0);
    assert_int_equal(csi_kds_store_iterator(s, "events", (sh + 1) % 4, CSI_KDS_AT_SEQUENCE_NUMBER,
                                            res[10].seq, 0, it),
                     CS_E_INVAL);
    /* LATEST sees only what comes after; AT_TIMESTAMP finds records by arrival. */
    assert_int_equal(csi_kds_store_iterator(s, "events", 0, CSI_KDS_LATEST, NULL, 0, it), CS_OK);
    cs_manual_clock_advance(&mc, 60ull * 1000000000ull);
    put_keys(s, "events", 500, 600, res);
    memset(&g, 0, sizeof(g));
    drain(s, it);
    assert_true(g.n > 0 && g.n < 100);
    for (size_t i = 0; i < g.n; i++) {
        assert_int_equal(g.ms[i], T0_MS + 60000);
    }
    size_t latest_n = g.n;
    assert_int_equal(
        csi_kds_store_iterator(s, "events", 0, CSI_KDS_AT_TIMESTAMP, NULL, T0_MS + 1, it), CS_OK);
    memset(&g, 0, sizeof(g));
    drain(s, it);
    assert_int_equal(g.n, latest_n);
    /* Explicit hash keys: 0 goes to shard 0, 2^128-1 to shard 3; a bad one writes nothing. */
    csi_kds_put ex[2] = {
        {"a", 1, "0", (const uint8_t *)"a", 1},
        {"b", 1, "340282366920938463463374607431768211455", (const uint8_t *)"b", 1}};
    assert_int_equal(csi_kds_store_put(s, "events", ex, 2, res), CS_OK);
    assert_int_equal(res[0].shard, 0);
    assert_int_equal(res[1].shard, 3);
    csi_kds_put bad[2] = {
        {"a", 1, NULL, (const uint8_t *)"a", 1},
        {"b", 1, "340282366920938463463374607431768211456", (const uint8_t *)"b", 1}};
    assert_int_equal(csi_kds_store_put(s, "events", bad, 2, res), CS_E_INVAL);
    assert_int_equal(csi_kds_store_put(s, "nope", ex, 1, res), CS_E_NOTFOUND);
    /* Iterators expire after 5 minutes; a changed one is not ours. */
    assert_int_equal(csi_kds_store_iterator(s, "events", 1, CSI_KDS_TRIM_HORIZON, NULL, 0, it),
                     CS_OK);
    it[10] = it[10] == 'A' ? 'B' : 'A';
    assert_int_equal(csi_kds_store_get(s, it, 1, collect, &g, &gr), CS_E_MALFORMED);
    assert_int_equal(csi_kds_store_iterator(s, "events", 1, CSI_KDS_TRIM_HORIZON, NULL, 0, it),
                     CS_OK);
    cs_manual_clock_advance(&mc, 300001ull * 1000000ull);
    assert_int_equal(csi_kds_store_get(s, it, 1, collect, &g, &gr), CS_E_TIMEOUT);
    csi_kds_store_close(&s);

    /* Reopened: everything is still there, and offsets go on. */
    s = open_store();
    memset(&g, 0, sizeof(g));
    for (uint32_t k = 0; k < 4; k++) {
        assert_int_equal(csi_kds_store_iterator(s, "events", k, CSI_KDS_TRIM_HORIZON, NULL, 0, it),
                         CS_OK);
        drain(s, it);
    }
    assert_int_equal(g.n, 602);
    csi_kds_store_close(&s);
}

static void test_reshard_lineage(void **state)
{
    (void)state;
    static csi_kds_put_result res[600];
    char it[CSI_KDS_ITERATOR_MAX], mid[CSI_KDS_U128_MAX_TEXT];
    csi_kds_get_result gr;
    uint32_t kids[2], child;
    size_t n;
    setup_dirs("kds_store_reshard");
    csi_kds_store *s = open_store();
    assert_int_equal(csi_kds_store_create(s, "r", 1, false), CS_OK);
    assert_int_equal(csi_kds_store_iterator(s, "r", 0, CSI_KDS_TRIM_HORIZON, NULL, 0, it), CS_OK);
    put_keys(s, "r", 0, 100, res);
    csi_kds_u128_format(((csi_u128)1) << 127, mid);
    assert_int_equal(csi_kds_store_split(s, "r", 0, mid, kids), CS_OK);
    assert_int_equal(kids[0], 1);
    assert_int_equal(kids[1], 2);
    put_keys(s, "r", 100, 200, res);
    for (int i = 0; i < 100; i++) {
        assert_true(res[i].shard == 1 || res[i].shard == 2);
    }
    /* The parent: its 100 records, then the end with both children. */
    memset(&g, 0, sizeof(g));
    gr = drain(s, it);
    assert_int_equal(g.n, 100);
    assert_false(gr.has_next);
    assert_int_equal(gr.n_children, 2);
    assert_int_equal(gr.children[0], 1);
    assert_int_equal(gr.children[1], 2);
    /* Merge the children back: both end, one child covering the whole space. */
    assert_int_equal(csi_kds_store_merge(s, "r", 1, 2, &child), CS_OK);
    assert_int_equal(child, 3);
    put_keys(s, "r", 200, 250, res);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(res[i].shard, 3);
    }
    size_t total = 0;
    for (uint32_t k = 1; k <= 2; k++) {
        memset(&g, 0, sizeof(g));
        assert_int_equal(csi_kds_store_iterator(s, "r", k, CSI_KDS_TRIM_HORIZON, NULL, 0, it),
                         CS_OK);
        gr = drain(s, it);
        assert_false(gr.has_next);
        assert_int_equal(gr.n_children, 1);
        assert_int_equal(gr.children[0], 3);
        total += g.n;
    }
    assert_int_equal(total, 100);
    assert_int_equal(csi_kds_meta_shards(csi_kds_store_meta(s), "r", shards, 64, &n), CS_OK);
    assert_int_equal(n, 4);
    assert_int_equal(shards[3].parent, 1);
    assert_int_equal(shards[3].adjacent_parent, 2);
    /* Delete: old iterators are refused; a new stream of the same name starts empty. */
    assert_int_equal(csi_kds_store_iterator(s, "r", 3, CSI_KDS_TRIM_HORIZON, NULL, 0, it), CS_OK);
    assert_int_equal(csi_kds_store_delete(s, "r"), CS_OK);
    assert_int_equal(csi_kds_store_get(s, it, 10, collect, &g, &gr), CS_E_NOTFOUND);
    cs_manual_clock_advance(&mc, 1000000000ull);
    assert_int_equal(csi_kds_store_create(s, "r", 1, false), CS_OK);
    assert_int_equal(csi_kds_store_get(s, it, 10, collect, &g, &gr), CS_E_NOTFOUND);
    memset(&g, 0, sizeof(g));
    assert_int_equal(csi_kds_store_iterator(s, "r", 0, CSI_KDS_TRIM_HORIZON, NULL, 0, it), CS_OK);
    drain(s, it);
    assert_int_equal(g.n, 0);
    csi_kds_store_close(&s);
}

static void test_retention(void **state)
{
    (void)state;
    static csi_kds_put_result res[600];
    char it[CSI_KDS_ITERATOR_MAX];
    uint64_t removed = 0;
    setup_dirs("kds_store_trim");
    csi_kds_store *s = open_store();
    assert_int_equal(csi_kds_store_create(s, "t", 1, false), CS_OK);
    put_keys(s, "t", 0, 300, res); /* many 4 KiB segments */
    cs_manual_clock_advance(&mc, 23ull * 3600 * 1000000000ull);
    put_keys(s, "t", 300, 310, res);
    assert_int_equal(csi_kds_store_trim(s, &removed), CS_OK);
    assert_int_equal(removed, 0); /* nothing older than 24 h yet */
    cs_manual_clock_advance(&mc, 2ull * 3600 * 1000000000ull);
    assert_int_equal(csi_kds_store_trim(s, &removed), CS_OK);
    assert_true(removed >= 250 && removed <= 300); /* whole segments of the old batch only */
    memset(&g, 0, sizeof(g));
    assert_int_equal(csi_kds_store_iterator(s, "t", 0, CSI_KDS_TRIM_HORIZON, NULL, 0, it), CS_OK);
    drain(s, it);
    assert_int_equal(g.n, 310 - removed);
    assert_string_equal(g.key[g.n - 1], "pk-309");
    csi_kds_store_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing_and_iterators),
        cmocka_unit_test(test_reshard_lineage),
        cmocka_unit_test(test_retention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
