/* SPDX-License-Identifier: Apache-2.0 */
/* Enhanced fan-out (kds_sub.h): registered stream consumers in kds_consumers (kds_meta.c) and
 * SubscribeToShard, an HTTP response of `application/vnd.amazon.eventstream` messages (an
 * initial-response, then SubscribeToShardEvent messages) over HTTP/2 or HTTP/1.1 chunked.
 *
 * A subscription is a chain of reads on the worker pool, one at a time, each starting from the
 * iterator the previous one returned, so every record is sent once and in order. Nothing waits
 * on a worker: when no read is running the subscription sleeps on the loop until a put of its
 * stream completes (csi_kds_sub_notify() from kds_api.c), the heartbeat is due (the loop's tick),
 * or the client's window opens again (on_writable). The registry of subscriptions is touched on
 * the loop thread only. Invariants: docs/internals/RECORDS.md. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kds_cbor.h"
#include "kds_sub.h"

#define MOD "kds"
#define TARGET "Kinesis_20131202.SubscribeToShard"
#define ACCOUNT "123456789012"
#define JSON_CT "application/x-amz-json-1.1"
#define ES_CT "application/vnd.amazon.eventstream"

#define E_ARG "InvalidArgumentException"
#define E_NOTFOUND "ResourceNotFoundException"
#define E_INUSE "ResourceInUseException"
#define E_LIMIT "LimitExceededException"
#define E_VALIDATION "ValidationException"
#define E_INTERNAL "InternalFailure"
#define E_DENIED "AccessDeniedException"

/* Records per event (the service sends up to 10,000 and ~10 MiB: base64 stays below 16 MiB). */
#define EVENT_RECORDS 10000u
/* Above this much queued output a subscription waits for on_writable before reading more. */
#define HIGH_WATER (4u * 1024u * 1024u)

/* ---- errors and names ------------------------------------------------------------------------ */

static void efail(struct csi_kds_err *e, int status, const char *type, const char *fmt, ...)
    CS_PRINTF(4, 5);

static void efail(struct csi_kds_err *e, int status, const char *type, const char *fmt, ...)
{
    va_list ap;
    e->status = status;
    e->type = type;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

static const char *region_of(cs_api *api)
{
    return api != NULL ? csi_api_region(api) : "us-west-2";
}

static void stream_arn(cs_api *api, const char *stream, char *out, size_t cap)
{
    snprintf(out, cap, "arn:aws:kinesis:%s:%s:stream/%s", region_of(api), ACCOUNT, stream);
}

static void consumer_arn(cs_api *api, const csi_kds_consumer *c, char *out, size_t cap)
{
    snprintf(out, cap, "arn:aws:kinesis:%s:%s:stream/%s/consumer/%s:%llu", region_of(api), ACCOUNT,
             c->stream, c->name, (unsigned long long)(c->created_ms / 1000u));
}

/* The stream name inside a StreamARN (`arn:...:stream/<name>`), or NULL. */
static bool parse_stream_arn(const char *arn, char out[CSI_KDS_MAX_STREAM_NAME + 1])
{
    const char *p = arn != NULL ? strstr(arn, ":stream/") : NULL;
    size_t n;
    if (p == NULL) {
        return false;
    }
    p += 8;
    n = strlen(p);
    if (n == 0 || n > CSI_KDS_MAX_STREAM_NAME || strchr(p, '/') != NULL) {
        return false;
    }
    memcpy(out, p, n + 1);
    return true;
}

/* A ConsumerARN: `arn:...:stream/<stream>/consumer/<name>:<epoch seconds>`. */
static bool parse_consumer_arn(const char *arn, char stream[CSI_KDS_MAX_STREAM_NAME + 1],
                               char name[CSI_KDS_MAX_CONSUMER_NAME + 1], unsigned long long *secs)
{
    const char *p = arn != NULL ? strstr(arn, ":stream/") : NULL;
    const char *c, *colon;
    char *end = NULL;
    if (p == NULL) {
        return false;
    }
    p += 8;
    c = strstr(p, "/consumer/");
    if (c == NULL || c == p || (size_t)(c - p) > CSI_KDS_MAX_STREAM_NAME) {
        return false;
    }
    memcpy(stream, p, (size_t)(c - p));
    stream[c - p] = '\0';
    c += 10;
    colon = strrchr(c, ':');
    if (colon == NULL || colon == c || (size_t)(colon - c) > CSI_KDS_MAX_CONSUMER_NAME ||
        colon[1] < '0' || colon[1] > '9') {
        return false;
    }
    memcpy(name, c, (size_t)(colon - c));
    name[colon - c] = '\0';
    *secs = strtoull(colon + 1, &end, 10);
    return end != NULL && *end == '\0';
}

/* Maps a metadata status onto the service's error. */
static void fail_st(struct csi_kds_err *e, cs_status st, const char *stream, const char *consumer)
{
    switch (st) {
    case CS_E_NOTFOUND:
        if (consumer != NULL) {
            efail(e, 400, E_NOTFOUND, "Consumer %s under stream %s not found for account %s.",
                  consumer, stream, ACCOUNT);
        } else {
            efail(e, 400, E_NOTFOUND, "Stream %s under account %s not found.", stream, ACCOUNT);
        }
        break;
    case CS_E_EXISTS:
        efail(e, 400, E_INUSE, "Consumer %s under stream %s already exists for account %s.",
              consumer ? consumer : "", stream, ACCOUNT);
        break;
    case CS_E_LIMIT:
        efail(e, 400, E_LIMIT, "Stream %s already has %d registered consumers.", stream,
              CSI_KDS_MAX_CONSUMERS);
        break;
    case CS_E_INVAL:
        efail(e, 400, E_VALIDATION,
              "1 validation error detected: Value at 'consumerName' failed to satisfy constraint: "
              "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and length 1-128");
        break;
    default:
        efail(e, 500, E_INTERNAL, "Internal failure (%s).", cs_status_str(st));
        break;
    }
}

static json_t *consumer_json(cs_api *api, const csi_kds_consumer *c, bool with_stream,
                             const char *status)
{
    char a[600];
    json_t *o;
    consumer_arn(api, c, a, sizeof(a));
    o = json_pack("{s:s,s:s,s:s,s:f}", "ConsumerName", c->name, "ConsumerARN", a, "ConsumerStatus",
                  status, "ConsumerCreationTimestamp", (double)c->created_ms / 1000.0);
    if (with_stream && o != NULL) {
        stream_arn(api, c->stream, a, sizeof(a));
        json_object_set_new(o, "StreamARN", json_string(a));
    }
    return o;
}

/* Finds the consumer a request names: ConsumerARN, or StreamARN + ConsumerName. */
static bool find_consumer(csi_kds_store *store, const cs_api_credential *key, unsigned rights,
                          json_t *in, csi_kds_consumer *c, struct csi_kds_err *e)
{
    const char *carn = json_string_value(json_object_get(in, "ConsumerARN"));
    const char *sarn = json_string_value(json_object_get(in, "StreamARN"));
    const char *cname = json_string_value(json_object_get(in, "ConsumerName"));
    char stream[CSI_KDS_MAX_STREAM_NAME + 1], name[CSI_KDS_MAX_CONSUMER_NAME + 1];
    unsigned long long secs = 0;
    bool by_arn = carn != NULL;
    cs_status st;
    if (by_arn) {
        if (!parse_consumer_arn(carn, stream, name, &secs)) {
            efail(e, 400, E_ARG, "ConsumerARN %.300s is not a consumer ARN.", carn);
            return false;
        }
    } else if (sarn != NULL && cname != NULL) {
        if (!parse_stream_arn(sarn, stream)) {
            efail(e, 400, E_ARG, "StreamARN %.300s is not a stream ARN.", sarn);
            return false;
        }
        if (strlen(cname) == 0 || strlen(cname) > CSI_KDS_MAX_CONSUMER_NAME) {
            fail_st(e, CS_E_INVAL, stream, cname);
            return false;
        }
        snprintf(name, sizeof(name), "%s", cname);
    } else {
        efail(e, 400, E_ARG,
              "You must specify either the ConsumerARN or both the StreamARN and the "
              "ConsumerName.");
        return false;
    }
    if (!csi_api_key_allows(key, rights, stream)) {
        efail(e, 400, E_DENIED, "The access key may not use the consumers of %s.", stream);
        return false;
    }
    st = csi_kds_meta_consumer_get(csi_kds_store_meta(store), stream, name, c);
    if (st == CS_OK && by_arn && secs != c->created_ms / 1000u) {
        st = CS_E_NOTFOUND; /* an older consumer of the same name */
    }
    if (st != CS_OK) {
        fail_st(e, st == CS_E_NOTFOUND ? CS_E_NOTFOUND : st, stream, by_arn ? carn : name);
        return false;
    }
    return true;
}

/* ---- the subscription registry (loop thread) ------------------------------------------------- */

struct sub;

static struct subctx {
    cs_api *api;
    cs_http_server *srv;
    csi_kds_store *store;
    uint64_t lifetime_ms, takeover_ms, heartbeat_ms;
    struct sub *head; /* active subscriptions (response started, not finished) */
} g_ctx;

struct sub {
    struct csi_api_body body; /* the request's; first: request.c finds it */
    cs_http_stream *s;
    struct sub *prev, *next;
    bool listed;
    /* the request */
    bool cbor;
    const cs_api_credential *key;
    /* what it subscribes */
    char stream[CSI_KDS_MAX_STREAM_NAME + 1];
    char consumer[600]; /* the canonical ConsumerARN */
    uint32_t shard;
    char iterator[CSI_KDS_ITERATOR_MAX];
    char cont[CSI_KDS_SEQ_LEN + 2];
    /* state */
    bool busy;     /* a job (start or read) runs; it holds a stream reference */
    bool closed;   /* on_close came: free when the job is done */
    bool pending;  /* a notification came during a read */
    bool ending;   /* lifetime over: finish after the running read */
    bool finished; /* the response was finished or never started */
    bool sent;     /* an event was sent (the first read sends one, even if empty) */
    uint64_t started_ms, last_event_ms;
    /* a start job's error */
    struct csi_kds_err err;
    /* a read job's result */
    cs_status rst;
    uint8_t *ev;
    size_t ev_len;
    size_t nrec;
    bool at_end;
};

static uint64_t mono_ms(void)
{
    return cs_clock_monotonic_ns(NULL) / 1000000u;
}

static void unlist(struct sub *u)
{
    if (!u->listed) {
        return;
    }
    if (u->prev != NULL) {
        u->prev->next = u->next;
    } else {
        g_ctx.head = u->next;
    }
    if (u->next != NULL) {
        u->next->prev = u->prev;
    }
    u->prev = u->next = NULL;
    u->listed = false;
}

static void list(struct sub *u)
{
    u->prev = NULL;
    u->next = g_ctx.head;
    if (g_ctx.head != NULL) {
        g_ctx.head->prev = u;
    }
    g_ctx.head = u;
    u->listed = true;
}

static void free_sub(struct sub *u)
{
    unlist(u);
    csi_api_body_free(&u->body);
    free(u->ev);
    free(u);
}

/* ---- event-stream messages ------------------------------------------------------------------- */

/* Writes one message; false when it could not be encoded or queued. */
static bool write_message(struct sub *u, const csi_kds_es_header *h, size_t nh, const uint8_t *p,
                          size_t n)
{
    size_t len = 0;
    uint8_t *buf;
    bool ok;
    if (csi_kds_es_encode(h, nh, p, n, NULL, 0, &len) != CS_OK) {
        return false;
    }
    buf = malloc(len);
    if (buf == NULL) {
        return false;
    }
    ok = csi_kds_es_encode(h, nh, p, n, buf, len, &len) == CS_OK &&
         cs_http_stream_write(u->s, buf, len) == CS_OK;
    free(buf);
    return ok;
}

/* An exception event (JSON, or CBOR for a CBOR request); the caller then finishes the response. */
static void write_exception(struct sub *u, const char *type, const char *message)
{
    json_t *o = json_pack("{s:s}", "message", message);
    uint8_t *p = NULL;
    size_t n = 0;
    const csi_kds_es_header h[] = {
        {":message-type", "exception"},
        {":exception-type", type},
        {":content-type", u->cbor ? CSI_KDS_CBOR_CONTENT_TYPE : "application/json"}};
    if (o != NULL && u->cbor) {
        if (csi_kds_json_to_cbor(o, &p, &n) != CS_OK) {
            p = NULL;
        }
    } else if (o != NULL) {
        p = (uint8_t *)json_dumps(o, JSON_COMPACT);
        n = p != NULL ? strlen((char *)p) : 0;
    }
    if (p != NULL) {
        write_message(u, h, 3, p, n);
    }
    free(p);
    json_decref(o);
}

/* Ends the response (clean end of the event stream); on_close frees the subscription. */
static void finish(struct sub *u)
{
    if (u->finished) {
        return;
    }
    u->finished = true;
    unlist(u);
    cs_http_stream_finish(u->s);
}

/* ---- reads ----------------------------------------------------------------------------------- */

struct rd {
    json_t *recs;
    char last[CSI_KDS_SEQ_LEN + 1];
};

static bool on_record(void *ctx, const csi_kds_record *rec)
{
    struct rd *c = ctx;
    size_t n = csi_kds_base64_len(rec->len);
    char *b64 = malloc(n + 1);
    json_t *o;
    if (b64 == NULL) {
        return false;
    }
    csi_kds_base64_encode(rec->data, rec->len, b64);
    b64[n] = '\0';
    o = json_pack("{s:s,s:f,s:s,s:s%,s:s}", "SequenceNumber", rec->seq,
                  "ApproximateArrivalTimestamp", (double)rec->arrival_ms / 1000.0, "Data", b64,
                  "PartitionKey", rec->partition_key, rec->key_len, "EncryptionType", "NONE");
    free(b64);
    if (o == NULL || json_array_append_new(c->recs, o) != 0) {
        return false;
    }
    snprintf(c->last, sizeof(c->last), "%s", rec->seq);
    return true;
}

json_t *csi_kds_children_json(const csi_kds_get_result *res)
{
    json_t *kids = json_array();
    for (size_t k = 0; k < res->n_children; k++) {
        const csi_kds_shard *c = &res->child_shards[k];
        char id[CSI_KDS_SHARD_ID_LEN + 1], a[CSI_KDS_U128_MAX_TEXT], b[CSI_KDS_U128_MAX_TEXT];
        json_t *parents = json_array();
        if (c->parent >= 0) {
            csi_kds_shard_id((uint32_t)c->parent, id);
            json_array_append_new(parents, json_string(id));
        }
        if (c->adjacent_parent >= 0) {
            csi_kds_shard_id((uint32_t)c->adjacent_parent, id);
            json_array_append_new(parents, json_string(id));
        }
        csi_kds_shard_id(c->index, id);
        csi_kds_u128_format(c->start, a);
        csi_kds_u128_format(c->end, b);
        json_array_append_new(kids, json_pack("{s:s,s:o,s:{s:s,s:s}}", "ShardId", id,
                                              "ParentShards", parents, "HashKeyRange",
                                              "StartingHashKey", a, "EndingHashKey", b));
    }
    return kids;
}

/* Worker: reads from the iterator and encodes the event (even when empty: the loop decides). */
static void read_job(void *arg)
{
    struct sub *u = arg;
    struct rd c = {json_array(), ""};
    csi_kds_get_result res;
    json_t *ev = NULL;
    uint8_t *payload = NULL;
    size_t plen = 0;
    const csi_kds_es_header h[] = {
        {":message-type", "event"},
        {":event-type", "SubscribeToShardEvent"},
        {":content-type", u->cbor ? CSI_KDS_CBOR_CONTENT_TYPE : JSON_CT}};
    free(u->ev);
    u->ev = NULL;
    u->ev_len = 0;
    u->nrec = 0;
    u->at_end = false;
    u->rst = c.recs != NULL
                 ? csi_kds_store_get(g_ctx.store, u->iterator, EVENT_RECORDS, on_record, &c, &res)
                 : CS_E_NOMEM;
    if (u->rst != CS_OK) {
        goto out;
    }
    u->nrec = res.records;
    if (c.last[0] != '\0') {
        snprintf(u->cont, sizeof(u->cont), "%s", c.last);
    }
    ev = json_pack("{s:O,s:i}", "Records", c.recs, "MillisBehindLatest",
                   (json_int_t)res.millis_behind);
    if (ev == NULL) {
        u->rst = CS_E_NOMEM;
        goto out;
    }
    if (res.has_next) {
        snprintf(u->iterator, sizeof(u->iterator), "%s", res.next);
        json_object_set_new(ev, "ContinuationSequenceNumber", json_string(u->cont));
    } else {
        /* The end of a closed shard: no continuation (as the service: KCL's shard-end signal),
         * its children instead. */
        u->at_end = true;
        json_object_set_new(ev, "ChildShards", csi_kds_children_json(&res));
    }
    if (u->cbor) {
        if (csi_kds_json_to_cbor(ev, &payload, &plen) != CS_OK) {
            u->rst = CS_E_NOMEM;
            goto out;
        }
    } else {
        char *txt = json_dumps(ev, JSON_COMPACT | JSON_REAL_PRECISION(17));
        if (txt == NULL) {
            u->rst = CS_E_NOMEM;
            goto out;
        }
        payload = (uint8_t *)txt;
        plen = strlen(txt);
    }
    if (csi_kds_es_encode(h, 3, payload, plen, NULL, 0, &u->ev_len) != CS_OK ||
        (u->ev = malloc(u->ev_len)) == NULL ||
        csi_kds_es_encode(h, 3, payload, plen, u->ev, u->ev_len, &u->ev_len) != CS_OK) {
        u->rst = CS_E_NOMEM;
    }
out:
    free(payload);
    json_decref(ev);
    json_decref(c.recs);
}

static void read_done(void *arg);

/* Starts the next read unless one runs, the response is over or the client is behind. */
static void maybe_read(struct sub *u)
{
    if (u->busy || u->closed || u->finished) {
        return;
    }
    if (cs_http_stream_write_pending(u->s) > HIGH_WATER) {
        cs_http_stream_want_writable(u->s); /* on_writable comes back here */
        return;
    }
    u->pending = false;
    if (!csi_api_submit(g_ctx.srv, u->s, read_job, read_done, u, &u->busy)) {
        finish(u); /* the server is stopping */
    }
}

static void read_done(void *arg)
{
    struct sub *u = arg;
    cs_http_stream *s = u->s;
    uint64_t now = mono_ms();
    u->busy = false;
    if (u->closed) {
        free_sub(u);
        cs_http_stream_unref(s);
        return;
    }
    if (u->finished) {
        cs_http_stream_unref(s);
        return;
    }
    if (u->rst != CS_OK) {
        if (u->rst == CS_E_NOTFOUND) {
            write_exception(u, E_NOTFOUND, "The stream or shard no longer exists.");
        } else {
            char m[128];
            snprintf(m, sizeof(m), "Reading the shard failed (%s).", cs_status_str(u->rst));
            write_exception(u, "InternalFailureException", m);
        }
        finish(u);
    } else {
        if (u->nrec > 0 || u->at_end || !u->sent || now - u->last_event_ms >= g_ctx.heartbeat_ms) {
            if (cs_http_stream_write(s, u->ev, u->ev_len) != CS_OK) {
                cs_http_stream_abort(s);
                cs_http_stream_unref(s);
                return;
            }
            u->last_event_ms = now;
            u->sent = true;
        }
        free(u->ev);
        u->ev = NULL;
        if (u->at_end || u->ending) {
            finish(u);
        } else if (u->nrec > 0 || u->pending) {
            maybe_read(u);
        }
    }
    cs_http_stream_unref(s);
}

void csi_kds_sub_notify(const char *stream)
{
    struct sub *u = g_ctx.head;
    while (u != NULL && stream != NULL) {
        struct sub *next = u->next; /* maybe_read() may unlist u */
        if (strcmp(u->stream, stream) == 0) {
            if (u->busy) {
                u->pending = true;
            } else {
                maybe_read(u);
            }
        }
        u = next;
    }
}

/* Posted by DeregisterStreamConsumer: its subscriptions end. */
static void end_consumer(void *arg)
{
    char *arn = arg;
    struct sub *u = g_ctx.head;
    while (u != NULL) {
        struct sub *next = u->next;
        if (strcmp(u->consumer, arn) == 0) {
            write_exception(u, E_NOTFOUND, "The consumer was deregistered.");
            finish(u); /* a running read sees `finished` when it is done */
        }
        u = next;
    }
    free(arn);
}

void csi_kds_sub_drain(void)
{
    while (g_ctx.head != NULL) {
        struct sub *u = g_ctx.head;
        unlist(u);
        finish(u); /* a running read sees `finished` */
    }
}

static void tick(void *arg)
{
    uint64_t now = mono_ms();
    struct sub *u = g_ctx.head;
    (void)arg;
    while (u != NULL) {
        struct sub *next = u->next;
        if (now - u->started_ms >= g_ctx.lifetime_ms) {
            if (u->busy) {
                u->ending = true;
            } else {
                finish(u);
            }
        } else if (now - u->last_event_ms >= g_ctx.heartbeat_ms) {
            maybe_read(u);
        }
        u = next;
    }
}

/* ---- the start of a subscription ------------------------------------------------------------- */

static void start_job(void *arg)
{
    static const char *types[] = {"AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "AT_TIMESTAMP",
                                  "TRIM_HORIZON", "LATEST"};
    struct sub *u = arg;
    struct csi_kds_err *e = &u->err;
    json_t *in = NULL, *pos;
    csi_kds_consumer c;
    csi_kds_iterator it;
    char why[200] = "";
    const char *sid, *t, *seq;
    int type = -1;
    cs_status st;
    if (u->cbor) {
        if (csi_kds_cbor_to_json((const uint8_t *)u->body.data, u->body.len, &in, why,
                                 sizeof(why)) != CS_OK) {
            efail(e, 400, "SerializationException", "The request body is not valid: %s.", why);
            return;
        }
    } else {
        json_error_t jerr;
        in = json_loadb(u->body.len ? u->body.data : "{}", u->body.len ? u->body.len : 2, 0, &jerr);
    }
    if (!json_is_object(in)) {
        json_decref(in);
        efail(e, 400, "SerializationException", "The request body is not an object.");
        return;
    }
    sid = json_string_value(json_object_get(in, "ShardId"));
    pos = json_object_get(in, "StartingPosition");
    t = json_string_value(json_object_get(pos, "Type"));
    seq = json_string_value(json_object_get(pos, "SequenceNumber"));
    for (int i = 0; t != NULL && i < 5; i++) {
        if (strcmp(t, types[i]) == 0) {
            type = i;
        }
    }
    if (json_string_value(json_object_get(in, "ConsumerARN")) == NULL || sid == NULL || type < 0) {
        efail(e, 400, E_VALIDATION,
              "ConsumerARN, ShardId and StartingPosition (Type AT_SEQUENCE_NUMBER, "
              "AFTER_SEQUENCE_NUMBER, AT_TIMESTAMP, TRIM_HORIZON or LATEST) are required.");
        goto out;
    }
    if (csi_kds_shard_id_parse(sid, strlen(sid), &u->shard) != CS_OK) {
        efail(e, 400, E_ARG, "ShardId %.64s is not a shard id.", sid);
        goto out;
    }
    if ((type == 0 || type == 1) && seq == NULL) {
        efail(e, 400, E_ARG, "StartingPosition.SequenceNumber is required for %s.", t);
        goto out;
    }
    if (type == 2 && !json_is_number(json_object_get(pos, "Timestamp"))) {
        efail(e, 400, E_ARG, "StartingPosition.Timestamp is required for AT_TIMESTAMP.");
        goto out;
    }
    if (!find_consumer(g_ctx.store, u->key, CS_API_READ, in, &c, e)) { /* it reads records */
        goto out;
    }
    snprintf(u->stream, sizeof(u->stream), "%s", c.stream);
    consumer_arn(g_ctx.api, &c, u->consumer, sizeof(u->consumer));
    st = csi_kds_store_iterator(
        g_ctx.store, c.stream, u->shard, (csi_kds_iter_type)type, seq,
        type == 2 ? (uint64_t)(json_number_value(json_object_get(pos, "Timestamp")) * 1000.0) : 0,
        u->iterator);
    if (st == CS_OK) {
        st = csi_kds_store_iterator_position(g_ctx.store, u->iterator, &it);
    }
    if (st == CS_E_NOTFOUND) {
        efail(e, 400, E_NOTFOUND, "Shard %s in stream %s under account %s does not exist.", sid,
              c.stream, ACCOUNT);
    } else if (st == CS_E_INVAL) {
        efail(e, 400, E_ARG, "StartingSequenceNumber %.64s is not a sequence number of %s.",
              seq ? seq : "", sid);
    } else if (st != CS_OK) {
        efail(e, 500, E_INTERNAL, "Internal failure (%s).", cs_status_str(st));
    } else if (it.offset == 0) {
        /* no record before: the shard's first sequence number minus one (kds.h) */
        csi_kds_seq_before_first(it.stream_created_ms, it.shard, u->cont);
    } else {
        csi_kds_seq_format(it.stream_created_ms, it.shard, it.offset - 1, u->cont);
    }
out:
    json_decref(in);
}

static void respond_error(struct sub *u)
{
    json_t *o = json_pack("{s:s,s:s}", "__type", u->err.type, "message", u->err.message);
    uint8_t *out = NULL;
    size_t n = 0;
    cs_http_header h[2] = {{"content-type", u->cbor ? CSI_KDS_CBOR_CONTENT_TYPE : JSON_CT},
                           {"x-amzn-ErrorType", u->err.type}};
    if (o != NULL) {
        if (u->cbor) {
            csi_kds_json_to_cbor(o, &out, &n);
        } else {
            out = (uint8_t *)json_dumps(o, JSON_COMPACT);
            n = out != NULL ? strlen((char *)out) : 0;
        }
        json_decref(o);
    }
    u->finished = true;
    if (cs_http_stream_respond(u->s, u->err.status ? u->err.status : 500, h, 2, (int64_t)n) ==
        CS_OK) {
        if (n > 0) {
            cs_http_stream_write(u->s, out, n);
        }
        cs_http_stream_finish(u->s);
    }
    free(out);
}

static void start_done(void *arg)
{
    struct sub *u = arg;
    cs_http_stream *s = u->s;
    uint64_t now = mono_ms();
    const csi_kds_es_header ih[] = {
        {":message-type", "event"},
        {":event-type", "initial-response"},
        {":content-type", u->cbor ? CSI_KDS_CBOR_CONTENT_TYPE : JSON_CT}};
    static const uint8_t empty_cbor[] = {0xa0};
    cs_http_header rh[] = {{"content-type", ES_CT}};
    u->busy = false;
    if (u->closed) {
        free_sub(u);
        cs_http_stream_unref(s);
        return;
    }
    if (u->err.type == NULL) {
        /* One subscription per consumer and shard: a second one is refused for the takeover time,
         * later it replaces the first (which ends with ResourceInUseException). */
        for (struct sub *o = g_ctx.head; o != NULL; o = o->next) {
            if (o->shard != u->shard || strcmp(o->consumer, u->consumer) != 0) {
                continue;
            }
            if (now - o->started_ms < g_ctx.takeover_ms) {
                efail(&u->err, 400, E_INUSE,
                      "Another active subscription exists for consumer %s on shard "
                      "shardId-%012u.",
                      u->consumer, u->shard);
            } else {
                write_exception(o, E_INUSE, "Another subscription took over this one.");
                finish(o);
            }
            break;
        }
    }
    if (u->err.type != NULL) {
        respond_error(u);
        cs_http_stream_unref(s);
        return;
    }
    if (cs_http_stream_respond(s, 200, rh, 1, -1) != CS_OK ||
        !write_message(u, ih, 3, u->cbor ? empty_cbor : (const uint8_t *)"{}", u->cbor ? 1 : 2)) {
        u->finished = true;
        cs_http_stream_abort(s);
        cs_http_stream_unref(s);
        return;
    }
    CS_LOG_DEBUG(NULL, MOD, "SubscribeToShard %s shardId-%012u (HTTP %d)", u->consumer, u->shard,
                 cs_http_stream_version(s));
    u->started_ms = now;
    u->last_event_ms = now;
    list(u);
    maybe_read(u);
    cs_http_stream_unref(s);
}

/* ---- the route ------------------------------------------------------------------------------- */

static void on_request(cs_http_stream *s, void *user)
{
    const char *ctype = cs_http_stream_header(s, "content-type");
    struct sub *u = calloc(1, sizeof(*u));
    (void)user;
    if (u == NULL) {
        cs_http_stream_respond_simple(s, 500, JSON_CT, "{}", 2);
        return;
    }
    u->s = s;
    u->cbor = ctype != NULL && strstr(ctype, "cbor") != NULL;
    cs_http_stream_set_data(s, u);
}

/* csi_api_body_end()'s refusal (loop thread): a bad signature, or no worker took the start. */
static void refuse(void *arg, int status, const char *type, const char *message)
{
    struct sub *u = arg;
    efail(&u->err, status, type, "%s", message);
    respond_error(u);
}

static const struct csi_api_handler handler = {.service = "kinesis",
                                               .job = start_job,
                                               .done = start_done,
                                               .refuse = refuse,
                                               .busy_status = 500,
                                               .busy_type = E_INTERNAL,
                                               .busy_message = "The server is stopping."};

static void on_body_end(cs_http_stream *s, void *user)
{
    struct sub *u = cs_http_stream_data(s);
    (void)user;
    if (u != NULL) {
        csi_api_body_end(g_ctx.api, s, u, &handler, &u->key, &u->busy);
    }
}

static void on_writable(cs_http_stream *s, void *user)
{
    struct sub *u = cs_http_stream_data(s);
    (void)user;
    if (u != NULL) {
        maybe_read(u);
    }
}

static void on_close(cs_http_stream *s, cs_status why, void *user)
{
    struct sub *u = cs_http_stream_data(s);
    bool free_now;
    (void)why;
    (void)user;
    if (u == NULL) {
        return;
    }
    free_now = csi_api_detach(s, u->busy, &u->closed);
    unlist(u);
    if (free_now) {
        free_sub(u);
    }
}

static uint64_t env_ms(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    char *end = NULL;
    unsigned long long x;
    if (v == NULL || *v == '\0') {
        return dflt;
    }
    x = strtoull(v, &end, 10);
    return end != NULL && *end == '\0' ? (uint64_t)x : dflt;
}

cs_status csi_kds_sub_add_routes(cs_api *api, cs_http_server *srv, csi_kds_store *store)
{
    cs_http_route rt = {0};
    cs_status st;
    g_ctx.api = api;
    g_ctx.srv = srv;
    g_ctx.store = store;
    g_ctx.head = NULL;
    g_ctx.lifetime_ms = env_ms("CS_KDS_SUBSCRIPTION_MS", 5u * 60u * 1000u);
    g_ctx.takeover_ms = env_ms("CS_KDS_SUBSCRIBE_TAKEOVER_MS", 5000u);
    g_ctx.heartbeat_ms = env_ms("CS_KDS_SUBSCRIBE_HEARTBEAT_MS", 5000u);
    if (g_ctx.heartbeat_ms == 0) {
        g_ctx.heartbeat_ms = 1;
    }
    rt.method = "POST";
    rt.path = "/";
    rt.header_name = "x-amz-target";
    rt.header_value = TARGET;
    rt.flags = CS_HTTP_ROUTE_BUFFERED;
    rt.on_request = on_request;
    rt.on_body = csi_api_on_body;
    rt.on_body_end = on_body_end;
    rt.on_writable = on_writable;
    rt.on_close = on_close;
    rt.user = &g_ctx;
    st = cs_http_server_add_route(srv, &rt);
    if (st == CS_OK) {
        st = cs_http_server_add_tick(srv, tick, &g_ctx);
    }
    return st;
}

cs_status csi_kds_sub_run(cs_api *api, csi_kds_store *store, const uint8_t *body, size_t len,
                          bool cbor, struct csi_kds_err *err, size_t *records)
{
    struct sub *u;
    if (store == NULL || err == NULL || (body == NULL && len > 0)) {
        return CS_E_INVAL;
    }
    if (g_ctx.srv != NULL) {
        return CS_E_STATE; /* serving: g_ctx belongs to the server */
    }
    u = calloc(1, sizeof(*u));
    if (u == NULL) {
        return CS_E_NOMEM;
    }
    g_ctx.api = api;
    g_ctx.store = store;
    u->body.data = (char *)body;
    u->body.len = len;
    u->cbor = cbor;
    start_job(u);
    if (u->err.type == NULL) {
        read_job(u);
        if (u->rst != CS_OK) {
            efail(&u->err, 500, E_INTERNAL, "Reading the shard failed (%s).",
                  cs_status_str(u->rst));
        } else if (u->ev == NULL ||
                   csi_kds_es_decode(u->ev, u->ev_len, &len, &len, &len) != CS_OK) {
            efail(&u->err, 500, E_INTERNAL, "The event is not a valid event-stream message.");
        }
    }
    if (records != NULL) {
        *records = u->nrec;
    }
    *err = u->err;
    u->body.data = NULL; /* the caller's */
    free_sub(u);
    g_ctx.store = NULL;
    return CS_OK;
}

/* ---- the consumer operations ----------------------------------------------------------------- */

uint32_t csi_kds_consumer_count(csi_kds_store *store, const char *stream)
{
    csi_kds_consumer c[CSI_KDS_MAX_CONSUMERS];
    size_t n = 0;
    bool more = false;
    if (csi_kds_meta_consumers(csi_kds_store_meta(store), stream, NULL, CSI_KDS_MAX_CONSUMERS, c,
                               &n, &more) != CS_OK) {
        return 0;
    }
    return (uint32_t)n;
}

static json_t *op_register(cs_api *api, csi_kds_store *store, const cs_api_credential *key,
                           json_t *in, struct csi_kds_err *e)
{
    const char *sarn = json_string_value(json_object_get(in, "StreamARN"));
    const char *cname = json_string_value(json_object_get(in, "ConsumerName"));
    char stream[CSI_KDS_MAX_STREAM_NAME + 1];
    csi_kds_consumer c;
    cs_status st;
    if (sarn == NULL || cname == NULL) {
        efail(e, 400, E_VALIDATION, "StreamARN and ConsumerName are required.");
        return NULL;
    }
    if (!parse_stream_arn(sarn, stream)) {
        efail(e, 400, E_ARG, "StreamARN %.300s is not a stream ARN.", sarn);
        return NULL;
    }
    if (!csi_api_key_allows(key, CS_API_READ | CS_API_WRITE, stream)) {
        efail(e, 400, E_DENIED, "The access key may not use the consumers of %s.", stream);
        return NULL;
    }
    st = csi_kds_meta_consumer_add(csi_kds_store_meta(store), stream, cname,
                                   cs_clock_wall_ns(NULL) / 1000000u, &c);
    if (st == CS_E_EXISTS &&
        csi_kds_meta_consumer_get(csi_kds_store_meta(store), stream, cname, &c) == CS_OK) {
        char a[600];
        consumer_arn(api, &c, a, sizeof(a));
        fail_st(e, st, stream, a);
        return NULL;
    }
    if (st != CS_OK) {
        fail_st(e, st, stream, st == CS_E_NOTFOUND ? NULL : cname);
        return NULL;
    }
    /* The service answers CREATING and turns ACTIVE seconds later; here it is ACTIVE from the
     * next call on (docs/record-streams.md). */
    return json_pack("{s:o}", "Consumer", consumer_json(api, &c, false, "CREATING"));
}

static json_t *op_deregister(cs_api *api, csi_kds_store *store, const cs_api_credential *key,
                             json_t *in, struct csi_kds_err *e)
{
    csi_kds_consumer c;
    char a[600];
    cs_status st;
    if (!find_consumer(store, key, CS_API_READ | CS_API_WRITE, in, &c, e)) {
        return NULL;
    }
    st = csi_kds_meta_consumer_remove(csi_kds_store_meta(store), c.stream, c.name);
    if (st != CS_OK) {
        fail_st(e, st, c.stream, c.name);
        return NULL;
    }
    consumer_arn(api, &c, a, sizeof(a));
    if (api != NULL && csi_api_server(api) != NULL) {
        char *arn = strdup(a);
        if (arn != NULL && cs_http_server_post(csi_api_server(api), end_consumer, arn) != CS_OK) {
            free(arn);
        }
    }
    return json_object();
}

static json_t *op_describe(cs_api *api, csi_kds_store *store, const cs_api_credential *key,
                           json_t *in, struct csi_kds_err *e)
{
    csi_kds_consumer c;
    if (!find_consumer(store, key, CS_API_READ | CS_API_WRITE, in, &c, e)) {
        return NULL;
    }
    return json_pack("{s:o}", "ConsumerDescription", consumer_json(api, &c, true, "ACTIVE"));
}

static json_t *op_list(cs_api *api, csi_kds_store *store, const cs_api_credential *key, json_t *in,
                       struct csi_kds_err *e)
{
    const char *sarn = json_string_value(json_object_get(in, "StreamARN"));
    const char *token = json_string_value(json_object_get(in, "NextToken"));
    json_t *max = json_object_get(in, "MaxResults");
    char stream[CSI_KDS_MAX_STREAM_NAME + 1];
    csi_kds_consumer c[CSI_KDS_MAX_CONSUMERS];
    json_int_t limit = 100;
    size_t n = 0;
    bool more = false;
    json_t *arr, *out;
    cs_status st;
    if (sarn == NULL) {
        efail(e, 400, E_VALIDATION, "StreamARN is required.");
        return NULL;
    }
    if (!parse_stream_arn(sarn, stream)) {
        efail(e, 400, E_ARG, "StreamARN %.300s is not a stream ARN.", sarn);
        return NULL;
    }
    if (max != NULL) {
        limit = json_integer_value(max);
        if (!json_is_integer(max) || limit < 1 || limit > 10000) {
            efail(e, 400, E_ARG, "MaxResults must be between 1 and 10000.");
            return NULL;
        }
    }
    if (limit > CSI_KDS_MAX_CONSUMERS) {
        limit = CSI_KDS_MAX_CONSUMERS;
    }
    /* NextToken: "<stream>|<last consumer listed>" (opaque to clients). */
    if (token != NULL) {
        const char *bar = strrchr(token, '|');
        if (bar == NULL || (size_t)(bar - token) != strlen(stream) ||
            strncmp(token, stream, strlen(stream)) != 0) {
            efail(e, 400, E_ARG, "NextToken is not valid for stream %s.", stream);
            return NULL;
        }
        token = bar + 1;
    }
    if (!csi_api_key_allows(key, CS_API_READ | CS_API_WRITE, stream)) {
        efail(e, 400, E_DENIED, "The access key may not use the consumers of %s.", stream);
        return NULL;
    }
    st = csi_kds_meta_consumers(csi_kds_store_meta(store), stream, token, (size_t)limit, c, &n,
                                &more);
    if (st != CS_OK) {
        fail_st(e, st, stream, NULL);
        return NULL;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(arr, consumer_json(api, &c[i], false, "ACTIVE"));
    }
    out = json_pack("{s:o}", "Consumers", arr);
    if (more && n > 0 && out != NULL) {
        char tok[CSI_KDS_MAX_STREAM_NAME + CSI_KDS_MAX_CONSUMER_NAME + 2];
        snprintf(tok, sizeof(tok), "%s|%s", stream, c[n - 1].name);
        json_object_set_new(out, "NextToken", json_string(tok));
    }
    return out;
}

json_t *csi_kds_consumer_op(cs_api *api, csi_kds_store *store, const cs_api_credential *key,
                            const char *op, json_t *in, struct csi_kds_err *err)
{
    json_t *out = NULL;
    memset(err, 0, sizeof(*err));
    if (strcmp(op, "RegisterStreamConsumer") == 0) {
        out = op_register(api, store, key, in, err);
    } else if (strcmp(op, "DeregisterStreamConsumer") == 0) {
        out = op_deregister(api, store, key, in, err);
    } else if (strcmp(op, "DescribeStreamConsumer") == 0) {
        out = op_describe(api, store, key, in, err);
    } else if (strcmp(op, "ListStreamConsumers") == 0) {
        out = op_list(api, store, key, in, err);
    } else {
        efail(err, 400, "UnknownOperationException", "Unknown operation %s.", op);
    }
    if (out == NULL && err->type == NULL) {
        efail(err, 500, E_INTERNAL, "Out of memory.");
    }
    return out;
}
