/* main.c: probe, a tiny health checker for container healthchecks (the
 * Docker images have no curl and no grpcurl, on purpose: see Dockerfile).
 *
 *   probe [-t MS] grpc HOST:PORT [SERVICE]
 *       calls grpc.health.v1.Health/Check (SERVICE defaults to "", the whole
 *       server) and succeeds only when the answer is SERVING;
 *   probe [-t MS] http URL
 *       sends GET URL (plain http://) and succeeds only on status 200.
 *
 * -t is the deadline of the one call, in milliseconds (default 2000).
 * It prints one line: what it saw on success (stdout), why it failed
 * (stderr), so that `docker inspect` shows a useful health log.
 * Exit status: 0 healthy, 1 unhealthy or unreachable, 2 bad command line. */
#include <grpc/status.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health.pb-c.h"
#include "httpcli.h"
#include "rpccli.h"

#define PROG "probe"
#define DEFAULT_TIMEOUT_MS 2000
#define HEALTH_CHECK_PATH "/grpc.health.v1.Health/Check"
#define MAX_SERVICE_LEN 200 /* a service name is a short "pkg.Svc" */

static int usage(void) {
    fprintf(stderr, "usage: " PROG " [-t MS] grpc HOST:PORT [SERVICE]\n"
                    "       " PROG " [-t MS] http URL\n");
    return 2;
}

/* Asks target's health service about `service`. Returns 0 when SERVING. */
static int probe_grpc(const char *target, const char *service, int timeout_ms) {
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)service;
    uint8_t buf[MAX_SERVICE_LEN + 16];
    size_t len = grpc__health__v1__health_check_request__pack(&req, buf);

    rpccli *c = rpccli_new();
    if (!c) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    rpccli_result r;
    rpccli_call(c, target, HEALTH_CHECK_PATH, NULL, 0, buf, len, timeout_ms, &r);
    int rc = 1;
    if (r.status != GRPC_STATUS_OK) {
        fprintf(stderr, PROG ": %s %s: gRPC status %d: %s\n", target, HEALTH_CHECK_PATH,
                r.status, r.message);
    } else {
        Grpc__Health__V1__HealthCheckResponse *resp =
            grpc__health__v1__health_check_response__unpack(NULL, r.reply_len, r.reply);
        if (!resp) {
            fprintf(stderr, PROG ": %s: cannot decode the HealthCheckResponse\n", target);
        } else if (resp->status != GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING) {
            fprintf(stderr, PROG ": %s: service \"%s\" is not serving (status %d)\n", target,
                    service, (int)resp->status);
        } else {
            printf("%s: SERVING\n", target);
            rc = 0;
        }
        if (resp) grpc__health__v1__health_check_response__free_unpacked(resp, NULL);
    }
    rpccli_result_free(&r);
    rpccli_free(c);
    return rc;
}

/* GETs url. Returns 0 on status 200. */
static int probe_http(const char *url, int timeout_ms) {
    httpcli_resp resp;
    char err[256];
    if (httpcli_request("GET", url, NULL, NULL, 0, timeout_ms, &resp, err, sizeof err) != 0) {
        fprintf(stderr, PROG ": GET %s: %s\n", url, err);
        return 1;
    }
    int rc = resp.status == 200 ? 0 : 1;
    if (rc == 0)
        printf("GET %s: 200\n", url);
    else
        fprintf(stderr, PROG ": GET %s: status %d: %.200s\n", url, resp.status, resp.body);
    httpcli_resp_free(&resp);
    httpcli_close_idle();
    return rc;
}

int main(int argc, char **argv) {
    int i = 1, timeout_ms = DEFAULT_TIMEOUT_MS;
    if (i + 1 < argc && strcmp(argv[i], "-t") == 0) {
        char *end;
        long v = strtol(argv[i + 1], &end, 10);
        if (*end || v < 1 || v > 600000) {
            fprintf(stderr, PROG ": -t: '%s' is not a number of milliseconds (1..600000)\n",
                    argv[i + 1]);
            return 2;
        }
        timeout_ms = (int)v;
        i += 2;
    }
    if (argc - i < 2) return usage();
    const char *kind = argv[i], *where = argv[i + 1];
    if (strcmp(kind, "grpc") == 0 && argc - i <= 3) {
        const char *service = argc - i == 3 ? argv[i + 2] : "";
        if (strlen(service) > MAX_SERVICE_LEN) {
            fprintf(stderr, PROG ": service name longer than %d bytes\n", MAX_SERVICE_LEN);
            return 2;
        }
        return probe_grpc(where, service, timeout_ms);
    }
    if (strcmp(kind, "http") == 0 && argc - i == 2) return probe_http(where, timeout_ms);
    return usage();
}
