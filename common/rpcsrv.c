/* rpcsrv.c: the unary gRPC server on the gRPC core C API. See rpcsrv.h.
 *
 * Threading model: each of the `nthreads` workers owns one completion queue
 * registered with the server and serves one call at a time:
 *
 *   request_call (on its cq) -> wait -> batch A: receive the request -> run
 *   the handler -> batch B: send initial metadata + the reply (only when the
 *   status is OK) + the status + receive close -> unref -> repeat.
 *
 * Keeping one outstanding request per worker is what gives concurrency: gRPC
 * core matches an incoming call to any outstanding request, and calls that
 * arrive while every worker is busy wait in the server until one asks again.
 * A connection may have RPCSRV_STREAMS_PER_THREAD calls open per worker; its
 * further calls wait in the client.
 *
 * Shutdown: grpc_server_shutdown_and_notify() makes the outstanding requests
 * fail, so idle workers leave their loop; busy workers finish their call, ask
 * again, get a failure and leave too. After the grace period the remaining
 * calls are cancelled (their batches then complete at once).
 *
 * A reply message is sent only with status OK, as grpc-go (DTM, go-zero)
 * does: with an error status there is no message. */
#include "rpcsrv.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health.pb-c.h"
#include "log.h"
#include "rpcinit.h"

#define RPCSRV_MAX_THREADS 256
/* Streams one connection may have open at once, per worker thread: a call
 * beyond what the workers serve waits anyway, and without a bound every such
 * call waits IN THE SERVER, holding its memory (200 calls queued on one
 * connection took stock-srv's own memory from 3.8 to 8 MB). With the bound,
 * announced in HTTP/2's SETTINGS_MAX_CONCURRENT_STREAMS, a client keeps the
 * extra calls until a stream closes. Two per
 * worker keep a worker's next call already received when it finishes one. */
#define RPCSRV_STREAMS_PER_THREAD 2
#define RPCSRV_MIN_STREAMS 8
#define RPCSRV_MAX_MSG (4 * 1024 * 1024) /* gRPC's default receive limit, stated explicitly */
#define RPCSRV_STATUS_MAX 1024           /* status messages are truncated here */
#define RPCSRV_HEALTH_PATH "/grpc.health.v1.Health/Check"

/* Tags: each worker's queue carries only its own events, one at a time, so a
 * constant tag per step is enough to check that the event is the expected one. */
static char TAG_NEW, TAG_BATCH_A, TAG_BATCH_B, TAG_SHUTDOWN;

/* ---- types ---- */

typedef struct {
    char *path;         /* "/pkg.Service/Method", owned */
    size_t service_len; /* length of "pkg.Service" (the part after the first '/') */
    rpcsrv_handler handler;
    void *ud;
} rpcsrv_method_entry;

typedef struct {
    rpcsrv *srv;
    grpc_completion_queue *cq; /* registered with the server; carries this worker's calls */
    pthread_t thread;
} rpcsrv_worker;

struct rpcsrv {
    char *listen_on;
    int nthreads;
    rpcsrv_method_entry *methods;
    size_t nmethods, capmethods;
    grpc_server *server;                /* created by rpcsrv_start() */
    grpc_completion_queue *shutdown_cq; /* receives the shutdown notification */
    rpcsrv_worker *workers;
    int nworkers; /* workers actually started */
    int port;
    int started, stopped;
};

/* A copy of one metadata value handed out by rpcsrv_metadata(). */
typedef struct rpcsrv_md_copy {
    struct rpcsrv_md_copy *next;
    size_t index; /* which entry of the metadata array it copies */
    char value[];
} rpcsrv_md_copy;

struct rpcsrv_call {
    rpcsrv *srv;
    const char *method;             /* NUL-terminated copy of the path, owned by the worker */
    const grpc_metadata_array *md;  /* the request metadata, owned by the worker */
    rpcsrv_md_copy *md_copies;      /* NUL-terminated values handed out, freed after the handler */
    grpc_slice reply;               /* the reply message (empty by default) */
    int status;                     /* grpc_status_code */
    char message[RPCSRV_STATUS_MAX + 1];
};

/* ---- method table ---- */

/* Returns the length of "pkg.Service" when `path` is "/pkg.Service/Method"
 * (printable, no spaces, a dot in the service), else 0. */
static size_t method_service_len(const char *path) {
    if (!path || path[0] != '/') return 0;
    const char *svc = path + 1;
    const char *slash = strchr(svc, '/');
    if (!slash || slash == svc || slash[1] == '\0' || strchr(slash + 1, '/')) return 0;
    if (!memchr(svc, '.', (size_t)(slash - svc))) return 0;
    for (const char *p = path; *p; p++)
        if (*p <= ' ' || *p > '~') return 0;
    return (size_t)(slash - svc);
}

static const rpcsrv_method_entry *method_find(const rpcsrv *s, const char *path) {
    for (size_t i = 0; i < s->nmethods; i++)
        if (strcmp(s->methods[i].path, path) == 0) return &s->methods[i];
    return NULL;
}

/* 1 when `service` ("pkg.Service") owns a method of the table. */
static int service_known(const rpcsrv *s, const char *service, size_t len) {
    for (size_t i = 0; i < s->nmethods; i++)
        if (s->methods[i].service_len == len && memcmp(s->methods[i].path + 1, service, len) == 0)
            return 1;
    return 0;
}

/* ---- life cycle ---- */

rpcsrv *rpcsrv_new(const char *listen_on, int nthreads, char *err, size_t errlen) {
    if (!listen_on || !*listen_on) {
        snprintf(err, errlen, "rpcsrv: empty listen address");
        return NULL;
    }
    if (nthreads < 1 || nthreads > RPCSRV_MAX_THREADS) {
        snprintf(err, errlen, "rpcsrv: thread count %d is not in 1..%d", nthreads,
                 RPCSRV_MAX_THREADS);
        return NULL;
    }
    rpcsrv *s = calloc(1, sizeof *s);
    if (!s || !(s->listen_on = strdup(listen_on))) {
        free(s);
        snprintf(err, errlen, "rpcsrv: out of memory");
        return NULL;
    }
    s->nthreads = nthreads;
    rpc_init();
    return s;
}

int rpcsrv_add(rpcsrv *s, const char *method, rpcsrv_handler h, void *ud) {
    size_t svc_len = method_service_len(method);
    if (s->started || !h || svc_len == 0 || method_find(s, method)) return -1;
    if (s->nmethods == s->capmethods) {
        size_t cap = s->capmethods ? s->capmethods * 2 : 16;
        rpcsrv_method_entry *m = realloc(s->methods, cap * sizeof *m);
        if (!m) return -1;
        s->methods = m;
        s->capmethods = cap;
    }
    char *path = strdup(method);
    if (!path) return -1;
    s->methods[s->nmethods++] = (rpcsrv_method_entry){path, svc_len, h, ud};
    return 0;
}

int rpcsrv_port(const rpcsrv *s) { return s->started ? s->port : 0; }

/* Waits on a queue for the next event (forever). */
static grpc_event cq_wait(grpc_completion_queue *cq) {
    return grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
}

/* Shuts a queue down, drains it and destroys it. */
static void cq_destroy(grpc_completion_queue *cq) {
    if (!cq) return;
    grpc_completion_queue_shutdown(cq);
    while (cq_wait(cq).type != GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
}

static void *worker_main(void *arg);

int rpcsrv_start(rpcsrv *s, char *err, size_t errlen) {
    if (s->started) {
        snprintf(err, errlen, "rpcsrv: already started");
        return -1;
    }
    /* gRPC sets SO_REUSEPORT by default, so a second server on a port in use
     * would "bind" and share it silently; we want "cannot bind" instead. */
    int streams = s->nthreads * RPCSRV_STREAMS_PER_THREAD;
    grpc_arg arg[] = {
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
         .value.integer = RPCSRV_MAX_MSG},
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ALLOW_REUSEPORT, .value.integer = 0},
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_CONCURRENT_STREAMS,
         .value.integer = streams < RPCSRV_MIN_STREAMS ? RPCSRV_MIN_STREAMS : streams},
    };
    grpc_channel_args args = {sizeof arg / sizeof arg[0], arg};
    s->server = grpc_server_create(&args, NULL);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    s->port = grpc_server_add_http2_port(s->server, s->listen_on, creds);
    grpc_server_credentials_release(creds);
    s->workers = calloc((size_t)s->nthreads, sizeof *s->workers);
    if (s->port == 0 || !s->workers) {
        snprintf(err, errlen, s->port == 0 ? "rpcsrv: cannot bind %s" : "rpcsrv: out of memory",
                 s->listen_on);
        grpc_server_destroy(s->server); /* never started, no queue registered */
        s->server = NULL;
        free(s->workers);
        s->workers = NULL;
        s->port = 0;
        return -1;
    }
    s->shutdown_cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(s->server, s->shutdown_cq, NULL);
    for (int i = 0; i < s->nthreads; i++) {
        s->workers[i].srv = s;
        s->workers[i].cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(s->server, s->workers[i].cq, NULL);
    }
    grpc_server_start(s->server);
    s->started = 1;
    for (int i = 0; i < s->nthreads; i++) {
        if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]) != 0) {
            snprintf(err, errlen, "rpcsrv: cannot start worker thread %d", i);
            rpcsrv_stop(s, 0); /* joins the workers already running, frees the queues */
            return -1;
        }
        s->nworkers++;
    }
    log_info(NULL, "rpcsrv: serving gRPC on %s (port %d, %d workers)", s->listen_on, s->port,
             s->nthreads);
    return 0;
}

void rpcsrv_stop(rpcsrv *s, int grace_ms) {
    if (!s->started || s->stopped) return;
    s->stopped = 1;
    grpc_server_shutdown_and_notify(s->server, s->shutdown_cq, &TAG_SHUTDOWN);
    gpr_timespec grace = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                      gpr_time_from_millis(grace_ms > 0 ? grace_ms : 0, GPR_TIMESPAN));
    grpc_event ev = grpc_completion_queue_next(s->shutdown_cq, grace, NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT) {
        /* The grace period is over: cancel what is left; the batches of those
         * calls complete at once and the notification follows. */
        log_warn(NULL, "rpcsrv: calls still running after %d ms on %s; cancelling them", grace_ms,
                 s->listen_on);
        grpc_server_cancel_all_calls(s->server);
        ev = cq_wait(s->shutdown_cq);
    }
    for (int i = 0; i < s->nworkers; i++) pthread_join(s->workers[i].thread, NULL);
    grpc_server_destroy(s->server);
    s->server = NULL;
    for (int i = 0; i < s->nthreads; i++) cq_destroy(s->workers[i].cq);
    cq_destroy(s->shutdown_cq);
    s->shutdown_cq = NULL;
    free(s->workers);
    s->workers = NULL;
    s->nworkers = 0;
    log_info(NULL, "rpcsrv: stopped serving on %s", s->listen_on);
}

void rpcsrv_free(rpcsrv *s) {
    if (!s) return;
    rpcsrv_stop(s, 0); /* no-op when stopped or never started */
    for (size_t i = 0; i < s->nmethods; i++) free(s->methods[i].path);
    free(s->methods);
    free(s->listen_on);
    free(s);
    grpc_shutdown();
}

/* ---- handler API ---- */

const char *rpcsrv_metadata(rpcsrv_call *call, const char *key) {
    const grpc_metadata_array *md = call->md;
    for (size_t i = 0; i < md->count; i++) {
        if (grpc_slice_str_cmp(md->metadata[i].key, key) != 0) continue;
        for (rpcsrv_md_copy *c = call->md_copies; c; c = c->next)
            if (c->index == i) return c->value;
        size_t len = GRPC_SLICE_LENGTH(md->metadata[i].value);
        rpcsrv_md_copy *c = malloc(sizeof *c + len + 1);
        if (!c) return NULL;
        memcpy(c->value, GRPC_SLICE_START_PTR(md->metadata[i].value), len);
        c->value[len] = '\0';
        c->index = i;
        c->next = call->md_copies;
        call->md_copies = c;
        return c->value;
    }
    return NULL;
}

const char *rpcsrv_method(const rpcsrv_call *call) { return call->method; }

void rpcsrv_reply(rpcsrv_call *call, const void *data, size_t len) {
    grpc_slice_unref(call->reply);
    call->reply = len ? grpc_slice_from_copied_buffer(data, len) : grpc_empty_slice();
}

void rpcsrv_status(rpcsrv_call *call, int code, const char *fmt, ...) {
    /* Codes outside gRPC's 0..16 would reach the peer as garbage. */
    call->status = code >= GRPC_STATUS_OK && code <= GRPC_STATUS_UNAUTHENTICATED ? code
                                                                                : GRPC_STATUS_UNKNOWN;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(call->message, sizeof call->message, fmt, ap);
    va_end(ap);
}

/* ---- built-in handlers ---- */

/* grpc.health.v1.Health/Check: SERVING for the whole server ("") or for a
 * service of the table, NOT_FOUND otherwise (as the standard service does). */
static void health_check(rpcsrv_call *call, const uint8_t *req, size_t req_len, void *ud) {
    rpcsrv *s = ud;
    Grpc__Health__V1__HealthCheckRequest *in =
        grpc__health__v1__health_check_request__unpack(NULL, req_len, req);
    if (!in) {
        rpcsrv_status(call, GRPC_STATUS_INVALID_ARGUMENT, "cannot decode HealthCheckRequest");
        return;
    }
    const char *name = in->service ? in->service : "";
    if (*name && !service_known(s, name, strlen(name))) {
        rpcsrv_status(call, GRPC_STATUS_NOT_FOUND, "unknown service %.200s", name);
    } else {
        Grpc__Health__V1__HealthCheckResponse out = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
        out.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
        uint8_t buf[16];
        size_t n = grpc__health__v1__health_check_response__pack(&out, buf);
        rpcsrv_reply(call, buf, n);
    }
    grpc__health__v1__health_check_request__free_unpacked(in, NULL);
}

/* ---- serving one call ---- */

/* Starts a batch on a worker's call and waits for it. Returns 1 on success. */
static int run_batch(rpcsrv_worker *w, grpc_call *call, const grpc_op *ops, size_t n, void *tag) {
    if (grpc_call_start_batch(call, ops, n, tag, NULL) != GRPC_CALL_OK) return 0;
    grpc_event ev = cq_wait(w->cq);
    return ev.type == GRPC_OP_COMPLETE && ev.tag == tag && ev.success;
}

/* Copies a byte buffer into one malloc'd block (NUL-terminated, so that an
 * empty message has a non-NULL pointer). Returns NULL when out of memory. */
static uint8_t *buffer_copy(grpc_byte_buffer *bb, size_t *len) {
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb)) return NULL;
    grpc_slice all = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    *len = GRPC_SLICE_LENGTH(all);
    uint8_t *copy = malloc(*len + 1);
    if (copy) {
        memcpy(copy, GRPC_SLICE_START_PTR(all), *len);
        copy[*len] = 0;
    }
    grpc_slice_unref(all);
    return copy;
}

static void serve_call(rpcsrv_worker *w, grpc_call *call, const grpc_call_details *details,
                       const grpc_metadata_array *md) {
    rpcsrv *s = w->srv;
    size_t plen = GRPC_SLICE_LENGTH(details->method);
    char *method = malloc(plen + 1);
    grpc_byte_buffer *req_bb = NULL;
    if (!method) return; /* unref'ing the call cancels it */
    memcpy(method, GRPC_SLICE_START_PTR(details->method), plen);
    method[plen] = '\0';

    /* Batch A: take the request message. */
    grpc_op a[1];
    memset(a, 0, sizeof a);
    a[0].op = GRPC_OP_RECV_MESSAGE;
    a[0].data.recv_message.recv_message = &req_bb;
    if (!run_batch(w, call, a, 1, &TAG_BATCH_A)) {
        /* The client went away, the deadline passed, or the message was too
         * large (gRPC then answers RESOURCE_EXHAUSTED itself). */
        log_debug(NULL, "rpcsrv: %s: call ended before its request arrived", method);
        grpc_byte_buffer_destroy(req_bb);
        free(method);
        return;
    }

    rpcsrv_call c = {.srv = s, .method = method, .md = md, .reply = grpc_empty_slice(),
                     .status = GRPC_STATUS_OK};
    size_t req_len = 0;
    uint8_t *req = NULL;
    if (!req_bb) {
        /* NULL is "no message at all" (an empty message is a 0-byte buffer). */
        rpcsrv_status(&c, GRPC_STATUS_INTERNAL, "missing request message");
    } else if (!(req = buffer_copy(req_bb, &req_len))) {
        rpcsrv_status(&c, GRPC_STATUS_RESOURCE_EXHAUSTED, "cannot read the request message");
    } else {
        const rpcsrv_method_entry *m = method_find(s, method);
        if (m)
            m->handler(&c, req, req_len, m->ud);
        else if (strcmp(method, RPCSRV_HEALTH_PATH) == 0)
            health_check(&c, req, req_len, s);
        else
            rpcsrv_status(&c, GRPC_STATUS_UNIMPLEMENTED, "unknown method %.900s", method);
    }
    while (c.md_copies) {
        rpcsrv_md_copy *next = c.md_copies->next;
        free(c.md_copies);
        c.md_copies = next;
    }
    free(req);
    grpc_byte_buffer_destroy(req_bb);

    /* Batch B: the headers, the reply (only with OK, see the file comment),
     * the status, and the client's close. The headers wait for the reply so
     * that all of it leaves in one write: one system call and one wake-up of
     * the client fewer per call than headers sent on arrival. */
    grpc_slice details_slice = grpc_slice_from_copied_string(c.message);
    grpc_byte_buffer *reply_bb = NULL;
    grpc_op b[4];
    size_t nb = 0;
    int cancelled = 0;
    memset(b, 0, sizeof b);
    b[nb++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (c.status == GRPC_STATUS_OK) {
        reply_bb = grpc_raw_byte_buffer_create(&c.reply, 1);
        b[nb].op = GRPC_OP_SEND_MESSAGE;
        b[nb++].data.send_message.send_message = reply_bb;
    }
    b[nb].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    b[nb].data.send_status_from_server.status = (grpc_status_code)c.status;
    b[nb++].data.send_status_from_server.status_details = &details_slice;
    b[nb].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    b[nb++].data.recv_close_on_server.cancelled = &cancelled;
    if (!run_batch(w, call, b, nb, &TAG_BATCH_B))
        log_debug(NULL, "rpcsrv: %s: the reply could not be sent", method);
    else if (cancelled)
        log_debug(NULL, "rpcsrv: %s: the call was cancelled before the reply", method);
    grpc_byte_buffer_destroy(reply_bb);
    grpc_slice_unref(details_slice);
    grpc_slice_unref(c.reply);
    free(method);
}

static void *worker_main(void *arg) {
    rpcsrv_worker *w = arg;
    for (;;) {
        grpc_call *call = NULL;
        grpc_call_details details;
        grpc_metadata_array md;
        grpc_call_details_init(&details);
        grpc_metadata_array_init(&md);
        grpc_call_error rc = grpc_server_request_call(w->srv->server, &call, &details, &md,
                                                      w->cq, w->cq, &TAG_NEW);
        int ok = rc == GRPC_CALL_OK;
        if (!ok) log_error(NULL, "rpcsrv: a worker cannot request calls (error %d)", (int)rc);
        if (ok) {
            grpc_event ev = cq_wait(w->cq);
            /* A failed request means the server is shutting down. */
            ok = ev.type == GRPC_OP_COMPLETE && ev.tag == &TAG_NEW && ev.success;
        }
        if (ok) serve_call(w, call, &details, &md);
        if (call) grpc_call_unref(call);
        grpc_call_details_destroy(&details);
        grpc_metadata_array_destroy(&md);
        if (!ok) break;
    }
    return NULL;
}
