/* SPDX-License-Identifier: Apache-2.0 */
/* The fs backend, the embedded default: each object is a file at `<fs_dir>/<key>`, written with
 * cs_atomic_file (temporary beside the target, fsync, rename, directory fsync), so a reader opens
 * either the old complete file or the new complete one. Directories are made on demand and their
 * parents fsynced; open-time recovery removes the temporaries (`*.tmp.*`) a crash left. Listing
 * walks the tree in key order (a directory sorts as its name plus '/'), pruning subtrees outside
 * the prefix or before start_after.
 *
 * Concurrent puts share work: a commit fdatasyncs its own temporary and renames it, then joins
 * the directory's group fsync (leader-follower per directory: renames made while an fsync of the
 * directory runs are covered by the next one, which one waiter runs for all), and returns once an
 * fsync that started after its rename succeeded. Directories known to exist (made or seen by an
 * earlier put) are not mkdir'ed again; a put that finds one removed by a concurrent delete makes
 * it again. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "store_int.h"

/* cs_atomic_file holds 1024-byte paths and adds ".tmp.XXXXXX" (11 bytes) to the target. */
#define FS_PATH_CAP 1024
#define FS_TMP_SUFFIX 11
#define FS_ROOT_MAX (FS_PATH_CAP - 1 - CS_STORE_KEY_MAX - FS_TMP_SUFFIX - 1)
#define FS_READ_CHUNK (64 * 1024)
/* A put retries its temporary's creation when a concurrent delete removed the emptied directory. */
#define FS_OPEN_TRIES 8

#define FS_DIR_BUCKETS 256

/* A commit waiting for an fsync of its directory (on the committing thread's stack). */
struct fs_sync_req {
    cs_status st;
    bool done;
    struct fs_sync_req *next;
};

/* One directory objects were put into: known to exist, and its group fsync. Kept until the store
 * is destroyed (one per stream directory). */
struct fs_dir {
    struct fs_dir *next; /* hash chain */
    bool known;          /* exists (made or seen by a put); cleared when found removed */
    bool syncing;        /* a commit is fsyncing it for the requests it took */
    struct fs_sync_req *pending;
    char path[]; /* absolute directory path */
};

struct fs_store {
    struct cs_store base;
    char root[FS_ROOT_MAX + 1];
    size_t root_len;
    uint64_t recovered_tmp;
    cs_mutex mu; /* guards dirs and every fs_dir's fields but path */
    cs_cond cv;  /* broadcast when a directory fsync finishes */
    struct fs_dir *dirs[FS_DIR_BUCKETS];
};

struct fs_writer {
    struct cs_store_writer base;
    cs_atomic_file af;
};

static cs_status errno_status(int e)
{
    switch (e) {
    case ENOENT:
        return CS_E_NOTFOUND;
    case EACCES:
    case EPERM:
    case EROFS:
        return CS_E_PERM;
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
        return CS_E_NOSPACE;
    case ENOTDIR:
    case EISDIR:
    case EEXIST:
        return CS_E_EXISTS;
    case ENOMEM:
        return CS_E_NOMEM;
    default:
        return CS_E_IO;
    }
}

static void key_path(const struct fs_store *fs, const char *key, char *path)
{
    size_t klen = strlen(key); /* checked: <= CS_STORE_KEY_MAX, so the path fits */

    memcpy(path, fs->root, fs->root_len);
    path[fs->root_len] = '/';
    memcpy(path + fs->root_len + 1, key, klen + 1);
}

static cs_status fsync_dir(const char *dir)
{
    cs_status s = CS_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0) {
        return errno_status(errno);
    }
    if (fsync(fd) != 0 && errno != EINVAL) { /* some file systems refuse directory fsync */
        s = errno_status(errno);
    }
    close(fd);
    return s;
}

/* The entry of directory `dir` (lock held), created on first use; NULL when out of memory. */
static struct fs_dir *dir_entry(struct fs_store *fs, const char *dir)
{
    size_t len = strlen(dir);
    uint32_t h = 2166136261u; /* FNV-1a */
    struct fs_dir *d;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (uint8_t)dir[i]) * 16777619u;
    }
    for (d = fs->dirs[h % FS_DIR_BUCKETS]; d != NULL; d = d->next) {
        if (strcmp(d->path, dir) == 0) {
            return d;
        }
    }
    d = cs_calloc(fs->base.alloc, 1, sizeof(*d) + len + 1);
    if (d == NULL) {
        return NULL;
    }
    memcpy(d->path, dir, len + 1);
    d->next = fs->dirs[h % FS_DIR_BUCKETS];
    fs->dirs[h % FS_DIR_BUCKETS] = d;
    return d;
}

/* Whether the directory holding object path `path` is known to exist. */
static bool dir_known(struct fs_store *fs, char *path)
{
    char *slash = strrchr(path, '/');
    struct fs_dir *d;
    bool known;
    *slash = '\0';
    cs_mutex_lock(&fs->mu);
    d = dir_entry(fs, path);
    known = d != NULL && d->known;
    cs_mutex_unlock(&fs->mu);
    *slash = '/';
    return known;
}

/* Records whether the directory holding object path `path` exists. */
static void dir_set_known(struct fs_store *fs, char *path, bool known)
{
    char *slash = strrchr(path, '/');
    struct fs_dir *d;
    *slash = '\0';
    cs_mutex_lock(&fs->mu);
    d = dir_entry(fs, path);
    if (d != NULL) {
        d->known = known;
    }
    cs_mutex_unlock(&fs->mu);
    *slash = '/';
}

/* Group fsync of directory `dir` after a rename into it: returns once an fsync of `dir` that
 * started after the call succeeded (or with its error). One waiter at a time runs the fsync for
 * every request queued before it started; requests queued meanwhile wait for the next one. */
static cs_status dir_sync(struct fs_store *fs, const char *dir)
{
    struct fs_sync_req req = {CS_OK, false, NULL};
    struct fs_dir *d;
    cs_mutex_lock(&fs->mu);
    d = dir_entry(fs, dir);
    if (d == NULL) {
        cs_mutex_unlock(&fs->mu);
        return fsync_dir(dir); /* no memory for the entry: fsync alone */
    }
    req.next = d->pending;
    d->pending = &req;
    while (!req.done) {
        if (!d->syncing) {
            struct fs_sync_req *batch = d->pending;
            cs_status s;
            d->pending = NULL;
            d->syncing = true;
            cs_mutex_unlock(&fs->mu);
            s = fsync_dir(dir);
            cs_mutex_lock(&fs->mu);
            d->syncing = false;
            while (batch != NULL) {
                struct fs_sync_req *next = batch->next; /* batch may vanish once done */
                batch->st = s;
                batch->done = true;
                batch = next;
            }
            cs_cond_broadcast(&fs->cv);
        } else {
            cs_cond_wait(&fs->cv, &fs->mu);
        }
    }
    cs_mutex_unlock(&fs->mu);
    return req.st;
}

/* Makes every directory of `path` below the root (not the last component), fsyncing the parent of
 * each one it creates so that the new entry survives a crash before the object's own rename. The
 * parent's fsync is the group one: streams starting together share the fsyncs of `streams/`. */
static cs_status make_parents(struct fs_store *fs, char *path)
{
    char *p = path + fs->root_len + 1;
    cs_status s;

    while ((p = strchr(p, '/')) != NULL) {
        *p = '\0';
        if (mkdir(path, 0777) == 0) {
            char *up = strrchr(path, '/');
            *up = '\0';
            s = dir_sync(fs, path);
            *up = '/';
        } else if (errno == EEXIST) {
            struct stat sb;
            if (stat(path, &sb) != 0) {
                s = errno_status(errno); /* removed meanwhile: CS_E_NOTFOUND, the caller retries */
            } else {
                s = S_ISDIR(sb.st_mode) ? CS_OK : CS_E_EXISTS;
            }
        } else {
            s = errno_status(errno);
        }
        *p = '/';
        if (s != CS_OK) {
            return s;
        }
        p++;
    }
    return CS_OK;
}

static cs_status fs_writer_open(cs_store *st, const char *key, cs_store_writer **out)
{
    struct fs_store *fs = (struct fs_store *)st;
    struct fs_writer *w;
    char path[FS_PATH_CAP];
    struct stat sb;
    cs_status s = CS_E_IO;
    int i;

    key_path(fs, key, path);
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        return CS_E_EXISTS; /* key is a prefix of other keys */
    }
    w = cs_calloc(st->alloc, 1, sizeof(*w));
    if (w == NULL) {
        return CS_E_NOMEM;
    }
    /* A concurrent delete may remove a directory it emptied at any point here; that shows as
     * CS_E_NOTFOUND, and trying again recreates it. */
    for (i = 0; i < FS_OPEN_TRIES; i++) {
        if (i > 0 || !dir_known(fs, path)) {
            s = make_parents(fs, path);
            if (s == CS_E_NOTFOUND) {
                continue;
            }
            if (s != CS_OK) {
                break;
            }
            dir_set_known(fs, path, true);
        }
        s = cs_atomic_file_open(&w->af, path);
        if (s == CS_E_IO) {
            s = errno_status(errno); /* ENOSPC (no inodes), EMFILE, ... */
        }
        if (s != CS_E_NOTFOUND) {
            break;
        }
        dir_set_known(fs, path, false); /* removed by a concurrent delete: make it again */
    }
    if (s != CS_OK) {
        CS_LOG_WARN(st->log, CSI_STORE_MODULE, "fs: cannot create a temporary for %s: %s", key,
                    cs_status_str(s));
        cs_freep(st->alloc, &w);
        return s;
    }
    *out = &w->base;
    return CS_OK;
}

static cs_status fs_writer_write(cs_store_writer *base, const void *data, size_t len)
{
    struct fs_writer *w = (struct fs_writer *)base;
    cs_status s = cs_atomic_file_write(&w->af, data, len);

    /* The platform maps ENOSPC; a full quota is the same condition for the server. */
    if (s == CS_E_IO && errno_status(errno) == CS_E_NOSPACE) {
        s = CS_E_NOSPACE;
    }
    return s;
}

static void fs_writer_abort(cs_store_writer *base)
{
    struct fs_writer *w = (struct fs_writer *)base;
    const cs_allocator *a = base->st->alloc;

    cs_atomic_file_abort(&w->af);
    cs_freep(a, &w);
}

/* As cs_atomic_file_commit (fdatasync, close, rename over the target, directory fsync), but the
 * directory fsync is shared with the commits into the same directory running at the same time. */
static cs_status fs_writer_commit(cs_store_writer *base)
{
    struct fs_writer *w = (struct fs_writer *)base;
    cs_store *st = base->st;
    cs_status s = CS_OK;
    char *slash;
    int rc;

    /* Delayed allocation can report a full disk only here, at fdatasync or close. */
    if (fdatasync(w->af.fd) != 0) {
        s = errno_status(errno) == CS_E_NOSPACE ? CS_E_NOSPACE : CS_E_IO;
        cs_atomic_file_abort(&w->af);
    } else {
        rc = close(w->af.fd);
        w->af.fd = -1;
        if (rc != 0 || rename(w->af.tmp_path, w->af.path) != 0) {
            s = errno_status(errno) == CS_E_NOSPACE ? CS_E_NOSPACE : CS_E_IO;
            unlink(w->af.tmp_path);
        } else {
            slash = strrchr(w->af.path, '/');
            *slash = '\0';
            s = dir_sync((struct fs_store *)st, w->af.path);
            *slash = '/';
            if (s != CS_OK && s != CS_E_NOSPACE) {
                s = CS_E_IO;
            }
        }
    }
    if (s != CS_OK) {
        CS_LOG_WARN(st->log, CSI_STORE_MODULE, "fs: commit of %s failed: %s", w->af.path,
                    cs_status_str(s));
    }
    cs_freep(st->alloc, &w);
    return s;
}

static cs_status fs_read(cs_store *st, const char *key, uint64_t offset, uint64_t length,
                         cs_store_read_fn fn, void *ctx, uint64_t *size)
{
    struct fs_store *fs = (struct fs_store *)st;
    char path[FS_PATH_CAP];
    uint8_t *buf = NULL;
    struct stat sb;
    uint64_t end;
    cs_status s = CS_OK;
    int fd;

    key_path(fs, key, path);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == EISDIR ? CS_E_NOTFOUND : errno_status(errno);
    }
    if (fstat(fd, &sb) != 0) {
        s = errno_status(errno);
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        s = CS_E_NOTFOUND;
        goto out;
    }
    if (size != NULL) {
        *size = (uint64_t)sb.st_size;
    }
    if (offset > (uint64_t)sb.st_size) {
        s = CS_E_RANGE;
        goto out;
    }
    end = (uint64_t)sb.st_size;
    if (length < end - offset) {
        end = offset + length;
    }
    if (end > offset) {
        buf = cs_alloc(st->alloc, FS_READ_CHUNK);
        if (buf == NULL) {
            s = CS_E_NOMEM;
            goto out;
        }
    }
    while (offset < end) {
        size_t want = end - offset < FS_READ_CHUNK ? (size_t)(end - offset) : FS_READ_CHUNK;
        ssize_t r = pread(fd, buf, want, (off_t)offset);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            /* Files are never written in place, so a short file is a damaged disk. */
            s = r < 0 ? errno_status(errno) : CS_E_IO;
            break;
        }
        s = fn(ctx, buf, (size_t)r);
        if (s != CS_OK) {
            break;
        }
        offset += (uint64_t)r;
    }
out:
    cs_freep(st->alloc, &buf);
    close(fd);
    return s;
}

static cs_status fs_head(cs_store *st, const char *key, uint64_t *size)
{
    char path[FS_PATH_CAP];
    struct stat sb;

    key_path((struct fs_store *)st, key, path);
    if (stat(path, &sb) != 0) {
        return errno == ENOTDIR ? CS_E_NOTFOUND : errno_status(errno);
    }
    if (!S_ISREG(sb.st_mode)) {
        return CS_E_NOTFOUND;
    }
    *size = (uint64_t)sb.st_size;
    return CS_OK;
}

static cs_status fs_del(cs_store *st, const char *key)
{
    struct fs_store *fs = (struct fs_store *)st;
    char path[FS_PATH_CAP];
    char *slash;
    cs_status s;

    key_path(fs, key, path);
    if (unlink(path) != 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == EISDIR) {
            return CS_OK; /* no such object (a directory is not one) */
        }
        if (errno == EPERM) { /* Linux: unlink() of a directory */
            struct stat sb;
            if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
                return CS_OK;
            }
        }
        return errno_status(errno);
    }
    slash = strrchr(path, '/');
    *slash = '\0';
    s = fsync_dir(path);
    /* Drop emptied directories up to the root; a concurrent put recreates what it needs. */
    while (s == CS_OK && slash > path + fs->root_len && rmdir(path) == 0) {
        slash = strrchr(path, '/');
        *slash = '\0';
        s = fsync_dir(path);
    }
    /* A concurrent delete removed the directory first (and fsynced its parent): still done. */
    return s == CS_E_NOTFOUND ? CS_OK : s;
}

/* One directory's entries, sorted in key order: directories carry a trailing '/'. */
struct dir_list {
    char **names;
    size_t n;
    size_t cap;
};

static void dir_list_free(const cs_allocator *a, struct dir_list *dl)
{
    size_t i;

    for (i = 0; i < dl->n; i++) {
        cs_freep(a, &dl->names[i]);
    }
    cs_freep(a, &dl->names);
    dl->n = 0;
    dl->cap = 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static cs_status dir_read(const cs_allocator *a, const char *path, bool sort, struct dir_list *dl)
{
    struct dirent *de;
    cs_status s = CS_OK;
    DIR *d;

    memset(dl, 0, sizeof(*dl));
    d = opendir(path);
    if (d == NULL) {
        return errno_status(errno);
    }
    while ((de = readdir(d)) != NULL) {
        bool is_dir;
        size_t len;
        char *name;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        if (de->d_type == DT_UNKNOWN) {
            struct stat sb;
            is_dir =
                fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode);
        } else {
            is_dir = de->d_type == DT_DIR;
        }
        if (dl->n == dl->cap) {
            size_t ncap = dl->cap == 0 ? 16 : dl->cap * 2;
            char **nn = cs_calloc(a, ncap, sizeof(*nn));
            if (nn == NULL) {
                s = CS_E_NOMEM;
                break;
            }
            if (dl->n > 0) {
                memcpy(nn, dl->names, dl->n * sizeof(*nn));
            }
            cs_freep(a, &dl->names);
            dl->names = nn;
            dl->cap = ncap;
        }
        len = strlen(de->d_name);
        name = cs_alloc(a, len + 2);
        if (name == NULL) {
            s = CS_E_NOMEM;
            break;
        }
        memcpy(name, de->d_name, len);
        name[len] = is_dir ? '/' : '\0';
        name[len + 1] = '\0';
        dl->names[dl->n++] = name;
    }
    closedir(d);
    if (s != CS_OK) {
        dir_list_free(a, dl);
        return s;
    }
    if (sort && dl->n > 1) {
        qsort(dl->names, dl->n, sizeof(*dl->names), name_cmp);
    }
    return CS_OK;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

struct list_ctx {
    struct fs_store *fs;
    const char *prefix;
    const char *start_after;
    cs_store_entry *entries;
    size_t cap;
    size_t count;
    bool more;
    bool done;
};

/* `path` holds the directory (root or root/<dir key>/ minus the slash); keys are path + key_off. */
static cs_status list_dir(struct list_ctx *lc, char *path, size_t path_len)
{
    const cs_allocator *a = lc->fs->base.alloc;
    size_t key_off = lc->fs->root_len + 1;
    struct dir_list dl;
    cs_status s;
    size_t i;

    s = dir_read(a, path, true, &dl);
    if (s != CS_OK) {
        /* A directory removed by a concurrent delete simply has no keys. */
        return s == CS_E_NOTFOUND ? CS_OK : s;
    }
    for (i = 0; i < dl.n && !lc->done && s == CS_OK; i++) {
        const char *name = dl.names[i];
        size_t nlen = strlen(name);
        bool is_dir = name[nlen - 1] == '/';
        const char *key;

        if (name[0] == '.' || strstr(name, ".tmp.") != NULL || path_len + 1 + nlen >= FS_PATH_CAP) {
            continue; /* temporaries and names no key can have */
        }
        path[path_len] = '/';
        memcpy(path + path_len + 1, name, nlen + 1);
        key = path + key_off;
        if (is_dir) {
            if (!starts_with(key, lc->prefix) && !starts_with(lc->prefix, key)) {
                continue;
            }
            if (strcmp(key, lc->start_after) < 0 && !starts_with(lc->start_after, key)) {
                continue; /* every key below sorts before start_after */
            }
            s = list_dir(lc, path, path_len + nlen); /* without the trailing '/' */
        } else if (starts_with(key, lc->prefix) && strcmp(key, lc->start_after) > 0) {
            struct stat sb;
            if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
                continue; /* deleted meanwhile */
            }
            if (lc->count == lc->cap) {
                lc->more = true;
                lc->done = true;
                break;
            }
            memcpy(lc->entries[lc->count].key, key, strlen(key) + 1);
            lc->entries[lc->count].size = (uint64_t)sb.st_size;
            lc->count++;
        }
    }
    path[path_len] = '\0';
    dir_list_free(a, &dl);
    return s;
}

static cs_status fs_list(cs_store *st, const char *prefix, const char *start_after,
                         cs_store_entry *entries, size_t cap, size_t *count, bool *more)
{
    struct fs_store *fs = (struct fs_store *)st;
    struct list_ctx lc = {fs, prefix, start_after, entries, cap, 0, false, false};
    char path[FS_PATH_CAP];
    cs_status s;

    memcpy(path, fs->root, fs->root_len + 1);
    s = list_dir(&lc, path, fs->root_len);
    if (s == CS_OK) {
        *count = lc.count;
        *more = lc.more;
    }
    return s;
}

static cs_status fs_stat(cs_store *st, cs_store_stats *out)
{
    struct fs_store *fs = (struct fs_store *)st;
    struct statvfs sv;

    out->recovered_tmp = fs->recovered_tmp;
    if (statvfs(fs->root, &sv) != 0) {
        return errno_status(errno);
    }
    out->space_known = true;
    out->free_bytes = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    out->total_bytes = (uint64_t)sv.f_blocks * (uint64_t)sv.f_frsize;
    return CS_OK;
}

/* Removes the temporaries under `path` (a crash between open and rename leaves them). */
static cs_status recover_dir(struct fs_store *fs, char *path, size_t path_len)
{
    const cs_allocator *a = fs->base.alloc;
    struct dir_list dl;
    bool removed = false;
    cs_status s;
    size_t i;

    s = dir_read(a, path, false, &dl);
    if (s != CS_OK) {
        return s;
    }
    for (i = 0; i < dl.n && s == CS_OK; i++) {
        size_t nlen = strlen(dl.names[i]);
        bool is_dir = dl.names[i][nlen - 1] == '/';

        if (path_len + 1 + nlen >= FS_PATH_CAP) {
            continue;
        }
        path[path_len] = '/';
        memcpy(path + path_len + 1, dl.names[i], nlen + 1);
        if (is_dir) {
            s = recover_dir(fs, path, path_len + nlen);
        } else if (strstr(dl.names[i], ".tmp.") != NULL) {
            if (unlink(path) == 0) {
                CS_LOG_WARN(fs->base.log, CSI_STORE_MODULE,
                            "fs recovery: removed the unfinished temporary %s", path);
                fs->recovered_tmp++;
                removed = true;
            } else if (errno != ENOENT) {
                s = errno_status(errno);
            }
        }
    }
    path[path_len] = '\0';
    dir_list_free(a, &dl);
    if (s == CS_OK && removed) {
        s = fsync_dir(path);
    }
    return s;
}

static void fs_destroy(cs_store *st)
{
    struct fs_store *fs = (struct fs_store *)st;
    for (size_t i = 0; i < FS_DIR_BUCKETS; i++) {
        while (fs->dirs[i] != NULL) {
            struct fs_dir *d = fs->dirs[i];
            fs->dirs[i] = d->next;
            cs_freep(st->alloc, &d);
        }
    }
    cs_cond_destroy(&fs->cv);
    cs_mutex_destroy(&fs->mu);
    cs_freep(st->alloc, &st);
}

/* The directories of keys under `prefix`, made (and their parents fsynced) unless a put or an
 * earlier prepare already made or found them. */
static cs_status fs_prepare(cs_store *st, const char *prefix)
{
    struct fs_store *fs = (struct fs_store *)st;
    char path[FS_PATH_CAP];
    cs_status s = CS_E_NOTFOUND;

    key_path(fs, prefix, path);
    strcat(path, "x"); /* checked by store.c: prefix + "x" is a key, so it fits */
    if (dir_known(fs, path)) {
        return CS_OK;
    }
    /* A concurrent delete may remove what we just made: CS_E_NOTFOUND, try again. */
    for (int i = 0; i < FS_OPEN_TRIES && s == CS_E_NOTFOUND; i++) {
        s = make_parents(fs, path);
    }
    if (s == CS_OK) {
        dir_set_known(fs, path, true);
    }
    return s;
}

static const struct csi_store_ops fs_ops = {
    .name = "fs",
    .destroy = fs_destroy,
    .writer_open = fs_writer_open,
    .writer_write = fs_writer_write,
    .writer_commit = fs_writer_commit,
    .writer_abort = fs_writer_abort,
    .read = fs_read,
    .head = fs_head,
    .del = fs_del,
    .list = fs_list,
    .stat = fs_stat,
    .prepare = fs_prepare,
};

cs_status csi_store_fs_create(const cs_store_config *cfg, cs_store **out)
{
    const cs_allocator *a = cfg->allocator != NULL ? cfg->allocator : cs_allocator_default();
    const cs_logger *log = cfg->logger != NULL ? cfg->logger : cs_logger_default();
    struct fs_store *fs = NULL;
    char path[FS_PATH_CAP];
    struct stat sb;
    size_t len;
    cs_status s;

    if (cfg->fs_dir == NULL || cfg->fs_dir[0] == '\0') {
        return CS_E_INVAL;
    }
    len = strlen(cfg->fs_dir);
    while (len > 1 && cfg->fs_dir[len - 1] == '/') {
        len--;
    }
    if (len > FS_ROOT_MAX) {
        CS_LOG_ERROR(log, CSI_STORE_MODULE, "fs: data directory path longer than %d bytes",
                     FS_ROOT_MAX);
        return CS_E_INVAL;
    }
    fs = cs_calloc(a, 1, sizeof(*fs));
    if (fs == NULL) {
        return CS_E_NOMEM;
    }
    fs->base.ops = &fs_ops;
    fs->base.alloc = a;
    fs->base.log = log;
    memcpy(fs->root, cfg->fs_dir, len);
    fs->root[len] = '\0';
    fs->root_len = len;
    if (cs_mutex_init(&fs->mu) != CS_OK) {
        cs_freep(a, &fs);
        return CS_E_NOMEM;
    }
    if (cs_cond_init(&fs->cv) != CS_OK) {
        cs_mutex_destroy(&fs->mu);
        cs_freep(a, &fs);
        return CS_E_NOMEM;
    }
    if (mkdir(fs->root, 0777) == 0) {
        char *up;
        memcpy(path, fs->root, len + 1);
        up = strrchr(path, '/');
        if (up == NULL) {
            strcpy(path, ".");
        } else {
            up[up == path ? 1 : 0] = '\0'; /* "/x" -> "/" */
        }
        (void)fsync_dir(path); /* the new directory's entry survives a crash */
    } else if (errno != EEXIST) {
        s = errno_status(errno);
        CS_LOG_ERROR(log, CSI_STORE_MODULE, "fs: cannot create %s: %s", fs->root, cs_status_str(s));
        goto out;
    }
    if (stat(fs->root, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        s = CS_E_IO;
        CS_LOG_ERROR(log, CSI_STORE_MODULE, "fs: %s is not a directory", fs->root);
        goto out;
    }
    memcpy(path, fs->root, len + 1);
    s = recover_dir(fs, path, len);
    if (s != CS_OK) {
        CS_LOG_ERROR(log, CSI_STORE_MODULE, "fs: recovery of %s failed: %s", fs->root,
                     cs_status_str(s));
        goto out;
    }
    if (fs->recovered_tmp > 0) {
        CS_LOG_WARN(log, CSI_STORE_MODULE, "fs recovery: %llu unfinished temporaries removed",
                    (unsigned long long)fs->recovered_tmp);
    }
    *out = &fs->base;
    fs = NULL; /* the caller owns it */
out:
    if (fs != NULL) {
        fs_destroy(&fs->base);
    }
    return s;
}
