/* server.h: stock-srv's gRPC surface, the service pb.stock of stock.proto. */
#ifndef STOCK_SERVER_H
#define STOCK_SERVER_H

#include <stddef.h>

#include "logic.h"
#include "rpcsrv.h"

/* Adds /pb.stock/deduct and /pb.stock/deductRollback to `s`, served with
 * `svc` (which must outlive the server). Returns 0, or -1 with `err` set. */
int stock_server_register(rpcsrv *s, stock_svc *svc, char *err, size_t errlen);

#endif
