/* test_dtm_recovery.c: end to end, with processes: the coordinator (dtm)
 * killed with SIGKILL in the middle of sagas, then restarted, finishes every
 * one of them correctly; and two coordinators sharing one store finish 200
 * sagas with the business invariants intact.
 *
 * Real parts: dtm, order-srv and stock-srv (gRPC branches with the barrier,
 * on the demo's databases), the scriptable branch server tests/servers/busi
 * (HTTP branches that can be told to hang), and the test's MariaDB. The
 * coordinators use their own store database, dtm_test_recovery, created by
 * `dtm -r`. Sagas are submitted over HTTP (POST /api/dtmsvr/submit), with
 * WaitResult false, as the demo's order-api does.
 *
 * What a user observes, and what this checks:
 *   - a saga whose stock deduction was in flight when the coordinator died
 *     ends succeed after a restart, with one order row (row_state 0) and the
 *     stock decreased exactly once;
 *   - a saga killed during its compensation had "aborting" stored before any
 *     compensation ran (README, "Crash safety"), and ends failed after the
 *     restart, every compensation done;
 *   - with two coordinators, one of them killed halfway: each succeeded gid has exactly one order row
 *     with row_state 0, each failed gid none or row_state -1, and the stock
 *     decrease equals the sum of the succeeded quantities. */
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "httpcli.h"

#define STORE_DB "dtm_test_recovery"
#define GOODS_PLENTY 101 /* goods ids below 128: one byte in a protobuf varint, */
#define GOODS_SCARCE 102 /* so payloads stay ASCII inside the submit JSON */
#define GOODS_SHARED 103
#define N_SHARED 200
#define SHARED_STOCK 250

static struct {
    db_pool *root;
    char logdir[256];
    int order_port, stock_port, busi_grpc, busi_http;
    pid_t order_pid, stock_pid, busi_pid;
    char prefix[32]; /* of this run's gids: "rec<pid>" */
} g;

typedef struct {
    int http, grpc;
    char *conf;
    pid_t pid;
    char name[8];
} coord;

/* ---- time ------------------------------------------------------------- */

/* ---- processes -------------------------------------------------------- */

static pid_t start_service(const char *exe, const char *db, int port) {
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "Name: %s\nListenOn: 127.0.0.1:%d\nDB:\n  DataSource: "
             "\"root@tcp(127.0.0.1:%d)/%s\"\n",
             exe, port, h_db_port(), db);
    char *path = h_write_temp(".yaml", yaml);
    char log[400];
    snprintf(log, sizeof log, "%s/%s.log", g.logdir, exe);
    char *argv[] = {(char *)h_bin(exe), "-f", path, NULL};
    pid_t pid = h_spawn(argv, NULL, log);
    CHECK(pid > 0 && h_wait_port(port, 15000) == 0);
    unlink(path);
    free(path);
    return pid;
}

static void coord_init(coord *c, const char *name) {
    snprintf(c->name, sizeof c->name, "%s", name);
    c->http = h_free_port();
    c->grpc = h_free_port();
    while (c->grpc == c->http) c->grpc = h_free_port();
    /* RetryInterval and TransCronInterval of 1 s (h_dtm_yaml), so that
     * recovery is quick; RequestTimeout 10 s, so that a slowed branch call is
     * still in flight when the coordinator is killed. */
    c->conf = h_write_temp(".yml", h_dtm_yaml(STORE_DB, c->http, c->grpc,
                                              "TimeoutToFail: 10\nRequestTimeout: 10\n"
                                              "LogLevel: debug\n"));
    c->pid = -1;
}

static void coord_start(coord *c, int reset) {
    char log[400];
    snprintf(log, sizeof log, "%s/dtm-%s.log", g.logdir, c->name);
    char *argv[] = {(char *)h_bin("dtm"), "-c", c->conf, reset ? "-r" : NULL, NULL};
    c->pid = h_spawn(argv, NULL, log);
    CHECK(c->pid > 0);
    CHECK(h_wait_port(c->http, 15000) == 0);
    CHECK(h_wait_port(c->grpc, 15000) == 0);
}

/* ---- HTTP ------------------------------------------------------------- */

static const char *const JSON_HDR[] = {"Content-Type", "application/json", NULL};

/* POSTs body to http://127.0.0.1:port<path>; returns the status (-1 on a
 * transport error), the body in *out when out is given (caller frees). */
static int http_post(int port, const char *path, const char *body, char **out) {
    char url[512], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    httpcli_resp r;
    if (httpcli_request("POST", url, JSON_HDR, body, strlen(body), 15000, &r, err, sizeof err) != 0) {
        fprintf(stderr, "POST %s: %s\n", url, err);
        return -1;
    }
    int st = r.status;
    if (out) *out = strdup(r.body ? r.body : "");
    httpcli_resp_free(&r);
    return st;
}

static json_t *http_get_json(int port, const char *path) {
    char url[512], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    httpcli_resp r;
    if (httpcli_request("GET", url, NULL, NULL, 0, 15000, &r, err, sizeof err) != 0) return NULL;
    json_t *j = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
    httpcli_resp_free(&r);
    return j;
}

/* The status `query` reports for gid ("" when unknown). */
static const char *query_status(int port, const char *gid, json_t **full) {
    static __thread char st[32];
    char path[256];
    snprintf(path, sizeof path, "/api/dtmsvr/query?gid=%.200s", gid);
    json_t *j = http_get_json(port, path);
    const char *s = json_string_value(json_object_get(json_object_get(j, "transaction"), "status"));
    snprintf(st, sizeof st, "%s", s ? s : "");
    if (full) *full = j;
    else json_decref(j);
    return st;
}

/* "<branch_id><op>:<status>" of the query output's branches, in order. */
static void branch_summary(json_t *q, char *out, size_t len) {
    size_t o = 0;
    out[0] = '\0';
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(q, "branches"), i, b) {
        o += (size_t)snprintf(out + o, o < len ? len - o : 0, "%s%s%s:%s", i ? "," : "",
                              json_string_value(json_object_get(b, "branch_id")),
                              json_string_value(json_object_get(b, "op")),
                              json_string_value(json_object_get(b, "status")));
    }
}

/* ---- sagas -------------------------------------------------------------- */

/* Submits the demo's saga (order create, stock deduct) over HTTP with gRPC
 * branch URLs. The payloads are CreateReq{goodsId, userId, num} and
 * DecuctReq{goodsId, num}, protobuf-encoded by hand: every value is below
 * 128, so each is one byte and the JSON strings stay ASCII. */
static int submit_order_saga(const coord *c, const char *gid, int goods, int num) {
    char body[2048];
    snprintf(body, sizeof body,
             "{\"gid\":\"%s\",\"trans_type\":\"saga\",\"protocol\":\"grpc\",\"steps\":["
             "{\"action\":\"127.0.0.1:%d/pb.order/create\","
             "\"compensate\":\"127.0.0.1:%d/pb.order/createRollback\"},"
             "{\"action\":\"127.0.0.1:%d/pb.stock/deduct\","
             "\"compensate\":\"127.0.0.1:%d/pb.stock/deductRollback\"}],"
             "\"payloads\":[\"\\u0008\\u%04x\\u0010\\u0007\\u0018\\u%04x\","
             "\"\\u0008\\u%04x\\u0010\\u%04x\"],\"wait_result\":false}",
             gid, g.order_port, g.order_port, g.stock_port, g.stock_port, goods, num, goods, num);
    char *reply = NULL;
    int st = http_post(c->http, "/api/dtmsvr/submit", body, &reply);
    if (st != 200) fprintf(stderr, "submit %s to %s: %d %s\n", gid, c->name, st, reply ? reply : "");
    int ok = st == 200 && reply && strstr(reply, "SUCCESS") != NULL;
    free(reply);
    return ok;
}

static int64_t stock_of(int goods) {
    return h_db_int(g.root, -999, "SELECT num FROM `dtm-gozero-stock`.stock WHERE goods_id = %d",
                    goods);
}

static int64_t active_orders(const char *gid) {
    return h_db_int(g.root, -1, "SELECT COUNT(*) FROM `dtm-gozero-order`.`order` WHERE gid = '%s' "
                                "AND row_state = 0", gid);
}

/* Polls until every gid is final in `query`, or the deadline passes. */
static int wait_final(const coord *c, char gids[][64], int n, int timeout_ms) {
    long long deadline = h_now_ms() + timeout_ms;
    for (;;) {
        int done = 0;
        for (int i = 0; i < n; i++) {
            const char *st = query_status(c->http, gids[i], NULL);
            done += strcmp(st, "succeed") == 0 || strcmp(st, "failed") == 0;
        }
        if (done == n) return 0;
        if (h_now_ms() > deadline) return -1;
        h_sleep_ms(200);
    }
}

/* ---- scenario 1: killed while a branch call is in flight ----------------- */

static void killed_mid_deduct_then_restarted_finishes(coord *a) {
    h_step("killed_mid_deduct_then_restarted_finishes");
    h_db_exec(g.root, "DELETE FROM `dtm-gozero-stock`.stock WHERE goods_id IN (%d, %d)",
              GOODS_PLENTY, GOODS_SCARCE);
    h_db_exec(g.root, "INSERT INTO `dtm-gozero-stock`.stock (goods_id, num) VALUES (%d, 100), "
                      "(%d, 1)", GOODS_PLENTY, GOODS_SCARCE);

    /* Slow every deduction of GOODS_PLENTY: the test holds its row lock, so
     * stock-srv's UPDATE waits inside its barrier transaction. */
    char err[256];
    db_conn *lock = db_acquire(g.root, 5000, NULL, err, sizeof err);
    CHECK(lock && db_begin(lock, err, sizeof err) == DB_OK);
    CHECK(lock && db_exec(lock, "SELECT num FROM `dtm-gozero-stock`.stock WHERE goods_id = 101 "
                                "FOR UPDATE", NULL, 0, NULL, err, sizeof err) == DB_OK);

    char gids[4][64];
    for (int i = 0; i < 4; i++) snprintf(gids[i], sizeof gids[i], "%s-k%d", g.prefix, i);
    CHECK(submit_order_saga(a, gids[0], GOODS_PLENTY, 1));
    CHECK(submit_order_saga(a, gids[1], GOODS_PLENTY, 2));
    CHECK(submit_order_saga(a, gids[2], GOODS_PLENTY, 3));
    CHECK(submit_order_saga(a, gids[3], GOODS_SCARCE, 5)); /* more than the stock: rolls back */

    /* Wait until the three orders exist and their deductions are blocked. */
    long long deadline = h_now_ms() + 20000;
    int64_t orders = 0, waiting = 0;
    while (h_now_ms() < deadline) {
        orders = h_db_int(g.root, 0, "SELECT COUNT(*) FROM `dtm-gozero-order`.`order` WHERE gid IN "
                                     "('%s','%s','%s')", gids[0], gids[1], gids[2]);
        waiting = h_db_int(g.root, 0, "SELECT COUNT(*) FROM information_schema.INNODB_TRX "
                                      "WHERE trx_state = 'LOCK WAIT'");
        if (orders == 3 && waiting >= 3) break;
        /* Not faster: INNODB_TRX is a cache that is refreshed only when it
         * was last read more than 0.1 s ago, so quick polls see it frozen. */
        h_sleep_ms(250);
    }
    CHECK_EQ_INT(orders, 3);
    CHECK(waiting >= 3);

    /* SIGKILL: no shutdown code runs; the round's outcome is never stored. */
    h_stop(a->pid, SIGKILL, 5000);
    a->pid = -1;
    CHECK_EQ_INT(h_db_int(g.root, -1, "SELECT COUNT(*) FROM " STORE_DB ".trans_global WHERE gid IN "
                                      "('%s','%s','%s') AND status = 'submitted'",
                          gids[0], gids[1], gids[2]), 3);
    /* Let the blocked deductions go: they commit with nobody to hear it. */
    if (lock) {
        CHECK(db_commit(lock, err, sizeof err) == DB_OK);
        db_release(g.root, lock);
    }

    coord_start(a, 0);
    CHECK(wait_final(a, gids, 4, 30000) == 0);
    for (int i = 0; i < 3; i++) {
        json_t *q = NULL;
        CHECK_EQ_STR(query_status(a->http, gids[i], &q), "succeed");
        char sum[256];
        branch_summary(q, sum, sizeof sum);
        CHECK_EQ_STR(sum, "01compensate:prepared,01action:succeed,02compensate:prepared,"
                          "02action:succeed");
        json_decref(q);
        CHECK_EQ_INT(active_orders(gids[i]), 1);
        CHECK_EQ_INT(h_db_int(g.root, -1, "SELECT COUNT(*) FROM `dtm-gozero-order`.`order` "
                                          "WHERE gid = '%s'", gids[i]), 1);
    }
    /* Decreased once per saga, although every deduct was called twice. */
    CHECK_EQ_INT(stock_of(GOODS_PLENTY), 100 - 1 - 2 - 3);
    json_t *q = NULL;
    CHECK_EQ_STR(query_status(a->http, gids[3], &q), "failed");
    char sum[256];
    branch_summary(q, sum, sizeof sum);
    CHECK_EQ_STR(sum, "01compensate:succeed,01action:succeed,02compensate:succeed,02action:failed");
    json_decref(q);
    CHECK_EQ_INT(active_orders(gids[3]), 0);
    CHECK_EQ_INT(stock_of(GOODS_SCARCE), 1);
}

/* ---- scenario 2: killed during compensation ----------------------------- */

static void killed_mid_compensation_then_restarted_rolls_back(coord *a) {
    h_step("killed_mid_compensation_then_restarted_rolls_back");
    char *r = NULL;
    CHECK_EQ_INT(http_post(g.busi_http, "/reset", "{}", NULL), 200);
    /* The first compensation to run (TransInRevert, step 02) hangs 5 s. */
    CHECK_EQ_INT(http_post(g.busi_http, "/control",
                           "{\"method\":\"TransInRevert\",\"mode\":\"hang\",\"count\":1}", NULL), 200);
    char gid[64], body[1024];
    snprintf(gid, sizeof gid, "%s-c1", g.prefix);
    snprintf(body, sizeof body,
             "{\"gid\":\"%s\",\"trans_type\":\"saga\",\"steps\":["
             "{\"action\":\"http://127.0.0.1:%d/api/busi/TransOut\","
             "\"compensate\":\"http://127.0.0.1:%d/api/busi/TransOutRevert\"},"
             "{\"action\":\"http://127.0.0.1:%d/api/busi/TransInFail\","
             "\"compensate\":\"http://127.0.0.1:%d/api/busi/TransInRevert\"}],"
             "\"payloads\":[\"{\\\"amount\\\":30}\",\"{\\\"amount\\\":30}\"]}",
             gid, g.busi_http, g.busi_http, g.busi_http, g.busi_http);
    CHECK_EQ_INT(http_post(a->http, "/api/dtmsvr/submit", body, &r), 200);
    free(r);

    /* Wait until the hanging compensation has been received. */
    char path[256];
    snprintf(path, sizeof path, "/calls?gid=%s", gid);
    long long deadline = h_now_ms() + 15000;
    int hanging = 0;
    while (!hanging && h_now_ms() < deadline) {
        json_t *calls = http_get_json(g.busi_http, path);
        size_t i;
        json_t *c;
        json_array_foreach(calls, i, c) {
            const char *m = json_string_value(json_object_get(c, "method"));
            if (m && strcmp(m, "TransInRevert") == 0) hanging = 1;
        }
        json_decref(calls);
        if (!hanging) h_sleep_ms(50);
    }
    CHECK(hanging);
    h_stop(a->pid, SIGKILL, 5000);
    a->pid = -1;
    /* Crash safety: "aborting" was stored before any compensation ran. */
    CHECK_EQ_INT(h_db_int(g.root, -1, "SELECT status = 'aborting' FROM " STORE_DB ".trans_global "
                                      "WHERE gid = '%s'", gid), 1);

    coord_start(a, 0);
    char gids[1][64];
    snprintf(gids[0], sizeof gids[0], "%s", gid);
    CHECK(wait_final(a, gids, 1, 30000) == 0);
    json_t *q = NULL;
    CHECK_EQ_STR(query_status(a->http, gid, &q), "failed");
    char sum[256];
    branch_summary(q, sum, sizeof sum);
    CHECK_EQ_STR(sum, "01compensate:succeed,01action:succeed,02compensate:succeed,02action:failed");
    const char *reason = json_string_value(
        json_object_get(json_object_get(q, "transaction"), "rollback_reason"));
    CHECK(reason && strstr(reason, "TransInFail") != NULL);
    json_decref(q);
    /* The calls, in order: the actions, the compensation the crash cut, its
     * replay after the restart, then the first step's compensation. */
    json_t *calls = http_get_json(g.busi_http, path);
    char seq[512] = "";
    size_t i, o = 0;
    json_t *c;
    json_array_foreach(calls, i, c)
        o += (size_t)snprintf(seq + o, o < sizeof seq ? sizeof seq - o : 0, "%s%s", i ? "," : "",
                              json_string_value(json_object_get(c, "method")));
    json_decref(calls);
    printf("   busi calls: %s\n", seq);
    CHECK(strncmp(seq, "TransOut,TransInFail,TransInRevert,TransInRevert", 48) == 0);
    CHECK(strstr(seq, "TransOutRevert") != NULL);
    CHECK(strstr(seq, "TransOutRevert") > strstr(seq, "TransInRevert"));
}

/* ---- scenario 3: two coordinators, one store ----------------------------
 * 200 sagas submitted to A and B alternately; A is killed halfway and B gets
 * the rest; some sagas roll back for lack of stock. */

static void two_coordinators_share_one_store(coord *a, coord *b) {
    h_step("two_coordinators_share_one_store");
    h_db_exec(g.root, "DELETE FROM `dtm-gozero-stock`.stock WHERE goods_id = %d", GOODS_SHARED);
    h_db_exec(g.root, "INSERT INTO `dtm-gozero-stock`.stock (goods_id, num) VALUES (%d, %d)",
              GOODS_SHARED, SHARED_STOCK);
    int submitted = 0, asked = 0;
    long long t0 = h_now_ms();
    for (int i = 0; i < N_SHARED; i++) {
        char gid[64];
        snprintf(gid, sizeof gid, "%s-s%03d", g.prefix, i);
        asked += 1 + i % 3;
        /* Halfway, A dies with whatever it still had queued or in flight:
         * B's cron must finish those, and B takes every later saga. */
        if (i == N_SHARED / 2) {
            h_stop(a->pid, SIGKILL, 5000);
            a->pid = -1;
        }
        const coord *to = i % 2 && i < N_SHARED / 2 ? b : a;
        if (i >= N_SHARED / 2) to = b;
        submitted += submit_order_saga(to, gid, GOODS_SHARED, 1 + i % 3);
    }
    CHECK_EQ_INT(submitted, N_SHARED);
    /* 399 units asked for, 250 in stock: some sagas must roll back. */
    CHECK(asked > SHARED_STOCK);
    long long deadline = h_now_ms() + 120000;
    int64_t final = 0;
    while (h_now_ms() < deadline) {
        final = h_db_int(g.root, -1, "SELECT COUNT(*) FROM " STORE_DB ".trans_global WHERE gid LIKE "
                                     "'%s-s%%' AND status IN ('succeed', 'failed')", g.prefix);
        if (final == N_SHARED) break;
        h_sleep_ms(200);
    }
    CHECK_EQ_INT(final, N_SHARED);
    printf("   %d sagas final in %lld ms; %" PRId64 " of them resumed by a cron\n", N_SHARED,
           h_now_ms() - t0,
           h_db_int(g.root, -1, "SELECT COUNT(*) FROM " STORE_DB ".trans_global WHERE gid LIKE "
                                "'%s-s%%' AND owner <> ''", g.prefix));

    int64_t ok = h_db_int(g.root, -1, "SELECT COUNT(*) FROM " STORE_DB ".trans_global WHERE gid "
                                      "LIKE '%s-s%%' AND status = 'succeed'", g.prefix);
    printf("   %" PRId64 " succeeded, %" PRId64 " failed; stock left %" PRId64 "\n", ok,
           N_SHARED - ok, stock_of(GOODS_SHARED));
    CHECK(ok > 0 && ok < N_SHARED);
    /* Each succeeded gid: exactly one order row, row_state 0. */
    CHECK_EQ_INT(h_db_int(g.root, -1,
                          "SELECT COUNT(*) FROM " STORE_DB ".trans_global t WHERE t.gid LIKE '%s-s%%' "
                          "AND t.status = 'succeed' AND (SELECT COUNT(*) FROM `dtm-gozero-order`."
                          "`order` o WHERE o.gid = t.gid AND o.row_state = 0) <> 1", g.prefix), 0);
    /* Each failed gid: no order row, or one with row_state -1. */
    CHECK_EQ_INT(h_db_int(g.root, -1,
                          "SELECT COUNT(*) FROM " STORE_DB ".trans_global t JOIN `dtm-gozero-order`."
                          "`order` o ON o.gid = t.gid WHERE t.gid LIKE '%s-s%%' AND t.status = "
                          "'failed' AND o.row_state <> -1", g.prefix), 0);
    /* The stock went down by exactly what the succeeded sagas ordered. */
    int64_t sold = h_db_int(g.root, -1,
                            "SELECT COALESCE(SUM(o.num), 0) FROM `dtm-gozero-order`.`order` o JOIN "
                            STORE_DB ".trans_global t ON t.gid = o.gid WHERE t.gid LIKE '%s-s%%' "
                            "AND t.status = 'succeed'", g.prefix);
    CHECK_EQ_INT(SHARED_STOCK - stock_of(GOODS_SHARED), sold);
    CHECK(stock_of(GOODS_SHARED) >= 0);
    /* Every branch of a final saga is final in its rows too. */
    CHECK_EQ_INT(h_db_int(g.root, -1,
                          "SELECT COUNT(*) FROM " STORE_DB ".trans_branch_op b JOIN " STORE_DB
                          ".trans_global t ON t.gid = b.gid WHERE t.gid LIKE '%s-s%%' AND "
                          "b.op = 'action' AND t.status = 'succeed' AND b.status <> 'succeed'",
                          g.prefix), 0);
}

int main(void) {
    g.root = h_db_pool("");
    snprintf(g.prefix, sizeof g.prefix, "rec%d", (int)getpid());
    snprintf(g.logdir, sizeof g.logdir, "/tmp/cdtm-recovery-%d", (int)getpid());
    mkdir(g.logdir, 0755);
    h_db_exec(g.root, "DROP DATABASE IF EXISTS " STORE_DB);
    h_db_exec(g.root, "CREATE DATABASE " STORE_DB " DEFAULT CHARACTER SET utf8mb4");

    g.order_port = h_free_port();
    g.order_pid = start_service("order-srv", "dtm-gozero-order", g.order_port);
    g.stock_port = h_free_port();
    g.stock_pid = start_service("stock-srv", "dtm-gozero-stock", g.stock_port);
    g.busi_grpc = h_free_port();
    g.busi_http = h_free_port();
    char gp[16], hp[16], log[400];
    snprintf(gp, sizeof gp, "%d", g.busi_grpc);
    snprintf(hp, sizeof hp, "%d", g.busi_http);
    snprintf(log, sizeof log, "%s/busi.log", g.logdir);
    char *bargv[] = {(char *)h_bin("busi"), "-g", gp, "-h", hp, NULL};
    g.busi_pid = h_spawn(bargv, NULL, log);
    CHECK(h_wait_port(g.busi_http, 15000) == 0);

    coord a, b;
    coord_init(&a, "a");
    coord_init(&b, "b");
    coord_start(&a, 1); /* -r creates the store's tables */
    CHECK_EQ_INT(h_db_int(g.root, -1, "SELECT COUNT(*) FROM information_schema.TABLES WHERE "
                                      "TABLE_SCHEMA = '" STORE_DB "'"), 3);

    if (h_failures == 0) killed_mid_deduct_then_restarted_finishes(&a);
    if (h_failures == 0) killed_mid_compensation_then_restarted_rolls_back(&a);
    if (h_failures == 0) {
        coord_start(&b, 0);
        two_coordinators_share_one_store(&a, &b);
    }

    /* A clean stop (SIGTERM) exits 0. */
    coord *cs[] = {&a, &b};
    for (int i = 0; i < 2; i++) {
        if (cs[i]->pid > 0) {
            int st = h_stop(cs[i]->pid, SIGTERM, 15000);
            CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        }
        unlink(cs[i]->conf);
        free(cs[i]->conf);
    }
    h_stop(g.busi_pid, SIGTERM, 10000);
    h_stop(g.order_pid, SIGTERM, 10000);
    h_stop(g.stock_pid, SIGTERM, 10000);
    db_pool_free(g.root);
    if (h_failures) printf("logs kept in %s\n", g.logdir);
    else h_sh("rm -rf '%s'", g.logdir);
    return h_finish("test_dtm_recovery");
}
