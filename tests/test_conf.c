/* test_conf.c: configuration files (conf.h) and MySQL DSNs (dsn.h).
 *
 * Proves that the demo's own YAML files (flow and block style) load and read
 * back as a go-zero user expects, that environment variables override them
 * under DTM's names, and that every kind of bad input gives an error naming
 * the file and the key or line (and, for a DSN, the part) without ever
 * repeating a password. Needs no database or server. */
#include "harness.h"

#include <stdlib.h>
#include <unistd.h>

#include "conf.h"
#include "dsn.h"

static int has(const char *s, const char *sub) { return s && sub && strstr(s, sub) != NULL; }

/* The demo's order-srv/etc/order.yaml (demo.md §6), flow style. */
static const char order_srv_yaml[] =
    "Name: order.rpc\n"
    "ListenOn: 0.0.0.0:9001\n"
    "Etcd: { Hosts: [127.0.0.1:2379], Key: order.rpc }\n"
    "DB: { DataSource: \"root:root@tcp(127.0.0.1:3306)/dtm-gozero-order?charset=utf8mb4&parseTime=true"
    "&loc=Asia%2FShanghai\" }\n"
    "#Consul:\n"
    "#  Host: 127.0.0.1:8500\n";

/* The same settings in block style, with two etcd hosts. */
static const char order_srv_block_yaml[] =
    "Name: order.rpc\n"
    "ListenOn: 0.0.0.0:9001\n"
    "Etcd:\n"
    "  Hosts:\n"
    "    - 127.0.0.1:2379\n"
    "    - 127.0.0.2:2379\n"
    "  Key: order.rpc\n"
    "DB:\n"
    "  DataSource: root:root@tcp(127.0.0.1:3306)/dtm-gozero-order?charset=utf8mb4\n";

/* order-api/etc/order.yaml. */
static const char order_api_yaml[] =
    "Name: order\n"
    "Host: 0.0.0.0\n"
    "Port: 8889\n"
    "OrderRpcConf: { Etcd: { Hosts: [127.0.0.1:2379], Key: order.rpc } }\n"
    "StockRpcConf: { Etcd: { Hosts: [127.0.0.1:2379], Key: stock.rpc } }\n";

static conf *parse(const char *name, const char *text, char *err, size_t errlen) {
    return conf_parse(name, text, strlen(text), err, errlen);
}

static void demo_files_read_back(void) {
    h_step("conf_reads_demo_order_yaml_flow_style");
    char err[512];
    conf *c = parse("order-srv/etc/order.yaml", order_srv_yaml, err, sizeof err);
    CHECK(c != NULL);
    if (!c) { fprintf(stderr, "%s\n", err); return; }
    CHECK_EQ_STR(conf_str(c, "Name", NULL), "order.rpc");
    CHECK_EQ_STR(conf_str(c, "ListenOn", NULL), "0.0.0.0:9001");
    CHECK_EQ_STR(conf_str(c, "DB.DataSource", NULL),
                 "root:root@tcp(127.0.0.1:3306)/dtm-gozero-order?charset=utf8mb4&parseTime=true"
                 "&loc=Asia%2FShanghai");
    CHECK_EQ_STR(conf_str(c, "Etcd.Key", NULL), "order.rpc");
    const char *const *hosts = NULL;
    CHECK_EQ_INT(conf_list(c, "Etcd.Hosts", &hosts), 1);
    if (hosts) CHECK_EQ_STR(hosts[0], "127.0.0.1:2379");
    /* Keys are case-sensitive, as in go-zero; maps and lists are not strings. */
    CHECK(conf_str(c, "db.datasource", NULL) == NULL);
    CHECK(conf_str(c, "Etcd", NULL) == NULL);
    CHECK(conf_str(c, "Etcd.Hosts", NULL) == NULL);
    CHECK_EQ_STR(conf_str(c, "Consul.Host", "none"), "none"); /* commented out */
    /* A scalar reads as a list of one. */
    const char *const *one = NULL;
    CHECK_EQ_INT(conf_list(c, "Name", &one), 1);
    if (one) CHECK_EQ_STR(one[0], "order.rpc");
    CHECK_EQ_INT(conf_list(c, "Nope", &one), 0);
    CHECK_EQ_INT(conf_list(c, "DB", &one), 0);
    conf_free(c);

    h_step("conf_reads_block_style");
    c = parse("block.yaml", order_srv_block_yaml, err, sizeof err);
    CHECK(c != NULL);
    if (c) {
        CHECK_EQ_INT(conf_list(c, "Etcd.Hosts", &hosts), 2);
        if (hosts) {
            CHECK_EQ_STR(hosts[0], "127.0.0.1:2379");
            CHECK_EQ_STR(hosts[1], "127.0.0.2:2379");
        }
        CHECK_EQ_STR(conf_str(c, "DB.DataSource", NULL),
                     "root:root@tcp(127.0.0.1:3306)/dtm-gozero-order?charset=utf8mb4");
        conf_free(c);
    }

    h_step("conf_reads_order_api_nested_flow");
    c = parse("order-api/etc/order.yaml", order_api_yaml, err, sizeof err);
    CHECK(c != NULL);
    if (c) {
        int64_t port = 0;
        CHECK_EQ_INT(conf_int(c, "Port", 1, 1, 65535, &port, err, sizeof err), 0);
        CHECK_EQ_INT(port, 8889);
        CHECK_EQ_STR(conf_str(c, "StockRpcConf.Etcd.Key", NULL), "stock.rpc");
        CHECK_EQ_INT(conf_list(c, "OrderRpcConf.Etcd.Hosts", &hosts), 1);
        conf_free(c);
    }
}

static void env_names_and_overrides(void) {
    h_step("conf_env_names_follow_dtm");
    static const struct { const char *key, *env; } names[] = {
        {"Store.Host", "STORE_HOST"},
        {"MicroService.EndPoint", "MICRO_SERVICE_END_POINT"},
        {"DB.DataSource", "DB_DATA_SOURCE"},
        {"HttpPort", "HTTP_PORT"},
        {"ListenOn", "LISTEN_ON"},
        {"Etcd.Hosts", "ETCD_HOSTS"},
        {"RetryInterval", "RETRY_INTERVAL"},
        {"Store.MaxOpenConns", "STORE_MAX_OPEN_CONNS"},
        {"UpdateBranchAsyncGoroutineNum", "UPDATE_BRANCH_ASYNC_GOROUTINE_NUM"},
        {"DBHost", "DB_HOST"},
        {"DB", "DB"},
        {"LogLevel", "LOG_LEVEL"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char out[128];
        conf_env_name(names[i].key, out, sizeof out);
        CHECK_EQ_STR(out, names[i].env);
    }
    char tiny[5];
    conf_env_name("MicroService.EndPoint", tiny, sizeof tiny);
    CHECK_EQ_STR(tiny, "MICR"); /* truncated, still terminated */

    h_step("conf_env_override_wins");
    char err[512];
    conf *c = parse("order.yaml", order_srv_yaml, err, sizeof err);
    CHECK(c != NULL);
    if (!c) return;
    setenv("DB_DATA_SOURCE", "u:p@tcp(db:3306)/x", 1);
    const char *ds = conf_str(c, "DB.DataSource", NULL);
    CHECK_EQ_STR(ds, "u:p@tcp(db:3306)/x");
    /* The pointer belongs to the tree, not to the environment. */
    unsetenv("DB_DATA_SOURCE");
    CHECK_EQ_STR(ds, "u:p@tcp(db:3306)/x");
    CHECK(has(conf_str(c, "DB.DataSource", NULL), "dtm-gozero-order"));
    /* A set but empty variable does not win. */
    setenv("LISTEN_ON", "", 1);
    CHECK_EQ_STR(conf_str(c, "ListenOn", NULL), "0.0.0.0:9001");
    unsetenv("LISTEN_ON");
    /* A list from the environment: items split at commas and trimmed. */
    setenv("ETCD_HOSTS", "10.0.0.1:2379, 10.0.0.2:2379,,", 1);
    const char *const *hosts = NULL;
    CHECK_EQ_INT(conf_list(c, "Etcd.Hosts", &hosts), 2);
    if (hosts) {
        CHECK_EQ_STR(hosts[0], "10.0.0.1:2379");
        CHECK_EQ_STR(hosts[1], "10.0.0.2:2379");
    }
    unsetenv("ETCD_HOSTS");
    conf_free(c);

    h_step("conf_empty_runs_on_environment");
    c = conf_empty();
    CHECK(c != NULL);
    if (!c) return;
    CHECK(conf_str(c, "Store.Host", NULL) == NULL);
    CHECK_EQ_STR(conf_str(c, "Store.Host", "localhost"), "localhost");
    setenv("STORE_PORT", "3307", 1);
    int64_t port = 0;
    CHECK_EQ_INT(conf_int(c, "Store.Port", 3306, 1, 65535, &port, err, sizeof err), 0);
    CHECK_EQ_INT(port, 3307);
    setenv("STORE_PORT", "x1", 1);
    CHECK_EQ_INT(conf_int(c, "Store.Port", 3306, 1, 65535, &port, err, sizeof err), -1);
    CHECK(has(err, "Store.Port") && has(err, "'x1'") && has(err, "STORE_PORT"));
    unsetenv("STORE_PORT");
    CHECK_EQ_INT(conf_require(c, "Store.Host", err, sizeof err), -1);
    setenv("STORE_HOST", "db", 1);
    CHECK_EQ_INT(conf_require(c, "Store.Host", err, sizeof err), 0);
    unsetenv("STORE_HOST");
    conf_free(c);
}

static void typed_reads(void) {
    h_step("conf_int_and_bool_name_the_key");
    static const char text[] =
        "Store:\n"
        "  Port: abc\n"
        "  MaxOpenConns: 500\n"
        "  Big: 99999999999999999999\n"
        "  Quoted: \"42\"\n"
        "  Empty:\n"
        "UpdateBranchSync: yes\n"
        "Flag: maybe\n"
        "Hosts: [a, b]\n";
    char err[512];
    conf *c = parse("etc/conf.yml", text, err, sizeof err);
    CHECK(c != NULL);
    if (!c) { fprintf(stderr, "%s\n", err); return; }
    int64_t v = 0;
    CHECK_EQ_INT(conf_int(c, "Store.Port", 3306, 1, 65535, &v, err, sizeof err), -1);
    CHECK_EQ_STR(err, "etc/conf.yml: Store.Port: 'abc' is not an integer");
    CHECK_EQ_INT(conf_int(c, "Store.MaxOpenConns", 1, 1, 100, &v, err, sizeof err), -1);
    CHECK(has(err, "etc/conf.yml") && has(err, "Store.MaxOpenConns") && has(err, "out of range"));
    CHECK_EQ_INT(conf_int(c, "Store.MaxOpenConns", 1, 1, 1000, &v, err, sizeof err), 0);
    CHECK_EQ_INT(v, 500);
    CHECK_EQ_INT(conf_int(c, "Store.Big", 1, INT64_MIN, INT64_MAX, &v, err, sizeof err), -1);
    CHECK(has(err, "Store.Big"));
    CHECK_EQ_INT(conf_int(c, "Store.Quoted", 1, 0, 100, &v, err, sizeof err), 0);
    CHECK_EQ_INT(v, 42);
    /* Absent and null values give the default. */
    CHECK_EQ_INT(conf_int(c, "Store.Missing", 7, 0, 100, &v, err, sizeof err), 0);
    CHECK_EQ_INT(v, 7);
    CHECK_EQ_INT(conf_int(c, "Store.Empty", 8, 0, 100, &v, err, sizeof err), 0);
    CHECK_EQ_INT(v, 8);
    CHECK(conf_str(c, "Store.Empty", NULL) == NULL);
    /* A mapping where a number belongs is an error, not a silent default. */
    CHECK_EQ_INT(conf_int(c, "Store", 1, 0, 100, &v, err, sizeof err), -1);
    CHECK(has(err, "Store") && has(err, "mapping"));
    int b = -1;
    CHECK_EQ_INT(conf_bool(c, "UpdateBranchSync", 0, &b, err, sizeof err), 0);
    CHECK_EQ_INT(b, 1);
    CHECK_EQ_INT(conf_bool(c, "Absent", 1, &b, err, sizeof err), 0);
    CHECK_EQ_INT(b, 1);
    CHECK_EQ_INT(conf_bool(c, "Flag", 0, &b, err, sizeof err), -1);
    CHECK(has(err, "etc/conf.yml: Flag:") && has(err, "'maybe'"));
    CHECK_EQ_INT(conf_bool(c, "Hosts", 0, &b, err, sizeof err), -1);

    h_step("conf_require_names_file_and_key");
    CHECK_EQ_INT(conf_require(c, "Store.Port", err, sizeof err), 0);
    CHECK_EQ_INT(conf_require(c, "Hosts", err, sizeof err), 0);
    CHECK_EQ_INT(conf_require(c, "Store.Empty", err, sizeof err), -1);
    CHECK_EQ_STR(err, "etc/conf.yml: Store.Empty: is required");
    CHECK_EQ_INT(conf_require(c, "Etcd.Key", err, sizeof err), -1);
    CHECK_EQ_STR(err, "etc/conf.yml: Etcd.Key: is required");
    conf_free(c);
}

static void file_loading(void) {
    h_step("conf_load_reads_a_file");
    char err[512];
    char *path = h_write_temp(".yaml", order_srv_yaml);
    CHECK(path != NULL);
    if (path) {
        conf *c = conf_load(path, err, sizeof err);
        CHECK(c != NULL);
        if (c) CHECK_EQ_STR(conf_str(c, "Etcd.Key", NULL), "order.rpc");
        conf_free(c);
        unlink(path);
        free(path);
    }

    h_step("conf_load_missing_file_names_it");
    conf *c = conf_load("/nonexistent/etc/order.yaml", err, sizeof err);
    CHECK(c == NULL);
    CHECK(has(err, "/nonexistent/etc/order.yaml") && has(err, "cannot open"));

    h_step("conf_load_malformed_yaml_names_file_and_line");
    path = h_write_temp(".yaml", "Name: order.rpc\nListenOn: 0.0.0.0:9001\nEtcd: Hosts: x\n");
    CHECK(path != NULL);
    if (path) {
        c = conf_load(path, err, sizeof err);
        CHECK(c == NULL);
        CHECK(has(err, path) && has(err, "line 3"));
        unlink(path);
        free(path);
    }
}

/* Each bad text must fail with a message holding each of the given words. */
static void parse_error_cases(void) {
    h_step("conf_parse_errors_name_the_line");
    static const struct { const char *text, *want1, *want2; } bad[] = {
        {"A: 1\nB: [1, 2\n", "bad.yaml: line", NULL},
        {"A: 1\n  B: 2\n", "line 2", NULL},
        {"- a\n- b\n", "top level must be a mapping", "line 1"},
        {"just text\n", "top level must be a mapping", NULL},
        {"A: 1\nB: 2\nA: 3\n", "line 3", "'A' appears twice"},
        {"Base: &b { X: 1 }\nOther: *b\n", "line 1", "anchors"},
        {"A: *x\n", "line 1", NULL},
        {"A: 1\n---\nB: 2\n", "only one YAML document", NULL},
        {"[1]: x\n", "line 1", "key"},
        {"A: \"\\0\"\n", "line 1", "NUL"},
        {"A:\n\tB: 1\n", "line 2", NULL},
    };
    char err[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        conf *c = parse("bad.yaml", bad[i].text, err, sizeof err);
        CHECK(c == NULL);
        conf_free(c);
        int ok = has(err, "bad.yaml") && has(err, bad[i].want1) && (!bad[i].want2 || has(err, bad[i].want2));
        if (!ok) fprintf(stderr, "case %zu: got \"%s\"\n", i, err);
        CHECK(ok);
    }

    h_step("conf_parse_bounds");
    /* 40 levels of nesting: refused with a message, not a deep recursion. */
    char deep[256] = "A: ";
    for (int i = 0; i < 40; i++) strcat(deep, "[");
    for (int i = 0; i < 40; i++) strcat(deep, "]");
    conf *c = parse("deep.yaml", deep, err, sizeof err);
    CHECK(c == NULL);
    CHECK(has(err, "deep.yaml") && has(err, "deeper than 32"));
    /* 32 levels are fine. */
    char ok32[256] = "A: ";
    for (int i = 0; i < 31; i++) strcat(ok32, "[");
    for (int i = 0; i < 31; i++) strcat(ok32, "]");
    c = parse("ok.yaml", ok32, err, sizeof err);
    CHECK(c != NULL);
    conf_free(c);
    /* More than 1 MiB. */
    size_t big = 1024 * 1024 + 1;
    char *text = malloc(big);
    if (text) {
        memset(text, '#', big);
        c = conf_parse("big.yaml", text, big, err, sizeof err);
        CHECK(c == NULL);
        CHECK(has(err, "big.yaml") && has(err, "larger than"));
        free(text);
    }
    /* An empty file or one with only comments is an empty tree. */
    c = parse("empty.yaml", "# nothing\n", err, sizeof err);
    CHECK(c != NULL);
    if (c) CHECK_EQ_STR(conf_str(c, "Name", "def"), "def");
    conf_free(c);
    c = conf_parse("empty.yaml", "", 0, err, sizeof err);
    CHECK(c != NULL);
    conf_free(c);
}

/* ---- DSN ---- */

static void dsn_good_forms(void) {
    h_step("dsn_parses_go_sql_driver_forms");
    dsn d;
    char err[256];
    CHECK_EQ_INT(dsn_parse("root:root@tcp(127.0.0.1:3306)/dtm-gozero-order?charset=utf8mb4&parseTime=true"
                           "&loc=Asia%2FShanghai",
                           &d, err, sizeof err), 0);
    CHECK_EQ_STR(d.user, "root");
    CHECK_EQ_STR(d.password, "root");
    CHECK_EQ_STR(d.host, "127.0.0.1");
    CHECK_EQ_INT(d.port, 3306);
    CHECK_EQ_STR(d.socket, "");
    CHECK_EQ_STR(d.dbname, "dtm-gozero-order");
    CHECK_EQ_INT(d.connect_timeout_s, 0);

    /* No password, no port. */
    CHECK_EQ_INT(dsn_parse("order_srv@tcp(db.local)/orders", &d, err, sizeof err), 0);
    CHECK_EQ_STR(d.user, "order_srv");
    CHECK_EQ_STR(d.password, "");
    CHECK_EQ_STR(d.host, "db.local");
    CHECK_EQ_INT(d.port, 3306);
    CHECK_EQ_STR(d.dbname, "orders");

    /* Empty password, empty database, other port. */
    CHECK_EQ_INT(dsn_parse("root:@tcp(localhost:3307)/", &d, err, sizeof err), 0);
    CHECK_EQ_STR(d.password, "");
    CHECK_EQ_INT(d.port, 3307);
    CHECK_EQ_STR(d.dbname, "");

    /* A password holding ':', '@', '/', ')' and '(': the user ends at the
     * first ':', the credentials at the last '@' before the address. */
    CHECK_EQ_INT(dsn_parse("u:p:a@b/c)(d@tcp(h:1)/db", &d, err, sizeof err), 0);
    CHECK_EQ_STR(d.user, "u");
    CHECK_EQ_STR(d.password, "p:a@b/c)(d");
    CHECK_EQ_STR(d.host, "h");
    CHECK_EQ_INT(d.port, 1);
    CHECK_EQ_STR(d.dbname, "db");

    /* Unix socket (a path may hold '@' too). */
    CHECK_EQ_INT(dsn_parse("root@unix(/work/main/.run/mariadb-3310/mysqld.sock)/dtm", &d, err, sizeof err), 0);
    CHECK_EQ_STR(d.socket, "/work/main/.run/mariadb-3310/mysqld.sock");
    CHECK_EQ_STR(d.host, "");
    CHECK_EQ_INT(d.port, 3306);
    CHECK_EQ_STR(d.dbname, "dtm");
    CHECK_EQ_INT(dsn_parse("dtm:dtm@unix(/tmp/a@b.sock)/dtm", &d, err, sizeof err), 0);
    CHECK_EQ_STR(d.password, "dtm");
    CHECK_EQ_STR(d.socket, "/tmp/a@b.sock");

    /* IPv6. */
    CHECK_EQ_INT(dsn_parse("root@tcp([::1]:3310)/x", &d, err, sizeof err), 0);
    CHECK_EQ_STR(d.host, "::1");
    CHECK_EQ_INT(d.port, 3310);

    /* Timeouts in Go durations; a fraction of a second rounds up. */
    CHECK_EQ_INT(dsn_parse("u:p@tcp(h:1)/db?timeout=3s&readTimeout=500ms&writeTimeout=1m30s", &d, err,
                           sizeof err), 0);
    CHECK_EQ_INT(d.connect_timeout_s, 3);
    CHECK_EQ_INT(d.read_timeout_s, 1);
    CHECK_EQ_INT(d.write_timeout_s, 90);
    CHECK_EQ_INT(dsn_parse("u@tcp(h)/db?timeout=1.5s&writeTimeout=0&readTimeout=1h", &d, err, sizeof err), 0);
    CHECK_EQ_INT(d.connect_timeout_s, 2);
    CHECK_EQ_INT(d.write_timeout_s, 0);
    CHECK_EQ_INT(d.read_timeout_s, 3600);

    /* An unencoded '/' in a parameter, and a percent-encoded database name. */
    CHECK_EQ_INT(dsn_parse("u@tcp(h)/my%2Ddb?loc=Asia/Shanghai&&", &d, err, sizeof err), 0);
    CHECK_EQ_STR(d.dbname, "my-db");
}

static void dsn_errors(void) {
    h_step("dsn_errors_name_the_part_and_hide_the_password");
    static const struct { const char *text, *want; } bad[] = {
        {"root:S3cr3tPw tcp(h:1)/db", "missing '@'"},
        {"root:S3cr3tPw@udp(x)/db", "got 'udp(x)'"},
        {"root:S3cr3tPw@tcp(h:99999)/db", "port '99999' is out of range"},
        {"root:S3cr3tPw@tcp(h:0)/db", "port '0' is out of range"},
        {"root:S3cr3tPw@tcp(h:abc)/db", "port 'abc' is not a number"},
        {"root:S3cr3tPw@tcp(h:)/db", "port is empty"},
        {"root:S3cr3tPw@tcp(:3306)/db", "no host"},
        {"root:S3cr3tPw@tcp(::1)/db", "brackets"},
        {"root:S3cr3tPw@tcp(h)/db?timeout=x", "parameter 'timeout': bad duration 'x'"},
        {"root:S3cr3tPw@tcp(h)/db?readTimeout=3", "parameter 'readTimeout': bad duration '3'"},
        {"root:S3cr3tPw@tcp(h)/db?writeTimeout=-1s", "parameter 'writeTimeout'"},
        {"root:S3cr3tPw@tcp(h)/db?loc=Asia%2", "parameter 'loc': bad %-escape"},
        {"root:S3cr3tPw@tcp(h)/db?parseTime", "parameter 'parseTime' has no '=value'"},
        {"root:S3cr3tPw@127.0.0.1:3306/db", "missing address"},
        {"root:S3@cr3tPw/db", "missing address"},
        {"root:S3cr3tPw@tcp(h:1)", "missing '/'"},
        {":S3cr3tPw@tcp(h)/db", "user name is empty"},
        {"root:S3cr3tPw@unix()/db", "socket path"},
        {"root:S3cr3tPw@tcp(h)/a/b", "database name 'a/b'"},
        {"", "empty"},
    };
    char err[256];
    dsn d;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK_EQ_INT(dsn_parse(bad[i].text, &d, err, sizeof err), -1);
        int ok = has(err, "DSN: ") && has(err, bad[i].want) && !has(err, "S3cr3tPw") && !has(err, "cr3tPw") &&
                 d.password[0] == '\0';
        if (!ok) fprintf(stderr, "case %zu (%s): got \"%s\"\n", i, bad[i].text, err);
        CHECK(ok);
    }
    /* A password too long for the struct is refused without quoting it. */
    char longpw[400];
    snprintf(longpw, sizeof longpw, "root:%0200d@tcp(h)/db", 7);
    CHECK_EQ_INT(dsn_parse(longpw, &d, err, sizeof err), -1);
    CHECK(has(err, "password is longer") && !has(err, "0000000"));
}

int main(void) {
    /* Start from a clean environment for the variables these tests use. */
    static const char *vars[] = {"DB_DATA_SOURCE", "LISTEN_ON", "ETCD_HOSTS", "ETCD_KEY", "STORE_PORT",
                                 "STORE_HOST", "NAME", "PORT", "STORE_MAX_OPEN_CONNS", "UPDATE_BRANCH_SYNC",
                                 "FLAG", "HOSTS", "ABSENT", "STORE_EMPTY", "STORE_QUOTED", "STORE_BIG",
                                 "STORE_MISSING", "STORE", "CONSUL_HOST", "STOCK_RPC_CONF_ETCD_KEY",
                                 "ORDER_RPC_CONF_ETCD_HOSTS", "DB"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);

    demo_files_read_back();
    env_names_and_overrides();
    typed_reads();
    file_loading();
    parse_error_cases();
    dsn_good_forms();
    dsn_errors();
    return h_finish("test_conf");
}
