/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target of the PutMedia ack line parser (include/camstream/kvs_ack.h). Input: one line.
 * Checks the parser's promises beyond not crashing: what it accepts, the formatter can write,
 * and the written line parses back to the same event (format and parse agree); the formatter's
 * size pass agrees with its write pass. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "camstream/kvs_ack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_kvs_ack a, b;
    char line[CS_KVS_ACK_MAX_LINE];
    size_t need = 0, len = 0;

    if (cs_kvs_ack_parse((const char *)data, size, &a) != CS_OK) {
        return 0;
    }
    check(cs_kvs_ack_format(&a, NULL, 0, &need) == CS_OK);
    check(cs_kvs_ack_format(&a, line, sizeof(line), &len) == CS_OK);
    check(need == len && len <= CS_KVS_ACK_MAX_LINE && line[len - 1] == '\n');
    check(cs_kvs_ack_parse(line, len, &b) == CS_OK);
    check(a.type == b.type && a.has_timecode == b.has_timecode &&
          a.fragment_timecode == b.fragment_timecode && a.error_id == b.error_id &&
          a.fragment_number_len == b.fragment_number_len &&
          memcmp(a.fragment_number, b.fragment_number, a.fragment_number_len) == 0);
    return 0;
}
