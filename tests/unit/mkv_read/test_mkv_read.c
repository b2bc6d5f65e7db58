/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the incremental MKV reader over hand-built byte vectors: every event kind, every
 * chunking of a stream, each kind of lacing, unknown-size termination, concatenated segments,
 * the pull and callback APIs, limits, and malformed input with exact error offsets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "camstream/mkv.h"
#include "recorder.h"
#include "testutil.h"

/* ---------------------------------------------------------------------------------------------- */
/* The main vector: two segments (GetMedia style), 371 bytes. Offsets in the comments.            */
/* ---------------------------------------------------------------------------------------------- */

/* One element or field per line, each with its comment: */
/* clang-format off */
#define EBML_HEADER_BYTES                                                                          \
    0x1A, 0x45, 0xDF, 0xA3, 0xA3,                        /* EBML header, size 35 */                \
        0x42, 0x86, 0x81, 0x01,                          /* EBMLVersion 1 */                       \
        0x42, 0xF7, 0x81, 0x01,                          /* EBMLReadVersion 1 */                   \
        0x42, 0xF2, 0x81, 0x04,                          /* EBMLMaxIDLength 4 */                   \
        0x42, 0xF3, 0x81, 0x08,                          /* EBMLMaxSizeLength 8 */                 \
        0x42, 0x82, 0x88, 'm', 'a', 't', 'r', 'o', 's', 'k', 'a', /* DocType "matroska" */         \
        0x42, 0x87, 0x81, 0x04,                          /* DocTypeVersion 4 */                    \
        0x42, 0x85, 0x81, 0x02                           /* DocTypeReadVersion 2 */

static const uint8_t stream[] = {
    /* 0: EBML header (40 bytes) */
    EBML_HEADER_BYTES,
    /* 40: Segment, size unknown as an 8-byte vint; data at 52 */
    0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    /* 52: Info, size 22, ends at 79 */
    0x15, 0x49, 0xA9, 0x66, 0x96,
    0x2A, 0xD7, 0xB1, 0x83, 0x0F, 0x42, 0x40,  /* TimecodeScale 1000000 */
    0x4D, 0x80, 0x84, 'c', 's', 'm', 'x',      /* MuxingApp "csmx" */
    0x57, 0x41, 0x85, 'c', 's', 'a', 'p', 'p', /* WritingApp "csapp" */
    /* 79: Tracks, size 67, ends at 151 */
    0x16, 0x54, 0xAE, 0x6B, 0xC3,
    /* 84: TrackEntry, size 39 */
    0xAE, 0xA7,
    0xD7, 0x81, 0x01,                   /* TrackNumber 1 */
    0x83, 0x81, 0x01,                   /* TrackType 1 (video) */
    0x86, 0x8F, 'V', '_', 'M', 'P', 'E', 'G', '4', '/', 'I', 'S', 'O', '/', 'A', 'V', 'C',
                                        /* CodecID "V_MPEG4/ISO/AVC" */
    0x63, 0xA2, 0x83, 0x01, 0x64, 0x00, /* CodecPrivate 01 64 00 */
    0xE0, 0x88,                         /* 115: Video, size 8 */
    0xB0, 0x82, 0x01, 0x40,             /* PixelWidth 320 */
    0xBA, 0x82, 0x00, 0xF0,             /* PixelHeight 240 */
    /* 125: TrackEntry, size 24 */
    0xAE, 0x98,
    0xD7, 0x81, 0x02,                   /* TrackNumber 2 */
    0x83, 0x81, 0x02,                   /* TrackType 2 (audio) */
    0x86, 0x85, 'A', '_', 'A', 'A', 'C',/* CodecID "A_AAC" */
    0xE1, 0x89,                         /* 140: Audio, size 9 */
    0xB5, 0x84, 0x47, 0x3B, 0x80, 0x00, /* SamplingFrequency 48000.0f */
    0x9F, 0x81, 0x02,                   /* Channels 2 */
    /* 151: Tags, size 19, ends at 175 */
    0x12, 0x54, 0xC3, 0x67, 0x93,
    0x73, 0x73, 0x90,                     /* 156: Tag, size 16 */
    0x67, 0xC8, 0x8D,                     /* 159: SimpleTag, size 13 */
    0x45, 0xA3, 0x84, 'N', 'A', 'M', 'E', /* TagName "NAME" */
    0x44, 0x87, 0x83, 'v', 'a', 'l',      /* TagString "val" */
    /* 175: Cluster, size unknown (8-byte vint); data at 187 */
    0x1F, 0x43, 0xB6, 0x75, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xE7, 0x81, 0x64,                     /* 187: Timecode 100 */
    /* 190: SimpleBlock, size 7: track 1, +0, key, payload aa bb cc at 196 */
    0xA3, 0x87, 0x81, 0x00, 0x00, 0x80, 0xAA, 0xBB, 0xCC,
    /* 199: SimpleBlock, size 6: track 2, +10, invisible|discardable, payload dd ee at 205 */
    0xA3, 0x86, 0x82, 0x00, 0x0A, 0x09, 0xDD, 0xEE,
    /* 207: BlockGroup, size 13 */
    0xA0, 0x8D,
    0xA1, 0x85, 0x81, 0xFF, 0xF6, 0x00, 0x11, /* 209: Block: track 1, -10, flags 0, payload 11 */
    0x9B, 0x81, 0x21,                         /* BlockDuration 33 */
    0xFB, 0x81, 0xF6,                         /* ReferenceBlock -10: not a key frame */
    /* 222: BlockGroup, size 7 */
    0xA0, 0x87,
    0xA1, 0x85, 0x81, 0x00, 0x21, 0x00, 0x22, /* 224: Block: track 1, +33, no reference: key */
    0xEC, 0x82, 0x00, 0x00,                   /* 231: Void, size 2 */
    0xBF, 0x84, 0x01, 0x02, 0x03, 0x04,       /* 235: CRC-32, size 4 */
    /* 241: Cluster, size unknown (1-byte vint); it ends the first one. Data at 246 */
    0x1F, 0x43, 0xB6, 0x75, 0xFF,
    0xE7, 0x82, 0x01, 0x2C,                   /* 246: Timecode 300 */
    /* 250: SimpleBlock, size 13, Xiph lacing: track 2, +0, key|Xiph, 3 frames, sizes 2, 1
     * (last = rest = 3); frames at 259, 261, 262 */
    0xA3, 0x8D, 0x82, 0x00, 0x00, 0x82, 0x02, 0x02, 0x01, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
    /* 265: SimpleBlock, size 13, EBML lacing: track 2, +20, key|EBML, 3 frames, first size 3
     * (0x83), second 3 + (0x3D - 63) = 1 (0xBD), last = rest = 2; frames at 274, 277, 278 */
    0xA3, 0x8D, 0x82, 0x00, 0x14, 0x86, 0x02, 0x83, 0xBD, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
    /* 280: SimpleBlock, size 9, fixed lacing: track 2, +40, key|fixed, 2 frames of 2 bytes at
     * 287, 289 */
    0xA3, 0x89, 0x82, 0x00, 0x28, 0x84, 0x01, 0x20, 0x21, 0x22, 0x23,
    /* 291: Tags after the cluster (ends it), size 15 */
    0x12, 0x54, 0xC3, 0x67, 0x8F,
    0x73, 0x73, 0x8C,                         /* 296: Tag, size 12 */
    0x67, 0xC8, 0x89,                         /* 299: SimpleTag, size 9 */
    0x45, 0xA3, 0x81, 'K',                    /* TagName "K" */
    0x44, 0x87, 0x82, 'v', '2',               /* TagString "v2" */
    /* 311: a new EBML header at level 0 ends the unknown-size Segment */
    EBML_HEADER_BYTES,
    /* 351: Segment of known size 15, ends at 371 */
    0x18, 0x53, 0x80, 0x67, 0x8F,
    0x1F, 0x43, 0xB6, 0x75, 0x8A,             /* 356: Cluster, size 10 */
    0xE7, 0x81, 0x00,                         /* Timecode 0 */
    0xA3, 0x85, 0x81, 0x00, 0x00, 0x80, 0x99, /* 364: SimpleBlock track 1, key, payload 99 */
};
/* clang-format on */

static const char *const stream_lines[] = {
    "SKIPPED 4286 5+1 depth=1",
    "EBML_HEADER 0-40 matroska v4/2",
    "END 1A45DFA3 0-40 depth=0",
    "SEGMENT_START 40 data=52 size=unknown",
    "INFO 52-79 scale=1000000 mux=csmx app=csapp",
    "END 1549A966 52-79 depth=1",
    "END E0 115-125 depth=3",
    "TRACK 84 #0 n=1 type=1 codec=V_MPEG4/ISO/AVC (1) priv=016400 320x240 sr=8000 ch=1",
    "END AE 84-125 depth=2",
    "END E1 140-151 depth=3",
    "TRACK 125 #1 n=2 type=2 codec=A_AAC (3) priv= 0x0 sr=48000 ch=2",
    "END AE 125-151 depth=2",
    "END 1654AE6B 79-151 depth=1",
    "TAG 159 NAME=val tags=151 tag=156#0 st=0 nest=0",
    "END 67C8 159-175 depth=3",
    "END 7373 156-175 depth=2",
    "END 1254C367 151-175 depth=1",
    "CLUSTER_START 175 tc=100 ns=100000000",
    "BLOCK A3 190 track=1 tc=100 ns=100000000 key=1/1 inv=0 disc=0 lacing=0 frames=1 "
    "payload=196+3",
    "FRAME 0/1 track=1 tc=100 at=196 size=3 aabbcc",
    "BLOCK_END A3 190 key=1/1 dur=0:0 refs=0",
    "BLOCK A3 199 track=2 tc=110 ns=110000000 key=0/1 inv=1 disc=1 lacing=0 frames=1 "
    "payload=205+2",
    "FRAME 0/1 track=2 tc=110 at=205 size=2 ddee",
    "BLOCK_END A3 199 key=0/1 dur=0:0 refs=0",
    "BLOCK A1 209 track=1 tc=90 ns=90000000 key=0/0 inv=0 disc=0 lacing=0 frames=1 "
    "payload=215+1",
    "FRAME 0/1 track=1 tc=90 at=215 size=1 11",
    "BLOCK_END A0 207 key=0/1 dur=1:33 refs=1",
    "END A0 207-222 depth=2",
    "BLOCK A1 224 track=1 tc=133 ns=133000000 key=0/0 inv=0 disc=0 lacing=0 frames=1 "
    "payload=230+1",
    "FRAME 0/1 track=1 tc=133 at=230 size=1 22",
    "BLOCK_END A0 222 key=1/1 dur=0:0 refs=0",
    "END A0 222-231 depth=2",
    "SKIPPED EC 231+2 depth=2",
    "SKIPPED BF 235+4 depth=2",
    "END 1F43B675 175-241 depth=1",
    "CLUSTER_START 241 tc=300 ns=300000000",
    "BLOCK A3 250 track=2 tc=300 ns=300000000 key=1/1 inv=0 disc=0 lacing=1 frames=3 "
    "payload=259+6",
    "FRAME 0/3 track=2 tc=300 at=259 size=2 0102",
    "FRAME 1/3 track=2 tc=300 at=261 size=1 03",
    "FRAME 2/3 track=2 tc=300 at=262 size=3 040506",
    "BLOCK_END A3 250 key=1/1 dur=0:0 refs=0",
    "BLOCK A3 265 track=2 tc=320 ns=320000000 key=1/1 inv=0 disc=0 lacing=3 frames=3 "
    "payload=274+6",
    "FRAME 0/3 track=2 tc=320 at=274 size=3 101112",
    "FRAME 1/3 track=2 tc=320 at=277 size=1 13",
    "FRAME 2/3 track=2 tc=320 at=278 size=2 1415",
    "BLOCK_END A3 265 key=1/1 dur=0:0 refs=0",
    "BLOCK A3 280 track=2 tc=340 ns=340000000 key=1/1 inv=0 disc=0 lacing=2 frames=2 "
    "payload=287+4",
    "FRAME 0/2 track=2 tc=340 at=287 size=2 2021",
    "FRAME 1/2 track=2 tc=340 at=289 size=2 2223",
    "BLOCK_END A3 280 key=1/1 dur=0:0 refs=0",
    "END 1F43B675 241-291 depth=1",
    "TAG 299 K=v2 tags=291 tag=296#0 st=0 nest=0",
    "END 67C8 299-311 depth=3",
    "END 7373 296-311 depth=2",
    "END 1254C367 291-311 depth=1",
    "END 18538067 40-311 depth=0",
    "SKIPPED 4286 316+1 depth=1",
    "EBML_HEADER 311-351 matroska v4/2",
    "END 1A45DFA3 311-351 depth=0",
    "SEGMENT_START 351 data=356 size=15",
    "CLUSTER_START 356 tc=0 ns=0",
    "BLOCK A3 364 track=1 tc=0 ns=0 key=1/1 inv=0 disc=0 lacing=0 frames=1 payload=370+1",
    "FRAME 0/1 track=1 tc=0 at=370 size=1 99",
    "BLOCK_END A3 364 key=1/1 dur=0:0 refs=0",
    "END 1F43B675 356-371 depth=1",
    "END 18538067 351-371 depth=0",
};

static rec g_rec; /* big: kept off the stack */
static rec g_rec2;

static void dump_lines(const rec *r)
{
    for (size_t i = 0; i < r->n_lines; i++) {
        fprintf(stderr, "    \"%s\",\n", r->lines[i]);
    }
}

static void assert_lines(const rec *r, const char *const *want, size_t n)
{
    if (r->n_lines != n) {
        dump_lines(r);
    }
    assert_int_equal(r->n_lines, n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(r->lines[i], want[i]) != 0) {
            fprintf(stderr, "line %zu:\n  got  %s\n  want %s\n", i, r->lines[i], want[i]);
        }
        assert_string_equal(r->lines[i], want[i]);
    }
}

/* Every event kind, whole stream in one chunk. The comments in `stream` give the offsets. */
static void test_stream_events(void **state)
{
    (void)state;
    rec_init(&g_rec, NULL, 0, true);
    assert_int_equal(rec_run(&g_rec, NULL, stream, sizeof(stream), 0), CS_OK);
    assert_lines(&g_rec, stream_lines, sizeof(stream_lines) / sizeof(stream_lines[0]));
    assert_int_equal(g_rec.n_data_events, 0); /* each frame came whole with its FRAME event */
}

/* Every chunk size from 1 byte to the whole stream gives the same events. */
static void test_every_chunking(void **state)
{
    (void)state;
    for (size_t chunk = 1; chunk <= sizeof(stream); chunk++) {
        rec_init(&g_rec, NULL, 0, true);
        assert_int_equal(rec_run(&g_rec, NULL, stream, sizeof(stream), chunk), CS_OK);
        assert_lines(&g_rec, stream_lines, sizeof(stream_lines) / sizeof(stream_lines[0]));
        if (chunk == 1) {
            assert_true(g_rec.n_data_events > 0); /* frames arrived in pieces */
        }
    }
}

/* frame_data = false: the same frames with offsets and sizes, no data, no FRAME_DATA. */
static void test_no_frame_data(void **state)
{
    cs_mkv_reader_config cfg;
    (void)state;

    cs_mkv_reader_config_init(&cfg);
    cfg.frame_data = false;
    for (size_t chunk = 1; chunk <= 8; chunk++) {
        rec_init(&g_rec, NULL, 0, true);
        assert_int_equal(rec_run(&g_rec, &cfg, stream, sizeof(stream), chunk), CS_OK);
        assert_int_equal(g_rec.n_lines, sizeof(stream_lines) / sizeof(stream_lines[0]));
        assert_int_equal(g_rec.n_data_events, 0);
        for (size_t i = 0; i < g_rec.n_lines; i++) {
            /* frame lines lose their bytes; everything else is the same */
            if (strncmp(stream_lines[i], "FRAME ", 6) == 0) {
                assert_memory_equal(g_rec.lines[i], stream_lines[i], strlen(g_rec.lines[i]) - 1);
            } else {
                assert_string_equal(g_rec.lines[i], stream_lines[i]);
            }
        }
    }
}

/* The pull API: an element that ends exactly at a chunk's end is reported on the next call
 * (with nothing consumed), and consumed counts add up. */
static void test_pull_api(void **state)
{
    static cs_mkv_reader rd;
    cs_mkv_event ev;
    size_t used = 99;
    (void)state;

    assert_int_equal(cs_mkv_reader_init(&rd, NULL), CS_OK);
    /* the EBML header alone: its fields are collected, the header event comes at its end */
    assert_int_equal(cs_mkv_reader_next(&rd, stream, 9, &used, &ev), CS_OK);
    assert_int_equal(ev.type, CS_MKV_EV_SKIPPED); /* EBMLVersion */
    assert_int_equal(ev.offset, 5);
    assert_int_equal(used, 8); /* through EBMLVersion's header */
    assert_int_equal(cs_mkv_reader_next(&rd, stream + 8, 1, &used, &ev), CS_OK);
    assert_int_equal(ev.type, CS_MKV_EV_NONE);
    assert_int_equal(used, 1);
    assert_int_equal(cs_mkv_reader_next(&rd, stream + 9, 31, &used, &ev), CS_OK);
    assert_int_equal(ev.type, CS_MKV_EV_EBML_HEADER);
    assert_int_equal(used, 31);
    assert_int_equal(ev.offset, 0);
    assert_int_equal(ev.end, 40);
    assert_int_equal(ev.u.ebml.doctype_len, 8);
    assert_memory_equal(ev.u.ebml.doctype, "matroska", 8);
    assert_int_equal(cs_mkv_reader_next(&rd, NULL, 0, &used, &ev), CS_OK);
    assert_int_equal(ev.type, CS_MKV_EV_ELEMENT_END);
    assert_int_equal(used, 0);
    assert_int_equal(cs_mkv_reader_next(&rd, NULL, 0, &used, &ev), CS_OK);
    assert_int_equal(ev.type, CS_MKV_EV_NONE);
    assert_int_equal(cs_mkv_reader_offset(&rd), 40);
    /* the stream may end between top-level elements */
    assert_int_equal(cs_mkv_reader_end(&rd, &ev), CS_OK);
    assert_int_equal(ev.type, CS_MKV_EV_NONE);
    assert_string_equal(cs_mkv_reader_error(&rd, NULL), "");

    /* bad arguments */
    assert_int_equal(cs_mkv_reader_next(NULL, stream, 1, &used, &ev), CS_E_INVAL);
    assert_int_equal(cs_mkv_reader_next(&rd, NULL, 1, &used, &ev), CS_E_INVAL);
    assert_int_equal(cs_mkv_reader_next(&rd, stream, 1, NULL, &ev), CS_E_INVAL);
    assert_int_equal(cs_mkv_reader_end(&rd, NULL), CS_E_INVAL);
    assert_int_equal(cs_mkv_reader_init(NULL, NULL), CS_E_INVAL);
}

/* A frame split across chunks: FRAME carries the first piece, FRAME_DATA the rest, with
 * positions inside the frame and pointers into the caller's chunks. */
static void test_frame_pieces(void **state)
{
    static cs_mkv_reader rd;
    cs_mkv_event ev;
    size_t used, off = 0;
    (void)state;

    assert_int_equal(cs_mkv_reader_init(&rd, NULL), CS_OK);
    /* run to the end of the first SimpleBlock's header (196) */
    do {
        assert_int_equal(cs_mkv_reader_next(&rd, stream + off, 196 - off, &used, &ev), CS_OK);
        off += used;
    } while (ev.type != CS_MKV_EV_BLOCK);
    assert_int_equal(off, 196);
    assert_int_equal(cs_mkv_reader_next(&rd, NULL, 0, &used, &ev), CS_OK);
    assert_int_equal(ev.type, CS_MKV_EV_FRAME); /* no bytes yet: an empty first piece */
    assert_int_equal(ev.u.block.frame_offset, 196);
    assert_int_equal(ev.u.block.frame_size, 3);
    assert_null(ev.u.block.data);
    assert_int_equal(ev.u.block.data_len, 0);
    assert_int_equal(cs_mkv_reader_next(&rd, stream + 196, 2, &used, &ev), CS_OK);
    assert_int_equal(ev.type, CS_MKV_EV_FRAME_DATA);
    assert_ptr_equal(ev.u.block.data, stream + 196);
    assert_int_equal(ev.u.block.data_len, 2);
    assert_int_equal(ev.u.block.data_pos, 0);
    assert_int_equal(used, 2);
    assert_int_equal(cs_mkv_reader_next(&rd, stream + 198, 5, &used, &ev), CS_OK);
    assert_int_equal(ev.type, CS_MKV_EV_FRAME_DATA);
    assert_ptr_equal(ev.u.block.data, stream + 198);
    assert_int_equal(ev.u.block.data_len, 1);
    assert_int_equal(ev.u.block.data_pos, 2);
    assert_int_equal(used, 1); /* stops at the event; the rest is for the next call */
    assert_int_equal(cs_mkv_reader_next(&rd, stream + 199, 4, &used, &ev), CS_OK);
    assert_int_equal(ev.type, CS_MKV_EV_BLOCK_END);
    assert_int_equal(used, 0);
}

/* Nested SimpleTags and binary values: the parent is reported before its children. */
static void test_nested_tags_ok(void **state)
{
    static const uint8_t v[] = {
        0x18, 0x53, 0x80, 0x67, 0xFF, /* 0: Segment, unknown size (1-byte vint) */
        0x12, 0x54, 0xC3, 0x67, 0xA1, /* 5: Tags, size 33, ends at 43 */
        0x73, 0x73, 0x9E,             /* 10: Tag, size 30, ends at 43 */
        0x63, 0xC0, 0x80,             /* 13: Targets, empty */
        0x67, 0xC8, 0x98,             /* 16: SimpleTag, size 24, ends at 43 */
        0x45, 0xA3, 0x81, 'A',        /* 19: TagName "A" */
        0x44, 0x87, 0x82, 'x',  0x00, /* 23: TagString "x" padded with a NUL */
        0x67, 0xC8, 0x89,             /* 28: nested SimpleTag, size 9, ends at 40 */
        0x45, 0xA3, 0x81, 'B',        /* 31: TagName "B" */
        0x44, 0x85, 0x82, 0x31, 0x32, /* 35: TagBinary "12" */
        0xEC, 0x81, 0x00,             /* 40: Void, size 1, in the outer SimpleTag */
        0x1F, 0x43, 0xB6, 0x75, 0x83, /* 43: Cluster, size 3 */
        0xE7, 0x81, 0x05,             /* 48: Timecode 5 */
    };
    static const char *const want[] = {
        "SEGMENT_START 0 data=5 size=unknown",
        "SKIPPED 63C0 13+0 depth=3",
        "TAG 16 A=x tags=5 tag=10#0 st=0 nest=0",
        "TAG 28 B=12 (binary) tags=5 tag=10#0 st=1 nest=1",
        "END 67C8 28-40 depth=4",
        "SKIPPED EC 40+1 depth=4",
        "END 67C8 16-43 depth=3",
        "END 7373 10-43 depth=2",
        "END 1254C367 5-43 depth=1",
        "CLUSTER_START 43 tc=5 ns=5000000",
        "END 1F43B675 43-51 depth=1",
        "END 18538067 0-51 depth=0",
    };
    (void)state;
    for (size_t chunk = 0; chunk <= sizeof(v); chunk++) {
        rec_init(&g_rec, NULL, 0, true);
        assert_int_equal(rec_run(&g_rec, NULL, v, sizeof(v), chunk), CS_OK);
        assert_lines(&g_rec, want, sizeof(want) / sizeof(want[0]));
    }
}

/* Unknown-size Segment and Cluster: each ends at the right element, and at the end of the
 * stream when nothing ends them. */
static void test_unknown_size_end_of_stream(void **state)
{
    static const uint8_t v[] = {
        0x18, 0x53, 0x80, 0x67, 0xFF,       /* 0: Segment, unknown size */
        0x1F, 0x43, 0xB6, 0x75, 0xFF,       /* 5: Cluster, unknown size */
        0xE7, 0x80,                         /* 10: Timecode, empty = 0 */
        0xA3, 0x84, 0x81, 0x00, 0x00, 0x80, /* 12: SimpleBlock, key, empty payload */
        0x1F, 0x43, 0xB6, 0x75, 0xFF,       /* 18: Cluster, unknown size: ends the first */
        0xE7, 0x81, 0x01,                   /* 23: Timecode 1 */
    };
    static const char *const want[] = {
        "SEGMENT_START 0 data=5 size=unknown",
        "CLUSTER_START 5 tc=0 ns=0",
        "BLOCK A3 12 track=1 tc=0 ns=0 key=1/1 inv=0 disc=0 lacing=0 frames=1 payload=18+0",
        "FRAME 0/1 track=1 tc=0 at=18 size=0 ",
        "BLOCK_END A3 12 key=1/1 dur=0:0 refs=0",
        "END 1F43B675 5-18 depth=1",
        "CLUSTER_START 18 tc=1 ns=1000000",
        "END 1F43B675 18-26 depth=1", /* by the end of the stream */
        "END 18538067 0-26 depth=0",
    };
    (void)state;
    for (size_t chunk = 0; chunk <= sizeof(v); chunk++) {
        rec_init(&g_rec, NULL, 0, true);
        assert_int_equal(rec_run(&g_rec, NULL, v, sizeof(v), chunk), CS_OK);
        assert_lines(&g_rec, want, sizeof(want) / sizeof(want[0]));
    }
}

/* An unknown-size Cluster inside a known-size Segment ends with the Segment. */
static void test_unknown_cluster_in_known_segment(void **state)
{
    static const uint8_t v[] = {
        0x18, 0x53, 0x80, 0x67, 0x88, /* 0: Segment, size 8, ends at 13 */
        0x1F, 0x43, 0xB6, 0x75, 0xFF, /* 5: Cluster, unknown size */
        0xE7, 0x81, 0x07,             /* 10: Timecode 7 */
        0x18, 0x53, 0x80, 0x67, 0x80, /* 13: Segment, empty */
    };
    static const char *const want[] = {
        "SEGMENT_START 0 data=5 size=8",   "CLUSTER_START 5 tc=7 ns=7000000",
        "END 1F43B675 5-13 depth=1",       "END 18538067 0-13 depth=0",
        "SEGMENT_START 13 data=18 size=0", "END 18538067 13-18 depth=0",
    };
    (void)state;
    for (size_t chunk = 0; chunk <= sizeof(v); chunk++) {
        rec_init(&g_rec, NULL, 0, true);
        assert_int_equal(rec_run(&g_rec, NULL, v, sizeof(v), chunk), CS_OK);
        assert_lines(&g_rec, want, sizeof(want) / sizeof(want[0]));
    }
}

/* A timecode scale other than 1 ms: ticks and ns both reported. */
static void test_timecode_scale(void **state)
{
    static const uint8_t v[] = {
        0x18, 0x53, 0x80, 0x67, 0xFF,             /* 0: Segment, unknown size */
        0x15, 0x49, 0xA9, 0x66, 0x87,             /* 5: Info, size 7 */
        0x2A, 0xD7, 0xB1, 0x83, 0x0F, 0x42, 0x40, /* TimecodeScale ... */
        0x1F, 0x43, 0xB6, 0x75, 0xFF,             /* 17: Cluster, unknown size */
        0xE7, 0x81, 0x02,                         /* Timecode 2 */
        0xA3, 0x84, 0x81, 0xFF, 0xFF, 0x00,       /* 25: SimpleBlock, -1, not key */
    };
    uint8_t w[sizeof(v)];
    (void)state;
    memcpy(w, v, sizeof(v));
    w[14] = 0x00; /* TimecodeScale 0x004240 = 16960 ns */
    rec_init(&g_rec, NULL, 0, true);
    assert_int_equal(rec_run(&g_rec, NULL, w, sizeof(w), 0), CS_OK);
    assert_string_equal(g_rec.lines[1], "INFO 5-17 scale=16960 mux= app=");
    assert_string_equal(g_rec.lines[2], "END 1549A966 5-17 depth=1");
    assert_string_equal(g_rec.lines[3], "CLUSTER_START 17 tc=2 ns=33920");
    assert_string_equal(g_rec.lines[4], "BLOCK A3 25 track=1 tc=1 ns=16960 key=0/1 inv=0 disc=0 "
                                        "lacing=0 frames=1 payload=31+0");
}

/* ---------------------------------------------------------------------------------------------- */
/* Malformed input and limits: the same status and offset for every chunking.                    */
/* ---------------------------------------------------------------------------------------------- */

struct bad_case {
    const char *name;
    uint8_t bytes[48];
    size_t len;
    cs_status status;
    uint64_t offset;
    const char *msg_part;
    int config; /* 0 defaults, 1 max_depth 2, 2 max_tracks 1, 3 max_string 4,
                   4 max_element_size 4 */
};

#define SEG_UNK 0x18, 0x53, 0x80, 0x67, 0xFF /* Segment, unknown size: 5 bytes */
#define CLU_UNK 0x1F, 0x43, 0xB6, 0x75, 0xFF /* Cluster, unknown size: 5 bytes */
#define TC0 0xE7, 0x81, 0x00                 /* Timecode 0: 3 bytes */

static const struct bad_case bad_cases[] = {
    {"invalid ID 0x00", {0x00}, 1, CS_E_MALFORMED, 0, "first byte 0x00", 0},
    {"ID longer than 4 bytes",
     {SEG_UNK, 0x08, 0x01, 0x02, 0x03, 0x04},
     10,
     CS_E_MALFORMED,
     5,
     "first byte 0x08",
     0},
    {"reserved ID 0xFF", {0xFF, 0x80}, 2, CS_E_MALFORMED, 0, "reserved element ID 0xFF", 0},
    {"invalid size vint 0x00",
     {0x1A, 0x45, 0xDF, 0xA3, 0x00},
     5,
     CS_E_MALFORMED,
     4,
     "first byte 0x00",
     0},
    {"truncated size vint",
     {0x1A, 0x45, 0xDF, 0xA3, 0x40},
     5,
     CS_E_MALFORMED,
     5,
     "the stream ends at 5 inside the element header at 0",
     0},
    {"truncated ID", {SEG_UNK, 0x1F, 0x43}, 7, CS_E_MALFORMED, 7, "the stream ends at 7", 0},
    {"truncated known-size master",
     {0x1A, 0x45, 0xDF, 0xA3, 0x88, 0x42, 0x86, 0x81, 0x01},
     9,
     CS_E_MALFORMED,
     9,
     "ends at 13",
     0},
    {"truncated leaf",
     {0x1A, 0x45, 0xDF, 0xA3, 0x88, 0x42, 0x82, 0x85, 'm', 'k'},
     10,
     CS_E_MALFORMED,
     10,
     "inside element 0x4282 (at 5)",
     0},
    {"size larger than parent",
     {0x1A, 0x45, 0xDF, 0xA3, 0x84, 0x42, 0x82, 0x88, 'm', 'a', 't', 'r', 'o', 's', 'k', 'a'},
     16,
     CS_E_MALFORMED,
     5,
     "size 8 exceeds its parent (ends at 9)",
     0},
    {"header crosses parent end",
     {0x1A, 0x45, 0xDF, 0xA3, 0x82, 0x42, 0x82, 0x80},
     8,
     CS_E_MALFORMED,
     5,
     "header crosses",
     0},
    {"depth limit",
     {SEG_UNK, CLU_UNK, TC0, 0xA0, 0x80},
     15,
     CS_E_LIMIT,
     13,
     "nesting deeper than 2",
     1},
    {"unknown size on a non-master",
     {SEG_UNK, 0xEC, 0xFF},
     7,
     CS_E_MALFORMED,
     5,
     "unknown size is allowed only",
     0},
    {"unknown size on Info",
     {SEG_UNK, 0x15, 0x49, 0xA9, 0x66, 0xFF},
     10,
     CS_E_MALFORMED,
     5,
     "unknown size is allowed only",
     0},
    {"integer of 9 bytes",
     {SEG_UNK, CLU_UNK, 0xE7, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9},
     21,
     CS_E_MALFORMED,
     10,
     "has 9 bytes",
     0},
    {"float of 3 bytes",
     {SEG_UNK, 0x15, 0x49, 0xA9, 0x66, 0x86, 0x44, 0x89, 0x83, 1, 2, 3},
     16,
     CS_E_MALFORMED,
     10,
     "float element 0x4489",
     0},
    {"block before Timecode",
     {SEG_UNK, CLU_UNK, 0xA3, 0x84, 0x81, 0x00, 0x00, 0x80},
     16,
     CS_E_MALFORMED,
     10,
     "before the Cluster's Timecode",
     0},
    {"cluster without Timecode",
     {SEG_UNK, 0x1F, 0x43, 0xB6, 0x75, 0x80},
     10,
     CS_E_MALFORMED,
     5,
     "has no Timecode",
     0},
    {"block track vint 0x00",
     {SEG_UNK, CLU_UNK, TC0, 0xA3, 0x84, 0x00, 0x00, 0x00, 0x80},
     19,
     CS_E_MALFORMED,
     15,
     "invalid track number vint",
     0},
    {"block header longer than the block",
     {SEG_UNK, CLU_UNK, TC0, 0xA3, 0x82, 0x81, 0x00},
     17,
     CS_E_MALFORMED,
     13,
     "header longer than the element",
     0},
    {"Xiph lace sizes exceed the block",
     {SEG_UNK, CLU_UNK, TC0, 0xA3, 0x87, 0x81, 0x00, 0x00, 0x02, 0x01, 0x05, 0x00},
     22,
     CS_E_MALFORMED,
     13,
     "lace size 5 exceeds the block",
     0},
    {"EBML lace sum exceeds the block",
     {SEG_UNK, CLU_UNK, TC0, 0xA3, 0x88, 0x81, 0x00, 0x00, 0x06, 0x02, 0x81, 0xBF, 0x00},
     23,
     CS_E_MALFORMED,
     13,
     "lace sizes (2) exceed the 1 bytes",
     0},
    {"EBML lace size vint 0x00",
     {SEG_UNK, CLU_UNK, TC0, 0xA3, 0x87, 0x81, 0x00, 0x00, 0x06, 0x01, 0x00, 0x00},
     22,
     CS_E_MALFORMED,
     20,
     "invalid EBML lace size",
     0},
    {"fixed lacing does not divide",
     {SEG_UNK, CLU_UNK, TC0, 0xA3, 0x88, 0x81, 0x00, 0x00, 0x04, 0x01, 0xA, 0xB, 0xC},
     23,
     CS_E_MALFORMED,
     13,
     "do not split into 2 equal frames",
     0},
    {"BlockGroup without Block",
     {SEG_UNK, CLU_UNK, TC0, 0xA0, 0x83, 0x9B, 0x81, 0x01},
     18,
     CS_E_MALFORMED,
     13,
     "has no Block",
     0},
    {"TrackEntry without TrackNumber",
     {SEG_UNK, 0x16, 0x54, 0xAE, 0x6B, 0x85, 0xAE, 0x83, 0x83, 0x81, 0x01},
     15,
     CS_E_MALFORMED,
     10,
     "has no TrackNumber",
     0},
    {"too many tracks",
     {SEG_UNK, 0x16, 0x54, 0xAE, 0x6B, 0x8A, 0xAE, 0x83, 0xD7, 0x81, 0x01, 0xAE, 0x83, 0xD7, 0x81,
      0x02},
     20,
     CS_E_LIMIT,
     15,
     "more than 1 tracks",
     2},
    {"string over the limit",
     {SEG_UNK, 0x15, 0x49, 0xA9, 0x66, 0x89, 0x4D, 0x80, 0x86, 'a', 'b', 'c', 'd', 'e', 'f'},
     19,
     CS_E_LIMIT,
     10,
     "6 bytes exceed the limit of 4",
     3},
    {"element over max_element_size",
     {SEG_UNK, 0xEC, 0x88, 0, 0, 0, 0, 0, 0, 0, 0},
     15,
     CS_E_LIMIT,
     5,
     "exceeds max_element_size 4",
     4},
    {"TimecodeScale 0",
     {SEG_UNK, 0x15, 0x49, 0xA9, 0x66, 0x84, 0x2A, 0xD7, 0xB1, 0x80},
     14,
     CS_E_MALFORMED,
     10,
     "TimecodeScale 0",
     0},
    {"EBMLMaxSizeLength 9",
     {0x1A, 0x45, 0xDF, 0xA3, 0x84, 0x42, 0xF3, 0x81, 0x09},
     9,
     CS_E_UNSUPPORTED,
     5,
     "EBMLMaxSizeLength 9",
     0},
    {"known-size Segment truncated",
     {0x18, 0x53, 0x80, 0x67, 0x85, 0xEC, 0x80},
     7,
     CS_E_MALFORMED,
     7,
     "inside element 0x18538067",
     0},
};

static void bad_config(int which, cs_mkv_reader_config *cfg)
{
    cs_mkv_reader_config_init(cfg);
    if (which == 1) {
        cfg->max_depth = 2;
    } else if (which == 2) {
        cfg->max_tracks = 1;
    } else if (which == 3) {
        cfg->max_string = 4;
    } else if (which == 4) {
        cfg->max_element_size = 4;
    }
}

static void test_malformed(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        cs_mkv_reader_config cfg;
        bad_config(c->config, &cfg);
        for (size_t chunk = 0; chunk <= c->len; chunk++) {
            rec_init(&g_rec, NULL, 0, true);
            cs_status st = rec_run(&g_rec, &cfg, c->bytes, c->len, chunk);
            if (st != c->status || g_rec.error_offset != c->offset ||
                strstr(g_rec.error, c->msg_part) == NULL) {
                fprintf(stderr, "case '%s' chunk %zu: got %s at %llu: %s\n", c->name, chunk,
                        cs_status_str(st), (unsigned long long)g_rec.error_offset, g_rec.error);
            }
            assert_int_equal(st, c->status);
            assert_int_equal(g_rec.error_offset, c->offset);
            assert_non_null(strstr(g_rec.error, c->msg_part));
        }
    }
}

/* After an error every call returns it; reset clears it. */
static void test_sticky_error_and_reset(void **state)
{
    static cs_mkv_reader rd;
    static const uint8_t bad[] = {0x00};
    cs_mkv_event ev;
    size_t used;
    uint64_t at = 99;
    (void)state;

    assert_int_equal(cs_mkv_reader_init(&rd, NULL), CS_OK);
    assert_int_equal(cs_mkv_reader_next(&rd, bad, 1, &used, &ev), CS_E_MALFORMED);
    assert_int_equal(ev.type, CS_MKV_EV_NONE);
    assert_int_equal(cs_mkv_reader_next(&rd, stream, sizeof(stream), &used, &ev), CS_E_MALFORMED);
    assert_int_equal(used, 0);
    assert_int_equal(cs_mkv_reader_end(&rd, &ev), CS_E_MALFORMED);
    assert_string_not_equal(cs_mkv_reader_error(&rd, &at), "");
    assert_int_equal(at, 0);
    cs_mkv_reader_reset(&rd);
    assert_string_equal(cs_mkv_reader_error(&rd, &at), "");
    assert_int_equal(cs_mkv_reader_next(&rd, stream, sizeof(stream), &used, &ev), CS_OK);
    assert_int_equal(ev.type, CS_MKV_EV_SKIPPED);
}

struct cb_state {
    int events;
    int stop_at;
};

static cs_status count_cb(void *ctx, const cs_mkv_event *ev)
{
    struct cb_state *s = ctx;
    (void)ev;
    s->events++;
    return s->events == s->stop_at ? CS_E_CANCELLED : CS_OK;
}

/* Callback style: the same events; a callback error stops the reader. */
static void test_callback_api(void **state)
{
    static cs_mkv_reader rd;
    struct cb_state s = {0, 0};
    size_t n_events = 0;
    (void)state;

    for (size_t i = 0; i < sizeof(stream_lines) / sizeof(stream_lines[0]); i++) {
        n_events++; /* one event per line: no frame arrives in pieces when fed whole */
    }
    assert_int_equal(cs_mkv_reader_init(&rd, NULL), CS_OK);
    assert_int_equal(cs_mkv_reader_feed(&rd, stream, sizeof(stream), count_cb, &s), CS_OK);
    assert_int_equal(cs_mkv_reader_finish(&rd, count_cb, &s), CS_OK);
    assert_int_equal((size_t)s.events, n_events);

    s.events = 0;
    s.stop_at = 3;
    cs_mkv_reader_reset(&rd);
    assert_int_equal(cs_mkv_reader_feed(&rd, stream, sizeof(stream), count_cb, &s), CS_E_CANCELLED);
    assert_int_equal(s.events, 3);
    assert_int_equal(cs_mkv_reader_feed(&rd, stream, 1, count_cb, &s), CS_E_CANCELLED);
    assert_non_null(strstr(cs_mkv_reader_error(&rd, NULL), "callback"));
    assert_int_equal(cs_mkv_reader_feed(&rd, stream, 1, NULL, NULL), CS_E_INVAL);
}

static void test_config(void **state)
{
    static cs_mkv_reader rd;
    cs_mkv_reader_config cfg;
    (void)state;

    cs_mkv_reader_config_init(&cfg);
    assert_int_equal(cfg.max_depth, CS_MKV_READER_MAX_DEPTH);
    assert_int_equal(cfg.max_tracks, 16);
    assert_int_equal(cfg.max_codec_private, 8192);
    assert_true(cfg.frame_data);
    assert_int_equal(cs_mkv_reader_init(&rd, &cfg), CS_OK);
    cfg.max_depth = CS_MKV_READER_MAX_DEPTH + 1;
    assert_int_equal(cs_mkv_reader_init(&rd, &cfg), CS_E_INVAL);
    cs_mkv_reader_config_init(&cfg);
    cfg.max_codec_private = CS_MKV_READER_SCRATCH + 1;
    assert_int_equal(cs_mkv_reader_init(&rd, &cfg), CS_E_INVAL);
    cs_mkv_reader_config_init(&cfg);
    cfg.max_tracks = 0;
    assert_int_equal(cs_mkv_reader_init(&rd, &cfg), CS_E_INVAL);
    assert_string_equal(cs_mkv_event_type_str(CS_MKV_EV_FRAME), "FRAME");
    assert_string_equal(cs_mkv_event_type_str(CS_MKV_EV_SKIPPED), "SKIPPED");
    assert_string_equal(cs_mkv_event_type_str((cs_mkv_event_type)99), "?");
    /* The reader's footprint is what the header documents (about 19 KiB). */
    assert_true(sizeof(cs_mkv_reader) < 20 * 1024);
}

/* Every prefix of the stream: complete ones pass, cut ones fail cleanly at end (under ASan this
 * also shows the reader never reads past what it was given). */
static void test_every_prefix(void **state)
{
    (void)state;
    for (size_t len = 0; len <= sizeof(stream); len++) {
        rec_init(&g_rec2, NULL, 0, false);
        (void)rec_run(&g_rec2, NULL, stream, len, 3);
        if (len == 0 || len == 40 || len == sizeof(stream)) {
            assert_int_equal(g_rec2.status, CS_OK);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_events),
        cmocka_unit_test(test_every_chunking),
        cmocka_unit_test(test_no_frame_data),
        cmocka_unit_test(test_pull_api),
        cmocka_unit_test(test_frame_pieces),
        cmocka_unit_test(test_nested_tags_ok),
        cmocka_unit_test(test_unknown_size_end_of_stream),
        cmocka_unit_test(test_unknown_cluster_in_known_segment),
        cmocka_unit_test(test_timecode_scale),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_sticky_error_and_reset),
        cmocka_unit_test(test_callback_api),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_every_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
