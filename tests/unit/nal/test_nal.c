/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the NAL tools (nal.h) with golden vectors only, so they also run cross-compiled:
 * Annex-B <-> AVCC both ways (table-driven; every case also sized, streamed split at every byte
 * position and byte by byte, and written into every too-small capacity with a canary), the
 * iterator, key frames, parameter sets, SPS parsing of real x264/x265 SPSes (which contain
 * emulation-prevention bytes), and avcC/hvcC built byte-for-byte as FFmpeg 5.1 writes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "camstream/nal.h"
#include "testutil.h"

#define CANARY 0xA5u
#define BIG 512

/* Real parameter sets: ffmpeg 5.1 + libx264/libx265, one testsrc frame each (see the oracle test
 * for how they are made). The 00 00 03 sequences are emulation-prevention bytes. */
static const uint8_t sps_b320[] = {
    0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00,
    0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0xa4, 0x80,
};

static const uint8_t pps_b320[] = {
    0x68, 0xcb, 0x83, 0xcb, 0x20,
};

static const uint8_t sps_m642[] = {
    0x67, 0x4d, 0x40, 0x1e, 0xec, 0xa0, 0x52, 0x17, 0xf1, 0x12, 0x60, 0x22, 0x00,
    0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x78, 0x1e, 0x2c, 0x5b, 0x2c,
};

static const uint8_t sps_h1080[] = {
    0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00,
    0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xc8, 0x3c, 0x60, 0xc6, 0x58,
};

static const uint8_t pps_h1080[] = {
    0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0,
};

static const uint8_t sps_h10_720[] = {
    0x67, 0x6e, 0x00, 0x20, 0xa6, 0xcd, 0x94, 0x05, 0x00, 0x5b, 0xb0, 0x11, 0x00,
    0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x78, 0x0f, 0x18, 0x31, 0x96,
};

static const uint8_t vps_x265[] = {
    0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00,
    0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3f, 0x95, 0x98, 0x09,
};

static const uint8_t sps_x265[] = {
    0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
    0x03, 0x00, 0x3f, 0xa0, 0x05, 0x12, 0x01, 0x71, 0xc9, 0x26, 0x59, 0x59, 0xa4, 0x93, 0x2b,
    0xc0, 0x5a, 0x02, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x32, 0x10,
};

static const uint8_t pps_x265[] = {
    0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40,
};

/* The avcC FFmpeg writes into MKV for sps_h1080/pps_h1080 (High profile: has the extension). */
static const uint8_t avcc_h1080_ffmpeg[] = {
    0x01,       /* configurationVersion */
    0x64,       /* AVCProfileIndication 100 (High) */
    0x00,       /* profile_compatibility */
    0x28,       /* AVCLevelIndication 40 */
    0xff,       /* reserved 111111, lengthSizeMinusOne 3 */
    0xe1,       /* reserved 111, numOfSequenceParameterSets 1 */
    0x00, 0x1b, /* sequenceParameterSetLength 27 */
    0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00,
    0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xc8, 0x3c, 0x60, 0xc6, 0x58, /* SPS */
    0x01,                               /* numOfPictureParameterSets */
    0x00, 0x06,                         /* pictureParameterSetLength 6 */
    0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, /* PPS */
    0xfd,                               /* reserved 111111, chroma_format_idc 1 */
    0xf8,                               /* reserved 11111, bit_depth_luma_minus8 0 */
    0xf8,                               /* reserved 11111, bit_depth_chroma_minus8 0 */
    0x00,                               /* numOfSequenceParameterSetExt */
};

/* The avcC FFmpeg writes for sps_b320/pps_b320 (Constrained Baseline: no extension). */
static const uint8_t avcc_b320_ffmpeg[] = {
    0x01, 0x42, 0xc0, 0x0d, /* version 1, profile 66, constraint_set0+1, level 13 */
    0xff, 0xe1,             /* lengthSizeMinusOne 3, one SPS */
    0x00, 0x18,             /* SPS length 24 */
    0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00,
    0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0xa4, 0x80, /* SPS */
    0x01, 0x00, 0x05,                                                       /* one PPS of 5 bytes */
    0x68, 0xcb, 0x83, 0xcb, 0x20,                                           /* PPS */
};

/* The hvcC FFmpeg writes into MKV for vps/sps/pps_x265 (libx265 with info=0, so no SEI array). */
static const uint8_t hvcc_x265_ffmpeg[] = {
    0x01,                               /* configurationVersion */
    0x01,                               /* profile_space 0, tier 0, profile_idc 1 (Main) */
    0x60, 0x00, 0x00, 0x00,             /* profile_compatibility_flags: Main, Main 10 */
    0x90, 0x00, 0x00, 0x00, 0x00, 0x00, /* constraint flags: progressive, frame_only */
    0x3f,                               /* general_level_idc 63 (2.1) */
    0xf0, 0x00,                         /* reserved 1111, min_spatial_segmentation_idc 0 */
    0xfc,                               /* reserved 111111, parallelismType 0 */
    0xfd,                               /* reserved 111111, chromaFormat 1 */
    0xf8,                               /* reserved 11111, bitDepthLumaMinus8 0 */
    0xf8,                               /* reserved 11111, bitDepthChromaMinus8 0 */
    0x00, 0x00,                         /* avgFrameRate 0 */
    0x0f, /* constantFrameRate 0, numTemporalLayers 1, temporalIdNested 1, lengthSizeMinusOne 3 */
    0x03, /* numOfArrays */
    0x20, 0x00, 0x01, 0x00, 0x18, /* completeness 0, type 32 (VPS), 1 NAL of 24 bytes */
    0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00,
    0x03, 0x00, 0x00, 0x03, 0x00, 0x3f, 0x95, 0x98, 0x09, /* VPS */
    0x21, 0x00, 0x01, 0x00, 0x2c,                         /* type 33 (SPS), 1 NAL of 44 bytes */
    0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
    0x03, 0x00, 0x3f, 0xa0, 0x05, 0x12, 0x01, 0x71, 0xc9, 0x26, 0x59, 0x59, 0xa4, 0x93, 0x2b,
    0xc0, 0x5a, 0x02, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x32, 0x10, /* SPS */
    0x22, 0x00, 0x01, 0x00, 0x07,             /* type 34 (PPS), 1 NAL of 7 bytes */
    0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40, /* PPS */
};

/* ------------------------------------------------------------------------------------------ */
/* Conversion tables                                                                           */
/* ------------------------------------------------------------------------------------------ */

struct conv_case {
    const char *name;
    cs_nal_codec codec;
    unsigned flags;
    const uint8_t *in;
    size_t in_len;
    const uint8_t *out; /* expected AVCC (NULL with an error) */
    size_t out_len;
    cs_status status;
};

#define B(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})

static const struct conv_case conv_cases[] = {
    {"4-byte start codes", CS_NAL_CODEC_H264, 0,
     B(0, 0, 0, 1, 0x67, 0xaa, /* SPS */ 0, 0, 0, 1, 0x68, 0xbb, /* PPS */ 0, 0, 0, 1, 0x65, 0xcc,
       0xdd /* IDR */),
     B(0, 0, 0, 2, 0x67, 0xaa, 0, 0, 0, 2, 0x68, 0xbb, 0, 0, 0, 3, 0x65, 0xcc, 0xdd), CS_OK},
    {"3-byte start codes", CS_NAL_CODEC_H264, 0, B(0, 0, 1, 0x41, 0x11, 0, 0, 1, 0x41, 0x22),
     B(0, 0, 0, 2, 0x41, 0x11, 0, 0, 0, 2, 0x41, 0x22), CS_OK},
    {"mixed start codes", CS_NAL_CODEC_H264, 0, B(0, 0, 1, 0x41, 0x11, 0, 0, 0, 1, 0x41, 0x22),
     B(0, 0, 0, 2, 0x41, 0x11, 0, 0, 0, 2, 0x41, 0x22), CS_OK},
    {"AUD kept without the flag", CS_NAL_CODEC_H264, 0,
     B(0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x65, 0x11),
     B(0, 0, 0, 2, 0x09, 0xf0, 0, 0, 0, 2, 0x65, 0x11), CS_OK},
    {"AUD dropped, SEI kept", CS_NAL_CODEC_H264, CS_NAL_DROP_AUD,
     B(0, 0, 0, 1, 0x09, 0xf0, /* AUD */ 0, 0, 0, 1, 0x06, 0x05, 0x01, 0x80, /* SEI */ 0, 0, 1,
       0x65, 0x11 /* IDR */),
     B(0, 0, 0, 4, 0x06, 0x05, 0x01, 0x80, 0, 0, 0, 2, 0x65, 0x11), CS_OK},
    {"H.265 AUD dropped", CS_NAL_CODEC_H265, CS_NAL_DROP_AUD,
     B(0, 0, 0, 1, 0x46, 0x01, 0x50, /* AUD type 35 */ 0, 0, 0, 1, 0x26, 0x01, 0xaf /* IDR */),
     B(0, 0, 0, 3, 0x26, 0x01, 0xaf), CS_OK},
    {"parameter sets dropped", CS_NAL_CODEC_H264, CS_NAL_DROP_PARAM_SETS,
     B(0, 0, 0, 1, 0x67, 0xaa, 0, 0, 0, 1, 0x68, 0xbb, 0, 0, 0, 1, 0x65, 0xcc),
     B(0, 0, 0, 2, 0x65, 0xcc), CS_OK},
    {"trailing zeros between and after", CS_NAL_CODEC_H264, 0,
     B(0, 0, 1, 0x41, 0x11, 0, 0, 0, 0, 0, 0, 1, 0x41, 0x22, 0, 0, 0),
     B(0, 0, 0, 2, 0x41, 0x11, 0, 0, 0, 2, 0x41, 0x22), CS_OK},
    {"leading zeros", CS_NAL_CODEC_H264, 0, B(0, 0, 0, 0, 0, 1, 0x41, 0x11),
     B(0, 0, 0, 2, 0x41, 0x11), CS_OK},
    {"empty NAL units skipped", CS_NAL_CODEC_H264, 0,
     B(0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0x41, 0x11, 0, 0, 1), B(0, 0, 0, 2, 0x41, 0x11), CS_OK},
    {"zeros and emulation prevention are payload", CS_NAL_CODEC_H264, 0,
     B(0, 0, 1, 0x41, 0, 0, 3, 0, 0x11, 0, 0x22, 0, 0, 2),
     B(0, 0, 0, 11, 0x41, 0, 0, 3, 0, 0x11, 0, 0x22, 0, 0, 2), CS_OK},
    {"NAL unit starting with a zero byte", CS_NAL_CODEC_H264, CS_NAL_DROP_AUD, B(0, 0, 1, 0, 0x09),
     B(0, 0, 0, 2, 0, 0x09), CS_OK},
    {"empty input", CS_NAL_CODEC_H264, 0, NULL, 0, NULL, 0, CS_OK},
    {"only zeros", CS_NAL_CODEC_H264, 0, B(0, 0, 0, 0), NULL, 0, CS_OK},
    {"no start code", CS_NAL_CODEC_H264, 0, B(0x65, 0x11, 0x22), NULL, 0, CS_E_MALFORMED},
    {"garbage before the first start code", CS_NAL_CODEC_H264, 0, B(0, 1, 0, 0, 1, 0x65, 0x11),
     NULL, 0, CS_E_MALFORMED},
};

static void check_out(const struct conv_case *c, const uint8_t *got, size_t got_len)
{
    assert_int_equal(got_len, c->out_len);
    if (c->out_len > 0) {
        assert_memory_equal(got, c->out, c->out_len);
    }
}

static void test_annexb_to_avcc_table(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(conv_cases) / sizeof(conv_cases[0]); k++) {
        const struct conv_case *c = &conv_cases[k];
        uint8_t buf[BIG];
        size_t need = 99, n = 99;
        cs_status st;

        print_message("case: %s\n", c->name);
        /* Sizing pass and writing pass agree. */
        st = cs_nal_annexb_to_avcc(c->codec, c->flags, c->in, c->in_len, NULL, 0, &need);
        assert_int_equal(st, c->status);
        memset(buf, CANARY, sizeof(buf));
        st = cs_nal_annexb_to_avcc(c->codec, c->flags, c->in, c->in_len, buf, sizeof(buf), &n);
        assert_int_equal(st, c->status);
        if (st != CS_OK) {
            continue;
        }
        assert_int_equal(need, n);
        check_out(c, buf, n);
        assert_int_equal(buf[n], CANARY);

        /* Every capacity short of the need: CS_E_NOSPACE, the need reported, nothing past cap. */
        for (size_t cap = 0; cap < need; cap++) {
            memset(buf, CANARY, sizeof(buf));
            st = cs_nal_annexb_to_avcc(c->codec, c->flags, c->in, c->in_len, buf, cap, &n);
            assert_int_equal(st, CS_E_NOSPACE);
            assert_int_equal(n, need);
            for (size_t i = cap; i < sizeof(buf); i++) {
                assert_int_equal(buf[i], CANARY);
            }
        }

        /* Streaming: split at every position gives the same bytes; so does byte by byte. */
        for (size_t split = 0; split <= c->in_len; split++) {
            cs_nal_stream s;
            memset(buf, CANARY, sizeof(buf));
            cs_nal_stream_init(&s, c->codec, c->flags, buf, sizeof(buf));
            assert_int_equal(cs_nal_stream_push(&s, c->in, split), CS_OK);
            assert_int_equal(cs_nal_stream_push(&s, c->in + split, c->in_len - split), CS_OK);
            assert_int_equal(cs_nal_stream_finish(&s, &n), CS_OK);
            check_out(c, buf, n);
        }
        {
            cs_nal_stream s;
            memset(buf, CANARY, sizeof(buf));
            cs_nal_stream_init(&s, c->codec, c->flags, buf, sizeof(buf));
            for (size_t i = 0; i < c->in_len; i++) {
                assert_int_equal(cs_nal_stream_push(&s, c->in + i, 1), CS_OK);
            }
            assert_int_equal(cs_nal_stream_finish(&s, &n), CS_OK);
            check_out(c, buf, n);
            /* streaming sizing pass */
            cs_nal_stream_init(&s, c->codec, c->flags, NULL, 0);
            for (size_t i = 0; i < c->in_len; i++) {
                assert_int_equal(cs_nal_stream_push(&s, c->in + i, 1), CS_OK);
            }
            assert_int_equal(cs_nal_stream_finish(&s, &n), CS_OK);
            assert_int_equal(n, need);
        }
        /* And back: AVCC -> Annex-B -> AVCC is the identity on AVCC. */
        if (c->out_len > 0) {
            uint8_t annexb[BIG], again[BIG];
            size_t na, ng;
            assert_int_equal(cs_nal_avcc_to_annexb(c->codec, 0, 4, c->out, c->out_len, annexb,
                                                   sizeof(annexb), &na),
                             CS_OK);
            assert_int_equal(
                cs_nal_annexb_to_avcc(c->codec, 0, annexb, na, again, sizeof(again), &ng), CS_OK);
            check_out(c, again, ng);
        }
    }
}

static void test_stream_errors_sticky(void **state)
{
    cs_nal_stream s;
    uint8_t buf[16];
    size_t n;
    (void)state;

    cs_nal_stream_init(&s, CS_NAL_CODEC_H264, 0, buf, sizeof(buf));
    assert_int_equal(cs_nal_stream_push(&s, B(0x65, 0x11)), CS_E_MALFORMED);
    assert_int_equal(cs_nal_stream_push(&s, B(0, 0, 1, 0x65)), CS_E_MALFORMED);
    assert_int_equal(cs_nal_stream_finish(&s, &n), CS_E_MALFORMED);
    cs_nal_stream_init(&s, (cs_nal_codec)7, 0, buf, sizeof(buf));
    assert_int_equal(cs_nal_stream_finish(&s, &n), CS_E_INVAL);
    assert_int_equal(cs_nal_annexb_to_avcc(CS_NAL_CODEC_H264, 0, NULL, 3, buf, 16, &n), CS_E_INVAL);
    assert_int_equal(cs_nal_annexb_to_avcc(CS_NAL_CODEC_H264, 0, buf, 0, buf, 16, NULL),
                     CS_E_INVAL);
}

/* A NAL unit spanning many pushes: its length is only known at the end, and is right. */
static void test_stream_long_nal(void **state)
{
    static uint8_t in[4 + 3000], out[8 + 3000];
    cs_nal_stream s;
    size_t n;
    (void)state;

    in[3] = 1;
    in[4] = 0x65;
    for (size_t i = 5; i < sizeof(in); i++) {
        in[i] = (uint8_t)(1 + i % 200);
    }
    cs_nal_stream_init(&s, CS_NAL_CODEC_H264, 0, out, sizeof(out));
    for (size_t i = 0; i < sizeof(in); i += 7) {
        size_t k = sizeof(in) - i < 7 ? sizeof(in) - i : 7;
        assert_int_equal(cs_nal_stream_push(&s, in + i, k), CS_OK);
    }
    assert_int_equal(cs_nal_stream_finish(&s, &n), CS_OK);
    assert_int_equal(n, 4 + 3000);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 0);
    assert_int_equal(out[2], 3000 >> 8);
    assert_int_equal(out[3], 3000 & 0xff);
    assert_memory_equal(out + 4, in + 4, 3000);
}

struct back_case {
    const char *name;
    unsigned length_size;
    unsigned flags;
    const uint8_t *in;
    size_t in_len;
    const uint8_t *out;
    size_t out_len;
    cs_status status;
};

static const struct back_case back_cases[] = {
    {"4-byte lengths", 4, 0, B(0, 0, 0, 2, 0x67, 0xaa, 0, 0, 0, 1, 0x68),
     B(0, 0, 0, 1, 0x67, 0xaa, 0, 0, 0, 1, 0x68), CS_OK},
    {"2-byte lengths", 2, 0, B(0, 2, 0x41, 0x11), B(0, 0, 0, 1, 0x41, 0x11), CS_OK},
    {"1-byte lengths", 1, 0, B(2, 0x41, 0x11, 1, 0x41), B(0, 0, 0, 1, 0x41, 0x11, 0, 0, 0, 1, 0x41),
     CS_OK},
    {"AUD dropped", 4, CS_NAL_DROP_AUD, B(0, 0, 0, 2, 0x09, 0xf0, 0, 0, 0, 1, 0x65),
     B(0, 0, 0, 1, 0x65), CS_OK},
    {"empty", 4, 0, NULL, 0, NULL, 0, CS_OK},
    {"length past the end", 4, 0, B(0, 0, 0, 3, 0x41, 0x11), NULL, 0, CS_E_MALFORMED},
    {"zero length", 4, 0, B(0, 0, 0, 0), NULL, 0, CS_E_MALFORMED},
    {"truncated length", 4, 0, B(0, 0, 0, 1, 0x41, 0, 0), NULL, 0, CS_E_MALFORMED},
};

static void test_avcc_to_annexb_table(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(back_cases) / sizeof(back_cases[0]); k++) {
        const struct back_case *c = &back_cases[k];
        uint8_t buf[BIG];
        size_t need, n;

        print_message("case: %s\n", c->name);
        assert_int_equal(cs_nal_avcc_to_annexb(CS_NAL_CODEC_H264, c->flags, c->length_size, c->in,
                                               c->in_len, NULL, 0, &need),
                         c->status);
        if (c->status != CS_OK) {
            continue;
        }
        memset(buf, CANARY, sizeof(buf));
        assert_int_equal(cs_nal_avcc_to_annexb(CS_NAL_CODEC_H264, c->flags, c->length_size, c->in,
                                               c->in_len, buf, sizeof(buf), &n),
                         CS_OK);
        assert_int_equal(n, need);
        assert_int_equal(n, c->out_len);
        if (n > 0) {
            assert_memory_equal(buf, c->out, n);
        }
        for (size_t cap = 0; cap < need; cap++) {
            memset(buf, CANARY, sizeof(buf));
            assert_int_equal(cs_nal_avcc_to_annexb(CS_NAL_CODEC_H264, c->flags, c->length_size,
                                                   c->in, c->in_len, buf, cap, &n),
                             CS_E_NOSPACE);
            assert_int_equal(n, need);
            for (size_t i = cap; i < sizeof(buf); i++) {
                assert_int_equal(buf[i], CANARY);
            }
        }
    }
    {
        size_t n;
        assert_int_equal(cs_nal_avcc_to_annexb(CS_NAL_CODEC_H264, 0, 5, B(0), NULL, 0, &n),
                         CS_E_INVAL);
        assert_int_equal(cs_nal_avcc_to_annexb(CS_NAL_CODEC_H264, 0, 0, B(0), NULL, 0, &n),
                         CS_E_INVAL);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Iterator, key frames, parameter sets                                                         */
/* ------------------------------------------------------------------------------------------ */

static void test_iterator(void **state)
{
    /* offsets:        0..3 sc, 4 SPS(2), 6..8 sc, 9 SEI(3), 12..13 trailing, 14..16 sc, 17 IDR */
    static const uint8_t annexb[] = {0,    0,    0, 1, 0x67, 0xaa, 0, 0,    1,    0x06,
                                     0x05, 0x80, 0, 0, 0,    0,    1, 0x65, 0x88, 0x84};
    static const uint8_t avcc[] = {0,    0,    0,    2, 0x67, 0xaa, 0, 0,    0,    3,
                                   0x06, 0x05, 0x80, 0, 0,    0,    3, 0x65, 0x88, 0x84};
    const struct {
        unsigned type;
        size_t len, off_annexb, off_avcc;
    } want[] = {{7, 2, 4, 4}, {6, 3, 9, 10}, {5, 3, 17, 17}};
    cs_nal_iter it;
    cs_nal_unit nal;
    bool got;
    size_t i;
    (void)state;

    assert_int_equal(
        cs_nal_iter_init(&it, CS_NAL_CODEC_H264, CS_NAL_FORMAT_ANNEXB, 0, annexb, sizeof(annexb)),
        CS_OK);
    for (i = 0; cs_nal_iter_next(&it, &nal, &got) == CS_OK && got; i++) {
        assert_true(i < 3);
        assert_int_equal(nal.type, want[i].type);
        assert_int_equal(nal.len, want[i].len);
        assert_int_equal(nal.offset, want[i].off_annexb);
        assert_ptr_equal(nal.data, annexb + want[i].off_annexb);
    }
    assert_int_equal(i, 3);
    assert_int_equal(
        cs_nal_iter_init(&it, CS_NAL_CODEC_H264, CS_NAL_FORMAT_AVCC, 4, avcc, sizeof(avcc)), CS_OK);
    for (i = 0; cs_nal_iter_next(&it, &nal, &got) == CS_OK && got; i++) {
        assert_true(i < 3);
        assert_int_equal(nal.type, want[i].type);
        assert_int_equal(nal.len, want[i].len);
        assert_int_equal(nal.offset, want[i].off_avcc);
    }
    assert_int_equal(i, 3);
    assert_int_equal(cs_nal_iter_init(&it, (cs_nal_codec)0, CS_NAL_FORMAT_AVCC, 4, avcc, 1),
                     CS_E_INVAL);
    assert_int_equal(cs_nal_iter_init(&it, CS_NAL_CODEC_H264, CS_NAL_FORMAT_AVCC, 4, NULL, 1),
                     CS_E_INVAL);
    assert_int_equal(cs_nal_type(CS_NAL_CODEC_H265, 0x40), CS_H265_NAL_VPS);
    assert_int_equal(cs_nal_type(CS_NAL_CODEC_H264, 0x67), CS_H264_NAL_SPS);
}

struct key_case {
    const char *name;
    cs_nal_codec codec;
    cs_nal_format format;
    const uint8_t *in;
    size_t in_len;
    bool key;
    cs_status status;
};

static const struct key_case key_cases[] = {
    {"H.264 IDR after SPS", CS_NAL_CODEC_H264, CS_NAL_FORMAT_ANNEXB,
     B(0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x65, 0x88), true, CS_OK},
    {"H.264 non-IDR slice", CS_NAL_CODEC_H264, CS_NAL_FORMAT_ANNEXB, B(0, 0, 1, 0x41, 0x9a), false,
     CS_OK},
    {"H.264 IDR in AVCC", CS_NAL_CODEC_H264, CS_NAL_FORMAT_AVCC, B(0, 0, 0, 2, 0x65, 0x88), true,
     CS_OK},
    {"H.264 AVCC slice", CS_NAL_CODEC_H264, CS_NAL_FORMAT_AVCC, B(0, 0, 0, 2, 0x01, 0x88), false,
     CS_OK},
    {"H.265 IDR_W_RADL (19)", CS_NAL_CODEC_H265, CS_NAL_FORMAT_ANNEXB, B(0, 0, 1, 0x26, 0x01, 0xaf),
     true, CS_OK},
    {"H.265 CRA (21)", CS_NAL_CODEC_H265, CS_NAL_FORMAT_AVCC, B(0, 0, 0, 2, 0x2a, 0x01), true,
     CS_OK},
    {"H.265 BLA_W_LP (16)", CS_NAL_CODEC_H265, CS_NAL_FORMAT_AVCC, B(0, 0, 0, 2, 0x20, 0x01), true,
     CS_OK},
    {"H.265 TRAIL_R (1)", CS_NAL_CODEC_H265, CS_NAL_FORMAT_ANNEXB, B(0, 0, 1, 0x02, 0x01, 0xd0),
     false, CS_OK},
    {"H.265 RSV_IRAP_23", CS_NAL_CODEC_H265, CS_NAL_FORMAT_ANNEXB, B(0, 0, 1, 0x2e, 0x01), true,
     CS_OK},
    {"H.265 24 is not IRAP", CS_NAL_CODEC_H265, CS_NAL_FORMAT_ANNEXB, B(0, 0, 1, 0x30, 0x01), false,
     CS_OK},
    {"malformed", CS_NAL_CODEC_H264, CS_NAL_FORMAT_AVCC, B(0, 0, 0, 9, 0x65), false,
     CS_E_MALFORMED},
};

static void test_key_frames(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(key_cases) / sizeof(key_cases[0]); k++) {
        const struct key_case *c = &key_cases[k];
        bool key = !c->key;
        print_message("case: %s\n", c->name);
        assert_int_equal(cs_nal_is_key_frame(c->codec, c->format, 4, c->in, c->in_len, &key),
                         c->status);
        assert_int_equal(key, c->key);
    }
}

static void test_param_sets(void **state)
{
    uint8_t frame[256], cp[256], cp2[256];
    size_t n = 0, need, got;
    cs_nal_param_sets ps;
    (void)state;

    /* AUD, SPS, PPS, SEI, IDR: what x264 emits for a key frame. */
    memcpy(frame + n, (const uint8_t[]){0, 0, 0, 1, 0x09, 0x10}, 6);
    n += 6;
    memcpy(frame + n, (const uint8_t[]){0, 0, 0, 1}, 4);
    n += 4;
    memcpy(frame + n, sps_h1080, sizeof(sps_h1080));
    n += sizeof(sps_h1080);
    memcpy(frame + n, (const uint8_t[]){0, 0, 1}, 3);
    n += 3;
    memcpy(frame + n, pps_h1080, sizeof(pps_h1080));
    n += sizeof(pps_h1080);
    memcpy(frame + n, (const uint8_t[]){0, 0, 1, 0x06, 0x05, 0x80, 0, 0, 1, 0x65, 0x88, 0x84}, 12);
    n += 12;
    assert_int_equal(
        cs_nal_find_param_sets(CS_NAL_CODEC_H264, CS_NAL_FORMAT_ANNEXB, 0, frame, n, &ps), CS_OK);
    assert_int_equal(ps.sps_len, sizeof(sps_h1080));
    assert_memory_equal(ps.sps, sps_h1080, sizeof(sps_h1080));
    assert_int_equal(ps.pps_len, sizeof(pps_h1080));
    assert_memory_equal(ps.pps, pps_h1080, sizeof(pps_h1080));
    assert_null(ps.vps);
    /* CodecPrivate straight from the key frame, size pass == write pass. */
    assert_int_equal(cs_nal_codec_private_from_annexb(CS_NAL_CODEC_H264, frame, n, NULL, 0, &need),
                     CS_OK);
    assert_int_equal(
        cs_nal_codec_private_from_annexb(CS_NAL_CODEC_H264, frame, n, cp, sizeof(cp), &got), CS_OK);
    assert_int_equal(got, need);
    assert_int_equal(got, sizeof(avcc_h1080_ffmpeg));
    assert_memory_equal(cp, avcc_h1080_ffmpeg, got);
    /* As H.265 there is no VPS: not found. */
    assert_int_equal(
        cs_nal_find_param_sets(CS_NAL_CODEC_H264, CS_NAL_FORMAT_ANNEXB, 0, frame, 6, &ps),
        CS_E_NOTFOUND);
    /* H.265 key frame */
    n = 0;
    memcpy(frame + n, (const uint8_t[]){0, 0, 0, 1}, 4);
    n += 4;
    memcpy(frame + n, vps_x265, sizeof(vps_x265));
    n += sizeof(vps_x265);
    memcpy(frame + n, (const uint8_t[]){0, 0, 0, 1}, 4);
    n += 4;
    memcpy(frame + n, sps_x265, sizeof(sps_x265));
    n += sizeof(sps_x265);
    memcpy(frame + n, (const uint8_t[]){0, 0, 0, 1}, 4);
    n += 4;
    memcpy(frame + n, pps_x265, sizeof(pps_x265));
    n += sizeof(pps_x265);
    memcpy(frame + n, (const uint8_t[]){0, 0, 1, 0x28, 0x01, 0xaf, 0x00, 0x00}, 8);
    n += 8;
    assert_int_equal(
        cs_nal_codec_private_from_annexb(CS_NAL_CODEC_H265, frame, n, cp2, sizeof(cp2), &got),
        CS_OK);
    assert_int_equal(got, sizeof(hvcc_x265_ffmpeg));
    assert_memory_equal(cp2, hvcc_x265_ffmpeg, got);
}

/* ------------------------------------------------------------------------------------------ */
/* SPS                                                                                          */
/* ------------------------------------------------------------------------------------------ */

struct h264_sps_case {
    const char *name;
    const uint8_t *sps;
    size_t len;
    uint8_t profile, constraints, level;
    uint32_t chroma, depth, coded_w, coded_h, width, height, crop_right, crop_bottom;
    uint32_t fps_num, fps_den;
};

static const struct h264_sps_case h264_sps_cases[] = {
    /* name, bytes, profile, constraint byte, level, chroma, depth, coded WxH, WxH, crop r/b, fps */
    {"320x240 constrained baseline 25fps", sps_b320, sizeof(sps_b320), 66, 0xc0, 13, 1, 8, 320, 240,
     320, 240, 0, 0, 50, 2},
    {"642x362 main 30fps (cropped)", sps_m642, sizeof(sps_m642), 77, 0x40, 30, 1, 8, 656, 368, 642,
     362, 14, 6, 60, 2},
    {"1920x1080 high 25fps (cropped)", sps_h1080, sizeof(sps_h1080), 100, 0x00, 40, 1, 8, 1920,
     1088, 1920, 1080, 0, 8, 50, 2},
    {"1280x720 high 10 60fps", sps_h10_720, sizeof(sps_h10_720), 110, 0x00, 32, 1, 10, 1280, 720,
     1280, 720, 0, 0, 120, 2},
};

static void test_h264_sps_golden(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(h264_sps_cases) / sizeof(h264_sps_cases[0]); k++) {
        const struct h264_sps_case *c = &h264_sps_cases[k];
        cs_h264_sps s;
        print_message("case: %s\n", c->name);
        assert_int_equal(cs_h264_sps_parse(c->sps, c->len, &s), CS_OK);
        assert_int_equal(s.profile_idc, c->profile);
        assert_int_equal(s.constraint_flags, c->constraints);
        assert_int_equal(s.level_idc, c->level);
        assert_int_equal(s.chroma_format_idc, c->chroma);
        assert_int_equal(s.bit_depth_luma, c->depth);
        assert_int_equal(s.bit_depth_chroma, c->depth);
        assert_int_equal(s.coded_width, c->coded_w);
        assert_int_equal(s.coded_height, c->coded_h);
        assert_int_equal(s.width, c->width);
        assert_int_equal(s.height, c->height);
        assert_int_equal(s.crop_right, c->crop_right);
        assert_int_equal(s.crop_bottom, c->crop_bottom);
        assert_true(s.frame_mbs_only);
        assert_true(s.timing_info_present);
        assert_int_equal(s.fps_num, c->fps_num);
        assert_int_equal(s.fps_den, c->fps_den);
        /* Every truncation fails cleanly, unless it only cuts what the parser does not read
         * (HRD and bitstream restrictions after the VUI timing): then the result is the same. */
        for (size_t cut = 0; cut < c->len; cut++) {
            cs_h264_sps t;
            cs_status st = cs_h264_sps_parse(c->sps, cut, &t);
            if (st == CS_OK) {
                assert_true(cut > 8);
                assert_int_equal(t.width, s.width);
                assert_int_equal(t.height, s.height);
                assert_int_equal(t.fps_num, s.fps_num);
            } else {
                assert_true(st == CS_E_MALFORMED || st == CS_E_INVAL);
            }
        }
    }
}

static void test_h264_sps_errors(void **state)
{
    cs_h264_sps s;
    /* Hand-made: baseline, level 10, sps_id 0, log2_max_frame_num 4, poc type 2, 1 ref frame,
     * 1x1 MBs, frame_mbs_only, cropping 8 right (crop units of 2 -> 16 = the whole width). */
    static const uint8_t too_much_crop[] = {0x67, 0x42, 0x00, 0x0a, 0xf8, 0x8f, 0x98, 0x10, 0xc8};
    (void)state;
    assert_int_equal(cs_h264_sps_parse(pps_b320, sizeof(pps_b320), &s), CS_E_INVAL);
    assert_int_equal(cs_h264_sps_parse(NULL, 4, &s), CS_E_INVAL);
    assert_int_equal(cs_h264_sps_parse(sps_b320, sizeof(sps_b320), NULL), CS_E_INVAL);
    assert_int_equal(cs_h264_sps_parse(too_much_crop, sizeof(too_much_crop), &s), CS_E_MALFORMED);
    /* A ue(v) with 32+ leading zeros cannot be represented. */
    assert_int_equal(cs_h264_sps_parse(B(0x67, 0x42, 0, 0x0a, 0, 0, 0, 0, 0, 1), &s),
                     CS_E_MALFORMED);
}

static void test_h265_sps_golden(void **state)
{
    cs_h265_sps s;
    (void)state;
    assert_int_equal(cs_h265_sps_parse(sps_x265, sizeof(sps_x265), &s), CS_OK);
    assert_int_equal(s.ptl.profile_space, 0);
    assert_false(s.ptl.tier);                                           /* Main tier */
    assert_int_equal(s.ptl.profile_idc, 1);                             /* Main */
    assert_int_equal(s.ptl.profile_compatibility_flags, 0x60000000u);   /* Main + Main 10 */
    assert_true(s.ptl.constraint_indicator_flags == 0x900000000000ull); /* progressive, frame */
    assert_int_equal(s.ptl.level_idc, 63);                              /* level 2.1 */
    assert_int_equal(s.max_sub_layers, 1);
    assert_true(s.temporal_id_nesting);
    assert_int_equal(s.chroma_format_idc, 1);
    assert_int_equal(s.coded_width, 648); /* multiple of the 8-sample min CB */
    assert_int_equal(s.coded_height, 368);
    assert_int_equal(s.width, 642); /* conformance window */
    assert_int_equal(s.height, 362);
    assert_int_equal(s.bit_depth_luma, 8);
    assert_int_equal(s.bit_depth_chroma, 8);
    assert_true(s.timing_info_present);
    assert_int_equal(s.fps_num, 25);
    assert_int_equal(s.fps_den, 1);
    for (size_t cut = 0; cut + 3 < sizeof(sps_x265); cut++) {
        cs_status st = cs_h265_sps_parse(sps_x265, cut, &s);
        assert_true(st == CS_E_MALFORMED || st == CS_E_INVAL);
    }
    assert_int_equal(cs_h265_sps_parse(vps_x265, sizeof(vps_x265), &s), CS_E_INVAL);
}

/* ------------------------------------------------------------------------------------------ */
/* Records                                                                                      */
/* ------------------------------------------------------------------------------------------ */

struct avcc_case {
    const char *name;
    const uint8_t *sps, *pps, *want;
    size_t sps_len, pps_len, want_len;
};

static const struct avcc_case avcc_cases[] = {
    {"high profile: extension", sps_h1080, pps_h1080, avcc_h1080_ffmpeg, sizeof(sps_h1080),
     sizeof(pps_h1080), sizeof(avcc_h1080_ffmpeg)},
    {"baseline: no extension", sps_b320, pps_b320, avcc_b320_ffmpeg, sizeof(sps_b320),
     sizeof(pps_b320), sizeof(avcc_b320_ffmpeg)},
};

static void test_avcc_build_parse(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(avcc_cases) / sizeof(avcc_cases[0]); k++) {
        const struct avcc_case *c = &avcc_cases[k];
        uint8_t buf[BIG], annexb[BIG];
        size_t need, n;
        cs_nal_config cfg;
        cs_h264_sps s;

        print_message("case: %s\n", c->name);
        assert_int_equal(
            cs_nal_avcc_from_sps_pps(c->sps, c->sps_len, c->pps, c->pps_len, NULL, 0, &need),
            CS_OK);
        memset(buf, CANARY, sizeof(buf));
        assert_int_equal(
            cs_nal_avcc_from_sps_pps(c->sps, c->sps_len, c->pps, c->pps_len, buf, BIG, &n), CS_OK);
        assert_int_equal(n, need);
        assert_int_equal(n, c->want_len);
        assert_memory_equal(buf, c->want, n);
        for (size_t cap = 0; cap < need; cap++) {
            memset(buf, CANARY, sizeof(buf));
            assert_int_equal(
                cs_nal_avcc_from_sps_pps(c->sps, c->sps_len, c->pps, c->pps_len, buf, cap, &n),
                CS_E_NOSPACE);
            assert_int_equal(n, need);
            for (size_t i = cap; i < sizeof(buf); i++) {
                assert_int_equal(buf[i], CANARY);
            }
        }
        /* Parse it back, and get width/height as the writer does. */
        assert_int_equal(cs_nal_avcc_parse(c->want, c->want_len, &cfg), CS_OK);
        assert_int_equal(cfg.length_size, 4);
        assert_int_equal(cfg.profile_idc, c->sps[1]);
        assert_int_equal(cfg.num_sps, 1);
        assert_int_equal(cfg.num_pps, 1);
        assert_int_equal(cfg.ps.sps_len, c->sps_len);
        assert_memory_equal(cfg.ps.sps, c->sps, c->sps_len);
        assert_memory_equal(cfg.ps.pps, c->pps, c->pps_len);
        assert_int_equal(cs_h264_sps_parse(cfg.ps.sps, cfg.ps.sps_len, &s), CS_OK);
        assert_int_equal(cs_nal_config_to_annexb(&cfg, annexb, sizeof(annexb), &n), CS_OK);
        assert_int_equal(n, 8 + c->sps_len + c->pps_len);
        assert_memory_equal(annexb + 4, c->sps, c->sps_len);
        /* Every truncation of the record before the PPS ends is malformed. */
        for (size_t cut = 0; cut < 6 + 2 + c->sps_len + 3 + c->pps_len; cut++) {
            assert_int_equal(cs_nal_avcc_parse(c->want, cut, &cfg), CS_E_MALFORMED);
        }
    }
    {
        size_t n;
        cs_nal_config cfg;
        assert_int_equal(cs_nal_avcc_from_sps_pps(pps_b320, sizeof(pps_b320), pps_b320,
                                                  sizeof(pps_b320), NULL, 0, &n),
                         CS_E_INVAL);
        assert_int_equal(cs_nal_avcc_parse(B(2, 0x42, 0, 0x0d, 0xff, 0xe0, 0), &cfg),
                         CS_E_MALFORMED); /* version 2 */
        assert_int_equal(cs_nal_avcc_parse(B(1, 0x42, 0, 0x0d, 0xfe, 0xe0, 0), &cfg),
                         CS_E_MALFORMED); /* lengthSizeMinusOne 2 */
    }
}

static void test_hvcc_build_parse(void **state)
{
    uint8_t buf[BIG];
    size_t need, n;
    cs_nal_config cfg;
    (void)state;

    assert_int_equal(cs_nal_hvcc_from_vps_sps_pps(vps_x265, sizeof(vps_x265), sps_x265,
                                                  sizeof(sps_x265), pps_x265, sizeof(pps_x265),
                                                  NULL, 0, &need),
                     CS_OK);
    assert_int_equal(cs_nal_hvcc_from_vps_sps_pps(vps_x265, sizeof(vps_x265), sps_x265,
                                                  sizeof(sps_x265), pps_x265, sizeof(pps_x265), buf,
                                                  sizeof(buf), &n),
                     CS_OK);
    assert_int_equal(n, need);
    assert_int_equal(n, sizeof(hvcc_x265_ffmpeg));
    assert_memory_equal(buf, hvcc_x265_ffmpeg, n);
    for (size_t cap = 0; cap < need; cap++) {
        memset(buf, CANARY, sizeof(buf));
        assert_int_equal(cs_nal_hvcc_from_vps_sps_pps(vps_x265, sizeof(vps_x265), sps_x265,
                                                      sizeof(sps_x265), pps_x265, sizeof(pps_x265),
                                                      buf, cap, &n),
                         CS_E_NOSPACE);
        for (size_t i = cap; i < sizeof(buf); i++) {
            assert_int_equal(buf[i], CANARY);
        }
    }
    assert_int_equal(cs_nal_hvcc_parse(hvcc_x265_ffmpeg, sizeof(hvcc_x265_ffmpeg), &cfg), CS_OK);
    assert_int_equal(cfg.codec, CS_NAL_CODEC_H265);
    assert_int_equal(cfg.length_size, 4);
    assert_int_equal(cfg.profile_idc, 1);
    assert_int_equal(cfg.level_idc, 63);
    assert_int_equal(cfg.num_vps + cfg.num_sps + cfg.num_pps, 3);
    assert_memory_equal(cfg.ps.sps, sps_x265, sizeof(sps_x265));
    assert_memory_equal(cfg.ps.vps, vps_x265, sizeof(vps_x265));
    assert_memory_equal(cfg.ps.pps, pps_x265, sizeof(pps_x265));
    assert_int_equal(cs_nal_config_to_annexb(&cfg, NULL, 0, &need), CS_OK);
    assert_int_equal(need, 12 + sizeof(vps_x265) + sizeof(sps_x265) + sizeof(pps_x265));
    for (size_t cut = 0; cut < sizeof(hvcc_x265_ffmpeg); cut++) {
        assert_int_equal(cs_nal_hvcc_parse(hvcc_x265_ffmpeg, cut, &cfg), CS_E_MALFORMED);
    }
    assert_int_equal(cs_nal_hvcc_from_vps_sps_pps(sps_x265, sizeof(sps_x265), sps_x265,
                                                  sizeof(sps_x265), pps_x265, sizeof(pps_x265),
                                                  NULL, 0, &n),
                     CS_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_annexb_to_avcc_table),
        cmocka_unit_test(test_stream_errors_sticky),
        cmocka_unit_test(test_stream_long_nal),
        cmocka_unit_test(test_avcc_to_annexb_table),
        cmocka_unit_test(test_iterator),
        cmocka_unit_test(test_key_frames),
        cmocka_unit_test(test_param_sets),
        cmocka_unit_test(test_h264_sps_golden),
        cmocka_unit_test(test_h264_sps_errors),
        cmocka_unit_test(test_h265_sps_golden),
        cmocka_unit_test(test_avcc_build_parse),
        cmocka_unit_test(test_hvcc_build_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
