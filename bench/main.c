/* main.c: cdtm-bench, the load generator of issue 6 (docs/benchmarks.md).
 *
 *   cdtm-bench run MODE [options]   one run: N closed-loop workers for a
 *                                   warm-up then a measuring window; prints
 *                                   throughput, latency percentiles, errors,
 *                                   CPU and peak RSS per process, database
 *                                   commits per operation; --json appends the
 *                                   same as one JSON line
 *   cdtm-bench serve-noop -g PORT [-t THREADS]   a no-op gRPC branch server
 *   cdtm-bench check --mysql H:P --goods G --initial N [--client-ok K]
 *                    [--wait S] [--json FILE]    the invariant check (check.c)
 *   cdtm-bench handoff [-n ROUNDS] [--json FILE]  what one hand-off between
 *                    two processes costs on this machine (handoff.c)
 *
 * MODE: empty-http, empty-grpc (a), noop (b), order (c), direct (d), db (e);
 * see modes.c. scripts/bench.sh drives all of it. */
#include <getopt.h>
#include <grpc/grpc.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "db.h"
#include "log.h"

static void usage(void) {
    fprintf(stderr,
            "usage: cdtm-bench run MODE [-c WORKERS] [-d SECS] [-w WARMUP_SECS]\n"
            "         [--dtm-http URL] [--dtm-grpc H:P] [--noop H:P,H:P] [--order-api URL]\n"
            "         [--order-srv H:P] [--stock-srv H:P] [--goods ID] [--mysql H:P]\n"
            "         [--proc NAME=PID]... [--keepalive 0|1] [--timeout MS] [--json FILE]\n"
            "         [--label TEXT]\n"
            "       MODE: empty-http empty-grpc noop order direct db\n"
            "       cdtm-bench serve-noop -g PORT [-t THREADS]\n"
            "       cdtm-bench check --mysql H:P --goods G --initial N [--client-ok K]\n"
            "         [--wait SECS] [--json FILE]\n"
            "       cdtm-bench handoff [-n ROUNDS] [--json FILE]\n");
}

/* A root pool on host:port (no password: the bench's private MariaDB). */
static db_pool *root_pool(const char *hostport, int conns, char *err, size_t errlen) {
    dsn d;
    memset(&d, 0, sizeof d);
    snprintf(d.user, sizeof d.user, "root");
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof d.host) {
        snprintf(err, errlen, "--mysql wants host:port, got '%s'", hostport);
        return NULL;
    }
    memcpy(d.host, hostport, (size_t)(colon - hostport));
    d.port = (unsigned)atoi(colon + 1);
    db_global_init();
    return db_pool_new(&d, conns, err, errlen);
}

/* ---- one run ---------------------------------------------------------------- */

typedef struct {
    bench_proc procs[BENCH_MAX_PROCS];
    size_t nprocs;
    db_pool *stats;        /* NULL: no database counters */
    bench_dbsnap db0, db1;
    int db_ok;
} run_window;

static void on_window(void *ud, int at_end) {
    run_window *w = ud;
    char err[256];
    bench_proc_sample(w->procs, w->nprocs, at_end);
    if (w->stats) {
        int rc = bench_db_snapshot(w->stats, at_end ? &w->db1 : &w->db0, err, sizeof err);
        if (rc != 0) fprintf(stderr, "cdtm-bench: database counters: %s\n", err);
        w->db_ok = at_end ? (w->db_ok && rc == 0) : rc == 0;
    }
}

static const bench_dbuser *find_user(const bench_dbsnap *s, const char *user) {
    for (size_t i = 0; i < s->nusers; i++)
        if (strcmp(s->users[i].user, user) == 0) return &s->users[i];
    return NULL;
}

static json_t *per_op(double v, uint64_t ops) {
    return ops ? json_real(v / (double)ops) : json_null();
}

static json_t *db_json(const run_window *w, uint64_t ops) {
    const bench_dbsnap *a = &w->db0, *b = &w->db1;
    json_t *j = json_object();
    json_object_set_new(j, "com_commit", json_integer(b->com_commit - a->com_commit));
    json_object_set_new(j, "handler_commit", json_integer(b->handler_commit - a->handler_commit));
    json_object_set_new(j, "log_fsyncs", json_integer(b->log_fsyncs - a->log_fsyncs));
    json_object_set_new(j, "log_writes", json_integer(b->log_writes - a->log_writes));
    json_object_set_new(j, "questions", json_integer(b->questions - a->questions));
    json_object_set_new(j, "com_commit_per_op", per_op((double)(b->com_commit - a->com_commit), ops));
    json_object_set_new(j, "handler_commit_per_op",
                        per_op((double)(b->handler_commit - a->handler_commit), ops));
    json_object_set_new(j, "log_fsyncs_per_op", per_op((double)(b->log_fsyncs - a->log_fsyncs), ops));
    json_object_set_new(j, "questions_per_op", per_op((double)(b->questions - a->questions), ops));
    json_t *users = json_array();
    for (size_t i = 0; i < b->nusers; i++) {
        const bench_dbuser *u1 = &b->users[i], *u0 = find_user(a, u1->user);
        bench_dbuser z;
        memset(&z, 0, sizeof z);
        if (!u0) u0 = &z;
        json_t *u = json_object();
        json_object_set_new(u, "user", json_string(u1->user));
        json_object_set_new(u, "commits", json_integer(u1->commits - u0->commits));
        json_object_set_new(u, "commits_per_op", per_op((double)(u1->commits - u0->commits), ops));
        json_object_set_new(u, "rollbacks", json_integer(u1->rollbacks - u0->rollbacks));
        json_object_set_new(u, "selects_per_op", per_op((double)(u1->selects - u0->selects), ops));
        json_object_set_new(u, "updates_per_op", per_op((double)(u1->updates - u0->updates), ops));
        json_object_set_new(u, "others_per_op", per_op((double)(u1->others - u0->others), ops));
        json_object_set_new(u, "busy_ms_per_op", per_op(1000.0 * (u1->busy_s - u0->busy_s), ops));
        json_object_set_new(u, "cpu_ms_per_op", per_op(1000.0 * (u1->cpu_s - u0->cpu_s), ops));
        json_array_append_new(users, u);
    }
    json_object_set_new(j, "userstat", json_boolean(b->have_userstat));
    json_object_set_new(j, "users", users);
    return j;
}

static int cmd_run(int argc, char **argv) {
    if (argc < 2) {
        usage();
        return 2;
    }
    bench_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    if (bench_mode_parse(argv[1], &ctx.mode) != 0) {
        fprintf(stderr, "cdtm-bench: unknown mode '%s'\n", argv[1]);
        usage();
        return 2;
    }
    ctx.dtm_http = "http://127.0.0.1:36789";
    ctx.dtm_grpc = "127.0.0.1:36790";
    ctx.order_api = "http://127.0.0.1:8889";
    ctx.order_srv = "127.0.0.1:9001";
    ctx.stock_srv = "127.0.0.1:9002";
    ctx.goods_id = 1;
    ctx.keepalive = 1;
    ctx.timeout_ms = 30000;
    char noop_list[512] = "";
    const char *mysql = NULL, *json_path = NULL, *label = "";
    bench_load_cfg cfg = {.workers = 10, .warmup_s = 2, .duration_s = 10};
    run_window win;
    memset(&win, 0, sizeof win);
    char err[512];

    static const struct option opts[] = {
        {"dtm-http", 1, 0, 'H'}, {"dtm-grpc", 1, 0, 'G'},  {"noop", 1, 0, 'N'},
        {"order-api", 1, 0, 'A'}, {"order-srv", 1, 0, 'O'}, {"stock-srv", 1, 0, 'S'},
        {"goods", 1, 0, 'g'},    {"mysql", 1, 0, 'm'},     {"proc", 1, 0, 'p'},
        {"keepalive", 1, 0, 'k'}, {"timeout", 1, 0, 't'},  {"json", 1, 0, 'j'},
        {"label", 1, 0, 'l'},    {0, 0, 0, 0}};
    optind = 2;
    int o;
    while ((o = getopt_long(argc, argv, "c:d:w:", opts, NULL)) != -1) {
        switch (o) {
        case 'c': cfg.workers = atoi(optarg); break;
        case 'd': cfg.duration_s = atof(optarg); break;
        case 'w': cfg.warmup_s = atof(optarg); break;
        case 'H': ctx.dtm_http = optarg; break;
        case 'G': ctx.dtm_grpc = optarg; break;
        case 'N': snprintf(noop_list, sizeof noop_list, "%s", optarg); break;
        case 'A': ctx.order_api = optarg; break;
        case 'O': ctx.order_srv = optarg; break;
        case 'S': ctx.stock_srv = optarg; break;
        case 'g': ctx.goods_id = strtoll(optarg, NULL, 10); break;
        case 'm': mysql = optarg; break;
        case 'p':
            if (bench_proc_add(win.procs, &win.nprocs, optarg, err, sizeof err) != 0) {
                fprintf(stderr, "cdtm-bench: %s\n", err);
                return 2;
            }
            break;
        case 'k': ctx.keepalive = atoi(optarg) != 0; break;
        case 't': ctx.timeout_ms = atoi(optarg); break;
        case 'j': json_path = optarg; break;
        case 'l': label = optarg; break;
        default: usage(); return 2;
        }
    }
    if (cfg.workers < 1 || cfg.duration_s <= 0 || cfg.warmup_s < 0 || ctx.timeout_ms < 1) {
        fprintf(stderr, "cdtm-bench: bad -c/-d/-w/--timeout\n");
        return 2;
    }
    if (ctx.mode == MODE_NOOP) {
        char *comma = strchr(noop_list, ',');
        if (!comma) {
            fprintf(stderr, "cdtm-bench: mode noop needs --noop H:P,H:P\n");
            return 2;
        }
        *comma = '\0';
        ctx.noop[0] = noop_list;
        ctx.noop[1] = comma + 1;
    }
    if (ctx.mode == MODE_DB && !mysql) {
        fprintf(stderr, "cdtm-bench: mode db needs --mysql H:P\n");
        return 2;
    }
    /* The bench's own cost is reported too: it shares the CPUs. */
    bench_proc_add(win.procs, &win.nprocs, "cdtm-bench=self", err, sizeof err);
    snprintf(ctx.run_tag, sizeof ctx.run_tag, "%lx%x", (unsigned long)time(NULL),
             (unsigned)getpid());
    log_set_level(LOG_WARN);

    ctx.rpc = rpccli_new();
    if (mysql) {
        win.stats = root_pool(mysql, 1, err, sizeof err);
        if (!win.stats) {
            fprintf(stderr, "cdtm-bench: %s\n", err);
            return 2;
        }
        bench_db_enable_userstat(win.stats);
        if (ctx.mode == MODE_DB) {
            ctx.db = root_pool(mysql, cfg.workers, err, sizeof err);
            if (!ctx.db) {
                fprintf(stderr, "cdtm-bench: %s\n", err);
                return 2;
            }
        }
    }
    if (bench_mode_setup(&ctx, err, sizeof err) != 0) {
        fprintf(stderr, "cdtm-bench: setting up %s: %s\n", bench_mode_name(ctx.mode), err);
        return 1;
    }

    bench_proc_reset_peak(win.procs, win.nprocs);
    cfg.window = on_window;
    cfg.window_ud = &win;
    bench_load_result *res = calloc(1, sizeof *res);
    if (!res || bench_load_run(&ctx, &cfg, res, err, sizeof err) != 0) {
        fprintf(stderr, "cdtm-bench: %s\n", res ? err : "out of memory");
        return 1;
    }

    /* The machine's load at the end of the window: other work on the host
     * shows up here, and in every figure of this run. */
    double load1 = 0;
    FILE *lf = fopen("/proc/loadavg", "r");
    if (lf) {
        if (fscanf(lf, "%lf", &load1) != 1) load1 = 0;
        fclose(lf);
    }

    /* ---- the report ---- */
    /* A peer's message may hold any bytes; JSON strings must be UTF-8. */
    for (char *c = res->first_error; *c; c++)
        if ((unsigned char)*c >= 0x80 || (unsigned char)*c < 0x20) *c = '?';
    uint64_t ops = res->ok;
    double tput = res->window_s > 0 ? (double)ops / res->window_s : 0;
    double p50 = bench_hist_quantile(&res->hist, 0.50) / 1000.0;
    double p90 = bench_hist_quantile(&res->hist, 0.90) / 1000.0;
    double p99 = bench_hist_quantile(&res->hist, 0.99) / 1000.0;
    double pmax = res->hist.max_us / 1000.0;
    printf("%-10s %-8s workers %3d: %8.1f ops/s  p50 %7.2f  p90 %7.2f  p99 %7.2f  max %8.2f ms"
           "  ok %" PRIu64 "  errors %" PRIu64 "\n",
           bench_mode_name(ctx.mode), strcmp(label, bench_mode_name(ctx.mode)) ? label : "",
           cfg.workers, tput, p50, p90, p99, pmax, ops,
           res->errors);
    if (res->starved_workers)
        printf("  %" PRIu64 " of %d workers completed nothing in the window (oldest operation in "
               "flight: %.0f ms): the server serves fewer connections than there are workers\n",
               res->starved_workers, cfg.workers, res->oldest_inflight_ms);
    if (res->first_error[0])
        printf("  first error (%" PRIu64 " workers saw errors): %s\n", res->error_workers,
               res->first_error);
    json_t *procs = json_array();
    for (size_t i = 0; i < win.nprocs; i++) {
        const bench_proc *p = &win.procs[i];
        double cpu = bench_proc_cpu_s(p);
        double csw = ops ? (double)bench_proc_csw(p) / (double)ops : 0.0;
        printf("  %-12s cpu %6.2f s (%6.3f ms/op, %5.1f context switches/op)  peak RSS %6.1f MB%s"
               " (anon %.1f + files %.1f at the end)  threads %d\n",
               p->name, cpu, ops ? 1000.0 * cpu / (double)ops : 0.0, csw, p->hwm_kb / 1024.0,
               p->hwm_reset ? "" : " (since start)", p->anon_kb / 1024.0, p->file_kb / 1024.0,
               p->threads);
        json_t *pj = json_object();
        json_object_set_new(pj, "name", json_string(p->name));
        json_object_set_new(pj, "pid", json_integer(p->pid ? p->pid : getpid()));
        json_object_set_new(pj, "cpu_s", json_real(cpu));
        json_object_set_new(pj, "cpu_ms_per_op", per_op(1000.0 * cpu, ops));
        json_object_set_new(pj, "csw_per_op", per_op((double)bench_proc_csw(p), ops));
        json_object_set_new(pj, "hwm_kb", json_integer((json_int_t)p->hwm_kb));
        json_object_set_new(pj, "rss_kb", json_integer((json_int_t)p->rss_kb));
        json_object_set_new(pj, "anon_kb", json_integer((json_int_t)p->anon_kb));
        json_object_set_new(pj, "file_kb", json_integer((json_int_t)p->file_kb));
        json_object_set_new(pj, "hwm_reset", json_boolean(p->hwm_reset));
        json_object_set_new(pj, "threads", json_integer(p->threads));
        json_array_append_new(procs, pj);
    }
    json_t *db = win.stats && win.db_ok ? db_json(&win, ops) : json_null();
    if (json_is_object(db)) {
        printf("  db per op: Com_commit %.2f  Handler_commit %.2f  log fsyncs %.2f  statements %.2f\n",
               json_real_value(json_object_get(db, "com_commit_per_op")),
               json_real_value(json_object_get(db, "handler_commit_per_op")),
               json_real_value(json_object_get(db, "log_fsyncs_per_op")),
               json_real_value(json_object_get(db, "questions_per_op")));
        size_t i;
        json_t *u;
        json_array_foreach(json_object_get(db, "users"), i, u) {
            if (json_integer_value(json_object_get(u, "commits")) == 0) continue;
            printf("    user %-10s commits/op %.2f  selects/op %.2f  updates/op %.2f"
                   "  busy %.3f ms/op\n",
                   json_string_value(json_object_get(u, "user")),
                   json_real_value(json_object_get(u, "commits_per_op")),
                   json_real_value(json_object_get(u, "selects_per_op")),
                   json_real_value(json_object_get(u, "updates_per_op")),
                   json_real_value(json_object_get(u, "busy_ms_per_op")));
        }
    }
    if (json_path) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:f, s:f, s:I, s:I, s:f, s:f, s:f, s:f, s:f,"
                              " s:I, s:I, s:s, s:o, s:o, s:i, s:I, s:I, s:f, s:f}",
                              "mode", bench_mode_name(ctx.mode), "letter",
                              bench_mode_letter(ctx.mode), "label", label, "workers", cfg.workers,
                              "warmup_s", cfg.warmup_s, "window_s", res->window_s, "ok",
                              (json_int_t)ops, "errors", (json_int_t)res->errors, "tput", tput,
                              "p50_ms", p50, "p90_ms", p90, "p99_ms", p99, "max_ms", pmax,
                              "total_ok", (json_int_t)res->total_ok, "total_errors",
                              (json_int_t)res->total_errors, "first_error", res->first_error,
                              "procs", procs, "db", db, "keepalive", ctx.keepalive, "goods_id",
                              (json_int_t)ctx.goods_id, "starved_workers",
                              (json_int_t)res->starved_workers, "oldest_inflight_ms",
                              res->oldest_inflight_ms, "loadavg1", load1);
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        FILE *f = text ? fopen(json_path, "a") : NULL;
        if (f) {
            fprintf(f, "%s\n", text);
            fclose(f);
        } else {
            fprintf(stderr, "cdtm-bench: cannot append to %s\n", json_path);
        }
        free(text);
        json_decref(j);
    } else {
        json_decref(procs);
        json_decref(db);
    }
    free(res);
    if (ctx.db) db_pool_free(ctx.db);
    if (win.stats) db_pool_free(win.stats);
    /* rpccli_free() wants no call in flight: the workers are joined. */
    rpccli_free(ctx.rpc);
    return 0;
}

/* ---- the other commands ------------------------------------------------------------ */

static int cmd_serve_noop(int argc, char **argv) {
    int port = 0, threads = 16, o;
    optind = 2;
    while ((o = getopt(argc, argv, "g:t:")) != -1) {
        if (o == 'g') port = atoi(optarg);
        else if (o == 't') threads = atoi(optarg);
        else {
            usage();
            return 2;
        }
    }
    if (port <= 0 || port > 65535 || threads < 1) {
        usage();
        return 2;
    }
    return bench_serve_noop(port, threads);
}

static int cmd_check(int argc, char **argv) {
    const char *mysql = NULL, *json_path = NULL;
    int64_t goods = 0, initial = -1, client_ok = 0;
    int wait_s = 60;
    static const struct option opts[] = {
        {"mysql", 1, 0, 'm'}, {"goods", 1, 0, 'g'}, {"initial", 1, 0, 'i'},
        {"client-ok", 1, 0, 'k'}, {"wait", 1, 0, 'w'}, {"json", 1, 0, 'j'}, {0, 0, 0, 0}};
    optind = 2;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'm': mysql = optarg; break;
        case 'g': goods = strtoll(optarg, NULL, 10); break;
        case 'i': initial = strtoll(optarg, NULL, 10); break;
        case 'k': client_ok = strtoll(optarg, NULL, 10); break;
        case 'w': wait_s = atoi(optarg); break;
        case 'j': json_path = optarg; break;
        default: usage(); return 2;
        }
    }
    if (!mysql || goods <= 0 || initial < 0) {
        usage();
        return 2;
    }
    char err[512];
    db_pool *p = root_pool(mysql, 1, err, sizeof err);
    if (!p) {
        fprintf(stderr, "cdtm-bench: %s\n", err);
        return 2;
    }
    int rc = bench_check_orders(p, goods, initial, client_ok, wait_s, json_path);
    db_pool_free(p);
    return rc < 0 ? 2 : rc;
}

#define HANDOFF_ROUNDS_DEFAULT 50000
#define HANDOFF_ROUNDS_MAX 10000000

static int cmd_handoff(int argc, char **argv) {
    long rounds = HANDOFF_ROUNDS_DEFAULT;
    const char *json_path = NULL;
    static const struct option opts[] = {{"json", 1, 0, 'j'}, {0, 0, 0, 0}};
    optind = 2;
    int o;
    while ((o = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
        char *end = NULL;
        switch (o) {
        case 'n':
            rounds = strtol(optarg, &end, 10);
            if (*end || rounds < 1 || rounds > HANDOFF_ROUNDS_MAX) {
                fprintf(stderr, "cdtm-bench handoff: -n wants 1..%d round trips\n",
                        HANDOFF_ROUNDS_MAX);
                return 2;
            }
            break;
        case 'j': json_path = optarg; break;
        default: usage(); return 2;
        }
    }
    if (optind < argc) {
        usage();
        return 2;
    }
    return bench_handoff(rounds, json_path);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage();
        return 2;
    }
    if (strcmp(argv[1], "run") == 0) return cmd_run(argc - 1, argv + 1);
    if (strcmp(argv[1], "serve-noop") == 0) return cmd_serve_noop(argc, argv);
    if (strcmp(argv[1], "check") == 0) return cmd_check(argc, argv);
    if (strcmp(argv[1], "handoff") == 0) return cmd_handoff(argc, argv);
    usage();
    return 2;
}
