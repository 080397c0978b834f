/* test_saga.c: the saga state machine (dtm/saga.c) alone, with a fake branch
 * caller that records the order of the calls and answers from a script. What
 * it proves is what DTM users observe: the order of branch calls, the branch
 * and global statuses, the rollback reason, and what a round asks its driver
 * to do (store "aborting" before compensating, back off on errors). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "saga.h"
#include "trans.h"

/* ---- the fake caller ---- */

#define FAKE_MAX 64

typedef struct {
    char key[200];         /* "02/action" */
    dtm_result seq[8];     /* answers, in order; then SUCCESS */
    int n, used;
} fake_rule;

typedef struct {
    pthread_mutex_t mu;
    fake_rule rules[16];
    int nrules;
    char calls[FAKE_MAX][200]; /* "01/action", in call order */
    int ncalls;
    int inflight, max_inflight;
    int delay_ms;            /* each call sleeps this long (to see overlap) */
} fake;

static void fake_init(fake *f) {
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
}

/* Scripts the next answers of "<branch_id>/<op>". */
static void fake_script(fake *f, const char *key, int n, const dtm_result *seq) {
    fake_rule *r = &f->rules[f->nrules++];
    snprintf(r->key, sizeof r->key, "%s", key);
    memcpy(r->seq, seq, (size_t)n * sizeof *seq);
    r->n = n;
}

static void fake_reset_calls(fake *f) { f->ncalls = 0; }

static dtm_result fake_call(void *ud, const trans_global *t, const trans_branch *b, char *msg,
                            size_t msglen) {
    fake *f = ud;
    char key[200];
    snprintf(key, sizeof key, "%s/%s", b->branch_id, b->op);
    dtm_result r = DTM_SUCCESS;
    pthread_mutex_lock(&f->mu);
    if (f->ncalls < FAKE_MAX) snprintf(f->calls[f->ncalls++], sizeof f->calls[0], "%s", key);
    for (int i = 0; i < f->nrules; i++)
        if (strcmp(f->rules[i].key, key) == 0 && f->rules[i].used < f->rules[i].n) {
            r = f->rules[i].seq[f->rules[i].used++];
            break;
        }
    if (++f->inflight > f->max_inflight) f->max_inflight = f->inflight;
    pthread_mutex_unlock(&f->mu);
    if (f->delay_ms) {
        struct timespec ts = {0, (long)f->delay_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&f->mu);
    f->inflight--;
    pthread_mutex_unlock(&f->mu);
    if (r == DTM_FAILURE) snprintf(msg, msglen, "url:%s return failed: FAILURE FAILURE", b->url);
    else if (r == DTM_ERROR) snprintf(msg, msglen, "url:%s grpc status 14: unavailable", b->url);
    else if (r == DTM_ONGOING) snprintf(msg, msglen, "url:%s return ongoing", b->url);
    (void)t;
    return r;
}

/* "01/action 02/action" */
static const char *fake_order(fake *f, char *buf, size_t len) {
    size_t pos = 0;
    buf[0] = '\0';
    for (int i = 0; i < f->ncalls && pos < len; i++)
        pos += (size_t)snprintf(buf + pos, len - pos, "%s%s", i ? " " : "", f->calls[i]);
    return buf;
}

/* ---- building sagas ---- */

/* A submitted saga of n steps "h:1/busi.Busi/S<i>" with compensations
 * "h:1/busi.Busi/S<i>Revert"; custom is custom_data (may be NULL). */
static trans_global *make_saga(const char *gid, size_t n, const char *custom) {
    trans_global *t = trans_new(gid, "saga");
    snprintf(t->status, sizeof t->status, "%s", TS_SUBMITTED);
    snprintf(t->protocol, sizeof t->protocol, "grpc");
    char acts[8][64], comps[8][64];
    const char *a[8], *c[8];
    const uint8_t *p[8];
    size_t pl[8];
    for (size_t i = 0; i < n; i++) {
        snprintf(acts[i], sizeof acts[i], "127.0.0.1:1/busi.Busi/S%zu", i + 1);
        snprintf(comps[i], sizeof comps[i], "127.0.0.1:1/busi.Busi/S%zuRevert", i + 1);
        a[i] = acts[i];
        c[i] = comps[i];
        p[i] = (const uint8_t *)"{\"amount\":30}";
        pl[i] = 13;
    }
    CHECK(trans_gen_saga_branches(t, n, a, c, p, pl) == 0);
    if (custom) {
        trans_set_text(&t->custom_data, custom);
        char err[256];
        CHECK(trans_parse_saga_custom(t, err, sizeof err) == 0);
    }
    return t;
}

static const char *st(const trans_global *t, size_t row) { return t->branches[row].status; }

#define BUDGET 10000

/* ---- the cases ---- */

static void saga_sequential_success(void) {
    h_step("saga_sequential_success");
    fake f;
    fake_init(&f);
    branch_caller c = {fake_call, &f};
    trans_global *t = make_saga("g-seq-ok", 2, NULL);
    size_t idx[8];
    CHECK_EQ_INT(saga_runnable_actions(t, idx, 8), 1);
    CHECK_EQ_INT(idx[0], 1);
    char msg[256], buf[512];
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_DONE);
    CHECK_EQ_STR(t->status, TS_SUCCEED);
    CHECK_EQ_STR(fake_order(&f, buf, sizeof buf), "01/action 02/action");
    CHECK_EQ_STR(st(t, 1), TS_SUCCEED);
    CHECK_EQ_STR(st(t, 3), TS_SUCCEED);
    /* Compensations are untouched when the saga succeeds (as DTM). */
    CHECK_EQ_STR(st(t, 0), TS_PREPARED);
    CHECK_EQ_STR(st(t, 2), TS_PREPARED);
    CHECK(t->branches[1].dirty && t->branches[3].dirty);
    CHECK(!t->branches[0].dirty && !t->branches[2].dirty);
    trans_free(t);
}

static void saga_compensates_in_reverse(void) {
    h_step("saga_compensates_in_reverse");
    fake f;
    fake_init(&f);
    dtm_result fail[] = {DTM_FAILURE};
    fake_script(&f, "02/action", 1, fail);
    branch_caller c = {fake_call, &f};
    trans_global *t = make_saga("g-seq-fail", 2, NULL);
    char msg[256], buf[512];
    /* The turn to aborting comes back BEFORE any compensation runs, so the
     * driver stores it first (crash safety). */
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_ABORTING);
    CHECK_EQ_STR(t->status, TS_ABORTING);
    CHECK_EQ_STR(fake_order(&f, buf, sizeof buf), "01/action 02/action");
    CHECK_EQ_STR(t->rollback_reason, "url:127.0.0.1:1/busi.Busi/S2 return failed: FAILURE FAILURE");
    CHECK_EQ_STR(st(t, 3), TS_FAILED);
    CHECK(t->branches[3].dirty);
    size_t idx[8];
    CHECK_EQ_INT(saga_runnable_compensations(t, idx, 8), 1);
    CHECK_EQ_INT(idx[0], 2); /* 02/compensate first */

    fake_reset_calls(&f);
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_DONE);
    CHECK_EQ_STR(t->status, TS_FAILED);
    CHECK_EQ_STR(fake_order(&f, buf, sizeof buf), "02/compensate 01/compensate");
    /* Branch statuses as DTM leaves them. */
    CHECK_EQ_STR(st(t, 1), TS_SUCCEED);  /* 01/action */
    CHECK_EQ_STR(st(t, 3), TS_FAILED);   /* 02/action */
    CHECK_EQ_STR(st(t, 2), TS_SUCCEED);  /* 02/compensate */
    CHECK_EQ_STR(st(t, 0), TS_SUCCEED);  /* 01/compensate */
    trans_free(t);
}

static void saga_skips_steps_after_failure(void) {
    h_step("saga_skips_steps_after_failure");
    fake f;
    fake_init(&f);
    dtm_result fail[] = {DTM_FAILURE};
    fake_script(&f, "02/action", 1, fail);
    branch_caller c = {fake_call, &f};
    trans_global *t = make_saga("g-3-fail", 3, NULL);
    char msg[256], buf[512];
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_ABORTING);
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_DONE);
    CHECK_EQ_STR(t->status, TS_FAILED);
    CHECK_EQ_STR(fake_order(&f, buf, sizeof buf),
                 "01/action 02/action 02/compensate 01/compensate");
    CHECK_EQ_STR(st(t, 5), TS_PREPARED); /* 03/action never called */
    CHECK_EQ_STR(st(t, 4), TS_PREPARED); /* 03/compensate never called */
    trans_free(t);
}

static void saga_compensation_error_resumes(void) {
    h_step("saga_compensation_error_resumes");
    fake f;
    fake_init(&f);
    dtm_result fail[] = {DTM_FAILURE};
    dtm_result err[] = {DTM_ERROR};
    dtm_result refuse[] = {DTM_FAILURE};
    fake_script(&f, "02/action", 1, fail);
    fake_script(&f, "01/compensate", 1, err);
    fake_script(&f, "01/compensate", 1, refuse); /* next time: FAILURE, retried too */
    branch_caller c = {fake_call, &f};
    trans_global *t = make_saga("g-comp-err", 2, NULL);
    char msg[256], buf[512];
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_ABORTING);
    fake_reset_calls(&f);
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_RETRY);
    CHECK_EQ_STR(t->status, TS_ABORTING);
    CHECK(strstr(msg, "S1Revert") != NULL);
    CHECK_EQ_STR(fake_order(&f, buf, sizeof buf), "02/compensate 01/compensate");
    CHECK_EQ_STR(st(t, 2), TS_SUCCEED);
    CHECK_EQ_STR(st(t, 0), TS_PREPARED);

    /* A compensation that answers FAILURE is retried, as DTM does. */
    fake_reset_calls(&f);
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_RETRY);
    CHECK_EQ_STR(fake_order(&f, buf, sizeof buf), "01/compensate");
    CHECK_EQ_STR(st(t, 0), TS_PREPARED);

    /* The next round does not run the succeeded compensation again. */
    fake_reset_calls(&f);
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_DONE);
    CHECK_EQ_STR(fake_order(&f, buf, sizeof buf), "01/compensate");
    CHECK_EQ_STR(t->status, TS_FAILED);
    CHECK_EQ_STR(st(t, 0), TS_SUCCEED);
    trans_free(t);
}

static int call_pos(fake *f, const char *key) {
    for (int i = 0; i < f->ncalls; i++)
        if (strcmp(f->calls[i], key) == 0) return i;
    return -1;
}

static void saga_concurrent_orders(void) {
    h_step("saga_concurrent_orders");
    fake f;
    fake_init(&f);
    f.delay_ms = 150;
    dtm_result fail[] = {DTM_FAILURE};
    fake_script(&f, "03/action", 1, fail);
    branch_caller c = {fake_call, &f};
    trans_global *t = make_saga("g-conc", 3, "{\"concurrent\":true,\"orders\":{\"2\":[0,1]}}");
    CHECK(t->opts.concurrent);
    size_t idx[8];
    CHECK_EQ_INT(saga_runnable_actions(t, idx, 8), 2); /* steps 0 and 1 together */
    CHECK_EQ_INT(idx[0], 1);
    CHECK_EQ_INT(idx[1], 3);
    char msg[256];
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_ABORTING);
    CHECK_EQ_INT(f.ncalls, 3);
    CHECK_EQ_INT(f.max_inflight, 2); /* 01 and 02 ran at the same time */
    CHECK_EQ_INT(call_pos(&f, "03/action"), 2);

    /* Step 2 depends on 0 and 1, so it is compensated first. */
    CHECK_EQ_INT(saga_runnable_compensations(t, idx, 8), 1);
    CHECK_EQ_INT(idx[0], 4);
    fake_reset_calls(&f);
    f.max_inflight = 0;
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_DONE);
    CHECK_EQ_STR(t->status, TS_FAILED);
    CHECK_EQ_INT(f.ncalls, 3);
    CHECK_EQ_INT(call_pos(&f, "03/compensate"), 0);
    CHECK(call_pos(&f, "01/compensate") > 0 && call_pos(&f, "02/compensate") > 0);
    CHECK_EQ_INT(f.max_inflight, 2);
    trans_free(t);
}

static void saga_action_error_then_timeout(void) {
    h_step("saga_action_error_then_timeout");
    fake f;
    fake_init(&f);
    dtm_result err[] = {DTM_ERROR};
    fake_script(&f, "01/action", 1, err);
    branch_caller c = {fake_call, &f};
    trans_global *t = make_saga("g-err-timeout", 2, NULL);
    t->opts.timeout_to_fail = 5;
    char msg[256], buf[512];
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_RETRY);
    CHECK_EQ_STR(t->status, TS_SUBMITTED);
    CHECK(strstr(msg, "busi.Busi/S1") != NULL);
    CHECK_EQ_STR(fake_order(&f, buf, sizeof buf), "01/action");
    CHECK_EQ_STR(st(t, 1), TS_PREPARED);

    /* Later (as the cron loads it) the saga is past its TimeoutToFail. */
    t->age_s = 6;
    fake_reset_calls(&f);
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_ABORTING);
    CHECK_EQ_STR(t->rollback_reason, "Timeout after 5 seconds");
    CHECK_EQ_INT(f.ncalls, 0);
    /* 01/action may have run (its answer was lost): it is compensated; 02
     * never became runnable: it is not. */
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_DONE);
    CHECK_EQ_STR(t->status, TS_FAILED);
    CHECK_EQ_STR(fake_order(&f, buf, sizeof buf), "01/compensate");
    CHECK_EQ_STR(st(t, 2), TS_PREPARED);
    trans_free(t);
}

static void saga_empty_url_is_success(void) {
    h_step("saga_empty_url_is_success");
    fake f;
    fake_init(&f);
    branch_caller c = {fake_call, &f};
    trans_global *t = make_saga("g-empty", 2, NULL);
    free(t->branches[1].url);
    t->branches[1].url = strdup(""); /* 01/action has nothing to call */
    char msg[256], buf[512];
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_DONE);
    CHECK_EQ_STR(t->status, TS_SUCCEED);
    CHECK_EQ_STR(fake_order(&f, buf, sizeof buf), "02/action");
    CHECK_EQ_STR(st(t, 1), TS_SUCCEED);
    trans_free(t);
}

static void saga_timeout_to_fail(void) {
    h_step("saga_timeout_to_fail");
    fake f;
    fake_init(&f);
    branch_caller c = {fake_call, &f};
    trans_global *t = make_saga("g-timeout", 2, NULL);
    t->opts.timeout_to_fail = 3;
    t->age_s = 3;
    char msg[256], buf[512];
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_ABORTING);
    CHECK_EQ_STR(t->rollback_reason, "Timeout after 3 seconds");
    CHECK_EQ_INT(f.ncalls, 0);
    /* Step 1's action was runnable, so it may have been sent: DTM
     * compensates it (the barrier turns it into a null compensation). */
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_DONE);
    CHECK_EQ_STR(t->status, TS_FAILED);
    CHECK_EQ_STR(fake_order(&f, buf, sizeof buf), "01/compensate");
    trans_free(t);

    /* Without TimeoutToFail a saga never times out. */
    fake_reset_calls(&f);
    t = make_saga("g-no-timeout", 1, NULL);
    t->age_s = 100000;
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_DONE);
    CHECK_EQ_STR(t->status, TS_SUCCEED);
    trans_free(t);
}

static void saga_retry_limit_and_ongoing(void) {
    h_step("saga_retry_limit_and_ongoing");
    fake f;
    fake_init(&f);
    dtm_result err[] = {DTM_ERROR, DTM_ONGOING, DTM_ERROR};
    fake_script(&f, "01/action", 3, err);
    branch_caller c = {fake_call, &f};
    trans_global *t = make_saga("g-limit", 1, NULL);
    t->opts.retry_limit = 2;
    char msg[256];
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_RETRY);
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_ONGOING);
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_ABORTING);
    CHECK_EQ_STR(t->rollback_reason, "RetryCount is greater than RetryLimit, RetryLimit: 2");
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_DONE);
    CHECK_EQ_STR(t->status, TS_FAILED);
    trans_free(t);

    /* A round out of budget stops and says "come back". */
    t = make_saga("g-budget", 2, NULL);
    fake_reset_calls(&f);
    CHECK_EQ_INT(saga_round(t, &c, 0, msg, sizeof msg), SAGA_ONGOING);
    CHECK_EQ_INT(f.ncalls, 0);
    CHECK_EQ_STR(t->status, TS_SUBMITTED);
    trans_free(t);
}

/* A saga loaded after a crash with a stored failed action but status still
 * submitted turns aborting without calling anything (DTM: "fail message
 * lost"). */
static void saga_reload_with_failed_action(void) {
    h_step("saga_reload_with_failed_action");
    fake f;
    fake_init(&f);
    branch_caller c = {fake_call, &f};
    trans_global *t = make_saga("g-reload", 2, NULL);
    snprintf(t->branches[1].status, sizeof t->branches[1].status, "%s", TS_SUCCEED);
    snprintf(t->branches[3].status, sizeof t->branches[3].status, "%s", TS_FAILED);
    char msg[256], buf[512];
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_ABORTING);
    CHECK_EQ_STR(t->rollback_reason, "fail message lost");
    CHECK_EQ_INT(saga_round(t, &c, BUDGET, msg, sizeof msg), SAGA_DONE);
    CHECK_EQ_STR(fake_order(&f, buf, sizeof buf), "02/compensate 01/compensate");
    trans_free(t);
}

int main(void) {
    saga_sequential_success();
    saga_compensates_in_reverse();
    saga_skips_steps_after_failure();
    saga_compensation_error_resumes();
    saga_concurrent_orders();
    saga_action_error_then_timeout();
    saga_empty_url_is_success();
    saga_timeout_to_fail();
    saga_retry_limit_and_ongoing();
    saga_reload_with_failed_action();
    return h_finish("test_saga");
}
