/* SPDX-License-Identifier: Apache-2.0 */
/* Kinesis Data Streams wire arithmetic: 128-bit hash keys, the even split of the hash space,
 * sequence numbers, shard ids, authenticated expiring shard iterators, base64, and event-stream
 * framing (kds.h says what each promises). */
#define _POSIX_C_SOURCE 200809L
#include "kds.h"

#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "camstream/auth.h"

#define ITER_VERSION 1u
#define ITER_MAC_LEN 16u
#define ITER_FIXED (2u + 8u + 4u + 8u + 8u + ITER_MAC_LEN)

static const csi_u128 U128_MAX = ~(csi_u128)0;

cs_status csi_kds_u128_parse(const char *s, size_t len, csi_u128 *out)
{
    csi_u128 v = 0;
    if (s == NULL || out == NULL || len == 0) {
        return CS_E_MALFORMED;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned d;
        if (s[i] < '0' || s[i] > '9') {
            return CS_E_MALFORMED;
        }
        d = (unsigned)(s[i] - '0');
        if (v > (U128_MAX - d) / 10) {
            return CS_E_RANGE;
        }
        v = v * 10 + d;
    }
    *out = v;
    return CS_OK;
}

size_t csi_kds_u128_format(csi_u128 v, char out[CSI_KDS_U128_MAX_TEXT])
{
    char tmp[CSI_KDS_U128_MAX_TEXT];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + (unsigned)(v % 10));
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++) {
        out[i] = tmp[n - 1 - i];
    }
    out[n] = '\0';
    return n;
}

/* MD5 of a partition key of up to 55 bytes (one block), unrolled (RFC 1321): the hash of every
 * record put, ~2x fewer instructions than mbedTLS's init/update/finish for such short input.
 * Longer keys: cs_md5. Checked against cs_md5 by the unit tests (csi_kds_hash_key vectors). */
#define MD5_F(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define MD5_G(x, y, z) ((y) ^ ((z) & ((x) ^ (y))))
#define MD5_H(x, y, z) ((x) ^ (y) ^ (z))
#define MD5_I(x, y, z) ((y) ^ ((x) | ~(z)))
#define MD5_STEP(f, a, b, c, d, x, t, s)                                                           \
    (a) += MD5_##f((b), (c), (d)) + (x) + (t);                                                     \
    (a) = ((a) << (s)) | ((a) >> (32 - (s)));                                                      \
    (a) += (b)

static void md5_short(const char *key, size_t len, uint8_t out[16])
{
    uint8_t blk[64];
    uint32_t m[16], a = 0x67452301u, b = 0xefcdab89u, c = 0x98badcfeu, d = 0x10325476u;
    uint64_t bits = (uint64_t)len * 8;
    memset(blk, 0, sizeof(blk));
    memcpy(blk, key, len);
    blk[len] = 0x80;
    for (int i = 0; i < 8; i++) {
        blk[56 + i] = (uint8_t)(bits >> (8 * i));
    }
    for (int i = 0; i < 16; i++) {
        m[i] = (uint32_t)blk[4 * i] | (uint32_t)blk[4 * i + 1] << 8 |
               (uint32_t)blk[4 * i + 2] << 16 | (uint32_t)blk[4 * i + 3] << 24;
    }
    MD5_STEP(F, a, b, c, d, m[0], 0xd76aa478u, 7);
    MD5_STEP(F, d, a, b, c, m[1], 0xe8c7b756u, 12);
    MD5_STEP(F, c, d, a, b, m[2], 0x242070dbu, 17);
    MD5_STEP(F, b, c, d, a, m[3], 0xc1bdceeeu, 22);
    MD5_STEP(F, a, b, c, d, m[4], 0xf57c0fafu, 7);
    MD5_STEP(F, d, a, b, c, m[5], 0x4787c62au, 12);
    MD5_STEP(F, c, d, a, b, m[6], 0xa8304613u, 17);
    MD5_STEP(F, b, c, d, a, m[7], 0xfd469501u, 22);
    MD5_STEP(F, a, b, c, d, m[8], 0x698098d8u, 7);
    MD5_STEP(F, d, a, b, c, m[9], 0x8b44f7afu, 12);
    MD5_STEP(F, c, d, a, b, m[10], 0xffff5bb1u, 17);
    MD5_STEP(F, b, c, d, a, m[11], 0x895cd7beu, 22);
    MD5_STEP(F, a, b, c, d, m[12], 0x6b901122u, 7);
    MD5_STEP(F, d, a, b, c, m[13], 0xfd987193u, 12);
    MD5_STEP(F, c, d, a, b, m[14], 0xa679438eu, 17);
    MD5_STEP(F, b, c, d, a, m[15], 0x49b40821u, 22);
    MD5_STEP(G, a, b, c, d, m[1], 0xf61e2562u, 5);
    MD5_STEP(G, d, a, b, c, m[6], 0xc040b340u, 9);
    MD5_STEP(G, c, d, a, b, m[11], 0x265e5a51u, 14);
    MD5_STEP(G, b, c, d, a, m[0], 0xe9b6c7aau, 20);
    MD5_STEP(G, a, b, c, d, m[5], 0xd62f105du, 5);
    MD5_STEP(G, d, a, b, c, m[10], 0x02441453u, 9);
    MD5_STEP(G, c, d, a, b, m[15], 0xd8a1e681u, 14);
    MD5_STEP(G, b, c, d, a, m[4], 0xe7d3fbc8u, 20);
    MD5_STEP(G, a, b, c, d, m[9], 0x21e1cde6u, 5);
    MD5_STEP(G, d, a, b, c, m[14], 0xc33707d6u, 9);
    MD5_STEP(G, c, d, a, b, m[3], 0xf4d50d87u, 14);
    MD5_STEP(G, b, c, d, a, m[8], 0x455a14edu, 20);
    MD5_STEP(G, a, b, c, d, m[13], 0xa9e3e905u, 5);
    MD5_STEP(G, d, a, b, c, m[2], 0xfcefa3f8u, 9);
    MD5_STEP(G, c, d, a, b, m[7], 0x676f02d9u, 14);
    MD5_STEP(G, b, c, d, a, m[12], 0x8d2a4c8au, 20);
    MD5_STEP(H, a, b, c, d, m[5], 0xfffa3942u, 4);
    MD5_STEP(H, d, a, b, c, m[8], 0x8771f681u, 11);
    MD5_STEP(H, c, d, a, b, m[11], 0x6d9d6122u, 16);
    MD5_STEP(H, b, c, d, a, m[14], 0xfde5380cu, 23);
    MD5_STEP(H, a, b, c, d, m[1], 0xa4beea44u, 4);
    MD5_STEP(H, d, a, b, c, m[4], 0x4bdecfa9u, 11);
    MD5_STEP(H, c, d, a, b, m[7], 0xf6bb4b60u, 16);
    MD5_STEP(H, b, c, d, a, m[10], 0xbebfbc70u, 23);
    MD5_STEP(H, a, b, c, d, m[13], 0x289b7ec6u, 4);
    MD5_STEP(H, d, a, b, c, m[0], 0xeaa127fau, 11);
    MD5_STEP(H, c, d, a, b, m[3], 0xd4ef3085u, 16);
    MD5_STEP(H, b, c, d, a, m[6], 0x04881d05u, 23);
    MD5_STEP(H, a, b, c, d, m[9], 0xd9d4d039u, 4);
    MD5_STEP(H, d, a, b, c, m[12], 0xe6db99e5u, 11);
    MD5_STEP(H, c, d, a, b, m[15], 0x1fa27cf8u, 16);
    MD5_STEP(H, b, c, d, a, m[2], 0xc4ac5665u, 23);
    MD5_STEP(I, a, b, c, d, m[0], 0xf4292244u, 6);
    MD5_STEP(I, d, a, b, c, m[7], 0x432aff97u, 10);
    MD5_STEP(I, c, d, a, b, m[14], 0xab9423a7u, 15);
    MD5_STEP(I, b, c, d, a, m[5], 0xfc93a039u, 21);
    MD5_STEP(I, a, b, c, d, m[12], 0x655b59c3u, 6);
    MD5_STEP(I, d, a, b, c, m[3], 0x8f0ccc92u, 10);
    MD5_STEP(I, c, d, a, b, m[10], 0xffeff47du, 15);
    MD5_STEP(I, b, c, d, a, m[1], 0x85845dd1u, 21);
    MD5_STEP(I, a, b, c, d, m[8], 0x6fa87e4fu, 6);
    MD5_STEP(I, d, a, b, c, m[15], 0xfe2ce6e0u, 10);
    MD5_STEP(I, c, d, a, b, m[6], 0xa3014314u, 15);
    MD5_STEP(I, b, c, d, a, m[13], 0x4e0811a1u, 21);
    MD5_STEP(I, a, b, c, d, m[4], 0xf7537e82u, 6);
    MD5_STEP(I, d, a, b, c, m[11], 0xbd3af235u, 10);
    MD5_STEP(I, c, d, a, b, m[2], 0x2ad7d2bbu, 15);
    MD5_STEP(I, b, c, d, a, m[9], 0xeb86d391u, 21);
    a += 0x67452301u;
    b += 0xefcdab89u;
    c += 0x98badcfeu;
    d += 0x10325476u;
    for (int i = 0; i < 4; i++) {
        out[i] = (uint8_t)(a >> (8 * i));
        out[4 + i] = (uint8_t)(b >> (8 * i));
        out[8 + i] = (uint8_t)(c >> (8 * i));
        out[12 + i] = (uint8_t)(d >> (8 * i));
    }
}

/* A per-thread cache of the hash keys of recent partition keys: producers put many records
 * under the same keys (a device, a user, an order), and the MD5 was ~8% of the server's CPU on
 * a 500-record PutRecords. Two-way set-associative (HK_SETS sets by FNV-1a of the key; a miss
 * moves way 0 to way 1 and fills way 0); a slot holds the whole key (up to HK_KEYMAX bytes), so
 * a hit is exact: the same bytes, the MD5 computed for them before. Longer keys and misses are
 * hashed as before. Per thread, so no lock and no sharing; allocated by the thread's first
 * hash (~230 KiB, zero pages until used) and freed when the thread exits. Not a static
 * _Thread_local array: the C library zero-fills a thread's static TLS block when it creates the
 * thread, so every thread of the process (64 persist workers among them) paid 256 KiB of
 * resident memory whether it ever hashed a key or not. */
#define HK_SETS 2048u
#define HK_KEYMAX 40u
struct hk_slot {
    csi_u128 h;
    uint8_t len; /* 0: empty */
    char key[HK_KEYMAX];
};
typedef struct hk_slot hk_set[2];
static _Thread_local hk_set *hk_cache; /* HK_SETS sets, or NULL */
static _Thread_local bool hk_tried;
static pthread_once_t hk_once = PTHREAD_ONCE_INIT;
static pthread_key_t hk_key; /* frees a thread's cache when it exits */
static bool hk_key_ok;

static void hk_key_init(void)
{
    hk_key_ok = pthread_key_create(&hk_key, free) == 0;
}

/* The calling thread's cache, allocated on first use; NULL without memory (keys are then hashed
 * every time). */
static hk_set *hk_table(void)
{
    if (hk_cache == NULL && !hk_tried) {
        hk_tried = true;
        pthread_once(&hk_once, hk_key_init);
        if (hk_key_ok && (hk_cache = calloc(HK_SETS, sizeof(hk_set))) != NULL &&
            pthread_setspecific(hk_key, hk_cache) != 0) {
            free(hk_cache);
            hk_cache = NULL;
        }
    }
    return hk_cache;
}

static uint32_t hk_index(const char *key, size_t len)
{
    uint32_t x = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        x = (x ^ (uint8_t)key[i]) * 16777619u;
    }
    return (x ^ x >> 16) & (HK_SETS - 1);
}

cs_status csi_kds_hash_key(const char *partition_key, size_t len, csi_u128 *out)
{
    uint8_t md[CS_MD5_SIZE];
    csi_u128 v = 0;
    cs_status st;
    struct hk_slot *set = NULL;
    hk_set *table;
    if (out == NULL || (partition_key == NULL && len > 0)) {
        return CS_E_INVAL;
    }
    if (len > 0 && len <= HK_KEYMAX && (table = hk_table()) != NULL) {
        set = table[hk_index(partition_key, len)];
        for (int w = 0; w < 2; w++) {
            if (set[w].len == len && memcmp(set[w].key, partition_key, len) == 0) {
                *out = set[w].h;
                return CS_OK;
            }
        }
    }
    if (len <= 55) {
        md5_short(partition_key, len, md);
    } else if ((st = cs_md5(partition_key, len, md)) != CS_OK) {
        return st;
    }
    for (size_t i = 0; i < CS_MD5_SIZE; i++) {
        v = v << 8 | md[i];
    }
    if (set != NULL) {
        set[1] = set[0];
        set[0].h = v;
        set[0].len = (uint8_t)len;
        memcpy(set[0].key, partition_key, len);
    }
    *out = v;
    return CS_OK;
}

cs_status csi_kds_split_range(csi_u128 lo, csi_u128 hi, uint32_t count, uint32_t index,
                              csi_u128 *start, csi_u128 *end)
{
    csi_u128 span, each;
    if (count == 0 || index >= count || lo > hi || start == NULL || end == NULL) {
        return CS_E_INVAL;
    }
    if (count == 1) {
        *start = lo;
        *end = hi;
        return CS_OK;
    }
    span = hi - lo; /* keys - 1: the whole space does not fit 128 bits */
    /* each = (span + 1) / count without overflowing when span + 1 == 2^128. */
    each = span / count + (span % count + 1) / count;
    if (each == 0) {
        return CS_E_INVAL;
    }
    *start = lo + each * index;
    *end = index + 1 == count ? hi : *start + each - 1;
    return CS_OK;
}

void csi_kds_shard_id(uint32_t index, char out[CSI_KDS_SHARD_ID_LEN + 1])
{
    /* "shardId-%012u" without snprintf (one per record of a put's answer) */
    uint64_t v = index;
    memcpy(out, "shardId-", 8);
    for (int i = CSI_KDS_SHARD_ID_LEN - 1; i >= 8; i--, v /= 10) {
        out[i] = (char)('0' + v % 10);
    }
    out[CSI_KDS_SHARD_ID_LEN] = '\0';
}

cs_status csi_kds_shard_id_parse(const char *s, size_t len, uint32_t *index)
{
    uint64_t v = 0;
    size_t i = 0;
    if (s == NULL || index == NULL) {
        return CS_E_MALFORMED;
    }
    if (len >= 8 && memcmp(s, "shardId-", 8) == 0) {
        i = 8;
    }
    if (len == i || len - i > 12) {
        return CS_E_MALFORMED;
    }
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return CS_E_MALFORMED;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > UINT32_MAX) {
        return CS_E_MALFORMED;
    }
    *index = (uint32_t)v;
    return CS_OK;
}

void csi_kds_seq_format(uint64_t stream_created_ms, uint32_t shard, uint64_t offset,
                        char out[CSI_KDS_SEQ_LEN + 1])
{
    /* "49" %013llu %06u %020llu "000000000000000", without snprintf (one per record put). */
    uint64_t v;
    out[0] = '4';
    out[1] = '9';
    v = stream_created_ms % 10000000000000ull;
    for (int i = 14; i >= 2; i--, v /= 10) {
        out[i] = (char)('0' + v % 10);
    }
    v = shard % 1000000u;
    for (int i = 20; i >= 15; i--, v /= 10) {
        out[i] = (char)('0' + v % 10);
    }
    v = offset; /* < 2^64 < 10^20: 20 digits always hold it */
    for (int i = 40; i >= 21; i--, v /= 10) {
        out[i] = (char)('0' + v % 10);
    }
    memset(out + 41, '0', 15);
    out[CSI_KDS_SEQ_LEN] = '\0';
}

void csi_kds_seq_before_first(uint64_t stream_created_ms, uint32_t shard,
                              char out[CSI_KDS_SEQ_LEN + 1])
{
    csi_kds_seq_format(stream_created_ms, shard, 0, out);
    for (size_t i = CSI_KDS_SEQ_LEN; i-- > 0;) { /* minus one; "49..." never loses a digit */
        if (out[i] != '0') {
            out[i]--;
            break;
        }
        out[i] = '9';
    }
}

static bool digits(const char *s, size_t n, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        if (x > (UINT64_MAX - 9) / 10) {
            return false;
        }
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    *v = x;
    return true;
}

cs_status csi_kds_seq_parse(const char *s, size_t len, uint64_t stream_created_ms, uint32_t *shard,
                            uint64_t *offset)
{
    uint64_t created, sh, off, tail;
    if (s == NULL || shard == NULL || offset == NULL || len != CSI_KDS_SEQ_LEN || s[0] != '4' ||
        s[1] != '9' || !digits(s + 2, 13, &created) || !digits(s + 15, 6, &sh) ||
        !digits(s + 21, 20, &off) || !digits(s + 41, 15, &tail) || tail != 0) {
        return CS_E_MALFORMED;
    }
    if (created != stream_created_ms % 10000000000000ull) {
        return CS_E_NOTFOUND;
    }
    *shard = (uint32_t)sh;
    *offset = off;
    return CS_OK;
}

/* ---- base64 ---------------------------------------------------------------------------------- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t csi_kds_base64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* Two base64 characters per 12 bits: half the table lookups of the plain loop (GetRecords spends
 * a fifth of its time encoding). Filled once; plain C, any endianness. */
static char b64_pairs[4096][2];
static pthread_once_t b64_once = PTHREAD_ONCE_INIT;

static void b64_pairs_init(void)
{
    for (unsigned v = 0; v < 4096; v++) {
        b64_pairs[v][0] = B64[v >> 6];
        b64_pairs[v][1] = B64[v & 63];
    }
}

void csi_kds_base64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t i = 0, o = 0;
    pthread_once(&b64_once, b64_pairs_init);
    for (; i + 6 <= n; i += 6) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        uint32_t w = (uint32_t)in[i + 3] << 16 | (uint32_t)in[i + 4] << 8 | in[i + 5];
        memcpy(out + o, b64_pairs[v >> 12], 2);
        memcpy(out + o + 2, b64_pairs[v & 4095], 2);
        memcpy(out + o + 4, b64_pairs[w >> 12], 2);
        memcpy(out + o + 6, b64_pairs[w & 4095], 2);
        o += 8;
    }
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = B64[v >> 18];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = B64[(v >> 6) & 63];
        out[o++] = B64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = B64[v >> 18];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = B64[v >> 18];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = B64[(v >> 6) & 63];
        out[o++] = '=';
    }
}

/* The value of a base64 character, -1 outside the alphabet. */
static const int8_t b64tab[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,
    ['H'] = 8,  ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14,
    ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21,
    ['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28,
    ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35,
    ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
    ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49,
    ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63,
    ['/'] = 64}; /* value + 1: 0 marks the bytes outside the alphabet */

static int b64val(char c)
{
    return b64tab[(unsigned char)c] - 1;
}

/* `nq` quads of base64 without padding into nq * 3 bytes; false: a byte outside the alphabet. */
static bool decode_quads(const unsigned char *restrict in, size_t nq, uint8_t *restrict out)
{
    int bad = 0;
    for (size_t q = 0; q < nq; q++, in += 4, out += 3) {
        int a = b64tab[in[0]] - 1, b = b64tab[in[1]] - 1, c = b64tab[in[2]] - 1,
            d = b64tab[in[3]] - 1;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        bad |= a | b | c | d; /* negative once any is -1 */
        out[0] = (uint8_t)(v >> 16);
        out[1] = (uint8_t)(v >> 8);
        out[2] = (uint8_t)v;
    }
    return bad >= 0;
}

cs_status csi_kds_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t o = 0, pad = 0;
    if ((in == NULL && n > 0) || out_len == NULL || n % 4 != 0) {
        return CS_E_MALFORMED;
    }
    if (n >= 1 && in[n - 1] == '=') {
        pad = n >= 2 && in[n - 2] == '=' ? 2 : 1;
    }
    if (n / 4 * 3 - pad > cap) {
        *out_len = n / 4 * 3 - pad;
        return CS_E_NOSPACE;
    }
    /* Every quad but the last (no padding there): branch-free, one check at the end. */
    if (n > 4 && !decode_quads((const unsigned char *)in, n / 4 - 1, out)) {
        return CS_E_MALFORMED;
    }
    o = (n > 4 ? n / 4 - 1 : 0) * 3;
    for (size_t i = n >= 4 ? n - 4 : n; i < n; i += 4) {
        int v[4];
        bool last = i + 4 == n;
        for (int k = 0; k < 4; k++) {
            v[k] = b64val(in[i + (size_t)k]);
        }
        if (v[0] < 0 || v[1] < 0) {
            return CS_E_MALFORMED;
        }
        if (last && pad == 2) {
            if ((v[1] & 15) != 0) {
                return CS_E_MALFORMED; /* non-canonical bits */
            }
            out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
            break;
        }
        if (v[2] < 0) {
            return CS_E_MALFORMED;
        }
        if (last && pad == 1) {
            if ((v[2] & 3) != 0) {
                return CS_E_MALFORMED;
            }
            out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
            out[o++] = (uint8_t)((v[1] & 15) << 4 | v[2] >> 2);
            break;
        }
        if (v[3] < 0) {
            return CS_E_MALFORMED;
        }
        out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
        out[o++] = (uint8_t)((v[1] & 15) << 4 | v[2] >> 2);
        out[o++] = (uint8_t)((v[2] & 3) << 6 | v[3]);
    }
    *out_len = o;
    return CS_OK;
}

/* ---- iterators ------------------------------------------------------------------------------- */

static void be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

cs_status csi_kds_iterator_encode(const csi_kds_iterator *it,
                                  const uint8_t key[CSI_KDS_ITERATOR_KEY_LEN],
                                  char out[CSI_KDS_ITERATOR_MAX], size_t *len)
{
    uint8_t raw[ITER_FIXED + CSI_KDS_MAX_STREAM_NAME];
    uint8_t mac[CS_SHA256_SIZE];
    size_t name_len, n;
    cs_status st;
    if (it == NULL || key == NULL || out == NULL || len == NULL) {
        return CS_E_INVAL;
    }
    name_len = strnlen(it->stream, sizeof(it->stream));
    if (name_len == 0 || name_len > CSI_KDS_MAX_STREAM_NAME) {
        return CS_E_INVAL;
    }
    raw[0] = ITER_VERSION;
    raw[1] = (uint8_t)name_len;
    memcpy(raw + 2, it->stream, name_len);
    n = 2 + name_len;
    be64(raw + n, it->stream_created_ms);
    raw[n + 8] = (uint8_t)(it->shard >> 24);
    raw[n + 9] = (uint8_t)(it->shard >> 16);
    raw[n + 10] = (uint8_t)(it->shard >> 8);
    raw[n + 11] = (uint8_t)it->shard;
    be64(raw + n + 12, it->offset);
    be64(raw + n + 20, it->issued_ms);
    n += 28;
    if ((st = cs_hmac_sha256(key, CSI_KDS_ITERATOR_KEY_LEN, raw, n, mac)) != CS_OK) {
        return st;
    }
    memcpy(raw + n, mac, ITER_MAC_LEN);
    n += ITER_MAC_LEN;
    csi_kds_base64_encode(raw, n, out);
    *len = csi_kds_base64_len(n);
    out[*len] = '\0';
    return CS_OK;
}

cs_status csi_kds_iterator_decode(const char *s, size_t len,
                                  const uint8_t key[CSI_KDS_ITERATOR_KEY_LEN], uint64_t now_ms,
                                  csi_kds_iterator *it)
{
    uint8_t raw[ITER_FIXED + CSI_KDS_MAX_STREAM_NAME + 3];
    uint8_t mac[CS_SHA256_SIZE];
    size_t n, name_len, p;
    if (s == NULL || key == NULL || it == NULL || len >= CSI_KDS_ITERATOR_MAX) {
        return CS_E_MALFORMED;
    }
    if (csi_kds_base64_decode(s, len, raw, sizeof(raw), &n) != CS_OK || n < ITER_FIXED + 1 ||
        raw[0] != ITER_VERSION) {
        return CS_E_MALFORMED;
    }
    name_len = raw[1];
    if (name_len == 0 || name_len > CSI_KDS_MAX_STREAM_NAME || n != ITER_FIXED + name_len) {
        return CS_E_MALFORMED;
    }
    if (cs_hmac_sha256(key, CSI_KDS_ITERATOR_KEY_LEN, raw, n - ITER_MAC_LEN, mac) != CS_OK ||
        !cs_timing_safe_equal(mac, raw + n - ITER_MAC_LEN, ITER_MAC_LEN)) {
        return CS_E_MALFORMED;
    }
    memset(it, 0, sizeof(*it));
    memcpy(it->stream, raw + 2, name_len);
    p = 2 + name_len;
    it->stream_created_ms = rd64(raw + p);
    it->shard = (uint32_t)raw[p + 8] << 24 | (uint32_t)raw[p + 9] << 16 |
                (uint32_t)raw[p + 10] << 8 | raw[p + 11];
    it->offset = rd64(raw + p + 12);
    it->issued_ms = rd64(raw + p + 20);
    if (now_ms > it->issued_ms && now_ms - it->issued_ms > CSI_KDS_ITERATOR_TTL_MS) {
        return CS_E_TIMEOUT;
    }
    return CS_OK;
}

/* ---- event stream ---------------------------------------------------------------------------- */

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    while (n > 0) {
        uInt chunk = n > 0x40000000u ? 0x40000000u : (uInt)n;
        c = crc32(c, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return (uint32_t)c;
}

cs_status csi_kds_es_encode(const csi_kds_es_header *headers, size_t count, const uint8_t *payload,
                            size_t payload_len, uint8_t *out, size_t cap, size_t *len)
{
    size_t hlen = 0, total, o;
    if (len == NULL || (headers == NULL && count > 0) || (payload == NULL && payload_len > 0)) {
        return CS_E_INVAL;
    }
    for (size_t i = 0; i < count; i++) {
        size_t nl = strlen(headers[i].name), vl = strlen(headers[i].value);
        if (nl == 0 || nl > 255 || vl > 65535) {
            return CS_E_INVAL;
        }
        hlen += 1 + nl + 1 + 2 + vl;
    }
    total = 12 + hlen + payload_len + 4;
    if (total > UINT32_MAX) {
        return CS_E_INVAL;
    }
    *len = total;
    if (out == NULL) {
        return CS_OK;
    }
    if (cap < total) {
        return CS_E_NOSPACE;
    }
    be32(out, (uint32_t)total);
    be32(out + 4, (uint32_t)hlen);
    be32(out + 8, crc32_of(out, 8));
    o = 12;
    for (size_t i = 0; i < count; i++) {
        size_t nl = strlen(headers[i].name), vl = strlen(headers[i].value);
        out[o++] = (uint8_t)nl;
        memcpy(out + o, headers[i].name, nl);
        o += nl;
        out[o++] = 7; /* string */
        out[o++] = (uint8_t)(vl >> 8);
        out[o++] = (uint8_t)vl;
        memcpy(out + o, headers[i].value, vl);
        o += vl;
    }
    if (payload_len > 0) {
        memcpy(out + o, payload, payload_len);
    }
    o += payload_len;
    be32(out + o, crc32_of(out, o));
    return CS_OK;
}

cs_status csi_kds_es_decode(const uint8_t *in, size_t n, size_t *total, size_t *payload_off,
                            size_t *payload_len)
{
    uint32_t tl, hl;
    if (in == NULL || total == NULL || payload_off == NULL || payload_len == NULL) {
        return CS_E_INVAL;
    }
    if (n < 12) {
        return CS_AGAIN;
    }
    tl = rd32(in);
    hl = rd32(in + 4);
    if (rd32(in + 8) != crc32_of(in, 8) || tl < 16 || (uint64_t)hl + 16 > tl) {
        return CS_E_MALFORMED;
    }
    if (n < tl) {
        return CS_AGAIN;
    }
    if (rd32(in + tl - 4) != crc32_of(in, tl - 4)) {
        return CS_E_MALFORMED;
    }
    /* The headers must parse exactly into hl bytes. */
    for (size_t p = 12; p < 12 + (size_t)hl;) {
        size_t nl = in[p], vl;
        if (nl == 0 || p + 1 + nl + 3 > 12 + (size_t)hl || in[p + 1 + nl] != 7) {
            return CS_E_MALFORMED;
        }
        vl = (size_t)in[p + 2 + nl] << 8 | in[p + 3 + nl];
        p += 4 + nl + vl;
        if (p > 12 + (size_t)hl) {
            return CS_E_MALFORMED;
        }
    }
    *total = tl;
    *payload_off = 12 + hl;
    *payload_len = tl - 16 - hl;
    return CS_OK;
}
