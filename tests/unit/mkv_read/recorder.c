/* SPDX-License-Identifier: Apache-2.0 */
/* Records reader events as lines of text (see recorder.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "recorder.h"

uint64_t rec_fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 0x100000001b3ull;
    }
    return h;
}

static void add_line(rec *r, const char *fmt, ...) CS_PRINTF(2, 3);

static void add_line(rec *r, const char *fmt, ...)
{
    va_list ap;

    if (!r->keep_lines || r->n_lines == REC_MAX_LINES) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(r->lines[r->n_lines++], REC_LINE, fmt, ap);
    va_end(ap);
}

static void hex(char *out, size_t cap, const uint8_t *p, size_t n)
{
    size_t o = 0;

    out[0] = '\0';
    for (size_t i = 0; i < n && o + 3 < cap; i++) {
        o += (size_t)snprintf(out + o, cap - o, "%02x", p[i]);
    }
}

static void frame_done(rec *r)
{
    char h[140];

    hex(h, sizeof(h), r->frame,
        r->frame_have < sizeof(r->frame) ? (size_t)r->frame_have : sizeof(r->frame));
    add_line(r, "%s %s", r->frame_line, h);
}

static void on_event(rec *r, const cs_mkv_event *e)
{
    const cs_mkv_block_info *b = &e->u.block;

    switch (e->type) {
    case CS_MKV_EV_EBML_HEADER:
        add_line(r, "EBML_HEADER %" PRIu64 "-%" PRIu64 " %.*s v%" PRIu64 "/%" PRIu64, e->offset,
                 e->end, (int)e->u.ebml.doctype_len, e->u.ebml.doctype, e->u.ebml.doctype_version,
                 e->u.ebml.doctype_read_version);
        break;
    case CS_MKV_EV_SEGMENT_START:
        if (e->size == CS_MKV_SIZE_UNKNOWN) {
            add_line(r, "SEGMENT_START %" PRIu64 " data=%" PRIu64 " size=unknown", e->offset,
                     e->data_offset);
        } else {
            add_line(r, "SEGMENT_START %" PRIu64 " data=%" PRIu64 " size=%" PRIu64, e->offset,
                     e->data_offset, e->size);
        }
        r->n_tracks = 0;
        break;
    case CS_MKV_EV_INFO:
        add_line(r, "INFO %" PRIu64 "-%" PRIu64 " scale=%" PRIu64 " mux=%.*s app=%.*s", e->offset,
                 e->end, e->u.info.timecode_scale, (int)e->u.info.muxing_app_len,
                 e->u.info.muxing_app ? e->u.info.muxing_app : "", (int)e->u.info.writing_app_len,
                 e->u.info.writing_app ? e->u.info.writing_app : "");
        break;
    case CS_MKV_EV_TRACK: {
        const cs_mkv_track_info *t = &e->u.track.info;
        char h[64];
        hex(h, sizeof(h), t->codec_private, t->codec_private_len);
        add_line(r,
                 "TRACK %" PRIu64 " #%u n=%" PRIu64 " type=%d codec=%.*s (%d) priv=%s %ux%u "
                 "sr=%.0f ch=%u",
                 e->offset, e->u.track.index, t->number, (int)t->type, (int)t->codec_id_len,
                 t->codec_id ? t->codec_id : "", (int)t->codec, h, t->width, t->height,
                 t->sampling_frequency, t->channels);
        if (r->n_tracks < 16) {
            r->track_default_duration_ns[r->n_tracks] = t->default_duration_ns;
            r->track_types[r->n_tracks] = (int)t->type;
            r->track_numbers[r->n_tracks++] = t->number;
        }
        break;
    }
    case CS_MKV_EV_CLUSTER_START:
        add_line(r, "CLUSTER_START %" PRIu64 " tc=%" PRIu64 " ns=%" PRId64, e->offset,
                 e->u.cluster.timecode, e->u.cluster.timestamp_ns);
        break;
    case CS_MKV_EV_BLOCK:
        add_line(r,
                 "BLOCK %" PRIX32 " %" PRIu64 " track=%" PRIu64 " tc=%" PRId64 " ns=%" PRId64
                 " key=%d/%d inv=%d disc=%d lacing=%d frames=%u payload=%" PRIu64 "+%" PRIu64,
                 e->id, e->offset, b->track, b->timecode, b->timestamp_ns, b->key, b->key_final,
                 b->invisible, b->discardable, (int)b->lacing, b->frame_count, b->payload_offset,
                 b->payload_size);
        r->block_first_frame = r->n_frames;
        break;
    case CS_MKV_EV_FRAME:
        snprintf(r->frame_line, sizeof(r->frame_line),
                 "FRAME %u/%u track=%" PRIu64 " tc=%" PRId64 " at=%" PRIu64 " size=%" PRIu64,
                 b->frame_index, b->frame_count, b->track, b->timecode, b->frame_offset,
                 b->frame_size);
        r->frame_have = 0;
        r->frame_size = b->frame_size;
        if (b->data_len > 0) {
            size_t n = b->data_len;
            memcpy(r->frame, b->data, n < sizeof(r->frame) ? n : sizeof(r->frame));
            r->frame_have = n;
        }
        if (r->frames != NULL && r->n_frames < r->cap_frames) {
            rec_frame *f = &r->frames[r->n_frames];
            memset(f, 0, sizeof(*f));
            f->track = b->track;
            f->timecode = b->timecode;
            f->key = b->key;
            f->size = b->frame_size;
            f->block_data_offset = e->data_offset;
            f->frame_index = b->frame_index;
            f->frame_count = b->frame_count;
            f->frame_offset = b->frame_offset;
            f->hash = rec_fnv(REC_FNV_INIT, b->data, b->data_len);
        }
        r->n_frames++;
        if (r->frame_have == r->frame_size || r->no_data) {
            frame_done(r);
        }
        break;
    case CS_MKV_EV_FRAME_DATA:
        r->n_data_events++;
        if (b->data_pos != r->frame_have) {
            add_line(r, "BAD data_pos %" PRIu64 " != %" PRIu64, b->data_pos, r->frame_have);
        }
        for (size_t i = 0; i < b->data_len; i++) {
            if (r->frame_have + i < sizeof(r->frame)) {
                r->frame[r->frame_have + i] = b->data[i];
            }
        }
        r->frame_have += b->data_len;
        if (r->frames != NULL && r->n_frames > 0 && r->n_frames <= r->cap_frames) {
            rec_frame *f = &r->frames[r->n_frames - 1];
            f->hash = rec_fnv(f->hash, b->data, b->data_len);
        }
        if (r->frame_have == r->frame_size) {
            frame_done(r);
        }
        break;
    case CS_MKV_EV_BLOCK_END:
        add_line(r, "BLOCK_END %" PRIX32 " %" PRIu64 " key=%d/%d dur=%d:%" PRIu64 " refs=%u", e->id,
                 e->offset, b->key, b->key_final, b->has_duration, b->duration, b->reference_count);
        if (r->frames != NULL) {
            for (size_t i = r->block_first_frame; i < r->n_frames && i < r->cap_frames; i++) {
                r->frames[i].key = b->key;
                r->frames[i].duration = b->has_duration ? b->duration : 0;
            }
        }
        break;
    case CS_MKV_EV_TAG:
        add_line(r, "TAG %" PRIu64 " %.*s=%.*s%s tags=%" PRIu64 " tag=%" PRIu64 "#%u st=%u nest=%u",
                 e->offset, (int)e->u.tag.name_len, e->u.tag.name ? e->u.tag.name : "",
                 (int)e->u.tag.value_len, e->u.tag.value ? e->u.tag.value : "",
                 e->u.tag.binary ? " (binary)" : "", e->u.tag.tags_offset, e->u.tag.tag_offset,
                 e->u.tag.tag_index, e->u.tag.simple_tag_index, e->u.tag.nesting);
        break;
    case CS_MKV_EV_ELEMENT_END:
        add_line(r, "END %" PRIX32 " %" PRIu64 "-%" PRIu64 " depth=%u", e->id, e->offset, e->end,
                 e->depth);
        break;
    case CS_MKV_EV_SKIPPED:
        add_line(r, "SKIPPED %" PRIX32 " %" PRIu64 "+%" PRIu64 " depth=%u", e->id, e->offset,
                 e->size, e->depth);
        break;
    default:
        add_line(r, "UNEXPECTED %d", (int)e->type);
        break;
    }
}

void rec_init(rec *r, rec_frame *frames, size_t cap, bool keep_lines)
{
    memset(r, 0, sizeof(*r));
    r->frames = frames;
    r->cap_frames = cap;
    r->keep_lines = keep_lines;
}

static cs_status finish(rec *r, cs_mkv_reader *rd, cs_status st)
{
    const char *msg = cs_mkv_reader_error(rd, &r->error_offset);

    snprintf(r->error, sizeof(r->error), "%s", msg);
    r->status = st;
    if (st != CS_OK) {
        add_line(r, "ERROR %s at %" PRIu64 ": %s", cs_status_str(st), r->error_offset, msg);
    }
    return st;
}

cs_status rec_run(rec *r, const cs_mkv_reader_config *cfg, const uint8_t *data, size_t len,
                  size_t chunk)
{
    static cs_mkv_reader rd; /* ~19 KiB: kept off the test's stack */
    cs_mkv_event ev;
    cs_status st;

    r->no_data = cfg != NULL && !cfg->frame_data;
    st = cs_mkv_reader_init(&rd, cfg);
    if (st != CS_OK) {
        return finish(r, &rd, st);
    }
    if (chunk == 0) {
        chunk = len > 0 ? len : 1;
    }
    for (size_t off = 0; off < len;) {
        size_t n = len - off < chunk ? len - off : chunk;
        size_t pos = 0;
        for (;;) {
            size_t used = 0;
            st = cs_mkv_reader_next(&rd, data + off + pos, n - pos, &used, &ev);
            if (st != CS_OK) {
                return finish(r, &rd, st);
            }
            pos += used;
            if (ev.type == CS_MKV_EV_NONE) {
                break;
            }
            on_event(r, &ev);
        }
        if (pos != n) {
            add_line(r, "BAD consumed %zu of %zu", pos, n);
        }
        off += n;
    }
    for (;;) {
        st = cs_mkv_reader_end(&rd, &ev);
        if (st != CS_OK) {
            return finish(r, &rd, st);
        }
        if (ev.type == CS_MKV_EV_NONE) {
            break;
        }
        on_event(r, &ev);
    }
    if (cs_mkv_reader_offset(&rd) != len) {
        add_line(r, "BAD offset %" PRIu64 " != %zu", cs_mkv_reader_offset(&rd), len);
    }
    return finish(r, &rd, CS_OK);
}
