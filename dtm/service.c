/* service.c: the coordinator's operations (service.h), with the semantics of
 * DTM's dtmsvr/api.go (dtm-protocol.md §2 "Service semantics"):
 *
 *   prepare   save as prepared; an existing prepared gid is a success
 *             (idempotent); any other status -> FAILURE;
 *   submit    save as submitted with its branches; an existing prepared gid
 *             becomes submitted and its stored branches are processed; an
 *             existing submitted gid is processed again (idempotent); any
 *             other status -> FAILURE "cannot sumbmit" (DTM's spelling);
 *             then the engine runs it, inline when WaitResult;
 *   abort     only tcc/xa may be aborted, so a saga gets FAILURE;
 *   registerBranch, query, all, forceStop, resetNextCronTime.
 *
 * Failure messages are DTM's error texts, which end in ". FAILURE" because
 * DTM wraps ErrFailure into them (§10 shows them on the wire). Where DTM
 * panics (abort or forceStop of an unknown gid) cdtm answers
 * SVC_BAD_REQUEST "gid 'x' not found". Store errors are SVC_ERROR: the
 * client may retry. */
#include "service.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct svc {
    store *s;
    engine *e;
};

/* How often a request re-reads a row that another coordinator moved under
 * it (STORE_CONFLICT) before giving up with SVC_ERROR. */
#define SVC_CONFLICT_RETRIES 3

static void msgf(char *msg, size_t msglen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void msgf(char *msg, size_t msglen, const char *fmt, ...) {
    if (!msg || msglen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
}

svc *svc_new(store *s, engine *e) {
    svc *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->s = s;
    v->e = e;
    return v;
}

void svc_free(svc *v) { free(v); }

/* ---- helpers ---- */

static svc_rc store_error(const char *gid, const char *what, const char *err, char *msg,
                          size_t msglen) {
    log_error(gid, "%s: store error: %s", what, err);
    msgf(msg, msglen, "gid %s: %s: store error: %s", gid, what, err);
    return SVC_ERROR;
}

/* Runs t through the engine and maps its result (DTM's process()). */
static svc_rc process(svc *v, trans_global *t, int wait, char *msg, size_t msglen) {
    msgf(msg, msglen, "%s", "");
    switch (engine_process(v->e, t, wait, msg, msglen)) {
    case DTM_SUCCESS: return SVC_OK;
    case DTM_FAILURE: return SVC_FAILURE;
    case DTM_ONGOING: return SVC_ONGOING;
    case DTM_ERROR:
    default: return SVC_ERROR;
    }
}

/* ---- prepare / submit / abort ---- */

svc_rc svc_prepare(svc *v, trans_global *t, char *msg, size_t msglen) {
    char gid[TRANS_GID_MAX + 1], err[512];
    snprintf(gid, sizeof gid, "%s", t->gid);
    snprintf(t->status, sizeof t->status, "%s", TS_PREPARED);
    t->next_cron_interval = engine_base_interval(v->e, t);
    store_rc rc = store_save_new(v->s, t, 0, err, sizeof err); /* no round runs now */
    trans_free(t);
    if (rc == STORE_OK) return SVC_OK;
    if (rc != STORE_DUP) return store_error(gid, "prepare", err, msg, msglen);

    trans_global *dbt = NULL;
    rc = store_load(v->s, gid, 0, &dbt, err, sizeof err);
    if (rc != STORE_OK) return store_error(gid, "prepare", rc == STORE_NOT_FOUND ?
                                           "the row vanished" : err, msg, msglen);
    svc_rc out = SVC_OK;
    if (strcmp(dbt->status, TS_PREPARED) != 0) {
        msgf(msg, msglen, "current status '%s', cannot prepare. FAILURE", dbt->status);
        out = SVC_FAILURE;
    }
    trans_free(dbt);
    return out;
}

svc_rc svc_submit(svc *v, trans_global *t, char *msg, size_t msglen) {
    char gid[TRANS_GID_MAX + 1], err[512];
    snprintf(gid, sizeof gid, "%s", t->gid);
    int wait = t->opts.wait_result;
    snprintf(t->status, sizeof t->status, "%s", TS_SUBMITTED);
    t->next_cron_interval = engine_base_interval(v->e, t);
    store_rc rc = store_save_new(v->s, t, engine_lease_secs(v->e, t), err, sizeof err);
    if (rc == STORE_OK) return process(v, t, wait, msg, msglen); /* the engine owns t now */
    trans_free(t);
    if (rc != STORE_DUP) return store_error(gid, "submit", err, msg, msglen);

    /* The gid exists: DTM's idempotent paths. A conflict means another
     * request or coordinator moved the row between our read and write:
     * read it again. */
    for (int attempt = 0; attempt < SVC_CONFLICT_RETRIES; attempt++) {
        trans_global *dbt = NULL;
        rc = store_load(v->s, gid, 1, &dbt, err, sizeof err);
        if (rc != STORE_OK)
            return store_error(gid, "submit", rc == STORE_NOT_FOUND ? "the row vanished" : err,
                               msg, msglen);
        if (strcmp(dbt->status, TS_SUBMITTED) == 0) {
            log_info(gid, "submit of a submitted transaction: processing it again");
            return process(v, dbt, wait, msg, msglen);
        }
        if (strcmp(dbt->status, TS_PREPARED) != 0) {
            msgf(msg, msglen, "current status '%s', cannot sumbmit. FAILURE", dbt->status);
            trans_free(dbt);
            return SVC_FAILURE;
        }
        rc = store_change_status(v->s, gid, TS_PREPARED, TS_SUBMITTED, NULL, err, sizeof err);
        if (rc == STORE_OK) {
            snprintf(dbt->status, sizeof dbt->status, "%s", TS_SUBMITTED);
            return process(v, dbt, wait, msg, msglen);
        }
        trans_free(dbt);
        if (rc != STORE_CONFLICT && rc != STORE_NOT_FOUND)
            return store_error(gid, "submit", err, msg, msglen);
    }
    return store_error(gid, "submit", "the status kept changing under the request", msg, msglen);
}

svc_rc svc_abort(svc *v, trans_global *t, char *msg, size_t msglen) {
    char gid[TRANS_GID_MAX + 1], type[46], err[512];
    snprintf(gid, sizeof gid, "%s", t->gid);
    snprintf(type, sizeof type, "%s", t->trans_type);
    trans_free(t);
    trans_global *dbt = NULL;
    store_rc rc = store_load(v->s, gid, 0, &dbt, err, sizeof err);
    if (rc == STORE_NOT_FOUND) {
        msgf(msg, msglen, "gid '%s' not found", gid);
        return SVC_BAD_REQUEST;
    }
    if (rc != STORE_OK) return store_error(gid, "abort", err, msg, msglen);
    svc_rc out;
    int abortable_type = strcmp(type, "tcc") == 0 || strcmp(type, "xa") == 0;
    int abortable_status = strcmp(dbt->status, TS_PREPARED) == 0 ||
                           strcmp(dbt->status, TS_ABORTING) == 0;
    if (!abortable_type || !abortable_status) {
        /* DTM: only a prepared/aborting tcc or xa may be aborted; a saga
         * rolls back by itself when an action fails. */
        msgf(msg, msglen, "trans type: '%s' current status '%s', cannot abort. FAILURE",
             dbt->trans_type, dbt->status);
        out = SVC_FAILURE;
    } else {
        msgf(msg, msglen, "trans_type '%s' is not supported by cdtm yet", type);
        out = SVC_UNSUPPORTED;
    }
    trans_free(dbt);
    return out;
}

/* ---- registerBranch ---- */

/* A string member of `data` ("" when absent); -1 when present but not a string. */
static int data_str(json_t *data, const char *key, const char **s, size_t *len) {
    json_t *v = json_object_get(data, key);
    *s = "";
    *len = 0;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return -1;
    *s = json_string_value(v);
    *len = json_string_length(v);
    return 0;
}

static int ascii_url(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] > 0x7E) return 0;
    return len <= TRANS_URL_MAX;
}

static int id_ok(const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > TRANS_GID_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] > 0x7E) return 0;
    return 1;
}

svc_rc svc_register_branch(svc *v, const char *gid, const char *trans_type,
                           const char *branch_id, json_t *data, char *msg, size_t msglen) {
    if (!id_ok(gid)) {
        msgf(msg, msglen, "gid: missing, empty, over %d bytes or not printable ASCII", TRANS_GID_MAX);
        return SVC_BAD_REQUEST;
    }
    if (!id_ok(branch_id)) {
        msgf(msg, msglen, "gid %s: branch_id: missing, empty, over %d bytes or not printable ASCII",
             gid, TRANS_GID_MAX);
        return SVC_BAD_REQUEST;
    }
    int tcc = trans_type && strcmp(trans_type, "tcc") == 0;
    int xa = trans_type && strcmp(trans_type, "xa") == 0;
    if (!tcc && !xa) {
        msgf(msg, msglen, "gid %s: unknown trans type '%.64s' for registerBranch (want tcc or xa)",
             gid, trans_type ? trans_type : "");
        return SVC_BAD_REQUEST;
    }
    if (data && !json_is_object(data)) data = NULL;
    /* tcc: cancel + confirm; xa: rollback + commit on the one url; both rows
     * carry the branch's "data" (DTM's svcRegisterBranch). */
    const char *u1, *u2, *body;
    size_t l1, l2, blen;
    int bad = data_str(data, tcc ? "cancel" : "url", &u1, &l1) |
              data_str(data, tcc ? "confirm" : "url", &u2, &l2) |
              data_str(data, "data", &body, &blen);
    if (bad || !ascii_url(u1, l1) || !ascii_url(u2, l2) || blen > TRANS_PAYLOAD_MAX) {
        msgf(msg, msglen, "gid %s: registerBranch: %s must be strings: URLs of printable ASCII up "
             "to %d bytes, data up to %d bytes", gid, tcc ? "confirm, cancel and data" : "url and data",
             TRANS_URL_MAX, TRANS_PAYLOAD_MAX);
        return SVC_BAD_REQUEST;
    }
    /* DTM does not look at the global's type here; cdtm does, because a
     * saga's engine relies on the positions of its rows (trans.h) and two
     * foreign rows would corrupt it. A gid's type never changes, so reading
     * it before the locked insert is safe. */
    char err[512];
    trans_global *dbt = NULL;
    store_rc rc = store_load(v->s, gid, 0, &dbt, err, sizeof err);
    if (rc == STORE_NOT_FOUND) {
        msgf(msg, msglen, "message: no trans with gid: %s status: prepared found FAILURE", gid);
        return SVC_FAILURE;
    }
    if (rc != STORE_OK) return store_error(gid, "registerBranch", err, msg, msglen);
    if (strcmp(dbt->trans_type, trans_type) != 0) {
        msgf(msg, msglen, "gid %s: registerBranch: the transaction is a '%s', not a '%s'", gid,
             dbt->trans_type, trans_type);
        trans_free(dbt);
        return SVC_BAD_REQUEST;
    }
    trans_free(dbt);

    trans_branch b[2];
    memset(b, 0, sizeof b);
    const char *ops[2] = {tcc ? "cancel" : "rollback", tcc ? "confirm" : "commit"};
    const char *urls[2] = {u1, u2};
    for (int i = 0; i < 2; i++) {
        snprintf(b[i].branch_id, sizeof b[i].branch_id, "%s", branch_id);
        snprintf(b[i].op, sizeof b[i].op, "%s", ops[i]);
        snprintf(b[i].status, sizeof b[i].status, "%s", TS_PREPARED);
        b[i].url = (char *)urls[i];          /* borrowed: store_add_branches only reads */
        b[i].data = (uint8_t *)body; /* DTM keeps "data" as BinData for both modes */
        b[i].data_len = blen;
    }
    rc = store_add_branches(v->s, gid, b, 2, err, sizeof err);
    if (rc == STORE_OK) return SVC_OK;
    if (rc == STORE_CONFLICT || rc == STORE_NOT_FOUND) {
        msgf(msg, msglen, "message: no trans with gid: %s status: prepared found FAILURE", gid);
        return SVC_FAILURE;
    }
    return store_error(gid, "registerBranch", err, msg, msglen);
}

/* ---- query / all ---- */

svc_rc svc_query(svc *v, const char *gid, json_t **out, char *msg, size_t msglen) {
    *out = NULL;
    if (!gid || !*gid) {
        msgf(msg, msglen, "no gid specified");
        return SVC_BAD_REQUEST;
    }
    json_t *res = json_object();
    json_t *branches = json_array();
    if (!res || !branches) {
        json_decref(res);
        json_decref(branches);
        msgf(msg, msglen, "out of memory");
        return SVC_ERROR;
    }
    if (strlen(gid) > TRANS_GID_MAX) { /* cannot exist: answer like an unknown gid */
        json_object_set_new(res, "branches", branches);
        json_object_set_new(res, "transaction", json_null());
        *out = res;
        return SVC_OK;
    }
    trans_global *t = NULL;
    char err[512];
    store_rc rc = store_load(v->s, gid, 1, &t, err, sizeof err);
    if (rc != STORE_OK && rc != STORE_NOT_FOUND) {
        json_decref(res);
        json_decref(branches);
        return store_error(gid, "query", err, msg, msglen);
    }
    if (t) {
        for (size_t i = 0; i < t->n_branches; i++)
            json_array_append_new(branches, store_branch_json(t, &t->branches[i]));
    }
    json_object_set_new(res, "branches", branches);
    json_object_set_new(res, "transaction", t ? store_trans_json(t) : json_null());
    trans_free(t);
    *out = res;
    return SVC_OK;
}

svc_rc svc_all(svc *v, const char *gid, const char *position, int limit, const char *status,
               const char *trans_type, int64_t ctime_start_ms, int64_t ctime_end_ms,
               json_t **out, char *msg, size_t msglen) {
    *out = NULL;
    if (limit == 0) limit = 100;
    if (limit < 1 || limit > 1000) {
        msgf(msg, msglen, "limit: %d is out of range 1..1000", limit);
        return SVC_BAD_REQUEST;
    }
    if (position && *position) {
        size_t n = strlen(position);
        int ok = n <= 19;
        for (size_t i = 0; ok && i < n; i++) ok = position[i] >= '0' && position[i] <= '9';
        if (!ok) {
            msgf(msg, msglen, "position: must be a next_position of an earlier answer");
            return SVC_BAD_REQUEST;
        }
    }
    if (ctime_start_ms < 0 || ctime_end_ms < 0) {
        msgf(msg, msglen, "createTimeStart/createTimeEnd: must be milliseconds since 1970");
        return SVC_BAD_REQUEST;
    }
    json_t *arr = json_array();
    if (!arr) {
        msgf(msg, msglen, "out of memory");
        return SVC_ERROR;
    }
    char next[32] = "", err[512];
    store_rc rc = store_list(v->s, gid, position ? position : "", limit, status, trans_type,
                             ctime_start_ms, ctime_end_ms, arr, next, sizeof next, err, sizeof err);
    if (rc != STORE_OK) {
        json_decref(arr);
        return store_error(gid ? gid : "", "all", err, msg, msglen);
    }
    json_t *res = json_object();
    json_object_set_new(res, "transactions", arr);
    json_object_set_new(res, "next_position", json_string(next));
    *out = res;
    return SVC_OK;
}

/* ---- forceStop / resetNextCronTime ---- */

svc_rc svc_force_stop(svc *v, const char *gid, char *msg, size_t msglen) {
    if (!gid || !*gid || strlen(gid) > TRANS_GID_MAX) {
        msgf(msg, msglen, "gid: missing, empty or over %d bytes", TRANS_GID_MAX);
        return SVC_BAD_REQUEST;
    }
    char err[512];
    for (int attempt = 0; attempt < SVC_CONFLICT_RETRIES; attempt++) {
        trans_global *t = NULL;
        store_rc rc = store_load(v->s, gid, 0, &t, err, sizeof err);
        if (rc == STORE_NOT_FOUND) {
            msgf(msg, msglen, "gid '%s' not found", gid);
            return SVC_BAD_REQUEST;
        }
        if (rc != STORE_OK) return store_error(gid, "forceStop", err, msg, msglen);
        if (trans_is_final(t->status)) {
            msgf(msg, msglen, "global transaction force stop error. status: %s. error: FAILURE",
                 t->status);
            trans_free(t);
            return SVC_FAILURE;
        }
        char old[sizeof t->status];
        snprintf(old, sizeof old, "%s", t->status);
        trans_free(t);
        log_warn(gid, "force stop: %s -> failed", old);
        rc = store_change_status(v->s, gid, old, TS_FAILED, NULL, err, sizeof err);
        if (rc == STORE_OK) return SVC_OK;
        if (rc != STORE_CONFLICT) return store_error(gid, "forceStop", err, msg, msglen);
    }
    return store_error(gid, "forceStop", "the status kept changing under the request", msg, msglen);
}

svc_rc svc_reset_next_cron_time(svc *v, const char *gid, char *msg, size_t msglen) {
    if (!gid || !*gid || strlen(gid) > TRANS_GID_MAX) {
        msgf(msg, msglen, "gid: missing, empty or over %d bytes", TRANS_GID_MAX);
        return SVC_BAD_REQUEST;
    }
    char err[512];
    store_rc rc = store_reset_cron_time(v->s, gid, err, sizeof err);
    if (rc == STORE_OK) return SVC_OK;
    if (rc == STORE_NOT_FOUND) {
        msgf(msg, msglen, "gid '%s' not found", gid);
        return SVC_BAD_REQUEST;
    }
    return store_error(gid, "resetNextCronTime", err, msg, msglen);
}
