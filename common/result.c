/* result.c: DTM's four branch outcomes and their gRPC / HTTP encodings.
 * See result.h and dtm-protocol.md §3 (GrpcError2DtmError,
 * HTTPResp2DtmError). This is the one place where cdtm decides what a status
 * code means, for the services' replies and the coordinator's reading. */
#include "result.h"

#include <grpc/status.h>
#include <string.h>

const char *dtm_result_name(dtm_result r) {
    switch (r) {
    case DTM_SUCCESS: return "SUCCESS";
    case DTM_FAILURE: return "FAILURE";
    case DTM_ONGOING: return "ONGOING";
    case DTM_ERROR: return "ERROR";
    }
    return "ERROR";
}

int dtm_result_to_grpc(dtm_result r) {
    switch (r) {
    case DTM_SUCCESS: return GRPC_STATUS_OK;
    /* Aborted is DTM's "refuse for good": a saga action answering it makes
     * the saga compensate instead of retrying. */
    case DTM_FAILURE: return GRPC_STATUS_ABORTED;
    case DTM_ONGOING: return GRPC_STATUS_FAILED_PRECONDITION;
    /* Unavailable is retried with backoff, which is what an error needs. */
    case DTM_ERROR: return GRPC_STATUS_UNAVAILABLE;
    }
    return GRPC_STATUS_UNAVAILABLE;
}

dtm_result dtm_result_from_grpc(int status, const char *msg) {
    switch (status) {
    case GRPC_STATUS_OK: return DTM_SUCCESS;
    case GRPC_STATUS_ABORTED:
        /* Clients older than DTM v1.10 sent ONGOING as Aborted("ONGOING"). */
        if (msg && strcmp(msg, "ONGOING") == 0) return DTM_ONGOING;
        return DTM_FAILURE;
    case GRPC_STATUS_FAILED_PRECONDITION: return DTM_ONGOING;
    default: return DTM_ERROR;
    }
}

/* 1 when body[0..len) contains `word` (body need not be NUL-terminated). */
static int result_body_has(const char *body, size_t len, const char *word) {
    if (!body || len == 0) return 0;
    return memmem(body, len, word, strlen(word)) != NULL;
}

dtm_result dtm_result_from_http(int status, const char *body, size_t len) {
    /* The order matters and follows DTM: ONGOING is tested before FAILURE,
     * and both are plain substring tests on the body. */
    if (status == 425 || result_body_has(body, len, "ONGOING")) return DTM_ONGOING;
    if (status == 409 || result_body_has(body, len, "FAILURE")) return DTM_FAILURE;
    if (status != 200) return DTM_ERROR;
    return DTM_SUCCESS;
}
