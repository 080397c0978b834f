/* api.h: the coordinator's two surfaces. Both only parse (parse.h), call the
 * service (service.h) and map its result onto their protocol; neither knows
 * about the store, the engine or the branch caller.
 *
 * gRPC (api_grpc.c), service dtmgimp.Dtm: NewGid, Submit, Prepare, Abort,
 * RegisterBranch; PrepareWorkflow, Subscribe, Unsubscribe and DeleteTopic
 * answer UNIMPLEMENTED; plus grpc.health.v1 (from rpcsrv).
 *
 * HTTP (api_http.c), under /api/dtmsvr: newGid (GET), prepare, submit,
 * abort, registerBranch (+ registerTccBranch, registerXaBranch), forceStop,
 * resetNextCronTime (POST), query, all, version (GET); and GET /api/ping. */
#ifndef CDTM_API_H
#define CDTM_API_H

#include <stddef.h>

#include "service.h"

typedef struct api_grpc api_grpc;
typedef struct api_http api_http;

/* Starts the gRPC API on listen_on ("127.0.0.1:36790") with `threads`
 * workers. The service is borrowed. NULL with err filled on failure. */
api_grpc *api_grpc_start(svc *v, const char *listen_on, int threads, char *err, size_t errlen);

/* Graceful stop (in-flight calls finish, up to grace_ms) and free. */
void api_grpc_stop(api_grpc *a, int grace_ms);

/* Starts the HTTP API on listen_on ("127.0.0.1:36789"). */
api_http *api_http_start(svc *v, const char *listen_on, int threads, char *err, size_t errlen);
void api_http_stop(api_http *a);

#endif
