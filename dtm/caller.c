/* caller.c: the real branch caller (caller.h; dtm-protocol.md §3, DTM's
 * getURLResult): one branch call over gRPC (common/rpccli) or HTTP
 * (common/httpcli), read into DTM's four results.
 *
 * Messages keep DTM's words where a client reads them: a branch that refuses
 * gives "url:<url> return failed: <reply> FAILURE" (the HTTP body, or the
 * gRPC status message), which becomes the saga's rollback_reason and the
 * text a WaitResult client gets back.
 *
 * A gRPC branch URL names its server either directly ("host:port/...") or
 * through etcd ("etcd://h1,h2/order.rpc/pb.order/create", DTM's go-zero
 * driver); the latter is resolved to an instance by common/etcd.h. */
#include "caller.h"

#include <grpc/status.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "etcd.h"
#include "httpcli.h"
#include "log.h"
#include "rpccli.h"

#define CALLER_PARAM_MAX 1024 /* the encoded query we append: gid (128) and short ids */
#define CALLER_TRIES_MAX 3    /* instances tried in one call of an etcd:// branch */

struct caller {
    int default_timeout_s;   /* the config's RequestTimeout */
    rpccli *rpc;             /* one gRPC client (one channel per target) for every call */
    etcd_resolver *resolver; /* instances of etcd:// branch targets */
};

caller *caller_new(int default_timeout_s) {
    caller *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->default_timeout_s = default_timeout_s > 0 ? default_timeout_s : 3;
    c->rpc = rpccli_new();
    c->resolver = etcd_resolver_new();
    if (!c->rpc || !c->resolver) {
        caller_free(c);
        return NULL;
    }
    return c;
}

void caller_free(caller *c) {
    if (!c) return;
    if (c->rpc) rpccli_free(c->rpc);
    etcd_resolver_free(c->resolver);
    free(c);
}

/* ---- helpers ---- */

static int caller_prefix(const char *s, const char *p) { return strncasecmp(s, p, strlen(p)) == 0; }

static int caller_timeout_ms(const caller *c, const trans_global *t) {
    int64_t s = t->opts.request_timeout > 0 ? t->opts.request_timeout : c->default_timeout_s;
    if (s > 3600) s = 3600;
    return (int)(s * 1000);
}

/* Appends `v` URL-encoded as Go's url.QueryEscape does (space as '+').
 * Returns 0, or -1 when it does not fit. */
static int caller_query_escape(char *out, size_t outlen, size_t *pos, const char *v) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                    *p == '-' || *p == '_' || *p == '.' || *p == '~';
        size_t need = plain || *p == ' ' ? 1 : 3;
        if (*pos + need >= outlen) return -1;
        if (plain) out[(*pos)++] = (char)*p;
        else if (*p == ' ') out[(*pos)++] = '+';
        else {
            out[(*pos)++] = '%';
            out[(*pos)++] = hex[*p >> 4];
            out[(*pos)++] = hex[*p & 15];
        }
    }
    out[*pos] = '\0';
    return 0;
}

/* The query DTM adds to every HTTP branch call, keys in Go's sorted order. */
static int caller_branch_query(const trans_global *t, const trans_branch *b, char *out, size_t outlen) {
    const char *keys[4] = {"branch_id", "gid", "op", "trans_type"};
    const char *vals[4] = {b->branch_id, t->gid, b->op, t->trans_type};
    size_t pos = 0;
    out[0] = '\0';
    for (int i = 0; i < 4; i++) {
        int n = snprintf(out + pos, outlen - pos, "%s%s=", i ? "&" : "", keys[i]);
        if (n < 0 || (size_t)n >= outlen - pos) return -1;
        pos += (size_t)n;
        if (caller_query_escape(out, outlen, &pos, vals[i]) != 0) return -1;
    }
    return 0;
}

/* ---- HTTP ---- */

static dtm_result caller_http(caller *c, const trans_global *t, const trans_branch *b, char *msg,
                              size_t msglen) {
    if (caller_prefix(b->url, "https://")) {
        snprintf(msg, msglen, "url:%s: https is not supported", b->url);
        return DTM_ERROR;
    }
    char query[CALLER_PARAM_MAX];
    if (caller_branch_query(t, b, query, sizeof query) != 0) {
        snprintf(msg, msglen, "url:%s: branch query too long", b->url);
        return DTM_ERROR;
    }
    size_t ulen = strlen(b->url) + 1 + strlen(query) + 1;
    char *url = malloc(ulen);
    if (!url) {
        snprintf(msg, msglen, "out of memory");
        return DTM_ERROR;
    }
    snprintf(url, ulen, "%s%c%s", b->url, strchr(b->url, '?') ? '&' : '?', query);

    const char *headers[2 * (TRANS_HEADERS_MAX + 1) + 1];
    size_t nh = 0;
    int own_type = 0; /* a branch header replaces our Content-type, as in DTM */
    for (size_t i = 0; i < t->opts.n_headers && i < TRANS_HEADERS_MAX; i++)
        own_type |= strcasecmp(t->opts.headers[i].key, "Content-type") == 0;
    if (!own_type) {
        headers[nh++] = "Content-type";
        headers[nh++] = "application/json";
    }
    for (size_t i = 0; i < t->opts.n_headers && i < TRANS_HEADERS_MAX; i++) {
        headers[nh++] = t->opts.headers[i].key;
        headers[nh++] = t->opts.headers[i].value;
    }
    headers[nh] = NULL;

    /* DTM: POST when there is a payload (or for xa), else GET. */
    const char *method = b->data_len > 0 || strcmp(t->trans_type, "xa") == 0 ? "POST" : "GET";
    httpcli_resp resp;
    char err[512];
    int rc = httpcli_request(method, url, headers, b->data, b->data_len, caller_timeout_ms(c, t), &resp,
                             err, sizeof err);
    free(url);
    if (rc != 0) {
        snprintf(msg, msglen, "url:%s: %s", b->url, err);
        return DTM_ERROR;
    }
    dtm_result r = dtm_result_from_http(resp.status, resp.body, resp.body_len);
    const char *u = b->url, *body = resp.body;
    switch (r) {
    case DTM_SUCCESS: msg[0] = '\0'; break;
    case DTM_FAILURE: snprintf(msg, msglen, "url:%s return failed: %s FAILURE", u, body); break;
    case DTM_ONGOING: snprintf(msg, msglen, "url:%s return ongoing: %s", u, body); break;
    case DTM_ERROR: snprintf(msg, msglen, "url:%s return status %d: %s", u, resp.status, body); break;
    }
    httpcli_resp_free(&resp);
    return r;
}

/* ---- gRPC ---- */

static void caller_lower(char *s) {
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z') *s = (char)(*s - 'A' + 'a');
}

/* Calls the method of a branch at `to` (host:port) into *res. */
static void caller_grpc_once(caller *c, const trans_global *t, const trans_branch *b, const char *to,
                             const char *method, rpccli_result *res) {
    char *keys[TRANS_HEADERS_MAX];
    rpc_md md[5 + TRANS_HEADERS_MAX];
    size_t nmd = 0, nkeys = 0;
    md[nmd++] = (rpc_md){"dtm-gid", t->gid};
    md[nmd++] = (rpc_md){"dtm-trans_type", t->trans_type};
    md[nmd++] = (rpc_md){"dtm-branch_id", b->branch_id};
    md[nmd++] = (rpc_md){"dtm-op", b->op};
    md[nmd++] = (rpc_md){"dtm-dtm", ""};
    /* gRPC metadata keys are lowercase. */
    for (size_t i = 0; i < t->opts.n_headers && i < TRANS_HEADERS_MAX; i++) {
        keys[nkeys] = strdup(t->opts.headers[i].key);
        if (!keys[nkeys]) break;
        caller_lower(keys[nkeys]);
        md[nmd++] = (rpc_md){keys[nkeys], t->opts.headers[i].value};
        nkeys++;
    }
    rpccli_call(c->rpc, to, method, md, nmd, b->data, b->data_len, caller_timeout_ms(c, t), res);
    for (size_t i = 0; i < nkeys; i++) free(keys[i]);
}

static dtm_result caller_grpc(caller *c, const trans_global *t, const trans_branch *b, char *msg,
                              size_t msglen) {
    /* "host:port/pkg.Svc/Method" is cut at the first '/', a registry URL
     * "etcd://h1,h2/order.rpc/pb.order/create" at the second '/' of its path,
     * as DTM's drivers do. */
    char target[TRANS_URL_MAX + 1], method[TRANS_URL_MAX + 1], err[512];
    if (etcd_split_branch_url(b->url, target, sizeof target, method, sizeof method, err,
                              sizeof err) != 0) {
        snprintf(msg, msglen, "url:%s: %s", b->url, err);
        return DTM_ERROR;
    }
    int registry = etcd_is_target(target); /* caller_call() let no other scheme through */
    /* An instance that cannot be reached is reported to the resolver and the
     * call goes at once to the next instance: branches are idempotent (the
     * barrier), so a second delivery is harmless. */
    rpccli_result res = {0};
    char addr[ETCD_ADDR_MAX] = "", tried[ETCD_ADDR_MAX] = "";
    for (int attempt = 0; attempt < CALLER_TRIES_MAX; attempt++) {
        if (registry) {
            int rc = etcd_resolver_pick(c->resolver, target, addr, sizeof addr, err, sizeof err);
            if (rc != 0 && attempt == 0) {
                snprintf(msg, msglen, "url:%s: %s", b->url, err);
                return DTM_ERROR;
            }
            if (rc != 0 || strcmp(addr, tried) == 0) { /* no other instance: keep the answer */
                snprintf(addr, sizeof addr, "%s", tried);
                break;
            }
            log_debug(t->gid, "branch %s %s: %s is %s", b->branch_id, b->op, target, addr);
        }
        rpccli_result_free(&res);
        caller_grpc_once(c, t, b, registry ? addr : target, method, &res);
        if (!registry || res.status != GRPC_STATUS_UNAVAILABLE) break;
        log_warn(t->gid, "branch %s %s: instance %s of %s is unavailable (%s); skipping it for a while",
                 b->branch_id, b->op, addr, target, res.message);
        etcd_resolver_report_down(c->resolver, target, addr);
        snprintf(tried, sizeof tried, "%s", addr);
    }
    dtm_result r = dtm_result_from_grpc(res.status, res.message);
    const char *u = b->url, *m = res.message;
    switch (r) {
    case DTM_SUCCESS: msg[0] = '\0'; break;
    case DTM_FAILURE: snprintf(msg, msglen, "url:%s return failed: %s FAILURE", u, m); break;
    case DTM_ONGOING: snprintf(msg, msglen, "url:%s return ongoing: %s", u, m); break;
    case DTM_ERROR:
        snprintf(msg, msglen, "url:%s%s%s grpc status %d: %s", u, registry ? " at " : "",
                 registry ? addr : "", res.status, m);
        break;
    }
    rpccli_result_free(&res);
    return r;
}

/* ---- the interface ---- */

static dtm_result caller_call(void *ud, const trans_global *t, const trans_branch *b, char *msg,
                              size_t msglen) {
    caller *c = ud;
    if (msg && msglen) msg[0] = '\0';
    char dummy[8];
    if (!msg || msglen == 0) {
        msg = dummy;
        msglen = sizeof dummy;
    }
    if (!b->url || !*b->url) return DTM_SUCCESS; /* nothing to call */
    int web = caller_prefix(b->url, "http://") || caller_prefix(b->url, "https://");
    /* Registry URLs are gRPC branches: etcd:// is resolved (caller_grpc);
     * other registries (consul://, nacos://) are not supported. */
    if (!web && strstr(b->url, "://") && (!etcd_is_target(b->url) || strcmp(t->protocol, "http") == 0)) {
        snprintf(msg, msglen, "url:%s: unsupported URL scheme", b->url);
        return DTM_ERROR;
    }
    if (web || strcmp(t->protocol, "http") == 0) return caller_http(c, t, b, msg, msglen);
    return caller_grpc(c, t, b, msg, msglen);
}

branch_caller caller_iface(caller *c) { return (branch_caller){.call = caller_call, .ud = c}; }
