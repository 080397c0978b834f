/* conf.c: go-zero-style YAML configuration with environment overrides.
 * See conf.h.
 *
 * The file is read with libyaml's event parser into a small tree of
 * mappings, lists and scalars; values are then looked up by dotted key path.
 * Both block style and flow style ({ Hosts: [127.0.0.1:2379], Key: x }) come
 * out of libyaml as the same events, so the tree does not care.
 *
 * Limits, so that a hostile or broken file gives an error, never a crash or
 * an endless load: 1 MiB of text, 32 levels of nesting, 100000 values,
 * 4096 keys in one mapping. Anchors and aliases are refused (go-zero configs
 * do not use them, and aliases are the classic way to blow up a YAML tree).
 * A YAML null (an empty value, "~" or "null") counts as absent.
 *
 * Environment overrides (conf.h): the variable name is made by
 * conf_env_name(). Values handed out from the environment are copied into
 * the tree, so the pointer stays valid until conf_free() even if the
 * environment changes; a lock guards that cache, so readers may share a
 * conf across threads. */
#include "conf.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "errbuf.h"

#define CONF_TEXT_MAX (1024 * 1024)
#define CONF_DEPTH_MAX 32
#define CONF_NODES_MAX 100000
#define CONF_MAP_KEYS_MAX 4096
#define CONF_ENV_NAME_MAX 256

typedef enum { CONF_NULL, CONF_SCALAR, CONF_MAP, CONF_LIST } conf_kind;

typedef struct conf_node {
    conf_kind kind;
    size_t line;             /* 1-based line where the value starts */
    char *key;               /* its key when it sits in a mapping, else NULL */
    char *value;             /* CONF_SCALAR: the text */
    const char *self[1];     /* CONF_SCALAR: {value}, so a scalar reads as a list of one */
    struct conf_node **kids; /* CONF_MAP (entries) and CONF_LIST (items) */
    size_t nkids, capkids;
    const char **items;      /* CONF_LIST of scalars only: the items' texts (nulls skipped) */
    size_t nitems;
} conf_node;

/* A value taken from the environment, kept until conf_free(). */
typedef struct conf_env {
    struct conf_env *next;
    char *name;          /* variable name */
    char *value;         /* its value when read */
    char *itembuf;       /* copy of value cut at commas, for conf_list() */
    const char **items;  /* the trimmed, non-empty items in itembuf */
    size_t nitems;
} conf_env;

struct conf {
    char *name;          /* file name for messages */
    conf_node *root;     /* always a CONF_MAP */
    pthread_mutex_t mu;  /* guards env */
    conf_env *env;
};

/* ---- the tree ---- */

static void conf_node_free(conf_node *n) {
    if (!n) return;
    for (size_t i = 0; i < n->nkids; i++) conf_node_free(n->kids[i]);
    free(n->kids);
    free(n->items);
    free(n->key);
    free(n->value);
    free(n);
}

static conf_node *conf_node_new(conf_kind kind, size_t line) {
    conf_node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    n->line = line;
    return n;
}

static int conf_node_add(conf_node *parent, conf_node *kid) {
    if (parent->nkids == parent->capkids) {
        size_t cap = parent->capkids ? parent->capkids * 2 : 8;
        conf_node **k = realloc(parent->kids, cap * sizeof *k);
        if (!k) return -1;
        parent->kids = k;
        parent->capkids = cap;
    }
    parent->kids[parent->nkids++] = kid;
    return 0;
}

static conf *conf_alloc(const char *name) {
    conf *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->name = strdup(name ? name : "(config)");
    c->root = conf_node_new(CONF_MAP, 1);
    if (!c->name || !c->root) {
        free(c->name);
        conf_node_free(c->root);
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

conf *conf_empty(void) { return conf_alloc("(environment)"); }

static void conf_env_free(conf_env *e) {
    free(e->name);
    free(e->value);
    free(e->itembuf);
    free(e->items);
    free(e);
}

void conf_free(conf *c) {
    if (!c) return;
    conf_node_free(c->root);
    for (conf_env *e = c->env, *next; e; e = next) {
        next = e->next;
        conf_env_free(e);
    }
    pthread_mutex_destroy(&c->mu);
    free(c->name);
    free(c);
}

/* ---- YAML events to tree ---- */

typedef struct {
    yaml_parser_t parser;
    const char *name; /* for messages */
    size_t nodes;     /* values built so far */
    char *err;
    size_t errlen;
} conf_reader;

/* Next event, or -1 with the parser's complaint in err. */
static int conf_next(conf_reader *r, yaml_event_t *ev) {
    if (yaml_parser_parse(&r->parser, ev)) return 0;
    const yaml_parser_t *p = &r->parser;
    if (p->error == YAML_MEMORY_ERROR) {
        errbuf_set(r->err, r->errlen, "%s: out of memory while parsing", r->name);
    } else if (p->context) {
        errbuf_set(r->err, r->errlen, "%s: line %zu: %s (%s, line %zu)", r->name,
                  p->problem_mark.line + 1, p->problem ? p->problem : "syntax error", p->context,
                  p->context_mark.line + 1);
    } else {
        errbuf_set(r->err, r->errlen, "%s: line %zu: %s", r->name, p->problem_mark.line + 1,
                  p->problem ? p->problem : "syntax error");
    }
    return -1;
}

static size_t conf_ev_line(const yaml_event_t *ev) { return ev->start_mark.line + 1; }

/* 1 for a plain scalar that YAML reads as null. */
static int conf_is_null(const yaml_event_t *ev) {
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *v = (const char *)ev->data.scalar.value;
    return ev->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static conf_node *conf_build(conf_reader *r, yaml_event_t *ev, int depth);

/* Builds the entries of a mapping whose start event was consumed. */
static int conf_build_map(conf_reader *r, conf_node *map, int depth) {
    for (;;) {
        yaml_event_t kev;
        if (conf_next(r, &kev) < 0) return -1;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            return 0;
        }
        size_t kline = conf_ev_line(&kev);
        if (kev.type != YAML_SCALAR_EVENT) {
            errbuf_set(r->err, r->errlen, "%s: line %zu: a key must be a plain name, not a %s", r->name,
                      kline, kev.type == YAML_ALIAS_EVENT ? "alias" : "mapping or list");
            yaml_event_delete(&kev);
            return -1;
        }
        if (kev.data.scalar.anchor) {
            errbuf_set(r->err, r->errlen, "%s: line %zu: anchors (&%s) are not supported", r->name, kline,
                      (const char *)kev.data.scalar.anchor);
            yaml_event_delete(&kev);
            return -1;
        }
        size_t klen = kev.data.scalar.length;
        if (klen == 0 || memchr(kev.data.scalar.value, '\0', klen)) {
            errbuf_set(r->err, r->errlen, "%s: line %zu: %s", r->name, kline,
                      klen ? "a key contains a NUL byte" : "empty key");
            yaml_event_delete(&kev);
            return -1;
        }
        char *key = strdup((const char *)kev.data.scalar.value);
        yaml_event_delete(&kev);
        if (!key) {
            errbuf_set(r->err, r->errlen, "%s: out of memory", r->name);
            return -1;
        }
        for (size_t i = 0; i < map->nkids; i++) {
            if (strcmp(map->kids[i]->key, key) == 0) {
                errbuf_set(r->err, r->errlen, "%s: line %zu: key '%.100s' appears twice (first on line %zu)",
                          r->name, kline, key, map->kids[i]->line);
                free(key);
                return -1;
            }
        }
        if (map->nkids >= CONF_MAP_KEYS_MAX) {
            errbuf_set(r->err, r->errlen, "%s: line %zu: more than %d keys in one mapping", r->name, kline,
                      CONF_MAP_KEYS_MAX);
            free(key);
            return -1;
        }
        yaml_event_t vev;
        if (conf_next(r, &vev) < 0) {
            free(key);
            return -1;
        }
        conf_node *val = conf_build(r, &vev, depth);
        if (!val) {
            free(key);
            return -1;
        }
        val->key = key;
        if (conf_node_add(map, val) < 0) {
            conf_node_free(val);
            errbuf_set(r->err, r->errlen, "%s: out of memory", r->name);
            return -1;
        }
    }
}

/* Builds the items of a list whose start event was consumed, then the
 * items[] view when every item is a scalar. */
static int conf_build_list(conf_reader *r, conf_node *list, int depth) {
    for (;;) {
        yaml_event_t ev;
        if (conf_next(r, &ev) < 0) return -1;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        conf_node *item = conf_build(r, &ev, depth);
        if (!item) return -1;
        if (conf_node_add(list, item) < 0) {
            conf_node_free(item);
            errbuf_set(r->err, r->errlen, "%s: out of memory", r->name);
            return -1;
        }
    }
    for (size_t i = 0; i < list->nkids; i++)
        if (list->kids[i]->kind == CONF_MAP || list->kids[i]->kind == CONF_LIST) return 0;
    list->items = calloc(list->nkids + 1, sizeof *list->items);
    if (!list->items) {
        errbuf_set(r->err, r->errlen, "%s: out of memory", r->name);
        return -1;
    }
    for (size_t i = 0; i < list->nkids; i++)
        if (list->kids[i]->kind == CONF_SCALAR) list->items[list->nitems++] = list->kids[i]->value;
    return 0;
}

/* Builds the value that starts with *ev (which this call deletes). `depth` is
 * the nesting of the enclosing collection. Returns NULL with err filled. */
static conf_node *conf_build(conf_reader *r, yaml_event_t *ev, int depth) {
    size_t line = conf_ev_line(ev);
    const yaml_char_t *anchor = NULL;
    if (ev->type == YAML_SCALAR_EVENT) anchor = ev->data.scalar.anchor;
    else if (ev->type == YAML_MAPPING_START_EVENT) anchor = ev->data.mapping_start.anchor;
    else if (ev->type == YAML_SEQUENCE_START_EVENT) anchor = ev->data.sequence_start.anchor;
    if (ev->type == YAML_ALIAS_EVENT || anchor) {
        errbuf_set(r->err, r->errlen, "%s: line %zu: %s are not supported", r->name, line,
                  anchor ? "anchors (&name)" : "aliases (*name)");
        yaml_event_delete(ev);
        return NULL;
    }
    if (++r->nodes > CONF_NODES_MAX) {
        errbuf_set(r->err, r->errlen, "%s: line %zu: more than %d values", r->name, line, CONF_NODES_MAX);
        yaml_event_delete(ev);
        return NULL;
    }
    conf_node *n = NULL;
    if (ev->type == YAML_SCALAR_EVENT) {
        if (conf_is_null(ev)) {
            n = conf_node_new(CONF_NULL, line);
        } else if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length)) {
            errbuf_set(r->err, r->errlen, "%s: line %zu: a value contains a NUL byte", r->name, line);
            yaml_event_delete(ev);
            return NULL;
        } else if ((n = conf_node_new(CONF_SCALAR, line)) != NULL) {
            n->value = strdup((const char *)ev->data.scalar.value);
            n->self[0] = n->value;
            if (!n->value) {
                conf_node_free(n);
                n = NULL;
            }
        }
        yaml_event_delete(ev);
        if (!n) errbuf_set(r->err, r->errlen, "%s: out of memory", r->name);
        return n;
    }
    int is_map = ev->type == YAML_MAPPING_START_EVENT;
    if (!is_map && ev->type != YAML_SEQUENCE_START_EVENT) { /* cannot happen inside a document */
        errbuf_set(r->err, r->errlen, "%s: line %zu: unexpected YAML event", r->name, line);
        yaml_event_delete(ev);
        return NULL;
    }
    yaml_event_delete(ev);
    if (depth + 1 > CONF_DEPTH_MAX) {
        errbuf_set(r->err, r->errlen, "%s: line %zu: nested deeper than %d levels", r->name, line,
                  CONF_DEPTH_MAX);
        return NULL;
    }
    n = conf_node_new(is_map ? CONF_MAP : CONF_LIST, line);
    if (!n) {
        errbuf_set(r->err, r->errlen, "%s: out of memory", r->name);
        return NULL;
    }
    int rc = is_map ? conf_build_map(r, n, depth + 1) : conf_build_list(r, n, depth + 1);
    if (rc < 0) {
        conf_node_free(n);
        return NULL;
    }
    return n;
}

/* Reads the stream: at most one document, whose top is a mapping (or
 * nothing at all, which gives an empty tree). */
static int conf_read_stream(conf_reader *r, conf *c) {
    yaml_event_t ev;
    if (conf_next(r, &ev) < 0) return -1; /* STREAM-START */
    yaml_event_delete(&ev);
    if (conf_next(r, &ev) < 0) return -1;
    if (ev.type == YAML_STREAM_END_EVENT) { /* empty file or only comments */
        yaml_event_delete(&ev);
        return 0;
    }
    yaml_event_delete(&ev); /* DOCUMENT-START */
    if (conf_next(r, &ev) < 0) return -1;
    size_t line = conf_ev_line(&ev);
    if (ev.type == YAML_SCALAR_EVENT && conf_is_null(&ev)) {
        yaml_event_delete(&ev); /* a document holding only "---" */
    } else if (ev.type != YAML_MAPPING_START_EVENT) {
        errbuf_set(r->err, r->errlen, "%s: line %zu: the top level must be a mapping of keys to values",
                  r->name, line);
        yaml_event_delete(&ev);
        return -1;
    } else {
        conf_node *root = conf_build(r, &ev, 0);
        if (!root) return -1;
        conf_node_free(c->root);
        c->root = root;
    }
    if (conf_next(r, &ev) < 0) return -1; /* DOCUMENT-END */
    yaml_event_delete(&ev);
    if (conf_next(r, &ev) < 0) return -1;
    int more = ev.type != YAML_STREAM_END_EVENT;
    line = conf_ev_line(&ev);
    yaml_event_delete(&ev);
    if (more) {
        errbuf_set(r->err, r->errlen, "%s: line %zu: only one YAML document is allowed", r->name, line);
        return -1;
    }
    return 0;
}

conf *conf_parse(const char *name, const char *text, size_t len, char *err, size_t errlen) {
    if (!name) name = "(config)";
    if (err && errlen) err[0] = '\0';
    if (len > CONF_TEXT_MAX) {
        errbuf_set(err, errlen, "%s: larger than %d bytes", name, CONF_TEXT_MAX);
        return NULL;
    }
    conf *c = conf_alloc(name);
    if (!c) {
        errbuf_set(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    conf_reader r = {.name = name, .err = err, .errlen = errlen};
    if (!yaml_parser_initialize(&r.parser)) {
        errbuf_set(err, errlen, "%s: out of memory", name);
        conf_free(c);
        return NULL;
    }
    yaml_parser_set_input_string(&r.parser, (const unsigned char *)(text ? text : ""), text ? len : 0);
    int rc = conf_read_stream(&r, c);
    yaml_parser_delete(&r.parser);
    if (rc < 0) {
        conf_free(c);
        return NULL;
    }
    return c;
}

conf *conf_load(const char *path, char *err, size_t errlen) {
    if (err && errlen) err[0] = '\0';
    if (!path || !path[0]) {
        errbuf_set(err, errlen, "(config): no file name given");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        errbuf_set(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    /* Read one byte past the limit to tell "exactly 1 MiB" from "larger". */
    char *buf = malloc(CONF_TEXT_MAX + 1);
    if (!buf) {
        fclose(f);
        errbuf_set(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    size_t len = fread(buf, 1, CONF_TEXT_MAX + 1, f);
    int failed = ferror(f);
    int saved = errno;
    fclose(f);
    conf *c = NULL;
    if (failed) errbuf_set(err, errlen, "%s: cannot read: %s", path, strerror(saved));
    else if (len > CONF_TEXT_MAX) errbuf_set(err, errlen, "%s: larger than %d bytes", path, CONF_TEXT_MAX);
    else c = conf_parse(path, buf, len, err, errlen);
    free(buf);
    return c;
}

/* ---- environment overrides ---- */

void conf_env_name(const char *key, char *out, size_t outlen) {
    if (!out || !outlen) return;
    size_t o = 0;
    /* A boundary goes before an upper-case letter that follows a lower-case
     * letter or digit ("DataSource" -> DATA_SOURCE), and before the last
     * capital of an acronym run that starts a new word ("DBHost" -> DB_HOST,
     * "HTTPPort" -> HTTP_PORT), so a run like "DB" stays whole. */
    for (size_t i = 0; key && key[i] && o + 1 < outlen; i++) {
        unsigned char ch = (unsigned char)key[i];
        unsigned char prev = i ? (unsigned char)key[i - 1] : 0;
        unsigned char next = (unsigned char)key[i + 1];
        if (isupper(ch) && i > 0 && prev != '.' &&
            (islower(prev) || isdigit(prev) || (isupper(prev) && islower(next)))) {
            out[o++] = '_';
            if (o + 1 >= outlen) break;
        }
        out[o++] = isalnum(ch) ? (char)toupper(ch) : '_';
    }
    out[o] = '\0';
}

/* The cached copy of the override for `key`, or NULL when the variable is
 * unset or empty. */
static const conf_env *conf_env_get(const conf *c, const char *key) {
    char name[CONF_ENV_NAME_MAX];
    conf_env_name(key, name, sizeof name);
    const char *v = getenv(name);
    if (!v || !v[0]) return NULL;
    conf *mc = (conf *)c; /* the cache is internal state of a non-const object */
    pthread_mutex_lock(&mc->mu);
    conf_env *e;
    for (e = mc->env; e; e = e->next)
        if (strcmp(e->name, name) == 0 && strcmp(e->value, v) == 0) break;
    if (!e && (e = calloc(1, sizeof *e)) != NULL) {
        e->name = strdup(name);
        e->value = strdup(v);
        e->itembuf = strdup(v);
        e->items = calloc(strlen(v) / 2 + 2, sizeof *e->items); /* at most one item per 2 bytes */
        if (!e->name || !e->value || !e->itembuf || !e->items) {
            conf_env_free(e);
            e = NULL;
        } else {
            /* Cut at commas and trim blanks: "a:1, b:2" -> {"a:1", "b:2"}. */
            char *save = NULL;
            for (char *tok = strtok_r(e->itembuf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                while (isspace((unsigned char)*tok)) tok++;
                char *end = tok + strlen(tok);
                while (end > tok && isspace((unsigned char)end[-1])) *--end = '\0';
                if (*tok) e->items[e->nitems++] = tok;
            }
            e->next = mc->env;
            mc->env = e;
        }
    }
    pthread_mutex_unlock(&mc->mu);
    return e;
}

/* ---- lookup ---- */

/* The node at dotted path `key`, or NULL. */
static const conf_node *conf_find(const conf *c, const char *key) {
    if (!c || !key || !key[0]) return NULL;
    const conf_node *n = c->root;
    const char *seg = key;
    for (;;) {
        const char *dot = strchr(seg, '.');
        size_t slen = dot ? (size_t)(dot - seg) : strlen(seg);
        if (slen == 0 || n->kind != CONF_MAP) return NULL;
        const conf_node *found = NULL;
        for (size_t i = 0; i < n->nkids; i++) {
            const char *k = n->kids[i]->key;
            if (strncmp(k, seg, slen) == 0 && k[slen] == '\0') {
                found = n->kids[i];
                break;
            }
        }
        if (!found) return NULL;
        if (!dot) return found;
        n = found;
        seg = dot + 1;
    }
}

/* Where a scalar read comes from. */
typedef struct {
    const char *value;     /* NULL when absent */
    const conf_env *env;   /* set when the value comes from the environment */
    const conf_node *node; /* the file's node, if any */
} conf_val;

static conf_val conf_lookup(const conf *c, const char *key) {
    conf_val v = {0};
    v.node = conf_find(c, key);
    v.env = conf_env_get(c, key);
    if (v.env) v.value = v.env->value;
    else if (v.node && v.node->kind == CONF_SCALAR) v.value = v.node->value;
    return v;
}

/* For a typed read of an absent value: 1 with err filled when the file has
 * a mapping or list there (a mistake worth reporting, not a default). */
static int conf_not_scalar(const conf *c, const char *key, const conf_val *v, const char *want,
                           char *err, size_t errlen) {
    if (!v->node || (v->node->kind != CONF_MAP && v->node->kind != CONF_LIST)) return 0;
    errbuf_set(err, errlen, "%s: %s: expected %s, got %s (line %zu)", c->name, key, want,
              v->node->kind == CONF_MAP ? "a mapping" : "a list", v->node->line);
    return 1;
}

/* " (from environment variable X)" when the value came from there. */
static const char *conf_origin(const conf_val *v, char *buf, size_t len) {
    if (!v->env) return "";
    snprintf(buf, len, " (from environment variable %s)", v->env->name);
    return buf;
}

const char *conf_str(const conf *c, const char *key, const char *def) {
    assert(c);
    conf_val v = conf_lookup(c, key);
    return v.value ? v.value : def;
}

int conf_int(const conf *c, const char *key, int64_t def, int64_t min, int64_t max, int64_t *out,
             char *err, size_t errlen) {
    assert(c && out);
    conf_val v = conf_lookup(c, key);
    char origin[CONF_ENV_NAME_MAX + 40];
    if (!v.value) {
        if (conf_not_scalar(c, key, &v, "an integer", err, errlen)) return -1;
        *out = def;
        return 0;
    }
    /* Strict decimal: no blanks, no hex, no trailing text. */
    const char *s = v.value;
    char *end = NULL;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    int digits_first = isdigit((unsigned char)s[0]) ||
                       ((s[0] == '-' || s[0] == '+') && isdigit((unsigned char)s[1]));
    if (!digits_first || *end != '\0') {
        errbuf_set(err, errlen, "%s: %s: '%.64s' is not an integer%s", c->name, key, s,
                  conf_origin(&v, origin, sizeof origin));
        return -1;
    }
    if (errno == ERANGE || x < min || x > max) {
        errbuf_set(err, errlen, "%s: %s: %.64s is out of range [%" PRId64 ", %" PRId64 "]%s", c->name, key,
                  s, min, max, conf_origin(&v, origin, sizeof origin));
        return -1;
    }
    *out = (int64_t)x;
    return 0;
}

int conf_bool(const conf *c, const char *key, int def, int *out, char *err, size_t errlen) {
    assert(c && out);
    conf_val v = conf_lookup(c, key);
    char origin[CONF_ENV_NAME_MAX + 40];
    if (!v.value) {
        if (conf_not_scalar(c, key, &v, "true or false", err, errlen)) return -1;
        *out = def;
        return 0;
    }
    static const char *const yes[] = {"true", "yes", "1"}, *const no[] = {"false", "no", "0"};
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(v.value, yes[i]) == 0) { *out = 1; return 0; }
        if (strcasecmp(v.value, no[i]) == 0) { *out = 0; return 0; }
    }
    errbuf_set(err, errlen, "%s: %s: '%.64s' is not a boolean (true/false/yes/no/1/0)%s", c->name, key,
              v.value, conf_origin(&v, origin, sizeof origin));
    return -1;
}

size_t conf_list(const conf *c, const char *key, const char *const **items) {
    assert(c && items);
    *items = NULL;
    const conf_env *e = conf_env_get(c, key);
    if (e) {
        *items = e->items;
        return e->nitems;
    }
    const conf_node *n = conf_find(c, key);
    if (!n) return 0;
    if (n->kind == CONF_SCALAR) {
        *items = n->self;
        return 1;
    }
    if (n->kind == CONF_LIST && n->items) {
        *items = n->items;
        return n->nitems;
    }
    return 0; /* a mapping, a null, or a list holding mappings or lists */
}

int conf_require(const conf *c, const char *key, char *err, size_t errlen) {
    assert(c);
    if (conf_env_get(c, key)) return 0;
    const conf_node *n = conf_find(c, key);
    if (n && ((n->kind == CONF_SCALAR && n->value[0]) ||
              ((n->kind == CONF_MAP || n->kind == CONF_LIST) && n->nkids > 0)))
        return 0;
    errbuf_set(err, errlen, "%s: %s: is required", c->name, key);
    return -1;
}
