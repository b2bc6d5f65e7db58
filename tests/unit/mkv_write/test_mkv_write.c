/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the Matroska writer: golden byte vectors (a comment on every field), the size
 * pass against the write pass for every case, the sticky error at every too-small buffer length
 * (with a canary after the end), the int16 block timecode rule, cluster cutting at key frames and
 * at the maximum duration, and the tag limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "camstream/mkv.h"
#include "testutil.h"

#define CANARY 0xA5u

/* ---------------------------------------------------------------------------------------------- */
/* Harness: every golden case is checked three ways                                               */
/* ---------------------------------------------------------------------------------------------- */

typedef void (*emit_fn)(cs_mkv_writer *w);

/* Size pass == golden length; write pass == golden bytes; every shorter buffer fails with
 * CS_E_NOSPACE, reports the full size, and leaves the canary after `cap` intact. */
static void check_golden(emit_fn emit, const uint8_t *golden, size_t golden_len)
{
    cs_mkv_writer w;
    size_t len = 0;
    uint8_t *buf = malloc(golden_len + 32);

    assert_non_null(buf);
    cs_mkv_writer_init(&w, NULL, 0);
    emit(&w);
    assert_int_equal(cs_mkv_writer_finish(&w, &len), CS_OK);
    assert_int_equal(len, golden_len);

    memset(buf, CANARY, golden_len + 32);
    cs_mkv_writer_init(&w, buf, golden_len);
    emit(&w);
    assert_int_equal(cs_mkv_writer_finish(&w, &len), CS_OK);
    assert_int_equal(len, golden_len);
    assert_memory_equal(buf, golden, golden_len);
    for (size_t i = golden_len; i < golden_len + 32; i++) {
        assert_int_equal(buf[i], CANARY);
    }

    for (size_t cap = 0; cap < golden_len; cap++) {
        size_t k = 0;
        memset(buf, CANARY, golden_len + 32);
        cs_mkv_writer_init(&w, buf, cap);
        emit(&w);
        assert_int_equal(cs_mkv_writer_finish(&w, &len), CS_E_NOSPACE);
        assert_int_equal(len, golden_len); /* the size still needed */
        for (size_t i = cap; i < golden_len + 32; i++) {
            assert_int_equal(buf[i], CANARY);
        }
        /* What was written is a prefix of the real output (whole elements, then nothing). */
        while (k < cap && buf[k] == golden[k]) {
            k++;
        }
        for (size_t i = k; i < cap; i++) {
            assert_int_equal(buf[i], CANARY);
        }
    }
    free(buf);
}

/* ---------------------------------------------------------------------------------------------- */
/* Golden vectors                                                                                 */
/* ---------------------------------------------------------------------------------------------- */

static const uint8_t golden_ebml_header[] = {
    0x1A, 0x45, 0xDF, 0xA3,                                    /* EBML */
    0xA3,                                                      /* size 35 */
    0x42, 0x86, 0x81, 0x01,                                    /* EBMLVersion 1 */
    0x42, 0xF7, 0x81, 0x01,                                    /* EBMLReadVersion 1 */
    0x42, 0xF2, 0x81, 0x04,                                    /* EBMLMaxIDLength 4 */
    0x42, 0xF3, 0x81, 0x08,                                    /* EBMLMaxSizeLength 8 */
    0x42, 0x82, 0x88, 'm',  'a', 't', 'r', 'o', 's', 'k', 'a', /* DocType "matroska" */
    0x42, 0x87, 0x81, 0x02,                                    /* DocTypeVersion 2 */
    0x42, 0x85, 0x81, 0x02,                                    /* DocTypeReadVersion 2 */
};

static void emit_ebml_header(cs_mkv_writer *w)
{
    cs_mkv_put_ebml_header(w);
}

static void test_golden_ebml_header(void **state)
{
    (void)state;
    check_golden(emit_ebml_header, golden_ebml_header, sizeof(golden_ebml_header));
}

static const uint8_t golden_segment[] = {
    0x18, 0x53, 0x80, 0x67,                         /* Segment */
    0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, /* size unknown (8-byte all ones) */
};

static void emit_segment(cs_mkv_writer *w)
{
    cs_mkv_put_segment_start(w);
}

static void test_golden_segment(void **state)
{
    (void)state;
    check_golden(emit_segment, golden_segment, sizeof(golden_segment));
}

static const uint8_t test_uid[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                     0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF};

static void emit_info(cs_mkv_writer *w)
{
    cs_mkv_put_info(w, test_uid);
}

static void test_golden_info(void **state)
{
    /* The app strings carry cs_version(); this vector is for a 5-character version such as
     * "0.1.0", spliced in below. */
    uint8_t golden[] = {
        0x15, 0x49, 0xA9, 0x66, /* Info */
        0xBE,                   /* size 62 */
        0x73, 0xA4, 0x90,       /* SegmentUID, 16 bytes: */
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE,
        0xFF, 0x2A, 0xD7, 0xB1, 0x83, 0x0F, 0x42, 0x40, /* TimecodeScale 1000000 (3 bytes) */
        0x4D, 0x80, 0x8F, /* MuxingApp, 15 bytes: "camstream " + version */
        'c',  'a',  'm',  's',  't',  'r',  'e',  'a',  'm',  ' ',  'V',  'V',  'V',  'V',  'V',
        0x57, 0x41, 0x8F, /* WritingApp, 15 bytes, the same */
        'c',  'a',  'm',  's',  't',  'r',  'e',  'a',  'm',  ' ',  'V',  'V',  'V',  'V',  'V',
    };
    (void)state;
    assert_int_equal(strlen(cs_version()), 5);
    memcpy(golden + 5 + 19 + 7 + 3 + 10, cs_version(), 5);
    memcpy(golden + 5 + 19 + 7 + 18 + 3 + 10, cs_version(), 5);
    check_golden(emit_info, golden, sizeof(golden));
}

static const uint8_t fake_avcc[] = {0x01, 0x64, 0x00, 0x1F, 0xFF};

static void fill_h264_track(cs_mkv_track_info *t)
{
    memset(t, 0, sizeof(*t));
    t->number = 1;
    t->type = CS_MKV_TRACK_VIDEO;
    t->codec = CS_MKV_CODEC_ID_H264;
    t->codec_private = fake_avcc;
    t->codec_private_len = sizeof(fake_avcc);
    t->width = 320;
    t->height = 240;
}

static void fill_alaw_track(cs_mkv_track_info *t)
{
    memset(t, 0, sizeof(*t));
    t->number = 2;
    t->type = CS_MKV_TRACK_AUDIO;
    t->codec = CS_MKV_CODEC_ID_ALAW;
    t->sampling_frequency = 8000.0;
    t->channels = 1;
}

static void emit_tracks(cs_mkv_writer *w)
{
    cs_mkv_track_info t[2];
    fill_h264_track(&t[0]);
    fill_alaw_track(&t[1]);
    cs_mkv_put_tracks(w, t, 2);
}

static const uint8_t golden_tracks[] = {
    0x16, 0x54, 0xAE, 0x6B, /* Tracks */
    0xE8,                   /* size 104 = 2 + 44 + 2 + 56 */
    0xAE, 0xAC,             /* TrackEntry, size 44 */
    0xD7, 0x81, 0x01,       /* TrackNumber 1 */
    0x73, 0xC5, 0x81, 0x01, /* TrackUID 1 (0 given: the number) */
    0x83, 0x81, 0x01,       /* TrackType 1 video */
    0x86, 0x8F, 'V',  '_',  'M',  'P',  'E',  'G',  '4',  '/',
    'I',  'S',  'O',  '/',  'A',  'V',  'C',                   /* CodecID "V_MPEG4/ISO/AVC" */
    0x63, 0xA2, 0x85, 0x01, 0x64, 0x00, 0x1F, 0xFF,            /* CodecPrivate: the 5 avcC bytes */
    0xE0, 0x87,                                                /* Video, size 7 */
    0xB0, 0x82, 0x01, 0x40,                                    /* PixelWidth 320 */
    0xBA, 0x81, 0xF0,                                          /* PixelHeight 240 */
    0xAE, 0xB8,                                                /* TrackEntry, size 56 */
    0xD7, 0x81, 0x02,                                          /* TrackNumber 2 */
    0x73, 0xC5, 0x81, 0x02,                                    /* TrackUID 2 */
    0x83, 0x81, 0x02,                                          /* TrackType 2 audio */
    0x86, 0x88, 'A',  '_',  'M',  'S',  '/',  'A',  'C',  'M', /* CodecID "A_MS/ACM" */
    0x63, 0xA2, 0x92,       /* CodecPrivate, 18 bytes of WAVEFORMATEX: */
    0x06, 0x00,             /* wFormatTag 6 A-law */
    0x01, 0x00,             /* nChannels 1 */
    0x40, 0x1F, 0x00, 0x00, /* nSamplesPerSec 8000 */
    0x40, 0x1F, 0x00, 0x00, /* nAvgBytesPerSec 8000 */
    0x01, 0x00,             /* nBlockAlign 1 */
    0x08, 0x00,             /* wBitsPerSample 8 */
    0x00, 0x00,             /* cbSize 0 */
    0xE1, 0x8D,             /* Audio, size 13 */
    0xB5, 0x88, 0x40, 0xBF, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, /* SamplingFrequency 8000.0 */
    0x9F, 0x81, 0x01,                                           /* Channels 1 */
};

static void test_golden_tracks(void **state)
{
    (void)state;
    check_golden(emit_tracks, golden_tracks, sizeof(golden_tracks));
}

static void emit_pcm_aac_tracks(cs_mkv_writer *w)
{
    static const uint8_t asc[] = {0x12, 0x10}; /* AAC-LC 44100 stereo */
    cs_mkv_track_info t[2];
    memset(t, 0, sizeof(t));
    t[0].number = 1;
    t[0].uid = 0x1234;
    t[0].type = CS_MKV_TRACK_AUDIO;
    t[0].codec = CS_MKV_CODEC_ID_AAC;
    t[0].codec_private = asc;
    t[0].codec_private_len = sizeof(asc);
    t[0].sampling_frequency = 44100.0;
    t[0].channels = 2;
    t[1].number = 3;
    t[1].type = CS_MKV_TRACK_AUDIO;
    t[1].codec = CS_MKV_CODEC_ID_PCM;
    t[1].sampling_frequency = 16000.0;
    t[1].channels = 1;
    t[1].bit_depth = 16;
    t[1].name = "mic";
    t[1].name_len = 3;
    cs_mkv_put_tracks(w, t, 2);
}

static const uint8_t golden_pcm_aac_tracks[] = {
    0x16, 0x54, 0xAE, 0x6B,                  /* Tracks */
    0xDC,                                    /* size 92 = 2 + 38 + 2 + 50 */
    0xAE, 0xA6,                              /* TrackEntry, size 38 */
    0xD7, 0x81, 0x01,                        /* TrackNumber 1 */
    0x73, 0xC5, 0x82, 0x12, 0x34,            /* TrackUID 0x1234 */
    0x83, 0x81, 0x02,                        /* TrackType audio */
    0x86, 0x85, 'A',  '_',  'A',  'A',  'C', /* CodecID "A_AAC" */
    0x63, 0xA2, 0x82, 0x12, 0x10,            /* CodecPrivate: AudioSpecificConfig */
    0xE1, 0x8D,                              /* Audio, size 13 */
    0xB5, 0x88, 0x40, 0xE5, 0x88, 0x80, 0x00, 0x00, 0x00, 0x00, /* SamplingFrequency 44100.0 */
    0x9F, 0x81, 0x02,                                           /* Channels 2 */
    0xAE, 0xB2,                                                 /* TrackEntry, size 50 */
    0xD7, 0x81, 0x03,                                           /* TrackNumber 3 */
    0x73, 0xC5, 0x81, 0x03,                                     /* TrackUID 3 */
    0x83, 0x81, 0x02,                                           /* TrackType audio */
    0x53, 0x6E, 0x83, 'm',  'i',  'c',                          /* Name "mic" */
    0x86, 0x8D, 'A',  '_',  'P',  'C',  'M',  '/',  'I',  'N',
    'T',  '/',  'L',  'I',  'T',                                /* CodecID "A_PCM/INT/LIT" */
    0xE1, 0x91,                                                 /* Audio, size 17 */
    0xB5, 0x88, 0x40, 0xCF, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, /* SamplingFrequency 16000.0 */
    0x9F, 0x81, 0x01,                                           /* Channels 1 */
    0x62, 0x64, 0x81, 0x10,                                     /* BitDepth 16 */
};

static void test_golden_pcm_aac_tracks(void **state)
{
    (void)state;
    check_golden(emit_pcm_aac_tracks, golden_pcm_aac_tracks, sizeof(golden_pcm_aac_tracks));
}

static void emit_cluster(cs_mkv_writer *w)
{
    cs_mkv_put_cluster_start(w, 1000);
}

static const uint8_t golden_cluster[] = {
    0x1F, 0x43, 0xB6, 0x75,                         /* Cluster */
    0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, /* size unknown */
    0xE7, 0x82, 0x03, 0xE8,                         /* Timecode 1000 (2 bytes) */
};

static void test_golden_cluster(void **state)
{
    (void)state;
    check_golden(emit_cluster, golden_cluster, sizeof(golden_cluster));
}

static void emit_blocks(cs_mkv_writer *w)
{
    static const uint8_t payload[] = {0xAA, 0xBB, 0xCC};
    cs_mkv_put_simple_block(w, 1, -2, CS_MKV_BLOCK_KEY, payload, 3);
    cs_mkv_put_simple_block(w, 127, 300, CS_MKV_BLOCK_INVISIBLE | CS_MKV_BLOCK_DISCARDABLE, payload,
                            1);
    cs_mkv_put_simple_block_header(w, 2, INT16_MIN, 0, 2);
    cs_mkv_put_raw(w, payload + 1, 2);
}

static const uint8_t golden_blocks[] = {
    0xA3,             /* SimpleBlock */
    0x87,             /* size 7 */
    0x81,             /* track 1 (1-byte vint) */
    0xFF, 0xFE,       /* relative timecode -2, int16 big-endian */
    0x80,             /* flags: key */
    0xAA, 0xBB, 0xCC, /* payload */
    0xA3,             /* SimpleBlock */
    0x86,             /* size 6 */
    0x40, 0x7F,       /* track 127: 2-byte vint (0xFF would be the reserved all-ones) */
    0x01, 0x2C,       /* relative timecode +300 */
    0x09,             /* flags: invisible | discardable */
    0xAA,             /* payload */
    0xA3,             /* SimpleBlock, header written alone, payload appended raw */
    0x86,             /* size 6 */
    0x82,             /* track 2 */
    0x80, 0x00,       /* relative timecode -32768 */
    0x00,             /* flags: none */
    0xBB, 0xCC,       /* payload */
};

static void test_golden_simple_blocks(void **state)
{
    (void)state;
    check_golden(emit_blocks, golden_blocks, sizeof(golden_blocks));
    assert_int_equal(cs_mkv_simple_block_len(1, 3), 9);
    assert_int_equal(cs_mkv_simple_block_len(127, 1), 8);
    /* 124 payload bytes + 4 = 128 data bytes: a 2-byte size field */
    assert_int_equal(cs_mkv_simple_block_len(1, 122), 1 + 1 + 126);
    assert_int_equal(cs_mkv_simple_block_len(1, 123), 1 + 2 + 127);
    assert_int_equal(cs_mkv_simple_block_len(0, 1), 0);
}

static void emit_tags(cs_mkv_writer *w)
{
    cs_mkv_tag tags[2] = {{"A", 1, "bc", 2}, {"EMPTY", 5, NULL, 0}};
    cs_mkv_put_tags(w, tags, 2);
}

static const uint8_t golden_tags[] = {
    0x12, 0x54, 0xC3, 0x67,                     /* Tags */
    0xA0,                                       /* size 32 */
    0x73, 0x73, 0x9D,                           /* Tag, size 29 */
    0x63, 0xC0, 0x80,                           /* Targets, empty */
    0x67, 0xC8, 0x89,                           /* SimpleTag, size 9 */
    0x45, 0xA3, 0x81, 'A',                      /* TagName "A" */
    0x44, 0x87, 0x82, 'b',  'c',                /* TagString "bc" */
    0x67, 0xC8, 0x8B,                           /* SimpleTag, size 11 */
    0x45, 0xA3, 0x85, 'E',  'M', 'P', 'T', 'Y', /* TagName "EMPTY" */
    0x44, 0x87, 0x80,                           /* TagString "" */
};

static void test_golden_tags(void **state)
{
    (void)state;
    check_golden(emit_tags, golden_tags, sizeof(golden_tags));
}

static void emit_ints(cs_mkv_writer *w)
{
    cs_mkv_put_uint(w, 0xEC, 0);
    cs_mkv_put_uint(w, 0xEC, 255);
    cs_mkv_put_uint(w, 0xEC, 256);
    cs_mkv_put_uint(w, 0xEC, UINT64_MAX);
    cs_mkv_put_float(w, 0x4489, -1.5);
    cs_mkv_put_id(w, 0x1A45DFA3);
    cs_mkv_put_size(w, 126);
    cs_mkv_put_size(w, 127);
    cs_mkv_put_size(w, 16383);
}

static const uint8_t golden_ints[] = {
    0xEC, 0x81, 0x00,                                              /* 0 in one byte */
    0xEC, 0x81, 0xFF,                                              /* 255 */
    0xEC, 0x82, 0x01, 0x00,                                        /* 256 in two */
    0xEC, 0x88, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,    /* UINT64_MAX in eight */
    0x44, 0x89, 0x88, 0xBF, 0xF8, 0,    0,    0,    0,    0,    0, /* float -1.5 as a double */
    0x1A, 0x45, 0xDF, 0xA3,                                        /* a 4-byte ID */
    0xFE,                                                          /* size 126: 1 byte */
    0x40, 0x7F,       /* size 127: 2 bytes (0xFF reserved) */
    0x20, 0x3F, 0xFF, /* size 16383: 3 bytes */
};

static void test_golden_primitives(void **state)
{
    (void)state;
    check_golden(emit_ints, golden_ints, sizeof(golden_ints));
    assert_int_equal(cs_mkv_id_len(0xA3), 1);
    assert_int_equal(cs_mkv_id_len(0x4286), 2);
    assert_int_equal(cs_mkv_id_len(0x2AD7B1), 3);
    assert_int_equal(cs_mkv_id_len(0x18538067), 4);
    assert_int_equal(cs_mkv_id_len(0), 0);
    assert_int_equal(cs_mkv_id_len(0x7F), 0);        /* no marker bit */
    assert_int_equal(cs_mkv_id_len(0xFF), 0);        /* reserved */
    assert_int_equal(cs_mkv_id_len(0x20000000u), 0); /* 5 bytes */
    assert_int_equal(cs_mkv_size_len(0), 1);
    assert_int_equal(cs_mkv_size_len(CS_MKV_MAX_ELEMENT_SIZE), 8);
    assert_int_equal(cs_mkv_size_len(CS_MKV_MAX_ELEMENT_SIZE + 1), 0);
}

/* A whole small file: header, segment, info, tracks, tags, cluster and blocks. */
static void emit_file(cs_mkv_writer *w)
{
    emit_ebml_header(w);
    emit_segment(w);
    emit_info(w);
    emit_tracks(w);
    emit_tags(w);
    emit_cluster(w);
    emit_blocks(w);
}

static void test_whole_file_every_length(void **state)
{
    uint8_t golden[1024];
    size_t n = 0;
    cs_mkv_writer w;
    (void)state;

    cs_mkv_writer_init(&w, golden, sizeof(golden));
    emit_file(&w);
    assert_int_equal(cs_mkv_writer_finish(&w, &n), CS_OK);
    assert_int_equal(n, sizeof(golden_ebml_header) + sizeof(golden_segment) + 67 +
                            sizeof(golden_tracks) + sizeof(golden_tags) + sizeof(golden_cluster) +
                            sizeof(golden_blocks));
    assert_memory_equal(golden, golden_ebml_header, sizeof(golden_ebml_header));
    check_golden(emit_file, golden, n);
}

/* ---------------------------------------------------------------------------------------------- */
/* Errors                                                                                         */
/* ---------------------------------------------------------------------------------------------- */

static cs_status tracks_status(const cs_mkv_track_info *t, size_t n)
{
    cs_mkv_writer w;
    cs_mkv_writer_init(&w, NULL, 0);
    cs_mkv_put_tracks(&w, t, n);
    return cs_mkv_writer_finish(&w, NULL);
}

static void test_track_validation(void **state)
{
    cs_mkv_track_info t[4];
    (void)state;

    fill_h264_track(&t[0]);
    fill_alaw_track(&t[1]);
    fill_alaw_track(&t[2]);
    t[2].number = 3;
    t[2].codec = CS_MKV_CODEC_ID_MULAW;
    fill_alaw_track(&t[3]);
    t[3].number = 4;
    assert_int_equal(tracks_status(t, 3), CS_OK);
    assert_int_equal(tracks_status(t, 4), CS_E_LIMIT);
    assert_int_equal(tracks_status(t, 0), CS_E_INVAL);
    assert_int_equal(tracks_status(NULL, 1), CS_E_INVAL);
    t[1].number = 1; /* duplicate */
    assert_int_equal(tracks_status(t, 2), CS_E_INVAL);
    t[1].number = 0;
    assert_int_equal(tracks_status(&t[1], 1), CS_E_INVAL);
    fill_alaw_track(&t[1]);
    t[1].channels = 0;
    assert_int_equal(tracks_status(&t[1], 1), CS_E_INVAL);
    fill_alaw_track(&t[1]);
    t[1].sampling_frequency = 0;
    assert_int_equal(tracks_status(&t[1], 1), CS_E_INVAL);
    fill_alaw_track(&t[1]);
    t[1].codec = CS_MKV_CODEC_ID_PCM; /* no bit depth */
    assert_int_equal(tracks_status(&t[1], 1), CS_E_INVAL);
    t[1].bit_depth = 12;
    assert_int_equal(tracks_status(&t[1], 1), CS_E_INVAL);
    t[1].bit_depth = 24;
    assert_int_equal(tracks_status(&t[1], 1), CS_OK);
    t[1].codec = CS_MKV_CODEC_ID_AAC; /* no AudioSpecificConfig */
    assert_int_equal(tracks_status(&t[1], 1), CS_E_INVAL);
    fill_h264_track(&t[0]);
    t[0].codec_private = NULL;
    t[0].codec_private_len = 0;
    assert_int_equal(tracks_status(t, 1), CS_E_INVAL);
    fill_h264_track(&t[0]);
    t[0].type = CS_MKV_TRACK_AUDIO;
    assert_int_equal(tracks_status(t, 1), CS_E_INVAL);
    fill_h264_track(&t[0]);
    t[0].width = 0; /* from the SPS: the fake avcC has none */
    assert_int_equal(tracks_status(t, 1), CS_E_MALFORMED);
    fill_h264_track(&t[0]);
    t[0].codec = CS_MKV_CODEC_UNKNOWN; /* pass-through needs a CodecID */
    assert_int_equal(tracks_status(t, 1), CS_E_INVAL);
    t[0].codec_id = "V_VP8";
    t[0].codec_id_len = 5;
    assert_int_equal(tracks_status(t, 1), CS_OK);
}

static void test_waveformatex(void **state)
{
    uint8_t w[CS_MKV_WAVEFORMATEX_LEN];
    static const uint8_t mulaw_stereo_16k[] = {
        0x07, 0x00,             /* wFormatTag 7 mu-law */
        0x02, 0x00,             /* nChannels 2 */
        0x80, 0x3E, 0x00, 0x00, /* nSamplesPerSec 16000 */
        0x00, 0x7D, 0x00, 0x00, /* nAvgBytesPerSec 32000 */
        0x02, 0x00,             /* nBlockAlign 2 */
        0x08, 0x00,             /* wBitsPerSample 8 */
        0x00, 0x00,             /* cbSize 0 */
    };
    (void)state;
    assert_int_equal(cs_mkv_waveformatex(w, CS_MKV_CODEC_ID_MULAW, 16000, 2), CS_OK);
    assert_memory_equal(w, mulaw_stereo_16k, sizeof(w));
    assert_int_equal(cs_mkv_waveformatex(w, CS_MKV_CODEC_ID_AAC, 16000, 2), CS_E_INVAL);
    assert_int_equal(cs_mkv_waveformatex(w, CS_MKV_CODEC_ID_ALAW, 0, 2), CS_E_INVAL);
    assert_int_equal(cs_mkv_waveformatex(w, CS_MKV_CODEC_ID_ALAW, 8000, 0), CS_E_INVAL);
    assert_int_equal(cs_mkv_waveformatex(w, CS_MKV_CODEC_ID_ALAW, UINT32_MAX, 2), CS_E_INVAL);
    assert_int_equal(cs_mkv_waveformatex(NULL, CS_MKV_CODEC_ID_ALAW, 8000, 1), CS_E_INVAL);
}

static void test_sticky_first_error(void **state)
{
    uint8_t buf[64];
    cs_mkv_writer w;
    size_t len;
    (void)state;

    /* An invalid ID, then valid puts: the first error wins and nothing more is written. */
    memset(buf, CANARY, sizeof(buf));
    cs_mkv_writer_init(&w, buf, sizeof(buf));
    cs_mkv_put_uint(&w, 0xEC, 1);
    cs_mkv_put_uint(&w, 0x7F, 1);
    cs_mkv_put_size(&w, CS_MKV_MAX_ELEMENT_SIZE + 1);
    cs_mkv_put_uint(&w, 0xEC, 2);
    assert_int_equal(cs_mkv_writer_finish(&w, &len), CS_E_INVAL);
    assert_int_equal(buf[3], CANARY);
    /* Out of space, then an invalid ID: still CS_E_NOSPACE. */
    cs_mkv_writer_init(&w, buf, 2);
    cs_mkv_put_uint(&w, 0xEC, 1);
    cs_mkv_put_id(&w, 0);
    assert_int_equal(cs_mkv_writer_finish(&w, &len), CS_E_NOSPACE);
    /* A size that no element can have. */
    cs_mkv_writer_init(&w, NULL, 0);
    cs_mkv_put_size(&w, CS_MKV_MAX_ELEMENT_SIZE + 1);
    assert_int_equal(cs_mkv_writer_finish(&w, &len), CS_E_RANGE);
    /* Lacing bits and track 0 are not SimpleBlocks this writer makes. */
    cs_mkv_writer_init(&w, NULL, 0);
    cs_mkv_put_simple_block_header(&w, 1, 0, 0x02, 0);
    assert_int_equal(cs_mkv_writer_finish(&w, &len), CS_E_INVAL);
    cs_mkv_writer_init(&w, NULL, 0);
    cs_mkv_put_simple_block_header(&w, 0, 0, 0, 0);
    assert_int_equal(cs_mkv_writer_finish(&w, &len), CS_E_INVAL);
    /* NULL data with a length, into a real buffer. */
    cs_mkv_writer_init(&w, buf, sizeof(buf));
    cs_mkv_put_binary(&w, 0xEC, NULL, 3);
    assert_int_equal(cs_mkv_writer_finish(&w, &len), CS_E_INVAL);
    cs_mkv_writer_fail(&w, CS_E_IO); /* an error is never replaced */
    assert_int_equal(cs_mkv_writer_finish(&w, &len), CS_E_INVAL);
    assert_int_equal(cs_mkv_writer_finish(NULL, &len), CS_E_INVAL);
    cs_mkv_writer_init(&w, NULL, 0);
    cs_mkv_put_info(&w, NULL);
    assert_int_equal(cs_mkv_writer_finish(&w, &len), CS_E_INVAL);
}

static void bad_body(cs_mkv_writer *w, const void *ctx)
{
    /* Emits more on the write pass than on the size pass. */
    cs_mkv_put_uint(w, 0xEC, w->dst != NULL ? 300u : 1u);
    (void)ctx;
}

static void test_master_body_mismatch(void **state)
{
    uint8_t buf[32];
    cs_mkv_writer w;
    (void)state;
    cs_mkv_writer_init(&w, buf, sizeof(buf));
    cs_mkv_put_master(&w, 0xE0, bad_body, NULL);
    assert_int_equal(cs_mkv_writer_finish(&w, NULL), CS_E_INTERNAL);
}

static void test_tag_limits(void **state)
{
    char name[CS_MKV_MAX_TAG_NAME + 1];
    char value[CS_MKV_MAX_TAG_VALUE + 1];
    cs_mkv_tag tags[CS_MKV_MAX_TAGS_PER_FRAGMENT + 1];
    cs_mkv_writer w;
    (void)state;

    memset(name, 'n', sizeof(name));
    memset(value, 'v', sizeof(value));
    for (size_t i = 0; i < CS_MKV_MAX_TAGS_PER_FRAGMENT + 1; i++) {
        tags[i] = (cs_mkv_tag){name, CS_MKV_MAX_TAG_NAME, value, CS_MKV_MAX_TAG_VALUE};
    }
    cs_mkv_writer_init(&w, NULL, 0);
    cs_mkv_put_tags(&w, tags, CS_MKV_MAX_TAGS_PER_FRAGMENT);
    assert_int_equal(cs_mkv_writer_finish(&w, NULL), CS_OK);
    cs_mkv_writer_init(&w, NULL, 0);
    cs_mkv_put_tags(&w, tags, CS_MKV_MAX_TAGS_PER_FRAGMENT + 1);
    assert_int_equal(cs_mkv_writer_finish(&w, NULL), CS_E_LIMIT);
    tags[3].name_len = CS_MKV_MAX_TAG_NAME + 1;
    cs_mkv_writer_init(&w, NULL, 0);
    cs_mkv_put_tags(&w, tags, 4);
    assert_int_equal(cs_mkv_writer_finish(&w, NULL), CS_E_LIMIT);
    tags[3].name_len = CS_MKV_MAX_TAG_NAME;
    tags[3].value_len = CS_MKV_MAX_TAG_VALUE + 1;
    cs_mkv_writer_init(&w, NULL, 0);
    cs_mkv_put_tags(&w, tags, 4);
    assert_int_equal(cs_mkv_writer_finish(&w, NULL), CS_E_LIMIT);
    tags[3].value_len = 1;
    tags[3].name_len = 0;
    cs_mkv_writer_init(&w, NULL, 0);
    cs_mkv_put_tags(&w, tags, 4);
    assert_int_equal(cs_mkv_writer_finish(&w, NULL), CS_E_INVAL);
    /* Nothing to write is not an error. */
    cs_mkv_writer_init(&w, NULL, 0);
    cs_mkv_put_tags(&w, NULL, 0);
    assert_int_equal(cs_mkv_writer_finish(&w, NULL), CS_OK);
}

/* ---------------------------------------------------------------------------------------------- */
/* Fragmenter                                                                                     */
/* ---------------------------------------------------------------------------------------------- */

#define MS 1000000ull

static void frag_init(cs_mkv_fragmenter *f, bool with_video, bool relative, uint64_t max_ms)
{
    cs_mkv_fragmenter_config cfg;
    cs_mkv_fragmenter_config_init(&cfg);
    if (with_video) {
        fill_h264_track(&cfg.tracks[0]);
        fill_alaw_track(&cfg.tracks[1]);
        cfg.track_count = 2;
    } else {
        fill_alaw_track(&cfg.tracks[0]);
        cfg.track_count = 1;
    }
    memcpy(cfg.segment_uid, test_uid, sizeof(test_uid));
    cfg.relative_timecodes = relative;
    cfg.max_cluster_duration_ns = max_ms * MS;
    assert_int_equal(cs_mkv_fragmenter_init(f, &cfg), CS_OK);
}

static bool same_layout(const cs_mkv_frame_layout *a, const cs_mkv_frame_layout *b)
{
    return a->header_len == b->header_len && a->total_len == b->total_len &&
           a->new_segment == b->new_segment && a->new_cluster == b->new_cluster &&
           a->tags_offset == b->tags_offset && a->cluster_offset == b->cluster_offset &&
           a->block_offset == b->block_offset && a->cluster_timecode == b->cluster_timecode &&
           a->block_timecode == b->block_timecode;
}

/* Puts one frame: the size pass first, then the write pass, which must agree. */
static cs_status frag_put(cs_mkv_fragmenter *f, uint64_t track, uint64_t ms, uint8_t flags,
                          size_t size, uint8_t *out, size_t *out_len, cs_mkv_frame_layout *lo)
{
    static uint8_t payload[4096];
    static uint8_t buf[8192];
    cs_mkv_frame fr = {track, ms * MS, flags, size};
    cs_mkv_frame_layout sized;
    cs_status st;

    memset(payload, 0x5A, sizeof(payload));
    st = cs_mkv_fragmenter_put_frame(f, &fr, NULL, NULL, 0, &sized);
    if (st != CS_OK) {
        return st;
    }
    memset(buf, CANARY, sizeof(buf));
    st = cs_mkv_fragmenter_put_frame(f, &fr, payload, buf, sized.total_len, lo);
    assert_int_equal(st, CS_OK);
    assert_true(same_layout(&sized, lo));
    assert_int_equal(buf[lo->total_len], CANARY);
    if (out != NULL) {
        memcpy(out + *out_len, buf, lo->total_len);
        *out_len += lo->total_len;
    }
    return st;
}

static void test_fragmenter_first_frame_golden(void **state)
{
    cs_mkv_fragmenter f;
    cs_mkv_frame_layout lo;
    uint8_t out[1024];
    uint8_t expect[1024];
    size_t n = 0, e = 0, hdr_len = 0;
    (void)state;

    frag_init(&f, true, false, 0);
    assert_int_equal(cs_mkv_fragmenter_add_tag(&f, "A", 1, "bc", 2), CS_OK);
    assert_int_equal(cs_mkv_fragmenter_add_tag(&f, "EMPTY", 5, NULL, 0), CS_OK);
    assert_int_equal(frag_put(&f, 1, 1000, CS_MKV_BLOCK_KEY, 3, out, &n, &lo), CS_OK);
    /* Expected: header, segment, info, tracks, the pending tags, cluster 1000, block +0. */
    assert_int_equal(cs_mkv_fragmenter_header(&f, expect, sizeof(expect), &hdr_len), CS_OK);
    e = hdr_len;
    memcpy(expect + e, golden_tags, sizeof(golden_tags));
    e += sizeof(golden_tags);
    memcpy(expect + e, golden_cluster, sizeof(golden_cluster));
    e += sizeof(golden_cluster);
    memcpy(expect + e, (const uint8_t[]){0xA3, 0x87, 0x81, 0x00, 0x00, 0x80, 0x5A, 0x5A, 0x5A}, 9);
    e += 9;
    assert_int_equal(n, e);
    assert_memory_equal(out, expect, e);
    assert_memory_equal(out, golden_ebml_header, sizeof(golden_ebml_header));
    assert_memory_equal(out + sizeof(golden_ebml_header), golden_segment, sizeof(golden_segment));
    assert_memory_equal(out + sizeof(golden_ebml_header) + sizeof(golden_segment) + 67,
                        golden_tracks, sizeof(golden_tracks));
    assert_true(lo.new_segment);
    assert_true(lo.new_cluster);
    assert_int_equal(lo.tags_offset, hdr_len);
    assert_int_equal(lo.cluster_offset, hdr_len + sizeof(golden_tags));
    assert_int_equal(lo.block_offset, lo.cluster_offset + sizeof(golden_cluster));
    assert_int_equal(lo.header_len, e - 3);
    assert_int_equal(lo.cluster_timecode, 1000);
    /* The next frame: just a block, +33 from the cluster, tags were consumed. */
    n = 0;
    assert_int_equal(frag_put(&f, 2, 1033, 0, 2, out, &n, &lo), CS_OK);
    assert_false(lo.new_cluster);
    assert_false(lo.new_segment);
    assert_int_equal(lo.tags_offset, SIZE_MAX);
    assert_int_equal(n, 8);
    assert_memory_equal(out, ((const uint8_t[]){0xA3, 0x86, 0x82, 0x00, 0x21, 0x00, 0x5A, 0x5A}),
                        8);
    /* Timestamps below a millisecond are dropped (1 ms ticks). */
    assert_int_equal(frag_put(&f, 2, 1040, 0, 0, NULL, NULL, &lo), CS_OK);
    assert_int_equal(lo.block_timecode, 40);
}

static void test_fragmenter_nospace_every_length(void **state)
{
    cs_mkv_fragmenter f;
    cs_mkv_frame fr = {1, 5 * MS, CS_MKV_BLOCK_KEY, 100};
    cs_mkv_frame_layout sized, lo;
    uint8_t payload[100];
    uint8_t buf[1024];
    (void)state;

    memset(payload, 1, sizeof(payload));
    frag_init(&f, true, false, 0);
    assert_int_equal(cs_mkv_fragmenter_add_tag(&f, "k", 1, "v", 1), CS_OK);
    assert_int_equal(cs_mkv_fragmenter_put_frame(&f, &fr, NULL, NULL, 0, &sized), CS_OK);
    assert_true(sized.total_len < sizeof(buf) - 16);
    for (size_t cap = 0; cap < sized.total_len; cap++) {
        memset(buf, CANARY, sizeof(buf));
        assert_int_equal(cs_mkv_fragmenter_put_frame(&f, &fr, payload, buf, cap, &lo),
                         CS_E_NOSPACE);
        assert_int_equal(lo.total_len, sized.total_len);
        for (size_t i = cap; i < sizeof(buf); i++) {
            assert_int_equal(buf[i], CANARY);
        }
    }
    /* The header-only call fails the same way below header_len. */
    for (size_t cap = 0; cap < sized.header_len; cap++) {
        assert_int_equal(cs_mkv_fragmenter_frame_header(&f, &fr, buf, cap, &lo), CS_E_NOSPACE);
    }
    /* Nothing changed: the same decisions, then success; the tag was written once. */
    assert_int_equal(cs_mkv_fragmenter_frame_header(&f, &fr, buf, sized.header_len, &lo), CS_OK);
    assert_int_equal(lo.header_len, sized.header_len);
    assert_true(lo.new_segment && lo.new_cluster && lo.tags_offset != SIZE_MAX);
    fr.timestamp_ns = 6 * MS;
    fr.flags = 0;
    assert_int_equal(cs_mkv_fragmenter_frame_header(&f, &fr, NULL, 0, &lo), CS_OK);
    assert_false(lo.new_cluster);
    assert_int_equal(lo.header_len, cs_mkv_simple_block_len(1, 100) - 100);
}

static void test_fragmenter_key_frame_cuts(void **state)
{
    cs_mkv_fragmenter f;
    cs_mkv_frame_layout lo;
    int clusters = 0;
    (void)state;

    frag_init(&f, true, false, 0);
    /* 3 s of 30 fps video with a key frame every 30, and 20 ms audio frames between. */
    for (int i = 0; i < 90; i++) {
        uint64_t ms = 10000 + (uint64_t)i * 33;
        bool key = i % 30 == 0;
        assert_int_equal(frag_put(&f, 1, ms, key ? CS_MKV_BLOCK_KEY : 0, 100, NULL, NULL, &lo),
                         CS_OK);
        assert_int_equal(lo.new_cluster, key);
        clusters += lo.new_cluster;
        if (key) {
            assert_int_equal(lo.cluster_timecode, ms);
            assert_int_equal(lo.block_timecode, 0);
        }
        /* Audio is never a cut, even with the key flag, and may be slightly earlier. */
        assert_int_equal(frag_put(&f, 2, ms - 5, CS_MKV_BLOCK_KEY, 160, NULL, NULL, &lo), CS_OK);
        assert_false(lo.new_cluster);
        assert_int_equal(lo.block_timecode, (int)(i % 30) * 33 - 5);
    }
    assert_int_equal(clusters, 3);
}

static void test_fragmenter_duration_cuts(void **state)
{
    cs_mkv_fragmenter f;
    cs_mkv_frame_layout lo;
    cs_mkv_fragmenter_config cfg;
    (void)state;

    /* Audio only: cuts at the maximum duration (1000 ms) only. */
    frag_init(&f, false, false, 1000);
    for (int i = 0; i < 200; i++) {
        uint64_t ms = (uint64_t)i * 20;
        assert_int_equal(frag_put(&f, 2, ms, CS_MKV_BLOCK_KEY, 160, NULL, NULL, &lo), CS_OK);
        assert_int_equal(lo.new_cluster, ms % 1000 == 0);
        assert_int_equal(lo.cluster_timecode, ms / 1000 * 1000);
    }
    /* Video with cluster_on_key_frame false: key frames do not cut, the duration does. */
    cs_mkv_fragmenter_config_init(&cfg);
    fill_h264_track(&cfg.tracks[0]);
    cfg.track_count = 1;
    cfg.cluster_on_key_frame = false;
    cfg.max_cluster_duration_ns = 500 * MS + 1; /* rounds up to 501 ticks */
    assert_int_equal(cs_mkv_fragmenter_init(&f, &cfg), CS_OK);
    assert_int_equal(frag_put(&f, 1, 0, CS_MKV_BLOCK_KEY, 10, NULL, NULL, &lo), CS_OK);
    assert_true(lo.new_cluster);
    assert_int_equal(frag_put(&f, 1, 100, CS_MKV_BLOCK_KEY, 10, NULL, NULL, &lo), CS_OK);
    assert_false(lo.new_cluster);
    assert_int_equal(frag_put(&f, 1, 500, 0, 10, NULL, NULL, &lo), CS_OK);
    assert_false(lo.new_cluster);
    assert_int_equal(frag_put(&f, 1, 501, 0, 10, NULL, NULL, &lo), CS_OK);
    assert_true(lo.new_cluster);
    /* key_track names a track; an unknown one is refused. */
    cfg.key_track = 9;
    assert_int_equal(cs_mkv_fragmenter_init(&f, &cfg), CS_E_INVAL);
}

static void test_fragmenter_int16_rule(void **state)
{
    cs_mkv_fragmenter f;
    cs_mkv_frame_layout lo;
    cs_mkv_frame fr;
    uint8_t buf[64];
    size_t len;
    (void)state;

    frag_init(&f, false, false, 0);
    assert_int_equal(frag_put(&f, 2, 40000, 0, 1, NULL, NULL, &lo), CS_OK);
    assert_true(lo.new_cluster);
    /* Forward to the edge of int16: the same cluster. */
    assert_int_equal(frag_put(&f, 2, 40000 + 32767, 0, 1, NULL, NULL, &lo), CS_OK);
    assert_false(lo.new_cluster);
    assert_int_equal(lo.block_timecode, INT16_MAX);
    /* Backward to the other edge: allowed. */
    assert_int_equal(frag_put(&f, 2, 40000 - 32768, 0, 1, NULL, NULL, &lo), CS_OK);
    assert_false(lo.new_cluster);
    assert_int_equal(lo.block_timecode, INT16_MIN);
    /* One more tick back: impossible, and nothing changes. */
    fr = (cs_mkv_frame){2, (40000 - 32769) * MS, 0, 1};
    assert_int_equal(cs_mkv_fragmenter_frame_header(&f, &fr, buf, sizeof(buf), &lo), CS_E_RANGE);
    assert_int_equal(cs_mkv_fragmenter_frame_header(&f, &fr, NULL, 0, &lo), CS_E_RANGE);
    /* One tick past INT16_MAX: a new cluster instead. */
    assert_int_equal(frag_put(&f, 2, 40000 + 32768, 0, 1, NULL, NULL, &lo), CS_OK);
    assert_true(lo.new_cluster);
    assert_int_equal(lo.cluster_timecode, 40000 + 32768);
    assert_int_equal(lo.block_timecode, 0);

    /* A key frame earlier than the current cluster's start: a new cluster (a new fragment),
     * but with the current timecode, so cluster timecodes never go back. */
    frag_init(&f, true, false, 0);
    assert_int_equal(frag_put(&f, 1, 40000, CS_MKV_BLOCK_KEY, 1, NULL, NULL, &lo), CS_OK);
    assert_int_equal(frag_put(&f, 1, 39990, CS_MKV_BLOCK_KEY, 1, NULL, NULL, &lo), CS_OK);
    assert_true(lo.new_cluster);
    assert_int_equal(lo.cluster_timecode, 40000);
    assert_int_equal(lo.block_timecode, -10);
    /* ...as long as int16 reaches that far back. */
    assert_int_equal(frag_put(&f, 1, 40000 - 32769, CS_MKV_BLOCK_KEY, 1, NULL, NULL, &lo),
                     CS_E_RANGE);
    assert_int_equal(frag_put(&f, 1, 40000 - 32768, CS_MKV_BLOCK_KEY, 1, NULL, NULL, &lo), CS_OK);
    assert_true(lo.new_cluster);
    assert_int_equal(lo.block_timecode, INT16_MIN);
    /* A non-key frame there is a B-frame-like step back within the cluster. */
    assert_int_equal(frag_put(&f, 1, 39990, 0, 1, NULL, NULL, &lo), CS_OK);
    assert_false(lo.new_cluster);
    assert_int_equal(lo.block_timecode, -10);
    /* The cut after a flush that wrote tags: also monotonic. */
    assert_int_equal(cs_mkv_fragmenter_add_tag(&f, "t", 1, "v", 1), CS_OK);
    assert_int_equal(cs_mkv_fragmenter_flush_tags(&f, buf, sizeof(buf), &len), CS_OK);
    assert_int_equal(frag_put(&f, 2, 39000, 0, 1, NULL, NULL, &lo), CS_OK);
    assert_true(lo.new_cluster);
    assert_int_equal(lo.cluster_timecode, 40000);
    assert_int_equal(lo.block_timecode, -1000);
    /* After a restart (resending from an older key frame) older timestamps are fine. */
    cs_mkv_fragmenter_restart(&f);
    assert_int_equal(frag_put(&f, 1, 3000, CS_MKV_BLOCK_KEY, 1, NULL, NULL, &lo), CS_OK);
    assert_true(lo.new_segment && lo.new_cluster);
    assert_int_equal(lo.cluster_timecode, 3000);
}

static void test_fragmenter_relative(void **state)
{
    cs_mkv_fragmenter f;
    cs_mkv_frame_layout lo;
    (void)state;

    frag_init(&f, true, true, 0);
    /* Size pass only: the origin is not fixed yet. */
    {
        cs_mkv_frame fr = {1, 7000 * MS, CS_MKV_BLOCK_KEY, 1};
        assert_int_equal(cs_mkv_fragmenter_frame_header(&f, &fr, NULL, 0, &lo), CS_OK);
    }
    assert_int_equal(frag_put(&f, 1, 5000, CS_MKV_BLOCK_KEY, 1, NULL, NULL, &lo), CS_OK);
    assert_int_equal(lo.cluster_timecode, 0);
    assert_int_equal(frag_put(&f, 1, 5100, 0, 1, NULL, NULL, &lo), CS_OK);
    assert_int_equal(lo.block_timecode, 100);
    assert_int_equal(frag_put(&f, 1, 7000, CS_MKV_BLOCK_KEY, 1, NULL, NULL, &lo), CS_OK);
    assert_int_equal(lo.cluster_timecode, 2000);
    assert_int_equal(frag_put(&f, 2, 4999, 0, 1, NULL, NULL, &lo), CS_E_RANGE);
}

static void test_fragmenter_tags(void **state)
{
    cs_mkv_fragmenter f;
    cs_mkv_frame_layout lo;
    char name[CS_MKV_MAX_TAG_NAME + 1];
    char value[CS_MKV_MAX_TAG_VALUE + 1];
    uint8_t buf[8192];
    size_t len;
    (void)state;

    memset(name, 'n', sizeof(name));
    memset(value, 'v', sizeof(value));
    frag_init(&f, true, false, 0);
    assert_int_equal(cs_mkv_fragmenter_add_tag(&f, name, CS_MKV_MAX_TAG_NAME + 1, "v", 1),
                     CS_E_LIMIT);
    assert_int_equal(cs_mkv_fragmenter_add_tag(&f, "n", 1, value, CS_MKV_MAX_TAG_VALUE + 1),
                     CS_E_LIMIT);
    assert_int_equal(cs_mkv_fragmenter_add_tag(&f, "", 0, "v", 1), CS_E_INVAL);
    assert_int_equal(cs_mkv_fragmenter_add_tag(&f, NULL, 1, "v", 1), CS_E_INVAL);
    assert_int_equal(cs_mkv_fragmenter_add_tag(&f, "n", 1, NULL, 1), CS_E_INVAL);
    for (int i = 0; i < CS_MKV_MAX_TAGS_PER_FRAGMENT; i++) {
        assert_int_equal(
            cs_mkv_fragmenter_add_tag(&f, name, CS_MKV_MAX_TAG_NAME, value, CS_MKV_MAX_TAG_VALUE),
            CS_OK);
    }
    assert_int_equal(cs_mkv_fragmenter_add_tag(&f, "x", 1, "y", 1), CS_E_LIMIT);
    /* Before any segment there is nowhere to put them on their own. */
    assert_int_equal(cs_mkv_fragmenter_flush_tags(&f, buf, sizeof(buf), &len), CS_E_STATE);
    assert_int_equal(frag_put(&f, 1, 0, CS_MKV_BLOCK_KEY, 1, NULL, NULL, &lo), CS_OK);
    assert_true(lo.tags_offset != SIZE_MAX);
    /* Tags written with the cluster: the queue is free again. */
    assert_int_equal(cs_mkv_fragmenter_flush_tags(&f, buf, sizeof(buf), &len), CS_OK);
    assert_int_equal(len, 0);
    assert_int_equal(frag_put(&f, 2, 10, 0, 1, NULL, NULL, &lo), CS_OK);
    assert_false(lo.new_cluster); /* nothing was written: the cluster goes on */
    assert_int_equal(cs_mkv_fragmenter_add_tag(&f, "A", 1, "bc", 2), CS_OK);
    assert_int_equal(cs_mkv_fragmenter_add_tag(&f, "EMPTY", 5, "", 0), CS_OK);
    /* flush_tags: size pass, too small, then the golden Tags element. */
    assert_int_equal(cs_mkv_fragmenter_flush_tags(&f, NULL, 0, &len), CS_OK);
    assert_int_equal(len, sizeof(golden_tags));
    assert_int_equal(cs_mkv_fragmenter_flush_tags(&f, buf, sizeof(golden_tags) - 1, &len),
                     CS_E_NOSPACE);
    assert_int_equal(cs_mkv_fragmenter_flush_tags(&f, buf, sizeof(buf), &len), CS_OK);
    assert_int_equal(len, sizeof(golden_tags));
    assert_memory_equal(buf, golden_tags, sizeof(golden_tags));
    /* The Tags element ended the cluster: even a non-key audio frame starts a new one. */
    assert_int_equal(frag_put(&f, 2, 20, 0, 1, NULL, NULL, &lo), CS_OK);
    assert_true(lo.new_cluster);
    assert_int_equal(lo.tags_offset, SIZE_MAX);
    assert_int_equal(lo.cluster_timecode, 20);
    assert_int_equal(frag_put(&f, 1, 1000, CS_MKV_BLOCK_KEY, 1, NULL, NULL, &lo), CS_OK);
    assert_int_equal(lo.tags_offset, SIZE_MAX);
}

static void test_fragmenter_args(void **state)
{
    cs_mkv_fragmenter f;
    cs_mkv_fragmenter_config cfg;
    cs_mkv_frame_layout lo;
    cs_mkv_frame fr = {1, 0, CS_MKV_BLOCK_KEY, 4};
    uint8_t buf[512];
    size_t len;
    (void)state;

    cs_mkv_fragmenter_config_init(&cfg);
    assert_int_equal(cs_mkv_fragmenter_init(&f, &cfg), CS_E_INVAL); /* no tracks */
    cfg.track_count = CS_MKV_MAX_TRACKS + 1;
    assert_int_equal(cs_mkv_fragmenter_init(&f, &cfg), CS_E_LIMIT);
    cfg.track_count = 1;
    fill_alaw_track(&cfg.tracks[0]);
    cfg.tracks[0].channels = 0;
    assert_int_equal(cs_mkv_fragmenter_init(&f, &cfg), CS_E_INVAL);
    assert_int_equal(cs_mkv_fragmenter_init(NULL, &cfg), CS_E_INVAL);
    frag_init(&f, true, false, 0);
    assert_int_equal(cs_mkv_fragmenter_put_frame(&f, &fr, NULL, buf, sizeof(buf), &lo), CS_E_INVAL);
    fr.track = 5;
    assert_int_equal(cs_mkv_fragmenter_put_frame(&f, &fr, NULL, NULL, 0, &lo), CS_E_INVAL);
    fr.track = 1;
    fr.flags = 0x06; /* lacing */
    assert_int_equal(cs_mkv_fragmenter_put_frame(&f, &fr, NULL, NULL, 0, &lo), CS_E_INVAL);
    assert_int_equal(cs_mkv_fragmenter_put_frame(NULL, &fr, NULL, NULL, 0, &lo), CS_E_INVAL);
    assert_int_equal(cs_mkv_fragmenter_put_frame(&f, NULL, NULL, NULL, 0, &lo), CS_E_INVAL);
    assert_int_equal(cs_mkv_fragmenter_put_frame(&f, &fr, NULL, NULL, 0, NULL), CS_E_INVAL);
    assert_int_equal(cs_mkv_fragmenter_header(&f, NULL, 0, NULL), CS_E_INVAL);
    assert_int_equal(cs_mkv_fragmenter_header(&f, NULL, 0, &len), CS_OK);
    assert_int_equal(len, sizeof(golden_ebml_header) + sizeof(golden_segment) + 67 +
                              sizeof(golden_tracks));
    assert_int_equal(cs_mkv_fragmenter_header(&f, buf, len - 1, &len), CS_E_NOSPACE);
    assert_int_equal(cs_mkv_fragmenter_add_tag(NULL, "a", 1, "b", 1), CS_E_INVAL);
    assert_int_equal(cs_mkv_fragmenter_flush_tags(NULL, buf, 1, &len), CS_E_INVAL);
    cs_mkv_fragmenter_restart(NULL); /* accepted */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_ebml_header),
        cmocka_unit_test(test_golden_segment),
        cmocka_unit_test(test_golden_info),
        cmocka_unit_test(test_golden_tracks),
        cmocka_unit_test(test_golden_pcm_aac_tracks),
        cmocka_unit_test(test_golden_cluster),
        cmocka_unit_test(test_golden_simple_blocks),
        cmocka_unit_test(test_golden_tags),
        cmocka_unit_test(test_golden_primitives),
        cmocka_unit_test(test_whole_file_every_length),
        cmocka_unit_test(test_track_validation),
        cmocka_unit_test(test_waveformatex),
        cmocka_unit_test(test_sticky_first_error),
        cmocka_unit_test(test_master_body_mismatch),
        cmocka_unit_test(test_tag_limits),
        cmocka_unit_test(test_fragmenter_first_frame_golden),
        cmocka_unit_test(test_fragmenter_nospace_every_length),
        cmocka_unit_test(test_fragmenter_key_frame_cuts),
        cmocka_unit_test(test_fragmenter_duration_cuts),
        cmocka_unit_test(test_fragmenter_int16_rule),
        cmocka_unit_test(test_fragmenter_relative),
        cmocka_unit_test(test_fragmenter_tags),
        cmocka_unit_test(test_fragmenter_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
