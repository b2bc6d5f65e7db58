/* SPDX-License-Identifier: Apache-2.0 */
/* The object store conformance suite (see conformance.h). Every test opens the store through the
 * backend's factory and works under its own key prefix, so a shared bucket is fine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conformance.h"

static cs_store_factory g_make;
static void *g_ctx;

static int setup(void **state)
{
    cs_store *st = NULL;

    if (g_make(g_ctx, &st) != CS_OK) {
        return -1;
    }
    *state = st;
    return 0;
}

static int teardown(void **state)
{
    cs_store *st = *state;

    cs_store_destroy(&st);
    assert_null(st);
    return 0;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
    size_t i;

    for (i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

static void test_put_get(void **state)
{
    cs_store *st = *state;
    const char *key = "conf/putget/streams/cam-1/fragments/00000000000000000001.mkv";
    uint8_t data[5000];
    uint8_t buf[6000];
    size_t len = 0;

    fill(data, sizeof(data), 1);
    assert_int_equal(cs_store_put(st, key, data, sizeof(data)), CS_OK);
    assert_int_equal(cs_store_get(st, key, buf, sizeof(buf), &len), CS_OK);
    assert_int_equal(len, sizeof(data));
    assert_memory_equal(buf, data, sizeof(data));

    /* Too small a buffer: CS_E_NOSPACE, and len tells the size needed. */
    assert_int_equal(cs_store_get(st, key, buf, 100, &len), CS_E_NOSPACE);
    assert_int_equal(len, sizeof(data));

    /* A put replaces the object whole. */
    fill(data, 300, 2);
    assert_int_equal(cs_store_put(st, key, data, 300), CS_OK);
    assert_int_equal(cs_store_get(st, key, buf, sizeof(buf), &len), CS_OK);
    assert_int_equal(len, 300);
    assert_memory_equal(buf, data, 300);
    assert_int_equal(cs_store_delete(st, key), CS_OK);
}

static void test_empty_object(void **state)
{
    cs_store *st = *state;
    const char *key = "conf/empty/0.mkv";
    uint8_t buf[8];
    uint64_t size = 99;
    size_t len = 99;

    assert_int_equal(cs_store_put(st, key, NULL, 0), CS_OK);
    assert_int_equal(cs_store_head(st, key, &size), CS_OK);
    assert_int_equal(size, 0);
    assert_int_equal(cs_store_get(st, key, buf, sizeof(buf), &len), CS_OK);
    assert_int_equal(len, 0);
    assert_int_equal(cs_store_get_range(st, key, 0, buf, sizeof(buf), &len), CS_OK);
    assert_int_equal(len, 0);
    assert_int_equal(cs_store_get_range(st, key, 1, buf, sizeof(buf), &len), CS_E_RANGE);
    assert_int_equal(cs_store_delete(st, key), CS_OK);
}

static void test_range(void **state)
{
    cs_store *st = *state;
    const char *key = "conf/range/1.mkv";
    static uint8_t data[200000];
    static uint8_t buf[200000];
    static const struct {
        uint64_t offset;
        size_t cap;
        size_t want; /* bytes expected */
    } cases[] = {
        {0, 10, 10},          /* the head */
        {1000, 70000, 70000}, /* across the fs backend's 64 KiB read chunk */
        {199990, 100, 10},    /* clamped at the end */
        {0, 200000, 200000},  /* everything */
        {200000, 100, 0},     /* at the end: empty, not an error */
        {123457, 1, 1},       /* one byte */
    };
    size_t i;
    size_t len;

    fill(data, sizeof(data), 3);
    assert_int_equal(cs_store_put(st, key, data, sizeof(data)), CS_OK);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        len = 12345;
        assert_int_equal(cs_store_get_range(st, key, cases[i].offset, buf, cases[i].cap, &len),
                         CS_OK);
        assert_int_equal(len, cases[i].want);
        if (len > 0) {
            assert_memory_equal(buf, data + cases[i].offset, len);
        }
    }
    assert_int_equal(cs_store_get_range(st, key, 200001, buf, 10, &len), CS_E_RANGE);
    assert_int_equal(cs_store_get_range(st, "conf/range/none", 0, buf, 10, &len), CS_E_NOTFOUND);
    assert_int_equal(cs_store_delete(st, key), CS_OK);
}

struct collect {
    uint8_t *buf;
    size_t len;
    size_t cap;
    size_t calls;
    size_t stop_after; /* 0: never */
};

static cs_status collect_fn(void *ctx, const void *data, size_t len)
{
    struct collect *c = ctx;

    c->calls++;
    if (c->stop_after != 0 && c->calls > c->stop_after) {
        return CS_E_CANCELLED;
    }
    assert_true(len <= c->cap - c->len);
    memcpy(c->buf + c->len, data, len);
    c->len += len;
    return CS_OK;
}

static void test_stream_read(void **state)
{
    cs_store *st = *state;
    const char *key = "conf/stream/2.mkv";
    static uint8_t data[300000];
    static uint8_t buf[300000];
    struct collect c = {buf, 0, sizeof(buf), 0, 0};
    uint64_t size = 0;

    fill(data, sizeof(data), 4);
    assert_int_equal(cs_store_put(st, key, data, sizeof(data)), CS_OK);
    assert_int_equal(cs_store_get_stream(st, key, 0, UINT64_MAX, collect_fn, &c, &size), CS_OK);
    assert_int_equal(size, sizeof(data));
    assert_int_equal(c.len, sizeof(data));
    assert_memory_equal(buf, data, sizeof(data));

    memset(&c, 0, sizeof(c));
    c.buf = buf;
    c.cap = sizeof(buf);
    assert_int_equal(cs_store_get_stream(st, key, 100000, 150000, collect_fn, &c, &size), CS_OK);
    assert_int_equal(c.len, 150000);
    assert_memory_equal(buf, data + 100000, 150000);

    /* The callback's status stops the read and is returned. */
    memset(&c, 0, sizeof(c));
    c.buf = buf;
    c.cap = sizeof(buf);
    c.stop_after = 1;
    assert_int_equal(cs_store_get_stream(st, key, 0, UINT64_MAX, collect_fn, &c, NULL),
                     CS_E_CANCELLED);
    assert_int_equal(cs_store_get_stream(st, key, 300001, 1, collect_fn, &c, NULL), CS_E_RANGE);
    assert_int_equal(cs_store_delete(st, key), CS_OK);
}

static void test_head_delete(void **state)
{
    cs_store *st = *state;
    const char *key = "conf/hd/streams/s/fragments/7.mkv";
    uint8_t buf[16];
    uint64_t size = 0;
    size_t len;

    assert_int_equal(cs_store_head(st, key, &size), CS_E_NOTFOUND);
    assert_int_equal(cs_store_head(st, key, NULL), CS_E_NOTFOUND);
    assert_int_equal(cs_store_get(st, key, buf, sizeof(buf), &len), CS_E_NOTFOUND);
    assert_int_equal(cs_store_put(st, key, "0123456789", 10), CS_OK);
    assert_int_equal(cs_store_head(st, key, &size), CS_OK);
    assert_int_equal(size, 10);
    assert_int_equal(cs_store_head(st, key, NULL), CS_OK);
    /* A prefix of a key is not an object. */
    assert_int_equal(cs_store_head(st, "conf/hd/streams/s", &size), CS_E_NOTFOUND);
    assert_int_equal(cs_store_delete(st, key), CS_OK);
    assert_int_equal(cs_store_head(st, key, &size), CS_E_NOTFOUND);
    assert_int_equal(cs_store_delete(st, key), CS_OK); /* idempotent */
    assert_int_equal(cs_store_delete(st, "conf/hd/never/was"), CS_OK);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_list_pagination(void **state)
{
    cs_store *st = *state;
    /* Byte order mixes '-' (0x2d), '.' (0x2e), '/' (0x2f) and digits: a directory walk must sort
     * "a/..." after "a-b" and "a.c". */
    static const char *keys[] = {
        "conf/list/a/b",   "conf/list/a-b",     "conf/list/a.c", "conf/list/a/a/z",
        "conf/list/b",     "conf/list/a0",      "conf/list/A",   "conf/list/a/c.mkv",
        "conf/list/z/y/x", "conf/list/a_under",
    };
    enum { N = sizeof(keys) / sizeof(keys[0]) };
    const char *sorted[N];
    cs_store_entry page[3];
    char after[CS_STORE_KEY_MAX + 1] = "";
    size_t got = 0;
    size_t count;
    size_t cap;
    bool more;
    size_t i;

    for (i = 0; i < N; i++) {
        assert_int_equal(cs_store_put(st, keys[i], keys[i], strlen(keys[i])), CS_OK);
        sorted[i] = keys[i];
    }
    assert_int_equal(cs_store_put(st, "conf/listed-not", "x", 1), CS_OK); /* outside the prefix */
    qsort(sorted, N, sizeof(sorted[0]), cmp_str);

    for (cap = 1; cap <= 3; cap++) {
        got = 0;
        after[0] = '\0';
        do {
            assert_int_equal(cs_store_list(st, "conf/list/", after, page, cap, &count, &more),
                             CS_OK);
            assert_true(count <= cap);
            for (i = 0; i < count; i++) {
                assert_true(got < N);
                assert_string_equal(page[i].key, sorted[got]);
                assert_int_equal(page[i].size, strlen(sorted[got]));
                got++;
            }
            if (count > 0) {
                strcpy(after, page[count - 1].key);
            }
            assert_true(more || got == N);
        } while (more);
        assert_int_equal(got, N);
    }

    /* A prefix need not end at a segment: "conf/list/a" matches a/..., a-b, a.c, a0, a_under. */
    got = 0;
    after[0] = '\0';
    do {
        assert_int_equal(cs_store_list(st, "conf/list/a", after, page, 3, &count, &more), CS_OK);
        for (i = 0; i < count; i++) {
            assert_int_equal(strncmp(page[i].key, "conf/list/a", 11), 0);
            got++;
        }
        if (count > 0) {
            strcpy(after, page[count - 1].key);
        }
    } while (more);
    assert_int_equal(got, 7);

    /* start_after that is not itself a key. */
    assert_int_equal(cs_store_list(st, "conf/list/", "conf/list/a/b0", page, 3, &count, &more),
                     CS_OK);
    assert_int_equal(count, 3);
    assert_string_equal(page[0].key, "conf/list/a/c.mkv");
    assert_string_equal(page[1].key, "conf/list/a0");
    assert_string_equal(page[2].key, "conf/list/a_under");

    /* Nothing under an unknown prefix. */
    assert_int_equal(cs_store_list(st, "conf/nothing/", NULL, page, 3, &count, &more), CS_OK);
    assert_int_equal(count, 0);
    assert_false(more);
    assert_int_equal(cs_store_list(st, "conf/list/", NULL, page, 0, &count, &more), CS_E_INVAL);
    assert_int_equal(cs_store_list(st, "../", NULL, page, 3, &count, &more), CS_E_INVAL);

    for (i = 0; i < N; i++) {
        assert_int_equal(cs_store_delete(st, keys[i]), CS_OK);
    }
    assert_int_equal(cs_store_delete(st, "conf/listed-not"), CS_OK);
    assert_int_equal(cs_store_list(st, "conf/list/", NULL, page, 3, &count, &more), CS_OK);
    assert_int_equal(count, 0);
}

static void test_streamed_put(void **state)
{
    cs_store *st = *state;
    const char *key = "conf/streamed/streams/cam/fragments/3.mkv";
    static uint8_t data[1000003];
    static uint8_t buf[1000003];
    cs_store_writer *w = NULL;
    cs_store_entry e[2];
    size_t count;
    size_t off;
    size_t len;
    bool more;

    fill(data, sizeof(data), 5);
    assert_int_equal(cs_store_writer_open(st, key, &w), CS_OK);
    for (off = 0; off < sizeof(data); off += 70001) {
        size_t n = sizeof(data) - off < 70001 ? sizeof(data) - off : 70001;
        assert_int_equal(cs_store_writer_write(w, data + off, n), CS_OK);
        /* Not visible before the commit. */
        assert_int_equal(cs_store_head(st, key, NULL), CS_E_NOTFOUND);
    }
    assert_int_equal(cs_store_list(st, "conf/streamed/", NULL, e, 2, &count, &more), CS_OK);
    assert_int_equal(count, 0);
    assert_int_equal(cs_store_writer_commit(&w), CS_OK);
    assert_null(w);
    assert_int_equal(cs_store_get(st, key, buf, sizeof(buf), &len), CS_OK);
    assert_int_equal(len, sizeof(data));
    assert_memory_equal(buf, data, sizeof(data));

    /* An aborted replacement leaves the old object as it was, and nothing else. */
    assert_int_equal(cs_store_writer_open(st, key, &w), CS_OK);
    assert_int_equal(cs_store_writer_write(w, "junk", 4), CS_OK);
    cs_store_writer_abort(&w);
    assert_null(w);
    cs_store_writer_abort(&w); /* NULL is fine */
    assert_int_equal(cs_store_get(st, key, buf, sizeof(buf), &len), CS_OK);
    assert_int_equal(len, sizeof(data));
    assert_int_equal(cs_store_list(st, "conf/streamed/", NULL, e, 2, &count, &more), CS_OK);
    assert_int_equal(count, 1);
    assert_string_equal(e[0].key, key);
    assert_int_equal(cs_store_delete(st, key), CS_OK);

    /* An aborted new object leaves nothing. */
    assert_int_equal(cs_store_writer_open(st, "conf/streamed/new/9.mkv", &w), CS_OK);
    assert_int_equal(cs_store_writer_write(w, data, 1000), CS_OK);
    cs_store_writer_abort(&w);
    assert_int_equal(cs_store_head(st, "conf/streamed/new/9.mkv", NULL), CS_E_NOTFOUND);
    assert_int_equal(cs_store_list(st, "conf/streamed/", NULL, e, 2, &count, &more), CS_OK);
    assert_int_equal(count, 0);
}

static void test_keys(void **state)
{
    cs_store *st = *state;
    static const struct {
        const char *key;
        cs_status want;
    } cases[] = {
        {"streams/abc-123/fragments/00000000000000000042.mkv", CS_OK},
        {"a", CS_OK},
        {"A_b-c.d/e", CS_OK},
        {"", CS_E_INVAL},
        {"/abs/path", CS_E_INVAL}, /* absolute */
        {"a/../b", CS_E_INVAL},    /* parent */
        {"..", CS_E_INVAL},
        {"a/./b", CS_E_INVAL},          /* dot segment */
        {"a/.hidden", CS_E_INVAL},      /* hidden segment */
        {"a//b", CS_E_INVAL},           /* empty segment */
        {"a/", CS_E_INVAL},             /* trailing slash */
        {"a/b.tmp.XYZ123", CS_E_INVAL}, /* a temporary's name */
        {"a b", CS_E_INVAL},            /* space */
        {"a\\b", CS_E_INVAL},           /* backslash */
        {"caf\xc3\xa9", CS_E_INVAL},    /* non-ASCII */
        {"a?b", CS_E_INVAL},            /* would change an S3 URL */
        {"a%2e%2e/b", CS_E_INVAL},      /* encoded dots */
    };
    char longkey[CS_STORE_KEY_MAX + 2];
    cs_store_writer *w = NULL;
    uint8_t buf[4];
    size_t len;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(cs_store_key_check(cases[i].key), cases[i].want);
        if (cases[i].want != CS_OK) {
            assert_int_equal(cs_store_put(st, cases[i].key, "x", 1), CS_E_INVAL);
            assert_int_equal(cs_store_writer_open(st, cases[i].key, &w), CS_E_INVAL);
            assert_null(w);
            assert_int_equal(cs_store_get(st, cases[i].key, buf, sizeof(buf), &len), CS_E_INVAL);
            assert_int_equal(cs_store_head(st, cases[i].key, NULL), CS_E_INVAL);
            assert_int_equal(cs_store_delete(st, cases[i].key), CS_E_INVAL);
        }
    }
    assert_int_equal(cs_store_key_check(NULL), CS_E_INVAL);
    memset(longkey, 'k', CS_STORE_KEY_MAX);
    longkey[CS_STORE_KEY_MAX] = '\0';
    assert_int_equal(cs_store_key_check(longkey), CS_OK); /* the limit itself */
    longkey[CS_STORE_KEY_MAX] = 'k';
    longkey[CS_STORE_KEY_MAX + 1] = '\0';
    assert_int_equal(cs_store_key_check(longkey), CS_E_INVAL);
    assert_int_equal(cs_store_put(st, longkey, "x", 1), CS_E_INVAL);
}

/* cs_store_prepare: checked like a key with a name appended; a prepared prefix holds no object
 * and lists nothing; puts under it work, and preparing again is harmless. */
static void test_prepare(void **state)
{
    cs_store *st = *state;
    cs_store_entry e[4];
    size_t n = 9, len = 0;
    bool more = true;
    uint8_t buf[8];

    assert_int_equal(cs_store_prepare(NULL, "p/"), CS_E_INVAL);
    assert_int_equal(cs_store_prepare(st, NULL), CS_E_INVAL);
    assert_int_equal(cs_store_prepare(st, ""), CS_E_INVAL);
    assert_int_equal(cs_store_prepare(st, "p"), CS_E_INVAL);     /* not ending in '/' */
    assert_int_equal(cs_store_prepare(st, "/p/"), CS_E_INVAL);   /* leading '/' */
    assert_int_equal(cs_store_prepare(st, "p//"), CS_E_INVAL);   /* empty segment */
    assert_int_equal(cs_store_prepare(st, "../p/"), CS_E_INVAL); /* escapes */
    assert_int_equal(cs_store_prepare(st, "p/.tmp./"), CS_E_INVAL);
    assert_int_equal(cs_store_prepare(st, "pre/a/"), CS_OK);
    assert_int_equal(cs_store_list(st, "pre/", NULL, e, 4, &n, &more), CS_OK);
    assert_int_equal(n, 0);
    assert_false(more);
    assert_int_equal(cs_store_put(st, "pre/a/1", "one", 3), CS_OK);
    assert_int_equal(cs_store_prepare(st, "pre/a/"), CS_OK);
    assert_int_equal(cs_store_get(st, "pre/a/1", buf, sizeof(buf), &len), CS_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(buf, "one", 3);
}

static void test_args(void **state)
{
    cs_store *st = *state;
    cs_store_stats stats;
    size_t len = 7;

    assert_int_equal(cs_store_put(NULL, "a", "x", 1), CS_E_INVAL);
    assert_int_equal(cs_store_put(st, "a", NULL, 1), CS_E_INVAL);
    assert_int_equal(cs_store_get(st, "a", NULL, 4, &len), CS_E_INVAL);
    assert_int_equal(cs_store_get(st, "a", NULL, 0, NULL), CS_E_INVAL);
    assert_int_equal(cs_store_writer_commit(NULL), CS_E_INVAL);
    assert_int_equal(cs_store_stat(st, NULL), CS_E_INVAL);
    assert_int_equal(cs_store_stat(st, &stats), CS_OK);
    cs_store_destroy(NULL);
}

int cs_store_conformance_run(const char *name, cs_store_factory make, void *ctx)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_object, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_pagination, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streamed_put, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prepare, setup, teardown),
        cmocka_unit_test_setup_teardown(test_args, setup, teardown),
    };

    g_make = make;
    g_ctx = ctx;
    return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}
