/* test_barrier_e2e.c: the sub-transaction barrier end to end, through the
 * real processes: order-srv and stock-srv as child processes on the test
 * MariaDB ($MARIADB_PORT), called over gRPC with the metadata DTM sends
 * (dtm-gid, dtm-trans_type, dtm-branch_id, dtm-op, dtm-dtm), and the
 * coordinator `dtm` (its own store database, created with `dtm -r`).
 *
 * test_services.c checks each service's answers one call at a time (its
 * table service_cases.json). This test checks what a whole saga's rows look
 * like when DTM's delivery goes wrong across BOTH services:
 *   - duplicate_action_runs_once: every action delivered twice, and eight
 *     times at once: one order, stock taken once;
 *   - duplicate_compensation_undoes_once: every compensation delivered
 *     twice, and eight times at once: the order cancelled, stock given back
 *     exactly once;
 *   - late_action_after_compensation_is_skipped: the compensations arrive
 *     first (null compensations), then the "hanging" actions: no order, no
 *     stock taken, and the barrier rows that block them say so;
 *   - action_and_compensation_race: for 20 sagas each action and its
 *     compensation are sent at the same moment: whichever wins, no order
 *     stays active and no unit of stock is lost;
 *   - coordinator_saga_replayed_by_hand: a saga that succeeds and one that
 *     fails, driven by the real coordinator; then every branch call it made
 *     is sent again by hand, as a late duplicate from the network would be:
 *     the rows do not move, and a re-submit of the finished gid is refused.
 * Gids are "be-<pid>-..."; goods ids 8000000 + (pid % 100000) * 10 + k. */
#include <grpc/status.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dtmgimp.pb-c.h"
#include "harness.h"
#include "order.pb-c.h"
#include "rpccli.h"
#include "stock.pb-c.h"

#define STORE_DB "dtm_test_barrier_e2e"
#define CALL_MS 15000        /* > the services' 3 s pool wait */
#define CONCURRENT 8         /* copies of one call delivered at the same time */
#define RACES 20             /* sagas in action_and_compensation_race */

static struct {
    int db_port, order_port, stock_port, dtm_grpc, dtm_http;
    pid_t order_pid, stock_pid, dtm_pid;
    char order_target[64], stock_target[64], dtm_target[64];
    char prefix[32];         /* "be-<pid>-" */
    int64_t goods;           /* base of this run's goods ids */
    db_pool *root;
    rpccli *cli;
    char logdir[1024];
    char *confs[3];
} g;

static const char *gid_of(const char *name, char *buf, size_t len) {
    snprintf(buf, len, "%s%s", g.prefix, name);
    return buf;
}

/* ---- rows -------------------------------------------------------------------- */

static int64_t stock_of(int64_t goods) {
    return h_db_int(g.root, -999, "SELECT num FROM `dtm-gozero-stock`.stock WHERE goods_id=%" PRId64,
                    goods);
}

static void set_stock(int64_t goods, int64_t num) {
    h_db_exec(g.root, "INSERT INTO `dtm-gozero-stock`.stock (goods_id, num) VALUES (%" PRId64
              ", %" PRId64 ") ON DUPLICATE KEY UPDATE num=VALUES(num)", goods, num);
}

static int64_t orders_of(const char *gid) {
    return h_db_int(g.root, -1, "SELECT COUNT(*) FROM `dtm-gozero-order`.`order` WHERE gid='%s'", gid);
}

/* -99 when there is no order row. */
static int64_t row_state_of(const char *gid) {
    return h_db_int(g.root, -99, "SELECT row_state FROM `dtm-gozero-order`.`order` WHERE gid='%s'",
                    gid);
}

static int64_t barrier_rows(const char *gid) {
    return h_db_int(g.root, -1, "SELECT COUNT(*) FROM dtm_barrier.barrier WHERE gid='%s'", gid);
}

/* Rows of (gid, branch, op) inserted by `reason` (the op that wrote them). */
static int64_t barrier_row(const char *gid, const char *branch, const char *op, const char *reason) {
    return h_db_int(g.root, -1, "SELECT COUNT(*) FROM dtm_barrier.barrier WHERE gid='%s' AND "
                    "branch_id='%s' AND op='%s' AND reason='%s'", gid, branch, op, reason);
}

/* ---- branch calls, as DTM makes them ------------------------------------------- */

typedef enum { CREATE, CREATE_ROLLBACK, DEDUCT, DEDUCT_ROLLBACK } branch_call;

static const struct {
    const char *method, *branch_id, *op;
    int stock; /* 1: stock-srv, 0: order-srv */
} CALLS[] = {
    [CREATE] = {"/pb.order/create", "01", "action", 0},
    [CREATE_ROLLBACK] = {"/pb.order/createRollback", "01", "compensate", 0},
    [DEDUCT] = {"/pb.stock/deduct", "02", "action", 1},
    [DEDUCT_ROLLBACK] = {"/pb.stock/deductRollback", "02", "compensate", 1},
};

/* The request of one call: CreateReq for order-srv, DecuctReq for stock-srv. */
static size_t pack_call(branch_call c, int64_t user, int64_t goods, int64_t num, uint8_t *buf) {
    if (CALLS[c].stock) {
        Pb__DecuctReq m = PB__DECUCT_REQ__INIT;
        m.goodsid = goods;
        m.num = num;
        return pb__decuct_req__pack(&m, buf);
    }
    Pb__CreateReq m = PB__CREATE_REQ__INIT;
    m.userid = user;
    m.goodsid = goods;
    m.num = num;
    return pb__create_req__pack(&m, buf);
}

/* Sends raw request bytes to `target` + `method` with DTM's metadata and
 * returns the gRPC status. DTM retries a call that answers UNAVAILABLE (a
 * database hiccup such as a deadlock between racing twins), so this does too,
 * a few times, the way the coordinator would. */
static int deliver_raw(const char *target, const char *method, const char *gid, const char *branch_id,
                       const char *op, const uint8_t *req, size_t len) {
    rpc_md md[] = {{"dtm-gid", gid}, {"dtm-trans_type", "saga"}, {"dtm-branch_id", branch_id},
                   {"dtm-op", op}, {"dtm-dtm", ""}};
    int status = -1;
    for (int attempt = 0; attempt < 5; attempt++) {
        rpccli_result r;
        status = rpccli_call(g.cli, target, method, md, 5, req, len, CALL_MS, &r);
        if (status != GRPC_STATUS_OK)
            fprintf(stderr, "  %s %s %s/%s: status %d \"%s\"%s\n", method, gid, branch_id, op,
                    status, r.message, status == GRPC_STATUS_UNAVAILABLE ? " (retrying)" : "");
        rpccli_result_free(&r);
        if (status != GRPC_STATUS_UNAVAILABLE) break;
        h_sleep_ms(100);
    }
    return status;
}

static int deliver(branch_call c, const char *gid, int64_t user, int64_t goods, int64_t num) {
    uint8_t buf[64];
    size_t len = pack_call(c, user, goods, num, buf);
    return deliver_raw(CALLS[c].stock ? g.stock_target : g.order_target, CALLS[c].method, gid,
                       CALLS[c].branch_id, CALLS[c].op, buf, len);
}

/* Several deliveries started at the same moment (threads wait on a barrier). */
typedef struct {
    branch_call call;
    const char *gid;
    int64_t user, goods, num;
    int status;
    pthread_barrier_t *start;
} delivery;

static void *deliver_thread(void *ud) {
    delivery *d = ud;
    pthread_barrier_wait(d->start);
    d->status = deliver(d->call, d->gid, d->user, d->goods, d->num);
    return NULL;
}

/* Runs the n deliveries at once and returns how many did not answer OK. */
static int deliver_all_at_once(delivery *ds, size_t n) {
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n);
    pthread_t *th = calloc(n, sizeof *th);
    for (size_t i = 0; i < n; i++) {
        ds[i].start = &start;
        ds[i].status = -1;
        if (pthread_create(&th[i], NULL, deliver_thread, &ds[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            exit(2);
        }
    }
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        if (ds[i].status != GRPC_STATUS_OK) bad++;
    }
    free(th);
    pthread_barrier_destroy(&start);
    return bad;
}

/* ---- scenarios ------------------------------------------------------------------- */

static void duplicate_action_runs_once(void) {
    h_step("duplicate_action_runs_once");
    char gid[96];
    int64_t goods = g.goods + 1;
    set_stock(goods, 10);
    gid_of("dup-action", gid, sizeof gid);
    for (int k = 0; k < 2; k++) {
        CHECK_EQ_INT(deliver(CREATE, gid, 7, goods, 2), GRPC_STATUS_OK);
        CHECK_EQ_INT(deliver(DEDUCT, gid, 7, goods, 2), GRPC_STATUS_OK);
        CHECK_EQ_INT(orders_of(gid), 1);
        CHECK_EQ_INT(row_state_of(gid), 0);
        CHECK_EQ_INT(stock_of(goods), 8);
        CHECK_EQ_INT(barrier_rows(gid), 2); /* one "action" row per branch */
    }

    /* The same action, CONCURRENT copies at once: exactly one runs. */
    gid_of("dup-action-burst", gid, sizeof gid);
    delivery ds[2 * CONCURRENT];
    for (int i = 0; i < 2 * CONCURRENT; i++)
        ds[i] = (delivery){.call = i % 2 ? DEDUCT : CREATE, .gid = gid, .user = 7, .goods = goods,
                           .num = 3};
    CHECK_EQ_INT(deliver_all_at_once(ds, 2 * CONCURRENT), 0);
    CHECK_EQ_INT(orders_of(gid), 1);
    CHECK_EQ_INT(row_state_of(gid), 0);
    CHECK_EQ_INT(stock_of(goods), 5);
    CHECK_EQ_INT(barrier_rows(gid), 2);
}

static void duplicate_compensation_undoes_once(void) {
    h_step("duplicate_compensation_undoes_once");
    char gid[96];
    int64_t goods = g.goods + 2;
    set_stock(goods, 10);
    gid_of("dup-comp", gid, sizeof gid);
    CHECK_EQ_INT(deliver(CREATE, gid, 8, goods, 3), GRPC_STATUS_OK);
    CHECK_EQ_INT(deliver(DEDUCT, gid, 8, goods, 3), GRPC_STATUS_OK);
    CHECK_EQ_INT(stock_of(goods), 7);
    for (int k = 0; k < 2; k++) { /* DTM compensates in reverse order */
        CHECK_EQ_INT(deliver(DEDUCT_ROLLBACK, gid, 8, goods, 3), GRPC_STATUS_OK);
        CHECK_EQ_INT(deliver(CREATE_ROLLBACK, gid, 8, goods, 3), GRPC_STATUS_OK);
        CHECK_EQ_INT(stock_of(goods), 10);
        CHECK_EQ_INT(orders_of(gid), 1);
        CHECK_EQ_INT(row_state_of(gid), -1);
        CHECK_EQ_INT(barrier_rows(gid), 4); /* action + compensate, per branch */
    }

    /* CONCURRENT copies of each compensation at once: stock back exactly once. */
    gid_of("dup-comp-burst", gid, sizeof gid);
    CHECK_EQ_INT(deliver(CREATE, gid, 8, goods, 4), GRPC_STATUS_OK);
    CHECK_EQ_INT(deliver(DEDUCT, gid, 8, goods, 4), GRPC_STATUS_OK);
    CHECK_EQ_INT(stock_of(goods), 6);
    delivery ds[2 * CONCURRENT];
    for (int i = 0; i < 2 * CONCURRENT; i++)
        ds[i] = (delivery){.call = i % 2 ? DEDUCT_ROLLBACK : CREATE_ROLLBACK, .gid = gid, .user = 8,
                           .goods = goods, .num = 4};
    CHECK_EQ_INT(deliver_all_at_once(ds, 2 * CONCURRENT), 0);
    CHECK_EQ_INT(stock_of(goods), 10);
    CHECK_EQ_INT(row_state_of(gid), -1);
    CHECK_EQ_INT(barrier_rows(gid), 4);
}

static void late_action_after_compensation_is_skipped(void) {
    h_step("late_action_after_compensation_is_skipped");
    char gid[96];
    int64_t goods = g.goods + 3;
    set_stock(goods, 10);
    gid_of("hanging", gid, sizeof gid);
    /* The actions were lost in the network; DTM compensates them. */
    CHECK_EQ_INT(deliver(DEDUCT_ROLLBACK, gid, 9, goods, 4), GRPC_STATUS_OK);
    CHECK_EQ_INT(deliver(CREATE_ROLLBACK, gid, 9, goods, 4), GRPC_STATUS_OK);
    CHECK_EQ_INT(stock_of(goods), 10); /* null compensation: nothing was taken */
    CHECK_EQ_INT(orders_of(gid), 0);
    /* Each null compensation planted the action's row (reason compensate). */
    CHECK_EQ_INT(barrier_row(gid, "01", "action", "compensate"), 1);
    CHECK_EQ_INT(barrier_row(gid, "02", "action", "compensate"), 1);
    CHECK_EQ_INT(barrier_row(gid, "01", "compensate", "compensate"), 1);
    CHECK_EQ_INT(barrier_row(gid, "02", "compensate", "compensate"), 1);

    /* Now the "hanging" actions arrive: answered OK, and nothing happens. */
    for (int k = 0; k < 2; k++) {
        CHECK_EQ_INT(deliver(CREATE, gid, 9, goods, 4), GRPC_STATUS_OK);
        CHECK_EQ_INT(deliver(DEDUCT, gid, 9, goods, 4), GRPC_STATUS_OK);
        CHECK_EQ_INT(orders_of(gid), 0);
        CHECK_EQ_INT(stock_of(goods), 10);
        CHECK_EQ_INT(barrier_rows(gid), 4);
    }
    /* and the compensations once more: still nothing */
    CHECK_EQ_INT(deliver(CREATE_ROLLBACK, gid, 9, goods, 4), GRPC_STATUS_OK);
    CHECK_EQ_INT(deliver(DEDUCT_ROLLBACK, gid, 9, goods, 4), GRPC_STATUS_OK);
    CHECK_EQ_INT(orders_of(gid), 0);
    CHECK_EQ_INT(stock_of(goods), 10);
    CHECK_EQ_INT(barrier_rows(gid), 4);
}

static void action_and_compensation_race(void) {
    h_step("action_and_compensation_race");
    int64_t goods = g.goods + 4;
    set_stock(goods, 1000);
    static char gids[RACES][96];
    delivery ds[4 * RACES];
    for (int i = 0; i < RACES; i++) {
        char name[32];
        snprintf(name, sizeof name, "race-%02d", i);
        gid_of(name, gids[i], sizeof gids[i]);
        for (int c = 0; c < 4; c++)
            ds[4 * i + c] = (delivery){.call = (branch_call)c, .gid = gids[i], .user = 10 + i,
                                       .goods = goods, .num = 5};
    }
    CHECK_EQ_INT(deliver_all_at_once(ds, 4 * RACES), 0);
    /* Whichever of each pair ran first, the compensation has the last word:
     * no order may stay active and every unit taken must be back. */
    CHECK_EQ_INT(stock_of(goods), 1000);
    CHECK_EQ_INT(h_db_int(g.root, -1, "SELECT COUNT(*) FROM `dtm-gozero-order`.`order` WHERE gid "
                          "LIKE '%srace-%%' AND row_state <> -1", g.prefix), 0);
    int ran = 0, blocked = 0;
    for (int i = 0; i < RACES; i++) {
        CHECK_EQ_INT(barrier_rows(gids[i]), 4);
        if (orders_of(gids[i]) == 1) ran++;
        else blocked++;
    }
    printf("  %d creates ran before their compensation, %d were blocked by it\n", ran, blocked);
}

/* ---- the coordinator --------------------------------------------------------------- */

/* The saga order-api would submit, over the coordinator's gRPC API. */
static int submit_demo_saga(const char *gid, int64_t user, int64_t goods, int64_t num, char *msg,
                            size_t msglen) {
    char steps[512];
    snprintf(steps, sizeof steps,
             "[{\"action\":\"%s/pb.order/create\",\"compensate\":\"%s/pb.order/createRollback\"},"
             "{\"action\":\"%s/pb.stock/deduct\",\"compensate\":\"%s/pb.stock/deductRollback\"}]",
             g.order_target, g.order_target, g.stock_target, g.stock_target);
    uint8_t p1[64], p2[64];
    ProtobufCBinaryData pays[2] = {{pack_call(CREATE, user, goods, num, p1), p1},
                                   {pack_call(DEDUCT, user, goods, num, p2), p2}};
    Dtmgimp__DtmTransOptions o = DTMGIMP__DTM_TRANS_OPTIONS__INIT;
    o.waitresult = 1;
    Dtmgimp__DtmRequest r = DTMGIMP__DTM_REQUEST__INIT;
    r.gid = (char *)gid;
    r.transtype = "saga";
    r.steps = steps;
    r.n_binpayloads = 2;
    r.binpayloads = pays;
    r.transoptions = &o;
    uint8_t buf[1024];
    size_t len = dtmgimp__dtm_request__pack(&r, buf);
    rpccli_result res;
    int st = rpccli_call(g.cli, g.dtm_target, "/dtmgimp.Dtm/Submit", NULL, 0, buf, len, 30000, &res);
    snprintf(msg, msglen, "%s", res.message);
    rpccli_result_free(&res);
    return st;
}

/* 1 once the store says the saga has `status`; polls with a deadline. */
static int wait_status(const char *gid, const char *status) {
    long long deadline = h_now_ms() + 30000;
    do {
        if (h_db_int(g.root, 0, "SELECT COUNT(*) FROM " STORE_DB ".trans_global WHERE gid='%s' "
                     "AND status='%s'", gid, status) == 1)
            return 1;
        h_sleep_ms(100);
    } while (h_now_ms() < deadline);
    fprintf(stderr, "  saga %s did not become %s\n", gid, status);
    return 0;
}

/* One branch row of the coordinator's store, as it will call it. */
typedef struct {
    char branch_id[16], op[16], url[256];
    uint8_t data[256];
    size_t len;
} stored_branch;

typedef struct {
    stored_branch rows[8];
    size_t n;
} stored_saga;

static int hexval(char c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; }

static int read_branch_row(void *ud, size_t ncols, const db_val *cols) {
    stored_saga *s = ud;
    if (ncols != 4 || s->n == 8) return 1;
    stored_branch *b = &s->rows[s->n++];
    snprintf(b->branch_id, sizeof b->branch_id, "%s", cols[0].s);
    snprintf(b->op, sizeof b->op, "%s", cols[1].s);
    snprintf(b->url, sizeof b->url, "%s", cols[2].s);
    b->len = cols[3].len / 2 < sizeof b->data ? cols[3].len / 2 : sizeof b->data;
    for (size_t i = 0; i < b->len; i++)
        b->data[i] = (uint8_t)(hexval(cols[3].s[2 * i]) << 4 | hexval(cols[3].s[2 * i + 1]));
    return 0;
}

/* The branch rows of `gid`, in the order DTM keeps them (by id). */
static void read_saga(const char *gid, stored_saga *s) {
    memset(s, 0, sizeof *s);
    char err[256];
    db_conn *c = db_acquire(g.root, 10000, NULL, err, sizeof err);
    db_arg a[1] = {DB_STR(gid)};
    if (!c || db_query(c, "SELECT branch_id, op, url, HEX(bin_data) FROM " STORE_DB
                       ".trans_branch_op WHERE gid=? ORDER BY id", a, 1, read_branch_row, s, err,
                       sizeof err) != DB_OK) {
        fprintf(stderr, "read_saga %s: %s\n", gid, err);
        h_failures++;
    }
    if (c) db_release(g.root, c);
}

/* Sends the stored branch call again, exactly as the coordinator did: target
 * and method split at the URL's first '/', the stored payload as it is. */
static int replay(const char *gid, const stored_branch *b) {
    const char *slash = strchr(b->url, '/');
    if (!slash) return -1;
    char target[128];
    snprintf(target, sizeof target, "%.*s", (int)(slash - b->url), b->url);
    return deliver_raw(target, slash, gid, b->branch_id, b->op, b->data, b->len);
}

typedef struct {
    int64_t order_rows, row_state, stock, barrier;
} saga_rows;

static saga_rows rows_of(const char *gid, int64_t goods) {
    return (saga_rows){orders_of(gid), row_state_of(gid), stock_of(goods), barrier_rows(gid)};
}

static void check_rows_unchanged(const char *what, const char *gid, int64_t goods, saga_rows before) {
    saga_rows now = rows_of(gid, goods);
    if (memcmp(&now, &before, sizeof now) != 0) {
        fprintf(stderr, "%s: rows moved: orders %" PRId64 "->%" PRId64 ", row_state %" PRId64
                "->%" PRId64 ", stock %" PRId64 "->%" PRId64 ", barrier %" PRId64 "->%" PRId64 "\n",
                what, before.order_rows, now.order_rows, before.row_state, now.row_state,
                before.stock, now.stock, before.barrier, now.barrier);
        h_failures++;
    }
}

static void coordinator_saga_replayed_by_hand(void) {
    h_step("coordinator_saga_replayed_by_hand: a saga that succeeds");
    char gid[96], msg[1024];
    int64_t goods = g.goods + 5;
    set_stock(goods, 10);
    gid_of("saga-ok", gid, sizeof gid);
    CHECK_EQ_INT(submit_demo_saga(gid, 21, goods, 2, msg, sizeof msg), GRPC_STATUS_OK);
    CHECK(wait_status(gid, "succeed"));
    CHECK_EQ_INT(orders_of(gid), 1);
    CHECK_EQ_INT(row_state_of(gid), 0);
    CHECK_EQ_INT(stock_of(goods), 8);
    CHECK_EQ_INT(barrier_rows(gid), 2);
    stored_saga s;
    read_saga(gid, &s);
    CHECK_EQ_INT(s.n, 4);
    /* Late duplicates of the actions (the coordinator only ever sent the
     * actions of a saga that succeeded, so only they can come back). */
    saga_rows before = rows_of(gid, goods);
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < s.n; i++)
            if (strcmp(s.rows[i].op, "action") == 0) CHECK_EQ_INT(replay(gid, &s.rows[i]), GRPC_STATUS_OK);
    check_rows_unchanged("replayed actions of a succeeded saga", gid, goods, before);
    /* A re-submit of the finished gid is refused and runs nothing. */
    CHECK_EQ_INT(submit_demo_saga(gid, 21, goods, 2, msg, sizeof msg), GRPC_STATUS_ABORTED);
    CHECK(strstr(msg, "cannot sumbmit") != NULL);
    check_rows_unchanged("re-submitted succeeded saga", gid, goods, before);

    h_step("coordinator_saga_replayed_by_hand: a saga that fails and compensates");
    goods = g.goods + 6;
    set_stock(goods, 1);
    gid_of("saga-failed", gid, sizeof gid);
    /* WaitResult: a saga that does not succeed answers FAILURE (Aborted). */
    CHECK_EQ_INT(submit_demo_saga(gid, 22, goods, 2, msg, sizeof msg), GRPC_STATUS_ABORTED);
    CHECK(wait_status(gid, "failed"));
    CHECK_EQ_INT(orders_of(gid), 1);
    CHECK_EQ_INT(row_state_of(gid), -1);
    CHECK_EQ_INT(stock_of(goods), 1);
    /* create ran and was compensated; deduct failed (its rows rolled back),
     * so its compensation was a null compensation that planted its row. */
    CHECK_EQ_INT(barrier_row(gid, "01", "action", "action"), 1);
    CHECK_EQ_INT(barrier_row(gid, "01", "compensate", "compensate"), 1);
    CHECK_EQ_INT(barrier_row(gid, "02", "action", "compensate"), 1);
    CHECK_EQ_INT(barrier_row(gid, "02", "compensate", "compensate"), 1);
    read_saga(gid, &s);
    CHECK_EQ_INT(s.n, 4);
    /* Enough stock now that a replayed deduct WOULD take it if the barrier
     * let it through. */
    set_stock(goods, 100);
    before = rows_of(gid, goods);
    for (size_t i = 0; i < s.n; i++) /* in the store's order: comp, action, comp, action */
        CHECK_EQ_INT(replay(gid, &s.rows[i]), GRPC_STATUS_OK);
    for (size_t i = s.n; i-- > 0;) /* and backwards */
        CHECK_EQ_INT(replay(gid, &s.rows[i]), GRPC_STATUS_OK);
    check_rows_unchanged("replayed branches of a failed saga", gid, goods, before);
    CHECK_EQ_INT(stock_of(goods), 100);
    CHECK_EQ_INT(row_state_of(gid), -1);
    CHECK_EQ_INT(submit_demo_saga(gid, 22, goods, 2, msg, sizeof msg), GRPC_STATUS_ABORTED);
    CHECK(strstr(msg, "cannot sumbmit") != NULL);
    check_rows_unchanged("re-submitted failed saga", gid, goods, before);
}

/* ---- processes ------------------------------------------------------------------------ */

static pid_t spawn(const char *prog, const char *flag, const char *yaml, int slot) {
    char log[1200];
    snprintf(log, sizeof log, "%s/%s.log", g.logdir, prog);
    g.confs[slot] = h_write_temp(".yaml", yaml);
    if (!g.confs[slot]) {
        fprintf(stderr, "cannot write the config of %s\n", prog);
        exit(2);
    }
    char *argv[] = {(char *)h_bin(prog), (char *)flag, g.confs[slot], slot == 2 ? "-r" : NULL, NULL};
    return h_spawn(argv, NULL, log);
}

static int start_all(void) {
    h_step("start order-srv, stock-srv and dtm -r (own store)");
    g.order_port = h_free_port();
    g.stock_port = h_free_port();
    g.dtm_grpc = h_free_port();
    g.dtm_http = h_free_port();
    char yaml[1024];
    for (int i = 0; i < 2; i++) {
        const char *svc = i ? "stock" : "order";
        snprintf(yaml, sizeof yaml,
                 "Name: %s.rpc\nListenOn: 127.0.0.1:%d\nDB:\n  DataSource: \"%s_srv:%s_srv@tcp("
                 "127.0.0.1:%d)/dtm-gozero-%s\"\n", svc, i ? g.stock_port : g.order_port, svc, svc,
                 g.db_port, svc);
        *(i ? &g.stock_pid : &g.order_pid) = spawn(i ? "stock-srv" : "order-srv", "-f", yaml, i);
    }
    g.dtm_pid = spawn("dtm", "-c", h_dtm_yaml(STORE_DB, g.dtm_http, g.dtm_grpc, ""), 2);
    snprintf(g.order_target, sizeof g.order_target, "127.0.0.1:%d", g.order_port);
    snprintf(g.stock_target, sizeof g.stock_target, "127.0.0.1:%d", g.stock_port);
    snprintf(g.dtm_target, sizeof g.dtm_target, "127.0.0.1:%d", g.dtm_grpc);
    int up = h_wait_port(g.order_port, 15000) == 0 && h_wait_port(g.stock_port, 15000) == 0 &&
             h_wait_port(g.dtm_grpc, 15000) == 0 && h_wait_port(g.dtm_http, 15000) == 0;
    CHECK(up);
    /* -r creates the schema before serving; wait until the store answers. */
    long long deadline = h_now_ms() + 15000;
    while (up && h_db_int(g.root, 0, "SELECT COUNT(*) FROM information_schema.tables WHERE "
                          "table_schema='" STORE_DB "' AND table_name='trans_branch_op'") != 1) {
        if (h_now_ms() > deadline) {
            fprintf(stderr, "dtm -r did not create " STORE_DB "\n");
            return 0;
        }
        h_sleep_ms(100);
    }
    return up;
}

static void stop_all(void) {
    pid_t pids[3] = {g.order_pid, g.stock_pid, g.dtm_pid};
    for (int i = 0; i < 3; i++) {
        if (pids[i] <= 0) continue;
        if (waitpid(pids[i], NULL, WNOHANG) != 0) {
            fprintf(stderr, "child %d died during the test (logs in %s)\n", (int)pids[i], g.logdir);
            h_failures++;
            continue;
        }
        int st = h_stop(pids[i], SIGTERM, 10000);
        CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    for (int i = 0; i < 3; i++) {
        if (g.confs[i]) unlink(g.confs[i]);
        free(g.confs[i]);
    }
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    g.db_port = h_db_port();
    snprintf(g.prefix, sizeof g.prefix, "be-%d-", (int)getpid());
    g.goods = 8000000 + (int64_t)(getpid() % 100000) * 10;
    const char *bin = getenv("CDTM_BIN_DIR");
    snprintf(g.logdir, sizeof g.logdir, "%s/test_barrier_e2e.logs", bin ? bin : ".");
    mkdir(g.logdir, 0755);
    printf("logs of the servers: %s\n", g.logdir);

    g.root = h_db_pool("");
    h_db_exec(g.root, "DROP DATABASE IF EXISTS " STORE_DB);
    h_db_exec(g.root, "DELETE FROM dtm_barrier.barrier WHERE gid LIKE '%s%%'", g.prefix);
    h_db_exec(g.root, "DELETE FROM `dtm-gozero-order`.`order` WHERE gid LIKE '%s%%'", g.prefix);

    /* Every child is started before this process creates gRPC threads. */
    if (start_all()) {
        g.cli = rpccli_new();
        duplicate_action_runs_once();
        duplicate_compensation_undoes_once();
        late_action_after_compensation_is_skipped();
        action_and_compensation_race();
        coordinator_saga_replayed_by_hand();
        rpccli_free(g.cli);
    }
    stop_all();

    if (h_failures == 0) { /* keep the evidence when something failed */
        h_db_exec(g.root, "DELETE FROM dtm_barrier.barrier WHERE gid LIKE '%s%%'", g.prefix);
        h_db_exec(g.root, "DELETE FROM `dtm-gozero-order`.`order` WHERE gid LIKE '%s%%'", g.prefix);
        h_db_exec(g.root, "DELETE FROM `dtm-gozero-stock`.stock WHERE goods_id BETWEEN %" PRId64
                  " AND %" PRId64, g.goods, g.goods + 9);
        h_db_exec(g.root, "DROP DATABASE IF EXISTS " STORE_DB);
    }
    db_pool_free(g.root);
    return h_finish("test_barrier_e2e");
}
