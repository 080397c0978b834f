/* server.h: order-srv's gRPC surface, the service pb.order of order.proto. */
#ifndef ORDER_SERVER_H
#define ORDER_SERVER_H

#include <stddef.h>

#include "logic.h"
#include "rpcsrv.h"

/* Adds /pb.order/create and /pb.order/createRollback to `s`, served with
 * `svc` (which must outlive the server). Returns 0, or -1 with `err` set. */
int order_server_register(rpcsrv *s, order_svc *svc, char *err, size_t errlen);

#endif
