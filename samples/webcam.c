/* SPDX-License-Identifier: Apache-2.0 */
/* webcam: stream a camera to a camstream (or KVS-compatible) server with GStreamer.
 *
 *   v4l2src (when /dev/video0 exists; else a live test pattern with a clock overlay)
 *     ! videoconvert ! x264enc tune=zerolatency ! h264parse ! camstreamsink
 *
 * While it runs it prints a status line (fragments PERSISTED, bitrate, buffer fill) from the
 * sink's camstream-status messages. Ctrl-C (or --duration) sends EOS: the sink waits until the
 * last fragment is PERSISTED, then the program exits; a second Ctrl-C stops at once.
 * Exit status: 0 when at least one fragment was PERSISTED, 1 otherwise, 2 for bad usage.
 * Credentials: --access-key/--secret-key, else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else
 * ~/.aws/credentials (the sink's defaults). */
#define _POSIX_C_SOURCE 200809L
#include <glib-unix.h>
#include <gst/gst.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    GMainLoop *loop;
    GstElement *pipeline;
    gboolean eos_sent;
    gboolean failed;
    guint64 persisted;
    guint64 first_bytes, last_bytes;
    gint64 first_us, last_us;
    gboolean status_line;
} app;

static void usage(FILE *to)
{
    fprintf(
        to,
        "usage: webcam [--endpoint URL] [--stream NAME] [--region R]\n"
        "              [--access-key K --secret-key S] [--device /dev/videoN | --test-pattern]\n"
        "              [--width W] [--height H] [--fps N] [--bitrate KBITS]\n"
        "              [--duration SECONDS] [--no-status]\n"
        "Streams the camera (or a live test pattern with a clock) as H.264 through\n"
        "camstreamsink. Defaults: --endpoint http://127.0.0.1:8080 --stream webcam\n"
        "--region us-east-1 --width 640 --height 480 --fps 30 --bitrate 1000.\n"
        "Ctrl-C or --duration: finish the last fragment, wait until it is stored, exit.\n");
}

/* EOS from the sources down: the sink flushes and posts EOS when everything is PERSISTED. */
static void stop_gracefully(app *a)
{
    if (!a->eos_sent) {
        a->eos_sent = TRUE;
        gst_element_send_event(a->pipeline, gst_event_new_eos());
    } else {
        g_main_loop_quit(a->loop); /* second request: stop now */
    }
}

static gboolean on_sigint(gpointer data)
{
    fprintf(stderr, "\nwebcam: stopping (Ctrl-C again to stop at once)\n");
    stop_gracefully(data);
    return G_SOURCE_CONTINUE;
}

static gboolean on_duration(gpointer data)
{
    stop_gracefully(data);
    return G_SOURCE_REMOVE;
}

static void print_status(app *a, const GstStructure *s)
{
    guint64 bytes = 0;
    guint fill = 0;
    double kbits = 0;
    gint64 now = g_get_monotonic_time();

    gst_structure_get_uint64(s, "bytes-sent", &bytes);
    gst_structure_get_uint(s, "store-fill-pct", &fill);
    if (a->first_us == 0) {
        a->first_us = now;
        a->first_bytes = bytes;
    } else if (now > a->first_us) {
        kbits =
            (double)(bytes - a->first_bytes) * 8.0 / 1000.0 / ((double)(now - a->first_us) / 1e6);
    }
    a->last_bytes = bytes;
    a->last_us = now;
    if (a->status_line) {
        printf("\rfragments persisted %" G_GUINT64_FORMAT ", bitrate %.0f kbit/s, buffer fill "
               "%u%%   ",
               a->persisted, kbits, fill);
        fflush(stdout);
    }
}

static gboolean on_message(GstBus *bus, GstMessage *m, gpointer data)
{
    app *a = data;
    GError *err = NULL;
    gchar *dbg = NULL;
    (void)bus;

    switch (GST_MESSAGE_TYPE(m)) {
    case GST_MESSAGE_ELEMENT: {
        const GstStructure *s = gst_message_get_structure(m);
        if (gst_structure_has_name(s, "camstream-status")) {
            a->persisted++;
            print_status(a, s);
        } else if (gst_structure_has_name(s, "camstream-drop")) {
            fprintf(stderr, "\nwebcam: dropped data: %s\n", gst_structure_get_string(s, "reason"));
        }
        break;
    }
    case GST_MESSAGE_WARNING:
        gst_message_parse_warning(m, &err, &dbg);
        fprintf(stderr, "\nwebcam: warning: %s\n", err->message);
        break;
    case GST_MESSAGE_ERROR:
        gst_message_parse_error(m, &err, &dbg);
        fprintf(stderr, "\nwebcam: error: %s\n", err->message);
        a->failed = TRUE;
        g_main_loop_quit(a->loop);
        break;
    case GST_MESSAGE_EOS:
        g_main_loop_quit(a->loop);
        break;
    default:
        break;
    }
    g_clear_error(&err);
    g_free(dbg);
    return TRUE;
}

/* The build tree's plugin, for running the sample before `make install`. */
static void add_build_tree_plugin(void)
{
#ifdef CS_GST_PLUGIN_DIR
    GstElementFactory *f = gst_element_factory_find("camstreamsink");
    if (f == NULL) {
        gst_registry_scan_path(gst_registry_get(), CS_GST_PLUGIN_DIR);
    } else {
        gst_object_unref(f);
    }
#endif
}

int main(int argc, char **argv)
{
    const char *endpoint = "http://127.0.0.1:8080", *stream = "webcam", *region = "us-east-1";
    const char *ak = NULL, *sk = NULL, *device = "/dev/video0";
    int width = 640, height = 480, fps = 30, bitrate = 1000, duration = 0;
    gboolean pattern = FALSE, status = TRUE;
    app a;
    GError *err = NULL;
    GString *desc;
    GstBus *bus;

    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(o, "--test-pattern") == 0) {
            pattern = TRUE;
            continue;
        } else if (strcmp(o, "--no-status") == 0) {
            status = FALSE;
            continue;
        } else if (v == NULL) {
            fprintf(stderr, "webcam: %s needs a value (try --help)\n", o);
            return 2;
        } else if (strcmp(o, "--endpoint") == 0) {
            endpoint = v;
        } else if (strcmp(o, "--stream") == 0) {
            stream = v;
        } else if (strcmp(o, "--region") == 0) {
            region = v;
        } else if (strcmp(o, "--access-key") == 0) {
            ak = v;
        } else if (strcmp(o, "--secret-key") == 0) {
            sk = v;
        } else if (strcmp(o, "--device") == 0) {
            device = v;
        } else if (strcmp(o, "--width") == 0) {
            width = atoi(v);
        } else if (strcmp(o, "--height") == 0) {
            height = atoi(v);
        } else if (strcmp(o, "--fps") == 0) {
            fps = atoi(v);
        } else if (strcmp(o, "--bitrate") == 0) {
            bitrate = atoi(v);
        } else if (strcmp(o, "--duration") == 0) {
            duration = atoi(v);
        } else {
            fprintf(stderr, "webcam: unknown option %s (try --help)\n", o);
            return 2;
        }
        i++;
    }
    if (width <= 0 || height <= 0 || fps <= 0 || bitrate <= 0 || duration < 0) {
        fprintf(stderr, "webcam: sizes, --fps, --bitrate and --duration must be positive\n");
        return 2;
    }
    gst_init(&argc, &argv);
    add_build_tree_plugin();

    /* The source: the camera, or a live test pattern with the time burnt in. */
    desc = g_string_new(NULL);
    if (!pattern && access(device, R_OK) == 0) {
        g_string_append_printf(desc, "v4l2src device=%s ! videoconvert ! videoscale ! ", device);
        fprintf(stderr, "webcam: streaming %s\n", device);
    } else {
        GstElementFactory *overlay = gst_element_factory_find("clockoverlay");
        g_string_append(desc, "videotestsrc is-live=true pattern=ball ! ");
        if (overlay != NULL) { /* gstreamer1.0-x (Pango); without it, no clock */
            g_string_append(desc, "clockoverlay time-format=\"%H:%M:%S\" ! ");
            gst_object_unref(overlay);
        }
        g_string_append(desc, "videoconvert ! videoscale ! ");
        fprintf(stderr, "webcam: no camera used; streaming a live test pattern\n");
    }
    /* H.264 for live: no B-frames, a key frame (so a fragment) every 2 s. */
    g_string_append_printf(desc,
                           "videorate ! video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1"
                           " ! x264enc tune=zerolatency speed-preset=veryfast bitrate=%d "
                           "key-int-max=%d ! h264parse ! video/x-h264,stream-format=avc,"
                           "alignment=au ! camstreamsink name=sink",
                           width, height, fps, bitrate, 2 * fps);
    a = (app){0};
    a.status_line = status;
    a.pipeline = gst_parse_launch(desc->str, &err);
    g_string_free(desc, TRUE);
    if (a.pipeline == NULL || err != NULL) { /* err alone: an element is missing */
        fprintf(stderr, "webcam: %s (is the camstreamsink plugin on GST_PLUGIN_PATH?)\n",
                err->message);
        g_clear_error(&err);
        if (a.pipeline != NULL) {
            gst_object_unref(a.pipeline);
        }
        return 1;
    }
    {
        GstElement *sink = gst_bin_get_by_name(GST_BIN(a.pipeline), "sink");
        g_object_set(sink, "endpoint", endpoint, "stream-name", stream, "aws-region", region, NULL);
        if (ak != NULL && sk != NULL) {
            g_object_set(sink, "access-key", ak, "secret-key", sk, NULL);
        }
        gst_object_unref(sink);
    }
    a.loop = g_main_loop_new(NULL, FALSE);
    bus = gst_element_get_bus(a.pipeline);
    gst_bus_add_watch(bus, on_message, &a);
    gst_object_unref(bus);
    g_unix_signal_add(SIGINT, on_sigint, &a);
    if (duration > 0) {
        g_timeout_add_seconds((guint)duration, on_duration, &a);
    }
    if (gst_element_set_state(a.pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
        fprintf(stderr, "webcam: the pipeline did not start (see the error above)\n");
        a.failed = TRUE;
    } else {
        g_main_loop_run(a.loop);
    }
    gst_element_set_state(a.pipeline, GST_STATE_NULL);
    gst_object_unref(a.pipeline);
    g_main_loop_unref(a.loop);
    printf("%swebcam: %" G_GUINT64_FORMAT " fragments persisted\n", status ? "\n" : "",
           a.persisted);
    return a.failed || a.persisted == 0 ? 1 : 0;
}
