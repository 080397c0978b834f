/* test_etcd_resolve.c: the pure parts of common/etcd.h, without a real etcd:
 * targets as go-zero writes them, the split of branch URLs as DTM's go-zero
 * driver does it, the address a server advertises, and the resolver
 * against a fake v3 gateway (a civetweb route answering /v3/kv/range) whose
 * instance list the test controls. test_etcd.c runs the real etcd;
 * test_dtm_config.c the coordinator's MicroService settings. */
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "etcd.h"
#include "harness.h"
#include "httpsrv.h"
#include "log.h"

/* ---- targets and URLs ---------------------------------------------------- */

static void target_parse_reads_go_zero_targets(void) {
    h_step("target_parse_reads_go_zero_targets");
    etcd_target t;
    char err[256], s[512];
    CHECK_EQ_INT(etcd_target_parse("etcd://127.0.0.1:2379/order.rpc", &t, err, sizeof err), 0);
    CHECK_EQ_INT(t.nhosts, 1);
    CHECK_EQ_STR(t.hosts[0], "127.0.0.1:2379");
    CHECK_EQ_STR(t.key, "order.rpc");
    CHECK_EQ_INT(etcd_target_parse("etcd://h1:2379,h2:2379,h3:2379/dtmservice", &t, err, sizeof err), 0);
    CHECK_EQ_INT(t.nhosts, 3);
    CHECK_EQ_STR(t.hosts[2], "h3:2379");
    CHECK_EQ_INT(etcd_target_string(&t, s, sizeof s), 0);
    CHECK_EQ_STR(s, "etcd://h1:2379,h2:2379,h3:2379/dtmservice");
    CHECK_EQ_INT(etcd_target_string(&t, s, 20), -1);
    CHECK_EQ_INT(etcd_target_parse("discov://127.0.0.1:2379/order.rpc", &t, err, sizeof err), 0);
    CHECK(etcd_is_target("etcd://x/y") && etcd_is_target("discov://x/y"));
    CHECK(!etcd_is_target("127.0.0.1:9001") && !etcd_is_target("consul://x/y") && !etcd_is_target(NULL));

    struct { const char *target, *needle; } bad[] = {
        {"127.0.0.1:2379/order.rpc", "not an etcd://"},
        {"consul://127.0.0.1:8500/order.rpc", "not an etcd://"},
        {"etcd://127.0.0.1:2379", "want etcd://"},
        {"etcd:///order.rpc", "want etcd://"},
        {"etcd://127.0.0.1:2379/", "empty"},
        {"etcd://a,,b/order.rpc", "empty"},
        {"etcd://a,/order.rpc", "empty"},
        {"etcd://127.0.0.1:2379/order.rpc/pb.order/create", "second '/'"},
        {"etcd://127.0.0.1:2379/dtmservice?user=u&password=p", "not supported"},
        {"etcd://1,2,3,4,5,6,7,8,9/k", "more than 8"},
        {"etcd://h/a b", "space"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK_EQ_INT(etcd_target_parse(bad[i].target, &t, err, sizeof err), -1);
        if (!strstr(err, bad[i].needle))
            fprintf(stderr, "  %s: \"%s\" does not say '%s'\n", bad[i].target, err, bad[i].needle);
        CHECK(strstr(err, bad[i].needle) != NULL);
    }

    const char *hosts[] = {"127.0.0.1:2379", "127.0.0.2:2379"};
    CHECK_EQ_INT(etcd_target_make(hosts, 2, "stock.rpc", &t, err, sizeof err), 0);
    CHECK_EQ_INT(etcd_target_string(&t, s, sizeof s), 0);
    CHECK_EQ_STR(s, "etcd://127.0.0.1:2379,127.0.0.2:2379/stock.rpc");
    CHECK_EQ_INT(etcd_target_make(hosts, 0, "stock.rpc", &t, err, sizeof err), -1);
    CHECK_EQ_STR(err, "Etcd.Hosts is empty");
    CHECK_EQ_INT(etcd_target_make(hosts, 1, NULL, &t, err, sizeof err), -1);
    CHECK_EQ_STR(err, "Etcd.Key is required");
    CHECK_EQ_INT(etcd_target_make(hosts, 1, "/order.rpc", &t, err, sizeof err), -1);
    CHECK(strstr(err, "'/'") != NULL);
}

static void split(const char *url, const char *server, const char *method) {
    char s[256], m[256], err[256];
    int rc = etcd_split_branch_url(url, s, sizeof s, m, sizeof m, err, sizeof err);
    if (!server) {
        CHECK_EQ_INT(rc, -1);
        CHECK(strstr(err, "bad gRPC URL") != NULL);
        CHECK_EQ_STR(s, "");
        return;
    }
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(s, server);
    CHECK_EQ_STR(m, method);
}

static void split_cuts_at_the_second_slash_like_dtm(void) {
    h_step("split_cuts_at_the_second_slash_like_dtm");
    /* DTM's go-zero driver (ParseServerMethod): with a scheme, the path is
     * cut at its second '/'. */
    split("etcd://127.0.0.1:2379/order.rpc/pb.order/create", "etcd://127.0.0.1:2379/order.rpc",
          "/pb.order/create");
    split("etcd://h1:2379,h2:2379/stock.rpc/pb.stock/deductRollback", "etcd://h1:2379,h2:2379/stock.rpc",
          "/pb.stock/deductRollback");
    split("etcd://localhost:2379/dtmservice/dtmgimp.Dtm/NewGid", "etcd://localhost:2379/dtmservice",
          "/dtmgimp.Dtm/NewGid");
    split("discov://h/k/a.B/c", "discov://h/k", "/a.B/c");
    /* Without one, at the first '/' (DTM's default driver). */
    split("127.0.0.1:9001/pb.order/create", "127.0.0.1:9001", "/pb.order/create");
    split("localhost:36790/dtmgimp.Dtm/Submit", "localhost:36790", "/dtmgimp.Dtm/Submit");
    /* Nothing to call. */
    split("127.0.0.1:9001", NULL, NULL);
    split("/pb.order/create", NULL, NULL);
    split("127.0.0.1:9001/", NULL, NULL);
    split("etcd://127.0.0.1:2379/order.rpc", NULL, NULL);
    split("etcd://127.0.0.1:2379/order.rpc/", NULL, NULL);
    split("etcd://127.0.0.1:2379", NULL, NULL);
    split("", NULL, NULL);
    char s[8], m[64], err[128];
    CHECK_EQ_INT(etcd_split_branch_url("127.0.0.1:9001/a.B/c", s, sizeof s, m, sizeof m, err, sizeof err), -1);
    CHECK(strstr(err, "too long") != NULL);
}

static void advertise_follows_figure_out_listen_on(void) {
    h_step("advertise_follows_figure_out_listen_on");
    char a[128], err[128];
    unsetenv("POD_IP");
    CHECK_EQ_INT(etcd_advertise_addr("127.0.0.1:9001", 9001, a, sizeof a, err, sizeof err), 0);
    CHECK_EQ_STR(a, "127.0.0.1:9001");
    CHECK_EQ_INT(etcd_advertise_addr("10.1.2.3:0", 40001, a, sizeof a, err, sizeof err), 0);
    CHECK_EQ_STR(a, "10.1.2.3:40001");
    setenv("POD_IP", "10.9.8.7", 1);
    CHECK_EQ_INT(etcd_advertise_addr("0.0.0.0:9001", 9001, a, sizeof a, err, sizeof err), 0);
    CHECK_EQ_STR(a, "10.9.8.7:9001");
    CHECK_EQ_INT(etcd_advertise_addr(":9002", 9002, a, sizeof a, err, sizeof err), 0);
    CHECK_EQ_STR(a, "10.9.8.7:9002");
    unsetenv("POD_IP");
    /* Without POD_IP: the first non-loopback IPv4, never 0.0.0.0 or 127.x
     * (unless the machine has no other address: then kept as written). */
    CHECK_EQ_INT(etcd_advertise_addr("0.0.0.0:9001", 9001, a, sizeof a, err, sizeof err), 0);
    CHECK(strncmp(a, "127.", 4) != 0);
    CHECK(strstr(a, ":9001") != NULL);
    CHECK_EQ_INT(etcd_advertise_addr("9001", 0, a, sizeof a, err, sizeof err), -1);
    CHECK(strstr(err, "no port") != NULL);
}

/* ---- the resolver against a fake gateway ----------------------------------- */

static struct {
    pthread_mutex_t mu;
    char values[8][64]; /* the registered instances ("" = none) */
    int reads;          /* range requests answered */
    char last_key[64], last_end[64];
} fake = {.mu = PTHREAD_MUTEX_INITIALIZER};

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64(const char *s, char *out) {
    size_t n = strlen(s), o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)s[i] << 16 | (i + 1 < n ? (unsigned char)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? (unsigned char)s[i + 2] : 0);
        out[o++] = B64[v >> 18 & 63];
        out[o++] = B64[v >> 12 & 63];
        out[o++] = i + 1 < n ? B64[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? B64[v & 63] : '=';
    }
    out[o] = '\0';
}

static int fake_range(struct mg_connection *conn, void *ud) {
    (void)ud;
    char *body;
    size_t len;
    if (httpsrv_read_body(conn, 1 << 16, &body, &len) != 0) return 1;
    json_t *req = json_loads(body, 0, NULL), *kvs = json_array();
    free(body);
    pthread_mutex_lock(&fake.mu);
    fake.reads++;
    snprintf(fake.last_key, sizeof fake.last_key, "%s", json_string_value(json_object_get(req, "key")));
    snprintf(fake.last_end, sizeof fake.last_end, "%s", json_string_value(json_object_get(req, "range_end")));
    for (int i = 0; i < 8; i++) {
        if (!fake.values[i][0]) continue;
        char k[128], v[128];
        snprintf(k, sizeof k, "x/%d", 1000 + i);
        b64(k, k + 64);
        if (strcmp(fake.values[i], "!garbage") == 0) snprintf(v, sizeof v, "***");
        else b64(fake.values[i], v);
        json_array_append_new(kvs, json_pack("{s:s,s:s,s:s}", "key", k + 64, "value", v, "lease", "7"));
    }
    pthread_mutex_unlock(&fake.mu);
    json_decref(req);
    /* As etcd: an empty range has no "kvs" and no "count". */
    json_t *reply = json_pack("{s:{s:s}}", "header", "revision", "1");
    if (json_array_size(kvs)) json_object_set(reply, "kvs", kvs);
    json_decref(kvs);
    httpsrv_reply_json(conn, 200, reply);
    return 1;
}

static void fake_set(int i, const char *v) {
    pthread_mutex_lock(&fake.mu);
    snprintf(fake.values[i], sizeof fake.values[i], "%s", v);
    pthread_mutex_unlock(&fake.mu);
}

static int fake_reads(void) {
    pthread_mutex_lock(&fake.mu);
    int n = fake.reads;
    pthread_mutex_unlock(&fake.mu);
    return n;
}

static const char *pick(etcd_resolver *r, const char *target) {
    static char addr[1024];
    char err[512];
    if (etcd_resolver_pick(r, target, addr, ETCD_ADDR_MAX, err, sizeof err) != 0)
        snprintf(addr, sizeof addr, "ERR %s", err);
    return addr;
}

/* Polls pick() until its answer starts with `want` or 3 s pass (the
 * resolver reads etcd again at most once a second); returns the last answer. */
static const char *pick_until(etcd_resolver *r, const char *target, const char *want) {
    long long deadline = h_now_ms() + 3000;
    const char *a = pick(r, target);
    while (strncmp(a, want, strlen(want)) != 0 && h_now_ms() < deadline) {
        h_sleep_ms(50);
        a = pick(r, target);
    }
    return a;
}

static void resolver_round_robins_and_skips_dead_instances(void) {
    h_step("resolver_round_robins_and_skips_dead_instances");
    int port = h_free_port(), dead = h_free_port();
    while (dead == port) dead = h_free_port();
    char listen[64], target[128], err[256];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    const httpsrv_route routes[] = {{"/v3/kv/range", fake_range, NULL}};
    httpsrv *hs = httpsrv_start(listen, 4, routes, 1, err, sizeof err);
    CHECK(hs != NULL);
    if (!hs) return;
    /* The first host is down: every read goes on to the second. */
    snprintf(target, sizeof target, "etcd://127.0.0.1:%d,127.0.0.1:%d/x", dead, port);
    fake_set(0, "127.0.0.1:9002");
    fake_set(1, "127.0.0.1:9001");
    fake_set(2, "127.0.0.1:9002"); /* registered twice (two leases): one instance */
    fake_set(3, "!garbage");       /* not base64: ignored */

    etcd_resolver *r = etcd_resolver_new();
    CHECK_EQ_STR(pick(r, target), "127.0.0.1:9001"); /* sorted, then round-robin */
    CHECK_EQ_STR(pick(r, target), "127.0.0.1:9002");
    CHECK_EQ_STR(pick(r, target), "127.0.0.1:9001");
    CHECK_EQ_INT(fake_reads(), 1); /* read once a second, not per pick */
    CHECK_EQ_STR(fake.last_key, "eC8=");  /* "x/" */
    CHECK_EQ_STR(fake.last_end, "eDA="); /* "x0": the prefix's last byte + 1 */

    char **list;
    etcd_target t;
    etcd_target_parse(target, &t, err, sizeof err);
    size_t host = 0;
    int n = etcd_list(&t, &host, 1000, &list, err, sizeof err);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(host, 1);
    if (n == 2) CHECK(strcmp(list[0], "127.0.0.1:9001") == 0 && strcmp(list[1], "127.0.0.1:9002") == 0);
    if (n >= 0) etcd_addrs_free(list, n);

    /* A failed call: that instance is skipped and the list read again. */
    int reads = fake_reads();
    etcd_resolver_report_down(r, target, "127.0.0.1:9002");
    for (int i = 0; i < 4; i++) CHECK_EQ_STR(pick(r, target), "127.0.0.1:9001");
    CHECK_EQ_INT(fake_reads(), reads + 1);
    /* All down: picks go on (one may be back) rather than fail. */
    etcd_resolver_report_down(r, target, "127.0.0.1:9001");
    const char *a = pick(r, target);
    CHECK(strcmp(a, "127.0.0.1:9001") == 0 || strcmp(a, "127.0.0.1:9002") == 0);

    /* A new instance is seen within about a second. */
    fake_set(4, "127.0.0.1:9003");
    CHECK_EQ_STR(pick_until(r, target, "127.0.0.1:9003"), "127.0.0.1:9003");

    /* Nothing registered: an error that says so. */
    for (int i = 0; i < 8; i++) fake_set(i, "");
    a = pick_until(r, target, "ERR no instance of");
    CHECK(strstr(a, "ERR no instance of") != NULL && strstr(a, "'x/'") != NULL);

    /* etcd gone: the last list is kept. */
    fake_set(0, "127.0.0.1:9009");
    CHECK_EQ_STR(pick_until(r, target, "127.0.0.1:9009"), "127.0.0.1:9009");
    httpsrv_stop(hs);
    /* Past the next refresh, which now finds etcd gone: this wait is the
     * point of the check, hence a plain sleep. */
    h_sleep_ms(1100);
    CHECK_EQ_STR(pick(r, target), "127.0.0.1:9009");
    CHECK_EQ_STR(pick(r, target), "127.0.0.1:9009");

    /* Never reached: an error naming etcd, quickly. */
    snprintf(target, sizeof target, "etcd://127.0.0.1:%d/order.rpc", dead);
    a = pick(r, target);
    CHECK(strstr(a, "ERR cannot resolve") != NULL && strstr(a, "etcd 127.0.0.1:") != NULL);
    CHECK(strstr(pick(r, "etcd://h/a/b"), "ERR") != NULL);
    /* Many targets: the cache stays bounded and keeps answering. */
    log_set_level(LOG_ERROR);
    for (int i = 0; i < 70; i++) {
        snprintf(target, sizeof target, "etcd://127.0.0.1:%d/k%d", dead, i);
        CHECK(strncmp(pick(r, target), "ERR", 3) == 0);
    }
    etcd_resolver_free(r);
}

int main(void) {
    target_parse_reads_go_zero_targets();
    split_cuts_at_the_second_slash_like_dtm();
    advertise_follows_figure_out_listen_on();
    resolver_round_robins_and_skips_dead_instances();
    return h_finish("test_etcd_resolve");
}
