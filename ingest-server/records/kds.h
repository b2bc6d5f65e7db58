/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file kds.h
 * @brief The wire arithmetic of Kinesis Data Streams (PROTOCOL.md §6), for the record-stream API
 * of the ingest server: 128-bit hash keys (decimal text, MD5 of a partition key, the even split
 * of the hash space), sequence numbers, shard ids, shard iterators (opaque, authenticated,
 * expiring), base64, and the event-stream framing of SubscribeToShard. Pure functions: no I/O,
 * no allocation. Private to the ingest server.
 *
 * Sequence numbers are 56 decimal digits: "49", the stream's creation time (13 digits, ms), the
 * shard index (6 digits), the record's offset in the shard's log (20 digits), and 15 zeros; so
 * within a shard they increase with the offset, and they decode back to (shard, offset).
 */
#ifndef CAMSTREAM_KDS_H
#define CAMSTREAM_KDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An unsigned 128-bit hash key. */
typedef unsigned __int128 csi_u128;

/** Longest decimal u128 (2^128-1 has 39 digits) plus a NUL. */
#define CSI_KDS_U128_MAX_TEXT 40
/** Digits of a sequence number, plus a NUL. */
#define CSI_KDS_SEQ_LEN 56
/** Longest stream name. */
#define CSI_KDS_MAX_STREAM_NAME 128
/** Shard ids are "shardId-" and 12 digits. */
#define CSI_KDS_SHARD_ID_LEN 20
/** Longest iterator text (base64 of the longest token), plus a NUL. */
#define CSI_KDS_ITERATOR_MAX 256
/** Iterators expire this long after they are issued. */
#define CSI_KDS_ITERATOR_TTL_MS (5u * 60u * 1000u)
/** Bytes of the iterator key. */
#define CSI_KDS_ITERATOR_KEY_LEN 32

/**
 * @brief Parses a decimal hash key (1..39 digits, no sign, no spaces, leading zeros allowed as
 * the service allows them) that fits 128 bits.
 * @return CS_OK; CS_E_MALFORMED (empty, a non-digit); CS_E_RANGE (>= 2^128)
 */
cs_status csi_kds_u128_parse(const char *s, size_t len, csi_u128 *out);

/** @brief Writes `v` in decimal with a NUL; returns the length (without the NUL). */
size_t csi_kds_u128_format(csi_u128 v, char out[CSI_KDS_U128_MAX_TEXT]);

/** @brief The hash key of a partition key: MD5 of its bytes, read as a big-endian 128-bit
 * unsigned integer. */
cs_status csi_kds_hash_key(const char *partition_key, size_t len, csi_u128 *out);

/**
 * @brief The range of shard `index` of `count` shards that split [lo, hi] evenly as the service
 * does: each gets (hi - lo + 1) / count keys (the whole space: 2^128 / count), the last also
 * the remainder. For the whole space and 2 shards, shard 0 ends at 2^127-1.
 * @return CS_OK; CS_E_INVAL (count 0, index >= count, lo > hi, more shards than keys)
 */
cs_status csi_kds_split_range(csi_u128 lo, csi_u128 hi, uint32_t count, uint32_t index,
                              csi_u128 *start, csi_u128 *end);

/** @brief Writes "shardId-%012u" with a NUL. */
void csi_kds_shard_id(uint32_t index, char out[CSI_KDS_SHARD_ID_LEN + 1]);

/** @brief Parses a shard id ("shardId-" + 1..12 digits, the service's form; also bare digits,
 * which the CLI accepts for some calls). @return CS_OK or CS_E_MALFORMED */
cs_status csi_kds_shard_id_parse(const char *s, size_t len, uint32_t *index);

/** @brief The sequence number of a record. */
void csi_kds_seq_format(uint64_t stream_created_ms, uint32_t shard, uint64_t offset,
                        char out[CSI_KDS_SEQ_LEN + 1]);

/**
 * @brief The sequence number one below the first of a shard (offset 0): the
 * ContinuationSequenceNumber of a subscription that has seen no record of a shard where none was
 * ever written. csi_kds_store_iterator() takes it for AT/AFTER_SEQUENCE_NUMBER as offset 0, so
 * AFTER it comes the shard's first record. Not decodable by csi_kds_seq_parse().
 */
void csi_kds_seq_before_first(uint64_t stream_created_ms, uint32_t shard,
                              char out[CSI_KDS_SEQ_LEN + 1]);

/**
 * @brief Decodes a sequence number made by csi_kds_seq_format().
 * @return CS_OK; CS_E_MALFORMED (not 56 digits, not ours); CS_E_NOTFOUND (ours, but of another
 *         incarnation of the stream: a different creation time)
 */
cs_status csi_kds_seq_parse(const char *s, size_t len, uint64_t stream_created_ms, uint32_t *shard,
                            uint64_t *offset);

/** @brief What a shard iterator points at. */
typedef struct csi_kds_iterator {
    char stream[CSI_KDS_MAX_STREAM_NAME + 1]; /**< stream name, NUL-terminated */
    uint64_t stream_created_ms;               /**< tells incarnations of a name apart */
    uint32_t shard;
    uint64_t offset;    /**< the next record to return */
    uint64_t issued_ms; /**< wall clock when issued */
} csi_kds_iterator;

/**
 * @brief Encodes an iterator as base64 text authenticated with an HMAC-SHA256 (truncated to 16
 * bytes) under `key` (the server's secret, random per data directory), so a client cannot forge
 * one pointing elsewhere.
 * @return CS_OK; CS_E_INVAL (stream name empty or too long)
 */
cs_status csi_kds_iterator_encode(const csi_kds_iterator *it,
                                  const uint8_t key[CSI_KDS_ITERATOR_KEY_LEN],
                                  char out[CSI_KDS_ITERATOR_MAX], size_t *len);

/**
 * @brief Decodes and checks an iterator.
 * @return CS_OK; CS_E_MALFORMED (not one of ours: bad base64, length, version or MAC: the API
 *         answers InvalidArgumentException); CS_E_TIMEOUT (ours, but older than
 *         CSI_KDS_ITERATOR_TTL_MS at now_ms: ExpiredIteratorException)
 */
cs_status csi_kds_iterator_decode(const char *s, size_t len,
                                  const uint8_t key[CSI_KDS_ITERATOR_KEY_LEN], uint64_t now_ms,
                                  csi_kds_iterator *it);

/** @brief Bytes base64 of `n` bytes takes (with padding). */
size_t csi_kds_base64_len(size_t n);

/** @brief Standard base64 with padding; `out` holds csi_kds_base64_len(n) bytes (no NUL). */
void csi_kds_base64_encode(const uint8_t *in, size_t n, char *out);

/**
 * @brief Decodes standard base64 (padding required when the length is not a multiple of 4,
 * as the SDKs send it; no whitespace).
 * @param[in]  cap  bytes at out
 * @return CS_OK; CS_E_MALFORMED; CS_E_NOSPACE (cap too small)
 */
cs_status csi_kds_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap,
                                size_t *out_len);

/** @brief A header of an event-stream message (only string values: type 7). */
typedef struct csi_kds_es_header {
    const char *name;
    const char *value;
} csi_kds_es_header;

/**
 * @brief Writes one `application/vnd.amazon.eventstream` message: total length and headers
 * length (u32 BE), the prelude's CRC-32, the headers (name_len u8, name, type 7, value_len u16
 * BE, value), the payload, the CRC-32 of everything before it. With `out` NULL only measures.
 * @return CS_OK; CS_E_NOSPACE (cap too small: *len says how much); CS_E_INVAL (a name over
 *         255 bytes or a value over 65535)
 */
cs_status csi_kds_es_encode(const csi_kds_es_header *headers, size_t count, const uint8_t *payload,
                            size_t payload_len, uint8_t *out, size_t cap, size_t *len);

/**
 * @brief Checks one event-stream message at the start of `in` (both CRCs, lengths) and returns
 * its total length and where the payload is. For tests and the fuzz target.
 * @return CS_OK; CS_AGAIN (not all of it yet); CS_E_MALFORMED
 */
cs_status csi_kds_es_decode(const uint8_t *in, size_t n, size_t *total, size_t *payload_off,
                            size_t *payload_len);

#ifdef __cplusplus
}
#endif

#endif /* CAMSTREAM_KDS_H */
