/* SPDX-License-Identifier: Apache-2.0 */
/*
 * camstream-ingest's config file (--config PATH): `key = value` lines whose keys are the long
 * command-line flags without `--` (docs/ingest-server.md, "Config file"). The file is turned into
 * command-line arguments placed before the real ones, so one parser (getopt_long in main.c)
 * handles both and a flag given on the command line overrides the file. Private to the program.
 */
#ifndef CS_INGEST_CONFFILE_H
#define CS_INGEST_CONFFILE_H

#include <getopt.h>
#include <stddef.h>

#include "camstream/platform.h"

/** Largest config file read. */
#define CSI_CONF_MAX_BYTES (1024u * 1024u)

/** A config file as arguments: `argv[i]` came from line `lines[i]` of `path`. */
struct csi_conf {
    char *path;
    char **argv; /* "--key=value" or "--key" (a flag set to true) */
    unsigned *lines;
    size_t n;
};

/**
 * Returns the value of `--config PATH` or `--config=PATH` in argv (the last one), NULL when
 * absent or when `--config` is the last argument (getopt then reports the missing value).
 */
const char *csi_conf_path(int argc, char **argv);

/**
 * Reads `path` and checks every line against `opts` (the program's long options): blank lines
 * and lines starting with '#' are skipped; other lines are `key = value` (spaces around both
 * optional; a value in double quotes keeps its inner spaces). A key taking no argument wants
 * true/yes/on/1 (set) or false/no/off/0 (left out). The keys in `refused` (NULL-terminated,
 * e.g. "config", "help") are not allowed. On failure `err` names the line and why.
 * @return CS_OK, CS_E_IO (cannot read), CS_E_LIMIT (too large), CS_E_MALFORMED, CS_E_NOMEM
 */
cs_status csi_conf_load(const char *path, const struct option *opts, const char *const *refused,
                        struct csi_conf *out, char *err, size_t err_cap);

/**
 * The same on a file's bytes held in memory (`len` bytes, no NUL needed); `path` only names the
 * file in messages. The fuzz target's entry point (tests/fuzz/fuzz_conf_file.c).
 * @return CS_OK, CS_E_LIMIT, CS_E_MALFORMED, CS_E_NOMEM
 */
cs_status csi_conf_parse(const char *text, size_t len, const char *path, const struct option *opts,
                         const char *const *refused, struct csi_conf *out, char *err,
                         size_t err_cap);

/**
 * Builds the argument vector getopt sees: argv[0], the file's arguments, then argv[1..].
 * `*out` (argc + conf->n + 1 pointers, NULL-terminated) is malloc'd; its strings are borrowed.
 * @return CS_OK, CS_E_NOMEM
 */
cs_status csi_conf_merge(const struct csi_conf *conf, int argc, char **argv, int *out_argc,
                         char ***out_argv);

/** The config line that produced merged argument `index`, or 0 when it came from the command
 * line. */
unsigned csi_conf_line_of(const struct csi_conf *conf, int index);

/** Frees what csi_conf_load() filled; leaves it empty; accepts empty. */
void csi_conf_free(struct csi_conf *conf);

#endif /* CS_INGEST_CONFFILE_H */
