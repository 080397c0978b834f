/* cron.c: crash recovery and retries (cron.h; dtm-protocol.md §6 "Cron and
 * crash recovery").
 *
 * One thread per coordinator. It claims a due transaction (status prepared,
 * submitted or aborting, next_cron_time passed) with store_claim_due, which
 * pushes its next_cron_time ahead by the lease and writes our owner token,
 * so no other instance takes it meanwhile; then it runs it through the
 * engine inline (wait = 1), exactly as DTM's cron runs one round with
 * WaitResult. It goes on until nothing is due, then sleeps TransCronInterval
 * minus a random part of a second (so that instances sharing a store drift
 * apart), on a condition variable that cron_stop() signals.
 *
 * Nothing here decides what a round does: the engine stores the outcome and
 * the next cron time (backoff); a crash anywhere leaves the row due again
 * once its next_cron_time passes, and whoever claims it then replays it from
 * the stored branch statuses. */
#include "cron.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mono.h"

struct cron {
    store *s;
    engine *e;
    int interval_s;       /* TransCronInterval */
    char owner[40];       /* this instance's claim token */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;    /* signalled by cron_stop() */
    int stopping;         /* under mu */
};

/* ---- helpers ------------------------------------------------------------- */

static void random_bytes(void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom((char *)buf + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            break;
        }
        got += (size_t)r;
    }
    if (got < n) {
        /* No entropy source: a token still only has to differ between
         * instances, which time and pid make likely enough. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned long long x = (unsigned long long)ts.tv_nsec ^ ((unsigned long long)ts.tv_sec << 20) ^
                               ((unsigned long long)getpid() << 40);
        for (size_t i = got; i < n; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            ((unsigned char *)buf)[i] = (unsigned char)(x >> 56);
        }
    }
}

/* The lease a claim takes: DTM pushes next_cron_time by RetryInterval. cdtm
 * takes at least one round's budget too (engine_lease_secs), so that with a
 * RetryInterval shorter than RequestTimeout another instance cannot claim a
 * round still running. The claim cannot know the transaction's own options,
 * so it takes the lease of one without any; a transaction whose options ask
 * for more gets it right after (run_until_idle). */
static int64_t cron_lease(engine *e) {
    trans_global *probe = trans_new("", "saga");
    int64_t lease = probe ? engine_lease_secs(e, probe) : 10;
    trans_free(probe);
    return lease > 0 ? lease : 10;
}

/* Claims and processes due transactions until none is left or *stop turns
 * true. Returns the number processed, or -1 when the store failed. */
static int run_until_idle(store *s, engine *e, const char *owner, const int *stop,
                          pthread_mutex_t *mu) {
    int64_t lease = cron_lease(e);
    int done = 0;
    for (;;) {
        if (stop) {
            pthread_mutex_lock(mu);
            int st = *stop;
            pthread_mutex_unlock(mu);
            if (st) return done;
        }
        trans_global *t = NULL;
        char err[512] = "";
        store_rc rc = store_claim_due(s, owner, lease, &t, err, sizeof err);
        if (rc == STORE_NOT_FOUND) return done;
        if (rc != STORE_OK) {
            log_debug(NULL, "cron: %s", err);
            return -1;
        }
        if (strcmp(t->status, TS_SUBMITTED) == 0 || strcmp(t->status, TS_ABORTING) == 0) {
            char gid[TRANS_GID_MAX + 1];
            snprintf(gid, sizeof gid, "%s", t->gid);
            /* Its own RequestTimeout may make a round outlast the claim. If
             * the longer lease cannot be stored, the round runs anyway, as
             * DTM's would: another coordinator may then start a second round
             * after `lease`, repeating branch calls (which DTM's branches
             * must bear in any case), and only one round's writes are kept. */
            int64_t need = engine_lease_secs(e, t);
            if (need > lease && store_extend_claim(s, gid, owner, need, err, sizeof err) != STORE_OK)
                log_warn(gid, "cron: %s", err);
            log_info(gid, "cron: resuming (status %s, claimed by %s)", t->status, owner);
            char msg[1024] = "";
            dtm_result r = engine_process(e, t, 1, msg, sizeof msg); /* takes t */
            if (r != DTM_SUCCESS)
                log_info(gid, "cron: round ended %s%s%s", dtm_result_name(r), msg[0] ? ": " : "",
                         msg);
        } else {
            /* prepared (or moved on since the claim): cdtm runs sagas only,
             * which are never left prepared by a coordinator, so there is no
             * round to run; the claim's lease spaces out the next look. */
            log_debug(t->gid, "cron: claimed in status %s; nothing to run", t->status);
            trans_free(t);
        }
        done++;
    }
}

/* ---- the thread ---------------------------------------------------------- */

static void *cron_main(void *arg) {
    cron *c = arg;
    int db_down = 0;
    for (;;) {
        int n = run_until_idle(c->s, c->e, c->owner, &c->stopping, &c->mu);
        if (n < 0 && !db_down) {
            log_warn(NULL, "cron: the store is unreachable; retrying every %d s", c->interval_s);
            db_down = 1;
        } else if (n >= 0 && db_down) {
            log_info(NULL, "cron: the store is reachable again");
            db_down = 0;
        }
        /* Sleep TransCronInterval minus 0-1 s, as DTM. */
        unsigned short r;
        random_bytes(&r, sizeof r);
        long ms = (long)c->interval_s * 1000 - (long)(r % 1000);
        if (ms < 50) ms = 50;
        struct timespec until = mono_after(ms);
        pthread_mutex_lock(&c->mu);
        while (!c->stopping) {
            if (pthread_cond_timedwait(&c->cv, &c->mu, &until) == ETIMEDOUT) break;
        }
        int stop = c->stopping;
        pthread_mutex_unlock(&c->mu);
        if (stop) return NULL;
    }
}

cron *cron_start(store *s, engine *e, int interval_s, char *err, size_t errlen) {
    cron *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "cron: out of memory");
        return NULL;
    }
    c->s = s;
    c->e = e;
    c->interval_s = interval_s > 0 ? interval_s : 3;
    unsigned char tok[16];
    random_bytes(tok, sizeof tok);
    for (size_t i = 0; i < sizeof tok; i++) snprintf(c->owner + 2 * i, 3, "%02x", tok[i]);
    pthread_mutex_init(&c->mu, NULL);
    mono_cond_init(&c->cv);
    int rc = pthread_create(&c->thread, NULL, cron_main, c);
    if (rc != 0) {
        snprintf(err, errlen, "cron: cannot start its thread: %s", strerror(rc));
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return NULL;
    }
    log_info(NULL, "cron: started (owner %s, every %d s)", c->owner, c->interval_s);
    return c;
}

void cron_stop(cron *c) {
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    c->stopping = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

int cron_run_once(store *s, engine *e, const char *owner) {
    return run_until_idle(s, e, owner, NULL, NULL);
}
