/* harness_proc.c: the test harness's check counters, child processes and
 * ports. See harness.h. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int h_failures = 0;

int h_finish(const char *name) {
    if (h_failures == 0) {
        printf("%s: ok\n", name);
        return 0;
    }
    printf("%s: %d check(s) failed\n", name, h_failures);
    return 1;
}

void h_step(const char *name) {
    printf("== %s\n", name);
    fflush(stdout);
}

/* ---- time ---- */

const char *h_dtm_yaml(const char *db, int http_port, int grpc_port, const char *extra) {
    static __thread char yaml[4096];
    snprintf(yaml, sizeof yaml,
             "Store:\n  Driver: mysql\n  Host: 127.0.0.1\n  Port: %d\n  User: root\n"
             "  Password: ''\n  Db: %s\nBindAddress: 127.0.0.1\nHttpPort: %d\nGrpcPort: %d\n"
             "RetryInterval: 1\nTransCronInterval: 1\n%s",
             h_db_port(), db, http_port, grpc_port, extra ? extra : "");
    return yaml;
}

long long h_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void h_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- executables and ports ---- */

const char *h_bin(const char *name) {
    static __thread char path[4096];
    const char *dir = getenv("CDTM_BIN_DIR");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : ".", name);
    return path;
}

int h_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int h_port_open(int port) {
    int fd = h_connect(port);
    if (fd < 0) return 0;
    close(fd);
    return 1;
}

/* The lowest port of the kernel's ephemeral range (32768 if unknown). */
static int ephemeral_low(void) {
    int lo = 32768;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%d", &lo) != 1 || lo <= 12000) lo = 32768;
        fclose(f);
    }
    return lo;
}

int h_free_port(void) {
    /* A random port below the ephemeral range that binds now: an ephemeral
     * port could be taken by an outgoing connection before the server binds. */
    static __thread unsigned seed;
    if (!seed) seed = (unsigned)getpid() ^ (unsigned)h_now_ms();
    int lo = ephemeral_low();
    for (int i = 0; i < 200; i++) {
        int port = 10000 + (int)(rand_r(&seed) % (unsigned)(lo - 10000));
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) return -1;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok) return port;
    }
    return -1;
}

int h_wait_port(int port, int timeout_ms) {
    long long deadline = h_now_ms() + timeout_ms;
    while (h_now_ms() < deadline) {
        if (h_port_open(port)) return 0;
        h_sleep_ms(50);
    }
    return h_port_open(port) ? 0 : -1;
}

/* ---- processes ---- */

pid_t h_spawn(char *const argv[], char *const env[], const char *log_path) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (log_path) {
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
        }
        for (size_t i = 0; env && env[i]; i++) putenv(env[i]);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

int h_stop(pid_t pid, int sig, int timeout_ms) {
    if (pid <= 0) return -1;
    kill(pid, sig);
    long long deadline = h_now_ms() + timeout_ms;
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return status;
        if (r < 0) return -1;
        if (h_now_ms() >= deadline) break;
        h_sleep_ms(20);
    }
    kill(pid, SIGKILL);
    return waitpid(pid, &status, 0) == pid ? status : -1;
}

int h_sh(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    fflush(stdout);
    int st = system(cmd);
    if (st == -1) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

char *h_write_temp(const char *suffix, const char *text) {
    char tmpl[256];
    snprintf(tmpl, sizeof tmpl, "/tmp/cdtm-test-XXXXXX%s", suffix ? suffix : "");
    int fd = mkstemps(tmpl, suffix ? (int)strlen(suffix) : 0);
    if (fd < 0) return NULL;
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len) {
        close(fd);
        return NULL;
    }
    close(fd);
    return strdup(tmpl);
}
