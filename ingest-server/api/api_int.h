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
    uint32_t poll_ms;      /* a quiet live consumer re-reads the index this often */
    struct csi_live *live; /* the live hub (live.h) */
    struct csi_gm_route routes[3];
};

/**
 * Sends a whole JSON response in the KVS format (loop thread): content-type, a fresh
 * x-amzn-RequestId and, when `error_type` is not NULL, `x-amzn-ErrorType: <error_type>` with the
 * body `{"Message": text}` (JSON-encoded); otherwise `text` is the body as is.
 */
void csi_api_respond(cs_http_stream *s, int status, const char *error_type, const char *text);

/**
 * Verifies the request's SigV4 signature over `body` (loop thread), then the signing key's right
 * on the stream the request names: write for /putMedia (x-amzn-stream-name or -arn header), read
 * for /getMedia, /listFragments and /getMediaForFragmentList (StreamName/StreamARN in the JSON
 * `body`); a key limited to some streams is refused on any other path. On refusal fills the
 * service's error and returns false: 401 NotAuthorizedException (missing or bad signature,
 * unknown key, clock skew), 403 AccessDeniedException (a valid key without the right).
 */
bool csi_api_authorize(cs_api *api, cs_http_stream *s, const char *body, size_t len, int *status,
                       const char **error_type, char *message, size_t cap);

/**
 * true when `key` may use the stream `name` with one of `rights` (CS_API_READ/CS_API_WRITE bits):
 * a key without rules (or NULL: auth is off) may do anything; otherwise one of its rules must
 * grant one of the rights on a prefix of `name`. Any thread.
 */
bool csi_api_key_allows(const cs_api_credential *key, unsigned rights, const char *name);

/**
 * Verifies the request's SigV4 signature over `body` for `service` ("kinesisvideo", "kinesis")
 * on the loop thread; on success `*key` is the signing key (NULL when auth is off). On refusal
 * fills 401 NotAuthorizedException and the reason, and returns false.
 */
bool csi_api_verify(cs_api *api, cs_http_stream *s, const char *body, size_t len,
                    const char *service, const cs_api_credential **key, int *status,
                    const char **error_type, char *message, size_t cap);

/** The server the api submits its work to (set by cs_api_add_routes()). */
cs_http_server *csi_api_server(cs_api *api);

/** The region for ARNs ("us-west-2" when none is configured). */
const char *csi_api_region(cs_api *api);

struct csi_kds_store;

/** Adds the record-stream routes (kds_api.c): `POST /` with X-Amz-Target Kinesis_20131202.*. */
cs_status csi_kds_add_routes(cs_api *api, cs_http_server *srv, struct csi_kds_store *store);

/** What csi_kds_run() answered. */
struct csi_kds_result {
    int status;             /**< HTTP status */
    const char *error_type; /**< `__type`, NULL on success */
    char message[512];
    uint8_t *out; /**< on success the JSON or CBOR response body (malloc'd; caller frees) */
    size_t out_len;
};

/**
 * Runs one record-stream operation ("PutRecords", ...) on a JSON (or CBOR) body as the worker
 * does after the HTTP plumbing and the SigV4 check, with no socket: for the fuzz target
 * (tests/fuzz/fuzz_kds_json.c) and tests. `api` may be NULL (default region, no key rules).
 */
cs_status csi_kds_run(cs_api *api, struct csi_kds_store *store, const char *op, const uint8_t *body,
                      size_t len, bool cbor, struct csi_kds_result *res);

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
