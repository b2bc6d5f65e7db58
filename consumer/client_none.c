/* SPDX-License-Identifier: Apache-2.0 */
/* The consumer client in a build without libcurl: every entry point says so. */
#include <string.h>

#include "camstream/consumer.h"

void cs_consumer_config_init(cs_consumer_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
}

cs_status cs_consumer_open(const cs_consumer_config *cfg, cs_consumer **out)
{
    (void)cfg;
    if (out != NULL) {
        *out = NULL;
    }
    return CS_E_UNSUPPORTED;
}

cs_status cs_consumer_next(cs_consumer *c, uint32_t timeout_ms, cs_gm_event *ev)
{
    (void)c;
    (void)timeout_ms;
    (void)ev;
    return CS_E_UNSUPPORTED;
}

const char *cs_consumer_error(const cs_consumer *c)
{
    (void)c;
    return "this build has no libcurl: the consumer client is not available";
}

void cs_consumer_get_stats(const cs_consumer *c, cs_consumer_stats *s)
{
    (void)c;
    memset(s, 0, sizeof(*s));
}

void cs_consumer_close(cs_consumer **c)
{
    if (c != NULL) {
        *c = NULL;
    }
}

cs_status cs_kvs_call(const cs_consumer_config *cfg, const char *path, const char *json, char *out,
                      size_t cap, cs_kvs_result *res)
{
    (void)cfg;
    (void)path;
    (void)json;
    (void)out;
    (void)cap;
    (void)res;
    return CS_E_UNSUPPORTED;
}
