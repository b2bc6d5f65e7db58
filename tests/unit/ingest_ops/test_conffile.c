/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of camstream-ingest's config file reader (ingest-server/config/conffile.c): lines
 * become "--key=value" arguments before the command line's, flags without a value take booleans,
 * and every refusal names its line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conffile.h"
#include "testutil.h"

static const struct option opts[] = {
    {"listen", required_argument, NULL, 1},     {"data-dir", required_argument, NULL, 2},
    {"auto-create", no_argument, NULL, 3},      {"strict-region", no_argument, NULL, 4},
    {"config", required_argument, NULL, 5},     {"help", no_argument, NULL, 6},
    {"public-url", required_argument, NULL, 7}, {NULL, 0, NULL, 0},
};
static const char *const refused[] = {"config", "help", NULL};

static const char *write_file(const char *text)
{
    static char path[512];
    FILE *f;
    snprintf(path, sizeof(path), "%s/x.conf", cs_test_tmpdir("conffile"));
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_reads(void **state)
{
    const char *path = write_file("# camstream-ingest\n"
                                  "listen = 0.0.0.0:9000\n"
                                  "  data-dir=/var/lib/camstream  \r\n"
                                  "\n"
                                  "auto-create = yes\n"
                                  "strict-region = false\n"
                                  "public-url = \"https://video.example.com\"\n");
    struct csi_conf c;
    char err[256];
    char *argv[] = {"camstream-ingest", "--listen", "127.0.0.1:1", NULL};
    char **m = NULL;
    int mc = 0;
    (void)state;
    assert_int_equal(csi_conf_load(path, opts, refused, &c, err, sizeof(err)), CS_OK);
    assert_int_equal(c.n, 4);
    assert_string_equal(c.argv[0], "--listen=0.0.0.0:9000");
    assert_string_equal(c.argv[1], "--data-dir=/var/lib/camstream");
    assert_string_equal(c.argv[2], "--auto-create");
    assert_string_equal(c.argv[3], "--public-url=https://video.example.com");
    assert_int_equal(csi_conf_merge(&c, 3, argv, &mc, &m), CS_OK);
    assert_int_equal(mc, 7);
    assert_string_equal(m[0], "camstream-ingest");
    assert_string_equal(m[1], "--listen=0.0.0.0:9000");
    assert_string_equal(m[5], "--listen"); /* the command line comes last: it wins */
    assert_null(m[7]);
    assert_int_equal(csi_conf_line_of(&c, 1), 2);
    assert_int_equal(csi_conf_line_of(&c, 2), 3);
    assert_int_equal(csi_conf_line_of(&c, 3), 5);
    assert_int_equal(csi_conf_line_of(&c, 4), 7);
    assert_int_equal(csi_conf_line_of(&c, 5), 0); /* command line */
    free(m);
    csi_conf_free(&c);
}

static void test_refusals(void **state)
{
    static const struct {
        const char *text;
        const char *err;
    } cases[] = {
        {"listen = :1\nlisen = 0.0.0.0:1\n", "line 2: unknown key 'lisen'"},
        {"--listen = x\n", "line 1: unknown key '--listen'"},
        {"\n\nconfig = other.conf\n", "line 3: unknown key 'config'"},
        {"help = true\n", "line 1: unknown key 'help'"},
        {"listen 0.0.0.0:1\n", "line 1: expected 'key = value'"},
        {"listen =\n", "line 1: listen wants a value"},
        {"auto-create = maybe\n", "line 1: auto-create wants true or false"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct csi_conf c;
        char err[256];
        const char *path = write_file(cases[i].text);
        cs_status st = csi_conf_load(path, opts, refused, &c, err, sizeof(err));
        if (st != CS_E_MALFORMED || strstr(err, cases[i].err) == NULL) {
            fail_msg("case %zu: status %d, message '%s', wanted '%s'", i, (int)st, err,
                     cases[i].err);
        }
        assert_int_equal(c.n, 0);
    }
}

static void test_path(void **state)
{
    char *a1[] = {"x", "--config", "a.conf", "--listen", "1:1", NULL};
    char *a2[] = {"x", "--config=b.conf", NULL};
    char *a3[] = {"x", "--config", NULL};
    char *a4[] = {"x", "--", "--config=c", NULL};
    struct csi_conf c;
    char err[256];
    (void)state;
    assert_string_equal(csi_conf_path(5, a1), "a.conf");
    assert_string_equal(csi_conf_path(2, a2), "b.conf");
    assert_null(csi_conf_path(2, a3));
    assert_null(csi_conf_path(3, a4));
    assert_int_equal(csi_conf_load("/nonexistent/x.conf", opts, refused, &c, err, sizeof(err)),
                     CS_E_IO);
    assert_non_null(strstr(err, "/nonexistent/x.conf"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
