/* SPDX-License-Identifier: Apache-2.0 */
/* A live consumer of the soak (tests/fault/soak/soak.py): follows one stream with the consumer
 * SDK's GetMedia client (which reconnects by itself with the last continuation token); when the
 * SDK gives up (the server was down longer than its reconnects), or when started again after
 * being killed, it opens a new GetMedia with CONTINUATION_TOKEN of the last complete fragment.
 * Runs until SIGTERM. Appends to --out, one line per event:
 *   open <selector>                    a GetMedia opened (by this process)
 *   start <fragment number> <producer timestamp ms>
 *   frame <fragment number> <timestamp_ns> <key 0|1> <size> <sha256 of the payload>
 *   end <fragment number> <complete 0|1> <continuation token>
 *   tokenlost <token> <message> resume PRODUCER_TIMESTAMP:<ms>   a resume was refused with 404
 *                                      for a fragment the server does not have (one served
 *                                      live that a server crash lost before it was persisted,
 *                                      or one torn mid-upload and never stored; the producer
 *                                      re-sent its frames under a new number; the message
 *                                      names the fragment): resumes at the last complete
 *                                      fragment's producer timestamp instead
 *   lost <status> <message>            the GetMedia failed; frames of a fragment not ended
 *                                      before this line may come again after the next open
 *   error <id> <code>                  an error the server reported inside the stream
 *   stats reconnects=<n> skipped=<n>   at exit
 * With --no-follow 1 it reads what the stream holds once (until the server ends the response or
 * 5 s pass without an event) and exits: 0 when the response ended cleanly, 1 when it failed.
 * Usage: soak_consume --endpoint URL --stream NAME --out FILE [--start SELECTOR] [--no-follow 1]
 *        [--last-ms MS]   (the producer timestamp of the last complete fragment read before)
 *        SELECTOR: NOW (default), EARLIEST or CONTINUATION_TOKEN:T
 * Every open passes the producer timestamp of the last complete fragment read (by this process
 * or, through --last-ms, the one before it) to the SDK (`resume_producer_ms`), which skips the
 * fragments at or before it: copies re-sent under a newer number of fragments read live. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "camstream/auth.h"
#include "camstream/consumer.h"

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    const char *endpoint = NULL, *stream = NULL, *out_path = NULL, *start = "NOW";
    char token[CS_GM_NUMBER_MAX + 1] = "";
    unsigned long long reconnects = 0, skipped = 0;
    struct sigaction sa;
    bool follow = true;
    unsigned idle = 0;
    uint64_t last_ms = 0, resume_ms = 0; /* producer ms of the last complete fragment */
    bool have_last = false;
    int rc = 0;
    FILE *out;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--endpoint") == 0) {
            endpoint = argv[i + 1];
        } else if (strcmp(argv[i], "--stream") == 0) {
            stream = argv[i + 1];
        } else if (strcmp(argv[i], "--out") == 0) {
            out_path = argv[i + 1];
        } else if (strcmp(argv[i], "--start") == 0) {
            start = argv[i + 1];
        } else if (strcmp(argv[i], "--last-ms") == 0) {
            last_ms = strtoull(argv[i + 1], NULL, 10);
            have_last = true;
        } else if (strcmp(argv[i], "--no-follow") == 0) {
            follow = strcmp(argv[i + 1], "0") == 0;
        } else {
            fprintf(stderr, "soak_consume: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (endpoint == NULL || stream == NULL || out_path == NULL) {
        fprintf(stderr, "usage: soak_consume --endpoint URL --stream NAME --out FILE "
                        "[--start NOW|EARLIEST|CONTINUATION_TOKEN:T]\n");
        return 2;
    }
    if (strncmp(start, "CONTINUATION_TOKEN:", 19) == 0) {
        snprintf(token, sizeof(token), "%s", start + 19);
    }
    out = fopen(out_path, "a");
    if (out == NULL) {
        perror(out_path);
        return 1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    while (!stop) {
        cs_consumer_config cfg;
        cs_consumer *c = NULL;
        cs_consumer_stats stats;
        cs_status st;
        cs_consumer_config_init(&cfg);
        cfg.endpoint = endpoint;
        cfg.stream_name = stream;
        cfg.region = "us-west-2";
        cfg.connect_timeout_ms = 3000;
        cfg.follow = follow;
        /* Each open is a new client: tell it what this process (or the one before it, through
         * --last-ms) processed, so that a fragment served live, lost by the server and re-sent
         * under a newer number is skipped (the SDK does this itself across its reconnects). */
        cfg.resume_producer_ms_set = have_last;
        cfg.resume_producer_ms = last_ms;
        if (resume_ms != 0) {
            cfg.start.type = CS_START_PRODUCER_TIMESTAMP;
            cfg.start.timestamp_ms = resume_ms;
        } else if (token[0] != '\0') {
            cfg.start.type = CS_START_CONTINUATION_TOKEN;
            cfg.start.continuation_token = token;
        } else {
            cfg.start.type = strcmp(start, "EARLIEST") == 0 ? CS_START_EARLIEST : CS_START_NOW;
        }
        st = cs_consumer_open(&cfg, &c);
        if (st != CS_OK && !follow) {
            fprintf(out, "lost %s %s\n", cs_status_str(st), c ? cs_consumer_error(c) : "open");
            cs_consumer_close(&c);
            rc = 1;
            break;
        }
        if (st == CS_E_NOTFOUND && token[0] != '\0' && resume_ms == 0 && last_ms != 0) {
            /* the token names a fragment the server does not have: one served live that a
             * server crash lost before it was persisted (the producer re-sends its frames
             * under a new number). Resume at the first fragment after the last one read. */
            fprintf(out, "tokenlost %s %s resume PRODUCER_TIMESTAMP:%llu\n", token,
                    cs_consumer_error(c), (unsigned long long)last_ms);
            fflush(out);
            resume_ms = last_ms;
            cs_consumer_close(&c);
            continue;
        }
        if (st != CS_OK) {
            /* the server is down (or restarting): try again shortly */
            struct timespec ts = {0, 500000000};
            cs_consumer_close(&c);
            nanosleep(&ts, NULL);
            continue;
        }
        if (resume_ms != 0) {
            fprintf(out, "open PRODUCER_TIMESTAMP:%llu\n", (unsigned long long)resume_ms);
        } else {
            fprintf(out, "open %s%s\n", token[0] ? "CONTINUATION_TOKEN:" : start, token);
        }
        resume_ms = 0;
        fflush(out);
        while (!stop) {
            cs_gm_event ev;
            st = cs_consumer_next(c, 1000, &ev);
            if (st == CS_E_TIMEOUT) {
                /* --no-follow: the server keeps a GetMedia open (no idle limit by default);
                 * 5 s without an event after the stream was read means the end */
                if (!follow && ++idle >= 5) {
                    stop = 1;
                    break;
                }
                continue;
            }
            idle = 0;
            if (st == CS_E_NOTFOUND && token[0] != '\0' && last_ms != 0) {
                /* as at open: the token's fragment is gone (the 404 came with the response) */
                fprintf(out, "tokenlost %s %s resume PRODUCER_TIMESTAMP:%llu\n", token,
                        cs_consumer_error(c), (unsigned long long)last_ms);
                fflush(out);
                resume_ms = last_ms;
                break;
            }
            if (st != CS_OK) {
                fprintf(out, "lost %s %s\n", cs_status_str(st), cs_consumer_error(c));
                fflush(out);
                rc = follow ? 0 : 1;
                break;
            }
            if (ev.type == CS_GM_EV_END && !follow) {
                stop = 1;
                break;
            }
            if (ev.type == CS_GM_EV_END) {
                fprintf(out, "lost END the response ended\n");
                fflush(out);
                break;
            }
            if (ev.type == CS_GM_EV_FRAGMENT_START) {
                fprintf(out, "start %s %llu\n", ev.fragment->number,
                        (unsigned long long)ev.fragment->producer_ms);
            } else if (ev.type == CS_GM_EV_FRAME) {
                uint8_t md[CS_SHA256_SIZE];
                char hex[2 * CS_SHA256_SIZE + 1];
                size_t hl;
                cs_sha256(ev.frame.data, ev.frame.size, md);
                cs_hex_encode(md, sizeof(md), hex, sizeof(hex), &hl);
                fprintf(out, "frame %s %lld %d %zu %s\n", ev.fragment->number,
                        (long long)ev.frame.timestamp_ns, ev.frame.key ? 1 : 0, ev.frame.size, hex);
            } else if (ev.type == CS_GM_EV_FRAGMENT_END) {
                if (ev.fragment->complete && ev.fragment->has_producer_ms) {
                    last_ms = ev.fragment->producer_ms;
                    have_last = true;
                }
                if (ev.fragment->continuation_token[0] != '\0') {
                    snprintf(token, sizeof(token), "%s", ev.fragment->continuation_token);
                }
                fprintf(out, "end %s %d %s\n", ev.fragment->number, ev.fragment->complete ? 1 : 0,
                        ev.fragment->continuation_token);
            } else if (ev.type == CS_GM_EV_ERROR) {
                fprintf(out, "error %u %s\n", ev.error.id, ev.error.code);
            }
            fflush(out);
        }
        cs_consumer_get_stats(c, &stats);
        reconnects += stats.reconnects;
        skipped += stats.skipped_frames;
        cs_consumer_close(&c);
        if (!follow) {
            break;
        }
    }
    fprintf(out, "stats reconnects=%llu skipped=%llu\n", reconnects, skipped);
    fclose(out);
    return rc;
}
