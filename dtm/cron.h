/* cron.h: crash recovery and retries. One thread per coordinator claims due
 * transactions from the store (next_cron_time passed, status prepared,
 * submitted or aborting; store_claim_due) and runs them through the engine,
 * so that after a crash any instance finishes what another left, and a
 * branch that failed is retried when its backoff expires. When nothing is
 * due it sleeps TransCronInterval minus a random part of a second, as DTM. */
#ifndef CDTM_CRON_H
#define CDTM_CRON_H

#include "engine.h"
#include "store.h"

typedef struct cron cron;

/* Starts the loop; `owner` is this instance's claim token (a random id). */
cron *cron_start(store *s, engine *e, int interval_s, char *err, size_t errlen);

/* Wakes and stops the loop, and joins it. */
void cron_stop(cron *c);

/* Runs the claim loop once until nothing is due (tests). Returns the number
 * of transactions processed, or -1 on a store error. */
int cron_run_once(store *s, engine *e, const char *owner);

#endif
