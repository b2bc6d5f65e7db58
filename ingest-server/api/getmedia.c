/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Archived-media reads (PROTOCOL.md §5): listFragments (JSON over the index), getMedia and
 * getMediaForFragmentList (a continuous MKV response built from the stored fragment objects,
 * one fragment at a time, each with the service's AWS_KINESISVIDEO_* tags spliced in). The
 * request plumbing mirrors api.c: body and SigV4 check on the loop, validation and every index
 * or store call on the worker pool, output written on the loop with back-pressure. GetMedia
 * reads stored fragments until it reaches the live edge, then attaches to the live hub (live.h),
 * which writes each new fragment's bytes as they arrive; docs/internals/GETMEDIA.md has the
 * invariants.
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "live.h"
#include "metrics.h"
#include "camstream/auth.h"
#include "camstream/mkv.h"
#include "camstream/mkv_write.h"

#define MOD "getmedia"
#define E_ARG "InvalidArgumentException"
#define E_NOTFOUND "ResourceNotFoundException"
#define FRAG_SIZE CS_INDEX_FRAGMENT_NUMBER_SIZE
/* The largest fragment object we read into memory (the service's fragments are far smaller). */
#define MAX_OBJECT (256u * 1024u * 1024u)

enum kind { K_LIST, K_GET_MEDIA, K_FRAGMENT_LIST };

/* One request. Owned by the stream (its data) while no job runs; by the job while one does
 * (in_flight); on_close during a job only marks it closed and the job's done frees it. */
struct gm {
    struct csi_api_body body; /* first: request.c finds it */
    const struct csi_gm_route *rt;
    cs_http_stream *s;
    bool in_flight;
    bool closed;
    /* Setup result. */
    int status;
    const char *error_type;
    char message[512];
    char *out; /* listFragments JSON */
    /* Streaming state (workers and loop take turns, never at once). */
    char stream[CS_INDEX_NAME_SIZE];
    char media_type[CS_INDEX_MEDIA_TYPE_SIZE];
    char first[FRAG_SIZE]; /* a fragment to send before following the cursor; "" none */
    char after[FRAG_SIZE]; /* the cursor: the next fragment numbers above it ("" = all) */
    char (*list)[FRAG_SIZE];
    size_t n_list;
    size_t i_list;
    uint64_t start_ns;
    uint64_t last_new_ns;
    bool wrote_any;
    /* One fetch job's output. */
    uint8_t *chunk;
    size_t chunk_len;
    bool eos;
    bool at_edge; /* the job found nothing after `after`: attach to the live hub */
    /* At the live edge (loop thread): the hub writes to the response. */
    struct csi_live_sub *live;
};

static void fail(struct gm *g, int status, const char *type, const char *fmt, ...) CS_PRINTF(4, 5);

static void fail(struct gm *g, int status, const char *type, const char *fmt, ...)
{
    va_list ap;
    g->status = status;
    g->error_type = type;
    va_start(ap, fmt);
    vsnprintf(g->message, sizeof(g->message), fmt, ap);
    va_end(ap);
}

static void gm_free(struct gm *g)
{
    if (g == NULL) {
        return;
    }
    if (g->start_ns != 0) {
        cs_metrics_gauge_add(cs_metrics_default(), CS_M_CONSUMERS, -1); /* consumer_started's */
    }
    csi_live_detach(&g->live);
    csi_api_body_free(&g->body);
    free(g->out);
    free(g->list);
    free(g->chunk);
    free(g);
}

/* ---------------------------------------------------------------------------------------------- */
/* Validation (worker)                                                                            */
/* ---------------------------------------------------------------------------------------------- */

static bool all_of(const char *s, const char *set)
{
    return s[strspn(s, set)] == '\0';
}

static bool get_string(struct gm *g, json_t *in, const char *key, size_t max, const char **out)
{
    json_t *v = json_object_get(in, key);
    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        return true;
    }
    if (!json_is_string(v) || json_string_length(v) < 1 || json_string_length(v) > max ||
        json_string_length(v) != strlen(json_string_value(v))) {
        fail(g, 400, E_ARG, "%s must be a string of 1 to %zu characters.", key, max);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

static bool get_fragment_number(struct gm *g, json_t *in, const char *key, const char **out)
{
    if (!get_string(g, in, key, 128, out)) {
        return false;
    }
    if (*out && !all_of(*out, "0123456789")) {
        fail(g, 400, E_ARG, "%s must be a fragment number (digits).", key);
        return false;
    }
    return true;
}

/* Epoch seconds (number) to ms. */
static bool get_time(struct gm *g, json_t *in, const char *key, bool required, int64_t *ms)
{
    json_t *v = json_object_get(in, key);
    if (v == NULL || json_is_null(v)) {
        if (required) {
            fail(g, 400, E_ARG, "%s is required.", key);
            return false;
        }
        return true;
    }
    if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
        fabs(json_number_value(v)) > 9.2e15) {
        fail(g, 400, E_ARG, "%s must be a timestamp in epoch seconds.", key);
        return false;
    }
    *ms = (int64_t)llround(json_number_value(v) * 1000.0);
    return true;
}

/* Resolves StreamName/StreamARN; fills g->stream and g->media_type. */
static bool resolve_stream(struct gm *g, json_t *in)
{
    const char *name, *arn;
    cs_index_stream st;
    cs_status s;
    if (!get_string(g, in, "StreamName", 256, &name) ||
        !get_string(g, in, "StreamARN", 1024, &arn)) {
        return false;
    }
    if (name == NULL && arn == NULL) {
        fail(g, 400, E_ARG, "Either StreamName or StreamARN must be specified.");
        return false;
    }
    s = cs_index_stream_get(g->rt->m->index, name, arn, &st);
    if (s == CS_E_NOTFOUND || (s == CS_OK && st.status != CS_INDEX_ACTIVE)) {
        fail(g, 404, E_NOTFOUND, "The requested stream is not found or not active.");
        return false;
    }
    if (s == CS_E_INVAL) {
        fail(g, 400, E_ARG, "StreamName and StreamARN do not identify the same stream.");
        return false;
    }
    if (s != CS_OK) {
        fail(g, 500, "InternalFailure", "The index failed: %s.", cs_status_str(s));
        return false;
    }
    snprintf(g->stream, sizeof(g->stream), "%s", st.name);
    snprintf(g->media_type, sizeof(g->media_type), "%s",
             st.media_type[0] ? st.media_type : "video/x-matroska");
    return true;
}

/* ---------------------------------------------------------------------------------------------- */
/* listFragments (worker)                                                                         */
/* ---------------------------------------------------------------------------------------------- */

static cs_status add_fragment(void *ctx, const cs_index_fragment *f)
{
    json_t *arr = ctx;
    json_t *o =
        json_pack("{s:s,s:I,s:f,s:f,s:I}", "FragmentNumber", f->number, "FragmentSizeInBytes",
                  (json_int_t)f->size, "ProducerTimestamp", (double)f->producer_ms / 1000.0,
                  "ServerTimestamp", (double)f->server_ms / 1000.0, "FragmentLengthInMilliseconds",
                  (json_int_t)f->duration_ms);
    if (o == NULL || json_array_append_new(arr, o) != 0) {
        return CS_E_NOMEM;
    }
    return CS_OK;
}

static void op_list(struct gm *g, json_t *in)
{
    json_t *v = json_object_get(in, "MaxResults");
    json_t *sel = json_object_get(in, "FragmentSelector");
    json_int_t max = 1000;
    const char *token = NULL;
    cs_index_time_kind kind = CS_INDEX_SERVER_TIME;
    int64_t start = INT64_MIN, end = INT64_MAX;
    char next[FRAG_SIZE] = "";
    json_t *arr = NULL;
    json_t *out = NULL;
    cs_status s;
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000) {
            fail(g, 400, E_ARG, "MaxResults must be an integer between 1 and 1000.");
            return;
        }
        max = json_integer_value(v);
    }
    /* Our tokens are the last fragment number listed; anything else is not ours. */
    if (!get_string(g, in, "NextToken", 4096, &token)) {
        return;
    }
    if (token && (strlen(token) >= FRAG_SIZE || !all_of(token, "0123456789"))) {
        fail(g, 400, E_ARG, "NextToken is not valid.");
        return;
    }
    if (sel && !json_is_null(sel)) {
        json_t *type = json_object_get(sel, "FragmentSelectorType");
        json_t *range = json_object_get(sel, "TimestampRange");
        const char *t = json_is_string(type) ? json_string_value(type) : "";
        if (strcmp(t, "PRODUCER_TIMESTAMP") == 0) {
            kind = CS_INDEX_PRODUCER_TIME;
        } else if (strcmp(t, "SERVER_TIMESTAMP") != 0) {
            fail(g, 400, E_ARG,
                 "FragmentSelectorType must be PRODUCER_TIMESTAMP or SERVER_TIMESTAMP.");
            return;
        }
        if (!json_is_object(range) || !get_time(g, range, "StartTimestamp", true, &start) ||
            !get_time(g, range, "EndTimestamp", true, &end)) {
            if (g->error_type == NULL) {
                fail(g, 400, E_ARG, "TimestampRange is required.");
            }
            return;
        }
        if (start > end) {
            fail(g, 400, E_ARG, "StartTimestamp must not be later than EndTimestamp.");
            return;
        }
    }
    if (!resolve_stream(g, in)) {
        return;
    }
    arr = json_array();
    if (arr == NULL) {
        fail(g, 500, "InternalFailure", "Out of memory.");
        return;
    }
    s = cs_index_fragment_list(g->rt->m->index, g->stream, kind, start, end, token, (uint32_t)max,
                               add_fragment, arr, next);
    if (s != CS_OK) {
        json_decref(arr);
        fail(g, s == CS_E_NOTFOUND ? 404 : 500, s == CS_E_NOTFOUND ? E_NOTFOUND : "InternalFailure",
             "Listing fragments failed: %s.", cs_status_str(s));
        return;
    }
    out = json_pack("{s:o}", "Fragments", arr);
    if (out && next[0]) {
        json_object_set_new(out, "NextToken", json_string(next));
    }
    g->out = out ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(out);
    if (g->out == NULL) {
        fail(g, 500, "InternalFailure", "Out of memory.");
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* getMedia / getMediaForFragmentList setup (worker)                                              */
/* ---------------------------------------------------------------------------------------------- */

struct ts_find {
    cs_index_time_kind kind;
    int64_t ms;
    cs_index_fragment found;
    bool have;
};

/* The first fragment (in number order) that contains `ms` or starts after it. */
static cs_status ts_pick(void *ctx, const cs_index_fragment *f)
{
    struct ts_find *t = ctx;
    int64_t ts = t->kind == CS_INDEX_PRODUCER_TIME ? f->producer_ms : f->server_ms;
    if (ts >= t->ms || ts + f->duration_ms > t->ms) {
        t->found = *f;
        t->have = true;
        return CS_E_CANCELLED; /* stop */
    }
    return CS_OK;
}

static void op_get_media(struct gm *g, json_t *in)
{
    json_t *sel = json_object_get(in, "StartSelector");
    json_t *type = json_is_object(sel) ? json_object_get(sel, "StartSelectorType") : NULL;
    const char *t = json_is_string(type) ? json_string_value(type) : NULL;
    const char *number = NULL;
    cs_index *ix = g->rt->m->index;
    cs_index_fragment f;
    cs_status s;
    if (t == NULL) {
        fail(g, 400, E_ARG, "StartSelector.StartSelectorType is required.");
        return;
    }
    if (!resolve_stream(g, in)) {
        return;
    }
    if (strcmp(t, "EARLIEST") == 0) {
        return;
    }
    if (strcmp(t, "NOW") == 0) {
        s = cs_index_fragment_edge(ix, g->stream, true, &f);
        if (s == CS_OK) {
            snprintf(g->after, sizeof(g->after), "%s", f.number);
        } else if (s != CS_E_NOTFOUND) {
            fail(g, 500, "InternalFailure", "The index failed: %s.", cs_status_str(s));
        }
        return;
    }
    if (strcmp(t, "FRAGMENT_NUMBER") == 0 || strcmp(t, "CONTINUATION_TOKEN") == 0) {
        bool cont = t[0] == 'C';
        const char *key = cont ? "ContinuationToken" : "AfterFragmentNumber";
        if (!get_fragment_number(g, sel, key, &number)) {
            return;
        }
        if (number == NULL) {
            fail(g, 400, E_ARG, "StartSelector.%s is required with %s.", key, t);
            return;
        }
        s = cs_index_fragment_get(ix, g->stream, number, &f);
        if (s == CS_E_NOTFOUND && cont && strlen(number) == FRAG_SIZE - 1 &&
            strncmp(number, "91", 2) == 0) {
            /* A token of this server's form that the index does not hold: a fragment a live
             * consumer got whole that was then lost (a crash before it was persisted; the
             * producer re-sends it under a new number). Numbers are ordered: resume at the first
             * fragment above it (the consumer SDK recognises a re-sent copy by its producer
             * timestamp). */
            snprintf(g->after, sizeof(g->after), "%s", number);
            return;
        }
        if (s == CS_E_NOTFOUND || s == CS_E_INVAL) {
            fail(g, 404, E_NOTFOUND, "The fragment %.64s is not found in the stream.", number);
            return;
        }
        if (s != CS_OK) {
            fail(g, 500, "InternalFailure", "The index failed: %s.", cs_status_str(s));
            return;
        }
        /* FRAGMENT_NUMBER starts with that fragment; a continuation token names the last
         * fragment the client got whole, so reading resumes after it. */
        if (!cont) {
            snprintf(g->first, sizeof(g->first), "%s", f.number);
        }
        snprintf(g->after, sizeof(g->after), "%s", f.number);
        return;
    }
    if (strcmp(t, "SERVER_TIMESTAMP") == 0 || strcmp(t, "PRODUCER_TIMESTAMP") == 0) {
        struct ts_find tf;
        char page[FRAG_SIZE] = "";
        memset(&tf, 0, sizeof(tf));
        tf.kind = t[0] == 'S' ? CS_INDEX_SERVER_TIME : CS_INDEX_PRODUCER_TIME;
        if (!get_time(g, sel, "StartTimestamp", true, &tf.ms)) {
            return;
        }
        /* A fragment containing the time started at most a fragment's length before it: the
         * service caps fragments far below an hour. */
        do {
            s = cs_index_fragment_list(ix, g->stream, tf.kind, tf.ms - 3600000, INT64_MAX,
                                       page[0] ? page : NULL, 1000, ts_pick, &tf, page);
        } while (s == CS_OK && page[0] && !tf.have);
        if (s != CS_OK && s != CS_E_CANCELLED) {
            fail(g, 500, "InternalFailure", "The index failed: %s.", cs_status_str(s));
            return;
        }
        if (tf.have) {
            snprintf(g->first, sizeof(g->first), "%s", tf.found.number);
            snprintf(g->after, sizeof(g->after), "%s", tf.found.number);
        } else {
            /* Nothing at or after the time yet: wait at the live edge. */
            s = cs_index_fragment_edge(ix, g->stream, true, &f);
            if (s == CS_OK) {
                snprintf(g->after, sizeof(g->after), "%s", f.number);
            }
        }
        return;
    }
    fail(g, 400, E_ARG,
         "StartSelectorType must be NOW, EARLIEST, FRAGMENT_NUMBER, SERVER_TIMESTAMP, "
         "PRODUCER_TIMESTAMP or CONTINUATION_TOKEN.");
}

static void op_fragment_list(struct gm *g, json_t *in)
{
    json_t *arr = json_object_get(in, "Fragments");
    size_t n;
    if (!json_is_array(arr) || json_array_size(arr) < 1 || json_array_size(arr) > 1000) {
        fail(g, 400, E_ARG, "Fragments must be a list of 1 to 1000 fragment numbers.");
        return;
    }
    if (!resolve_stream(g, in)) {
        return;
    }
    n = json_array_size(arr);
    g->list = calloc(n, sizeof(*g->list));
    if (g->list == NULL) {
        fail(g, 500, "InternalFailure", "Out of memory.");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        const char *num = json_is_string(v) ? json_string_value(v) : "";
        cs_index_fragment f;
        cs_status s;
        if (num[0] == '\0' || strlen(num) > 128 || !all_of(num, "0123456789")) {
            fail(g, 400, E_ARG, "Fragments must hold fragment numbers (digits).");
            return;
        }
        /* Every fragment must exist before the response starts (the service answers
         * ResourceNotFoundException for an unknown one). */
        s = cs_index_fragment_get(g->rt->m->index, g->stream, num, &f);
        if (s == CS_E_NOTFOUND || s == CS_E_INVAL) {
            fail(g, 404, E_NOTFOUND, "The fragment %.64s is not found in the stream.", num);
            return;
        }
        if (s != CS_OK) {
            fail(g, 500, "InternalFailure", "The index failed: %s.", cs_status_str(s));
            return;
        }
        snprintf(g->list[i], FRAG_SIZE, "%s", f.number);
    }
    g->n_list = n;
}

static void setup_job(void *arg)
{
    struct gm *g = arg;
    json_t *in = NULL;
    json_error_t err;
    g->status = 200;
    in = g->body.len ? json_loadb(g->body.data, g->body.len, JSON_REJECT_DUPLICATES, &err)
                     : json_object();
    if (!json_is_object(in)) {
        json_decref(in);
        fail(g, 400, "SerializationException", "The request body must be a JSON object.");
        return;
    }
    if (g->rt->kind != K_LIST && g->rt->m->store == NULL) {
        fail(g, 500, "InternalFailure", "This server has no object store.");
    } else if (g->rt->kind == K_LIST) {
        op_list(g, in);
    } else if (g->rt->kind == K_GET_MEDIA) {
        op_get_media(g, in);
    } else {
        op_fragment_list(g, in);
    }
    json_decref(in);
}

/* ---------------------------------------------------------------------------------------------- */
/* Building one fragment's output (worker)                                                        */
/* ---------------------------------------------------------------------------------------------- */

/* An EBML ID (marker kept) or size (marker removed; all ones = unknown) at *pos. */
static bool vint(const uint8_t *p, size_t len, size_t *pos, bool is_id, uint64_t *val,
                 bool *unknown)
{
    size_t n = 1;
    uint64_t v;
    bool ones;
    if (*pos >= len || p[*pos] == 0) {
        return false;
    }
    while (!(p[*pos] & (0x80 >> (n - 1)))) {
        n++;
    }
    if ((is_id && n > 4) || *pos + n > len) {
        return false;
    }
    v = is_id ? p[*pos] : (uint64_t)(p[*pos] & (0xFF >> n));
    ones = (p[*pos] & (0xFF >> n)) == (0xFF >> n);
    for (size_t i = 1; i < n; i++) {
        v = (v << 8) | p[*pos + i];
        ones = ones && p[*pos + i] == 0xFF;
    }
    *pos += n;
    *val = v;
    if (unknown) {
        *unknown = !is_id && ones;
    }
    return true;
}

/* Offset of the Cluster inside a stored fragment (EBML header, Segment, level-1 elements). */
static bool find_cluster(const uint8_t *p, size_t len, size_t *cluster)
{
    size_t pos = 0;
    uint64_t id, size;
    bool unknown;
    if (!vint(p, len, &pos, true, &id, NULL) || id != CS_EBML_ID_HEADER ||
        !vint(p, len, &pos, false, &size, &unknown) || unknown || size > len - pos) {
        return false;
    }
    pos += (size_t)size;
    if (!vint(p, len, &pos, true, &id, NULL) || id != CS_MKV_ID_SEGMENT ||
        !vint(p, len, &pos, false, &size, &unknown)) {
        return false;
    }
    while (pos < len) {
        size_t at = pos;
        if (!vint(p, len, &pos, true, &id, NULL)) {
            return false;
        }
        if (id == CS_MKV_ID_CLUSTER) {
            *cluster = at;
            return true;
        }
        if (!vint(p, len, &pos, false, &size, &unknown) || unknown || size > len - pos) {
            return false;
        }
        pos += (size_t)size;
    }
    return false;
}

static void fmt_seconds(int64_t ms, char *out, size_t cap)
{
    const char *sign = ms < 0 ? "-" : "";
    uint64_t a = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    snprintf(out, cap, "%s%" PRIu64 ".%03" PRIu64, sign, a / 1000, a % 1000);
}

static cs_mkv_tag tag(const char *name, const char *value)
{
    return (cs_mkv_tag){name, strlen(name), value, strlen(value)};
}

/* The stream header written before error tags when nothing was sent yet, so the body is MKV. */
static void put_prefix(cs_mkv_writer *w, bool wrote_any)
{
    if (!wrote_any) {
        cs_mkv_put_ebml_header(w);
        cs_mkv_put_segment_start(w);
    }
}

/* Error tags (the service's codes: 4000 fragment not found, 5000 internal). */
static void make_error(struct gm *g, int code, const char *what)
{
    char id[16];
    cs_mkv_tag t[2];
    cs_mkv_writer w;
    size_t need = 0;
    snprintf(id, sizeof(id), "%d", code);
    t[0] = tag("AWS_KINESISVIDEO_ERROR_CODE", what);
    t[1] = tag("AWS_KINESISVIDEO_ERROR_ID", id);
    cs_mkv_writer_init(&w, NULL, 0);
    put_prefix(&w, g->wrote_any);
    cs_mkv_put_tags(&w, t, 2);
    cs_mkv_writer_finish(&w, &need);
    free(g->chunk);
    g->chunk = malloc(need);
    g->chunk_len = 0;
    if (g->chunk) {
        cs_mkv_writer_init(&w, g->chunk, need);
        put_prefix(&w, g->wrote_any);
        cs_mkv_put_tags(&w, t, 2);
        if (cs_mkv_writer_finish(&w, &g->chunk_len) != CS_OK) {
            g->chunk_len = 0;
        }
    }
    g->eos = true;
}

/* obj = stream header + producer Tags + Cluster; out = that with our tags before the Cluster
 * and after it. */
static cs_status build_chunk(struct gm *g, const cs_index_fragment *f, const uint8_t *obj,
                             size_t len)
{
    char server[32], producer[32], behind[32];
    int64_t now_ms = (int64_t)(cs_clock_wall_ns(g->rt->m->clock) / 1000000u);
    cs_mkv_tag before[3], after[2];
    cs_mkv_writer w;
    size_t cluster, a_len = 0, b_len = 0, total;
    uint8_t *out;
    if (!find_cluster(obj, len, &cluster)) {
        return CS_E_MALFORMED;
    }
    fmt_seconds(f->server_ms, server, sizeof(server));
    fmt_seconds(f->producer_ms, producer, sizeof(producer));
    snprintf(behind, sizeof(behind), "%" PRId64,
             now_ms > f->server_ms ? now_ms - f->server_ms : (int64_t)0);
    before[0] = tag("AWS_KINESISVIDEO_FRAGMENT_NUMBER", f->number);
    before[1] = tag("AWS_KINESISVIDEO_SERVER_TIMESTAMP", server);
    before[2] = tag("AWS_KINESISVIDEO_PRODUCER_TIMESTAMP", producer);
    after[0] = tag("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", behind);
    after[1] = tag("AWS_KINESISVIDEO_CONTINUATION_TOKEN", f->number);
    cs_mkv_writer_init(&w, NULL, 0);
    cs_mkv_put_tags(&w, before, 3);
    cs_mkv_writer_finish(&w, &a_len);
    cs_mkv_writer_init(&w, NULL, 0);
    cs_mkv_put_tags(&w, after, 2);
    cs_mkv_writer_finish(&w, &b_len);
    total = len + a_len + b_len;
    out = malloc(total);
    if (out == NULL) {
        return CS_E_NOMEM;
    }
    memcpy(out, obj, cluster);
    cs_mkv_writer_init(&w, out + cluster, a_len);
    cs_mkv_put_tags(&w, before, 3);
    if (cs_mkv_writer_finish(&w, NULL) != CS_OK) {
        free(out);
        return CS_E_INTERNAL;
    }
    memcpy(out + cluster + a_len, obj + cluster, len - cluster);
    cs_mkv_writer_init(&w, out + len + a_len, b_len);
    cs_mkv_put_tags(&w, after, 2);
    if (cs_mkv_writer_finish(&w, NULL) != CS_OK) {
        free(out);
        return CS_E_INTERNAL;
    }
    free(g->chunk);
    g->chunk = out;
    g->chunk_len = total;
    return CS_OK;
}

/* Reads the fragment's object and builds its output; on failure, error tags and the end. */
static void send_fragment(struct gm *g, const cs_index_fragment *f)
{
    cs_store *store = g->rt->m->store;
    uint64_t size = f->size;
    uint8_t *obj = NULL;
    size_t got = 0;
    cs_status s = cs_store_head(store, f->object_key, &size);
    if (s == CS_OK && size > MAX_OBJECT) {
        s = CS_E_LIMIT;
    }
    if (s == CS_OK) {
        obj = malloc(size ? (size_t)size : 1);
        s = obj ? cs_store_get(store, f->object_key, obj, (size_t)size, &got) : CS_E_NOMEM;
    }
    if (s == CS_OK) {
        s = build_chunk(g, f, obj, got);
    }
    free(obj);
    if (s == CS_E_NOTFOUND) {
        CS_LOG_WARN(g->rt->m->logger, MOD, "%s: fragment %s: object %s is missing", g->stream,
                    f->number, f->object_key);
        make_error(g, 4000, "Requested fragment is not found");
    } else if (s != CS_OK) {
        CS_LOG_WARN(g->rt->m->logger, MOD, "%s: fragment %s: %s", g->stream, f->number,
                    cs_status_str(s));
        make_error(g, 5000, "Internal error");
    }
}

struct first_fn {
    cs_index_fragment f;
    bool have;
};

static cs_status take_first(void *ctx, const cs_index_fragment *f)
{
    struct first_fn *t = ctx;
    t->f = *f;
    t->have = true;
    return CS_OK;
}

static void fetch_job(void *arg)
{
    struct gm *g = arg;
    const struct csi_api_media *m = g->rt->m;
    cs_index_fragment f;
    cs_status s;
    uint64_t now = cs_clock_monotonic_ns(m->clock);
    g->chunk_len = 0;
    g->at_edge = false;
    if (g->rt->kind == K_FRAGMENT_LIST) {
        if (g->i_list == g->n_list) {
            g->eos = true;
            return;
        }
        s = cs_index_fragment_get(m->index, g->stream, g->list[g->i_list++], &f);
        if (s == CS_OK) {
            send_fragment(g, &f);
        } else {
            make_error(g, s == CS_E_NOTFOUND ? 4000 : 5000,
                       s == CS_E_NOTFOUND ? "Requested fragment is not found" : "Internal error");
        }
        return;
    }
    if (m->max_ms && now - g->start_ns >= (uint64_t)m->max_ms * 1000000u) {
        g->eos = true;
        return;
    }
    if (g->first[0]) {
        s = cs_index_fragment_get(m->index, g->stream, g->first, &f);
        g->first[0] = '\0';
        if (s != CS_OK) {
            make_error(g, s == CS_E_NOTFOUND ? 4000 : 5000,
                       s == CS_E_NOTFOUND ? "Requested fragment is not found" : "Internal error");
            return;
        }
    } else {
        struct first_fn t = {.have = false};
        char next[FRAG_SIZE];
        s = cs_index_fragment_list(m->index, g->stream, CS_INDEX_SERVER_TIME, INT64_MIN, INT64_MAX,
                                   g->after[0] ? g->after : NULL, 1, take_first, &t, next);
        if (s == CS_E_NOTFOUND) {
            make_error(g, 4000, "The stream was deleted");
            return;
        }
        if (s != CS_OK) {
            make_error(g, 5000, "Internal error");
            return;
        }
        if (!t.have) {
            /* At the live edge: end when idle too long, else the loop attaches to the hub. */
            if (m->idle_ms && now - g->last_new_ns >= (uint64_t)m->idle_ms * 1000000u) {
                g->eos = true;
                return;
            }
            g->at_edge = true;
            return;
        }
        f = t.f;
    }
    snprintf(g->after, sizeof(g->after), "%s", f.number);
    g->last_new_ns = now;
    send_fragment(g, &f);
}

/* ---------------------------------------------------------------------------------------------- */
/* Loop side                                                                                      */
/* ---------------------------------------------------------------------------------------------- */

static void fetch_done(void *arg);
static bool submit_fetch(struct gm *g);

/* The hub let the response go (loop thread; g->live is already freed). */
static void live_detached(void *ctx, enum csi_live_why why, const char *after)
{
    struct gm *g = ctx;
    cs_http_stream *s = g->s;
    g->live = NULL;
    if (strcmp(after, g->after) != 0) {
        snprintf(g->after, sizeof(g->after), "%s", after);
        g->last_new_ns = cs_clock_monotonic_ns(g->rt->m->clock);
        g->wrote_any = true;
    }
    switch (why) {
    case CSI_LIVE_SLOW:
        /* Behind: read the store at its own pace (fetches wait for the queue to drain). */
        CS_LOG_INFO(g->rt->m->logger, MOD,
                    "%s: live consumer behind (%zu bytes queued): reading from the store",
                    g->stream, cs_http_stream_write_pending(s));
        cs_http_stream_want_writable(s);
        break;
    case CSI_LIVE_RECHECK:
        if (!submit_fetch(g)) {
            cs_http_stream_abort(s);
        }
        break;
    case CSI_LIVE_DRAIN:
        cs_http_stream_finish(s);
        break;
    case CSI_LIVE_TORN:
    case CSI_LIVE_OVERFLOW:
    default:
        /* It holds part of a fragment that will not complete: the consumer resumes from its
         * last CONTINUATION_TOKEN on a new request. */
        CS_LOG_INFO(g->rt->m->logger, MOD, "%s: live consumer dropped (%s)", g->stream,
                    why == CSI_LIVE_TORN ? "the fragment it was reading was abandoned"
                                         : "its output queue is full");
        cs_http_stream_abort(s);
        break;
    }
}

/* At the live edge (loop): attach, or read the index again when the hub says so. */
static void go_live(struct gm *g)
{
    cs_status st =
        csi_live_attach(g->rt->m->live, g->stream, g->after, g->s, live_detached, g, &g->live);
    if (st == CS_OK) {
        if (g->rt->m->max_ms) {
            csi_live_sub_set_deadline(g->live, g->start_ns + (uint64_t)g->rt->m->max_ms * 1000000u);
        }
        return;
    }
    if (st == CS_E_STATE) {
        cs_http_stream_finish(g->s); /* shutting down */
    } else if (st != CS_AGAIN || !submit_fetch(g)) {
        cs_http_stream_abort(g->s);
    }
}

/* Hands g to a fetch job (loop). false: the stream was aborted and g must be freed by on_close. */
static bool submit_fetch(struct gm *g)
{
    return csi_api_submit(g->rt->srv, g->s, fetch_job, fetch_done, g, &g->in_flight);
}

/* A job's done callback, back on the loop: false when the client went away meanwhile (g and the
 * job's stream reference are released). */
static bool job_back(struct gm *g)
{
    g->in_flight = false;
    if (g->closed || !cs_http_stream_is_open(g->s)) {
        cs_http_stream_unref(g->s);
        gm_free(g);
        return false;
    }
    return true;
}

static void fetch_done(void *arg)
{
    struct gm *g = arg;
    cs_http_stream *s = g->s;
    if (!job_back(g)) {
        return;
    }
    if (g->chunk_len) {
        if (cs_http_stream_write(s, g->chunk, g->chunk_len) != CS_OK) {
            cs_http_stream_abort(s);
            cs_http_stream_unref(s);
            return;
        }
        g->wrote_any = true;
    }
    free(g->chunk);
    g->chunk = NULL;
    g->chunk_len = 0;
    if (g->eos) {
        cs_http_stream_finish(s);
    } else if (g->at_edge) {
        go_live(g);
    } else if (g->rt->m->live != NULL && csi_live_draining(g->rt->m->live)) {
        cs_http_stream_finish(s); /* shutting down: end at this fragment boundary */
    } else if (cs_http_stream_write_pending(s) > 0) {
        /* Back-pressure: the next fragment is read once this one has drained. */
        cs_http_stream_want_writable(s);
    } else if (!submit_fetch(g)) {
        cs_http_stream_abort(s);
    }
    cs_http_stream_unref(s);
}

static void respond_error(struct gm *g)
{
    csi_api_respond(g->s, g->status, g->error_type, g->message);
}

static void setup_done(void *arg)
{
    struct gm *g = arg;
    cs_http_stream *s = g->s;
    if (!job_back(g)) {
        return;
    }
    if (g->error_type) {
        respond_error(g);
    } else if (g->rt->kind == K_LIST) {
        cs_http_stream_respond_simple(s, 200, "application/json", g->out, strlen(g->out));
    } else {
        cs_http_header h[1] = {{"content-type", g->media_type}};
        g->start_ns = cs_clock_monotonic_ns(g->rt->m->clock);
        cs_metrics_consumer_started(cs_metrics_default()); /* undone in gm_free() */
        g->last_new_ns = g->start_ns;
        if (cs_http_stream_respond(s, 200, h, 1, -1) != CS_OK || !submit_fetch(g)) {
            cs_http_stream_abort(s);
        }
    }
    cs_http_stream_unref(s);
}

static void on_request(cs_http_stream *s, void *user)
{
    struct gm *g = calloc(1, sizeof(*g));
    cs_metrics_request(cs_metrics_default(), cs_http_stream_path(s));
    if (g == NULL) {
        cs_http_stream_respond_simple(s, 500, "application/json", "{}", 2);
        return;
    }
    g->rt = user;
    g->s = s;
    cs_http_stream_set_data(s, g);
}

/* csi_api_body_end()'s refusal (loop thread): a bad signature or right, or no worker took it. */
static void refuse(void *arg, int status, const char *type, const char *message)
{
    struct gm *g = arg;
    fail(g, status, type, "%s", message);
    respond_error(g);
}

/* The signature and the key's right on the stream (csi_api_authorize()), then setup_job. */
static const struct csi_api_handler handler = {.service = NULL,
                                               .job = setup_job,
                                               .done = setup_done,
                                               .refuse = refuse,
                                               .busy_status = 400,
                                               .busy_type = "ClientLimitExceededException",
                                               .busy_message =
                                                   "The server is shutting down or busy."};

static void on_body_end(cs_http_stream *s, void *user)
{
    struct gm *g = cs_http_stream_data(s);
    (void)user;
    if (g != NULL) {
        csi_api_body_end(g->rt->api, s, g, &handler, NULL, &g->in_flight);
    }
}

static void on_writable(cs_http_stream *s, void *user)
{
    struct gm *g = cs_http_stream_data(s);
    (void)user;
    if (g != NULL && g->live == NULL && !g->in_flight && !g->closed && !submit_fetch(g)) {
        cs_http_stream_abort(s);
    }
}

static void on_close(cs_http_stream *s, cs_status why, void *user)
{
    struct gm *g = cs_http_stream_data(s);
    bool free_now;
    (void)why;
    (void)user;
    if (g == NULL) {
        return;
    }
    free_now = csi_api_detach(s, g->in_flight, &g->closed);
    csi_live_detach(&g->live);
    if (free_now) {
        gm_free(g);
    }
}

cs_status csi_getmedia_add_routes(cs_api *api, cs_http_server *srv, struct csi_api_media *media)
{
    static const char *const paths[] = {"/listFragments", "/getMedia", "/getMediaForFragmentList"};
    struct csi_gm_route *routes = media->routes;
    for (size_t i = 0; i < 3; i++) {
        cs_http_route rt = {0};
        cs_status st;
        routes[i] = (struct csi_gm_route){api, srv, media, (int)i};
        rt.method = "POST";
        rt.path = paths[i];
        rt.flags = CS_HTTP_ROUTE_BUFFERED;
        rt.on_request = on_request;
        rt.on_body = csi_api_on_body;
        rt.on_body_end = on_body_end;
        rt.on_writable = on_writable;
        rt.on_close = on_close;
        rt.user = &routes[i];
        st = cs_http_server_add_route(srv, &rt);
        if (st != CS_OK) {
            return st;
        }
    }
    return CS_OK;
}
