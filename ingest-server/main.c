/* SPDX-License-Identifier: Apache-2.0 */
/*
 * camstream-ingest: the ingest server program. Parses the command line, prepares the data
 * directory, opens the metadata index, starts the HTTP server with the KVS control plane on it,
 * prints the URL it listens on, and shuts down cleanly on SIGINT or SIGTERM. docs/ingest-server.md
 * is the operator's guide to the flags.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "http.h"
#include "index.h"

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
    const char *public_url;
    bool no_auth;
    bool strict_region;
    int log_level;
    uint32_t getmedia_max_s;
    uint32_t getmedia_idle_s;
    bool auto_create;
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
        "  --auth sigv4|none        check SigV4 signatures (default), or accept unsigned\n"
        "                           requests (never on a shared network; warns)\n"
        "  --no-auth                the same as --auth none\n"
        "  --log-level LEVEL        error, warn, info, debug, trace or 0..5 (default warn)\n"
        "  --getmedia-max-seconds N   end every GetMedia response after N s (default 0: never)\n"
        "  --getmedia-idle-seconds N  end a GetMedia response when no new fragment came for N s\n"
        "                           (default 0: never; the service streams until the client\n"
        "                           leaves)\n"
        "  --auto-create            PutMedia to an unknown stream name creates it\n"
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
    return 0;
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
        O_AUTO_CREATE,
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
        {"auto-create", no_argument, NULL, O_AUTO_CREATE},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    struct options o = {.host = "127.0.0.1",
                        .port = 8080,
                        .data_dir = "./camstream-data",
                        .region = "us-west-2",
                        .account_id = "123456789012",
                        .log_level = 2};
    cs_api_credential creds[MAX_CREDS];
    size_t n_creds = 0;
    cs_logger logger = {NULL, NULL, CS_LOG_WARN};
    cs_index_config ic;
    cs_index *ix = NULL;
    cs_http_server_config hc;
    cs_http_server *srv = NULL;
    cs_api_config ac;
    cs_api *api = NULL;
    cs_store_config sc;
    cs_store *store = NULL;
    char objects_dir[4096];
    char db_path[4096];
    sigset_t sigs;
    int sig = 0;
    int rc = 1;
    int c;
    cs_status st;
    const char *env_level = getenv("CS_LOG_LEVEL");

    memset(creds, 0, sizeof(creds));
    if (env_level && parse_level(env_level) >= 0) {
        o.log_level = parse_level(env_level);
    }
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
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
            if (strcmp(optarg, "none") == 0) {
                o.no_auth = true;
            } else if (strcmp(optarg, "sigv4") == 0) {
                o.no_auth = false;
            } else {
                fprintf(stderr, "camstream-ingest: --auth takes 'sigv4' or 'none', not '%s'\n",
                        optarg);
                return 2;
            }
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
        case O_HELP:
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "camstream-ingest: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if ((o.tls_cert == NULL) != (o.tls_key == NULL)) {
        fprintf(stderr, "camstream-ingest: --tls-cert and --tls-key go together\n");
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
        if (n_creds == 0) {
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

    /* Fragment objects: DATA_DIR/objects (fs backend). */
    snprintf(objects_dir, sizeof(objects_dir), "%s/objects", o.data_dir);
    cs_store_config_init(&sc);
    sc.kind = CS_STORE_FS;
    sc.fs_dir = objects_dir;
    sc.logger = &logger;
    st = cs_store_create(&sc, &store);
    if (st != CS_OK) {
        fprintf(stderr, "camstream-ingest: cannot open the object store %s: %s\n", objects_dir,
                cs_status_str(st));
        goto out;
    }

    cs_api_config_init(&ac);
    ac.index = ix;
    ac.store = store;
    ac.getmedia_max_ms = o.getmedia_max_s * 1000u;
    ac.getmedia_idle_ms = o.getmedia_idle_s * 1000u;
    ac.putmedia_auto_create = o.auto_create;
    ac.require_auth = !o.no_auth;
    ac.credentials = creds;
    ac.n_credentials = n_creds;
    ac.region = o.strict_region ? o.region : NULL;
    ac.public_url = o.public_url;
    ac.logger = &logger;
    st = cs_api_create(&ac, &api);
    if (st != CS_OK) {
        fprintf(stderr, "camstream-ingest: cannot set up the API: %s\n", cs_status_str(st));
        goto out;
    }

    cs_http_server_config_init(&hc);
    hc.bind_address = o.host;
    hc.port = o.port;
    hc.tls_cert_path = o.tls_cert;
    hc.tls_key_path = o.tls_key;
    hc.logger = &logger;
    st = cs_http_server_create(&hc, &srv);
    if (st == CS_OK) {
        st = cs_api_add_routes(api, srv);
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
        CS_LOG_INFO(&logger, "main", "signal %d: shutting down", sig);
    }
    rc = 0;
out:
    cs_http_server_destroy(&srv); /* first: no request is in flight after this */
    cs_api_destroy(&api);
    cs_store_destroy(&store);
    cs_index_close(&ix);
    for (size_t i = 0; i < n_creds; i++) {
        free((void *)creds[i].access_key);
        free((void *)creds[i].secret_key);
    }
    return rc;
}
