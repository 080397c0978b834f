/* test_bad_input.c: the bad-input matrix, against the real processes: the
 * coordinator `dtm` (own store database, created with `dtm -r`), order-srv,
 * stock-srv and order-api, as child processes on free ports.
 *
 * test_dtm_api.c, test_parse.c, test_order_api.c and service_cases.json
 * already refuse the common malformed requests one surface at a time, in
 * process. This test sends what they do not, to the built programs:
 *   - bytes that are not UTF-8: raw in JSON bodies, in gids, in URL paths and
 *     query strings, in protobuf string fields, and in gRPC metadata values
 *     (sent with curl, because gRPC core refuses to send them);
 *   - SQL metacharacters (quotes, backslashes, "--", NUL) in gids, branch
 *     header values and payloads: refused clearly, or stored byte for byte;
 *   - JSON nested deeper than a server thread's stack, oversize bodies,
 *     headers and request lines, oversize protobuf messages and metadata;
 *   - wrong types, missing fields, unknown and unsupported trans_types, an
 *     unknown gid, a reused gid, a gid over 128 bytes, the step and payload
 *     bounds (512 steps, 65535 bytes), options too long for their column.
 * Every refused case must get a clear client error (4xx with a JSON "error"
 * key, or DTM's 409 with "message"; a gRPC status with a message), must not
 * crash the process (a process that dies is reported with the case that
 * killed it, and restarted so the matrix goes on), and must write nothing:
 * the rows of the store's trans_global and trans_branch_op, `order`, stock
 * and dtm_barrier.barrier are counted before and after EVERY case.
 * At the end every process must still answer /api/ping or the gRPC health
 * check. CDTM_VERBOSE=1 prints every case's answer.
 * Gids are "bi-<pid>-..."; goods ids 8100000 + (pid % 100000) * 10 + k. */
#include <grpc/status.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dtmgimp.pb-c.h"
#include "harness.h"
#include "health.pb-c.h"
#include "order.pb-c.h"
#include "rpccli.h"
#include "stock.pb-c.h"

#define STORE_DB "dtm_test_bad_input"
#define CALL_MS 15000

/* ---- the processes ------------------------------------------------------------ */

typedef enum { P_DTM, P_ORDER, P_STOCK, P_API, P_COUNT } proc_id;

static const char *const PROC_NAMES[P_COUNT] = {"dtm", "order-srv", "stock-srv", "order-api"};

static struct {
    int db_port;
    int port[P_COUNT];   /* dtm: its HTTP port; the others: their only port */
    int dtm_grpc;
    pid_t pid[P_COUNT];
    char *conf[P_COUNT];
    char target[P_COUNT][64]; /* gRPC targets of dtm (its gRPC port), order, stock */
    char prefix[32];          /* "bi-<pid>-" */
    int64_t goods;
    db_pool *root;
    rpccli *cli;
    int have_curl;
    char logdir[900];
    char tmpdir[1000];
} g;

static void write_confs(void) {
    char yaml[2048];
    g.conf[P_DTM] = h_write_temp(".yml", h_dtm_yaml(STORE_DB, g.port[P_DTM], g.dtm_grpc, ""));
    for (int i = 0; i < 2; i++) {
        const char *svc = i ? "stock" : "order";
        snprintf(yaml, sizeof yaml,
                 "Name: %s.rpc\nListenOn: 127.0.0.1:%d\nDB:\n  DataSource: \"%s_srv:%s_srv@tcp("
                 "127.0.0.1:%d)/dtm-gozero-%s\"\n", svc, g.port[i ? P_STOCK : P_ORDER], svc, svc,
                 g.db_port, svc);
        g.conf[i ? P_STOCK : P_ORDER] = h_write_temp(".yaml", yaml);
    }
    snprintf(yaml, sizeof yaml,
             "Name: order-api\nHost: 127.0.0.1\nPort: %d\nDtm:\n  Target: %s\n  HttpTarget: "
             "http://127.0.0.1:%d/api/dtmsvr\n  Timeout: 3000\nOrderRpcConf:\n  Target: %s\n"
             "StockRpcConf:\n  Target: %s\n", g.port[P_API], g.target[P_DTM], g.port[P_DTM],
             g.target[P_ORDER], g.target[P_STOCK]);
    g.conf[P_API] = h_write_temp(".yaml", yaml);
    for (int i = 0; i < P_COUNT; i++)
        if (!g.conf[i]) {
            fprintf(stderr, "cannot write the config of %s\n", PROC_NAMES[i]);
            exit(2);
        }
}

/* Stops every child that is running (SIGTERM, then SIGKILL). Returns 1 when
 * each of them exited 0. */
static int stop_all(void) {
    int clean = 1;
    const proc_id order[P_COUNT] = {P_API, P_ORDER, P_STOCK, P_DTM};
    for (int i = 0; i < P_COUNT; i++) {
        if (g.pid[order[i]] <= 0) continue;
        int st = h_stop(g.pid[order[i]], SIGTERM, 10000);
        clean &= st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
        g.pid[order[i]] = 0;
    }
    return clean;
}

static void start(proc_id p) {
    char log[1200];
    snprintf(log, sizeof log, "%s/%s.log", g.logdir, PROC_NAMES[p]);
    char *argv[] = {(char *)h_bin(PROC_NAMES[p]), p == P_DTM ? "-c" : "-f", g.conf[p],
                    p == P_DTM ? "-r" : NULL, NULL};
    g.pid[p] = h_spawn(argv, NULL, log);
    int ok = g.pid[p] > 0 && h_wait_port(g.port[p], 15000) == 0 &&
             (p != P_DTM || h_wait_port(g.dtm_grpc, 15000) == 0);
    if (!ok) {
        fprintf(stderr, "%s did not start (log %s)\n", PROC_NAMES[p], log);
        stop_all();
        exit(2);
    }
}

static int health_ok(const char *target);

/* After a restart, this process's gRPC channel to the old server is broken
 * until it reconnects: wait until the new one answers a health check. */
static void wait_healthy(proc_id p) {
    if (!g.cli || p == P_API) return;
    long long deadline = h_now_ms() + 10000;
    while (!health_ok(g.target[p]) && h_now_ms() < deadline) h_sleep_ms(100);
}

/* After each case: a process that died is a failure of that case; it is
 * restarted so that the rest of the matrix still means something. A server
 * that dies from a request may close the connection a moment before it
 * exits, so when a case got no answer, wait up to 2 s for the exit. */
static void check_alive(const char *what, int no_answer) {
    long long deadline = h_now_ms() + (no_answer ? 2000 : 0);
    for (;;) {
        int died = 0;
        for (int p = 0; p < P_COUNT; p++) {
            int st;
            if (waitpid(g.pid[p], &st, WNOHANG) != g.pid[p]) continue;
            fprintf(stderr, "CRASH: %s killed %s (%s %d); restarting it\n", what, PROC_NAMES[p],
                    WIFSIGNALED(st) ? "signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
            h_failures++;
            start((proc_id)p);
            wait_healthy((proc_id)p);
            died = 1;
        }
        if (died || h_now_ms() >= deadline) return;
        h_sleep_ms(50);
    }
}

/* ---- rows ------------------------------------------------------------------------ */

typedef struct {
    int64_t v[6];
} counts;

static const char *const COUNT_NAMES[6] = {"trans_global", "trans_branch_op", "order", "stock rows",
                                           "stock units", "barrier"};

static counts count_rows(void) {
    counts c = {{
        h_db_int(g.root, -1, "SELECT COUNT(*) FROM " STORE_DB ".trans_global"),
        h_db_int(g.root, -1, "SELECT COUNT(*) FROM " STORE_DB ".trans_branch_op"),
        h_db_int(g.root, -1, "SELECT COUNT(*) FROM `dtm-gozero-order`.`order`"),
        h_db_int(g.root, -1, "SELECT COUNT(*) FROM `dtm-gozero-stock`.stock"),
        h_db_int(g.root, -1, "SELECT COALESCE(SUM(num), 0) FROM `dtm-gozero-stock`.stock"),
        h_db_int(g.root, -1, "SELECT COUNT(*) FROM dtm_barrier.barrier"),
    }};
    return c;
}

static void check_nothing_written(const char *what, counts before) {
    counts after = count_rows();
    for (int i = 0; i < 6; i++)
        if (after.v[i] != before.v[i]) {
            fprintf(stderr, "PARTIAL WRITE: %s changed %s: %" PRId64 " -> %" PRId64 "\n", what,
                    COUNT_NAMES[i], before.v[i], after.v[i]);
            h_failures++;
        }
}

/* Rows of `table` whose `col` is exactly `value` (bound, so any bytes). */
static int64_t count_exact(const char *table, const char *col, const char *value, size_t len) {
    char sql[256], err[256];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE BINARY %s = ?", table, col);
    db_conn *c = db_acquire(g.root, 10000, NULL, err, sizeof err);
    int64_t n = -1;
    int found = 0;
    db_arg a[1] = {DB_BYTES(value, len)};
    if (!c || db_query_int64(c, sql, a, 1, &n, &found, err, sizeof err) != DB_OK) {
        fprintf(stderr, "count_exact: %s\n", err);
        h_failures++;
    }
    if (c) db_release(g.root, c);
    return n;
}

/* ---- bytes ------------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t len;
} bytes;

static bytes repeat(char c, size_t n) {
    bytes b = {malloc(n + 1), n};
    memset(b.p, c, n);
    b.p[n] = '\0';
    return b;
}

/* printf into a malloc'd buffer of the right size. Builders that append
 * with sprintf after it reserve room with fmt_room(). */
static bytes fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static bytes fmt(const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    bytes b = {malloc((size_t)(n < 0 ? 0 : n) + 1), (size_t)(n < 0 ? 0 : n)};
    va_start(ap, f);
    vsnprintf(b.p, b.len + 1, f, ap);
    va_end(ap);
    return b;
}

/* Makes room for `more` bytes after b's text. */
static void fmt_room(bytes *b, size_t more) { b->p = realloc(b->p, b->len + more + 1); }

/* n bytes of a literal that may hold NUL. */
static bytes lit(const char *s, size_t n) {
    bytes b = {malloc(n + 1), n};
    memcpy(b.p, s, n);
    b.p[n] = '\0';
    return b;
}

/* n '[': JSON nested n deep (and never closed: the parser recurses first). */
static bytes nested(size_t n) { return repeat('[', n); }

/* ---- raw HTTP -------------------------------------------------------------------------- */

typedef struct {
    int status;      /* -1: no answer (connection closed or reset) */
    json_t *json;    /* the body, when it is JSON */
} http_reply;

/* Sends `req` on a fresh connection, stopping early if the server answers
 * (a 413 comes before the end of a huge body), and reads the answer. */
static http_reply raw_http(int port, const char *req, size_t len) {
    http_reply out = {-1, NULL};
    int fd = h_connect(port);
    if (fd < 0) return out;
    size_t sent = 0;
    while (sent < len) {
        struct pollfd p = {fd, POLLIN | POLLOUT, 0};
        if (poll(&p, 1, 5000) <= 0 || (p.revents & POLLIN)) break; /* answered early */
        ssize_t w = send(fd, req + sent, len - sent > 65536 ? 65536 : len - sent, MSG_NOSIGNAL);
        if (w <= 0) break;
        sent += (size_t)w;
    }
    size_t cap = 1 << 16, got = 0;
    char *buf = malloc(cap + 1);
    long long deadline = h_now_ms() + 20000;
    long need = -1; /* total bytes of headers + body, once known */
    while (got < cap && h_now_ms() < deadline && (need < 0 || (long)got < need)) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 200) <= 0) continue;
        ssize_t r = recv(fd, buf + got, cap - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
        buf[got] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strcasestr(buf, "\r\nContent-Length:");
        if (end && cl && cl < end) need = (end + 4 - buf) + strtol(cl + 17, NULL, 10);
    }
    close(fd);
    buf[got] = '\0';
    if (sscanf(buf, "HTTP/1.%*d %d", &out.status) != 1) out.status = -1;
    char *body = strstr(buf, "\r\n\r\n");
    if (body) out.json = json_loads(body + 4, JSON_DISABLE_EOF_CHECK, NULL);
    free(buf);
    return out;
}

/* A request: method, path, extra header lines ("K: v\r\n"...), body (NULL
 * p: no body and no Content-Length). */
static bytes http_req(const char *method, const char *path, const char *headers, bytes body) {
    if (!headers) headers = "";
    size_t cap = strlen(method) + strlen(path) + strlen(headers) + 256 + body.len;
    bytes r = {malloc(cap), 0};
    int n = snprintf(r.p, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\n%s", method, path, headers);
    if (body.p) n += snprintf(r.p + n, cap - (size_t)n, "Content-Length: %zu\r\n", body.len);
    n += snprintf(r.p + n, cap - (size_t)n, "\r\n");
    if (body.len) memcpy(r.p + n, body.p, body.len);
    r.len = (size_t)n + body.len;
    return r;
}

/* ---- gRPC ---------------------------------------------------------------------------- */

typedef struct {
    int status;        /* grpc_status_code; -1 when no status came back */
    char message[512];
} grpc_reply;

static grpc_reply grpc_call(const char *target, const char *method, const rpc_md *md, size_t nmd,
                            bytes req) {
    grpc_reply out;
    rpccli_result r;
    out.status = rpccli_call(g.cli, target, method, md, nmd, req.p, req.len, CALL_MS, &r);
    snprintf(out.message, sizeof out.message, "%s", r.message);
    rpccli_result_free(&r);
    return out;
}

/* The same call made by curl over HTTP/2 (prior knowledge), which sends
 * metadata values byte for byte: gRPC core refuses to send a value that is
 * not printable ASCII, but a peer is free to. `md` holds header lines. */
static grpc_reply grpc_curl(int port, const char *method, const char *md, bytes req) {
    grpc_reply out = {-1, ""};
    char body[1200], hdrs[1200], dump[1200]; /* under g.tmpdir */
    snprintf(body, sizeof body, "%s/body", g.tmpdir);
    snprintf(hdrs, sizeof hdrs, "%s/headers", g.tmpdir);
    snprintf(dump, sizeof dump, "%s/reply", g.tmpdir);
    FILE *f = fopen(body, "wb"), *h = fopen(hdrs, "wb");
    if (!f || !h) {
        if (f) fclose(f);
        if (h) fclose(h);
        snprintf(out.message, sizeof out.message, "cannot write %.400s", g.tmpdir);
        return out;
    }
    uint8_t prefix[5] = {0, (uint8_t)(req.len >> 24), (uint8_t)(req.len >> 16),
                         (uint8_t)(req.len >> 8), (uint8_t)req.len};
    fwrite(prefix, 1, 5, f);
    fwrite(req.p, 1, req.len, f);
    fprintf(h, "content-type: application/grpc\nte: trailers\n%s", md);
    fclose(f);
    fclose(h);
    unlink(dump);
    h_sh("curl -s --max-time 20 --http2-prior-knowledge -H @'%s' --data-binary @'%s' -D '%s' "
         "-o /dev/null 'http://127.0.0.1:%d%s'", hdrs, body, dump, port, method);
    FILE *d = fopen(dump, "rb");
    char line[1024];
    while (d && fgets(line, sizeof line, d)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!strncasecmp(line, "grpc-status:", 12)) out.status = atoi(line + 12);
        if (!strncasecmp(line, "grpc-message:", 13))
            snprintf(out.message, sizeof out.message, "%s", line + 13 + (line[13] == ' '));
    }
    if (d) fclose(d);
    return out;
}

/* ---- request builders -------------------------------------------------------------------- */

static bytes pack_create(int64_t user, int64_t goods, int64_t num) {
    Pb__CreateReq m = PB__CREATE_REQ__INIT;
    m.userid = user;
    m.goodsid = goods;
    m.num = num;
    bytes b = {malloc(64), 0};
    b.len = pb__create_req__pack(&m, (uint8_t *)b.p);
    return b;
}

static bytes pack_deduct(int64_t goods, int64_t num) {
    Pb__DecuctReq m = PB__DECUCT_REQ__INIT;
    m.goodsid = goods;
    m.num = num;
    bytes b = {malloc(64), 0};
    b.len = pb__decuct_req__pack(&m, (uint8_t *)b.p);
    return b;
}

/* What a DtmRequest of a case holds; unset fields are left out. */
typedef struct {
    const char *gid, *type, *steps, *custom;
    size_t npay;
    ProtobufCBinaryData *pays;
    const char *hdr_key, *hdr_val;     /* one BranchHeaders entry */
    const char *extra_key, *extra_val; /* one ReqExtra entry */
    int wait;
} dtm_req;

static bytes pack_dtm(dtm_req q) {
    Dtmgimp__DtmRequest r = DTMGIMP__DTM_REQUEST__INIT;
    Dtmgimp__DtmTransOptions o = DTMGIMP__DTM_TRANS_OPTIONS__INIT;
    Dtmgimp__DtmTransOptions__BranchHeadersEntry h =
        DTMGIMP__DTM_TRANS_OPTIONS__BRANCH_HEADERS_ENTRY__INIT;
    Dtmgimp__DtmRequest__ReqExtraEntry x = DTMGIMP__DTM_REQUEST__REQ_EXTRA_ENTRY__INIT;
    Dtmgimp__DtmTransOptions__BranchHeadersEntry *hp[1] = {&h};
    Dtmgimp__DtmRequest__ReqExtraEntry *xp[1] = {&x};
    if (q.gid) r.gid = (char *)q.gid;
    if (q.type) r.transtype = (char *)q.type;
    if (q.steps) r.steps = (char *)q.steps;
    if (q.custom) r.customeddata = (char *)q.custom;
    r.n_binpayloads = q.npay;
    r.binpayloads = q.pays;
    o.waitresult = q.wait;
    if (q.hdr_key) {
        h.key = (char *)q.hdr_key;
        h.value = (char *)q.hdr_val;
        o.n_branchheaders = 1;
        o.branchheaders = hp;
    }
    r.transoptions = &o;
    if (q.extra_key) {
        x.key = (char *)q.extra_key;
        x.value = (char *)q.extra_val;
        r.n_reqextra = 1;
        r.reqextra = xp;
    }
    bytes b = {malloc(dtmgimp__dtm_request__get_packed_size(&r) + 1), 0};
    b.len = dtmgimp__dtm_request__pack(&r, (uint8_t *)b.p);
    return b;
}

/* ---- the cases ------------------------------------------------------------------------- */

typedef enum { K_HTTP, K_GRPC, K_CURL } case_kind;

#define ANY_4XX 4        /* want: any HTTP 4xx */
#define ANY_ERROR (-2)   /* want: any gRPC status but OK, with a message */

typedef struct {
    char name[160];
    case_kind kind;
    proc_id proc;
    bytes req;           /* K_HTTP: the whole request; gRPC: the message */
    char method[64];     /* gRPC method path */
    char *md[4];         /* gRPC metadata values (NULL: not sent) */
    int want;            /* HTTP status (ANY_4XX) or gRPC code (ANY_ERROR) */
    const char *key;     /* HTTP: the JSON key holding the message */
    char substr[160];    /* expected in the message ("" : any non-empty) */
} bad_case;

static bad_case *cases;
static size_t ncases, capcases;

static bad_case *add_case(case_kind k, proc_id p, const char *name, int want, const char *substr) {
    if (ncases == capcases) {
        capcases = capcases ? capcases * 2 : 64;
        cases = realloc(cases, capcases * sizeof *cases);
    }
    bad_case *c = memset(&cases[ncases++], 0, sizeof *cases);
    c->kind = k;
    c->proc = p;
    snprintf(c->name, sizeof c->name, "%s: %s", PROC_NAMES[p], name);
    c->want = want;
    c->key = "error";
    snprintf(c->substr, sizeof c->substr, "%s", substr ? substr : "");
    return c;
}

/* An HTTP case; takes `body` (p NULL for none). */
static bad_case *http_case(proc_id p, const char *name, const char *method, const char *path,
                           const char *headers, bytes body, int want, const char *substr) {
    bad_case *c = add_case(K_HTTP, p, name, want, substr);
    c->req = http_req(method, path, headers, body);
    free(body.p);
    return c;
}

static const bytes NO_BODY = {NULL, 0};

/* A gRPC case to the coordinator; takes `req`. */
static void dtm_case(const char *name, const char *method, bytes req, int want, const char *substr) {
    bad_case *c = add_case(K_GRPC, P_DTM, name, want, substr);
    snprintf(c->method, sizeof c->method, "/dtmgimp.Dtm/%s", method);
    c->req = req;
}

/* A gRPC case to a service with DTM's four metadata (NULL: left out); takes `req`. */
static void svc_case(case_kind k, proc_id p, const char *name, const char *method, const char *gid,
                     const char *type, const char *branch, const char *op, bytes req, int want,
                     const char *substr) {
    bad_case *c = add_case(k, p, name, want, substr);
    snprintf(c->method, sizeof c->method, "%s", method);
    const char *v[4] = {gid, type, branch, op};
    for (int i = 0; i < 4; i++) c->md[i] = v[i] ? strdup(v[i]) : NULL;
    c->req = req;
}

static const char *const MD_KEYS[4] = {"dtm-gid", "dtm-trans_type", "dtm-branch_id", "dtm-op"};

/* Runs one case and checks its answer, that nothing was written and that
 * every process is still alive. */
static void run_case(bad_case *c) {
    counts before = count_rows();
    char got[700] = "";
    int ok, no_answer;
    if (c->kind == K_HTTP) {
        http_reply r = raw_http(g.port[c->proc], c->req.p, c->req.len);
        no_answer = r.status < 0;
        json_t *m = json_object_get(r.json, c->key);
        const char *msg = json_string_value(m);
        int status_ok = c->want == ANY_4XX ? r.status >= 400 && r.status < 500 : r.status == c->want;
        if (c->want == 200 && !c->substr[0]) /* a lookup that finds nothing: null or [] */
            ok = status_ok && m && (json_is_null(m) || (json_is_array(m) && !json_array_size(m)));
        else
            ok = status_ok && msg && msg[0] && strstr(msg, c->substr);
        char *dump = r.json ? json_dumps(r.json, JSON_COMPACT) : NULL;
        snprintf(got, sizeof got, "HTTP %d %.600s", r.status, dump ? dump : "(no JSON body)");
        free(dump);
        json_decref(r.json);
    } else {
        grpc_reply r;
        if (c->kind == K_GRPC) {
            rpc_md md[4];
            size_t n = 0;
            for (int i = 0; i < 4; i++)
                if (c->md[i]) md[n++] = (rpc_md){MD_KEYS[i], c->md[i]};
            const char *target = c->proc == P_DTM ? g.target[P_DTM] : g.target[c->proc];
            r = grpc_call(target, c->method, md, n, c->req);
        } else {
            char lines[1024] = "";
            size_t n = 0;
            for (int i = 0; i < 4; i++)
                if (c->md[i])
                    n += (size_t)snprintf(lines + n, sizeof lines - n, "%s: %s\n", MD_KEYS[i], c->md[i]);
            r = grpc_curl(c->proc == P_DTM ? g.dtm_grpc : g.port[c->proc], c->method, lines, c->req);
        }
        no_answer = r.status < 0 || r.status == GRPC_STATUS_UNAVAILABLE;
        int status_ok = c->want == ANY_ERROR ? r.status > 0 : r.status == c->want;
        ok = status_ok && (r.status == 0 || (r.message[0] && strstr(r.message, c->substr)));
        snprintf(got, sizeof got, "gRPC %d \"%.600s\"", r.status, r.message);
    }
    if (!ok) {
        fprintf(stderr, "FAIL %s\n  got  %s\n  want %s %d with \"%s\"\n", c->name, got,
                c->kind == K_HTTP ? "HTTP" : "gRPC", c->want, c->substr);
        h_failures++;
    } else if (getenv("CDTM_VERBOSE")) {
        printf("  ok  %s\n      %.300s\n", c->name, got);
    }
    check_nothing_written(c->name, before);
    check_alive(c->name, no_answer);
}

static void free_cases(void) {
    for (size_t i = 0; i < ncases; i++) {
        free(cases[i].req.p);
        for (int k = 0; k < 4; k++) free(cases[i].md[k]);
    }
    free(cases);
}

/* Gids the accepted phase leaves behind, for the reused-gid cases. */
static char g_finished[160]; /* a saga that succeeded */
static char g_prepared[160]; /* a saga that is prepared, never submitted */

/* Percent-encodes s into out (every byte but [A-Za-z0-9_.-]). */
static void url_encode(char *out, size_t len, const char *s) {
    size_t n = 0;
    for (; *s && n + 4 < len; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '_' || ch == '.' || ch == '-')
            out[n++] = (char)ch;
        else
            n += (size_t)snprintf(out + n, len - n, "%%%02X", ch);
    }
    out[n] = '\0';
}

#define STEP1 "[{\"action\":\"\",\"compensate\":\"\"}]"
#define SUBMIT "/api/dtmsvr/submit"

/* A saga's trans JSON with `gid` spliced in raw, so any bytes can be put
 * there; `more` adds keys (or replaces the tail). */
static bytes saga_json(const char *gid, const char *more) {
    return fmt("{\"gid\":\"%s\",\"trans_type\":\"saga\",\"steps\":" STEP1 ",\"payloads\":[\"p\"]%s}",
               gid, more ? more : "");
}

static void coordinator_http_cases(void) {
    char gid[256], more[4096];
    const char *P = g.prefix;
    bytes b129 = repeat('g', 129), v1000 = repeat('v', 1000), deep = nested(1000);
#define SUBMIT_CASE(name, body, want, sub) \
    http_case(P_DTM, name, "POST", SUBMIT, NULL, body, want, sub)

    /* bytes that are not UTF-8, and Unicode where ASCII is required */
    snprintf(gid, sizeof gid, "%s\xff\xfe", P);
    SUBMIT_CASE("submit: raw bytes 0xff 0xfe in the gid", saga_json(gid, NULL), 400, "malformed JSON");
    snprintf(gid, sizeof gid, "%sraw", P);
    SUBMIT_CASE("submit: a raw 0xff in a payload",
                fmt("{\"gid\":\"%s\",\"trans_type\":\"saga\",\"steps\":" STEP1 ",\"payloads\":[\"\xff\"]}", gid),
                400, "malformed JSON");
    SUBMIT_CASE("submit: a lone surrogate \\udc80 in a payload",
                fmt("{\"gid\":\"%s\",\"trans_type\":\"saga\",\"steps\":" STEP1 ",\"payloads\":[\"\\udc80\"]}", gid),
                400, "malformed JSON");
    snprintf(gid, sizeof gid, "%s\\u00e9t\\u00e9", P);
    SUBMIT_CASE("submit: a gid with non-ASCII letters", saga_json(gid, NULL), 400, "gid: must be printable ASCII");
    snprintf(gid, sizeof gid, "%sa'; drop table x; --", P);
    SUBMIT_CASE("submit: SQL with spaces in the gid", saga_json(gid, NULL), 400, "gid: must be printable ASCII");
    SUBMIT_CASE("submit: a gid of 129 bytes", saga_json(b129.p, NULL), 400, "gid: 129 bytes, at most 128");
    SUBMIT_CASE("submit: an empty gid", saga_json("", NULL), 400, "gid: missing or empty");

    /* wrong types, missing fields */
    snprintf(gid, sizeof gid, "%stypes", P);
    SUBMIT_CASE("submit: the gid is a number", fmt("{\"gid\":5,\"trans_type\":\"saga\",\"steps\":" STEP1 "}"),
                400, "gid: must be a string");
    SUBMIT_CASE("submit: steps is a string",
                fmt("{\"gid\":\"%s\",\"trans_type\":\"saga\",\"steps\":\"[]\"}", gid), 400,
                "steps: must be an array");
    SUBMIT_CASE("submit: a step's action is a number",
                fmt("{\"gid\":\"%s\",\"trans_type\":\"saga\",\"steps\":[{\"action\":1,\"compensate\":\"\"}],"
                    "\"payloads\":[\"p\"]}", gid), 400, "must be a string");
    SUBMIT_CASE("submit: payloads is an object",
                fmt("{\"gid\":\"%s\",\"trans_type\":\"saga\",\"steps\":" STEP1 ",\"payloads\":{}}", gid), 400,
                "payloads: must be an array");
    SUBMIT_CASE("submit: wait_result is a string", saga_json(gid, ",\"wait_result\":\"yes\""), 400,
                "wait_result: must be true or false");
    SUBMIT_CASE("submit: timeout_to_fail is a float", saga_json(gid, ",\"timeout_to_fail\":1.5"), 400,
                "timeout_to_fail: must be an integer");
    SUBMIT_CASE("submit: branch_headers is an array", saga_json(gid, ",\"branch_headers\":[\"a\"]"), 400,
                "branch_headers: must be an object");
    SUBMIT_CASE("submit: a req_extra value is a number", saga_json(gid, ",\"req_extra\":{\"k\":1}"), 400,
                "req_extra.k: must be a string");
    SUBMIT_CASE("submit: no trans_type", fmt("{\"gid\":\"%s\",\"steps\":" STEP1 ",\"payloads\":[\"p\"]}", gid),
                400, "trans_type: missing");
    SUBMIT_CASE("submit: no steps", fmt("{\"gid\":\"%s\",\"trans_type\":\"saga\"}", gid), 400, "steps: missing");
    SUBMIT_CASE("submit: an empty body", fmt("%s", ""), 400, "malformed JSON");
    SUBMIT_CASE("submit: a JSON array", fmt("[1,2]"), 400, "must be a JSON object");

    /* trans types */
    SUBMIT_CASE("submit: an unknown trans_type",
                fmt("{\"gid\":\"%s\",\"trans_type\":\"bogus\",\"steps\":" STEP1 ",\"payloads\":[\"p\"]}", gid),
                400, "unknown trans_type 'bogus'");
    SUBMIT_CASE("submit: trans_type SAGA (case matters)",
                fmt("{\"gid\":\"%s\",\"trans_type\":\"SAGA\",\"steps\":" STEP1 ",\"payloads\":[\"p\"]}", gid),
                400, "unknown trans_type 'SAGA'");
    http_case(P_DTM, "prepare: trans_type tcc", "POST", "/api/dtmsvr/prepare", NULL,
              fmt("{\"gid\":\"%s\",\"trans_type\":\"tcc\"}", gid), 400,
              "trans_type 'tcc' is not supported by cdtm yet");
    SUBMIT_CASE("submit: protocol ftp", saga_json(gid, ",\"protocol\":\"ftp\""), 400, "protocol");

    /* bounds */
    bytes steps513 = fmt("%s", "[");
    fmt_room(&steps513, 513 * 40);
    for (int i = 0; i < 513; i++)
        steps513.len += (size_t)sprintf(steps513.p + steps513.len, "%s{\"action\":\"\",\"compensate\":\"\"}", i ? "," : "");
    SUBMIT_CASE("submit: 513 steps", fmt("{\"gid\":\"%s\",\"trans_type\":\"saga\",\"steps\":%s]}", gid, steps513.p),
                400, "513 steps, at most 512");
    free(steps513.p);
    bytes p65536 = repeat('p', 65536), u1025 = repeat('u', 1025);
    SUBMIT_CASE("submit: a payload of 65536 bytes",
                fmt("{\"gid\":\"%s\",\"trans_type\":\"saga\",\"steps\":" STEP1 ",\"payloads\":[\"%s\"]}", gid, p65536.p),
                400, "65536 bytes, at most 65535");
    SUBMIT_CASE("submit: a URL of 1025 bytes",
                fmt("{\"gid\":\"%s\",\"trans_type\":\"saga\",\"steps\":[{\"action\":\"%s\",\"compensate\":\"\"}],"
                    "\"payloads\":[\"p\"]}", gid, u1025.p), 400, "URL of 1025 bytes");
    free(p65536.p);
    free(u1025.p);

    /* branch headers: injection, names, count, and the options column */
    SUBMIT_CASE("submit: CR LF in a branch header value",
                saga_json(gid, ",\"branch_headers\":{\"X-A\":\"v\\r\\nX-Injected: 1\"}"), 400,
                "branch_headers: the value of 'X-A'");
    SUBMIT_CASE("submit: a branch header name with a space",
                saga_json(gid, ",\"branch_headers\":{\"X A\":\"v\"}"), 400, "is not a header name");
    size_t n = (size_t)snprintf(more, sizeof more, ",\"branch_headers\":{");
    for (int i = 0; i < 33; i++)
        n += (size_t)snprintf(more + n, sizeof more - n, "%s\"X-H%d\":\"v\"", i ? "," : "", i);
    snprintf(more + n, sizeof more - n, "}");
    SUBMIT_CASE("submit: 33 branch headers", saga_json(gid, more), 400, "33 entries, at most 32");
    snprintf(more, sizeof more, ",\"branch_headers\":{\"X-A\":\"%s\",\"X-B\":\"%s\"}", v1000.p, v1000.p);
    SUBMIT_CASE("submit: branch headers too long for the options column (1024)", saga_json(gid, more), 400,
                "branch_headers");

    /* JSON nested deeper than a civetweb worker's 100 KiB stack allows */
    snprintf(more, sizeof more, ",\"custom_data\":\"%s\"", deep.p);
    SUBMIT_CASE("submit: custom_data nested 1000 deep", saga_json(gid, more), 400, "custom_data");
    SUBMIT_CASE("submit: a body nested 1000 deep", fmt("{\"gid\":\"%s\",\"x\":%s", gid, deep.p), 400,
                "malformed JSON");
    http_case(P_DTM, "forceStop: a body nested 1000 deep", "POST", "/api/dtmsvr/forceStop", NULL,
              fmt("{\"gid\":\"%s\",\"x\":%s", gid, deep.p), 400, "malformed JSON");

    /* sizes of bodies, headers and request lines */
    bytes big = repeat(' ', 2u << 20);
    big.p[0] = '{';
    SUBMIT_CASE("submit: a body of 2 MiB", big, 413, "over");
    bytes chunked = {malloc((3u << 20)), 0};
    for (int i = 0; i < 32; i++)
        chunked.len += (size_t)sprintf(chunked.p + chunked.len, "10000\r\n%65536s\r\n", "");
    chunked.len += (size_t)sprintf(chunked.p + chunked.len, "0\r\n\r\n");
    bad_case *c = http_case(P_DTM, "submit: a chunked body of 2 MiB", "POST", SUBMIT,
                            "Transfer-Encoding: chunked\r\n", NO_BODY, 413, "over");
    c->req.p = realloc(c->req.p, c->req.len + chunked.len);
    memcpy(c->req.p + c->req.len, chunked.p, chunked.len);
    c->req.len += chunked.len;
    free(chunked.p);
    http_case(P_DTM, "submit: Content-Length -1", "POST", SUBMIT, "Content-Length: -1\r\n", NO_BODY,
              ANY_4XX, "");
    bytes hv = repeat('h', 20000);
    char *hdr = malloc(20100);
    snprintf(hdr, 20100, "X-Big: %s\r\n", hv.p);
    http_case(P_DTM, "ping: a 20 KB header", "GET", "/api/ping", hdr, NO_BODY, ANY_4XX, "");
    char *line = malloc(20100);
    snprintf(line, 20100, "/api/dtmsvr/query?gid=%s", hv.p);
    http_case(P_DTM, "query: a 20 KB request line", "GET", line, NULL, NO_BODY, ANY_4XX, "");
    http_case(P_DTM, "submit: method FOO", "FOO", SUBMIT, NULL, fmt("{}"), ANY_4XX, "");
    free(hdr);
    free(line);
    free(hv.p);

    /* lookups with odd gids: refused, or answered "no such transaction" */
    http_case(P_DTM, "query: gid=%ff", "GET", "/api/dtmsvr/query?gid=%ff", NULL, NO_BODY, 200, "")->key =
        "transaction";
    snprintf(more, sizeof more, "/api/dtmsvr/query?gid=%s", b129.p);
    http_case(P_DTM, "query: a gid of 129 bytes", "GET", more, NULL, NO_BODY, 400, "gid: longer than 128");
    http_case(P_DTM, "query: SQL in the gid", "GET", "/api/dtmsvr/query?gid=x%27%20OR%20%271%27%3D%271", NULL,
              NO_BODY, 200, "")->key = "transaction";
    n = (size_t)snprintf(more, sizeof more, "/api/dtmsvr/query?gid=");
    url_encode(more + n, sizeof more - n, g_finished);
    snprintf(more + strlen(more), sizeof more - strlen(more), "%%00tail");
    http_case(P_DTM, "query: an existing gid followed by %00", "GET", more, NULL, NO_BODY, 400, "gid");
    http_case(P_DTM, "all: gid=%ff", "GET", "/api/dtmsvr/all?gid=%ff", NULL, NO_BODY, 200, "")->key =
        "transactions";

    /* unknown and reused gids */
    snprintf(gid, sizeof gid, "%snosuch", P);
    http_case(P_DTM, "forceStop: an unknown gid", "POST", "/api/dtmsvr/forceStop", NULL,
              fmt("{\"gid\":\"%s\"}", gid), 400, "not found");
    http_case(P_DTM, "forceStop: a gid of 129 bytes", "POST", "/api/dtmsvr/forceStop", NULL,
              fmt("{\"gid\":\"%s\"}", b129.p), 400, "gid");
    http_case(P_DTM, "forceStop: raw 0xff in the gid", "POST", "/api/dtmsvr/forceStop", NULL,
              fmt("{\"gid\":\"\xff\"}"), 400, "malformed JSON");
    http_case(P_DTM, "abort: an unknown gid", "POST", "/api/dtmsvr/abort", NULL,
              fmt("{\"gid\":\"%s\",\"trans_type\":\"saga\"}", gid), 400, "not found");
    http_case(P_DTM, "resetNextCronTime: an unknown gid", "POST", "/api/dtmsvr/resetNextCronTime", NULL,
              fmt("{\"gid\":\"%s\"}", gid), 400, "not found");
    http_case(P_DTM, "registerBranch: an unknown gid", "POST", "/api/dtmsvr/registerBranch", NULL,
              fmt("{\"gid\":\"%s\",\"trans_type\":\"tcc\",\"branch_id\":\"01\",\"confirm\":\"http://h/c\","
                  "\"cancel\":\"http://h/k\"}", gid), 409, "no trans with gid")->key = "message";
    bytes g300 = repeat('g', 300);
    http_case(P_DTM, "registerBranch: a gid of 300 bytes", "POST", "/api/dtmsvr/registerBranch", NULL,
              fmt("{\"gid\":\"%s\",\"trans_type\":\"tcc\",\"branch_id\":\"01\"}", g300.p), 400, "gid");
    http_case(P_DTM, "registerBranch: data is a number", "POST", "/api/dtmsvr/registerBranch", NULL,
              fmt("{\"gid\":\"%s\",\"trans_type\":\"tcc\",\"branch_id\":\"01\",\"data\":5}", gid), 400,
              "must be a string");
    free(g300.p);
    snprintf(more, sizeof more, "{\"gid\":\"%s\",\"trans_type\":\"saga\",\"steps\":" STEP1 ",\"payloads\":[\"p\"]}",
             g_finished);
    SUBMIT_CASE("submit: the reused gid of a finished saga", fmt("%s", more), 409, "cannot sumbmit")->key =
        "message";
    http_case(P_DTM, "prepare: the reused gid of a finished saga", "POST", "/api/dtmsvr/prepare", NULL,
              fmt("%s", more), 409, "cannot prepare")->key = "message";
    http_case(P_DTM, "prepare: a prepared gid again, with other steps (idempotent)", "POST",
              "/api/dtmsvr/prepare", NULL,
              fmt("{\"gid\":\"%s\",\"trans_type\":\"saga\",\"steps\":[{\"action\":\"\",\"compensate\":\"\"},"
                  "{\"action\":\"\",\"compensate\":\"\"}],\"payloads\":[\"a\",\"b\"]}", g_prepared),
              200, "SUCCESS")->key = "dtm_result";
#undef SUBMIT_CASE
    free(b129.p);
    free(v1000.p);
    free(deep.p);
}

static void order_api_http_cases(void) {
    const char *QC = "/order/quickCreate";
    int64_t goods = g.goods + 1;
    bytes deep = nested(1000), b129 = repeat('g', 129);
    char path[300];
    http_case(P_API, "quickCreate: a raw 0xff in a string", "POST", QC, NULL,
              fmt("{\"userId\":1,\"goodsId\":%" PRId64 ",\"num\":1,\"note\":\"\xff\"}", goods), 400,
              "malformed JSON");
    http_case(P_API, "quickCreate: a lone surrogate in a string", "POST", QC, NULL,
              fmt("{\"userId\":1,\"goodsId\":%" PRId64 ",\"num\":1,\"note\":\"\\udc80\"}", goods), 400,
              "malformed JSON");
    http_case(P_API, "quickCreate: a body nested 1000 deep", "POST", QC, NULL, fmt("%s", deep.p), 400,
              "malformed JSON");
    bytes big = repeat(' ', 70000);
    big.p[0] = '{';
    http_case(P_API, "quickCreate: a body of 70 KB", "POST", QC, NULL, big, 413, "larger than");
    http_case(P_API, "quickCreate: ?wait=%ff", "POST", "/order/quickCreate?wait=%ff", NULL,
              fmt("{\"userId\":1,\"goodsId\":%" PRId64 ",\"num\":1}", goods), 400, "wait");
    bytes hv = repeat('h', 20000);
    char *hdr = malloc(20100);
    snprintf(hdr, 20100, "X-Big: %s\r\n", hv.p);
    http_case(P_API, "quickCreate: a 20 KB header", "POST", QC, hdr,
              fmt("{\"userId\":1,\"goodsId\":%" PRId64 ",\"num\":1}", goods), ANY_4XX, "");
    free(hdr);
    free(hv.p);
    http_case(P_API, "GET /order/%ff", "GET", "/order/%ff", NULL, NO_BODY, 400, "gid");
    snprintf(path, sizeof path, "/order/%s", b129.p);
    http_case(P_API, "GET /order/ with a gid of 129 bytes", "GET", path, NULL, NO_BODY, 400, "gid");
    http_case(P_API, "GET /order/ with SQL in the gid", "GET", "/order/a%27%3B%20drop%20table%20x%3B--",
              NULL, NO_BODY, 400, "gid");
    http_case(P_API, "GET /order/a%00b (a NUL in the gid)", "GET", "/order/a%00b", NULL, NO_BODY, 400, "gid");
    free(deep.p);
    free(b129.p);
}

static void coordinator_grpc_cases(void) {
    char gid[256];
    const char *P = g.prefix;
    bytes b129 = repeat('g', 129), v1000 = repeat('v', 1000), deep = nested(1000);
    ProtobufCBinaryData one[2] = {{1, (uint8_t *)"x"}, {1, (uint8_t *)"y"}};
    snprintf(gid, sizeof gid, "%sgrpc", P);
#define REQ(...) pack_dtm((dtm_req){.type = "saga", .steps = STEP1, .npay = 1, .pays = one, __VA_ARGS__})

    dtm_case("Submit: bytes that are no DtmRequest", "Submit", fmt("\xff\xff\xff\xff\x0f"), 3, "cannot decode");
    dtm_case("Prepare: the gid field with a varint wire type", "Prepare", fmt("\x08\x05\x12\x04saga"), 3,
             "cannot decode");
    dtm_case("Submit: an empty DtmRequest", "Submit", fmt("%s", ""), 3, "Gid: missing or empty");
    char badgid[64];
    snprintf(badgid, sizeof badgid, "%s\xff\xfe", P);
    dtm_case("Submit: bytes 0xff 0xfe in Gid", "Submit", REQ(.gid = badgid), 3, "Gid: must be printable");
    dtm_case("Submit: a Gid of 129 bytes", "Submit", REQ(.gid = b129.p), 3, "129 bytes, at most 128");
    char sqlgid[96];
    snprintf(sqlgid, sizeof sqlgid, "%sa'; drop table x; --", P);
    dtm_case("Submit: SQL with spaces in Gid", "Submit", REQ(.gid = sqlgid), 3, "Gid: must be printable");
    dtm_case("Submit: Steps that are not UTF-8", "Submit",
             pack_dtm((dtm_req){.gid = gid, .type = "saga", .steps = "[{\"action\":\"\xff\"}]", .npay = 1,
                                .pays = one}), 3, "Steps: malformed JSON");
    dtm_case("Submit: Steps nested 1000 deep", "Submit",
             pack_dtm((dtm_req){.gid = gid, .type = "saga", .steps = deep.p}), 3, "Steps");
    dtm_case("Submit: CustomedData nested 1000 deep", "Submit", REQ(.gid = gid, .custom = deep.p), 3,
             "ustom"); /* custom_data or CustomedData */
    dtm_case("Submit: CustomedData that is not UTF-8", "Submit", REQ(.gid = gid, .custom = "{\"a\":\"\xff\"}"),
             3, "CustomedData: must be UTF-8");
    dtm_case("Submit: a ReqExtra value that is not UTF-8", "Submit",
             REQ(.gid = gid, .extra_key = "k", .extra_val = "\xc3\x28"), 3, "ReqExtra");
    dtm_case("Submit: CR LF in a BranchHeaders value", "Submit",
             REQ(.gid = gid, .hdr_key = "x-a", .hdr_val = "v\r\nx-injected: 1"), 3, "BranchHeaders");
    dtm_case("Submit: a BranchHeaders value that is not UTF-8", "Submit",
             REQ(.gid = gid, .hdr_key = "x-a", .hdr_val = "\xff"), 3, "BranchHeaders");
    dtm_case("Submit: BranchHeaders too long for the options column (1024)", "Submit",
             REQ(.gid = gid, .hdr_key = "x-a", .hdr_val = v1000.p, .extra_key = NULL), 3, "BranchHeaders");
    dtm_case("Submit: an unknown TransType", "Submit",
             pack_dtm((dtm_req){.gid = gid, .type = "bogus", .steps = STEP1, .npay = 1, .pays = one}), 3,
             "unknown trans_type 'bogus'");
    dtm_case("Submit: TransType xa", "Submit",
             pack_dtm((dtm_req){.gid = gid, .type = "xa", .steps = STEP1, .npay = 1, .pays = one}), 12,
             "trans_type 'xa' is not supported by cdtm yet");
    dtm_case("Submit: 2 BinPayloads for 1 step", "Submit",
             pack_dtm((dtm_req){.gid = gid, .type = "saga", .steps = STEP1, .npay = 2, .pays = one}), 3,
             "payload(s) for 1 step(s)");
    uint8_t *p65536 = calloc(1, 65536);
    ProtobufCBinaryData big[1] = {{65536, p65536}};
    dtm_case("Submit: a BinPayload of 65536 bytes", "Submit",
             pack_dtm((dtm_req){.gid = gid, .type = "saga", .steps = STEP1, .npay = 1, .pays = big}), 3,
             "65536 bytes, at most 65535");
    free(p65536);
    /* 5 MiB: over the 4 MiB a gRPC server accepts */
    bytes steps80 = fmt("%s", "[");
    fmt_room(&steps80, 80 * 40);
    for (int i = 0; i < 80; i++)
        steps80.len += (size_t)sprintf(steps80.p + steps80.len, "%s{\"action\":\"\",\"compensate\":\"\"}", i ? "," : "");
    strcat(steps80.p, "]");
    uint8_t *p65535 = calloc(1, 65535);
    ProtobufCBinaryData pays80[80];
    for (int i = 0; i < 80; i++) pays80[i] = (ProtobufCBinaryData){65535, p65535};
    dtm_case("Submit: a message of 5 MiB", "Submit",
             pack_dtm((dtm_req){.gid = gid, .type = "saga", .steps = steps80.p, .npay = 80, .pays = pays80}),
             GRPC_STATUS_RESOURCE_EXHAUSTED, "");
    free(p65535);
    free(steps80.p);
    snprintf(badgid, sizeof badgid, "%snosuch", P);
    dtm_case("Abort: an unknown gid", "Abort", pack_dtm((dtm_req){.gid = badgid, .type = "saga"}), 3, "not found");
    dtm_case("Submit: the reused gid of a finished saga", "Submit", REQ(.gid = g_finished), 10, "cannot sumbmit");

    /* RegisterBranch */
    dtm_case("RegisterBranch: bytes that are no DtmBranchRequest", "RegisterBranch", fmt("\xff\xff\xff\xff\x0f"),
             3, "cannot decode");
    Dtmgimp__DtmBranchRequest br = DTMGIMP__DTM_BRANCH_REQUEST__INIT;
    Dtmgimp__DtmBranchRequest__DataEntry d = DTMGIMP__DTM_BRANCH_REQUEST__DATA_ENTRY__INIT;
    Dtmgimp__DtmBranchRequest__DataEntry *dp[1] = {&d};
    br.gid = gid;
    br.transtype = "tcc";
    br.branchid = "01";
    br.n_data = 1;
    br.data = dp;
    d.key = "confirm";
    d.value = "http://h/\xff";
    bytes bb = {malloc(4096), 0};
    bb.len = dtmgimp__dtm_branch_request__pack(&br, (uint8_t *)bb.p);
    dtm_case("RegisterBranch: a Data value that is not UTF-8", "RegisterBranch", bb, 3, "UTF-8");
    bytes g300 = repeat('g', 300);
    br.gid = g300.p;
    d.value = "http://h/c";
    bb = (bytes){malloc(4096), 0};
    bb.len = dtmgimp__dtm_branch_request__pack(&br, (uint8_t *)bb.p);
    dtm_case("RegisterBranch: a Gid of 300 bytes", "RegisterBranch", bb, 3, "gid");
    free(g300.p);
    dtm_case("an unknown method", "NoSuchMethod", fmt("%s", ""), 12, "");
#undef REQ
    free(b129.p);
    free(v1000.p);
    free(deep.p);
}

static void service_cases(void) {
    char gid[96], long_gid[16 * 1024 + 1];
    int64_t goods = g.goods + 1;
    snprintf(gid, sizeof gid, "%ssvc", g.prefix);
    bytes b129 = repeat('b', 129), b46 = repeat('o', 46);
    const char *CR = "/pb.order/create", *CRB = "/pb.order/createRollback", *DE = "/pb.stock/deduct";

    svc_case(K_GRPC, P_ORDER, "create: userId with a length-delimited wire type", CR, gid, "saga", "01",
             "action", lit("\x0a\x01\x00", 3), 3, "cannot decode CreateReq");
    svc_case(K_GRPC, P_ORDER, "create: a dtm-branch_id of 129 bytes", CR, gid, "saga", b129.p, "action",
             pack_create(1, goods, 1), 3, "dtm-branch_id");
    svc_case(K_GRPC, P_STOCK, "deduct: a dtm-op of 46 bytes", DE, gid, "saga", "02", b46.p,
             pack_deduct(goods, 1), 3, "dtm-op");
    svc_case(K_GRPC, P_STOCK, "deduct: a dtm-trans_type of 46 bytes", DE, gid, b46.p, "02", "action",
             pack_deduct(goods, 1), 3, "dtm-trans_type");
    memset(long_gid, 'g', sizeof long_gid - 1);
    long_gid[sizeof long_gid - 1] = '\0';
    svc_case(K_GRPC, P_ORDER, "create: a dtm-gid of 16 KiB (over gRPC's metadata limit)", CR, long_gid, "saga",
             "01", "action", pack_create(1, goods, 1), ANY_ERROR, "");
    bytes huge = repeat('\0', 5u << 20);
    svc_case(K_GRPC, P_STOCK, "deduct: a request of 5 MiB", DE, gid, "saga", "02", "action", huge,
             GRPC_STATUS_RESOURCE_EXHAUSTED, "");
    svc_case(K_GRPC, P_STOCK, "deduct: num INT64_MAX", DE, gid, "saga", "02", "action",
             pack_deduct(goods, INT64_MAX), 10, "FAILURE");
    svc_case(K_GRPC, P_STOCK, "deduct: goodsId INT64_MIN", DE, gid, "saga", "02", "action",
             pack_deduct(INT64_MIN, 1), 10, "FAILURE");
    svc_case(K_GRPC, P_ORDER, "create: userId INT64_MIN", CR, gid, "saga", "01", "action",
             pack_create(INT64_MIN, goods, 1), 10, "FAILURE");
    free(b129.p);
    free(b46.p);

    if (!g.have_curl) {
        printf("  (curl with HTTP/2 is missing: the metadata cases that are not UTF-8 are skipped)\n");
        return;
    }
    /* Metadata that is not UTF-8 (gRPC core will not send it; curl does). A
     * barrier row keyed by such bytes would be stored mangled ('?'), so two
     * different gids could share one barrier row. */
    char raw[96];
    snprintf(raw, sizeof raw, "%s\xff\xfe", g.prefix);
    svc_case(K_CURL, P_ORDER, "create: dtm-gid with the bytes 0xff 0xfe", CR, raw, "saga", "01", "action",
             pack_create(1, goods, 1), 3, "dtm-gid");
    snprintf(raw, sizeof raw, "%s\xff", g.prefix);
    svc_case(K_CURL, P_STOCK, "deduct: dtm-gid with the byte 0xff", DE, raw, "saga", "02", "action",
             pack_deduct(goods, 1), 3, "dtm-gid");
    svc_case(K_CURL, P_STOCK, "deduct: dtm-branch_id with the byte 0xff", DE, gid, "saga", "0\xff",
             "action", pack_deduct(goods, 1), 3, "dtm-branch_id");
    svc_case(K_CURL, P_ORDER, "createRollback: dtm-op with the byte 0xff", CRB, gid, "saga", "01",
             "compensat\xff", pack_create(1, goods, 1), 3, "dtm-op");
    svc_case(K_CURL, P_DTM, "Submit: metadata that is not UTF-8, undecodable body", "/dtmgimp.Dtm/Submit",
             raw, "saga", "01", "action", fmt("\xff\xff\xff\xff\x0f"), 3, "cannot decode");
}

/* ---- what must be accepted and stored byte for byte ---------------------------------------- */

static int64_t q_int(const char *sql, const db_arg *a, size_t n) {
    char err[256];
    int64_t v = -1;
    int found = 0;
    db_conn *c = db_acquire(g.root, 10000, NULL, err, sizeof err);
    if (!c || db_query_int64(c, sql, a, n, &v, &found, err, sizeof err) != DB_OK) {
        fprintf(stderr, "%s: %s\n", sql, err);
        h_failures++;
    }
    if (c) db_release(g.root, c);
    return found ? v : -1;
}

static int copy_text(void *ud, size_t ncols, const db_val *cols) {
    char **out = ud;
    if (ncols && !cols[0].is_null) *out = strndup(cols[0].s, cols[0].len);
    return 1;
}

/* The first column of the first row, malloc'd ("" when none). */
static char *q_text(const char *sql, const char *gid) {
    char err[256], *out = NULL;
    db_conn *c = db_acquire(g.root, 10000, NULL, err, sizeof err);
    db_arg a[1] = {DB_STR(gid)};
    if (!c || db_query(c, sql, a, 1, copy_text, &out, err, sizeof err) != DB_OK) {
        fprintf(stderr, "%s: %s\n", sql, err);
        h_failures++;
    }
    if (c) db_release(g.root, c);
    return out ? out : strdup("");
}

static const char *saga_status(const char *gid) {
    static char buf[32];
    char *s = q_text("SELECT status FROM " STORE_DB ".trans_global WHERE BINARY gid=?", gid);
    snprintf(buf, sizeof buf, "%s", s);
    free(s);
    return buf;
}

static int64_t branch_rows(const char *gid) {
    return count_exact(STORE_DB ".trans_branch_op", "gid", gid, strlen(gid));
}

static int post_json(int port, const char *path, bytes body, const char *key, const char *want) {
    bytes req = http_req("POST", path, NULL, body);
    http_reply r = raw_http(port, req.p, req.len);
    const char *v = json_string_value(json_object_get(r.json, key));
    int ok = v && strcmp(v, want) == 0;
    if (!ok) fprintf(stderr, "POST %s: status %d, %s = \"%s\", want \"%s\"\n", path, r.status, key,
                     v ? v : "(none)", want);
    json_decref(r.json);
    free(req.p);
    free(body.p);
    return r.status;
}

static void sql_metacharacters_are_stored_verbatim(void) {
    h_step("sql_metacharacters_are_stored_verbatim: HTTP trans JSON");
    static const char payload[] = "it's \"q\" \\ back\0nul"; /* with a NUL */
    const char *header = "O'Reilly \"x\" \\ y; --";
    snprintf(g_finished, sizeof g_finished, "%sa';drop/**/table/**/x;--", g.prefix);
    int st = post_json(g.port[P_DTM], SUBMIT,
                       fmt("{\"gid\":\"%s\",\"trans_type\":\"saga\",\"steps\":" STEP1 ",\"payloads\":"
                           "[\"it's \\\"q\\\" \\\\ back\\u0000nul\"],\"branch_headers\":{\"X-Q\":"
                           "\"O'Reilly \\\"x\\\" \\\\ y; --\"},\"wait_result\":true}", g_finished),
                       "dtm_result", "SUCCESS");
    CHECK_EQ_INT(st, 200);
    CHECK_EQ_STR(saga_status(g_finished), "succeed");
    CHECK_EQ_INT(branch_rows(g_finished), 2);
    CHECK_EQ_INT(count_exact(STORE_DB ".trans_branch_op", "bin_data", payload, sizeof payload - 1), 2);
    char *opts = q_text("SELECT options FROM " STORE_DB ".trans_global WHERE BINARY gid=?", g_finished);
    json_t *o = json_loads(opts, 0, NULL);
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(o, "branch_headers"), "X-Q")), header);
    json_decref(o);
    free(opts);
    char path[512];
    size_t n = (size_t)snprintf(path, sizeof path, "/api/dtmsvr/query?gid=");
    url_encode(path + n, sizeof path - n, g_finished);
    bytes req = http_req("GET", path, NULL, NO_BODY);
    http_reply r = raw_http(g.port[P_DTM], req.p, req.len);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(r.json, "transaction"), "gid")),
                 g_finished);
    json_decref(r.json);
    free(req.p);

    h_step("sql_metacharacters_are_stored_verbatim: gRPC DtmRequest");
    char gid[160];
    snprintf(gid, sizeof gid, "%sq\"\\'`--#", g.prefix);
    static const uint8_t bin[] = {0x00, 0xff, '\'', '\\', '"', 0x00};
    ProtobufCBinaryData pays[1] = {{sizeof bin, (uint8_t *)bin}};
    bytes m = pack_dtm((dtm_req){.gid = gid, .type = "saga", .steps = STEP1, .npay = 1, .pays = pays,
                                 .extra_key = "k'\"", .extra_val = "v\\'; --", .wait = 1});
    grpc_reply gr = grpc_call(g.target[P_DTM], "/dtmgimp.Dtm/Submit", NULL, 0, m);
    free(m.p);
    CHECK_EQ_INT(gr.status, 0);
    CHECK_EQ_STR(saga_status(gid), "succeed");
    CHECK_EQ_INT(branch_rows(gid), 2);
    CHECK_EQ_INT(count_exact(STORE_DB ".trans_branch_op", "bin_data", (const char *)bin, sizeof bin), 2);
    char *ext = q_text("SELECT ext_data FROM " STORE_DB ".trans_global WHERE BINARY gid=?", gid);
    o = json_loads(ext, 0, NULL);
    CHECK_EQ_STR(json_string_value(json_object_get(o, "k'\"")), "v\\'; --");
    json_decref(o);
    free(ext);

    h_step("sql_metacharacters_are_stored_verbatim: the services' dtm-gid");
    snprintf(gid, sizeof gid, "%sx';DROP/**/TABLE/**/`order`;--\"\\", g.prefix);
    rpc_md md[4] = {{"dtm-gid", gid}, {"dtm-trans_type", "saga"}, {"dtm-branch_id", "01"},
                    {"dtm-op", "action"}};
    bytes cr = pack_create(5, g.goods + 1, 1);
    CHECK_EQ_INT(grpc_call(g.target[P_ORDER], "/pb.order/create", md, 4, cr).status, 0);
    CHECK_EQ_INT(count_exact("`dtm-gozero-order`.`order`", "gid", gid, strlen(gid)), 1);
    CHECK_EQ_INT(count_exact("dtm_barrier.barrier", "gid", gid, strlen(gid)), 1);
    md[3].value = "compensate";
    CHECK_EQ_INT(grpc_call(g.target[P_ORDER], "/pb.order/createRollback", md, 4, cr).status, 0);
    db_arg a[1] = {DB_STR(gid)};
    CHECK_EQ_INT(q_int("SELECT row_state FROM `dtm-gozero-order`.`order` WHERE BINARY gid=?", a, 1), -1);
    CHECK_EQ_INT(count_exact("dtm_barrier.barrier", "gid", gid, strlen(gid)), 2);
    free(cr.p);
}

static void largest_legal_sagas_are_accepted(void) {
    h_step("largest_legal_sagas_are_accepted: 512 steps over HTTP");
    char gid[160];
    snprintf(gid, sizeof gid, "%ssteps512", g.prefix);
    bytes body = fmt("{\"gid\":\"%s\",\"trans_type\":\"saga\",\"wait_result\":true,\"steps\":[", gid);
    fmt_room(&body, 512 * 48);
    for (int i = 0; i < 512; i++)
        body.len += (size_t)sprintf(body.p + body.len, "%s{\"action\":\"\",\"compensate\":\"\"}", i ? "," : "");
    body.len += (size_t)sprintf(body.p + body.len, "],\"payloads\":[");
    for (int i = 0; i < 512; i++) body.len += (size_t)sprintf(body.p + body.len, "%s\"%d\"", i ? "," : "", i);
    body.len += (size_t)sprintf(body.p + body.len, "]}");
    CHECK_EQ_INT(post_json(g.port[P_DTM], SUBMIT, body, "dtm_result", "SUCCESS"), 200);
    CHECK_EQ_STR(saga_status(gid), "succeed");
    CHECK_EQ_INT(branch_rows(gid), 1024);

    h_step("largest_legal_sagas_are_accepted: 50 payloads of 65535 bytes over gRPC");
    snprintf(gid, sizeof gid, "%spayloads50", g.prefix);
    bytes steps = fmt("%s", "[");
    fmt_room(&steps, 50 * 40);
    for (int i = 0; i < 50; i++)
        steps.len += (size_t)sprintf(steps.p + steps.len, "%s{\"action\":\"\",\"compensate\":\"\"}", i ? "," : "");
    strcat(steps.p, "]");
    uint8_t *pay = malloc(65535);
    for (int i = 0; i < 65535; i++) pay[i] = (uint8_t)(i * 7);
    ProtobufCBinaryData pays[50];
    for (int i = 0; i < 50; i++) pays[i] = (ProtobufCBinaryData){65535, pay};
    bytes m = pack_dtm((dtm_req){.gid = gid, .type = "saga", .steps = steps.p, .npay = 50, .pays = pays, .wait = 1});
    CHECK_EQ_INT(grpc_call(g.target[P_DTM], "/dtmgimp.Dtm/Submit", NULL, 0, m).status, 0);
    CHECK_EQ_STR(saga_status(gid), "succeed");
    CHECK_EQ_INT(branch_rows(gid), 100);
    CHECK_EQ_INT(count_exact(STORE_DB ".trans_branch_op", "bin_data", (const char *)pay, 65535), 100);
    free(m.p);
    free(pay);
    free(steps.p);
}

static void reused_prepared_gid_keeps_its_steps(void) {
    h_step("reused_prepared_gid_keeps_its_steps");
    snprintf(g_prepared, sizeof g_prepared, "%sprepared", g.prefix);
    CHECK_EQ_INT(post_json(g.port[P_DTM], "/api/dtmsvr/prepare", saga_json(g_prepared, NULL), "dtm_result",
                           "SUCCESS"), 200);
    CHECK_EQ_STR(saga_status(g_prepared), "prepared");
    CHECK_EQ_INT(branch_rows(g_prepared), 2);
}

/* ---- at the end: everything still answers ------------------------------------------------ */

static void every_process_still_answers(void) {
    h_step("every_process_still_answers");
    check_alive("the matrix", 0);
    const proc_id web[2] = {P_DTM, P_API};
    for (int i = 0; i < 2; i++) {
        bytes req = http_req("GET", "/api/ping", NULL, NO_BODY);
        http_reply r = raw_http(g.port[web[i]], req.p, req.len);
        CHECK_EQ_INT(r.status, 200);
        CHECK_EQ_STR(json_string_value(json_object_get(r.json, "msg")), "pong");
        json_decref(r.json);
        free(req.p);
    }
    const proc_id rpc[3] = {P_DTM, P_ORDER, P_STOCK};
    for (int i = 0; i < 3; i++) {
        if (!health_ok(g.target[rpc[i]])) {
            fprintf(stderr, "%s does not answer its health check SERVING\n", PROC_NAMES[rpc[i]]);
            h_failures++;
        }
    }
}

/* 1 when the gRPC server at target answers grpc.health.v1 Check SERVING. */
static int health_ok(const char *target) {
    Grpc__Health__V1__HealthCheckRequest hr = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    hr.service = "";
    uint8_t hb[16];
    size_t hl = grpc__health__v1__health_check_request__pack(&hr, hb);
    rpccli_result r;
    int st = rpccli_call(g.cli, target, "/grpc.health.v1.Health/Check", NULL, 0, hb, hl, 5000, &r);
    Grpc__Health__V1__HealthCheckResponse *resp =
        st == 0 ? grpc__health__v1__health_check_response__unpack(NULL, r.reply_len, r.reply) : NULL;
    int ok = resp && resp->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    if (resp) grpc__health__v1__health_check_response__free_unpacked(resp, NULL);
    rpccli_result_free(&r);
    return ok;
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    g.db_port = h_db_port();
    snprintf(g.prefix, sizeof g.prefix, "bi-%d-", (int)getpid());
    g.goods = 8100000 + (int64_t)(getpid() % 100000) * 10;
    const char *bin = getenv("CDTM_BIN_DIR");
    snprintf(g.logdir, sizeof g.logdir, "%s/test_bad_input.logs", bin ? bin : ".");
    mkdir(g.logdir, 0755);
    snprintf(g.tmpdir, sizeof g.tmpdir, "%s/tmp-%d", g.logdir, (int)getpid());
    mkdir(g.tmpdir, 0755);
    printf("logs of the servers: %s\n", g.logdir);

    g.root = h_db_pool("");
    h_db_exec(g.root, "DROP DATABASE IF EXISTS " STORE_DB);
    h_db_exec(g.root, "DELETE FROM dtm_barrier.barrier WHERE gid LIKE '%s%%'", g.prefix);
    h_db_exec(g.root, "DELETE FROM `dtm-gozero-order`.`order` WHERE gid LIKE '%s%%'", g.prefix);
    h_db_exec(g.root, "INSERT INTO `dtm-gozero-stock`.stock (goods_id, num) VALUES (%" PRId64
              ", 100) ON DUPLICATE KEY UPDATE num=100", g.goods + 1);
    g.have_curl = h_sh("curl --version 2>/dev/null | grep -q HTTP2") == 0;

    h_step("start dtm -r (own store), order-srv, stock-srv and order-api");
    for (int p = 0; p < P_COUNT; p++) g.port[p] = h_free_port();
    g.dtm_grpc = h_free_port();
    snprintf(g.target[P_DTM], sizeof g.target[P_DTM], "127.0.0.1:%d", g.dtm_grpc);
    snprintf(g.target[P_ORDER], sizeof g.target[P_ORDER], "127.0.0.1:%d", g.port[P_ORDER]);
    snprintf(g.target[P_STOCK], sizeof g.target[P_STOCK], "127.0.0.1:%d", g.port[P_STOCK]);
    write_confs();
    /* Every child is started before this process creates gRPC threads. */
    for (int p = 0; p < P_COUNT; p++) start((proc_id)p);
    long long deadline = h_now_ms() + 15000;
    while (h_db_int(g.root, 0, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='"
                    STORE_DB "' AND table_name='trans_branch_op'") != 1) {
        if (h_now_ms() > deadline) {
            fprintf(stderr, "dtm -r did not create " STORE_DB "\n");
            stop_all();
            return 2;
        }
        h_sleep_ms(100);
    }
    g.cli = rpccli_new();

    sql_metacharacters_are_stored_verbatim();
    largest_legal_sagas_are_accepted();
    reused_prepared_gid_keeps_its_steps();

    coordinator_http_cases();
    order_api_http_cases();
    coordinator_grpc_cases();
    service_cases();
    h_step("bad_input_is_refused_and_nothing_written");
    printf("  %zu cases\n", ncases);
    for (size_t i = 0; i < ncases; i++) run_case(&cases[i]);
    free_cases();

    every_process_still_answers();
    rpccli_free(g.cli);

    h_step("sigterm_stops_every_process");
    CHECK(stop_all());
    for (int p = 0; p < P_COUNT; p++) {
        unlink(g.conf[p]);
        free(g.conf[p]);
    }
    if (h_failures == 0) { /* keep the evidence when something failed */
        h_db_exec(g.root, "DELETE FROM dtm_barrier.barrier WHERE gid LIKE '%s%%'", g.prefix);
        h_db_exec(g.root, "DELETE FROM `dtm-gozero-order`.`order` WHERE gid LIKE '%s%%'", g.prefix);
        h_db_exec(g.root, "DELETE FROM `dtm-gozero-stock`.stock WHERE goods_id BETWEEN %" PRId64
                  " AND %" PRId64, g.goods, g.goods + 9);
        h_db_exec(g.root, "DROP DATABASE IF EXISTS " STORE_DB);
    }
    h_sh("rm -rf '%s'", g.tmpdir);
    db_pool_free(g.root);
    return h_finish("test_bad_input");
}
