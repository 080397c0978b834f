/* server.c: the gRPC glue of stock-srv. Each handler unpacks the DecuctReq
 * (protobuf-c; the typo is upstream's, kept for wire compatibility), builds
 * the barrier from DTM's metadata, calls the logic and turns its dtm_result
 * into the gRPC status DTM reads (common/branch.c). No business rule lives
 * here: see logic.c. */
#include "server.h"

#include <stdio.h>

#include "branch.h"
#include "stock.pb-c.h"

typedef dtm_result (*stock_logic_fn)(stock_svc *svc, barrier *b, const stock_item *s,
                                     char *msg, size_t msglen);

/* The path every handler shares; only the logic function differs. */
static void serve(rpcsrv_call *call, const uint8_t *req, size_t req_len, stock_svc *svc,
                  stock_logic_fn logic) {
    Pb__DecuctReq *in = pb__decuct_req__unpack(NULL, req_len, req);
    if (!in) {
        branch_reject(call, rpcsrv_metadata(call, "dtm-gid"), "cannot decode DecuctReq");
        return;
    }
    stock_item s = {.goods_id = in->goodsid, .num = in->num};
    pb__decuct_req__free_unpacked(in, NULL);

    barrier b;
    char msg[512];
    if (branch_barrier_from_call(call, &b, msg, sizeof msg) != 0) {
        branch_reject(call, rpcsrv_metadata(call, "dtm-gid"), msg);
        return;
    }
    msg[0] = '\0';
    dtm_result r = logic(svc, &b, &s, msg, sizeof msg);
    branch_reply(call, b.gid, r, msg);
}

static void handle_deduct(rpcsrv_call *call, const uint8_t *req, size_t req_len, void *ud) {
    serve(call, req, req_len, ud, stock_logic_deduct);
}

static void handle_deduct_rollback(rpcsrv_call *call, const uint8_t *req, size_t req_len,
                                   void *ud) {
    serve(call, req, req_len, ud, stock_logic_deduct_rollback);
}

int stock_server_register(rpcsrv *s, stock_svc *svc, char *err, size_t errlen) {
    /* The paths DTM calls: lowercase, as stock.proto names the methods. */
    if (rpcsrv_add(s, "/pb.stock/deduct", handle_deduct, svc) != 0 ||
        rpcsrv_add(s, "/pb.stock/deductRollback", handle_deduct_rollback, svc) != 0) {
        snprintf(err, errlen, "cannot register the pb.stock methods");
        return -1;
    }
    return 0;
}
