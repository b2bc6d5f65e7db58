/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file metrics_http.h
 * @brief `GET /metrics` on the server's HTTP router: the registry rendered in the Prometheus text
 * format 0.0.4 (`content-type: text/plain; version=0.0.4; charset=utf-8`). Kept apart from
 * metrics.h so that the registry (which the HTTP stack itself updates) does not depend on it.
 * Private to the server.
 */
#ifndef CS_INGEST_METRICS_HTTP_H
#define CS_INGEST_METRICS_HTTP_H

#include "http.h"
#include "metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The route's state (token, registry). */
typedef struct cs_metrics_route cs_metrics_route;

/**
 * @brief Adds `GET /metrics` to `srv` (before cs_http_server_start()).
 * @code
 * cs_metrics_route *mr = NULL;
 * cs_metrics_add_route(cs_metrics_default(), srv, NULL, &mr);
 * ...
 * cs_http_server_destroy(&srv); // first
 * cs_metrics_route_destroy(&mr);
 * @endcode
 * @param[in] m             the registry to render (borrowed; must outlive the server)
 * @param[in] bearer_token  NULL or "" (default): no authentication (scrapers rarely sign
 *                          requests; the page holds counts only). Otherwise requests must send
 *                          `Authorization: Bearer <token>` or get 401. Copied.
 * @param[out] out         the state to free with cs_metrics_route_destroy()
 * @return CS_OK, CS_E_INVAL, CS_E_NOMEM, or what cs_http_server_add_route() returned
 */
CS_API cs_status cs_metrics_add_route(cs_metrics *m, cs_http_server *srv, const char *bearer_token,
                                      cs_metrics_route **out);

/** @brief Frees the route's state (after the server is destroyed); sets `*r` NULL; accepts NULL. */
CS_API void cs_metrics_route_destroy(cs_metrics_route **r);

#ifdef __cplusplus
}
#endif

#endif /* CS_INGEST_METRICS_HTTP_H */
