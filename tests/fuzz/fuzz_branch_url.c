/* fuzz_branch_url.c: libFuzzer target for how the coordinator handles a
 * branch URL and reads a branch's answer (dtm/caller.h, common/etcd.h,
 * common/result.h, common/httpcli.h). Nothing here reaches the network
 * beyond 127.0.0.1:
 *   1. dtm_result_from_http() with any status and body, and
 *      dtm_result_from_grpc() with any status and message, against
 *      result.h's contract (DTM's HTTPResp2DtmError / GrpcError2DtmError);
 *   2. etcd_split_branch_url(), the split of a gRPC branch URL into server
 *      and method ("host:port/pkg.Svc/Method" at the first '/',
 *      "etcd://hosts/key/pkg.Svc/Method" at the second '/' of the path), and
 *      etcd_target_parse() of a registry server, with a round trip through
 *      etcd_target_string();
 *   3. the real caller (caller_iface) with the fuzzed URL, gid, branch id
 *      and a branch header: for the URLs that caller.h settles without a
 *      call (empty, an unsupported scheme, https://, a non-http URL on an
 *      "http" transaction, a gRPC URL that cannot be split), and for
 *      http:// URLs, whose host is replaced by a server in this process
 *      that answers with the input's last field, so httpcli's reply parsing
 *      and the mapping of the reply onto a result are fuzzed too. Other
 *      URLs (gRPC and etcd:// targets) would go to the network: skipped.
 *
 * Input layout: byte 0 = flags (bit 0: protocol grpc, bit 1: op compensate,
 * bit 2: a 16-byte message buffer), bytes 1-2 = an HTTP/gRPC status, then
 * '\n'-separated fields: URL, gid, branch_id, a header name, its value, and
 * everything after that is the HTTP reply the local server sends. */
#include <arpa/inet.h>
#include <grpc/status.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "caller.h"
#include "etcd.h"
#include "fuzz_util.h"
#include "httpcli.h"
#include "result.h"

/* ---- 1. reading answers ---- */

static dtm_result want_http(int status, const char *body, size_t len) {
    int ongoing = len && memmem(body, len, "ONGOING", 7);
    int failure = len && memmem(body, len, "FAILURE", 7);
    if (status == 425 || ongoing) return DTM_ONGOING;
    if (status == 409 || failure) return DTM_FAILURE;
    return status == 200 ? DTM_SUCCESS : DTM_ERROR;
}

static dtm_result want_grpc(int status, const char *msg) {
    if (status == GRPC_STATUS_OK) return DTM_SUCCESS;
    if (status == GRPC_STATUS_ABORTED) return strcmp(msg, "ONGOING") == 0 ? DTM_ONGOING : DTM_FAILURE;
    if (status == GRPC_STATUS_FAILED_PRECONDITION) return DTM_ONGOING;
    return DTM_ERROR;
}

static void check_results(int status, const char *body, size_t len) {
    dtm_result r = dtm_result_from_http(status, body, len);
    if (r != want_http(status, body, len))
        fuzz_fail("dtm_result_from_http(%d, %zu bytes) = %s, want %s", status, len,
                  dtm_result_name(r), dtm_result_name(want_http(status, body, len)));
    char *msg = fuzz_cstr((const uint8_t *)body, len);
    if (!msg) return;
    int gstatus = status % 20;
    r = dtm_result_from_grpc(gstatus, msg);
    if (r != want_grpc(gstatus, msg))
        fuzz_fail("dtm_result_from_grpc(%d, \"%.40s\") = %s", gstatus, msg, dtm_result_name(r));
    if (dtm_result_from_grpc(gstatus, NULL) != want_grpc(gstatus, ""))
        fuzz_fail("dtm_result_from_grpc(%d, NULL) disagrees with an empty message", gstatus);
    free(msg);
}

/* ---- 2. splitting URLs ---- */

static void check_split(const char *url) {
    char server[TRANS_URL_MAX + 1], method[TRANS_URL_MAX + 1], err[256];
    if (etcd_split_branch_url(url, server, sizeof server, method, sizeof method, err, sizeof err) != 0) {
        if (!err[0]) fuzz_fail("split of '%.80s' failed without a message", url);
        return;
    }
    size_t sl = strlen(server), ml = strlen(method);
    if (!sl || ml < 2 || method[0] != '/')
        fuzz_fail("split '%.80s' into '%s' + '%s'", url, server, method);
    if (sl + ml != strlen(url) || memcmp(url, server, sl) != 0 || strcmp(url + sl, method) != 0)
        fuzz_fail("split '%.80s' into '%s' + '%s', which is not the URL", url, server, method);
    const char *scheme = strstr(server, "://");
    if (scheme && memchr(server, '/', (size_t)(scheme - server))) scheme = NULL;
    const char *rest = scheme ? scheme + 3 : server;
    const char *slash = strchr(rest, '/');
    if (scheme ? !slash || strchr(slash + 1, '/') : slash != NULL)
        fuzz_fail("split '%.80s' at the wrong '/': server '%s'", url, server);
    if (!etcd_is_target(server)) return;

    etcd_target t, t2;
    if (etcd_target_parse(server, &t, err, sizeof err) != 0) {
        if (!err[0]) fuzz_fail("etcd_target_parse('%.80s') failed without a message", server);
        return;
    }
    if (t.nhosts < 1 || t.nhosts > ETCD_HOSTS_MAX || !t.key[0] || strchr(t.key, '/') ||
        !fuzz_terminated(t.key, sizeof t.key))
        fuzz_fail("etcd_target_parse('%.80s'): %zu hosts, key '%.40s'", server, t.nhosts, t.key);
    for (size_t i = 0; i < t.nhosts; i++)
        if (!fuzz_terminated(t.hosts[i], sizeof t.hosts[i]) || !t.hosts[i][0])
            fuzz_fail("etcd_target_parse('%.80s'): host %zu is empty or unterminated", server, i);
    char again[ETCD_HOSTS_MAX * ETCD_HOST_MAX + ETCD_KEY_MAX + 16];
    if (etcd_target_string(&t, again, sizeof again) != 0)
        fuzz_fail("etcd_target_string of a parsed target does not fit");
    if (etcd_target_parse(again, &t2, err, sizeof err) != 0 || t2.nhosts != t.nhosts ||
        strcmp(t2.key, t.key) != 0)
        fuzz_fail("'%.80s' -> '%.80s' does not parse back the same", server, again);
}

/* ---- 3. the caller ---- */

/* A server on 127.0.0.1 that answers every request with `reply` and closes. */
static struct {
    int fd, port;
    pthread_mutex_t mu;
    char *reply;
    size_t reply_len;
} fake = {.fd = -1, .mu = PTHREAD_MUTEX_INITIALIZER};

static void *fake_main(void *unused) {
    (void)unused;
    for (;;) {
        int c = accept(fake.fd, NULL, NULL);
        if (c < 0) continue;
        /* Read the whole request (headers, then Content-Length bytes), so
         * that closing does not reset the client before it reads. */
        char buf[16384];
        size_t got = 0;
        long need = -1;
        struct pollfd p = {c, POLLIN, 0};
        while ((need < 0 || (long)got < need) && got < sizeof buf - 1 && poll(&p, 1, 200) > 0) {
            ssize_t r = recv(c, buf + got, sizeof buf - 1 - got, 0);
            if (r <= 0) break;
            got += (size_t)r;
            buf[got] = '\0';
            char *eoh = strstr(buf, "\r\n\r\n");
            if (eoh && need < 0) {
                const char *cl = strcasestr(buf, "\r\nContent-Length:");
                need = (eoh + 4 - buf) + (cl && cl < eoh ? strtol(cl + 17, NULL, 10) : 0);
            }
        }
        pthread_mutex_lock(&fake.mu);
        if (fake.reply_len) (void)!send(c, fake.reply, fake.reply_len, MSG_NOSIGNAL);
        pthread_mutex_unlock(&fake.mu);
        shutdown(c, SHUT_WR);
        close(c);
    }
    return NULL;
}

static int fake_start(void) {
    if (fake.fd >= 0) return 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    pthread_t th;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    fake.fd = fd;
    fake.port = ntohs(a.sin_port);
    if (pthread_create(&th, NULL, fake_main, NULL) != 0) return -1;
    pthread_detach(th);
    return 0;
}

typedef enum { OFFLINE_ERROR, OFFLINE_SUCCESS, LOCAL_HTTP, NETWORK } route;

/* Where caller.h sends `url`: settled without a call, to the local server
 * (an http:// URL, after its host is replaced), or to the network. */
static route route_of(const char *url, int grpc) {
    int http = strncasecmp(url, "http://", 7) == 0, https = strncasecmp(url, "https://", 8) == 0;
    if (!url[0]) return OFFLINE_SUCCESS;
    if (http) return LOCAL_HTTP;
    if (https) return OFFLINE_ERROR;                         /* plain http only */
    if (strstr(url, "://") && (!etcd_is_target(url) || !grpc)) return OFFLINE_ERROR; /* scheme */
    if (!grpc) return OFFLINE_ERROR;                         /* HTTP needs http:// */
    char s[TRANS_URL_MAX + 1], m[TRANS_URL_MAX + 1];
    if (etcd_split_branch_url(url, s, sizeof s, m, sizeof m, NULL, 0) != 0) return OFFLINE_ERROR;
    return NETWORK;
}

/* "http://<anything up to / ? #>rest" -> "http://127.0.0.1:<port>rest". */
static char *localize(const char *url) {
    const char *rest = url + 7 + strcspn(url + 7, "/?#");
    size_t n = strlen(rest) + 64;
    char *out = malloc(n);
    if (out) snprintf(out, n, "http://127.0.0.1:%d%s", fake.port, rest);
    return out;
}

static caller *g_caller;

/* The next '\n'-terminated field of [*p, end) as a C string in buf. */
static void next_field(const char **p, const char *end, char *buf, size_t cap) {
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = (size_t)((nl ? nl : end) - *p);
    if (n >= cap) n = cap - 1;
    memcpy(buf, *p, n);
    buf[n] = '\0'; /* a NUL inside ends the C string earlier */
    *p = nl ? nl + 1 : end;
}

static void check_caller(int flags, const char *p, const char *end) {
    char url[TRANS_URL_MAX + 1], gid[TRANS_GID_MAX + 1], bid[129], hk[129], hv[1025];
    next_field(&p, end, url, sizeof url);
    next_field(&p, end, gid, sizeof gid);
    next_field(&p, end, bid, sizeof bid);
    next_field(&p, end, hk, sizeof hk);
    next_field(&p, end, hv, sizeof hv);
    int grpc = flags & 1;
    route rt = route_of(url, grpc);
    if (rt == NETWORK) return;
    if (!g_caller) g_caller = caller_new(1); /* once: it holds the gRPC client */
    if (!g_caller || fake_start() != 0) return;
    char *call_url = rt == LOCAL_HTTP ? localize(url) : strdup(url);
    trans_global *t = call_url ? trans_new(gid[0] ? gid : "g", "saga") : NULL;
    if (!t) {
        free(call_url);
        return;
    }
    snprintf(t->protocol, sizeof t->protocol, "%s", grpc ? "grpc" : "http");
    if (hk[0] && (t->opts.headers = calloc(1, sizeof *t->opts.headers))) {
        t->opts.headers[0] = (trans_header){strdup(hk), strdup(hv)};
        if (t->opts.headers[0].key && t->opts.headers[0].value) t->opts.n_headers = 1;
        else {
            free(t->opts.headers[0].key);
            free(t->opts.headers[0].value);
        }
    }
    const char *op = flags & 2 ? OP_COMPENSATE : OP_ACTION;
    if (trans_add_branch(t, bid[0] ? bid : "01", op, call_url, "x", 1) < 0) {
        trans_free(t);
        free(call_url);
        return;
    }
    pthread_mutex_lock(&fake.mu);
    fake.reply = (char *)p; /* the rest of the input is the reply */
    fake.reply_len = (size_t)(end - p);
    pthread_mutex_unlock(&fake.mu);

    branch_caller bc = caller_iface(g_caller);
    char out[512];
    size_t outlen = flags & 4 ? 16 : sizeof out;
    memset(out, 'z', sizeof out);
    dtm_result r = bc.call(bc.ud, t, &t->branches[0], out, outlen);
    httpcli_close_idle(); /* the local server closed: never reuse its connection */
    pthread_mutex_lock(&fake.mu);
    fake.reply = NULL;
    fake.reply_len = 0;
    pthread_mutex_unlock(&fake.mu);

    if (rt == OFFLINE_SUCCESS && r != DTM_SUCCESS)
        fuzz_fail("an empty URL gave %s", dtm_result_name(r));
    if (rt == OFFLINE_ERROR && r != DTM_ERROR)
        fuzz_fail("url '%.80s' (%s) gave %s, want ERROR without a call", url, t->protocol,
                  dtm_result_name(r));
    if ((int)r < DTM_SUCCESS || r > DTM_ERROR) fuzz_fail("result %d out of range", (int)r);
    if (!fuzz_terminated(out, outlen)) fuzz_fail("the message overran its %zu-byte buffer", outlen);
    if (outlen < sizeof out && out[outlen] != 'z') fuzz_fail("wrote past the message buffer");
    if (r == DTM_ERROR && !out[0]) fuzz_fail("url '%.80s': an error without a message", url);
    trans_free(t);
    free(call_url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    int flags = data[0];
    int status = (data[1] << 8) | data[2];
    const char *body = (const char *)data + 3, *end = (const char *)data + size;
    check_results(status, body, size - 3);
    char url[TRANS_URL_MAX + 1];
    const char *p = body;
    next_field(&p, end, url, sizeof url);
    check_split(url);
    check_caller(flags, body, end);
    return 0;
}
