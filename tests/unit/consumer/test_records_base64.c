/* SPDX-License-Identifier: Apache-2.0 */
/* The base64 decoder of the record consumer (cs_records_base64_decode, consumer/records.c), which
 * reads every record's Data: table-driven, the RFC 4648 vectors, padding rules, bad characters,
 * a too-small output, and all 256 byte values round-tripped through a reference encoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "camstream/records_consumer.h"

struct vec {
    const char *in;
    cs_status st;
    const char *out;
};

static const struct vec vecs[] = {
    {"", CS_OK, ""},
    {"Zg==", CS_OK, "f"},
    {"Zm8=", CS_OK, "fo"},
    {"Zm9v", CS_OK, "foo"},
    {"Zm9vYg==", CS_OK, "foob"},
    {"Zm9vYmE=", CS_OK, "fooba"},
    {"Zm9vYmFy", CS_OK, "foobar"},
    {"Zm9vYmFy", CS_OK, "foobar"},
    {"Zg", CS_E_MALFORMED, NULL},       /* padding required */
    {"Zg=", CS_E_MALFORMED, NULL},      /* length not a multiple of 4 */
    {"Z===", CS_E_MALFORMED, NULL},     /* too much padding */
    {"Zg==Zg==", CS_E_MALFORMED, NULL}, /* padding inside */
    {"Zm9v Zg=", CS_E_MALFORMED, NULL}, /* whitespace */
    {"Zm9-", CS_E_MALFORMED, NULL},     /* URL alphabet */
    {"Zm=v", CS_E_MALFORMED, NULL},     /* a character after padding */
};

static void test_vectors(void **state)
{
    uint8_t out[16];
    (void)state;
    for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
        size_t n = 99;
        cs_status st =
            cs_records_base64_decode(vecs[i].in, strlen(vecs[i].in), out, sizeof(out), &n);
        assert_int_equal(st, vecs[i].st);
        if (st == CS_OK) {
            assert_int_equal(n, strlen(vecs[i].out));
            assert_memory_equal(out, vecs[i].out, n);
        }
    }
}

static void test_space_and_all_bytes(void **state)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t raw[256], back[256], small[2];
    char enc[345];
    size_t o = 0, n = 0;
    (void)state;
    assert_int_equal(cs_records_base64_decode("Zm9v", 4, small, sizeof(small), &n), CS_E_NOSPACE);
    for (size_t i = 0; i < 256; i++) {
        raw[i] = (uint8_t)i;
    }
    for (size_t i = 0; i < 256; i += 3) {
        uint32_t w = (uint32_t)raw[i] << 16 | (i + 1 < 256 ? (uint32_t)raw[i + 1] << 8 : 0) |
                     (i + 2 < 256 ? raw[i + 2] : 0);
        enc[o++] = tbl[(w >> 18) & 63];
        enc[o++] = tbl[(w >> 12) & 63];
        enc[o++] = i + 1 < 256 ? tbl[(w >> 6) & 63] : '=';
        enc[o++] = i + 2 < 256 ? tbl[w & 63] : '=';
    }
    assert_int_equal(cs_records_base64_decode(enc, o, back, sizeof(back), &n), CS_OK);
    assert_int_equal(n, 256);
    assert_memory_equal(back, raw, 256);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_space_and_all_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
