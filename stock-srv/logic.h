/* logic.h: stock-srv's business rules, one function per RPC of pb.stock.
 * They speak in business terms (a stock_item, a dtm_result) and know
 * nothing of gRPC or protobuf: server.c translates. */
#ifndef STOCK_LOGIC_H
#define STOCK_LOGIC_H

#include <stddef.h>

#include "barrier.h"
#include "db.h"
#include "model.h"
#include "result.h"

/* What the logic needs from the process (go-zero's ServiceContext). */
typedef struct {
    db_pool *pool;          /* the process's one pool on dtm-gozero-stock */
    int acquire_timeout_ms; /* how long a call waits for a free connection */
} stock_svc;

/* Saga action of step "deduct the stock": takes s->num units of
 * s->goods_id. Unknown goods, too little stock or a quantity that is not
 * positive is refused with DTM_FAILURE, so the saga compensates. Returns
 * DTM_SUCCESS (also when the barrier skipped a duplicate or hanging call),
 * DTM_FAILURE, or DTM_ERROR on a database problem; `msg` explains. */
dtm_result stock_logic_deduct(stock_svc *svc, barrier *b, const stock_item *s, char *msg,
                              size_t msglen);

/* Saga compensation of "deduct the stock": puts the units back, once, and
 * only if the deduct really happened (the barrier sees to that). Returns
 * DTM_SUCCESS or DTM_ERROR (retried by DTM); `msg` explains. */
dtm_result stock_logic_deduct_rollback(stock_svc *svc, barrier *b, const stock_item *s,
                                       char *msg, size_t msglen);

#endif
