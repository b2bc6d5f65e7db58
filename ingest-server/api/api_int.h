/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the files of api/ share: the KVS error/JSON response every handler sends, the api's SigV4
 * check for handlers that do their own request plumbing (putmedia.c, getmedia.c), the media-read
 * settings and route registration of getmedia.c, and csi_api_run() for the JSON fuzz target.
 */
#ifndef CS_INGEST_API_INT_H
#define CS_INGEST_API_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"

struct csi_api_media;

/** One media-read route's context (getmedia.c). */
struct csi_gm_route {
    cs_api *api;
    cs_http_server *srv;
    const struct csi_api_media *m;
    int kind;
};

/** The media-read settings (copied from cs_api_config; pointers borrowed) and route contexts. */
struct csi_api_media {
    cs_index *index;
    cs_store *store;
    const cs_logger *logger;
    const cs_clock *clock;
    uint32_t max_ms;
    uint32_t idle_ms;
    uint32_t poll_ms;
    struct csi_gm_route routes[3];
};

/**
 * Sends a whole JSON response in the KVS format (loop thread): content-type, a fresh
 * x-amzn-RequestId and, when `error_type` is not NULL, `x-amzn-ErrorType: <error_type>` with the
 * body `{"Message": text}` (JSON-encoded); otherwise `text` is the body as is.
 */
void csi_api_respond(cs_http_stream *s, int status, const char *error_type, const char *text);

/**
 * Verifies the request's SigV4 signature over `body` (loop thread). On refusal fills the
 * service's error (HTTP status, x-amzn-ErrorType, message) and returns false.
 */
bool csi_api_authorize(cs_api *api, cs_http_stream *s, const char *body, size_t len, int *status,
                       const char **error_type, char *message, size_t cap);

/** Adds the media-read routes. `media` must outlive the server. */
cs_status csi_getmedia_add_routes(cs_api *api, cs_http_server *srv, struct csi_api_media *media);

/** What csi_api_run() answered. */
struct csi_api_result {
    int status;             /**< HTTP status */
    const char *error_type; /**< x-amzn-ErrorType (static), NULL on success */
    char message[512];      /**< the error's Message */
    char *out;              /**< on success the JSON response body (malloc'd; caller frees) */
};

/**
 * Runs one control-plane operation (`path` such as "/createStream") on a JSON body, as the
 * worker does after the HTTP plumbing and the SigV4 check, with no socket: for the fuzz target
 * (tests/fuzz/fuzz_kvs_json.c) and tests. Any thread, like a worker. `base_url` is what
 * getDataEndpoint answers. @return CS_OK (see `res`), CS_E_NOTFOUND (not a control-plane path)
 */
cs_status csi_api_run(cs_api *api, const char *path, const char *body, size_t len,
                      const char *base_url, struct csi_api_result *res);

#endif /* CS_INGEST_API_INT_H */
