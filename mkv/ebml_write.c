/* SPDX-License-Identifier: Apache-2.0 */
/* The generic EBML element writer: IDs, size fields, integer/float/string/binary elements and
 * master elements sized by running their body on a counting writer. Writing and counting are the
 * same code; only the final byte copy looks at whether there is a destination. The first error
 * sticks, and from then on nothing more is written (sizes are still counted). */
#include <string.h>

#include "camstream/mkv.h"
#include "write_int.h"

void cs_mkv_writer_init(cs_mkv_writer *w, uint8_t *dst, size_t cap)
{
    w->dst = dst;
    w->cap = dst != NULL ? cap : 0;
    w->pos = 0;
    w->error = CS_OK;
}

cs_status cs_mkv_writer_finish(const cs_mkv_writer *w, size_t *len)
{
    if (w == NULL) {
        return CS_E_INVAL;
    }
    if (len != NULL) {
        *len = w->pos;
    }
    return w->error;
}

void cs_mkv_writer_fail(cs_mkv_writer *w, cs_status status)
{
    if (w->error == CS_OK) {
        w->error = status;
    }
}

size_t cs_mkv_id_len(uint32_t id)
{
    /* The length marker is the first set bit of the first byte; all-ones values are reserved. */
    if (id >= 0x80u && id <= 0xFEu) {
        return 1;
    }
    if (id >= 0x4000u && id <= 0x7FFEu) {
        return 2;
    }
    if (id >= 0x200000u && id <= 0x3FFFFEu) {
        return 3;
    }
    if (id >= 0x10000000u && id <= 0x1FFFFFFEu) {
        return 4;
    }
    return 0;
}

size_t cs_mkv_size_len(uint64_t size)
{
    size_t n = 1;

    if (size > CS_MKV_MAX_ELEMENT_SIZE) {
        return 0;
    }
    /* n bytes carry 7n value bits; the all-ones value means "unknown", so stay below it. */
    while (size >= (1ull << (7 * n)) - 1) {
        n++;
    }
    return n;
}

size_t csi_mkv_uint_len(uint64_t value)
{
    size_t n = 1;

    while (n < 8 && (value >> (8 * n)) != 0) {
        n++;
    }
    return n;
}

size_t csi_mkv_element_len(uint32_t id, uint64_t data_len)
{
    size_t idl = cs_mkv_id_len(id);
    size_t szl = cs_mkv_size_len(data_len);

    if (idl == 0 || szl == 0 || data_len > SIZE_MAX - idl - szl) {
        return 0;
    }
    return idl + szl + (size_t)data_len;
}

void csi_mkv_reserve(cs_mkv_writer *w, size_t n, uint8_t **out)
{
    *out = NULL;
    if (n > SIZE_MAX - w->pos) {
        cs_mkv_writer_fail(w, CS_E_OVERFLOW);
        w->pos = SIZE_MAX;
        return;
    }
    if (w->error == CS_OK && w->dst != NULL) {
        if (n > w->cap - w->pos) {
            w->error = CS_E_NOSPACE;
        } else {
            *out = w->dst + w->pos;
        }
    }
    w->pos += n;
}

void cs_mkv_put_raw(cs_mkv_writer *w, const void *data, size_t len)
{
    uint8_t *p;

    if (data == NULL && len != 0 && w->dst != NULL) {
        cs_mkv_writer_fail(w, CS_E_INVAL);
    }
    csi_mkv_reserve(w, len, &p);
    if (p != NULL && len != 0) {
        memcpy(p, data, len);
    }
}

size_t csi_mkv_encode_id(uint8_t *p, uint32_t id)
{
    size_t n = cs_mkv_id_len(id);

    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(id >> (8 * (n - 1 - i)));
    }
    return n;
}

size_t csi_mkv_encode_size(uint8_t *p, uint64_t size, size_t n)
{
    /* n bytes: a marker bit at position 8 - n of the first byte, then the value big-endian. */
    uint64_t v = size | (1ull << (7 * n));

    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    }
    return n;
}

void cs_mkv_put_id(cs_mkv_writer *w, uint32_t id)
{
    uint8_t b[4];
    size_t n = cs_mkv_id_len(id);

    if (n == 0) {
        cs_mkv_writer_fail(w, CS_E_INVAL);
        return;
    }
    csi_mkv_encode_id(b, id);
    cs_mkv_put_raw(w, b, n);
}

void cs_mkv_put_size(cs_mkv_writer *w, uint64_t size)
{
    uint8_t b[8];
    size_t n = cs_mkv_size_len(size);

    if (n == 0) {
        cs_mkv_writer_fail(w, CS_E_RANGE);
        return;
    }
    csi_mkv_encode_size(b, size, n);
    cs_mkv_put_raw(w, b, n);
}

/* ID and size of an element with `len` data bytes, as one reservation. */
static void put_head(cs_mkv_writer *w, uint32_t id, uint64_t len)
{
    uint8_t b[12];
    size_t idl = cs_mkv_id_len(id);
    size_t szl = cs_mkv_size_len(len);

    if (idl == 0) {
        cs_mkv_writer_fail(w, CS_E_INVAL);
        return;
    }
    if (szl == 0) {
        cs_mkv_writer_fail(w, CS_E_RANGE);
        return;
    }
    csi_mkv_encode_id(b, id);
    csi_mkv_encode_size(b + idl, len, szl);
    cs_mkv_put_raw(w, b, idl + szl);
}

void cs_mkv_put_uint(cs_mkv_writer *w, uint32_t id, uint64_t value)
{
    uint8_t b[8];
    size_t n = csi_mkv_uint_len(value);

    for (size_t i = 0; i < n; i++) {
        b[i] = (uint8_t)(value >> (8 * (n - 1 - i)));
    }
    put_head(w, id, n);
    cs_mkv_put_raw(w, b, n);
}

void cs_mkv_put_float(cs_mkv_writer *w, uint32_t id, double value)
{
    uint8_t b[8];
    uint64_t bits;

    memcpy(&bits, &value, sizeof(bits));
    for (size_t i = 0; i < 8; i++) {
        b[i] = (uint8_t)(bits >> (8 * (7 - i)));
    }
    put_head(w, id, 8);
    cs_mkv_put_raw(w, b, 8);
}

void cs_mkv_put_binary(cs_mkv_writer *w, uint32_t id, const void *data, size_t len)
{
    if (data == NULL && len != 0) {
        cs_mkv_writer_fail(w, CS_E_INVAL);
        return;
    }
    put_head(w, id, len);
    cs_mkv_put_raw(w, data, len);
}

void cs_mkv_put_string(cs_mkv_writer *w, uint32_t id, const char *s, size_t len)
{
    cs_mkv_put_binary(w, id, s, len);
}

void cs_mkv_put_master(cs_mkv_writer *w, uint32_t id, cs_mkv_body_fn body, const void *ctx)
{
    cs_mkv_writer sizer;
    size_t len, start;
    cs_status st;

    if (body == NULL) {
        cs_mkv_writer_fail(w, CS_E_INVAL);
        return;
    }
    cs_mkv_writer_init(&sizer, NULL, 0);
    body(&sizer, ctx);
    st = cs_mkv_writer_finish(&sizer, &len);
    if (st != CS_OK) {
        cs_mkv_writer_fail(w, st);
        return;
    }
    put_head(w, id, len);
    if (w->dst == NULL || w->error != CS_OK) {
        /* Counting only: the body's size is known, no need to run it again. */
        uint8_t *unused;
        csi_mkv_reserve(w, len, &unused);
        return;
    }
    start = w->pos;
    body(w, ctx);
    if (w->error == CS_OK && w->pos - start != len) {
        /* The body wrote something else than it sized: a bug in the body. */
        w->error = CS_E_INTERNAL;
    }
}

void cs_mkv_put_master_unknown(cs_mkv_writer *w, uint32_t id)
{
    uint8_t b[12];
    size_t idl = cs_mkv_id_len(id);

    if (idl == 0) {
        cs_mkv_writer_fail(w, CS_E_INVAL);
        return;
    }
    csi_mkv_encode_id(b, id);
    /* Eight bytes with every value bit set: 01 FF FF FF FF FF FF FF. */
    csi_mkv_encode_size(b + idl, (1ull << 56) - 1, 8);
    cs_mkv_put_raw(w, b, idl + 8);
}
