/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the PutMedia ack lines (mkv/kvs_ack.c): the formatter's exact bytes for each
 * event type, its size pass and NOSPACE behaviour, and the parser over a table of accepted and
 * refused lines, with a format/parse round trip for each accepted one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "camstream/kvs_ack.h"

#define NUM47 "91343852333181432392682062607743920146264245306"

static void check_line(const cs_kvs_ack *a, const char *want)
{
    char buf[CS_KVS_ACK_MAX_LINE];
    size_t need = 0, len = 0;
    assert_int_equal(cs_kvs_ack_format(a, NULL, 0, &need), CS_OK);
    assert_int_equal(need, strlen(want));
    assert_int_equal(cs_kvs_ack_format(a, buf, need - 1, &len), CS_E_NOSPACE);
    assert_int_equal(cs_kvs_ack_format(a, buf, need, &len), CS_OK); /* exact fit, no NUL */
    assert_int_equal(len, need);
    assert_memory_equal(buf, want, len);
    assert_int_equal(cs_kvs_ack_format(a, buf, sizeof(buf), &len), CS_OK);
    assert_string_equal(buf, want);
}

static void test_format(void **state)
{
    cs_kvs_ack a;
    (void)state;
    memset(&a, 0, sizeof(a));
    a.type = CS_KVS_ACK_BUFFERING;
    a.has_timecode = true;
    a.fragment_timecode = 1700000000123ull;
    assert_int_equal(cs_kvs_ack_set_number(&a, NUM47, 47), CS_OK);
    check_line(&a, "{\"EventType\":\"BUFFERING\",\"FragmentTimecode\":1700000000123,"
                   "\"FragmentNumber\":\"" NUM47 "\"}\n");
    a.type = CS_KVS_ACK_RECEIVED;
    check_line(&a, "{\"EventType\":\"RECEIVED\",\"FragmentTimecode\":1700000000123,"
                   "\"FragmentNumber\":\"" NUM47 "\"}\n");
    a.type = CS_KVS_ACK_PERSISTED;
    a.fragment_timecode = 0;
    check_line(&a, "{\"EventType\":\"PERSISTED\",\"FragmentTimecode\":0,"
                   "\"FragmentNumber\":\"" NUM47 "\"}\n");
    a.type = CS_KVS_ACK_ERROR;
    a.fragment_timecode = 500;
    a.error_id = 4004;
    check_line(&a, "{\"EventType\":\"ERROR\",\"FragmentTimecode\":500,"
                   "\"FragmentNumber\":\"" NUM47 "\",\"ErrorId\":4004}\n");
    memset(&a, 0, sizeof(a));
    a.type = CS_KVS_ACK_ERROR;
    a.error_id = 4006;
    check_line(&a, "{\"EventType\":\"ERROR\",\"ErrorId\":4006}\n");
    memset(&a, 0, sizeof(a));
    a.type = CS_KVS_ACK_IDLE;
    check_line(&a, "{\"EventType\":\"IDLE\"}\n");
}

static void test_format_invalid(void **state)
{
    cs_kvs_ack a;
    size_t len;
    char buf[8];
    (void)state;
    memset(&a, 0, sizeof(a));
    assert_int_equal(cs_kvs_ack_format(&a, NULL, 0, &len), CS_E_INVAL); /* NONE */
    a.type = CS_KVS_ACK_ERROR;
    assert_int_equal(cs_kvs_ack_format(&a, NULL, 0, &len), CS_E_INVAL); /* no ErrorId */
    a.type = CS_KVS_ACK_RECEIVED;
    a.error_id = 4001;
    assert_int_equal(cs_kvs_ack_format(&a, NULL, 0, &len), CS_E_INVAL); /* ErrorId off ERROR */
    a.error_id = 0;
    a.fragment_number_len = 2;
    a.fragment_number[0] = '1';
    a.fragment_number[1] = 'x';
    assert_int_equal(cs_kvs_ack_format(&a, NULL, 0, &len), CS_E_INVAL);
    assert_int_equal(cs_kvs_ack_set_number(&a, "12a", 3), CS_E_INVAL);
    assert_int_equal(cs_kvs_ack_set_number(&a, NUM47 NUM47, 94), CS_E_LIMIT);
    assert_int_equal(cs_kvs_ack_format(NULL, buf, sizeof(buf), &len), CS_E_INVAL);
    assert_string_equal(cs_kvs_ack_type_str(CS_KVS_ACK_IDLE), "IDLE");
    assert_string_equal(cs_kvs_ack_type_str((cs_kvs_ack_type)99), "?");
}

static const struct {
    const char *line;
    cs_status st;
    cs_kvs_ack_type type;
    uint64_t tc;
    const char *num;
    uint32_t err;
} parse_cases[] = {
    {"{\"EventType\":\"BUFFERING\",\"FragmentTimecode\":12,\"FragmentNumber\":\"345\"}\n", CS_OK,
     CS_KVS_ACK_BUFFERING, 12, "345", 0},
    {"{\"EventType\":\"RECEIVED\",\"FragmentTimecode\":12,\"FragmentNumber\":\"345\"}\r\n", CS_OK,
     CS_KVS_ACK_RECEIVED, 12, "345", 0},
    {" { \"FragmentNumber\" : \"7\" , \"FragmentTimecode\" : 18446744073709551615 , "
     "\"EventType\" : \"PERSISTED\" } ",
     CS_OK, CS_KVS_ACK_PERSISTED, UINT64_MAX, "7", 0},
    {"{\"EventType\":\"ERROR\",\"FragmentTimecode\":1,\"FragmentNumber\":\"1\",\"ErrorId\":4004}",
     CS_OK, CS_KVS_ACK_ERROR, 1, "1", 4004},
    {"{\"EventType\":\"ERROR\",\"ErrorId\":5000}", CS_OK, CS_KVS_ACK_ERROR, 0, "", 5000},
    {"{\"EventType\":\"IDLE\"}", CS_OK, CS_KVS_ACK_IDLE, 0, "", 0},
    {"{\"EventType\":\"IDLE\",\"Extra\":\"x\",\"N\":3,\"B\":true,\"F\":false,\"Z\":null}", CS_OK,
     CS_KVS_ACK_IDLE, 0, "", 0},
    /* refused */
    {"", CS_E_MALFORMED, 0, 0, "", 0},
    {"{}", CS_E_MALFORMED, 0, 0, "", 0},
    {"{\"EventType\":\"NOPE\"}", CS_E_MALFORMED, 0, 0, "", 0},
    {"{\"EventType\":\"BUFFERING\"}", CS_E_MALFORMED, 0, 0, "", 0},
    {"{\"EventType\":\"ERROR\"}", CS_E_MALFORMED, 0, 0, "", 0},
    {"{\"EventType\":\"ERROR\",\"ErrorId\":0}", CS_E_MALFORMED, 0, 0, "", 0},
    {"{\"EventType\":\"IDLE\",\"ErrorId\":4000}", CS_E_MALFORMED, 0, 0, "", 0},
    {"{\"EventType\":\"IDLE\",\"EventType\":\"IDLE\"}", CS_E_MALFORMED, 0, 0, "", 0},
    {"{\"EventType\":\"BUFFERING\",\"FragmentTimecode\":-1}", CS_E_MALFORMED, 0, 0, "", 0},
    {"{\"EventType\":\"BUFFERING\",\"FragmentTimecode\":01}", CS_E_MALFORMED, 0, 0, "", 0},
    {"{\"EventType\":\"BUFFERING\",\"FragmentTimecode\":1.5}", CS_E_MALFORMED, 0, 0, "", 0},
    {"{\"EventType\":\"BUFFERING\",\"FragmentTimecode\":18446744073709551616}", CS_E_MALFORMED, 0,
     0, "", 0},
    {"{\"EventType\":\"ERROR\",\"ErrorId\":4294967296}", CS_E_MALFORMED, 0, 0, "", 0},
    {"{\"EventType\":\"BUFFERING\",\"FragmentTimecode\":1,\"FragmentNumber\":\"\"}", CS_E_MALFORMED,
     0, 0, "", 0},
    {"{\"EventType\":\"BUFFERING\",\"FragmentTimecode\":1,\"FragmentNumber\":12}", CS_E_MALFORMED,
     0, 0, "", 0},
    {"{\"EventType\":\"BUFF\\u0045RING\"}", CS_E_MALFORMED, 0, 0, "", 0},
    {"{\"EventType\":\"IDLE\",\"X\":{}}", CS_E_MALFORMED, 0, 0, "", 0},
    {"{\"EventType\":\"IDLE\"}{", CS_E_MALFORMED, 0, 0, "", 0},
    {"{\"EventType\":\"IDLE\",}", CS_E_MALFORMED, 0, 0, "", 0},
    {"{\"EventType\":\"IDLE\"", CS_E_MALFORMED, 0, 0, "", 0},
};

static void test_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        cs_kvs_ack a, b;
        char buf[CS_KVS_ACK_MAX_LINE];
        size_t len;
        cs_status st = cs_kvs_ack_parse(parse_cases[i].line, strlen(parse_cases[i].line), &a);
        if (st != parse_cases[i].st) {
            fail_msg("case %zu: %s: got %s", i, parse_cases[i].line, cs_status_str(st));
        }
        if (st != CS_OK) {
            continue;
        }
        assert_int_equal(a.type, parse_cases[i].type);
        assert_int_equal(a.fragment_timecode, parse_cases[i].tc);
        assert_string_equal(a.fragment_number, parse_cases[i].num);
        assert_int_equal(a.error_id, parse_cases[i].err);
        assert_int_equal(cs_kvs_ack_format(&a, buf, sizeof(buf), &len), CS_OK);
        assert_int_equal(cs_kvs_ack_parse(buf, len, &b), CS_OK);
        assert_memory_equal(&a, &b, sizeof(a));
    }
}

static void test_parse_limits(void **state)
{
    char big[CS_KVS_ACK_MAX_LINE + 2];
    cs_kvs_ack a;
    (void)state;
    memset(big, ' ', sizeof(big));
    memcpy(big, "{\"EventType\":\"IDLE\"}", 20);
    assert_int_equal(cs_kvs_ack_parse(big, CS_KVS_ACK_MAX_LINE, &a), CS_OK);
    assert_int_equal(cs_kvs_ack_parse(big, CS_KVS_ACK_MAX_LINE + 1, &a), CS_E_LIMIT);
    assert_int_equal(cs_kvs_ack_parse(NULL, 1, &a), CS_E_INVAL);
    assert_int_equal(cs_kvs_ack_parse(big, 1, NULL), CS_E_INVAL);
    /* every prefix of a valid line is refused, never read past */
    const char *ok = "{\"EventType\":\"ERROR\",\"FragmentTimecode\":1,\"FragmentNumber\":\"1\","
                     "\"ErrorId\":4004}";
    for (size_t n = 0; n < strlen(ok); n++) {
        assert_int_equal(cs_kvs_ack_parse(ok, n, &a), CS_E_MALFORMED);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_invalid),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
