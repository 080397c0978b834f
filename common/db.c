/* db.c: the MariaDB/MySQL connection pool and transactions declared in
 * db.h, on MariaDB Connector/C (libmariadb). Prepared statements (db_exec,
 * db_query) are in db_stmt.c; what the two files share is in db_int.h.
 *
 * How it fits: every service and the coordinator's store reach the database
 * only through db.h. The barrier (barrier.c) runs its INSERTs and the
 * business SQL on one db_conn inside db_with_tx().
 *
 * Design notes:
 * - The pool is a mutex, a condition variable, an idle stack and a count of
 *   connections that exist (or are being opened). Connecting happens outside
 *   the mutex, so one slow connect does not block other threads.
 * - A connection that reports a lost-connection error is marked broken and
 *   closed on release. MYSQL_OPT_RECONNECT stays off: a silent reconnect in
 *   the middle of a transaction would run the rest of it in autocommit mode.
 * - Before an idle connection is handed out, its socket is polled: an idle
 *   MySQL connection has nothing to read, so a readable socket means the
 *   server closed it (restart, wait_timeout). The same check as
 *   go-sql-driver's connCheck.
 * - Sessions run with autocommit OFF, so the first statement of a
 *   transaction begins it: db_begin() costs no round trip, and a local
 *   transaction of two statements takes three (two statements, COMMIT)
 *   instead of four. To keep autocommit's meaning for everything else, a
 *   statement run outside db_begin() is followed at once by COMMIT (ROLLBACK
 *   when it failed): no lock and no read snapshot outlives the call, and an
 *   idle connection never holds an open transaction. Only a connection
 *   back from more than DB_HOT_MS in the pool still gets an explicit START
 *   TRANSACTION: that round trip proves it alive before any of the
 *   transaction runs, so db_with_tx() can retry on a fresh connection. */
#include "db.h"

#include <assert.h>
#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "db_int.h"
#include "errbuf.h"
#include "log.h"
#include "mono.h"

#define DB_DEFAULT_CONNECT_S 3
#define DB_DEFAULT_RW_S 10
#define DB_BACKOFF_MIN_MS 100
#define DB_BACKOFF_MAX_MS 500
/* A connection given back to the pool less than this long ago begins a
 * transaction without a round trip of its own (db_begin). */
#define DB_HOT_MS 1000

struct db_pool {
    dsn d;
    int max_conns;
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* signalled when a connection or a slot frees up */
    int open;            /* connections that exist or are being opened */
    int waiting;         /* threads in db_acquire waiting on cv */
    db_conn *idle;       /* stack of free connections */
};

/* ---- small helpers ----------------------------------------------------- */

/* Errors after which the connection cannot be used again. */
static int is_conn_error(unsigned eno) {
    switch (eno) {
    case CR_CONNECTION_ERROR:     /* 2002 */
    case CR_CONN_HOST_ERROR:      /* 2003 */
    case CR_SERVER_GONE_ERROR:    /* 2006 */
    case CR_SERVER_LOST:          /* 2013 */
    case CR_SERVER_LOST_EXTENDED: /* 2055 */
    case CR_COMMANDS_OUT_OF_SYNC: /* 2014: the protocol state is unknown */
    case CR_ERR_NET_READ:         /* 5013 */
    case CR_ERR_NET_WRITE:        /* 5014 */
    case ER_SERVER_SHUTDOWN:      /* 1053 */
    case ER_NORMAL_SHUTDOWN:      /* 1077 */
    case ER_SHUTDOWN_COMPLETE:    /* 1079 */
    case ER_ABORTING_CONNECTION:  /* 1152 */
    case ER_NET_READ_ERROR:       /* 1158 */
    case ER_NET_READ_INTERRUPTED: /* 1159 */
    case ER_NET_ERROR_ON_WRITE:   /* 1160 */
    case ER_NET_WRITE_INTERRUPTED:/* 1161 */
    case ER_CONNECTION_KILLED:    /* 1927 */
        return 1;
    default:
        return 0;
    }
}

/* Turns a server/client error into a db_rc, marks the connection broken when
 * it is lost, and fills err. */
db_rc db_fail(db_conn *c, unsigned eno, const char *msg, char *err, size_t errlen) {
    db_rc rc = DB_ESQL;
    if (eno == ER_DUP_ENTRY) {
        rc = DB_EDUP;
    } else if (is_conn_error(eno)) {
        rc = DB_ECONN;
        if (c) c->broken = 1;
    }
    errbuf_set(err, errlen, "%s (errno %u)", msg && *msg ? msg : "unknown error", eno);
    return rc;
}

db_rc db_fail_m(db_conn *c, char *err, size_t errlen) {
    return db_fail(c, mysql_errno(c->m), mysql_error(c->m), err, errlen);
}

/* ---- connections ------------------------------------------------------- */

static pthread_once_t g_init_once = PTHREAD_ONCE_INIT;

/* libmariadb's library init starts its TLS layer whether or not a
 * connection will use it: OpenSSL reads openssl.cnf, registers every cipher
 * and digest name and loads its error strings. That touches about 1.6 MB of
 * OpenSSL's pages in every process (measured in RSS with a test program).
 * cdtm never asks MariaDB for TLS (a DSN has no TLS option), so OpenSSL is
 * initialised first with those steps declined. OpenSSL keeps a declined step
 * declined for the life of the process, so libmariadb's own request after
 * it adds nothing. If a DSN ever gains a TLS option, remove this. */
static void openssl_init_minimal(void) {
    const uint64_t skip = OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ADD_ALL_CIPHERS |
                          OPENSSL_INIT_NO_ADD_ALL_DIGESTS | OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS |
                          OPENSSL_INIT_NO_LOAD_SSL_STRINGS;
    if (OPENSSL_init_ssl(skip, NULL) != 1)
        log_error(NULL, "db: OpenSSL init failed (libmariadb will try it again)");
}

static void global_init_once(void) {
    openssl_init_minimal();
    if (mysql_library_init(0, NULL, NULL) != 0)
        log_error(NULL, "db: mysql_library_init failed");
}

void db_global_init(void) { pthread_once(&g_init_once, global_init_once); }

/* Opens one session: timeouts from the DSN, utf8mb4, UTC, autocommit off. */
static db_conn *conn_open(const dsn *d, char *err, size_t errlen) {
    MYSQL *m = mysql_init(NULL);
    if (!m) {
        errbuf_set(err, errlen, "mysql_init: out of memory");
        return NULL;
    }
    unsigned ct = d->connect_timeout_s ? d->connect_timeout_s : DB_DEFAULT_CONNECT_S;
    unsigned rt = d->read_timeout_s ? d->read_timeout_s : DB_DEFAULT_RW_S;
    unsigned wt = d->write_timeout_s ? d->write_timeout_s : DB_DEFAULT_RW_S;
    my_bool on = 1, off = 0;
    unsigned proto = d->socket[0] ? MYSQL_PROTOCOL_SOCKET : MYSQL_PROTOCOL_TCP;
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
    mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &rt);
    mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &wt);
    mysql_options(m, MYSQL_OPT_RECONNECT, &off);
    mysql_options(m, MYSQL_REPORT_DATA_TRUNCATION, &on);
    mysql_options(m, MYSQL_OPT_PROTOCOL, &proto);
    mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");

    const char *host = d->socket[0] ? NULL : (d->host[0] ? d->host : "127.0.0.1");
    if (!mysql_real_connect(m, host, d->user, d->password, d->dbname[0] ? d->dbname : NULL,
                            d->port ? d->port : 3306, d->socket[0] ? d->socket : NULL, 0)) {
        errbuf_set(err, errlen, "cannot connect to %s%s%u as '%s': %s (errno %u)",
                d->socket[0] ? d->socket : host, d->socket[0] ? "" : ":",
                d->socket[0] ? 0u : (d->port ? d->port : 3306u), d->user, mysql_error(m),
                mysql_errno(m));
        mysql_close(m);
        return NULL;
    }
    /* Fixed text, no arguments: the session settings every query relies on. */
    static const char setup[] = "SET time_zone = '+00:00', autocommit = 0";
    if (mysql_real_query(m, setup, sizeof setup - 1) != 0) {
        errbuf_set(err, errlen, "session setup failed: %s (errno %u)", mysql_error(m), mysql_errno(m));
        mysql_close(m);
        return NULL;
    }
    db_conn *c = calloc(1, sizeof *c);
    if (!c) {
        errbuf_set(err, errlen, "out of memory");
        mysql_close(m);
        return NULL;
    }
    c->m = m;
    return c;
}

static void conn_close(db_conn *c) {
    if (!c) return;
    /* On a dead connection close the session first: that detaches the
     * statements, so closing them sends nothing over the dead socket. */
    if (c->broken) {
        mysql_close(c->m);
        c->m = NULL;
    }
    for (size_t i = 0; i < c->ncache; i++) {
        mysql_stmt_close(c->cache[i].st);
        free(c->cache[i].sql);
    }
    if (c->m) mysql_close(c->m);
    free(c);
}

/* 1 when an idle connection still looks usable: nothing to read on it. */
static int conn_alive(db_conn *c) {
    my_socket fd = mysql_get_socket(c->m);
    if ((int)fd < 0) return 0;
    struct pollfd pfd = {.fd = (int)fd, .events = POLLIN};
    int r = poll(&pfd, 1, 0);
    return r == 0;
}

/* ---- the pool ---------------------------------------------------------- */

db_pool *db_pool_new(const dsn *d, int max_conns, char *err, size_t errlen) {
    if (!d) {
        errbuf_set(err, errlen, "db_pool_new: no DSN");
        return NULL;
    }
    if (max_conns < 1 || max_conns > 1000) {
        errbuf_set(err, errlen, "db_pool_new: max_conns must be 1..1000, got %d", max_conns);
        return NULL;
    }
    db_pool *p = calloc(1, sizeof *p);
    if (!p) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    p->d = *d;
    p->max_conns = max_conns;
    mono_cond_init(&p->cv);
    pthread_mutex_init(&p->mu, NULL);
    return p;
}

void db_pool_free(db_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    db_conn *c = p->idle;
    p->idle = NULL;
    while (c) {
        db_conn *next = c->next;
        conn_close(c);
        p->open--;
        c = next;
    }
    assert(p->open == 0 && "db_pool_free: a connection is still acquired");
    pthread_mutex_unlock(&p->mu);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* Gives back a slot whose connection was closed (or never opened). */
static void pool_slot_freed(db_pool *p) {
    pthread_mutex_lock(&p->mu);
    p->open--;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Closes every idle connection: used when one of them proved stale, since a
 * server restart kills them all. */
static void pool_drop_idle(db_pool *p) {
    pthread_mutex_lock(&p->mu);
    db_conn *c = p->idle;
    p->idle = NULL;
    pthread_mutex_unlock(&p->mu);
    while (c) {
        db_conn *next = c->next;
        c->broken = 1;
        conn_close(c);
        pool_slot_freed(p);
        c = next;
    }
}

db_conn *db_acquire(db_pool *p, int timeout_ms, db_rc *rc, char *err, size_t errlen) {
    db_rc dummy;
    if (!rc) rc = &dummy;
    if (!p) {
        *rc = DB_ESQL;
        errbuf_set(err, errlen, "db_acquire: no pool");
        return NULL;
    }
    if (timeout_ms < 0) timeout_ms = 0;
    long long deadline = mono_now_ms() + timeout_ms;
    long long next_connect = 0;  /* backoff: no new connect attempt before this */
    int backoff = DB_BACKOFF_MIN_MS;
    char cerr[512] = "";         /* the last connect error */

    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->idle) {
            db_conn *c = p->idle;
            p->idle = c->next;
            pthread_mutex_unlock(&p->mu);
            c->next = NULL;
            if (conn_alive(c)) {
                c->reused = 1;
                *rc = DB_OK;
                return c;
            }
            log_debug(NULL, "db: dropping an idle connection the server closed");
            c->broken = 1;
            conn_close(c);
            pthread_mutex_lock(&p->mu);
            p->open--;
            continue;
        }
        long long now = mono_now_ms();
        if (p->open < p->max_conns && now >= next_connect) {
            p->open++;
            pthread_mutex_unlock(&p->mu);
            db_conn *c = conn_open(&p->d, cerr, sizeof cerr);
            if (c) {
                *rc = DB_OK;
                return c;
            }
            log_debug(NULL, "db: %s", cerr);
            pthread_mutex_lock(&p->mu);
            p->open--;
            pthread_cond_signal(&p->cv);
            next_connect = mono_now_ms() + backoff;
            backoff = backoff * 2 > DB_BACKOFF_MAX_MS ? DB_BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        if (now >= deadline) break;
        /* Wait for a release, a freed slot, or the end of the backoff. */
        long long until = deadline;
        if (p->open < p->max_conns && next_connect < until) until = next_connect;
        struct timespec ts = mono_at(until);
        p->waiting++;
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
        p->waiting--;
    }
    pthread_mutex_unlock(&p->mu);
    if (cerr[0]) {
        *rc = DB_ECONN;
        errbuf_set(err, errlen, "%s (gave up after %d ms)", cerr, timeout_ms);
    } else {
        *rc = DB_EBUSY;
        errbuf_set(err, errlen, "no database connection became free within %d ms (pool of %d)",
                timeout_ms, p->max_conns);
    }
    return NULL;
}

int db_pool_waiting(db_pool *p) {
    pthread_mutex_lock(&p->mu);
    int n = p->waiting;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void db_release(db_pool *p, db_conn *c) {
    if (!c) return;
    if (c->in_tx && !c->broken) {
        if (mysql_rollback(c->m) != 0) c->broken = 1;
    }
    c->in_tx = 0;
    c->released_ms = mono_now_ms();
    if (c->broken) {
        conn_close(c);
        pool_slot_freed(p);
        return;
    }
    pthread_mutex_lock(&p->mu);
    c->next = p->idle;
    p->idle = c;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* ---- transactions ------------------------------------------------------ */

/* Sends COMMIT. A connection lost on the way leaves the outcome unknown. */
static db_rc commit_now(db_conn *c, char *err, size_t errlen) {
    if (mysql_commit(c->m) == 0) return DB_OK;
    db_rc rc = db_fail_m(c, err, errlen);
    if (rc == DB_ECONN)
        errbuf_set(err, errlen, "db: connection lost during COMMIT: outcome unknown (errno %u)",
                   mysql_errno(c->m));
    return rc;
}

db_rc db_begin(db_conn *c, char *err, size_t errlen) {
    if (c->broken) {
        errbuf_set(err, errlen, "db: the connection was lost earlier");
        return DB_ECONN;
    }
    if (c->in_tx) {
        errbuf_set(err, errlen, "db: a transaction is already open on this connection");
        return DB_ESQL;
    }
    /* Autocommit is off, so the first statement begins the transaction by
     * itself. A connection that sat idle in the pool is asked explicitly
     * first: that round trip shows whether it is still alive before anything
     * runs on it, which db_with_tx() relies on to retry on a fresh one. */
    if (c->reused && mono_now_ms() - c->released_ms > DB_HOT_MS) {
        static const char q[] = "START TRANSACTION";
        if (mysql_real_query(c->m, q, sizeof q - 1) != 0) return db_fail_m(c, err, errlen);
    }
    c->in_tx = 1;
    return DB_OK;
}

db_rc db_end_statement(db_conn *c, db_rc rc, char *err, size_t errlen) {
    if (c->in_tx || c->broken) return rc;
    if (rc != DB_OK) {
        if (mysql_rollback(c->m) != 0) c->broken = 1; /* keep the statement's error */
        return rc;
    }
    return commit_now(c, err, errlen);
}

db_rc db_commit(db_conn *c, char *err, size_t errlen) {
    if (c->broken) {
        errbuf_set(err, errlen, "db: the connection was lost earlier; the transaction did not commit");
        return DB_ECONN;
    }
    db_rc rc = commit_now(c, err, errlen);
    if (rc == DB_OK) c->in_tx = 0; /* else release rolls back what is left */
    return rc;
}

db_rc db_rollback(db_conn *c, char *err, size_t errlen) {
    if (c->broken) {
        /* The server rolls back a transaction whose session ended. */
        c->in_tx = 0;
        return DB_OK;
    }
    db_rc rc = DB_OK;
    if (mysql_rollback(c->m) != 0) rc = db_fail_m(c, err, errlen);
    c->in_tx = 0;
    return rc;
}

int db_with_tx(db_pool *p, int timeout_ms, db_tx_fn fn, void *ud, char *err, size_t errlen) {
    long long deadline = mono_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    db_rc rc = DB_OK;
    db_conn *c = db_acquire(p, timeout_ms, &rc, err, errlen);
    if (!c) return rc;
    rc = db_begin(c, err, errlen);
    if (rc == DB_ECONN && c->reused) {
        /* The pooled connection died while idle and nothing has run on it,
         * so starting over on a fresh connection is safe. Its idle siblings
         * are most likely dead too (a server restart): drop them. */
        log_info(NULL, "db: stale pooled connection at BEGIN (%s); retrying on a fresh one",
                 err ? err : "");
        db_release(p, c);
        pool_drop_idle(p);
        long long left = deadline - mono_now_ms();
        c = db_acquire(p, left > 0 ? (int)left : 0, &rc, err, errlen);
        if (!c) return rc;
        rc = db_begin(c, err, errlen);
    }
    if (rc != DB_OK) {
        db_release(p, c);
        return rc;
    }
    int r = fn(c, ud, err, errlen);
    if (r != 0) {
        char ignored[256];
        db_rollback(c, ignored, sizeof ignored); /* keep fn's message in err */
        db_release(p, c);
        return r;
    }
    rc = db_commit(c, err, errlen);
    db_release(p, c);
    return rc;
}
