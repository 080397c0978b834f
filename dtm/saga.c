/* saga.c: the saga state machine (saga.h; dtm-protocol.md §4, DTM's
 * dtmsvr/trans_type_saga.go). Pure memory: branches are reached only through
 * the branch_caller, and nothing is stored here; the engine persists what a
 * round changed.
 *
 * Positions: step i owns branch rows 2i (compensate) and 2i+1 (action).
 *
 * The planning rules, written once and used by both phases:
 *   - preds_ok(i): the steps step i waits for have succeeded (sequential: the
 *     previous action; concurrent: every step in orders[i]);
 *   - an action may START when it is prepared and preds_ok;
 *   - a step NEEDS COMPENSATION when its action is not prepared (it succeeded
 *     or failed) or when it is prepared but preds_ok: it was runnable, so it
 *     may have run (DTM's prepareToCompensate treats it as succeeded);
 *   - a step is ROLLED BACK when its compensation succeeded or it needs none;
 *   - a compensation may RUN when it is needed, still prepared, and every step
 *     that comes after it (sequential: the next one; concurrent: the steps
 *     that depend on it) is rolled back. Hence strictly reverse order. */
#include "saga.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mono.h"

#define SAGA_MAX_PARALLEL 16   /* branch calls in flight at once in one round */
#define SAGA_MSG_MAX 1024      /* a branch's message (rollback_reason is capped at 1024) */

/* ---- small helpers ---- */

static size_t saga_steps(const trans_global *t) { return t->n_branches / 2; }
static const trans_branch *saga_comp(const trans_global *t, size_t i) { return &t->branches[2 * i]; }
static const trans_branch *saga_act(const trans_global *t, size_t i) { return &t->branches[2 * i + 1]; }
static int saga_is(const char *status, const char *want) { return strcmp(status, want) == 0; }

/* orders[i] applies only when it was parsed for exactly these steps. */
static int saga_has_orders(const trans_global *t) {
    return t->orders && t->n_orders && t->n_steps == saga_steps(t);
}

static void saga_set_status(trans_branch *b, const char *status) {
    snprintf(b->status, sizeof b->status, "%s", status);
    b->dirty = 1;
}

/* ---- planning ---- */

static int saga_preds_ok(const trans_global *t, size_t i) {
    if (!t->opts.concurrent && i > 0 && !saga_is(saga_act(t, i - 1)->status, TS_SUCCEED)) return 0;
    if (saga_has_orders(t))
        for (size_t k = 0; k < t->n_orders[i]; k++) {
            size_t pre = t->orders[i][k];
            if (pre >= saga_steps(t) || !saga_is(saga_act(t, pre)->status, TS_SUCCEED)) return 0;
        }
    return 1;
}

static int saga_action_may_start(const trans_global *t, size_t i) {
    return saga_is(saga_act(t, i)->status, TS_PREPARED) && saga_preds_ok(t, i);
}

static int saga_needs_comp(const trans_global *t, size_t i) {
    return !saga_is(saga_act(t, i)->status, TS_PREPARED) || saga_preds_ok(t, i);
}

static int saga_rolled_back(const trans_global *t, size_t i) {
    return saga_is(saga_comp(t, i)->status, TS_SUCCEED) || !saga_needs_comp(t, i);
}

/* 1 when step k lists step i in orders[k] (k waits for i going forward, so
 * i waits for k going backward). */
static int saga_depends_on(const trans_global *t, size_t k, size_t i) {
    if (!saga_has_orders(t)) return 0;
    for (size_t j = 0; j < t->n_orders[k]; j++)
        if (t->orders[k][j] == i) return 1;
    return 0;
}

static int saga_comp_may_run(const trans_global *t, size_t i) {
    if (!saga_is(saga_comp(t, i)->status, TS_PREPARED) || !saga_needs_comp(t, i)) return 0;
    size_t n = saga_steps(t);
    if (!t->opts.concurrent && i + 1 < n && !saga_rolled_back(t, i + 1)) return 0;
    for (size_t k = 0; k < n; k++)
        if (k != i && saga_depends_on(t, k, i) && !saga_rolled_back(t, k)) return 0;
    return 1;
}

size_t saga_runnable_actions(const trans_global *t, size_t *out, size_t max) {
    size_t n = 0;
    for (size_t i = 0; i < saga_steps(t) && n < max; i++)
        if (saga_action_may_start(t, i)) out[n++] = 2 * i + 1;
    return n;
}

size_t saga_runnable_compensations(const trans_global *t, size_t *out, size_t max) {
    size_t n = 0;
    for (size_t i = saga_steps(t); i-- > 0 && n < max;)
        if (saga_comp_may_run(t, i)) out[n++] = 2 * i;
    return n;
}

/* ---- running a wave of branch calls ---- */

/* One wave: the branches picked together, called in parallel (at most
 * SAGA_MAX_PARALLEL threads), each result kept in its own slot so that the
 * statuses are applied afterwards by the round's own thread. */
typedef struct {
    const trans_global *t;
    const branch_caller *c;
    const size_t *idx;   /* branch indices */
    size_t n;
    dtm_result *res;     /* n results */
    char *msgs;          /* n messages of SAGA_MSG_MAX bytes */
    atomic_size_t next;  /* next slot to take */
} saga_wave;

static void saga_call_one(saga_wave *w, size_t slot) {
    const trans_branch *b = &w->t->branches[w->idx[slot]];
    char *msg = w->msgs + slot * SAGA_MSG_MAX;
    msg[0] = '\0';
    /* An empty URL is a step with nothing to do (dtm-protocol.md §3). */
    if (!b->url || !*b->url) {
        w->res[slot] = DTM_SUCCESS;
        return;
    }
    w->res[slot] = w->c->call(w->c->ud, w->t, b, msg, SAGA_MSG_MAX);
}

static void *saga_wave_worker(void *arg) {
    saga_wave *w = arg;
    for (;;) {
        size_t slot = atomic_fetch_add(&w->next, 1);
        if (slot >= w->n) break;
        saga_call_one(w, slot);
    }
    return NULL;
}

/* Calls every branch of the wave and waits for all of them. Returns 0, or -1
 * when memory ran out (nothing was called then). */
static int saga_run_wave(saga_wave *w) {
    w->res = calloc(w->n, sizeof *w->res);
    w->msgs = calloc(w->n, SAGA_MSG_MAX);
    if (!w->res || !w->msgs) return -1;
    atomic_init(&w->next, 0);
    pthread_t th[SAGA_MAX_PARALLEL - 1];
    size_t started = 0;
    size_t want = w->n < SAGA_MAX_PARALLEL ? w->n : SAGA_MAX_PARALLEL;
    /* This thread is one of the workers; if a thread cannot be created the
     * others simply take more calls each. */
    for (size_t k = 1; k < want; k++) {
        if (pthread_create(&th[started], NULL, saga_wave_worker, w) != 0) break;
        started++;
    }
    saga_wave_worker(w);
    for (size_t k = 0; k < started; k++) pthread_join(th[k], NULL);
    return 0;
}

static void saga_wave_free(saga_wave *w) {
    free(w->res);
    free(w->msgs);
    w->res = NULL;
    w->msgs = NULL;
}

/* ---- the round ---- */

static void saga_copy(char *dst, size_t dstlen, const char *src) {
    if (dst && dstlen) snprintf(dst, dstlen, "%s", src ? src : "");
}

static void saga_turn_aborting(trans_global *t, const char *reason) {
    snprintf(t->status, sizeof t->status, "%s", TS_ABORTING);
    trans_set_text(&t->rollback_reason, reason);
    log_debug(t->gid, "saga submitted -> aborting: %s", reason);
}

/* TimeoutToFail: a saga has no timeout unless it sets one. age_s counts
 * whole seconds (truncated), so ">=" means the true age reached the limit. */
static int saga_timed_out(const trans_global *t, long long round_start_ms) {
    if (t->opts.timeout_to_fail <= 0) return 0;
    long long age_ms = (long long)t->age_s * 1000 + (mono_now_ms() - round_start_ms);
    return age_ms >= (long long)t->opts.timeout_to_fail * 1000;
}

static void saga_abort_timeout(trans_global *t) {
    char reason[64];
    snprintf(reason, sizeof reason, "Timeout after %lld seconds", (long long)t->opts.timeout_to_fail);
    saga_turn_aborting(t, reason);
}

/* Outcome of a wave's results. */
typedef struct {
    int failed;                   /* an action answered FAILURE */
    int error;                    /* some branch answered ERROR (or a compensation FAILURE) */
    int ongoing;                  /* some branch answered ONGOING */
    char fail_msg[SAGA_MSG_MAX];  /* the first FAILURE's message */
    char err_msg[SAGA_MSG_MAX];   /* the last error's message */
} saga_tally;

/* Applies a wave's results to the branch statuses. `tried` marks branches
 * that were called and did not move, so that the round does not call them
 * again. */
static void saga_apply(trans_global *t, const saga_wave *w, unsigned char *tried, saga_tally *tl) {
    for (size_t k = 0; k < w->n; k++) {
        trans_branch *b = &t->branches[w->idx[k]];
        const char *msg = w->msgs + k * SAGA_MSG_MAX;
        int is_action = saga_is(b->op, OP_ACTION);
        switch (w->res[k]) {
        case DTM_SUCCESS:
            saga_set_status(b, TS_SUCCEED);
            log_debug(t->gid, "branch %s/%s succeed", b->branch_id, b->op);
            break;
        case DTM_FAILURE:
            /* Only an action can fail for good; a compensation that answers
             * FAILURE is retried like any error (DTM #332). */
            if (is_action) {
                saga_set_status(b, TS_FAILED);
                if (!tl->failed) saga_copy(tl->fail_msg, sizeof tl->fail_msg, msg);
                tl->failed = 1;
                log_info(t->gid, "branch %s/%s failed: %s", b->branch_id, b->op, msg);
                break;
            }
            /* fall through */
        case DTM_ERROR:
            tried[w->idx[k]] = 1;
            tl->error = 1;
            saga_copy(tl->err_msg, sizeof tl->err_msg, msg);
            log_warn(t->gid, "branch %s/%s %s, will be retried: %s", b->branch_id, b->op,
                     dtm_result_name(w->res[k]), msg);
            break;
        case DTM_ONGOING:
            tried[w->idx[k]] = 1;
            tl->ongoing = 1;
            log_info(t->gid, "branch %s/%s ongoing", b->branch_id, b->op);
            break;
        }
    }
}

/* Picks the branches to call next (not tried yet in this round). */
static size_t saga_pick(const trans_global *t, int backward, const unsigned char *tried, size_t *out) {
    size_t n = backward ? saga_runnable_compensations(t, out, t->n_branches)
                        : saga_runnable_actions(t, out, t->n_branches);
    size_t kept = 0;
    for (size_t k = 0; k < n; k++)
        if (!tried[out[k]]) out[kept++] = out[k];
    return kept;
}

/* Runs waves of one phase until nothing is left to call, an action failed
 * (forward), the saga timed out (forward) or the budget is spent. Returns -1
 * on out of memory, else 0; *out_of_time is set when the budget ran out. */
static int saga_run_phase(trans_global *t, const branch_caller *c, int backward, long long start_ms,
                          long budget_ms, saga_tally *tl, int *out_of_time) {
    unsigned char *tried = calloc(t->n_branches ? t->n_branches : 1, 1);
    size_t *pick = calloc(t->n_branches ? t->n_branches : 1, sizeof *pick);
    int rc = 0;
    *out_of_time = 0;
    if (!tried || !pick) rc = -1;
    while (rc == 0) {
        if (mono_now_ms() - start_ms >= budget_ms) {
            *out_of_time = 1;
            break;
        }
        size_t n = saga_pick(t, backward, tried, pick);
        if (n == 0) break;
        saga_wave w = {.t = t, .c = c, .idx = pick, .n = n};
        if (saga_run_wave(&w) != 0) {
            saga_wave_free(&w);
            rc = -1;
            break;
        }
        saga_apply(t, &w, tried, tl);
        saga_wave_free(&w);
        if (!backward && (tl->failed || saga_timed_out(t, start_ms))) break;
    }
    free(tried);
    free(pick);
    return rc;
}

static saga_outcome saga_forward(trans_global *t, const branch_caller *c, long long start_ms,
                                 long budget_ms, char *msg, size_t msglen) {
    if (saga_timed_out(t, start_ms)) {
        saga_abort_timeout(t);
        return SAGA_ABORTING;
    }
    /* An action already failed (stored by an earlier round that died before
     * turning the saga): abort without running anything else, as DTM. */
    for (size_t i = 0; i < saga_steps(t); i++)
        if (saga_is(saga_act(t, i)->status, TS_FAILED)) {
            saga_turn_aborting(t, "fail message lost");
            return SAGA_ABORTING;
        }

    saga_tally tl = {0};
    int out_of_time = 0;
    if (saga_run_phase(t, c, 0, start_ms, budget_ms, &tl, &out_of_time) != 0) {
        saga_copy(msg, msglen, "out of memory");
        return SAGA_RETRY;
    }
    if (tl.failed) {
        saga_turn_aborting(t, tl.fail_msg);
        return SAGA_ABORTING;
    }
    if (saga_timed_out(t, start_ms)) {
        saga_abort_timeout(t);
        return SAGA_ABORTING;
    }
    size_t done = 0;
    for (size_t i = 0; i < saga_steps(t); i++) done += saga_is(saga_act(t, i)->status, TS_SUCCEED);
    if (done == saga_steps(t)) {
        snprintf(t->status, sizeof t->status, "%s", TS_SUCCEED);
        return SAGA_DONE;
    }
    /* RetryLimit (DTM PRs #342/#345): each round that leaves an action
     * unfinished counts once; past the limit the saga gives up. The count
     * lives in memory only, as in DTM. */
    if ((tl.error || tl.ongoing) && t->opts.retry_limit > 0 &&
        ++t->retry_count > t->opts.retry_limit) {
        char reason[96];
        snprintf(reason, sizeof reason, "RetryCount is greater than RetryLimit, RetryLimit: %lld",
                 (long long)t->opts.retry_limit);
        saga_turn_aborting(t, reason);
        return SAGA_ABORTING;
    }
    if (tl.error) {
        saga_copy(msg, msglen, tl.err_msg);
        return SAGA_RETRY;
    }
    saga_copy(msg, msglen, out_of_time ? "round out of time" : "branch ongoing");
    return SAGA_ONGOING;
}

static saga_outcome saga_backward(trans_global *t, const branch_caller *c, long long start_ms,
                                  long budget_ms, char *msg, size_t msglen) {
    saga_tally tl = {0};
    int out_of_time = 0;
    if (saga_run_phase(t, c, 1, start_ms, budget_ms, &tl, &out_of_time) != 0) {
        saga_copy(msg, msglen, "out of memory");
        return SAGA_RETRY;
    }
    size_t done = 0;
    for (size_t i = 0; i < saga_steps(t); i++) done += saga_rolled_back(t, i);
    if (done == saga_steps(t)) {
        snprintf(t->status, sizeof t->status, "%s", TS_FAILED);
        return SAGA_DONE;
    }
    if (tl.error) {
        saga_copy(msg, msglen, tl.err_msg);
        return SAGA_RETRY;
    }
    saga_copy(msg, msglen, out_of_time ? "round out of time" : "compensation ongoing");
    return SAGA_ONGOING;
}

saga_outcome saga_round(trans_global *t, const branch_caller *c, long budget_ms, char *msg,
                        size_t msglen) {
    saga_copy(msg, msglen, "");
    long long start_ms = mono_now_ms();
    if (saga_is(t->status, TS_SUBMITTED)) return saga_forward(t, c, start_ms, budget_ms, msg, msglen);
    if (saga_is(t->status, TS_ABORTING)) return saga_backward(t, c, start_ms, budget_ms, msg, msglen);
    if (trans_is_final(t->status)) return SAGA_DONE;
    if (msg && msglen) snprintf(msg, msglen, "gid %s: a saga in status '%s' cannot be processed",
                                t->gid, t->status);
    return SAGA_RETRY;
}
