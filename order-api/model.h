/* model.h: what order-api reads from order-srv's database: the order row of
 * a saga, for GET /order/{gid}. order-api never writes there: orders are
 * created and cancelled only by order-srv, inside its barrier (demo.md §4).
 * The table is `dtm-gozero-order`.`order` (sql/20-order.sql). */
#ifndef ORDER_API_MODEL_H
#define ORDER_API_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

/* One row of `order`. row_state: 0 awaiting payment, -1 cancelled by the
 * saga's compensation (createRollback). */
typedef struct {
    int64_t id;
    int64_t user_id;
    int64_t goods_id;
    int64_t num;
    int64_t row_state;
} order_row;

/* Reads the order of saga `gid` into *row; *found is 0 when there is none
 * (the create action has not run, or it failed). Waits at most timeout_ms
 * for a connection. Returns DB_OK or a db_rc with `err` filled. */
db_rc order_model_find_by_gid(db_pool *pool, int timeout_ms, const char *gid, order_row *row,
                              int *found, char *err, size_t errlen);

#endif
