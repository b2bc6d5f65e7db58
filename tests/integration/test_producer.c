/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration test of the producer SDK against the real camstream-ingest (loopback, a temporary
 * data dir, SigV4 with the documentation key pair). The input is the first 10 s (300 frames) of
 * the benchmark clip of issue 5 (GStreamer videotestsrc -> x264enc, Annex-B, split at the access
 * unit delimiters), put frame by frame in real time through cs_producer/cs_stream, then
 * cs_stream_flush. Then the server is read back twice, with the consumer SDK (its own MKV
 * parser): GetMedia EARLIEST (the server ends it when idle) and listFragments +
 * getMediaForFragmentList. Checks, per frame: it arrived exactly once, or the producer reported
 * it dropped (on_drop) and it is not on the server; what arrived is byte-identical to an
 * independent Annex-B -> AVCC conversion of the input (tests/util/prodtest.c), with the same
 * timestamp (ms, the MKV's precision) and key flag; no two stored fragments share a producer
 * timestamp. Modes:
 *   roundtrip  no fault: nothing may be dropped, every frame arrives.
 *   kill       the server is killed with SIGKILL at frame 100 and restarted 2 s later on the same
 *              port and data dir.
 *   proxy      through the loopback fault proxy (tests/util/cs_proxy.c), stale timeout 3 s: every
 *              connection cut after 700 KB upstream during frames 0-179 (a fragment is ~500 KB),
 *              all connections reset at frames 200 and 230, a 6 s stall (longer than the stale
 *              timeout) at 250.
 *   bframes    no fault, a clip WITH B-frames (x264enc bframes=2, open GOP: tests/util/prodtest.h
 *              pt_clip_make_bframes), put in decode order with GStreamer's PTS and DTS: every
 *              frame arrives byte-identical with its PTS, including the B-frames after a key
 *              frame that show before it (negative block timecodes in its cluster).
 * Prints what the producer reported (drops, metrics) next to what the server has.
 * Usage: test_producer MODE PATH/TO/camstream-ingest CLIP_CACHE_DIR. Exit 77: skipped.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "camstream/consumer.h"
#include "camstream/producer.h"
#include "cs_proxy.h"
#include "prodtest.h"

#define NFRAMES 300
#define MAX_DROPS 256
#define FRAME_NS 33333333ull

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        bool ok_ = (cond);                                                                         \
        printf("%s ", ok_ ? "ok  " : "FAIL");                                                      \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        fflush(stdout);                                                                            \
        if (!ok_) {                                                                                \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* What the producer told us. */
struct report {
    pthread_mutex_t lock;
    cs_drop drops[MAX_DROPS];
    size_t n_drops;
    unsigned errors, fatal;
    unsigned persisted;
};

static void on_drop(void *ctx, cs_stream *s, const cs_drop *d)
{
    struct report *r = ctx;
    (void)s;
    pthread_mutex_lock(&r->lock);
    if (r->n_drops < MAX_DROPS) {
        r->drops[r->n_drops] = *d;
    }
    r->n_drops++;
    pthread_mutex_unlock(&r->lock);
    printf("     on_drop reason %d frames %" PRIu32 " ts %" PRIu64 "..%" PRIu64 " bytes %zu\n",
           (int)d->reason, d->frames, d->first_ts_ns, d->last_ts_ns, d->bytes);
}

static void on_error(void *ctx, cs_stream *s, cs_status st, int http, uint32_t error_id, bool fatal,
                     const char *msg)
{
    struct report *r = ctx;
    (void)s;
    pthread_mutex_lock(&r->lock);
    r->errors++;
    r->fatal += fatal;
    pthread_mutex_unlock(&r->lock);
    printf("     on_error %s http %d error_id %" PRIu32 "%s: %s\n", cs_status_str(st), http,
           error_id, fatal ? " FATAL" : "", msg != NULL ? msg : "");
}

static void on_ack(void *ctx, cs_stream *s, const cs_kvs_ack *a)
{
    struct report *r = ctx;
    (void)s;
    if (a->type == CS_KVS_ACK_PERSISTED) {
        pthread_mutex_lock(&r->lock);
        r->persisted++;
        pthread_mutex_unlock(&r->lock);
    }
}

/* The input and its expected read-back. */
struct expect {
    uint64_t ts_ns[NFRAMES];
    uint64_t dts_ns[NFRAMES];
    uint8_t *avcc[NFRAMES];
    size_t avcc_len[NFRAMES];
    bool key[NFRAMES];
    unsigned seen_gm[NFRAMES];   /* GetMedia EARLIEST */
    unsigned seen_list[NFRAMES]; /* getMediaForFragmentList */
    bool dropped[NFRAMES];
    bool put_failed[NFRAMES];
};

static long frame_of(const struct expect *e, int64_t ts_ns)
{
    /* timestamps come back in ms (TimecodeScale 1 ms, truncated) */
    for (long i = 0; i < NFRAMES; i++) {
        if ((int64_t)(e->ts_ns[i] / 1000000u) * 1000000 == ts_ns) {
            return i;
        }
    }
    return -1;
}

/* Reads what the consumer delivers; counts each frame into `seen`. */
static int read_back(cs_consumer_config *cc, struct expect *e, unsigned *seen, const char *what)
{
    cs_consumer *c = NULL;
    cs_status st = cs_consumer_open(cc, &c);
    unsigned frames = 0, bad = 0, unknown = 0, fragments = 0;
    if (st != CS_OK) {
        CHECK(false, "%s: open: %s (%s)", what, cs_status_str(st), c ? cs_consumer_error(c) : "");
        cs_consumer_close(&c);
        return -1;
    }
    for (;;) {
        cs_gm_event ev;
        st = cs_consumer_next(c, 30000, &ev);
        if (st != CS_OK || ev.type == CS_GM_EV_END) {
            break;
        }
        if (ev.type == CS_GM_EV_FRAGMENT_START) {
            fragments++;
        } else if (ev.type == CS_GM_EV_FRAME) {
            long i = frame_of(e, ev.frame.timestamp_ns);
            frames++;
            if (i < 0) {
                unknown++;
                continue;
            }
            seen[i]++;
            if (ev.frame.size != e->avcc_len[i] ||
                memcmp(ev.frame.data, e->avcc[i], e->avcc_len[i]) != 0 ||
                ev.frame.key != e->key[i]) {
                if (bad++ < 5) {
                    printf("     %s: frame %ld differs (size %zu vs %zu, key %d vs %d)\n", what, i,
                           ev.frame.size, e->avcc_len[i], ev.frame.key, e->key[i]);
                }
            }
        } else if (ev.type == CS_GM_EV_ERROR) {
            printf("     %s: server error %" PRIu32 " %s\n", what, ev.error.id, ev.error.code);
        }
    }
    CHECK(st == CS_OK, "%s: the response ended cleanly (%s %s)", what, cs_status_str(st),
          cs_consumer_error(c));
    CHECK(bad == 0 && unknown == 0,
          "%s: %u frames in %u fragments, all byte-identical with their timestamp and key flag "
          "(%u differ, %u with a timestamp that was never put)",
          what, frames, fragments, bad, unknown);
    cs_consumer_close(&c);
    return 0;
}

/* listFragments (all pages), sorted by producer timestamp; returns the count. */
static size_t list_fragments(cs_consumer_config *cc, const char *stream, char ***numbers,
                             uint64_t **ptimes)
{
    static char body[1 << 20];
    char req[8192], token[4096] = "";
    size_t n = 0, cap = 0;
    *numbers = NULL;
    *ptimes = NULL;
    for (;;) {
        cs_kvs_result res;
        const char *p;
        if (token[0] != '\0') {
            snprintf(req, sizeof(req),
                     "{\"StreamName\":\"%s\",\"MaxResults\":1000,\"NextToken\":\"%s\"}", stream,
                     token);
        } else {
            snprintf(req, sizeof(req), "{\"StreamName\":\"%s\",\"MaxResults\":1000}", stream);
        }
        if (cs_kvs_call(cc, "/listFragments", req, body, sizeof(body), &res) != CS_OK ||
            res.http_status != 200) {
            CHECK(false, "listFragments: HTTP %d %s", res.http_status, res.error_type);
            return n;
        }
        for (p = body; (p = strstr(p, "\"FragmentNumber\":\"")) != NULL;) {
            const char *q, *t;
            p += 18;
            q = strchr(p, '"');
            if (q == NULL) {
                break;
            }
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                *numbers = realloc(*numbers, cap * sizeof(**numbers));
                *ptimes = realloc(*ptimes, cap * sizeof(**ptimes));
            }
            (*numbers)[n] = strndup(p, (size_t)(q - p));
            /* ProducerTimestamp of the same object: the next one after the number */
            t = strstr(q, "\"ProducerTimestamp\":");
            (*ptimes)[n] = t != NULL ? (uint64_t)(strtod(t + 20, NULL) * 1000.0 + 0.5) : 0;
            n++;
        }
        p = strstr(body, "\"NextToken\":\"");
        if (p == NULL) {
            break;
        }
        p += 13;
        snprintf(token, sizeof(token), "%.*s", (int)(strchr(p, '"') - p), p);
    }
    /* sort by producer timestamp (insertion sort: a few hundred at most) */
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && (*ptimes)[j - 1] > (*ptimes)[j]; j--) {
            uint64_t t = (*ptimes)[j];
            char *s = (*numbers)[j];
            (*ptimes)[j] = (*ptimes)[j - 1];
            (*numbers)[j] = (*numbers)[j - 1];
            (*ptimes)[j - 1] = t;
            (*numbers)[j - 1] = s;
        }
    }
    return n;
}

/* The sample program streams the clip; its first frame's timestamp (whole ms, from its wall
 * clock) comes from the server's earliest fragment, the others follow at 1/30 s. */
static void run_sample(const char *sample, const char *url, const char *clip_path,
                       const char *stream, const pt_clip *clip, struct expect *e)
{
    static uint8_t buf[4 << 20];
    char cmd[4096];
    cs_consumer_config cc;
    char **numbers;
    uint64_t *ptimes;
    size_t n;
    int rc;

    setenv("AWS_ACCESS_KEY_ID", PT_AK, 1);
    setenv("AWS_SECRET_ACCESS_KEY", PT_SK, 1);
    snprintf(cmd, sizeof(cmd), "'%s' --endpoint %s --fps 30 '%s' %s", sample, url, clip_path,
             stream);
    rc = system(cmd);
    CHECK(rc == 0, "%s: exit status %d", cmd, rc);
    cs_consumer_config_init(&cc);
    cc.endpoint = url;
    cc.access_key = PT_AK;
    cc.secret_key = PT_SK;
    n = list_fragments(&cc, stream, &numbers, &ptimes);
    for (size_t i = 0; i < NFRAMES; i++) {
        size_t len = pt_clip_read(clip, i, buf);
        e->ts_ns[i] = (n > 0 ? ptimes[0] * 1000000u : 0) + i * FRAME_NS;
        e->key[i] = clip->frames[i].key;
        e->avcc_len[i] = pt_annexb_to_avcc(buf, len, NULL);
        e->avcc[i] = malloc(e->avcc_len[i]);
        pt_annexb_to_avcc(buf, len, e->avcc[i]);
    }
    for (size_t i = 0; i < n; i++) {
        free(numbers[i]);
    }
    free(numbers);
    free(ptimes);
}

/* The B-frame clip's timestamps (bframes mode), relative to its first PTS, in decode order. */
static struct {
    int64_t pts[NFRAMES], dts[NFRAMES];
    bool key[NFRAMES];
    size_t before_key;
} bfr;

/* The server is stopped on every way out, also the early failures. */
static pt_server *g_server;

static void stop_server_at_exit(void)
{
    if (g_server != NULL) {
        pt_server_stop(g_server, SIGKILL);
    }
}

int main(int argc, char **argv)
{
    const char *mode, *bin, *cache;
    bool bframes;
    char clip_path[1024], data_dir[1024], log_path[1100], stream[64];
    static struct expect e;
    static struct report rep;
    static uint8_t buf[4 << 20];
    pt_clip clip;
    pt_server sv;
    cs_proxy *proxy = NULL;
    cs_producer_config pc;
    cs_producer *p = NULL;
    cs_stream_config sc;
    cs_stream *s = NULL;
    cs_stream_metrics m;
    cs_consumer_config cc;
    const char *gm_flags[] = {"--getmedia-idle-seconds", "3", NULL};
    char endpoint[128];
    uint64_t t0, base_ns;
    cs_status st;
    int rc;

    if (argc != 4 && !(argc == 5 && strcmp(argv[1], "sample") == 0)) {
        fprintf(stderr,
                "usage: test_producer roundtrip|kill|proxy|bframes PATH/TO/camstream-ingest "
                "CLIP_CACHE_DIR\n       test_producer sample PATH/TO/camstream-ingest "
                "CLIP_CACHE_DIR PATH/TO/put_frames\n");
        return 2;
    }
    mode = argv[1];
    bin = argv[2];
    cache = argv[3];
    signal(SIGPIPE, SIG_IGN);
    mkdir(cache, 0755); /* may exist already */
    bframes = strcmp(mode, "bframes") == 0;
    snprintf(clip_path, sizeof(clip_path), "%s/producer-clip-%s%d.h264", cache,
             bframes ? "bframes-" : "", NFRAMES);
    rc = bframes ? pt_clip_make_bframes(clip_path, NFRAMES) : pt_clip_make(clip_path, NFRAMES);
    if (rc != 0) {
        return rc;
    }
    if (pt_clip_open(clip_path, &clip) != 0 || clip.count != NFRAMES) {
        fprintf(stderr, "the clip %s has %zu frames, want %d\n", clip_path, clip.count, NFRAMES);
        return 1;
    }
    if (bframes) {
        size_t back = 0;
        if (pt_clip_read_times(clip_path, NFRAMES, bfr.pts, bfr.dts, bfr.key) != 0) {
            fprintf(stderr, "cannot read the timestamps of %s\n", clip_path);
            return 1;
        }
        /* the clip must hold what this mode is about */
        for (size_t i = 1, k = 0; i < NFRAMES; i++) {
            back += bfr.pts[i] < bfr.pts[i - 1];
            if (bfr.key[i]) {
                k = i;
            } else if (k != 0 && bfr.pts[i] < bfr.pts[k]) {
                bfr.before_key++;
            }
        }
        CHECK(back > 0 && bfr.before_key > 0,
              "B-frame clip: %zu frames show before the frame put before them, %zu before their "
              "fragment's key frame",
              back, bfr.before_key);
    }
    printf("clip: %zu frames, %zu bytes, largest %zu\n", clip.count, clip.bytes, clip.max_frame);

    /* the server */
    snprintf(data_dir, sizeof(data_dir), "%s/test_producer_%s.%d", cache, mode, (int)getpid());
    snprintf(log_path, sizeof(log_path), "%s.log", data_dir);
    {
        char cmd[2200];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", data_dir, data_dir);
        if (system(cmd) != 0) {
            return 1;
        }
    }
    if (pt_server_start(bin, data_dir, 0, gm_flags, log_path, &sv) != 0) {
        fprintf(stderr, "cannot start %s\n", bin);
        return 1;
    }
    g_server = &sv;
    atexit(stop_server_at_exit);
    CHECK(true, "server at %s (log %s)", sv.url, log_path);
    snprintf(endpoint, sizeof(endpoint), "%s", sv.url);
    if (strcmp(mode, "proxy") == 0) {
        if (cs_proxy_start(sv.port, &proxy) != 0) {
            CHECK(false, "proxy start");
            return 1;
        }
        snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%u", cs_proxy_port(proxy));
        CHECK(true, "fault proxy at %s", endpoint);
    }

    pthread_mutex_init(&rep.lock, NULL);
    snprintf(stream, sizeof(stream), "prod-%s-%d", mode, (int)getpid());
    if (strcmp(mode, "sample") == 0) {
        run_sample(argv[4], sv.url, clip_path, stream, &clip, &e);
        goto read;
    }

    /* the producer */
    cs_producer_config_init(&pc);
    pc.endpoint = endpoint;
    pc.access_key = PT_AK;
    pc.secret_key = PT_SK;
    pc.use_environment = false;
    pc.backoff_max_ms = 1000;
    if (strcmp(mode, "proxy") == 0) {
        pc.stale_timeout_ms = 3000;
    }
    st = cs_producer_create(&pc, &p);
    CHECK(st == CS_OK, "cs_producer_create: %s", cs_status_str(st));
    if (st != CS_OK) {
        return 1;
    }
    cs_stream_config_init(&sc);
    sc.name = stream;
    sc.tracks[0].codec = CS_MKV_CODEC_ID_H264;
    sc.track_count = 1;
    sc.store_bytes = 4u << 20;
    sc.callbacks.on_drop = on_drop;
    sc.callbacks.on_error = on_error;
    sc.callbacks.on_ack = on_ack;
    sc.callbacks.ctx = &rep;
    st = cs_stream_create(p, &sc, &s);
    CHECK(st == CS_OK, "cs_stream_create %s: %s", stream, cs_status_str(st));
    if (st != CS_OK) {
        return 1;
    }

    /* frame by frame in real time; timestamps: wall clock at start, whole ms, + i/30 s */
    base_ns = pt_wall_ns() / 1000000u * 1000000u;
    t0 = pt_mono_ns();
    for (size_t i = 0; i < NFRAMES; i++) {
        cs_frame f = CS_FRAME_INIT;
        size_t len = pt_clip_read(&clip, i, buf);
        e.ts_ns[i] = base_ns + i * FRAME_NS;
        e.dts_ns[i] = e.ts_ns[i];
        e.key[i] = clip.frames[i].key;
        if (bframes) {
            e.ts_ns[i] = (uint64_t)((int64_t)base_ns + bfr.pts[i]);
            e.dts_ns[i] = (uint64_t)((int64_t)base_ns + bfr.dts[i]);
            e.key[i] = bfr.key[i];
        }
        e.avcc_len[i] = pt_annexb_to_avcc(buf, len, NULL);
        e.avcc[i] = malloc(e.avcc_len[i]);
        pt_annexb_to_avcc(buf, len, e.avcc[i]);
        pt_sleep_until(t0 + i * FRAME_NS);
        if (strcmp(mode, "kill") == 0 && i == 100) {
            pt_server_stop(&sv, SIGKILL);
            CHECK(true, "frame %zu: server killed (SIGKILL)", i);
        }
        if (strcmp(mode, "kill") == 0 && i == 160) {
            rc = pt_server_start(bin, data_dir, sv.port, gm_flags, log_path, &sv);
            CHECK(rc == 0, "frame %zu: server restarted on the same port and data dir: %s", i,
                  sv.url);
        }
        if (proxy != NULL) {
            if (i == 0) {
                cs_proxy_cut_after(proxy, 700000);
            } else if (i == 180) {
                cs_proxy_cut_after(proxy, 0);
            } else if (i == 200 || i == 230) {
                cs_proxy_drop_all(proxy);
            } else if (i == 250) {
                cs_proxy_stall(proxy, 6000);
            }
        }
        f.data = buf;
        f.size = len;
        f.pts_ns = e.ts_ns[i];
        f.dts_ns = e.dts_ns[i];
        f.duration_ns = FRAME_NS;
        f.flags = e.key[i] ? CS_FRAME_KEY : 0;
        st = cs_stream_put_frame(s, &f);
        if (st != CS_OK) {
            e.put_failed[i] = true;
            printf("     put_frame %zu: %s\n", i, cs_status_str(st));
        }
    }
    st = cs_stream_flush(s, 120000);
    CHECK(st == CS_OK, "cs_stream_flush: %s after %.1f s", cs_status_str(st),
          (double)(pt_mono_ns() - t0) / 1e9);
    cs_stream_get_metrics(s, &m);
    printf("     producer: frames put %" PRIu64 ", fragments put %" PRIu64 " persisted %" PRIu64
           ", dropped frames %" PRIu64 " fragments %" PRIu64 ", connections %" PRIu64
           " reconnects %" PRIu64 ", errors net %" PRIu64 " http %" PRIu64 " stale %" PRIu64
           ", bytes stored %" PRIu64 " sent %" PRIu64 "\n",
           m.frames_put, m.fragments_put, m.fragments_persisted, m.frames_dropped,
           m.fragments_dropped, m.connections, m.reconnects, m.errors_network, m.errors_http,
           m.errors_stale, m.bytes_stored, m.bytes_sent);
    if (proxy != NULL) {
        cs_proxy_stats ps;
        cs_proxy_get_stats(proxy, &ps);
        printf("     proxy: %" PRIu64 " connections, %" PRIu64 " cut, %" PRIu64 " reset, %" PRIu64
               " refused, %" PRIu64 " bytes up\n",
               ps.accepted, ps.cut, ps.dropped, ps.refused, ps.bytes_up);
        CHECK(ps.cut >= 1 && ps.dropped >= 1,
              "the proxy cut (%" PRIu64 ") and reset (%" PRIu64 ") connections", ps.cut,
              ps.dropped);
        CHECK(m.reconnects >= 2, "the producer reconnected (%" PRIu64 " times)", m.reconnects);
    }
    if (strcmp(mode, "kill") == 0) {
        CHECK(m.reconnects >= 1, "the producer reconnected (%" PRIu64 " times)", m.reconnects);
    }
    cs_stream_destroy(&s);
    cs_producer_destroy(&p);

    /* the drops the producer reported: frames in [first_ts, last_ts] */
    pthread_mutex_lock(&rep.lock);
    {
        uint64_t reported_frames = 0;
        size_t marked = 0;
        for (size_t k = 0; k < rep.n_drops && k < MAX_DROPS; k++) {
            reported_frames += rep.drops[k].frames;
            for (size_t i = 0; i < NFRAMES; i++) {
                if (e.ts_ns[i] >= rep.drops[k].first_ts_ns &&
                    e.ts_ns[i] <= rep.drops[k].last_ts_ns && !e.dropped[i]) {
                    e.dropped[i] = true;
                    marked++;
                }
            }
        }
        CHECK(reported_frames == marked,
              "%zu drop reports name %" PRIu64 " frames, the frames in their time ranges: %zu",
              rep.n_drops, reported_frames, marked);
        CHECK(rep.fatal == 0, "no fatal error (%u errors reported)", rep.errors);
        if (strcmp(mode, "roundtrip") == 0 || bframes) {
            CHECK(rep.n_drops == 0 && rep.errors == 0,
                  "no fault: nothing dropped (%zu), no error (%u)", rep.n_drops, rep.errors);
        }
    }
    pthread_mutex_unlock(&rep.lock);

read:
    /* read back */
    cs_consumer_config_init(&cc);
    cc.endpoint = sv.url;
    cc.access_key = PT_AK;
    cc.secret_key = PT_SK;
    cc.stream_name = stream;
    cc.start.type = CS_START_EARLIEST;
    cc.follow = false;
    read_back(&cc, &e, e.seen_gm, "GetMedia EARLIEST");
    {
        char **numbers;
        uint64_t *ptimes;
        size_t n = list_fragments(&cc, stream, &numbers, &ptimes), dup = 0;
        for (size_t i = 1; i < n; i++) {
            dup += ptimes[i] == ptimes[i - 1];
        }
        CHECK(n > 0 && dup == 0,
              "listFragments: %zu fragments, %zu with the same producer "
              "timestamp as another",
              n, dup);
        cc.fragments = (const char *const *)numbers;
        cc.fragment_count = n;
        cc.start.type = CS_START_NOW;
        if (n > 0) {
            read_back(&cc, &e, e.seen_list, "getMediaForFragmentList");
        }
        for (size_t i = 0; i < n; i++) {
            free(numbers[i]);
        }
        free(numbers);
        free(ptimes);
    }

    /* per frame: exactly once, or reported */
    {
        unsigned once = 0, twice = 0, missing_unreported = 0, dropped_but_there = 0, dropped = 0;
        unsigned list_mismatch = 0;
        for (size_t i = 0; i < NFRAMES; i++) {
            bool reported = e.dropped[i] || e.put_failed[i];
            dropped += reported;
            if (e.seen_gm[i] != e.seen_list[i]) {
                list_mismatch++;
            }
            if (e.seen_gm[i] == 1 && !reported) {
                once++;
            } else if (e.seen_gm[i] > 1) {
                twice++;
                printf("     frame %zu arrived %u times\n", i, e.seen_gm[i]);
            } else if (e.seen_gm[i] == 0 && !reported) {
                missing_unreported++;
                if (missing_unreported <= 5) {
                    printf("     frame %zu (ts %" PRIu64 ") is missing and was not reported\n", i,
                           e.ts_ns[i]);
                }
            } else if (e.seen_gm[i] == 1 && reported) {
                dropped_but_there++;
                if (dropped_but_there <= 5) {
                    printf("     frame %zu was reported dropped but is on the server\n", i);
                }
            }
        }
        CHECK(twice == 0 && missing_unreported == 0 && dropped_but_there == 0 &&
                  once + dropped == NFRAMES,
              "every frame exactly once (%u) or reported dropped (%u); %u twice, %u missing "
              "unreported, %u reported but stored",
              once, dropped, twice, missing_unreported, dropped_but_there);
        CHECK(list_mismatch == 0,
              "GetMedia EARLIEST and getMediaForFragmentList return the same frames (%u differ)",
              list_mismatch);
        if (strcmp(mode, "roundtrip") == 0 || strcmp(mode, "sample") == 0 ||
            strcmp(mode, "bframes") == 0) {
            CHECK(once == NFRAMES, "no fault: all %d frames arrived", NFRAMES);
        }
    }

    cs_proxy_stop(&proxy);
    rc = pt_server_stop(&sv, SIGTERM);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "server exits 0 on SIGTERM");
    for (size_t i = 0; i < NFRAMES; i++) {
        free(e.avcc[i]);
    }
    pt_clip_close(&clip);
    if (failures == 0) {
        char cmd[2200];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", data_dir, log_path);
        if (system(cmd) != 0) {
            printf("     could not remove %s\n", data_dir);
        }
    }
    printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
