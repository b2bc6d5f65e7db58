/* SPDX-License-Identifier: Apache-2.0 */
/* Producer frame path cost: per 720p-like H.264 frame (a 60 KB key frame every 30, 8-16 KB
 * otherwise, Annex-B), the conversion size pass, the fragmenter size pass, reserve in the content
 * store, the header, the one-copy Annex-B -> AVCC conversion into the ring, and commit; the
 * uploader side (peek/skip, a PERSISTED ack per fragment) runs in the same loop. Prints the median
 * ns per frame of several runs, the same frames' plain memcpy as a baseline, and the heap
 * allocations made while writing (must be 0). `--once N` runs N frames once, for callgrind:
 * `valgrind --tool=callgrind build/tests/bench/producer_bench --once 1000` vs `--once 4000`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "camstream/mkv.h"
#include "content_store.h"

#define NFR 1800
#define RUNS 7

static const uint8_t sps[] = {0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb,
                              0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00,
                              0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0xa4, 0x80};
static const uint8_t pps[] = {0x68, 0xcb, 0x83, 0xcb, 0x20};

static uint8_t *frames[NFR];
static size_t frame_len[NFR];
static uint8_t sink[128 * 1024];
static uint64_t frame_no; /* timestamps keep going across runs */

static void make_frames(void)
{
    uint64_t seed = 1;
    size_t i, j;

    for (i = 0; i < NFR; i++) {
        bool key = i % 30 == 0;
        size_t payload = key ? 60000 : 8000 + (size_t)(i * 7919 % 8000);
        uint8_t *p = malloc(payload + 64), *q = p;
        if (p == NULL) {
            exit(1);
        }
        if (key) {
            memcpy(q, "\0\0\0\1", 4);
            memcpy(q + 4, sps, sizeof(sps));
            q += 4 + sizeof(sps);
            memcpy(q, "\0\0\0\1", 4);
            memcpy(q + 4, pps, sizeof(pps));
            q += 4 + sizeof(pps);
        }
        memcpy(q, "\0\0\0\1", 4);
        q[4] = key ? 0x65 : 0x41;
        q += 5;
        for (j = 0; j < payload; j++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            *q++ = (uint8_t)(1 + (seed >> 33) % 255);
        }
        frames[i] = p;
        frame_len[i] = (size_t)(q - p);
    }
}

/* Runs n frames through the store; returns ns per frame. */
static double run(csi_cstore *s, cs_mkv_fragmenter *f, size_t n)
{
    double t0 = cs_bench_now_ns();
    uint64_t last_key = 0;
    bool have_key = false;
    size_t i;

    for (i = 0; i < n; i++) {
        size_t k = i % NFR, sz, w;
        cs_mkv_frame fr;
        cs_mkv_frame_layout lo;
        uint8_t *region;
        unsigned flags = 0;
        uint64_t key;
        csi_cstore_span sp;

        cs_nal_annexb_to_avcc(CS_NAL_CODEC_H264, CS_NAL_DROP_AUD, frames[k], frame_len[k], NULL, 0,
                              &sz);
        fr.track = 1;
        fr.timestamp_ns = frame_no++ * 33333333u;
        fr.flags = k % 30 == 0 ? CS_MKV_BLOCK_KEY : 0;
        fr.size = sz;
        if (cs_mkv_fragmenter_frame_header(f, &fr, NULL, 0, &lo) != CS_OK) {
            fprintf(stderr, "frame %zu: header failed\n", i);
            exit(1);
        }
        flags = lo.new_cluster ? CSI_CSTORE_FRAGMENT_START : 0;
        flags |= lo.new_segment ? CSI_CSTORE_SESSION_START : 0;
        key = lo.new_cluster ? lo.cluster_timecode * CS_MKV_TIMECODE_SCALE_NS : fr.timestamp_ns;
        if (csi_cstore_reserve(s, lo.total_len, flags, key, &region) != CS_OK ||
            cs_mkv_fragmenter_frame_header(f, &fr, region, lo.total_len, &lo) != CS_OK ||
            cs_nal_annexb_to_avcc(CS_NAL_CODEC_H264, CS_NAL_DROP_AUD, frames[k], frame_len[k],
                                  region + lo.header_len, sz, &w) != CS_OK ||
            csi_cstore_commit(s, lo.total_len) != CS_OK) {
            fprintf(stderr, "frame %zu failed\n", i);
            exit(1);
        }
        /* The uploader: hand every byte on, ack the previous fragment at each new one. */
        while (csi_cstore_peek(s, &sp) == CS_OK && sp.len > 0) {
            csi_cstore_skip(s, sp.len);
        }
        if (lo.new_cluster) {
            if (have_key) {
                csi_cstore_ack_persisted(s, last_key, NULL);
            }
            last_key = key;
            have_key = true;
        }
    }
    return (cs_bench_now_ns() - t0) / (double)n;
}

static double run_memcpy(size_t n)
{
    double t0 = cs_bench_now_ns();
    size_t i;

    for (i = 0; i < n; i++) {
        size_t k = i % NFR;
        memcpy(sink, frames[k], frame_len[k]);
        __asm__ volatile("" : : "r"(sink) : "memory");
    }
    return (cs_bench_now_ns() - t0) / (double)n;
}

int main(int argc, char **argv)
{
    csi_cstore_config scfg;
    csi_cstore *s = NULL;
    cs_mkv_fragmenter_config fcfg;
    static cs_mkv_fragmenter f;
    uint8_t cp[128];
    size_t cp_len, total = 0, i;
    double r[RUNS], m[RUNS];
    int once = argc == 3 && strcmp(argv[1], "--once") == 0 ? atoi(argv[2]) : 0;

    make_frames();
    for (i = 0; i < NFR; i++) {
        total += frame_len[i];
    }
    if (cs_nal_codec_private_from_annexb(CS_NAL_CODEC_H264, frames[0], frame_len[0], cp, sizeof(cp),
                                         &cp_len) != CS_OK) {
        return 1;
    }
    cs_mkv_fragmenter_config_init(&fcfg);
    fcfg.tracks[0].number = 1;
    fcfg.tracks[0].type = CS_MKV_TRACK_VIDEO;
    fcfg.tracks[0].codec = CS_MKV_CODEC_ID_H264;
    fcfg.tracks[0].codec_private = cp;
    fcfg.tracks[0].codec_private_len = cp_len;
    fcfg.track_count = 1;
    if (cs_mkv_fragmenter_init(&f, &fcfg) != CS_OK) {
        return 1;
    }
    csi_cstore_config_init(&scfg);
    scfg.capacity = 8u * 1024u * 1024u;
    if (csi_cstore_create(&scfg, &s) != CS_OK) {
        return 1;
    }
    if (once > 0) {
        run(s, &f, (size_t)once);
        csi_cstore_destroy(&s);
        return 0;
    }
    run(s, &f, NFR); /* warm-up */
    cs_bench_count_allocs(true);
    for (i = 0; i < RUNS; i++) {
        r[i] = run(s, &f, NFR);
        m[i] = run_memcpy(NFR);
    }
    cs_bench_count_allocs(false);
    printf("producer frame path, %d frames of %.1f KB average (720p-like H.264), 8 MiB store:\n",
           NFR, (double)total / NFR / 1000.0);
    printf("  sizes + reserve + header + convert + commit + peek/skip/ack: %8.0f ns/frame\n",
           cs_bench_median(r, RUNS));
    printf("  plain memcpy of the same frames (baseline):                  %8.0f ns/frame\n",
           cs_bench_median(m, RUNS));
    if (cs_bench_allocs_counted()) {
        printf("  heap allocations while writing:                              %zu\n",
               cs_bench_allocs());
    }
    csi_cstore_destroy(&s);
    for (i = 0; i < NFR; i++) {
        free(frames[i]);
    }
    return cs_bench_allocs() == 0 ? 0 : 1;
}
