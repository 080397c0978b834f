/* model.c: order-api's one query, on order-srv's `order` table. The
 * database name has hyphens and `order` is a reserved word, so both are
 * backquoted. See model.h. */
#include "model.h"

#include <stdlib.h>

#define ORDER_TABLE "`dtm-gozero-order`.`order`"

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

db_rc order_model_find_by_gid(db_pool *pool, int timeout_ms, const char *gid, order_row *row,
                              int *found, char *err, size_t errlen) {
    static const char *sql = "SELECT id, user_id, goods_id, num, row_state FROM " ORDER_TABLE
                             " WHERE gid = ?";
    *found = 0;
    db_rc rc;
    db_conn *c = db_acquire(pool, timeout_ms, &rc, err, errlen);
    if (!c) return rc;
    find_ctx f = {row, 0};
    db_arg args[] = {DB_STR(gid)};
    rc = db_query(c, sql, args, 1, read_row, &f, err, errlen);
    db_release(pool, c);
    if (rc == DB_OK) *found = f.found;
    return rc;
}
