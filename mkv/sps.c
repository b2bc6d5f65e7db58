/* SPDX-License-Identifier: Apache-2.0 */
/* H.264 and H.265 parameter-set parsing: an Exp-Golomb bit reader that drops emulation-prevention
 * bytes (00 00 03) as it reads, so no de-escaped copy is made, and the SPS (plus the H.265 VPS
 * and PPS fields the hvcC builder needs) parsed with every loop bounded by the standard's limits.
 * Reading past the end never faults: it sets a flag and yields zeros, and the parser reports
 * CS_E_MALFORMED. */
#include <string.h>

#include "nal_int.h"

struct bitreader {
    const uint8_t *p;
    size_t len;
    size_t pos;         /* next byte of p to load */
    unsigned zeros;     /* consecutive zero bytes loaded, for emulation prevention */
    uint8_t cur;        /* the byte being read */
    unsigned bits_left; /* unread bits of cur */
    bool bad;           /* ran past the end or saw an impossible value */
};

static void br_init(struct bitreader *br, const uint8_t *p, size_t len)
{
    memset(br, 0, sizeof(*br));
    br->p = p;
    br->len = len;
}

static unsigned br_bit(struct bitreader *br)
{
    if (br->bits_left == 0) {
        uint8_t b;
        if (br->pos >= br->len) {
            br->bad = true;
            return 0;
        }
        b = br->p[br->pos++];
        if (br->zeros >= 2 && b == 3) {
            /* emulation_prevention_three_byte: not part of the RBSP */
            br->zeros = 0;
            if (br->pos >= br->len) {
                br->bad = true;
                return 0;
            }
            b = br->p[br->pos++];
        }
        br->zeros = b == 0 ? br->zeros + 1 : 0;
        br->cur = b;
        br->bits_left = 8;
    }
    br->bits_left--;
    return (br->cur >> br->bits_left) & 1u;
}

/* u(n), n <= 32 */
static uint32_t br_u(struct bitreader *br, unsigned n)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < n; i++) {
        v = (v << 1) | br_bit(br);
    }
    return v;
}

static bool br_flag(struct bitreader *br)
{
    return br_bit(br) != 0;
}

static void br_skip(struct bitreader *br, unsigned n)
{
    for (unsigned i = 0; i < n && !br->bad; i++) {
        (void)br_bit(br);
    }
}

/* ue(v); values above 2^32 - 2 cannot be represented and mark the input bad. */
static uint32_t br_ue(struct bitreader *br)
{
    unsigned lz = 0;
    while (br_bit(br) == 0) {
        if (br->bad || ++lz > 31) {
            br->bad = true;
            return 0;
        }
    }
    return (uint32_t)(((uint64_t)1 << lz) - 1u + br_u(br, lz));
}

static int32_t br_se(struct bitreader *br)
{
    uint32_t k = br_ue(br);
    if (k & 1u) {
        return (int32_t)((k >> 1) + 1u);
    }
    return -(int32_t)(k >> 1);
}

/* ue(v) that must be <= max */
static uint32_t br_ue_max(struct bitreader *br, uint32_t max)
{
    uint32_t v = br_ue(br);
    if (v > max) {
        br->bad = true;
        return 0;
    }
    return v;
}

/* Table E-1: the sample aspect ratios of aspect_ratio_idc 1..16. */
static const uint8_t sar_table[17][2] = {
    {0, 0},   {1, 1},   {12, 11}, {10, 11}, {16, 11},  {40, 33}, {24, 11}, {20, 11}, {32, 11},
    {80, 33}, {18, 11}, {15, 11}, {64, 33}, {160, 99}, {4, 3},   {3, 2},   {2, 1},
};

static void read_sar(struct bitreader *br, uint32_t *num, uint32_t *den)
{
    uint32_t idc = br_u(br, 8);
    if (idc == 255) {
        *num = br_u(br, 16);
        *den = br_u(br, 16);
    } else if (idc < 17) {
        *num = sar_table[idc][0];
        *den = sar_table[idc][1];
    }
}

/* ------------------------------------------------------------------------------------------ */
/* H.264                                                                                        */
/* ------------------------------------------------------------------------------------------ */

static void h264_scaling_list(struct bitreader *br, unsigned size)
{
    int last = 8, next = 8;
    for (unsigned j = 0; j < size && !br->bad; j++) {
        if (next != 0) {
            int32_t delta = br_se(br);
            if (delta < -128 || delta > 127) {
                br->bad = true;
                return;
            }
            next = (last + delta + 256) % 256;
        }
        last = next == 0 ? last : next;
    }
}

static bool h264_has_chroma_info(unsigned profile)
{
    switch (profile) {
    case 100:
    case 110:
    case 122:
    case 244:
    case 44:
    case 83:
    case 86:
    case 118:
    case 128:
    case 138:
    case 139:
    case 134:
    case 135:
        return true;
    default:
        return false;
    }
}

static void h264_vui(struct bitreader *br, cs_h264_sps *out)
{
    if (br_flag(br)) { /* aspect_ratio_info_present_flag */
        read_sar(br, &out->sar_num, &out->sar_den);
    }
    if (br_flag(br)) { /* overscan_info_present_flag */
        br_skip(br, 1);
    }
    if (br_flag(br)) {  /* video_signal_type_present_flag */
        br_skip(br, 4); /* video_format, video_full_range_flag */
        if (br_flag(br)) {
            br_skip(br, 24); /* colour_primaries, transfer_characteristics, matrix_coefficients */
        }
    }
    if (br_flag(br)) { /* chroma_loc_info_present_flag */
        (void)br_ue(br);
        (void)br_ue(br);
    }
    out->timing_info_present = br_flag(br);
    if (out->timing_info_present) {
        out->num_units_in_tick = br_u(br, 32);
        out->time_scale = br_u(br, 32);
        out->fixed_frame_rate = br_flag(br);
        if (out->num_units_in_tick != 0 && out->time_scale != 0 &&
            out->num_units_in_tick <= UINT32_MAX / 2) {
            out->fps_num = out->time_scale;
            out->fps_den = 2u * out->num_units_in_tick;
        }
    }
    /* HRD parameters and bitstream restrictions follow; nothing here needs them. */
}

cs_status cs_h264_sps_parse(const uint8_t *nal, size_t len, cs_h264_sps *out)
{
    struct bitreader br;
    cs_h264_sps s;
    uint32_t mbs_w, map_h, crop_x = 1, crop_y = 1, chroma_array_type;
    uint64_t cw, ch;

    if (nal == NULL || out == NULL || len < 1 || (nal[0] & 0x1fu) != CS_H264_NAL_SPS) {
        return CS_E_INVAL;
    }
    memset(&s, 0, sizeof(s));
    br_init(&br, nal + 1, len - 1);
    s.profile_idc = (uint8_t)br_u(&br, 8);
    s.constraint_flags = (uint8_t)br_u(&br, 8);
    s.level_idc = (uint8_t)br_u(&br, 8);
    s.sps_id = br_ue_max(&br, 31);
    s.chroma_format_idc = 1;
    s.bit_depth_luma = 8;
    s.bit_depth_chroma = 8;
    if (h264_has_chroma_info(s.profile_idc)) {
        s.chroma_format_idc = br_ue_max(&br, 3);
        if (s.chroma_format_idc == 3) {
            s.separate_colour_plane = br_flag(&br);
        }
        s.bit_depth_luma = 8u + br_ue_max(&br, 6);
        s.bit_depth_chroma = 8u + br_ue_max(&br, 6);
        br_skip(&br, 1);    /* qpprime_y_zero_transform_bypass_flag */
        if (br_flag(&br)) { /* seq_scaling_matrix_present_flag */
            unsigned n = s.chroma_format_idc != 3 ? 8 : 12;
            for (unsigned i = 0; i < n && !br.bad; i++) {
                if (br_flag(&br)) {
                    h264_scaling_list(&br, i < 6 ? 16 : 64);
                }
            }
        }
    }
    s.log2_max_frame_num = 4u + br_ue_max(&br, 12);
    s.pic_order_cnt_type = br_ue_max(&br, 2);
    if (s.pic_order_cnt_type == 0) {
        (void)br_ue_max(&br, 12); /* log2_max_pic_order_cnt_lsb_minus4 */
    } else if (s.pic_order_cnt_type == 1) {
        uint32_t cycle;
        br_skip(&br, 1);  /* delta_pic_order_always_zero_flag */
        (void)br_se(&br); /* offset_for_non_ref_pic */
        (void)br_se(&br); /* offset_for_top_to_bottom_field */
        cycle = br_ue_max(&br, 255);
        for (uint32_t i = 0; i < cycle && !br.bad; i++) {
            (void)br_se(&br); /* offset_for_ref_frame[i] */
        }
    }
    s.max_num_ref_frames = br_ue(&br);
    br_skip(&br, 1); /* gaps_in_frame_num_value_allowed_flag */
    mbs_w = br_ue(&br);
    map_h = br_ue(&br);
    s.frame_mbs_only = br_flag(&br);
    if (!s.frame_mbs_only) {
        br_skip(&br, 1); /* mb_adaptive_frame_field_flag */
    }
    br_skip(&br, 1);    /* direct_8x8_inference_flag */
    if (br_flag(&br)) { /* frame_cropping_flag; offsets are in crop units, set below */
        s.crop_left = br_ue(&br);
        s.crop_right = br_ue(&br);
        s.crop_top = br_ue(&br);
        s.crop_bottom = br_ue(&br);
    }
    s.vui_present = br_flag(&br);
    if (s.vui_present && !br.bad) {
        h264_vui(&br, &s);
    }
    if (br.bad) {
        return CS_E_MALFORMED;
    }

    cw = ((uint64_t)mbs_w + 1u) * 16u;
    ch = ((uint64_t)map_h + 1u) * 16u * (s.frame_mbs_only ? 1u : 2u);
    chroma_array_type = s.separate_colour_plane ? 0 : s.chroma_format_idc;
    if (chroma_array_type != 0) {
        crop_x = chroma_array_type == 3 ? 1u : 2u; /* SubWidthC */
        crop_y = chroma_array_type == 1 ? 2u : 1u; /* SubHeightC */
    }
    crop_y *= s.frame_mbs_only ? 1u : 2u;
    {
        uint64_t cl = (uint64_t)s.crop_left * crop_x, cr = (uint64_t)s.crop_right * crop_x;
        uint64_t ct = (uint64_t)s.crop_top * crop_y, cb = (uint64_t)s.crop_bottom * crop_y;
        if (cw > UINT32_MAX || ch > UINT32_MAX || cl + cr >= cw || ct + cb >= ch) {
            return CS_E_MALFORMED;
        }
        s.coded_width = (uint32_t)cw;
        s.coded_height = (uint32_t)ch;
        s.crop_left = (uint32_t)cl;
        s.crop_right = (uint32_t)cr;
        s.crop_top = (uint32_t)ct;
        s.crop_bottom = (uint32_t)cb;
        s.width = (uint32_t)(cw - cl - cr);
        s.height = (uint32_t)(ch - ct - cb);
    }
    *out = s;
    return CS_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* H.265                                                                                        */
/* ------------------------------------------------------------------------------------------ */

/* profile_tier_level(1, max_sub_layers_minus1): the general part is kept, sub-layers skipped. */
static void h265_ptl(struct bitreader *br, unsigned max_sub_layers_minus1, cs_h265_ptl *ptl)
{
    bool prof[8] = {false}, lvl[8] = {false};

    ptl->profile_space = (uint8_t)br_u(br, 2);
    ptl->tier = br_flag(br);
    ptl->profile_idc = (uint8_t)br_u(br, 5);
    ptl->profile_compatibility_flags = br_u(br, 32);
    ptl->constraint_indicator_flags = (uint64_t)br_u(br, 16) << 32;
    ptl->constraint_indicator_flags |= br_u(br, 32);
    ptl->level_idc = (uint8_t)br_u(br, 8);
    for (unsigned i = 0; i < max_sub_layers_minus1; i++) {
        prof[i] = br_flag(br);
        lvl[i] = br_flag(br);
    }
    if (max_sub_layers_minus1 > 0) {
        br_skip(br, 2u * (8u - max_sub_layers_minus1)); /* reserved_zero_2bits */
    }
    for (unsigned i = 0; i < max_sub_layers_minus1; i++) {
        if (prof[i]) {
            br_skip(br, 88); /* space, tier, idc, 32 compatibility flags, 48 constraint bits */
        }
        if (lvl[i]) {
            br_skip(br, 8);
        }
    }
}

static void h265_scaling_list_data(struct bitreader *br)
{
    for (unsigned size_id = 0; size_id < 4; size_id++) {
        for (unsigned matrix_id = 0; matrix_id < 6 && !br->bad;
             matrix_id += size_id == 3 ? 3u : 1u) {
            if (!br_flag(br)) {         /* scaling_list_pred_mode_flag */
                (void)br_ue_max(br, 5); /* scaling_list_pred_matrix_id_delta */
            } else {
                unsigned coefs = 1u << (4u + (size_id << 1));
                coefs = coefs > 64 ? 64 : coefs;
                if (size_id > 1) {
                    (void)br_se(br); /* scaling_list_dc_coef_minus8 */
                }
                for (unsigned i = 0; i < coefs && !br->bad; i++) {
                    (void)br_se(br); /* scaling_list_delta_coef */
                }
            }
        }
    }
}

#define H265_MAX_ST_RPS 64
#define H265_MAX_DPB 16

/* st_ref_pic_set(idx) as it appears in an SPS; num_delta_pocs[] tracks what later sets predict
 * from. */
static void h265_st_rps(struct bitreader *br, unsigned idx, uint32_t *num_delta_pocs)
{
    if (idx != 0 && br_flag(br)) { /* inter_ref_pic_set_prediction_flag */
        uint32_t ref = idx - 1u;   /* delta_idx_minus1 is only coded in slice headers */
        uint32_t n = 0;
        br_skip(br, 1);  /* delta_rps_sign */
        (void)br_ue(br); /* abs_delta_rps_minus1 */
        for (uint32_t j = 0; j <= num_delta_pocs[ref] && !br->bad; j++) {
            bool used = br_flag(br);
            bool use_delta = used ? true : br_flag(br);
            if (used || use_delta) {
                n++;
            }
        }
        if (n > H265_MAX_DPB) {
            br->bad = true;
        }
        num_delta_pocs[idx] = n;
    } else {
        uint32_t neg = br_ue_max(br, H265_MAX_DPB);
        uint32_t pos = br_ue_max(br, H265_MAX_DPB);
        if (neg + pos > H265_MAX_DPB) {
            br->bad = true;
            return;
        }
        for (uint32_t i = 0; i < neg + pos && !br->bad; i++) {
            (void)br_ue(br); /* delta_poc_s0/s1_minus1 */
            br_skip(br, 1);  /* used_by_curr_pic_s0/s1_flag */
        }
        num_delta_pocs[idx] = neg + pos;
    }
}

static void h265_sub_layer_hrd(struct bitreader *br, uint32_t cpb_cnt, bool sub_pic)
{
    for (uint32_t i = 0; i < cpb_cnt && !br->bad; i++) {
        (void)br_ue(br); /* bit_rate_value_minus1 */
        (void)br_ue(br); /* cpb_size_value_minus1 */
        if (sub_pic) {
            (void)br_ue(br); /* cpb_size_du_value_minus1 */
            (void)br_ue(br); /* bit_rate_du_value_minus1 */
        }
        br_skip(br, 1); /* cbr_flag */
    }
}

static void h265_hrd(struct bitreader *br, unsigned max_sub_layers_minus1)
{
    bool nal_hrd = br_flag(br), vcl_hrd = br_flag(br), sub_pic = false;

    if (nal_hrd || vcl_hrd) {
        sub_pic = br_flag(br);
        if (sub_pic) {
            br_skip(br, 8 + 5 + 1 + 5); /* tick_divisor, du delay length, in-SEI flag, dpb du */
        }
        br_skip(br, 4 + 4); /* bit_rate_scale, cpb_size_scale */
        if (sub_pic) {
            br_skip(br, 4); /* cpb_size_du_scale */
        }
        br_skip(br, 5 + 5 + 5); /* initial/au removal delay lengths, dpb_output_delay length */
    }
    for (unsigned i = 0; i <= max_sub_layers_minus1 && !br->bad; i++) {
        bool fixed_general = br_flag(br);
        bool fixed_cvs = fixed_general ? true : br_flag(br);
        bool low_delay = false;
        uint32_t cpb_cnt_minus1 = 0;
        if (fixed_cvs) {
            (void)br_ue(br); /* elemental_duration_in_tc_minus1 */
        } else {
            low_delay = br_flag(br);
        }
        if (!low_delay) {
            cpb_cnt_minus1 = br_ue_max(br, 31);
        }
        if (nal_hrd) {
            h265_sub_layer_hrd(br, cpb_cnt_minus1 + 1u, sub_pic);
        }
        if (vcl_hrd) {
            h265_sub_layer_hrd(br, cpb_cnt_minus1 + 1u, sub_pic);
        }
    }
}

static void h265_vui(struct bitreader *br, unsigned max_sub_layers_minus1, cs_h265_sps *out)
{
    if (br_flag(br)) { /* aspect_ratio_info_present_flag */
        read_sar(br, &out->sar_num, &out->sar_den);
    }
    if (br_flag(br)) { /* overscan_info_present_flag */
        br_skip(br, 1);
    }
    if (br_flag(br)) { /* video_signal_type_present_flag */
        br_skip(br, 4);
        if (br_flag(br)) {
            br_skip(br, 24);
        }
    }
    if (br_flag(br)) { /* chroma_loc_info_present_flag */
        (void)br_ue(br);
        (void)br_ue(br);
    }
    br_skip(br, 3);    /* neutral_chroma_indication, field_seq, frame_field_info_present */
    if (br_flag(br)) { /* default_display_window_flag */
        for (int i = 0; i < 4; i++) {
            (void)br_ue(br);
        }
    }
    out->timing_info_present = br_flag(br);
    if (out->timing_info_present) {
        out->num_units_in_tick = br_u(br, 32);
        out->time_scale = br_u(br, 32);
        if (out->num_units_in_tick != 0 && out->time_scale != 0) {
            out->fps_num = out->time_scale;
            out->fps_den = out->num_units_in_tick;
        }
        if (br_flag(br)) {   /* vui_poc_proportional_to_timing_flag */
            (void)br_ue(br); /* vui_num_ticks_poc_diff_one_minus1 */
        }
        if (br_flag(br)) { /* vui_hrd_parameters_present_flag */
            h265_hrd(br, max_sub_layers_minus1);
        }
    }
    if (br_flag(br)) {  /* bitstream_restriction_flag */
        br_skip(br, 3); /* tiles_fixed, mvs_over_pic_boundaries, restricted_ref_pic_lists */
        out->min_spatial_segmentation_idc = br_ue_max(br, 4095);
        (void)br_ue(br); /* max_bytes_per_pic_denom */
        (void)br_ue(br); /* max_bits_per_min_cu_denom */
        (void)br_ue(br); /* log2_max_mv_length_horizontal */
        (void)br_ue(br); /* log2_max_mv_length_vertical */
    }
}

static bool h265_header_is(const uint8_t *nal, size_t len, unsigned type)
{
    return nal != NULL && len >= 2 && ((nal[0] >> 1) & 0x3fu) == type;
}

cs_status cs_h265_sps_parse(const uint8_t *nal, size_t len, cs_h265_sps *out)
{
    struct bitreader br;
    cs_h265_sps s;
    uint32_t log2_poc_lsb, num_st_rps, sub_w = 1, sub_h = 1;
    uint32_t num_delta_pocs[H265_MAX_ST_RPS];
    unsigned msl1;
    uint64_t cl, cr, ct, cb;

    if (out == NULL || !h265_header_is(nal, len, CS_H265_NAL_SPS)) {
        return CS_E_INVAL;
    }
    memset(&s, 0, sizeof(s));
    br_init(&br, nal + 2, len - 2);
    s.vps_id = (uint8_t)br_u(&br, 4);
    msl1 = br_u(&br, 3);
    if (msl1 > 6) {
        return CS_E_MALFORMED;
    }
    s.max_sub_layers = (uint8_t)(msl1 + 1u);
    s.temporal_id_nesting = br_flag(&br);
    h265_ptl(&br, msl1, &s.ptl);
    s.sps_id = br_ue_max(&br, 15);
    s.chroma_format_idc = br_ue_max(&br, 3);
    if (s.chroma_format_idc == 3) {
        s.separate_colour_plane = br_flag(&br);
    }
    s.coded_width = br_ue(&br);
    s.coded_height = br_ue(&br);
    if (br_flag(&br)) { /* conformance_window_flag; offsets in chroma units, scaled below */
        s.crop_left = br_ue(&br);
        s.crop_right = br_ue(&br);
        s.crop_top = br_ue(&br);
        s.crop_bottom = br_ue(&br);
    }
    s.bit_depth_luma = 8u + br_ue_max(&br, 8);
    s.bit_depth_chroma = 8u + br_ue_max(&br, 8);
    log2_poc_lsb = 4u + br_ue_max(&br, 12);
    {
        bool ordering_all = br_flag(&br); /* sps_sub_layer_ordering_info_present_flag */
        for (unsigned i = ordering_all ? 0 : msl1; i <= msl1 && !br.bad; i++) {
            (void)br_ue(&br); /* sps_max_dec_pic_buffering_minus1 */
            (void)br_ue(&br); /* sps_max_num_reorder_pics */
            (void)br_ue(&br); /* sps_max_latency_increase_plus1 */
        }
    }
    (void)br_ue(&br);                   /* log2_min_luma_coding_block_size_minus3 */
    (void)br_ue(&br);                   /* log2_diff_max_min_luma_coding_block_size */
    (void)br_ue(&br);                   /* log2_min_luma_transform_block_size_minus2 */
    (void)br_ue(&br);                   /* log2_diff_max_min_luma_transform_block_size */
    (void)br_ue(&br);                   /* max_transform_hierarchy_depth_inter */
    (void)br_ue(&br);                   /* max_transform_hierarchy_depth_intra */
    if (br_flag(&br) && br_flag(&br)) { /* scaling_list_enabled, sps_scaling_list_data_present */
        h265_scaling_list_data(&br);
    }
    br_skip(&br, 2);      /* amp_enabled_flag, sample_adaptive_offset_enabled_flag */
    if (br_flag(&br)) {   /* pcm_enabled_flag */
        br_skip(&br, 8);  /* pcm sample bit depths */
        (void)br_ue(&br); /* log2_min_pcm_luma_coding_block_size_minus3 */
        (void)br_ue(&br); /* log2_diff_max_min_pcm_luma_coding_block_size */
        br_skip(&br, 1);  /* pcm_loop_filter_disabled_flag */
    }
    num_st_rps = br_ue_max(&br, H265_MAX_ST_RPS);
    for (uint32_t i = 0; i < num_st_rps && !br.bad; i++) {
        h265_st_rps(&br, i, num_delta_pocs);
    }
    if (br_flag(&br)) { /* long_term_ref_pics_present_flag */
        uint32_t n = br_ue_max(&br, 32);
        for (uint32_t i = 0; i < n && !br.bad; i++) {
            br_skip(&br, log2_poc_lsb + 1u); /* lt_ref_pic_poc_lsb_sps, used_by_curr_pic_lt */
        }
    }
    br_skip(&br, 2); /* sps_temporal_mvp_enabled_flag, strong_intra_smoothing_enabled_flag */
    s.vui_present = br_flag(&br);
    if (s.vui_present && !br.bad) {
        h265_vui(&br, msl1, &s);
    }
    if (br.bad) {
        return CS_E_MALFORMED;
    }

    if (!s.separate_colour_plane && s.chroma_format_idc != 0) {
        sub_w = s.chroma_format_idc == 3 ? 1u : 2u;
        sub_h = s.chroma_format_idc == 1 ? 2u : 1u;
    }
    cl = (uint64_t)s.crop_left * sub_w;
    cr = (uint64_t)s.crop_right * sub_w;
    ct = (uint64_t)s.crop_top * sub_h;
    cb = (uint64_t)s.crop_bottom * sub_h;
    if (cl + cr >= s.coded_width || ct + cb >= s.coded_height) {
        return CS_E_MALFORMED;
    }
    s.crop_left = (uint32_t)cl;
    s.crop_right = (uint32_t)cr;
    s.crop_top = (uint32_t)ct;
    s.crop_bottom = (uint32_t)cb;
    s.width = (uint32_t)(s.coded_width - cl - cr);
    s.height = (uint32_t)(s.coded_height - ct - cb);
    *out = s;
    return CS_OK;
}

cs_status csi_h265_vps_parse(const uint8_t *nal, size_t len, struct csi_h265_vps *out)
{
    struct bitreader br;
    unsigned msl1;

    if (out == NULL || !h265_header_is(nal, len, CS_H265_NAL_VPS)) {
        return CS_E_INVAL;
    }
    memset(out, 0, sizeof(*out));
    br_init(&br, nal + 2, len - 2);
    br_skip(&br, 4 + 1 + 1 + 6); /* vps id, base layer internal/available, max_layers_minus1 */
    msl1 = br_u(&br, 3);
    if (msl1 > 6) {
        return CS_E_MALFORMED;
    }
    out->max_sub_layers = (uint8_t)(msl1 + 1u);
    br_skip(&br, 1 + 16); /* vps_temporal_id_nesting_flag, vps_reserved_0xffff_16bits */
    h265_ptl(&br, msl1, &out->ptl);
    return br.bad ? CS_E_MALFORMED : CS_OK;
}

cs_status csi_h265_pps_parallelism(const uint8_t *nal, size_t len, bool *tiles, bool *wpp)
{
    struct bitreader br;

    if (tiles == NULL || wpp == NULL || !h265_header_is(nal, len, CS_H265_NAL_PPS)) {
        return CS_E_INVAL;
    }
    br_init(&br, nal + 2, len - 2);
    (void)br_ue_max(&br, 63);        /* pps_pic_parameter_set_id */
    (void)br_ue_max(&br, 15);        /* pps_seq_parameter_set_id */
    br_skip(&br, 1 + 1 + 3 + 1 + 1); /* dependent slices, output flag, extra bits, sdh, cabac */
    (void)br_ue(&br);                /* num_ref_idx_l0_default_active_minus1 */
    (void)br_ue(&br);                /* num_ref_idx_l1_default_active_minus1 */
    (void)br_se(&br);                /* init_qp_minus26 */
    br_skip(&br, 2);                 /* constrained_intra_pred_flag, transform_skip_enabled_flag */
    if (br_flag(&br)) {              /* cu_qp_delta_enabled_flag */
        (void)br_ue(&br);
    }
    (void)br_se(&br); /* pps_cb_qp_offset */
    (void)br_se(&br); /* pps_cr_qp_offset */
    br_skip(&br, 4);  /* slice chroma qp offsets, weighted pred/bipred, transquant bypass */
    *tiles = br_flag(&br);
    *wpp = br_flag(&br);
    return br.bad ? CS_E_MALFORMED : CS_OK;
}
