/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target of the consumer SDK's GetMedia stream parser (include/camstream/consumer.h).
 * Input: the bytes of a response, fed whole and then in 7-byte chunks. Beyond not crashing:
 * both runs give the same number of events and the same final status (chunking does not
 * matter), every frame lies within max_frame_bytes, frame indexes count up within a fragment,
 * and a fragment's frame count at its end equals the frames reported. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "camstream/consumer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

static cs_status run(cs_gm_parser *p, const uint8_t *data, size_t size, size_t step, size_t *events)
{
    cs_gm_event ev;
    size_t off = 0;
    uint32_t frames = 0;
    cs_status st = CS_OK;
    cs_gm_parser_reset(p);
    *events = 0;
    while (off < size && st == CS_OK) {
        size_t n = size - off < step ? size - off : step, at = 0;
        for (;;) {
            size_t used = 0;
            st = cs_gm_parser_next(p, data + off + at, n - at, &used, &ev);
            if (st != CS_OK) {
                break;
            }
            check(used <= n - at);
            at += used;
            if (ev.type == CS_GM_EV_NONE) {
                check(at == n);
                break;
            }
            (*events)++;
            if (ev.type == CS_GM_EV_FRAGMENT_START) {
                frames = 0;
            } else if (ev.type == CS_GM_EV_FRAME) {
                check(ev.frame.size <= 65536);
                check(ev.frame.index == frames);
                frames++;
            } else if (ev.type == CS_GM_EV_FRAGMENT_END) {
                check(ev.fragment->frames == frames);
            }
        }
        off += n;
    }
    if (st == CS_OK) {
        st = cs_gm_parser_end(p, &ev);
        if (st == CS_OK && ev.type != CS_GM_EV_NONE) {
            (*events)++;
        }
    }
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cs_gm_parser *p;
    size_t a = 0, b = 0;
    cs_status sa, sb;
    if (p == NULL) {
        cs_gm_parser_config cfg;
        cs_gm_parser_config_init(&cfg);
        cfg.max_frame_bytes = 65536;
        if (cs_gm_parser_create(&cfg, &p) != CS_OK) {
            abort();
        }
    }
    sa = run(p, data, size, size ? size : 1, &a);
    sb = run(p, data, size, 7, &b);
    check(sa == sb);
    if (sa == CS_OK) {
        check(a == b);
    }
    return 0;
}
