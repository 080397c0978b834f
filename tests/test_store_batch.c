/* test_store_batch.c: group commit in the coordinator's store
 * (dtm/store_batch.c) against a real MariaDB.
 *
 * To make a batch happen on purpose, the test holds row locks on two
 * "blocker" sagas; two threads that write them become the two leaders and
 * wait on the locks, so every write started after them queues. When the
 * locks go, one leader takes the whole queue as one batch. The test then
 * checks what a user of the store sees: each caller's answer, the rows, and
 * the number of COMMITs:
 * - a batch of new sagas and progress writes (merged, unchanged-status and
 *   different-value ones) is one commit, and every row is as if written alone;
 * - a batch holding a duplicate gid and a stale status change is written
 *   one by one instead, and each caller gets the answer it would have got
 *   alone, with nothing of the refused writes in the store;
 * - so is a batch whose merged UPDATE finds one row no longer in its old
 *   status. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "store.h"
#include "store_int.h"
#include "trans.h"

#define TEST_DB "dtm_test_store_batch"
#define MAX_WRITERS 16

static db_pool *g_pool;
static store *g_store;

/* A 2-step saga in status submitted. */
static trans_global *make_saga(const char *gid) {
    trans_global *t = trans_new(gid, "saga");
    snprintf(t->status, sizeof t->status, TS_SUBMITTED);
    snprintf(t->protocol, sizeof t->protocol, "grpc");
    const char *act[] = {"127.0.0.1:9001/pb.order/create", "127.0.0.1:9002/pb.stock/deduct"};
    const char *comp[] = {"127.0.0.1:9001/pb.order/createRollback",
                          "127.0.0.1:9002/pb.stock/deductRollback"};
    CHECK(trans_gen_saga_branches(t, 2, act, comp, NULL, NULL) == 0);
    t->next_cron_interval = 7;
    return t;
}

static void save_alone(const char *gid) {
    char err[512];
    trans_global *t = make_saga(gid);
    CHECK_EQ_INT(store_save_new(g_store, t, 0, err, sizeof err), STORE_OK);
    trans_free(t);
}

/* Marks t's action branch `bid` with `status`, to be written. */
static void set_action(trans_global *t, const char *bid, const char *status) {
    for (size_t i = 0; i < t->n_branches; i++) {
        trans_branch *b = &t->branches[i];
        if (strcmp(b->branch_id, bid) == 0 && strcmp(b->op, OP_ACTION) == 0) {
            snprintf(b->status, sizeof b->status, "%s", status);
            b->dirty = 1;
        }
    }
}

static int64_t com_commit(void) { return h_db_status(g_pool, "COM_COMMIT"); }

/* One concurrent write: save_new of t, or save_progress of t from `old`. */
typedef struct {
    trans_global *t;
    const char *old; /* NULL: save_new */
    int64_t interval;
    store_rc rc;
    pthread_t th;
} writer;

/* A progress write that ends saga `gid` as succeeded (both actions). */
static writer succeeded(const char *gid) {
    trans_global *t = make_saga(gid);
    snprintf(t->status, sizeof t->status, TS_SUCCEED);
    set_action(t, "01", TS_SUCCEED);
    set_action(t, "02", TS_SUCCEED);
    return (writer){.t = t, .old = TS_SUBMITTED, .interval = 7};
}

static void *write_one(void *arg) {
    writer *w = arg;
    char err[512];
    w->rc = w->old ? store_save_progress(g_store, w->t, w->old, w->interval, w->interval, err,
                                         sizeof err)
                   : store_save_new(g_store, w->t, 0, err, sizeof err);
    return NULL;
}

static void start(writer *w) { pthread_create(&w->th, NULL, write_one, w); }

/* Polls until the store has `leaders` batches running and `queued` jobs
 * waiting, for up to 10 s. */
static int wait_state(int leaders, size_t queued) {
    long long deadline = h_now_ms() + 10000;
    for (;;) {
        int l;
        size_t q;
        store_batch_state(g_store, &l, &q);
        if (l == leaders && q == queued) return 0;
        if (h_now_ms() > deadline) {
            fprintf(stderr, "store state: %d leaders, %zu queued; wanted %d, %zu\n", l, q,
                    leaders, queued);
            return -1;
        }
        h_sleep_ms(5);
    }
}

/* Runs the writers ws[0, n) as one batch: holds locks on the blockers b1
 * and b2 (saved earlier), starts their progress writes, waits until both
 * lead and all n writers queue, then lets go and joins everyone. Returns the
 * COMMITs counted meanwhile. */
static int64_t run_as_one_batch(const char *b1, const char *b2, writer *ws, size_t n) {
    char err[512];
    db_conn *lock = db_acquire(g_pool, 5000, NULL, err, sizeof err);
    CHECK(lock != NULL);
    if (!lock) return -1;
    CHECK_EQ_INT(db_begin(lock, err, sizeof err), DB_OK);
    db_arg a[] = {DB_STR(b1), DB_STR(b2)};
    CHECK_EQ_INT(db_exec(lock, "SELECT id FROM trans_global WHERE gid IN (?, ?) FOR UPDATE", a, 2,
                         NULL, err, sizeof err),
                 DB_OK);
    writer blockers[2] = {{.t = make_saga(b1), .old = TS_SUBMITTED, .interval = 7},
                          {.t = make_saga(b2), .old = TS_SUBMITTED, .interval = 7}};
    int64_t c0 = com_commit();
    for (int i = 0; i < 2; i++) {
        snprintf(blockers[i].t->status, sizeof blockers[i].t->status, TS_SUCCEED);
        start(&blockers[i]);
    }
    CHECK_EQ_INT(wait_state(2, 0), 0);
    for (size_t i = 0; i < n; i++) start(&ws[i]);
    CHECK_EQ_INT(wait_state(2, n), 0);
    db_rollback(lock, err, sizeof err);
    db_release(g_pool, lock);
    for (int i = 0; i < 2; i++) {
        pthread_join(blockers[i].th, NULL);
        CHECK_EQ_INT(blockers[i].rc, STORE_OK);
        trans_free(blockers[i].t);
    }
    for (size_t i = 0; i < n; i++) pthread_join(ws[i].th, NULL);
    return com_commit() - c0;
}

/* ---- the tests ---------------------------------------------------------- */

static void a_batch_commits_once_and_writes_every_row(void) {
    h_step("a_batch_commits_once_and_writes_every_row");
    save_alone("blk-1");
    save_alone("blk-2");
    for (int i = 0; i < 6; i++) {
        char gid[32];
        snprintf(gid, sizeof gid, "p-%d", i);
        save_alone(gid);
    }
    writer w[MAX_WRITERS] = {0};
    size_t n = 0;
    for (int i = 0; i < 8; i++) { /* new sagas */
        char gid[32];
        snprintf(gid, sizeof gid, "new-%d", i);
        w[n++] = (writer){.t = make_saga(gid)};
    }
    for (int i = 0; i < 4; i++) { /* succeeded sagas: one merged UPDATE */
        char gid[32];
        snprintf(gid, sizeof gid, "p-%d", i);
        w[n++] = succeeded(gid);
    }
    trans_global *same = make_saga("p-4"); /* no status change: written on its own */
    w[n++] = (writer){.t = same, .old = TS_SUBMITTED, .interval = 9};
    trans_global *abort = make_saga("p-5"); /* other values: a group of its own */
    snprintf(abort->status, sizeof abort->status, TS_ABORTING);
    trans_set_text(&abort->rollback_reason, "deduct failed");
    set_action(abort, "02", TS_FAILED);
    w[n++] = (writer){.t = abort, .old = TS_SUBMITTED, .interval = 3};

    /* Two blockers' commits, then ONE for all 14 writes. */
    CHECK_EQ_INT(run_as_one_batch("blk-1", "blk-2", w, n), 3);
    for (size_t i = 0; i < n; i++) CHECK_EQ_INT(w[i].rc, STORE_OK);

    for (int i = 0; i < 8; i++) {
        const trans_global *t = w[i].t;
        CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT id FROM trans_global WHERE gid='%s'", t->gid),
                     t->id);
        CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_branch_op WHERE gid='%s' "
                                          "AND status='prepared'", t->gid), 4);
        for (size_t b = 0; b < t->n_branches; b++)
            CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT id FROM trans_branch_op WHERE gid='%s' AND "
                                              "branch_id='%s' AND op='%s'", t->gid,
                                  t->branches[b].branch_id, t->branches[b].op),
                         t->branches[b].id);
        CHECK(t->create_time[0] != '\0');
    }
    for (int i = 8; i < 12; i++) {
        const char *gid = w[i].t->gid;
        CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_global WHERE gid='%s' AND "
                                          "status='succeed' AND finish_time IS NOT NULL", gid), 1);
        CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_branch_op WHERE gid='%s' "
                                          "AND op='action' AND status='succeed' AND finish_time "
                                          "IS NOT NULL", gid), 2);
        CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_branch_op WHERE gid='%s' "
                                          "AND op='compensate' AND status='prepared'", gid), 2);
        CHECK(!w[i].t->branches[1].dirty && !w[i].t->branches[3].dirty);
    }
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT next_cron_interval FROM trans_global "
                                      "WHERE gid='p-4' AND status='submitted'"), 9);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_global WHERE gid='p-5' AND "
                                      "status='aborting' AND rollback_reason='deduct failed' AND "
                                      "next_cron_interval=3"), 1);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_branch_op WHERE gid='p-5' AND "
                                      "status <> 'prepared'"), 1);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_branch_op WHERE gid='p-5' AND "
                                      "branch_id='02' AND op='action' AND status='failed'"), 1);
    for (size_t i = 0; i < n; i++) trans_free(w[i].t);
}

static void a_refused_write_is_answered_as_if_alone(void) {
    h_step("a_refused_write_is_answered_as_if_alone");
    save_alone("blk-3");
    save_alone("blk-4");
    save_alone("q-0");
    save_alone("q-1");
    writer w[MAX_WRITERS] = {0};
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        char gid[32];
        snprintf(gid, sizeof gid, "b-new-%d", i);
        w[n++] = (writer){.t = make_saga(gid)};
    }
    trans_global *dup = trans_new("new-0", "saga"); /* exists: saved by the test above */
    snprintf(dup->status, sizeof dup->status, TS_PREPARED);
    snprintf(dup->protocol, sizeof dup->protocol, "http");
    w[n++] = (writer){.t = dup};
    w[n++] = succeeded("q-0");
    w[n++] = succeeded("q-1");
    w[n++] = succeeded("p-0"); /* succeeded above: not submitted any more */
    const trans_global *stale = w[n - 1].t;

    /* The batch rolls back; then 3 + 2 writes commit alone, the refused two
     * roll back: 2 + 5 commits. */
    CHECK_EQ_INT(run_as_one_batch("blk-3", "blk-4", w, n), 7);
    static const store_rc want[] = {STORE_OK, STORE_OK, STORE_OK, STORE_DUP,
                                    STORE_OK, STORE_OK, STORE_CONFLICT};
    for (size_t i = 0; i < n; i++) CHECK_EQ_INT(w[i].rc, want[i]);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_branch_op "
                                      "WHERE gid LIKE 'b-new-%%'"), 12);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_global WHERE gid IN ('q-0', "
                                      "'q-1') AND status='succeed'"), 2);
    /* The duplicate changed nothing: new-0 is still the submitted grpc saga. */
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_global WHERE gid='new-0' AND "
                                      "status='submitted' AND protocol='grpc'"), 1);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_branch_op WHERE gid='new-0'"), 4);
    CHECK_EQ_INT(dup->id, 0);
    /* The stale write kept its dirty flags, and p-0 its finish. */
    CHECK(stale->branches[1].dirty == 1);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_global WHERE gid='p-0' AND "
                                      "status='succeed'"), 1);
    for (size_t i = 0; i < n; i++) trans_free(w[i].t);
}

static void a_stale_write_in_a_merged_update_is_answered_as_if_alone(void) {
    h_step("a_stale_write_in_a_merged_update_is_answered_as_if_alone");
    save_alone("blk-5");
    save_alone("blk-6");
    save_alone("r-0");
    save_alone("r-1");
    /* Three writes that merge into one UPDATE; p-1 succeeded in the first
     * test, so that UPDATE changes 2 rows of 3. */
    writer w[3] = {succeeded("r-0"), succeeded("r-1"), succeeded("p-1")};
    /* The batch rolls back; r-0 and r-1 then commit alone: 2 + 2 commits. */
    CHECK_EQ_INT(run_as_one_batch("blk-5", "blk-6", w, 3), 4);
    CHECK_EQ_INT(w[0].rc, STORE_OK);
    CHECK_EQ_INT(w[1].rc, STORE_OK);
    CHECK_EQ_INT(w[2].rc, STORE_CONFLICT);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_branch_op WHERE gid IN ('r-0', "
                                      "'r-1') AND op='action' AND status='succeed'"), 4);
    CHECK(w[2].t->branches[1].dirty == 1);
    for (size_t i = 0; i < 3; i++) trans_free(w[i].t);
}

int main(void) {
    g_pool = h_db_fresh(TEST_DB);
    g_store = store_new(g_pool, 5000);
    char err[512];
    CHECK_EQ_INT(store_create_schema(g_store, err, sizeof err), STORE_OK);

    a_batch_commits_once_and_writes_every_row();
    a_refused_write_is_answered_as_if_alone();
    a_stale_write_in_a_merged_update_is_answered_as_if_alone();

    store_free(g_store);
    db_pool_free(g_pool);
    return h_finish("test_store_batch");
}
