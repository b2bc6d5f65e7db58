/* SPDX-License-Identifier: Apache-2.0 */
/* An outside program using the installed camstream: it calls into each installed library and
 * checks an answer, so a missing header, symbol or library fails the build or the run. */
#include <stdio.h>
#include <string.h>

#include <camstream/platform.h>

int main(void)
{
    cs_manual_clock mc;

    cs_manual_clock_init(&mc, 0, 0);
    cs_manual_clock_advance(&mc, 42);
    if (cs_clock_monotonic_ns(&mc.clock) != 42 || strcmp(cs_status_str(CS_E_NOSPACE), "CS_E_NOSPACE") != 0) {
        fprintf(stderr, "example: unexpected answer from camstream\n");
        return 1;
    }
    printf("example: camstream %s linked and working\n", cs_version());
    return 0;
}
