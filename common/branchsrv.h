/* branchsrv: the main() of a saga's branch service (order-srv, stock-srv).
 * It reads the go-zero-style config (-f etc/<name>.yaml), opens the one
 * database pool, lets the service register its gRPC methods, registers the
 * server in etcd when the config has an Etcd block, and serves until
 * SIGTERM/SIGINT.
 *
 * Config keys: Name, ListenOn, Threads (16), LogLevel (info),
 * DB.DataSource (required), DB.MaxConns (16), BarrierTable
 * (dtm_barrier.barrier), Etcd.Hosts + Etcd.Key (register in etcd as go-zero
 * does; common/etcd.h). Each can be overridden from the environment
 * (LISTEN_ON, DB_DATA_SOURCE, ETCD_HOSTS, ETCD_KEY, ...; see common/conf.h).
 * Exit status: 0 after a clean stop, 2 for a bad command line or config,
 * 1 when the server cannot start. */
#ifndef CDTM_BRANCHSRV_H
#define CDTM_BRANCHSRV_H

#include <stddef.h>

#include "db.h"
#include "rpcsrv.h"

/* How long a call waits for a pool connection. */
#define BRANCHSRV_ACQUIRE_TIMEOUT_MS 3000

typedef struct {
    const char *prog;        /* "order-srv": messages, and Name's default */
    const char *config;      /* "etc/order.yaml": the config read without -f */
    const char *service;     /* "pb.order": named in the log */
    /* Adds the service's methods to srv, served with connections of pool
     * (which outlives the server). Returns 0, or -1 with err set. */
    int (*register_methods)(rpcsrv *srv, db_pool *pool, char *err, size_t errlen);
} branchsrv_spec;

/* Runs the service; returns main()'s exit status (exits with 2 itself on a
 * bad command line or config). */
int branchsrv_main(const branchsrv_spec *spec, int argc, char **argv);

#endif
