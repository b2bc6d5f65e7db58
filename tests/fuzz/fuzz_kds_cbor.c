/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target of the CBOR request decoder of the record-stream API
 * (ingest-server/records/kds_cbor.h; libcbor underneath). Input: a request body. Beyond not
 * crashing (libcbor aborts on misuse of its accessors, so this also checks every call respects
 * their preconditions): what decodes can be encoded back, except a `Data` text that is not
 * base64, and what is encoded decodes again. */
#include <stdint.h>
#include <stdlib.h>

#include "kds_cbor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = NULL, *again = NULL;
    uint8_t *out = NULL;
    size_t len = 0;
    char why[200];
    cs_status st;
    if (csi_kds_cbor_to_json(data, size, &doc, why, sizeof(why)) != CS_OK) {
        return 0;
    }
    st = csi_kds_json_to_cbor(doc, &out, &len);
    if (st != CS_OK && st != CS_E_MALFORMED) {
        abort();
    }
    if (st == CS_OK && csi_kds_cbor_to_json(out, len, &again, why, sizeof(why)) != CS_OK) {
        abort();
    }
    free(out);
    json_decref(again);
    json_decref(doc);
    return 0;
}
