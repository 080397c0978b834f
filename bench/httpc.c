/* httpc.c: the load generator's HTTP/1.1 client (bench.h).
 *
 * Why not common/httpcli: that client shares a process-wide pool of at most
 * 64 idle connections behind a mutex, which is right for the coordinator's
 * branch calls but would make the load generator itself the bottleneck (and
 * open new connections) at 200 workers. Here each worker owns exactly one
 * connection, as `ab -k` or wrk do, so what is measured is the server.
 *
 * Only what the benchmark needs: a request in one write, a reply with
 * Content-Length (cdtm's servers always send it) or read until close. A
 * reused connection that fails before any reply byte arrives is retried
 * once on a fresh one (the server may have closed an idle connection). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "bench.h"

#define HTTPC_MAX_REPLY (4u << 20)

int httpc_init(httpc *c, const char *base_url, int keepalive, int timeout_ms, char *err,
               size_t errlen) {
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->keepalive = keepalive;
    c->timeout_ms = timeout_ms;
    const char *p = base_url;
    if (strncmp(p, "http://", 7) != 0) {
        snprintf(err, errlen, "bad URL '%s': want http://host:port", base_url);
        return -1;
    }
    p += 7;
    const char *colon = strchr(p, ':');
    if (!colon || (size_t)(colon - p) >= sizeof c->host || colon == p) {
        snprintf(err, errlen, "bad URL '%s': want http://host:port", base_url);
        return -1;
    }
    memcpy(c->host, p, (size_t)(colon - p));
    c->host[colon - p] = '\0';
    c->port = atoi(colon + 1);
    if (c->port <= 0 || c->port > 65535) {
        snprintf(err, errlen, "bad port in URL '%s'", base_url);
        return -1;
    }
    return 0;
}

void httpc_close(httpc *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->cap = 0;
}

static int httpc_connect(httpc *c, char *err, size_t errlen) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    struct timeval tv = {c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
    if (inet_pton(AF_INET, c->host, &sa.sin_addr) != 1) {
        close(fd);
        snprintf(err, errlen, "host '%s' is not an IPv4 address", c->host);
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        snprintf(err, errlen, "connect %s:%d: %s", c->host, c->port, strerror(errno));
        close(fd);
        return -1;
    }
    c->fd = fd;
    return 0;
}

static int httpc_write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Case-insensitive search for a header line "name:" in the head; returns the
 * value start or NULL. */
static const char *httpc_header(const char *head, size_t head_len, const char *name) {
    size_t nl = strlen(name);
    const char *end = head + head_len;
    for (const char *p = head; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) break;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ' || *v == '\t') v++;
            return v;
        }
        p = eol + 1;
    }
    return NULL;
}

/* One attempt on the current connection. Returns 0, -1 on error, -2 when
 * the connection failed before any reply byte (worth one retry). */
static int httpc_once(httpc *c, const char *req, size_t req_len, int *status, const char **reply,
                      size_t *reply_len, char *err, size_t errlen) {
    if (httpc_write_all(c->fd, req, req_len) != 0) {
        snprintf(err, errlen, "send to %s:%d: %s", c->host, c->port, strerror(errno));
        return -2;
    }
    size_t len = 0, head_len = 0, want = (size_t)-1;
    int until_close = 0;
    for (;;) {
        if (len + 4096 + 1 > c->cap) {
            size_t ncap = c->cap ? c->cap * 2 : 16384;
            if (ncap > HTTPC_MAX_REPLY + 1) {
                snprintf(err, errlen, "reply from %s:%d larger than %u bytes", c->host, c->port,
                         HTTPC_MAX_REPLY);
                return -1;
            }
            char *nb = realloc(c->buf, ncap);
            if (!nb) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            c->buf = nb;
            c->cap = ncap;
        }
        ssize_t r = recv(c->fd, c->buf + len, c->cap - 1 - len, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            snprintf(err, errlen, "read from %s:%d: %s", c->host, c->port,
                     e == EAGAIN || e == EWOULDBLOCK ? "timeout" : strerror(e));
            return len == 0 && e != EAGAIN && e != EWOULDBLOCK ? -2 : -1;
        }
        if (r == 0) {
            if (until_close) break;
            snprintf(err, errlen, "%s:%d closed the connection%s", c->host, c->port,
                     len ? " mid-reply" : "");
            return len == 0 ? -2 : -1;
        }
        len += (size_t)r;
        c->buf[len] = '\0';
        if (!head_len) {
            char *e = strstr(c->buf, "\r\n\r\n");
            if (!e) continue;
            head_len = (size_t)(e - c->buf) + 4;
            if (sscanf(c->buf, "HTTP/1.%*d %d", status) != 1) {
                snprintf(err, errlen, "bad status line from %s:%d", c->host, c->port);
                return -1;
            }
            const char *te = httpc_header(c->buf, head_len, "Transfer-Encoding");
            if (te && strncasecmp(te, "chunked", 7) == 0) {
                snprintf(err, errlen, "chunked replies are not supported");
                return -1;
            }
            const char *cl = httpc_header(c->buf, head_len, "Content-Length");
            if (cl) want = head_len + strtoull(cl, NULL, 10);
            else until_close = 1;
            const char *conn = httpc_header(c->buf, head_len, "Connection");
            if (conn && strncasecmp(conn, "close", 5) == 0) c->keepalive = c->keepalive ? 2 : 0;
        }
        if (head_len && !until_close && len >= want) break;
    }
    *reply = c->buf + head_len;
    *reply_len = len - head_len;
    return 0;
}

int httpc_request(httpc *c, const char *method, const char *path, const char *body,
                  size_t body_len, int *status, const char **reply, size_t *reply_len,
                  char *err, size_t errlen) {
    char head[1024];
    int hn = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n%s\r\n",
                      method, path, c->host, c->port, body_len,
                      c->keepalive ? "" : "Connection: close\r\n");
    if (hn < 0 || (size_t)hn >= sizeof head) {
        snprintf(err, errlen, "request head too long");
        return -1;
    }
    size_t req_len = (size_t)hn + body_len;
    char stackbuf[4096];
    char *req = req_len <= sizeof stackbuf ? stackbuf : malloc(req_len);
    if (!req) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(req, head, (size_t)hn);
    if (body_len) memcpy(req + hn, body, body_len);

    int rc = -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        int reused = c->fd >= 0;
        if (!reused && httpc_connect(c, err, errlen) != 0) break;
        rc = httpc_once(c, req, req_len, status, reply, reply_len, err, errlen);
        if (rc == 0) break;
        close(c->fd);
        c->fd = -1;
        if (rc != -2 || !reused) break; /* only a stale reused connection is retried */
    }
    if (req != stackbuf) free(req);
    if (rc != 0) return -1;
    /* The server said close (or we asked to): next request on a new one. */
    if (c->keepalive != 1) {
        close(c->fd);
        c->fd = -1;
        if (c->keepalive == 2) c->keepalive = 1;
    }
    return 0;
}
