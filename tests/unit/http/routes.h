/* SPDX-License-Identifier: Apache-2.0 */
/* The routes of the HTTP test server, shared by the integration tests (server in-process) and
 * the standalone http_test_server program: echo, a PutMedia-shaped streaming ack route, a slow
 * route on the worker pool, a pausing (back-pressure) route and an X-Amz-Target route. */
#ifndef CS_TEST_HTTP_ROUTES_H
#define CS_TEST_HTTP_ROUTES_H

#include "http.h"

/* Adds every test route to `srv` (before cs_http_server_start). */
cs_status cs_test_http_add_routes(cs_http_server *srv);

/* Gated /defer jobs whose completion is parked (until GET /defer-open). */
size_t cs_test_http_defer_parked(void);

#endif
