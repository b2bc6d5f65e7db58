/* SPDX-License-Identifier: Apache-2.0 */
/* The put/read fast paths of the record streams against their plain definitions: the unrolled
 * one-block MD5 of csi_kds_hash_key against cs_md5 (keys of 0..80 bytes, both sides of the
 * 55-byte limit), also through its per-thread cache; csi_kds_shard_id and csi_kds_seq_format
 * against snprintf; the branch-free base64 decoder against the encoder and with a byte outside
 * the alphabet at every position; and the sequence numbers of puts (the previous one + 1) and
 * of reads (the same) against csi_kds_seq_format, over offsets that carry (9 -> 10, 99 -> 100,
 * 999 -> 1000). The cache is also used from several threads at once, and it is not static
 * thread-local storage (which the C library zero-fills for every thread it creates). */
#define _GNU_SOURCE
#include <link.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "camstream/auth.h"
#include "kds_store.h"
#include "testutil.h"

static uint32_t rnd_state = 12345;

static uint32_t rnd(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return rnd_state >> 8;
}

static void test_md5(void **state)
{
    char key[80];
    (void)state;
    for (int t = 0; t < 20000; t++) {
        size_t n = rnd() % sizeof(key);
        uint8_t md[CS_MD5_SIZE];
        csi_u128 h, want = 0;
        for (size_t i = 0; i < n; i++) {
            key[i] = (char)rnd();
        }
        assert_int_equal(csi_kds_hash_key(key, n, &h), CS_OK);
        assert_int_equal(cs_md5(key, n, md), CS_OK);
        for (size_t i = 0; i < CS_MD5_SIZE; i++) {
            want = want << 8 | md[i];
        }
        assert_true(h == want);
    }
}

/* The per-thread cache of hash keys: many keys (more than its slots, so slots are reused and
 * keys collide), each hashed again later in another order: every answer is the MD5 of the key. */
enum { KEYS = 3000 };
static char hk_keys[KEYS][48];
static size_t hk_lens[KEYS];

static void make_keys(void)
{
    for (int k = 0; k < KEYS; k++) {
        hk_lens[k] = 1 + rnd() % 47; /* both sides of the cache's 40-byte limit */
        for (size_t i = 0; i < hk_lens[k]; i++) {
            hk_keys[k][i] = (char)('a' + rnd() % 3); /* few letters: many keys share prefixes */
        }
    }
}

/* Hashes every key 4 times in 4 orders (`skew` shifts them); returns the number of wrong
 * answers (cmocka's asserts belong to the main thread). */
static int hash_all(int skew)
{
    int wrong = 0;
    for (int round = 0; round < 4; round++) {
        for (int t = 0; t < KEYS; t++) {
            int k = (round % 2 ? KEYS - 1 - t : (t * 7) % KEYS) + skew;
            uint8_t md[CS_MD5_SIZE];
            csi_u128 h, want = 0;
            k %= KEYS;
            if (csi_kds_hash_key(hk_keys[k], hk_lens[k], &h) != CS_OK ||
                cs_md5(hk_keys[k], hk_lens[k], md) != CS_OK) {
                wrong++;
                continue;
            }
            for (size_t i = 0; i < CS_MD5_SIZE; i++) {
                want = want << 8 | md[i];
            }
            wrong += h != want;
        }
    }
    return wrong;
}

static void test_hash_cache(void **state)
{
    (void)state;
    make_keys();
    assert_int_equal(hash_all(0), 0);
}

static void *hash_thread(void *arg)
{
    int *skew_and_result = arg;
    *skew_and_result = hash_all(*skew_and_result);
    return NULL;
}

/* Threads with caches of their own at the same time (each is freed when its thread ends: the
 * sanitizer build's leak check sees one that is not). */
static void test_hash_cache_threads(void **state)
{
    pthread_t th[4];
    int arg[4];
    (void)state;
    make_keys();
    for (int i = 0; i < 4; i++) {
        arg[i] = i * 977;
        assert_int_equal(pthread_create(&th[i], NULL, hash_thread, &arg[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(arg[i], 0);
    }
}

static int tls_of_program(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type == PT_TLS) {
            *(size_t *)data = info->dlpi_phdr[i].p_memsz;
        }
    }
    return 1; /* the first object is the program itself */
}

/* This program links the record streams' library: its static TLS (zero-filled by the C library
 * for every thread created, used or not) stays small. With the cache as a static thread-local
 * array it was 256 KiB, which every thread of the server paid in resident memory. */
static void test_static_tls_small(void **state)
{
    size_t tls = 0;
    (void)state;
    dl_iterate_phdr(tls_of_program, &tls);
    assert_true(tls <= 4096);
}

static void test_formats(void **state)
{
    static const uint32_t shards[] = {0, 1, 9, 10, 123456, 999999, 1000000, 4294967295u};
    static const uint64_t offs[] = {0, 1, 9, 10, 99, 100, 12345678901234567ull, UINT64_MAX};
    (void)state;
    for (size_t i = 0; i < sizeof(shards) / sizeof(shards[0]); i++) {
        char id[CSI_KDS_SHARD_ID_LEN + 1], want[64];
        csi_kds_shard_id(shards[i], id);
        snprintf(want, sizeof(want), "shardId-%012u", shards[i]);
        assert_string_equal(id, want);
        for (size_t j = 0; j < sizeof(offs) / sizeof(offs[0]); j++) {
            char seq[CSI_KDS_SEQ_LEN + 1];
            uint64_t created = 1700000000123ull + offs[j];
            csi_kds_seq_format(created, shards[i], offs[j], seq);
            snprintf(want, sizeof(want), "49%013llu%06u%020llu000000000000000",
                     (unsigned long long)(created % 10000000000000ull), shards[i] % 1000000u,
                     (unsigned long long)offs[j]);
            assert_string_equal(seq, want);
        }
    }
}

static void test_base64(void **state)
{
    uint8_t data[200], back[200];
    char text[300];
    (void)state;
    for (size_t n = 0; n < sizeof(data); n++) {
        size_t len = csi_kds_base64_len(n), got = 0;
        for (size_t i = 0; i < n; i++) {
            data[i] = (uint8_t)rnd();
        }
        csi_kds_base64_encode(data, n, text);
        assert_int_equal(csi_kds_base64_decode(text, len, back, sizeof(back), &got), CS_OK);
        assert_int_equal(got, n);
        assert_memory_equal(back, data, n);
        for (size_t i = 0; i < len && n % 7 == 0; i++) { /* a bad byte anywhere is refused */
            char keep = text[i];
            text[i] = (i % 3 == 0) ? '*' : (i % 3 == 1) ? '\0' : '=';
            if (!(text[i] == '=' && i + 2 >= len)) { /* '=' may be padding at the end */
                assert_int_equal(csi_kds_base64_decode(text, len, back, sizeof(back), &got),
                                 CS_E_MALFORMED);
            }
            text[i] = keep;
        }
    }
}

struct chk {
    uint64_t created;
    uint32_t shard;
    uint64_t next;
    size_t n;
};

static bool on_rec(void *ctx, const csi_kds_record *r)
{
    struct chk *c = ctx;
    char want[CSI_KDS_SEQ_LEN + 1];
    csi_kds_seq_format(c->created, c->shard, c->next++, want);
    assert_string_equal(r->seq, want);
    c->n++;
    return true;
}

static void test_sequence_numbers(void **state)
{
    static csi_kds_put p[500];
    static csi_kds_put_result res[500];
    static char keys[500][16];
    const uint8_t d[4] = {1, 2, 3, 4};
    uint64_t count[2] = {0, 0}, created = 0;
    csi_kds_store_config cfg;
    csi_kds_store *s = NULL;
    char dir[600], db[700];
    (void)state;
    snprintf(dir, sizeof(dir), "%s", cs_test_tmpdir("kds_fast"));
    snprintf(db, sizeof(db), "%s/index.sqlite3", dir);
    csi_kds_store_config_init(&cfg);
    cfg.data_dir = dir;
    cfg.db_path = db;
    cfg.durable = false;
    assert_int_equal(csi_kds_store_open(&cfg, &s), CS_OK);
    assert_int_equal(csi_kds_store_create(s, "r", 2, false), CS_OK);
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 500; i++) {
            snprintf(keys[i], sizeof(keys[i]), "k%d", (i * 7 + round) % 1000);
            p[i] = (csi_kds_put){keys[i], strlen(keys[i]), NULL, d, sizeof(d)};
        }
        assert_int_equal(csi_kds_store_put(s, "r", p, 500, res), CS_OK);
        for (int i = 0; i < 500; i++) {
            char want[CSI_KDS_SEQ_LEN + 1];
            assert_int_equal(res[i].status, CS_OK);
            assert_true(res[i].shard < 2);
            if (created == 0) {
                for (int k = 2; k <= 14; k++) { /* the creation ms digits */
                    created = created * 10 + (uint64_t)(res[i].seq[k] - '0');
                }
            }
            csi_kds_seq_format(created, res[i].shard, count[res[i].shard]++, want);
            assert_string_equal(res[i].seq, want);
        }
    }
    for (uint32_t sh = 0; sh < 2; sh++) { /* read back in pages of 777 */
        char it[CSI_KDS_ITERATOR_MAX];
        struct chk c = {created, sh, 0, 0};
        assert_int_equal(csi_kds_store_iterator(s, "r", sh, CSI_KDS_TRIM_HORIZON, NULL, 0, it),
                         CS_OK);
        for (;;) {
            static csi_kds_get_result g;
            size_t before = c.n;
            assert_int_equal(csi_kds_store_get(s, it, 777, on_rec, &c, &g), CS_OK);
            if (c.n == before) {
                break;
            }
            memcpy(it, g.next, sizeof(it));
        }
        assert_int_equal(c.n, count[sh]);
    }
    assert_true(count[0] > 1000 && count[1] > 1000);
    csi_kds_store_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_md5),
        cmocka_unit_test(test_hash_cache),
        cmocka_unit_test(test_hash_cache_threads),
        cmocka_unit_test(test_static_tls_small),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_sequence_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
