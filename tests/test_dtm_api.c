/* test_dtm_api.c: the coordinator's two surfaces (api.h) as a DTM client sees
 * them, in one process: a store on its own database (dtm_test_api), the
 * engine with the real branch caller, the service, and both APIs on free
 * ports. Branch URLs are empty, which DTM counts as success without a call,
 * so no branch server is needed; one saga points at a closed port to keep a
 * transaction "submitted".
 *
 * What it proves: DTM's status codes, JSON shapes and messages (newGid,
 * submit/prepare idempotency, "cannot sumbmit", query, all with paging and
 * filters, forceStop, resetNextCronTime, abort, registerBranch); that every
 * malformed request is refused over BOTH HTTP and gRPC with nothing written;
 * body and header limits; the later-mode gRPC methods answer UNIMPLEMENTED;
 * the health check says SERVING. */
#include <grpc/status.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "caller.h"
#include "dtmgimp.pb-c.h"
#include "engine.h"
#include "harness.h"
#include "health.pb-c.h"
#include "httpcli.h"
#include "rpccli.h"
#include "service.h"
#include "store.h"

#define DB_NAME "dtm_test_api"

static db_pool *g_pool;   /* root on dtm_test_api */
static int g_http_port, g_grpc_port;
static rpccli *g_cli;
static char g_grpc_target[64];
static char g_prefix[32]; /* gids of this run: "api-<pid>-" */

static const char *gid_of(const char *name) {
    static __thread char buf[8][160];
    static __thread int k;
    char *b = buf[k++ % 8];
    snprintf(b, 160, "%s%s", g_prefix, name);
    return b;
}

/* ---- HTTP ---- */

/* Sends a request; returns the status (-1 on a transport error) and the
 * parsed JSON body (NULL when not JSON). */
static int http(const char *method, const char *path, const char *body, size_t len, json_t **out) {
    char url[512], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g_http_port, path);
    const char *hdrs[] = {"Content-Type", "application/json", NULL};
    httpcli_resp r;
    if (out) *out = NULL;
    if (httpcli_request(method, url, hdrs, body, body ? len : 0, 30000, &r, err, sizeof err) != 0) {
        fprintf(stderr, "%s %s: %s\n", method, path, err);
        return -1;
    }
    if (out) *out = json_loadb(r.body, r.body_len, 0, NULL);
    int st = r.status;
    httpcli_resp_free(&r);
    return st;
}

static int post(const char *path, const char *body, json_t **out) {
    return http("POST", path, body, strlen(body), out);
}

static const char *jstr(json_t *j, const char *key) {
    const char *s = json_string_value(json_object_get(j, key));
    return s ? s : "(none)";
}

/* Expects `status` and, when want is given, the substring in field `key`. */
static void expect(int got, json_t *j, int status, const char *key, const char *want,
                   const char *what) {
    if (got != status) {
        char *d = j ? json_dumps(j, JSON_COMPACT) : NULL;
        fprintf(stderr, "%s: status %d, want %d (%s)\n", what, got, status, d ? d : "no JSON");
        free(d);
        h_failures++;
        return;
    }
    if (want && !strstr(jstr(j, key), want)) {
        fprintf(stderr, "%s: %s = \"%s\", want \"%s\"\n", what, key, jstr(j, key), want);
        h_failures++;
    }
}

/* Evaluates the request before reading the JSON it fills (C leaves the order
 * of function arguments unspecified). */
#define EXPECT(call, jv, ...)              \
    do {                                   \
        int st_ = (call);                  \
        expect(st_, jv, __VA_ARGS__);      \
    } while (0)

static char *saga_json(const char *gid, const char *url, int wait) {
    char *s = malloc(1024);
    snprintf(s, 1024,
             "{\"gid\":\"%s\",\"trans_type\":\"saga\",\"steps\":["
             "{\"action\":\"%s\",\"compensate\":\"\"},{\"action\":\"\",\"compensate\":\"\"}],"
             "\"payloads\":[\"{\\\"amount\\\":30}\",\"{\\\"amount\\\":30}\"],\"wait_result\":%s}",
             gid, url, wait ? "true" : "false");
    return s;
}

static json_t *query(const char *gid) {
    char path[256];
    snprintf(path, sizeof path, "/api/dtmsvr/query?gid=%s", gid);
    json_t *j;
    int st = http("GET", path, NULL, 0, &j);
    CHECK_EQ_INT(st, 200);
    return j;
}

static const char *status_of(const char *gid) {
    static char buf[32];
    json_t *j = query(gid);
    snprintf(buf, sizeof buf, "%s",
             json_string_value(json_object_get(json_object_get(j, "transaction"), "status"))
                 ? json_string_value(json_object_get(json_object_get(j, "transaction"), "status"))
                 : "(null)");
    json_decref(j);
    return buf;
}

static int64_t rows(const char *table) {
    return h_db_int(g_pool, -1, "SELECT COUNT(*) FROM %s", table);
}

/* ---- gRPC ---- */

static int grpc(const char *method, const void *req, size_t len, rpccli_result *r) {
    char path[128];
    snprintf(path, sizeof path, "/dtmgimp.Dtm/%s", method);
    return rpccli_call(g_cli, g_grpc_target, path, NULL, 0, req, len, 30000, r);
}

static uint8_t *pack_req(const char *gid, const char *type, const char *steps, size_t npay,
                         ProtobufCBinaryData *pays, int wait, int64_t ttf, const char *custom,
                         size_t *len) {
    Dtmgimp__DtmRequest r = DTMGIMP__DTM_REQUEST__INIT;
    Dtmgimp__DtmTransOptions o = DTMGIMP__DTM_TRANS_OPTIONS__INIT;
    o.waitresult = wait;
    o.timeouttofail = ttf;
    r.gid = (char *)gid;
    r.transtype = (char *)type;
    if (steps) r.steps = (char *)steps;
    r.n_binpayloads = npay;
    r.binpayloads = pays;
    r.transoptions = &o;
    if (custom) r.customeddata = (char *)custom;
    *len = dtmgimp__dtm_request__get_packed_size(&r);
    uint8_t *buf = malloc(*len + 1);
    dtmgimp__dtm_request__pack(&r, buf);
    return buf;
}

static void expect_grpc(const char *method, const void *req, size_t len, int code, const char *want,
                        const char *what) {
    rpccli_result r;
    int st = grpc(method, req, len, &r);
    if (st != code || (want && !strstr(r.message, want))) {
        fprintf(stderr, "%s: gRPC %s: status %d \"%s\", want %d \"%s\"\n", what, method, st,
                r.message, code, want ? want : "");
        h_failures++;
    }
    rpccli_result_free(&r);
}

/* ---- tests ---- */

static const char ALPHABET[] = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

static void probes_answer_like_dtm(void) {
    h_step("probes_answer_like_dtm");
    json_t *j;
    EXPECT(http("GET", "/api/ping", NULL, 0, &j), j, 200, "msg", "pong", "ping");
    json_decref(j);
    EXPECT(http("GET", "/api/dtmsvr/version", NULL, 0, &j), j, 200, "version", "cdtm-0.1.0", "version");
    json_decref(j);
    char first[32] = "";
    for (int i = 0; i < 2; i++) {
        EXPECT(http("GET", "/api/dtmsvr/newGid", NULL, 0, &j), j, 200, "dtm_result", "SUCCESS", "newGid");
        const char *g = jstr(j, "gid");
        CHECK_EQ_INT(strlen(g), 22);
        CHECK(strspn(g, ALPHABET) == 22);
        if (i == 0) snprintf(first, sizeof first, "%s", g);
        else CHECK(strcmp(first, g) != 0);
        json_decref(j);
    }
    EXPECT(post("/api/dtmsvr/newGid", "", &j), j, 404, "error", "404 page not found", "POST newGid");
    json_decref(j);
    EXPECT(http("GET", "/api/dtmsvr/nosuch", NULL, 0, &j), j, 404, "error", "404", "unknown route");
    json_decref(j);
    EXPECT(http("GET", "/nothing/here", NULL, 0, &j), j, 404, "error", "404", "unknown path");
    json_decref(j);
    EXPECT(http("GET", "/api/dtmsvr/submit", NULL, 0, &j), j, 405, "error", "not allowed", "GET submit");
    json_decref(j);
    EXPECT(http("DELETE", "/api/dtmsvr/query?gid=x", NULL, 0, &j), j, 405, "error", "not allowed",
           "DELETE query");
    json_decref(j);
}

static void submit_saga_succeeds_with_dtm_rows(void) {
    h_step("submit_saga_succeeds_with_dtm_rows");
    const char *gid = gid_of("s1");
    char *body = saga_json(gid, "", 1);
    json_t *j;
    int st = post("/api/dtmsvr/submit", body, &j);
    expect(st, j, 200, "dtm_result", "SUCCESS", "submit");
    json_decref(j);
    j = query(gid);
    json_t *t = json_object_get(j, "transaction"), *br = json_object_get(j, "branches");
    CHECK_EQ_STR(jstr(t, "status"), "succeed");
    CHECK_EQ_STR(jstr(t, "protocol"), "http");
    CHECK_EQ_STR(jstr(t, "trans_type"), "saga");
    CHECK_EQ_STR(jstr(t, "gid"), gid);
    CHECK_EQ_INT(json_array_size(br), 4);
    const char *want[4][3] = {{"01", "compensate", "prepared"}, {"01", "action", "succeed"},
                              {"02", "compensate", "prepared"}, {"02", "action", "succeed"}};
    for (size_t i = 0; i < 4 && i < json_array_size(br); i++) {
        json_t *b = json_array_get(br, i);
        CHECK_EQ_STR(jstr(b, "branch_id"), want[i][0]);
        CHECK_EQ_STR(jstr(b, "op"), want[i][1]);
        CHECK_EQ_STR(jstr(b, "status"), want[i][2]);
    }
    json_decref(j);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_global WHERE gid='%s' AND status='succeed'", gid), 1);

    /* a finished gid cannot be submitted again: DTM's words, typo included */
    st = post("/api/dtmsvr/submit", body, &j);
    expect(st, j, 409, "message", "current status 'succeed', cannot sumbmit", "re-submit");
    CHECK_EQ_STR(jstr(j, "dtm_result"), "FAILURE");
    json_decref(j);
    free(body);

    /* without wait_result the saga finishes in the background */
    gid = gid_of("s2");
    body = saga_json(gid, "", 0);
    st = post("/api/dtmsvr/submit", body, &j);
    expect(st, j, 200, "dtm_result", "SUCCESS", "submit async");
    json_decref(j);
    free(body);
    long long deadline = h_now_ms() + 10000;
    while (strcmp(status_of(gid), "succeed") != 0 && h_now_ms() < deadline) h_sleep_ms(50);
    CHECK_EQ_STR(status_of(gid), "succeed");
}

static void prepare_then_submit_is_idempotent(void) {
    h_step("prepare_then_submit_is_idempotent");
    const char *gid = gid_of("p1");
    char *body = saga_json(gid, "", 1);
    json_t *j;
    EXPECT(post("/api/dtmsvr/prepare", body, &j), j, 200, "dtm_result", "SUCCESS", "prepare");
    json_decref(j);
    CHECK_EQ_STR(status_of(gid), "prepared");
    EXPECT(post("/api/dtmsvr/prepare", body, &j), j, 200, "dtm_result", "SUCCESS", "prepare again");
    json_decref(j);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_branch_op WHERE gid='%s'", gid), 4);
    EXPECT(post("/api/dtmsvr/submit", body, &j), j, 200, "dtm_result", "SUCCESS", "submit prepared");
    json_decref(j);
    CHECK_EQ_STR(status_of(gid), "succeed");
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_branch_op WHERE gid='%s'", gid), 4);
    EXPECT(post("/api/dtmsvr/prepare", body, &j), j, 409, "message",
           "current status 'succeed', cannot prepare", "prepare finished");
    json_decref(j);
    free(body);

    /* a submitted gid is processed again (here it was left submitted) */
    gid = gid_of("p2");
    body = saga_json(gid, "", 1);
    EXPECT(post("/api/dtmsvr/prepare", body, &j), j, 200, "dtm_result", "SUCCESS", "prepare p2");
    json_decref(j);
    h_db_exec(g_pool, "UPDATE trans_global SET status='submitted' WHERE gid='%s'", gid);
    EXPECT(post("/api/dtmsvr/submit", body, &j), j, 200, "dtm_result", "SUCCESS", "re-submit submitted");
    json_decref(j);
    CHECK_EQ_STR(status_of(gid), "succeed");
    free(body);

    /* a branch that cannot be reached keeps the saga submitted: WaitResult
     * answers FAILURE (DTM PR #322), and a re-submit runs it again */
    gid = gid_of("p3");
    body = saga_json(gid, "http://127.0.0.1:1/TransOut", 1);
    EXPECT(post("/api/dtmsvr/submit", body, &j), j, 409, "dtm_result", "FAILURE", "unreachable");
    json_decref(j);
    CHECK_EQ_STR(status_of(gid), "submitted");
    EXPECT(post("/api/dtmsvr/submit", body, &j), j, 409, "dtm_result", "FAILURE", "unreachable again");
    CHECK(!strstr(jstr(j, "message"), "cannot sumbmit"));
    json_decref(j);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_branch_op WHERE gid='%s'", gid), 4);
    /* forceStop: submitted -> failed, then 409 */
    char fs[256];
    snprintf(fs, sizeof fs, "{\"gid\":\"%s\"}", gid);
    EXPECT(post("/api/dtmsvr/forceStop", fs, &j), j, 200, "dtm_result", "SUCCESS", "forceStop");
    json_decref(j);
    CHECK_EQ_STR(status_of(gid), "failed");
    EXPECT(post("/api/dtmsvr/forceStop", fs, &j), j, 409, "message", "force stop error", "forceStop final");
    json_decref(j);
    free(body);
}

static void query_all_and_admin_ops(void) {
    h_step("query_all_and_admin_ops");
    json_t *j;
    char path[512];
    snprintf(path, sizeof path, "/api/dtmsvr/query?gid=%s", gid_of("nosuch"));
    EXPECT(http("GET", path, NULL, 0, &j), j, 200, NULL, NULL, "query unknown");
    CHECK(json_is_null(json_object_get(j, "transaction")));
    CHECK(json_is_array(json_object_get(j, "branches")) && json_array_size(json_object_get(j, "branches")) == 0);
    json_decref(j);
    EXPECT(http("GET", "/api/dtmsvr/query", NULL, 0, &j), j, 400, "error", "no gid specified", "query no gid");
    json_decref(j);
    EXPECT(http("GET", "/api/dtmsvr/query?gid=", NULL, 0, &j), j, 400, "error", "no gid", "query empty gid");
    json_decref(j);

    /* all: three prepared sagas of this run, newest first, two per page */
    const char *names[] = {"a1", "a2", "a3"};
    for (int i = 0; i < 3; i++) {
        char *b = saga_json(gid_of(names[i]), "", 0);
        EXPECT(post("/api/dtmsvr/prepare", b, &j), j, 200, NULL, NULL, "prepare for all");
        json_decref(j);
        free(b);
    }
    EXPECT(http("GET", "/api/dtmsvr/all?limit=2", NULL, 0, &j), j, 200, NULL, NULL, "all page 1");
    json_t *tr = json_object_get(j, "transactions");
    CHECK_EQ_INT(json_array_size(tr), 2);
    CHECK_EQ_STR(jstr(json_array_get(tr, 0), "gid"), gid_of("a3"));
    CHECK_EQ_STR(jstr(json_array_get(tr, 1), "gid"), gid_of("a2"));
    char pos[64];
    snprintf(pos, sizeof pos, "%s", jstr(j, "next_position"));
    CHECK(pos[0] != '\0' && strcmp(pos, "(none)") != 0);
    json_decref(j);
    snprintf(path, sizeof path, "/api/dtmsvr/all?limit=2&position=%s", pos);
    EXPECT(http("GET", path, NULL, 0, &j), j, 200, NULL, NULL, "all page 2");
    CHECK_EQ_STR(jstr(json_array_get(json_object_get(j, "transactions"), 0), "gid"), gid_of("a1"));
    json_decref(j);
    snprintf(path, sizeof path, "/api/dtmsvr/all?gid=%s", gid_of("a2"));
    EXPECT(http("GET", path, NULL, 0, &j), j, 200, NULL, NULL, "all by gid");
    tr = json_object_get(j, "transactions");
    CHECK_EQ_INT(json_array_size(tr), 1);
    CHECK_EQ_STR(jstr(json_array_get(tr, 0), "gid"), gid_of("a2"));
    json_decref(j);
    EXPECT(http("GET", "/api/dtmsvr/all?status=prepared&transType=saga&limit=1000", NULL, 0, &j), j,
           200, NULL, NULL, "all by status");
    tr = json_object_get(j, "transactions");
    size_t i;
    json_t *e;
    int bad = 0, seen = 0;
    json_array_foreach(tr, i, e) {
        if (strcmp(jstr(e, "status"), "prepared") != 0) bad++;
        if (strcmp(jstr(e, "gid"), gid_of("a1")) == 0) seen++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(seen, 1);
    json_decref(j);
    EXPECT(http("GET", "/api/dtmsvr/all?status=succeed", NULL, 0, &j), j, 200, NULL, NULL, "all succeed");
    json_array_foreach(json_object_get(j, "transactions"), i, e) CHECK_EQ_STR(jstr(e, "status"), "succeed");
    json_decref(j);
    EXPECT(http("GET", "/api/dtmsvr/all?transType=tcc", NULL, 0, &j), j, 200, NULL, NULL, "all tcc");
    CHECK_EQ_INT(json_array_size(json_object_get(j, "transactions")), 0);
    json_decref(j);
    const char *bad_all[] = {"limit=abc", "limit=0", "limit=5000", "limit=-1", "position=abc",
                             "createTimeStart=x"};
    for (size_t k = 0; k < sizeof bad_all / sizeof *bad_all; k++) {
        snprintf(path, sizeof path, "/api/dtmsvr/all?%s", bad_all[k]);
        EXPECT(http("GET", path, NULL, 0, &j), j, 400, "error", NULL, bad_all[k]);
        json_decref(j);
    }

    /* resetNextCronTime */
    char body[256];
    h_db_exec(g_pool, "UPDATE trans_global SET next_cron_time=DATE_ADD(NOW(), INTERVAL 1 HOUR) WHERE gid='%s'",
              gid_of("a1"));
    snprintf(body, sizeof body, "{\"gid\":\"%s\"}", gid_of("a1"));
    EXPECT(post("/api/dtmsvr/resetNextCronTime", body, &j), j, 200, "dtm_result", "SUCCESS", "reset cron");
    json_decref(j);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT next_cron_time <= NOW() FROM trans_global WHERE gid='%s'",
                          gid_of("a1")), 1);
    snprintf(body, sizeof body, "{\"gid\":\"%s\"}", gid_of("nosuch"));
    EXPECT(post("/api/dtmsvr/resetNextCronTime", body, &j), j, 400, "error", "not found", "reset unknown");
    json_decref(j);
    EXPECT(post("/api/dtmsvr/resetNextCronTime", "{}", &j), j, 400, "error", "gid", "reset no gid");
    json_decref(j);

    /* forceStop of a prepared saga; unknown gid; no gid */
    snprintf(body, sizeof body, "{\"gid\":\"%s\"}", gid_of("a2"));
    EXPECT(post("/api/dtmsvr/forceStop", body, &j), j, 200, "dtm_result", "SUCCESS", "forceStop prepared");
    json_decref(j);
    CHECK_EQ_STR(status_of(gid_of("a2")), "failed");
    snprintf(body, sizeof body, "{\"gid\":\"%s\"}", gid_of("nosuch"));
    EXPECT(post("/api/dtmsvr/forceStop", body, &j), j, 400, "error", "not found", "forceStop unknown");
    json_decref(j);
    EXPECT(post("/api/dtmsvr/forceStop", "{\"gid\":5}", &j), j, 400, "error", "gid", "forceStop bad gid");
    json_decref(j);
    EXPECT(post("/api/dtmsvr/forceStop", "not json", &j), j, 400, "error", "malformed JSON", "forceStop junk");
    json_decref(j);

    /* abort: a saga cannot be aborted; an unknown gid is a client error */
    snprintf(body, sizeof body, "{\"gid\":\"%s\",\"trans_type\":\"saga\"}", gid_of("s1"));
    EXPECT(post("/api/dtmsvr/abort", body, &j), j, 409, "message",
           "trans type: 'saga' current status 'succeed', cannot abort", "abort finished");
    json_decref(j);
    snprintf(body, sizeof body, "{\"gid\":\"%s\",\"trans_type\":\"saga\"}", gid_of("nosuch"));
    EXPECT(post("/api/dtmsvr/abort", body, &j), j, 400, "error", "not found", "abort unknown");
    json_decref(j);

    /* registerBranch: onto a prepared tcc global only. cdtm cannot prepare
     * a tcc yet, so the test writes those globals itself. */
    const char *tg[2][2] = {{"t1", "prepared"}, {"t2", "succeed"}};
    for (int k = 0; k < 2; k++)
        h_db_exec(g_pool, "INSERT INTO trans_global (gid, trans_type, status, query_prepared, "
                  "protocol, create_time, update_time, next_cron_interval, next_cron_time) VALUES "
                  "('%s', 'tcc', '%s', '', 'http', NOW(), NOW(), 10, DATE_ADD(NOW(), INTERVAL 1 HOUR))",
                  gid_of(tg[k][0]), tg[k][1]);
    snprintf(body, sizeof body, "{\"gid\":\"%s\",\"trans_type\":\"tcc\",\"branch_id\":\"01\","
             "\"data\":\"x\",\"confirm\":\"http://h/c\",\"cancel\":\"http://h/k\"}", gid_of("t1"));
    EXPECT(post("/api/dtmsvr/registerBranch", body, &j), j, 200, "dtm_result", "SUCCESS", "register");
    json_decref(j);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_branch_op WHERE gid='%s' AND "
                          "branch_id='01' AND op IN ('confirm','cancel') AND bin_data='x'",
                          gid_of("t1")), 2);
    snprintf(body, sizeof body, "{\"gid\":\"%s\",\"trans_type\":\"tcc\",\"branch_id\":\"01\","
             "\"confirm\":\"http://h/c\",\"cancel\":\"http://h/k\"}", gid_of("t2"));
    EXPECT(post("/api/dtmsvr/registerTccBranch", body, &j), j, 409, "message",
           "no trans with gid", "register finished");
    json_decref(j);
    snprintf(body, sizeof body, "{\"gid\":\"%s\",\"trans_type\":\"tcc\",\"branch_id\":\"01\"}",
             gid_of("nosuch"));
    EXPECT(post("/api/dtmsvr/registerBranch", body, &j), j, 409, "message", "no trans with gid",
           "register unknown");
    json_decref(j);
    snprintf(body, sizeof body, "{\"gid\":\"%s\",\"trans_type\":\"xa\",\"branch_id\":\"01\","
             "\"url\":\"http://h/x\"}", gid_of("a3"));
    EXPECT(post("/api/dtmsvr/registerXaBranch", body, &j), j, 400, "error", "is a 'saga'",
           "register onto a saga");
    json_decref(j);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_branch_op WHERE gid='%s'",
                          gid_of("a3")), 4);
    snprintf(body, sizeof body, "{\"gid\":\"%s\",\"trans_type\":\"saga\",\"branch_id\":\"01\"}",
             gid_of("t1"));
    EXPECT(post("/api/dtmsvr/registerBranch", body, &j), j, 400, "error", "trans type", "register saga");
    json_decref(j);
    EXPECT(post("/api/dtmsvr/registerBranch", "{\"gid\":1}", &j), j, 400, "error", "must be a string",
           "register bad");
    json_decref(j);
}

/* One bad-input class, as trans JSON and as a DtmRequest. */
typedef struct {
    const char *name;
    char *json;          /* HTTP body */
    uint8_t *proto;      /* packed DtmRequest (NULL: HTTP only) */
    size_t proto_len;
    int http_status;
    int grpc_status;
    const char *want;    /* substring of the HTTP error */
} bad_case;

/* A malloc'd printf result, big enough for the largest case (513 steps, a
 * 64 KiB payload). */
static char *jsonf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *jsonf(const char *fmt, ...) {
    size_t cap = 200000;
    char *s = malloc(cap);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s, cap, fmt, ap);
    va_end(ap);
    return s;
}

static char *repeat(char c, size_t n) {
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void bad_input_is_refused_and_nothing_written(void) {
    h_step("bad_input_is_refused_and_nothing_written");
    const char *steps1 = "[{\"action\":\"\",\"compensate\":\"\"}]";
    ProtobufCBinaryData one[1] = {{1, (uint8_t *)"x"}};
    char *g129 = repeat('g', 129), *url1025 = repeat('u', 1025);
    uint8_t *pay65536 = calloc(1, 65536);
    char *jpay = repeat('p', 65536);
    ProtobufCBinaryData big[1] = {{65536, pay65536}};
    char steps_url[1200];
    snprintf(steps_url, sizeof steps_url, "[{\"action\":\"%s\",\"compensate\":\"\"}]", url1025);
    /* 513 steps */
    size_t cap = 513 * 40 + 64, n = 0;
    char *steps513 = malloc(cap);
    n += (size_t)snprintf(steps513 + n, cap - n, "[");
    for (int i = 0; i < 513; i++)
        n += (size_t)snprintf(steps513 + n, cap - n, "%s{\"action\":\"\",\"compensate\":\"\"}", i ? "," : "");
    snprintf(steps513 + n, cap - n, "]");
    ProtobufCBinaryData pays513[513];
    for (int i = 0; i < 513; i++) pays513[i] = one[0];

    bad_case cases[16];
    size_t nc = 0;
#define CASE(nm, js, pb, hs, gs, w)                                                           \
    do {                                                                                      \
        cases[nc].name = nm;                                                                  \
        cases[nc].json = js;                                                                  \
        cases[nc].proto = pb;                                                                 \
        cases[nc].http_status = hs;                                                           \
        cases[nc].grpc_status = gs;                                                           \
        cases[nc].want = w;                                                                   \
        nc++;                                                                                 \
    } while (0)
    size_t len = 0;
    CASE("malformed JSON", jsonf("{\"gid\":"), NULL, 400, 0, "malformed JSON");
    CASE("empty gid", jsonf("{\"gid\":\"\",\"trans_type\":\"saga\",\"steps\":%s,\"payloads\":[\"x\"]}", steps1),
         pack_req("", "saga", steps1, 1, one, 0, 0, NULL, &len), 400, GRPC_STATUS_INVALID_ARGUMENT, "id: missing");
    cases[nc - 1].proto_len = len;
    CASE("missing gid", jsonf("{\"trans_type\":\"saga\",\"steps\":%s,\"payloads\":[\"x\"]}", steps1), NULL, 400, 0,
         "gid: missing");
    CASE("129-byte gid", jsonf("{\"gid\":\"%s\",\"trans_type\":\"saga\",\"steps\":%s,\"payloads\":[\"x\"]}", g129, steps1),
         pack_req(g129, "saga", steps1, 1, one, 0, 0, NULL, &len), 400, GRPC_STATUS_INVALID_ARGUMENT, "id: 129 bytes");
    cases[nc - 1].proto_len = len;
    CASE("bogus trans_type", jsonf("{\"gid\":\"%sb1\",\"trans_type\":\"bogus\",\"steps\":%s,\"payloads\":[\"x\"]}", g_prefix, steps1),
         pack_req(gid_of("b1"), "bogus", steps1, 1, one, 0, 0, NULL, &len), 400, GRPC_STATUS_INVALID_ARGUMENT,
         "unknown trans_type 'bogus'");
    cases[nc - 1].proto_len = len;
    CASE("msg", jsonf("{\"gid\":\"%sb2\",\"trans_type\":\"msg\",\"steps\":%s,\"payloads\":[\"x\"]}", g_prefix, steps1),
         pack_req(gid_of("b2"), "msg", steps1, 1, one, 0, 0, NULL, &len), 400, GRPC_STATUS_UNIMPLEMENTED,
         "trans_type 'msg' is not supported by cdtm yet");
    cases[nc - 1].proto_len = len;
    CASE("steps not an array", jsonf("{\"gid\":\"%sb3\",\"trans_type\":\"saga\",\"steps\":{}}", g_prefix),
         pack_req(gid_of("b3"), "saga", "{}", 0, NULL, 0, 0, NULL, &len), 400, GRPC_STATUS_INVALID_ARGUMENT,
         "teps: must be an array of objects");
    cases[nc - 1].proto_len = len;
    CASE("no compensate", jsonf("{\"gid\":\"%sb4\",\"trans_type\":\"saga\",\"steps\":[{\"action\":\"\"}],\"payloads\":[\"x\"]}", g_prefix),
         pack_req(gid_of("b4"), "saga", "[{\"action\":\"\"}]", 1, one, 0, 0, NULL, &len), 400,
         GRPC_STATUS_INVALID_ARGUMENT, "missing \"compensate\"");
    cases[nc - 1].proto_len = len;
    CASE("payload count", jsonf("{\"gid\":\"%sb5\",\"trans_type\":\"saga\",\"steps\":%s,\"payloads\":[\"x\",\"y\"]}", g_prefix, steps1),
         pack_req(gid_of("b5"), "saga", steps1, 0, NULL, 0, 0, NULL, &len), 400, GRPC_STATUS_INVALID_ARGUMENT,
         "payload(s) for 1 step(s)");
    cases[nc - 1].proto_len = len;
    CASE("513 steps", jsonf("{\"gid\":\"%sb6\",\"trans_type\":\"saga\",\"steps\":%s}", g_prefix, steps513),
         pack_req(gid_of("b6"), "saga", steps513, 513, pays513, 0, 0, NULL, &len), 400,
         GRPC_STATUS_INVALID_ARGUMENT, "513 steps, at most 512");
    cases[nc - 1].proto_len = len;
    CASE("65536-byte payload", jsonf("{\"gid\":\"%sb7\",\"trans_type\":\"saga\",\"steps\":%s,\"payloads\":[\"%s\"]}", g_prefix, steps1, jpay),
         pack_req(gid_of("b7"), "saga", steps1, 1, big, 0, 0, NULL, &len), 400, GRPC_STATUS_INVALID_ARGUMENT,
         "65536 bytes, at most 65535");
    cases[nc - 1].proto_len = len;
    CASE("1025-byte URL", jsonf("{\"gid\":\"%sb8\",\"trans_type\":\"saga\",\"steps\":%s,\"payloads\":[\"x\"]}", g_prefix, steps_url),
         pack_req(gid_of("b8"), "saga", steps_url, 1, one, 0, 0, NULL, &len), 400, GRPC_STATUS_INVALID_ARGUMENT,
         "URL of 1025 bytes");
    cases[nc - 1].proto_len = len;
    CASE("bad custom_data", jsonf("{\"gid\":\"%sb9\",\"trans_type\":\"saga\",\"steps\":%s,\"payloads\":[\"x\"],\"custom_data\":\"{bad\"}", g_prefix, steps1),
         pack_req(gid_of("b9"), "saga", steps1, 1, one, 0, 0, "{bad", &len), 400, GRPC_STATUS_INVALID_ARGUMENT,
         "custom_data");
    cases[nc - 1].proto_len = len;
    CASE("negative timeout", jsonf("{\"gid\":\"%sba\",\"trans_type\":\"saga\",\"steps\":%s,\"payloads\":[\"x\"],\"timeout_to_fail\":-1}", g_prefix, steps1),
         pack_req(gid_of("ba"), "saga", steps1, 1, one, 0, -1, NULL, &len), 400, GRPC_STATUS_INVALID_ARGUMENT,
         "imeoutToFail: -1 is out of range");
    cases[nc - 1].proto_len = len;
    /* the JSON message says timeout_to_fail, the gRPC one TimeoutToFail */
    cases[nc - 1].want = "-1 is out of range";
#undef CASE
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};

    int64_t g0 = rows("trans_global"), b0 = rows("trans_branch_op");
    for (size_t i = 0; i < nc; i++) {
        const char *eps[] = {"/api/dtmsvr/submit", "/api/dtmsvr/prepare"};
        for (int k = 0; k < 2; k++) {
            json_t *j;
            char what[128];
            snprintf(what, sizeof what, "HTTP %s %s", eps[k], cases[i].name);
            EXPECT(post(eps[k], cases[i].json, &j), j, cases[i].http_status, "error", cases[i].want, what);
            json_decref(j);
        }
        if (cases[i].proto) {
            const char *methods[] = {"Submit", "Prepare"};
            for (int k = 0; k < 2; k++)
                expect_grpc(methods[k], cases[i].proto, cases[i].proto_len, cases[i].grpc_status,
                            cases[i].want, cases[i].name);
        }
    }
    expect_grpc("Submit", junk, sizeof junk, GRPC_STATUS_INVALID_ARGUMENT, "cannot decode DtmRequest", "junk");
    expect_grpc("Prepare", junk, sizeof junk, GRPC_STATUS_INVALID_ARGUMENT, "cannot decode DtmRequest", "junk");
    expect_grpc("Abort", junk, sizeof junk, GRPC_STATUS_INVALID_ARGUMENT, "cannot decode DtmRequest", "junk");
    expect_grpc("RegisterBranch", junk, sizeof junk, GRPC_STATUS_INVALID_ARGUMENT, "cannot decode", "junk");

    /* a body over 1 MiB: 413, nothing read into memory beyond the limit */
    size_t huge = 10u * 1024 * 1024;
    char *body = malloc(huge);
    memset(body, ' ', huge);
    json_t *j;
    EXPECT(http("POST", "/api/dtmsvr/submit", body, huge, &j), j, 413, "error", "over", "10 MB body");
    json_decref(j);
    free(body);
    /* oversized headers: a client error, and the server keeps serving */
    char *hv = repeat('h', 20000);
    char url[128], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/ping", g_http_port);
    const char *hdrs[] = {"X-Big", hv, NULL};
    httpcli_resp r;
    if (httpcli_request("GET", url, hdrs, NULL, 0, 10000, &r, err, sizeof err) == 0) {
        CHECK(r.status >= 400 && r.status < 500);
        httpcli_resp_free(&r);
    } /* a reset connection is fine too */
    free(hv);
    EXPECT(http("GET", "/api/ping", NULL, 0, &j), j, 200, "msg", "pong", "ping after bad headers");
    json_decref(j);

    CHECK_EQ_INT(rows("trans_global"), g0);
    CHECK_EQ_INT(rows("trans_branch_op"), b0);
    for (size_t i = 0; i < nc; i++) {
        free(cases[i].json);
        free(cases[i].proto);
    }
    free(g129);
    free(url1025);
    free(pay65536);
    free(jpay);
    free(steps513);
}

static void grpc_surface(void) {
    h_step("grpc_surface");
    rpccli_result r;
    CHECK_EQ_INT(grpc("NewGid", "", 0, &r), GRPC_STATUS_OK);
    Dtmgimp__DtmGidReply *g = dtmgimp__dtm_gid_reply__unpack(NULL, r.reply_len, r.reply);
    CHECK(g != NULL);
    if (g) {
        CHECK_EQ_INT(strlen(g->gid), 22);
        CHECK(strspn(g->gid, ALPHABET) == 22);
        dtmgimp__dtm_gid_reply__free_unpacked(g, NULL);
    }
    rpccli_result_free(&r);

    const char *steps = "[{\"action\":\"\",\"compensate\":\"\"},{\"action\":\"\",\"compensate\":\"\"}]";
    uint8_t p1[] = {0x08, 0x01, 0x00}, p2[] = {0x10, 0x02};
    ProtobufCBinaryData pays[2] = {{sizeof p1, p1}, {sizeof p2, p2}};
    size_t len;
    const char *gid = gid_of("g1");
    uint8_t *req = pack_req(gid, "saga", steps, 2, pays, 1, 0, NULL, &len);
    CHECK_EQ_INT(grpc("Submit", req, len, &r), GRPC_STATUS_OK);
    CHECK_EQ_INT(r.reply_len, 0);
    rpccli_result_free(&r);
    json_t *j = query(gid);
    json_t *t = json_object_get(j, "transaction");
    CHECK_EQ_STR(jstr(t, "status"), "succeed");
    CHECK_EQ_STR(jstr(t, "protocol"), "grpc");
    CHECK_EQ_INT(json_array_size(json_object_get(j, "branches")), 4);
    json_decref(j);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT LENGTH(bin_data) FROM trans_branch_op WHERE gid='%s' "
                          "AND branch_id='01' AND op='action'", gid), 3);
    expect_grpc("Submit", req, len, GRPC_STATUS_ABORTED, "current status 'succeed', cannot sumbmit",
                "grpc re-submit");
    expect_grpc("Prepare", req, len, GRPC_STATUS_ABORTED, "cannot prepare", "grpc prepare finished");
    expect_grpc("Abort", req, len, GRPC_STATUS_ABORTED, "cannot abort", "grpc abort finished");
    free(req);
    req = pack_req(gid_of("nosuch"), "saga", NULL, 0, NULL, 0, 0, NULL, &len);
    expect_grpc("Abort", req, len, GRPC_STATUS_INVALID_ARGUMENT, "not found", "grpc abort unknown");
    free(req);

    /* Prepare + Submit over gRPC */
    gid = gid_of("g2");
    req = pack_req(gid, "saga", steps, 2, pays, 1, 0, NULL, &len);
    expect_grpc("Prepare", req, len, GRPC_STATUS_OK, NULL, "grpc prepare");
    CHECK_EQ_STR(status_of(gid), "prepared");

    /* RegisterBranch onto the prepared tcc global, a finished one, a saga */
    Dtmgimp__DtmBranchRequest br = DTMGIMP__DTM_BRANCH_REQUEST__INIT;
    Dtmgimp__DtmBranchRequest__DataEntry d1 = DTMGIMP__DTM_BRANCH_REQUEST__DATA_ENTRY__INIT,
                                         d2 = DTMGIMP__DTM_BRANCH_REQUEST__DATA_ENTRY__INIT;
    d1.key = "confirm";
    d1.value = "h:1/p.S/Confirm";
    d2.key = "cancel";
    d2.value = "h:1/p.S/Cancel";
    Dtmgimp__DtmBranchRequest__DataEntry *dp[] = {&d1, &d2};
    br.gid = (char *)gid_of("t1");
    br.transtype = "tcc";
    br.branchid = "0101";
    br.n_data = 2;
    br.data = dp;
    br.busipayload = (ProtobufCBinaryData){2, (uint8_t *)"\x01\x02"};
    uint8_t bbuf[512];
    size_t blen = dtmgimp__dtm_branch_request__pack(&br, bbuf);
    expect_grpc("RegisterBranch", bbuf, blen, GRPC_STATUS_OK, NULL, "grpc register");
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_branch_op WHERE gid='%s' AND "
                          "branch_id='0101' AND LENGTH(bin_data)=2", gid_of("t1")), 2);
    br.gid = (char *)gid_of("t2");
    blen = dtmgimp__dtm_branch_request__pack(&br, bbuf);
    expect_grpc("RegisterBranch", bbuf, blen, GRPC_STATUS_ABORTED, "no trans with gid", "grpc register finished");
    br.gid = (char *)gid;
    blen = dtmgimp__dtm_branch_request__pack(&br, bbuf);
    expect_grpc("RegisterBranch", bbuf, blen, GRPC_STATUS_INVALID_ARGUMENT, "is a 'saga'", "grpc register onto saga");
    br.transtype = "saga";
    blen = dtmgimp__dtm_branch_request__pack(&br, bbuf);
    expect_grpc("RegisterBranch", bbuf, blen, GRPC_STATUS_INVALID_ARGUMENT, "trans type", "grpc register saga");

    expect_grpc("Submit", req, len, GRPC_STATUS_OK, NULL, "grpc submit prepared");
    free(req);
    CHECK_EQ_STR(status_of(gid), "succeed");

    /* the methods of the later modes */
    const char *later[] = {"PrepareWorkflow", "Subscribe", "Unsubscribe", "DeleteTopic"};
    for (size_t i = 0; i < 4; i++)
        expect_grpc(later[i], "", 0, GRPC_STATUS_UNIMPLEMENTED, "not supported", later[i]);

    /* health */
    const char *services[] = {"", "dtmgimp.Dtm"};
    for (int i = 0; i < 2; i++) {
        Grpc__Health__V1__HealthCheckRequest hr = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
        hr.service = (char *)services[i];
        uint8_t hb[64];
        size_t hl = grpc__health__v1__health_check_request__pack(&hr, hb);
        int st = rpccli_call(g_cli, g_grpc_target, "/grpc.health.v1.Health/Check", NULL, 0, hb, hl,
                             5000, &r);
        CHECK_EQ_INT(st, GRPC_STATUS_OK);
        Grpc__Health__V1__HealthCheckResponse *resp =
            grpc__health__v1__health_check_response__unpack(NULL, r.reply_len, r.reply);
        CHECK(resp && resp->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
        if (resp) grpc__health__v1__health_check_response__free_unpacked(resp, NULL);
        rpccli_result_free(&r);
    }
}

int main(void) {
    snprintf(g_prefix, sizeof g_prefix, "api-%d-", (int)getpid());
    g_pool = h_db_fresh(DB_NAME);

    char err[512];
    store *st = store_new(g_pool, 5000);
    if (store_create_schema(st, err, sizeof err) != STORE_OK) {
        fprintf(stderr, "schema: %s\n", err);
        return 2;
    }
    caller *cl = caller_new(3);
    engine_config cfg = {.retry_interval_s = 1, .retry_interval_max_s = 3600, .request_timeout_s = 3,
                         .timeout_to_fail_s = 35, .workers = 2, .queue_max = 100};
    engine *e = engine_new(st, caller_iface(cl), &cfg);
    svc *v = svc_new(st, e);
    g_http_port = h_free_port();
    g_grpc_port = h_free_port();
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", g_grpc_port);
    snprintf(g_grpc_target, sizeof g_grpc_target, "127.0.0.1:%d", g_grpc_port);
    api_grpc *ag = api_grpc_start(v, listen, 4, err, sizeof err);
    if (!ag) {
        fprintf(stderr, "grpc: %s\n", err);
        return 2;
    }
    snprintf(listen, sizeof listen, "127.0.0.1:%d", g_http_port);
    api_http *ah = api_http_start(v, listen, 8, err, sizeof err);
    if (!ah) {
        fprintf(stderr, "http: %s\n", err);
        return 2;
    }
    g_cli = rpccli_new();

    probes_answer_like_dtm();
    submit_saga_succeeds_with_dtm_rows();
    prepare_then_submit_is_idempotent();
    query_all_and_admin_ops();
    bad_input_is_refused_and_nothing_written();
    grpc_surface();

    rpccli_free(g_cli);
    api_http_stop(ah);
    api_grpc_stop(ag, 1000);
    engine_free(e, 2000);
    svc_free(v);
    caller_free(cl);
    store_free(st);
    httpcli_close_idle();
    db_pool_free(g_pool);
    return h_finish("test_dtm_api");
}
