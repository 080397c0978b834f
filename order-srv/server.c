/* server.c: the gRPC glue of order-srv. Each handler unpacks the CreateReq
 * (protobuf-c), builds the barrier from DTM's metadata, calls the logic and
 * turns its dtm_result into the gRPC status DTM reads (common/branch.c).
 * No business rule lives here: see logic.c. */
#include "server.h"

#include <stdio.h>

#include "branch.h"
#include "order.pb-c.h"

typedef dtm_result (*order_logic_fn)(order_svc *svc, barrier *b, const order_item *o,
                                     char *msg, size_t msglen);

/* The path every handler shares; only the logic function differs. */
static void serve(rpcsrv_call *call, const uint8_t *req, size_t req_len, order_svc *svc,
                  order_logic_fn logic) {
    Pb__CreateReq *in = pb__create_req__unpack(NULL, req_len, req);
    if (!in) {
        branch_reject(call, rpcsrv_metadata(call, "dtm-gid"), "cannot decode CreateReq");
        return;
    }
    order_item o = {.user_id = in->userid, .goods_id = in->goodsid, .num = in->num};
    pb__create_req__free_unpacked(in, NULL);

    barrier b;
    char msg[512];
    if (branch_barrier_from_call(call, &b, msg, sizeof msg) != 0) {
        branch_reject(call, rpcsrv_metadata(call, "dtm-gid"), msg);
        return;
    }
    msg[0] = '\0';
    dtm_result r = logic(svc, &b, &o, msg, sizeof msg);
    branch_reply(call, b.gid, r, msg);
}

static void handle_create(rpcsrv_call *call, const uint8_t *req, size_t req_len, void *ud) {
    serve(call, req, req_len, ud, order_logic_create);
}

static void handle_create_rollback(rpcsrv_call *call, const uint8_t *req, size_t req_len,
                                   void *ud) {
    serve(call, req, req_len, ud, order_logic_create_rollback);
}

int order_server_register(rpcsrv *s, order_svc *svc, char *err, size_t errlen) {
    /* The paths DTM calls: lowercase, as order.proto names the methods. */
    if (rpcsrv_add(s, "/pb.order/create", handle_create, svc) != 0 ||
        rpcsrv_add(s, "/pb.order/createRollback", handle_create_rollback, svc) != 0) {
        snprintf(err, errlen, "cannot register the pb.order methods");
        return -1;
    }
    return 0;
}
