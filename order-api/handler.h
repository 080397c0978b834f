/* handler.h: order-api's HTTP surface (go-zero's internal/handler):
 *   POST /order/quickCreate[?wait=true]  place an order (the demo's only route)
 *   GET  /order/{gid}                    the order's saga, branches and row
 *   GET  /api/ping                       {"msg":"pong"}, for readiness checks
 * Replies are JSON; errors are {"error":"..."} (common/httpsrv.h). */
#ifndef ORDER_API_HANDLER_H
#define ORDER_API_HANDLER_H

#include "httpsrv.h"
#include "logic.h"

/* A request body larger than this is refused with 413. */
#define ORDER_API_MAX_BODY (64 * 1024)

/* Starts the HTTP server on svc->cfg's ListenOn and Threads with the routes
 * above, served with `svc` (which must outlive the server). NULL with `err`
 * filled when it cannot listen. */
httpsrv *order_api_serve(order_api_svc *svc, char *err, size_t errlen);

#endif
