/* log.h: leveled logging, one line per event, safe from many threads.
 *
 * Every line is "<UTC time> <LEVEL> [gid=<gid>] <message>" on stderr. Lines
 * about a transaction pass its gid, so `grep gid=XYZ` shows its whole story.
 * The level comes from log_set_level() (or the LOG_LEVEL / LogLevel config:
 * debug, info, warn, error). */
#ifndef CDTM_LOG_H
#define CDTM_LOG_H

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 } log_level;

/* Sets the minimum level written. */
void log_set_level(log_level level);

/* Parses "debug", "info", "warn" or "error" (case-insensitive). Returns 0 and
 * sets *out, or -1 for anything else. */
int log_parse_level(const char *name, log_level *out);

/* Writes one line at `level`. `gid` may be NULL or "" when the event is not
 * about one transaction. The message is truncated at 4 KiB; newlines in it
 * are written as "\n" so that an event stays on one line. */
void log_msg(log_level level, const char *gid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(gid, ...) log_msg(LOG_DEBUG, (gid), __VA_ARGS__)
#define log_info(gid, ...) log_msg(LOG_INFO, (gid), __VA_ARGS__)
#define log_warn(gid, ...) log_msg(LOG_WARN, (gid), __VA_ARGS__)
#define log_error(gid, ...) log_msg(LOG_ERROR, (gid), __VA_ARGS__)

#endif
