/* SPDX-License-Identifier: Apache-2.0 */
/* The producer: configuration, the choice of credentials, the transport (libcurl by default) and
 * the ONE I/O thread that drives every stream's control-plane calls and upload through it. The
 * thread loops: step each stream's state machine (session.c), then let the transport do I/O
 * until something happens, a wake-up comes (a frame, a flush, a destroy) or the earliest
 * deadline. Invariants: docs/internals/PRODUCER.md, section "I/O thread". */
#include <stdio.h>
#include <string.h>

#include "producer_int.h"

extern _Thread_local bool csi_on_io_thread;

void cs_producer_config_init(cs_producer_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    memset(cfg, 0, sizeof(*cfg));
    cfg->region = "us-east-1";
    cfg->use_environment = true;
    cfg->tls_verify = true;
    cfg->connect_timeout_ms = 5000;
    cfg->request_timeout_ms = 10000;
    cfg->stale_timeout_ms = 60000;
    cfg->backoff_initial_ms = 200;
    cfg->backoff_max_ms = 10000;
    cfg->endpoint_ttl_ms = 2700000;
}

uint64_t csi_producer_now(const cs_producer *p)
{
    return cs_clock_monotonic_ns(p->clock);
}

uint64_t csi_producer_random(cs_producer *p, uint64_t bound)
{
    /* xorshift64*: jitter only, not security */
    p->rng ^= p->rng >> 12;
    p->rng ^= p->rng << 25;
    p->rng ^= p->rng >> 27;
    if (bound == UINT64_MAX) {
        return p->rng * 2685821657736338717ull;
    }
    return (p->rng * 2685821657736338717ull) % (bound + 1);
}

void csi_producer_wake(cs_producer *p)
{
    if (p->tr != NULL) {
        p->tr->wakeup(p->tr->self);
    }
}

static void io_thread(void *arg)
{
    cs_producer *p = arg;
    const uint64_t max_wait = 1000000000ull;

    csi_on_io_thread = true;
    for (;;) {
        uint64_t now, next;
        cs_stream **pp;
        bool stop;

        cs_mutex_lock(&p->lock);
        stop = p->stop;
        now = csi_producer_now(p);
        next = now + max_wait;
        for (pp = &p->streams; *pp != NULL;) {
            cs_stream *s = *pp;
            if (s->closing || stop) {
                /* Let go: no handler of its call fires after cancel returns. */
                csi_session_close(s);
                *pp = s->next;
                s->closed = true;
                cs_cond_broadcast(&p->cond);
                continue;
            }
            uint64_t t = csi_session_step(s, now);
            if (t < next) {
                next = t;
            }
            pp = &s->next;
        }
        cs_mutex_unlock(&p->lock);
        if (stop) {
            break;
        }
        now = csi_producer_now(p);
        (void)p->tr->run(p->tr->self,
                         next > now ? (uint32_t)((next - now + 999999u) / 1000000u) : 0u);
    }
}

/* Copies the config's strings into one arena and points the copy at them. */
static cs_status copy_config(cs_producer *p, const cs_producer_config *cfg)
{
    const char **fields[8];
    size_t n = 0, total = 0, i;
    char *a;

    p->cfg = *cfg;
    fields[n++] = &p->cfg.endpoint;
    fields[n++] = &p->cfg.region;
    fields[n++] = &p->cfg.access_key;
    fields[n++] = &p->cfg.secret_key;
    fields[n++] = &p->cfg.session_token;
    fields[n++] = &p->cfg.credentials_file;
    fields[n++] = &p->cfg.profile;
    fields[n++] = &p->cfg.ca_path;
    for (i = 0; i < n; i++) {
        total += *fields[i] != NULL ? strlen(*fields[i]) + 1 : 0;
    }
    p->arena = cs_alloc(p->alloc, total + 1);
    if (p->arena == NULL) {
        return CS_E_NOMEM;
    }
    a = p->arena;
    for (i = 0; i < n; i++) {
        if (*fields[i] != NULL) {
            size_t l = strlen(*fields[i]) + 1;
            memcpy(a, *fields[i], l);
            *fields[i] = a;
            a += l;
        }
    }
    return CS_OK;
}

cs_status cs_producer_create(const cs_producer_config *cfg, cs_producer **out)
{
    cs_producer *p = NULL;
    const cs_allocator *alloc;
    cs_status st;
    bool lock = false, cond = false;

    if (out != NULL) {
        *out = NULL;
    }
    if (cfg == NULL || out == NULL || cfg->endpoint == NULL ||
        (strncmp(cfg->endpoint, "http://", 7) != 0 && strncmp(cfg->endpoint, "https://", 8) != 0) ||
        strlen(cfg->endpoint) <= 8 || strlen(cfg->endpoint) > CSI_URL_MAX - 32) {
        return CS_E_INVAL;
    }
    if ((cfg->access_key != NULL && strlen(cfg->access_key) > CS_CREDENTIALS_KEY_MAX) ||
        (cfg->secret_key != NULL && strlen(cfg->secret_key) > CS_CREDENTIALS_KEY_MAX) ||
        (cfg->session_token != NULL && strlen(cfg->session_token) > CS_CREDENTIALS_TOKEN_MAX)) {
        return CS_E_INVAL;
    }
    alloc = cfg->allocator != NULL ? cfg->allocator : cs_allocator_default();
    p = cs_calloc(alloc, 1, sizeof(*p));
    if (p == NULL) {
        return CS_E_NOMEM;
    }
    p->alloc = alloc;
    st = copy_config(p, cfg);
    if (st != CS_OK) {
        goto out;
    }
    p->cfg.allocator = alloc;
    if (p->cfg.region == NULL) {
        p->cfg.region = "us-east-1";
    }
    p->log = cfg->logger != NULL ? cfg->logger : cs_logger_default();
    p->clock = cfg->clock != NULL ? cfg->clock : cs_clock_system();
    if (p->cfg.backoff_initial_ms == 0) {
        p->cfg.backoff_initial_ms = 1;
    }
    if (p->cfg.backoff_max_ms < p->cfg.backoff_initial_ms) {
        p->cfg.backoff_max_ms = p->cfg.backoff_initial_ms;
    }
    if (cs_entropy_fill(&p->rng, sizeof(p->rng)) != CS_OK || p->rng == 0) {
        p->rng = 0x9E3779B97F4A7C15ull ^ cs_clock_monotonic_ns(NULL);
    }

    st = csi_producer_credentials_init(p);
    if (st != CS_OK) {
        goto out;
    }
    if (cfg->transport != NULL) {
        p->tr = cfg->transport;
    } else {
        cs_transport_curl_config tc;
        cs_transport_curl_config_init(&tc);
        tc.allocator = alloc;
        tc.logger = p->log;
        tc.ca_path = p->cfg.ca_path;
        tc.tls_verify = p->cfg.tls_verify;
        st = cs_transport_curl_create(&tc, &p->tr);
        if (st != CS_OK) {
            p->tr = NULL;
            goto out;
        }
        p->own_tr = true;
    }
    st = cs_mutex_init(&p->lock);
    if (st != CS_OK) {
        goto out;
    }
    lock = true;
    st = cs_cond_init(&p->cond);
    if (st != CS_OK) {
        goto out;
    }
    cond = true;
    st = cs_thread_create(&p->thread, io_thread, p, "cs-producer-io");
    if (st != CS_OK) {
        goto out;
    }
    p->thread_started = true;
    *out = p;
    p = NULL; /* the caller owns it */
out:
    if (p != NULL) {
        if (cond) {
            cs_cond_destroy(&p->cond);
        }
        if (lock) {
            cs_mutex_destroy(&p->lock);
        }
        if (p->own_tr && p->tr != NULL) {
            p->tr->destroy(p->tr->self);
        }
        csi_producer_credentials_free(p);
        cs_freep(alloc, &p->arena);
        cs_freep(alloc, &p);
    }
    return st;
}

void cs_producer_destroy(cs_producer **pp)
{
    cs_producer *p;
    const cs_allocator *alloc;

    if (pp == NULL || *pp == NULL) {
        return;
    }
    p = *pp;
    *pp = NULL;
    /* Streams still open are destroyed first, as cs_stream_destroy() would. */
    for (;;) {
        cs_stream *s;
        cs_mutex_lock(&p->lock);
        s = p->streams;
        while (s != NULL && s->closing) {
            s = s->next;
        }
        cs_mutex_unlock(&p->lock);
        if (s == NULL) {
            break;
        }
        cs_stream_destroy(&s);
    }
    cs_mutex_lock(&p->lock);
    p->stop = true;
    cs_mutex_unlock(&p->lock);
    csi_producer_wake(p);
    if (p->thread_started) {
        (void)cs_thread_join(&p->thread);
    }
    alloc = p->alloc;
    cs_cond_destroy(&p->cond);
    cs_mutex_destroy(&p->lock);
    if (p->own_tr) {
        p->tr->destroy(p->tr->self);
    }
    csi_producer_credentials_free(p);
    cs_freep(alloc, &p->arena);
    cs_freep(alloc, &p);
}

/* ---------------------------------------------------------------------------------------------- */
/* Credentials and signing                                                                        */
/* ---------------------------------------------------------------------------------------------- */

cs_status csi_producer_credentials_init(cs_producer *p)
{
    return csi_creds_init(&p->creds, &p->cfg);
}

void csi_producer_credentials_free(cs_producer *p)
{
    csi_creds_clear(&p->creds);
}

cs_status csi_producer_sign(cs_producer *p, struct csi_session *ss)
{
    const cs_credentials *cr = NULL;
    uint64_t wall = cs_clock_wall_ns(p->clock);
    size_t n = 0, i;
    cs_status st;

    st = csi_creds_get(&p->creds, wall, &cr);
    if (st != CS_OK) {
        return CS_E_AUTH;
    }
    st = csi_sign_request(cr, p->cfg.region, "kinesisvideo", ss->req.method, ss->req.url, ss->hdrs,
                          ss->hdr_count, ss->req.body, ss->req.body_len, ss->req.streaming_body,
                          wall, &ss->sh);
    if (st != CS_OK) {
        return st;
    }
    for (i = 0; i < ss->hdr_count; i++) {
        ss->all_hdrs[n++] = ss->hdrs[i];
    }
    for (i = 0; i < ss->sh.count; i++) {
        ss->all_hdrs[n++] = ss->sh.h[i];
    }
    ss->req.headers = ss->all_hdrs;
    ss->req.header_count = n;
    return CS_OK;
}
