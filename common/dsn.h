/* dsn.h: go-sql-driver/mysql data source names, as go-zero configs write
 * them:  user:password@tcp(host:port)/dbname?param=value&...
 *
 * Accepted forms: the password part is optional ("user@tcp(...)"), the
 * address may be "tcp(host)" (port 3306) or "unix(/path/to.sock)", the
 * database may be empty, and parameters are optional. The parameters that
 * matter to a C client are read (timeout, readTimeout, writeTimeout in
 * go durations like "3s" or "500ms"); the others (charset, parseTime, loc, ...)
 * are accepted and ignored: cdtm always uses utf8mb4 and UTC. */
#ifndef CDTM_DSN_H
#define CDTM_DSN_H

#include <stddef.h>

typedef struct {
    char user[128];
    char password[128];
    char host[256];      /* empty when socket is set */
    unsigned port;       /* 3306 when not given */
    char socket[256];    /* unix(...) address, else empty */
    char dbname[128];
    unsigned connect_timeout_s; /* from ?timeout=, 0 = library default */
    unsigned read_timeout_s;    /* from ?readTimeout= */
    unsigned write_timeout_s;   /* from ?writeTimeout= */
} dsn;

/* Parses `text` into *out. Returns 0, or -1 with `err` naming the part that
 * is wrong, e.g. "DSN: missing '@' between credentials and address",
 * "DSN: address must be tcp(host:port) or unix(path), got 'udp(x)'",
 * "DSN: port '99999' is out of range", "DSN: parameter 'timeout': bad duration 'x'".
 * The password is never copied into `err`. */
int dsn_parse(const char *text, dsn *out, char *err, size_t errlen);

#endif
