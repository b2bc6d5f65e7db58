/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file kds_cbor.h
 * @brief CBOR for the record-stream API (PROTOCOL.md §6): the Java SDKs send and expect
 * `application/x-amz-cbor-1.1` instead of JSON 1.1. The API handlers speak JSON only (jansson);
 * this bridge turns a CBOR request into the JSON document the same request would have been, and
 * a JSON response into the CBOR the SDK expects. Decoding uses Debian's libcbor.
 *
 * Request (CBOR -> JSON): maps with text keys -> objects; text -> strings; byte strings ->
 * base64 strings (how JSON 1.1 carries blobs: `Data`); tag 1 (epoch) with an integer of
 * milliseconds (as the SDKs send timestamps) or a float of seconds -> a number of seconds;
 * integers, floats, true/false/null as they are. Refused: non-text map keys, other tags,
 * undefined, nesting deeper than 32, trailing bytes.
 *
 * Response (JSON -> CBOR): the reverse, with the blob and timestamp fields named: a string
 * member called `Data` is decoded from base64 into a byte string; numbers named in
 * CSI_KDS_CBOR_TIMESTAMP_FIELDS become tag 1 with integer milliseconds.
 */
#ifndef CAMSTREAM_KDS_CBOR_H
#define CAMSTREAM_KDS_CBOR_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Content type of the CBOR protocol. */
#define CSI_KDS_CBOR_CONTENT_TYPE "application/x-amz-cbor-1.1"
/** Deepest nesting accepted in a request. */
#define CSI_KDS_CBOR_MAX_DEPTH 32

/**
 * @brief Decodes a CBOR request body into a JSON document.
 * @param[out] out  a new reference (json_decref() it)
 * @param[out] why  on failure, what was wrong (for the SerializationException message)
 * @return CS_OK; CS_E_MALFORMED; CS_E_NOMEM
 */
cs_status csi_kds_cbor_to_json(const uint8_t *data, size_t len, json_t **out, char *why,
                               size_t why_cap);

/**
 * @brief Encodes a JSON response as CBOR.
 * @param[out] out  malloc()ed bytes (free() them); *len their count
 * @return CS_OK; CS_E_MALFORMED (a `Data` member that is not base64); CS_E_NOMEM
 */
cs_status csi_kds_json_to_cbor(const json_t *doc, uint8_t **out, size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* CAMSTREAM_KDS_CBOR_H */
