/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the files of api/ share: the KVS error/JSON response every handler sends, the api's SigV4
 * check for handlers that do their own request plumbing (putmedia.c), the request plumbing of the
 * buffered JSON routes (request.c), the media-read settings and route registration of
 * getmedia.c, and csi_api_run() for the JSON fuzz target.
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

/* ---- The buffered JSON routes' request plumbing (request.c; loop thread) -------------------- */

/**
 * A request body collected on the loop thread. It is the FIRST member of each buffered route's
 * request struct (the stream's data, cs_http_stream_set_data()): csi_api_on_body() and
 * csi_api_body_end() find it there. Freed with the request (csi_api_body_free()).
 */
struct csi_api_body {
    char *data; /**< malloc'd, not NUL-terminated; NULL while empty */
    size_t len;
    size_t cap;
};

/** Reserves the body's announced size (content-length, up to 8 MiB) before it arrives; on no
 * memory nothing is reserved (csi_api_on_body() allocates then). */
void csi_api_body_reserve(struct csi_api_body *b, cs_http_stream *s);

/** A route's on_body: appends to the csi_api_body that begins the stream's data (no data:
 * ignored). Out of memory aborts the stream. */
void csi_api_on_body(cs_http_stream *s, const uint8_t *data, size_t len, void *user);

/** Frees the body's bytes and empties it (NULL-safe data). */
void csi_api_body_free(struct csi_api_body *b);

/**
 * Hands a request to the worker pool: `job(arg)` on a worker, then `done(arg)` on the loop,
 * which releases the stream reference taken here (cs_http_stream_unref(s)); `*in_flight` is true
 * until done clears it (or frees the request). @return false when the pool refused the job (the
 * server is stopping or busy): no reference is held and `*in_flight` is false again.
 */
bool csi_api_submit(cs_http_server *srv, cs_http_stream *s, cs_http_loop_fn job,
                    cs_http_loop_fn done, void *arg, bool *in_flight);

/** How a buffered route checks a complete request and runs it (csi_api_body_end()); static. */
struct csi_api_handler {
    /** SigV4 service for csi_api_verify() ("kinesisvideo", "kinesis"); NULL: csi_api_authorize()
     * (the KVS media reads: also the key's right on the stream the body names). */
    const char *service;
    cs_http_loop_fn job;  /**< on a worker */
    cs_http_loop_fn done; /**< then on the loop; see csi_api_submit() */
    /** Fills the request's error and answers it now (loop thread). */
    void (*refuse)(void *req, int status, const char *error_type, const char *message);
    int busy_status; /**< the error when the pool refuses the job */
    const char *busy_type;
    const char *busy_message;
};

/**
 * A buffered route's on_body_end for `req` (the stream's data, its csi_api_body first): checks
 * the signature as `h->service` says, then csi_api_submit()s `h->job` and `h->done` with `req`;
 * a refused signature or job is answered through `h->refuse`. `*key` (may be NULL) gets the
 * signing key (NULL: auth is off) when `h->service` is set.
 */
void csi_api_body_end(cs_api *api, cs_http_stream *s, void *req, const struct csi_api_handler *h,
                      const cs_api_credential **key, bool *in_flight);

/**
 * on_close's part of the hand-over: detaches the request from `s`. @return true when no job
 * holds it (`in_flight` false): the caller frees it now; false: `*closed` is set and the job's
 * done callback frees it.
 */
bool csi_api_detach(cs_http_stream *s, bool in_flight, bool *closed);

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
