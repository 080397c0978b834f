/* test_parse.c: what the coordinator accepts and refuses (parse.h), for the
 * HTTP trans JSON and the gRPC DtmRequest alike. Pure: no database, no
 * network. Every refusal must name the field, return a client-error code
 * and hand back no transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtmgimp.pb-c.h"
#include "harness.h"
#include "parse.h"

/* ---- helpers ---- */

static trans_global *good_json(const char *body, int need_steps) {
    char err[1024] = "";
    trans_global *t = NULL;
    svc_rc rc = parse_trans_json(body, strlen(body), need_steps, &t, err, sizeof err);
    if (rc != SVC_OK || !t) {
        fprintf(stderr, "unexpected refusal (%d): %s\n  body: %.200s\n", rc, err, body);
        h_failures++;
        trans_free(t);
        return NULL;
    }
    return t;
}

/* Expects a refusal with `want_rc` and a message containing `want`. */
static void bad_json_len(const char *body, size_t len, svc_rc want_rc, const char *want) {
    char err[1024] = "";
    trans_global *t = (trans_global *)1;
    svc_rc rc = parse_trans_json(body, len, 1, &t, err, sizeof err);
    if (rc != want_rc || t != NULL || !strstr(err, want)) {
        fprintf(stderr, "bad_json: want rc %d with \"%s\", got rc %d \"%s\" (t %s)\n  body: %.160s\n",
                want_rc, want, rc, err, t ? "set" : "NULL", body);
        h_failures++;
        if (t && t != (trans_global *)1) trans_free(t);
    }
}

static void bad_json(const char *body, svc_rc want_rc, const char *want) {
    bad_json_len(body, strlen(body), want_rc, want);
}

/* Packs a DtmRequest. `steps` may be NULL; payloads are NUL-free strings
 * unless bin is given. */
static uint8_t *pack_req(const char *gid, const char *type, const char *steps, size_t npay,
                         ProtobufCBinaryData *pays, Dtmgimp__DtmTransOptions *opts,
                         const char *custom, size_t *len) {
    Dtmgimp__DtmRequest r = DTMGIMP__DTM_REQUEST__INIT;
    r.gid = (char *)gid;
    r.transtype = (char *)type;
    if (steps) r.steps = (char *)steps;
    r.n_binpayloads = npay;
    r.binpayloads = pays;
    r.transoptions = opts;
    if (custom) r.customeddata = (char *)custom;
    *len = dtmgimp__dtm_request__get_packed_size(&r);
    uint8_t *buf = malloc(*len + 1);
    dtmgimp__dtm_request__pack(&r, buf);
    return buf;
}

static void bad_proto(const uint8_t *buf, size_t len, svc_rc want_rc, const char *want) {
    char err[1024] = "";
    trans_global *t = (trans_global *)1;
    svc_rc rc = parse_trans_proto(buf, len, 1, &t, err, sizeof err);
    if (rc != want_rc || t != NULL || !strstr(err, want)) {
        fprintf(stderr, "bad_proto: want rc %d with \"%s\", got rc %d \"%s\"\n", want_rc, want, rc,
                err);
        h_failures++;
        if (t && t != (trans_global *)1) trans_free(t);
    }
}

static char *repeat(char c, size_t n) {
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

#define SAGA2 "\"steps\":[{\"action\":\"http://a/TransOut\",\"compensate\":\"http://a/TransOutRevert\"}," \
              "{\"action\":\"http://a/TransIn\",\"compensate\":\"http://a/TransInRevert\"}]"

/* ---- good input ---- */

static void json_saga_builds_dtm_branch_rows(void) {
    h_step("json_saga_builds_dtm_branch_rows");
    trans_global *t = good_json("{\"gid\":\"g1\",\"trans_type\":\"saga\"," SAGA2
                                ",\"payloads\":[\"{\\\"amount\\\":30}\",\"p2\"]}", 1);
    if (!t) return;
    CHECK_EQ_STR(t->gid, "g1");
    CHECK_EQ_STR(t->trans_type, "saga");
    CHECK_EQ_STR(t->protocol, "http"); /* DTM's default */
    CHECK_EQ_INT(t->n_branches, 4);
    CHECK_EQ_INT(t->n_steps, 2);
    /* compensate first, then action, per step */
    const char *ops[] = {"compensate", "action", "compensate", "action"};
    const char *ids[] = {"01", "01", "02", "02"};
    const char *urls[] = {"http://a/TransOutRevert", "http://a/TransOut", "http://a/TransInRevert",
                          "http://a/TransIn"};
    for (size_t i = 0; i < 4 && i < t->n_branches; i++) {
        CHECK_EQ_STR(t->branches[i].op, ops[i]);
        CHECK_EQ_STR(t->branches[i].branch_id, ids[i]);
        CHECK_EQ_STR(t->branches[i].url, urls[i]);
        CHECK_EQ_STR(t->branches[i].status, "prepared");
    }
    CHECK_EQ_INT(t->branches[0].data_len, 13);
    CHECK(memcmp(t->branches[1].data, "{\"amount\":30}", 13) == 0);
    CHECK_EQ_INT(t->branches[3].data_len, 2);
    CHECK_EQ_INT(t->opts.concurrent, 0);
    CHECK_EQ_INT(t->opts.wait_result, 0);
    trans_free(t);
}

static void json_step_data_is_a_payload(void) {
    h_step("json_step_data_is_a_payload");
    /* DTM's setupPayloads: a step's non-empty "data" is its payload; an
     * empty URL is allowed (nothing to call). */
    trans_global *t = good_json("{\"gid\":\"g2\",\"trans_type\":\"saga\",\"steps\":["
                                "{\"action\":\"\",\"compensate\":\"\",\"data\":\"d1\"},"
                                "{\"action\":\"x:1/p.S/M\",\"compensate\":\"\",\"data\":\"d2\"}]}", 1);
    if (!t) return;
    CHECK_EQ_INT(t->n_branches, 4);
    if (t->n_branches == 4) {
        CHECK_EQ_STR(t->branches[1].url, "");
        CHECK(t->branches[1].data_len == 2 && memcmp(t->branches[1].data, "d1", 2) == 0);
        CHECK(t->branches[3].data_len == 2 && memcmp(t->branches[3].data, "d2", 2) == 0);
        CHECK_EQ_STR(t->branches[3].url, "x:1/p.S/M");
    }
    trans_free(t);
    /* a payload may hold NUL (\u0000), kept byte for byte */
    t = good_json("{\"gid\":\"g2b\",\"trans_type\":\"saga\",\"steps\":[{\"action\":\"\","
                  "\"compensate\":\"\"}],\"payloads\":[\"a\\u0000b\"]}", 1);
    if (t) {
        CHECK(t->branches[0].data_len == 3 && memcmp(t->branches[0].data, "a\0b", 3) == 0);
        trans_free(t);
    }
}

static void json_options_and_custom_orders(void) {
    h_step("json_options_and_custom_orders");
    trans_global *t = good_json(
        "{\"gid\":\"g3\",\"trans_type\":\"saga\"," SAGA2 ",\"payloads\":[\"a\",\"b\"],"
        "\"wait_result\":true,\"timeout_to_fail\":30,\"request_timeout\":5,\"retry_interval\":2,"
        "\"retry_limit\":3,\"branch_headers\":{\"Authorization\":\"Bearer x\",\"x-k\":\"v\"},"
        "\"req_extra\":{\"k\":\"v\"},\"rollback_reason\":\"why\",\"query_prepared\":\"\","
        "\"custom_data\":\"{\\\"concurrent\\\":true,\\\"orders\\\":{\\\"1\\\":[0]}}\","
        "\"unknown_key\":[1,2,3]}", 1);
    if (!t) return;
    CHECK_EQ_INT(t->opts.wait_result, 1);
    CHECK_EQ_INT(t->opts.timeout_to_fail, 30);
    CHECK_EQ_INT(t->opts.request_timeout, 5);
    CHECK_EQ_INT(t->opts.retry_interval, 2);
    CHECK_EQ_INT(t->opts.retry_limit, 3);
    CHECK_EQ_INT(t->opts.n_headers, 2);
    int found = 0;
    for (size_t i = 0; i < t->opts.n_headers; i++)
        if (strcmp(t->opts.headers[i].key, "Authorization") == 0 &&
            strcmp(t->opts.headers[i].value, "Bearer x") == 0)
            found = 1;
    CHECK(found);
    CHECK_EQ_STR(t->req_extra, "{\"k\":\"v\"}");
    CHECK_EQ_STR(t->rollback_reason, "why");
    CHECK_EQ_INT(t->opts.concurrent, 1);
    CHECK(t->orders && t->n_orders && t->n_orders[1] == 1 && t->orders[1][0] == 0);
    CHECK(t->n_orders && t->n_orders[0] == 0);
    trans_free(t);

    /* abort needs gid and trans_type only */
    t = good_json("{\"gid\":\"g4\",\"trans_type\":\"saga\"}", 0);
    if (t) {
        CHECK_EQ_INT(t->n_branches, 0);
        trans_free(t);
    }
    /* an empty saga is valid (DTM: it succeeds at once) */
    t = good_json("{\"gid\":\"g5\",\"trans_type\":\"saga\",\"steps\":[]}", 1);
    if (t) {
        CHECK_EQ_INT(t->n_branches, 0);
        trans_free(t);
    }
}

static void proto_saga_keeps_binary_payloads(void) {
    h_step("proto_saga_keeps_binary_payloads");
    uint8_t p1[] = {0x0a, 0x00, 0xff, 0x10}, p2[] = {0x08, 0x01};
    ProtobufCBinaryData pays[2] = {{sizeof p1, p1}, {sizeof p2, p2}};
    Dtmgimp__DtmTransOptions o = DTMGIMP__DTM_TRANS_OPTIONS__INIT;
    o.waitresult = 1;
    o.retryinterval = 1;
    o.requesttimeout = 4;
    Dtmgimp__DtmTransOptions__BranchHeadersEntry h = DTMGIMP__DTM_TRANS_OPTIONS__BRANCH_HEADERS_ENTRY__INIT;
    h.key = "authorization";
    h.value = "t";
    Dtmgimp__DtmTransOptions__BranchHeadersEntry *hp[] = {&h};
    o.n_branchheaders = 1;
    o.branchheaders = hp;
    size_t len;
    uint8_t *buf = pack_req("pg1", "saga",
                            "[{\"action\":\"127.0.0.1:9001/pb.order/create\","
                            "\"compensate\":\"127.0.0.1:9001/pb.order/createRevert\"},"
                            "{\"action\":\"127.0.0.1:9002/pb.stock/deduct\","
                            "\"compensate\":\"127.0.0.1:9002/pb.stock/deductRevert\",\"data\":\"ignored\"}]",
                            2, pays, &o, "", &len);
    char err[512] = "";
    trans_global *t = NULL;
    svc_rc rc = parse_trans_proto(buf, len, 1, &t, err, sizeof err);
    free(buf);
    CHECK_EQ_INT(rc, SVC_OK);
    if (!t) {
        fprintf(stderr, "refused: %s\n", err);
        return;
    }
    CHECK_EQ_STR(t->protocol, "grpc");
    CHECK_EQ_STR(t->gid, "pg1");
    CHECK_EQ_INT(t->n_branches, 4);
    CHECK_EQ_INT(t->opts.wait_result, 1);
    CHECK_EQ_INT(t->opts.retry_interval, 1);
    CHECK_EQ_INT(t->opts.request_timeout, 4);
    CHECK(t->opts.n_headers == 1 && strcmp(t->opts.headers[0].value, "t") == 0);
    if (t->n_branches == 4) {
        CHECK_EQ_STR(t->branches[0].url, "127.0.0.1:9001/pb.order/createRevert");
        CHECK_EQ_STR(t->branches[3].url, "127.0.0.1:9002/pb.stock/deduct");
        CHECK(t->branches[1].data_len == 4 && memcmp(t->branches[1].data, p1, 4) == 0);
        CHECK(t->branches[3].data_len == 2 && memcmp(t->branches[3].data, p2, 2) == 0);
    }
    trans_free(t);
}

/* ---- bad input: JSON ---- */

static void json_refusals_name_the_field(void) {
    h_step("json_refusals_name_the_field");
    bad_json("{\"gid\":", SVC_BAD_REQUEST, "malformed JSON");
    bad_json("", SVC_BAD_REQUEST, "malformed JSON");
    bad_json("[1,2]", SVC_BAD_REQUEST, "must be a JSON object");
    bad_json("{\"trans_type\":\"saga\"," SAGA2 ",\"payloads\":[\"a\",\"b\"]}", SVC_BAD_REQUEST,
             "gid: missing or empty");
    bad_json("{\"gid\":\"\",\"trans_type\":\"saga\"," SAGA2 ",\"payloads\":[\"a\",\"b\"]}",
             SVC_BAD_REQUEST, "gid: missing or empty");
    bad_json("{\"gid\":5,\"trans_type\":\"saga\"}", SVC_BAD_REQUEST, "gid: must be a string");
    bad_json("{\"gid\":\"a b\",\"trans_type\":\"saga\",\"steps\":[]}", SVC_BAD_REQUEST, "gid: must be printable");
    char *g129 = repeat('g', 129), body[4096];
    snprintf(body, sizeof body, "{\"gid\":\"%s\",\"trans_type\":\"saga\",\"steps\":[]}", g129);
    bad_json(body, SVC_BAD_REQUEST, "gid: 129 bytes, at most 128");
    free(g129);
    bad_json("{\"gid\":\"g\",\"trans_type\":\"bogus\",\"steps\":[]}", SVC_BAD_REQUEST,
             "trans_type: unknown trans_type 'bogus'");
    bad_json("{\"gid\":\"g\",\"steps\":[]}", SVC_BAD_REQUEST, "trans_type: missing");
    bad_json("{\"gid\":\"g\",\"trans_type\":\"msg\",\"steps\":[]}", SVC_UNSUPPORTED,
             "trans_type 'msg' is not supported by cdtm yet");
    bad_json("{\"gid\":\"g\",\"trans_type\":\"tcc\"}", SVC_UNSUPPORTED, "'tcc' is not supported");
    bad_json("{\"gid\":\"g\",\"trans_type\":\"saga\",\"protocol\":\"ftp\",\"steps\":[]}",
             SVC_BAD_REQUEST, "protocol: must be");
    bad_json("{\"gid\":\"g\",\"trans_type\":\"saga\"}", SVC_BAD_REQUEST, "steps: missing");
    bad_json("{\"gid\":\"g\",\"trans_type\":\"saga\",\"steps\":{\"action\":\"\"}}", SVC_BAD_REQUEST,
             "steps: must be an array of objects");
    bad_json("{\"gid\":\"g\",\"trans_type\":\"saga\",\"steps\":[1]}", SVC_BAD_REQUEST,
             "steps: must be an array of objects");
    bad_json("{\"gid\":\"g\",\"trans_type\":\"saga\",\"steps\":[{\"action\":\"\",\"compensate\":3}],"
             "\"payloads\":[\"\"]}", SVC_BAD_REQUEST, "steps[0].compensate: must be a string");
    bad_json("{\"gid\":\"g\",\"trans_type\":\"saga\",\"steps\":[{\"action\":\"http://a\"}],"
             "\"payloads\":[\"x\"]}", SVC_BAD_REQUEST, "steps[0]: missing \"compensate\"");
    bad_json("{\"gid\":\"g\",\"trans_type\":\"saga\"," SAGA2 ",\"payloads\":[\"a\"]}",
             SVC_BAD_REQUEST, "payloads: 1 payload(s) for 2 step(s)");
    bad_json("{\"gid\":\"g\",\"trans_type\":\"saga\"," SAGA2 "}", SVC_BAD_REQUEST,
             "payloads: 0 payload(s) for 2 step(s)");
    bad_json("{\"gid\":\"g\",\"trans_type\":\"saga\"," SAGA2 ",\"payloads\":[\"a\",2]}",
             SVC_BAD_REQUEST, "payloads[1]: must be a string");
    bad_json("{\"gid\":\"g\",\"trans_type\":\"saga\"," SAGA2 ",\"payloads\":\"ab\"}",
             SVC_BAD_REQUEST, "payloads: must be an array");

    /* 513 steps */
    size_t cap = 600 * 64;
    char *big = malloc(cap);
    size_t n = (size_t)snprintf(big, cap, "{\"gid\":\"g\",\"trans_type\":\"saga\",\"steps\":[");
    for (int i = 0; i < 513; i++)
        n += (size_t)snprintf(big + n, cap - n, "%s{\"action\":\"\",\"compensate\":\"\",\"data\":\"x\"}",
                              i ? "," : "");
    snprintf(big + n, cap - n, "]}");
    bad_json(big, SVC_BAD_REQUEST, "steps: 513 steps, at most 512");
    free(big);

    /* a 65536-byte payload; 65535 is fine */
    for (int extra = 0; extra < 2; extra++) {
        char *pay = repeat('p', 65535 + (size_t)extra);
        size_t blen = strlen(pay) + 256;
        char *b = malloc(blen);
        snprintf(b, blen, "{\"gid\":\"g\",\"trans_type\":\"saga\",\"steps\":[{\"action\":\"\","
                          "\"compensate\":\"\"}],\"payloads\":[\"%s\"]}", pay);
        if (extra) {
            bad_json(b, SVC_BAD_REQUEST, "payloads[0]: 65536 bytes, at most 65535");
        } else {
            trans_global *t = good_json(b, 1);
            if (t) CHECK_EQ_INT(t->branches[0].data_len, 65535);
            trans_free(t);
        }
        free(pay);
        free(b);
    }

    /* a 1025-byte URL; 1024 is fine */
    for (int extra = 0; extra < 2; extra++) {
        char *url = repeat('u', 1024 + (size_t)extra);
        char b[4096];
        snprintf(b, sizeof b, "{\"gid\":\"g\",\"trans_type\":\"saga\",\"steps\":[{\"action\":\"%s\","
                              "\"compensate\":\"\"}],\"payloads\":[\"\"]}", url);
        if (extra) {
            bad_json(b, SVC_BAD_REQUEST, "steps[0].action: URL of 1025 bytes, at most 1024");
        } else {
            trans_global *t = good_json(b, 1);
            trans_free(t);
        }
        free(url);
    }
    bad_json("{\"gid\":\"g\",\"trans_type\":\"saga\",\"steps\":[{\"action\":\"http://a/x\\r\\nHost: evil\","
             "\"compensate\":\"\"}],\"payloads\":[\"\"]}", SVC_BAD_REQUEST,
             "steps[0].action: URL must be printable ASCII");

    /* custom_data */
    bad_json("{\"gid\":\"g\",\"trans_type\":\"saga\"," SAGA2 ",\"payloads\":[\"a\",\"b\"],"
             "\"custom_data\":\"{bad\"}", SVC_BAD_REQUEST, "custom_data");
    bad_json("{\"gid\":\"g\",\"trans_type\":\"saga\"," SAGA2 ",\"payloads\":[\"a\",\"b\"],"
             "\"custom_data\":\"{\\\"concurrent\\\":true,\\\"orders\\\":{\\\"5\\\":[0]}}\"}",
             SVC_BAD_REQUEST, "custom_data");
    bad_json("{\"gid\":\"g\",\"trans_type\":\"saga\"," SAGA2 ",\"payloads\":[\"a\",\"b\"],"
             "\"custom_data\":\"{\\\"concurrent\\\":true,\\\"orders\\\":{\\\"0\\\":[1],\\\"1\\\":[0]}}\"}",
             SVC_BAD_REQUEST, "custom_data");
    bad_json("{\"gid\":\"g\",\"trans_type\":\"saga\"," SAGA2 ",\"payloads\":[\"a\",\"b\"],"
             "\"custom_data\":{}}", SVC_BAD_REQUEST, "custom_data: must be a string");

    /* options */
    bad_json("{\"gid\":\"g\",\"trans_type\":\"saga\",\"steps\":[],\"timeout_to_fail\":-1}",
             SVC_BAD_REQUEST, "timeout_to_fail: -1 is out of range");
    bad_json("{\"gid\":\"g\",\"trans_type\":\"saga\",\"steps\":[],\"retry_interval\":-5}",
             SVC_BAD_REQUEST, "retry_interval: -5 is out of range");
    bad_json("{\"gid\":\"g\",\"trans_type\":\"saga\",\"steps\":[],\"request_timeout\":1.5}",
             SVC_BAD_REQUEST, "request_timeout: must be an integer");
    bad_json("{\"gid\":\"g\",\"trans_type\":\"saga\",\"steps\":[],\"wait_result\":\"yes\"}",
             SVC_BAD_REQUEST, "wait_result: must be true or false");
    bad_json("{\"gid\":\"g\",\"trans_type\":\"saga\",\"steps\":[],\"branch_headers\":{\"a\":1}}",
             SVC_BAD_REQUEST, "branch_headers.a: must be a string");
    bad_json("{\"gid\":\"g\",\"trans_type\":\"saga\",\"steps\":[],\"branch_headers\":{\"a\":\"x\\r\\ny: z\"}}",
             SVC_BAD_REQUEST, "branch_headers: the value of 'a'");
    bad_json("{\"gid\":\"g\",\"trans_type\":\"saga\",\"steps\":[],\"branch_headers\":{\"a b\":\"x\"}}",
             SVC_BAD_REQUEST, "is not a header name");
    char *reason = repeat('r', 1025);
    snprintf(body, sizeof body, "{\"gid\":\"g\",\"trans_type\":\"saga\",\"steps\":[],"
                                "\"rollback_reason\":\"%s\"}", reason);
    bad_json(body, SVC_BAD_REQUEST, "rollback_reason: 1025 bytes, at most 1024");
    free(reason);
    /* deep nesting is refused by the JSON parser, not by the stack */
    size_t depth = 100000;
    char *deep = malloc(depth * 2 + 64);
    n = (size_t)sprintf(deep, "{\"gid\":\"g\",\"x\":");
    for (size_t i = 0; i < depth; i++) deep[n++] = '[';
    for (size_t i = 0; i < depth; i++) deep[n++] = ']';
    deep[n++] = '}';
    bad_json_len(deep, n, SVC_BAD_REQUEST, "malformed JSON");
    free(deep);
}

/* ---- bad input: protobuf ---- */

static void proto_refusals_name_the_field(void) {
    h_step("proto_refusals_name_the_field");
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    bad_proto(junk, sizeof junk, SVC_BAD_REQUEST, "cannot decode DtmRequest");
    const uint8_t trunc[] = {0x0a, 0x10, 'a'}; /* Gid of 16 bytes, 1 present */
    bad_proto(trunc, sizeof trunc, SVC_BAD_REQUEST, "cannot decode DtmRequest");

    const char *steps = "[{\"action\":\"h:1/p.S/A\",\"compensate\":\"h:1/p.S/C\"}]";
    ProtobufCBinaryData one[1] = {{1, (uint8_t *)"x"}};
    size_t len;
    uint8_t *b;
    b = pack_req("", "saga", steps, 1, one, NULL, NULL, &len);
    bad_proto(b, len, SVC_BAD_REQUEST, "Gid: missing or empty");
    free(b);
    char *g129 = repeat('g', 129);
    b = pack_req(g129, "saga", steps, 1, one, NULL, NULL, &len);
    bad_proto(b, len, SVC_BAD_REQUEST, "Gid: 129 bytes");
    free(b);
    free(g129);
    b = pack_req("g", "bogus", steps, 1, one, NULL, NULL, &len);
    bad_proto(b, len, SVC_BAD_REQUEST, "TransType: unknown trans_type 'bogus'");
    free(b);
    b = pack_req("g", "msg", steps, 1, one, NULL, NULL, &len);
    bad_proto(b, len, SVC_UNSUPPORTED, "trans_type 'msg' is not supported by cdtm yet");
    free(b);
    b = pack_req("g", "saga", "{\"action\":1}", 1, one, NULL, NULL, &len);
    bad_proto(b, len, SVC_BAD_REQUEST, "Steps: must be an array of objects");
    free(b);
    b = pack_req("g", "saga", "[{", 1, one, NULL, NULL, &len);
    bad_proto(b, len, SVC_BAD_REQUEST, "Steps: malformed JSON");
    free(b);
    b = pack_req("g", "saga", NULL, 0, NULL, NULL, NULL, &len);
    bad_proto(b, len, SVC_BAD_REQUEST, "Steps: missing");
    free(b);
    b = pack_req("g", "saga", "[{\"action\":\"h:1/p.S/A\"}]", 1, one, NULL, NULL, &len);
    bad_proto(b, len, SVC_BAD_REQUEST, "Steps[0]: missing \"compensate\"");
    free(b);
    b = pack_req("g", "saga", steps, 0, NULL, NULL, NULL, &len);
    bad_proto(b, len, SVC_BAD_REQUEST, "BinPayloads: 0 payload(s) for 1 step(s)");
    free(b);
    uint8_t *big = calloc(1, 65536);
    ProtobufCBinaryData bigp[1] = {{65536, big}};
    b = pack_req("g", "saga", steps, 1, bigp, NULL, NULL, &len);
    bad_proto(b, len, SVC_BAD_REQUEST, "BinPayloads[0]: 65536 bytes, at most 65535");
    free(b);
    free(big);
    b = pack_req("g", "saga", steps, 1, one, NULL, "{bad", &len);
    bad_proto(b, len, SVC_BAD_REQUEST, "custom_data");
    free(b);
    Dtmgimp__DtmTransOptions o = DTMGIMP__DTM_TRANS_OPTIONS__INIT;
    o.timeouttofail = -1;
    b = pack_req("g", "saga", steps, 1, one, &o, NULL, &len);
    bad_proto(b, len, SVC_BAD_REQUEST, "TransOptions.TimeoutToFail: -1 is out of range");
    free(b);
}

int main(void) {
    json_saga_builds_dtm_branch_rows();
    json_step_data_is_a_payload();
    json_options_and_custom_orders();
    proto_saga_keeps_binary_payloads();
    json_refusals_name_the_field();
    proto_refusals_name_the_field();
    return h_finish("test_parse");
}
