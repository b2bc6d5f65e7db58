/* SPDX-License-Identifier: Apache-2.0 */
/* The consumer SDK's client: getDataEndpoint, then getMedia (or getMediaForFragmentList) as one
 * streaming libcurl request driven from cs_consumer_next(), the response fed to a cs_gm_parser,
 * and the resume rule that makes every fragment and frame come out exactly once across
 * reconnects (docs/internals/CONSUMER.md). */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "camstream/auth.h"
#include "camstream/consumer.h"
#include "signed_call.h"

#define MOD "consumer"
#define RX_CAP (64u * 1024u)
#define SMALL_CAP 8192u
#define URL_MAX 1024u
#define BODY_MAX 4096u

struct cs_consumer {
    cs_consumer_config cfg;
    const cs_allocator *a;
    char region[64];
    char access_key[129], secret_key[129], session_token[2049];
    bool sign;
    cs_sigv4_key_cache keys;
    char stream_name[257], stream_arn[1025];
    char start_number[CS_GM_NUMBER_MAX + 1], start_token[CS_GM_NUMBER_MAX + 1];
    char data_endpoint[URL_MAX];
    char error[512];
    cs_gm_parser *parser;
    CURLM *multi;
    CURL *easy;
    struct curl_slist *headers;
    char body[BODY_MAX];
    bool running; /* a request is in flight */
    bool done;    /* it finished (done_result), not yet handled */
    CURLcode done_result;
    uint64_t req_bytes; /* bytes received by the current request */
    bool paused;
    long http_status;
    char error_type[128];
    /* response bytes not yet parsed */
    uint8_t rx[RX_CAP];
    size_t rx_len, rx_off;
    /* error responses are kept whole (small) */
    char err_body[SMALL_CAP];
    size_t err_len;
    /* resume state */
    char last_complete[CS_GM_NUMBER_MAX + 1]; /* number of the last fragment delivered whole */
    char last_token[CS_GM_NUMBER_MAX + 1];    /* its continuation token */
    char open_number[CS_GM_NUMBER_MAX + 1];   /* fragment delivered in part ("" if none) */
    uint32_t open_frames;                     /* frames of it delivered */
    bool skipping;                            /* inside a fragment already delivered */
    /* Producer timestamps: a fragment a live consumer got but the server lost (a crash before it
     * was persisted) comes back re-sent under a new number; these recognise it. */
    uint64_t last_complete_pts; /* of the last fragment delivered whole */
    bool have_last_pts;
    uint64_t open_pts; /* of the open fragment */
    bool have_open_pts;
    bool resuming;     /* inside the open fragment, re-sent */
    size_t list_done;  /* fragment list: fragments delivered whole */
    uint32_t failures; /* reconnects in a row without progress */
    bool ended;
    cs_consumer_stats stats;
};

static void set_error(cs_consumer *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof(c->error), fmt, ap);
    va_end(ap);
    CS_LOG_WARN(c->cfg.logger, MOD, "%s", c->error);
}

void cs_consumer_config_init(cs_consumer_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->region = "us-east-1";
    cfg->start.type = CS_START_NOW;
    cfg->max_frame_bytes = 4u << 20;
    cfg->reconnect = true;
    cfg->max_reconnects = 10;
    cfg->follow = true;
    cfg->connect_timeout_ms = 5000;
    cfg->tls_verify = true;
}

const char *cs_consumer_error(const cs_consumer *c)
{
    return c != NULL ? c->error : "";
}

void cs_consumer_get_stats(const cs_consumer *c, cs_consumer_stats *s)
{
    *s = c->stats;
}

/* n - 1 for a decimal string of digits ("0" stays "0"; leading zeros kept, the width too). */
static void num_decrement(char *n)
{
    size_t i = strlen(n);
    while (i > 0) {
        i--;
        if (n[i] > '0') {
            n[i]--;
            return;
        }
        n[i] = '9'; /* borrow */
    }
    memset(n, '0', strlen(n)); /* it was 0 */
}

/* Fragment numbers are decimal strings: compare as numbers. */
static int numcmp(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb) {
        return la < lb ? -1 : 1;
    }
    return strcmp(a, b);
}

static bool copy_in(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap) {
        return false;
    }
    memcpy(dst, src ? src : "", n + 1);
    return true;
}

/* JSON string body: only names, numbers and tokens go in; refuse what would need escaping. */
static bool json_safe(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == '"' || *s == '\\') {
            return false;
        }
    }
    return true;
}

/* Builds the header list for a POST of `body` to `url`, signed when credentials exist. */
static cs_status build_headers(cs_consumer *c, const char *url, const char *body,
                               struct curl_slist **out)
{
    const struct csi_signer k = {.sign = c->sign,
                                 .region = c->region,
                                 .service = "kinesisvideo",
                                 .access_key = c->access_key,
                                 .secret_key = c->secret_key,
                                 .session_token = c->session_token,
                                 .cache = &c->keys};
    const struct csi_signed_post p = {.url = url, .content_type = "application/json", .body = body};
    char err[sizeof(c->error)];
    cs_status st = csi_signed_headers(&k, &p, out, err, sizeof(err));
    if (st != CS_OK) {
        set_error(c, "%s", err);
    }
    return st;
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
    cs_consumer *c = ud;
    csi_error_type_header(buf, size * n, c->error_type, sizeof(c->error_type));
    return size * n;
}

static size_t on_write(char *buf, size_t size, size_t n, void *ud)
{
    cs_consumer *c = ud;
    size_t len = size * n;
    long code = 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200) {
        size_t room = sizeof(c->err_body) - 1 - c->err_len;
        size_t take = len < room ? len : room;
        memcpy(c->err_body + c->err_len, buf, take);
        c->err_len += take;
        c->err_body[c->err_len] = '\0';
        return len;
    }
    if (c->rx_off > 0 && c->rx_off == c->rx_len) {
        c->rx_off = c->rx_len = 0;
    }
    if (len > RX_CAP - c->rx_len) {
        if (c->rx_off > 0) {
            memmove(c->rx, c->rx + c->rx_off, c->rx_len - c->rx_off);
            c->rx_len -= c->rx_off;
            c->rx_off = 0;
        }
        if (len > RX_CAP - c->rx_len) {
            c->paused = true;
            return CURL_WRITEFUNC_PAUSE; /* curl hands the same bytes again after unpause */
        }
    }
    memcpy(c->rx + c->rx_len, buf, len);
    c->rx_len += len;
    c->stats.bytes += len;
    c->req_bytes += len;
    return len;
}

/* "Message" of a KVS error body, best effort. */
static void error_message(cs_consumer *c, char *out, size_t cap)
{
    const char *m = strstr(c->err_body, "\"Message\"");
    if (m == NULL) {
        m = strstr(c->err_body, "\"message\"");
    }
    out[0] = '\0';
    if (m != NULL && (m = strchr(m + 9, '"')) != NULL) {
        const char *e = m + 1;
        while (*e && *e != '"') {
            e += e[0] == '\\' && e[1] ? 2 : 1;
        }
        snprintf(out, cap, "%.*s", (int)(e - m - 1), m + 1);
    }
}

static cs_status status_of(long http)
{
    if (http == 404) {
        return CS_E_NOTFOUND;
    }
    if (http == 401 || http == 403) {
        return CS_E_AUTH;
    }
    if (http >= 400 && http < 500) {
        return CS_E_INVAL;
    }
    return CS_E_NET;
}

static CURL *new_easy(cs_consumer *c, const char *url)
{
    CURL *e = curl_easy_init();
    if (e == NULL) {
        return NULL;
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(c->body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->cfg.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 16384L);
    if (c->cfg.ca_path != NULL) {
        curl_easy_setopt(e, CURLOPT_CAINFO, c->cfg.ca_path);
    }
    if (!c->cfg.tls_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    return e;
}

static void end_request(cs_consumer *c)
{
    if (c->easy != NULL) {
        if (c->multi != NULL) {
            curl_multi_remove_handle(c->multi, c->easy);
        }
        curl_easy_cleanup(c->easy);
        c->easy = NULL;
    }
    curl_slist_free_all(c->headers);
    c->headers = NULL;
    c->running = false;
    c->paused = false;
}

/* Sends a request and waits for the whole (small) answer: getDataEndpoint. */
static cs_status call_unary(cs_consumer *c, const char *url)
{
    CURLcode rc;
    cs_status st = build_headers(c, url, c->body, &c->headers);
    if (st != CS_OK) {
        return st;
    }
    c->err_len = 0;
    c->err_body[0] = '\0';
    c->error_type[0] = '\0';
    c->easy = new_easy(c, url);
    if (c->easy == NULL) {
        end_request(c);
        return CS_E_NOMEM;
    }
    /* The unary answer goes to err_body whatever its status: route it there. */
    c->rx_len = c->rx_off = 0;
    rc = curl_easy_perform(c->easy);
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->http_status);
    if (rc != CURLE_OK) {
        set_error(c, "%s: %s", url, curl_easy_strerror(rc));
        end_request(c);
        return CS_E_NET;
    }
    if (c->http_status == 200) {
        /* on_write put it in rx */
        size_t n = c->rx_len < sizeof(c->err_body) - 1 ? c->rx_len : sizeof(c->err_body) - 1;
        memcpy(c->err_body, c->rx, n);
        c->err_body[n] = '\0';
        c->rx_len = 0;
    }
    end_request(c);
    return CS_OK;
}

static cs_status get_endpoint(cs_consumer *c)
{
    char url[URL_MAX];
    const char *api = c->cfg.fragments ? "GET_MEDIA_FOR_FRAGMENT_LIST" : "GET_MEDIA";
    const char *k, *e;
    cs_status st;
    snprintf(url, sizeof(url), "%s/getDataEndpoint", c->cfg.endpoint);
    if (c->stream_arn[0]) {
        snprintf(c->body, sizeof(c->body), "{\"StreamARN\":\"%s\",\"APIName\":\"%s\"}",
                 c->stream_arn, api);
    } else {
        snprintf(c->body, sizeof(c->body), "{\"StreamName\":\"%s\",\"APIName\":\"%s\"}",
                 c->stream_name, api);
    }
    if ((st = call_unary(c, url)) != CS_OK) {
        return st;
    }
    if (c->http_status != 200) {
        char msg[300];
        error_message(c, msg, sizeof(msg));
        set_error(c, "getDataEndpoint: HTTP %ld %s: %s", c->http_status,
                  c->error_type[0] ? c->error_type : "", msg);
        return status_of(c->http_status);
    }
    k = strstr(c->err_body, "\"DataEndpoint\"");
    if (k == NULL || (k = strchr(k + 14, '"')) == NULL || (e = strchr(k + 1, '"')) == NULL ||
        (size_t)(e - k - 1) >= sizeof(c->data_endpoint)) {
        set_error(c, "getDataEndpoint: no DataEndpoint in the answer");
        return CS_E_MALFORMED;
    }
    memcpy(c->data_endpoint, k + 1, (size_t)(e - k - 1));
    c->data_endpoint[e - k - 1] = '\0';
    /* A trailing '/' would double in the path. */
    size_t dl = strlen(c->data_endpoint);
    if (dl > 0 && c->data_endpoint[dl - 1] == '/') {
        c->data_endpoint[dl - 1] = '\0';
    }
    return CS_OK;
}

static const char *start_name(cs_start_type t)
{
    static const char *names[] = {"NOW",
                                  "EARLIEST",
                                  "FRAGMENT_NUMBER",
                                  "SERVER_TIMESTAMP",
                                  "PRODUCER_TIMESTAMP",
                                  "CONTINUATION_TOKEN"};
    return (unsigned)t < 6 ? names[t] : "NOW";
}

/* The body of the next getMedia: the configured selector first, then where to resume. */
static cs_status media_body(cs_consumer *c, char *path, size_t path_cap)
{
    char sel[512];
    char who[1200];
    size_t used;
    if (c->stream_arn[0]) {
        snprintf(who, sizeof(who), "\"StreamARN\":\"%s\"", c->stream_arn);
    } else {
        snprintf(who, sizeof(who), "\"StreamName\":\"%s\"", c->stream_name);
    }
    if (c->cfg.fragments != NULL) {
        snprintf(path, path_cap, "%s/getMediaForFragmentList", c->data_endpoint);
        used = (size_t)snprintf(c->body, sizeof(c->body), "{%s,\"Fragments\":[", who);
        for (size_t i = c->list_done; i < c->cfg.fragment_count; i++) {
            int n = snprintf(c->body + used, sizeof(c->body) - used, "%s\"%s\"",
                             i > c->list_done ? "," : "", c->cfg.fragments[i]);
            if (n < 0 || (size_t)n >= sizeof(c->body) - used) {
                set_error(c, "fragment list too long for one request");
                return CS_E_LIMIT;
            }
            used += (size_t)n;
        }
        if (used + 3 > sizeof(c->body)) {
            return CS_E_LIMIT;
        }
        memcpy(c->body + used, "]}", 3);
        return CS_OK;
    }
    snprintf(path, path_cap, "%s/getMedia", c->data_endpoint);
    if (c->last_token[0]) {
        snprintf(sel, sizeof(sel),
                 "{\"StartSelectorType\":\"CONTINUATION_TOKEN\",\"ContinuationToken\":\"%s\"}",
                 c->last_token);
    } else if (c->open_number[0]) {
        /* After the number just below the open fragment's: the server resumes at that fragment,
         * or, when it was never stored (seen live, then lost), at the first one above. */
        char below[CS_GM_NUMBER_MAX + 1];
        copy_in(below, sizeof(below), c->open_number);
        num_decrement(below);
        snprintf(sel, sizeof(sel),
                 "{\"StartSelectorType\":\"CONTINUATION_TOKEN\",\"ContinuationToken\":\"%s\"}",
                 below);
    } else {
        const cs_start_selector *s = &c->cfg.start;
        switch (s->type) {
        case CS_START_FRAGMENT_NUMBER:
            snprintf(sel, sizeof(sel),
                     "{\"StartSelectorType\":\"FRAGMENT_NUMBER\",\"AfterFragmentNumber\":\"%s\"}",
                     c->start_number);
            break;
        case CS_START_CONTINUATION_TOKEN:
            snprintf(sel, sizeof(sel),
                     "{\"StartSelectorType\":\"CONTINUATION_TOKEN\",\"ContinuationToken\":\"%s\"}",
                     c->start_token);
            break;
        case CS_START_SERVER_TIMESTAMP:
        case CS_START_PRODUCER_TIMESTAMP:
            snprintf(sel, sizeof(sel),
                     "{\"StartSelectorType\":\"%s\",\"StartTimestamp\":%llu.%03u}",
                     start_name(s->type), (unsigned long long)(s->timestamp_ms / 1000),
                     (unsigned)(s->timestamp_ms % 1000));
            break;
        default:
            snprintf(sel, sizeof(sel), "{\"StartSelectorType\":\"%s\"}", start_name(s->type));
            break;
        }
    }
    snprintf(c->body, sizeof(c->body), "{%s,\"StartSelector\":%s}", who, sel);
    return CS_OK;
}

static cs_status start_media(cs_consumer *c)
{
    char url[URL_MAX + 64];
    cs_status st = media_body(c, url, sizeof(url));
    if (st != CS_OK) {
        return st;
    }
    if ((st = build_headers(c, url, c->body, &c->headers)) != CS_OK) {
        return st;
    }
    c->err_len = 0;
    c->err_body[0] = '\0';
    c->error_type[0] = '\0';
    c->rx_len = c->rx_off = 0;
    c->easy = new_easy(c, url);
    if (c->easy == NULL) {
        end_request(c);
        return CS_E_NOMEM;
    }
    if (curl_multi_add_handle(c->multi, c->easy) != CURLM_OK) {
        end_request(c);
        return CS_E_NOMEM;
    }
    cs_gm_parser_reset(c->parser);
    c->skipping = false;
    c->resuming = false;
    c->running = true;
    c->done = false;
    c->req_bytes = 0;
    return CS_OK;
}

/* A client for `cfg`: the allocation, the region and the credentials (the config's, else the
 * environment's; none: unsigned). NULL on a bad field (*st CS_E_INVAL) or no memory. */
static cs_consumer *client_new(const cs_consumer_config *cfg, cs_status *st)
{
    const cs_allocator *a = cfg->allocator ? cfg->allocator : cs_allocator_default();
    const char *ak = cfg->access_key ? cfg->access_key : getenv("AWS_ACCESS_KEY_ID");
    const char *sk = cfg->secret_key ? cfg->secret_key : getenv("AWS_SECRET_ACCESS_KEY");
    const char *tok = cfg->access_key ? cfg->session_token : getenv("AWS_SESSION_TOKEN");
    cs_consumer *c = cs_calloc(a, 1, sizeof(*c));
    if (c == NULL) {
        *st = CS_E_NOMEM;
        return NULL;
    }
    c->cfg = *cfg;
    c->a = a;
    c->sign = ak != NULL && sk != NULL && ak[0] && sk[0];
    if (!copy_in(c->region, sizeof(c->region), cfg->region ? cfg->region : "us-east-1") ||
        (c->sign && (!copy_in(c->access_key, sizeof(c->access_key), ak) ||
                     !copy_in(c->secret_key, sizeof(c->secret_key), sk) ||
                     !copy_in(c->session_token, sizeof(c->session_token), tok)))) {
        cs_freep(a, &c);
        *st = CS_E_INVAL;
        return NULL;
    }
    *st = CS_OK;
    return c;
}

cs_status cs_consumer_open(const cs_consumer_config *cfg, cs_consumer **out)
{
    cs_consumer *c;
    cs_gm_parser_config pc;
    const cs_allocator *a;
    cs_status st;

    if (cfg == NULL || out == NULL || cfg->endpoint == NULL ||
        (cfg->stream_name == NULL && cfg->stream_arn == NULL) ||
        (cfg->fragments != NULL && cfg->fragment_count == 0)) {
        return CS_E_INVAL;
    }
    *out = NULL;
    c = client_new(cfg, &st);
    if (c == NULL) {
        return st;
    }
    a = c->a;
    if (!copy_in(c->stream_name, sizeof(c->stream_name), cfg->stream_name) ||
        !copy_in(c->stream_arn, sizeof(c->stream_arn), cfg->stream_arn) ||
        !copy_in(c->start_number, sizeof(c->start_number), cfg->start.fragment_number) ||
        !copy_in(c->start_token, sizeof(c->start_token), cfg->start.continuation_token) ||
        !json_safe(c->stream_name) || !json_safe(c->stream_arn) || !json_safe(c->start_number) ||
        !json_safe(c->start_token)) {
        cs_freep(a, &c);
        return CS_E_INVAL;
    }
    for (size_t i = 0; cfg->fragments != NULL && i < cfg->fragment_count; i++) {
        if (cfg->fragments[i] == NULL || !json_safe(cfg->fragments[i])) {
            cs_freep(a, &c);
            return CS_E_INVAL;
        }
    }
    c->cfg.fragments = cfg->fragments;
    if (cfg->resume_producer_ms_set) {
        /* what an earlier reader processed, as if this client had delivered it */
        c->last_complete_pts = cfg->resume_producer_ms;
        c->have_last_pts = true;
    }
    cs_gm_parser_config_init(&pc);
    pc.max_frame_bytes = cfg->max_frame_bytes ? cfg->max_frame_bytes : pc.max_frame_bytes;
    pc.allocator = a;
    if ((st = cs_gm_parser_create(&pc, &c->parser)) != CS_OK) {
        cs_freep(a, &c);
        return st;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
        (c->multi = curl_multi_init()) == NULL) {
        cs_consumer_close(&c);
        return CS_E_NOMEM;
    }
    if ((st = get_endpoint(c)) != CS_OK || (st = start_media(c)) != CS_OK) {
        /* keep the message for the caller: log it, since the object goes away */
        CS_LOG_ERROR(cfg->logger, MOD, "%s", c->error);
        cs_consumer_close(&c);
        return st;
    }
    *out = c;
    return CS_OK;
}

void cs_consumer_close(cs_consumer **cp)
{
    cs_consumer *c;
    if (cp == NULL || *cp == NULL) {
        return;
    }
    c = *cp;
    end_request(c);
    if (c->multi != NULL) {
        curl_multi_cleanup(c->multi);
        curl_global_cleanup();
    }
    cs_gm_parser_destroy(&c->parser);
    cs_sigv4_key_cache_clear(&c->keys);
    cs_freep(c->a, cp);
}

/* The exactly-once rule: decides whether an event reaches the caller. */
static bool deliver(cs_consumer *c, const cs_gm_event *ev)
{
    const cs_gm_fragment *f = ev->fragment;
    switch (ev->type) {
    case CS_GM_EV_FRAGMENT_START:
        c->skipping = false;
        c->resuming = false;
        if ((f->number[0] && c->last_complete[0] && numcmp(f->number, c->last_complete) <= 0) ||
            (f->has_producer_ms && c->have_last_pts && f->producer_ms <= c->last_complete_pts)) {
            c->skipping = true; /* delivered whole before the reconnect (maybe re-sent) */
            return false;
        }
        if (c->open_number[0] &&
            ((f->number[0] && strcmp(f->number, c->open_number) == 0) ||
             (f->has_producer_ms && c->have_open_pts && f->producer_ms == c->open_pts))) {
            copy_in(c->open_number, sizeof(c->open_number), f->number);
            c->resuming = true; /* delivered in part: its start was already reported */
            return false;
        }
        copy_in(c->open_number, sizeof(c->open_number), f->number);
        c->open_pts = f->producer_ms;
        c->have_open_pts = f->has_producer_ms;
        c->open_frames = 0;
        c->stats.fragments++;
        return true;
    case CS_GM_EV_FRAME:
        if (c->skipping || (c->resuming && ev->frame.index < c->open_frames)) {
            c->stats.skipped_frames++;
            return false;
        }
        c->open_frames++;
        c->stats.frames++;
        c->failures = 0; /* progress */
        return true;
    case CS_GM_EV_FRAGMENT_END:
        if (c->skipping) {
            c->skipping = false;
            return false;
        }
        if (!f->complete && c->running) {
            return false; /* cut: resume it after reconnecting */
        }
        copy_in(c->last_complete, sizeof(c->last_complete), f->number);
        if (f->has_producer_ms) {
            c->last_complete_pts = f->producer_ms;
            c->have_last_pts = true;
        }
        copy_in(c->last_token, sizeof(c->last_token),
                f->continuation_token[0] ? f->continuation_token : f->number);
        c->open_number[0] = '\0';
        c->open_frames = 0;
        c->resuming = false;
        if (c->cfg.fragments != NULL) {
            c->list_done++;
        }
        return true;
    default:
        return true;
    }
}

static cs_status finish_request(cs_consumer *c, CURLcode result, cs_gm_event *ev, bool *have_ev)
{
    long http = 0;
    char msg[300];
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &http);
    *have_ev = false;
    if (result == CURLE_OK && http != 200) {
        error_message(c, msg, sizeof(msg));
        set_error(c, "%s: HTTP %ld %s: %s",
                  c->cfg.fragments ? "getMediaForFragmentList" : "getMedia", http, c->error_type,
                  msg);
        end_request(c);
        /* A 5xx may pass; a 4xx will not. */
        return http >= 500 ? CS_AGAIN : status_of(http);
    }
    end_request(c);
    if (result == CURLE_OK) {
        /* A clean end: a fragment still open is whole. */
        if (cs_gm_parser_end(c->parser, ev) == CS_OK && ev->type == CS_GM_EV_FRAGMENT_END &&
            deliver(c, ev)) {
            *have_ev = true;
        }
        if (c->req_bytes > 0) {
            c->failures = 0; /* a clean end after data: not a failure */
        }
        if (c->cfg.fragments != NULL || !c->cfg.follow) {
            c->ended = c->cfg.fragments == NULL || c->list_done >= c->cfg.fragment_count ||
                       c->open_number[0] == '\0';
            if (c->ended) {
                return CS_OK;
            }
        }
        return CS_AGAIN; /* follow: ask again from the continuation token */
    }
    set_error(c, "connection lost: %s", curl_easy_strerror(result));
    return CS_AGAIN;
}

cs_status cs_consumer_next(cs_consumer *c, uint32_t timeout_ms, cs_gm_event *ev)
{
    const cs_clock *clk = cs_clock_system();
    uint64_t deadline = cs_clock_monotonic_ns(clk) + (uint64_t)timeout_ms * 1000000u;
    uint32_t backoff_ms = 100;

    if (c == NULL || ev == NULL) {
        return CS_E_INVAL;
    }
    for (;;) {
        uint64_t now;
        int still = 0, pending = 0;
        CURLMsg *m;
        /* 1. Events from bytes already here. */
        while (c->rx_off < c->rx_len) {
            size_t used = 0;
            cs_status st =
                cs_gm_parser_next(c->parser, c->rx + c->rx_off, c->rx_len - c->rx_off, &used, ev);
            c->rx_off += used;
            if (st != CS_OK) {
                uint64_t at = 0;
                const char *why = cs_gm_parser_error(c->parser, &at);
                set_error(c, "bad media stream at byte %llu: %s", (unsigned long long)at, why);
                return st;
            }
            if (ev->type == CS_GM_EV_NONE) {
                break;
            }
            if (deliver(c, ev)) {
                return CS_OK;
            }
        }
        c->rx_off = c->rx_len = 0;
        if (c->ended) {
            memset(ev, 0, sizeof(*ev));
            ev->type = CS_GM_EV_END;
            return CS_OK;
        }
        if (c->paused && c->easy != NULL) {
            c->paused = false;
            curl_easy_pause(c->easy, CURLPAUSE_CONT);
            continue; /* the paused bytes come again at once */
        }
        /* 2. The request finished: handle it once its bytes are parsed. */
        if (c->done) {
            bool have = false;
            cs_status st;
            c->done = false;
            st = finish_request(c, c->done_result, ev, &have);
            if (have) {
                return CS_OK;
            }
            if (st != CS_OK && st != CS_AGAIN) {
                return st;
            }
            continue;
        }
        /* 3. No request: start one (a reconnect), backing off after failures. */
        if (!c->running) {
            cs_status st;
            if (!c->cfg.reconnect || c->failures >= c->cfg.max_reconnects) {
                if (c->error[0] == '\0') {
                    set_error(c, "gave up after %u reconnects", c->failures);
                }
                return CS_E_NET;
            }
            if (c->failures > 0) {
                uint64_t left;
                now = cs_clock_monotonic_ns(clk);
                left = deadline > now ? (deadline - now) / 1000000u : 0;
                if (left == 0) {
                    return CS_E_TIMEOUT;
                }
                cs_clock_sleep_ns(clk,
                                  (uint64_t)(backoff_ms < left ? backoff_ms : left) * 1000000u);
                backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : backoff_ms;
            }
            c->failures++;
            c->stats.reconnects++;
            st = start_media(c);
            if (st != CS_OK) {
                return st;
            }
        }
        /* 4. Move bytes. */
        curl_multi_perform(c->multi, &still);
        while ((m = curl_multi_info_read(c->multi, &pending)) != NULL) {
            if (m->msg == CURLMSG_DONE && m->easy_handle == c->easy) {
                c->done = true;
                c->done_result = m->data.result;
            }
        }
        if (c->rx_off < c->rx_len || c->done) {
            continue;
        }
        now = cs_clock_monotonic_ns(clk);
        if (now >= deadline) {
            return CS_E_TIMEOUT;
        }
        {
            uint64_t left_ms = (deadline - now) / 1000000u;
            curl_multi_poll(c->multi, NULL, 0, (int)(left_ms < 100 ? left_ms + 1 : 100), NULL);
        }
    }
}

cs_status cs_kvs_call(const cs_consumer_config *cfg, const char *path, const char *json, char *out,
                      size_t cap, cs_kvs_result *res)
{
    cs_consumer *c;
    const cs_allocator *a;
    char url[URL_MAX];
    cs_status st;
    size_t n;

    if (cfg == NULL || cfg->endpoint == NULL || path == NULL || json == NULL || res == NULL ||
        (out == NULL && cap > 0) || strlen(json) >= BODY_MAX) {
        return CS_E_INVAL;
    }
    memset(res, 0, sizeof(*res));
    c = client_new(cfg, &st);
    if (c == NULL) {
        return st;
    }
    a = c->a;
    memcpy(c->body, json, strlen(json) + 1);
    snprintf(url, sizeof(url), "%s%s", cfg->endpoint, path);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    st = call_unary(c, url);
    if (st == CS_OK) {
        res->http_status = (int)c->http_status;
        snprintf(res->error_type, sizeof(res->error_type), "%s", c->error_type);
        res->body_len = strlen(c->err_body);
        if (cap > 0) {
            n = res->body_len < cap - 1 ? res->body_len : cap - 1;
            memcpy(out, c->err_body, n);
            out[n] = '\0';
        }
    }
    cs_sigv4_key_cache_clear(&c->keys);
    cs_freep(a, &c);
    curl_global_cleanup();
    return st;
}
