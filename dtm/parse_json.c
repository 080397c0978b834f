/* parse_json.c: the HTTP front end of the parser (parse.h): DTM's trans
 * JSON (dtm-protocol.md §2) read into a parse_input (parse_int.h), then
 * checked and built by parse_validate_build() in parse.c, the same as gRPC.
 *
 * Protocol defaults to "http", and a step's "data" is a payload too (DTM's
 * setupPayloads: the "payloads" entries first, then every non-empty step
 * "data"). */
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "jsoncheck.h"
#include "parse_int.h"

/* ---- HTTP: the trans JSON ---- */

/* The fields as the trans JSON spells them, for the messages. */
static const parse_names JSON_NAMES = {
    "gid", "trans_type", "protocol", "steps", "payloads", "custom_data", "query_prepared",
    "rollback_reason", "wait_result", "timeout_to_fail", "request_timeout", "retry_interval",
    "retry_limit", "branch_headers", "req_extra",
};

/* Reads an optional string member; null counts as absent. */
static int json_str(json_t *root, const char *key, span *out, char *err, size_t errlen) {
    json_t *v = json_object_get(root, key);
    *out = (span){"", 0};
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) {
        errbuf_set(err, errlen, "%s: must be a string", key);
        return -1;
    }
    *out = (span){json_string_value(v), json_string_length(v)};
    return 0;
}

static int json_int(json_t *root, const char *key, int64_t *out, char *err, size_t errlen) {
    json_t *v = json_object_get(root, key);
    *out = 0;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v)) {
        errbuf_set(err, errlen, "%s: must be an integer", key);
        return -1;
    }
    *out = (int64_t)json_integer_value(v);
    return 0;
}

static int json_bool(json_t *root, const char *key, int *out, char *err, size_t errlen) {
    json_t *v = json_object_get(root, key);
    *out = 0;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) {
        errbuf_set(err, errlen, "%s: must be true or false", key);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

/* A {"k":"v",...} object into two span arrays. */
static int json_map(json_t *root, const char *key, span **keys, span **vals, size_t *n,
                    size_t max, char *err, size_t errlen) {
    json_t *v = json_object_get(root, key);
    *keys = *vals = NULL;
    *n = 0;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_object(v)) {
        errbuf_set(err, errlen, "%s: must be an object of strings", key);
        return -1;
    }
    size_t size = json_object_size(v);
    if (size > max) {
        errbuf_set(err, errlen, "%s: %zu entries, at most %zu", key, size, max);
        return -1;
    }
    *keys = calloc(size + 1, sizeof **keys);
    *vals = calloc(size + 1, sizeof **vals);
    if (!*keys || !*vals) {
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }
    const char *k;
    json_t *e;
    json_object_foreach(v, k, e) {
        if (!json_is_string(e)) {
            errbuf_set(err, errlen, "%s.%.64s: must be a string", key, k);
            return -1;
        }
        (*keys)[*n] = (span){k, strlen(k)};
        (*vals)[*n] = (span){json_string_value(e), json_string_length(e)};
        (*n)++;
    }
    return 0;
}

svc_rc parse_trans_json(const char *body, size_t len, int need_steps, trans_global **out,
                        char *err, size_t errlen) {
    *out = NULL;
    json_error_t jerr;
    /* JSON_ALLOW_NUL: a payload may hold \u0000 (Go accepts it); fields that
     * must not are checked by length. Depth is checked first (jsoncheck.h). */
    if (body && !json_depth_ok(body, len, JSON_MAX_DEPTH)) {
        errbuf_set(err, errlen, "malformed JSON: nested deeper than 32 levels");
        return SVC_BAD_REQUEST;
    }
    json_t *root = json_loadb(body ? body : "", len, JSON_ALLOW_NUL, &jerr);
    if (!root) {
        errbuf_set(err, errlen, "malformed JSON: %s (line %d, column %d)", jerr.text, jerr.line,
             jerr.column);
        return SVC_BAD_REQUEST;
    }
    svc_rc rc = SVC_BAD_REQUEST;
    parse_input in;
    memset(&in, 0, sizeof in);
    in.names = &JSON_NAMES;
    in.step_data = 1;
    if (!json_is_object(root)) {
        errbuf_set(err, errlen, "request body: must be a JSON object");
        goto out;
    }
    int conc = 0;
    if (json_str(root, "gid", &in.gid, err, errlen) ||
        json_str(root, "trans_type", &in.trans_type, err, errlen) ||
        json_str(root, "protocol", &in.protocol, err, errlen) ||
        json_str(root, "custom_data", &in.custom_data, err, errlen) ||
        json_str(root, "query_prepared", &in.query_prepared, err, errlen) ||
        json_str(root, "rollback_reason", &in.rollback_reason, err, errlen) ||
        json_bool(root, "wait_result", &in.wait_result, err, errlen) ||
        json_bool(root, "concurrent", &conc, err, errlen) || /* msg only: checked, unused */
        json_int(root, "timeout_to_fail", &in.timeout_to_fail, err, errlen) ||
        json_int(root, "request_timeout", &in.request_timeout, err, errlen) ||
        json_int(root, "retry_interval", &in.retry_interval, err, errlen) ||
        json_int(root, "retry_limit", &in.retry_limit, err, errlen) ||
        json_map(root, "branch_headers", &in.hdr_keys, &in.hdr_vals, &in.n_headers,
                 PARSE_MAP_MAX, err, errlen) ||
        json_map(root, "req_extra", &in.extra_keys, &in.extra_vals, &in.n_extra, PARSE_MAP_MAX,
                 err, errlen))
        goto out;
    if (in.protocol.len == 0) in.protocol = (span){"http", 4}; /* DTM's default */
    json_t *steps = json_object_get(root, "steps");
    in.steps = json_is_null(steps) ? NULL : steps;
    json_t *pl = json_object_get(root, "payloads");
    if (pl && !json_is_null(pl)) {
        if (!json_is_array(pl)) {
            errbuf_set(err, errlen, "payloads: must be an array of strings");
            goto out;
        }
        size_t n = json_array_size(pl); /* the count is checked against the steps */
        in.payloads = calloc(n + 1, sizeof *in.payloads);
        if (!in.payloads) {
            errbuf_set(err, errlen, "out of memory");
            rc = SVC_ERROR;
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            json_t *p = json_array_get(pl, i);
            if (!json_is_string(p)) {
                errbuf_set(err, errlen, "payloads[%zu]: must be a string", i);
                goto out;
            }
            in.payloads[in.n_payloads++] = (span){json_string_value(p), json_string_length(p)};
        }
    }
    rc = parse_validate_build(&in, need_steps, out, err, errlen);
out:
    parse_input_free(&in);
    json_decref(root);
    return rc;
}
