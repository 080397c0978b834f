/* model.c: the SQL of order-srv, on the `order` table of `dtm-gozero-order`.
 * The database name has hyphens and `order` is a reserved word, so both are
 * always backquoted. See model.h. */
#include "model.h"

#define ORDER_TABLE "`dtm-gozero-order`.`order`"

db_rc order_model_insert(db_conn *tx, const char *gid, const order_item *o, char *err,
                         size_t errlen) {
    /* The gid ties the order to its saga (demo.md §13 (c)): createRollback
     * cancels exactly this row, not "the user's latest order". */
    static const char *sql = "INSERT INTO " ORDER_TABLE
                             " (gid, user_id, goods_id, num, row_state) VALUES (?, ?, ?, ?, ?)";
    db_arg args[] = {DB_STR(gid), DB_INT(o->user_id), DB_INT(o->goods_id), DB_INT(o->num),
                     DB_INT(ORDER_STATE_AWAITING_PAYMENT)};
    return db_exec(tx, sql, args, sizeof args / sizeof args[0], NULL, err, errlen);
}

db_rc order_model_cancel(db_conn *tx, const char *gid, uint64_t *changed, char *err,
                         size_t errlen) {
    static const char *sql = "UPDATE " ORDER_TABLE " SET row_state = ? WHERE gid = ?";
    db_arg args[] = {DB_INT(ORDER_STATE_CANCELLED), DB_STR(gid)};
    return db_exec(tx, sql, args, sizeof args / sizeof args[0], changed, err, errlen);
}
