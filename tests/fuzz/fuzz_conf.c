/* fuzz_conf.c: libFuzzer target for conf_parse() (common/conf.h), the YAML
 * reader of every cdtm configuration file, and for the lookups the programs
 * make on the tree it builds.
 *
 * A parsed tree is queried with the keys cdtm's programs read, with keys
 * made of the words of the input itself (so lookups reach what the input
 * defines), and with keys an environment variable overrides (set once, the
 * way a container sets them). Oracle: a refusal has a message that names the
 * file; a lookup returns NULL or a NUL-terminated string; conf_int and
 * conf_bool either fail with a message or give a value in range; list items
 * are never NULL; conf_env_name never overruns its buffer. */
#include <ctype.h>

#include "conf.h"
#include "fuzz_util.h"

#define FUZZ_NAME "fuzz.yaml"

static const char *const KEYS[] = {
    "Name", "ListenOn", "DB.DataSource", "Etcd.Hosts", "Etcd.Key", "Store.Driver", "Store.Host",
    "Store.Port", "Store.User", "Store.Password", "Store.Db", "HttpPort", "GrpcPort",
    "RetryInterval", "TimeoutToFail", "LogLevel", "MicroService.EndPoint", "Dtm.Target",
    "OrderRpcConf.Target", "Fuzz.Int", "Fuzz.List", "Fuzz.Bool", "", ".", "a..b", "Store.",
    ".Store",
};

static void query(const conf *c, const char *key) {
    char err[256];
    const char *s = conf_str(c, key, NULL);
    if (s) (void)strlen(s); /* ASan checks the read */
    const char *d = conf_str(c, key, "default");
    if (!d) fuzz_fail("conf_str(%s) with a default gave NULL", key);
    int64_t v;
    err[0] = '\0';
    int rc = conf_int(c, key, 7, -5, 1000, &v, err, sizeof err);
    if (rc == 0 && (v < -5 || v > 1000)) fuzz_fail("conf_int(%s) gave %lld out of range", key, (long long)v);
    if (rc != 0 && (rc != -1 || !err[0])) fuzz_fail("conf_int(%s) failed (%d) without a message", key, rc);
    int b;
    err[0] = '\0';
    rc = conf_bool(c, key, 0, &b, err, sizeof err);
    if (rc == 0 && b != 0 && b != 1) fuzz_fail("conf_bool(%s) gave %d", key, b);
    if (rc != 0 && !err[0]) fuzz_fail("conf_bool(%s) failed without a message", key);
    const char *const *items = NULL;
    size_t n = conf_list(c, key, &items);
    for (size_t i = 0; i < n; i++)
        if (!items || !items[i]) fuzz_fail("conf_list(%s) item %zu is NULL", key, i);
        else (void)strlen(items[i]);
    (void)conf_require(c, key, err, sizeof err);
    char env[64];
    conf_env_name(key, env, sizeof env);
    if (!fuzz_terminated(env, sizeof env)) fuzz_fail("conf_env_name overran its buffer");
    char tiny[4];
    conf_env_name(key, tiny, sizeof tiny);
    if (!fuzz_terminated(tiny, sizeof tiny)) fuzz_fail("conf_env_name overran a 4-byte buffer");
}

/* Keys made of the input's own words: "a", "a.b", "a.b.c" for consecutive
 * words, so that lookups walk the maps the input defines. */
static void query_words(const conf *c, const uint8_t *data, size_t size) {
    char *text = fuzz_cstr(data, size > 512 ? 512 : size);
    if (!text) return;
    char *words[16];
    size_t n = 0;
    for (char *p = text; *p && n < 16;) {
        while (*p && !(isalnum((unsigned char)*p) || *p == '_')) p++;
        if (!*p) break;
        words[n++] = p;
        while (*p && (isalnum((unsigned char)*p) || *p == '_')) p++;
        if (*p) *p++ = '\0';
    }
    char key[512];
    for (size_t i = 0; i < n; i++) {
        key[0] = '\0';
        for (size_t k = i; k < n && k < i + 3; k++) {
            size_t len = strlen(key);
            snprintf(key + len, sizeof key - len, "%s%s", len ? "." : "", words[k]);
            query(c, key);
        }
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int env_set;
    if (!env_set) { /* overrides a container would set (conf.h) */
        setenv("FUZZ_LIST", "a,,b, c", 1);
        setenv("FUZZ_INT", "12x", 1);
        setenv("FUZZ_BOOL", "yes", 1);
        env_set = 1;
    }
    char err[512] = "";
    conf *c = conf_parse(FUZZ_NAME, (const char *)data, size, err, sizeof err);
    if (!c) {
        if (!err[0]) fuzz_fail("a refusal without a message");
        if (!strstr(err, FUZZ_NAME)) fuzz_fail("the message does not name the file: %s", err);
        return 0;
    }
    for (size_t i = 0; i < sizeof KEYS / sizeof *KEYS; i++) query(c, KEYS[i]);
    query_words(c, data, size);
    conf_free(c);
    return 0;
}
