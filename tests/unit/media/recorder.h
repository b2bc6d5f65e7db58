/* SPDX-License-Identifier: Apache-2.0 */
/* A cs_media sink for tests: logs every callback as a text line, keeps every fragment's bytes
 * (concatenated, with each fragment's start) and the last session header, so two runs can be
 * compared byte for byte and fragments written out for ffprobe. */
#ifndef CS_TEST_MEDIA_RECORDER_H
#define CS_TEST_MEDIA_RECORDER_H

#include <stddef.h>
#include <stdint.h>

#include "media.h"

#define REC_MAX_FRAGS 512

typedef struct rec_frag {
    uint64_t index;
    size_t data_start; /* into rec.data */
    size_t data_len;
    bool complete;
    cs_media_fragment final; /* as at fragment_end (pointers cleared) */
    size_t header_start;     /* the session header of this fragment, into rec.headers */
    size_t header_len;
    char tag0[400]; /* "name=value" of the first tag */
} rec_frag;

typedef struct rec {
    char *log;
    size_t log_len, log_cap;
    uint8_t *data;
    size_t data_len, data_cap;
    uint8_t *headers;
    size_t headers_len, headers_cap;
    size_t cur_header_start, cur_header_len;
    rec_frag frags[REC_MAX_FRAGS];
    size_t nfrags;
    size_t sessions;
    uint32_t errors[64];
    bool fatal[64];
    bool begun[64];
    size_t nerrors;
    cs_status fail_status; /* returned by the callback number fail_at (1-based; 0 = never) */
    size_t fail_at;
    size_t calls;
} rec;

void rec_init(rec *r);
void rec_free(rec *r);
void rec_sink(rec *r, cs_media_sink *sink);
rec_frag *rec_find(rec *r, uint64_t index);
/* Feeds `len` bytes in chunks of `chunk` (0 = all at once) then finishes; returns the first
 * non-OK status. */
cs_status rec_run(rec *r, const cs_media_config *cfg, const uint8_t *p, size_t len, size_t chunk);

#endif
