/* service.h: the coordinator's operations, as DTM's dtmsvr/api.go defines
 * them, independent of the surface (gRPC or HTTP) that received the request.
 * Surfaces parse input into a trans_global (parse.h), call these, and map
 * svc_rc onto their own codes:
 *
 *   svc_rc           HTTP                         gRPC
 *   SVC_OK           200 {"dtm_result":"SUCCESS"} OK
 *   SVC_FAILURE      409 {"dtm_result":"FAILURE","message":..}  ABORTED
 *   SVC_ONGOING      425 {"dtm_result":"ONGOING","message":..}  FAILED_PRECONDITION
 *   SVC_BAD_REQUEST  400 {"error":..}             INVALID_ARGUMENT   (cdtm: DTM answers 500 or crashes)
 *   SVC_UNSUPPORTED  400 {"error":..}             UNIMPLEMENTED
 *   SVC_ERROR        500 {"error":..}             UNAVAILABLE        (store down: retry)
 *
 * Messages that clients test for keep DTM's words, e.g.
 * "current status 'succeed', cannot sumbmit" (sic). */
#ifndef CDTM_SERVICE_H
#define CDTM_SERVICE_H

#include <jansson.h>
#include <stddef.h>

#include "engine.h"
#include "store.h"
#include "trans.h"

typedef enum {
    SVC_OK = 0,
    SVC_FAILURE,
    SVC_ONGOING,
    SVC_BAD_REQUEST,
    SVC_UNSUPPORTED,
    SVC_ERROR,
} svc_rc;

typedef struct svc svc;

/* Borrowed store and engine. */
svc *svc_new(store *s, engine *e);
void svc_free(svc *v);

/* prepare / submit / abort take ownership of t (already validated by the
 * parser: non-empty gid, known trans_type, bounded sizes). */
svc_rc svc_prepare(svc *v, trans_global *t, char *msg, size_t msglen);
svc_rc svc_submit(svc *v, trans_global *t, char *msg, size_t msglen);
svc_rc svc_abort(svc *v, trans_global *t, char *msg, size_t msglen);

/* registerBranch (tcc: data, confirm, cancel; xa: url). */
svc_rc svc_register_branch(svc *v, const char *gid, const char *trans_type,
                           const char *branch_id, json_t *data, char *msg, size_t msglen);

/* query: *out = {"transaction":<row or null>,"branches":[...]} (caller decrefs). */
svc_rc svc_query(svc *v, const char *gid, json_t **out, char *msg, size_t msglen);

/* all: *out = {"transactions":[...],"next_position":".."}; limit 1..1000
 * (default 100 when 0). */
svc_rc svc_all(svc *v, const char *gid, const char *position, int limit, const char *status,
               const char *trans_type, int64_t ctime_start_ms, int64_t ctime_end_ms,
               json_t **out, char *msg, size_t msglen);

/* forceStop: status -> failed unless already final (409). */
svc_rc svc_force_stop(svc *v, const char *gid, char *msg, size_t msglen);

/* resetNextCronTime: next_cron_time = now. */
svc_rc svc_reset_next_cron_time(svc *v, const char *gid, char *msg, size_t msglen);

#endif
