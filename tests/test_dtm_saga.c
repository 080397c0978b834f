/* test_dtm_saga.c: sagas end to end. A real coordinator process (`dtm` from
 * the build tree, on free ports, with its own store database dtm_test_saga
 * and RetryInterval 1) drives tests/servers/busi, whose call log shows what
 * a branch service observes: which methods were called, in what order, with
 * which DTM metadata / query parameters and payload bytes, and when.
 *
 * The first step drives the branch caller (dtm/caller.c) directly against
 * busi, so the wire format of a branch call is checked even without a
 * coordinator. */
#include <jansson.h>
#include <grpc/status.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "caller.h"
#include "dtmgimp.pb-c.h"
#include "engine.h"
#include "harness.h"
#include "httpcli.h"
#include "rpccli.h"
#include "store.h"
#include "trans.h"

#define TEST_DB "dtm_test_saga"
#define PAYLOAD "{\"amount\":30}"

static int busi_g, busi_h, dtm_g, dtm_h;
static pid_t busi_pid = -1, dtm_pid = -1;
static char run_id[32];

/* ---- HTTP helpers ---- */

/* Sends a request; returns the status (-1 on a transport error) and the body
 * parsed as JSON in *out (may be NULL; caller decrefs). */
static int http_json(const char *method, const char *url, const char *body, json_t **out,
                     char *raw, size_t rawlen) {
    httpcli_resp r;
    char err[256];
    const char *hdr[] = {"Content-Type", "application/json", NULL};
    if (out) *out = NULL;
    size_t len = body ? strlen(body) : 0;
    if (httpcli_request(method, url, hdr, body, len, 15000, &r, err, sizeof err) != 0) {
        fprintf(stderr, "%s %s: %s\n", method, url, err);
        return -1;
    }
    if (out) *out = json_loadb(r.body, r.body_len, 0, NULL);
    if (raw) snprintf(raw, rawlen, "%s", r.body);
    int st = r.status;
    httpcli_resp_free(&r);
    return st;
}

static void busi_control(const char *method, const char *mode, int count) {
    char url[128], body[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/control", busi_h);
    snprintf(body, sizeof body, "{\"method\":\"%s\",\"mode\":\"%s\",\"count\":%d}", method, mode, count);
    CHECK_EQ_INT(http_json("POST", url, body, NULL, NULL, 0), 200);
}

/* Percent-encodes every byte that is not unreserved. */
static void url_encode(const char *s, char *out, size_t len) {
    size_t pos = 0;
    for (; *s && pos + 4 < len; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.')
            out[pos++] = (char)ch;
        else pos += (size_t)snprintf(out + pos, len - pos, "%%%02X", ch);
    }
    out[pos] = '\0';
}

/* busi's log of the calls of one gid (caller decrefs). */
static json_t *busi_calls(const char *gid) {
    char url[512], enc[256];
    url_encode(gid, enc, sizeof enc);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/calls?gid=%s", busi_h, enc);
    json_t *j = NULL;
    CHECK_EQ_INT(http_json("GET", url, NULL, &j, NULL, 0), 200);
    return j ? j : json_array();
}

static const char *call_str(json_t *calls, size_t i, const char *key) {
    const char *s = json_string_value(json_object_get(json_array_get(calls, i), key));
    return s ? s : "(none)";
}

/* "TransOut/01/action TransIn/02/action" */
static const char *call_order(json_t *calls, char *buf, size_t len) {
    size_t pos = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < json_array_size(calls) && pos < len; i++)
        pos += (size_t)snprintf(buf + pos, len - pos, "%s%s/%s/%s", i ? " " : "",
                                call_str(calls, i, "method"), call_str(calls, i, "branch_id"),
                                call_str(calls, i, "op"));
    return buf;
}

/* The coordinator's query output for gid (caller decrefs). */
static json_t *dtm_query(const char *gid) {
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/dtmsvr/query?gid=%s", dtm_h, gid);
    json_t *j = NULL;
    http_json("GET", url, NULL, &j, NULL, 0);
    return j;
}

static const char *trans_field(json_t *q, const char *key) {
    const char *s = json_string_value(json_object_get(json_object_get(q, "transaction"), key));
    return s ? s : "(none)";
}

/* The status of branch (branch_id, op) in a query output. */
static const char *branch_status(json_t *q, const char *bid, const char *op) {
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(q, "branches"), i, b) {
        const char *id = json_string_value(json_object_get(b, "branch_id"));
        const char *o = json_string_value(json_object_get(b, "op"));
        if (id && o && strcmp(id, bid) == 0 && strcmp(o, op) == 0)
            return json_string_value(json_object_get(b, "status"));
    }
    return "(none)";
}

/* Polls query until the transaction's status is `want` or the deadline. */
static int wait_status(const char *gid, const char *want, int timeout_ms) {
    long long deadline = h_now_ms() + timeout_ms;
    for (;;) {
        json_t *q = dtm_query(gid);
        int ok = q && strcmp(trans_field(q, "status"), want) == 0;
        json_decref(q);
        if (ok) return 0;
        if (h_now_ms() >= deadline) return -1;
        h_sleep_ms(100);
    }
}

static void make_gid(char *out, size_t len, const char *name) {
    snprintf(out, len, "%s-%s", name, run_id);
}

/* Submits an HTTP saga of two steps (TransOut, then `second`) to busi over
 * HTTP, with `options` as more fields of the body ("\"request_timeout\":8,",
 * or ""). Returns the HTTP status; *raw gets the body. */
static int submit_http_with(const char *gid, const char *second, int wait, const char *options,
                            char *raw, size_t rawlen) {
    char body[2048], url[128];
    snprintf(body, sizeof body,
             "{\"gid\":\"%s\",\"trans_type\":\"saga\",\"wait_result\":%s,%s"
             "\"branch_headers\":{\"X-Busi-Tag\":\"tag-h\"},"
             "\"steps\":[{\"action\":\"http://127.0.0.1:%d/api/busi/TransOut\","
             "\"compensate\":\"http://127.0.0.1:%d/api/busi/TransOutRevert\"},"
             "{\"action\":\"http://127.0.0.1:%d/api/busi/%s\","
             "\"compensate\":\"http://127.0.0.1:%d/api/busi/TransInRevert\"}],"
             "\"payloads\":[\"{\\\"amount\\\":30}\",\"{\\\"amount\\\":30}\"]}",
             gid, wait ? "true" : "false", options, busi_h, busi_h, busi_h, second, busi_h);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/dtmsvr/submit", dtm_h);
    return http_json("POST", url, body, NULL, raw, rawlen);
}

static int submit_http(const char *gid, const char *second, int wait, char *raw, size_t rawlen) {
    return submit_http_with(gid, second, wait, "", raw, rawlen);
}

/* The same saga submitted over gRPC (protocol grpc: branches over gRPC).
 * Returns the gRPC status; *msg gets its message. */
static int submit_grpc(const char *gid, const char *second, int wait, char *msg, size_t msglen) {
    char steps[1024];
    snprintf(steps, sizeof steps,
             "[{\"action\":\"127.0.0.1:%d/busi.Busi/TransOut\","
             "\"compensate\":\"127.0.0.1:%d/busi.Busi/TransOutRevert\"},"
             "{\"action\":\"127.0.0.1:%d/busi.Busi/%s\","
             "\"compensate\":\"127.0.0.1:%d/busi.Busi/TransInRevert\"}]",
             busi_g, busi_g, busi_g, second, busi_g);
    Dtmgimp__DtmTransOptions__BranchHeadersEntry hdr =
        DTMGIMP__DTM_TRANS_OPTIONS__BRANCH_HEADERS_ENTRY__INIT;
    hdr.key = "x-busi-tag";
    hdr.value = "tag-g";
    Dtmgimp__DtmTransOptions__BranchHeadersEntry *hdrs[] = {&hdr};
    Dtmgimp__DtmTransOptions opts = DTMGIMP__DTM_TRANS_OPTIONS__INIT;
    opts.waitresult = wait;
    opts.n_branchheaders = 1;
    opts.branchheaders = hdrs;
    ProtobufCBinaryData payloads[2] = {{13, (uint8_t *)PAYLOAD}, {13, (uint8_t *)PAYLOAD}};
    Dtmgimp__DtmRequest req = DTMGIMP__DTM_REQUEST__INIT;
    req.gid = (char *)gid;
    req.transtype = "saga";
    req.transoptions = &opts;
    req.steps = steps;
    req.n_binpayloads = 2;
    req.binpayloads = payloads;
    size_t len = dtmgimp__dtm_request__get_packed_size(&req);
    uint8_t *buf = malloc(len ? len : 1);
    dtmgimp__dtm_request__pack(&req, buf);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", dtm_g);
    rpccli *c = rpccli_new();
    rpccli_result res;
    rpccli_call(c, target, "/dtmgimp.Dtm/Submit", NULL, 0, buf, len, 15000, &res);
    snprintf(msg, msglen, "%s", res.message);
    int st = res.status;
    rpccli_result_free(&res);
    rpccli_free(c);
    free(buf);
    return st;
}

/* ---- setup ---- */

static char *conf_path;

static int start_servers(void) {
    busi_g = h_free_port();
    busi_h = h_free_port();
    char gs[16], hs[16];
    snprintf(gs, sizeof gs, "%d", busi_g);
    snprintf(hs, sizeof hs, "%d", busi_h);
    char *bargv[] = {(char *)h_bin("busi"), "-g", gs, "-h", hs, NULL};
    busi_pid = h_spawn(bargv, NULL, "/tmp/cdtm-test-dtm-saga-busi.log");
    if (busi_pid < 0 || h_wait_port(busi_g, 10000) != 0 || h_wait_port(busi_h, 10000) != 0) {
        fprintf(stderr, "busi did not start (see /tmp/cdtm-test-dtm-saga-busi.log)\n");
        return -1;
    }
    return 0;
}

static int start_dtm(void) {
    if (access(h_bin("dtm"), X_OK) != 0) {
        fprintf(stderr, "no %s: the coordinator is not built\n", h_bin("dtm"));
        return -1;
    }
    /* A clean store of our own; `dtm -r` creates its tables. */
    db_pool *root = h_db_pool("");
    h_db_exec(root, "DROP DATABASE IF EXISTS " TEST_DB);
    db_pool_free(root);

    dtm_g = h_free_port();
    dtm_h = h_free_port();
    conf_path = h_write_temp(".yml", h_dtm_yaml(TEST_DB, dtm_h, dtm_g,
                                                 "TimeoutToFail: 35\nRequestTimeout: 2\n"
                                                 "LogLevel: debug\nWorkers: 4\n"));
    char *dargv[] = {(char *)h_bin("dtm"), "-c", conf_path, "-r", NULL};
    dtm_pid = h_spawn(dargv, NULL, "/tmp/cdtm-test-dtm-saga-dtm.log");
    if (dtm_pid < 0 || h_wait_port(dtm_g, 15000) != 0 || h_wait_port(dtm_h, 15000) != 0) {
        fprintf(stderr, "dtm did not start (see /tmp/cdtm-test-dtm-saga-dtm.log)\n");
        return -1;
    }
    return 0;
}

/* ---- the caller alone, against busi ---- */

static dtm_result call_busi(caller *c, trans_global *t, size_t row, char *msg, size_t msglen) {
    branch_caller bc = caller_iface(c);
    return bc.call(bc.ud, t, &t->branches[row], msg, msglen);
}

static void caller_speaks_dtm_wire(void) {
    h_step("caller_speaks_dtm_wire");
    caller *c = caller_new(2);
    char gid[64], msg[1024], buf[1024], a[128], comp[128], fa[128];
    make_gid(gid, sizeof gid, "caller-grpc");
    trans_global *t = trans_new(gid, "saga");
    snprintf(t->protocol, sizeof t->protocol, "grpc");
    snprintf(a, sizeof a, "127.0.0.1:%d/busi.Busi/TransOut", busi_g);
    snprintf(comp, sizeof comp, "127.0.0.1:%d/busi.Busi/TransOutRevert", busi_g);
    snprintf(fa, sizeof fa, "127.0.0.1:%d/busi.Busi/TransInFail", busi_g);
    const char *acts[] = {a, fa}, *comps[] = {comp, comp};
    const uint8_t *pl[] = {(const uint8_t *)PAYLOAD, (const uint8_t *)"\x01\x02"};
    size_t pll[] = {13, 2};
    CHECK(trans_gen_saga_branches(t, 2, acts, comps, pl, pll) == 0);
    t->opts.headers = calloc(1, sizeof *t->opts.headers);
    t->opts.headers[0].key = strdup("X-Busi-Tag"); /* lowercased for gRPC */
    t->opts.headers[0].value = strdup("v1");
    t->opts.n_headers = 1;

    CHECK_EQ_INT(call_busi(c, t, 1, msg, sizeof msg), DTM_SUCCESS);
    CHECK_EQ_INT(call_busi(c, t, 3, msg, sizeof msg), DTM_FAILURE);
    snprintf(buf, sizeof buf, "url:%s return failed: FAILURE FAILURE", fa);
    CHECK_EQ_STR(msg, buf);
    json_t *calls = busi_calls(gid);
    CHECK_EQ_INT(json_array_size(calls), 2);
    CHECK_EQ_STR(call_str(calls, 0, "proto"), "grpc");
    CHECK_EQ_STR(call_str(calls, 0, "method"), "TransOut");
    CHECK_EQ_STR(call_str(calls, 0, "branch_id"), "01");
    CHECK_EQ_STR(call_str(calls, 0, "op"), "action");
    CHECK_EQ_STR(call_str(calls, 0, "trans_type"), "saga");
    CHECK_EQ_STR(call_str(calls, 0, "body"), PAYLOAD);
    CHECK_EQ_STR(call_str(calls, 0, "tag"), "v1");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(calls, 1), "body_len")), 2);
    json_decref(calls);

    /* A branch that is unavailable is an error (retried), not a failure. */
    busi_control("TransOut", "unavailable", 1);
    CHECK_EQ_INT(call_busi(c, t, 1, msg, sizeof msg), DTM_ERROR);
    CHECK(strstr(msg, "busi: unavailable") != NULL);
    busi_control("TransOut", "ongoing", 1);
    CHECK_EQ_INT(call_busi(c, t, 1, msg, sizeof msg), DTM_ONGOING);
    trans_free(t);

    /* HTTP: POST with the payload and DTM's query; GET without payload. */
    make_gid(gid, sizeof gid, "caller http&x");
    t = trans_new(gid, "saga");
    snprintf(t->protocol, sizeof t->protocol, "http");
    snprintf(a, sizeof a, "http://127.0.0.1:%d/api/busi/TransIn?x=1", busi_h);
    snprintf(fa, sizeof fa, "http://127.0.0.1:%d/api/busi/TransInFail", busi_h);
    const char *hacts[] = {a, fa};
    const uint8_t *hpl[] = {(const uint8_t *)PAYLOAD, NULL};
    size_t hpll[] = {13, 0};
    CHECK(trans_gen_saga_branches(t, 2, hacts, comps, hpl, hpll) == 0);
    CHECK_EQ_INT(call_busi(c, t, 1, msg, sizeof msg), DTM_SUCCESS);
    CHECK_EQ_INT(call_busi(c, t, 3, msg, sizeof msg), DTM_FAILURE);
    snprintf(buf, sizeof buf, "url:%s return failed: {\"dtm_result\":\"FAILURE\"} FAILURE", fa);
    CHECK_EQ_STR(msg, buf);
    calls = busi_calls(gid);
    CHECK_EQ_INT(json_array_size(calls), 2);
    CHECK_EQ_STR(call_str(calls, 0, "proto"), "http");
    CHECK_EQ_STR(call_str(calls, 0, "gid"), gid); /* URL-encoded and decoded back */
    CHECK_EQ_STR(call_str(calls, 0, "branch_id"), "01");
    CHECK_EQ_STR(call_str(calls, 0, "op"), "action");
    CHECK_EQ_STR(call_str(calls, 0, "body"), PAYLOAD);
    CHECK_EQ_STR(call_str(calls, 0, "verb"), "POST");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(calls, 1), "body_len")), 0);
    CHECK_EQ_STR(call_str(calls, 1, "verb"), "GET"); /* no payload: GET, as DTM */
    json_decref(calls);
    busi_control("TransIn", "unavailable", 1);
    CHECK_EQ_INT(call_busi(c, t, 1, msg, sizeof msg), DTM_ERROR);

    /* URLs cdtm cannot call. */
    free(t->branches[1].url);
    t->branches[1].url = strdup("https://127.0.0.1:1/x");
    CHECK_EQ_INT(call_busi(c, t, 1, msg, sizeof msg), DTM_ERROR);
    CHECK(strstr(msg, "https is not supported") != NULL);
    snprintf(t->protocol, sizeof t->protocol, "grpc");
    free(t->branches[1].url);
    t->branches[1].url = strdup("consul://127.0.0.1:8500/busi/TransIn");
    CHECK_EQ_INT(call_busi(c, t, 1, msg, sizeof msg), DTM_ERROR);
    CHECK(strstr(msg, "unsupported URL scheme") != NULL);
    free(t->branches[1].url);
    t->branches[1].url = strdup("");
    CHECK_EQ_INT(call_busi(c, t, 1, msg, sizeof msg), DTM_SUCCESS);
    trans_free(t);
    caller_free(c);
}

/* ---- the coordinator ---- */

static void saga_succeeds_over_grpc(void) {
    h_step("saga_succeeds_over_grpc");
    char gid[64], msg[1024], buf[1024];
    make_gid(gid, sizeof gid, "grpc-ok");
    CHECK_EQ_INT(submit_grpc(gid, "TransIn", 1, msg, sizeof msg), GRPC_STATUS_OK);
    json_t *calls = busi_calls(gid);
    CHECK_EQ_STR(call_order(calls, buf, sizeof buf), "TransOut/01/action TransIn/02/action");
    for (size_t i = 0; i < json_array_size(calls); i++) {
        CHECK_EQ_STR(call_str(calls, i, "proto"), "grpc");
        CHECK_EQ_STR(call_str(calls, i, "trans_type"), "saga");
        CHECK_EQ_STR(call_str(calls, i, "body"), PAYLOAD);
        CHECK_EQ_STR(call_str(calls, i, "tag"), "tag-g");
    }
    json_decref(calls);
    json_t *q = dtm_query(gid);
    CHECK_EQ_STR(trans_field(q, "status"), "succeed");
    CHECK_EQ_STR(trans_field(q, "protocol"), "grpc");
    CHECK_EQ_STR(branch_status(q, "01", "action"), "succeed");
    CHECK_EQ_STR(branch_status(q, "02", "action"), "succeed");
    CHECK_EQ_STR(branch_status(q, "01", "compensate"), "prepared");
    CHECK_EQ_STR(branch_status(q, "02", "compensate"), "prepared");
    json_decref(q);
}

static void saga_succeeds_over_http(void) {
    h_step("saga_succeeds_over_http");
    char gid[64], raw[2048], buf[1024];
    make_gid(gid, sizeof gid, "http-ok");
    CHECK_EQ_INT(submit_http(gid, "TransIn", 1, raw, sizeof raw), 200);
    CHECK(strstr(raw, "SUCCESS") != NULL);
    json_t *calls = busi_calls(gid);
    CHECK_EQ_STR(call_order(calls, buf, sizeof buf), "TransOut/01/action TransIn/02/action");
    for (size_t i = 0; i < json_array_size(calls); i++) {
        CHECK_EQ_STR(call_str(calls, i, "proto"), "http");
        CHECK_EQ_STR(call_str(calls, i, "gid"), gid);
        CHECK_EQ_STR(call_str(calls, i, "trans_type"), "saga");
        CHECK_EQ_STR(call_str(calls, i, "body"), PAYLOAD);
        CHECK_EQ_STR(call_str(calls, i, "tag"), "tag-h");
    }
    json_decref(calls);
    json_t *q = dtm_query(gid);
    CHECK_EQ_STR(trans_field(q, "status"), "succeed");
    CHECK_EQ_STR(trans_field(q, "protocol"), "http");
    CHECK_EQ_STR(branch_status(q, "02", "compensate"), "prepared");
    json_decref(q);
}

static void saga_compensates_in_reverse(void) {
    h_step("saga_compensates_in_reverse (HTTP, WaitResult)");
    char gid[64], raw[2048], buf[1024], want[512];
    make_gid(gid, sizeof gid, "http-fail");
    /* WaitResult: 409 FAILURE carrying the rollback reason (DTM PR #322). */
    CHECK_EQ_INT(submit_http(gid, "TransInFail", 1, raw, sizeof raw), 409);
    snprintf(want, sizeof want,
             "url:http://127.0.0.1:%d/api/busi/TransInFail return failed: "
             "{\"dtm_result\":\"FAILURE\"} FAILURE",
             busi_h);
    json_t *r = json_loads(raw, 0, NULL);
    CHECK_EQ_STR(json_string_value(json_object_get(r, "dtm_result")), "FAILURE");
    const char *m = json_string_value(json_object_get(r, "message"));
    CHECK(m && strstr(m, want) != NULL);
    json_decref(r);
    json_t *calls = busi_calls(gid);
    CHECK_EQ_STR(call_order(calls, buf, sizeof buf),
                 "TransOut/01/action TransInFail/02/action TransInRevert/02/compensate "
                 "TransOutRevert/01/compensate");
    json_decref(calls);
    json_t *q = dtm_query(gid);
    CHECK_EQ_STR(trans_field(q, "status"), "failed");
    CHECK_EQ_STR(trans_field(q, "rollback_reason"), want);
    CHECK_EQ_STR(branch_status(q, "01", "action"), "succeed");
    CHECK_EQ_STR(branch_status(q, "02", "action"), "failed");
    CHECK_EQ_STR(branch_status(q, "02", "compensate"), "succeed");
    CHECK_EQ_STR(branch_status(q, "01", "compensate"), "succeed");
    json_decref(q);

    h_step("saga_compensates_in_reverse (gRPC, WaitResult)");
    char msg[1024];
    make_gid(gid, sizeof gid, "grpc-fail");
    CHECK_EQ_INT(submit_grpc(gid, "TransInFail", 1, msg, sizeof msg), GRPC_STATUS_ABORTED);
    snprintf(want, sizeof want, "url:127.0.0.1:%d/busi.Busi/TransInFail return failed: FAILURE FAILURE",
             busi_g);
    CHECK(strstr(msg, want) != NULL);
    calls = busi_calls(gid);
    CHECK_EQ_STR(call_order(calls, buf, sizeof buf),
                 "TransOut/01/action TransInFail/02/action TransInRevert/02/compensate "
                 "TransOutRevert/01/compensate");
    json_decref(calls);
    q = dtm_query(gid);
    CHECK_EQ_STR(trans_field(q, "status"), "failed");
    json_decref(q);
}

static void saga_retries_with_backoff(void) {
    h_step("saga_retries_with_backoff");
    char gid[64], raw[2048];
    make_gid(gid, sizeof gid, "backoff");
    busi_control("TransIn", "unavailable", 3);
    long long t0 = h_now_ms();
    /* WaitResult false: the answer comes at once; the saga goes on. */
    CHECK_EQ_INT(submit_http(gid, "TransIn", 0, raw, sizeof raw), 200);
    CHECK(h_now_ms() - t0 < 1500);
    CHECK_EQ_INT(wait_status(gid, "succeed", 45000), 0);
    json_t *calls = busi_calls(gid);
    long long ts[8];
    size_t n = 0, i;
    json_t *c;
    json_array_foreach(calls, i, c) {
        if (strcmp(call_str(calls, i, "method"), "TransIn") == 0 && n < 8)
            ts[n++] = json_integer_value(json_object_get(c, "ts_ms"));
    }
    CHECK_EQ_INT(n, 4); /* three errors, then success */
    if (n == 4) {
        long long g1 = ts[1] - ts[0], g2 = ts[2] - ts[1], g3 = ts[3] - ts[2];
        printf("   retry gaps: %lld ms, %lld ms, %lld ms\n", g1, g2, g3);
        /* Interval 1 s doubled: about 2, 4, 8 s (plus the cron's tick). */
        CHECK(g1 >= 1500);
        CHECK(g2 > g1);
        CHECK(g3 > g2);
    }
    CHECK_EQ_INT(json_array_size(calls), 5); /* TransOut once */
    json_decref(calls);
    json_t *q = dtm_query(gid);
    CHECK_EQ_STR(branch_status(q, "01", "action"), "succeed");
    CHECK_EQ_STR(branch_status(q, "02", "action"), "succeed");
    /* Back to the base interval once it succeeded. */
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(q, "transaction"),
                                                    "next_cron_interval")), 1);
    json_decref(q);
}

static void saga_wait_result_false_runs_in_background(void) {
    h_step("saga_wait_result_false_runs_in_background");
    char gid[64], msg[1024];
    make_gid(gid, sizeof gid, "bg");
    /* The first action hangs longer than RequestTimeout: the submit does not
     * wait for it, and the saga finishes later on its own. */
    busi_control("TransOut", "hang", 1);
    long long t0 = h_now_ms();
    CHECK_EQ_INT(submit_grpc(gid, "TransIn", 0, msg, sizeof msg), GRPC_STATUS_OK);
    CHECK(h_now_ms() - t0 < 1500);
    json_t *q = dtm_query(gid);
    CHECK_EQ_STR(trans_field(q, "status"), "submitted");
    json_decref(q);
    CHECK_EQ_INT(wait_status(gid, "succeed", 30000), 0);
    json_t *calls = busi_calls(gid);
    CHECK(json_array_size(calls) >= 3); /* TransOut (hung), TransOut again, TransIn */
    json_decref(calls);

    /* WaitResult true on a saga that cannot finish in its first round still
     * answers at once with FAILURE (DTM), and finishes later. */
    make_gid(gid, sizeof gid, "wait-retry");
    busi_control("TransIn", "unavailable", 1);
    char raw[2048];
    CHECK_EQ_INT(submit_http(gid, "TransIn", 1, raw, sizeof raw), 409);
    CHECK(strstr(raw, "busi: unavailable") != NULL);
    CHECK_EQ_INT(wait_status(gid, "succeed", 20000), 0);
}

/* The calls busi received for gid of `method`. */
static int calls_of(const char *gid, const char *method) {
    json_t *calls = busi_calls(gid), *c;
    size_t i;
    int n = 0;
    json_array_foreach(calls, i, c) n += strcmp(call_str(calls, i, "method"), method) == 0;
    json_decref(calls);
    return n;
}

/* A saga's own RequestTimeout (8 s) is longer than the coordinator's (2 s)
 * and than its retry interval (1 s), and one of its actions hangs for 5 s
 * before it succeeds: the round waits for it, and no cron may start a second
 * round of the same saga meanwhile. DTM's would: its next_cron_time is only
 * RetryInterval ahead. */
static void saga_long_request_timeout_is_not_run_twice(void) {
    h_step("saga_long_request_timeout_is_not_run_twice: in the round of the submit");
    char gid[64], raw[2048];
    make_gid(gid, sizeof gid, "longrt");
    busi_control("TransOut", "hang", 1);
    CHECK_EQ_INT(submit_http_with(gid, "TransIn", 0, "\"request_timeout\":8,", raw, sizeof raw),
                 200);
    CHECK_EQ_INT(wait_status(gid, "succeed", 30000), 0);
    CHECK_EQ_INT(calls_of(gid, "TransOut"), 1);
    CHECK_EQ_INT(calls_of(gid, "TransIn"), 1);

    /* The first round fails at once (TransOut unavailable); the cron claims
     * the saga for the lease of a transaction without options (4 s here),
     * and its round hangs 5 s in TransIn. This coordinator's cron runs that
     * round itself, so only another coordinator could claim the saga again:
     * what keeps it off is next_cron_time, which must be the saga's own
     * lease (8 + 2 s) ahead while the round runs. */
    h_step("saga_long_request_timeout_is_not_run_twice: in a round of the cron");
    make_gid(gid, sizeof gid, "longrt-cron");
    busi_control("TransOut", "unavailable", 1);
    busi_control("TransIn", "hang", 1);
    CHECK_EQ_INT(submit_http_with(gid, "TransIn", 0, "\"request_timeout\":8,", raw, sizeof raw),
                 200);
    long long deadline = h_now_ms() + 15000;
    while (calls_of(gid, "TransIn") == 0 && h_now_ms() < deadline) h_sleep_ms(50);
    CHECK_EQ_INT(calls_of(gid, "TransIn"), 1); /* the cron's round is in TransIn */
    db_pool *pool = h_db_pool(TEST_DB);
    int64_t ahead = h_db_int(pool, -999,
                             "SELECT TIMESTAMPDIFF(SECOND, NOW(), next_cron_time) FROM trans_global "
                             "WHERE gid='%s'", gid);
    db_pool_free(pool);
    if (ahead <= 5) fprintf(stderr, "  next_cron_time is %lld s ahead\n", (long long)ahead);
    CHECK(ahead > 5);
    CHECK_EQ_INT(wait_status(gid, "succeed", 30000), 0);
    CHECK_EQ_INT(calls_of(gid, "TransOut"), 2); /* unavailable, then the cron's */
    CHECK_EQ_INT(calls_of(gid, "TransIn"), 1);
}

/* ---- the engine in-process, on the same store, with a fake caller ---- */

typedef struct {
    db_pool *root;          /* to look at the store from outside */
    int comp_calls;
    int aborting_seen;      /* compensations that saw "aborting" already stored */
    int started;            /* action calls begun */
    int delay_ms;
} engine_fake;

static dtm_result engine_fake_call(void *ud, const trans_global *t, const trans_branch *b, char *msg,
                                   size_t msglen) {
    engine_fake *f = ud;
    if (strcmp(b->op, OP_COMPENSATE) == 0) {
        f->comp_calls++;
        f->aborting_seen += (int)h_db_int(f->root, -1,
                                          "SELECT status='aborting' FROM " TEST_DB
                                          ".trans_global WHERE gid='%s'", t->gid);
        return DTM_SUCCESS;
    }
    __atomic_add_fetch(&f->started, 1, __ATOMIC_SEQ_CST);
    if (f->delay_ms) h_sleep_ms(f->delay_ms);
    if (strstr(b->url, "Fail")) {
        snprintf(msg, msglen, "url:%s return failed: FAILURE FAILURE", b->url);
        return DTM_FAILURE;
    }
    return DTM_SUCCESS;
}

/* A submitted 2-step saga saved in the store (the caller owns it). */
static trans_global *engine_saga(store *st, const char *gid, const char *second) {
    trans_global *t = trans_new(gid, "saga");
    snprintf(t->status, sizeof t->status, "%s", TS_SUBMITTED);
    snprintf(t->protocol, sizeof t->protocol, "grpc");
    const char *acts[] = {"h:1/busi.Busi/TransOut", second};
    const char *comps[] = {"h:1/busi.Busi/TransOutRevert", "h:1/busi.Busi/TransInRevert"};
    CHECK(trans_gen_saga_branches(t, 2, acts, comps, NULL, NULL) == 0);
    /* Not due for a minute: the coordinator running next to this test
     * must not pick these up with its cron. */
    t->next_cron_interval = 60;
    char err[512];
    CHECK_EQ_INT(store_save_new(st, t, 0, err, sizeof err), STORE_OK);
    return t;
}

static const char *db_status(db_pool *root, const char *gid, char *buf, size_t len) {
    int64_t v = h_db_int(root, -1,
                         "SELECT CASE status WHEN 'succeed' THEN 1 WHEN 'failed' THEN 2 "
                         "WHEN 'submitted' THEN 3 WHEN 'aborting' THEN 4 ELSE 0 END FROM " TEST_DB
                         ".trans_global WHERE gid='%s'", gid);
    const char *names[] = {"other", "succeed", "failed", "submitted", "aborting"};
    snprintf(buf, len, "%s", v >= 0 && v <= 4 ? names[v] : "missing");
    return buf;
}

static void engine_stores_aborting_before_compensating(void) {
    h_step("engine_stores_aborting_before_compensating");
    db_pool *pool = h_db_pool(TEST_DB);
    store *st = store_new(pool, 5000);
    engine_fake f = {.root = pool};
    engine_config cfg = {.retry_interval_s = 1, .retry_interval_max_s = 3600, .request_timeout_s = 2,
                         .timeout_to_fail_s = 35, .workers = 1, .queue_max = 1};
    engine *e = engine_new(st, (branch_caller){engine_fake_call, &f}, &cfg);
    char gid[64], msg[1024], buf[32];
    make_gid(gid, sizeof gid, "eng-abort");
    trans_global *t = engine_saga(st, gid, "h:1/busi.Busi/TransInFail");
    CHECK_EQ_INT(engine_process(e, t, 1, msg, sizeof msg), DTM_FAILURE);
    CHECK_EQ_STR(msg, "url:h:1/busi.Busi/TransInFail return failed: FAILURE FAILURE");
    CHECK_EQ_INT(f.comp_calls, 2);
    CHECK_EQ_INT(f.aborting_seen, 2); /* the crash-safety rule */
    CHECK_EQ_STR(db_status(pool, gid, buf, sizeof buf), "failed");

    /* A full background queue leaves the work to the cron: still SUCCESS,
     * and the transaction stays stored as submitted. */
    h_step("engine_queue_full_leaves_it_to_the_cron");
    f.delay_ms = 400;
    char g1[64], g2[64], g3[64];
    make_gid(g1, sizeof g1, "eng-q1");
    make_gid(g2, sizeof g2, "eng-q2");
    make_gid(g3, sizeof g3, "eng-q3");
    /* The step above already began action calls: wait for g1's own first
     * one, i.e. for the worker to have taken g1 off the queue. */
    int begun = __atomic_load_n(&f.started, __ATOMIC_SEQ_CST);
    CHECK_EQ_INT(engine_process(e, engine_saga(st, g1, "h:1/busi.Busi/TransIn"), 0, msg, sizeof msg),
                 DTM_SUCCESS);
    long long deadline = h_now_ms() + 5000;
    while (__atomic_load_n(&f.started, __ATOMIC_SEQ_CST) <= begun && h_now_ms() < deadline)
        h_sleep_ms(10);
    CHECK(__atomic_load_n(&f.started, __ATOMIC_SEQ_CST) > begun);
    CHECK_EQ_INT(engine_process(e, engine_saga(st, g2, "h:1/busi.Busi/TransIn"), 0, msg, sizeof msg),
                 DTM_SUCCESS); /* queued */
    CHECK_EQ_INT(engine_process(e, engine_saga(st, g3, "h:1/busi.Busi/TransIn"), 0, msg, sizeof msg),
                 DTM_SUCCESS); /* queue full */
    engine_free(e, 10000);     /* lets the queued work finish */
    CHECK_EQ_STR(db_status(pool, g1, buf, sizeof buf), "succeed");
    CHECK_EQ_STR(db_status(pool, g2, buf, sizeof buf), "succeed");
    CHECK_EQ_STR(db_status(pool, g3, buf, sizeof buf), "submitted");
    store_free(st);
    db_pool_free(pool);
}

int main(void) {
    snprintf(run_id, sizeof run_id, "%ld-%d", (long)time(NULL), (int)getpid());
    if (start_servers() != 0) {
        h_failures++;
        h_stop(busi_pid, SIGTERM, 3000);
        return h_finish("test_dtm_saga");
    }
    caller_speaks_dtm_wire();
    if (start_dtm() == 0) {
        saga_succeeds_over_grpc();
        saga_succeeds_over_http();
        saga_compensates_in_reverse();
        saga_retries_with_backoff();
        saga_wait_result_false_runs_in_background();
        saga_long_request_timeout_is_not_run_twice();
        engine_stores_aborting_before_compensating();
    } else {
        h_failures++;
    }
    if (dtm_pid > 0) CHECK_EQ_INT(h_stop(dtm_pid, SIGTERM, 10000), 0);
    h_stop(busi_pid, SIGTERM, 5000);
    if (conf_path) {
        unlink(conf_path);
        free(conf_path);
    }
    httpcli_close_idle();
    return h_finish("test_dtm_saga");
}
