/* model.c: asks order-srv for the order row of a saga (pb.order/get). See
 * model.h. */
#include "model.h"

#include <grpc/status.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.h"
#include "order.pb-c.h"
#include "rpccli.h"

struct order_rows {
    rpccli *rpc;
    char *target;
    etcd_resolver *resolver; /* when target is etcd://...: its instances */
};

order_rows *order_rows_new(const char *target) {
    order_rows *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->target = strdup(target);
    r->rpc = rpccli_new();
    if (etcd_is_target(target)) r->resolver = etcd_resolver_new();
    if (!r->target || !r->rpc || (etcd_is_target(target) && !r->resolver)) {
        order_rows_free(r);
        return NULL;
    }
    return r;
}

void order_rows_free(order_rows *r) {
    if (!r) return;
    if (r->rpc) rpccli_free(r->rpc);
    etcd_resolver_free(r->resolver);
    free(r->target);
    free(r);
}

int order_rows_find(order_rows *r, int timeout_ms, const char *gid, order_row *row, int *found,
                    char *err, size_t errlen) {
    *found = 0;
    char addr[ETCD_ADDR_MAX], why[512];
    if (r->resolver &&
        etcd_resolver_pick(r->resolver, r->target, addr, sizeof addr, why, sizeof why) != 0) {
        snprintf(err, errlen, "order service %s is unavailable: %s", r->target, why);
        return -1;
    }
    Pb__GetReq in = PB__GET_REQ__INIT;
    in.gid = (char *)gid;
    uint8_t buf[256]; /* a gid of at most 128 bytes */
    size_t len = pb__get_req__get_packed_size(&in);
    if (len > sizeof buf) {
        snprintf(err, errlen, "gid too long");
        return -1;
    }
    pb__get_req__pack(&in, buf);
    rpccli_result res;
    rpccli_call(r->rpc, r->resolver ? addr : r->target, "/pb.order/get", NULL, 0, buf, len,
                timeout_ms, &res);
    int rc = -1;
    if (res.status != GRPC_STATUS_OK) {
        if (r->resolver && res.status == GRPC_STATUS_UNAVAILABLE)
            etcd_resolver_report_down(r->resolver, r->target, addr);
        snprintf(err, errlen, "order service %s: %s (gRPC status %d)", r->target, res.message,
                 res.status);
    } else {
        Pb__GetResp *out = pb__get_resp__unpack(NULL, res.reply_len,
                                                res.reply ? res.reply : (const uint8_t *)"");
        if (!out) {
            snprintf(err, errlen, "order service %s: cannot decode its GetResp", r->target);
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
