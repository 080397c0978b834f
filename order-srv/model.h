/* model.h: order-srv's data: the `order` table of `dtm-gozero-order`
 * (sql/20-order.sql). Every function runs on a connection the caller holds,
 * normally the barrier's transaction, so the order row and the barrier rows
 * commit or roll back together. */
#ifndef ORDER_MODEL_H
#define ORDER_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

/* An order as the saga carries it (CreateReq). */
typedef struct {
    int64_t user_id;
    int64_t goods_id;
    int64_t num; /* quantity ordered */
} order_item;

/* The values of `order`.row_state. */
enum { ORDER_STATE_CANCELLED = -1, ORDER_STATE_AWAITING_PAYMENT = 0 };

/* A stored order, as pb.order/get returns it. */
typedef struct {
    int64_t id;
    int64_t user_id;
    int64_t goods_id;
    int64_t num;
    int64_t row_state;
} order_row;

/* Inserts the order of transaction `gid` awaiting payment. Returns DB_OK,
 * DB_EDUP when that gid already has an order, or another db_rc with `err`
 * filled. */
db_rc order_model_insert(db_conn *tx, const char *gid, const order_item *o, char *err,
                         size_t errlen);

/* Marks the order of `gid` cancelled. *changed gets the number of rows
 * changed (0 when that gid has no order, or it is already cancelled). */
db_rc order_model_cancel(db_conn *tx, const char *gid, uint64_t *changed, char *err,
                         size_t errlen);

/* Reads the order of `gid` into *row; *found is 0 when there is none. */
db_rc order_model_find(db_conn *c, const char *gid, order_row *row, int *found, char *err,
                       size_t errlen);

#endif
