/* busi.c: a scriptable branch server for coordinator tests, in the spirit of
 * DTM's own test "busi" service. `busi -g <grpcport> -h <httpport>` serves
 * the same branch methods over both protocols:
 *
 *   gRPC: /busi.Busi/<Method> (the names in BUSI_METHODS);
 *   HTTP: any path not below; the method is the last path segment
 *         (POST /api/busi/TransIn?gid=..&branch_id=..&op=..&trans_type=..).
 *
 * Answers: SUCCESS (gRPC OK / HTTP 200 {"dtm_result":"SUCCESS"}), except for
 * methods whose name contains "Fail": FAILURE (gRPC Aborted "FAILURE" / HTTP
 * 409 {"dtm_result":"FAILURE"}). Tests change that per method:
 *
 *   POST /control {"method":"TransIn","mode":"unavailable|ok|fail|hang|ongoing","count":N}
 *        the next N calls of that method answer UNAVAILABLE (HTTP 500),
 *        SUCCESS, FAILURE, ONGOING (FailedPrecondition / 425), or hang 5 s
 *        and then succeed;
 *   GET  /calls[?gid=G]  the calls received, in order:
 *        [{"proto","verb" (the HTTP method, "" for gRPC),"method","gid",
 *          "branch_id","op","trans_type","body_len","body","tag","ts_ms"}]
 *        (body: the payload when it is UTF-8 text; tag: the "x-busi-tag"
 *        header / metadata, to see branch headers);
 *   POST /reset  forgets the calls and the scripted modes. */
#include <civetweb.h>
#include <grpc/status.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rpcsrv.h"
#include "sig.h"

#define BUSI_MAX_CALLS 20000
#define BUSI_MAX_RULES 64
#define BUSI_BODY_MAX (1 << 20)
#define BUSI_HANG_MS 5000

static const char *const BUSI_METHODS[] = {
    "TransOut", "TransIn", "TransOutRevert", "TransInRevert", "TransOutFail", "TransInFail",
    "TransOutRevertFail", "TransInRevertFail", "Step1", "Step2", "Step3", "Step1Revert",
    "Step2Revert", "Step3Revert", NULL};

/* ---- state: the call log and the scripted modes ---- */

typedef enum {
    MODE_DEFAULT = 0, MODE_OK, MODE_FAIL, MODE_UNAVAILABLE, MODE_HANG, MODE_ONGOING
} busi_mode;

typedef struct {
    char method[64];
    busi_mode mode;
    int count;
} busi_rule;

static pthread_mutex_t busi_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *busi_calls;              /* array of call objects */
static busi_rule busi_rules[BUSI_MAX_RULES];
static int busi_nrules;

static long long busi_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *nz(const char *s) { return s ? s : ""; }

/* Logs the call and decides its answer (consuming one scripted count). */
static busi_mode busi_record(const char *proto, const char *verb, const char *method,
                             const char *gid, const char *branch_id, const char *op,
                             const char *trans_type, const char *body, size_t body_len,
                             const char *tag) {
    json_t *c = json_object();
    json_object_set_new(c, "proto", json_string(proto));
    json_object_set_new(c, "verb", json_string(verb));
    json_object_set_new(c, "method", json_string(method));
    json_object_set_new(c, "gid", json_string(nz(gid)));
    json_object_set_new(c, "branch_id", json_string(nz(branch_id)));
    json_object_set_new(c, "op", json_string(nz(op)));
    json_object_set_new(c, "trans_type", json_string(nz(trans_type)));
    json_object_set_new(c, "body_len", json_integer((json_int_t)body_len));
    json_t *b = json_stringn(body ? body : "", body ? body_len : 0); /* NULL when not UTF-8 */
    json_object_set_new(c, "body", b ? b : json_null());
    json_object_set_new(c, "tag", json_string(nz(tag)));
    json_object_set_new(c, "ts_ms", json_integer(busi_now_ms()));

    busi_mode m = strstr(method, "Fail") ? MODE_FAIL : MODE_OK;
    pthread_mutex_lock(&busi_mu);
    if (json_array_size(busi_calls) < BUSI_MAX_CALLS) json_array_append(busi_calls, c);
    for (int i = 0; i < busi_nrules; i++)
        if (strcmp(busi_rules[i].method, method) == 0 && busi_rules[i].count > 0) {
            busi_rules[i].count--;
            m = busi_rules[i].mode;
            break;
        }
    pthread_mutex_unlock(&busi_mu);
    json_decref(c);
    fprintf(stderr, "busi: %s %s gid=%s branch=%s op=%s -> mode %d\n", proto, method, nz(gid),
            nz(branch_id), nz(op), (int)m);
    if (m == MODE_HANG) usleep(BUSI_HANG_MS * 1000);
    return m;
}

/* ---- gRPC ---- */

static void busi_grpc(rpcsrv_call *call, const uint8_t *req, size_t len, void *ud) {
    (void)ud;
    const char *path = rpcsrv_method(call);
    const char *method = strrchr(path, '/') + 1;
    busi_mode m = busi_record("grpc", "", method, rpcsrv_metadata(call, "dtm-gid"),
                              rpcsrv_metadata(call, "dtm-branch_id"), rpcsrv_metadata(call, "dtm-op"),
                              rpcsrv_metadata(call, "dtm-trans_type"), (const char *)req, len,
                              rpcsrv_metadata(call, "x-busi-tag"));
    switch (m) {
    case MODE_FAIL: rpcsrv_status(call, GRPC_STATUS_ABORTED, "FAILURE"); break;
    case MODE_UNAVAILABLE: rpcsrv_status(call, GRPC_STATUS_UNAVAILABLE, "busi: unavailable"); break;
    case MODE_ONGOING: rpcsrv_status(call, GRPC_STATUS_FAILED_PRECONDITION, "ONGOING"); break;
    default: break; /* OK, empty reply */
    }
}

/* ---- HTTP ---- */

static void busi_reply(struct mg_connection *conn, int status, const char *body) {
    char len[32];
    snprintf(len, sizeof len, "%zu", strlen(body));
    mg_response_header_start(conn, status);
    mg_response_header_add(conn, "Content-Type", "application/json", -1);
    mg_response_header_add(conn, "Content-Length", len, -1);
    mg_response_header_send(conn);
    mg_write(conn, body, strlen(body));
}

/* Reads the body (bounded); returns a malloc'd NUL-terminated buffer or NULL. */
static char *busi_body(struct mg_connection *conn, size_t *out_len) {
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) return NULL;
        if (len + 1 >= cap) {
            if (cap >= BUSI_BODY_MAX) {
                free(buf);
                return NULL;
            }
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) free(buf);
            buf = nb;
            continue;
        }
        int n = mg_read(conn, buf + len, cap - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    *out_len = len;
    return buf;
}

static void busi_query(const struct mg_request_info *ri, const char *name, char *out, size_t outlen) {
    out[0] = '\0';
    const char *q = ri->query_string;
    if (q && mg_get_var(q, strlen(q), name, out, outlen) < 0) out[0] = '\0';
}

static int busi_http_calls(struct mg_connection *conn, const struct mg_request_info *ri) {
    char gid[256];
    busi_query(ri, "gid", gid, sizeof gid);
    json_t *out = json_array();
    pthread_mutex_lock(&busi_mu);
    size_t i;
    json_t *c;
    json_array_foreach(busi_calls, i, c) {
        if (!gid[0] || strcmp(json_string_value(json_object_get(c, "gid")), gid) == 0)
            json_array_append(out, c);
    }
    char *text = json_dumps(out, JSON_COMPACT);
    pthread_mutex_unlock(&busi_mu);
    json_decref(out);
    busi_reply(conn, 200, text ? text : "[]");
    free(text);
    return 1;
}

static int busi_http_control(struct mg_connection *conn) {
    size_t len = 0;
    char *body = busi_body(conn, &len);
    json_t *j = body ? json_loadb(body, len, 0, NULL) : NULL;
    free(body);
    const char *method = json_string_value(json_object_get(j, "method"));
    const char *mode = json_string_value(json_object_get(j, "mode"));
    json_t *count = json_object_get(j, "count");
    busi_mode m = MODE_DEFAULT;
    if (mode && strcmp(mode, "ok") == 0) m = MODE_OK;
    else if (mode && strcmp(mode, "fail") == 0) m = MODE_FAIL;
    else if (mode && strcmp(mode, "unavailable") == 0) m = MODE_UNAVAILABLE;
    else if (mode && strcmp(mode, "hang") == 0) m = MODE_HANG;
    else if (mode && strcmp(mode, "ongoing") == 0) m = MODE_ONGOING;
    if (!method || strlen(method) >= sizeof busi_rules[0].method || m == MODE_DEFAULT ||
        (count && !json_is_integer(count))) {
        json_decref(j);
        busi_reply(conn, 400, "{\"error\":\"want {\\\"method\\\",\\\"mode\\\":"
                              "\\\"unavailable|ok|fail|hang|ongoing\\\",\\\"count\\\"}\"}");
        return 1;
    }
    int n = count ? (int)json_integer_value(count) : 1;
    pthread_mutex_lock(&busi_mu);
    busi_rule *r = NULL;
    for (int i = 0; i < busi_nrules && !r; i++)
        if (strcmp(busi_rules[i].method, method) == 0) r = &busi_rules[i];
    if (!r && busi_nrules < BUSI_MAX_RULES) r = &busi_rules[busi_nrules++];
    if (r) {
        snprintf(r->method, sizeof r->method, "%s", method);
        r->mode = m;
        r->count = n;
    }
    pthread_mutex_unlock(&busi_mu);
    json_decref(j);
    busi_reply(conn, r ? 200 : 500, r ? "{\"ok\":true}" : "{\"error\":\"too many rules\"}");
    return 1;
}

static int busi_begin_request(struct mg_connection *conn) {
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const char *uri = ri->local_uri ? ri->local_uri : "/";
    if (strcmp(uri, "/calls") == 0) return busi_http_calls(conn, ri);
    if (strcmp(uri, "/control") == 0) return busi_http_control(conn);
    if (strcmp(uri, "/reset") == 0) {
        pthread_mutex_lock(&busi_mu);
        json_array_clear(busi_calls);
        busi_nrules = 0;
        pthread_mutex_unlock(&busi_mu);
        busi_reply(conn, 200, "{\"ok\":true}");
        return 1;
    }
    const char *method = strrchr(uri, '/');
    method = method ? method + 1 : uri;
    size_t len = 0;
    char *body = busi_body(conn, &len);
    char gid[256], bid[256], op[64], tt[64];
    busi_query(ri, "gid", gid, sizeof gid);
    busi_query(ri, "branch_id", bid, sizeof bid);
    busi_query(ri, "op", op, sizeof op);
    busi_query(ri, "trans_type", tt, sizeof tt);
    busi_mode m = busi_record("http", ri->request_method, method, gid, bid, op, tt, body, body ? len : 0,
                              mg_get_header(conn, "X-Busi-Tag"));
    free(body);
    switch (m) {
    case MODE_FAIL: busi_reply(conn, 409, "{\"dtm_result\":\"FAILURE\"}"); break;
    case MODE_UNAVAILABLE: busi_reply(conn, 500, "{\"error\":\"busi: unavailable\"}"); break;
    case MODE_ONGOING: busi_reply(conn, 425, "{\"dtm_result\":\"ONGOING\"}"); break;
    default: busi_reply(conn, 200, "{\"dtm_result\":\"SUCCESS\"}"); break;
    }
    return 1;
}

/* ---- main ---- */

int main(int argc, char **argv) {
    int gport = 0, hport = 0, opt;
    while ((opt = getopt(argc, argv, "g:h:")) != -1) {
        if (opt == 'g') gport = atoi(optarg);
        else if (opt == 'h') hport = atoi(optarg);
        else {
            fprintf(stderr, "usage: busi -g <grpcport> -h <httpport>\n");
            return 2;
        }
    }
    if (gport <= 0 || hport <= 0) {
        fprintf(stderr, "usage: busi -g <grpcport> -h <httpport>\n");
        return 2;
    }
    sig_block_term();
    busi_calls = json_array();

    char err[256], listen_on[64];
    snprintf(listen_on, sizeof listen_on, "127.0.0.1:%d", gport);
    rpcsrv *rs = rpcsrv_new(listen_on, 16, err, sizeof err);
    if (!rs) {
        fprintf(stderr, "busi: %s\n", err);
        return 1;
    }
    for (int i = 0; BUSI_METHODS[i]; i++) {
        char path[128];
        snprintf(path, sizeof path, "/busi.Busi/%s", BUSI_METHODS[i]);
        rpcsrv_add(rs, path, busi_grpc, NULL);
    }
    if (rpcsrv_start(rs, err, sizeof err) != 0) {
        fprintf(stderr, "busi: %s\n", err);
        rpcsrv_free(rs);
        return 1;
    }

    mg_init_library(0);
    char hlisten[64];
    snprintf(hlisten, sizeof hlisten, "127.0.0.1:%d", hport);
    const char *opts[] = {"listening_ports", hlisten, "num_threads", "16", "enable_keep_alive", "yes",
                          "tcp_nodelay", "1", NULL};
    /* Every request goes to busi_begin_request from the first one on: a
     * handler added with mg_set_request_handler would only be there after the
     * port opens. */
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.begin_request = busi_begin_request;
    struct mg_context *ctx = mg_start(&cb, NULL, opts);
    if (!ctx) {
        fprintf(stderr, "busi: cannot listen on %s\n", hlisten);
        rpcsrv_stop(rs, 0);
        rpcsrv_free(rs);
        return 1;
    }
    fprintf(stderr, "busi: gRPC on %s, HTTP on %s\n", listen_on, hlisten);

    sig_wait_term();
    mg_stop(ctx);
    mg_exit_library();
    rpcsrv_stop(rs, 1000);
    rpcsrv_free(rs);
    json_decref(busi_calls);
    return 0;
}
