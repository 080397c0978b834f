/* api_http.c: the coordinator's HTTP surface under /api/dtmsvr
 * (dtm-protocol.md §2 and the probes of §10), on httpsrv/civetweb.
 *
 * Replies follow DTM's WrapHandler2: 200 {"dtm_result":"SUCCESS"} (or the
 * handler's map), 409 {"dtm_result":"FAILURE","message":..}, 425
 * {"dtm_result":"ONGOING","message":..}. Where DTM answers 500 for bad input,
 * cdtm answers 400 {"error":..}; a store failure is 500 {"error":..}.
 * Unknown paths and POST newGid are 404 (as DTM's router), a wrong method on
 * a known route 405, a body over 1 MiB 413. */
#include "api.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gid.h"
#include "httpsrv.h"
#include "log.h"
#include "jsoncheck.h"
#include "parse.h"

#define API_HTTP_BODY_MAX (1024 * 1024)
#define API_HTTP_VERSION "cdtm-0.1.0"
#define API_PREFIX "/api/dtmsvr"

struct api_http {
    httpsrv *srv;
    svc *v;
};



/* ---- replies ---- */

/* A JSON string of `s`; bytes that are not UTF-8 (a branch's reply quoted in
 * a rollback reason may hold any) become '?', so the message is never lost. */
static json_t *json_text(const char *s) {
    json_t *j = json_string(s ? s : "");
    if (j) return j;
    char *copy = strdup(s);
    if (!copy) return json_string("");
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80) *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

static void reply_rc(struct mg_connection *c, svc_rc rc, const char *msg) {
    json_t *b;
    switch (rc) {
    case SVC_OK:
        httpsrv_reply_json(c, 200, json_pack("{s:s}", "dtm_result", "SUCCESS"));
        return;
    case SVC_FAILURE:
    case SVC_ONGOING:
        b = json_object();
        json_object_set_new(b, "dtm_result", json_string(rc == SVC_FAILURE ? "FAILURE" : "ONGOING"));
        json_object_set_new(b, "message", json_text(msg));
        httpsrv_reply_json(c, rc == SVC_FAILURE ? 409 : 425, b);
        return;
    case SVC_BAD_REQUEST:
    case SVC_UNSUPPORTED:
        httpsrv_reply_error(c, 400, "%s", msg);
        return;
    case SVC_ERROR:
    default:
        httpsrv_reply_error(c, 500, "%s", msg);
        return;
    }
}

/* Reads the body as JSON text; answers 413/400 itself and returns NULL then. */
static char *read_body(struct mg_connection *c, size_t *len) {
    char *body = NULL;
    int r = httpsrv_read_body(c, API_HTTP_BODY_MAX, &body, len);
    if (r == 1) {
        httpsrv_reply_error(c, 413, "request body over %d bytes", API_HTTP_BODY_MAX);
        return NULL;
    }
    if (r != 0) {
        httpsrv_reply_error(c, 400, "cannot read the request body");
        return NULL;
    }
    return body;
}

/* A JSON object body; answers the error itself and returns NULL then. */
static json_t *read_object(struct mg_connection *c) {
    size_t len;
    char *body = read_body(c, &len);
    if (!body) return NULL;
    json_error_t jerr;
    if (!json_depth_ok(body, len, JSON_MAX_DEPTH)) {
        free(body);
        httpsrv_reply_error(c, 400, "malformed JSON: nested deeper than 32 levels");
        return NULL;
    }
    json_t *o = json_loadb(body, len, 0, &jerr);
    free(body);
    if (!o || !json_is_object(o)) {
        if (o) httpsrv_reply_error(c, 400, "request body: must be a JSON object");
        else httpsrv_reply_error(c, 400, "malformed JSON: %s (line %d, column %d)", jerr.text,
                                 jerr.line, jerr.column);
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- endpoints ---- */

typedef svc_rc (*trans_op)(svc *v, trans_global *t, char *msg, size_t msglen);

static void ep_trans(struct mg_connection *c, svc *v, trans_op op, int need_steps,
                     const char *what) {
    size_t len;
    char *body = read_body(c, &len);
    if (!body) return;
    char msg[2048] = "";
    trans_global *t = NULL;
    svc_rc rc = parse_trans_json(body, len, need_steps, &t, msg, sizeof msg);
    free(body);
    if (rc != SVC_OK) {
        log_info(NULL, "http %s refused: %s", what, msg);
        reply_rc(c, rc, msg);
        return;
    }
    char gid[TRANS_GID_MAX + 1];
    snprintf(gid, sizeof gid, "%s", t->gid);
    rc = op(v, t, msg, sizeof msg); /* takes t */
    if (rc != SVC_OK) log_info(gid, "http %s: %s", what, msg);
    reply_rc(c, rc, msg);
}

static void ep_register_branch(struct mg_connection *c, svc *v) {
    json_t *o = read_object(c);
    if (!o) return;
    /* DTM binds a flat map of strings. */
    const char *k;
    json_t *val;
    json_object_foreach(o, k, val) {
        if (!json_is_string(val)) {
            httpsrv_reply_error(c, 400, "registerBranch: \"%.64s\" must be a string", k);
            json_decref(o);
            return;
        }
    }
    char msg[1024] = "";
    const char *gid = json_string_value(json_object_get(o, "gid"));
    svc_rc rc = svc_register_branch(v, gid ? gid : "",
                                    json_string_value(json_object_get(o, "trans_type")),
                                    json_string_value(json_object_get(o, "branch_id")), o, msg,
                                    sizeof msg);
    if (rc != SVC_OK) log_info(gid, "http registerBranch: %s", msg);
    reply_rc(c, rc, msg);
    json_decref(o);
}

/* forceStop and resetNextCronTime: a body {"gid":..}. */
static void ep_gid_op(struct mg_connection *c, svc *v,
                      svc_rc (*op)(svc *, const char *, char *, size_t)) {
    json_t *o = read_object(c);
    if (!o) return;
    json_t *g = json_object_get(o, "gid");
    if (!json_is_string(g) || json_string_length(g) == 0) {
        httpsrv_reply_error(c, 400, "gid: missing or not a non-empty string");
        json_decref(o);
        return;
    }
    char gid[TRANS_GID_MAX + 2];
    snprintf(gid, sizeof gid, "%s", json_string_value(g)); /* over-long gids stay over-long */
    json_decref(o);
    char msg[1024] = "";
    reply_rc(c, op(v, gid, msg, sizeof msg), msg);
}

/* An optional string query parameter into buf: 1 when present and
 * non-empty, 0 when absent or empty, -1 (after answering 400) when longer
 * than buf allows. */
static int query_str(struct mg_connection *c, const char *name, char *buf, size_t len) {
    buf[0] = '\0';
    int n = httpsrv_query(c, name, buf, len);
    if (n > 0 && strlen(buf) != (size_t)n) {
        buf[0] = '\0';
        httpsrv_reply_error(c, 400, "%s: contains a NUL byte", name);
        return -1;
    }
    if (n > 0) return 1;
    if (n == 0) return 0;
    buf[0] = '\0';
    /* httpsrv_query() says -1 for "absent" and "too long": tell them apart. */
    const struct mg_request_info *ri = mg_get_request_info(c);
    char probe[2];
    if (!ri->query_string ||
        mg_get_var(ri->query_string, strlen(ri->query_string), name, probe, sizeof probe) == -1)
        return 0;
    httpsrv_reply_error(c, 400, "%s: longer than %zu bytes", name, len - 1);
    return -1;
}

static void ep_query(struct mg_connection *c, svc *v) {
    char gid[TRANS_GID_MAX + 1];
    int n = query_str(c, "gid", gid, sizeof gid);
    if (n < 0) return;
    if (n == 0) {
        httpsrv_reply_error(c, 400, "no gid specified");
        return;
    }
    char msg[1024] = "";
    json_t *out = NULL;
    svc_rc rc = svc_query(v, gid, &out, msg, sizeof msg);
    if (rc != SVC_OK) {
        reply_rc(c, rc, msg);
        return;
    }
    httpsrv_reply_json(c, 200, out);
}

/* An optional integer query parameter; -1 (and a 400) when malformed. */
static int query_int(struct mg_connection *c, const char *name, long long min, long long max,
                     long long *out) {
    char buf[32];
    *out = 0;
    int n = query_str(c, name, buf, sizeof buf);
    if (n <= 0) return n;
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (*end || end == buf || v < min || v > max) {
        httpsrv_reply_error(c, 400, "%s: must be an integer in %lld..%lld", name, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static void ep_all(struct mg_connection *c, svc *v) {
    char gid[TRANS_GID_MAX + 1], position[32], status[16], type[48];
    if (query_str(c, "gid", gid, sizeof gid) < 0 || query_str(c, "position", position, sizeof position) < 0 ||
        query_str(c, "status", status, sizeof status) < 0 ||
        query_str(c, "transType", type, sizeof type) < 0)
        return;
    long long limit, start, end;
    if (query_int(c, "limit", 1, 1000, &limit) || query_int(c, "createTimeStart", 0, INT64_MAX, &start) ||
        query_int(c, "createTimeEnd", 0, INT64_MAX, &end))
        return;
    char msg[1024] = "";
    json_t *out = NULL;
    svc_rc rc = svc_all(v, gid, position, (int)limit, status, type, start, end, &out, msg,
                        sizeof msg);
    if (rc != SVC_OK) {
        reply_rc(c, rc, msg);
        return;
    }
    httpsrv_reply_json(c, 200, out);
}

/* ---- routing ---- */

typedef enum { R_NEWGID, R_PREPARE, R_SUBMIT, R_ABORT, R_REGISTER, R_FORCESTOP, R_RESETCRON,
               R_QUERY, R_ALL, R_VERSION } route_id;

static const struct {
    const char *name;
    const char *method;
    route_id id;
} ROUTES[] = {
    {"newGid", "GET", R_NEWGID},
    {"prepare", "POST", R_PREPARE},
    {"submit", "POST", R_SUBMIT},
    {"abort", "POST", R_ABORT},
    {"registerBranch", "POST", R_REGISTER},
    {"registerTccBranch", "POST", R_REGISTER},
    {"registerXaBranch", "POST", R_REGISTER},
    {"forceStop", "POST", R_FORCESTOP},
    {"resetNextCronTime", "POST", R_RESETCRON},
    {"query", "GET", R_QUERY},
    {"all", "GET", R_ALL},
    {"version", "GET", R_VERSION},
};

static int on_dtmsvr(struct mg_connection *c, void *ud) {
    api_http *a = ud;
    const struct mg_request_info *ri = mg_get_request_info(c);
    const char *uri = ri->local_uri;
    const char *name = uri[strlen(API_PREFIX)] == '/' ? uri + strlen(API_PREFIX) + 1 : "";
    for (size_t i = 0; i < sizeof ROUTES / sizeof *ROUTES; i++) {
        if (strcmp(name, ROUTES[i].name) != 0) continue;
        if (strcmp(ri->request_method, ROUTES[i].method) != 0) {
            /* DTM's router only knows GET newGid: any other method is 404. */
            if (ROUTES[i].id == R_NEWGID) httpsrv_reply_error(c, 404, "404 page not found");
            else httpsrv_reply_error(c, 405, "method %.16s not allowed on %s (use %s)",
                                     ri->request_method, uri, ROUTES[i].method);
            return 1;
        }
        switch (ROUTES[i].id) {
        case R_NEWGID: {
            char gid[GID_LEN + 1];
            gid_new(gid);
            httpsrv_reply_json(c, 200, json_pack("{s:s,s:s}", "dtm_result", "SUCCESS", "gid", gid));
            break;
        }
        case R_PREPARE: ep_trans(c, a->v, svc_prepare, 1, "prepare"); break;
        case R_SUBMIT: ep_trans(c, a->v, svc_submit, 1, "submit"); break;
        case R_ABORT: ep_trans(c, a->v, svc_abort, 0, "abort"); break;
        case R_REGISTER: ep_register_branch(c, a->v); break;
        case R_FORCESTOP: ep_gid_op(c, a->v, svc_force_stop); break;
        case R_RESETCRON: ep_gid_op(c, a->v, svc_reset_next_cron_time); break;
        case R_QUERY: ep_query(c, a->v); break;
        case R_ALL: ep_all(c, a->v); break;
        case R_VERSION:
            httpsrv_reply_json(c, 200, json_pack("{s:s}", "version", API_HTTP_VERSION));
            break;
        }
        return 1;
    }
    httpsrv_reply_error(c, 404, "404 page not found");
    return 1;
}

static int on_ping(struct mg_connection *c, void *ud) {
    (void)ud;
    httpsrv_reply_json(c, 200, json_pack("{s:s}", "msg", "pong"));
    return 1;
}

api_http *api_http_start(svc *v, const char *listen_on, int threads, char *err, size_t errlen) {
    api_http *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->v = v;
    const httpsrv_route routes[] = {{API_PREFIX, on_dtmsvr, a}, {"/api/ping", on_ping, a}};
    a->srv = httpsrv_start(listen_on, threads, routes, sizeof routes / sizeof *routes, err, errlen);
    if (!a->srv) {
        free(a);
        return NULL;
    }
    return a;
}

void api_http_stop(api_http *a) {
    if (!a) return;
    httpsrv_stop(a->srv);
    free(a);
}
