/* barrier.c: DTM's sub-transaction barrier (barrier.h; dtm-protocol.md §5;
 * README, "The barrier").
 *
 * A branch may be called twice (the coordinator retries after a timeout), its
 * compensation may arrive although the action never ran (the action timed
 * out in the network), and the action may arrive after its compensation
 * (hanging). The barrier makes all three harmless with two INSERT IGNOREs
 * into a table with UNIQUE(gid, branch_id, op, barrier_id), done in the same
 * local transaction as the business SQL. */
#include "barrier.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

#define BARRIER_NAME_MAX 64 /* MySQL's limit for a database or table name */

/* The barrier table, already quoted for SQL ("`dtm_barrier`.`barrier`").
 * Set before serving; the mutex only keeps a late change from tearing. */
static pthread_mutex_t g_table_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_table[2 * BARRIER_NAME_MAX + 8] = "`dtm_barrier`.`barrier`";

/* ---- setup ------------------------------------------------------------- */

static int copy_field(char *dst, size_t cap, const char *val, const char *name, char *err,
                      size_t errlen) {
    if (!val || !*val) {
        snprintf(err, errlen, "invalid trans info: missing %s", name);
        return -1;
    }
    size_t n = strlen(val);
    for (size_t i = 0; i < n; i++) {
        /* Stored in utf8mb4 columns by INSERT IGNORE, other bytes would be
         * mangled to '?' and two different gids could share a barrier row. */
        if ((unsigned char)val[i] < 0x20 || (unsigned char)val[i] > 0x7e) {
            snprintf(err, errlen, "invalid trans info: %s is not printable ASCII", name);
            return -1;
        }
    }
    if (n >= cap) {
        snprintf(err, errlen, "invalid trans info: %s is longer than %zu bytes", name, cap - 1);
        return -1;
    }
    memcpy(dst, val, n + 1);
    return 0;
}

int barrier_init(barrier *b, const char *trans_type, const char *gid,
                 const char *branch_id, const char *op, char *err, size_t errlen) {
    char scratch[1];
    if (!err || errlen == 0) {
        err = scratch;
        errlen = sizeof scratch;
    }
    memset(b, 0, sizeof *b);
    if (copy_field(b->trans_type, sizeof b->trans_type, trans_type, "dtm-trans_type", err, errlen) ||
        copy_field(b->gid, sizeof b->gid, gid, "dtm-gid", err, errlen) ||
        copy_field(b->branch_id, sizeof b->branch_id, branch_id, "dtm-branch_id", err, errlen) ||
        copy_field(b->op, sizeof b->op, op, "dtm-op", err, errlen)) {
        memset(b, 0, sizeof *b);
        return -1;
    }
    b->barrier_id = 0;
    b->outcome = BARRIER_RAN;
    return 0;
}

/* Checks one name segment and appends it backquoted. */
static int append_segment(char *out, size_t cap, const char *seg, size_t n) {
    if (n == 0 || n > BARRIER_NAME_MAX) return -1;
    for (size_t i = 0; i < n; i++) {
        char ch = seg[i];
        int ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                 (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
        if (!ok) return -1;
    }
    size_t len = strlen(out);
    if (len + n + 3 > cap) return -1;
    out[len] = '`';
    memcpy(out + len + 1, seg, n);
    out[len + 1 + n] = '`';
    out[len + 2 + n] = '\0';
    return 0;
}

int barrier_set_table(const char *name) {
    if (!name) return -1;
    char quoted[sizeof g_table] = "";
    const char *dot = strchr(name, '.');
    if (dot) {
        if (strchr(dot + 1, '.')) return -1; /* at most "db.table" */
        if (append_segment(quoted, sizeof quoted, name, (size_t)(dot - name)) != 0) return -1;
        strcat(quoted, ".");
        if (append_segment(quoted, sizeof quoted, dot + 1, strlen(dot + 1)) != 0) return -1;
    } else if (append_segment(quoted, sizeof quoted, name, strlen(name)) != 0) {
        return -1;
    }
    pthread_mutex_lock(&g_table_mu);
    memcpy(g_table, quoted, sizeof g_table);
    pthread_mutex_unlock(&g_table_mu);
    return 0;
}

/* ---- the protocol ------------------------------------------------------ */

/* The op whose row a compensating op must find (or plant): the compensation
 * of "action" is "compensate", of TCC's "try" is "cancel", of XA/workflow's
 * "action" is "rollback". "" for forward ops. */
static const char *origin_op(const char *op) {
    if (strcmp(op, "cancel") == 0) return "try";
    if (strcmp(op, "compensate") == 0) return "action";
    if (strcmp(op, "rollback") == 0) return "action";
    return "";
}

/* Everything one barrier_call() passes into its transaction. */
typedef struct {
    barrier *b;
    const char *bid;     /* "01", "02", ... */
    barrier_busi_fn fn;
    void *ud;
    char *msg;
    size_t msglen;
    dtm_result result;   /* what barrier_call() answers when the tx ran fn */
    int busi_failed;     /* fn ran and did not return DTM_SUCCESS */
} call_ctx;

#define TX_BUSI_FAILED 100 /* the tx body's return when fn failed (not a db_rc) */

static db_rc insert_row(db_conn *tx, const barrier *b, const char *op, const char *bid,
                        uint64_t *affected, char *err, size_t errlen) {
    char sql[sizeof g_table + 128];
    pthread_mutex_lock(&g_table_mu);
    snprintf(sql, sizeof sql,
             "insert ignore into %s(trans_type,gid,branch_id,op,barrier_id,reason) "
             "values(?,?,?,?,?,?)",
             g_table);
    pthread_mutex_unlock(&g_table_mu);
    db_arg args[6] = {DB_STR(b->trans_type), DB_STR(b->gid), DB_STR(b->branch_id),
                      DB_STR(op), DB_STR(bid), DB_STR(b->op)};
    return db_exec(tx, sql, args, 6, affected, err, errlen);
}

static int barrier_tx(db_conn *tx, void *ud, char *err, size_t errlen) {
    call_ctx *x = ud;
    barrier *b = x->b;
    const char *origin = origin_op(b->op);
    uint64_t origin_affected = 0, current_affected = 0;
    db_rc rc;

    /* 1. The origin row, written by the compensation on behalf of the action
     * it undoes (reason = the compensating op). If the action already ran,
     * its row exists and this affects 0 rows. If it affects 1, the action
     * never ran, and the row now stands in its way: an action arriving late
     * (a HANGING request) will find its slot taken and do nothing.
     * README, "The barrier". */
    if (origin[0]) {
        rc = insert_row(tx, b, origin, x->bid, &origin_affected, err, errlen);
        if (rc != DB_OK) return rc;
    }

    /* 2. The current op's own row. INSERT IGNORE makes the unique key the
     * judge: the first request of (gid, branch, op, barrier id) inserts it,
     * and a retried or late duplicate affects 0 rows. A concurrent twin
     * blocks on the key until the first transaction ends, so exactly one of
     * them runs the business code. README, "The barrier". */
    rc = insert_row(tx, b, b->op, x->bid, &current_affected, err, errlen);
    if (rc != DB_OK) return rc;

    if (strcmp(b->op, "msg") == 0 && current_affected == 0) {
        /* DTM returns ErrDuplicated here. The two-phase message is not used
         * by the demo, so cdtm answers FAILURE with the message "DUPLICATED"
         * and lets a future msg implementation map it. */
        b->outcome = BARRIER_DUPLICATE;
        x->result = DTM_FAILURE;
        x->busi_failed = 1;
        snprintf(x->msg, x->msglen, "DUPLICATED");
        return TX_BUSI_FAILED;
    }

    /* NULL COMPENSATION: the origin insert succeeded, so the action never
     * committed (it failed and rolled back its row, or has not arrived).
     * There is nothing to undo; answer success, and commit so that the
     * planted origin row blocks the action if it shows up later.
     * README, "The barrier". */
    if (origin[0] && origin_affected == 1) {
        b->outcome = BARRIER_NULL_COMP;
        log_info(b->gid, "barrier: null compensation, branch=%s op=%s barrier_id=%s", b->branch_id,
                 b->op, x->bid);
        return 0;
    }
    if (current_affected == 0) {
        b->outcome = BARRIER_DUPLICATE;
        log_info(b->gid, "barrier: duplicate or hanging request skipped, branch=%s op=%s "
                 "barrier_id=%s", b->branch_id, b->op, x->bid);
        return 0;
    }

    b->outcome = BARRIER_RAN;
    x->result = x->fn ? x->fn(tx, x->ud, x->msg, x->msglen) : DTM_SUCCESS;
    if (x->result != DTM_SUCCESS) {
        /* Roll back the barrier rows with the business SQL: a failed action
         * leaves no trace, so its compensation becomes a null compensation. */
        x->busi_failed = 1;
        return TX_BUSI_FAILED;
    }
    return 0;
}

dtm_result barrier_call(barrier *b, db_pool *pool, int timeout_ms, barrier_busi_fn fn,
                        void *ud, char *msg, size_t msglen) {
    char scratch[1];
    if (!msg || msglen == 0) {
        msg = scratch;
        msglen = sizeof scratch;
    }
    msg[0] = '\0';
    if (!b || !b->gid[0] || !b->op[0]) {
        snprintf(msg, msglen, "barrier: not initialised (call barrier_init first)");
        return DTM_ERROR;
    }
    /* Each call in a handler gets the next id, so a retried request that
     * makes its calls in the same order meets the same rows. */
    b->barrier_id++;
    char bid[16];
    snprintf(bid, sizeof bid, "%02d", b->barrier_id);
    b->outcome = BARRIER_RAN;

    call_ctx x = {.b = b, .bid = bid, .fn = fn, .ud = ud, .msg = msg, .msglen = msglen,
                  .result = DTM_SUCCESS, .busi_failed = 0};
    char dberr[512] = "";
    int r = db_with_tx(pool, timeout_ms, barrier_tx, &x, dberr, sizeof dberr);
    if (r == 0) return DTM_SUCCESS;
    if (x.busi_failed) {
        if (!msg[0]) snprintf(msg, msglen, "%s", dtm_result_name(x.result));
        return x.result;
    }
    snprintf(msg, msglen, "barrier: gid=%s branch=%s op=%s barrier_id=%s: %s", b->gid,
             b->branch_id, b->op, bid, dberr);
    log_warn(b->gid, "%s", msg);
    return DTM_ERROR;
}
