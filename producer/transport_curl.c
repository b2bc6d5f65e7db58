/* SPDX-License-Identifier: Apache-2.0 */
/* The default transport: libcurl's multi interface driven by the producer's one I/O thread.
 * Each call is a pooled slot with its curl easy handle, made at first use (up to max_calls) and
 * reused after the call ends, so steady-state streaming allocates nothing here. Streaming bodies
 * are pulled through the read callback (CURL_READFUNC_PAUSE when the producer has nothing,
 * curl_easy_pause(CONT) on resume) as a chunked POST on HTTP/1.1 or DATA frames on HTTP/2, while
 * the response comes back through the write callback (full duplex). Builds without libcurl
 * (CS_HAVE_CURL 0) only answer CS_E_UNSUPPORTED. Invariants: docs/internals/PRODUCER.md, section
 * "Transport, credentials, signing". */
#include <string.h>

#include "transport_curl.h"

void cs_transport_curl_config_init(cs_transport_curl_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    memset(cfg, 0, sizeof(*cfg));
    cfg->tls_verify = true;
    cfg->http2 = true;
    cfg->max_calls = 64;
}

#if !CS_HAVE_CURL

cs_status cs_transport_curl_create(const cs_transport_curl_config *cfg, cs_transport **out)
{
    (void)cfg;
    if (out != NULL) {
        *out = NULL;
    }
    return CS_E_UNSUPPORTED;
}

cs_status csi_transport_curl_stats_get(const cs_transport *t, csi_transport_curl_stats *out)
{
    (void)t;
    (void)out;
    return CS_E_UNSUPPORTED;
}

#else /* CS_HAVE_CURL */

#include <curl/curl.h>

#define MOD "transport"
/* curl's receive buffer per easy handle: what comes back is small (JSON answers, ack events of
 * ~100 bytes) and is parsed as it streams, so 2 KB instead of curl's 16 KB default (14 KB less
 * heap per handle; curl's minimum is 1 KB). The upload buffer: curl's minimum, 16 KB. */
#define TC_RECV_BUFFER_SIZE 2048L
#define TC_UPLOAD_BUFFER_SIZE 16384L
/* Connect timeout when the request gives none. */
#define TC_DEFAULT_CONNECT_MS 10000L

struct tc;

struct cs_transport_call {
    struct tc *t;
    CURL *easy;
    bool in_use;            /* between start and release */
    bool in_multi;          /* added to the multi handle */
    bool cancelled;         /* cancel() ran: no handler fires; released once out of curl */
    bool want_add;          /* start() inside a curl callback: added after curl_multi_perform */
    bool want_resume;       /* resume() inside a curl callback: unpaused after curl_multi_perform */
    bool paused;            /* the read callback answered CURL_READFUNC_PAUSE */
    bool status_sent;       /* on_status fired */
    cs_status abort_status; /* a handler's non-OK answer: reported by on_done */
    int http_status;
    cs_transport_handlers h;
    struct curl_slist *slist; /* nodes and their text live in hblock */
    char *hblock;
    size_t hcap;
    char err[CURL_ERROR_SIZE];
};

struct tc {
    cs_transport iface; /* first: cs_transport_curl_create() hands out its address */
    const cs_allocator *alloc;
    const cs_logger *log;
    CURLM *multi;
    bool tls_verify;
    bool http2;
    char *ca_path; /* copies (in `strings`) */
    char *user_agent;
    char *strings;
    uint32_t max_calls;
    struct cs_transport_call **calls; /* max_calls pointers; the first n_calls made */
    size_t n_calls;
    int in_curl;   /* > 0 while inside curl_multi_perform (curl callbacks may run) */
    bool fired;    /* a handler ran during this run() */
    bool deferred; /* some call has want_add, want_resume, or cancelled while in_multi */
    csi_transport_curl_stats stats;
};

static cs_status tc_start(void *self, const cs_transport_request *req,
                          const cs_transport_handlers *h, cs_transport_call **out);

/* ---------------------------------------------------------------------------------------------- */
/* curl callbacks                                                                                 */
/* ---------------------------------------------------------------------------------------------- */

/* The final response's headers are complete: fire on_status once. Returns false to abort. */
static bool status_arrived(struct cs_transport_call *c)
{
    long code = 0;
    long ver = 0;
    cs_status st = CS_OK;

    (void)curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 100 && code < 200) {
        return true; /* an interim response; the final one follows */
    }
    c->status_sent = true;
    c->http_status = (int)code;
    (void)curl_easy_getinfo(c->easy, CURLINFO_HTTP_VERSION, &ver);
    switch (ver) {
    case CURL_HTTP_VERSION_1_0:
        c->t->stats.last_http_version = 10;
        break;
    case CURL_HTTP_VERSION_1_1:
        c->t->stats.last_http_version = 11;
        break;
    case CURL_HTTP_VERSION_2_0:
        c->t->stats.last_http_version = 20;
        break;
    case CURL_HTTP_VERSION_3:
        c->t->stats.last_http_version = 30;
        break;
    default:
        c->t->stats.last_http_version = 0;
        break;
    }
    if (c->h.on_status != NULL) {
        c->t->fired = true;
        st = c->h.on_status(c->h.ctx, c->http_status);
    }
    if (st != CS_OK) {
        c->abort_status = st;
        return false;
    }
    return true;
}

static size_t header_cb(char *buf, size_t size, size_t n, void *userp)
{
    struct cs_transport_call *c = userp;
    size_t len = size * n;

    if (c->cancelled || c->abort_status != CS_OK) {
        return 0;
    }
    if (!c->status_sent &&
        ((len == 2 && buf[0] == '\r' && buf[1] == '\n') || (len == 1 && buf[0] == '\n'))) {
        return status_arrived(c) ? len : 0;
    }
    return len;
}

static size_t write_cb(char *ptr, size_t size, size_t n, void *userp)
{
    struct cs_transport_call *c = userp;
    size_t len = size * n;
    cs_status st = CS_OK;

    if (c->cancelled || c->abort_status != CS_OK) {
        return 0;
    }
    if (!c->status_sent && !status_arrived(c)) {
        return 0;
    }
    if (len > 0 && c->h.on_data != NULL) {
        c->t->fired = true;
        st = c->h.on_data(c->h.ctx, (const uint8_t *)ptr, len);
    }
    if (st != CS_OK || c->cancelled) {
        if (st != CS_OK) {
            c->abort_status = st;
        }
        return 0;
    }
    c->t->stats.bytes_received += len;
    return len;
}

static size_t read_cb(char *buf, size_t size, size_t n, void *userp)
{
    struct cs_transport_call *c = userp;
    size_t cap = size * n, got;
    bool pause = false;

    if (c->cancelled || c->abort_status != CS_OK) {
        return CURL_READFUNC_ABORT;
    }
    c->t->fired = true;
    got = c->h.read_body(c->h.ctx, (uint8_t *)buf, cap, &pause);
    if (c->cancelled) {
        return CURL_READFUNC_ABORT;
    }
    if (got > cap) {
        c->abort_status = CS_E_INTERNAL;
        return CURL_READFUNC_ABORT;
    }
    if (got > 0) {
        c->t->stats.bytes_sent += got;
        return got;
    }
    if (pause) {
        c->paused = true;
        return CURL_READFUNC_PAUSE;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Calls                                                                                          */
/* ---------------------------------------------------------------------------------------------- */

/* Takes a call out of curl (it must not be inside a curl callback) and returns it to the pool. */
static void release(struct tc *t, struct cs_transport_call *c)
{
    if (c->in_multi) {
        (void)curl_multi_remove_handle(t->multi, c->easy);
        c->in_multi = false;
    }
    c->in_use = false;
    c->cancelled = false;
    c->want_add = false;
    c->want_resume = false;
    c->paused = false;
    memset(&c->h, 0, sizeof(c->h));
}

static cs_status map_result(CURLcode res)
{
    switch (res) {
    case CURLE_OK:
        return CS_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return CS_E_TIMEOUT;
    case CURLE_OUT_OF_MEMORY:
        return CS_E_NOMEM;
    default:
        return CS_E_NET;
    }
}

/* A call curl finished: report it (unless cancelled) after returning it to the pool. */
static void finish(struct tc *t, struct cs_transport_call *c, CURLcode res)
{
    cs_transport_handlers h = c->h;
    bool report = !c->cancelled;
    int http = c->status_sent ? c->http_status : 0;
    cs_status st = c->abort_status != CS_OK ? c->abort_status : map_result(res);

    if (report && res != CURLE_OK) {
        CS_LOG_DEBUG(t->log, MOD, "call ended: %s (%s)", curl_easy_strerror(res), c->err);
    }
    release(t, c);
    if (report && h.on_done != NULL) {
        t->fired = true;
        h.on_done(h.ctx, st, http);
    }
}

/* Adds, unpauses and removes what callbacks asked for while curl was running. */
static void run_deferred(struct tc *t)
{
    if (!t->deferred) {
        return;
    }
    t->deferred = false;
    for (size_t i = 0; i < t->n_calls; i++) {
        struct cs_transport_call *c = t->calls[i];
        if (!c->in_use) {
            continue;
        }
        if (c->cancelled) {
            release(t, c);
            continue;
        }
        if (c->want_add) {
            c->want_add = false;
            if (curl_multi_add_handle(t->multi, c->easy) == CURLM_OK) {
                c->in_multi = true;
            } else {
                /* Reported like any failed call, from this run(). */
                finish(t, c, CURLE_OUT_OF_MEMORY);
                continue;
            }
        }
        if (c->want_resume) {
            c->want_resume = false;
            c->paused = false;
            (void)curl_easy_pause(c->easy, CURLPAUSE_CONT);
        }
    }
}

/* Builds the curl_slist of `req`'s headers (plus the removals) inside the call's block. */
static cs_status build_headers(struct tc *t, struct cs_transport_call *c,
                               const cs_transport_request *req)
{
    static const char *const removals[] = {"Expect:", "Content-Type:"};
    size_t nodes = req->header_count + 2, text = 0, need, used;
    bool have_ct = false;
    struct curl_slist *node, *prev = NULL;
    char *p;

    for (size_t i = 0; i < req->header_count; i++) {
        const cs_transport_header *hd = &req->headers[i];
        size_t nl, vl;
        if (hd->name == NULL || hd->value == NULL) {
            return CS_E_INVAL;
        }
        nl = strlen(hd->name);
        vl = strlen(hd->value);
        if (nl == 0 || strpbrk(hd->name, "\r\n:") != NULL || strpbrk(hd->value, "\r\n") != NULL) {
            return CS_E_INVAL;
        }
        if (nl == 12 && strncasecmp(hd->name, "content-type", 12) == 0) {
            have_ct = true;
        }
        text += nl + vl + 3; /* ": " and a NUL, or ";" and a NUL for an empty value */
    }
    text += 8 + 14;
    need = nodes * sizeof(struct curl_slist) + text;
    if (need > c->hcap) {
        char *nb = cs_alloc(t->alloc, need);
        if (nb == NULL) {
            return CS_E_NOMEM;
        }
        cs_freep(t->alloc, &c->hblock);
        c->hblock = nb;
        c->hcap = need;
    }
    node = (struct curl_slist *)(void *)c->hblock;
    p = c->hblock + nodes * sizeof(struct curl_slist);
    used = 0;
    c->slist = NULL;
    for (size_t i = 0; i < req->header_count + 2; i++) {
        size_t w;
        if (i < req->header_count) {
            const cs_transport_header *hd = &req->headers[i];
            size_t nl = strlen(hd->name), vl = strlen(hd->value);
            memcpy(p, hd->name, nl);
            if (vl == 0) {
                p[nl] = ';'; /* curl's way to send an empty header ("Name:" removes one) */
                w = nl + 1;
            } else {
                p[nl] = ':';
                p[nl + 1] = ' ';
                memcpy(p + nl + 2, hd->value, vl);
                w = nl + 2 + vl;
            }
        } else {
            const char *r = removals[i - req->header_count];
            if (i - req->header_count == 1 && have_ct) {
                continue;
            }
            w = strlen(r);
            memcpy(p, r, w);
        }
        p[w] = '\0';
        node[used].data = p;
        node[used].next = NULL;
        if (prev != NULL) {
            prev->next = &node[used];
        } else {
            c->slist = &node[used];
        }
        prev = &node[used];
        used++;
        p += w + 1;
    }
    return CS_OK;
}

static bool is_https(const char *url)
{
    return strncasecmp(url, "https://", 8) == 0;
}

static cs_status setup(struct tc *t, struct cs_transport_call *c, const cs_transport_request *req)
{
    CURL *e = c->easy;
    CURLcode rc = CURLE_OK;
    long connect_ms =
        req->connect_timeout_ms > 0 ? (long)req->connect_timeout_ms : TC_DEFAULT_CONNECT_MS;
    cs_status st;

    curl_easy_reset(e);
    st = build_headers(t, c, req);
    if (st != CS_OK) {
        return st;
    }
    c->err[0] = '\0';
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK) {                                                                      \
            rc = curl_easy_setopt(e, opt, val);                                                    \
        }                                                                                          \
    } while (0)
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_PRIVATE, (void *)c);
    SET(CURLOPT_ERRORBUFFER, c->err);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_BUFFERSIZE, TC_RECV_BUFFER_SIZE);
    SET(CURLOPT_HTTPHEADER, c->slist);
    SET(CURLOPT_USERAGENT, t->user_agent);
    SET(CURLOPT_HEADERFUNCTION, header_cb);
    SET(CURLOPT_HEADERDATA, (void *)c);
    SET(CURLOPT_WRITEFUNCTION, write_cb);
    SET(CURLOPT_WRITEDATA, (void *)c);
    SET(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    if (req->timeout_ms > 0) {
        SET(CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    }
    /* A paused upload sends nothing for as long as the camera has nothing: never "too slow". */
    SET(CURLOPT_LOW_SPEED_LIMIT, 0L);
    SET(CURLOPT_LOW_SPEED_TIME, 0L);
    SET(CURLOPT_HTTP_VERSION, (t->http2 && is_https(req->url)) ? (long)CURL_HTTP_VERSION_2TLS
                                                               : (long)CURL_HTTP_VERSION_1_1);
    if (t->ca_path != NULL) {
        SET(CURLOPT_CAINFO, t->ca_path);
    }
    SET(CURLOPT_SSL_VERIFYPEER, t->tls_verify ? 1L : 0L);
    SET(CURLOPT_SSL_VERIFYHOST, t->tls_verify ? 2L : 0L);
    if (strcmp(req->method, "GET") == 0) {
        SET(CURLOPT_HTTPGET, 1L);
    } else {
        SET(CURLOPT_POST, 1L);
        if (strcmp(req->method, "POST") != 0) {
            SET(CURLOPT_CUSTOMREQUEST, req->method);
        }
        if (req->streaming_body) {
            /* Unknown length: chunked on HTTP/1.1, DATA frames on HTTP/2. */
            SET(CURLOPT_UPLOAD_BUFFERSIZE, TC_UPLOAD_BUFFER_SIZE);
            SET(CURLOPT_READFUNCTION, read_cb);
            SET(CURLOPT_READDATA, (void *)c);
            SET(CURLOPT_POSTFIELDSIZE, -1L);
        } else {
            /* Borrowed until on_done (POSTFIELDS does not copy). */
            SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
            SET(CURLOPT_POSTFIELDS, req->body != NULL ? (const char *)req->body : "");
        }
    }
#undef SET
    if (rc != CURLE_OK) {
        CS_LOG_WARN(t->log, MOD, "curl_easy_setopt: %s", curl_easy_strerror(rc));
        return rc == CURLE_OUT_OF_MEMORY ? CS_E_NOMEM : CS_E_UNSUPPORTED;
    }
    return CS_OK;
}

static cs_status tc_start(void *self, const cs_transport_request *req,
                          const cs_transport_handlers *h, cs_transport_call **out)
{
    struct tc *t = self;
    struct cs_transport_call *c = NULL;
    cs_status st;

    if (out != NULL) {
        *out = NULL;
    }
    if (t == NULL || req == NULL || h == NULL || out == NULL || req->url == NULL ||
        req->method == NULL || (req->headers == NULL && req->header_count > 0) ||
        (req->streaming_body && h->read_body == NULL) ||
        (!req->streaming_body && req->body == NULL && req->body_len > 0)) {
        return CS_E_INVAL;
    }
    for (size_t i = 0; i < t->n_calls; i++) {
        if (!t->calls[i]->in_use) {
            c = t->calls[i];
            break;
        }
    }
    if (c == NULL) {
        if (t->n_calls >= t->max_calls) {
            return CS_E_LIMIT;
        }
        c = cs_calloc(t->alloc, 1, sizeof(*c));
        if (c == NULL) {
            return CS_E_NOMEM;
        }
        c->t = t;
        c->easy = curl_easy_init();
        if (c->easy == NULL) {
            cs_freep(t->alloc, &c);
            return CS_E_NOMEM;
        }
        t->calls[t->n_calls++] = c;
        t->stats.calls_allocated = t->n_calls;
    }
    st = setup(t, c, req);
    if (st != CS_OK) {
        return st;
    }
    c->h = *h;
    c->status_sent = false;
    c->abort_status = CS_OK;
    c->http_status = 0;
    c->paused = false;
    c->cancelled = false;
    c->want_resume = false;
    c->in_use = true;
    if (t->in_curl > 0) {
        c->want_add = true; /* curl refuses to add a handle from inside its callbacks */
        t->deferred = true;
    } else {
        CURLMcode mc = curl_multi_add_handle(t->multi, c->easy);
        if (mc != CURLM_OK) {
            c->in_use = false;
            return mc == CURLM_OUT_OF_MEMORY ? CS_E_NOMEM : CS_E_INTERNAL;
        }
        c->in_multi = true;
    }
    t->stats.calls_started++;
    *out = c;
    return CS_OK;
}

static void tc_resume(void *self, cs_transport_call *call)
{
    struct tc *t = self;

    if (t == NULL || call == NULL || !call->in_use || call->cancelled) {
        return;
    }
    if (t->in_curl > 0 || call->want_add) {
        call->want_resume = true;
        t->deferred = true;
        return;
    }
    if (call->paused) {
        call->paused = false;
        (void)curl_easy_pause(call->easy, CURLPAUSE_CONT);
    }
}

static void tc_cancel(void *self, cs_transport_call *call)
{
    struct tc *t = self;

    if (t == NULL || call == NULL || !call->in_use) {
        return;
    }
    call->cancelled = true; /* from now on no handler of it fires */
    if (t->in_curl > 0) {
        t->deferred = true; /* curl refuses to remove a handle from inside its callbacks */
        return;
    }
    release(t, call);
}

/* One pass: let curl do what it can, then the deferred work, then report finished calls. */
static cs_status step(struct tc *t)
{
    int running = 0, queued = 0;
    CURLMcode mc;
    CURLMsg *msg;

    t->in_curl++;
    mc = curl_multi_perform(t->multi, &running);
    t->in_curl--;
    run_deferred(t);
    while ((msg = curl_multi_info_read(t->multi, &queued)) != NULL) {
        struct cs_transport_call *c = NULL;
        CURLcode res;
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        res = msg->data.result;
        (void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)(void *)&c);
        if (c != NULL && c->in_use) {
            finish(t, c, res);
        }
    }
    run_deferred(t);
    if (mc != CURLM_OK) {
        CS_LOG_WARN(t->log, MOD, "curl_multi_perform: %s", curl_multi_strerror(mc));
        return mc == CURLM_OUT_OF_MEMORY ? CS_E_NOMEM : CS_E_INTERNAL;
    }
    return CS_OK;
}

static cs_status tc_run(void *self, uint32_t timeout_ms)
{
    struct tc *t = self;
    cs_status st;
    int numfds = 0;
    CURLMcode mc;

    if (t == NULL) {
        return CS_E_INVAL;
    }
    t->fired = false;
    st = step(t);
    if (st != CS_OK || t->fired) {
        return st;
    }
    mc = curl_multi_poll(t->multi, NULL, 0,
                         timeout_ms > (uint32_t)INT32_MAX ? INT32_MAX : (int)timeout_ms, &numfds);
    if (mc != CURLM_OK) {
        CS_LOG_WARN(t->log, MOD, "curl_multi_poll: %s", curl_multi_strerror(mc));
        return CS_E_INTERNAL;
    }
    return step(t);
}

static void tc_wakeup(void *self)
{
    struct tc *t = self;
    if (t != NULL) {
        (void)curl_multi_wakeup(t->multi);
    }
}

static void tc_destroy(void *self)
{
    struct tc *t = self;
    const cs_allocator *alloc;

    if (t == NULL) {
        return;
    }
    alloc = t->alloc;
    for (size_t i = 0; i < t->n_calls; i++) {
        struct cs_transport_call *c = t->calls[i];
        if (c->in_multi) {
            (void)curl_multi_remove_handle(t->multi, c->easy);
        }
        curl_easy_cleanup(c->easy);
        cs_freep(alloc, &c->hblock);
        cs_freep(alloc, &c);
    }
    if (t->multi != NULL) {
        (void)curl_multi_cleanup(t->multi);
    }
    cs_freep(alloc, &t->calls);
    cs_freep(alloc, &t->strings);
    cs_freep(alloc, &t);
    curl_global_cleanup();
}

cs_status cs_transport_curl_create(const cs_transport_curl_config *cfg, cs_transport **out)
{
    const cs_allocator *alloc;
    struct tc *t = NULL;
    const char *ua;
    size_t ca_len, ua_len, total;
    bool global = false;
    cs_status st = CS_OK;

    if (out != NULL) {
        *out = NULL;
    }
    if (cfg == NULL || out == NULL) {
        return CS_E_INVAL;
    }
    alloc = cfg->allocator != NULL ? cfg->allocator : cs_allocator_default();
    ua = cfg->user_agent != NULL ? cfg->user_agent : "camstream-producer/" CS_VERSION_STRING;
    ca_len = cfg->ca_path != NULL ? strlen(cfg->ca_path) + 1 : 0;
    ua_len = strlen(ua) + 1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return CS_E_INTERNAL;
    }
    global = true;
    t = cs_calloc(alloc, 1, sizeof(*t));
    if (t == NULL) {
        st = CS_E_NOMEM;
        goto out;
    }
    t->alloc = alloc;
    t->log = cfg->logger != NULL ? cfg->logger : cs_logger_default();
    t->tls_verify = cfg->tls_verify;
    t->http2 = cfg->http2;
    t->max_calls = cfg->max_calls > 0 ? cfg->max_calls : 64;
    total = ca_len + ua_len;
    t->strings = cs_alloc(alloc, total);
    t->calls = cs_calloc(alloc, t->max_calls, sizeof(*t->calls));
    if (t->strings == NULL || t->calls == NULL) {
        st = CS_E_NOMEM;
        goto out;
    }
    t->user_agent = t->strings;
    memcpy(t->user_agent, ua, ua_len);
    if (ca_len > 0) {
        t->ca_path = t->strings + ua_len;
        memcpy(t->ca_path, cfg->ca_path, ca_len);
    }
    t->multi = curl_multi_init();
    if (t->multi == NULL) {
        st = CS_E_NOMEM;
        goto out;
    }
    t->iface.self = t;
    t->iface.start = tc_start;
    t->iface.resume = tc_resume;
    t->iface.cancel = tc_cancel;
    t->iface.run = tc_run;
    t->iface.wakeup = tc_wakeup;
    t->iface.destroy = tc_destroy;
    *out = &t->iface;
    t = NULL; /* the caller owns it */
    global = false;
out:
    if (t != NULL) {
        if (t->multi != NULL) {
            (void)curl_multi_cleanup(t->multi);
        }
        cs_freep(alloc, &t->calls);
        cs_freep(alloc, &t->strings);
        cs_freep(alloc, &t);
    }
    if (global) {
        curl_global_cleanup();
    }
    return st;
}

cs_status csi_transport_curl_stats_get(const cs_transport *t, csi_transport_curl_stats *out)
{
    const struct tc *tc;

    if (t == NULL || out == NULL || t->start != tc_start) {
        return CS_E_INVAL;
    }
    tc = t->self;
    *out = tc->stats;
    return CS_OK;
}

#endif /* CS_HAVE_CURL */
