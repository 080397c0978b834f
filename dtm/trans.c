/* trans.c: the coordinator's data model (trans.h): building a transaction and
 * its branch rows in DTM's order, the saga's custom_data (concurrency and
 * step orders), and the options column's JSON.
 *
 * Nothing here does I/O: the parser (parse.c) and the store (store.c) build
 * trans_global values with these functions, and the saga engine reads them. */
#include "trans.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"

/* ---- small helpers ------------------------------------------------------ */

/* Copies src into a fixed buffer of `size` bytes, truncating. */
static void copy_fixed(char *dst, size_t size, const char *src) {
    snprintf(dst, size, "%s", src ? src : "");
}

/* The length of s cut to at most max bytes, backed off to a UTF-8 character
 * boundary: a varchar column refuses a string that ends in half a character. */
static size_t utf8_cut(const char *s, size_t len, size_t max) {
    if (len <= max) return len;
    size_t n = max;
    /* Step back over continuation bytes (10xxxxxx) to the start of the cut
     * character, and drop that character. */
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    return n;
}

/* ---- lifetime ----------------------------------------------------------- */

trans_global *trans_new(const char *gid, const char *trans_type) {
    trans_global *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    copy_fixed(t->gid, sizeof t->gid, gid);
    copy_fixed(t->trans_type, sizeof t->trans_type, trans_type);
    t->query_prepared = strdup("");
    t->custom_data = strdup("");
    t->rollback_reason = strdup("");
    t->result = strdup("");
    t->req_extra = strdup("");
    if (!t->query_prepared || !t->custom_data || !t->rollback_reason || !t->result ||
        !t->req_extra) {
        trans_free(t);
        return NULL;
    }
    return t;
}

static void orders_free(trans_global *t) {
    if (t->orders) {
        for (size_t i = 0; i < t->n_steps; i++) free(t->orders[i]);
    }
    free(t->orders);
    free(t->n_orders);
    t->orders = NULL;
    t->n_orders = NULL;
}

static void headers_free(trans_options *o) {
    for (size_t i = 0; i < o->n_headers; i++) {
        free(o->headers[i].key);
        free(o->headers[i].value);
    }
    free(o->headers);
    o->headers = NULL;
    o->n_headers = 0;
}

void trans_free(trans_global *t) {
    if (!t) return;
    free(t->query_prepared);
    free(t->custom_data);
    free(t->rollback_reason);
    free(t->result);
    free(t->req_extra);
    headers_free(&t->opts);
    orders_free(t);
    for (size_t i = 0; i < t->n_branches; i++) {
        free(t->branches[i].url);
        free(t->branches[i].data);
    }
    free(t->branches);
    free(t);
}

/* ---- branches ----------------------------------------------------------- */

int trans_add_branch(trans_global *t, const char *branch_id, const char *op, const char *url,
                     const void *data, size_t data_len) {
    /* One realloc per row keeps the array exactly sized, so code that builds
     * branches by other means cannot break a hidden capacity; sagas are
     * bounded (TRANS_STEPS_MAX) and glibc grows in place most of the time. */
    trans_branch *nb = realloc(t->branches, (t->n_branches + 1) * sizeof *nb);
    if (!nb) return -1;
    t->branches = nb;
    trans_branch *b = &nb[t->n_branches];
    memset(b, 0, sizeof *b);
    b->url = strdup(url ? url : "");
    if (!b->url) return -1;
    if (data_len > 0) {
        b->data = malloc(data_len);
        if (!b->data) {
            free(b->url);
            return -1;
        }
        memcpy(b->data, data, data_len);
        b->data_len = data_len;
    }
    copy_fixed(b->branch_id, sizeof b->branch_id, branch_id);
    copy_fixed(b->op, sizeof b->op, op);
    copy_fixed(b->status, sizeof b->status, TS_PREPARED);
    return (int)t->n_branches++;
}

int trans_gen_saga_branches(trans_global *t, size_t n, const char *const *actions,
                            const char *const *compensates, const uint8_t *const *payloads,
                            const size_t *payload_lens) {
    if (n > TRANS_STEPS_MAX) return -1;
    for (size_t i = 0; i < n; i++) {
        char bid[16];
        snprintf(bid, sizeof bid, "%02zu", i + 1);
        const uint8_t *p = payloads ? payloads[i] : NULL;
        size_t plen = payload_lens && p ? payload_lens[i] : 0;
        /* DTM's GenBranches order: the compensate row first, then the action,
         * so that row 2i is step i's compensate and row 2i+1 its action. */
        if (trans_add_branch(t, bid, OP_COMPENSATE, compensates ? compensates[i] : "", p, plen) < 0 ||
            trans_add_branch(t, bid, OP_ACTION, actions ? actions[i] : "", p, plen) < 0)
            return -1;
    }
    t->n_steps = n;
    return 0;
}

/* ---- saga custom_data --------------------------------------------------- */

/* Reads a step index: a JSON integer, or for object keys a decimal string. */
static int parse_step_key(const char *key, size_t n_steps, size_t *out) {
    if (!key[0]) return -1;
    for (const char *p = key; *p; p++)
        if (*p < '0' || *p > '9') return -1;
    errno = 0;
    unsigned long long v = strtoull(key, NULL, 10);
    if (errno || v >= n_steps) return -1;
    *out = (size_t)v;
    return 0;
}

/* Depth-first search for a cycle in "step i waits for orders[i][k]".
 * colour: 0 unvisited, 1 on the current path, 2 done. Iterative, so that a
 * long chain of steps cannot overflow the stack. */
static int orders_have_cycle(size_t n, size_t *const *orders, const size_t *n_orders,
                             size_t *cycle_at) {
    unsigned char *colour = calloc(n ? n : 1, 1);
    size_t *stack = malloc((n ? n : 1) * sizeof *stack);
    size_t *next = calloc(n ? n : 1, sizeof *next); /* per node: next edge to follow */
    int found = -1;
    if (!colour || !stack || !next) goto out;
    found = 0;
    for (size_t root = 0; root < n && !found; root++) {
        if (colour[root]) continue;
        size_t sp = 0;
        stack[sp++] = root;
        colour[root] = 1;
        while (sp > 0 && !found) {
            size_t v = stack[sp - 1];
            if (next[v] < n_orders[v]) {
                size_t w = orders[v][next[v]++];
                if (colour[w] == 1) {
                    found = 1;
                    *cycle_at = w;
                } else if (colour[w] == 0) {
                    colour[w] = 1;
                    stack[sp++] = w;
                }
            } else {
                colour[v] = 2;
                sp--;
            }
        }
    }
out:
    free(colour);
    free(stack);
    free(next);
    return found;
}

int trans_parse_saga_custom(trans_global *t, char *err, size_t errlen) {
    orders_free(t);
    t->opts.concurrent = 0;
    size_t n = t->n_steps ? t->n_steps : t->n_branches / 2;
    t->n_steps = n;
    const char *text = t->custom_data ? t->custom_data : "";
    if (!text[0]) return 0;

    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        errbuf_set(err, errlen, "gid %s: custom_data is not a JSON object%s%s", t->gid,
                   root ? "" : ": ", root ? "" : jerr.text);
        json_decref(root);
        return -1;
    }
    int rc = -1;
    json_t *conc = json_object_get(root, "concurrent");
    if (conc && !json_is_boolean(conc) && !json_is_null(conc)) {
        errbuf_set(err, errlen, "gid %s: custom_data: \"concurrent\" must be true or false", t->gid);
        goto out;
    }
    int concurrent = conc && json_is_true(conc);
    json_t *orders = json_object_get(root, "orders");
    if (orders && !json_is_object(orders) && !json_is_null(orders)) {
        errbuf_set(err, errlen, "gid %s: custom_data: \"orders\" must be an object", t->gid);
        goto out;
    }
    if (!concurrent) {
        rc = 0; /* a sequential saga: the orders are not used (as DTM) */
        goto out;
    }
    t->n_orders = calloc(n ? n : 1, sizeof *t->n_orders);
    t->orders = calloc(n ? n : 1, sizeof *t->orders);
    if (!t->n_orders || !t->orders) {
        errbuf_set(err, errlen, "gid %s: out of memory", t->gid);
        goto out;
    }
    const char *key;
    json_t *list;
    json_object_foreach(orders, key, list) {
        size_t step;
        if (parse_step_key(key, n, &step) != 0) {
            errbuf_set(err, errlen,
                       "gid %s: custom_data: orders key '%.32s' is not a step index in 0..%zu",
                       t->gid, key, n ? n - 1 : 0);
            goto out;
        }
        if (!json_is_array(list) || json_array_size(list) > n) {
            errbuf_set(err, errlen,
                       "gid %s: custom_data: orders[\"%s\"] must be an array of at most %zu step "
                       "indices", t->gid, key, n);
            goto out;
        }
        size_t m = json_array_size(list);
        free(t->orders[step]);
        t->orders[step] = calloc(m ? m : 1, sizeof **t->orders);
        if (!t->orders[step]) {
            errbuf_set(err, errlen, "gid %s: out of memory", t->gid);
            goto out;
        }
        t->n_orders[step] = 0;
        for (size_t k = 0; k < m; k++) {
            json_t *v = json_array_get(list, k);
            json_int_t j = json_is_integer(v) ? json_integer_value(v) : -1;
            if (j < 0 || (size_t)j >= n) {
                errbuf_set(err, errlen,
                           "gid %s: custom_data: orders[\"%s\"] holds %s, not a step index in "
                           "0..%zu", t->gid, key, json_is_integer(v) ? "an index out of range"
                                                                     : "a non-integer",
                           n ? n - 1 : 0);
                goto out;
            }
            t->orders[step][t->n_orders[step]++] = (size_t)j;
        }
    }
    size_t at = 0;
    int cyc = orders_have_cycle(n, t->orders, t->n_orders, &at);
    if (cyc != 0) {
        if (cyc < 0) errbuf_set(err, errlen, "gid %s: out of memory", t->gid);
        else errbuf_set(err, errlen, "gid %s: custom_data: orders have a cycle through step %zu",
                        t->gid, at);
        goto out;
    }
    t->opts.concurrent = 1;
    rc = 0;
out:
    if (rc != 0) orders_free(t);
    json_decref(root);
    return rc;
}

/* ---- options JSON ------------------------------------------------------- */

static int header_cmp(const void *a, const void *b) {
    return strcmp(((const trans_header *)a)->key, ((const trans_header *)b)->key);
}

char *trans_options_json(const trans_options *o) {
    /* DTM's TransOptions marshalled by Go: fields in declaration order,
     * zero values omitted (omitempty) except "concurrent", map keys sorted. */
    json_t *j = json_object();
    if (!j) return NULL;
    if (o->wait_result) json_object_set_new(j, "wait_result", json_true());
    if (o->timeout_to_fail) json_object_set_new(j, "timeout_to_fail", json_integer(o->timeout_to_fail));
    if (o->request_timeout) json_object_set_new(j, "request_timeout", json_integer(o->request_timeout));
    if (o->retry_interval) json_object_set_new(j, "retry_interval", json_integer(o->retry_interval));
    if (o->n_headers) {
        trans_header *sorted = malloc(o->n_headers * sizeof *sorted);
        json_t *h = json_object();
        if (!sorted || !h) {
            free(sorted);
            json_decref(h);
            json_decref(j);
            return NULL;
        }
        memcpy(sorted, o->headers, o->n_headers * sizeof *sorted);
        qsort(sorted, o->n_headers, sizeof *sorted, header_cmp);
        for (size_t i = 0; i < o->n_headers; i++)
            json_object_set_new(h, sorted[i].key, json_string(sorted[i].value));
        free(sorted);
        json_object_set_new(j, "branch_headers", h);
    }
    json_object_set_new(j, "concurrent", json_boolean(o->concurrent));
    if (o->retry_limit) json_object_set_new(j, "retry_limit", json_integer(o->retry_limit));
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    return s;
}

static int64_t opt_int(json_t *j, const char *key) {
    json_t *v = json_object_get(j, key);
    if (json_is_integer(v)) return (int64_t)json_integer_value(v);
    if (json_is_real(v)) return (int64_t)json_real_value(v);
    return 0;
}

int trans_options_from_json(const char *text, trans_options *o) {
    memset(o, 0, sizeof *o);
    if (!text || !text[0]) return 0; /* an empty column: every option unset */
    json_t *j = json_loads(text, 0, NULL);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return -1;
    }
    o->wait_result = json_is_true(json_object_get(j, "wait_result"));
    o->timeout_to_fail = opt_int(j, "timeout_to_fail");
    o->request_timeout = opt_int(j, "request_timeout");
    o->retry_interval = opt_int(j, "retry_interval");
    o->retry_limit = opt_int(j, "retry_limit");
    o->concurrent = json_is_true(json_object_get(j, "concurrent"));
    json_t *h = json_object_get(j, "branch_headers");
    int rc = 0;
    if (json_is_object(h) && json_object_size(h) > 0) {
        size_t n = json_object_size(h);
        if (n > TRANS_HEADERS_MAX) n = TRANS_HEADERS_MAX;
        o->headers = calloc(n, sizeof *o->headers);
        if (!o->headers) rc = -1;
        const char *k;
        json_t *v;
        json_object_foreach(h, k, v) {
            if (rc != 0 || o->n_headers == n) break;
            if (!json_is_string(v)) continue;
            char *kk = strdup(k), *vv = strdup(json_string_value(v));
            if (!kk || !vv) {
                free(kk);
                free(vv);
                rc = -1;
                break;
            }
            o->headers[o->n_headers++] = (trans_header){kk, vv};
        }
        if (rc != 0) headers_free(o);
    }
    json_decref(j);
    return rc;
}

/* ---- small things ------------------------------------------------------- */

void trans_set_text(char **field, const char *value) {
    if (!value) value = "";
    size_t n = utf8_cut(value, strlen(value), TRANS_TEXT_MAX);
    char *s = strndup(value, n);
    if (!s) return; /* out of memory: keep the old text rather than lose the field */
    free(*field);
    *field = s;
}

int trans_is_final(const char *status) {
    return status && (strcmp(status, TS_SUCCEED) == 0 || strcmp(status, TS_FAILED) == 0);
}
