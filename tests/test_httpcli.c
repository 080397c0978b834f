/* test_httpcli.c: the small HTTP/1.1 client (common/httpcli) against a tiny
 * server in the same process: a thread with a listening socket that answers
 * a few paths the way real servers do (Content-Length, chunked, slow, huge,
 * closing). What a caller observes: status and body, timeouts and refused
 * connections as errors, keep-alive reuse, and the 4 MiB reply bound. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "httpcli.h"

/* ---- the tiny server ---- */

static int srv_fd = -1;
static int srv_port;
static atomic_int srv_accepts;   /* connections accepted */
static atomic_int srv_requests;  /* requests served */
static atomic_int srv_drops;     /* connections closed by /drop */

static int send_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_str(int fd, const char *s) { return send_all(fd, s, strlen(s)); }

/* Reads one request (headers + Content-Length body) into buf. Returns its
 * length, 0 at EOF, -1 on error. */
static int read_request(int fd, char *buf, size_t cap, char **body, size_t *blen) {
    size_t len = 0;
    char *end = NULL;
    while (!end) {
        if (len + 1 >= cap) return -1;
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0) return n == 0 && len == 0 ? 0 : -1;
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t head = (size_t)(end - buf) + 4;
    size_t clen = 0;
    char *cl = strcasestr(buf, "Content-Length:");
    if (cl && cl < end) clen = strtoul(cl + 15, NULL, 10);
    while (len < head + clen) {
        if (len + 1 >= cap) return -1;
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0) return -1;
        len += (size_t)n;
    }
    buf[len] = '\0';
    *body = buf + head;
    *blen = clen;
    return (int)len;
}

/* Serves one connection until the client closes (or a path says close). */
static void *serve_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    static __thread char buf[1 << 16];
    int drop_next = 0, dropped = 0;
    for (;;) {
        char *body = NULL;
        size_t blen = 0;
        int n = read_request(fd, buf, sizeof buf, &body, &blen);
        if (n <= 0) break;
        atomic_fetch_add(&srv_requests, 1);
        if (drop_next) break; /* hang up without a reply */
        char method[16] = "", path[1024] = "";
        sscanf(buf, "%15s %1023s", method, path);
        char head[2048];
        if (strncmp(path, "/echo", 5) == 0) {
            /* Echoes method, path, a header and the body. */
            char *xh = strcasestr(buf, "X-Test:");
            char xv[64] = "";
            if (xh) sscanf(xh + 7, " %63[^\r\n]", xv);
            char reply[8192];
            int rl = snprintf(reply, sizeof reply, "%s %s x=%s body=%.*s", method, path, xv,
                              (int)blen, body);
            snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", rl);
            send_str(fd, head);
            send_all(fd, reply, (size_t)rl);
        } else if (strcmp(path, "/conflict") == 0) {
            const char *b = "{\"dtm_result\":\"FAILURE\"}";
            snprintf(head, sizeof head, "HTTP/1.1 409 Conflict\r\nContent-Length: %zu\r\n\r\n%s",
                     strlen(b), b);
            send_str(fd, head);
        } else if (strcmp(path, "/chunked") == 0) {
            send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: y\r\n\r\n");
        } else if (strcmp(path, "/slow") == 0) {
            h_sleep_ms(1500);
            send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow");
        } else if (strcmp(path, "/big") == 0 || strcmp(path, "/bigchunked") == 0) {
            /* 5 MiB announced (or streamed): more than the client accepts. */
            int chunked = strcmp(path, "/bigchunked") == 0;
            if (chunked) send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            else send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5242880\r\n\r\n");
            static __thread char blk[65536];
            memset(blk, 'x', sizeof blk);
            for (int i = 0; i < 80; i++) {
                if (chunked && send_str(fd, "10000\r\n") != 0) break;
                if (send_all(fd, blk, sizeof blk) != 0) break;
                if (chunked && send_str(fd, "\r\n") != 0) break;
            }
            break;
        } else if (strcmp(path, "/close") == 0) {
            /* HTTP/1.0-style: no length, the body ends at close. */
            send_str(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-close");
            break;
        } else if (strcmp(path, "/drop") == 0) {
            /* Answers as keep-alive, then closes the idle connection anyway,
             * as servers do when their keep-alive timeout passes. */
            send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndrop");
            h_sleep_ms(50);
            dropped = 1;
            break;
        } else if (strcmp(path, "/dropnext") == 0) {
            /* Answers, then hangs up on the NEXT request without a reply: the
             * race of a server closing an idle connection just as the client
             * reuses it. */
            send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndrop");
            drop_next = 1;
        } else {
            send_str(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found");
        }
    }
    close(fd);
    if (dropped) atomic_fetch_add(&srv_drops, 1);
    return NULL;
}

static void *serve(void *arg) {
    (void)arg;
    for (;;) {
        int c = accept(srv_fd, NULL, NULL);
        if (c < 0) break;
        atomic_fetch_add(&srv_accepts, 1);
        pthread_t th;
        if (pthread_create(&th, NULL, serve_conn, (void *)(intptr_t)c) == 0) pthread_detach(th);
        else close(c);
    }
    return NULL;
}

static pthread_t srv_thread;

static void server_start(void) {
    srv_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(srv_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(srv_fd, 64) != 0 ||
        getsockname(srv_fd, (struct sockaddr *)&a, &len) != 0) {
        perror("server");
        exit(2);
    }
    srv_port = ntohs(a.sin_port);
    pthread_create(&srv_thread, NULL, serve, NULL);
}

static void server_stop(void) {
    shutdown(srv_fd, SHUT_RDWR);
    close(srv_fd);
    pthread_join(srv_thread, NULL);
}

static const char *url(const char *path) {
    static __thread char buf[512];
    snprintf(buf, sizeof buf, "http://127.0.0.1:%d%s", srv_port, path);
    return buf;
}

/* ---- the cases ---- */

static void httpcli_status_and_body(void) {
    h_step("httpcli_status_and_body");
    httpcli_resp r;
    char err[256];
    const char *hdr[] = {"X-Test", "abc", "Content-type", "application/json", NULL};
    CHECK_EQ_INT(httpcli_request("POST", url("/echo?gid=g1&op=action"), hdr, "{\"a\":1}", 7, 2000, &r,
                                 err, sizeof err), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "POST /echo?gid=g1&op=action x=abc body={\"a\":1}");
    CHECK_EQ_INT(r.body_len, strlen(r.body));
    httpcli_resp_free(&r);

    CHECK_EQ_INT(httpcli_request("GET", url("/echo"), NULL, NULL, 0, 2000, &r, err, sizeof err), 0);
    CHECK_EQ_STR(r.body, "GET /echo x= body=");
    httpcli_resp_free(&r);

    CHECK_EQ_INT(httpcli_request("POST", url("/conflict"), NULL, "x", 1, 2000, &r, err, sizeof err), 0);
    CHECK_EQ_INT(r.status, 409);
    CHECK_EQ_STR(r.body, "{\"dtm_result\":\"FAILURE\"}");
    httpcli_resp_free(&r);

    CHECK_EQ_INT(httpcli_request("GET", url("/nothing"), NULL, NULL, 0, 2000, &r, err, sizeof err), 0);
    CHECK_EQ_INT(r.status, 404);
    httpcli_resp_free(&r);
}

static void httpcli_chunked_and_close(void) {
    h_step("httpcli_chunked_and_close");
    httpcli_resp r;
    char err[256];
    CHECK_EQ_INT(httpcli_request("GET", url("/chunked"), NULL, NULL, 0, 2000, &r, err, sizeof err), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "hello, world");
    httpcli_resp_free(&r);
    CHECK_EQ_INT(httpcli_request("GET", url("/close"), NULL, NULL, 0, 2000, &r, err, sizeof err), 0);
    CHECK_EQ_STR(r.body, "until-close");
    httpcli_resp_free(&r);
}

static void httpcli_keeps_connections_alive(void) {
    h_step("httpcli_keeps_connections_alive");
    httpcli_close_idle();
    int before = atomic_load(&srv_accepts);
    httpcli_resp r;
    char err[256];
    for (int i = 0; i < 5; i++) {
        CHECK_EQ_INT(httpcli_request("GET", url("/echo"), NULL, NULL, 0, 2000, &r, err, sizeof err), 0);
        CHECK_EQ_INT(r.status, 200);
        httpcli_resp_free(&r);
    }
    CHECK_EQ_INT(atomic_load(&srv_accepts) - before, 1);

    /* A kept connection the server closed meanwhile is replaced silently. */
    int drops = atomic_load(&srv_drops);
    CHECK_EQ_INT(httpcli_request("GET", url("/drop"), NULL, NULL, 0, 2000, &r, err, sizeof err), 0);
    httpcli_resp_free(&r);
    long long deadline = h_now_ms() + 5000;
    while (atomic_load(&srv_drops) == drops && h_now_ms() < deadline) h_sleep_ms(5);
    CHECK(atomic_load(&srv_drops) > drops);
    before = atomic_load(&srv_accepts);
    CHECK_EQ_INT(httpcli_request("GET", url("/echo"), NULL, NULL, 0, 2000, &r, err, sizeof err), 0);
    CHECK_EQ_INT(r.status, 200);
    httpcli_resp_free(&r);
    CHECK_EQ_INT(atomic_load(&srv_accepts) - before, 1);

    /* The server hangs up on the reused connection before replying: the
     * request is sent again, once, on a fresh connection. */
    httpcli_close_idle();
    CHECK_EQ_INT(httpcli_request("GET", url("/dropnext"), NULL, NULL, 0, 2000, &r, err, sizeof err), 0);
    httpcli_resp_free(&r);
    before = atomic_load(&srv_accepts);
    int reqs = atomic_load(&srv_requests);
    CHECK_EQ_INT(httpcli_request("POST", url("/echo"), NULL, "again", 5, 2000, &r, err, sizeof err), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "POST /echo x= body=again");
    httpcli_resp_free(&r);
    CHECK_EQ_INT(atomic_load(&srv_accepts) - before, 1);
    CHECK_EQ_INT(atomic_load(&srv_requests) - reqs, 2); /* dropped once, then served */
}

static void httpcli_times_out(void) {
    h_step("httpcli_times_out");
    httpcli_resp r;
    char err[256] = "";
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    CHECK_EQ_INT(httpcli_request("GET", url("/slow"), NULL, NULL, 0, 300, &r, err, sizeof err), -1);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    CHECK(ms >= 250 && ms < 1200);
    CHECK(strstr(err, "timeout after 300 ms") != NULL);
    CHECK(r.body == NULL && r.status == 0);
}

static void httpcli_reports_refused_and_bad_urls(void) {
    h_step("httpcli_reports_refused_and_bad_urls");
    httpcli_resp r;
    char err[256] = "", u[128];
    int port = h_free_port();
    snprintf(u, sizeof u, "http://127.0.0.1:%d/x", port);
    CHECK_EQ_INT(httpcli_request("GET", u, NULL, NULL, 0, 1000, &r, err, sizeof err), -1);
    CHECK(strstr(err, "Connection refused") != NULL);
    CHECK(strstr(err, "127.0.0.1") != NULL);
    CHECK_EQ_INT(httpcli_request("GET", "https://127.0.0.1:1/x", NULL, NULL, 0, 1000, &r, err,
                                 sizeof err), -1);
    CHECK(strstr(err, "https is not supported") != NULL);
    CHECK_EQ_INT(httpcli_request("GET", "127.0.0.1:1/x", NULL, NULL, 0, 1000, &r, err, sizeof err), -1);
    CHECK(strstr(err, "bad URL") != NULL);
    CHECK_EQ_INT(httpcli_request("GET", "http://127.0.0.1:99999/x", NULL, NULL, 0, 1000, &r, err,
                                 sizeof err), -1);
    CHECK(strstr(err, "port") != NULL);
    const char *bad[] = {"X-Evil", "a\r\nInjected: 1", NULL};
    CHECK_EQ_INT(httpcli_request("GET", url("/echo"), bad, NULL, 0, 1000, &r, err, sizeof err), -1);
    CHECK(strstr(err, "bad header") != NULL);
}

static void httpcli_refuses_huge_replies(void) {
    h_step("httpcli_refuses_huge_replies");
    httpcli_resp r;
    char err[256] = "";
    CHECK_EQ_INT(httpcli_request("GET", url("/big"), NULL, NULL, 0, 5000, &r, err, sizeof err), -1);
    CHECK(strstr(err, "over") != NULL);
    CHECK_EQ_INT(httpcli_request("GET", url("/bigchunked"), NULL, NULL, 0, 5000, &r, err,
                                 sizeof err), -1);
    CHECK(strstr(err, "over") != NULL);
    /* The client still works afterwards. */
    CHECK_EQ_INT(httpcli_request("GET", url("/echo"), NULL, NULL, 0, 2000, &r, err, sizeof err), 0);
    CHECK_EQ_INT(r.status, 200);
    httpcli_resp_free(&r);
}

typedef struct {
    int ok;
} par_arg;

static void *par_worker(void *arg) {
    par_arg *p = arg;
    for (int i = 0; i < 50; i++) {
        httpcli_resp r;
        char err[256], path[64], want[128];
        snprintf(path, sizeof path, "/echo?i=%d", i);
        snprintf(want, sizeof want, "GET /echo?i=%d x= body=", i);
        if (httpcli_request("GET", url(path), NULL, NULL, 0, 3000, &r, err, sizeof err) == 0 &&
            strcmp(r.body, want) == 0)
            p->ok++;
        httpcli_resp_free(&r);
    }
    return NULL;
}

static void httpcli_many_threads(void) {
    h_step("httpcli_many_threads");
    pthread_t th[8];
    par_arg args[8] = {{0}};
    for (int i = 0; i < 8; i++) pthread_create(&th[i], NULL, par_worker, &args[i]);
    int ok = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        ok += args[i].ok;
    }
    CHECK_EQ_INT(ok, 400);
}

int main(void) {
    server_start();
    httpcli_status_and_body();
    httpcli_chunked_and_close();
    httpcli_keeps_connections_alive();
    httpcli_times_out();
    httpcli_reports_refused_and_bad_urls();
    httpcli_refuses_huge_replies();
    httpcli_many_threads();
    httpcli_close_idle();
    server_stop();
    return h_finish("test_httpcli");
}
