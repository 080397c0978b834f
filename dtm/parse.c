/* parse.c: what a client sends -> a validated trans_global (parse.h).
 *
 * Two front ends read their wire format into one `parse_input`
 * (parse_int.h):
 *   - parse_trans_json (parse_json.c): DTM's trans JSON of the HTTP API
 *     (dtm-protocol.md §2);
 *   - parse_trans_proto (parse_grpc.c): a packed dtmgimp.DtmRequest (§1).
 * This file is what they share: ONE function, parse_validate_build(), checks
 * everything and builds the trans_global, so both surfaces accept and refuse
 * exactly the same things.
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

#include "errbuf.h"
#include "jsoncheck.h"
#include "parse_int.h"

/* Bounds of options that are not columns (seconds / counts). */
#define PARSE_SECONDS_MAX 2592000   /* 30 days: intervals and timeouts */
#define PARSE_REQUEST_TIMEOUT_MAX 86400
#define PARSE_RETRY_LIMIT_MAX 1000000
#define PARSE_HEADER_NAME_MAX 128
#define PARSE_HEADER_VALUE_MAX 1024

/* Frees the arrays the input owns (parse_int.h). */
void parse_input_free(parse_input *in) {
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

/* Checks everything in `in` and builds the transaction (parse_int.h). */
svc_rc parse_validate_build(const parse_input *in, int need_steps, trans_global **out, char *err,
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
