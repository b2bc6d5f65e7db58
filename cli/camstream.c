/* SPDX-License-Identifier: Apache-2.0 */
/* camstream: the command line of the project. Talks to a KVS-compatible server (camstream-ingest
 * by default) with the consumer SDK: streams (list, create, describe, delete), fragments (by
 * time range), get-media (to a Matroska file or stdout, with a live status line) and tail
 * (fragments and frames as they arrive). Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
 * (unset: unsigned requests, for a server run with --auth none). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "camstream/consumer.h"
#include "put.h"
#include "records.h"

#define BODY_CAP (256u * 1024u)

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static const char *endpoint_default(void)
{
    const char *e = getenv("CAMSTREAM_ENDPOINT");
    return e && e[0] ? e : "http://127.0.0.1:8080";
}

static void usage(FILE *to)
{
    fprintf(
        to,
        "usage: camstream [--endpoint URL] [--region R] COMMAND [ARGS]\n"
        "\n"
        "Commands:\n"
        "  streams list [--prefix P]             the streams (name, status, retention)\n"
        "  streams create NAME [--retention-hours N] [--media-type T]\n"
        "  streams describe NAME                 the stream's details as JSON\n"
        "  streams delete NAME\n"
        "  fragments NAME [--from T] [--to T] [--server-time]\n"
        "                                        fragments in a time range (T: epoch seconds,\n"
        "                                        default the last hour)\n"
        "  get-media NAME [-o FILE] [--start S] [--duration SECONDS] [--no-follow]\n"
        "                                        the stream as one Matroska file (- = stdout),\n"
        "                                        with a status line on stderr\n"
        "  tail NAME [--start S]                 print fragments and frames as they arrive\n"
        "     get-media and tail: --resume-producer-ms MS skips fragments whose producer\n"
        "     timestamp is at or before MS (resuming after:TOKEN where an earlier reader\n"
        "     stopped: a fragment it read live and the server lost comes back re-sent)\n"
        "  put FILE --stream NAME [--fast] [--create] [--progress]\n"
        "                                        stream an MKV/MP4 or raw H.264/H.265 file with\n"
        "                                        the producer SDK, in real time or --fast; exit 0\n"
        "                                        only when every frame was PERSISTED (put --help)\n"
        "  records put|get|tail|streams ...      record streams (Kinesis Data Streams API):\n"
        "                                        see camstream records --help\n"
        "\n"
        "S: now (default), earliest, fragment:NUMBER, after:TOKEN, server:EPOCH_MS,\n"
        "   producer:EPOCH_MS\n"
        "--endpoint defaults to $CAMSTREAM_ENDPOINT or http://127.0.0.1:8080; --region to\n"
        "us-west-2. Requests are signed with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY when\n"
        "set.\n");
}

static int fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "camstream: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return 1;
}

/* One control-plane call; on success *doc is the parsed answer. */
static int call(const cs_consumer_config *cfg, const char *path, json_t *req, json_t **doc)
{
    char *body = json_dumps(req, JSON_COMPACT);
    char *out = malloc(BODY_CAP);
    cs_kvs_result res;
    cs_status st;
    json_error_t jerr;
    int rc = 0;

    json_decref(req);
    if (body == NULL || out == NULL) {
        free(body);
        free(out);
        return fail("out of memory");
    }
    st = cs_kvs_call(cfg, path, body, out, BODY_CAP, &res);
    free(body);
    if (st != CS_OK) {
        free(out);
        return fail("%s%s: no answer (%s): is the server running at %s?", cfg->endpoint, path,
                    cs_status_str(st), cfg->endpoint);
    }
    *doc = json_loads(out, 0, &jerr);
    if (res.http_status != 200) {
        const char *msg = *doc ? json_string_value(json_object_get(*doc, "Message")) : NULL;
        rc = fail("%s: HTTP %d %s: %s", path + 1, res.http_status, res.error_type, msg ? msg : out);
        json_decref(*doc);
        *doc = NULL;
    } else if (*doc == NULL) {
        rc = fail("%s: the answer is not JSON: %s", path + 1, jerr.text);
    }
    free(out);
    return rc;
}

static int streams(const cs_consumer_config *cfg, int argc, char **argv)
{
    json_t *doc = NULL;
    const char *sub = argc > 0 ? argv[0] : "";
    if (strcmp(sub, "list") == 0) {
        const char *prefix = NULL, *token = NULL;
        char tok[1024] = "";
        for (int i = 1; i < argc; i++) {
            if (strcmp(argv[i], "--prefix") == 0 && i + 1 < argc) {
                prefix = argv[++i];
            } else {
                return fail("streams list: unknown argument %s", argv[i]);
            }
        }
        printf("%-40s %-10s %s\n", "NAME", "STATUS", "RETENTION_HOURS");
        do {
            json_t *req = json_object(), *list;
            size_t k;
            json_t *it;
            json_object_set_new(req, "MaxResults", json_integer(100));
            if (prefix != NULL) {
                json_object_set_new(req, "StreamNameCondition",
                                    json_pack("{s:s,s:s}", "ComparisonOperator", "BEGINS_WITH",
                                              "ComparisonValue", prefix));
            }
            if (token != NULL) {
                json_object_set_new(req, "NextToken", json_string(token));
            }
            if (call(cfg, "/listStreams", req, &doc) != 0) {
                return 1;
            }
            list = json_object_get(doc, "StreamInfoList");
            json_array_foreach(list, k, it)
            {
                printf("%-40s %-10s %lld\n", json_string_value(json_object_get(it, "StreamName")),
                       json_string_value(json_object_get(it, "Status")),
                       (long long)json_integer_value(json_object_get(it, "DataRetentionInHours")));
            }
            token = json_string_value(json_object_get(doc, "NextToken"));
            if (token != NULL) {
                snprintf(tok, sizeof(tok), "%s", token);
                token = tok;
            }
            json_decref(doc);
        } while (token != NULL && token[0] != '\0');
        return 0;
    }
    if (argc < 2) {
        return fail("streams %s needs a stream name (try camstream --help)", sub[0] ? sub : "");
    }
    if (strcmp(sub, "create") == 0) {
        json_t *req = json_pack("{s:s}", "StreamName", argv[1]);
        long retention = 24;
        const char *media = "video/h264";
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--retention-hours") == 0 && i + 1 < argc) {
                retention = atol(argv[++i]);
            } else if (strcmp(argv[i], "--media-type") == 0 && i + 1 < argc) {
                media = argv[++i];
            } else {
                json_decref(req);
                return fail("streams create: unknown argument %s", argv[i]);
            }
        }
        json_object_set_new(req, "DataRetentionInHours", json_integer(retention));
        json_object_set_new(req, "MediaType", json_string(media));
        if (call(cfg, "/createStream", req, &doc) != 0) {
            return 1;
        }
        printf("%s\n", json_string_value(json_object_get(doc, "StreamARN")));
        json_decref(doc);
        return 0;
    }
    if (strcmp(sub, "describe") == 0 || strcmp(sub, "delete") == 0) {
        json_t *info, *req;
        char *text;
        if (call(cfg, "/describeStream", json_pack("{s:s}", "StreamName", argv[1]), &doc) != 0) {
            return 1;
        }
        info = json_object_get(doc, "StreamInfo");
        if (strcmp(sub, "describe") == 0) {
            text = json_dumps(info, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            printf("%s\n", text ? text : "{}");
            free(text);
            json_decref(doc);
            return 0;
        }
        req = json_pack("{s:O,s:O}", "StreamARN", json_object_get(info, "StreamARN"),
                        "CurrentVersion", json_object_get(info, "Version"));
        json_decref(doc);
        if (call(cfg, "/deleteStream", req, &doc) != 0) {
            return 1;
        }
        json_decref(doc);
        printf("deleted %s\n", argv[1]);
        return 0;
    }
    return fail("streams: unknown subcommand '%s' (list, create, describe, delete)", sub);
}

static void fmt_time(double epoch_s, char *out, size_t cap)
{
    time_t t = (time_t)epoch_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%03dZ", (int)((epoch_s - (double)t) * 1000.0 + 0.5) % 1000);
}

static int fragments(const cs_consumer_config *cfg, int argc, char **argv)
{
    double to = (double)time(NULL) + 60, from = to - 3660;
    const char *type = "PRODUCER_TIMESTAMP";
    const char *token = NULL;
    char tok[2048];
    json_t *doc = NULL;
    size_t total = 0;
    if (argc < 1) {
        return fail("fragments needs a stream name (try camstream --help)");
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
            from = atof(argv[++i]);
        } else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc) {
            to = atof(argv[++i]);
        } else if (strcmp(argv[i], "--server-time") == 0) {
            type = "SERVER_TIMESTAMP";
        } else {
            return fail("fragments: unknown argument %s", argv[i]);
        }
    }
    printf("%-47s %-24s %-24s %10s %8s\n", "FRAGMENT_NUMBER", "PRODUCER_TIME", "SERVER_TIME",
           "BYTES", "MS");
    do {
        json_t *req = json_pack("{s:s,s:i,s:{s:s,s:{s:f,s:f}}}", "StreamName", argv[0],
                                "MaxResults", 1000, "FragmentSelector", "FragmentSelectorType",
                                type, "TimestampRange", "StartTimestamp", from, "EndTimestamp", to);
        json_t *list, *it;
        size_t k;
        if (token != NULL) {
            json_object_del(req, "FragmentSelector");
            json_object_set_new(req, "NextToken", json_string(token));
        }
        if (call(cfg, "/listFragments", req, &doc) != 0) {
            return 1;
        }
        list = json_object_get(doc, "Fragments");
        json_array_foreach(list, k, it)
        {
            char p[40], s[40];
            fmt_time(json_number_value(json_object_get(it, "ProducerTimestamp")), p, sizeof(p));
            fmt_time(json_number_value(json_object_get(it, "ServerTimestamp")), s, sizeof(s));
            printf(
                "%-47s %-24s %-24s %10lld %8lld\n",
                json_string_value(json_object_get(it, "FragmentNumber")), p, s,
                (long long)json_integer_value(json_object_get(it, "FragmentSizeInBytes")),
                (long long)json_integer_value(json_object_get(it, "FragmentLengthInMilliseconds")));
            total++;
        }
        token = json_string_value(json_object_get(doc, "NextToken"));
        if (token != NULL) {
            snprintf(tok, sizeof(tok), "%s", token);
            token = tok;
        }
        json_decref(doc);
    } while (token != NULL && token[0] != '\0');
    fprintf(stderr, "%zu fragments\n", total);
    return 0;
}

static int parse_start(const char *s, cs_start_selector *sel)
{
    memset(sel, 0, sizeof(*sel));
    if (strcmp(s, "now") == 0) {
        sel->type = CS_START_NOW;
    } else if (strcmp(s, "earliest") == 0) {
        sel->type = CS_START_EARLIEST;
    } else if (strncmp(s, "fragment:", 9) == 0) {
        sel->type = CS_START_FRAGMENT_NUMBER;
        sel->fragment_number = s + 9;
    } else if (strncmp(s, "after:", 6) == 0) {
        sel->type = CS_START_CONTINUATION_TOKEN;
        sel->continuation_token = s + 6;
    } else if (strncmp(s, "server:", 7) == 0) {
        sel->type = CS_START_SERVER_TIMESTAMP;
        sel->timestamp_ms = strtoull(s + 7, NULL, 10);
    } else if (strncmp(s, "producer:", 9) == 0) {
        sel->type = CS_START_PRODUCER_TIMESTAMP;
        sel->timestamp_ms = strtoull(s + 9, NULL, 10);
    } else {
        return -1;
    }
    return 0;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* get-media and tail: one loop, two outputs. */
static int read_media(cs_consumer_config *cfg, int argc, char **argv, bool tail)
{
    const char *out_path = "-";
    double duration = 0, t0, last_status = 0;
    cs_consumer *c = NULL;
    cs_gm_remux rm;
    FILE *out = stdout;
    uint8_t *buf = NULL;
    size_t cap = 0;
    uint64_t frags = 0, bytes = 0;
    int64_t behind = -1;
    bool status_line = !tail && isatty(2);
    int rc = 0;

    if (argc < 1) {
        return fail("%s needs a stream name (try camstream --help)", tail ? "tail" : "get-media");
    }
    cfg->stream_name = argv[0];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--start") == 0 && i + 1 < argc) {
            if (parse_start(argv[++i], &cfg->start) != 0) {
                return fail("--start: '%s' is not a start (try camstream --help)", argv[i]);
            }
        } else if (!tail && strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            out_path = argv[++i];
        } else if (!tail && strcmp(argv[i], "--duration") == 0 && i + 1 < argc) {
            duration = atof(argv[++i]);
        } else if (strcmp(argv[i], "--no-follow") == 0) {
            cfg->follow = false;
        } else if (strcmp(argv[i], "--resume-producer-ms") == 0 && i + 1 < argc) {
            char *end = NULL;
            errno = 0;
            cfg->resume_producer_ms = strtoull(argv[++i], &end, 10);
            if (errno != 0 || end == argv[i] || *end != '\0') {
                return fail("--resume-producer-ms: '%s' is not a timestamp in milliseconds",
                            argv[i]);
            }
            cfg->resume_producer_ms_set = true;
        } else {
            return fail("%s: unknown argument %s", tail ? "tail" : "get-media", argv[i]);
        }
    }
    if (!tail && strcmp(out_path, "-") != 0) {
        out = fopen(out_path, "wb");
        if (out == NULL) {
            return fail("cannot write %s: %s", out_path, strerror(errno));
        }
    }
    if (cs_consumer_open(cfg, &c) != CS_OK) {
        rc = fail("cannot read '%s' from %s (the server's answer is in the log above)",
                  cfg->stream_name, cfg->endpoint);
        goto out;
    }
    cs_gm_remux_init(&rm);
    t0 = mono_s();
    while (!stop_flag && (duration <= 0 || mono_s() - t0 < duration)) {
        cs_gm_event ev;
        size_t n;
        cs_status st = cs_consumer_next(c, 200, &ev);
        if (st == CS_E_TIMEOUT) {
            if (status_line && mono_s() - last_status > 0.5) {
                double el = mono_s() - t0;
                last_status = mono_s();
                fprintf(stderr, "\r%llu fragments, %.1f MB, %.0f kbit/s, %lld ms behind now   ",
                        (unsigned long long)frags, (double)bytes / 1e6,
                        el > 0 ? (double)bytes * 8 / el / 1000 : 0.0, (long long)behind);
            }
            continue; /* quiet: the status line still shows the latest counts */
        }
        if (st != CS_OK) {
            rc = fail("reading stopped: %s (%s)", cs_consumer_error(c), cs_status_str(st));
            break;
        }
        if (ev.type == CS_GM_EV_END) {
            break;
        }
        if (ev.type == CS_GM_EV_ERROR) {
            fprintf(stderr, "camstream: the server reported %u %s\n", ev.error.id, ev.error.code);
            continue;
        }
        if (ev.type == CS_GM_EV_FRAGMENT_END) {
            frags++;
            if (ev.fragment->has_millis_behind_now) {
                behind = ev.fragment->millis_behind_now;
            }
        }
        if (tail) {
            if (ev.type == CS_GM_EV_FRAGMENT_START) {
                printf("fragment %s producer=%llu.%03llu server=%llu.%03llu\n", ev.fragment->number,
                       (unsigned long long)(ev.fragment->producer_ms / 1000),
                       (unsigned long long)(ev.fragment->producer_ms % 1000),
                       (unsigned long long)(ev.fragment->server_ms / 1000),
                       (unsigned long long)(ev.fragment->server_ms % 1000));
            } else if (ev.type == CS_GM_EV_FRAME) {
                printf("  frame track=%llu ts=%.3f %s size=%zu\n",
                       (unsigned long long)ev.frame.track, (double)ev.frame.timestamp_ns / 1e9,
                       ev.frame.key ? "key  " : "delta", ev.frame.size);
            }
            fflush(stdout);
            continue;
        }
        if (cs_gm_remux_write(&rm, &ev, NULL, 0, &n) != CS_OK) {
            rc = fail("this stream cannot be written as one Matroska file");
            break;
        }
        if (n > cap) {
            uint8_t *nb = realloc(buf, n);
            if (nb == NULL) {
                rc = fail("out of memory");
                break;
            }
            buf = nb;
            cap = n;
        }
        if (n > 0 &&
            (cs_gm_remux_write(&rm, &ev, buf, cap, &n) != CS_OK || fwrite(buf, 1, n, out) != n)) {
            rc = fail("cannot write %s: %s", out_path, strerror(errno));
            break;
        }
        bytes += n;
        if (status_line && mono_s() - last_status > 0.5) {
            double el = mono_s() - t0;
            last_status = mono_s();
            fprintf(stderr, "\r%llu fragments, %.1f MB, %.0f kbit/s, %lld ms behind now   ",
                    (unsigned long long)frags, (double)bytes / 1e6,
                    el > 0 ? (double)bytes * 8 / el / 1000 : 0.0, (long long)behind);
        }
    }
    if (!tail) {
        fprintf(stderr, "%s%llu fragments, %.1f MB written%s\n", status_line ? "\r" : "",
                (unsigned long long)frags, (double)bytes / 1e6, stop_flag ? " (interrupted)" : "");
    }
out:
    cs_consumer_close(&c);
    free(buf);
    if (out != stdout && out != NULL && fclose(out) != 0 && rc == 0) {
        rc = fail("cannot write %s: %s", out_path, strerror(errno));
    }
    return rc;
}

int main(int argc, char **argv)
{
    cs_consumer_config cfg;
    int i = 1;
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    cs_consumer_config_init(&cfg);
    cfg.endpoint = endpoint_default();
    cfg.region = "us-west-2";
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--endpoint") == 0 && i + 1 < argc) {
            cfg.endpoint = argv[++i];
        } else if (strcmp(argv[i], "--region") == 0 && i + 1 < argc) {
            cfg.region = argv[++i];
        } else {
            fprintf(stderr, "camstream: unknown option %s (try camstream --help)\n", argv[i]);
            return 2;
        }
    }
    if (i == argc) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[i], "streams") == 0) {
        return streams(&cfg, argc - i - 1, argv + i + 1);
    }
    if (strcmp(argv[i], "fragments") == 0) {
        return fragments(&cfg, argc - i - 1, argv + i + 1);
    }
    if (strcmp(argv[i], "get-media") == 0) {
        return read_media(&cfg, argc - i - 1, argv + i + 1, false);
    }
    if (strcmp(argv[i], "tail") == 0) {
        return read_media(&cfg, argc - i - 1, argv + i + 1, true);
    }
    if (strcmp(argv[i], "records") == 0) {
        return cli_records(cfg.endpoint, cfg.region, argc - i - 1, argv + i + 1);
    }
    if (strcmp(argv[i], "put") == 0) {
        return cli_put(cfg.endpoint, cfg.region, argc - i - 1, argv + i + 1, &stop_flag);
    }
    if (strcmp(argv[i], "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "camstream: unknown command '%s' (try camstream --help)\n", argv[i]);
    return 2;
}
