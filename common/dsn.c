/* dsn.c: parses go-sql-driver/mysql data source names. See dsn.h.
 *
 *   user[:password]@net(address)/dbname[?key=value&...]
 *
 * Splitting rule. A password may hold any byte, including ':', '@', '(' and
 * '/', so the text is cut from the right, where the structure is fixed:
 * the address ends at the last ")/" whose '(' is preceded by "@<letters>",
 * and the credentials are everything before that '@' (so it is the last '@'
 * before the address). The user name ends at the first ':'; the rest is the
 * password. go-sql-driver cuts at the last '/' instead, which breaks on an
 * unencoded '/' in a parameter (loc=Asia/Shanghai); we accept that form too.
 *
 * Error messages name the part that is wrong and may quote the address, the
 * port, the database name or a parameter, but never the credentials: a DSN
 * is often logged by whoever reads the error. */
#include "dsn.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "errbuf.h"

#define DSN_TEXT_MAX 4096   /* longer text is surely not a DSN */
#define DSN_QUOTE_MAX 64    /* bytes of a part quoted in an error */

/* Bytes of a span to quote in a message. */
static int dsn_qlen(size_t n) { return (int)(n > DSN_QUOTE_MAX ? DSN_QUOTE_MAX : n); }

/* Copies s[0..n) into dst (capacity cap, NUL included). -1 when too long. */
static int dsn_copy(char *dst, size_t cap, const char *s, size_t n) {
    if (n >= cap) return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

static int dsn_hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into dst (capacity cap, may be NULL to only
 * validate). `plus_space` turns '+' into ' ' as in a query. Returns the
 * decoded length, -1 for a bad %-escape, -2 when dst is too small. */
static long dsn_unescape(const char *s, size_t n, int plus_space, char *dst, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n) return -1;
            int hi = dsn_hexval((unsigned char)s[i + 1]), lo = dsn_hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            c = hi * 16 + lo;
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        if (dst) {
            if (o + 1 >= cap) return -2;
            dst[o] = (char)c;
        }
        o++;
    }
    if (dst && cap) dst[o] = '\0'; /* o < cap: checked before each byte */
    return (long)o;
}

/* ---- durations ---- */

/* Parses a Go duration ("3s", "500ms", "1m30s", "1.5h", "0") into whole
 * seconds, rounding a positive fraction up so that "500ms" does not become
 * "no timeout". Returns 0, or -1 when malformed, negative or absurdly long. */
static int dsn_duration(const char *s, size_t n, unsigned *secs) {
    static const struct { const char *name; uint64_t ns; } units[] = {
        {"ns", 1ULL}, {"us", 1000ULL}, {"\xc2\xb5s", 1000ULL}, {"\xce\xbcs", 1000ULL},
        {"ms", 1000000ULL}, {"s", 1000000000ULL}, {"m", 60000000000ULL},
        {"h", 3600000000000ULL},
    };
    const uint64_t limit = 100ULL * 365 * 24 * 3600 * 1000000000ULL; /* 100 years */
    size_t i = 0;
    if (n == 0) return -1;
    if (s[0] == '+') i++;
    if (n - i == 1 && s[i] == '0') { *secs = 0; return 0; }
    if (i == n) return -1;
    long double total = 0;
    while (i < n) {
        long double v = 0;
        int digits = 0;
        while (i < n && isdigit((unsigned char)s[i])) {
            v = v * 10 + (s[i] - '0');
            i++; digits++;
            if (v > (long double)limit) return -1;
        }
        if (i < n && s[i] == '.') {
            i++;
            long double scale = 0.1L;
            while (i < n && isdigit((unsigned char)s[i])) {
                v += scale * (s[i] - '0');
                scale /= 10;
                i++; digits++;
            }
        }
        if (digits == 0) return -1;
        /* Longest unit first: "ms" before "m", "ns" before... */
        size_t best = 0, blen = 0;
        for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
            size_t ul = strlen(units[u].name);
            if (ul > blen && ul <= n - i && memcmp(s + i, units[u].name, ul) == 0) {
                best = u;
                blen = ul;
            }
        }
        if (blen == 0) return -1; /* Go requires a unit after every number */
        i += blen;
        total += v * (long double)units[best].ns;
        if (total > (long double)limit) return -1;
    }
    long double sec = total / 1e9L;
    unsigned long long whole = (unsigned long long)sec;
    if ((long double)whole < sec) whole++;
    *secs = (unsigned)whole;
    return 0;
}

/* ---- address ---- */

/* Parses the inside of tcp(...) into host and port. */
static int dsn_parse_tcp(const char *a, size_t n, dsn *out, char *err, size_t errlen) {
    const char *host, *port = NULL;
    size_t hlen, plen = 0;
    if (n == 0) return errbuf_set(err, errlen, "DSN: address tcp() has no host");
    if (a[0] == '[') { /* [IPv6] or [IPv6]:port */
        const char *rb = memchr(a, ']', n);
        if (!rb) return errbuf_set(err, errlen, "DSN: missing ']' in address 'tcp(%.*s)'", dsn_qlen(n), a);
        host = a + 1;
        hlen = (size_t)(rb - host);
        const char *after = rb + 1, *end = a + n;
        if (after < end) {
            if (*after != ':')
                return errbuf_set(err, errlen, "DSN: unexpected text after ']' in address 'tcp(%.*s)'",
                                dsn_qlen(n), a);
            port = after + 1;
            plen = (size_t)(end - port);
        }
    } else {
        const char *colon = memchr(a, ':', n);
        host = a;
        hlen = n;
        if (colon) {
            if (memchr(colon + 1, ':', n - (size_t)(colon + 1 - a)))
                return errbuf_set(err, errlen,
                                "DSN: IPv6 address must be in brackets, as tcp([::1]:3306), got 'tcp(%.*s)'",
                                dsn_qlen(n), a);
            hlen = (size_t)(colon - a);
            port = colon + 1;
            plen = n - hlen - 1;
        }
    }
    if (hlen == 0) return errbuf_set(err, errlen, "DSN: address 'tcp(%.*s)' has no host", dsn_qlen(n), a);
    if (dsn_copy(out->host, sizeof out->host, host, hlen) < 0)
        return errbuf_set(err, errlen, "DSN: host is longer than %zu bytes", sizeof out->host - 1);
    if (port) {
        if (plen == 0) return errbuf_set(err, errlen, "DSN: port is empty in 'tcp(%.*s)'", dsn_qlen(n), a);
        unsigned long v = 0;
        for (size_t i = 0; i < plen; i++) {
            if (!isdigit((unsigned char)port[i]))
                return errbuf_set(err, errlen, "DSN: port '%.*s' is not a number", dsn_qlen(plen), port);
            if (v <= 65535) v = v * 10 + (unsigned long)(port[i] - '0');
        }
        if (v == 0 || v > 65535)
            return errbuf_set(err, errlen, "DSN: port '%.*s' is out of range", dsn_qlen(plen), port);
        out->port = (unsigned)v;
    }
    return 0;
}

/* Finds the address: sets *at to the '@', *open to '(' and *close to the ')'
 * of the last ")/" that has the shape "@<alnum>+(" before it. Returns 0, or
 * -1 when there is no such place. */
static int dsn_find_address(const char *text, size_t len, const char **at, const char **open,
                            const char **close) {
    for (size_t k = len; k-- > 1;) {
        if (text[k] != '/' || text[k - 1] != ')') continue;
        const char *c = text + k - 1, *o = c;
        while (o > text && *o != '(') o--;
        if (*o != '(') continue;
        const char *net = o;
        while (net > text && isalnum((unsigned char)net[-1])) net--;
        if (net == o || net == text || net[-1] != '@') continue;
        *at = net - 1;
        *open = o;
        *close = c;
        return 0;
    }
    return -1;
}

/* ---- parameters ---- */

static int dsn_parse_params(const char *p, size_t n, dsn *out, char *err, size_t errlen) {
    size_t i = 0;
    while (i < n) {
        const char *seg = p + i;
        const char *amp = memchr(seg, '&', n - i);
        size_t slen = amp ? (size_t)(amp - seg) : n - i;
        i += slen + (amp ? 1 : 0);
        if (slen == 0) continue; /* "?a=1&&b=2" or a trailing '&' */
        const char *eq = memchr(seg, '=', slen);
        if (!eq) return errbuf_set(err, errlen, "DSN: parameter '%.*s' has no '=value'", dsn_qlen(slen), seg);
        size_t klen = (size_t)(eq - seg), vlen = slen - klen - 1;
        const char *val = eq + 1;
        if (klen == 0) return errbuf_set(err, errlen, "DSN: a parameter has an empty name");
        char buf[64];
        long dlen = dsn_unescape(val, vlen, 1, buf, sizeof buf);
        if (dlen == -1)
            return errbuf_set(err, errlen, "DSN: parameter '%.*s': bad %%-escape in '%.*s'", dsn_qlen(klen),
                            seg, dsn_qlen(vlen), val);
        unsigned *target = NULL;
        if (klen == 7 && memcmp(seg, "timeout", 7) == 0) target = &out->connect_timeout_s;
        else if (klen == 11 && memcmp(seg, "readTimeout", 11) == 0) target = &out->read_timeout_s;
        else if (klen == 12 && memcmp(seg, "writeTimeout", 12) == 0) target = &out->write_timeout_s;
        if (!target) continue; /* charset, parseTime, loc, ...: accepted, not used (dsn.h) */
        if (dlen < 0 || dsn_duration(buf, (size_t)dlen, target) < 0)
            return errbuf_set(err, errlen, "DSN: parameter '%.*s': bad duration '%.*s'", dsn_qlen(klen), seg,
                            dsn_qlen(vlen), val);
    }
    return 0;
}

/* ---- the whole DSN ---- */

int dsn_parse(const char *text, dsn *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    out->port = 3306;
    if (err && errlen) err[0] = '\0';
    if (!text || !text[0]) return errbuf_set(err, errlen, "DSN: is empty");
    size_t len = strnlen(text, DSN_TEXT_MAX + 1);
    if (len > DSN_TEXT_MAX) return errbuf_set(err, errlen, "DSN: is longer than %d bytes", DSN_TEXT_MAX);
    if (!memchr(text, '@', len))
        return errbuf_set(err, errlen, "DSN: missing '@' between credentials and address");

    const char *at, *open, *close;
    if (dsn_find_address(text, len, &at, &open, &close) < 0) {
        /* Nothing after the '@' can be quoted safely here: with the structure
         * unknown, a password holding '@' could be mistaken for the address. */
        if (text[len - 1] == ')')
            return errbuf_set(err, errlen, "DSN: missing '/' (and database name) after the address");
        return errbuf_set(err, errlen,
                        "DSN: missing address: expected user:password@tcp(host:port)/dbname "
                        "or user:password@unix(path)/dbname");
    }

    /* Credentials: user up to the first ':', the password is the rest. */
    size_t clen = (size_t)(at - text);
    const char *colon = memchr(text, ':', clen);
    size_t ulen = colon ? (size_t)(colon - text) : clen;
    if (ulen == 0) return errbuf_set(err, errlen, "DSN: user name is empty");
    if (dsn_copy(out->user, sizeof out->user, text, ulen) < 0)
        return errbuf_set(err, errlen, "DSN: user name is longer than %zu bytes", sizeof out->user - 1);
    if (colon && dsn_copy(out->password, sizeof out->password, colon + 1, clen - ulen - 1) < 0) {
        out->user[0] = '\0';
        return errbuf_set(err, errlen, "DSN: password is longer than %zu bytes", sizeof out->password - 1);
    }

    /* Address. */
    const char *net = at + 1, *addr = open + 1;
    size_t nlen = (size_t)(open - net), alen = (size_t)(close - addr);
    int rc = 0;
    if (nlen == 4 && memcmp(net, "unix", 4) == 0) {
        if (alen == 0) rc = errbuf_set(err, errlen, "DSN: address unix() has no socket path");
        else if (dsn_copy(out->socket, sizeof out->socket, addr, alen) < 0)
            rc = errbuf_set(err, errlen, "DSN: socket path is longer than %zu bytes", sizeof out->socket - 1);
    } else if ((nlen == 3 && memcmp(net, "tcp", 3) == 0) ||
               (nlen == 4 && (memcmp(net, "tcp4", 4) == 0 || memcmp(net, "tcp6", 4) == 0))) {
        rc = dsn_parse_tcp(addr, alen, out, err, errlen);
    } else {
        size_t whole = (size_t)(close + 1 - net);
        rc = errbuf_set(err, errlen, "DSN: address must be tcp(host:port) or unix(path), got '%.*s'",
                      dsn_qlen(whole), net);
    }

    /* Database name, percent-decoded like go-sql-driver's PathUnescape. */
    const char *db = close + 2, *end = text + len;
    const char *q = memchr(db, '?', (size_t)(end - db));
    size_t dblen = (size_t)((q ? q : end) - db);
    if (rc == 0) {
        if (memchr(db, '/', dblen))
            rc = errbuf_set(err, errlen, "DSN: database name '%.*s' contains '/'", dsn_qlen(dblen), db);
        else {
            long d = dsn_unescape(db, dblen, 0, out->dbname, sizeof out->dbname);
            if (d == -1)
                rc = errbuf_set(err, errlen, "DSN: database name '%.*s' has a bad %%-escape", dsn_qlen(dblen), db);
            else if (d >= 0 && memchr(out->dbname, '\0', (size_t)d))
                rc = errbuf_set(err, errlen, "DSN: database name '%.*s' decodes to a NUL byte", dsn_qlen(dblen), db);
            else if (d == -2)
                rc = errbuf_set(err, errlen, "DSN: database name is longer than %zu bytes",
                              sizeof out->dbname - 1);
        }
    }
    if (rc == 0 && q) rc = dsn_parse_params(q + 1, (size_t)(end - q - 1), out, err, errlen);

    if (rc != 0) {
        /* Leave no half-parsed credentials behind for a careless caller. */
        memset(out->password, 0, sizeof out->password);
        return -1;
    }
    return 0;
}
