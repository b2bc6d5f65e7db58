/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PutMedia route (putmedia.c), private to the api library: cs_api_add_routes() creates it
 * with the api's index, store and settings and adds its route; cs_api_destroy() frees it after
 * the HTTP server is gone. docs/internals/PUTMEDIA.md has the invariants.
 */
#ifndef CS_INGEST_PUTMEDIA_H
#define CS_INGEST_PUTMEDIA_H

#include <stdbool.h>
#include <stdint.h>

#include "api.h"

struct csi_putmedia;
struct csi_live;

/** What the PutMedia route needs from the api (pointers borrowed; they outlive the route). */
struct csi_putmedia_config {
    cs_api *api;
    cs_http_server *srv;
    cs_index *index;
    cs_store *store; /* NULL: uploads are refused with 500 */
    const cs_logger *logger;
    const cs_clock *clock;
    bool auto_create;      /* an upload to an unknown stream name creates the stream */
    uint32_t idle_ack_ms;  /* an IDLE ack after this long without one; 0: 3000 */
    struct csi_live *live; /* the live hub (live.h): numbers and live consumers */
};

/** Creates the route's state and adds `POST /putMedia` to cfg->srv (before it starts).
 * @return CS_OK, CS_E_NOMEM, or what cs_http_server_add_route() returned */
cs_status csi_putmedia_add_route(const struct csi_putmedia_config *cfg, struct csi_putmedia **out);

/** Graceful shutdown (loop thread): see cs_api_drain(). */
void csi_putmedia_drain(struct csi_putmedia *pm);

/** Uploads whose response has not ended (loop thread). */
size_t csi_putmedia_active(const struct csi_putmedia *pm);

/** Frees the state; `*pm` becomes NULL; accepts NULL. Only after the server was destroyed. */
void csi_putmedia_destroy(struct csi_putmedia **pm);

#endif /* CS_INGEST_PUTMEDIA_H */
