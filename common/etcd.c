/* etcd.c: service registration and resolution on etcd's v3 JSON gateway
 * (etcd.h; demo.md §8; environment.md §7).
 *
 * The gateway speaks JSON over plain HTTP: every call is a POST to /v3/...,
 * keys and values travel base64-encoded, and int64 fields (lease IDs, TTLs,
 * counts) travel as JSON strings, because lease IDs exceed 2^53 and would be
 * damaged by a double. Zero values are left out of replies: a range that
 * found nothing has no "kvs", a keepalive of a lease etcd no longer knows has
 * no "TTL".
 *
 * Sections: helpers; targets and branch URLs; the advertised
 * address; the gateway calls; registration (one thread per registration).
 * The resolver, which caches what etcd_list() reads, is etcd_resolver.c. */
#include "etcd.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <jansson.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base64.h"
#include "errbuf.h"
#include "httpcli.h"
#include "log.h"
#include "mono.h"

#define ETCD_CALL_MS 2000      /* one gateway request, per host */
#define ETCD_REVOKE_MS 1000    /* the revoke at shutdown, per host */
#define ETCD_RETRY_MS 1000     /* registration retry while etcd cannot be reached */

/* ---- helpers ---- */

/* Reads an int64 sent as a JSON string (or, leniently, a JSON integer). */
static int etcd_json_i64(json_t *v, int64_t *out) {
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (!json_is_string(v)) return -1;
    char *end;
    long long x = strtoll(json_string_value(v), &end, 10);
    if (end == json_string_value(v) || *end) return -1;
    *out = x;
    return 0;
}

/* ---- targets and branch URLs ---- */

int etcd_is_target(const char *s) {
    return s && (strncasecmp(s, "etcd://", 7) == 0 || strncasecmp(s, "discov://", 9) == 0);
}

/* Checks a key: not empty, no '/', printable, short enough. */
static int etcd_check_key(const char *key, size_t len, char *err, size_t errlen) {
    if (len == 0) return errbuf_set(err, errlen, "the etcd key is empty");
    if (len >= ETCD_KEY_MAX)
        return errbuf_set(err, errlen, "the etcd key is longer than %d bytes", ETCD_KEY_MAX - 1);
    for (size_t i = 0; i < len; i++) {
        if (key[i] == '/')
            return errbuf_set(err, errlen, "the etcd key '%.*s' holds '/': DTM's go-zero driver cuts "
                             "branch URLs at the second '/', so use a plain key such as order.rpc",
                             (int)len, key);
        if ((unsigned char)key[i] <= ' ' || key[i] == 0x7f || key[i] == '?' || key[i] == '#')
            return errbuf_set(err, errlen, "the etcd key '%.*s' holds a space, control, '?' or '#' "
                             "character", (int)len, key);
    }
    return 0;
}

/* Checks one "host:port" of etcd and copies it. */
static int etcd_add_host(etcd_target *t, const char *h, size_t len, char *err, size_t errlen) {
    if (len == 0) return errbuf_set(err, errlen, "an etcd host is empty");
    if (t->nhosts == ETCD_HOSTS_MAX)
        return errbuf_set(err, errlen, "more than %d etcd hosts", ETCD_HOSTS_MAX);
    if (len >= ETCD_HOST_MAX)
        return errbuf_set(err, errlen, "an etcd host is longer than %d bytes", ETCD_HOST_MAX - 1);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)h[i] <= ' ' || h[i] == '/' || h[i] == ',' || h[i] == '?' || h[i] == '#')
            return errbuf_set(err, errlen, "bad etcd host '%.*s'", (int)len, h);
    memcpy(t->hosts[t->nhosts], h, len);
    t->hosts[t->nhosts++][len] = '\0';
    return 0;
}

int etcd_target_parse(const char *target, etcd_target *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (!etcd_is_target(target))
        return errbuf_set(err, errlen, "'%.200s' is not an etcd:// target", target ? target : "");
    const char *auth = strstr(target, "://") + 3;
    const char *slash = strchr(auth, '/');
    if (strchr(target, '?'))
        return errbuf_set(err, errlen, "'%.200s': query parameters (etcd user/password) are not "
                         "supported by cdtm", target);
    if (!slash || slash == auth)
        return errbuf_set(err, errlen, "'%.200s': want etcd://host:port[,host:port]/key", target);
    for (const char *h = auth; h < slash;) {
        const char *comma = memchr(h, ',', (size_t)(slash - h));
        const char *end = comma ? comma : slash;
        if (etcd_add_host(out, h, (size_t)(end - h), err, errlen) != 0) return -1;
        h = comma ? comma + 1 : slash;
        if (comma && h == slash) return errbuf_set(err, errlen, "'%.200s': an etcd host is empty", target);
    }
    const char *key = slash + 1;
    if (etcd_check_key(key, strlen(key), err, errlen) != 0) return -1;
    memcpy(out->key, key, strlen(key) + 1);
    return 0;
}

int etcd_target_make(const char *const *hosts, size_t nhosts, const char *key, etcd_target *out,
                     char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (nhosts == 0) return errbuf_set(err, errlen, "Etcd.Hosts is empty");
    if (!key || !*key) return errbuf_set(err, errlen, "Etcd.Key is required");
    for (size_t i = 0; i < nhosts; i++)
        if (etcd_add_host(out, hosts[i], strlen(hosts[i]), err, errlen) != 0) return -1;
    if (etcd_check_key(key, strlen(key), err, errlen) != 0) return -1;
    memcpy(out->key, key, strlen(key) + 1);
    return 0;
}

int etcd_target_from_conf(const conf *c, const char *block, etcd_target *out, char *err,
                          size_t errlen) {
    char hk[128], kk[128];
    snprintf(hk, sizeof hk, "%s.Hosts", block);
    snprintf(kk, sizeof kk, "%s.Key", block);
    const char *const *hosts;
    size_t nhosts = conf_list(c, hk, &hosts);
    const char *key = conf_str(c, kk, NULL);
    if (!nhosts && !key) return 0;
    return etcd_target_make(hosts, nhosts, key, out, err, errlen) == 0 ? 1 : -1;
}

int etcd_target_string(const etcd_target *t, char *out, size_t outlen) {
    size_t pos = 0;
    int n = snprintf(out, outlen, "etcd://");
    for (size_t i = 0; i <= t->nhosts && n >= 0 && (size_t)n < outlen; i++) {
        pos = (size_t)n;
        if (i < t->nhosts) n += snprintf(out + pos, outlen - pos, "%s%s", i ? "," : "", t->hosts[i]);
        else n += snprintf(out + pos, outlen - pos, "/%s", t->key);
    }
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* Copies [s, s+len) into dst; -1 when it does not fit. */
static int etcd_copy(char *dst, size_t dstlen, const char *s, size_t len) {
    if (len >= dstlen) return -1;
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 0;
}

int etcd_split_branch_url(const char *url, char *server, size_t serverlen, char *method,
                          size_t methodlen, char *err, size_t errlen) {
    if (serverlen) server[0] = '\0';
    if (methodlen) method[0] = '\0';
    const char *scheme_end = strstr(url, "://");
    if (scheme_end && memchr(url, '/', (size_t)(scheme_end - url))) scheme_end = NULL; /* in the method */
    const char *cut;
    if (!scheme_end) {
        cut = strchr(url, '/'); /* DTM's default: "host:port/pkg.Svc/Method" */
    } else {
        /* DTM's go-zero driver: the authority, then the path up to the
         * second '/' is the server; the rest is the method. */
        const char *path = strchr(scheme_end + 3, '/');
        cut = path ? strchr(path + 1, '/') : NULL;
    }
    if (!cut || cut == url || cut[1] == '\0')
        return errbuf_set(err, errlen, "bad gRPC URL '%.200s': want host:port/pkg.Service/Method or "
                         "etcd://host:port/key/pkg.Service/Method", url);
    if (etcd_copy(server, serverlen, url, (size_t)(cut - url)) != 0 ||
        etcd_copy(method, methodlen, cut, strlen(cut)) != 0)
        return errbuf_set(err, errlen, "gRPC URL too long: '%.200s'", url);
    return 0;
}

/* ---- the advertised address ---- */

/* The first IPv4 address, not loopback, of an interface that is up, as
 * go-zero's netx.InternalIp(). Returns 0 with `ip` filled, or -1. */
static int etcd_internal_ip(char *ip, size_t iplen) {
    struct ifaddrs *all, *a;
    int rc = -1;
    if (getifaddrs(&all) != 0) return -1;
    for (a = all; a && rc != 0; a = a->ifa_next) {
        if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET) continue;
        if (!(a->ifa_flags & IFF_UP) || (a->ifa_flags & IFF_LOOPBACK)) continue;
        const struct sockaddr_in *sin = (const struct sockaddr_in *)a->ifa_addr;
        if ((ntohl(sin->sin_addr.s_addr) >> 24) == 127) continue;
        if (inet_ntop(AF_INET, &sin->sin_addr, ip, (socklen_t)iplen)) rc = 0;
    }
    freeifaddrs(all);
    return rc;
}

int etcd_advertise_addr(const char *listen_on, int bound_port, char *out, size_t outlen,
                        char *err, size_t errlen) {
    const char *colon = listen_on ? strrchr(listen_on, ':') : NULL;
    if (!colon || !colon[1])
        return errbuf_set(err, errlen, "ListenOn '%.200s' has no port", listen_on ? listen_on : "");
    size_t hlen = (size_t)(colon - listen_on);
    char host[ETCD_ADDR_MAX], port[16];
    if (etcd_copy(host, sizeof host, listen_on, hlen) != 0)
        return errbuf_set(err, errlen, "ListenOn '%.200s' is too long", listen_on);
    if (strcmp(colon + 1, "0") == 0 && bound_port > 0) snprintf(port, sizeof port, "%d", bound_port);
    else if (etcd_copy(port, sizeof port, colon + 1, strlen(colon + 1)) != 0)
        return errbuf_set(err, errlen, "ListenOn '%.200s': bad port", listen_on);
    if (!host[0] || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "[::]") == 0) {
        const char *pod = getenv("POD_IP");
        char ip[64] = "";
        if (pod && *pod && strlen(pod) < sizeof ip) memcpy(ip, pod, strlen(pod) + 1);
        else if (etcd_internal_ip(ip, sizeof ip) != 0) ip[0] = '\0';
        if (ip[0]) memcpy(host, ip, strlen(ip) + 1); /* none found: kept as written */
    }
    int n = snprintf(out, outlen, "%s:%s", host, port);
    if (n < 0 || (size_t)n >= outlen) return errbuf_set(err, errlen, "advertised address too long");
    return 0;
}

/* ---- the gateway ---- */

typedef enum { ETCD_OK = 0, ETCD_DOWN = -1, ETCD_REFUSED = -2 } etcd_rc;

/* POSTs `body` (consumed) to `path` on the hosts of t in turn, starting at
 * *host; the one that answers becomes *host. etcd's refusal (a 4xx with
 * {"error":..}) is ETCD_REFUSED; a host that cannot be reached, or answers
 * 5xx (no leader...), makes us try the next; ETCD_DOWN when none answered.
 * On ETCD_OK, *reply is the JSON object (caller decrefs). */
static etcd_rc etcd_post(const etcd_target *t, size_t *host, const char *path, json_t *body,
                         int timeout_ms, json_t **reply, char *err, size_t errlen) {
    *reply = NULL;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) return errbuf_set(err, errlen, "out of memory"), ETCD_DOWN;
    static const char *const hdr[] = {"Content-Type", "application/json", NULL};
    etcd_rc rc = ETCD_DOWN;
    errbuf_set(err, errlen, "no etcd host");
    for (size_t i = 0; i < t->nhosts && rc == ETCD_DOWN; i++) {
        size_t h = (*host + i) % t->nhosts;
        const char *scheme = strncmp(t->hosts[h], "http://", 7) == 0 ? "" : "http://";
        char url[ETCD_HOST_MAX + 64], herr[256];
        snprintf(url, sizeof url, "%s%s%s", scheme, t->hosts[h], path);
        httpcli_resp resp;
        if (httpcli_request("POST", url, hdr, text, strlen(text), timeout_ms, &resp, herr,
                            sizeof herr) != 0) {
            errbuf_set(err, errlen, "etcd %s: %s", t->hosts[h], herr);
            continue;
        }
        json_t *j = json_loadb(resp.body ? resp.body : "", resp.body_len, 0, NULL);
        json_t *msg = json_object_get(j, "error");
        if (resp.status == 200 && json_is_object(j)) {
            *reply = j;
            j = NULL;
            *host = h;
            rc = ETCD_OK;
        } else {
            errbuf_set(err, errlen, "etcd %s: %s %d: %.200s", t->hosts[h], path, resp.status,
                      json_is_string(msg) ? json_string_value(msg) : resp.body ? resp.body : "");
            if (resp.status < 500) rc = ETCD_REFUSED;
        }
        json_decref(j);
        httpcli_resp_free(&resp);
    }
    free(text);
    return rc;
}

/* A JSON object {"<name>": base64(s)}, or NULL when out of memory. */
static json_t *etcd_obj_b64(const char *name, const char *s) {
    char *b = base64_encode(s, strlen(s));
    json_t *o = b ? json_pack("{s:s}", name, b) : NULL;
    free(b);
    return o;
}

static json_t *etcd_lease_obj(int64_t lease) {
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, lease);
    return json_pack("{s:s}", "ID", id);
}

/* Grants a lease of ttl seconds into *lease. */
static etcd_rc etcd_grant(const etcd_target *t, size_t *host, int ttl, int64_t *lease, char *err,
                          size_t errlen) {
    json_t *reply;
    etcd_rc rc = etcd_post(t, host, "/v3/lease/grant", json_pack("{s:i}", "TTL", ttl), ETCD_CALL_MS,
                           &reply, err, errlen);
    if (rc == ETCD_OK && (etcd_json_i64(json_object_get(reply, "ID"), lease) != 0 || *lease == 0)) {
        errbuf_set(err, errlen, "etcd: lease grant without an ID");
        rc = ETCD_REFUSED;
    }
    json_decref(reply);
    return rc;
}

/* Puts key -> value under lease. */
static etcd_rc etcd_put(const etcd_target *t, size_t *host, const char *key, const char *value,
                        int64_t lease, char *err, size_t errlen) {
    json_t *body = etcd_obj_b64("key", key), *v = etcd_obj_b64("value", value), *reply;
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, lease);
    if (!body || !v || json_object_update(body, v) != 0 ||
        json_object_set_new(body, "lease", json_string(id)) != 0) {
        json_decref(body);
        json_decref(v);
        return errbuf_set(err, errlen, "out of memory"), ETCD_DOWN;
    }
    json_decref(v);
    etcd_rc rc = etcd_post(t, host, "/v3/kv/put", body, ETCD_CALL_MS, &reply, err, errlen);
    json_decref(reply);
    return rc;
}

/* One keepalive; *ttl = 0 when etcd no longer knows the lease. */
static etcd_rc etcd_keepalive(const etcd_target *t, size_t *host, int64_t lease, int64_t *ttl,
                              char *err, size_t errlen) {
    json_t *reply;
    *ttl = 0;
    etcd_rc rc = etcd_post(t, host, "/v3/lease/keepalive", etcd_lease_obj(lease), ETCD_CALL_MS,
                           &reply, err, errlen);
    if (rc == ETCD_OK && etcd_json_i64(json_object_get(json_object_get(reply, "result"), "TTL"), ttl) != 0)
        *ttl = 0;
    json_decref(reply);
    return rc;
}

static etcd_rc etcd_revoke(const etcd_target *t, size_t *host, int64_t lease, char *err,
                           size_t errlen) {
    json_t *reply;
    etcd_rc rc = etcd_post(t, host, "/v3/lease/revoke", etcd_lease_obj(lease), ETCD_REVOKE_MS,
                           &reply, err, errlen);
    json_decref(reply);
    return rc;
}

/* Counts the keys equal to `key` (count_only), into *count. */
static etcd_rc etcd_count(const etcd_target *t, size_t *host, const char *key, int64_t *count,
                          char *err, size_t errlen) {
    json_t *body = etcd_obj_b64("key", key), *reply;
    if (!body || json_object_set_new(body, "count_only", json_true()) != 0) {
        json_decref(body);
        return errbuf_set(err, errlen, "out of memory"), ETCD_DOWN;
    }
    etcd_rc rc = etcd_post(t, host, "/v3/kv/range", body, ETCD_CALL_MS, &reply, err, errlen);
    if (rc == ETCD_OK && etcd_json_i64(json_object_get(reply, "count"), count) != 0) *count = 0;
    json_decref(reply);
    return rc;
}

static int etcd_cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void etcd_addrs_free(char **addrs, int n) {
    for (int i = 0; i < n; i++) free(addrs[i]);
    free(addrs);
}

/* A prefix read is the range [key/, key0): the prefix with its last byte
 * + 1, since '/' + 1 == '0'. */
int etcd_list(const etcd_target *t, size_t *host, int timeout_ms, char ***addrs, char *err,
              size_t errlen) {
    size_t first = 0;
    if (!host) host = &first;
    if (timeout_ms <= 0) timeout_ms = ETCD_CALL_MS;
    *addrs = NULL;
    char from[ETCD_KEY_MAX + 2], to[ETCD_KEY_MAX + 2];
    snprintf(from, sizeof from, "%s/", t->key);
    snprintf(to, sizeof to, "%s0", t->key);
    json_t *body = etcd_obj_b64("key", from), *end = etcd_obj_b64("range_end", to), *reply;
    if (!body || !end || json_object_update(body, end) != 0) {
        json_decref(body);
        json_decref(end);
        return errbuf_set(err, errlen, "out of memory");
    }
    json_decref(end);
    if (etcd_post(t, host, "/v3/kv/range", body, timeout_ms, &reply, err, errlen) != ETCD_OK)
        return -1;
    json_t *kvs = json_object_get(reply, "kvs"), *kv;
    char **list = calloc(ETCD_LIST_MAX + 1, sizeof *list);
    int n = 0;
    size_t i;
    json_array_foreach(kvs, i, kv) {
        json_t *v = json_object_get(kv, "value");
        char *addr = list && json_is_string(v) ? base64_decode_text(json_string_value(v)) : NULL;
        if (addr && *addr && strlen(addr) < ETCD_ADDR_MAX && n < ETCD_LIST_MAX) list[n++] = addr;
        else free(addr);
    }
    json_decref(reply);
    if (!list) return errbuf_set(err, errlen, "out of memory");
    qsort(list, (size_t)n, sizeof *list, etcd_cmp_str);
    int m = 0;
    for (int k = 0; k < n; k++) {
        if (m > 0 && strcmp(list[m - 1], list[k]) == 0) free(list[k]);
        else list[m++] = list[k];
    }
    *addrs = list;
    return m;
}

/* ---- registration ---- */

struct etcd_reg {
    etcd_target t;
    char value[ETCD_ADDR_MAX];
    size_t host;          /* the etcd host that answered last (thread only) */
    pthread_t thread;
    pthread_mutex_t mu;   /* guards stop and lease */
    pthread_cond_t cv;    /* signalled by etcd_reg_free() */
    int stop;
    int64_t lease;        /* 0 while not registered */
};

/* Grants a lease and puts "<key>/<lease>" -> value under it. */
static etcd_rc etcd_reg_put(etcd_reg *r, char *err, size_t errlen) {
    int64_t lease = 0;
    etcd_rc rc = etcd_grant(&r->t, &r->host, ETCD_TTL_S, &lease, err, errlen);
    if (rc != ETCD_OK) return rc;
    char key[ETCD_KEY_MAX + 24];
    snprintf(key, sizeof key, "%s/%" PRId64, r->t.key, lease);
    rc = etcd_put(&r->t, &r->host, key, r->value, lease, err, errlen);
    if (rc != ETCD_OK) {
        char e2[64];
        etcd_revoke(&r->t, &r->host, lease, e2, sizeof e2); /* best effort; it expires anyway */
        return rc;
    }
    pthread_mutex_lock(&r->mu);
    r->lease = lease;
    pthread_mutex_unlock(&r->mu);
    log_info(NULL, "etcd: registered %s -> %s (lease %" PRId64 ", TTL %d s) on %s", key, r->value,
             lease, ETCD_TTL_S, r->t.hosts[r->host]);
    return ETCD_OK;
}

/* One round: register when we are not, else keep the lease alive. A lease
 * etcd no longer knows (it expired while etcd was unreachable, or etcd lost
 * its data) means registering again under a new one; a key deleted by hand
 * under a live lease is put back, as go-zero does (PR #4960). */
static etcd_rc etcd_reg_round(etcd_reg *r, char *err, size_t errlen) {
    if (!r->lease) return etcd_reg_put(r, err, errlen);
    int64_t ttl, count = 1;
    etcd_rc rc = etcd_keepalive(&r->t, &r->host, r->lease, &ttl, err, errlen);
    if (rc != ETCD_OK) return rc;
    char key[ETCD_KEY_MAX + 24];
    snprintf(key, sizeof key, "%s/%" PRId64, r->t.key, r->lease);
    if (ttl <= 0) {
        log_warn(NULL, "etcd: lease %" PRId64 " of %s is gone; registering again", r->lease, key);
        pthread_mutex_lock(&r->mu);
        r->lease = 0;
        pthread_mutex_unlock(&r->mu);
        return etcd_reg_put(r, err, errlen);
    }
    rc = etcd_count(&r->t, &r->host, key, &count, err, errlen);
    if (rc == ETCD_OK && count == 0) {
        log_warn(NULL, "etcd: %s was deleted; putting it back", key);
        rc = etcd_put(&r->t, &r->host, key, r->value, r->lease, err, errlen);
    }
    return rc;
}

static void *etcd_reg_main(void *arg) {
    etcd_reg *r = arg;
    int failing = 0;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        pthread_mutex_unlock(&r->mu);
        char err[512];
        etcd_rc rc = etcd_reg_round(r, err, sizeof err);
        /* One line when etcd goes away and one when it is back, not one per
         * retry: serving goes on meanwhile. */
        if (rc != ETCD_OK && !failing)
            log_warn(NULL, "etcd: cannot register %s -> %s: %s (retrying every %d ms; serving goes on)",
                     r->t.key, r->value, err, ETCD_RETRY_MS);
        else if (rc != ETCD_OK)
            log_debug(NULL, "etcd: register %s: %s", r->t.key, err);
        else if (failing)
            log_info(NULL, "etcd: %s -> %s is registered again", r->t.key, r->value);
        failing = rc != ETCD_OK;
        long long wait = failing ? ETCD_RETRY_MS : ETCD_TTL_S * 1000 / 3;
        struct timespec until = mono_after(wait);
        pthread_mutex_lock(&r->mu);
        while (!r->stop && pthread_cond_timedwait(&r->cv, &r->mu, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

etcd_reg *etcd_reg_new(const etcd_target *t, const char *value, char *err, size_t errlen) {
    etcd_reg *r = calloc(1, sizeof *r);
    if (!r) return errbuf_set(err, errlen, "out of memory"), NULL;
    r->t = *t;
    snprintf(r->value, sizeof r->value, "%s", value);
    mono_cond_init(&r->cv);
    pthread_mutex_init(&r->mu, NULL);
    if (pthread_create(&r->thread, NULL, etcd_reg_main, r) != 0) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return errbuf_set(err, errlen, "cannot start the etcd registration thread"), NULL;
    }
    return r;
}

etcd_reg *etcd_reg_server(const etcd_target *t, const char *listen_on, int bound_port, char *err,
                          size_t errlen) {
    char addr[ETCD_ADDR_MAX];
    if (etcd_advertise_addr(listen_on, bound_port, addr, sizeof addr, err, errlen) != 0) return NULL;
    return etcd_reg_new(t, addr, err, errlen);
}

int64_t etcd_reg_lease(etcd_reg *r) {
    pthread_mutex_lock(&r->mu);
    int64_t lease = r->lease;
    pthread_mutex_unlock(&r->mu);
    return lease;
}

void etcd_reg_free(etcd_reg *r) {
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    /* Revoking deletes the key at once, so clients stop picking us before
     * the lease would have run out. */
    char err[512];
    if (r->lease && etcd_revoke(&r->t, &r->host, r->lease, err, sizeof err) == ETCD_OK)
        log_info(NULL, "etcd: deregistered %s/%" PRId64 " (lease revoked)", r->t.key, r->lease);
    else if (r->lease)
        log_warn(NULL, "etcd: cannot revoke lease %" PRId64 " of %s (%s); it expires within %d s",
                 r->lease, r->t.key, err, ETCD_TTL_S);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
