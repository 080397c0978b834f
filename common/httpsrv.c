/* httpsrv.c: cdtm's HTTP servers on civetweb (see httpsrv.h): start/stop,
 * routing, a bounded body reader and JSON replies.
 *
 * Two civetweb settings matter more than they look (environment.md §5):
 *   - tcp_nodelay=1: civetweb writes its status line, each header line and
 *     the body in separate send() calls; with Nagle's algorithm and delayed
 *     ACKs every keep-alive request would wait about 40 ms;
 *   - max_request_size bounds the request line plus headers, so an oversized
 *     header block is answered with an error instead of growing a buffer.
 * Because of the first, a handler's reply is written by us, head and body in
 * one mg_write(): one send() and one TCP segment instead of seven.
 * civetweb's own error pages (bad request line, headers too large, ...) are
 * turned into the same JSON shape as ours through the http_error callback;
 * those go through civetweb's header functions, which know whether it will
 * close the connection.
 *
 * civetweb gives a connection its worker thread for as long as the
 * connection stays open, so a keep-alive connection gets a turn of
 * HTTPSRV_TURN_MS (see "keep-alive turns" below). */
#include "httpsrv.h"

#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mono.h"

/* Request line + headers; larger header blocks are refused by civetweb. */
#define HTTPSRV_MAX_REQUEST_SIZE "16384"
/* A client that stalls mid-request cannot hold a worker for ever. */
#define HTTPSRV_REQUEST_TIMEOUT_MS "30000"
/* How long a keep-alive connection keeps its worker thread (see below). */
#define HTTPSRV_TURN_MS 1000

/* Routes are matched by httpsrv itself, in civetweb's begin_request
 * callback: they are in place before the port opens (civetweb's request
 * handlers can only be added to a server already listening), and the rule is
 * httpsrv.h's (exact, or the prefix followed by '/'), where civetweb would
 * also match "/api/x" against "/api/xy". */
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
static void reply_error(struct mg_connection *conn, int status, int by_civetweb, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));

static int on_http_error(struct mg_connection *conn, int status, const char *errmsg) {
    if (status == 404) /* the words of DTM's router (gin) */
        reply_error(conn, status, 1, "404 page not found");
    else
        reply_error(conn, status, 1, "%s",
                    errmsg && *errmsg ? errmsg : mg_get_response_code_text(conn, status));
    return 0;
}

/* Every request comes here before civetweb's own handling. A path under no
 * route goes on to civetweb, which answers 404 through on_http_error. */
static int on_begin_request(struct mg_connection *conn) {
    const httpsrv *s = mg_get_user_data(mg_get_context(conn));
    const char *uri = mg_get_request_info(conn)->local_uri;
    for (size_t i = 0; uri && i < s->n_routes; i++) {
        const httpsrv_route_entry *r = &s->routes[i];
        if (strncmp(uri, r->prefix, r->len) == 0 && (uri[r->len] == '\0' || uri[r->len] == '/'))
            return r->h(conn, r->ud);
    }
    return 0;
}

/* ---- server ---- */

httpsrv *httpsrv_start(const char *listen_on, int threads, const httpsrv_route *routes,
                       size_t n_routes, char *err, size_t errlen) {
    if (!listen_on || !*listen_on || strlen(listen_on) >= sizeof(((httpsrv *)0)->listen_on)) {
        snprintf(err, errlen, "bad listen address '%s'", listen_on ? listen_on : "");
        return NULL;
    }
    if (threads < 1 || threads > 1024) {
        snprintf(err, errlen, "threads must be 1..1024, got %d", threads);
        return NULL;
    }
    if (n_routes > HTTPSRV_ROUTES_MAX) {
        snprintf(err, errlen, "at most %d routes, got %zu", HTTPSRV_ROUTES_MAX, n_routes);
        return NULL;
    }
    for (size_t i = 0; i < n_routes; i++) {
        const char *p = routes[i].prefix;
        if (!p || p[0] != '/' || strlen(p) >= sizeof(((httpsrv_route_entry *)0)->prefix) ||
            !routes[i].h) {
            snprintf(err, errlen, "route %zu: a handler and a path of 1..127 bytes starting "
                     "with '/' are needed", i);
            return NULL;
        }
    }
    httpsrv *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n_routes; i++) {
        httpsrv_route_entry *r = &s->routes[i];
        snprintf(r->prefix, sizeof r->prefix, "%s", routes[i].prefix);
        r->len = strlen(r->prefix);
        r->h = routes[i].h;
        r->ud = routes[i].ud;
    }
    s->n_routes = n_routes;
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
    cb.begin_request = on_begin_request;

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

/* ---- stopping ----
 *
 * civetweb's listener thread looks at the stop flag only between polls of
 * the listening socket, and each poll waits up to 2 s: mg_stop() alone took
 * up to 2 s, during which new clients were queued by the kernel and then
 * reset. A connection of our own ends the poll at once, so a waker connects
 * every 10 ms until mg_stop() returns. civetweb accepts nothing once the
 * flag is set, so these connections are never served. */

typedef struct {
    struct sockaddr_storage addr;
    socklen_t len;
    atomic_int done;
} waker;

/* The address the listener can be reached at: its own host, or loopback
 * when it listens on every address. 0, or -1 when there is none. */
static int waker_addr(const httpsrv *s, waker *w) {
    struct mg_server_port ports[1];
    if (mg_get_server_ports(s->ctx, 1, ports) < 1) return -1;
    char host[128] = "";
    const char *colon = strrchr(s->listen_on, ':');
    if (colon) snprintf(host, sizeof host, "%.*s", (int)(colon - s->listen_on), s->listen_on);
    if (host[0] == '[') { /* "[::1]" */
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0) /* "8080" too: no colon, no host */
        snprintf(host, sizeof host, "127.0.0.1");
    else if (strcmp(host, "::") == 0)
        snprintf(host, sizeof host, "::1");
    char port[16];
    snprintf(port, sizeof port, "%d", ports[0].port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai) return -1;
    memcpy(&w->addr, ai->ai_addr, ai->ai_addrlen);
    w->len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

static void *waker_run(void *arg) {
    waker *w = arg;
    long long deadline = mono_now_ms() + 5000; /* past civetweb's own 2 s */
    while (!atomic_load(&w->done) && mono_now_ms() < deadline) {
        int fd = socket(w->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
            /* bounded: a full accept queue would drop the SYN, and a
             * blocking connect would then retry for seconds */
            struct timeval tv = {0, 100 * 1000};
            (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            (void)connect(fd, (struct sockaddr *)&w->addr, w->len);
            close(fd);
        }
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    return NULL;
}

void httpsrv_stop(httpsrv *s) {
    if (!s) return;
    waker w = {.done = 0};
    pthread_t t;
    int waking = waker_addr(s, &w) == 0 && pthread_create(&t, NULL, waker_run, &w) == 0;
    mg_stop(s->ctx); /* waits for the workers: requests in flight finish */
    if (waking) {
        atomic_store(&w.done, 1);
        pthread_join(t, NULL);
    }
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

/* Whether `option` is one of the comma-separated tokens of a header value. */
static int header_has(const char *value, const char *option) {
    size_t n = strlen(option);
    for (const char *p = value; *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        size_t t = len;
        while (t > 0 && (p[t - 1] == ' ' || p[t - 1] == '\t')) t--;
        if (t == n && strncasecmp(p, option, n) == 0) return 1;
        p += len;
    }
    return 0;
}

/* ---- keep-alive turns ---- */

/* A civetweb worker serves one connection at a time, until it closes. With
 * more busy keep-alive clients than workers, the others wait in the accept
 * queue until one closes, which a busy client never does: at 200 clients and
 * order-api's 64 workers, 136 got no answer at all, where DTM (Go) serves
 * every connection. So a connection that has held its worker for
 * HTTPSRV_TURN_MS gets "Connection: close" on its next reply and civetweb
 * closes it; its client reconnects behind the ones waiting. A waiting client
 * is served within about (clients - workers) / workers turns, and a busy
 * client reconnects at most once a turn, which costs little next to its
 * requests. */

/* The connection this worker thread serves, and since when. */
static _Thread_local struct {
    char addr[48]; /* as mg_request_info.remote_addr */
    int port;      /* 0: none yet */
    long long since_ms;
} turn;

/* 1 when the connection of this request has had its turn. */
static int turn_is_over(const struct mg_request_info *ri) {
    long long now = mono_now_ms();
    if (ri->remote_port != turn.port || strcmp(ri->remote_addr, turn.addr) != 0) {
        snprintf(turn.addr, sizeof turn.addr, "%s", ri->remote_addr);
        turn.port = ri->remote_port;
        turn.since_ms = now;
        return 0;
    }
    if (now - turn.since_ms < HTTPSRV_TURN_MS) return 0;
    turn.port = 0; /* this connection ends with the reply */
    return 1;
}

/* Sends status + JSON text. A handler's reply is written here in one write:
 * the status line in the request's HTTP version, and civetweb's own keep-alive
 * rule for a request it read without trouble (keep-alive is enabled): a
 * Connection header keeps the connection only if it says keep-alive; without
 * one, HTTP/1.1 keeps it and HTTP/1.0 does not; and a connection whose turn
 * is over is closed. civetweb's own errors go
 * through its header functions (one send per line), which also know whether
 * it will close the connection. */
static void reply_text(struct mg_connection *conn, int status, const char *text, size_t n,
                       int by_civetweb) {
    if (by_civetweb) {
        char clen[32];
        snprintf(clen, sizeof clen, "%zu", n);
        mg_response_header_start(conn, status);
        mg_response_header_add(conn, "Content-Type", "application/json", -1);
        mg_response_header_add(conn, "Content-Length", clen, -1);
        mg_response_header_send(conn);
        mg_write(conn, text, n);
        return;
    }
    const struct mg_request_info *ri = mg_get_request_info(conn);
    int http11 = ri && ri->http_version && strcmp(ri->http_version, "1.1") == 0;
    const char *connection = mg_get_header(conn, "Connection");
    int keep = connection ? header_has(connection, "keep-alive") : http11;
    if (keep && ri && turn_is_over(ri)) {
        keep = 0;
        mg_disable_connection_keep_alive(conn);
    }
    char date[64];
    struct tm tm;
    time_t now = time(NULL);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    char head[512];
    int h = snprintf(head, sizeof head,
                     "HTTP/1.%d %d %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nDate: %s\r\nConnection: %s\r\n\r\n",
                     http11, status, mg_get_response_code_text(conn, status), n, date,
                     keep ? "keep-alive" : "close");
    /* The parts are bounded (under 300 bytes); the clamp only keeps memcpy safe. */
    if (h < 0) h = 0;
    if ((size_t)h >= sizeof head) h = (int)sizeof head - 1;
    char *msg = malloc((size_t)h + n);
    if (!msg) { /* out of memory: the same reply in two writes */
        mg_write(conn, head, (size_t)h);
        mg_write(conn, text, n);
        return;
    }
    memcpy(msg, head, (size_t)h);
    memcpy(msg + h, text, n);
    mg_write(conn, msg, (size_t)h + n);
    free(msg);
}

static void reply_json(struct mg_connection *conn, int status, json_t *body, int by_civetweb) {
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        static const char oom[] = "{\"error\":\"cannot encode the reply\"}";
        reply_text(conn, 500, oom, sizeof oom - 1, by_civetweb);
        return;
    }
    reply_text(conn, status, text, strlen(text), by_civetweb);
    free(text);
}

void httpsrv_reply_json(struct mg_connection *conn, int status, json_t *body) {
    reply_json(conn, status, body, 0);
}

static void reply_error_v(struct mg_connection *conn, int status, int by_civetweb, const char *fmt,
                          va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
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
    reply_json(conn, status, body, by_civetweb);
}

static void reply_error(struct mg_connection *conn, int status, int by_civetweb, const char *fmt,
                        ...) {
    va_list ap;
    va_start(ap, fmt);
    reply_error_v(conn, status, by_civetweb, fmt, ap);
    va_end(ap);
}

void httpsrv_reply_error(struct mg_connection *conn, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    reply_error_v(conn, status, 0, fmt, ap);
    va_end(ap);
}
