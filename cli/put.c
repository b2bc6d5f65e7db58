/* SPDX-License-Identifier: Apache-2.0 */
/* camstream put: streams a media file to a stream with the producer SDK, in real time (paced by
 * the file's timestamps) or as fast as the server takes it (--fast), with a progress line, and
 * exits 0 only when every frame was PERSISTED. Raw H.264/H.265 Annex-B files are split into
 * access units here (every build); MKV, MP4 and whatever else GStreamer demuxes go through
 * `filesrc ! parsebin ! h264parse/h265parse ! appsink` in builds with GStreamer
 * (CS_PUT_GSTREAMER). The first H.264/H.265 video track is streamed; other tracks are ignored
 * (said on stderr). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "annexb_au.h"
#include "camstream/producer.h"
#include "put.h"

#ifdef CS_PUT_GSTREAMER
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#endif

#define SLICE_MS 100u

struct opts {
    const char *file, *stream, *endpoint, *region;
    const char *access_key, *secret_key, *credentials_file, *profile;
    const char *codec; /* raw files: "h264", "h265" or NULL (sniffed) */
    bool fast, create, progress, no_audio;
    unsigned retention_hours, store_mib, timeout_s, fps;
    uint64_t start_ms; /* 0: now */
};

/* One frame read from the file; data borrowed until the next read. */
struct frame {
    const uint8_t *data;
    size_t size;
    uint64_t pts_ns, dts_ns; /* file time */
    bool key;
};

#ifdef CS_PUT_GSTREAMER
/* One track of a container, read from its appsink. */
struct gtrack {
    GstElement *sink;
    GstSample *sample; /* the last one handed out, mapped until the next pull */
    GstMapInfo info;
    bool mapped, linked;
    cs_mkv_codec codec;
    GstBuffer *cp; /* codec_data of the caps (H.264/H.265: avcC/hvcC; AAC: AudioSpecificConfig) */
    guint width, height, rate, channels;
};
#endif

/* Where frames come from. */
struct source {
    bool gst;
    cs_mkv_codec codec;
    /* raw Annex-B: the mapped file */
    const uint8_t *map;
    size_t map_len;
    uint64_t index;
    cli_au_reader au;
#ifdef CS_PUT_GSTREAMER
    GstElement *pipeline;
    struct gtrack v, a; /* the video track, the audio track (when the file has one we take) */
    bool no_audio;
#endif
};

/* What the SDK's callbacks saw (they run on its I/O thread). */
struct shared {
    cs_mutex lock;
    char last_error[512];
    bool fatal;
    cs_status fatal_status;
    int fatal_http;
    uint64_t dropped_frames;
};

static int put_fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "camstream put: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return 1;
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: camstream put FILE --stream NAME [options]\n"
            "\n"
            "Streams the video of FILE to the stream NAME with the producer SDK and waits until\n"
            "every fragment is PERSISTED. FILE: a raw H.264/H.265 (Annex-B) file%s.\n"
            "The first H.264/H.265 video track is streamed, with the first AAC or G.711 audio\n"
            "track of a container (--no-audio: without); other tracks are ignored.\n"
            "\n"
            "  -s, --stream NAME        the stream (required)\n"
            "  --fast                   as fast as the server takes it (default: real time,\n"
            "                           paced by the file's timestamps)\n"
            "  --create                 create the stream if it does not exist\n"
            "  --no-audio               only the video track\n"
            "  --retention-hours N      retention of a stream made by --create (default 24)\n"
            "  --start-time EPOCH_MS    producer time of the file's first frame (default: now)\n"
            "  --fps N                  raw files: frames per second (default 30)\n"
            "  --codec h264|h265        raw files: the codec (default: from the first NAL unit)\n"
            "  --progress               the progress line on stderr even when it is not a\n"
            "                           terminal (default: only on a terminal)\n"
            "  --no-progress            no progress line\n"
            "  --store-mib N            the producer's content store (default 32); when full,\n"
            "                           put waits for the server\n"
            "  --timeout SECONDS        longest wait for the last PERSISTED ack (default 60)\n"
            "  --endpoint URL           server (default: camstream's --endpoint)\n"
            "  --region R               SigV4 region (default: camstream's --region)\n"
            "  --access-key K, --secret-key S\n"
            "                           credentials (default: AWS_ACCESS_KEY_ID and\n"
            "                           AWS_SECRET_ACCESS_KEY, else the credentials file)\n"
            "  --credentials-file PATH  shared credentials file (default ~/.aws/credentials)\n"
            "  --profile P              its section (default $AWS_PROFILE, else default)\n"
            "\n"
            "Exit status: 0 when every frame was PERSISTED; 1 otherwise (the reason on stderr);\n"
            "2 for a usage error.\n",
#ifdef CS_PUT_GSTREAMER
            ", or MKV, MP4 or any container GStreamer demuxes"
#else
            " (this build has no GStreamer: no MKV/MP4)"
#endif
    );
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---------------------------------------------------------------------------------------------- */
/* Raw Annex-B: access units                                                                      */
/* ---------------------------------------------------------------------------------------------- */

static int raw_open(struct source *src, const struct opts *o, int fd, size_t len)
{
    void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    cs_mkv_codec codec;
    if (m == MAP_FAILED) {
        return put_fail("cannot read %s: %s", o->file, strerror(errno));
    }
    src->map = m;
    src->map_len = len;
    if (o->codec != NULL) {
        codec = strcmp(o->codec, "h265") == 0 ? CS_MKV_CODEC_ID_H265 : CS_MKV_CODEC_ID_H264;
    } else {
        codec = cli_au_sniff_codec(src->map, len);
    }
    cli_au_init(&src->au, codec, src->map, len);
    src->codec = src->au.codec;
    return 0;
}

/* The next access unit (cli/annexb_au.c); a raw file has no timestamps: frame n is at n/fps. */
static int raw_next(struct source *src, const struct opts *o, struct frame *f, bool *end)
{
    if (cli_au_next(&src->au, &f->data, &f->size, &f->key) != CS_OK) {
        return put_fail("%s: not a valid Annex-B stream at byte %zu", o->file, src->au.it.pos);
    }
    *end = f->size == 0;
    f->pts_ns = src->index * 1000000000u / o->fps;
    f->dts_ns = f->pts_ns;
    src->index++;
    return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* GStreamer: any container                                                                       */
/* ---------------------------------------------------------------------------------------------- */

#ifdef CS_PUT_GSTREAMER
#define AUDIO_CAPS "audio/mpeg, mpegversion=4, stream-format=raw; audio/x-alaw; audio/x-mulaw"

/* An audio track put streams: AAC (raw, as MP4 and Matroska hold it) or G.711. */
static bool audio_taken(GstCaps *caps)
{
    GstCaps *want = gst_caps_from_string(AUDIO_CAPS);
    bool ok = gst_caps_can_intersect(caps, want);
    gst_caps_unref(want);
    return ok;
}

/* A demuxer's pad: the first H.264/H.265 one goes to the video appsink (through a parser only
 * when its caps are not already avc/hvc1 access units: a parser would add SPS/PPS to the first
 * frame and the frames would no longer be the file's); the first AAC (raw) / G.711 one to the
 * audio appsink, made here; the others to a fakesink. */
static void on_pad_added(GstElement *demux, GstPad *pad, gpointer user)
{
    struct source *src = user;
    GstCaps *caps = gst_pad_get_current_caps(pad), *want;
    const gchar *name;
    GstElement *parse = NULL, *sink;
    GstPad *sinkpad;
    bool video, audio;

    (void)demux;
    if (caps == NULL) {
        caps = gst_pad_query_caps(pad, NULL);
    }
    name = gst_structure_get_name(gst_caps_get_structure(caps, 0));
    video = g_str_equal(name, "video/x-h264") || g_str_equal(name, "video/x-h265");
    audio = g_str_has_prefix(name, "audio/");
    if (!src->v.linked && video) {
        src->v.linked = true;
        src->v.codec =
            g_str_equal(name, "video/x-h264") ? CS_MKV_CODEC_ID_H264 : CS_MKV_CODEC_ID_H265;
        g_object_get(src->v.sink, "caps", &want, NULL);
        if (!gst_caps_can_intersect(caps, want)) {
            parse = gst_element_factory_make(
                src->v.codec == CS_MKV_CODEC_ID_H264 ? "h264parse" : "h265parse", NULL);
        }
        gst_caps_unref(want);
        if (parse != NULL) {
            gst_bin_add(GST_BIN(src->pipeline), parse);
            gst_element_link(parse, src->v.sink);
            gst_element_sync_state_with_parent(parse);
            sinkpad = gst_element_get_static_pad(parse, "sink");
        } else {
            sinkpad = gst_element_get_static_pad(src->v.sink, "sink");
        }
    } else if (!src->a.linked && audio && !src->no_audio && audio_taken(caps) &&
               (sink = gst_element_factory_make("appsink", NULL)) != NULL) {
        /* async=false: a sink added while the pipeline runs must not hold up its state */
        want = gst_caps_from_string(AUDIO_CAPS);
        g_object_set(sink, "caps", want, "sync", FALSE, "async", FALSE, "max-buffers", 256u, "drop",
                     FALSE, NULL);
        gst_caps_unref(want);
        src->a.sink = gst_object_ref(sink);
        src->a.linked = true;
        src->a.codec = g_str_equal(name, "audio/mpeg")     ? CS_MKV_CODEC_ID_AAC
                       : g_str_equal(name, "audio/x-alaw") ? CS_MKV_CODEC_ID_ALAW
                                                           : CS_MKV_CODEC_ID_MULAW;
        gst_bin_add(GST_BIN(src->pipeline), sink);
        gst_element_sync_state_with_parent(sink);
        sinkpad = gst_element_get_static_pad(sink, "sink");
    } else {
        /* Not streamed: a fakesink keeps the demuxer from stopping on a not-linked pad. */
        fprintf(stderr, "camstream put: note: track %s (%s) is not streamed\n", GST_PAD_NAME(pad),
                name);
        sink = gst_element_factory_make("fakesink", NULL);
        g_object_set(sink, "sync", FALSE, "async", FALSE, NULL);
        gst_bin_add(GST_BIN(src->pipeline), sink);
        gst_element_sync_state_with_parent(sink);
        sinkpad = gst_element_get_static_pad(sink, "sink");
    }
    if (gst_pad_link(pad, sinkpad) != GST_PAD_LINK_OK) {
        fprintf(stderr, "camstream put: cannot link %s\n", GST_PAD_NAME(pad));
    }
    gst_object_unref(sinkpad);
    gst_caps_unref(caps);
}

/* typefind knows the container: MP4/MOV and Matroska/WebM get their demuxer (its frames are the
 * file's, byte for byte); anything else parsebin (demuxer and parsers). */
static void on_have_type(GstElement *typefind, guint probability, GstCaps *caps, gpointer user)
{
    struct source *src = user;
    const gchar *name = gst_structure_get_name(gst_caps_get_structure(caps, 0));
    const gchar *factory = "parsebin";
    GstElement *demux;

    (void)probability;
    if (g_str_equal(name, "video/quicktime")) {
        factory = "qtdemux";
    } else if (g_str_equal(name, "video/x-matroska") || g_str_equal(name, "video/webm")) {
        factory = "matroskademux";
    }
    demux = gst_element_factory_make(factory, NULL);
    if (demux == NULL) {
        GST_ELEMENT_ERROR(
            typefind, CORE, MISSING_PLUGIN,
            ("GStreamer's %s is missing (install gstreamer1.0-plugins-good)", factory), (NULL));
        return;
    }
    g_signal_connect(demux, "pad-added", G_CALLBACK(on_pad_added), src);
    gst_bin_add(GST_BIN(src->pipeline), demux);
    gst_element_link(typefind, demux);
    gst_element_sync_state_with_parent(demux);
}

static int gst_open(struct source *src, const struct opts *o)
{
    GstElement *filesrc, *typefind;
    GstCaps *caps;

    src->gst = true;
    src->no_audio = o->no_audio;
    src->pipeline = gst_pipeline_new("put");
    filesrc = gst_element_factory_make("filesrc", NULL);
    typefind = gst_element_factory_make("typefind", NULL);
    src->v.sink = gst_element_factory_make("appsink", NULL);
    if (filesrc == NULL || typefind == NULL || src->v.sink == NULL) {
        if (filesrc != NULL) {
            gst_object_unref(filesrc);
        }
        if (typefind != NULL) {
            gst_object_unref(typefind);
        }
        if (src->v.sink != NULL) {
            gst_object_unref(src->v.sink);
            src->v.sink = NULL;
        }
        return put_fail("GStreamer's filesrc, typefind or appsink is missing (install "
                        "gstreamer1.0-plugins-base)");
    }
    g_object_set(filesrc, "location", o->file, NULL);
    caps = gst_caps_from_string("video/x-h264, stream-format=avc, alignment=au; "
                                "video/x-h265, stream-format=hvc1, alignment=au");
    /* max-buffers: the demuxer waits for us instead of reading the file into memory */
    g_object_set(src->v.sink, "caps", caps, "sync", FALSE, "max-buffers", 64u, "drop", FALSE, NULL);
    gst_caps_unref(caps);
    gst_bin_add_many(GST_BIN(src->pipeline), filesrc, typefind, src->v.sink, NULL);
    gst_element_link(filesrc, typefind);
    g_signal_connect(typefind, "have-type", G_CALLBACK(on_have_type), src);
    /* A failure is also posted on the bus, where gst_next() reads it. */
    (void)gst_element_set_state(src->pipeline, GST_STATE_PLAYING);
    return 0;
}

/* An error on the bus, or EOS: returns 1 (error printed), 0 (nothing), sets *eos. */
static int gst_bus_check(struct source *src, const struct opts *o, bool *eos)
{
    GstBus *bus = gst_element_get_bus(src->pipeline);
    GstMessage *msg;
    int rc = 0;

    while ((msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR | GST_MESSAGE_EOS)) != NULL) {
        if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS) {
            *eos = true;
        } else if (rc == 0) {
            GError *err = NULL;
            gchar *dbg = NULL;
            gst_message_parse_error(msg, &err, &dbg);
            if (err != NULL && err->domain == GST_STREAM_ERROR &&
                (err->code == GST_STREAM_ERROR_TYPE_NOT_FOUND ||
                 err->code == GST_STREAM_ERROR_WRONG_TYPE || err->code == GST_STREAM_ERROR_DEMUX ||
                 err->code == GST_STREAM_ERROR_CODEC_NOT_FOUND)) {
                rc = put_fail("%s is not a media file camstream can read (%s)", o->file,
                              err->message);
            } else {
                rc = put_fail("cannot read %s: %s", o->file, err != NULL ? err->message : "?");
            }
            g_clear_error(&err);
            g_free(dbg);
        }
        gst_message_unref(msg);
    }
    gst_object_unref(bus);
    return rc;
}

static void gst_release(struct gtrack *t)
{
    if (t->mapped) {
        gst_buffer_unmap(gst_sample_get_buffer(t->sample), &t->info);
        t->mapped = false;
    }
    if (t->sample != NULL) {
        gst_sample_unref(t->sample);
        t->sample = NULL;
    }
}

/* The next frame of track t (the previous one of t is released); *end at its end. */
static int gst_next(struct source *src, struct gtrack *t, const struct opts *o, struct frame *f,
                    bool *end, volatile sig_atomic_t *stop)
{
    GstBuffer *buf;
    GstClockTime pts, dts;
    bool video = t == &src->v;

    gst_release(t);
    for (;;) {
        bool eos = false;
        if (gst_bus_check(src, o, &eos) != 0) {
            return 1;
        }
        if (*stop) {
            *end = true;
            return 0;
        }
        t->sample = gst_app_sink_try_pull_sample(GST_APP_SINK(t->sink), 100 * GST_MSECOND);
        if (t->sample != NULL) {
            break;
        }
        if (gst_app_sink_is_eos(GST_APP_SINK(t->sink)) || (eos && !t->linked)) {
            if (!t->linked) {
                return put_fail("%s has no H.264 or H.265 video track", o->file);
            }
            *end = true;
            return 0;
        }
    }
    buf = gst_sample_get_buffer(t->sample);
    if (t->cp == NULL && (video || t->codec == CS_MKV_CODEC_ID_AAC || t->rate == 0)) {
        GstCaps *caps = gst_sample_get_caps(t->sample);
        const GstStructure *st = caps != NULL ? gst_caps_get_structure(caps, 0) : NULL;
        const GValue *cd = st != NULL ? gst_structure_get_value(st, "codec_data") : NULL;
        gint w = 0, h = 0, rate = 0, ch = 0;
        if ((video || t->codec == CS_MKV_CODEC_ID_AAC) &&
            (cd == NULL || !GST_VALUE_HOLDS_BUFFER(cd))) {
            return put_fail("%s: the %s track has no codec configuration (%s)", o->file,
                            video ? "video" : "audio", video ? "avcC/hvcC" : "AAC config");
        }
        if (cd != NULL && GST_VALUE_HOLDS_BUFFER(cd)) {
            t->cp = gst_buffer_ref(gst_value_get_buffer(cd));
        }
        if (st != NULL) {
            gst_structure_get_int(st, "width", &w);
            gst_structure_get_int(st, "height", &h);
            gst_structure_get_int(st, "rate", &rate);
            gst_structure_get_int(st, "channels", &ch);
        }
        t->width = (guint)MAX(w, 0);
        t->height = (guint)MAX(h, 0);
        t->rate = (guint)MAX(rate, 0);
        t->channels = (guint)MAX(ch, 0);
    }
    if (!gst_buffer_map(buf, &t->info, GST_MAP_READ)) {
        return put_fail("cannot map a GStreamer buffer");
    }
    t->mapped = true;
    pts = GST_BUFFER_PTS(buf);
    dts = GST_BUFFER_DTS(buf);
    if (!GST_CLOCK_TIME_IS_VALID(pts)) {
        pts = dts;
    }
    if (!GST_CLOCK_TIME_IS_VALID(dts) || !video) {
        dts = pts;
    }
    if (!GST_CLOCK_TIME_IS_VALID(pts)) {
        return put_fail("%s: a frame without a timestamp", o->file);
    }
    f->data = t->info.data;
    f->size = t->info.size;
    f->pts_ns = pts;
    f->dts_ns = dts;
    f->key = video && !GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
    *end = false;
    return 0;
}
#endif

static void source_close(struct source *src)
{
    if (src->map != NULL) {
        munmap((void *)(uintptr_t)src->map, src->map_len);
        src->map = NULL;
    }
#ifdef CS_PUT_GSTREAMER
    if (src->pipeline != NULL) {
        gst_release(&src->v);
        gst_release(&src->a);
        gst_element_set_state(src->pipeline, GST_STATE_NULL);
        gst_object_unref(src->pipeline);
        src->pipeline = NULL;
    }
    for (int i = 0; i < 2; i++) {
        struct gtrack *t = i == 0 ? &src->v : &src->a;
        if (t->cp != NULL) {
            gst_buffer_unref(t->cp);
            t->cp = NULL;
        }
        if (i == 1 && t->sink != NULL) {
            gst_object_unref(t->sink); /* our reference from on_pad_added */
            t->sink = NULL;
        }
    }
#endif
}

/* The next frame of the video (or audio) track, from the raw file or the container. */
static int next_frame(struct source *src, bool video, const struct opts *o, struct frame *f,
                      bool *end, volatile sig_atomic_t *stop)
{
    if (!src->gst) {
        (void)stop;
        if (!video) {
            *end = true;
            return 0;
        }
        return raw_next(src, o, f, end);
    }
#ifdef CS_PUT_GSTREAMER
    {
        int r = gst_next(src, video ? &src->v : &src->a, o, f, end, stop);
        if (r == 0 && video) {
            src->codec = src->v.codec;
        }
        return r;
    }
#else
    *end = true;
    return 0;
#endif
}

static bool has_audio(const struct source *src)
{
#ifdef CS_PUT_GSTREAMER
    return src->a.linked;
#else
    (void)src;
    return false;
#endif
}

/* ---------------------------------------------------------------------------------------------- */
/* The producer                                                                                   */
/* ---------------------------------------------------------------------------------------------- */

static void on_error(void *ctx, cs_stream *s, cs_status st, int http, uint32_t error_id, bool fatal,
                     const char *message)
{
    struct shared *sh = ctx;
    (void)s;
    (void)error_id;
    cs_mutex_lock(&sh->lock);
    if (http != 0) {
        snprintf(sh->last_error, sizeof(sh->last_error), "%s (%s, HTTP %d)", message,
                 cs_status_str(st), http);
    } else {
        snprintf(sh->last_error, sizeof(sh->last_error), "%s (%s)", message, cs_status_str(st));
    }
    if (fatal && !sh->fatal) {
        sh->fatal = true;
        sh->fatal_status = st;
        sh->fatal_http = http;
    }
    cs_mutex_unlock(&sh->lock);
}

static void on_drop(void *ctx, cs_stream *s, const cs_drop *d)
{
    struct shared *sh = ctx;
    (void)s;
    cs_mutex_lock(&sh->lock);
    sh->dropped_frames += d->frames;
    snprintf(sh->last_error, sizeof(sh->last_error), "%u frames dropped (reason %d, error %u)",
             (unsigned)d->frames, (int)d->reason, (unsigned)d->error_id);
    cs_mutex_unlock(&sh->lock);
}

/* A fatal SDK error as a message that says what to do. */
static int fatal_message(struct shared *sh, const struct opts *o)
{
    int rc;
    cs_mutex_lock(&sh->lock);
    if (sh->fatal_status == CS_E_NOTFOUND || sh->fatal_http == 404) {
        rc = put_fail("the stream '%s' does not exist at %s: create it (camstream streams create "
                      "%s) or add --create",
                      o->stream, o->endpoint, o->stream);
    } else if (sh->fatal_http == 401 || sh->fatal_http == 403 || sh->fatal_status == CS_E_AUTH) {
        rc = put_fail("the server refused the credentials: %s (check --access-key/--secret-key "
                      "or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
                      sh->last_error);
    } else {
        rc = put_fail("the stream stopped: %s", sh->last_error);
    }
    cs_mutex_unlock(&sh->lock);
    return rc;
}

static void progress(const cs_stream_metrics *m, double elapsed, bool tty, bool last)
{
    bool mb = m->bytes_put >= 1000000u;
    fprintf(stderr, "%s%llu frames, %.1f %s, %llu fragments persisted, %.1f s%s", tty ? "\r" : "",
            (unsigned long long)m->frames_put, (double)m->bytes_put / (mb ? 1e6 : 1e3),
            mb ? "MB" : "kB", (unsigned long long)m->fragments_persisted, elapsed,
            tty && !last ? "   " : "\n");
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
        return false;
    }
    *out = v;
    return true;
}

static int parse_args(struct opts *o, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return -1;
        }
        if (strcmp(a, "--fast") == 0) {
            o->fast = true;
            continue;
        }
        if (strcmp(a, "--no-audio") == 0) {
            o->no_audio = true;
            continue;
        }
        if (strcmp(a, "--create") == 0) {
            o->create = true;
            continue;
        }
        if (strcmp(a, "--progress") == 0 || strcmp(a, "--no-progress") == 0) {
            o->progress = strcmp(a, "--progress") == 0;
            continue;
        }
        if (a[0] != '-' || strcmp(a, "-") == 0) {
            if (o->file != NULL) {
                fprintf(stderr, "camstream put: one FILE only (%s and %s; try put --help)\n",
                        o->file, a);
                return 2;
            }
            o->file = a;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "camstream put: %s needs a value (try put --help)\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--stream") == 0 || strcmp(a, "-s") == 0) {
            o->stream = v;
        } else if (strcmp(a, "--endpoint") == 0) {
            o->endpoint = v;
        } else if (strcmp(a, "--region") == 0) {
            o->region = v;
        } else if (strcmp(a, "--access-key") == 0) {
            o->access_key = v;
        } else if (strcmp(a, "--secret-key") == 0) {
            o->secret_key = v;
        } else if (strcmp(a, "--credentials-file") == 0) {
            o->credentials_file = v;
        } else if (strcmp(a, "--profile") == 0) {
            o->profile = v;
        } else if (strcmp(a, "--codec") == 0 &&
                   (strcmp(v, "h264") == 0 || strcmp(v, "h265") == 0)) {
            o->codec = v;
        } else if (strcmp(a, "--start-time") == 0 && parse_u64(v, &n) && n > 0) {
            o->start_ms = n;
        } else if (strcmp(a, "--retention-hours") == 0 && parse_u64(v, &n) && n > 0 && n <= 87600) {
            o->retention_hours = (unsigned)n;
        } else if (strcmp(a, "--store-mib") == 0 && parse_u64(v, &n) && n > 0 && n <= 4096) {
            o->store_mib = (unsigned)n;
        } else if (strcmp(a, "--timeout") == 0 && parse_u64(v, &n) && n > 0 && n <= 86400) {
            o->timeout_s = (unsigned)n;
        } else if (strcmp(a, "--fps") == 0 && parse_u64(v, &n) && n > 0 && n <= 1000) {
            o->fps = (unsigned)n;
        } else {
            fprintf(stderr, "camstream put: bad option %s %s (try put --help)\n", a, v);
            return 2;
        }
    }
    if (o->file == NULL || o->stream == NULL) {
        fprintf(stderr, "camstream put: needs FILE and --stream NAME (try put --help)\n");
        return 2;
    }
    return 0;
}

/* Waits `ns` of file time from `t0`, in slices, unless stopped. */
static void pace(double t0, uint64_t ns, volatile sig_atomic_t *stop)
{
    for (;;) {
        double left = t0 + (double)ns / 1e9 - mono_s();
        struct timespec ts;
        if (left <= 0 || *stop) {
            return;
        }
        if (left > 0.1) {
            left = 0.1;
        }
        ts.tv_sec = 0;
        ts.tv_nsec = (long)(left * 1e9);
        nanosleep(&ts, NULL);
    }
}

int cli_put(const char *endpoint, const char *region, int argc, char **argv,
            volatile sig_atomic_t *stop)
{
    struct opts o;
    struct source src;
    struct shared sh;
    cs_producer_config pc;
    cs_stream_config sc;
    cs_producer *p = NULL;
    cs_stream *s = NULL;
    cs_stream_metrics m;
    struct stat stt;
    uint8_t head[64];
    ssize_t head_len;
    int fd = -1, rc;
    bool tty = isatty(2) != 0, have_origin = false, lock = false;
    uint64_t origin = 0, first_dts = 0, base_ns, frames = 0, refused = 0, pre_key = 0, dropped;
    bool fatal_end;
    double t0, last_progress = 0;
    cs_status st;
    struct frame fv, fa;
    bool have_v = false, have_a = false, v_end = false, a_end = true;
#ifdef CS_PUT_GSTREAMER
    GstMapInfo cpmap, acpmap;
    bool cpmapped = false, acpmapped = false;
#endif

    memset(&o, 0, sizeof(o));
    memset(&fv, 0, sizeof(fv));
    memset(&fa, 0, sizeof(fa));
    memset(&src, 0, sizeof(src));
    memset(&sh, 0, sizeof(sh));
    o.endpoint = endpoint;
    o.region = region;
    o.retention_hours = 24;
    o.store_mib = 32;
    o.timeout_s = 60;
    o.fps = 30;
    o.progress = tty;
    rc = parse_args(&o, argc, argv);
    if (rc != 0) {
        return rc < 0 ? 0 : rc;
    }

    /* The file: a clear message for the usual mistakes before anything else. */
    fd = open(o.file, O_RDONLY);
    if (fd < 0 || fstat(fd, &stt) != 0) {
        rc = put_fail("cannot read %s: %s", o.file, strerror(errno));
        goto out;
    }
    if (!S_ISREG(stt.st_mode) || stt.st_size == 0) {
        rc = put_fail("%s is %s, not a media file", o.file,
                      S_ISREG(stt.st_mode) ? "empty" : "not a regular file");
        goto out;
    }
    head_len = pread(fd, head, sizeof(head), 0);
    if (head_len > 0 && cli_au_looks_annexb(head, (size_t)head_len)) {
        if (raw_open(&src, &o, fd, (size_t)stt.st_size) != 0) {
            rc = 1;
            goto out;
        }
    } else {
#ifdef CS_PUT_GSTREAMER
        gst_init(NULL, NULL);
        if (gst_open(&src, &o) != 0) {
            rc = 1;
            goto out;
        }
#else
        rc = put_fail("%s is not a raw H.264/H.265 (Annex-B) file, the only kind this build "
                      "reads (it was built without GStreamer, which MKV and MP4 need)",
                      o.file);
        goto out;
#endif
    }

    /* The first frame of each track: the codec configuration (containers), and a file that is
     * not media fails here, before anything is sent. */
    if (next_frame(&src, true, &o, &fv, &v_end, stop) != 0 ||
        (src.gst && has_audio(&src) && next_frame(&src, false, &o, &fa, &a_end, stop) != 0)) {
        rc = 1;
        goto out;
    }
    have_v = !v_end;
    have_a = !a_end;
    if (cs_mutex_init(&sh.lock) != CS_OK) {
        rc = put_fail("out of memory");
        goto out;
    }
    lock = true;
    if (!have_v) {
        rc = *stop ? put_fail("interrupted") : put_fail("%s has no frames", o.file);
        goto out;
    }
    cs_producer_config_init(&pc);
    pc.endpoint = o.endpoint;
    pc.region = o.region;
    pc.access_key = o.access_key;
    pc.secret_key = o.secret_key;
    pc.credentials_file = o.credentials_file;
    pc.profile = o.profile;
    st = cs_producer_create(&pc, &p);
    if (st != CS_OK) {
        rc = put_fail("cannot start the producer for %s: %s%s", o.endpoint, cs_status_str(st),
                      st == CS_E_NOTFOUND || st == CS_E_MALFORMED
                          ? " (the credentials file or its profile)"
                          : (st == CS_E_INVAL ? " (is the endpoint an http(s):// URL?)" : ""));
        goto out;
    }
    cs_stream_config_init(&sc);
    sc.name = o.stream;
    sc.create_if_missing = o.create;
    sc.retention_hours = o.retention_hours;
    sc.media_type = src.codec == CS_MKV_CODEC_ID_H265 ? "video/h265" : "video/h264";
    sc.tracks[0].codec = src.codec;
    sc.tracks[0].name = "video";
    sc.track_count = 1;
#ifdef CS_PUT_GSTREAMER
    if (src.v.cp != NULL && gst_buffer_map(src.v.cp, &cpmap, GST_MAP_READ)) {
        cpmapped = true;
        sc.tracks[0].codec_private = cpmap.data;
        sc.tracks[0].codec_private_len = cpmap.size;
        sc.tracks[0].width = src.v.width;
        sc.tracks[0].height = src.v.height;
    }
    if (have_a) {
        cs_track_config *t = &sc.tracks[1];
        t->codec = src.a.codec;
        t->name = "audio";
        t->sampling_rate = src.a.rate;
        t->channels = src.a.channels;
        if (src.a.cp != NULL && gst_buffer_map(src.a.cp, &acpmap, GST_MAP_READ)) {
            acpmapped = true;
            t->codec_private = acpmap.data;
            t->codec_private_len = acpmap.size;
        }
        sc.track_count = 2;
        sc.media_type = src.codec == CS_MKV_CODEC_ID_H265
                            ? (src.a.codec == CS_MKV_CODEC_ID_AAC ? "video/h265,audio/aac"
                                                                  : "video/h265,audio/g711")
                            : (src.a.codec == CS_MKV_CODEC_ID_AAC ? "video/h264,audio/aac"
                                                                  : "video/h264,audio/g711");
    }
#endif
    sc.store_bytes = (size_t)o.store_mib << 20;
    sc.full_policy = CS_FULL_WAIT; /* a file can wait for the server: nothing is evicted */
    sc.full_wait_ms = SLICE_MS;
    sc.callbacks.on_error = on_error;
    sc.callbacks.on_drop = on_drop;
    sc.callbacks.ctx = &sh;
    st = cs_stream_create(p, &sc, &s);
#ifdef CS_PUT_GSTREAMER
    if (cpmapped) {
        gst_buffer_unmap(src.v.cp, &cpmap); /* cs_stream_create copied it */
    }
    if (acpmapped) {
        gst_buffer_unmap(src.a.cp, &acpmap);
    }
#endif
    if (st != CS_OK) {
        rc = put_fail("cannot open the stream '%s': %s%s", o.stream, cs_status_str(st),
                      st == CS_E_INVAL       ? " (a name is 1-256 of a-z A-Z 0-9 _ . -)"
                      : st == CS_E_MALFORMED ? " (the file's codec configuration does not parse)"
                                             : "");
        goto out;
    }

    /* Both tracks in timestamp order (video by DTS; the video first on a tie). */
    base_ns = (o.start_ms != 0 ? o.start_ms : wall_ms()) * 1000000u;
    t0 = mono_s();
    for (;;) {
        struct frame f;
        cs_frame cf = CS_FRAME_INIT;
        bool fatal, video;
        if (*stop) {
            break;
        }
        if ((!have_v && !v_end && next_frame(&src, true, &o, &fv, &v_end, stop) != 0) ||
            (!have_a && !a_end && next_frame(&src, false, &o, &fa, &a_end, stop) != 0)) {
            rc = 1;
            goto out;
        }
        have_v = have_v || !v_end;
        have_a = have_a || !a_end;
        if (*stop || (!have_v && !have_a)) {
            break;
        }
        video = have_v && (!have_a || fv.dts_ns <= fa.pts_ns);
        f = video ? fv : fa; /* its bytes stay mapped until that track's next frame is read */
        if (video) {
            have_v = false;
        } else {
            have_a = false;
        }
        frames++;
        if (!have_origin && (!video || !f.key)) {
            /* A fragment starts with a key frame (KVS skips what comes before one too). */
            pre_key++;
            continue;
        }
        if (!have_origin) {
            /* The first key frame (first in display order too) is at --start-time; with
             * B-frames the first DTS are before it. */
            have_origin = true;
            origin = f.pts_ns;
            first_dts = f.dts_ns;
            if (origin - first_dts > base_ns || first_dts > origin) {
                rc = put_fail("%s: the first frame's timestamps do not fit (PTS %llu, DTS %llu)",
                              o.file, (unsigned long long)f.pts_ns, (unsigned long long)f.dts_ns);
                goto out;
            }
        }
        if (!o.fast) {
            pace(t0, f.dts_ns > first_dts ? f.dts_ns - first_dts : 0, stop);
        }
        cf.data = f.data;
        cf.size = f.size;
        /* base_ns - (origin - first_dts) >= 0 was checked; nothing goes before the first DTS */
        cf.pts_ns = base_ns - origin + (f.pts_ns < first_dts ? first_dts : f.pts_ns);
        cf.dts_ns = base_ns - origin + (f.dts_ns < first_dts ? first_dts : f.dts_ns);
        cf.flags = f.key ? CS_FRAME_KEY : 0;
        cf.track = video ? 1u : 2u;
        cf.format = !video ? CS_FRAME_RAW : src.gst ? CS_FRAME_AVCC : CS_FRAME_ANNEXB;
        do {
            st = cs_stream_put_frame(s, &cf);
            cs_mutex_lock(&sh.lock);
            fatal = sh.fatal;
            cs_mutex_unlock(&sh.lock);
        } while (st == CS_E_TIMEOUT && !fatal && !*stop); /* store full: the server is slow */
        if (fatal) {
            rc = fatal_message(&sh, &o);
            goto out;
        }
        if (st != CS_OK) {
            refused++;
            if (refused == 1) {
                fprintf(stderr, "camstream put: frame %llu refused: %s%s\n",
                        (unsigned long long)frames, cs_status_str(st),
                        st == CS_E_STATE       ? " (before the first key frame with SPS/PPS)"
                        : st == CS_E_MALFORMED ? " (not valid H.264/H.265)"
                        : st == CS_E_INVAL     ? " (its timestamp goes back on its track)"
                                               : "");
            }
        }
        if (o.progress && mono_s() - last_progress >= 0.5) {
            last_progress = mono_s();
            cs_stream_get_metrics(s, &m);
            progress(&m, last_progress - t0, tty, false);
        }
    }

    /* Every fragment PERSISTED (or the reason why not). */
    {
        double deadline = mono_s() + o.timeout_s;
        do {
            st = cs_stream_flush(s, SLICE_MS);
            if (o.progress && mono_s() - last_progress >= 0.5) {
                last_progress = mono_s();
                cs_stream_get_metrics(s, &m);
                progress(&m, last_progress - t0, tty, false);
            }
        } while (st == CS_E_TIMEOUT && mono_s() < deadline && !*stop);
    }
    cs_stream_get_metrics(s, &m);
    if (o.progress) {
        progress(&m, mono_s() - t0, tty, true);
    }
    cs_mutex_lock(&sh.lock);
    fatal_end = sh.fatal;
    dropped = sh.dropped_frames;
    cs_mutex_unlock(&sh.lock);
    if (fatal_end || st == CS_E_STATE) {
        rc = fatal_message(&sh, &o);
    } else if (*stop) {
        rc = put_fail("interrupted after %llu frames; %llu fragments persisted",
                      (unsigned long long)frames, (unsigned long long)m.fragments_persisted);
    } else if (st != CS_OK) {
        cs_mutex_lock(&sh.lock);
        rc = put_fail("not every fragment was PERSISTED within %u s (--timeout); last problem: "
                      "%s; is the server running at %s?",
                      o.timeout_s, sh.last_error[0] ? sh.last_error : "none reported", o.endpoint);
        cs_mutex_unlock(&sh.lock);
    } else if (pre_key != 0 || refused != 0 || dropped != 0 || m.frames_dropped != 0) {
        rc = put_fail("%llu of %llu frames were not stored (%llu before the first key frame, "
                      "%llu refused, %llu dropped)",
                      (unsigned long long)(pre_key + refused + dropped), (unsigned long long)frames,
                      (unsigned long long)pre_key, (unsigned long long)refused,
                      (unsigned long long)dropped);
    } else if (frames == 0) {
        rc = put_fail("%s has no frames", o.file);
    } else {
        fprintf(stderr, "put %s -> %s: %llu frames, %llu bytes, %llu fragments persisted\n", o.file,
                o.stream, (unsigned long long)frames, (unsigned long long)m.bytes_put,
                (unsigned long long)m.fragments_persisted);
        rc = 0;
    }

out:
    cs_stream_destroy(&s);
    cs_producer_destroy(&p);
    source_close(&src);
    if (fd >= 0) {
        close(fd);
    }
    if (lock) {
        cs_mutex_destroy(&sh.lock);
    }
    return rc;
}
