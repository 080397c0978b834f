/* log.c: leveled logging to stderr, one line per event. See log.h.
 *
 * Line format:  2026-11-28T04:10:52.123Z INFO gid=abc message
 * (the "gid=" field is left out when the event is not about a transaction).
 *
 * The whole line is formatted into one buffer first and written under a
 * mutex, so lines from different threads never interleave. Newlines, carriage
 * returns and other control bytes in the message (or gid) are escaped, so a
 * message built from a peer's error text cannot forge a second log line.
 *
 * The level: log_set_level() wins. Otherwise the LOG_LEVEL environment
 * variable is read once, at the first call into this module; when it is unset
 * or not a level name, the level is info. */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_MSG_MAX 4096 /* message bytes kept before escaping (log.h: 4 KiB) */
#define LOG_GID_MAX 128  /* gid bytes kept; DTM gids are far shorter */

static atomic_int log_min_level = LOG_INFO;
static pthread_once_t log_env_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t log_write_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const log_level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

/* ---- level ---- */

static void log_read_env(void) {
    const char *v = getenv("LOG_LEVEL");
    log_level l;
    if (v && log_parse_level(v, &l) == 0) atomic_store(&log_min_level, (int)l);
}

void log_set_level(log_level level) {
    /* Run the lazy environment read first so that it cannot later undo an
     * explicit choice. */
    pthread_once(&log_env_once, log_read_env);
    if (level < LOG_DEBUG) level = LOG_DEBUG;
    if (level > LOG_ERROR) level = LOG_ERROR;
    atomic_store(&log_min_level, (int)level);
}

int log_parse_level(const char *name, log_level *out) {
    if (!name) return -1;
    static const struct { const char *name; log_level level; } table[] = {
        {"debug", LOG_DEBUG}, {"info", LOG_INFO}, {"warn", LOG_WARN},
        {"warning", LOG_WARN}, {"error", LOG_ERROR},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcasecmp(name, table[i].name) == 0) {
            if (out) *out = table[i].level;
            return 0;
        }
    }
    return -1;
}

/* ---- formatting ---- */

/* Appends src[0..n) to dst at *pos with control bytes escaped; dst has room
 * for cap bytes including the terminating NUL. Stops (without cutting an
 * escape in half) when full. */
static void log_append_escaped(char *dst, size_t cap, size_t *pos, const char *src, size_t n) {
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)src[i];
        char esc[4];
        size_t elen = 0;
        if (ch == '\n') {
            esc[0] = '\\'; esc[1] = 'n'; elen = 2;
        } else if (ch == '\r') {
            esc[0] = '\\'; esc[1] = 'r'; elen = 2;
        } else if (ch < 0x20 && ch != '\t') {
            esc[0] = '\\'; esc[1] = 'x'; esc[2] = hex[ch >> 4]; esc[3] = hex[ch & 15]; elen = 4;
        } else {
            esc[0] = (char)ch; elen = 1;
        }
        if (*pos + elen >= cap) break;
        for (size_t k = 0; k < elen; k++) dst[(*pos)++] = esc[k];
    }
    dst[*pos] = '\0';
}

/* Stack room for the usual message and line; longer ones go to the heap. The
 * thread stacks stay small this way: order-api runs 64 HTTP threads, each of
 * which logs, and every stack page one of them touches stays resident. */
#define LOG_MSG_STACK 512
#define LOG_LINE_STACK 1024

void log_msg(log_level level, const char *gid, const char *fmt, ...) {
    pthread_once(&log_env_once, log_read_env);
    if ((int)level < atomic_load(&log_min_level)) return;
    if (level < LOG_DEBUG || level > LOG_ERROR) level = LOG_ERROR;

    char msg_stack[LOG_MSG_STACK];
    char *msg = msg_stack, *msg_heap = NULL;
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int n = vsnprintf(msg, sizeof msg_stack, fmt, ap);
    va_end(ap);
    size_t mlen = n < 0 ? 0 : ((size_t)n > LOG_MSG_MAX ? LOG_MSG_MAX : (size_t)n);
    if (n < 0) msg[0] = '\0';
    if (mlen >= sizeof msg_stack && (msg_heap = malloc(mlen + 1)) != NULL) {
        vsnprintf(msg_heap, mlen + 1, fmt, again);
        msg = msg_heap;
    } else if (mlen >= sizeof msg_stack) {
        mlen = sizeof msg_stack - 1; /* no memory: the truncated message it is */
    }
    va_end(again);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);

    /* Worst case: every gid and message byte becomes a 4-byte escape. */
    size_t glen = gid ? strnlen(gid, LOG_GID_MAX) : 0;
    size_t need = 64 + 8 + glen * 4 + mlen * 4 + 2;
    char line_stack[LOG_LINE_STACK];
    char *line = line_stack, *line_heap = NULL;
    size_t cap = sizeof line_stack;
    if (need > cap && (line_heap = malloc(need)) != NULL) {
        line = line_heap;
        cap = need;
    }
    size_t pos = (size_t)snprintf(line, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                  tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L,
                                  log_level_names[level]);
    if (glen) {
        log_append_escaped(line, cap, &pos, "gid=", 4);
        log_append_escaped(line, cap, &pos, gid, glen);
        log_append_escaped(line, cap, &pos, " ", 1);
    }
    log_append_escaped(line, cap - 1, &pos, msg, mlen);
    line[pos++] = '\n';
    free(msg_heap);

    pthread_mutex_lock(&log_write_mu);
    size_t off = 0;
    while (off < pos) {
        ssize_t w = write(STDERR_FILENO, line + off, pos - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break; /* nowhere to report a failure to log */
        off += (size_t)w;
    }
    pthread_mutex_unlock(&log_write_mu);
    free(line_heap);
}
