/* SPDX-License-Identifier: Apache-2.0 */
/* Disk full, for real: the fs backend on a 1 MiB tmpfs. A put that does not fit fails with
 * CS_E_NOSPACE and leaves nothing visible (no object, no temporary), an old object under the same
 * key survives, and puts work again once space is freed. Needs to mount a tmpfs (root); exits 77
 * with the reason when it cannot. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/mount.h>

#include <cmocka.h>

#include "storage.h"
#include "testutil.h"

static char g_mnt[1024];
static cs_store *g_st;

/* Files under the mount whose name contains ".tmp.". */
static int count_tmp(void)
{
    return cs_test_sh("test -z \"$(find '%s' -name '*.tmp.*')\"", g_mnt) == 0 ? 0 : 1;
}

static void test_put_too_big(void **state)
{
    static uint8_t big[2 * 1024 * 1024];
    static uint8_t buf[4096];
    cs_store_entry e[4];
    size_t count;
    size_t len;
    bool more;

    (void)state;
    memset(big, 'b', sizeof(big));
    assert_int_equal(cs_store_put(g_st, "streams/s/fragments/1.mkv", "old", 3), CS_OK);
    /* Replacing it with something that does not fit fails cleanly... */
    assert_int_equal(cs_store_put(g_st, "streams/s/fragments/1.mkv", big, sizeof(big)),
                     CS_E_NOSPACE);
    /* ...the old object is whole, and no temporary is left. */
    assert_int_equal(cs_store_get(g_st, "streams/s/fragments/1.mkv", buf, sizeof(buf), &len),
                     CS_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(buf, "old", 3);
    assert_int_equal(cs_store_put(g_st, "streams/s/fragments/2.mkv", big, sizeof(big)),
                     CS_E_NOSPACE);
    assert_int_equal(cs_store_head(g_st, "streams/s/fragments/2.mkv", NULL), CS_E_NOTFOUND);
    assert_int_equal(cs_store_list(g_st, "", NULL, e, 4, &count, &more), CS_OK);
    assert_int_equal(count, 1);
    assert_int_equal(count_tmp(), 0);
    assert_int_equal(cs_store_delete(g_st, "streams/s/fragments/1.mkv"), CS_OK);
}

static void test_streamed_too_big(void **state)
{
    static uint8_t piece[64 * 1024];
    cs_store_writer *w = NULL;
    cs_status s = CS_OK;
    int i;

    (void)state;
    memset(piece, 'p', sizeof(piece));
    assert_int_equal(cs_store_writer_open(g_st, "streams/s/fragments/3.mkv", &w), CS_OK);
    for (i = 0; i < 32 && s == CS_OK; i++) {
        s = cs_store_writer_write(w, piece, sizeof(piece));
    }
    assert_int_equal(s, CS_E_NOSPACE);
    /* The error is sticky, and the commit reports it without making anything visible. */
    assert_int_equal(cs_store_writer_write(w, piece, 1), CS_E_NOSPACE);
    assert_int_equal(cs_store_writer_commit(&w), CS_E_NOSPACE);
    assert_null(w);
    assert_int_equal(cs_store_head(g_st, "streams/s/fragments/3.mkv", NULL), CS_E_NOTFOUND);
    assert_int_equal(count_tmp(), 0);
}

static void test_fill_then_free(void **state)
{
    static uint8_t obj[100 * 1024];
    char key[64];
    cs_store_stats stats;
    cs_status s = CS_OK;
    int n;
    int i;

    (void)state;
    memset(obj, 'f', sizeof(obj));
    assert_int_equal(cs_store_stat(g_st, &stats), CS_OK);
    assert_true(stats.space_known);
    assert_true(stats.total_bytes <= 1024 * 1024);
    for (n = 0; n < 64; n++) {
        snprintf(key, sizeof(key), "streams/f/fragments/%d.mkv", n);
        s = cs_store_put(g_st, key, obj, sizeof(obj));
        if (s != CS_OK) {
            break;
        }
    }
    assert_int_equal(s, CS_E_NOSPACE);
    assert_true(n > 0);
    assert_int_equal(cs_store_head(g_st, key, NULL), CS_E_NOTFOUND); /* the one that failed */
    assert_int_equal(count_tmp(), 0);
    assert_int_equal(cs_store_stat(g_st, &stats), CS_OK);
    assert_true(stats.free_bytes < sizeof(obj));
    /* Every object that was acknowledged is whole. */
    for (i = 0; i < n; i++) {
        uint64_t size = 0;
        snprintf(key, sizeof(key), "streams/f/fragments/%d.mkv", i);
        assert_int_equal(cs_store_head(g_st, key, &size), CS_OK);
        assert_int_equal(size, sizeof(obj));
    }
    /* Free space: puts work again. */
    assert_int_equal(cs_store_delete(g_st, "streams/f/fragments/0.mkv"), CS_OK);
    assert_int_equal(cs_store_put(g_st, "streams/f/fragments/new.mkv", obj, sizeof(obj)), CS_OK);
    assert_int_equal(cs_store_head(g_st, "streams/f/fragments/new.mkv", NULL), CS_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_too_big),
        cmocka_unit_test(test_streamed_too_big),
        cmocka_unit_test(test_fill_then_free),
    };
    cs_store_config cfg;
    char dir[1100];
    int failed;

    snprintf(g_mnt, sizeof(g_mnt), "%s", cs_test_tmpdir("storage_fs_nospace"));
    if (mount("tmpfs", g_mnt, "tmpfs", 0, "size=1m") != 0) {
        printf("SKIP: cannot mount a 1 MiB tmpfs on %s (%s): the disk-full test needs root or "
               "CAP_SYS_ADMIN\n",
               g_mnt, strerror(errno));
        return 77;
    }
    snprintf(dir, sizeof(dir), "%s/store", g_mnt);
    cs_store_config_init(&cfg);
    cfg.fs_dir = dir;
    if (cs_store_create(&cfg, &g_st) != CS_OK) {
        printf("cannot open the store on %s\n", dir);
        umount(g_mnt);
        return 1;
    }
    failed = cmocka_run_group_tests_name("storage_fs_nospace", tests, NULL, NULL);
    cs_store_destroy(&g_st);
    if (umount(g_mnt) != 0) {
        printf("warning: umount %s: %s\n", g_mnt, strerror(errno));
    }
    return failed == 0 ? 0 : 1;
}
