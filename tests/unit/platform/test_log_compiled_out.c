/* SPDX-License-Identifier: Apache-2.0 */
/* Built with CS_LOG_LEVEL_MAX=2: INFO, DEBUG and TRACE statements compile to nothing, so their
 * arguments are never evaluated, while ERROR and WARN still reach the sink. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "camstream/platform.h"

static int evaluated;
static int calls;

static int side_effect(void)
{
    return ++evaluated;
}

static void sink(void *ctx, cs_log_level level, const char *module, const char *msg)
{
    (void)ctx;
    (void)level;
    (void)module;
    (void)msg;
    calls++;
}

static void test_compiled_out(void **state)
{
    cs_logger lg = {sink, NULL, CS_LOG_TRACE}; /* runtime would let everything through */
    (void)state;
    assert_int_equal(CS_LOG_LEVEL_MAX, 2);
    CS_LOG_TRACE(&lg, "t", "%d", side_effect());
    CS_LOG_DEBUG(&lg, "t", "%d", side_effect());
    CS_LOG_INFO(&lg, "t", "%d", side_effect());
    assert_int_equal(evaluated, 0);
    assert_int_equal(calls, 0);
    CS_LOG_WARN(&lg, "t", "%d", side_effect());
    CS_LOG_ERROR(&lg, "t", "%d", side_effect());
    assert_int_equal(evaluated, 2);
    assert_int_equal(calls, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_compiled_out)};
    return cmocka_run_group_tests_name("log_compiled_out", tests, NULL, NULL);
}
