/* SPDX-License-Identifier: Apache-2.0 */
/* An outside program using the installed camstream: it calls into each installed library and
 * checks an answer, so a missing header, symbol or library fails the build or the run. */
#include <stdio.h>
#include <string.h>

#include <camstream/platform.h>
#if HAVE_CS_AUTH
#include <camstream/auth.h>
#endif

int main(void)
{
    cs_manual_clock mc;

    cs_manual_clock_init(&mc, 0, 0);
    cs_manual_clock_advance(&mc, 42);
    if (cs_clock_monotonic_ns(&mc.clock) != 42 ||
        strcmp(cs_status_str(CS_E_NOSPACE), "CS_E_NOSPACE") != 0) {
        fprintf(stderr, "example: unexpected answer from camstream\n");
        return 1;
    }
#if HAVE_CS_AUTH
    {
        /* Links libcamstream_auth and, through it, mbedTLS's libmbedcrypto. */
        uint8_t d[CS_SHA256_SIZE];
        char hex[CS_SHA256_HEX_SIZE];
        if (cs_sha256("abc", 3, d) != CS_OK ||
            cs_hex_encode(d, sizeof(d), hex, sizeof(hex), NULL) != CS_OK ||
            strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") != 0) {
            fprintf(stderr, "example: unexpected SHA-256 from camstream::auth\n");
            return 1;
        }
    }
#endif
    printf("example: camstream %s linked and working\n", cs_version());
    return 0;
}
