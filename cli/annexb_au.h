/* SPDX-License-Identifier: Apache-2.0 */
/* Access units of a raw H.264/H.265 Annex-B byte stream (cli/annexb_au.c), for `camstream put`:
 * a raw file has no container, so the frames are found by the NAL unit types alone. */
#ifndef CAMSTREAM_CLI_ANNEXB_AU_H
#define CAMSTREAM_CLI_ANNEXB_AU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/mkv.h"
#include "camstream/nal.h"

/** Reader state; fill with cli_au_init(). The buffer is borrowed until the last call. */
typedef struct cli_au_reader {
    cs_mkv_codec codec; /* CS_MKV_CODEC_ID_H264 or CS_MKV_CODEC_ID_H265 */
    const uint8_t *buf;
    size_t len, pos;
    cs_nal_iter it;
    cs_nal_unit pending; /* first NAL unit of the next access unit, when have_pending */
    bool have_pending;
} cli_au_reader;

/** @brief True when `b` starts like an Annex-B stream: zero bytes, 01, a NAL header. */
bool cli_au_looks_annexb(const uint8_t *b, size_t len);

/** @brief H.265 when the first NAL unit reads as an H.265 VPS/SPS/PPS/AUD/SEI/IDR, else H.264. */
cs_mkv_codec cli_au_sniff_codec(const uint8_t *b, size_t len);

/** @brief Starts reading the access units of buf[0..len). */
void cli_au_init(cli_au_reader *r, cs_mkv_codec codec, const uint8_t *buf, size_t len);

/**
 * @brief The next access unit: from the end of the previous one to the start code of the first
 * NAL unit of the next (so zero bytes between them are trailing zeros of this one). An access
 * unit ends before a delimiter, parameter set or prefix SEI, or the first slice of another
 * picture, that follows a picture (H.264 7.4.1.2.3, H.265 7.4.2.4.4).
 * @param[out] data  first byte (inside the buffer)
 * @param[out] size  bytes; 0 at the end (bytes after the last picture belong to it; a stream
 *                   with no picture has no access unit)
 * @param[out] key   it holds an IDR (H.264) / IRAP (H.265) picture
 * @return CS_OK; CS_E_MALFORMED (bytes before the first start code, at r->it.pos)
 */
cs_status cli_au_next(cli_au_reader *r, const uint8_t **data, size_t *size, bool *key);

#endif /* CAMSTREAM_CLI_ANNEXB_AU_H */
