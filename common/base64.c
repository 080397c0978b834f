#include "base64.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const void *data, size_t n) {
    const unsigned char *p = data;
    char *out = malloc((n + 2) / 3 * 4 + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

char *base64_decode_text(const char *s) {
    size_t n = strlen(s), o = 0;
    char *out = malloc(n / 4 * 3 + 4);
    unsigned v = 0, bits = 0;
    if (!out || n % 4) goto bad;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=') {
            if (i + 2 < n || (i + 1 < n && s[i + 1] != '=')) goto bad;
            break;
        }
        const char *c = strchr(tab, s[i]);
        if (!c) goto bad;
        v = v << 6 | (unsigned)(c - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o] = (char)(v >> bits & 0xff);
            if (!out[o++]) goto bad;
        }
    }
    out[o] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}
