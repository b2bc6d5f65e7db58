/* SPDX-License-Identifier: Apache-2.0 */
/* NAL unit framing: the iterator over Annex-B and AVCC buffers, key-frame detection, parameter-set
 * lookup, AVCC -> Annex-B, and the Annex-B -> AVCC converter. The converter is one streaming state
 * machine (the one-shot call is init + one push + finish), so split input is byte-identical to
 * whole input by construction: zero bytes are only counted until the next non-zero byte says
 * whether they were payload, trailing zeros or part of a start code, and each kept NAL unit's
 * 4-byte length is reserved in the caller's destination and filled in when the unit ends. */
#include <string.h>

#include "nal_int.h"

enum { ST_BEFORE = 0, ST_START, ST_KEEP, ST_DROP };

static bool codec_ok(cs_nal_codec codec)
{
    return codec == CS_NAL_CODEC_H264 || codec == CS_NAL_CODEC_H265;
}

unsigned cs_nal_type(cs_nal_codec codec, uint8_t first_byte)
{
    if (codec == CS_NAL_CODEC_H265) {
        return (first_byte >> 1) & 0x3fu;
    }
    return first_byte & 0x1fu;
}

bool cs_nal_type_is_key(cs_nal_codec codec, unsigned type)
{
    if (codec == CS_NAL_CODEC_H265) {
        return type >= CS_H265_NAL_IRAP_FIRST && type <= CS_H265_NAL_IRAP_LAST;
    }
    return codec == CS_NAL_CODEC_H264 && type == CS_H264_NAL_IDR;
}

static bool nal_dropped(cs_nal_codec codec, unsigned flags, uint8_t first_byte)
{
    unsigned t = cs_nal_type(codec, first_byte);
    if (flags & CS_NAL_DROP_AUD) {
        if (t == (codec == CS_NAL_CODEC_H265 ? CS_H265_NAL_AUD : CS_H264_NAL_AUD)) {
            return true;
        }
    }
    if (flags & CS_NAL_DROP_PARAM_SETS) {
        if (codec == CS_NAL_CODEC_H265) {
            return t == CS_H265_NAL_VPS || t == CS_H265_NAL_SPS || t == CS_H265_NAL_PPS;
        }
        return t == CS_H264_NAL_SPS || t == CS_H264_NAL_PPS;
    }
    return false;
}

/* ------------------------------------------------------------------------------------------ */
/* Iterator                                                                                     */
/* ------------------------------------------------------------------------------------------ */

cs_status cs_nal_iter_init(cs_nal_iter *it, cs_nal_codec codec, cs_nal_format format,
                           unsigned length_size, const uint8_t *buf, size_t len)
{
    if (it == NULL || !codec_ok(codec) || (buf == NULL && len > 0)) {
        return CS_E_INVAL;
    }
    if (format != CS_NAL_FORMAT_ANNEXB &&
        (format != CS_NAL_FORMAT_AVCC || length_size < 1 || length_size > 4)) {
        return CS_E_INVAL;
    }
    it->buf = buf;
    it->len = len;
    it->pos = 0;
    it->codec = codec;
    it->format = format;
    it->length_size = length_size;
    return CS_OK;
}

/* Offset of the next 00 00 01 at or after `from`, or len. */
static size_t find_start_code(const uint8_t *p, size_t len, size_t from)
{
    size_t i = from;
    while (i + 2 < len) {
        const uint8_t *z = memchr(p + i, 0, len - i - 2);
        if (z == NULL) {
            break;
        }
        i = (size_t)(z - p);
        if (p[i + 1] == 0 && p[i + 2] == 1) {
            return i;
        }
        i++;
    }
    return len;
}

static cs_status iter_next_annexb(cs_nal_iter *it, cs_nal_unit *nal, bool *got)
{
    const uint8_t *p = it->buf;

    for (;;) {
        size_t i = it->pos, zeros = 0, start, end;
        while (i < it->len && p[i] == 0) {
            zeros++;
            i++;
        }
        if (i == it->len) {
            it->pos = i; /* only trailing zeros left */
            return CS_OK;
        }
        if (p[i] != 1 || zeros < 2) {
            return CS_E_MALFORMED; /* bytes before the first start code */
        }
        start = i + 1;
        end = find_start_code(p, it->len, start);
        while (end > start && p[end - 1] == 0) {
            end--; /* trailing_zero_8bits, or the first byte of a 4-byte start code */
        }
        it->pos = end;
        if (end > start) {
            nal->data = p + start;
            nal->len = end - start;
            nal->offset = start;
            nal->type = cs_nal_type(it->codec, p[start]);
            *got = true;
            return CS_OK;
        }
        /* an empty NAL unit: skip it */
        it->pos = start;
    }
}

static cs_status iter_next_avcc(cs_nal_iter *it, cs_nal_unit *nal, bool *got)
{
    size_t n = 0;

    if (it->pos == it->len) {
        return CS_OK;
    }
    if (it->len - it->pos < it->length_size) {
        return CS_E_MALFORMED;
    }
    for (unsigned i = 0; i < it->length_size; i++) {
        n = (n << 8) | it->buf[it->pos + i];
    }
    if (n == 0 || n > it->len - it->pos - it->length_size) {
        return CS_E_MALFORMED;
    }
    nal->offset = it->pos + it->length_size;
    nal->data = it->buf + nal->offset;
    nal->len = n;
    nal->type = cs_nal_type(it->codec, nal->data[0]);
    it->pos = nal->offset + n;
    *got = true;
    return CS_OK;
}

cs_status cs_nal_iter_next(cs_nal_iter *it, cs_nal_unit *nal, bool *got)
{
    if (it == NULL || nal == NULL || got == NULL) {
        return CS_E_INVAL;
    }
    *got = false;
    if (it->format == CS_NAL_FORMAT_ANNEXB) {
        return iter_next_annexb(it, nal, got);
    }
    return iter_next_avcc(it, nal, got);
}

cs_status cs_nal_is_key_frame(cs_nal_codec codec, cs_nal_format format, unsigned length_size,
                              const uint8_t *buf, size_t len, bool *key)
{
    cs_nal_iter it;
    cs_nal_unit nal;
    bool got;
    cs_status st;

    if (key == NULL) {
        return CS_E_INVAL;
    }
    *key = false;
    st = cs_nal_iter_init(&it, codec, format, length_size, buf, len);
    while (st == CS_OK && (st = cs_nal_iter_next(&it, &nal, &got)) == CS_OK && got) {
        if (cs_nal_type_is_key(codec, nal.type)) {
            *key = true;
            return CS_OK;
        }
    }
    return st;
}

cs_status cs_nal_find_param_sets(cs_nal_codec codec, cs_nal_format format, unsigned length_size,
                                 const uint8_t *buf, size_t len, cs_nal_param_sets *ps)
{
    cs_nal_iter it;
    cs_nal_unit nal;
    bool got, h265 = codec == CS_NAL_CODEC_H265;
    cs_status st;

    if (ps == NULL) {
        return CS_E_INVAL;
    }
    memset(ps, 0, sizeof(*ps));
    st = cs_nal_iter_init(&it, codec, format, length_size, buf, len);
    while (st == CS_OK && (st = cs_nal_iter_next(&it, &nal, &got)) == CS_OK && got) {
        if (h265 && nal.type == CS_H265_NAL_VPS && ps->vps == NULL) {
            ps->vps = nal.data;
            ps->vps_len = nal.len;
        } else if (nal.type == (h265 ? CS_H265_NAL_SPS : CS_H264_NAL_SPS) && ps->sps == NULL) {
            ps->sps = nal.data;
            ps->sps_len = nal.len;
        } else if (nal.type == (h265 ? CS_H265_NAL_PPS : CS_H264_NAL_PPS) && ps->pps == NULL) {
            ps->pps = nal.data;
            ps->pps_len = nal.len;
        }
    }
    if (st != CS_OK) {
        return st;
    }
    if (ps->sps == NULL || ps->pps == NULL || (h265 && ps->vps == NULL)) {
        return CS_E_NOTFOUND;
    }
    return CS_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* AVCC -> Annex-B                                                                              */
/* ------------------------------------------------------------------------------------------ */

static const uint8_t start_code[4] = {0, 0, 0, 1};

cs_status cs_nal_avcc_to_annexb(cs_nal_codec codec, unsigned flags, unsigned length_size,
                                const uint8_t *src, size_t len, uint8_t *dst, size_t cap,
                                size_t *written)
{
    cs_nal_iter it;
    cs_nal_unit nal;
    struct csi_out o;
    bool got;
    cs_status st;

    if (written == NULL) {
        return CS_E_INVAL;
    }
    *written = 0;
    st = cs_nal_iter_init(&it, codec, CS_NAL_FORMAT_AVCC, length_size, src, len);
    if (st != CS_OK) {
        return st;
    }
    csi_out_init(&o, dst, cap);
    while ((st = cs_nal_iter_next(&it, &nal, &got)) == CS_OK && got) {
        if (!nal_dropped(codec, flags, nal.data[0])) {
            csi_out_put(&o, start_code, sizeof(start_code));
            csi_out_put(&o, nal.data, nal.len);
        }
    }
    if (st != CS_OK) {
        return st;
    }
    return csi_out_finish(&o, written);
}

/* ------------------------------------------------------------------------------------------ */
/* Annex-B -> AVCC, streaming                                                                   */
/* ------------------------------------------------------------------------------------------ */

static void stream_put(cs_nal_stream *s, const uint8_t *p, size_t n)
{
    if (s->dst != NULL && s->pos < s->cap) {
        size_t k = s->cap - s->pos < n ? s->cap - s->pos : n;
        memcpy(s->dst + s->pos, p, k);
    }
    if (cs_add_size(s->pos, n, &s->pos) != CS_OK ||
        cs_add_size(s->nal_len, n, &s->nal_len) != CS_OK) {
        s->error = CS_E_OVERFLOW;
    }
}

/* Places the zero bytes counted so far as payload of the open NAL unit. */
static void stream_put_zeros(cs_nal_stream *s)
{
    size_t n = s->zeros;
    if (s->dst != NULL && s->pos < s->cap) {
        size_t k = s->cap - s->pos < n ? s->cap - s->pos : n;
        memset(s->dst + s->pos, 0, k);
    }
    if (cs_add_size(s->pos, n, &s->pos) != CS_OK ||
        cs_add_size(s->nal_len, n, &s->nal_len) != CS_OK) {
        s->error = CS_E_OVERFLOW;
    }
    s->zeros = 0;
}

/* The open NAL unit ends: its length goes into the field reserved for it. Pending zero bytes
 * were trailing zeros or part of the start code that ended it, so they are dropped. */
static void stream_end_nal(cs_nal_stream *s)
{
    if (s->state == ST_KEEP) {
        if (s->nal_len > UINT32_MAX) {
            s->error = CS_E_OVERFLOW;
        } else if (s->dst != NULL && s->len_at <= s->cap && s->cap - s->len_at >= 4) {
            uint8_t *f = s->dst + s->len_at;
            f[0] = (uint8_t)(s->nal_len >> 24);
            f[1] = (uint8_t)(s->nal_len >> 16);
            f[2] = (uint8_t)(s->nal_len >> 8);
            f[3] = (uint8_t)s->nal_len;
        }
    }
    s->zeros = 0;
}

void cs_nal_stream_init(cs_nal_stream *s, cs_nal_codec codec, unsigned flags, uint8_t *dst,
                        size_t cap)
{
    if (s == NULL) {
        return;
    }
    memset(s, 0, sizeof(*s));
    s->codec = codec;
    s->flags = flags;
    s->dst = dst;
    s->cap = dst != NULL ? cap : 0;
    s->state = ST_BEFORE;
    s->error = codec_ok(codec) ? CS_OK : CS_E_INVAL;
}

cs_status cs_nal_stream_push(cs_nal_stream *s, const uint8_t *src, size_t len)
{
    size_t i = 0;

    if (s == NULL) {
        return CS_E_INVAL;
    }
    if (src == NULL && len > 0 && s->error == CS_OK) {
        s->error = CS_E_INVAL;
    }
    while (i < len && s->error == CS_OK) {
        uint8_t b = src[i];
        size_t run_end;
        const uint8_t *z;

        if (b == 0) {
            s->zeros++;
            i++;
            continue;
        }
        if (b == 1 && s->zeros >= 2) {
            stream_end_nal(s);
            s->state = ST_START;
            i++;
            continue;
        }
        /* A payload byte; the run of non-zero bytes from here cannot hold a start code. */
        z = memchr(src + i, 0, len - i);
        run_end = z != NULL ? (size_t)(z - src) : len;
        switch (s->state) {
        case ST_BEFORE:
            s->error = CS_E_MALFORMED;
            return s->error;
        case ST_START:
            /* The unit's first byte is a counted zero (type 0, kept) or b. */
            if (s->zeros == 0 && nal_dropped(s->codec, s->flags, b)) {
                s->state = ST_DROP;
                break;
            }
            s->state = ST_KEEP;
            s->len_at = s->pos;
            s->nal_len = 0;
            stream_put(s, start_code, 4); /* placeholder, filled by stream_end_nal() */
            s->nal_len = 0;
            /* fall through */
        case ST_KEEP:
            stream_put_zeros(s);
            stream_put(s, src + i, run_end - i);
            break;
        default: /* ST_DROP */
            break;
        }
        s->zeros = 0;
        i = run_end;
    }
    return s->error;
}

cs_status cs_nal_stream_finish(cs_nal_stream *s, size_t *written)
{
    if (s == NULL || written == NULL) {
        return CS_E_INVAL;
    }
    stream_end_nal(s);
    s->state = ST_BEFORE;
    *written = s->pos;
    if (s->error != CS_OK) {
        return s->error;
    }
    if (s->dst != NULL && s->pos > s->cap) {
        return CS_E_NOSPACE;
    }
    return CS_OK;
}

cs_status cs_nal_annexb_to_avcc(cs_nal_codec codec, unsigned flags, const uint8_t *src, size_t len,
                                uint8_t *dst, size_t cap, size_t *written)
{
    cs_nal_stream s;

    if (written == NULL) {
        return CS_E_INVAL;
    }
    cs_nal_stream_init(&s, codec, flags, dst, cap);
    (void)cs_nal_stream_push(&s, src, len); /* its error is sticky; finish returns it */
    return cs_nal_stream_finish(&s, written);
}
