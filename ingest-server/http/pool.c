/* SPDX-License-Identifier: Apache-2.0 */
/* The worker pool: a few cs_threads that run blocking jobs (disk, SQLite) in submission order
 * and report each completion to the loop thread through the server's post queue, reusing the
 * job's own node so that reporting cannot fail for lack of memory. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "http_int.h"

/* The job the calling worker thread is running (for cs_http_job_defer). */
static _Thread_local struct csi_job *current_job;

static void post_done(struct csi_pool *p, struct csi_job *j)
{
    if (j->done != NULL) {
        j->post.fn = j->done;
        j->post.arg = j->arg;
        csi_server_post_node(p->srv, &j->post); /* the node is freed by the loop */
    } else {
        cs_freep(p->srv->a, &j);
    }
}

cs_http_job *cs_http_job_defer(void)
{
    struct csi_job *j = current_job;
    if (j == NULL || j->deferred) {
        return NULL;
    }
    j->deferred = true;
    return j;
}

/* Exactly one of the worker (when the job returns) and this call posts `done`: whichever comes
 * second, so `done` runs only after both, and nothing touches the job after its post. */
void cs_http_job_complete(cs_http_job *j)
{
    if (j == NULL) {
        return;
    }
    if (atomic_exchange(&j->phase, CSI_JOB_COMPLETED) == CSI_JOB_RETURNED) {
        post_done(j->pool, j);
    }
}

static void worker(void *arg)
{
    struct csi_pool *p = arg;

    cs_mutex_lock(&p->mu);
    for (;;) {
        struct csi_job *j;

        while (p->head == NULL && !p->stop) {
            cs_cond_wait(&p->cv, &p->mu);
        }
        if (p->head == NULL) {
            break; /* stopping, and every queued job has run */
        }
        j = p->head;
        p->head = j->next;
        if (p->head == NULL) {
            p->tail = NULL;
        }
        cs_mutex_unlock(&p->mu);
        current_job = j;
        j->job(j->arg);
        current_job = NULL;
        if (!j->deferred || atomic_exchange(&j->phase, CSI_JOB_RETURNED) == CSI_JOB_COMPLETED) {
            post_done(p, j);
        }
        cs_mutex_lock(&p->mu);
    }
    cs_mutex_unlock(&p->mu);
}

cs_status csi_pool_start(struct csi_pool *p, cs_http_server *srv, uint32_t n)
{
    cs_status st;

    memset(p, 0, sizeof(*p));
    p->srv = srv;
    if (n == 0) {
        n = 1;
    }
    st = cs_mutex_init(&p->mu);
    if (st != CS_OK) {
        return st;
    }
    st = cs_cond_init(&p->cv);
    if (st != CS_OK) {
        cs_mutex_destroy(&p->mu);
        return st;
    }
    p->threads = cs_calloc(srv->a, n, sizeof(*p->threads));
    if (p->threads == NULL) {
        cs_cond_destroy(&p->cv);
        cs_mutex_destroy(&p->mu);
        return CS_E_NOMEM;
    }
    p->started = true;
    for (uint32_t i = 0; i < n; i++) {
        char name[32];

        snprintf(name, sizeof(name), "cs-http-w%u", (unsigned)(i % 1000u));
        st = cs_thread_create(&p->threads[i], worker, p, name);
        if (st != CS_OK) {
            csi_pool_stop(p);
            return st;
        }
        p->n_threads++;
    }
    return CS_OK;
}

cs_status csi_pool_submit(struct csi_pool *p, cs_http_loop_fn job, cs_http_loop_fn done, void *arg)
{
    struct csi_job *j = cs_calloc(p->srv->a, 1, sizeof(*j));

    if (j == NULL) {
        return CS_E_NOMEM;
    }
    j->job = job;
    j->done = done;
    j->arg = arg;
    j->pool = p;
    atomic_init(&j->phase, CSI_JOB_RUNNING);
    cs_mutex_lock(&p->mu);
    if (p->stop) {
        cs_mutex_unlock(&p->mu);
        cs_freep(p->srv->a, &j);
        return CS_E_STATE;
    }
    if (p->tail != NULL) {
        p->tail->next = j;
    } else {
        p->head = j;
    }
    p->tail = j;
    cs_cond_signal(&p->cv);
    cs_mutex_unlock(&p->mu);
    return CS_OK;
}

void csi_pool_stop(struct csi_pool *p)
{
    if (!p->started) {
        return;
    }
    cs_mutex_lock(&p->mu);
    p->stop = true;
    cs_cond_broadcast(&p->cv);
    cs_mutex_unlock(&p->mu);
    for (uint32_t i = 0; i < p->n_threads; i++) {
        cs_thread_join(&p->threads[i]);
    }
    cs_freep(p->srv->a, &p->threads);
    cs_cond_destroy(&p->cv);
    cs_mutex_destroy(&p->mu);
    p->started = false;
}
