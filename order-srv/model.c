/* model.c: the SQL of order-srv, on the `order` table of `dtm-gozero-order`.
 * The database name has hyphens and `order` is a reserved word, so both are
 * always backquoted. See model.h. */
#include "model.h"

#include <stdlib.h>

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

typedef struct {
    order_row *row;
    int found;
} find_ctx;

static int read_row(void *ud, size_t ncols, const db_val *cols) {
    find_ctx *f = ud;
    if (ncols < 5) return 1;
    int64_t *dst[] = {&f->row->id, &f->row->user_id, &f->row->goods_id, &f->row->num,
                      &f->row->row_state};
    for (size_t i = 0; i < 5; i++) *dst[i] = cols[i].is_null ? 0 : strtoll(cols[i].s, NULL, 10);
    f->found = 1;
    return 1; /* gid is unique: one row at most */
}

db_rc order_model_find(db_conn *c, const char *gid, order_row *row, int *found, char *err,
                       size_t errlen) {
    static const char *sql = "SELECT id, user_id, goods_id, num, row_state FROM " ORDER_TABLE
                             " WHERE gid = ?";
    find_ctx f = {row, 0};
    db_arg args[] = {DB_STR(gid)};
    db_rc rc = db_query(c, sql, args, 1, read_row, &f, err, errlen);
    *found = rc == DB_OK && f.found;
    return rc;
}
