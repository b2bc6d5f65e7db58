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
    size_t len;
    int n;

    if (af == NULL || path == NULL || path[0] == '\0') {
        return CS_E_INVAL;
    }
    af->fd = -1;
    len = strlen(path);
    n = snprintf(af->tmp_path, sizeof(af->tmp_path), "%s.tmp.XXXXXX", path);
    if (len >= sizeof(af->path) || n < 0 || (size_t)n >= sizeof(af->tmp_path)) {
        return CS_E_INVAL;
    }
    memcpy(af->path, path, len + 1);
#if CS_HAVE_MKOSTEMP
    af->fd = mkostemp(af->tmp_path, O_CLOEXEC);
#else
    af->fd = mkstemp(af->tmp_path);
#endif
    if (af->fd < 0) {
        return errno == ENOENT ? CS_E_NOTFOUND : (errno == EACCES ? CS_E_PERM : CS_E_IO);
    }
    /* mkstemp creates 0600; use the ordinary umask-governed mode for data files. */
    {
        mode_t mask = umask(0);
        umask(mask);
        fchmod(af->fd, (mode_t)(0666 & ~mask));
    }
    return CS_OK;
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
            return errno == ENOSPC ? CS_E_NOSPACE : CS_E_IO;
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
    if (sync_fd(af->fd) != 0) {
        cs_atomic_file_abort(af);
        return CS_E_IO;
    }
    rc = close(af->fd);
    af->fd = -1;
    if (rc != 0 || rename(af->tmp_path, af->path) != 0) {
        unlink(af->tmp_path);
        return CS_E_IO;
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
