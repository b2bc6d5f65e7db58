/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper for the archived-media compat and integration tests: reads an MKV file (a GetMedia
 * body, i.e. EBML header + Segment pairs, or a producer's upload) with camstream's own MKV reader
 * and prints one line per event of interest, in order: "SEGMENT", "TAG name value", "CLUSTER
 * timecode", "FRAME track timecode key size sha256", the last once the frame's bytes are all
 * read (size and SHA-256 of the frame payload, lace headers excluded: the tests compare them with
 * ffprobe's packet data hashes and between upload and read-back). Exit 1 when the reader rejects
 * the bytes. Usage: getmedia_mkvdump FILE
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "camstream/auth.h"
#include "camstream/mkv_read.h"

/* The frame being read: its bytes are gathered to hash them when complete. */
struct frame {
    cs_mkv_block_info info;
    uint8_t *data;
    size_t len;
    size_t cap;
    bool open;
};

static int flush_frame(struct frame *f)
{
    uint8_t h[CS_SHA256_SIZE];
    if (!f->open) {
        return 0;
    }
    f->open = false;
    if (f->len != f->info.frame_size || cs_sha256(f->data, f->len, h) != CS_OK) {
        fprintf(stderr, "frame at %llu: %zu of %llu bytes\n",
                (unsigned long long)f->info.frame_offset, f->len,
                (unsigned long long)f->info.frame_size);
        return -1;
    }
    printf("FRAME %llu %lld %d %zu ", (unsigned long long)f->info.track,
           (long long)f->info.timecode, f->info.key ? 1 : 0, f->len);
    for (size_t i = 0; i < sizeof(h); i++) {
        printf("%02x", h[i]);
    }
    printf("\n");
    return 0;
}

static cs_status add_data(struct frame *f, const cs_mkv_block_info *b)
{
    if (b->data_len == 0) {
        return CS_OK;
    }
    if (f->len + b->data_len > f->cap) {
        size_t cap = f->len + b->data_len;
        uint8_t *p = realloc(f->data, cap);
        if (p == NULL) {
            return CS_E_NOMEM;
        }
        f->data = p;
        f->cap = cap;
    }
    memcpy(f->data + f->len, b->data, b->data_len);
    f->len += b->data_len;
    return CS_OK;
}

static cs_status on_event(void *ctx, const cs_mkv_event *ev)
{
    struct frame *f = ctx;
    switch (ev->type) {
    case CS_MKV_EV_SEGMENT_START:
        printf("SEGMENT\n");
        break;
    case CS_MKV_EV_CLUSTER_START:
        printf("CLUSTER %llu\n", (unsigned long long)ev->u.cluster.timecode);
        break;
    case CS_MKV_EV_FRAME:
        if (flush_frame(f) != 0) {
            return CS_E_MALFORMED;
        }
        f->info = ev->u.block;
        f->len = 0;
        f->open = true;
        return add_data(f, &ev->u.block);
    case CS_MKV_EV_FRAME_DATA:
        return add_data(f, &ev->u.block);
    case CS_MKV_EV_BLOCK_END:
        f->info.key = ev->u.block.key; /* final for a Block at its end */
        return flush_frame(f) == 0 ? CS_OK : CS_E_MALFORMED;
    case CS_MKV_EV_TAG:
        printf("TAG %.*s %.*s\n", (int)ev->u.tag.name_len, ev->u.tag.name ? ev->u.tag.name : "",
               (int)ev->u.tag.value_len, ev->u.tag.value ? ev->u.tag.value : "");
        break;
    default:
        break;
    }
    return CS_OK;
}

int main(int argc, char **argv)
{
    static cs_mkv_reader rd;
    static unsigned char buf[65536];
    struct frame fr = {0};
    FILE *f = argc == 2 ? fopen(argv[1], "rb") : NULL;
    size_t n;
    int rc = 0;
    if (f == NULL) {
        fprintf(stderr, "usage: getmedia_mkvdump FILE\n");
        return 2;
    }
    cs_mkv_reader_init(&rd, NULL);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        if (cs_mkv_reader_feed(&rd, buf, n, on_event, &fr) != CS_OK) {
            fprintf(stderr, "bad MKV: %s\n", cs_mkv_reader_error(&rd, NULL));
            rc = 1;
            break;
        }
    }
    fclose(f);
    if (rc == 0 && cs_mkv_reader_finish(&rd, on_event, &fr) != CS_OK) {
        fprintf(stderr, "bad MKV end: %s\n", cs_mkv_reader_error(&rd, NULL));
        rc = 1;
    }
    if (rc == 0 && flush_frame(&fr) != 0) {
        rc = 1;
    }
    free(fr.data);
    return rc;
}
