/* main.c: dtm, cdtm's transaction coordinator. This file only wires: it reads
 * DTM's conf.yml (config.c), opens the store's pool, builds the branch
 * caller, the engine and the service, starts the gRPC and HTTP surfaces and
 * the recovery cron, registers in etcd when MicroService asks for it, and
 * serves until SIGTERM/SIGINT.
 *
 *   dtm [-c conf.yml] [-r] [-v]
 *     -c  the configuration file (without it: defaults and environment only)
 *     -r  create the store's database and tables if missing, then serve
 *     -v  print the version and exit
 *
 * The database may be down at start-up: nothing here connects except -r, and
 * the cron keeps retrying. A port that cannot be bound is fatal.
 * Exit status: 0 after a clean stop, 2 for a bad command line or config,
 * 1 when a surface cannot start. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "caller.h"
#include "cli.h"
#include "config.h"
#include "cron.h"
#include "db.h"
#include "dsn.h"
#include "engine.h"
#include "etcd.h"
#include "log.h"
#include "mem.h"
#include "service.h"
#include "sig.h"
#include "store.h"

#define PROG "dtm"
#define DTM_VERSION "cdtm-0.1.0"
#define DB_WAIT_MS 3000         /* a store call waits this long for a connection */
#define RETRY_INTERVAL_MAX_S 3600
#define QUEUE_PER_WORKER 64     /* background queue bound = workers x this */
#define STOP_GRACE_MS 5000

/* -r: CREATE DATABASE needs a session without a default database (it may not
 * exist yet), hence a one-connection pool of its own. The name was checked
 * by config.c to hold identifier characters only, so it can be quoted into
 * the statement (an identifier cannot be a bound value). */
static void create_schema(const dsn *d, store *s) {
    char err[512];
    dsn nodb = *d;
    nodb.dbname[0] = '\0';
    db_pool *p = db_pool_new(&nodb, 1, err, sizeof err);
    if (p) {
        db_conn *c = db_acquire(p, DB_WAIT_MS, NULL, err, sizeof err);
        char sql[sizeof d->dbname + 96];
        snprintf(sql, sizeof sql,
                 "CREATE DATABASE IF NOT EXISTS `%s` /*!40100 DEFAULT CHARACTER SET utf8mb4 */",
                 d->dbname);
        if (!c || db_exec(c, sql, NULL, 0, NULL, err, sizeof err) != DB_OK)
            log_warn(NULL, "-r: cannot create database %s: %s", d->dbname, err);
        db_release(p, c);
        db_pool_free(p);
    }
    if (store_create_schema(s, err, sizeof err) != STORE_OK)
        log_error(NULL, "-r: %s (serving anyway; the cron retries the store)", err);
    else
        log_info(NULL, "-r: schema of database %s is in place", d->dbname);
}

/* MicroService: with dtm-driver-gozero, register EndPoint (verbatim, as
 * DTM does) under the Target's key, so that clients find the coordinator at
 * etcd://host:2379/dtmservice. Done once the ports are bound; etcd being
 * down is logged and retried in the background, never fatal (DTM exits). */
static etcd_reg *register_service(const dtm_config *cfg) {
    etcd_target t;
    char err[512];
    if (!cfg->ms_target[0]) return NULL;
    if (strcmp(cfg->ms_driver, "dtm-driver-gozero") != 0) {
        log_warn(NULL, "MicroService.Target %s is ignored with Driver '%s' (as in DTM); use "
                       "dtm-driver-gozero to register", cfg->ms_target, cfg->ms_driver);
        return NULL;
    }
    etcd_reg *r = NULL;
    if (etcd_target_parse(cfg->ms_target, &t, err, sizeof err) != 0 ||
        !(r = etcd_reg_new(&t, cfg->ms_endpoint, err, sizeof err)))
        log_error(NULL, PROG ": not registered in etcd: %s", err);
    return r;
}

int main(int argc, char **argv) {
    mem_init();
    const char *path = NULL;
    int reset = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "-r") == 0) {
            reset = 1;
        } else if (strcmp(argv[i], "-v") == 0) {
            printf(PROG " version: %s\n", DTM_VERSION);
            return 0;
        } else {
            cli_die(PROG, "usage: " PROG " [-c conf.yml] [-r] [-v]");
        }
    }

    /* ---- configuration ---- */
    char err[512];
    dtm_config cfg;
    if (dtm_config_load(path, &cfg, err, sizeof err) != 0) cli_die(PROG, "%s", err);
    log_level level = LOG_INFO;
    log_parse_level(cfg.log_level, &level); /* validated by config.c */
    log_set_level(level);

    dsn d;
    memset(&d, 0, sizeof d);
    snprintf(d.user, sizeof d.user, "%s", cfg.store_user);
    snprintf(d.password, sizeof d.password, "%s", cfg.store_password);
    snprintf(d.host, sizeof d.host, "%s", cfg.store_host);
    d.port = (unsigned)cfg.store_port;
    snprintf(d.dbname, sizeof d.dbname, "%s", cfg.store_db);

    /* Before any thread exists (gRPC, the engine's workers, the cron), so
     * that every thread inherits the mask and SIGTERM waits for us. */
    sig_block_term();

    /* ---- wiring: store, caller, engine, service ---- */
    db_global_init();
    db_pool *pool = db_pool_new(&d, cfg.store_max_conns, err, sizeof err);
    if (!pool) cli_die(PROG, "%s: Store: %s", path ? path : "(environment)", err);
    store *st = store_new(pool, DB_WAIT_MS);
    if (reset) create_schema(&d, st);
    caller *cl = caller_new(cfg.request_timeout);
    engine_config ec = {
        .retry_interval_s = cfg.retry_interval,
        .retry_interval_max_s = RETRY_INTERVAL_MAX_S,
        .request_timeout_s = cfg.request_timeout,
        .timeout_to_fail_s = cfg.timeout_to_fail,
        .workers = cfg.workers,
        .queue_max = cfg.workers * QUEUE_PER_WORKER,
    };
    engine *en = st && cl ? engine_new(st, caller_iface(cl), &ec) : NULL;
    svc *sv = en ? svc_new(st, en) : NULL;
    if (!sv) {
        log_error(NULL, PROG ": out of memory at start-up");
        return 1;
    }

    /* ---- surfaces: a port we cannot bind is fatal ---- */
    char grpc_on[128], http_on[128];
    snprintf(grpc_on, sizeof grpc_on, "%s:%d", cfg.bind_address, cfg.grpc_port);
    snprintf(http_on, sizeof http_on, "%s:%d", cfg.bind_address, cfg.http_port);
    api_grpc *ag = api_grpc_start(sv, grpc_on, cfg.grpc_threads, err, sizeof err);
    if (!ag) {
        fprintf(stderr, PROG ": cannot serve gRPC on %s (GrpcPort): %s\n", grpc_on, err);
        return 1;
    }
    api_http *ah = api_http_start(sv, http_on, cfg.http_threads, err, sizeof err);
    if (!ah) {
        fprintf(stderr, PROG ": cannot serve HTTP on %s (HttpPort): %s\n", http_on, err);
        api_grpc_stop(ag, 0);
        return 1;
    }
    cron *cr = cron_start(st, en, cfg.trans_cron_interval, err, sizeof err);
    if (!cr) {
        log_error(NULL, PROG ": %s", err);
        api_http_stop(ah);
        api_grpc_stop(ag, 0);
        return 1;
    }
    log_info(NULL, PROG " %s serving gRPC on %s and HTTP on %s; store mysql %s@%s:%d/%s",
             DTM_VERSION, grpc_on, http_on, cfg.store_user, cfg.store_host, cfg.store_port,
             cfg.store_db);
    etcd_reg *reg = register_service(&cfg);

    /* ---- run until told to stop, then stop in reverse order ---- */
    int sig = sig_wait_term();
    log_info(NULL, PROG ": signal %d, stopping (work in flight gets %d ms)", sig, STOP_GRACE_MS);
    etcd_reg_free(reg); /* first, so that clients stop picking us */
    api_http_stop(ah);
    api_grpc_stop(ag, STOP_GRACE_MS);
    cron_stop(cr);
    engine_free(en, STOP_GRACE_MS);
    svc_free(sv);
    caller_free(cl);
    store_free(st);
    db_pool_free(pool);
    log_info(NULL, PROG ": stopped");
    return 0;
}
