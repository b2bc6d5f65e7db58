/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration test of PutMedia end to end: starts the real camstream-ingest (ephemeral loopback
 * port, temporary data dir, SigV4 on), creates streams with signed requests, and uploads an MKV
 * made by GStreamer (videotestsrc -> x264enc -> matroskamux streamable) with libcurl, chunked and
 * full duplex (each Cluster is sent only after the BUFFERING ack of the previous one came back).
 * Checks: BUFFERING/RECEIVED/PERSISTED per fragment in order with increasing fragment numbers;
 * every stored object is a standalone MKV that ffprobe decodes with the right frame count; a
 * re-sent upload acks PERSISTED with the same numbers and stores nothing new; timecode going
 * backwards -> ERROR 4004; unknown stream -> 404 ResourceNotFoundException; after kill -9 and a
 * restart the index still lists every PERSISTED fragment. Prints the RECEIVED -> PERSISTED
 * latency seen by the client. Usage: test_putmedia PATH/TO/camstream-ingest. Exit 77: skipped.
 */
#define _GNU_SOURCE

#include <curl/curl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "camstream/auth.h"
#include "camstream/kvs_ack.h"
#include "index.h"

#define AK "AKIDEXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define FRAMES 150
#define MAX_ACKS 64
#define MAX_CLUSTERS 32

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        bool ok_ = (cond);                                                                         \
        printf("%s ", ok_ ? "ok  " : "FAIL");                                                      \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        fflush(stdout);                                                                            \
        if (!ok_) {                                                                                \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---------------------------------------------------------------------------------------------- */
/* The server                                                                                     */
/* ---------------------------------------------------------------------------------------------- */

struct server {
    pid_t pid;
    char url[128];
    char host[64];
};

static bool server_start(const char *bin, const char *data_dir, struct server *sv)
{
    int fds[2];
    FILE *f;
    char line[256];
    const char *p;
    if (pipe(fds) != 0) {
        return false;
    }
    sv->pid = fork();
    if (sv->pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(bin, bin, "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--access-key", AK,
              "--secret-key", SK, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    f = fdopen(fds[0], "r");
    if (f == NULL || fgets(line, sizeof(line), f) == NULL) {
        return false;
    }
    /* keep the pipe open (the server may write more); leaked on purpose until exit */
    line[strcspn(line, "\r\n")] = '\0';
    p = strrchr(line, ' ');
    if (p == NULL || strncmp(p + 1, "http://", 7) != 0) {
        return false;
    }
    snprintf(sv->url, sizeof(sv->url), "%s", p + 1);
    snprintf(sv->host, sizeof(sv->host), "%s", p + 8);
    return true;
}

static void server_kill(struct server *sv, int sig)
{
    int status;
    kill(sv->pid, sig);
    waitpid(sv->pid, &status, 0);
}

/* ---------------------------------------------------------------------------------------------- */
/* Signed requests                                                                                */
/* ---------------------------------------------------------------------------------------------- */

struct resp {
    long status;
    char error_type[128];
    char body[8192];
    size_t body_len;
    /* PutMedia */
    cs_kvs_ack acks[MAX_ACKS];
    double ack_ms[MAX_ACKS];
    size_t n_acks;
    size_t buffering;
    char line[CS_KVS_ACK_MAX_LINE];
    size_t line_len;
    bool bad_line;
    CURL *h;
    bool paused;
    /* upload source */
    const uint8_t *data;
    size_t len;
    size_t pos;
    const size_t *cuts; /* cluster offsets in data */
    size_t n_cuts;
    size_t clusters_sent;
};

static size_t on_header(char *b, size_t size, size_t n, void *ctx)
{
    struct resp *r = ctx;
    size_t len = size * n;
    if (len > 17 && strncasecmp(b, "x-amzn-ErrorType:", 17) == 0) {
        size_t i = 17;
        while (i < len && b[i] == ' ') {
            i++;
        }
        snprintf(r->error_type, sizeof(r->error_type), "%.*s", (int)(len - i), b + i);
        r->error_type[strcspn(r->error_type, "\r\n")] = '\0';
    }
    return len;
}

static size_t on_write(char *b, size_t size, size_t n, void *ctx)
{
    struct resp *r = ctx;
    size_t len = size * n;
    for (size_t i = 0; i < len; i++) {
        if (r->body_len + 1 < sizeof(r->body)) {
            r->body[r->body_len++] = b[i];
            r->body[r->body_len] = '\0';
        }
        if (r->line_len < sizeof(r->line)) {
            r->line[r->line_len++] = b[i];
        }
        if (b[i] == '\n') {
            cs_kvs_ack a;
            if (cs_kvs_ack_parse(r->line, r->line_len, &a) == CS_OK && r->n_acks < MAX_ACKS) {
                r->ack_ms[r->n_acks] = now_ms();
                r->acks[r->n_acks++] = a;
                if (a.type == CS_KVS_ACK_BUFFERING) {
                    r->buffering++;
                }
            } else {
                r->bad_line = true;
            }
            r->line_len = 0;
        }
    }
    if (r->paused && r->buffering >= r->clusters_sent) {
        r->paused = false;
        curl_easy_pause(r->h, CURLPAUSE_CONT);
    }
    return len;
}

/* Feeds the upload; a Cluster starts only once the previous one got its BUFFERING ack, which
 * proves acks flow while the body is still being sent. */
static size_t on_read(char *b, size_t size, size_t n, void *ctx)
{
    struct resp *r = ctx;
    size_t cap = size * n, end = r->len;
    for (size_t i = 0; i < r->n_cuts; i++) {
        if (r->cuts[i] > r->pos) {
            end = r->cuts[i];
            break;
        }
        if (r->cuts[i] == r->pos) {
            if (r->buffering < r->clusters_sent) {
                r->paused = true;
                return CURL_READFUNC_PAUSE;
            }
            r->clusters_sent++;
            end = i + 1 < r->n_cuts ? r->cuts[i + 1] : r->len;
            break;
        }
    }
    if (cap > end - r->pos) {
        cap = end - r->pos;
    }
    if (cap > 4096) {
        cap = 4096;
    }
    memcpy(b, r->data + r->pos, cap);
    r->pos += cap;
    return cap;
}

/* POST `path` signed for kinesisvideo; `body` NULL = a streaming PutMedia upload from r->data. */
static bool request(const struct server *sv, const char *path, const char *const *extra,
                    size_t n_extra, const char *body, struct resp *r)
{
    cs_sigv4_header hs[12];
    size_t nh = 0;
    cs_sigv4_request req;
    cs_sigv4_sign_config cfg;
    cs_sigv4_signature sig;
    char auth[512], url[256], hdr[600];
    struct curl_slist *list = NULL;
    char names[8][64];
    CURL *h = curl_easy_init();
    CURLcode rc;
    hs[nh++] = (cs_sigv4_header){"host", 4, sv->host, strlen(sv->host)};
    if (body) {
        hs[nh++] = (cs_sigv4_header){"content-type", 12, "application/json", 16};
    }
    for (size_t i = 0; i < n_extra; i++) {
        const char *colon = strchr(extra[i], ':');
        size_t nl = (size_t)(colon - extra[i]);
        snprintf(names[i], sizeof(names[i]), "%.*s", (int)nl, extra[i]);
        hs[nh++] = (cs_sigv4_header){names[i], nl, colon + 2, strlen(colon + 2)};
    }
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.method_len = 4;
    req.path = path;
    req.path_len = strlen(path);
    req.headers = hs;
    req.header_count = nh;
    if (body) {
        req.body = body;
        req.body_len = strlen(body);
    } else {
        req.payload_hash = CS_SIGV4_EMPTY_SHA256; /* as the KVS producer SDKs sign PutMedia */
    }
    cs_sigv4_sign_config_init(&cfg);
    cfg.region = "us-west-2";
    cfg.service = "kinesisvideo";
    cfg.access_key = AK;
    cfg.secret_key = SK;
    if (cs_sigv4_sign(&cfg, &req, auth, sizeof(auth), NULL, &sig) != CS_OK) {
        return false;
    }
    snprintf(hdr, sizeof(hdr), "Authorization: %s", auth);
    list = curl_slist_append(list, hdr);
    snprintf(hdr, sizeof(hdr), "X-Amz-Date: %s", sig.amz_date);
    list = curl_slist_append(list, hdr);
    for (size_t i = 0; i < n_extra; i++) {
        list = curl_slist_append(list, extra[i]);
    }
    if (body) {
        list = curl_slist_append(list, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    } else {
        list = curl_slist_append(list, "Transfer-Encoding: chunked");
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, r);
    }
    snprintf(url, sizeof(url), "%s%s", sv->url, path);
    r->h = h;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(list);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        printf("# curl: %s\n", curl_easy_strerror(rc));
    }
    return rc == CURLE_OK;
}

static bool create_stream(const struct server *sv, const char *name)
{
    char body[256];
    struct resp *r = calloc(1, sizeof(*r));
    bool ok;
    snprintf(body, sizeof(body), "{\"StreamName\":\"%s\",\"DataRetentionInHours\":24}", name);
    ok = request(sv, "/createStream", NULL, 0, body, r) && r->status == 200;
    free(r);
    return ok;
}

static struct resp *put_media(const struct server *sv, const char *stream, const uint8_t *data,
                              size_t len, const size_t *cuts, size_t n_cuts)
{
    char h1[300];
    const char *extra[4];
    struct resp *r = calloc(1, sizeof(*r));
    snprintf(h1, sizeof(h1), "x-amzn-stream-name: %s", stream);
    extra[0] = h1;
    extra[1] = "x-amzn-fragment-timecode-type: ABSOLUTE";
    extra[2] = "x-amzn-producer-start-timestamp: 1700000000.000";
    extra[3] = "x-amzn-fragment-acknowledgment-required: 1";
    r->data = data;
    r->len = len;
    r->cuts = cuts;
    r->n_cuts = n_cuts;
    request(sv, "/putMedia", extra, 4, NULL, r);
    return r;
}

/* ---------------------------------------------------------------------------------------------- */
/* Objects                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

static char g_objects[64][1024];
static size_t g_n_objects;

static int collect(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_F && strstr(path, ".mkv") != NULL && g_n_objects < 64) {
        snprintf(g_objects[g_n_objects++], sizeof(g_objects[0]), "%s", path);
    }
    return 0;
}

static size_t list_objects(const char *dir)
{
    g_n_objects = 0;
    nftw(dir, collect, 16, FTW_PHYS);
    return g_n_objects;
}

static long ffprobe_frames(const char *path)
{
    char cmd[1200];
    long frames = -1;
    FILE *p;
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -count_frames -select_streams v:0 -show_entries "
             "stream=nb_read_frames -of csv=p=0 '%s' 2>/dev/null",
             path);
    p = popen(cmd, "r");
    if (p != NULL) {
        if (fscanf(p, "%ld", &frames) != 1) {
            frames = -1;
        }
        pclose(p);
    }
    return frames;
}

static cs_status count_frag(void *ctx, const cs_index_fragment *f)
{
    char(*numbers)[CS_INDEX_FRAGMENT_NUMBER_SIZE] = ctx;
    for (size_t i = 0; i < MAX_CLUSTERS; i++) {
        if (numbers[i][0] == '\0') {
            snprintf(numbers[i], CS_INDEX_FRAGMENT_NUMBER_SIZE, "%s", f->number);
            break;
        }
    }
    return CS_OK;
}

/* ---------------------------------------------------------------------------------------------- */

static size_t find_clusters(const uint8_t *d, size_t len, size_t *cuts)
{
    size_t n = 0;
    for (size_t i = 0; i + 4 <= len && n < MAX_CLUSTERS; i++) {
        if (d[i] == 0x1f && d[i + 1] == 0x43 && d[i + 2] == 0xb6 && d[i + 3] == 0x75) {
            cuts[n++] = i;
        }
    }
    return n;
}

/* The PERSISTED numbers of an upload, in ack order. */
static size_t persisted(const struct resp *r, char numbers[][CS_KVS_FRAGMENT_NUMBER_MAX + 1])
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_acks; i++) {
        if (r->acks[i].type == CS_KVS_ACK_PERSISTED) {
            snprintf(numbers[n++], CS_KVS_FRAGMENT_NUMBER_MAX + 1, "%s",
                     r->acks[i].fragment_number);
        }
    }
    return n;
}

int main(int argc, char **argv)
{
    char tmp[] = "/tmp/cs-putmedia-XXXXXX";
    char data_dir[256], objects[300], mkv[300], cmd[1024], db[300];
    struct server sv;
    uint8_t *file = NULL;
    size_t file_len = 0, cuts[MAX_CLUSTERS], n_cuts;
    char first[MAX_CLUSTERS][CS_KVS_FRAGMENT_NUMBER_MAX + 1];
    char again[MAX_CLUSTERS][CS_KVS_FRAGMENT_NUMBER_MAX + 1];
    size_t n_first, n_again;
    struct resp *r;
    FILE *f;
    if (argc < 2) {
        fprintf(stderr, "usage: %s camstream-ingest\n", argv[0]);
        return 2;
    }
    if (access("/usr/bin/gst-launch-1.0", X_OK) != 0 || access("/usr/bin/ffprobe", X_OK) != 0) {
        printf("skip: gst-launch-1.0 or ffprobe missing\n");
        return 77;
    }
    if (mkdtemp(tmp) == NULL) {
        return 1;
    }
    snprintf(data_dir, sizeof(data_dir), "%s/data", tmp);
    snprintf(objects, sizeof(objects), "%s/objects", data_dir);
    snprintf(db, sizeof(db), "%s/index.sqlite3", data_dir);
    snprintf(mkv, sizeof(mkv), "%s/ball.mkv", tmp);
    snprintf(cmd, sizeof(cmd),
             "gst-launch-1.0 -q videotestsrc num-buffers=%d pattern=ball ! "
             "video/x-raw,width=320,height=240,framerate=30/1 ! x264enc key-int-max=30 ! "
             "h264parse ! matroskamux streamable=true ! filesink location=%s",
             FRAMES, mkv);
    if (system(cmd) != 0 || (f = fopen(mkv, "rb")) == NULL) {
        printf("skip: GStreamer could not make the test MKV\n");
        return 77;
    }
    fseek(f, 0, SEEK_END);
    file_len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    file = malloc(file_len);
    if (fread(file, 1, file_len, f) != file_len) {
        return 1;
    }
    fclose(f);
    n_cuts = find_clusters(file, file_len, cuts);
    CHECK(n_cuts == 5, "the test MKV has %zu clusters (5 expected: one per 30-frame GOP)", n_cuts);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    CHECK(server_start(argv[1], data_dir, &sv), "server listening at %s", sv.url);
    CHECK(create_stream(&sv, "cam1"), "createStream cam1");
    CHECK(create_stream(&sv, "cam2"), "createStream cam2");

    /* Unknown stream: the service's error before any body is read. */
    r = put_media(&sv, "nosuchstream", file, file_len, cuts, n_cuts);
    CHECK(r->status == 404 && strcmp(r->error_type, "ResourceNotFoundException") == 0,
          "unknown stream -> %ld %s", r->status, r->error_type);
    free(r);

    /* A whole upload. */
    r = put_media(&sv, "cam1", file, file_len, cuts, n_cuts);
    CHECK(r->status == 200 && !r->bad_line, "upload: HTTP %ld, %zu ack lines, all parse", r->status,
          r->n_acks);
    {
        /* Per fragment: BUFFERING < RECEIVED < PERSISTED, fragments in timecode order. */
        bool order = true;
        double lat_sum = 0, lat_max = 0;
        size_t lat_n = 0;
        for (size_t k = 0; k < n_cuts; k++) {
            uint64_t tc = (uint64_t)k * 1000u;
            size_t ib = SIZE_MAX, ir = SIZE_MAX, ip = SIZE_MAX;
            for (size_t i = 0; i < r->n_acks; i++) {
                if (!r->acks[i].has_timecode || r->acks[i].fragment_timecode != tc) {
                    continue;
                }
                if (r->acks[i].type == CS_KVS_ACK_BUFFERING && ib == SIZE_MAX) {
                    ib = i;
                } else if (r->acks[i].type == CS_KVS_ACK_RECEIVED && ir == SIZE_MAX) {
                    ir = i;
                } else if (r->acks[i].type == CS_KVS_ACK_PERSISTED && ip == SIZE_MAX) {
                    ip = i;
                }
            }
            if (!(ib < ir && ir < ip && ip != SIZE_MAX)) {
                order = false;
            } else {
                double l = r->ack_ms[ip] - r->ack_ms[ir];
                lat_sum += l;
                lat_n++;
                lat_max = l > lat_max ? l : lat_max;
            }
        }
        CHECK(order, "BUFFERING, RECEIVED, PERSISTED in order for each of %zu fragments", n_cuts);
        if (lat_n) {
            printf("# RECEIVED -> PERSISTED at the client: mean %.2f ms, max %.2f ms (%zu)\n",
                   lat_sum / (double)lat_n, lat_max, lat_n);
        }
    }
    n_first = persisted(r, first);
    {
        bool inc = n_first == n_cuts;
        for (size_t i = 1; i < n_first; i++) {
            inc = inc && strlen(first[i]) == 47 && strcmp(first[i - 1], first[i]) < 0;
        }
        CHECK(inc, "%zu PERSISTED acks with increasing 47-digit fragment numbers", n_first);
    }
    free(r);

    /* The stored objects: one standalone MKV per fragment, decodable with all its frames. */
    CHECK(list_objects(objects) == n_cuts, "%zu objects stored", g_n_objects);
    {
        long total = 0;
        bool each = true;
        for (size_t i = 0; i < g_n_objects; i++) {
            long fr = ffprobe_frames(g_objects[i]);
            each = each && fr == 30;
            total += fr;
        }
        CHECK(each && total == FRAMES, "ffprobe reads 30 frames in each object, %ld in all", total);
    }

    /* A reconnect re-sends the same fragments: same numbers, nothing stored again. */
    r = put_media(&sv, "cam1", file, file_len, cuts, n_cuts);
    n_again = persisted(r, again);
    {
        bool same = n_again == n_first;
        for (size_t i = 0; same && i < n_again; i++) {
            same = strcmp(first[i], again[i]) == 0;
        }
        CHECK(same, "re-sent upload: %zu PERSISTED with the same fragment numbers", n_again);
    }
    free(r);
    CHECK(list_objects(objects) == n_cuts, "still %zu objects after the re-send", g_n_objects);

    /* Timecode going backwards: header, cluster 2 (2000 ms), cluster 1 (1000 ms). */
    if (n_cuts >= 3) {
        size_t hl = cuts[0], l2 = cuts[3] - cuts[2], l1 = cuts[2] - cuts[1];
        uint8_t *bad = malloc(hl + l2 + l1);
        size_t bcuts[2] = {hl, hl + l2};
        bool got4004 = false, p2000 = false;
        memcpy(bad, file, hl);
        memcpy(bad + hl, file + cuts[2], l2);
        memcpy(bad + hl + l2, file + cuts[1], l1);
        r = put_media(&sv, "cam2", bad, hl + l2 + l1, bcuts, 2);
        for (size_t i = 0; i < r->n_acks; i++) {
            got4004 =
                got4004 || (r->acks[i].type == CS_KVS_ACK_ERROR && r->acks[i].error_id == 4004);
            p2000 = p2000 || (r->acks[i].type == CS_KVS_ACK_PERSISTED &&
                              r->acks[i].fragment_timecode == 2000);
        }
        CHECK(r->status == 200 && got4004 && p2000,
              "timecode backwards: fragment 2000 PERSISTED, then ERROR 4004 (%zu acks)", r->n_acks);
        free(r);
        free(bad);
    }

    /* kill -9, restart: every PERSISTED fragment is still in the index and exactly-once holds. */
    server_kill(&sv, SIGKILL);
    CHECK(server_start(argv[1], data_dir, &sv), "server restarted after kill -9 at %s", sv.url);
    {
        cs_index_config ic;
        cs_index *ix = NULL;
        char listed[MAX_CLUSTERS][CS_INDEX_FRAGMENT_NUMBER_SIZE];
        char next[CS_INDEX_FRAGMENT_NUMBER_SIZE];
        size_t n = 0;
        bool same = true;
        memset(listed, 0, sizeof(listed));
        cs_index_config_init(&ic);
        ic.path = db;
        if (cs_index_open(&ic, &ix) == CS_OK) {
            cs_index_fragment_list(ix, "cam1", CS_INDEX_PRODUCER_TIME, INT64_MIN, INT64_MAX, NULL,
                                   1000, count_frag, listed, next);
            cs_index_close(&ix);
        }
        while (n < MAX_CLUSTERS && listed[n][0]) {
            n++;
        }
        same = n == n_first;
        for (size_t i = 0; same && i < n; i++) {
            same = strcmp(listed[i], first[i]) == 0;
        }
        CHECK(same, "the index lists the %zu PERSISTED fragments of cam1 after the restart", n);
    }
    r = put_media(&sv, "cam1", file, file_len, cuts, n_cuts);
    n_again = persisted(r, again);
    {
        bool same = n_again == n_first;
        for (size_t i = 0; same && i < n_again; i++) {
            same = strcmp(first[i], again[i]) == 0;
        }
        CHECK(same && list_objects(objects) == n_cuts + 1,
              "after the restart a re-send acks the same %zu numbers; %zu objects (cam1 + cam2)",
              n_again, g_n_objects);
    }
    free(r);
    server_kill(&sv, SIGTERM);
    free(file);
    curl_global_cleanup();
    if (failures == 0) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
        if (system(cmd) != 0) {
            printf("# could not remove %s\n", tmp);
        }
    } else {
        printf("# data kept in %s\n", tmp);
    }
    printf("%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
