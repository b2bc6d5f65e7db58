/* SPDX-License-Identifier: Apache-2.0 */
/* What the record-stream API fuzz targets share (fuzz_kds_json.c, fuzz_kds_lease.c,
 * fuzz_kds_subscribe.c): a real store in a temporary directory of the target's own, made anew
 * every 2,000 inputs so the disk stays small, holding stream "f" with 2 shards; and the check of
 * a csi_kds_run() answer. Header only: each target is a program of its own. */
#ifndef CS_FUZZ_KDS_FIXTURE_H
#define CS_FUZZ_KDS_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "api_int.h"
#include "kds_store.h"

static csi_kds_store *kds_store;

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

/* Before each input: true when the store was made anew (the first input, then every 2,000th)
 * in $TMPDIR/<name>-<pid>, with stream "f" (2 shards) and nothing else: the caller adds what
 * else it needs. */
static bool kds_fixture_next(const char *name)
{
    static char dir[256];
    static unsigned runs;
    csi_kds_store_config cfg;
    char cmd[700], db[300];
    if (kds_store != NULL && ++runs % 2000 != 0) {
        return false;
    }
    csi_kds_store_close(&kds_store);
    if (dir[0] == '\0') {
        snprintf(dir, sizeof(dir), "%s/%s-%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", name,
                 (int)getpid());
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    check(system(cmd) == 0);
    snprintf(db, sizeof(db), "%s/index.sqlite3", dir);
    csi_kds_store_config_init(&cfg);
    cfg.data_dir = dir;
    cfg.db_path = db;
    cfg.durable = false;
    check(csi_kds_store_open(&cfg, &kds_store) == CS_OK);
    check(csi_kds_store_create(kds_store, "f", 2, false) == CS_OK);
    return true;
}

/* Runs `op` on `body` as the server's worker would; beyond not crashing, the answer must be a
 * status with either a body (200) or an error type and a message (4xx/5xx). */
static void kds_fixture_run(const char *op, const uint8_t *body, size_t len, bool cbor)
{
    struct csi_kds_result res;
    check(csi_kds_run(NULL, kds_store, op, body, len, cbor, &res) == CS_OK);
    check(res.status >= 200 && res.status < 600);
    check(res.status == 200 ? res.out != NULL && res.error_type == NULL
                            : res.error_type != NULL && res.message[0] != '\0');
    free(res.out);
}

#endif /* CS_FUZZ_KDS_FIXTURE_H */
