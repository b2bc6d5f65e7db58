/* SPDX-License-Identifier: Apache-2.0 */
/* Differential fuzz target of the PutRecords/PutRecord fast path (ingest-server/api/
 * kds_fastjson.c) against jansson. The first byte picks PutRecords (even) or PutRecord (odd); the
 * rest is the body. Whenever the fast parser accepts a body, jansson must parse it too, and the
 * jansson path of kds_api.c must see the same request, valid: the same stream name (StreamName),
 * the same number of records (1..500), and per record the same PartitionKey (1..256 bytes), the
 * same ExplicitHashKey (or none, valid), and Data that decodes to the same bytes (<= 1 MiB). A
 * body the fast parser refuses is not checked here: the jansson path answers it (fuzz_kds_json). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kds_fastjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

static void same_record(json_t *rec, const csi_kds_put *p)
{
    const char *b64 = json_string_value(json_object_get(rec, "Data"));
    const char *pk = json_string_value(json_object_get(rec, "PartitionKey"));
    const char *eh = json_string_value(json_object_get(rec, "ExplicitHashKey"));
    size_t n, got = 0;
    uint8_t *buf;
    csi_u128 v;
    check(b64 != NULL && pk != NULL);
    check(strlen(pk) == p->key_len && p->key_len >= 1 && p->key_len <= 256 &&
          memcmp(pk, p->partition_key, p->key_len) == 0);
    check((eh == NULL) == (p->explicit_hash == NULL));
    if (eh != NULL) {
        check(strcmp(eh, p->explicit_hash) == 0 && csi_kds_u128_parse(eh, strlen(eh), &v) == CS_OK);
    }
    n = strlen(b64);
    buf = malloc(n / 4 * 3 + 1);
    check(buf != NULL);
    check(csi_kds_base64_decode(b64, n, buf, n / 4 * 3 + 1, &got) == CS_OK);
    check(got == p->len && got <= 1024 * 1024 && (got == 0 || memcmp(buf, p->data, got) == 0));
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    csi_kds_fast_put *fp;
    json_t *in;
    json_error_t err;
    bool single;
    if (size == 0) {
        return 0;
    }
    single = data[0] & 1;
    fp = malloc(sizeof(*fp));
    check(fp != NULL);
    if (!csi_kds_fast_put_parse((const char *)data + 1, size - 1, single, fp)) {
        free(fp);
        return 0;
    }
    in = json_loadb((const char *)data + 1, size - 1, 0, &err);
    check(json_is_object(in));
    /* kds_api.c stream_name(): StreamName first */
    check(json_string_value(json_object_get(in, "StreamName")) != NULL &&
          strcmp(json_string_value(json_object_get(in, "StreamName")), fp->name) == 0);
    if (single) {
        check(fp->n == 1);
        same_record(in, &fp->recs[0]);
    } else {
        json_t *recs = json_object_get(in, "Records");
        check(json_is_array(recs) && json_array_size(recs) == fp->n && fp->n >= 1 && fp->n <= 500);
        for (size_t i = 0; i < fp->n; i++) {
            same_record(json_array_get(recs, i), &fp->recs[i]);
        }
    }
    json_decref(in);
    csi_kds_fast_put_free(fp);
    free(fp);
    return 0;
}
