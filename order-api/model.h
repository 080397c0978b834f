/* model.h: the order row of a saga, for GET /order/{gid}. order-srv owns
 * the `order` table; order-api asks it over gRPC (pb.order/get, cdtm's
 * addition to order.proto) and needs no database of its own. */
#ifndef ORDER_API_MODEL_H
#define ORDER_API_MODEL_H

#include <stddef.h>
#include <stdint.h>

/* One row of `order`. row_state: 0 awaiting payment, -1 cancelled by the
 * saga's compensation (createRollback). */
typedef struct {
    int64_t id;
    int64_t user_id;
    int64_t goods_id;
    int64_t num;
    int64_t row_state;
} order_row;

typedef struct order_rows order_rows;

/* A client of order-srv at `target`: host:port, or etcd://hosts/key (the
 * same target the saga's branch URLs carry). NULL when out of memory. */
order_rows *order_rows_new(const char *target);
void order_rows_free(order_rows *r);

/* Reads the order of saga `gid` into *row; *found is 0 when there is none
 * (the create action has not run, or it failed). Returns 0, or -1 with `err`
 * saying why order-srv gave no answer within timeout_ms. */
int order_rows_find(order_rows *r, int timeout_ms, const char *gid, order_row *row, int *found,
                    char *err, size_t errlen);

#endif
