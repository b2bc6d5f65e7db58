/* SPDX-License-Identifier: Apache-2.0 */
/* A cs_transport that wraps a real one (the libcurl transport) and injects one fault at a chosen
 * call index: the start fails, the request body fails part-way, the response is cut, or the call
 * stalls (nothing more arrives: the producer's own timeouts must notice). Every other call, and
 * everything before the fault, passes through unchanged. For the producer's state-machine tests;
 * the faulty call is reported through its handlers from inside run(), as a real transport would. */
#ifndef CS_FAULT_TRANSPORT_H
#define CS_FAULT_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "camstream/producer.h"

/** What happens to the chosen call. */
typedef enum fault_kind {
    FAULT_NONE = 0,
    FAULT_FAIL_START = 1, /**< start() returns CS_E_NET */
    FAULT_FAIL_BODY = 2,  /**< after a few body reads (or at once for a whole body): CS_E_NET */
    FAULT_CUT = 3,        /**< after the status line (and a first ack line): CS_E_NET */
    FAULT_STALL = 4,      /**< control-plane call: nothing is delivered, its request timeout
                               ends it (CS_E_TIMEOUT); PutMedia: after the first chunk of acks
                               nothing more is read or delivered (a stale connection) */
} fault_kind;

typedef struct fault_transport fault_transport;

/**
 * @brief Wraps `inner` (borrowed; it must outlive the wrapper). The fault hits start() call
 * number `index` (1-based; 0: never).
 */
fault_transport *fault_transport_create(cs_transport *inner, fault_kind kind, unsigned index);

/** @brief The wrapper's transport interface, for cs_producer_config.transport. */
cs_transport *fault_transport_get(fault_transport *ft);

/** @brief start() calls so far. */
unsigned fault_transport_calls(const fault_transport *ft);

/** @brief Whether the fault fired. */
bool fault_transport_fired(const fault_transport *ft);

/** @brief Frees the wrapper (after the producer is destroyed); the inner transport is not. */
void fault_transport_destroy(fault_transport *ft);

/** @brief The name of a kind, for messages. */
const char *fault_kind_str(fault_kind kind);

#endif
