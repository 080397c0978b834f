/* parse_grpc.c: the gRPC front end of the parser (parse.h): a packed
 * dtmgimp.DtmRequest (dtm-protocol.md §1) read into a parse_input
 * (parse_int.h), then checked and built by parse_validate_build() in
 * parse.c, the same as HTTP.
 *
 * Protocol is always "grpc", Steps arrive as a JSON string, and the payloads
 * are the BinPayloads bytes only. */
#include <stdlib.h>
#include <string.h>

#include "dtmgimp.pb-c.h"
#include "errbuf.h"
#include "jsoncheck.h"
#include "parse_int.h"

/* ---- gRPC: dtmgimp.DtmRequest ---- */

/* The fields as DtmRequest spells them, for the messages. */
static const parse_names PROTO_NAMES = {
    "Gid", "TransType", "protocol", "Steps", "BinPayloads", "CustomedData", "QueryPrepared",
    "RollbackReason", "TransOptions.WaitResult", "TransOptions.TimeoutToFail",
    "TransOptions.RequestTimeout", "TransOptions.RetryInterval", "TransOptions.RetryLimit",
    "TransOptions.BranchHeaders", "ReqExtra",
};

svc_rc parse_trans_proto(const uint8_t *buf, size_t len, int need_steps, trans_global **out,
                         char *err, size_t errlen) {
    *out = NULL;
    Dtmgimp__DtmRequest *r = dtmgimp__dtm_request__unpack(NULL, len, buf);
    if (!r) {
        errbuf_set(err, errlen, "cannot decode DtmRequest");
        return SVC_BAD_REQUEST;
    }
    svc_rc rc = SVC_BAD_REQUEST;
    json_t *steps = NULL;
    parse_input in;
    memset(&in, 0, sizeof in);
    in.names = &PROTO_NAMES;
    in.step_data = 0; /* DTM reads a gRPC saga's payloads from BinPayloads only */
#define SPAN(s) ((span){(s) ? (s) : "", (s) ? strlen(s) : 0})
    in.gid = SPAN(r->gid);
    in.trans_type = SPAN(r->transtype);
    in.protocol = (span){"grpc", 4};
    in.custom_data = SPAN(r->customeddata);
    in.query_prepared = SPAN(r->queryprepared);
    in.rollback_reason = SPAN(r->rollbackreason);
    const Dtmgimp__DtmTransOptions *o = r->transoptions;
    if (o) {
        in.wait_result = o->waitresult != 0;
        in.timeout_to_fail = o->timeouttofail;
        in.request_timeout = o->requesttimeout;
        in.retry_interval = o->retryinterval;
        in.retry_limit = o->retrylimit;
        if (o->n_branchheaders > TRANS_HEADERS_MAX) {
            errbuf_set(err, errlen, "%s: %zu entries, at most %d", PROTO_NAMES.branch_headers,
                 o->n_branchheaders, TRANS_HEADERS_MAX);
            goto out;
        }
        in.hdr_keys = calloc(o->n_branchheaders + 1, sizeof *in.hdr_keys);
        in.hdr_vals = calloc(o->n_branchheaders + 1, sizeof *in.hdr_vals);
        if (!in.hdr_keys || !in.hdr_vals) goto oom;
        for (size_t i = 0; i < o->n_branchheaders; i++) {
            in.hdr_keys[i] = SPAN(o->branchheaders[i]->key);
            in.hdr_vals[i] = SPAN(o->branchheaders[i]->value);
        }
        in.n_headers = o->n_branchheaders;
    }
    if (r->n_reqextra > PARSE_MAP_MAX) {
        errbuf_set(err, errlen, "%s: %zu entries, at most %d", PROTO_NAMES.req_extra, r->n_reqextra,
             PARSE_MAP_MAX);
        goto out;
    }
    in.extra_keys = calloc(r->n_reqextra + 1, sizeof *in.extra_keys);
    in.extra_vals = calloc(r->n_reqextra + 1, sizeof *in.extra_vals);
    if (!in.extra_keys || !in.extra_vals) goto oom;
    for (size_t i = 0; i < r->n_reqextra; i++) {
        in.extra_keys[i] = SPAN(r->reqextra[i]->key);
        in.extra_vals[i] = SPAN(r->reqextra[i]->value);
    }
    in.n_extra = r->n_reqextra;
#undef SPAN
    in.payloads = calloc(r->n_binpayloads + 1, sizeof *in.payloads);
    if (!in.payloads) goto oom;
    for (size_t i = 0; i < r->n_binpayloads; i++)
        in.payloads[i] = (span){(const char *)r->binpayloads[i].data, r->binpayloads[i].len};
    in.n_payloads = r->n_binpayloads;
    if (r->steps && r->steps[0]) {
        json_error_t jerr;
        if (!json_depth_ok(r->steps, strlen(r->steps), JSON_MAX_DEPTH)) {
            errbuf_set(err, errlen, "Steps: malformed JSON: nested deeper than 32 levels");
            goto out;
        }
        steps = json_loads(r->steps, 0, &jerr);
        if (!steps) {
            errbuf_set(err, errlen, "Steps: malformed JSON: %s (line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
            goto out;
        }
        in.steps = steps;
    }
    rc = parse_validate_build(&in, need_steps, out, err, errlen);
    goto out;
oom:
    errbuf_set(err, errlen, "out of memory");
    rc = SVC_ERROR;
out:
    parse_input_free(&in);
    json_decref(steps);
    dtmgimp__dtm_request__free_unpacked(r, NULL);
    return rc;
}
