/* parse.c: what a client sends -> a validated trans_global (parse.h).
 *
 * Two front ends read their wire format into one `parse_input`:
 *   - parse_trans_json: DTM's trans JSON of the HTTP API (dtm-protocol.md §2);
 *     protocol defaults to "http", and a step's "data" is a payload too
 *     (DTM's setupPayloads: the "payloads" entries first, then every
 *     non-empty step "data");
 *   - parse_trans_proto: a packed dtmgimp.DtmRequest (§1), protocol "grpc",
 *     Steps as a JSON string, BinPayloads as bytes.
 * Then ONE function, validate_build(), checks everything and builds the
 * trans_global, so both surfaces accept and refuse exactly the same things.
 *
 * Why so strict: DTM stores what it is given and fails later (a nil-pointer
 * panic for an unknown trans_type, an index panic for a missing payload, a
 * row with gid ''). cdtm refuses such input at the door with a message that
 * names the field, and nothing is written (README "Differences"). Values
 * that travel on to branch calls (gid, URLs, header names and values) must
 * be printable ASCII, because they become gRPC metadata and HTTP header
 * text where a control character would break or inject a request. */
#include "parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtmgimp.pb-c.h"
#include "errbuf.h"
#include "jsoncheck.h"

/* Bounds of options that are not columns (seconds / counts). */
#define PARSE_SECONDS_MAX 2592000   /* 30 days: intervals and timeouts */
#define PARSE_REQUEST_TIMEOUT_MAX 86400
#define PARSE_RETRY_LIMIT_MAX 1000000
#define PARSE_HEADER_NAME_MAX 128
#define PARSE_HEADER_VALUE_MAX 1024

/* The field names as each surface spells them, so that a message names the
 * field the client actually sent. */
typedef struct {
    const char *gid, *trans_type, *protocol, *steps, *payloads, *custom_data, *query_prepared,
        *rollback_reason, *wait_result, *timeout_to_fail, *request_timeout, *retry_interval,
        *retry_limit, *branch_headers, *req_extra;
} parse_names;

static const parse_names JSON_NAMES = {
    "gid", "trans_type", "protocol", "steps", "payloads", "custom_data", "query_prepared",
    "rollback_reason", "wait_result", "timeout_to_fail", "request_timeout", "retry_interval",
    "retry_limit", "branch_headers", "req_extra",
};

static const parse_names PROTO_NAMES = {
    "Gid", "TransType", "protocol", "Steps", "BinPayloads", "CustomedData", "QueryPrepared",
    "RollbackReason", "TransOptions.WaitResult", "TransOptions.TimeoutToFail",
    "TransOptions.RequestTimeout", "TransOptions.RetryInterval", "TransOptions.RetryLimit",
    "TransOptions.BranchHeaders", "ReqExtra",
};

/* A byte string borrowed from the request (JSON string or protobuf field). */
typedef struct {
    const char *p;
    size_t len;
} span;

/* What either front end read; every pointer is borrowed from the decoded
 * request, which outlives validate_build(). */
typedef struct {
    const parse_names *names;
    span gid, trans_type, protocol, custom_data, query_prepared, rollback_reason;
    int wait_result;
    int64_t timeout_to_fail, request_timeout, retry_interval, retry_limit;
    json_t *steps;          /* NULL when absent */
    int step_data;          /* HTTP: a non-empty step "data" is appended to the payloads */
    span *payloads;         /* owned array of borrowed spans */
    size_t n_payloads;
    span *hdr_keys, *hdr_vals;  /* owned arrays of borrowed spans */
    size_t n_headers;
    span *extra_keys, *extra_vals;
    size_t n_extra;
} parse_input;

static void input_free(parse_input *in) {
    free(in->payloads);
    free(in->hdr_keys);
    free(in->hdr_vals);
    free(in->extra_keys);
    free(in->extra_vals);
}

/* ---- character checks ---- */

static int utf8_valid(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        size_t n;
        unsigned min;
        if (c < 0x80) { p++; continue; }
        else if ((c & 0xE0) == 0xC0) { n = 1; min = 0x80; c &= 0x1F; }
        else if ((c & 0xF0) == 0xE0) { n = 2; min = 0x800; c &= 0x0F; }
        else if ((c & 0xF8) == 0xF0) { n = 3; min = 0x10000; c &= 0x07; }
        else return 0;
        if ((size_t)(end - p) <= n) return 0;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80) return 0;
            c = (c << 6) | (p[i] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
        p += n + 1;
    }
    return 1;
}

/* Printable ASCII; `space_ok` allows ' ' too. */
static int printable(span s, int space_ok) {
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c > 0x7E || c < 0x20 || (c == ' ' && !space_ok)) return 0;
    }
    return 1;
}

/* An HTTP header name (RFC 9110 token). */
static int token(span s) {
    static const char extra[] = "!#$%&'*+-.^_`|~";
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c && strchr(extra, c))))
            return 0;
    }
    return 1;
}

static int span_eq(span s, const char *lit) {
    return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

/* A bounded, UTF-8 text field (custom_data, query_prepared, rollback_reason). */
static int check_text(span s, const char *name, char *err, size_t errlen) {
    if (s.len > TRANS_TEXT_MAX) {
        errbuf_set(err, errlen, "%s: %zu bytes, at most %d", name, s.len, TRANS_TEXT_MAX);
        return -1;
    }
    if (memchr(s.p, '\0', s.len) || !utf8_valid(s.p, s.len)) {
        errbuf_set(err, errlen, "%s: must be UTF-8 text without NUL", name);
        return -1;
    }
    return 0;
}

/* A branch URL: may be empty (nothing to call), else printable ASCII
 * without spaces, at most TRANS_URL_MAX bytes. */
static int check_url(span s, const char *steps, size_t i, const char *key, char *err,
                     size_t errlen) {
    if (s.len > TRANS_URL_MAX) {
        errbuf_set(err, errlen, "%s[%zu].%s: URL of %zu bytes, at most %d", steps, i, key, s.len,
             TRANS_URL_MAX);
        return -1;
    }
    if (!printable(s, 0)) {
        errbuf_set(err, errlen, "%s[%zu].%s: URL must be printable ASCII without spaces", steps, i, key);
        return -1;
    }
    return 0;
}

/* ---- the shared validation ---- */

/* The trans types DTM knows; cdtm implements saga. */
static const char *const KNOWN_TYPES[] = {"saga", "tcc", "msg", "xa", "workflow"};

static svc_rc check_header_fields(const parse_input *in, char *err, size_t errlen) {
    const parse_names *nm = in->names;
    if (in->gid.len == 0) {
        errbuf_set(err, errlen, "%s: missing or empty", nm->gid);
        return SVC_BAD_REQUEST;
    }
    if (in->gid.len > TRANS_GID_MAX) {
        errbuf_set(err, errlen, "%s: %zu bytes, at most %d", nm->gid, in->gid.len, TRANS_GID_MAX);
        return SVC_BAD_REQUEST;
    }
    if (!printable(in->gid, 0)) {
        errbuf_set(err, errlen, "%s: must be printable ASCII without spaces", nm->gid);
        return SVC_BAD_REQUEST;
    }
    if (in->trans_type.len == 0) {
        errbuf_set(err, errlen, "%s: missing or empty", nm->trans_type);
        return SVC_BAD_REQUEST;
    }
    int known = 0;
    for (size_t i = 0; i < sizeof KNOWN_TYPES / sizeof *KNOWN_TYPES; i++)
        if (span_eq(in->trans_type, KNOWN_TYPES[i])) known = 1;
    if (!known) {
        int shown = in->trans_type.len <= 64 && printable(in->trans_type, 1);
        errbuf_set(err, errlen, "%s: unknown trans_type '%.*s'%s (want saga, tcc, msg, xa or workflow)",
             nm->trans_type, shown ? (int)in->trans_type.len : 0, in->trans_type.p,
             shown ? "" : "...");
        return SVC_BAD_REQUEST;
    }
    if (!span_eq(in->trans_type, "saga")) {
        errbuf_set(err, errlen, "trans_type '%.*s' is not supported by cdtm yet", (int)in->trans_type.len,
             in->trans_type.p);
        return SVC_UNSUPPORTED;
    }
    if (span_eq(in->protocol, "json-rpc")) {
        errbuf_set(err, errlen, "%s: 'json-rpc' is not supported by cdtm yet", nm->protocol);
        return SVC_UNSUPPORTED;
    }
    if (!span_eq(in->protocol, "http") && !span_eq(in->protocol, "grpc")) {
        errbuf_set(err, errlen, "%s: must be \"http\" or \"grpc\"", nm->protocol);
        return SVC_BAD_REQUEST;
    }
    return SVC_OK;
}

static svc_rc check_options(const parse_input *in, char *err, size_t errlen) {
    const parse_names *nm = in->names;
    struct { int64_t v; const char *name; int64_t max; } ints[] = {
        {in->timeout_to_fail, nm->timeout_to_fail, PARSE_SECONDS_MAX},
        {in->request_timeout, nm->request_timeout, PARSE_REQUEST_TIMEOUT_MAX},
        {in->retry_interval, nm->retry_interval, PARSE_SECONDS_MAX},
        {in->retry_limit, nm->retry_limit, PARSE_RETRY_LIMIT_MAX},
    };
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        if (ints[i].v < 0 || ints[i].v > ints[i].max) {
            errbuf_set(err, errlen, "%s: %lld is out of range 0..%lld", ints[i].name,
                 (long long)ints[i].v, (long long)ints[i].max);
            return SVC_BAD_REQUEST;
        }
    }
    if (!json_depth_ok(in->custom_data.p, in->custom_data.len, JSON_MAX_DEPTH)) {
        errbuf_set(err, errlen, "%s: nested deeper than 32 levels", nm->custom_data);
        return SVC_BAD_REQUEST;
    }
    if (check_text(in->custom_data, nm->custom_data, err, errlen) ||
        check_text(in->query_prepared, nm->query_prepared, err, errlen) ||
        check_text(in->rollback_reason, nm->rollback_reason, err, errlen))
        return SVC_BAD_REQUEST;
    if (in->n_headers > TRANS_HEADERS_MAX) {
        errbuf_set(err, errlen, "%s: %zu entries, at most %d", nm->branch_headers, in->n_headers,
             TRANS_HEADERS_MAX);
        return SVC_BAD_REQUEST;
    }
    for (size_t i = 0; i < in->n_headers; i++) {
        span k = in->hdr_keys[i], v = in->hdr_vals[i];
        if (k.len == 0 || k.len > PARSE_HEADER_NAME_MAX || !token(k)) {
            errbuf_set(err, errlen, "%s: '%.*s' is not a header name (1..%d token characters)",
                 nm->branch_headers, printable(k, 1) && k.len <= 64 ? (int)k.len : 0, k.p ? k.p : "",
                 PARSE_HEADER_NAME_MAX);
            return SVC_BAD_REQUEST;
        }
        if (v.len > PARSE_HEADER_VALUE_MAX || !printable(v, 1)) {
            errbuf_set(err, errlen, "%s: the value of '%.*s' must be printable ASCII of at most %d bytes",
                 nm->branch_headers, (int)k.len, k.p, PARSE_HEADER_VALUE_MAX);
            return SVC_BAD_REQUEST;
        }
    }
    for (size_t i = 0; i < in->n_extra; i++) {
        if (memchr(in->extra_keys[i].p, '\0', in->extra_keys[i].len) ||
            !utf8_valid(in->extra_keys[i].p, in->extra_keys[i].len) ||
            memchr(in->extra_vals[i].p, '\0', in->extra_vals[i].len) ||
            !utf8_valid(in->extra_vals[i].p, in->extra_vals[i].len)) {
            errbuf_set(err, errlen, "%s: keys and values must be UTF-8 text without NUL", nm->req_extra);
            return SVC_BAD_REQUEST;
        }
    }
    return SVC_OK;
}

/* req_extra as the JSON object text kept in t->req_extra ("" when empty). */
static svc_rc set_req_extra(const parse_input *in, trans_global *t, char *err, size_t errlen) {
    if (in->n_extra == 0) return SVC_OK;
    json_t *o = json_object();
    for (size_t i = 0; o && i < in->n_extra; i++) {
        char *k = strndup(in->extra_keys[i].p, in->extra_keys[i].len);
        json_t *v = json_stringn(in->extra_vals[i].p, in->extra_vals[i].len);
        if (!k || !v || json_object_set_new(o, k, v) != 0) {
            free(k);
            json_decref(o);
            o = NULL;
            break;
        }
        free(k);
    }
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    if (!text) {
        errbuf_set(err, errlen, "%s: cannot encode", in->names->req_extra);
        return SVC_BAD_REQUEST;
    }
    if (strlen(text) > TRANS_TEXT_MAX) {
        errbuf_set(err, errlen, "%s: %zu bytes as JSON, at most %d", in->names->req_extra, strlen(text),
             TRANS_TEXT_MAX);
        free(text);
        return SVC_BAD_REQUEST;
    }
    trans_set_text(&t->req_extra, text);
    free(text);
    return SVC_OK;
}

/* Reads step i's string value `key` into *out; a missing key is an error
 * (an empty string is fine: an empty URL is a success without a call). */
static svc_rc step_url(const parse_input *in, json_t *step, size_t i, const char *key, span *out,
                       char *err, size_t errlen) {
    json_t *v = json_object_get(step, key);
    if (!v) {
        errbuf_set(err, errlen, "%s[%zu]: missing \"%s\"", in->names->steps, i, key);
        return SVC_BAD_REQUEST;
    }
    out->p = json_string_value(v);
    out->len = json_string_length(v);
    return check_url(*out, in->names->steps, i, key, err, errlen) ? SVC_BAD_REQUEST : SVC_OK;
}

/* Checks the saga steps and payloads and builds the 2N branch rows. */
static svc_rc build_saga(const parse_input *in, trans_global *t, char *err, size_t errlen) {
    const parse_names *nm = in->names;
    if (!in->steps) {
        errbuf_set(err, errlen, "%s: missing (a saga needs an array of steps)", nm->steps);
        return SVC_BAD_REQUEST;
    }
    if (!json_is_array(in->steps)) {
        errbuf_set(err, errlen, "%s: must be an array of objects", nm->steps);
        return SVC_BAD_REQUEST;
    }
    size_t n = json_array_size(in->steps);
    if (n > TRANS_STEPS_MAX) {
        errbuf_set(err, errlen, "%s: %zu steps, at most %d", nm->steps, n, TRANS_STEPS_MAX);
        return SVC_BAD_REQUEST;
    }
    svc_rc rc = SVC_BAD_REQUEST;
    const char **actions = calloc(n ? n : 1, sizeof *actions);
    const char **comps = calloc(n ? n : 1, sizeof *comps);
    span *pays = calloc(in->n_payloads + n + 1, sizeof *pays);
    const uint8_t **pp = calloc(n ? n : 1, sizeof *pp);
    size_t *plen = calloc(n ? n : 1, sizeof *plen);
    if (!actions || !comps || !pays || !pp || !plen) {
        errbuf_set(err, errlen, "out of memory");
        rc = SVC_ERROR;
        goto out;
    }
    size_t np = in->n_payloads;
    if (np) memcpy(pays, in->payloads, np * sizeof *pays);
    for (size_t i = 0; i < n; i++) {
        json_t *step = json_array_get(in->steps, i);
        if (!json_is_object(step)) {
            errbuf_set(err, errlen, "%s: must be an array of objects (%s[%zu] is not)", nm->steps,
                 nm->steps, i);
            goto out;
        }
        const char *key;
        json_t *v;
        json_object_foreach(step, key, v) {
            if (!json_is_string(v)) {
                errbuf_set(err, errlen, "%s[%zu].%.64s: must be a string", nm->steps, i, key);
                goto out;
            }
        }
        span a, c;
        if ((rc = step_url(in, step, i, "action", &a, err, errlen)) != SVC_OK ||
            (rc = step_url(in, step, i, "compensate", &c, err, errlen)) != SVC_OK)
            goto out;
        rc = SVC_BAD_REQUEST;
        actions[i] = a.p;
        comps[i] = c.p;
        json_t *d = in->step_data ? json_object_get(step, "data") : NULL;
        if (d && json_string_length(d) > 0)
            pays[np++] = (span){json_string_value(d), json_string_length(d)};
    }
    if (np != n) {
        errbuf_set(err, errlen, "%s: %zu payload(s) for %zu step(s): give one per step", nm->payloads, np,
             n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (pays[i].len > TRANS_PAYLOAD_MAX) {
            errbuf_set(err, errlen, "%s[%zu]: %zu bytes, at most %d", nm->payloads, i, pays[i].len,
                 TRANS_PAYLOAD_MAX);
            goto out;
        }
        pp[i] = (const uint8_t *)pays[i].p;
        plen[i] = pays[i].len;
    }
    if (trans_gen_saga_branches(t, n, actions, comps, pp, plen) != 0) {
        errbuf_set(err, errlen, "out of memory");
        rc = SVC_ERROR;
        goto out;
    }
    t->n_steps = n;
    char cerr[512];
    if (trans_parse_saga_custom(t, cerr, sizeof cerr) != 0) {
        errbuf_set(err, errlen, "%s", cerr); /* trans.c names gid and custom_data */
        goto out;
    }
    rc = SVC_OK;
out:
    free(actions);
    free(comps);
    free(pays);
    free(pp);
    free(plen);
    return rc;
}

static svc_rc set_headers(const parse_input *in, trans_global *t) {
    if (in->n_headers == 0) return SVC_OK;
    t->opts.headers = calloc(in->n_headers, sizeof *t->opts.headers);
    if (!t->opts.headers) return SVC_ERROR;
    for (size_t i = 0; i < in->n_headers; i++) {
        char *k = strndup(in->hdr_keys[i].p, in->hdr_keys[i].len);
        char *v = strndup(in->hdr_vals[i].p ? in->hdr_vals[i].p : "", in->hdr_vals[i].len);
        if (!k || !v) {
            free(k);
            free(v);
            return SVC_ERROR;
        }
        t->opts.headers[t->opts.n_headers++] = (trans_header){k, v};
    }
    return SVC_OK;
}

static void set_text(char **field, span s) {
    char *tmp = strndup(s.p ? s.p : "", s.len);
    if (tmp) trans_set_text(field, tmp);
    free(tmp);
}

/* Checks everything in `in` and builds the transaction. */
static svc_rc validate_build(const parse_input *in, int need_steps, trans_global **out, char *err,
                             size_t errlen) {
    *out = NULL;
    svc_rc rc = check_header_fields(in, err, errlen);
    if (rc == SVC_OK) rc = check_options(in, err, errlen);
    if (rc != SVC_OK) return rc;

    char gid[TRANS_GID_MAX + 1], type[46];
    snprintf(gid, sizeof gid, "%.*s", (int)in->gid.len, in->gid.p);
    snprintf(type, sizeof type, "%.*s", (int)in->trans_type.len, in->trans_type.p);
    trans_global *t = trans_new(gid, type);
    if (!t) {
        errbuf_set(err, errlen, "out of memory");
        return SVC_ERROR;
    }
    snprintf(t->protocol, sizeof t->protocol, "%.*s", (int)in->protocol.len, in->protocol.p);
    set_text(&t->custom_data, in->custom_data);
    set_text(&t->query_prepared, in->query_prepared);
    set_text(&t->rollback_reason, in->rollback_reason);
    t->opts.wait_result = in->wait_result;
    t->opts.timeout_to_fail = in->timeout_to_fail;
    t->opts.request_timeout = in->request_timeout;
    t->opts.retry_interval = in->retry_interval;
    t->opts.retry_limit = in->retry_limit;
    rc = set_headers(in, t);
    if (rc != SVC_OK) errbuf_set(err, errlen, "out of memory");
    if (rc == SVC_OK) {
        /* The options (branch headers included) are one varchar(1024) column. */
        char *o = trans_options_json(&t->opts);
        size_t olen = o ? strlen(o) : 0;
        free(o);
        if (olen > TRANS_TEXT_MAX) {
            errbuf_set(err, errlen, "%s: the options take %zu bytes as JSON, at most %d",
                 in->names->branch_headers, olen, TRANS_TEXT_MAX);
            rc = SVC_BAD_REQUEST;
        }
    }
    if (rc == SVC_OK) rc = set_req_extra(in, t, err, errlen);
    if (rc == SVC_OK && need_steps) rc = build_saga(in, t, err, errlen);
    if (rc != SVC_OK) {
        trans_free(t);
        return rc;
    }
    *out = t;
    return SVC_OK;
}

/* ---- HTTP: the trans JSON ---- */

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

/* Bounds on maps before validation refuses them by count. */
#define PARSE_MAP_MAX 1024

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
    rc = validate_build(&in, need_steps, out, err, errlen);
out:
    input_free(&in);
    json_decref(root);
    return rc;
}

/* ---- gRPC: dtmgimp.DtmRequest ---- */

svc_rc parse_trans_proto(const uint8_t *buf, size_t len, int need_steps, trans_global **out,
                         char *err, size_t errlen) {
    *out = NULL;
    Dtmgimp__DtmRequest *r = dtmgimp__dtm_request__unpack(NULL, len, buf);
    if (!r) {
        errbuf_set(err, errlen, "cannot decode DtmRequest");
        return SVC_BAD_REQUEST;
    }
    svc_rc rc = SVC_BAD_REQUEST;
    json_t *steps = NULL;
    parse_input in;
    memset(&in, 0, sizeof in);
    in.names = &PROTO_NAMES;
    in.step_data = 0; /* DTM reads a gRPC saga's payloads from BinPayloads only */
#define SPAN(s) ((span){(s) ? (s) : "", (s) ? strlen(s) : 0})
    in.gid = SPAN(r->gid);
    in.trans_type = SPAN(r->transtype);
    in.protocol = (span){"grpc", 4};
    in.custom_data = SPAN(r->customeddata);
    in.query_prepared = SPAN(r->queryprepared);
    in.rollback_reason = SPAN(r->rollbackreason);
    const Dtmgimp__DtmTransOptions *o = r->transoptions;
    if (o) {
        in.wait_result = o->waitresult != 0;
        in.timeout_to_fail = o->timeouttofail;
        in.request_timeout = o->requesttimeout;
        in.retry_interval = o->retryinterval;
        in.retry_limit = o->retrylimit;
        if (o->n_branchheaders > TRANS_HEADERS_MAX) {
            errbuf_set(err, errlen, "%s: %zu entries, at most %d", PROTO_NAMES.branch_headers,
                 o->n_branchheaders, TRANS_HEADERS_MAX);
            goto out;
        }
        in.hdr_keys = calloc(o->n_branchheaders + 1, sizeof *in.hdr_keys);
        in.hdr_vals = calloc(o->n_branchheaders + 1, sizeof *in.hdr_vals);
        if (!in.hdr_keys || !in.hdr_vals) goto oom;
        for (size_t i = 0; i < o->n_branchheaders; i++) {
            in.hdr_keys[i] = SPAN(o->branchheaders[i]->key);
            in.hdr_vals[i] = SPAN(o->branchheaders[i]->value);
        }
        in.n_headers = o->n_branchheaders;
    }
    if (r->n_reqextra > PARSE_MAP_MAX) {
        errbuf_set(err, errlen, "%s: %zu entries, at most %d", PROTO_NAMES.req_extra, r->n_reqextra,
             PARSE_MAP_MAX);
        goto out;
    }
    in.extra_keys = calloc(r->n_reqextra + 1, sizeof *in.extra_keys);
    in.extra_vals = calloc(r->n_reqextra + 1, sizeof *in.extra_vals);
    if (!in.extra_keys || !in.extra_vals) goto oom;
    for (size_t i = 0; i < r->n_reqextra; i++) {
        in.extra_keys[i] = SPAN(r->reqextra[i]->key);
        in.extra_vals[i] = SPAN(r->reqextra[i]->value);
    }
    in.n_extra = r->n_reqextra;
#undef SPAN
    in.payloads = calloc(r->n_binpayloads + 1, sizeof *in.payloads);
    if (!in.payloads) goto oom;
    for (size_t i = 0; i < r->n_binpayloads; i++)
        in.payloads[i] = (span){(const char *)r->binpayloads[i].data, r->binpayloads[i].len};
    in.n_payloads = r->n_binpayloads;
    if (r->steps && r->steps[0]) {
        json_error_t jerr;
        if (!json_depth_ok(r->steps, strlen(r->steps), JSON_MAX_DEPTH)) {
            errbuf_set(err, errlen, "Steps: malformed JSON: nested deeper than 32 levels");
            goto out;
        }
        steps = json_loads(r->steps, 0, &jerr);
        if (!steps) {
            errbuf_set(err, errlen, "Steps: malformed JSON: %s (line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
            goto out;
        }
        in.steps = steps;
    }
    rc = validate_build(&in, need_steps, out, err, errlen);
    goto out;
oom:
    errbuf_set(err, errlen, "out of memory");
    rc = SVC_ERROR;
out:
    input_free(&in);
    json_decref(steps);
    dtmgimp__dtm_request__free_unpacked(r, NULL);
    return rc;
}
