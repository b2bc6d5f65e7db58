/* SPDX-License-Identifier: Apache-2.0 */
/* The fast path of PutRecords/PutRecord in JSON (kds_fastjson.c): one pass over the body, the
 * records' data base64-decoded straight into one buffer, no JSON tree. It accepts only a clean,
 * valid request (see the .c file); anything else goes to the jansson path, which gives the same
 * answers and every error message. */
#ifndef CS_KDS_FASTJSON_H
#define CS_KDS_FASTJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kds_store.h"

#define CSI_KDS_FAST_MAX_RECORDS 500

typedef struct csi_kds_fast_put {
    char name[CSI_KDS_MAX_STREAM_NAME + 1]; /**< StreamName */
    csi_kds_put recs[CSI_KDS_FAST_MAX_RECORDS];
    size_t n;
    uint8_t *arena; /**< decoded data and ExplicitHashKey copies (malloc) */
} csi_kds_fast_put;

/**
 * @brief Parses a PutRecords (`single` false) or PutRecord (`single` true) JSON body.
 * @return true: `out` holds the stream name and 1..500 records that the jansson path would accept
 *         with the same values (free with csi_kds_fast_put_free); false: use the jansson path
 *         (nothing to free).
 */
bool csi_kds_fast_put_parse(const char *body, size_t len, bool single, csi_kds_fast_put *out);

void csi_kds_fast_put_free(csi_kds_fast_put *out);

#endif
