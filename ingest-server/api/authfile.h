/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ingest server's auth file (--auth-file): access keys with their secrets and, per key, which
 * streams it may read or write, by stream-name prefix. The format (docs/ingest-server.md, "Auth
 * file") is line based:
 *
 *     # a comment
 *     key AKIDCAMERA1 s3cr3t/with+any=visible-bytes
 *         write cam1
 *         read  cam1
 *     key AKIDVIEWER  another-secret
 *         read  *
 *
 * `key ACCESS_KEY SECRET` starts a key; the `read PREFIX`, `write PREFIX` and `readwrite PREFIX`
 * lines after it are its rules; `*` as the prefix means every stream. Private to the server;
 * fuzzed by tests/fuzz/fuzz_auth_file.c.
 */
#ifndef CS_INGEST_AUTHFILE_H
#define CS_INGEST_AUTHFILE_H

#include <stddef.h>

#include "api.h"

/** Longest access key (the SigV4 credential parser's limit). */
#define CSI_AUTHFILE_MAX_ACCESS_KEY 128
/** Longest secret (the SigV4 verifier's secret buffer holds 256 bytes). */
#define CSI_AUTHFILE_MAX_SECRET 255
/** Longest prefix: a stream name is at most 256 characters. */
#define CSI_AUTHFILE_MAX_PREFIX 256
/** Largest file csi_authfile_load() reads. */
#define CSI_AUTHFILE_MAX_BYTES (4u * 1024u * 1024u)

/** A parsed auth file. Every string points into `text`; `keys[i].rules` into `rules`. */
struct csi_authfile {
    cs_api_credential *keys;
    size_t n_keys;
    cs_api_rule *rules;
    size_t n_rules;
    char *text; /* the file's bytes, split in place */
    size_t text_len;
};

/**
 * Parses an auth file held in memory (`len` bytes; no NUL needed). On success `out` owns copies
 * of everything (free with csi_authfile_free()). On failure `out` is empty and `err` says which
 * line is wrong and why ("line 3: read wants one PREFIX ...").
 * @return CS_OK, CS_E_MALFORMED (syntax; see err), CS_E_NOMEM
 */
cs_status csi_authfile_parse(const char *text, size_t len, struct csi_authfile *out, char *err,
                             size_t err_cap);

/**
 * Reads and parses the file at `path` (at most CSI_AUTHFILE_MAX_BYTES). `err` gets the reason
 * on failure, naming the path and the line.
 * @return CS_OK, CS_E_IO (cannot read; see err), CS_E_LIMIT (too large), CS_E_MALFORMED, CS_E_NOMEM
 */
cs_status csi_authfile_load(const char *path, struct csi_authfile *out, char *err, size_t err_cap);

/** Frees what a parse filled (secrets are wiped first); leaves `af` empty; accepts empty. */
void csi_authfile_free(struct csi_authfile *af);

#endif /* CS_INGEST_AUTHFILE_H */
