/* logic.c: order-srv's business rules, one function per RPC of pb.order.
 * create and createRollback run their model call inside barrier_call(), so
 * the barrier rows and the order row live in ONE local transaction: either
 * both commit or neither does (README, "The barrier"). That is what makes a
 * retried, duplicated, or late ("hanging") call from DTM harmless. get only
 * reads, for order-api's GET /order/{gid}. */
#include "logic.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

/* `order`.num is an INT column: larger quantities cannot be stored. */
#define ORDER_MAX_NUM INT64_C(2147483647)

typedef struct {
    const barrier *b;
    const order_item *o;
    uint64_t changed; /* order rows the business code changed */
} order_call;

/* Says in the log and in `msg` what the barrier decided when it did not run
 * the business code. Returns 1 when it skipped it. */
static int explain_skip(const barrier *b, char *msg, size_t msglen) {
    switch (b->outcome) {
    case BARRIER_NULL_COMP:
        snprintf(msg, msglen, "null compensation: the action never ran here, nothing to undo");
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

/* ---- create ------------------------------------------------------------ */

static dtm_result create_in_tx(db_conn *tx, void *ud, char *msg, size_t msglen) {
    const order_call *c = ud;
    const order_item *o = c->o;
    /* A bad order is a business refusal, not a glitch: answering FAILURE
     * (gRPC Aborted) makes DTM compensate the saga. Any other answer would be
     * retried forever (README, "Why FAILURE means Aborted"). */
    if (o->num <= 0 || o->num > ORDER_MAX_NUM) {
        snprintf(msg, msglen, "invalid quantity %" PRId64, o->num);
        return DTM_FAILURE;
    }
    if (o->user_id <= 0) {
        snprintf(msg, msglen, "invalid user id %" PRId64, o->user_id);
        return DTM_FAILURE;
    }
    if (o->goods_id <= 0) {
        snprintf(msg, msglen, "invalid goods id %" PRId64, o->goods_id);
        return DTM_FAILURE;
    }
    char err[256];
    db_rc rc = order_model_insert(tx, c->b->gid, o, err, sizeof err);
    if (rc == DB_EDUP) {
        /* The barrier already stops a repeated create of this branch; this
         * is a second order step in the same saga, which the one-order-per-
         * gid schema cannot hold. Retried (and visible in the log) rather
         * than silently accepted. */
        snprintf(msg, msglen, "an order of this gid already exists (one order per saga)");
        return DTM_ERROR;
    }
    if (rc != DB_OK) {
        /* A database problem may go away: ERROR, so that DTM retries. The
         * barrier transaction rolls back with it, leaving no trace. */
        snprintf(msg, msglen, "insert order: %s", err);
        return DTM_ERROR;
    }
    return DTM_SUCCESS;
}

dtm_result order_logic_create(order_svc *svc, barrier *b, const order_item *o, char *msg,
                              size_t msglen) {
    order_call c = {b, o, 0};
    dtm_result r = barrier_call(b, svc->pool, svc->acquire_timeout_ms, create_in_tx, &c, msg,
                                msglen);
    if (r == DTM_SUCCESS && !explain_skip(b, msg, msglen))
        snprintf(msg, msglen, "order created: user %" PRId64 ", goods %" PRId64 ", num %" PRId64,
                 o->user_id, o->goods_id, o->num);
    return r;
}

/* ---- createRollback ------------------------------------------------------ */

static dtm_result create_rollback_in_tx(db_conn *tx, void *ud, char *msg, size_t msglen) {
    order_call *c = ud;
    char err[256];
    if (order_model_cancel(tx, c->b->gid, &c->changed, err, sizeof err) != DB_OK) {
        /* A compensation must eventually succeed: never FAILURE here. */
        snprintf(msg, msglen, "cancel order: %s", err);
        return DTM_ERROR;
    }
    if (c->changed == 0)
        log_warn(c->b->gid, "createRollback: no active order of this gid to cancel");
    return DTM_SUCCESS;
}

dtm_result order_logic_create_rollback(order_svc *svc, barrier *b, const order_item *o,
                                       char *msg, size_t msglen) {
    order_call c = {b, o, 0};
    dtm_result r = barrier_call(b, svc->pool, svc->acquire_timeout_ms, create_rollback_in_tx,
                                &c, msg, msglen);
    if (r == DTM_SUCCESS && !explain_skip(b, msg, msglen))
        snprintf(msg, msglen, c.changed ? "order cancelled" : "no order to cancel");
    return r;
}

/* ---- get ----------------------------------------------------------------------- */

#define ORDER_GID_MAX 128 /* dtm_barrier.gid is VARCHAR(128) */

order_get_rc order_logic_get(order_svc *svc, const char *gid, order_row *row, int *found,
                             char *msg, size_t msglen) {
    *found = 0;
    size_t n = strlen(gid);
    int printable = n > 0 && n <= ORDER_GID_MAX;
    for (size_t i = 0; printable && i < n; i++)
        printable = gid[i] > ' ' && gid[i] <= '~';
    if (!printable) {
        snprintf(msg, msglen, "gid must be 1..%d bytes of printable ASCII", ORDER_GID_MAX);
        return ORDER_GET_BAD_GID;
    }
    char err[256];
    db_rc rc;
    db_conn *c = db_acquire(svc->pool, svc->acquire_timeout_ms, &rc, err, sizeof err);
    if (c) {
        rc = order_model_find(c, gid, row, found, err, sizeof err);
        db_release(svc->pool, c);
    }
    if (rc != DB_OK) {
        snprintf(msg, msglen, "read order: %s", err);
        return ORDER_GET_DB_ERROR;
    }
    return ORDER_GET_OK;
}
