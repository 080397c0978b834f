/* gid.c: see gid.h. */
#include "gid.h"

#include <stdint.h>
#include <sys/random.h>
#include <sys/types.h>

/* shortuuid's alphabet: digits and letters without 0, 1, I, O, l. */
static const char ALPHABET[] = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

void gid_new(char out[GID_LEN + 1]) {
    /* 128 random bits as four 32-bit limbs (most significant first), written
     * in base 57: 57^22 > 2^128, so 22 digits always suffice. */
    uint32_t limb[4] = {0, 0, 0, 0};
    size_t got = 0;
    while (got < sizeof limb) {
        ssize_t r = getrandom((char *)limb + got, sizeof limb - got, 0);
        if (r > 0) got += (size_t)r;
        /* EINTR: try again; getrandom() does not fail otherwise once the
         * kernel pool is initialised. */
    }
    const uint64_t base = sizeof ALPHABET - 1; /* 57 */
    for (int i = 0; i < GID_LEN; i++) {
        uint64_t rem = 0;
        for (int k = 0; k < 4; k++) {
            uint64_t cur = (rem << 32) | limb[k];
            limb[k] = (uint32_t)(cur / base);
            rem = cur % base;
        }
        out[i] = ALPHABET[rem];
    }
    out[GID_LEN] = '\0';
}
