/* test_result.c: DTM's branch outcomes over gRPC and HTTP (result.h,
 * dtm-protocol.md §3), table-driven. These tables are the rule a branch
 * author relies on: which status makes a saga compensate (FAILURE), which
 * makes DTM ask again (ONGOING) and which is retried as an error. */
#include "harness.h"

#include <grpc/status.h>

#include "result.h"

static void grpc_mapping(void) {
    h_step("result_from_grpc_follows_GrpcError2DtmError");
    static const struct { int status; const char *msg; dtm_result want; } cases[] = {
        {GRPC_STATUS_OK, NULL, DTM_SUCCESS},
        {GRPC_STATUS_OK, "FAILURE", DTM_SUCCESS}, /* the message only matters for Aborted */
        {GRPC_STATUS_ABORTED, NULL, DTM_FAILURE},
        {GRPC_STATUS_ABORTED, "FAILURE", DTM_FAILURE},
        {GRPC_STATUS_ABORTED, "stock not enough", DTM_FAILURE},
        {GRPC_STATUS_ABORTED, "ONGOING", DTM_ONGOING},          /* clients older than v1.10 */
        {GRPC_STATUS_ABORTED, "ONGOING later", DTM_FAILURE},    /* exact match only */
        {GRPC_STATUS_ABORTED, "ongoing", DTM_FAILURE},
        {GRPC_STATUS_FAILED_PRECONDITION, NULL, DTM_ONGOING},
        {GRPC_STATUS_FAILED_PRECONDITION, "whatever", DTM_ONGOING},
        {GRPC_STATUS_UNAVAILABLE, NULL, DTM_ERROR},
        {GRPC_STATUS_UNKNOWN, "FAILURE", DTM_ERROR},
        {GRPC_STATUS_DEADLINE_EXCEEDED, NULL, DTM_ERROR},
        {GRPC_STATUS_UNIMPLEMENTED, NULL, DTM_ERROR},
        {GRPC_STATUS_INTERNAL, "ONGOING", DTM_ERROR},
        {GRPC_STATUS_NOT_FOUND, NULL, DTM_ERROR},
        {GRPC_STATUS_CANCELLED, NULL, DTM_ERROR},
        {GRPC_STATUS_INVALID_ARGUMENT, NULL, DTM_ERROR},
        {999, NULL, DTM_ERROR},
        {-1, NULL, DTM_ERROR},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dtm_result got = dtm_result_from_grpc(cases[i].status, cases[i].msg);
        if (got != cases[i].want)
            fprintf(stderr, "grpc case %zu: status %d msg %s -> %s, want %s\n", i, cases[i].status,
                    cases[i].msg ? cases[i].msg : "(null)", dtm_result_name(got),
                    dtm_result_name(cases[i].want));
        CHECK_EQ_INT(got, cases[i].want);
    }

    h_step("result_to_grpc_round_trips");
    CHECK_EQ_INT(dtm_result_to_grpc(DTM_SUCCESS), GRPC_STATUS_OK);
    CHECK_EQ_INT(dtm_result_to_grpc(DTM_FAILURE), GRPC_STATUS_ABORTED);
    CHECK_EQ_INT(dtm_result_to_grpc(DTM_ONGOING), GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_EQ_INT(dtm_result_to_grpc(DTM_ERROR), GRPC_STATUS_UNAVAILABLE);
    for (int r = DTM_SUCCESS; r <= DTM_ERROR; r++)
        CHECK_EQ_INT(dtm_result_from_grpc(dtm_result_to_grpc((dtm_result)r), NULL), r);
}

static void http_mapping(void) {
    h_step("result_from_http_follows_HTTPResp2DtmError");
    static const struct { int status; const char *body; dtm_result want; } cases[] = {
        {200, "", DTM_SUCCESS},
        {200, NULL, DTM_SUCCESS},
        {200, "{\"dtm_result\":\"SUCCESS\"}", DTM_SUCCESS},
        {200, "{\"dtm_result\":\"FAILURE\"}", DTM_FAILURE},
        {200, "{\"dtm_result\":\"ONGOING\"}", DTM_ONGOING},
        {200, "FAILURE", DTM_FAILURE},
        {409, "", DTM_FAILURE},
        {409, "{\"message\":\"stock not enough\"}", DTM_FAILURE},
        {409, "ONGOING", DTM_ONGOING},                 /* ONGOING is tested first */
        {425, "", DTM_ONGOING},
        {425, "FAILURE", DTM_ONGOING},
        {200, "ONGOING and FAILURE", DTM_ONGOING},
        {500, "", DTM_ERROR},
        {500, "FAILURE: db down", DTM_FAILURE},        /* substring tests beat the status */
        {502, "bad gateway", DTM_ERROR},
        {404, "not found", DTM_ERROR},
        {201, "", DTM_ERROR},                           /* only 200 is success */
        {204, "", DTM_ERROR},
        {0, "", DTM_ERROR},
        {200, "failure", DTM_SUCCESS},                 /* case-sensitive, as in DTM */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = cases[i].body ? strlen(cases[i].body) : 0;
        dtm_result got = dtm_result_from_http(cases[i].status, cases[i].body, len);
        if (got != cases[i].want)
            fprintf(stderr, "http case %zu: %d \"%s\" -> %s, want %s\n", i, cases[i].status,
                    cases[i].body ? cases[i].body : "(null)", dtm_result_name(got),
                    dtm_result_name(cases[i].want));
        CHECK_EQ_INT(got, cases[i].want);
    }

    h_step("result_from_http_uses_len_not_nul");
    /* The body is a buffer, not a string: bytes past len do not count, and a
     * NUL inside the body does not end it. */
    const char buf[] = "okFAILURE";
    CHECK_EQ_INT(dtm_result_from_http(200, buf, 2), DTM_SUCCESS);
    CHECK_EQ_INT(dtm_result_from_http(200, buf, 8), DTM_SUCCESS); /* "okFAILUR" */
    CHECK_EQ_INT(dtm_result_from_http(200, buf, 9), DTM_FAILURE);
    const char nul[] = {'x', '\0', 'O', 'N', 'G', 'O', 'I', 'N', 'G'};
    CHECK_EQ_INT(dtm_result_from_http(200, nul, sizeof nul), DTM_ONGOING);
    CHECK_EQ_INT(dtm_result_from_http(200, nul, 1), DTM_SUCCESS);
}

static void names(void) {
    h_step("result_names");
    CHECK_EQ_STR(dtm_result_name(DTM_SUCCESS), "SUCCESS");
    CHECK_EQ_STR(dtm_result_name(DTM_FAILURE), "FAILURE");
    CHECK_EQ_STR(dtm_result_name(DTM_ONGOING), "ONGOING");
    CHECK_EQ_STR(dtm_result_name(DTM_ERROR), "ERROR");
}

int main(void) {
    grpc_mapping();
    http_mapping();
    names();
    return h_finish("test_result");
}
