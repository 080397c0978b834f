/* base64: standard base64 with padding (RFC 4648 §4), as etcd's JSON
 * gateway and Go's encoding/json ([]byte) write it. */
#ifndef CDTM_BASE64_H
#define CDTM_BASE64_H

#include <stddef.h>

/* Encodes n bytes of p; NUL-terminated, the caller frees. NULL when out of
 * memory. */
char *base64_encode(const void *p, size_t n);

/* Decodes s into a NUL-terminated string; NULL when s is not base64, decodes
 * to bytes holding a NUL, or memory ran out. The caller frees. */
char *base64_decode_text(const char *s);

#endif
