/* SPDX-License-Identifier: Apache-2.0 */
/* camstream records: the record streams of the server (Kinesis Data Streams API, PROTOCOL.md §6)
 * from the command line. put (arguments or stdin lines, PutRecords in batches of 500), get (one
 * shard or all, from TRIM_HORIZON to the tip), tail (every shard live through the records
 * consumer, records_consumer.h; with --app the shards are shared with other tails of the same
 * application and checkpointed), streams (list, create, describe, delete). Records print as
 * `SHARD<TAB>SEQUENCE<TAB>PARTITION_KEY<TAB>DATA`, DATA with \\, \t, \n and bytes outside
 * printable ASCII escaped (\xHH). */
#define _POSIX_C_SOURCE 200809L
#include "records.h"

#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "camstream/records_consumer.h"

#define KDS "Kinesis_20131202."
#define PUT_BATCH 500

static volatile sig_atomic_t rec_stop;

static void on_stop(int sig)
{
    (void)sig;
    rec_stop = 1;
}

static int rfail(const char *fmt, ...) CS_PRINTF(1, 2);

static int rfail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "camstream records: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return 1;
}

static void usage(FILE *to)
{
    fprintf(
        to,
        "usage: camstream [--endpoint URL] [--region R] records COMMAND [ARGS]\n"
        "\n"
        "Record streams (the Kinesis Data Streams API of the server):\n"
        "  streams list                          the record streams\n"
        "  streams create NAME [--shards N]      (default 1 shard)\n"
        "  streams describe NAME                 the stream and its shards as JSON\n"
        "  streams delete NAME\n"
        "  streams split NAME SHARD [HASH_KEY]   SplitShard (default: the middle of its range)\n"
        "  streams merge NAME SHARD ADJACENT     MergeShards\n"
        "  put STREAM [--partition-key K] [DATA...]\n"
        "                                        one record per DATA argument, or per line\n"
        "                                        of stdin without DATA; prints SHARD SEQUENCE\n"
        "  get STREAM [--shard ID] [--limit N]   records from TRIM_HORIZON to the tip of one\n"
        "                                        shard or of every shard (parents first)\n"
        "  tail STREAM [--app APP] [--worker-id W] [--lease-ms MS] [--from trim|latest]\n"
        "       [--count N]                      follow every shard live (across resharding);\n"
        "                                        with --app share the shards with the other\n"
        "                                        workers of APP and checkpoint each batch\n"
        "  leases STREAM --app APP               the shards' leases and checkpoints of APP\n"
        "\n"
        "Records print as SHARD<TAB>SEQUENCE<TAB>PARTITION_KEY<TAB>DATA, DATA escaped\n"
        "(\\\\, \\t, \\n, \\xHH). tail without --app starts at latest, with --app at the\n"
        "checkpoint, else trim horizon. Each command takes --help.\n");
}

static bool want_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return true;
        }
    }
    return false;
}

/* One call: 0 and *doc (an object) on success, else 1 with the error printed. */
static int kcall(const cs_records_consumer_config *cfg, const char *op, json_t *req, json_t **doc)
{
    char target[96], *json = json_dumps(req, JSON_COMPACT), *out = NULL;
    size_t out_len = 0;
    cs_kvs_result res;
    cs_status st;
    json_decref(req);
    *doc = NULL;
    if (json == NULL) {
        return rfail("out of memory");
    }
    snprintf(target, sizeof(target), KDS "%s", op);
    st = cs_records_call(cfg, target, json, &out, &out_len, &res);
    free(json);
    if (st != CS_OK) {
        return rfail("%s: no answer from %s (%s)", op, cfg->endpoint, cs_status_str(st));
    }
    if (res.http_status != 200) {
        json_t *e = json_loadb(out, out_len, 0, NULL);
        const char *m = json_string_value(json_object_get(e, "message"));
        rfail("%s: %s: %s", op, res.error_type[0] ? res.error_type : "error", m ? m : out);
        json_decref(e);
        cs_records_free(out);
        return 1;
    }
    *doc = json_loadb(out, out_len, 0, NULL);
    cs_records_free(out);
    if (!json_is_object(*doc)) {
        json_decref(*doc);
        *doc = NULL;
        return rfail("%s: the answer is not JSON", op);
    }
    return 0;
}

static void print_escaped(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = d[i];
        if (ch == '\\') {
            fputs("\\\\", stdout);
        } else if (ch == '\t') {
            fputs("\\t", stdout);
        } else if (ch == '\n') {
            fputs("\\n", stdout);
        } else if (ch < 0x20 || ch >= 0x7f) {
            printf("\\x%02x", ch);
        } else {
            putchar(ch);
        }
    }
}

static void print_record(const char *shard, const cs_record *r)
{
    printf("%s\t%s\t%s\t", shard, r->sequence_number, r->partition_key);
    print_escaped(r->data, r->len);
    putchar('\n');
}

/* ---- split: the middle of a shard's hash-key range (decimal, 128 bits) ------------------------
 */

typedef unsigned __int128 u128;

static bool u128_parse(const char *s, u128 *out)
{
    u128 v = 0;
    if (s == NULL || *s == '\0' || strlen(s) > 39) {
        return false;
    }
    for (; *s; s++) {
        if (*s < '0' || *s > '9') {
            return false;
        }
        v = v * 10 + (u128)(*s - '0');
    }
    *out = v;
    return true;
}

static void u128_format(u128 v, char out[41])
{
    char tmp[41];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v > 0);
    for (size_t i = 0; i < n; i++) {
        out[i] = tmp[n - 1 - i];
    }
    out[n] = '\0';
}

static int split(const cs_records_consumer_config *cfg, int argc, char **argv)
{
    json_t *doc = NULL, *shards, *range = NULL;
    char key[41];
    int rc;
    if (argc < 3) {
        return rfail("streams split needs a stream name and a shard id");
    }
    if (argc > 3) {
        snprintf(key, sizeof(key), "%s", argv[3]);
    } else {
        u128 lo, hi;
        rc = kcall(cfg, "ListShards",
                   json_pack("{s:s,s:i}", "StreamName", argv[1], "MaxResults", 10000), &doc);
        if (rc != 0) {
            return rc;
        }
        shards = json_object_get(doc, "Shards");
        for (size_t i = 0; i < json_array_size(shards); i++) {
            json_t *sh = json_array_get(shards, i);
            if (strcmp(json_string_value(json_object_get(sh, "ShardId"))
                           ? json_string_value(json_object_get(sh, "ShardId"))
                           : "",
                       argv[2]) == 0) {
                range = json_object_get(sh, "HashKeyRange");
            }
        }
        if (range == NULL ||
            !u128_parse(json_string_value(json_object_get(range, "StartingHashKey")), &lo) ||
            !u128_parse(json_string_value(json_object_get(range, "EndingHashKey")), &hi) ||
            lo >= hi) {
            json_decref(doc);
            return rfail("streams split: no shard %s with a range to split in %s", argv[2],
                         argv[1]);
        }
        u128_format(lo + (hi - lo) / 2 + 1, key);
        json_decref(doc);
    }
    rc = kcall(cfg, "SplitShard",
               json_pack("{s:s,s:s,s:s}", "StreamName", argv[1], "ShardToSplit", argv[2],
                         "NewStartingHashKey", key),
               &doc);
    json_decref(doc);
    if (rc == 0) {
        printf("%s split at %s\n", argv[2], key);
    }
    return rc;
}

/* ---- streams ----------------------------------------------------------------------------------
 */

static int streams(const cs_records_consumer_config *cfg, int argc, char **argv)
{
    json_t *doc = NULL;
    const char *sub = argc > 0 ? argv[0] : "";
    int rc;
    if (want_help(argc, argv) || argc == 0) {
        fprintf(argc == 0 ? stderr : stdout,
                "usage: camstream records streams list\n"
                "       camstream records streams create NAME [--shards N]\n"
                "       camstream records streams describe NAME\n"
                "       camstream records streams delete NAME\n"
                "       camstream records streams split NAME SHARD [HASH_KEY]\n"
                "       camstream records streams merge NAME SHARD ADJACENT_SHARD\n");
        return argc == 0 ? 2 : 0;
    }
    if (strcmp(sub, "list") == 0) {
        const char *after = NULL;
        char last[256] = "";
        for (;;) {
            json_t *req = json_pack("{s:i}", "Limit", 1000);
            json_t *names;
            if (after != NULL) {
                json_object_set_new(req, "ExclusiveStartStreamName", json_string(after));
            }
            if (kcall(cfg, "ListStreams", req, &doc) != 0) {
                return 1;
            }
            names = json_object_get(doc, "StreamNames");
            for (size_t i = 0; i < json_array_size(names); i++) {
                printf("%s\n", json_string_value(json_array_get(names, i)));
                snprintf(last, sizeof(last), "%s", json_string_value(json_array_get(names, i)));
            }
            if (!json_is_true(json_object_get(doc, "HasMoreStreams")) ||
                json_array_size(names) == 0) {
                json_decref(doc);
                return 0;
            }
            after = last;
            json_decref(doc);
        }
    }
    if (argc < 2) {
        return rfail("streams %s needs a stream name", sub);
    }
    if (strcmp(sub, "create") == 0) {
        long shards = 1;
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--shards") == 0 && i + 1 < argc) {
                shards = strtol(argv[++i], NULL, 10);
            } else {
                return rfail("streams create: unknown option %s", argv[i]);
            }
        }
        rc = kcall(cfg, "CreateStream",
                   json_pack("{s:s,s:I}", "StreamName", argv[1], "ShardCount", (json_int_t)shards),
                   &doc);
        json_decref(doc);
        if (rc == 0) {
            printf("%s: %ld shard%s\n", argv[1], shards, shards == 1 ? "" : "s");
        }
        return rc;
    }
    if (strcmp(sub, "describe") == 0) {
        char *s;
        rc = kcall(cfg, "DescribeStream", json_pack("{s:s}", "StreamName", argv[1]), &doc);
        if (rc != 0) {
            return rc;
        }
        s = json_dumps(json_object_get(doc, "StreamDescription"), JSON_INDENT(2));
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(doc);
        return 0;
    }
    if (strcmp(sub, "split") == 0) {
        return split(cfg, argc, argv);
    }
    if (strcmp(sub, "merge") == 0) {
        if (argc != 4) {
            return rfail("streams merge needs a stream name and two adjacent shard ids");
        }
        rc = kcall(cfg, "MergeShards",
                   json_pack("{s:s,s:s,s:s}", "StreamName", argv[1], "ShardToMerge", argv[2],
                             "AdjacentShardToMerge", argv[3]),
                   &doc);
        json_decref(doc);
        if (rc == 0) {
            printf("%s and %s merged\n", argv[2], argv[3]);
        }
        return rc;
    }
    if (strcmp(sub, "delete") == 0) {
        rc = kcall(cfg, "DeleteStream", json_pack("{s:s}", "StreamName", argv[1]), &doc);
        json_decref(doc);
        return rc;
    }
    return rfail("unknown streams command '%s' (list, create, describe, delete)", sub);
}

/* ---- put --------------------------------------------------------------------------------------
 */

static int flush_put(const cs_records_consumer_config *cfg, const char *stream, json_t *batch,
                     size_t *failed)
{
    json_t *doc = NULL, *res;
    size_t n = json_array_size(batch);
    if (n == 0) {
        json_decref(batch);
        return 0;
    }
    if (kcall(cfg, "PutRecords", json_pack("{s:s,s:o}", "StreamName", stream, "Records", batch),
              &doc) != 0) {
        return 1;
    }
    res = json_object_get(doc, "Records");
    for (size_t i = 0; i < json_array_size(res); i++) {
        json_t *r = json_array_get(res, i);
        const char *err = json_string_value(json_object_get(r, "ErrorCode"));
        if (err != NULL) {
            const char *m = json_string_value(json_object_get(r, "ErrorMessage"));
            fprintf(stderr, "camstream records: put: record failed: %s: %s\n", err, m ? m : "");
            (*failed)++;
        } else {
            printf("%s\t%s\n", json_string_value(json_object_get(r, "ShardId")),
                   json_string_value(json_object_get(r, "SequenceNumber")));
        }
    }
    json_decref(doc);
    return 0;
}

static json_t *record_json(const char *data, size_t len, const char *key, unsigned long n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char pk[64];
    char *b = malloc((len + 2) / 3 * 4 + 1);
    size_t o = 0;
    json_t *r;
    if (b == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < len; i += 3) {
        uint32_t w = (uint32_t)(uint8_t)data[i] << 16;
        if (i + 1 < len) {
            w |= (uint32_t)(uint8_t)data[i + 1] << 8;
        }
        if (i + 2 < len) {
            w |= (uint8_t)data[i + 2];
        }
        b[o++] = tbl[(w >> 18) & 63];
        b[o++] = tbl[(w >> 12) & 63];
        b[o++] = i + 1 < len ? tbl[(w >> 6) & 63] : '=';
        b[o++] = i + 2 < len ? tbl[w & 63] : '=';
    }
    b[o] = '\0';
    if (key == NULL) {
        snprintf(pk, sizeof(pk), "pk-%ld-%lu", (long)getpid(), n);
        key = pk;
    }
    r = json_pack("{s:s,s:s}", "Data", b, "PartitionKey", key);
    free(b);
    return r;
}

static int put(const cs_records_consumer_config *cfg, int argc, char **argv)
{
    const char *stream = NULL, *key = NULL;
    json_t *batch = NULL;
    size_t failed = 0;
    unsigned long n = 0;
    bool from_args = false;
    int rc = 0;
    if (want_help(argc, argv)) {
        printf("usage: camstream records put STREAM [--partition-key K] [DATA...]\n"
               "One record per DATA argument, or per line of stdin (without its newline) when\n"
               "there is none; PutRecords in batches of 500. Prints SHARD<TAB>SEQUENCE per\n"
               "record. Without --partition-key each record gets its own key (spread over the\n"
               "shards).\n");
        return 0;
    }
    batch = json_array();
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--partition-key") == 0 && i + 1 < argc) {
            key = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            json_decref(batch);
            return rfail("put: unknown option %s", argv[i]);
        } else if (stream == NULL) {
            stream = argv[i];
        } else {
            from_args = true;
        }
    }
    if (stream == NULL || batch == NULL) {
        json_decref(batch);
        return rfail("put needs a stream name (try records put --help)");
    }
    if (from_args) {
        bool seen_stream = false;
        for (int i = 0; i < argc && rc == 0; i++) {
            if (strcmp(argv[i], "--partition-key") == 0) {
                i++;
                continue;
            }
            if (!seen_stream) {
                seen_stream = true; /* the first positional argument: the stream */
                continue;
            }
            json_array_append_new(batch, record_json(argv[i], strlen(argv[i]), key, n++));
            if (json_array_size(batch) == PUT_BATCH) {
                rc = flush_put(cfg, stream, batch, &failed);
                batch = json_array();
            }
        }
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while (rc == 0 && (len = getline(&line, &cap, stdin)) >= 0) {
            if (len > 0 && line[len - 1] == '\n') {
                len--;
            }
            json_array_append_new(batch, record_json(line, (size_t)len, key, n++));
            if (json_array_size(batch) == PUT_BATCH) {
                rc = flush_put(cfg, stream, batch, &failed);
                batch = json_array();
            }
        }
        free(line);
    }
    if (rc == 0) {
        rc = flush_put(cfg, stream, batch, &failed);
    } else {
        json_decref(batch);
    }
    fflush(stdout);
    fprintf(stderr, "%lu record%s put, %zu failed\n", n - failed, n - failed == 1 ? "" : "s",
            failed);
    return rc != 0 || failed > 0 ? 1 : 0;
}

/* ---- get --------------------------------------------------------------------------------------
 */

struct getctx {
    long limit, printed;
};

static cs_status get_process(void *user, const char *shard, const cs_record *recs, size_t n)
{
    struct getctx *g = user;
    for (size_t i = 0; i < n && (g->limit <= 0 || g->printed < g->limit); i++) {
        print_record(shard, &recs[i]);
        g->printed++;
    }
    return CS_OK;
}

/* Reads one shard from TRIM_HORIZON to its tip (or end). */
static int get_shard(const cs_records_consumer_config *cfg, const char *stream, const char *shard,
                     struct getctx *g)
{
    json_t *doc = NULL;
    char it[1024];
    int rc = kcall(cfg, "GetShardIterator",
                   json_pack("{s:s,s:s,s:s}", "StreamName", stream, "ShardId", shard,
                             "ShardIteratorType", "TRIM_HORIZON"),
                   &doc);
    if (rc != 0) {
        return rc;
    }
    snprintf(it, sizeof(it), "%s", json_string_value(json_object_get(doc, "ShardIterator")));
    json_decref(doc);
    while (g->limit <= 0 || g->printed < g->limit) {
        json_t *recs;
        const char *next;
        size_t n;
        long want = g->limit > 0 ? g->limit - g->printed : 10000;
        rc = kcall(cfg, "GetRecords",
                   json_pack("{s:s,s:I}", "ShardIterator", it, "Limit",
                             (json_int_t)(want > 10000 ? 10000 : want)),
                   &doc);
        if (rc != 0) {
            return rc;
        }
        recs = json_object_get(doc, "Records");
        n = json_array_size(recs);
        for (size_t i = 0; i < n; i++) {
            json_t *r = json_array_get(recs, i);
            json_t *d = json_object_get(r, "Data");
            size_t len = 0, cap = json_string_length(d) / 4 * 3 + 3;
            uint8_t *buf = malloc(cap);
            cs_record rec = {json_string_value(json_object_get(r, "SequenceNumber")),
                             json_string_value(json_object_get(r, "PartitionKey")), buf, 0, 0};
            if (buf == NULL || rec.sequence_number == NULL || rec.partition_key == NULL ||
                cs_records_base64_decode(json_string_value(d), json_string_length(d), buf, cap,
                                         &len) != CS_OK) {
                free(buf);
                json_decref(doc);
                return rfail("get: a malformed record in the answer");
            }
            rec.len = len;
            get_process(g, shard, &rec, 1);
            free(buf);
        }
        next = json_string_value(json_object_get(doc, "NextShardIterator"));
        if (next == NULL ||
            (n == 0 && json_integer_value(json_object_get(doc, "MillisBehindLatest")) == 0)) {
            json_decref(doc);
            return 0; /* closed and read to its end, or at the tip */
        }
        snprintf(it, sizeof(it), "%s", next);
        json_decref(doc);
    }
    return 0;
}

static int get(const cs_records_consumer_config *cfg, int argc, char **argv)
{
    const char *stream = NULL, *shard = NULL;
    struct getctx g = {0, 0};
    json_t *doc = NULL, *shards;
    int rc = 0;
    if (want_help(argc, argv)) {
        printf("usage: camstream records get STREAM [--shard ID] [--limit N]\n"
               "Records from TRIM_HORIZON up to the tip of one shard, or of every shard (each\n"
               "shard's parents before it), at most N in all.\n");
        return 0;
    }
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--shard") == 0 && i + 1 < argc) {
            shard = argv[++i];
        } else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            g.limit = strtol(argv[++i], NULL, 10);
        } else if (stream == NULL && argv[i][0] != '-') {
            stream = argv[i];
        } else {
            return rfail("get: unknown argument %s", argv[i]);
        }
    }
    if (stream == NULL) {
        return rfail("get needs a stream name (try records get --help)");
    }
    if (shard != NULL) {
        rc = get_shard(cfg, stream, shard, &g);
        fflush(stdout);
        return rc;
    }
    /* ListShards answers by shard index: parents (older) come before their children */
    rc = kcall(cfg, "ListShards", json_pack("{s:s,s:i}", "StreamName", stream, "MaxResults", 10000),
               &doc);
    if (rc != 0) {
        return rc;
    }
    shards = json_object_get(doc, "Shards");
    for (size_t i = 0; rc == 0 && i < json_array_size(shards); i++) {
        rc =
            get_shard(cfg, stream,
                      json_string_value(json_object_get(json_array_get(shards, i), "ShardId")), &g);
    }
    json_decref(doc);
    fflush(stdout);
    return rc;
}

/* ---- leases --------------------------------------------------------------------------------- */

static int leases(const cs_records_consumer_config *cfg, int argc, char **argv)
{
    const char *stream = NULL, *app = NULL;
    char *json, *out = NULL;
    size_t out_len = 0;
    cs_kvs_result res;
    json_t *doc, *ls;
    cs_status st;
    if (want_help(argc, argv)) {
        printf("usage: camstream records leases STREAM --app APP\n"
               "The shards of STREAM with the lease and checkpoint of APP:\n"
               "SHARD OWNER COUNTER EXPIRES_IN_MS CHECKPOINT PARENTS (- for none).\n");
        return 0;
    }
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--app") == 0 && i + 1 < argc) {
            app = argv[++i];
        } else if (stream == NULL && argv[i][0] != '-') {
            stream = argv[i];
        } else {
            return rfail("leases: unknown argument %s", argv[i]);
        }
    }
    if (stream == NULL || app == NULL) {
        return rfail("leases needs a stream name and --app (try records leases --help)");
    }
    doc = json_pack("{s:s,s:s}", "StreamName", stream, "ApplicationName", app);
    json = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (json == NULL) {
        return rfail("out of memory");
    }
    st = cs_records_call(cfg, "Camstream_20261206.ListLeases", json, &out, &out_len, &res);
    free(json);
    if (st != CS_OK) {
        return rfail("leases: no answer from %s (%s)", cfg->endpoint, cs_status_str(st));
    }
    doc = json_loadb(out, out_len, 0, NULL);
    cs_records_free(out);
    if (res.http_status != 200) {
        rfail("leases: %s: %s", res.error_type,
              json_string_value(json_object_get(doc, "message"))
                  ? json_string_value(json_object_get(doc, "message"))
                  : "");
        json_decref(doc);
        return 1;
    }
    ls = json_object_get(doc, "Leases");
    for (size_t i = 0; i < json_array_size(ls); i++) {
        json_t *l = json_array_get(ls, i);
        const char *p = json_string_value(json_object_get(l, "ParentShardId"));
        const char *a = json_string_value(json_object_get(l, "AdjacentParentShardId"));
        const char *cp = json_string_value(json_object_get(l, "Checkpoint"));
        json_int_t left = json_integer_value(json_object_get(l, "LeaseExpiresInMillis"));
        printf("%s %s %lld %lld %s %s%s%s\n", json_string_value(json_object_get(l, "ShardId")),
               left > 0 ? json_string_value(json_object_get(l, "LeaseOwner")) : "-",
               (long long)json_integer_value(json_object_get(l, "LeaseCounter")), (long long)left,
               cp ? cp : "-", p ? p : "-", a ? "," : "", a ? a : "");
    }
    json_decref(doc);
    return 0;
}

/* ---- tail -------------------------------------------------------------------------------------
 */

struct tailctx {
    long count, printed;
};

static cs_status tail_process(void *user, const char *shard, const cs_record *recs, size_t n)
{
    struct tailctx *t = user;
    for (size_t i = 0; i < n; i++) {
        print_record(shard, &recs[i]);
        t->printed++;
    }
    fflush(stdout); /* before the checkpoint: what is checkpointed was written */
    if (t->count > 0 && t->printed >= t->count) {
        rec_stop = 1;
    }
    return CS_OK;
}

static void tail_event(void *user, cs_records_event ev, const char *shard)
{
    static const char *const names[] = {"lease taken", "lease lost", "lease released", "shard end"};
    (void)user;
    fprintf(stderr, "camstream records: %s %s\n", names[ev], shard);
}

static int tail(cs_records_consumer_config *cfg, int argc, char **argv)
{
    struct tailctx t = {0, 0};
    cs_records_consumer *c = NULL;
    struct sigaction sa;
    const char *from = NULL;
    cs_status st;
    if (want_help(argc, argv)) {
        printf("usage: camstream records tail STREAM [--app APP] [--worker-id W] [--lease-ms MS]\n"
               "                                  [--from trim|latest] [--count N]\n"
               "Follows every shard of STREAM (children after their parents) until interrupted\n"
               "or N records. With --app the shards are shared with every other worker of APP\n"
               "(leases kept by the server; a worker that dies loses them after MS, default\n"
               "10000) and each printed batch is checkpointed: a restarted tail goes on after\n"
               "the last checkpoint. Lease events go to stderr.\n");
        return 0;
    }
    cfg->stream_name = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--app") == 0 && i + 1 < argc) {
            cfg->app_name = argv[++i];
        } else if (strcmp(argv[i], "--worker-id") == 0 && i + 1 < argc) {
            cfg->worker_id = argv[++i];
        } else if (strcmp(argv[i], "--lease-ms") == 0 && i + 1 < argc) {
            cfg->lease_ms = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
            from = argv[++i];
        } else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            t.count = strtol(argv[++i], NULL, 10);
        } else if (cfg->stream_name == NULL && argv[i][0] != '-') {
            cfg->stream_name = argv[i];
        } else {
            return rfail("tail: unknown argument %s", argv[i]);
        }
    }
    if (cfg->stream_name == NULL) {
        return rfail("tail needs a stream name (try records tail --help)");
    }
    cfg->start = cfg->app_name != NULL ? CS_RECORDS_TRIM_HORIZON : CS_RECORDS_LATEST;
    if (from != NULL) {
        if (strcmp(from, "trim") == 0 || strcmp(from, "trim-horizon") == 0) {
            cfg->start = CS_RECORDS_TRIM_HORIZON;
        } else if (strcmp(from, "latest") == 0) {
            cfg->start = CS_RECORDS_LATEST;
        } else {
            return rfail("tail: --from takes trim or latest");
        }
    }
    cfg->process = tail_process;
    cfg->on_event = tail_event;
    cfg->user = &t;
    st = cs_records_consumer_create(cfg, &c);
    if (st != CS_OK) {
        return rfail("tail: %s", cs_status_str(st));
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    st = cs_records_consumer_run(c, &rec_stop);
    if (st != CS_OK) {
        rfail("tail: %s",
              cs_records_consumer_error(c)[0] ? cs_records_consumer_error(c) : cs_status_str(st));
    }
    cs_records_consumer_destroy(&c); /* releases the leases */
    return st == CS_OK ? 0 : 1;
}

int cli_records(const char *endpoint, const char *region, int argc, char **argv)
{
    cs_records_consumer_config cfg;
    cs_records_consumer_config_init(&cfg);
    cfg.endpoint = endpoint;
    cfg.region = region;
    if (argc == 0) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0 ||
        strcmp(argv[0], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[0], "streams") == 0) {
        return streams(&cfg, argc - 1, argv + 1);
    }
    if (strcmp(argv[0], "put") == 0) {
        return put(&cfg, argc - 1, argv + 1);
    }
    if (strcmp(argv[0], "get") == 0) {
        return get(&cfg, argc - 1, argv + 1);
    }
    if (strcmp(argv[0], "tail") == 0) {
        return tail(&cfg, argc - 1, argv + 1);
    }
    if (strcmp(argv[0], "leases") == 0) {
        return leases(&cfg, argc - 1, argv + 1);
    }
    fprintf(stderr, "camstream records: unknown command '%s' (try camstream records --help)\n",
            argv[0]);
    return 2;
}
