/* rpcinit: starting gRPC core, shared by rpcsrv and rpccli. */
#ifndef CDTM_RPCINIT_H
#define CDTM_RPCINIT_H

/* grpc_init(), and once per process, the runtime settings below. Pair each
 * call with grpc_shutdown().
 *
 * Abseil's mutex deadlock detection is switched off. gRPC core locks with
 * absl::Mutex, and Debian builds abseil without NDEBUG, which leaves the
 * detector on: every lock taken while another is held is recorded in a
 * global graph, under a global lock. It is a debugging aid that release
 * builds of gRPC never run, and it cost 5-7 % of the CPU of every cdtm
 * process (docs/benchmarks.md, profile). The setter is a C++ function, so it
 * is looked up by its symbol; when this abseil does not have it, nothing
 * changes. */
void rpc_init(void);

#endif
