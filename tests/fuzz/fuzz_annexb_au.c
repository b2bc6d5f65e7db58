/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the access-unit splitter of `camstream put` for raw H.264/H.265 files
 * (cli/annexb_au.c) over arbitrary bytes, both codecs. Invariants: access units are non-empty,
 * contiguous from offset 0, inside the input, and the reader ends. */
#include <stdlib.h>

#include "annexb_au.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const cs_mkv_codec codecs[2] = {CS_MKV_CODEC_ID_H264, CS_MKV_CODEC_ID_H265};
    (void)cli_au_looks_annexb(data, size);
    (void)cli_au_sniff_codec(data, size);
    for (size_t c = 0; c < 2; c++) {
        cli_au_reader r;
        size_t expect = 0, units = 0;
        cli_au_init(&r, codecs[c], data, size);
        for (;;) {
            const uint8_t *au;
            size_t len;
            bool key;
            if (cli_au_next(&r, &au, &len, &key) != CS_OK || len == 0) {
                break;
            }
            if (au != data + expect || len > size - expect || ++units > size) {
                abort();
            }
            expect += len;
        }
    }
    return 0;
}
