/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target of the PutMedia ingest core (ingest-server/media/). Input: byte 0 = chunk size
 * (0 = all at once), byte 1 = options (bit 0: RELATIVE timecodes, bit 1: tight limits), then the
 * upload body. Checks the core's promises: fragment_data spans are non-empty and only arrive
 * between fragment_begin and fragment_end/error, a fragment's size is the sum of its spans,
 * sessions begin before their fragments, and a fatal error is reported once and then sticks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

typedef struct track_state {
    bool in_session;
    bool open;
    bool fatal;
    uint64_t bytes;
} track_state;

static cs_status on_session(void *ctx, const cs_media_session *s)
{
    track_state *t = ctx;
    check(!t->open && s->header != NULL && s->track_count > 0);
    t->in_session = true;
    return CS_OK;
}

static cs_status on_begin(void *ctx, const cs_media_fragment *f)
{
    track_state *t = ctx;
    check(t->in_session && !t->open && f->size == 0);
    t->open = true;
    t->bytes = 0;
    return CS_OK;
}

static cs_status on_data(void *ctx, const cs_media_fragment *f, const uint8_t *p, size_t n)
{
    track_state *t = ctx;
    check(t->open && n > 0 && p != NULL && f->size == t->bytes);
    t->bytes += n;
    return CS_OK;
}

static cs_status on_end(void *ctx, const cs_media_fragment *f)
{
    track_state *t = ctx;
    check(t->open && f->size == t->bytes);
    t->open = false;
    return CS_OK;
}

static cs_status on_error(void *ctx, const cs_media_error *e)
{
    track_state *t = ctx;
    check(!t->fatal && e->message != NULL && e->error_id >= 4000 && e->error_id < 5000);
    check(e->begun == t->open);
    t->open = false;
    t->fatal = e->fatal;
    return CS_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_media_config cfg;
    cs_media_sink sink = {0};
    cs_media *m = NULL;
    track_state t = {0};
    size_t chunk, off;
    cs_status st = CS_OK;

    if (size < 2) {
        return 0;
    }
    chunk = data[0] == 0 ? size : data[0];
    cs_media_config_init(&cfg);
    if (data[1] & 1u) {
        cfg.timecode_type = CS_MEDIA_TIMECODE_RELATIVE;
        cfg.has_producer_start = true;
        cfg.producer_start_ms = 1700000000000ull;
    }
    if (data[1] & 2u) {
        cfg.max_fragment_bytes = 2000;
        cfg.max_fragment_duration_ms = 100;
        cfg.max_tracks = 1;
        cfg.max_header_bytes = 512;
    }
    sink.ctx = &t;
    sink.session_begin = on_session;
    sink.fragment_begin = on_begin;
    sink.fragment_data = on_data;
    sink.fragment_end = on_end;
    sink.error = on_error;
    check(cs_media_create(&cfg, &sink, &m) == CS_OK);
    for (off = 2; off < size && st == CS_OK; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        st = cs_media_feed(m, data + off, n);
        check(st == CS_OK || st == CS_E_MALFORMED);
        check((st == CS_E_MALFORMED) == t.fatal);
    }
    if (st == CS_OK) {
        st = cs_media_finish(m);
        check((st == CS_E_MALFORMED) == t.fatal);
        check(st != CS_OK || !t.open);
    } else {
        check(cs_media_feed(m, data, 1) == st);
    }
    cs_media_destroy(&m);
    check(m == NULL);
    return 0;
}
