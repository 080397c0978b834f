/* fuzz_dsn.c: libFuzzer target for dsn_parse() (common/dsn.h), which reads
 * the go-sql-driver data source name of every service's DB.DataSource.
 *
 * Oracle: an accepted DSN has a non-empty user, exactly one of host and
 * socket, a port in 1..65535, and every field NUL-terminated within its
 * buffer; a refused one has a message and leaves no password behind (dsn.c
 * promises to wipe it). The same input is also parsed with a tiny and with
 * no error buffer, which must be just as safe. */
#include "dsn.h"
#include "fuzz_util.h"

static void check_fields(const dsn *d) {
    if (!fuzz_terminated(d->user, sizeof d->user) ||
        !fuzz_terminated(d->password, sizeof d->password) ||
        !fuzz_terminated(d->host, sizeof d->host) || !fuzz_terminated(d->socket, sizeof d->socket) ||
        !fuzz_terminated(d->dbname, sizeof d->dbname))
        fuzz_fail("a parsed field is not NUL-terminated within its buffer");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_cstr(data, size);
    if (!text) return 0;
    dsn d;
    char err[256] = "";
    int rc = dsn_parse(text, &d, err, sizeof err);
    check_fields(&d);
    if (rc == 0) {
        if (!d.user[0]) fuzz_fail("accepted a DSN with an empty user");
        if (!d.host[0] == !d.socket[0]) fuzz_fail("accepted a DSN with host '%s' and socket '%s'",
                                                  d.host, d.socket);
        if (d.port < 1 || d.port > 65535) fuzz_fail("accepted port %u", d.port);
    } else {
        if (rc != -1) fuzz_fail("dsn_parse returned %d", rc);
        if (!err[0]) fuzz_fail("a refusal without a message");
        if (d.password[0]) fuzz_fail("a refusal left the password in the struct");
    }
    char tiny[8];
    int rc2 = dsn_parse(text, &d, tiny, sizeof tiny);
    if (rc2 != rc) fuzz_fail("the result depends on the error buffer (%d vs %d)", rc, rc2);
    if (!fuzz_terminated(tiny, sizeof tiny)) fuzz_fail("the error is not NUL-terminated");
    if (dsn_parse(text, &d, NULL, 0) != rc) fuzz_fail("the result differs without an error buffer");
    free(text);
    return 0;
}
