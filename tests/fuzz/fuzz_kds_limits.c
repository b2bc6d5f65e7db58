/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target of the per-shard limit settings (ingest-server/records/kds_limits.h), which come
 * from clients in the stream tag `camstream:shard-limits`: the input is the tag's value. Beyond
 * not crashing: an accepted setting formats to text that parses back to the same figures, and
 * token buckets driven by it (times and sizes taken from the input) never admit more than one
 * second of a rate at once, never more than rate x elapsed + one second's worth in all. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kds_limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[300], back[300];
    csi_kds_limit_conf c, d;
    csi_kds_shard_buckets b;
    uint64_t t = 0, admitted = 0, gets = 0;
    if (size >= sizeof(text)) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    if (csi_kds_limits_parse(text, &c) != CS_OK) {
        return 0;
    }
    csi_kds_limits_format(&c, back, sizeof(back));
    check(csi_kds_limits_parse(back, &d) == CS_OK);
    check(memcmp(&c, &d, sizeof(c)) == 0);
    memset(&b, 0, sizeof(b));
    for (size_t i = 0; i < size; i++) {
        t += data[i] % 7; /* ms */
        if (csi_kds_limits_take_put(&b, &c, t, 1)) {
            admitted++;
        }
        if (csi_kds_limits_take_get(&b, &c, t)) {
            gets++;
        }
    }
    if (c.records_per_s != 0) {
        check(admitted <= c.records_per_s + (c.records_per_s * t) / 1000u + 1u);
    }
    if (c.gets_per_s != 0) {
        check(gets <= c.gets_per_s + (c.gets_per_s * t) / 1000u + 1u);
    }
    return 0;
}
