/* test_store.c: the coordinator's store (dtm/store.c) against a real MariaDB,
 * plus the data-model rules it relies on (dtm/trans.c).
 *
 * It works in its own database, dtm_test_store, created here with
 * store_create_schema(), and proves what a user of the store observes in the
 * rows: a saga saved and loaded back intact (branch order compensate/action,
 * payload bytes); a duplicate gid refused with nothing changed; status changes
 * conditional on the old status; dirty branches written in the same
 * transaction as the global row; cron claims that only take due rows and
 * never give one row to two claimers; paging of GET all; the JSON of query;
 * and the commit count of a saga's writes. */
#include <pthread.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "store.h"
#include "trans.h"

#define TEST_DB "dtm_test_store"

static db_pool *g_pool;
static store *g_store;

/* ---- helpers ---------------------------------------------------------- */

static int str_row(void *ud, size_t ncols, const db_val *c) {
    char *out = ud;
    snprintf(out, 512, "%s", ncols && !c[0].is_null ? c[0].s : "(null)");
    return 1;
}

/* One text value from test-made SQL ("(null)" for NULL, "" for no row). */
static const char *sql_str(const char *sql) {
    static char buf[512];
    buf[0] = '\0';
    db_conn *c = db_acquire(g_pool, 5000, NULL, NULL, 0);
    char err[256];
    if (!c || db_query(c, sql, NULL, 0, str_row, buf, err, sizeof err) != DB_OK) {
        fprintf(stderr, "sql_str: %s\n", sql);
        h_failures++;
    }
    db_release(g_pool, c);
    return buf;
}

static const uint8_t PAYLOAD1[] = {0x00, 0xff, 0x80, 'a', '\n', 0x00, '\'', '"', 0xc3};
static const uint8_t PAYLOAD2[] = "{\"amount\":30}";

/* A 2-step saga in status submitted. */
static trans_global *make_saga(const char *gid) {
    trans_global *t = trans_new(gid, "saga");
    snprintf(t->status, sizeof t->status, TS_SUBMITTED);
    snprintf(t->protocol, sizeof t->protocol, "grpc");
    const char *act[] = {"127.0.0.1:9001/pb.order/create", "127.0.0.1:9002/pb.stock/deduct"};
    const char *comp[] = {"127.0.0.1:9001/pb.order/createRollback",
                          "127.0.0.1:9002/pb.stock/deductRollback"};
    const uint8_t *pl[] = {PAYLOAD1, PAYLOAD2};
    size_t lens[] = {sizeof PAYLOAD1, sizeof PAYLOAD2 - 1};
    CHECK(trans_gen_saga_branches(t, 2, act, comp, pl, lens) == 0);
    t->next_cron_interval = 7;
    return t;
}

static int64_t com_commit(void) { return h_db_status(g_pool, "COM_COMMIT"); }

/* ---- the data model ------------------------------------------------- */

static void trans_model_rules(void) {
    h_step("trans_model_rules");
    char err[256];
    /* Options JSON as DTM writes it: zero values left out, concurrent always. */
    trans_options o = {0};
    char *j = trans_options_json(&o);
    CHECK_EQ_STR(j, "{\"concurrent\":false}");
    free(j);
    trans_header h[] = {{"z-h", "1"}, {"a-h", "2"}};
    o = (trans_options){.wait_result = 1, .timeout_to_fail = 5, .request_timeout = 2,
                        .retry_interval = 3, .retry_limit = 4, .headers = h, .n_headers = 2};
    j = trans_options_json(&o);
    CHECK_EQ_STR(j, "{\"wait_result\":true,\"timeout_to_fail\":5,\"request_timeout\":2,"
                    "\"retry_interval\":3,\"branch_headers\":{\"a-h\":\"2\",\"z-h\":\"1\"},"
                    "\"concurrent\":false,\"retry_limit\":4}");
    trans_global *t = trans_new("m", "saga");
    CHECK(trans_options_from_json(j, &t->opts) == 0);
    CHECK(t->opts.wait_result == 1 && t->opts.timeout_to_fail == 5 && t->opts.retry_limit == 4);
    CHECK_EQ_INT(t->opts.n_headers, 2);
    free(j);
    CHECK(trans_options_from_json("[1]", &o) == -1);

    /* custom_data of a concurrent saga: validated, and read into orders. */
    const char *a[] = {"x", "y", "z"};
    CHECK(trans_gen_saga_branches(t, 3, a, a, NULL, NULL) == 0);
    CHECK_EQ_STR(t->branches[0].op, OP_COMPENSATE);
    CHECK_EQ_STR(t->branches[5].branch_id, "03");
    trans_set_text(&t->custom_data, "{\"orders\":{\"2\":[0,1]},\"concurrent\":true}");
    CHECK(trans_parse_saga_custom(t, err, sizeof err) == 0);
    CHECK(t->opts.concurrent == 1 && t->n_orders && t->n_orders[2] == 2 && t->orders[2][1] == 1);
    static const char *const bad[] = {
        "{\"orders\":{\"3\":[0]},\"concurrent\":true}",          /* key out of range */
        "{\"orders\":{\"1\":[5]},\"concurrent\":true}",          /* index out of range */
        "{\"orders\":{\"0\":[1],\"1\":[2],\"2\":[0]},\"concurrent\":true}", /* cycle */
        "{\"orders\":{\"1\":[1]},\"concurrent\":true}",          /* self cycle */
        "{\"orders\":{\"x\":[1]},\"concurrent\":true}",          /* key not a number */
        "{\"orders\":{\"1\":[\"0\"]},\"concurrent\":true}",      /* not an integer */
        "{\"concurrent\":\"yes\"}", "not json", "[]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        trans_set_text(&t->custom_data, bad[i]);
        err[0] = '\0';
        CHECK(trans_parse_saga_custom(t, err, sizeof err) == -1);
        CHECK(strstr(err, "gid m") != NULL);
        CHECK(t->orders == NULL && t->opts.concurrent == 0);
    }
    trans_set_text(&t->custom_data, "{\"orders\":{\"1\":[0]},\"concurrent\":false}");
    CHECK(trans_parse_saga_custom(t, err, sizeof err) == 0 && t->opts.concurrent == 0);

    /* Text fields are cut at 1024 bytes, never inside a UTF-8 character. */
    char big[1100];
    memset(big, 'a', 1023);
    strcpy(big + 1023, "\xc3\xa9tail"); /* "é" straddles the limit */
    trans_set_text(&t->rollback_reason, big);
    CHECK_EQ_INT(strlen(t->rollback_reason), 1023);
    CHECK(trans_is_final(TS_SUCCEED) && trans_is_final(TS_FAILED) && !trans_is_final(TS_ABORTING));
    trans_free(t);
}

/* ---- save_new / load ------------------------------------------------ */

static void save_new_then_load_round_trips(void) {
    h_step("save_new_then_load_round_trips");
    char err[512];
    trans_global *t = make_saga("rt-1");
    trans_set_text(&t->req_extra, "{\"k\":\"v\"}");
    t->opts.retry_interval = 7;
    trans_header h = {strdup("authorization"), strdup("Bearer x")};
    t->opts.headers = malloc(sizeof h);
    t->opts.headers[0] = h;
    t->opts.n_headers = 1;

    int64_t c0 = com_commit();
    CHECK_EQ_INT(store_save_new(g_store, t, 0, err, sizeof err), STORE_OK);
    int64_t c1 = com_commit();
    /* One commit for the global row and its 4 branch rows. */
    CHECK_EQ_INT(c1 - c0, 1);
    CHECK(t->id > 0);
    CHECK(t->branches[0].id > 0 && t->branches[3].id == t->branches[0].id + 3);
    CHECK(t->create_time[0] != '\0');

    trans_global *l = NULL;
    CHECK_EQ_INT(store_load(g_store, "rt-1", 1, &l, err, sizeof err), STORE_OK);
    if (!l) return;
    CHECK_EQ_INT(l->id, t->id);
    CHECK_EQ_STR(l->gid, "rt-1");
    CHECK_EQ_STR(l->trans_type, "saga");
    CHECK_EQ_STR(l->status, TS_SUBMITTED);
    CHECK_EQ_STR(l->protocol, "grpc");
    CHECK_EQ_STR(l->req_extra, "{\"k\":\"v\"}");
    CHECK_EQ_INT(l->next_cron_interval, 7);
    CHECK_EQ_INT(l->opts.retry_interval, 7);
    CHECK(l->opts.n_headers == 1 && strcmp(l->opts.headers[0].value, "Bearer x") == 0);
    CHECK_EQ_STR(l->create_time, t->create_time);
    CHECK_EQ_STR(l->next_cron_time, t->next_cron_time);
    CHECK(l->age_s >= 0 && l->age_s <= 2);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT TIMESTAMPDIFF(SECOND, create_time, next_cron_time) "
                                      "FROM trans_global WHERE gid='rt-1'"), 7);
    CHECK_EQ_STR(sql_str("SELECT options FROM trans_global WHERE gid='rt-1'"),
                 "{\"retry_interval\":7,\"branch_headers\":{\"authorization\":\"Bearer x\"},"
                 "\"concurrent\":false}");
    /* DTM's row order: compensate then action, per step. */
    CHECK_EQ_INT(l->n_branches, 4);
    static const char *const ops[] = {OP_COMPENSATE, OP_ACTION, OP_COMPENSATE, OP_ACTION};
    static const char *const bids[] = {"01", "01", "02", "02"};
    for (size_t i = 0; i < 4 && i < l->n_branches; i++) {
        CHECK_EQ_STR(l->branches[i].op, ops[i]);
        CHECK_EQ_STR(l->branches[i].branch_id, bids[i]);
        CHECK_EQ_STR(l->branches[i].status, TS_PREPARED);
        CHECK_EQ_STR(l->branches[i].url, t->branches[i].url);
        CHECK_EQ_INT(l->branches[i].id, t->branches[i].id);
        CHECK(!l->branches[i].dirty);
    }
    if (l->n_branches == 4) {
        CHECK(l->branches[0].data_len == sizeof PAYLOAD1 &&
              memcmp(l->branches[0].data, PAYLOAD1, sizeof PAYLOAD1) == 0);
        CHECK(l->branches[1].data_len == sizeof PAYLOAD1 &&
              memcmp(l->branches[1].data, PAYLOAD1, sizeof PAYLOAD1) == 0);
        CHECK(l->branches[3].data_len == sizeof PAYLOAD2 - 1 &&
              memcmp(l->branches[3].data, PAYLOAD2, sizeof PAYLOAD2 - 1) == 0);
    }
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT LENGTH(bin_data) FROM trans_branch_op "
                                      "WHERE gid='rt-1' AND branch_id='01' AND op='action'"),
                 sizeof PAYLOAD1);
    trans_free(l);

    /* Without branches; and an unknown gid. */
    CHECK_EQ_INT(store_load(g_store, "rt-1", 0, &l, err, sizeof err), STORE_OK);
    CHECK(l && l->n_branches == 0);
    trans_free(l);
    CHECK_EQ_INT(store_load(g_store, "no-such-gid", 1, &l, err, sizeof err), STORE_NOT_FOUND);
    CHECK(l == NULL);
    trans_free(t);
}

static void save_new_refuses_duplicate_gid(void) {
    h_step("save_new_refuses_duplicate_gid");
    char err[512];
    int64_t id = h_db_int(g_pool, -1, "SELECT id FROM trans_global WHERE gid='rt-1'");
    trans_global *t = trans_new("rt-1", "saga");
    snprintf(t->status, sizeof t->status, TS_PREPARED);
    snprintf(t->protocol, sizeof t->protocol, "http");
    const char *a[] = {"http://x/a", "http://x/b", "http://x/c"};
    trans_gen_saga_branches(t, 3, a, a, NULL, NULL);
    CHECK_EQ_INT(store_save_new(g_store, t, 0, err, sizeof err), STORE_DUP);
    CHECK(strstr(err, "rt-1") != NULL);
    CHECK_EQ_INT(t->id, 0);
    /* Nothing changed: one global row, as it was, and its 4 branches. */
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_global WHERE gid='rt-1'"), 1);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT id FROM trans_global WHERE gid='rt-1'"), id);
    CHECK_EQ_STR(sql_str("SELECT CONCAT(status, protocol) FROM trans_global WHERE gid='rt-1'"),
                 "submittedgrpc");
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_branch_op WHERE gid='rt-1'"), 4);
    trans_free(t);
}

/* ---- save_progress ---------------------------------------------------- */

static void save_progress_is_conditional_and_atomic(void) {
    h_step("save_progress_is_conditional_and_atomic");
    char err[512];
    trans_global *a = NULL, *b = NULL;
    CHECK_EQ_INT(store_load(g_store, "rt-1", 1, &a, err, sizeof err), STORE_OK);
    CHECK_EQ_INT(store_load(g_store, "rt-1", 1, &b, err, sizeof err), STORE_OK); /* a stale copy */
    if (!a || !b) return;

    /* submitted -> succeed, with both actions' results: 1 commit. */
    snprintf(a->branches[1].status, sizeof a->branches[1].status, TS_SUCCEED);
    snprintf(a->branches[3].status, sizeof a->branches[3].status, TS_SUCCEED);
    a->branches[1].dirty = a->branches[3].dirty = 1;
    snprintf(a->status, sizeof a->status, TS_SUCCEED);
    int64_t c0 = com_commit();
    CHECK_EQ_INT(store_save_progress(g_store, a, TS_SUBMITTED, 7, 7, err, sizeof err), STORE_OK);
    CHECK_EQ_INT(com_commit() - c0, 1);
    CHECK(!a->branches[1].dirty && !a->branches[3].dirty);
    CHECK_EQ_STR(sql_str("SELECT status FROM trans_global WHERE gid='rt-1'"), TS_SUCCEED);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT finish_time IS NOT NULL AND rollback_time IS NULL "
                                      "FROM trans_global WHERE gid='rt-1'"), 1);
    CHECK_EQ_STR(sql_str("SELECT GROUP_CONCAT(CONCAT(branch_id,op,':',status) ORDER BY id) "
                         "FROM trans_branch_op WHERE gid='rt-1'"),
                 "01compensate:prepared,01action:succeed,02compensate:prepared,02action:succeed");
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_branch_op WHERE gid='rt-1' "
                                      "AND finish_time IS NOT NULL"), 2);

    /* The stale copy still believes submitted: its write is refused whole. */
    snprintf(b->branches[1].status, sizeof b->branches[1].status, TS_FAILED);
    b->branches[1].dirty = 1;
    snprintf(b->status, sizeof b->status, TS_ABORTING);
    trans_set_text(&b->rollback_reason, "stale");
    CHECK_EQ_INT(store_save_progress(g_store, b, TS_SUBMITTED, 7, 7, err, sizeof err),
                 STORE_CONFLICT);
    CHECK(strstr(err, "rt-1") != NULL);
    CHECK(b->branches[1].dirty == 1);
    CHECK_EQ_STR(sql_str("SELECT CONCAT(status, '/', rollback_reason) FROM trans_global "
                         "WHERE gid='rt-1'"), "succeed/");
    CHECK_EQ_STR(sql_str("SELECT status FROM trans_branch_op WHERE gid='rt-1' AND branch_id='01' "
                         "AND op='action'"), TS_SUCCEED);
    trans_free(a);
    trans_free(b);

    /* Progress without a status change, twice within a second: MySQL counts
     * such an UPDATE as 0 rows changed; it must still succeed. */
    trans_global *p = make_saga("prog-same");
    CHECK_EQ_INT(store_save_new(g_store, p, 0, err, sizeof err), STORE_OK);
    CHECK_EQ_INT(store_save_progress(g_store, p, TS_SUBMITTED, 4, 4, err, sizeof err), STORE_OK);
    CHECK_EQ_INT(store_save_progress(g_store, p, TS_SUBMITTED, 4, 4, err, sizeof err), STORE_OK);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT next_cron_interval FROM trans_global "
                                      "WHERE gid='prog-same'"), 4);
    /* ... but from a status the row is not in, it is a conflict. */
    CHECK_EQ_INT(store_save_progress(g_store, p, TS_ABORTING, 4, 4, err, sizeof err), STORE_CONFLICT);
    trans_free(p);

    /* Atomic: when a branch row cannot be written, the global row's change
     * is rolled back with it (a trigger makes status 'boom' fail). */
    h_db_exec(g_pool, "CREATE TRIGGER IF NOT EXISTS boom BEFORE UPDATE ON trans_branch_op FOR EACH "
                      "ROW BEGIN IF NEW.status = 'boom' THEN SIGNAL SQLSTATE '45000' SET "
                      "MESSAGE_TEXT = 'boom'; END IF; END");
    trans_global *q = make_saga("atomic-1");
    CHECK_EQ_INT(store_save_new(g_store, q, 0, err, sizeof err), STORE_OK);
    snprintf(q->branches[1].status, sizeof q->branches[1].status, TS_SUCCEED);
    snprintf(q->branches[3].status, sizeof q->branches[3].status, "boom");
    q->branches[1].dirty = q->branches[3].dirty = 1;
    snprintf(q->status, sizeof q->status, TS_SUCCEED);
    CHECK_EQ_INT(store_save_progress(g_store, q, TS_SUBMITTED, 7, 7, err, sizeof err), STORE_ERR);
    CHECK(strstr(err, "atomic-1") != NULL && strstr(err, "boom") != NULL);
    CHECK_EQ_STR(sql_str("SELECT status FROM trans_global WHERE gid='atomic-1'"), TS_SUBMITTED);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_branch_op WHERE gid='atomic-1' "
                                      "AND status <> 'prepared'"), 0);
    h_db_exec(g_pool, "DROP TRIGGER boom");
    trans_free(q);
}

static void change_status_and_register(void) {
    h_step("change_status_and_register");
    char err[512];
    trans_global *t = trans_new("tcc-1", "tcc");
    snprintf(t->status, sizeof t->status, TS_PREPARED);
    snprintf(t->protocol, sizeof t->protocol, "http");
    t->next_cron_interval = 10;
    CHECK_EQ_INT(store_save_new(g_store, t, 0, err, sizeof err), STORE_OK);
    /* prepare again: prepared -> prepared is a success (idempotent). */
    CHECK_EQ_INT(store_change_status(g_store, "tcc-1", TS_PREPARED, TS_PREPARED, NULL, err,
                                     sizeof err), STORE_OK);
    trans_global *r = trans_new("tcc-1", "tcc");
    trans_add_branch(r, "01", "cancel", "http://x/cancel", "d", 1);
    trans_add_branch(r, "01", "confirm", "http://x/confirm", "d", 1);
    CHECK_EQ_INT(store_add_branches(g_store, "tcc-1", r->branches, 2, err, sizeof err), STORE_OK);
    CHECK_EQ_INT(store_add_branches(g_store, "tcc-1", r->branches, 2, err, sizeof err), STORE_OK);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_branch_op WHERE gid='tcc-1'"), 2);
    CHECK_EQ_INT(store_change_status(g_store, "tcc-1", TS_PREPARED, TS_ABORTING, "why", err,
                                     sizeof err), STORE_OK);
    CHECK_EQ_STR(sql_str("SELECT CONCAT(status,'/',rollback_reason) FROM trans_global "
                         "WHERE gid='tcc-1'"), "aborting/why");
    CHECK_EQ_INT(store_change_status(g_store, "tcc-1", TS_PREPARED, TS_SUBMITTED, NULL, err,
                                     sizeof err), STORE_CONFLICT);
    CHECK_EQ_INT(store_add_branches(g_store, "tcc-1", r->branches, 2, err, sizeof err),
                 STORE_CONFLICT);
    CHECK_EQ_INT(store_change_status(g_store, "nope", TS_PREPARED, TS_SUBMITTED, NULL, err,
                                     sizeof err), STORE_NOT_FOUND);
    CHECK(strstr(err, "nope") != NULL);
    CHECK_EQ_INT(store_add_branches(g_store, "nope", r->branches, 2, err, sizeof err),
                 STORE_NOT_FOUND);
    CHECK_EQ_INT(store_change_status(g_store, "tcc-1", TS_ABORTING, TS_FAILED, NULL, err,
                                     sizeof err), STORE_OK);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT rollback_time IS NOT NULL FROM trans_global "
                                      "WHERE gid='tcc-1'"), 1);
    CHECK_EQ_INT(store_reset_cron_time(g_store, "tcc-1", err, sizeof err), STORE_OK);
    CHECK_EQ_INT(store_reset_cron_time(g_store, "tcc-1", err, sizeof err), STORE_OK);
    CHECK_EQ_INT(store_reset_cron_time(g_store, "nope", err, sizeof err), STORE_NOT_FOUND);
    trans_free(r);
    trans_free(t);
}

/* ---- cron claims ------------------------------------------------------ */

static void claim_takes_only_due_rows(void) {
    h_step("claim_takes_only_due_rows");
    char err[512];
    h_db_exec(g_pool, "DELETE FROM trans_global");
    h_db_exec(g_pool, "DELETE FROM trans_branch_op");
    const char *gids[] = {"due-1", "later-1", "done-1"};
    for (size_t i = 0; i < 3; i++) {
        trans_global *t = make_saga(gids[i]);
        CHECK_EQ_INT(store_save_new(g_store, t, 0, err, sizeof err), STORE_OK);
        trans_free(t);
    }
    h_db_exec(g_pool, "UPDATE trans_global SET next_cron_time = NOW() - INTERVAL 5 SECOND "
                      "WHERE gid IN ('due-1', 'done-1')");
    h_db_exec(g_pool, "UPDATE trans_global SET status = 'succeed' WHERE gid = 'done-1'");
    trans_global *t = NULL;
    CHECK_EQ_INT(store_claim_due(g_store, "owner-a", 60, &t, err, sizeof err), STORE_OK);
    CHECK(t && strcmp(t->gid, "due-1") == 0 && t->n_branches == 4);
    CHECK(t && strcmp(t->owner, "owner-a") == 0);
    trans_free(t);
    t = NULL;
    CHECK_EQ_STR(sql_str("SELECT owner FROM trans_global WHERE gid='due-1'"), "owner-a");
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT TIMESTAMPDIFF(SECOND, NOW(), next_cron_time) >= 58 "
                                      "FROM trans_global WHERE gid='due-1'"), 1);
    /* Claimed (leased), not due, final: nothing left. */
    CHECK_EQ_INT(store_claim_due(g_store, "owner-b", 60, &t, err, sizeof err), STORE_NOT_FOUND);
    CHECK(t == NULL);

    /* Only the claim's owner may push its lease further. */
    CHECK_EQ_INT(store_extend_claim(g_store, "due-1", "owner-b", 600, err, sizeof err),
                 STORE_CONFLICT);
    CHECK(strstr(err, "no longer claimed by owner-b") != NULL);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT TIMESTAMPDIFF(SECOND, NOW(), next_cron_time) < 61 "
                                      "FROM trans_global WHERE gid='due-1'"), 1);
    CHECK_EQ_INT(store_extend_claim(g_store, "due-1", "owner-a", 600, err, sizeof err), STORE_OK);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT TIMESTAMPDIFF(SECOND, NOW(), next_cron_time) "
                                      "BETWEEN 598 AND 600 FROM trans_global WHERE gid='due-1'"), 1);
    CHECK_EQ_INT(store_extend_claim(g_store, "done-1", "owner-a", 600, err, sizeof err),
                 STORE_CONFLICT); /* final, and never claimed */
}

/* save_new's lease: next_cron_time is the later of now + next_cron_interval
 * and now + lease_s. */
static void save_new_takes_the_longer_of_interval_and_lease(void) {
    h_step("save_new_takes_the_longer_of_interval_and_lease");
    char err[512];
    trans_global *t = make_saga("lease-1");
    t->next_cron_interval = 10;
    CHECK_EQ_INT(store_save_new(g_store, t, 30, err, sizeof err), STORE_OK);
    trans_free(t);
    t = make_saga("lease-2");
    t->next_cron_interval = 10;
    CHECK_EQ_INT(store_save_new(g_store, t, 3, err, sizeof err), STORE_OK);
    trans_free(t);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT TIMESTAMPDIFF(SECOND, NOW(), next_cron_time) "
                                      "BETWEEN 28 AND 30 FROM trans_global WHERE gid='lease-1'"), 1);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT TIMESTAMPDIFF(SECOND, NOW(), next_cron_time) "
                                      "BETWEEN 8 AND 10 FROM trans_global WHERE gid='lease-2'"), 1);
    /* The interval itself is stored unchanged: the backoff starts from it. */
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT next_cron_interval FROM trans_global "
                                      "WHERE gid='lease-1'"), 10);
}

typedef struct {
    const char *owner;
    char gids[64][TRANS_GID_MAX + 1];
    int n;
    int errors;
} claimer;

static void *claim_all(void *arg) {
    claimer *c = arg;
    for (;;) {
        trans_global *t = NULL;
        char err[512];
        store_rc rc = store_claim_due(g_store, c->owner, 600, &t, err, sizeof err);
        if (rc == STORE_NOT_FOUND) break;
        if (rc != STORE_OK) {
            fprintf(stderr, "claim: %s\n", err);
            c->errors++;
            break;
        }
        if (c->n < 64) snprintf(c->gids[c->n], sizeof c->gids[0], "%s", t->gid);
        c->n++;
        trans_free(t);
    }
    return NULL;
}

static void two_claimers_never_share_a_row(void) {
    h_step("two_claimers_never_share_a_row");
    char err[512];
    h_db_exec(g_pool, "DELETE FROM trans_global");
    h_db_exec(g_pool, "DELETE FROM trans_branch_op");
    for (int i = 0; i < 50; i++) {
        char gid[32];
        snprintf(gid, sizeof gid, "race-%02d", i);
        trans_global *t = make_saga(gid);
        CHECK_EQ_INT(store_save_new(g_store, t, 0, err, sizeof err), STORE_OK);
        trans_free(t);
    }
    h_db_exec(g_pool, "UPDATE trans_global SET next_cron_time = NOW() - INTERVAL 1 SECOND");
    claimer a = {.owner = "A"}, b = {.owner = "B"};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, claim_all, &a);
    pthread_create(&tb, NULL, claim_all, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    printf("   claimer A took %d rows, claimer B %d\n", a.n, b.n);
    CHECK_EQ_INT(a.errors + b.errors, 0);
    CHECK_EQ_INT(a.n + b.n, 50);
    /* Each row exactly once, and the owner column agrees with who took it. */
    int seen[50] = {0};
    claimer *cs[] = {&a, &b};
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < cs[k]->n && i < 64; i++) {
            int n = atoi(cs[k]->gids[i] + 5);
            if (n >= 0 && n < 50) seen[n]++;
        }
        CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM trans_global WHERE owner='%s'",
                              cs[k]->owner), cs[k]->n);
    }
    for (int i = 0; i < 50; i++) CHECK_EQ_INT(seen[i], 1);
}

/* ---- GET all ---------------------------------------------------------- */

static void list_pages_by_id_desc_with_filters(void) {
    h_step("list_pages_by_id_desc_with_filters");
    char err[512], next[32];
    h_db_exec(g_pool, "DELETE FROM trans_global");
    h_db_exec(g_pool, "DELETE FROM trans_branch_op");
    int64_t ids[5];
    for (int i = 0; i < 5; i++) {
        char gid[16];
        snprintf(gid, sizeof gid, "list-%d", i);
        trans_global *t = make_saga(gid);
        if (i == 4) snprintf(t->trans_type, sizeof t->trans_type, "msg");
        if (i % 2) snprintf(t->status, sizeof t->status, TS_SUCCEED);
        CHECK_EQ_INT(store_save_new(g_store, t, 0, err, sizeof err), STORE_OK);
        ids[i] = t->id;
        trans_free(t);
    }
    json_t *arr = json_array();
    CHECK_EQ_INT(store_list(g_store, NULL, "", 2, NULL, NULL, 0, 0, arr, next, sizeof next, err,
                            sizeof err), STORE_OK);
    CHECK_EQ_INT(json_array_size(arr), 2);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(arr, 0), "id")), ids[4]);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(arr, 1), "id")), ids[3]);
    CHECK_EQ_INT(atoll(next), ids[3]);
    json_array_clear(arr);
    char pos[32];
    snprintf(pos, sizeof pos, "%s", next);
    CHECK_EQ_INT(store_list(g_store, NULL, pos, 2, NULL, NULL, 0, 0, arr, next, sizeof next, err,
                            sizeof err), STORE_OK);
    CHECK_EQ_INT(json_array_size(arr), 2);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(arr, 0), "id")), ids[2]);
    snprintf(pos, sizeof pos, "%s", next);
    json_array_clear(arr);
    CHECK_EQ_INT(store_list(g_store, NULL, pos, 2, NULL, NULL, 0, 0, arr, next, sizeof next, err,
                            sizeof err), STORE_OK);
    CHECK_EQ_INT(json_array_size(arr), 1); /* the last page */
    CHECK_EQ_STR(next, "");
    json_array_clear(arr);
    /* Filters: status, trans_type, gid, create_time range (ms). */
    CHECK_EQ_INT(store_list(g_store, NULL, "", 100, TS_SUCCEED, NULL, 0, 0, arr, next, sizeof next,
                            err, sizeof err), STORE_OK);
    CHECK_EQ_INT(json_array_size(arr), 2);
    json_array_clear(arr);
    CHECK_EQ_INT(store_list(g_store, NULL, "", 100, NULL, "msg", 0, 0, arr, next, sizeof next, err,
                            sizeof err), STORE_OK);
    CHECK_EQ_INT(json_array_size(arr), 1);
    json_array_clear(arr);
    CHECK_EQ_INT(store_list(g_store, "list-2", "", 100, NULL, NULL, 0, 0, arr, next, sizeof next,
                            err, sizeof err), STORE_OK);
    CHECK(json_array_size(arr) == 1 &&
          strcmp(json_string_value(json_object_get(json_array_get(arr, 0), "gid")), "list-2") == 0);
    json_array_clear(arr);
    int64_t now_ms = h_db_int(g_pool, 0, "SELECT UNIX_TIMESTAMP() * 1000");
    CHECK_EQ_INT(store_list(g_store, NULL, "", 100, NULL, NULL, now_ms - 60000, now_ms + 60000, arr,
                            next, sizeof next, err, sizeof err), STORE_OK);
    CHECK_EQ_INT(json_array_size(arr), 5);
    json_array_clear(arr);
    CHECK_EQ_INT(store_list(g_store, NULL, "", 100, NULL, NULL, now_ms + 60000, 0, arr, next,
                            sizeof next, err, sizeof err), STORE_OK);
    CHECK_EQ_INT(json_array_size(arr), 0);
    CHECK_EQ_INT(store_list(g_store, NULL, "", 100, NULL, NULL, 0, now_ms - 60000, arr, next,
                            sizeof next, err, sizeof err), STORE_OK);
    CHECK_EQ_INT(json_array_size(arr), 0);
    CHECK_EQ_INT(store_list(g_store, NULL, "12x", 100, NULL, NULL, 0, 0, arr, next, sizeof next,
                            err, sizeof err), STORE_ERR);
    json_decref(arr);
}

/* ---- query JSON ------------------------------------------------------- */

static int matches(const char *re, const char *s) {
    regex_t r;
    if (!s || regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0) return 0;
    int ok = regexec(&r, s, 0, NULL, 0) == 0;
    regfree(&r);
    return ok;
}

static void query_json_has_dtm_shape(void) {
    h_step("query_json_has_dtm_shape");
    char err[512];
    trans_global *t = NULL;
    CHECK_EQ_INT(store_load(g_store, "list-1", 1, &t, err, sizeof err), STORE_OK);
    if (!t) return;
    json_t *j = store_trans_json(t);
    char *text = json_dumps(j, JSON_COMPACT);
    printf("   %s\n", text);
    free(text);
    static const char *const keys[] = {
        "id", "gid", "trans_type", "status", "query_prepared", "protocol", "create_time",
        "update_time", "finish_time", "rollback_time", "options", "custom_data",
        "next_cron_interval", "next_cron_time", "owner", "ext_data", "result", "rollback_reason",
        "concurrent"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!json_object_get(j, keys[i])) {
            fprintf(stderr, "   missing key %s\n", keys[i]);
            h_failures++;
        }
    CHECK(json_is_integer(json_object_get(j, "id")));
    CHECK_EQ_STR(json_string_value(json_object_get(j, "options")), "{\"concurrent\":false}");
    CHECK_EQ_STR(json_string_value(json_object_get(j, "status")), TS_SUCCEED);
    CHECK(json_is_integer(json_object_get(j, "next_cron_interval")));
    CHECK(json_is_null(json_object_get(j, "finish_time"))); /* set by SQL only on progress */
    CHECK(json_is_false(json_object_get(j, "concurrent")));
    const char *ct = json_string_value(json_object_get(j, "create_time"));
    CHECK(matches("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$", ct));
    CHECK_EQ_STR(ct, sql_str("SELECT DATE_FORMAT(create_time, '%Y-%m-%dT%H:%i:%sZ') FROM "
                             "trans_global WHERE gid='list-1'"));
    json_decref(j);

    j = store_branch_json(t, &t->branches[3]);
    text = json_dumps(j, JSON_COMPACT);
    printf("   %s\n", text);
    free(text);
    static const char *const bkeys[] = {"id", "gid", "url", "data", "bin_data", "branch_id", "op",
                                        "status", "finish_time", "rollback_time", "create_time",
                                        "update_time"};
    for (size_t i = 0; i < sizeof bkeys / sizeof bkeys[0]; i++)
        if (!json_object_get(j, bkeys[i])) {
            fprintf(stderr, "   missing branch key %s\n", bkeys[i]);
            h_failures++;
        }
    CHECK_EQ_STR(json_string_value(json_object_get(j, "bin_data")), "eyJhbW91bnQiOjMwfQ==");
    CHECK_EQ_STR(json_string_value(json_object_get(j, "gid")), "list-1");
    CHECK_EQ_STR(json_string_value(json_object_get(j, "branch_id")), "02");
    CHECK_EQ_STR(json_string_value(json_object_get(j, "op")), OP_ACTION);
    CHECK(json_is_null(json_object_get(j, "finish_time")));
    CHECK(matches("Z$", json_string_value(json_object_get(j, "update_time"))));
    json_decref(j);
    j = store_branch_json(t, &t->branches[0]);
    CHECK_EQ_STR(json_string_value(json_object_get(j, "bin_data")), "AP+AYQoAJyLD");
    json_decref(j);
    trans_free(t);
}

int main(void) {
    g_pool = h_db_fresh(TEST_DB);
    g_store = store_new(g_pool, 5000);
    char err[512];
    h_step("create_schema_is_idempotent");
    CHECK_EQ_INT(store_create_schema(g_store, err, sizeof err), STORE_OK);
    CHECK_EQ_INT(store_create_schema(g_store, err, sizeof err), STORE_OK);
    CHECK_EQ_INT(h_db_int(g_pool, -1, "SELECT COUNT(*) FROM information_schema.TABLES WHERE "
                                      "TABLE_SCHEMA='" TEST_DB "'"), 3);

    trans_model_rules();
    save_new_then_load_round_trips();
    save_new_refuses_duplicate_gid();
    save_progress_is_conditional_and_atomic();
    change_status_and_register();
    claim_takes_only_due_rows();
    save_new_takes_the_longer_of_interval_and_lease();
    two_claimers_never_share_a_row();
    list_pages_by_id_desc_with_filters();
    query_json_has_dtm_shape();

    store_free(g_store);
    db_pool_free(g_pool);
    return h_finish("test_store");
}
