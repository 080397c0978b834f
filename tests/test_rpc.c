/* test_rpc.c: the unary gRPC server (rpcsrv) and client (rpccli) against each
 * other, in one process: what a caller observes as statuses, messages, reply
 * bytes, metadata, deadlines, concurrency and an orderly stop. */
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "health.pb-c.h"
#include "rpccli.h"
#include "rpcsrv.h"

#define HEALTH "/grpc.health.v1.Health/Check"

/* ---- test handlers ---- */

static atomic_int slow_started; /* slow handlers (test.Slow) that have begun */

static void h_echo(rpcsrv_call *call, const uint8_t *req, size_t len, void *ud) {
    (void)ud;
    rpcsrv_reply(call, req, len);
}

/* Replies "<dtm-gid>|<trans_type>|<absent key>|<method>". */
static void h_meta(rpcsrv_call *call, const uint8_t *req, size_t len, void *ud) {
    (void)req, (void)len, (void)ud;
    const char *gid = rpcsrv_metadata(call, "dtm-gid");
    const char *tt = rpcsrv_metadata(call, "dtm-trans_type");
    const char *none = rpcsrv_metadata(call, "no-such-key");
    const char *again = rpcsrv_metadata(call, "dtm-gid"); /* repeated lookups are fine */
    char buf[512];
    snprintf(buf, sizeof buf, "%s|%s|%s|%s|%d", gid ? gid : "(null)", tt ? tt : "(null)",
             none ? none : "(null)", rpcsrv_method(call), again == gid);
    rpcsrv_reply(call, buf, strlen(buf));
}

/* A failed business check, as the stock service answers it. The reply set
 * before is dropped: with an error status there is no message. */
static void h_fail(rpcsrv_call *call, const uint8_t *req, size_t len, void *ud) {
    (void)req, (void)len, (void)ud;
    rpcsrv_reply(call, "ignored", 7);
    rpcsrv_status(call, GRPC_STATUS_ABORTED, "FAILURE");
}

/* Answers OK with an empty message; reports a non-empty request as an error. */
static void h_empty(rpcsrv_call *call, const uint8_t *req, size_t len, void *ud) {
    (void)ud;
    if (!req || len != 0) rpcsrv_status(call, GRPC_STATUS_INVALID_ARGUMENT, "want an empty request");
}

/* Sleeps the number of milliseconds in ud, then echoes. */
static void h_slow(rpcsrv_call *call, const uint8_t *req, size_t len, void *ud) {
    atomic_fetch_add(&slow_started, 1);
    h_sleep_ms((int)(intptr_t)ud);
    rpcsrv_reply(call, req, len);
}

/* ---- helpers ---- */

static rpcsrv *start_server(int nthreads, int *port) {
    char err[256] = "";
    rpcsrv *s = rpcsrv_new("127.0.0.1:0", nthreads, err, sizeof err);
    CHECK(s != NULL);
    if (!s) return NULL;
    CHECK_EQ_INT(rpcsrv_add(s, "/test.Echo/echo", h_echo, NULL), 0);
    CHECK_EQ_INT(rpcsrv_add(s, "/test.Echo/meta", h_meta, NULL), 0);
    CHECK_EQ_INT(rpcsrv_add(s, "/test.Echo/fail", h_fail, NULL), 0);
    CHECK_EQ_INT(rpcsrv_add(s, "/test.Echo/empty", h_empty, NULL), 0);
    CHECK_EQ_INT(rpcsrv_add(s, "/test.Slow/s200", h_slow, (void *)(intptr_t)200), 0);
    CHECK_EQ_INT(rpcsrv_add(s, "/test.Slow/s500", h_slow, (void *)(intptr_t)500), 0);
    CHECK_EQ_INT(rpcsrv_add(s, "/test.Slow/s1500", h_slow, (void *)(intptr_t)1500), 0);
    CHECK_EQ_INT(rpcsrv_port(s), 0);
    if (rpcsrv_start(s, err, sizeof err) != 0) {
        fprintf(stderr, "rpcsrv_start: %s\n", err);
        CHECK(0);
    }
    *port = rpcsrv_port(s);
    CHECK(*port > 0);
    return s;
}

/* Calls `method` on 127.0.0.1:port. */
static int call(rpccli *c, int port, const char *method, const rpc_md *md, size_t nmd,
                const void *req, size_t len, int timeout_ms, rpccli_result *r) {
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", port);
    return rpccli_call(c, target, method, md, nmd, req, len, timeout_ms, r);
}

/* Health check of `service`; returns the gRPC status, *serving = the answer. */
static int health(rpccli *c, int port, const char *service, int *serving) {
    Grpc__Health__V1__HealthCheckRequest in = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    in.service = (char *)service;
    uint8_t buf[256];
    size_t n = grpc__health__v1__health_check_request__pack(&in, buf);
    rpccli_result r;
    int st = call(c, port, HEALTH, NULL, 0, buf, n, 2000, &r);
    *serving = -1;
    if (st == GRPC_STATUS_OK && r.reply) {
        Grpc__Health__V1__HealthCheckResponse *out =
            grpc__health__v1__health_check_response__unpack(NULL, r.reply_len, r.reply);
        CHECK(out != NULL);
        if (out) {
            *serving = out->status;
            grpc__health__v1__health_check_response__free_unpacked(out, NULL);
        }
    }
    rpccli_result_free(&r);
    return st;
}

/* The SETTINGS_MAX_CONCURRENT_STREAMS the server at port announces, read
 * off the wire as any HTTP/2 client sees it: send the client preface and an
 * empty SETTINGS frame, then parse the server's first SETTINGS frame.
 * -1 when it announces none (unlimited) or nothing valid came within 5 s. */
static long announced_max_streams(int port) {
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                  "\0\0\0\4\0\0\0\0\0"; /* + SETTINGS, empty */
    int fd = h_connect(port);
    if (fd < 0) return -1;
    long found = -1;
    unsigned char buf[512];
    size_t got = 0;
    long long deadline = h_now_ms() + 5000;
    if (send(fd, preface, sizeof preface - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof preface - 1)) {
        while (h_now_ms() < deadline && got < sizeof buf) {
            struct pollfd p = {fd, POLLIN, 0};
            if (poll(&p, 1, 100) <= 0) continue;
            ssize_t n = recv(fd, buf + got, sizeof buf - got, 0);
            if (n <= 0) break;
            got += (size_t)n;
            if (got < 9) continue;
            size_t len = (size_t)buf[0] << 16 | (size_t)buf[1] << 8 | buf[2];
            if (buf[3] != 4 || len % 6 != 0 || 9 + len > sizeof buf) break; /* not SETTINGS */
            if (got < 9 + len) continue;
            for (size_t i = 9; i < 9 + len; i += 6)
                if ((buf[i] << 8 | buf[i + 1]) == 3) /* SETTINGS_MAX_CONCURRENT_STREAMS */
                    found = (long)buf[i + 2] << 24 | (long)buf[i + 3] << 16 | buf[i + 4] << 8 |
                            buf[i + 5];
            break;
        }
    }
    close(fd);
    return found;
}

/* ---- steps ---- */

static void test_contracts(void) {
    h_step("rpcsrv_rejects_bad_arguments");
    char err[256] = "";
    CHECK(rpcsrv_new("127.0.0.1:0", 0, err, sizeof err) == NULL);
    CHECK(strstr(err, "thread") != NULL);
    CHECK(rpcsrv_new("127.0.0.1:0", 257, err, sizeof err) == NULL);
    CHECK(rpcsrv_new("", 1, err, sizeof err) == NULL);
    rpcsrv *s = rpcsrv_new("127.0.0.1:0", 1, err, sizeof err);
    CHECK(s != NULL);
    if (!s) return;
    CHECK_EQ_INT(rpcsrv_add(s, "/pb.stock/deduct", h_echo, NULL), 0);
    CHECK_EQ_INT(rpcsrv_add(s, "/pb.stock/deduct", h_echo, NULL), -1); /* already there */
    CHECK_EQ_INT(rpcsrv_add(s, "pb.stock/deduct", h_echo, NULL), -1);
    CHECK_EQ_INT(rpcsrv_add(s, "/pb.stock/", h_echo, NULL), -1);
    CHECK_EQ_INT(rpcsrv_add(s, "/pb.stock", h_echo, NULL), -1);
    CHECK_EQ_INT(rpcsrv_add(s, "//deduct", h_echo, NULL), -1);
    CHECK_EQ_INT(rpcsrv_add(s, "/pb.stock/a/b", h_echo, NULL), -1);
    CHECK_EQ_INT(rpcsrv_add(s, "/pb.stock/de duct", h_echo, NULL), -1);
    rpcsrv_free(s); /* never started */

    h_step("rpcsrv_reports_a_port_in_use");
    int port = 0;
    rpcsrv *a = start_server(1, &port);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    rpcsrv *b = rpcsrv_new(addr, 1, err, sizeof err);
    CHECK(b != NULL);
    if (b) {
        CHECK_EQ_INT(rpcsrv_start(b, err, sizeof err), -1);
        CHECK(strstr(err, "cannot bind") != NULL);
        rpcsrv_free(b);
    }
    h_step("server_announces_its_stream_bound: 2 per worker, at least 8");
    CHECK_EQ_INT(announced_max_streams(port), 8); /* 1 worker: the minimum */
    rpcsrv_stop(a, 1000);
    rpcsrv_free(a);
}

static void test_calls(rpccli *c, int port) {
    rpccli_result r;

    h_step("echo_round_trips_bytes");
    const uint8_t bytes[] = {0x0a, 0x00, 0xff, 0x10, 'x', 0x00};
    CHECK_EQ_INT(call(c, port, "/test.Echo/echo", NULL, 0, bytes, sizeof bytes, 2000, &r), 0);
    CHECK_EQ_INT(r.reply_len, sizeof bytes);
    CHECK(r.reply && memcmp(r.reply, bytes, sizeof bytes) == 0);
    CHECK(r.message != NULL);
    rpccli_result_free(&r);

    h_step("metadata_arrives");
    rpc_md md[] = {{"dtm-gid", "gid-123"}, {"dtm-trans_type", "saga"}};
    CHECK_EQ_INT(call(c, port, "/test.Echo/meta", md, 2, "", 0, 2000, &r), 0);
    const char *want = "gid-123|saga|(null)|/test.Echo/meta|1";
    CHECK(r.reply && r.reply_len == strlen(want) && memcmp(r.reply, want, r.reply_len) == 0);
    rpccli_result_free(&r);

    h_step("more_metadata_than_the_stack_holds_arrives");
    rpc_md many[12];
    char keys[10][8];
    for (int i = 0; i < 10; i++) {
        snprintf(keys[i], sizeof keys[i], "x-k%d", i);
        many[i] = (rpc_md){keys[i], "v"};
    }
    many[10] = (rpc_md){"dtm-trans_type", "msg"};
    many[11] = (rpc_md){"dtm-gid", "gid-many"};
    CHECK_EQ_INT(call(c, port, "/test.Echo/meta", many, 12, "", 0, 2000, &r), 0);
    want = "gid-many|msg|(null)|/test.Echo/meta|1";
    CHECK(r.reply && r.reply_len == strlen(want) && memcmp(r.reply, want, r.reply_len) == 0);
    rpccli_result_free(&r);

    h_step("aborted_arrives_with_its_message");
    CHECK_EQ_INT(call(c, port, "/test.Echo/fail", NULL, 0, "x", 1, 2000, &r), GRPC_STATUS_ABORTED);
    CHECK_EQ_INT(r.status, 10);
    CHECK_EQ_STR(r.message, "FAILURE");
    CHECK(r.reply == NULL); /* no message with an error status, as grpc-go */
    rpccli_result_free(&r);

    h_step("empty_reply_is_zero_bytes");
    CHECK_EQ_INT(call(c, port, "/test.Echo/empty", NULL, 0, NULL, 0, 2000, &r), 0);
    CHECK(r.reply != NULL);
    CHECK_EQ_INT(r.reply_len, 0);
    rpccli_result_free(&r);

    h_step("unknown_method_is_unimplemented");
    CHECK_EQ_INT(call(c, port, "/test.Echo/nope", NULL, 0, "", 0, 2000, &r), 12);
    CHECK(strstr(r.message, "unknown method /test.Echo/nope") != NULL);
    rpccli_result_free(&r);

    h_step("health_check");
    int serving = -1;
    CHECK_EQ_INT(health(c, port, "", &serving), 0);
    CHECK_EQ_INT(serving, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    CHECK_EQ_INT(health(c, port, "test.Slow", &serving), 0);
    CHECK_EQ_INT(serving, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    CHECK_EQ_INT(health(c, port, "test.Nope", &serving), GRPC_STATUS_NOT_FOUND);
    CHECK_EQ_INT(health(c, port, "test", &serving), GRPC_STATUS_NOT_FOUND);

    h_step("oversized_request_is_refused");
    size_t big = 5u * 1024 * 1024;
    uint8_t *buf = calloc(1, big);
    CHECK(buf != NULL);
    if (buf) {
        CHECK_EQ_INT(call(c, port, "/test.Echo/echo", NULL, 0, buf, big, 5000, &r),
                     GRPC_STATUS_RESOURCE_EXHAUSTED);
        rpccli_result_free(&r);
        /* 4 MiB minus framing room still passes. */
        size_t ok = 4u * 1024 * 1024 - 64;
        CHECK_EQ_INT(call(c, port, "/test.Echo/echo", NULL, 0, buf, ok, 5000, &r), 0);
        CHECK_EQ_INT(r.reply_len, ok);
        rpccli_result_free(&r);
        free(buf);
    }

    h_step("bad_client_arguments");
    rpc_md upper[] = {{"Dtm-Gid", "x"}};
    CHECK_EQ_INT(call(c, port, "/test.Echo/echo", upper, 1, "", 0, 2000, &r),
                 GRPC_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(r.message, "Dtm-Gid") != NULL);
    rpccli_result_free(&r);
    rpc_md newline[] = {{"dtm-gid", "a\nb"}};
    CHECK_EQ_INT(call(c, port, "/test.Echo/echo", newline, 1, "", 0, 2000, &r),
                 GRPC_STATUS_INVALID_ARGUMENT);
    rpccli_result_free(&r);
    CHECK_EQ_INT(call(c, port, "test.Echo/echo", NULL, 0, "", 0, 2000, &r),
                 GRPC_STATUS_INVALID_ARGUMENT);
    CHECK(r.message && *r.message);
    rpccli_result_free(&r);
    CHECK_EQ_INT(rpccli_call(c, "", "/test.Echo/echo", NULL, 0, "", 0, 2000, &r),
                 GRPC_STATUS_INVALID_ARGUMENT);
    rpccli_result_free(&r);
}

/* A raw gRPC core call that sends no request message at all. */
static void test_missing_message(int port) {
    h_step("missing_request_message_is_an_error");
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", port);
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create(target, creds, NULL);
    grpc_channel_credentials_release(creds);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                         gpr_time_from_millis(2000, GPR_TIMESPAN));
    grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                               grpc_slice_from_static_string("/test.Echo/echo"),
                                               NULL, deadline, NULL);
    grpc_metadata_array imd, tmd;
    grpc_metadata_array_init(&imd);
    grpc_metadata_array_init(&tmd);
    grpc_byte_buffer *resp = NULL;
    grpc_status_code status = GRPC_STATUS_OK;
    grpc_slice details = grpc_empty_slice();
    const char *errstr = NULL;
    grpc_op ops[5];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[2].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[2].data.recv_initial_metadata.recv_initial_metadata = &imd;
    ops[3].op = GRPC_OP_RECV_MESSAGE;
    ops[3].data.recv_message.recv_message = &resp;
    ops[4].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[4].data.recv_status_on_client.trailing_metadata = &tmd;
    ops[4].data.recv_status_on_client.status = &status;
    ops[4].data.recv_status_on_client.status_details = &details;
    ops[4].data.recv_status_on_client.error_string = &errstr;
    CHECK_EQ_INT(grpc_call_start_batch(call, ops, 5, ops, NULL), GRPC_CALL_OK);
    grpc_event ev = grpc_completion_queue_pluck(cq, ops, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    CHECK_EQ_INT(ev.type, GRPC_OP_COMPLETE);
    CHECK_EQ_INT(status, GRPC_STATUS_INTERNAL);
    CHECK_EQ_INT(grpc_slice_str_cmp(details, "missing request message"), 0);
    CHECK(resp == NULL);
    grpc_byte_buffer_destroy(resp);
    grpc_slice_unref(details);
    gpr_free((void *)errstr);
    grpc_metadata_array_destroy(&imd);
    grpc_metadata_array_destroy(&tmd);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
    grpc_channel_destroy(ch);
}

/* One client call on its own thread. */
typedef struct {
    rpccli *c;
    int port;
    const char *method;
    int timeout_ms;
    int status;
    size_t reply_len;
    long long done_ms;
    pthread_t th;
} async_call;

static void *async_main(void *arg) {
    async_call *a = arg;
    rpccli_result r;
    a->status = call(a->c, a->port, a->method, NULL, 0, "abc", 3, a->timeout_ms, &r);
    a->reply_len = r.reply_len;
    a->done_ms = h_now_ms();
    rpccli_result_free(&r);
    return NULL;
}

static void async_start(async_call *a, rpccli *c, int port, const char *method, int timeout_ms) {
    *a = (async_call){.c = c, .port = port, .method = method, .timeout_ms = timeout_ms, .status = -1};
    CHECK_EQ_INT(pthread_create(&a->th, NULL, async_main, a), 0);
}

/* Polls until `n` slow handlers have started (or 3 s pass). */
static int wait_started(int n) {
    long long end = h_now_ms() + 3000;
    while (atomic_load(&slow_started) < n && h_now_ms() < end) h_sleep_ms(5);
    return atomic_load(&slow_started) >= n;
}

static void test_timing(rpccli *c, int port) {
    h_step("eight_calls_run_concurrently_on_eight_workers");
    async_call a[8];
    long long t0 = h_now_ms();
    for (int i = 0; i < 8; i++) async_start(&a[i], c, port, "/test.Slow/s200", 5000);
    long long last = t0;
    for (int i = 0; i < 8; i++) {
        pthread_join(a[i].th, NULL);
        CHECK_EQ_INT(a[i].status, 0);
        CHECK_EQ_INT(a[i].reply_len, 3);
        if (a[i].done_ms > last) last = a[i].done_ms;
    }
    printf("   8 x 200 ms calls took %lld ms\n", last - t0);
    CHECK(last - t0 < 1000);
    rpccli_result r;

    h_step("calls_beyond_the_workers_wait_their_turn");
    async_call b[12];
    t0 = h_now_ms();
    for (int i = 0; i < 12; i++) async_start(&b[i], c, port, "/test.Slow/s200", 5000);
    last = t0;
    for (int i = 0; i < 12; i++) {
        pthread_join(b[i].th, NULL);
        CHECK_EQ_INT(b[i].status, 0);
        if (b[i].done_ms > last) last = b[i].done_ms;
    }
    printf("   12 x 200 ms calls on 8 workers took %lld ms\n", last - t0);
    CHECK(last - t0 >= 390 && last - t0 < 1500);

    /* The server lets one connection open 2 streams per worker (16 here,
     * as it announces); the 24 calls past that are queued, not refused. */
    h_step("calls_beyond_the_stream_bound_are_queued_not_refused");
    CHECK_EQ_INT(announced_max_streams(port), 16);
    async_call q[40];
    t0 = h_now_ms();
    for (int i = 0; i < 40; i++) async_start(&q[i], c, port, "/test.Slow/s200", 8000);
    last = t0;
    int ok = 0;
    for (int i = 0; i < 40; i++) {
        pthread_join(q[i].th, NULL);
        ok += q[i].status == 0 && q[i].reply_len == 3;
        if (q[i].done_ms > last) last = q[i].done_ms;
    }
    printf("   40 x 200 ms calls on one connection, 8 workers: %d ok in %lld ms\n", ok, last - t0);
    CHECK_EQ_INT(ok, 40);
    CHECK(last - t0 >= 990 && last - t0 < 4000);

    h_step("many_sequential_calls");
    t0 = h_now_ms();
    int bad = 0;
    for (int i = 0; i < 2000; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof msg, "call %d", i);
        if (call(c, port, "/test.Echo/echo", NULL, 0, msg, (size_t)n, 2000, &r) != 0 ||
            r.reply_len != (size_t)n || memcmp(r.reply, msg, (size_t)n) != 0)
            bad++;
        rpccli_result_free(&r);
    }
    CHECK_EQ_INT(bad, 0);
    printf("   2000 sequential calls took %lld ms\n", h_now_ms() - t0);

    h_step("deadline_exceeded");
    t0 = h_now_ms();
    CHECK_EQ_INT(call(c, port, "/test.Slow/s500", NULL, 0, "", 0, 50, &r), 4);
    CHECK(h_now_ms() - t0 < 400);
    CHECK(r.message != NULL);
    rpccli_result_free(&r);

    h_step("no_server_is_unavailable");
    int dead = h_free_port();
    CHECK_EQ_INT(call(c, dead, "/test.Echo/echo", NULL, 0, "", 0, 2000, &r), 14);
    CHECK(r.message && *r.message);
    rpccli_result_free(&r);

    h_step("targets_are_bounded");
    rpccli *small = rpccli_new();
    int refused = 0;
    for (int i = 0; i < 256; i++) {
        char target[64];
        /* 256 loopback addresses where nothing listens on that port */
        snprintf(target, sizeof target, "127.0.%d.%d:%d", i / 250, i % 250 + 1, dead);
        refused += rpccli_call(small, target, "/test.Echo/echo", NULL, 0, "", 0, 2000, &r) == 14;
        rpccli_result_free(&r);
    }
    CHECK_EQ_INT(refused, 256);
    CHECK_EQ_INT(rpccli_call(small, "127.0.0.1:1", "/test.Echo/echo", NULL, 0, "", 0, 2000, &r), 14);
    CHECK(strstr(r.message, "too many targets") != NULL);
    rpccli_result_free(&r);
    CHECK_EQ_INT(call(small, port, "/test.Echo/echo", NULL, 0, "x", 1, 2000, &r), 14);
    rpccli_result_free(&r);
    rpccli_free(small);
}

static void test_stop(rpccli *c) {
    h_step("stop_lets_a_call_in_flight_finish");
    int port = 0;
    rpcsrv *s = start_server(2, &port);
    if (!s) return;
    atomic_store(&slow_started, 0);
    async_call a;
    async_start(&a, c, port, "/test.Slow/s500", 5000);
    CHECK(wait_started(1));
    long long t0 = h_now_ms();
    rpcsrv_stop(s, 3000);
    long long took = h_now_ms() - t0;
    pthread_join(a.th, NULL);
    printf("   stop took %lld ms\n", took);
    CHECK_EQ_INT(a.status, 0);
    CHECK_EQ_INT(a.reply_len, 3);
    CHECK(took < 3000);
    rpcsrv_stop(s, 3000); /* a second stop is harmless */
    rpccli_result r;
    CHECK_EQ_INT(call(c, port, "/test.Echo/echo", NULL, 0, "", 0, 2000, &r), 14);
    rpccli_result_free(&r);
    rpcsrv_free(s);

    h_step("stop_cancels_calls_after_the_grace_period");
    s = start_server(2, &port);
    if (!s) return;
    atomic_store(&slow_started, 0);
    async_start(&a, c, port, "/test.Slow/s1500", 5000);
    CHECK(wait_started(1));
    t0 = h_now_ms();
    rpcsrv_stop(s, 200);
    took = h_now_ms() - t0;
    pthread_join(a.th, NULL);
    printf("   stop took %lld ms; the client got status %d\n", took, a.status);
    CHECK(a.status != 0);
    CHECK(a.done_ms - t0 < 1000); /* the client hears at the end of the grace period */
    CHECK(took < 2500);           /* the worker is joined once its handler returns */
    rpcsrv_free(s);
}

int main(void) {
    test_contracts();

    int port = 0;
    rpcsrv *s = start_server(8, &port);
    rpccli *c = rpccli_new();
    CHECK(c != NULL);
    if (s && c) {
        test_calls(c, port);
        test_missing_message(port);
        test_timing(c, port);
        rpcsrv_stop(s, 2000);
    }
    rpcsrv_free(s);
    if (c) test_stop(c);
    rpccli_free(c);
    return h_finish("test_rpc");
}
