/* SPDX-License-Identifier: Apache-2.0 */
/* The recording sink of the media tests (see recorder.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recorder.h"

static void grow(void **p, size_t *cap, size_t need)
{
    if (need <= *cap) {
        return;
    }
    size_t n = *cap ? *cap : 4096;
    while (n < need) {
        n *= 2;
    }
    *p = realloc(*p, n);
    assert_non_null(*p);
    *cap = n;
}

static void logf_(rec *r, const char *fmt, ...) CS_PRINTF(2, 3);
static void logf_(rec *r, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(line));
    grow((void **)&r->log, &r->log_cap, r->log_len + (size_t)n + 1);
    memcpy(r->log + r->log_len, line, (size_t)n + 1);
    r->log_len += (size_t)n;
}

static cs_status step(rec *r)
{
    r->calls++;
    return r->fail_at != 0 && r->calls == r->fail_at ? r->fail_status : CS_OK;
}

rec_frag *rec_find(rec *r, uint64_t index)
{
    for (size_t i = 0; i < r->nfrags; i++) {
        if (r->frags[i].index == index) {
            return &r->frags[i];
        }
    }
    return NULL;
}

static cs_status on_session(void *ctx, const cs_media_session *s)
{
    rec *r = ctx;
    logf_(r, "S %llu off=%llu hdr=%zu scale=%llu tracks=%zu\n", (unsigned long long)s->index,
          (unsigned long long)s->offset, s->header_len, (unsigned long long)s->timecode_scale,
          s->track_count);
    grow((void **)&r->headers, &r->headers_cap, r->headers_len + s->header_len);
    memcpy(r->headers + r->headers_len, s->header, s->header_len);
    r->cur_header_start = r->headers_len;
    r->cur_header_len = s->header_len;
    r->headers_len += s->header_len;
    r->sessions++;
    return step(r);
}

static cs_status on_begin(void *ctx, const cs_media_fragment *f)
{
    rec *r = ctx;
    rec_frag *rf;
    assert_true(r->nfrags < REC_MAX_FRAGS);
    rf = &r->frags[r->nfrags++];
    memset(rf, 0, sizeof(*rf));
    rf->index = f->index;
    rf->data_start = r->data_len;
    rf->header_start = r->cur_header_start;
    rf->header_len = r->cur_header_len;
    if (f->tag_count > 0) {
        snprintf(rf->tag0, sizeof(rf->tag0), "%.*s=%.*s", (int)f->tags[0].name_len, f->tags[0].name,
                 (int)f->tags[0].value_len, f->tags[0].value);
    }
    logf_(r, "B %llu s=%llu off=%llu tc=%llu ts=%llu tags=%zu %s\n", (unsigned long long)f->index,
          (unsigned long long)f->session, (unsigned long long)f->offset,
          (unsigned long long)f->timecode_ms, (unsigned long long)f->producer_timestamp_ms,
          f->tag_count, rf->tag0);
    return step(r);
}

static cs_status on_data(void *ctx, const cs_media_fragment *f, const uint8_t *p, size_t n)
{
    rec *r = ctx;
    rec_frag *rf = &r->frags[r->nfrags - 1];
    assert_true(r->nfrags > 0 && rf->index == f->index && n > 0);
    assert_int_equal(f->size, rf->data_len);
    grow((void **)&r->data, &r->data_cap, r->data_len + n);
    memcpy(r->data + r->data_len, p, n);
    r->data_len += n;
    rf->data_len += n;
    return step(r);
}

static cs_status on_end(void *ctx, const cs_media_fragment *f)
{
    rec *r = ctx;
    rec_frag *rf = &r->frags[r->nfrags - 1];
    assert_true(r->nfrags > 0 && rf->index == f->index);
    assert_int_equal(f->size, rf->data_len);
    rf->complete = true;
    rf->final = *f;
    rf->final.tags = NULL;
    logf_(r, "E %llu size=%llu crc=%08x dur=%llu frames=%llu key=%d\n",
          (unsigned long long)f->index, (unsigned long long)f->size, f->crc32c,
          (unsigned long long)f->duration_ms, (unsigned long long)f->frame_count, f->first_key);
    return step(r);
}

static cs_status on_error(void *ctx, const cs_media_error *e)
{
    rec *r = ctx;
    logf_(r, "X %u fatal=%d begun=%d frag=%lld tc=%llu: %s\n", e->error_id, e->fatal, e->begun,
          e->fragment ? (long long)e->fragment->index : -1LL,
          e->fragment ? (unsigned long long)e->fragment->timecode_ms : 0ull, e->message);
    if (r->nerrors < 64) {
        r->errors[r->nerrors] = e->error_id;
        r->fatal[r->nerrors] = e->fatal;
        r->begun[r->nerrors] = e->begun;
        r->nerrors++;
    }
    return step(r);
}

void rec_init(rec *r)
{
    memset(r, 0, sizeof(*r));
}

void rec_free(rec *r)
{
    free(r->log);
    free(r->data);
    free(r->headers);
    memset(r, 0, sizeof(*r));
}

void rec_sink(rec *r, cs_media_sink *sink)
{
    memset(sink, 0, sizeof(*sink));
    sink->ctx = r;
    sink->session_begin = on_session;
    sink->fragment_begin = on_begin;
    sink->fragment_data = on_data;
    sink->fragment_end = on_end;
    sink->error = on_error;
}

cs_status rec_run(rec *r, const cs_media_config *cfg, const uint8_t *p, size_t len, size_t chunk)
{
    cs_media_sink sink;
    cs_media *m = NULL;
    cs_status st = CS_OK;

    rec_sink(r, &sink);
    assert_int_equal(cs_media_create(cfg, &sink, &m), CS_OK);
    if (chunk == 0) {
        chunk = len > 0 ? len : 1;
    }
    for (size_t off = 0; off < len && st == CS_OK; off += chunk) {
        st = cs_media_feed(m, p + off, len - off < chunk ? len - off : chunk);
    }
    if (st == CS_OK) {
        st = cs_media_finish(m);
    }
    logf_(r, "END %s\n", cs_status_str(st));
    cs_media_destroy(&m);
    assert_null(m);
    return st;
}
