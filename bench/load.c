/* load.c: the closed-loop load runner of cdtm-bench (bench.h).
 *
 * N worker threads each run one operation after another, with no think
 * time: a new operation starts when the previous one has answered (a
 * "closed loop", like `ab -c N` or DTM's own benchmark). That is what makes
 * throughput = N / latency, and why a slow server shows up as fewer
 * operations rather than as a queue that grows without bound.
 *
 * Time is split into a warm-up (connections opened, pools filled, caches
 * warm; nothing recorded) and the measuring window. An operation counts in
 * the window when it COMPLETES inside it. At the window's start and end the
 * main thread calls cfg->window(), where the caller samples process and
 * database counters, so those deltas cover the same interval as the count.
 *
 * Latencies go into a per-thread log-linear histogram (no locks on the hot
 * path): exact below 256 us, then 128 sub-buckets per power of two, i.e.
 * better than 1% resolution, merged when the threads are done. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

/* ---- histogram ---------------------------------------------------------- */

static size_t hist_index(uint64_t us) {
    if (us < 256) return (size_t)us;
    int msb = 63 - __builtin_clzll(us); /* >= 8 */
    uint64_t sub = us >> (msb - 7);      /* 128..255 */
    size_t idx = 256 + (size_t)(msb - 8) * 128 + (size_t)(sub - 128);
    return idx < BENCH_HIST_BUCKETS ? idx : BENCH_HIST_BUCKETS - 1;
}

/* The middle of bucket idx, in microseconds. */
static uint64_t hist_value(size_t idx) {
    if (idx < 256) return idx;
    size_t k = idx - 256;
    int msb = 8 + (int)(k / 128);
    uint64_t sub = 128 + k % 128;
    uint64_t width = (uint64_t)1 << (msb - 7);
    return (sub << (msb - 7)) + width / 2;
}

void bench_hist_add(bench_hist *h, uint64_t us) {
    h->count[hist_index(us)]++;
    if (us > h->max_us) h->max_us = us;
    h->n++;
}

void bench_hist_merge(bench_hist *into, const bench_hist *from) {
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) into->count[i] += from->count[i];
    if (from->max_us > into->max_us) into->max_us = from->max_us;
    into->n += from->n;
}

uint64_t bench_hist_quantile(const bench_hist *h, double q) {
    if (h->n == 0) return 0;
    if (q >= 1.0) return h->max_us;
    uint64_t rank = (uint64_t)(q * (double)h->n);
    if (rank >= h->n) rank = h->n - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->count[i];
        if (seen > rank) {
            uint64_t v = hist_value(i);
            return v > h->max_us ? h->max_us : v;
        }
    }
    return h->max_us;
}

/* ---- the runner ----------------------------------------------------------- */

double bench_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Phases, advanced by the main thread; workers read them without locks. */
enum { PHASE_WARMUP = 0, PHASE_MEASURE = 1, PHASE_STOP = 2 };

typedef struct {
    const bench_ctx *ctx;
    atomic_int *phase;
    int id;
    pthread_t thread;
    int started;
    bench_hist *hist; /* heap: 32 KiB per worker */
    _Atomic uint64_t op_start_ns; /* start of the operation in flight, 0 between them */
    uint64_t ok, errors, total_ok, total_errors;
    char first_error[512];
} worker_slot;

static void *worker_main(void *arg) {
    worker_slot *s = arg;
    bench_worker w;
    memset(&w, 0, sizeof w);
    w.ctx = s->ctx;
    w.id = s->id;
    char err[512];
    for (;;) {
        int ph = atomic_load_explicit(s->phase, memory_order_acquire);
        if (ph == PHASE_STOP) break;
        double t0 = bench_now_s();
        atomic_store_explicit(&s->op_start_ns, (uint64_t)(t0 * 1e9), memory_order_relaxed);
        err[0] = '\0';
        int rc = bench_mode_op(&w, err, sizeof err);
        double t1 = bench_now_s();
        atomic_store_explicit(&s->op_start_ns, 0, memory_order_relaxed);
        /* Counted in the window when it completed inside it. */
        int in_window = atomic_load_explicit(s->phase, memory_order_acquire) == PHASE_MEASURE;
        if (rc == 0) {
            s->total_ok++;
        } else {
            s->total_errors++;
            if (!s->first_error[0])
                snprintf(s->first_error, sizeof s->first_error, "%s", err[0] ? err : "error");
        }
        if (in_window) {
            if (rc == 0) s->ok++;
            else s->errors++;
            double us = (t1 - t0) * 1e6;
            bench_hist_add(s->hist, us < 0 ? 0 : (uint64_t)us);
        }
        /* A failing target must not turn the loop into a busy spin. */
        if (rc != 0) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    bench_worker_close(&w);
    return NULL;
}

/* Sleeps until the monotonic time `until`. */
static void sleep_until(double until) {
    for (;;) {
        double left = until - bench_now_s();
        if (left <= 0) return;
        struct timespec ts = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
        if (nanosleep(&ts, NULL) == 0) return;
        if (errno != EINTR) return;
    }
}

int bench_load_run(const bench_ctx *ctx, const bench_load_cfg *cfg, bench_load_result *out,
                   char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    int n = cfg->workers;
    if (n < 1 || n > 4096) {
        snprintf(err, errlen, "workers must be 1..4096, got %d", n);
        return -1;
    }
    atomic_int phase;
    atomic_init(&phase, PHASE_WARMUP);
    worker_slot *slots = calloc((size_t)n, sizeof *slots);
    if (!slots) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* Small stacks: 200 workers x 8 MiB of address space is pointless, and
     * the load generator's own footprint should stay out of the way. */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        slots[i].ctx = ctx;
        slots[i].phase = &phase;
        slots[i].id = i;
        slots[i].hist = calloc(1, sizeof *slots[i].hist);
        if (!slots[i].hist || pthread_create(&slots[i].thread, &attr, worker_main, &slots[i]) != 0) {
            snprintf(err, errlen, "cannot start worker %d of %d", i + 1, n);
            rc = -1;
            break;
        }
        slots[i].started = 1;
    }
    pthread_attr_destroy(&attr);

    if (rc == 0) {
        double start = bench_now_s();
        sleep_until(start + cfg->warmup_s);
        if (cfg->window) cfg->window(cfg->window_ud, 0);
        double w0 = bench_now_s();
        atomic_store_explicit(&phase, PHASE_MEASURE, memory_order_release);
        sleep_until(w0 + cfg->duration_s);
        atomic_store_explicit(&phase, PHASE_STOP, memory_order_release);
        double w1 = bench_now_s();
        out->window_s = w1 - w0;
        /* Operations still in flight: a server that serves only some
         * connections (one thread per keep-alive connection) leaves the
         * others waiting, and their latency never reaches the histogram. */
        for (int i = 0; i < n; i++) {
            uint64_t st = atomic_load_explicit(&slots[i].op_start_ns, memory_order_relaxed);
            if (st == 0) continue;
            double age_ms = (w1 - (double)st / 1e9) * 1e3;
            if (age_ms > out->oldest_inflight_ms) out->oldest_inflight_ms = age_ms;
        }
        if (cfg->window) cfg->window(cfg->window_ud, 1);
    } else {
        atomic_store_explicit(&phase, PHASE_STOP, memory_order_release);
    }
    /* Operations in flight finish (bounded by the per-request timeout). */
    for (int i = 0; i < n; i++) {
        if (slots[i].started) pthread_join(slots[i].thread, NULL);
        if (slots[i].hist) bench_hist_merge(&out->hist, slots[i].hist);
        if (slots[i].ok + slots[i].errors == 0) out->starved_workers++;
        out->ok += slots[i].ok;
        out->errors += slots[i].errors;
        out->total_ok += slots[i].total_ok;
        out->total_errors += slots[i].total_errors;
        if (slots[i].first_error[0]) {
            out->error_workers++;
            if (!out->first_error[0])
                snprintf(out->first_error, sizeof out->first_error, "%s", slots[i].first_error);
        }
        free(slots[i].hist);
    }
    free(slots);
    return rc;
}
