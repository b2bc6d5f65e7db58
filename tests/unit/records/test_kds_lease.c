/* SPDX-License-Identifier: Apache-2.0 */
/* Leases and checkpoints of record-stream consumers (ingest-server/api/kds_lease.c) through the
 * API's request runner (csi_kds_run) on a real store with a manual clock: one owner at a time,
 * expiry and takeover with a new counter, fencing of the old owner (renew, checkpoint, release
 * refused), checkpoints only forward and only of the shard's records, SHARD_END only on a closed
 * shard, transfer requests, ListLeases with lineage, leases kept across reopen and dropped with
 * the stream, and the argument checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "api_int.h"
#include "kds_lease.h"
#include "kds_store.h"
#include "testutil.h"

#define T0_MS 1700000000000ull
#define L CSI_KDS_LEASE_PREFIX

static cs_manual_clock mc;
static char dir[600], db[700];

static csi_kds_store *open_store(void)
{
    csi_kds_store_config cfg;
    csi_kds_store *s = NULL;
    csi_kds_store_config_init(&cfg);
    cfg.data_dir = dir;
    cfg.db_path = db;
    cfg.durable = false;
    cfg.clock = &mc.clock;
    assert_int_equal(csi_kds_store_open(&cfg, &s), CS_OK);
    return s;
}

static void advance_ms(uint64_t ms)
{
    cs_manual_clock_advance(&mc, ms * 1000000ull);
}

/* Runs `op` with the JSON `fmt` body; returns the answer (NULL on an error, whose type goes to
 * *type when type is not NULL; the test fails on an unexpected error). */
static json_t *run(csi_kds_store *s, const char *op, const char **type, const char *fmt, ...)
{
    struct csi_kds_result res;
    char body[2048];
    va_list ap;
    json_t *out = NULL;
    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    assert_int_equal(csi_kds_run(NULL, s, op, (const uint8_t *)body, strlen(body), false, &res),
                     CS_OK);
    if (type != NULL) {
        *type = res.error_type;
    } else if (res.error_type != NULL) {
        fail_msg("%s %s: %s: %s", op, body, res.error_type, res.message);
    }
    if (res.status == 200) {
        out = json_loadb((const char *)res.out, res.out_len, 0, NULL);
        assert_non_null(out);
    }
    free(res.out);
    return out;
}

static const char *err_of(csi_kds_store *s, const char *op, const char *body)
{
    const char *type = NULL;
    json_t *o = run(s, op, &type, "%s", body);
    json_decref(o);
    assert_non_null(type);
    return type;
}

static int64_t acquire(csi_kds_store *s, const char *shard, const char *worker, int ms)
{
    json_t *o = run(s, L "AcquireLease", NULL,
                    "{\"StreamName\":\"s\",\"ApplicationName\":\"app\",\"ShardId\":\"%s\","
                    "\"WorkerId\":\"%s\",\"LeaseDurationMillis\":%d}",
                    shard, worker, ms);
    json_t *l = json_object_get(o, "Lease");
    int64_t counter = json_integer_value(json_object_get(l, "LeaseCounter"));
    assert_string_equal(json_string_value(json_object_get(l, "LeaseOwner")), worker);
    assert_int_equal(json_integer_value(json_object_get(l, "LeaseExpiresInMillis")), ms);
    json_decref(o);
    return counter;
}

static char body[1024];

static const char *lreq(const char *shard, const char *worker, int64_t counter, const char *extra)
{
    snprintf(body, sizeof(body),
             "{\"StreamName\":\"s\",\"ApplicationName\":\"app\",\"ShardId\":\"%s\","
             "\"WorkerId\":\"%s\",\"LeaseCounter\":%lld%s}",
             shard, worker, (long long)counter, extra);
    return body;
}

/* The sequence number of the first record put with key `pk`. */
static void put_one(csi_kds_store *s, const char *hash, char seq[CSI_KDS_SEQ_LEN + 1])
{
    json_t *o = run(s, "PutRecord", NULL,
                    "{\"StreamName\":\"s\",\"Data\":\"eA==\",\"PartitionKey\":\"k\","
                    "\"ExplicitHashKey\":\"%s\"}",
                    hash);
    snprintf(seq, CSI_KDS_SEQ_LEN + 1, "%s",
             json_string_value(json_object_get(o, "SequenceNumber")));
    json_decref(o);
}

static void test_ownership_and_fencing(void **state)
{
    csi_kds_store *s;
    json_t *o;
    int64_t c1, c2;
    char seq1[CSI_KDS_SEQ_LEN + 1], seq2[CSI_KDS_SEQ_LEN + 1], extra[200];
    (void)state;
    snprintf(dir, sizeof(dir), "%s", cs_test_tmpdir("kds_lease_own"));
    snprintf(db, sizeof(db), "%s/index.sqlite3", dir);
    cs_manual_clock_init(&mc, 0, T0_MS * 1000000ull);
    s = open_store();
    json_decref(run(s, "CreateStream", NULL, "{\"StreamName\":\"s\",\"ShardCount\":2}"));
    put_one(s, "1", seq1);
    put_one(s, "2", seq2);

    /* A takes shard 0; B cannot while it is held; A again keeps its counter */
    c1 = acquire(s, "shardId-000000000000", "A", 1000);
    assert_int_equal(c1, 1);
    assert_string_equal(err_of(s, L "AcquireLease",
                               "{\"StreamName\":\"s\",\"ApplicationName\":\"app\",\"ShardId\":"
                               "\"shardId-000000000000\",\"WorkerId\":\"B\"}"),
                        "ResourceInUseException");
    assert_int_equal(acquire(s, "shardId-000000000000", "A", 1000), c1);
    /* another application has its own leases */
    json_decref(run(s, L "AcquireLease", NULL,
                    "{\"StreamName\":\"s\",\"ApplicationName\":\"other\",\"ShardId\":"
                    "\"shardId-000000000000\",\"WorkerId\":\"B\"}"));

    /* A checkpoints and renews; checkpoints only go forward */
    snprintf(extra, sizeof(extra), ",\"SequenceNumber\":\"%s\"", seq2);
    json_decref(run(s, L "Checkpoint", NULL, "%s", lreq("shardId-000000000000", "A", c1, extra)));
    snprintf(extra, sizeof(extra), ",\"SequenceNumber\":\"%s\"", seq1);
    assert_string_equal(err_of(s, L "Checkpoint", lreq("shardId-000000000000", "A", c1, extra)),
                        "InvalidArgumentException");
    advance_ms(900);
    o = run(s, L "RenewLease", NULL, "%s",
            lreq("shardId-000000000000", "A", c1, ",\"LeaseDurationMillis\":1000"));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(o, "Lease"), "LeaseExpiresInMillis")),
        1000);
    json_decref(o);
    advance_ms(900); /* renewed: still A's */
    assert_string_equal(err_of(s, L "AcquireLease",
                               "{\"StreamName\":\"s\",\"ApplicationName\":\"app\",\"ShardId\":"
                               "\"shardId-000000000000\",\"WorkerId\":\"B\"}"),
                        "ResourceInUseException");

    /* A stops renewing: after expiry B takes it with a new counter and sees A's checkpoint */
    advance_ms(101);
    o = run(s, L "AcquireLease", NULL,
            "{\"StreamName\":\"s\",\"ApplicationName\":\"app\",\"ShardId\":"
            "\"shardId-000000000000\",\"WorkerId\":\"B\",\"LeaseDurationMillis\":1000}");
    c2 = json_integer_value(json_object_get(json_object_get(o, "Lease"), "LeaseCounter"));
    assert_int_equal(c2, c1 + 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(o, "Lease"), "Checkpoint")), seq2);
    json_decref(o);

    /* A is fenced off: no renew, no checkpoint, no release */
    snprintf(extra, sizeof(extra), ",\"SequenceNumber\":\"%s\"", seq2);
    assert_string_equal(err_of(s, L "RenewLease", lreq("shardId-000000000000", "A", c1, "")),
                        "LeaseLostException");
    assert_string_equal(err_of(s, L "Checkpoint", lreq("shardId-000000000000", "A", c1, extra)),
                        "LeaseLostException");
    assert_string_equal(err_of(s, L "ReleaseLease", lreq("shardId-000000000000", "A", c1, "")),
                        "LeaseLostException");
    /* nor B with A's counter */
    assert_string_equal(err_of(s, L "Checkpoint", lreq("shardId-000000000000", "B", c1, extra)),
                        "LeaseLostException");

    /* a sequence number of the other shard, or SHARD_END of an open shard, is refused */
    assert_string_equal(
        err_of(s, L "Checkpoint",
               lreq("shardId-000000000000", "B", c2, ",\"SequenceNumber\":\"SHARD_END\"")),
        "InvalidArgumentException");
    assert_string_equal(err_of(s, L "Checkpoint",
                               lreq("shardId-000000000000", "B", c2, ",\"SequenceNumber\":\"12\"")),
                        "InvalidArgumentException");

    /* B releases: the lease is free, the checkpoint stays */
    json_decref(run(s, L "ReleaseLease", NULL, "%s", lreq("shardId-000000000000", "B", c2, "")));
    o = run(s, L "ListLeases", NULL, "{\"StreamName\":\"s\",\"ApplicationName\":\"app\"}");
    {
        json_t *ls = json_object_get(o, "Leases"), *l0 = json_array_get(ls, 0);
        assert_int_equal(json_array_size(ls), 2);
        assert_string_equal(json_string_value(json_object_get(l0, "ShardId")),
                            "shardId-000000000000");
        assert_null(json_object_get(l0, "LeaseOwner"));
        assert_int_equal(json_integer_value(json_object_get(l0, "LeaseExpiresInMillis")), 0);
        assert_string_equal(json_string_value(json_object_get(l0, "Checkpoint")), seq2);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(ls, 1), "LeaseCounter")),
                         0);
    }
    json_decref(o);

    /* kept across a restart */
    csi_kds_store_close(&s);
    s = open_store();
    o = run(s, L "ListLeases", NULL, "{\"StreamName\":\"s\",\"ApplicationName\":\"app\"}");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(o, "Leases"), 0), "Checkpoint")),
                        seq2);
    json_decref(o);

    /* dropped with the stream: a new stream of the same name starts fresh */
    json_decref(run(s, "DeleteStream", NULL, "{\"StreamName\":\"s\"}"));
    assert_string_equal(
        err_of(s, L "ListLeases", "{\"StreamName\":\"s\",\"ApplicationName\":\"app\"}"),
        "ResourceNotFoundException");
    json_decref(run(s, "CreateStream", NULL, "{\"StreamName\":\"s\",\"ShardCount\":1}"));
    o = run(s, L "ListLeases", NULL, "{\"StreamName\":\"s\",\"ApplicationName\":\"app\"}");
    assert_null(json_object_get(json_array_get(json_object_get(o, "Leases"), 0), "Checkpoint"));
    json_decref(o);
    csi_kds_store_close(&s);
}

static void test_transfer_and_lineage(void **state)
{
    csi_kds_store *s;
    json_t *o, *ls;
    int64_t ca, cb;
    const char *type = NULL;
    (void)state;
    snprintf(dir, sizeof(dir), "%s", cs_test_tmpdir("kds_lease_split"));
    snprintf(db, sizeof(db), "%s/index.sqlite3", dir);
    cs_manual_clock_init(&mc, 0, T0_MS * 1000000ull);
    s = open_store();
    json_decref(run(s, "CreateStream", NULL, "{\"StreamName\":\"s\",\"ShardCount\":1}"));

    /* B asks A to hand shard 0 over: refused now, A sees the request when it renews */
    ca = acquire(s, "shardId-000000000000", "A", 5000);
    o = run(s, L "AcquireLease", &type,
            "{\"StreamName\":\"s\",\"ApplicationName\":\"app\",\"ShardId\":"
            "\"shardId-000000000000\",\"WorkerId\":\"B\",\"RequestTransfer\":true}");
    assert_null(o);
    assert_string_equal(type, "ResourceInUseException");
    o = run(s, L "RenewLease", NULL, "%s", lreq("shardId-000000000000", "A", ca, ""));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(o, "Lease"), "TransferRequestedBy")),
        "B");
    json_decref(o);
    /* A's release hands it to B for the rest of A's term (renewed for the default 10 s): neither A
     * (a stale view) nor a third worker takes it in between */
    advance_ms(1000);
    json_decref(run(s, L "ReleaseLease", NULL, "%s", lreq("shardId-000000000000", "A", ca, "")));
    o = run(s, L "ListLeases", NULL, "{\"StreamName\":\"s\",\"ApplicationName\":\"app\"}");
    ls = json_array_get(json_object_get(o, "Leases"), 0);
    assert_string_equal(json_string_value(json_object_get(ls, "LeaseOwner")), "B");
    assert_int_equal(json_integer_value(json_object_get(ls, "LeaseExpiresInMillis")), 9000);
    assert_int_equal(json_integer_value(json_object_get(ls, "LeaseCounter")), ca + 1);
    assert_null(json_object_get(ls, "TransferRequestedBy"));
    json_decref(o);
    assert_string_equal(err_of(s, L "AcquireLease",
                               "{\"StreamName\":\"s\",\"ApplicationName\":\"app\",\"ShardId\":"
                               "\"shardId-000000000000\",\"WorkerId\":\"A\"}"),
                        "ResourceInUseException");
    assert_string_equal(err_of(s, L "AcquireLease",
                               "{\"StreamName\":\"s\",\"ApplicationName\":\"app\",\"ShardId\":"
                               "\"shardId-000000000000\",\"WorkerId\":\"C\"}"),
                        "ResourceInUseException");
    assert_string_equal(err_of(s, L "RenewLease", lreq("shardId-000000000000", "A", ca, "")),
                        "LeaseLostException");
    cb = acquire(s, "shardId-000000000000", "B", 5000);
    assert_int_equal(cb, ca + 1);

    /* a handed-over lease its new owner never takes up expires like any other */
    o = run(s, L "AcquireLease", &type,
            "{\"StreamName\":\"s\",\"ApplicationName\":\"app\",\"ShardId\":"
            "\"shardId-000000000000\",\"WorkerId\":\"C\",\"RequestTransfer\":true}");
    assert_null(o);
    json_decref(run(s, L "ReleaseLease", NULL, "%s", lreq("shardId-000000000000", "B", cb, "")));
    advance_ms(5001);
    cb = acquire(s, "shardId-000000000000", "B", 5000);
    assert_int_equal(cb, ca + 3);

    /* split: the parent closes; its SHARD_END checkpoint is accepted, the children list it */
    json_decref(run(s, "SplitShard", NULL,
                    "{\"StreamName\":\"s\",\"ShardToSplit\":\"shardId-000000000000\","
                    "\"NewStartingHashKey\":\"170141183460469231731687303715884105728\"}"));
    json_decref(run(s, L "Checkpoint", NULL, "%s",
                    lreq("shardId-000000000000", "B", cb, ",\"SequenceNumber\":\"SHARD_END\"")));
    o = run(s, L "ListLeases", NULL, "{\"StreamName\":\"s\",\"ApplicationName\":\"app\"}");
    ls = json_object_get(o, "Leases");
    assert_int_equal(json_array_size(ls), 3);
    assert_true(json_is_true(json_object_get(json_array_get(ls, 0), "Closed")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(ls, 0), "Checkpoint")),
                        "SHARD_END");
    for (size_t i = 1; i < 3; i++) {
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(ls, i), "ParentShardId")),
            "shardId-000000000000");
        assert_true(json_is_false(json_object_get(json_array_get(ls, i), "Closed")));
    }
    json_decref(o);
    /* a SHARD_END checkpoint is final */
    assert_string_equal(
        err_of(s, L "Checkpoint",
               lreq("shardId-000000000000", "B", cb,
                    ",\"SequenceNumber\":"
                    "\"49000000000000000000000000000000000000000000000000000000\"")),
        "InvalidArgumentException");
    csi_kds_store_close(&s);
}

static void test_bad_requests(void **state)
{
    csi_kds_store *s;
    (void)state;
    snprintf(dir, sizeof(dir), "%s", cs_test_tmpdir("kds_lease_bad"));
    snprintf(db, sizeof(db), "%s/index.sqlite3", dir);
    cs_manual_clock_init(&mc, 0, T0_MS * 1000000ull);
    s = open_store();
    json_decref(run(s, "CreateStream", NULL, "{\"StreamName\":\"s\",\"ShardCount\":1}"));
    assert_string_equal(err_of(s, L "ListLeases", "{\"StreamName\":\"s\"}"), "ValidationException");
    assert_string_equal(
        err_of(s, L "ListLeases", "{\"StreamName\":\"s\",\"ApplicationName\":\"a b\"}"),
        "InvalidArgumentException");
    assert_string_equal(err_of(s, L "AcquireLease",
                               "{\"StreamName\":\"s\",\"ApplicationName\":\"a\",\"ShardId\":"
                               "\"shardId-000000000000\"}"),
                        "ValidationException");
    assert_string_equal(err_of(s, L "AcquireLease",
                               "{\"StreamName\":\"s\",\"ApplicationName\":\"a\",\"ShardId\":"
                               "\"shardId-000000000007\",\"WorkerId\":\"w\"}"),
                        "ResourceNotFoundException");
    assert_string_equal(err_of(s, L "AcquireLease",
                               "{\"StreamName\":\"s\",\"ApplicationName\":\"a\",\"ShardId\":"
                               "\"shardId-000000000000\",\"WorkerId\":\"w\","
                               "\"LeaseDurationMillis\":5}"),
                        "InvalidArgumentException");
    assert_string_equal(err_of(s, L "RenewLease",
                               "{\"StreamName\":\"s\",\"ApplicationName\":\"a\",\"ShardId\":"
                               "\"shardId-000000000000\",\"WorkerId\":\"w\"}"),
                        "ValidationException");
    assert_string_equal(err_of(s, L "AcquireLease",
                               "{\"StreamName\":\"nope\",\"ApplicationName\":\"a\",\"ShardId\":"
                               "\"shardId-000000000000\",\"WorkerId\":\"w\"}"),
                        "ResourceNotFoundException");
    assert_string_equal(err_of(s, L "StealLease", "{\"StreamName\":\"s\"}"),
                        "UnknownOperationException");
    csi_kds_store_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ownership_and_fencing),
        cmocka_unit_test(test_transfer_and_lineage),
        cmocka_unit_test(test_bad_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
