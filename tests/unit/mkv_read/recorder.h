/* SPDX-License-Identifier: Apache-2.0 */
/* Test helper for the MKV reader: runs a stream through the reader cut into chunks of a given
 * size and records each event as one line of text. Frame lines are written when the frame is
 * complete and carry its bytes, so the lines do not depend on how frame data was split into
 * pieces: every chunking of a stream must give the same lines. */
#ifndef CS_MKV_READ_RECORDER_H
#define CS_MKV_READ_RECORDER_H

#include <stddef.h>
#include <stdint.h>

#include "camstream/mkv.h"

#define REC_MAX_LINES 512
#define REC_LINE 200

typedef struct rec_frame {
    uint64_t track;
    int64_t timecode;
    bool key;
    uint64_t size;
    uint64_t block_data_offset; /* data offset of the SimpleBlock/Block element */
    unsigned frame_index;
    unsigned frame_count;
    uint64_t duration;     /* BlockDuration, 0 when absent */
    uint64_t frame_offset; /* absolute offset of the frame's bytes */
    uint64_t hash;         /* FNV-1a of the frame's bytes as delivered in pieces */
} rec_frame;

/** FNV-1a, continued from `h` (start with REC_FNV_INIT). */
#define REC_FNV_INIT 0xcbf29ce484222325ull
uint64_t rec_fnv(uint64_t h, const uint8_t *p, size_t n);

typedef struct rec {
    char lines[REC_MAX_LINES][REC_LINE];
    size_t n_lines;
    size_t n_data_events; /* FRAME_DATA events seen */
    /* the frame being assembled */
    uint8_t frame[64];
    uint64_t frame_have;
    uint64_t frame_size;
    char frame_line[REC_LINE];
    /* optional: every frame, for the oracle (key flags final at BLOCK_END) */
    rec_frame *frames;
    size_t n_frames;
    size_t cap_frames;
    size_t block_first_frame; /* index in frames of the current block's first frame */
    uint64_t track_numbers[16];
    uint64_t track_default_duration_ns[16];
    int track_types[16];
    size_t n_tracks;
    /* what the run ended with */
    cs_status status;
    uint64_t error_offset;
    char error[160];
    bool keep_lines;
    bool no_data; /* config frame_data false: frames are complete at their FRAME event */
} rec;

/** Resets `r`; `frames` (may be NULL) receives every frame up to `cap`. */
void rec_init(rec *r, rec_frame *frames, size_t cap, bool keep_lines);

/** Feeds `len` bytes in chunks of `chunk` (0 = all at once) through cs_mkv_reader_next(), then
 * cs_mkv_reader_end(). Returns the first error (also in r->status). */
cs_status rec_run(rec *r, const cs_mkv_reader_config *cfg, const uint8_t *data, size_t len,
                  size_t chunk);

#endif
