/* model.c: asks order-srv for the order row of a saga (pb.order/get). See
 * model.h. */
#include "model.h"

#include <grpc/status.h>
#include <stdio.h>
#include <stdlib.h>

#include "order.pb-c.h"
#include "peer.h"

struct order_rows {
    peer srv; /* order-srv */
};

order_rows *order_rows_new(const char *target) {
    order_rows *r = calloc(1, sizeof *r);
    if (r && peer_init(&r->srv, target) != 0) {
        order_rows_free(r);
        return NULL;
    }
    return r;
}

void order_rows_free(order_rows *r) {
    if (!r) return;
    peer_clear(&r->srv);
    free(r);
}

int order_rows_find(order_rows *r, int timeout_ms, const char *gid, order_row *row, int *found,
                    char *err, size_t errlen) {
    *found = 0;
    Pb__GetReq in = PB__GET_REQ__INIT;
    in.gid = (char *)gid;
    uint8_t buf[256]; /* a gid of at most 128 bytes */
    size_t len = pb__get_req__get_packed_size(&in);
    if (len > sizeof buf) {
        snprintf(err, errlen, "gid too long");
        return -1;
    }
    pb__get_req__pack(&in, buf);
    const char *target = r->srv.target;
    rpccli_result res;
    char why[512];
    if (peer_call(&r->srv, "/pb.order/get", buf, len, timeout_ms, &res, why, sizeof why) != 0) {
        snprintf(err, errlen, "order service %s is unavailable: %s", target, why);
        return -1;
    }
    int rc = -1;
    if (res.status != GRPC_STATUS_OK) {
        snprintf(err, errlen, "order service %s: %s (gRPC status %d)", target, res.message,
                 res.status);
    } else {
        Pb__GetResp *out = pb__get_resp__unpack(NULL, res.reply_len,
                                                res.reply ? res.reply : (const uint8_t *)"");
        if (!out) {
            snprintf(err, errlen, "order service %s: cannot decode its GetResp", target);
        } else {
            *found = out->found;
            *row = (order_row){out->id, out->userid, out->goodsid, out->num, out->rowstate};
            pb__get_resp__free_unpacked(out, NULL);
            rc = 0;
        }
    }
    rpccli_result_free(&res);
    return rc;
}
