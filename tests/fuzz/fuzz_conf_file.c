/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for camstream-ingest's config file reader (ingest-server/config/conffile.c):
 * the input is the file's bytes, copied to an exact-size heap block (no NUL) so AddressSanitizer
 * sees any read past it, parsed against an option table shaped like the program's. On success
 * every argument must be "--NAME" for a flag without a value or "--NAME=VALUE" for one with,
 * NAME in the table and not refused, its line numbers increasing; the merged argv must hold the
 * file's arguments between argv[0] and the command line's. On failure the message must name the
 * file and (except for a NUL byte) a line. */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conffile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct option opts[] = {
    {"listen", required_argument, NULL, 1},
    {"data-dir", required_argument, NULL, 2},
    {"auth", required_argument, NULL, 3},
    {"auth-file", required_argument, NULL, 4},
    {"auto-create", no_argument, NULL, 5},
    {"no-auth", no_argument, NULL, 6},
    {"log-level", required_argument, NULL, 7},
    {"config", required_argument, NULL, 8},
    {"help", no_argument, NULL, 9},
    {NULL, 0, NULL, 0},
};
static const char *const refused[] = {"config", "help", NULL};

static const struct option *find(const char *name, size_t len)
{
    for (const struct option *o = opts; o->name != NULL; o++) {
        if (strlen(o->name) == len && memcmp(o->name, name, len) == 0) {
            return o;
        }
    }
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    struct csi_conf c;
    char err[512];
    cs_status st;
    if (copy == NULL) {
        return 0;
    }
    if (size) {
        memcpy(copy, data, size);
    }
    st = csi_conf_parse(copy, size, "fuzz.conf", opts, refused, &c, err, sizeof(err));
    free(copy);
    if (st != CS_OK) {
        if (st != CS_E_MALFORMED && st != CS_E_NOMEM && st != CS_E_LIMIT) {
            abort();
        }
        if (st == CS_E_MALFORMED && strstr(err, "fuzz.conf") == NULL) {
            abort();
        }
        if (c.n != 0 || c.argv != NULL) {
            abort();
        }
        return 0;
    }
    for (size_t i = 0; i < c.n; i++) {
        const char *a = c.argv[i];
        const char *eq;
        const struct option *o;
        if (strncmp(a, "--", 2) != 0) {
            abort();
        }
        eq = strchr(a + 2, '=');
        o = find(a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2));
        if (o == NULL || o->val == 8 || o->val == 9 || (o->has_arg == no_argument) != !eq ||
            (eq != NULL && eq[1] == '\0') || (i > 0 && c.lines[i] <= c.lines[i - 1]) ||
            c.lines[i] == 0) {
            abort();
        }
    }
    {
        char *argv[] = {"camstream-ingest", "--listen", "1:1", NULL};
        char **m = NULL;
        int mc = 0;
        if (csi_conf_merge(&c, 3, argv, &mc, &m) == CS_OK) {
            if ((size_t)mc != c.n + 3 || m[0] != argv[0] || m[mc] != NULL ||
                strcmp(m[mc - 1], "1:1") != 0 || csi_conf_line_of(&c, mc - 1) != 0) {
                abort();
            }
            for (size_t i = 0; i < c.n; i++) {
                if (m[1 + i] != c.argv[i] || csi_conf_line_of(&c, (int)(1 + i)) != c.lines[i]) {
                    abort();
                }
            }
            free(m);
        }
    }
    csi_conf_free(&c);
    return 0;
}
