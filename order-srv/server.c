/* server.c: the gRPC glue of order-srv. Each saga handler unpacks the
 * CreateReq (protobuf-c), builds the barrier from DTM's metadata, calls the
 * logic and turns its dtm_result into the gRPC status DTM reads
 * (common/branch.c); get answers order-api with the order row.
 * No business rule lives here: see logic.c. */
#include "server.h"

#include <grpc/status.h>
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

/* pb.order/get: not a saga step, so no barrier and no DTM metadata. */
static void handle_get(rpcsrv_call *call, const uint8_t *req, size_t req_len, void *ud) {
    Pb__GetReq *in = pb__get_req__unpack(NULL, req_len, req);
    if (!in) {
        rpcsrv_status(call, GRPC_STATUS_INVALID_ARGUMENT, "cannot decode GetReq");
        return;
    }
    order_row row;
    int found = 0;
    char msg[512];
    switch (order_logic_get(ud, in->gid, &row, &found, msg, sizeof msg)) {
    case ORDER_GET_OK: {
        Pb__GetResp out = PB__GET_RESP__INIT;
        out.found = found;
        if (found) {
            out.id = row.id;
            out.userid = row.user_id;
            out.goodsid = row.goods_id;
            out.num = row.num;
            out.rowstate = row.row_state;
        }
        uint8_t buf[128]; /* a bool and five int64: at most 57 bytes */
        rpcsrv_reply(call, buf, pb__get_resp__pack(&out, buf));
        break;
    }
    case ORDER_GET_BAD_GID: rpcsrv_status(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", msg); break;
    case ORDER_GET_DB_ERROR:
    default: rpcsrv_status(call, GRPC_STATUS_UNAVAILABLE, "%s", msg); break;
    }
    pb__get_req__free_unpacked(in, NULL);
}

int order_server_register(rpcsrv *s, order_svc *svc, char *err, size_t errlen) {
    /* The paths DTM calls: lowercase, as order.proto names the methods. */
    if (rpcsrv_add(s, "/pb.order/create", handle_create, svc) != 0 ||
        rpcsrv_add(s, "/pb.order/createRollback", handle_create_rollback, svc) != 0 ||
        rpcsrv_add(s, "/pb.order/get", handle_get, svc) != 0) {
        snprintf(err, errlen, "cannot register the pb.order methods");
        return -1;
    }
    return 0;
}
