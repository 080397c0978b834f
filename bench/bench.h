/* bench.h: the pieces of cdtm-bench, the load generator of issue 6
 * (docs/benchmarks.md). One executable, several files:
 *
 *   main.c      command line, one run of a mode, its report (text + JSON)
 *   load.c      closed-loop workers, warm-up, measuring window, histogram
 *   modes.c     what one operation is in each mode (a..e)
 *   httpc.c     a per-worker keep-alive HTTP/1.1 client (no shared pool)
 *   procstat.c  CPU seconds and peak RSS of the processes under test
 *   dbstat.c    database counters (global status, per-user statistics)
 *   check.c     the invariant check after the place-order runs
 *   noop.c      `serve-noop`: a gRPC branch server that does nothing
 *   handoff.c   `handoff`: what one hand-off between two processes costs
 *
 * A mode is a function that performs ONE operation (a saga, a direct call
 * pair, an INSERT) for one worker and says whether it succeeded. The load
 * runner calls it in a closed loop from N threads; everything else
 * (timing, percentiles, counters) is the runner's business. */
#ifndef CDTM_BENCH_H
#define CDTM_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "rpccli.h"

/* ---- HTTP client (httpc.c) ---------------------------------------------- */

/* One keep-alive connection, owned by one worker. */
typedef struct {
    char host[128];
    int port;
    int fd;          /* -1 when not connected */
    int keepalive;   /* 0: a new connection per request (Connection: close) */
    int timeout_ms;
    char *buf;       /* reply buffer, grown as needed */
    size_t cap;
} httpc;

/* Parses "http://host:port" (a path after it is ignored) into *c.
 * Returns 0, or -1 with `err` filled. */
int httpc_init(httpc *c, const char *base_url, int keepalive, int timeout_ms, char *err,
               size_t errlen);
void httpc_close(httpc *c);

/* Sends `method` `path` with `body` (may be NULL) and reads the reply.
 * Returns 0 with *status set and *reply pointing into the client's buffer
 * (NUL-terminated, valid until the next request), or -1 with `err` filled. */
int httpc_request(httpc *c, const char *method, const char *path, const char *body,
                  size_t body_len, int *status, const char **reply, size_t *reply_len,
                  char *err, size_t errlen);

/* ---- modes (modes.c) ------------------------------------------------------- */

typedef enum {
    MODE_EMPTY_HTTP = 0, /* (a) 2-branch saga, empty URLs, HTTP submit, WaitResult */
    MODE_EMPTY_GRPC,     /* (a) the same over gRPC /dtmgimp.Dtm/Submit */
    MODE_NOOP,           /* (b) 2 branches on two no-op gRPC servers */
    MODE_ORDER,          /* (c) order-api POST /order/quickCreate?wait=true */
    MODE_DIRECT,         /* (d) order-srv create + stock-srv deduct, no coordinator */
    MODE_DB,             /* (e) single-row autocommit INSERT */
    MODE_COUNT
} bench_mode;

/* Settings shared by every worker of a run (read-only during the run). */
typedef struct {
    bench_mode mode;
    const char *dtm_http;   /* http://127.0.0.1:36789 */
    const char *dtm_grpc;   /* 127.0.0.1:36790 */
    const char *noop[2];    /* two host:port of serve-noop */
    const char *order_api;  /* http://127.0.0.1:8889 */
    const char *order_srv;  /* 127.0.0.1:9001 */
    const char *stock_srv;  /* 127.0.0.1:9002 */
    int64_t goods_id;       /* (c), (d) */
    int keepalive;          /* HTTP keep-alive (default 1) */
    int timeout_ms;         /* per request */
    char run_tag[32];       /* makes gids unique across runs */
    rpccli *rpc;            /* shared gRPC client (one channel per target) */
    db_pool *db;            /* (e): the scratch database */
} bench_ctx;

/* Per-worker state. */
typedef struct {
    const bench_ctx *ctx;
    int id;
    uint64_t seq;
    httpc http;
    int http_ready;
} bench_worker;

/* Lower-case names used on the command line and in reports:
 * "empty-http", "empty-grpc", "noop", "order", "direct", "db". */
const char *bench_mode_name(bench_mode m);
int bench_mode_parse(const char *name, bench_mode *out);
/* The letter of the brief: "a", "a", "b", "c", "d", "e". */
const char *bench_mode_letter(bench_mode m);

/* Prepares what a mode needs once per run (e.g. the scratch table of (e)).
 * Returns 0, or -1 with `err` filled. */
int bench_mode_setup(bench_ctx *ctx, char *err, size_t errlen);

/* One operation. Returns 0 on success, -1 with `err` filled. */
int bench_mode_op(bench_worker *w, char *err, size_t errlen);

/* Frees the worker's connections. */
void bench_worker_close(bench_worker *w);

/* ---- the load runner (load.c) -------------------------------------------- */

#define BENCH_HIST_BUCKETS 4096

typedef struct {
    uint64_t count[BENCH_HIST_BUCKETS]; /* latency in microseconds, ~0.8% buckets */
    uint64_t max_us;
    uint64_t n;
} bench_hist;

void bench_hist_add(bench_hist *h, uint64_t us);
void bench_hist_merge(bench_hist *into, const bench_hist *from);
/* The latency at quantile q (0..1) in microseconds (0 when empty). */
uint64_t bench_hist_quantile(const bench_hist *h, double q);

/* Called by the runner at the start and end of the measuring window, on
 * the main thread, so that process and database counters cover exactly it. */
typedef void (*bench_window_fn)(void *ud, int at_end);

typedef struct {
    int workers;
    double warmup_s;
    double duration_s;
    bench_window_fn window;
    void *window_ud;
} bench_load_cfg;

typedef struct {
    bench_hist hist;        /* operations completed inside the window */
    uint64_t ok;            /* successes inside the window */
    uint64_t errors;        /* failures inside the window */
    uint64_t total_ok;      /* successes over the whole run (warm-up included) */
    uint64_t total_errors;
    double window_s;        /* measured length of the window */
    char first_error[512];  /* the first error message seen, for the report */
    uint64_t error_workers;  /* workers that saw at least one error */
    uint64_t starved_workers;/* workers that completed nothing inside the window */
    double oldest_inflight_ms; /* age of the oldest operation in flight at the window's end */
} bench_load_result;

/* Runs `cfg->workers` closed-loop workers on `ctx`: warm-up, then the
 * measuring window, then waits for the operations in flight. Returns 0, or
 * -1 with `err` filled when threads cannot be started. */
int bench_load_run(const bench_ctx *ctx, const bench_load_cfg *cfg, bench_load_result *out,
                   char *err, size_t errlen);

/* ---- processes under test (procstat.c) --------------------------------------- */

#define BENCH_MAX_PROCS 16

typedef struct {
    char name[32];
    int pid;             /* 0 = this process */
    uint64_t ticks0, ticks1;  /* utime + stime at window start / end */
    uint64_t hwm_kb;     /* VmHWM at the end (reset at the start when possible) */
    uint64_t rss_kb;     /* VmRSS at the end */
    uint64_t anon_kb;    /* RssAnon at the end: the process's own memory */
    uint64_t file_kb;    /* RssFile at the end: mapped files, mostly shared libraries */
    int hwm_reset;       /* 1 when /proc/<pid>/clear_refs accepted the reset */
    int threads;         /* Threads: at the end */
    uint64_t csw0, csw1; /* context switches of all its threads at window start / end */
} bench_proc;

/* Adds "name=pid" (pid 0 or "self" = this process). Returns 0 or -1. */
int bench_proc_add(bench_proc *p, size_t *n, const char *spec, char *err, size_t errlen);
/* Resets the peak RSS of every process (clear_refs "5"). */
void bench_proc_reset_peak(bench_proc *p, size_t n);
/* Reads CPU ticks (at_end 0: into ticks0; 1: into ticks1 and the memory). */
void bench_proc_sample(bench_proc *p, size_t n, int at_end);
/* Context switches (voluntary + involuntary, all threads) between them. */
uint64_t bench_proc_csw(const bench_proc *p);
/* CPU seconds between the two samples. */
double bench_proc_cpu_s(const bench_proc *p);

/* ---- database counters (dbstat.c) --------------------------------------------- */

#define BENCH_MAX_DBUSERS 8

typedef struct {
    char user[64];
    int64_t commits, rollbacks, selects, updates, others;
    double busy_s, cpu_s;
} bench_dbuser;

typedef struct {
    int64_t com_commit, handler_commit, log_fsyncs, log_writes, questions;
    size_t nusers;
    bench_dbuser users[BENCH_MAX_DBUSERS];
    int have_userstat;
} bench_dbsnap;

/* Turns per-user statistics on (SET GLOBAL userstat=1); harmless if done. */
void bench_db_enable_userstat(db_pool *p);
/* Reads the counters. Returns 0, or -1 with `err` filled. */
int bench_db_snapshot(db_pool *p, bench_dbsnap *out, char *err, size_t errlen);
/* One server variable as text ("" when unknown). */
void bench_db_variable(db_pool *p, const char *name, char *out, size_t outlen);

/* ---- the invariant check (check.c) ---------------------------------------------- */

/* Checks, on the database server of `p` (as root), that every place-order saga
 * is final (waiting up to wait_s for stragglers), that each succeeded gid has
 * exactly one live order row for `goods_id`, that no live order belongs to a
 * saga that did not succeed, and that the stock of `goods_id` fell by the sum
 * of the live orders' nums since `initial_stock`. Prints a report to stdout
 * and a JSON object to `json_path` (may be NULL). Returns 0 when every
 * invariant holds, 1 when one is broken, -1 when it could not be checked. */
int bench_check_orders(db_pool *p, int64_t goods_id, int64_t initial_stock, int64_t client_ok,
                       int wait_s, const char *json_path);

/* ---- serve-noop (noop.c) ------------------------------------------------------- */

/* Runs a gRPC server on 127.0.0.1:port whose /bench.Noop/{Action,Compensate}
 * answer OK at once, until SIGTERM. Returns the exit status. */
int bench_serve_noop(int port, int threads);

/* ---- handoff (handoff.c) ------------------------------------------------------- */

/* Measures `rounds` one-byte round trips between two processes over a
 * loopback TCP connection, with both on one CPU, on two CPUs, and unpinned.
 * Each placement is checked to hold (how many CPUs each side may run on)
 * before it is timed. Prints the CPU and wall microseconds per round trip of
 * each placement, and writes them, with the UTC minute of the measurement
 * ("at"), as one JSON object to `json_path` (may be NULL). Returns 0, or 1
 * on an error (printed). */
int bench_handoff(long rounds, const char *json_path);

/* ---- helpers (main.c) ---------------------------------------------------------- */

double bench_now_s(void); /* CLOCK_MONOTONIC seconds */

#endif
