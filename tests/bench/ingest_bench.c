/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Load generator for camstream-ingest (issue 4). Starts the real server itself (loopback port 0,
 * a temporary --data-dir, --auth none, --auto-create) and drives it from one single-threaded
 * epoll client with HTTP/1.1 chunked PutMedia uploads of MKV made by the project's fragmenter
 * (H.264-like frames, 30 fps, 1 s fragments at 2 Mbit/s = ~250 KB). Scenarios:
 *  1. throughput: N (64) uploads as fast as possible; aggregate MB/s until the last PERSISTED ack,
 *     against a ceiling measured in the same run: a plain receiver in this program (one thread
 *     per connection) that takes the same bytes over loopback and, per fragment, writes stream
 *     header + Cluster to a temp file, fdatasync()s, closes and renames it on the same disk, then
 *     acks. Target: server >= 70% of the ceiling. Each run also prints the CPU seconds per GB
 *     received of the server process and of the ceiling's connection threads: when the machine
 *     is short of CPU (it is shared) that is the side of the ratio that does not depend on load.
 *  2. PERSISTED ack latency: 1,000 uploads paced at 2 Mbit/s (frames sent at their time); per
 *     fragment, the time from writing the byte that ends it (the next Cluster's ID; the body's
 *     last chunk for the last one) to its PERSISTED ack. Target p99 <= 50 ms.
 *  3. live GetMedia latency: one paced producer, consumers with StartSelector NOW; every frame
 *     payload carries "CSBENCH!" + its sequence number; latency = consumer sees it - producer
 *     wrote it. Target p99 <= 5 ms.
 *  4. memory: server VmRSS idle, with 1,000 idle connections, and during scenario 2.
 * Prints figures only: exit 0 unless something broke (server crash, connection errors).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "camstream/kvs_ack.h"
#include "camstream/mkv.h"

#define FPS 30
#define MAGIC "CSBENCH!"
#define MAGIC_LEN 8
#define MARK_LEN 16 /* magic + u64 sequence number */
#define MAX_CHUNK (64u * 1024u)
#define MAX_CONNECTING 64
#define RX_BUF (64u * 1024u)

/* ---------------------------------------------------------------------------------------------- */
/* Options and small helpers                                                                      */
/* ---------------------------------------------------------------------------------------------- */

struct opts {
    const char *server;
    const char *dir;
    unsigned runs;
    unsigned tp_uploads;
    unsigned tp_fragments;
    unsigned paced_uploads;
    double paced_seconds;
    unsigned idle_conns;
    unsigned consumers;
    double live_seconds;
    double sweep_seconds;
    unsigned only; /* bit per scenario */
    bool keep;
    bool paced_ceiling;      /* scenario 2 also runs against the ceiling */
    bool ceil_dirsync;       /* ceiling: also fsync the directory after the rename */
    unsigned ceil_workers;   /* ceiling: at most this many fragments persisting at once; 0 = all */
    const char *latency_log; /* scenarios 2 and 5: a line per acked fragment appended here */
};

static struct opts g_o;
static char g_tmp[512];  /* the run's temp dir: server data dirs and ceiling files */
static sem_t g_ceil_sem; /* --ceiling-workers */
static bool g_broke;     /* something broke: exit 1 */

static double now_ns(void)
{
    return cs_bench_now_ns();
}

static void die(const char *what)
{
    fprintf(stderr, "ingest_bench: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
    if (p == NULL) {
        fprintf(stderr, "ingest_bench: out of memory\n");
        exit(1);
    }
    return p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* q-quantile (nearest rank) of v[0..n), sorted in place; NAN when empty. */
static double quantile(double *v, size_t n, double q)
{
    size_t k;
    if (n == 0) {
        return NAN;
    }
    qsort(v, n, sizeof(v[0]), cmp_double);
    k = (size_t)ceil(q * (double)n);
    return v[k == 0 ? 0 : (k > n ? n - 1 : k - 1)];
}

static double median_of(double *v, size_t n)
{
    return n == 0 ? NAN : cs_bench_median(v, n);
}

static void rm_tree(const char *path)
{
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0) {
        fprintf(stderr, "ingest_bench: could not remove %s\n", path);
    }
}

/* Files a run is done with are moved to <tmp>/trash and removed at the end, not between runs:
 * on ext4 without a journal (this machine's root file system) the inode allocator skips every
 * inode freed in the last 5 s, or whose inode table block is still dirty (up to ~35 s, until
 * writeback), scanning past each one at every file creation. A removal of thousands of fragment
 * files between runs made the next run's creations, server's or ceiling's, spend up to 40% of
 * their CPU in that scan (perf: recently_deleted, find_get_block_common), whichever ran next.
 * When the disk runs short (< 16 GB free) the trash is emptied, then the bench waits for the
 * freed inodes to become reusable (40 s) before it measures again. */
static unsigned g_trash_n;

static void discard_tree(const char *path)
{
    char trash[600], dst[700];
    struct statvfs sv;
    snprintf(trash, sizeof(trash), "%s/trash", g_tmp);
    snprintf(dst, sizeof(dst), "%s/%u", trash, g_trash_n++);
    if ((mkdir(trash, 0755) != 0 && errno != EEXIST) || rename(path, dst) != 0) {
        rm_tree(path);
        return;
    }
    if (statvfs(g_tmp, &sv) == 0 && (double)sv.f_bavail * (double)sv.f_frsize < 16e9) {
        printf("    (disk short: emptying the bench's trash, then 40 s for ext4 to reuse the "
               "inodes)\n");
        fflush(stdout);
        rm_tree(trash);
        sleep(40);
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* Media: one MKV body (stream header + 1 s fragments) made with cs_mkv_fragmenter */
/* ---------------------------------------------------------------------------------------------- */

struct unit {
    size_t off, len; /* one frame's bytes in the body (with the Cluster/header before it) */
    size_t mark_end; /* end of the frame's magic + sequence number in the body */
    double t_ms;     /* when a paced producer sends it, from its start */
};

struct body {
    uint8_t *data;
    size_t len;
    struct unit *units;
    size_t n_units;
    size_t *frag_off;   /* Cluster start of fragment k */
    size_t *frag_known; /* body bytes sent when the server can know k ended; len + 1: the end */
    uint64_t *frag_tc;  /* Cluster Timecode (ms) = FragmentTimecode of its acks */
    size_t n_frags;
};

static const uint8_t sps[] = {0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb,
                              0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00,
                              0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0xa4, 0x80};
static const uint8_t pps[] = {0x68, 0xcb, 0x83, 0xcb, 0x20};

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

/* `seconds` of 30 fps video at `kbps`, a key frame (16% of a second's bytes) each second, frame
 * timestamps from base_ms; every payload starts (after its AVCC length and NAL header) with the
 * magic and the frame's index. */
static void body_make(struct body *b, unsigned seconds, unsigned kbps, uint64_t base_ms)
{
    cs_mkv_fragmenter_config fcfg;
    static cs_mkv_fragmenter f;
    uint8_t annexb[64], cp[128], *pay;
    size_t cp_len, cap, i, n = (size_t)seconds * FPS, per_sec = (size_t)kbps * 1000u / 8u;
    size_t key_size = per_sec * 16 / 100, p_size = (per_sec - key_size) / (FPS - 1);

    memcpy(annexb, "\0\0\0\1", 4);
    memcpy(annexb + 4, sps, sizeof(sps));
    memcpy(annexb + 4 + sizeof(sps), "\0\0\0\1", 4);
    memcpy(annexb + 8 + sizeof(sps), pps, sizeof(pps));
    if (cs_nal_codec_private_from_annexb(CS_NAL_CODEC_H264, annexb, 8 + sizeof(sps) + sizeof(pps),
                                         cp, sizeof(cp), &cp_len) != CS_OK) {
        fprintf(stderr, "ingest_bench: avcC failed\n");
        exit(1);
    }
    cs_mkv_fragmenter_config_init(&fcfg);
    fcfg.tracks[0].number = 1;
    fcfg.tracks[0].type = CS_MKV_TRACK_VIDEO;
    fcfg.tracks[0].codec = CS_MKV_CODEC_ID_H264;
    fcfg.tracks[0].codec_private = cp;
    fcfg.tracks[0].codec_private_len = cp_len;
    fcfg.track_count = 1;
    if (cs_mkv_fragmenter_init(&f, &fcfg) != CS_OK) {
        fprintf(stderr, "ingest_bench: fragmenter init failed\n");
        exit(1);
    }
    memset(b, 0, sizeof(*b));
    cap = per_sec * seconds + 64 * 1024 + n * 64;
    b->data = xcalloc(cap, 1);
    b->units = xcalloc(n, sizeof(*b->units));
    b->frag_off = xcalloc(seconds + 1, sizeof(size_t));
    b->frag_known = xcalloc(seconds + 1, sizeof(size_t));
    b->frag_tc = xcalloc(seconds + 1, sizeof(uint64_t));
    pay = xcalloc(key_size * 2, 1);
    for (i = 0; i < n; i++) {
        bool key = i % FPS == 0;
        size_t sz = key ? key_size : p_size - p_size / 5 + (size_t)(rnd() % (p_size * 2 / 5 + 1));
        size_t j, nal = sz - 4;
        cs_mkv_frame fr;
        cs_mkv_frame_layout lo;
        uint64_t seq = i;

        pay[0] = (uint8_t)(nal >> 24);
        pay[1] = (uint8_t)(nal >> 16);
        pay[2] = (uint8_t)(nal >> 8);
        pay[3] = (uint8_t)nal;
        pay[4] = key ? 0x65 : 0x41;
        memcpy(pay + 5, MAGIC, MAGIC_LEN);
        memcpy(pay + 5 + MAGIC_LEN, &seq, 8);
        for (j = 5 + MARK_LEN; j < sz; j++) {
            pay[j] = (uint8_t)(rnd() >> 24);
        }
        fr.track = 1;
        fr.timestamp_ns = base_ms * 1000000u + (uint64_t)i * 1000000000u / FPS;
        fr.flags = key ? CS_MKV_BLOCK_KEY : 0;
        fr.size = sz;
        if (cs_mkv_fragmenter_put_frame(&f, &fr, pay, b->data + b->len, cap - b->len, &lo) !=
            CS_OK) {
            fprintf(stderr, "ingest_bench: fragmenter failed at frame %zu\n", i);
            exit(1);
        }
        if (lo.new_cluster) {
            b->frag_off[b->n_frags] = b->len + lo.cluster_offset;
            b->frag_tc[b->n_frags] = lo.cluster_timecode;
            b->n_frags++;
        }
        b->units[i].off = b->len;
        b->units[i].len = lo.total_len;
        b->units[i].mark_end = b->len + lo.header_len + 5 + MARK_LEN;
        b->units[i].t_ms = (double)i * 1000.0 / FPS;
        b->len += lo.total_len;
    }
    b->n_units = n;
    for (i = 0; i < b->n_frags; i++) {
        /* an unknown-size Cluster ends when the next element's ID has been read */
        b->frag_known[i] = i + 1 < b->n_frags ? b->frag_off[i + 1] + 4 : b->len + 1;
    }
    free(pay);
}

static void body_free(struct body *b)
{
    free(b->data);
    free(b->units);
    free(b->frag_off);
    free(b->frag_known);
    free(b->frag_tc);
    memset(b, 0, sizeof(*b));
}

/* ---------------------------------------------------------------------------------------------- */
/* HTTP/1.1 chunked decoding (responses, and the ceiling's request bodies) */
/* ---------------------------------------------------------------------------------------------- */

enum { DC_SIZE, DC_EXT, DC_DATA, DC_DATA_END, DC_TRAILER, DC_DONE };

struct dechunk {
    int st;
    uint64_t left;
    size_t line;
    bool digits;
};

typedef void (*dc_fn)(void *ctx, const uint8_t *p, size_t n);

/* Feeds bytes; returns bytes consumed (stops at the end of the body), or -1 on malformed input. */
static long dechunk_feed(struct dechunk *d, const uint8_t *p, size_t n, dc_fn fn, void *ctx)
{
    size_t i = 0;
    while (i < n && d->st != DC_DONE) {
        uint8_t c = p[i];
        switch (d->st) {
        case DC_SIZE:
        case DC_EXT:
            if (c == '\n') {
                if (!d->digits) {
                    return -1;
                }
                d->st = d->left == 0 ? DC_TRAILER : DC_DATA;
                d->line = 0;
                d->digits = false;
            } else if (d->st == DC_SIZE && c != '\r' && c != ';' && c != ' ') {
                int v = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
                if (v < 0 || d->left >> 56) {
                    return -1;
                }
                d->left = d->left * 16 + (uint64_t)v;
                d->digits = true;
            } else if (c == ';') {
                d->st = DC_EXT;
            }
            i++;
            break;
        case DC_DATA: {
            size_t take = n - i < d->left ? n - i : (size_t)d->left;
            fn(ctx, p + i, take);
            i += take;
            d->left -= take;
            if (d->left == 0) {
                d->st = DC_DATA_END;
            }
            break;
        }
        case DC_DATA_END:
            if (c == '\n') {
                d->st = DC_SIZE;
            } else if (c != '\r') {
                return -1;
            }
            i++;
            break;
        case DC_TRAILER:
            if (c == '\n') {
                if (d->line == 0) {
                    d->st = DC_DONE;
                }
                d->line = 0;
            } else if (c != '\r') {
                d->line++;
            }
            i++;
            break;
        default:
            break;
        }
    }
    return (long)i;
}

/* ---------------------------------------------------------------------------------------------- */
/* The server process                                                                             */
/* ---------------------------------------------------------------------------------------------- */

struct server {
    pid_t pid;
    int port;
    char data_dir[600];
    char log[640];
};

static bool server_start(struct server *sv, const char *name)
{
    char out[640], line[256];
    double t0 = now_ns();

    memset(sv, 0, sizeof(*sv));
    snprintf(sv->data_dir, sizeof(sv->data_dir), "%s/%s", g_tmp, name);
    snprintf(sv->log, sizeof(sv->log), "%s/%s.log", g_tmp, name);
    snprintf(out, sizeof(out), "%s/%s.out", g_tmp, name);
    sv->pid = fork();
    if (sv->pid < 0) {
        die("fork");
    }
    if (sv->pid == 0) {
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(sv->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0) {
            _exit(127);
        }
        dup2(o, 1);
        dup2(e, 2);
        execl(g_o.server, g_o.server, "--listen", "127.0.0.1:0", "--data-dir", sv->data_dir,
              "--auth", "none", "--auto-create", "--log-level", "error", (char *)NULL);
        _exit(127);
    }
    /* The first stdout line names the port. */
    while (now_ns() - t0 < 10e9) {
        FILE *f = fopen(out, "r");
        if (f != NULL) {
            if (fgets(line, sizeof(line), f) != NULL && strchr(line, '\n') != NULL) {
                const char *colon = strrchr(line, ':');
                fclose(f);
                sv->port = colon ? atoi(colon + 1) : 0;
                return sv->port > 0;
            }
            fclose(f);
        }
        if (waitpid(sv->pid, NULL, WNOHANG) == sv->pid) {
            fprintf(stderr, "ingest_bench: the server exited at start; its log: %s\n", sv->log);
            sv->pid = 0;
            return false;
        }
        usleep(5000);
    }
    fprintf(stderr, "ingest_bench: the server did not say where it listens\n");
    return false;
}

static bool server_alive(struct server *sv)
{
    int status;
    if (sv->pid <= 0) {
        return false;
    }
    if (waitpid(sv->pid, &status, WNOHANG) == sv->pid) {
        fprintf(stderr, "ingest_bench: the server died (%s %d); its log: %s\n",
                WIFSIGNALED(status) ? "signal" : "exit status",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), sv->log);
        sv->pid = 0;
        g_broke = true;
        return false;
    }
    return true;
}

/* SIGTERM, then the exit status must be 0. */
static void server_stop(struct server *sv)
{
    double t0 = now_ns();
    int status = 0;
    if (!server_alive(sv)) {
        return;
    }
    kill(sv->pid, SIGTERM);
    while (waitpid(sv->pid, &status, WNOHANG) == 0) {
        if (now_ns() - t0 > 20e9) {
            fprintf(stderr, "ingest_bench: the server ignores SIGTERM; killing it\n");
            kill(sv->pid, SIGKILL);
            waitpid(sv->pid, &status, 0);
            g_broke = true;
            break;
        }
        usleep(10000);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "ingest_bench: the server stopped badly (status 0x%x); its log: %s\n",
                (unsigned)status, sv->log);
        g_broke = true;
    } else if (!g_o.keep) {
        discard_tree(sv->data_dir); /* removed at the end, or when the disk runs short */
    }
    sv->pid = 0;
}

/* VmRSS of a process in KiB (0 when unknown). */
static double rss_kib(pid_t pid)
{
    char path[64], line[256];
    double v = 0;
    FILE *f;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            v = atof(line + 6);
        }
    }
    fclose(f);
    return v;
}

/* CPU seconds (user + system) a process has used so far; 0 when unknown. */
static double proc_cpu_s(pid_t pid)
{
    char path[64], line[1024];
    unsigned long long ut = 0, st = 0;
    const char *p;
    FILE *f;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    p = fgets(line, sizeof(line), f) != NULL ? strrchr(line, ')') : NULL;
    fclose(f);
    /* after "pid (comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
     * utime stime */
    if (p == NULL ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) {
        return 0;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU time of the ceiling's connection threads (ns), added as each one ends. */
static uint64_t g_ceil_cpu_ns;

/* ---------------------------------------------------------------------------------------------- */
/* The client: one epoll loop driving every connection                                            */
/* ---------------------------------------------------------------------------------------------- */

enum ckind { K_UPLOAD, K_IDLE, K_GETMEDIA };

struct engine;

struct conn {
    struct engine *e;
    int fd;
    enum ckind kind;
    bool connecting, connected, got_head, done, failed, term_sent, out_armed;
    int status;
    char req[1024];
    size_t req_len, req_sent;
    /* upload */
    size_t off;       /* body bytes whose chunk was fully written */
    size_t due;       /* body bytes allowed so far */
    size_t unit_next; /* paced: next unit not yet due */
    size_t unit_done; /* units fully written (live producer: frame times) */
    double start_ns;  /* paced: when unit 0 is due */
    char ch[24];
    size_t ch_len, d_len, tail_len, sent; /* current chunk: header, data, "\r\n"; bytes sent */
    bool in_chunk;
    size_t frag_next, acked;
    double *t_end, *t_ack;
    /* response */
    char head[2048];
    size_t head_len;
    bool chunked;
    struct dechunk dc;
    char line[CS_KVS_ACK_MAX_LINE + 8];
    size_t line_len;
    /* getmedia */
    uint8_t carry[MARK_LEN];
    size_t carry_len;
    size_t seen;
};

struct engine {
    int ep;
    struct sockaddr_in addr;
    struct conn *c;
    size_t n;
    const struct body *b;
    bool paced;
    bool go;
    double go_ns, next_due_ns, last_ack_ns;
    size_t next_connect, connecting, n_connected, n_head, n_done, n_failed;
    size_t n_persisted, n_ack_errors, n_bad_lines;
    /* live: frame write times (producer) and latencies (consumers) */
    double *seq_t;
    double *lat;
    size_t n_lat, cap_lat;
    /* RSS samples (scenario 2/4) */
    pid_t rss_pid;
    double next_rss_ns;
    double rss[4096];
    double rss_t[4096];
    size_t n_rss;
};

static void conn_fail(struct engine *e, struct conn *c, const char *why)
{
    if (c->done) {
        return;
    }
    if (e->n_failed < 5) {
        fprintf(stderr, "ingest_bench: connection %zu: %s\n", (size_t)(c - e->c), why);
    }
    c->failed = true;
    c->done = true;
    e->n_failed++;
    e->n_done++;
    if (c->connecting) {
        c->connecting = false;
        e->connecting--;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

static void conn_finish(struct engine *e, struct conn *c)
{
    if (c->done) {
        return;
    }
    c->done = true;
    e->n_done++;
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

static bool conn_wants_out(const struct engine *e, const struct conn *c)
{
    if (c->done) {
        return false;
    }
    if (c->connecting || c->req_sent < c->req_len) {
        return true;
    }
    return c->kind == K_UPLOAD && c->got_head && e->go &&
           (c->in_chunk || c->off < c->due || (c->off == e->b->len && !c->term_sent));
}

static void conn_update(struct engine *e, struct conn *c)
{
    bool want = conn_wants_out(e, c);
    struct epoll_event ev;
    if (c->done || want == c->out_armed) {
        return;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
    ev.data.ptr = c;
    if (epoll_ctl(e->ep, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
        die("epoll_ctl");
    }
    c->out_armed = want;
}

/* Body bytes [0, written) are on the wire: fragment end and frame (marker) times. */
static void conn_progress(struct engine *e, struct conn *c, size_t written, double now)
{
    const struct body *b = e->b;
    while (c->frag_next < b->n_frags && b->frag_known[c->frag_next] <= written) {
        c->t_end[c->frag_next++] = now;
    }
    while (c->unit_done < b->n_units && b->units[c->unit_done].mark_end <= written) {
        if (e->seq_t != NULL) {
            e->seq_t[c->unit_done] = now;
        }
        c->unit_done++;
    }
}

static void conn_send(struct engine *e, struct conn *c)
{
    const struct body *b = e->b;
    if (c->done || c->connecting) {
        return;
    }
    while (c->req_sent < c->req_len) {
        ssize_t w = send(c->fd, c->req + c->req_sent, c->req_len - c->req_sent, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                conn_update(e, c);
                return;
            }
            conn_fail(e, c, strerror(errno));
            return;
        }
        c->req_sent += (size_t)w;
    }
    while (c->kind == K_UPLOAD && c->got_head && e->go) {
        struct iovec iov[3];
        int n_iov = 0;
        size_t pos = c->sent, total, body_sent;
        ssize_t w;
        double now;
        if (!c->in_chunk) {
            if (c->off < c->due) {
                c->d_len = c->due - c->off > MAX_CHUNK ? MAX_CHUNK : c->due - c->off;
                c->ch_len = (size_t)snprintf(c->ch, sizeof(c->ch), "%zx\r\n", c->d_len);
                c->tail_len = 2;
            } else if (c->off == b->len && !c->term_sent) {
                memcpy(c->ch, "0\r\n\r\n", 5);
                c->ch_len = 5;
                c->d_len = 0;
                c->tail_len = 0;
            } else {
                break;
            }
            c->in_chunk = true;
            c->sent = 0;
            pos = 0;
        }
        total = c->ch_len + c->d_len + c->tail_len;
        if (pos < c->ch_len) {
            iov[n_iov].iov_base = c->ch + pos;
            iov[n_iov++].iov_len = c->ch_len - pos;
        }
        if (c->d_len > 0 && pos < c->ch_len + c->d_len) {
            size_t skip = pos > c->ch_len ? pos - c->ch_len : 0;
            iov[n_iov].iov_base = b->data + c->off + skip;
            iov[n_iov++].iov_len = c->d_len - skip;
        }
        if (c->tail_len > 0) {
            size_t skip = pos > c->ch_len + c->d_len ? pos - c->ch_len - c->d_len : 0;
            iov[n_iov].iov_base = (char *)"\r\n" + skip;
            iov[n_iov++].iov_len = c->tail_len - skip;
        }
        w = writev(c->fd, iov, n_iov);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                break;
            }
            conn_fail(e, c, strerror(errno));
            return;
        }
        c->sent += (size_t)w;
        now = now_ns();
        body_sent = c->sent > c->ch_len ? c->sent - c->ch_len : 0;
        if (body_sent > c->d_len) {
            body_sent = c->d_len;
        }
        conn_progress(e, c, c->off + body_sent, now);
        if (c->sent == total) {
            c->in_chunk = false;
            if (c->d_len == 0) {
                c->term_sent = true;
                conn_progress(e, c, b->len + 1, now);
            } else {
                c->off += c->d_len;
            }
        }
    }
    conn_update(e, c);
}

static void on_ack_line(struct engine *e, struct conn *c)
{
    cs_kvs_ack a;
    const struct body *b = e->b;
    if (cs_kvs_ack_parse(c->line, c->line_len, &a) != CS_OK) {
        e->n_bad_lines++;
        return;
    }
    if (a.type == CS_KVS_ACK_PERSISTED) {
        size_t k;
        for (k = c->acked; k < b->n_frags; k++) {
            if (b->frag_tc[k] == a.fragment_timecode) {
                c->t_ack[k] = now_ns();
                c->acked = k + 1;
                e->n_persisted++;
                e->last_ack_ns = c->t_ack[k];
                break;
            }
        }
    } else if (a.type == CS_KVS_ACK_ERROR) {
        if (e->n_ack_errors < 5) {
            fprintf(stderr, "ingest_bench: connection %zu: ERROR ack %u (timecode %llu)\n",
                    (size_t)(c - e->c), a.error_id, (unsigned long long)a.fragment_timecode);
        }
        e->n_ack_errors++;
    }
}

static void on_upload_data(void *ctx, const uint8_t *p, size_t n)
{
    struct conn *c = ctx;
    size_t i;
    for (i = 0; i < n; i++) {
        if (c->line_len < sizeof(c->line)) {
            c->line[c->line_len++] = (char)p[i];
        }
        if (p[i] == '\n') {
            on_ack_line(c->e, c);
            c->line_len = 0;
        }
    }
}

static void on_getmedia_data(void *ctx, const uint8_t *p, size_t n)
{
    static uint8_t scan[RX_BUF + MARK_LEN];
    struct conn *c = ctx;
    struct engine *e = c->e;
    size_t len = c->carry_len + n, pos = 0, keep;
    double now = now_ns();

    memcpy(scan, c->carry, c->carry_len);
    memcpy(scan + c->carry_len, p, n);
    for (;;) {
        const uint8_t *m = memmem(scan + pos, len - pos, MAGIC, MAGIC_LEN);
        size_t at;
        uint64_t seq;
        if (m == NULL) {
            break;
        }
        at = (size_t)(m - scan);
        if (at + MARK_LEN > len) {
            break;
        }
        memcpy(&seq, m + MAGIC_LEN, 8);
        pos = at + MARK_LEN;
        c->seen++;
        if (seq < e->b->n_units && e->seq_t[seq] > 0) {
            if (e->n_lat == e->cap_lat) {
                e->cap_lat = e->cap_lat ? e->cap_lat * 2 : 4096;
                e->lat = realloc(e->lat, e->cap_lat * sizeof(double));
                if (e->lat == NULL) {
                    die("realloc");
                }
            }
            e->lat[e->n_lat++] = (now - e->seq_t[seq]) / 1e6;
        }
    }
    keep = len >= MARK_LEN - 1 ? len - (MARK_LEN - 1) : 0;
    if (keep < pos) {
        keep = pos;
    }
    c->carry_len = len - keep;
    memcpy(c->carry, scan + keep, c->carry_len);
}

static void conn_body(struct engine *e, struct conn *c, const uint8_t *p, size_t n)
{
    dc_fn fn = c->kind == K_UPLOAD ? on_upload_data : on_getmedia_data;
    if (n == 0) {
        return;
    }
    if (!c->chunked) {
        fn(c, p, n);
        return;
    }
    if (dechunk_feed(&c->dc, p, n, fn, c) < 0) {
        conn_fail(e, c, "malformed chunked response");
        return;
    }
    if (c->dc.st == DC_DONE) {
        conn_finish(e, c);
    }
}

static void conn_input(struct engine *e, struct conn *c, const uint8_t *p, size_t n)
{
    while (!c->got_head && n > 0) {
        size_t take = sizeof(c->head) - 1 - c->head_len;
        char *end;
        size_t used;
        if (take > n) {
            take = n;
        }
        if (take == 0) {
            conn_fail(e, c, "response head too long");
            return;
        }
        memcpy(c->head + c->head_len, p, take);
        c->head_len += take;
        c->head[c->head_len] = '\0';
        end = strstr(c->head, "\r\n\r\n");
        if (end == NULL) {
            p += take;
            n -= take;
            continue;
        }
        used = (size_t)(end + 4 - c->head) - (c->head_len - take);
        p += used;
        n -= used;
        c->status = strncmp(c->head, "HTTP/1.", 7) == 0 ? atoi(c->head + 9) : 0;
        if (c->status == 100) {
            c->head_len = 0;
            continue;
        }
        if (c->status != 200) {
            char why[160];
            snprintf(why, sizeof(why), "HTTP status %d: %.100s", c->status, c->head);
            conn_fail(e, c, why);
            return;
        }
        c->chunked = strcasestr(c->head, "transfer-encoding: chunked") != NULL;
        c->got_head = true;
        e->n_head++;
        conn_send(e, c);
    }
    if (!c->done) {
        conn_body(e, c, p, n);
    }
}

static void conn_recv(struct engine *e, struct conn *c)
{
    static uint8_t buf[RX_BUF];
    while (!c->done) {
        ssize_t r = recv(c->fd, buf, sizeof(buf), 0);
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                return;
            }
            conn_fail(e, c, strerror(errno));
            return;
        }
        if (r == 0) {
            if (c->kind == K_IDLE) {
                conn_fail(e, c, "closed by the server");
            } else if (c->got_head && !c->chunked) {
                conn_finish(e, c);
            } else {
                conn_fail(e, c, "connection closed before the end of the response");
            }
            return;
        }
        conn_input(e, c, buf, (size_t)r);
    }
}

static void conn_connect(struct engine *e, struct conn *c)
{
    struct epoll_event ev;
    int one = 1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        conn_fail(e, c, strerror(errno));
        return;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (const struct sockaddr *)&e->addr, sizeof(e->addr)) != 0 &&
        errno != EINPROGRESS) {
        conn_fail(e, c, strerror(errno));
        return;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.ptr = c;
    if (epoll_ctl(e->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        die("epoll_ctl");
    }
    c->out_armed = true;
    c->connecting = true;
    e->connecting++;
}

static void conn_writable(struct engine *e, struct conn *c)
{
    if (c->connecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        c->connecting = false;
        e->connecting--;
        if (err != 0) {
            conn_fail(e, c, strerror(err));
            return;
        }
        c->connected = true;
        e->n_connected++;
    }
    conn_send(e, c);
}

static void engine_init(struct engine *e, int port, size_t n, const struct body *b)
{
    size_t i;
    memset(e, 0, sizeof(*e));
    e->ep = epoll_create1(EPOLL_CLOEXEC);
    if (e->ep < 0) {
        die("epoll_create1");
    }
    e->addr.sin_family = AF_INET;
    e->addr.sin_port = htons((uint16_t)port);
    e->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    e->c = xcalloc(n, sizeof(*e->c));
    e->n = n;
    e->b = b;
    for (i = 0; i < n; i++) {
        e->c[i].e = e;
        e->c[i].fd = -1;
        e->c[i].kind = K_IDLE;
    }
}

static void conn_set_upload(struct engine *e, struct conn *c, int port, const char *stream)
{
    c->kind = K_UPLOAD;
    c->req_len = (size_t)snprintf(c->req, sizeof(c->req),
                                  "POST /putMedia HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                                  "User-Agent: ingest_bench\r\nAccept: */*\r\n"
                                  "Transfer-Encoding: chunked\r\nx-amzn-stream-name: %s\r\n"
                                  "x-amzn-fragment-timecode-type: ABSOLUTE\r\n"
                                  "x-amzn-fragment-acknowledgment-required: 1\r\n\r\n",
                                  port, stream);
    c->t_end = xcalloc(e->b->n_frags, sizeof(double));
    c->t_ack = xcalloc(e->b->n_frags, sizeof(double));
}

static void conn_set_getmedia(struct conn *c, int port, const char *stream)
{
    char json[256];
    int jl = snprintf(json, sizeof(json),
                      "{\"StreamName\":\"%s\",\"StartSelector\":{\"StartSelectorType\":\"NOW\"}}",
                      stream);
    c->kind = K_GETMEDIA;
    c->req_len = (size_t)snprintf(c->req, sizeof(c->req),
                                  "POST /getMedia HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                                  "User-Agent: ingest_bench\r\nContent-Type: application/json\r\n"
                                  "Content-Length: %d\r\n\r\n%s",
                                  port, jl, json);
}

static void engine_free(struct engine *e)
{
    size_t i;
    for (i = 0; i < e->n; i++) {
        if (e->c[i].fd >= 0) {
            close(e->c[i].fd);
        }
        free(e->c[i].t_end);
        free(e->c[i].t_ack);
    }
    free(e->c);
    free(e->seq_t);
    free(e->lat);
    close(e->ep);
    memset(e, 0, sizeof(*e));
}

static void engine_go(struct engine *e, double now)
{
    size_t i;
    e->go = true;
    e->go_ns = now;
    e->next_due_ns = now;
    for (i = 0; i < e->n; i++) {
        struct conn *c = &e->c[i];
        if (c->kind != K_UPLOAD || c->done) {
            continue;
        }
        /* paced uploads start spread over a second, like independent cameras */
        c->start_ns = now + (e->paced && e->n > 1 ? (double)(rnd() % 1000000) * 1e3 : 0.0);
        c->due = e->paced ? 0 : e->b->len;
        conn_send(e, c);
    }
}

static void paced_scan(struct engine *e, double now)
{
    const struct body *b = e->b;
    double next = now + 1e9;
    size_t i;
    if (!e->paced || !e->go || now < e->next_due_ns) {
        return;
    }
    for (i = 0; i < e->n; i++) {
        struct conn *c = &e->c[i];
        bool more = false;
        if (c->kind != K_UPLOAD || c->done) {
            continue;
        }
        while (c->unit_next < b->n_units) {
            double t = c->start_ns + b->units[c->unit_next].t_ms * 1e6;
            if (t > now) {
                if (t < next) {
                    next = t;
                }
                break;
            }
            c->due = b->units[c->unit_next].off + b->units[c->unit_next].len;
            c->unit_next++;
            more = true;
        }
        if (more && !c->out_armed) {
            conn_send(e, c);
        }
    }
    e->next_due_ns = next;
}

enum stop_when { STOP_ALL_DONE, STOP_ALL_CONNECTED, STOP_LIVE };

/* Runs the loop until `when` or `limit_s` seconds; false on a timeout. */
static bool engine_run(struct engine *e, enum stop_when when, double limit_s)
{
    struct epoll_event evs[256];
    double t0 = now_ns(), prod_done = 0;
    bool any_stream = false;
    size_t i;
    for (i = 0; i < e->n; i++) {
        any_stream |= e->c[i].kind != K_IDLE;
    }
    for (;;) {
        double now = now_ns();
        int nev, timeout = 50;
        while (e->next_connect < e->n && e->connecting < MAX_CONNECTING) {
            struct conn *c = &e->c[e->next_connect];
            if (c->kind == K_GETMEDIA && !e->c[0].got_head) {
                break; /* the producer creates the stream first */
            }
            e->next_connect++;
            conn_connect(e, c);
        }
        if (!e->go && any_stream && e->n_head + e->n_failed >= e->n) {
            engine_go(e, now);
        }
        paced_scan(e, now);
        if (e->rss_pid > 0 && now >= e->next_rss_ns && e->n_rss < 4096) {
            e->rss[e->n_rss] = rss_kib(e->rss_pid);
            e->rss_t[e->n_rss++] = now;
            e->next_rss_ns = now + 250e6;
        }
        if (when == STOP_ALL_DONE && e->n_done >= e->n) {
            return true;
        }
        if (when == STOP_ALL_CONNECTED && e->n_connected + e->n_failed >= e->n) {
            return true;
        }
        if (when == STOP_LIVE && e->c[0].done) {
            if (prod_done == 0) {
                prod_done = now;
            } else if (now - prod_done > 2e9) {
                return true;
            }
        }
        if (now - t0 > limit_s * 1e9) {
            fprintf(stderr,
                    "ingest_bench: timed out after %.0f s (%zu/%zu connections done, %zu "
                    "failed)\n",
                    limit_s, e->n_done, e->n, e->n_failed);
            return false;
        }
        if (e->paced && e->go) {
            double d = (e->next_due_ns - now) / 1e6;
            timeout = d <= 0 ? 0 : d < 50 ? (int)ceil(d) : 50;
        }
        nev = epoll_wait(e->ep, evs, 256, timeout);
        if (nev < 0 && errno != EINTR) {
            die("epoll_wait");
        }
        for (int k = 0; k < nev; k++) {
            struct conn *c = evs[k].data.ptr;
            if (c->done) {
                continue;
            }
            if (evs[k].events & (EPOLLOUT | EPOLLERR)) {
                conn_writable(e, c);
            }
            if (!c->done && (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                conn_recv(e, c);
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* The ceiling: a plain receiver, one blocking thread per connection                              */
/* ---------------------------------------------------------------------------------------------- */

struct ceil_conn {
    int fd;
    size_t idx;
    const struct body *b;
    char dir[700];
    pthread_t th;
    bool ok;
    uint8_t *buf; /* received body bytes [base, rx) */
    size_t base, rx, cap, frag_next;
    uint8_t *hdr; /* the stream header, body[0, frag_off[0]) as received */
    size_t hdr_len;
};

struct ceiling {
    int lfd, port;
    size_t n, want; /* threads started (set by the accept thread), connections expected */
    const struct body *b;
    char dir[640];
    pthread_t th;
    pthread_attr_t attr; /* small stacks: up to 1,000 threads */
    struct ceil_conn *cc;
};

static bool write_all(int fd, const void *p, size_t n)
{
    const uint8_t *q = p;
    while (n > 0) {
        ssize_t w = write(fd, q, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        q += w;
        n -= (size_t)w;
    }
    return true;
}

/* Fragment k: stream header + Cluster to a temp file, fdatasync, close, rename; then the ack. */
static bool ceil_persist(struct ceil_conn *cc, size_t k)
{
    const struct body *b = cc->b;
    size_t start = b->frag_off[k], end = k + 1 < b->n_frags ? b->frag_off[k + 1] : b->len;
    char tmp[760], dst[760], line[CS_KVS_ACK_MAX_LINE], chunk[CS_KVS_ACK_MAX_LINE + 16];
    cs_kvs_ack a;
    size_t ll;
    int fd, cl;
    bool ok;

    if (cc->hdr == NULL) {
        cc->hdr_len = b->frag_off[0];
        cc->hdr = xcalloc(cc->hdr_len, 1);
        memcpy(cc->hdr, cc->buf, cc->hdr_len); /* base is 0 until the first fragment is out */
    }
    snprintf(tmp, sizeof(tmp), "%s/tmp-%zu", cc->dir, k);
    snprintf(dst, sizeof(dst), "%s/frag-%zu.mkv", cc->dir, k);
    if (g_o.ceil_workers > 0) {
        while (sem_wait(&g_ceil_sem) != 0) {
        }
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ok = fd >= 0 && write_all(fd, cc->hdr, cc->hdr_len) &&
         write_all(fd, cc->buf + (start - cc->base), end - start) && fdatasync(fd) == 0 &&
         close(fd) == 0 && rename(tmp, dst) == 0;
    if (ok && g_o.ceil_dirsync) {
        int dfd = open(cc->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ok = dfd >= 0 && fsync(dfd) == 0 && close(dfd) == 0;
    }
    if (g_o.ceil_workers > 0) {
        sem_post(&g_ceil_sem);
    }
    if (!ok) {
        fprintf(stderr, "ingest_bench: ceiling: %s: %s\n", tmp, strerror(errno));
        return false;
    }
    memset(&a, 0, sizeof(a));
    a.type = CS_KVS_ACK_PERSISTED;
    a.has_timecode = true;
    a.fragment_timecode = b->frag_tc[k];
    if (cs_kvs_ack_format(&a, line, sizeof(line), &ll) != CS_OK) {
        return false;
    }
    cl = snprintf(chunk, sizeof(chunk), "%zx\r\n%.*s\r\n", ll, (int)ll, line);
    if (send(cc->fd, chunk, (size_t)cl, MSG_NOSIGNAL) != cl) {
        return false;
    }
    /* drop what this fragment used */
    memmove(cc->buf, cc->buf + (end - cc->base), cc->rx - end);
    cc->base = end;
    return true;
}

static void ceil_data(void *ctx, const uint8_t *p, size_t n)
{
    struct ceil_conn *cc = ctx;
    size_t have = cc->rx - cc->base;
    if (have + n > cc->cap) {
        cc->cap = (have + n) * 2;
        cc->buf = realloc(cc->buf, cc->cap);
        if (cc->buf == NULL) {
            die("realloc");
        }
    }
    memcpy(cc->buf + have, p, n);
    cc->rx += n;
}

static void *ceil_conn_main(void *arg)
{
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n";
    struct ceil_conn *cc = arg;
    struct dechunk dc;
    uint8_t *in = xcalloc(RX_BUF, 1);
    size_t head = 0;
    bool in_body = false;

    memset(&dc, 0, sizeof(dc));
    while (dc.st != DC_DONE) {
        ssize_t r = recv(cc->fd, in + (in_body ? 0 : head), RX_BUF - (in_body ? 0 : head), 0);
        size_t off = 0;
        long used;
        if (r <= 0) {
            goto out;
        }
        if (!in_body) {
            uint8_t *end;
            head += (size_t)r;
            end = memmem(in, head, "\r\n\r\n", 4);
            if (end == NULL) {
                continue;
            }
            if (!write_all(cc->fd, resp, sizeof(resp) - 1)) {
                goto out;
            }
            in_body = true;
            off = (size_t)(end + 4 - in);
            r = (ssize_t)head;
        }
        used = dechunk_feed(&dc, in + off, (size_t)r - off, ceil_data, cc);
        if (used < 0) {
            goto out;
        }
        while (cc->frag_next < cc->b->n_frags &&
               (cc->b->frag_known[cc->frag_next] <= cc->rx ||
                (dc.st == DC_DONE && cc->frag_next + 1 == cc->b->n_frags))) {
            if (!ceil_persist(cc, cc->frag_next)) {
                goto out;
            }
            cc->frag_next++;
        }
    }
    cc->ok = write_all(cc->fd, "0\r\n\r\n", 5);
out:
    close(cc->fd);
    free(in);
    free(cc->buf);
    free(cc->hdr);
    {
        struct timespec ts;
        if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0) {
            __atomic_fetch_add(&g_ceil_cpu_ns,
                               (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec,
                               __ATOMIC_RELAXED);
        }
    }
    return NULL;
}

static void *ceil_accept_main(void *arg)
{
    struct ceiling *ce = arg;
    size_t i;
    for (i = 0; i < ce->n; i++) {
        struct ceil_conn *cc = &ce->cc[i];
        cc->fd = accept4(ce->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cc->fd < 0) {
            fprintf(stderr, "ingest_bench: ceiling accept: %s\n", strerror(errno));
            break;
        }
        cc->idx = i;
        cc->b = ce->b;
        snprintf(cc->dir, sizeof(cc->dir), "%s/c%zu", ce->dir, i);
        if (mkdir(cc->dir, 0755) != 0 || pthread_create(&cc->th, NULL, ceil_conn_main, cc) != 0) {
            fprintf(stderr, "ingest_bench: ceiling: %s\n", strerror(errno));
            close(cc->fd);
            break;
        }
    }
    ce->n = i; /* threads started */
    for (i = 0; i < ce->n; i++) {
        pthread_join(ce->cc[i].th, NULL);
    }
    return NULL;
}

static void ceiling_start(struct ceiling *ce, size_t n, const struct body *b, unsigned run)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int one = 1;
    memset(ce, 0, sizeof(*ce));
    ce->n = n;
    ce->want = n;
    ce->b = b;
    ce->cc = xcalloc(n, sizeof(*ce->cc));
    snprintf(ce->dir, sizeof(ce->dir), "%s/ceiling-%u", g_tmp, run);
    if (mkdir(ce->dir, 0755) != 0) {
        die("mkdir");
    }
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ce->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(ce->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ce->lfd < 0 || bind(ce->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(ce->lfd, 4096) != 0 || getsockname(ce->lfd, (struct sockaddr *)&a, &al) != 0) {
        die("ceiling listen");
    }
    ce->port = ntohs(a.sin_port);
    pthread_attr_init(&ce->attr);
    pthread_attr_setstacksize(&ce->attr, 256u * 1024u);
    if (pthread_create(&ce->th, NULL, ceil_accept_main, ce) != 0) {
        die("pthread_create");
    }
}

/* Joins every thread; false when a connection did not finish cleanly. */
static bool ceiling_stop(struct ceiling *ce)
{
    size_t i, ok = 0;
    shutdown(ce->lfd, SHUT_RDWR); /* wakes accept() if a client never came */
    pthread_join(ce->th, NULL);
    pthread_attr_destroy(&ce->attr);
    for (i = 0; i < ce->n; i++) {
        ok += ce->cc[i].ok;
    }
    close(ce->lfd);
    discard_tree(ce->dir);
    free(ce->cc);
    return ok == ce->want;
}

/* ---------------------------------------------------------------------------------------------- */
/* Scenarios                                                                                      */
/* ---------------------------------------------------------------------------------------------- */

struct results {
    bool have_tp, have_paced, have_live, have_mem_idle;
    double tp_server, tp_ceiling, tp_ratio;
    double tp_srv_runs[16], tp_ceil_runs[16], tp_ratio_runs[16]; /* per run, for the report */
    unsigned tp_runs;
    double ack_p50, ack_p99, ack_max;
    size_t ack_n, ack_missing;
    size_t paced_n;
    double paced_offered; /* MB/s, the server run's offer */
    double lag_p99;
    bool have_paced_ceiling;
    double ceil_ack_p50, ceil_ack_p99;
    double live_p50, live_p99, live_max;
    size_t live_n;
    double rss0, rss_idle_per, rss_active, rss_active_per;
    size_t idle_open;
};

static struct results g_r;

/* Uploads of `b` from n connections to port, as fast as they go; MB/s of body bytes from the
 * start until the last PERSISTED ack, or 0 on failure. */
static double run_throughput(int port, size_t n, const struct body *b, const char *prefix)
{
    struct engine e;
    size_t i;
    double mbps = 0;
    bool ok;
    sync(); /* start each run without the previous run's dirty pages */
    engine_init(&e, port, n, b);
    for (i = 0; i < n; i++) {
        char name[128];
        snprintf(name, sizeof(name), "%s-%zu", prefix, i);
        conn_set_upload(&e, &e.c[i], port, name);
    }
    ok = engine_run(&e, STOP_ALL_DONE, 600);
    if (!ok || e.n_failed > 0 || e.n_ack_errors > 0 || e.n_persisted != n * b->n_frags) {
        fprintf(stderr,
                "ingest_bench: throughput run broke: %zu failed connections, %zu ERROR acks, "
                "%zu/%zu PERSISTED\n",
                e.n_failed, e.n_ack_errors, e.n_persisted, n * b->n_frags);
        g_broke = true;
    } else {
        mbps = (double)(n * b->len) / ((e.last_ack_ns - e.go_ns) / 1e9) / 1e6;
    }
    engine_free(&e);
    return mbps;
}

static void scenario_throughput(void)
{
    struct body b;
    struct server sv;
    double srv[16], cei[16], rat[16], scpu[16], ccpu[16], c0;
    unsigned r, runs = g_o.runs > 16 ? 16 : g_o.runs;
    size_t n = g_o.tp_uploads;

    body_make(&b, g_o.tp_fragments, 2000, (uint64_t)time(NULL) * 1000u);
    printf("[1] throughput: %zu uploads x %zu fragments of ~%.0f KB (%.1f MB each), as fast as "
           "they go; %u runs\n",
           n, b.n_frags, (double)b.len / (double)b.n_frags / 1e3, (double)b.len / 1e6, runs);
    if (!server_start(&sv, "s1")) {
        g_broke = true;
        body_free(&b);
        return;
    }
    for (r = 0; r < runs; r++) {
        char prefix[64];
        struct ceiling ce;
        snprintf(prefix, sizeof(prefix), "tp%u-%d", r, (int)getpid());
        /* alternate who goes first, so page cache and writeback favour neither */
        if (r % 2 == 0) {
            c0 = proc_cpu_s(sv.pid);
            srv[r] = run_throughput(sv.port, n, &b, prefix);
            scpu[r] = proc_cpu_s(sv.pid) - c0;
        }
        __atomic_store_n(&g_ceil_cpu_ns, 0, __ATOMIC_RELAXED);
        ceiling_start(&ce, n, &b, r);
        cei[r] = run_throughput(ce.port, n, &b, "ceiling");
        if (!ceiling_stop(&ce)) {
            fprintf(stderr, "ingest_bench: a ceiling connection failed\n");
            g_broke = true;
        }
        ccpu[r] = (double)__atomic_load_n(&g_ceil_cpu_ns, __ATOMIC_RELAXED) / 1e9;
        if (r % 2 == 1) {
            c0 = proc_cpu_s(sv.pid);
            srv[r] = run_throughput(sv.port, n, &b, prefix);
            scpu[r] = proc_cpu_s(sv.pid) - c0;
        }
        rat[r] = cei[r] > 0 ? srv[r] / cei[r] : 0;
        /* CPU per GB received: the load-independent side of the ratio (2 cores shared) */
        scpu[r] /= (double)(n * b.len) / 1e9;
        ccpu[r] /= (double)(n * b.len) / 1e9;
        printf("    run %u: server %7.1f MB/s   ceiling %7.1f MB/s   ratio %5.1f%%   CPU s/GB: "
               "server %.2f, ceiling %.2f\n",
               r + 1, srv[r], cei[r], rat[r] * 100, scpu[r], ccpu[r]);
        fflush(stdout);
        if (!server_alive(&sv)) {
            break;
        }
    }
    if (r == runs) {
        g_r.have_tp = true;
        memcpy(g_r.tp_srv_runs, srv, sizeof(srv));
        memcpy(g_r.tp_ceil_runs, cei, sizeof(cei));
        memcpy(g_r.tp_ratio_runs, rat, sizeof(rat));
        g_r.tp_runs = runs;
        g_r.tp_server = median_of(srv, runs);
        g_r.tp_ceiling = median_of(cei, runs);
        g_r.tp_ratio = median_of(rat, runs);
        printf("    CPU per GB received (median): server %.2f s, ceiling %.2f s (ceiling threads "
               "only; the client's CPU is the same for both)\n",
               median_of(scpu, runs), median_of(ccpu, runs));
    }
    server_stop(&sv);
    body_free(&b);
}

struct paced_out {
    size_t started, failed, ack_errors, nl, miss;
    double setup_s, p50, p99, max, lag50, lag99, rss; /* rss: median while active, KiB */
    double mbps;       /* body bytes of the PERSISTED fragments / (last PERSISTED ack - start) */
    double ideal_mbps; /* every body byte / (the last frame's due time - start): the offer */
};

/* n uploads of b paced at their frame times to port; RSS of rss_pid sampled when > 0. */
static void run_paced(int port, const struct body *b, size_t n, unsigned secs, const char *prefix,
                      pid_t rss_pid, struct paced_out *o)
{
    struct engine e;
    size_t i, k, ng = 0, nr = 0;
    double *lat, *lag, rs[4096], t_setup, acked_bytes = 0;
    FILE *log;

    memset(o, 0, sizeof(*o));
    engine_init(&e, port, n, b);
    e.paced = true;
    e.rss_pid = rss_pid;
    for (i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s-%zu", prefix, i);
        conn_set_upload(&e, &e.c[i], port, name);
    }
    t_setup = now_ns();
    if (!engine_run(&e, STOP_ALL_DONE, secs + 90.0)) {
        /* an overloaded receiver: the unacked fragments are the figure, nothing broke */
        printf("    gave up waiting for acks (limit: duration + 90 s)\n");
    }
    o->started = e.n_head;
    o->failed = e.n_failed;
    o->ack_errors = e.n_ack_errors;
    o->setup_s = e.go ? (e.go_ns - t_setup) / 1e9 : 0.0;
    if (e.n_failed > 0 || e.n_ack_errors > 0) {
        g_broke = true;
    }
    lat = xcalloc(n * b->n_frags, sizeof(double));
    lag = xcalloc(n * b->n_frags, sizeof(double));
    log = g_o.latency_log != NULL ? fopen(g_o.latency_log, "a") : NULL;
    if (g_o.latency_log != NULL && log == NULL) {
        fprintf(stderr, "ingest_bench: cannot append to %s: %s\n", g_o.latency_log,
                strerror(errno));
    }
    for (i = 0; i < n; i++) {
        for (k = 0; k < b->n_frags; k++) {
            /* the unit whose first bytes end fragment k: the next key frame, or the last one */
            size_t u = (k + 1) * FPS < b->n_units ? (k + 1) * FPS : b->n_units - 1;
            if (e.c[i].t_end[k] > 0) {
                lag[ng++] = (e.c[i].t_end[k] - e.c[i].start_ns - b->units[u].t_ms * 1e6) / 1e6;
            }
            if (e.c[i].t_ack[k] > 0) {
                size_t end = k + 1 < b->n_frags ? b->frag_off[k + 1] : b->len;
                acked_bytes += (double)(end - b->frag_off[k]);
            }
            if (e.c[i].t_end[k] > 0 && e.c[i].t_ack[k] > 0) {
                lat[o->nl++] = (e.c[i].t_ack[k] - e.c[i].t_end[k]) / 1e6;
                if (log != NULL) {
                    fprintf(log, "%s %zu %zu %.3f %.3f\n", prefix, i, k,
                            (e.c[i].t_end[k] - e.go_ns) / 1e6, lat[o->nl - 1]);
                }
            } else {
                o->miss++;
            }
        }
    }
    if (log != NULL) {
        fclose(log);
    }
    o->lag50 = quantile(lag, ng, 0.50);
    o->lag99 = quantile(lag, ng, 0.99);
    o->p50 = quantile(lat, o->nl, 0.50);
    o->p99 = quantile(lat, o->nl, 0.99);
    o->max = o->nl ? lat[o->nl - 1] : NAN;
    o->mbps = e.go && e.last_ack_ns > e.go_ns
                  ? acked_bytes / ((e.last_ack_ns - e.go_ns) / 1e9) / 1e6
                  : 0.0;
    if (e.go) {
        /* the uploads start spread over a second: the offer ends with the latest last frame */
        double end = 0;
        for (i = 0; i < n; i++) {
            double t = e.c[i].start_ns + b->units[b->n_units - 1].t_ms * 1e6;
            end = t > end ? t : end;
        }
        o->ideal_mbps =
            end > e.go_ns ? (double)n * (double)b->len / ((end - e.go_ns) / 1e9) / 1e6 : 0.0;
    }
    /* RSS while every upload is active: samples from the second half of the paced time */
    for (i = 0; i < e.n_rss; i++) {
        if (e.go && e.rss_t[i] >= e.go_ns + 1e9 * (0.5 * secs + 1) &&
            e.rss_t[i] <= e.go_ns + 1e9 * secs) {
            rs[nr++] = e.rss[i];
        }
    }
    o->rss = nr > 0 ? median_of(rs, nr) : NAN;
    printf("    %zu uploads started (%.1f s to connect%s), %zu failed, %zu ERROR acks\n",
           o->started, o->setup_s, rss_pid > 0 ? " and auto-create the streams" : "", o->failed,
           o->ack_errors);
    printf("    %zu fragments acked PERSISTED, %zu not; latency after the fragment's last byte: "
           "p50 %.1f ms  p99 %.1f ms  max %.1f ms; %.1f MB/s persisted (offered %.1f)\n",
           o->nl, o->miss, o->p50, o->p99, o->max, o->mbps, o->ideal_mbps);
    printf("    pacing: the byte ending a fragment left the client p50 %.1f ms, p99 %.1f ms after "
           "its time (late = the receiver stopped reading, or the client is short of CPU)\n",
           o->lag50, o->lag99);
    fflush(stdout);
    free(lat);
    free(lag);
    engine_free(&e);
}

static void scenario_paced(void)
{
    struct body b;
    struct server sv;
    struct ceiling ce;
    struct paced_out o, oc;
    size_t n = g_o.paced_uploads;
    unsigned secs = (unsigned)ceil(g_o.paced_seconds);
    char prefix[64];

    body_make(&b, secs, 2000, (uint64_t)time(NULL) * 1000u);
    printf("[2] PERSISTED ack latency: %zu uploads at 2 Mbit/s (30 fps, 1 s fragments of ~%.0f KB) "
           "for %u s, offered %.0f MB/s\n",
           n, (double)b.len / (double)b.n_frags / 1e3, secs, (double)n * 2e6 / 8 / 1e6);
    if (!server_start(&sv, "s2")) {
        g_broke = true;
        body_free(&b);
        return;
    }
    usleep(300000);
    g_r.rss0 = rss_kib(sv.pid);
    snprintf(prefix, sizeof(prefix), "paced-%d", (int)getpid());
    sync();
    printf("  server:\n");
    run_paced(sv.port, &b, n, secs, prefix, sv.pid, &o);
    g_r.have_paced = o.nl > 0;
    g_r.paced_n = o.started;
    g_r.ack_n = o.nl;
    g_r.ack_missing = o.miss;
    g_r.ack_p50 = o.p50;
    g_r.ack_p99 = o.p99;
    g_r.ack_max = o.max;
    g_r.lag_p99 = o.lag99;
    g_r.paced_offered = o.ideal_mbps;
    if (o.started > 0 && !isnan(o.rss)) {
        g_r.rss_active = o.rss;
        g_r.rss_active_per = (o.rss - g_r.rss0) / (double)o.started;
    }
    printf("    server VmRSS: %.1f MiB idle, %.1f MiB (median) with %zu active uploads\n",
           g_r.rss0 / 1024, g_r.rss_active / 1024, o.started);
    server_stop(&sv);
    if (g_o.paced_ceiling) {
        sync();
        printf("  ceiling (same load, thread per connection, write + fdatasync + rename%s):\n",
               g_o.ceil_dirsync ? " + directory fsync" : "");
        ceiling_start(&ce, n, &b, 100);
        run_paced(ce.port, &b, n, secs, "ceiling", 0, &oc);
        if (!ceiling_stop(&ce)) {
            fprintf(stderr, "ingest_bench: a ceiling connection failed\n");
            g_broke = true;
        }
        g_r.have_paced_ceiling = oc.nl > 0;
        g_r.ceil_ack_p50 = oc.p50;
        g_r.ceil_ack_p99 = oc.p99;
    }
    body_free(&b);
}

/* 5. The sweep: scenario 2 at each count of --sweep, against a fresh server and then the ceiling
 * (same body, same disk); p50/p99 ack latency and MB/s persisted per point, for the plot. */
#define MAX_SWEEP 32
struct sweep_pt {
    unsigned n;
    bool have_s, have_c;
    struct paced_out s, c;
};
static struct sweep_pt g_sweep[MAX_SWEEP];
static size_t g_n_sweep;

static void scenario_sweep(void)
{
    struct body b;
    unsigned secs = (unsigned)ceil(g_o.sweep_seconds);
    size_t i;

    body_make(&b, secs, 2000, (uint64_t)time(NULL) * 1000u);
    printf("[5] sweep: PERSISTED ack latency and throughput against concurrent 2 Mbit/s uploads "
           "(%u s each; server, then the ceiling)\n",
           secs);
    for (i = 0; i < g_n_sweep; i++) {
        struct sweep_pt *pt = &g_sweep[i];
        struct server sv;
        struct ceiling ce;
        char name[64], prefix[64];
        snprintf(name, sizeof(name), "sw%u", pt->n);
        printf("  %u uploads (offered %.1f MB/s), server:\n", pt->n, pt->n * 2e6 / 8 / 1e6);
        sync();
        if (!server_start(&sv, name)) {
            g_broke = true;
            break;
        }
        snprintf(prefix, sizeof(prefix), "sweep%u-%d", pt->n, (int)getpid());
        run_paced(sv.port, &b, pt->n, secs, prefix, 0, &pt->s);
        pt->have_s = pt->s.nl > 0;
        server_stop(&sv);
        printf("  %u uploads, ceiling:\n", pt->n);
        sync();
        ceiling_start(&ce, pt->n, &b, 200 + (unsigned)i);
        run_paced(ce.port, &b, pt->n, secs, "ceiling", 0, &pt->c);
        if (!ceiling_stop(&ce)) {
            fprintf(stderr, "ingest_bench: a ceiling connection failed\n");
            g_broke = true;
        }
        pt->have_c = pt->c.nl > 0;
    }
    printf("  %8s  %10s %10s %10s  %10s %10s %10s\n", "uploads", "srv p50", "srv p99", "srv MB/s",
           "ceil p50", "ceil p99", "ceil MB/s");
    for (i = 0; i < g_n_sweep; i++) {
        const struct sweep_pt *pt = &g_sweep[i];
        printf("  %8u  %10.1f %10.1f %10.1f  %10.1f %10.1f %10.1f\n", pt->n, pt->s.p50, pt->s.p99,
               pt->s.mbps, pt->c.p50, pt->c.p99, pt->c.mbps);
    }
    fflush(stdout);
    body_free(&b);
}

static void scenario_live(void)
{
    struct body b;
    struct server sv;
    struct engine e;
    size_t n = 1 + g_o.consumers, i;
    unsigned secs = (unsigned)ceil(g_o.live_seconds);
    char stream[64];

    body_make(&b, secs, 2000, (uint64_t)time(NULL) * 1000u);
    printf("[3] live GetMedia latency: 1 producer at 2 Mbit/s for %u s, %u consumers "
           "(StartSelector NOW)\n",
           secs, g_o.consumers);
    if (!server_start(&sv, "s3")) {
        g_broke = true;
        body_free(&b);
        return;
    }
    engine_init(&e, sv.port, n, &b);
    e.paced = true;
    e.seq_t = xcalloc(b.n_units, sizeof(double));
    snprintf(stream, sizeof(stream), "live-%d", (int)getpid());
    conn_set_upload(&e, &e.c[0], sv.port, stream);
    for (i = 1; i < n; i++) {
        conn_set_getmedia(&e.c[i], sv.port, stream);
    }
    if (!engine_run(&e, STOP_LIVE, secs + 60.0)) {
        g_broke = true;
    }
    if (e.n_failed > 0 || e.n_ack_errors > 0) {
        g_broke = true;
    }
    for (i = 1; i < n; i++) {
        printf("    consumer %zu: %zu of %zu frames seen\n", i, e.c[i].seen, b.n_units);
    }
    g_r.live_n = e.n_lat;
    g_r.have_live = e.n_lat > 0;
    g_r.live_p50 = quantile(e.lat, e.n_lat, 0.50);
    g_r.live_p99 = quantile(e.lat, e.n_lat, 0.99);
    g_r.live_max = e.n_lat ? e.lat[e.n_lat - 1] : NAN;
    printf("    producer write -> consumer read, per frame: p50 %.1f ms  p99 %.1f ms  max %.1f ms "
           "(%zu samples)\n",
           g_r.live_p50, g_r.live_p99, g_r.live_max, e.n_lat);
    fflush(stdout);
    engine_free(&e);
    server_stop(&sv);
    body_free(&b);
}

static void scenario_memory(void)
{
    struct server sv;
    struct engine e;
    size_t n = g_o.idle_conns, i, open_n = 0;
    double rss0, rss1;

    printf("[4] server memory: VmRSS idle, then with %zu idle connections (connected, nothing "
           "sent)\n",
           n);
    if (!server_start(&sv, "s4")) {
        g_broke = true;
        return;
    }
    usleep(300000);
    rss0 = rss_kib(sv.pid);
    engine_init(&e, sv.port, n, NULL);
    if (!engine_run(&e, STOP_ALL_CONNECTED, 60)) {
        g_broke = true;
    }
    usleep(500000); /* let the server accept and set up every connection */
    rss1 = rss_kib(sv.pid);
    for (i = 0; i < n; i++) {
        char c;
        if (e.c[i].fd >= 0 && (recv(e.c[i].fd, &c, 1, MSG_DONTWAIT) < 0 && (errno == EAGAIN))) {
            open_n++;
        }
    }
    printf("    VmRSS %.1f MiB idle, %.1f MiB with %zu connections open (%zu of %zu still open "
           "after 0.5 s)\n",
           rss0 / 1024, rss1 / 1024, e.n_connected, open_n, n);
    if (open_n < n) {
        printf("    note: the server closed %zu connections (max_connections is 1024 by default "
               "and has no flag)\n",
               n - open_n);
    }
    g_r.have_mem_idle = open_n > 0;
    g_r.idle_open = open_n;
    g_r.rss_idle_per = open_n ? (rss1 - rss0) / (double)open_n : NAN;
    fflush(stdout);
    engine_free(&e);
    server_stop(&sv);
}

/* ---------------------------------------------------------------------------------------------- */
/* Report and main                                                                                */
/* ---------------------------------------------------------------------------------------------- */

static void emit_figures(void);

static const char *verdict(bool have, bool pass)
{
    return !have ? "n/a" : pass ? "PASS" : "MISS";
}

static void report(void)
{
    printf("== ingest_bench figures (median of runs where time is the figure; targets from issue "
           "4)\n");
    if (g_o.only & 1) {
        printf("  PutMedia throughput, %u uploads: server %.1f MB/s, ceiling %.1f MB/s, ratio "
               "%.0f%%   target >= 70%%   %s\n",
               g_o.tp_uploads, g_r.tp_server, g_r.tp_ceiling, g_r.tp_ratio * 100,
               verdict(g_r.have_tp, g_r.tp_ratio >= 0.70));
    }
    if (g_o.only & 2) {
        printf("  PERSISTED ack latency, %zu x 2 Mbit/s: p50 %.1f ms, p99 %.1f ms, max %.1f ms "
               "(%zu fragments, %zu unacked)   target p99 <= 50 ms   %s\n",
               g_r.paced_n, g_r.ack_p50, g_r.ack_p99, g_r.ack_max, g_r.ack_n, g_r.ack_missing,
               verdict(g_r.have_paced, g_r.ack_p99 <= 50 && g_r.ack_missing == 0));
        printf("    (offered %.0f MB/s; client send lag p99 %.1f ms; the ceiling's p99 under the "
               "same load: %.1f ms)\n",
               (double)g_r.paced_n * 2e6 / 8 / 1e6, g_r.lag_p99,
               g_r.have_paced_ceiling ? g_r.ceil_ack_p99 : NAN);
        if (g_r.have_tp && g_r.tp_ceiling > 0) {
            /* How close the offer is to the most this disk took in scenario 1: near 100%, every
             * slow second of the disk becomes a queue, whoever receives. */
            printf(
                "    (the offer, %.1f MB/s, is %.0f%% of the ceiling's throughput in scenario 1, "
                "%.1f MB/s: the most the disk took with fragments written and fdatasync'd as "
                "fast as they came)\n",
                g_r.paced_offered, 100 * g_r.paced_offered / g_r.tp_ceiling, g_r.tp_ceiling);
        }
    }
    if (g_o.only & 4) {
        printf("  live GetMedia latency (byte in -> byte out): p50 %.1f ms, p99 %.1f ms, max "
               "%.1f ms   target p99 <= 5 ms   %s\n",
               g_r.live_p50, g_r.live_p99, g_r.live_max, verdict(g_r.have_live, g_r.live_p99 <= 5));
    }
    if (g_o.only & 8) {
        printf("  server memory per idle connection: %.1f KiB (%zu connections)   (no target)\n",
               g_r.rss_idle_per, g_r.idle_open);
    }
    if (g_o.only & 2) {
        printf("  server memory per active 2 Mbit/s upload: %.1f KiB (VmRSS %.1f -> %.1f MiB)   "
               "(no target)\n",
               g_r.rss_active_per, g_r.rss0 / 1024, g_r.rss_active / 1024);
    }
    emit_figures();
}

/* The same figures for scripts/bench-report ($CS_BENCH_RESULTS; nothing when unset). */
static void emit_figures(void)
{
    char lbl[256], base[256], note[256];
    size_t nl;
    if ((g_o.only & 1) && g_r.have_tp) {
        unsigned n = g_r.tp_runs;
        for (unsigned i = 0; i < n; i++) {
            g_r.tp_ratio_runs[i] *= 100;
        }
        snprintf(lbl, sizeof(lbl), "PutMedia throughput, %u uploads: server / ceiling",
                 g_o.tp_uploads);
        snprintf(base, sizeof(base), "ceiling %.1f MB/s", g_r.tp_ceiling);
        cs_bench_figure(&(struct cs_bench_figure){.bench = "ingest_bench",
                                                  .id = "ingest.throughput_ratio",
                                                  .label = lbl,
                                                  .value = g_r.tp_ratio * 100,
                                                  .unit = "%",
                                                  .runs = g_r.tp_ratio_runs,
                                                  .n_runs = n,
                                                  .target = ">= 70",
                                                  .baseline = base});
        snprintf(lbl, sizeof(lbl), "PutMedia throughput, %u uploads: server", g_o.tp_uploads);
        cs_bench_figure(&(struct cs_bench_figure){.bench = "ingest_bench",
                                                  .id = "ingest.throughput_server",
                                                  .label = lbl,
                                                  .value = g_r.tp_server,
                                                  .unit = "MB/s",
                                                  .runs = g_r.tp_srv_runs,
                                                  .n_runs = n});
        snprintf(lbl, sizeof(lbl),
                 "PutMedia throughput, %u uploads: ceiling (baseline: thread per connection, "
                 "write + fdatasync + rename per fragment)",
                 g_o.tp_uploads);
        cs_bench_figure(&(struct cs_bench_figure){.bench = "ingest_bench",
                                                  .id = "ingest.throughput_ceiling",
                                                  .label = lbl,
                                                  .value = g_r.tp_ceiling,
                                                  .unit = "MB/s",
                                                  .runs = g_r.tp_ceil_runs,
                                                  .n_runs = n,
                                                  .note = "baseline"});
    }
    if ((g_o.only & 2) && g_r.paced_n > 0) {
        bool pass = g_r.have_paced && g_r.ack_p99 <= 50 && g_r.ack_missing == 0;
        snprintf(base, sizeof(base), "ceiling p99 %.1f ms", g_r.ceil_ack_p99);
        nl = (size_t)snprintf(note, sizeof(note),
                              "%zu fragments, %zu unacked; client send lag p99 %.1f ms", g_r.ack_n,
                              g_r.ack_missing, g_r.lag_p99);
        if (g_r.have_tp && g_r.tp_ceiling > 0 && nl < sizeof(note)) {
            snprintf(note + nl, sizeof(note) - nl,
                     "; offer %.0f MB/s = %.0f%% of the ceiling's scenario-1 throughput",
                     g_r.paced_offered, 100 * g_r.paced_offered / g_r.tp_ceiling);
        }
        snprintf(lbl, sizeof(lbl), "PERSISTED ack latency p99, %zu x 2 Mbit/s uploads",
                 g_r.paced_n);
        cs_bench_figure(&(struct cs_bench_figure){.bench = "ingest_bench",
                                                  .id = "ingest.ack_p99",
                                                  .label = lbl,
                                                  .value = g_r.ack_p99,
                                                  .unit = "ms",
                                                  .target = "<= 50",
                                                  .baseline = g_r.have_paced_ceiling ? base : NULL,
                                                  .note = note,
                                                  .verdict = pass ? CS_BENCH_PASS : CS_BENCH_MISS});
        snprintf(base, sizeof(base), "ceiling p50 %.1f ms", g_r.ceil_ack_p50);
        snprintf(lbl, sizeof(lbl), "PERSISTED ack latency p50, %zu x 2 Mbit/s uploads",
                 g_r.paced_n);
        cs_bench_figure(
            &(struct cs_bench_figure){.bench = "ingest_bench",
                                      .id = "ingest.ack_p50",
                                      .label = lbl,
                                      .value = g_r.ack_p50,
                                      .unit = "ms",
                                      .baseline = g_r.have_paced_ceiling ? base : NULL});
        snprintf(lbl, sizeof(lbl), "PERSISTED ack latency max, %zu x 2 Mbit/s uploads",
                 g_r.paced_n);
        cs_bench_figure(&(struct cs_bench_figure){.bench = "ingest_bench",
                                                  .id = "ingest.ack_max",
                                                  .label = lbl,
                                                  .value = g_r.ack_max,
                                                  .unit = "ms"});
        cs_bench_figure(
            &(struct cs_bench_figure){.bench = "ingest_bench",
                                      .id = "ingest.mem_per_upload",
                                      .label = "server memory per active 2 Mbit/s upload (VmRSS)",
                                      .value = g_r.rss_active_per,
                                      .unit = "KiB",
                                      .target = NULL,
                                      .note = "no target; kernel socket buffers are not in VmRSS"});
    }
    if ((g_o.only & 4) && g_r.live_n > 0) {
        snprintf(note, sizeof(note), "p50 %.1f ms, max %.1f ms, %zu samples", g_r.live_p50,
                 g_r.live_max, g_r.live_n);
        cs_bench_figure(&(struct cs_bench_figure){
            .bench = "ingest_bench",
            .id = "ingest.live_p99",
            .label = "live GetMedia latency p99 (producer write -> consumer read)",
            .value = g_r.live_p99,
            .unit = "ms",
            .target = "<= 5",
            .note = note});
    }
    if ((g_o.only & 8) && g_r.have_mem_idle) {
        snprintf(note, sizeof(note), "no target; %zu connections open", g_r.idle_open);
        cs_bench_figure(
            &(struct cs_bench_figure){.bench = "ingest_bench",
                                      .id = "ingest.mem_per_idle_conn",
                                      .label = "server memory per idle connection (VmRSS)",
                                      .value = g_r.rss_idle_per,
                                      .unit = "KiB",
                                      .note = note});
    }
    if (g_o.only & 16) {
        for (size_t i = 0; i < g_n_sweep; i++) {
            const struct sweep_pt *pt = &g_sweep[i];
            const struct paced_out *o[2] = {&pt->s, &pt->c};
            const bool have[2] = {pt->have_s, pt->have_c};
            const char *who[2] = {"server", "ceiling"};
            for (int k = 0; k < 2; k++) {
                cs_bench_record("{\"kind\":\"sweep\",\"bench\":\"ingest_bench\",\"who\":\"%s\","
                                "\"uploads\":%u,\"seconds\":%.0f,\"ok\":%s,\"p50_ms\":%.3f,"
                                "\"p99_ms\":%.3f,\"max_ms\":%.3f,\"mbps\":%.3f,"
                                "\"offered_mbps\":%.3f,\"acked\":%zu,\"unacked\":%zu,"
                                "\"failed\":%zu}",
                                who[k], pt->n, ceil(g_o.sweep_seconds), have[k] ? "true" : "false",
                                have[k] ? o[k]->p50 : -1.0, have[k] ? o[k]->p99 : -1.0,
                                have[k] ? o[k]->max : -1.0, o[k]->mbps, o[k]->ideal_mbps, o[k]->nl,
                                o[k]->miss, o[k]->failed);
            }
        }
    }
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: ingest_bench [options]\n"
        "Benchmarks camstream-ingest (started here on a loopback port) and prints figures.\n"
        "  --server PATH       camstream-ingest binary (default: the build's, or $CS_INGEST_BIN)\n"
        "  --dir DIR           where the temp data dir and the ceiling's files go (one disk;\n"
        "                      default $TMPDIR or /var/tmp)\n"
        "  --quick             1 run, shorter scenarios (~1 minute)\n"
        "  --runs N            runs of the throughput scenario (default 3; median printed)\n"
        "  --uploads N         concurrent uploads for throughput (default 64)\n"
        "  --fragments N       1 s fragments per throughput upload (default 16)\n"
        "  --paced N           concurrent 2 Mbit/s uploads for ack latency (default 1000)\n"
        "  --duration S        seconds of the paced scenario (default 10)\n"
        "  --idle N            idle connections for the memory figure (default 1000)\n"
        "  --consumers N       live GetMedia consumers (default 2)\n"
        "  --live-seconds S    seconds of the live scenario (default 10)\n"
        "  --only LIST         scenarios to run, e.g. 1,3 (1 throughput, 2 ack latency and\n"
        "                      active memory, 3 live GetMedia, 4 idle memory, 5 the sweep)\n"
        "  --sweep LIST        5: scenario 2 at each number of uploads, server then ceiling,\n"
        "                      e.g. 50,100,200,400,700,1000 (the default list with --only 5);\n"
        "                      given alone, it runs after scenarios 1-4\n"
        "  --sweep-duration S  seconds of each sweep point (default 10)\n"
        "  --keep              keep the temp dir\n"
        "  --ceiling-workers K at most K fragments persisting at once in the ceiling (default:\n"
        "                      one per connection; the server persists on --workers threads)\n"
        "  --ceiling-dirsync   the ceiling also fsyncs the directory after each rename\n"
        "  --latency-log FILE  scenarios 2 and 5: append a line per acked fragment to FILE:\n"
        "                      who, upload, fragment, ms since start of its end, ack latency ms\n"
        "  --no-paced-ceiling  skip the ceiling's run of scenario 2\n"
        "With $CS_BENCH_RESULTS set, every figure is also appended to that file as a JSON line\n"
        "(scripts/bench-report turns them into docs/benchmarks.md).\n"
        "Exit status: 0 unless something broke (server crash, connection or ack errors).\n");
}

static void raise_nofile(void)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)(g_o.paced_uploads + g_o.idle_conns + 2 * g_o.tp_uploads + 256);
    for (size_t k = 0; k < g_n_sweep; k++) {
        if ((rlim_t)(2 * g_sweep[k].n + 256) > need) {
            need = (rlim_t)(2 * g_sweep[k].n + 256);
        }
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return;
    }
    if (rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    printf("RLIMIT_NOFILE %llu (the server inherits it; its own max_connections is 1024, no "
           "flag)\n",
           (unsigned long long)rl.rlim_cur);
    if (rl.rlim_cur < need) {
        fprintf(stderr, "ingest_bench: warning: RLIMIT_NOFILE %llu is below the %llu needed\n",
                (unsigned long long)rl.rlim_cur, (unsigned long long)need);
    }
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"server", required_argument, NULL, 's'},
                                       {"dir", required_argument, NULL, 'd'},
                                       {"quick", no_argument, NULL, 'q'},
                                       {"runs", required_argument, NULL, 'r'},
                                       {"uploads", required_argument, NULL, 'u'},
                                       {"fragments", required_argument, NULL, 'f'},
                                       {"paced", required_argument, NULL, 'p'},
                                       {"duration", required_argument, NULL, 't'},
                                       {"idle", required_argument, NULL, 'i'},
                                       {"consumers", required_argument, NULL, 'c'},
                                       {"live-seconds", required_argument, NULL, 'l'},
                                       {"only", required_argument, NULL, 'o'},
                                       {"keep", no_argument, NULL, 'k'},
                                       {"ceiling-workers", required_argument, NULL, 'W'},
                                       {"ceiling-dirsync", no_argument, NULL, 'D'},
                                       {"no-paced-ceiling", no_argument, NULL, 'P'},
                                       {"sweep", required_argument, NULL, 'S'},
                                       {"sweep-duration", required_argument, NULL, 'T'},
                                       {"latency-log", required_argument, NULL, 'L'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    const char *base;
    int opt;
    bool sweep_given = false;
    double t0 = now_ns();

    g_o.server = getenv("CS_INGEST_BIN");
#ifdef CS_INGEST_BIN
    if (g_o.server == NULL) {
        g_o.server = CS_INGEST_BIN;
    }
#endif
    g_o.runs = 3;
    g_o.tp_uploads = 64;
    g_o.tp_fragments = 16;
    g_o.paced_uploads = 1000;
    g_o.paced_seconds = 10;
    g_o.idle_conns = 1000;
    g_o.consumers = 2;
    g_o.live_seconds = 10;
    g_o.sweep_seconds = 10;
    g_o.only = 15;
    g_o.paced_ceiling = true;
    while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (opt) {
        case 's':
            g_o.server = optarg;
            break;
        case 'd':
            g_o.dir = optarg;
            break;
        case 'q':
            g_o.runs = 1;
            g_o.tp_fragments = 4;
            g_o.paced_seconds = 6;
            g_o.live_seconds = 5;
            break;
        case 'r':
            g_o.runs = (unsigned)atoi(optarg);
            break;
        case 'u':
            g_o.tp_uploads = (unsigned)atoi(optarg);
            break;
        case 'f':
            g_o.tp_fragments = (unsigned)atoi(optarg);
            break;
        case 'p':
            g_o.paced_uploads = (unsigned)atoi(optarg);
            break;
        case 't':
            g_o.paced_seconds = atof(optarg);
            break;
        case 'i':
            g_o.idle_conns = (unsigned)atoi(optarg);
            break;
        case 'c':
            g_o.consumers = (unsigned)atoi(optarg);
            break;
        case 'l':
            g_o.live_seconds = atof(optarg);
            break;
        case 'o':
            g_o.only = 0;
            for (const char *p = optarg; *p; p++) {
                if (*p >= '1' && *p <= '5') {
                    g_o.only |= 1u << (*p - '1');
                }
            }
            break;
        case 'k':
            g_o.keep = true;
            break;
        case 'W':
            g_o.ceil_workers = (unsigned)atoi(optarg);
            break;
        case 'D':
            g_o.ceil_dirsync = true;
            break;
        case 'P':
            g_o.paced_ceiling = false;
            break;
        case 'S':
            g_n_sweep = 0;
            for (char *p = optarg, *end; *p != '\0' && g_n_sweep < MAX_SWEEP; p = end) {
                unsigned long v = strtoul(p, &end, 10);
                if (end == p || v < 1 || v > 100000) {
                    fprintf(stderr, "ingest_bench: bad --sweep list '%s'\n", optarg);
                    return 2;
                }
                g_sweep[g_n_sweep++].n = (unsigned)v;
                end += *end == ',';
            }
            sweep_given = true;
            break;
        case 'L':
            g_o.latency_log = optarg;
            break;
        case 'T':
            g_o.sweep_seconds = atof(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (g_o.runs < 1 || g_o.tp_uploads < 1 || g_o.tp_fragments < 2 || g_o.paced_uploads < 1 ||
        g_o.paced_seconds < 2 || g_o.live_seconds < 2 || g_o.idle_conns < 1 || g_o.consumers < 1 ||
        g_o.sweep_seconds < 2) {
        fprintf(stderr, "ingest_bench: bad option value (see --help)\n");
        return 2;
    }
    if (sweep_given && !(g_o.only & 16) && g_o.only == 15) {
        g_o.only |= 16; /* --sweep alone adds the sweep to the default scenarios */
    }
    if ((g_o.only & 16) && g_n_sweep == 0) {
        static const unsigned def[] = {50, 100, 200, 400, 700, 1000};
        for (size_t k = 0; k < sizeof(def) / sizeof(def[0]); k++) {
            g_sweep[g_n_sweep++].n = def[k];
        }
    }
    if (g_o.server == NULL || access(g_o.server, X_OK) != 0) {
        printf("ingest_bench: skipped: camstream-ingest not built (pass --server PATH)\n");
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    if (g_o.ceil_workers > 0 && sem_init(&g_ceil_sem, 0, g_o.ceil_workers) != 0) {
        die("sem_init");
    }
    raise_nofile();
    base = g_o.dir ? g_o.dir : getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
    snprintf(g_tmp, sizeof(g_tmp), "%s/ingest_bench.XXXXXX", base);
    if (mkdtemp(g_tmp) == NULL) {
        die(g_tmp);
    }
    printf("server %s\ndata (server and ceiling, one disk): %s\n", g_o.server, g_tmp);
    fflush(stdout);
    if (g_o.only & 1) {
        scenario_throughput();
    }
    if (g_o.only & 2) {
        scenario_paced();
    }
    if (g_o.only & 4) {
        scenario_live();
    }
    if (g_o.only & 8) {
        scenario_memory();
    }
    if (g_o.only & 16) {
        scenario_sweep();
    }
    report();
    printf("  (%.0f s; %s)\n", (now_ns() - t0) / 1e9,
           g_broke ? "SOMETHING BROKE: see the messages above" : "nothing broke");
    if (!g_o.keep) {
        rm_tree(g_tmp);
    }
    return g_broke ? 1 : 0;
}
