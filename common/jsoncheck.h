/* jsoncheck: cheap checks on JSON text before it reaches the parser. */
#ifndef CDTM_JSONCHECK_H
#define CDTM_JSONCHECK_H

#include <stddef.h>

/* Deepest nesting of arrays and objects accepted from a client. */
#define JSON_MAX_DEPTH 32

/* 1 when `s` (len bytes) nests arrays and objects at most `max` levels deep,
 * brackets inside strings not counted. jansson recurses once per level and a
 * civetweb worker has a 100 KiB stack, so client input is checked first. */
int json_depth_ok(const char *s, size_t len, int max);

#endif
