/* SPDX-License-Identifier: Apache-2.0 */
/* Access units of a raw H.264/H.265 Annex-B byte stream (see annexb_au.h). Fuzzed by
 * tests/fuzz/fuzz_annexb_au.c. */
#include "annexb_au.h"

static cs_nal_codec nal_codec(cs_mkv_codec codec)
{
    return codec == CS_MKV_CODEC_ID_H265 ? CS_NAL_CODEC_H265 : CS_NAL_CODEC_H264;
}

static bool is_vcl(cs_mkv_codec codec, unsigned type)
{
    return codec == CS_MKV_CODEC_ID_H265 ? type <= 31 : type >= 1 && type <= 5;
}

static bool starts_access_unit(cs_mkv_codec codec, const cs_nal_unit *n)
{
    unsigned t = n->type;
    if (codec != CS_MKV_CODEC_ID_H265) {
        if (t == 6 || t == 7 || t == 8 || t == 9 || (t >= 14 && t <= 18)) {
            return true;
        }
        /* first_mb_in_slice == 0: ue(v) of 0 is a single 1 bit */
        return t >= 1 && t <= 5 && n->len > 1 && (n->data[1] & 0x80u) != 0;
    }
    if ((t >= 32 && t <= 35) || t == 39 || (t >= 41 && t <= 44) || (t >= 48 && t <= 55)) {
        return true;
    }
    /* first_slice_segment_in_pic_flag, after the 2-byte header */
    return t <= 31 && n->len > 2 && (n->data[2] & 0x80u) != 0;
}

bool cli_au_looks_annexb(const uint8_t *b, size_t len)
{
    size_t i = 0;
    while (i < len && i < 64 && b[i] == 0) {
        i++;
    }
    return i >= 2 && i + 1 < len && b[i] == 1 && (b[i + 1] & 0x80u) == 0;
}

cs_mkv_codec cli_au_sniff_codec(const uint8_t *b, size_t len)
{
    size_t i = 0;
    while (i < len && b[i] == 0) {
        i++;
    }
    if (i + 2 < len) {
        unsigned t = (b[i + 1] >> 1) & 0x3fu;
        if (((t >= 32 && t <= 35) || t == 39 || t == 19 || t == 20) && b[i + 2] == 1) {
            return CS_MKV_CODEC_ID_H265; /* nuh_temporal_id_plus1 = 1 */
        }
    }
    return CS_MKV_CODEC_ID_H264;
}

void cli_au_init(cli_au_reader *r, cs_mkv_codec codec, const uint8_t *buf, size_t len)
{
    r->codec = codec == CS_MKV_CODEC_ID_H265 ? CS_MKV_CODEC_ID_H265 : CS_MKV_CODEC_ID_H264;
    r->buf = buf;
    r->len = len;
    r->pos = 0;
    r->have_pending = false;
    (void)cs_nal_iter_init(&r->it, nal_codec(r->codec), CS_NAL_FORMAT_ANNEXB, 0, buf, len);
}

cs_status cli_au_next(cli_au_reader *r, const uint8_t **data, size_t *size, bool *key)
{
    bool have_pic = false, got;
    cs_nal_unit n;
    size_t begin = r->pos, stop = r->len;
    cs_status st;

    *data = NULL;
    *size = 0;
    *key = false;
    if (r->have_pending) {
        r->have_pending = false;
        have_pic = is_vcl(r->codec, r->pending.type);
        *key = cs_nal_type_is_key(nal_codec(r->codec), r->pending.type);
    }
    for (;;) {
        st = cs_nal_iter_next(&r->it, &n, &got);
        if (st != CS_OK) {
            return st;
        }
        if (!got) {
            break;
        }
        if (have_pic && starts_access_unit(r->codec, &n)) {
            r->pending = n;
            r->have_pending = true;
            stop = n.offset >= 3 ? n.offset - 3 : n.offset; /* its start code */
            break;
        }
        have_pic = have_pic || is_vcl(r->codec, n.type);
        *key = *key || cs_nal_type_is_key(nal_codec(r->codec), n.type);
    }
    if (stop <= begin || !have_pic) {
        *key = false;
        r->pos = r->len;
        return CS_OK; /* the end */
    }
    *data = r->buf + begin;
    *size = stop - begin;
    r->pos = stop;
    return CS_OK;
}
