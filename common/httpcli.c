/* httpcli.c: a small blocking HTTP/1.1 client (httpcli.h) on plain sockets.
 *
 * One request = find or open a connection to host:port, write the request in
 * one buffer, read the status line and headers, then the body by
 * Content-Length, chunked encoding, or until the peer closes. Every wait
 * (connect, write, read) is a poll() against one overall deadline.
 *
 * Keep-alive: a connection whose reply was read completely, and that neither
 * side asked to close, goes back to a small process-wide pool of idle
 * connections (bounded, guarded by a mutex). A server may close an idle
 * connection at any moment, so when a REUSED connection fails before any
 * byte of the reply arrived, the request is sent once more on a fresh
 * connection. The request may then reach the server twice; that is
 * acceptable for cdtm's callers, whose requests are idempotent (DTM branch
 * calls go through the barrier; etcd calls are puts and reads).
 */
#include "httpcli.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mono.h"

#define HTTPCLI_BODY_MAX (4u << 20)    /* replies larger than 4 MiB are refused */
#define HTTPCLI_HEAD_MAX (64u << 10)   /* status line + headers */
#define HTTPCLI_IDLE_MAX 64            /* idle connections kept, all hosts together */
#define HTTPCLI_IDLE_TTL_MS 30000      /* an idle connection older than this is closed */
#define HTTPCLI_HOSTPORT_MAX 300

/* ---- time ---- */

static int httpcli_left_ms(long long deadline) {
    long long left = deadline - mono_now_ms();
    return left < 0 ? 0 : (int)left;
}

/* ---- the idle pool ---- */

typedef struct {
    char hostport[HTTPCLI_HOSTPORT_MAX];
    int fd;
    long long since_ms;
} httpcli_idle;

static pthread_mutex_t httpcli_mu = PTHREAD_MUTEX_INITIALIZER;
static httpcli_idle httpcli_pool[HTTPCLI_IDLE_MAX];
static size_t httpcli_npool;

/* 1 when an idle connection still looks usable: not readable (a readable
 * idle socket means EOF or stray bytes). */
static int httpcli_idle_ok(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 0;
}

/* Takes the most recent idle connection to hostport, or -1. */
static int httpcli_pool_take(const char *hostport) {
    for (;;) {
        int fd = -1;
        long long since = 0;
        pthread_mutex_lock(&httpcli_mu);
        for (size_t i = httpcli_npool; i-- > 0;) {
            if (strcmp(httpcli_pool[i].hostport, hostport) == 0) {
                fd = httpcli_pool[i].fd;
                since = httpcli_pool[i].since_ms;
                httpcli_pool[i] = httpcli_pool[--httpcli_npool];
                break;
            }
        }
        pthread_mutex_unlock(&httpcli_mu);
        if (fd < 0) return -1;
        if (mono_now_ms() - since < HTTPCLI_IDLE_TTL_MS && httpcli_idle_ok(fd)) return fd;
        close(fd);
    }
}

static void httpcli_pool_put(const char *hostport, int fd) {
    int evict = -1;
    pthread_mutex_lock(&httpcli_mu);
    if (httpcli_npool == HTTPCLI_IDLE_MAX) {
        /* Full: drop the oldest. */
        size_t old = 0;
        for (size_t i = 1; i < httpcli_npool; i++)
            if (httpcli_pool[i].since_ms < httpcli_pool[old].since_ms) old = i;
        evict = httpcli_pool[old].fd;
        httpcli_pool[old] = httpcli_pool[--httpcli_npool];
    }
    httpcli_idle *e = &httpcli_pool[httpcli_npool++];
    snprintf(e->hostport, sizeof e->hostport, "%s", hostport);
    e->fd = fd;
    e->since_ms = mono_now_ms();
    pthread_mutex_unlock(&httpcli_mu);
    if (evict >= 0) close(evict);
}

void httpcli_close_idle(void) {
    pthread_mutex_lock(&httpcli_mu);
    for (size_t i = 0; i < httpcli_npool; i++) close(httpcli_pool[i].fd);
    httpcli_npool = 0;
    pthread_mutex_unlock(&httpcli_mu);
}

/* ---- URL ---- */

typedef struct {
    char host[256];
    char port[8];
    char hostport[HTTPCLI_HOSTPORT_MAX]; /* as written in the URL: the Host header and pool key */
    const char *path;                    /* "/path?query" inside the caller's URL, or "" */
} httpcli_url;

static int httpcli_parse_url(const char *url, httpcli_url *u, char *err, size_t errlen) {
    if (strncasecmp(url, "https://", 8) == 0) {
        snprintf(err, errlen, "https is not supported: %.200s", url);
        return -1;
    }
    if (strncasecmp(url, "http://", 7) != 0) {
        snprintf(err, errlen, "bad URL (want http://host:port/path): %.200s", url);
        return -1;
    }
    const char *hp = url + 7;
    size_t hplen = strcspn(hp, "/?#");
    if (hplen == 0 || hplen >= sizeof u->hostport) {
        snprintf(err, errlen, "bad URL host: %.200s", url);
        return -1;
    }
    memcpy(u->hostport, hp, hplen);
    u->hostport[hplen] = '\0';
    u->path = hp + hplen;
    for (const char *p = u->path; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            snprintf(err, errlen, "bad URL (control or space character): %.200s", url);
            return -1;
        }
    const char *h = u->hostport, *colon;
    size_t hlen;
    if (h[0] == '[') { /* [v6]:port */
        const char *close_b = strchr(h, ']');
        if (!close_b) {
            snprintf(err, errlen, "bad URL host: %.200s", url);
            return -1;
        }
        h++;
        hlen = (size_t)(close_b - h);
        colon = close_b[1] == ':' ? close_b + 1 : NULL;
    } else {
        colon = strrchr(h, ':');
        hlen = colon ? (size_t)(colon - h) : strlen(h);
    }
    if (hlen == 0 || hlen >= sizeof u->host) {
        snprintf(err, errlen, "bad URL host: %.200s", url);
        return -1;
    }
    memcpy(u->host, h, hlen);
    u->host[hlen] = '\0';
    const char *port = colon ? colon + 1 : "80";
    char *end;
    long pn = strtol(port, &end, 10);
    if (!*port || *end || pn <= 0 || pn > 65535) {
        snprintf(err, errlen, "bad URL port: %.200s", url);
        return -1;
    }
    snprintf(u->port, sizeof u->port, "%ld", pn);
    return 0;
}

/* ---- connecting ---- */

static int httpcli_connect(const httpcli_url *u, long long deadline, char *err, size_t errlen) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int gai = getaddrinfo(u->host, u->port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "resolve %s: %s", u->host, gai_strerror(gai));
        return -1;
    }
    int fd = -1, last_errno = 0, timed_out = 0;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        int s = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (s < 0) {
            last_errno = errno;
            continue;
        }
        int rc = connect(s, a->ai_addr, a->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            struct pollfd p = {.fd = s, .events = POLLOUT};
            int pr;
            do pr = poll(&p, 1, httpcli_left_ms(deadline));
            while (pr < 0 && errno == EINTR);
            if (pr == 0) {
                timed_out = 1;
                close(s);
                break;
            }
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (pr < 0) soerr = errno;
            else getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &sl);
            rc = soerr ? -1 : 0;
            errno = soerr;
        }
        if (rc != 0) {
            last_errno = errno;
            close(s);
            continue;
        }
        int one = 1;
        /* The request goes out in one write, but the reply's ACK should not
         * wait for Nagle either (environment.md §5). */
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fd = s;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        if (timed_out) snprintf(err, errlen, "connect %s: timeout", u->hostport);
        else snprintf(err, errlen, "connect %s: %s", u->hostport,
                      strerror(last_errno ? last_errno : ECONNREFUSED));
    }
    return fd;
}

/* ---- writing ---- */

/* Writes all of buf. Returns 0, -1 on a socket error (errno set), -2 on timeout. */
static int httpcli_write_all(int fd, const char *buf, size_t len, long long deadline) {
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int left = httpcli_left_ms(deadline);
            if (left == 0 || poll(&p, 1, left) == 0) return -2;
            continue;
        }
        return -1;
    }
    return 0;
}

/* ---- reading ---- */

typedef struct {
    int fd;
    long long deadline;
    char *buf;      /* bytes received and not yet consumed: buf[pos..len) */
    size_t len, pos, cap;
    size_t total;   /* bytes received on this request, for "nothing arrived yet" */
    int eof;
    int timeout;    /* set when the deadline passed */
    int sock_err;   /* errno of a failed recv */
} httpcli_reader;

/* Receives more bytes. Returns 1 when some arrived, 0 at EOF, -1 on error or
 * timeout. */
static int httpcli_fill(httpcli_reader *r) {
    if (r->pos > 0 && r->pos == r->len) r->pos = r->len = 0;
    if (r->len == r->cap) {
        if (r->pos > 0) {
            memmove(r->buf, r->buf + r->pos, r->len - r->pos);
            r->len -= r->pos;
            r->pos = 0;
        } else {
            size_t ncap = r->cap ? r->cap * 2 : 16384;
            char *nb = realloc(r->buf, ncap);
            if (!nb) {
                r->sock_err = ENOMEM;
                return -1;
            }
            r->buf = nb;
            r->cap = ncap;
        }
    }
    for (;;) {
        ssize_t n = recv(r->fd, r->buf + r->len, r->cap - r->len, 0);
        if (n > 0) {
            r->len += (size_t)n;
            r->total += (size_t)n;
            return 1;
        }
        if (n == 0) {
            r->eof = 1;
            return 0;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            r->sock_err = errno;
            return -1;
        }
        struct pollfd p = {.fd = r->fd, .events = POLLIN};
        int left = httpcli_left_ms(r->deadline);
        int pr = left ? poll(&p, 1, left) : 0;
        if (pr == 0) {
            r->timeout = 1;
            return -1;
        }
        if (pr < 0 && errno != EINTR) {
            r->sock_err = errno;
            return -1;
        }
    }
}

/* Reads one CRLF-terminated line (CRLF stripped, NUL-terminated in place).
 * Returns the line, or NULL on EOF/error/too long. */
static char *httpcli_line(httpcli_reader *r, size_t max) {
    for (;;) {
        /* buf stays NULL until the first byte arrives. */
        char *start = r->buf ? r->buf + r->pos : NULL;
        char *nl = start && r->len > r->pos ? memchr(start, '\n', r->len - r->pos) : NULL;
        if (nl) {
            *nl = '\0';
            if (nl > start && nl[-1] == '\r') nl[-1] = '\0';
            r->pos = (size_t)(nl - r->buf) + 1;
            return start;
        }
        if (r->len - r->pos > max) return NULL;
        if (httpcli_fill(r) <= 0) return NULL;
    }
}

/* The reply being built. */
typedef struct {
    char *data;
    size_t len, cap;
} httpcli_body;

static int httpcli_body_add(httpcli_body *b, const char *p, size_t n) {
    if (b->len + n > HTTPCLI_BODY_MAX) return -1;
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 4096;
        while (ncap < b->len + n + 1) ncap *= 2;
        char *nd = realloc(b->data, ncap);
        if (!nd) return -1;
        b->data = nd;
        b->cap = ncap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

/* Moves up to `want` body bytes from the reader into the body. Returns 0, or
 * -1 (reader error), -2 (EOF too early), -3 (too large). */
static int httpcli_read_exact(httpcli_reader *r, httpcli_body *b, size_t want) {
    while (want > 0) {
        if (r->pos == r->len) {
            int f = httpcli_fill(r);
            if (f < 0) return -1;
            if (f == 0) return -2;
        }
        size_t n = r->len - r->pos;
        if (n > want) n = want;
        if (httpcli_body_add(b, r->buf + r->pos, n) != 0) return -3;
        r->pos += n;
        want -= n;
    }
    return 0;
}

/* A chunked body, then its trailers. Same returns as httpcli_read_exact(),
 * plus -4 for a malformed chunk size. */
static int httpcli_read_chunked(httpcli_reader *r, httpcli_body *b) {
    for (;;) {
        char *line = httpcli_line(r, 1024);
        if (!line) return -1;
        char *end;
        unsigned long long n = strtoull(line, &end, 16);
        if (end == line) return -4;
        if (n > HTTPCLI_BODY_MAX || b->len + n > HTTPCLI_BODY_MAX) return -3;
        if (n == 0) break;
        int e = httpcli_read_exact(r, b, (size_t)n);
        if (e != 0) return e;
        if (!httpcli_line(r, 16)) return -1;
    }
    for (;;) { /* trailers, up to the empty line */
        char *t = httpcli_line(r, HTTPCLI_HEAD_MAX);
        if (!t) return -1;
        if (!*t) return 0;
    }
}

/* A body without a length: everything until the server closes. */
static int httpcli_read_to_eof(httpcli_reader *r, httpcli_body *b) {
    for (;;) {
        if (r->pos < r->len) {
            if (httpcli_body_add(b, r->buf + r->pos, r->len - r->pos) != 0) return -3;
            r->pos = r->len;
        }
        int f = httpcli_fill(r);
        if (f == 0) return 0;
        if (f < 0) return -1;
    }
}

/* ---- one exchange on one connection ---- */

typedef enum {
    HX_OK = 0,
    HX_STALE,   /* the connection failed before any byte of the reply: may retry */
    HX_FAIL,    /* err filled */
} httpcli_xrc;

static void httpcli_io_err(const httpcli_reader *r, int timeout_ms, const char *what, char *err,
                           size_t errlen) {
    if (r->timeout) snprintf(err, errlen, "timeout after %d ms", timeout_ms);
    else if (r->sock_err == ENOMEM) snprintf(err, errlen, "out of memory");
    else if (r->sock_err) snprintf(err, errlen, "%s: %s", what, strerror(r->sock_err));
    else snprintf(err, errlen, "%s: connection closed by peer", what);
}

/* Sends req on fd and reads the reply into *out. *keep says whether the
 * connection may be reused afterwards. */
static httpcli_xrc httpcli_exchange(int fd, const char *req, size_t reqlen, const char *method,
                                    long long deadline, int timeout_ms, httpcli_resp *out, int *keep,
                                    char *err, size_t errlen) {
    *keep = 0;
    int w = httpcli_write_all(fd, req, reqlen, deadline);
    if (w == -2) {
        snprintf(err, errlen, "timeout after %d ms", timeout_ms);
        return HX_FAIL;
    }
    if (w == -1) {
        snprintf(err, errlen, "send: %s", strerror(errno));
        return HX_STALE;
    }

    httpcli_reader r = {.fd = fd, .deadline = deadline};
    httpcli_body body = {0};
    httpcli_xrc rc = HX_FAIL;
    int status = 0;
    long long clen = -1;
    int chunked = 0, conn_close = 0, http10 = 0;

    /* Status line and headers; interim 1xx replies are skipped. */
    for (;;) {
        char *line = httpcli_line(&r, HTTPCLI_HEAD_MAX);
        if (!line) {
            if (r.total == 0 && !r.timeout) rc = HX_STALE;
            httpcli_io_err(&r, timeout_ms, "reading the reply", err, errlen);
            goto done;
        }
        int maj = 0, min = 0;
        if (sscanf(line, "HTTP/%d.%d %d", &maj, &min, &status) != 3 || status < 100 || status > 999) {
            snprintf(err, errlen, "bad status line: %.100s", line);
            goto done;
        }
        http10 = maj == 1 && min == 0;
        conn_close = http10;
        clen = -1;
        chunked = 0;
        size_t head_bytes = 0;
        for (;;) {
            char *h = httpcli_line(&r, HTTPCLI_HEAD_MAX);
            if (!h) {
                httpcli_io_err(&r, timeout_ms, "reading the headers", err, errlen);
                goto done;
            }
            head_bytes += strlen(h) + 2;
            if (head_bytes > HTTPCLI_HEAD_MAX) {
                snprintf(err, errlen, "reply headers over %u bytes", HTTPCLI_HEAD_MAX);
                goto done;
            }
            if (!*h) break;
            char *colon = strchr(h, ':');
            if (!colon) continue;
            *colon = '\0';
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t') v++;
            if (strcasecmp(h, "Content-Length") == 0) {
                char *end;
                long long n = strtoll(v, &end, 10);
                if (end == v || n < 0) {
                    snprintf(err, errlen, "bad Content-Length: %.40s", v);
                    goto done;
                }
                clen = n;
            } else if (strcasecmp(h, "Transfer-Encoding") == 0) {
                chunked = strcasestr(v, "chunked") != NULL;
            } else if (strcasecmp(h, "Connection") == 0) {
                if (strcasestr(v, "close")) conn_close = 1;
                else if (strcasestr(v, "keep-alive")) conn_close = 0;
            }
        }
        if (status >= 200) break;
    }

    int brc = 0;
    if (strcasecmp(method, "HEAD") == 0 || status == 204 || status == 304) {
        /* no body */
    } else if (chunked) {
        brc = httpcli_read_chunked(&r, &body);
    } else if (clen >= 0) {
        brc = clen > (long long)HTTPCLI_BODY_MAX ? -3 : httpcli_read_exact(&r, &body, (size_t)clen);
    } else {
        conn_close = 1; /* no length: the body ends when the server closes */
        brc = httpcli_read_to_eof(&r, &body);
    }
    if (brc == -3) {
        snprintf(err, errlen, "reply over %u bytes refused", HTTPCLI_BODY_MAX);
        goto done;
    }
    if (brc == -4) {
        snprintf(err, errlen, "bad chunked encoding");
        goto done;
    }
    if (brc != 0) {
        httpcli_io_err(&r, timeout_ms, "reading the body", err, errlen);
        goto done;
    }

    if (!body.data && httpcli_body_add(&body, "", 0) != 0) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    out->status = status;
    out->body = body.data;
    out->body_len = body.len;
    body.data = NULL;
    /* Reusable only when nothing extra arrived and nobody asked to close. */
    *keep = !conn_close && r.pos == r.len;
    rc = HX_OK;
done:
    free(body.data);
    free(r.buf);
    return rc;
}

/* ---- the request ---- */

/* Builds the request text. Returns a malloc'd buffer, or NULL with err. */
static char *httpcli_build(const char *method, const httpcli_url *u, const char *const *headers,
                           const void *body, size_t len, size_t *outlen, char *err, size_t errlen) {
    size_t cap = strlen(method) + strlen(u->path) + strlen(u->hostport) + 128 + len;
    for (size_t i = 0; headers && headers[i]; i += 2) {
        if (!headers[i + 1]) {
            snprintf(err, errlen, "header '%.100s' has no value", headers[i]);
            return NULL;
        }
        if (strpbrk(headers[i], "\r\n:") || !*headers[i] || strpbrk(headers[i + 1], "\r\n")) {
            snprintf(err, errlen, "bad header '%.100s'", headers[i]);
            return NULL;
        }
        cap += strlen(headers[i]) + strlen(headers[i + 1]) + 4;
    }
    char *req = malloc(cap);
    if (!req) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    size_t pos = (size_t)snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: %s\r\n", method,
                                  *u->path == '/' ? u->path : "/", u->hostport);
    if (*u->path == '?') /* "http://h:p?x=1": the path is "/" followed by the query */
        pos = (size_t)snprintf(req, cap, "%s /%s HTTP/1.1\r\nHost: %s\r\n", method, u->path,
                               u->hostport);
    for (size_t i = 0; headers && headers[i]; i += 2)
        pos += (size_t)snprintf(req + pos, cap - pos, "%s: %s\r\n", headers[i], headers[i + 1]);
    if (len > 0 || (strcasecmp(method, "GET") != 0 && strcasecmp(method, "HEAD") != 0))
        pos += (size_t)snprintf(req + pos, cap - pos, "Content-Length: %zu\r\n", len);
    pos += (size_t)snprintf(req + pos, cap - pos, "\r\n");
    if (len) memcpy(req + pos, body, len);
    *outlen = pos + len;
    return req;
}

int httpcli_request(const char *method, const char *url, const char *const *headers, const void *body,
                    size_t len, int timeout_ms, httpcli_resp *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    char dummy[8];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (!method || !*method || strpbrk(method, " \r\n") || !url) {
        snprintf(err, errlen, "bad method or URL");
        return -1;
    }
    if (!body && len) {
        snprintf(err, errlen, "no body bytes");
        return -1;
    }
    httpcli_url u;
    if (httpcli_parse_url(url, &u, err, errlen) != 0) return -1;
    if (timeout_ms <= 0) timeout_ms = 1;
    long long deadline = mono_now_ms() + timeout_ms;

    size_t reqlen = 0;
    char *req = httpcli_build(method, &u, headers, body, len, &reqlen, err, errlen);
    if (!req) return -1;

    int rc = -1;
    /* At most two attempts: a reused connection that turns out dead is
     * replaced once by a fresh one. */
    for (int attempt = 0; attempt < 2; attempt++) {
        int reused = 1;
        int fd = attempt == 0 ? httpcli_pool_take(u.hostport) : -1;
        if (fd < 0) {
            reused = 0;
            fd = httpcli_connect(&u, deadline, err, errlen);
            if (fd < 0) break;
        }
        int keep = 0;
        httpcli_xrc x = httpcli_exchange(fd, req, reqlen, method, deadline, timeout_ms, out, &keep, err,
                                         errlen);
        if (x == HX_OK) {
            if (keep) httpcli_pool_put(u.hostport, fd);
            else close(fd);
            rc = 0;
            break;
        }
        close(fd);
        if (!(x == HX_STALE && reused)) break;
    }
    free(req);
    if (rc != 0) memset(out, 0, sizeof *out);
    return rc;
}

void httpcli_resp_free(httpcli_resp *r) {
    if (!r) return;
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
}
