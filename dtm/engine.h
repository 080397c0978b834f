/* engine.h: drives transactions: runs saga rounds and stores their outcome,
 * inline (WaitResult) or on a bounded pool of background workers. It sits
 * between the API surfaces (which never touch the store or the network) and
 * the saga state machine, the branch caller and the store.
 *
 * Commits per saga: store_save_new (1), then one store_save_progress per
 * status change: a 2-branch saga that succeeds costs 2 commits; one that
 * compensates costs 3 (submitted -> aborting is stored before any
 * compensation runs). Those are the commits of a saga written alone: the
 * store shares one commit among concurrent sagas' writes (store_batch.c).
 * A failed branch call stores progress with a doubled
 * cron interval (backoff, never a hot loop) and leaves the rest to the cron. */
#ifndef CDTM_ENGINE_H
#define CDTM_ENGINE_H

#include <stddef.h>

#include "caller.h"
#include "result.h"
#include "store.h"
#include "trans.h"

typedef struct {
    int retry_interval_s;     /* RetryInterval: base cron interval (DTM: 10) */
    int retry_interval_max_s; /* cap of the doubled interval (cdtm: 3600) */
    int request_timeout_s;    /* RequestTimeout (DTM: 3) */
    int timeout_to_fail_s;    /* TimeoutToFail for prepared tcc/xa/msg (DTM: 35) */
    int workers;              /* background worker threads */
    int queue_max;            /* background queue bound; beyond it, the cron takes over */
} engine_config;

typedef struct engine engine;

/* The store and caller are borrowed, and must outlive the engine. */
engine *engine_new(store *s, branch_caller c, const engine_config *cfg);

/* Stops taking work, lets queued and running rounds finish (up to grace_ms),
 * joins the workers, frees. Anything unfinished is left to the cron. */
void engine_free(engine *e, int grace_ms);

/* The base retry interval of t (dtm-protocol.md §4 "Retry policy"). */
int64_t engine_base_interval(const engine *e, const trans_global *t);

/* The longest one round of t may take: RequestTimeout + 2 s, as DTM. */
int64_t engine_round_secs(const engine *e, const trans_global *t);

/* How far ahead next_cron_time must be while a round of t runs, so that no
 * cron (of this coordinator or another) starts a second round of it: its
 * base interval, or its round when that is longer. DTM takes the interval
 * alone, so a transaction whose own RequestTimeout outlasts its
 * RetryInterval is run twice at once there. */
int64_t engine_lease_secs(const engine *e, const trans_global *t);

/* Processes t (status submitted or aborting), taking ownership of it.
 * wait = 0: queues it and returns DTM_SUCCESS at once.
 * wait = 1: runs rounds inline until final or until a branch must be retried
 * later, stores the outcome, and returns DTM_SUCCESS if it ended succeed;
 * DTM_FAILURE with `msg` = the rollback reason (or the branch error) if not
 * (DTM PR #322); DTM_ONGOING when another coordinator moved the transaction
 * meanwhile (STORE_CONFLICT: this copy is dropped) or a saga is still only
 * prepared; DTM_ERROR if the store failed. */
dtm_result engine_process(engine *e, trans_global *t, int wait, char *msg, size_t msglen);

#endif
