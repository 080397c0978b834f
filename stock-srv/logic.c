/* logic.c: stock-srv's business rules, one function per RPC (pb.stock deduct
 * and deductRollback). Each runs its model call inside barrier_call(), so the
 * barrier rows and the stock change live in ONE local transaction: either
 * both commit or neither does (README, "The barrier"). That is what makes a
 * retried, duplicated, or late ("hanging") call from DTM harmless, and what
 * turns the compensation of a deduct that failed into a no-op. */
#include "logic.h"

#include <inttypes.h>
#include <stdio.h>

#include "log.h"

/* `stock`.num is an INT column: no movement can be larger. */
#define STOCK_MAX_NUM INT64_C(2147483647)

typedef struct {
    const barrier *b;
    const stock_item *s;
    uint64_t changed; /* stock rows the business code changed */
} stock_call;

/* Says in `msg` what the barrier decided when it did not run the business
 * code. Returns 1 when it skipped it. */
static int explain_skip(const barrier *b, char *msg, size_t msglen) {
    switch (b->outcome) {
    case BARRIER_NULL_COMP:
        snprintf(msg, msglen, "null compensation: the deduct never happened, nothing to give back");
        return 1;
    case BARRIER_DUPLICATE:
        snprintf(msg, msglen, "skipped by the barrier: duplicate call, or an action arriving "
                              "after its compensation");
        return 1;
    case BARRIER_RAN:
    default:
        return 0;
    }
}

/* ---- deduct -------------------------------------------------------------- */

static dtm_result deduct_in_tx(db_conn *tx, void *ud, char *msg, size_t msglen) {
    const stock_call *c = ud;
    const stock_item *s = c->s;
    /* Why FAILURE (gRPC Aborted "FAILURE") and not an error: not having the
     * goods is a final business answer. DTM reads Aborted as "this action
     * failed" and compensates the saga (cancels the order). Every other code,
     * Internal included, is read as "try again", and DTM would retry this
     * deduct forever (README, "Why FAILURE means Aborted"). */
    if (s->num <= 0 || s->num > STOCK_MAX_NUM) {
        snprintf(msg, msglen, "invalid quantity %" PRId64, s->num);
        return DTM_FAILURE;
    }
    char err[256];
    uint64_t changed = 0;
    if (stock_model_deduct(tx, s, &changed, err, sizeof err) != DB_OK) {
        /* The database may come back: ERROR, so that DTM retries. */
        snprintf(msg, msglen, "deduct stock: %s", err);
        return DTM_ERROR;
    }
    if (changed == 0) {
        /* Returning FAILURE makes barrier_call() roll back, so the barrier
         * rows of this action vanish too: its compensation will then be a
         * null compensation, and the stock is never "restored" by units that
         * were never taken. */
        snprintf(msg, msglen, "goods %" PRId64 " is unknown or has fewer than %" PRId64
                              " units in stock", s->goods_id, s->num);
        return DTM_FAILURE;
    }
    return DTM_SUCCESS;
}

dtm_result stock_logic_deduct(stock_svc *svc, barrier *b, const stock_item *s, char *msg,
                              size_t msglen) {
    stock_call c = {b, s, 0};
    dtm_result r = barrier_call(b, svc->pool, svc->acquire_timeout_ms, deduct_in_tx, &c, msg,
                                msglen);
    if (r == DTM_SUCCESS && !explain_skip(b, msg, msglen))
        snprintf(msg, msglen, "deducted %" PRId64 " of goods %" PRId64, s->num, s->goods_id);
    return r;
}

/* ---- deductRollback ------------------------------------------------------ */

static dtm_result deduct_rollback_in_tx(db_conn *tx, void *ud, char *msg, size_t msglen) {
    stock_call *c = ud;
    const stock_item *s = c->s;
    /* A compensation must eventually succeed (DTM retries it, even a
     * FAILURE). A quantity no deduct could have taken means there is
     * nothing to give back: say so in the log, and succeed. */
    if (s->num <= 0 || s->num > STOCK_MAX_NUM) {
        log_warn(c->b->gid, "deductRollback: quantity %" PRId64 " of goods %" PRId64
                            " cannot have been deducted; nothing restored", s->num, s->goods_id);
        return DTM_SUCCESS;
    }
    char err[256];
    if (stock_model_restore(tx, s, &c->changed, err, sizeof err) != DB_OK) {
        snprintf(msg, msglen, "restore stock: %s", err);
        return DTM_ERROR;
    }
    if (c->changed == 0)
        log_warn(c->b->gid, "deductRollback: goods %" PRId64 " no longer exists; nothing restored",
                 s->goods_id);
    return DTM_SUCCESS;
}

dtm_result stock_logic_deduct_rollback(stock_svc *svc, barrier *b, const stock_item *s,
                                       char *msg, size_t msglen) {
    stock_call c = {b, s, 0};
    dtm_result r = barrier_call(b, svc->pool, svc->acquire_timeout_ms, deduct_rollback_in_tx,
                                &c, msg, msglen);
    if (r == DTM_SUCCESS && !explain_skip(b, msg, msglen)) {
        if (c.changed)
            snprintf(msg, msglen, "restored %" PRId64 " of goods %" PRId64, s->num, s->goods_id);
        else
            snprintf(msg, msglen, "nothing to restore");
    }
    return r;
}
