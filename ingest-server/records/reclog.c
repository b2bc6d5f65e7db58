/* SPDX-License-Identifier: Apache-2.0 */
/* The record log of one shard: segment files of checksummed records, appends made durable by
 * group commit (one fdatasync for every appender waiting), reads of durable records through a
 * sparse in-memory index, recovery that cuts torn tails, retention by whole segments.
 * Invariants: docs/internals/RECORDS.md. */
#define _GNU_SOURCE
#include "reclog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "media.h" /* cs_media_crc32c */

#define MOD "reclog"
#define READ_CHUNK (256u * 1024u)
/* Preallocation of the active segment (see seg_prealloc): the zero-filled space ahead of the
 * records grows by the segment's size so far, at least PREALLOC_MIN, at most PREALLOC_MAX. */
#define PREALLOC_MIN (64u * 1024u)
#define PREALLOC_MAX (4u * 1024u * 1024u)
#define ZERO_CHUNK (64u * 1024u)

struct idx_entry {
    uint64_t offset; /* first record at or after pos */
    uint64_t pos;
    uint64_t ms;
};

struct seg {
    uint64_t base;    /* offset of its first record (the file name) */
    uint64_t end;     /* offset after its last written record */
    uint64_t bytes;   /* bytes written */
    uint64_t alloc;   /* the file's size, always >= bytes: zeros after the records */
    uint64_t last_ms; /* arrival of its newest record (0: empty) */
    int fd;
    unsigned refs; /* the log's list holds one; each reader and syncer one more */
    bool removed;  /* unlinked: close when refs drop to 0 */
    struct idx_entry *idx;
    size_t idx_n, idx_cap;
    uint64_t idx_next_pos; /* add an index entry for the record at or after this position */
};

struct csi_reclog {
    csi_reclog_config cfg;
    const cs_allocator *a;
    char *dir;
    cs_mutex mu;
    cs_cond cv;
    struct seg **segs; /* ordered by base; the last is the active one */
    size_t nsegs, segs_cap;
    uint64_t next_offset; /* next to assign */
    uint64_t visible_end; /* offsets below are durable and readable */
    uint64_t last_ms;
    bool syncing; /* a group sync runs outside the lock */
    bool broken;  /* a failed write could not be undone */
    uint8_t *wbuf;
    size_t wcap;
};

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* Header: len u32 (whole record) | crc u32 (of bytes 8..len) | offset u64 | arrival_ms u64 |
 * data_len u32 | key_len u16 | reserved u16 (0) | key | data. */
struct rec_hdr {
    uint32_t len;
    uint64_t offset, ms;
    uint32_t data_len;
    uint32_t key_len;
};

/* Checks one record at p (avail bytes); 1 = valid (h filled), 0 = incomplete, -1 = corrupt. */
static int parse_rec(const uint8_t *p, size_t avail, struct rec_hdr *h)
{
    if (avail < CSI_RECLOG_HEADER) {
        return 0;
    }
    h->len = get32(p);
    h->offset = get64(p + 8);
    h->ms = get64(p + 16);
    h->data_len = get32(p + 24);
    h->key_len = (uint32_t)p[28] | (uint32_t)p[29] << 8;
    if (h->key_len == 0 || h->key_len > CSI_RECLOG_MAX_KEY || h->data_len > CSI_RECLOG_MAX_DATA ||
        p[30] != 0 || p[31] != 0 ||
        h->len != CSI_RECLOG_HEADER + (uint64_t)h->key_len + h->data_len) {
        return -1;
    }
    if (avail < h->len) {
        return 0;
    }
    if (cs_media_crc32c(0, p + 8, h->len - 8u) != get32(p + 4)) {
        return -1;
    }
    return 1;
}

void csi_reclog_config_init(csi_reclog_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->segment_bytes = 64u * 1024u * 1024u;
    cfg->index_interval = 4096;
    cfg->sync = true;
}

static char *seg_path(csi_reclog *l, uint64_t base)
{
    size_t n = strlen(l->dir) + 32;
    char *p = cs_alloc(l->a, n);
    if (p != NULL) {
        snprintf(p, n, "%s/%020" PRIu64 ".seg", l->dir, base);
    }
    return p;
}

static void seg_unref(csi_reclog *l, struct seg *s)
{
    if (--s->refs > 0) {
        return;
    }
    if (s->fd >= 0) {
        close(s->fd);
    }
    cs_freep(l->a, &s->idx);
    cs_freep(l->a, &s);
}

static cs_status seg_index_add(csi_reclog *l, struct seg *s, uint64_t offset, uint64_t pos,
                               uint64_t ms)
{
    if (pos < s->idx_next_pos && s->idx_n > 0) {
        return CS_OK;
    }
    if (s->idx_n == s->idx_cap) {
        size_t cap = s->idx_cap ? s->idx_cap * 2 : 64;
        struct idx_entry *n = cs_calloc(l->a, cap, sizeof(*n));
        if (n == NULL) {
            return CS_E_NOMEM;
        }
        if (s->idx_n > 0) {
            memcpy(n, s->idx, s->idx_n * sizeof(*n));
        }
        cs_freep(l->a, &s->idx);
        s->idx = n;
        s->idx_cap = cap;
    }
    s->idx[s->idx_n].offset = offset;
    s->idx[s->idx_n].pos = pos;
    s->idx[s->idx_n].ms = ms;
    s->idx_n++;
    s->idx_next_pos = pos + l->cfg.index_interval;
    return CS_OK;
}

static cs_status segs_push(csi_reclog *l, struct seg *s)
{
    if (l->nsegs == l->segs_cap) {
        size_t cap = l->segs_cap ? l->segs_cap * 2 : 16;
        struct seg **n = cs_calloc(l->a, cap, sizeof(*n));
        if (n == NULL) {
            return CS_E_NOMEM;
        }
        if (l->nsegs > 0) {
            memcpy(n, l->segs, l->nsegs * sizeof(*n));
        }
        cs_freep(l->a, &l->segs);
        l->segs = n;
        l->segs_cap = cap;
    }
    l->segs[l->nsegs++] = s;
    return CS_OK;
}

static cs_status fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cs_status st = CS_OK;
    if (fd < 0) {
        return CS_E_IO;
    }
    if (fsync(fd) != 0) {
        st = CS_E_IO;
    }
    close(fd);
    return st;
}

static cs_status io_status(int err)
{
    return err == ENOSPC || err == EDQUOT ? CS_E_NOSPACE : CS_E_IO;
}

/* Creates an empty segment at `base` and makes it the active one (lock held or single user). */
static cs_status seg_create(csi_reclog *l, uint64_t base)
{
    struct seg *s = NULL;
    char *path = seg_path(l, base);
    cs_status st = CS_E_NOMEM;

    if (path == NULL) {
        goto out;
    }
    s = cs_calloc(l->a, 1, sizeof(*s));
    if (s == NULL) {
        goto out;
    }
    s->base = s->end = base;
    s->refs = 1;
    s->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (s->fd < 0) {
        st = io_status(errno);
        CS_LOG_ERROR(l->cfg.logger, MOD, "cannot create %s: %s", path, strerror(errno));
        goto out;
    }
    if (l->cfg.sync && (st = fsync_dir(l->dir)) != CS_OK) {
        goto out;
    }
    if ((st = segs_push(l, s)) != CS_OK) {
        goto out;
    }
    s = NULL; /* the list owns it */
    st = CS_OK;
out:
    if (s != NULL) {
        if (s->fd >= 0) {
            unlink(path);
        }
        seg_unref(l, s);
    }
    cs_freep(l->a, &path);
    return st;
}

/* 1 when bytes [pos, size) of the segment are all zeros (preallocated, never written), 0 when
 * some are not, -1 when they cannot be read. */
static int tail_is_zero(struct seg *s, uint8_t *buf, size_t cap, uint64_t pos, off_t size)
{
    while (pos < (uint64_t)size) {
        size_t want = (uint64_t)size - pos < cap ? (size_t)((uint64_t)size - pos) : cap;
        ssize_t got = pread(s->fd, buf, want, (off_t)pos);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            return got < 0 ? -1 : 1; /* shorter than fstat said: nothing more */
        }
        for (ssize_t i = 0; i < got; i++) {
            if (buf[i] != 0) {
                return 0;
            }
        }
        pos += (uint64_t)got;
    }
    return 1;
}

/* Reads a segment file: checks every record, builds the index, cuts a torn or corrupt tail. */
static cs_status seg_recover(csi_reclog *l, struct seg *s, csi_reclog_recovery *rec)
{
    size_t cap = READ_CHUNK + CSI_RECLOG_HEADER;
    uint8_t *buf = cs_alloc(l->a, cap);
    uint64_t pos = 0, fill_pos = 0;
    size_t have = 0, at = 0;
    struct stat sb;
    cs_status st = CS_OK;
    int zero_tail;

    if (buf == NULL) {
        return CS_E_NOMEM;
    }
    if (fstat(s->fd, &sb) != 0) {
        st = CS_E_IO;
        goto out;
    }
    for (;;) {
        struct rec_hdr h;
        int r = parse_rec(buf + at, have - at, &h);
        if (r == 1 && h.offset != s->end) {
            r = -1; /* a record out of sequence is corrupt too */
        }
        if (r == 1) {
            if ((st = seg_index_add(l, s, h.offset, pos, h.ms)) != CS_OK) {
                goto out;
            }
            s->end = h.offset + 1;
            s->last_ms = h.ms;
            pos += h.len;
            at += h.len;
            rec->records++;
            continue;
        }
        if (r == 0 && fill_pos + have < (uint64_t)sb.st_size) {
            /* Need more bytes: keep the partial record, grow the buffer for a big one. */
            size_t keep = have - at;
            ssize_t got;
            size_t need = keep >= CSI_RECLOG_HEADER ? get32(buf + at) : CSI_RECLOG_HEADER;
            if (need > cap) {
                uint8_t *nb = cs_alloc(l->a, need + READ_CHUNK);
                if (nb == NULL) {
                    st = CS_E_NOMEM;
                    goto out;
                }
                memcpy(nb, buf + at, keep);
                cs_freep(l->a, &buf);
                buf = nb;
                cap = need + READ_CHUNK;
            } else {
                memmove(buf, buf + at, keep);
            }
            fill_pos += at;
            at = 0;
            have = keep;
            got = pread(s->fd, buf + have, cap - have, (off_t)(fill_pos + have));
            if (got < 0) {
                st = CS_E_IO;
                goto out;
            }
            if (got == 0) {
                r = 0;
            } else {
                have += (size_t)got;
                continue;
            }
        }
        break; /* end of file, a torn record, or a corrupt one: the log ends at pos */
    }
    zero_tail = (uint64_t)sb.st_size > pos ? tail_is_zero(s, buf, cap, pos, sb.st_size) : 0;
    if (zero_tail < 0) {
        st = CS_E_IO;
        goto out;
    }
    if (zero_tail > 0) {
        /* Only zeros after the last record: preallocated space, not a torn write. Cut it so
         * the file's size is its records again (not synced: if the cut is lost, the tail is
         * still zeros). */
        if (ftruncate(s->fd, (off_t)pos) != 0) {
            st = CS_E_IO;
            goto out;
        }
    } else if ((uint64_t)sb.st_size > pos) {
        CS_LOG_WARN(l->cfg.logger, MOD,
                    "%s: segment %" PRIu64 ": cutting %" PRIu64
                    " torn or corrupt bytes at %" PRIu64,
                    l->dir, s->base, (uint64_t)sb.st_size - pos, pos);
        rec->truncated_bytes += (uint64_t)sb.st_size - pos;
        if (ftruncate(s->fd, (off_t)pos) != 0 || (l->cfg.sync && fdatasync(s->fd) != 0)) {
            st = CS_E_IO;
            goto out;
        }
    }
    s->bytes = s->alloc = pos;
out:
    cs_freep(l->a, &buf);
    return st;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static cs_status mkdir_p(const char *dir)
{
    char tmp[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(tmp)) {
        return CS_E_INVAL;
    }
    memcpy(tmp, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char c = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
                return CS_E_IO;
            }
            tmp[i] = c;
        }
    }
    return CS_OK;
}

/* Lists the segment bases in dir (sorted); removes files that are not segments. */
static cs_status list_segments(csi_reclog *l, uint64_t **bases, size_t *count,
                               csi_reclog_recovery *rec)
{
    DIR *d = opendir(l->dir);
    struct dirent *de;
    size_t n = 0, cap = 0;
    uint64_t *v = NULL;
    cs_status st = CS_OK;

    if (d == NULL) {
        return CS_E_IO;
    }
    while ((de = readdir(d)) != NULL) {
        char *end = NULL;
        unsigned long long b;
        if (de->d_name[0] == '.') {
            continue;
        }
        b = strtoull(de->d_name, &end, 10);
        if (strlen(de->d_name) != 24 || end != de->d_name + 20 || strcmp(end, ".seg") != 0) {
            /* Not ours to keep (an editor's file, a temporary name): log and remove. */
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", l->dir, de->d_name);
            CS_LOG_WARN(l->cfg.logger, MOD, "removing stray file %s", path);
            if (unlink(path) == 0) {
                rec->removed_files++;
            }
            continue;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            uint64_t *nv = cs_calloc(l->a, ncap, sizeof(*nv));
            if (nv == NULL) {
                st = CS_E_NOMEM;
                break;
            }
            if (n > 0) {
                memcpy(nv, v, n * sizeof(*nv));
            }
            cs_freep(l->a, &v);
            v = nv;
            cap = ncap;
        }
        v[n++] = b;
    }
    closedir(d);
    if (st != CS_OK) {
        cs_freep(l->a, &v);
        return st;
    }
    if (n > 0) {
        qsort(v, n, sizeof(*v), cmp_u64);
    }
    *bases = v;
    *count = n;
    return CS_OK;
}

cs_status csi_reclog_open(const char *dir, const csi_reclog_config *cfg, csi_reclog **out,
                          csi_reclog_recovery *rec_out)
{
    csi_reclog *l = NULL;
    csi_reclog_recovery rec = {0};
    uint64_t *bases = NULL;
    size_t nbases = 0, i;
    cs_status st = CS_E_NOMEM;
    const cs_allocator *a;

    if (dir == NULL || cfg == NULL || out == NULL || cfg->segment_bytes < 4096 ||
        cfg->index_interval == 0) {
        return CS_E_INVAL;
    }
    *out = NULL;
    a = cfg->allocator ? cfg->allocator : cs_allocator_default();
    l = cs_calloc(a, 1, sizeof(*l));
    if (l == NULL) {
        return CS_E_NOMEM;
    }
    l->cfg = *cfg;
    l->a = a;
    l->dir = cs_alloc(a, strlen(dir) + 1);
    if (l->dir == NULL) {
        cs_freep(a, &l);
        return CS_E_NOMEM;
    }
    memcpy(l->dir, dir, strlen(dir) + 1);
    if (cs_mutex_init(&l->mu) != CS_OK) {
        cs_freep(a, &l->dir);
        cs_freep(a, &l);
        return CS_E_NOMEM;
    }
    if (cs_cond_init(&l->cv) != CS_OK) {
        cs_mutex_destroy(&l->mu);
        cs_freep(a, &l->dir);
        cs_freep(a, &l);
        return CS_E_NOMEM;
    }
    if ((st = mkdir_p(dir)) != CS_OK) {
        CS_LOG_ERROR(cfg->logger, MOD, "cannot create %s: %s", dir, strerror(errno));
        goto fail;
    }
    if ((st = list_segments(l, &bases, &nbases, &rec)) != CS_OK) {
        goto fail;
    }
    for (i = 0; i < nbases; i++) {
        struct seg *s;
        char *path = seg_path(l, bases[i]);
        bool last = i + 1 == nbases;
        if (path == NULL) {
            st = CS_E_NOMEM;
            goto fail;
        }
        if (bases[i] < l->next_offset) {
            /* Overlaps the segment before: cannot be ours in order. */
            CS_LOG_WARN(cfg->logger, MOD, "removing overlapping segment %s", path);
            unlink(path);
            rec.removed_files++;
            cs_freep(a, &path);
            continue;
        }
        s = cs_calloc(a, 1, sizeof(*s));
        if (s == NULL) {
            cs_freep(a, &path);
            st = CS_E_NOMEM;
            goto fail;
        }
        s->base = s->end = bases[i];
        s->refs = 1;
        s->fd = open(path, O_RDWR | O_CLOEXEC);
        if (s->fd < 0 || (st = seg_recover(l, s, &rec)) != CS_OK) {
            st = s->fd < 0 ? CS_E_IO : st;
            CS_LOG_ERROR(cfg->logger, MOD, "cannot read %s: %s", path, cs_status_str(st));
            seg_unref(l, s);
            cs_freep(a, &path);
            goto fail;
        }
        if (s->end == s->base && !last) {
            unlink(path); /* an empty sealed segment carries nothing */
            rec.removed_files++;
            seg_unref(l, s);
            cs_freep(a, &path);
            continue;
        }
        cs_freep(a, &path);
        if ((st = segs_push(l, s)) != CS_OK) {
            seg_unref(l, s);
            goto fail;
        }
        l->next_offset = s->end;
        if (s->last_ms > l->last_ms) {
            l->last_ms = s->last_ms;
        }
    }
    if (l->nsegs == 0 && (st = seg_create(l, 0)) != CS_OK) {
        goto fail;
    }
    l->visible_end = l->next_offset;
    rec.segments = (uint32_t)l->nsegs;
    cs_freep(a, &bases);
    if (rec_out != NULL) {
        *rec_out = rec;
    }
    *out = l;
    return CS_OK;
fail:
    cs_freep(a, &bases);
    csi_reclog_close(&l);
    return st;
}

void csi_reclog_close(csi_reclog **lp)
{
    csi_reclog *l;
    size_t i;
    if (lp == NULL || *lp == NULL) {
        return;
    }
    l = *lp;
    if (l->nsegs > 0) {
        struct seg *act = l->segs[l->nsegs - 1];
        if (act->alloc > act->bytes && act->fd >= 0 && ftruncate(act->fd, (off_t)act->bytes) != 0) {
            CS_LOG_WARN(l->cfg.logger, MOD, "%s: cannot cut the preallocated tail: %s", l->dir,
                        strerror(errno)); /* zeros: the next open cuts them */
        }
    }
    for (i = 0; i < l->nsegs; i++) {
        seg_unref(l, l->segs[i]);
    }
    cs_freep(l->a, &l->segs);
    cs_freep(l->a, &l->wbuf);
    cs_cond_destroy(&l->cv);
    cs_mutex_destroy(&l->mu);
    cs_freep(l->a, &l->dir);
    cs_freep(l->a, lp);
}

/* Seals the active segment and starts a new one (lock held). */
static cs_status roll(csi_reclog *l)
{
    struct seg *act = l->segs[l->nsegs - 1];
    if (act->alloc > act->bytes) {
        /* A sealed segment is exactly its records (only zeros are cut; if the cut is lost in a
         * crash, recovery cuts them again). */
        if (ftruncate(act->fd, (off_t)act->bytes) != 0) {
            return io_status(errno);
        }
        act->alloc = act->bytes;
    }
    if (l->cfg.sync && fdatasync(act->fd) != 0) {
        return io_status(errno);
    }
    return seg_create(l, l->next_offset);
}

/* Makes room for `total` more bytes in the active segment ahead of time (lock held): reserves
 * the blocks (fallocate) and fills them with zeros, so the appends that follow overwrite
 * allocated, initialised blocks of a file whose size does not change, and their fdatasync has
 * only data to write: no block allocation, no inode (size, extents) to write or journal.
 * The zeros and the new size become durable with the next sync, before any record written
 * into them is acknowledged. Best effort: when the disk cannot hold the chunk (or the file
 * system has no fallocate and the zeros cannot be written), nothing changes and the batch is
 * written as before, past the end of the file, where a full disk is reported as ever. */
static void seg_prealloc(csi_reclog *l, struct seg *s, size_t total)
{
    static const uint8_t zeros[ZERO_CHUNK];
    uint64_t grow = s->bytes < PREALLOC_MIN   ? PREALLOC_MIN
                    : s->bytes > PREALLOC_MAX ? PREALLOC_MAX
                                              : s->bytes;
    uint64_t want = s->bytes + total + grow, pos;

    if (want > l->cfg.segment_bytes) {
        want = s->bytes + total > l->cfg.segment_bytes ? s->bytes + total : l->cfg.segment_bytes;
    }
    want = (want + 4095u) & ~(uint64_t)4095u;
    if (want <= s->alloc) {
        return;
    }
    if (fallocate(s->fd, 0, (off_t)s->alloc, (off_t)(want - s->alloc)) != 0 &&
        errno != EOPNOTSUPP && errno != ENOSYS) {
        goto undo; /* ENOSPC, EDQUOT, EFBIG...: the plain write path says what is wrong */
    }
    for (pos = s->alloc; pos < want;) {
        struct iovec iov[64];
        uint64_t left = want - pos;
        int n = 0;
        ssize_t w;
        while (n < 64 && left > 0) {
            iov[n].iov_base = (void *)zeros;
            iov[n].iov_len = left < ZERO_CHUNK ? (size_t)left : ZERO_CHUNK;
            left -= iov[n].iov_len;
            n++;
        }
        w = pwritev(s->fd, iov, n, (off_t)pos);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            goto undo;
        }
        pos += (uint64_t)w;
    }
    s->alloc = want;
    return;
undo:
    /* Give back what was reserved or written past the records (only zeros). */
    if (ftruncate(s->fd, (off_t)s->alloc) != 0) {
        CS_LOG_WARN(l->cfg.logger, MOD, "%s: cannot cut a failed preallocation: %s", l->dir,
                    strerror(errno));
    }
}

cs_status csi_reclog_write(csi_reclog *l, const csi_reclog_record *recs, size_t n,
                           uint64_t arrival_ms, uint64_t *first, uint64_t *end)
{
    size_t i, total = 0;
    struct seg *act;
    uint64_t first_off, pos;
    uint8_t *p;
    cs_status st = CS_OK;

    if (l == NULL || recs == NULL || n == 0) {
        return CS_E_INVAL;
    }
    for (i = 0; i < n; i++) {
        if (recs[i].key == NULL || recs[i].key_len == 0 || recs[i].key_len > CSI_RECLOG_MAX_KEY ||
            recs[i].data_len > CSI_RECLOG_MAX_DATA || (recs[i].data == NULL && recs[i].data_len)) {
            return CS_E_INVAL;
        }
        total += CSI_RECLOG_HEADER + recs[i].key_len + recs[i].data_len;
    }

    cs_mutex_lock(&l->mu);
    if (l->broken) {
        st = CS_E_IO;
        goto unlock;
    }
    act = l->segs[l->nsegs - 1];
    if (act->bytes > 0 && act->bytes + total > l->cfg.segment_bytes && (st = roll(l)) != CS_OK) {
        goto unlock;
    }
    act = l->segs[l->nsegs - 1];
    if (l->cfg.sync && act->bytes + total > act->alloc) {
        seg_prealloc(l, act, total);
    }
    if (total > l->wcap) {
        uint8_t *nb = cs_alloc(l->a, total);
        if (nb == NULL) {
            st = CS_E_NOMEM;
            goto unlock;
        }
        cs_freep(l->a, &l->wbuf);
        l->wbuf = nb;
        l->wcap = total;
    }
    if (arrival_ms < l->last_ms) {
        arrival_ms = l->last_ms;
    }
    first_off = l->next_offset;
    p = l->wbuf;
    for (i = 0; i < n; i++) {
        uint32_t len = (uint32_t)(CSI_RECLOG_HEADER + recs[i].key_len + recs[i].data_len);
        put32(p, len);
        put64(p + 8, first_off + i);
        put64(p + 16, arrival_ms);
        put32(p + 24, (uint32_t)recs[i].data_len);
        p[28] = (uint8_t)recs[i].key_len;
        p[29] = (uint8_t)(recs[i].key_len >> 8);
        p[30] = p[31] = 0;
        memcpy(p + CSI_RECLOG_HEADER, recs[i].key, recs[i].key_len);
        if (recs[i].data_len > 0) {
            memcpy(p + CSI_RECLOG_HEADER + recs[i].key_len, recs[i].data, recs[i].data_len);
        }
        put32(p + 4, cs_media_crc32c(0, p + 8, len - 8u));
        p += len;
    }
    for (size_t done = 0; done < total;) {
        ssize_t w = pwrite(act->fd, l->wbuf + done, total - done, (off_t)(act->bytes + done));
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            st = w < 0 ? io_status(errno) : CS_E_IO;
            CS_LOG_ERROR(l->cfg.logger, MOD, "%s: write failed: %s", l->dir,
                         w < 0 ? strerror(errno) : "short write");
            /* Undo: nothing of this batch may be found by recovery either. */
            if (ftruncate(act->fd, (off_t)act->bytes) != 0) {
                l->broken = true;
            }
            act->alloc = act->bytes;
            goto unlock;
        }
        done += (size_t)w;
    }
    /* Index the new records (at most one entry per interval). */
    pos = act->bytes;
    for (i = 0; i < n; i++) {
        if (pos >= act->idx_next_pos || act->idx_n == 0) {
            if ((st = seg_index_add(l, act, first_off + i, pos, arrival_ms)) != CS_OK) {
                break; /* the index is sparse anyway: a missing entry only slows reads */
            }
        }
        pos += CSI_RECLOG_HEADER + recs[i].key_len + recs[i].data_len;
    }
    st = CS_OK;
    act->bytes += total;
    if (act->bytes > act->alloc) {
        act->alloc = act->bytes; /* written past the preallocated space: the file grew */
    }
    act->end = first_off + n;
    act->last_ms = arrival_ms;
    l->last_ms = arrival_ms;
    l->next_offset = first_off + n;
    if (first != NULL) {
        *first = first_off;
    }
    if (end != NULL) {
        *end = l->next_offset;
    }
unlock:
    cs_mutex_unlock(&l->mu);
    return st;
}

cs_status csi_reclog_sync(csi_reclog *l, uint64_t target_end)
{
    cs_status st = CS_OK;

    if (l == NULL) {
        return CS_E_INVAL;
    }
    cs_mutex_lock(&l->mu);
    /* Group commit: one appender syncs for everyone written so far; the others wait for it. */
    while (l->visible_end < target_end) {
        if (!l->syncing) {
            struct seg *s = l->segs[l->nsegs - 1];
            uint64_t upto = l->next_offset;
            int rc = 0;
            l->syncing = true;
            s->refs++;
            cs_mutex_unlock(&l->mu);
            if (l->cfg.sync) {
                rc = fdatasync(s->fd);
            }
            cs_mutex_lock(&l->mu);
            seg_unref(l, s);
            l->syncing = false;
            if (rc != 0) {
                /* The bytes may or may not be on disk: the log cannot say which, so it stops. */
                CS_LOG_ERROR(l->cfg.logger, MOD, "%s: fdatasync failed: %s", l->dir,
                             strerror(errno));
                l->broken = true;
                st = CS_E_IO;
                cs_cond_broadcast(&l->cv);
                goto unlock;
            }
            if (upto > l->visible_end) {
                l->visible_end = upto;
            }
            cs_cond_broadcast(&l->cv);
            if (l->cfg.on_durable != NULL) {
                cs_mutex_unlock(&l->mu);
                l->cfg.on_durable(l->cfg.ctx, upto);
                cs_mutex_lock(&l->mu);
            }
        } else {
            cs_cond_wait(&l->cv, &l->mu);
            if (l->broken && l->visible_end < target_end) {
                st = CS_E_IO;
                goto unlock;
            }
        }
    }
unlock:
    cs_mutex_unlock(&l->mu);
    return st;
}

cs_status csi_reclog_append(csi_reclog *l, const csi_reclog_record *recs, size_t n,
                            uint64_t arrival_ms, uint64_t *first)
{
    uint64_t end;
    cs_status st = csi_reclog_write(l, recs, n, arrival_ms, first, &end);
    return st == CS_OK ? csi_reclog_sync(l, end) : st;
}

void csi_reclog_bounds(csi_reclog *l, uint64_t *first, uint64_t *end)
{
    cs_mutex_lock(&l->mu);
    if (first != NULL) {
        *first = l->segs[0]->base < l->visible_end ? l->segs[0]->base : l->visible_end;
    }
    if (end != NULL) {
        *end = l->visible_end;
    }
    cs_mutex_unlock(&l->mu);
}

uint64_t csi_reclog_written_end(csi_reclog *l)
{
    uint64_t v;
    cs_mutex_lock(&l->mu);
    v = l->next_offset;
    cs_mutex_unlock(&l->mu);
    return v;
}

/* Index of the segment holding `offset` (or the first after it); nsegs when none (lock held). */
static size_t find_seg(csi_reclog *l, uint64_t offset)
{
    size_t lo = 0, hi = l->nsegs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->segs[mid]->end <= offset) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Byte position in s of the index entry at or before `offset` (lock held). */
static void seg_seek(const struct seg *s, uint64_t offset, uint64_t *pos, uint64_t *at)
{
    size_t lo = 0, hi = s->idx_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->idx[mid].offset <= offset) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo == 0) {
        *pos = 0;
        *at = s->base;
    } else {
        *pos = s->idx[lo - 1].pos;
        *at = s->idx[lo - 1].offset;
    }
}

cs_status csi_reclog_read(csi_reclog *l, uint64_t from, size_t max_records, size_t max_bytes,
                          csi_reclog_read_fn fn, void *ctx, uint64_t *next)
{
    uint8_t *buf = NULL;
    size_t cap = 0, count = 0, bytes = 0;
    cs_status st = CS_OK;
    bool stop = false;

    if (l == NULL || fn == NULL || next == NULL) {
        return CS_E_INVAL;
    }
    while (!stop && count < max_records) {
        struct seg *s;
        uint64_t visible, pos, off, seg_end;
        size_t si, have = 0, at = 0;
        uint64_t fill_pos;

        cs_mutex_lock(&l->mu);
        visible = l->visible_end;
        si = find_seg(l, from);
        if (si == l->nsegs || from >= visible) {
            cs_mutex_unlock(&l->mu);
            break;
        }
        s = l->segs[si];
        if (from < s->base) {
            from = s->base; /* trimmed, or a gap left by recovery */
        }
        seg_seek(s, from, &pos, &off);
        seg_end = s->end;
        s->refs++;
        cs_mutex_unlock(&l->mu);

        fill_pos = pos;
        while (!stop && count < max_records && off < visible && off < seg_end) {
            struct rec_hdr h;
            int r = have > at ? parse_rec(buf + at, have - at, &h) : 0; /* buf NULL at first */
            if (r == 1) {
                if (h.offset != off) {
                    r = -1;
                }
            }
            if (r == 1) {
                if (off >= from) {
                    csi_reclog_entry e = {h.offset,
                                          h.ms,
                                          (const char *)buf + at + CSI_RECLOG_HEADER,
                                          h.key_len,
                                          buf + at + CSI_RECLOG_HEADER + h.key_len,
                                          h.data_len};
                    if (count > 0 && bytes + h.data_len > max_bytes) {
                        stop = true;
                        break;
                    }
                    if (!fn(ctx, &e)) {
                        stop = true;
                        break;
                    }
                    count++;
                    bytes += h.data_len;
                    from = off + 1;
                }
                off++;
                at += h.len;
                continue;
            }
            if (r < 0) {
                CS_LOG_ERROR(l->cfg.logger, MOD, "%s: corrupt record at offset %" PRIu64, l->dir,
                             off);
                st = CS_E_IO;
                stop = true;
                break;
            }
            /* Incomplete: refill. */
            {
                size_t keep = have - at, need;
                ssize_t got;
                need = keep >= CSI_RECLOG_HEADER ? get32(buf + at) : CSI_RECLOG_HEADER;
                if (need < READ_CHUNK) {
                    need = READ_CHUNK;
                }
                if (need > cap) {
                    uint8_t *nb = cs_alloc(l->a, need);
                    if (nb == NULL) {
                        st = CS_E_NOMEM;
                        stop = true;
                        break;
                    }
                    if (keep > 0) {
                        memcpy(nb, buf + at, keep);
                    }
                    cs_freep(l->a, &buf);
                    buf = nb;
                    cap = need;
                } else if (keep > 0) {
                    memmove(buf, buf + at, keep);
                }
                fill_pos += at;
                at = 0;
                have = keep;
                /* Records below `visible` are complete on disk; bytes after them may be
                 * mid-write, and are never parsed (the loop stops at `visible`). */
                got = pread(s->fd, buf + have, cap - have, (off_t)(fill_pos + have));
                if (got <= 0) {
                    if (got < 0) {
                        st = CS_E_IO;
                    }
                    stop = got < 0;
                    break;
                }
                have += (size_t)got;
            }
        }
        cs_mutex_lock(&l->mu);
        seg_unref(l, s);
        cs_mutex_unlock(&l->mu);
        if (!stop && count < max_records && from < visible && off >= seg_end) {
            from = off; /* on to the next segment */
            continue;
        }
        break;
    }
    cs_freep(l->a, &buf);
    *next = from;
    return st;
}

struct seek_ctx {
    uint64_t ts;
    uint64_t found;
    bool ok;
};

static bool seek_fn(void *ctx, const csi_reclog_entry *e)
{
    struct seek_ctx *c = ctx;
    if (e->arrival_ms >= c->ts) {
        c->found = e->offset;
        c->ok = true;
        return false;
    }
    return true;
}

cs_status csi_reclog_seek_time(csi_reclog *l, uint64_t ts_ms, uint64_t *offset)
{
    uint64_t from = 0, end, next;
    struct seek_ctx c = {ts_ms, 0, false};
    size_t i;
    bool any = false;
    cs_status st;

    if (l == NULL || offset == NULL) {
        return CS_E_INVAL;
    }
    cs_mutex_lock(&l->mu);
    end = l->visible_end;
    /* The first segment whose newest record is recent enough, then its index. */
    for (i = 0; i < l->nsegs; i++) {
        const struct seg *s = l->segs[i];
        if (s->end > s->base && s->last_ms >= ts_ms) {
            size_t j;
            from = s->base;
            for (j = 0; j < s->idx_n && s->idx[j].ms < ts_ms; j++) {
                from = s->idx[j].offset;
            }
            any = true;
            break;
        }
    }
    cs_mutex_unlock(&l->mu);
    if (!any) {
        *offset = end;
        return CS_OK;
    }
    while (!c.ok && from < end) {
        st = csi_reclog_read(l, from, 4096, SIZE_MAX, seek_fn, &c, &next);
        if (st != CS_OK) {
            return st;
        }
        if (next == from) {
            break;
        }
        from = next;
    }
    *offset = c.ok ? c.found : end;
    return CS_OK;
}

cs_status csi_reclog_trim(csi_reclog *l, uint64_t cutoff_ms, uint64_t *removed)
{
    uint64_t n = 0;
    cs_status st = CS_OK;

    if (l == NULL) {
        return CS_E_INVAL;
    }
    cs_mutex_lock(&l->mu);
    while (l->nsegs > 0) {
        struct seg *s = l->segs[0];
        char *path;
        if (s->end == s->base || s->last_ms >= cutoff_ms || s->end > l->visible_end) {
            break;
        }
        if (l->nsegs == 1) {
            if ((st = roll(l)) != CS_OK) {
                break;
            }
        }
        path = seg_path(l, s->base);
        if (path == NULL) {
            st = CS_E_NOMEM;
            break;
        }
        /* Out of the list first, then off the disk: no new reader can find it. */
        memmove(l->segs, l->segs + 1, (l->nsegs - 1) * sizeof(*l->segs));
        l->nsegs--;
        if (unlink(path) != 0) {
            CS_LOG_WARN(l->cfg.logger, MOD, "cannot remove %s: %s", path, strerror(errno));
        }
        cs_freep(l->a, &path);
        n += s->end - s->base;
        s->removed = true;
        seg_unref(l, s);
    }
    cs_mutex_unlock(&l->mu);
    if (removed != NULL) {
        *removed = n;
    }
    return st;
}

cs_status csi_reclog_destroy(csi_reclog **lp)
{
    csi_reclog *l;
    cs_status st = CS_OK;
    size_t i;
    if (lp == NULL || *lp == NULL) {
        return CS_E_INVAL;
    }
    l = *lp;
    for (i = 0; i < l->nsegs; i++) {
        char *path = seg_path(l, l->segs[i]->base);
        if (path == NULL || unlink(path) != 0) {
            st = path == NULL ? CS_E_NOMEM : CS_E_IO;
        }
        cs_freep(l->a, &path);
    }
    if (rmdir(l->dir) != 0) {
        st = CS_E_IO;
    }
    csi_reclog_close(lp);
    return st;
}
