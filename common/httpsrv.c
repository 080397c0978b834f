/* httpsrv.c: cdtm's HTTP servers on civetweb (see httpsrv.h): start/stop,
 * routing, a bounded body reader and JSON replies.
 *
 * Two civetweb settings matter more than they look (environment.md §5):
 *   - tcp_nodelay=1: civetweb writes headers and body separately; with
 *     Nagle's algorithm and delayed ACKs every keep-alive request would wait
 *     about 40 ms;
 *   - max_request_size bounds the request line plus headers, so an oversized
 *     header block is answered with an error instead of growing a buffer.
 * civetweb's own error pages (bad request line, headers too large, ...) are
 * turned into the same JSON shape as ours through the http_error callback. */
#include "httpsrv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Request line + headers; larger header blocks are refused by civetweb. */
#define HTTPSRV_MAX_REQUEST_SIZE "16384"
/* A client that stalls mid-request cannot hold a worker for ever. */
#define HTTPSRV_REQUEST_TIMEOUT_MS "30000"

/* civetweb also matches "/api/x" against "/api/xy"; each route keeps its
 * prefix so the trampoline can enforce httpsrv.h's rule (exact, or the
 * prefix followed by '/'). */
#define HTTPSRV_ROUTES_MAX 32
typedef struct {
    char prefix[128];
    size_t len;
    httpsrv_handler h;
    void *ud;
} httpsrv_route_entry;

struct httpsrv {
    struct mg_context *ctx;
    char listen_on[128];
    httpsrv_route_entry routes[HTTPSRV_ROUTES_MAX];
    size_t n_routes;
};

/* ---- civetweb callbacks ---- */

static int on_log_message(const struct mg_connection *conn, const char *message) {
    (void)conn;
    log_debug(NULL, "civetweb: %s", message);
    return 1; /* handled: civetweb prints nothing itself */
}

/* civetweb's own errors (malformed request, headers over max_request_size,
 * no handler for the URI) in our JSON shape. */
static int on_http_error(struct mg_connection *conn, int status, const char *errmsg) {
    if (status == 404) /* the words of DTM's router (gin) */
        httpsrv_reply_error(conn, status, "404 page not found");
    else
        httpsrv_reply_error(conn, status, "%s",
                            errmsg && *errmsg ? errmsg : mg_get_response_code_text(conn, status));
    return 0;
}

/* ---- server ---- */

httpsrv *httpsrv_start(const char *listen_on, int threads, char *err, size_t errlen) {
    if (!listen_on || !*listen_on || strlen(listen_on) >= sizeof(((httpsrv *)0)->listen_on)) {
        snprintf(err, errlen, "bad listen address '%s'", listen_on ? listen_on : "");
        return NULL;
    }
    if (threads < 1 || threads > 1024) {
        snprintf(err, errlen, "threads must be 1..1024, got %d", threads);
        return NULL;
    }
    httpsrv *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(s->listen_on, sizeof s->listen_on, "%s", listen_on);
    char nthreads[16];
    snprintf(nthreads, sizeof nthreads, "%d", threads);
    const char *opts[] = {
        "listening_ports",     s->listen_on,
        "num_threads",         nthreads,
        "enable_keep_alive",   "yes",
        "tcp_nodelay",         "1",
        "max_request_size",    HTTPSRV_MAX_REQUEST_SIZE,
        "request_timeout_ms",  HTTPSRV_REQUEST_TIMEOUT_MS,
        "enable_directory_listing", "no",
        /* Paths stay as sent: a %00 would otherwise cut a gid short. No
         * route needs an escaped path; query values are decoded on reading. */
        "decode_url",          "no",
        NULL,
    };
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.log_message = on_log_message;
    cb.http_error = on_http_error;

    mg_init_library(0);
    char why[256] = "";
    unsigned code = 0;
    struct mg_init_data init = {.callbacks = &cb, .user_data = s, .configuration_options = opts};
    struct mg_error_data error = {.code = &code, .text = why, .text_buffer_size = sizeof why};
    s->ctx = mg_start2(&init, &error);
    if (!s->ctx) {
        snprintf(err, errlen, "cannot listen on %s%s%s", listen_on, why[0] ? ": " : "", why);
        mg_exit_library();
        free(s);
        return NULL;
    }
    return s;
}

static int route_trampoline(struct mg_connection *conn, void *ud) {
    const httpsrv_route_entry *r = ud;
    const char *uri = mg_get_request_info(conn)->local_uri;
    if (!uri || strncmp(uri, r->prefix, r->len) != 0 || (uri[r->len] != '\0' && uri[r->len] != '/')) {
        httpsrv_reply_error(conn, 404, "404 page not found");
        return 1;
    }
    return r->h(conn, r->ud);
}

void httpsrv_route(httpsrv *s, const char *prefix, httpsrv_handler h, void *ud) {
    if (s->n_routes >= HTTPSRV_ROUTES_MAX || strlen(prefix) >= sizeof s->routes[0].prefix) {
        log_error(NULL, "httpsrv: cannot add route %s (at most %d routes of < 128 bytes)", prefix,
                  HTTPSRV_ROUTES_MAX);
        return;
    }
    httpsrv_route_entry *r = &s->routes[s->n_routes++];
    snprintf(r->prefix, sizeof r->prefix, "%s", prefix);
    r->len = strlen(r->prefix);
    r->h = h;
    r->ud = ud;
    mg_set_request_handler(s->ctx, prefix, route_trampoline, r);
}

void httpsrv_stop(httpsrv *s) {
    if (!s) return;
    mg_stop(s->ctx); /* waits for the workers: requests in flight finish */
    mg_exit_library();
    free(s);
}

/* ---- requests ---- */

int httpsrv_read_body(struct mg_connection *conn, size_t max, char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    /* A declared length over the limit is refused before reading anything. */
    if (ri && ri->content_length > 0 && (unsigned long long)ri->content_length > max) return 1;

    size_t cap = 1024, n = 0;
    if (ri && ri->content_length > 0) cap = (size_t)ri->content_length + 1;
    char *buf = malloc(cap);
    if (!buf) return -1;
    for (;;) {
        if (n + 1 >= cap) {
            /* Chunked or lying bodies grow the buffer, up to max + 1 bytes. */
            size_t ncap = cap * 2;
            if (ncap > max + 2) ncap = max + 2;
            if (ncap <= n + 1) {
                free(buf);
                return 1;
            }
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                return -1;
            }
            buf = nb;
            cap = ncap;
        }
        int r = mg_read(conn, buf + n, cap - 1 - n);
        if (r < 0) {
            free(buf);
            return -1;
        }
        if (r == 0) break;
        n += (size_t)r;
        if (n > max) {
            free(buf);
            return 1;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

int httpsrv_query(struct mg_connection *conn, const char *name, char *buf, size_t buflen) {
    const struct mg_request_info *ri = mg_get_request_info(conn);
    if (!ri || !ri->query_string || buflen == 0) return -1;
    int r = mg_get_var(ri->query_string, strlen(ri->query_string), name, buf, buflen);
    return r < 0 ? -1 : r;
}

/* ---- replies ---- */

void httpsrv_reply_json(struct mg_connection *conn, int status, json_t *body) {
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        status = 500;
        text = strdup("{\"error\":\"cannot encode the reply\"}");
        if (!text) return;
    }
    size_t n = strlen(text);
    char clen[32];
    snprintf(clen, sizeof clen, "%zu", n);
    mg_response_header_start(conn, status);
    mg_response_header_add(conn, "Content-Type", "application/json", -1);
    mg_response_header_add(conn, "Content-Length", clen, -1);
    mg_response_header_send(conn);
    mg_write(conn, text, n);
    free(text);
}

void httpsrv_reply_error(struct mg_connection *conn, int status, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *body = json_object();
    /* json_string() refuses invalid UTF-8 (a message may quote bad input):
     * replace non-ASCII bytes then, so the error still reaches the client. */
    json_t *m = json_string(msg);
    if (!m) {
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p >= 0x80) *p = '?';
        m = json_string(msg);
    }
    json_object_set_new(body, "error", m);
    httpsrv_reply_json(conn, status, body);
}
