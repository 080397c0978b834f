/* fuzz_order_body.c: libFuzzer target for order_parse_quick_create()
 * (order-api/logic.h), the body of POST /order/quickCreate.
 *
 * The body is parsed on a civetweb-sized stack (fuzz_util.h), where
 * order-api's handler runs it. Oracle: a refusal has a message; an accepted
 * body is a JSON object whose userId, goodsId and num are integers in
 * 1..INT64_MAX, and they are the values the parser handed back (read again
 * with jansson directly). */
#include <jansson.h>

#include "fuzz_util.h"
#include "logic.h"

typedef struct {
    const uint8_t *data;
    size_t size;
} body_input;

static void check_field(json_t *root, const char *key, int64_t got) {
    json_t *v = json_object_get(root, key);
    if (!json_is_integer(v)) fuzz_fail("accepted a body whose %s is not an integer", key);
    if (json_integer_value(v) != got)
        fuzz_fail("%s: parsed %lld, the body says %lld", key, (long long)got,
                  (long long)json_integer_value(v));
    if (got < 1) fuzz_fail("accepted %s = %lld (must be 1..INT64_MAX)", key, (long long)got);
}

static void parse_one(void *p) {
    const body_input *in = p;
    order_req r;
    char err[256] = "";
    int rc = order_parse_quick_create((const char *)in->data, in->size, &r, err, sizeof err);
    if (rc != 0) {
        if (rc != -1) fuzz_fail("order_parse_quick_create returned %d", rc);
        if (!err[0]) fuzz_fail("a refusal without a message");
        return;
    }
    json_t *root = json_loadb((const char *)in->data, in->size, 0, NULL);
    if (!json_is_object(root)) fuzz_fail("accepted a body that is not a JSON object");
    check_field(root, "userId", r.user_id);
    check_field(root, "goodsId", r.goods_id);
    check_field(root, "num", r.num);
    json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    body_input in = {data, size};
    fuzz_on_server_stack(parse_one, &in);
    return 0;
}
