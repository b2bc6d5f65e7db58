/* SPDX-License-Identifier: Apache-2.0 */
/* The record log of one shard (ingest-server/records/reclog.c): offsets, durability across
 * reopen, torn and corrupt tails cut at recovery, segment rolling, reads across segments, seek
 * by time, retention by whole segments, concurrent appenders against a reader, big records,
 * arguments, and an allocator that fails at every call index. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "reclog.h"
#include "testutil.h"

struct got {
    uint64_t offsets[20000];
    uint64_t ms[20000];
    char keys[20000][16];
    uint32_t data_sum[20000];
    size_t data_len[20000];
    size_t n;
};

static struct got g;

static uint32_t sum(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 16777619u;
    }
    return h;
}

static bool collect(void *ctx, const csi_reclog_entry *e)
{
    struct got *gg = ctx;
    if (gg->n == sizeof(gg->offsets) / sizeof(gg->offsets[0])) {
        return false;
    }
    gg->offsets[gg->n] = e->offset;
    gg->ms[gg->n] = e->arrival_ms;
    snprintf(gg->keys[gg->n], sizeof(gg->keys[0]), "%.*s", (int)e->key_len, e->key);
    gg->data_sum[gg->n] = sum(e->data, e->data_len);
    gg->data_len[gg->n] = e->data_len;
    gg->n++;
    return true;
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (uint8_t)(seed >> 56);
    }
}

/* Appends `count` records one call each: key "k<i>", data of 10+i%50 bytes seeded by offset. */
static void put_n(csi_reclog *l, uint64_t start, size_t count, uint64_t ms)
{
    for (size_t i = 0; i < count; i++) {
        char key[16];
        uint8_t data[64];
        uint64_t off = 0;
        size_t len = 10 + (start + i) % 50;
        snprintf(key, sizeof(key), "k%llu", (unsigned long long)(start + i));
        fill(data, len, start + i);
        csi_reclog_record r = {key, strlen(key), data, len};
        assert_int_equal(csi_reclog_append(l, &r, 1, ms, &off), CS_OK);
        assert_int_equal(off, start + i);
    }
}

static void check_all(csi_reclog *l, uint64_t from, uint64_t to)
{
    uint64_t next = from;
    memset(&g, 0, sizeof(g));
    while (next < to) {
        uint64_t before = next;
        size_t want = to - next < 333 ? (size_t)(to - next) : 333;
        assert_int_equal(csi_reclog_read(l, next, want, SIZE_MAX, collect, &g, &next), CS_OK);
        assert_true(next > before);
    }
    assert_int_equal(g.n, to - from);
    for (size_t i = 0; i < g.n; i++) {
        uint8_t data[64];
        char key[16];
        uint64_t off = from + i;
        size_t len = 10 + off % 50;
        fill(data, len, off);
        snprintf(key, sizeof(key), "k%llu", (unsigned long long)off);
        assert_int_equal(g.offsets[i], off);
        assert_string_equal(g.keys[i], key);
        assert_int_equal(g.data_len[i], len);
        assert_int_equal(g.data_sum[i], sum(data, len));
    }
}

static csi_reclog *open_log(const char *dir, uint64_t segment_bytes, csi_reclog_recovery *rec)
{
    csi_reclog_config cfg;
    csi_reclog *l = NULL;
    csi_reclog_config_init(&cfg);
    if (segment_bytes) {
        cfg.segment_bytes = segment_bytes;
    }
    cfg.index_interval = 512;
    assert_int_equal(csi_reclog_open(dir, &cfg, &l, rec), CS_OK);
    return l;
}

static void test_append_read_reopen(void **state)
{
    (void)state;
    const char *tmp = cs_test_tmpdir("reclog_basic");
    char dir[512];
    csi_reclog_recovery rec;
    uint64_t first, end;
    snprintf(dir, sizeof(dir), "%s/s/shard-0", tmp);

    csi_reclog *l = open_log(dir, 0, &rec);
    csi_reclog_bounds(l, &first, &end);
    assert_int_equal(first, 0);
    assert_int_equal(end, 0);
    put_n(l, 0, 500, 1000);
    csi_reclog_bounds(l, &first, &end);
    assert_int_equal(end, 500);
    check_all(l, 0, 500);
    check_all(l, 123, 500);
    csi_reclog_close(&l);
    assert_null(l);

    l = open_log(dir, 0, &rec);
    assert_int_equal(rec.records, 500);
    assert_int_equal(rec.truncated_bytes, 0);
    check_all(l, 0, 500);
    put_n(l, 500, 10, 2000);
    check_all(l, 0, 510);
    csi_reclog_close(&l);
}

static void test_torn_tail_cut(void **state)
{
    (void)state;
    const char *dir = cs_test_tmpdir("reclog_torn");
    char path[600];
    csi_reclog_recovery rec;
    struct stat sb;
    csi_reclog *l = open_log(dir, 0, NULL);
    put_n(l, 0, 100, 5);
    csi_reclog_close(&l);

    /* A torn write: half a record's bytes after the last whole one. */
    snprintf(path, sizeof(path), "%s/%020d.seg", dir, 0);
    assert_int_equal(stat(path, &sb), 0);
    {
        FILE *f = fopen(path, "ab");
        uint8_t junk[40] = {60, 0, 0, 0};
        assert_non_null(f);
        assert_int_equal(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
        fclose(f);
    }
    l = open_log(dir, 0, &rec);
    assert_int_equal(rec.records, 100);
    assert_int_equal(rec.truncated_bytes, 40);
    check_all(l, 0, 100);
    put_n(l, 100, 5, 6); /* appends go on after the cut */
    check_all(l, 0, 105);
    csi_reclog_close(&l);

    /* A flipped bit in record 50: recovery keeps 0..49, never serves a corrupt record. */
    {
        FILE *f = fopen(path, "r+b");
        long pos = 0;
        uint8_t hdr[4];
        assert_non_null(f);
        for (int i = 0; i < 50; i++) {
            assert_int_equal(fseek(f, pos, SEEK_SET), 0);
            assert_int_equal(fread(hdr, 1, 4, f), 4);
            pos += (long)(hdr[0] | hdr[1] << 8 | hdr[2] << 16 | (uint32_t)hdr[3] << 24);
        }
        assert_int_equal(fseek(f, pos + 40, SEEK_SET), 0);
        assert_int_equal(fread(hdr, 1, 1, f), 1);
        hdr[0] ^= 0x10;
        assert_int_equal(fseek(f, pos + 40, SEEK_SET), 0);
        assert_int_equal(fwrite(hdr, 1, 1, f), 1);
        fclose(f);
    }
    l = open_log(dir, 0, &rec);
    assert_int_equal(rec.records, 50);
    assert_true(rec.truncated_bytes > 0);
    check_all(l, 0, 50);
    csi_reclog_close(&l);
}

/* Writes `n` bytes of `img` as segment 0 of the log directory `dir` (its only segment). */
static void write_segment(const char *dir, const uint8_t *img, size_t n)
{
    char path[600];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%020d.seg", dir, 0);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(img, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* The active segment is preallocated: zeros after the records, which a crash leaves on disk
 * (close cuts them). The file as a crash can leave it, cut at every byte of the records and at
 * steps through the zeros (a lost size or a torn write): recovery keeps exactly the whole
 * records before the cut, counts no torn bytes when only zeros follow them, and the log goes
 * on from there (and the next open finds everything). Garbage in the zeros is a torn tail. */
static void test_prealloc_crash_image(void **state)
{
    (void)state;
    const char *tmp = cs_test_tmpdir("reclog_prealloc");
    char dir[512], path[600];
    uint8_t *img;
    size_t size, rec_end[41], nrec = 40;
    struct stat sb;
    FILE *f;
    csi_reclog_recovery rec;
    csi_reclog *l;

    snprintf(dir, sizeof(dir), "%s/live", tmp);
    l = open_log(dir, 0, NULL);
    put_n(l, 0, nrec, 1000);
    /* The crash image: the file while the log is open (records, then preallocated zeros). */
    snprintf(path, sizeof(path), "%s/%020d.seg", dir, 0);
    assert_int_equal(stat(path, &sb), 0);
    size = (size_t)sb.st_size;
    img = malloc(size);
    assert_non_null(img);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(img, 1, size, f), size);
    fclose(f);
    csi_reclog_close(&l);
    assert_int_equal(stat(path, &sb), 0);
    rec_end[0] = 0;
    for (size_t i = 0; i < nrec; i++) {
        rec_end[i + 1] = rec_end[i] + 32 + strlen("k") + (i >= 10 ? 2 : 1) + 10 + i % 50;
    }
    assert_int_equal((size_t)sb.st_size, rec_end[nrec]); /* close cut the zeros */
    assert_true(size > rec_end[nrec]);                   /* there were zeros to cut */
    for (size_t i = rec_end[nrec]; i < size; i++) {
        assert_int_equal(img[i], 0);
    }

    snprintf(dir, sizeof(dir), "%s/cut", tmp);
    assert_int_equal(mkdir(dir, 0755), 0);
    for (size_t cut = 0; cut <= size; cut += cut < rec_end[nrec] + 64 ? 1 : 4093) {
        size_t whole = 0;
        bool boundary;
        while (whole < nrec && rec_end[whole + 1] <= cut) {
            whole++;
        }
        boundary = cut >= rec_end[nrec] || cut == rec_end[whole];
        bool go_on = boundary || cut % 5 == 0; /* append after the cut: these only */
        write_segment(dir, img, cut);
        if (go_on) {
            l = open_log(dir, 0, &rec);
        } else {
            /* only recovery is checked: without fdatasync (cutting a torn tail syncs), faster */
            csi_reclog_config cfg;
            csi_reclog_config_init(&cfg);
            cfg.index_interval = 512;
            cfg.sync = false;
            assert_int_equal(csi_reclog_open(dir, &cfg, &l, &rec), CS_OK);
        }
        assert_int_equal(rec.records, whole);
        if (boundary) {
            assert_int_equal(rec.truncated_bytes, 0);
        } else {
            assert_int_equal(rec.truncated_bytes, cut - rec_end[whole]);
        }
        check_all(l, 0, whole);
        if (!go_on) {
            csi_reclog_close(&l);
            continue;
        }
        put_n(l, whole, 3, 2000); /* go on after the cut */
        check_all(l, 0, whole + 3);
        csi_reclog_close(&l);
        l = open_log(dir, 0, &rec);
        assert_int_equal(rec.records, whole + 3);
        assert_int_equal(rec.truncated_bytes, 0);
        check_all(l, 0, whole + 3);
        csi_reclog_close(&l);
    }

    /* A byte of garbage anywhere in the zeros: a torn tail, cut and counted; records kept. */
    for (size_t at = rec_end[nrec]; at < size; at += 997) {
        img[at] = 0x5a;
        write_segment(dir, img, size);
        l = open_log(dir, 0, &rec);
        assert_int_equal(rec.records, nrec);
        assert_int_equal(rec.truncated_bytes, size - rec_end[nrec]);
        check_all(l, 0, nrec);
        csi_reclog_close(&l);
        img[at] = 0;
    }
    free(img);
}

static void test_segments_seek_trim(void **state)
{
    (void)state;
    const char *dir = cs_test_tmpdir("reclog_segments");
    csi_reclog_recovery rec;
    uint64_t first, end, off, removed, next;
    csi_reclog *l = open_log(dir, 4096, NULL);

    /* 10 batches of 100 records at times 1000, 2000, ... 10000 ms: many segments. */
    for (uint64_t b = 0; b < 10; b++) {
        put_n(l, b * 100, 100, (b + 1) * 1000);
    }
    check_all(l, 0, 1000);
    check_all(l, 377, 1000);
    assert_int_equal(csi_reclog_seek_time(l, 0, &off), CS_OK);
    assert_int_equal(off, 0);
    assert_int_equal(csi_reclog_seek_time(l, 4500, &off), CS_OK);
    assert_int_equal(off, 400);
    assert_int_equal(csi_reclog_seek_time(l, 5000, &off), CS_OK);
    assert_int_equal(off, 400);
    assert_int_equal(csi_reclog_seek_time(l, 10001, &off), CS_OK);
    assert_int_equal(off, 1000);
    /* Arrival times never go back: an earlier time is raised to the last one. */
    put_n(l, 1000, 1, 7);
    memset(&g, 0, sizeof(g));
    assert_int_equal(csi_reclog_read(l, 1000, 10, SIZE_MAX, collect, &g, &next), CS_OK);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.ms[0], 10000);

    /* Retention: everything older than 5500 ms goes, by whole segments only. */
    assert_int_equal(csi_reclog_trim(l, 5500, &removed), CS_OK);
    csi_reclog_bounds(l, &first, &end);
    assert_int_equal(end, 1001);
    assert_true(removed > 0);
    assert_int_equal(first, removed);
    assert_true(first <= 500); /* nothing at or after 5500 ms is gone */
    assert_true(first > 300);  /* segments of ~4 KiB: most of the old ones did go */
    check_all(l, first, 1000);
    /* Reading from a trimmed offset starts at the first kept one. */
    memset(&g, 0, sizeof(g));
    assert_int_equal(csi_reclog_read(l, 0, 1, SIZE_MAX, collect, &g, &next), CS_OK);
    assert_int_equal(g.offsets[0], first);
    csi_reclog_close(&l);

    l = open_log(dir, 4096, &rec);
    csi_reclog_bounds(l, &off, &end);
    assert_int_equal(off, first);
    assert_int_equal(end, 1001);
    check_all(l, first, 1000);
    /* Trim all: the log is empty but offsets go on. */
    assert_int_equal(csi_reclog_trim(l, 20000, &removed), CS_OK);
    csi_reclog_bounds(l, &off, &end);
    assert_int_equal(off, 1001);
    assert_int_equal(end, 1001);
    put_n(l, 1001, 3, 30000);
    check_all(l, 1001, 1004);
    assert_int_equal(csi_reclog_destroy(&l), CS_OK);
    assert_int_not_equal(access(dir, F_OK), 0);
}

static void test_big_records(void **state)
{
    (void)state;
    const char *dir = cs_test_tmpdir("reclog_big");
    size_t sizes[] = {0, 1, 300000, CSI_RECLOG_MAX_DATA, 5};
    uint8_t *buf = malloc(CSI_RECLOG_MAX_DATA);
    uint64_t next;
    csi_reclog_recovery rec;
    assert_non_null(buf);
    csi_reclog *l = open_log(dir, 1u << 20, NULL);
    for (size_t i = 0; i < 5; i++) {
        fill(buf, sizes[i], i);
        csi_reclog_record r = {"big", 3, buf, sizes[i]};
        assert_int_equal(csi_reclog_append(l, &r, 1, 1, NULL), CS_OK);
    }
    {
        csi_reclog_record r = {"big", 3, buf, CSI_RECLOG_MAX_DATA + 1};
        assert_int_equal(csi_reclog_append(l, &r, 1, 1, NULL), CS_E_INVAL);
    }
    csi_reclog_close(&l);
    l = open_log(dir, 1u << 20, &rec);
    assert_int_equal(rec.records, 5);
    memset(&g, 0, sizeof(g));
    assert_int_equal(csi_reclog_read(l, 0, 100, SIZE_MAX, collect, &g, &next), CS_OK);
    assert_int_equal(g.n, 5);
    assert_int_equal(next, 5);
    for (size_t i = 0; i < 5; i++) {
        fill(buf, sizes[i], i);
        assert_int_equal(g.data_len[i], sizes[i]);
        assert_int_equal(g.data_sum[i], sum(buf, sizes[i]));
    }
    /* max_bytes: at least one record, then stop before going over. */
    memset(&g, 0, sizeof(g));
    assert_int_equal(csi_reclog_read(l, 1, 100, 1000, collect, &g, &next), CS_OK);
    assert_int_equal(g.n, 1);
    assert_int_equal(next, 2);
    csi_reclog_close(&l);
    free(buf);
}

struct writer {
    csi_reclog *l;
    int id;
    uint64_t offsets[400];
};

static void writer_main(void *arg)
{
    struct writer *w = arg;
    for (int b = 0; b < 40; b++) {
        csi_reclog_record r[10];
        char keys[10][16];
        uint8_t data[10][8];
        for (int i = 0; i < 10; i++) {
            snprintf(keys[i], sizeof(keys[i]), "w%d", w->id);
            memcpy(data[i], &b, sizeof(b));
            memcpy(data[i] + 4, &i, sizeof(i));
            r[i] = (csi_reclog_record){keys[i], strlen(keys[i]), data[i], 8};
        }
        uint64_t first;
        if (csi_reclog_append(w->l, r, 10, 1, &first) != CS_OK) {
            return;
        }
        for (int i = 0; i < 10; i++) {
            w->offsets[b * 10 + i] = first + (uint64_t)i;
        }
    }
}

static bool check_order(void *ctx, const csi_reclog_entry *e)
{
    int *last = ctx; /* per writer: the last (batch*10+index) seen */
    int id = e->key[1] - '0', b, i;
    memcpy(&b, e->data, 4);
    memcpy(&i, e->data + 4, 4);
    if (b * 10 + i != last[id] + 1) {
        return false;
    }
    last[id] = b * 10 + i;
    return true;
}

static void test_concurrent(void **state)
{
    (void)state;
    const char *dir = cs_test_tmpdir("reclog_concurrent");
    struct writer w[4];
    cs_thread t[4];
    int last[4] = {-1, -1, -1, -1};
    uint64_t next = 0, end;
    csi_reclog *l = open_log(dir, 8192, NULL);
    for (int i = 0; i < 4; i++) {
        w[i].l = l;
        w[i].id = i;
        assert_int_equal(cs_thread_create(&t[i], writer_main, &w[i], "w"), CS_OK);
    }
    /* Read while they write: only whole, durable records, in each writer's order. */
    for (int spins = 0; spins < 100000 && next < 1600; spins++) {
        uint64_t before = next;
        assert_int_equal(csi_reclog_read(l, next, 50, SIZE_MAX, check_order, last, &next), CS_OK);
        if (next == before) {
            usleep(100);
        }
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(cs_thread_join(&t[i]), CS_OK);
    }
    while (next < 1600) {
        assert_int_equal(csi_reclog_read(l, next, 50, SIZE_MAX, check_order, last, &next), CS_OK);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(last[i], 399);
        for (int j = 1; j < 400; j++) {
            assert_true(w[i].offsets[j] > w[i].offsets[j - 1]);
        }
    }
    csi_reclog_bounds(l, NULL, &end);
    assert_int_equal(end, 1600);
    csi_reclog_close(&l);
}

static void test_write_then_sync(void **state)
{
    (void)state;
    const char *dir = cs_test_tmpdir("reclog_write_sync");
    uint64_t first, end, next, b_first, b_end;
    csi_reclog *l = open_log(dir, 0, NULL);
    csi_reclog_record r = {"k", 1, (const uint8_t *)"abc", 3};
    assert_int_equal(csi_reclog_write(l, &r, 1, 1, &first, &end), CS_OK);
    assert_int_equal(first, 0);
    assert_int_equal(end, 1);
    /* Written, not yet synced: invisible to readers and to LATEST. */
    memset(&g, 0, sizeof(g));
    assert_int_equal(csi_reclog_read(l, 0, 10, SIZE_MAX, collect, &g, &next), CS_OK);
    assert_int_equal(g.n, 0);
    csi_reclog_bounds(l, &b_first, &b_end);
    assert_int_equal(b_end, 0);
    assert_int_equal(csi_reclog_sync(l, end), CS_OK);
    assert_int_equal(csi_reclog_read(l, 0, 10, SIZE_MAX, collect, &g, &next), CS_OK);
    assert_int_equal(g.n, 1);
    assert_int_equal(next, 1);
    csi_reclog_bounds(l, &b_first, &b_end);
    assert_int_equal(b_end, 1);
    assert_int_equal(csi_reclog_sync(l, end), CS_OK); /* already durable: returns at once */
    csi_reclog_close(&l);
}

static void test_args(void **state)
{
    (void)state;
    const char *dir = cs_test_tmpdir("reclog_args");
    csi_reclog_config cfg;
    csi_reclog *l = NULL;
    uint64_t next;
    char longkey[CSI_RECLOG_MAX_KEY + 1];
    csi_reclog_config_init(&cfg);
    assert_int_equal(csi_reclog_open(NULL, &cfg, &l, NULL), CS_E_INVAL);
    assert_int_equal(csi_reclog_open(dir, NULL, &l, NULL), CS_E_INVAL);
    cfg.segment_bytes = 10;
    assert_int_equal(csi_reclog_open(dir, &cfg, &l, NULL), CS_E_INVAL);
    cfg.segment_bytes = 1u << 20;
    assert_int_equal(csi_reclog_open("/proc/no/such/dir", &cfg, &l, NULL), CS_E_IO);
    assert_null(l);
    assert_int_equal(csi_reclog_open(dir, &cfg, &l, NULL), CS_OK);
    memset(longkey, 'k', sizeof(longkey));
    csi_reclog_record bad[] = {
        {"", 0, NULL, 0}, {longkey, sizeof(longkey), NULL, 0}, {"k", 1, NULL, 3}};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(csi_reclog_append(l, &bad[i], 1, 0, NULL), CS_E_INVAL);
    }
    assert_int_equal(csi_reclog_append(l, bad, 0, 0, NULL), CS_E_INVAL);
    memset(&g, 0, sizeof(g));
    assert_int_equal(csi_reclog_read(l, 0, 10, SIZE_MAX, collect, &g, &next), CS_OK);
    assert_int_equal(g.n, 0);
    assert_int_equal(next, 0);
    /* A stray file in the directory is removed at open. */
    csi_reclog_close(&l);
    assert_int_equal(cs_test_sh("touch %s/junk.tmp", dir), 0);
    csi_reclog_recovery rec;
    assert_int_equal(csi_reclog_open(dir, &cfg, &l, &rec), CS_OK);
    assert_int_equal(rec.removed_files, 1);
    csi_reclog_close(&l);
    csi_reclog_close(NULL);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    for (size_t n = 1; n < 200; n++) {
        char dir[600];
        cs_test_allocator ta;
        csi_reclog_config cfg;
        csi_reclog *l = NULL;
        cs_status st;
        snprintf(dir, sizeof(dir), "%s/n%zu", cs_test_tmpdir("reclog_alloc"), n);
        csi_reclog_config_init(&cfg);
        cfg.segment_bytes = 4096;
        cfg.index_interval = 64;
        /* A log with some segments to recover, then reopened with the failing allocator. */
        assert_int_equal(csi_reclog_open(dir, &cfg, &l, NULL), CS_OK);
        put_n(l, 0, 200, 1);
        csi_reclog_close(&l);
        cs_test_allocator_init(&ta, n);
        cfg.allocator = &ta.a;
        st = csi_reclog_open(dir, &cfg, &l, NULL);
        if (st == CS_OK) {
            uint64_t next;
            char key[] = "k";
            uint8_t d[100] = {0};
            csi_reclog_record r = {key, 1, d, sizeof(d)};
            for (int i = 0; i < 100 && st == CS_OK; i++) {
                st = csi_reclog_append(l, &r, 1, 2, NULL);
            }
            memset(&g, 0, sizeof(g));
            cs_status rs = csi_reclog_read(l, 0, 1000, SIZE_MAX, collect, &g, &next);
            assert_true(rs == CS_OK || rs == CS_E_NOMEM);
            csi_reclog_close(&l);
        } else {
            assert_int_equal(st, CS_E_NOMEM);
        }
        assert_int_equal(ta.live, 0);
        if (ta.calls < n) {
            break; /* every allocation has been failed once */
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_read_reopen),
        cmocka_unit_test(test_torn_tail_cut),
        cmocka_unit_test(test_prealloc_crash_image),
        cmocka_unit_test(test_segments_seek_trim),
        cmocka_unit_test(test_big_records),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_write_then_sync),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
