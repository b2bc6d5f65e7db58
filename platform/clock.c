/* SPDX-License-Identifier: Apache-2.0 */
/* Clock dispatch (NULL = system) and the manual clock that tests use in place of the system's. */
#include "camstream/platform.h"

uint64_t cs_clock_monotonic_ns(const cs_clock *clock)
{
    if (clock == NULL) {
        clock = cs_clock_system();
    }
    return clock->monotonic_ns(clock->ctx);
}

uint64_t cs_clock_wall_ns(const cs_clock *clock)
{
    if (clock == NULL) {
        clock = cs_clock_system();
    }
    return clock->wall_ns(clock->ctx);
}

void cs_clock_sleep_ns(const cs_clock *clock, uint64_t ns)
{
    if (clock == NULL) {
        clock = cs_clock_system();
    }
    clock->sleep_ns(clock->ctx, ns);
}

static uint64_t manual_mono(void *ctx)
{
    cs_manual_clock *mc = ctx;
    return __atomic_load_n(&mc->mono_ns, __ATOMIC_ACQUIRE);
}

static uint64_t manual_wall(void *ctx)
{
    cs_manual_clock *mc = ctx;
    return __atomic_load_n(&mc->wall_ns, __ATOMIC_ACQUIRE);
}

static void manual_sleep(void *ctx, uint64_t ns)
{
    cs_manual_clock_advance(ctx, ns);
}

void cs_manual_clock_init(cs_manual_clock *mc, uint64_t mono_ns, uint64_t wall_ns)
{
    mc->clock.monotonic_ns = manual_mono;
    mc->clock.wall_ns = manual_wall;
    mc->clock.sleep_ns = manual_sleep;
    mc->clock.ctx = mc;
    __atomic_store_n(&mc->mono_ns, mono_ns, __ATOMIC_RELEASE);
    __atomic_store_n(&mc->wall_ns, wall_ns, __ATOMIC_RELEASE);
}

void cs_manual_clock_advance(cs_manual_clock *mc, uint64_t ns)
{
    __atomic_add_fetch(&mc->mono_ns, ns, __ATOMIC_ACQ_REL);
    __atomic_add_fetch(&mc->wall_ns, ns, __ATOMIC_ACQ_REL);
}
