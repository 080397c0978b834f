/* rpccli.c: unary gRPC calls on the gRPC core C API. See rpccli.h.
 *
 * One channel per target, created on first use and kept until rpccli_free()
 * (a channel reconnects by itself, so a target that was down is reached again
 * later). Each call has its own pluck completion queue and runs as a single
 * batch of six operations: send metadata, message and close; receive the
 * headers, the message and the status. The call's deadline bounds the wait. */
#include "rpccli.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpcinit.h"

#define RPCCLI_MAX_TARGETS 256 /* distinct targets; a bound on channels and their sockets */
#define RPCCLI_MAX_MD 64       /* metadata pairs per call */
#define RPCCLI_STACK_MD 8      /* of which this many without a heap allocation */
#define RPCCLI_MAX_MESSAGE 1024
/* A restarted peer should be found again at once, not after gRPC's default
 * back-off (first retry after 1 s, growing by 1.6 up to two minutes): calls
 * fail fast while the channel waits, so every second of back-off after the
 * peer is back was a second of refused orders (4 s after a coordinator
 * restart in test_rolling_restart). A connection attempt a second to a peer
 * that stays down costs nothing worth saving. */
#define RPCCLI_FIRST_BACKOFF_MS 100
#define RPCCLI_MAX_BACKOFF_MS 1000
#define RPCCLI_CONNECT_TIMEOUT_MS 1000
/* Extra wait past the call's own deadline before the call is cancelled by
 * hand: gRPC enforces the deadline itself, this only guards against a stall. */
#define RPCCLI_SLACK_MS 5000

typedef struct {
    char *target;
    grpc_channel *channel;
} rpccli_channel;

struct rpccli {
    pthread_mutex_t mu; /* guards the channel table */
    size_t nchannels;
    rpccli_channel channels[RPCCLI_MAX_TARGETS];
};

/* Used when even a message cannot be allocated: message is never NULL. */
static char rpccli_oom_message[] = "out of memory";

rpccli *rpccli_new(void) {
    rpccli *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    pthread_mutex_init(&c->mu, NULL);
    rpc_init();
    return c;
}

void rpccli_free(rpccli *c) {
    if (!c) return;
    for (size_t i = 0; i < c->nchannels; i++) {
        grpc_channel_destroy(c->channels[i].channel);
        free(c->channels[i].target);
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
    grpc_shutdown();
}

/* The channel for `target`, created on first use; NULL when the table is
 * full or memory ran out. */
static grpc_channel *channel_get(rpccli *c, const char *target) {
    grpc_channel *ch = NULL;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nchannels && !ch; i++)
        if (strcmp(c->channels[i].target, target) == 0) ch = c->channels[i].channel;
    if (!ch && c->nchannels < RPCCLI_MAX_TARGETS) {
        char *copy = strdup(target);
        if (copy) {
            grpc_arg arg[] = {
                {.type = GRPC_ARG_INTEGER,
                 .key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
                 .value.integer = RPCCLI_FIRST_BACKOFF_MS},
                {.type = GRPC_ARG_INTEGER,
                 .key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                 .value.integer = RPCCLI_MAX_BACKOFF_MS},
                {.type = GRPC_ARG_INTEGER,
                 .key = GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
                 .value.integer = RPCCLI_CONNECT_TIMEOUT_MS},
                {.type = GRPC_ARG_INTEGER,
                 .key = GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS,
                 .value.integer = RPCCLI_FIRST_BACKOFF_MS},
            };
            grpc_channel_args args = {sizeof arg / sizeof arg[0], arg};
            grpc_channel_credentials *creds = grpc_insecure_credentials_create();
            ch = grpc_channel_create(target, creds, &args);
            grpc_channel_credentials_release(creds);
            c->channels[c->nchannels++] = (rpccli_channel){copy, ch};
        }
    }
    pthread_mutex_unlock(&c->mu);
    return ch;
}

/* ---- results ---- */

static char *copy_message(const char *data, size_t len) {
    if (len > RPCCLI_MAX_MESSAGE) len = RPCCLI_MAX_MESSAGE;
    char *m = malloc(len + 1);
    if (!m) return rpccli_oom_message;
    memcpy(m, data, len);
    m[len] = '\0';
    return m;
}

/* Fills *out with a local failure (nothing was sent or nothing came back). */
static int fail(rpccli_result *out, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(rpccli_result *out, int status, const char *fmt, ...) {
    char buf[RPCCLI_MAX_MESSAGE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    out->status = status;
    out->message = copy_message(buf, strlen(buf));
    return status;
}

void rpccli_result_free(rpccli_result *r) {
    if (!r) return;
    if (r->message != rpccli_oom_message) free(r->message);
    free(r->reply);
    r->message = NULL;
    r->reply = NULL;
    r->reply_len = 0;
}

/* Copies a received message into out->reply (non-NULL even when empty, so
 * that "an empty message" differs from "no message"). */
static void take_reply(grpc_byte_buffer *bb, rpccli_result *out) {
    grpc_byte_buffer_reader r;
    if (!bb || !grpc_byte_buffer_reader_init(&r, bb)) return;
    grpc_slice all = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    size_t len = GRPC_SLICE_LENGTH(all);
    out->reply = malloc(len ? len : 1);
    if (out->reply) {
        memcpy(out->reply, GRPC_SLICE_START_PTR(all), len);
        out->reply_len = len;
    }
    grpc_slice_unref(all);
}

/* ---- the call ---- */

/* 1 when a metadata pair is legal for gRPC: a key of [a-z0-9._-] (lowercase),
 * and, unless the key ends in "-bin", a printable ASCII value. Checked here so
 * that the caller gets a message naming the key. */
static int md_legal(const rpc_md *m) {
    if (!m->key || !*m->key || !m->value) return 0;
    for (const char *p = m->key; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
              *p == '-'))
            return 0;
    size_t klen = strlen(m->key);
    if (klen > 4 && strcmp(m->key + klen - 4, "-bin") == 0) return 1;
    for (const char *p = m->value; *p; p++)
        if (*p < ' ' || *p > '~') return 0;
    return 1;
}

int rpccli_call(rpccli *c, const char *target, const char *method, const rpc_md *md,
                size_t nmd, const void *req, size_t req_len, int timeout_ms,
                rpccli_result *out) {
    memset(out, 0, sizeof *out);
    if (!target || !*target) return fail(out, GRPC_STATUS_INVALID_ARGUMENT, "empty target");
    if (!method || method[0] != '/')
        return fail(out, GRPC_STATUS_INVALID_ARGUMENT, "bad method path \"%.200s\"",
                    method ? method : "");
    if (nmd > RPCCLI_MAX_MD)
        return fail(out, GRPC_STATUS_INVALID_ARGUMENT, "too many metadata pairs (%zu)", nmd);
    if (!req && req_len) return fail(out, GRPC_STATUS_INVALID_ARGUMENT, "no request bytes");
    for (size_t i = 0; i < nmd; i++)
        if (!md_legal(&md[i]))
            return fail(out, GRPC_STATUS_INVALID_ARGUMENT, "invalid metadata key \"%.100s\"",
                        md[i].key ? md[i].key : "");
    grpc_channel *ch = channel_get(c, target);
    if (!ch) return fail(out, GRPC_STATUS_UNAVAILABLE, "too many targets (%d)", RPCCLI_MAX_TARGETS);
    /* The usual few pairs (a branch call carries 5) stay on the stack, so that
     * the gRPC core running below this frame does not sink deeper into the
     * callers' thread stacks; more go to the heap. */
    grpc_metadata mds_stack[RPCCLI_STACK_MD];
    grpc_metadata *mds = nmd <= RPCCLI_STACK_MD ? mds_stack : calloc(nmd, sizeof *mds);
    if (!mds) return fail(out, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory for metadata");

    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                         gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    grpc_slice method_slice = grpc_slice_from_copied_string(method);
    grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method_slice,
                                               NULL, deadline, NULL);
    grpc_slice_unref(method_slice);

    /* The metadata and the request are copied into slices that the call may
     * keep referencing until it is destroyed. */
    for (size_t i = 0; i < nmd; i++) {
        memset(&mds[i], 0, sizeof mds[i]);
        mds[i].key = grpc_slice_from_copied_string(md[i].key);
        mds[i].value = grpc_slice_from_copied_string(md[i].value);
    }
    grpc_slice req_slice = grpc_slice_from_copied_buffer(req ? req : "", req_len);
    grpc_byte_buffer *req_bb = grpc_raw_byte_buffer_create(&req_slice, 1);
    grpc_slice_unref(req_slice);

    grpc_metadata_array initial_md, trailing_md;
    grpc_metadata_array_init(&initial_md);
    grpc_metadata_array_init(&trailing_md);
    grpc_byte_buffer *resp_bb = NULL;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    const char *error_string = NULL;

    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = nmd;
    ops[0].data.send_initial_metadata.metadata = nmd ? mds : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = req_bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &resp_bb;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    ops[5].data.recv_status_on_client.error_string = &error_string;

    grpc_call_error rc = grpc_call_start_batch(call, ops, 6, ops, NULL);
    if (rc != GRPC_CALL_OK) {
        /* Metadata gRPC still refuses (for example a reserved key). */
        if (rc == GRPC_CALL_ERROR_INVALID_METADATA)
            fail(out, GRPC_STATUS_INVALID_ARGUMENT, "invalid metadata for %s", method);
        else
            fail(out, GRPC_STATUS_INTERNAL, "cannot start the call %s (error %d)", method, (int)rc);
    } else {
        gpr_timespec limit = gpr_time_add(deadline, gpr_time_from_millis(RPCCLI_SLACK_MS, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_pluck(cq, ops, limit, NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT) {
            grpc_call_cancel(call, NULL);
            ev = grpc_completion_queue_pluck(cq, ops, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        }
        /* The receive-status op always completes with the final status, so
         * the status is meaningful even if the batch reports failure. */
        out->status = (int)status;
        size_t dlen = GRPC_SLICE_LENGTH(details);
        if (dlen || !error_string || status == GRPC_STATUS_OK)
            out->message = copy_message((const char *)GRPC_SLICE_START_PTR(details), dlen);
        else
            out->message = copy_message(error_string, strlen(error_string));
        take_reply(resp_bb, out);
    }

    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
    grpc_byte_buffer_destroy(req_bb);
    grpc_byte_buffer_destroy(resp_bb);
    grpc_slice_unref(details);
    gpr_free((void *)error_string);
    grpc_metadata_array_destroy(&initial_md);
    grpc_metadata_array_destroy(&trailing_md);
    for (size_t i = 0; i < nmd; i++) {
        grpc_slice_unref(mds[i].key);
        grpc_slice_unref(mds[i].value);
    }
    if (mds != mds_stack) free(mds);
    return out->status;
}
