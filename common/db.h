/* db.h: a bounded, thread-safe pool of MariaDB/MySQL connections, prepared
 * statements, and transactions.
 *
 * - At most `max_conns` connections exist; db_acquire() waits (up to its
 *   timeout) for one to be free. Connections are opened lazily, so a process
 *   can start while the database is down.
 * - A connection that reports a lost connection (server restart, timeout) is
 *   marked broken and is closed when released; the next acquire opens a fresh
 *   one, retrying until its timeout. A half-done transaction is never
 *   retried: only the step of connecting (and a BEGIN on a connection that
 *   turns out to be stale) is repeated.
 * - All SQL goes through prepared statements with bound arguments; each
 *   connection caches its statements by SQL text.
 * - Sessions run in UTC and utf8mb4. A statement outside db_begin() is
 *   committed (or, when it fails, rolled back) before db_exec()/db_query()
 *   returns, exactly as with autocommit; inside, nothing is committed before
 *   db_commit(). (The session itself runs with autocommit off, so that a
 *   transaction needs no BEGIN round trip of its own: see db.c.)
 *
 * Errors: functions return a db_rc and fill `err` (may be NULL) with the
 * server's message. The caller owns every buffer it passes in. */
#ifndef CDTM_DB_H
#define CDTM_DB_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dsn.h"

typedef struct db_pool db_pool;
typedef struct db_conn db_conn;

typedef enum {
    DB_OK = 0,
    DB_EDUP,   /* duplicate key (ER_DUP_ENTRY) */
    DB_ECONN,  /* cannot connect, or the connection was lost: retry later */
    DB_ESQL,   /* any other error from the server or the client library */
    DB_EBUSY,  /* no connection became free before the timeout */
} db_rc;

/* A bound argument. Build them with the macros below. */
typedef enum { DB_T_NULL, DB_T_INT64, DB_T_STR } db_type;
typedef struct {
    db_type type;
    int64_t i;
    const char *s; /* DB_T_STR: bytes, not necessarily NUL-terminated */
    size_t len;
} db_arg;

#define DB_INT(v) ((db_arg){.type = DB_T_INT64, .i = (int64_t)(v)})
#define DB_STR(v) ((db_arg){.type = DB_T_STR, .s = (v), .len = strlen(v)})
#define DB_BYTES(p, n) ((db_arg){.type = DB_T_STR, .s = (const char *)(p), .len = (n)})
#define DB_NULL ((db_arg){.type = DB_T_NULL})

/* A column value in a result row: NULL is {NULL, 0, 1}. Text is
 * NUL-terminated at s[len]. Valid only during the row callback. */
typedef struct {
    const char *s;
    size_t len;
    int is_null;
} db_val;

/* Called once per row; return non-zero to stop reading rows. */
typedef int (*db_row_fn)(void *ud, size_t ncols, const db_val *cols);

/* Must be called once, before any thread uses the database. */
void db_global_init(void);

/* Creates a pool for `d` holding at most `max_conns` connections (1..1000).
 * Does not connect. Returns NULL with `err` filled on bad arguments. */
db_pool *db_pool_new(const dsn *d, int max_conns, char *err, size_t errlen);

/* Closes every connection. No connection may still be acquired. */
void db_pool_free(db_pool *p);

/* Takes a connection, opening one if needed; retries connecting (every
 * 100-500 ms) until `timeout_ms` passes. Returns NULL with `err` filled and
 * *rc (may be NULL) set to DB_ECONN or DB_EBUSY. */
db_conn *db_acquire(db_pool *p, int timeout_ms, db_rc *rc, char *err, size_t errlen);

/* The threads waiting in db_acquire() for a connection now. */
int db_pool_waiting(db_pool *p);

/* Returns a connection to the pool. An open transaction is rolled back; a
 * broken connection is closed. */
void db_release(db_pool *p, db_conn *c);

/* Runs one statement. *affected (may be NULL) gets the affected-row count. */
db_rc db_exec(db_conn *c, const char *sql, const db_arg *args, size_t nargs,
              uint64_t *affected, char *err, size_t errlen);

/* The AUTO_INCREMENT id of the last INSERT on this connection. */
uint64_t db_last_insert_id(db_conn *c);

/* Runs a query and calls fn for each row, every column read as text. */
db_rc db_query(db_conn *c, const char *sql, const db_arg *args, size_t nargs,
               db_row_fn fn, void *ud, char *err, size_t errlen);

/* Reads the first column of the first row as an integer; *found is 0 when
 * there is no row (or the value is NULL). */
db_rc db_query_int64(db_conn *c, const char *sql, const db_arg *args, size_t nargs,
                     int64_t *out, int *found, char *err, size_t errlen);

/* Transactions on one connection. db_begin() sends START TRANSACTION only
 * on a connection that was idle in the pool for over a second (a liveness
 * check); otherwise the transaction begins with its first statement. */
db_rc db_begin(db_conn *c, char *err, size_t errlen);
db_rc db_commit(db_conn *c, char *err, size_t errlen);
db_rc db_rollback(db_conn *c, char *err, size_t errlen);

/* The body of a transaction. Return DB_OK to commit; anything else rolls
 * back and is returned by db_with_tx(). */
typedef int (*db_tx_fn)(db_conn *tx, void *ud, char *err, size_t errlen);

/* Acquires a connection, begins, runs fn, then commits (fn returned 0) or
 * rolls back, and releases. If that explicit BEGIN fails on a stale
 * connection, a fresh connection is taken (nothing has run yet). A commit
 * error is returned as a db_rc. Returns fn's value when fn failed. */
int db_with_tx(db_pool *p, int timeout_ms, db_tx_fn fn, void *ud, char *err, size_t errlen);

#endif
