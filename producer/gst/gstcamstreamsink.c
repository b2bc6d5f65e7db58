/* SPDX-License-Identifier: Apache-2.0 */
/* camstreamsink: a GStreamer sink over the producer SDK (include/camstream/producer.h).
 *
 * Request pads video_%u (H.264 avc or byte-stream, H.265) and audio_%u (AAC raw, A-law, mu-law)
 * are collected by one GstCollectPads, which hands over the buffer with the oldest timestamp
 * of all pads: audio and video reach cs_stream_put_frame() interleaved in timestamp order.
 *
 * Timestamps. Buffers are clipped to running time; a frame's producer timestamp is
 * epoch0 + running time, where epoch0 is `start-time` (ms since the epoch) when set, else the
 * wall-clock time of running time 0 (the pipeline clock's now minus its base time, read
 * against the system's real-time clock at the first buffer), so a live source's PTS maps to the
 * wall clock of its capture.
 *
 * Life cycle. READY->PAUSED creates the producer (the endpoint and credentials are checked
 * there); the first buffer creates the stream (all pads have their caps by then). EOS calls
 * cs_stream_flush() in short slices until every fragment is PERSISTED or `flush-timeout`
 * passes (then a warning), and posts EOS. PAUSED->READY sets `unlocked` (every slice loop
 * returns) and stops the collect pads before the streaming threads are joined, so no state
 * change waits on the network; then the stream and the producer are destroyed (unsent data is
 * reported as dropped).
 *
 * Messages (element messages on the bus): camstream-status (after each PERSISTED ack:
 * fragments, bytes, fill), camstream-pressure (a fill threshold crossed), camstream-drop (data
 * that will never be PERSISTED), camstream-latency (the oldest unpersisted frame is older than
 * max-latency). A fatal SDK error is an element error; a retried one a warning. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include <gst/base/gstcollectpads.h>
#include <gst/gst.h>
#include <string.h>

#include "camstream/producer.h"

#define PACKAGE "camstream"
#define SLICE_MS 100u

GST_DEBUG_CATEGORY_STATIC(camstreamsink_debug);
#define GST_CAT_DEFAULT camstreamsink_debug

#define GST_TYPE_CAMSTREAM_SINK (gst_camstream_sink_get_type())
G_DECLARE_FINAL_TYPE(GstCamstreamSink, gst_camstream_sink, GST, CAMSTREAM_SINK, GstElement)

/* One request pad's collect data: what its caps said. */
typedef struct {
    GstCollectData collect; /* must be first */
    gboolean video;
    cs_mkv_codec codec;
    GBytes *codec_private; /* from codec_data, or NULL */
    cs_frame_format format;
    guint width, height, rate, channels;
    guint track_index; /* position in the stream's tracks */
    gboolean has_caps;
} CsPadData;

struct _GstCamstreamSink {
    GstElement parent;
    GstCollectPads *collect;
    guint video_pads, audio_pads;

    /* properties */
    gchar *stream_name, *endpoint, *region, *access_key, *secret_key, *credential_file;
    gchar *session_token;
    guint storage_size_mb, fragment_duration_ms, retention_hours, max_latency_ms;
    guint connection_staleness_s, flush_timeout_ms;
    gboolean key_frame_fragmentation, absolute_fragment_times, create_stream;
    guint64 start_time_ms;
    GstStructure *stream_tags;

    /* running */
    cs_producer *producer;
    cs_stream *stream;
    gboolean stream_failed; /* create failed: element error already posted */
    gboolean have_epoch;
    guint64 epoch0_ns;        /* wall time of running time 0 */
    volatile gint unlocked;   /* state change down: leave every wait */
    volatile gint fatal;      /* the SDK stopped the stream for good */
    volatile gint persisted;  /* PERSISTED acks seen (the metrics count them after on_ack) */
    guint64 last_latency_msg; /* frames_put count at the last latency message */
    /* Frames before the first video key frame (see put_buffer), reported as one drop. */
    gboolean have_video, seen_key;
    guint pre_key_frames;
    guint64 pre_key_bytes, pre_key_first_ns, pre_key_last_ns;
};

G_DEFINE_TYPE(GstCamstreamSink, gst_camstream_sink, GST_TYPE_ELEMENT)

enum {
    PROP_0,
    PROP_STREAM_NAME,
    PROP_ENDPOINT,
    PROP_REGION,
    PROP_ACCESS_KEY,
    PROP_SECRET_KEY,
    PROP_CREDENTIAL_FILE,
    PROP_STORAGE_SIZE,
    PROP_FRAGMENT_DURATION,
    PROP_KEY_FRAME_FRAGMENTATION,
    PROP_ABSOLUTE_FRAGMENT_TIMES,
    PROP_RETENTION_PERIOD,
    PROP_CREATE_STREAM,
    PROP_MAX_LATENCY,
    PROP_CONNECTION_STALENESS,
    PROP_STREAM_TAGS,
    PROP_START_TIME,
    PROP_FLUSH_TIMEOUT,
    /* kvssink's names where ours differ (same settings) */
    PROP_REGION_ALIAS,
    PROP_ALLOW_CREATE_STREAM,
    PROP_FILE_START_TIME,
    PROP_SESSION_TOKEN,
};

#define DEFAULT_ENDPOINT "http://127.0.0.1:8080"
#define DEFAULT_REGION "us-east-1"
#define DEFAULT_STORAGE_MB 16
#define DEFAULT_FRAGMENT_MS 2000
#define DEFAULT_RETENTION_H 2
#define DEFAULT_MAX_LATENCY_S 60
#define DEFAULT_STALENESS_S 60
#define DEFAULT_FLUSH_TIMEOUT_MS 30000

static GstStaticPadTemplate video_template = GST_STATIC_PAD_TEMPLATE(
    "video_%u", GST_PAD_SINK, GST_PAD_REQUEST,
    GST_STATIC_CAPS("video/x-h264, stream-format = (string) { avc, byte-stream }, "
                    "alignment = (string) au; "
                    "video/x-h265, stream-format = (string) { hvc1, hev1, byte-stream }, "
                    "alignment = (string) au"));

static GstStaticPadTemplate audio_template = GST_STATIC_PAD_TEMPLATE(
    "audio_%u", GST_PAD_SINK, GST_PAD_REQUEST,
    GST_STATIC_CAPS("audio/mpeg, mpegversion = (int) { 2, 4 }, stream-format = (string) raw; "
                    "audio/x-alaw, rate = (int) [ 1, MAX ], channels = (int) [ 1, 2 ]; "
                    "audio/x-mulaw, rate = (int) [ 1, MAX ], channels = (int) [ 1, 2 ]"));

/* ---------------------------------------------------------------------------------------------- */
/* SDK callbacks (on the producer's I/O thread, or the streaming thread for drop/pressure)        */
/* ---------------------------------------------------------------------------------------------- */

static void post_structure(GstCamstreamSink *self, GstStructure *s)
{
    gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

static void on_ack(void *ctx, cs_stream *s, const cs_kvs_ack *ack)
{
    GstCamstreamSink *self = ctx;
    cs_stream_metrics m;

    if (ack->type != CS_KVS_ACK_PERSISTED) {
        return;
    }
    cs_stream_get_metrics(s, &m);
    m.fragments_persisted = (uint64_t)g_atomic_int_add(&self->persisted, 1) + 1u;
    post_structure(
        self, gst_structure_new(
                  "camstream-status", "fragment-number", G_TYPE_STRING, ack->fragment_number,
                  "fragment-timecode", G_TYPE_UINT64, (guint64)ack->fragment_timecode,
                  "fragments-persisted", G_TYPE_UINT64, (guint64)m.fragments_persisted,
                  "frames-put", G_TYPE_UINT64, (guint64)m.frames_put, "bytes-sent", G_TYPE_UINT64,
                  (guint64)m.bytes_sent, "store-fill-pct", G_TYPE_UINT, (guint)m.store_fill_pct,
                  "store-bytes-used", G_TYPE_UINT64, (guint64)m.store_bytes_used, "ack-latency-ns",
                  G_TYPE_UINT64, (guint64)m.last_ack_latency_ns, NULL));
}

static const char *drop_reason_str(cs_drop_reason r)
{
    switch (r) {
    case CS_DROP_EVICTED:
        return "evicted";
    case CS_DROP_TOO_LARGE:
        return "too-large";
    case CS_DROP_REJECTED:
        return "rejected";
    case CS_DROP_DESTROYED:
        return "destroyed";
    }
    return "unknown";
}

static void on_drop(void *ctx, cs_stream *s, const cs_drop *d)
{
    GstCamstreamSink *self = ctx;
    (void)s;
    GST_WARNING_OBJECT(self, "dropped %u frames (%zu bytes), reason %s", d->frames, d->bytes,
                       drop_reason_str(d->reason));
    post_structure(self, gst_structure_new("camstream-drop", "reason", G_TYPE_STRING,
                                           drop_reason_str(d->reason), "frames", G_TYPE_UINT,
                                           d->frames, "bytes", G_TYPE_UINT64, (guint64)d->bytes,
                                           "first-ts-ns", G_TYPE_UINT64, (guint64)d->first_ts_ns,
                                           "last-ts-ns", G_TYPE_UINT64, (guint64)d->last_ts_ns,
                                           "error-id", G_TYPE_UINT, d->error_id, "maybe-stored",
                                           G_TYPE_BOOLEAN, d->maybe_stored, NULL));
}

/* Frames before the first video key frame: a fragment starts with a key frame (as in KVS, whose
 * producer skips them and counts them in its metrics), so they have nowhere to go. They are
 * reported as one camstream-drop message, reason "before-key-frame", when the key frame comes
 * (or at EOS). Streaming thread. */
static void note_pre_key(GstCamstreamSink *self, const cs_frame *f)
{
    if (self->pre_key_frames == 0) {
        self->pre_key_first_ns = f->pts_ns;
    }
    self->pre_key_frames++;
    self->pre_key_bytes += f->size;
    self->pre_key_last_ns = MAX(self->pre_key_last_ns, f->pts_ns);
}

static void report_pre_key(GstCamstreamSink *self)
{
    if (self->pre_key_frames == 0) {
        return;
    }
    GST_INFO_OBJECT(self, "dropped %u frames before the first video key frame",
                    self->pre_key_frames);
    post_structure(self,
                   gst_structure_new("camstream-drop", "reason", G_TYPE_STRING, "before-key-frame",
                                     "frames", G_TYPE_UINT, self->pre_key_frames, "bytes",
                                     G_TYPE_UINT64, self->pre_key_bytes, "first-ts-ns",
                                     G_TYPE_UINT64, self->pre_key_first_ns, "last-ts-ns",
                                     G_TYPE_UINT64, self->pre_key_last_ns, "error-id", G_TYPE_UINT,
                                     0u, "maybe-stored", G_TYPE_BOOLEAN, FALSE, NULL));
    self->pre_key_frames = 0;
    self->pre_key_bytes = 0;
    self->pre_key_last_ns = 0;
}

static void on_pressure(void *ctx, cs_stream *s, unsigned pct, bool rising, size_t used, size_t cap)
{
    GstCamstreamSink *self = ctx;
    (void)s;
    post_structure(self,
                   gst_structure_new("camstream-pressure", "threshold-pct", G_TYPE_UINT, pct,
                                     "rising", G_TYPE_BOOLEAN, rising, "bytes-used", G_TYPE_UINT64,
                                     (guint64)used, "capacity", G_TYPE_UINT64, (guint64)cap, NULL));
}

static void on_error(void *ctx, cs_stream *s, cs_status st, int http, uint32_t error_id, bool fatal,
                     const char *message)
{
    GstCamstreamSink *self = ctx;
    const char *hint;
    (void)s;

    if (http == 401 || http == 403) {
        hint = "check access-key/secret-key (or credential-file, AWS_ACCESS_KEY_ID) against "
               "the server's keys";
    } else if (http == 404 || st == CS_E_NOTFOUND) {
        hint = "create the stream first, or set create-stream=true";
    } else if (st == CS_E_NET || st == CS_E_TIMEOUT) {
        hint = "is the server running and the endpoint property right?";
    } else {
        hint = "see the server's log";
    }
    if (fatal) {
        g_atomic_int_set(&self->fatal, 1);
        GST_ELEMENT_ERROR(self, RESOURCE, WRITE, ("camstream: %s (%s)", message, hint),
                          ("status %s, HTTP %d, ErrorId %u", cs_status_str(st), http, error_id));
    } else {
        GST_ELEMENT_WARNING(self, RESOURCE, WRITE, ("camstream: %s; retrying (%s)", message, hint),
                            ("status %s, HTTP %d, ErrorId %u", cs_status_str(st), http, error_id));
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* Caps                                                                                           */
/* ---------------------------------------------------------------------------------------------- */

static gboolean set_caps(GstCamstreamSink *self, CsPadData *pd, GstCaps *caps)
{
    GstStructure *st = gst_caps_get_structure(caps, 0);
    const gchar *name = gst_structure_get_name(st);
    const gchar *fmt = gst_structure_get_string(st, "stream-format");
    const GValue *cd = gst_structure_get_value(st, "codec_data");
    gint w = 0, h = 0, rate = 0, ch = 0;

    if (self->stream != NULL && pd->has_caps) {
        /* The track header is sent once; a resolution change inside the SPS is carried by the
         * stream itself (byte-stream) but a new codec_data cannot be. */
        GST_DEBUG_OBJECT(self, "caps changed after the stream started: %" GST_PTR_FORMAT, caps);
        return TRUE;
    }
    g_clear_pointer(&pd->codec_private, g_bytes_unref);
    pd->format = CS_FRAME_AUTO;
    if (g_str_equal(name, "video/x-h264") || g_str_equal(name, "video/x-h265")) {
        pd->codec = g_str_equal(name, "video/x-h264") ? CS_MKV_CODEC_ID_H264 : CS_MKV_CODEC_ID_H265;
        if (fmt != NULL && g_str_equal(fmt, "byte-stream")) {
            pd->format = CS_FRAME_ANNEXB; /* the SDK takes CodecPrivate from the first key frame */
        } else {
            pd->format = CS_FRAME_AVCC;
            if (cd == NULL || !GST_VALUE_HOLDS_BUFFER(cd)) {
                GST_ELEMENT_ERROR(self, STREAM, FORMAT,
                                  ("camstream: %s caps without codec_data; put h264parse/h265parse "
                                   "before camstreamsink",
                                   fmt ? fmt : "avc"),
                                  ("caps %" GST_PTR_FORMAT, caps));
                return FALSE;
            }
        }
        gst_structure_get_int(st, "width", &w);
        gst_structure_get_int(st, "height", &h);
    } else if (g_str_equal(name, "audio/mpeg")) {
        pd->codec = CS_MKV_CODEC_ID_AAC;
        pd->format = CS_FRAME_RAW;
        if (cd == NULL || !GST_VALUE_HOLDS_BUFFER(cd)) {
            GST_ELEMENT_ERROR(self, STREAM, FORMAT,
                              ("camstream: AAC caps without codec_data; use stream-format=raw "
                               "(e.g. aacparse before camstreamsink)"),
                              ("caps %" GST_PTR_FORMAT, caps));
            return FALSE;
        }
    } else if (g_str_equal(name, "audio/x-alaw") || g_str_equal(name, "audio/x-mulaw")) {
        pd->codec =
            g_str_equal(name, "audio/x-alaw") ? CS_MKV_CODEC_ID_ALAW : CS_MKV_CODEC_ID_MULAW;
        pd->format = CS_FRAME_RAW;
    } else {
        GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("camstream: unsupported caps %s", name), (NULL));
        return FALSE;
    }
    if (cd != NULL && GST_VALUE_HOLDS_BUFFER(cd)) {
        GstMapInfo map;
        GstBuffer *b = gst_value_get_buffer(cd);
        if (gst_buffer_map(b, &map, GST_MAP_READ)) {
            pd->codec_private = g_bytes_new(map.data, map.size);
            gst_buffer_unmap(b, &map);
        }
    }
    gst_structure_get_int(st, "rate", &rate);
    gst_structure_get_int(st, "channels", &ch);
    pd->width = (guint)MAX(w, 0);
    pd->height = (guint)MAX(h, 0);
    pd->rate = (guint)MAX(rate, 0);
    pd->channels = (guint)MAX(ch, 0);
    pd->has_caps = TRUE;
    GST_INFO_OBJECT(self, "pad %s: %" GST_PTR_FORMAT, GST_PAD_NAME(pd->collect.pad), caps);
    return TRUE;
}

static gboolean sink_event(GstCollectPads *pads, GstCollectData *data, GstEvent *event,
                           gpointer user)
{
    GstCamstreamSink *self = user;
    if (GST_EVENT_TYPE(event) == GST_EVENT_CAPS) {
        GstCaps *caps;
        gst_event_parse_caps(event, &caps);
        if (!set_caps(self, (CsPadData *)data, caps)) {
            gst_event_unref(event);
            return FALSE;
        }
    }
    return gst_collect_pads_event_default(pads, data, event, FALSE);
}

/* ---------------------------------------------------------------------------------------------- */
/* The stream                                                                                     */
/* ---------------------------------------------------------------------------------------------- */

static gboolean tag_to_array(GQuark field, const GValue *value, gpointer user)
{
    GPtrArray *a = user;
    if (a->len / 2 < 50 && G_VALUE_HOLDS_STRING(value)) {
        g_ptr_array_add(a, (gpointer)g_quark_to_string(field));
        g_ptr_array_add(a, (gpointer)g_value_get_string(value));
    }
    return TRUE;
}

/* Creates the stream from the pads' caps: video tracks first (fragments follow the first
 * track's key frames), then audio. */
static gboolean create_stream(GstCamstreamSink *self)
{
    cs_stream_config sc;
    cs_tag tags[50];
    GPtrArray *tag_strings = g_ptr_array_new();
    cs_status st;
    size_t n = 0;

    cs_stream_config_init(&sc);
    sc.name = self->stream_name;
    sc.create_if_missing = self->create_stream;
    sc.retention_hours = self->retention_hours;
    sc.store_bytes = (size_t)self->storage_size_mb << 20;
    sc.key_frame_fragmentation = self->key_frame_fragmentation;
    sc.fragment_ms = self->fragment_duration_ms;
    sc.timecode_mode = self->absolute_fragment_times ? CS_TIMECODE_ABSOLUTE : CS_TIMECODE_RELATIVE;
    sc.callbacks.on_ack = on_ack;
    sc.callbacks.on_drop = on_drop;
    sc.callbacks.on_pressure = on_pressure;
    sc.callbacks.on_error = on_error;
    sc.callbacks.ctx = self;
    for (int pass = 0; pass < 2; pass++) {
        for (GSList *l = self->collect->data; l != NULL; l = l->next) {
            CsPadData *pd = l->data;
            cs_track_config *t;
            if (pd->video != (pass == 0)) {
                continue;
            }
            if (n == CS_MKV_MAX_TRACKS) {
                GST_ELEMENT_ERROR(self, STREAM, FAILED,
                                  ("camstream: at most %d tracks", CS_MKV_MAX_TRACKS), (NULL));
                g_ptr_array_free(tag_strings, TRUE);
                return FALSE;
            }
            t = &sc.tracks[n];
            pd->track_index = (guint)n;
            self->have_video = self->have_video || pd->video;
            t->codec = pd->codec;
            t->name = pd->video ? "video" : "audio";
            if (pd->codec_private != NULL) {
                t->codec_private = g_bytes_get_data(pd->codec_private, &t->codec_private_len);
            }
            t->width = pd->width;
            t->height = pd->height;
            t->sampling_rate = pd->rate;
            t->channels = pd->channels;
            n++;
        }
    }
    sc.track_count = n;
    if (n > 0 && sc.tracks[0].codec == CS_MKV_CODEC_ID_H265) {
        sc.media_type = "video/h265";
    }
    if (self->stream_tags != NULL) {
        gst_structure_foreach(self->stream_tags, tag_to_array, tag_strings);
        for (guint i = 0; i + 1 < tag_strings->len; i += 2) {
            tags[i / 2].name = g_ptr_array_index(tag_strings, i);
            tags[i / 2].value = g_ptr_array_index(tag_strings, i + 1);
        }
        sc.stream_tags = tags;
        sc.stream_tag_count = tag_strings->len / 2;
    }
    st = cs_stream_create(self->producer, &sc, &self->stream);
    g_ptr_array_free(tag_strings, TRUE);
    if (st != CS_OK) {
        GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                          ("camstream: cannot create stream '%s': %s (check stream-name: 1-256 of "
                           "a-z A-Z 0-9 _ . -; storage-size >= 1)",
                           self->stream_name ? self->stream_name : "", cs_status_str(st)),
                          (NULL));
        self->stream_failed = TRUE;
        return FALSE;
    }
    return TRUE;
}

/* Wall-clock time of running time 0 (see the top of the file). */
static void set_epoch(GstCamstreamSink *self, GstClockTime first_running)
{
    guint64 now_wall = (guint64)g_get_real_time() * 1000u;
    GstClock *clock;

    self->have_epoch = TRUE;
    if (self->start_time_ms != 0) {
        self->epoch0_ns = self->start_time_ms * 1000000u;
        return;
    }
    clock = gst_element_get_clock(GST_ELEMENT(self));
    if (clock != NULL) {
        GstClockTime now = gst_clock_get_time(clock);
        GstClockTime base = gst_element_get_base_time(GST_ELEMENT(self));
        GstClockTime running = now > base ? now - base : 0;
        gst_object_unref(clock);
        self->epoch0_ns = now_wall - MIN(running, now_wall);
    } else {
        self->epoch0_ns =
            now_wall - MIN(GST_CLOCK_TIME_IS_VALID(first_running) ? first_running : 0, now_wall);
    }
    GST_INFO_OBJECT(self, "running time 0 = %" G_GUINT64_FORMAT " ns since the epoch",
                    self->epoch0_ns);
}

static GstFlowReturn put_buffer(GstCamstreamSink *self, CsPadData *pd, GstBuffer *buf)
{
    cs_frame f = CS_FRAME_INIT;
    GstMapInfo map;
    GstClockTime pts = GST_BUFFER_PTS(buf), dts = GST_BUFFER_DTS(buf);
    cs_status st;
    gboolean first_key = FALSE;

    if (!GST_CLOCK_TIME_IS_VALID(pts)) {
        pts = dts;
    }
    if (!GST_CLOCK_TIME_IS_VALID(pts)) {
        GST_WARNING_OBJECT(self, "buffer without a timestamp on %s: skipped",
                           GST_PAD_NAME(pd->collect.pad));
        return GST_FLOW_OK;
    }
    if (!self->have_epoch) {
        set_epoch(self, pts);
    }
    if (!gst_buffer_map(buf, &map, GST_MAP_READ)) {
        return GST_FLOW_ERROR;
    }
    f.data = map.data;
    f.size = map.size;
    f.pts_ns = self->epoch0_ns + pts;
    f.dts_ns = GST_CLOCK_TIME_IS_VALID(dts) ? self->epoch0_ns + dts : 0;
    if (!GST_CLOCK_TIME_IS_VALID(dts) && GST_COLLECT_PADS_DTS_IS_VALID(&pd->collect)) {
        /* A DTS before running time 0 (an encoder's first frames with B-frames: DTS = PTS minus
         * the reorder delay) is cleared on the buffer by the running-time clip and kept, signed,
         * here. Without it the SDK would take the PTS, which goes back at the next B-frame. */
        gint64 sdts = GST_COLLECT_PADS_DTS(&pd->collect);
        f.dts_ns = sdts >= 0 || (guint64)(-sdts) < self->epoch0_ns
                       ? (guint64)((gint64)self->epoch0_ns + sdts)
                       : 1;
    }
    if (GST_BUFFER_DURATION_IS_VALID(buf)) {
        f.duration_ns = GST_BUFFER_DURATION(buf);
    }
    f.flags = GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT) ? 0 : CS_FRAME_KEY;
    if (!pd->video) {
        f.flags = 0; /* audio frames never cut fragments */
    }
    f.track = pd->track_index + 1u;
    f.format = pd->format;
    if (self->have_video && !self->seen_key) {
        if (!pd->video || (f.flags & CS_FRAME_KEY) == 0) {
            note_pre_key(self, &f);
            gst_buffer_unmap(buf, &map);
            return GST_FLOW_OK;
        }
        self->seen_key = TRUE;
        first_key = TRUE;
    }
    st = cs_stream_put_frame(self->stream, &f);
    gst_buffer_unmap(buf, &map);
    if (st == CS_OK) {
        report_pre_key(self);
    } else if (first_key && st != CS_E_STATE) {
        /* the first key frame itself was refused (warned below): wait for the next one */
        self->seen_key = FALSE;
    }
    switch (st) {
    case CS_OK:
    case CS_E_NOSPACE: /* reported through on_drop */
    case CS_E_TIMEOUT:
        break;
    case CS_E_STATE:
        if (g_atomic_int_get(&self->fatal)) {
            return GST_FLOW_ERROR; /* on_error posted the element error */
        }
        /* before the SDK's first key frame with SPS/PPS: counted with the frames before it */
        self->seen_key = FALSE;
        note_pre_key(self, &f);
        break;
    case CS_E_MALFORMED:
        GST_ELEMENT_WARNING(self, STREAM, FORMAT,
                            ("camstream: a frame on %s is not valid %s; skipped (is h264parse/"
                             "h265parse with alignment=au before the sink?)",
                             GST_PAD_NAME(pd->collect.pad),
                             pd->codec == CS_MKV_CODEC_ID_H265 ? "H.265" : "H.264/audio"),
                            (NULL));
        break;
    default:
        GST_ELEMENT_WARNING(self, STREAM, FAILED,
                            ("camstream: a frame on %s was refused: %s; skipped (timestamps must "
                             "not go backwards)",
                             GST_PAD_NAME(pd->collect.pad), cs_status_str(st)),
                            (NULL));
        break;
    }
    {
        cs_stream_metrics m;
        cs_stream_get_metrics(self->stream, &m);
        if (self->max_latency_ms != 0 &&
            m.current_latency_ns > (guint64)self->max_latency_ms * 1000000u &&
            m.frames_put >= self->last_latency_msg + 30u) {
            self->last_latency_msg = m.frames_put;
            post_structure(self, gst_structure_new("camstream-latency", "latency-ns", G_TYPE_UINT64,
                                                   (guint64)m.current_latency_ns, "max-latency-ms",
                                                   G_TYPE_UINT, self->max_latency_ms, NULL));
        }
    }
    return GST_FLOW_OK;
}

/* All pads EOS: flush in slices (so a state change down can interrupt it), then post EOS. */
static void finish(GstCamstreamSink *self)
{
    cs_status st = CS_OK;
    guint waited = 0;

    report_pre_key(self);
    if (self->stream != NULL) {
        do {
            st = cs_stream_flush(self->stream, SLICE_MS);
            waited += SLICE_MS;
        } while (st == CS_E_TIMEOUT && waited < self->flush_timeout_ms &&
                 !g_atomic_int_get(&self->unlocked));
        if (st == CS_E_TIMEOUT && !g_atomic_int_get(&self->unlocked)) {
            GST_ELEMENT_WARNING(self, RESOURCE, WRITE,
                                ("camstream: not every fragment was PERSISTED within "
                                 "flush-timeout (%u ms); the rest is dropped at shutdown",
                                 self->flush_timeout_ms),
                                (NULL));
        }
        GST_INFO_OBJECT(self, "EOS flush: %s", cs_status_str(st));
    }
    gst_element_post_message(GST_ELEMENT(self), gst_message_new_eos(GST_OBJECT(self)));
}

static GstFlowReturn collected(GstCollectPads *pads, GstCollectData *data, GstBuffer *buf,
                               gpointer user)
{
    GstCamstreamSink *self = user;
    GstFlowReturn ret;

    (void)pads;
    if (buf == NULL) {
        finish(self);
        return GST_FLOW_EOS;
    }
    if (self->stream == NULL) {
        if (self->stream_failed || !create_stream(self)) {
            gst_buffer_unref(buf);
            return GST_FLOW_ERROR;
        }
    }
    ret = put_buffer(self, (CsPadData *)data, buf);
    gst_buffer_unref(buf);
    return ret;
}

/* ---------------------------------------------------------------------------------------------- */
/* Element                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

static void pad_data_free(GstCollectData *data)
{
    CsPadData *pd = (CsPadData *)data;
    g_clear_pointer(&pd->codec_private, g_bytes_unref);
}

static GstPad *request_new_pad(GstElement *element, GstPadTemplate *templ, const gchar *req_name,
                               const GstCaps *caps)
{
    GstCamstreamSink *self = GST_CAMSTREAM_SINK(element);
    gboolean video =
        templ == gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(element), "video_%u");
    gchar *name;
    GstPad *pad;
    CsPadData *pd;

    (void)req_name;
    (void)caps;
    if (GST_STATE(element) > GST_STATE_READY || self->stream != NULL) {
        GST_ELEMENT_WARNING(self, CORE, PAD,
                            ("camstream: pads must be requested before the pipeline starts"),
                            (NULL));
        return NULL;
    }
    GST_OBJECT_LOCK(self);
    name = video ? g_strdup_printf("video_%u", self->video_pads++)
                 : g_strdup_printf("audio_%u", self->audio_pads++);
    GST_OBJECT_UNLOCK(self);
    pad = gst_pad_new_from_template(templ, name);
    g_free(name);
    pd = (CsPadData *)gst_collect_pads_add_pad(self->collect, pad, sizeof(CsPadData), pad_data_free,
                                               TRUE);
    pd->video = video;
    gst_element_add_pad(element, pad);
    return pad;
}

static void release_pad(GstElement *element, GstPad *pad)
{
    GstCamstreamSink *self = GST_CAMSTREAM_SINK(element);
    gst_collect_pads_remove_pad(self->collect, pad);
    gst_element_remove_pad(element, pad);
}

static gboolean start(GstCamstreamSink *self)
{
    cs_producer_config pc;
    cs_status st;

    if (self->stream_name == NULL || self->stream_name[0] == '\0') {
        GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                          ("camstream: no stream-name; set camstreamsink stream-name=NAME"),
                          (NULL));
        return FALSE;
    }
    cs_producer_config_init(&pc);
    pc.endpoint = self->endpoint;
    pc.region = self->region;
    if (self->access_key != NULL && self->access_key[0] != '\0') {
        pc.access_key = self->access_key;
        pc.secret_key = self->secret_key;
        pc.session_token = self->session_token;
    }
    pc.credentials_file = self->credential_file;
    pc.stale_timeout_ms = self->connection_staleness_s * 1000u;
    st = cs_producer_create(&pc, &self->producer);
    if (st != CS_OK) {
        GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                          ("camstream: cannot start the producer: %s (endpoint must be an "
                           "http:// or https:// URL; credential-file must exist)",
                           cs_status_str(st)),
                          ("endpoint %s", self->endpoint ? self->endpoint : "(none)"));
        return FALSE;
    }
    self->stream_failed = FALSE;
    self->have_epoch = FALSE;
    self->last_latency_msg = 0;
    self->have_video = FALSE;
    self->seen_key = FALSE;
    self->pre_key_frames = 0;
    self->pre_key_bytes = 0;
    self->pre_key_last_ns = 0;
    g_atomic_int_set(&self->fatal, 0);
    g_atomic_int_set(&self->persisted, 0);
    return TRUE;
}

static void stop(GstCamstreamSink *self)
{
    cs_stream_destroy(&self->stream);
    cs_producer_destroy(&self->producer);
}

static GstStateChangeReturn change_state(GstElement *element, GstStateChange transition)
{
    GstCamstreamSink *self = GST_CAMSTREAM_SINK(element);
    GstStateChangeReturn ret;

    switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
        g_atomic_int_set(&self->unlocked, 0);
        if (!start(self)) {
            return GST_STATE_CHANGE_FAILURE;
        }
        gst_collect_pads_start(self->collect);
        break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
        /* unlock: leave the EOS flush loop, and unblock pads waiting in collect */
        g_atomic_int_set(&self->unlocked, 1);
        gst_collect_pads_stop(self->collect);
        break;
    default:
        break;
    }
    ret = GST_ELEMENT_CLASS(gst_camstream_sink_parent_class)->change_state(element, transition);
    if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
        stop(self); /* streaming threads have left (pads deactivated) */
    }
    return ret;
}

static void set_property(GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
    GstCamstreamSink *self = GST_CAMSTREAM_SINK(object);
    switch (id) {
    case PROP_STREAM_NAME:
        g_free(self->stream_name);
        self->stream_name = g_value_dup_string(value);
        break;
    case PROP_ENDPOINT:
        g_free(self->endpoint);
        self->endpoint = g_value_dup_string(value);
        break;
    case PROP_REGION:
    case PROP_REGION_ALIAS:
        g_free(self->region);
        self->region = g_value_dup_string(value);
        break;
    case PROP_SESSION_TOKEN:
        g_free(self->session_token);
        self->session_token = g_value_dup_string(value);
        break;
    case PROP_ACCESS_KEY:
        g_free(self->access_key);
        self->access_key = g_value_dup_string(value);
        break;
    case PROP_SECRET_KEY:
        g_free(self->secret_key);
        self->secret_key = g_value_dup_string(value);
        break;
    case PROP_CREDENTIAL_FILE:
        g_free(self->credential_file);
        self->credential_file = g_value_dup_string(value);
        break;
    case PROP_STORAGE_SIZE:
        self->storage_size_mb = g_value_get_uint(value);
        break;
    case PROP_FRAGMENT_DURATION:
        self->fragment_duration_ms = g_value_get_uint(value);
        break;
    case PROP_KEY_FRAME_FRAGMENTATION:
        self->key_frame_fragmentation = g_value_get_boolean(value);
        break;
    case PROP_ABSOLUTE_FRAGMENT_TIMES:
        self->absolute_fragment_times = g_value_get_boolean(value);
        break;
    case PROP_RETENTION_PERIOD:
        self->retention_hours = g_value_get_uint(value);
        break;
    case PROP_CREATE_STREAM:
    case PROP_ALLOW_CREATE_STREAM:
        self->create_stream = g_value_get_boolean(value);
        break;
    case PROP_MAX_LATENCY:
        self->max_latency_ms = MIN(g_value_get_uint(value), G_MAXUINT / 1000u) * 1000u;
        break;
    case PROP_CONNECTION_STALENESS:
        self->connection_staleness_s = g_value_get_uint(value);
        break;
    case PROP_STREAM_TAGS:
        g_clear_pointer(&self->stream_tags, gst_structure_free);
        if (gst_value_get_structure(value) != NULL) {
            self->stream_tags = gst_structure_copy(gst_value_get_structure(value));
        }
        break;
    case PROP_START_TIME:
        self->start_time_ms = g_value_get_uint64(value);
        break;
    case PROP_FILE_START_TIME:
        self->start_time_ms = MIN(g_value_get_uint64(value), G_MAXUINT64 / 1000u) * 1000u;
        break;
    case PROP_FLUSH_TIMEOUT:
        self->flush_timeout_ms = g_value_get_uint(value);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
        break;
    }
}

static void get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
    GstCamstreamSink *self = GST_CAMSTREAM_SINK(object);
    switch (id) {
    case PROP_STREAM_NAME:
        g_value_set_string(value, self->stream_name);
        break;
    case PROP_ENDPOINT:
        g_value_set_string(value, self->endpoint);
        break;
    case PROP_REGION:
    case PROP_REGION_ALIAS:
        g_value_set_string(value, self->region);
        break;
    case PROP_SESSION_TOKEN:
        g_value_set_string(value, self->session_token != NULL ? "********" : NULL);
        break;
    case PROP_ACCESS_KEY:
        g_value_set_string(value, self->access_key);
        break;
    case PROP_SECRET_KEY:
        g_value_set_string(value, self->secret_key != NULL ? "********" : NULL);
        break;
    case PROP_CREDENTIAL_FILE:
        g_value_set_string(value, self->credential_file);
        break;
    case PROP_STORAGE_SIZE:
        g_value_set_uint(value, self->storage_size_mb);
        break;
    case PROP_FRAGMENT_DURATION:
        g_value_set_uint(value, self->fragment_duration_ms);
        break;
    case PROP_KEY_FRAME_FRAGMENTATION:
        g_value_set_boolean(value, self->key_frame_fragmentation);
        break;
    case PROP_ABSOLUTE_FRAGMENT_TIMES:
        g_value_set_boolean(value, self->absolute_fragment_times);
        break;
    case PROP_RETENTION_PERIOD:
        g_value_set_uint(value, self->retention_hours);
        break;
    case PROP_CREATE_STREAM:
    case PROP_ALLOW_CREATE_STREAM:
        g_value_set_boolean(value, self->create_stream);
        break;
    case PROP_MAX_LATENCY:
        g_value_set_uint(value, self->max_latency_ms / 1000u);
        break;
    case PROP_CONNECTION_STALENESS:
        g_value_set_uint(value, self->connection_staleness_s);
        break;
    case PROP_STREAM_TAGS:
        gst_value_set_structure(value, self->stream_tags);
        break;
    case PROP_START_TIME:
        g_value_set_uint64(value, self->start_time_ms);
        break;
    case PROP_FILE_START_TIME:
        g_value_set_uint64(value, self->start_time_ms / 1000u);
        break;
    case PROP_FLUSH_TIMEOUT:
        g_value_set_uint(value, self->flush_timeout_ms);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
        break;
    }
}

static void finalize(GObject *object)
{
    GstCamstreamSink *self = GST_CAMSTREAM_SINK(object);
    stop(self);
    gst_object_unref(self->collect);
    g_free(self->stream_name);
    g_free(self->endpoint);
    g_free(self->region);
    g_free(self->access_key);
    g_free(self->secret_key);
    g_free(self->credential_file);
    g_free(self->session_token);
    g_clear_pointer(&self->stream_tags, gst_structure_free);
    G_OBJECT_CLASS(gst_camstream_sink_parent_class)->finalize(object);
}

static void gst_camstream_sink_init(GstCamstreamSink *self)
{
    self->collect = gst_collect_pads_new();
    gst_collect_pads_set_buffer_function(self->collect, collected, self);
    gst_collect_pads_set_clip_function(self->collect, gst_collect_pads_clip_running_time, self);
    gst_collect_pads_set_event_function(self->collect, sink_event, self);
    self->endpoint = g_strdup(DEFAULT_ENDPOINT);
    self->region = g_strdup(DEFAULT_REGION);
    self->storage_size_mb = DEFAULT_STORAGE_MB;
    self->fragment_duration_ms = DEFAULT_FRAGMENT_MS;
    self->key_frame_fragmentation = TRUE;
    self->absolute_fragment_times = TRUE;
    self->retention_hours = DEFAULT_RETENTION_H;
    self->create_stream = TRUE;
    self->max_latency_ms = DEFAULT_MAX_LATENCY_S * 1000u;
    self->connection_staleness_s = DEFAULT_STALENESS_S;
    self->flush_timeout_ms = DEFAULT_FLUSH_TIMEOUT_MS;
    GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SINK);
}

#define RW (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)

static void gst_camstream_sink_class_init(GstCamstreamSinkClass *klass)
{
    GObjectClass *oc = G_OBJECT_CLASS(klass);
    GstElementClass *ec = GST_ELEMENT_CLASS(klass);

    oc->set_property = set_property;
    oc->get_property = get_property;
    oc->finalize = finalize;
    g_object_class_install_property(
        oc, PROP_STREAM_NAME,
        g_param_spec_string("stream-name", "Stream name",
                            "Name of the stream (1-256 of a-z A-Z 0-9 _ . -); required", NULL, RW));
    g_object_class_install_property(
        oc, PROP_ENDPOINT,
        g_param_spec_string("endpoint", "Endpoint",
                            "Control-plane URL of the camstream / KVS server", DEFAULT_ENDPOINT,
                            RW));
    g_object_class_install_property(
        oc, PROP_REGION,
        g_param_spec_string("aws-region", "Region", "SigV4 region", DEFAULT_REGION, RW));
    g_object_class_install_property(
        oc, PROP_ACCESS_KEY,
        g_param_spec_string("access-key", "Access key",
                            "Access key id; unset: AWS_ACCESS_KEY_ID, then the credential file",
                            NULL, RW));
    g_object_class_install_property(oc, PROP_SECRET_KEY,
                                    g_param_spec_string("secret-key", "Secret key",
                                                        "Secret access key (with access-key)", NULL,
                                                        RW));
    g_object_class_install_property(
        oc, PROP_CREDENTIAL_FILE,
        g_param_spec_string("credential-path", "Credential file",
                            "AWS shared credentials file (INI); unset: "
                            "$AWS_SHARED_CREDENTIALS_FILE, then ~/.aws/credentials",
                            NULL, RW));
    g_object_class_install_property(
        oc, PROP_STORAGE_SIZE,
        g_param_spec_uint("storage-size", "Storage size",
                          "Buffer for unacknowledged media, in MiB (oldest fragments are "
                          "dropped when full)",
                          1, 4096, DEFAULT_STORAGE_MB, RW));
    g_object_class_install_property(
        oc, PROP_FRAGMENT_DURATION,
        g_param_spec_uint("fragment-duration", "Fragment duration",
                          "Fragment length in ms when key-frame-fragmentation is off", 100, 10000,
                          DEFAULT_FRAGMENT_MS, RW));
    g_object_class_install_property(
        oc, PROP_KEY_FRAME_FRAGMENTATION,
        g_param_spec_boolean("key-frame-fragmentation", "Key-frame fragmentation",
                             "Start a fragment at every video key frame", TRUE, RW));
    g_object_class_install_property(
        oc, PROP_ABSOLUTE_FRAGMENT_TIMES,
        g_param_spec_boolean("absolute-fragment-times", "Absolute fragment times",
                             "Cluster timecodes are absolute (epoch ms) rather than relative "
                             "to the stream start",
                             TRUE, RW));
    g_object_class_install_property(
        oc, PROP_RETENTION_PERIOD,
        g_param_spec_uint("retention-period", "Retention period",
                          "Retention in hours for a stream this element creates", 0, 87600,
                          DEFAULT_RETENTION_H, RW));
    g_object_class_install_property(oc, PROP_CREATE_STREAM,
                                    g_param_spec_boolean("create-stream", "Create stream",
                                                         "Create the stream when it does not exist",
                                                         TRUE, RW));
    g_object_class_install_property(
        oc, PROP_MAX_LATENCY,
        g_param_spec_uint("max-latency", "Max latency",
                          "Seconds (as kvssink); an unpersisted frame older than this posts a "
                          "camstream-latency message (0: never)",
                          0, G_MAXUINT / 1000u, DEFAULT_MAX_LATENCY_S, RW));
    g_object_class_install_property(
        oc, PROP_CONNECTION_STALENESS,
        g_param_spec_uint("connection-staleness", "Connection staleness",
                          "s without an ack while data is outstanding before the connection is "
                          "replaced",
                          1, 3600, DEFAULT_STALENESS_S, RW));
    g_object_class_install_property(
        oc, PROP_STREAM_TAGS,
        g_param_spec_boxed("stream-tags", "Stream tags",
                           "Tags for a stream this element creates, e.g. "
                           "\"tags,site=home,room=hall\"",
                           GST_TYPE_STRUCTURE, RW));
    g_object_class_install_property(
        oc, PROP_START_TIME,
        g_param_spec_uint64("start-time", "Start time",
                            "Producer time of running time 0, ms since the epoch (files); 0: the "
                            "wall clock (live)",
                            0, G_MAXUINT64, 0, RW));
    g_object_class_install_property(
        oc, PROP_FLUSH_TIMEOUT,
        g_param_spec_uint("flush-timeout", "Flush timeout",
                          "At EOS, wait this many ms for every fragment to be PERSISTED", 0,
                          G_MAXUINT, DEFAULT_FLUSH_TIMEOUT_MS, RW));
    /* kvssink's names for the same settings, so its pipelines work unchanged. */
    g_object_class_install_property(oc, PROP_REGION_ALIAS,
                                    g_param_spec_string("region", "Region",
                                                        "Same as aws-region (camstreamsrc's name)",
                                                        DEFAULT_REGION, RW));
    g_object_class_install_property(
        oc, PROP_ALLOW_CREATE_STREAM,
        g_param_spec_boolean("allow-create-stream", "Allow create stream",
                             "Same as create-stream (kvssink's name)", TRUE, RW));
    g_object_class_install_property(
        oc, PROP_FILE_START_TIME,
        g_param_spec_uint64("file-start-time", "File start time",
                            "Same as start-time, in seconds since the epoch (kvssink's name); "
                            "0: the wall clock",
                            0, G_MAXUINT64 / 1000u, 0, RW));
    g_object_class_install_property(
        oc, PROP_SESSION_TOKEN,
        g_param_spec_string("session-token", "Session token",
                            "Session token of temporary credentials (with access-key); unset: "
                            "AWS_SESSION_TOKEN",
                            NULL, RW));

    gst_element_class_add_static_pad_template(ec, &video_template);
    gst_element_class_add_static_pad_template(ec, &audio_template);
    gst_element_class_set_static_metadata(
        ec, "camstream sink", "Sink/Network",
        "Streams H.264/H.265 video and AAC/G.711 audio to a camstream or Kinesis Video Streams "
        "compatible server",
        "camstream");
    ec->request_new_pad = request_new_pad;
    ec->release_pad = release_pad;
    ec->change_state = change_state;
}

static gboolean plugin_init(GstPlugin *plugin)
{
    GST_DEBUG_CATEGORY_INIT(camstreamsink_debug, "camstreamsink", 0, "camstream sink");
    return gst_element_register(plugin, "camstreamsink", GST_RANK_NONE, GST_TYPE_CAMSTREAM_SINK);
}

/* GStreamer refuses license names it does not know (Apache-2.0 in 1.22): "unknown" here, the
 * SPDX line above is the license. */
GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, camstreamsink,
                  "Streams to camstream / KVS servers", plugin_init, "0.1", "unknown", "camstream",
                  "camstream")
