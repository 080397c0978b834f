/* rpccli.h: unary gRPC calls on the gRPC core C API.
 *
 * An rpccli keeps one channel per target ("127.0.0.1:9001", "dns:///host:port")
 * and is safe to use from many threads at once. A call sends the request bytes
 * as they are (no codec: the caller packs with protobuf-c, or forwards a
 * stored payload, as DTM's raw codec does), with metadata and a deadline,
 * and returns the status, its message and the reply bytes. */
#ifndef CDTM_RPCCLI_H
#define CDTM_RPCCLI_H

#include <stddef.h>
#include <stdint.h>

typedef struct rpccli rpccli;

/* One metadata pair; keys must be lowercase. */
typedef struct {
    const char *key;
    const char *value;
} rpc_md;

typedef struct {
    int status;        /* grpc_status_code; DEADLINE_EXCEEDED when the deadline passed */
    char *message;     /* status message, never NULL; owned, freed by rpccli_result_free() */
    uint8_t *reply;    /* reply bytes (NULL when none arrived); owned */
    size_t reply_len;
} rpccli_result;

/* Creates a client; calls grpc_init(). */
rpccli *rpccli_new(void);

/* Closes every channel; calls grpc_shutdown(). No call may be in flight. */
void rpccli_free(rpccli *c);

/* Calls `method` ("/pb.stock/deduct") on `target` and waits for the answer
 * for at most timeout_ms. Always fills *out (a target that cannot be reached
 * gives UNAVAILABLE with the reason). Returns out->status. */
int rpccli_call(rpccli *c, const char *target, const char *method, const rpc_md *md,
                size_t nmd, const void *req, size_t req_len, int timeout_ms,
                rpccli_result *out);

/* Frees what rpccli_call() put into *r. */
void rpccli_result_free(rpccli_result *r);

#endif
