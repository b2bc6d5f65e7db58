/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by the storage module's files: the backend vtable (one per backend family, as
 * curl's vtls/vquic), the common store and writer heads every backend embeds first, and the
 * backends' constructors. Arguments reaching a backend are already checked by store.c: keys are
 * valid, pointers non-NULL, lengths sane. */
#ifndef CS_STORE_INT_H
#define CS_STORE_INT_H

#include "storage.h"

#define CSI_STORE_MODULE "storage"

struct csi_store_ops {
    const char *name;
    void (*destroy)(cs_store *st);
    /* A whole put without a writer's copy; NULL: store.c goes through a writer. */
    cs_status (*put)(cs_store *st, const char *key, const void *data, size_t len);
    cs_status (*writer_open)(cs_store *st, const char *key, cs_store_writer **out);
    cs_status (*writer_write)(cs_store_writer *w, const void *data, size_t len);
    /* Commits and frees the writer, whatever the outcome. */
    cs_status (*writer_commit)(cs_store_writer *w);
    /* Frees the writer, leaving nothing behind. */
    void (*writer_abort)(cs_store_writer *w);
    /* Streams [offset, offset + length) (clamped to the end) to fn; *size gets the whole size as
     * soon as it is known, before fn is first called. offset > size: CS_E_RANGE. */
    cs_status (*read)(cs_store *st, const char *key, uint64_t offset, uint64_t length,
                      cs_store_read_fn fn, void *ctx, uint64_t *size);
    cs_status (*head)(cs_store *st, const char *key, uint64_t *size);
    cs_status (*del)(cs_store *st, const char *key);
    cs_status (*list)(cs_store *st, const char *prefix, const char *start_after,
                      cs_store_entry *entries, size_t cap, size_t *count, bool *more);
    cs_status (*stat)(cs_store *st, cs_store_stats *out);
    /* Makes ready what puts of keys starting with `prefix` (ends in '/') need, durably (fs: the
     * directories); NULL: nothing to do. */
    cs_status (*prepare)(cs_store *st, const char *prefix);
};

/* The head of every backend's store struct. */
struct cs_store {
    const struct csi_store_ops *ops;
    const cs_allocator *alloc;
    const cs_logger *log;
};

/* The head of every backend's writer struct. */
struct cs_store_writer {
    cs_store *st;
    cs_status error; /* sticky */
};

cs_status csi_store_fs_create(const cs_store_config *cfg, cs_store **out);
cs_status csi_store_s3_create(const cs_store_config *cfg, cs_store **out);

#endif
