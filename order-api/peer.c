/* peer.c: see peer.h. */
#include "peer.h"

#include <grpc/status.h>
#include <stdlib.h>
#include <string.h>

int peer_init(peer *p, const char *target) {
    memset(p, 0, sizeof *p);
    p->target = strdup(target);
    p->rpc = rpccli_new();
    if (etcd_is_target(target)) p->resolver = etcd_resolver_new();
    return p->target && p->rpc && (!etcd_is_target(target) || p->resolver) ? 0 : -1;
}

void peer_clear(peer *p) {
    if (p->rpc) rpccli_free(p->rpc);
    etcd_resolver_free(p->resolver);
    free(p->target);
    memset(p, 0, sizeof *p);
}

int peer_call(peer *p, const char *method, const void *req, size_t req_len, int timeout_ms,
              rpccli_result *res, char *why, size_t whylen) {
    char addr[ETCD_ADDR_MAX];
    if (p->resolver &&
        etcd_resolver_pick(p->resolver, p->target, addr, sizeof addr, why, whylen) != 0)
        return -1;
    rpccli_call(p->rpc, p->resolver ? addr : p->target, method, NULL, 0, req, req_len, timeout_ms,
                res);
    if (p->resolver && res->status == GRPC_STATUS_UNAVAILABLE)
        etcd_resolver_report_down(p->resolver, p->target, addr);
    return 0;
}
