/* SPDX-License-Identifier: Apache-2.0 */
/* The record-stream consumer (records_consumer.h) in a build without libcurl or jansson: every
 * call that needs the network answers CS_E_UNSUPPORTED; the base64 decoder is not built either. */
#include "camstream/records_consumer.h"

#include <string.h>

void cs_records_consumer_config_init(cs_records_consumer_config *cfg)
{
    if (cfg != NULL) {
        memset(cfg, 0, sizeof(*cfg));
    }
}

cs_status cs_records_consumer_create(const cs_records_consumer_config *cfg,
                                     cs_records_consumer **out)
{
    (void)cfg;
    if (out != NULL) {
        *out = NULL;
    }
    return CS_E_UNSUPPORTED;
}

cs_status cs_records_consumer_poll(cs_records_consumer *c, bool *idle)
{
    (void)c;
    (void)idle;
    return CS_E_UNSUPPORTED;
}

cs_status cs_records_consumer_run(cs_records_consumer *c, const volatile sig_atomic_t *stop)
{
    (void)c;
    (void)stop;
    return CS_E_UNSUPPORTED;
}

size_t cs_records_consumer_leases(const cs_records_consumer *c)
{
    (void)c;
    return 0;
}

const char *cs_records_consumer_error(const cs_records_consumer *c)
{
    (void)c;
    return "built without libcurl or jansson";
}

void cs_records_consumer_destroy(cs_records_consumer **c)
{
    if (c != NULL) {
        *c = NULL;
    }
}

cs_status cs_records_call(const cs_records_consumer_config *cfg, const char *target,
                          const char *json, char **out, size_t *out_len, cs_kvs_result *res)
{
    (void)cfg;
    (void)target;
    (void)json;
    (void)out_len;
    (void)res;
    if (out != NULL) {
        *out = NULL;
    }
    return CS_E_UNSUPPORTED;
}

void cs_records_free(void *p)
{
    (void)p;
}

cs_status cs_records_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap,
                                   size_t *out_len)
{
    (void)in;
    (void)n;
    (void)out;
    (void)cap;
    (void)out_len;
    return CS_E_UNSUPPORTED;
}
