/* test_etcd.c: service discovery through a real etcd (Debian's etcd-server on
 * loopback), end to end, with the demo's own saga construction: order-api
 * writes branch URLs "etcd://127.0.0.1:<port>/order.rpc/pb.order/create" and
 * finds the coordinator at etcd://127.0.0.1:<port>/dtmservice; the
 * coordinator resolves the branch URLs to the instances that order-srv and
 * stock-srv registered.
 *
 *   registry_matches_go_zero      etcdctl shows "order.rpc/<lease in decimal>" ->
 *                                 "host:port" for each instance (leases live in
 *                                 etcd), "dtmservice/<lease>" -> the EndPoint
 *   instances_share_and_survive_a_kill
 *                                 two order-srv and two stock-srv serve orders
 *                                 (each instance writes rows as its own MariaDB
 *                                 user, counted by USER_STATISTICS); one of each
 *                                 is killed while orders flow, and every order
 *                                 still ends succeed
 *   etcd_restart_reregisters      etcd stopped (orders go on from the cached
 *                                 lists; a new instance starts and serves), then
 *                                 started empty: every live service registers
 *                                 again within a deadline
 *   failed_order_compensates      a refused deduct rolls back through etcd URLs
 *   shutdown_revokes              a stopped instance's key goes at once
 *   invariants                    rows and barrier rows of every order
 *
 * The test starts its own etcd on free ports with a data dir under $CDTM_RUN
 * (or /tmp) and stops everything it started by PID. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "httpcli.h"

#define ORDERS 24      /* placed while one instance of each service is killed */
#define KILL_AFTER 8   /* orders placed before the kill */
#define NUSERS 4       /* the test's MariaDB users: one per service instance */

static struct {
    char dir[512];                   /* data, logs and configs of this run */
    char etcd_bin[512], etcdctl[512];
    int etcd_port, etcd_peer, dead_port;
    pid_t etcd;
    int dtm_http, dtm_grpc, api_port;
    pid_t dtm, api;
    db_pool *root;
    int64_t user_id, goods, goods_low;
    char gids[ORDERS + 16][130];     /* every order placed */
    int ngids;
    pthread_mutex_t mu;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* One service instance; `user` is its own MariaDB account. */
typedef struct {
    const char *exe, *key, *db, *user;
    int port;
    pid_t pid;
} instance;

static instance order_a = {"order-srv", "order.rpc", "dtm-gozero-order", "etcdt_oa", 0, -1};
static instance order_b = {"order-srv", "order.rpc", "dtm-gozero-order", "etcdt_ob", 0, -1};
static instance order_c = {"order-srv", "order.rpc", "dtm-gozero-order", "etcdt_oc", 0, -1};
static instance stock_a = {"stock-srv", "stock.rpc", "dtm-gozero-stock", "etcdt_sa", 0, -1};
static instance stock_b = {"stock-srv", "stock.rpc", "dtm-gozero-stock", "etcdt_sb", 0, -1};

/* ---- etcd -------------------------------------------------------------------- */

/* Finds `name` on PATH into out. */
static int find_exe(const char *name, char *out, size_t outlen) {
    const char *path = getenv("PATH");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path ? path : "/usr/bin:/bin");
    for (char *save, *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, outlen, "%s/%s", d, name);
        if (access(out, X_OK) == 0) return 0;
    }
    return -1;
}

static int etcd_healthy(void) {
    char url[128], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/health", g.etcd_port);
    httpcli_resp r;
    if (httpcli_request("GET", url, NULL, NULL, 0, 1000, &r, err, sizeof err) != 0) return 0;
    int ok = r.status == 200 && r.body && strstr(r.body, "\"true\"");
    httpcli_resp_free(&r);
    return ok;
}

/* Starts etcd on the test's ports with an empty data dir and waits for
 * /health. */
static void etcd_start(void) {
    char data[600], log[600], name[32], curl[64], purl[64], cluster[96];
    snprintf(data, sizeof data, "%s/etcd.data", g.dir);
    snprintf(log, sizeof log, "%s/etcd.log", g.dir);
    h_sh("rm -rf '%s'", data);
    snprintf(name, sizeof name, "cdtm%d", (int)getpid());
    snprintf(curl, sizeof curl, "http://127.0.0.1:%d", g.etcd_port);
    snprintf(purl, sizeof purl, "http://127.0.0.1:%d", g.etcd_peer);
    snprintf(cluster, sizeof cluster, "%s=%s", name, purl);
    char *argv[] = {g.etcd_bin, "--name", name, "--data-dir", data,
                    "--listen-client-urls", curl, "--advertise-client-urls", curl,
                    "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
                    "--initial-cluster", cluster, NULL};
    g.etcd = h_spawn(argv, NULL, log);
    long long deadline = h_now_ms() + 20000;
    while (!etcd_healthy() && h_now_ms() < deadline) h_sleep_ms(100);
    CHECK(etcd_healthy());
}

static void etcd_stop(void) {
    if (g.etcd > 0) h_stop(g.etcd, SIGTERM, 10000);
    g.etcd = -1;
}

/* Runs etcdctl with `args` against our etcd; its stdout goes into out. */
static int etcdctl(const char *args, char *out, size_t outlen) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "ETCDCTL_API=3 '%s' --endpoints=127.0.0.1:%d --command-timeout=2s %s 2>/dev/null",
             g.etcdctl, g.etcd_port, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    return pclose(p) == 0 ? 0 : -1;
}

/* The registry under "<key>/", as `etcdctl get --prefix <key>/` prints it
 * (a key line, then a value line): fills keys/values, returns the count or
 * -1 when etcdctl failed. */
static int registry(const char *key, char keys[][128], char values[][128], int max) {
    char args[256], out[8192];
    snprintf(args, sizeof args, "get --prefix '%s/'", key);
    if (etcdctl(args, out, sizeof out) != 0) return -1;
    int n = 0;
    char *save, *line = strtok_r(out, "\n", &save);
    while (line && n < max) {
        char *value = strtok_r(NULL, "\n", &save);
        if (!value) break;
        snprintf(keys[n], 128, "%s", line);
        snprintf(values[n], 128, "%s", value);
        n++;
        line = strtok_r(NULL, "\n", &save);
    }
    return n;
}

/* The values under "<key>/", sorted and joined with ' ' ("" when none). */
static void registry_values(const char *key, char *out, size_t outlen) {
    char keys[16][128], values[16][128];
    int n = registry(key, keys, values, 16);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(values[j - 1], values[j]) > 0; j--) {
            char t[128];
            memcpy(t, values[j], 128);
            memcpy(values[j], values[j - 1], 128);
            memcpy(values[j - 1], t, 128);
        }
    out[0] = '\0';
    if (n < 0) snprintf(out, outlen, "(etcdctl failed)");
    for (int i = 0; i < n; i++)
        snprintf(out + strlen(out), outlen - strlen(out), "%s%s", i ? " " : "", values[i]);
}

/* "127.0.0.1:<a> 127.0.0.1:<b>" with the smaller port first, as
 * registry_values() sorts. */
static void pair(char *out, size_t outlen, int a, int b) {
    snprintf(out, outlen, "127.0.0.1:%d 127.0.0.1:%d", a < b ? a : b, a < b ? b : a);
}

/* Polls until the values under key are exactly `want` (sorted, ' '-joined). */
static int wait_registry(const char *key, const char *want, int timeout_ms) {
    char got[1024];
    long long deadline = h_now_ms() + timeout_ms;
    for (;;) {
        registry_values(key, got, sizeof got);
        if (strcmp(got, want) == 0) return 0;
        if (h_now_ms() >= deadline) {
            fprintf(stderr, "  registry %s/: \"%s\", want \"%s\"\n", key, got, want);
            return -1;
        }
        h_sleep_ms(100);
    }
}

/* ---- the programs -------------------------------------------------------------- */

static char *write_conf(const char *name, const char *text) {
    static char path[700];
    snprintf(path, sizeof path, "%s/%s", g.dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

/* Starts an instance. Instances of the same service differ on purpose:
 * a ListenOn of 0.0.0.0 with POD_IP (go-zero's figureOutListenOn), and a
 * first etcd host that is down (tried in turn). */
static void instance_start(instance *in, int wildcard, int dead_first) {
    char yaml[1024], name[64], log[600], etcd_hosts[128];
    in->port = h_free_port();
    if (dead_first)
        snprintf(etcd_hosts, sizeof etcd_hosts, "127.0.0.1:%d, 127.0.0.1:%d", g.dead_port, g.etcd_port);
    else
        snprintf(etcd_hosts, sizeof etcd_hosts, "127.0.0.1:%d", g.etcd_port);
    snprintf(yaml, sizeof yaml,
             "Name: %s\nListenOn: %s:%d\nLogLevel: info\nDB:\n  DataSource: \"%s:%s@tcp(127.0.0.1:%d)/%s\"\n"
             "Etcd:\n  Hosts: [%s]\n  Key: %s\n",
             in->key, wildcard ? "0.0.0.0" : "127.0.0.1", in->port, in->user, in->user, h_db_port(), in->db,
             etcd_hosts, in->key);
    snprintf(name, sizeof name, "%s.yaml", in->user);
    char *conf = write_conf(name, yaml);
    snprintf(log, sizeof log, "%s/%s.log", g.dir, in->user);
    char *argv[] = {(char *)h_bin(in->exe), "-f", conf, NULL};
    static char pod_ip[] = "POD_IP=127.0.0.1";
    char *env[] = {pod_ip, NULL};
    in->pid = h_spawn(argv, wildcard ? env : NULL, log);
    CHECK(in->pid > 0 && h_wait_port(in->port, 15000) == 0);
}

static void dtm_start(void) {
    char extra[512], log[600];
    g.dtm_http = h_free_port();
    g.dtm_grpc = h_free_port();
    while (g.dtm_grpc == g.dtm_http) g.dtm_grpc = h_free_port();
    /* The seed tutorial's MicroService block (demo.md §6), on our etcd. */
    snprintf(extra, sizeof extra,
             "TimeoutToFail: 10\nLogLevel: debug\n"
             "MicroService:\n  Driver: 'dtm-driver-gozero'\n  Target: 'etcd://127.0.0.1:%d/dtmservice'\n"
             "  EndPoint: '127.0.0.1:%d'\n",
             g.etcd_port, g.dtm_grpc);
    char *conf = write_conf("dtm.yml", h_dtm_yaml("dtm_test_etcd", g.dtm_http, g.dtm_grpc, extra));
    snprintf(log, sizeof log, "%s/dtm.log", g.dir);
    char *argv[] = {(char *)h_bin("dtm"), "-c", conf, "-r", NULL};
    g.dtm = h_spawn(argv, NULL, log);
    CHECK(g.dtm > 0 && h_wait_port(g.dtm_grpc, 15000) == 0 && h_wait_port(g.dtm_http, 15000) == 0);
}

/* order-api as go-zero writes it: an Etcd block for the order service, an
 * etcd:// Target for the stock service, and the coordinator through etcd. */
static void api_start(void) {
    char yaml[1024], log[600];
    g.api_port = h_free_port();
    snprintf(yaml, sizeof yaml,
             "Name: order-api\nHost: 127.0.0.1\nPort: %d\n"
             "Dtm:\n  Target: etcd://127.0.0.1:%d/dtmservice\n  HttpTarget: http://127.0.0.1:%d/api/dtmsvr\n"
             "  WaitTimeout: 20000\n"
             "OrderRpcConf:\n  Etcd:\n    Hosts: [127.0.0.1:%d]\n    Key: order.rpc\n"
             "StockRpcConf:\n  Target: etcd://127.0.0.1:%d/stock.rpc\n",
             g.api_port, g.etcd_port, g.dtm_http, g.etcd_port, g.etcd_port);
    char *conf = write_conf("order-api.yaml", yaml);
    snprintf(log, sizeof log, "%s/order-api.log", g.dir);
    char *argv[] = {(char *)h_bin("order-api"), "-f", conf, NULL};
    g.api = h_spawn(argv, NULL, log);
    CHECK(g.api > 0 && h_wait_port(g.api_port, 15000) == 0);
}

/* ---- orders ------------------------------------------------------------------------ */

/* Places an order with ?wait=true; returns the HTTP status and records the gid. */
static int place(int64_t goods, int num, char *status, size_t statuslen) {
    char url[256], body[256], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/order/quickCreate?wait=true", g.api_port);
    snprintf(body, sizeof body, "{\"userId\":%lld,\"goodsId\":%lld,\"num\":%d}", (long long)g.user_id,
             (long long)goods, num);
    static const char *const hdr[] = {"Content-Type", "application/json", NULL};
    httpcli_resp r;
    status[0] = '\0';
    if (httpcli_request("POST", url, hdr, body, strlen(body), 30000, &r, err, sizeof err) != 0) {
        fprintf(stderr, "  order: %s\n", err);
        return -1;
    }
    json_t *j = json_loads(r.body ? r.body : "", 0, NULL);
    const char *gid = json_string_value(json_object_get(j, "gid"));
    snprintf(status, statuslen, "%s", json_is_string(json_object_get(j, "status")) ?
             json_string_value(json_object_get(j, "status")) : "");
    pthread_mutex_lock(&g.mu);
    if (gid && g.ngids < (int)(sizeof g.gids / sizeof g.gids[0]))
        snprintf(g.gids[g.ngids++], sizeof g.gids[0], "%s", gid);
    pthread_mutex_unlock(&g.mu);
    if (r.status != 200 && r.status != 409)
        fprintf(stderr, "  order: HTTP %d %s\n", r.status, r.body ? r.body : "");
    int st = r.status;
    json_decref(j);
    httpcli_resp_free(&r);
    return st;
}

/* The coordinator's query of gid. */
static json_t *query(const char *gid) {
    char url[300], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/dtmsvr/query?gid=%s", g.dtm_http, gid);
    httpcli_resp r;
    if (httpcli_request("GET", url, NULL, NULL, 0, 5000, &r, err, sizeof err) != 0) return NULL;
    json_t *j = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
    httpcli_resp_free(&r);
    return j;
}

static const char *saga_status(json_t *q) {
    const char *s = json_string_value(json_object_get(json_object_get(q, "transaction"), "status"));
    return s ? s : "";
}

/* Waits until the saga of gid is final; returns its status. */
static void wait_final(const char *gid, char *out, size_t outlen) {
    long long deadline = h_now_ms() + 30000;
    out[0] = '\0';
    while (h_now_ms() < deadline) {
        json_t *q = query(gid);
        snprintf(out, outlen, "%s", saga_status(q));
        json_decref(q);
        if (strcmp(out, "succeed") == 0 || strcmp(out, "failed") == 0) return;
        h_sleep_ms(200);
    }
}

/* Rows a MariaDB user inserted (USER_STATISTICS): what one instance wrote. */
static int64_t rows_inserted(const instance *in) {
    return h_db_int(g.root, 0,
                    "SELECT ROWS_INSERTED FROM information_schema.USER_STATISTICS WHERE USER = '%s'",
                    in->user);
}

static void *order_flow(void *arg) {
    int *ok = arg;
    for (int i = 0; i < ORDERS; i++) {
        char status[32];
        int st = place(g.goods, 1, status, sizeof status);
        if (st == 200 && strcmp(status, "succeed") == 0) ++*ok;
    }
    return NULL;
}

/* ---- the steps ------------------------------------------------------------------------ */

/* 1 when `etcdctl lease list` (a count line, then one hex ID a line) names
 * the lease `id`. */
static int lease_listed(const char *list, unsigned long long id) {
    for (const char *p = strchr(list, '\n'); p && p[1]; p = strchr(p + 1, '\n'))
        if (strtoull(p + 1, NULL, 16) == id) return 1;
    return 0;
}

static void registry_matches_go_zero(void) {
    h_step("registry_matches_go_zero");
    dtm_start();
    instance_start(&order_a, 0, 1);
    instance_start(&order_b, 1, 0);
    instance_start(&stock_a, 0, 1);
    instance_start(&stock_b, 1, 0);
    char want[256];
    pair(want, sizeof want, order_a.port, order_b.port);
    CHECK(wait_registry("order.rpc", want, 10000) == 0);
    pair(want, sizeof want, stock_a.port, stock_b.port);
    CHECK(wait_registry("stock.rpc", want, 10000) == 0);
    snprintf(want, sizeof want, "127.0.0.1:%d", g.dtm_grpc); /* EndPoint, verbatim */
    CHECK(wait_registry("dtmservice", want, 10000) == 0);

    /* Keys: "<Key>/<lease ID in decimal>", each lease alive in etcd (etcdctl
     * lists leases in hex). */
    char keys[8][128], values[8][128], leases[4096];
    CHECK(etcdctl("lease list", leases, sizeof leases) == 0);
    const char *svcs[] = {"order.rpc", "stock.rpc", "dtmservice"};
    for (int s = 0; s < 3; s++) {
        int n = registry(svcs[s], keys, values, 8);
        CHECK_EQ_INT(n, s < 2 ? 2 : 1);
        for (int i = 0; i < n; i++) {
            size_t kl = strlen(svcs[s]);
            const char *id = keys[i] + kl + 1;
            char *end;
            unsigned long long lease = strtoull(id, &end, 10);
            CHECK(strncmp(keys[i], svcs[s], kl) == 0 && keys[i][kl] == '/');
            CHECK(*id >= '1' && *id <= '9' && *end == '\0' && lease > 0);
            CHECK(lease_listed(leases, lease));
        }
    }
    /* The keys outlive their 10 s TTL: the leases are kept alive (every
     * ~3 s). This wait is the point of the check, hence a plain sleep. */
    h_sleep_ms(11000);
    CHECK_EQ_INT(registry("order.rpc", keys, values, 8), 2);
    CHECK_EQ_INT(registry("stock.rpc", keys, values, 8), 2);
    CHECK_EQ_INT(registry("dtmservice", keys, values, 8), 1);
}

static void instances_share_and_survive_a_kill(void) {
    h_step("instances_share_and_survive_a_kill");
    api_start();
    int64_t before[4] = {rows_inserted(&order_a), rows_inserted(&order_b), rows_inserted(&stock_a),
                         rows_inserted(&stock_b)};
    int64_t stock0 = h_db_int(g.root, -1, "SELECT num FROM `dtm-gozero-stock`.stock WHERE goods_id = %lld",
                              (long long)g.goods);
    int ok = 0;
    pthread_t th;
    pthread_create(&th, NULL, order_flow, &ok);
    /* Kill one instance of each service while the orders flow. */
    long long deadline = h_now_ms() + 60000;
    for (;;) {
        pthread_mutex_lock(&g.mu);
        int n = g.ngids;
        pthread_mutex_unlock(&g.mu);
        if (n >= KILL_AFTER || h_now_ms() > deadline) break;
        h_sleep_ms(10);
    }
    int64_t a_before_kill[2] = {rows_inserted(&order_a) - before[0], rows_inserted(&stock_a) - before[2]};
    h_stop(order_a.pid, SIGKILL, 5000);
    h_stop(stock_a.pid, SIGKILL, 5000);
    order_a.pid = stock_a.pid = -1;
    pthread_join(th, NULL);
    /* A call that meets the killed instance goes at once to the other one:
     * no order has to wait for the coordinator's retry. */
    printf("  %d of %d orders answered 200 succeed at once\n", ok, ORDERS);
    CHECK_EQ_INT(ok, ORDERS);

    /* Both instances of each service wrote rows before the kill. */
    int64_t d[4] = {rows_inserted(&order_a) - before[0], rows_inserted(&order_b) - before[1],
                    rows_inserted(&stock_a) - before[2], rows_inserted(&stock_b) - before[3]};
    printf("  rows inserted: order-srv a %lld (before the kill %lld), b %lld; stock-srv a %lld "
           "(before the kill %lld), b %lld\n",
           (long long)d[0], (long long)a_before_kill[0], (long long)d[1], (long long)d[2],
           (long long)a_before_kill[1], (long long)d[3]);
    CHECK(d[0] > 0 && d[1] > 0 && d[2] > 0 && d[3] > 0);
    CHECK(d[1] > d[0] && d[3] > d[2]); /* after the kill, only b served */

    /* Every order ends succeed. */
    CHECK_EQ_INT(g.ngids, ORDERS);
    for (int i = 0; i < g.ngids; i++) {
        char st[32];
        wait_final(g.gids[i], st, sizeof st);
        if (strcmp(st, "succeed") != 0) fprintf(stderr, "  gid %s: %s\n", g.gids[i], st);
        CHECK_EQ_STR(st, "succeed");
    }
    int64_t stock1 = h_db_int(g.root, -1, "SELECT num FROM `dtm-gozero-stock`.stock WHERE goods_id = %lld",
                              (long long)g.goods);
    CHECK_EQ_INT(stock0 - stock1, ORDERS);

    /* The branch URLs the coordinator stored and drove are the etcd ones. */
    json_t *q = query(g.gids[0]);
    char want[256];
    snprintf(want, sizeof want, "etcd://127.0.0.1:%d/order.rpc/pb.order/create", g.etcd_port);
    int found = 0;
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(q, "branches"), i, b) {
        const char *url = json_string_value(json_object_get(b, "url"));
        found |= url && strcmp(url, want) == 0;
    }
    CHECK(found);
    json_decref(q);
}

static void etcd_restart_reregisters(void) {
    h_step("etcd_restart_reregisters");
    etcd_stop();
    /* etcd down: orders go on from the lists the clients hold... */
    char st[32];
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_INT(place(g.goods, 1, st, sizeof st), 200);
        CHECK_EQ_STR(st, "succeed");
    }
    /* ...and an instance that starts now serves all the same. */
    instance_start(&order_c, 0, 0);
    CHECK(order_c.pid > 0 && waitpid(order_c.pid, NULL, WNOHANG) == 0);

    /* etcd back, empty (its data is gone): every live service registers
     * again, within a few seconds. */
    etcd_start();
    char want[256];
    pair(want, sizeof want, order_b.port, order_c.port);
    CHECK(wait_registry("order.rpc", want, 15000) == 0);
    snprintf(want, sizeof want, "127.0.0.1:%d", stock_b.port);
    CHECK(wait_registry("stock.rpc", want, 15000) == 0);
    snprintf(want, sizeof want, "127.0.0.1:%d", g.dtm_grpc);
    CHECK(wait_registry("dtmservice", want, 15000) == 0);

    /* The new instance gets its share once the coordinator has read the
     * list again (within a second). */
    int64_t c0 = rows_inserted(&order_c);
    long long deadline = h_now_ms() + 10000;
    while (rows_inserted(&order_c) == c0 && h_now_ms() < deadline) {
        CHECK_EQ_INT(place(g.goods, 1, st, sizeof st), 200);
        CHECK_EQ_STR(st, "succeed");
        h_sleep_ms(100);
    }
    CHECK(rows_inserted(&order_c) > c0);
}

static void failed_order_compensates(void) {
    h_step("failed_order_compensates");
    char st[32];
    CHECK_EQ_INT(place(g.goods_low, 5, st, sizeof st), 409);
    CHECK_EQ_STR(st, "failed");
    pthread_mutex_lock(&g.mu);
    const char *gid = g.gids[g.ngids - 1];
    pthread_mutex_unlock(&g.mu);
    CHECK_EQ_INT(h_db_int(g.root, 9, "SELECT row_state FROM `dtm-gozero-order`.`order` WHERE gid = '%s'",
                          gid), -1);
    CHECK_EQ_INT(h_db_int(g.root, -1, "SELECT num FROM `dtm-gozero-stock`.stock WHERE goods_id = %lld",
                          (long long)g.goods_low), 1);
}

static void shutdown_revokes(void) {
    h_step("shutdown_revokes");
    /* SIGTERM: the lease is revoked, so the key goes long before its 10 s TTL. */
    long long t0 = h_now_ms();
    CHECK(WIFEXITED(h_stop(order_c.pid, SIGTERM, 10000)));
    order_c.pid = -1;
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d", order_b.port);
    CHECK(wait_registry("order.rpc", want, 3000) == 0);
    CHECK(h_now_ms() - t0 < 5000);
    CHECK(WIFEXITED(h_stop(g.dtm, SIGTERM, 10000)));
    g.dtm = -1;
    CHECK(wait_registry("dtmservice", "", 3000) == 0);
}

/* The barrier rows of the test user's orders. */
#define BARRIER_ROWS                                                                 \
    "SELECT COUNT(*) FROM dtm_barrier.barrier b JOIN `dtm-gozero-order`.`order` o " \
    "ON o.gid = b.gid WHERE o.user_id = %lld "

static void invariants(void) {
    h_step("invariants");
    /* Every order but the last (refused) one succeeded: one order row each,
     * awaiting payment, one unit of stock each, and both actions' barrier
     * rows. The refused order: its row cancelled, both compensations, and
     * the action rows that the null compensation of deduct inserted. */
    int ok = g.ngids - 1;
    long long u = (long long)g.user_id;
    CHECK(ok >= ORDERS + 3);
    CHECK_EQ_INT(h_db_int(g.root, -1, "SELECT COUNT(*) FROM `dtm-gozero-order`.`order` WHERE user_id = %lld "
                          "AND goods_id = %lld AND row_state = 0", u, (long long)g.goods), ok);
    CHECK_EQ_INT(h_db_int(g.root, -1, "SELECT COUNT(*) FROM `dtm-gozero-order`.`order` WHERE user_id = %lld",
                          u), ok + 1);
    CHECK_EQ_INT(h_db_int(g.root, -1, "SELECT num FROM `dtm-gozero-stock`.stock WHERE goods_id = %lld",
                          (long long)g.goods), 1000 - ok);
    CHECK_EQ_INT(h_db_int(g.root, -1, BARRIER_ROWS "AND b.op = 'action'", u), 2 * ok + 2);
    CHECK_EQ_INT(h_db_int(g.root, -1, BARRIER_ROWS "AND b.op = 'compensate'", u), 2);
}

/* ---- set-up and clean-up ------------------------------------------------------------ */

static void users(int create) {
    const instance *all[] = {&order_a, &order_b, &order_c, &stock_a, &stock_b};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (!create) {
            h_db_exec(g.root, "DROP USER IF EXISTS '%s'@'%%'", all[i]->user);
            continue;
        }
        const char *u = all[i]->user;
        h_db_exec(g.root, "CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s'", u, u);
        h_db_exec(g.root, "GRANT SELECT, INSERT, UPDATE, DELETE ON `%s`.* TO '%s'@'%%'", all[i]->db, u);
        h_db_exec(g.root, "GRANT SELECT, INSERT, UPDATE, DELETE ON dtm_barrier.* TO '%s'@'%%'", u);
    }
}

int main(void) {
    if (find_exe("etcd", g.etcd_bin, sizeof g.etcd_bin) != 0 ||
        find_exe("etcdctl", g.etcdctl, sizeof g.etcdctl) != 0) {
        fprintf(stderr, "test_etcd: etcd and etcdctl are needed (apt-get install etcd-server etcd-client; "
                        "scripts/install-deps.sh)\n");
        return 1;
    }
    const char *run = getenv("CDTM_RUN");
    snprintf(g.dir, sizeof g.dir, "%s/etcd-test-%d", run && *run ? run : "/tmp", (int)getpid());
    if (mkdir(g.dir, 0755) != 0 && errno != EEXIST) h_sh("mkdir -p '%s'", g.dir);
    g.etcd_port = h_free_port();
    do g.etcd_peer = h_free_port(); while (g.etcd_peer == g.etcd_port);
    do g.dead_port = h_free_port(); while (g.dead_port == g.etcd_port || g.dead_port == g.etcd_peer);

    g.root = h_db_pool("");
    int64_t userstat = h_db_int(g.root, 0, "SELECT @@GLOBAL.userstat");
    h_db_exec(g.root, "SET GLOBAL userstat = 1");
    users(1);
    g.user_id = 880000000 + getpid() % 100000;
    g.goods = 770000000 + getpid() % 100000;
    g.goods_low = g.goods + 1;
    h_db_exec(g.root, "REPLACE INTO `dtm-gozero-stock`.stock (goods_id, num) VALUES (%lld, 1000), (%lld, 1)",
              (long long)g.goods, (long long)g.goods_low);

    etcd_start();
    if (!h_failures) {
        registry_matches_go_zero();
        instances_share_and_survive_a_kill();
        etcd_restart_reregisters();
        failed_order_compensates();
        shutdown_revokes();
        invariants();
    }

    /* Stop everything we started, by PID. */
    pid_t pids[] = {g.api, g.dtm, order_a.pid, order_b.pid, order_c.pid, stock_a.pid, stock_b.pid};
    for (size_t i = 0; i < sizeof pids / sizeof pids[0]; i++)
        if (pids[i] > 0) h_stop(pids[i], SIGTERM, 10000);
    etcd_stop();
    users(0);
    h_db_exec(g.root, "SET GLOBAL userstat = %d", userstat ? 1 : 0);
    h_db_exec(g.root, "DELETE FROM `dtm-gozero-stock`.stock WHERE goods_id IN (%lld, %lld)",
              (long long)g.goods, (long long)g.goods_low);
    h_db_exec(g.root, "DROP DATABASE IF EXISTS dtm_test_etcd");
    db_pool_free(g.root);
    if (!h_failures) h_sh("rm -rf '%s'", g.dir);
    else fprintf(stderr, "test_etcd: logs kept in %s\n", g.dir);
    return h_finish("test_etcd");
}
