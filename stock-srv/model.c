/* model.c: the SQL of stock-srv, on the `stock` table of `dtm-gozero-stock`
 * (the database name has hyphens, so it is always backquoted). See model.h. */
#include "model.h"

#define STOCK_TABLE "`dtm-gozero-stock`.`stock`"

db_rc stock_model_deduct(db_conn *tx, const stock_item *s, uint64_t *changed, char *err,
                         size_t errlen) {
    /* The check and the update are one statement: two concurrent deducts
     * cannot both see enough stock and drive it below zero (the row lock
     * serialises them, and the loser's WHERE no longer matches). */
    static const char *sql = "UPDATE " STOCK_TABLE
                             " SET num = num - ? WHERE goods_id = ? AND num >= ?";
    db_arg args[] = {DB_INT(s->num), DB_INT(s->goods_id), DB_INT(s->num)};
    return db_exec(tx, sql, args, sizeof args / sizeof args[0], changed, err, errlen);
}

db_rc stock_model_restore(db_conn *tx, const stock_item *s, uint64_t *changed, char *err,
                          size_t errlen) {
    static const char *sql = "UPDATE " STOCK_TABLE " SET num = num + ? WHERE goods_id = ?";
    db_arg args[] = {DB_INT(s->num), DB_INT(s->goods_id)};
    return db_exec(tx, sql, args, sizeof args / sizeof args[0], changed, err, errlen);
}
