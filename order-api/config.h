/* config.h: order-api's configuration, in go-zero's YAML (order-api -f
 * etc/order.yaml), with environment overrides from common/conf.h
 * (DTM_TARGET, DTM_HTTP_TARGET, ORDER_RPC_CONF_TARGET, STOCK_RPC_CONF_TARGET,
 * ORDER_RPC_CONF_ETCD_HOSTS, ORDER_RPC_CONF_ETCD_KEY, PORT, ...).
 *
 *   Name, Host (127.0.0.1), Port (8889), Threads (64), LogLevel (info)
 *   Dtm.Target      (127.0.0.1:36790)  the coordinator's gRPC address, or
 *                   where it registered: etcd://127.0.0.1:2379/dtmservice
 *   Dtm.HttpTarget  (http://127.0.0.1:36789/api/dtmsvr)  its HTTP API, for query
 *   Dtm.Timeout     (3000 ms)  NewGid, Submit and query
 *   Dtm.WaitTimeout (30000 ms) a Submit with WaitResult (?wait=true)
 *   Dtm.LocalGid    (false) true: make each saga's gid here (gid.h) instead of
 *                   asking the coordinator's NewGid, one RPC fewer per order
 *   OrderRpcConf, StockRpcConf: go-zero's RpcClientConf, either
 *     Target (127.0.0.1:9001 / 127.0.0.1:9002, or etcd://127.0.0.1:2379/order.rpc)
 *     or Etcd: {Hosts: [127.0.0.1:2379], Key: order.rpc} -> etcd://127.0.0.1:2379/order.rpc
 *   DB              ignored, with a warning: GET /order/{gid} asks order-srv
 *                   (pb.order/get) for the order row; order-api opens no database
 *
 * A target is where the COORDINATOR reaches a service: order-api writes it
 * into the saga's branch URLs (demo.md §5). order-api itself calls only the
 * order target, for pb.order/get, so it must be reachable from order-api too. */
#ifndef ORDER_API_CONFIG_H
#define ORDER_API_CONFIG_H

#include <stddef.h>

#define API_TARGET_MAX 512

typedef struct {
    char name[64];
    char listen_on[300];              /* "Host:Port" for civetweb */
    int threads;                      /* civetweb workers: requests served at once */
    char dtm_target[API_TARGET_MAX];  /* gRPC: NewGid, Submit */
    char dtm_http[API_TARGET_MAX];    /* HTTP base, without a trailing '/' */
    int dtm_timeout_ms;
    int dtm_wait_timeout_ms;
    int local_gid;                    /* make gids here, not with NewGid */
    char order_target[API_TARGET_MAX];/* prefix of the order branch URLs */
    char stock_target[API_TARGET_MAX];/* prefix of the stock branch URLs */
    int ignored_db;                   /* DB.DataSource was given (and is not used) */
} api_config;

/* Loads `path` (NULL: defaults and the environment only) into *cfg and sets
 * the log level. Returns 0, or -1 with `err` naming the file and the key. */
int api_config_load(const char *path, api_config *cfg, char *err, size_t errlen);

#endif
