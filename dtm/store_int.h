/* store_int.h: what store.c and store_batch.c share, and no one else.
 *
 * store.c holds the store's SQL; store_batch.c gathers concurrent writes of
 * many transactions into one local transaction (group commit). Both build
 * the same rows with the helpers declared here. */
#ifndef CDTM_STORE_INT_H
#define CDTM_STORE_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "store.h"
#include "trans.h"

typedef struct store_job store_job;

struct store {
    db_pool *pool;
    int timeout_ms; /* bound on each wait for a connection */
    /* Group commit (store_batch.c). */
    pthread_mutex_t mu;
    store_job *head, *tail; /* jobs waiting for a leader, oldest first */
    int leaders;            /* batches being written now */
};

/* Private results of transaction bodies, above every db_rc value, so that
 * db_with_tx()'s return tells them apart from database errors. */
enum { TXR_DUP = 100, TXR_CONFLICT, TXR_NOT_FOUND, TXR_INVALID };

/* Two DATETIME texts: a new transaction's now and first next_cron_time. */
typedef struct {
    char a[32];
    char b[32];
} two_times;

/* Now and `ahead_s` seconds later, in UTC, as DATETIME text. */
void store_utc_times(int64_t ahead_s, two_times *tt);

/* The arguments of store_save_new's transaction body. */
typedef struct {
    trans_global *t;
    const char *options; /* t's options as JSON */
    int64_t lease_s;     /* next_cron_time is at least this far ahead */
    two_times now;       /* filled by the body: now and the first next_cron_time */
} save_new_ctx;

/* The arguments of store_save_progress's transaction body. */
typedef struct {
    trans_global *t;
    const char *old_status;
    int64_t interval, delay;
} progress_ctx;

/* The transaction bodies of one save_new / one save_progress (db_tx_fn). */
int store_save_new_tx(db_conn *c, void *ud, char *err, size_t errlen);
int store_save_progress_tx(db_conn *c, void *ud, char *err, size_t errlen);

/* INSERTs the global rows of xs[0, n) in multi-row statements; sets each
 * t->id and fills each ctx's times. A db_rc (DB_EDUP: some gid exists). */
int store_insert_globals(db_conn *c, save_new_ctx *const *xs, size_t n, char *err,
                         size_t errlen);

/* One branch row to insert: branch b of transaction gid. */
typedef struct {
    const char *gid;
    trans_branch *b;
} branch_ref;

/* INSERTs the rows refs[0, n) in multi-row statements. `upsert` makes a row
 * that exists already a no-op; `set_ids` fills each b->id. A db_rc. */
int store_insert_branches(db_conn *c, const branch_ref *refs, size_t n, int upsert, int set_ids,
                          char *err, size_t errlen);

/* "UPDATE trans_global SET status=?, rollback_reason=?, result=?,
 * next_cron_interval=?, next_cron_time=..., update_time=NOW()[, finish_time |
 * rollback_time] " for a move to `status`, without its WHERE clause. */
const char *store_progress_set_sql(const char *status);

/* How many of `left` rows the next multi-row statement takes: all of them
 * up to `exact`, else the largest power of two <= min(left, max). Few
 * distinct statement texts keep each connection's statement cache warm. */
static inline size_t store_chunk(size_t left, size_t exact, size_t max) {
    if (left <= exact) return left;
    size_t k = 1;
    while (k * 2 <= left && k * 2 <= max) k *= 2;
    return k;
}

/* Group commit: runs one save_new (kind 'n', ctx a save_new_ctx) or one
 * save_progress (kind 'p', ctx a progress_ctx), alone or in one local
 * transaction with other threads' concurrent writes. Returns what the body
 * would have returned in a transaction of its own (0, TXR_* or a db_rc), and
 * fills err on failure. */
int store_batch_run(store *s, int kind, void *ctx, char *err, size_t errlen);

/* For tests: the batches being written now, and the jobs waiting. */
void store_batch_state(store *s, int *leaders, size_t *queued);

#endif
