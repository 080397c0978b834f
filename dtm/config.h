/* config.h: the coordinator's configuration: DTM's conf.yml keys
 * (dtm-protocol.md §7), read from `dtm -c conf.yml` and overridden by DTM's
 * environment variables (STORE_HOST, STORE_PORT, HTTP_PORT, ...; see conf.h).
 *
 * Differences from DTM, each in the README: Store.Driver must be "mysql"
 * (cdtm has no boltdb/redis store); RetryInterval may be as low as 1 s (DTM
 * requires >= 10) so tests and demos recover fast; BindAddress (cdtm's own
 * key, default 127.0.0.1) chooses the listening address; MicroService.Target
 * must be an etcd:// (or discov://) target, since cdtm's registry is etcd. */
#ifndef CDTM_CONFIG_H
#define CDTM_CONFIG_H

#include <stddef.h>

typedef struct {
    char store_driver[16];   /* Store.Driver: must be mysql */
    char store_host[256];    /* Store.Host (default 127.0.0.1) */
    int store_port;          /* Store.Port (3306) */
    char store_user[128];    /* Store.User (root) */
    char store_password[128];/* Store.Password ("") */
    char store_db[128];      /* Store.Db (dtm) */
    int store_max_conns;     /* Store.MaxOpenConns (cdtm default 32) */
    char bind_address[64];   /* BindAddress (cdtm: 127.0.0.1; 0.0.0.0 in containers) */
    int http_port;           /* HttpPort (36789) */
    int grpc_port;           /* GrpcPort (36790) */
    int retry_interval;      /* RetryInterval (10), seconds */
    int timeout_to_fail;     /* TimeoutToFail (35) */
    int request_timeout;     /* RequestTimeout (3) */
    int trans_cron_interval; /* TransCronInterval (3) */
    char log_level[16];      /* LogLevel (info) */
    char ms_driver[64];      /* MicroService.Driver ("default"; or dtm-driver-gozero) */
    char ms_target[256];     /* MicroService.Target: with dtm-driver-gozero, where the
                                coordinator registers (etcd://host:2379/dtmservice) */
    char ms_endpoint[256];   /* MicroService.EndPoint: the value registered, verbatim */
    int workers;             /* Workers (cdtm: 16) background saga workers */
    int http_threads;        /* HttpThreads (cdtm: 64): HTTP requests served at once; civetweb
                                holds a thread per keep-alive connection */
    int grpc_threads;        /* GrpcThreads (cdtm: 64): gRPC calls served at once; a Submit
                                with WaitResult holds one for the saga's run */
} dtm_config;

/* Loads `path` (NULL: defaults and environment only). Returns 0, or -1 with
 * `err` naming the file and the key that is wrong. */
int dtm_config_load(const char *path, dtm_config *cfg, char *err, size_t errlen);

#endif
