/* fuzz_trans_json.c: libFuzzer target for parse_trans_json() (dtm/parse.h),
 * the body of the coordinator's HTTP prepare/submit/abort: the trans JSON,
 * the saga steps inside it, payloads, branch_headers, req_extra and the
 * custom_data JSON of a concurrent saga.
 *
 * Each input is parsed twice (need_steps 1 as for submit/prepare, 0 as for
 * abort), on a thread with a civetweb worker's stack (fuzz_util.h), because
 * that is where api_http.c runs it. The oracle (fuzz_trans.h) checks that an
 * accepted transaction fits DTM's schema; ASan/UBSan and the leak checker
 * catch the rest. */
#include "fuzz_trans.h"

typedef struct {
    const uint8_t *data;
    size_t size;
} json_input;

static void parse_both(void *p) {
    const json_input *in = p;
    for (int need_steps = 1; need_steps >= 0; need_steps--) {
        char err[512] = "";
        trans_global *t = NULL;
        svc_rc rc = parse_trans_json((const char *)in->data, in->size, need_steps, &t, err,
                                     sizeof err);
        fuzz_check_parse(rc, t, need_steps, err);
        trans_free(t);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_input in = {data, size};
    fuzz_on_server_stack(parse_both, &in);
    return 0;
}
