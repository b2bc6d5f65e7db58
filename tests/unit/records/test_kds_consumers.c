/* SPDX-License-Identifier: Apache-2.0 */
/* Registered stream consumers in kds_consumers (ingest-server/records/kds_meta.c) on a real
 * SQLite file: register, duplicates, bad names, the 20-consumer limit, get, listing with
 * pagination in name order, deregistration, deletion with the stream, a re-created stream
 * starting without consumers, and persistence across reopen. */
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

static csi_kds_meta *open_meta(void)
{
    csi_kds_meta *m = NULL;
    assert_int_equal(csi_kds_meta_open(db_path, false, NULL, &m), CS_OK);
    return m;
}

static void test_consumers(void **state)
{
    csi_kds_meta *m;
    csi_kds_consumer c, all[CSI_KDS_MAX_CONSUMERS];
    char name[32], after[CSI_KDS_MAX_CONSUMER_NAME + 1] = "";
    size_t n = 0, total = 0;
    bool more = true;
    (void)state;
    snprintf(db_path, sizeof(db_path), "%s/index.sqlite3", cs_test_tmpdir("kds_consumers"));
    m = open_meta();
    assert_int_equal(csi_kds_meta_create(m, "s", 2, false, 1000, NULL), CS_OK);
    assert_int_equal(csi_kds_meta_consumer_add(m, "s", "app-00", 5000, &c), CS_OK);
    assert_string_equal(c.stream, "s");
    assert_string_equal(c.name, "app-00");
    assert_int_equal(c.created_ms, 5000);
    assert_int_equal(c.stream_created_ms, 1000);
    assert_int_equal(csi_kds_meta_consumer_add(m, "s", "app-00", 6000, NULL), CS_E_EXISTS);
    assert_int_equal(csi_kds_meta_consumer_add(m, "nope", "x", 6000, NULL), CS_E_NOTFOUND);
    assert_int_equal(csi_kds_meta_consumer_add(m, "s", "bad name", 6000, NULL), CS_E_INVAL);
    assert_int_equal(csi_kds_meta_consumer_add(m, "s", "", 6000, NULL), CS_E_INVAL);
    for (int i = 1; i < CSI_KDS_MAX_CONSUMERS; i++) {
        snprintf(name, sizeof(name), "app-%02d", i);
        assert_int_equal(csi_kds_meta_consumer_add(m, "s", name, 6000 + (uint64_t)i, NULL), CS_OK);
    }
    assert_int_equal(csi_kds_meta_consumer_add(m, "s", "one-too-many", 9000, NULL), CS_E_LIMIT);
    /* pages of 7 in name order, each consumer once */
    while (more) {
        assert_int_equal(csi_kds_meta_consumers(m, "s", after[0] ? after : NULL, 7, all, &n, &more),
                         CS_OK);
        for (size_t i = 0; i < n; i++) {
            snprintf(name, sizeof(name), "app-%02zu", total + i);
            assert_string_equal(all[i].name, name);
        }
        total += n;
        assert_true(n > 0);
        snprintf(after, sizeof(after), "%s", all[n - 1].name);
    }
    assert_int_equal(total, CSI_KDS_MAX_CONSUMERS);
    assert_int_equal(csi_kds_meta_consumer_get(m, "s", "app-07", &c), CS_OK);
    assert_int_equal(c.created_ms, 6007);
    assert_int_equal(csi_kds_meta_consumer_remove(m, "s", "app-07"), CS_OK);
    assert_int_equal(csi_kds_meta_consumer_remove(m, "s", "app-07"), CS_E_NOTFOUND);
    assert_int_equal(csi_kds_meta_consumer_get(m, "s", "app-07", &c), CS_E_NOTFOUND);
    assert_int_equal(csi_kds_meta_consumer_add(m, "s", "app-20", 9000, NULL), CS_OK);
    csi_kds_meta_close(&m);

    /* persistence, then deletion with the stream */
    m = open_meta();
    assert_int_equal(csi_kds_meta_consumers(m, "s", NULL, CSI_KDS_MAX_CONSUMERS, all, &n, &more),
                     CS_OK);
    assert_int_equal(n, CSI_KDS_MAX_CONSUMERS);
    assert_false(more);
    assert_int_equal(csi_kds_meta_delete(m, "s"), CS_OK);
    assert_int_equal(csi_kds_meta_consumers(m, "s", NULL, 1, all, &n, &more), CS_E_NOTFOUND);
    assert_int_equal(csi_kds_meta_create(m, "s", 1, false, 2000, NULL), CS_OK);
    assert_int_equal(csi_kds_meta_consumers(m, "s", NULL, CSI_KDS_MAX_CONSUMERS, all, &n, &more),
                     CS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(csi_kds_meta_consumer_get(m, "s", "app-00", &c), CS_E_NOTFOUND);
    csi_kds_meta_close(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consumers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
