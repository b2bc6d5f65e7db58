/* SPDX-License-Identifier: Apache-2.0 */
/* The record-stream API (Kinesis Data Streams, PROTOCOL.md §6) on the HTTP router: `POST /` with
 * `X-Amz-Target: Kinesis_20131202.<Op>`, JSON 1.1 or CBOR 1.1 bodies, SigV4 service `kinesis`,
 * errors as `{"__type","message"}`. Each operation maps its request onto kds_store (the
 * semantics) and kds_meta (describe/list/tags). Signatures are checked on the loop; parsing and
 * every store call run on the worker pool. Invariants: docs/internals/RECORDS.md. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "kds_cbor.h"
#include "kds_fastjson.h"
#include "kds_scale.h"
#include "kds_lease.h"
#include "kds_store.h"
#include "kds_sub.h"

#define MOD "kds"
#define TARGET_PREFIX "Kinesis_20131202."
#define ACCOUNT "123456789012"

#define E_ARG "InvalidArgumentException"
#define E_NOTFOUND "ResourceNotFoundException"
#define E_INUSE "ResourceInUseException"
#define E_LIMIT "LimitExceededException"
#define E_EXPIRED "ExpiredIteratorException"
#define E_VALIDATION "ValidationException"
#define E_INTERNAL "InternalFailure"
#define E_DENIED "AccessDeniedException"

struct kreq {
    struct csi_api_body body; /* first: request.c finds it */
    cs_api *api;
    csi_kds_store *store;
    cs_http_stream *s;
    char op[64];
    bool cbor;
    const cs_api_credential *key;
    bool in_flight, closed;
    char changed[CSI_KDS_MAX_STREAM_NAME + 1]; /* a write op succeeded: wake its subscriptions */
    /* result */
    int status;
    const char *error_type;
    char message[512];
    uint8_t *out;
    size_t out_len;
};

struct kds_route {
    cs_api *api;
    csi_kds_store *store;
};

static void kfail(struct kreq *r, int status, const char *type, const char *fmt, ...)
    CS_PRINTF(4, 5);

static void kfail(struct kreq *r, int status, const char *type, const char *fmt, ...)
{
    va_list ap;
    r->status = status;
    r->error_type = type;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
}

/* Maps a store status to the service's error. */
static void fail_st(struct kreq *r, cs_status st, const char *what, const char *name)
{
    switch (st) {
    case CS_E_NOTFOUND:
        kfail(r, 400, E_NOTFOUND, "%s %s not found.", what, name ? name : "");
        break;
    case CS_E_EXISTS:
        kfail(r, 400, E_INUSE, "%s %s already exists.", what, name ? name : "");
        break;
    case CS_E_INVAL:
    case CS_E_RANGE:
    case CS_E_STATE:
        kfail(r, 400, E_ARG, "%s %s: invalid argument (%s).", what, name ? name : "",
              cs_status_str(st));
        break;
    case CS_E_LIMIT:
        kfail(r, 400, E_LIMIT, "%s %s: limit exceeded.", what, name ? name : "");
        break;
    case CS_E_TIMEOUT:
        kfail(r, 400, E_EXPIRED, "Iterator expired (older than 300 seconds).");
        break;
    case CS_E_MALFORMED:
        kfail(r, 400, E_ARG, "Invalid ShardIterator.");
        break;
    default:
        kfail(r, 500, E_INTERNAL, "%s %s: %s.", what, name ? name : "", cs_status_str(st));
        break;
    }
}

/* StreamName, or the name inside StreamARN. */
static const char *stream_name(json_t *in, char *buf, size_t cap)
{
    const char *n = json_string_value(json_object_get(in, "StreamName"));
    const char *arn = json_string_value(json_object_get(in, "StreamARN"));
    if (n != NULL) {
        return n;
    }
    if (arn != NULL) {
        const char *p = strstr(arn, ":stream/");
        if (p != NULL && strlen(p + 8) < cap) {
            snprintf(buf, cap, "%s", p + 8);
            return buf;
        }
    }
    return NULL;
}

static const char *region_of(cs_api *api)
{
    return api != NULL ? csi_api_region(api) : "us-west-2";
}

static void arn(const char *region, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "arn:aws:kinesis:%s:%s:stream/%s", region, ACCOUNT, name);
}

static json_t *shard_json(const csi_kds_stream *st, const csi_kds_shard *sh)
{
    char id[CSI_KDS_SHARD_ID_LEN + 1], s[CSI_KDS_U128_MAX_TEXT], e[CSI_KDS_U128_MAX_TEXT];
    char seq0[CSI_KDS_SEQ_LEN + 1], seq1[CSI_KDS_SEQ_LEN + 1];
    json_t *o, *range;
    csi_kds_shard_id(sh->index, id);
    csi_kds_u128_format(sh->start, s);
    csi_kds_u128_format(sh->end, e);
    csi_kds_seq_format(st->created_ms, sh->index, 0, seq0);
    o = json_pack("{s:s,s:{s:s,s:s}}", "ShardId", id, "HashKeyRange", "StartingHashKey", s,
                  "EndingHashKey", e);
    range = json_pack("{s:s}", "StartingSequenceNumber", seq0);
    if (sh->closed) {
        csi_kds_seq_format(st->created_ms, sh->index, sh->end_offset ? sh->end_offset - 1 : 0,
                           seq1);
        json_object_set_new(range, "EndingSequenceNumber", json_string(seq1));
    }
    json_object_set_new(o, "SequenceNumberRange", range);
    if (sh->parent >= 0) {
        csi_kds_shard_id((uint32_t)sh->parent, id);
        json_object_set_new(o, "ParentShardId", json_string(id));
    }
    if (sh->adjacent_parent >= 0) {
        csi_kds_shard_id((uint32_t)sh->adjacent_parent, id);
        json_object_set_new(o, "AdjacentParentShardId", json_string(id));
    }
    return o;
}

static json_t *mode(bool on_demand)
{
    return json_pack("{s:s}", "StreamMode", on_demand ? "ON_DEMAND" : "PROVISIONED");
}

/* ---- operations --------------------------------------------------------------------------- */

typedef json_t *(*kop_fn)(struct kreq *r, json_t *in, const char *name);

static json_t *op_create(struct kreq *r, json_t *in, const char *name)
{
    json_t *sc = json_object_get(in, "ShardCount");
    const char *m =
        json_string_value(json_object_get(json_object_get(in, "StreamModeDetails"), "StreamMode"));
    bool on_demand = m != NULL && strcmp(m, "ON_DEMAND") == 0;
    json_int_t shards = on_demand && sc == NULL ? 4 : json_integer_value(sc);
    cs_status st;
    if (m != NULL && !on_demand && strcmp(m, "PROVISIONED") != 0) {
        kfail(r, 400, E_VALIDATION, "StreamMode must be PROVISIONED or ON_DEMAND.");
        return NULL;
    }
    if (!json_is_integer(sc) && !on_demand) {
        kfail(r, 400, E_VALIDATION, "ShardCount is required for a PROVISIONED stream.");
        return NULL;
    }
    if (shards < 1 || shards > 500) {
        kfail(r, 400, E_ARG, "ShardCount must be between 1 and 500.");
        return NULL;
    }
    st = csi_kds_store_create(r->store, name, (uint32_t)shards, on_demand);
    if (st != CS_OK) {
        fail_st(r, st, "Stream", name);
        return NULL;
    }
    return json_object();
}

static json_t *op_delete(struct kreq *r, json_t *in, const char *name)
{
    cs_status st = csi_kds_store_delete(r->store, name);
    (void)in;
    if (st != CS_OK) {
        fail_st(r, st, "Stream", name);
        return NULL;
    }
    return json_object();
}

static json_t *describe(struct kreq *r, const char *name, bool summary, json_t *in)
{
    csi_kds_stream s;
    csi_kds_shard *sh = calloc(CSI_KDS_MAX_SHARDS, sizeof(*sh));
    char a[512];
    size_t n = 0;
    json_t *d, *shards;
    cs_status st;
    if (sh == NULL) {
        kfail(r, 500, E_INTERNAL, "Out of memory.");
        return NULL;
    }
    st = csi_kds_meta_get(csi_kds_store_meta(r->store), name, &s);
    if (st == CS_OK) {
        st = csi_kds_meta_shards(csi_kds_store_meta(r->store), name, sh, CSI_KDS_MAX_SHARDS, &n);
    }
    if (st != CS_OK) {
        free(sh);
        fail_st(r, st, "Stream", name);
        return NULL;
    }
    arn(region_of(r->api), name, a, sizeof(a));
    d = json_pack("{s:s,s:s,s:s,s:o,s:i,s:f,s:[{s:[]}],s:s}", "StreamName", name, "StreamARN", a,
                  "StreamStatus", "ACTIVE", "StreamModeDetails", mode(s.on_demand),
                  "RetentionPeriodHours", (json_int_t)s.retention_hours, "StreamCreationTimestamp",
                  (double)s.created_ms / 1000.0, "EnhancedMonitoring", "ShardLevelMetrics",
                  "EncryptionType", "NONE");
    if (summary) {
        json_object_set_new(d, "OpenShardCount", json_integer(s.open_shards));
        json_object_set_new(d, "ConsumerCount",
                            json_integer(csi_kds_consumer_count(r->store, name)));
        free(sh);
        return json_pack("{s:o}", "StreamDescriptionSummary", d);
    } else {
        json_int_t limit = json_integer_value(json_object_get(in, "Limit"));
        const char *after = json_string_value(json_object_get(in, "ExclusiveStartShardId"));
        uint32_t after_idx = 0;
        bool has_after =
            after != NULL && csi_kds_shard_id_parse(after, strlen(after), &after_idx) == CS_OK;
        size_t added = 0;
        bool more = false;
        if (limit <= 0 || limit > 10000) {
            limit = 10000;
        }
        shards = json_array();
        for (size_t i = 0; i < n; i++) {
            if (has_after && sh[i].index <= after_idx) {
                continue;
            }
            if (added == (size_t)limit) {
                more = true;
                break;
            }
            json_array_append_new(shards, shard_json(&s, &sh[i]));
            added++;
        }
        json_object_set_new(d, "Shards", shards);
        json_object_set_new(d, "HasMoreShards", json_boolean(more));
        free(sh);
        return json_pack("{s:o}", "StreamDescription", d);
    }
}

static json_t *op_describe(struct kreq *r, json_t *in, const char *name)
{
    return describe(r, name, false, in);
}

static json_t *op_describe_summary(struct kreq *r, json_t *in, const char *name)
{
    return describe(r, name, true, in);
}

static json_t *op_list_streams(struct kreq *r, json_t *in, const char *name)
{
    char(*names)[CSI_KDS_MAX_STREAM_NAME + 1];
    json_int_t limit = json_integer_value(json_object_get(in, "Limit"));
    const char *after = json_string_value(json_object_get(in, "ExclusiveStartStreamName"));
    const char *token = json_string_value(json_object_get(in, "NextToken"));
    size_t n = 0, kept = 0;
    bool more = false;
    json_t *out, *list, *sums;
    cs_status st;
    (void)name;
    if (limit <= 0 || limit > 1000) {
        limit = 100;
    }
    if (token != NULL) {
        after = token; /* the token is the last name listed */
    }
    names = calloc((size_t)limit, sizeof(*names));
    if (names == NULL) {
        kfail(r, 500, E_INTERNAL, "Out of memory.");
        return NULL;
    }
    st = csi_kds_meta_list(csi_kds_store_meta(r->store), after, (size_t)limit, names, &n, &more);
    if (st != CS_OK) {
        free(names);
        fail_st(r, st, "Streams", "");
        return NULL;
    }
    list = json_array();
    sums = json_array();
    for (size_t i = 0; i < n; i++) {
        csi_kds_stream s;
        char a[512];
        if (!csi_api_key_allows(r->key, CS_API_READ | CS_API_WRITE, names[i]) ||
            csi_kds_meta_get(csi_kds_store_meta(r->store), names[i], &s) != CS_OK) {
            continue;
        }
        arn(region_of(r->api), names[i], a, sizeof(a));
        json_array_append_new(list, json_string(names[i]));
        json_array_append_new(
            sums, json_pack("{s:s,s:s,s:s,s:o,s:f}", "StreamName", names[i], "StreamARN", a,
                            "StreamStatus", "ACTIVE", "StreamModeDetails", mode(s.on_demand),
                            "StreamCreationTimestamp", (double)s.created_ms / 1000.0));
        kept++;
    }
    out = json_pack("{s:o,s:b,s:o}", "StreamNames", list, "HasMoreStreams", more, "StreamSummaries",
                    sums);
    if (more && n > 0) {
        json_object_set_new(out, "NextToken", json_string(names[n - 1]));
    }
    free(names);
    (void)kept;
    return out;
}

static json_t *op_list_shards(struct kreq *r, json_t *in, const char *name)
{
    const char *token = json_string_value(json_object_get(in, "NextToken"));
    char buf[CSI_KDS_MAX_STREAM_NAME + 1];
    json_t *d, *shards, *out;
    json_int_t max = json_integer_value(json_object_get(in, "MaxResults"));
    size_t total;
    if (token != NULL) {
        /* NextToken = "<stream>|<last shard id>" (opaque to clients) */
        const char *bar = strrchr(token, '|');
        if (bar == NULL || (size_t)(bar - token) >= sizeof(buf)) {
            kfail(r, 400, E_ARG, "Invalid NextToken.");
            return NULL;
        }
        snprintf(buf, sizeof(buf), "%.*s", (int)(bar - token), token);
        name = buf;
        json_object_set_new(in, "ExclusiveStartShardId", json_string(bar + 1));
    }
    if (name == NULL) {
        kfail(r, 400, E_ARG, "StreamName or NextToken is required.");
        return NULL;
    }
    if (max <= 0 || max > 10000) {
        max = 1000;
    }
    json_object_set_new(in, "Limit", json_integer(max));
    d = describe(r, name, false, in);
    if (d == NULL) {
        return NULL;
    }
    shards = json_incref(json_object_get(json_object_get(d, "StreamDescription"), "Shards"));
    total = json_array_size(shards);
    out = json_pack("{s:o}", "Shards", shards);
    if (json_is_true(json_object_get(json_object_get(d, "StreamDescription"), "HasMoreShards")) &&
        total > 0) {
        char tok[512];
        snprintf(tok, sizeof(tok), "%s|%s", name,
                 json_string_value(json_object_get(json_array_get(shards, total - 1), "ShardId")));
        json_object_set_new(out, "NextToken", json_string(tok));
    }
    json_decref(d);
    return out;
}

/* GetRecords and PutRecord(s) in JSON: the answer is written straight into one buffer (jansson
 * would build a tree of ~4-6 nodes per record first: most of the time of a 500-record put or a
 * 10,000-record read). */
struct jbuf {
    char *p;
    size_t n, cap;
    bool oom;
};

static void jb_put(struct jbuf *b, const char *d, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *np = realloc(b->p, cap);
        if (np == NULL) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

#define jb_lit(b, lit) jb_put((b), (lit), sizeof(lit) - 1)

/* A JSON string: quotes, backslashes and control characters escaped; UTF-8 passed through. */
static void jb_str(struct jbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = 0;
    jb_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            jb_put(b, s + start, i - start);
            if (c == '"' || c == '\\') {
                char q[2] = {'\\', (char)c};
                jb_put(b, q, 2);
            } else {
                jb_put(b, e, 6);
            }
            start = i + 1;
        }
    }
    jb_put(b, s + start, n - start);
    jb_put(b, "\"", 1);
}

/* Decodes one record of PutRecord(s) into `p`; the data buffer is malloc()ed into *data. */
static bool record_in(struct kreq *r, json_t *rec, csi_kds_put *p, uint8_t **data)
{
    const char *b64 = json_string_value(json_object_get(rec, "Data"));
    const char *pk = json_string_value(json_object_get(rec, "PartitionKey"));
    const char *eh = json_string_value(json_object_get(rec, "ExplicitHashKey"));
    size_t n, got = 0;
    if (b64 == NULL || pk == NULL) {
        kfail(r, 400, E_VALIDATION, "Data and PartitionKey are required.");
        return false;
    }
    n = strlen(b64);
    if (strlen(pk) == 0 || strlen(pk) > 256) {
        kfail(r, 400, E_VALIDATION, "PartitionKey must be 1 to 256 characters.");
        return false;
    }
    *data = malloc(n / 4 * 3 + 1);
    if (*data == NULL || csi_kds_base64_decode(b64, n, *data, n / 4 * 3 + 1, &got) != CS_OK) {
        kfail(r, 400, E_ARG, "Data is not valid base64.");
        return false;
    }
    if (got > 1024 * 1024) {
        kfail(r, 400, E_VALIDATION, "Data is larger than 1 MiB.");
        return false;
    }
    if (eh != NULL) {
        csi_u128 v;
        if (csi_kds_u128_parse(eh, strlen(eh), &v) != CS_OK) {
            kfail(r, 400, E_ARG, "ExplicitHashKey must be a number between 0 and 2^128-1.");
            return false;
        }
    }
    *p = (csi_kds_put){pk, strlen(pk), eh, *data, got};
    return true;
}

/* The put's answer in JSON, written by hand (the same members, in the same order, as the json_pack
 * calls of put_answer_tree). */
static void put_answer_json(struct jbuf *b, const char *name, size_t n, bool single,
                            const csi_kds_put_result *res)
{
    char id[CSI_KDS_SHARD_ID_LEN + 1], num[24];
    size_t failed = 0;
    if (single) {
        csi_kds_shard_id(res[0].shard, id);
        jb_lit(b, "{\"ShardId\":\"");
        jb_put(b, id, strlen(id));
        jb_lit(b, "\",\"SequenceNumber\":\"");
        jb_put(b, res[0].seq, strlen(res[0].seq));
        jb_lit(b, "\",\"EncryptionType\":\"NONE\"}");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        failed += res[i].status != CS_OK;
    }
    jb_lit(b, "{\"FailedRecordCount\":");
    jb_put(b, num, (size_t)snprintf(num, sizeof(num), "%zu", failed));
    jb_lit(b, ",\"Records\":[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            jb_lit(b, ",");
        }
        if (res[i].status == CS_OK) {
            csi_kds_shard_id(res[i].shard, id);
            jb_lit(b, "{\"SequenceNumber\":\"");
            jb_put(b, res[i].seq, CSI_KDS_SEQ_LEN);
            jb_lit(b, "\",\"ShardId\":\"");
            jb_put(b, id, CSI_KDS_SHARD_ID_LEN);
            jb_lit(b, "\"}");
        } else {
            char msg[512];
            const char *code = E_INTERNAL, *m = cs_status_str(res[i].status);
            if (res[i].status == CS_E_LIMIT) {
                code = CSI_KDS_E_THROUGHPUT;
                csi_kds_throughput_message(name, res[i].shard, msg, sizeof(msg));
                m = msg;
            }
            jb_lit(b, "{\"ErrorCode\":");
            jb_str(b, code, strlen(code));
            jb_lit(b, ",\"ErrorMessage\":");
            jb_str(b, m, strlen(m));
            jb_lit(b, "}");
        }
    }
    jb_lit(b, "],\"EncryptionType\":\"NONE\"}");
}

/* The put's answer as a tree (CBOR requests). */
static json_t *put_answer_tree(const char *name, size_t n, bool single,
                               const csi_kds_put_result *res)
{
    char id[CSI_KDS_SHARD_ID_LEN + 1];
    json_t *arr;
    size_t failed = 0;
    if (single) {
        csi_kds_shard_id(res[0].shard, id);
        return json_pack("{s:s,s:s,s:s}", "ShardId", id, "SequenceNumber", res[0].seq,
                         "EncryptionType", "NONE");
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (res[i].status == CS_OK) {
            csi_kds_shard_id(res[i].shard, id);
            json_array_append_new(
                arr, json_pack("{s:s,s:s}", "SequenceNumber", res[i].seq, "ShardId", id));
        } else if (res[i].status == CS_E_LIMIT) {
            char msg[512];
            failed++;
            csi_kds_throughput_message(name, res[i].shard, msg, sizeof(msg));
            json_array_append_new(arr, json_pack("{s:s,s:s}", "ErrorCode", CSI_KDS_E_THROUGHPUT,
                                                 "ErrorMessage", msg));
        } else {
            failed++;
            json_array_append_new(arr, json_pack("{s:s,s:s}", "ErrorCode", E_INTERNAL,
                                                 "ErrorMessage", cs_status_str(res[i].status)));
        }
    }
    return json_pack("{s:i,s:o,s:s}", "FailedRecordCount", (json_int_t)failed, "Records", arr,
                     "EncryptionType", "NONE");
}

/* Stores `n` decoded records and makes the answer: a tree (CBOR), or, in JSON, the body in r->out
 * and json_null(). NULL: failed (r holds the error). */
static json_t *put_decoded(struct kreq *r, const csi_kds_put *p, size_t n, const char *name,
                           bool single)
{
    csi_kds_put_result *res = malloc(n * sizeof(*res));
    json_t *out = NULL;
    cs_status st;
    if (res == NULL) {
        kfail(r, 500, E_INTERNAL, "Out of memory.");
        return NULL;
    }
    st = csi_kds_store_put(r->store, name, p, n, res);
    if (st != CS_OK) {
        fail_st(r, st, "Stream", name);
    } else if (single && res[0].status == CS_E_LIMIT) {
        csi_kds_throughput_message(name, res[0].shard, r->message, sizeof(r->message));
        r->status = 400;
        r->error_type = CSI_KDS_E_THROUGHPUT;
    } else if (single && res[0].status != CS_OK) {
        kfail(r, 500, E_INTERNAL, "The record could not be stored (%s).",
              cs_status_str(res[0].status));
    } else if (r->cbor) {
        out = put_answer_tree(name, n, single, res);
    } else {
        struct jbuf jb = {0};
        put_answer_json(&jb, name, n, single, res);
        if (jb.oom) {
            free(jb.p); /* run_op: "Out of memory." */
        } else {
            r->out = (uint8_t *)jb.p;
            r->out_len = jb.n;
            out = json_null(); /* the body is ready */
        }
    }
    free(res);
    return out;
}

static json_t *put(struct kreq *r, json_t *records, const char *name, bool single)
{
    size_t n = json_array_size(records);
    csi_kds_put *p = calloc(n ? n : 1, sizeof(*p));
    uint8_t **bufs = calloc(n ? n : 1, sizeof(*bufs));
    json_t *out = NULL;
    if (p == NULL || bufs == NULL) {
        kfail(r, 500, E_INTERNAL, "Out of memory.");
        goto done;
    }
    if (n == 0 || n > 500) {
        kfail(r, 400, E_VALIDATION, "Records must hold 1 to 500 records.");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (!record_in(r, json_array_get(records, i), &p[i], &bufs[i])) {
            goto done;
        }
    }
    out = put_decoded(r, p, n, name, single);
done:
    for (size_t i = 0; bufs != NULL && i < n; i++) {
        free(bufs[i]);
    }
    free(bufs);
    free(p);
    return out;
}

static json_t *op_put_record(struct kreq *r, json_t *in, const char *name)
{
    json_t *arr = json_array(), *out;
    json_array_append(arr, in);
    out = put(r, arr, name, true);
    json_decref(arr);
    return out;
}

static json_t *op_put_records(struct kreq *r, json_t *in, const char *name)
{
    json_t *recs = json_object_get(in, "Records");
    if (!json_is_array(recs)) {
        kfail(r, 400, E_VALIDATION, "Records is required.");
        return NULL;
    }
    return put(r, recs, name, false);
}

static json_t *op_get_iterator(struct kreq *r, json_t *in, const char *name)
{
    static const char *types[] = {"AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "AT_TIMESTAMP",
                                  "TRIM_HORIZON", "LATEST"};
    const char *t = json_string_value(json_object_get(in, "ShardIteratorType"));
    const char *sid = json_string_value(json_object_get(in, "ShardId"));
    const char *seq = json_string_value(json_object_get(in, "StartingSequenceNumber"));
    json_t *ts = json_object_get(in, "Timestamp");
    char it[CSI_KDS_ITERATOR_MAX];
    uint32_t shard;
    int type = -1;
    cs_status st;
    for (int i = 0; t != NULL && i < 5; i++) {
        if (strcmp(t, types[i]) == 0) {
            type = i;
        }
    }
    if (type < 0) {
        kfail(r, 400, E_VALIDATION,
              "ShardIteratorType must be one of AT_SEQUENCE_NUMBER, "
              "AFTER_SEQUENCE_NUMBER, AT_TIMESTAMP, TRIM_HORIZON, LATEST.");
        return NULL;
    }
    if (sid == NULL || csi_kds_shard_id_parse(sid, strlen(sid), &shard) != CS_OK) {
        kfail(r, 400, E_VALIDATION, "ShardId is required (shardId-NNNNNNNNNNNN).");
        return NULL;
    }
    if ((type == 0 || type == 1) && seq == NULL) {
        kfail(r, 400, E_ARG, "StartingSequenceNumber is required for %s.", t);
        return NULL;
    }
    if (type == 2 && !json_is_number(ts)) {
        kfail(r, 400, E_ARG, "Timestamp is required for AT_TIMESTAMP.");
        return NULL;
    }
    st = csi_kds_store_iterator(r->store, name, shard, (csi_kds_iter_type)type, seq,
                                type == 2 ? (uint64_t)(json_number_value(ts) * 1000.0) : 0, it);
    if (st != CS_OK) {
        if (st == CS_E_INVAL) {
            kfail(r, 400, E_ARG, "StartingSequenceNumber %s is not a sequence number of %s.",
                  seq ? seq : "", sid);
        } else {
            fail_st(r, st, "Shard", sid);
        }
        return NULL;
    }
    return json_pack("{s:s}", "ShardIterator", it);
}

static bool on_record(void *ctx, const csi_kds_record *rec)
{
    json_t *arr = ctx;
    char *b64 = malloc(csi_kds_base64_len(rec->len) + 1);
    if (b64 == NULL) {
        return false;
    }
    csi_kds_base64_encode(rec->data, rec->len, b64);
    b64[csi_kds_base64_len(rec->len)] = '\0';
    json_array_append_new(
        arr, json_pack("{s:s,s:f,s:s,s:s%,s:s}", "SequenceNumber", rec->seq,
                       "ApproximateArrivalTimestamp", (double)rec->arrival_ms / 1000.0, "Data", b64,
                       "PartitionKey", rec->partition_key, rec->key_len, "EncryptionType", "NONE"));
    free(b64);
    return true;
}

static bool on_record_raw(void *ctx, const csi_kds_record *rec)
{
    struct jbuf *b = ctx;
    char head[192];
    size_t b64 = csi_kds_base64_len(rec->len), hn;
    /* %s{"SequenceNumber":"%s","ApproximateArrivalTimestamp":%llu.%03u,"Data":" by hand */
    static const char k1[] = "{\"SequenceNumber\":\"",
                      k2[] = "\",\"ApproximateArrivalTimestamp\":", k3[] = ",\"Data\":\"";
    char digits[24];
    size_t nd = 0, sl = strlen(rec->seq);
    uint64_t secs = rec->arrival_ms / 1000;
    unsigned ms = (unsigned)(rec->arrival_ms % 1000);
    hn = 0;
    if (b->n > 12) {
        head[hn++] = ',';
    }
    memcpy(head + hn, k1, sizeof(k1) - 1);
    hn += sizeof(k1) - 1;
    if (sl > 64) {
        sl = 64; /* never: sequence numbers are 56 digits */
    }
    memcpy(head + hn, rec->seq, sl);
    hn += sl;
    memcpy(head + hn, k2, sizeof(k2) - 1);
    hn += sizeof(k2) - 1;
    do {
        digits[nd++] = (char)('0' + secs % 10);
        secs /= 10;
    } while (secs > 0);
    while (nd > 0) {
        head[hn++] = digits[--nd];
    }
    head[hn++] = '.';
    head[hn++] = (char)('0' + ms / 100);
    head[hn++] = (char)('0' + ms / 10 % 10);
    head[hn++] = (char)('0' + ms % 10);
    memcpy(head + hn, k3, sizeof(k3) - 1);
    hn += sizeof(k3) - 1;
    jb_put(b, head, hn);
    if (!b->oom && b->n + b64 + 1 > b->cap) {
        size_t cap = (b->n + b64 + 1) * 2;
        char *np = realloc(b->p, cap);
        if (np == NULL) {
            b->oom = true;
        } else {
            b->p = np;
            b->cap = cap;
        }
    }
    if (!b->oom) {
        csi_kds_base64_encode(rec->data, rec->len, b->p + b->n);
        b->n += b64;
    }
    jb_lit(b, "\",\"PartitionKey\":");
    jb_str(b, rec->partition_key, rec->key_len);
    jb_lit(b, ",\"EncryptionType\":\"NONE\"}");
    return !b->oom;
}

static json_t *op_get_records(struct kreq *r, json_t *in, const char *name)
{
    const char *it = json_string_value(json_object_get(in, "ShardIterator"));
    json_int_t limit = json_integer_value(json_object_get(in, "Limit"));
    csi_kds_get_result res;
    json_t *recs, *out;
    cs_status st;
    (void)name;
    if (it == NULL) {
        kfail(r, 400, E_VALIDATION, "ShardIterator is required.");
        return NULL;
    }
    if (json_object_get(in, "Limit") != NULL && (limit < 1 || limit > 10000)) {
        kfail(r, 400, E_ARG, "Limit must be between 1 and 10000.");
        return NULL;
    }
    struct jbuf jb = {0};
    if (r->cbor) {
        recs = json_array();
        st = csi_kds_store_get_limited(r->store, it, limit > 0 ? (size_t)limit : 10000, on_record,
                                       recs, &res);
    } else {
        recs = NULL;
        jb_lit(&jb, "{\"Records\":[");
        st = csi_kds_store_get_limited(r->store, it, limit > 0 ? (size_t)limit : 10000,
                                       on_record_raw, &jb, &res);
        if (st == CS_OK && jb.oom) {
            st = CS_E_NOMEM;
        }
    }
    if (st == CS_E_LIMIT) {
        csi_kds_iterator pos;
        json_decref(recs);
        free(jb.p);
        if (csi_kds_store_iterator_position(r->store, it, &pos) != CS_OK) {
            pos.stream[0] = '\0';
            pos.shard = 0;
        }
        csi_kds_throughput_message(pos.stream, pos.shard, r->message, sizeof(r->message));
        r->status = 400;
        r->error_type = CSI_KDS_E_THROUGHPUT;
        return NULL;
    }
    if (st != CS_OK) {
        json_decref(recs);
        free(jb.p);
        fail_st(r, st, "Shard iterator", "");
        return NULL;
    }
    out = recs != NULL ? json_pack("{s:o,s:i}", "Records", recs, "MillisBehindLatest",
                                   (json_int_t)res.millis_behind)
                       : json_pack("{s:i}", "MillisBehindLatest", (json_int_t)res.millis_behind);
    if (res.has_next) {
        json_object_set_new(out, "NextShardIterator", json_string(res.next));
    } else {
        json_object_set_new(out, "ChildShards", csi_kds_children_json(&res));
    }
    if (recs == NULL) {
        /* Splice: the records written by hand, then the rest of the members. */
        char *tail = json_dumps(out, JSON_COMPACT);
        json_decref(out);
        if (tail == NULL) {
            free(jb.p);
            kfail(r, 500, E_INTERNAL, "Out of memory.");
            return NULL;
        }
        jb_lit(&jb, "],");
        jb_put(&jb, tail + 1, strlen(tail + 1)); /* without its '{' */
        free(tail);
        if (jb.oom) {
            free(jb.p);
            kfail(r, 500, E_INTERNAL, "Out of memory.");
            return NULL;
        }
        r->out = (uint8_t *)jb.p;
        r->out_len = jb.n;
        return json_null(); /* the body is ready */
    }
    return out;
}

static json_t *op_retention(struct kreq *r, json_t *in, const char *name, bool increase)
{
    json_t *h = json_object_get(in, "RetentionPeriodHours");
    csi_kds_stream s;
    cs_status st;
    if (!json_is_integer(h)) {
        kfail(r, 400, E_VALIDATION, "RetentionPeriodHours is required.");
        return NULL;
    }
    st = csi_kds_meta_get(csi_kds_store_meta(r->store), name, &s);
    if (st != CS_OK) {
        fail_st(r, st, "Stream", name);
        return NULL;
    }
    if (increase ? json_integer_value(h) < (json_int_t)s.retention_hours
                 : json_integer_value(h) > (json_int_t)s.retention_hours) {
        kfail(r, 400, E_ARG, "RetentionPeriodHours %lld would %s the retention of %u hours.",
              (long long)json_integer_value(h), increase ? "decrease" : "increase",
              s.retention_hours);
        return NULL;
    }
    if (json_integer_value(h) < CSI_KDS_MIN_RETENTION ||
        json_integer_value(h) > CSI_KDS_MAX_RETENTION) {
        kfail(r, 400, E_ARG, "RetentionPeriodHours must be between 24 and 8760.");
        return NULL;
    }
    st = csi_kds_meta_set_retention(csi_kds_store_meta(r->store), name,
                                    (uint32_t)json_integer_value(h));
    if (st != CS_OK) {
        fail_st(r, st, "Stream", name);
        return NULL;
    }
    return json_object();
}

static json_t *op_increase(struct kreq *r, json_t *in, const char *name)
{
    return op_retention(r, in, name, true);
}

static json_t *op_decrease(struct kreq *r, json_t *in, const char *name)
{
    return op_retention(r, in, name, false);
}

static json_t *op_split(struct kreq *r, json_t *in, const char *name)
{
    const char *sid = json_string_value(json_object_get(in, "ShardToSplit"));
    const char *key = json_string_value(json_object_get(in, "NewStartingHashKey"));
    uint32_t shard;
    cs_status st;
    if (sid == NULL || key == NULL || csi_kds_shard_id_parse(sid, strlen(sid), &shard) != CS_OK) {
        kfail(r, 400, E_VALIDATION, "ShardToSplit and NewStartingHashKey are required.");
        return NULL;
    }
    st = csi_kds_store_split(r->store, name, shard, key, NULL);
    if (st != CS_OK) {
        fail_st(r, st, "Shard", sid);
        return NULL;
    }
    return json_object();
}

static json_t *op_merge(struct kreq *r, json_t *in, const char *name)
{
    const char *a = json_string_value(json_object_get(in, "ShardToMerge"));
    const char *b = json_string_value(json_object_get(in, "AdjacentShardToMerge"));
    uint32_t ia, ib;
    cs_status st;
    if (a == NULL || b == NULL || csi_kds_shard_id_parse(a, strlen(a), &ia) != CS_OK ||
        csi_kds_shard_id_parse(b, strlen(b), &ib) != CS_OK) {
        kfail(r, 400, E_VALIDATION, "ShardToMerge and AdjacentShardToMerge are required.");
        return NULL;
    }
    st = csi_kds_store_merge(r->store, name, ia, ib, NULL);
    if (st != CS_OK) {
        fail_st(r, st, "Shard", a);
        return NULL;
    }
    return json_object();
}

static json_t *op_add_tags(struct kreq *r, json_t *in, const char *name)
{
    json_t *tags = json_object_get(in, "Tags"), *v;
    const char *k;
    csi_kds_tag t[CSI_KDS_MAX_TAGS];
    size_t n = 0;
    cs_status st;
    if (!json_is_object(tags) || json_object_size(tags) > CSI_KDS_MAX_TAGS) {
        kfail(r, 400, E_ARG, "Tags must be an object of 1 to 50 tags.");
        return NULL;
    }
    json_object_foreach(tags, k, v)
    {
        if (!json_is_string(v) || strlen(k) > 128 || json_string_length(v) > 256) {
            kfail(r, 400, E_ARG, "Tag %.128s: key up to 128, value up to 256 characters.", k);
            return NULL;
        }
        snprintf(t[n].key, sizeof(t[n].key), "%s", k);
        snprintf(t[n].value, sizeof(t[n].value), "%s", json_string_value(v));
        if (strcmp(k, CSI_KDS_LIMITS_TAG) == 0) {
            csi_kds_limit_conf c;
            if (csi_kds_limits_parse(t[n].value, &c) != CS_OK) {
                kfail(r, 400, E_ARG, "Tag %s: 'off', 'service' or records=N,bytes=N,getrecords=N.",
                      k);
                return NULL;
            }
        }
        n++;
    }
    st = csi_kds_meta_tag(csi_kds_store_meta(r->store), name, t, n);
    if (st != CS_OK) {
        fail_st(r, st, "Stream", name);
        return NULL;
    }
    csi_kds_store_limits_changed(r->store, name); /* the limits tag may have changed */
    return json_object();
}

static json_t *op_remove_tags(struct kreq *r, json_t *in, const char *name)
{
    json_t *keys = json_object_get(in, "TagKeys");
    const char *k[CSI_KDS_MAX_TAGS];
    size_t n = json_array_size(keys);
    cs_status st;
    if (!json_is_array(keys) || n == 0 || n > CSI_KDS_MAX_TAGS) {
        kfail(r, 400, E_ARG, "TagKeys must list 1 to 50 keys.");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        k[i] = json_string_value(json_array_get(keys, i));
        if (k[i] == NULL) {
            kfail(r, 400, E_ARG, "TagKeys must be strings.");
            return NULL;
        }
    }
    st = csi_kds_meta_untag(csi_kds_store_meta(r->store), name, k, n);
    if (st != CS_OK) {
        fail_st(r, st, "Stream", name);
        return NULL;
    }
    csi_kds_store_limits_changed(r->store, name); /* the limits tag may have gone */
    return json_object();
}

static json_t *op_list_tags(struct kreq *r, json_t *in, const char *name)
{
    csi_kds_tag t[CSI_KDS_MAX_TAGS];
    size_t n = 0;
    json_t *arr;
    cs_status st = csi_kds_meta_tags(csi_kds_store_meta(r->store), name, t, &n);
    (void)in;
    if (st != CS_OK) {
        fail_st(r, st, "Stream", name);
        return NULL;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(arr, json_pack("{s:s,s:s}", "Key", t[i].key, "Value", t[i].value));
    }
    return json_pack("{s:o,s:b}", "Tags", arr, "HasMoreTags", false);
}

/* DescribeLimits and UpdateShardCount: kds_scale.c. */
static json_t *op_describe_limits(struct kreq *r, json_t *in, const char *name)
{
    struct csi_kds_scale_err e;
    json_t *out;
    (void)in;
    if (name != NULL && !csi_api_key_allows(r->key, CS_API_READ, name)) {
        kfail(r, 400, E_DENIED, "The access key may not read %s.", name);
        return NULL;
    }
    out = csi_kds_describe_limits(r->store, name, &e);
    if (out == NULL) {
        kfail(r, e.status, e.type, "%s", e.message);
    }
    return out;
}

static json_t *op_update_shard_count(struct kreq *r, json_t *in, const char *name)
{
    struct csi_kds_scale_err e;
    char a[512];
    json_t *out;
    arn(region_of(r->api), name, a, sizeof(a));
    out = csi_kds_update_shard_count(r->store, in, name, a, &e);
    if (out == NULL) {
        kfail(r, e.status, e.type, "%s", e.message);
    }
    return out;
}

/* The stream consumers: kds_subscribe.c (which checks the key's rights itself). */
static json_t *op_consumer(struct kreq *r, json_t *in, const char *name)
{
    struct csi_kds_err e;
    json_t *out = csi_kds_consumer_op(r->api, r->store, r->key, r->op, in, &e);
    (void)name;
    if (out == NULL) {
        kfail(r, e.status, e.type, "%s", e.message);
    }
    return out;
}

static const struct kop {
    const char *name;
    kop_fn fn;
    unsigned rights; /* on the named stream; 0: no stream named */
} kops[] = {
    {"CreateStream", op_create, CS_API_WRITE},
    {"DeleteStream", op_delete, CS_API_WRITE},
    {"DescribeStream", op_describe, CS_API_READ},
    {"DescribeStreamSummary", op_describe_summary, CS_API_READ},
    {"ListStreams", op_list_streams, 0},
    {"ListShards", op_list_shards, CS_API_READ},
    {"PutRecord", op_put_record, CS_API_WRITE},
    {"PutRecords", op_put_records, CS_API_WRITE},
    {"GetShardIterator", op_get_iterator, CS_API_READ},
    {"GetRecords", op_get_records, 0},
    {"IncreaseStreamRetentionPeriod", op_increase, CS_API_WRITE},
    {"DecreaseStreamRetentionPeriod", op_decrease, CS_API_WRITE},
    {"SplitShard", op_split, CS_API_WRITE},
    {"MergeShards", op_merge, CS_API_WRITE},
    {"UpdateShardCount", op_update_shard_count, CS_API_WRITE},
    {"AddTagsToStream", op_add_tags, CS_API_WRITE},
    {"RemoveTagsFromStream", op_remove_tags, CS_API_WRITE},
    {"ListTagsForStream", op_list_tags, CS_API_READ},
    {"DescribeLimits", op_describe_limits, 0},
    {"RegisterStreamConsumer", op_consumer, 0},
    {"DeregisterStreamConsumer", op_consumer, 0},
    {"DescribeStreamConsumer", op_consumer, 0},
    {"ListStreamConsumers", op_consumer, 0},
};

/* Camstream_20261206.* (leases and checkpoints): kds_lease.c; r->op keeps the prefix. */
static json_t *op_lease(struct kreq *r, json_t *in, const char *name)
{
    csi_kds_lease_error e;
    json_t *out = csi_kds_lease_run(r->store, r->op + strlen(CSI_KDS_LEASE_PREFIX), in, name, &e);
    if (out == NULL && e.type != NULL) {
        kfail(r, e.status, e.type, "%s", e.message);
    }
    return out;
}

static const struct kop lease_op = {"Lease", op_lease, CS_API_READ};

/* ---- plumbing ------------------------------------------------------------------------------- */

/* PutRecord(s) in JSON through kds_fastjson.c. false: not handled (the body is not of the clean
 * shape, or the key may not write the stream): run_op takes the jansson path, which answers. */
static bool fast_put(struct kreq *r, const struct kop *op)
{
    csi_kds_fast_put *fp = malloc(sizeof(*fp));
    json_t *out;
    if (fp == NULL) {
        return false;
    }
    if (!csi_kds_fast_put_parse(r->body.data, r->body.len, op->fn == op_put_record, fp)) {
        free(fp);
        return false;
    }
    if (!csi_api_key_allows(r->key, op->rights, fp->name)) {
        csi_kds_fast_put_free(fp);
        free(fp);
        return false;
    }
    out = put_decoded(r, fp->recs, fp->n, fp->name, op->fn == op_put_record);
    if (out != NULL) {
        snprintf(r->changed, sizeof(r->changed), "%s", fp->name);
        r->status = 200;
        json_decref(out);
    } else if (r->error_type == NULL) {
        kfail(r, 500, E_INTERNAL, "Out of memory.");
    }
    csi_kds_fast_put_free(fp);
    free(fp);
    return true;
}

static void run_op(struct kreq *r)
{
    const struct kop *op = NULL;
    json_t *in = NULL, *out = NULL;
    char why[200] = "", nbuf[CSI_KDS_MAX_STREAM_NAME + 1];
    const char *name = NULL;
    for (size_t i = 0; i < sizeof(kops) / sizeof(kops[0]); i++) {
        if (strcmp(kops[i].name, r->op) == 0) {
            op = &kops[i];
        }
    }
    if (op == NULL && strncmp(r->op, CSI_KDS_LEASE_PREFIX, strlen(CSI_KDS_LEASE_PREFIX)) == 0 &&
        csi_kds_lease_is_op(r->op + strlen(CSI_KDS_LEASE_PREFIX))) {
        op = &lease_op; /* camstream's lease operations (kds_lease.c) */
    }
    if (op == NULL) {
        kfail(r, 400, "UnknownOperationException", "Unknown operation %s.", r->op);
        return;
    }
    if (!r->cbor && (op->fn == op_put_records || op->fn == op_put_record) && fast_put(r, op)) {
        return; /* a clean PutRecord(s): no JSON tree (kds_fastjson.c) */
    }
    if (r->cbor) {
        if (csi_kds_cbor_to_json((const uint8_t *)r->body.data, r->body.len, &in, why,
                                 sizeof(why)) != CS_OK) {
            kfail(r, 400, "SerializationException", "The request body is not valid: %s.", why);
            return;
        }
    } else {
        json_error_t err;
        in = json_loadb(r->body.len ? r->body.data : "{}", r->body.len ? r->body.len : 2, 0, &err);
        if (!json_is_object(in)) {
            json_decref(in);
            kfail(r, 400, "SerializationException", "The request body is not a JSON object: %s",
                  err.text);
            return;
        }
    }
    if (!json_is_object(in)) {
        json_decref(in);
        kfail(r, 400, "SerializationException", "The request body is not an object.");
        return;
    }
    name = stream_name(in, nbuf, sizeof(nbuf));
    if (op->rights != 0 && name == NULL && strcmp(op->name, "ListShards") != 0) {
        json_decref(in);
        kfail(r, 400, E_VALIDATION, "StreamName is required.");
        return;
    }
    if (op->rights != 0 && name != NULL && !csi_api_key_allows(r->key, op->rights, name)) {
        json_decref(in);
        kfail(r, 400, E_DENIED, "The access key may not perform kinesis:%s on %s.", op->name, name);
        return;
    }
    out = op->fn(r, in, name);
    if (out != NULL && (op->rights & CS_API_WRITE) && name != NULL) {
        snprintf(r->changed, sizeof(r->changed), "%s", name); /* before `in` (name) goes */
    }
    json_decref(in);
    if (out == NULL) {
        if (r->error_type == NULL) {
            kfail(r, 500, E_INTERNAL, "Out of memory.");
        }
        return;
    }
    r->status = 200;
    if (r->out != NULL) {
        json_decref(out); /* the operation wrote its body itself */
        return;
    }
    if (r->cbor) {
        if (csi_kds_json_to_cbor(out, &r->out, &r->out_len) != CS_OK) {
            kfail(r, 500, E_INTERNAL, "The response could not be encoded as CBOR.");
        }
    } else {
        char *s = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(17));
        if (s == NULL) {
            kfail(r, 500, E_INTERNAL, "Out of memory.");
        } else {
            r->out = (uint8_t *)s;
            r->out_len = strlen(s);
        }
    }
    json_decref(out);
}

static void job(void *arg)
{
    run_op(arg);
}

static void respond(struct kreq *r)
{
    const char *ctype = r->cbor ? CSI_KDS_CBOR_CONTENT_TYPE : "application/x-amz-json-1.1";
    cs_http_header h[3];
    size_t n = 0;
    h[n++] = (cs_http_header){"content-type", ctype};
    if (r->error_type != NULL) {
        json_t *e = json_pack("{s:s,s:s}", "__type", r->error_type, "message", r->message);
        free(r->out);
        r->out = NULL;
        r->out_len = 0;
        if (e != NULL) {
            if (r->cbor) {
                csi_kds_json_to_cbor(e, &r->out, &r->out_len);
            } else {
                char *s = json_dumps(e, JSON_COMPACT);
                r->out = (uint8_t *)s;
                r->out_len = s ? strlen(s) : 0;
            }
            json_decref(e);
        }
        h[n++] = (cs_http_header){"x-amzn-ErrorType", r->error_type};
    }
    if (cs_http_stream_respond(r->s, r->status ? r->status : 500, h, n, (int64_t)r->out_len) ==
        CS_OK) {
        if (r->out_len > 0) {
            /* handed over without a copy (a GetRecords answer can be megabytes) */
            cs_http_stream_write_owned(r->s, r->out, r->out_len);
            r->out = NULL;
            r->out_len = 0;
        }
        cs_http_stream_finish(r->s);
    }
}

static void free_req(struct kreq *r)
{
    csi_api_body_free(&r->body);
    free(r->out);
    free(r);
}

static void job_done(void *arg)
{
    struct kreq *r = arg;
    r->in_flight = false;
    if (!r->closed) {
        respond(r);
    }
    if (r->changed[0] != '\0' && r->status == 200) {
        csi_kds_sub_notify(r->changed); /* records arrived: push them to subscribers */
    }
    cs_http_stream_unref(r->s);
    if (r->closed) {
        free_req(r);
    }
}

static void on_request(cs_http_stream *s, void *user)
{
    const struct kds_route *rt = user;
    const char *target = cs_http_stream_header(s, "x-amz-target");
    const char *ctype = cs_http_stream_header(s, "content-type");
    struct kreq *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        cs_http_stream_respond_simple(s, 500, "application/x-amz-json-1.1", "{}", 2);
        return;
    }
    r->api = rt->api;
    r->store = rt->store;
    r->s = s;
    snprintf(r->op, sizeof(r->op), "%s",
             target != NULL && strlen(target) > strlen(TARGET_PREFIX)
                 ? target + strlen(TARGET_PREFIX)
                 : "");
    if (target != NULL &&
        strncmp(target, CSI_KDS_LEASE_PREFIX, strlen(CSI_KDS_LEASE_PREFIX)) == 0) {
        snprintf(r->op, sizeof(r->op), "%s", target); /* run_op: op_lease */
    }
    r->cbor = ctype != NULL && strstr(ctype, "cbor") != NULL;
    /* The body's buffer at its announced size (a 500-record PutRecords is ~90 KB). */
    csi_api_body_reserve(&r->body, s);
    cs_http_stream_set_data(s, r);
}

/* csi_api_body_end()'s refusal (loop thread): a bad signature, or no worker took the job. */
static void refuse(void *arg, int status, const char *type, const char *message)
{
    struct kreq *r = arg;
    kfail(r, status, type, "%s", message);
    respond(r);
}

static const struct csi_api_handler handler = {.service = "kinesis",
                                               .job = job,
                                               .done = job_done,
                                               .refuse = refuse,
                                               .busy_status = 500,
                                               .busy_type = E_INTERNAL,
                                               .busy_message = "The server is stopping."};

static void on_body_end(cs_http_stream *s, void *user)
{
    struct kreq *r = cs_http_stream_data(s);
    (void)user;
    if (r != NULL) {
        csi_api_body_end(r->api, s, r, &handler, &r->key, &r->in_flight);
    }
}

static void on_close(cs_http_stream *s, cs_status why, void *user)
{
    struct kreq *r = cs_http_stream_data(s);
    (void)why;
    (void)user;
    if (r != NULL && csi_api_detach(s, r->in_flight, &r->closed)) {
        free_req(r);
    }
}

cs_status csi_kds_add_routes(cs_api *api, cs_http_server *srv, csi_kds_store *store)
{
    static struct kds_route route; /* one per process: the server has one api */
    cs_http_route rt = {0};
    route.api = api;
    route.store = store;
    if (csi_kds_sub_add_routes(api, srv, store) != CS_OK) { /* SubscribeToShard: first */
        return CS_E_NOMEM;
    }
    rt.method = "POST";
    rt.path = "/";
    rt.header_name = "x-amz-target";
    rt.header_value = TARGET_PREFIX "*";
    rt.flags = CS_HTTP_ROUTE_BUFFERED;
    rt.on_request = on_request;
    rt.on_body = csi_api_on_body;
    rt.on_body_end = on_body_end;
    rt.on_close = on_close;
    rt.user = &route;
    cs_status st = cs_http_server_add_route(srv, &rt);
    if (st != CS_OK) {
        return st;
    }
    rt.header_value = CSI_KDS_LEASE_PREFIX "*"; /* leases and checkpoints: kds_lease.c */
    return cs_http_server_add_route(srv, &rt);
}

cs_status csi_kds_run(cs_api *api, struct csi_kds_store *store, const char *op, const uint8_t *body,
                      size_t len, bool cbor, struct csi_kds_result *res)
{
    struct kreq r;
    if (store == NULL || op == NULL || res == NULL || (body == NULL && len > 0)) {
        return CS_E_INVAL;
    }
    memset(&r, 0, sizeof(r));
    r.api = api;
    r.store = store;
    snprintf(r.op, sizeof(r.op), "%s", op);
    r.cbor = cbor;
    r.body.data = (char *)body;
    r.body.len = len;
    run_op(&r);
    memset(res, 0, sizeof(*res));
    res->status = r.status;
    res->error_type = r.error_type;
    snprintf(res->message, sizeof(res->message), "%s", r.message);
    res->out = r.out;
    res->out_len = r.out_len;
    return CS_OK;
}
