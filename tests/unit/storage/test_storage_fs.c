/* SPDX-License-Identifier: Apache-2.0 */
/* The fs backend: the conformance suite, then what only files can show: a writer killed with
 * SIGKILL mid-put leaves no visible object and recovery removes its temporary; objects persisted
 * before the kill stay readable; keys that collide with directories; every allocation failure
 * handled without a leak. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "conformance.h"
#include "testutil.h"

static char g_dir[1024];

static cs_status make_fs(void *ctx, cs_store **out)
{
    cs_store_config cfg;

    cs_store_config_init(&cfg);
    cfg.kind = CS_STORE_FS;
    cfg.fs_dir = ctx;
    return cs_store_create(&cfg, out);
}

/* Counts the files under `dir` whose name contains ".tmp.". */
static int count_tmp(const char *dir)
{
    char path[2048];
    struct dirent *de;
    int n = 0;
    DIR *d = opendir(dir);

    if (d == NULL) {
        return 0;
    }
    while ((de = readdir(d)) != NULL) {
        struct stat sb;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            n += count_tmp(path);
        } else if (strstr(de->d_name, ".tmp.") != NULL) {
            n++;
        }
    }
    closedir(d);
    return n;
}

static void test_kill_mid_put(void **state)
{
    const char *dir = cs_test_tmpdir("storage_fs_kill");
    const char *key = "streams/cam/fragments/2.mkv";
    static uint8_t data[256 * 1024];
    cs_store *st = NULL;
    cs_store_stats stats;
    uint8_t buf[64];
    size_t len;
    int pipefd[2];
    int status;
    pid_t pid;
    char c;

    (void)state;
    memset(data, 0xab, sizeof(data));
    assert_int_equal(make_fs((void *)dir, &st), CS_OK);
    /* A persisted object, which the crash must not touch. */
    assert_int_equal(cs_store_put(st, "streams/cam/fragments/1.mkv", "persisted", 9), CS_OK);
    assert_int_equal(pipe(pipefd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        cs_store_writer *w = NULL;
        close(pipefd[0]);
        if (cs_store_writer_open(st, key, &w) != CS_OK ||
            cs_store_writer_write(w, data, sizeof(data) / 2) != CS_OK) {
            _exit(1);
        }
        if (write(pipefd[1], "h", 1) != 1) {
            _exit(1);
        }
        for (;;) {
            pause(); /* half written: wait for the kill */
        }
    }
    close(pipefd[1]);
    assert_int_equal(read(pipefd[0], &c, 1), 1);
    close(pipefd[0]);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    /* The half-written object is invisible to every call, its temporary is on disk. */
    assert_int_equal(count_tmp(dir), 1);
    assert_int_equal(cs_store_head(st, key, NULL), CS_E_NOTFOUND);
    assert_int_equal(cs_store_get(st, key, buf, sizeof(buf), &len), CS_E_NOTFOUND);
    {
        cs_store_entry e[4];
        size_t count;
        bool more;
        assert_int_equal(cs_store_list(st, "", NULL, e, 4, &count, &more), CS_OK);
        assert_int_equal(count, 1);
        assert_string_equal(e[0].key, "streams/cam/fragments/1.mkv");
    }
    cs_store_destroy(&st);

    /* Restart: recovery removes the temporary and says so; the persisted object is whole. */
    assert_int_equal(make_fs((void *)dir, &st), CS_OK);
    assert_int_equal(cs_store_stat(st, &stats), CS_OK);
    assert_int_equal(stats.recovered_tmp, 1);
    assert_true(stats.space_known);
    assert_true(stats.free_bytes > 0 && stats.total_bytes >= stats.free_bytes);
    assert_int_equal(count_tmp(dir), 0);
    assert_int_equal(cs_store_get(st, "streams/cam/fragments/1.mkv", buf, sizeof(buf), &len),
                     CS_OK);
    assert_int_equal(len, 9);
    assert_memory_equal(buf, "persisted", 9);
    /* The key can be written again. */
    assert_int_equal(cs_store_put(st, key, data, sizeof(data)), CS_OK);
    assert_int_equal(cs_store_head(st, key, NULL), CS_OK);
    cs_store_destroy(&st);
    assert_int_equal(make_fs((void *)dir, &st), CS_OK);
    assert_int_equal(cs_store_stat(st, &stats), CS_OK);
    assert_int_equal(stats.recovered_tmp, 0);
    cs_store_destroy(&st);
}

/* Children killed at many points of a replacing put: the object is always the old or the new
 * one, whole, never anything else. */
static void test_kill_anywhere(void **state)
{
    const char *dir = cs_test_tmpdir("storage_fs_kill_any");
    const char *key = "streams/s/fragments/5.mkv";
    static uint8_t oldv[100000];
    static uint8_t newv[150000];
    static uint8_t buf[200000];
    cs_store *st = NULL;
    size_t len;
    int i;

    (void)state;
    memset(oldv, 'o', sizeof(oldv));
    memset(newv, 'n', sizeof(newv));
    assert_int_equal(make_fs((void *)dir, &st), CS_OK);
    assert_int_equal(cs_store_put(st, key, oldv, sizeof(oldv)), CS_OK);
    for (i = 0; i < 20; i++) {
        int status;
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            for (;;) {
                (void)cs_store_put(st, key, (i & 1) ? newv : oldv,
                                   (i & 1) ? sizeof(newv) : sizeof(oldv));
            }
        }
        usleep((useconds_t)(1000 + i * 700));
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_int_equal(cs_store_get(st, key, buf, sizeof(buf), &len), CS_OK);
        if (len == sizeof(oldv)) {
            assert_memory_equal(buf, oldv, len);
        } else {
            assert_int_equal(len, sizeof(newv));
            assert_memory_equal(buf, newv, len);
        }
    }
    cs_store_destroy(&st);
    assert_int_equal(make_fs((void *)dir, &st), CS_OK);
    assert_int_equal(count_tmp(dir), 0);
    assert_int_equal(cs_store_head(st, key, NULL), CS_OK);
    cs_store_destroy(&st);
}

static void test_dir_collisions(void **state)
{
    const char *dir = cs_test_tmpdir("storage_fs_coll");
    cs_store *st = NULL;
    cs_store_config cfg;

    (void)state;
    assert_int_equal(make_fs((void *)dir, &st), CS_OK);
    assert_int_equal(cs_store_put(st, "a/b/c", "1", 1), CS_OK);
    /* "a/b" names a directory here: it can be neither an object nor a parent of one. */
    assert_int_equal(cs_store_put(st, "a/b", "2", 1), CS_E_EXISTS);
    assert_int_equal(cs_store_put(st, "a/b/c/d", "3", 1), CS_E_EXISTS);
    assert_int_equal(cs_store_delete(st, "a/b"), CS_OK); /* not an object: nothing to do */
    assert_int_equal(cs_store_head(st, "a/b/c", NULL), CS_OK);
    /* Deleting the last object removes emptied directories, so the name is free again. */
    assert_int_equal(cs_store_delete(st, "a/b/c"), CS_OK);
    assert_int_equal(cs_test_sh("test ! -e '%s/a'", dir), 0);
    assert_int_equal(cs_store_put(st, "a/b", "2", 1), CS_OK);
    cs_store_destroy(&st);

    /* Config errors. */
    cs_store_config_init(&cfg);
    assert_int_equal(cs_store_create(&cfg, &st), CS_E_INVAL); /* no fs_dir */
    assert_null(st);
    cfg.fs_dir = "/nonexistent-parent/xyz/store";
    assert_int_equal(cs_store_create(&cfg, &st), CS_E_NOTFOUND);
    assert_null(st);
    assert_int_equal(cs_store_create(NULL, &st), CS_E_INVAL);
    assert_int_equal(cs_store_create(&cfg, NULL), CS_E_INVAL);
}

struct worker {
    cs_store *st;
    int id;
    int errors;
};

/* Each worker puts, reads back and deletes its own keys in directories the others share, so
 * directories are emptied (and removed by delete) while other puts are creating them. */
static void worker_fn(void *arg)
{
    struct worker *wk = arg;
    uint8_t data[3000];
    uint8_t buf[3000];
    char key[64];
    size_t len;
    int i;

    for (i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), "race/d%d/w%d-%d", i % 3, wk->id, i);
        memset(data, (int)(wk->id * 31 + i), sizeof(data));
        if (cs_store_put(wk->st, key, data, sizeof(data)) != CS_OK ||
            cs_store_get(wk->st, key, buf, sizeof(buf), &len) != CS_OK || len != sizeof(data) ||
            memcmp(buf, data, len) != 0 || cs_store_delete(wk->st, key) != CS_OK) {
            wk->errors++;
        }
    }
}

static void test_threads(void **state)
{
    const char *dir = cs_test_tmpdir("storage_fs_threads");
    struct worker wk[6];
    cs_thread th[6];
    cs_store *st = NULL;
    cs_store_entry e[2];
    size_t count;
    bool more;
    int i;

    (void)state;
    assert_int_equal(make_fs((void *)dir, &st), CS_OK);
    for (i = 0; i < 6; i++) {
        wk[i] = (struct worker){st, i, 0};
        assert_int_equal(cs_thread_create(&th[i], worker_fn, &wk[i], "store-worker"), CS_OK);
    }
    for (i = 0; i < 6; i++) {
        assert_int_equal(cs_thread_join(&th[i]), CS_OK);
        assert_int_equal(wk[i].errors, 0);
    }
    assert_int_equal(cs_store_list(st, "", NULL, e, 2, &count, &more), CS_OK);
    assert_int_equal(count, 0);
    assert_int_equal(count_tmp(dir), 0);
    cs_store_destroy(&st);
}

/* A directory the store remembers as made is removed behind its back (or by a delete): the next
 * put into it makes it again; many puts into one directory at once (sharing its fsyncs) all land.
 */
static void test_known_dirs(void **state)
{
    const char *dir = cs_test_tmpdir("storage_fs_known");
    cs_store *st = NULL;
    uint8_t buf[8];
    size_t len;

    (void)state;
    assert_int_equal(make_fs((void *)dir, &st), CS_OK);
    assert_int_equal(cs_store_put(st, "cam/a/1", "one", 3), CS_OK);
    assert_int_equal(cs_test_sh("rm -rf '%s/cam'", dir), 0);
    assert_int_equal(cs_store_put(st, "cam/a/2", "two", 3), CS_OK);
    assert_int_equal(cs_store_get(st, "cam/a/2", buf, sizeof(buf), &len), CS_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(buf, "two", 3);
    assert_int_equal(cs_store_get(st, "cam/a/1", buf, sizeof(buf), &len), CS_E_NOTFOUND);
    assert_int_equal(cs_store_delete(st, "cam/a/2"), CS_OK); /* removes cam/a and cam */
    assert_int_equal(cs_test_sh("test ! -e '%s/cam'", dir), 0);
    assert_int_equal(cs_store_put(st, "cam/a/3", "three", 5), CS_OK);
    assert_int_equal(cs_test_sh("test -f '%s/cam/a/3'", dir), 0);
    cs_store_destroy(&st);
}

/* fs prepare: the directories exist afterwards (so the first put makes none); an object where
 * a directory is needed is CS_E_EXISTS; a prefix emptied by deletes is made again by the put. */
static void test_prepare_dirs(void **state)
{
    const char *dir = cs_test_tmpdir("storage_fs_prepare");
    cs_store *st = NULL;

    (void)state;
    assert_int_equal(make_fs((void *)dir, &st), CS_OK);
    assert_int_equal(cs_store_prepare(st, "streams/0123/fragments/"), CS_OK);
    assert_int_equal(cs_test_sh("test -d '%s/streams/0123/fragments'", dir), 0);
    assert_int_equal(cs_test_sh("test -z \"$(ls -A '%s/streams/0123/fragments')\"", dir), 0);
    assert_int_equal(cs_store_put(st, "blk", "x", 1), CS_OK);
    assert_int_equal(cs_store_prepare(st, "blk/a/"), CS_E_EXISTS);
    assert_int_equal(cs_store_put(st, "streams/0123/fragments/1.mkv", "one", 3), CS_OK);
    assert_int_equal(cs_store_delete(st, "streams/0123/fragments/1.mkv"), CS_OK);
    assert_int_equal(cs_test_sh("test ! -e '%s/streams'", dir), 0); /* emptied: removed */
    assert_int_equal(cs_store_put(st, "streams/0123/fragments/2.mkv", "two", 3), CS_OK);
    assert_int_equal(cs_test_sh("test -f '%s/streams/0123/fragments/2.mkv'", dir), 0);
    cs_store_destroy(&st);
}

/* Every allocation failure is reported as CS_E_NOMEM (or absorbed) and nothing leaks. */
static void test_alloc_failures(void **state)
{
    const char *dir = cs_test_tmpdir("storage_fs_alloc");
    size_t fail_at;
    bool completed = false;

    (void)state;
    for (fail_at = 1; !completed && fail_at < 200; fail_at++) {
        cs_test_allocator ta;
        cs_store_config cfg;
        cs_store *st = NULL;
        cs_store_entry e[2];
        uint8_t buf[16];
        size_t count;
        size_t len;
        bool more;
        cs_status s;

        cs_test_allocator_init(&ta, fail_at);
        cs_store_config_init(&cfg);
        cfg.fs_dir = dir;
        cfg.allocator = &ta.a;
        s = cs_store_create(&cfg, &st);
        if (s == CS_OK) {
            s = cs_store_put(st, "x/y/1", "hello", 5);
        }
        if (s == CS_OK) {
            s = cs_store_get(st, "x/y/1", buf, sizeof(buf), &len);
        }
        if (s == CS_OK) {
            s = cs_store_list(st, "x/", NULL, e, 2, &count, &more);
        }
        if (s == CS_OK) {
            s = cs_store_delete(st, "x/y/1");
            completed = s == CS_OK;
        }
        assert_true(s == CS_OK || s == CS_E_NOMEM);
        cs_store_destroy(&st);
        assert_int_equal(ta.live, 0);
        assert_int_equal(count_tmp(dir), 0);
    }
    assert_true(completed);
}

int main(void)
{
    const struct CMUnitTest fs_tests[] = {
        cmocka_unit_test(test_kill_mid_put),   cmocka_unit_test(test_kill_anywhere),
        cmocka_unit_test(test_dir_collisions), cmocka_unit_test(test_threads),
        cmocka_unit_test(test_known_dirs),     cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_prepare_dirs),
    };
    int failed;

    snprintf(g_dir, sizeof(g_dir), "%s/store", cs_test_tmpdir("storage_fs_conformance"));
    failed = cs_store_conformance_run("storage_conformance_fs", make_fs, g_dir);
    failed += cmocka_run_group_tests_name("storage_fs", fs_tests, NULL, NULL);
    return failed == 0 ? 0 : 1;
}
