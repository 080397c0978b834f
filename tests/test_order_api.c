/* test_order_api.c: order-api, the demo's HTTP entry point, as a client sees
 * it: HTTP statuses and JSON replies, the saga it sends, and the rows the saga
 * leaves in MariaDB.
 *
 * Part 1 runs order-api against a FAKE coordinator in this process (an rpcsrv
 * for NewGid/Submit and an httpsrv for query), so the exact DtmRequest and
 * every answer of the coordinator can be checked and scripted.
 * Part 2 starts the real suite as child processes on free ports: the
 * coordinator `dtm` (with a store database of its own, created by `dtm -r`),
 * order-srv, stock-srv and order-api, on the test MariaDB ($MARIADB_PORT), and
 * asserts on order rows, stock and saga statuses, including 200 concurrent
 * orders racing for 100 units and a coordinator that goes away. */
#include <grpc/status.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dtmgimp.pb-c.h"
#include "harness.h"
#include "httpcli.h"
#include "httpsrv.h"
#include "order.pb-c.h"
#include "rpcsrv.h"
#include "stock.pb-c.h"

#define STORE_DB "dtm_test_order_api"
#define WAIT_MS 60000

/* ---- HTTP as a client sees it ------------------------------------------------ */

typedef struct {
    int status; /* -1: no answer */
    json_t *json;
} reply;

static reply http(const char *method, int port, const char *path, const char *body) {
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    const char *headers[] = {"Content-Type", "application/json", NULL};
    httpcli_resp r;
    char err[256];
    reply out = {-1, NULL};
    if (httpcli_request(method, url, headers, body, body ? strlen(body) : 0, WAIT_MS, &r, err,
                        sizeof err) != 0)
        return out;
    out.status = r.status;
    out.json = json_loadb(r.body, r.body_len, 0, NULL);
    httpcli_resp_free(&r);
    return out;
}

static const char *jstr(const reply *r, const char *key) {
    const char *s = json_string_value(json_object_get(r->json, key));
    return s ? s : "";
}

/* POST /order/quickCreate[?wait=true] with {userId, goodsId, num}. */
static reply order(int port, int wait, int64_t user, int64_t goods, int64_t num) {
    char body[256];
    snprintf(body, sizeof body, "{\"userId\":%" PRId64 ",\"goodsId\":%" PRId64 ",\"num\":%" PRId64 "}",
             user, goods, num);
    return http("POST", port, wait ? "/order/quickCreate?wait=true" : "/order/quickCreate", body);
}

/* Sends a body of `size` bytes on a raw socket, stopping early when the
 * server answers, and returns the reply's status (-1 when none came). */
static int post_huge(int port, size_t size) {
    int fd = h_connect(port);
    if (fd < 0) return -1;
    char head[256], chunk[65536], resp[512] = "";
    int n = snprintf(head, sizeof head, "POST /order/quickCreate HTTP/1.1\r\nHost: x\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", size);
    memset(chunk, ' ', sizeof chunk);
    chunk[0] = '{';
    ssize_t w = write(fd, head, (size_t)n);
    for (size_t sent = 0; w > 0 && sent < size; sent += (size_t)w) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 0) > 0) break; /* answered already */
        size_t k = size - sent < sizeof chunk ? size - sent : sizeof chunk;
        w = write(fd, chunk, k);
        chunk[0] = ' ';
    }
    size_t got = 0;
    long long deadline = h_now_ms() + 10000;
    while (got + 1 < sizeof resp && h_now_ms() < deadline) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 200) <= 0) continue;
        ssize_t r = read(fd, resp + got, sizeof resp - 1 - got);
        if (r <= 0) break;
        got += (size_t)r;
        resp[got] = '\0';
        if (strstr(resp, "\r\n")) break;
    }
    close(fd);
    int status = -1;
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) status = -1;
    return status;
}

/* ---- the fake coordinator (part 1) ---------------------------------------------- */

static struct {
    pthread_mutex_t mu;
    int newgid_calls, submit_calls;
    int submit_status;    /* what Submit answers */
    char submit_msg[256];
    char query_body[1024];/* what query answers, with 200 */
    Dtmgimp__DtmRequest *last; /* the last Submit, unpacked */
} fake = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void fake_newgid(rpcsrv_call *call, const uint8_t *req, size_t len, void *ud) {
    (void)req, (void)len, (void)ud;
    char gid[32];
    pthread_mutex_lock(&fake.mu);
    snprintf(gid, sizeof gid, "fakegid%d", ++fake.newgid_calls);
    pthread_mutex_unlock(&fake.mu);
    Dtmgimp__DtmGidReply r = DTMGIMP__DTM_GID_REPLY__INIT;
    r.gid = gid;
    uint8_t buf[64];
    rpcsrv_reply(call, buf, dtmgimp__dtm_gid_reply__pack(&r, buf));
}

static void fake_submit(rpcsrv_call *call, const uint8_t *req, size_t len, void *ud) {
    (void)ud;
    pthread_mutex_lock(&fake.mu);
    fake.submit_calls++;
    if (fake.last) dtmgimp__dtm_request__free_unpacked(fake.last, NULL);
    fake.last = dtmgimp__dtm_request__unpack(NULL, len, req);
    if (fake.submit_status != GRPC_STATUS_OK)
        rpcsrv_status(call, fake.submit_status, "%s", fake.submit_msg);
    pthread_mutex_unlock(&fake.mu);
}

static int fake_query(struct mg_connection *conn, void *ud) {
    (void)ud;
    pthread_mutex_lock(&fake.mu);
    json_t *body = json_loads(fake.query_body, 0, NULL);
    pthread_mutex_unlock(&fake.mu);
    httpsrv_reply_json(conn, 200, body);
    return 1;
}

static void fake_script(int status, const char *msg, const char *query_body) {
    pthread_mutex_lock(&fake.mu);
    fake.submit_status = status;
    snprintf(fake.submit_msg, sizeof fake.submit_msg, "%s", msg);
    snprintf(fake.query_body, sizeof fake.query_body, "%s", query_body);
    pthread_mutex_unlock(&fake.mu);
}

static int fake_calls(void) {
    pthread_mutex_lock(&fake.mu);
    int n = fake.newgid_calls + fake.submit_calls;
    pthread_mutex_unlock(&fake.mu);
    return n;
}

/* ---- child processes -------------------------------------------------------------- */

static char logdir[1024];
static char *temps[16]; /* config files written, removed at the end */
static size_t ntemps;

static char *temp_file(const char *suffix, const char *text) {
    char *p = h_write_temp(suffix, text);
    CHECK(p != NULL);
    if (p && ntemps < sizeof temps / sizeof temps[0]) temps[ntemps++] = p;
    return p ? p : "/nonexistent";
}

/* Starts `prog flag <config file>`, logging to <logdir>/<logname>.log. */
static pid_t spawn(const char *prog, const char *logname, const char *flag, const char *yaml_text) {
    char log[1200];
    snprintf(log, sizeof log, "%s/%s.log", logdir, logname);
    char *argv[] = {(char *)h_bin(prog), (char *)flag, temp_file(".yaml", yaml_text), NULL};
    return h_spawn(argv, NULL, log);
}

static int wait_ping(int port, int timeout_ms) {
    long long deadline = h_now_ms() + timeout_ms;
    while (h_now_ms() < deadline) {
        reply r = http("GET", port, "/api/ping", NULL);
        json_decref(r.json);
        if (r.status == 200) return 0;
        h_sleep_ms(100);
    }
    return -1;
}

/* Starts order-api; `dtm_more` is added to its Dtm block ("  Key: value\n"). */
static pid_t start_api(const char *logname, int port, const char *dtm_grpc, const char *dtm_http,
                       const char *dtm_more, const char *order, const char *stock, const char *db) {
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "Name: order-api\nHost: 127.0.0.1\nPort: %d\nThreads: 64\n"
             "Dtm:\n  Target: %s\n  HttpTarget: %s\n  Timeout: 3000\n%s"
             "OrderRpcConf:\n  Target: %s\nStockRpcConf:\n  Target: %s\n%s%s%s",
             port, dtm_grpc, dtm_http, dtm_more, order, stock, db ? "DB:\n  DataSource: \"" : "",
             db ? db : "", db ? "\"\n" : "");
    pid_t pid = spawn("order-api", logname, "-f", yaml);
    CHECK(wait_ping(port, 15000) == 0);
    return pid;
}

static int alive(pid_t pid) { return pid > 0 && waitpid(pid, NULL, WNOHANG) == 0; }

/* ---- part 1: against the fake coordinator ---------------------------------------------- */

static void check_bad(int port, const char *body, int want, const char *needle) {
    int before = fake_calls();
    reply r = http("POST", port, "/order/quickCreate", body);
    CHECK_EQ_INT(r.status, want);
    if (!strstr(jstr(&r, "error"), needle))
        fprintf(stderr, "  body %.60s: error \"%s\" does not name '%s'\n", body, jstr(&r, "error"),
                needle);
    CHECK(strstr(jstr(&r, "error"), needle) != NULL);
    CHECK_EQ_INT(fake_calls(), before); /* nothing reached the coordinator */
    json_decref(r.json);
}

static void part_fake(void) {
    h_step("fake coordinator: start it and order-api");
    char err[256];
    rpcsrv *rs = rpcsrv_new("127.0.0.1:0", 4, err, sizeof err);
    CHECK(rs && rpcsrv_add(rs, "/dtmgimp.Dtm/NewGid", fake_newgid, NULL) == 0 &&
          rpcsrv_add(rs, "/dtmgimp.Dtm/Submit", fake_submit, NULL) == 0 &&
          rpcsrv_start(rs, err, sizeof err) == 0);
    int hport = h_free_port();
    char listen[64], grpc_target[64], http_target[128];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", hport);
    const httpsrv_route routes[] = {{"/api/dtmsvr/query", fake_query, NULL}};
    httpsrv *hs = httpsrv_start(listen, 4, routes, 1, err, sizeof err);
    CHECK(hs != NULL);
    if (!rs || !hs) return;
    snprintf(grpc_target, sizeof grpc_target, "127.0.0.1:%d", rpcsrv_port(rs));
    snprintf(http_target, sizeof http_target, "http://127.0.0.1:%d/api/dtmsvr", hport);
    int port = h_free_port();
    /* A DB block, as earlier versions read: now ignored (order-api opens no
     * database), so order-api still starts. */
    pid_t api = start_api("order-api-fake", port, grpc_target, http_target, "", "127.0.0.1:19001",
                          "127.0.0.1:19002",
                          "nobody:x@tcp(127.0.0.1:1)/dtm-gozero-order");

    h_step("bad requests get 400/405/413 JSON naming the problem, and reach nobody");
    check_bad(port, "{\"userId\":1,\"goodsId\":2", 400, "malformed JSON");
    check_bad(port, "", 400, "empty");
    check_bad(port, "[1,2,3]", 400, "object");
    check_bad(port, "{\"userId\":1,\"goodsId\":2}", 400, "num");
    check_bad(port, "{\"goodsId\":2,\"num\":1}", 400, "userId");
    check_bad(port, "{\"userId\":1,\"goodsId\":2,\"num\":-1}", 400, "num");
    check_bad(port, "{\"userId\":1,\"goodsId\":2,\"num\":0}", 400, "num");
    check_bad(port, "{\"userId\":1,\"goodsId\":2,\"num\":1.5}", 400, "num");
    check_bad(port, "{\"userId\":1,\"goodsId\":2,\"num\":2.0}", 400, "num");
    check_bad(port, "{\"userId\":1,\"goodsId\":2,\"num\":1e30}", 400, "num");
    check_bad(port, "{\"userId\":1,\"goodsId\":2,\"num\":99999999999999999999}", 400, "num");
    check_bad(port, "{\"userId\":1,\"goodsId\":-99999999999999999999,\"num\":1}", 400, "goodsId");
    check_bad(port, "{\"userId\":\"1\",\"goodsId\":2,\"num\":1}", 400, "userId");
    check_bad(port, "{\"userId\":1,\"goodsId\":true,\"num\":1}", 400, "goodsId");
    check_bad(port, "{\"userId\":1,\"goodsId\":null,\"num\":1}", 400, "goodsId");
    int before = fake_calls();
    CHECK_EQ_INT(post_huge(port, 10u << 20), 413);
    CHECK_EQ_INT(fake_calls(), before);
    reply r = http("GET", port, "/order/quickCreate", NULL);
    CHECK_EQ_INT(r.status, 405);
    CHECK(json_is_string(json_object_get(r.json, "error")));
    json_decref(r.json);
    r = http("PUT", port, "/order/abc", "{}");
    CHECK_EQ_INT(r.status, 405);
    json_decref(r.json);

    h_step("an order becomes a two-step saga of protobuf payloads");
    fake_script(GRPC_STATUS_OK, "", "{}");
    r = order(port, 0, 7, 42, 3);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(jstr(&r, "status"), "submitted");
    pthread_mutex_lock(&fake.mu);
    Dtmgimp__DtmRequest *q = fake.last;
    CHECK(q != NULL);
    if (q) {
        CHECK_EQ_STR(q->gid, jstr(&r, "gid"));
        CHECK_EQ_STR(q->transtype, "saga");
        CHECK_EQ_STR(q->steps,
                     "[{\"action\":\"127.0.0.1:19001/pb.order/create\",\"compensate\":"
                     "\"127.0.0.1:19001/pb.order/createRollback\"},{\"action\":"
                     "\"127.0.0.1:19002/pb.stock/deduct\",\"compensate\":"
                     "\"127.0.0.1:19002/pb.stock/deductRollback\"}]");
        CHECK(q->transoptions == NULL || !q->transoptions->waitresult);
        CHECK_EQ_INT(q->n_binpayloads, 2);
        if (q->n_binpayloads == 2) {
            Pb__CreateReq *c = pb__create_req__unpack(NULL, q->binpayloads[0].len,
                                                      q->binpayloads[0].data);
            Pb__DecuctReq *d = pb__decuct_req__unpack(NULL, q->binpayloads[1].len,
                                                      q->binpayloads[1].data);
            CHECK(c && c->userid == 7 && c->goodsid == 42 && c->num == 3);
            CHECK(d && d->goodsid == 42 && d->num == 3);
            if (c) pb__create_req__free_unpacked(c, NULL);
            if (d) pb__decuct_req__free_unpacked(d, NULL);
        }
    }
    pthread_mutex_unlock(&fake.mu);
    json_decref(r.json);

    h_step("?wait=true: succeed, failed (409 with the reason), still running (202)");
    r = order(port, 1, 7, 42, 1);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(jstr(&r, "status"), "succeed");
    pthread_mutex_lock(&fake.mu);
    CHECK(fake.last && fake.last->transoptions && fake.last->transoptions->waitresult);
    pthread_mutex_unlock(&fake.mu);
    json_decref(r.json);
    fake_script(GRPC_STATUS_ABORTED, "url:127.0.0.1:19002/pb.stock/deduct return failed: FAILURE",
                "{\"transaction\":{\"status\":\"failed\",\"rollback_reason\":\"x\"},"
                "\"branches\":[]}");
    r = order(port, 1, 7, 42, 1000);
    CHECK_EQ_INT(r.status, 409);
    CHECK_EQ_STR(jstr(&r, "status"), "failed");
    CHECK(strstr(jstr(&r, "reason"), "pb.stock/deduct return failed") != NULL);
    json_decref(r.json);
    fake_script(GRPC_STATUS_ABORTED, "url:x return failed: boom",
                "{\"transaction\":{\"status\":\"aborting\"},\"branches\":[]}");
    r = order(port, 1, 7, 42, 1);
    CHECK_EQ_INT(r.status, 202);
    CHECK_EQ_STR(jstr(&r, "status"), "aborting");
    json_decref(r.json);

    h_step("GET /order/{gid}: the coordinator's status and branches; unknown gid -> 404");
    fake_script(GRPC_STATUS_OK, "",
                "{\"transaction\":{\"gid\":\"g1\",\"status\":\"succeed\"},\"branches\":["
                "{\"branch_id\":\"01\",\"op\":\"compensate\",\"status\":\"prepared\"},"
                "{\"branch_id\":\"01\",\"op\":\"action\",\"status\":\"succeed\"}]}");
    r = http("GET", port, "/order/g1", NULL);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(jstr(&r, "status"), "succeed");
    json_t *b1 = json_array_get(json_object_get(r.json, "branches"), 1);
    CHECK_EQ_STR(json_string_value(json_object_get(b1, "op")), "action");
    /* order-srv (127.0.0.1:19001) is down: the saga is still shown, the row
     * left out with the reason, not reported as missing. */
    CHECK(json_object_get(r.json, "order") == NULL);
    CHECK(strstr(json_string_value(json_object_get(r.json, "order_error")) ?: "",
                 "127.0.0.1:19001") != NULL);
    json_decref(r.json);
    fake_script(GRPC_STATUS_OK, "", "{\"transaction\":null,\"branches\":[]}");
    r = http("GET", port, "/order/nosuchgid", NULL);
    CHECK_EQ_INT(r.status, 404);
    CHECK(json_is_string(json_object_get(r.json, "error")));
    json_decref(r.json);

    h_step("Dtm.LocalGid: order-api makes each gid itself and never calls NewGid");
    int lport = h_free_port();
    pid_t lapi = start_api("order-api-localgid", lport, grpc_target, http_target,
                           "  LocalGid: true\n", "127.0.0.1:19001", "127.0.0.1:19002", NULL);
    fake_script(GRPC_STATUS_OK, "", "{}");
    pthread_mutex_lock(&fake.mu);
    int newgids = fake.newgid_calls, submits = fake.submit_calls;
    pthread_mutex_unlock(&fake.mu);
    char first[64] = "";
    for (int i = 0; i < 2; i++) {
        r = order(lport, 0, 7, 42, 1);
        CHECK_EQ_INT(r.status, 200);
        CHECK_EQ_STR(jstr(&r, "status"), "submitted");
        const char *gid = jstr(&r, "gid");
        CHECK_EQ_INT((int)strlen(gid), 22);
        CHECK_EQ_INT((int)strspn(gid, "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"), 22);
        pthread_mutex_lock(&fake.mu);
        CHECK(fake.last != NULL);
        if (fake.last) CHECK_EQ_STR(fake.last->gid, gid);
        pthread_mutex_unlock(&fake.mu);
        if (i == 0) snprintf(first, sizeof first, "%s", gid);
        else CHECK(strcmp(first, gid) != 0);
        json_decref(r.json);
    }
    pthread_mutex_lock(&fake.mu);
    CHECK_EQ_INT(fake.newgid_calls, newgids);
    CHECK_EQ_INT(fake.submit_calls, submits + 2);
    pthread_mutex_unlock(&fake.mu);
    h_stop(lapi, SIGTERM, 10000);

    h_step("coordinator gone: 503 JSON, and order-api keeps serving");
    fake_script(GRPC_STATUS_UNAVAILABLE, "store down", "{}");
    r = order(port, 1, 7, 42, 1);
    CHECK_EQ_INT(r.status, 503);
    CHECK(*jstr(&r, "gid") != '\0'); /* the saga may exist: the gid lets the caller look */
    json_decref(r.json);
    rpcsrv_stop(rs, 0);
    rpcsrv_free(rs);
    httpsrv_stop(hs);
    r = order(port, 0, 7, 42, 1);
    CHECK_EQ_INT(r.status, 503);
    CHECK(strstr(jstr(&r, "error"), "unavailable") != NULL);
    json_decref(r.json);
    r = http("GET", port, "/order/g1", NULL);
    CHECK_EQ_INT(r.status, 503);
    json_decref(r.json);
    CHECK(alive(api));
    CHECK(wait_ping(port, 2000) == 0);
    h_stop(api, SIGTERM, 10000);
    pthread_mutex_lock(&fake.mu);
    if (fake.last) dtmgimp__dtm_request__free_unpacked(fake.last, NULL);
    fake.last = NULL;
    pthread_mutex_unlock(&fake.mu);
}

/* ---- part 2: the real suite ------------------------------------------------------------ */

static struct {
    int db_port, grpc, http, order, stock, api;
    pid_t dtm_pid, order_pid, stock_pid, api_pid;
    char *dtm_yaml;
    db_pool *root;
    int64_t goods; /* base of this run's goods ids */
} s;

static pid_t start_dtm(int reset) {
    char *argv[] = {(char *)h_bin("dtm"), "-c", s.dtm_yaml, reset ? "-r" : NULL, NULL};
    char log[1200];
    snprintf(log, sizeof log, "%s/dtm.log", logdir);
    pid_t pid = h_spawn(argv, NULL, log);
    CHECK(h_wait_port(s.grpc, 15000) == 0);
    CHECK(wait_ping(s.http, 15000) == 0);
    return pid;
}

static int64_t stock_of(int64_t goods) {
    return h_db_int(s.root, -999, "SELECT num FROM `dtm-gozero-stock`.stock WHERE goods_id = %" PRId64,
                    goods);
}

static int64_t row_state_of(const char *gid) {
    return h_db_int(s.root, -99, "SELECT row_state FROM `dtm-gozero-order`.`order` WHERE gid = '%s'",
                    gid);
}

/* The saga's status as the coordinator's query tells it ("" when unknown). */
static void saga_status(const char *gid, char *out, size_t len) {
    char path[256];
    snprintf(path, sizeof path, "/api/dtmsvr/query?gid=%s", gid);
    reply r = http("GET", s.http, path, NULL);
    json_t *t = json_object_get(r.json, "transaction");
    snprintf(out, len, "%s", json_string_value(json_object_get(t, "status")) ?: "");
    json_decref(r.json);
}

static int64_t count_rows(void) {
    return h_db_int(s.root, -1, "SELECT COUNT(*) FROM `dtm-gozero-order`.`order`") * 1000000 +
           h_db_int(s.root, -1, "SELECT COUNT(*) FROM " STORE_DB ".trans_global");
}

static void start_suite(void) {
    h_step("suite: dtm -r (own store), order-srv, stock-srv, order-api");
    s.db_port = h_db_port();
    s.root = h_db_pool("");
    h_db_exec(s.root, "DROP DATABASE IF EXISTS " STORE_DB);
    s.grpc = h_free_port(), s.http = h_free_port(), s.order = h_free_port();
    s.stock = h_free_port(), s.api = h_free_port();
    char yaml[2048];
    s.dtm_yaml = temp_file(".yml", h_dtm_yaml(STORE_DB, s.http, s.grpc, ""));
    s.dtm_pid = start_dtm(1);
    for (int i = 0; i < 2; i++) {
        const char *db = i ? "dtm-gozero-stock" : "dtm-gozero-order";
        const char *user = i ? "stock_srv" : "order_srv";
        snprintf(yaml, sizeof yaml,
                 "ListenOn: 127.0.0.1:%d\nDB:\n  DataSource: \"%s:%s@tcp(127.0.0.1:%d)/%s\"\n",
                 i ? s.stock : s.order, user, user, s.db_port, db);
        const char *prog = i ? "stock-srv" : "order-srv";
        pid_t pid = spawn(prog, prog, "-f", yaml);
        CHECK(h_wait_port(i ? s.stock : s.order, 15000) == 0);
        *(i ? &s.stock_pid : &s.order_pid) = pid;
    }
    char t[4][128];
    snprintf(t[0], sizeof t[0], "127.0.0.1:%d", s.grpc);
    snprintf(t[1], sizeof t[1], "http://127.0.0.1:%d/api/dtmsvr", s.http);
    snprintf(t[2], sizeof t[2], "127.0.0.1:%d", s.order);
    snprintf(t[3], sizeof t[3], "127.0.0.1:%d", s.stock);
    s.api_pid = start_api("order-api", s.api, t[0], t[1], "", t[2], t[3], NULL);

    /* Goods of this run only: +1 has 10 units, +2 has 3, +3 does not exist,
     * +4 has 100 for the race. */
    s.goods = 7000000 + (int64_t)(getpid() % 100000) * 10;
    h_db_exec(s.root, "DELETE FROM `dtm-gozero-stock`.stock WHERE goods_id BETWEEN %" PRId64
              " AND %" PRId64, s.goods, s.goods + 9);
    h_db_exec(s.root, "INSERT INTO `dtm-gozero-stock`.stock (goods_id, num) VALUES (%" PRId64
              ", 10), (%" PRId64 ", 3), (%" PRId64 ", 100)", s.goods + 1, s.goods + 2, s.goods + 4);
}

static void part_suite_orders(void) {
    h_step("an order that succeeds: 200 succeed, row_state 0, stock 10 -> 8");
    reply r = order(s.api, 1, 11, s.goods + 1, 2);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(jstr(&r, "status"), "succeed");
    char gid[160];
    snprintf(gid, sizeof gid, "%s", jstr(&r, "gid"));
    json_decref(r.json);
    CHECK_EQ_INT(row_state_of(gid), 0);
    CHECK_EQ_INT(h_db_int(s.root, -1, "SELECT num FROM `dtm-gozero-order`.`order` WHERE gid='%s'",
                          gid), 2);
    CHECK_EQ_INT(stock_of(s.goods + 1), 8);
    char path[256];
    snprintf(path, sizeof path, "/order/%s", gid);
    r = http("GET", s.api, path, NULL);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(jstr(&r, "status"), "succeed");
    CHECK_EQ_INT(json_array_size(json_object_get(r.json, "branches")), 4);
    json_t *o = json_object_get(r.json, "order");
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "row_state")), 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "num")), 2);
    json_decref(r.json);

    h_step("too little stock: 409 failed, order cancelled (row_state -1), stock unchanged");
    r = order(s.api, 1, 12, s.goods + 2, 5);
    CHECK_EQ_INT(r.status, 409);
    CHECK_EQ_STR(jstr(&r, "status"), "failed");
    CHECK(*jstr(&r, "reason") != '\0');
    snprintf(gid, sizeof gid, "%s", jstr(&r, "gid"));
    json_decref(r.json);
    CHECK_EQ_INT(row_state_of(gid), -1);
    CHECK_EQ_INT(stock_of(s.goods + 2), 3);
    snprintf(path, sizeof path, "/order/%s", gid);
    r = http("GET", s.api, path, NULL);
    CHECK_EQ_STR(jstr(&r, "status"), "failed");
    size_t i;
    json_t *b;
    int failed_deduct = 0;
    json_array_foreach(json_object_get(r.json, "branches"), i, b) {
        if (strcmp(json_string_value(json_object_get(b, "branch_id")) ?: "", "02") == 0 &&
            strcmp(json_string_value(json_object_get(b, "op")) ?: "", "action") == 0)
            failed_deduct = strcmp(json_string_value(json_object_get(b, "status")) ?: "",
                                   "failed") == 0;
    }
    CHECK(failed_deduct);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(r.json, "order"), "row_state")),
                 -1);
    json_decref(r.json);

    h_step("unknown goods: 409 failed, order cancelled");
    r = order(s.api, 13, 1, s.goods + 3, 1);
    CHECK_EQ_INT(r.status, 409);
    CHECK_EQ_STR(jstr(&r, "status"), "failed");
    CHECK_EQ_INT(row_state_of(jstr(&r, "gid")), -1);
    json_decref(r.json);
    r = http("GET", s.api, "/order/surelynosuchgid", NULL);
    CHECK_EQ_INT(r.status, 404);
    json_decref(r.json);

    h_step("bad requests write nothing: no order row, no saga");
    int64_t before = count_rows();
    const char *bad[] = {"{\"userId\":1,", "{\"userId\":1,\"goodsId\":1}",
                         "{\"userId\":1,\"goodsId\":1,\"num\":-2}",
                         "{\"userId\":1,\"goodsId\":1,\"num\":99999999999999999999}",
                         "{\"userId\":1,\"goodsId\":1,\"num\":0.5}"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        r = http("POST", s.api, "/order/quickCreate?wait=true", bad[k]);
        CHECK_EQ_INT(r.status, 400);
        json_decref(r.json);
    }
    CHECK_EQ_INT(post_huge(s.api, 10u << 20), 413);
    CHECK_EQ_INT(count_rows(), before);
}

/* ---- 200 orders of 1 against a stock of 100 ---- */

typedef struct {
    pthread_t th;
    int64_t user;
    int status;
    char gid[160];
} racer;

static atomic_int race_done;
static atomic_llong race_min_stock = 1000;

static void *race_one(void *ud) {
    racer *r = ud;
    reply rep = order(s.api, 1, r->user, s.goods + 4, 1);
    r->status = rep.status;
    snprintf(r->gid, sizeof r->gid, "%s", jstr(&rep, "gid"));
    json_decref(rep.json);
    atomic_fetch_add(&race_done, 1);
    return NULL;
}

/* Watches the stock while the race runs: it must never go below zero. */
static void *watch_stock(void *ud) {
    int total = *(int *)ud;
    while (atomic_load(&race_done) < total) {
        long long v = stock_of(s.goods + 4);
        if (v < atomic_load(&race_min_stock)) atomic_store(&race_min_stock, v);
        h_sleep_ms(5);
    }
    return NULL;
}

static void part_suite_race(void) {
    enum { N = 200 };
    h_step("200 concurrent orders of 1 against a stock of 100");
    static racer rs[N];
    int total = N;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_t watcher;
    pthread_create(&watcher, &attr, watch_stock, &total);
    for (int i = 0; i < N; i++) {
        rs[i].user = 1000 + i;
        if (pthread_create(&rs[i].th, &attr, race_one, &rs[i]) != 0) {
            rs[i].status = -2;
            atomic_fetch_add(&race_done, 1);
        }
    }
    for (int i = 0; i < N; i++)
        if (rs[i].status != -2) pthread_join(rs[i].th, NULL);
    pthread_join(watcher, NULL);
    pthread_attr_destroy(&attr);

    int ok200 = 0, c409 = 0, other = 0;
    for (int i = 0; i < N; i++) {
        if (rs[i].status == 200) ok200++;
        else if (rs[i].status == 409) c409++;
        else if (rs[i].status != 202) other++;
    }
    printf("  replies: %d succeed, %d failed, %d not final, %d other\n", ok200, c409,
           N - ok200 - c409 - other, other);
    CHECK_EQ_INT(other, 0);

    /* Every gid must reach a final status; poll the coordinator. */
    int succeed = 0, failed = 0;
    long long deadline = h_now_ms() + 60000;
    for (int i = 0; i < N; i++) {
        char st[32] = "";
        while (rs[i].gid[0]) {
            saga_status(rs[i].gid, st, sizeof st);
            if (!strcmp(st, "succeed") || !strcmp(st, "failed") || h_now_ms() > deadline) break;
            h_sleep_ms(100);
        }
        if (!strcmp(st, "succeed")) succeed++;
        else if (!strcmp(st, "failed")) failed++;
        else fprintf(stderr, "  gid '%s' not final: '%s'\n", rs[i].gid, st);
    }
    CHECK_EQ_INT(succeed, 100);
    CHECK_EQ_INT(failed, 100);
    CHECK_EQ_INT(stock_of(s.goods + 4), 0);
    CHECK(atomic_load(&race_min_stock) >= 0);
    CHECK_EQ_INT(h_db_int(s.root, -1, "SELECT COALESCE(SUM(num), 0) FROM `dtm-gozero-order`.`order`"
                          " WHERE goods_id = %" PRId64 " AND row_state = 0", s.goods + 4), 100);
    CHECK_EQ_INT(h_db_int(s.root, -1, "SELECT COUNT(*) FROM `dtm-gozero-order`.`order`"
                          " WHERE goods_id = %" PRId64 " AND row_state = -1", s.goods + 4), 100);
}

static void part_suite_coordinator_down(void) {
    h_step("coordinator down: 503 JSON, order-api alive; back up: orders succeed again");
    h_stop(s.dtm_pid, SIGTERM, 15000);
    s.dtm_pid = -1;
    reply r = order(s.api, 1, 21, s.goods + 1, 1);
    CHECK_EQ_INT(r.status, 503);
    CHECK(strstr(jstr(&r, "error"), "unavailable") != NULL);
    json_decref(r.json);
    r = http("GET", s.api, "/order/anygid", NULL);
    CHECK_EQ_INT(r.status, 503);
    json_decref(r.json);
    CHECK(alive(s.api_pid));
    CHECK(wait_ping(s.api, 2000) == 0);

    s.dtm_pid = start_dtm(0);
    int status = -1;
    long long deadline = h_now_ms() + 20000;
    while (status != 200 && h_now_ms() < deadline) {
        r = order(s.api, 1, 22, s.goods + 1, 1);
        status = r.status;
        json_decref(r.json);
        if (status != 200) h_sleep_ms(250);
    }
    CHECK_EQ_INT(status, 200);
}

static void stop_suite(void) {
    h_stop(s.api_pid, SIGTERM, 15000);
    h_stop(s.order_pid, SIGTERM, 15000);
    h_stop(s.stock_pid, SIGTERM, 15000);
    h_stop(s.dtm_pid, SIGTERM, 15000);
    if (h_failures == 0) { /* keep the evidence when something failed */
        h_db_exec(s.root, "DELETE FROM `dtm-gozero-stock`.stock WHERE goods_id BETWEEN %" PRId64
                  " AND %" PRId64, s.goods, s.goods + 9);
        h_db_exec(s.root, "DELETE FROM `dtm-gozero-order`.`order` WHERE goods_id BETWEEN %" PRId64
                  " AND %" PRId64, s.goods, s.goods + 9);
        h_db_exec(s.root, "DROP DATABASE IF EXISTS " STORE_DB);
    }
    db_pool_free(s.root);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const char *bin = getenv("CDTM_BIN_DIR");
    snprintf(logdir, sizeof logdir, "%s/test_order_api.logs", bin ? bin : ".");
    mkdir(logdir, 0755);
    printf("logs of the servers: %s\n", logdir);

    part_fake();
    if (access(h_bin("dtm"), X_OK) != 0) {
        fprintf(stderr, "%s is not built: the suite part cannot run\n", h_bin("dtm"));
        h_failures++;
    } else {
        start_suite();
        part_suite_orders();
        part_suite_race();
        part_suite_coordinator_down();
        stop_suite();
    }
    for (size_t i = 0; i < ntemps; i++) {
        unlink(temps[i]);
        free(temps[i]);
    }
    httpcli_close_idle();
    return h_finish("test_order_api");
}
