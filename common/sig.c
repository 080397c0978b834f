/* sig.c: orderly shutdown on SIGINT/SIGTERM. See sig.h.
 *
 * Why block-and-wait instead of a handler: a handler may only touch
 * async-signal-safe functions, while stopping gRPC and HTTP servers is not.
 * With the signals blocked in every thread (the mask is inherited at
 * pthread_create), they stay pending until main() takes them with sigwait()
 * and shuts down in ordinary code. */
#include "sig.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>

static void sig_term_set(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
}

void sig_block_term(void) {
    sigset_t set;
    sig_term_set(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    /* A peer that hangs up mid-write must give EPIPE, not kill the process. */
    struct sigaction sa = {0};
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
}

int sig_wait_term(void) {
    sigset_t set;
    sig_term_set(&set);
    /* Blocking again is harmless and makes sigwait() well-defined even if the
     * caller forgot sig_block_term() in this thread. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    for (;;) {
        int signo = 0;
        int rc = sigwait(&set, &signo);
        if (rc == 0) return signo;
        if (rc != EINTR) return SIGTERM; /* cannot wait: behave as if asked to stop */
    }
}
