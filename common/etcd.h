/* etcd.h: service discovery on etcd, in the layout go-zero and DTM's go-zero
 * driver use (demo.md §8), spoken over etcd's v3 JSON gateway with
 * common/httpcli and jansson (environment.md §7): no etcd client library.
 *
 *   registration  a server puts "<Key>/<lease id in decimal>" -> "host:port"
 *                 under a 10 s lease, and a background thread keeps the lease
 *                 alive (every TTL/3), registers again when the lease is lost
 *                 and revokes it on shutdown (etcd_reg_new/etcd_reg_free);
 *   resolution    a client reads the prefix "<Key>/" of the target
 *                 "etcd://h1,h2/<Key>", at most every second or after a call
 *                 failed, and picks the instances round-robin
 *                 (etcd_resolver_pick);
 *   branch URLs   "etcd://h1,h2/order.rpc/pb.order/create" is cut at the
 *                 SECOND '/' of its path into the server
 *                 "etcd://h1,h2/order.rpc" and the method "/pb.order/create",
 *                 as DTM's go-zero driver does (etcd_split_branch_url).
 *
 * etcd being down is never fatal: registration retries in the background and
 * the resolver keeps the last address list it read. With several hosts, each
 * request tries them in turn, starting with the one that answered last.
 * "discov://" is read as "etcd://", as go-zero does. */
#ifndef CDTM_ETCD_H
#define CDTM_ETCD_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define ETCD_HOSTS_MAX 8   /* etcd endpoints in one target */
#define ETCD_HOST_MAX 256  /* "host:port" of one endpoint */
#define ETCD_KEY_MAX 256   /* the registry key ("order.rpc") */
#define ETCD_ADDR_MAX 256  /* a registered value ("10.0.0.5:9001") */
#define ETCD_TTL_S 10      /* go-zero's discov.TimeToLive */
#define ETCD_LIST_MAX 64   /* instances read per key (go-zero keeps a subset of 32) */

/* A registry target: where etcd is and under which key the service lives. */
typedef struct {
    size_t nhosts;
    char hosts[ETCD_HOSTS_MAX][ETCD_HOST_MAX]; /* "127.0.0.1:2379" */
    char key[ETCD_KEY_MAX];                    /* "order.rpc": no '/', never empty */
} etcd_target;

/* 1 when `s` starts with a registry scheme cdtm resolves ("etcd://",
 * "discov://"), else 0. */
int etcd_is_target(const char *s);

/* Parses "etcd://h1:2379,h2:2379/key" into *out. Returns 0, or -1 with `err`
 * naming the problem: another scheme, no host, too many hosts, an empty key,
 * a key holding '/' (DTM's driver could not split branch URLs built on it;
 * go-zero PR #2937), or a query ("?user=..": etcd authentication is not
 * supported). */
int etcd_target_parse(const char *target, etcd_target *out, char *err, size_t errlen);

/* Fills *out from an Etcd block's Hosts and Key, checking them as
 * etcd_target_parse() does. Returns 0, or -1 with `err` filled ("Etcd.Hosts
 * is empty", "Etcd.Key is required", ...). */
int etcd_target_make(const char *const *hosts, size_t nhosts, const char *key, etcd_target *out,
                     char *err, size_t errlen);

/* Reads the Etcd block `block` ("Etcd", "OrderRpcConf.Etcd") of a config:
 * its Hosts and Key, as etcd_target_make() checks them. Returns 1 with *out
 * filled, 0 when the block is absent, -1 with `err` naming the problem. */
int etcd_target_from_conf(const conf *c, const char *block, etcd_target *out, char *err,
                          size_t errlen);

/* Writes t as go-zero's BuildTarget() does: "etcd://h1,h2/key". Returns 0, or
 * -1 when it does not fit in outlen. */
int etcd_target_string(const etcd_target *t, char *out, size_t outlen);

/* Splits a gRPC branch URL into the server target and the method path, as
 * DTM's drivers do (ParseServerMethod):
 *   - with a scheme, the path is cut at its SECOND '/':
 *     "etcd://h1,h2/order.rpc/pb.order/create" -> "etcd://h1,h2/order.rpc" +
 *     "/pb.order/create";
 *   - without one, the URL is cut at the first '/':
 *     "127.0.0.1:9001/pb.order/create" -> "127.0.0.1:9001" + "/pb.order/create".
 * Returns 0 with both parts written (NUL-terminated), or -1 with `err` filled
 * when there is nothing before or after the cut, or a part does not fit.
 * Pure string work: no network, no allocation. */
int etcd_split_branch_url(const char *url, char *server, size_t serverlen, char *method,
                          size_t methodlen, char *err, size_t errlen);

/* The address a server registers for `listen_on`, as go-zero's
 * figureOutListenOn(): a host of 0.0.0.0 (or none, or [::]) becomes the
 * environment variable POD_IP, else the first non-loopback IPv4 address of an
 * interface that is up; a concrete host is kept. A port of 0 becomes
 * `bound_port` (cdtm: the port actually bound). Returns 0, or -1 with `err`
 * filled when listen_on has no port or the result does not fit. */
int etcd_advertise_addr(const char *listen_on, int bound_port, char *out, size_t outlen,
                        char *err, size_t errlen);

/* ---- reading the registry ---- */

/* Reads the values registered under "<t->key>/" once (sorted, duplicates
 * removed, at most ETCD_LIST_MAX) into *addrs, an array of strings that the
 * caller frees with etcd_addrs_free(). The hosts of t are tried in turn from
 * *host (NULL: the first), which is set to the one that answered; each waits
 * at most timeout_ms (<= 0: 2 s). Returns the count (0..), or -1 with `err`
 * filled when no host answered. */
int etcd_list(const etcd_target *t, size_t *host, int timeout_ms, char ***addrs, char *err,
              size_t errlen);
void etcd_addrs_free(char **addrs, int n);

/* ---- registration ---- */

typedef struct etcd_reg etcd_reg;

/* Starts registering `value` under t->key and returns at once: a background
 * thread grants the lease, puts "<key>/<lease>" and keeps it alive, logging
 * (never failing) while etcd cannot be reached. Returns NULL with `err`
 * filled only when memory or a thread is missing. */
etcd_reg *etcd_reg_new(const etcd_target *t, const char *value, char *err, size_t errlen);

/* Registers a gRPC server as go-zero's zrpc does: the address
 * etcd_advertise_addr() makes of listen_on and the port it bound, under t,
 * with etcd_reg_new(). NULL with `err` filled when that fails. */
etcd_reg *etcd_reg_server(const etcd_target *t, const char *listen_on, int bound_port, char *err,
                          size_t errlen);

/* The lease the key is registered under now, or 0 while not registered. */
int64_t etcd_reg_lease(etcd_reg *r);

/* Stops the thread, revokes the lease (which deletes the key; waits at most
 * about a second for etcd) and frees r. NULL is a no-op. */
void etcd_reg_free(etcd_reg *r);

/* ---- resolution (etcd_resolver.c): a cache over etcd_list() ---- */

typedef struct etcd_resolver etcd_resolver;

/* A resolver for any number of targets (the last 64 used are cached); safe
 * to use from many threads. NULL when out of memory. */
etcd_resolver *etcd_resolver_new(void);
void etcd_resolver_free(etcd_resolver *r);

/* Picks an instance of `target` ("etcd://h1,h2/key") round-robin, skipping
 * instances reported down in the last ETCD_TTL_S seconds unless all are.
 * Reads etcd when the list is older than a second (callers wait only for the
 * first read; later reads go on while others keep using the old list). When
 * etcd cannot be reached the last list is used. Returns 0 with the
 * "host:port" in `addr`, or -1 with `err` filled (a bad target, etcd never
 * reached, or no instance registered under "<key>/"). */
int etcd_resolver_pick(etcd_resolver *r, const char *target, char *addr, size_t addrlen,
                       char *err, size_t errlen);

/* Tells the resolver that `addr` of `target` could not be reached
 * (UNAVAILABLE): it is skipped for a while and the list is read again at the
 * next pick. */
void etcd_resolver_report_down(etcd_resolver *r, const char *target, const char *addr);

#endif
