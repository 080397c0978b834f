/* config.c: the coordinator's conf.yml (config.h): DTM's keys and defaults
 * (dtm-protocol.md §7), read through common/conf.h, which also applies DTM's
 * environment overrides (Store.Host -> STORE_HOST, HttpPort -> HTTP_PORT...).
 *
 * Every value is checked here, once, with a message that names the file (or
 * "(environment)") and the key, so that the rest of the coordinator can trust
 * the struct. The differences from DTM are listed in config.h. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "errbuf.h"
#include "etcd.h"
#include "log.h"

/* Copies a string key into a fixed field; too long is an error naming it. */
static int cfg_str(const conf *c, const char *name, const char *key, const char *def, char *dst,
                   size_t size, char *err, size_t errlen) {
    const char *v = conf_str(c, key, def);
    if (!v) v = "";
    if (strlen(v) >= size)
        return errbuf_set(err, errlen, "%s: %s: longer than %zu bytes", name, key, size - 1);
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

/* Reads an integer key in [min, max] into an int field. */
static int cfg_int(const conf *c, const char *key, int def, int min, int max, int *dst,
                   char *err, size_t errlen) {
    int64_t v;
    if (conf_int(c, key, def, min, max, &v, err, errlen) != 0) return -1;
    *dst = (int)v;
    return 0;
}

int dtm_config_load(const char *path, dtm_config *cfg, char *err, size_t errlen) {
    memset(cfg, 0, sizeof *cfg);
    conf *c = path ? conf_load(path, err, errlen) : conf_empty();
    if (!c) {
        if (!path) errbuf_set(err, errlen, "out of memory");
        return -1;
    }
    const char *name = path ? path : "(environment)";
    int rc = -1;
    /* Strings. Store.Driver defaults to mysql, the only store cdtm has (DTM's
     * default is boltdb). */
    if (cfg_str(c, name, "Store.Driver", "mysql", cfg->store_driver, sizeof cfg->store_driver, err, errlen) ||
        cfg_str(c, name, "Store.Host", "127.0.0.1", cfg->store_host, sizeof cfg->store_host, err, errlen) ||
        cfg_str(c, name, "Store.User", "root", cfg->store_user, sizeof cfg->store_user, err, errlen) ||
        cfg_str(c, name, "Store.Password", "", cfg->store_password, sizeof cfg->store_password, err, errlen) ||
        cfg_str(c, name, "Store.Db", "dtm", cfg->store_db, sizeof cfg->store_db, err, errlen) ||
        cfg_str(c, name, "BindAddress", "127.0.0.1", cfg->bind_address, sizeof cfg->bind_address, err, errlen) ||
        cfg_str(c, name, "LogLevel", "info", cfg->log_level, sizeof cfg->log_level, err, errlen) ||
        cfg_str(c, name, "MicroService.Driver", "default", cfg->ms_driver, sizeof cfg->ms_driver, err, errlen) ||
        cfg_str(c, name, "MicroService.Target", "", cfg->ms_target, sizeof cfg->ms_target, err, errlen) ||
        cfg_str(c, name, "MicroService.EndPoint", "", cfg->ms_endpoint, sizeof cfg->ms_endpoint, err, errlen))
        goto out;
    /* Integers, with the ranges that make sense. */
    if (cfg_int(c, "Store.Port", 3306, 1, 65535, &cfg->store_port, err, errlen) ||
        cfg_int(c, "Store.MaxOpenConns", 32, 1, 1000, &cfg->store_max_conns, err, errlen) ||
        cfg_int(c, "HttpPort", 36789, 1, 65535, &cfg->http_port, err, errlen) ||
        cfg_int(c, "GrpcPort", 36790, 1, 65535, &cfg->grpc_port, err, errlen) ||
        cfg_int(c, "RetryInterval", 10, 1, 86400, &cfg->retry_interval, err, errlen) ||
        cfg_int(c, "TimeoutToFail", 35, 1, 86400 * 30, &cfg->timeout_to_fail, err, errlen) ||
        cfg_int(c, "RequestTimeout", 3, 1, 3600, &cfg->request_timeout, err, errlen) ||
        cfg_int(c, "TransCronInterval", 3, 1, 3600, &cfg->trans_cron_interval, err, errlen) ||
        cfg_int(c, "Workers", 16, 1, 256, &cfg->workers, err, errlen) ||
        cfg_int(c, "HttpThreads", 64, 1, 256, &cfg->http_threads, err, errlen) ||
        cfg_int(c, "GrpcThreads", 64, 1, 256, &cfg->grpc_threads, err, errlen))
        goto out;

    /* Rules between keys, and the values cdtm cannot honour. */
    if (strcmp(cfg->store_driver, "mysql") != 0) {
        errbuf_set(err, errlen, "%s: Store.Driver: '%s' is not supported by cdtm; use mysql", name,
                 cfg->store_driver);
        goto out;
    }
    if (!cfg->store_host[0]) {
        errbuf_set(err, errlen, "%s: Store.Host: is required", name);
        goto out;
    }
    if (!cfg->store_db[0]) {
        errbuf_set(err, errlen, "%s: Store.Db: is required", name);
        goto out;
    }
    /* The database name is also written into `dtm -r`'s CREATE DATABASE, where
     * it cannot be a bound value: keep it to identifier characters. */
    for (const char *p = cfg->store_db; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '$')) {
            errbuf_set(err, errlen, "%s: Store.Db: '%s' may only hold letters, digits, '_', '-', '$'",
                     name, cfg->store_db);
            goto out;
        }
    }
    if (!cfg->bind_address[0]) {
        errbuf_set(err, errlen, "%s: BindAddress: is required", name);
        goto out;
    }
    if (cfg->http_port == cfg->grpc_port) {
        errbuf_set(err, errlen, "%s: HttpPort and GrpcPort are both %d; they must differ", name,
                 cfg->http_port);
        goto out;
    }
    if (cfg->timeout_to_fail < cfg->retry_interval) {
        errbuf_set(err, errlen, "%s: TimeoutToFail: %d is below RetryInterval (%d); it must be >= it",
                 name, cfg->timeout_to_fail, cfg->retry_interval);
        goto out;
    }
    log_level lvl;
    if (log_parse_level(cfg->log_level, &lvl) != 0) {
        errbuf_set(err, errlen, "%s: LogLevel: '%s' is not debug, info, warn or error", name,
                 cfg->log_level);
        goto out;
    }
    /* The registry drivers DTM knows. With dtm-driver-gozero and a Target,
     * the coordinator registers its EndPoint in etcd as go-zero does
     * (demo.md §8); cdtm's registry is etcd only (no consul, no nacos). */
    if (strcmp(cfg->ms_driver, "default") != 0 && strcmp(cfg->ms_driver, "dtm-driver-gozero") != 0) {
        errbuf_set(err, errlen,
                 "%s: MicroService.Driver: '%s' is not supported by cdtm; use default or "
                 "dtm-driver-gozero", name, cfg->ms_driver);
        goto out;
    }
    if (strcmp(cfg->ms_driver, "dtm-driver-gozero") == 0 && cfg->ms_target[0]) {
        etcd_target t;
        char why[256];
        if (etcd_target_parse(cfg->ms_target, &t, why, sizeof why) != 0) {
            errbuf_set(err, errlen, "%s: MicroService.Target: %s (cdtm registers in etcd only: "
                     "etcd://host:2379/dtmservice)", name, why);
            goto out;
        }
        if (!cfg->ms_endpoint[0]) {
            errbuf_set(err, errlen, "%s: MicroService.EndPoint: is required with MicroService.Target "
                     "(the gRPC host:port clients are given, e.g. localhost:36790)", name);
            goto out;
        }
    }
    rc = 0;
out:
    conf_free(c);
    return rc;
}
