/* harness.h: what cdtm's C tests share.
 *
 * Tests are plain programs: each CHECK that fails prints its place and the
 * test exits non-zero at the end. Servers a test needs are started by it, as
 * child processes, and stopped by PID; every wait polls with a deadline.
 *
 * Environment (set by scripts/test.sh and CMake):
 *   MARIADB_PORT   the private MariaDB started for the test run
 *   CDTM_ROOT      the source tree;  CDTM_BIN_DIR  the build tree */
#ifndef CDTM_HARNESS_H
#define CDTM_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "db.h"

extern int h_failures;

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            h_failures++;                                                       \
        }                                                                       \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                      \
    do {                                                                        \
        long long va_ = (long long)(a), vb_ = (long long)(b);                   \
        if (va_ != vb_) {                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n",   \
                    __FILE__, __LINE__, #a, #b, va_, vb_);                       \
            h_failures++;                                                       \
        }                                                                       \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                      \
    do {                                                                        \
        const char *sa_ = (a), *sb_ = (b);                                      \
        if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n", \
                    __FILE__, __LINE__, #a, #b, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)"); \
            h_failures++;                                                       \
        }                                                                       \
    } while (0)

/* Prints "<name>: ok" or the failure count and returns the exit status. */
int h_finish(const char *name);

/* Prints a test's step name ("== barrier_skips_hanging_action"). */
void h_step(const char *name);

/* The coordinator's conf.yml for a test, as text: the store database `db`
 * on the private MariaDB (as root), HTTP and gRPC on these ports of
 * 127.0.0.1, RetryInterval 1 and TransCronInterval 1 (quick recovery), then
 * `extra`: more YAML lines, each ending in '\n', or "". Valid until this
 * thread calls it again. */
const char *h_dtm_yaml(const char *db, int http_port, int grpc_port, const char *extra);

/* ---- time (harness_proc.c) ---- */

/* Milliseconds on the monotonic clock, for deadlines. */
long long h_now_ms(void);

/* Sleeps ms milliseconds: between polls, never as a wait on its own. */
void h_sleep_ms(int ms);

/* ---- processes (harness_proc.c) ---- */

/* Path of a built executable ("order-srv" -> $CDTM_BIN_DIR/order-srv). */
const char *h_bin(const char *name);

/* A TCP port on 127.0.0.1 that nothing listens on now. */
int h_free_port(void);

/* A TCP connection to 127.0.0.1:port (a socket the caller closes), or -1. */
int h_connect(int port);

/* 1 when 127.0.0.1:port accepts a connection. */
int h_port_open(int port);

/* Polls every 50 ms until 127.0.0.1:port accepts connections or timeout_ms
 * passes. Returns 0 when open. */
int h_wait_port(int port, int timeout_ms);

/* Starts argv[0] with argv and extra environment entries ("K=V", NULL-
 * terminated, may be NULL); stdout/stderr go to `log_path` (may be NULL).
 * Returns the pid, or -1. */
pid_t h_spawn(char *const argv[], char *const env[], const char *log_path);

/* Sends `sig` to pid and waits up to timeout_ms for it to exit (SIGKILL after
 * that). Returns its wait status, or -1. */
int h_stop(pid_t pid, int sig, int timeout_ms);

/* Runs a shell command (via /bin/sh -c) and returns its exit code. */
int h_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes `text` to a fresh temporary file and returns its path, which the
 * caller frees (and unlinks). NULL on error. */
char *h_write_temp(const char *suffix, const char *text);

/* ---- database (harness_db.c) ---- */

/* MARIADB_PORT from the environment (aborts the test when unset). */
int h_db_port(void);

/* A pool on the test MariaDB as root, on database `db` ("" for none). */
db_pool *h_db_pool(const char *db);

/* Drops database `db` if it exists, creates it empty (utf8mb4) and returns
 * a root pool on it. */
db_pool *h_db_fresh(const char *db);

/* Reads one integer with a printf-formatted query (test-made SQL only).
 * Returns `def` when there is no row. */
int64_t h_db_int(db_pool *p, int64_t def, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The server's global status counter `name` ("COM_COMMIT"), or -1. It is
 * read inside a transaction that is rolled back, so the reading adds no
 * COMMIT of its own (db.c commits every statement run outside one). */
int64_t h_db_status(db_pool *p, const char *name);

/* Runs a printf-formatted statement as root (test setup only); aborts on error. */
void h_db_exec(db_pool *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
