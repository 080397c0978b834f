/* handoff.c: `cdtm-bench handoff`, what one hand-off between two processes
 * costs on this machine (docs/benchmarks.md, "What a hop costs").
 *
 * Every step of a saga is one process waking another over loopback TCP and
 * going to sleep until it is answered: order-api wakes the coordinator, the
 * coordinator wakes MariaDB, a service, MariaDB again, and so on. So the
 * CPU cost of a saga is, to a first approximation, its number of such hops
 * times the cost of one, and that cost is a property of the machine, not of
 * cdtm. This command measures it with nothing else in the way: two processes
 * pass one byte back and forth over a loopback TCP connection (TCP_NODELAY),
 * in three placements:
 *
 *   one CPU     both pinned to the same CPU: each hop is a task switch;
 *   two CPUs    pinned to different CPUs: each hop wakes the other CPU, which
 *               had gone idle (in a virtual machine the idle CPU halts and
 *               must be woken by the host, which is what makes this dear);
 *   free        wherever the scheduler puts them, as the suite runs.
 *
 * It reports, per round trip (two hops), the CPU time of both processes
 * together (utime + stime) and the wall time. */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static double tv_s(struct timeval t) { return (double)t.tv_sec + (double)t.tv_usec * 1e-6; }

/* Confines the calling process to `cpu`, or with a negative cpu to `all` (the
 * CPUs it was started with), and returns how many CPUs it may now run on, or
 * -1. A process forked afterwards inherits the setting. */
static int place_on(int cpu, const cpu_set_t *all) {
    cpu_set_t set;
    if (cpu < 0) {
        set = *all;
    } else {
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
    }
    if (sched_setaffinity(0, sizeof set, &set) != 0 || sched_getaffinity(0, sizeof set, &set) != 0)
        return -1;
    return CPU_COUNT(&set);
}

/* A connected pair of loopback TCP sockets: a[0] the client's end, a[1] the
 * server's. Returns 0, or -1 with `err` filled. */
static int tcp_pair(int a[2], char *err, size_t errlen) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    int one = 1, ls = socket(AF_INET, SOCK_STREAM, 0);
    a[0] = a[1] = -1;
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &len) != 0 || listen(ls, 1) != 0 ||
        (a[0] = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
        connect(a[0], (struct sockaddr *)&sa, sizeof sa) != 0 ||
        (a[1] = accept(ls, NULL, NULL)) < 0) {
        snprintf(err, errlen, "loopback socket pair: %s", strerror(errno));
        if (ls >= 0) close(ls);
        if (a[0] >= 0) close(a[0]);
        return -1;
    }
    close(ls);
    setsockopt(a[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(a[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return 0;
}

/* Exactly one byte each way; 0, or -1 when the peer went away. */
static int send_byte(int fd, unsigned char c) {
    ssize_t n;
    do n = write(fd, &c, 1); while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : -1;
}

static int recv_byte(int fd, unsigned char *c) {
    ssize_t n;
    do n = read(fd, c, 1); while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : -1;
}

typedef struct {
    const char *name, *key;    /* as printed; as a JSON key */
    int cpu_parent, cpu_child; /* -1: not pinned */
    double cpu_us, wall_us;    /* per round trip */
} placement;

/* Runs `rounds` round trips with the two processes placed as p says; `all`
 * is the set of CPUs "free" means. Before the first round the child sends how
 * many CPUs it may run on, and both sides are checked against the placement,
 * so a figure is never reported for a placement that did not hold. The
 * parent is left placed as p->cpu_parent. Returns 0, or -1 with `err` filled. */
static int measure(placement *p, const cpu_set_t *all, long rounds, char *err, size_t errlen) {
    int want_parent = p->cpu_parent < 0 ? CPU_COUNT(all) : 1;
    int want_child = p->cpu_child < 0 ? CPU_COUNT(all) : 1;
    if (want_child > 255) want_child = 255; /* the child says its count in one byte */
    int parent_cpus = place_on(p->cpu_parent, all);
    if (parent_cpus != want_parent) {
        snprintf(err, errlen, "%s: this process may run on %d CPUs, not %d", p->name, parent_cpus,
                 want_parent);
        return -1;
    }
    int a[2];
    if (tcp_pair(a, err, errlen) != 0) return -1;
    struct rusage kids0, kids1, self0, self1;
    getrusage(RUSAGE_CHILDREN, &kids0); /* the children reaped before this one */
    pid_t child = fork();
    if (child < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(a[0]);
        close(a[1]);
        return -1;
    }
    if (child == 0) { /* the echoing side */
        close(a[0]);
        int n = place_on(p->cpu_child, all);
        unsigned char c;
        if (n < 0 || send_byte(a[1], (unsigned char)(n > 255 ? 255 : n)) != 0) _exit(2);
        for (long i = 0; i < rounds; i++)
            if (recv_byte(a[1], &c) != 0 || send_byte(a[1], c) != 0) _exit(3);
        _exit(0);
    }
    close(a[1]);
    unsigned char child_cpus = 0, c = 'x';
    int rc = recv_byte(a[0], &child_cpus);
    getrusage(RUSAGE_SELF, &self0);
    double t0 = bench_now_s();
    for (long i = 0; rc == 0 && child_cpus == want_child && i < rounds; i++)
        if (send_byte(a[0], c) != 0 || recv_byte(a[0], &c) != 0) rc = -1;
    double t1 = bench_now_s();
    getrusage(RUSAGE_SELF, &self1);
    close(a[0]); /* a child still waiting for a round reads EOF and exits */
    int status = 0;
    waitpid(child, &status, 0);
    getrusage(RUSAGE_CHILDREN, &kids1);
    if (rc == 0 && child_cpus != want_child) {
        snprintf(err, errlen, "%s: the echoing process may run on %d CPUs, not %d", p->name,
                 child_cpus, want_child);
        return -1;
    }
    if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(err, errlen, "%s: the ping-pong failed (child status %d)", p->name, status);
        return -1;
    }
    double kid_cpu = tv_s(kids1.ru_utime) + tv_s(kids1.ru_stime) -
                     (tv_s(kids0.ru_utime) + tv_s(kids0.ru_stime));
    double own_cpu = tv_s(self1.ru_utime) + tv_s(self1.ru_stime) -
                     (tv_s(self0.ru_utime) + tv_s(self0.ru_stime));
    p->cpu_us = (own_cpu + kid_cpu) / (double)rounds * 1e6;
    p->wall_us = (t1 - t0) / (double)rounds * 1e6;
    return 0;
}

int bench_handoff(long rounds, const char *json_path) {
    cpu_set_t all; /* the CPUs this process was started with: what "free" means */
    if (sched_getaffinity(0, sizeof all, &all) != 0) {
        fprintf(stderr, "cdtm-bench handoff: sched_getaffinity: %s\n", strerror(errno));
        return 1;
    }
    int first = -1, second = -1; /* the two lowest CPUs of `all` */
    for (int cpu = 0; cpu < CPU_SETSIZE && second < 0; cpu++)
        if (CPU_ISSET(cpu, &all)) *(first < 0 ? &first : &second) = cpu;
    placement ps[] = {{"one CPU", "one_cpu", first, first, 0, 0},
                      {"two CPUs", "two_cpus", first, second, 0, 0},
                      {"free", "free", -1, -1, 0, 0}};
    size_t np = second < 0 ? 1 : sizeof ps / sizeof ps[0]; /* past "one CPU" needs two */
    json_t *j = json_object();
    char err[256];
    int rc = 0;
    for (size_t i = 0; i < np; i++) {
        if (measure(&ps[i], &all, rounds, err, sizeof err) != 0) {
            fprintf(stderr, "cdtm-bench handoff: %s\n", err);
            rc = 1;
            break;
        }
        printf("handoff %-9s %7.2f us CPU, %7.2f us wall per round trip (%ld round trips)\n",
               ps[i].name, ps[i].cpu_us, ps[i].wall_us, rounds);
        json_object_set_new(j, ps[i].key, json_pack("{s:f, s:f}", "cpu_us", ps[i].cpu_us,
                                                    "wall_us", ps[i].wall_us));
    }
    sched_setaffinity(0, sizeof all, &all); /* as it was started */
    json_object_set_new(j, "rounds", json_integer(rounds));
    char at[32];
    time_t now = time(NULL);
    strftime(at, sizeof at, "%Y-%m-%dT%H:%MZ", gmtime(&now));
    json_object_set_new(j, "at", json_string(at));
    if (rc == 0 && json_path && json_dump_file(j, json_path, JSON_COMPACT) != 0) {
        fprintf(stderr, "cdtm-bench handoff: cannot write %s\n", json_path);
        rc = 1;
    }
    json_decref(j);
    return rc;
}
