/* dbstat.c: database counters for cdtm-bench (bench.h), read before and
 * after the measuring window on the bench's own connection (as root):
 *
 *   SHOW GLOBAL STATUS
 *     Com_commit        COMMIT statements: every local transaction (the
 *                       coordinator's store, the services' barrier tx),
 *                       and the COMMIT that common/db.c sends after each
 *                       statement run outside one (none on a saga's path)
 *     Handler_commit    internal commits, autocommit statements included
 *                       (also read-only ones), so it is an upper bound
 *     Innodb_data_fsyncs / Innodb_log_writes     what durability costs:
 *                       with group commit, fewer fsyncs than commits
 *     Questions         statements sent by clients
 *   information_schema.USER_STATISTICS (userstat=1, MariaDB's per-account
 *   counters): COMMIT_TRANSACTIONS, SELECT/UPDATE/OTHER_COMMANDS, BUSY_TIME,
 *   CPU_TIME per account. Each process of the suite has its own account
 *   (dtm, order_srv, stock_srv; the bench is root), so the coordinator's
 *   store commits are told apart from the services' without a second server.
 *
 * Our own status queries count too (a handful per window); they are
 * negligible against thousands of sagas. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bench.h"

void bench_db_enable_userstat(db_pool *p) {
    char err[256];
    db_conn *c = db_acquire(p, 5000, NULL, err, sizeof err);
    if (!c) return;
    db_exec(c, "SET GLOBAL userstat=1", NULL, 0, NULL, err, sizeof err);
    db_release(p, c);
}

static int status_row(void *ud, size_t ncols, const db_val *cols) {
    bench_dbsnap *s = ud;
    if (ncols < 2 || cols[0].is_null || cols[1].is_null) return 0;
    int64_t v = strtoll(cols[1].s, NULL, 10);
    if (strcasecmp(cols[0].s, "Com_commit") == 0) s->com_commit = v;
    else if (strcasecmp(cols[0].s, "Handler_commit") == 0) s->handler_commit = v;
    else if (strcasecmp(cols[0].s, "Innodb_data_fsyncs") == 0) s->log_fsyncs = v;
    else if (strcasecmp(cols[0].s, "Innodb_log_writes") == 0) s->log_writes = v;
    else if (strcasecmp(cols[0].s, "Questions") == 0) s->questions = v;
    return 0;
}

static int user_row(void *ud, size_t ncols, const db_val *c) {
    bench_dbsnap *s = ud;
    if (ncols < 8 || s->nusers >= BENCH_MAX_DBUSERS) return 0;
    bench_dbuser *u = &s->users[s->nusers++];
    snprintf(u->user, sizeof u->user, "%s", c[0].is_null ? "" : c[0].s);
    u->commits = strtoll(c[1].s ? c[1].s : "0", NULL, 10);
    u->rollbacks = strtoll(c[2].s ? c[2].s : "0", NULL, 10);
    u->selects = strtoll(c[3].s ? c[3].s : "0", NULL, 10);
    u->updates = strtoll(c[4].s ? c[4].s : "0", NULL, 10);
    u->others = strtoll(c[5].s ? c[5].s : "0", NULL, 10);
    u->busy_s = strtod(c[6].s ? c[6].s : "0", NULL);
    u->cpu_s = strtod(c[7].s ? c[7].s : "0", NULL);
    return 0;
}

int bench_db_snapshot(db_pool *p, bench_dbsnap *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    db_conn *c = db_acquire(p, 5000, NULL, err, errlen);
    if (!c) return -1;
    db_rc rc = db_query(c,
                        "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS"
                        " WHERE VARIABLE_NAME IN ('COM_COMMIT','HANDLER_COMMIT',"
                        "'INNODB_DATA_FSYNCS','INNODB_LOG_WRITES','QUESTIONS')",
                        NULL, 0, status_row, out, err, errlen);
    if (rc == DB_OK) {
        char e2[256];
        db_rc r2 = db_query(c,
                            "SELECT USER, COMMIT_TRANSACTIONS, ROLLBACK_TRANSACTIONS, SELECT_COMMANDS,"
                            " UPDATE_COMMANDS, OTHER_COMMANDS, BUSY_TIME, CPU_TIME"
                            " FROM information_schema.USER_STATISTICS ORDER BY USER",
                            NULL, 0, user_row, out, e2, sizeof e2);
        out->have_userstat = r2 == DB_OK && out->nusers > 0;
    }
    db_release(p, c);
    return rc == DB_OK ? 0 : -1;
}

static int first_col(void *ud, size_t ncols, const db_val *c) {
    char *out = ud;
    if (ncols >= 1 && !c[0].is_null) snprintf(out, 256, "%s", c[0].s);
    return 1;
}

void bench_db_variable(db_pool *p, const char *name, char *out, size_t outlen) {
    char buf[256] = "", err[256];
    if (outlen) out[0] = '\0';
    db_conn *c = db_acquire(p, 5000, NULL, err, sizeof err);
    if (!c) return;
    db_arg a[1] = {DB_STR(name)};
    db_query(c, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES"
                " WHERE VARIABLE_NAME = UPPER(?)", a, 1, first_col, buf, err, sizeof err);
    db_release(p, c);
    snprintf(out, outlen, "%s", buf);
}
