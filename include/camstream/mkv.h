/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file mkv.h
 * @brief The mkv module: Matroska as KVS producers write it and as GetMedia returns it.
 *
 * The module has three parts, each with its own header included from here:
 * - `mkv_write.h`: a typed EBML/Matroska writer into caller memory (sizing and writing share one
 *   code path; sticky errors);
 * - `mkv_read.h`: an incremental, allocation-free reader that emits events with byte offsets;
 * - `nal.h`: H.264/H.265 Annex-B <-> AVCC conversion, SPS parsing, avcC/hvcC builders.
 *
 * This file holds what they share: element IDs, codec IDs, track types and the track description.
 * No function in the module allocates memory.
 */
#ifndef CAMSTREAM_MKV_H
#define CAMSTREAM_MKV_H

#include "camstream/platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/* EBML and Matroska element IDs (with their length-marker bits, as they appear on the wire). */
#define CS_EBML_ID_HEADER 0x1A45DFA3u
#define CS_EBML_ID_VERSION 0x4286u
#define CS_EBML_ID_READ_VERSION 0x42F7u
#define CS_EBML_ID_MAX_ID_LENGTH 0x42F2u
#define CS_EBML_ID_MAX_SIZE_LENGTH 0x42F3u
#define CS_EBML_ID_DOCTYPE 0x4282u
#define CS_EBML_ID_DOCTYPE_VERSION 0x4287u
#define CS_EBML_ID_DOCTYPE_READ_VERSION 0x4285u
#define CS_EBML_ID_VOID 0xECu
#define CS_EBML_ID_CRC32 0xBFu

#define CS_MKV_ID_SEGMENT 0x18538067u
#define CS_MKV_ID_SEEKHEAD 0x114D9B74u
#define CS_MKV_ID_INFO 0x1549A966u
#define CS_MKV_ID_SEGMENT_UID 0x73A4u
#define CS_MKV_ID_TIMECODE_SCALE 0x2AD7B1u
#define CS_MKV_ID_DURATION 0x4489u
#define CS_MKV_ID_DATE_UTC 0x4461u
#define CS_MKV_ID_TITLE 0x7BA9u
#define CS_MKV_ID_MUXING_APP 0x4D80u
#define CS_MKV_ID_WRITING_APP 0x5741u
#define CS_MKV_ID_TRACKS 0x1654AE6Bu
#define CS_MKV_ID_TRACK_ENTRY 0xAEu
#define CS_MKV_ID_TRACK_NUMBER 0xD7u
#define CS_MKV_ID_TRACK_UID 0x73C5u
#define CS_MKV_ID_TRACK_TYPE 0x83u
#define CS_MKV_ID_FLAG_LACING 0x9Cu
#define CS_MKV_ID_DEFAULT_DURATION 0x23E383u
#define CS_MKV_ID_NAME 0x536Eu
#define CS_MKV_ID_LANGUAGE 0x22B59Cu
#define CS_MKV_ID_CODEC_ID 0x86u
#define CS_MKV_ID_CODEC_PRIVATE 0x63A2u
#define CS_MKV_ID_CODEC_NAME 0x258688u
#define CS_MKV_ID_CODEC_DELAY 0x56AAu
#define CS_MKV_ID_SEEK_PRE_ROLL 0x56BBu
#define CS_MKV_ID_VIDEO 0xE0u
#define CS_MKV_ID_PIXEL_WIDTH 0xB0u
#define CS_MKV_ID_PIXEL_HEIGHT 0xBAu
#define CS_MKV_ID_AUDIO 0xE1u
#define CS_MKV_ID_SAMPLING_FREQUENCY 0xB5u
#define CS_MKV_ID_CHANNELS 0x9Fu
#define CS_MKV_ID_BIT_DEPTH 0x6264u
#define CS_MKV_ID_CLUSTER 0x1F43B675u
#define CS_MKV_ID_TIMECODE 0xE7u
#define CS_MKV_ID_POSITION 0xA7u
#define CS_MKV_ID_PREV_SIZE 0xABu
#define CS_MKV_ID_SIMPLE_BLOCK 0xA3u
#define CS_MKV_ID_BLOCK_GROUP 0xA0u
#define CS_MKV_ID_BLOCK 0xA1u
#define CS_MKV_ID_BLOCK_DURATION 0x9Bu
#define CS_MKV_ID_REFERENCE_BLOCK 0xFBu
#define CS_MKV_ID_CUES 0x1C53BB6Bu
#define CS_MKV_ID_CHAPTERS 0x1043A770u
#define CS_MKV_ID_ATTACHMENTS 0x1941A469u
#define CS_MKV_ID_TAGS 0x1254C367u
#define CS_MKV_ID_TAG 0x7373u
#define CS_MKV_ID_TARGETS 0x63C0u
#define CS_MKV_ID_SIMPLE_TAG 0x67C8u
#define CS_MKV_ID_TAG_NAME 0x45A3u
#define CS_MKV_ID_TAG_STRING 0x4487u
#define CS_MKV_ID_TAG_BINARY 0x4485u

/** SimpleBlock flags (the byte after the relative timecode). */
#define CS_MKV_BLOCK_KEY 0x80u
#define CS_MKV_BLOCK_INVISIBLE 0x08u
#define CS_MKV_BLOCK_DISCARDABLE 0x01u

/** Matroska codec IDs camstream writes. */
#define CS_MKV_CODEC_H264 "V_MPEG4/ISO/AVC"
#define CS_MKV_CODEC_H265 "V_MPEGH/ISO/HEVC"
#define CS_MKV_CODEC_AAC "A_AAC"
#define CS_MKV_CODEC_ACM "A_MS/ACM"
#define CS_MKV_CODEC_PCM "A_PCM/INT/LIT"

/** Most tracks a camstream stream carries (video + audio + one more), as PROTOCOL.md §3. */
#define CS_MKV_MAX_TRACKS 3
/** The timecode scale KVS requires: 1 ms per tick. */
#define CS_MKV_TIMECODE_SCALE_NS 1000000u
/** Reserved prefix of fragment tag names. */
#define CS_MKV_RESERVED_TAG_PREFIX "AWS_KINESISVIDEO_"
#define CS_MKV_MAX_TAGS_PER_FRAGMENT 10
#define CS_MKV_MAX_TAG_NAME 128
#define CS_MKV_MAX_TAG_VALUE 256

/** Matroska TrackType values. */
typedef enum cs_mkv_track_type {
    CS_MKV_TRACK_VIDEO = 1,
    CS_MKV_TRACK_AUDIO = 2,
    CS_MKV_TRACK_SUBTITLE = 0x11,
    CS_MKV_TRACK_METADATA = 0x21,
} cs_mkv_track_type;

/** The codecs the writer knows how to describe. */
typedef enum cs_mkv_codec {
    CS_MKV_CODEC_UNKNOWN = 0,
    CS_MKV_CODEC_ID_H264 = 1,  /**< V_MPEG4/ISO/AVC, CodecPrivate = avcC */
    CS_MKV_CODEC_ID_H265 = 2,  /**< V_MPEGH/ISO/HEVC, CodecPrivate = hvcC */
    CS_MKV_CODEC_ID_AAC = 3,   /**< A_AAC, CodecPrivate = AudioSpecificConfig */
    CS_MKV_CODEC_ID_ALAW = 4,  /**< A_MS/ACM, CodecPrivate = WAVEFORMATEX, wFormatTag 6 */
    CS_MKV_CODEC_ID_MULAW = 5, /**< A_MS/ACM, CodecPrivate = WAVEFORMATEX, wFormatTag 7 */
    CS_MKV_CODEC_ID_PCM = 6,   /**< A_PCM/INT/LIT, no CodecPrivate */
} cs_mkv_codec;

/**
 * @brief One track, as the writer takes it and the reader reports it.
 * Pointers are borrowed: owned by the caller (writer) or pointing into the caller's input bytes
 * (reader, valid only during the event callback).
 */
typedef struct cs_mkv_track_info {
    uint64_t number;        /**< TrackNumber, 1-based */
    uint64_t uid;           /**< TrackUID (writer: 0 = same as number) */
    cs_mkv_track_type type; /**< video, audio, ... */
    cs_mkv_codec codec;     /**< writer input; reader: derived from codec_id when known */
    const char *codec_id;   /**< e.g. "V_MPEG4/ISO/AVC" (reader: not NUL-terminated, see len) */
    size_t codec_id_len;
    const uint8_t *codec_private; /**< avcC, hvcC, AudioSpecificConfig, WAVEFORMATEX, or NULL */
    size_t codec_private_len;
    const char *name; /**< track Name, may be NULL */
    size_t name_len;
    uint32_t width;               /**< video: PixelWidth (writer: 0 = take from the SPS) */
    uint32_t height;              /**< video: PixelHeight */
    uint64_t default_duration_ns; /**< DefaultDuration, 0 = absent */
    double sampling_frequency;    /**< audio: Hz */
    uint32_t channels;            /**< audio */
    uint32_t bit_depth;           /**< audio: bits per sample, 0 = absent */
} cs_mkv_track_info;

#ifdef __cplusplus
}
#endif

#include "camstream/mkv_write.h"
#include "camstream/mkv_read.h"
#include "camstream/nal.h"

#endif /* CAMSTREAM_MKV_H */
