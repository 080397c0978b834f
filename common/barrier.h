/* barrier.h: DTM's sub-transaction barrier (dtm-protocol.md §5; README,
 * "The barrier").
 *
 * A branch handler builds one barrier per request from the dtm-* metadata,
 * then runs its business SQL through barrier_call(). Inside ONE local
 * transaction the barrier inserts, with INSERT IGNORE,
 *   1. a row for the origin op (action for compensate, try for cancel,
 *      action for rollback; nothing for other ops), then
 *   2. a row for the current op,
 * and decides from the affected-row counts:
 *   - compensate whose origin insert affected 1 row: the action never ran, so
 *     this is a NULL COMPENSATION: skip the business code, answer success. The
 *     row it left blocks the action if it arrives late (HANGING prevented);
 *   - current insert affected 0 rows: a DUPLICATE or a hanging request: skip,
 *     answer success;
 *   - otherwise run the business callback in the same transaction.
 * The callback's failure rolls back the barrier rows together with the
 * business SQL, so a failed action leaves no trace and its compensation later
 * becomes a null compensation. */
#ifndef CDTM_BARRIER_H
#define CDTM_BARRIER_H

#include <stddef.h>

#include "db.h"
#include "result.h"

/* Why barrier_call() did not run the business callback (or did). */
typedef enum {
    BARRIER_RAN = 0,        /* the callback ran */
    BARRIER_NULL_COMP,      /* compensation of an action that never ran */
    BARRIER_DUPLICATE,      /* repeated or hanging request */
} barrier_outcome;

typedef struct {
    char trans_type[46];
    char gid[129];
    char branch_id[129];
    char op[46];
    int barrier_id;           /* counter: each barrier_call() uses the next, "01", "02"... */
    barrier_outcome outcome;  /* set by the last barrier_call() */
} barrier;

/* Fills *b from the four dtm-* values. Returns 0, or -1 with `err` set to
 * "invalid trans info: missing dtm-gid" (or the field that is empty or too
 * long) when any is NULL, empty or longer than its column. */
int barrier_init(barrier *b, const char *trans_type, const char *gid,
                 const char *branch_id, const char *op, char *err, size_t errlen);

/* Sets the barrier table, "db.table" or "table" (default
 * "dtm_barrier.barrier"). Only [A-Za-z0-9_-] names are accepted: returns 0, or
 * -1 and keeps the old name. Call before serving. */
int barrier_set_table(const char *name);

/* The business code run inside the barrier, on the barrier's transaction.
 * Return DTM_SUCCESS to commit; DTM_FAILURE (the action refuses: the saga
 * must compensate), DTM_ONGOING or DTM_ERROR roll everything back. `msg` is
 * filled on failure and passed back to the caller. */
typedef dtm_result (*barrier_busi_fn)(db_conn *tx, void *ud, char *msg, size_t msglen);

/* Runs the barrier protocol around fn in one transaction on a connection
 * taken from `pool` (waiting at most timeout_ms for it). Returns
 * DTM_SUCCESS when committed (b->outcome says whether fn ran), fn's result
 * when fn failed, or DTM_ERROR with `msg` filled on a database error. */
dtm_result barrier_call(barrier *b, db_pool *pool, int timeout_ms, barrier_busi_fn fn,
                        void *ud, char *msg, size_t msglen);

#endif
