/* rpcsrv.h: a unary gRPC server on the gRPC core C API.
 *
 * A method table maps full paths ("/pb.order/create") to handlers. Worker
 * threads each serve one call at a time, so `nthreads` calls can be in flight.
 * A handler gets the request bytes and the call; it reads incoming metadata
 * with rpcsrv_metadata() and answers with rpcsrv_reply() and/or
 * rpcsrv_status(). A handler that sets neither answers OK with an empty
 * message. The server also answers:
 *   - an unknown method with UNIMPLEMENTED ("unknown method /x.Y/z");
 *   - grpc.health.v1.Health/Check: SERVING for "" or for a service of the table
 *     ("pb.order"), NOT_FOUND for another name.
 * Request messages are bounded (4 MiB, gRPC's default), and so are the calls
 * one connection may have open: 2 per worker, at least 8 (HTTP/2's
 * SETTINGS_MAX_CONCURRENT_STREAMS); a client's further calls wait on its side
 * until one finishes, and are not refused.
 *
 * Ownership: the server copies the method paths; request bytes and metadata
 * are valid only during the handler; rpcsrv_reply() copies its bytes. */
#ifndef CDTM_RPCSRV_H
#define CDTM_RPCSRV_H

#include <stddef.h>
#include <stdint.h>

typedef struct rpcsrv rpcsrv;
typedef struct rpcsrv_call rpcsrv_call;

typedef void (*rpcsrv_handler)(rpcsrv_call *call, const uint8_t *req, size_t req_len, void *ud);

/* Creates a server for `listen_on` ("0.0.0.0:9001", "127.0.0.1:0" for any free
 * port) with `nthreads` workers (1..256). Calls grpc_init(). Returns NULL
 * with `err` filled on bad arguments. */
rpcsrv *rpcsrv_new(const char *listen_on, int nthreads, char *err, size_t errlen);

/* Adds a method. Must be called before rpcsrv_start(). Returns 0, or -1 when
 * the path is not of the form "/pkg.Service/Method" or is already there. */
int rpcsrv_add(rpcsrv *s, const char *method, rpcsrv_handler h, void *ud);

/* Binds and starts the workers. Returns 0, or -1 with `err` filled (for
 * example "cannot bind 0.0.0.0:9001"). */
int rpcsrv_start(rpcsrv *s, char *err, size_t errlen);

/* The bound port (useful after "host:0"), or 0 before start. */
int rpcsrv_port(const rpcsrv *s);

/* Stops accepting calls, lets calls in flight finish for up to grace_ms,
 * cancels the rest, and joins the workers. Safe to call once. */
void rpcsrv_stop(rpcsrv *s, int grace_ms);

/* Frees a stopped (or never started) server; calls grpc_shutdown(). */
void rpcsrv_free(rpcsrv *s);

/* The value of an incoming metadata key (lowercase), NUL-terminated, or NULL
 * when absent. Valid during the handler. The first value wins if repeated. */
const char *rpcsrv_metadata(rpcsrv_call *call, const char *key);

/* The full method path of the call ("/pb.order/create"). */
const char *rpcsrv_method(const rpcsrv_call *call);

/* Sets the reply message (copied). Without it the reply is an empty message. */
void rpcsrv_reply(rpcsrv_call *call, const void *data, size_t len);

/* Sets the status code (grpc_status_code) and its message (printf-style,
 * truncated at 1 KiB). */
void rpcsrv_status(rpcsrv_call *call, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
