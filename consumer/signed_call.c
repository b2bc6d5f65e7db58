/* SPDX-License-Identifier: Apache-2.0 */
/* The signed JSON POST the consumer SDK's libcurl clients share (signed_call.h). */
#define _POSIX_C_SOURCE 200809L
#include "signed_call.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

bool csi_split_url(const char *url, char *host, size_t host_cap, const char **path)
{
    const char *p = strstr(url, "://");
    size_t n;
    if (p == NULL) {
        return false;
    }
    p += 3;
    n = strcspn(p, "/");
    if (n == 0 || n >= host_cap) {
        return false;
    }
    memcpy(host, p, n);
    host[n] = '\0';
    *path = p + n;
    return true;
}

/* Appends `line`; on no memory the list stays as it was (csi_signed_headers() checks it). */
static struct curl_slist *add(struct curl_slist *h, const char *line)
{
    struct curl_slist *t = curl_slist_append(h, line);
    return t != NULL ? t : h;
}

cs_status csi_signed_headers(const struct csi_signer *k, const struct csi_signed_post *p,
                             struct curl_slist **out, char *err, size_t err_cap)
{
    char host[512], line[2400], auth[700];
    const char *path;
    struct curl_slist *h = NULL;
    size_t n_signed = p->target != NULL ? 3 : 2; /* x-amz-target is signed when sent */

    if (!csi_split_url(p->url, host, sizeof(host), &path)) {
        snprintf(err, err_cap, "not an http:// or https:// URL: %s", p->url);
        return CS_E_INVAL;
    }
    if (p->path != NULL) {
        path = p->path;
    }
    snprintf(line, sizeof(line), "Host: %s", host);
    h = add(h, line);
    snprintf(line, sizeof(line), "Content-Type: %s", p->content_type);
    h = add(h, line);
    if (p->target != NULL) {
        snprintf(line, sizeof(line), "X-Amz-Target: %s", p->target);
        h = add(h, line);
    }
    h = add(h, "Expect:");
    if (k->sign) {
        const char *tok = k->session_token != NULL && k->session_token[0] ? k->session_token : NULL;
        cs_sigv4_sign_config sc;
        cs_sigv4_signature sig;
        cs_sigv4_header hdrs[3] = {
            {"host", 4, host, strlen(host)},
            {"content-type", 12, p->content_type, strlen(p->content_type)},
            {"x-amz-target", 12, p->target, p->target != NULL ? strlen(p->target) : 0}};
        cs_sigv4_request req = {.method = "POST",
                                .method_len = 4,
                                .path = path,
                                .path_len = strlen(path),
                                .headers = hdrs,
                                .header_count = n_signed,
                                .body = p->body,
                                .body_len = strlen(p->body)};
        cs_status st;
        cs_sigv4_sign_config_init(&sc);
        sc.region = k->region;
        sc.service = k->service;
        sc.access_key = k->access_key;
        sc.secret_key = k->secret_key;
        sc.session_token = tok;
        sc.cache = k->cache;
        st = cs_sigv4_sign(&sc, &req, auth, sizeof(auth), NULL, &sig);
        if (st != CS_OK) {
            snprintf(err, err_cap, "cannot sign the request: %s", cs_status_str(st));
            curl_slist_free_all(h);
            return st;
        }
        snprintf(line, sizeof(line), "Authorization: %s", auth);
        h = add(h, line);
        snprintf(line, sizeof(line), "X-Amz-Date: %s", sig.amz_date);
        h = add(h, line);
        if (tok != NULL) {
            snprintf(line, sizeof(line), "X-Amz-Security-Token: %s", tok);
            h = add(h, line);
        }
    }
    if (h == NULL) {
        snprintf(err, err_cap, "out of memory");
        return CS_E_NOMEM;
    }
    *out = h;
    return CS_OK;
}

void csi_error_type_header(const char *line, size_t len, char *out, size_t cap)
{
    static const char name[] = "x-amzn-errortype:";
    const char *v;
    size_t vl;
    if (cap == 0 || len <= sizeof(name) - 1 || strncasecmp(line, name, sizeof(name) - 1) != 0) {
        return;
    }
    v = line + sizeof(name) - 1;
    vl = len - (sizeof(name) - 1);
    while (vl > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ')) {
        vl--;
    }
    if (vl >= cap) {
        vl = cap - 1;
    }
    memcpy(out, v, vl);
    out[vl] = '\0';
    out[strcspn(out, ":")] = '\0'; /* "Name:http://..." forms: keep the name */
}
