/* SPDX-License-Identifier: Apache-2.0 */
/* Producer test helpers (see prodtest.h): the benchmark clip, its frame table, the reference
 * Annex-B -> AVCC conversion, and the ingest server as a child process. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "prodtest.h"

uint64_t pt_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t pt_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void pt_sleep_until(uint64_t deadline_ns)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(deadline_ns / 1000000000u);
    ts.tv_nsec = (long)(deadline_ns % 1000000000u);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

int pt_clip_make(const char *path, unsigned frames)
{
    struct stat sb;
    char cmd[2048], tmp[1100];
    int rc;

    if (stat(path, &sb) == 0 && sb.st_size > 0) {
        return 0;
    }
    if (system("gst-inspect-1.0 x264enc >/dev/null 2>&1 && gst-inspect-1.0 h264parse "
               ">/dev/null 2>&1") != 0) {
        fprintf(stderr, "skipped: gst-launch-1.0 with x264enc and h264parse is needed for the clip "
                        "(apt-get install gstreamer1.0-tools gstreamer1.0-plugins-ugly "
                        "gstreamer1.0-plugins-bad)\n");
        return 77;
    }
    /* made under a temporary name, renamed when complete: concurrent runs share the cache */
    snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
    snprintf(cmd, sizeof(cmd),
             "gst-launch-1.0 -q videotestsrc num-buffers=%u pattern=smpte horizontal-speed=4 ! "
             "video/x-raw,width=1280,height=720,framerate=30/1 ! x264enc tune=zerolatency "
             "bitrate=2000 key-int-max=60 option-string=\"scenecut=0\" threads=1 ! h264parse ! "
             "video/x-h264,stream-format=byte-stream,alignment=au ! filesink location='%s' "
             ">/dev/null",
             frames, tmp);
    rc = system(cmd);
    if (rc != 0 || stat(tmp, &sb) != 0 || sb.st_size == 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "making the clip failed: %s\n", cmd);
        unlink(tmp);
        return 1;
    }
    return 0;
}

/* "H:MM:SS.NNNNNNNNN" (GStreamer's time format) after `key` in `line`, in ns; false if absent. */
static bool gst_time_after(const char *line, const char *key, int64_t *ns)
{
    const char *p = strstr(line, key);
    unsigned h, m, s;
    char frac[16];

    if (p == NULL || sscanf(p + strlen(key), "%u:%u:%u.%9[0-9]", &h, &m, &s, frac) != 4 ||
        strlen(frac) != 9) {
        return false;
    }
    *ns = (((int64_t)h * 60 + m) * 60 + s) * 1000000000 + strtoll(frac, NULL, 10);
    return true;
}

int pt_clip_make_bframes(const char *path, unsigned frames)
{
    struct stat sb;
    char cmd[3072], tmp[1100], log[1100], ts[1100], line[1024];
    FILE *in, *out;
    int rc;
    unsigned n = 0;
    int64_t first_pts = 0;

    snprintf(ts, sizeof(ts), "%s.ts", path);
    if (stat(path, &sb) == 0 && sb.st_size > 0 && stat(ts, &sb) == 0 && sb.st_size > 0) {
        return 0;
    }
    if (system("gst-inspect-1.0 x264enc >/dev/null 2>&1 && gst-inspect-1.0 h264parse "
               ">/dev/null 2>&1") != 0) {
        fprintf(stderr, "skipped: gst-launch-1.0 with x264enc and h264parse is needed for the clip "
                        "(apt-get install gstreamer1.0-tools gstreamer1.0-plugins-ugly "
                        "gstreamer1.0-plugins-bad)\n");
        return 77;
    }
    snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
    snprintf(log, sizeof(log), "%s.%d.log", path, (int)getpid());
    snprintf(cmd, sizeof(cmd),
             "gst-launch-1.0 -v videotestsrc num-buffers=%u pattern=smpte horizontal-speed=4 ! "
             "video/x-raw,width=1280,height=720,framerate=30/1 ! x264enc bitrate=2000 "
             "key-int-max=60 bframes=2 option-string=\"scenecut=0:open-gop=1\" threads=1 ! "
             "h264parse ! video/x-h264,stream-format=byte-stream,alignment=au ! identity "
             "silent=false ! filesink location='%s' >'%s' 2>&1",
             frames, tmp, log);
    rc = system(cmd);
    in = rc == 0 ? fopen(log, "r") : NULL;
    out = in != NULL ? fopen(ts, "w") : NULL;
    while (out != NULL && fgets(line, sizeof(line), in) != NULL) {
        int64_t pts, dts;
        if (strstr(line, "identity") == NULL || strstr(line, "chain") == NULL ||
            !gst_time_after(line, "pts: ", &pts) || !gst_time_after(line, "dts: ", &dts)) {
            continue;
        }
        if (n++ == 0) {
            first_pts = pts;
        }
        /* key: GStreamer's flag (no delta-unit), as a sink sees it; with an open GOP the key
         * frames after the first are recovery-point I-frames, not IDR */
        fprintf(out, "%" PRId64 " %" PRId64 " %d\n", pts - first_pts, dts - first_pts,
                strstr(line, "delta-unit") == NULL ? 1 : 0);
    }
    if (in != NULL) {
        fclose(in);
    }
    if (out == NULL || fclose(out) != 0 || n != frames || stat(tmp, &sb) != 0 || sb.st_size == 0 ||
        rename(tmp, path) != 0) {
        fprintf(stderr, "making the B-frame clip failed (%u timestamps for %u frames): %s\n", n,
                frames, cmd);
        unlink(tmp);
        unlink(ts);
        unlink(log);
        return 1;
    }
    unlink(log);
    return 0;
}

int pt_clip_read_times(const char *path, size_t n, int64_t *pts_ns, int64_t *dts_ns, bool *key)
{
    char ts[1100];
    FILE *f;
    size_t i = 0;

    snprintf(ts, sizeof(ts), "%s.ts", path);
    f = fopen(ts, "r");
    if (f == NULL) {
        return 1;
    }
    while (i < n) {
        int k;
        if (fscanf(f, "%" SCNd64 " %" SCNd64 " %d", &pts_ns[i], &dts_ns[i], &k) != 3) {
            break;
        }
        key[i++] = k != 0;
    }
    fclose(f);
    return i == n ? 0 : 1;
}

/* Next start code at or after `i`; returns its position (len if none), its size in `*sc`. */
static size_t next_sc(const uint8_t *b, size_t len, size_t i, size_t *sc)
{
    for (; i + 3 <= len; i++) {
        if (b[i] == 0 && b[i + 1] == 0) {
            if (b[i + 2] == 1) {
                *sc = 3;
                return i;
            }
            if (b[i + 2] == 0 && i + 4 <= len && b[i + 3] == 1) {
                *sc = 4;
                return i;
            }
        }
    }
    *sc = 0;
    return len;
}

/* The file seen through a small window, so that opening the clip does not raise the peak RSS
 * of the process measuring it (the benchmark reads VmHWM). */
struct window {
    int fd;
    size_t size;
    size_t start, len;
    uint8_t buf[256 * 1024];
};

static int byte_at(struct window *w, size_t off)
{
    if (off >= w->size) {
        return -1;
    }
    if (off < w->start || off >= w->start + w->len) {
        ssize_t n = pread(w->fd, w->buf, sizeof(w->buf), (off_t)off);
        if (n <= 0) {
            return -1;
        }
        w->start = off;
        w->len = (size_t)n;
    }
    return w->buf[off - w->start];
}

/* Next start code at or after `i` in the file; returns its position (size if none). */
static size_t next_sc_w(struct window *w, size_t i, size_t *sc)
{
    int b0 = byte_at(w, i), b1 = byte_at(w, i + 1), b2;
    for (; i + 3 <= w->size; i++) {
        b2 = byte_at(w, i + 2);
        if (b0 == 0 && b1 == 0) {
            if (b2 == 1) {
                *sc = 3;
                return i;
            }
            if (b2 == 0 && byte_at(w, i + 3) == 1) {
                *sc = 4;
                return i;
            }
        }
        b0 = b1;
        b1 = b2;
    }
    *sc = 0;
    return w->size;
}

static bool add_frame(pt_clip *clip, size_t *cap, size_t off, size_t len, bool key)
{
    if (clip->count == *cap) {
        pt_frame *nf;
        *cap = *cap ? *cap * 2 : 1024;
        nf = realloc(clip->frames, *cap * sizeof(*clip->frames));
        if (nf == NULL) {
            return false;
        }
        clip->frames = nf;
    }
    clip->frames[clip->count++] = (pt_frame){off, len, key};
    return true;
}

/* The frame table is cached beside the clip as PATH.idx ("count\n" then "off len key\n" per
 * frame), so that a measured process does not pay for the scan. */
static bool read_index(const char *path, pt_clip *clip)
{
    char idx[1100];
    struct stat cs, is;
    FILE *f;
    size_t n;
    bool ok = true;

    snprintf(idx, sizeof(idx), "%s.idx", path);
    if (stat(path, &cs) != 0 || stat(idx, &is) != 0 || is.st_mtime < cs.st_mtime ||
        (f = fopen(idx, "r")) == NULL) {
        return false;
    }
    if (fscanf(f, "%zu", &n) != 1 || n == 0 || n > 10000000 ||
        (clip->frames = calloc(n, sizeof(*clip->frames))) == NULL) {
        fclose(f);
        return false;
    }
    for (size_t i = 0; ok && i < n; i++) {
        int key;
        ok = fscanf(f, "%zu %zu %d", &clip->frames[i].off, &clip->frames[i].len, &key) == 3;
        clip->frames[i].key = key != 0;
    }
    fclose(f);
    if (!ok) {
        free(clip->frames);
        clip->frames = NULL;
        return false;
    }
    clip->count = n;
    clip->bytes = (size_t)cs.st_size;
    return true;
}

static void write_index(const char *path, const pt_clip *clip)
{
    char idx[1100], tmp[1200];
    FILE *f;
    snprintf(idx, sizeof(idx), "%s.idx", path);
    snprintf(tmp, sizeof(tmp), "%s.%d.tmp", idx, (int)getpid());
    f = fopen(tmp, "w");
    if (f == NULL) {
        return;
    }
    fprintf(f, "%zu\n", clip->count);
    for (size_t i = 0; i < clip->count; i++) {
        fprintf(f, "%zu %zu %d\n", clip->frames[i].off, clip->frames[i].len,
                clip->frames[i].key ? 1 : 0);
    }
    if (fclose(f) != 0 || rename(tmp, idx) != 0) {
        unlink(tmp);
    }
}

int pt_clip_open(const char *path, pt_clip *clip)
{
    struct window *w;
    struct stat sb;
    size_t i, sc, cap = 0, start = 0;
    bool open_au = false, key = false, ok = true;

    memset(clip, 0, sizeof(*clip));
    snprintf(clip->path, sizeof(clip->path), "%s", path);
    if (read_index(path, clip)) {
        goto done;
    }
    w = malloc(sizeof(*w));
    if (w == NULL) {
        return 1;
    }
    w->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (w->fd < 0 || fstat(w->fd, &sb) != 0 || sb.st_size <= 0) {
        if (w->fd >= 0) {
            close(w->fd);
        }
        free(w);
        return 1;
    }
    w->size = clip->bytes = (size_t)sb.st_size;
    w->start = w->len = 0;
    /* An access unit starts at each AUD (nal_unit_type 9): x264enc writes one per picture. */
    i = next_sc_w(w, 0, &sc);
    while (ok && i < clip->bytes) {
        size_t hdr = i + sc, nxt, sc2;
        unsigned type = (unsigned)byte_at(w, hdr) & 0x1f;
        nxt = next_sc_w(w, hdr, &sc2);
        if (type == 9) {
            if (open_au) {
                ok = add_frame(clip, &cap, start, i - start, key);
            }
            open_au = true;
            start = i;
            key = false;
        } else if (type == 5) {
            key = true;
        }
        i = nxt;
        sc = sc2;
    }
    if (ok && open_au) {
        ok = add_frame(clip, &cap, start, clip->bytes - start, key);
    }
    close(w->fd);
    free(w);
    if (ok && clip->count > 0) {
        write_index(path, clip);
    }
done:
    for (i = 0; i < clip->count; i++) {
        if (clip->frames[i].len > clip->max_frame) {
            clip->max_frame = clip->frames[i].len;
        }
    }
    return ok && clip->count > 0 && clip->frames[0].key ? 0 : 1;
}

void pt_clip_close(pt_clip *clip)
{
    free(clip->frames);
    clip->frames = NULL;
    clip->count = 0;
}

size_t pt_clip_read(const pt_clip *clip, size_t i, uint8_t *dst)
{
    int fd;
    ssize_t n;
    if (i >= clip->count) {
        return 0;
    }
    fd = open(clip->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    n = pread(fd, dst, clip->frames[i].len, (off_t)clip->frames[i].off);
    close(fd);
    return n == (ssize_t)clip->frames[i].len ? (size_t)n : 0;
}

size_t pt_annexb_to_avcc(const uint8_t *src, size_t len, uint8_t *dst)
{
    size_t out = 0, sc, i = next_sc(src, len, 0, &sc);
    while (i < len) {
        size_t s = i + sc, sc2, e = next_sc(src, len, s, &sc2), end = e;
        while (end > s && src[end - 1] == 0) {
            end--;
        }
        if (end > s && (src[s] & 0x1f) != 9) {
            size_t n = end - s;
            if (dst != NULL) {
                dst[out] = (uint8_t)(n >> 24);
                dst[out + 1] = (uint8_t)(n >> 16);
                dst[out + 2] = (uint8_t)(n >> 8);
                dst[out + 3] = (uint8_t)n;
                memcpy(dst + out + 4, src + s, n);
            }
            out += 4 + n;
        }
        i = e;
        sc = sc2;
    }
    return out;
}

int pt_server_start(const char *bin, const char *data_dir, uint16_t port, const char *const *extra,
                    const char *log, pt_server *sv)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        int fds[2];
        char listen[64], line[256] = "";
        const char *argv[64];
        size_t argc = 0;
        ssize_t n;
        size_t got = 0;
        const char *u;

        snprintf(listen, sizeof(listen), "127.0.0.1:%u", (unsigned)port);
        argv[argc++] = bin;
        argv[argc++] = "--listen";
        argv[argc++] = listen;
        argv[argc++] = "--data-dir";
        argv[argc++] = data_dir;
        argv[argc++] = "--access-key";
        argv[argc++] = PT_AK;
        argv[argc++] = "--secret-key";
        argv[argc++] = PT_SK;
        for (size_t k = 0; extra != NULL && extra[k] != NULL && argc < 62; k++) {
            argv[argc++] = extra[k];
        }
        argv[argc] = NULL;
        if (pipe2(fds, O_CLOEXEC) != 0) {
            return 1;
        }
        sv->pid = fork();
        if (sv->pid < 0) {
            return 1;
        }
        if (sv->pid == 0) {
            dup2(fds[1], 1);
            if (log != NULL) {
                int lf = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
                if (lf >= 0) {
                    dup2(lf, 2);
                }
            }
            execv(bin, (char *const *)argv);
            _exit(127);
        }
        close(fds[1]);
        while (got + 1 < sizeof(line) && (n = read(fds[0], line + got, 1)) == 1) {
            if (line[got] == '\n') {
                break;
            }
            got++;
        }
        line[got] = '\0';
        close(fds[0]); /* the server writes nothing more to stdout */
        u = strstr(line, "http://");
        if (u == NULL) {
            u = strstr(line, "https://"); /* --tls-cert */
        }
        if (u != NULL) {
            const char *colon = strrchr(strstr(u, "://") + 3, ':');
            snprintf(sv->url, sizeof(sv->url), "%s", u);
            sv->port = colon != NULL ? (uint16_t)atoi(colon + 1) : 0;
            return sv->port != 0 ? 0 : 1;
        }
        waitpid(sv->pid, NULL, 0);
        sv->pid = 0;
        if (port == 0) {
            return 1;
        }
        usleep(200000); /* the port may still be held by the killed server's sockets */
    }
    return 1;
}

int pt_server_stop(pt_server *sv, int sig)
{
    int status = -1;
    if (sv->pid > 0) {
        kill(sv->pid, sig);
        waitpid(sv->pid, &status, 0);
        sv->pid = 0;
    }
    return status;
}
