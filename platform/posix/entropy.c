/* SPDX-License-Identifier: Apache-2.0 */
/* Entropy from getrandom() where the C library has it, else from /dev/urandom. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "camstream/platform.h"

#if CS_HAVE_GETRANDOM
#include <sys/random.h>
#endif

cs_status cs_entropy_fill(void *buf, size_t len)
{
    uint8_t *p = buf;

    if (buf == NULL && len > 0) {
        return CS_E_INVAL;
    }
#if CS_HAVE_GETRANDOM
    while (len > 0) {
        ssize_t r = getrandom(p, len, 0);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == ENOSYS) {
                break; /* old kernel: fall back to the device */
            }
            return CS_E_IO;
        }
        p += r;
        len -= (size_t)r;
    }
    if (len == 0) {
        return CS_OK;
    }
#endif
    {
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            return CS_E_IO;
        }
        while (len > 0) {
            ssize_t r = read(fd, p, len);
            if (r <= 0) {
                if (r < 0 && errno == EINTR) {
                    continue;
                }
                close(fd);
                return CS_E_IO;
            }
            p += r;
            len -= (size_t)r;
        }
        close(fd);
    }
    return CS_OK;
}
