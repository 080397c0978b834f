/* sig.h: orderly shutdown on SIGINT and SIGTERM.
 *
 * main() calls sig_block_term() before it starts any thread, so that every
 * thread inherits the blocked mask and the signals stay pending; after start-up
 * it calls sig_wait_term(), which returns when one arrives, and then stops its
 * servers. SIGPIPE is ignored (a peer that hangs up must not kill us). */
#ifndef CDTM_SIG_H
#define CDTM_SIG_H

/* Blocks SIGINT and SIGTERM in the calling thread and ignores SIGPIPE. */
void sig_block_term(void);

/* Waits for SIGINT or SIGTERM and returns the signal number. */
int sig_wait_term(void);

#endif
