/* SPDX-License-Identifier: Apache-2.0 */
/* POSIX threads, mutexes and condition variables whose timed waits run on the monotonic clock. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "camstream/platform.h"

struct thread_start {
    cs_thread_fn fn;
    void *arg;
    char name[16];
};

static void *thread_main(void *p)
{
    struct thread_start st = *(struct thread_start *)p;

    free(p);
#if CS_HAVE_PTHREAD_SETNAME_NP
    if (st.name[0] != '\0') {
        pthread_setname_np(pthread_self(), st.name);
    }
#endif
    st.fn(st.arg);
    return NULL;
}

cs_status cs_thread_create(cs_thread *thread, cs_thread_fn fn, void *arg, const char *name)
{
    struct thread_start *st;

    if (thread == NULL || fn == NULL) {
        return CS_E_INVAL;
    }
    thread->started = false;
    /* Thread creation is never on a data path, so the hand-over block comes from the C heap. */
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return CS_E_NOMEM;
    }
    st->fn = fn;
    st->arg = arg;
    if (name != NULL) {
        strncpy(st->name, name, sizeof(st->name) - 1);
    }
    if (pthread_create(&thread->handle, NULL, thread_main, st) != 0) {
        free(st);
        return CS_E_NOMEM;
    }
    thread->started = true;
    return CS_OK;
}

cs_status cs_thread_join(cs_thread *thread)
{
    if (thread == NULL || !thread->started) {
        return CS_E_STATE;
    }
    if (pthread_join(thread->handle, NULL) != 0) {
        return CS_E_STATE;
    }
    thread->started = false;
    return CS_OK;
}

cs_status cs_mutex_init(cs_mutex *mutex)
{
    return pthread_mutex_init(&mutex->m, NULL) == 0 ? CS_OK : CS_E_NOMEM;
}

void cs_mutex_destroy(cs_mutex *mutex)
{
    pthread_mutex_destroy(&mutex->m);
}

void cs_mutex_lock(cs_mutex *mutex)
{
    pthread_mutex_lock(&mutex->m);
}

void cs_mutex_unlock(cs_mutex *mutex)
{
    pthread_mutex_unlock(&mutex->m);
}

cs_status cs_cond_init(cs_cond *cond)
{
    pthread_condattr_t attr;
    int rc;

    if (pthread_condattr_init(&attr) != 0) {
        return CS_E_NOMEM;
    }
    cond->monotonic = false;
#if CS_HAVE_PTHREAD_CONDATTR_SETCLOCK && CS_HAVE_CLOCK_MONOTONIC
    if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0) {
        cond->monotonic = true;
    }
#endif
    rc = pthread_cond_init(&cond->c, &attr);
    pthread_condattr_destroy(&attr);
    return rc == 0 ? CS_OK : CS_E_NOMEM;
}

void cs_cond_destroy(cs_cond *cond)
{
    pthread_cond_destroy(&cond->c);
}

void cs_cond_wait(cs_cond *cond, cs_mutex *mutex)
{
    pthread_cond_wait(&cond->c, &mutex->m);
}

cs_status cs_cond_timedwait(cs_cond *cond, cs_mutex *mutex, uint64_t timeout_ns)
{
    struct timespec now;
    struct timespec deadline;
    uint64_t ns;
    int rc;

#if CS_HAVE_CLOCK_MONOTONIC
    clock_gettime(cond->monotonic ? CLOCK_MONOTONIC : CLOCK_REALTIME, &now);
#else
    clock_gettime(CLOCK_REALTIME, &now);
#endif
    /* Cap at about 100 years so the deadline never overflows time_t. */
    if (timeout_ns > 100ull * 365 * 24 * 3600 * 1000000000ull) {
        timeout_ns = 100ull * 365 * 24 * 3600 * 1000000000ull;
    }
    ns = (uint64_t)now.tv_nsec + timeout_ns % 1000000000u;
    deadline.tv_sec = now.tv_sec + (time_t)(timeout_ns / 1000000000u) + (time_t)(ns / 1000000000u);
    deadline.tv_nsec = (long)(ns % 1000000000u);
    rc = pthread_cond_timedwait(&cond->c, &mutex->m, &deadline);
    return rc == ETIMEDOUT ? CS_E_TIMEOUT : CS_OK;
}

void cs_cond_signal(cs_cond *cond)
{
    pthread_cond_signal(&cond->c);
}

void cs_cond_broadcast(cs_cond *cond)
{
    pthread_cond_broadcast(&cond->c);
}
