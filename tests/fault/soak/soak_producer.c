/* SPDX-License-Identifier: Apache-2.0 */
/* A producer of the soak (tests/fault/soak/soak.py): streams an Annex-B clip (looped, from a
 * given key frame) in real time, 30 frames/s, with the producer SDK into one stream, until
 * SIGTERM; then flushes (up to --flush-ms), destroys and exits 0. It writes what it did to
 * --out, one line per event, for the soak's invariant checker:
 *   start <base_ns>
 *   put <pts_ns> <key 0|1> <avcc size> <sha256 of the AVCC payload the server must store>
 *   putfail <pts_ns> <status>            the SDK refused the frame: it will never be stored
 *   drop <reason> <first_ts_ns> <last_ts_ns> <frames> <maybe_stored 0|1>   on_drop
 *   error <status> <http> <error_id> <fatal 0|1> <message>                 on_error
 *   end flushed=<0|1> persisted=<PERSISTED acks> errors=<on_error calls>
 * Timestamps are whole milliseconds apart from the base (wall clock at start, whole ms) so the
 * read-back (TimecodeScale 1 ms) gives them back exactly.
 * Usage: soak_producer --endpoint URL --stream NAME --clip PATH --out FILE [--start-frame N]
 *                      [--store-bytes B] [--stale-ms MS] [--flush-ms MS] */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "camstream/auth.h"
#include "camstream/producer.h"
#include "prodtest.h"

#define FRAME_NS 33333333u

static volatile sig_atomic_t stop;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *out;
static unsigned long persisted, errors;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static void on_drop(void *ctx, cs_stream *s, const cs_drop *d)
{
    (void)ctx;
    (void)s;
    pthread_mutex_lock(&out_lock);
    fprintf(out, "drop %d %" PRIu64 " %" PRIu64 " %" PRIu32 " %d\n", (int)d->reason, d->first_ts_ns,
            d->last_ts_ns, d->frames, d->maybe_stored ? 1 : 0);
    fflush(out);
    pthread_mutex_unlock(&out_lock);
}

static void on_error(void *ctx, cs_stream *s, cs_status st, int http, uint32_t error_id, bool fatal,
                     const char *msg)
{
    (void)ctx;
    (void)s;
    pthread_mutex_lock(&out_lock);
    errors++;
    fprintf(out, "error %s %d %" PRIu32 " %d %s\n", cs_status_str(st), http, error_id,
            fatal ? 1 : 0, msg != NULL ? msg : "");
    fflush(out);
    pthread_mutex_unlock(&out_lock);
}

static void on_ack(void *ctx, cs_stream *s, const cs_kvs_ack *a)
{
    (void)ctx;
    (void)s;
    if (a->type == CS_KVS_ACK_PERSISTED) {
        pthread_mutex_lock(&out_lock);
        persisted++;
        pthread_mutex_unlock(&out_lock);
    }
}

int main(int argc, char **argv)
{
    const char *endpoint = NULL, *stream = NULL, *clip_path = NULL, *out_path = NULL;
    size_t start_frame = 0, store_bytes = 2u << 20;
    uint32_t stale_ms = 5000, flush_ms = 30000;
    pt_clip clip;
    uint8_t *buf, *avcc;
    char(*hex)[2 * CS_SHA256_SIZE + 1];
    size_t *avcc_len;
    cs_producer_config pc;
    cs_producer *p = NULL;
    cs_stream_config sc;
    cs_stream *s = NULL;
    struct sigaction sa;
    uint64_t base_ns, t0;
    cs_status st;
    int flushed;

    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--endpoint") == 0) {
            endpoint = v;
        } else if (strcmp(a, "--stream") == 0) {
            stream = v;
        } else if (strcmp(a, "--clip") == 0) {
            clip_path = v;
        } else if (strcmp(a, "--out") == 0) {
            out_path = v;
        } else if (strcmp(a, "--start-frame") == 0) {
            start_frame = strtoul(v, NULL, 10);
        } else if (strcmp(a, "--store-bytes") == 0) {
            store_bytes = strtoul(v, NULL, 10);
        } else if (strcmp(a, "--stale-ms") == 0) {
            stale_ms = (uint32_t)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--flush-ms") == 0) {
            flush_ms = (uint32_t)strtoul(v, NULL, 10);
        } else {
            fprintf(stderr, "soak_producer: unknown option %s\n", a);
            return 2;
        }
    }
    if (endpoint == NULL || stream == NULL || clip_path == NULL || out_path == NULL) {
        fprintf(stderr, "usage: soak_producer --endpoint URL --stream NAME --clip PATH --out FILE "
                        "[--start-frame N] [--store-bytes B] [--stale-ms MS] [--flush-ms MS]\n");
        return 2;
    }
    if (pt_clip_open(clip_path, &clip) != 0 || clip.count == 0) {
        fprintf(stderr, "soak_producer: cannot read the clip %s\n", clip_path);
        return 1;
    }
    out = fopen(out_path, "w");
    buf = malloc(clip.max_frame);
    avcc = malloc(clip.max_frame + 64);
    hex = calloc(clip.count, sizeof(*hex));
    avcc_len = calloc(clip.count, sizeof(*avcc_len));
    if (out == NULL || buf == NULL || avcc == NULL || hex == NULL || avcc_len == NULL) {
        fprintf(stderr, "soak_producer: out of memory or cannot write %s\n", out_path);
        return 1;
    }
    /* what the server must store for each clip frame: the reference AVCC conversion */
    for (size_t i = 0; i < clip.count; i++) {
        uint8_t md[CS_SHA256_SIZE];
        size_t len = pt_clip_read(&clip, i, buf), hl;
        avcc_len[i] = pt_annexb_to_avcc(buf, len, NULL);
        if (avcc_len[i] > clip.max_frame + 64) {
            fprintf(stderr, "soak_producer: frame %zu grows in conversion\n", i);
            return 1;
        }
        pt_annexb_to_avcc(buf, len, avcc);
        cs_sha256(avcc, avcc_len[i], md);
        cs_hex_encode(md, sizeof(md), hex[i], sizeof(hex[i]), &hl);
    }
    while (start_frame >= clip.count || !clip.frames[start_frame].key) {
        start_frame = start_frame >= clip.count ? 0 : start_frame + 1;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    cs_producer_config_init(&pc);
    pc.endpoint = endpoint;
    pc.access_key = PT_AK;
    pc.secret_key = PT_SK;
    pc.use_environment = false;
    pc.backoff_max_ms = 2000;
    pc.connect_timeout_ms = 3000;
    pc.stale_timeout_ms = stale_ms;
    st = cs_producer_create(&pc, &p);
    if (st != CS_OK) {
        fprintf(stderr, "soak_producer: cs_producer_create: %s\n", cs_status_str(st));
        return 1;
    }
    cs_stream_config_init(&sc);
    sc.name = stream;
    sc.tracks[0].codec = CS_MKV_CODEC_ID_H264;
    sc.track_count = 1;
    sc.store_bytes = store_bytes;
    sc.callbacks.on_drop = on_drop;
    sc.callbacks.on_error = on_error;
    sc.callbacks.on_ack = on_ack;
    st = cs_stream_create(p, &sc, &s);
    if (st != CS_OK) {
        fprintf(stderr, "soak_producer: cs_stream_create: %s\n", cs_status_str(st));
        cs_producer_destroy(&p);
        return 1;
    }

    base_ns = pt_wall_ns() / 1000000u * 1000000u;
    t0 = pt_mono_ns();
    pthread_mutex_lock(&out_lock);
    fprintf(out, "start %" PRIu64 "\n", base_ns);
    fflush(out);
    pthread_mutex_unlock(&out_lock);
    for (uint64_t n = 0; !stop; n++) {
        size_t idx = (size_t)((start_frame + n) % clip.count);
        cs_frame f = CS_FRAME_INIT;
        /* whole ms, so the read-back (1 ms TimecodeScale) gives the same number */
        uint64_t pts = base_ns + (n * FRAME_NS) / 1000000u * 1000000u;
        size_t len = pt_clip_read(&clip, idx, buf);
        pt_sleep_until(t0 + n * FRAME_NS);
        if (stop) {
            break;
        }
        f.data = buf;
        f.size = len;
        f.pts_ns = f.dts_ns = pts;
        f.duration_ns = FRAME_NS;
        f.flags = clip.frames[idx].key ? CS_FRAME_KEY : 0;
        f.format = CS_FRAME_ANNEXB;
        st = cs_stream_put_frame(s, &f);
        pthread_mutex_lock(&out_lock);
        if (st == CS_OK) {
            fprintf(out, "put %" PRIu64 " %d %zu %s\n", pts, clip.frames[idx].key ? 1 : 0,
                    avcc_len[idx], hex[idx]);
        } else {
            fprintf(out, "putfail %" PRIu64 " %s\n", pts, cs_status_str(st));
        }
        fflush(out);
        pthread_mutex_unlock(&out_lock);
    }
    flushed = cs_stream_flush(s, flush_ms) == CS_OK;
    cs_stream_destroy(&s);
    cs_producer_destroy(&p);
    fprintf(out, "end flushed=%d persisted=%lu errors=%lu\n", flushed, persisted, errors);
    fclose(out);
    free(buf);
    free(avcc);
    free(hex);
    free(avcc_len);
    pt_clip_close(&clip);
    return 0;
}
