/* test_barrier.c: the sub-transaction barrier against a real MariaDB
 * (common/barrier.h; dtm-protocol.md §5).
 *
 * Each case uses its own gid and looks at what a user would see: the rows in
 * dtm_barrier.barrier and in a scratch business table cdtm_test.counter,
 * where the business callback counts how often it ran per (gid, op). */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "barrier.h"
#include "harness.h"

static db_pool *pool;
static char run_id[64];

/* What the business callback does: count one run, then answer `ret`. */
typedef struct {
    const char *label;  /* the counter's op column */
    dtm_result ret;
    const char *bad_sql; /* when set, run this (failing) SQL instead */
    int calls;
} busi;

static dtm_result busi_fn(db_conn *tx, void *ud, char *msg, size_t msglen) {
    busi *bz = ud;
    bz->calls++;
    char err[256];
    if (bz->bad_sql) {
        if (db_exec(tx, bz->bad_sql, NULL, 0, NULL, err, sizeof err) != DB_OK) {
            snprintf(msg, msglen, "%s", err);
            return DTM_ERROR;
        }
    }
    /* One counter row per "<gid>/<op>" label. */
    db_arg args[1] = {DB_STR(bz->label)};
    if (db_exec(tx, "insert into cdtm_test.counter(k, n) values(?, 1) "
                    "on duplicate key update n = n + 1",
                args, 1, NULL, err, sizeof err) != DB_OK) {
        snprintf(msg, msglen, "%s", err);
        return DTM_ERROR;
    }
    if (bz->ret == DTM_FAILURE) snprintf(msg, msglen, "FAILURE");
    return bz->ret;
}

/* A gid unique to this run and case. */
static const char *gid_for(const char *name) {
    static char buf[8][128];
    static int next;
    char *g = buf[next++ % 8];
    snprintf(g, 128, "%s-%s", run_id, name);
    return g;
}

/* Business runs recorded for (gid, op). */
static int64_t runs(const char *gid, const char *op) {
    return h_db_int(pool, 0, "select n from cdtm_test.counter where k = '%s/%s'", gid, op);
}

/* The barrier rows of gid as "op/reason/barrier_id;..." in insertion order. */
static int append_row(void *ud, size_t ncols, const db_val *cols) {
    char *out = ud;
    size_t len = strlen(out);
    snprintf(out + len, 1024 - len, "%s%s/%s/%s", len ? ";" : "", ncols > 0 ? cols[0].s : "?",
             ncols > 1 ? cols[1].s : "?", ncols > 2 ? cols[2].s : "?");
    return 0;
}

static const char *rows_in(const char *table, const char *gid) {
    static char out[1024];
    out[0] = '\0';
    char sql[256], err[256];
    snprintf(sql, sizeof sql,
             "select op, reason, barrier_id from %s where gid = ? order by id", table);
    db_conn *c = db_acquire(pool, 5000, NULL, err, sizeof err);
    if (!c) {
        fprintf(stderr, "rows_in: %s\n", err);
        h_failures++;
        return out;
    }
    db_arg a[1] = {DB_STR(gid)};
    if (db_query(c, sql, a, 1, append_row, out, err, sizeof err) != DB_OK) {
        fprintf(stderr, "rows_in: %s\n", err);
        h_failures++;
    }
    db_release(pool, c);
    return out;
}

static const char *rows(const char *gid) { return rows_in("dtm_barrier.barrier", gid); }

/* One request: a new barrier (as a handler builds per request), one call. */
static dtm_result request(const char *gid, const char *op, dtm_result ret, barrier_outcome *outcome,
                          int *ran) {
    char err[256], msg[256], label[200];
    barrier b;
    CHECK_EQ_INT(barrier_init(&b, "saga", gid, "01", op, err, sizeof err), 0);
    snprintf(label, sizeof label, "%s/%s", gid, op);
    busi bz = {.label = label, .ret = ret};
    dtm_result r = barrier_call(&b, pool, 5000, busi_fn, &bz, msg, sizeof msg);
    if (outcome) *outcome = b.outcome;
    if (ran) *ran = bz.calls;
    if (r == DTM_ERROR) fprintf(stderr, "  barrier_call(%s, %s): %s\n", gid, op, msg);
    return r;
}

static void normal_action_then_compensate(void) {
    h_step("barrier_runs_action_then_compensate");
    const char *g = gid_for("normal");
    barrier_outcome o;
    int ran;
    CHECK_EQ_INT(request(g, "action", DTM_SUCCESS, &o, &ran), DTM_SUCCESS);
    CHECK_EQ_INT(o, BARRIER_RAN);
    CHECK_EQ_INT(ran, 1);
    CHECK_EQ_STR(rows(g), "action/action/01");
    CHECK_EQ_INT(request(g, "compensate", DTM_SUCCESS, &o, &ran), DTM_SUCCESS);
    CHECK_EQ_INT(o, BARRIER_RAN);
    CHECK_EQ_INT(ran, 1);
    /* The origin insert found the action's row: no new action row. */
    CHECK_EQ_STR(rows(g), "action/action/01;compensate/compensate/01");
    CHECK_EQ_INT(runs(g, "action"), 1);
    CHECK_EQ_INT(runs(g, "compensate"), 1);
}

static void duplicate_action(void) {
    h_step("barrier_skips_duplicate_action");
    const char *g = gid_for("dupaction");
    barrier_outcome o;
    int ran;
    CHECK_EQ_INT(request(g, "action", DTM_SUCCESS, &o, &ran), DTM_SUCCESS);
    CHECK_EQ_INT(request(g, "action", DTM_SUCCESS, &o, &ran), DTM_SUCCESS);
    CHECK_EQ_INT(o, BARRIER_DUPLICATE);
    CHECK_EQ_INT(ran, 0);
    CHECK_EQ_INT(runs(g, "action"), 1);
    CHECK_EQ_STR(rows(g), "action/action/01");
}

static void duplicate_compensate(void) {
    h_step("barrier_skips_duplicate_compensate");
    const char *g = gid_for("dupcomp");
    barrier_outcome o;
    int ran;
    CHECK_EQ_INT(request(g, "action", DTM_SUCCESS, &o, &ran), DTM_SUCCESS);
    CHECK_EQ_INT(request(g, "compensate", DTM_SUCCESS, &o, &ran), DTM_SUCCESS);
    CHECK_EQ_INT(request(g, "compensate", DTM_SUCCESS, &o, &ran), DTM_SUCCESS);
    CHECK_EQ_INT(o, BARRIER_DUPLICATE);
    CHECK_EQ_INT(ran, 0);
    CHECK_EQ_INT(runs(g, "compensate"), 1);
    CHECK_EQ_STR(rows(g), "action/action/01;compensate/compensate/01");
}

static void null_compensation_and_hanging(void) {
    h_step("barrier_null_compensation");
    const char *g = gid_for("nullcomp");
    barrier_outcome o;
    int ran;
    CHECK_EQ_INT(request(g, "compensate", DTM_SUCCESS, &o, &ran), DTM_SUCCESS);
    CHECK_EQ_INT(o, BARRIER_NULL_COMP);
    CHECK_EQ_INT(ran, 0);
    CHECK_EQ_INT(runs(g, "compensate"), 0);
    /* The planted origin row carries the compensation as its reason. */
    CHECK_EQ_STR(rows(g), "action/compensate/01;compensate/compensate/01");

    h_step("barrier_skips_hanging_action");
    CHECK_EQ_INT(request(g, "action", DTM_SUCCESS, &o, &ran), DTM_SUCCESS);
    CHECK_EQ_INT(o, BARRIER_DUPLICATE);
    CHECK_EQ_INT(ran, 0);
    CHECK_EQ_INT(runs(g, "action"), 0);
    CHECK_EQ_STR(rows(g), "action/compensate/01;compensate/compensate/01");
}

static void failed_action_rolls_back(void) {
    h_step("barrier_failed_action_leaves_no_trace");
    const char *g = gid_for("failed");
    barrier_outcome o;
    int ran;
    char err[256], msg[256], label[200];
    barrier b;
    CHECK_EQ_INT(barrier_init(&b, "saga", g, "01", "action", err, sizeof err), 0);
    snprintf(label, sizeof label, "%s/action", g);
    busi bz = {.label = label, .ret = DTM_FAILURE};
    CHECK_EQ_INT(barrier_call(&b, pool, 5000, busi_fn, &bz, msg, sizeof msg), DTM_FAILURE);
    CHECK_EQ_STR(msg, "FAILURE");
    CHECK_EQ_INT(b.outcome, BARRIER_RAN);
    CHECK_EQ_INT(bz.calls, 1);
    CHECK_EQ_STR(rows(g), "");
    CHECK_EQ_INT(runs(g, "action"), 0); /* the business insert was rolled back too */

    /* Its compensation then has nothing to undo. */
    CHECK_EQ_INT(request(g, "compensate", DTM_SUCCESS, &o, &ran), DTM_SUCCESS);
    CHECK_EQ_INT(o, BARRIER_NULL_COMP);
    CHECK_EQ_INT(ran, 0);
    CHECK_EQ_STR(rows(g), "action/compensate/01;compensate/compensate/01");

    h_step("barrier_rolls_back_on_ongoing_and_error");
    const char *g2 = gid_for("ongoing");
    CHECK_EQ_INT(request(g2, "action", DTM_ONGOING, &o, &ran), DTM_ONGOING);
    CHECK_EQ_STR(rows(g2), "");
    CHECK_EQ_INT(runs(g2, "action"), 0);
    /* A retry after ONGOING runs the business code again. */
    CHECK_EQ_INT(request(g2, "action", DTM_SUCCESS, &o, &ran), DTM_SUCCESS);
    CHECK_EQ_INT(o, BARRIER_RAN);
    CHECK_EQ_INT(runs(g2, "action"), 1);

    const char *g3 = gid_for("sqlerr");
    CHECK_EQ_INT(barrier_init(&b, "saga", g3, "01", "action", err, sizeof err), 0);
    busi bad = {.label = "unused", .ret = DTM_SUCCESS, .bad_sql = "select * from cdtm_test.no_such_table"};
    CHECK_EQ_INT(barrier_call(&b, pool, 5000, busi_fn, &bad, msg, sizeof msg), DTM_ERROR);
    CHECK(strstr(msg, "no_such_table") != NULL);
    CHECK_EQ_STR(rows(g3), "");
}

static void barrier_ids_and_tcc(void) {
    h_step("barrier_ids_count_per_object");
    const char *g = gid_for("ids");
    char err[256], msg[256], label[200];
    barrier b;
    CHECK_EQ_INT(barrier_init(&b, "tcc", g, "02", "try", err, sizeof err), 0);
    snprintf(label, sizeof label, "%s/try", g);
    busi bz = {.label = label, .ret = DTM_SUCCESS};
    CHECK_EQ_INT(barrier_call(&b, pool, 5000, busi_fn, &bz, msg, sizeof msg), DTM_SUCCESS);
    CHECK_EQ_INT(barrier_call(&b, pool, 5000, busi_fn, &bz, msg, sizeof msg), DTM_SUCCESS);
    CHECK_EQ_INT(b.barrier_id, 2);
    CHECK_EQ_INT(bz.calls, 2);
    CHECK_EQ_STR(rows(g), "try/try/01;try/try/02");
    CHECK_EQ_INT(h_db_int(pool, -1, "select count(*) from dtm_barrier.barrier where gid = '%s' "
                                    "and trans_type = 'tcc' and branch_id = '02'", g), 2);

    h_step("barrier_cancel_pairs_with_try");
    /* A new request object restarts at "01": cancel's first call finds the
     * try row 01; its second call plants try 02 (a null compensation). */
    barrier c;
    CHECK_EQ_INT(barrier_init(&c, "tcc", g, "02", "cancel", err, sizeof err), 0);
    snprintf(label, sizeof label, "%s/cancel", g);
    busi cz = {.label = label, .ret = DTM_SUCCESS};
    CHECK_EQ_INT(barrier_call(&c, pool, 5000, busi_fn, &cz, msg, sizeof msg), DTM_SUCCESS);
    CHECK_EQ_INT(c.outcome, BARRIER_RAN);
    CHECK_EQ_STR(rows(g), "try/try/01;try/try/02;cancel/cancel/01");

    const char *g2 = gid_for("rollback");
    barrier r;
    CHECK_EQ_INT(barrier_init(&r, "xa", g2, "01", "rollback", err, sizeof err), 0);
    CHECK_EQ_INT(barrier_call(&r, pool, 5000, busi_fn, &cz, msg, sizeof msg), DTM_SUCCESS);
    CHECK_EQ_INT(r.outcome, BARRIER_NULL_COMP);
    CHECK_EQ_STR(rows(g2), "action/rollback/01;rollback/rollback/01");

    h_step("barrier_msg_duplicate_is_failure");
    const char *g3 = gid_for("msg");
    barrier m;
    CHECK_EQ_INT(barrier_init(&m, "msg", g3, "00", "msg", err, sizeof err), 0);
    CHECK_EQ_INT(barrier_call(&m, pool, 5000, NULL, NULL, msg, sizeof msg), DTM_SUCCESS);
    CHECK_EQ_INT(barrier_init(&m, "msg", g3, "00", "msg", err, sizeof err), 0);
    CHECK_EQ_INT(barrier_call(&m, pool, 5000, NULL, NULL, msg, sizeof msg), DTM_FAILURE);
    CHECK_EQ_STR(msg, "DUPLICATED");
    CHECK_EQ_STR(rows(g3), "msg/msg/01");
}

static void init_errors(void) {
    h_step("barrier_init_rejects_bad_trans_info");
    barrier b;
    char err[256] = "";
    CHECK_EQ_INT(barrier_init(&b, "saga", NULL, "01", "action", err, sizeof err), -1);
    CHECK_EQ_STR(err, "invalid trans info: missing dtm-gid");
    CHECK_EQ_INT(barrier_init(&b, "", "g", "01", "action", err, sizeof err), -1);
    CHECK_EQ_STR(err, "invalid trans info: missing dtm-trans_type");
    CHECK_EQ_INT(barrier_init(&b, "saga", "g", "", "action", err, sizeof err), -1);
    CHECK_EQ_STR(err, "invalid trans info: missing dtm-branch_id");
    CHECK_EQ_INT(barrier_init(&b, "saga", "g", "01", NULL, err, sizeof err), -1);
    CHECK_EQ_STR(err, "invalid trans info: missing dtm-op");
    char longgid[200];
    memset(longgid, 'g', 129);
    longgid[129] = '\0';
    CHECK_EQ_INT(barrier_init(&b, "saga", longgid, "01", "action", err, sizeof err), -1);
    CHECK(strstr(err, "invalid trans info") && strstr(err, "dtm-gid"));
    longgid[128] = '\0'; /* exactly the column's 128 is fine */
    CHECK_EQ_INT(barrier_init(&b, "saga", longgid, "01", "action", err, sizeof err), 0);
    CHECK_EQ_INT(barrier_init(&b, "saga", "g", "01", "action", NULL, 0), 0);
    CHECK_EQ_INT(b.barrier_id, 0);

    h_step("barrier_set_table_validates_names");
    CHECK_EQ_INT(barrier_set_table("x; drop table y"), -1);
    CHECK_EQ_INT(barrier_set_table("a.b.c"), -1);
    CHECK_EQ_INT(barrier_set_table(""), -1);
    CHECK_EQ_INT(barrier_set_table(".barrier"), -1);
    CHECK_EQ_INT(barrier_set_table("db."), -1);
    CHECK_EQ_INT(barrier_set_table("x`y"), -1);
    CHECK_EQ_INT(barrier_set_table(NULL), -1);

    /* The old name is kept after a rejection. */
    const char *g = gid_for("table");
    CHECK_EQ_INT(request(g, "action", DTM_SUCCESS, NULL, NULL), DTM_SUCCESS);
    CHECK_EQ_STR(rows(g), "action/action/01");

    /* Another table (with a hyphen, which needs the backquotes). */
    h_db_exec(pool, "create database if not exists `cdtm-test`");
    h_db_exec(pool, "create table if not exists `cdtm-test`.`my-barrier` like dtm_barrier.barrier");
    CHECK_EQ_INT(barrier_set_table("cdtm-test.my-barrier"), 0);
    const char *g2 = gid_for("table2");
    CHECK_EQ_INT(request(g2, "action", DTM_SUCCESS, NULL, NULL), DTM_SUCCESS);
    CHECK_EQ_STR(rows_in("`cdtm-test`.`my-barrier`", g2), "action/action/01");
    CHECK_EQ_STR(rows(g2), "");
    CHECK_EQ_INT(barrier_set_table("dtm_barrier.barrier"), 0);
}

int main(void) {
    snprintf(run_id, sizeof run_id, "tb-%ld-%ld", (long)getpid(), (long)time(NULL));
    pool = h_db_pool("");
    h_db_exec(pool, "create database if not exists cdtm_test");
    h_db_exec(pool, "create table if not exists cdtm_test.counter("
                    "k varchar(200) primary key, n int not null default 0)");

    normal_action_then_compensate();
    duplicate_action();
    duplicate_compensate();
    null_compensation_and_hanging();
    failed_action_rolls_back();
    barrier_ids_and_tcc();
    init_errors();

    db_pool_free(pool);
    return h_finish("test_barrier");
}
