/* test_rolling_restart.c: a rolling restart under load loses nothing.
 *
 * The whole suite runs as child processes on free ports, on the test
 * MariaDB ($MARIADB_PORT): the coordinator `dtm` (on a store database of its
 * own, created by `dtm -r`), order-srv, stock-srv and order-api. Four
 * threads keep placing orders through order-api (three without wait, one
 * with ?wait=true) while each executable in turn (order-srv, stock-srv, dtm,
 * order-api) gets SIGTERM and is started again. The test asserts what an
 * operator and a customer observe:
 *   - each program exits on SIGTERM within STOP_LIMIT_MS, with status 0;
 *   - once it is back, orders are accepted again;
 *   - every accepted order's saga ends succeed or failed (none is lost), and
 *     a ?wait=true reply agrees with how its saga ended;
 *   - order rows, stock and saga statuses agree: a succeeded saga has its
 *     order in row_state 0, a failed one none or -1, and each goods lost
 *     exactly the units of its succeeded orders; no stock is below 0.
 * Orders refused while a program is down (503, connection refused) are fine
 * and are not counted as accepted, but they stop within REFUSE_AFTER_READY_MS
 * of the program being ready again: a restarted peer is found at once (after
 * a coordinator restart, order-api once refused for 4 s more while gRPC
 * waited out its DNS re-resolution cool-down). */
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "httpcli.h"

#define REFUSE_AFTER_READY_MS 2000 /* see the top */
#define STORE_DB "dtm_test_rolling"
#define STOP_LIMIT_MS 8000   /* "exits within a few seconds" */
#define READY_MS 20000
#define DRAIN_MS 90000
#define MAX_RECS 40000
#define LOADERS 4

/* ---- the suite -------------------------------------------------------------------- */

enum { P_DTM, P_ORDER, P_STOCK, P_API, NPROG };
static const char *const prog_name[NPROG] = {"dtm", "order-srv", "stock-srv", "order-api"};

static struct {
    int db_port, grpc, http, order, stock, api;
    pid_t pid[NPROG];
    char *conf[NPROG];
    db_pool *root;
    int64_t goods;     /* this run's goods: +1 has little stock, +2 plenty */
    char logdir[1024];
} s;

static int http_get_status(int port, const char *path) {
    char url[256], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    httpcli_resp r;
    if (httpcli_request("GET", url, NULL, NULL, 0, 2000, &r, err, sizeof err) != 0) return -1;
    int st = r.status;
    httpcli_resp_free(&r);
    return st;
}

/* Polls until program i answers (its port, or /api/ping), or READY_MS pass. */
static int wait_ready(int i) {
    long long deadline = h_now_ms() + READY_MS;
    while (h_now_ms() < deadline) {
        int ok = 0;
        switch (i) {
        case P_DTM: ok = h_port_open(s.grpc) && http_get_status(s.http, "/api/ping") == 200; break;
        case P_ORDER: ok = h_port_open(s.order); break;
        case P_STOCK: ok = h_port_open(s.stock); break;
        case P_API: ok = http_get_status(s.api, "/api/ping") == 200; break;
        }
        if (ok) return 0;
        if (waitpid(s.pid[i], NULL, WNOHANG) == s.pid[i]) {
            fprintf(stderr, "  %s exited during start-up (log in %s)\n", prog_name[i], s.logdir);
            s.pid[i] = -1;
            return -1;
        }
        h_sleep_ms(50);
    }
    return -1;
}

static void start_prog(int i, int reset) {
    char log[1200];
    snprintf(log, sizeof log, "%s/%s.log", s.logdir, prog_name[i]);
    char *argv[] = {(char *)h_bin(prog_name[i]), i == P_DTM ? "-c" : "-f", s.conf[i],
                    reset ? "-r" : NULL, NULL};
    s.pid[i] = h_spawn(argv, NULL, log);
    CHECK(s.pid[i] > 0);
    int ready = wait_ready(i);
    if (ready != 0) fprintf(stderr, "  %s did not answer within %d ms\n", prog_name[i], READY_MS);
    CHECK_EQ_INT(ready, 0);
}

/* SIGTERM, then checks that the program exits by itself, with status 0,
 * within STOP_LIMIT_MS (SIGKILL after that, and the check fails). */
static void stop_prog_checked(int i) {
    pid_t pid = s.pid[i];
    if (pid <= 0) {
        CHECK(pid > 0);
        return;
    }
    long long t0 = h_now_ms();
    kill(pid, SIGTERM);
    int status = 0, exited = 0;
    while (h_now_ms() - t0 < STOP_LIMIT_MS) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            exited = 1;
            break;
        }
        h_sleep_ms(20);
    }
    long long took = h_now_ms() - t0;
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fprintf(stderr, "  %s did not exit within %d ms of SIGTERM: killed\n", prog_name[i],
                STOP_LIMIT_MS);
    }
    printf("  %s: SIGTERM -> exit in %lld ms, %s %d\n", prog_name[i], took,
           WIFEXITED(status) ? "status" : "signal",
           WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    CHECK(exited);
    CHECK(WIFEXITED(status));
    CHECK_EQ_INT(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
    s.pid[i] = -1;
}

static char *temp_conf(const char *text) {
    char *p = h_write_temp(".yaml", text);
    CHECK(p != NULL);
    return p ? p : strdup("/nonexistent");
}

static void setup(void) {
    h_step("suite: dtm -r (own store), order-srv, stock-srv, order-api on free ports");
    s.db_port = h_db_port();
    s.root = h_db_pool("");
    h_db_exec(s.root, "DROP DATABASE IF EXISTS " STORE_DB);
    s.grpc = h_free_port(), s.http = h_free_port(), s.order = h_free_port();
    s.stock = h_free_port(), s.api = h_free_port();
    char yaml[2048];
    s.conf[P_DTM] = temp_conf(h_dtm_yaml(STORE_DB, s.http, s.grpc, ""));
    for (int i = P_ORDER; i <= P_STOCK; i++) {
        const char *db = i == P_STOCK ? "dtm-gozero-stock" : "dtm-gozero-order";
        const char *user = i == P_STOCK ? "stock_srv" : "order_srv";
        snprintf(yaml, sizeof yaml,
                 "ListenOn: 127.0.0.1:%d\nDB:\n  DataSource: \"%s:%s@tcp(127.0.0.1:%d)/%s\"\n",
                 i == P_STOCK ? s.stock : s.order, user, user, s.db_port, db);
        s.conf[i] = temp_conf(yaml);
    }
    snprintf(yaml, sizeof yaml,
             "Name: order-api\nHost: 127.0.0.1\nPort: %d\nThreads: 32\n"
             "Dtm:\n  Target: 127.0.0.1:%d\n  HttpTarget: http://127.0.0.1:%d/api/dtmsvr\n"
             "  Timeout: 3000\n  WaitTimeout: 10000\n"
             "OrderRpcConf:\n  Target: 127.0.0.1:%d\nStockRpcConf:\n  Target: 127.0.0.1:%d\n",
             s.api, s.grpc, s.http, s.order, s.stock);
    s.conf[P_API] = temp_conf(yaml);

    s.goods = 8200000 + (int64_t)(getpid() % 100000) * 10;
    h_db_exec(s.root, "DELETE FROM `dtm-gozero-stock`.stock WHERE goods_id BETWEEN %" PRId64
              " AND %" PRId64, s.goods, s.goods + 9);
    h_db_exec(s.root, "DELETE FROM `dtm-gozero-order`.`order` WHERE goods_id BETWEEN %" PRId64
              " AND %" PRId64, s.goods, s.goods + 9);
    h_db_exec(s.root, "INSERT INTO `dtm-gozero-stock`.stock (goods_id, num) VALUES (%" PRId64
              ", 60), (%" PRId64 ", 1000000)", s.goods + 1, s.goods + 2);
    for (int i = 0; i < NPROG; i++) start_prog(i, i == P_DTM);
}

/* ---- the load -------------------------------------------------------------------------- */

typedef struct {
    char gid[64];
    int http;         /* -1: no reply */
    char status[16];  /* the reply's "status" */
    int wait;
    int phase;        /* which restart was going on */
    long long sent_ms, done_ms; /* when it was sent and answered (now_ms) */
} order_rec;

static order_rec recs[MAX_RECS];
static atomic_int nrecs;
static atomic_int stop_load;
static atomic_int phase;
static atomic_int accepted_count;
static long long stopped_at[NPROG + 1], ready_at[NPROG + 1]; /* per phase, h_now_ms() */

static void copy_json_str(json_t *root, const char *key, char *out, size_t len) {
    const char *v = json_string_value(json_object_get(root, key));
    snprintf(out, len, "%s", v ? v : "");
}

/* Accepted = the saga was handed to the coordinator and the client was told
 * so: 200 (submitted or succeed), 202 (not final yet) or 409 (failed), each
 * with a gid. 503 and no reply are refusals. */
static int is_accepted(const order_rec *r) {
    return r->gid[0] && (r->http == 200 || r->http == 202 || r->http == 409);
}

static void *loader(void *ud) {
    int id = (int)(intptr_t)ud;
    int wait = id == LOADERS - 1;
    unsigned seed = (unsigned)id * 7919u + 17u;
    char url[256], body[160], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/order/quickCreate%s", s.api,
             wait ? "?wait=true" : "");
    const char *headers[] = {"Content-Type", "application/json", NULL};
    while (!atomic_load(&stop_load)) {
        int k = atomic_fetch_add(&nrecs, 1);
        if (k >= MAX_RECS) break;
        order_rec *r = &recs[k];
        int64_t goods = s.goods + 1 + (rand_r(&seed) % 2);
        snprintf(body, sizeof body, "{\"userId\":%d,\"goodsId\":%" PRId64 ",\"num\":%d}",
                 1000 + k, goods, 1 + (int)(rand_r(&seed) % 2));
        r->wait = wait;
        r->phase = atomic_load(&phase);
        r->sent_ms = h_now_ms();
        httpcli_resp resp;
        if (httpcli_request("POST", url, headers, body, strlen(body), 20000, &resp, err,
                            sizeof err) != 0) {
            r->http = -1;
        } else {
            r->http = resp.status;
            json_t *j = json_loadb(resp.body, resp.body_len, 0, NULL);
            copy_json_str(j, "gid", r->gid, sizeof r->gid);
            copy_json_str(j, "status", r->status, sizeof r->status);
            json_decref(j);
            httpcli_resp_free(&resp);
        }
        r->done_ms = h_now_ms();
        if (is_accepted(r)) atomic_fetch_add(&accepted_count, 1);
        h_sleep_ms(r->http == -1 || r->http == 503 ? 100 : 30);
    }
    return NULL;
}

/* Polls until `more` further orders are accepted, or timeout_ms pass. */
static int wait_accepted(int more, int timeout_ms) {
    int target = atomic_load(&accepted_count) + more;
    long long deadline = h_now_ms() + timeout_ms;
    while (h_now_ms() < deadline) {
        if (atomic_load(&accepted_count) >= target) return 0;
        h_sleep_ms(50);
    }
    return -1;
}

/* ---- the checks ---------------------------------------------------------------------------- */

/* 1 when s holds only [A-Za-z0-9_.:-]: safe to quote into test SQL. */
static int plain_chars(const char *s) {
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.:") ==
           strlen(s);
}

/* The accepted orders, as a table of the store database, for SQL checks.
 * Batches stay under h_db_exec()'s 8 KiB statement. */
static void store_accepted(int n) {
    h_db_exec(s.root, "CREATE TABLE " STORE_DB ".accepted (gid VARCHAR(128) PRIMARY KEY, "
              "http INT, reply VARCHAR(16))");
    static char sql[8000];
    size_t len = 0;
    int rows = 0;
    for (int i = 0; i <= n; i++) {
        if (i < n && is_accepted(&recs[i])) {
            const char *g = recs[i].gid;
            int safe = plain_chars(g) && plain_chars(recs[i].status);
            CHECK(safe);
            if (safe) {
                len += (size_t)snprintf(sql + len, sizeof sql - len, "%s('%s',%d,'%.15s')",
                                        rows ? "," : "INSERT IGNORE INTO " STORE_DB
                                        ".accepted VALUES ",
                                        g, recs[i].http, recs[i].status);
                rows++;
            }
        }
        if (rows && (rows == 60 || i == n)) {
            h_db_exec(s.root, "%s", sql);
            len = 0;
            rows = 0;
        }
    }
}

#define FINAL "('succeed','failed')"
#define ORDERS "`dtm-gozero-order`.`order`"
#define STOCK "`dtm-gozero-stock`.stock"

static void check_invariants(void) {
    h_step("every accepted saga ends succeed or failed (none lost)");
    int64_t accepted = h_db_int(s.root, -1, "SELECT COUNT(*) FROM " STORE_DB ".accepted");
    int64_t lost = -1;
    long long deadline = h_now_ms() + DRAIN_MS;
    for (;;) {
        lost = h_db_int(s.root, -1, "SELECT COUNT(*) FROM " STORE_DB ".accepted a LEFT JOIN "
                        STORE_DB ".trans_global g ON g.gid = a.gid WHERE (g.gid IS NULL AND "
                        "a.http <> 409) OR (g.gid IS NOT NULL AND g.status NOT IN " FINAL ")");
        if (lost == 0 || h_now_ms() > deadline) break;
        h_sleep_ms(250);
    }
    int64_t succeeded = h_db_int(s.root, -1, "SELECT COUNT(*) FROM " STORE_DB ".accepted a JOIN "
                                 STORE_DB ".trans_global g ON g.gid = a.gid WHERE g.status = 'succeed'");
    int64_t failed = h_db_int(s.root, -1, "SELECT COUNT(*) FROM " STORE_DB ".accepted a JOIN "
                              STORE_DB ".trans_global g ON g.gid = a.gid WHERE g.status = 'failed'");
    printf("  accepted %" PRId64 ": %" PRId64 " succeeded, %" PRId64 " failed, %" PRId64 " lost\n",
           accepted, succeeded, failed, lost);
    CHECK_EQ_INT(lost, 0);
    CHECK(succeeded > 0);
    CHECK(failed > 0);
    /* Sagas the clients were not told about (the reply was lost in a
     * restart) must end too. */
    CHECK_EQ_INT(h_db_int(s.root, -1, "SELECT COUNT(*) FROM " STORE_DB ".trans_global "
                          "WHERE status NOT IN " FINAL), 0);

    h_step("?wait=true replies agree with how the saga ended");
    CHECK_EQ_INT(h_db_int(s.root, -1, "SELECT COUNT(*) FROM " STORE_DB ".accepted a LEFT JOIN "
                          STORE_DB ".trans_global g ON g.gid = a.gid WHERE a.reply = 'succeed' AND "
                          "(g.status IS NULL OR g.status <> 'succeed')"), 0);
    CHECK_EQ_INT(h_db_int(s.root, -1, "SELECT COUNT(*) FROM " STORE_DB ".accepted a JOIN "
                          STORE_DB ".trans_global g ON g.gid = a.gid WHERE a.http = 409 AND "
                          "g.status <> 'failed'"), 0);

    h_step("order rows agree with the sagas");
    CHECK_EQ_INT(h_db_int(s.root, -1, "SELECT COUNT(*) FROM " STORE_DB ".trans_global g LEFT JOIN "
                          ORDERS " r ON r.gid = g.gid WHERE g.status = 'succeed' AND "
                          "(r.id IS NULL OR r.row_state <> 0)"), 0);
    CHECK_EQ_INT(h_db_int(s.root, -1, "SELECT COUNT(*) FROM " STORE_DB ".trans_global g JOIN "
                          ORDERS " r ON r.gid = g.gid WHERE g.status = 'failed' AND "
                          "r.row_state <> -1"), 0);
    CHECK_EQ_INT(h_db_int(s.root, -1, "SELECT COUNT(*) FROM " ORDERS " r LEFT JOIN " STORE_DB
                          ".trans_global g ON g.gid = r.gid WHERE r.goods_id BETWEEN %" PRId64
                          " AND %" PRId64 " AND (g.gid IS NULL OR g.status NOT IN " FINAL ")",
                          s.goods, s.goods + 9), 0);

    h_step("each goods lost exactly the units of its succeeded orders; none below 0");
    int64_t initial[3] = {0, 60, 1000000};
    for (int k = 1; k <= 2; k++) {
        int64_t now = h_db_int(s.root, -999, "SELECT num FROM " STOCK " WHERE goods_id = %" PRId64,
                               s.goods + k);
        int64_t took = h_db_int(s.root, -1, "SELECT COALESCE(SUM(r.num), 0) FROM " ORDERS " r JOIN "
                                STORE_DB ".trans_global g ON g.gid = r.gid WHERE g.status = "
                                "'succeed' AND r.goods_id = %" PRId64, s.goods + k);
        printf("  goods +%d: %" PRId64 " -> %" PRId64 ", succeeded orders took %" PRId64 "\n", k,
               initial[k], now, took);
        CHECK_EQ_INT(initial[k] - now, took);
        CHECK(now >= 0);
    }
}

/* ---- the test ------------------------------------------------------------------------------- */

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const char *bin = getenv("CDTM_BIN_DIR");
    snprintf(s.logdir, sizeof s.logdir, "%s/test_rolling_restart.logs", bin ? bin : ".");
    mkdir(s.logdir, 0755);
    printf("logs of the servers: %s\n", s.logdir);
    for (int i = 0; i < NPROG; i++) s.pid[i] = -1;
    for (int i = 0; i < NPROG; i++) {
        if (access(h_bin(prog_name[i]), X_OK) != 0) {
            fprintf(stderr, "%s is not built\n", h_bin(prog_name[i]));
            h_failures++;
            return h_finish("test_rolling_restart");
        }
    }
    setup();

    h_step("load: 3 threads without wait, 1 with ?wait=true");
    pthread_t th[LOADERS];
    for (int i = 0; i < LOADERS; i++) pthread_create(&th[i], NULL, loader, (void *)(intptr_t)i);
    CHECK_EQ_INT(wait_accepted(20, 20000), 0);

    /* The order of a rolling upgrade: the branch services, then the
     * coordinator, then the entry point. */
    const int order[NPROG] = {P_ORDER, P_STOCK, P_DTM, P_API};
    for (int k = 0; k < NPROG; k++) {
        int i = order[k];
        char step[128];
        snprintf(step, sizeof step, "rolling: SIGTERM %s under load, exit 0, restart", prog_name[i]);
        h_step(step);
        atomic_store(&phase, k + 1);
        stopped_at[k + 1] = h_now_ms();
        stop_prog_checked(i);
        start_prog(i, 0);
        ready_at[k + 1] = h_now_ms();
        int again = wait_accepted(20, 30000);
        if (again != 0) fprintf(stderr, "  orders are not accepted after %s came back\n",
                                prog_name[i]);
        CHECK_EQ_INT(again, 0);
    }
    atomic_store(&stop_load, 1);
    for (int i = 0; i < LOADERS; i++) pthread_join(th[i], NULL);

    int n = atomic_load(&nrecs);
    if (n > MAX_RECS) n = MAX_RECS;
    int refused = 0, per_phase[NPROG + 1] = {0};
    for (int i = 0; i < n; i++) {
        if (is_accepted(&recs[i])) {
            per_phase[recs[i].phase]++;
        } else {
            refused++;
            if (recs[i].http != 503 && recs[i].http != -1)
                printf("  refused with HTTP %d (restart %d, wait %d)\n", recs[i].http,
                       recs[i].phase, recs[i].wait);
        }
    }
    /* How long orders were refused around each restart: from the first
     * refused order sent after the SIGTERM to the last one. */
    for (int k = 1; k <= NPROG; k++) {
        long long first = 0, last = 0;
        int nref = 0;
        for (int i = 0; i < n; i++) {
            if (recs[i].phase != k || is_accepted(&recs[i])) continue;
            nref++;
            if (!first || recs[i].sent_ms < first) first = recs[i].sent_ms;
            if (recs[i].done_ms > last) last = recs[i].done_ms;
        }
        printf("  restart of %s: down %lld ms (SIGTERM to ready); %d orders refused",
               prog_name[order[k - 1]], ready_at[k] - stopped_at[k], nref);
        if (nref)
            printf(", from %lld ms to %lld ms after the SIGTERM", first - stopped_at[k],
                   last - stopped_at[k]);
        printf("\n");
        if (nref) CHECK(last - ready_at[k] <= REFUSE_AFTER_READY_MS);
    }
    printf("  %d orders placed, %d refused; accepted before/while restarting order-srv, stock-srv, "
           "dtm, order-api: %d/%d/%d/%d/%d\n", n, refused, per_phase[0], per_phase[1],
           per_phase[2], per_phase[3], per_phase[4]);
    store_accepted(n);
    check_invariants();

    h_step("final stop: every program exits 0 on SIGTERM");
    const int stop_order[NPROG] = {P_API, P_STOCK, P_ORDER, P_DTM};
    for (int k = 0; k < NPROG; k++) stop_prog_checked(stop_order[k]);

    if (h_failures == 0) { /* keep the evidence when something failed */
        h_db_exec(s.root, "DELETE FROM `dtm-gozero-stock`.stock WHERE goods_id BETWEEN %" PRId64
                  " AND %" PRId64, s.goods, s.goods + 9);
        h_db_exec(s.root, "DELETE FROM `dtm-gozero-order`.`order` WHERE goods_id BETWEEN %" PRId64
                  " AND %" PRId64, s.goods, s.goods + 9);
        h_db_exec(s.root, "DROP DATABASE IF EXISTS " STORE_DB);
    }
    for (int i = 0; i < NPROG; i++) {
        if (s.pid[i] > 0) h_stop(s.pid[i], SIGKILL, 1000);
        unlink(s.conf[i]);
        free(s.conf[i]);
    }
    db_pool_free(s.root);
    httpcli_close_idle();
    return h_finish("test_rolling_restart");
}
