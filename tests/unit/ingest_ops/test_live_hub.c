/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the live hub's per-stream state (ingest-server/api/live.c): with thousands of
 * streams (the name lookup's table grows several times) every stream keeps its own number
 * generator: a stream seeded with its own future number gets numbers right above it, and no
 * other stream's. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "live.h"
#include "testutil.h"

#define N_STREAMS 3000

static const uint8_t prefix[] = {0x1A, 0x45, 0xDF, 0xA3};

/* A number as the index writes it: "91", 20 digits of ms, 25 digits of sequence. */
static void number(char out[CS_INDEX_FRAGMENT_NUMBER_SIZE], int64_t ms, uint64_t seq)
{
    snprintf(out, CS_INDEX_FRAGMENT_NUMBER_SIZE, "91%020" PRIu64 "%025" PRIu64, (uint64_t)ms, seq);
}

static void name(char out[64], int i)
{
    /* names that share long prefixes and differ at the end, as camera fleets name streams */
    snprintf(out, 64, "site-7/building-3/camera-%05d", i);
}

static void test_many_streams_keep_their_generators(void **state)
{
    struct csi_live *hub = NULL;
    /* A day ahead of the wall clock: the generator must take the seed, not the clock. */
    int64_t base = (int64_t)(cs_clock_wall_ns(NULL) / 1000000u) + 86400000;
    char nm[64], want[CS_INDEX_FRAGMENT_NUMBER_SIZE];
    (void)state;
    assert_int_equal(csi_live_create(NULL, &hub), CS_OK);
    for (int i = 0; i < N_STREAMS; i++) {
        name(nm, i);
        number(want, base + 1000 * i, 7);
        assert_int_equal(csi_live_seed(hub, nm, want), CS_OK);
    }
    for (int round = 1; round <= 2; round++) {
        /* in another order than the seeds, so a lookup that returned a neighbour would show */
        for (int j = 0; j < N_STREAMS; j++) {
            int i = (j * 7919) % N_STREAMS;
            struct csi_live_frag *f = NULL;
            name(nm, i);
            assert_int_equal(
                csi_live_frag_begin(hub, nm, prefix, sizeof(prefix), 1000 * round, 0, &f), CS_OK);
            number(want, base + 1000 * i, 7 + (uint64_t)round);
            if (strcmp(csi_live_frag_number(f), want) != 0) {
                fail_msg("stream %s round %d: number %s, want %s", nm, round,
                         csi_live_frag_number(f), want);
            }
            csi_live_frag_end(f);
            csi_live_frag_done(f, NULL);
        }
    }
    /* A name never seen starts from the clock, below every seeded one. */
    {
        struct csi_live_frag *f = NULL;
        assert_int_equal(csi_live_frag_begin(hub, "site-7/building-3/camera-new", prefix,
                                             sizeof(prefix), 0, 0, &f),
                         CS_OK);
        number(want, base, 0);
        assert_true(strcmp(csi_live_frag_number(f), want) < 0);
        csi_live_frag_abort(f);
    }
    csi_live_destroy(&hub);
    assert_null(hub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_streams_keep_their_generators),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
