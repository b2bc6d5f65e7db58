/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers for the producer's integration tests and producer_bench: the benchmark clip (made by
 * GStreamer exactly as issue 5 says, cached), its frames (Annex-B access units split at the
 * access unit delimiters x264enc writes, key = holds an IDR slice), an Annex-B -> AVCC conversion
 * written here independently of mkv/ (the reference the read-back is compared with), and the
 * real camstream-ingest as a child process. Plain POSIX; no cmocka. */
#ifndef CS_PRODTEST_H
#define CS_PRODTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/** One frame of a clip: bytes [off, off + len) of the clip file. */
typedef struct pt_frame {
    size_t off;
    size_t len;
    bool key;
} pt_frame;

/** A clip: the Annex-B file and its frames. */
typedef struct pt_clip {
    char path[1024];
    pt_frame *frames; /**< malloc'ed */
    size_t count;
    size_t bytes;     /**< file size */
    size_t max_frame; /**< largest frame */
} pt_clip;

/**
 * Makes (unless `path` already exists and is not empty) the clip with gst-launch-1.0:
 * videotestsrc num-buffers=`frames` pattern=smpte horizontal-speed=4 ! 1280x720 30/1 ! x264enc
 * tune=zerolatency bitrate=2000 key-int-max=60 option-string="scenecut=0" threads=1 ! h264parse !
 * byte-stream,au ! filesink. Returns 0; 77 when GStreamer or x264enc is missing (message on
 * stderr); 1 on failure.
 */
int pt_clip_make(const char *path, unsigned frames);

/**
 * Makes (unless it exists) a clip WITH B-frames: the same source, x264enc without
 * tune=zerolatency, bframes=2, open GOP (so B-frames after a key frame show before it: negative
 * block timecodes), and beside it PATH.ts: one "pts_ns dts_ns key" line per access unit, in
 * file (decode) order, as GStreamer stamped them (identity silent=false), relative to the first
 * PTS (DTS may be negative); key is GStreamer's (no DELTA_UNIT flag: with an open GOP the key
 * frames after the first are recovery-point I-frames, not IDR). Returns 0, 77 or 1.
 */
int pt_clip_make_bframes(const char *path, unsigned frames);

/** Reads PATH.ts (see pt_clip_make_bframes): `n` lines. 0 on success. */
int pt_clip_read_times(const char *path, size_t n, int64_t *pts_ns, int64_t *dts_ns, bool *key);

/** Reads the clip's frame table (the bytes stay in the file). 0 on success. */
int pt_clip_open(const char *path, pt_clip *clip);

/** Frees the frame table. */
void pt_clip_close(pt_clip *clip);

/** Copies frame `i` into `dst` (at least clip->max_frame bytes); returns its length or 0. */
size_t pt_clip_read(const pt_clip *clip, size_t i, uint8_t *dst);

/**
 * The reference conversion: Annex-B (3- or 4-byte start codes) to AVCC with 4-byte lengths,
 * AUDs dropped, trailing zero bytes of each NAL unit dropped, empty NAL units dropped; parameter
 * sets and SEI kept. `dst` NULL: size only. Returns the length.
 */
size_t pt_annexb_to_avcc(const uint8_t *src, size_t len, uint8_t *dst);

/** The ingest server as a child process. */
typedef struct pt_server {
    pid_t pid;
    uint16_t port;
    char url[128]; /**< http://127.0.0.1:PORT */
} pt_server;

/**
 * Starts `bin` on 127.0.0.1:`port` (0: a free one) with `data_dir`, the documentation key pair,
 * and `extra` (NULL-terminated extra argv, may be NULL); stdout's first line gives the URL.
 * The server's stderr goes to `log` (NULL: inherited). A port just freed by a killed server is
 * retried for up to 10 s. Returns 0.
 */
int pt_server_start(const char *bin, const char *data_dir, uint16_t port, const char *const *extra,
                    const char *log, pt_server *sv);

/** Sends `sig` and reaps the child; returns its wait status. */
int pt_server_stop(pt_server *sv, int sig);

/** CLOCK_MONOTONIC / CLOCK_REALTIME in ns. */
uint64_t pt_mono_ns(void);
uint64_t pt_wall_ns(void);

/** Sleeps until CLOCK_MONOTONIC reaches `deadline_ns`. */
void pt_sleep_until(uint64_t deadline_ns);

#define PT_AK "AKIDEXAMPLE"
#define PT_SK "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

#endif
