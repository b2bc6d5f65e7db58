/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper for the archived-media compat test: reads a GetMedia body (a file of EBML header +
 * Segment pairs) with camstream's own MKV reader and prints one line per event of interest, in
 * order, for the test to check the per-fragment layout: "SEGMENT", "TAG name value", "CLUSTER
 * timecode", "FRAME track timecode key". Exit 1 when the reader rejects the bytes.
 * Usage: getmedia_mkvdump FILE
 */
#include <stdio.h>
#include <stdlib.h>

#include "camstream/mkv_read.h"

static cs_status on_event(void *ctx, const cs_mkv_event *ev)
{
    (void)ctx;
    switch (ev->type) {
    case CS_MKV_EV_SEGMENT_START:
        printf("SEGMENT\n");
        break;
    case CS_MKV_EV_CLUSTER_START:
        printf("CLUSTER %llu\n", (unsigned long long)ev->u.cluster.timecode);
        break;
    case CS_MKV_EV_FRAME:
        printf("FRAME %llu %lld %d\n", (unsigned long long)ev->u.block.track,
               (long long)ev->u.block.timecode, ev->u.block.key ? 1 : 0);
        break;
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
    FILE *f = argc == 2 ? fopen(argv[1], "rb") : NULL;
    size_t n;
    if (f == NULL) {
        fprintf(stderr, "usage: getmedia_mkvdump FILE\n");
        return 2;
    }
    cs_mkv_reader_init(&rd, NULL);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        if (cs_mkv_reader_feed(&rd, buf, n, on_event, NULL) != CS_OK) {
            fprintf(stderr, "bad MKV: %s\n", cs_mkv_reader_error(&rd, NULL));
            fclose(f);
            return 1;
        }
    }
    fclose(f);
    if (cs_mkv_reader_finish(&rd, on_event, NULL) != CS_OK) {
        fprintf(stderr, "bad MKV end: %s\n", cs_mkv_reader_error(&rd, NULL));
        return 1;
    }
    return 0;
}
