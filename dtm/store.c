/* store.c: the coordinator's store on MySQL/MariaDB, in DTM's own schema
 * (sql/40-dtm.sql; dtm-protocol.md §6). See store.h for the contracts.
 *
 * How it fits: the engine, the service and the cron reach the database only
 * through these functions. Every write that touches several rows runs in ONE
 * local transaction (db_with_tx), so a crash never leaves a global row and
 * its branch rows out of step, and a saga costs few commits (engine.h).
 *
 * Concurrency rules, so that several coordinators can share one store:
 * - a status change is "UPDATE ... WHERE gid=? AND status=<old>"; 0 rows means
 *   another instance moved it first (STORE_CONFLICT), and nothing is written;
 * - the global row is updated BEFORE its branch rows, so the row lock on the
 *   global serialises competing writers of one transaction (the loser waits,
 *   then sees 0 rows) and every writer takes locks in the same order;
 * - the cron claims a due row with a conditional UPDATE of owner and
 *   next_cron_time, so two instances never both claim it.
 * MySQL reports rows CHANGED, not rows matched: an UPDATE that writes the
 * values a row already holds (same status, same second) says 0. Where that
 * can happen (old status == new status) a locking SELECT tells "unchanged"
 * from "not there".
 *
 * All SQL is prepared with bound arguments; times are NOW() of the database,
 * whose sessions run in UTC (db.h), except a new transaction's, which come
 * from our clock in UTC (save_new). Beside this file: the tables in
 * store_schema.c, the multi-row INSERTs of new rows in store_rows.c, group
 * commit of concurrent writes in store_batch.c, and the JSON that query and
 * all print in store_json.c. */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errbuf.h"
#include "log.h"
#include "store_int.h"

#define CLAIM_CANDIDATES 10
/* The statuses a cron may claim: the transaction is not final yet. */
#define UNFINISHED "('prepared','aborting','submitted')"

/* Maps what db_with_tx() returned onto a store_rc. */
static store_rc tx_rc(int r) {
    switch (r) {
    case 0: return STORE_OK;
    case TXR_DUP: return STORE_DUP;
    case TXR_CONFLICT: return STORE_CONFLICT;
    case TXR_NOT_FOUND: return STORE_NOT_FOUND;
    default: return STORE_ERR;
    }
}

store *store_new(db_pool *pool, int db_timeout_ms) {
    store *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->pool = pool;
    s->timeout_ms = db_timeout_ms > 0 ? db_timeout_ms : 3000;
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

void store_free(store *s) {
    if (!s) return;
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* A connection for an operation on gid, or NULL with err saying
 * "gid <gid>: <what>: <why>". */
static db_conn *acquire_for(store *s, const char *gid, const char *what, char *err,
                            size_t errlen) {
    char e[512] = "";
    db_rc rc;
    db_conn *c = db_acquire(s->pool, s->timeout_ms, &rc, e, sizeof e);
    if (!c) errbuf_set(err, errlen, "gid %s: %s: %s", gid, what, e);
    return c;
}

/* ---- reading rows ------------------------------------------------------- */

/* The columns every read of a global row selects, in this order. */
#define GLOBAL_COLS                                                                          \
    "id, gid, trans_type, status, query_prepared, protocol, create_time, update_time, "      \
    "finish_time, rollback_time, options, custom_data, next_cron_interval, next_cron_time, " \
    "owner, ext_data, result, rollback_reason, TIMESTAMPDIFF(SECOND, create_time, NOW())"
enum { GC_ID, GC_GID, GC_TYPE, GC_STATUS, GC_QP, GC_PROTO, GC_CTIME, GC_UTIME, GC_FTIME, GC_RTIME,
       GC_OPTIONS, GC_CUSTOM, GC_INTERVAL, GC_NEXT, GC_OWNER, GC_EXT, GC_RESULT, GC_REASON, GC_AGE,
       GC_COUNT };

#define BRANCH_COLS \
    "id, url, bin_data, branch_id, op, status, create_time, update_time, finish_time, rollback_time"
enum { BC_ID, BC_URL, BC_DATA, BC_BID, BC_OP, BC_STATUS, BC_CTIME, BC_UTIME, BC_FTIME, BC_RTIME,
       BC_COUNT };

static void val_fixed(char *dst, size_t size, const db_val *v) {
    snprintf(dst, size, "%s", v->is_null ? "" : v->s);
}

static int64_t val_int(const db_val *v) { return v->is_null ? 0 : strtoll(v->s, NULL, 10); }

/* Replaces *field by the column's text (NULL reads as ""). -1 on OOM. */
static int val_text(char **field, const db_val *v) {
    char *s = strdup(v->is_null ? "" : v->s);
    if (!s) return -1;
    free(*field);
    *field = s;
    return 0;
}

/* Builds a trans_global from a row of GLOBAL_COLS. NULL on OOM. */
static trans_global *global_from_row(const db_val *c) {
    trans_global *t = trans_new(c[GC_GID].is_null ? "" : c[GC_GID].s,
                                c[GC_TYPE].is_null ? "" : c[GC_TYPE].s);
    if (!t) return NULL;
    t->id = val_int(&c[GC_ID]);
    val_fixed(t->status, sizeof t->status, &c[GC_STATUS]);
    val_fixed(t->protocol, sizeof t->protocol, &c[GC_PROTO]);
    val_fixed(t->create_time, sizeof t->create_time, &c[GC_CTIME]);
    val_fixed(t->update_time, sizeof t->update_time, &c[GC_UTIME]);
    val_fixed(t->finish_time, sizeof t->finish_time, &c[GC_FTIME]);
    val_fixed(t->rollback_time, sizeof t->rollback_time, &c[GC_RTIME]);
    val_fixed(t->next_cron_time, sizeof t->next_cron_time, &c[GC_NEXT]);
    val_fixed(t->owner, sizeof t->owner, &c[GC_OWNER]);
    t->next_cron_interval = val_int(&c[GC_INTERVAL]);
    t->age_s = val_int(&c[GC_AGE]);
    if (val_text(&t->query_prepared, &c[GC_QP]) || val_text(&t->custom_data, &c[GC_CUSTOM]) ||
        val_text(&t->req_extra, &c[GC_EXT]) || val_text(&t->result, &c[GC_RESULT]) ||
        val_text(&t->rollback_reason, &c[GC_REASON])) {
        trans_free(t);
        return NULL;
    }
    /* A damaged options column must not make the transaction unloadable
     * (the cron would claim it forever): run it on the defaults. */
    if (trans_options_from_json(c[GC_OPTIONS].is_null ? "" : c[GC_OPTIONS].s, &t->opts) != 0)
        log_warn(t->gid, "store: options column is not valid JSON; using defaults");
    return t;
}

typedef struct {
    trans_global *t; /* the row read, or NULL */
    int oom;
} one_global;

static int one_global_row(void *ud, size_t ncols, const db_val *cols) {
    one_global *g = ud;
    if (ncols != GC_COUNT) return 1;
    g->t = global_from_row(cols);
    if (!g->t) g->oom = 1;
    return 1;
}

typedef struct {
    trans_global *t;
    int oom;
} branch_rows;

static int branch_row(void *ud, size_t ncols, const db_val *c) {
    branch_rows *br = ud;
    if (ncols != BC_COUNT) return 1;
    int i = trans_add_branch(br->t, c[BC_BID].is_null ? "" : c[BC_BID].s,
                             c[BC_OP].is_null ? "" : c[BC_OP].s, c[BC_URL].is_null ? "" : c[BC_URL].s,
                             c[BC_DATA].is_null ? NULL : c[BC_DATA].s,
                             c[BC_DATA].is_null ? 0 : c[BC_DATA].len);
    if (i < 0) {
        br->oom = 1;
        return 1;
    }
    trans_branch *b = &br->t->branches[i];
    b->id = val_int(&c[BC_ID]);
    val_fixed(b->status, sizeof b->status, &c[BC_STATUS]);
    val_fixed(b->create_time, sizeof b->create_time, &c[BC_CTIME]);
    val_fixed(b->update_time, sizeof b->update_time, &c[BC_UTIME]);
    val_fixed(b->finish_time, sizeof b->finish_time, &c[BC_FTIME]);
    val_fixed(b->rollback_time, sizeof b->rollback_time, &c[BC_RTIME]);
    return 0;
}

/* Loads gid on connection c (see store_load). */
static store_rc load_on(db_conn *c, const char *gid, int with_branches, trans_global **out,
                        char *err, size_t errlen) {
    char e[512];
    *out = NULL;
    one_global g = {0};
    db_arg a[] = {DB_STR(gid)};
    db_rc rc = db_query(c, "SELECT " GLOBAL_COLS " FROM trans_global WHERE gid=?", a, 1,
                        one_global_row, &g, e, sizeof e);
    if (rc != DB_OK || g.oom) {
        trans_free(g.t);
        errbuf_set(err, errlen, "gid %s: load: %s", gid, rc != DB_OK ? e : "out of memory");
        return STORE_ERR;
    }
    if (!g.t) return STORE_NOT_FOUND;
    trans_global *t = g.t;
    if (with_branches) {
        branch_rows br = {t, 0};
        rc = db_query(c, "SELECT " BRANCH_COLS " FROM trans_branch_op WHERE gid=? ORDER BY id", a,
                      1, branch_row, &br, e, sizeof e);
        if (rc != DB_OK || br.oom) {
            errbuf_set(err, errlen, "gid %s: load branches: %s", gid,
                       rc != DB_OK ? e : "out of memory");
            trans_free(t);
            return STORE_ERR;
        }
    }
    if (strcmp(t->trans_type, "saga") == 0 && with_branches) {
        /* The step orders are not columns: they live in custom_data. */
        t->n_steps = t->n_branches / 2;
        if (trans_parse_saga_custom(t, e, sizeof e) != 0) {
            errbuf_set(err, errlen, "load: %s", e);
            trans_free(t);
            return STORE_ERR;
        }
    }
    *out = t;
    return STORE_OK;
}

store_rc store_load(store *s, const char *gid, int with_branches, trans_global **out, char *err,
                    size_t errlen) {
    *out = NULL;
    db_conn *c = acquire_for(s, gid, "load", err, errlen);
    if (!c) return STORE_ERR;
    store_rc r = load_on(c, gid, with_branches, out, err, errlen);
    db_release(s->pool, c);
    return r;
}

/* ---- save_new ----------------------------------------------------------- */

/* Inserts the n branch rows b of one transaction gid (see
 * store_insert_branches). */
static int insert_own_branches(db_conn *c, const char *gid, trans_branch *b, size_t n, int upsert,
                               int set_ids, char *err, size_t errlen) {
    if (!n) return DB_OK;
    branch_ref *refs = malloc(n * sizeof *refs);
    if (!refs) {
        errbuf_set(err, errlen, "out of memory");
        return DB_ESQL;
    }
    for (size_t i = 0; i < n; i++) refs[i] = (branch_ref){gid, &b[i]};
    int rc = store_insert_branches(c, refs, n, upsert, set_ids, err, errlen);
    free(refs);
    return rc;
}

static int two_times_row(void *ud, size_t ncols, const db_val *c) {
    two_times *tt = ud;
    if (ncols >= 2) {
        val_fixed(tt->a, sizeof tt->a, &c[0]);
        val_fixed(tt->b, sizeof tt->b, &c[1]);
    }
    return 1;
}

int store_save_new_tx(db_conn *c, void *ud, char *err, size_t errlen) {
    save_new_ctx *x = ud;
    trans_global *t = x->t;
    int rc = store_insert_globals(c, &x, 1, err, errlen);
    if (rc == DB_EDUP) return TXR_DUP;
    if (rc != DB_OK) return rc;
    rc = insert_own_branches(c, t->gid, t->branches, t->n_branches, 0, 1, err, errlen);
    return rc == DB_EDUP ? TXR_INVALID : rc; /* two rows share (branch_id, op) */
}

store_rc store_save_new(store *s, trans_global *t, int64_t lease_s, char *err, size_t errlen) {
    char *options = trans_options_json(&t->opts);
    if (!options) {
        errbuf_set(err, errlen, "gid %s: save: out of memory", t->gid);
        return STORE_ERR;
    }
    if (strlen(options) > TRANS_TEXT_MAX) {
        errbuf_set(err, errlen, "gid %s: save: the options are longer than %d bytes", t->gid,
                   TRANS_TEXT_MAX);
        free(options);
        return STORE_ERR;
    }
    save_new_ctx x = {.t = t, .options = options, .lease_s = lease_s};
    char e[512] = "";
    int r = store_batch_run(s, 'n', &x, e, sizeof e);
    free(options);
    store_rc rc = tx_rc(r);
    if (rc == STORE_OK) {
        snprintf(t->create_time, sizeof t->create_time, "%s", x.now.a);
        snprintf(t->update_time, sizeof t->update_time, "%s", x.now.a);
        snprintf(t->next_cron_time, sizeof t->next_cron_time, "%s", x.now.b);
        for (size_t i = 0; i < t->n_branches; i++) {
            snprintf(t->branches[i].create_time, sizeof t->branches[i].create_time, "%s", x.now.a);
            snprintf(t->branches[i].update_time, sizeof t->branches[i].update_time, "%s", x.now.a);
        }
        t->age_s = 0;
    } else if (rc == STORE_DUP) {
        errbuf_set(err, errlen, "gid %s: exists already", t->gid);
        t->id = 0;
    } else {
        errbuf_set(err, errlen, "gid %s: save: %s", t->gid,
                   r == TXR_INVALID ? "two branches share a branch_id and op" : e);
        t->id = 0;
    }
    return rc;
}

/* ---- status changes ----------------------------------------------------- */

/* After a conditional UPDATE of gid changed 0 rows: TXR_NOT_FOUND when gid
 * does not exist, 0 when it is in `expect` (the update matched but changed
 * nothing), TXR_CONFLICT otherwise. `lock` reads with FOR UPDATE (inside a
 * transaction that goes on writing). */
static int recheck_status(db_conn *c, const char *gid, const char *expect, int lock, char *err,
                          size_t errlen) {
    char st[32] = "";
    db_arg a[] = {DB_STR(gid)};
    two_times row = {"", ""};
    int rc = db_query(c, lock ? "SELECT status, '' FROM trans_global WHERE gid=? FOR UPDATE"
                              : "SELECT status, '' FROM trans_global WHERE gid=?",
                      a, 1, two_times_row, &row, err, errlen);
    if (rc != DB_OK) return rc;
    snprintf(st, sizeof st, "%s", row.a);
    if (!st[0]) return TXR_NOT_FOUND;
    return strcmp(st, expect) == 0 ? 0 : TXR_CONFLICT;
}

/* Stores the status of every dirty branch of t, by the unique key (gid,
 * branch_id, op), which every copy of the transaction knows even before its
 * rows were read back. Branches that share an op and a new status (both
 * actions of a saga that succeeded) go in one statement, up to
 * BRANCH_IDS_PER_UPDATE at a time. */
#define BRANCH_IDS_PER_UPDATE 32
static int update_dirty_branches(db_conn *c, trans_global *t, char *err, size_t errlen) {
    static const char head[] = "UPDATE trans_branch_op SET status=?, finish_time=NOW(), "
                               "update_time=NOW() WHERE gid=? AND op=? AND branch_id IN (";
    char sql[sizeof head + 2 * BRANCH_IDS_PER_UPDATE + 2];
    db_arg a[3 + BRANCH_IDS_PER_UPDATE];
    size_t n = t->n_branches;
    char *done = calloc(n ? n : 1, 1);
    if (!done) {
        errbuf_set(err, errlen, "out of memory");
        return DB_ESQL;
    }
    int rc = DB_OK;
    for (size_t i = 0; i < n && rc == DB_OK; i++) {
        const trans_branch *first = &t->branches[i];
        if (!first->dirty || done[i]) continue;
        size_t k = 0, len = sizeof head - 1;
        memcpy(sql, head, len);
        a[0] = DB_STR(first->status);
        a[1] = DB_STR(t->gid);
        a[2] = DB_STR(first->op);
        for (size_t j = i; j < n && k < BRANCH_IDS_PER_UPDATE; j++) {
            const trans_branch *b = &t->branches[j];
            if (!b->dirty || done[j] || strcmp(b->op, first->op) != 0 ||
                strcmp(b->status, first->status) != 0)
                continue;
            done[j] = 1;
            if (k) sql[len++] = ',';
            sql[len++] = '?';
            a[3 + k++] = DB_STR(b->branch_id);
        }
        sql[len++] = ')';
        sql[len] = '\0';
        rc = db_exec(c, sql, a, 3 + k, NULL, err, errlen);
    }
    free(done);
    return rc;
}

/* The SQL that moves a global row to a new status, setting finish_time when
 * it succeeds and rollback_time when it fails (as DTM's changeStatus):
 * [kind][0] without its WHERE clause (store_batch.c adds its own),
 * [kind][1] for one row by gid and old status. Constant texts, so that a
 * save builds nothing. */
#define SET_PROGRESS                                                                    \
    "UPDATE trans_global SET status=?, rollback_reason=?, result=?, next_cron_interval=?, " \
    "next_cron_time=DATE_ADD(NOW(), INTERVAL ? SECOND), update_time=NOW()"
#define BY_GID "WHERE gid=? AND status=?"
static const char *const progress_sql[3][2] = {
    {SET_PROGRESS ", finish_time=NOW() ", SET_PROGRESS ", finish_time=NOW() " BY_GID},
    {SET_PROGRESS ", rollback_time=NOW() ", SET_PROGRESS ", rollback_time=NOW() " BY_GID},
    {SET_PROGRESS " ", SET_PROGRESS " " BY_GID},
};

static int progress_kind(const char *status) {
    return strcmp(status, TS_SUCCEED) == 0 ? 0 : strcmp(status, TS_FAILED) == 0 ? 1 : 2;
}

const char *store_progress_set_sql(const char *status) {
    return progress_sql[progress_kind(status)][0];
}

int store_save_progress_tx(db_conn *c, void *ud, char *err, size_t errlen) {
    progress_ctx *x = ud;
    trans_global *t = x->t;
    db_arg a[] = {DB_STR(t->status), DB_STR(t->rollback_reason), DB_STR(t->result),
                  DB_INT(x->interval), DB_INT(x->delay), DB_STR(t->gid), DB_STR(x->old_status)};
    uint64_t n = 0;
    /* The global row first: it is the lock that serialises writers (top). */
    int rc = db_exec(c, progress_sql[progress_kind(t->status)][1], a, sizeof a / sizeof a[0], &n,
                     err, errlen);
    if (rc != DB_OK) return rc;
    if (n == 0) {
        if (strcmp(x->old_status, t->status) != 0) return TXR_CONFLICT;
        rc = recheck_status(c, t->gid, x->old_status, 1, err, errlen);
        if (rc == TXR_NOT_FOUND) return TXR_CONFLICT;
        if (rc != 0) return rc;
    }
    return update_dirty_branches(c, t, err, errlen);
}

store_rc store_save_progress(store *s, trans_global *t, const char *old_status,
                             int64_t next_interval_s, int64_t delay_s, char *err, size_t errlen) {
    progress_ctx x = {t, old_status, next_interval_s, delay_s};
    char e[512] = "";
    int r = store_batch_run(s, 'p', &x, e, sizeof e);
    store_rc rc = tx_rc(r);
    if (rc == STORE_OK) {
        for (size_t i = 0; i < t->n_branches; i++) t->branches[i].dirty = 0;
        t->next_cron_interval = next_interval_s;
    } else if (rc == STORE_CONFLICT) {
        errbuf_set(err, errlen, "gid %s: not in status '%s' any more: another instance moved it",
                   t->gid, old_status);
    } else {
        errbuf_set(err, errlen, "gid %s: save progress (%s -> %s): %s", t->gid, old_status,
                   t->status, e);
    }
    return rc;
}

store_rc store_change_status(store *s, const char *gid, const char *old_status,
                             const char *new_status, const char *rollback_reason, char *err,
                             size_t errlen) {
    db_conn *c = acquire_for(s, gid, "change status", err, errlen);
    if (!c) return STORE_ERR;
    char e[512] = "";
    const char *extra = strcmp(new_status, TS_SUCCEED) == 0  ? ", finish_time=NOW()"
                        : strcmp(new_status, TS_FAILED) == 0 ? ", rollback_time=NOW()"
                                                             : "";
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE trans_global SET status=?, update_time=NOW()%s%s "
             "WHERE gid=? AND status=?", extra, rollback_reason ? ", rollback_reason=?" : "");
    /* The placeholder order follows the SQL text: status, [reason], gid, old. */
    db_arg a[4];
    size_t na = 0;
    a[na++] = DB_STR(new_status);
    if (rollback_reason) a[na++] = DB_STR(rollback_reason);
    a[na++] = DB_STR(gid);
    a[na++] = DB_STR(old_status);
    uint64_t n = 0;
    int rc = db_exec(c, sql, a, na, &n, e, sizeof e);
    if (rc == DB_OK && n == 0) rc = recheck_status(c, gid, old_status, 0, e, sizeof e);
    if (rc == 0 && n == 0 && strcmp(old_status, new_status) != 0) rc = TXR_CONFLICT;
    db_release(s->pool, c);
    store_rc r = tx_rc(rc);
    if (r == STORE_CONFLICT)
        errbuf_set(err, errlen, "gid %s: not in status '%s'", gid, old_status);
    else if (r == STORE_NOT_FOUND)
        errbuf_set(err, errlen, "gid %s: no such transaction", gid);
    else if (r == STORE_ERR)
        errbuf_set(err, errlen, "gid %s: change status %s -> %s: %s", gid, old_status, new_status,
                   e);
    return r;
}

store_rc store_reset_cron_time(store *s, const char *gid, char *err, size_t errlen) {
    db_conn *c = acquire_for(s, gid, "reset cron time", err, errlen);
    if (!c) return STORE_ERR;
    char e[512] = "";
    db_arg a[] = {DB_STR(gid)};
    uint64_t n = 0;
    int rc = db_exec(c, "UPDATE trans_global SET next_cron_time=NOW(), update_time=NOW() WHERE gid=?",
                     a, 1, &n, e, sizeof e);
    if (rc == DB_OK && n == 0) {
        int64_t one = 0;
        int found = 0;
        rc = db_query_int64(c, "SELECT 1 FROM trans_global WHERE gid=?", a, 1, &one, &found, e,
                            sizeof e);
        if (rc == DB_OK && !found) rc = TXR_NOT_FOUND;
    }
    db_release(s->pool, c);
    store_rc r = tx_rc(rc);
    if (r == STORE_NOT_FOUND) errbuf_set(err, errlen, "gid %s: no such transaction", gid);
    else if (r == STORE_ERR) errbuf_set(err, errlen, "gid %s: reset cron time: %s", gid, e);
    return r;
}

/* ---- registerBranch ----------------------------------------------------- */

typedef struct {
    const char *gid;
    trans_branch *b;
    size_t n;
} add_branches_ctx;

static int add_branches_tx(db_conn *c, void *ud, char *err, size_t errlen) {
    add_branches_ctx *x = ud;
    /* Lock the global so that a concurrent submit/abort waits for the new
     * rows, or makes this insert see that it is no longer prepared. */
    int rc = recheck_status(c, x->gid, TS_PREPARED, 1, err, errlen);
    if (rc != 0) return rc;
    return insert_own_branches(c, x->gid, x->b, x->n, 1, 0, err, errlen);
}

store_rc store_add_branches(store *s, const char *gid, trans_branch *b, size_t n, char *err,
                            size_t errlen) {
    add_branches_ctx x = {gid, b, n};
    char e[512] = "";
    store_rc r = tx_rc(db_with_tx(s->pool, s->timeout_ms, add_branches_tx, &x, e, sizeof e));
    if (r == STORE_CONFLICT) errbuf_set(err, errlen, "gid %s: the transaction is not prepared", gid);
    else if (r == STORE_NOT_FOUND) errbuf_set(err, errlen, "gid %s: no such transaction", gid);
    else if (r == STORE_ERR) errbuf_set(err, errlen, "gid %s: register branch: %s", gid, e);
    return r;
}

/* ---- cron claim --------------------------------------------------------- */

typedef struct {
    int64_t id[CLAIM_CANDIDATES];
    char gid[CLAIM_CANDIDATES][TRANS_GID_MAX + 1];
    size_t n;
} candidates;

static int candidate_row(void *ud, size_t ncols, const db_val *c) {
    candidates *k = ud;
    if (ncols < 2 || k->n == CLAIM_CANDIDATES) return 1;
    k->id[k->n] = val_int(&c[0]);
    val_fixed(k->gid[k->n], sizeof k->gid[k->n], &c[1]);
    k->n++;
    return 0;
}

store_rc store_claim_due(store *s, const char *owner, int64_t lease_s, trans_global **out,
                         char *err, size_t errlen) {
    *out = NULL;
    char e[512] = "";
    db_rc drc;
    db_conn *c = db_acquire(s->pool, s->timeout_ms, &drc, e, sizeof e);
    if (!c) {
        errbuf_set(err, errlen, "cron: %s", e);
        return STORE_ERR;
    }
    candidates k = {.n = 0};
    int rc = db_query(c,
                      "SELECT id, gid FROM trans_global WHERE status IN " UNFINISHED
                      " AND next_cron_time < NOW() "
                      "ORDER BY next_cron_time LIMIT 10",
                      NULL, 0, candidate_row, &k, e, sizeof e);
    store_rc r = rc == DB_OK ? STORE_NOT_FOUND : STORE_ERR;
    /* Several instances see the same candidates: the conditional UPDATE lets
     * exactly one of them have each, and the others try the next. */
    for (size_t i = 0; rc == DB_OK && i < k.n; i++) {
        db_arg a[] = {DB_STR(owner), DB_INT(lease_s), DB_INT(k.id[i])};
        uint64_t n = 0;
        rc = db_exec(c,
                     "UPDATE trans_global SET owner=?, next_cron_time=DATE_ADD(NOW(), INTERVAL ? "
                     "SECOND), update_time=NOW() WHERE id=? AND status IN " UNFINISHED
                     " AND next_cron_time < NOW()",
                     a, 3, &n, e, sizeof e);
        if (rc != DB_OK) {
            r = STORE_ERR;
            break;
        }
        if (n == 1) {
            r = load_on(c, k.gid[i], 1, out, e, sizeof e);
            break;
        }
    }
    db_release(s->pool, c);
    if (r == STORE_ERR) errbuf_set(err, errlen, "cron: claim: %s", e);
    return r;
}

store_rc store_extend_claim(store *s, const char *gid, const char *owner, int64_t lease_s,
                            char *err, size_t errlen) {
    db_conn *c = acquire_for(s, gid, "extend claim", err, errlen);
    if (!c) return STORE_ERR;
    char e[512] = "";
    db_arg a[] = {DB_INT(lease_s), DB_STR(gid), DB_STR(owner)};
    uint64_t n = 0;
    int rc = db_exec(c,
                     "UPDATE trans_global SET next_cron_time=DATE_ADD(NOW(), INTERVAL ? SECOND), "
                     "update_time=NOW() WHERE gid=? AND owner=? AND status IN " UNFINISHED,
                     a, 3, &n, e, sizeof e);
    db_release(s->pool, c);
    if (rc != DB_OK) {
        errbuf_set(err, errlen, "gid %s: extend claim: %s", gid, e);
        return STORE_ERR;
    }
    if (n == 0) {
        errbuf_set(err, errlen, "gid %s: extend claim: no longer claimed by %s", gid, owner);
        return STORE_CONFLICT;
    }
    return STORE_OK;
}

/* ---- listing (GET all) -------------------------------------------------- */

typedef struct {
    json_t *arr;
    size_t limit, seen;
    int64_t last_id;
    int oom;
} list_ctx;

static int list_row(void *ud, size_t ncols, const db_val *c) {
    list_ctx *x = ud;
    if (ncols != GC_COUNT) return 1;
    if (x->seen++ == x->limit) return 1; /* the extra row only says "there is more" */
    trans_global *t = global_from_row(c);
    json_t *j = t ? store_trans_json(t) : NULL;
    if (!j || json_array_append_new(x->arr, j) != 0) {
        x->oom = 1;
        trans_free(t);
        return 1;
    }
    x->last_id = t->id;
    trans_free(t);
    return 0;
}

store_rc store_list(store *s, const char *gid, const char *position, int limit,
                    const char *status, const char *trans_type, int64_t ctime_start_ms,
                    int64_t ctime_end_ms, json_t *arr, char *next_position, size_t next_len,
                    char *err, size_t errlen) {
    if (next_position && next_len) next_position[0] = '\0';
    if (limit <= 0) limit = 100;
    if (limit > 1000) limit = 1000;
    char sql[512];
    size_t len = (size_t)snprintf(sql, sizeof sql, "SELECT " GLOBAL_COLS " FROM trans_global WHERE 1=1");
    db_arg a[8];
    size_t na = 0;
    if (position && position[0]) {
        char *end = NULL;
        errno = 0;
        long long pos = strtoll(position, &end, 10);
        if (errno || *end || pos < 0) {
            errbuf_set(err, errlen, "position '%.40s' is not a transaction id", position);
            return STORE_ERR;
        }
        len += (size_t)snprintf(sql + len, sizeof sql - len, " AND id < ?");
        a[na++] = DB_INT(pos);
    }
#define LIST_FILTER(value, cond)                                                  \
    if ((value) && (value)[0]) {                                                  \
        len += (size_t)snprintf(sql + len, sizeof sql - len, " AND " cond " = ?"); \
        a[na++] = DB_STR(value);                                                  \
    }
    LIST_FILTER(gid, "gid")
    LIST_FILTER(status, "status")
    LIST_FILTER(trans_type, "trans_type")
#undef LIST_FILTER
    if (ctime_start_ms > 0) {
        len += (size_t)snprintf(sql + len, sizeof sql - len,
                                " AND create_time >= FROM_UNIXTIME(? / 1000)");
        a[na++] = DB_INT(ctime_start_ms);
    }
    if (ctime_end_ms > 0) {
        len += (size_t)snprintf(sql + len, sizeof sql - len,
                                " AND create_time <= FROM_UNIXTIME(? / 1000)");
        a[na++] = DB_INT(ctime_end_ms);
    }
    snprintf(sql + len, sizeof sql - len, " ORDER BY id DESC LIMIT ?");
    a[na++] = DB_INT(limit + 1);

    char e[512] = "";
    db_rc drc;
    db_conn *c = db_acquire(s->pool, s->timeout_ms, &drc, e, sizeof e);
    if (!c) {
        errbuf_set(err, errlen, "list: %s", e);
        return STORE_ERR;
    }
    list_ctx x = {.arr = arr, .limit = (size_t)limit};
    int rc = db_query(c, sql, a, na, list_row, &x, e, sizeof e);
    db_release(s->pool, c);
    if (rc != DB_OK || x.oom) {
        errbuf_set(err, errlen, "list: %s", rc != DB_OK ? e : "out of memory");
        return STORE_ERR;
    }
    if (x.seen > x.limit && next_position && next_len)
        snprintf(next_position, next_len, "%" PRId64, x.last_id);
    return STORE_OK;
}
