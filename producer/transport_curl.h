/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file transport_curl.h
 * @brief Private extras of the libcurl transport (producer/transport_curl.c) for tests and
 * diagnostics; the transport itself is cs_transport_curl_create() in producer.h. Invariants:
 * docs/internals/PRODUCER.md, section "Transport, credentials, signing".
 */
#ifndef CAMSTREAM_PRODUCER_TRANSPORT_CURL_H
#define CAMSTREAM_PRODUCER_TRANSPORT_CURL_H

#include <stddef.h>

#include "camstream/producer.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What a libcurl transport has done so far (I/O thread, or after it stopped). */
typedef struct csi_transport_curl_stats {
    /** HTTP version of the last response whose headers arrived: 10, 11, 20 or 30; 0: none. */
    int last_http_version;
    size_t calls_started;
    size_t calls_allocated; /**< call slots (each with its curl easy handle) made so far */
    size_t bytes_sent;      /**< body bytes handed to curl by read_body */
    size_t bytes_received;  /**< body bytes given to on_data */
} csi_transport_curl_stats;

/**
 * @brief Copies the statistics of a transport made by cs_transport_curl_create().
 * @return CS_OK; CS_E_INVAL (NULL, or `t` is not a libcurl transport); CS_E_UNSUPPORTED (a build
 *         without libcurl)
 */
cs_status csi_transport_curl_stats_get(const cs_transport *t, csi_transport_curl_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* CAMSTREAM_PRODUCER_TRANSPORT_CURL_H */
