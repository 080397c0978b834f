/* store_rows.c: the multi-row INSERTs of new global and branch rows, shared
 * by a lone write (store.c) and a batch of writes (store_batch.c); see
 * store_int.h. A statement takes any number of rows up to a few, then
 * powers of two, so that each connection's statement cache stays small. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errbuf.h"
#include "store_int.h"

#define BRANCH_ROWS_EXACT 8 /* branch rows per INSERT: any count up to this, */
#define BRANCH_ROWS_MAX 64  /* then powers of two up to this (6 values a row) */
#define GLOBAL_ROWS_EXACT 4 /* the same for global rows (14 values a row) */
#define GLOBAL_ROWS_MAX 16

/* Builds "<head><row>,<row>,...<tail>" for k rows in a malloc'd string. */
static char *multi_row_sql(const char *head, const char *row, size_t k, const char *tail) {
    size_t hl = strlen(head), rl = strlen(row), tl = strlen(tail);
    char *sql = malloc(hl + k * (rl + 1) + tl + 1);
    if (!sql) return NULL;
    char *p = sql;
    memcpy(p, head, hl);
    p += hl;
    for (size_t i = 0; i < k; i++) {
        if (i) *p++ = ',';
        memcpy(p, row, rl);
        p += rl;
    }
    memcpy(p, tail, tl);
    p[tl] = '\0';
    return sql;
}

/* Runs a multi-row INSERT of k rows of `per_row` values each; with set_ids,
 * *first_id gets the first row's AUTO_INCREMENT id (the others follow it:
 * InnoDB's default lock mode numbers a multi-row INSERT consecutively). */
static int insert_rows(db_conn *c, const char *head, const char *row, const char *tail,
                       const db_arg *a, size_t k, size_t per_row, int64_t *first_id, char *err,
                       size_t errlen) {
    char *sql = multi_row_sql(head, row, k, tail);
    if (!sql) {
        errbuf_set(err, errlen, "out of memory");
        return DB_ESQL;
    }
    int rc = db_exec(c, sql, a, k * per_row, NULL, err, errlen);
    free(sql);
    if (rc == DB_OK && first_id) *first_id = (int64_t)db_last_insert_id(c);
    return rc;
}

int store_insert_branches(db_conn *c, const branch_ref *refs, size_t n, int upsert, int set_ids,
                          char *err, size_t errlen) {
    static const char head[] =
        "INSERT INTO trans_branch_op (gid, url, data, bin_data, branch_id, op, status, "
        "create_time, update_time) VALUES ";
    db_arg *a = malloc(BRANCH_ROWS_MAX * 6 * sizeof *a);
    if (!a) {
        errbuf_set(err, errlen, "out of memory");
        return DB_ESQL;
    }
    int rc = DB_OK;
    for (size_t at = 0, k; at < n && rc == DB_OK; at += k) {
        k = store_chunk(n - at, BRANCH_ROWS_EXACT, BRANCH_ROWS_MAX);
        for (size_t i = 0; i < k; i++) {
            const trans_branch *x = refs[at + i].b;
            a[i * 6 + 0] = DB_STR(refs[at + i].gid);
            a[i * 6 + 1] = DB_STR(x->url ? x->url : "");
            a[i * 6 + 2] = DB_BYTES(x->data ? (const char *)x->data : "", x->data_len);
            a[i * 6 + 3] = DB_STR(x->branch_id);
            a[i * 6 + 4] = DB_STR(x->op);
            a[i * 6 + 5] = DB_STR(x->status[0] ? x->status : TS_PREPARED);
        }
        int64_t first = 0;
        rc = insert_rows(c, head, "(?, ?, '', ?, ?, ?, ?, NOW(), NOW())",
                         upsert ? " ON DUPLICATE KEY UPDATE id = id" : "", a, k, 6, &first, err,
                         errlen);
        if (rc == DB_OK && set_ids)
            for (size_t i = 0; i < k; i++) refs[at + i].b->id = first + (int64_t)i;
    }
    free(a);
    return rc;
}

/* Read here rather than with a SELECT NOW(), which cost a round trip per
 * saga; the time zone is every store session's (db.c), so these compare with
 * the server's NOW(). DTM too writes its own clock's times. */
void store_utc_times(int64_t ahead_s, two_times *tt) {
    time_t now = time(NULL), later = now + (time_t)ahead_s;
    struct tm a, b;
    gmtime_r(&now, &a);
    gmtime_r(&later, &b);
    strftime(tt->a, sizeof tt->a, "%Y-%m-%d %H:%M:%S", &a);
    strftime(tt->b, sizeof tt->b, "%Y-%m-%d %H:%M:%S", &b);
}

#define GLOBAL_VALUES 14
int store_insert_globals(db_conn *c, save_new_ctx *const *xs, size_t n, char *err,
                         size_t errlen) {
    static const char head[] =
        "INSERT INTO trans_global (gid, trans_type, status, query_prepared, protocol, "
        "create_time, update_time, options, custom_data, next_cron_interval, next_cron_time, "
        "owner, ext_data, result, rollback_reason) VALUES ";
    db_arg *a = malloc(GLOBAL_ROWS_MAX * GLOBAL_VALUES * sizeof *a);
    if (!a) {
        errbuf_set(err, errlen, "out of memory");
        return DB_ESQL;
    }
    int rc = DB_OK;
    for (size_t at = 0, k; at < n && rc == DB_OK; at += k) {
        k = store_chunk(n - at, GLOBAL_ROWS_EXACT, GLOBAL_ROWS_MAX);
        for (size_t i = 0; i < k; i++) {
            save_new_ctx *x = xs[at + i];
            const trans_global *t = x->t;
            /* Read the clock once per transaction, so that its rows and its
             * copy in memory agree. */
            store_utc_times(t->next_cron_interval > x->lease_s ? t->next_cron_interval : x->lease_s,
                            &x->now);
            db_arg *r = a + i * GLOBAL_VALUES;
            r[0] = DB_STR(t->gid);
            r[1] = DB_STR(t->trans_type);
            r[2] = DB_STR(t->status);
            r[3] = DB_STR(t->query_prepared);
            r[4] = DB_STR(t->protocol);
            r[5] = DB_STR(x->now.a);
            r[6] = DB_STR(x->now.a);
            r[7] = DB_STR(x->options);
            r[8] = DB_STR(t->custom_data);
            r[9] = DB_INT(t->next_cron_interval);
            r[10] = DB_STR(x->now.b);
            r[11] = DB_STR(t->req_extra);
            r[12] = DB_STR(t->result);
            r[13] = DB_STR(t->rollback_reason);
        }
        int64_t first = 0;
        rc = insert_rows(c, head, "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?)", "", a, k,
                         GLOBAL_VALUES, &first, err, errlen);
        if (rc == DB_OK)
            for (size_t i = 0; i < k; i++) xs[at + i]->t->id = first + (int64_t)i;
    }
    free(a);
    return rc;
}
