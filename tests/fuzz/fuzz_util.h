/* fuzz_util.h: what the libFuzzer targets in tests/fuzz share (header only,
 * so the CMake glob of fuzz_*.c does not turn it into a target).
 *
 *   - fuzz_on_server_stack(): runs a parse on a thread with the stack a
 *     civetweb request handler has in Debian's build. civetweb's workers get
 *     USE_STACK_SIZE = 0x19000 = 100 KiB (read from libcivetweb.so), and its
 *     own frames take about 18 KiB of it before a handler runs (measured:
 *     order-api dies on a body nested ~950 deep, this harness with the whole
 *     100 KiB at ~1150). The HTTP surfaces of the coordinator and of
 *     order-api parse request bodies there, so a recursion that is harmless
 *     on an 8 MiB main stack (jansson nests up to 2048 levels) crashes the
 *     server. Fuzzing on the same budget finds it.
 *   - fuzz_fail(): an oracle violation. It prints why and aborts, which
 *     libFuzzer reports as a crash and saves the input.
 *   - fuzz_cstr(): the input as a NUL-terminated copy, for C-string APIs. */
#ifndef CDTM_FUZZ_UTIL_H
#define CDTM_FUZZ_UTIL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer's entry point, implemented by every fuzz_*.c. replay_main.c
 * calls it too. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SERVER_STACK (0x19000 - 18 * 1024) /* a civetweb handler's share (Debian 12) */

typedef struct {
    void (*fn)(void *);
    void *arg;
} fuzz_thunk;

static inline void *fuzz_thunk_main(void *p) {
    fuzz_thunk *t = p;
    t->fn(t->arg);
    return NULL;
}

/* Runs fn(arg) on a fresh thread with a FUZZ_SERVER_STACK stack and waits
 * for it. Falls back to the calling thread if no thread can be made (the
 * input is still exercised, only the stack bound is lost). */
static inline void fuzz_on_server_stack(void (*fn)(void *), void *arg) {
    fuzz_thunk t = {fn, arg};
    pthread_attr_t a;
    pthread_t th;
    if (pthread_attr_init(&a) == 0) {
        int ok = pthread_attr_setstacksize(&a, FUZZ_SERVER_STACK) == 0 &&
                 pthread_create(&th, &a, fuzz_thunk_main, &t) == 0;
        pthread_attr_destroy(&a);
        if (ok) {
            pthread_join(th, NULL);
            return;
        }
    }
    fn(arg);
}

static inline void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static inline void fuzz_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FUZZ ORACLE FAILED: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

/* A malloc'd NUL-terminated copy of data (NULL when out of memory). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) return NULL;
    if (size) memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* 1 when `s` is NUL-terminated within `cap` bytes. */
static inline int fuzz_terminated(const char *s, size_t cap) { return memchr(s, '\0', cap) != NULL; }

#endif
