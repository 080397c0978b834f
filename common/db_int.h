/* db_int.h: private to the db module. What db.c and db_stmt.c share, and no
 * one else: include db.h instead. Not installed.
 *
 * db.c opens, pools and closes connections and runs transactions on them;
 * db_stmt.c prepares, caches and runs statements on a connection. Both see
 * the connection's fields and turn libmariadb errors into a db_rc the same
 * way, with the helpers declared here (defined in db.c). */
#ifndef CDTM_DB_INT_H
#define CDTM_DB_INT_H

#include <mysql.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

#define DB_STMT_CACHE 128              /* prepared statements kept per connection */

typedef struct {
    char *sql;         /* the cache key; owned */
    MYSQL_STMT *st;
    uint64_t last_use; /* value of conn->tick when last used, for LRU */
} stmt_slot;

struct db_conn {
    MYSQL *m;
    int broken;          /* lost connection seen: close on release */
    int in_tx;           /* between db_begin and db_commit/db_rollback */
    int reused;          /* handed out from the idle list, so it may be stale */
    long long released_ms; /* mono_now_ms() when last given back to the pool */
    uint64_t insert_id;  /* AUTO_INCREMENT id of the last INSERT */
    stmt_slot cache[DB_STMT_CACHE];
    size_t ncache;
    uint64_t tick;
    db_conn *next;       /* link in the pool's idle list */
};

/* Turns libmariadb error eno (message msg) into a db_rc, marks c (may be
 * NULL) broken when the connection is lost, and fills err. */
db_rc db_fail(db_conn *c, unsigned eno, const char *msg, char *err, size_t errlen);

/* db_fail() with the last error of c's session (c->m). */
db_rc db_fail_m(db_conn *c, char *err, size_t errlen);

/* Ends the implicit transaction a statement run outside db_begin() opened
 * (sessions run with autocommit off, see db.c): COMMIT when `rc` is DB_OK,
 * else ROLLBACK. Returns `rc`, or the COMMIT's error. No-op inside a
 * transaction or on a broken connection. */
db_rc db_end_statement(db_conn *c, db_rc rc, char *err, size_t errlen);

#endif
