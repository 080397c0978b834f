/* main.c: order-srv, the gRPC service that creates and cancels orders for the
 * place-order saga (demo.md §4). This file only wires: it reads the
 * go-zero-style config (-f etc/order.yaml), opens the one database pool,
 * registers the pb.order methods (server.c) and serves until SIGTERM/SIGINT.
 * The business rules are in logic.c, their SQL in model.c.
 *
 * Config keys: Name, ListenOn, Threads (16), LogLevel (info),
 * DB.DataSource (required), DB.MaxConns (16), BarrierTable
 * (dtm_barrier.barrier), Etcd.Hosts + Etcd.Key (register in etcd as go-zero
 * does; common/etcd.h). Each can be overridden from the environment
 * (LISTEN_ON, DB_DATA_SOURCE, ETCD_HOSTS, ETCD_KEY, ...; see common/conf.h).
 * Exit status: 0 after a clean stop, 2 for a bad command line or config,
 * 1 when the server cannot start. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "barrier.h"
#include "conf.h"
#include "db.h"
#include "dsn.h"
#include "etcd.h"
#include "log.h"
#include "mem.h"
#include "rpcsrv.h"
#include "server.h"
#include "sig.h"

#define PROG "order-srv"
#define ACQUIRE_TIMEOUT_MS 3000 /* a call waits this long for a pool connection */

/* A configuration error: one clear line, exit status 2. */
static void die_config(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die_config(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, PROG ": ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

int main(int argc, char **argv) {
    mem_init();
    const char *path = "etc/order.yaml";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-f") == 0 && i + 1 < argc)
            path = argv[++i];
        else
            die_config("usage: " PROG " [-f etc/order.yaml]");
    }

    /* ---- configuration ---- */
    char err[512];
    conf *c = conf_load(path, err, sizeof err);
    if (!c) die_config("%s", err);
    log_level level;
    const char *lvl = conf_str(c, "LogLevel", "info");
    if (log_parse_level(lvl, &level) != 0)
        die_config("%s: LogLevel: '%s' is not debug, info, warn or error", path, lvl);
    log_set_level(level);
    if (conf_require(c, "ListenOn", err, sizeof err) != 0 ||
        conf_require(c, "DB.DataSource", err, sizeof err) != 0)
        die_config("%s", err);
    dsn d;
    if (dsn_parse(conf_str(c, "DB.DataSource", NULL), &d, err, sizeof err) != 0)
        die_config("%s: DB.DataSource: %s", path, err);
    int64_t max_conns, threads;
    if (conf_int(c, "DB.MaxConns", 16, 1, 1000, &max_conns, err, sizeof err) != 0 ||
        conf_int(c, "Threads", 16, 1, 256, &threads, err, sizeof err) != 0)
        die_config("%s", err);
    const char *table = conf_str(c, "BarrierTable", NULL);
    if (table && barrier_set_table(table) != 0)
        die_config("%s: BarrierTable: '%s' is not a table name ([db.]table)", path, table);
    const char *name = conf_str(c, "Name", PROG);
    const char *listen_on = conf_str(c, "ListenOn", NULL);
    /* An Etcd block: register as go-zero's zrpc server does (demo.md §8). */
    etcd_target etcd;
    int use_etcd = etcd_target_from_conf(c, "Etcd", &etcd, err, sizeof err);
    if (use_etcd < 0) die_config("%s: Etcd: %s", path, err);

    /* Before any thread exists (gRPC and the pool start some), so that every
     * thread inherits the mask and SIGTERM waits for sig_wait_term(). */
    sig_block_term();

    /* ---- wiring ---- */
    db_global_init();
    db_pool *pool = db_pool_new(&d, (int)max_conns, err, sizeof err);
    if (!pool) die_config("%s: DB: %s", path, err);
    rpcsrv *srv = rpcsrv_new(listen_on, (int)threads, err, sizeof err);
    if (!srv) die_config("%s: ListenOn: %s", path, err);
    order_svc svc = {.pool = pool, .acquire_timeout_ms = ACQUIRE_TIMEOUT_MS};
    if (order_server_register(srv, &svc, err, sizeof err) != 0 ||
        rpcsrv_start(srv, err, sizeof err) != 0) {
        log_error(NULL, "%s: %s", name, err);
        rpcsrv_free(srv);
        db_pool_free(pool);
        conf_free(c);
        return 1;
    }
    /* Registered once the port is bound, so that a client never finds an
     * instance that cannot answer yet. etcd being down is not fatal: the
     * registration retries in the background. */
    etcd_reg *reg = NULL;
    if (use_etcd && !(reg = etcd_reg_server(&etcd, listen_on, rpcsrv_port(srv), err, sizeof err)))
        log_error(NULL, "%s: not registered in etcd: %s", name, err);
    log_info(NULL, "%s serving pb.order on %s (port %d, %d threads, database %s on %s:%u)",
             name, listen_on, rpcsrv_port(srv), (int)threads, d.dbname,
             d.socket[0] ? d.socket : d.host, d.port);

    /* ---- run until told to stop ---- */
    int sig = sig_wait_term();
    log_info(NULL, "%s: signal %d, stopping (calls in flight get 5 s)", name, sig);
    etcd_reg_free(reg); /* first, so that clients stop picking us */
    rpcsrv_stop(srv, 5000);
    rpcsrv_free(srv);
    db_pool_free(pool);
    log_info(NULL, "%s: stopped", name);
    conf_free(c);
    return 0;
}
