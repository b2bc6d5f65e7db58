/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the KVS control plane's JSON handlers (ingest-server/api/api.c): each
 * input is run through csi_api_run(), the code a worker runs after the HTTP plumbing and the SigV4
 * check (JSON parse, member validation, the index calls, the response), with no socket, against a
 * real index in a temp dir (tmpfs when there is one, synchronous=NORMAL) holding one stream "cam".
 * Input layout: the first line is the operation's path ("/createStream"; anything else picks an
 * operation from the input's length), the rest is the body, copied to an exact-size heap block so
 * AddressSanitizer sees any read past it. Streams the input creates are deleted again and "cam" is
 * recreated after a deleteStream, so the index stays small and runs stay comparable. */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_int.h" /* csi_api_run() */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const paths[] = {
    "/createStream", "/describeStream",      "/listStreams",
    "/deleteStream", "/updateDataRetention", "/getDataEndpoint",
    "/tagStream",    "/untagStream",         "/listTagsForStream",
};
#define N_PATHS (sizeof(paths) / sizeof(paths[0]))
#define BASE_URL "http://127.0.0.1:8080"
#define SEED_STREAM                                                                                \
    "{\"StreamName\":\"cam\",\"MediaType\":\"video/h264\","                                        \
    "\"DataRetentionInHours\":24,\"Tags\":{\"site\":\"lab\"}}"

static char dir[256];
static char db[300];
static cs_index *ix;
static cs_api *api;
static bool need_seed = true;

static void cleanup(void)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[320];

    cs_api_destroy(&api);
    cs_index_close(&ix);
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", db, suffix[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void setup(void)
{
    static const cs_logger quiet = {NULL, NULL, CS_LOG_ERROR};
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    cs_index_config ic;
    cs_api_config ac;

    snprintf(dir, sizeof(dir), "%s/cs-fuzz-kvs-json-XXXXXX", base);
    if (mkdtemp(dir) == NULL) {
        abort();
    }
    snprintf(db, sizeof(db), "%s/index.sqlite3", dir);
    cs_index_config_init(&ic);
    ic.path = db;
    ic.durable = false;
    ic.logger = &quiet;
    cs_api_config_init(&ac);
    ac.require_auth = false;
    ac.logger = &quiet;
    if (cs_index_open(&ic, &ix) != CS_OK) {
        abort();
    }
    ac.index = ix;
    if (cs_api_create(&ac, &api) != CS_OK) {
        abort();
    }
    atexit(cleanup);
}

static void run(const char *path, const char *body, size_t len, struct csi_api_result *res)
{
    if (csi_api_run(api, path, body, len, BASE_URL, res) != CS_OK) {
        abort(); /* every path here is an operation */
    }
    /* The contract callers rely on: a body on success, an error name and message otherwise. */
    if ((res->error_type == NULL) != (res->out != NULL) || res->status < 200 || res->status > 599 ||
        (res->error_type == NULL) != (res->status == 200) ||
        (res->error_type != NULL && res->message[0] == '\0')) {
        abort();
    }
}

/* Deletes the stream a successful createStream made ({"StreamARN":"..."}). */
static void undo_create(const char *out)
{
    static const char key[] = "\"StreamARN\":\"";
    const char *a = strstr(out, key);
    const char *e;
    char body[512];
    struct csi_api_result res;
    int n;

    if (a == NULL) {
        abort();
    }
    a += sizeof(key) - 1;
    e = strchr(a, '"');
    if (e == NULL) {
        abort();
    }
    n = snprintf(body, sizeof(body), "{\"StreamARN\":\"%.*s\"}", (int)(e - a), a);
    if (n < 0 || (size_t)n >= sizeof(body)) {
        abort();
    }
    run("/deleteStream", body, (size_t)n, &res);
    free(res.out);
    if (res.error_type != NULL) {
        abort(); /* what createStream made must be deletable by its ARN */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    const char *path = paths[size % N_PATHS];
    size_t skip = 0;
    char *body = NULL;
    size_t len;
    struct csi_api_result res;

    if (api == NULL) {
        setup();
    }
    if (need_seed) {
        run("/createStream", SEED_STREAM, sizeof(SEED_STREAM) - 1, &res);
        free(res.out);
        need_seed = false;
    }
    if (nl != NULL) {
        for (size_t i = 0; i < N_PATHS; i++) {
            if ((size_t)(nl - data) == strlen(paths[i]) &&
                memcmp(data, paths[i], strlen(paths[i])) == 0) {
                path = paths[i];
            }
        }
        skip = (size_t)(nl - data) + 1;
    }
    len = size - skip;
    body = malloc(len > 0 ? len : 1);
    if (body == NULL) {
        return 0;
    }
    if (len > 0) {
        memcpy(body, data + skip, len);
    }
    run(path, body, len, &res);
    if (res.error_type == NULL && strcmp(path, "/createStream") == 0) {
        undo_create(res.out);
    }
    if (res.error_type == NULL && strcmp(path, "/deleteStream") == 0) {
        need_seed = true;
    }
    free(res.out);
    free(body);
    return 0;
}
