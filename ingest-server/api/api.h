/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file api.h
 * @brief The KVS control plane on the server's HTTP router: createStream, describeStream,
 * listStreams, deleteStream, updateDataRetention, getDataEndpoint, tagStream, untagStream and
 * listTagsForStream (PROTOCOL.md §2), REST-JSON with jansson, every request SigV4-verified
 * (service `kinesisvideo`). Errors use the service's format: HTTP status, `x-amzn-ErrorType`
 * and `{"Message": "..."}`. Private to the server.
 *
 * Threads: signatures are checked on the loop thread (a few HMACs); JSON parsing, validation and
 * every index call run on the HTTP server's worker pool (cs_http_server_submit()), and the
 * response is sent back on the loop. The loop never touches SQLite.
 *
 * @code
 * cs_api_config ac;
 * cs_api_config_init(&ac);
 * ac.index = ix;
 * cs_api_credential cred = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"};
 * ac.credentials = &cred;
 * ac.n_credentials = 1;
 * cs_api *api = NULL;
 * cs_api_create(&ac, &api);
 * cs_api_add_routes(api, srv); // before cs_http_server_start(srv)
 * ...
 * cs_http_server_destroy(&srv); // first: no request may be in flight
 * cs_api_destroy(&api);
 * @endcode
 */
#ifndef CS_INGEST_API_H
#define CS_INGEST_API_H

#include <stdbool.h>
#include <stddef.h>

#include "camstream/platform.h"
#include "http.h"
#include "index.h"
#include "storage.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cs_api cs_api;

/** Rights a rule grants (bits). */
#define CS_API_READ 1u  /**< describe, list, listTags, getMedia, listFragments, ... */
#define CS_API_WRITE 2u /**< putMedia, create, delete, updateDataRetention, tag, untag */

/** What a key may do on the streams whose name starts with `prefix` ("" = every stream). */
typedef struct cs_api_rule {
    unsigned rights; /**< CS_API_READ | CS_API_WRITE */
    const char *prefix;
} cs_api_rule;

/** An access key, its secret and its rights. */
typedef struct cs_api_credential {
    const char *access_key;
    const char *secret_key;
    /** NULL (default, n_rules 0): every right on every stream. Otherwise the key may do only
     * what one of these rules grants (docs/internals/API.md, "Authorization"). */
    const cs_api_rule *rules;
    size_t n_rules;
} cs_api_credential;

/** @brief Settings; fill with cs_api_config_init(). Strings and the credential table are copied
 * by cs_api_create(); `index` is borrowed and must outlive the api. */
typedef struct cs_api_config {
    cs_index *index;                      /**< (required) */
    bool require_auth;                    /**< default true: every request must be signed */
    const cs_api_credential *credentials; /**< accepted keys (required when require_auth) */
    size_t n_credentials;
    const char *region; /**< NULL (default): a signature may be scoped to any region */
    /** The base URL getDataEndpoint returns ("https://video.example.com"); NULL (default): the
     * scheme of the connection and the request's Host header, i.e. this server as the client
     * reached it. */
    const char *public_url;
    const cs_clock *clock;   /**< SigV4 "now"; NULL = system */
    const cs_logger *logger; /**< NULL = cs_logger_default() */
    /** Fragment objects, read by getMedia/getMediaForFragmentList (borrowed; must outlive the
     * api). NULL: those operations answer 500. */
    cs_store *store;
    uint32_t getmedia_max_ms;  /**< a GetMedia response ends after this long; 0 (default): never */
    uint32_t getmedia_idle_ms; /**< ...or when no new fragment came for this long; 0: never */
    uint32_t getmedia_poll_ms; /**< live-edge polling period (docs/internals/GETMEDIA.md); 150 */
    /** PutMedia to an unknown stream name creates the stream (default false: 404
     * ResourceNotFoundException). */
    bool putmedia_auto_create;
    /** Record streams (Kinesis Data Streams API on `POST /`); NULL: not served. Borrowed; must
     * outlive the api. */
    struct csi_kds_store *kds_store;
} cs_api_config;

/** @brief Fills `cfg` with the defaults listed at each field. */
CS_API void cs_api_config_init(cs_api_config *cfg);

/** @brief Creates the control plane. @return CS_OK, CS_E_INVAL (no index, auth without
 * credentials), CS_E_NOMEM */
CS_API cs_status cs_api_create(const cs_api_config *cfg, cs_api **out);

/** @brief Adds the control-plane routes to `srv` (before cs_http_server_start()); the api keeps
 * `srv` to submit work to its pool. @return CS_OK or what cs_http_server_add_route() returned */
CS_API cs_status cs_api_add_routes(cs_api *api, cs_http_server *srv);

/** @brief Frees the api; sets `*api` to NULL; accepts NULL. Destroy the server first. */
CS_API void cs_api_destroy(cs_api **api);

/**
 * @brief Graceful shutdown, loop thread only: every PutMedia upload stops reading its body at
 * the next fragment boundary (one in the middle of a fragment reads until that fragment ends, so
 * no fragment is stored cut short), its received fragments are persisted, and its response ends
 * after their last ack (PERSISTED or ERROR). Live GetMedia responses end at the next fragment
 * boundary; new uploads are refused with 503. Idempotent.
 */
CS_API void cs_api_drain(cs_api *api);

/** @brief Uploads and GetMedia responses not yet finished (loop thread). */
CS_API size_t cs_api_active(const cs_api *api);

#ifdef __cplusplus
}
#endif

#endif /* CS_INGEST_API_H */
