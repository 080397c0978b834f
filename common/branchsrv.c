/* branchsrv.c: see branchsrv.h. */
#include "branchsrv.h"

#include <stdint.h>

#include "barrier.h"
#include "cli.h"
#include "conf.h"
#include "dsn.h"
#include "etcd.h"
#include "log.h"
#include "mem.h"
#include "sig.h"

int branchsrv_main(const branchsrv_spec *spec, int argc, char **argv) {
    mem_init();
    const char *prog = spec->prog;
    const char *path = cli_config_path(prog, argc, argv, spec->config);

    /* ---- configuration ---- */
    char err[512];
    conf *c = conf_load(path, err, sizeof err);
    if (!c) cli_die(prog, "%s", err);
    log_level level;
    const char *lvl = conf_str(c, "LogLevel", "info");
    if (log_parse_level(lvl, &level) != 0)
        cli_die(prog, "%s: LogLevel: '%s' is not debug, info, warn or error", path, lvl);
    log_set_level(level);
    if (conf_require(c, "ListenOn", err, sizeof err) != 0 ||
        conf_require(c, "DB.DataSource", err, sizeof err) != 0)
        cli_die(prog, "%s", err);
    dsn d;
    if (dsn_parse(conf_str(c, "DB.DataSource", NULL), &d, err, sizeof err) != 0)
        cli_die(prog, "%s: DB.DataSource: %s", path, err);
    int64_t max_conns, threads;
    if (conf_int(c, "DB.MaxConns", 16, 1, 1000, &max_conns, err, sizeof err) != 0 ||
        conf_int(c, "Threads", 16, 1, 256, &threads, err, sizeof err) != 0)
        cli_die(prog, "%s", err);
    const char *table = conf_str(c, "BarrierTable", NULL);
    if (table && barrier_set_table(table) != 0)
        cli_die(prog, "%s: BarrierTable: '%s' is not a table name ([db.]table)", path, table);
    const char *name = conf_str(c, "Name", prog);
    const char *listen_on = conf_str(c, "ListenOn", NULL);
    /* An Etcd block: register as go-zero's zrpc server does (demo.md §8). */
    etcd_target etcd;
    int use_etcd = etcd_target_from_conf(c, "Etcd", &etcd, err, sizeof err);
    if (use_etcd < 0) cli_die(prog, "%s: Etcd: %s", path, err);

    /* Before any thread exists (gRPC and the pool start some), so that every
     * thread inherits the mask and SIGTERM waits for sig_wait_term(). */
    sig_block_term();

    /* ---- wiring ---- */
    db_global_init();
    db_pool *pool = db_pool_new(&d, (int)max_conns, err, sizeof err);
    if (!pool) cli_die(prog, "%s: DB: %s", path, err);
    rpcsrv *srv = rpcsrv_new(listen_on, (int)threads, err, sizeof err);
    if (!srv) cli_die(prog, "%s: ListenOn: %s", path, err);
    if (spec->register_methods(srv, pool, err, sizeof err) != 0 ||
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
    log_info(NULL, "%s serving %s on %s (port %d, %d threads, database %s on %s:%u)", name,
             spec->service, listen_on, rpcsrv_port(srv), (int)threads, d.dbname,
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
