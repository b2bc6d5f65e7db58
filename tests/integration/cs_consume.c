/* SPDX-License-Identifier: Apache-2.0 */
/* A test helper over the consumer SDK's client (include/camstream/consumer.h): reads a stream
 * with GetMedia (or a fragment list) and prints one line per event, for the Python drivers to
 * compare with what was uploaded:
 *   start <number> <producer_ms>
 *   frame <number> <index> <track> <timestamp_ns> <key 0|1> <size> <sha256 of the payload>
 *   end <number> <complete 0|1>
 *   error <id> <code>
 *   stats bytes=<n> fragments=<n> frames=<n> reconnects=<n> skipped=<n>
 * Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "camstream/auth.h"
#include "camstream/consumer.h"

static void usage(FILE *to)
{
    fprintf(to, "usage: cs_consume --endpoint URL --stream NAME [--region R]\n"
                "                  [--start NOW|EARLIEST|FRAGMENT_NUMBER:N|CONTINUATION_TOKEN:T|\n"
                "                           SERVER_TIMESTAMP:MS|PRODUCER_TIMESTAMP:MS]\n"
                "                  [--fragments N1,N2,...] [--no-follow] [--max-events N]\n"
                "                  [--timeout SECONDS] [--resume-producer-ms MS]\n"
                "Reads the stream with the consumer SDK and prints one line per fragment/frame.\n");
}

int main(int argc, char **argv)
{
    cs_consumer_config cfg;
    cs_consumer *c = NULL;
    cs_consumer_stats stats;
    const char *frags[1000];
    char *list = NULL;
    long max_events = -1, events = 0;
    unsigned timeout_s = 30;
    cs_status st;
    int rc = 0;

    cs_consumer_config_init(&cfg);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--no-follow") == 0) {
            cfg.follow = false;
            continue;
        } else if (v == NULL) {
            fprintf(stderr, "cs_consume: %s needs a value\n", a);
            return 2;
        } else if (strcmp(a, "--endpoint") == 0) {
            cfg.endpoint = v;
        } else if (strcmp(a, "--stream") == 0) {
            cfg.stream_name = v;
        } else if (strcmp(a, "--region") == 0) {
            cfg.region = v;
        } else if (strcmp(a, "--resume-producer-ms") == 0) {
            cfg.resume_producer_ms_set = true;
            cfg.resume_producer_ms = strtoull(v, NULL, 10);
        } else if (strcmp(a, "--max-events") == 0) {
            max_events = atol(v);
        } else if (strcmp(a, "--timeout") == 0) {
            timeout_s = (unsigned)atoi(v);
        } else if (strcmp(a, "--start") == 0) {
            const char *colon = strchr(v, ':');
            size_t n = colon ? (size_t)(colon - v) : strlen(v);
            static const char *names[] = {"NOW",
                                          "EARLIEST",
                                          "FRAGMENT_NUMBER",
                                          "SERVER_TIMESTAMP",
                                          "PRODUCER_TIMESTAMP",
                                          "CONTINUATION_TOKEN"};
            int t = -1;
            for (int k = 0; k < 6; k++) {
                if (strlen(names[k]) == n && strncmp(v, names[k], n) == 0) {
                    t = k;
                }
            }
            if (t < 0) {
                fprintf(stderr, "cs_consume: unknown start selector %s\n", v);
                return 2;
            }
            cfg.start.type = (cs_start_type)t;
            cfg.start.fragment_number = colon ? colon + 1 : NULL;
            cfg.start.continuation_token = colon ? colon + 1 : NULL;
            cfg.start.timestamp_ms = colon ? strtoull(colon + 1, NULL, 10) : 0;
        } else if (strcmp(a, "--fragments") == 0) {
            list = strdup(v);
            for (char *s = strtok(list, ","); s != NULL && cfg.fragment_count < 1000;
                 s = strtok(NULL, ",")) {
                frags[cfg.fragment_count++] = s;
            }
            cfg.fragments = frags;
        } else {
            fprintf(stderr, "cs_consume: unknown option %s (try --help)\n", a);
            return 2;
        }
        i++;
    }
    if (cfg.endpoint == NULL || cfg.stream_name == NULL) {
        usage(stderr);
        return 2;
    }
    st = cs_consumer_open(&cfg, &c);
    if (st != CS_OK) {
        printf("open-failed %s\n", cs_status_str(st));
        free(list);
        return 1;
    }
    for (;;) {
        cs_gm_event ev;
        st = cs_consumer_next(c, timeout_s * 1000u, &ev);
        if (st != CS_OK) {
            printf("next-failed %s %s\n", cs_status_str(st), cs_consumer_error(c));
            rc = 1;
            break;
        }
        if (ev.type == CS_GM_EV_END) {
            break;
        }
        if (ev.type == CS_GM_EV_FRAGMENT_START) {
            /* start NUMBER PRODUCER_MS SERVER_MS (-1: absent) TAGS */
            printf("start %s %llu %lld %zu\n", ev.fragment->number,
                   (unsigned long long)ev.fragment->producer_ms,
                   ev.fragment->has_server_ms ? (long long)ev.fragment->server_ms : -1LL,
                   ev.fragment->tag_count);
        } else if (ev.type == CS_GM_EV_FRAME) {
            uint8_t md[CS_SHA256_SIZE];
            char hex[2 * CS_SHA256_SIZE + 1];
            size_t hl;
            cs_sha256(ev.frame.data, ev.frame.size, md);
            cs_hex_encode(md, sizeof(md), hex, sizeof(hex), &hl);
            printf("frame %s %u %llu %lld %d %zu %s\n", ev.fragment->number, ev.frame.index,
                   (unsigned long long)ev.frame.track, (long long)ev.frame.timestamp_ns,
                   ev.frame.key ? 1 : 0, ev.frame.size, hex);
        } else if (ev.type == CS_GM_EV_FRAGMENT_END) {
            /* end NUMBER COMPLETE MILLIS_BEHIND_NOW (-1: absent) CONTINUATION_TOKEN (-: none) */
            printf("end %s %d %lld %s\n", ev.fragment->number, ev.fragment->complete ? 1 : 0,
                   ev.fragment->has_millis_behind_now ? (long long)ev.fragment->millis_behind_now
                                                      : -1LL,
                   ev.fragment->continuation_token[0] ? ev.fragment->continuation_token : "-");
        } else if (ev.type == CS_GM_EV_ERROR) {
            printf("error %u %s\n", ev.error.id, ev.error.code);
        }
        fflush(stdout);
        if (max_events >= 0 && ++events >= max_events) {
            break;
        }
    }
    cs_consumer_get_stats(c, &stats);
    printf("stats bytes=%llu fragments=%llu frames=%llu reconnects=%llu skipped=%llu\n",
           (unsigned long long)stats.bytes, (unsigned long long)stats.fragments,
           (unsigned long long)stats.frames, (unsigned long long)stats.reconnects,
           (unsigned long long)stats.skipped_frames);
    cs_consumer_close(&c);
    free(list);
    return rc;
}
