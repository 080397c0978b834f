/* result.h: DTM's four outcomes of a branch call, and how they travel over
 * gRPC and HTTP (dtm-protocol.md §3).
 *
 *   SUCCESS  the branch did its work (or had nothing to do);
 *   FAILURE  the branch refuses for good: a saga action that fails makes the
 *            saga compensate. gRPC: Aborted. HTTP: 409 or a body with "FAILURE";
 *   ONGOING  not finished, ask again later. gRPC: FailedPrecondition. HTTP: 425;
 *   ERROR    anything else (network, database, crash): retried with backoff. */
#ifndef CDTM_RESULT_H
#define CDTM_RESULT_H

#include <stddef.h>

typedef enum { DTM_SUCCESS = 0, DTM_FAILURE, DTM_ONGOING, DTM_ERROR } dtm_result;

/* "SUCCESS", "FAILURE", "ONGOING" or "ERROR". */
const char *dtm_result_name(dtm_result r);

/* The gRPC status a server answers for r: OK, ABORTED, FAILED_PRECONDITION,
 * or UNAVAILABLE for an error (so that DTM retries it). */
int dtm_result_to_grpc(dtm_result r);

/* How the coordinator reads a branch's gRPC status (GrpcError2DtmError):
 * OK -> SUCCESS; ABORTED -> FAILURE, unless the message is exactly "ONGOING";
 * FAILED_PRECONDITION -> ONGOING; anything else -> ERROR. `msg` may be NULL. */
dtm_result dtm_result_from_grpc(int status, const char *msg);

/* How the coordinator reads a branch's HTTP reply (HTTPResp2DtmError), in
 * this order: 425 or a body containing "ONGOING" -> ONGOING; 409 or a body
 * containing "FAILURE" -> FAILURE; another non-200 -> ERROR; 200 -> SUCCESS. */
dtm_result dtm_result_from_http(int status, const char *body, size_t len);

#endif
