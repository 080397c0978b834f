/* logic.c: order-api's business: check the order, build the two-step saga,
 * submit it, and tell how it ended (demo.md §5 and §13 (d), (e)). See
 * logic.h. */
#include "logic.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gid.h"
#include "jsoncheck.h"
#include "log.h"
#include "order.pb-c.h"
#include "stock.pb-c.h"

/* ---- checking the request ------------------------------------------------- */

/* Says what a JSON value is, for an error message ("the string \"5\""). */
static void describe(json_t *v, char *buf, size_t len) {
    switch (json_typeof(v)) {
    case JSON_INTEGER: snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
    case JSON_REAL: snprintf(buf, len, "%.17g", json_real_value(v)); break;
    case JSON_STRING: snprintf(buf, len, "the string \"%.32s\"", json_string_value(v)); break;
    case JSON_TRUE: snprintf(buf, len, "true"); break;
    case JSON_FALSE: snprintf(buf, len, "false"); break;
    case JSON_NULL: snprintf(buf, len, "null"); break;
    case JSON_ARRAY: snprintf(buf, len, "an array"); break;
    case JSON_OBJECT: snprintf(buf, len, "an object"); break;
    }
}

/* Reads field `key` of the body as a positive int64. */
static int read_field(json_t *root, const char *key, int64_t *out, char *err, size_t errlen) {
    json_t *v = json_object_get(root, key);
    if (!v) {
        snprintf(err, errlen, "%s is required (a positive integer)", key);
        return -1;
    }
    /* Only a JSON integer will do: 2.0, 1e3, "2" and true are refused, not
     * converted, so that what is ordered is exactly what was sent. */
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    char what[64];
    describe(v, what, sizeof what);
    snprintf(err, errlen, "%s must be a positive integer, got %s", key, what);
    return -1;
}

/* jansson refuses an integer literal beyond int64 for the whole document.
 * To still name the field, read the body again with integers as doubles and
 * look for the field that is out of range. */
static void name_overflowing_field(const char *body, size_t len, const json_error_t *je,
                                   char *err, size_t errlen) {
    static const char *const fields[] = {"userId", "goodsId", "num"};
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, NULL);
    for (size_t i = 0; root && i < sizeof fields / sizeof fields[0]; i++) {
        json_t *v = json_object_get(root, fields[i]);
        if (json_is_real(v) && (json_real_value(v) >= 9223372036854775807.0 ||
                                json_real_value(v) <= -9223372036854775807.0)) {
            snprintf(err, errlen, "%s must be a positive integer, got a number out of range "
                     "(the largest is %" PRId64 ")", fields[i], INT64_MAX);
            json_decref(root);
            return;
        }
    }
    json_decref(root);
    snprintf(err, errlen, "malformed JSON: %s (line %d, column %d)", je->text, je->line,
             je->column);
}



int order_parse_quick_create(const char *body, size_t len, order_req *out, char *err,
                             size_t errlen) {
    memset(out, 0, sizeof *out);
    if (!body || len == 0) {
        snprintf(err, errlen, "the body is empty: send {\"userId\":..,\"goodsId\":..,\"num\":..}");
        return -1;
    }
    json_error_t je;
    if (!json_depth_ok(body, len, JSON_MAX_DEPTH)) {
        snprintf(err, errlen, "malformed JSON: nested deeper than 32 levels");
        return -1;
    }
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (json_error_code(&je) == json_error_numeric_overflow)
            name_overflowing_field(body, len, &je, err, errlen);
        else
            snprintf(err, errlen, "malformed JSON: %s (line %d, column %d)", je.text, je.line,
                     je.column);
        return -1;
    }
    int rc = -1;
    if (!json_is_object(root))
        snprintf(err, errlen, "the body must be a JSON object {\"userId\":..,\"goodsId\":..,"
                 "\"num\":..}");
    else if (read_field(root, "userId", &out->user_id, err, errlen) == 0 &&
             read_field(root, "goodsId", &out->goods_id, err, errlen) == 0 &&
             read_field(root, "num", &out->num, err, errlen) == 0)
        rc = 0;
    json_decref(root);
    return rc;
}

/* ---- the saga --------------------------------------------------------------- */

void order_saga_free(order_saga *s) {
    free(s->create_req);
    free(s->deduct_req);
    s->create_req = s->deduct_req = NULL;
}

int order_saga_build(const api_config *cfg, const char *gid, const order_req *r, int wait,
                     order_saga *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    /* The payloads are the services' own request messages, packed once;
     * the coordinator stores them and sends the same bytes to the action
     * and to its compensation (demo.md §2: note goodsId is field 1). */
    Pb__CreateReq creq = PB__CREATE_REQ__INIT;
    creq.goodsid = r->goods_id;
    creq.userid = r->user_id;
    creq.num = r->num;
    Pb__DecuctReq dreq = PB__DECUCT_REQ__INIT;
    dreq.goodsid = r->goods_id;
    dreq.num = r->num;
    out->create_len = pb__create_req__get_packed_size(&creq);
    out->deduct_len = pb__decuct_req__get_packed_size(&dreq);
    out->create_req = malloc(out->create_len + 1);
    out->deduct_req = malloc(out->deduct_len + 1);
    if (!out->create_req || !out->deduct_req) {
        order_saga_free(out);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pb__create_req__pack(&creq, out->create_req);
    pb__decuct_req__pack(&dreq, out->deduct_req);

    /* Branch URL = target + "/<proto package>.<service>/<method>": the
     * coordinator splits it at the first '/' into where and what to call. */
    snprintf(out->urls[0], sizeof out->urls[0], "%s/pb.order/create", cfg->order_target);
    snprintf(out->urls[1], sizeof out->urls[1], "%s/pb.order/createRollback", cfg->order_target);
    snprintf(out->urls[2], sizeof out->urls[2], "%s/pb.stock/deduct", cfg->stock_target);
    snprintf(out->urls[3], sizeof out->urls[3], "%s/pb.stock/deductRollback", cfg->stock_target);

    /* Order first, then stock. If the deduct refuses (not enough stock), the
     * coordinator compensates in reverse: deductRollback, then
     * createRollback, which cancels the order (row_state -1). */
    out->saga.gid = gid;
    out->saga.wait_result = wait;
    out->saga.nsteps = 2;
    out->saga.steps[0] = (dtmc_step){out->urls[0], out->urls[1], out->create_req, out->create_len};
    out->saga.steps[1] = (dtmc_step){out->urls[2], out->urls[3], out->deduct_req, out->deduct_len};
    return 0;
}

/* ---- placing an order ---------------------------------------------------------- */

static void set_status(order_outcome *out, order_outcome_kind kind, const char *status) {
    out->kind = kind;
    snprintf(out->status, sizeof out->status, "%s", status);
}

/* A waited Submit that did not answer OK: the round did not end in succeed.
 * That means failed, OR still retrying (a branch was unreachable), OR
 * aborting (a compensation is being retried): the coordinator's query tells
 * which (DTM answers FAILURE in all three cases, dtm-protocol.md §4).
 * Not inlined: its query reply is 9 KiB, and every order would otherwise
 * carry it on the stack of an HTTP thread, below which gRPC then runs. */
__attribute__((noinline)) static void settle(order_api_svc *svc, const char *submit_msg,
                                             order_outcome *out) {
    dtmc_trans t;
    char qmsg[512];
    dtmc_rc rc = dtmc_query(svc->dtm, out->gid, &t, qmsg, sizeof qmsg);
    snprintf(out->reason, sizeof out->reason, "%s", submit_msg);
    if (rc != DTMC_OK) {
        set_status(out, ORDER_PENDING, "unknown");
        snprintf(out->reason, sizeof out->reason, "%.500s; and its status is unknown: %.480s",
                 submit_msg, qmsg);
    } else if (!t.found || strcmp(t.status, "failed") == 0) {
        /* Not stored at all means the coordinator refused it for good. */
        set_status(out, ORDER_FAILED, "failed");
        if (!submit_msg[0] && t.rollback_reason[0])
            snprintf(out->reason, sizeof out->reason, "%s", t.rollback_reason);
    } else if (strcmp(t.status, "succeed") == 0) {
        set_status(out, ORDER_SUCCEED, "succeed"); /* finished after the round */
        out->reason[0] = '\0';
    } else {
        set_status(out, ORDER_PENDING, t.status);
    }
}

_Static_assert(GID_LEN <= DTMC_GID_MAX, "a local gid fits where NewGid's does");

void order_logic_quick_create(order_api_svc *svc, const order_req *r, int wait,
                              order_outcome *out) {
    memset(out, 0, sizeof *out);
    /* Shorter than out->reason, so that a prefix plus the message always fits. */
    char msg[960];
    dtmc_rc rc = DTMC_OK;
    if (svc->cfg->local_gid)
        gid_new(out->gid);
    else
        rc = dtmc_new_gid(svc->dtm, out->gid, sizeof out->gid, msg, sizeof msg);
    if (rc != DTMC_OK) {
        set_status(out, rc == DTMC_UNAVAILABLE ? ORDER_UNAVAILABLE : ORDER_REJECTED, "");
        snprintf(out->reason, sizeof out->reason, "NewGid: %s", msg);
        log_warn(NULL, "order of user %" PRId64 " not placed: %s", r->user_id, out->reason);
        return;
    }
    order_saga s;
    if (order_saga_build(svc->cfg, out->gid, r, wait, &s, msg, sizeof msg) != 0) {
        set_status(out, ORDER_REJECTED, "");
        snprintf(out->reason, sizeof out->reason, "saga: %s", msg);
        return;
    }
    log_info(out->gid, "submitting saga: user %" PRId64 ", goods %" PRId64 ", num %" PRId64 "%s",
             r->user_id, r->goods_id, r->num, wait ? ", waiting for the result" : "");
    msg[0] = '\0';
    int timeout = wait ? svc->cfg->dtm_wait_timeout_ms : svc->cfg->dtm_timeout_ms;
    rc = dtmc_submit(svc->dtm, &s.saga, timeout, msg, sizeof msg);
    order_saga_free(&s);
    switch (rc) {
    case DTMC_OK:
        set_status(out, wait ? ORDER_SUCCEED : ORDER_SUBMITTED, wait ? "succeed" : "submitted");
        break;
    case DTMC_FAILURE:
    case DTMC_ONGOING:
        settle(svc, msg, out);
        break;
    case DTMC_UNAVAILABLE:
        /* With a deadline passed the saga may be stored and running: the gid
         * goes back to the caller so that it can ask GET /order/{gid}. */
        set_status(out, ORDER_UNAVAILABLE, "unknown");
        snprintf(out->reason, sizeof out->reason, "Submit: %s", msg);
        break;
    case DTMC_ERROR:
        set_status(out, ORDER_REJECTED, "");
        snprintf(out->reason, sizeof out->reason, "Submit refused by the coordinator: %s", msg);
        break;
    }
    if (out->kind == ORDER_SUCCEED || out->kind == ORDER_SUBMITTED)
        log_info(out->gid, "saga %s", out->status);
    else
        log_warn(out->gid, "saga %s: %s", out->status[0] ? out->status : "not submitted",
                 out->reason);
}

/* ---- looking at an order --------------------------------------------------------- */

int order_gid_valid(const char *gid) {
    size_t n = strlen(gid);
    if (n == 0 || n > DTMC_GID_MAX) return 0;
    return strspn(gid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-") == n;
}

order_view_rc order_logic_view(order_api_svc *svc, const char *gid, order_view *out, char *msg,
                               size_t msglen) {
    memset(out, 0, sizeof *out);
    dtmc_rc rc = dtmc_query(svc->dtm, gid, &out->saga, msg, msglen);
    if (rc == DTMC_UNAVAILABLE) return ORDER_VIEW_UNAVAILABLE;
    if (rc != DTMC_OK) return ORDER_VIEW_ERROR;
    if (!out->saga.found) {
        snprintf(msg, msglen, "no saga with gid '%s'", gid);
        return ORDER_VIEW_NOT_FOUND;
    }
    char err[sizeof out->order_error];
    if (order_rows_find(svc->orders, svc->cfg->dtm_timeout_ms, gid, &out->order,
                        &out->order_found, err, sizeof err) == 0) {
        out->looked_up_order = 1;
    } else {
        /* The saga's status is still worth showing: report why the row is
         * missing next to it instead of failing the whole request. */
        snprintf(out->order_error, sizeof out->order_error, "%s", err);
        log_warn(gid, "reading the order row: %s", err);
    }
    return ORDER_VIEW_OK;
}
