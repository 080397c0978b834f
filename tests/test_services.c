/* test_services.c: order-srv and stock-srv, seen from a gRPC core client.
 *
 * It starts both services as child processes on free ports (against the
 * MariaDB of the test run), then:
 *   - runs every scenario of tests/data/service_cases.json, the table that
 *     tests/node/services.test.js runs too with @grpc/grpc-js, checking each
 *     call's status and the rows it leaves (orders, stock, barrier);
 *   - deduct_is_safe_under_concurrency: 50 concurrent deducts of 1 against a
 *     stock of 20 give exactly 20 OK, 30 Aborted and a stock of 0;
 *   - order_get_reads_the_row: pb.order/get (cdtm's own method, for
 *     order-api's GET /order/{gid}) returns the row create and
 *     createRollback leave, found=false for an unknown gid, and
 *     InvalidArgument for a bad gid or undecodable bytes;
 *   - database_down_is_unavailable: a service whose database cannot be
 *     reached answers Unavailable (DTM retries) and keeps running;
 *   - bad_config_exits_2: a missing or malformed DB.DataSource, a missing
 *     config file or an unknown option is named in one line on stderr, with
 *     exit status 2;
 *   - sigterm_stops_cleanly: SIGTERM makes each service exit 0.
 * Goods ids 1001.. and gids "c-<pid>-..." belong to this test only. */
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "order.pb-c.h"
#include "rpccli.h"
#include "stock.pb-c.h"

#define GOODS_BASE 1000                /* table goods i is GOODS_BASE + i + 1 */
#define CONC_GOODS (GOODS_BASE + 100)  /* the goods of the concurrency test */
#define CALL_TIMEOUT_MS 15000          /* > the services' 3 s pool wait */

static char g_prefix[64];   /* "c-<pid>-" */
static db_pool *g_root;     /* root on the test MariaDB, to set up and read rows */
static json_t *g_goods;     /* the table's goods array */

/* ---- small helpers ------------------------------------------------------- */

/* The id of the table's goods `name`, or -1. */
static long long goods_id(const char *name) {
    size_t i;
    json_t *g;
    json_array_foreach(g_goods, i, g) {
        if (strcmp(json_string_value(json_object_get(g, "name")), name) == 0)
            return GOODS_BASE + (long long)i + 1;
    }
    return -1;
}

static long long stock_of(long long id) {
    return h_db_int(g_root, -1, "SELECT num FROM `dtm-gozero-stock`.`stock` WHERE goods_id=%lld",
                    id);
}

static void set_stock(long long id, long long num) {
    h_db_exec(g_root,
              "INSERT INTO `dtm-gozero-stock`.`stock` (goods_id, num) VALUES (%lld, %lld) "
              "ON DUPLICATE KEY UPDATE num=VALUES(num)", id, num);
}

/* The go-zero-style config of one service, in a temp file the caller frees. */
static char *write_config(const char *svc, int port, int db_port) {
    char text[1024];
    snprintf(text, sizeof text,
             "Name: %s.rpc\n"
             "ListenOn: 127.0.0.1:%d\n"
             "LogLevel: debug\n"
             "DB:\n"
             "  DataSource: \"%s_srv:%s_srv@tcp(127.0.0.1:%d)/dtm-gozero-%s?charset=utf8mb4"
             "&parseTime=true&loc=UTC\"\n",
             svc, port, svc, svc, db_port, svc);
    return h_write_temp(".yaml", text);
}

static pid_t spawn_service(const char *exe, const char *config, const char *log_path) {
    char *argv[] = {(char *)h_bin(exe), "-f", (char *)config, NULL};
    return h_spawn(argv, NULL, log_path);
}

/* 1 while `pid` has not exited. */
static int alive(pid_t pid) {
    int st;
    return waitpid(pid, &st, WNOHANG) == 0;
}

/* ---- one call of the table ------------------------------------------------ */

/* Packs call.req (or decodes call.raw_hex) into buf. Returns the length, or
 * -1 on a malformed table entry. */
static long pack_request(const char *service, json_t *call, uint8_t *buf, size_t cap) {
    json_t *raw = json_object_get(call, "raw_hex");
    if (raw) {
        const char *hex = json_string_value(raw);
        size_t n = strlen(hex) / 2;
        if (n > cap) return -1;
        for (size_t i = 0; i < n; i++) {
            unsigned v;
            if (sscanf(hex + 2 * i, "%2x", &v) != 1) return -1;
            buf[i] = (uint8_t)v;
        }
        return (long)n;
    }
    json_t *req = json_object_get(call, "req");
    long long gid_num = json_integer_value(json_object_get(req, "goodsId"));
    json_t *gname = json_object_get(req, "goods");
    if (gname) gid_num = goods_id(json_string_value(gname));
    long long num = json_integer_value(json_object_get(req, "num"));
    if (strcmp(service, "order") == 0) {
        Pb__CreateReq m = PB__CREATE_REQ__INIT;
        m.goodsid = gid_num;
        m.userid = json_integer_value(json_object_get(req, "userId"));
        m.num = num;
        if (pb__create_req__get_packed_size(&m) > cap) return -1;
        return (long)pb__create_req__pack(&m, buf);
    }
    Pb__DecuctReq m = PB__DECUCT_REQ__INIT;
    m.goodsid = gid_num;
    m.num = num;
    if (pb__decuct_req__get_packed_size(&m) > cap) return -1;
    return (long)pb__decuct_req__pack(&m, buf);
}

/* Checks the rows named by call.after. `start` holds each goods' stock when
 * the case began. */
static void check_rows(const char *where, const char *gid, json_t *after, const long long *start) {
    json_t *v;
    if ((v = json_object_get(after, "orders"))) {
        long long n = h_db_int(g_root, -1,
                               "SELECT COUNT(*) FROM `dtm-gozero-order`.`order` WHERE gid='%s'",
                               gid);
        if (n != json_integer_value(v)) {
            fprintf(stderr, "%s: orders %lld, expected %lld\n", where, n, json_integer_value(v));
            h_failures++;
        }
    }
    if ((v = json_object_get(after, "row_state"))) {
        long long s = h_db_int(g_root, -99,
                               "SELECT row_state FROM `dtm-gozero-order`.`order` WHERE gid='%s'",
                               gid);
        if (s != json_integer_value(v)) {
            fprintf(stderr, "%s: row_state %lld, expected %lld\n", where, s, json_integer_value(v));
            h_failures++;
        }
    }
    if ((v = json_object_get(after, "barrier"))) {
        long long n = h_db_int(g_root, -1,
                               "SELECT COUNT(*) FROM dtm_barrier.barrier WHERE gid='%s'", gid);
        if (n != json_integer_value(v)) {
            fprintf(stderr, "%s: barrier rows %lld, expected %lld\n", where, n,
                    json_integer_value(v));
            h_failures++;
        }
    }
    const char *name;
    json_t *delta;
    json_object_foreach(json_object_get(after, "stock"), name, delta) {
        long long id = goods_id(name);
        if (id < 0) {
            fprintf(stderr, "%s: unknown goods '%s' in the table\n", where, name);
            h_failures++;
            continue;
        }
        long long d = stock_of(id) - start[id - GOODS_BASE - 1];
        if (d != json_integer_value(delta)) {
            fprintf(stderr, "%s: stock of %s changed by %lld, expected %lld\n", where, name, d,
                    json_integer_value(delta));
            h_failures++;
        }
    }
}

static void run_call(rpccli *cli, const int ports[2], const char *case_name, size_t idx,
                     json_t *call, const char *gid, const long long *start) {
    char where[256];
    const char *service = json_string_value(json_object_get(call, "service"));
    const char *method = json_string_value(json_object_get(call, "method"));
    snprintf(where, sizeof where, "%s[%zu] %s.%s", case_name, idx, service, method);

    rpc_md md[8];
    size_t nmd = 0;
    const char *key;
    json_t *val;
    json_object_foreach(json_object_get(call, "md"), key, val) {
        const char *s = json_string_value(val);
        md[nmd].key = key;
        md[nmd].value = strcmp(s, "$gid") == 0 ? gid : s;
        if (++nmd == 8) break;
    }
    uint8_t req[256];
    long len = pack_request(service, call, req, sizeof req);
    if (len < 0) {
        fprintf(stderr, "%s: malformed table entry\n", where);
        h_failures++;
        return;
    }
    char target[64], path[128];
    snprintf(target, sizeof target, "127.0.0.1:%d", ports[strcmp(service, "order") == 0 ? 0 : 1]);
    snprintf(path, sizeof path, "/pb.%s/%s", service, method);

    rpccli_result r;
    rpccli_call(cli, target, path, md, nmd, req, (size_t)len, CALL_TIMEOUT_MS, &r);
    long long want = json_integer_value(json_object_get(call, "code"));
    json_t *want_msg = json_object_get(call, "message");
    if (r.status != want ||
        (want_msg && strcmp(r.message, json_string_value(want_msg)) != 0)) {
        fprintf(stderr, "%s: got %d \"%s\", expected %lld \"%s\"\n", where, r.status, r.message,
                want, want_msg ? json_string_value(want_msg) : "*");
        h_failures++;
    }
    rpccli_result_free(&r);
    check_rows(where, gid, json_object_get(call, "after"), start);
}

static void run_table(rpccli *cli, const int ports[2], json_t *cases) {
    size_t ci, n_goods = json_array_size(g_goods);
    json_t *c;
    json_array_foreach(cases, ci, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        h_step(name);
        char gid[160];
        snprintf(gid, sizeof gid, "%s%s", g_prefix, name);
        const char *gname;
        json_t *num;
        json_object_foreach(json_object_get(c, "stock"), gname, num)
            set_stock(goods_id(gname), json_integer_value(num));
        long long start[16] = {0};
        for (size_t i = 0; i < n_goods && i < 16; i++)
            start[i] = stock_of(GOODS_BASE + (long long)i + 1);
        size_t k;
        json_t *call;
        json_array_foreach(json_object_get(c, "calls"), k, call)
            run_call(cli, ports, name, k, call, gid, start);
    }
}

/* ---- concurrency ----------------------------------------------------------- */

typedef struct {
    rpccli *cli;
    const char *target;
    char gid[96];
    int status;
} deduct_job;

static void *deduct_one(void *arg) {
    deduct_job *j = arg;
    Pb__DecuctReq m = PB__DECUCT_REQ__INIT;
    m.goodsid = CONC_GOODS;
    m.num = 1;
    uint8_t buf[32];
    size_t len = pb__decuct_req__pack(&m, buf);
    rpc_md md[] = {{"dtm-gid", j->gid}, {"dtm-trans_type", "saga"}, {"dtm-branch_id", "02"},
                   {"dtm-op", "action"}};
    rpccli_result r;
    j->status = rpccli_call(j->cli, j->target, "/pb.stock/deduct", md, 4, buf, len,
                            CALL_TIMEOUT_MS, &r);
    rpccli_result_free(&r);
    return NULL;
}

static void deduct_is_safe_under_concurrency(rpccli *cli, int stock_port) {
    h_step("deduct_is_safe_under_concurrency");
    enum { N = 50, STOCK = 20 };
    set_stock(CONC_GOODS, STOCK);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", stock_port);
    static deduct_job jobs[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (deduct_job){.cli = cli, .target = target, .status = -1};
        snprintf(jobs[i].gid, sizeof jobs[i].gid, "%sconc-%d", g_prefix, i);
        CHECK_EQ_INT(pthread_create(&th[i], NULL, deduct_one, &jobs[i]), 0);
    }
    int ok = 0, aborted = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (jobs[i].status == 0) ok++;
        else if (jobs[i].status == 10) aborted++;
        else fprintf(stderr, "concurrent deduct %d: status %d\n", i, jobs[i].status);
    }
    CHECK_EQ_INT(ok, STOCK);
    CHECK_EQ_INT(aborted, N - STOCK);
    CHECK_EQ_INT(stock_of(CONC_GOODS), 0);
    CHECK_EQ_INT(h_db_int(g_root, -1,
                          "SELECT COUNT(*) FROM dtm_barrier.barrier WHERE gid LIKE '%sconc-%%'",
                          g_prefix),
                 STOCK);
}

/* ---- pb.order/get ------------------------------------------------------------ */

/* Calls pb.order/get for `gid`; returns the status and fills *out on OK. */
static int order_get(rpccli *cli, const char *target, const char *gid, Pb__GetResp **out) {
    Pb__GetReq m = PB__GET_REQ__INIT;
    m.gid = (char *)gid;
    uint8_t buf[512];
    size_t len = pb__get_req__pack(&m, buf);
    rpccli_result r;
    rpccli_call(cli, target, "/pb.order/get", NULL, 0, buf, len, CALL_TIMEOUT_MS, &r);
    int st = r.status;
    *out = st == 0 ? pb__get_resp__unpack(NULL, r.reply_len, r.reply ? r.reply : (uint8_t *)"")
                   : NULL;
    rpccli_result_free(&r);
    return st;
}

static int order_step(rpccli *cli, const char *target, const char *method, const char *gid,
                      const char *op) {
    Pb__CreateReq m = PB__CREATE_REQ__INIT;
    m.userid = 7;
    m.goodsid = GOODS_BASE + 1;
    m.num = 3;
    uint8_t buf[64];
    size_t len = pb__create_req__pack(&m, buf);
    rpc_md md[] = {{"dtm-gid", gid}, {"dtm-trans_type", "saga"}, {"dtm-branch_id", "01"},
                   {"dtm-op", op}};
    rpccli_result r;
    rpccli_call(cli, target, method, md, 4, buf, len, CALL_TIMEOUT_MS, &r);
    int st = r.status;
    rpccli_result_free(&r);
    return st;
}

static void order_get_reads_the_row(rpccli *cli, int order_port) {
    h_step("order_get_reads_the_row");
    char target[64], gid[96];
    snprintf(target, sizeof target, "127.0.0.1:%d", order_port);
    snprintf(gid, sizeof gid, "%sget", g_prefix);
    Pb__GetResp *g = NULL;

    CHECK_EQ_INT(order_get(cli, target, gid, &g), 0);
    CHECK(g && !g->found);
    if (g) pb__get_resp__free_unpacked(g, NULL);

    CHECK_EQ_INT(order_step(cli, target, "/pb.order/create", gid, "action"), 0);
    CHECK_EQ_INT(order_get(cli, target, gid, &g), 0);
    CHECK(g && g->found);
    if (g) {
        CHECK_EQ_INT(g->id, h_db_int(g_root, -1, "SELECT id FROM `dtm-gozero-order`.`order` "
                                                 "WHERE gid='%s'", gid));
        CHECK_EQ_INT(g->userid, 7);
        CHECK_EQ_INT(g->goodsid, GOODS_BASE + 1);
        CHECK_EQ_INT(g->num, 3);
        CHECK_EQ_INT(g->rowstate, 0);
        pb__get_resp__free_unpacked(g, NULL);
    }
    CHECK_EQ_INT(order_step(cli, target, "/pb.order/createRollback", gid, "compensate"), 0);
    CHECK_EQ_INT(order_get(cli, target, gid, &g), 0);
    CHECK(g && g->found && g->rowstate == -1);
    if (g) pb__get_resp__free_unpacked(g, NULL);

    h_step("order_get_refuses_bad_input");
    char longgid[200];
    memset(longgid, 'a', 129);
    longgid[129] = '\0';
    const char *bad[] = {"", "has space", "tab\there", longgid};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ_INT(order_get(cli, target, bad[i], &g), 3); /* INVALID_ARGUMENT */
        CHECK(g == NULL);
    }
    rpccli_result r;
    rpccli_call(cli, target, "/pb.order/get", NULL, 0, "\xff\xff\xff", 3, CALL_TIMEOUT_MS, &r);
    CHECK_EQ_INT(r.status, 3);
    CHECK(strstr(r.message, "GetReq") != NULL);
    rpccli_result_free(&r);
}

/* ---- main ---------------------------------------------------------------------- */

int main(void) {
    int db_port = h_db_port();
    const char *root = getenv("CDTM_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/service_cases.json", root ? root : ".");
    json_error_t jerr;
    json_t *table = json_load_file(path, 0, &jerr);
    if (!table) {
        fprintf(stderr, "%s:%d: %s\n", path, jerr.line, jerr.text);
        return 1;
    }
    g_goods = json_object_get(table, "goods");
    snprintf(g_prefix, sizeof g_prefix, "c-%d-", (int)getpid());

    /* Rows left by an earlier run that had the same pid. */
    g_root = h_db_pool("");
    h_db_exec(g_root, "DELETE FROM dtm_barrier.barrier WHERE gid LIKE '%s%%'", g_prefix);
    h_db_exec(g_root, "DELETE FROM `dtm-gozero-order`.`order` WHERE gid LIKE '%s%%'", g_prefix);
    size_t i;
    json_t *g;
    json_array_foreach(g_goods, i, g) {
        json_t *num = json_object_get(g, "num");
        long long id = GOODS_BASE + (long long)i + 1;
        if (json_is_null(num))
            h_db_exec(g_root, "DELETE FROM `dtm-gozero-stock`.`stock` WHERE goods_id=%lld", id);
        else
            set_stock(id, json_integer_value(num));
    }

    /* Every child is started before this process creates gRPC threads. */
    h_step("bad_config_exits_2");
    {
        char log_path[256];
        snprintf(log_path, sizeof log_path, "/tmp/cdtm-services-%d-badconf.log", (int)getpid());
        char *no_dsn = h_write_temp(".yaml", "Name: stock.rpc\nListenOn: 127.0.0.1:0\n");
        char *bad_dsn = h_write_temp(".yaml", "Name: stock.rpc\nListenOn: 127.0.0.1:0\n"
                                              "DB:\n  DataSource: \"stock_srv@udp(x)/db\"\n");
        CHECK(no_dsn && bad_dsn);
        CHECK_EQ_INT(h_sh("'%s' -f '%s' >'%s' 2>&1", h_bin("stock-srv"), no_dsn, log_path), 2);
        CHECK_EQ_INT(h_sh("grep -q 'DB.DataSource' '%s'", log_path), 0);
        CHECK_EQ_INT(h_sh("'%s' -f '%s' >'%s' 2>&1", h_bin("order-srv"), bad_dsn, log_path), 2);
        CHECK_EQ_INT(h_sh("grep -q 'DB.DataSource' '%s'", log_path), 0);
        CHECK_EQ_INT(h_sh("'%s' -f /nonexistent.yaml >'%s' 2>&1", h_bin("order-srv"), log_path), 2);
        CHECK_EQ_INT(h_sh("grep -q '^order-srv: .*nonexistent.yaml' '%s'", log_path), 0);
        CHECK_EQ_INT(h_sh("'%s' -x >'%s' 2>&1", h_bin("stock-srv"), log_path), 2);
        CHECK_EQ_INT(h_sh("grep -qx 'stock-srv: usage: stock-srv \\[-f etc/stock.yaml\\]' '%s'",
                          log_path), 0);
        unlink(no_dsn);
        unlink(bad_dsn);
        unlink(log_path);
        free(no_dsn);
        free(bad_dsn);
    }

    int ports[2] = {h_free_port(), h_free_port()};
    int down_port = h_free_port(), closed_db_port = h_free_port();
    char *order_conf = write_config("order", ports[0], db_port);
    char *stock_conf = write_config("stock", ports[1], db_port);
    char *down_conf = write_config("stock", down_port, closed_db_port);
    char order_log[256], stock_log[256], down_log[256];
    snprintf(order_log, sizeof order_log, "/tmp/cdtm-services-%d-order.log", (int)getpid());
    snprintf(stock_log, sizeof stock_log, "/tmp/cdtm-services-%d-stock.log", (int)getpid());
    snprintf(down_log, sizeof down_log, "/tmp/cdtm-services-%d-stock-dbdown.log", (int)getpid());
    pid_t order_pid = spawn_service("order-srv", order_conf, order_log);
    pid_t stock_pid = spawn_service("stock-srv", stock_conf, stock_log);
    pid_t down_pid = spawn_service("stock-srv", down_conf, down_log);
    CHECK(order_pid > 0 && stock_pid > 0 && down_pid > 0);
    int up = h_wait_port(ports[0], 10000) == 0 && h_wait_port(ports[1], 10000) == 0 &&
             h_wait_port(down_port, 10000) == 0;
    CHECK(up);
    if (up) {
        rpccli *cli = rpccli_new();
        run_table(cli, ports, json_object_get(table, "cases"));
        deduct_is_safe_under_concurrency(cli, ports[1]);
        order_get_reads_the_row(cli, ports[0]);

        h_step("database_down_is_unavailable");
        Pb__DecuctReq m = PB__DECUCT_REQ__INIT;
        m.goodsid = GOODS_BASE + 1;
        m.num = 1;
        uint8_t buf[32];
        size_t len = pb__decuct_req__pack(&m, buf);
        char gid[96];
        snprintf(gid, sizeof gid, "%sdbdown", g_prefix);
        rpc_md md[] = {{"dtm-gid", gid}, {"dtm-trans_type", "saga"}, {"dtm-branch_id", "02"},
                       {"dtm-op", "action"}};
        char target[64];
        snprintf(target, sizeof target, "127.0.0.1:%d", down_port);
        for (int k = 0; k < 2; k++) {
            rpccli_result r;
            long long t0 = h_now_ms();
            rpccli_call(cli, target, "/pb.stock/deduct", md, 4, buf, len, CALL_TIMEOUT_MS, &r);
            CHECK_EQ_INT(r.status, 14); /* UNAVAILABLE: DTM retries, never compensates */
            CHECK(h_now_ms() - t0 < 10000);
            rpccli_result_free(&r);
            CHECK(alive(down_pid));
        }
        rpccli_free(cli);
    }

    h_step("sigterm_stops_cleanly");
    pid_t pids[3] = {order_pid, stock_pid, down_pid};
    const char *logs[3] = {order_log, stock_log, down_log};
    for (int k = 0; k < 3; k++) {
        long long t0 = h_now_ms();
        int st = h_stop(pids[k], SIGTERM, 8000);
        CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
        CHECK(h_now_ms() - t0 < 8000);
        if (!(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0))
            fprintf(stderr, "service %d did not exit 0 on SIGTERM (status %d); log: %s\n",
                    (int)pids[k], st, logs[k]);
    }

    char *confs[3] = {order_conf, stock_conf, down_conf};
    for (int k = 0; k < 3; k++) {
        if (confs[k]) unlink(confs[k]);
        free(confs[k]);
    }
    if (h_failures == 0)
        for (int k = 0; k < 3; k++) unlink(logs[k]);
    else
        fprintf(stderr, "service logs: %s %s %s\n", order_log, stock_log, down_log);
    db_pool_free(g_root);
    json_decref(table);
    return h_finish("test_services");
}
