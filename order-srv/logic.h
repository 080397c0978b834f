/* logic.h: order-srv's business rules, one function per RPC of pb.order.
 * They speak in business terms (an order_item, a dtm_result) and know
 * nothing of gRPC or protobuf: server.c translates. */
#ifndef ORDER_LOGIC_H
#define ORDER_LOGIC_H

#include <stddef.h>

#include "barrier.h"
#include "db.h"
#include "model.h"
#include "result.h"

/* What the logic needs from the process (go-zero's ServiceContext). */
typedef struct {
    db_pool *pool;          /* the process's one pool on dtm-gozero-order */
    int acquire_timeout_ms; /* how long a call waits for a free connection */
} order_svc;

/* Saga action of step "create the order": inserts the order of b->gid,
 * awaiting payment. A quantity, user or goods id that is not positive is
 * refused with DTM_FAILURE, so the saga compensates. Returns DTM_SUCCESS
 * (also when the barrier skipped a duplicate or hanging call), DTM_FAILURE,
 * or DTM_ERROR on a database problem; `msg` explains the outcome. */
dtm_result order_logic_create(order_svc *svc, barrier *b, const order_item *o, char *msg,
                              size_t msglen);

/* Saga compensation of "create the order": cancels the order of b->gid
 * (row_state -1). Nothing to cancel is a success. Returns DTM_SUCCESS or
 * DTM_ERROR (retried by DTM); `msg` explains the outcome. */
dtm_result order_logic_create_rollback(order_svc *svc, barrier *b, const order_item *o,
                                       char *msg, size_t msglen);

typedef enum {
    ORDER_GET_OK = 0,
    ORDER_GET_BAD_GID,    /* not 1..128 bytes of printable ASCII */
    ORDER_GET_DB_ERROR,   /* the database could not be read */
} order_get_rc;

/* For order-api's GET /order/{gid} (pb.order/get, not a saga step): reads
 * the order of `gid`; *found is 0 when there is none. On anything but
 * ORDER_GET_OK `msg` says why. */
order_get_rc order_logic_get(order_svc *svc, const char *gid, order_row *row, int *found,
                             char *msg, size_t msglen);

#endif
