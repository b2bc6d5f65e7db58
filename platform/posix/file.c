/* SPDX-License-Identifier: Apache-2.0 */
/* POSIX files: atomic replacement (temporary beside the target, fsync, rename, directory fsync)
 * and bounded whole-file reads. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "camstream/platform.h"

static int sync_fd(int fd)
{
#if CS_HAVE_FDATASYNC
    return fdatasync(fd);
#else
    return fsync(fd);
#endif
}

/* fsync the directory holding `path`, so that a rename into it survives a crash. */
static cs_status sync_parent_dir(const char *path)
{
    char dir[sizeof(((cs_atomic_file *)0)->path)];
    const char *slash = strrchr(path, '/');
    size_t n;
    int fd;
    cs_status st = CS_OK;

    if (slash == NULL) {
        strcpy(dir, ".");
    } else {
        n = (size_t)(slash - path);
        if (n == 0) {
            n = 1; /* the root directory */
        }
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return CS_E_IO;
    }
    if (fsync(fd) != 0 && errno != EINVAL) { /* some file systems refuse directory fsync */
        st = CS_E_IO;
    }
    close(fd);
    return st;
}

cs_status cs_atomic_file_open(cs_atomic_file *af, const char *path)
{
    static const char hex[] = "0123456789abcdef";
    size_t len;

    if (af == NULL || path == NULL || path[0] == '\0') {
        return CS_E_INVAL;
    }
    af->fd = -1;
    len = strlen(path);
    /* "<path>.tmp." + 12 random hex digits + NUL */
    if (len >= sizeof(af->path) || len + 5 + 12 + 1 > sizeof(af->tmp_path)) {
        return CS_E_INVAL;
    }
    memcpy(af->path, path, len + 1);
    /* Our own O_EXCL create instead of mkstemp(): the file gets the ordinary umask-governed mode
     * without reading the umask (umask() is process-wide, so reading it races other threads). */
    for (int attempt = 0; attempt < 16; attempt++) {
        uint8_t rnd[6];
        char *p = af->tmp_path + len + 5;

        if (cs_entropy_fill(rnd, sizeof(rnd)) != CS_OK) {
            return CS_E_IO;
        }
        memcpy(af->tmp_path, path, len);
        memcpy(af->tmp_path + len, ".tmp.", 5);
        for (size_t i = 0; i < sizeof(rnd); i++) {
            *p++ = hex[rnd[i] >> 4];
            *p++ = hex[rnd[i] & 15];
        }
        *p = '\0';
        af->fd = open(af->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (af->fd >= 0) {
            return CS_OK;
        }
        if (errno != EEXIST) {
            break;
        }
    }
    switch (errno) {
    case ENOENT:
    case ENOTDIR:
        return CS_E_NOTFOUND;
    case EACCES:
    case EPERM:
    case EROFS:
        return CS_E_PERM;
    case ENOSPC:
    case EDQUOT:
        return CS_E_NOSPACE;
    default:
        return CS_E_IO;
    }
}

cs_status cs_atomic_file_write(cs_atomic_file *af, const void *data, size_t len)
{
    const uint8_t *p = data;

    if (af == NULL || af->fd < 0 || (data == NULL && len > 0)) {
        return CS_E_INVAL;
    }
    while (len > 0) {
        ssize_t w = write(af->fd, p, len);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == ENOSPC || errno == EDQUOT ? CS_E_NOSPACE : CS_E_IO;
        }
        p += w;
        len -= (size_t)w;
    }
    return CS_OK;
}

void cs_atomic_file_abort(cs_atomic_file *af)
{
    if (af == NULL || af->fd < 0) {
        return;
    }
    close(af->fd);
    af->fd = -1;
    unlink(af->tmp_path);
}

cs_status cs_atomic_file_commit(cs_atomic_file *af)
{
    int rc;

    if (af == NULL || af->fd < 0) {
        return CS_E_INVAL;
    }
    /* Delayed allocation can report a full disk only here, at fsync or close. */
    if (sync_fd(af->fd) != 0) {
        int err = errno;
        cs_atomic_file_abort(af);
        return err == ENOSPC || err == EDQUOT ? CS_E_NOSPACE : CS_E_IO;
    }
    rc = close(af->fd);
    af->fd = -1;
    if (rc != 0 || rename(af->tmp_path, af->path) != 0) {
        int err = errno;
        unlink(af->tmp_path);
        return err == ENOSPC || err == EDQUOT ? CS_E_NOSPACE : CS_E_IO;
    }
    return sync_parent_dir(af->path);
}

cs_status cs_file_write_atomic(const char *path, const void *data, size_t len)
{
    cs_atomic_file af;
    cs_status st;

    st = cs_atomic_file_open(&af, path);
    if (st != CS_OK) {
        return st;
    }
    st = cs_atomic_file_write(&af, data, len);
    if (st != CS_OK) {
        cs_atomic_file_abort(&af);
        return st;
    }
    return cs_atomic_file_commit(&af);
}

cs_status cs_file_read(const char *path, void *buf, size_t cap, size_t *len)
{
    uint8_t *p = buf;
    size_t got = 0;
    cs_status st = CS_OK;
    int fd;

    if (path == NULL || len == NULL || (buf == NULL && cap > 0)) {
        return CS_E_INVAL;
    }
    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? CS_E_NOTFOUND : (errno == EACCES ? CS_E_PERM : CS_E_IO);
    }
    for (;;) {
        ssize_t r;
        if (got == cap) {
            uint8_t probe;
            r = read(fd, &probe, 1);
            if (r > 0) {
                st = CS_E_NOSPACE;
            } else if (r < 0) {
                st = CS_E_IO;
            }
            break;
        }
        r = read(fd, p + got, cap - got);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            st = CS_E_IO;
            break;
        }
        if (r == 0) {
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    *len = got;
    return st;
}
