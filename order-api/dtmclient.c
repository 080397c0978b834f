/* dtmclient.c: the coordinator client of order-api: NewGid and Submit over
 * gRPC, query over HTTP. See dtmclient.h.
 *
 * The gRPC target is a host:port, or where the coordinator registered
 * itself, "etcd://localhost:2379/dtmservice" as upstream hard-codes it
 * (instances are picked by peer.h). */
#include "dtmclient.h"

#include <grpc/status.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtmgimp.pb-c.h"
#include "httpcli.h"
#include "peer.h"

struct dtmc {
    peer grpc;       /* the coordinator's gRPC API */
    char *http_base; /* ".../api/dtmsvr", no trailing '/' */
    int timeout_ms;
};

const char *dtmc_rc_name(dtmc_rc rc) {
    switch (rc) {
    case DTMC_OK: return "OK";
    case DTMC_FAILURE: return "FAILURE";
    case DTMC_ONGOING: return "ONGOING";
    case DTMC_UNAVAILABLE: return "UNAVAILABLE";
    case DTMC_ERROR: return "ERROR";
    }
    return "ERROR";
}

dtmc *dtmc_new(const char *grpc_target, const char *http_base, int timeout_ms) {
    dtmc *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->http_base = strdup(http_base);
    d->timeout_ms = timeout_ms;
    if (peer_init(&d->grpc, grpc_target) != 0 || !d->http_base) {
        dtmc_free(d);
        return NULL;
    }
    return d;
}

void dtmc_free(dtmc *d) {
    if (!d) return;
    peer_clear(&d->grpc);
    free(d->http_base);
    free(d);
}

/* Copies at most dstlen-1 bytes and terminates. */
static void copy_str(char *dst, size_t dstlen, const char *src) {
    snprintf(dst, dstlen, "%s", src ? src : "");
}

/* How a client reads the coordinator's gRPC status, as dtmgrpc does
 * (GrpcError2DtmError): Aborted is FAILURE (unless it says "ONGOING"),
 * FailedPrecondition is ONGOING. An unreachable coordinator is told apart
 * so that order-api can answer 503 instead of dying (demo.md §13 (d)). */
static dtmc_rc rc_from_grpc(int status, const char *message) {
    switch (status) {
    case GRPC_STATUS_OK: return DTMC_OK;
    case GRPC_STATUS_ABORTED:
        return message && strcmp(message, "ONGOING") == 0 ? DTMC_ONGOING : DTMC_FAILURE;
    case GRPC_STATUS_FAILED_PRECONDITION: return DTMC_ONGOING;
    case GRPC_STATUS_UNAVAILABLE:
    case GRPC_STATUS_CANCELLED: /* the channel went down mid-call */
    case GRPC_STATUS_DEADLINE_EXCEEDED: return DTMC_UNAVAILABLE;
    default: return DTMC_ERROR;
    }
}

/* Calls one coordinator method into *res (the caller frees it); unless it
 * answered OK, `msg` says why, or that the coordinator could not be reached.
 * Through etcd, an instance that cannot be reached is reported, and an
 * `idempotent` call (NewGid) is sent once more to the next instance. */
static dtmc_rc call(dtmc *d, const char *method, const uint8_t *req, size_t req_len,
                    int timeout_ms, int idempotent, rpccli_result *res, char *msg, size_t msglen) {
    const char *target = d->grpc.target;
    char err[512];
    for (int attempt = 0;; attempt++) {
        if (peer_call(&d->grpc, method, req, req_len, timeout_ms, res, err, sizeof err) != 0) {
            snprintf(msg, msglen, "coordinator %s is unavailable: %s", target, err);
            return DTMC_UNAVAILABLE;
        }
        if (!d->grpc.resolver || res->status != GRPC_STATUS_UNAVAILABLE || !idempotent ||
            attempt == 1)
            break;
        rpccli_result_free(res);
    }
    dtmc_rc rc = rc_from_grpc(res->status, res->message);
    if (rc == DTMC_UNAVAILABLE && res->status == GRPC_STATUS_DEADLINE_EXCEEDED)
        snprintf(msg, msglen, "coordinator %s is unavailable: no answer within %d ms (%s)",
                 target, timeout_ms, res->message);
    else if (rc == DTMC_UNAVAILABLE)
        snprintf(msg, msglen, "coordinator %s is unavailable: %s", target, res->message);
    else if (rc != DTMC_OK)
        snprintf(msg, msglen, "%s", res->message);
    return rc;
}

dtmc_rc dtmc_new_gid(dtmc *d, char *gid, size_t gidlen, char *msg, size_t msglen) {
    gid[0] = '\0';
    rpccli_result res = {0};
    /* google.protobuf.Empty packs to zero bytes. */
    dtmc_rc rc = call(d, "/dtmgimp.Dtm/NewGid", (const uint8_t *)"", 0, d->timeout_ms, 1, &res,
                      msg, msglen);
    if (rc == DTMC_OK) {
        Dtmgimp__DtmGidReply *r =
            dtmgimp__dtm_gid_reply__unpack(NULL, res.reply_len, res.reply ? res.reply : (uint8_t *)"");
        if (!r || !r->gid[0] || strlen(r->gid) > DTMC_GID_MAX || strlen(r->gid) >= gidlen) {
            snprintf(msg, msglen, "NewGid: the coordinator's reply holds no usable gid");
            rc = DTMC_ERROR;
        } else {
            copy_str(gid, gidlen, r->gid);
        }
        if (r) dtmgimp__dtm_gid_reply__free_unpacked(r, NULL);
    }
    rpccli_result_free(&res);
    return rc;
}

int dtmc_saga_pack(const dtmc_saga *s, uint8_t **out, size_t *len, char *err, size_t errlen) {
    *out = NULL;
    *len = 0;
    if (!s->gid || !*s->gid) {
        snprintf(err, errlen, "saga: no gid");
        return -1;
    }
    if (s->nsteps == 0 || s->nsteps > DTMC_MAX_STEPS) {
        snprintf(err, errlen, "saga %s: %zu steps (1..%d)", s->gid, s->nsteps, DTMC_MAX_STEPS);
        return -1;
    }
    /* Steps: the JSON array DTM's clients send, one object per step, keys
     * in the order action, compensate (demo.md §5). */
    json_t *steps = json_array();
    ProtobufCBinaryData payloads[DTMC_MAX_STEPS];
    for (size_t i = 0; i < s->nsteps; i++) {
        const dtmc_step *st = &s->steps[i];
        if (!st->action || !st->compensate) {
            snprintf(err, errlen, "saga %s: step %zu has no action or compensate URL", s->gid, i);
            json_decref(steps);
            return -1;
        }
        json_array_append_new(steps, json_pack("{s:s, s:s}", "action", st->action,
                                               "compensate", st->compensate));
        payloads[i].data = (uint8_t *)st->payload;
        payloads[i].len = st->payload_len;
    }
    char *steps_json = json_dumps(steps, JSON_COMPACT);
    json_decref(steps);
    if (!steps_json) {
        snprintf(err, errlen, "saga %s: out of memory", s->gid);
        return -1;
    }

    Dtmgimp__DtmTransOptions opts = DTMGIMP__DTM_TRANS_OPTIONS__INIT;
    opts.waitresult = s->wait_result ? 1 : 0;
    Dtmgimp__DtmRequest req = DTMGIMP__DTM_REQUEST__INIT;
    req.gid = (char *)s->gid;
    req.transtype = (char *)"saga";
    req.transoptions = &opts;
    req.steps = steps_json;
    req.n_binpayloads = s->nsteps;
    req.binpayloads = payloads;

    size_t n = dtmgimp__dtm_request__get_packed_size(&req);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        free(steps_json);
        snprintf(err, errlen, "saga %s: out of memory", s->gid);
        return -1;
    }
    dtmgimp__dtm_request__pack(&req, buf);
    free(steps_json);
    *out = buf;
    *len = n;
    return 0;
}

dtmc_rc dtmc_submit(dtmc *d, const dtmc_saga *s, int timeout_ms, char *msg, size_t msglen) {
    uint8_t *req;
    size_t len;
    if (dtmc_saga_pack(s, &req, &len, msg, msglen) != 0) return DTMC_ERROR;
    rpccli_result res = {0};
    dtmc_rc rc = call(d, "/dtmgimp.Dtm/Submit", req, len, timeout_ms, 0, &res, msg, msglen);
    rpccli_result_free(&res);
    free(req);
    return rc;
}

/* ---- query ---------------------------------------------------------------- */

/* Copies the string member `key` of `obj` ("" when absent or not a string). */
static void get_str(json_t *obj, const char *key, char *dst, size_t dstlen) {
    json_t *v = json_object_get(obj, key);
    copy_str(dst, dstlen, json_is_string(v) ? json_string_value(v) : "");
}

int dtmc_query_parse(const char *body, size_t len, dtmc_trans *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *root = json_loadb(body, len, 0, &je);
    if (!root || !json_is_object(root)) {
        snprintf(err, errlen, "the coordinator's query reply is not a JSON object%s%s",
                 root ? "" : ": ", root ? "" : je.text);
        json_decref(root);
        return -1;
    }
    json_t *t = json_object_get(root, "transaction");
    json_t *branches = json_object_get(root, "branches");
    if (!t || (!json_is_null(t) && !json_is_object(t))) {
        snprintf(err, errlen, "the coordinator's query reply has no \"transaction\"");
        json_decref(root);
        return -1;
    }
    if (json_is_object(t)) {
        out->found = 1;
        get_str(t, "status", out->status, sizeof out->status);
        get_str(t, "rollback_reason", out->rollback_reason, sizeof out->rollback_reason);
    }
    size_t i;
    json_t *b;
    json_array_foreach(branches, i, b) {
        if (out->nbranches >= sizeof out->branches / sizeof out->branches[0]) break;
        dtmc_branch *ob = &out->branches[out->nbranches++];
        get_str(b, "branch_id", ob->branch_id, sizeof ob->branch_id);
        get_str(b, "op", ob->op, sizeof ob->op);
        get_str(b, "status", ob->status, sizeof ob->status);
    }
    json_decref(root);
    return 0;
}

/* Appends `s` percent-encoded (everything but RFC 3986's unreserved set). */
static void url_encode(char *dst, size_t dstlen, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < dstlen; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            dst[o++] = (char)c;
        } else {
            dst[o++] = '%';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        }
    }
    dst[o] = '\0';
}

dtmc_rc dtmc_query(dtmc *d, const char *gid, dtmc_trans *out, char *msg, size_t msglen) {
    memset(out, 0, sizeof *out);
    char enc[3 * DTMC_GID_MAX + 1];
    url_encode(enc, sizeof enc, gid);
    char url[1024 + sizeof enc];
    snprintf(url, sizeof url, "%s/query?gid=%s", d->http_base, enc);
    httpcli_resp resp;
    char err[512];
    if (httpcli_request("GET", url, NULL, NULL, 0, d->timeout_ms, &resp, err, sizeof err) != 0) {
        snprintf(msg, msglen, "coordinator %s is unavailable: %s", d->http_base, err);
        return DTMC_UNAVAILABLE;
    }
    dtmc_rc rc = DTMC_OK;
    if (resp.status != 200) {
        snprintf(msg, msglen, "coordinator query of %s answered %d: %.300s", gid, resp.status,
                 resp.body ? resp.body : "");
        /* A 5xx is the coordinator's own trouble (its store is down...):
         * worth retrying later, like an unreachable coordinator. */
        rc = resp.status >= 500 ? DTMC_UNAVAILABLE : DTMC_ERROR;
    } else if (dtmc_query_parse(resp.body, resp.body_len, out, err, sizeof err) != 0) {
        snprintf(msg, msglen, "query of %s: %s", gid, err);
        rc = DTMC_ERROR;
    }
    httpcli_resp_free(&resp);
    return rc;
}
