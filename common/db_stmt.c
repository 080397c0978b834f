/* db_stmt.c: running SQL on a db_conn (db.h): the per-connection cache of
 * prepared statements, binding arguments, executing, and reading result
 * rows as text. db_exec, db_query and db_query_int64 are here; connections,
 * the pool and transactions are in db.c, and what the two share (struct
 * db_conn, the error helpers) is in db_int.h.
 *
 * How it fits: cdtm's SQL runs through here, on a connection from db.c's
 * pool: the barrier's INSERT IGNOREs (barrier.c), the services' business
 * SQL (their model.c), and all of the coordinator's store (dtm/store*.c).
 * Arguments (db_arg) are bound to placeholders, never spliced into the SQL.
 *
 * Design notes:
 * - Each connection caches up to DB_STMT_CACHE prepared statements by SQL
 *   text, evicting the least recently used.
 * - A query's whole result is read before the first row callback, so the
 *   connection is free again even when the callback stops early. */
#include "db.h"

#include <errmsg.h>
#include <errno.h>
#include <mysql.h>
#include <stdlib.h>

#include "db_int.h"
#include "errbuf.h"

#define DB_MAX_ARGS 1024               /* bound arguments per statement */
#define DB_STACK_ARGS 32               /* more than this are bound from the heap */
#define DB_MAX_COLS 256                /* columns per result row */
#define DB_MAX_VALUE (16u << 20)       /* largest column value db_query reads */

/* ---- small helpers ----------------------------------------------------- */

/* db_fail() with the error a statement reports. */
static db_rc fail_st(db_conn *c, MYSQL_STMT *st, char *err, size_t errlen) {
    return db_fail(c, mysql_stmt_errno(st), mysql_stmt_error(st), err, errlen);
}

/* ---- the statement cache ----------------------------------------------- */

static void cache_remove(db_conn *c, size_t i) {
    mysql_stmt_close(c->cache[i].st);
    free(c->cache[i].sql);
    c->cache[i] = c->cache[--c->ncache];
}

/* Returns the cached statement for sql, preparing (and caching) it if new. */
static MYSQL_STMT *stmt_get(db_conn *c, const char *sql, db_rc *rc, char *err, size_t errlen) {
    c->tick++;
    for (size_t i = 0; i < c->ncache; i++) {
        if (strcmp(c->cache[i].sql, sql) == 0) {
            c->cache[i].last_use = c->tick;
            return c->cache[i].st;
        }
    }
    MYSQL_STMT *st = mysql_stmt_init(c->m);
    if (!st) {
        *rc = db_fail_m(c, err, errlen);
        return NULL;
    }
    if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
        *rc = fail_st(c, st, err, errlen);
        mysql_stmt_close(st);
        return NULL;
    }
    char *key = strdup(sql);
    if (!key) {
        mysql_stmt_close(st);
        *rc = DB_ESQL;
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    if (c->ncache == DB_STMT_CACHE) {
        size_t lru = 0;
        for (size_t i = 1; i < c->ncache; i++)
            if (c->cache[i].last_use < c->cache[lru].last_use) lru = i;
        cache_remove(c, lru);
    }
    c->cache[c->ncache++] = (stmt_slot){.sql = key, .st = st, .last_use = c->tick};
    return st;
}

static void stmt_forget(db_conn *c, MYSQL_STMT *st) {
    for (size_t i = 0; i < c->ncache; i++) {
        if (c->cache[i].st == st) {
            cache_remove(c, i);
            return;
        }
    }
}

/* ---- binding and executing --------------------------------------------- */

/* Prepares (or reuses) sql, binds args and executes it. On success *out is
 * the statement, which may hold a result set to read or free. */
static db_rc stmt_run(db_conn *c, const char *sql, const db_arg *args, size_t nargs,
                      MYSQL_STMT **out, char *err, size_t errlen) {
    if (!c || !sql) {
        errbuf_set(err, errlen, "db: no connection or no SQL");
        return DB_ESQL;
    }
    if (c->broken) {
        errbuf_set(err, errlen, "db: the connection was lost earlier");
        return DB_ECONN;
    }
    if (nargs > DB_MAX_ARGS) {
        errbuf_set(err, errlen, "db: %zu arguments, at most %d", nargs, DB_MAX_ARGS);
        return DB_ESQL;
    }
    db_rc rc = DB_OK;
    MYSQL_STMT *st = stmt_get(c, sql, &rc, err, errlen);
    if (!st) return rc;
    unsigned long want = mysql_stmt_param_count(st);
    if (want != nargs) {
        errbuf_set(err, errlen, "db: the statement takes %lu arguments, %zu given: %.200s", want, nargs,
                sql);
        return DB_ESQL;
    }
    /* Few arguments are bound from the stack; a multi-row statement's many
     * from the heap (the caller may be on a small civetweb thread stack). */
    MYSQL_BIND sb[DB_STACK_ARGS], *b = sb;
    long long sints[DB_STACK_ARGS], *ints = sints;
    unsigned long slens[DB_STACK_ARGS], *lens = slens;
    if (nargs > DB_STACK_ARGS) {
        b = malloc(nargs * sizeof *b);
        ints = malloc(nargs * sizeof *ints);
        lens = malloc(nargs * sizeof *lens);
        if (!b || !ints || !lens) {
            free(b);
            free(ints);
            free(lens);
            errbuf_set(err, errlen, "db: out of memory");
            return DB_ESQL;
        }
    }
    if (nargs) {
        memset(b, 0, nargs * sizeof b[0]);
        for (size_t i = 0; i < nargs; i++) {
            switch (args[i].type) {
            case DB_T_INT64:
                ints[i] = args[i].i;
                b[i].buffer_type = MYSQL_TYPE_LONGLONG;
                b[i].buffer = &ints[i];
                break;
            case DB_T_STR:
                lens[i] = (unsigned long)args[i].len;
                b[i].buffer_type = MYSQL_TYPE_STRING;
                b[i].buffer = (void *)(args[i].s ? args[i].s : "");
                b[i].buffer_length = lens[i];
                b[i].length = &lens[i];
                break;
            default:
                b[i].buffer_type = MYSQL_TYPE_NULL;
                break;
            }
        }
        if (mysql_stmt_bind_param(st, b) != 0) {
            rc = fail_st(c, st, err, errlen);
            stmt_forget(c, st);
        }
    }
    /* Execute reads the bound values; they may go afterwards. */
    if (rc == DB_OK && mysql_stmt_execute(st) != 0) {
        unsigned eno = mysql_stmt_errno(st);
        rc = fail_st(c, st, err, errlen);
        /* A client-side error leaves the statement in an unknown state. */
        if (eno >= CR_MIN_ERROR && eno <= CR_MAX_ERROR && !c->broken) stmt_forget(c, st);
    }
    if (b != sb) {
        free(b);
        free(ints);
        free(lens);
    }
    if (rc != DB_OK) return rc;
    *out = st;
    return DB_OK;
}

static db_rc exec_stmt(db_conn *c, const char *sql, const db_arg *args, size_t nargs,
                       uint64_t *affected, char *err, size_t errlen) {
    MYSQL_STMT *st = NULL;
    db_rc rc = stmt_run(c, sql, args, nargs, &st, err, errlen);
    if (rc != DB_OK) return rc;
    uint64_t n = (uint64_t)mysql_stmt_affected_rows(st);
    uint64_t id = (uint64_t)mysql_stmt_insert_id(st);
    if (id) c->insert_id = id;
    if (mysql_stmt_field_count(st) > 0) {
        /* A statement with a result run through db_exec: discard the rows. */
        if (mysql_stmt_store_result(st) != 0) {
            rc = fail_st(c, st, err, errlen);
            mysql_stmt_free_result(st);
            return rc;
        }
        n = (uint64_t)mysql_stmt_num_rows(st);
        mysql_stmt_free_result(st);
    }
    if (affected) *affected = n;
    return DB_OK;
}

db_rc db_exec(db_conn *c, const char *sql, const db_arg *args, size_t nargs,
              uint64_t *affected, char *err, size_t errlen) {
    return db_end_statement(c, exec_stmt(c, sql, args, nargs, affected, err, errlen), err, errlen);
}

uint64_t db_last_insert_id(db_conn *c) { return c ? c->insert_id : 0; }

/* ---- reading rows ------------------------------------------------------ */

/* The per-query buffers db_query reads columns into. */
typedef struct {
    MYSQL_BIND *b;
    char **buf;
    unsigned long *len;
    my_bool *isnull;
    my_bool *trunc;
    db_val *vals;
} rowbufs;

static void rowbufs_free(rowbufs *r, size_t n) {
    for (size_t i = 0; r->buf && i < n; i++) free(r->buf[i]);
    free(r->b);
    free(r->buf);
    free(r->len);
    free(r->isnull);
    free(r->trunc);
    free(r->vals);
}

static int rowbufs_alloc(rowbufs *r, size_t n) {
    memset(r, 0, sizeof *r);
    r->b = calloc(n, sizeof *r->b);
    r->buf = calloc(n, sizeof *r->buf);
    r->len = calloc(n, sizeof *r->len);
    r->isnull = calloc(n, sizeof *r->isnull);
    r->trunc = calloc(n, sizeof *r->trunc);
    r->vals = calloc(n, sizeof *r->vals);
    if (!r->b || !r->buf || !r->len || !r->isnull || !r->trunc || !r->vals) return -1;
    for (size_t i = 0; i < n; i++) {
        const unsigned long cap = 64; /* grown on demand by fetch_column */
        r->buf[i] = malloc(cap + 1);
        if (!r->buf[i]) return -1;
        r->b[i].buffer_type = MYSQL_TYPE_STRING;
        r->b[i].buffer = r->buf[i];
        r->b[i].buffer_length = cap;
        r->b[i].length = &r->len[i];
        r->b[i].is_null = &r->isnull[i];
        r->b[i].error = &r->trunc[i];
    }
    return 0;
}

/* Re-reads the columns that did not fit into bigger buffers. Returns 1 when a
 * buffer grew (the binding must be renewed), 0 when none did, -1 on error. */
static int rowbufs_fit(db_conn *c, MYSQL_STMT *st, rowbufs *r, size_t n, db_rc *rc, char *err,
                       size_t errlen) {
    int grew = 0;
    for (size_t i = 0; i < n; i++) {
        if (r->isnull[i] || r->len[i] <= r->b[i].buffer_length) continue;
        if (r->len[i] > DB_MAX_VALUE) {
            *rc = DB_ESQL;
            errbuf_set(err, errlen, "db: column %zu holds %lu bytes, more than the %u allowed", i,
                    r->len[i], DB_MAX_VALUE);
            return -1;
        }
        char *nb = realloc(r->buf[i], r->len[i] + 1);
        if (!nb) {
            *rc = DB_ESQL;
            errbuf_set(err, errlen, "out of memory");
            return -1;
        }
        r->buf[i] = nb;
        r->b[i].buffer = nb;
        r->b[i].buffer_length = r->len[i];
        if (mysql_stmt_fetch_column(st, &r->b[i], (unsigned)i, 0) != 0) {
            *rc = fail_st(c, st, err, errlen);
            return -1;
        }
        grew = 1;
    }
    return grew;
}

static db_rc query_stmt(db_conn *c, const char *sql, const db_arg *args, size_t nargs,
                        db_row_fn fn, void *ud, char *err, size_t errlen) {
    MYSQL_STMT *st = NULL;
    db_rc rc = stmt_run(c, sql, args, nargs, &st, err, errlen);
    if (rc != DB_OK) return rc;
    size_t ncols = mysql_stmt_field_count(st);
    if (ncols == 0) return DB_OK; /* not a query: nothing to read */
    /* Read the whole result first: the connection is then free again even
     * when the callback stops early. */
    if (mysql_stmt_store_result(st) != 0) {
        rc = fail_st(c, st, err, errlen);
        mysql_stmt_free_result(st);
        return rc;
    }
    if (ncols > DB_MAX_COLS) {
        mysql_stmt_free_result(st);
        errbuf_set(err, errlen, "db: %zu columns, at most %d", ncols, DB_MAX_COLS);
        return DB_ESQL;
    }
    rowbufs r;
    if (rowbufs_alloc(&r, ncols) != 0) {
        rowbufs_free(&r, ncols);
        mysql_stmt_free_result(st);
        errbuf_set(err, errlen, "out of memory");
        return DB_ESQL;
    }
    /* Binding anew resets the lengths libmariadb reports, so a buffer that
     * grew for one row is bound just before the next fetch, not after. */
    int bind = 1;
    while (rc == DB_OK) {
        if (bind && mysql_stmt_bind_result(st, r.b) != 0) {
            rc = fail_st(c, st, err, errlen);
            break;
        }
        int f = mysql_stmt_fetch(st);
        if (f == MYSQL_NO_DATA) break;
        if (f == 1) {
            rc = fail_st(c, st, err, errlen);
            break;
        }
        int grew = rowbufs_fit(c, st, &r, ncols, &rc, err, errlen);
        if (grew < 0) break;
        bind = grew;
        for (size_t i = 0; i < ncols; i++) {
            if (r.isnull[i]) {
                r.vals[i] = (db_val){NULL, 0, 1};
            } else {
                r.buf[i][r.len[i]] = '\0';
                r.vals[i] = (db_val){r.buf[i], r.len[i], 0};
            }
        }
        if (fn && fn(ud, ncols, r.vals) != 0) break;
    }
    rowbufs_free(&r, ncols);
    mysql_stmt_free_result(st);
    return rc;
}

typedef struct {
    int64_t v;
    int found;
    int bad;
} int_row;

db_rc db_query(db_conn *c, const char *sql, const db_arg *args, size_t nargs,
               db_row_fn fn, void *ud, char *err, size_t errlen) {
    return db_end_statement(c, query_stmt(c, sql, args, nargs, fn, ud, err, errlen), err, errlen);
}

static int read_int_row(void *ud, size_t ncols, const db_val *cols) {
    int_row *r = ud;
    if (ncols > 0 && !cols[0].is_null) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(cols[0].s, &end, 10);
        if (errno != 0 || end == cols[0].s || *end != '\0') {
            r->bad = 1;
        } else {
            r->v = v;
            r->found = 1;
        }
    }
    return 1; /* the first row is enough */
}

db_rc db_query_int64(db_conn *c, const char *sql, const db_arg *args, size_t nargs,
                     int64_t *out, int *found, char *err, size_t errlen) {
    int_row r = {0, 0, 0};
    db_rc rc = db_query(c, sql, args, nargs, read_int_row, &r, err, errlen);
    if (rc == DB_OK && r.bad) {
        errbuf_set(err, errlen, "db: the first column is not an integer: %.200s", sql);
        rc = DB_ESQL;
    }
    if (found) *found = rc == DB_OK && r.found;
    if (out) *out = r.found ? r.v : 0;
    return rc;
}

