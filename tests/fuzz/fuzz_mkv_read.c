/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target of the incremental MKV reader. Input: byte 0 = chunk size (0 = all at once),
 * byte 1 = options (bit 0: frame_data off, bit 1: tight limits), then the stream. Checks the
 * reader's promises: it consumes no more than it is given, every data span lies inside the chunk
 * it was given, offsets only grow, it ends (a bounded number of events per byte), and errors are
 * sticky. Crashes and sanitizer reports are the findings. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "camstream/mkv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cs_mkv_reader rd;
    cs_mkv_reader_config cfg;
    cs_mkv_event ev;
    size_t chunk, events = 0, max_events;
    cs_status st = CS_OK;

    if (size < 2) {
        return 0;
    }
    chunk = data[0] == 0 ? size : data[0];
    cs_mkv_reader_config_init(&cfg);
    cfg.frame_data = (data[1] & 1u) == 0;
    if (data[1] & 2u) {
        cfg.max_depth = 4;
        cfg.max_tracks = 2;
        cfg.max_string = 16;
        cfg.max_codec_private = 64;
        cfg.max_tag_value = 32;
        cfg.max_element_size = 4096;
    }
    data += 2;
    size -= 2;
    /* Each byte can end at most every open element and start a few events of its own. */
    max_events = (size + 1) * (CS_MKV_READER_MAX_DEPTH + 8);
    check(cs_mkv_reader_init(&rd, &cfg) == CS_OK);

    for (size_t off = 0; off < size && st == CS_OK;) {
        size_t n = size - off < chunk ? size - off : chunk;
        size_t pos = 0;
        while (st == CS_OK) {
            size_t used = SIZE_MAX;
            uint64_t before = cs_mkv_reader_offset(&rd);
            st = cs_mkv_reader_next(&rd, data + off + pos, n - pos, &used, &ev);
            check(used <= n - pos);
            check(cs_mkv_reader_offset(&rd) == before + used);
            if (st != CS_OK) {
                check(ev.type == CS_MKV_EV_NONE);
                break;
            }
            if (ev.type == CS_MKV_EV_FRAME || ev.type == CS_MKV_EV_FRAME_DATA) {
                const cs_mkv_block_info *b = &ev.u.block;
                if (b->data_len > 0) {
                    check(cfg.frame_data);
                    check(b->data >= data + off + pos && b->data + b->data_len <= data + off + n);
                    check(b->data_pos + b->data_len <= b->frame_size);
                }
            }
            pos += used;
            if (ev.type == CS_MKV_EV_NONE) {
                check(pos == n);
                break;
            }
            check(++events <= max_events);
        }
        off += n;
    }
    while (st == CS_OK) {
        st = cs_mkv_reader_end(&rd, &ev);
        if (st != CS_OK || ev.type == CS_MKV_EV_NONE) {
            break;
        }
        check(++events <= max_events);
    }
    if (st != CS_OK) {
        uint64_t at;
        size_t used;
        const char *msg = cs_mkv_reader_error(&rd, &at);
        check(msg[0] != '\0' && at <= size);
        /* sticky */
        check(cs_mkv_reader_next(&rd, data, size, &used, &ev) == st && used == 0);
    }
    return 0;
}
