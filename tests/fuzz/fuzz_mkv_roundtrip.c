/* SPDX-License-Identifier: Apache-2.0 */
/* Round-trip fuzz target of the MKV writer. The input drives the fragmenter: byte 0 picks the
 * tracks (1-3, H.264/H.265/AAC/G.711/PCM), byte 1 the options (relative timecodes, key-frame
 * cutting, maximum cluster duration), then a list of operations: frames (track, timestamp step
 * that may go backwards, flags, size), tags, tag flushes and restarts. Every output is sized with
 * a NULL destination first, then written, sometimes first into a too-small buffer (which must
 * fail without writing past it or changing anything). The sizes must agree, and the whole output
 * is read back with the streaming reader, which must see the same blocks (track, timecode,
 * flags, payload) and tags. Crashes, sanitizer reports and aborts are the findings. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "camstream/mkv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_CAP (1u << 20)
#define MAX_BLOCKS 2048
#define MAX_FRAME 1024

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

/* A little reader of the fuzz input that returns zeros once it runs out. */
typedef struct input {
    const uint8_t *p;
    size_t n;
} input;

static uint8_t in_u8(input *in)
{
    uint8_t b = 0;
    if (in->n > 0) {
        b = *in->p++;
        in->n--;
    }
    return b;
}

static uint16_t in_u16(input *in)
{
    uint16_t hi = in_u8(in);
    return (uint16_t)((hi << 8) | in_u8(in));
}

typedef struct expect_block {
    uint64_t track;
    int64_t timecode;
    uint8_t flags;
    size_t size;
    uint8_t seed;
} expect_block;

typedef struct state {
    uint8_t out[OUT_CAP];
    uint8_t scratch[OUT_CAP];
    size_t len;
    expect_block blocks[MAX_BLOCKS];
    size_t nblocks;
    size_t ntags;
    /* reader side */
    size_t seen_blocks;
    size_t seen_tags;
    size_t frame_got;
    bool frame_open;
    cs_mkv_reader rd;
} state;

static uint8_t payload_byte(uint8_t seed, size_t i)
{
    return (uint8_t)(seed + i * 7u);
}

static const uint8_t fake_avcc[] = {0x01, 0x4D, 0x40, 0x1F, 0xFF, 0xE0, 0x00};
static const uint8_t fake_hvcc[23] = {0x01};
static const uint8_t asc[] = {0x11, 0x90};

static void make_track(cs_mkv_track_info *t, uint64_t number, uint8_t kind, input *in)
{
    memset(t, 0, sizeof(*t));
    t->number = number;
    switch (kind % 6) {
    case 0:
    case 1:
        t->type = CS_MKV_TRACK_VIDEO;
        t->codec = kind % 6 == 0 ? CS_MKV_CODEC_ID_H264 : CS_MKV_CODEC_ID_H265;
        t->codec_private = kind % 6 == 0 ? fake_avcc : fake_hvcc;
        t->codec_private_len = kind % 6 == 0 ? sizeof(fake_avcc) : sizeof(fake_hvcc);
        t->width = in_u16(in); /* 0 sends the writer to the (fake, unparsable) SPS */
        t->height = in_u16(in);
        break;
    case 2:
        t->type = CS_MKV_TRACK_AUDIO;
        t->codec = CS_MKV_CODEC_ID_AAC;
        t->codec_private = asc;
        t->codec_private_len = sizeof(asc);
        t->sampling_frequency = 48000;
        t->channels = in_u8(in) % 3;
        break;
    case 3:
    case 4:
        t->type = CS_MKV_TRACK_AUDIO;
        t->codec = kind % 6 == 3 ? CS_MKV_CODEC_ID_ALAW : CS_MKV_CODEC_ID_MULAW;
        t->sampling_frequency = 8000.0 * (1 + in_u8(in) % 4);
        t->channels = 1 + in_u8(in) % 2;
        break;
    default:
        t->type = CS_MKV_TRACK_AUDIO;
        t->codec = CS_MKV_CODEC_ID_PCM;
        t->sampling_frequency = 16000;
        t->channels = 1;
        t->bit_depth = 8u * (in_u8(in) % 5);
        t->name = "pcm";
        t->name_len = 3;
        break;
    }
}

/* Sizes, then writes, one piece of output; `emit` is run with a NULL destination and must then
 * produce exactly that many bytes. */
typedef cs_status (*emit_fn)(void *ctx, uint8_t *dst, size_t cap, size_t *len);

static cs_status two_pass(state *s, emit_fn emit, void *ctx, uint8_t short_by)
{
    size_t sized = 0, len = 0;
    cs_status st = emit(ctx, NULL, 0, &sized);

    if (st != CS_OK) {
        return st;
    }
    check(sized <= OUT_CAP - s->len);
    if (short_by != 0 && sized > 0) {
        /* A too-small destination: CS_E_NOSPACE, nothing written past it, nothing changed. */
        size_t cap = sized > short_by ? sized - short_by : 0;
        memset(s->scratch, 0xA5, sized);
        check(emit(ctx, s->scratch, cap, &len) == CS_E_NOSPACE);
        check(len == sized);
        for (size_t i = cap; i < sized; i++) {
            check(s->scratch[i] == 0xA5);
        }
    }
    st = emit(ctx, s->out + s->len, OUT_CAP - s->len, &len);
    check(st == CS_OK);
    check(len == sized);
    s->len += len;
    return CS_OK;
}

typedef struct frame_ctx {
    cs_mkv_fragmenter *f;
    cs_mkv_frame fr;
    uint8_t payload[MAX_FRAME];
    bool split; /* header call + caller copy instead of put_frame */
    cs_mkv_frame_layout lo;
} frame_ctx;

static cs_status emit_frame(void *ctx, uint8_t *dst, size_t cap, size_t *len)
{
    frame_ctx *c = ctx;
    cs_status st;

    if (c->split && dst != NULL) {
        /* As a producer does: size the frame, reserve that much, write the header into it and
         * copy the payload behind. Too little room is tried on the header call itself. */
        cs_mkv_frame_layout sized;
        st = cs_mkv_fragmenter_frame_header(c->f, &c->fr, NULL, 0, &sized);
        if (st != CS_OK) {
            return st;
        }
        if (cap < sized.total_len) {
            size_t short_cap = cap < sized.header_len ? cap : sized.header_len - 1;
            check(cs_mkv_fragmenter_frame_header(c->f, &c->fr, dst, short_cap, &c->lo) ==
                  CS_E_NOSPACE);
            check(c->lo.header_len == sized.header_len);
            *len = c->lo.total_len;
            return CS_E_NOSPACE;
        }
        st = cs_mkv_fragmenter_frame_header(c->f, &c->fr, dst, cap, &c->lo);
        check(st == CS_OK && c->lo.header_len == sized.header_len);
        memcpy(dst + c->lo.header_len, c->payload, c->fr.size);
    } else if (c->split) {
        st = cs_mkv_fragmenter_frame_header(c->f, &c->fr, NULL, 0, &c->lo);
    } else {
        st = cs_mkv_fragmenter_put_frame(c->f, &c->fr, c->payload, dst, cap, &c->lo);
    }
    if (st == CS_OK || st == CS_E_NOSPACE) {
        *len = c->lo.total_len;
        check(c->lo.header_len + c->fr.size == c->lo.total_len);
    }
    return st;
}

typedef struct tags_ctx {
    cs_mkv_fragmenter *f;
} tags_ctx;

static cs_status emit_tags(void *ctx, uint8_t *dst, size_t cap, size_t *len)
{
    tags_ctx *c = ctx;
    return cs_mkv_fragmenter_flush_tags(c->f, dst, cap, len);
}

static void frame_piece(state *s, const cs_mkv_event *ev)
{
    const expect_block *b = &s->blocks[s->seen_blocks];

    check(s->frame_open && ev->u.block.data_pos == s->frame_got);
    for (size_t i = 0; i < ev->u.block.data_len; i++) {
        check(ev->u.block.data[i] == payload_byte(b->seed, s->frame_got + i));
    }
    s->frame_got += ev->u.block.data_len;
}

static cs_status on_event(void *ctx, const cs_mkv_event *ev)
{
    state *s = ctx;
    const expect_block *b;

    switch (ev->type) {
    case CS_MKV_EV_FRAME:
        check(s->seen_blocks < s->nblocks);
        b = &s->blocks[s->seen_blocks];
        check(ev->u.block.track == b->track);
        check(ev->u.block.timecode == b->timecode);
        check(ev->u.block.key == ((b->flags & CS_MKV_BLOCK_KEY) != 0));
        check(ev->u.block.invisible == ((b->flags & CS_MKV_BLOCK_INVISIBLE) != 0));
        check(ev->u.block.discardable == ((b->flags & CS_MKV_BLOCK_DISCARDABLE) != 0));
        check(ev->u.block.lacing == CS_MKV_LACING_NONE);
        check(ev->u.block.frame_size == b->size);
        s->frame_open = true;
        s->frame_got = 0;
        frame_piece(s, ev);
        break;
    case CS_MKV_EV_FRAME_DATA:
        frame_piece(s, ev);
        break;
    case CS_MKV_EV_BLOCK_END:
        check(s->frame_open && s->frame_got == s->blocks[s->seen_blocks].size);
        s->frame_open = false;
        s->seen_blocks++;
        break;
    case CS_MKV_EV_TAG:
        s->seen_tags++;
        break;
    default:
        break;
    }
    return CS_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static state s;
    static frame_ctx fc;
    cs_mkv_fragmenter_config cfg;
    static cs_mkv_fragmenter f;
    input in = {data, size};
    uint8_t sel, opt;
    uint64_t ts;
    cs_status st;

    if (size < 2) {
        return 0;
    }
    s.len = 0;
    s.nblocks = 0;
    s.ntags = 0;
    s.seen_blocks = 0;
    s.seen_tags = 0;
    s.frame_open = false;
    sel = in_u8(&in);
    opt = in_u8(&in);
    cs_mkv_fragmenter_config_init(&cfg);
    cfg.track_count = 1u + sel % 3u;
    for (size_t i = 0; i < cfg.track_count; i++) {
        make_track(&cfg.tracks[i], 1 + i + ((sel & 0x80u) ? 124u : 0u), in_u8(&in), &in);
    }
    cfg.relative_timecodes = (opt & 1u) != 0;
    cfg.cluster_on_key_frame = (opt & 2u) == 0;
    cfg.max_cluster_duration_ns = (uint64_t)(opt >> 2) * 100000000ull;
    cfg.key_track = (opt & 0x80u) ? cfg.tracks[0].number : 0;
    memcpy(cfg.segment_uid, data, size < 16 ? size : 16);
    st = cs_mkv_fragmenter_init(&f, &cfg);
    if (st != CS_OK) {
        return 0;
    }
    ts = (uint64_t)in_u16(&in) * 1000000ull * 100u;

    while (in.n > 0 && s.nblocks < MAX_BLOCKS) {
        uint8_t op = in_u8(&in);
        switch (op % 8) {
        default: { /* a frame */
            int16_t step = (int16_t)in_u16(&in);
            uint8_t fl = in_u8(&in);
            fc.f = &f;
            fc.fr.track = cfg.tracks[(op >> 3) % cfg.track_count].number;
            if ((op & 0x40u) != 0 && step < 0) {
                step = (int16_t) - (step + 1);
            }
            /* steps in ms, sometimes sub-ms, sometimes big */
            if ((fl & 0x10u) != 0) {
                ts += (uint64_t)(uint16_t)step * 1000u;
            } else if (step < 0 && (uint64_t)(-(int64_t)step) * 1000000u > ts) {
                ts = 0;
            } else {
                ts = (uint64_t)((int64_t)ts + (int64_t)step * 1000000);
            }
            fc.fr.timestamp_ns = ts;
            fc.fr.flags = (fl & 0x20u) ? fl : (uint8_t)(fl & 0x89u);
            fc.fr.size = in_u16(&in) % MAX_FRAME;
            fc.split = (op & 0x80u) != 0;
            for (size_t i = 0; i < fc.fr.size; i++) {
                fc.payload[i] = payload_byte(op, i);
            }
            st = two_pass(&s, emit_frame, &fc, (uint8_t)(fl >> 6));
            if (st == CS_OK) {
                expect_block *b = &s.blocks[s.nblocks++];
                b->track = fc.fr.track;
                b->timecode = (int64_t)fc.lo.cluster_timecode + fc.lo.block_timecode;
                b->flags = fc.fr.flags;
                b->size = fc.fr.size;
                b->seed = op;
                if (fc.lo.tags_offset != SIZE_MAX) {
                    check(fc.lo.new_cluster && fc.lo.tags_offset < fc.lo.cluster_offset);
                }
                check(fc.lo.block_offset < fc.lo.header_len);
            } else {
                check(st == CS_E_RANGE || st == CS_E_INVAL);
            }
            break;
        }
        case 5: { /* a tag */
            char buf[300];
            size_t nl = in_u8(&in) % 140u, vl = in_u16(&in) % 270u;
            memset(buf, 'a' + op % 26, sizeof(buf));
            st = cs_mkv_fragmenter_add_tag(&f, buf, nl, buf, vl);
            if (st == CS_OK) {
                s.ntags++;
            } else {
                check(st == CS_E_LIMIT || st == CS_E_INVAL);
            }
            break;
        }
        case 6: { /* flush the tags now */
            tags_ctx tc = {&f};
            st = two_pass(&s, emit_tags, &tc, in_u8(&in) & 3u);
            check(st == CS_OK || st == CS_E_STATE);
            break;
        }
        case 7: /* a new segment, e.g. a reconnect */
            cs_mkv_fragmenter_restart(&f);
            break;
        }
    }

    /* Read it all back: the same blocks in the same order, and every tag written. */
    check(cs_mkv_reader_init(&s.rd, NULL) == CS_OK);
    check(cs_mkv_reader_feed(&s.rd, s.out, s.len, on_event, &s) == CS_OK);
    check(cs_mkv_reader_finish(&s.rd, on_event, &s) == CS_OK);
    check(s.seen_blocks == s.nblocks);
    check(s.seen_tags <= s.ntags);
    return 0;
}
