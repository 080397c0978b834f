/* dtmclient.h: order-api's client of the coordinator. It plays the part that
 * DTM's Go client library (dtmgrpc) plays in the upstream demo (demo.md §5):
 *   - NewGid and Submit over gRPC, service dtmgimp.Dtm (dtm-protocol.md §1);
 *   - query over the coordinator's HTTP API (GET <HttpTarget>/query?gid=),
 *     because the gRPC API has no query.
 * The business code (logic.c) describes a saga as steps and payloads; this
 * file packs the DtmRequest and reads the answers, so no gRPC or protobuf
 * detail leaks into the logic. Safe to use from many threads. */
#ifndef ORDER_API_DTMCLIENT_H
#define ORDER_API_DTMCLIENT_H

#include <stddef.h>
#include <stdint.h>

/* How the coordinator answered. */
typedef enum {
    DTMC_OK = 0,
    DTMC_FAILURE,     /* FAILURE (gRPC Aborted): the saga failed, or was refused; msg says why */
    DTMC_ONGOING,     /* ONGOING (gRPC FailedPrecondition): not finished yet */
    DTMC_UNAVAILABLE, /* cannot be reached, or no answer before the deadline */
    DTMC_ERROR,       /* any other refusal (bad request, unsupported, internal error) */
} dtmc_rc;

/* "OK", "FAILURE", "ONGOING", "UNAVAILABLE", "ERROR". */
const char *dtmc_rc_name(dtmc_rc rc);

#define DTMC_MAX_STEPS 16
#define DTMC_GID_MAX 128

/* One saga step: the action and its compensation (branch URLs
 * "host:port/pkg.Svc/Method") and the protobuf payload both receive. */
typedef struct {
    const char *action;
    const char *compensate;
    const uint8_t *payload;
    size_t payload_len;
} dtmc_step;

/* A saga to submit. Borrowed strings and bytes. */
typedef struct {
    const char *gid;
    size_t nsteps;
    dtmc_step steps[DTMC_MAX_STEPS];
    int wait_result; /* TransOptions.WaitResult: the coordinator answers after one round */
} dtmc_saga;

/* A branch row of the coordinator's query. */
typedef struct {
    char branch_id[129];
    char op[46];
    char status[46];
} dtmc_branch;

/* What the coordinator's query says about one gid. */
typedef struct {
    int found;                /* 0: "transaction" was null: no such gid */
    char status[16];          /* prepared, submitted, succeed, failed, aborting */
    char rollback_reason[1024];
    size_t nbranches;         /* at most 2 * DTMC_MAX_STEPS are kept, in the query's order */
    dtmc_branch branches[2 * DTMC_MAX_STEPS];
} dtmc_trans;

typedef struct dtmc dtmc;

/* A client for the coordinator at grpc_target ("127.0.0.1:36790") and
 * http_base ("http://127.0.0.1:36789/api/dtmsvr"); timeout_ms bounds NewGid
 * and query. Strings are copied. NULL when out of memory. */
dtmc *dtmc_new(const char *grpc_target, const char *http_base, int timeout_ms);
void dtmc_free(dtmc *d);

/* Asks for a new gid (/dtmgimp.Dtm/NewGid) into gid (at least
 * DTMC_GID_MAX + 1 bytes). On anything but DTMC_OK, `msg` says why. */
dtmc_rc dtmc_new_gid(dtmc *d, char *gid, size_t gidlen, char *msg, size_t msglen);

/* Packs the DtmRequest of `s`: TransType "saga", Steps as the JSON array
 * [{"action":..,"compensate":..},..], one BinPayload per step, and
 * TransOptions.WaitResult. Returns 0 with *out malloc'd (caller frees), or
 * -1 with `err` filled (no step, too many, a NULL URL). */
int dtmc_saga_pack(const dtmc_saga *s, uint8_t **out, size_t *len, char *err, size_t errlen);

/* Submits `s` (/dtmgimp.Dtm/Submit), waiting at most timeout_ms. With
 * WaitResult, DTMC_FAILURE means the round did not end in succeed and `msg`
 * carries the coordinator's reason. */
dtmc_rc dtmc_submit(dtmc *d, const dtmc_saga *s, int timeout_ms, char *msg, size_t msglen);

/* GET <http_base>/query?gid=<gid> into *out. DTMC_OK also when the gid is
 * unknown (out->found = 0). DTMC_UNAVAILABLE when the HTTP API cannot be
 * reached; DTMC_ERROR on another status or a reply that is not the query's
 * JSON. */
dtmc_rc dtmc_query(dtmc *d, const char *gid, dtmc_trans *out, char *msg, size_t msglen);

/* Reads a query reply {"transaction":..,"branches":[..]} (exposed for
 * tests). Returns 0, or -1 with `err` filled. */
int dtmc_query_parse(const char *body, size_t len, dtmc_trans *out, char *err, size_t errlen);

#endif
