/* harness_db.c: the test harness's database helpers (harness.h, "database").
 *
 * Tests talk to the private MariaDB that scripts/test.sh (or a developer)
 * started on 127.0.0.1:$MARIADB_PORT, as root without a password. Setup
 * statements are printf-formatted here because they are written by the test
 * itself; the code under test always binds its arguments. */
#include "harness.h"

#include <stdarg.h>
#include <stdlib.h>

#define H_DB_TIMEOUT_MS 10000

int h_db_port(void) {
    const char *s = getenv("MARIADB_PORT");
    char *end = NULL;
    long port = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || port <= 0 || port > 65535) {
        fprintf(stderr, "MARIADB_PORT is not set (run through scripts/test.sh, or start "
                        "scripts/mariadb.sh and export MARIADB_PORT)\n");
        exit(2);
    }
    return (int)port;
}

db_pool *h_db_pool(const char *db) {
    dsn d;
    memset(&d, 0, sizeof d);
    snprintf(d.user, sizeof d.user, "root");
    snprintf(d.host, sizeof d.host, "127.0.0.1");
    d.port = (unsigned)h_db_port();
    snprintf(d.dbname, sizeof d.dbname, "%s", db ? db : "");
    db_global_init();
    char err[256];
    db_pool *p = db_pool_new(&d, 8, err, sizeof err);
    if (!p) {
        fprintf(stderr, "h_db_pool: %s\n", err);
        exit(2);
    }
    return p;
}

db_pool *h_db_fresh(const char *db) {
    db_pool *root = h_db_pool("");
    h_db_exec(root, "DROP DATABASE IF EXISTS %s", db);
    h_db_exec(root, "CREATE DATABASE %s DEFAULT CHARACTER SET utf8mb4", db);
    db_pool_free(root);
    return h_db_pool(db);
}

static int read_first(void *ud, size_t ncols, const db_val *cols) {
    int64_t *out = ud;
    if (ncols > 0 && !cols[0].is_null) *out = strtoll(cols[0].s, NULL, 10);
    return 1;
}

int64_t h_db_int(db_pool *p, int64_t def, const char *fmt, ...) {
    char sql[4096], err[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    db_rc rc;
    db_conn *c = db_acquire(p, H_DB_TIMEOUT_MS, &rc, err, sizeof err);
    if (!c) {
        fprintf(stderr, "h_db_int: %s\n", err);
        h_failures++;
        return def;
    }
    int64_t v = def;
    rc = db_query(c, sql, NULL, 0, read_first, &v, err, sizeof err);
    db_release(p, c);
    if (rc != DB_OK) {
        fprintf(stderr, "h_db_int: %s: %s\n", sql, err);
        h_failures++;
        return def;
    }
    return v;
}

int64_t h_db_status(db_pool *p, const char *name) {
    char err[512];
    db_conn *c = db_acquire(p, H_DB_TIMEOUT_MS, NULL, err, sizeof err);
    int64_t v = -1;
    db_rc rc = c ? db_begin(c, err, sizeof err) : DB_ECONN;
    if (rc == DB_OK) {
        rc = db_query(c, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
                         "WHERE VARIABLE_NAME = ?", (db_arg[]){DB_STR(name)}, 1, read_first, &v,
                      err, sizeof err);
        char ignored[64];
        db_rollback(c, ignored, sizeof ignored);
    }
    db_release(p, c);
    if (rc != DB_OK) {
        fprintf(stderr, "h_db_status %s: %s\n", name, err);
        h_failures++;
    }
    return v;
}

void h_db_exec(db_pool *p, const char *fmt, ...) {
    char sql[8192], err[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    db_rc rc;
    db_conn *c = db_acquire(p, H_DB_TIMEOUT_MS, &rc, err, sizeof err);
    if (!c) {
        fprintf(stderr, "h_db_exec: %s\n", err);
        exit(2);
    }
    rc = db_exec(c, sql, NULL, 0, NULL, err, sizeof err);
    db_release(p, c);
    if (rc != DB_OK) {
        fprintf(stderr, "h_db_exec: %s: %s\n", sql, err);
        exit(2);
    }
}
