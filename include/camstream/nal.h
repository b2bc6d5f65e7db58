/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file nal.h
 * @brief H.264/H.265 NAL tools of the mkv module: Annex-B <-> AVCC conversion (one-shot and
 * streaming), a NAL iterator, key-frame detection, parameter-set extraction, SPS parsing and
 * avcC/hvcC (CodecPrivate) builders and parsers.
 *
 * Formats: *Annex-B* separates NAL units with start codes (00 00 01 or 00 00 00 01), as encoders
 * emit them; *AVCC* prefixes each NAL unit with its big-endian length (4 bytes unless a
 * configuration record says otherwise), as MKV and MP4 store them.
 *
 * Memory: nothing here allocates. Writers take a caller-owned destination and its capacity; a
 * NULL destination sizes without writing, through the same code path as the write. Outputs that
 * point into an input (iterator spans, parameter sets, parsed records) borrow the caller's bytes
 * and are valid as long as those bytes are.
 *
 * SPS parsing removes emulation-prevention bytes (00 00 03) on the fly in its bit reader, so it
 * needs no buffer and accepts the NAL exactly as it appears in the stream or in a record.
 *
 * Thread safety: functions are reentrant; a cs_nal_stream or cs_nal_iter belongs to one thread.
 */
#ifndef CAMSTREAM_NAL_H
#define CAMSTREAM_NAL_H

#include "camstream/platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The two codecs. Values equal CS_MKV_CODEC_ID_H264/H265 of mkv.h, so a cast converts. */
typedef enum cs_nal_codec {
    CS_NAL_CODEC_H264 = 1,
    CS_NAL_CODEC_H265 = 2,
} cs_nal_codec;

/** How NAL units are delimited in a buffer. */
typedef enum cs_nal_format {
    CS_NAL_FORMAT_ANNEXB = 1, /**< start codes */
    CS_NAL_FORMAT_AVCC = 2,   /**< big-endian length prefixes (1, 2, 3 or 4 bytes) */
} cs_nal_format;

/* H.264 nal_unit_type values (ITU-T H.264 Table 7-1). */
#define CS_H264_NAL_SLICE 1u
#define CS_H264_NAL_IDR 5u
#define CS_H264_NAL_SEI 6u
#define CS_H264_NAL_SPS 7u
#define CS_H264_NAL_PPS 8u
#define CS_H264_NAL_AUD 9u
#define CS_H264_NAL_FILLER 12u

/* H.265 nal_unit_type values (ITU-T H.265 Table 7-1). IRAP pictures are types 16..23. */
#define CS_H265_NAL_IRAP_FIRST 16u
#define CS_H265_NAL_IDR_W_RADL 19u
#define CS_H265_NAL_IDR_N_LP 20u
#define CS_H265_NAL_CRA 21u
#define CS_H265_NAL_IRAP_LAST 23u
#define CS_H265_NAL_VPS 32u
#define CS_H265_NAL_SPS 33u
#define CS_H265_NAL_PPS 34u
#define CS_H265_NAL_AUD 35u
#define CS_H265_NAL_SEI_PREFIX 39u
#define CS_H265_NAL_SEI_SUFFIX 40u

/** Conversion flags (bitwise OR). SEI and every other NAL type are always kept. */
#define CS_NAL_DROP_AUD 0x1u        /**< drop access unit delimiters (type 9 / 35) */
#define CS_NAL_DROP_PARAM_SETS 0x2u /**< drop in-band VPS/SPS/PPS (they live in CodecPrivate) */

/**
 * @brief The nal_unit_type of a NAL unit from its first header byte.
 * @param[in] codec       H.264 (type = b & 0x1f) or H.265 (type = (b >> 1) & 0x3f)
 * @param[in] first_byte  the first byte of the NAL unit header
 * @return the type (0..31 for H.264, 0..63 for H.265)
 */
CS_API unsigned cs_nal_type(cs_nal_codec codec, uint8_t first_byte);

/** @brief True when a NAL type starts a key frame: IDR (5) for H.264, IRAP (16..23) for H.265. */
CS_API bool cs_nal_type_is_key(cs_nal_codec codec, unsigned type);

/* ---------------------------------------------------------------------------------------------- */
/* Iterating NAL units                                                                            */
/* ---------------------------------------------------------------------------------------------- */

/** One NAL unit found by the iterator: a span into the caller's buffer, header included. */
typedef struct cs_nal_unit {
    const uint8_t *data; /**< first byte of the NAL header (never a start code or length) */
    size_t len;          /**< bytes, >= 1; Annex-B trailing zero bytes are not included */
    unsigned type;       /**< nal_unit_type */
    size_t offset;       /**< offset of `data` in the iterated buffer */
} cs_nal_unit;

/** Iterator state; fill with cs_nal_iter_init(). Members are private. */
typedef struct cs_nal_iter {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    cs_nal_codec codec;
    cs_nal_format format;
    unsigned length_size;
} cs_nal_iter;

/**
 * @brief Starts iterating the NAL units of a buffer.
 *
 * Annex-B: the buffer may begin with zero bytes; 3- and 4-byte start codes are accepted; empty NAL
 * units (a start code directly followed by another) are skipped; zero bytes before a start code
 * or at the end are trailing_zero_8bits and are not part of any NAL unit.
 *
 * @param[out] it           the iterator
 * @param[in]  codec        how to read nal_unit_type
 * @param[in]  format       Annex-B or AVCC
 * @param[in]  length_size  AVCC length-prefix size 1..4 (ignored for Annex-B)
 * @param[in]  buf          the bytes; borrowed until iteration ends (may be NULL if len is 0)
 * @param[in]  len          their number
 * @return CS_OK, CS_E_INVAL (NULL it, unknown codec/format, length_size out of range, NULL buf
 *         with len > 0)
 */
CS_API cs_status cs_nal_iter_init(cs_nal_iter *it, cs_nal_codec codec, cs_nal_format format,
                                  unsigned length_size, const uint8_t *buf, size_t len);

/**
 * @brief The next NAL unit.
 * @param[in,out] it    the iterator
 * @param[out]    nal   the unit, valid when `*got` is true
 * @param[out]    got   false at the end of the buffer
 * @return CS_OK; CS_E_MALFORMED when Annex-B data does not begin with a start code (non-zero
 *         bytes before the first one), an AVCC length runs past the end, or an AVCC length is 0.
 *         After an error the iterator stays at the bad position.
 *
 * @code
 * cs_nal_iter it;
 * cs_nal_unit nal;
 * bool got;
 * cs_nal_iter_init(&it, CS_NAL_CODEC_H264, CS_NAL_FORMAT_ANNEXB, 0, frame, frame_len);
 * while (cs_nal_iter_next(&it, &nal, &got) == CS_OK && got) {
 *     printf("type %u, %zu bytes at %zu\n", nal.type, nal.len, nal.offset);
 * }
 * @endcode
 */
CS_API cs_status cs_nal_iter_next(cs_nal_iter *it, cs_nal_unit *nal, bool *got);

/**
 * @brief Whether a frame (access unit) holds a key picture: an IDR slice (H.264) or an IRAP
 * picture (H.265).
 * @param[in]  codec, format, length_size  as cs_nal_iter_init()
 * @param[in]  buf, len                    the frame
 * @param[out] key                         the answer
 * @return CS_OK, CS_E_INVAL, CS_E_MALFORMED (as cs_nal_iter_next(); `*key` is then false)
 */
CS_API cs_status cs_nal_is_key_frame(cs_nal_codec codec, cs_nal_format format, unsigned length_size,
                                     const uint8_t *buf, size_t len, bool *key);

/** Parameter sets found in a frame or record: spans into the caller's bytes (NULL when absent). */
typedef struct cs_nal_param_sets {
    const uint8_t *vps; /**< H.265 only */
    size_t vps_len;
    const uint8_t *sps;
    size_t sps_len;
    const uint8_t *pps;
    size_t pps_len;
} cs_nal_param_sets;

/**
 * @brief Finds the first VPS (H.265), SPS and PPS in a frame, typically the first key frame,
 * which encoders precede with their parameter sets.
 * @param[in]  codec, format, length_size, buf, len  as cs_nal_is_key_frame()
 * @param[out] ps  spans into `buf`, header byte(s) included
 * @return CS_OK, CS_E_INVAL, CS_E_MALFORMED, CS_E_NOTFOUND (SPS or PPS, or for H.265 VPS, missing;
 *         what was found is still filled in)
 */
CS_API cs_status cs_nal_find_param_sets(cs_nal_codec codec, cs_nal_format format,
                                        unsigned length_size, const uint8_t *buf, size_t len,
                                        cs_nal_param_sets *ps);

/* ---------------------------------------------------------------------------------------------- */
/* Conversion                                                                                     */
/* ---------------------------------------------------------------------------------------------- */

/**
 * @brief Converts an Annex-B frame to AVCC with 4-byte lengths, writing straight into `dst`.
 *
 * Start codes of 3 or 4 bytes are accepted; trailing zero bytes and empty NAL units vanish; AUDs
 * are dropped with CS_NAL_DROP_AUD, parameter sets with CS_NAL_DROP_PARAM_SETS; SEI is kept.
 * Emulation-prevention bytes are payload and are copied unchanged. The output is at most
 * `len + len / 3 + 4` bytes (every 3-byte start code grows by one). `dst` must not overlap `src`.
 * This is cs_nal_stream_init() + one cs_nal_stream_push() + cs_nal_stream_finish().
 *
 * @param[in]  codec    how to read nal_unit_type (for the drop flags)
 * @param[in]  flags    CS_NAL_DROP_* or 0
 * @param[in]  src      Annex-B bytes
 * @param[in]  len      their number
 * @param[out] dst      destination, or NULL to only compute the size
 * @param[in]  cap      capacity of `dst` (ignored when dst is NULL)
 * @param[out] written  bytes written; with NULL dst or CS_E_NOSPACE, the bytes needed
 * @return CS_OK; CS_E_INVAL (NULL written, NULL src with len > 0, unknown codec);
 *         CS_E_MALFORMED (non-zero bytes before the first start code); CS_E_NOSPACE (`cap` too
 *         small: nothing was written at or past dst[cap], the bytes before it are unspecified);
 *         CS_E_OVERFLOW (a NAL unit longer than 2^32-1 bytes)
 *
 * @code
 * size_t need, n;
 * cs_nal_annexb_to_avcc(CS_NAL_CODEC_H264, CS_NAL_DROP_AUD, frame, len, NULL, 0, &need);
 * // ... reserve `need` bytes in the store at p ...
 * cs_nal_annexb_to_avcc(CS_NAL_CODEC_H264, CS_NAL_DROP_AUD, frame, len, p, need, &n);
 * @endcode
 */
CS_API cs_status cs_nal_annexb_to_avcc(cs_nal_codec codec, unsigned flags, const uint8_t *src,
                                       size_t len, uint8_t *dst, size_t cap, size_t *written);

/**
 * @brief Converts AVCC to Annex-B with 4-byte start codes (00 00 00 01), for decoders.
 * @param[in]  codec        how to read nal_unit_type (for the drop flags)
 * @param[in]  flags        CS_NAL_DROP_* or 0
 * @param[in]  length_size  size of the length prefixes, 1..4 (lengthSizeMinusOne + 1)
 * @param[in]  src, len     AVCC bytes
 * @param[out] dst, cap, written  as cs_nal_annexb_to_avcc()
 * @return CS_OK, CS_E_INVAL, CS_E_MALFORMED (a length runs past the end or is 0), CS_E_NOSPACE
 */
CS_API cs_status cs_nal_avcc_to_annexb(cs_nal_codec codec, unsigned flags, unsigned length_size,
                                       const uint8_t *src, size_t len, uint8_t *dst, size_t cap,
                                       size_t *written);

/**
 * @brief Streaming Annex-B -> AVCC converter, for encoders that hand a frame over in pieces.
 *
 * The pieces may be split anywhere, inside start codes and NAL headers included; the output is
 * byte-identical to cs_nal_annexb_to_avcc() on the concatenation. Memory is bounded and constant:
 * the state is this struct; nothing of the input is buffered.
 *
 * A NAL unit that spans calls: an AVCC length must precede its NAL unit but is not known until
 * the unit ends. When a kept NAL unit starts, the converter reserves a 4-byte length field in
 * `dst` (the caller's memory), copies the unit's bytes after it as they arrive, and fills the
 * field in when the unit ends (at the next start code, or in cs_nal_stream_finish()). Zero bytes
 * that might be a start code or trailing zeros are only counted (not copied) until the next
 * non-zero byte tells which they were. Hence: `dst` must stay valid and must not be modified
 * between cs_nal_stream_init() and cs_nal_stream_finish(), and the output is complete only after
 * cs_nal_stream_finish(). With a NULL `dst` the same calls size the output.
 *
 * Members are private.
 */
typedef struct cs_nal_stream {
    cs_nal_codec codec;
    unsigned flags;
    uint8_t *dst;
    size_t cap;
    size_t pos;      /* output bytes so far (counts past cap) */
    size_t len_at;   /* offset in dst of the open NAL unit's length field */
    size_t nal_len;  /* bytes of the open NAL unit so far */
    size_t zeros;    /* zero bytes seen and not yet placed */
    int state;       /* before first start code, at NAL start, in a kept NAL, in a dropped NAL */
    cs_status error; /* sticky */
} cs_nal_stream;

/**
 * @brief Starts a streaming conversion of one frame.
 * @param[out] s      the state
 * @param[in]  codec  as cs_nal_annexb_to_avcc()
 * @param[in]  flags  CS_NAL_DROP_* or 0
 * @param[in]  dst    destination (caller memory, borrowed until cs_nal_stream_finish()), or NULL
 * @param[in]  cap    its capacity
 */
CS_API void cs_nal_stream_init(cs_nal_stream *s, cs_nal_codec codec, unsigned flags, uint8_t *dst,
                               size_t cap);

/**
 * @brief Converts the next piece of the frame.
 * @return CS_OK; CS_E_INVAL (NULL s or src with len > 0, unknown codec); CS_E_MALFORMED; the
 *         errors are sticky: every later call returns the first. Running out of `cap` is not
 *         reported here but by cs_nal_stream_finish(), so sizing and writing run the same calls.
 */
CS_API cs_status cs_nal_stream_push(cs_nal_stream *s, const uint8_t *src, size_t len);

/**
 * @brief Ends the frame: closes the open NAL unit and reports the size.
 * @param[out] written  bytes written; with NULL dst or CS_E_NOSPACE, the bytes needed
 * @return CS_OK, the first error of cs_nal_stream_push(), CS_E_NOSPACE, CS_E_OVERFLOW
 *
 * @code
 * cs_nal_stream s;
 * size_t n;
 * cs_nal_stream_init(&s, CS_NAL_CODEC_H264, CS_NAL_DROP_AUD, dst, cap);
 * while (encoder_has_more(enc)) {
 *     cs_nal_stream_push(&s, piece, piece_len);
 * }
 * if (cs_nal_stream_finish(&s, &n) == CS_OK) {
 *     // dst[0..n) is the AVCC frame
 * }
 * @endcode
 */
CS_API cs_status cs_nal_stream_finish(cs_nal_stream *s, size_t *written);

/* ---------------------------------------------------------------------------------------------- */
/* SPS parsing                                                                                    */
/* ---------------------------------------------------------------------------------------------- */

/** What an H.264 SPS says (ITU-T H.264 7.3.2.1.1 and Annex E). */
typedef struct cs_h264_sps {
    uint8_t profile_idc;      /**< 66 baseline, 77 main, 100 high, 110 high 10, ... */
    uint8_t constraint_flags; /**< the byte after profile_idc: constraint_set0_flag is 0x80 */
    uint8_t level_idc;        /**< level * 10, e.g. 31 for 3.1 */
    uint32_t sps_id;
    uint32_t chroma_format_idc; /**< 0 mono, 1 4:2:0 (default), 2 4:2:2, 3 4:4:4 */
    bool separate_colour_plane;
    uint32_t bit_depth_luma;   /**< 8 + bit_depth_luma_minus8 */
    uint32_t bit_depth_chroma; /**< 8 + bit_depth_chroma_minus8 */
    uint32_t log2_max_frame_num;
    uint32_t pic_order_cnt_type;
    uint32_t max_num_ref_frames;
    bool frame_mbs_only;
    uint32_t coded_width;  /**< macroblocks * 16 */
    uint32_t coded_height; /**< map units * 16 * (2 - frame_mbs_only) */
    uint32_t crop_left, crop_right, crop_top, crop_bottom; /**< in luma samples */
    uint32_t width;  /**< coded_width - crop_left - crop_right */
    uint32_t height; /**< coded_height - crop_top - crop_bottom */
    bool vui_present;
    uint32_t sar_num, sar_den; /**< sample aspect ratio, 0/0 when not given */
    bool timing_info_present;
    uint32_t num_units_in_tick; /**< VUI timing; frame rate = time_scale / (2 * this) */
    uint32_t time_scale;
    bool fixed_frame_rate;
    uint32_t fps_num, fps_den; /**< time_scale, 2 * num_units_in_tick; 0/0 without timing */
} cs_h264_sps;

/**
 * @brief Parses an H.264 SPS.
 * @param[in]  nal  the SPS NAL unit with its 1-byte header (e.g. 67 64 00 1f ...), as found by
 *                  the iterator or in an avcC; emulation-prevention bytes are removed on the fly
 * @param[in]  len  its length
 * @param[out] out  the fields
 * @return CS_OK; CS_E_INVAL (NULL argument, or the NAL is not an SPS); CS_E_MALFORMED (truncated
 *         or a value out of its range, e.g. a size of zero after cropping)
 *
 * @code
 * cs_h264_sps sps;
 * if (cs_h264_sps_parse(ps.sps, ps.sps_len, &sps) == CS_OK) {
 *     printf("%ux%u profile %u level %u\n", sps.width, sps.height, sps.profile_idc,
 *            sps.level_idc);
 * }
 * @endcode
 */
CS_API cs_status cs_h264_sps_parse(const uint8_t *nal, size_t len, cs_h264_sps *out);

/** An H.265 profile_tier_level() (ITU-T H.265 7.3.3), general part. */
typedef struct cs_h265_ptl {
    uint8_t profile_space;                /**< general_profile_space, 0..3 */
    bool tier;                            /**< general_tier_flag: false Main, true High */
    uint8_t profile_idc;                  /**< 1 Main, 2 Main 10, 3 Main Still, 4 RExt, ... */
    uint32_t profile_compatibility_flags; /**< flag j is bit (31 - j) */
    uint64_t constraint_indicator_flags;  /**< the 48 bits from progressive_source_flag on */
    uint8_t level_idc;                    /**< level * 30, e.g. 93 for 3.1 */
} cs_h265_ptl;

/** What an H.265 SPS says (ITU-T H.265 7.3.2.2 and Annex E). */
typedef struct cs_h265_sps {
    uint8_t vps_id;
    uint8_t max_sub_layers; /**< sps_max_sub_layers_minus1 + 1 */
    bool temporal_id_nesting;
    cs_h265_ptl ptl;
    uint32_t sps_id;
    uint32_t chroma_format_idc; /**< 0 mono, 1 4:2:0, 2 4:2:2, 3 4:4:4 */
    bool separate_colour_plane;
    uint32_t coded_width;                                  /**< pic_width_in_luma_samples */
    uint32_t coded_height;                                 /**< pic_height_in_luma_samples */
    uint32_t crop_left, crop_right, crop_top, crop_bottom; /**< conformance window, luma samples */
    uint32_t width;  /**< coded_width - crop_left - crop_right */
    uint32_t height; /**< coded_height - crop_top - crop_bottom */
    uint32_t bit_depth_luma;
    uint32_t bit_depth_chroma;
    bool vui_present;
    uint32_t sar_num, sar_den; /**< 0/0 when not given */
    bool timing_info_present;
    uint32_t num_units_in_tick; /**< frame rate = time_scale / num_units_in_tick */
    uint32_t time_scale;
    uint32_t fps_num, fps_den;             /**< time_scale, num_units_in_tick; 0/0 without timing */
    uint32_t min_spatial_segmentation_idc; /**< VUI bitstream_restriction, 0 when absent */
} cs_h265_sps;

/**
 * @brief Parses an H.265 SPS (up to and including its VUI; extensions after it are ignored).
 * @param[in]  nal  the SPS NAL unit with its 2-byte header (42 01 ...)
 * @param[in]  len  its length
 * @param[out] out  the fields
 * @return CS_OK, CS_E_INVAL (NULL argument, not an SPS), CS_E_MALFORMED (truncated or out of range)
 */
CS_API cs_status cs_h265_sps_parse(const uint8_t *nal, size_t len, cs_h265_sps *out);

/* ---------------------------------------------------------------------------------------------- */
/* Decoder configuration records (MKV CodecPrivate)                                               */
/* ---------------------------------------------------------------------------------------------- */

/**
 * @brief Builds an AVCDecoderConfigurationRecord (avcC, ISO/IEC 14496-15 5.3.3.1) from one SPS and
 * one PPS: version 1, profile/compatibility/level copied from the SPS, lengthSizeMinusOne 3, the
 * SPS, the PPS, and for profiles 100/110/122/144 the chroma_format/bit-depth extension with no
 * SPS extensions (as FFmpeg writes it).
 * @param[in]  sps, sps_len  the SPS NAL unit, header included (parsed for the extension fields)
 * @param[in]  pps, pps_len  the PPS NAL unit, header included
 * @param[out] dst, cap, written  destination (NULL to size), capacity, bytes written or needed
 * @return CS_OK; CS_E_INVAL (NULL argument, a NAL of the wrong type, a NAL over 65535 bytes);
 *         CS_E_MALFORMED (the SPS does not parse); CS_E_NOSPACE (nothing written past dst[cap])
 *
 * @code
 * uint8_t cp[256];
 * size_t cp_len;
 * cs_nal_param_sets ps;
 * if (cs_nal_find_param_sets(CS_NAL_CODEC_H264, CS_NAL_FORMAT_ANNEXB, 0, key, key_len, &ps) ==
 *         CS_OK &&
 *     cs_nal_avcc_from_sps_pps(ps.sps, ps.sps_len, ps.pps, ps.pps_len, cp, sizeof(cp),
 *                              &cp_len) == CS_OK) {
 *     track.codec_private = cp;
 *     track.codec_private_len = cp_len;
 * }
 * @endcode
 */
CS_API cs_status cs_nal_avcc_from_sps_pps(const uint8_t *sps, size_t sps_len, const uint8_t *pps,
                                          size_t pps_len, uint8_t *dst, size_t cap,
                                          size_t *written);

/**
 * @brief Builds an HEVCDecoderConfigurationRecord (hvcC, ISO/IEC 14496-15 8.3.3.1) from one VPS,
 * SPS and PPS, with the values FFmpeg derives: profile/tier/level merged from the VPS and SPS
 * profile_tier_level, min_spatial_segmentation_idc from the SPS VUI, parallelismType from the
 * PPS, chroma format and bit depths from the SPS, avgFrameRate 0, constantFrameRate 0,
 * numTemporalLayers, temporalIdNested, lengthSizeMinusOne 3, then three arrays (VPS, SPS, PPS)
 * with array_completeness 0.
 * @param[in]  vps, vps_len, sps, sps_len, pps, pps_len  the NAL units, 2-byte headers included
 * @param[out] dst, cap, written  as cs_nal_avcc_from_sps_pps()
 * @return CS_OK, CS_E_INVAL, CS_E_MALFORMED (a parameter set does not parse), CS_E_NOSPACE
 */
CS_API cs_status cs_nal_hvcc_from_vps_sps_pps(const uint8_t *vps, size_t vps_len,
                                              const uint8_t *sps, size_t sps_len,
                                              const uint8_t *pps, size_t pps_len, uint8_t *dst,
                                              size_t cap, size_t *written);

/**
 * @brief Builds the CodecPrivate (avcC or hvcC) from an Annex-B key frame that carries its
 * parameter sets: cs_nal_find_param_sets() then the builder.
 * @return as cs_nal_find_param_sets() and the builder
 */
CS_API cs_status cs_nal_codec_private_from_annexb(cs_nal_codec codec, const uint8_t *frame,
                                                  size_t len, uint8_t *dst, size_t cap,
                                                  size_t *written);

/** A parsed avcC or hvcC. Pointers borrow the record's bytes. */
typedef struct cs_nal_config {
    cs_nal_codec codec;
    unsigned length_size;               /**< lengthSizeMinusOne + 1: 1, 2 or 4 */
    uint8_t profile_idc;                /**< AVCProfileIndication / general_profile_idc */
    uint8_t compatibility;              /**< avcC profile_compatibility (0 for hvcC) */
    uint8_t level_idc;                  /**< AVCLevelIndication / general_level_idc */
    cs_nal_param_sets ps;               /**< the first VPS (hvcC), SPS and PPS; NULL when absent */
    unsigned num_vps, num_sps, num_pps; /**< how many of each the record holds */
    const uint8_t *record;              /**< the record itself, for cs_nal_config_to_annexb() */
    size_t record_len;
} cs_nal_config;

/**
 * @brief Parses an avcC (AVCDecoderConfigurationRecord). Trailing bytes after the PPS list
 * (the high-profile extension, or padding) are accepted.
 * @return CS_OK, CS_E_INVAL (NULL argument), CS_E_MALFORMED (configurationVersion != 1,
 *         truncated, a zero-length or mistyped parameter set, lengthSizeMinusOne of 2)
 *
 * @code
 * cs_nal_config cfg;
 * cs_h264_sps sps;
 * if (cs_nal_avcc_parse(track.codec_private, track.codec_private_len, &cfg) == CS_OK &&
 *     cs_h264_sps_parse(cfg.ps.sps, cfg.ps.sps_len, &sps) == CS_OK) {
 *     width = sps.width;
 * }
 * @endcode
 */
CS_API cs_status cs_nal_avcc_parse(const uint8_t *rec, size_t len, cs_nal_config *out);

/**
 * @brief Parses an hvcC (HEVCDecoderConfigurationRecord).
 * @return CS_OK, CS_E_INVAL, CS_E_MALFORMED (configurationVersion != 1, truncated, a zero-length
 *         NAL unit, lengthSizeMinusOne of 2)
 */
CS_API cs_status cs_nal_hvcc_parse(const uint8_t *rec, size_t len, cs_nal_config *out);

/**
 * @brief Writes every parameter set of a parsed record as Annex-B (00 00 00 01 + NAL each), in
 * record order, to put in front of the first key frame for a decoder.
 * @param[in]  cfg  from cs_nal_avcc_parse() or cs_nal_hvcc_parse()
 * @param[out] dst, cap, written  as cs_nal_annexb_to_avcc()
 * @return CS_OK, CS_E_INVAL, CS_E_MALFORMED, CS_E_NOSPACE
 */
CS_API cs_status cs_nal_config_to_annexb(const cs_nal_config *cfg, uint8_t *dst, size_t cap,
                                         size_t *written);

#ifdef __cplusplus
}
#endif

#endif /* CAMSTREAM_NAL_H */
