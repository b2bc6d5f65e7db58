/* SPDX-License-Identifier: Apache-2.0 */
/* The s3 backend against a real S3 server: boots Ceph radosgw with tests/util/start-radosgw
 * (exit 77 when Ceph is not installed), runs the conformance suite on a fresh bucket, then what is
 * particular to s3: wrong credentials are refused as CS_E_AUTH, a missing bucket is reported, a
 * streamed put over s3_max_streamed fails with CS_E_LIMIT and sends nothing. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conformance.h"
#include "testutil.h"

static char g_endpoint[256];
static char g_ak[128];
static char g_sk[128];
static const char *g_bucket = "camstream-test";

static void s3_config(cs_store_config *cfg)
{
    cs_store_config_init(cfg);
    cfg->kind = CS_STORE_S3;
    cfg->s3_endpoint = g_endpoint;
    cfg->s3_bucket = g_bucket;
    cfg->s3_access_key = g_ak;
    cfg->s3_secret_key = g_sk;
    cfg->s3_timeout_ms = 20000;
}

static cs_status make_s3(void *ctx, cs_store **out)
{
    cs_store_config cfg;

    (void)ctx;
    s3_config(&cfg);
    cfg.s3_create_bucket = true;
    return cs_store_create(&cfg, out);
}

static void test_bad_credentials(void **state)
{
    cs_store_config cfg;
    cs_store *st = NULL;

    (void)state;
    s3_config(&cfg);
    cfg.s3_secret_key = "not-the-secret";
    assert_int_equal(cs_store_create(&cfg, &st), CS_E_AUTH);
    assert_null(st);
    s3_config(&cfg);
    cfg.s3_access_key = "NOSUCHKEY";
    assert_int_equal(cs_store_create(&cfg, &st), CS_E_AUTH);
    s3_config(&cfg);
    cfg.s3_bucket = "no-such-bucket";
    assert_int_equal(cs_store_create(&cfg, &st), CS_E_NOTFOUND);
    s3_config(&cfg);
    cfg.s3_bucket = "Bad_Bucket";
    assert_int_equal(cs_store_create(&cfg, &st), CS_E_INVAL);
    s3_config(&cfg);
    cfg.s3_endpoint = "http://127.0.0.1:1"; /* nothing listens */
    assert_int_equal(cs_store_create(&cfg, &st), CS_E_NET);
    s3_config(&cfg);
    cfg.s3_endpoint = "ftp://127.0.0.1";
    assert_int_equal(cs_store_create(&cfg, &st), CS_E_INVAL);
}

static void test_streamed_limit(void **state)
{
    static uint8_t piece[4096];
    cs_store_config cfg;
    cs_store *st = NULL;
    cs_store_writer *w = NULL;
    cs_store_stats stats;

    (void)state;
    s3_config(&cfg);
    cfg.s3_max_streamed = 10000;
    assert_int_equal(cs_store_create(&cfg, &st), CS_OK);
    assert_int_equal(cs_store_stat(st, &stats), CS_OK);
    assert_false(stats.space_known);
    assert_int_equal(cs_store_writer_open(st, "limit/1.mkv", &w), CS_OK);
    assert_int_equal(cs_store_writer_write(w, piece, sizeof(piece)), CS_OK);
    assert_int_equal(cs_store_writer_write(w, piece, sizeof(piece)), CS_OK);
    assert_int_equal(cs_store_writer_write(w, piece, sizeof(piece)), CS_E_LIMIT);
    assert_int_equal(cs_store_writer_commit(&w), CS_E_LIMIT);
    assert_int_equal(cs_store_head(st, "limit/1.mkv", NULL), CS_E_NOTFOUND);
    cs_store_destroy(&st);
}

/* Reads KEY=VALUE from the script's env file. */
static bool env_value(const char *text, const char *name, char *dst, size_t cap)
{
    const char *p = strstr(text, name);
    size_t n;

    if (p == NULL || p[strlen(name)] != '=') {
        return false;
    }
    p += strlen(name) + 1;
    n = strcspn(p, "\n");
    if (n == 0 || n >= cap) {
        return false;
    }
    memcpy(dst, p, n);
    dst[n] = '\0';
    return true;
}

int main(void)
{
    const struct CMUnitTest s3_tests[] = {
        cmocka_unit_test(test_bad_credentials),
        cmocka_unit_test(test_streamed_limit),
    };
    const char *script = getenv("CS_START_RADOSGW");
    char dir[1024];
    char envfile[1100];
    uint8_t *env;
    size_t len;
    int failed;
    int rc;

    if (script == NULL) {
        script = "tests/util/start-radosgw";
    }
    snprintf(dir, sizeof(dir), "%s/cluster", cs_test_tmpdir("storage_s3"));
    rc = cs_test_sh("'%s' '%s' >'%s.out' 2>&1", script, dir, dir);
    if (rc == 77) {
        printf("SKIP: Ceph is not installed (apt-get install ceph-mon ceph-osd radosgw), so "
               "there is no S3 server to test against\n");
        return 77;
    }
    if (rc != 0) {
        printf("start-radosgw failed (%d):\n", rc);
        cs_test_sh("cat '%s.out'", dir);
        cs_test_sh("'%s' --stop '%s'", script, dir);
        return 1;
    }
    snprintf(envfile, sizeof(envfile), "%s/env", dir);
    env = cs_test_load(envfile, &len);
    if (env == NULL || !env_value((char *)env, "CS_S3_ENDPOINT", g_endpoint, sizeof(g_endpoint)) ||
        !env_value((char *)env, "CS_S3_ACCESS_KEY", g_ak, sizeof(g_ak)) ||
        !env_value((char *)env, "CS_S3_SECRET_KEY", g_sk, sizeof(g_sk))) {
        printf("cannot read %s\n", envfile);
        free(env);
        cs_test_sh("'%s' --stop '%s'", script, dir);
        return 1;
    }
    free(env);
    printf("radosgw at %s\n", g_endpoint);
    failed = cs_store_conformance_run("storage_conformance_s3", make_s3, NULL);
    failed += cmocka_run_group_tests_name("storage_s3", s3_tests, NULL, NULL);
    cs_test_sh("'%s' --stop '%s'", script, dir);
    return failed == 0 ? 0 : 1;
}
