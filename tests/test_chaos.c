/* test_chaos.c: the chaos run (scripts/chaos.sh) in a short configuration,
 * as part of CTest: 300 orders at concurrency 8 go through order-api while
 * the coordinator, order-srv and stock-srv are killed with SIGKILL and
 * restarted, MariaDB is restarted cleanly and killed, and each branch
 * service is frozen (SIGSTOP) long enough for the coordinator's calls to
 * time out. Afterwards no accepted saga may be lost, and the order rows, the
 * stock and the barrier rows must agree with how each saga ended
 * (scripts/chaos/check.sh lists the invariants).
 *
 * chaos.sh starts its own MariaDB on a free port (it restarts it, so it
 * cannot use the test run's), its own suite on free ports, and stops them.
 * This test asserts what the user of the script sees: its exit status and
 * its summary. The script's output is copied to stdout, and to
 * $CDTM_BIN_DIR/test_chaos.log. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

#define CHAOS_OUT_MAX (256 * 1024)

/* Reads the integer after `key` in the summary ("  lost: 0"), or -1. */
static long long summary_int(const char *out, const char *key) {
    const char *p = strstr(out, key);
    if (!p) return -1;
    return strtoll(p + strlen(key), NULL, 10);
}

/* The count of one fault kind in the "faults:" line ("dtm-kill 2"), or -1. */
static long long fault_count(const char *out, const char *kind) {
    const char *line = strstr(out, "  faults: ");
    if (!line) return -1;
    const char *end = strchr(line, '\n');
    char pat[64];
    snprintf(pat, sizeof pat, "%s ", kind);
    const char *p = strstr(line, pat);
    if (!p || (end && p > end)) return -1;
    return strtoll(p + strlen(pat), NULL, 10);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const char *root = getenv("CDTM_ROOT");
    const char *bin = getenv("CDTM_BIN_DIR");
    if (!root || !bin) {
        fprintf(stderr, "CDTM_ROOT and CDTM_BIN_DIR must be set (CTest sets them)\n");
        return 1;
    }

    h_step("chaos_short_run_loses_nothing");
    /* About 40 s of load at 8 orders/s, a fault every 1-2 s; every kind at
     * least once. The drain deadline is well inside CTest's 300 s. */
    char cmd[4096], logpath[1200];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && CDTM_BUILD_DIR='%s' CHAOS_ORDERS=300 CHAOS_CONCURRENCY=8 CHAOS_RATE=8 "
             "CHAOS_LOAD_SECS=90 CHAOS_FAULT_GAP=1-2 CHAOS_DOWN=1-2 CHAOS_STALL=4-5 "
             "CHAOS_MIN_EACH=1 CHAOS_DRAIN_SECS=120 ./scripts/chaos.sh 2>&1",
             root, bin);
    snprintf(logpath, sizeof logpath, "%s/test_chaos.log", bin);
    FILE *log = fopen(logpath, "w");
    fflush(stdout);
    FILE *f = popen(cmd, "r");
    CHECK(f != NULL);
    if (!f) return h_finish("test_chaos");
    char *out = calloc(1, CHAOS_OUT_MAX);
    size_t len = 0;
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        fputs(line, stdout);
        fflush(stdout);
        if (log) fputs(line, log);
        size_t n = strlen(line);
        if (out && len + n + 1 < CHAOS_OUT_MAX) {
            memcpy(out + len, line, n + 1);
            len += n;
        }
    }
    if (log) fclose(log);
    int st = pclose(f);
    int rc = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (!out) return h_finish("test_chaos");

    h_step("chaos_summary_says_pass");
    CHECK_EQ_INT(rc, 0);
    CHECK(strstr(out, "chaos: PASS") != NULL);
    CHECK_EQ_INT(summary_int(out, "  lost: "), 0);
    CHECK_EQ_INT(summary_int(out, "  violations: "), 0);

    h_step("chaos_exercised_both_outcomes_and_every_fault");
    long long accepted = -1;
    const char *o = strstr(out, "  orders: ");
    if (o) {
        const char *p = strstr(o, " placed, ");
        if (p) accepted = strtoll(p + strlen(" placed, "), NULL, 10);
    }
    CHECK(accepted > 100); /* most orders get through the faults */
    CHECK(summary_int(out, "  succeeded: ") > 0);
    CHECK(summary_int(out, "  failed: ") > 0);
    const char *kinds[] = {"dtm-kill", "order-kill", "stock-kill", "db-restart",
                           "db-crash", "stall-order", "stall-stock"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        long long n = fault_count(out, kinds[i]);
        if (n < 1) fprintf(stderr, "  fault kind %s: %lld injected\n", kinds[i], n);
        CHECK(n >= 1);
    }
    free(out);
    return h_finish("test_chaos");
}
