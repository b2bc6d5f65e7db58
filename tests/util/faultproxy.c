/* SPDX-License-Identifier: Apache-2.0 */
/* faultproxy: the loopback fault proxy of cs_proxy.h as a program, for scripts (Python fault
 * tests, shell). Listens on a free 127.0.0.1 port, prints "faultproxy listening on PORT" as its
 * first stdout line, forwards to 127.0.0.1:TARGET_PORT, and takes one command per stdin line:
 *   drop            reset every open connection
 *   stall MS        move no byte and accept nothing for MS milliseconds (0 ends a stall)
 *   cut BYTES       cut every connection after BYTES upstream bytes (0: off)
 *   target PORT     forward new connections to another port
 *   stats           print "accepted A refused R dropped D cut C up U down W open O stalled S"
 *   quit            (or end of input) stop
 * Each command answers "ok" (or "error: ..."). Usage: faultproxy TARGET_PORT */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_proxy.h"

int main(int argc, char **argv)
{
    cs_proxy *p = NULL;
    char line[256];
    long port = argc == 2 ? strtol(argv[1], NULL, 10) : 0;

    if (argc != 2 || port <= 0 || port > 65535) {
        fprintf(argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr,
                "usage: faultproxy TARGET_PORT\n"
                "Loopback TCP proxy to 127.0.0.1:TARGET_PORT; commands on stdin: drop, stall MS, "
                "cut BYTES, target PORT, stats, quit.\n");
        return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    if (cs_proxy_start((uint16_t)port, &p) != 0) {
        perror("faultproxy: cannot listen");
        return 1;
    }
    printf("faultproxy listening on %u\n", (unsigned)cs_proxy_port(p));
    fflush(stdout);
    while (fgets(line, sizeof(line), stdin) != NULL) {
        unsigned long long v = 0;
        line[strcspn(line, "\r\n")] = '\0';
        if (strcmp(line, "drop") == 0) {
            cs_proxy_drop_all(p);
        } else if (sscanf(line, "stall %llu", &v) == 1 && v <= UINT32_MAX) {
            cs_proxy_stall(p, (uint32_t)v);
        } else if (sscanf(line, "cut %llu", &v) == 1) {
            cs_proxy_cut_after(p, v);
        } else if (sscanf(line, "target %llu", &v) == 1 && v > 0 && v <= 65535) {
            cs_proxy_set_target(p, (uint16_t)v);
        } else if (strcmp(line, "stats") == 0) {
            cs_proxy_stats st;
            cs_proxy_get_stats(p, &st);
            printf("accepted %" PRIu64 " refused %" PRIu64 " dropped %" PRIu64 " cut %" PRIu64
                   " up %" PRIu64 " down %" PRIu64 " open %u stalled %d\n",
                   st.accepted, st.refused, st.dropped, st.cut, st.bytes_up, st.bytes_down, st.open,
                   st.stalled ? 1 : 0);
        } else if (strcmp(line, "quit") == 0) {
            break;
        } else if (line[0] != '\0') {
            printf("error: unknown command '%s'\n", line);
            fflush(stdout);
            continue;
        }
        printf("ok\n");
        fflush(stdout);
    }
    cs_proxy_stop(&p);
    return 0;
}
