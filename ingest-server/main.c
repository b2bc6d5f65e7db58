/* SPDX-License-Identifier: Apache-2.0 */
/*
 * camstream-ingest: the ingest server program. Parses the command line, prepares the data
 * directory, opens the metadata index, starts the HTTP server with the KVS control plane on it,
 * prints the URL it listens on, and shuts down cleanly on SIGINT or SIGTERM. docs/ingest-server.md
 * is the operator's guide to the flags.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kds_store.h"
#include "api.h"
#include "authfile.h"
#include "conffile.h"
#include "http.h"
#include "index.h"
#include "metrics_http.h"
#include "upkeep.h"

/* The example pair from the AWS SigV4 documentation: the default for local testing only. */
#define DEFAULT_ACCESS_KEY "AKIDEXAMPLE"
#define DEFAULT_SECRET_KEY "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define MAX_CREDS 64

struct options {
    char host[256];
    uint16_t port;
    const char *data_dir;
    const char *region;
    const char *account_id;
    const char *tls_cert;
    const char *tls_key;
    const char *access_key;
    const char *secret_key;
    const char *credentials_file;
    const char *auth_file;    /* --auth-file: keys with per-stream rights */
    const char *metrics_auth; /* --metrics-auth: bearer token for GET /metrics */
    const char *public_url;
    bool no_auth;
    bool strict_region;
    int log_level;
    uint32_t getmedia_max_s;
    uint32_t getmedia_idle_s;
    uint32_t workers;
    bool poll_loop;
    bool auto_create;
    /* storage (docs/ingest-server.md "Storage") */
    bool s3;
    const char *s3_endpoint;
    const char *s3_bucket;
    const char *s3_region;
    bool s3_create_bucket;
    uint32_t retention_interval_s;
    uint32_t shutdown_timeout_s; /* --shutdown-timeout: how long SIGTERM waits for the drain */
    bool recovery_size_only;
    csi_kds_limit_conf kds_limits; /* --kds-shard-limits (docs/record-streams.md) */
};

static void usage(FILE *f)
{
    fprintf(
        f,
        "Usage: camstream-ingest [OPTIONS]\n"
        "The camstream ingest server: a self-hosted Kinesis Video Streams endpoint.\n\n"
        "  --listen ADDR:PORT       address to listen on (default 127.0.0.1:8080; port 0 picks a\n"
        "                           free port; the URL is printed on the first line of stdout)\n"
        "  --data-dir DIR           where data lives (default ./camstream-data; the index is\n"
        "                           DIR/index.sqlite3)\n"
        "  --region REGION          region in stream ARNs (default us-west-2)\n"
        "  --account-id ID          account in stream ARNs (default 123456789012)\n"
        "  --strict-region          refuse signatures scoped to another region\n"
        "  --public-url URL         base URL returned by GetDataEndpoint (default: the URL the\n"
        "                           client used to reach this server)\n"
        "  --tls-cert FILE          PEM certificate chain: serve HTTPS (needs --tls-key)\n"
        "  --tls-key FILE           PEM private key\n"
        "  --access-key KEY         accepted access key (with --secret-key)\n"
        "  --secret-key SECRET      its secret key\n"
        "  --credentials-file FILE  accepted keys, one 'ACCESS_KEY SECRET_KEY' per line\n"
        "                           ('#' comments), or an AWS credentials file\n"
        "  --auth-file FILE         accepted keys with the streams each may read or write\n"
        "                           ('key AK SK' lines, then 'read|write|readwrite PREFIX'\n"
        "                           lines; see docs/ingest-server.md)\n"
        "  --auth sigv4|none        check SigV4 signatures (default), or accept unsigned\n"
        "                           requests (never on a shared network; warns)\n"
        "  --no-auth                the same as --auth none\n"
        "  --log-level LEVEL        error, warn, info, debug, trace or 0..5 (default warn)\n"
        "  --getmedia-max-seconds N   end every GetMedia response after N s (default 0: never)\n"
        "  --workers N              threads that persist fragments (default 64; fragments\n"
        "                           persist in parallel and share index commits); 8 more\n"
        "                           serve the control plane, stream lookups and reads\n"
        "  --event-loop epoll|poll  epoll (default: libev, where lws' evlib plugin is there;\n"
        "                           else poll with a warning) or lws' own poll() loop\n"
        "  --getmedia-idle-seconds N  end a GetMedia response when no new fragment came for N s\n"
        "                           (default 0: never; the service streams until the client\n"
        "                           leaves)\n"
        "  --auto-create            PutMedia to an unknown stream name creates it\n"
        "  --storage fs|s3          fragment objects in DATA_DIR/objects (default) or in an\n"
        "                           S3-compatible store (credentials from AWS_ACCESS_KEY_ID,\n"
        "                           AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)\n"
        "  --s3-endpoint URL        e.g. http://127.0.0.1:7480 (path-style requests)\n"
        "  --s3-bucket NAME         the bucket (must exist unless --s3-create-bucket)\n"
        "  --s3-region REGION       signing region (default us-east-1)\n"
        "  --s3-create-bucket       create the bucket at startup when missing\n"
        "  --retention-interval N   run the retention sweeper every N s (default 60)\n"
        "  --recovery-check checksum|size  what startup recovery verifies of each stored\n"
        "                           fragment (default checksum: reads every object once)\n"
        "  --kds-shard-limits SPEC  per-shard limits of record streams without their own\n"
        "                           'camstream:shard-limits' tag: off (default), service (1000\n"
        "                           records/s, 1 MiB/s in, 5 GetRecords/s), or\n"
        "                           records=N,bytes=N,getrecords=N\n"
        "  --shutdown-timeout N     on SIGTERM/SIGINT wait up to N s (default 10) for uploads to\n"
        "                           persist their last fragment and responses to end; a second\n"
        "                           signal exits at once\n"
        "  --metrics-auth TOKEN     GET /metrics wants 'Authorization: Bearer TOKEN' (default:\n"
        "                           open, like most exporters)\n"
        "  --config FILE            read settings from FILE first: 'key = value' lines, keys\n"
        "                           are these flags without '--'; flags given here win\n"
        "  --help                   this text\n\n"
        "Without --access-key or --credentials-file the server accepts the documentation key\n"
        "pair %s / %s.\n",
        DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY);
}

static int parse_listen(const char *s, struct options *o)
{
    const char *colon = strrchr(s, ':');
    char *end = NULL;
    unsigned long port;
    size_t hl;
    if (colon == NULL) {
        return -1;
    }
    hl = (size_t)(colon - s);
    if (hl >= sizeof(o->host)) {
        return -1;
    }
    if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
        memcpy(o->host, s + 1, hl - 2);
        o->host[hl - 2] = '\0';
    } else {
        memcpy(o->host, s, hl);
        o->host[hl] = '\0';
    }
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || port > 65535) {
        return -1;
    }
    if (o->host[0] == '\0') {
        snprintf(o->host, sizeof(o->host), "0.0.0.0");
    }
    o->port = (uint16_t)port;
    return 0;
}

/* A flag with two spellings: 0 for `a`, 1 for `b`; -1 (after saying so on stderr) otherwise. */
static int one_of(const char *flag, const char *arg, const char *a, const char *b)
{
    if (strcmp(arg, a) == 0) {
        return 0;
    }
    if (strcmp(arg, b) == 0) {
        return 1;
    }
    fprintf(stderr, "camstream-ingest: --%s takes '%s' or '%s', not '%s'\n", flag, a, b, arg);
    return -1;
}

static int parse_level(const char *s)
{
    static const char *const names[] = {"none", "error", "warn", "info", "debug", "trace"};
    for (int i = 0; i < 6; i++) {
        if (strcmp(s, names[i]) == 0 || (s[0] == (char)('0' + i) && s[1] == '\0')) {
            return i;
        }
    }
    return -1;
}

static char *trim(char *s)
{
    char *e;
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r')) {
        *--e = '\0';
    }
    return s;
}

/* Reads keys: "AK SK" lines, or aws_access_key_id/aws_secret_access_key pairs. */
static int load_credentials(const char *path, cs_api_credential *creds, size_t *n)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    char *pending_ak = NULL;
    if (f == NULL) {
        fprintf(stderr, "camstream-ingest: cannot read credentials file %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f) && *n < MAX_CREDS) {
        char *l = trim(line);
        char *eq = strchr(l, '=');
        char *sp;
        if (*l == '\0' || *l == '#' || *l == ';' || *l == '[') {
            continue;
        }
        if (eq && strncmp(l, "aws_", 4) == 0) {
            *eq = '\0';
            char *k = trim(l);
            char *v = trim(eq + 1);
            if (strcmp(k, "aws_access_key_id") == 0) {
                free(pending_ak);
                pending_ak = strdup(v);
            } else if (strcmp(k, "aws_secret_access_key") == 0 && pending_ak) {
                creds[*n].access_key = pending_ak;
                creds[*n].secret_key = strdup(v);
                pending_ak = NULL;
                (*n)++;
            }
            continue;
        }
        sp = strpbrk(l, " \t");
        if (sp == NULL) {
            continue;
        }
        *sp = '\0';
        creds[*n].access_key = strdup(l);
        creds[*n].secret_key = strdup(trim(sp + 1));
        (*n)++;
    }
    free(pending_ak);
    fclose(f);
    if (*n == 0) {
        fprintf(stderr,
                "camstream-ingest: %s holds no credentials (expected lines "
                "'ACCESS_KEY SECRET_KEY')\n",
                path);
        return -1;
    }
    return 0;
}

/* The config file (--config) as arguments before the command line's (static: reachable until
 * exit). conf_line is the file's line of the option being parsed, 0 otherwise. */
static struct csi_conf conf;
static char **conf_argv;
static unsigned conf_line;

/* At exit during option parsing (an option's handler refused its value and returned 2): says
 * which config line held it, after the handler's message. */
static void report_conf_line(void)
{
    if (conf_line != 0) {
        fprintf(stderr, "camstream-ingest: (that setting is on line %u of %s)\n", conf_line,
                conf.path);
    }
}

static int read_config(const struct option *opts, int *argc, char ***argv)
{
    static const char *const refused[] = {"config", "help", NULL};
    const char *path = csi_conf_path(*argc, *argv);
    char err[512];
    if (path == NULL) {
        return 0;
    }
    if (csi_conf_load(path, opts, refused, &conf, err, sizeof(err)) != CS_OK) {
        fprintf(stderr, "camstream-ingest: %s\n", err);
        return -1;
    }
    if (csi_conf_merge(&conf, *argc, *argv, argc, &conf_argv) != CS_OK) {
        fprintf(stderr, "camstream-ingest: out of memory\n");
        return -1;
    }
    *argv = conf_argv;
    atexit(report_conf_line);
    return 0;
}

/* Reads --auth-file; `*all` gets the `n` command-line keys followed by the file's. */
static int load_auth_file(const char *path, struct csi_authfile *af, const cs_api_credential *creds,
                          size_t n, cs_api_credential **all)
{
    char err[512];
    struct stat sb;
    if (csi_authfile_load(path, af, err, sizeof(err)) != CS_OK) {
        fprintf(stderr, "camstream-ingest: --auth-file %s\n", err);
        return -1;
    }
    if (stat(path, &sb) == 0 && (sb.st_mode & 077) != 0) {
        fprintf(stderr,
                "camstream-ingest: warning: %s holds secrets and is readable by other users "
                "(chmod 600 %s)\n",
                path, path);
    }
    *all = calloc(n + af->n_keys, sizeof(**all));
    if (*all == NULL) {
        fprintf(stderr, "camstream-ingest: out of memory\n");
        return -1;
    }
    memcpy(*all, creds, n * sizeof(*creds));
    memcpy(*all + n, af->keys, af->n_keys * sizeof(*af->keys));
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < af->n_keys; k++) {
            if (strcmp(creds[i].access_key, af->keys[k].access_key) == 0) {
                fprintf(stderr, "camstream-ingest: access key %s is given twice (flags and %s)\n",
                        creds[i].access_key, path);
                return -1;
            }
        }
    }
    return 0;
}

/* One server per data directory: a second one would run startup recovery on the first one's
 * files (deleting objects it is about to index). An fcntl lock on DATA_DIR/LOCK, held until the
 * process ends (also by kill -9), with the holder's pid in the file for the message. */
static int lock_data_dir(const char *dir)
{
    char path[4096], pid[32];
    struct flock fl;
    int fd;
    ssize_t n;
    if ((size_t)snprintf(path, sizeof(path), "%s/LOCK", dir) >= sizeof(path)) {
        fprintf(stderr, "camstream-ingest: --data-dir is too long\n");
        return -1;
    }
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        fprintf(stderr, "camstream-ingest: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        fprintf(stderr,
                "camstream-ingest: the data directory %s is in use by another "
                "camstream-ingest%s%s%s\n"
                "  stop that server first, or pass another --data-dir\n",
                dir, pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "");
        close(fd);
        return -1;
    }
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        /* The lock holds without the pid; only the message loses it. */
    }
    return 0; /* fd stays open: the lock lives as long as the process */
}

static int prepare_data_dir(const char *dir)
{
    struct stat sb;
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        fprintf(stderr,
                "camstream-ingest: cannot create the data directory %s: %s\n"
                "  create it (mkdir -p %s) or pass --data-dir with a directory you can write\n",
                dir, strerror(errno), dir);
        return -1;
    }
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "camstream-ingest: the data directory %s is not a directory\n", dir);
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        fprintf(stderr,
                "camstream-ingest: the data directory %s is not writable by this user: %s\n"
                "  fix its owner or mode (chown/chmod), or pass --data-dir with a writable "
                "directory\n",
                dir, strerror(errno));
        return -1;
    }
    return lock_data_dir(dir);
}

/* Graceful shutdown (docs/ingest-server.md "Stopping"): cs_http_server_shutdown() runs these on
 * the loop thread. */
struct drain_ctx {
    cs_api *api;
    size_t at_start; /* uploads and GetMedia responses open when the drain began */
    size_t left;     /* ...still open at the last check */
};

static void drain_api(void *arg)
{
    struct drain_ctx *d = arg;
    d->at_start = cs_api_active(d->api);
    d->left = d->at_start;
    cs_api_drain(d->api);
}

static bool api_idle(void *arg)
{
    struct drain_ctx *d = arg;
    d->left = cs_api_active(d->api);
    return d->left == 0;
}

/* A second SIGTERM/SIGINT during the drain: leave now (what was acked PERSISTED is durable). */
static void second_signal(int sig)
{
    static const char msg[] = "camstream-ingest: second signal: exiting without finishing the "
                              "shutdown\n";
    (void)sig;
    if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
        _exit(1);
    }
    _exit(1);
}

/* The allocator keeps what it frees for the next request. The big buffers of a request (a
 * 10,000-record GetRecords answer is ~2.6 MB; request bodies) would otherwise be mmap'ed and
 * unmapped per request, or trimmed from the top of a worker's arena, and their pages faulted in
 * and zeroed again each time (page faults were ~8% of the server's CPU under the records
 * benchmark; the first touch of a buffer remains). A worker's arena keeps at most
 * M_TRIM_THRESHOLD of free memory at its top; blocks above M_MMAP_THRESHOLD still get their
 * own mapping. */
static void tune_malloc(void)
{
    mallopt(M_MMAP_THRESHOLD, 16 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
}

/* Record-stream retention, run by the sweeper thread after each sweep. */
static void trim_records(void *ctx)
{
    uint64_t removed = 0;
    if (csi_kds_store_trim(ctx, &removed) == CS_OK && removed > 0) {
        CS_LOG_INFO(NULL, "main", "retention: %llu records removed from record streams",
                    (unsigned long long)removed);
    }
}

int main(int argc, char **argv)
{
    enum {
        O_LISTEN = 256,
        O_DATA,
        O_REGION,
        O_ACCOUNT,
        O_CERT,
        O_KEY,
        O_AK,
        O_SK,
        O_CREDS,
        O_NOAUTH,
        O_AUTH,
        O_LEVEL,
        O_PUBLIC,
        O_STRICT,
        O_GM_MAX,
        O_GM_IDLE,
        O_WORKERS,
        O_EVENT_LOOP,
        O_AUTO_CREATE,
        O_STORAGE,
        O_S3_ENDPOINT,
        O_S3_BUCKET,
        O_S3_REGION,
        O_S3_CREATE,
        O_RETENTION_INTERVAL,
        O_RECOVERY_CHECK,
        O_CONFIG,
        O_AUTH_FILE,
        O_METRICS_AUTH,
        O_KDS_LIMITS,
        O_SHUTDOWN_TIMEOUT,
        O_HELP
    };
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, O_LISTEN},
        {"data-dir", required_argument, NULL, O_DATA},
        {"region", required_argument, NULL, O_REGION},
        {"account-id", required_argument, NULL, O_ACCOUNT},
        {"tls-cert", required_argument, NULL, O_CERT},
        {"tls-key", required_argument, NULL, O_KEY},
        {"access-key", required_argument, NULL, O_AK},
        {"secret-key", required_argument, NULL, O_SK},
        {"credentials-file", required_argument, NULL, O_CREDS},
        {"no-auth", no_argument, NULL, O_NOAUTH},
        {"auth", required_argument, NULL, O_AUTH},
        {"log-level", required_argument, NULL, O_LEVEL},
        {"public-url", required_argument, NULL, O_PUBLIC},
        {"strict-region", no_argument, NULL, O_STRICT},
        {"getmedia-max-seconds", required_argument, NULL, O_GM_MAX},
        {"getmedia-idle-seconds", required_argument, NULL, O_GM_IDLE},
        {"workers", required_argument, NULL, O_WORKERS},
        {"event-loop", required_argument, NULL, O_EVENT_LOOP},
        {"auto-create", no_argument, NULL, O_AUTO_CREATE},
        {"storage", required_argument, NULL, O_STORAGE},
        {"s3-endpoint", required_argument, NULL, O_S3_ENDPOINT},
        {"s3-bucket", required_argument, NULL, O_S3_BUCKET},
        {"s3-region", required_argument, NULL, O_S3_REGION},
        {"s3-create-bucket", no_argument, NULL, O_S3_CREATE},
        {"retention-interval", required_argument, NULL, O_RETENTION_INTERVAL},
        {"recovery-check", required_argument, NULL, O_RECOVERY_CHECK},
        {"config", required_argument, NULL, O_CONFIG},
        {"auth-file", required_argument, NULL, O_AUTH_FILE},
        {"metrics-auth", required_argument, NULL, O_METRICS_AUTH},
        {"kds-shard-limits", required_argument, NULL, O_KDS_LIMITS},
        {"shutdown-timeout", required_argument, NULL, O_SHUTDOWN_TIMEOUT},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    struct options o = {.host = "127.0.0.1",
                        .port = 8080,
                        .data_dir = "./camstream-data",
                        .region = "us-west-2",
                        .workers = 64,
                        .shutdown_timeout_s = 10,
                        .account_id = "123456789012",
                        .log_level = 2};
    cs_api_credential creds[MAX_CREDS];
    size_t n_creds = 0;
    struct csi_authfile authf = {0};
    cs_api_credential *all_creds = NULL; /* creds + authf's keys */
    cs_metrics_route *metrics_route = NULL;
    cs_logger logger = {NULL, NULL, CS_LOG_WARN};
    cs_index_config ic;
    cs_index *ix = NULL;
    cs_http_server_config hc;
    cs_http_server *srv = NULL;
    cs_api_config ac;
    cs_api *api = NULL;
    csi_kds_store *kds = NULL;
    cs_store_config sc;
    cs_store *store = NULL;
    cs_upkeep_config uc;
    cs_recovery_report recovery;
    cs_sweeper *sweeper = NULL;
    char objects_dir[4096];
    char db_path[4096];
    sigset_t sigs;
    int sig = 0;
    int rc = 1;
    int c, k;
    cs_status st;
    const char *env_level = getenv("CS_LOG_LEVEL");

    tune_malloc();
    memset(creds, 0, sizeof(creds));
    if (env_level && parse_level(env_level) >= 0) {
        o.log_level = parse_level(env_level);
    }
    if (read_config(longopts, &argc, &argv) != 0) {
        return 2;
    }
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        conf_line = csi_conf_line_of(&conf, optind - 1); /* named by report_conf_line() */
        switch (c) {
        case O_LISTEN:
            if (parse_listen(optarg, &o) != 0) {
                fprintf(stderr,
                        "camstream-ingest: --listen wants ADDR:PORT (e.g. 127.0.0.1:8080 "
                        "or 0.0.0.0:0), not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case O_DATA:
            o.data_dir = optarg;
            break;
        case O_REGION:
            o.region = optarg;
            break;
        case O_ACCOUNT:
            o.account_id = optarg;
            break;
        case O_CERT:
            o.tls_cert = optarg;
            break;
        case O_KEY:
            o.tls_key = optarg;
            break;
        case O_AK:
            o.access_key = optarg;
            break;
        case O_SK:
            o.secret_key = optarg;
            break;
        case O_CREDS:
            o.credentials_file = optarg;
            break;
        case O_NOAUTH:
            o.no_auth = true;
            break;
        case O_AUTH:
            k = one_of("auth", optarg, "sigv4", "none");
            if (k < 0) {
                return 2;
            }
            o.no_auth = k == 1;
            break;
        case O_LEVEL:
            o.log_level = parse_level(optarg);
            if (o.log_level < 0) {
                fprintf(stderr,
                        "camstream-ingest: --log-level wants error, warn, info, debug, "
                        "trace or 0..5, not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case O_PUBLIC:
            o.public_url = optarg;
            break;
        case O_STRICT:
            o.strict_region = true;
            break;
        case O_WORKERS: {
            char *end = NULL;
            unsigned long v;
            errno = 0;
            v = strtoul(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || v < 1 || v > 256) {
                fprintf(stderr,
                        "camstream-ingest: --workers wants a number from 1 to 256, not '%s'\n",
                        optarg);
                return 2;
            }
            o.workers = (uint32_t)v;
            break;
        }
        case O_EVENT_LOOP:
            k = one_of("event-loop", optarg, "epoll", "poll");
            if (k < 0) {
                return 2;
            }
            o.poll_loop = k == 1;
            break;
        case O_GM_MAX:
        case O_GM_IDLE: {
            char *end = NULL;
            unsigned long v;
            errno = 0;
            v = strtoul(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || v > 4000000u) {
                fprintf(stderr, "camstream-ingest: --getmedia-*-seconds wants seconds, not '%s'\n",
                        optarg);
                return 2;
            }
            *(c == O_GM_MAX ? &o.getmedia_max_s : &o.getmedia_idle_s) = (uint32_t)v;
            break;
        }
        case O_AUTO_CREATE:
            o.auto_create = true;
            break;
        case O_STORAGE:
            k = one_of("storage", optarg, "fs", "s3");
            if (k < 0) {
                return 2;
            }
            o.s3 = k == 1;
            break;
        case O_S3_ENDPOINT:
            o.s3_endpoint = optarg;
            break;
        case O_S3_BUCKET:
            o.s3_bucket = optarg;
            break;
        case O_S3_REGION:
            o.s3_region = optarg;
            break;
        case O_S3_CREATE:
            o.s3_create_bucket = true;
            break;
        case O_RETENTION_INTERVAL: {
            char *end = NULL;
            unsigned long v;
            errno = 0;
            v = strtoul(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || v == 0 || v > 86400u) {
                fprintf(stderr,
                        "camstream-ingest: --retention-interval wants seconds (1..86400), "
                        "not '%s'\n",
                        optarg);
                return 2;
            }
            o.retention_interval_s = (uint32_t)v;
            break;
        }
        case O_RECOVERY_CHECK:
            k = one_of("recovery-check", optarg, "checksum", "size");
            if (k < 0) {
                return 2;
            }
            o.recovery_size_only = k == 1;
            break;
        case O_SHUTDOWN_TIMEOUT: {
            char *end = NULL;
            unsigned long v;
            errno = 0;
            v = strtoul(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || v > 3600u) {
                fprintf(stderr,
                        "camstream-ingest: --shutdown-timeout wants seconds from 0 to 3600, "
                        "not '%s'\n",
                        optarg);
                return 2;
            }
            o.shutdown_timeout_s = (uint32_t)v;
            break;
        }
        case O_CONFIG:
            if (conf.path == NULL || strcmp(optarg, conf.path) != 0) {
                fprintf(stderr, "camstream-ingest: give one --config FILE, spelled in full\n");
                return 2;
            }
            break; /* read by read_config() */
        case O_AUTH_FILE:
            o.auth_file = optarg;
            break;
        case O_METRICS_AUTH:
            o.metrics_auth = optarg;
            break;
        case O_KDS_LIMITS:
            if (csi_kds_limits_parse(optarg, &o.kds_limits) != CS_OK) {
                fprintf(stderr,
                        "camstream-ingest: --kds-shard-limits takes 'off', 'service' or "
                        "records=N,bytes=N,getrecords=N, not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case O_HELP:
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    conf_line = 0;
    if (optind < argc) {
        fprintf(stderr, "camstream-ingest: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if ((o.tls_cert == NULL) != (o.tls_key == NULL)) {
        fprintf(stderr, "camstream-ingest: --tls-cert and --tls-key go together\n");
        return 2;
    }
    if (o.s3 && (o.s3_endpoint == NULL || o.s3_bucket == NULL ||
                 getenv("AWS_ACCESS_KEY_ID") == NULL || getenv("AWS_SECRET_ACCESS_KEY") == NULL)) {
        fprintf(stderr, "camstream-ingest: --storage s3 needs --s3-endpoint, --s3-bucket and the "
                        "environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n");
        return 2;
    }
    if ((o.access_key == NULL) != (o.secret_key == NULL)) {
        fprintf(stderr, "camstream-ingest: --access-key and --secret-key go together\n");
        return 2;
    }
    logger.level = (cs_log_level)o.log_level;

    if (!o.no_auth) {
        if (o.credentials_file && load_credentials(o.credentials_file, creds, &n_creds) != 0) {
            goto out;
        }
        if (o.access_key && n_creds < MAX_CREDS) {
            creds[n_creds].access_key = strdup(o.access_key);
            creds[n_creds].secret_key = strdup(o.secret_key);
            n_creds++;
        }
        if (o.auth_file && load_auth_file(o.auth_file, &authf, creds, n_creds, &all_creds) != 0) {
            goto out;
        }
        if (n_creds == 0 && authf.n_keys == 0) {
            creds[0].access_key = strdup(DEFAULT_ACCESS_KEY);
            creds[0].secret_key = strdup(DEFAULT_SECRET_KEY);
            n_creds = 1;
            if (strcmp(o.host, "127.0.0.1") != 0 && strcmp(o.host, "::1") != 0 &&
                strcmp(o.host, "localhost") != 0) {
                fprintf(stderr,
                        "camstream-ingest: warning: listening on %s with the "
                        "documentation key pair; pass --access-key/--secret-key or "
                        "--credentials-file\n",
                        o.host);
            }
        }
    }

    if (prepare_data_dir(o.data_dir) != 0) {
        goto out;
    }
    if ((size_t)snprintf(db_path, sizeof(db_path), "%s/index.sqlite3", o.data_dir) >=
        sizeof(db_path)) {
        fprintf(stderr, "camstream-ingest: --data-dir is too long\n");
        goto out;
    }
    cs_index_config_init(&ic);
    ic.path = db_path;
    ic.region = o.region;
    ic.account_id = o.account_id;
    ic.logger = &logger;
    st = cs_index_open(&ic, &ix);
    if (st != CS_OK) {
        fprintf(stderr, "camstream-ingest: cannot open the index %s: %s%s\n", db_path,
                cs_status_str(st),
                st == CS_E_UNSUPPORTED ? " (written by a newer camstream-ingest)"
                : st == CS_E_MALFORMED ? " (not a camstream index: move it away)"
                                       : " (check that the data directory is writable)");
        goto out;
    }

    /* Fragment objects: DATA_DIR/objects (fs backend) or an S3 bucket. */
    snprintf(objects_dir, sizeof(objects_dir), "%s/objects", o.data_dir);
    cs_store_config_init(&sc);
    sc.kind = o.s3 ? CS_STORE_S3 : CS_STORE_FS;
    sc.fs_dir = objects_dir;
    sc.s3_endpoint = o.s3_endpoint;
    sc.s3_bucket = o.s3_bucket;
    if (o.s3_region) {
        sc.s3_region = o.s3_region;
    }
    sc.s3_access_key = getenv("AWS_ACCESS_KEY_ID");
    sc.s3_secret_key = getenv("AWS_SECRET_ACCESS_KEY");
    sc.s3_session_token = getenv("AWS_SESSION_TOKEN");
    sc.s3_create_bucket = o.s3_create_bucket;
    sc.logger = &logger;
    st = cs_store_create(&sc, &store);
    if (st != CS_OK) {
        fprintf(stderr, "camstream-ingest: cannot open the object store %s: %s\n",
                o.s3 ? o.s3_endpoint : objects_dir, cs_status_str(st));
        goto out;
    }

    /* Startup recovery, before any request: the index and the store agree afterwards. */
    cs_upkeep_config_init(&uc);
    uc.index = ix;
    uc.store = store;
    uc.logger = &logger;
    uc.check = o.recovery_size_only ? CS_RECOVERY_SIZE : CS_RECOVERY_CHECKSUM;
    if (o.retention_interval_s > 0) {
        uc.interval_ms = (uint64_t)o.retention_interval_s * 1000u;
    }
    st = cs_upkeep_recover(&uc, &recovery);
    if (st != CS_OK) {
        fprintf(stderr, "camstream-ingest: startup recovery failed: %s%s\n", cs_status_str(st),
                st == CS_E_STATE ? " (index.sqlite3 is new but the object store holds fragments: "
                                   "restore the index, or empty the store to start afresh)"
                                 : "");
        goto out;
    }

    /* Record streams: metadata in the same index database, logs under DATA_DIR/records. The
     * iterator key is kept in DATA_DIR so that iterators survive a restart. */
    {
        csi_kds_store_config kc;
        char key_path[4096 + 32];
        size_t got = 0;
        csi_kds_store_config_init(&kc);
        snprintf(key_path, sizeof(key_path), "%s/kds-iterator.key", o.data_dir);
        if (cs_file_read(key_path, kc.iterator_key, sizeof(kc.iterator_key), &got) != CS_OK ||
            got != sizeof(kc.iterator_key)) {
            if (cs_file_write_atomic(key_path, kc.iterator_key, sizeof(kc.iterator_key)) != CS_OK) {
                fprintf(stderr,
                        "camstream-ingest: cannot write %s (check that the data "
                        "directory is writable)\n",
                        key_path);
                goto out;
            }
        }
        kc.data_dir = o.data_dir;
        kc.db_path = db_path;
        kc.logger = &logger;
        kc.limits = o.kds_limits;
        if (getenv("CS_KDS_CLOCK_FILE") != NULL) {
            /* tests: the record streams' time comes from a file (kds_limits.h) */
            static csi_kds_file_clock kds_clock;
            csi_kds_file_clock_init(&kds_clock, getenv("CS_KDS_CLOCK_FILE"));
            kc.clock = &kds_clock.clock;
        }
        st = csi_kds_store_open(&kc, &kds);
        if (st != CS_OK) {
            fprintf(stderr, "camstream-ingest: cannot open the record streams in %s: %s\n", db_path,
                    cs_status_str(st));
            goto out;
        }
    }

    cs_api_config_init(&ac);
    ac.index = ix;
    ac.kds_store = kds;
    ac.store = store;
    ac.getmedia_max_ms = o.getmedia_max_s * 1000u;
    ac.getmedia_idle_ms = o.getmedia_idle_s * 1000u;
    ac.putmedia_auto_create = o.auto_create;
    ac.require_auth = !o.no_auth;
    ac.credentials = all_creds != NULL ? all_creds : creds;
    ac.n_credentials = n_creds + authf.n_keys;
    ac.region = o.strict_region ? o.region : NULL;
    ac.public_url = o.public_url;
    ac.logger = &logger;
    st = cs_api_create(&ac, &api);
    if (st != CS_OK) {
        fprintf(stderr, "camstream-ingest: cannot set up the API: %s\n", cs_status_str(st));
        goto out;
    }

    cs_http_server_config_init(&hc);
    hc.worker_threads = 8;              /* control plane, lookups, GetMedia reads, records */
    hc.bulk_worker_threads = o.workers; /* fragment persists (fsync-bound) */
    hc.poll_loop = o.poll_loop;
    hc.bind_address = o.host;
    hc.port = o.port;
    hc.tls_cert_path = o.tls_cert;
    hc.tls_key_path = o.tls_key;
    hc.logger = &logger;
    st = cs_http_server_create(&hc, &srv);
    if (st == CS_OK) {
        st = cs_api_add_routes(api, srv);
    }
    if (st == CS_OK) {
        st = cs_metrics_add_route(cs_metrics_default(), srv, o.metrics_auth, &metrics_route);
    }
    if (st != CS_OK) {
        fprintf(stderr, "camstream-ingest: cannot set up the HTTP server: %s\n", cs_status_str(st));
        goto out;
    }

    /* Threads started from here on inherit the mask: only sigwait() below sees the signals. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The retention sweeper: its own thread (never the event loop), after the mask. It also
     * trims the record streams' logs. */
    uc.also = trim_records;
    uc.also_ctx = kds;
    st = cs_sweeper_start(&uc, &sweeper);
    if (st != CS_OK) {
        fprintf(stderr, "camstream-ingest: cannot start the retention sweeper: %s\n",
                cs_status_str(st));
        goto out;
    }

    st = cs_http_server_start(srv);
    if (st != CS_OK) {
        fprintf(stderr, "camstream-ingest: cannot listen on %s:%u: %s%s\n", o.host,
                (unsigned)o.port, cs_status_str(st),
                st == CS_E_NET  ? " (address in use or not local? try another --listen)"
                : st == CS_E_IO ? " (check --tls-cert and --tls-key)"
                                : "");
        goto out;
    }
    printf("camstream-ingest listening on %s://%s%s%s:%u\n", o.tls_cert ? "https" : "http",
           strchr(o.host, ':') ? "[" : "", o.host, strchr(o.host, ':') ? "]" : "",
           (unsigned)cs_http_server_port(srv));
    fflush(stdout);
    if (o.no_auth) {
        fprintf(stderr,
                "camstream-ingest: warning: authentication is off (--auth none): anyone who "
                "can reach this port can read and write every stream\n");
    }
    CS_LOG_INFO(&logger, "main", "data directory %s, region %s, auth %s", o.data_dir, o.region,
                o.no_auth ? "off" : "on");

    if (sigwait(&sigs, &sig) == 0) {
        struct drain_ctx dc = {api, 0, 0};
        struct sigaction sa;
        uint64_t t0 = cs_clock_monotonic_ns(NULL);
        unsigned long long ms;

        CS_LOG_INFO(&logger, "main",
                    "signal %d: shutting down (up to %u s; a second signal exits "
                    "at once)",
                    sig, (unsigned)o.shutdown_timeout_s);
        /* The second signal: a handler, run by this thread only (the others keep both signals
         * blocked), while it waits in cs_http_server_shutdown(). */
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = second_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
        st = cs_http_server_shutdown(srv, drain_api, api_idle, &dc, o.shutdown_timeout_s * 1000u);
        ms = (unsigned long long)((cs_clock_monotonic_ns(NULL) - t0) / 1000000u);
        if (st == CS_OK) {
            CS_LOG_INFO(&logger, "main",
                        "shutdown: %zu uploads/GetMedia responses drained in "
                        "%llu ms",
                        dc.at_start, ms);
        } else {
            cs_http_server_stats hs;
            cs_http_server_get_stats(srv, &hs);
            CS_LOG_WARN(&logger, "main",
                        "shutdown: timed out after %llu ms with %zu open "
                        "(uploads/GetMedia responses; %llu connections): closing them",
                        ms, dc.left, (unsigned long long)hs.connections_open);
        }
    }
    rc = 0;
out:
    cs_http_server_destroy(&srv); /* first: no request is in flight after this */
    cs_metrics_route_destroy(&metrics_route);
    cs_sweeper_stop(&sweeper);
    cs_api_destroy(&api);
    csi_kds_store_close(&kds);
    cs_store_destroy(&store);
    cs_index_close(&ix);
    for (size_t i = 0; i < n_creds; i++) {
        free((void *)creds[i].access_key);
        free((void *)creds[i].secret_key);
    }
    free(all_creds);
    csi_authfile_free(&authf);
    return rc;
}
