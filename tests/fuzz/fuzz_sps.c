/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target of the parameter-set and record parsers: the input is tried as an H.264 SPS, an
 * H.265 SPS (each with its header forced), an avcC and an hvcC; what parses is fed onward
 * (record -> SPS parse, record -> Annex-B, SPS -> builders, rebuilt record parses again). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "camstream/nal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[1 << 17];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_h264_sps s4;
    cs_h265_sps s5;
    cs_nal_config cfg;
    uint8_t *nal;
    size_t n;

    if (size > 65536) {
        return 0;
    }
    nal = malloc(size + 2);
    if (nal == NULL) {
        return 0;
    }
    memcpy(nal + 2, data, size);

    /* As an H.264 SPS (1-byte header) and an H.265 SPS (2-byte header). */
    nal[1] = 0x67;
    if (cs_h264_sps_parse(nal + 1, size + 1, &s4) == CS_OK) {
        if (s4.width == 0 || s4.height == 0 || s4.width > s4.coded_width) {
            abort();
        }
        (void)cs_nal_avcc_from_sps_pps(nal + 1, size + 1 > 0xffff ? 0xffff : size + 1,
                                       (const uint8_t[]){0x68, 0xce}, 2, out, sizeof(out), &n);
    }
    nal[0] = 0x42;
    nal[1] = 0x01;
    if (cs_h265_sps_parse(nal, size + 2, &s5) == CS_OK) {
        if (s5.width == 0 || s5.height == 0 || s5.width > s5.coded_width) {
            abort();
        }
    }

    /* As records. */
    if (cs_nal_avcc_parse(data, size, &cfg) == CS_OK) {
        if (cfg.ps.sps != NULL) {
            (void)cs_h264_sps_parse(cfg.ps.sps, cfg.ps.sps_len, &s4);
            if (cfg.ps.pps != NULL) {
                (void)cs_nal_avcc_from_sps_pps(cfg.ps.sps, cfg.ps.sps_len, cfg.ps.pps,
                                               cfg.ps.pps_len, out, sizeof(out), &n);
            }
        }
        (void)cs_nal_config_to_annexb(&cfg, out, sizeof(out), &n);
    }
    if (cs_nal_hvcc_parse(data, size, &cfg) == CS_OK) {
        (void)cs_nal_config_to_annexb(&cfg, out, sizeof(out), &n);
        if (cfg.ps.sps != NULL) {
            (void)cs_h265_sps_parse(cfg.ps.sps, cfg.ps.sps_len, &s5);
        }
        if (cfg.ps.vps != NULL && cfg.ps.sps != NULL && cfg.ps.pps != NULL &&
            cs_nal_hvcc_from_vps_sps_pps(cfg.ps.vps, cfg.ps.vps_len, cfg.ps.sps, cfg.ps.sps_len,
                                         cfg.ps.pps, cfg.ps.pps_len, out, sizeof(out),
                                         &n) == CS_OK) {
            cs_nal_config again;
            if (cs_nal_hvcc_parse(out, n, &again) != CS_OK || again.num_sps != 1) {
                abort();
            }
        }
    }
    free(nal);
    return 0;
}
