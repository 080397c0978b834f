/* trans.h: the coordinator's data model: a global transaction and its branch
 * operations, as DTM stores them (dtm.trans_global, dtm.trans_branch_op;
 * dtm-protocol.md §4 and §6).
 *
 * A saga of N steps has 2N branch rows, in the order DTM creates them: for
 * step i (0-based), row 2i is the compensate and row 2i+1 the action, both
 * with branch_id "%02d" of i+1 and the step's payload. Engines rely on these
 * positions. Everything a trans_global points to is owned by it and freed by
 * trans_free(). */
#ifndef CDTM_TRANS_H
#define CDTM_TRANS_H

#include <stddef.h>
#include <stdint.h>

/* Global statuses. */
#define TS_PREPARED "prepared"
#define TS_SUBMITTED "submitted"
#define TS_ABORTING "aborting"
#define TS_SUCCEED "succeed"
#define TS_FAILED "failed"

/* Branch statuses (TS_PREPARED, TS_SUCCEED, TS_FAILED) and ops. */
#define OP_ACTION "action"
#define OP_COMPENSATE "compensate"

/* Column limits of DTM's schema; input beyond them is refused. */
#define TRANS_GID_MAX 128
#define TRANS_URL_MAX 1024
#define TRANS_PAYLOAD_MAX 65535 /* bin_data is a BLOB */
#define TRANS_TEXT_MAX 1024     /* custom_data, options, rollback_reason, result, query_prepared */
#define TRANS_STEPS_MAX 512     /* cdtm's bound on saga steps (DTM has none) */
#define TRANS_HEADERS_MAX 32    /* branch_headers entries */

typedef struct {
    int64_t id;              /* row id, 0 until stored */
    char branch_id[129];
    char op[46];             /* action, compensate (saga); later try/confirm/cancel... */
    char status[46];         /* prepared, succeed, failed */
    char *url;               /* "" means: nothing to call, counts as success */
    uint8_t *data;           /* payload (bin_data), may be NULL when data_len is 0 */
    size_t data_len;
    int dirty;               /* status changed in memory, not yet stored */
    /* As stored ("YYYY-MM-DD hh:mm:ss" UTC; "" = NULL or not stored yet), for
     * the query output (store_branch_json). */
    char create_time[32];
    char update_time[32];
    char finish_time[32];
    char rollback_time[32];
} trans_branch;

typedef struct {
    char *key;
    char *value;
} trans_header;

typedef struct {
    int wait_result;
    int64_t timeout_to_fail;   /* seconds, 0 = none (a saga never times out by default) */
    int64_t request_timeout;   /* seconds, 0 = the config's RequestTimeout */
    int64_t retry_interval;    /* seconds, 0 = the config's RetryInterval */
    int64_t retry_limit;       /* 0 = unlimited */
    int concurrent;            /* saga: from custom_data {"concurrent":true} */
    trans_header *headers;     /* branch_headers, sent with every branch call */
    size_t n_headers;
} trans_options;

typedef struct {
    int64_t id;
    char gid[TRANS_GID_MAX + 1];
    char trans_type[46];     /* saga (cdtm implements saga; the others are refused for now) */
    char status[13];
    char protocol[46];       /* "http" or "grpc": how branches are called by default */
    char *query_prepared;    /* never NULL ("" when none) */
    char *custom_data;       /* never NULL */
    char *rollback_reason;   /* never NULL */
    char *result;            /* never NULL */
    char *req_extra;         /* JSON object text or "" (kept in ext_data) */
    trans_options opts;
    int64_t next_cron_interval; /* seconds */
    char create_time[32];    /* as stored, "YYYY-MM-DD hh:mm:ss" UTC; "" when unknown */
    char update_time[32];
    char next_cron_time[32];
    char finish_time[32];    /* "" = NULL (query output only) */
    char rollback_time[32];
    char owner[129];         /* the last cron claim token (query output only) */
    int64_t age_s;           /* seconds since create_time, read from the store */

    /* saga: for concurrent sagas, orders[i] lists the steps that must succeed
     * before step i runs (from custom_data {"orders":{"1":[0]}}). */
    size_t n_steps;
    size_t *n_orders;        /* n_steps entries, NULL when not concurrent */
    size_t **orders;

    trans_branch *branches;
    size_t n_branches;
    int retry_count;         /* in-memory only, as in DTM (RetryLimit) */
} trans_global;

/* A zeroed transaction with every string set to "" and the given gid/type. */
trans_global *trans_new(const char *gid, const char *trans_type);

/* Frees t and everything it owns. NULL is allowed. */
void trans_free(trans_global *t);

/* Appends a branch (copies url and data). Returns its index, or -1 on OOM. */
int trans_add_branch(trans_global *t, const char *branch_id, const char *op,
                     const char *url, const void *data, size_t data_len);

/* Builds the saga's 2N branch rows from its steps, in DTM's order. `actions`,
 * `compensates`, `payloads` and `payload_lens` have n entries each. */
int trans_gen_saga_branches(trans_global *t, size_t n, const char *const *actions,
                            const char *const *compensates, const uint8_t *const *payloads,
                            const size_t *payload_lens);

/* Parses custom_data for a saga ({"concurrent":bool,"orders":{"<i>":[<j>...]}})
 * into t->opts.concurrent and t->orders. Returns 0, or -1 with err naming the
 * problem (an order index out of range, a cycle, bad JSON). */
int trans_parse_saga_custom(trans_global *t, char *err, size_t errlen);

/* The options column's JSON text, as DTM writes it (e.g. {"concurrent":false}
 * plus any option set). The caller frees it. */
char *trans_options_json(const trans_options *o);

/* Reads the options column back into *o (unknown keys ignored). Returns 0 or -1. */
int trans_options_from_json(const char *text, trans_options *o);

/* Replaces a string field (rollback_reason, result...), truncating it to
 * TRANS_TEXT_MAX bytes. */
void trans_set_text(char **field, const char *value);

/* 1 when a global status is final (succeed or failed). */
int trans_is_final(const char *status);

#endif
