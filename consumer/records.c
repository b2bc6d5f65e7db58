/* SPDX-License-Identifier: Apache-2.0 */
/* The record-stream consumer (records_consumer.h): our KCL. Signed JSON 1.1 calls with libcurl
 * (one keep-alive handle), answers read with jansson. Each round: the shard/lease view (ListLeases
 * with an application, ListShards without), renewals, hand-overs, acquisitions up to the fair
 * share, then one GetRecords per held shard, the process callback and a checkpoint. The rules that
 * make it correct live on the server (kds_lease.c: one owner, fencing counter); this side keeps
 * three promises: it never calls back for a shard whose lease it may have lost (local expiry,
 * measured from before the renewal was sent), it checkpoints only after the callback accepted a
 * batch, and it takes a child only when every parent is checkpointed at SHARD_END. */
#define _POSIX_C_SOURCE 200809L
#include "camstream/records_consumer.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "camstream/auth.h"
#include "signed_call.h"

#define MOD "records"
#define KDS "Kinesis_20131202."
#define CAM "Camstream_20261206."
#define SHARD_END "SHARD_END"
#define ID_LEN 24
#define SEQ_LEN 64
#define WORKER_LEN 257
#define ITER_LEN 512
#define MAX_BODY (64u * 1024u * 1024u)
#define MAX_SHARDS 4096

/* One shard as the last view showed it, and this worker's state of it. */
struct shard {
    char id[ID_LEN], parent[ID_LEN], adjacent[ID_LEN];
    bool closed;
    /* the lease as the view showed it (app mode) */
    char owner[WORKER_LEN];
    bool live;           /* held by someone (not expired) */
    bool done;           /* checkpointed SHARD_END (app), or read to its end (no app) */
    bool transfer_asked; /* another worker asked for it */
    /* this worker's */
    bool mine;
    int64_t counter;
    uint64_t expiry_ns;     /* local monotonic: no callback at or after it */
    char position[SEQ_LEN]; /* last sequence number processed ("" none yet) */
    char iterator[ITER_LEN];
};

struct buf {
    char *p;
    size_t len, cap;
    bool over;
};

struct cs_records_consumer {
    cs_records_consumer_config cfg;
    char *endpoint, *region, *stream, *app, *worker;
    char access_key[129], secret_key[129], session_token[2049];
    bool sign;
    cs_sigv4_key_cache keys;
    CURL *easy;
    struct shard *shards;
    size_t n_shards;
    uint64_t next_balance_ns;
    char error[512];
    char last_type[128];
};

static void set_error(cs_records_consumer *c, const char *fmt, ...) CS_PRINTF(2, 3);

static void set_error(cs_records_consumer *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof(c->error), fmt, ap);
    va_end(ap);
    CS_LOG_DEBUG(c->cfg.logger, MOD, "%s", c->error);
}

static uint64_t mono_ns(void)
{
    return cs_clock_monotonic_ns(NULL);
}

/* ---- base64 -----------------------------------------------------------------------------------
 */

static int b64_val(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z') {
        return ch - 'A';
    }
    if (ch >= 'a' && ch <= 'z') {
        return ch - 'a' + 26;
    }
    if (ch >= '0' && ch <= '9') {
        return ch - '0' + 52;
    }
    if (ch == '+') {
        return 62;
    }
    if (ch == '/') {
        return 63;
    }
    return -1;
}

cs_status cs_records_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap,
                                   size_t *out_len)
{
    size_t o = 0;
    if ((in == NULL && n > 0) || out_len == NULL || (out == NULL && cap > 0)) {
        return CS_E_INVAL;
    }
    if (n % 4 != 0) {
        return CS_E_MALFORMED;
    }
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        size_t pad = 0;
        for (size_t k = 0; k < 4; k++) {
            unsigned char ch = (unsigned char)in[i + k];
            if (ch == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            v[k] = pad > 0 ? -1 : b64_val(ch);
            if (v[k] < 0) {
                return CS_E_MALFORMED;
            }
        }
        uint32_t w = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) |
                     (uint32_t)v[3];
        if (o + 3 - pad > cap) {
            return CS_E_NOSPACE;
        }
        out[o++] = (uint8_t)(w >> 16);
        if (pad < 2) {
            out[o++] = (uint8_t)(w >> 8);
        }
        if (pad < 1) {
            out[o++] = (uint8_t)w;
        }
    }
    *out_len = o;
    return CS_OK;
}

/* ---- HTTP -------------------------------------------------------------------------------------
 */

static size_t on_write(char *data, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;
    size_t len = size * n;
    if (b->len + len + 1 > MAX_BODY) {
        b->over = true;
        return 0;
    }
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *p;
        while (cap < b->len + len + 1) {
            cap *= 2;
        }
        p = realloc(b->p, cap);
        if (p == NULL) {
            return 0;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
    return len;
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
    cs_kvs_result *res = ud;
    csi_error_type_header(buf, size * n, res->error_type, sizeof(res->error_type));
    return size * n;
}

/* The credentials: the config's, else the environment's; none: unsigned. */
static void load_creds(const cs_records_consumer_config *cfg, char *ak, size_t akc, char *sk,
                       size_t skc, char *tok, size_t tokc, bool *sign)
{
    const char *a = cfg->access_key ? cfg->access_key : getenv("AWS_ACCESS_KEY_ID");
    const char *s = cfg->secret_key ? cfg->secret_key : getenv("AWS_SECRET_ACCESS_KEY");
    const char *t = cfg->session_token ? cfg->session_token : getenv("AWS_SESSION_TOKEN");
    *sign = a != NULL && s != NULL && a[0] && s[0];
    snprintf(ak, akc, "%s", *sign ? a : "");
    snprintf(sk, skc, "%s", *sign ? s : "");
    snprintf(tok, tokc, "%s", *sign && t ? t : "");
}

struct call_ctx {
    const char *endpoint;
    struct csi_signer signer; /* service "kinesis" */
    uint32_t connect_timeout_ms;
};

/* POST / with X-Amz-Target on `easy` (kept alive between calls). */
static cs_status do_call(CURL *easy, const struct call_ctx *k, const char *target, const char *json,
                         struct buf *body, cs_kvs_result *res, char *err, size_t err_cap)
{
    const struct csi_signed_post post = {.url = k->endpoint,
                                         .path = "/",
                                         .content_type = "application/x-amz-json-1.1",
                                         .target = target,
                                         .body = json};
    char url[1100];
    struct curl_slist *h = NULL;
    long status = 0;
    CURLcode rc;
    cs_status st;
    memset(res, 0, sizeof(*res));
    body->len = 0;
    body->over = false;
    if (strlen(k->endpoint) + 2 > sizeof(url)) {
        snprintf(err, err_cap, "the endpoint URL is longer than %zu bytes", sizeof(url) - 2);
        return CS_E_INVAL;
    }
    st = csi_signed_headers(&k->signer, &post, &h, err, err_cap);
    if (st != CS_OK) {
        return st;
    }
    snprintf(url, sizeof(url), "%s%s", k->endpoint,
             k->endpoint[strlen(k->endpoint) - 1] == '/' ? "" : "/");
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, res);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)k->connect_timeout_ms);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 120000L);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    rc = curl_easy_perform(easy);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(h);
    if (body->over) {
        snprintf(err, err_cap, "%s: the answer is over %u bytes", target, MAX_BODY);
        return CS_E_LIMIT;
    }
    if (rc != CURLE_OK) {
        snprintf(err, err_cap, "%s: %s", k->endpoint, curl_easy_strerror(rc));
        return CS_E_NET;
    }
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    res->http_status = (int)status;
    res->body_len = body->len;
    if (body->p == NULL) {
        body->p = calloc(1, 1);
        if (body->p == NULL) {
            return CS_E_NOMEM;
        }
        body->cap = 1;
    }
    return CS_OK;
}

static CURL *new_easy(void)
{
    CURL *e;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    e = curl_easy_init();
    if (e == NULL) {
        curl_global_cleanup();
    }
    return e;
}

static void free_easy(CURL **e)
{
    if (*e != NULL) {
        curl_easy_cleanup(*e);
        *e = NULL;
        curl_global_cleanup();
    }
}

cs_status cs_records_call(const cs_records_consumer_config *cfg, const char *target,
                          const char *json, char **out, size_t *out_len, cs_kvs_result *res)
{
    char ak[129], sk[129], tok[2049], err[512];
    cs_sigv4_key_cache keys;
    struct call_ctx k;
    struct buf b = {0};
    CURL *easy;
    cs_status st;
    if (cfg == NULL || cfg->endpoint == NULL || target == NULL || json == NULL || out == NULL ||
        res == NULL) {
        return CS_E_INVAL;
    }
    *out = NULL;
    memset(&keys, 0, sizeof(keys));
    load_creds(cfg, ak, sizeof(ak), sk, sizeof(sk), tok, sizeof(tok), &k.signer.sign);
    k.endpoint = cfg->endpoint;
    k.signer.region = cfg->region ? cfg->region : "us-west-2";
    k.signer.service = "kinesis";
    k.signer.access_key = ak;
    k.signer.secret_key = sk;
    k.signer.session_token = tok;
    k.signer.cache = &keys;
    k.connect_timeout_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 5000;
    easy = new_easy();
    if (easy == NULL) {
        return CS_E_NOMEM;
    }
    st = do_call(easy, &k, target, json, &b, res, err, sizeof(err));
    free_easy(&easy);
    cs_sigv4_key_cache_clear(&keys);
    if (st != CS_OK) {
        CS_LOG_WARN(cfg->logger, MOD, "%s", err);
        free(b.p);
        return st;
    }
    *out = b.p;
    if (out_len != NULL) {
        *out_len = b.len;
    }
    return CS_OK;
}

void cs_records_free(void *p)
{
    free(p);
}

/* ---- the consumer -----------------------------------------------------------------------------
 */

void cs_records_consumer_config_init(cs_records_consumer_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    memset(cfg, 0, sizeof(*cfg));
    cfg->region = "us-west-2";
    cfg->start = CS_RECORDS_TRIM_HORIZON;
    cfg->lease_ms = 10000;
    cfg->max_records = 1000;
    cfg->idle_ms = 200;
    cfg->connect_timeout_ms = 5000;
}

static char *dup_or_null(const char *s, bool *ok)
{
    char *d;
    if (s == NULL) {
        return NULL;
    }
    d = strdup(s);
    if (d == NULL) {
        *ok = false;
    }
    return d;
}

cs_status cs_records_consumer_create(const cs_records_consumer_config *cfg,
                                     cs_records_consumer **out)
{
    cs_records_consumer *c;
    bool ok = true;
    char host[128] = "worker", wid[WORKER_LEN];
    uint8_t rnd[4] = {0};
    if (cfg == NULL || out == NULL || cfg->endpoint == NULL || cfg->stream_name == NULL ||
        cfg->process == NULL || cfg->lease_ms < 100 || cfg->max_records < 1 ||
        cfg->max_records > 10000) {
        return CS_E_INVAL;
    }
    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return CS_E_NOMEM;
    }
    c->cfg = *cfg;
    c->endpoint = dup_or_null(cfg->endpoint, &ok);
    c->region = dup_or_null(cfg->region ? cfg->region : "us-west-2", &ok);
    c->stream = dup_or_null(cfg->stream_name, &ok);
    c->app = dup_or_null(cfg->app_name, &ok);
    if (cfg->worker_id != NULL) {
        c->worker = dup_or_null(cfg->worker_id, &ok);
    } else {
        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        cs_entropy_fill(rnd, sizeof(rnd));
        snprintf(wid, sizeof(wid), "%s-%ld-%02x%02x%02x%02x", host, (long)getpid(), rnd[0], rnd[1],
                 rnd[2], rnd[3]);
        c->worker = dup_or_null(wid, &ok);
    }
    load_creds(cfg, c->access_key, sizeof(c->access_key), c->secret_key, sizeof(c->secret_key),
               c->session_token, sizeof(c->session_token), &c->sign);
    c->easy = ok ? new_easy() : NULL;
    if (!ok || c->easy == NULL) {
        cs_records_consumer_destroy(&c);
        return CS_E_NOMEM;
    }
    c->cfg.endpoint = c->endpoint;
    c->cfg.region = c->region;
    c->cfg.stream_name = c->stream;
    c->cfg.app_name = c->app;
    c->cfg.worker_id = c->worker;
    c->cfg.access_key = c->cfg.secret_key = c->cfg.session_token = NULL;
    *out = c;
    return CS_OK;
}

const char *cs_records_consumer_error(const cs_records_consumer *c)
{
    return c ? c->error : "";
}

size_t cs_records_consumer_leases(const cs_records_consumer *c)
{
    size_t n = 0;
    for (size_t i = 0; c != NULL && i < c->n_shards; i++) {
        n += c->shards[i].mine && !c->shards[i].done;
    }
    return n;
}

/* Maps an error answer to a status. */
static cs_status answer_status(const cs_kvs_result *res)
{
    if (res->http_status == 200) {
        return CS_OK;
    }
    if (strcmp(res->error_type, "ResourceNotFoundException") == 0) {
        return CS_E_NOTFOUND;
    }
    if (strcmp(res->error_type, "ResourceInUseException") == 0) {
        return CS_E_EXISTS;
    }
    if (strcmp(res->error_type, "LeaseLostException") == 0) {
        return CS_E_STATE;
    }
    if (strcmp(res->error_type, "ExpiredIteratorException") == 0) {
        return CS_E_TIMEOUT;
    }
    if (strstr(res->error_type, "Signature") != NULL ||
        strcmp(res->error_type, "AccessDeniedException") == 0 ||
        strstr(res->error_type, "Token") != NULL) {
        return CS_E_AUTH;
    }
    if (strcmp(res->error_type, "ProvisionedThroughputExceededException") == 0 ||
        strcmp(res->error_type, "LimitExceededException") == 0) {
        return CS_AGAIN;
    }
    return res->http_status >= 500 ? CS_E_NET : CS_E_INVAL;
}

/* One call of the consumer; on CS_OK *doc is the parsed answer (an object). CS_AGAIN: throttled. */
static cs_status call(cs_records_consumer *c, const char *target, json_t *req, json_t **doc)
{
    struct call_ctx k = {.endpoint = c->endpoint,
                         .signer = {.sign = c->sign,
                                    .region = c->region,
                                    .service = "kinesis",
                                    .access_key = c->access_key,
                                    .secret_key = c->secret_key,
                                    .session_token = c->session_token,
                                    .cache = &c->keys},
                         .connect_timeout_ms = c->cfg.connect_timeout_ms};
    struct buf b = {0};
    cs_kvs_result res;
    char *json = json_dumps(req, JSON_COMPACT);
    cs_status st;
    *doc = NULL;
    json_decref(req);
    if (json == NULL) {
        return CS_E_NOMEM;
    }
    st = do_call(c->easy, &k, target, json, &b, &res, c->error, sizeof(c->error));
    free(json);
    if (st != CS_OK) {
        free(b.p);
        CS_LOG_WARN(c->cfg.logger, MOD, "%s", c->error);
        return st;
    }
    snprintf(c->last_type, sizeof(c->last_type), "%s", res.error_type);
    st = answer_status(&res);
    if (st != CS_OK) {
        json_t *e = json_loads(b.p, 0, NULL);
        const char *m = json_string_value(json_object_get(e, "message"));
        set_error(c, "%s: %s: %s", target, res.error_type[0] ? res.error_type : "HTTP error",
                  m ? m : b.p);
        json_decref(e);
        free(b.p);
        return st;
    }
    *doc = json_loadb(b.p, b.len, 0, NULL);
    free(b.p);
    if (!json_is_object(*doc)) {
        json_decref(*doc);
        *doc = NULL;
        set_error(c, "%s: the answer is not a JSON object", target);
        return CS_E_MALFORMED;
    }
    return CS_OK;
}

static void event(cs_records_consumer *c, cs_records_event ev, const char *id)
{
    if (c->cfg.on_event != NULL) {
        c->cfg.on_event(c->cfg.user, ev, id);
    }
}

static void copy_str(char *dst, size_t cap, json_t *v)
{
    const char *s = json_string_value(v);
    snprintf(dst, cap, "%s", s ? s : "");
}

static struct shard *find(cs_records_consumer *c, const char *id)
{
    for (size_t i = 0; i < c->n_shards; i++) {
        if (strcmp(c->shards[i].id, id) == 0) {
            return &c->shards[i];
        }
    }
    return NULL;
}

/* Replaces the view with `arr` (ListLeases' Leases or ListShards' Shards), keeping this worker's
 * state of the shards it knew. */
static cs_status merge_view(cs_records_consumer *c, json_t *arr)
{
    size_t n = json_array_size(arr);
    struct shard *nv;
    if (n > MAX_SHARDS) {
        set_error(c, "the stream has over %d shards", MAX_SHARDS);
        return CS_E_LIMIT;
    }
    nv = calloc(n ? n : 1, sizeof(*nv));
    if (nv == NULL) {
        return CS_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        struct shard *s = &nv[i], *old;
        copy_str(s->id, sizeof(s->id), json_object_get(o, "ShardId"));
        old = find(c, s->id);
        if (old != NULL) {
            *s = *old;
        }
        copy_str(s->parent, sizeof(s->parent), json_object_get(o, "ParentShardId"));
        copy_str(s->adjacent, sizeof(s->adjacent), json_object_get(o, "AdjacentParentShardId"));
        if (c->app != NULL) {
            const char *cp = json_string_value(json_object_get(o, "Checkpoint"));
            s->closed = json_is_true(json_object_get(o, "Closed"));
            copy_str(s->owner, sizeof(s->owner), json_object_get(o, "LeaseOwner"));
            s->live = json_integer_value(json_object_get(o, "LeaseExpiresInMillis")) > 0;
            s->done = cp != NULL && strcmp(cp, SHARD_END) == 0;
            s->transfer_asked = json_object_get(o, "TransferRequestedBy") != NULL;
            if (!s->mine && cp != NULL && !s->done) {
                snprintf(s->position, sizeof(s->position), "%s", cp);
            }
        } else {
            s->closed = json_object_get(json_object_get(o, "SequenceNumberRange"),
                                        "EndingSequenceNumber") != NULL;
        }
    }
    /* a held shard that vanished (stream re-created?): forget it */
    free(c->shards);
    c->shards = nv;
    c->n_shards = n;
    return CS_OK;
}

static json_t *lease_req(cs_records_consumer *c, const struct shard *s)
{
    return json_pack("{s:s,s:s,s:s,s:s}", "StreamName", c->stream, "ApplicationName", c->app,
                     "ShardId", s->id, "WorkerId", c->worker);
}

static void drop(cs_records_consumer *c, struct shard *s, cs_records_event ev)
{
    s->mine = false;
    s->iterator[0] = '\0';
    event(c, ev, s->id);
}

/* Takes the lease of `s` (free or expired), or asks its holder to hand it over. */
static cs_status acquire(cs_records_consumer *c, struct shard *s, bool transfer)
{
    json_t *req = lease_req(c, s), *doc = NULL, *l;
    uint64_t t0 = mono_ns();
    const char *cp;
    cs_status st;
    if (req == NULL) {
        return CS_E_NOMEM;
    }
    json_object_set_new(req, "LeaseDurationMillis", json_integer(c->cfg.lease_ms));
    if (transfer) {
        json_object_set_new(req, "RequestTransfer", json_true());
    }
    st = call(c, CAM "AcquireLease", req, &doc);
    if (st != CS_OK) {
        return st;
    }
    l = json_object_get(doc, "Lease");
    s->mine = true;
    s->counter = json_integer_value(json_object_get(l, "LeaseCounter"));
    s->expiry_ns = t0 + (uint64_t)c->cfg.lease_ms * 1000000u;
    cp = json_string_value(json_object_get(l, "Checkpoint"));
    s->done = cp != NULL && strcmp(cp, SHARD_END) == 0;
    snprintf(s->position, sizeof(s->position), "%s", cp != NULL && !s->done ? cp : "");
    s->iterator[0] = '\0';
    json_decref(doc);
    event(c, CS_RECORDS_LEASE_TAKEN, s->id);
    return CS_OK;
}

static cs_status lease_op(cs_records_consumer *c, struct shard *s, const char *op, const char *seq,
                          json_t **doc)
{
    json_t *req = lease_req(c, s);
    if (req == NULL) {
        return CS_E_NOMEM;
    }
    json_object_set_new(req, "LeaseCounter", json_integer(s->counter));
    if (strcmp(op, "RenewLease") == 0) {
        json_object_set_new(req, "LeaseDurationMillis", json_integer(c->cfg.lease_ms));
    }
    if (seq != NULL) {
        json_object_set_new(req, "SequenceNumber", json_string(seq));
    }
    char target[64];
    snprintf(target, sizeof(target), CAM "%s", op);
    return call(c, target, req, doc);
}

static cs_status release(cs_records_consumer *c, struct shard *s)
{
    json_t *doc = NULL;
    cs_status st = lease_op(c, s, "ReleaseLease", NULL, &doc);
    json_decref(doc);
    drop(c, s, st == CS_OK ? CS_RECORDS_LEASE_RELEASED : CS_RECORDS_LEASE_LOST);
    return st == CS_E_STATE ? CS_OK : st;
}

/* Renews the held leases; hands over the ones asked for. */
static cs_status renew_all(cs_records_consumer *c)
{
    for (size_t i = 0; i < c->n_shards; i++) {
        struct shard *s = &c->shards[i];
        json_t *doc = NULL;
        uint64_t t0 = mono_ns();
        cs_status st;
        if (!s->mine) {
            continue;
        }
        if (s->done) { /* checkpointed SHARD_END: nothing more to read */
            st = release(c, s);
            if (st != CS_OK && st != CS_E_NOTFOUND) {
                return st;
            }
            continue;
        }
        st = lease_op(c, s, "RenewLease", NULL, &doc);
        if (st == CS_E_STATE || st == CS_E_NOTFOUND) {
            drop(c, s, CS_RECORDS_LEASE_LOST);
            continue;
        }
        if (st != CS_OK) {
            return st;
        }
        s->expiry_ns = t0 + (uint64_t)c->cfg.lease_ms * 1000000u;
        if (json_object_get(json_object_get(doc, "Lease"), "TransferRequestedBy") != NULL) {
            /* every processed batch is checkpointed: hand it over now (the server gives the
             * lease to the asker: this view says so until the next ListLeases, so the fair
             * share below counts the asker and does not take the shard back) */
            copy_str(s->owner, sizeof(s->owner),
                     json_object_get(json_object_get(doc, "Lease"), "TransferRequestedBy"));
            json_decref(doc);
            st = release(c, s);
            if (st != CS_OK) {
                return st;
            }
            continue;
        }
        json_decref(doc);
    }
    return CS_OK;
}

static bool parent_done(cs_records_consumer *c, const char *id)
{
    const struct shard *p;
    if (id[0] == '\0') {
        return true;
    }
    p = find(c, id);
    return p == NULL || p->done; /* a parent trimmed away counts as read */
}

/* A shard that may be read now: not finished, its parents finished. */
static bool ready(cs_records_consumer *c, const struct shard *s)
{
    return !s->done && parent_done(c, s->parent) && parent_done(c, s->adjacent);
}

/* Takes leases up to the fair share: ceil(ready shards / live workers). */
static cs_status balance(cs_records_consumer *c)
{
    const char *owners[64];
    size_t n_owners = 0, n_ready = 0, mine = 0, target;
    for (size_t i = 0; i < c->n_shards; i++) {
        struct shard *s = &c->shards[i];
        if (!ready(c, s)) {
            continue;
        }
        n_ready++;
        mine += s->mine;
        if (s->live && !s->mine && s->owner[0] && strcmp(s->owner, c->worker) != 0) {
            bool seen = false;
            for (size_t k = 0; k < n_owners; k++) {
                seen = seen || strcmp(owners[k], s->owner) == 0;
            }
            if (!seen && n_owners < sizeof(owners) / sizeof(owners[0])) {
                owners[n_owners++] = s->owner;
            }
        }
    }
    target = (n_ready + n_owners) / (n_owners + 1); /* ceil(n_ready / workers) */
    if (c->cfg.max_leases > 0 && target > c->cfg.max_leases) {
        target = c->cfg.max_leases;
    }
    for (size_t i = 0; i < c->n_shards && mine < target; i++) {
        struct shard *s = &c->shards[i];
        /* free, expired, or held under this worker's id by an earlier run of it */
        if (ready(c, s) && !s->mine && (!s->live || strcmp(s->owner, c->worker) == 0)) {
            cs_status st = acquire(c, s, false);
            if (st == CS_OK) {
                mine++;
            } else if (st != CS_E_EXISTS && st != CS_E_NOTFOUND) {
                return st;
            }
        }
    }
    if (mine < target) {
        /* none free: ask the busiest worker over its share for one (it hands over at renewal) */
        const char *busiest = NULL;
        size_t most = 0;
        for (size_t k = 0; k < n_owners; k++) {
            size_t cnt = 0;
            for (size_t i = 0; i < c->n_shards; i++) {
                cnt += ready(c, &c->shards[i]) && c->shards[i].live &&
                       strcmp(c->shards[i].owner, owners[k]) == 0;
            }
            if (cnt > most) {
                most = cnt;
                busiest = owners[k];
            }
        }
        if (busiest != NULL && most > target) {
            for (size_t i = 0; i < c->n_shards; i++) {
                struct shard *s = &c->shards[i];
                if (ready(c, s) && s->live && !s->mine && strcmp(s->owner, busiest) == 0) {
                    cs_status st = acquire(c, s, !s->transfer_asked);
                    if (st != CS_OK && st != CS_E_EXISTS && st != CS_E_NOTFOUND) {
                        return st;
                    }
                    break;
                }
            }
        }
    }
    return CS_OK;
}

static cs_status refresh(cs_records_consumer *c)
{
    json_t *doc = NULL;
    cs_status st;
    if (c->app != NULL) {
        st = call(c, CAM "ListLeases",
                  json_pack("{s:s,s:s}", "StreamName", c->stream, "ApplicationName", c->app), &doc);
        if (st == CS_OK) {
            st = merge_view(c, json_object_get(doc, "Leases"));
        }
    } else {
        st = call(c, KDS "ListShards",
                  json_pack("{s:s,s:i}", "StreamName", c->stream, "MaxResults", 10000), &doc);
        if (st == CS_OK) {
            st = merge_view(c, json_object_get(doc, "Shards"));
        }
        for (size_t i = 0; st == CS_OK && i < c->n_shards; i++) {
            struct shard *s = &c->shards[i];
            if (!s->mine && !s->done && ready(c, s)) {
                s->mine = true; /* no leases: every shard is this consumer's */
                event(c, CS_RECORDS_LEASE_TAKEN, s->id);
            }
        }
    }
    json_decref(doc);
    return st;
}

static cs_status round_leases(cs_records_consumer *c)
{
    cs_status st = refresh(c);
    if (st == CS_OK && c->app != NULL) {
        st = renew_all(c);
        if (st == CS_OK) {
            st = balance(c);
        }
    }
    return st;
}

static cs_status get_iterator(cs_records_consumer *c, struct shard *s)
{
    json_t *req, *doc = NULL;
    cs_status st;
    if (s->position[0]) {
        req = json_pack("{s:s,s:s,s:s,s:s}", "StreamName", c->stream, "ShardId", s->id,
                        "ShardIteratorType", "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber",
                        s->position);
    } else {
        req = json_pack("{s:s,s:s,s:s}", "StreamName", c->stream, "ShardId", s->id,
                        "ShardIteratorType",
                        c->cfg.start == CS_RECORDS_LATEST ? "LATEST" : "TRIM_HORIZON");
    }
    if (req == NULL) {
        return CS_E_NOMEM;
    }
    st = call(c, KDS "GetShardIterator", req, &doc);
    if (st == CS_OK) {
        copy_str(s->iterator, sizeof(s->iterator), json_object_get(doc, "ShardIterator"));
        if (s->iterator[0] == '\0') {
            st = CS_E_MALFORMED;
        }
    }
    json_decref(doc);
    return st;
}

/* Marks `s` read to its end: checkpoint SHARD_END and hand the lease back (app mode). */
static cs_status shard_end(cs_records_consumer *c, struct shard *s)
{
    json_t *doc = NULL;
    cs_status st = CS_OK;
    if (c->app != NULL) {
        st = lease_op(c, s, "Checkpoint", SHARD_END, &doc);
        json_decref(doc);
        if (st == CS_E_STATE) {
            drop(c, s, CS_RECORDS_LEASE_LOST);
            return CS_OK;
        }
        if (st != CS_OK) {
            return st;
        }
    }
    s->done = true;
    s->iterator[0] = '\0';
    event(c, CS_RECORDS_SHARD_END, s->id);
    if (c->app != NULL) {
        st = release(c, s);
        c->next_balance_ns = 0; /* the children may be ready: look now */
    } else {
        s->mine = false;
        c->next_balance_ns = 0;
    }
    return st;
}

/* One GetRecords on `s`, the callback, the checkpoint. */
static cs_status read_shard(cs_records_consumer *c, struct shard *s, bool *got)
{
    json_t *req, *doc = NULL, *recs;
    cs_record *v = NULL;
    uint8_t *data = NULL;
    size_t n, total = 0, off = 0;
    const char *next;
    cs_status st;
    char last[SEQ_LEN];
    if (s->iterator[0] == '\0') {
        st = get_iterator(c, s);
        if (st != CS_OK) {
            return st;
        }
    }
    req = json_pack("{s:s,s:i}", "ShardIterator", s->iterator, "Limit",
                    (json_int_t)c->cfg.max_records);
    if (req == NULL) {
        return CS_E_NOMEM;
    }
    st = call(c, KDS "GetRecords", req, &doc);
    if (st == CS_E_TIMEOUT) {
        s->iterator[0] = '\0'; /* expired: a new one from the position next time */
        return CS_OK;
    }
    if (st != CS_OK) {
        return st;
    }
    recs = json_object_get(doc, "Records");
    n = json_array_size(recs);
    for (size_t i = 0; i < n; i++) {
        total += json_string_length(json_object_get(json_array_get(recs, i), "Data"));
    }
    if (n > 0) {
        v = calloc(n, sizeof(*v));
        data = malloc(total / 4 * 3 + 4);
        if (v == NULL || data == NULL) {
            st = CS_E_NOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(recs, i);
        json_t *d = json_object_get(r, "Data");
        size_t len = 0;
        v[i].sequence_number = json_string_value(json_object_get(r, "SequenceNumber"));
        v[i].partition_key = json_string_value(json_object_get(r, "PartitionKey"));
        v[i].arrival_ms =
            (uint64_t)(json_number_value(json_object_get(r, "ApproximateArrivalTimestamp")) *
                           1000.0 +
                       0.5);
        if (v[i].sequence_number == NULL || v[i].partition_key == NULL ||
            cs_records_base64_decode(json_string_value(d), json_string_length(d), data + off,
                                     total / 4 * 3 + 4 - off, &len) != CS_OK) {
            set_error(c, "GetRecords on %s: a malformed record", s->id);
            st = CS_E_MALFORMED;
            goto out;
        }
        v[i].data = data + off;
        v[i].len = len;
        off += len;
    }
    if (n > 0) {
        if (c->app != NULL && mono_ns() >= s->expiry_ns) {
            /* the lease may be gone: do not process; renewal decides */
            s->iterator[0] = '\0';
            goto out;
        }
        st = c->cfg.process(c->cfg.user, s->id, v, n);
        if (st != CS_OK) {
            set_error(c, "the process callback refused a batch of %s: %s", s->id,
                      cs_status_str(st));
            s->iterator[0] = '\0'; /* read again from the last checkpoint */
            goto out;
        }
        *got = true;
        snprintf(last, sizeof(last), "%s", v[n - 1].sequence_number);
        if (c->app != NULL) {
            json_t *cd = NULL;
            st = lease_op(c, s, "Checkpoint", last, &cd);
            json_decref(cd);
            if (st == CS_E_STATE) {
                drop(c, s, CS_RECORDS_LEASE_LOST);
                st = CS_OK;
                goto out;
            }
            if (st != CS_OK) {
                s->iterator[0] = '\0';
                goto out;
            }
        }
        snprintf(s->position, sizeof(s->position), "%s", last);
    }
    next = json_string_value(json_object_get(doc, "NextShardIterator"));
    if (next == NULL) {
        st = shard_end(c, s);
    } else {
        snprintf(s->iterator, sizeof(s->iterator), "%s", next);
    }
out:
    free(v);
    free(data);
    json_decref(doc);
    return st;
}

cs_status cs_records_consumer_poll(cs_records_consumer *c, bool *idle)
{
    bool got = false;
    uint64_t now = mono_ns();
    cs_status st = CS_OK;
    if (c == NULL) {
        return CS_E_INVAL;
    }
    c->error[0] = '\0';
    if (now >= c->next_balance_ns) {
        st = round_leases(c);
        if (st != CS_OK && st != CS_AGAIN) {
            if (idle != NULL) {
                *idle = true;
            }
            return st;
        }
        c->next_balance_ns = now + (uint64_t)c->cfg.lease_ms * 1000000u / 3u;
    }
    for (size_t i = 0; i < c->n_shards; i++) {
        struct shard *s = &c->shards[i];
        if (!s->mine || s->done) {
            continue;
        }
        if (c->app != NULL && mono_ns() >= c->next_balance_ns) {
            break; /* renewals are due (slow callbacks): the next poll renews first */
        }
        st = read_shard(c, s, &got);
        if (st == CS_AGAIN) {
            st = CS_OK; /* throttled: next round */
        }
        if (st != CS_OK) {
            break;
        }
    }
    if (idle != NULL) {
        *idle = !got;
    }
    return st;
}

cs_status cs_records_consumer_run(cs_records_consumer *c, const volatile sig_atomic_t *stop)
{
    if (c == NULL || stop == NULL) {
        return CS_E_INVAL;
    }
    while (!*stop) {
        bool idle = true;
        cs_status st = cs_records_consumer_poll(c, &idle);
        if (st != CS_OK && st != CS_E_NET) {
            return st;
        }
        if (idle || st == CS_E_NET) {
            uint64_t until = mono_ns() + (uint64_t)c->cfg.idle_ms * 1000000u;
            while (!*stop && mono_ns() < until) {
                cs_clock_sleep_ns(NULL, 20000000u);
            }
        }
    }
    return CS_OK;
}

void cs_records_consumer_destroy(cs_records_consumer **cp)
{
    cs_records_consumer *c;
    if (cp == NULL || *cp == NULL) {
        return;
    }
    c = *cp;
    for (size_t i = 0; c->app != NULL && c->easy != NULL && i < c->n_shards; i++) {
        if (c->shards[i].mine) {
            release(c, &c->shards[i]);
        }
    }
    free_easy(&c->easy);
    cs_sigv4_key_cache_clear(&c->keys);
    free(c->shards);
    free(c->endpoint);
    free(c->region);
    free(c->stream);
    free(c->app);
    free(c->worker);
    memset(c->secret_key, 0, sizeof(c->secret_key));
    free(c);
    *cp = NULL;
}
