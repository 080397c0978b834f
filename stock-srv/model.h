/* model.h: stock-srv's data: the `stock` table of `dtm-gozero-stock`
 * (sql/30-stock.sql), one row per goods with the units in stock. Every
 * function runs on a connection the caller holds, normally the barrier's
 * transaction, so the stock change and the barrier rows commit or roll back
 * together. */
#ifndef STOCK_MODEL_H
#define STOCK_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

/* A stock movement as the saga carries it (DecuctReq). */
typedef struct {
    int64_t goods_id;
    int64_t num; /* units */
} stock_item;

/* Takes s->num units of s->goods_id, only if that many are in stock.
 * *changed gets 1 when they were taken, 0 when the goods is unknown or has
 * fewer units (nothing changes then). */
db_rc stock_model_deduct(db_conn *tx, const stock_item *s, uint64_t *changed, char *err,
                         size_t errlen);

/* Puts s->num units of s->goods_id back. *changed gets 0 when the goods is
 * unknown. */
db_rc stock_model_restore(db_conn *tx, const stock_item *s, uint64_t *changed, char *err,
                          size_t errlen);

#endif
