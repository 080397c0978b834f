/* peer.h: a gRPC service order-api calls (the coordinator, order-srv), at a
 * host:port or at an etcd:// target. With etcd, each call picks an instance
 * through common/etcd.h, and an instance found unreachable is skipped by the
 * next calls. Safe to use from many threads. */
#ifndef ORDER_API_PEER_H
#define ORDER_API_PEER_H

#include <stddef.h>

#include "etcd.h"
#include "rpccli.h"

typedef struct {
    rpccli *rpc;
    char *target;            /* as configured */
    etcd_resolver *resolver; /* when target is etcd://...: its instances */
} peer;

/* Returns 0, or -1 when out of memory (then peer_clear() is still safe). */
int peer_init(peer *p, const char *target);
void peer_clear(peer *p);

/* Calls `method` on an instance of the peer, without metadata. Returns 0 with
 * *res filled (whatever the status; an instance that answered UNAVAILABLE is
 * reported down), or -1 with `why` filled when no instance could be picked
 * (*res is then untouched). */
int peer_call(peer *p, const char *method, const void *req, size_t req_len, int timeout_ms,
              rpccli_result *res, char *why, size_t whylen);

#endif
