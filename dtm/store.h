/* store.h: the coordinator's MySQL/MariaDB store, in DTM's schema
 * (sql/40-dtm.sql; dtm-protocol.md §6).
 *
 * Every status change is a conditional UPDATE on the expected old status, so
 * that two coordinators sharing a store can never both move a transaction:
 * the loser sees STORE_CONFLICT and drops its in-memory copy. Branch rows
 * that changed (dirty) are written in the same local transaction as the
 * global row, so a transaction's state is always consistent on disk.
 * All times are the database's clock, in UTC (NOW() in a +00:00 session), so
 * instances on different hosts agree on what is due.
 * store_save_new and store_save_progress of concurrent callers may share one
 * local transaction (group commit, store_batch.c); each returns only after
 * its write is committed, with the answer it would have got alone. */
#ifndef CDTM_STORE_H
#define CDTM_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "trans.h"

typedef struct store store;

typedef enum {
    STORE_OK = 0,
    STORE_DUP,        /* the gid exists already (save_new) */
    STORE_CONFLICT,   /* the row was not in the expected status: someone else moved it */
    STORE_NOT_FOUND,
    STORE_ERR,        /* database error: retry later */
} store_rc;

/* Wraps a pool (not owned). `db_timeout_ms` bounds each wait for a connection. */
store *store_new(db_pool *pool, int db_timeout_ms);
void store_free(store *s);

/* Creates the schema of sql/40-dtm.sql if missing (dtm -r). */
store_rc store_create_schema(store *s, char *err, size_t errlen);

/* Inserts the global row (status t->status) and all its branches in ONE
 * local transaction; sets next_cron_time = now + t->next_cron_interval, or
 * now + lease_s when that is later (the time a round begun at once may take;
 * 0 for none), and fills the ids and times. STORE_DUP when the gid exists
 * (nothing written). */
store_rc store_save_new(store *s, trans_global *t, int64_t lease_s, char *err, size_t errlen);

/* Loads the transaction `gid` with its branches ordered by id (NULL branches
 * when with_branches is 0). STORE_NOT_FOUND leaves *out NULL. */
store_rc store_load(store *s, const char *gid, int with_branches, trans_global **out,
                    char *err, size_t errlen);

/* In one local transaction:
 *   UPDATE trans_global SET status=t->status, rollback_reason, result,
 *          next_cron_interval=?, next_cron_time=now+?, update_time=now,
 *          finish_time/rollback_time when final
 *   WHERE gid=? AND status=old_status
 * first (its row lock serialises competing writers), then every dirty
 * branch's status (with finish_time, as DTM), by (gid, branch_id, op); it
 * commits only if that UPDATE matched the row (else STORE_CONFLICT and
 * nothing is written). `next_interval_s` is the next cron interval;
 * `delay_s` the seconds until the next cron time. Clears the dirty flags on
 * success. Pass old_status == t->status to store progress without a status
 * change. */
store_rc store_save_progress(store *s, trans_global *t, const char *old_status,
                             int64_t next_interval_s, int64_t delay_s, char *err, size_t errlen);

/* Cron: pushes the next_cron_time of gid to now + lease_s, if `owner`'s
 * claim still holds it (for a transaction whose round outlasts the lease its
 * claim took). STORE_CONFLICT when it does not (nothing written). */
store_rc store_extend_claim(store *s, const char *gid, const char *owner, int64_t lease_s,
                            char *err, size_t errlen);

/* Cron: claims at most one transaction whose next_cron_time has passed and
 * whose status is prepared, submitted or aborting:
 *   UPDATE ... SET owner=?, next_cron_time=now+lease_s, update_time=now
 *   WHERE id=? AND next_cron_time < now AND status IN (...)
 * Returns STORE_OK with *out loaded (with branches), STORE_NOT_FOUND when
 * nothing is due, or STORE_ERR. */
store_rc store_claim_due(store *s, const char *owner, int64_t lease_s, trans_global **out,
                         char *err, size_t errlen);

/* Prepare of an existing prepared gid -> STORE_OK; submit of a prepared gid:
 * prepared -> submitted (conditional), loading its branches. */
store_rc store_change_status(store *s, const char *gid, const char *old_status,
                             const char *new_status, const char *rollback_reason,
                             char *err, size_t errlen);

/* Sets next_cron_time = now (resetNextCronTime). */
store_rc store_reset_cron_time(store *s, const char *gid, char *err, size_t errlen);

/* Inserts branch rows for a prepared global under SELECT ... FOR UPDATE of
 * the global (registerBranch). STORE_CONFLICT when it is not prepared. */
store_rc store_add_branches(store *s, const char *gid, trans_branch *b, size_t n,
                            char *err, size_t errlen);

/* For GET all: transactions ordered by id descending, after `position` (an
 * id, "" for the start), at most `limit`, optionally filtered by exact gid,
 * status and trans_type (NULL or "" = any) and create_time range in ms (0 =
 * open). Appends DTM-shaped JSON objects to `arr`; *next_position gets the
 * last id ("" when there are no more). */
store_rc store_list(store *s, const char *gid, const char *position, int limit,
                    const char *status, const char *trans_type, int64_t ctime_start_ms,
                    int64_t ctime_end_ms, json_t *arr, char *next_position,
                    size_t next_len, char *err, size_t errlen);

/* The DTM-shaped JSON of a global row / branch row (query and all output):
 * the store's column names as keys, bin_data in base64, plus the option keys. */
json_t *store_trans_json(const trans_global *t);
json_t *store_branch_json(const trans_global *t, const trans_branch *b);

#endif
