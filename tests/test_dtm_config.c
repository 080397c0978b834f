/* test_dtm_config.c: the coordinator's configuration (dtm/config.c): the
 * defaults a user gets from an empty conf.yml, and the errors that name the
 * key when a value is wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "harness.h"

/* Loads yaml as a conf.yml; returns dtm_config_load's result. */
static int load(const char *yaml, dtm_config *cfg, char *err, size_t errlen) {
    char *path = h_write_temp(".yml", yaml);
    int rc = path ? dtm_config_load(path, cfg, err, errlen) : -2;
    if (path) unlink(path);
    free(path);
    return rc;
}

static void thread_counts_default_to_64_and_are_bounded(void) {
    h_step("thread_counts_default_to_64_and_are_bounded");
    dtm_config cfg;
    char err[512] = "";
    CHECK_EQ_INT(load("LogLevel: info\n", &cfg, err, sizeof err), 0);
    CHECK_EQ_INT(cfg.http_threads, 64);
    CHECK_EQ_INT(cfg.grpc_threads, 64);
    CHECK_EQ_INT(cfg.workers, 16);
    CHECK_EQ_INT(load("HttpThreads: 8\nGrpcThreads: 256\n", &cfg, err, sizeof err), 0);
    CHECK_EQ_INT(cfg.http_threads, 8);
    CHECK_EQ_INT(cfg.grpc_threads, 256);
    CHECK_EQ_INT(load("HttpThreads: 0\n", &cfg, err, sizeof err), -1);
    CHECK(strstr(err, "HttpThreads") && strstr(err, "out of range"));
    CHECK_EQ_INT(load("GrpcThreads: 257\n", &cfg, err, sizeof err), -1);
    CHECK(strstr(err, "GrpcThreads") && strstr(err, "out of range"));
}

/* The coordinator's MicroService block (dtm/config.c): registering needs an
 * etcd target and an EndPoint. */
static void coordinator_config_checks_micro_service(void) {
    h_step("coordinator_config_checks_micro_service");
    struct { const char *yaml, *needle; } cases[] = {
        {"MicroService:\n  Driver: dtm-driver-gozero\n  Target: etcd://127.0.0.1:2379/dtmservice\n"
         "  EndPoint: localhost:36790\n", NULL},
        {"MicroService:\n  Driver: dtm-driver-gozero\n", NULL}, /* no Target: no registration */
        {"MicroService:\n  Driver: default\n  Target: etcd://127.0.0.1:2379/dtmservice\n", NULL},
        {"MicroService:\n  Driver: dtm-driver-gozero\n  Target: consul://127.0.0.1:8500/dtmservice\n"
         "  EndPoint: localhost:36790\n", "etcd only"},
        {"MicroService:\n  Driver: dtm-driver-gozero\n  Target: etcd://127.0.0.1:2379/dtmservice\n",
         "MicroService.EndPoint: is required"},
        {"MicroService:\n  Driver: dtm-driver-gozero\n  Target: etcd://127.0.0.1:2379/a/b\n"
         "  EndPoint: localhost:36790\n", "second '/'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "";
        dtm_config cfg;
        int rc = load(cases[i].yaml, &cfg, err, sizeof err);
        if (!cases[i].needle) {
            if (rc != 0) fprintf(stderr, "  case %zu: %s\n", i, err);
            CHECK_EQ_INT(rc, 0);
        } else {
            CHECK_EQ_INT(rc, -1);
            CHECK(strstr(err, cases[i].needle) != NULL);
        }
    }
}

int main(void) {
    thread_counts_default_to_64_and_are_bounded();
    coordinator_config_checks_micro_service();
    return h_finish("test_dtm_config");
}
