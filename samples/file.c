/* SPDX-License-Identifier: Apache-2.0 */
/* file: stream a media file (anything GStreamer decodes: MP4, MKV, H.264, ...) to a camstream
 * server through camstreamsink:
 *
 *   filesrc ! decodebin ! videoconvert ! x264enc ! h264parse ! camstreamsink start-time=<now>
 *
 * The video is re-encoded (key frame every 2 s, no B-frames) so any input works. By default it
 * runs as fast as the encoder goes (producer timestamps still advance with the file's own
 * timeline from start-time); --realtime paces it like a live camera. Exit status: 0 when the
 * whole file was sent and every fragment PERSISTED, else 1 (2 for bad usage). */
#define _POSIX_C_SOURCE 200809L
#include <gst/gst.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *to)
{
    fprintf(to, "usage: file [--endpoint URL] [--stream NAME] [--region R]\n"
                "            [--access-key K --secret-key S] [--realtime] FILE\n"
                "Streams FILE's video (re-encoded as H.264) through camstreamsink.\n"
                "Defaults: --endpoint http://127.0.0.1:8080 --stream file --region us-east-1.\n");
}

int main(int argc, char **argv)
{
    const char *endpoint = "http://127.0.0.1:8080", *stream = "file", *region = "us-east-1";
    const char *ak = NULL, *sk = NULL, *path = NULL;
    gboolean realtime = FALSE, ok = FALSE;
    guint persisted = 0;
    GError *err = NULL;
    GstElement *pipeline, *src, *sink;
    GstBus *bus;
    gchar *desc;

    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(o, "--realtime") == 0) {
            realtime = TRUE;
            continue;
        } else if (o[0] != '-') {
            path = o;
            continue;
        } else if (v == NULL) {
            fprintf(stderr, "file: %s needs a value (try --help)\n", o);
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
        } else {
            fprintf(stderr, "file: unknown option %s (try --help)\n", o);
            return 2;
        }
        i++;
    }
    if (path == NULL) {
        usage(stderr);
        return 2;
    }
    gst_init(&argc, &argv);
#ifdef CS_GST_PLUGIN_DIR
    gst_registry_scan_path(gst_registry_get(), CS_GST_PLUGIN_DIR); /* the build tree's plugin */
#endif
    /* decodebin's video pad links to videoconvert once the file is typefound. */
    desc = g_strdup_printf("filesrc name=src ! decodebin ! videoconvert ! %s x264enc "
                           "tune=zerolatency speed-preset=veryfast key-int-max=60 ! h264parse ! "
                           "video/x-h264,stream-format=avc,alignment=au ! camstreamsink name=sink",
                           realtime ? "identity sync=true !" : "");
    pipeline = gst_parse_launch(desc, &err);
    g_free(desc);
    if (pipeline == NULL || err != NULL) { /* err alone: an element is missing */
        fprintf(stderr, "file: %s (is the camstreamsink plugin on GST_PLUGIN_PATH?)\n",
                err->message);
        g_clear_error(&err);
        if (pipeline != NULL) {
            gst_object_unref(pipeline);
        }
        return 1;
    }
    src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
    g_object_set(src, "location", path, NULL);
    gst_object_unref(src);
    sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
    /* The file's time 0 is now: fragments get today's producer timestamps. */
    g_object_set(sink, "endpoint", endpoint, "stream-name", stream, "aws-region", region,
                 "start-time", (guint64)(g_get_real_time() / 1000), NULL);
    if (ak != NULL && sk != NULL) {
        g_object_set(sink, "access-key", ak, "secret-key", sk, NULL);
    }
    gst_object_unref(sink);

    gst_element_set_state(pipeline, GST_STATE_PLAYING);
    bus = gst_element_get_bus(pipeline);
    for (;;) {
        GstMessage *m = gst_bus_timed_pop(bus, GST_CLOCK_TIME_NONE);
        gboolean done = FALSE;
        if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT &&
            gst_structure_has_name(gst_message_get_structure(m), "camstream-status")) {
            printf("\rfragments persisted %u", ++persisted);
            fflush(stdout);
        } else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_WARNING ||
                   GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
            gchar *dbg = NULL;
            if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
                gst_message_parse_error(m, &err, &dbg);
                done = TRUE;
            } else {
                gst_message_parse_warning(m, &err, &dbg);
            }
            fprintf(stderr, "\nfile: %s\n", err->message);
            g_clear_error(&err);
            g_free(dbg);
        } else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS) {
            ok = persisted > 0; /* EOS comes after the sink's flush */
            done = TRUE;
        }
        gst_message_unref(m);
        if (done) {
            break;
        }
    }
    gst_object_unref(bus);
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(pipeline);
    printf("\nfile: %u fragments persisted\n", persisted);
    return ok ? 0 : 1;
}
