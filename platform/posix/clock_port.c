/* SPDX-License-Identifier: Apache-2.0 */
/* POSIX clocks: CLOCK_MONOTONIC (or CLOCK_REALTIME where there is none) and CLOCK_REALTIME. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <time.h>

#include "camstream/platform.h"

static uint64_t ts_ns(const struct timespec *ts)
{
    return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

static uint64_t sys_mono(void *ctx)
{
    struct timespec ts;
    (void)ctx;
#if CS_HAVE_CLOCK_MONOTONIC
    clock_gettime(CLOCK_MONOTONIC, &ts);
#else
    clock_gettime(CLOCK_REALTIME, &ts);
#endif
    return ts_ns(&ts);
}

static uint64_t sys_wall(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts_ns(&ts);
}

static void sys_sleep(void *ctx, uint64_t ns)
{
    struct timespec req;
    (void)ctx;
    req.tv_sec = (time_t)(ns / 1000000000u);
    req.tv_nsec = (long)(ns % 1000000000u);
    /* Resume after signals until the whole time has passed. */
    while (nanosleep(&req, &req) != 0 && errno == EINTR) {
    }
}

static const cs_clock system_clock = {sys_mono, sys_wall, sys_sleep, NULL};

const cs_clock *cs_clock_system(void)
{
    return &system_clock;
}
