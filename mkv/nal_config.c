/* SPDX-License-Identifier: Apache-2.0 */
/* Decoder configuration records, the CodecPrivate of H.264 (avcC) and H.265 (hvcC) tracks: builders
 * that write straight into caller memory (NULL destination = size only) with the field values
 * FFmpeg's ff_isom_write_avcc()/ff_isom_write_hvcc() derive, so files match what the rest of the
 * ecosystem writes, and parsers that hand back the parameter sets as spans into the record. */
#include <string.h>

#include "nal_int.h"

static bool h264_is(const uint8_t *nal, size_t len, unsigned type)
{
    return nal != NULL && len >= 1 && len <= 0xffff && (nal[0] & 0x1fu) == type;
}

static bool h265_is(const uint8_t *nal, size_t len, unsigned type)
{
    return nal != NULL && len >= 2 && len <= 0xffff && ((nal[0] >> 1) & 0x3fu) == type;
}

cs_status cs_nal_avcc_from_sps_pps(const uint8_t *sps, size_t sps_len, const uint8_t *pps,
                                   size_t pps_len, uint8_t *dst, size_t cap, size_t *written)
{
    struct csi_out o;
    uint8_t profile;

    if (written == NULL) {
        return CS_E_INVAL;
    }
    *written = 0;
    if (!h264_is(sps, sps_len, CS_H264_NAL_SPS) || !h264_is(pps, pps_len, CS_H264_NAL_PPS)) {
        return CS_E_INVAL;
    }
    if (sps_len < 4) {
        return CS_E_MALFORMED; /* no profile/compatibility/level bytes */
    }
    profile = sps[1];
    csi_out_init(&o, dst, cap);
    csi_out_u8(&o, 1);          /* configurationVersion */
    csi_out_u8(&o, profile);    /* AVCProfileIndication */
    csi_out_u8(&o, sps[2]);     /* profile_compatibility (the constraint flags byte) */
    csi_out_u8(&o, sps[3]);     /* AVCLevelIndication */
    csi_out_u8(&o, 0xfc | 3u);  /* reserved 111111, lengthSizeMinusOne 3 */
    csi_out_u8(&o, 0xe0 | 1u);  /* reserved 111, numOfSequenceParameterSets 1 */
    csi_out_be(&o, sps_len, 2); /* sequenceParameterSetLength */
    csi_out_put(&o, sps, sps_len);
    csi_out_u8(&o, 1);          /* numOfPictureParameterSets */
    csi_out_be(&o, pps_len, 2); /* pictureParameterSetLength */
    csi_out_put(&o, pps, pps_len);
    if (profile == 100 || profile == 110 || profile == 122 || profile == 144) {
        cs_h264_sps s;
        cs_status st = cs_h264_sps_parse(sps, sps_len, &s);
        if (st != CS_OK) {
            return st;
        }
        csi_out_u8(&o, 0xfc | s.chroma_format_idc);     /* reserved 111111, chroma_format */
        csi_out_u8(&o, 0xf8 | (s.bit_depth_luma - 8u)); /* reserved 11111, bit_depth_luma_minus8 */
        csi_out_u8(&o, 0xf8 | (s.bit_depth_chroma - 8u)); /* ... bit_depth_chroma_minus8 */
        csi_out_u8(&o, 0);                                /* numOfSequenceParameterSetExt */
    }
    return csi_out_finish(&o, written);
}

/* Merges one profile_tier_level into the record's, as FFmpeg's hvcc_update_ptl() does. */
static void merge_ptl(cs_h265_ptl *acc, const cs_h265_ptl *p)
{
    acc->profile_space = p->profile_space;
    if (acc->tier < p->tier) {
        acc->level_idc = p->level_idc;
    } else if (p->level_idc > acc->level_idc) {
        acc->level_idc = p->level_idc;
    }
    acc->tier = acc->tier || p->tier;
    if (p->profile_idc > acc->profile_idc) {
        acc->profile_idc = p->profile_idc;
    }
    acc->profile_compatibility_flags &= p->profile_compatibility_flags;
    acc->constraint_indicator_flags &= p->constraint_indicator_flags;
}

static void hvcc_array(struct csi_out *o, unsigned type, const uint8_t *nal, size_t len)
{
    csi_out_u8(o, type & 0x3fu); /* array_completeness 0, reserved 0, NAL_unit_type */
    csi_out_be(o, 1, 2);         /* numNalus */
    csi_out_be(o, len, 2);       /* nalUnitLength */
    csi_out_put(o, nal, len);
}

cs_status cs_nal_hvcc_from_vps_sps_pps(const uint8_t *vps, size_t vps_len, const uint8_t *sps,
                                       size_t sps_len, const uint8_t *pps, size_t pps_len,
                                       uint8_t *dst, size_t cap, size_t *written)
{
    struct csi_h265_vps v;
    cs_h265_sps s;
    cs_h265_ptl ptl;
    struct csi_out o;
    bool tiles = false, wpp = false;
    unsigned parallelism, layers;
    cs_status st;

    if (written == NULL) {
        return CS_E_INVAL;
    }
    *written = 0;
    if (!h265_is(vps, vps_len, CS_H265_NAL_VPS) || !h265_is(sps, sps_len, CS_H265_NAL_SPS) ||
        !h265_is(pps, pps_len, CS_H265_NAL_PPS)) {
        return CS_E_INVAL;
    }
    if ((st = csi_h265_vps_parse(vps, vps_len, &v)) != CS_OK ||
        (st = cs_h265_sps_parse(sps, sps_len, &s)) != CS_OK ||
        (st = csi_h265_pps_parallelism(pps, pps_len, &tiles, &wpp)) != CS_OK) {
        return st;
    }
    memset(&ptl, 0, sizeof(ptl));
    ptl.profile_compatibility_flags = UINT32_MAX;
    ptl.constraint_indicator_flags = 0xffffffffffffu;
    merge_ptl(&ptl, &v.ptl);
    merge_ptl(&ptl, &s.ptl);
    layers = v.max_sub_layers > s.max_sub_layers ? v.max_sub_layers : s.max_sub_layers;
    if (s.min_spatial_segmentation_idc == 0) {
        parallelism = 0; /* only meaningful with a segmentation restriction */
    } else if (tiles && wpp) {
        parallelism = 0; /* mixed */
    } else if (wpp) {
        parallelism = 3; /* wavefront */
    } else if (tiles) {
        parallelism = 2;
    } else {
        parallelism = 1; /* slices */
    }

    csi_out_init(&o, dst, cap);
    csi_out_u8(&o, 1); /* configurationVersion */
    csi_out_u8(&o, (unsigned)ptl.profile_space << 6 | (ptl.tier ? 0x20u : 0u) | ptl.profile_idc);
    csi_out_be(&o, ptl.profile_compatibility_flags, 4);
    csi_out_be(&o, ptl.constraint_indicator_flags, 6);
    csi_out_u8(&o, ptl.level_idc);
    csi_out_be(&o, 0xf000u | s.min_spatial_segmentation_idc, 2); /* reserved 1111 + 12 bits */
    csi_out_u8(&o, 0xfc | parallelism);                          /* reserved 111111 */
    csi_out_u8(&o, 0xfc | s.chroma_format_idc);                  /* reserved 111111 */
    csi_out_u8(&o, 0xf8 | (s.bit_depth_luma - 8u));              /* reserved 11111 */
    csi_out_u8(&o, 0xf8 | (s.bit_depth_chroma - 8u));            /* reserved 11111 */
    csi_out_be(&o, 0, 2);                                        /* avgFrameRate: unspecified */
    /* constantFrameRate 0, numTemporalLayers, temporalIdNested, lengthSizeMinusOne 3 */
    csi_out_u8(&o, layers << 3 | (s.temporal_id_nesting ? 4u : 0u) | 3u);
    csi_out_u8(&o, 3); /* numOfArrays */
    hvcc_array(&o, CS_H265_NAL_VPS, vps, vps_len);
    hvcc_array(&o, CS_H265_NAL_SPS, sps, sps_len);
    hvcc_array(&o, CS_H265_NAL_PPS, pps, pps_len);
    return csi_out_finish(&o, written);
}

cs_status cs_nal_codec_private_from_annexb(cs_nal_codec codec, const uint8_t *frame, size_t len,
                                           uint8_t *dst, size_t cap, size_t *written)
{
    cs_nal_param_sets ps;
    cs_status st;

    if (written == NULL) {
        return CS_E_INVAL;
    }
    *written = 0;
    st = cs_nal_find_param_sets(codec, CS_NAL_FORMAT_ANNEXB, 0, frame, len, &ps);
    if (st != CS_OK) {
        return st;
    }
    if (codec == CS_NAL_CODEC_H265) {
        return cs_nal_hvcc_from_vps_sps_pps(ps.vps, ps.vps_len, ps.sps, ps.sps_len, ps.pps,
                                            ps.pps_len, dst, cap, written);
    }
    return cs_nal_avcc_from_sps_pps(ps.sps, ps.sps_len, ps.pps, ps.pps_len, dst, cap, written);
}

/* ------------------------------------------------------------------------------------------ */
/* Parsing                                                                                      */
/* ------------------------------------------------------------------------------------------ */

struct rd {
    const uint8_t *p;
    size_t len;
    size_t pos;
};

static bool rd_u8(struct rd *r, unsigned *v)
{
    if (r->pos >= r->len) {
        return false;
    }
    *v = r->p[r->pos++];
    return true;
}

static bool rd_u16(struct rd *r, unsigned *v)
{
    if (r->len - r->pos < 2) {
        return false;
    }
    *v = (unsigned)r->p[r->pos] << 8 | r->p[r->pos + 1];
    r->pos += 2;
    return true;
}

/* One length-prefixed NAL unit of a record: records it in cfg and, when o is given, writes it as
 * Annex-B. */
static bool rd_nal(struct rd *r, cs_nal_config *cfg, struct csi_out *o, unsigned expect)
{
    unsigned n = 0, type;
    const uint8_t *nal;
    bool h265 = cfg->codec == CS_NAL_CODEC_H265;

    if (!rd_u16(r, &n) || n == 0 || n < (h265 ? 2u : 1u) || r->len - r->pos < n) {
        return false;
    }
    nal = r->p + r->pos;
    r->pos += n;
    type = cs_nal_type(cfg->codec, nal[0]);
    if (expect != 0 && type != expect) {
        return false;
    }
    if (o != NULL) {
        static const uint8_t sc[4] = {0, 0, 0, 1};
        csi_out_put(o, sc, 4);
        csi_out_put(o, nal, n);
    }
    if (type == (h265 ? CS_H265_NAL_SPS : CS_H264_NAL_SPS)) {
        if (cfg->num_sps++ == 0) {
            cfg->ps.sps = nal;
            cfg->ps.sps_len = n;
        }
    } else if (type == (h265 ? CS_H265_NAL_PPS : CS_H264_NAL_PPS)) {
        if (cfg->num_pps++ == 0) {
            cfg->ps.pps = nal;
            cfg->ps.pps_len = n;
        }
    } else if (h265 && type == CS_H265_NAL_VPS) {
        if (cfg->num_vps++ == 0) {
            cfg->ps.vps = nal;
            cfg->ps.vps_len = n;
        }
    }
    return true;
}

static cs_status parse_avcc(const uint8_t *rec, size_t len, cs_nal_config *cfg, struct csi_out *o)
{
    struct rd r = {rec, len, 0};
    unsigned v = 0, n = 0;

    memset(cfg, 0, sizeof(*cfg));
    cfg->codec = CS_NAL_CODEC_H264;
    cfg->record = rec;
    cfg->record_len = len;
    if (len < 7 || rec[0] != 1 || (rec[4] & 3u) == 2) {
        return CS_E_MALFORMED;
    }
    cfg->profile_idc = rec[1];
    cfg->compatibility = rec[2];
    cfg->level_idc = rec[3];
    cfg->length_size = (rec[4] & 3u) + 1u;
    r.pos = 5;
    (void)rd_u8(&r, &v);
    n = v & 0x1fu;
    for (unsigned i = 0; i < n; i++) {
        if (!rd_nal(&r, cfg, o, CS_H264_NAL_SPS)) {
            return CS_E_MALFORMED;
        }
    }
    if (!rd_u8(&r, &n)) {
        return CS_E_MALFORMED;
    }
    for (unsigned i = 0; i < n; i++) {
        if (!rd_nal(&r, cfg, o, CS_H264_NAL_PPS)) {
            return CS_E_MALFORMED;
        }
    }
    return CS_OK; /* the high-profile extension or padding may follow */
}

static cs_status parse_hvcc(const uint8_t *rec, size_t len, cs_nal_config *cfg, struct csi_out *o)
{
    struct rd r = {rec, len, 23};
    unsigned arrays;

    memset(cfg, 0, sizeof(*cfg));
    cfg->codec = CS_NAL_CODEC_H265;
    cfg->record = rec;
    cfg->record_len = len;
    if (len < 23 || rec[0] != 1 || (rec[21] & 3u) == 2) {
        return CS_E_MALFORMED;
    }
    cfg->profile_idc = rec[1] & 0x1fu;
    cfg->level_idc = rec[12];
    cfg->length_size = (rec[21] & 3u) + 1u;
    arrays = rec[22];
    for (unsigned a = 0; a < arrays; a++) {
        unsigned type = 0, n = 0;
        if (!rd_u8(&r, &type) || !rd_u16(&r, &n)) {
            return CS_E_MALFORMED;
        }
        for (unsigned i = 0; i < n; i++) {
            if (!rd_nal(&r, cfg, o, 0)) {
                return CS_E_MALFORMED;
            }
        }
    }
    return CS_OK;
}

cs_status cs_nal_avcc_parse(const uint8_t *rec, size_t len, cs_nal_config *out)
{
    if (rec == NULL || out == NULL) {
        return CS_E_INVAL;
    }
    return parse_avcc(rec, len, out, NULL);
}

cs_status cs_nal_hvcc_parse(const uint8_t *rec, size_t len, cs_nal_config *out)
{
    if (rec == NULL || out == NULL) {
        return CS_E_INVAL;
    }
    return parse_hvcc(rec, len, out, NULL);
}

cs_status cs_nal_config_to_annexb(const cs_nal_config *cfg, uint8_t *dst, size_t cap,
                                  size_t *written)
{
    cs_nal_config again;
    struct csi_out o;
    cs_status st;

    if (cfg == NULL || written == NULL || cfg->record == NULL) {
        return CS_E_INVAL;
    }
    *written = 0;
    csi_out_init(&o, dst, cap);
    if (cfg->codec == CS_NAL_CODEC_H265) {
        st = parse_hvcc(cfg->record, cfg->record_len, &again, &o);
    } else if (cfg->codec == CS_NAL_CODEC_H264) {
        st = parse_avcc(cfg->record, cfg->record_len, &again, &o);
    } else {
        return CS_E_INVAL;
    }
    if (st != CS_OK) {
        return st;
    }
    return csi_out_finish(&o, written);
}
