/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper for the archived-media compat test: writes fragments into a running (or stopped)
 * camstream-ingest's data directory the way PutMedia stores them (stream header + producer Tags
 * + Cluster as one object under DATA_DIR/objects, plus its index row), so reads can be tested
 * before and independently of ingest. Prints "NUMBER PRODUCER_MS SERVER_MS" per fragment.
 * Usage: getmedia_seed DATA_DIR STREAM COUNT FRAMES_PER_FRAGMENT PRODUCER_START_MS
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "camstream/mkv_write.h"
#include "index.h"
#include "storage.h"

#define FRAME_MS 40

/* A 64x64 H.264 stream's parameter sets (x264), as avcC. */
static const uint8_t avcc[] = {0x01, 0xf4, 0x00, 0x0a, 0xff, 0xe1, 0x00, 0x17, 0x67, 0xf4,
                               0x00, 0x0a, 0x91, 0x9b, 0x28, 0x84, 0xd8, 0x08, 0x80, 0x00,
                               0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x19, 0x07, 0x89, 0x12,
                               0xcb, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xc4, 0x48, 0x44};

static void put_fragment(cs_mkv_writer *w, int64_t producer_ms, int frames, const char *site)
{
    uint8_t uid[CS_MKV_SEGMENT_UID_LEN] = {1, 2, 3};
    cs_mkv_track_info t;
    cs_mkv_tag tag = {"CAM_SITE", 8, site, strlen(site)};
    memset(&t, 0, sizeof(t));
    t.number = 1;
    t.type = CS_MKV_TRACK_VIDEO;
    t.codec = CS_MKV_CODEC_ID_H264;
    t.codec_private = avcc;
    t.codec_private_len = sizeof(avcc);
    t.width = 64;
    t.height = 64;
    cs_mkv_put_ebml_header(w);
    cs_mkv_put_segment_start(w);
    cs_mkv_put_info(w, uid);
    cs_mkv_put_tracks(w, &t, 1);
    cs_mkv_put_tags(w, &tag, 1);
    cs_mkv_put_cluster_start(w, (uint64_t)producer_ms);
    for (int j = 0; j < frames; j++) {
        /* One AVCC NAL: IDR first, then non-IDR slices (never decoded by the tests). */
        uint8_t frame[24] = {0, 0, 0, 20, j == 0 ? 0x65 : 0x41, (uint8_t)j};
        cs_mkv_put_simple_block(w, 1, (int16_t)(j * FRAME_MS), j == 0 ? CS_MKV_BLOCK_KEY : 0, frame,
                                sizeof(frame));
    }
}

int main(int argc, char **argv)
{
    char path[4096];
    cs_index_config ic;
    cs_index *ix = NULL;
    cs_store_config sc;
    cs_store *st = NULL;
    int count, frames;
    int64_t start;
    int rc = 1;
    if (argc != 6) {
        fprintf(stderr, "usage: %s DATA_DIR STREAM COUNT FRAMES START_MS\n", argv[0]);
        return 2;
    }
    count = atoi(argv[3]);
    frames = atoi(argv[4]);
    start = strtoll(argv[5], NULL, 10);
    snprintf(path, sizeof(path), "%s/index.sqlite3", argv[1]);
    cs_index_config_init(&ic);
    ic.path = path;
    ic.durable = false;
    if (cs_index_open(&ic, &ix) != CS_OK) {
        fprintf(stderr, "cannot open %s\n", path);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/objects", argv[1]);
    cs_store_config_init(&sc);
    sc.fs_dir = path;
    if (cs_store_create(&sc, &st) != CS_OK) {
        fprintf(stderr, "cannot open %s\n", path);
        goto out;
    }
    for (int i = 0; i < count; i++) {
        int64_t pms = start + (int64_t)i * frames * FRAME_MS;
        char site[32];
        cs_mkv_writer w;
        size_t len = 0;
        uint8_t *buf;
        cs_index_fragment f;
        snprintf(site, sizeof(site), "lab-%d", i);
        cs_mkv_writer_init(&w, NULL, 0);
        put_fragment(&w, pms, frames, site);
        if (cs_mkv_writer_finish(&w, &len) != CS_OK || (buf = malloc(len)) == NULL) {
            goto out;
        }
        cs_mkv_writer_init(&w, buf, len);
        put_fragment(&w, pms, frames, site);
        memset(&f, 0, sizeof(f));
        f.producer_ms = pms;
        f.duration_ms = (int64_t)frames * FRAME_MS;
        f.size = len;
        snprintf(f.object_key, sizeof(f.object_key), "streams/%s/seed-%" PRId64 ".mkv", argv[2],
                 pms);
        snprintf(f.checksum, sizeof(f.checksum), "seed-%" PRId64, pms);
        if (cs_mkv_writer_finish(&w, NULL) != CS_OK ||
            cs_store_put(st, f.object_key, buf, len) != CS_OK ||
            cs_index_fragment_insert(ix, argv[2], &f, NULL) != CS_OK) {
            free(buf);
            fprintf(stderr, "cannot store fragment %d\n", i);
            goto out;
        }
        free(buf);
        printf("%s %" PRId64 " %" PRId64 "\n", f.number, f.producer_ms, f.server_ms);
    }
    rc = 0;
out:
    cs_store_destroy(&st);
    cs_index_close(&ix);
    return rc;
}
