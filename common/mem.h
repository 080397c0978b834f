/* mem: process-wide memory settings, applied first thing in main(). */
#ifndef CDTM_MEM_H
#define CDTM_MEM_H

/* Caps glibc's malloc arenas at 2 unless MALLOC_ARENA_MAX is set. glibc
 * gives each busy thread an arena of its own (up to 8 per core), and under
 * 200 clients the arenas were most of a program's memory: peak RSS 29 MB
 * for the coordinator and 32 MB for order-srv, against 24 and 19 MB with two
 * arenas and no throughput lost (docs/benchmarks.md, R6). Call before any
 * thread starts. */
void mem_init(void);

#endif
