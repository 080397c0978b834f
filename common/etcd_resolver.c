/* etcd_resolver.c: the client side of discovery (etcd.h): a cache of the
 * instances registered under each target, read lazily by the callers, and a
 * round-robin pick over the instances that answer.
 *
 * go-zero's client watches the prefix; we read it instead, at most once a
 * second and right after a call found an instance unreachable. A read is
 * done by the one caller that finds the list stale, without the lock, while
 * the others keep picking from the old list; only the very first read of a
 * target makes callers wait. A process killed without revoking its lease
 * stays in etcd until the lease runs out (up to ETCD_TTL_S), so an instance
 * reported down is skipped locally for that long: the caller's retry goes to
 * a live one instead of the dead one. */
#include "etcd.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errbuf.h"
#include "log.h"
#include "mono.h"

#define ETCD_RES_MAX 64         /* targets a resolver caches */
#define ETCD_RES_READ_MS 1000   /* one read, per etcd host: a caller waits for it */
#define ETCD_RES_REFRESH_MS 1000
#define ETCD_RES_WAIT_MS 3000   /* a caller waits this long for another's first read */
#define ETCD_RES_DOWN_MS (ETCD_TTL_S * 1000)

/* One target's cached instances. Entries are only freed when nobody reads or
 * waits for them, so those threads may keep their pointer across an unlock. */
typedef struct {
    char *name;           /* the target as given: the cache key */
    etcd_target t;
    size_t host;          /* the etcd host that answered last */
    char **addrs;         /* the last list read, sorted */
    int naddrs;
    long long *down;      /* per address: skipped until this time (ms) */
    long long read_ms;    /* when etcd was last read (or tried); 0: read at the next pick */
    int loaded;           /* a read has succeeded once */
    int reading;          /* a thread is reading etcd for this entry */
    int waiting;          /* threads waiting for that read to finish */
    int failing;          /* the last read failed (logged once) */
    char why[256];        /* why the last read failed */
    unsigned next;        /* round-robin cursor */
    long long used_ms;    /* last pick, to evict the least recently used */
} etcd_entry;

struct etcd_resolver {
    pthread_mutex_t mu;
    pthread_cond_t cv;    /* a read finished */
    size_t n;
    etcd_entry *ents[ETCD_RES_MAX];
};

etcd_resolver *etcd_resolver_new(void) {
    etcd_resolver *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    mono_cond_init(&r->cv);
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

static void etcd_entry_free(etcd_entry *e) {
    etcd_addrs_free(e->addrs, e->naddrs);
    free(e->down);
    free(e->name);
    free(e);
}

void etcd_resolver_free(etcd_resolver *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) etcd_entry_free(r->ents[i]);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static etcd_entry *etcd_entry_find(etcd_resolver *r, const char *target) {
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->ents[i]->name, target) == 0) return r->ents[i];
    return NULL;
}

/* Finds or adds the entry of target (with r->mu held); a full table drops
 * its least recently used entry that is not being read. */
static etcd_entry *etcd_entry_get(etcd_resolver *r, const char *target, char *err, size_t errlen) {
    etcd_entry *e = etcd_entry_find(r, target);
    if (e) return e;
    e = calloc(1, sizeof *e);
    if (!e || !(e->name = strdup(target))) {
        free(e);
        return errbuf_set(err, errlen, "out of memory"), NULL;
    }
    if (etcd_target_parse(target, &e->t, err, errlen) != 0) {
        etcd_entry_free(e);
        return NULL;
    }
    if (r->n == ETCD_RES_MAX) {
        size_t old = ETCD_RES_MAX;
        for (size_t i = 0; i < r->n; i++)
            if (!r->ents[i]->reading && !r->ents[i]->waiting &&
                (old == ETCD_RES_MAX || r->ents[i]->used_ms < r->ents[old]->used_ms))
                old = i;
        if (old == ETCD_RES_MAX) {
            etcd_entry_free(e);
            return errbuf_set(err, errlen, "too many etcd targets in use"), NULL;
        }
        etcd_entry_free(r->ents[old]);
        r->ents[old] = r->ents[--r->n];
    }
    r->ents[r->n++] = e;
    return e;
}

/* Installs a freshly read list, keeping the down marks of the addresses that
 * are still listed. */
static void etcd_entry_install(etcd_entry *e, char **addrs, int n) {
    long long *down = calloc((size_t)n + 1, sizeof *down);
    if (!down) {
        etcd_addrs_free(addrs, n);
        return;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < e->naddrs; j++)
            if (strcmp(addrs[i], e->addrs[j]) == 0) down[i] = e->down[j];
    etcd_addrs_free(e->addrs, e->naddrs);
    free(e->down);
    e->addrs = addrs;
    e->naddrs = n;
    e->down = down;
    e->loaded = 1;
}

/* Reads etcd for e without the lock (r->mu held on entry and on return). */
static void etcd_entry_read(etcd_resolver *r, etcd_entry *e) {
    e->reading = 1;
    etcd_target t = e->t;
    size_t host = e->host;
    pthread_mutex_unlock(&r->mu);
    char **addrs, why[sizeof e->why];
    int n = etcd_list(&t, &host, ETCD_RES_READ_MS, &addrs, why, sizeof why);
    pthread_mutex_lock(&r->mu);
    if (n >= 0) {
        if (e->failing) log_info(NULL, "etcd: %s can be read again (%d instances)", e->name, n);
        e->failing = 0;
        etcd_entry_install(e, addrs, n);
    } else {
        /* Keep serving from the last list: etcd's absence must not stop the
         * calls to services that are still there. */
        if (!e->failing && e->loaded)
            log_warn(NULL, "etcd: cannot read %s: %s (using the last %d addresses)", e->name, why,
                     e->naddrs);
        else if (!e->failing)
            log_warn(NULL, "etcd: cannot read %s: %s", e->name, why);
        e->failing = 1;
        snprintf(e->why, sizeof e->why, "%s", why);
    }
    e->host = host;
    e->read_ms = mono_now_ms();
    e->reading = 0;
    pthread_cond_broadcast(&r->cv);
}

int etcd_resolver_pick(etcd_resolver *r, const char *target, char *addr, size_t addrlen,
                       char *err, size_t errlen) {
    pthread_mutex_lock(&r->mu);
    etcd_entry *e = etcd_entry_get(r, target, err, errlen);
    int rc = -1;
    if (!e) goto out;
    long long now = mono_now_ms();
    e->used_ms = now;
    if (!e->reading && (e->read_ms == 0 || now - e->read_ms >= ETCD_RES_REFRESH_MS)) {
        etcd_entry_read(r, e);
    } else if (e->reading && !e->loaded) {
        /* Nothing to pick from yet: wait for the first read by another. */
        struct timespec until = mono_after(ETCD_RES_WAIT_MS);
        e->waiting++;
        while (e->reading && pthread_cond_timedwait(&r->cv, &r->mu, &until) == 0) {
        }
        e->waiting--;
    }
    if (!e->loaded) {
        errbuf_set(err, errlen, "cannot resolve %s: %s", target, e->failing ? e->why : "etcd is being read");
        goto out;
    }
    if (e->naddrs == 0) {
        errbuf_set(err, errlen, "no instance of %s is registered in etcd (no key under '%s/')", target,
                  e->t.key);
        goto out;
    }
    /* Round-robin over the instances not reported down; when all are, over
     * all of them (one may be back). */
    now = mono_now_ms();
    int pick = -1;
    for (int i = 0; i < e->naddrs && pick < 0; i++) {
        int k = (int)((e->next + (unsigned)i) % (unsigned)e->naddrs);
        if (e->down[k] <= now) pick = k;
    }
    if (pick < 0) pick = (int)(e->next % (unsigned)e->naddrs);
    e->next = (unsigned)pick + 1;
    if (strlen(e->addrs[pick]) >= addrlen) {
        errbuf_set(err, errlen, "address too long");
        goto out;
    }
    memcpy(addr, e->addrs[pick], strlen(e->addrs[pick]) + 1);
    rc = 0;
out:
    pthread_mutex_unlock(&r->mu);
    return rc;
}

void etcd_resolver_report_down(etcd_resolver *r, const char *target, const char *addr) {
    pthread_mutex_lock(&r->mu);
    etcd_entry *e = etcd_entry_find(r, target);
    for (int i = 0; e && i < e->naddrs; i++)
        if (strcmp(e->addrs[i], addr) == 0) e->down[i] = mono_now_ms() + ETCD_RES_DOWN_MS;
    if (e && !e->reading) e->read_ms = 0; /* read again at the next pick */
    pthread_mutex_unlock(&r->mu);
}
