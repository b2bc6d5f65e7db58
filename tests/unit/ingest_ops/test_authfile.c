/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the auth file parser (ingest-server/api/authfile.c) and of the rights check
 * csi_api_key_allows(): accepted files with their keys and rules, every refusal with the line
 * it names, CRLF and comments, limits, and prefix matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api_int.h"
#include "authfile.h"
#include "testutil.h"

static cs_status parse(const char *text, struct csi_authfile *af, char *err, size_t cap)
{
    return csi_authfile_parse(text, strlen(text), af, err, cap);
}

static void test_accepts(void **state)
{
    static const char text[] = "# cameras write their own stream\n"
                               "key AKIDCAM1 s3cr3t/with+slash=\n"
                               "    write cam1\n"
                               "\tread cam1\n"
                               "\n"
                               "key AKIDVIEW other-secret   \r\n"
                               "  readwrite lobby-\r\n"
                               "  read *\n"
                               "key ADMIN x\n"
                               "  readwrite *"; /* no final newline */
    struct csi_authfile af;
    char err[256];
    (void)state;
    assert_int_equal(parse(text, &af, err, sizeof(err)), CS_OK);
    assert_int_equal(af.n_keys, 3);
    assert_string_equal(af.keys[0].access_key, "AKIDCAM1");
    assert_string_equal(af.keys[0].secret_key, "s3cr3t/with+slash=");
    assert_int_equal(af.keys[0].n_rules, 2);
    assert_int_equal(af.keys[0].rules[0].rights, CS_API_WRITE);
    assert_string_equal(af.keys[0].rules[0].prefix, "cam1");
    assert_int_equal(af.keys[0].rules[1].rights, CS_API_READ);
    assert_string_equal(af.keys[1].secret_key, "other-secret");
    assert_int_equal(af.keys[1].n_rules, 2);
    assert_int_equal(af.keys[1].rules[0].rights, CS_API_READ | CS_API_WRITE);
    assert_string_equal(af.keys[1].rules[0].prefix, "lobby-");
    assert_string_equal(af.keys[1].rules[1].prefix, ""); /* '*' */
    assert_int_equal(af.keys[2].n_rules, 1);
    assert_string_equal(af.keys[2].rules[0].prefix, "");
    csi_authfile_free(&af);
    assert_null(af.keys);
    csi_authfile_free(&af); /* empty: no-op */
}

static void test_rights(void **state)
{
    static const char text[] = "key CAM s\n write cam1\n read cam\n"
                               "key VIEW s\n read lobby-\n";
    struct csi_authfile af;
    char err[256];
    const cs_api_credential *cam, *view;
    cs_api_credential all = {"AK", "SK", NULL, 0};
    (void)state;
    assert_int_equal(parse(text, &af, err, sizeof(err)), CS_OK);
    cam = &af.keys[0];
    view = &af.keys[1];
    assert_true(csi_api_key_allows(cam, CS_API_WRITE, "cam1"));
    assert_true(csi_api_key_allows(cam, CS_API_WRITE, "cam10")); /* prefix, as documented */
    assert_false(csi_api_key_allows(cam, CS_API_WRITE, "cam2"));
    assert_true(csi_api_key_allows(cam, CS_API_READ, "cam2"));
    assert_false(csi_api_key_allows(cam, CS_API_READ, "ca"));
    assert_false(csi_api_key_allows(cam, CS_API_READ, "lobby-1"));
    assert_true(csi_api_key_allows(cam, CS_API_READ | CS_API_WRITE, "cam7"));
    assert_true(csi_api_key_allows(view, CS_API_READ, "lobby-1"));
    assert_false(csi_api_key_allows(view, CS_API_WRITE, "lobby-1"));
    assert_false(csi_api_key_allows(view, CS_API_READ, "lobby"));
    assert_false(csi_api_key_allows(view, CS_API_READ, "LOBBY-1"));  /* case matters */
    assert_true(csi_api_key_allows(&all, CS_API_WRITE, "anything")); /* no rules: all */
    assert_true(csi_api_key_allows(NULL, CS_API_WRITE, "anything")); /* auth off */
    csi_authfile_free(&af);
}

static void test_refusals(void **state)
{
    static const struct {
        const char *text;
        const char *err; /* a substring of the message */
    } cases[] = {
        {"", "no 'key"},
        {"# only a comment\n\n", "no 'key"},
        {"read cam\n", "line 1: 'read' before any 'key'"},
        {"key A\n read *\n", "line 1: 'key' wants ACCESS_KEY SECRET_KEY"},
        {"key A B C\n read *\n", "line 1: 'key' wants"},
        {"key A/B s\n read *\n", "line 1: the access key"},
        {"key A,B s\n read *\n", "line 1: the access key"},
        {"key A=B s\n read *\n", "line 1: the access key"},
        {"key A s\n", "line 1: key A has no rule"},
        {"key A s\nkey B s\n read *\n", "line 1: key A has no rule"},
        {"key A s\n read *\nkey A t\n read *\n",
         "line 3: access key A is already defined on line 1"},
        {"key A s\n read\n", "line 2: 'read' wants one PREFIX"},
        {"key A s\n write a b\n", "line 2: 'write' wants one PREFIX"},
        {"key A s\n read cam/1\n", "line 2: the prefix must be"},
        {"key A s\n read ca*\n", "line 2: the prefix must be"},
        {"key A s\n admin *\n", "line 2: unknown word 'admin'"},
        {"key A s\n READ *\n", "line 2: unknown word 'READ'"},
        {"key A s\n read *\n # x\n read \x01\n", "line 4: byte 0x01"},
        {"key A s\xc3\xa9\n read *\n", "line 1: byte 0xc3"},
        {"key A s\n read * extra words here\n", "line 2: too many words"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct csi_authfile af;
        char err[256];
        cs_status st = parse(cases[i].text, &af, err, sizeof(err));
        if (st != CS_E_MALFORMED || strstr(err, cases[i].err) == NULL) {
            fail_msg("case %zu: status %d, message '%s', wanted '%s'", i, (int)st, err,
                     cases[i].err);
        }
        assert_null(af.keys);
        assert_int_equal(af.n_keys, 0);
    }
}

static void test_nul_and_limits(void **state)
{
    static const char with_nul[] = "key A s\n read *\0\n";
    char text[1024];
    char key[CSI_AUTHFILE_MAX_ACCESS_KEY + 2];
    char secret[CSI_AUTHFILE_MAX_SECRET + 2];
    struct csi_authfile af;
    char err[256];
    (void)state;
    assert_int_equal(csi_authfile_parse(with_nul, sizeof(with_nul) - 1, &af, err, sizeof(err)),
                     CS_E_MALFORMED);
    assert_non_null(strstr(err, "line 2: a NUL byte"));

    memset(key, 'K', CSI_AUTHFILE_MAX_ACCESS_KEY);
    key[CSI_AUTHFILE_MAX_ACCESS_KEY] = '\0';
    memset(secret, 'S', CSI_AUTHFILE_MAX_SECRET);
    secret[CSI_AUTHFILE_MAX_SECRET] = '\0';
    snprintf(text, sizeof(text), "key %s %s\n read *\n", key, secret);
    assert_int_equal(parse(text, &af, err, sizeof(err)), CS_OK); /* at the limits */
    csi_authfile_free(&af);
    snprintf(text, sizeof(text), "key %sK %s\n read *\n", key, secret);
    assert_int_equal(parse(text, &af, err, sizeof(err)), CS_E_MALFORMED);
    snprintf(text, sizeof(text), "key %s %sS\n read *\n", key, secret);
    assert_int_equal(parse(text, &af, err, sizeof(err)), CS_E_MALFORMED);
    assert_non_null(strstr(err, "secret key is longer"));
}

static void test_load(void **state)
{
    const char *dir = cs_test_tmpdir("authfile");
    char path[512];
    struct csi_authfile af;
    char err[512];
    FILE *f;
    (void)state;
    snprintf(path, sizeof(path), "%s/auth", dir);
    assert_int_equal(csi_authfile_load(path, &af, err, sizeof(err)), CS_E_IO);
    assert_non_null(strstr(err, path));
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("key A s\n read *\nbogus\n", f);
    fclose(f);
    assert_int_equal(csi_authfile_load(path, &af, err, sizeof(err)), CS_E_MALFORMED);
    assert_non_null(strstr(err, "line 3"));
    assert_non_null(strstr(err, path));
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("key A s\n read *\n", f);
    fclose(f);
    assert_int_equal(csi_authfile_load(path, &af, err, sizeof(err)), CS_OK);
    assert_int_equal(af.n_keys, 1);
    csi_authfile_free(&af);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts),  cmocka_unit_test(test_rights),
        cmocka_unit_test(test_refusals), cmocka_unit_test(test_nul_and_limits),
        cmocka_unit_test(test_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
