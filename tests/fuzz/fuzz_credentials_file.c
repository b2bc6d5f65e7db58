/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target of the producer's AWS shared credentials file parser (producer/credentials.h,
 * csi_creds_parse_ini). Input: the file's bytes; the profile read is "default", or "p<N>" with
 * N the input's first byte mod 4 when that byte is odd. Beyond not crashing: a found profile has
 * a non-empty access key and secret that are NUL-terminated within their limits, and parsing the
 * same bytes again gives the same answer. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "credentials.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cs_credentials a, b;
    char profile[8] = "default";
    bool fa = false, fb = false;
    cs_status sa, sb;
    if (size > 0 && (data[0] & 1)) {
        snprintf(profile, sizeof(profile), "p%d", data[0] % 4);
    }
    sa = csi_creds_parse_ini((const char *)data, size, profile, &a, &fa);
    sb = csi_creds_parse_ini((const char *)data, size, profile, &b, &fb);
    check(sa == sb && fa == fb);
    if (sa == CS_OK && fa) {
        check(memchr(a.access_key, '\0', sizeof(a.access_key)) != NULL);
        check(memchr(a.secret_key, '\0', sizeof(a.secret_key)) != NULL);
        check(memchr(a.session_token, '\0', sizeof(a.session_token)) != NULL);
        check(a.access_key[0] != '\0' && a.secret_key[0] != '\0');
        check(strcmp(a.access_key, b.access_key) == 0 && strcmp(a.secret_key, b.secret_key) == 0);
    }
    return 0;
}
