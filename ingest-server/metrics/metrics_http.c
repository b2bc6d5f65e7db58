/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GET /metrics (metrics_http.h): renders the registry on the loop thread (a few KiB of text, no
 * I/O, no lock) into a buffer sized by a first counting pass, and answers in one response.
 */
#define _POSIX_C_SOURCE 200809L
#include "metrics_http.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct cs_metrics_route {
    cs_metrics *m;
    char *token; /* NULL: open */
};

/* Compares in time independent of where the strings differ (the token is a secret). */
static bool same(const char *given, const char *token)
{
    size_t lg = strlen(given), lt = strlen(token);
    unsigned d = lg != lt;
    for (size_t i = 0; i < lt; i++) {
        d |= (unsigned)(unsigned char)token[i] ^ (unsigned)(unsigned char)(i < lg ? given[i] : 0);
    }
    return d == 0;
}

static void on_request(cs_http_stream *s, void *user)
{
    const struct cs_metrics_route *rt = user;
    static const char prefix[] = "Bearer ";
    size_t n;
    char *text;
    cs_metrics_request(rt->m, "/metrics");
    if (rt->token != NULL) {
        const char *auth = cs_http_stream_header(s, "authorization");
        if (auth == NULL || strncmp(auth, prefix, sizeof(prefix) - 1) != 0 ||
            !same(auth + sizeof(prefix) - 1, rt->token)) {
            cs_http_header h[2] = {{"content-type", "text/plain; charset=utf-8"},
                                   {"www-authenticate", "Bearer realm=\"camstream metrics\""}};
            static const char body[] = "401 Unauthorized: send Authorization: Bearer <token>\n";
            if (cs_http_stream_respond(s, 401, h, 2, (int64_t)(sizeof(body) - 1)) == CS_OK) {
                cs_http_stream_write(s, body, sizeof(body) - 1);
                cs_http_stream_finish(s);
            }
            return;
        }
    }
    /* Counters may grow between the sizing pass and the writing pass: leave room for that. */
    n = cs_metrics_render(rt->m, NULL, 0) + 1024;
    text = malloc(n);
    if (text == NULL) {
        cs_http_stream_respond_simple(s, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    cs_metrics_render(rt->m, text, n);
    cs_http_stream_respond_simple(s, 200, "text/plain; version=0.0.4; charset=utf-8", text,
                                  strlen(text));
    free(text);
}

cs_status cs_metrics_add_route(cs_metrics *m, cs_http_server *srv, const char *bearer_token,
                               cs_metrics_route **out)
{
    cs_metrics_route *rt;
    cs_http_route r;
    cs_status st;
    if (m == NULL || srv == NULL || out == NULL) {
        return CS_E_INVAL;
    }
    *out = NULL;
    rt = calloc(1, sizeof(*rt));
    if (rt == NULL) {
        return CS_E_NOMEM;
    }
    rt->m = m;
    if (bearer_token != NULL && bearer_token[0] != '\0' &&
        (rt->token = strdup(bearer_token)) == NULL) {
        free(rt);
        return CS_E_NOMEM;
    }
    memset(&r, 0, sizeof(r));
    r.method = "GET";
    r.path = "/metrics";
    r.on_request = on_request;
    r.user = rt;
    st = cs_http_server_add_route(srv, &r);
    if (st != CS_OK) {
        cs_metrics_route_destroy(&rt);
        return st;
    }
    *out = rt;
    return CS_OK;
}

void cs_metrics_route_destroy(cs_metrics_route **r)
{
    if (r == NULL || *r == NULL) {
        return;
    }
    free((*r)->token);
    free(*r);
    *r = NULL;
}
