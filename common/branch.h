/* branch.h: the glue every DTM branch service shares (order-srv, stock-srv).
 *
 * A branch handler does the same three things around its business logic:
 *   1. build the sub-transaction barrier from the call's dtm-* metadata
 *      (branch_barrier_from_call);
 *   2. run the logic inside barrier_call() (in the service's logic.c);
 *   3. turn the logic's dtm_result into the gRPC status DTM understands
 *      (branch_reply), and log the outcome with the gid.
 * Keeping 1 and 3 here means the services' logic never sees gRPC, and every
 * service answers DTM by the same rule (dtm-protocol.md §3; README, "Why
 * FAILURE means Aborted"). */
#ifndef CDTM_BRANCH_H
#define CDTM_BRANCH_H

#include <stddef.h>

#include "barrier.h"
#include "result.h"
#include "rpcsrv.h"

/* Reads the metadata dtm-gid, dtm-trans_type, dtm-branch_id and dtm-op of
 * `call` (checked in that order) into *b. Returns 0, or -1 with `err` set to
 * "invalid trans info: missing dtm-gid" (or the first key that is absent or
 * empty), or to barrier_init()'s message when a value is too long. The
 * caller answers such a call with branch_reject(). */
int branch_barrier_from_call(rpcsrv_call *call, barrier *b, char *err, size_t errlen);

/* Answers a branch call with the status DTM reads as `r`:
 *   SUCCESS -> OK (empty reply message);
 *   FAILURE -> ABORTED, message exactly "FAILURE" (a saga action refuses for
 *              good: DTM compensates);
 *   ONGOING -> FAILED_PRECONDITION, message "ONGOING" (ask again later);
 *   ERROR   -> UNAVAILABLE with `msg` (DTM retries with backoff).
 * Logs one line naming `gid` and the method; `msg` (may be NULL) explains the
 * outcome in the log (and is the status message of an ERROR). */
void branch_reply(rpcsrv_call *call, const char *gid, dtm_result r, const char *msg);

/* Answers a malformed call (no DTM metadata, undecodable request) with
 * INVALID_ARGUMENT and `msg`, and logs it. `gid` may be NULL or "". Such a
 * call is a bug in the caller, not a business outcome: DTM retries it, and
 * the log says why. */
void branch_reject(rpcsrv_call *call, const char *gid, const char *msg);

#endif
