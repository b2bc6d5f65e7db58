/* SPDX-License-Identifier: Apache-2.0 */
/* Record-stream metadata (ingest-server/records/kds_meta.c) on a real SQLite file: create with
 * the even split, duplicates, names, listing with pagination, split and merge lineage (ranges
 * adjacent and covering the whole space after each change, closed parents keep their end
 * offsets), refusals (closed shard, key outside the range, non-adjacent merge), retention
 * bounds, tags, delete cascading, and persistence across reopen next to another schema. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kds_meta.h"
#include "testutil.h"

static char db_path[600];
static csi_kds_shard shards[CSI_KDS_MAX_SHARDS];

static csi_kds_meta *open_meta(const char *name)
{
    csi_kds_meta *m = NULL;
    snprintf(db_path, sizeof(db_path), "%s/index.sqlite3", cs_test_tmpdir(name));
    assert_int_equal(csi_kds_meta_open(db_path, false, NULL, &m), CS_OK);
    return m;
}

static void assert_key(csi_u128 v, const char *want)
{
    char b[CSI_KDS_U128_MAX_TEXT];
    csi_kds_u128_format(v, b);
    assert_string_equal(b, want);
}

/* The open shards cover [0, 2^128-1] exactly, without overlap. */
static void assert_open_cover(csi_kds_meta *m, const char *name)
{
    size_t n = 0, open = 0;
    csi_u128 next = 0;
    bool done = false;
    assert_int_equal(csi_kds_meta_shards(m, name, shards, CSI_KDS_MAX_SHARDS, &n), CS_OK);
    for (;;) {
        bool found = false;
        for (size_t i = 0; i < n; i++) {
            if (!shards[i].closed && shards[i].start == next) {
                found = true;
                open++;
                if (shards[i].end == ~(csi_u128)0) {
                    done = true;
                } else {
                    next = shards[i].end + 1;
                }
                break;
            }
        }
        assert_true(found);
        if (done) {
            break;
        }
    }
    for (size_t i = 0, c = 0; i < n; i++) {
        c += !shards[i].closed;
        if (i + 1 == n) {
            assert_int_equal(c, open);
        }
    }
}

static void test_create_list_delete(void **state)
{
    (void)state;
    csi_kds_meta *m = open_meta("kds_meta_basic");
    csi_kds_stream s;
    char names[3][CSI_KDS_MAX_STREAM_NAME + 1];
    size_t n;
    bool more;
    assert_int_equal(csi_kds_meta_create(m, "orders", 2, false, 1700000000000ull, &s), CS_OK);
    assert_int_equal(s.open_shards, 2);
    assert_int_equal(s.retention_hours, 24);
    assert_int_equal(s.created_ms, 1700000000000ull);
    assert_int_equal(csi_kds_meta_create(m, "orders", 1, false, 1, NULL), CS_E_EXISTS);
    assert_int_equal(csi_kds_meta_create(m, "bad name", 1, false, 1, NULL), CS_E_INVAL);
    assert_int_equal(csi_kds_meta_create(m, "zero", 0, false, 1, NULL), CS_E_INVAL);
    assert_int_equal(csi_kds_meta_shards(m, "orders", shards, CSI_KDS_MAX_SHARDS, &n), CS_OK);
    assert_int_equal(n, 2);
    assert_key(shards[0].end, "170141183460469231731687303715884105727");
    assert_key(shards[1].start, "170141183460469231731687303715884105728");
    assert_int_equal(shards[0].parent, -1);
    assert_open_cover(m, "orders");

    assert_int_equal(csi_kds_meta_create(m, "a-stream", 1, true, 2, NULL), CS_OK);
    assert_int_equal(csi_kds_meta_create(m, "m.stream", 3, false, 3, NULL), CS_OK);
    assert_int_equal(csi_kds_meta_list(m, NULL, 2, names, &n, &more), CS_OK);
    assert_int_equal(n, 2);
    assert_true(more);
    assert_string_equal(names[0], "a-stream");
    assert_string_equal(names[1], "m.stream");
    assert_int_equal(csi_kds_meta_list(m, names[1], 2, names, &n, &more), CS_OK);
    assert_int_equal(n, 1);
    assert_false(more);
    assert_string_equal(names[0], "orders");

    csi_kds_tag t[2] = {{"team", "video"}, {"env", "test"}};
    assert_int_equal(csi_kds_meta_tag(m, "orders", t, 2), CS_OK);
    assert_int_equal(csi_kds_meta_delete(m, "orders"), CS_OK);
    assert_int_equal(csi_kds_meta_get(m, "orders", &s), CS_E_NOTFOUND);
    assert_int_equal(csi_kds_meta_delete(m, "orders"), CS_E_NOTFOUND);
    /* shards and tags went with it: a new stream of that name starts clean */
    assert_int_equal(csi_kds_meta_create(m, "orders", 1, false, 5, &s), CS_OK);
    assert_int_equal(s.total_shards, 1);
    csi_kds_tag got[CSI_KDS_MAX_TAGS];
    assert_int_equal(csi_kds_meta_tags(m, "orders", got, &n), CS_OK);
    assert_int_equal(n, 0);
    csi_kds_meta_close(&m);
    assert_null(m);
}

static void test_split_merge_lineage(void **state)
{
    (void)state;
    csi_kds_meta *m = open_meta("kds_meta_reshard");
    csi_kds_stream s;
    uint32_t kids[2], child;
    size_t n;
    csi_u128 mid;
    assert_int_equal(csi_kds_meta_create(m, "s", 2, false, 10, NULL), CS_OK);
    /* Split shard 0 in the middle of its range. */
    mid = ((csi_u128)1) << 126;
    assert_int_equal(csi_kds_meta_split(m, "s", 0, mid, 500, 20, kids), CS_OK);
    assert_int_equal(kids[0], 2);
    assert_int_equal(kids[1], 3);
    assert_open_cover(m, "s");
    assert_int_equal(csi_kds_meta_shards(m, "s", shards, CSI_KDS_MAX_SHARDS, &n), CS_OK);
    assert_int_equal(n, 4);
    assert_true(shards[0].closed);
    assert_int_equal(shards[0].end_offset, 500);
    assert_int_equal(shards[2].parent, 0);
    assert_int_equal(shards[3].parent, 0);
    assert_true(shards[2].end + 1 == mid && shards[3].start == mid);
    /* Refusals: a closed shard, a key at its start, a missing shard. */
    assert_int_equal(csi_kds_meta_split(m, "s", 0, mid, 0, 0, NULL), CS_E_STATE);
    assert_int_equal(csi_kds_meta_split(m, "s", 2, shards[2].start, 0, 0, NULL), CS_E_RANGE);
    assert_int_equal(csi_kds_meta_split(m, "s", 9, mid, 0, 0, NULL), CS_E_NOTFOUND);
    assert_int_equal(csi_kds_meta_split(m, "nope", 1, mid, 0, 0, NULL), CS_E_NOTFOUND);
    /* Merge 3 with 1 (adjacent), not 2 with 1 (not adjacent). */
    assert_int_equal(csi_kds_meta_merge(m, "s", 2, 1, 0, 0, 30, &child), CS_E_RANGE);
    assert_int_equal(csi_kds_meta_merge(m, "s", 3, 1, 70, 80, 30, &child), CS_OK);
    assert_int_equal(child, 4);
    assert_open_cover(m, "s");
    assert_int_equal(csi_kds_meta_shards(m, "s", shards, CSI_KDS_MAX_SHARDS, &n), CS_OK);
    assert_int_equal(shards[4].parent, 3);
    assert_int_equal(shards[4].adjacent_parent, 1);
    assert_true(shards[4].start == mid && shards[4].end == ~(csi_u128)0);
    assert_int_equal(shards[1].end_offset, 80);
    assert_int_equal(csi_kds_meta_get(m, "s", &s), CS_OK);
    assert_int_equal(s.open_shards, 2);
    assert_int_equal(s.total_shards, 5);
    csi_kds_meta_close(&m);

    /* Reopened (a second connection to the same file): the same lineage. */
    assert_int_equal(csi_kds_meta_open(db_path, false, NULL, &m), CS_OK);
    assert_int_equal(csi_kds_meta_shards(m, "s", shards, CSI_KDS_MAX_SHARDS, &n), CS_OK);
    assert_int_equal(n, 5);
    assert_int_equal(shards[4].adjacent_parent, 1);
    assert_int_equal(csi_kds_meta_shards(m, "s", shards, 2, &n), CS_E_NOSPACE);
    csi_kds_meta_close(&m);
}

static void test_retention_tags(void **state)
{
    (void)state;
    csi_kds_meta *m = open_meta("kds_meta_tags");
    csi_kds_stream s;
    csi_kds_tag t[CSI_KDS_MAX_TAGS + 1], got[CSI_KDS_MAX_TAGS];
    const char *rm[] = {"k1", "absent"};
    size_t n;
    assert_int_equal(csi_kds_meta_create(m, "s", 1, false, 1, NULL), CS_OK);
    assert_int_equal(csi_kds_meta_set_retention(m, "s", 23), CS_E_RANGE);
    assert_int_equal(csi_kds_meta_set_retention(m, "s", 8761), CS_E_RANGE);
    assert_int_equal(csi_kds_meta_set_retention(m, "s", 168), CS_OK);
    assert_int_equal(csi_kds_meta_get(m, "s", &s), CS_OK);
    assert_int_equal(s.retention_hours, 168);
    for (int i = 0; i <= CSI_KDS_MAX_TAGS; i++) {
        snprintf(t[i].key, sizeof(t[i].key), "k%d", i);
        snprintf(t[i].value, sizeof(t[i].value), "v%d", i);
    }
    assert_int_equal(csi_kds_meta_tag(m, "s", t, CSI_KDS_MAX_TAGS + 1), CS_E_LIMIT);
    assert_int_equal(csi_kds_meta_tags(m, "s", got, &n), CS_OK);
    assert_int_equal(n, 0); /* all or nothing */
    assert_int_equal(csi_kds_meta_tag(m, "s", t, 3), CS_OK);
    snprintf(t[0].value, sizeof(t[0].value), "changed");
    assert_int_equal(csi_kds_meta_tag(m, "s", t, 1), CS_OK);
    assert_int_equal(csi_kds_meta_untag(m, "s", rm, 2), CS_OK);
    assert_int_equal(csi_kds_meta_tags(m, "s", got, &n), CS_OK);
    assert_int_equal(n, 2);
    assert_string_equal(got[0].key, "k0");
    assert_string_equal(got[0].value, "changed");
    assert_string_equal(got[1].key, "k2");
    assert_int_equal(csi_kds_meta_tag(m, "nope", t, 1), CS_E_NOTFOUND);
    csi_kds_meta_close(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_list_delete),
        cmocka_unit_test(test_split_merge_lineage),
        cmocka_unit_test(test_retention_tags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
