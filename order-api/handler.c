/* handler.c: the HTTP glue of order-api. Each handler reads the request,
 * calls the logic, and maps its outcome onto a status and a JSON body. No
 * business rule lives here: see logic.c. */
#include "handler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define ROUTE_PREFIX "/order"

/* A JSON string for text that may come from a peer or be cut short in the
 * middle of a UTF-8 sequence: jansson refuses invalid UTF-8, so such bytes
 * become '?' rather than losing the whole reply. */
static json_t *jstr(const char *s) {
    json_t *v = json_string(s);
    if (v) return v;
    char *copy = strdup(s);
    if (!copy) return json_string("");
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80) *p = '?';
    v = json_string(copy);
    free(copy);
    return v ? v : json_string("");
}
#define QUICK_CREATE "/order/quickCreate"

/* ---- POST /order/quickCreate ------------------------------------------------ */

/* ?wait=true asks for the saga's outcome instead of "submitted". Returns 0/1,
 * or -1 for a value that is neither (the caller answers 400). */
static int read_wait(struct mg_connection *conn) {
    char v[16];
    if (httpsrv_query(conn, "wait", v, sizeof v) < 0) return 0;
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) return 1;
    if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0 || v[0] == '\0') return 0;
    return -1;
}

/* How each outcome is answered (demo.md §13 (d), (e)):
 *   submitted / succeed -> 200 {"gid","status"}
 *   failed              -> 409 {"gid","status":"failed","reason"}
 *   not final yet       -> 202 {"gid","status","reason"}
 *   coordinator down    -> 503 {"error"[,"gid"]}
 *   refused             -> 502 {"error"[,"gid"]} */
static void reply_outcome(struct mg_connection *conn, const order_outcome *o) {
    json_t *body;
    int status;
    switch (o->kind) {
    case ORDER_SUBMITTED:
    case ORDER_SUCCEED:
        status = 200;
        body = json_pack("{s:o, s:o}", "gid", jstr(o->gid), "status", jstr(o->status));
        break;
    case ORDER_FAILED:
    case ORDER_PENDING:
        status = o->kind == ORDER_FAILED ? 409 : 202;
        body = json_pack("{s:o, s:o, s:o}", "gid", jstr(o->gid), "status", jstr(o->status), "reason",
                         jstr(o->reason));
        break;
    case ORDER_UNAVAILABLE:
    case ORDER_REJECTED:
    default:
        status = o->kind == ORDER_UNAVAILABLE ? 503 : 502;
        body = json_pack("{s:o}", "error", jstr(o->reason));
        if (o->gid[0]) json_object_set_new(body, "gid", jstr(o->gid));
        break;
    }
    httpsrv_reply_json(conn, status, body);
}

static void quick_create(struct mg_connection *conn, order_api_svc *svc) {
    int wait = read_wait(conn);
    if (wait < 0) {
        httpsrv_reply_error(conn, 400, "wait must be true or false");
        return;
    }
    char *body = NULL;
    size_t len = 0;
    int rc = httpsrv_read_body(conn, ORDER_API_MAX_BODY, &body, &len);
    if (rc == 1) {
        httpsrv_reply_error(conn, 413, "the body is larger than %d bytes", ORDER_API_MAX_BODY);
        return;
    }
    if (rc != 0) {
        httpsrv_reply_error(conn, 400, "cannot read the body");
        return;
    }
    order_req req;
    char err[512];
    if (order_parse_quick_create(body, len, &req, err, sizeof err) != 0) {
        free(body);
        httpsrv_reply_error(conn, 400, "%s", err);
        return;
    }
    free(body);
    order_outcome o;
    order_logic_quick_create(svc, &req, wait, &o);
    reply_outcome(conn, &o);
}

/* ---- GET /order/{gid} ------------------------------------------------------------ */

static json_t *order_json(const order_view *v) {
    if (!v->order_found) return json_null();
    return json_pack("{s:I, s:I, s:I, s:I, s:I}", "id", (json_int_t)v->order.id, "user_id",
                     (json_int_t)v->order.user_id, "goods_id", (json_int_t)v->order.goods_id,
                     "num", (json_int_t)v->order.num, "row_state",
                     (json_int_t)v->order.row_state);
}

static void view_order(struct mg_connection *conn, order_api_svc *svc, const char *gid) {
    if (!order_gid_valid(gid)) {
        httpsrv_reply_error(conn, 400, "gid must be 1..128 characters of [A-Za-z0-9_.:-]");
        return;
    }
    order_view *v = malloc(sizeof *v);
    if (!v) {
        httpsrv_reply_error(conn, 500, "out of memory");
        return;
    }
    char msg[1024];
    switch (order_logic_view(svc, gid, v, msg, sizeof msg)) {
    case ORDER_VIEW_OK: {
        json_t *branches = json_array();
        for (size_t i = 0; i < v->saga.nbranches; i++) {
            const dtmc_branch *b = &v->saga.branches[i];
            json_array_append_new(branches, json_pack("{s:o, s:o, s:o}", "branch_id",
                                                      jstr(b->branch_id), "op", jstr(b->op),
                                                      "status", jstr(b->status)));
        }
        json_t *body = json_pack("{s:s, s:o, s:o}", "gid", gid, "status", jstr(v->saga.status),
                                 "branches", branches);
        if (v->saga.rollback_reason[0])
            json_object_set_new(body, "rollback_reason", jstr(v->saga.rollback_reason));
        /* When order-srv did not answer, the row is left out (and
         * order_error says why) rather than claimed not to exist. */
        if (v->looked_up_order) json_object_set_new(body, "order", order_json(v));
        if (v->order_error[0])
            json_object_set_new(body, "order_error", jstr(v->order_error));
        httpsrv_reply_json(conn, 200, body);
        break;
    }
    case ORDER_VIEW_NOT_FOUND: httpsrv_reply_error(conn, 404, "%s", msg); break;
    case ORDER_VIEW_UNAVAILABLE: httpsrv_reply_error(conn, 503, "%s", msg); break;
    case ORDER_VIEW_ERROR:
    default: httpsrv_reply_error(conn, 502, "%s", msg); break;
    }
    free(v);
}

/* ---- routing ------------------------------------------------------------------------ */

/* Everything under /order: the quickCreate route is matched first, so that
 * "quickCreate" is never read as a gid. */
static int route_order(struct mg_connection *conn, void *ud) {
    order_api_svc *svc = ud;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const char *method = ri->request_method;
    const char *uri = ri->local_uri ? ri->local_uri : "";
    if (strcmp(uri, QUICK_CREATE) == 0) {
        if (strcmp(method, "POST") != 0)
            httpsrv_reply_error(conn, 405, "method %s is not allowed on %s: use POST", method,
                                QUICK_CREATE);
        else
            quick_create(conn, svc);
        return 1;
    }
    if (strncmp(uri, ROUTE_PREFIX "/", sizeof ROUTE_PREFIX) == 0 && uri[sizeof ROUTE_PREFIX]) {
        if (strcmp(method, "GET") != 0)
            httpsrv_reply_error(conn, 405, "method %s is not allowed on /order/{gid}: use GET",
                                method);
        else
            view_order(conn, svc, uri + sizeof ROUTE_PREFIX);
        return 1;
    }
    httpsrv_reply_error(conn, 404, "no route %s %s: try POST " QUICK_CREATE
                        " or GET /order/{gid}", method, uri);
    return 1;
}

static int route_ping(struct mg_connection *conn, void *ud) {
    (void)ud;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    if (strcmp(ri->request_method, "GET") != 0)
        httpsrv_reply_error(conn, 405, "method %s is not allowed on /api/ping: use GET",
                            ri->request_method);
    else
        httpsrv_reply_json(conn, 200, json_pack("{s:s}", "msg", "pong"));
    return 1;
}

httpsrv *order_api_serve(order_api_svc *svc, char *err, size_t errlen) {
    const httpsrv_route routes[] = {
        {ROUTE_PREFIX, route_order, svc},
        {"/api/ping", route_ping, NULL},
    };
    return httpsrv_start(svc->cfg->listen_on, svc->cfg->threads, routes,
                         sizeof routes / sizeof *routes, err, errlen);
}
