/* fuzz_trans_proto.c: libFuzzer target for parse_trans_proto() (dtm/parse.h),
 * the packed dtmgimp.DtmRequest of the coordinator's gRPC Submit, Prepare and
 * Abort: protobuf decoding (protobuf-c), the Steps JSON string, BinPayloads,
 * the TransOptions and ReqExtra maps, and CustomedData.
 *
 * rpcsrv's workers run on ordinary (8 MiB) thread stacks, so the input is
 * parsed on the calling thread, as in the server (the JSON target covers the
 * small civetweb stack). The oracle is fuzz_trans.h's. */
#include "fuzz_trans.h"

typedef struct {
    const uint8_t *data;
    size_t size;
} proto_input;

static void parse_both(void *p) {
    const proto_input *in = p;
    for (int need_steps = 1; need_steps >= 0; need_steps--) {
        char err[512] = "";
        trans_global *t = NULL;
        svc_rc rc = parse_trans_proto(in->data, in->size, need_steps, &t, err, sizeof err);
        fuzz_check_parse(rc, t, need_steps, err);
        trans_free(t);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    proto_input in = {data, size};
    parse_both(&in);
    return 0;
}
