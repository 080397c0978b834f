/* engine.c: runs saga rounds and stores what they changed (engine.h).
 *
 * engine_run() is the one loop every transaction goes through, whether a
 * client waits for it (WaitResult), a background worker runs it, or the cron
 * resumes it after a crash or a backoff:
 *
 *   round -> ABORTING: store submitted -> aborting (with the branch statuses
 *                      known so far) BEFORE any compensation runs, then run
 *                      the compensation round (README, "Crash safety");
 *         -> DONE:     store the final status and the dirty branches, with the
 *                      cron interval back to its base;
 *         -> RETRY:    a branch answered an error: store the progress with the
 *                      cron interval doubled (capped), and let the cron come
 *                      back then, never a hot loop (DTM #306);
 *         -> ONGOING:  store the progress, same interval.
 *
 * Every store write is conditional on the status this process last saw; a
 * STORE_CONFLICT means another coordinator moved the transaction, so this
 * copy is dropped (its branch calls were idempotent through the barrier). */
#include "engine.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "saga.h"

#define ENGINE_MSG_MAX 1024

struct engine {
    store *s;              /* borrowed */
    branch_caller c;
    engine_config cfg;

    pthread_mutex_t mu;    /* guards everything below */
    pthread_cond_t work;   /* the queue got an item, or stopping */
    pthread_cond_t idle;   /* a worker finished an item */
    trans_global **queue;  /* ring of queue_max entries */
    size_t qhead, qlen;
    int running;           /* rounds being run by workers */
    int stopping;          /* no new work; workers drain, then exit */
    int abandon;           /* grace passed: workers leave the queue to the cron */
    pthread_t *threads;
    int nthreads;
};

/* ---- configuration ---- */

static void engine_copy(char *dst, size_t dstlen, const char *src) {
    if (dst && dstlen) snprintf(dst, dstlen, "%s", src ? src : "");
}

int64_t engine_base_interval(const engine *e, const trans_global *t) {
    /* dtm-protocol.md §4 "Retry policy": the trans's RetryInterval; else its
     * TimeoutToFail when shorter than the config's RetryInterval; else the
     * config's RetryInterval. */
    if (t->opts.retry_interval > 0) return t->opts.retry_interval;
    if (t->opts.timeout_to_fail > 0 && t->opts.timeout_to_fail < e->cfg.retry_interval_s)
        return t->opts.timeout_to_fail;
    return e->cfg.retry_interval_s;
}

int64_t engine_round_secs(const engine *e, const trans_global *t) {
    /* DTM bounds a round by RequestTimeout + 2 s. */
    int64_t rt = t->opts.request_timeout > 0 ? t->opts.request_timeout : e->cfg.request_timeout_s;
    if (rt > 3600) rt = 3600;
    return rt + 2;
}

int64_t engine_lease_secs(const engine *e, const trans_global *t) {
    int64_t base = engine_base_interval(e, t), round = engine_round_secs(e, t);
    return base > round ? base : round;
}

static long engine_budget_ms(const engine *e, const trans_global *t) {
    return (long)engine_round_secs(e, t) * 1000;
}

/* ---- the round loop ---- */

/* Stores the progress of t, expecting `old` in the store. Returns 0 when
 * stored; otherwise fills msg and returns the result engine_run must give:
 * ONGOING for a conflict (another coordinator has it), ERROR for a store
 * failure (the cron replays the round later). */
static int engine_save(engine *e, trans_global *t, const char *old, int64_t interval, int64_t delay,
                       dtm_result *res, char *msg, size_t msglen) {
    char err[512] = "";
    store_rc rc = store_save_progress(e->s, t, old, interval, delay, err, sizeof err);
    if (rc == STORE_OK) {
        t->next_cron_interval = interval;
        return 0;
    }
    if (rc == STORE_CONFLICT) {
        log_warn(t->gid, "saga %s -> %s not stored: the transaction was moved by another process; "
                         "dropping this copy", old, t->status);
        if (msg && msglen)
            snprintf(msg, msglen, "gid %s: the transaction is being processed elsewhere", t->gid);
        *res = DTM_ONGOING;
    } else {
        log_error(t->gid, "saga %s -> %s not stored: %s (the cron will replay it)", old, t->status, err);
        if (msg && msglen) snprintf(msg, msglen, "gid %s: store error: %s", t->gid, err);
        *res = DTM_ERROR;
    }
    return -1;
}

/* Runs t until it is final or must wait for the cron. Does not free t. */
static dtm_result engine_run(engine *e, trans_global *t, char *msg, size_t msglen) {
    engine_copy(msg, msglen, "");
    if (strcmp(t->trans_type, "saga") != 0) {
        if (msg && msglen)
            snprintf(msg, msglen, "gid %s: trans_type '%s' is not supported by cdtm yet", t->gid,
                     t->trans_type);
        return DTM_ERROR;
    }
    if (trans_is_final(t->status)) {
        if (strcmp(t->status, TS_SUCCEED) == 0) return DTM_SUCCESS;
        engine_copy(msg, msglen, t->rollback_reason);
        return DTM_FAILURE;
    }

    char old[sizeof t->status];
    snprintf(old, sizeof old, "%s", t->status); /* the status the store holds */
    int64_t base = engine_base_interval(e, t);
    long budget = engine_budget_ms(e, t);
    int64_t cur = t->next_cron_interval > 0 ? t->next_cron_interval : base;
    dtm_result res = DTM_ERROR;
    log_debug(t->gid, "saga processing, status %s", old);

    if (strcmp(t->status, TS_PREPARED) == 0) {
        /* A prepared saga waits for its submit; DTM never moves it. Each
         * look by the cron spaces the next one out, so an abandoned prepare
         * does not cost a claim every RetryInterval forever. */
        int64_t next = cur * 2 > e->cfg.retry_interval_max_s ? e->cfg.retry_interval_max_s : cur * 2;
        if (engine_save(e, t, old, next, next, &res, msg, msglen) != 0) return res;
        log_info(t->gid, "saga prepared: waiting for submit, next look in %lld s", (long long)next);
        if (msg && msglen) snprintf(msg, msglen, "gid %s: prepared, waiting for submit", t->gid);
        return DTM_ONGOING;
    }

    for (;;) {
        char bmsg[ENGINE_MSG_MAX] = "";
        int counted = t->retry_count;
        saga_outcome o = saga_round(t, &e->c, budget, bmsg, sizeof bmsg);
        /* RetryLimit: DTM retries an unfinished action at once, up to the
         * limit (saga_round counts the rounds that left one unfinished, and
         * turns the saga aborting past the limit). */
        if ((o == SAGA_RETRY || o == SAGA_ONGOING) && t->opts.retry_limit > 0 &&
            t->retry_count > counted && t->retry_count <= t->opts.retry_limit) {
            log_info(t->gid, "saga retry %d of %lld at once: %s", t->retry_count,
                     (long long)t->opts.retry_limit, bmsg);
            continue;
        }
        switch (o) {
        case SAGA_ABORTING:
            /* Crash safety: "aborting" must be on disk before the first
             * compensation can leave a barrier row. The cron should not pick
             * the trans while this process compensates, hence the delay. */
            if (engine_save(e, t, old, base, base + budget / 1000, &res, msg, msglen) != 0) return res;
            log_info(t->gid, "saga %s -> aborting stored (reason: %s)", old, t->rollback_reason);
            snprintf(old, sizeof old, "%s", TS_ABORTING);
            cur = base;
            continue;
        case SAGA_DONE:
            if (engine_save(e, t, old, base, base, &res, msg, msglen) != 0) return res;
            log_info(t->gid, "saga %s -> %s", old, t->status);
            if (strcmp(t->status, TS_SUCCEED) == 0) return DTM_SUCCESS;
            engine_copy(msg, msglen, t->rollback_reason);
            return DTM_FAILURE;
        case SAGA_RETRY: {
            int64_t next = cur * 2;
            if (next > e->cfg.retry_interval_max_s) next = e->cfg.retry_interval_max_s;
            if (next < 1) next = 1;
            if (engine_save(e, t, old, next, next, &res, msg, msglen) != 0) return res;
            log_warn(t->gid, "saga %s: branch error, next try in %lld s: %s", t->status,
                     (long long)next, bmsg);
            /* WaitResult: a round still retrying answers FAILURE (DTM PR
             * #322), with the branch error when there is no rollback reason. */
            engine_copy(msg, msglen, *t->rollback_reason ? t->rollback_reason : bmsg);
            return DTM_FAILURE;
        }
        case SAGA_ONGOING:
            if (engine_save(e, t, old, cur, cur, &res, msg, msglen) != 0) return res;
            log_info(t->gid, "saga %s: %s, next try in %lld s", t->status, bmsg, (long long)cur);
            engine_copy(msg, msglen, *t->rollback_reason ? t->rollback_reason : bmsg);
            return DTM_FAILURE;
        }
    }
}

/* ---- background workers ---- */

static void *engine_worker(void *arg) {
    engine *e = arg;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        while (e->qlen == 0 && !e->stopping) pthread_cond_wait(&e->work, &e->mu);
        if (e->qlen == 0 || e->abandon) break;
        trans_global *t = e->queue[e->qhead];
        e->qhead = (e->qhead + 1) % (size_t)e->cfg.queue_max;
        e->qlen--;
        e->running++;
        pthread_mutex_unlock(&e->mu);

        char msg[ENGINE_MSG_MAX];
        engine_run(e, t, msg, sizeof msg);
        trans_free(t);

        pthread_mutex_lock(&e->mu);
        e->running--;
        pthread_cond_broadcast(&e->idle);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

engine *engine_new(store *s, branch_caller c, const engine_config *cfg) {
    engine *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->s = s;
    e->c = c;
    e->cfg = *cfg;
    if (e->cfg.retry_interval_s < 1) e->cfg.retry_interval_s = 10;
    if (e->cfg.retry_interval_max_s < e->cfg.retry_interval_s) e->cfg.retry_interval_max_s = 3600;
    if (e->cfg.request_timeout_s < 1) e->cfg.request_timeout_s = 3;
    if (e->cfg.workers < 1) e->cfg.workers = 1;
    if (e->cfg.workers > 256) e->cfg.workers = 256;
    if (e->cfg.queue_max < 1) e->cfg.queue_max = 1024;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->work, NULL);
    pthread_cond_init(&e->idle, NULL);
    e->queue = calloc((size_t)e->cfg.queue_max, sizeof *e->queue);
    e->threads = calloc((size_t)e->cfg.workers, sizeof *e->threads);
    if (!e->queue || !e->threads) {
        engine_free(e, 0);
        return NULL;
    }
    for (int i = 0; i < e->cfg.workers; i++) {
        if (pthread_create(&e->threads[e->nthreads], NULL, engine_worker, e) != 0) break;
        e->nthreads++;
    }
    if (e->nthreads == 0) {
        engine_free(e, 0);
        return NULL;
    }
    return e;
}

void engine_free(engine *e, int grace_ms) {
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    e->stopping = 1;
    pthread_cond_broadcast(&e->work);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += grace_ms / 1000;
    until.tv_nsec += (long)(grace_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while ((e->qlen > 0 || e->running > 0) &&
           pthread_cond_timedwait(&e->idle, &e->mu, &until) == 0) {
    }
    /* What is still queued is stored already: the cron finishes it. Running
     * rounds are bounded by their budget; the join below waits for them. */
    e->abandon = 1;
    pthread_cond_broadcast(&e->work);
    pthread_mutex_unlock(&e->mu);
    for (int i = 0; i < e->nthreads; i++) pthread_join(e->threads[i], NULL);
    if (e->queue) {
        for (size_t k = 0; k < e->qlen; k++) {
            trans_global *t = e->queue[(e->qhead + k) % (size_t)e->cfg.queue_max];
            log_info(t->gid, "engine stopping: left to the cron");
            trans_free(t);
        }
    }
    free(e->queue);
    free(e->threads);
    pthread_cond_destroy(&e->work);
    pthread_cond_destroy(&e->idle);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

dtm_result engine_process(engine *e, trans_global *t, int wait, char *msg, size_t msglen) {
    engine_copy(msg, msglen, "");
    if (wait) {
        dtm_result r = engine_run(e, t, msg, msglen);
        trans_free(t);
        return r;
    }
    pthread_mutex_lock(&e->mu);
    int queued = 0;
    if (!e->stopping && e->qlen < (size_t)e->cfg.queue_max) {
        e->queue[(e->qhead + e->qlen) % (size_t)e->cfg.queue_max] = t;
        e->qlen++;
        queued = 1;
        pthread_cond_signal(&e->work);
    }
    pthread_mutex_unlock(&e->mu);
    if (!queued) {
        /* The trans is stored; its next_cron_time brings it back. */
        log_warn(t->gid, "engine queue full (or stopping): left to the cron");
        trans_free(t);
    }
    return DTM_SUCCESS;
}
