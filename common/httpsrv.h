/* httpsrv.h: the HTTP side of cdtm's servers, on civetweb: start and stop a
 * server, read a bounded body, answer JSON. Used by the coordinator's HTTP API
 * and by order-api.
 *
 * Every error reply is JSON: {"error":"<message>"} with a 4xx/5xx status.
 * Bodies are bounded: a body over the limit is refused with 413 and nothing
 * is read into memory beyond the limit. */
#ifndef CDTM_HTTPSRV_H
#define CDTM_HTTPSRV_H

#include <civetweb.h>
#include <jansson.h>
#include <stddef.h>

typedef struct httpsrv httpsrv;

/* A request handler: return 1 when it answered (civetweb's convention). */
typedef int (*httpsrv_handler)(struct mg_connection *conn, void *ud);

/* A route: requests whose path is `prefix`, or starts with `prefix` followed
 * by '/', go to h(conn, ud). */
typedef struct {
    const char *prefix;
    httpsrv_handler h;
    void *ud;
} httpsrv_route;

/* Starts civetweb on "host:port" ("127.0.0.1:0" is not supported by civetweb:
 * give a port) with `threads` workers, keep-alive and TCP_NODELAY on, serving
 * `routes` (at most 32, copied; a path under none is answered 404). The
 * routes are in place before the port opens, so a client that connects as
 * soon as it can is never told 404 for a route that exists.
 * A worker serves one connection at a time, so a keep-alive connection is
 * closed after a turn of 1 s (its last reply says "Connection: close"): more
 * keep-alive clients than workers are then served in turns, not never.
 * Returns NULL with `err` filled (e.g. "cannot listen on 127.0.0.1:36789"). */
httpsrv *httpsrv_start(const char *listen_on, int threads, const httpsrv_route *routes,
                       size_t n_routes, char *err, size_t errlen);

/* Stops the server (in-flight requests finish) and frees it. Returns within
 * milliseconds when nothing is in flight (see "stopping" in httpsrv.c). */
void httpsrv_stop(httpsrv *s);

/* Reads the whole request body, at most `max` bytes, NUL-terminated, into a
 * malloc'd buffer the caller frees. Returns 0, 1 when the body is over max
 * (nothing kept; the caller answers 413), or -1 on a read error. */
int httpsrv_read_body(struct mg_connection *conn, size_t max, char **out, size_t *len);

/* Copies the query parameter `name` (URL-decoded) into buf. Returns its
 * length, or -1 when absent or too long. */
int httpsrv_query(struct mg_connection *conn, const char *name, char *buf, size_t buflen);

/* Sends `status` with a JSON body and Content-Type application/json; steals
 * the reference to `body`. */
void httpsrv_reply_json(struct mg_connection *conn, int status, json_t *body);

/* Sends {"error": <printf message>} with `status`. */
void httpsrv_reply_error(struct mg_connection *conn, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
