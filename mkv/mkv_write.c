/* SPDX-License-Identifier: Apache-2.0 */
/* The Matroska elements a KVS producer writes (EBML header, live Segment, Info, Tracks, live
 * Clusters, SimpleBlocks, fragment Tags) on top of the EBML writer, and the fragmenter that
 * decides where clusters start. Every function writes through a cs_mkv_writer, so a NULL
 * destination sizes exactly what a real destination receives. See docs/internals/MKV.md. */
#include <string.h>

#include "camstream/mkv.h"
#include "write_int.h"

#define NS_PER_TICK ((uint64_t)CS_MKV_TIMECODE_SCALE_NS)

/* ---------------------------------------------------------------------------------------------- */
/* Header elements                                                                                */
/* ---------------------------------------------------------------------------------------------- */

static void ebml_header_body(cs_mkv_writer *w, const void *ctx)
{
    (void)ctx;
    cs_mkv_put_uint(w, CS_EBML_ID_VERSION, 1);
    cs_mkv_put_uint(w, CS_EBML_ID_READ_VERSION, 1);
    cs_mkv_put_uint(w, CS_EBML_ID_MAX_ID_LENGTH, 4);
    cs_mkv_put_uint(w, CS_EBML_ID_MAX_SIZE_LENGTH, 8);
    cs_mkv_put_string(w, CS_EBML_ID_DOCTYPE, "matroska", 8);
    /* 2 is the first DocTypeVersion with SimpleBlock; KVS producers write 2/2 as well. */
    cs_mkv_put_uint(w, CS_EBML_ID_DOCTYPE_VERSION, 2);
    cs_mkv_put_uint(w, CS_EBML_ID_DOCTYPE_READ_VERSION, 2);
}

void cs_mkv_put_ebml_header(cs_mkv_writer *w)
{
    cs_mkv_put_master(w, CS_EBML_ID_HEADER, ebml_header_body, NULL);
}

void cs_mkv_put_segment_start(cs_mkv_writer *w)
{
    cs_mkv_put_master_unknown(w, CS_MKV_ID_SEGMENT);
}

static void info_body(cs_mkv_writer *w, const void *ctx)
{
    static const char prefix[] = "camstream ";
    const char *version = cs_version();
    char app[64];
    size_t plen = sizeof(prefix) - 1;
    size_t vlen = strlen(version);

    if (vlen > sizeof(app) - plen) {
        vlen = sizeof(app) - plen;
    }
    memcpy(app, prefix, plen);
    memcpy(app + plen, version, vlen);
    cs_mkv_put_binary(w, CS_MKV_ID_SEGMENT_UID, ctx, CS_MKV_SEGMENT_UID_LEN);
    cs_mkv_put_uint(w, CS_MKV_ID_TIMECODE_SCALE, CS_MKV_TIMECODE_SCALE_NS);
    cs_mkv_put_string(w, CS_MKV_ID_MUXING_APP, app, plen + vlen);
    cs_mkv_put_string(w, CS_MKV_ID_WRITING_APP, app, plen + vlen);
}

void cs_mkv_put_info(cs_mkv_writer *w, const uint8_t *segment_uid)
{
    if (segment_uid == NULL) {
        cs_mkv_writer_fail(w, CS_E_INVAL);
        return;
    }
    cs_mkv_put_master(w, CS_MKV_ID_INFO, info_body, segment_uid);
}

/* ---------------------------------------------------------------------------------------------- */
/* Tracks                                                                                         */
/* ---------------------------------------------------------------------------------------------- */

/* A track as it will be written: validated, with CodecID, CodecPrivate and size resolved. */
struct track_out {
    const cs_mkv_track_info *t;
    const char *codec_id;
    size_t codec_id_len;
    const uint8_t *priv;
    size_t priv_len;
    uint32_t width;
    uint32_t height;
    uint8_t wfx[CS_MKV_WAVEFORMATEX_LEN];
};

cs_status cs_mkv_waveformatex(uint8_t *out, cs_mkv_codec codec, uint32_t rate, uint32_t channels)
{
    uint16_t tag;
    uint32_t avg;

    if (out == NULL || channels == 0 || channels > 0xFFFFu || rate == 0 ||
        rate > UINT32_MAX / channels) {
        return CS_E_INVAL;
    }
    if (codec == CS_MKV_CODEC_ID_ALAW) {
        tag = 6; /* WAVE_FORMAT_ALAW */
    } else if (codec == CS_MKV_CODEC_ID_MULAW) {
        tag = 7; /* WAVE_FORMAT_MULAW */
    } else {
        return CS_E_INVAL;
    }
    avg = rate * channels; /* one byte per sample */
    out[0] = (uint8_t)tag; /* wFormatTag */
    out[1] = (uint8_t)(tag >> 8);
    out[2] = (uint8_t)channels; /* nChannels */
    out[3] = (uint8_t)(channels >> 8);
    for (int i = 0; i < 4; i++) {
        out[4 + i] = (uint8_t)(rate >> (8 * i)); /* nSamplesPerSec */
        out[8 + i] = (uint8_t)(avg >> (8 * i));  /* nAvgBytesPerSec */
    }
    out[12] = (uint8_t)channels; /* nBlockAlign: one byte per channel */
    out[13] = (uint8_t)(channels >> 8);
    out[14] = 8; /* wBitsPerSample */
    out[15] = 0;
    out[16] = 0; /* cbSize: no extra bytes */
    out[17] = 0;
    return CS_OK;
}

/* Width and height (after cropping) from the first SPS inside an avcC/hvcC. */
static cs_status dims_from_sps(const cs_mkv_track_info *t, uint32_t *width, uint32_t *height)
{
    cs_nal_config nc;
    cs_status st;

    if (t->codec == CS_MKV_CODEC_ID_H264) {
        cs_h264_sps sps;
        st = cs_nal_avcc_parse(t->codec_private, t->codec_private_len, &nc);
        if (st == CS_OK && nc.ps.sps != NULL) {
            st = cs_h264_sps_parse(nc.ps.sps, nc.ps.sps_len, &sps);
        }
        if (st != CS_OK || nc.ps.sps == NULL) {
            return CS_E_MALFORMED;
        }
        *width = sps.width;
        *height = sps.height;
    } else {
        cs_h265_sps sps;
        st = cs_nal_hvcc_parse(t->codec_private, t->codec_private_len, &nc);
        if (st == CS_OK && nc.ps.sps != NULL) {
            st = cs_h265_sps_parse(nc.ps.sps, nc.ps.sps_len, &sps);
        }
        if (st != CS_OK || nc.ps.sps == NULL) {
            return CS_E_MALFORMED;
        }
        *width = sps.width;
        *height = sps.height;
    }
    return CS_OK;
}

static cs_status resolve_track(const cs_mkv_track_info *t, struct track_out *o)
{
    memset(o, 0, sizeof(*o));
    o->t = t;
    o->priv = t->codec_private;
    o->priv_len = t->codec_private_len;
    o->width = t->width;
    o->height = t->height;
    if (t->number == 0 || t->number > CS_MKV_MAX_ELEMENT_SIZE) {
        return CS_E_INVAL;
    }
    if ((t->codec_private == NULL && t->codec_private_len != 0) ||
        (t->name == NULL && t->name_len != 0)) {
        return CS_E_INVAL;
    }
    switch (t->codec) {
    case CS_MKV_CODEC_ID_H264:
    case CS_MKV_CODEC_ID_H265:
        if (t->type != CS_MKV_TRACK_VIDEO || o->priv_len == 0) {
            return CS_E_INVAL;
        }
        o->codec_id = t->codec == CS_MKV_CODEC_ID_H264 ? CS_MKV_CODEC_H264 : CS_MKV_CODEC_H265;
        if (o->width == 0 || o->height == 0) {
            cs_status st = dims_from_sps(t, &o->width, &o->height);
            if (st != CS_OK) {
                return st;
            }
        }
        break;
    case CS_MKV_CODEC_ID_AAC:
        if (t->type != CS_MKV_TRACK_AUDIO || o->priv_len == 0) {
            return CS_E_INVAL;
        }
        o->codec_id = CS_MKV_CODEC_AAC;
        break;
    case CS_MKV_CODEC_ID_ALAW:
    case CS_MKV_CODEC_ID_MULAW:
        if (t->type != CS_MKV_TRACK_AUDIO) {
            return CS_E_INVAL;
        }
        o->codec_id = CS_MKV_CODEC_ACM;
        if (o->priv == NULL) {
            double rate = t->sampling_frequency;
            if (!(rate >= 1.0 && rate <= (double)UINT32_MAX) ||
                cs_mkv_waveformatex(o->wfx, t->codec, (uint32_t)rate, t->channels) != CS_OK) {
                return CS_E_INVAL;
            }
            o->priv = o->wfx;
            o->priv_len = sizeof(o->wfx);
        }
        break;
    case CS_MKV_CODEC_ID_PCM:
        if (t->type != CS_MKV_TRACK_AUDIO ||
            (t->bit_depth != 8 && t->bit_depth != 16 && t->bit_depth != 24 && t->bit_depth != 32)) {
            return CS_E_INVAL;
        }
        o->codec_id = CS_MKV_CODEC_PCM;
        break;
    case CS_MKV_CODEC_UNKNOWN:
    default:
        if (t->codec != CS_MKV_CODEC_UNKNOWN || t->codec_id == NULL || t->codec_id_len == 0) {
            return CS_E_INVAL;
        }
        o->codec_id = t->codec_id;
        o->codec_id_len = t->codec_id_len;
        break;
    }
    if (o->codec_id_len == 0) {
        o->codec_id_len = strlen(o->codec_id);
    }
    if (t->type == CS_MKV_TRACK_AUDIO && (!(t->sampling_frequency > 0.0) || t->channels == 0)) {
        return CS_E_INVAL;
    }
    if (t->type == CS_MKV_TRACK_VIDEO && t->codec != CS_MKV_CODEC_UNKNOWN &&
        (o->width == 0 || o->height == 0)) {
        return CS_E_INVAL;
    }
    return CS_OK;
}

static void video_body(cs_mkv_writer *w, const void *ctx)
{
    const struct track_out *o = ctx;
    cs_mkv_put_uint(w, CS_MKV_ID_PIXEL_WIDTH, o->width);
    cs_mkv_put_uint(w, CS_MKV_ID_PIXEL_HEIGHT, o->height);
}

static void audio_body(cs_mkv_writer *w, const void *ctx)
{
    const struct track_out *o = ctx;
    cs_mkv_put_float(w, CS_MKV_ID_SAMPLING_FREQUENCY, o->t->sampling_frequency);
    cs_mkv_put_uint(w, CS_MKV_ID_CHANNELS, o->t->channels);
    if (o->t->bit_depth != 0) {
        cs_mkv_put_uint(w, CS_MKV_ID_BIT_DEPTH, o->t->bit_depth);
    }
}

static void track_entry_body(cs_mkv_writer *w, const void *ctx)
{
    const struct track_out *o = ctx;
    const cs_mkv_track_info *t = o->t;

    cs_mkv_put_uint(w, CS_MKV_ID_TRACK_NUMBER, t->number);
    cs_mkv_put_uint(w, CS_MKV_ID_TRACK_UID, t->uid != 0 ? t->uid : t->number);
    cs_mkv_put_uint(w, CS_MKV_ID_TRACK_TYPE, (uint64_t)t->type);
    if (t->name != NULL) {
        cs_mkv_put_string(w, CS_MKV_ID_NAME, t->name, t->name_len);
    }
    cs_mkv_put_string(w, CS_MKV_ID_CODEC_ID, o->codec_id, o->codec_id_len);
    if (o->priv_len != 0) {
        cs_mkv_put_binary(w, CS_MKV_ID_CODEC_PRIVATE, o->priv, o->priv_len);
    }
    if (t->default_duration_ns != 0) {
        cs_mkv_put_uint(w, CS_MKV_ID_DEFAULT_DURATION, t->default_duration_ns);
    }
    if (t->type == CS_MKV_TRACK_VIDEO && (o->width != 0 || o->height != 0)) {
        cs_mkv_put_master(w, CS_MKV_ID_VIDEO, video_body, o);
    } else if (t->type == CS_MKV_TRACK_AUDIO) {
        cs_mkv_put_master(w, CS_MKV_ID_AUDIO, audio_body, o);
    }
}

struct tracks_out {
    struct track_out t[CS_MKV_MAX_TRACKS];
    size_t count;
};

static void tracks_body(cs_mkv_writer *w, const void *ctx)
{
    const struct tracks_out *to = ctx;
    for (size_t i = 0; i < to->count; i++) {
        cs_mkv_put_master(w, CS_MKV_ID_TRACK_ENTRY, track_entry_body, &to->t[i]);
    }
}

static cs_status resolve_tracks(const cs_mkv_track_info *tracks, size_t count,
                                struct tracks_out *to)
{
    if (tracks == NULL || count == 0) {
        return CS_E_INVAL;
    }
    if (count > CS_MKV_MAX_TRACKS) {
        return CS_E_LIMIT;
    }
    to->count = count;
    for (size_t i = 0; i < count; i++) {
        cs_status st = resolve_track(&tracks[i], &to->t[i]);
        if (st != CS_OK) {
            return st;
        }
        for (size_t j = 0; j < i; j++) {
            if (tracks[j].number == tracks[i].number) {
                return CS_E_INVAL;
            }
        }
    }
    return CS_OK;
}

void cs_mkv_put_tracks(cs_mkv_writer *w, const cs_mkv_track_info *tracks, size_t count)
{
    struct tracks_out to;
    cs_status st = resolve_tracks(tracks, count, &to);

    if (st != CS_OK) {
        cs_mkv_writer_fail(w, st);
        return;
    }
    cs_mkv_put_master(w, CS_MKV_ID_TRACKS, tracks_body, &to);
}

/* ---------------------------------------------------------------------------------------------- */
/* Clusters and blocks                                                                            */
/* ---------------------------------------------------------------------------------------------- */

void cs_mkv_put_cluster_start(cs_mkv_writer *w, uint64_t timecode)
{
    cs_mkv_put_master_unknown(w, CS_MKV_ID_CLUSTER);
    cs_mkv_put_uint(w, CS_MKV_ID_TIMECODE, timecode);
}

size_t cs_mkv_simple_block_len(uint64_t track, size_t payload_len)
{
    size_t tl = cs_mkv_size_len(track);
    size_t data;

    if (track == 0 || tl == 0 || payload_len > SIZE_MAX - tl - 3) {
        return 0;
    }
    data = tl + 3 + payload_len;
    return csi_mkv_element_len(CS_MKV_ID_SIMPLE_BLOCK, data);
}

void cs_mkv_put_simple_block_header(cs_mkv_writer *w, uint64_t track, int16_t relative_timecode,
                                    uint8_t flags, size_t payload_len)
{
    /* ID (1) + size (<= 8) + track (<= 8) + timecode (2) + flags (1) */
    uint8_t b[20];
    uint8_t *p = b;
    size_t tl = cs_mkv_size_len(track);
    size_t data, sl;
    uint16_t tc = (uint16_t)relative_timecode; /* two's complement, written big-endian */

    if (track == 0 ||
        (flags & ~(CS_MKV_BLOCK_KEY | CS_MKV_BLOCK_INVISIBLE | CS_MKV_BLOCK_DISCARDABLE)) != 0) {
        cs_mkv_writer_fail(w, CS_E_INVAL);
        return;
    }
    if (tl == 0 || payload_len > CS_MKV_MAX_ELEMENT_SIZE - tl - 3) {
        cs_mkv_writer_fail(w, CS_E_RANGE);
        return;
    }
    data = tl + 3 + payload_len;
    sl = cs_mkv_size_len(data);
    *p++ = (uint8_t)CS_MKV_ID_SIMPLE_BLOCK;
    p += csi_mkv_encode_size(p, data, sl);
    p += csi_mkv_encode_size(p, track, tl);
    *p++ = (uint8_t)(tc >> 8);
    *p++ = (uint8_t)tc;
    *p++ = flags;
    cs_mkv_put_raw(w, b, (size_t)(p - b));
}

void cs_mkv_put_simple_block(cs_mkv_writer *w, uint64_t track, int16_t relative_timecode,
                             uint8_t flags, const void *payload, size_t payload_len)
{
    cs_mkv_put_simple_block_header(w, track, relative_timecode, flags, payload_len);
    cs_mkv_put_raw(w, payload, payload_len);
}

/* ---------------------------------------------------------------------------------------------- */
/* Tags                                                                                           */
/* ---------------------------------------------------------------------------------------------- */

struct tags_in {
    const cs_mkv_tag *tags;
    size_t count;
};

static void simple_tag_body(cs_mkv_writer *w, const void *ctx)
{
    const cs_mkv_tag *t = ctx;
    cs_mkv_put_string(w, CS_MKV_ID_TAG_NAME, t->name, t->name_len);
    cs_mkv_put_string(w, CS_MKV_ID_TAG_STRING, t->value, t->value_len);
}

static void tag_body(cs_mkv_writer *w, const void *ctx)
{
    const struct tags_in *ti = ctx;

    /* Targets is mandatory in a Tag; empty means "the whole segment". */
    cs_mkv_put_binary(w, CS_MKV_ID_TARGETS, NULL, 0);
    for (size_t i = 0; i < ti->count; i++) {
        cs_mkv_put_master(w, CS_MKV_ID_SIMPLE_TAG, simple_tag_body, &ti->tags[i]);
    }
}

static void tags_body(cs_mkv_writer *w, const void *ctx)
{
    cs_mkv_put_master(w, CS_MKV_ID_TAG, tag_body, ctx);
}

static cs_status check_tag(const char *name, size_t name_len, const char *value, size_t value_len)
{
    if (name == NULL || name_len == 0 || (value == NULL && value_len != 0)) {
        return CS_E_INVAL;
    }
    if (name_len > CS_MKV_MAX_TAG_NAME || value_len > CS_MKV_MAX_TAG_VALUE) {
        return CS_E_LIMIT;
    }
    return CS_OK;
}

void cs_mkv_put_tags(cs_mkv_writer *w, const cs_mkv_tag *tags, size_t count)
{
    struct tags_in ti = {tags, count};

    if (count == 0) {
        return;
    }
    if (tags == NULL) {
        cs_mkv_writer_fail(w, CS_E_INVAL);
        return;
    }
    if (count > CS_MKV_MAX_TAGS_PER_FRAGMENT) {
        cs_mkv_writer_fail(w, CS_E_LIMIT);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        cs_status st = check_tag(tags[i].name, tags[i].name_len, tags[i].value, tags[i].value_len);
        if (st != CS_OK) {
            cs_mkv_writer_fail(w, st);
            return;
        }
    }
    cs_mkv_put_master(w, CS_MKV_ID_TAGS, tags_body, &ti);
}

/* ---------------------------------------------------------------------------------------------- */
/* Fragmenter                                                                                     */
/* ---------------------------------------------------------------------------------------------- */

/* What one frame does to the fragmenter; computed without changing it, applied on success. */
struct plan {
    bool new_segment;
    bool new_cluster;
    bool set_origin;
    uint64_t origin_ns;
    uint64_t cluster_tc;
    int16_t rel;
};

void cs_mkv_fragmenter_config_init(cs_mkv_fragmenter_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->cluster_on_key_frame = true;
}

cs_status cs_mkv_fragmenter_init(cs_mkv_fragmenter *f, const cs_mkv_fragmenter_config *cfg)
{
    cs_mkv_writer w;
    cs_status st;

    if (f == NULL || cfg == NULL || cfg->track_count == 0) {
        return CS_E_INVAL;
    }
    if (cfg->track_count > CS_MKV_MAX_TRACKS) {
        return CS_E_LIMIT;
    }
    memset(f, 0, sizeof(*f));
    f->cfg = *cfg;
    for (size_t i = 0; i < cfg->track_count; i++) {
        cs_mkv_track_info *t = &f->cfg.tracks[i];
        if ((t->codec == CS_MKV_CODEC_ID_H264 || t->codec == CS_MKV_CODEC_ID_H265) &&
            t->type == CS_MKV_TRACK_VIDEO && (t->width == 0 || t->height == 0) &&
            t->codec_private_len != 0) {
            /* Resolved once here, not at every segment start. */
            st = dims_from_sps(t, &t->width, &t->height);
            if (st != CS_OK) {
                return st;
            }
        }
        if (f->key_track == 0 && t->type == CS_MKV_TRACK_VIDEO) {
            f->key_track = t->number;
        }
    }
    cs_mkv_writer_init(&w, NULL, 0);
    cs_mkv_put_tracks(&w, f->cfg.tracks, f->cfg.track_count);
    st = cs_mkv_writer_finish(&w, NULL);
    if (st != CS_OK) {
        return st;
    }
    if (cfg->key_track != 0) {
        bool found = false;
        for (size_t i = 0; i < cfg->track_count; i++) {
            found = found || cfg->tracks[i].number == cfg->key_track;
        }
        if (!found) {
            return CS_E_INVAL;
        }
        f->key_track = cfg->key_track;
    }
    if (!cfg->cluster_on_key_frame) {
        f->key_track = 0;
    }
    f->max_cluster_ticks = cfg->max_cluster_duration_ns / NS_PER_TICK;
    if (cfg->max_cluster_duration_ns % NS_PER_TICK != 0) {
        f->max_cluster_ticks++; /* a cut happens once the frame is at least that far */
    }
    f->need_segment = true;
    return CS_OK;
}

static void put_stream_header(const cs_mkv_fragmenter *f, cs_mkv_writer *w)
{
    cs_mkv_put_ebml_header(w);
    cs_mkv_put_segment_start(w);
    cs_mkv_put_info(w, f->cfg.segment_uid);
    cs_mkv_put_tracks(w, f->cfg.tracks, f->cfg.track_count);
}

cs_status cs_mkv_fragmenter_header(const cs_mkv_fragmenter *f, uint8_t *dst, size_t cap,
                                   size_t *len)
{
    cs_mkv_writer w;

    if (f == NULL || len == NULL) {
        return CS_E_INVAL;
    }
    cs_mkv_writer_init(&w, dst, cap);
    put_stream_header(f, &w);
    return cs_mkv_writer_finish(&w, len);
}

static void put_pending_tags(const cs_mkv_fragmenter *f, cs_mkv_writer *w)
{
    cs_mkv_tag tags[CS_MKV_MAX_TAGS_PER_FRAGMENT];

    for (size_t i = 0; i < f->tag_count; i++) {
        tags[i].name = f->tags[i].name;
        tags[i].name_len = f->tags[i].name_len;
        tags[i].value = f->tags[i].value;
        tags[i].value_len = f->tags[i].value_len;
    }
    cs_mkv_put_tags(w, tags, f->tag_count);
}

static cs_status plan_frame(const cs_mkv_fragmenter *f, const cs_mkv_frame *fr, struct plan *p)
{
    uint64_t ts = fr->timestamp_ns;
    uint64_t tick;
    bool known = false, cut;

    for (size_t i = 0; i < f->cfg.track_count; i++) {
        known = known || f->cfg.tracks[i].number == fr->track;
    }
    if (!known || (fr->flags &
                   ~(CS_MKV_BLOCK_KEY | CS_MKV_BLOCK_INVISIBLE | CS_MKV_BLOCK_DISCARDABLE)) != 0) {
        return CS_E_INVAL;
    }
    memset(p, 0, sizeof(*p));
    if (f->cfg.relative_timecodes) {
        p->origin_ns = f->have_origin ? f->origin_ns : ts;
        p->set_origin = !f->have_origin;
        if (ts < p->origin_ns) {
            return CS_E_RANGE;
        }
        ts -= p->origin_ns;
    }
    tick = ts / NS_PER_TICK;
    p->new_segment = f->need_segment;
    cut = f->need_segment || !f->in_cluster;
    if (!cut && f->key_track != 0 && fr->track == f->key_track &&
        (fr->flags & CS_MKV_BLOCK_KEY) != 0) {
        cut = true;
    }
    if (!cut && tick >= f->cluster_tc) {
        uint64_t d = tick - f->cluster_tc;
        cut = d > (uint64_t)INT16_MAX || (f->max_cluster_ticks != 0 && d >= f->max_cluster_ticks);
    }
    p->cluster_tc = f->cluster_tc;
    if (cut) {
        p->new_cluster = true;
        if (!f->have_cluster_tc || tick >= f->cluster_tc) {
            p->cluster_tc = tick;
            p->rel = 0;
            return CS_OK;
        }
        /* A cut at a frame earlier than the current cluster's start (a key frame after a
         * duration cut made by a later audio frame): cluster timecodes do not go back, so the
         * new cluster keeps the current timecode and the block gets a negative one. */
    }
    if (tick < f->cluster_tc && f->cluster_tc - tick > 32768u) {
        return CS_E_RANGE; /* too far back for an int16 block timecode */
    }
    p->rel = (int16_t)((int64_t)tick - (int64_t)f->cluster_tc);
    return CS_OK;
}

static void put_planned(const cs_mkv_fragmenter *f, cs_mkv_writer *w, const cs_mkv_frame *fr,
                        const struct plan *p, cs_mkv_frame_layout *layout)
{
    if (p->new_segment) {
        put_stream_header(f, w);
    }
    if (p->new_cluster) {
        if (f->tag_count != 0) {
            layout->tags_offset = w->pos;
            put_pending_tags(f, w);
        }
        layout->cluster_offset = w->pos;
        cs_mkv_put_cluster_start(w, p->cluster_tc);
    }
    layout->block_offset = w->pos;
    cs_mkv_put_simple_block_header(w, fr->track, p->rel, fr->flags, fr->size);
}

static void commit_plan(cs_mkv_fragmenter *f, const struct plan *p)
{
    if (p->set_origin) {
        f->origin_ns = p->origin_ns;
        f->have_origin = true;
    }
    if (p->new_segment) {
        f->need_segment = false;
    }
    if (p->new_cluster) {
        f->in_cluster = true;
        f->have_cluster_tc = true;
        f->cluster_tc = p->cluster_tc;
        f->tag_count = 0;
    }
}

static cs_status frame_out(cs_mkv_fragmenter *f, const cs_mkv_frame *fr, bool with_payload,
                           const void *payload, uint8_t *dst, size_t cap,
                           cs_mkv_frame_layout *layout)
{
    cs_mkv_writer w;
    struct plan p;
    size_t len;
    cs_status st;

    if (f == NULL || fr == NULL || layout == NULL) {
        return CS_E_INVAL;
    }
    memset(layout, 0, sizeof(*layout));
    layout->tags_offset = SIZE_MAX;
    layout->cluster_offset = SIZE_MAX;
    if (with_payload && dst != NULL && payload == NULL && fr->size != 0) {
        return CS_E_INVAL;
    }
    st = plan_frame(f, fr, &p);
    if (st != CS_OK) {
        return st;
    }
    cs_mkv_writer_init(&w, dst, cap);
    put_planned(f, &w, fr, &p, layout);
    layout->header_len = w.pos;
    if (with_payload) {
        cs_mkv_put_raw(&w, payload, fr->size);
    }
    st = cs_mkv_writer_finish(&w, &len);
    layout->new_segment = p.new_segment;
    layout->new_cluster = p.new_cluster;
    layout->cluster_timecode = p.cluster_tc;
    layout->block_timecode = p.rel;
    if (cs_add_size(layout->header_len, fr->size, &layout->total_len) != CS_OK) {
        return CS_E_OVERFLOW;
    }
    if (st == CS_OK && dst != NULL) {
        commit_plan(f, &p);
    }
    return st;
}

cs_status cs_mkv_fragmenter_frame_header(cs_mkv_fragmenter *f, const cs_mkv_frame *frame,
                                         uint8_t *dst, size_t cap, cs_mkv_frame_layout *layout)
{
    return frame_out(f, frame, false, NULL, dst, cap, layout);
}

cs_status cs_mkv_fragmenter_put_frame(cs_mkv_fragmenter *f, const cs_mkv_frame *frame,
                                      const void *payload, uint8_t *dst, size_t cap,
                                      cs_mkv_frame_layout *layout)
{
    return frame_out(f, frame, true, payload, dst, cap, layout);
}

cs_status cs_mkv_fragmenter_add_tag(cs_mkv_fragmenter *f, const char *name, size_t name_len,
                                    const char *value, size_t value_len)
{
    cs_mkv_fragmenter_tag *t;
    cs_status st;

    if (f == NULL) {
        return CS_E_INVAL;
    }
    st = check_tag(name, name_len, value, value_len);
    if (st != CS_OK) {
        return st;
    }
    if (f->tag_count >= CS_MKV_MAX_TAGS_PER_FRAGMENT) {
        return CS_E_LIMIT;
    }
    t = &f->tags[f->tag_count++];
    memcpy(t->name, name, name_len);
    t->name_len = (uint16_t)name_len;
    if (value_len != 0) {
        memcpy(t->value, value, value_len);
    }
    t->value_len = (uint16_t)value_len;
    return CS_OK;
}

cs_status cs_mkv_fragmenter_flush_tags(cs_mkv_fragmenter *f, uint8_t *dst, size_t cap, size_t *len)
{
    cs_mkv_writer w;
    cs_status st;

    if (f == NULL || len == NULL) {
        return CS_E_INVAL;
    }
    *len = 0;
    if (f->tag_count == 0) {
        return CS_OK;
    }
    if (f->need_segment) {
        return CS_E_STATE;
    }
    cs_mkv_writer_init(&w, dst, cap);
    put_pending_tags(f, &w);
    st = cs_mkv_writer_finish(&w, len);
    if (st == CS_OK && dst != NULL) {
        f->tag_count = 0;
        /* A level-1 element ends the open unknown-size cluster: blocks after it need a new one. */
        f->in_cluster = false;
    }
    return st;
}

void cs_mkv_fragmenter_restart(cs_mkv_fragmenter *f)
{
    if (f != NULL) {
        f->need_segment = true;
        f->in_cluster = false;
        f->have_cluster_tc = false;
        f->cluster_tc = 0;
    }
}
