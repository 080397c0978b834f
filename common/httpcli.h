/* httpcli.h: a small blocking HTTP/1.1 client for the coordinator's HTTP
 * branch calls (and, later, the etcd JSON gateway). Plain http:// only.
 * It keeps idle keep-alive connections per host:port for reuse and is safe
 * to use from many threads. Replies are bounded (4 MiB) so a misbehaving
 * server cannot exhaust memory. */
#ifndef CDTM_HTTPCLI_H
#define CDTM_HTTPCLI_H

#include <stddef.h>

typedef struct {
    int status;      /* HTTP status code */
    char *body;      /* NUL-terminated (body[body_len] == 0); owned */
    size_t body_len;
} httpcli_resp;

/* Sends `method` to `url` ("http://host:port/path?query") with `headers`
 * (name/value pairs, terminated by a NULL name; may be NULL) and `body`
 * (may be NULL when len is 0), waiting at most timeout_ms overall. Returns 0
 * with *out filled, or -1 with `err` filled ("connect 127.0.0.1:8081:
 * Connection refused", "timeout after 3000 ms", "bad URL ...") and *out
 * zeroed. */
int httpcli_request(const char *method, const char *url, const char *const *headers,
                    const void *body, size_t len, int timeout_ms, httpcli_resp *out,
                    char *err, size_t errlen);

/* Frees what httpcli_request() put into *r. */
void httpcli_resp_free(httpcli_resp *r);

/* Closes the idle connections (at exit, to keep leak checkers quiet). */
void httpcli_close_idle(void);

#endif
