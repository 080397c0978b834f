/* parse.h: turns what a client sends into a validated trans_global: the
 * trans JSON of the HTTP API (dtm-protocol.md §2) and the DtmRequest of the
 * gRPC API (§1). Both go through the same validation, so the two surfaces
 * accept and refuse exactly the same transactions.
 *
 * Refused, with a message naming the field (cdtm answers a client error
 * where DTM crashes, answers 500, or stores garbage; README "Differences"):
 * an empty or missing gid; a gid over 128 bytes; an unknown trans_type; a
 * trans_type cdtm does not implement yet (SVC_UNSUPPORTED); steps that are
 * not a JSON array of objects, or a saga step without action/compensate;
 * more than TRANS_STEPS_MAX steps; a payload count different from the step
 * count; a URL over 1024 bytes, a payload over 65535 bytes; bad custom_data;
 * negative timeouts; malformed JSON. */
#ifndef CDTM_PARSE_H
#define CDTM_PARSE_H

#include <stddef.h>

#include "service.h"
#include "trans.h"

/* For prepare/submit/abort over HTTP. Returns SVC_OK with *out set (caller
 * owns it), or SVC_BAD_REQUEST / SVC_UNSUPPORTED with `err` filled.
 * `need_steps` is 0 for abort (only gid and trans_type matter). */
svc_rc parse_trans_json(const char *body, size_t len, int need_steps, trans_global **out,
                        char *err, size_t errlen);

/* The same from a packed dtmgimp.DtmRequest (protocol "grpc"). */
svc_rc parse_trans_proto(const uint8_t *buf, size_t len, int need_steps, trans_global **out,
                         char *err, size_t errlen);

#endif
