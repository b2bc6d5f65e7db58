/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file kvs_ack.h
 * @brief The PutMedia acknowledgement events (PROTOCOL.md §3), shared by the server, which
 * writes them, and the producer, which reads them: a formatter of one event line and a strict,
 * bounded parser of one line.
 *
 * A line is one JSON object followed by a newline, e.g.
 * `{"EventType":"BUFFERING","FragmentTimecode":1000,"FragmentNumber":"91343852333181432392682062607743920146264245306"}`.
 * The formatter always writes the keys in the order EventType, FragmentTimecode, FragmentNumber,
 * ErrorId, without spaces, leaving out absent fields. The parser accepts any key order, JSON
 * whitespace between tokens, a trailing "\n" or "\r\n", and unknown keys whose values are
 * strings, unsigned integers, true, false or null (they are skipped); it refuses string escapes,
 * nested values, signs, fractions, exponents, leading zeros, duplicate known keys, and lines
 * longer than CS_KVS_ACK_MAX_LINE. Nothing here allocates.
 * @code
 * cs_kvs_ack ack = {.type = CS_KVS_ACK_RECEIVED, .has_timecode = true, .fragment_timecode = 40};
 * char line[CS_KVS_ACK_MAX_LINE];
 * size_t n;
 * cs_kvs_ack_set_number(&ack, "1234", 4);
 * if (cs_kvs_ack_format(&ack, line, sizeof(line), &n) == CS_OK) {
 *     send(fd, line, n, 0); // n includes the '\n'
 * }
 * ...
 * cs_kvs_ack got;
 * if (cs_kvs_ack_parse(rx, rx_len, &got) == CS_OK && got.type == CS_KVS_ACK_PERSISTED) { ... }
 * @endcode
 */
#ifndef CAMSTREAM_KVS_ACK_H
#define CAMSTREAM_KVS_ACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest ack line the parser accepts (newline included); every line the formatter writes is
 * shorter. */
#define CS_KVS_ACK_MAX_LINE 512
/** Most digits of a FragmentNumber (KVS uses 47). */
#define CS_KVS_FRAGMENT_NUMBER_MAX 64

/** @brief The EventType of an ack. Values are only appended. */
typedef enum cs_kvs_ack_type {
    CS_KVS_ACK_NONE = 0,      /**< not an event (an unset struct) */
    CS_KVS_ACK_BUFFERING = 1, /**< first bytes of a fragment seen */
    CS_KVS_ACK_RECEIVED = 2,  /**< fragment complete */
    CS_KVS_ACK_PERSISTED = 3, /**< fragment durable: the producer may free it */
    CS_KVS_ACK_ERROR = 4,     /**< ErrorId says what */
    CS_KVS_ACK_IDLE = 5,      /**< keep-alive */
} cs_kvs_ack_type;

/** @brief One ack event. Absent fields: has_timecode false, fragment_number_len 0, error_id 0. */
typedef struct cs_kvs_ack {
    cs_kvs_ack_type type;
    bool has_timecode;
    uint64_t fragment_timecode; /**< FragmentTimecode, ms, as the Cluster Timecode */
    size_t fragment_number_len; /**< 0: no FragmentNumber */
    char fragment_number[CS_KVS_FRAGMENT_NUMBER_MAX + 1]; /**< decimal digits, NUL-terminated */
    uint32_t error_id; /**< ErrorId of an ERROR event (4000-5999 in practice); 0 = absent */
} cs_kvs_ack;

/**
 * @brief Writes one ack line, newline included, into `dst`. With `dst` NULL only measures.
 * When `cap` is larger than the line, a NUL is written after it (not counted in `*len`).
 * @param[in]  ack  the event: a known type; fragment_number_len <= CS_KVS_FRAGMENT_NUMBER_MAX
 *                  and all digits; error_id only on ERROR, where it is required
 * @param[out] dst  destination, or NULL
 * @param[in]  cap  bytes at dst
 * @param[out] len  bytes of the line (written, or needed)
 * @return CS_OK; CS_E_NOSPACE (cap < *len, nothing written); CS_E_INVAL (NULL ack or len, or an
 *         ack that breaks the rules above).
 */
CS_API cs_status cs_kvs_ack_format(const cs_kvs_ack *ack, char *dst, size_t cap, size_t *len);

/**
 * @brief Parses one ack line (one JSON object; a trailing "\n" or "\r\n" is allowed).
 * Per type: BUFFERING, RECEIVED and PERSISTED need FragmentTimecode; ERROR needs ErrorId; no
 * other type may carry ErrorId. FragmentNumber is 1..CS_KVS_FRAGMENT_NUMBER_MAX digits,
 * FragmentTimecode fits uint64, ErrorId fits uint32.
 * @param[in]  line  the bytes (need not be NUL-terminated)
 * @param[in]  len   how many
 * @param[out] ack   the event; zeroed first, meaningful only on CS_OK
 * @return CS_OK; CS_E_MALFORMED (not an ack line as described); CS_E_LIMIT (len above
 *         CS_KVS_ACK_MAX_LINE); CS_E_INVAL (NULL ack, or NULL line with len > 0).
 */
CS_API cs_status cs_kvs_ack_parse(const char *line, size_t len, cs_kvs_ack *ack);

/**
 * @brief Sets ack->fragment_number from `len` decimal digits (len 0 clears it).
 * @return CS_OK; CS_E_INVAL (NULL ack, a non-digit, NULL digits with len > 0);
 *         CS_E_LIMIT (len above CS_KVS_FRAGMENT_NUMBER_MAX).
 */
CS_API cs_status cs_kvs_ack_set_number(cs_kvs_ack *ack, const char *digits, size_t len);

/** @brief The wire name of an event type ("BUFFERING", ...); "?" for others. */
CS_API const char *cs_kvs_ack_type_str(cs_kvs_ack_type type);

#ifdef __cplusplus
}
#endif

#endif /* CAMSTREAM_KVS_ACK_H */
