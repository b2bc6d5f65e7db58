/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Enhanced fan-out of the record-stream API (kds_subscribe.c, PROTOCOL.md §6): the stream
 * consumers (RegisterStreamConsumer, DeregisterStreamConsumer, DescribeStreamConsumer,
 * ListStreamConsumers), dispatched by kds_api.c like every other operation, and SubscribeToShard,
 * which has a route of its own (an `application/vnd.amazon.eventstream` response that lasts
 * minutes). Invariants: docs/internals/RECORDS.md.
 */
#ifndef CS_INGEST_KDS_SUB_H
#define CS_INGEST_KDS_SUB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api_int.h"
#include "kds_store.h"

/** An operation's error: HTTP status, `__type` (static string) and message. */
struct csi_kds_err {
    int status;
    const char *type;
    char message[512];
};

/**
 * Runs consumer operation `op` ("RegisterStreamConsumer", "DeregisterStreamConsumer",
 * "DescribeStreamConsumer", "ListStreamConsumers") on its JSON request, on a worker thread;
 * checks `key`'s read right on the stream. `api` may be NULL (csi_kds_run: default region, no
 * subscription to end). @return the response document, or NULL with `err` filled
 */
json_t *csi_kds_consumer_op(cs_api *api, csi_kds_store *store, const cs_api_credential *key,
                            const char *op, json_t *in, struct csi_kds_err *err);

/** The `ChildShards` of a read that reached its shard's end (GetRecords, SubscribeToShardEvent):
 * each child's ShardId, ParentShards and HashKeyRange. Any thread. */
json_t *csi_kds_children_json(const csi_kds_get_result *res);

/** Number of consumers registered on `stream` (0 when it has none or on an error). Worker. */
uint32_t csi_kds_consumer_count(csi_kds_store *store, const char *stream);

/**
 * Adds the SubscribeToShard route (`POST /`, X-Amz-Target Kinesis_20131202.SubscribeToShard) and
 * the subscriptions' tick; call before the general record-stream route. Settings from the
 * environment (for tests): CS_KDS_SUBSCRIPTION_MS (how long a subscription lasts, default
 * 300000), CS_KDS_SUBSCRIBE_TAKEOVER_MS (a second subscription of the same consumer and shard
 * is refused this long after the first started, later it takes over; default 5000),
 * CS_KDS_SUBSCRIBE_HEARTBEAT_MS (an event, empty if need be, at least this often; default 5000).
 */
cs_status csi_kds_sub_add_routes(cs_api *api, cs_http_server *srv, csi_kds_store *store);

/** Loop thread: records were put into `stream` (or it changed): wake its subscriptions. */
void csi_kds_sub_notify(const char *stream);

/**
 * SubscribeToShard without a socket, for the fuzz target (tests/fuzz/fuzz_kds_subscribe.c): the
 * request checks of the start (body, consumer, shard, starting position) and, when they pass,
 * the first read and its event, as the server runs them. Only while no server was set up.
 * @param[out] err      the error; `type` NULL when the subscription would have started
 * @param[out] records  records of the first event (may be NULL)
 * @return CS_OK (see err); CS_E_INVAL; CS_E_NOMEM; CS_E_STATE (a server is set up)
 */
cs_status csi_kds_sub_run(cs_api *api, csi_kds_store *store, const uint8_t *body, size_t len,
                          bool cbor, struct csi_kds_err *err, size_t *records);

/** Loop thread, graceful shutdown (cs_api_drain()): every subscription ends now, cleanly (the
 * event stream ends as at the end of its lifetime; clients subscribe again elsewhere). */
void csi_kds_sub_drain(void);

#endif /* CS_INGEST_KDS_SUB_H */
