/* main.c: order-api, the HTTP entry point of the place-order demo
 * (demo.md §1, §5). POST /order/quickCreate turns an order into a two-step
 * saga (create the order on order-srv, deduct the stock on stock-srv) and
 * submits it to the coordinator over gRPC.
 *
 * This file only wires: it reads the go-zero-style config (-f
 * etc/order.yaml; keys in config.h), makes the clients of the coordinator
 * and of order-srv (for the order row, model.h), starts civetweb with the
 * routes (handler.c) and serves until SIGTERM/SIGINT. The business is in
 * logic.c. order-api opens no database.
 *
 * Unlike upstream, order-api does not dial the services at start-up and never
 * exits when the coordinator cannot be reached: it answers 503 (demo.md §13
 * (d), (h)).
 * Exit status: 0 after a clean stop, 2 for a bad command line or config,
 * 1 when the server cannot start. */
#include "cli.h"
#include "config.h"
#include "dtmclient.h"
#include "handler.h"
#include "httpcli.h"
#include "httpsrv.h"
#include "log.h"
#include "logic.h"
#include "mem.h"
#include "sig.h"

#define PROG "order-api"

int main(int argc, char **argv) {
    mem_init();
    const char *path = cli_config_path(PROG, argc, argv, "etc/order.yaml");

    /* ---- configuration ---- */
    char err[1024];
    api_config cfg;
    if (api_config_load(path, &cfg, err, sizeof err) != 0) cli_die(PROG, "%s", err);

    /* Before any thread exists (gRPC and civetweb start some), so
     * that every thread inherits the mask and SIGTERM waits for
     * sig_wait_term(). */
    sig_block_term();

    /* ---- wiring ---- */
    if (cfg.ignored_db)
        log_warn(NULL, "%s: %s: DB is ignored: order-api asks order-srv for the order row "
                 "(pb.order/get) and opens no database", cfg.name, path);
    dtmc *dtm = dtmc_new(cfg.dtm_target, cfg.dtm_http, cfg.dtm_timeout_ms);
    order_rows *orders = order_rows_new(cfg.order_target);
    if (!dtm || !orders) {
        log_error(NULL, "%s: out of memory", cfg.name);
        dtmc_free(dtm);
        order_rows_free(orders);
        return 1;
    }
    order_api_svc svc = {.cfg = &cfg, .dtm = dtm, .orders = orders};
    httpsrv *srv = order_api_serve(&svc, err, sizeof err);
    if (!srv) {
        log_error(NULL, "%s: %s", cfg.name, err);
        dtmc_free(dtm);
        order_rows_free(orders);
        return 1;
    }
    log_info(NULL, "%s serving HTTP on %s (%d threads); coordinator %s (HTTP %s); order "
             "service %s, stock service %s",
             cfg.name, cfg.listen_on, cfg.threads, cfg.dtm_target, cfg.dtm_http,
             cfg.order_target, cfg.stock_target);

    /* ---- run until told to stop ---- */
    int sig = sig_wait_term();
    log_info(NULL, "%s: signal %d, stopping (requests in flight finish)", cfg.name, sig);
    httpsrv_stop(srv);
    dtmc_free(dtm);
    order_rows_free(orders);
    httpcli_close_idle();
    log_info(NULL, "%s: stopped", cfg.name);
    return 0;
}
