/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by the files of the Matroska writer (ebml_write.c, mkv_write.c): byte
 * encoders that the frame path uses directly, and the one place that reserves output bytes. */
#ifndef CS_MKV_WRITE_INT_H
#define CS_MKV_WRITE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "camstream/mkv.h"

/* Reserves n output bytes: *out points at them when they are to be written now, NULL when the
 * writer only counts or has an error (which this call may set: CS_E_NOSPACE, CS_E_OVERFLOW). */
void csi_mkv_reserve(cs_mkv_writer *w, size_t n, uint8_t **out);

/* Writes the ID (cs_mkv_id_len(id) bytes, id must be valid) and returns its length. */
size_t csi_mkv_encode_id(uint8_t *p, uint32_t id);

/* Writes `size` as an n-byte EBML size field (n >= cs_mkv_size_len(size)); returns n. */
size_t csi_mkv_encode_size(uint8_t *p, uint64_t size, size_t n);

/* Bytes of an unsigned integer's data (1..8). */
size_t csi_mkv_uint_len(uint64_t value);

/* Bytes of a whole element with data_len data bytes; 0 when it cannot be written. */
size_t csi_mkv_element_len(uint32_t id, uint64_t data_len);

#endif
