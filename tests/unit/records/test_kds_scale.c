/* SPDX-License-Identifier: Apache-2.0 */
/* UpdateShardCount and the per-shard limits of record streams (ingest-server/records:
 * kds_reshard.c, kds_limits.c, their use in kds_store.c) on real files and SQLite with a manual
 * clock: the limit settings' text form, token buckets (burst of one second, refill per
 * millisecond, both put buckets or none), the reshard plan for every N -> M the service allows
 * (N <= 16) applied through the store (open shards split the space evenly, lineage closed,
 * parents' records kept, one transaction), the bounds and the calls-per-day limit, and limits in
 * PutRecords (per record, in order) and GetRecords. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kds_limits.h"
#include "kds_reshard.h"
#include "kds_store.h"
#include "testutil.h"

#define T0_MS 1700000000000ull

static cs_manual_clock mc;
static char dir[600], db[700];
static csi_kds_shard shards[CSI_KDS_MAX_SHARDS];

static csi_kds_store *open_store(const char *name, const char *limits)
{
    csi_kds_store_config cfg;
    csi_kds_store *s = NULL;
    snprintf(dir, sizeof(dir), "%s", cs_test_tmpdir(name));
    snprintf(db, sizeof(db), "%s/index.sqlite3", dir);
    cs_manual_clock_init(&mc, 0, T0_MS * 1000000ull);
    csi_kds_store_config_init(&cfg);
    cfg.data_dir = dir;
    cfg.db_path = db;
    cfg.durable = false;
    cfg.clock = &mc.clock;
    if (limits != NULL) {
        assert_int_equal(csi_kds_limits_parse(limits, &cfg.limits), CS_OK);
    }
    assert_int_equal(csi_kds_store_open(&cfg, &s), CS_OK);
    return s;
}

static void test_parse(void **state)
{
    csi_kds_limit_conf c;
    char text[128];
    (void)state;
    assert_int_equal(csi_kds_limits_parse("off", &c), CS_OK);
    assert_false(csi_kds_limits_on(&c));
    assert_int_equal(csi_kds_limits_parse("", &c), CS_OK);
    assert_false(csi_kds_limits_on(&c));
    assert_int_equal(csi_kds_limits_parse("service", &c), CS_OK);
    assert_int_equal(c.records_per_s, 1000);
    assert_int_equal(c.bytes_per_s, 1048576);
    assert_int_equal(c.gets_per_s, 5);
    assert_int_equal(csi_kds_limits_parse("records=500,bytes=256k", &c), CS_OK);
    assert_int_equal(c.records_per_s, 500);
    assert_int_equal(c.bytes_per_s, 256 * 1024);
    assert_int_equal(c.gets_per_s, 0);
    assert_int_equal(csi_kds_limits_parse("getrecords=3,bytes=2m", &c), CS_OK);
    assert_int_equal(c.bytes_per_s, 2 * 1024 * 1024);
    assert_int_equal(c.gets_per_s, 3);
    csi_kds_limits_format(&c, text, sizeof(text));
    assert_string_equal(text, "records=0,bytes=2097152,getrecords=3");
    assert_int_equal(csi_kds_limits_parse(text, &c), CS_OK);
    assert_int_equal(c.bytes_per_s, 2097152);
    assert_int_equal(csi_kds_limits_parse("records=", &c), CS_E_MALFORMED);
    assert_int_equal(csi_kds_limits_parse("records=1x", &c), CS_E_MALFORMED);
    assert_int_equal(csi_kds_limits_parse("rec=1", &c), CS_E_MALFORMED);
    assert_int_equal(csi_kds_limits_parse("records=1,", &c), CS_E_MALFORMED);
    assert_int_equal(csi_kds_limits_parse("records", &c), CS_E_MALFORMED);
    assert_int_equal(csi_kds_limits_parse("records=99999999999999", &c), CS_E_MALFORMED);
}

static void test_buckets(void **state)
{
    csi_kds_limit_conf c = {10, 1000, 2};
    csi_kds_shard_buckets b;
    (void)state;
    memset(&b, 0, sizeof(b));
    /* a full second at the start */
    for (int i = 0; i < 10; i++) {
        assert_true(csi_kds_limits_take_put(&b, &c, 5000, 1));
    }
    assert_false(csi_kds_limits_take_put(&b, &c, 5000, 1));
    /* 99 ms refill 0.99 records: still nothing; 100 ms: one */
    assert_false(csi_kds_limits_take_put(&b, &c, 5099, 1));
    assert_true(csi_kds_limits_take_put(&b, &c, 5100, 1));
    assert_false(csi_kds_limits_take_put(&b, &c, 5100, 1));
    /* a long pause fills up to one second, no more */
    for (int i = 0; i < 10; i++) {
        assert_true(csi_kds_limits_take_put(&b, &c, 900000, 1));
    }
    assert_false(csi_kds_limits_take_put(&b, &c, 900000, 1));
    /* bytes: a record that does not fit takes no record token either */
    memset(&b, 0, sizeof(b));
    assert_true(csi_kds_limits_take_put(&b, &c, 0, 600));
    assert_false(csi_kds_limits_take_put(&b, &c, 0, 600));
    assert_true(csi_kds_limits_take_put(&b, &c, 0, 400));
    assert_int_equal(b.records.milli, 8000);
    /* a record bigger than the whole bucket passes when the bucket is full */
    memset(&b, 0, sizeof(b));
    assert_true(csi_kds_limits_take_put(&b, &c, 0, 5000));
    assert_false(csi_kds_limits_take_put(&b, &c, 0, 1));
    /* 10 ms: 10 bytes */
    assert_false(csi_kds_limits_take_put(&b, &c, 10, 11));
    assert_true(csi_kds_limits_take_put(&b, &c, 10, 10));
    /* the clock going backwards refills nothing */
    assert_false(csi_kds_limits_take_put(&b, &c, 5, 1));
    /* gets */
    assert_true(csi_kds_limits_take_get(&b, &c, 0));
    assert_true(csi_kds_limits_take_get(&b, &c, 0));
    assert_false(csi_kds_limits_take_get(&b, &c, 0));
    assert_true(csi_kds_limits_take_get(&b, &c, 500));
    /* off */
    c = (csi_kds_limit_conf){0, 0, 0};
    for (int i = 0; i < 100000; i++) {
        assert_true(csi_kds_limits_take_put(&b, &c, 0, 1 << 20));
    }
}

static void check_even(csi_kds_store *s, const char *name, uint32_t target, size_t *total)
{
    csi_u128 lo, hi;
    size_t n = 0, open = 0;
    assert_int_equal(
        csi_kds_meta_shards(csi_kds_store_meta(s), name, shards, CSI_KDS_MAX_SHARDS, &n), CS_OK);
    for (size_t i = 0; i < n; i++) {
        if (shards[i].closed) {
            continue;
        }
        /* each open shard is exactly one of the target ranges */
        {
            bool found = false;
            for (uint32_t j = 0; j < target; j++) {
                csi_kds_split_range(0, ~(csi_u128)0, target, j, &lo, &hi);
                found = found || (lo == shards[i].start && hi == shards[i].end);
            }
            assert_true(found);
        }
        open++;
        /* lineage: every parent exists and is closed */
        if (shards[i].parent >= 0) {
            assert_true(shards[(size_t)shards[i].parent].closed);
        }
        if (shards[i].adjacent_parent >= 0) {
            assert_true(shards[(size_t)shards[i].adjacent_parent].closed);
        }
    }
    assert_int_equal(open, target);
    *total = n;
}

static void test_every_target(void **state)
{
    (void)state;
    csi_kds_store *s = open_store("kds_scale_every", NULL);
    for (uint32_t n = 1; n <= 16; n++) {
        for (uint32_t m = (n + 1) / 2; m <= 2 * n; m++) {
            char name[32];
            uint32_t cur = 0;
            size_t total = 0;
            snprintf(name, sizeof(name), "s-%u-%u", n, m);
            assert_int_equal(csi_kds_store_create(s, name, n, false), CS_OK);
            assert_int_equal(csi_kds_store_update_shard_count(s, name, m, &cur), CS_OK);
            assert_int_equal(cur, n);
            check_even(s, name, m, &total);
            if (m == n) {
                assert_int_equal(total, n); /* already even: nothing to do */
            }
            assert_int_equal(csi_kds_store_delete(s, name), CS_OK);
        }
    }
    csi_kds_store_close(&s);
}

static size_t got_n;
static char got_keys[64][16];

static bool collect(void *ctx, const csi_kds_record *r)
{
    (void)ctx;
    if (got_n < 64) {
        snprintf(got_keys[got_n++], sizeof(got_keys[0]), "%.*s", (int)r->key_len, r->partition_key);
    }
    return true;
}

static void test_bounds_and_records(void **state)
{
    csi_kds_put recs[40];
    csi_kds_put_result res[40];
    char keys[40][16], it[CSI_KDS_ITERATOR_MAX];
    csi_kds_get_result gr;
    uint32_t cur = 0;
    size_t total = 0, seen = 0;
    (void)state;
    csi_kds_store *s = open_store("kds_scale_bounds", NULL);
    assert_int_equal(csi_kds_store_create(s, "b", 4, false), CS_OK);
    for (int i = 0; i < 40; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        recs[i] = (csi_kds_put){keys[i], strlen(keys[i]), NULL, (const uint8_t *)keys[i],
                                strlen(keys[i])};
    }
    assert_int_equal(csi_kds_store_put(s, "b", recs, 40, res), CS_OK);
    assert_int_equal(csi_kds_store_update_shard_count(s, "b", 9, &cur), CS_E_RANGE);
    assert_int_equal(cur, 4);
    assert_int_equal(csi_kds_store_update_shard_count(s, "b", 1, NULL), CS_E_RANGE);
    assert_int_equal(csi_kds_store_update_shard_count(s, "nope", 2, NULL), CS_E_NOTFOUND);
    assert_int_equal(csi_kds_store_update_shard_count(s, "b", 0, NULL), CS_E_INVAL);
    assert_int_equal(csi_kds_store_update_shard_count(s, "b", 3, NULL), CS_OK);
    check_even(s, "b", 3, &total);
    /* the parents keep their records, all 40, each once */
    for (uint32_t k = 0; k < 4; k++) {
        assert_int_equal(csi_kds_store_iterator(s, "b", k, CSI_KDS_TRIM_HORIZON, NULL, 0, it),
                         CS_OK);
        got_n = 0;
        assert_int_equal(csi_kds_store_get(s, it, 100, collect, NULL, &gr), CS_OK);
        assert_false(gr.has_next);
        assert_true(gr.n_children >= 1);
        for (size_t i = 0; i < got_n; i++) {
            assert_int_equal(res[atoi(got_keys[i] + 1)].shard, k);
        }
        seen += got_n;
    }
    assert_int_equal(seen, 40);
    /* ten calls a day: two made (one refused above did not count) ... */
    for (int i = 0; i < 9; i++) {
        assert_int_equal(csi_kds_store_update_shard_count(s, "b", i % 2 ? 3 : 4, NULL), CS_OK);
    }
    assert_int_equal(csi_kds_store_update_shard_count(s, "b", 3, NULL), CS_E_LIMIT);
    cs_manual_clock_advance(&mc, 24ull * 3600 * 1000000000ull);
    assert_int_equal(csi_kds_store_update_shard_count(s, "b", 3, NULL), CS_OK);
    check_even(s, "b", 3, &total);
    csi_kds_store_close(&s);
}

static void test_store_limits(void **state)
{
    csi_kds_put recs[20];
    csi_kds_put_result res[20];
    csi_kds_limit_conf c;
    csi_kds_tag tag;
    char it[CSI_KDS_ITERATOR_MAX];
    csi_kds_get_result gr;
    (void)state;
    csi_kds_store *s = open_store("kds_scale_limits", "records=5,getrecords=1");
    assert_int_equal(csi_kds_store_create(s, "l", 1, false), CS_OK);
    assert_int_equal(csi_kds_store_limits(s, NULL, &c), CS_OK);
    assert_int_equal(c.records_per_s, 5);
    for (int i = 0; i < 20; i++) {
        recs[i] = (csi_kds_put){"k", 1, NULL, (const uint8_t *)"data", 4};
    }
    assert_int_equal(csi_kds_store_put(s, "l", recs, 8, res), CS_OK);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(res[i].status, i < 5 ? CS_OK : CS_E_LIMIT);
        assert_int_equal(res[i].shard, 0);
    }
    cs_manual_clock_advance(&mc, 400000000ull); /* 0.4 s: two records */
    assert_int_equal(csi_kds_store_put(s, "l", recs, 3, res), CS_OK);
    assert_int_equal(res[0].status, CS_OK);
    assert_int_equal(res[1].status, CS_OK);
    assert_int_equal(res[2].status, CS_E_LIMIT);
    /* sequence numbers of the admitted ones follow each other: nothing written for the rest */
    assert_int_equal(csi_kds_store_iterator(s, "l", 0, CSI_KDS_TRIM_HORIZON, NULL, 0, it), CS_OK);
    got_n = 0;
    assert_int_equal(csi_kds_store_get_limited(s, it, 100, collect, NULL, &gr), CS_OK);
    assert_int_equal(got_n, 7);
    snprintf(it, sizeof(it), "%s", gr.next); /* (the call clears its result first) */
    assert_int_equal(csi_kds_store_get_limited(s, it, 100, collect, NULL, &gr), CS_E_LIMIT);
    cs_manual_clock_advance(&mc, 1000000000ull);
    assert_int_equal(csi_kds_store_get_limited(s, it, 100, collect, NULL, &gr), CS_OK);
    snprintf(it, sizeof(it), "%s", gr.next);
    assert_int_equal(csi_kds_store_get_limited(s, it, 100, collect, NULL, &gr), CS_E_LIMIT);
    /* readers inside the server (SubscribeToShard) are not limited */
    assert_int_equal(csi_kds_store_get(s, it, 100, collect, NULL, &gr), CS_OK);
    /* the stream's tag overrides the default once the store is told */
    snprintf(tag.key, sizeof(tag.key), "%s", CSI_KDS_LIMITS_TAG);
    snprintf(tag.value, sizeof(tag.value), "off");
    assert_int_equal(csi_kds_meta_tag(csi_kds_store_meta(s), "l", &tag, 1), CS_OK);
    csi_kds_store_limits_changed(s, "l");
    assert_int_equal(csi_kds_store_limits(s, "l", &c), CS_OK);
    assert_false(csi_kds_limits_on(&c));
    assert_int_equal(csi_kds_store_put(s, "l", recs, 20, res), CS_OK);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(res[i].status, CS_OK);
    }
    assert_int_equal(csi_kds_store_limits(s, "nope", &c), CS_E_NOTFOUND);
    csi_kds_store_close(&s);
}

static void test_plan(void **state)
{
    csi_kds_shard sh[4];
    csi_kds_reshard_op ops[16];
    size_t n_ops = 0, n_new = 0;
    (void)state;
    for (uint32_t i = 0; i < 2; i++) {
        memset(&sh[i], 0, sizeof(sh[i]));
        sh[i].index = i;
        sh[i].parent = sh[i].adjacent_parent = -1;
        csi_kds_split_range(0, ~(csi_u128)0, 2, i, &sh[i].start, &sh[i].end);
    }
    /* 2 -> 4: two splits at 2^126 and 3 * 2^126 */
    assert_int_equal(csi_kds_reshard_plan(sh, 2, 4, ops, 16, &n_ops, &n_new), CS_OK);
    assert_int_equal(n_ops, 2);
    assert_int_equal(n_new, 4);
    assert_false(ops[0].merge);
    assert_true(ops[0].a == 0 && ops[0].key == (csi_u128)1 << 126);
    assert_true(ops[1].a == 1 && ops[1].key == (csi_u128)3 << 126);
    /* too little room */
    assert_int_equal(csi_kds_reshard_plan(sh, 2, 4, ops, 1, &n_ops, &n_new), CS_E_NOSPACE);
    /* a gap in the open shards */
    sh[1].start += 1;
    assert_int_equal(csi_kds_reshard_plan(sh, 2, 4, ops, 16, &n_ops, &n_new), CS_E_INTERNAL);
    assert_int_equal(csi_kds_reshard_plan(sh, 2, 0, ops, 16, &n_ops, &n_new), CS_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_every_target),
        cmocka_unit_test(test_bounds_and_records),
        cmocka_unit_test(test_store_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
