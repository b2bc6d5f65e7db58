/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target of the KDS decoders of outside bytes (ingest-server/records/kds.h): the first byte
 * picks one (0 base64, 1 hash key, 2 sequence number, 3 shard id, 4 shard iterator, 5 event
 * stream message); the rest is its input. Beyond not crashing: what base64 accepts encodes back
 * to the same text (canonical); a parsed hash key formats back to the input without leading
 * zeros; an accepted iterator re-encodes to the same text; an accepted event-stream message
 * lies within the input and its payload within the message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t key[CSI_KDS_ITERATOR_KEY_LEN] = {1, 2, 3};
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    if (size == 0) {
        return 0;
    }
    switch (data[0] % 6) {
    case 0: {
        uint8_t out[512];
        char back[700];
        size_t len;
        if (n <= 600 && csi_kds_base64_decode(s, n, out, sizeof(out), &len) == CS_OK) {
            check(csi_kds_base64_len(len) == n);
            csi_kds_base64_encode(out, len, back);
            check(memcmp(back, s, n) == 0);
        }
        break;
    }
    case 1: {
        csi_u128 v;
        char back[CSI_KDS_U128_MAX_TEXT];
        if (csi_kds_u128_parse(s, n, &v) == CS_OK) {
            size_t z = 0, len;
            while (z + 1 < n && s[z] == '0') {
                z++;
            }
            len = csi_kds_u128_format(v, back);
            check(len == n - z && memcmp(back, s + z, len) == 0);
        }
        break;
    }
    case 2: {
        uint32_t shard;
        uint64_t off;
        char back[CSI_KDS_SEQ_LEN + 1];
        if (csi_kds_seq_parse(s, n, 0, &shard, &off) == CS_OK) {
            csi_kds_seq_format(0, shard, off, back);
            check(n == CSI_KDS_SEQ_LEN && memcmp(back, s, n) == 0);
        }
        break;
    }
    case 3: {
        uint32_t idx;
        (void)csi_kds_shard_id_parse(s, n, &idx);
        break;
    }
    case 4: {
        csi_kds_iterator it;
        char back[CSI_KDS_ITERATOR_MAX];
        size_t len;
        if (csi_kds_iterator_decode(s, n, key, 0, &it) == CS_OK) {
            check(csi_kds_iterator_encode(&it, key, back, &len) == CS_OK);
            check(len == n && memcmp(back, s, n) == 0);
        }
        break;
    }
    default: {
        size_t total, off, plen;
        if (csi_kds_es_decode(data + 1, n, &total, &off, &plen) == CS_OK) {
            check(total <= n && off + plen + 4 == total);
        }
        break;
    }
    }
    return 0;
}
