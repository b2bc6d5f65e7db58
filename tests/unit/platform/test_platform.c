/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the platform layer: status names, checked arithmetic, allocators, clocks (system
 * and manual), threads, mutexes, condition variables, atomic files, entropy and logging. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "camstream/platform.h"
#include "testutil.h"

static void test_status_names(void **state)
{
    (void)state;
    assert_string_equal(cs_status_str(CS_OK), "CS_OK");
    assert_string_equal(cs_status_str(CS_E_NOSPACE), "CS_E_NOSPACE");
    assert_string_equal(cs_status_str(CS_E_OVERFLOW), "CS_E_OVERFLOW");
    assert_string_equal(cs_status_str((cs_status)9999), "CS_E_UNKNOWN");
    /* Every value up to the last has its own name. */
    for (int s = CS_OK; s <= CS_E_OVERFLOW; s++) {
        assert_string_not_equal(cs_status_str((cs_status)s), "CS_E_UNKNOWN");
        for (int t = CS_OK; t < s; t++) {
            assert_string_not_equal(cs_status_str((cs_status)s), cs_status_str((cs_status)t));
        }
    }
    assert_string_equal(cs_version(), CS_VERSION_STRING);
}

static void test_checked_math(void **state)
{
    size_t out = 7;
    (void)state;
    assert_int_equal(cs_mul_size(3, 4, &out), CS_OK);
    assert_int_equal(out, 12);
    assert_int_equal(cs_mul_size(SIZE_MAX / 2 + 1, 2, &out), CS_E_OVERFLOW);
    assert_int_equal(out, 12); /* unchanged on overflow */
    assert_int_equal(cs_mul_size(0, SIZE_MAX, &out), CS_OK);
    assert_int_equal(out, 0);
    assert_int_equal(cs_add_size(SIZE_MAX, 1, &out), CS_E_OVERFLOW);
    assert_int_equal(cs_add_size(SIZE_MAX - 1, 1, &out), CS_OK);
    assert_true(out == SIZE_MAX);
}

static void test_allocator(void **state)
{
    cs_test_allocator ta;
    void *p;
    uint8_t *z;
    (void)state;

    cs_test_allocator_init(&ta, 2);
    p = cs_alloc(&ta.a, 100);
    assert_non_null(p);
    assert_int_equal(ta.bytes_live, 100);
    assert_null(cs_alloc(&ta.a, 10)); /* the second call fails by design */
    assert_null(cs_alloc(&ta.a, 0));  /* size 0 never reaches the allocator */
    assert_int_equal(ta.calls, 2);
    cs_freep(&ta.a, &p);
    assert_null(p);
    cs_freep(&ta.a, &p); /* NULL is accepted */
    assert_int_equal(ta.live, 0);
    assert_null(cs_calloc(&ta.a, SIZE_MAX / 2, 4)); /* overflow caught before allocating */
    assert_int_equal(ta.calls, 2);
    z = cs_calloc(NULL, 16, 4);
    assert_non_null(z);
    for (int i = 0; i < 64; i++) {
        assert_int_equal(z[i], 0);
    }
    cs_freep(NULL, &z);
    assert_null(z);
}

static void test_system_clock(void **state)
{
    uint64_t m0, m1, w;
    (void)state;
    m0 = cs_clock_monotonic_ns(NULL);
    cs_clock_sleep_ns(NULL, 20 * 1000000ull);
    m1 = cs_clock_monotonic_ns(cs_clock_system());
    assert_true(m1 >= m0 + 20 * 1000000ull); /* slept at least as long as asked */
    w = cs_clock_wall_ns(NULL);
    /* After 2020-01-01 and before 2100-01-01: nanoseconds since the epoch, not a tick count. */
    assert_true(w > 1577836800ull * 1000000000ull);
    assert_true(w < 4102444800ull * 1000000000ull);
    for (int i = 0; i < 1000; i++) {
        uint64_t m = cs_clock_monotonic_ns(NULL);
        assert_true(m >= m1);
        m1 = m;
    }
}

static void test_manual_clock(void **state)
{
    cs_manual_clock mc;
    uint64_t real0;
    (void)state;

    cs_manual_clock_init(&mc, 1000, 1700000000ull * 1000000000ull);
    assert_int_equal(cs_clock_monotonic_ns(&mc.clock), 1000);
    assert_true(cs_clock_wall_ns(&mc.clock) == 1700000000ull * 1000000000ull);
    cs_manual_clock_advance(&mc, 5000);
    assert_int_equal(cs_clock_monotonic_ns(&mc.clock), 6000);
    assert_true(cs_clock_wall_ns(&mc.clock) == 1700000000ull * 1000000000ull + 5000);
    /* Sleeping an hour on a manual clock takes no real time and moves the clock. */
    real0 = cs_clock_monotonic_ns(NULL);
    cs_clock_sleep_ns(&mc.clock, 3600ull * 1000000000ull);
    assert_true(cs_clock_monotonic_ns(NULL) - real0 < 1000000000ull);
    assert_true(cs_clock_monotonic_ns(&mc.clock) == 6000 + 3600ull * 1000000000ull);
}

struct counter {
    cs_mutex mu;
    cs_cond cv;
    long value;
    int done;
};

static void add_many(void *arg)
{
    struct counter *c = arg;
    for (int i = 0; i < 100000; i++) {
        cs_mutex_lock(&c->mu);
        c->value++;
        cs_mutex_unlock(&c->mu);
    }
    cs_mutex_lock(&c->mu);
    c->done++;
    cs_cond_broadcast(&c->cv);
    cs_mutex_unlock(&c->mu);
}

static void test_threads_mutex_cond(void **state)
{
    struct counter c;
    cs_thread t[4];
    (void)state;

    memset(&c, 0, sizeof(c));
    assert_int_equal(cs_mutex_init(&c.mu), CS_OK);
    assert_int_equal(cs_cond_init(&c.cv), CS_OK);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(cs_thread_create(&t[i], add_many, &c, "cs-test"), CS_OK);
    }
    cs_mutex_lock(&c.mu);
    while (c.done < 4) {
        cs_cond_wait(&c.cv, &c.mu);
    }
    cs_mutex_unlock(&c.mu);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(cs_thread_join(&t[i]), CS_OK);
    }
    assert_int_equal(c.value, 400000);                   /* no lost updates under the mutex */
    assert_int_equal(cs_thread_join(&t[0]), CS_E_STATE); /* joined twice */
    assert_int_equal(cs_thread_create(NULL, add_many, &c, NULL), CS_E_INVAL);
    cs_cond_destroy(&c.cv);
    cs_mutex_destroy(&c.mu);
}

static void test_cond_timeout(void **state)
{
    cs_mutex mu;
    cs_cond cv;
    uint64_t t0, t1;
    cs_status st;
    (void)state;

    assert_int_equal(cs_mutex_init(&mu), CS_OK);
    assert_int_equal(cs_cond_init(&cv), CS_OK);
    cs_mutex_lock(&mu);
    t0 = cs_clock_monotonic_ns(NULL);
    do { /* spurious wake-ups are allowed; a timeout must come eventually */
        st = cs_cond_timedwait(&cv, &mu, 30 * 1000000ull);
    } while (st == CS_OK);
    t1 = cs_clock_monotonic_ns(NULL);
    cs_mutex_unlock(&mu);
    assert_int_equal(st, CS_E_TIMEOUT);
    assert_true(t1 - t0 >= 29 * 1000000ull); /* it did wait (1 ms of clock granularity allowed) */
    /* A huge timeout does not overflow into the past: it must not return TIMEOUT at once. */
    cs_mutex_lock(&mu);
    cs_cond_signal(&cv); /* nobody waiting: lost, as specified */
    cs_mutex_unlock(&mu);
    cs_cond_destroy(&cv);
    cs_mutex_destroy(&mu);
}

struct waker {
    cs_mutex *mu;
    cs_cond *cv;
    int *flag;
};

static void wake_later(void *arg)
{
    struct waker *w = arg;
    cs_clock_sleep_ns(NULL, 20 * 1000000ull);
    cs_mutex_lock(w->mu);
    *w->flag = 1;
    cs_cond_signal(w->cv);
    cs_mutex_unlock(w->mu);
}

static void test_cond_wakes_before_timeout(void **state)
{
    cs_mutex mu;
    cs_cond cv;
    cs_thread t;
    int flag = 0;
    struct waker w = {&mu, &cv, &flag};
    cs_status st = CS_OK;
    (void)state;

    assert_int_equal(cs_mutex_init(&mu), CS_OK);
    assert_int_equal(cs_cond_init(&cv), CS_OK);
    assert_int_equal(cs_thread_create(&t, wake_later, &w, NULL), CS_OK);
    cs_mutex_lock(&mu);
    while (!flag && st == CS_OK) {
        /* ~1000 years: would overflow a naive deadline computation */
        st = cs_cond_timedwait(&cv, &mu, UINT64_MAX);
    }
    cs_mutex_unlock(&mu);
    assert_int_equal(st, CS_OK);
    assert_int_equal(flag, 1);
    assert_int_equal(cs_thread_join(&t), CS_OK);
    cs_cond_destroy(&cv);
    cs_mutex_destroy(&mu);
}

static int count_entries(const char *dir)
{
    char cmd[1200];
    FILE *p;
    int n = -1;
    snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", dir);
    p = popen(cmd, "r");
    if (p != NULL) {
        if (fscanf(p, "%d", &n) != 1) {
            n = -1;
        }
        pclose(p);
    }
    return n;
}

static void test_atomic_file(void **state)
{
    const char *dir = cs_test_tmpdir("atomic");
    char path[1200];
    char buf[64];
    size_t len = 0;
    cs_atomic_file af;
    (void)state;

    snprintf(path, sizeof(path), "%s/frag.mkv", dir);
    assert_int_equal(cs_file_read(path, buf, sizeof(buf), &len), CS_E_NOTFOUND);
    assert_int_equal(cs_file_write_atomic(path, "hello", 5), CS_OK);
    assert_int_equal(cs_file_read(path, buf, sizeof(buf), &len), CS_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "hello", 5);

    /* A write in progress is invisible at the target; abort leaves the old content and no temp. */
    assert_int_equal(cs_atomic_file_open(&af, path), CS_OK);
    assert_int_equal(cs_atomic_file_write(&af, "new content", 11), CS_OK);
    assert_int_equal(count_entries(dir), 2);
    assert_int_equal(cs_file_read(path, buf, sizeof(buf), &len), CS_OK);
    assert_memory_equal(buf, "hello", 5);
    cs_atomic_file_abort(&af);
    assert_int_equal(count_entries(dir), 1);
    assert_int_equal(cs_file_read(path, buf, sizeof(buf), &len), CS_OK);
    assert_int_equal(len, 5);

    /* Streaming writes then commit replace the file whole. */
    assert_int_equal(cs_atomic_file_open(&af, path), CS_OK);
    assert_int_equal(cs_atomic_file_write(&af, "new ", 4), CS_OK);
    assert_int_equal(cs_atomic_file_write(&af, "content", 7), CS_OK);
    assert_int_equal(cs_atomic_file_commit(&af), CS_OK);
    assert_int_equal(count_entries(dir), 1);
    assert_int_equal(cs_file_read(path, buf, sizeof(buf), &len), CS_OK);
    assert_int_equal(len, 11);
    assert_memory_equal(buf, "new content", 11);

    /* The new file has the ordinary umask-governed mode (not mkstemp's 0600). */
    {
        struct stat stt;
        mode_t old = umask(027);
        assert_int_equal(cs_file_write_atomic(path, "m", 1), CS_OK);
        umask(old);
        assert_int_equal(stat(path, &stt), 0);
        assert_int_equal(stt.st_mode & 0777, 0640);
        assert_int_equal(cs_file_write_atomic(path, "new content", 11), CS_OK);
    }

    /* Reads are bounded by the caller's capacity. */
    assert_int_equal(cs_file_read(path, buf, 4, &len), CS_E_NOSPACE);
    assert_int_equal(len, 4);

    /* Missing directory, and a path longer than the struct holds. */
    snprintf(path, sizeof(path), "%s/no/such/dir/f", dir);
    assert_int_equal(cs_file_write_atomic(path, "x", 1), CS_E_NOTFOUND);
    {
        char longp[2000];
        memset(longp, 'a', sizeof(longp) - 1);
        longp[sizeof(longp) - 1] = '\0';
        assert_int_equal(cs_atomic_file_open(&af, longp), CS_E_INVAL);
    }
    cs_test_sh("rm -rf '%s'", dir);
}

static void test_entropy(void **state)
{
    uint8_t a[64], b[64];
    int zeros = 0;
    (void)state;
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    assert_int_equal(cs_entropy_fill(a, sizeof(a)), CS_OK);
    assert_int_equal(cs_entropy_fill(b, sizeof(b)), CS_OK);
    assert_memory_not_equal(a, b, sizeof(a));
    for (size_t i = 0; i < sizeof(a); i++) {
        zeros += a[i] == 0;
    }
    assert_true(zeros < 16); /* 64 random bytes with >= 16 zeros: p < 1e-12 */
    assert_int_equal(cs_entropy_fill(NULL, 1), CS_E_INVAL);
    assert_int_equal(cs_entropy_fill(NULL, 0), CS_OK);
}

struct captured {
    int count;
    cs_log_level level;
    char module[32];
    char msg[2048];
};

static void capture_sink(void *ctx, cs_log_level level, const char *module, const char *msg)
{
    struct captured *c = ctx;
    c->count++;
    c->level = level;
    snprintf(c->module, sizeof(c->module), "%s", module);
    snprintf(c->msg, sizeof(c->msg), "%s", msg);
}

static void test_logging(void **state)
{
    struct captured c;
    cs_logger lg = {capture_sink, &c, CS_LOG_INFO};
    char big[3000];
    (void)state;

    memset(&c, 0, sizeof(c));
    CS_LOG_WARN(&lg, "test", "value %d of %s", 42, "x");
    assert_int_equal(c.count, 1);
    assert_int_equal(c.level, CS_LOG_WARN);
    assert_string_equal(c.module, "test");
    assert_string_equal(c.msg, "value 42 of x");
    CS_LOG_DEBUG(&lg, "test", "filtered at runtime"); /* above the logger's level */
    assert_int_equal(c.count, 1);
    lg.level = CS_LOG_TRACE;
    CS_LOG_TRACE(&lg, "test", "trace");
    assert_int_equal(c.count, CS_LOG_LEVEL_MAX >= 5 ? 2 : 1);

    /* Long messages are truncated, not overflowed. */
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CS_LOG_ERROR(&lg, "test", "%s", big);
    assert_true(strlen(c.msg) < sizeof(big) - 1);
    assert_true(strlen(c.msg) > 500);

    assert_string_equal(cs_log_level_str(CS_LOG_ERROR), "error");
    assert_non_null(cs_logger_default());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_names), cmocka_unit_test(test_checked_math),
        cmocka_unit_test(test_allocator),    cmocka_unit_test(test_system_clock),
        cmocka_unit_test(test_manual_clock), cmocka_unit_test(test_threads_mutex_cond),
        cmocka_unit_test(test_cond_timeout), cmocka_unit_test(test_cond_wakes_before_timeout),
        cmocka_unit_test(test_atomic_file),  cmocka_unit_test(test_entropy),
        cmocka_unit_test(test_logging),
    };
    return cmocka_run_group_tests_name("platform", tests, NULL, NULL);
}
