/* fuzz_trans.h: the oracle the two trans parsers share (fuzz_trans_json.c,
 * fuzz_trans_proto.c). Whatever the input, a parse either refuses it (no
 * transaction, a message) or hands back a transaction the rest of the
 * coordinator can rely on: every field fits its column of DTM's schema (so
 * the store cannot refuse it later with a server error), the saga's branch
 * rows are laid out as trans.h says, and the options column survives a
 * round trip through trans_options_json()/trans_options_from_json(). */
#ifndef CDTM_FUZZ_TRANS_H
#define CDTM_FUZZ_TRANS_H

#include "fuzz_util.h"
#include "parse.h"
#include "trans.h"

static inline int fuzz_gid_ok(const char *g) {
    size_t n = strlen(g);
    if (n == 0 || n > TRANS_GID_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)g[i] <= 0x20 || (unsigned char)g[i] > 0x7E) return 0;
    return 1;
}

static inline void fuzz_check_text(const char *what, const char *gid, const char *s) {
    if (!s) fuzz_fail("gid %s: %s is NULL (trans.h: never NULL)", gid, what);
    if (strlen(s) > TRANS_TEXT_MAX)
        fuzz_fail("gid %s: %s of %zu bytes accepted; its column holds %d", gid, what, strlen(s),
                  TRANS_TEXT_MAX);
}

/* Checks what parse_trans_json/parse_trans_proto returned. */
static inline void fuzz_check_parse(svc_rc rc, trans_global *t, int need_steps, const char *err) {
    if (rc != SVC_OK) {
        if (t) fuzz_fail("refusal %d handed back a transaction", rc);
        if (!err[0]) fuzz_fail("refusal %d without a message", rc);
        if (rc != SVC_BAD_REQUEST && rc != SVC_UNSUPPORTED && rc != SVC_ERROR)
            fuzz_fail("refusal with an unexpected code %d (%s)", rc, err);
        return;
    }
    if (!t) fuzz_fail("SVC_OK without a transaction");
    const char *g = t->gid;
    if (!fuzz_gid_ok(g)) fuzz_fail("accepted a gid that is not 1..128 printable bytes");
    if (strcmp(t->trans_type, "saga") != 0)
        fuzz_fail("gid %s: accepted trans_type '%s' (cdtm implements saga only)", g, t->trans_type);
    if (strcmp(t->protocol, "http") != 0 && strcmp(t->protocol, "grpc") != 0)
        fuzz_fail("gid %s: accepted protocol '%s'", g, t->protocol);
    fuzz_check_text("custom_data", g, t->custom_data);
    fuzz_check_text("query_prepared", g, t->query_prepared);
    fuzz_check_text("rollback_reason", g, t->rollback_reason);
    fuzz_check_text("result", g, t->result);
    fuzz_check_text("req_extra (ext_data)", g, t->req_extra);
    if (t->opts.n_headers > TRANS_HEADERS_MAX)
        fuzz_fail("gid %s: %zu branch headers accepted, at most %d", g, t->opts.n_headers,
                  TRANS_HEADERS_MAX);

    /* The options column is varchar(1024): what parse accepts must fit, or
     * the store refuses the saga with a server error (500 / UNAVAILABLE). */
    char *opts = trans_options_json(&t->opts);
    if (!opts) fuzz_fail("gid %s: trans_options_json failed", g);
    size_t olen = strlen(opts);
    trans_options back;
    int brc = trans_options_from_json(opts, &back);
    free(opts);
    if (olen > TRANS_TEXT_MAX)
        fuzz_fail("gid %s: accepted options that encode to %zu bytes; the options column holds "
                  "%d (the store will refuse the saga with a server error)", g, olen,
                  TRANS_TEXT_MAX);
    if (brc != 0) fuzz_fail("gid %s: the options column does not read back", g);
    if (back.wait_result != t->opts.wait_result || back.timeout_to_fail != t->opts.timeout_to_fail ||
        back.request_timeout != t->opts.request_timeout ||
        back.retry_interval != t->opts.retry_interval || back.retry_limit != t->opts.retry_limit ||
        back.concurrent != t->opts.concurrent)
        fuzz_fail("gid %s: an option changed through the options column", g);
    for (size_t i = 0; i < back.n_headers; i++) {
        free(back.headers[i].key);
        free(back.headers[i].value);
    }
    free(back.headers);

    if (!need_steps) return;
    if (t->n_steps > TRANS_STEPS_MAX)
        fuzz_fail("gid %s: %zu steps accepted, at most %d", g, t->n_steps, TRANS_STEPS_MAX);
    if (t->n_branches != 2 * t->n_steps)
        fuzz_fail("gid %s: %zu branch rows for %zu steps", g, t->n_branches, t->n_steps);
    for (size_t i = 0; i < t->n_branches; i++) {
        const trans_branch *b = &t->branches[i];
        char want_id[24];
        snprintf(want_id, sizeof want_id, "%02zu", i / 2 + 1);
        if (strcmp(b->branch_id, want_id) != 0 ||
            strcmp(b->op, i % 2 ? OP_ACTION : OP_COMPENSATE) != 0 ||
            strcmp(b->status, TS_PREPARED) != 0)
            fuzz_fail("gid %s: branch row %zu is %s/%s/%s", g, i, b->branch_id, b->op, b->status);
        if (!b->url || strlen(b->url) > TRANS_URL_MAX)
            fuzz_fail("gid %s: branch row %zu has a URL over %d bytes", g, i, TRANS_URL_MAX);
        if (b->data_len > TRANS_PAYLOAD_MAX)
            fuzz_fail("gid %s: branch row %zu has a %zu-byte payload", g, i, b->data_len);
        if (b->data_len && !b->data) fuzz_fail("gid %s: branch row %zu: data NULL", g, i);
    }
    if (t->opts.concurrent) {
        if (!t->n_orders || !t->orders) fuzz_fail("gid %s: concurrent saga without orders", g);
        for (size_t i = 0; i < t->n_steps; i++)
            for (size_t k = 0; k < t->n_orders[i]; k++)
                if (t->orders[i][k] >= t->n_steps)
                    fuzz_fail("gid %s: step %zu waits for step %zu of %zu", g, i,
                              t->orders[i][k], t->n_steps);
    }
}

#endif
