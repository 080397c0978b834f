/* errbuf: the (char *err, size_t errlen) convention every module uses to
 * say why a call failed. */
#ifndef CDTM_ERRBUF_H
#define CDTM_ERRBUF_H

#include <stddef.h>

/* Formats into err (when err and errlen are set) and returns -1, so that a
 * failing path can `return errbuf_set(err, errlen, "...", ...);`. */
int errbuf_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
