/* SPDX-License-Identifier: Apache-2.0 */
/* camstreamsrc: a GStreamer source that reads a stream back from a KVS-compatible server with
 * the consumer SDK (GetMedia, any start selector, resuming after dropped connections) and
 * outputs it as one continuous Matroska stream (video/x-matroska): the header once, then one
 * Cluster per fragment, one SimpleBlock per frame (cs_gm_remux). So
 *   camstreamsrc stream-name=x ! matroskademux ! h264parse ! avdec_h264 ! autovideosink
 * plays it. GetMedia's own per-fragment EBML headers and service tags are not passed on: a
 * demuxer wants one Segment. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/base/gstpushsrc.h>
#include <gst/gst.h>
#include <string.h>

#include "camstream/consumer.h"
#include "camstream/mkv.h"

#define PACKAGE "camstream"
#define POLL_MS 100

GST_DEBUG_CATEGORY_STATIC(camstreamsrc_debug);
#define GST_CAT_DEFAULT camstreamsrc_debug

typedef enum {
    START_NOW = CS_START_NOW,
    START_EARLIEST = CS_START_EARLIEST,
    START_FRAGMENT_NUMBER = CS_START_FRAGMENT_NUMBER,
    START_SERVER_TIMESTAMP = CS_START_SERVER_TIMESTAMP,
    START_PRODUCER_TIMESTAMP = CS_START_PRODUCER_TIMESTAMP,
    START_CONTINUATION_TOKEN = CS_START_CONTINUATION_TOKEN,
} CamstreamStart;

#define CAMSTREAM_TYPE_START (camstream_start_get_type())
static GType camstream_start_get_type(void)
{
    static GType type = 0;
    static const GEnumValue values[] = {
        {START_NOW, "Live: fragments from now on", "now"},
        {START_EARLIEST, "The oldest stored fragment", "earliest"},
        {START_FRAGMENT_NUMBER, "At fragment-number", "fragment-number"},
        {START_SERVER_TIMESTAMP, "At start-timestamp (server time)", "server-timestamp"},
        {START_PRODUCER_TIMESTAMP, "At start-timestamp (producer time)", "producer-timestamp"},
        {START_CONTINUATION_TOKEN, "After continuation-token", "continuation-token"},
        {0, NULL, NULL}};
    if (g_once_init_enter(&type)) {
        GType t = g_enum_register_static("CamstreamStartSelector", values);
        g_once_init_leave(&type, t);
    }
    return type;
}

#define GST_TYPE_CAMSTREAM_SRC (gst_camstream_src_get_type())
G_DECLARE_FINAL_TYPE(GstCamstreamSrc, gst_camstream_src, GST, CAMSTREAM_SRC, GstPushSrc)

struct _GstCamstreamSrc {
    GstPushSrc parent;
    /* properties */
    gchar *endpoint;
    gchar *stream_name;
    gchar *region;
    gchar *access_key;
    gchar *secret_key;
    CamstreamStart start;
    guint64 start_timestamp;
    gchar *fragment_number;
    gchar *continuation_token;
    gboolean follow;
    guint max_frame_bytes;
    gint64 resume_producer_ms; /* -1: not set */
    /* state */
    cs_consumer *consumer;
    cs_gm_remux remux;
    gint flushing; /* atomic */
};

G_DEFINE_TYPE(GstCamstreamSrc, gst_camstream_src, GST_TYPE_PUSH_SRC)

enum {
    PROP_0,
    PROP_ENDPOINT,
    PROP_STREAM_NAME,
    PROP_REGION,
    PROP_ACCESS_KEY,
    PROP_SECRET_KEY,
    PROP_START_SELECTOR,
    PROP_START_TIMESTAMP,
    PROP_FRAGMENT_NUMBER,
    PROP_CONTINUATION_TOKEN,
    PROP_FOLLOW,
    PROP_MAX_FRAME_BYTES,
    PROP_RESUME_PRODUCER_MS,
};

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS("video/x-matroska"));

static void set_string(gchar **dst, const GValue *v)
{
    g_free(*dst);
    *dst = g_value_dup_string(v);
}

static void gst_camstream_src_set_property(GObject *obj, guint id, const GValue *v, GParamSpec *ps)
{
    GstCamstreamSrc *s = GST_CAMSTREAM_SRC(obj);
    GST_OBJECT_LOCK(s);
    switch (id) {
    case PROP_ENDPOINT:
        set_string(&s->endpoint, v);
        break;
    case PROP_STREAM_NAME:
        set_string(&s->stream_name, v);
        break;
    case PROP_REGION:
        set_string(&s->region, v);
        break;
    case PROP_ACCESS_KEY:
        set_string(&s->access_key, v);
        break;
    case PROP_SECRET_KEY:
        set_string(&s->secret_key, v);
        break;
    case PROP_START_SELECTOR:
        s->start = (CamstreamStart)g_value_get_enum(v);
        break;
    case PROP_START_TIMESTAMP:
        s->start_timestamp = g_value_get_uint64(v);
        break;
    case PROP_FRAGMENT_NUMBER:
        set_string(&s->fragment_number, v);
        break;
    case PROP_CONTINUATION_TOKEN:
        set_string(&s->continuation_token, v);
        break;
    case PROP_FOLLOW:
        s->follow = g_value_get_boolean(v);
        break;
    case PROP_MAX_FRAME_BYTES:
        s->max_frame_bytes = g_value_get_uint(v);
        break;
    case PROP_RESUME_PRODUCER_MS:
        s->resume_producer_ms = g_value_get_int64(v);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(obj, id, ps);
    }
    GST_OBJECT_UNLOCK(s);
    if (id == PROP_START_SELECTOR) {
        /* Before READY->PAUSED, which reads it: a live source does not preroll (set in start()
         * it came too late, and a pipeline reading from NOW waited for a preroll forever). */
        gst_base_src_set_live(GST_BASE_SRC(s), s->start == START_NOW);
    }
}

static void gst_camstream_src_get_property(GObject *obj, guint id, GValue *v, GParamSpec *ps)
{
    GstCamstreamSrc *s = GST_CAMSTREAM_SRC(obj);
    GST_OBJECT_LOCK(s);
    switch (id) {
    case PROP_ENDPOINT:
        g_value_set_string(v, s->endpoint);
        break;
    case PROP_STREAM_NAME:
        g_value_set_string(v, s->stream_name);
        break;
    case PROP_REGION:
        g_value_set_string(v, s->region);
        break;
    case PROP_ACCESS_KEY:
        g_value_set_string(v, s->access_key);
        break;
    case PROP_SECRET_KEY:
        g_value_set_string(v, s->secret_key ? "*****" : NULL);
        break;
    case PROP_START_SELECTOR:
        g_value_set_enum(v, s->start);
        break;
    case PROP_START_TIMESTAMP:
        g_value_set_uint64(v, s->start_timestamp);
        break;
    case PROP_FRAGMENT_NUMBER:
        g_value_set_string(v, s->fragment_number);
        break;
    case PROP_CONTINUATION_TOKEN:
        g_value_set_string(v, s->continuation_token);
        break;
    case PROP_FOLLOW:
        g_value_set_boolean(v, s->follow);
        break;
    case PROP_MAX_FRAME_BYTES:
        g_value_set_uint(v, s->max_frame_bytes);
        break;
    case PROP_RESUME_PRODUCER_MS:
        g_value_set_int64(v, s->resume_producer_ms);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(obj, id, ps);
    }
    GST_OBJECT_UNLOCK(s);
}

static gboolean gst_camstream_src_start(GstBaseSrc *bs)
{
    GstCamstreamSrc *s = GST_CAMSTREAM_SRC(bs);
    cs_consumer_config cfg;
    cs_status st;

    if (s->stream_name == NULL || s->stream_name[0] == '\0') {
        GST_ELEMENT_ERROR(s, RESOURCE, SETTINGS, ("No stream-name set."),
                          ("Set the stream-name property to the stream to read."));
        return FALSE;
    }
    cs_consumer_config_init(&cfg);
    cfg.endpoint = s->endpoint;
    cfg.region = s->region;
    cfg.stream_name = s->stream_name;
    cfg.access_key = s->access_key;
    cfg.secret_key = s->secret_key;
    cfg.start.type = (cs_start_type)s->start;
    cfg.start.timestamp_ms = s->start_timestamp;
    cfg.start.fragment_number = s->fragment_number;
    cfg.start.continuation_token = s->continuation_token;
    cfg.follow = s->follow;
    cfg.max_frame_bytes = s->max_frame_bytes;
    cfg.resume_producer_ms_set = s->resume_producer_ms >= 0;
    cfg.resume_producer_ms = s->resume_producer_ms >= 0 ? (uint64_t)s->resume_producer_ms : 0;
    st = cs_consumer_open(&cfg, &s->consumer);
    if (st != CS_OK) {
        GST_ELEMENT_ERROR(s, RESOURCE, OPEN_READ,
                          ("Cannot read stream '%s' from %s (%s).", s->stream_name, s->endpoint,
                           cs_status_str(st)),
                          ("Check that the server runs, the stream exists and the credentials "
                           "(access-key/secret-key or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) "
                           "are accepted."));
        return FALSE;
    }
    cs_gm_remux_init(&s->remux);
    g_atomic_int_set(&s->flushing, 0);
    gst_base_src_set_live(bs, s->start == START_NOW);
    return TRUE;
}

static gboolean gst_camstream_src_stop(GstBaseSrc *bs)
{
    GstCamstreamSrc *s = GST_CAMSTREAM_SRC(bs);
    cs_consumer_close(&s->consumer);
    return TRUE;
}

static gboolean gst_camstream_src_unlock(GstBaseSrc *bs)
{
    g_atomic_int_set(&GST_CAMSTREAM_SRC(bs)->flushing, 1);
    return TRUE;
}

static gboolean gst_camstream_src_unlock_stop(GstBaseSrc *bs)
{
    g_atomic_int_set(&GST_CAMSTREAM_SRC(bs)->flushing, 0);
    return TRUE;
}

static GstFlowReturn make_buffer(GstCamstreamSrc *s, const cs_gm_event *ev, GstBuffer **out)
{
    size_t len = 0;
    GstMapInfo map;
    GstBuffer *buf;
    cs_status st = cs_gm_remux_write(&s->remux, ev, NULL, 0, &len);

    if (st == CS_OK) {
        buf = gst_buffer_new_allocate(NULL, len, NULL);
        if (buf == NULL || !gst_buffer_map(buf, &map, GST_MAP_WRITE)) {
            return GST_FLOW_ERROR;
        }
        st = cs_gm_remux_write(&s->remux, ev, map.data, len, &len);
        gst_buffer_unmap(buf, &map);
        if (st != CS_OK) {
            gst_buffer_unref(buf);
        }
    }
    if (st != CS_OK) {
        GST_ELEMENT_ERROR(s, STREAM, FORMAT,
                          ("Cannot write the stream as Matroska (%s).", cs_status_str(st)),
                          ("CS_E_RANGE: a frame too far from its fragment start; CS_E_INVAL: "
                           "tracks the Matroska writer refuses"));
        return GST_FLOW_ERROR;
    }
    if (ev->type == CS_GM_EV_FRAME && !ev->frame.key) {
        GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
    }
    *out = buf;
    return GST_FLOW_OK;
}

static GstFlowReturn gst_camstream_src_create(GstPushSrc *ps, GstBuffer **out)
{
    GstCamstreamSrc *s = GST_CAMSTREAM_SRC(ps);
    for (;;) {
        cs_gm_event ev;
        cs_status st;
        if (g_atomic_int_get(&s->flushing)) {
            return GST_FLOW_FLUSHING;
        }
        st = cs_consumer_next(s->consumer, POLL_MS, &ev);
        if (st == CS_E_TIMEOUT) {
            continue;
        }
        if (st != CS_OK) {
            GST_ELEMENT_ERROR(
                s, RESOURCE, READ,
                ("Reading stream '%s' failed: %s.", s->stream_name, cs_consumer_error(s->consumer)),
                ("status %s", cs_status_str(st)));
            return GST_FLOW_ERROR;
        }
        switch (ev.type) {
        case CS_GM_EV_END:
            return GST_FLOW_EOS;
        case CS_GM_EV_ERROR:
            GST_ELEMENT_WARNING(
                s, RESOURCE, READ,
                ("The server reported an error in the stream: %u %s.", ev.error.id, ev.error.code),
                (NULL));
            continue;
        case CS_GM_EV_FRAGMENT_START:
        case CS_GM_EV_FRAME:
            return make_buffer(s, &ev, out);
        default:
            continue;
        }
    }
}

static void gst_camstream_src_finalize(GObject *obj)
{
    GstCamstreamSrc *s = GST_CAMSTREAM_SRC(obj);
    cs_consumer_close(&s->consumer);
    g_free(s->endpoint);
    g_free(s->stream_name);
    g_free(s->region);
    g_free(s->access_key);
    g_free(s->secret_key);
    g_free(s->fragment_number);
    g_free(s->continuation_token);
    G_OBJECT_CLASS(gst_camstream_src_parent_class)->finalize(obj);
}

static void gst_camstream_src_class_init(GstCamstreamSrcClass *klass)
{
    GObjectClass *oc = G_OBJECT_CLASS(klass);
    GstElementClass *ec = GST_ELEMENT_CLASS(klass);
    GstBaseSrcClass *bc = GST_BASE_SRC_CLASS(klass);
    GstPushSrcClass *pc = GST_PUSH_SRC_CLASS(klass);
    const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;

    oc->set_property = gst_camstream_src_set_property;
    oc->get_property = gst_camstream_src_get_property;
    oc->finalize = gst_camstream_src_finalize;
    g_object_class_install_property(
        oc, PROP_ENDPOINT,
        g_param_spec_string("endpoint", "Endpoint",
                            "Control-plane URL of the server (GetDataEndpoint is asked there)",
                            "http://127.0.0.1:8080", rw));
    g_object_class_install_property(
        oc, PROP_STREAM_NAME,
        g_param_spec_string("stream-name", "Stream name", "The stream to read", NULL, rw));
    g_object_class_install_property(
        oc, PROP_REGION,
        g_param_spec_string("region", "Region", "SigV4 signing region", "us-west-2", rw));
    g_object_class_install_property(
        oc, PROP_ACCESS_KEY,
        g_param_spec_string("access-key", "Access key",
                            "Access key id (default: AWS_ACCESS_KEY_ID; none: unsigned)", NULL,
                            rw));
    g_object_class_install_property(
        oc, PROP_SECRET_KEY,
        g_param_spec_string("secret-key", "Secret key",
                            "Secret access key (default: AWS_SECRET_ACCESS_KEY)", NULL, rw));
    g_object_class_install_property(oc, PROP_START_SELECTOR,
                                    g_param_spec_enum("start-selector", "Start selector",
                                                      "Where reading starts", CAMSTREAM_TYPE_START,
                                                      START_NOW, rw));
    g_object_class_install_property(
        oc, PROP_START_TIMESTAMP,
        g_param_spec_uint64("start-timestamp", "Start timestamp",
                            "For server-timestamp / producer-timestamp: epoch milliseconds", 0,
                            G_MAXUINT64, 0, rw));
    g_object_class_install_property(
        oc, PROP_FRAGMENT_NUMBER,
        g_param_spec_string("fragment-number", "Fragment number",
                            "For start-selector=fragment-number: the first fragment", NULL, rw));
    g_object_class_install_property(
        oc, PROP_CONTINUATION_TOKEN,
        g_param_spec_string("continuation-token", "Continuation token",
                            "For start-selector=continuation-token: read after this fragment", NULL,
                            rw));
    g_object_class_install_property(
        oc, PROP_FOLLOW,
        g_param_spec_boolean("follow", "Follow",
                             "Keep reading new fragments when the server ends a response "
                             "(false: end of stream when it does)",
                             TRUE, rw));
    g_object_class_install_property(oc, PROP_MAX_FRAME_BYTES,
                                    g_param_spec_uint("max-frame-bytes", "Max frame bytes",
                                                      "Largest frame accepted", 1024, G_MAXUINT,
                                                      4u << 20, rw));
    g_object_class_install_property(
        oc, PROP_RESUME_PRODUCER_MS,
        g_param_spec_int64("resume-producer-ms", "Resume producer timestamp",
                           "Resuming where an earlier reader stopped (continuation-token): the "
                           "producer timestamp (ms) of the last fragment it processed; fragments "
                           "at or before it are skipped, so a fragment read live, lost by the "
                           "server and re-sent under a newer number is not read twice (-1: none)",
                           -1, G_MAXINT64, -1, rw));

    gst_element_class_set_static_metadata(
        ec, "camstream source", "Source/Network",
        "Reads a video stream back from a KVS-compatible server (camstream-ingest) as Matroska",
        "camstream");
    gst_element_class_add_static_pad_template(ec, &src_template);
    bc->start = gst_camstream_src_start;
    bc->stop = gst_camstream_src_stop;
    bc->unlock = gst_camstream_src_unlock;
    bc->unlock_stop = gst_camstream_src_unlock_stop;
    pc->create = gst_camstream_src_create;
}

static void gst_camstream_src_init(GstCamstreamSrc *s)
{
    s->endpoint = g_strdup("http://127.0.0.1:8080");
    s->region = g_strdup("us-west-2");
    s->start = START_NOW;
    s->follow = TRUE;
    s->max_frame_bytes = 4u << 20;
    s->resume_producer_ms = -1;
    gst_base_src_set_format(GST_BASE_SRC(s), GST_FORMAT_BYTES);
    gst_base_src_set_live(GST_BASE_SRC(s), TRUE); /* start-selector=now */
}

static gboolean plugin_init(GstPlugin *plugin)
{
    GST_DEBUG_CATEGORY_INIT(camstreamsrc_debug, "camstreamsrc", 0, "camstream source");
    return gst_element_register(plugin, "camstreamsrc", GST_RANK_NONE, GST_TYPE_CAMSTREAM_SRC);
}

/* GStreamer knows a fixed list of license names and refuses to load others; Apache-2.0 is not
 * on it (1.22), so the plugin says "unknown" and the SPDX line above is the license. */
GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, camstreamsrc,
                  "Reads camstream / KVS video streams", plugin_init, "0.1", "unknown", "camstream",
                  "camstream")
