/* parse_int.h: private to the parse module (parse.c, parse_json.c,
 * parse_grpc.c); nothing outside dtm/parse*.c includes it.
 *
 * Each front end (parse_json.c for the HTTP trans JSON, parse_grpc.c for the
 * gRPC DtmRequest) reads its wire format into one `parse_input` and hands it
 * to parse_validate_build() in parse.c, the one place that decides what is
 * accepted. */
#ifndef CDTM_PARSE_INT_H
#define CDTM_PARSE_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "parse.h"

/* Bounds on maps before validation refuses them by count. */
#define PARSE_MAP_MAX 1024

/* The field names as each surface spells them, so that a message names the
 * field the client actually sent. */
typedef struct {
    const char *gid, *trans_type, *protocol, *steps, *payloads, *custom_data, *query_prepared,
        *rollback_reason, *wait_result, *timeout_to_fail, *request_timeout, *retry_interval,
        *retry_limit, *branch_headers, *req_extra;
} parse_names;

/* A byte string borrowed from the request (JSON string or protobuf field). */
typedef struct {
    const char *p;
    size_t len;
} span;

/* What either front end read; every pointer is borrowed from the decoded
 * request, which outlives parse_validate_build(). */
typedef struct {
    const parse_names *names;
    span gid, trans_type, protocol, custom_data, query_prepared, rollback_reason;
    int wait_result;
    int64_t timeout_to_fail, request_timeout, retry_interval, retry_limit;
    json_t *steps;          /* NULL when absent */
    int step_data;          /* HTTP: a non-empty step "data" is appended to the payloads */
    span *payloads;         /* owned array of borrowed spans */
    size_t n_payloads;
    span *hdr_keys, *hdr_vals;  /* owned arrays of borrowed spans */
    size_t n_headers;
    span *extra_keys, *extra_vals;
    size_t n_extra;
} parse_input;

/* Frees the arrays `in` owns (not what they borrow); `in` itself is the
 * caller's. Safe on a zeroed parse_input. */
void parse_input_free(parse_input *in);

/* Checks everything in `in` and builds the transaction: SVC_OK with *out set
 * (caller owns it), else *out NULL and `err` filled naming the field as
 * in->names spells it. `need_steps` 0 skips the steps (abort). */
svc_rc parse_validate_build(const parse_input *in, int need_steps, trans_global **out, char *err,
                            size_t errlen);

#endif
