/* SPDX-License-Identifier: Apache-2.0 */
/* CBOR <-> JSON for the record-stream API (ingest-server/records/kds_cbor.c), against CBOR bytes
 * written out by hand from RFC 8949 (so the oracle is the standard, not libcbor): a PutRecord
 * request with a byte-string Data and a tag-1 millisecond timestamp, chunked strings, negative
 * and big integers, refusals (tags, non-text keys, trailing bytes, depth, truncation), and a
 * GetRecords response encoded back with Data as bytes and ApproximateArrivalTimestamp as tag 1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kds_cbor.h"
#include "testutil.h"

static json_t *decode_ok(const uint8_t *b, size_t n)
{
    json_t *doc = NULL;
    char why[200] = "";
    cs_status st = csi_kds_cbor_to_json(b, n, &doc, why, sizeof(why));
    if (st != CS_OK) {
        print_message("decode failed: %s\n", why);
    }
    assert_int_equal(st, CS_OK);
    assert_non_null(doc);
    return doc;
}

static void test_put_record_request(void **state)
{
    (void)state;
    /* {"StreamName": "s", "Data": h'010203', "PartitionKey": "pk", "Timestamp": 1(1700000000123)}
     */
    static const uint8_t req[] = {
        0xa4, 0x6a, 'S', 't', 'r',  'e',  'a',  'm',  'N',  'a',  'm',  'e',  0x61, 's', 0x64,
        'D',  'a',  't', 'a', 0x43, 0x01, 0x02, 0x03, 0x6c, 'P',  'a',  'r',  't',  'i', 't',
        'i',  'o',  'n', 'K', 'e',  'y',  0x62, 'p',  'k',  0x69, 'T',  'i',  'm',  'e', 's',
        't',  'a',  'm', 'p', 0xc1, 0x1b, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x7b};
    json_t *doc = decode_ok(req, sizeof(req));
    char *text = json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(16));
    assert_string_equal(text, "{\"Data\":\"AQID\",\"PartitionKey\":\"pk\",\"StreamName\":\"s\","
                              "\"Timestamp\":1700000000.123}");
    free(text);
    json_decref(doc);
}

static void test_chunks_and_numbers(void **state)
{
    (void)state;
    /* [_ "ab", "c"] as an indefinite text string, h'' indefinite of two chunks, -1, -500,
     * 2^32, 1.5, true, null */
    static const uint8_t b[] = {0x88, 0x7f, 0x62, 'a',  'b',  0x61, 'c',  0xff, 0x5f, 0x41, 0xff,
                                0x41, 0xee, 0xff, 0x20, 0x39, 0x01, 0xf3, 0x1b, 0x00, 0x00, 0x00,
                                0x01, 0x00, 0x00, 0x00, 0x00, 0xf9, 0x3e, 0x00, 0xf5, 0xf6};
    json_t *doc = decode_ok(b, sizeof(b));
    char *text = json_dumps(doc, JSON_COMPACT);
    assert_string_equal(text, "[\"abc\",\"/+4=\",-1,-500,4294967296,1.5,true,null]");
    free(text);
    json_decref(doc);
}

static void test_refusals(void **state)
{
    (void)state;
    static const struct {
        uint8_t b[16];
        size_t n;
        const char *why;
    } bad[] = {
        {{0xc2, 0x41, 0x01}, 3, "tag 2 (bignum)"},
        {{0xa1, 0x01, 0x02}, 3, "integer map key"},
        {{0x01, 0x02}, 2, "trailing byte"},
        {{0xa1, 0x61, 'k'}, 3, "truncated map"},
        {{0xf7}, 1, "undefined"},
        {{0xc1, 0x61, 'x'}, 3, "tag 1 around text"},
        {{0x1b, 0x80, 0, 0, 0, 0, 0, 0, 0}, 9, "2^63 does not fit"},
        {{0x62, 0xff, 0xfe}, 3, "text that is not UTF-8"},
        {{0}, 0, "empty"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *doc = NULL;
        char why[200] = "";
        assert_int_equal(csi_kds_cbor_to_json(bad[i].b, bad[i].n, &doc, why, sizeof(why)),
                         CS_E_MALFORMED);
        assert_null(doc);
        assert_true(strlen(why) > 0);
    }
    /* 40 nested arrays: deeper than CSI_KDS_CBOR_MAX_DEPTH. */
    uint8_t deep[41];
    memset(deep, 0x81, 40);
    deep[40] = 0x00;
    json_t *doc = NULL;
    char why[200];
    assert_int_equal(csi_kds_cbor_to_json(deep, sizeof(deep), &doc, why, sizeof(why)),
                     CS_E_MALFORMED);
    assert_non_null(strstr(why, "deeper"));
}

static void test_get_records_response(void **state)
{
    (void)state;
    json_t *resp = json_pack("{s:[{s:s,s:s,s:s,s:f}],s:i}", "Records", "SequenceNumber", "49",
                             "Data", "AQID", "PartitionKey", "pk", "ApproximateArrivalTimestamp",
                             1700000000.123, "MillisBehindLatest", 0);
    uint8_t *out = NULL;
    size_t len = 0;
    /* {"Records": [{"SequenceNumber": "49", "Data": h'010203', "PartitionKey": "pk",
     *   "ApproximateArrivalTimestamp": 1(1700000000123)}], "MillisBehindLatest": 0} in jansson's
     * key order (insertion) */
    static const uint8_t want[] = {
        0xa2, 0x67, 'R',  'e',  'c',  'o',  'r',  'd',  's',  0x81, 0xa4, 0x6e, 'S',  'e',  'q',
        'u',  'e',  'n',  'c',  'e',  'N',  'u',  'm',  'b',  'e',  'r',  0x62, '4',  '9',  0x64,
        'D',  'a',  't',  'a',  0x43, 0x01, 0x02, 0x03, 0x6c, 'P',  'a',  'r',  't',  'i',  't',
        'i',  'o',  'n',  'K',  'e',  'y',  0x62, 'p',  'k',  0x78, 0x1b, 'A',  'p',  'p',  'r',
        'o',  'x',  'i',  'm',  'a',  't',  'e',  'A',  'r',  'r',  'i',  'v',  'a',  'l',  'T',
        'i',  'm',  'e',  's',  't',  'a',  'm',  'p',  0xc1, 0x1b, 0x00, 0x00, 0x01, 0x8b, 0xcf,
        0xe5, 0x68, 0x7b, 0x72, 'M',  'i',  'l',  'l',  'i',  's',  'B',  'e',  'h',  'i',  'n',
        'd',  'L',  'a',  't',  'e',  's',  't',  0x00};
    assert_non_null(resp);
    assert_int_equal(csi_kds_json_to_cbor(resp, &out, &len), CS_OK);
    if (len != sizeof(want)) {
        for (size_t i = 0; i < len; i++) {
            print_message("%02x%s", out[i], i % 16 == 15 ? "\n" : " ");
        }
        print_message("\n");
    }
    assert_int_equal(len, sizeof(want));
    assert_memory_equal(out, want, sizeof(want));
    /* and back: Data is base64 again, the timestamp seconds */
    json_t *back = decode_ok(out, len);
    json_t *r0 = json_array_get(json_object_get(back, "Records"), 0);
    assert_string_equal(json_string_value(json_object_get(r0, "Data")), "AQID");
    assert_true(json_real_value(json_object_get(r0, "ApproximateArrivalTimestamp")) ==
                1700000000.123);
    free(out);
    json_decref(back);
    /* A Data member that is not base64 cannot be a blob. */
    json_object_set_new(r0 = json_array_get(json_object_get(resp, "Records"), 0), "Data",
                        json_string("not base64!"));
    assert_int_equal(csi_kds_json_to_cbor(resp, &out, &len), CS_E_MALFORMED);
    json_decref(resp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_record_request),
        cmocka_unit_test(test_chunks_and_numbers),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_get_records_response),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
