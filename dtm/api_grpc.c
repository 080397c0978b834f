/* api_grpc.c: the coordinator's gRPC surface, service dtmgimp.Dtm
 * (dtm-protocol.md §1), on rpcsrv. Each handler decodes the request with
 * protobuf-c (parse.h for DtmRequest), calls the service and maps its result
 * onto a gRPC status, so a dtmgrpc client sees what DTM would answer:
 *
 *   SVC_OK          OK, an empty message (NewGid: DtmGidReply)
 *   SVC_FAILURE     ABORTED with DTM's message (DtmError2GrpcError)
 *   SVC_ONGOING     FAILED_PRECONDITION
 *   SVC_BAD_REQUEST INVALID_ARGUMENT   (DTM panics or stores garbage)
 *   SVC_UNSUPPORTED UNIMPLEMENTED      (tcc, msg, xa, workflow: later)
 *   SVC_ERROR       UNAVAILABLE        (store down: the client may retry)
 *
 * The health service (grpc.health.v1) comes with rpcsrv. */
#include "api.h"

#include <grpc/status.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtmgimp.pb-c.h"
#include "gid.h"
#include "log.h"
#include "parse.h"
#include "rpcsrv.h"

struct api_grpc {
    rpcsrv *srv;
    svc *v;
};

static int status_of(svc_rc rc) {
    switch (rc) {
    case SVC_OK: return GRPC_STATUS_OK;
    case SVC_FAILURE: return GRPC_STATUS_ABORTED;
    case SVC_ONGOING: return GRPC_STATUS_FAILED_PRECONDITION;
    case SVC_BAD_REQUEST: return GRPC_STATUS_INVALID_ARGUMENT;
    case SVC_UNSUPPORTED: return GRPC_STATUS_UNIMPLEMENTED;
    case SVC_ERROR:
    default: return GRPC_STATUS_UNAVAILABLE;
    }
}

/* Answers `rc`: OK leaves the empty reply; anything else sets the status. */
static void answer(rpcsrv_call *call, svc_rc rc, const char *msg) {
    if (rc == SVC_OK) return;
    rpcsrv_status(call, status_of(rc), "%s", msg && *msg ? msg : "error");
}

/* ---- handlers ---- */

static void h_new_gid(rpcsrv_call *call, const uint8_t *req, size_t len, void *ud) {
    (void)req, (void)len, (void)ud;
    char gid[GID_LEN + 1];
    gid_new(gid);
    Dtmgimp__DtmGidReply r = DTMGIMP__DTM_GID_REPLY__INIT;
    r.gid = gid;
    uint8_t buf[64];
    size_t n = dtmgimp__dtm_gid_reply__pack(&r, buf);
    rpcsrv_reply(call, buf, n);
}

typedef svc_rc (*trans_op)(svc *v, trans_global *t, char *msg, size_t msglen);

/* Submit, Prepare and Abort: DtmRequest -> parse -> service. */
static void trans_call(rpcsrv_call *call, const uint8_t *req, size_t len, svc *v, trans_op op,
                       int need_steps, const char *what) {
    char msg[2048] = "";
    trans_global *t = NULL;
    svc_rc rc = parse_trans_proto(req, len, need_steps, &t, msg, sizeof msg);
    if (rc != SVC_OK) {
        log_info(NULL, "grpc %s refused: %s", what, msg);
        answer(call, rc, msg);
        return;
    }
    char gid[TRANS_GID_MAX + 1];
    snprintf(gid, sizeof gid, "%s", t->gid);
    rc = op(v, t, msg, sizeof msg); /* takes t */
    if (rc != SVC_OK) log_info(gid, "grpc %s: %s", what, msg);
    answer(call, rc, msg);
}

static void h_submit(rpcsrv_call *call, const uint8_t *req, size_t len, void *ud) {
    trans_call(call, req, len, ((api_grpc *)ud)->v, svc_submit, 1, "Submit");
}

static void h_prepare(rpcsrv_call *call, const uint8_t *req, size_t len, void *ud) {
    trans_call(call, req, len, ((api_grpc *)ud)->v, svc_prepare, 1, "Prepare");
}

static void h_abort(rpcsrv_call *call, const uint8_t *req, size_t len, void *ud) {
    trans_call(call, req, len, ((api_grpc *)ud)->v, svc_abort, 0, "Abort");
}

static void h_register_branch(rpcsrv_call *call, const uint8_t *req, size_t len, void *ud) {
    api_grpc *a = ud;
    Dtmgimp__DtmBranchRequest *r = dtmgimp__dtm_branch_request__unpack(NULL, len, req);
    if (!r) {
        rpcsrv_status(call, GRPC_STATUS_INVALID_ARGUMENT, "cannot decode DtmBranchRequest");
        return;
    }
    /* DTM reads the URLs from Data and the branch body from BusiPayload. */
    json_t *data = json_object();
    for (size_t i = 0; data && i < r->n_data; i++) {
        json_t *s = json_string(r->data[i]->value ? r->data[i]->value : "");
        if (!s) { /* not UTF-8: such a URL is refused anyway */
            rpcsrv_status(call, GRPC_STATUS_INVALID_ARGUMENT, "Data[%.64s]: not UTF-8 text",
                          r->data[i]->key);
            json_decref(data);
            dtmgimp__dtm_branch_request__free_unpacked(r, NULL);
            return;
        }
        json_object_set_new(data, r->data[i]->key ? r->data[i]->key : "", s);
    }
    if (data)
        json_object_set_new(data, "data",
                            json_stringn_nocheck((const char *)r->busipayload.data,
                                                 r->busipayload.len));
    char msg[1024] = "";
    svc_rc rc = data ? svc_register_branch(a->v, r->gid, r->transtype, r->branchid, data, msg,
                                           sizeof msg)
                     : SVC_ERROR;
    if (!data) snprintf(msg, sizeof msg, "out of memory");
    if (rc != SVC_OK) log_info(r->gid, "grpc RegisterBranch: %s", msg);
    answer(call, rc, msg);
    json_decref(data);
    dtmgimp__dtm_branch_request__free_unpacked(r, NULL);
}

static void h_later(rpcsrv_call *call, const uint8_t *req, size_t len, void *ud) {
    (void)req, (void)len, (void)ud;
    const char *m = rpcsrv_method(call);
    const char *name = strrchr(m, '/');
    rpcsrv_status(call, GRPC_STATUS_UNIMPLEMENTED, "%s is not supported by cdtm yet",
                  name ? name + 1 : m);
}

/* ---- lifecycle ---- */

static const struct {
    const char *path;
    rpcsrv_handler h;
} METHODS[] = {
    {"/dtmgimp.Dtm/NewGid", h_new_gid},
    {"/dtmgimp.Dtm/Submit", h_submit},
    {"/dtmgimp.Dtm/Prepare", h_prepare},
    {"/dtmgimp.Dtm/Abort", h_abort},
    {"/dtmgimp.Dtm/RegisterBranch", h_register_branch},
    {"/dtmgimp.Dtm/PrepareWorkflow", h_later},
    {"/dtmgimp.Dtm/Subscribe", h_later},
    {"/dtmgimp.Dtm/Unsubscribe", h_later},
    {"/dtmgimp.Dtm/DeleteTopic", h_later},
};

api_grpc *api_grpc_start(svc *v, const char *listen_on, int threads, char *err, size_t errlen) {
    api_grpc *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->v = v;
    a->srv = rpcsrv_new(listen_on, threads, err, errlen);
    if (!a->srv) {
        free(a);
        return NULL;
    }
    for (size_t i = 0; i < sizeof METHODS / sizeof *METHODS; i++) {
        if (rpcsrv_add(a->srv, METHODS[i].path, METHODS[i].h, a) != 0) {
            snprintf(err, errlen, "cannot register %s", METHODS[i].path);
            rpcsrv_free(a->srv);
            free(a);
            return NULL;
        }
    }
    if (rpcsrv_start(a->srv, err, errlen) != 0) {
        rpcsrv_free(a->srv);
        free(a);
        return NULL;
    }
    return a;
}

void api_grpc_stop(api_grpc *a, int grace_ms) {
    if (!a) return;
    rpcsrv_stop(a->srv, grace_ms);
    rpcsrv_free(a->srv);
    free(a);
}
