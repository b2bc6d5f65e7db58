/* SPDX-License-Identifier: Apache-2.0 */
/* Parser events back into one continuous Matroska stream (consumer.h, "Remux"): the header once,
 * a Cluster per fragment, a SimpleBlock per frame, with the mkv/ writer's one code path for
 * measuring and writing. */
#include <string.h>

#include "camstream/consumer.h"
#include "camstream/mkv.h"

void cs_gm_remux_init(cs_gm_remux *r)
{
    memset(r, 0, sizeof(*r));
}

cs_status cs_gm_remux_write(cs_gm_remux *r, const cs_gm_event *ev, uint8_t *dst, size_t cap,
                            size_t *len)
{
    static const uint8_t uid[CS_MKV_SEGMENT_UID_LEN] = {'c', 'a', 'm', 's', 't', 'r', 'e', 'a',
                                                        'm', '-', 'r', 'e', 'm', 'u', 'x'};
    cs_mkv_writer w;
    cs_status st;
    size_t n = 0;

    if (r == NULL || ev == NULL || len == NULL) {
        return CS_E_INVAL;
    }
    *len = 0;
    if (ev->type != CS_GM_EV_FRAGMENT_START && ev->type != CS_GM_EV_FRAME) {
        return CS_OK;
    }
    cs_mkv_writer_init(&w, dst, dst ? cap : 0);
    if (ev->type == CS_GM_EV_FRAGMENT_START) {
        if (!r->header_sent) {
            cs_mkv_put_ebml_header(&w);
            cs_mkv_put_segment_start(&w);
            cs_mkv_put_info(&w, uid);
            cs_mkv_put_tracks(&w, ev->fragment->tracks, ev->fragment->track_count);
        }
        cs_mkv_put_cluster_start(&w, ev->fragment->cluster_timecode);
    } else {
        int64_t rel;
        if (!r->in_cluster) {
            return CS_E_STATE;
        }
        rel = ev->frame.timestamp_ns / 1000000 - (int64_t)r->cluster_ms;
        if (rel < INT16_MIN || rel > INT16_MAX) {
            return CS_E_RANGE;
        }
        cs_mkv_put_simple_block(&w, ev->frame.track, (int16_t)rel,
                                ev->frame.key ? CS_MKV_BLOCK_KEY : 0, ev->frame.data,
                                ev->frame.size);
    }
    st = cs_mkv_writer_finish(&w, &n);
    *len = n;
    if (st == CS_E_NOSPACE || (dst != NULL && n > cap)) {
        return CS_E_NOSPACE;
    }
    if (st != CS_OK) {
        return CS_E_INVAL;
    }
    if (dst != NULL && ev->type == CS_GM_EV_FRAGMENT_START) {
        r->header_sent = true;
        r->in_cluster = true;
        r->cluster_ms = ev->fragment->cluster_timecode;
    }
    return CS_OK;
}
