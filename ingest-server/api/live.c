/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The live hub: see live.h. Loop thread only. A stream entry lives while it has fragments in
 * memory or subscribers, and keeps its number generator for the server's lifetime (entries are
 * small; a stream name that is never used again costs one entry).
 */
#define _POSIX_C_SOURCE 200809L

#include "live.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "camstream/mkv_write.h"

#define NUM_SIZE CS_INDEX_FRAGMENT_NUMBER_SIZE

struct entry;

struct csi_live_frag {
    struct entry *e;
    struct csi_live_frag *next; /* in e->frags, number order */
    char number[NUM_SIZE];
    int64_t server_ms;
    int64_t producer_ms;
    bool ended;
    uint8_t *buf; /* prefix + Cluster bytes */
    size_t len;
    size_t cap;
    size_t prefix_len;
    uint8_t before[512]; /* the tags that go before the Cluster */
    size_t before_len;
};

struct csi_live_sub {
    struct entry *e;
    struct csi_live_sub *next; /* in e->subs */
    cs_http_stream *s;
    csi_live_detached_fn detached;
    void *ctx;
    struct csi_live_frag *cur; /* in the middle of it */
    char after[NUM_SIZE];
    /* Producer timestamp of the last fragment this response got whole from the hub: a fragment
     * not above it is a producer's re-send that this response already carries. Per response,
     * never per stream: a consumer that was not attached when the first copy went by (dropped
     * in the middle of it, reconnecting, reading the store) must get the re-sent copy. */
    int64_t last_producer_ms;
    bool have_last;
    uint64_t quiet_since_ns;
    uint64_t deadline_ns; /* 0: none */
};

struct entry {
    struct csi_live *hub;
    struct entry *next;  /* in hub->entries */
    struct entry *hnext; /* in its bucket of hub->buckets */
    uint64_t hash;
    char name[CS_INDEX_NAME_SIZE];
    int64_t gen_ms;
    uint64_t gen_seq;
    bool seeded;
    struct csi_live_frag *frags, *frags_tail;
    struct csi_live_sub *subs;
    char watermark[NUM_SIZE]; /* highest number persisted and released from memory */
};

struct csi_live {
    const cs_clock *clock;
    struct entry *entries;
    /* By name: every fragment of every upload looks its stream up (a list scan was ~2% of the
     * server's CPU at 1,000 uploads). Entries are never removed, so a bucket chain only grows. */
    struct entry **buckets;
    size_t n_buckets; /* a power of two, or 0 before the first entry */
    size_t n_entries;
    size_t n_subs;
    bool draining;
};

/* ---------------------------------------------------------------------------------------------- */

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s != '\0'; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ull;
    }
    return h;
}

/* Doubles the bucket array (rehashing every entry); false without memory (the old array stays,
 * chains just get longer). */
static bool buckets_grow(struct csi_live *hub)
{
    size_t n = hub->n_buckets != 0 ? hub->n_buckets * 2 : 64;
    struct entry **b = calloc(n, sizeof(*b));
    if (b == NULL) {
        return false;
    }
    for (struct entry *e = hub->entries; e != NULL; e = e->next) {
        size_t i = (size_t)(e->hash & (n - 1));
        e->hnext = b[i];
        b[i] = e;
    }
    free(hub->buckets);
    hub->buckets = b;
    hub->n_buckets = n;
    return true;
}

static struct entry *find(struct csi_live *hub, const char *name, bool create)
{
    struct entry *e;
    uint64_t h = name_hash(name);
    if (hub->n_buckets != 0) {
        for (e = hub->buckets[h & (hub->n_buckets - 1)]; e != NULL; e = e->hnext) {
            if (e->hash == h && strcmp(e->name, name) == 0) {
                return e;
            }
        }
    }
    if (!create) {
        return NULL;
    }
    if (hub->n_entries >= hub->n_buckets && !buckets_grow(hub) && hub->n_buckets == 0) {
        return NULL;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return NULL;
    }
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->hub = hub;
    e->hash = h;
    e->next = hub->entries;
    hub->entries = e;
    e->hnext = hub->buckets[h & (hub->n_buckets - 1)];
    hub->buckets[h & (hub->n_buckets - 1)] = e;
    hub->n_entries++;
    return e;
}

cs_status csi_live_create(const cs_clock *clock, struct csi_live **out)
{
    struct csi_live *hub = calloc(1, sizeof(*hub));
    *out = NULL;
    if (hub == NULL) {
        return CS_E_NOMEM;
    }
    hub->clock = clock;
    *out = hub;
    return CS_OK;
}

void csi_live_destroy(struct csi_live **phub)
{
    struct csi_live *hub;
    if (phub == NULL || *phub == NULL) {
        return;
    }
    hub = *phub;
    while (hub->entries != NULL) {
        struct entry *e = hub->entries;
        hub->entries = e->next;
        while (e->subs != NULL) {
            struct csi_live_sub *s = e->subs;
            e->subs = s->next;
            free(s);
        }
        while (e->frags != NULL) {
            struct csi_live_frag *f = e->frags;
            e->frags = f->next;
            free(f->buf);
            free(f);
        }
        free(e);
    }
    free(hub->buckets);
    free(hub);
    *phub = NULL;
}

/* ---------------------------------------------------------------------------------------------- */
/* Tags                                                                                           */
/* ---------------------------------------------------------------------------------------------- */

static void fmt_seconds(int64_t ms, char *out, size_t cap)
{
    const char *sign = ms < 0 ? "-" : "";
    uint64_t a = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    snprintf(out, cap, "%s%" PRIu64 ".%03" PRIu64, sign, a / 1000, a % 1000);
}

static cs_mkv_tag tag(const char *name, const char *value)
{
    return (cs_mkv_tag){name, strlen(name), value, strlen(value)};
}

static size_t put(const cs_mkv_tag *t, size_t n, uint8_t *out, size_t cap)
{
    cs_mkv_writer w;
    size_t len = 0;
    cs_mkv_writer_init(&w, out, out ? cap : 0);
    cs_mkv_put_tags(&w, t, n);
    if (cs_mkv_writer_finish(&w, &len) != CS_OK && out != NULL) {
        return 0;
    }
    return len;
}

size_t csi_live_tags_before(const char *number, int64_t server_ms, int64_t producer_ms,
                            uint8_t *out, size_t cap)
{
    char server[32], producer[32];
    cs_mkv_tag t[3];
    fmt_seconds(server_ms, server, sizeof(server));
    fmt_seconds(producer_ms, producer, sizeof(producer));
    t[0] = tag("AWS_KINESISVIDEO_FRAGMENT_NUMBER", number);
    t[1] = tag("AWS_KINESISVIDEO_SERVER_TIMESTAMP", server);
    t[2] = tag("AWS_KINESISVIDEO_PRODUCER_TIMESTAMP", producer);
    return put(t, 3, out, cap);
}

size_t csi_live_tags_after(const char *number, int64_t behind_ms, uint8_t *out, size_t cap)
{
    char behind[32];
    cs_mkv_tag t[2];
    snprintf(behind, sizeof(behind), "%" PRId64, behind_ms > 0 ? behind_ms : (int64_t)0);
    t[0] = tag("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", behind);
    t[1] = tag("AWS_KINESISVIDEO_CONTINUATION_TOKEN", number);
    return put(t, 2, out, cap);
}

/* ---------------------------------------------------------------------------------------------- */
/* Subscribers                                                                                    */
/* ---------------------------------------------------------------------------------------------- */

static void unlink_sub(struct csi_live_sub *s)
{
    struct csi_live_sub **pp;
    for (pp = &s->e->subs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
}

static struct csi_live *hub_of(struct entry *e)
{
    return e->hub;
}

/* Lets a subscriber go and tells its owner (who may attach again from the callback). */
static void let_go(struct csi_live *hub, struct csi_live_sub *s, enum csi_live_why why)
{
    char after[NUM_SIZE];
    csi_live_detached_fn fn = s->detached;
    void *ctx = s->ctx;
    snprintf(after, sizeof(after), "%s", s->after);
    unlink_sub(s);
    hub->n_subs--;
    free(s);
    fn(ctx, why, after);
}

static bool write_or_drop(struct csi_live_sub *s, const void *data, size_t len)
{
    return len == 0 || cs_http_stream_write(s->s, data, len) == CS_OK;
}

/* The closing tags of a complete fragment for one subscriber. */
static bool write_end(struct csi_live *hub, struct csi_live_sub *s, const struct csi_live_frag *f)
{
    uint8_t tail[512];
    int64_t now_ms = (int64_t)(cs_clock_wall_ns(hub->clock) / 1000000u);
    size_t n = csi_live_tags_after(f->number, now_ms - f->server_ms, tail, sizeof(tail));
    if (n == 0 || !write_or_drop(s, tail, n)) {
        return false;
    }
    snprintf(s->after, sizeof(s->after), "%s", f->number);
    s->last_producer_ms = f->producer_ms;
    s->have_last = true;
    s->cur = NULL;
    s->quiet_since_ns = cs_clock_monotonic_ns(hub->clock);
    return true;
}

/* A re-send of a fragment this response already carries whole (see last_producer_ms). */
static bool had_whole(const struct csi_live_sub *s, const struct csi_live_frag *f)
{
    return s->have_last && f->producer_ms <= s->last_producer_ms;
}

/* The start of a fragment (prefix, our tags, the Cluster bytes so far) for one subscriber. */
static bool write_start(struct csi_live_sub *s, struct csi_live_frag *f)
{
    if (!write_or_drop(s, f->buf, f->prefix_len) || !write_or_drop(s, f->before, f->before_len) ||
        !write_or_drop(s, f->buf + f->prefix_len, f->len - f->prefix_len)) {
        return false;
    }
    s->cur = f;
    return true;
}

cs_status csi_live_attach(struct csi_live *hub, const char *stream, const char *after,
                          cs_http_stream *hs, csi_live_detached_fn detached, void *ctx,
                          struct csi_live_sub **out)
{
    struct entry *e;
    struct csi_live_sub *s;
    *out = NULL;
    if (hub->draining) {
        return CS_E_STATE;
    }
    e = find(hub, stream, true);
    if (e == NULL) {
        return CS_E_NOMEM;
    }
    if (e->watermark[0] != '\0' && strcmp(e->watermark, after) > 0) {
        return CS_AGAIN;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return CS_E_NOMEM;
    }
    s->e = e;
    s->s = hs;
    s->detached = detached;
    s->ctx = ctx;
    snprintf(s->after, sizeof(s->after), "%s", after);
    s->quiet_since_ns = cs_clock_monotonic_ns(hub->clock);
    /* Replay what memory holds above `after`: whole fragments, then the one in progress. */
    for (struct csi_live_frag *f = e->frags; f != NULL; f = f->next) {
        if (strcmp(f->number, s->after) <= 0 || had_whole(s, f)) {
            continue;
        }
        if (!write_start(s, f) || (f->ended && !write_end(hub, s, f))) {
            free(s);
            return CS_E_NOMEM;
        }
        if (!f->ended) {
            break;
        }
    }
    s->next = e->subs;
    e->subs = s;
    hub->n_subs++;
    *out = s;
    return CS_OK;
}

void csi_live_detach(struct csi_live_sub **ps)
{
    struct csi_live_sub *s;
    if (ps == NULL || *ps == NULL) {
        return;
    }
    s = *ps;
    unlink_sub(s);
    hub_of(s->e)->n_subs--;
    free(s);
    *ps = NULL;
}

/* ---------------------------------------------------------------------------------------------- */
/* Producer side                                                                                  */
/* ---------------------------------------------------------------------------------------------- */

static bool parse_number(const char *n, int64_t *ms, uint64_t *seq)
{
    char a[21], b[26];
    if (strlen(n) != NUM_SIZE - 1 || n[0] != '9' || n[1] != '1') {
        return false;
    }
    memcpy(a, n + 2, 20);
    a[20] = '\0';
    memcpy(b, n + 22, 25);
    b[25] = '\0';
    *ms = (int64_t)strtoull(a, NULL, 10);
    *seq = strtoull(b, NULL, 10);
    return true;
}

cs_status csi_live_seed(struct csi_live *hub, const char *stream, const char *last_number)
{
    struct entry *e = find(hub, stream, true);
    int64_t ms;
    uint64_t seq;
    if (e == NULL) {
        return CS_E_NOMEM;
    }
    if (last_number != NULL && parse_number(last_number, &ms, &seq)) {
        if (!e->seeded || ms > e->gen_ms || (ms == e->gen_ms && seq > e->gen_seq)) {
            e->gen_ms = ms;
            e->gen_seq = seq;
        }
    }
    e->seeded = true;
    return CS_OK;
}

static void reserve(struct csi_live *hub, struct entry *e, struct csi_live_frag *f)
{
    int64_t now_ms = (int64_t)(cs_clock_wall_ns(hub->clock) / 1000000u);
    if (!e->seeded) {
        e->seeded = true;
        e->gen_ms = now_ms;
        e->gen_seq = 0;
    } else if (now_ms <= e->gen_ms) {
        e->gen_seq++;
    } else {
        e->gen_ms = now_ms;
        e->gen_seq = 0;
    }
    f->server_ms = now_ms;
    snprintf(f->number, sizeof(f->number), "91%020" PRIu64 "%025" PRIu64,
             (uint64_t)(e->gen_ms < 0 ? 0 : e->gen_ms), e->gen_seq);
}

static bool grow(struct csi_live_frag *f, size_t more)
{
    size_t cap = f->cap ? f->cap : 64 * 1024;
    uint8_t *nb;
    if (more <= f->cap - f->len) {
        return true;
    }
    while (cap - f->len < more) {
        if (cap > SIZE_MAX / 2) {
            return false;
        }
        cap *= 2;
    }
    nb = realloc(f->buf, cap);
    if (nb == NULL) {
        return false;
    }
    f->buf = nb;
    f->cap = cap;
    return true;
}

cs_status csi_live_frag_begin(struct csi_live *hub, const char *stream, const uint8_t *prefix,
                              size_t prefix_len, int64_t producer_ms, size_t size_hint,
                              struct csi_live_frag **out)
{
    struct entry *e;
    struct csi_live_frag *f;
    *out = NULL;
    e = find(hub, stream, true);
    f = e ? calloc(1, sizeof(*f)) : NULL;
    if (f == NULL) {
        return CS_E_NOMEM;
    }
    f->e = e;
    f->producer_ms = producer_ms;
    if (!grow(f, prefix_len + (size_hint < (64u << 20) ? size_hint : 0))) {
        free(f);
        return CS_E_NOMEM;
    }
    memcpy(f->buf, prefix, prefix_len);
    f->len = f->prefix_len = prefix_len;
    reserve(hub, e, f);
    f->before_len =
        csi_live_tags_before(f->number, f->server_ms, f->producer_ms, f->before, sizeof(f->before));
    if (e->frags_tail != NULL) {
        e->frags_tail->next = f;
    } else {
        e->frags = f;
    }
    e->frags_tail = f;
    for (struct csi_live_sub *s = e->subs, *next; s != NULL; s = next) {
        next = s->next;
        if (s->cur != NULL) {
            continue; /* still in an older fragment (a takeover's leftovers) */
        }
        if (had_whole(s, f)) {
            continue; /* a re-send of what this response already carries */
        }
        if (hub->draining) {
            let_go(hub, s, CSI_LIVE_DRAIN);
        } else if (cs_http_stream_write_pending(s->s) > CSI_LIVE_SOFT_QUEUE) {
            let_go(hub, s, CSI_LIVE_SLOW);
        } else if (!write_start(s, f)) {
            let_go(hub, s, CSI_LIVE_OVERFLOW);
        }
    }
    *out = f;
    return CS_OK;
}

cs_status csi_live_frag_data(struct csi_live_frag *f, const uint8_t *data, size_t len)
{
    struct csi_live *hub = hub_of(f->e);
    struct csi_live_sub *s, *next;
    if (!grow(f, len)) {
        return CS_E_NOMEM;
    }
    memcpy(f->buf + f->len, data, len);
    f->len += len;
    for (s = f->e->subs; s != NULL; s = next) {
        next = s->next;
        if (s->cur != f) {
            continue;
        }
        if (cs_http_stream_write_pending(s->s) > CSI_LIVE_HARD_QUEUE ||
            !write_or_drop(s, data, len)) {
            let_go(hub, s, CSI_LIVE_OVERFLOW);
        }
    }
    return CS_OK;
}

void csi_live_frag_end(struct csi_live_frag *f)
{
    struct csi_live *hub = hub_of(f->e);
    struct entry *e = f->e;
    struct csi_live_sub *s, *next;
    f->ended = true;
    for (s = e->subs; s != NULL; s = next) {
        next = s->next;
        if (s->cur != f) {
            continue;
        }
        if (!write_end(hub, s, f)) {
            let_go(hub, s, CSI_LIVE_OVERFLOW);
        } else if (hub->draining) {
            let_go(hub, s, CSI_LIVE_DRAIN);
        } else if (s->deadline_ns != 0 && cs_clock_monotonic_ns(hub->clock) >= s->deadline_ns) {
            let_go(hub, s, CSI_LIVE_RECHECK);
        }
    }
}

static void unlink_frag(struct csi_live_frag *f)
{
    struct entry *e = f->e;
    struct csi_live_frag **pp, *prev = NULL;
    for (pp = &e->frags; *pp != NULL; prev = *pp, pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            if (e->frags_tail == f) {
                e->frags_tail = prev;
            }
            break;
        }
    }
}

void csi_live_frag_abort(struct csi_live_frag *f)
{
    struct csi_live *hub;
    struct csi_live_sub *s, *next;
    if (f == NULL) {
        return;
    }
    hub = hub_of(f->e);
    unlink_frag(f);
    for (s = f->e->subs; s != NULL; s = next) {
        next = s->next;
        if (s->cur == f) {
            s->cur = NULL;
            let_go(hub, s, CSI_LIVE_TORN);
        }
    }
    free(f->buf);
    free(f);
}

void csi_live_frag_done(struct csi_live_frag *f, const char *persisted_as)
{
    struct entry *e;
    if (f == NULL) {
        return;
    }
    e = f->e;
    unlink_frag(f);
    if (persisted_as != NULL && strcmp(persisted_as, e->watermark) > 0) {
        snprintf(e->watermark, sizeof(e->watermark), "%s", persisted_as);
    }
    /* A subscriber still in the middle of it (possible only if done came before end, which
     * putmedia never does) would be torn: let it go. */
    for (struct csi_live_sub *s = e->subs, *next; s != NULL; s = next) {
        next = s->next;
        if (s->cur == f) {
            s->cur = NULL;
            let_go(hub_of(e), s, CSI_LIVE_TORN);
        }
    }
    free(f->buf);
    free(f);
}

const char *csi_live_frag_number(const struct csi_live_frag *f)
{
    return f->number;
}

int64_t csi_live_frag_server_ms(const struct csi_live_frag *f)
{
    return f->server_ms;
}

const uint8_t *csi_live_frag_bytes(const struct csi_live_frag *f, size_t *len)
{
    *len = f->len;
    return f->buf;
}

/* ---------------------------------------------------------------------------------------------- */

void csi_live_tick(struct csi_live *hub, uint32_t recheck_ms)
{
    uint64_t now = cs_clock_monotonic_ns(hub->clock);
    uint64_t limit = (uint64_t)recheck_ms * 1000000u;
    for (struct entry *e = hub->entries; e != NULL; e = e->next) {
        struct csi_live_sub *s, *next;
        for (s = e->subs; s != NULL; s = next) {
            next = s->next;
            if (s->cur == NULL && now - s->quiet_since_ns >= limit) {
                let_go(hub, s, CSI_LIVE_RECHECK);
            }
        }
    }
}

void csi_live_drain(struct csi_live *hub)
{
    hub->draining = true;
    for (struct entry *e = hub->entries; e != NULL; e = e->next) {
        struct csi_live_sub *s, *next;
        for (s = e->subs; s != NULL; s = next) {
            next = s->next;
            if (s->cur == NULL) {
                let_go(hub, s, CSI_LIVE_DRAIN);
            }
        }
    }
}

void csi_live_sub_set_deadline(struct csi_live_sub *sub, uint64_t deadline_ns)
{
    sub->deadline_ns = deadline_ns;
}

bool csi_live_draining(const struct csi_live *hub)
{
    return hub->draining;
}

size_t csi_live_subscribers(const struct csi_live *hub)
{
    return hub->n_subs;
}
