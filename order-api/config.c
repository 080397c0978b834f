/* config.c: reads order-api's go-zero-style YAML and its environment
 * overrides into an api_config. See config.h for the keys and defaults. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "etcd.h"
#include "log.h"

/* Copies `src` into a fixed buffer, refusing (rather than cutting) a value
 * that does not fit: a truncated address would fail later, far from here. */
static int copy_value(char *dst, size_t dstlen, const char *src, const char *file,
                      const char *key, char *err, size_t errlen) {
    if (strlen(src) >= dstlen) {
        snprintf(err, errlen, "%s: %s: longer than %zu bytes", file, key, dstlen - 1);
        return -1;
    }
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

/* Turns the service's config block `key` ("OrderRpcConf") into the target
 * written in branch URLs, as go-zero's RpcClientConf.BuildTarget() does: a
 * Target as written ("127.0.0.1:9001" or "etcd://127.0.0.1:2379/order.rpc"),
 * else the Etcd block as "etcd://<Hosts joined by ','>/<Key>", else `def`. */
static int build_target(const conf *c, const char *file, const char *key, const char *def,
                        char *out, size_t outlen, char *err, size_t errlen) {
    char tk[128], ek[128], why[256];
    snprintf(tk, sizeof tk, "%s.Target", key);
    snprintf(ek, sizeof ek, "%s.Etcd", key);
    const char *target = conf_str(c, tk, NULL);
    etcd_target et;
    int block = target ? 0 : etcd_target_from_conf(c, ek, &et, why, sizeof why);
    if (block < 0) {
        snprintf(err, errlen, "%s: %s: %s", file, ek, why);
        return -1;
    }
    if (block) {
        if (etcd_target_string(&et, out, outlen) != 0) {
            snprintf(err, errlen, "%s: %s.Etcd: the target is longer than %zu bytes", file, key,
                     outlen - 1);
            return -1;
        }
        return 0;
    }
    if (!target) target = def;
    if (etcd_is_target(target)) {
        if (etcd_target_parse(target, &et, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s: %s: %s", file, tk, why);
            return -1;
        }
        return copy_value(out, outlen, target, file, tk, err, errlen);
    }
    if (!*target || strpbrk(target, " \t\r\n")) {
        snprintf(err, errlen, "%s: %s: '%s' is not a host:port", file, tk, target);
        return -1;
    }
    /* The coordinator splits a gRPC branch URL at its first '/' into target
     * and method (dtm-protocol.md §3), so the target itself cannot hold one
     * ("dns:///host:port" would be cut in the wrong place). */
    if (strchr(target, '/')) {
        snprintf(err, errlen, "%s: %s: '%s' contains '/': the coordinator splits branch URLs "
                 "at the first '/', so write host:port or etcd://host:port/key", file, tk, target);
        return -1;
    }
    return copy_value(out, outlen, target, file, tk, err, errlen);
}

/* Reads an integer key into an int. */
static int read_int(const conf *c, const char *key, int def, int min, int max, int *out,
                    char *err, size_t errlen) {
    int64_t v;
    if (conf_int(c, key, def, min, max, &v, err, errlen) != 0) return -1;
    *out = (int)v;
    return 0;
}

int api_config_load(const char *path, api_config *cfg, char *err, size_t errlen) {
    memset(cfg, 0, sizeof *cfg);
    const char *file = path ? path : "(environment)";
    conf *c = path ? conf_load(path, err, errlen) : conf_empty();
    if (!c) return -1;
    int rc = -1;

    log_level level;
    const char *lvl = conf_str(c, "LogLevel", "info");
    if (log_parse_level(lvl, &level) != 0) {
        snprintf(err, errlen, "%s: LogLevel: '%s' is not debug, info, warn or error", file, lvl);
        goto out;
    }
    log_set_level(level);

    if (copy_value(cfg->name, sizeof cfg->name, conf_str(c, "Name", "order-api"), file, "Name",
                   err, errlen) != 0)
        goto out;
    const char *host = conf_str(c, "Host", "127.0.0.1");
    int port;
    if (read_int(c, "Port", 8889, 1, 65535, &port, err, errlen) != 0 ||
        read_int(c, "Threads", 64, 1, 1024, &cfg->threads, err, errlen) != 0)
        goto out;
    if (!*host || strlen(host) > 255 || strpbrk(host, " /,")) {
        snprintf(err, errlen, "%s: Host: '%s' is not an address", file, host);
        goto out;
    }
    snprintf(cfg->listen_on, sizeof cfg->listen_on, "%s:%d", host, port);

    /* ---- the coordinator ---- */
    /* host:port, or the coordinator's registry key as upstream hard-codes
     * it: etcd://localhost:2379/dtmservice. */
    const char *dt = conf_str(c, "Dtm.Target", "127.0.0.1:36790");
    etcd_target dtm_et;
    char why[256];
    if (!*dt) {
        snprintf(err, errlen, "%s: Dtm.Target: give the coordinator's gRPC host:port or "
                 "etcd://host:2379/dtmservice", file);
        goto out;
    }
    if (etcd_is_target(dt) && etcd_target_parse(dt, &dtm_et, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s: Dtm.Target: %s", file, why);
        goto out;
    }
    if (copy_value(cfg->dtm_target, sizeof cfg->dtm_target, dt, file, "Dtm.Target", err,
                   errlen) != 0)
        goto out;
    const char *ht = conf_str(c, "Dtm.HttpTarget", "http://127.0.0.1:36789/api/dtmsvr");
    if (strncmp(ht, "http://", 7) != 0 || strlen(ht) <= 7) {
        snprintf(err, errlen, "%s: Dtm.HttpTarget: '%s' is not an http:// URL "
                 "(e.g. http://127.0.0.1:36789/api/dtmsvr)", file, ht);
        goto out;
    }
    if (copy_value(cfg->dtm_http, sizeof cfg->dtm_http, ht, file, "Dtm.HttpTarget", err,
                   errlen) != 0)
        goto out;
    size_t hl = strlen(cfg->dtm_http);
    while (hl > 7 && cfg->dtm_http[hl - 1] == '/') cfg->dtm_http[--hl] = '\0';
    if (read_int(c, "Dtm.Timeout", 3000, 100, 600000, &cfg->dtm_timeout_ms, err, errlen) != 0 ||
        read_int(c, "Dtm.WaitTimeout", 30000, 100, 600000, &cfg->dtm_wait_timeout_ms, err,
                 errlen) != 0)
        goto out;
    if (conf_bool(c, "Dtm.LocalGid", 0, &cfg->local_gid, err, errlen) != 0) goto out;

    /* ---- the branch services, as the coordinator will reach them ---- */
    if (build_target(c, file, "OrderRpcConf", "127.0.0.1:9001", cfg->order_target,
                     sizeof cfg->order_target, err, errlen) != 0 ||
        build_target(c, file, "StockRpcConf", "127.0.0.1:9002", cfg->stock_target,
                     sizeof cfg->stock_target, err, errlen) != 0)
        goto out;

    /* ---- DB: read by earlier versions, now order-srv's alone ---- */
    const char *ds = conf_str(c, "DB.DataSource", NULL);
    cfg->ignored_db = ds && *ds;
    rc = 0;
out:
    conf_free(c);
    return rc;
}
