/* test_db_pool.c: the connection pool, prepared statements and transactions
 * of common/db.h against a real MariaDB, including a server restart.
 *
 * The restart case stops and starts the server on $MARIADB_PORT with
 * scripts/mariadb.sh. That server is shared with the other tests of the run,
 * which is acceptable only because CTest runs them one at a time; the test
 * always leaves the server running when it ends. */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define TEST_DB "cdtm_pool"

static db_pool *admin; /* root, no database: setup and observation */

/* A pool of at most max_conns on TEST_DB. */
static db_pool *pool_of(int max_conns) {
    dsn d;
    memset(&d, 0, sizeof d);
    snprintf(d.user, sizeof d.user, "root");
    snprintf(d.host, sizeof d.host, "127.0.0.1");
    d.port = (unsigned)h_db_port();
    snprintf(d.dbname, sizeof d.dbname, TEST_DB);
    char err[256];
    db_pool *p = db_pool_new(&d, max_conns, err, sizeof err);
    if (!p) {
        fprintf(stderr, "db_pool_new: %s\n", err);
        exit(2);
    }
    return p;
}

/* Server sessions currently using TEST_DB. */
static int64_t sessions(void) {
    return h_db_int(admin, -1, "select count(*) from information_schema.processlist "
                               "where db = '" TEST_DB "'");
}

/* ---- statements -------------------------------------------------------- */

typedef struct {
    int rows;
    char text[4][128];
    size_t len[4];
    int null[4];
    size_t ncols;
} capture;

static int capture_row(void *ud, size_t ncols, const db_val *cols) {
    capture *c = ud;
    c->ncols = ncols;
    for (size_t i = 0; i < ncols && i < 4; i++) {
        c->null[i] = cols[i].is_null;
        c->len[i] = cols[i].len;
        snprintf(c->text[i], sizeof c->text[i], "%s", cols[i].s ? cols[i].s : "");
        if (!cols[i].is_null) CHECK(cols[i].s[cols[i].len] == '\0');
    }
    c->rows++;
    return 0;
}

static void statements(db_pool *p) {
    char err[512];
    db_rc rc;
    db_conn *c = db_acquire(p, 5000, &rc, err, sizeof err);
    CHECK(c != NULL);
    if (!c) return;

    h_step("db_query_reads_text_and_nulls");
    capture cap = {0};
    CHECK_EQ_INT(db_query(c, "select 1 + 1, NULL, 'x', cast(null as signed)", NULL, 0,
                          capture_row, &cap, err, sizeof err), DB_OK);
    CHECK_EQ_INT(cap.rows, 1);
    CHECK_EQ_INT(cap.ncols, 4);
    CHECK_EQ_STR(cap.text[0], "2");
    CHECK(!cap.null[0] && cap.null[1] && !cap.null[2] && cap.null[3]);
    CHECK_EQ_STR(cap.text[2], "x");

    h_step("db_session_is_utc_utf8mb4");
    memset(&cap, 0, sizeof cap);
    CHECK_EQ_INT(db_query(c, "select @@session.time_zone, @@character_set_client, @@autocommit, "
                             "cast('2024-01-02 03:04:05' as datetime)",
                          NULL, 0, capture_row, &cap, err, sizeof err), DB_OK);
    CHECK_EQ_STR(cap.text[0], "+00:00");
    CHECK_EQ_STR(cap.text[1], "utf8mb4");
    CHECK_EQ_STR(cap.text[2], "0"); /* db.c ends each statement's transaction itself */
    CHECK_EQ_STR(cap.text[3], "2024-01-02 03:04:05");

    h_step("db_binds_strings_verbatim");
    static const char tricky[] = "it's \"quoted\" \\ back\\slash' OR '1'='1; -- \xe2\x82\xac";
    static const char bin[] = {'a', '\0', 'b', '\\', '\'', 'c'};
    db_arg ins[2] = {DB_STR(tricky), DB_BYTES(bin, sizeof bin)};
    uint64_t n = 0;
    CHECK_EQ_INT(db_exec(c, "insert into strs(s, b) values(?, ?)", ins, 2, &n, err, sizeof err),
                 DB_OK);
    CHECK_EQ_INT(n, 1);
    uint64_t id = db_last_insert_id(c);
    CHECK(id > 0);
    memset(&cap, 0, sizeof cap);
    db_arg sel[1] = {DB_INT(id)};
    CHECK_EQ_INT(db_query(c, "select s, b, length(b), id from strs where id = ?", sel, 1,
                          capture_row, &cap, err, sizeof err), DB_OK);
    CHECK_EQ_INT(cap.rows, 1);
    CHECK_EQ_STR(cap.text[0], tricky);
    CHECK_EQ_INT(cap.len[0], strlen(tricky));
    CHECK_EQ_INT(cap.len[1], sizeof bin);
    CHECK(memcmp(cap.text[1], "a", 2) == 0); /* text copy stops at the NUL; length says 6 */
    CHECK_EQ_STR(cap.text[2], "6");

    h_step("db_query_reads_long_values");
    int64_t len = 0;
    int found = 0;
    CHECK_EQ_INT(db_query_int64(c, "select length(repeat('a', ?))", (db_arg[]){DB_INT(100000)}, 1,
                                &len, &found, err, sizeof err), DB_OK);
    CHECK_EQ_INT(len, 100000);
    memset(&cap, 0, sizeof cap);
    CHECK_EQ_INT(db_query(c, "select repeat('b', k), k from (select 1 k union all select 5000 "
                             "union all select 3) t order by k desc",
                          NULL, 0, capture_row, &cap, err, sizeof err), DB_OK);
    CHECK_EQ_INT(cap.rows, 3);
    CHECK_EQ_INT(cap.len[0], 1); /* the last row read */

    h_step("db_query_int64_reports_no_row");
    found = 1;
    CHECK_EQ_INT(db_query_int64(c, "select id from strs where id = ?", (db_arg[]){DB_INT(-1)}, 1,
                                &len, &found, err, sizeof err), DB_OK);
    CHECK_EQ_INT(found, 0);
    CHECK_EQ_INT(db_query_int64(c, "select 'abc'", NULL, 0, &len, &found, err, sizeof err),
                 DB_ESQL);

    h_step("db_errors_are_classified");
    db_arg dup[2] = {DB_INT(id), DB_STR("again")};
    CHECK_EQ_INT(db_exec(c, "insert into strs(id, s) values(?, ?)", dup, 2, NULL, err, sizeof err),
                 DB_EDUP);
    CHECK(strstr(err, "Duplicate") != NULL);
    CHECK_EQ_INT(db_exec(c, "selec nonsense", NULL, 0, NULL, err, sizeof err), DB_ESQL);
    CHECK(strstr(err, "errno 1064") != NULL);
    CHECK_EQ_INT(db_exec(c, "select ?", NULL, 0, NULL, err, sizeof err), DB_ESQL);
    CHECK_EQ_INT(db_query_int64(c, "select 7", NULL, 0, &len, &found, err, sizeof err), DB_OK);
    CHECK_EQ_INT(len, 7); /* the connection is still fine */

    h_step("db_statement_cache_evicts");
    for (int i = 0; i < 150; i++) {
        char sql[64];
        snprintf(sql, sizeof sql, "select ? + %d", i);
        CHECK_EQ_INT(db_query_int64(c, sql, (db_arg[]){DB_INT(1)}, 1, &len, &found, err,
                                    sizeof err), DB_OK);
        CHECK_EQ_INT(len, i + 1);
    }
    db_release(p, c);
}

/* ---- transactions ------------------------------------------------------ */

static int insert_tx(db_conn *tx, void *ud, char *err, size_t errlen) {
    const char *s = ud;
    return db_exec(tx, "insert into strs(s) values(?)", (db_arg[]){DB_STR(s)}, 1, NULL, err,
                   errlen);
}

static int insert_then_fail(db_conn *tx, void *ud, char *err, size_t errlen) {
    int rc = insert_tx(tx, ud, err, errlen);
    if (rc != DB_OK) return rc;
    snprintf(err, errlen, "refused");
    return 42;
}

static int64_t count_s(const char *s) {
    return h_db_int(admin, -1, "select count(*) from " TEST_DB ".strs where s = '%s'", s);
}

static void transactions(db_pool *p) {
    char err[256];
    h_step("db_with_tx_commits");
    CHECK_EQ_INT(db_with_tx(p, 5000, insert_tx, "tx-commit", err, sizeof err), 0);
    CHECK_EQ_INT(count_s("tx-commit"), 1);

    h_step("db_with_tx_rolls_back_and_returns_fn_value");
    CHECK_EQ_INT(db_with_tx(p, 5000, insert_then_fail, "tx-fail", err, sizeof err), 42);
    CHECK_EQ_STR(err, "refused");
    CHECK_EQ_INT(count_s("tx-fail"), 0);

    h_step("db_release_rolls_back_open_tx");
    db_conn *c = db_acquire(p, 5000, NULL, err, sizeof err);
    CHECK(c != NULL);
    if (!c) return;
    CHECK_EQ_INT(db_begin(c, err, sizeof err), DB_OK);
    CHECK_EQ_INT(insert_tx(c, "tx-abandoned", err, sizeof err), DB_OK);
    db_release(p, c);
    CHECK_EQ_INT(count_s("tx-abandoned"), 0);
    c = db_acquire(p, 5000, NULL, err, sizeof err);
    CHECK(c != NULL);
    if (!c) return;
    CHECK_EQ_INT(db_begin(c, err, sizeof err), DB_OK);
    CHECK_EQ_INT(insert_tx(c, "tx-explicit", err, sizeof err), DB_OK);
    CHECK_EQ_INT(db_commit(c, err, sizeof err), DB_OK);
    db_release(p, c);
    CHECK_EQ_INT(count_s("tx-explicit"), 1);
}

/* START TRANSACTION statements this session has run (MariaDB's Com_begin). */
static int64_t begins(db_conn *c) {
    int64_t v = -1;
    int found = 0;
    char err[256];
    CHECK_EQ_INT(db_query_int64(c, "select variable_value from information_schema.session_status "
                                   "where variable_name = 'COM_BEGIN'",
                                NULL, 0, &v, &found, err, sizeof err), DB_OK);
    CHECK(found);
    return v;
}

/* Sessions run with autocommit off (db.c), so a statement outside db_begin
 * must still be committed, and release its locks and its snapshot, at once. */
static void autocommit_off(db_pool *p) {
    char err[256];
    db_rc rc;
    h_db_exec(admin, "replace into " TEST_DB ".hits(id, n) values (7, 0)");
    db_pool *q = pool_of(1);
    db_conn *a = db_acquire(p, 5000, &rc, err, sizeof err);
    db_conn *b = db_acquire(q, 5000, &rc, err, sizeof err);
    CHECK(a && b);
    if (!a || !b) return;

    h_step("db_statement_outside_tx_commits_at_once");
    CHECK_EQ_INT(db_exec(a, "insert into strs(s) values('auto-1')", NULL, 0, NULL, err, sizeof err),
                 DB_OK);
    CHECK_EQ_INT(count_s("auto-1"), 1); /* seen by another session while a is still held */
    CHECK_EQ_INT(db_exec(a, "update hits set n = n + 1 where id = 7", NULL, 0, NULL, err,
                         sizeof err), DB_OK);
    /* b would wait for a's row lock if a's UPDATE were still open. */
    CHECK_EQ_INT(db_exec(b, "set session innodb_lock_wait_timeout = 1", NULL, 0, NULL, err,
                         sizeof err), DB_OK);
    CHECK_EQ_INT(db_exec(b, "update hits set n = n + 10 where id = 7", NULL, 0, NULL, err,
                         sizeof err), DB_OK);
    CHECK_EQ_INT(h_db_int(admin, -1, "select n from " TEST_DB ".hits where id = 7"), 11);

    h_step("db_statement_outside_tx_rolls_back_its_failure");
    CHECK_EQ_INT(db_exec(a, "insert into hits(id, n) values (7, 0)", NULL, 0, NULL, err, sizeof err),
                 DB_EDUP);
    CHECK_EQ_INT(db_exec(b, "update hits set n = n + 100 where id = 7", NULL, 0, NULL, err,
                         sizeof err), DB_OK);
    CHECK_EQ_INT(h_db_int(admin, -1, "select n from " TEST_DB ".hits where id = 7"), 111);

    h_step("db_read_outside_tx_sees_fresh_rows");
    int64_t n = -1;
    CHECK_EQ_INT(db_query_int64(a, "select count(*) from strs where s = 'fresh'", NULL, 0, &n, NULL,
                                err, sizeof err), DB_OK);
    CHECK_EQ_INT(n, 0);
    h_db_exec(admin, "insert into " TEST_DB ".strs(s) values('fresh')");
    CHECK_EQ_INT(db_query_int64(a, "select count(*) from strs where s = 'fresh'", NULL, 0, &n, NULL,
                                err, sizeof err), DB_OK);
    CHECK_EQ_INT(n, 1); /* a snapshot left open by the first read would still say 0 */
    db_release(p, a);

    h_step("db_begin_costs_no_round_trip_on_a_busy_connection");
    /* q has one connection, so b comes back as the same session. */
    db_release(q, b);
    b = db_acquire(q, 5000, &rc, err, sizeof err);
    CHECK(b != NULL);
    if (!b) return;
    int64_t before = begins(b);
    CHECK_EQ_INT(db_begin(b, err, sizeof err), DB_OK);
    CHECK_EQ_INT(insert_tx(b, "hot-tx", err, sizeof err), DB_OK);
    CHECK_EQ_INT(count_s("hot-tx"), 0); /* not committed yet: it is a transaction */
    CHECK_EQ_INT(db_commit(b, err, sizeof err), DB_OK);
    CHECK_EQ_INT(count_s("hot-tx"), 1);
    CHECK_EQ_INT(begins(b), before);
    db_release(q, b);

    h_step("db_begin_checks_a_connection_idle_for_a_second");
    /* Not a wait for an event: the connection must age past DB_HOT_MS. */
    h_sleep_ms(1200);
    b = db_acquire(q, 5000, &rc, err, sizeof err);
    CHECK(b != NULL);
    if (!b) return;
    before = begins(b);
    CHECK_EQ_INT(db_begin(b, err, sizeof err), DB_OK);
    CHECK_EQ_INT(db_rollback(b, err, sizeof err), DB_OK);
    CHECK_EQ_INT(begins(b), before + 1);
    db_release(q, b);
    db_pool_free(q);
}

/* ---- limits and concurrency -------------------------------------------- */

typedef struct {
    db_pool *p;
    int timeout_ms;
    atomic_int *release; /* hold the connection until this becomes 1 */
    atomic_int *held;    /* incremented once the connection is taken */
    db_rc rc;
    int got;
    long long waited_ms;
} holder;

static void *hold_conn(void *arg) {
    holder *h = arg;
    char err[256];
    long long t0 = h_now_ms();
    db_conn *c = db_acquire(h->p, h->timeout_ms, &h->rc, err, sizeof err);
    h->waited_ms = h_now_ms() - t0;
    h->got = c != NULL;
    if (!c) return NULL;
    atomic_fetch_add(h->held, 1);
    long long deadline = h_now_ms() + 20000;
    while (!atomic_load(h->release) && h_now_ms() < deadline) h_sleep_ms(10);
    db_release(h->p, c);
    return NULL;
}

static int wait_held(atomic_int *held, int want) {
    long long deadline = h_now_ms() + 10000;
    while (atomic_load(held) < want && h_now_ms() < deadline) h_sleep_ms(10);
    return atomic_load(held) >= want;
}

static void pool_limit(void) {
    h_step("db_pool_never_exceeds_max_conns");
    db_pool *p = pool_of(2);
    atomic_int rel1 = 0, rel2 = 0, held = 0;
    holder h[4] = {{p, 5000, &rel1, &held, 0, 0, 0}, {p, 5000, &rel2, &held, 0, 0, 0},
                   {p, 300, &rel2, &held, 0, 0, 0},  {p, 10000, &rel2, &held, 0, 0, 0}};
    pthread_t t[4];
    pthread_create(&t[0], NULL, hold_conn, &h[0]);
    pthread_create(&t[1], NULL, hold_conn, &h[1]);
    CHECK(wait_held(&held, 2));
    CHECK_EQ_INT(sessions(), 2);

    /* The third waits, then gives up with DB_EBUSY. */
    pthread_create(&t[2], NULL, hold_conn, &h[2]);
    pthread_join(t[2], NULL);
    CHECK_EQ_INT(h[2].got, 0);
    CHECK_EQ_INT(h[2].rc, DB_EBUSY);
    CHECK(h[2].waited_ms >= 250);

    /* A fourth with a longer timeout gets the connection the first frees. */
    pthread_create(&t[3], NULL, hold_conn, &h[3]);
    long long deadline = h_now_ms() + 5000;
    while (db_pool_waiting(p) < 1 && h_now_ms() < deadline) h_sleep_ms(5);
    CHECK_EQ_INT(db_pool_waiting(p), 1);
    atomic_store(&rel1, 1);
    pthread_join(t[0], NULL);
    CHECK(wait_held(&held, 3));
    CHECK_EQ_INT(h[3].got, 1);
    CHECK_EQ_INT(sessions(), 2);
    atomic_store(&rel2, 1);
    pthread_join(t[1], NULL);
    pthread_join(t[3], NULL);
    db_pool_free(p);

    char err[256];
    dsn d = {0};
    CHECK(db_pool_new(&d, 0, err, sizeof err) == NULL);
    CHECK(strstr(err, "max_conns") != NULL);
    CHECK(db_pool_new(NULL, 2, err, sizeof err) == NULL);
}

typedef struct {
    db_pool *p;
    int fails;
} adder;

static int add_one(db_conn *tx, void *ud, char *err, size_t errlen) {
    (void)ud;
    return db_exec(tx, "update hits set n = n + 1 where id = 1", NULL, 0, NULL, err, errlen);
}

static void *add_many(void *arg) {
    adder *a = arg;
    char err[256];
    for (int i = 0; i < 50; i++)
        if (db_with_tx(a->p, 10000, add_one, NULL, err, sizeof err) != 0) a->fails++;
    return NULL;
}

static void concurrency(void) {
    h_step("db_pool_serves_many_threads");
    db_pool *p = pool_of(3);
    h_db_exec(admin, "replace into " TEST_DB ".hits(id, n) values(1, 0)");
    adder a[8];
    pthread_t t[8];
    for (int i = 0; i < 8; i++) {
        a[i] = (adder){p, 0};
        pthread_create(&t[i], NULL, add_many, &a[i]);
    }
    int fails = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        fails += a[i].fails;
    }
    CHECK_EQ_INT(fails, 0);
    CHECK_EQ_INT(h_db_int(admin, -1, "select n from " TEST_DB ".hits where id = 1"), 400);
    CHECK(sessions() <= 3);
    db_pool_free(p);
}

/* ---- restart ----------------------------------------------------------- */

static int server(const char *verb) {
    const char *root = getenv("CDTM_ROOT");
    return h_sh("\"%s/scripts/mariadb.sh\" %s >/dev/null 2>&1", root ? root : ".", verb);
}

static void restart(void) {
    h_step("db_pool_survives_server_restart");
    char err[512];
    db_rc rc;
    db_pool *p = pool_of(2);
    db_conn *held = db_acquire(p, 5000, &rc, err, sizeof err);
    db_conn *idle = db_acquire(p, 5000, &rc, err, sizeof err);
    CHECK(held && idle);
    if (!held || !idle) return;
    CHECK_EQ_INT(db_exec(held, "select 1", NULL, 0, NULL, err, sizeof err), DB_OK);
    db_release(p, idle);

    CHECK_EQ_INT(server("stop"), 0);
    /* A connection held across the restart reports the loss... */
    CHECK_EQ_INT(db_exec(held, "select 1", NULL, 0, NULL, err, sizeof err), DB_ECONN);
    CHECK_EQ_INT(db_exec(held, "select 1", NULL, 0, NULL, err, sizeof err), DB_ECONN);
    db_release(p, held); /* ...and is closed on release. */
    /* While the server is down, acquiring gives up with DB_ECONN. */
    long long t0 = h_now_ms();
    CHECK(db_acquire(p, 300, &rc, err, sizeof err) == NULL);
    CHECK_EQ_INT(rc, DB_ECONN);
    CHECK(h_now_ms() - t0 < 5000);

    /* Start the server in the background: db_with_tx keeps trying to
     * connect until it is back. */
    const char *root = getenv("CDTM_ROOT");
    char done[128];
    snprintf(done, sizeof done, "/tmp/cdtm-test-db-pool-%ld.started", (long)getpid());
    unlink(done);
    CHECK_EQ_INT(h_sh("(\"%s/scripts/mariadb.sh\" start >/dev/null 2>&1; echo $? >%s.tmp; "
                      "mv %s.tmp %s) &", root ? root : ".", done, done, done), 0);
    t0 = h_now_ms();
    CHECK_EQ_INT(db_with_tx(p, 60000, insert_tx, "after-restart", err, sizeof err), 0);
    printf("  reconnected after %lld ms\n", h_now_ms() - t0);
    /* Let the start script finish (it loads the schemas) before going on. */
    long long deadline = h_now_ms() + 60000;
    while (access(done, F_OK) != 0 && h_now_ms() < deadline) h_sleep_ms(50);
    FILE *f = fopen(done, "r");
    int code = -1;
    if (f) {
        if (fscanf(f, "%d", &code) != 1) code = -1;
        fclose(f);
    }
    unlink(done);
    CHECK_EQ_INT(code, 0);
    CHECK_EQ_INT(count_s("after-restart"), 1);

    h_step("db_pool_drops_stale_idle_connections");
    /* Two idle connections, then a full restart while nobody holds them. */
    db_conn *a = db_acquire(p, 5000, &rc, err, sizeof err);
    db_conn *b = db_acquire(p, 5000, &rc, err, sizeof err);
    CHECK(a && b);
    db_release(p, a);
    db_release(p, b);
    CHECK_EQ_INT(server("stop"), 0);
    CHECK_EQ_INT(server("start"), 0);
    db_conn *c = db_acquire(p, 10000, &rc, err, sizeof err);
    CHECK(c != NULL);
    if (c) {
        CHECK_EQ_INT(db_exec(c, "select 1", NULL, 0, NULL, err, sizeof err), DB_OK);
        db_release(p, c);
    }
    CHECK_EQ_INT(db_with_tx(p, 10000, insert_tx, "after-restart-2", err, sizeof err), 0);
    CHECK_EQ_INT(count_s("after-restart-2"), 1);
    db_pool_free(p);
}

/* db_global_init declines OpenSSL's config, cipher and digest names and
 * error strings before libmariadb starts OpenSSL (about 1.6 MB of RSS per
 * process). Checked after a connection was made: libmariadb's own request to
 * load them must have added nothing, and connecting (admin, above) works. */
static void openssl_extras_stay_unloaded(void) {
    CHECK(EVP_get_cipherbyname("aes-128-cbc") == NULL);
    CHECK(EVP_get_digestbyname("sha256") == NULL);
    CHECK(ERR_reason_error_string(ERR_PACK(ERR_LIB_EVP, 0, EVP_R_BAD_DECRYPT)) == NULL);
}

int main(void) {
    db_global_init();
    admin = h_db_pool("");
    h_db_exec(admin, "create database if not exists " TEST_DB);
    h_db_exec(admin, "create table if not exists " TEST_DB ".strs(id bigint auto_increment "
                     "primary key, s varchar(200), b varbinary(200))");
    h_db_exec(admin, "create table if not exists " TEST_DB ".hits(id int primary key, n int)");
    h_db_exec(admin, "delete from " TEST_DB ".strs");

    openssl_extras_stay_unloaded();
    db_pool *p = pool_of(2);
    statements(p);
    transactions(p);
    autocommit_off(p);
    db_pool_free(p);
    pool_limit();
    concurrency();

    /* Last, and always followed by a start: the server is shared. */
    restart();
    CHECK_EQ_INT(server("start"), 0);
    db_pool_free(admin);
    return h_finish("test_db_pool");
}
