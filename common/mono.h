/* mono: the monotonic clock, for deadlines and timed waits. A jump of the
 * wall clock (NTP, an operator) never stretches or cuts a wait measured on
 * it. */
#ifndef CDTM_MONO_H
#define CDTM_MONO_H

#include <pthread.h>
#include <time.h>

/* Milliseconds on the monotonic clock (from an arbitrary origin). */
long long mono_now_ms(void);

/* The monotonic time `at_ms` (a mono_now_ms() value) as the absolute
 * timespec that pthread_cond_timedwait() takes, for a condition variable
 * made by mono_cond_init(). */
struct timespec mono_at(long long at_ms);

/* mono_at(mono_now_ms() + ms). */
struct timespec mono_after(long long ms);

/* Initialises cv so that its timed waits run on the monotonic clock. */
void mono_cond_init(pthread_cond_t *cv);

#endif
