#include "mem.h"

#include <malloc.h>
#include <stdlib.h>

void mem_init(void) {
    const char *env = getenv("MALLOC_ARENA_MAX");
    if (!env || !*env) mallopt(M_ARENA_MAX, 2);
}
