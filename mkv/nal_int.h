/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by the NAL tools (nal.c, nal_config.c, sps.c): the bounded output writer every
 * NULL-destination-capable function uses, and the H.265 VPS/PPS fields the hvcC builder needs. */
#ifndef CS_MKV_NAL_INT_H
#define CS_MKV_NAL_INT_H

#include <string.h>

#include "camstream/nal.h"

/* Output into caller memory: counts every byte, writes only those below cap, so the sizing pass
 * (dst NULL) and the writing pass run the same code and nothing lands at or past dst[cap]. */
struct csi_out {
    uint8_t *dst;
    size_t cap;
    size_t pos;
    bool overflow;
};

static inline void csi_out_init(struct csi_out *o, uint8_t *dst, size_t cap)
{
    o->dst = dst;
    o->cap = dst != NULL ? cap : 0;
    o->pos = 0;
    o->overflow = false;
}

static inline void csi_out_put(struct csi_out *o, const uint8_t *p, size_t n)
{
    if (o->dst != NULL && o->pos < o->cap) {
        size_t k = o->cap - o->pos < n ? o->cap - o->pos : n;
        memcpy(o->dst + o->pos, p, k);
    }
    if (cs_add_size(o->pos, n, &o->pos) != CS_OK) {
        o->overflow = true;
    }
}

static inline void csi_out_u8(struct csi_out *o, unsigned v)
{
    uint8_t b = (uint8_t)v;
    csi_out_put(o, &b, 1);
}

static inline void csi_out_be(struct csi_out *o, uint64_t v, unsigned nbytes)
{
    uint8_t b[8];
    for (unsigned i = 0; i < nbytes; i++) {
        b[i] = (uint8_t)(v >> (8u * (nbytes - 1u - i)));
    }
    csi_out_put(o, b, nbytes);
}

/* CS_OK, CS_E_OVERFLOW or CS_E_NOSPACE; *written = bytes written or needed. */
static inline cs_status csi_out_finish(const struct csi_out *o, size_t *written)
{
    *written = o->pos;
    if (o->overflow) {
        return CS_E_OVERFLOW;
    }
    if (o->dst != NULL && o->pos > o->cap) {
        return CS_E_NOSPACE;
    }
    return CS_OK;
}

/* The VPS fields an hvcC needs. */
struct csi_h265_vps {
    uint8_t max_sub_layers;
    cs_h265_ptl ptl;
};

/* Parses a VPS NAL (2-byte header included). CS_OK, CS_E_INVAL, CS_E_MALFORMED. */
cs_status csi_h265_vps_parse(const uint8_t *nal, size_t len, struct csi_h265_vps *out);

/* Reads a PPS NAL (2-byte header included) up to tiles_enabled_flag and
 * entropy_coding_sync_enabled_flag. CS_OK, CS_E_INVAL, CS_E_MALFORMED. */
cs_status csi_h265_pps_parallelism(const uint8_t *nal, size_t len, bool *tiles, bool *wpp);

#endif
