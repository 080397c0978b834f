/* branch.c: the glue every DTM branch service shares: the barrier from the
 * call's metadata, and the gRPC answer for a dtm_result. See branch.h. */
#include "branch.h"

#include <grpc/status.h>
#include <stdio.h>

#include "log.h"

/* The four keys DTM sends with every branch call (TransInfo2Ctx), checked
 * in this order so that a call without any DTM metadata is reported as
 * "missing dtm-gid", the most telling of them. */
static const char *const BRANCH_KEYS[4] = {"dtm-gid", "dtm-trans_type", "dtm-branch_id",
                                           "dtm-op"};

int branch_barrier_from_call(rpcsrv_call *call, barrier *b, char *err, size_t errlen) {
    const char *v[4];
    for (int i = 0; i < 4; i++) {
        v[i] = rpcsrv_metadata(call, BRANCH_KEYS[i]);
        if (!v[i] || !v[i][0]) {
            snprintf(err, errlen, "invalid trans info: missing %s", BRANCH_KEYS[i]);
            return -1;
        }
    }
    /* barrier_init() also bounds each value by its column width. */
    return barrier_init(b, v[1], v[0], v[2], v[3], err, errlen);
}

void branch_reply(rpcsrv_call *call, const char *gid, dtm_result r, const char *msg) {
    const char *method = rpcsrv_method(call);
    const char *why = (msg && msg[0]) ? msg : "";
    switch (r) {
    case DTM_SUCCESS:
        /* No status set: rpcsrv answers OK with an empty reply message,
         * which is what CreateResp / DeductResp encode to. */
        log_info(gid, "%s: SUCCESS%s%s", method, why[0] ? ": " : "", why);
        return;
    case DTM_FAILURE:
        /* DTM reads Aborted as FAILURE whatever the text, but it must not be
         * "ONGOING"; we send exactly "FAILURE" as DTM's own clients do
         * (README, "Why FAILURE means Aborted"). The reason stays in our log. */
        log_warn(gid, "%s: FAILURE (Aborted)%s%s", method, why[0] ? ": " : "", why);
        rpcsrv_status(call, GRPC_STATUS_ABORTED, "FAILURE");
        return;
    case DTM_ONGOING:
        log_info(gid, "%s: ONGOING%s%s", method, why[0] ? ": " : "", why);
        rpcsrv_status(call, GRPC_STATUS_FAILED_PRECONDITION, "ONGOING");
        return;
    case DTM_ERROR:
    default:
        /* Anything that is not a business verdict (database down, deadlock,
         * pool exhausted) must be retried, so it must NOT be Aborted. */
        log_error(gid, "%s: ERROR (Unavailable, DTM will retry): %s", method,
                  why[0] ? why : "unknown error");
        rpcsrv_status(call, GRPC_STATUS_UNAVAILABLE, "%s", why[0] ? why : "ERROR");
        return;
    }
}

void branch_reject(rpcsrv_call *call, const char *gid, const char *msg) {
    log_warn(gid, "%s: rejected (InvalidArgument): %s", rpcsrv_method(call), msg);
    rpcsrv_status(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", msg);
}
