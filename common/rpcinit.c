/* rpcinit.c: grpc_init() plus process-wide settings of the gRPC runtime
 * (see rpcinit.h). */
#include "rpcinit.h"

#include <dlfcn.h>
#include <grpc/grpc.h>
#include <pthread.h>
#include <stdint.h>

#include "log.h"

/* absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle) as Debian 12's
 * abseil (20220623, inline namespace debian3) exports it; OnDeadlockCycle is
 * an enum class of int whose kIgnore is 0. */
#define ABSL_SET_DEADLOCK_MODE "_ZN4absl7debian329SetMutexDeadlockDetectionModeENS0_15OnDeadlockCycleE"

static pthread_once_t tune_once = PTHREAD_ONCE_INIT;

static void tune(void) {
    void *sym = dlsym(RTLD_DEFAULT, ABSL_SET_DEADLOCK_MODE);
    if (!sym) {
        log_debug(NULL, "rpc: abseil's deadlock detection setter not found; left as it is");
        return;
    }
    void (*set_mode)(int) = (void (*)(int))(uintptr_t)sym;
    set_mode(0);
}

void rpc_init(void) {
    pthread_once(&tune_once, tune);
    grpc_init();
}
