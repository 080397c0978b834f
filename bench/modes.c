/* modes.c: what ONE operation is in each benchmark mode (bench.h,
 * docs/benchmarks.md "Modes").
 *
 *   (a) empty-http / empty-grpc: a 2-step saga whose four URLs are empty,
 *       submitted with WaitResult. The coordinator stores it, "calls" the
 *       empty branches (nothing to call is a success) and stores the final
 *       status: DTM's own "empty URL" benchmark, i.e. the coordinator and its
 *       store alone.
 *   (b) noop: the same saga with real gRPC branches on two serve-noop
 *       servers, so the coordinator's branch calls are measured too.
 *   (c) order: the place-order demo end to end: order-api (HTTP, ?wait=true)
 *       -> NewGid + Submit -> coordinator -> order-srv create, stock-srv
 *       deduct (barrier + business SQL in each).
 *   (d) direct: the same two local transactions without a coordinator: the
 *       worker calls order-srv create and stock-srv deduct itself, with the
 *       dtm-* metadata the coordinator would send (what DTM's "no DTM" case
 *       measures). Nothing compensates a half-done pair here.
 *   (e) db: one autocommit single-row INSERT into a scratch table: the
 *       database's commit ceiling at the same concurrency.
 *
 * Gids are made here ("bench-<mode>-<run>-<worker>-<seq>") except in (c),
 * where order-api asks the coordinator for one, as the demo does. */
#include <grpc/status.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "dtmgimp.pb-c.h"
#include "order.pb-c.h"
#include "stock.pb-c.h"

static const char *const MODE_NAMES[MODE_COUNT] = {"empty-http", "empty-grpc", "noop",
                                                   "order",      "direct",     "db"};
static const char *const MODE_LETTERS[MODE_COUNT] = {"a", "a", "b", "c", "d", "e"};

const char *bench_mode_name(bench_mode m) {
    return m < MODE_COUNT ? MODE_NAMES[m] : "?";
}

const char *bench_mode_letter(bench_mode m) {
    return m < MODE_COUNT ? MODE_LETTERS[m] : "?";
}

int bench_mode_parse(const char *name, bench_mode *out) {
    for (int i = 0; i < MODE_COUNT; i++)
        if (strcmp(name, MODE_NAMES[i]) == 0) {
            *out = (bench_mode)i;
            return 0;
        }
    return -1;
}

/* ---- setup ------------------------------------------------------------------ */

int bench_mode_setup(bench_ctx *ctx, char *err, size_t errlen) {
    if (ctx->mode != MODE_DB) return 0;
    /* The scratch table looks like an order row: a unique gid and a few
     * integers, so that the INSERT costs what the business INSERT costs. */
    static const char *const ddl[] = {
        "CREATE DATABASE IF NOT EXISTS cdtm_bench",
        "CREATE TABLE IF NOT EXISTS cdtm_bench.scratch ("
        " id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " gid varchar(128) NOT NULL, user_id bigint NOT NULL DEFAULT 0,"
        " num int NOT NULL DEFAULT 0, UNIQUE KEY idx_gid (gid)) ENGINE=InnoDB",
    };
    db_conn *c = db_acquire(ctx->db, 5000, NULL, err, errlen);
    if (!c) return -1;
    int rc = 0;
    for (size_t i = 0; i < sizeof ddl / sizeof ddl[0] && rc == 0; i++)
        if (db_exec(c, ddl[i], NULL, 0, NULL, err, errlen) != DB_OK) rc = -1;
    db_release(ctx->db, c);
    return rc;
}

/* ---- helpers ---------------------------------------------------------------- */

static void make_gid(bench_worker *w, char *gid, size_t len) {
    snprintf(gid, len, "bench-%s-%s-%d-%" PRIu64, bench_mode_name(w->ctx->mode), w->ctx->run_tag,
             w->id, ++w->seq);
}

static int ensure_http(bench_worker *w, const char *base, char *err, size_t errlen) {
    if (w->http_ready) return 0;
    if (httpc_init(&w->http, base, w->ctx->keepalive, w->ctx->timeout_ms, err, errlen) != 0)
        return -1;
    w->http_ready = 1;
    return 0;
}

/* DTM's clients count a reply as a success only when it is 200 and the body
 * does not say FAILURE (dtm-protocol.md §2). */
static int http_ok(int status, const char *body, const char *want, char *err, size_t errlen) {
    if (status == 200 && !strstr(body, "FAILURE") && (!want || strstr(body, want))) return 0;
    snprintf(err, errlen, "HTTP %d: %.300s", status, body);
    return -1;
}

static int grpc_call(bench_worker *w, const char *target, const char *method, const rpc_md *md,
                     size_t nmd, const void *req, size_t len, char *err, size_t errlen) {
    rpccli_result r;
    rpccli_call(w->ctx->rpc, target, method, md, nmd, req, len, w->ctx->timeout_ms, &r);
    int rc = r.status == GRPC_STATUS_OK ? 0 : -1;
    if (rc) snprintf(err, errlen, "%s %s: status %d: %.300s", target, method, r.status, r.message);
    rpccli_result_free(&r);
    return rc;
}

/* ---- (a) over HTTP ------------------------------------------------------------ */

static int op_empty_http(bench_worker *w, char *err, size_t errlen) {
    if (ensure_http(w, w->ctx->dtm_http, err, errlen) != 0) return -1;
    char gid[128], body[512];
    make_gid(w, gid, sizeof gid);
    /* What dtmcli sends for saga.Add("", "", {}).Add("", "", {}) with
     * WaitResult (DTM's benchEmptyUrl). */
    int n = snprintf(body, sizeof body,
                     "{\"gid\":\"%s\",\"trans_type\":\"saga\",\"steps\":[{\"action\":\"\","
                     "\"compensate\":\"\"},{\"action\":\"\",\"compensate\":\"\"}],"
                     "\"payloads\":[\"{}\",\"{}\"],\"wait_result\":true}",
                     gid);
    int status;
    const char *reply;
    size_t rlen;
    if (httpc_request(&w->http, "POST", "/api/dtmsvr/submit", body, (size_t)n, &status, &reply,
                      &rlen, err, errlen) != 0)
        return -1;
    return http_ok(status, reply, NULL, err, errlen);
}

/* ---- (a) and (b) over gRPC ------------------------------------------------------ */

/* Submits a 2-step saga with WaitResult; steps_json lists the URLs. */
static int submit_grpc(bench_worker *w, const char *gid, const char *steps_json,
                       const ProtobufCBinaryData *payloads, char *err, size_t errlen) {
    Dtmgimp__DtmTransOptions opts = DTMGIMP__DTM_TRANS_OPTIONS__INIT;
    opts.waitresult = 1;
    Dtmgimp__DtmRequest req = DTMGIMP__DTM_REQUEST__INIT;
    req.gid = (char *)gid;
    req.transtype = (char *)"saga";
    req.transoptions = &opts;
    req.steps = (char *)steps_json;
    req.n_binpayloads = 2;
    req.binpayloads = (ProtobufCBinaryData *)payloads;
    uint8_t buf[2048];
    size_t len = dtmgimp__dtm_request__get_packed_size(&req);
    if (len > sizeof buf) {
        snprintf(err, errlen, "%s: request too large", gid);
        return -1;
    }
    dtmgimp__dtm_request__pack(&req, buf);
    return grpc_call(w, w->ctx->dtm_grpc, "/dtmgimp.Dtm/Submit", NULL, 0, buf, len, err, errlen);
}

static int op_empty_grpc(bench_worker *w, char *err, size_t errlen) {
    char gid[128];
    make_gid(w, gid, sizeof gid);
    static const char steps[] =
        "[{\"action\":\"\",\"compensate\":\"\"},{\"action\":\"\",\"compensate\":\"\"}]";
    ProtobufCBinaryData p[2] = {{0, (uint8_t *)""}, {0, (uint8_t *)""}};
    return submit_grpc(w, gid, steps, p, err, errlen);
}

static int op_noop(bench_worker *w, char *err, size_t errlen) {
    char gid[128], steps[1024];
    make_gid(w, gid, sizeof gid);
    const char *a = w->ctx->noop[0], *b = w->ctx->noop[1];
    snprintf(steps, sizeof steps,
             "[{\"action\":\"%s/bench.Noop/Action\",\"compensate\":\"%s/bench.Noop/Compensate\"},"
             "{\"action\":\"%s/bench.Noop/Action\",\"compensate\":\"%s/bench.Noop/Compensate\"}]",
             a, a, b, b);
    /* Payloads of the size the demo's are (a packed DecuctReq). */
    static uint8_t pay[] = {0x08, 0x01, 0x10, 0x01};
    ProtobufCBinaryData p[2] = {{sizeof pay, pay}, {sizeof pay, pay}};
    return submit_grpc(w, gid, steps, p, err, errlen);
}

/* ---- (c) the place-order saga ----------------------------------------------------- */

static int op_order(bench_worker *w, char *err, size_t errlen) {
    if (ensure_http(w, w->ctx->order_api, err, errlen) != 0) return -1;
    char body[256];
    int n = snprintf(body, sizeof body, "{\"userId\":%d,\"goodsId\":%" PRId64 ",\"num\":1}",
                     w->id + 1, w->ctx->goods_id);
    int status;
    const char *reply;
    size_t rlen;
    if (httpc_request(&w->http, "POST", "/order/quickCreate?wait=true", body, (size_t)n, &status,
                      &reply, &rlen, err, errlen) != 0)
        return -1;
    return http_ok(status, reply, "\"succeed\"", err, errlen);
}

/* ---- (d) the two local transactions, called directly ------------------------------ */

static int op_direct(bench_worker *w, char *err, size_t errlen) {
    char gid[128];
    make_gid(w, gid, sizeof gid);
    /* The metadata the coordinator sends with a saga action (dtm/caller.c),
     * so that each service runs its barrier exactly as under a saga. */
    rpc_md md[5] = {{"dtm-gid", gid},
                    {"dtm-trans_type", "saga"},
                    {"dtm-branch_id", "01"},
                    {"dtm-op", "action"},
                    {"dtm-dtm", ""}};
    Pb__CreateReq creq = PB__CREATE_REQ__INIT;
    creq.goodsid = w->ctx->goods_id;
    creq.userid = w->id + 1;
    creq.num = 1;
    uint8_t cbuf[64];
    size_t clen = pb__create_req__pack(&creq, cbuf);
    if (grpc_call(w, w->ctx->order_srv, "/pb.order/create", md, 5, cbuf, clen, err, errlen) != 0)
        return -1;
    md[2].value = "02";
    Pb__DecuctReq dreq = PB__DECUCT_REQ__INIT;
    dreq.goodsid = w->ctx->goods_id;
    dreq.num = 1;
    uint8_t dbuf[64];
    size_t dlen = pb__decuct_req__pack(&dreq, dbuf);
    return grpc_call(w, w->ctx->stock_srv, "/pb.stock/deduct", md, 5, dbuf, dlen, err, errlen);
}

/* ---- (e) the database alone ----------------------------------------------------------- */

static int op_db(bench_worker *w, char *err, size_t errlen) {
    char gid[128];
    make_gid(w, gid, sizeof gid);
    db_conn *c = db_acquire(w->ctx->db, w->ctx->timeout_ms, NULL, err, errlen);
    if (!c) return -1;
    db_arg a[3] = {DB_STR(gid), DB_INT(w->id + 1), DB_INT(1)};
    db_rc rc = db_exec(c, "INSERT INTO cdtm_bench.scratch (gid, user_id, num) VALUES (?, ?, ?)",
                       a, 3, NULL, err, errlen);
    db_release(w->ctx->db, c);
    return rc == DB_OK ? 0 : -1;
}

/* ---- dispatch --------------------------------------------------------------------------- */

int bench_mode_op(bench_worker *w, char *err, size_t errlen) {
    switch (w->ctx->mode) {
    case MODE_EMPTY_HTTP: return op_empty_http(w, err, errlen);
    case MODE_EMPTY_GRPC: return op_empty_grpc(w, err, errlen);
    case MODE_NOOP: return op_noop(w, err, errlen);
    case MODE_ORDER: return op_order(w, err, errlen);
    case MODE_DIRECT: return op_direct(w, err, errlen);
    case MODE_DB: return op_db(w, err, errlen);
    default: snprintf(err, errlen, "unknown mode"); return -1;
    }
}

void bench_worker_close(bench_worker *w) {
    if (w->http_ready) httpc_close(&w->http);
    w->http_ready = 0;
}
