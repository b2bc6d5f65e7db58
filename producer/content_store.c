/* SPDX-License-Identifier: Apache-2.0 */
/* The producer's content store: one block holding a stream's MKV bytes as a ring with a fixed
 * index of fragment boundaries, written once per frame (reserve/commit), read as contiguous spans
 * (peek/skip), freed by whole fragments on PERSISTED acks, and evicted by whole fragments (or
 * waited on) when full. Positions are 64-bit logical byte counts; a wrap pads the end of the block
 * so that physical offset = logical % capacity always holds. See docs/internals/PRODUCER.md. */
#include <string.h>

#include "content_store.h"

struct cstore_entry {
    uint64_t start;    /* logical position of the fragment's first byte */
    uint64_t first_ts; /* key timestamp, from the fragment-start commit */
    uint64_t last_ts;  /* largest timestamp committed into it */
    uint32_t frames;   /* commits */
    uint32_t session;  /* begins with a stream header */
};

struct csi_cstore {
    csi_cstore_config cfg;
    const cs_allocator *alloc;
    cs_mutex lock;
    cs_cond space; /* signalled when space is freed or the pin released */
    uint8_t *ring;
    size_t cap;
    struct cstore_entry *idx;
    size_t n_idx;
    size_t footprint;

    uint64_t head;           /* end of committed bytes */
    uint64_t tail;           /* start of the oldest kept bytes; [tail, head) is stored */
    uint64_t sent;           /* reader position, tail <= sent <= head */
    uint64_t pad_lo, pad_hi; /* the newest wrap padding, [pad_lo, pad_hi) */

    uint64_t first_seq; /* index entries: seq in [first_seq, first_seq + count) at idx[seq % n] */
    size_t count;
    uint64_t sent_seq; /* first fragment not counted as fully sent */

    bool res_open;
    uint64_t res_start;
    size_t res_len;
    unsigned res_flags;
    uint64_t res_ts;
    uint64_t saved_pad_lo, saved_pad_hi, saved_head;

    bool pinned;
    uint64_t pin_start;
    size_t pin_len;
    bool discontinuity;
    bool need_frag_start;
    bool have_acked;
    uint64_t acked_ts;
    size_t pressure_level; /* thresholds crossed upwards and not yet cleared */

    uint64_t n_sent, n_persisted, n_dropped, frames_dropped, bytes_dropped;
};

#define ALIGN16(x) (((x) + 15u) & ~(size_t)15u)

void csi_cstore_config_init(csi_cstore_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->capacity = 4u * 1024u * 1024u;
    cfg->policy = CSI_CSTORE_DROP_OLDEST;
    cfg->wait_timeout_ns = 1000000000ull;
    cfg->thresholds_pct[0] = 50;
    cfg->thresholds_pct[1] = 75;
    cfg->thresholds_pct[2] = 90;
    cfg->threshold_count = 3;
    cfg->hysteresis_pct = 5;
}

cs_status csi_cstore_footprint(size_t capacity, size_t *bytes, size_t *index_entries)
{
    size_t n, idx_bytes, total;

    if (capacity < CSI_CSTORE_MIN_CAPACITY || bytes == NULL || index_entries == NULL) {
        return CS_E_INVAL;
    }
    n = capacity / CSI_CSTORE_BYTES_PER_INDEX_ENTRY;
    if (n < CSI_CSTORE_MIN_INDEX_ENTRIES) {
        n = CSI_CSTORE_MIN_INDEX_ENTRIES;
    }
    if (n > CSI_CSTORE_MAX_INDEX_ENTRIES) {
        n = CSI_CSTORE_MAX_INDEX_ENTRIES;
    }
    if (cs_mul_size(n, sizeof(struct cstore_entry), &idx_bytes) != CS_OK ||
        cs_add_size(ALIGN16(sizeof(struct csi_cstore)), ALIGN16(idx_bytes), &total) != CS_OK ||
        cs_add_size(total, capacity, &total) != CS_OK) {
        return CS_E_OVERFLOW;
    }
    *bytes = total;
    *index_entries = n;
    return CS_OK;
}

cs_status csi_cstore_create(const csi_cstore_config *cfg, csi_cstore **out)
{
    cs_status st;
    size_t total = 0, n = 0, i;
    const cs_allocator *a;
    uint8_t *block = NULL;
    csi_cstore *s = NULL;
    bool have_mutex = false;

    if (cfg == NULL || out == NULL) {
        return CS_E_INVAL;
    }
    *out = NULL;
    if (cfg->threshold_count > CSI_CSTORE_MAX_THRESHOLDS || cfg->hysteresis_pct > 100 ||
        (cfg->policy != CSI_CSTORE_DROP_OLDEST && cfg->policy != CSI_CSTORE_WAIT)) {
        return CS_E_INVAL;
    }
    for (i = 0; i < cfg->threshold_count; i++) {
        if (cfg->thresholds_pct[i] == 0 || cfg->thresholds_pct[i] > 100 ||
            (i > 0 && cfg->thresholds_pct[i] <= cfg->thresholds_pct[i - 1])) {
            return CS_E_INVAL;
        }
    }
    st = csi_cstore_footprint(cfg->capacity, &total, &n);
    if (st != CS_OK) {
        return st;
    }
    a = cfg->allocator != NULL ? cfg->allocator : cs_allocator_default();
    block = cs_alloc(a, total);
    if (block == NULL) {
        st = CS_E_NOMEM;
        goto out;
    }
    s = (csi_cstore *)(void *)block;
    memset(s, 0, sizeof(*s));
    s->cfg = *cfg;
    s->alloc = a;
    s->cap = cfg->capacity;
    s->n_idx = n;
    s->footprint = total;
    s->idx = (struct cstore_entry *)(void *)(block + ALIGN16(sizeof(*s)));
    s->ring = block + ALIGN16(sizeof(*s)) + ALIGN16(n * sizeof(struct cstore_entry));
    s->need_frag_start = true;
    st = cs_mutex_init(&s->lock);
    if (st != CS_OK) {
        goto out;
    }
    have_mutex = true;
    st = cs_cond_init(&s->space);
    if (st != CS_OK) {
        goto out;
    }
    *out = s;
    s = NULL; /* the caller owns it */
    block = NULL;
out:
    if (have_mutex && s != NULL) {
        cs_mutex_destroy(&s->lock);
    }
    if (block != NULL) {
        cs_freep(a, &block);
    }
    return st;
}

void csi_cstore_destroy(csi_cstore **sp)
{
    csi_cstore *s;
    const cs_allocator *a;

    if (sp == NULL || *sp == NULL) {
        return;
    }
    s = *sp;
    a = s->alloc;
    cs_cond_destroy(&s->space);
    cs_mutex_destroy(&s->lock);
    cs_freep(a, &s);
    *sp = NULL;
}

static struct cstore_entry *entry(csi_cstore *s, uint64_t seq)
{
    return &s->idx[seq % s->n_idx];
}

/* End of fragment `seq`: the next one's start, or head for the newest. */
static uint64_t entry_end(csi_cstore *s, uint64_t seq)
{
    if (seq + 1 < s->first_seq + s->count) {
        return entry(s, seq + 1)->start;
    }
    return s->head;
}

/* "sent" at the start of a wrap padding that committed bytes follow means "sent up to them". */
static void skip_padding(csi_cstore *s)
{
    if (s->sent >= s->pad_lo && s->sent < s->pad_hi && s->pad_hi <= s->head) {
        s->sent = s->pad_hi;
    }
}

static void update_pressure(csi_cstore *s)
{
    size_t used = (size_t)(s->head - s->tail);
    uint64_t pct100 = (uint64_t)used * 100u; /* compared against threshold * cap */

    while (s->pressure_level < s->cfg.threshold_count &&
           pct100 >= (uint64_t)s->cfg.thresholds_pct[s->pressure_level] * s->cap) {
        unsigned th = s->cfg.thresholds_pct[s->pressure_level];
        s->pressure_level++;
        if (s->cfg.on_pressure != NULL) {
            s->cfg.on_pressure(s->cfg.cb_ctx, th, true, used, s->cap);
        }
    }
    while (s->pressure_level > 0) {
        unsigned th = s->cfg.thresholds_pct[s->pressure_level - 1];
        unsigned lo = th > s->cfg.hysteresis_pct ? th - s->cfg.hysteresis_pct : 0;
        if (pct100 >= (uint64_t)lo * s->cap) {
            break;
        }
        s->pressure_level--;
        if (s->cfg.on_pressure != NULL) {
            s->cfg.on_pressure(s->cfg.cb_ctx, th, false, used, s->cap);
        }
    }
}

/* Pops the oldest fragment; the caller checked count > 0. The tail never moves back: it may
 * already be past the fragment's end (release_sent). */
static void pop_oldest(csi_cstore *s)
{
    uint64_t end = entry_end(s, s->first_seq);
    if (end > s->tail) {
        s->tail = end;
    }
    s->first_seq++;
    s->count--;
    if (s->sent_seq < s->first_seq) {
        s->sent_seq = s->first_seq;
    }
    if (s->count == 0) {
        s->tail = s->head;
    }
}

static void evict_oldest(csi_cstore *s)
{
    struct cstore_entry *e = entry(s, s->first_seq);
    uint64_t end = entry_end(s, s->first_seq);
    csi_cstore_drop d;

    skip_padding(s);
    d.reason = CSI_CSTORE_DROP_EVICTED;
    d.first_ts_ns = e->first_ts;
    d.last_ts_ns = e->last_ts;
    d.bytes = (size_t)(end - e->start);
    d.frames = e->frames;
    d.was_sent = s->sent > e->start;
    /* Part of it went out, or a stream header the reader still needed vanished: the upload is
     * no longer one valid MKV stream. */
    if ((s->sent > e->start && s->sent < end) || (s->sent <= e->start && e->session != 0) ||
        (s->pinned && s->pin_start < end)) {
        s->discontinuity = true;
    }
    if (s->sent < end) {
        s->sent = end;
    }
    s->n_dropped++;
    s->frames_dropped += e->frames;
    s->bytes_dropped += d.bytes;
    pop_oldest(s);
    if (s->cfg.on_drop != NULL) {
        s->cfg.on_drop(s->cfg.cb_ctx, &d);
    }
}

/* DROP_OLDEST, before any eviction: gives up the bytes already handed to the reader (they are
 * in the connection, on their way to the server), up to the pinned span. Their fragments stay
 * indexed: a PERSISTED ack frees them as usual, and csi_cstore_rewind() drops (and reports) the
 * ones it cannot send again. Returns whether the tail moved. */
static bool release_sent(csi_cstore *s)
{
    uint64_t to;

    skip_padding(s);
    to = s->sent;
    if (s->pinned && s->pin_start < to) {
        to = s->pin_start;
    }
    if (s->count == 0 || to <= s->tail) {
        return false;
    }
    s->tail = to;
    return true;
}

/* Frees complete, fully sent fragments covered by the ack high-water mark. */
static size_t free_acked(csi_cstore *s)
{
    size_t freed = 0;

    skip_padding(s);
    while (s->have_acked && s->count > 0) {
        struct cstore_entry *e = entry(s, s->first_seq);
        if (e->first_ts > s->acked_ts || entry_end(s, s->first_seq) > s->sent) {
            break;
        }
        if (s->count == 1) {
            /* The server ended the fragment being written: what follows needs a new one. */
            s->need_frag_start = true;
        }
        pop_oldest(s);
        s->n_persisted++;
        freed++;
    }
    if (freed > 0) {
        update_pressure(s);
        cs_cond_broadcast(&s->space);
    }
    return freed;
}

static void count_sent(csi_cstore *s)
{
    skip_padding(s);
    while (s->sent_seq + 1 < s->first_seq + s->count && entry_end(s, s->sent_seq) <= s->sent) {
        s->sent_seq++;
        s->n_sent++;
    }
}

/* Where a reservation of len would start, padding to the block start when the tail end of the
 * block is too short. An empty, unpinned store may simply move to the next block start. */
static uint64_t place(csi_cstore *s, size_t len)
{
    size_t phys = (size_t)(s->head % s->cap);

    if (s->cap - phys >= len) {
        return s->head;
    }
    if (s->count == 0 && !s->pinned) {
        s->head += s->cap - phys;
        s->tail = s->sent = s->head;
        return s->head;
    }
    return s->head + (s->cap - phys);
}

/* Room for len bytes at start. */
static bool bytes_fit(const csi_cstore *s, uint64_t start, size_t len)
{
    uint64_t reclaim = s->tail;

    if (s->pinned && s->pin_start < reclaim) {
        reclaim = s->pin_start;
    }
    return start + len - reclaim <= s->cap;
}

/* Room for len bytes at start, and an index entry if the frame starts a fragment. */
static bool fits(const csi_cstore *s, uint64_t start, size_t len, unsigned flags)
{
    return bytes_fit(s, start, len) &&
           ((flags & CSI_CSTORE_FRAGMENT_START) == 0 || s->count < s->n_idx);
}

static cs_status wait_space(csi_cstore *s, uint64_t deadline)
{
    uint64_t now = cs_clock_monotonic_ns(NULL);

    if (now >= deadline) {
        return CS_E_TIMEOUT;
    }
    (void)cs_cond_timedwait(&s->space, &s->lock, deadline - now);
    return CS_OK; /* the caller re-checks */
}

cs_status csi_cstore_reserve(csi_cstore *s, size_t len, unsigned flags, uint64_t ts_ns,
                             uint8_t **region)
{
    cs_status st = CS_OK;
    uint64_t start, deadline;

    if (s == NULL || region == NULL || len == 0) {
        return CS_E_INVAL;
    }
    cs_mutex_lock(&s->lock);
    if (s->res_open || (s->need_frag_start && (flags & CSI_CSTORE_FRAGMENT_START) == 0)) {
        st = CS_E_STATE;
        goto out;
    }
    if (len > s->cap) {
        csi_cstore_drop d = {CSI_CSTORE_DROP_TOO_LARGE, ts_ns, ts_ns, len, 1, false};
        s->frames_dropped++;
        s->bytes_dropped += len;
        if (s->cfg.on_drop != NULL) {
            s->cfg.on_drop(s->cfg.cb_ctx, &d);
        }
        st = CS_E_NOSPACE;
        goto out;
    }
    deadline = cs_clock_monotonic_ns(NULL) + s->cfg.wait_timeout_ns;
    for (;;) {
        start = place(s, len);
        if (fits(s, start, len, flags)) {
            break;
        }
        if (s->cfg.policy == CSI_CSTORE_DROP_OLDEST) {
            bool pin_blocks = s->pinned && s->pin_start < s->tail;
            if (!bytes_fit(s, start, len) && release_sent(s)) {
                update_pressure(s);
                continue;
            }
            /* A frame that starts a fragment may evict the one being written, too. */
            if (!pin_blocks &&
                (s->count >= 2 || (s->count == 1 && (flags & CSI_CSTORE_FRAGMENT_START) != 0))) {
                evict_oldest(s);
                update_pressure(s);
                continue;
            }
            if (s->count == 1 && !pin_blocks) {
                /* Only the fragment being written is left: it cannot be kept whole. */
                evict_oldest(s);
                s->need_frag_start = true;
                update_pressure(s);
                st = CS_E_NOSPACE;
                goto out;
            }
        }
        /* WAIT, or the reader still holds evicted bytes: wait for an ack or a skip. */
        st = wait_space(s, deadline);
        if (st != CS_OK) {
            goto out;
        }
    }
    s->saved_head = s->head;
    s->saved_pad_lo = s->pad_lo;
    s->saved_pad_hi = s->pad_hi;
    if (start != s->head) {
        s->pad_lo = s->head;
        s->pad_hi = start;
    }
    s->res_open = true;
    s->res_start = start;
    s->res_len = len;
    s->res_flags = flags;
    s->res_ts = ts_ns;
    *region = s->ring + (size_t)(start % s->cap);
out:
    cs_mutex_unlock(&s->lock);
    return st;
}

cs_status csi_cstore_commit(csi_cstore *s, size_t len)
{
    cs_status st = CS_OK;
    unsigned flags;
    uint64_t ts_ns;

    if (s == NULL) {
        return CS_E_INVAL;
    }
    cs_mutex_lock(&s->lock);
    if (!s->res_open) {
        st = CS_E_STATE;
        goto out;
    }
    if (len > s->res_len) {
        st = CS_E_INVAL;
        goto out;
    }
    s->res_open = false;
    flags = s->res_flags;
    ts_ns = s->res_ts;
    if (len == 0 || (s->need_frag_start && (flags & CSI_CSTORE_FRAGMENT_START) == 0)) {
        s->pad_lo = s->saved_pad_lo;
        s->pad_hi = s->saved_pad_hi;
        st = len == 0 ? CS_OK : CS_E_STATE;
        goto out;
    }
    if ((flags & CSI_CSTORE_FRAGMENT_START) != 0) {
        struct cstore_entry *e = entry(s, s->first_seq + s->count);
        e->start = s->res_start;
        e->first_ts = ts_ns;
        e->last_ts = ts_ns;
        e->frames = 1;
        e->session = (flags & CSI_CSTORE_SESSION_START) != 0;
        if (s->count == 0) {
            s->sent_seq = s->first_seq;
        }
        s->count++;
        s->need_frag_start = false;
    } else {
        struct cstore_entry *e = entry(s, s->first_seq + s->count - 1);
        if (ts_ns > e->last_ts) {
            e->last_ts = ts_ns;
        }
        e->frames++;
    }
    s->head = s->res_start + len;
    if ((flags & CSI_CSTORE_FRAGMENT_START) != 0) {
        count_sent(s);
        (void)free_acked(s);
    }
    update_pressure(s);
out:
    cs_mutex_unlock(&s->lock);
    return st;
}

cs_status csi_cstore_peek(csi_cstore *s, csi_cstore_span *span)
{
    uint64_t pos, end, boundary;

    if (s == NULL || span == NULL) {
        return CS_E_INVAL;
    }
    cs_mutex_lock(&s->lock);
    skip_padding(s);
    pos = s->sent;
    span->discontinuity = s->discontinuity;
    span->data = NULL;
    span->len = 0;
    s->pinned = false;
    if (pos < s->head) {
        end = s->head;
        if (s->pad_lo > pos && s->pad_lo < end) {
            end = s->pad_lo;
        }
        boundary = pos - pos % s->cap + s->cap;
        if (boundary < end) {
            end = boundary;
        }
        span->data = s->ring + (size_t)(pos % s->cap);
        span->len = (size_t)(end - pos);
        s->pinned = true;
        s->pin_start = pos;
        s->pin_len = span->len;
    }
    cs_mutex_unlock(&s->lock);
    return CS_OK;
}

cs_status csi_cstore_skip(csi_cstore *s, size_t n)
{
    cs_status st = CS_OK;

    if (s == NULL) {
        return CS_E_INVAL;
    }
    cs_mutex_lock(&s->lock);
    if (n > (s->pinned ? s->pin_len : 0)) {
        st = CS_E_INVAL;
        goto out;
    }
    if (s->pinned && s->pin_start + n > s->sent) {
        s->sent = s->pin_start + n; /* an eviction may have moved "sent" further already */
    }
    s->pinned = false;
    count_sent(s);
    (void)free_acked(s);
    cs_cond_broadcast(&s->space);
out:
    cs_mutex_unlock(&s->lock);
    return st;
}

cs_status csi_cstore_ack_persisted(csi_cstore *s, uint64_t ts_ns, size_t *freed)
{
    size_t n;

    if (s == NULL) {
        return CS_E_INVAL;
    }
    cs_mutex_lock(&s->lock);
    if (!s->have_acked || ts_ns > s->acked_ts) {
        s->acked_ts = ts_ns;
        s->have_acked = true;
    }
    n = free_acked(s);
    cs_mutex_unlock(&s->lock);
    if (freed != NULL) {
        *freed = n;
    }
    return CS_OK;
}

cs_status csi_cstore_rewind(csi_cstore *s, bool *needs_header)
{
    bool nh = true;

    if (s == NULL) {
        return CS_E_INVAL;
    }
    cs_mutex_lock(&s->lock);
    /* Fragments whose sent bytes were given up cannot be sent again: dropped now, oldest first
     * (they reached the server only if the old connection delivered them). */
    while (s->count > 0 && entry(s, s->first_seq)->start < s->tail) {
        if (s->count == 1) {
            s->need_frag_start = true; /* it was the fragment being written */
        }
        evict_oldest(s);
        update_pressure(s);
    }
    if (s->count > 0) {
        struct cstore_entry *e = entry(s, s->first_seq);
        s->sent = e->start;
        nh = e->session == 0;
    } else {
        s->sent = s->head;
    }
    s->sent_seq = s->first_seq;
    s->pinned = false;
    s->discontinuity = false;
    cs_cond_broadcast(&s->space);
    cs_mutex_unlock(&s->lock);
    if (needs_header != NULL) {
        *needs_header = nh;
    }
    return CS_OK;
}

void csi_cstore_get_metrics(csi_cstore *s, csi_cstore_metrics *m)
{
    memset(m, 0, sizeof(*m));
    if (s == NULL) {
        return;
    }
    cs_mutex_lock(&s->lock);
    m->capacity = s->cap;
    m->bytes_used = (size_t)(s->head - s->tail);
    m->bytes_unsent = (size_t)(s->head - s->sent);
    m->fill_pct = (unsigned)((uint64_t)m->bytes_used * 100u / s->cap);
    if (s->count > 0) {
        m->oldest_ts_ns = entry(s, s->first_seq)->first_ts;
        m->newest_ts_ns = entry(s, s->first_seq + s->count - 1)->last_ts;
    }
    m->fragments_stored = s->count;
    m->fragments_sent = s->n_sent;
    m->fragments_persisted = s->n_persisted;
    m->fragments_dropped = s->n_dropped;
    m->frames_dropped = s->frames_dropped;
    m->bytes_dropped = s->bytes_dropped;
    m->index_entries = s->n_idx;
    m->footprint_bytes = s->footprint;
    cs_mutex_unlock(&s->lock);
}
