/* main.c: stock-srv, the gRPC service that deducts and restores stock for the
 * place-order saga (demo.md §4). The program is common/branchsrv.c (config
 * keys and exit statuses are in branchsrv.h) with the pb.stock methods of
 * server.c. The business rules are in logic.c, their SQL in model.c. */
#include "branchsrv.h"
#include "server.h"

static stock_svc svc; /* lives as long as the server */

static int register_methods(rpcsrv *srv, db_pool *pool, char *err, size_t errlen) {
    svc = (stock_svc){.pool = pool, .acquire_timeout_ms = BRANCHSRV_ACQUIRE_TIMEOUT_MS};
    return stock_server_register(srv, &svc, err, errlen);
}

int main(int argc, char **argv) {
    static const branchsrv_spec spec = {"stock-srv", "etc/stock.yaml", "pb.stock",
                                        register_methods};
    return branchsrv_main(&spec, argc, argv);
}
