/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP test server as a program, for poking at by hand (curl, nghttp, h2load):
 * `http_test_server [port] [cert key]` (env CS_HTTP_MAX_BODY, CS_HTTP_IDLE_MS, CS_HTTP_SLOW_MS set
 * limits) prints the bound port and serves the test routes until stdin closes. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

#include "routes.h"

int main(int argc, char **argv)
{
    cs_http_server_config cfg;
    cs_http_server *srv = NULL;
    int c;

    cs_http_server_config_init(&cfg);
    cfg.port = argc > 1 ? (uint16_t)atoi(argv[1]) : 0;
    if (getenv("CS_HTTP_MAX_BODY") != NULL) {
        cfg.max_body_bytes = (uint64_t)atoll(getenv("CS_HTTP_MAX_BODY"));
    }
    if (getenv("CS_HTTP_IDLE_MS") != NULL) {
        cfg.idle_timeout_ms = (uint32_t)atol(getenv("CS_HTTP_IDLE_MS"));
    }
    if (getenv("CS_HTTP_SLOW_MS") != NULL) {
        cfg.slow_client_timeout_ms = (uint32_t)atol(getenv("CS_HTTP_SLOW_MS"));
    }
    if (argc > 3) {
        cfg.tls_cert_path = argv[2];
        cfg.tls_key_path = argv[3];
    }
    if (cs_http_server_create(&cfg, &srv) != CS_OK || cs_test_http_add_routes(srv) != CS_OK ||
        cs_http_server_start(srv) != CS_OK) {
        fprintf(stderr, "http_test_server: cannot start\n");
        cs_http_server_destroy(&srv);
        return 1;
    }
    printf("%u\n", cs_http_server_port(srv));
    fflush(stdout);
    while ((c = getchar()) != EOF) {
    }
    cs_http_server_destroy(&srv);
    return 0;
}
