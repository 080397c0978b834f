#!/usr/bin/env bash
# bench.sh: cdtm's benchmark (issue 6). Builds the Release binaries, starts
# its own MariaDB and the whole suite on free ports (scripts/run-suite.sh),
# plus two no-op gRPC branch servers (cdtm-bench serve-noop), then runs every
# mode of cdtm-bench at each worker count, checks the invariants (no lost or
# double-applied order), and writes the figures into docs/benchmarks.md
# (between the "bench:begin/end" markers; the prose around them is kept)
# with two charts, docs/bench-throughput.png and docs/bench-latency.png.
#
# Modes (bench/modes.c): (a) empty-http / empty-grpc: 2-branch sagas with
# empty URLs (the coordinator and its store alone; also empty-http with a
# new connection per request, label "close"); (b) noop: two no-op gRPC
# branches; (c) order: the place-order saga through order-api ?wait=true
# (and order-localgid: the same with order-api's Dtm.LocalGid, no NewGid);
# (d) direct: order-srv create + stock-srv deduct without the coordinator;
# (e) db: single-row autocommit INSERTs. The coordinator's rows of (a) and
# (b) are deleted after each of those modes, so that every later mode writes
# to a store of its own rows.
#
#   BENCH_WORKERS   "1 10 50 200"   closed-loop workers per run
#   BENCH_DURATION  10              measured seconds per run
#   BENCH_WARMUP    2               warm-up seconds per run (not measured)
#   BENCH_MODES     "empty-http empty-http-close empty-grpc noop order order-localgid direct db"
#   BENCH_BUILD_DIR build-bench     (Release); BENCH_NO_BUILD=1 skips the build
#   BENCH_DOC       docs/benchmarks.md
#   BENCH_REPORT_ONLY=1  only write the document again from the last run's
#                   saved results ($CDTM_RUN/results.jsonl, run.env, check*.out)
#   BENCH_PAIRED_ROUNDS 3           rounds of (c) and (d) run back to back at
#                   10 and 50 workers on one suite, after the modes (0: none)
#   BENCH_PAIRED_SECS   5           measured seconds of each paired run
#   BENCH_KEEP=1    leave the suite and MariaDB running afterwards
#   BENCH_PROFILE=1 also sample the CPU of every process during a mode (c)
#                   run at 10 workers (perf, else nothing) into $CDTM_RUN
#   MARIADB_PORT    3408            the bench's own MariaDB (EMPTIED at start)
#   CDTM_DISCOVERY  none            run-suite.sh without etcd (plain host:port)
#   BENCH_MALLOC_ARENA_MAX  2       MALLOC_ARENA_MAX for the suite ("" = glibc default)
#   CDTM_RUN        .run/bench      its data, the suite's configs, logs, results
#
# Settings applied through configuration only (reported in the document):
# every program logs at warn (SUITE_LOG_LEVEL), so that one log line per
# branch call is not measured; MALLOC_ARENA_MAX=2 for the suite's programs;
# everything else is each program's default,
# unless the caller exports the programs' own variables (THREADS,
# DB_MAX_CONNS, WORKERS, STORE_MAX_OPEN_CONNS, ...), which run-suite.sh passes
# on. The figures are only as quiet as the machine: see the load average
# recorded with them.
set -euo pipefail
cd "$(dirname "$0")/.."
export CDTM_RUN=${CDTM_RUN:-$PWD/.run/bench}
. scripts/lib.sh

BUILD=${BENCH_BUILD_DIR:-build-bench}
case $BUILD in /*) ;; *) BUILD=$CDTM_ROOT/$BUILD ;; esac
export MARIADB_PORT=${MARIADB_PORT:-3408}
WORKERS=${BENCH_WORKERS:-"1 10 50 200"}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
MODES=${BENCH_MODES:-"empty-http empty-http-close empty-grpc noop order order-localgid direct db"}
DOC=${BENCH_DOC:-$CDTM_ROOT/docs/benchmarks.md}
DOCDIR=$(dirname "$DOC")
SUITE=$CDTM_RUN/suite
RESULTS=$CDTM_RUN/results.jsonl
PAIRED=$CDTM_RUN/paired.jsonl
PAIRED_ROUNDS=${BENCH_PAIRED_ROUNDS:-3}
PAIRED_SECS=${BENCH_PAIRED_SECS:-5}
CHECK_JSON=$CDTM_RUN/check.json
GOODS_ORDER=900001   # mode (c): a goods id with a huge stock
GOODS_DIRECT=900002  # mode (d)
STOCK0=2000000000    # the `num` column is an INT
export SUITE_LOG_LEVEL=${SUITE_LOG_LEVEL:-warn}
# Plain host:port targets: the benchmark measures the transactions, not the
# registry (run-suite.sh would otherwise start etcd on its fixed ports).
export CDTM_DISCOVERY=${CDTM_DISCOVERY:-none}
# glibc gives each thread that contends for malloc an arena of its own (up to
# 8 per CPU), and keeps what it freed: at 200 workers that is 5-10 MB of RSS
# per process of the suite. Two arenas are plenty for these programs. Only
# the suite's programs get it (not MariaDB, not the load generator).
ARENAS=${BENCH_MALLOC_ARENA_MAX-2}

die() { echo "bench.sh: $*" >&2; exit 1; }
sql() { ./scripts/mariadb.sh sql -N -B "$@"; }

# ---- tools --------------------------------------------------------------------

need_pkgs=()
command -v jq >/dev/null || need_pkgs+=(jq)
command -v gnuplot >/dev/null || need_pkgs+=(gnuplot-nox)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "installing ${need_pkgs[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
     --no-install-recommends "${need_pkgs[@]}" >/dev/null) ||
    echo "bench.sh: could not install ${need_pkgs[*]} (charts or tables may be missing)" >&2
fi
command -v jq >/dev/null || die "jq is needed to write the report"

if [ "${BENCH_REPORT_ONLY:-0}" != 1 ]; then

# ---- build ----------------------------------------------------------------------

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  cmake -S "$CDTM_ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" -j2 --target dtm order-srv stock-srv order-api cdtm-bench >/dev/null
fi
BENCH=$BUILD/cdtm-bench
[ -x "$BENCH" ] || die "$BENCH is missing"

# ---- start everything --------------------------------------------------------------

mkdir -p "$CDTM_RUN" "$SUITE" "$DOCDIR"
started_db=0
cleanup() {
  local rc=$?
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    echo "left running (BENCH_KEEP=1): CDTM_SUITE_DIR=$SUITE scripts/stop.sh stops the suite"
    return $rc
  fi
  declare -F stop_suite >/dev/null && stop_suite
  [ "$started_db" = 1 ] && ./scripts/mariadb.sh stop >/dev/null 2>&1 || true
  return $rc
}
trap cleanup EXIT

if ! ./scripts/mariadb.sh status >/dev/null 2>&1; then
  ./scripts/mariadb.sh start >/dev/null
  started_db=1
else
  ./scripts/mariadb.sh start >/dev/null # reloads sql/*.sql
fi
# The bench's private server: start from empty tables, so the invariant check
# sees this run's transactions only, and tables do not grow across runs.
sql -e "TRUNCATE dtm.trans_global; TRUNCATE dtm.trans_branch_op;
  TRUNCATE dtm_barrier.barrier; TRUNCATE \`dtm-gozero-order\`.\`order\`;
  DROP DATABASE IF EXISTS cdtm_bench;
  INSERT INTO \`dtm-gozero-stock\`.stock (goods_id, num)
    VALUES ($GOODS_ORDER, $STOCK0), ($GOODS_DIRECT, $STOCK0)
    ON DUPLICATE KEY UPDATE num = VALUES(num);
  SET GLOBAL userstat = 1; FLUSH USER_STATISTICS;"

# The suite is started afresh for every mode, so that each mode's peak RSS
# and CPU are its own (glibc keeps freed memory, so a process's RSS after a
# heavy mode would otherwise carry over into the next).
pid() { cat "$1"; }
stop_suite() {
  for f in "$CDTM_RUN"/noop-*.pid; do
    [ -f "$f" ] || continue
    kill "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
  CDTM_SUITE_DIR=$SUITE ./scripts/stop.sh >/dev/null 2>&1 || true
}
# Ports are picked free just before each start; a port can still be taken in
# between (outgoing connections use the same range), so a start that cannot
# bind is retried on new ports. Arguments are extra environment entries
# ("K=V") for the suite's programs.
start_suite() {
  local attempt i port ok
  for attempt in 1 2 3 4 5; do
    DTM_HTTP_PORT=$(free_port); DTM_GRPC_PORT=$(free_port)
    ORDER_SRV_PORT=$(free_port); STOCK_SRV_PORT=$(free_port); ORDER_API_PORT=$(free_port)
    NOOP1_PORT=$(free_port); NOOP2_PORT=$(free_port)
    export DTM_HTTP_PORT DTM_GRPC_PORT ORDER_SRV_PORT STOCK_SRV_PORT ORDER_API_PORT
    if ! env "$@" MALLOC_ARENA_MAX=$ARENAS CDTM_BUILD_DIR=$BUILD CDTM_SUITE_DIR=$SUITE ./scripts/run-suite.sh \
         >"$CDTM_RUN/suite.out" 2>&1; then
      echo "  the suite did not start (attempt $attempt): $(tail -1 "$CDTM_RUN/suite.out")"
      stop_suite
      continue
    fi
    ok=1
    for i in 1 2; do
      port=$([ $i = 1 ] && echo "$NOOP1_PORT" || echo "$NOOP2_PORT")
      MALLOC_ARENA_MAX=$ARENAS setsid "$BENCH" serve-noop -g "$port" </dev/null >"$CDTM_RUN/noop-$i.log" 2>&1 &
      echo $! >"$CDTM_RUN/noop-$i.pid"
      wait_until 10 port_open "$port" || ok=0
    done
    if [ "$ok" = 1 ]; then break; fi
    echo "  serve-noop did not start (attempt $attempt)"
    stop_suite
  done
  [ "${ok:-0}" = 1 ] || die "could not start the suite (see $CDTM_RUN/suite.out)"
  PROCS=(--proc "dtm=$(pid "$SUITE/dtm.pid")" --proc "order-api=$(pid "$SUITE/order-api.pid")"
         --proc "order-srv=$(pid "$SUITE/order-srv.pid")" --proc "stock-srv=$(pid "$SUITE/stock-srv.pid")"
         --proc "noop-1=$(pid "$CDTM_RUN/noop-1.pid")" --proc "noop-2=$(pid "$CDTM_RUN/noop-2.pid")"
         --proc "mariadbd=$(pid "$CDTM_RUN/mariadb-$MARIADB_PORT/mysqld.pid")")
  TARGETS=(--dtm-http "http://127.0.0.1:$DTM_HTTP_PORT" --dtm-grpc "127.0.0.1:$DTM_GRPC_PORT"
           --noop "127.0.0.1:$NOOP1_PORT,127.0.0.1:$NOOP2_PORT"
           --order-api "http://127.0.0.1:$ORDER_API_PORT"
           --order-srv "127.0.0.1:$ORDER_SRV_PORT" --stock-srv "127.0.0.1:$STOCK_SRV_PORT"
           --mysql "127.0.0.1:$MARIADB_PORT")
}

# ---- the runs ---------------------------------------------------------------------------

# The optional profile (BENCH_PROFILE=1): CPU samples of every process of
# the suite during one more mode (c) run at 10 workers, not part of the figures.
profile_order() {
  perf record -e cpu-clock -o /dev/null true >/dev/null 2>&1 || { echo "perf unusable: no profile"; return 0; }
  echo "profiling mode (c) at 10 workers"
  local pids
  pids=$(for n in dtm order-api order-srv stock-srv; do pid "$SUITE/$n.pid"; done | paste -sd,)
  pids=$pids,$(pid "$CDTM_RUN/mariadb-$MARIADB_PORT/mysqld.pid")
  perf record -e cpu-clock -F 999 -g -p "$pids" -o "$CDTM_RUN/perf.data" -- sleep $((DURATION + WARMUP)) \
    >/dev/null 2>&1 &
  local perf_pid=$!
  "$BENCH" run order -c 10 -d "$DURATION" -w "$WARMUP" --goods "$GOODS_ORDER" --label profile \
    "${TARGETS[@]}" --json "$CDTM_RUN/profile.jsonl" >/dev/null
  wait "$perf_pid" || true
  # Per process: share of the samples, then the libraries they fell in, then,
  # for samples in the kernel, the system call they came through (the first
  # user-space frame of the call chain).
  local names
  names=$(for n in dtm order-api order-srv stock-srv; do echo "$(pid "$SUITE/$n.pid") $n"; done
          echo "$(pid "$CDTM_RUN/mariadb-$MARIADB_PORT/mysqld.pid") mariadbd")
  perf script -i "$CDTM_RUN/perf.data" -F pid,ip,sym,dso 2>/dev/null | awk -v names="$names" '
    BEGIN { n = split(names, a, "\n"); for (i = 1; i <= n; i++) { split(a[i], b, " "); nm[b[1]] = b[2] } }
    /^ *[0-9]+ *$/ { pid = $1; st = 1; kern = 0; next }
    NF == 0 { st = 0; next }
    st == 1 {
      d = $NF; gsub(/[()]/, "", d); m = split(d, p, "/"); d = p[m]
      if (!kern) { dso[pid " " d]++; tot[pid]++; all++ }
      if (d ~ /kernel/) { kern = 1; next }
      if (kern) { sc[pid " " $2]++; ktot[pid]++ }
      st = 0 }
    END {
      for (q in tot) printf "%-10s 1-process %5.1f%%  of all samples\n", nm[q], 100 * tot[q] / all
      for (k in dso) { split(k, b, " "); if (dso[k] / tot[b[1]] >= 0.02) printf "%-10s 2-library %5.1f%%  %s\n", nm[b[1]], 100 * dso[k] / tot[b[1]], b[2] }
      for (k in sc) { split(k, b, " "); if (sc[k] / ktot[b[1]] >= 0.03) printf "%-10s 3-kernel-time-via %5.1f%%  %s\n", nm[b[1]], 100 * sc[k] / ktot[b[1]], b[2] } }' |
    sort -k1,1 -k2,2 -k3,3nr >"$CDTM_RUN/profile.txt" || true
  echo "profile: $CDTM_RUN/profile.txt"
}

# The coordinator's rows of modes (a) and (b), which place no order, are
# deleted once the mode is over (their sagas all final). Otherwise the modes
# after them would write to a store of some 390000 finished sagas, more than
# MariaDB's 128 MB buffer pool holds, while (d) writes to tables of its own
# rows: the CPU per saga of (c) would depend on the modes run before it, not
# on the coordinator (docs/benchmarks.md, "The store's size").
store_last_ids() {
  sql -e "SELECT (SELECT COALESCE(MAX(id),0) FROM dtm.trans_global),
    (SELECT COALESCE(MAX(id),0) FROM dtm.trans_branch_op)"
}
forget_store_rows() {
  local g0=$1 b0=$2 open rows
  read -r rows open <<<"$(sql -e "SELECT COUNT(*),
    COALESCE(SUM(status NOT IN ('succeed','failed')), 0) FROM dtm.trans_global WHERE id > $g0")"
  if [ "$open" != 0 ]; then
    echo "  $open of the mode's $rows sagas are not final: the store keeps its rows"
    echo "$3" >>"$CDTM_RUN/store-kept.txt"
    return 0
  fi
  if [ "$g0" = 0 ] && [ "$b0" = 0 ]; then
    sql -e "TRUNCATE dtm.trans_global; TRUNCATE dtm.trans_branch_op"
  else
    sql -e "DELETE FROM dtm.trans_branch_op WHERE id > $b0; DELETE FROM dtm.trans_global WHERE id > $g0"
  fi
  echo "  store: the mode's $rows finished sagas deleted"
  echo "$rows" >>"$CDTM_RUN/forgotten.txt"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED_AT=$(date -u +%Y-%m-%dT%H:%MZ)
# What one hop between two processes costs on this machine, before any load
# (docs/benchmarks.md, "What a hop costs").
"$BENCH" handoff --json "$CDTM_RUN/handoff.json" || rm -f "$CDTM_RUN/handoff.json"
: >"$RESULTS"
rm -f "$CDTM_RUN/profile.jsonl" "$CDTM_RUN/profile.txt" "$CDTM_RUN/forgotten.txt" \
  "$CDTM_RUN/store-kept.txt"
echo "benchmark: modes [$MODES], workers [$WORKERS], ${WARMUP} s warm-up + ${DURATION} s each"
for m in $MODES; do
  extra=(); mode=$m; label=$m; suite_env=()
  case $m in
    empty-http-close) mode=empty-http; extra=(--keepalive 0) ;;
    order) extra=(--goods "$GOODS_ORDER") ;;
    order-localgid) mode=order; extra=(--goods "$GOODS_ORDER"); suite_env=(DTM_LOCAL_GID=true) ;;
    direct) extra=(--goods "$GOODS_DIRECT") ;;
  esac
  read -r g0 b0 <<<"$(store_last_ids)"
  start_suite "${suite_env[@]}"
  for w in $WORKERS; do
    out=$("$BENCH" run "$mode" -c "$w" -d "$DURATION" -w "$WARMUP" --label "$label" \
      "${PROCS[@]}" "${TARGETS[@]}" "${extra[@]}" --json "$RESULTS") ||
      die "cdtm-bench run $mode -c $w failed"
    printf '%s\n' "$out" >>"$CDTM_RUN/bench.out"
    printf '%s\n' "$out" | sed -n '1,3p' | grep -v '^  [a-z-]* *cpu' || true
  done
  if [ "$m" = order ] && [ "${BENCH_PROFILE:-0}" = 1 ]; then profile_order; fi
  stop_suite
  case $m in empty-*|noop) forget_store_rows "$g0" "$b0" "$m" ;; esac
done

# Paired rounds: the ratio (c)/(d) compares runs made minutes apart above,
# and this machine's speed drifts that much (the CPU per operation of every
# process moved by 25-50 % between two full runs). Here (c) and (d) run back to
# back at each worker count, several times, on one suite, so each round's
# ratio is measured under nearly the same machine speed.
: >"$PAIRED"
case " $MODES " in *" order "*) has_c=1 ;; *) has_c=0 ;; esac
case " $MODES " in *" direct "*) has_d=1 ;; *) has_d=0 ;; esac
if [ "$PAIRED_ROUNDS" -gt 0 ] && [ "$has_c" = 1 ] && [ "$has_d" = 1 ]; then
  echo "paired rounds: (c) and (d) back to back, $PAIRED_ROUNDS rounds at 10 and 50 workers"
  start_suite
  for r in $(seq 1 "$PAIRED_ROUNDS"); do
    for w in 10 50; do
      for m in order direct; do
        goods=$([ $m = order ] && echo "$GOODS_ORDER" || echo "$GOODS_DIRECT")
        "$BENCH" run "$m" -c "$w" -d "$PAIRED_SECS" -w 1 --label "$m" --goods "$goods" \
          "${TARGETS[@]}" --json "$CDTM_RUN/paired-one.jsonl" >/dev/null ||
          die "cdtm-bench run $m -c $w (paired round $r) failed"
        jq -c --argjson r "$r" '. + {round: $r}' "$CDTM_RUN/paired-one.jsonl" >>"$PAIRED"
        rm -f "$CDTM_RUN/paired-one.jsonl"
      done
    done
  done
  stop_suite
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- invariants ---------------------------------------------------------------------------

CHECK_RC=0
# The paired rounds and the profile run (BENCH_PROFILE=1) placed orders too.
CLIENT_OK=$({ cat "$RESULTS" "$PAIRED"; cat "$CDTM_RUN/profile.jsonl" 2>/dev/null || true; } |
  jq -s '[.[] | select(.mode=="order") | .total_ok] | add // 0')
"$BENCH" check --mysql "127.0.0.1:$MARIADB_PORT" --goods "$GOODS_ORDER" --initial "$STOCK0" \
  --client-ok "$CLIENT_OK" --wait 60 --json "$CHECK_JSON" | tee "$CDTM_RUN/check.out" || CHECK_RC=$?
# Mode (d) has no coordinator: a create whose deduct failed stays. Reported, not enforced.
read -r D_ORDERS D_SUM D_STOCK <<<"$(sql -e "SELECT COUNT(*), COALESCE(SUM(num),0),
  (SELECT num FROM \`dtm-gozero-stock\`.stock WHERE goods_id=$GOODS_DIRECT)
  FROM \`dtm-gozero-order\`.\`order\` WHERE goods_id=$GOODS_DIRECT")"
D_CLIENT_OK=$(jq -s '[.[] | select(.label=="direct") | .total_ok] | add // 0' "$RESULTS" "$PAIRED")
echo "mode (d), no coordinator, informational: $D_ORDERS order rows (sum $D_SUM), stock $STOCK0 -> $D_STOCK (decrease $((STOCK0 - D_STOCK))); client saw $D_CLIENT_OK successful pairs" \
  >"$CDTM_RUN/check-direct.out"

# What the report needs from this run, so that BENCH_REPORT_ONLY=1 can
# write the document again from the saved results.
v() { sql -e "SELECT @@$1" 2>/dev/null || echo '?'; }
{
  printf 'STARTED_AT=%q\nLOAD_BEFORE=%q\nLOAD_AFTER=%q\nCHECK_RC=%q\n' \
    "$STARTED_AT" "$LOAD_BEFORE" "$LOAD_AFTER" "$CHECK_RC"
  printf 'DB_VERSION=%q\n' "$(v version)"
  printf 'DB_SETTINGS=%q\n' "innodb_flush_log_at_trx_commit=$(v innodb_flush_log_at_trx_commit), sync_binlog=$(v sync_binlog), log_bin=$(v log_bin), innodb_buffer_pool_size=$(( $(v innodb_buffer_pool_size) / 1048576 )) MB, innodb_log_file_size=$(( $(v innodb_log_file_size) / 1048576 )) MB, max_connections=$(v max_connections)"
  printf 'RUN_ARENAS=%q\n' "$ARENAS"
  printf 'PAIRED_SECS_RUN=%q\n' "$PAIRED_SECS"
  printf 'STORE_FORGOTTEN=%q\n' "$(awk '{n += $1} END {print n + 0}' "$CDTM_RUN/forgotten.txt" 2>/dev/null || echo 0)"
  printf 'STORE_KEPT=%q\n' "$(paste -sd' ' "$CDTM_RUN/store-kept.txt" 2>/dev/null || true)"
  printf 'RUN_WARMUP=%q\nRUN_DURATION=%q\nRUN_OVERRIDES=%q\n' "$WARMUP" "$DURATION" \
    "$(env | grep -E '^(THREADS|DB_MAX_CONNS|WORKERS|STORE_MAX_OPEN_CONNS|MALLOC_ARENA_MAX)=' | paste -sd' ' || true)"
} >"$CDTM_RUN/run.env"


fi
. "$CDTM_RUN/run.env"
mkdir -p "$DOCDIR"
[ -f "$PAIRED" ] || : >"$PAIRED" # a run saved before paired rounds existed

# ---- the report -----------------------------------------------------------------------------

dpkgv() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo '?'; }
MEM_GB=$(awk '/MemTotal/ {printf "%.1f", $2/1048576}' /proc/meminfo)
CPU_MODEL=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
GEN=$CDTM_RUN/generated.md

{
  echo "<!-- bench:begin (written by scripts/bench.sh; edit the prose outside these markers) -->"
  echo "### Run of $STARTED_AT"
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| machine | $(nproc) CPUs ($CPU_MODEL), $MEM_GB GB RAM, kernel $(uname -r) |"
  if [ -f "$CDTM_RUN/handoff.json" ]; then
    echo "| one hop between two processes | $(jq -r 'def us(x): if x then "\(x | floor) µs" else "n/a" end;
      "CPU per round trip (two hops) of one byte over loopback TCP: \(us(.one_cpu.cpu_us)) with both on one CPU, \(us(.two_cpus.cpu_us)) on two CPUs, \(us(.free.cpu_us)) where the scheduler puts them (`cdtm-bench handoff` at \(.at // "the start of the run"); *What a hop costs*)"' "$CDTM_RUN/handoff.json") |"
  fi
  echo "| load average before / after | $LOAD_BEFORE / $LOAD_AFTER (other work on the machine inflates every figure) |"
  echo "| versions | MariaDB $DB_VERSION, gRPC core $(dpkgv libgrpc-dev), civetweb $(dpkgv libcivetweb-dev), protobuf-c $(dpkgv libprotobuf-c-dev), gcc $(gcc -dumpfullversion), Release build (-O3) |"
  echo "| MariaDB settings | scripts/mariadb.sh defaults: $DB_SETTINGS; userstat=1 for per-account counters |"
  echo "| cdtm settings | LogLevel $SUITE_LOG_LEVEL for every program; ${RUN_ARENAS:+MALLOC_ARENA_MAX=$RUN_ARENAS for the programs of the suite (not MariaDB); }otherwise defaults (coordinator: GrpcThreads 64, HttpThreads 64, Workers 16, Store.MaxOpenConns 32; order-api Threads 64, Dtm.LocalGid false but in (c) order-localgid; order-srv/stock-srv Threads 16, DB.MaxConns 16)${RUN_OVERRIDES:+; overrides: $RUN_OVERRIDES} |"
  if [ -n "${STORE_FORGOTTEN:-}" ]; then
    echo "| the store between modes | the rows of modes (a) and (b) deleted from the coordinator's store after each of them ($STORE_FORGOTTEN finished sagas in all)${STORE_KEPT:+, except after $STORE_KEPT, whose sagas were not all final}; the rows of (c), (d) and the paired rounds kept (*The store's size*) |"
  else
    echo "| the store between modes | every mode's rows kept (a run saved before the store was emptied between modes) |"
  fi
  echo "| load | closed loop, ${RUN_WARMUP} s warm-up + ${RUN_DURATION} s measured per run; HTTP clients keep one keep-alive connection per worker (label \"close\": a new connection per request) |"
  echo
  echo "#### Throughput (operations/s; a = coordinator alone, b = no-op gRPC branches, c = place-order saga (order-localgid: order-api makes the gid itself instead of calling NewGid), d = the same two local transactions without a coordinator, e = single INSERTs)"
  echo
  jq -rs --arg ws "$WORKERS" '
    ($ws | split(" ") | map(select(. != "") | tonumber)) as $w |
    "| mode | " + ($w | map("\(.) workers") | join(" | ")) + " |",
    "|---|" + ($w | map("---:") | join("|")) + "|",
    (group_by(.label) | sort_by(.[0].letter + .[0].label) | .[] | . as $g |
      "| (\($g[0].letter)) \($g[0].label) | " +
      ($w | map(. as $n | ($g | map(select(.workers == $n)) | .[0]) |
        if . == null then "–" else "\(.tput | floor)" + (if .errors > 0 then " (\(.errors) err)" else "" end) end) | join(" | ")) + " |")
  ' "$RESULTS"
  echo
  echo "#### Latency (ms) and errors"
  echo
  echo "| mode | workers | ops/s | p50 | p90 | p99 | max | errors | workers never served ¹ | CPU used by the suite ³ | load avg ⁴ |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  jq -r '"| (\(.letter)) \(.label) | \(.workers) | \(.tput | floor) | \(.p50_ms*100|round/100) | \(.p90_ms*100|round/100) | \(.p99_ms*100|round/100) | \(.max_ms*100|round/100) | \(.errors) | " + (if .starved_workers > 0 then "\(.starved_workers) (oldest wait \(.oldest_inflight_ms/1000|floor) s)" else "0" end) + " | \(([.procs[].cpu_s] | add) / .window_s * 100 | round / 100) | \(.loadavg1 // "–") |"' "$RESULTS"
  echo
  echo "³ CPU-seconds per second used by all measured processes together (the suite, MariaDB and the load generator), out of $(nproc): well below $(nproc) while the load average is high means the run was starved by other work on the machine."
  echo "⁴ 1-minute load average at the end of the run."
  echo
  echo "¹ workers that completed nothing in the measured window. civetweb serves one keep-alive connection per thread; cdtm closes a connection after a 1 s turn, so clients beyond the thread count wait for a turn, and that wait is in the percentiles. A worker still waiting when the window ends is counted here, and its wait is not in the percentiles."
  echo
  # At 10 workers, where (c)'s targets are judged, and at 50. cols($f; $d):
  # field $f of each process (the two no-op servers added up) and of all of
  # them together, rounded to 1/$d.
  PROC_COLS='def per($f; $n): [.procs[] | select(.name == $n) | .[$f] // 0] | add // 0;
    def rd($d): if . == null then null else . * $d | round / $d end;
    def cols($f; $d): "\(per($f; "dtm") | rd($d)) | \(per($f; "order-api") | rd($d)) | " +
      "\(per($f; "order-srv") | rd($d)) | \(per($f; "stock-srv") | rd($d)) | " +
      "\(per($f; "noop-1") + per($f; "noop-2") | rd($d)) | \(per($f; "mariadbd") | rd($d)) | " +
      "\(per($f; "cdtm-bench") | rd($d)) | \([.procs[] | .[$f] // 0] | add // 0 | rd($d))";'
  for cw in 10 50; do
    echo "#### Cost per successful operation at $cw workers (CPU ms per operation of each process over the window, database counters per operation)"
    echo
    echo "| mode | dtm | order-api | order-srv | stock-srv | noop ×2 | mariadbd | cdtm-bench | all | Com_commit | Handler_commit | fsyncs | statements | dtm account commits ² |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    jq -r --argjson w "$cw" "$PROC_COLS"' select(.workers == $w) |
      "| (\(.letter)) \(.label) | " + cols("cpu_ms_per_op"; 100) + " | " +
      (if .db == null then "– | – | – | – | –" else
        "\(.db.com_commit_per_op // 0 | rd(100)) | \(.db.handler_commit_per_op // 0 | rd(100)) | \(.db.log_fsyncs_per_op // 0 | rd(100)) | \(.db.questions_per_op // 0 | rd(100)) | \([.db.users[] | select(.user == "dtm") | .commits_per_op // 0] | add // 0 | rd(100))" end) + " |"' "$RESULTS"
    echo
    echo "Context switches per operation at $cw workers (all threads of each process): every one is a thread put to sleep or woken, i.e. a hand-off between threads."
    echo
    echo "| mode | dtm | order-api | order-srv | stock-srv | noop ×2 | mariadbd | cdtm-bench | all |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    jq -r --argjson w "$cw" "$PROC_COLS"' select(.workers == $w) |
      "| (\(.letter)) \(.label) | " + cols("csw_per_op"; 10) + " |"' "$RESULTS"
    echo
  done
  echo "² MariaDB's USER_STATISTICS COMMIT_TRANSACTIONS counts statement-level commits (every statement that touches InnoDB, plus each COMMIT), not transactions. Com_commit counts COMMIT statements, i.e. explicit transactions of every account; in modes (a) and (b) the coordinator is the only writer, so Com_commit per saga there is the coordinator's transactions per saga."
  echo
  echo "#### Peak RSS at 200 workers (MB: VmHWM, in brackets the process's own memory, RssAnon, at the end of the run; the rest is mapped files, mostly the shared libraries)"
  echo
  echo "Each mode runs on a freshly started suite, so a process's peak is that mode's (1, 10, 50 then 200 workers)."
  echo
  echo "| mode | dtm | order-api | order-srv | stock-srv | noop-1 | noop-2 | cdtm-bench | mariadbd |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  jq -r 'select(.workers == 200) |
    def mb($n): ([.procs[] | select(.name == $n)] | .[0]) as $p |
      if $p == null then "–" else "\($p.hwm_kb / 1024 * 10 | round / 10) (\(($p.anon_kb // 0) / 1024 * 10 | round / 10))" end;
    "| (\(.letter)) \(.label) | \(mb("dtm")) | \(mb("order-api")) | \(mb("order-srv")) | \(mb("stock-srv")) | \(mb("noop-1")) | \(mb("noop-2")) | \(mb("cdtm-bench")) | \(mb("mariadbd")) |"' "$RESULTS"
  echo
  if [ -s "$PAIRED" ]; then
    echo "#### (c) against (d) in paired rounds (operations/s; each round runs (c), then (d) right after it, on one suite, ${PAIRED_SECS_RUN:-?} s each)"
    echo
    echo "The throughput table runs each mode on its own suite, minutes apart, and the machine's speed drifts over minutes. Here the two run back to back, so each round's ratio is measured under nearly the same conditions; the median of the rounds is the steadier figure."
    echo
    echo "| workers | round | (c) order | (d) direct | (c)/(d) |"
    echo "|---:|---:|---:|---:|---:|"
    jq -rs 'group_by([.workers, .round]) | .[] |
      (map(select(.label == "order")) | .[0].tput) as $c | (map(select(.label == "direct")) | .[0].tput) as $d |
      "| \(.[0].workers) | \(.[0].round) | \($c | round) | \($d | round) | \(if $d > 0 then ($c / $d * 100 | round | tostring) + "%" else "–" end) |"' "$PAIRED"
    echo
  fi
  echo "#### Targets"
  echo
  echo "| target | measured | met |"
  echo "|---|---|---|"
  jq -rs --slurpfile paired "$PAIRED" '
    def t($l; $w): ([.[] | select(.label == $l and .workers == $w) | .tput] | .[0]);
    # The median over the paired rounds of (c)/(d) at $w workers, in %.
    def paired($w): [$paired[] | select(.workers == $w)] | group_by(.round) |
      map((map(select(.label == "order")) | .[0].tput) as $c | (map(select(.label == "direct")) | .[0].tput) as $d |
          if $c == null or $d == null or $d == 0 then empty else $c / $d * 100 end) | sort |
      if length == 0 then null else .[(length - 1) / 2 | floor] + .[length / 2 | floor] | . / 2 | round end;
    def yes($c): if $c == null then "–" elif $c then "yes" else "**no**" end;
    def show: if . == null then "–" else tostring end;
    def pct($a; $b): if $a == null or $b == null or $b == 0 then null else ($a / $b * 100 | round) end;
    def r2: (if . == null then null else (. * 100 | round / 100) end);
    . as $all |
    (pct(t("order"; 10); t("direct"; 10))) as $c10 |
    (pct(t("order"; 50); t("direct"; 50))) as $c50 |
    (paired(10)) as $p10 | (paired(50)) as $p50 |
    def ok($a; $b): $a != null and $b != null and $a >= 60 and $b >= 60;
    "| (c) ≥ 60% of (d) at 10 and 50 workers | \($c10 | show)% and \($c50 | show)%\(if $p10 != null then "; paired rounds, median: \($p10)% and \($p50 | show)%" else "" end) | \(yes(if $c10 == null or $c50 == null then null else (ok($c10; $c50) and ($p10 == null or ok($p10; $p50))) end)) |",
    ((pct(t("empty-grpc"; 50); t("db"; 50))) as $ag | (pct(t("empty-http"; 50); t("db"; 50))) as $ah |
     "| (a) ≥ 40% of (e) at 50 workers | gRPC \($ag | show)%, HTTP \($ah | show)% | \(yes(if $ag == null then null else $ag >= 40 end)) |"),
    ([.[] | select(.label == "empty-grpc" or .label == "empty-http" or .label == "noop") | .db.com_commit_per_op | select(. != null)] | max) as $cc |
    def mean: (map(select(. != null))) as $x | if ($x | length) == 0 then null else ($x | add / length) end;
    ([.[] | select(.label == "order") | .db.com_commit_per_op] | mean) as $co |
    ([.[] | select(.label == "direct") | .db.com_commit_per_op] | mean) as $cd |
    "| ≤ 2 coordinator commits per successful 2-branch saga | \($cc | r2) in (a)/(b) (the coordinator is the only writer); (c) − (d): \(if $co and $cd then ($co - $cd | r2) else "–" end) | \(yes(if $cc == null then null else $cc <= 2.05 end)) |",
    ([.[] | select(.label == "order" and .workers == 10) | .p99_ms] | .[0]) as $p |
    "| p99 of (c) at 10 workers ≤ 20 ms | \($p | r2 | show) ms | \(yes(if $p == null then null else $p <= 20 end)) |",
    # Judged on cdtm'"'"'s modes (a)-(d); (e) is MariaDB alone, shown for reference.
    (group_by(.label) | map({l: .[0].label, peak: (map(.tput) | max), at200: (map(select(.workers == 200)) | .[0].tput)}) |
     map(select(.at200 != null))) as $g |
    ($g | map(select(.l != "db")) | map("\(.l) \(pct(.at200; .peak))%") | join(", ")) as $s |
    ($g | map(select(.l == "db")) | map("; (e), MariaDB alone, not judged: \(pct(.at200; .peak))%") | join("")) as $sdb |
    ($g | map(select(.l != "db")) | map(.at200 / .peak >= 0.9)) as $r200 |
    "| at 200 workers ≥ 90% of the peak throughput, modes (a)–(d) | \($s)\($sdb) | \(yes(if ($r200 | length) == 0 then null else ($r200 | all) end)) |",
    ([.[] | select(.workers == 200) | .procs[] | select(.name == "dtm") | .hwm_kb] | max) as $d |
    "| coordinator peak RSS ≤ 32 MB at 200 workers | \(if $d then ($d / 1024 * 10 | round / 10) else "–" end) MB | \(yes(if $d == null then null else $d <= 32768 end)) |",
    ([.[] | select(.workers == 200) | .procs[] | select(.name != "dtm" and .name != "mariadbd" and .name != "cdtm-bench")] |
      group_by(.name) | map({n: .[0].name, kb: (map(.hwm_kb) | max)})) as $o |
    "| every other executable ≤ 16 MB at 200 workers | \($o | map("\(.n) \(.kb / 1024 * 10 | round / 10)") | join(", ")) MB | \(yes(if ($o | length) == 0 then null else ($o | all(.kb <= 16384)) end)) |"
  ' "$RESULTS"
  echo
  echo "#### Invariants (after all runs)"
  echo
  echo '```'
  cat "$CDTM_RUN/check.out" "$CDTM_RUN/check-direct.out"
  echo '```'
  echo
  if [ -s "$CDTM_RUN/profile.txt" ]; then
    echo "#### CPU profile of mode (c) at 10 workers (perf, cpu-clock samples of each process)"
    echo
    echo "Per process: its share of all samples, the libraries its samples fell in, and for the samples in the kernel the call that entered it (\`syscall\` is futex: threads waking each other; \`__send\`/\`__poll\`/\`__libc_recv\` are the MariaDB protocol; \`sendmsg\`/\`recvmsg\`/\`epoll_wait\` are gRPC)."
    echo
    echo '```'
    cat "$CDTM_RUN/profile.txt"
    echo '```'
    echo
  fi
  echo "![throughput](bench-throughput.png)"
  echo "![latency](bench-latency.png)"
  echo "<!-- bench:end -->"
} >"$GEN"

# Charts: throughput against workers, and p50/p99 latency against workers.
if command -v gnuplot >/dev/null; then
  labels=$(jq -rs 'group_by(.label) | sort_by(.[0].letter + .[0].label) | .[] | .[0].label' "$RESULTS")
  for l in $labels; do
    jq -r --arg l "$l" 'select(.label == $l) | "\(.workers) \(.tput) \(.p50_ms) \(.p90_ms) \(.p99_ms)"' \
      "$RESULTS" >"$CDTM_RUN/plot-$l.dat"
  done
  tp=""; lat=""; k=0
  for l in $labels; do
    k=$((k + 1)) # one colour per mode in both charts
    tp+="${tp:+, }'$CDTM_RUN/plot-$l.dat' using 1:2 with linespoints lw 2 lc $k title '$l'"
    lat+="${lat:+, }'$CDTM_RUN/plot-$l.dat' using 1:3 with linespoints lw 2 lc $k title '$l p50'"
    lat+=", '$CDTM_RUN/plot-$l.dat' using 1:5 with linespoints lw 2 lc $k dashtype 2 title '$l p99'"
  done
  gnuplot <<EOF || echo "bench.sh: gnuplot failed; no charts" >&2
set terminal pngcairo size 900,560 noenhanced
set logscale x 2
set xlabel 'closed-loop workers'
set grid
set key outside right
set output '$DOCDIR/bench-throughput.png'
set ylabel 'operations / s'
set logscale y 10
set title 'cdtm throughput ($STARTED_AT, $(nproc) CPUs, noisy machine)'
plot $tp
set output '$DOCDIR/bench-latency.png'
set ylabel 'latency (ms)'
set title 'cdtm latency: p50 (solid) and p99 (dashed)'
plot $lat
EOF
fi

# Put the generated part into the document, keeping the prose around it.
if [ -f "$DOC" ] && grep -q '<!-- bench:begin' "$DOC"; then
  awk -v gen="$GEN" '
    /<!-- bench:begin/ { while ((getline line < gen) > 0) print line; skip = 1; next }
    /<!-- bench:end/ { skip = 0; next }
    !skip { print }' "$DOC" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
else
  { echo "# Benchmarks"; echo; echo "Written by scripts/bench.sh."; echo; cat "$GEN"; } >"$DOC"
fi
echo "report: $DOC (raw results: $RESULTS)"
[ "$CHECK_RC" = 0 ] || die "an invariant is broken (see above)"
