/* load.c: the load driver of scripts/chaos.sh and scripts/leakcheck.sh. It
 * places a bounded number of orders through order-api (POST
 * /order/quickCreate; with -w, that percentage of them with ?wait=true) from
 * a few threads, at a steady rate, and writes one line per order to stdout:
 *
 *   seq <TAB> http <TAB> gid <TAB> status <TAB> goods <TAB> num <TAB> ms <TAB> wait <TAB> sent
 *
 * ms is how long the reply took; sent is when the order was sent, in ms
 * since the Unix epoch (to line refusals up with the faults of the run).
 *
 * http is the reply's status code, 0 when the connection was refused or
 * reset, -1 when no reply came in time; gid and status are "-" when the reply
 * has none. An order without wait counts as ACCEPTED only with http 200 and
 * a gid: the coordinator then has stored its saga, and the saga must end
 * succeed or failed whatever faults follow. (With ?wait=true, 409 and 202
 * also carry a stored saga's gid; chaos.sh places no such orders.) A 503 may carry a gid too (the coordinator
 * answered too late, or went down after NewGid): such a saga may or may not
 * exist, so it is recorded but not counted.
 *
 * It depends on libc only, on purpose: the driver shares no code (HTTP
 * client, JSON) with the programs it tests. scripts/chaos.sh compiles it:
 *
 *   load -p PORT -n ORDERS -c CONCURRENCY -r RATE -t MAX_SECS -g GOODS[,GOODS..]
 *        [-u UNKNOWN_GOODS] [-s SEED] [-w WAIT_PERCENT]
 *
 * Order i starts no earlier than i/RATE seconds after the start, so a run
 * lasts about ORDERS/RATE seconds; no order starts after MAX_SECS. Each order
 * asks for 1..3 units of a goods picked at random (with -u, about 1 in 25
 * orders asks for a goods that does not exist, which stock-srv refuses).
 * A summary goes to stderr. Exit status 0, or 2 for a bad command line. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LOAD_MAX_GOODS 32
#define LOAD_MAX_THREADS 256
#define LOAD_REPLY_MAX 4096
#define LOAD_REQUEST_MS 15000 /* one order: connect, send, read the reply */

static struct {
    int port, orders, threads;
    double rate;
    int max_secs;
    long long goods[LOAD_MAX_GOODS];
    int ngoods;
    long long unknown_goods; /* 0: none */
    unsigned seed;
    int wait_percent;        /* orders placed with ?wait=true */
} load_cfg;

static atomic_int load_next;          /* the next order to place */
static long long load_start_ms;
static pthread_mutex_t load_out_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int placed, accepted, refused, timeouts, other;
} load_stats;

static long long load_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void load_sleep_ms(long long ms) {
    if (ms <= 0) return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- one HTTP exchange -------------------------------------------------------- */

/* Sends `body` to POST /order/quickCreate and reads the reply into
 * reply[len] (NUL-terminated). Returns the status code, 0 when the
 * connection failed or was closed without a status line, -1 on timeout. */
static int load_post(const char *body, int wait, char *reply, size_t len) {
    reply[0] = '\0';
    long long deadline = load_now_ms() + LOAD_REQUEST_MS;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)load_cfg.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return 0;
    }
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "POST /order/quickCreate%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s", wait ? "?wait=true" : "", strlen(body), body);
    for (int off = 0; off < n;) {
        ssize_t w = send(fd, req + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w <= 0) {
            close(fd);
            return 0;
        }
        off += (int)w;
    }
    /* Connection: close, so the reply ends at EOF. */
    size_t got = 0;
    int timed_out = 0;
    for (;;) {
        long long left = deadline - load_now_ms();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd p = {fd, POLLIN, 0};
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) {
            timed_out = pr == 0;
            break;
        }
        if (got + 1 >= len) break; /* enough to judge it */
        ssize_t r = recv(fd, reply + got, len - 1 - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
    }
    reply[got] = '\0';
    close(fd);
    int status;
    if (sscanf(reply, "HTTP/1.%*d %d", &status) == 1) return status;
    return timed_out ? -1 : 0;
}

/* Copies the string value of "key" in the JSON body of `reply` to out, or
 * "-" when absent. The values we read (gid, status) hold no escapes. */
static void load_json_str(const char *reply, const char *key, char *out, size_t len) {
    snprintf(out, len, "-");
    const char *body = strstr(reply, "\r\n\r\n");
    if (!body) return;
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(body, pat);
    if (!p) return;
    p += strlen(pat);
    size_t i = 0;
    while (p[i] && p[i] != '"' && i + 1 < len) {
        out[i] = p[i];
        i++;
    }
    out[i] = '\0';
    if (i == 0) snprintf(out, len, "-");
}

/* ---- the workers ----------------------------------------------------------------- */

static void *load_worker(void *ud) {
    (void)ud;
    char reply[LOAD_REPLY_MAX];
    for (;;) {
        int i = atomic_fetch_add(&load_next, 1);
        if (i >= load_cfg.orders) break;
        long long due = load_start_ms + (long long)(i * 1000.0 / load_cfg.rate);
        if (due - load_start_ms >= (long long)load_cfg.max_secs * 1000) break;
        load_sleep_ms(due - load_now_ms());
        if (load_now_ms() - load_start_ms >= (long long)load_cfg.max_secs * 1000) break;

        /* The order's content depends on the seed and i only, so a run can
         * be replayed with the same -s. */
        unsigned r = load_cfg.seed ^ (unsigned)(i * 2654435761u);
        long long goods = load_cfg.goods[rand_r(&r) % load_cfg.ngoods];
        if (load_cfg.unknown_goods && rand_r(&r) % 25 == 0) goods = load_cfg.unknown_goods;
        int num = 1 + rand_r(&r) % 3;
        int wait = (int)(rand_r(&r) % 100) < load_cfg.wait_percent;
        char body[160];
        snprintf(body, sizeof body, "{\"userId\":%d,\"goodsId\":%lld,\"num\":%d}", 100000 + i,
                 goods, num);

        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall);
        long long sent = (long long)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
        long long t0 = load_now_ms();
        int status = load_post(body, wait, reply, sizeof reply);
        long long ms = load_now_ms() - t0;
        char gid[160], st[32];
        load_json_str(reply, "gid", gid, sizeof gid);
        load_json_str(reply, "status", st, sizeof st);

        pthread_mutex_lock(&load_out_mu);
        printf("%d\t%d\t%s\t%s\t%lld\t%d\t%lld\t%d\t%lld\n", i, status, gid, st, goods, num, ms,
               wait, sent);
        fflush(stdout);
        load_stats.placed++;
        int stored = status == 200 || (wait && (status == 202 || status == 409));
        if (stored && strcmp(gid, "-") != 0) load_stats.accepted++;
        else if (status == 0) load_stats.refused++;
        else if (status == -1) load_stats.timeouts++;
        else load_stats.other++;
        pthread_mutex_unlock(&load_out_mu);
    }
    return NULL;
}

/* ---- command line ------------------------------------------------------------------- */

static int load_usage(void) {
    fprintf(stderr, "usage: load -p PORT -n ORDERS -c CONCURRENCY -r RATE -t MAX_SECS "
                    "-g GOODS[,GOODS..] [-u UNKNOWN_GOODS] [-s SEED] [-w WAIT_PERCENT]\n");
    return 2;
}

static int load_parse_goods(const char *s) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (load_cfg.ngoods == LOAD_MAX_GOODS) return -1;
        char *end;
        long long v = strtoll(t, &end, 10);
        if (*end || v <= 0) return -1;
        load_cfg.goods[load_cfg.ngoods++] = v;
    }
    return load_cfg.ngoods > 0 ? 0 : -1;
}

int main(int argc, char **argv) {
    load_cfg.seed = 1;
    int opt;
    while ((opt = getopt(argc, argv, "p:n:c:r:t:g:u:s:w:")) != -1) {
        switch (opt) {
        case 'p': load_cfg.port = atoi(optarg); break;
        case 'n': load_cfg.orders = atoi(optarg); break;
        case 'c': load_cfg.threads = atoi(optarg); break;
        case 'r': load_cfg.rate = atof(optarg); break;
        case 't': load_cfg.max_secs = atoi(optarg); break;
        case 'g':
            if (load_parse_goods(optarg) != 0) return load_usage();
            break;
        case 'u': load_cfg.unknown_goods = atoll(optarg); break;
        case 's': load_cfg.seed = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'w': load_cfg.wait_percent = atoi(optarg); break;
        default: return load_usage();
        }
    }
    if (load_cfg.port <= 0 || load_cfg.port > 65535 || load_cfg.orders <= 0 ||
        load_cfg.threads <= 0 || load_cfg.threads > LOAD_MAX_THREADS || load_cfg.rate <= 0 ||
        load_cfg.max_secs <= 0 || load_cfg.ngoods == 0 || load_cfg.wait_percent < 0 ||
        load_cfg.wait_percent > 100)
        return load_usage();

    load_start_ms = load_now_ms();
    pthread_t th[LOAD_MAX_THREADS];
    int started = 0;
    for (int i = 0; i < load_cfg.threads; i++)
        if (pthread_create(&th[started], NULL, load_worker, NULL) == 0) started++;
    if (started == 0) {
        fprintf(stderr, "load: cannot start a thread\n");
        return 1;
    }
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    fprintf(stderr, "load: %d orders placed in %.1f s: %d accepted, %d refused (no connection), "
                    "%d without reply, %d other replies\n",
            load_stats.placed, (load_now_ms() - load_start_ms) / 1000.0, load_stats.accepted,
            load_stats.refused, load_stats.timeouts, load_stats.other);
    return 0;
}
