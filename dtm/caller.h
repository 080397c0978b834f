/* caller.h: how the coordinator calls one branch (dtm-protocol.md §3).
 *
 * The engine only sees the branch_caller interface, so tests can replace the
 * network with a fake. The real caller (caller.c) picks the protocol:
 *   - an empty URL is a success, and nothing is called;
 *   - HTTP when the trans protocol is "http" or the URL starts with http(s)://:
 *     POST the payload (GET when it is empty) with the query parameters gid,
 *     trans_type, branch_id and op, header Content-type: application/json and
 *     the branch headers; the reply is read by dtm_result_from_http();
 *   - gRPC otherwise: URL "host:port/pkg.Svc/Method" split at the first '/',
 *     the payload sent as it is, metadata dtm-gid, dtm-trans_type,
 *     dtm-branch_id, dtm-op, dtm-dtm ("") plus the branch headers; the status
 *     is read by dtm_result_from_grpc() and the reply bytes are ignored.
 * The deadline is the trans's RequestTimeout, else the config's. */
#ifndef CDTM_CALLER_H
#define CDTM_CALLER_H

#include <stddef.h>

#include "result.h"
#include "trans.h"

typedef struct {
    /* Calls branch b of t and returns its result. On anything but SUCCESS,
     * `msg` says why, in DTM's words where a client may read them, e.g.
     * "url:127.0.0.1:9002/pb.stock/deduct return failed: FAILURE". Must be
     * safe to call from several threads at once (concurrent sagas). */
    dtm_result (*call)(void *ud, const trans_global *t, const trans_branch *b,
                       char *msg, size_t msglen);
    void *ud;
} branch_caller;

typedef struct caller caller;

/* The real caller: gRPC through rpccli, HTTP through a small HTTP/1.1 client.
 * default_timeout_s is the config's RequestTimeout. */
caller *caller_new(int default_timeout_s);
void caller_free(caller *c);

/* The branch_caller interface of c. */
branch_caller caller_iface(caller *c);

#endif
