/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target of the Annex-B <-> AVCC converters and the NAL iterator. Input: one control byte
 * (bit 0 codec, bits 1-2 drop flags, bits 3-7 pick the streaming split) then Annex-B bytes.
 * Invariants: sizing pass == writing pass; a two-piece streaming conversion split where the input
 * says equals the one-shot one; AVCC -> Annex-B -> AVCC is the identity; a too-small destination
 * gives CS_E_NOSPACE and nothing past cap; the iterator sees the same units as the converter. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "camstream/nal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_nal_codec codec;
    unsigned flags;
    size_t split, need = 0, n = 0, cap, na = 0, n2 = 0, units = 0, total = 0;
    uint8_t *out, *out2, *annexb;
    cs_nal_stream s;
    cs_status st;

    if (size < 1 || size > 65536) {
        return 0;
    }
    codec = (data[0] & 1u) ? CS_NAL_CODEC_H265 : CS_NAL_CODEC_H264;
    flags = (data[0] >> 1) & 3u;
    data++;
    size--;
    split = size == 0 ? 0 : (size_t)(data[0] >> 3) * size / 31u;
    if (split > size) {
        split = size;
    }
    cap = size + size / 3 + 8; /* the documented bound */
    out = malloc(cap + 1);
    out2 = malloc(cap + 1);
    annexb = malloc(2 * cap + 1);
    if (out == NULL || out2 == NULL || annexb == NULL) {
        goto out;
    }

    st = cs_nal_annexb_to_avcc(codec, flags, data, size, NULL, 0, &need);
    if (cs_nal_annexb_to_avcc(codec, flags, data, size, out, cap, &n) != st) {
        abort();
    }
    if (st != CS_OK) {
        goto out;
    }
    if (n != need || n > cap) {
        abort();
    }

    cs_nal_stream_init(&s, codec, flags, out2, cap);
    (void)cs_nal_stream_push(&s, data, split);
    (void)cs_nal_stream_push(&s, data + split, size - split);
    if (cs_nal_stream_finish(&s, &n2) != CS_OK || n2 != n || memcmp(out, out2, n) != 0) {
        abort();
    }

    if (n > 0) {
        memset(out2, 0xA5, cap + 1);
        if (cs_nal_annexb_to_avcc(codec, flags, data, size, out2, n - 1, &n2) != CS_E_NOSPACE ||
            n2 != n) {
            abort();
        }
        for (size_t i = n - 1; i <= cap; i++) {
            if (out2[i] != 0xA5) {
                abort();
            }
        }
    }

    if (cs_nal_avcc_to_annexb(codec, 0, 4, out, n, annexb, 2 * cap, &na) != CS_OK ||
        cs_nal_annexb_to_avcc(codec, 0, annexb, na, out2, cap, &n2) != CS_OK || n2 != n ||
        memcmp(out, out2, n) != 0) {
        abort();
    }

    /* Without drop flags the iterator sees exactly the units the converter wrote. */
    if (flags == 0) {
        cs_nal_iter it;
        cs_nal_unit nal;
        bool got;
        if (cs_nal_iter_init(&it, codec, CS_NAL_FORMAT_ANNEXB, 0, data, size) != CS_OK) {
            abort();
        }
        while ((st = cs_nal_iter_next(&it, &nal, &got)) == CS_OK && got) {
            units++;
            total += 4 + nal.len;
        }
        if (st != CS_OK || total != n) {
            abort();
        }
        (void)units;
    }
    {
        bool key;
        (void)cs_nal_is_key_frame(codec, CS_NAL_FORMAT_AVCC, 4, out, n, &key);
        (void)cs_nal_is_key_frame(codec, CS_NAL_FORMAT_ANNEXB, 0, data, size, &key);
    }
out:
    free(out);
    free(out2);
    free(annexb);
    return 0;
}
