/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of startup recovery and the retention sweeper (ingest-server/upkeep) over a real
 * SQLite index and a real fs store in a temporary directory. Each inconsistency a crash (or a
 * damaged disk) can leave is built by hand and recovery's outcome checked: a temporary file, a
 * row whose object is missing, a row whose object is torn (too short; right size but wrong bytes),
 * an object without a row; a consistent fragment is left alone; a new index over a store full of
 * objects is refused without deleting anything. Retention: a manual clock moves past a stream's
 * DataRetentionInHours (set at creation and changed as UpdateDataRetention does), the sweep
 * removes exactly the old rows and their objects, keeps the rest and the streams with retention
 * 0; batches smaller than the backlog; a deleted stream's objects are removed, other streams'
 * kept; the sweeper thread sweeps when kicked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <inttypes.h>

#include "index.h"
#include "media.h"
#include "storage.h"
#include "testutil.h"
#include "upkeep.h"

#define T0_MS 1700000000000ll

static cs_manual_clock mclock;
static char dir[1024];
static char objects[1100];
static char dbpath[1100];

struct env {
    cs_index *ix;
    cs_store *st;
    cs_upkeep_config uc;
};

static void env_open(struct env *e)
{
    cs_index_config ic;
    cs_store_config sc;
    cs_index_config_init(&ic);
    ic.path = dbpath;
    ic.durable = false;
    ic.clock = &mclock.clock;
    assert_int_equal(cs_index_open(&ic, &e->ix), CS_OK);
    cs_store_config_init(&sc);
    sc.fs_dir = objects;
    assert_int_equal(cs_store_create(&sc, &e->st), CS_OK);
    cs_upkeep_config_init(&e->uc);
    e->uc.index = e->ix;
    e->uc.store = e->st;
    e->uc.clock = &mclock.clock;
}

static void env_close(struct env *e)
{
    cs_store_destroy(&e->st);
    cs_index_close(&e->ix);
}

static void env_fresh(struct env *e, const char *name)
{
    snprintf(dir, sizeof(dir), "%s", cs_test_tmpdir(name));
    snprintf(objects, sizeof(objects), "%s/objects", dir);
    snprintf(dbpath, sizeof(dbpath), "%s/index.sqlite3", dir);
    cs_manual_clock_init(&mclock, 0, (uint64_t)T0_MS * 1000000u);
    env_open(e);
}

static void make_stream(struct env *e, const char *name, uint32_t retention, char *arn_out)
{
    cs_index_stream st;
    cs_index_stream_init(&st);
    snprintf(st.name, sizeof(st.name), "%s", name);
    st.retention_hours = retention;
    assert_int_equal(cs_index_stream_create(e->ix, &st, NULL, 0), CS_OK);
    if (arn_out) {
        snprintf(arn_out, CS_INDEX_ARN_SIZE, "%s", st.arn);
    }
}

/* Stores a fragment as putmedia.c does: object = header + Cluster, row with the Cluster's size
 * and CRC-32C; returns the row (number, key). `store_object` false leaves only the row. */
static cs_index_fragment add_fragment(struct env *e, const char *stream, int64_t producer_ms,
                                      bool store_object, bool add_row)
{
    cs_index_stream st;
    cs_index_fragment f;
    char prefix[32];
    uint8_t obj[600];
    const size_t hdr = 100;
    uint32_t crc;
    memset(&f, 0, sizeof(f));
    assert_int_equal(cs_index_stream_get(e->ix, stream, NULL, &st), CS_OK);
    cs_upkeep_stream_prefix(st.arn, prefix);
    for (size_t i = 0; i < sizeof(obj); i++) {
        obj[i] = (uint8_t)(i * 7 + (size_t)producer_ms);
    }
    crc = cs_media_crc32c(0, obj + hdr, sizeof(obj) - hdr);
    f.producer_ms = producer_ms;
    f.duration_ms = 2000;
    f.size = sizeof(obj) - hdr;
    snprintf(f.checksum, sizeof(f.checksum), "crc32c:%08" PRIx32, crc);
    snprintf(f.object_key, sizeof(f.object_key), "%sfragments/%020" PRId64 "-%zu-%08" PRIx32 ".mkv",
             prefix, producer_ms, sizeof(obj) - hdr, crc);
    if (store_object) {
        assert_int_equal(cs_store_put(e->st, f.object_key, obj, sizeof(obj)), CS_OK);
    }
    if (add_row) {
        assert_int_equal(cs_index_fragment_insert(e->ix, stream, &f, NULL), CS_OK);
    }
    return f;
}

/* A restart: recovery runs right after the server opens an existing index. */
static void env_restart(struct env *e)
{
    env_close(e);
    env_open(e);
}

static bool row_exists(struct env *e, const char *stream, const char *number)
{
    cs_index_fragment f;
    return cs_index_fragment_get(e->ix, stream, number, &f) == CS_OK;
}

static bool object_exists(struct env *e, const char *key)
{
    return cs_store_head(e->st, key, NULL) == CS_OK;
}

static void test_recovery_consistent(void **state)
{
    struct env e;
    cs_recovery_report rep;
    cs_index_fragment a, b;
    (void)state;
    env_fresh(&e, "upkeep_consistent");
    make_stream(&e, "cam", 0, NULL);
    a = add_fragment(&e, "cam", T0_MS, true, true);
    b = add_fragment(&e, "cam", T0_MS + 2000, true, true);
    env_restart(&e);
    assert_int_equal(cs_upkeep_recover(&e.uc, &rep), CS_OK);
    assert_int_equal(rep.rows_checked, 2);
    assert_int_equal(rep.objects_checked, 2);
    assert_int_equal(rep.rows_missing + rep.rows_torn + rep.orphans_removed + rep.tmp_removed, 0);
    assert_true(row_exists(&e, "cam", a.number) && row_exists(&e, "cam", b.number));
    assert_true(object_exists(&e, a.object_key) && object_exists(&e, b.object_key));
    env_close(&e);
}

static void test_recovery_each_inconsistency(void **state)
{
    struct env e;
    cs_recovery_report rep;
    cs_index_fragment good, missing, short_obj, bad_bytes, orphan;
    uint8_t junk[50];
    uint8_t obj[600];
    size_t len = 0;
    char tmp[1200];
    FILE *f;
    (void)state;
    env_fresh(&e, "upkeep_each");
    make_stream(&e, "cam", 0, NULL);
    make_stream(&e, "other", 0, NULL);
    good = add_fragment(&e, "cam", T0_MS, true, true);
    missing = add_fragment(&e, "cam", T0_MS + 2000, false, true);
    short_obj = add_fragment(&e, "other", T0_MS + 4000, true, true);
    bad_bytes = add_fragment(&e, "other", T0_MS + 6000, true, true);
    orphan = add_fragment(&e, "cam", T0_MS + 8000, true, false);
    /* A torn object: shorter than its Cluster. */
    memset(junk, 0xAB, sizeof(junk));
    assert_int_equal(cs_store_put(e.st, short_obj.object_key, junk, sizeof(junk)), CS_OK);
    /* The right size, one byte of the Cluster flipped. */
    assert_int_equal(cs_store_get(e.st, bad_bytes.object_key, obj, sizeof(obj), &len), CS_OK);
    obj[len - 10] ^= 0x01;
    assert_int_equal(cs_store_put(e.st, bad_bytes.object_key, obj, len), CS_OK);
    /* Not the server's: left alone. */
    assert_int_equal(cs_store_put(e.st, "backups/keep.mkv", junk, sizeof(junk)), CS_OK);
    env_close(&e);
    /* A temporary a crash left behind. */
    snprintf(tmp, sizeof(tmp), "%s/streams/leftover.mkv.tmp.Ab12Cd", objects);
    f = fopen(tmp, "wb");
    assert_non_null(f);
    fputs("half", f);
    fclose(f);

    env_open(&e);
    assert_int_equal(cs_upkeep_recover(&e.uc, &rep), CS_OK);
    assert_int_equal(rep.tmp_removed, 1);
    assert_int_equal(rep.rows_checked, 4);
    assert_int_equal(rep.rows_missing, 1);
    assert_int_equal(rep.rows_torn, 2);
    assert_int_equal(rep.orphans_removed, 1);
    assert_true(row_exists(&e, "cam", good.number) && object_exists(&e, good.object_key));
    assert_false(row_exists(&e, "cam", missing.number));
    assert_false(row_exists(&e, "other", short_obj.number));
    assert_false(object_exists(&e, short_obj.object_key));
    assert_false(row_exists(&e, "other", bad_bytes.number));
    assert_false(object_exists(&e, bad_bytes.object_key));
    assert_false(object_exists(&e, orphan.object_key));
    assert_true(object_exists(&e, "backups/keep.mkv"));
    /* A second run finds nothing to do. */
    env_restart(&e);
    assert_int_equal(cs_upkeep_recover(&e.uc, &rep), CS_OK);
    assert_int_equal(rep.rows_checked, 1);
    assert_int_equal(rep.rows_missing + rep.rows_torn + rep.orphans_removed + rep.tmp_removed, 0);
    env_close(&e);
}

static void test_recovery_size_check_only(void **state)
{
    struct env e;
    cs_recovery_report rep;
    cs_index_fragment bad;
    uint8_t obj[600];
    size_t len = 0;
    (void)state;
    env_fresh(&e, "upkeep_size_only");
    make_stream(&e, "cam", 0, NULL);
    bad = add_fragment(&e, "cam", T0_MS, true, true);
    assert_int_equal(cs_store_get(e.st, bad.object_key, obj, sizeof(obj), &len), CS_OK);
    obj[len - 1] ^= 0x80;
    assert_int_equal(cs_store_put(e.st, bad.object_key, obj, len), CS_OK);
    env_restart(&e);
    e.uc.check = CS_RECOVERY_SIZE; /* does not read the bytes: keeps it */
    assert_int_equal(cs_upkeep_recover(&e.uc, &rep), CS_OK);
    assert_int_equal(rep.rows_torn, 0);
    assert_true(row_exists(&e, "cam", bad.number));
    e.uc.check = CS_RECOVERY_CHECKSUM;
    assert_int_equal(cs_upkeep_recover(&e.uc, &rep), CS_OK);
    assert_int_equal(rep.rows_torn, 1);
    assert_false(row_exists(&e, "cam", bad.number));
    env_close(&e);
}

static void test_recovery_refuses_new_index(void **state)
{
    struct env e;
    cs_recovery_report rep;
    cs_index_fragment a;
    (void)state;
    env_fresh(&e, "upkeep_new_index");
    make_stream(&e, "cam", 0, NULL);
    a = add_fragment(&e, "cam", T0_MS, true, true);
    env_close(&e);
    assert_int_equal(cs_test_sh("rm -f '%s' '%s-wal' '%s-shm'", dbpath, dbpath, dbpath), 0);
    env_open(&e);
    assert_true(cs_index_was_created(e.ix));
    assert_int_equal(cs_upkeep_recover(&e.uc, &rep), CS_E_STATE);
    assert_true(object_exists(&e, a.object_key));
    env_close(&e);
    /* An existing index is not "created". */
    env_open(&e);
    assert_false(cs_index_was_created(e.ix));
    env_close(&e);
}

static void test_retention(void **state)
{
    struct env e;
    cs_sweep_report rep;
    cs_index_fragment old1, old2, fresh, keep, upd;
    cs_index_stream st;
    (void)state;
    env_fresh(&e, "upkeep_retention");
    make_stream(&e, "short", 1, NULL);   /* 1 h */
    make_stream(&e, "forever", 0, NULL); /* 0 = keep forever */
    make_stream(&e, "updated", 0, NULL);
    old1 = add_fragment(&e, "short", T0_MS, true, true);
    old2 = add_fragment(&e, "short", T0_MS + 2000, true, true);
    keep = add_fragment(&e, "forever", T0_MS, true, true);
    upd = add_fragment(&e, "updated", T0_MS, true, true);
    cs_manual_clock_advance(&mclock, 40ull * 60 * 1000000000u); /* T0 + 40 min */
    fresh = add_fragment(&e, "short", T0_MS + 2400000, true, true);

    assert_int_equal(cs_upkeep_sweep(&e.uc, &rep), CS_OK);
    assert_int_equal(rep.fragments_expired, 0); /* nothing is an hour old yet */
    assert_int_equal(rep.streams, 3);

    /* UpdateDataRetention on "updated": +1 h, as the API does it. */
    assert_int_equal(cs_index_stream_get(e.ix, "updated", NULL, &st), CS_OK);
    assert_int_equal(cs_index_stream_update_retention(e.ix, "updated", NULL, st.version, 1), CS_OK);

    cs_manual_clock_advance(&mclock, 30ull * 60 * 1000000000u); /* T0 + 70 min */
    assert_int_equal(cs_upkeep_sweep(&e.uc, &rep), CS_OK);
    assert_int_equal(rep.fragments_expired, 3);
    assert_int_equal(rep.errors, 0);
    assert_false(row_exists(&e, "short", old1.number) || object_exists(&e, old1.object_key));
    assert_false(row_exists(&e, "short", old2.number) || object_exists(&e, old2.object_key));
    assert_false(row_exists(&e, "updated", upd.number) || object_exists(&e, upd.object_key));
    assert_true(row_exists(&e, "short", fresh.number) && object_exists(&e, fresh.object_key));
    assert_true(row_exists(&e, "forever", keep.number) && object_exists(&e, keep.object_key));

    cs_manual_clock_advance(&mclock, 60ull * 60 * 1000000000u);
    assert_int_equal(cs_upkeep_sweep(&e.uc, &rep), CS_OK);
    assert_int_equal(rep.fragments_expired, 1);
    assert_false(row_exists(&e, "short", fresh.number) || object_exists(&e, fresh.object_key));
    assert_true(row_exists(&e, "forever", keep.number) && object_exists(&e, keep.object_key));
    env_close(&e);
}

static void test_retention_batches(void **state)
{
    struct env e;
    cs_sweep_report rep;
    cs_index_fragment f[7];
    cs_recovery_report rr;
    (void)state;
    env_fresh(&e, "upkeep_batches");
    make_stream(&e, "cam", 1, NULL);
    for (int i = 0; i < 7; i++) {
        f[i] = add_fragment(&e, "cam", T0_MS + i * 2000, true, true);
    }
    cs_manual_clock_advance(&mclock, 2ull * 3600 * 1000000000u);
    e.uc.batch = 2;
    assert_int_equal(cs_upkeep_sweep(&e.uc, &rep), CS_OK);
    assert_int_equal(rep.fragments_expired, 7);
    for (int i = 0; i < 7; i++) {
        assert_false(row_exists(&e, "cam", f[i].number));
        assert_false(object_exists(&e, f[i].object_key));
    }
    assert_int_equal(cs_upkeep_recover(&e.uc, &rr), CS_OK);
    assert_int_equal(rr.orphans_removed + rr.rows_missing, 0);
    env_close(&e);
}

static void test_deleted_stream_objects(void **state)
{
    struct env e;
    cs_sweep_report rep;
    cs_index_fragment gone[3], kept;
    char arn[CS_INDEX_ARN_SIZE];
    char prefix[32];
    cs_store_entry ent[4];
    size_t n = 0;
    bool more = false;
    (void)state;
    env_fresh(&e, "upkeep_deleted");
    make_stream(&e, "a", 0, arn);
    make_stream(&e, "b", 0, NULL);
    for (int i = 0; i < 3; i++) {
        gone[i] = add_fragment(&e, "a", T0_MS + i * 2000, true, true);
    }
    kept = add_fragment(&e, "b", T0_MS, true, true);
    assert_int_equal(cs_index_stream_delete(e.ix, "a", NULL, NULL), CS_OK);
    e.uc.batch = 1;
    assert_int_equal(cs_upkeep_sweep(&e.uc, &rep), CS_OK);
    assert_int_equal(rep.objects_of_deleted, 3);
    for (int i = 0; i < 3; i++) {
        assert_false(object_exists(&e, gone[i].object_key));
    }
    cs_upkeep_stream_prefix(arn, prefix);
    assert_int_equal(cs_store_list(e.st, prefix, NULL, ent, 4, &n, &more), CS_OK);
    assert_int_equal(n, 0);
    /* An object under a prefix no stream has, but still named by a row (a prefix the sweeper
     * computes differently from putmedia.c would look like this): never deleted. */
    {
        cs_index_fragment f = add_fragment(&e, "b", T0_MS + 2000, false, false);
        uint8_t x[200];
        memset(x, 1, sizeof(x));
        snprintf(f.object_key, sizeof(f.object_key),
                 "streams/0123456789abcdef/fragments/00000001700000002000-1-00000000.mkv");
        assert_int_equal(cs_store_put(e.st, f.object_key, x, sizeof(x)), CS_OK);
        assert_int_equal(cs_index_fragment_insert(e.ix, "b", &f, NULL), CS_OK);
        assert_int_equal(cs_upkeep_sweep(&e.uc, &rep), CS_OK);
        assert_int_equal(rep.objects_of_deleted, 0);
        assert_true(object_exists(&e, f.object_key));
    }
    assert_int_equal(cs_store_list(e.st, prefix, NULL, ent, 4, &n, &more), CS_OK);
    assert_int_equal(n, 0);
    assert_true(row_exists(&e, "b", kept.number) && object_exists(&e, kept.object_key));
    /* A stream re-created under the same name is a new ARN, so a new prefix. */
    make_stream(&e, "a", 0, NULL);
    kept = add_fragment(&e, "a", T0_MS, true, true);
    assert_int_equal(cs_upkeep_sweep(&e.uc, &rep), CS_OK);
    assert_int_equal(rep.objects_of_deleted, 0);
    assert_true(object_exists(&e, kept.object_key));
    env_close(&e);
}

static void test_sweeper_thread(void **state)
{
    struct env e;
    cs_sweeper *sw = NULL;
    cs_index_fragment old;
    (void)state;
    env_fresh(&e, "upkeep_thread");
    make_stream(&e, "cam", 1, NULL);
    old = add_fragment(&e, "cam", T0_MS, true, true);
    cs_manual_clock_advance(&mclock, 2ull * 3600 * 1000000000u);
    e.uc.interval_ms = 3600u * 1000u; /* would not run by itself during the test */
    assert_int_equal(cs_sweeper_start(&e.uc, &sw), CS_OK);
    assert_int_equal(cs_sweeper_runs(sw), 0);
    assert_true(row_exists(&e, "cam", old.number));
    cs_sweeper_kick(sw);
    for (int i = 0; i < 2000 && cs_sweeper_runs(sw) == 0; i++) {
        cs_clock_sleep_ns(NULL, 5000000u);
    }
    assert_true(cs_sweeper_runs(sw) >= 1);
    assert_false(row_exists(&e, "cam", old.number));
    assert_false(object_exists(&e, old.object_key));
    cs_sweeper_stop(&sw);
    assert_null(sw);
    cs_sweeper_stop(&sw);
    env_close(&e);
}

static void test_args(void **state)
{
    cs_upkeep_config uc;
    cs_sweeper *sw = NULL;
    char p[32];
    (void)state;
    cs_upkeep_config_init(&uc);
    assert_int_equal(uc.interval_ms, 60000);
    assert_int_equal(cs_upkeep_recover(&uc, NULL), CS_E_INVAL);
    assert_int_equal(cs_upkeep_sweep(&uc, NULL), CS_E_INVAL);
    assert_int_equal(cs_sweeper_start(&uc, &sw), CS_E_INVAL);
    /* The prefix is FNV-1a 64 of the ARN, as putmedia.c names objects. */
    cs_upkeep_stream_prefix("", p);
    assert_string_equal(p, "streams/14650fb0739d0383/");
    cs_upkeep_stream_prefix("a", p);
    assert_string_equal(p, "streams/44bd8ad473cd9906/");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_recovery_consistent),
        cmocka_unit_test(test_recovery_each_inconsistency),
        cmocka_unit_test(test_recovery_size_check_only),
        cmocka_unit_test(test_recovery_refuses_new_index),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_retention_batches),
        cmocka_unit_test(test_deleted_stream_objects),
        cmocka_unit_test(test_sweeper_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
