/* conf.h: configuration files in the YAML that go-zero and DTM users know,
 * with environment overrides for containers.
 *
 * A file is loaded into a tree; values are read by dotted key path
 * ("DB.DataSource", "Etcd.Hosts", "Store.Port"). Key lookup is exact and
 * case-sensitive, as in go-zero.
 *
 * Environment override: for a key path, each segment is turned from CamelCase
 * into UPPER_SNAKE and the segments are joined with '_', as DTM does:
 * "Store.Host" -> STORE_HOST, "MicroService.EndPoint" -> MICRO_SERVICE_END_POINT,
 * "DB.DataSource" -> DB_DATA_SOURCE, "ListenOn" -> LISTEN_ON. A set, non-empty
 * variable wins over the file. For a list key, the variable holds the items
 * separated by commas.
 *
 * Errors are written into a caller buffer and always name the file and the
 * key (or the line) that is wrong. */
#ifndef CDTM_CONF_H
#define CDTM_CONF_H

#include <stddef.h>
#include <stdint.h>

typedef struct conf conf;

/* Loads `path`. Returns a tree to free with conf_free(), or NULL with `err`
 * filled ("etc/order.yaml: line 3: mapping values are not allowed ...").
 * A file that is not a mapping at the top is an error. */
conf *conf_load(const char *path, char *err, size_t errlen);

/* Parses YAML text held in memory (`name` is used in messages). Same contract
 * as conf_load(). Used by tests and the fuzzer. */
conf *conf_parse(const char *name, const char *text, size_t len, char *err, size_t errlen);

/* An empty tree, so that a program can run on defaults and the environment
 * alone. */
conf *conf_empty(void);

void conf_free(conf *c);

/* Name of the environment variable that overrides `key`, written to `out`
 * ("Store.Host" -> "STORE_HOST"). */
void conf_env_name(const char *key, char *out, size_t outlen);

/* Reads a scalar as a string: the environment override, else the file's
 * value, else `def` (which may be NULL). The pointer stays valid until
 * conf_free(). Returns NULL when absent and def is NULL. A key that names a
 * mapping or a list is reported as absent. */
const char *conf_str(const conf *c, const char *key, const char *def);

/* Reads an integer. Returns 0 and sets *out (to `def` when absent), or -1
 * with `err` filled ("etc/conf.yml: Store.Port: 'abc' is not an integer")
 * when the value is present but not an integer in [min, max]. */
int conf_int(const conf *c, const char *key, int64_t def, int64_t min, int64_t max,
             int64_t *out, char *err, size_t errlen);

/* Reads a boolean (true/false/yes/no/1/0). Same contract as conf_int(). */
int conf_bool(const conf *c, const char *key, int def, int *out, char *err, size_t errlen);

/* Reads a list of scalars ("Etcd.Hosts"); a scalar is read as a list of one.
 * Returns the count (0 when absent) and sets *items to an array owned by the
 * tree (valid until conf_free()). */
size_t conf_list(const conf *c, const char *key, const char *const **items);

/* Fills `err` with "<file>: <key>: is required" and returns -1 when `key` has
 * no value in the file or environment; returns 0 otherwise. */
int conf_require(const conf *c, const char *key, char *err, size_t errlen);

#endif
