/* check.c: the invariant check that ends every benchmark run (bench.h,
 * docs/benchmarks.md "Invariants"). Speed means nothing if a transaction was
 * lost or applied twice, so after the place-order runs (mode c) it reads the
 * coordinator's store and both services' databases (one server, as root)
 * and checks:
 *
 *   1. every place-order saga is final (succeed or failed), waiting a while
 *      for any that a retry still has to finish;
 *   2. every succeeded gid has exactly one live order row (row_state 0) of
 *      the bench's goods id;
 *   3. no live order row belongs to a saga that did not succeed (a failed
 *      saga's order must have been cancelled by createRollback);
 *   4. the stock of the goods fell by exactly the sum of the live orders'
 *      nums since the run began (no deduct lost, none applied twice);
 *   5. every succeeded gid has its two action barrier rows (01 and 02);
 *   6. every success the load generator saw is a succeeded saga in the store.
 *
 * The place-order sagas are recognised by their first action's URL
 * (".../pb.order/create"); the bench's MariaDB is private and emptied by
 * scripts/bench.sh before a run, so they are all this run's. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* The place-order sagas: the gids whose action 01 is an order create. */
#define ORDER_SAGAS                                                                        \
    "(SELECT b.gid FROM dtm.trans_branch_op b WHERE b.op='action' AND b.branch_id='01'"   \
    " AND b.url LIKE '%/pb.order/create')"

static int q_int(db_conn *c, const char *sql, const db_arg *a, size_t na, int64_t *out, char *err,
                 size_t errlen) {
    int found = 0;
    *out = 0;
    return db_query_int64(c, sql, a, na, out, &found, err, errlen) == DB_OK ? 0 : -1;
}

typedef struct {
    int64_t pending, succeed, failed, missing, orphans, live, live_sum, stock, no_barrier;
} check_counts;

static int read_counts(db_conn *c, int64_t goods, check_counts *k, char *err, size_t errlen) {
    db_arg g[1] = {DB_INT(goods)};
    if (q_int(c,
              "SELECT COUNT(*) FROM dtm.trans_global WHERE status NOT IN ('succeed','failed')"
              " AND gid IN " ORDER_SAGAS,
              NULL, 0, &k->pending, err, errlen) ||
        q_int(c, "SELECT COUNT(*) FROM dtm.trans_global WHERE status='succeed' AND gid IN " ORDER_SAGAS,
              NULL, 0, &k->succeed, err, errlen) ||
        q_int(c, "SELECT COUNT(*) FROM dtm.trans_global WHERE status='failed' AND gid IN " ORDER_SAGAS,
              NULL, 0, &k->failed, err, errlen) ||
        q_int(c,
              "SELECT COUNT(*) FROM dtm.trans_global t WHERE t.status='succeed' AND t.gid IN "
              ORDER_SAGAS " AND NOT EXISTS (SELECT 1 FROM `dtm-gozero-order`.`order` o"
              " WHERE o.gid=t.gid AND o.row_state=0 AND o.goods_id=?)",
              g, 1, &k->missing, err, errlen) ||
        q_int(c,
              "SELECT COUNT(*) FROM `dtm-gozero-order`.`order` o LEFT JOIN dtm.trans_global t"
              " ON t.gid=o.gid WHERE o.goods_id=? AND o.row_state=0"
              " AND (t.gid IS NULL OR t.status<>'succeed')",
              g, 1, &k->orphans, err, errlen) ||
        q_int(c, "SELECT COUNT(*) FROM `dtm-gozero-order`.`order` WHERE goods_id=? AND row_state=0",
              g, 1, &k->live, err, errlen) ||
        q_int(c,
              "SELECT COALESCE(SUM(num),0) FROM `dtm-gozero-order`.`order`"
              " WHERE goods_id=? AND row_state=0",
              g, 1, &k->live_sum, err, errlen) ||
        q_int(c, "SELECT num FROM `dtm-gozero-stock`.`stock` WHERE goods_id=?", g, 1, &k->stock,
              err, errlen) ||
        q_int(c,
              "SELECT COUNT(*) FROM dtm.trans_global t WHERE t.status='succeed' AND t.gid IN "
              ORDER_SAGAS " AND (SELECT COUNT(*) FROM dtm_barrier.barrier x WHERE x.gid=t.gid"
              " AND x.op='action' AND x.branch_id IN ('01','02')) <> 2",
              NULL, 0, &k->no_barrier, err, errlen))
        return -1;
    return 0;
}

int bench_check_orders(db_pool *p, int64_t goods_id, int64_t initial_stock, int64_t client_ok,
                       int wait_s, const char *json_path) {
    char err[512];
    db_conn *c = db_acquire(p, 5000, NULL, err, sizeof err);
    if (!c) {
        fprintf(stderr, "check: %s\n", err);
        return -1;
    }
    check_counts k;
    memset(&k, 0, sizeof k);
    double deadline = bench_now_s() + wait_s;
    int rc;
    /* A saga whose branch failed transiently is finished by the cron: poll. */
    while ((rc = read_counts(c, goods_id, &k, err, sizeof err)) == 0 && k.pending > 0 &&
           bench_now_s() < deadline)
        usleep(500 * 1000);
    db_release(p, c);
    if (rc != 0) {
        fprintf(stderr, "check: %s\n", err);
        return -1;
    }
    int64_t decrease = initial_stock - k.stock;
    struct {
        const char *what;
        int ok;
    } inv[] = {
        {"every place-order saga is final", k.pending == 0},
        {"one live order row per succeeded gid", k.missing == 0 && k.live == k.succeed},
        {"no live order of a saga that did not succeed", k.orphans == 0},
        {"stock decrease == sum of live order nums", decrease == k.live_sum},
        {"both action barrier rows per succeeded gid", k.no_barrier == 0},
        {"every client-seen success is a succeeded saga", client_ok <= k.succeed},
    };
    size_t ninv = sizeof inv / sizeof inv[0];
    int broken = 0;
    printf("invariants (goods %" PRId64 "): sagas succeed %" PRId64 ", failed %" PRId64
           ", not final %" PRId64 "; live orders %" PRId64 " (sum %" PRId64 "), stock %" PRId64
           " -> %" PRId64 " (decrease %" PRId64 "); client saw %" PRId64 " successes\n",
           goods_id, k.succeed, k.failed, k.pending, k.live, k.live_sum, initial_stock, k.stock,
           decrease, client_ok);
    for (size_t i = 0; i < ninv; i++) {
        printf("  [%s] %s\n", inv[i].ok ? "ok" : "BROKEN", inv[i].what);
        if (!inv[i].ok) broken = 1;
    }
    if (json_path) {
        FILE *f = fopen(json_path, "w");
        if (f) {
            fprintf(f,
                    "{\"goods_id\":%" PRId64 ",\"succeed\":%" PRId64 ",\"failed\":%" PRId64
                    ",\"not_final\":%" PRId64 ",\"missing_orders\":%" PRId64
                    ",\"orphan_orders\":%" PRId64 ",\"live_orders\":%" PRId64
                    ",\"live_sum\":%" PRId64 ",\"initial_stock\":%" PRId64 ",\"stock\":%" PRId64
                    ",\"stock_decrease\":%" PRId64 ",\"without_barrier\":%" PRId64
                    ",\"client_ok\":%" PRId64 ",\"ok\":%s,\"invariants\":[",
                    goods_id, k.succeed, k.failed, k.pending, k.missing, k.orphans, k.live,
                    k.live_sum, initial_stock, k.stock, decrease, k.no_barrier, client_ok,
                    broken ? "false" : "true");
            for (size_t i = 0; i < ninv; i++)
                fprintf(f, "%s{\"what\":\"%s\",\"ok\":%s}", i ? "," : "", inv[i].what,
                        inv[i].ok ? "true" : "false");
            fprintf(f, "]}\n");
            fclose(f);
        }
    }
    return broken;
}
