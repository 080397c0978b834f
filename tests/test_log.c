/* test_log.c: what log.h promises about a log line, read back from stderr:
 * one line per event, the format, control bytes escaped, the 4 KiB cut, and
 * the level filter. Messages short enough for log.c's stack buffers and
 * messages that need its heap buffers must come out the same way. */
#include "harness.h"

#include <stdlib.h>
#include <unistd.h>

#include "log.h"

static char out[32768]; /* what the last capture wrote to stderr */
static size_t out_len;
static int saved_fd = -1;
static FILE *sink;

static void capture_begin(void) {
    fflush(stderr);
    sink = tmpfile();
    saved_fd = dup(STDERR_FILENO);
    if (!sink || saved_fd < 0 || dup2(fileno(sink), STDERR_FILENO) < 0) {
        fprintf(stderr, "cannot redirect stderr\n");
        exit(2);
    }
}

static void capture_end(void) {
    dup2(saved_fd, STDERR_FILENO);
    close(saved_fd);
    rewind(sink);
    out_len = fread(out, 1, sizeof out - 1, sink);
    out[out_len] = '\0';
    fclose(sink);
}

#define CAPTURE(stmt) \
    do {              \
        capture_begin(); \
        stmt;         \
        capture_end(); \
    } while (0)

static size_t count(const char *s, char c) {
    size_t n = 0;
    for (; *s; s++) n += *s == c;
    return n;
}

/* The part after "<timestamp> " of a single captured line, without its '\n'. */
static const char *after_time(void) {
    static char rest[sizeof out];
    const char *sp = strchr(out, ' ');
    snprintf(rest, sizeof rest, "%s", sp ? sp + 1 : "");
    size_t n = strlen(rest);
    if (n && rest[n - 1] == '\n') rest[n - 1] = '\0';
    return rest;
}

static void format(void) {
    h_step("line_has_time_level_gid_and_message");
    CAPTURE(log_info("g-1", "saga %s after %d tries", "succeed", 3));
    CHECK_EQ_INT(count(out, '\n'), 1);
    CHECK(out_len > 25 && out[4] == '-' && out[10] == 'T' && out[23] == 'Z' && out[24] == ' ');
    CHECK_EQ_STR(after_time(), "INFO gid=g-1 saga succeed after 3 tries");

    h_step("no_gid_field_without_a_gid");
    CAPTURE(log_warn(NULL, "plain"));
    CHECK_EQ_STR(after_time(), "WARN plain");
    CAPTURE(log_error("", "empty gid"));
    CHECK_EQ_STR(after_time(), "ERROR empty gid");
}

static void escaping(void) {
    h_step("control_bytes_cannot_forge_a_line");
    CAPTURE(log_warn("g\n2", "peer said: bad\nINFO forged\r\x01"));
    CHECK_EQ_INT(count(out, '\n'), 1);
    CHECK_EQ_STR(after_time(), "WARN gid=g\\n2 peer said: bad\\nINFO forged\\r\\x01");

    h_step("a_long_escaped_message_is_kept_whole");
    /* 1000 control bytes escape to 4000: far more than the stack line. */
    char ctl[1001];
    memset(ctl, 0x02, 1000);
    ctl[1000] = '\0';
    CAPTURE(log_info("g", "[%s]", ctl));
    CHECK_EQ_INT(count(out, '\n'), 1);
    const char *m = strchr(after_time(), '[');
    CHECK(m != NULL);
    if (m) {
        CHECK_EQ_INT(strlen(m), 1 + 4000 + 1);
        CHECK(strncmp(m + 1, "\\x02\\x02", 8) == 0);
        CHECK(strcmp(m + strlen(m) - 5, "\\x02]") == 0);
    }
}

static void lengths(void) {
    h_step("a_message_over_the_stack_buffer_is_kept_whole");
    char big[3001];
    for (int i = 0; i < 3000; i++) big[i] = (char)('a' + i % 26);
    big[3000] = '\0';
    CAPTURE(log_info(NULL, "%s|end", big));
    CHECK_EQ_INT(count(out, '\n'), 1);
    const char *m = after_time();
    CHECK_EQ_INT(strlen(m), strlen("INFO ") + 3000 + 4);
    CHECK(strncmp(m + 5, big, 3000) == 0);
    CHECK(strcmp(m + strlen(m) - 4, "|end") == 0);

    h_step("a_message_over_4KiB_is_cut_at_4KiB");
    char huge[6001];
    memset(huge, 'z', 6000);
    huge[6000] = '\0';
    CAPTURE(log_info(NULL, "%s", huge));
    CHECK_EQ_INT(count(out, '\n'), 1);
    CHECK_EQ_INT(strlen(after_time()), strlen("INFO ") + 4096);
}

static void levels(void) {
    h_step("the_level_filters");
    log_set_level(LOG_WARN);
    CAPTURE(log_info("g", "hidden"); log_debug("g", "hidden too"));
    CHECK_EQ_INT(out_len, 0);
    CAPTURE(log_warn("g", "shown"));
    CHECK_EQ_STR(after_time(), "WARN gid=g shown");
    log_set_level(LOG_INFO);
}

int main(void) {
    unsetenv("LOG_LEVEL");
    log_set_level(LOG_INFO);
    format();
    escaping();
    lengths();
    levels();
    return h_finish("test_log");
}
