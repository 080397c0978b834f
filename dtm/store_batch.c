/* store_batch.c: group commit of the store's two hot writes.
 *
 * Every saga writes its row twice: store_save_new before its first branch
 * is called, store_save_progress when it ends (engine.h). Alone, each write
 * is a local transaction of three round trips (two statements, COMMIT; db.c
 * needs no BEGIN on a busy connection), and on a busy machine the database's
 * CPU per statement, not its fsyncs, is what limits sagas per second
 * (docs/benchmarks.md). So writes that arrive together are written together:
 *
 * - A writer queues its job. While fewer than STORE_LEADERS batches are being
 *   written, it becomes a leader: it takes up to BATCH_MAX queued jobs (its
 *   own and any others), writes them in ONE local transaction, and wakes
 *   their writers. Otherwise it sleeps. A leader that finishes takes the
 *   next batch off the queue for the oldest queued writer and wakes it to
 *   write it. There is no timer: a lone write goes at once, in a batch of
 *   one, exactly as it would alone; under load, batches grow by themselves
 *   while the leaders are busy.
 * - Each writer sleeps on a semaphore of its own, posted exactly once: when
 *   its job is done, or with a batch to lead. The posts come after the
 *   leader has let go of the queue's mutex, so a woken writer never wakes
 *   only to wait for that mutex (with a condition variable signalled under
 *   the mutex, the 32 writers of a batch did, at two context switches
 *   each). A writer returns only after its post, so the post is the
 *   leader's last touch of the job.
 * - In a batch, the global rows of new transactions go in multi-row INSERTs,
 *   and so do their branch rows. Progress writes that move rows between the
 *   same two statuses with the same values go in one
 *   "UPDATE ... WHERE status=<old> AND gid IN (...)", and their branch rows
 *   in one UPDATE per set of branch ids (a saga that succeeded: both
 *   actions). Other progress writes run their usual statements inside the
 *   batch's transaction.
 * - Anything out of the ordinary (a duplicate gid, a row no longer in its
 *   old status, any error before COMMIT) rolls the whole batch back and
 *   writes each job in a transaction of its own, as store.c does for a lone
 *   write. So every caller gets exactly the answer it would have got alone,
 *   and the rules of store.h (conditional status changes, global row before
 *   branch rows) hold unchanged.
 * - A COMMIT that fails is reported to every job of the batch as a database
 *   error: as for a lone transaction, its outcome is unknown, and callers
 *   already treat STORE_ERR so (the cron finds the saga in the store later).
 * - No caller returns before its batch is durable, so a saga's row is still
 *   committed before any of its branches is called. */
#include <errno.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "log.h"
#include "store_int.h"

#define STORE_LEADERS 2   /* batches written at the same time */
#define BATCH_MAX 32      /* jobs in one batch */
#define MERGE_IDS_MAX 32  /* dirty branches of a progress write that can be merged */

struct store_job {
    int kind;            /* 'n': save_new, 'p': save_progress */
    void *ctx;           /* save_new_ctx or progress_ctx of the waiting writer */
    int r;               /* what the write returned, once done */
    char err[512];       /* the message when r != 0 */
    sem_t wake;          /* posted once: the job is done, or `lead` holds a batch */
    store_job *lead[BATCH_MAX]; /* the batch this writer is to write (itself first) */
    size_t nlead;
    store_job *next;     /* the queue, oldest first */
};

/* ---- a job alone --------------------------------------------------------- */

static void write_alone(store *s, store_job *j) {
    j->r = db_with_tx(s->pool, s->timeout_ms,
                      j->kind == 'n' ? store_save_new_tx : store_save_progress_tx, j->ctx,
                      j->err, sizeof j->err);
}

/* ---- merging progress writes -------------------------------------------- */

static size_t pow2_at_least(size_t n) {
    size_t k = 1;
    while (k < n) k *= 2;
    return k;
}

#define TOO_MANY ((size_t)-1)

/* The dirty branches of t in order into out[0, max); TOO_MANY when there are
 * more than max. */
static size_t dirty_branches(const trans_global *t, const trans_branch **out, size_t max) {
    size_t n = 0;
    for (size_t i = 0; i < t->n_branches; i++) {
        if (!t->branches[i].dirty) continue;
        if (n == max) return TOO_MANY;
        out[n++] = &t->branches[i];
    }
    return n;
}

/* Whether x can share a merged UPDATE: it changes the status (an unchanged
 * status needs store.c's recheck), and its dirty branches, if any, share
 * one op and one new status, and are few enough to list. */
static int mergeable(const progress_ctx *x) {
    if (strcmp(x->old_status, x->t->status) == 0) return 0;
    const trans_branch *d[MERGE_IDS_MAX];
    size_t n = dirty_branches(x->t, d, MERGE_IDS_MAX);
    if (n == TOO_MANY) return 0;
    for (size_t i = 1; i < n; i++)
        if (strcmp(d[i]->op, d[0]->op) != 0 || strcmp(d[i]->status, d[0]->status) != 0) return 0;
    return 1;
}

/* Whether two mergeable writes set the same values, on the same branch ids. */
static int same_progress(const progress_ctx *x, const progress_ctx *y) {
    const trans_global *a = x->t, *b = y->t;
    if (strcmp(a->status, b->status) != 0 || strcmp(x->old_status, y->old_status) != 0 ||
        strcmp(a->rollback_reason, b->rollback_reason) != 0 || strcmp(a->result, b->result) != 0 ||
        x->interval != y->interval || x->delay != y->delay)
        return 0;
    const trans_branch *da[MERGE_IDS_MAX], *db[MERGE_IDS_MAX];
    size_t na = dirty_branches(a, da, MERGE_IDS_MAX), nb = dirty_branches(b, db, MERGE_IDS_MAX);
    if (na != nb) return 0;
    for (size_t i = 0; i < na; i++)
        if (strcmp(da[i]->branch_id, db[i]->branch_id) != 0 || strcmp(da[i]->op, db[i]->op) != 0 ||
            strcmp(da[i]->status, db[i]->status) != 0)
            return 0;
    return 1;
}

/* Appends ",?" n times (the first without the comma) at *p. */
static char *put_marks(char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (i) *p++ = ',';
        *p++ = '?';
    }
    return p;
}

/* Writes the m mergeable progress writes xs[0, m), which set the same
 * values: one UPDATE of their global rows, then one of their branch rows.
 * The lists are padded to a power of two with repeated values (harmless in
 * IN), so that few statement texts exist. TXR_CONFLICT when a row was not in
 * the old status any more. */
static int write_merged(db_conn *c, progress_ctx *const *xs, size_t m, char *err, size_t errlen) {
    const progress_ctx *x = xs[0];
    const trans_global *t = x->t;
    size_t slots = pow2_at_least(m);
    const trans_branch *d[MERGE_IDS_MAX];
    size_t nd = dirty_branches(t, d, MERGE_IDS_MAX);
    size_t id_slots = nd ? pow2_at_least(nd) : 0;
    db_arg *a = malloc((6 + slots + id_slots) * sizeof *a);
    char *sql = malloc(512 + 2 * (slots + id_slots));
    if (!a || !sql) {
        free(a);
        free(sql);
        errbuf_set(err, errlen, "out of memory");
        return DB_ESQL;
    }
    size_t na = 0;
    a[na++] = DB_STR(t->status);
    a[na++] = DB_STR(t->rollback_reason);
    a[na++] = DB_STR(t->result);
    a[na++] = DB_INT(x->interval);
    a[na++] = DB_INT(x->delay);
    a[na++] = DB_STR(x->old_status);
    for (size_t i = 0; i < slots; i++) a[na++] = DB_STR(xs[i < m ? i : m - 1]->t->gid);
    char *p = sql + sprintf(sql, "%sWHERE status=? AND gid IN (", store_progress_set_sql(t->status));
    p = put_marks(p, slots);
    strcpy(p, ")");
    uint64_t changed = 0;
    /* The global rows first: their locks serialise writers (store.c). */
    int rc = db_exec(c, sql, a, na, &changed, err, errlen);
    if (rc == DB_OK && changed != m) {
        errbuf_set(err, errlen, "%llu of %zu rows were in status '%s'",
                   (unsigned long long)changed, m, x->old_status);
        rc = TXR_CONFLICT;
    }
    if (rc == DB_OK && nd) {
        na = 0;
        a[na++] = DB_STR(d[0]->status);
        a[na++] = DB_STR(d[0]->op);
        for (size_t i = 0; i < id_slots; i++) a[na++] = DB_STR(d[i < nd ? i : nd - 1]->branch_id);
        for (size_t i = 0; i < slots; i++) a[na++] = DB_STR(xs[i < m ? i : m - 1]->t->gid);
        p = sql + sprintf(sql, "UPDATE trans_branch_op SET status=?, finish_time=NOW(), "
                               "update_time=NOW() WHERE op=? AND branch_id IN (");
        p = put_marks(p, id_slots);
        p += sprintf(p, ") AND gid IN (");
        p = put_marks(p, slots);
        strcpy(p, ")");
        /* Exact: every gid listed has exactly these dirty (branch_id, op). */
        rc = db_exec(c, sql, a, na, NULL, err, errlen);
    }
    free(a);
    free(sql);
    return rc;
}

/* ---- a batch ------------------------------------------------------------- */

/* The statements of a batch of jobs, on connection c inside a transaction.
 * Non-zero means: roll back and write each job alone. */
static int write_batch_body(db_conn *c, store_job **jobs, size_t k, char *err, size_t errlen) {
    save_new_ctx *news[BATCH_MAX];
    size_t nn = 0, nrefs = 0;
    for (size_t i = 0; i < k; i++)
        if (jobs[i]->kind == 'n') {
            news[nn] = jobs[i]->ctx;
            nrefs += news[nn++]->t->n_branches;
        }
    int rc = DB_OK;
    if (nn) rc = store_insert_globals(c, news, nn, err, errlen);
    if (rc == DB_OK && nrefs) {
        branch_ref *refs = malloc(nrefs * sizeof *refs);
        if (!refs) {
            errbuf_set(err, errlen, "out of memory");
            return DB_ESQL;
        }
        size_t r = 0;
        for (size_t i = 0; i < nn; i++)
            for (size_t b = 0; b < news[i]->t->n_branches; b++)
                refs[r++] = (branch_ref){news[i]->t->gid, &news[i]->t->branches[b]};
        rc = store_insert_branches(c, refs, nrefs, 0, 1, err, errlen);
        free(refs);
    }
    /* Progress writes, merged where they set the same values. */
    int used[BATCH_MAX] = {0};
    for (size_t i = 0; i < k && rc == DB_OK; i++) {
        if (jobs[i]->kind != 'p' || used[i]) continue;
        progress_ctx *x = jobs[i]->ctx;
        if (!mergeable(x)) {
            rc = store_save_progress_tx(c, x, err, errlen);
            continue;
        }
        progress_ctx *group[BATCH_MAX] = {x};
        size_t m = 1;
        for (size_t j = i + 1; j < k; j++) {
            progress_ctx *y = jobs[j]->ctx;
            if (jobs[j]->kind != 'p' || used[j] || !mergeable(y) || !same_progress(x, y)) continue;
            used[j] = 1;
            group[m++] = y;
        }
        rc = write_merged(c, group, m, err, errlen);
    }
    return rc;
}

/* Writes jobs[0, k) and sets each one's result. */
static void write_batch(store *s, store_job **jobs, size_t k) {
    if (k == 1) {
        write_alone(s, jobs[0]);
        return;
    }
    char e[512] = "";
    db_rc drc = DB_OK;
    db_conn *c = db_acquire(s->pool, s->timeout_ms, &drc, e, sizeof e);
    if (!c) {
        for (size_t i = 0; i < k; i++) {
            jobs[i]->r = drc;
            snprintf(jobs[i]->err, sizeof jobs[i]->err, "%s", e);
        }
        return;
    }
    int r = db_begin(c, e, sizeof e);
    if (r == DB_OK) {
        r = write_batch_body(c, jobs, k, e, sizeof e);
        if (r == DB_OK) {
            r = db_commit(c, e, sizeof e);
            db_release(s->pool, c);
            for (size_t i = 0; i < k; i++) {
                jobs[i]->r = r;
                if (r) snprintf(jobs[i]->err, sizeof jobs[i]->err, "%s", e);
            }
            return;
        }
        char ignored[256];
        db_rollback(c, ignored, sizeof ignored);
    }
    db_release(s->pool, c);
    log_debug(NULL, "store: a batch of %zu writes is written one by one: %s", k, e);
    for (size_t i = 0; i < k; i++) write_alone(s, jobs[i]);
}

/* ---- the queue ----------------------------------------------------------- */

/* Moves up to BATCH_MAX jobs from the head of the queue into batch[];
 * s->mu held. */
static size_t take_batch(store *s, store_job **batch) {
    size_t k = 0;
    while (s->head && k < BATCH_MAX) {
        batch[k++] = s->head;
        s->head = s->head->next;
    }
    if (!s->head) s->tail = NULL;
    return k;
}

int store_batch_run(store *s, int kind, void *ctx, char *err, size_t errlen) {
    store_job me = {.kind = kind, .ctx = ctx};
    sem_init(&me.wake, 0, 0);
    pthread_mutex_lock(&s->mu);
    if (s->tail) s->tail->next = &me;
    else s->head = &me;
    s->tail = &me;
    /* Fewer leaders than STORE_LEADERS only while the queue was empty (a
     * finishing leader hands a non-empty queue on), so this batch is `me`. */
    if (s->leaders < STORE_LEADERS) {
        me.nlead = take_batch(s, me.lead);
        s->leaders++;
    }
    pthread_mutex_unlock(&s->mu);
    if (me.nlead == 0)
        while (sem_wait(&me.wake) != 0 && errno == EINTR) {
        }
    if (me.nlead > 0) {
        /* Lead: write the batch, hand the queue on, then wake the writers. */
        write_batch(s, me.lead, me.nlead);
        pthread_mutex_lock(&s->mu);
        store_job *next = s->head;
        if (next) next->nlead = take_batch(s, next->lead); /* still a leader: handed on */
        else s->leaders--;
        pthread_mutex_unlock(&s->mu);
        if (next) sem_post(&next->wake);
        for (size_t i = 0; i < me.nlead; i++)
            if (me.lead[i] != &me) sem_post(&me.lead[i]->wake);
    }
    sem_destroy(&me.wake);
    if (me.r != 0) errbuf_set(err, errlen, "%s", me.err);
    return me.r;
}

void store_batch_state(store *s, int *leaders, size_t *queued) {
    pthread_mutex_lock(&s->mu);
    *leaders = s->leaders;
    *queued = 0;
    for (const store_job *j = s->head; j; j = j->next) (*queued)++;
    pthread_mutex_unlock(&s->mu);
}
