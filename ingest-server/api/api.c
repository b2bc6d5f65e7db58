/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The KVS control-plane handlers: request plumbing on the HTTP loop (body collection, SigV4
 * verification, hand-off to the worker pool and back), the per-operation validation that mirrors
 * the service's API model (lengths, patterns, ranges, enums), the index calls, and the
 * service's error format. See api.h for the threading rules.
 */
#define _POSIX_C_SOURCE 200809L
#include "api.h"

#include <inttypes.h>
#include <jansson.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "kds_sub.h"
#include "metrics.h"
#include "live.h"
#include "putmedia.h"
#include "camstream/auth.h"

#define MOD "api"

struct op;

struct op_route {
    cs_api *api;
    const struct op *op;
};

enum { RX_NAME, RX_ARN, RX_MEDIA, RX_VERSION, RX_TOKEN, RX_COUNT };

struct cs_api {
    cs_index *index;
    cs_http_server *srv;
    bool require_auth;
    cs_api_credential *creds;
    size_t n_creds;
    char *region;
    char *public_url;
    const cs_clock *clock;
    const cs_logger *logger;
    cs_sigv4_key_cache key_cache; /* loop thread only */
    regex_t rx[RX_COUNT];
    bool rx_ok;
    struct op_route *routes;
    struct csi_api_media media;    /* getmedia.c's settings */
    struct csi_putmedia *putmedia; /* putmedia.c */
    bool auto_create;
    struct csi_kds_store *kds_store; /* record streams, or NULL */
};

/* One request in flight. Owned by the stream (data) until submitted; then by the job until done.
 */
struct req {
    struct csi_api_body body; /* first: request.c finds it */
    cs_api *api;
    const struct op *op;
    cs_http_stream *s;
    bool in_flight;
    bool closed;
    char base_url[320];
    const cs_api_credential *key; /* who signed it (NULL: auth is off): its rights apply */
    /* The result, filled by the worker. */
    int status;
    const char *error_type;
    char message[512];
    char *out; /* JSON body */
};

typedef void (*op_fn)(struct req *r, json_t *in, json_t **out);

struct op {
    const char *path;
    op_fn fn;
    unsigned rights; /* any of these on the named stream(s) allows the call; 0: listStreams */
};

/* ---------------------------------------------------------------------------------------------- */
/* Results                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

static void fail(struct req *r, int status, const char *type, const char *fmt, ...) CS_PRINTF(4, 5);

static void fail(struct req *r, int status, const char *type, const char *fmt, ...)
{
    va_list ap;
    r->status = status;
    r->error_type = type;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
}

#define E_ARG "InvalidArgumentException"
#define E_NOTFOUND "ResourceNotFoundException"
#define E_NOT_AUTHORIZED "NotAuthorizedException"
#define E_DENIED "AccessDeniedException"

static void fail_arg(struct req *r, const char *fmt, ...) CS_PRINTF(2, 3);

static void fail_arg(struct req *r, const char *fmt, ...)
{
    va_list ap;
    r->status = 400;
    r->error_type = E_ARG;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
}

/* Maps an index status to the service's error, naming the stream where it helps. */
static void fail_index(struct req *r, cs_status st, const char *what)
{
    switch (st) {
    case CS_E_NOTFOUND:
        fail(r, 404, E_NOTFOUND, "The requested stream is not found or not active.");
        break;
    case CS_E_EXISTS:
        fail(r, 400, "ResourceInUseException", "The stream %s already exists.", what);
        break;
    case CS_E_STATE:
        fail(r, 400, "VersionMismatchException",
             "The CurrentVersion does not match the stream's version.");
        break;
    case CS_E_LIMIT:
        fail(r, 400, "TagsPerResourceExceededLimitException", "A stream can have at most %d tags.",
             CS_INDEX_MAX_TAGS);
        break;
    case CS_E_RANGE:
        fail_arg(r, "The resulting DataRetentionInHours must be between 0 and %d.",
                 CS_INDEX_MAX_RETENTION_HOURS);
        break;
    case CS_E_INVAL:
        fail_arg(r, "StreamName and StreamARN do not identify the same stream.");
        break;
    default:
        fail(r, 500, "InternalFailure", "The index failed: %s.", cs_status_str(st));
        break;
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* Validation (the constraints of the KVS API model)                                             */
/* ---------------------------------------------------------------------------------------------- */

static bool rx_match(const cs_api *api, int which, const char *s)
{
    return regexec(&api->rx[which], s, 0, NULL, 0) == 0;
}

/* An optional string member. false (and the request failed) when present but invalid. */
static bool get_str(struct req *r, json_t *in, const char *key, size_t min, size_t max, int rx,
                    bool required, const char **out)
{
    json_t *v = json_object_get(in, key);
    const char *s;
    size_t len;
    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        if (required) {
            fail_arg(r, "%s is required.", key);
            return false;
        }
        return true;
    }
    if (!json_is_string(v)) {
        fail_arg(r, "%s must be a string.", key);
        return false;
    }
    s = json_string_value(v);
    len = json_string_length(v);
    if (len != strlen(s)) {
        fail_arg(r, "%s must not contain NUL characters.", key);
        return false;
    }
    if (len < min || len > max) {
        fail_arg(r,
                 "1 validation error detected: Value at '%s' failed to satisfy constraint: "
                 "Member must have length between %zu and %zu",
                 key, min, max);
        return false;
    }
    if (rx >= 0 && !rx_match(r->api, rx, s)) {
        fail_arg(r,
                 "1 validation error detected: Value '%.200s' at '%s' failed to satisfy "
                 "constraint: Member must satisfy the regular expression pattern",
                 s, key);
        return false;
    }
    *out = s;
    return true;
}

static bool get_int(struct req *r, json_t *in, const char *key, json_int_t min, json_int_t max,
                    bool required, bool *present, json_int_t *out)
{
    json_t *v = json_object_get(in, key);
    *present = false;
    if (v == NULL || json_is_null(v)) {
        if (required) {
            fail_arg(r, "%s is required.", key);
            return false;
        }
        return true;
    }
    if (!json_is_integer(v)) {
        fail_arg(r, "%s must be an integer.", key);
        return false;
    }
    *out = json_integer_value(v);
    if (*out < min || *out > max) {
        fail_arg(r,
                 "1 validation error detected: Value '%" JSON_INTEGER_FORMAT
                 "' at '%s' failed to satisfy constraint: Member must have value between "
                 "%" JSON_INTEGER_FORMAT " and %" JSON_INTEGER_FORMAT,
                 *out, key, min, max);
        return false;
    }
    *present = true;
    return true;
}

/* StreamName and/or StreamARN; at least one. */
static bool get_stream_ref(struct req *r, json_t *in, const char **name, const char **arn)
{
    if (!get_str(r, in, "StreamName", 1, 256, RX_NAME, false, name) ||
        !get_str(r, in, "StreamARN", 1, 1024, RX_ARN, false, arn)) {
        return false;
    }
    if (*name == NULL && *arn == NULL) {
        fail_arg(r, "Either StreamName or StreamARN must be specified.");
        return false;
    }
    return true;
}

/* A Tags map (1..50 entries, keys 1..128 and values 0..256 characters). */
static bool get_tags(struct req *r, json_t *in, bool required, cs_index_tag *tags, size_t *n)
{
    json_t *m = json_object_get(in, "Tags");
    const char *key;
    json_t *value;
    *n = 0;
    if (m == NULL || json_is_null(m)) {
        if (required) {
            fail_arg(r, "Tags is required.");
            return false;
        }
        return true;
    }
    if (!json_is_object(m)) {
        fail_arg(r, "Tags must be a map of strings.");
        return false;
    }
    if (json_object_size(m) < 1 || json_object_size(m) > CS_INDEX_MAX_TAGS) {
        fail_arg(r, "Tags must have between 1 and %d entries.", CS_INDEX_MAX_TAGS);
        return false;
    }
    json_object_foreach(m, key, value)
    {
        size_t kl = strlen(key);
        if (!json_is_string(value)) {
            fail_arg(r, "The value of tag '%.128s' must be a string.", key);
            return false;
        }
        if (kl < 1 || kl >= CS_INDEX_TAG_KEY_SIZE ||
            json_string_length(value) >= CS_INDEX_TAG_VALUE_SIZE ||
            json_string_length(value) != strlen(json_string_value(value))) {
            fail_arg(r, "Tag keys must be 1 to 128 characters and values 0 to 256 characters.");
            return false;
        }
        snprintf(tags[*n].key, sizeof(tags[0].key), "%s", key);
        snprintf(tags[*n].value, sizeof(tags[0].value), "%s", json_string_value(value));
        (*n)++;
    }
    return true;
}

/* ---------------------------------------------------------------------------------------------- */
/* Tokens: base64 of the last name listed, so they match the model's [a-zA-Z0-9+/=]*             */
/* ---------------------------------------------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void token_encode(const char *in, char *out, size_t cap)
{
    size_t len = strlen(in);
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 <= cap; i += 3) {
        uint32_t v = (uint32_t)(uint8_t)in[i] << 16;
        size_t rem = len - i;
        if (rem > 1) {
            v |= (uint32_t)(uint8_t)in[i + 1] << 8;
        }
        if (rem > 2) {
            v |= (uint8_t)in[i + 2];
        }
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = rem > 1 ? b64[(v >> 6) & 63] : '=';
        out[o++] = rem > 2 ? b64[v & 63] : '=';
    }
    out[o] = '\0';
}

static bool token_decode(const char *in, char *out, size_t cap)
{
    size_t len = strlen(in);
    size_t o = 0;
    if (len % 4 != 0) {
        return false;
    }
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (size_t j = 0; j < 4; j++) {
            const char *p = in[i + j] == '=' ? NULL : strchr(b64, in[i + j]);
            if (in[i + j] == '=' && i + 4 == len && j >= 2) {
                pad++;
            } else if (p == NULL || in[i + j] == '\0' || pad > 0) {
                return false;
            }
            v = (v << 6) | (p ? (uint32_t)(p - b64) : 0);
        }
        for (int k = 0; k < 3 - pad; k++) {
            if (o + 1 >= cap) {
                return false;
            }
            out[o++] = (char)((v >> (16 - 8 * k)) & 0xff);
        }
    }
    out[o] = '\0';
    return true;
}

/* ---------------------------------------------------------------------------------------------- */
/* Operations (worker threads)                                                                    */
/* ---------------------------------------------------------------------------------------------- */

static json_t *stream_info(const cs_index_stream *st)
{
    json_t *o = json_object();
    if (o == NULL) {
        return NULL;
    }
    if (st->device_name[0]) {
        json_object_set_new(o, "DeviceName", json_string(st->device_name));
    }
    json_object_set_new(o, "StreamName", json_string(st->name));
    json_object_set_new(o, "StreamARN", json_string(st->arn));
    if (st->media_type[0]) {
        json_object_set_new(o, "MediaType", json_string(st->media_type));
    }
    if (st->kms_key_id[0]) {
        json_object_set_new(o, "KmsKeyId", json_string(st->kms_key_id));
    }
    json_object_set_new(o, "Version", json_string(st->version));
    json_object_set_new(o, "Status", json_string(cs_index_status_str(st->status)));
    json_object_set_new(o, "CreationTime", json_real((double)st->creation_ms / 1000.0));
    json_object_set_new(o, "DataRetentionInHours", json_integer(st->retention_hours));
    return o;
}

static void op_create(struct req *r, json_t *in, json_t **out)
{
    cs_index_stream st;
    cs_index_tag tags[CS_INDEX_MAX_TAGS];
    size_t n_tags = 0;
    const char *name, *device, *media, *kms;
    json_int_t retention = 0;
    bool has_retention;
    cs_status s;
    if (!get_str(r, in, "StreamName", 1, 256, RX_NAME, true, &name) ||
        !get_str(r, in, "DeviceName", 1, 128, RX_NAME, false, &device) ||
        !get_str(r, in, "MediaType", 1, 128, RX_MEDIA, false, &media) ||
        !get_str(r, in, "KmsKeyId", 1, 2048, -1, false, &kms) ||
        !get_int(r, in, "DataRetentionInHours", 0, CS_INDEX_MAX_RETENTION_HOURS, false,
                 &has_retention, &retention) ||
        !get_tags(r, in, false, tags, &n_tags)) {
        return;
    }
    cs_index_stream_init(&st);
    snprintf(st.name, sizeof(st.name), "%s", name);
    snprintf(st.device_name, sizeof(st.device_name), "%s", device ? device : "");
    snprintf(st.media_type, sizeof(st.media_type), "%s", media ? media : "");
    if (kms) {
        snprintf(st.kms_key_id, sizeof(st.kms_key_id), "%s", kms);
    }
    st.retention_hours = (uint32_t)retention;
    s = cs_index_stream_create(r->api->index, &st, tags, n_tags);
    if (s != CS_OK) {
        fail_index(r, s, name);
        return;
    }
    *out = json_pack("{s:s}", "StreamARN", st.arn);
}

static void op_describe(struct req *r, json_t *in, json_t **out)
{
    const char *name, *arn;
    cs_index_stream st;
    cs_status s;
    if (!get_stream_ref(r, in, &name, &arn)) {
        return;
    }
    s = cs_index_stream_get(r->api->index, name, arn, &st);
    if (s != CS_OK) {
        fail_index(r, s, name ? name : arn);
        return;
    }
    *out = json_pack("{s:o}", "StreamInfo", stream_info(&st));
}

struct list_ctx {
    json_t *list;
    const cs_api_credential *key;
};

static cs_status list_one(void *ctx, const cs_index_stream *st)
{
    struct list_ctx *lc = ctx;
    json_t *info;
    if (!csi_api_key_allows(lc->key, CS_API_READ | CS_API_WRITE, st->name)) {
        return CS_OK; /* a key sees only the streams it may use */
    }
    info = stream_info(st);
    return info && json_array_append_new(lc->list, info) == 0 ? CS_OK : CS_E_NOMEM;
}

static void op_list(struct req *r, json_t *in, json_t **out)
{
    json_int_t max = 10000;
    bool has_max;
    const char *token, *prefix = NULL;
    char after[CS_INDEX_NAME_SIZE] = "";
    char next[CS_INDEX_NAME_SIZE];
    char next_token[CS_INDEX_TOKEN_SIZE];
    json_t *cond = json_object_get(in, "StreamNameCondition");
    json_t *list;
    cs_status s;
    if (!get_int(r, in, "MaxResults", 1, 10000, false, &has_max, &max) ||
        !get_str(r, in, "NextToken", 0, 512, RX_TOKEN, false, &token)) {
        return;
    }
    if (token && token[0] && !token_decode(token, after, sizeof(after))) {
        fail_arg(r, "NextToken is not valid.");
        return;
    }
    if (cond && !json_is_null(cond)) {
        const char *op;
        if (!json_is_object(cond)) {
            fail_arg(r, "StreamNameCondition must be an object.");
            return;
        }
        if (!get_str(r, cond, "ComparisonOperator", 1, 64, -1, false, &op) ||
            !get_str(r, cond, "ComparisonValue", 1, 256, RX_NAME, false, &prefix)) {
            return;
        }
        if (op && strcmp(op, "BEGINS_WITH") != 0) {
            fail_arg(r, "ComparisonOperator must be BEGINS_WITH.");
            return;
        }
    }
    list = json_array();
    if (list == NULL) {
        fail(r, 500, "InternalFailure", "Out of memory.");
        return;
    }
    s = cs_index_stream_list(r->api->index, prefix, after, (uint32_t)max, list_one,
                             &(struct list_ctx){list, r->key}, next);
    if (s != CS_OK) {
        json_decref(list);
        fail_index(r, s, "");
        return;
    }
    *out = json_pack("{s:o}", "StreamInfoList", list);
    if (*out && next[0]) {
        token_encode(next, next_token, sizeof(next_token));
        json_object_set_new(*out, "NextToken", json_string(next_token));
    }
}

static void op_delete(struct req *r, json_t *in, json_t **out)
{
    const char *arn, *version;
    cs_status s;
    if (!get_str(r, in, "StreamARN", 1, 1024, RX_ARN, true, &arn) ||
        !get_str(r, in, "CurrentVersion", 1, 64, RX_VERSION, false, &version)) {
        return;
    }
    s = cs_index_stream_delete(r->api->index, NULL, arn, version);
    if (s != CS_OK) {
        fail_index(r, s, arn);
        return;
    }
    *out = json_object();
}

static void op_retention(struct req *r, json_t *in, json_t **out)
{
    const char *name, *arn, *version, *op;
    json_int_t change = 0;
    bool has_change;
    cs_status s;
    if (!get_stream_ref(r, in, &name, &arn) ||
        !get_str(r, in, "CurrentVersion", 1, 64, RX_VERSION, true, &version) ||
        !get_str(r, in, "Operation", 1, 64, -1, true, &op) ||
        !get_int(r, in, "DataRetentionChangeInHours", 1, INT32_MAX, true, &has_change, &change)) {
        return;
    }
    if (strcmp(op, "DECREASE_DATA_RETENTION") == 0) {
        change = -change;
    } else if (strcmp(op, "INCREASE_DATA_RETENTION") != 0) {
        fail_arg(r, "Operation must be INCREASE_DATA_RETENTION or DECREASE_DATA_RETENTION.");
        return;
    }
    s = cs_index_stream_update_retention(r->api->index, name, arn, version, change);
    if (s != CS_OK) {
        fail_index(r, s, name ? name : arn);
        return;
    }
    *out = json_object();
}

static void op_endpoint(struct req *r, json_t *in, json_t **out)
{
    static const char *const apis[] = {
        "PUT_MEDIA",
        "GET_MEDIA",
        "LIST_FRAGMENTS",
        "GET_MEDIA_FOR_FRAGMENT_LIST",
        "GET_HLS_STREAMING_SESSION_URL",
        "GET_DASH_STREAMING_SESSION_URL",
        "GET_CLIP",
        "GET_IMAGES",
    };
    const char *name, *arn, *api_name;
    cs_index_stream st;
    bool known = false;
    cs_status s;
    if (!get_stream_ref(r, in, &name, &arn) ||
        !get_str(r, in, "APIName", 1, 64, -1, true, &api_name)) {
        return;
    }
    for (size_t i = 0; i < sizeof(apis) / sizeof(apis[0]); i++) {
        known = known || strcmp(api_name, apis[i]) == 0;
    }
    if (!known) {
        fail_arg(r, "APIName '%.64s' is not supported.", api_name);
        return;
    }
    s = cs_index_stream_get(r->api->index, name, arn, &st);
    if (s != CS_OK) {
        fail_index(r, s, name ? name : arn);
        return;
    }
    *out = json_pack("{s:s}", "DataEndpoint", r->base_url);
}

static void op_tag(struct req *r, json_t *in, json_t **out)
{
    const char *name, *arn;
    cs_index_tag tags[CS_INDEX_MAX_TAGS];
    size_t n = 0;
    cs_status s;
    if (!get_stream_ref(r, in, &name, &arn) || !get_tags(r, in, true, tags, &n)) {
        return;
    }
    s = cs_index_stream_tag(r->api->index, name, arn, tags, n);
    if (s != CS_OK) {
        fail_index(r, s, name ? name : arn);
        return;
    }
    *out = json_object();
}

static void op_untag(struct req *r, json_t *in, json_t **out)
{
    const char *name, *arn;
    const char *keys[CS_INDEX_MAX_TAGS];
    json_t *list = json_object_get(in, "TagKeyList");
    size_t n;
    cs_status s;
    if (!get_stream_ref(r, in, &name, &arn)) {
        return;
    }
    if (!json_is_array(list) || json_array_size(list) < 1 ||
        json_array_size(list) > CS_INDEX_MAX_TAGS) {
        fail_arg(r, "TagKeyList must be a list of 1 to %d tag keys.", CS_INDEX_MAX_TAGS);
        return;
    }
    n = json_array_size(list);
    for (size_t i = 0; i < n; i++) {
        json_t *k = json_array_get(list, i);
        if (!json_is_string(k) || json_string_length(k) < 1 ||
            json_string_length(k) >= CS_INDEX_TAG_KEY_SIZE) {
            fail_arg(r, "Tag keys must be strings of 1 to 128 characters.");
            return;
        }
        keys[i] = json_string_value(k);
    }
    s = cs_index_stream_untag(r->api->index, name, arn, keys, n);
    if (s != CS_OK) {
        fail_index(r, s, name ? name : arn);
        return;
    }
    *out = json_object();
}

static void op_list_tags(struct req *r, json_t *in, json_t **out)
{
    const char *name, *arn, *token;
    cs_index_tag tags[CS_INDEX_MAX_TAGS];
    size_t n = 0;
    json_t *m;
    cs_status s;
    if (!get_stream_ref(r, in, &name, &arn) ||
        !get_str(r, in, "NextToken", 0, 512, RX_TOKEN, false, &token)) {
        return;
    }
    s = cs_index_stream_tags(r->api->index, name, arn, tags, &n);
    if (s != CS_OK) {
        fail_index(r, s, name ? name : arn);
        return;
    }
    /* At most 50 tags: always one page, so no NextToken. */
    m = json_object();
    for (size_t i = 0; m && i < n; i++) {
        json_object_set_new(m, tags[i].key, json_string(tags[i].value));
    }
    *out = json_pack("{s:o}", "Tags", m);
}

#define RW (CS_API_READ | CS_API_WRITE)
static const struct op ops[] = {
    {"/createStream", op_create, CS_API_WRITE},
    {"/describeStream", op_describe, RW}, /* producers describe the stream they write */
    {"/listStreams", op_list, 0},         /* filtered by list_one() */
    {"/deleteStream", op_delete, CS_API_WRITE},
    {"/updateDataRetention", op_retention, CS_API_WRITE},
    {"/getDataEndpoint", op_endpoint, RW},
    {"/tagStream", op_tag, CS_API_WRITE},
    {"/untagStream", op_untag, CS_API_WRITE},
    {"/listTagsForStream", op_list_tags, CS_API_READ},
};
#undef RW
#define N_OPS (sizeof(ops) / sizeof(ops[0]))

/* ---------------------------------------------------------------------------------------------- */
/* Plumbing                                                                                       */
/* ---------------------------------------------------------------------------------------------- */

static void req_free(struct req *r)
{
    if (r == NULL) {
        return;
    }
    csi_api_body_free(&r->body);
    free(r->out);
    free(r);
}

void csi_api_respond(cs_http_stream *s, int status, const char *error_type, const char *text)
{
    cs_http_header h[3];
    size_t n = 0;
    uint8_t rid[16];
    char rid_hex[33];
    char *enc = NULL;
    const char *out = text != NULL ? text : "{}";

    if (cs_entropy_fill(rid, sizeof(rid)) != CS_OK) {
        memset(rid, 0, sizeof(rid));
    }
    cs_hex_encode(rid, sizeof(rid), rid_hex, sizeof(rid_hex), NULL);
    h[n++] = (cs_http_header){"content-type", "application/json"};
    h[n++] = (cs_http_header){"x-amzn-RequestId", rid_hex};
    if (error_type != NULL) {
        /* Messages may quote client input (names, the signature checker's text): encode. */
        json_t *e = json_pack("{s:s}", "Message", text != NULL ? text : "");
        enc = e != NULL ? json_dumps(e, JSON_COMPACT) : NULL;
        json_decref(e);
        out = enc != NULL ? enc : "{\"Message\":\"\"}";
        h[n++] = (cs_http_header){"x-amzn-ErrorType", error_type};
        cs_metrics_error(cs_metrics_default(), error_type);
    }
    if (cs_http_stream_respond(s, status, h, n, (int64_t)strlen(out)) == CS_OK) {
        cs_http_stream_write(s, out, strlen(out));
        cs_http_stream_finish(s);
    }
    free(enc);
}

static void respond(struct req *r)
{
    if (r->error_type != NULL) {
        csi_api_respond(r->s, r->status, r->error_type, r->message);
    } else {
        csi_api_respond(r->s, r->status, NULL, r->out);
    }
}

static bool rights_ok(const cs_api *api, const cs_api_credential *key, unsigned rights,
                      const char *op, json_t *in, int *status, const char **error_type,
                      char *message, size_t cap);

static void job(void *arg)
{
    struct req *r = arg;
    json_t *in = NULL;
    json_t *out = NULL;
    json_error_t err;
    r->status = 200;
    if (r->body.len == 0) {
        in = json_object();
    } else {
        in = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &err);
        if (in == NULL) {
            fail(r, 400, "SerializationException", "The request body is not valid JSON: %s.",
                 err.text);
            return;
        }
    }
    if (!json_is_object(in)) {
        json_decref(in);
        fail(r, 400, "SerializationException", "The request body must be a JSON object.");
        return;
    }
    if (r->op->rights != 0 &&
        !rights_ok(r->api, r->key, r->op->rights, r->op->path + 1, in, &r->status, &r->error_type,
                   r->message, sizeof(r->message))) {
        json_decref(in);
        return;
    }
    r->op->fn(r, in, &out);
    json_decref(in);
    if (r->error_type == NULL) {
        r->out = out ? json_dumps(out, JSON_COMPACT) : NULL;
        if (r->out == NULL) {
            fail(r, 500, "InternalFailure", "Out of memory.");
        }
    }
    json_decref(out);
}

static void job_done(void *arg)
{
    struct req *r = arg;
    if (!r->closed && cs_http_stream_is_open(r->s)) {
        cs_http_stream_set_data(r->s, NULL);
        respond(r);
    }
    cs_http_stream_unref(r->s);
    req_free(r);
}

/* ---------------------------------------------------------------------------------------------- */
/* Authorization: which streams a key may read or write (docs/internals/API.md)                   */
/* ---------------------------------------------------------------------------------------------- */

bool csi_api_key_allows(const cs_api_credential *key, unsigned rights, const char *name)
{
    if (key == NULL || key->n_rules == 0) {
        return true;
    }
    for (size_t i = 0; i < key->n_rules; i++) {
        const cs_api_rule *rule = &key->rules[i];
        if ((rule->rights & rights) != 0 &&
            strncmp(name, rule->prefix, strlen(rule->prefix)) == 0) {
            return true;
        }
    }
    return false;
}

/* The stream name inside an ARN ("arn:...:stream/NAME/CREATION_MS"). false: no name in it. */
static bool arn_name(const char *arn, char *name, size_t cap)
{
    const char *end = strrchr(arn, '/');
    const char *start = end;
    size_t n;
    if (end == NULL) {
        return false;
    }
    while (start > arn && start[-1] != '/') {
        start--;
    }
    if (start == arn) {
        return false;
    }
    n = (size_t)(end - start);
    if (n == 0 || n >= cap) {
        return false;
    }
    memcpy(name, start, n);
    name[n] = '\0';
    return true;
}

static void deny(const cs_api_credential *key, const char *op, const char *stream, int *status,
                 const char **error_type, char *message, size_t cap)
{
    *status = 403;
    *error_type = E_DENIED;
    snprintf(message, cap, "The access key %s may not perform kinesisvideo:%c%s on %s%.256s.",
             key->access_key, op[0] >= 'a' && op[0] <= 'z' ? op[0] - 'a' + 'A' : op[0], op + 1,
             stream ? "stream " : "a request that names no stream", stream ? stream : "");
}

/* Checks the named stream(s) (StreamName and/or StreamARN, or the PutMedia headers' values)
 * against the key's rules: every stream named must be allowed, and a restricted key must name
 * one. `op` is the operation's name for the message. */
static bool names_ok(const cs_api_credential *key, unsigned rights, const char *op,
                     const char *name, const char *arn, int *status, const char **error_type,
                     char *message, size_t cap)
{
    char from_arn[CS_INDEX_NAME_SIZE];
    if (key == NULL || key->n_rules == 0) {
        return true;
    }
    if ((name == NULL || name[0] == '\0') && (arn == NULL || arn[0] == '\0')) {
        deny(key, op, NULL, status, error_type, message, cap);
        return false;
    }
    if (name != NULL && name[0] != '\0' && !csi_api_key_allows(key, rights, name)) {
        deny(key, op, name, status, error_type, message, cap);
        return false;
    }
    if (arn != NULL && arn[0] != '\0') {
        if (!arn_name(arn, from_arn, sizeof(from_arn))) {
            deny(key, op, NULL, status, error_type, message, cap);
            return false;
        }
        if (!csi_api_key_allows(key, rights, from_arn)) {
            deny(key, op, from_arn, status, error_type, message, cap);
            return false;
        }
    }
    return true;
}

/* The same for a parsed JSON request: StreamName/StreamARN members that are not strings count as
 * absent (the handler refuses them anyway). */
static bool rights_ok(const cs_api *api, const cs_api_credential *key, unsigned rights,
                      const char *op, json_t *in, int *status, const char **error_type,
                      char *message, size_t cap)
{
    (void)api;
    return names_ok(key, rights, op, json_string_value(json_object_get(in, "StreamName")),
                    json_string_value(json_object_get(in, "StreamARN")), status, error_type,
                    message, cap);
}

static const cs_api_credential *find_key(const cs_api *api, const char *ak)
{
    for (size_t i = 0; i < api->n_creds; i++) {
        if (strcmp(api->creds[i].access_key, ak) == 0) {
            return &api->creds[i];
        }
    }
    return NULL;
}

static cs_status secret_lookup(void *ctx, const char *ak, size_t ak_len, const char *token,
                               size_t token_len, char *secret, size_t cap, size_t *secret_len)
{
    const cs_api *api = ctx;
    (void)token;
    (void)token_len;
    for (size_t i = 0; i < api->n_creds; i++) {
        const cs_api_credential *c = &api->creds[i];
        if (strlen(c->access_key) == ak_len && memcmp(c->access_key, ak, ak_len) == 0) {
            size_t sl = strlen(c->secret_key);
            if (sl > cap) {
                return CS_E_NOSPACE;
            }
            memcpy(secret, c->secret_key, sl);
            *secret_len = sl;
            return CS_OK;
        }
    }
    return CS_E_NOTFOUND;
}

bool csi_api_verify(cs_api *api, cs_http_stream *s, const char *body, size_t len,
                    const char *service, const cs_api_credential **key, int *status,
                    const char **error_type, char *message, size_t cap)
{
    size_t n = cs_http_stream_header_count(s);
    cs_sigv4_header *hs = NULL;
    cs_sigv4_request sr;
    cs_sigv4_verify_config vc;
    cs_sigv4_verdict v;
    cs_status st;
    size_t k = 0;
    const char *query = cs_http_stream_query(s);
    *key = NULL;
    if (!api->require_auth) {
        return true;
    }
    hs = calloc(n ? n : 1, sizeof(*hs));
    if (hs == NULL) {
        *status = 500;
        *error_type = "InternalFailure";
        snprintf(message, cap, "Out of memory.");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        cs_http_header h;
        if (cs_http_stream_header_at(s, i, &h) == CS_OK) {
            hs[k++] = (cs_sigv4_header){h.name, strlen(h.name), h.value, strlen(h.value)};
        }
    }
    memset(&sr, 0, sizeof(sr));
    sr.method = cs_http_stream_method(s);
    sr.method_len = strlen(sr.method);
    sr.path = cs_http_stream_path(s);
    sr.path_len = strlen(sr.path);
    sr.query = query;
    sr.query_len = strlen(query);
    sr.headers = hs;
    sr.header_count = k;
    sr.body = len ? body : NULL;
    sr.body_len = len;
    cs_sigv4_verify_config_init(&vc);
    vc.service = service;
    vc.region = api->region;
    vc.lookup = secret_lookup;
    vc.lookup_ctx = api;
    vc.clock = api->clock;
    vc.cache = &api->key_cache;
    st = cs_sigv4_verify(&vc, &sr, &v);
    free(hs);
    if (st == CS_OK) {
        *key = find_key(api, v.access_key);
        if (*key != NULL) { /* always: the lookup just found it */
            return true;
        }
        st = CS_E_INTERNAL;
    }
    if (st == CS_E_AUTH) {
        /* The service's common auth layer would name the cause (InvalidSignatureException,
         * UnrecognizedClientException, ...); the API models' name is NotAuthorizedException
         * (401), which is what we send, with the cause in the message. */
        CS_LOG_INFO(api->logger, MOD, "%s refused: %s (%s)", sr.path, v.error_type, v.message);
        *status = 401;
        *error_type = E_NOT_AUTHORIZED;
        snprintf(message, cap, "%s (%s)", v.message, v.error_type);
    } else {
        *status = 500;
        *error_type = "InternalFailure";
        snprintf(message, cap, "Signature verification failed: %s.", cs_status_str(st));
    }
    return false;
}

cs_http_server *csi_api_server(cs_api *api)
{
    return api->srv;
}

const char *csi_api_region(cs_api *api)
{
    return api->region != NULL ? api->region : "us-west-2";
}

/* csi_api_body_end()'s refusal (loop thread): a bad signature, or no worker took the job. */
static void refuse(void *arg, int status, const char *type, const char *message)
{
    struct req *r = arg;
    fail(r, status, type, "%s", message);
    respond(r);
}

static const struct csi_api_handler handler = {.service = "kinesisvideo",
                                               .job = job,
                                               .done = job_done,
                                               .refuse = refuse,
                                               .busy_status = 400,
                                               .busy_type = "ClientLimitExceededException",
                                               .busy_message =
                                                   "The server is shutting down or busy."};

static void on_request(cs_http_stream *s, void *user)
{
    const struct op_route *rt = user;
    struct req *r = calloc(1, sizeof(*r));
    cs_metrics_request(cs_metrics_default(), rt->op->path);
    if (r == NULL) {
        cs_http_stream_respond_simple(s, 500, "application/json", "{}", 2);
        return;
    }
    r->api = rt->api;
    r->op = rt->op;
    r->s = s;
    cs_http_stream_set_data(s, r);
}

static void on_body_end(cs_http_stream *s, void *user)
{
    struct req *r = cs_http_stream_data(s);
    const char *host = cs_http_stream_header(s, "host");
    (void)user;
    if (r == NULL) {
        return;
    }
    /* What getDataEndpoint answers. */
    if (r->api->public_url) {
        snprintf(r->base_url, sizeof(r->base_url), "%s", r->api->public_url);
    } else {
        snprintf(r->base_url, sizeof(r->base_url), "%s://%s",
                 cs_http_stream_is_tls(s) ? "https" : "http", host ? host : "127.0.0.1");
    }
    csi_api_body_end(r->api, s, r, &handler, &r->key, &r->in_flight);
}

static void on_close(cs_http_stream *s, cs_status why, void *user)
{
    struct req *r = cs_http_stream_data(s);
    (void)why;
    (void)user;
    if (r != NULL && csi_api_detach(s, r->in_flight, &r->closed)) {
        req_free(r);
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* Life cycle                                                                                     */
/* ---------------------------------------------------------------------------------------------- */

void cs_api_config_init(cs_api_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->require_auth = true;
    cfg->getmedia_poll_ms = 1000;
}

cs_status cs_api_create(const cs_api_config *cfg, cs_api **out)
{
    static const char *const patterns[RX_COUNT] = {
        [RX_NAME] = "^[a-zA-Z0-9_.-]+$",
        [RX_ARN] = "^arn:[a-z0-9-]+:kinesisvideo:[a-z0-9-]+:[0-9]+:[a-z]+/[a-zA-Z0-9_.-]+/[0-9]+$",
        [RX_MEDIA] = "^[A-Za-z0-9_.+-]+/[A-Za-z0-9_.+-]+(,[A-Za-z0-9_.+-]+/[A-Za-z0-9_.+-]+)*$",
        [RX_VERSION] = "^[a-zA-Z0-9]+$",
        [RX_TOKEN] = "^[a-zA-Z0-9+/=]*$",
    };
    cs_api *api = NULL;
    cs_status st = CS_E_NOMEM;
    int compiled = 0;
    if (cfg == NULL || out == NULL || cfg->index == NULL ||
        (cfg->require_auth && (cfg->credentials == NULL || cfg->n_credentials == 0))) {
        return CS_E_INVAL;
    }
    api = calloc(1, sizeof(*api));
    if (api == NULL) {
        return CS_E_NOMEM;
    }
    api->index = cfg->index;
    api->require_auth = cfg->require_auth;
    api->clock = cfg->clock;
    api->logger = cfg->logger ? cfg->logger : cs_logger_default();
    api->auto_create = cfg->putmedia_auto_create;
    api->kds_store = cfg->kds_store;
    api->media =
        (struct csi_api_media){.index = cfg->index,
                               .store = cfg->store,
                               .logger = api->logger,
                               .clock = cfg->clock,
                               .max_ms = cfg->getmedia_max_ms,
                               .idle_ms = cfg->getmedia_idle_ms,
                               .poll_ms = cfg->getmedia_poll_ms ? cfg->getmedia_poll_ms : 1000};
    if (csi_live_create(cfg->clock, &api->media.live) != CS_OK) {
        goto out;
    }
    for (; compiled < RX_COUNT; compiled++) {
        if (regcomp(&api->rx[compiled], patterns[compiled], REG_EXTENDED | REG_NOSUB) != 0) {
            st = CS_E_INTERNAL;
            goto out;
        }
    }
    api->rx_ok = true;
    if ((cfg->region && (api->region = strdup(cfg->region)) == NULL) ||
        (cfg->public_url && (api->public_url = strdup(cfg->public_url)) == NULL)) {
        goto out;
    }
    if (cfg->require_auth) {
        api->creds = calloc(cfg->n_credentials, sizeof(*api->creds));
        if (api->creds == NULL) {
            goto out;
        }
        for (size_t i = 0; i < cfg->n_credentials; i++) {
            const cs_api_credential *c = &cfg->credentials[i];
            if (c->access_key == NULL || c->secret_key == NULL) {
                st = CS_E_INVAL;
                goto out;
            }
            api->creds[i].access_key = strdup(c->access_key);
            api->creds[i].secret_key = strdup(c->secret_key);
            api->n_creds = i + 1;
            if (api->creds[i].access_key == NULL || api->creds[i].secret_key == NULL) {
                goto out;
            }
            if (c->n_rules > 0) {
                cs_api_rule *rules;
                if (c->rules == NULL) {
                    st = CS_E_INVAL;
                    goto out;
                }
                rules = calloc(c->n_rules, sizeof(*rules));
                if (rules == NULL) {
                    goto out;
                }
                api->creds[i].rules = rules;
                for (size_t j = 0; j < c->n_rules; j++) {
                    rules[j].rights = c->rules[j].rights;
                    rules[j].prefix = strdup(c->rules[j].prefix ? c->rules[j].prefix : "");
                    api->creds[i].n_rules = j + 1;
                    if (rules[j].prefix == NULL) {
                        goto out;
                    }
                }
            }
        }
    }
    api->routes = calloc(N_OPS, sizeof(*api->routes));
    if (api->routes == NULL) {
        goto out;
    }
    *out = api;
    api = NULL;
    st = CS_OK;
out:
    if (api && !api->rx_ok) {
        for (int i = 0; i < compiled; i++) {
            regfree(&api->rx[i]);
        }
    }
    cs_api_destroy(&api);
    return st;
}

/* Housekeeping tick (loop thread): quiet live consumers re-read the index now and then. */
static void live_tick(void *arg)
{
    cs_api *api = arg;
    csi_live_tick(api->media.live, api->media.poll_ms);
}

cs_status cs_api_add_routes(cs_api *api, cs_http_server *srv)
{
    if (api == NULL || srv == NULL) {
        return CS_E_INVAL;
    }
    api->srv = srv;
    if (api->kds_store != NULL) {
        cs_status kst = csi_kds_add_routes(api, srv, api->kds_store);
        if (kst != CS_OK) {
            return kst;
        }
    }
    for (size_t i = 0; i < N_OPS; i++) {
        cs_http_route rt = {0};
        cs_status st;
        api->routes[i] = (struct op_route){api, &ops[i]};
        rt.method = "POST";
        rt.path = ops[i].path;
        rt.flags = CS_HTTP_ROUTE_BUFFERED;
        rt.on_request = on_request;
        rt.on_body = csi_api_on_body;
        rt.on_body_end = on_body_end;
        rt.on_close = on_close;
        rt.user = &api->routes[i];
        st = cs_http_server_add_route(srv, &rt);
        if (st != CS_OK) {
            return st;
        }
    }
    {
        struct csi_putmedia_config pc = {.api = api,
                                         .srv = srv,
                                         .index = api->index,
                                         .store = api->media.store,
                                         .logger = api->logger,
                                         .clock = api->clock,
                                         .auto_create = api->auto_create,
                                         .live = api->media.live};
        cs_status st = csi_putmedia_add_route(&pc, &api->putmedia);
        if (st == CS_OK) {
            st = cs_http_server_add_tick(srv, live_tick, api);
        }
        if (st != CS_OK) {
            return st;
        }
    }
    return csi_getmedia_add_routes(api, srv, &api->media);
}

void cs_api_drain(cs_api *api)
{
    csi_putmedia_drain(api->putmedia);
    csi_live_drain(api->media.live);
    if (api->kds_store != NULL) {
        csi_kds_sub_drain(); /* SubscribeToShard responses end (kds_subscribe.c) */
    }
}

size_t cs_api_active(const cs_api *api)
{
    int64_t consumers = cs_metrics_gauge(cs_metrics_default(), CS_M_CONSUMERS);
    return csi_putmedia_active(api->putmedia) + (consumers > 0 ? (size_t)consumers : 0);
}

bool csi_api_authorize(cs_api *api, cs_http_stream *s, const char *body, size_t len, int *status,
                       const char **error_type, char *message, size_t cap)
{
    /* The media routes that call this, with the right each needs. A path not listed here is
     * refused to keys limited to some streams (fail closed). */
    static const struct {
        const char *path;
        unsigned rights;
    } routes[] = {
        {"/putMedia", CS_API_WRITE},
        {"/getMedia", CS_API_READ},
        {"/listFragments", CS_API_READ},
        {"/getMediaForFragmentList", CS_API_READ},
    };
    const char *path = cs_http_stream_path(s);
    const cs_api_credential *key = NULL;
    json_t *in = NULL;
    bool ok;
    if (!csi_api_verify(api, s, body, len, "kinesisvideo", &key, status, error_type, message,
                        cap)) {
        return false;
    }
    if (key == NULL || key->n_rules == 0) {
        return true;
    }
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(path, routes[i].path) != 0) {
            continue;
        }
        if (routes[i].rights == CS_API_WRITE) { /* PutMedia names its stream in headers */
            return names_ok(
                key, routes[i].rights, path + 1, cs_http_stream_header(s, "x-amzn-stream-name"),
                cs_http_stream_header(s, "x-amzn-stream-arn"), status, error_type, message, cap);
        }
        /* A small JSON body (a buffered route): parsed here as well as in the job, only for
         * restricted keys. Not JSON: no stream named, refused. */
        in = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
        ok = json_is_object(in) &&
             rights_ok(api, key, routes[i].rights, path + 1, in, status, error_type, message, cap);
        if (!json_is_object(in)) {
            deny(key, path + 1, NULL, status, error_type, message, cap);
        }
        json_decref(in);
        return ok;
    }
    deny(key, path[0] == '/' && path[1] ? path + 1 : "unknown", NULL, status, error_type, message,
         cap);
    return false;
}

void cs_api_destroy(cs_api **papi)
{
    cs_api *api = papi ? *papi : NULL;
    if (api == NULL) {
        return;
    }
    if (api->rx_ok) {
        for (int i = 0; i < RX_COUNT; i++) {
            regfree(&api->rx[i]);
        }
    }
    for (size_t i = 0; i < api->n_creds; i++) {
        free((void *)api->creds[i].access_key);
        if (api->creds[i].secret_key) {
            /* Wipe the secret before it goes back to the heap. */
            volatile char *p = (volatile char *)api->creds[i].secret_key;
            while (*p) {
                *p++ = 0;
            }
        }
        free((void *)api->creds[i].secret_key);
        for (size_t j = 0; j < api->creds[i].n_rules; j++) {
            free((void *)api->creds[i].rules[j].prefix);
        }
        free((void *)api->creds[i].rules);
    }
    cs_sigv4_key_cache_clear(&api->key_cache);
    free(api->creds);
    free(api->region);
    free(api->public_url);
    free(api->routes);
    csi_putmedia_destroy(&api->putmedia);
    csi_live_destroy(&api->media.live);
    free(api);
    *papi = NULL;
}

cs_status csi_api_run(cs_api *api, const char *path, const char *body, size_t len,
                      const char *base_url, struct csi_api_result *res)
{
    struct req r;
    size_t i = 0;
    while (i < N_OPS && strcmp(ops[i].path, path) != 0) {
        i++;
    }
    memset(res, 0, sizeof(*res));
    if (i == N_OPS) {
        return CS_E_NOTFOUND;
    }
    memset(&r, 0, sizeof(r));
    r.api = api;
    r.op = &ops[i];
    r.body.data = (char *)body; /* job() only reads it */
    r.body.len = len;
    snprintf(r.base_url, sizeof(r.base_url), "%s", base_url ? base_url : "");
    job(&r);
    res->status = r.status;
    res->error_type = r.error_type;
    snprintf(res->message, sizeof(res->message), "%s", r.message);
    res->out = r.out;
    r.out = NULL; /* the caller's now */
    return CS_OK;
}
