/* noop.c: `cdtm-bench serve-noop -g PORT`, a gRPC branch server that does
 * nothing: /bench.Noop/Action and /bench.Noop/Compensate answer OK with an
 * empty message at once. Mode (b) puts two of them behind a saga, so the
 * coordinator's branch calls are measured without any database work in
 * the branches (bench.h). */
#include <stdio.h>

#include "bench.h"
#include "rpcsrv.h"
#include "sig.h"

static void noop_handler(rpcsrv_call *call, const uint8_t *req, size_t len, void *ud) {
    (void)call;
    (void)req;
    (void)len;
    (void)ud; /* no reply and no status: OK with an empty message */
}

int bench_serve_noop(int port, int threads) {
    sig_block_term();
    char err[256], listen_on[64];
    snprintf(listen_on, sizeof listen_on, "127.0.0.1:%d", port);
    rpcsrv *s = rpcsrv_new(listen_on, threads, err, sizeof err);
    if (!s) {
        fprintf(stderr, "serve-noop: %s\n", err);
        return 1;
    }
    if (rpcsrv_add(s, "/bench.Noop/Action", noop_handler, NULL) != 0 ||
        rpcsrv_add(s, "/bench.Noop/Compensate", noop_handler, NULL) != 0 ||
        rpcsrv_start(s, err, sizeof err) != 0) {
        fprintf(stderr, "serve-noop: %s\n", err);
        rpcsrv_free(s);
        return 1;
    }
    fprintf(stderr, "serve-noop: gRPC on %s (%d threads)\n", listen_on, threads);
    sig_wait_term();
    rpcsrv_stop(s, 1000);
    rpcsrv_free(s);
    return 0;
}
