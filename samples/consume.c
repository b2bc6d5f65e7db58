/* SPDX-License-Identifier: Apache-2.0 */
/* consume: read a stream back with the consumer SDK (include/camstream/consumer.h).
 *
 *   consume --stream NAME [--output FILE.mkv]    save it as one Matroska file (cs_gm_remux)
 *   consume --stream NAME                        print one line per fragment and frame
 *
 * GetMedia starts at --start (EARLIEST by default here; NOW follows the live edge). With
 * --no-follow the program ends when the server has nothing more to send; otherwise it follows
 * the stream until Ctrl-C or --max-frames. Exit status: 0 when at least one frame was read.
 * Credentials: --access-key/--secret-key, else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "camstream/consumer.h"

static void usage(FILE *to)
{
    fprintf(to,
            "usage: consume --stream NAME [--endpoint URL] [--region R]\n"
            "               [--access-key K --secret-key S] [--start NOW|EARLIEST]\n"
            "               [--output FILE.mkv] [--no-follow] [--max-frames N] [--quiet]\n"
            "Reads a stream with GetMedia. With --output, writes it as one MKV file\n"
            "(play it with ffplay FILE.mkv); otherwise prints each fragment and frame.\n"
            "Defaults: --endpoint http://127.0.0.1:8080 --region us-east-1 --start EARLIEST.\n");
}

int main(int argc, char **argv)
{
    cs_consumer_config cfg;
    cs_consumer *c = NULL;
    const char *output = NULL;
    FILE *out = NULL;
    cs_gm_remux rm;
    uint8_t *buf = NULL;
    size_t buf_cap = 0;
    unsigned long long frames = 0, fragments = 0, max_frames = 0;
    int quiet = 0;
    cs_status st;

    cs_consumer_config_init(&cfg);
    cfg.endpoint = "http://127.0.0.1:8080";
    cfg.start.type = CS_START_EARLIEST;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(o, "--no-follow") == 0) {
            cfg.follow = false;
            continue;
        } else if (strcmp(o, "--quiet") == 0) {
            quiet = 1;
            continue;
        } else if (v == NULL) {
            fprintf(stderr, "consume: %s needs a value (try --help)\n", o);
            return 2;
        } else if (strcmp(o, "--stream") == 0) {
            cfg.stream_name = v;
        } else if (strcmp(o, "--endpoint") == 0) {
            cfg.endpoint = v;
        } else if (strcmp(o, "--region") == 0) {
            cfg.region = v;
        } else if (strcmp(o, "--access-key") == 0) {
            cfg.access_key = v;
        } else if (strcmp(o, "--secret-key") == 0) {
            cfg.secret_key = v;
        } else if (strcmp(o, "--output") == 0) {
            output = v;
        } else if (strcmp(o, "--max-frames") == 0) {
            max_frames = strtoull(v, NULL, 10);
        } else if (strcmp(o, "--start") == 0) {
            if (strcmp(v, "NOW") == 0) {
                cfg.start.type = CS_START_NOW;
            } else if (strcmp(v, "EARLIEST") == 0) {
                cfg.start.type = CS_START_EARLIEST;
            } else {
                fprintf(stderr, "consume: --start takes NOW or EARLIEST\n");
                return 2;
            }
        } else {
            fprintf(stderr, "consume: unknown option %s (try --help)\n", o);
            return 2;
        }
        i++;
    }
    if (cfg.stream_name == NULL) {
        usage(stderr);
        return 2;
    }
    if (output != NULL && (out = fopen(output, "wb")) == NULL) {
        perror(output);
        return 1;
    }
    cs_gm_remux_init(&rm);
    st = cs_consumer_open(&cfg, &c);
    if (st != CS_OK) {
        fprintf(stderr, "consume: cannot open the stream: %s\n", cs_status_str(st));
        return 1;
    }
    for (;;) {
        cs_gm_event ev;
        size_t n = 0;
        st = cs_consumer_next(c, 30000, &ev);
        if (st != CS_OK) {
            fprintf(stderr, "consume: %s: %s\n", cs_status_str(st), cs_consumer_error(c));
            break;
        }
        if (ev.type == CS_GM_EV_END) {
            break;
        }
        if (ev.type == CS_GM_EV_ERROR) {
            fprintf(stderr, "consume: server error %u %s\n", ev.error.id, ev.error.code);
            continue;
        }
        if (out != NULL) {
            /* Measure, grow the buffer, write: a Cluster per fragment, a block per frame. */
            if (cs_gm_remux_write(&rm, &ev, NULL, 0, &n) == CS_OK && n > 0) {
                if (n > buf_cap) {
                    uint8_t *nb = realloc(buf, n);
                    if (nb == NULL) {
                        fprintf(stderr, "consume: out of memory\n");
                        break;
                    }
                    buf = nb;
                    buf_cap = n;
                }
                if (cs_gm_remux_write(&rm, &ev, buf, buf_cap, &n) == CS_OK) {
                    fwrite(buf, 1, n, out);
                }
            }
        }
        if (ev.type == CS_GM_EV_FRAGMENT_START) {
            fragments++;
            if (!quiet && out == NULL) {
                printf("fragment %s producer %llu ms server %llu ms\n", ev.fragment->number,
                       (unsigned long long)ev.fragment->producer_ms,
                       (unsigned long long)ev.fragment->server_ms);
            }
        } else if (ev.type == CS_GM_EV_FRAME) {
            frames++;
            if (!quiet && out == NULL) {
                printf("  frame track %llu ts %lld ns %s %zu bytes\n",
                       (unsigned long long)ev.frame.track, (long long)ev.frame.timestamp_ns,
                       ev.frame.key ? "key" : "   ", ev.frame.size);
            }
            if (max_frames != 0 && frames >= max_frames) {
                break;
            }
        }
    }
    cs_consumer_close(&c);
    if (out != NULL) {
        fclose(out);
    }
    free(buf);
    fprintf(stderr, "consume: %llu fragments, %llu frames%s%s\n", fragments, frames,
            output ? " written to " : "", output ? output : "");
    return frames > 0 ? 0 : 1;
}
