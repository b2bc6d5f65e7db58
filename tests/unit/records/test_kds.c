/* SPDX-License-Identifier: Apache-2.0 */
/* KDS wire arithmetic (ingest-server/records/kds.c): hash keys against MD5 values computed by
 * Python's hashlib, the even split against the service's published ranges, sequence numbers,
 * shard ids, iterators (round trip, tampering, other key, expiry), base64 (RFC 4648 vectors and
 * refusals) and event-stream framing against bytes built by Python's struct and zlib. */
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kds.h"
#include "testutil.h"

static void assert_u128(csi_u128 v, const char *want)
{
    char buf[CSI_KDS_U128_MAX_TEXT];
    csi_kds_u128_format(v, buf);
    assert_string_equal(buf, want);
}

static csi_u128 u128(const char *s)
{
    csi_u128 v;
    assert_int_equal(csi_kds_u128_parse(s, strlen(s), &v), CS_OK);
    return v;
}

static void test_u128(void **state)
{
    (void)state;
    csi_u128 v;
    assert_u128(0, "0");
    assert_u128(u128("340282366920938463463374607431768211455"),
                "340282366920938463463374607431768211455");
    assert_u128(u128("000042"), "42");
    assert_int_equal(csi_kds_u128_parse("340282366920938463463374607431768211456", 39, &v),
                     CS_E_RANGE);
    assert_int_equal(csi_kds_u128_parse("1000000000000000000000000000000000000000", 40, &v),
                     CS_E_RANGE);
    assert_int_equal(csi_kds_u128_parse("", 0, &v), CS_E_MALFORMED);
    assert_int_equal(csi_kds_u128_parse("12a", 3, &v), CS_E_MALFORMED);
    assert_int_equal(csi_kds_u128_parse("-1", 2, &v), CS_E_MALFORMED);
    assert_int_equal(csi_kds_u128_parse(" 1", 2, &v), CS_E_MALFORMED);
}

static void test_hash_key(void **state)
{
    (void)state;
    static const struct {
        const char *key, *hash; /* int.from_bytes(hashlib.md5(key).digest(), 'big') */
    } v[] = {
        {"a", "16955237001963240173058271559858726497"},
        {"partitionKey-1", "159499196025307651934328298402289840726"},
        {"user-7", "86119627827726738194382836302848251264"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        csi_u128 h;
        assert_int_equal(csi_kds_hash_key(v[i].key, strlen(v[i].key), &h), CS_OK);
        assert_u128(h, v[i].hash);
    }
}

static void test_split(void **state)
{
    (void)state;
    csi_u128 s, e, all = ~(csi_u128)0;
    /* 1 shard: the whole space. */
    assert_int_equal(csi_kds_split_range(0, all, 1, 0, &s, &e), CS_OK);
    assert_u128(s, "0");
    assert_u128(e, "340282366920938463463374607431768211455");
    /* 2 shards: shard 0 ends at 2^127 - 1 (PROTOCOL.md §6). */
    assert_int_equal(csi_kds_split_range(0, all, 2, 0, &s, &e), CS_OK);
    assert_u128(e, "170141183460469231731687303715884105727");
    assert_int_equal(csi_kds_split_range(0, all, 2, 1, &s, &e), CS_OK);
    assert_u128(s, "170141183460469231731687303715884105728");
    assert_u128(e, "340282366920938463463374607431768211455");
    /* 3 shards, as the service describes a 3-shard stream. */
    assert_int_equal(csi_kds_split_range(0, all, 3, 0, &s, &e), CS_OK);
    assert_u128(e, "113427455640312821154458202477256070484");
    assert_int_equal(csi_kds_split_range(0, all, 3, 1, &s, &e), CS_OK);
    assert_u128(s, "113427455640312821154458202477256070485");
    assert_u128(e, "226854911280625642308916404954512140969");
    assert_int_equal(csi_kds_split_range(0, all, 3, 2, &s, &e), CS_OK);
    assert_u128(s, "226854911280625642308916404954512140970");
    assert_u128(e, "340282366920938463463374607431768211455");
    /* A sub-range split in two (SplitShard at the middle). */
    assert_int_equal(csi_kds_split_range(10, 19, 2, 1, &s, &e), CS_OK);
    assert_u128(s, "15");
    assert_u128(e, "19");
    /* Every key is in exactly one shard: ranges are adjacent. */
    for (uint32_t n = 1; n < 40; n++) {
        csi_u128 prev_end = 0;
        for (uint32_t i = 0; i < n; i++) {
            assert_int_equal(csi_kds_split_range(0, all, n, i, &s, &e), CS_OK);
            assert_true(i == 0 ? s == 0 : s == prev_end + 1);
            assert_true(e >= s);
            prev_end = e;
        }
        assert_true(prev_end == all);
    }
    assert_int_equal(csi_kds_split_range(0, all, 0, 0, &s, &e), CS_E_INVAL);
    assert_int_equal(csi_kds_split_range(0, all, 2, 2, &s, &e), CS_E_INVAL);
    assert_int_equal(csi_kds_split_range(5, 4, 1, 0, &s, &e), CS_E_INVAL);
    assert_int_equal(csi_kds_split_range(1, 2, 3, 0, &s, &e), CS_E_INVAL);
}

static void test_shard_ids_and_seq(void **state)
{
    (void)state;
    char id[CSI_KDS_SHARD_ID_LEN + 1], a[CSI_KDS_SEQ_LEN + 1], b[CSI_KDS_SEQ_LEN + 1];
    uint32_t idx, shard;
    uint64_t off;
    csi_kds_shard_id(7, id);
    assert_string_equal(id, "shardId-000000000007");
    assert_int_equal(csi_kds_shard_id_parse(id, strlen(id), &idx), CS_OK);
    assert_int_equal(idx, 7);
    assert_int_equal(csi_kds_shard_id_parse("12", 2, &idx), CS_OK);
    assert_int_equal(idx, 12);
    assert_int_equal(csi_kds_shard_id_parse("shardId-", 8, &idx), CS_E_MALFORMED);
    assert_int_equal(csi_kds_shard_id_parse("shardId-x1", 10, &idx), CS_E_MALFORMED);
    assert_int_equal(csi_kds_shard_id_parse("shardId-0000000000001", 21, &idx), CS_E_MALFORMED);

    csi_kds_seq_format(1763800000123ull, 3, 41, a);
    assert_int_equal(strlen(a), 56);
    assert_int_equal(csi_kds_seq_parse(a, 56, 1763800000123ull, &shard, &off), CS_OK);
    assert_int_equal(shard, 3);
    assert_int_equal(off, 41);
    /* Increasing with the offset, as numbers and as text of equal length. */
    csi_kds_seq_format(1763800000123ull, 3, 42, b);
    assert_true(strcmp(a, b) < 0);
    csi_kds_seq_format(1763800000123ull, 3, 1000000, b);
    assert_true(strcmp(a, b) < 0);
    assert_int_equal(csi_kds_seq_parse(a, 56, 1763800000124ull, &shard, &off), CS_E_NOTFOUND);
    a[55] = '1';
    assert_int_equal(csi_kds_seq_parse(a, 56, 1763800000123ull, &shard, &off), CS_E_MALFORMED);
    assert_int_equal(csi_kds_seq_parse("49", 2, 0, &shard, &off), CS_E_MALFORMED);
}

static void test_iterators(void **state)
{
    (void)state;
    uint8_t key[CSI_KDS_ITERATOR_KEY_LEN], other[CSI_KDS_ITERATOR_KEY_LEN];
    char text[CSI_KDS_ITERATOR_MAX];
    size_t len;
    csi_kds_iterator it = {0}, got;
    memset(key, 7, sizeof(key));
    memset(other, 8, sizeof(other));
    strcpy(it.stream, "sensor-events");
    it.stream_created_ms = 1763800000123ull;
    it.shard = 2;
    it.offset = 123456789;
    it.issued_ms = 1763800100000ull;
    assert_int_equal(csi_kds_iterator_encode(&it, key, text, &len), CS_OK);
    assert_int_equal(strlen(text), len);
    assert_int_equal(csi_kds_iterator_decode(text, len, key, it.issued_ms + 1000, &got), CS_OK);
    assert_string_equal(got.stream, "sensor-events");
    assert_int_equal(got.stream_created_ms, it.stream_created_ms);
    assert_int_equal(got.shard, 2);
    assert_int_equal(got.offset, 123456789);
    assert_int_equal(got.issued_ms, it.issued_ms);
    /* Expiry: 5 minutes after issue. */
    assert_int_equal(csi_kds_iterator_decode(text, len, key, it.issued_ms + 300000, &got), CS_OK);
    assert_int_equal(csi_kds_iterator_decode(text, len, key, it.issued_ms + 300001, &got),
                     CS_E_TIMEOUT);
    /* Another server's key, or any changed character: not ours. */
    assert_int_equal(csi_kds_iterator_decode(text, len, other, it.issued_ms, &got), CS_E_MALFORMED);
    for (size_t i = 0; i < len; i++) {
        char t[CSI_KDS_ITERATOR_MAX];
        memcpy(t, text, len + 1);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        assert_int_not_equal(csi_kds_iterator_decode(t, len, key, it.issued_ms, &got), CS_OK);
    }
    assert_int_equal(csi_kds_iterator_decode(text, len - 4, key, it.issued_ms, &got),
                     CS_E_MALFORMED);
    assert_int_equal(csi_kds_iterator_decode("", 0, key, 0, &got), CS_E_MALFORMED);
    /* The longest stream name still fits. */
    memset(it.stream, 'n', CSI_KDS_MAX_STREAM_NAME);
    it.stream[CSI_KDS_MAX_STREAM_NAME] = '\0';
    assert_int_equal(csi_kds_iterator_encode(&it, key, text, &len), CS_OK);
    assert_int_equal(csi_kds_iterator_decode(text, len, key, it.issued_ms, &got), CS_OK);
    it.stream[0] = '\0';
    assert_int_equal(csi_kds_iterator_encode(&it, key, text, &len), CS_E_INVAL);
}

static void test_base64(void **state)
{
    (void)state;
    static const char *rfc[][2] = {{"", ""},
                                   {"f", "Zg=="},
                                   {"fo", "Zm8="},
                                   {"foo", "Zm9v"},
                                   {"foob", "Zm9vYg=="},
                                   {"fooba", "Zm9vYmE="},
                                   {"foobar", "Zm9vYmFy"}};
    uint8_t out[16];
    char enc[16];
    size_t n;
    for (size_t i = 0; i < 7; i++) {
        size_t in_len = strlen(rfc[i][0]);
        assert_int_equal(csi_kds_base64_len(in_len), strlen(rfc[i][1]));
        csi_kds_base64_encode((const uint8_t *)rfc[i][0], in_len, enc);
        assert_memory_equal(enc, rfc[i][1], strlen(rfc[i][1]));
        assert_int_equal(csi_kds_base64_decode(rfc[i][1], strlen(rfc[i][1]), out, sizeof(out), &n),
                         CS_OK);
        assert_int_equal(n, in_len);
        assert_memory_equal(out, rfc[i][0], in_len);
    }
    assert_int_equal(csi_kds_base64_decode("Zg", 2, out, sizeof(out), &n), CS_E_MALFORMED);
    assert_int_equal(csi_kds_base64_decode("Zh==", 4, out, sizeof(out), &n), CS_E_MALFORMED);
    assert_int_equal(csi_kds_base64_decode("Zm9v!A==", 8, out, sizeof(out), &n), CS_E_MALFORMED);
    assert_int_equal(csi_kds_base64_decode("Z=9v", 4, out, sizeof(out), &n), CS_E_MALFORMED);
    assert_int_equal(csi_kds_base64_decode("Zm9vYmFy", 8, out, 5, &n), CS_E_NOSPACE);
    assert_int_equal(n, 6);
    /* Every length 0..300 (the encoder works 6 bytes at a time, then 3, then the tail), every
     * byte value: encode, check the alphabet and padding against a plain per-character encoder,
     * decode back. */
    {
        static const char alpha[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        uint8_t in[300], back[300];
        char e64[404], ref[404];
        for (size_t k = 0; k < sizeof(in); k++) {
            in[k] = (uint8_t)(k * 151u + 7u);
        }
        for (size_t len = 0; len <= sizeof(in); len++) {
            size_t el = csi_kds_base64_len(len), r = 0;
            for (size_t k = 0; k < len; k += 3) {
                uint32_t v = (uint32_t)in[k] << 16 | (k + 1 < len ? (uint32_t)in[k + 1] << 8 : 0) |
                             (k + 2 < len ? in[k + 2] : 0);
                ref[r++] = alpha[v >> 18];
                ref[r++] = alpha[(v >> 12) & 63];
                ref[r++] = k + 1 < len ? alpha[(v >> 6) & 63] : '=';
                ref[r++] = k + 2 < len ? alpha[v & 63] : '=';
            }
            assert_int_equal(el, r);
            csi_kds_base64_encode(in, len, e64);
            assert_memory_equal(e64, ref, el);
            assert_int_equal(csi_kds_base64_decode(e64, el, back, sizeof(back), &n), CS_OK);
            assert_int_equal(n, len);
            assert_memory_equal(back, in, len);
        }
    }
}

static void test_event_stream(void **state)
{
    (void)state;
    /* Built with Python: struct.pack('>II', total, hlen) + crc32 ... (see the file comment). */
    static const char want_hex[] =
        "000000580000003aab4d82d10d3a6d6573736167652d747970650700056576656e740b3a6576656e742d"
        "74797065070015537562736372696265546f53686172644576656e747b225265636f726473223a5b5d7d"
        "90693882";
    const csi_kds_es_header h[] = {{":message-type", "event"},
                                   {":event-type", "SubscribeToShardEvent"}};
    const char *payload = "{\"Records\":[]}";
    uint8_t buf[128], want[88];
    size_t len, total, off, plen;
    for (size_t i = 0; i < sizeof(want); i++) {
        unsigned x;
        sscanf(want_hex + 2 * i, "%2x", &x);
        want[i] = (uint8_t)x;
    }
    assert_int_equal(
        csi_kds_es_encode(h, 2, (const uint8_t *)payload, strlen(payload), NULL, 0, &len), CS_OK);
    assert_int_equal(len, 88);
    assert_int_equal(
        csi_kds_es_encode(h, 2, (const uint8_t *)payload, strlen(payload), buf, 10, &len),
        CS_E_NOSPACE);
    assert_int_equal(
        csi_kds_es_encode(h, 2, (const uint8_t *)payload, strlen(payload), buf, sizeof(buf), &len),
        CS_OK);
    assert_memory_equal(buf, want, 88);
    assert_int_equal(csi_kds_es_decode(buf, len, &total, &off, &plen), CS_OK);
    assert_int_equal(total, 88);
    assert_int_equal(plen, strlen(payload));
    assert_memory_equal(buf + off, payload, plen);
    assert_int_equal(csi_kds_es_decode(buf, 50, &total, &off, &plen), CS_AGAIN);
    buf[40] ^= 1;
    assert_int_equal(csi_kds_es_decode(buf, len, &total, &off, &plen), CS_E_MALFORMED);
    buf[40] ^= 1;
    buf[2] ^= 1;
    assert_int_equal(csi_kds_es_decode(buf, len, &total, &off, &plen), CS_E_MALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u128),         cmocka_unit_test(test_hash_key),
        cmocka_unit_test(test_split),        cmocka_unit_test(test_shard_ids_and_seq),
        cmocka_unit_test(test_iterators),    cmocka_unit_test(test_base64),
        cmocka_unit_test(test_event_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
