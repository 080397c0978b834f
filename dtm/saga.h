/* saga.h: the saga state machine, in memory and free of I/O (dtm-protocol.md
 * §4). One call runs one ROUND on a loaded transaction: it calls branches
 * through a branch_caller, updates branch and global statuses in memory
 * (marking changed branches dirty), and says what the caller must persist.
 *
 * Forward (status submitted): actions run in order (sequential) or as soon as
 * the steps they depend on succeeded (concurrent, several at once). All
 * succeeded -> succeed. An action answering FAILURE -> aborting, with
 * rollback_reason. TimeoutToFail passed -> aborting "Timeout after N seconds".
 * An ERROR or ONGOING ends the round: come back later.
 *
 * Backward (status aborting): every action that may have run is compensated
 * (succeeded and failed ones, and the action that was runnable when the saga
 * turned to aborting), in strictly reverse order, or for a concurrent saga
 * after every step that depends on it. All needed compensations succeeded ->
 * failed. A compensation that does not succeed (FAILURE included) ends the
 * round and is retried later.
 *
 * The turn submitted -> aborting is reported BEFORE any compensation runs:
 * the driver must store "aborting" first, because a compensation leaves a
 * barrier row that would make a later replay of the action a no-op
 * (README, "Crash safety"). */
#ifndef CDTM_SAGA_H
#define CDTM_SAGA_H

#include <stddef.h>

#include "caller.h"
#include "trans.h"

typedef enum {
    SAGA_DONE = 0,    /* t->status is final (succeed or failed): store it */
    SAGA_ABORTING,    /* t->status just became aborting: store it, then run another round */
    SAGA_RETRY,       /* a branch answered ERROR: store progress, back off (interval doubles) */
    SAGA_ONGOING,     /* a branch answered ONGOING: store progress, retry at the same interval */
} saga_outcome;

/* Runs one round of t (status submitted or aborting) through `c`. `budget_ms`
 * bounds the round (DTM: RequestTimeout + 2 s); a round out of time returns
 * SAGA_ONGOING. Branch statuses that change are set dirty. On SAGA_RETRY,
 * `msg` holds the last branch error. */
saga_outcome saga_round(trans_global *t, const branch_caller *c, long budget_ms,
                        char *msg, size_t msglen);

/* Planning, exposed for tests: the indices (into t->branches) of the actions
 * that may start now, and of the compensations that may run now. Returns the
 * count written to out (at most max). */
size_t saga_runnable_actions(const trans_global *t, size_t *out, size_t max);
size_t saga_runnable_compensations(const trans_global *t, size_t *out, size_t max);

#endif
