#!/usr/bin/env bash
# chaos.sh: places orders through the whole suite while a fault injector
# kills, stalls and restarts its parts, then checks that no accepted saga was
# lost and that the order and stock rows agree with how each saga ended.
#
# It starts a suite of its own on 127.0.0.1, on free ports, with a MariaDB and
# an etcd of its own (scripts/run-suite.sh with CDTM_RUN=<run dir>): the
# MariaDB is restarted during the run, so it can be nobody else's. Services
# find each other through etcd, as in the demo (CHAOS_DISCOVERY=none: plain
# host:port targets). The coordinator runs with RetryInterval 1 and
# TransCronInterval 1 so that recovery is quick.
#
#  1. Seeds four goods with limited stock (about 5%, 20%, 40% and 100% of
#     what the orders will ask for), so that many sagas must compensate.
#  2. Places CHAOS_ORDERS orders of 1-3 units (about 1 in 25 for a goods that
#     does not exist) through order-api, POST /order/quickCreate without
#     wait, from CHAOS_CONCURRENCY threads at CHAOS_RATE orders/s
#     (scripts/chaos/load.c). An order is ACCEPTED when answered 200 + gid.
#  3. Meanwhile, every CHAOS_FAULT_GAP seconds, injects one fault, taking the
#     kinds in shuffled rounds so that each comes up:
#       dtm-kill, order-kill, stock-kill   kill -9, down CHAOS_DOWN s, restart
#       db-restart                         scripts/mariadb.sh stop, start
#       db-crash                           kill -9 mariadbd, start (recovery)
#       stall-order, stall-stock           SIGSTOP for CHAOS_STALL s, SIGCONT:
#                                          the coordinator's calls time out
#     Not in the default set:
#       api-kill                           kill -9 order-api, restart
#       db-stall                           SIGSTOP mariadbd for CHAOS_STALL s:
#                                          every database call hangs, then resumes
#       etcd-kill                          kill -9 etcd, restart it on its data
#     Every fault is logged with a UTC timestamp (faults.log). Kinds that had
#     fewer than CHAOS_MIN_EACH faults when the load ended are injected then.
#     A stock sample is taken every 0.3 s (it must never be below 0). A
#     program that exits by itself is reported and restarted (an "unexpected
#     exit"), and one that does not answer within 30 s of a restart is "not
#     recovered": both count as violations.
#  4. Waits (at most CHAOS_DRAIN_SECS) until every saga in the coordinator's
#     store is final, then runs scripts/chaos/check.sh, which lists the
#     invariants it checks.
#  5. Prints one summary and stops everything it started.
#
# Exit status: 0 when lost = 0 and violations = 0; 1 otherwise; 2 when the run
# could not be set up. The run folder (configs, logs, orders.tsv, faults.log)
# is removed after a clean pass and kept otherwise (or with CHAOS_KEEP=1).
#
#   CHAOS_ORDERS (2000)  CHAOS_CONCURRENCY (16)  CHAOS_RATE (12 orders/s)
#   CHAOS_LOAD_SECS (600, hard bound on the load)  CHAOS_DRAIN_SECS (300)
#   CHAOS_FAULT_GAP (3-8)  CHAOS_DOWN (1-4)  CHAOS_STALL (4-8)  seconds, MIN-MAX
#   CHAOS_KINDS ("dtm-kill order-kill stock-kill db-restart db-crash
#                stall-order stall-stock")   CHAOS_MIN_EACH (1)
#   CHAOS_SEED (random; printed, replays the same orders and fault order)
#   CHAOS_KEEP (0)   CDTM_BUILD_DIR (build)   CHAOS_MARIADB_PORT (free port)
#   CHAOS_DISCOVERY (etcd, or none)
set -euo pipefail

# The whole script is one function, read by bash before it runs: editing this
# file while a run is going cannot change the run under its feet.
main() {
cd "$(dirname "$0")/.."
. scripts/lib.sh

ORDERS=${CHAOS_ORDERS:-2000}
CONC=${CHAOS_CONCURRENCY:-16}
RATE=${CHAOS_RATE:-12}
LOAD_SECS=${CHAOS_LOAD_SECS:-600}
DRAIN_SECS=${CHAOS_DRAIN_SECS:-300}
GAP=${CHAOS_FAULT_GAP:-3-8}
DOWN=${CHAOS_DOWN:-1-4}
STALL=${CHAOS_STALL:-4-8}
read -ra KINDS <<<"${CHAOS_KINDS:-dtm-kill order-kill stock-kill db-restart db-crash stall-order stall-stock}"
MIN_EACH=${CHAOS_MIN_EACH:-1}
SEED=${CHAOS_SEED:-$(( $(date +%s) % 100000 ))}
KEEP=${CHAOS_KEEP:-0}
BUILD=${CDTM_BUILD_DIR:-build}
case $BUILD in /*) ;; *) BUILD=$CDTM_ROOT/$BUILD ;; esac
PROGS=(dtm order-srv stock-srv order-api)

die() { echo "chaos.sh: $*" >&2; exit 2; }
isnum() { case $1 in ''|*[!0-9]*) return 1 ;; esac; }
for v in ORDERS CONC LOAD_SECS DRAIN_SECS MIN_EACH SEED; do
  isnum "${!v}" || die "$v must be a whole number, got '${!v}'"
done
for v in GAP DOWN STALL; do
  [[ ${!v} =~ ^[0-9]+(\.[0-9]+)?-[0-9]+(\.[0-9]+)?$ ]] || die "$v must be MIN-MAX seconds, got '${!v}'"
done
for k in "${KINDS[@]}"; do
  case $k in dtm-kill|order-kill|stock-kill|api-kill|db-restart|db-crash|db-stall|etcd-kill|stall-order|stall-stock) ;;
    *) die "unknown fault kind '$k' in CHAOS_KINDS" ;; esac
done
[[ $RATE =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "CHAOS_RATE must be a number of orders/s, got '$RATE'"
export CDTM_DISCOVERY=${CHAOS_DISCOVERY:-etcd}
case $CDTM_DISCOVERY in etcd|none) ;; *) die "CHAOS_DISCOVERY must be etcd or none" ;; esac
for k in "${KINDS[@]}"; do
  [ "$k" = etcd-kill ] && [ "$CDTM_DISCOVERY" = none ] && die "etcd-kill needs CHAOS_DISCOVERY=etcd"
done
for p in "${PROGS[@]}"; do [ -x "$BUILD/$p" ] || die "$BUILD/$p is missing: build first"; done
command -v cc >/dev/null || die "a C compiler (cc) is needed for the load driver"

# ---- the run folder, ports and the load driver ---------------------------------------

RUN_DIR=$CDTM_RUN/chaos-$$
SUITE=$RUN_DIR/suite
mkdir -p "$SUITE"
export CDTM_RUN=$RUN_DIR CDTM_SUITE_DIR=$SUITE CDTM_BUILD_DIR=$BUILD
LOG=$RUN_DIR/faults.log
: >"$LOG"
: >"$RUN_DIR/faults.tsv"

# pick_port VAR: sets and exports VAR to a free port that no other VAR got.
declare -gA TAKEN
pick_port() {
  local p i
  for i in $(seq 50); do
    p=$(free_port) || break
    if [ -z "${TAKEN[$p]:-}" ]; then
      TAKEN[$p]=1
      printf -v "$1" '%s' "$p"
      export "${1?}"
      return 0
    fi
  done
  die "no free port for $1"
}
if [ -n "${CHAOS_MARIADB_PORT:-}" ]; then
  export MARIADB_PORT=$CHAOS_MARIADB_PORT
  TAKEN[$MARIADB_PORT]=1
else
  pick_port MARIADB_PORT
fi
for v in DTM_HTTP_PORT DTM_GRPC_PORT ORDER_SRV_PORT STOCK_SRV_PORT ORDER_API_PORT ETCD_PORT \
         ETCD_PEER_PORT; do
  pick_port "$v"
done
# The coordinator reads these over its conf.yml (DTM's environment overrides).
export RETRY_INTERVAL=${CHAOS_RETRY_INTERVAL:-1} TRANS_CRON_INTERVAL=1
# From here on the random choices (orders, fault order, durations) follow the seed.
RANDOM=$SEED

LOADER=$RUN_DIR/load
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -o "$LOADER" scripts/chaos/load.c ||
  die "cannot compile scripts/chaos/load.c"

# ---- helpers ---------------------------------------------------------------------------

stamp() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }
say() { echo "$(stamp) $*" | tee -a "$LOG"; }
# fail_note MSG: something that should have recovered did not (a program
# that does not answer after a restart, a kill -9 that did not kill): counted
# with the violations.
NOT_RECOVERED=0
fail_note() { NOT_RECOVERED=$((NOT_RECOVERED + 1)); say "ERROR $*"; }
sql() { scripts/mariadb.sh sql -N -B -e "$1"; }

# rand_ms MIN-MAX: a random duration in that range of seconds, in ms.
rand_ms() {
  local lo=${1%-*} hi=${1#*-}
  lo=$(awk "BEGIN{printf \"%d\", $lo * 1000}"); hi=$(awk "BEGIN{printf \"%d\", $hi * 1000}")
  [ "$hi" -gt "$lo" ] || { echo "$lo"; return; }
  echo $(( lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1) ))
}
sleep_ms() { sleep "$(awk "BEGIN{printf \"%.3f\", $1 / 1000}")"; }

pid_of() { cat "$SUITE/$1.pid" 2>/dev/null || echo 0; }
# gone PID: true when the process no longer runs (a zombie counts as gone).
gone() {
  [ "${1:-0}" -gt 0 ] 2>/dev/null || return 0
  ! kill -0 "$1" 2>/dev/null || grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null
}
# reap PID: collects a child of ours (the load driver, the sampler).
reap() { wait "$1" 2>/dev/null || true; }

http_ok() { curl -sf -o /dev/null --max-time 2 "$1"; }
ready() { # NAME: does it answer?
  case $1 in
    dtm) port_open "$DTM_GRPC_PORT" && http_ok "http://127.0.0.1:$DTM_HTTP_PORT/api/ping" ;;
    order-srv) port_open "$ORDER_SRV_PORT" ;;
    stock-srv) port_open "$STOCK_SRV_PORT" ;;
    order-api) http_ok "http://127.0.0.1:$ORDER_API_PORT/api/ping" ;;
  esac
}

# start_prog NAME: starts NAME again as run-suite.sh did (same config, log
# appended), records its PID and waits until it answers.
start_prog() {
  local name=$1 flag=-f conf
  conf=$SUITE/$name.yaml
  [ "$name" = dtm ] && { flag=-c; conf=$SUITE/dtm.yml; }
  echo "---- $(stamp) chaos.sh restarts $name" >>"$SUITE/$name.log"
  # In a subshell that exits at once: the program is not our child, as with
  # run-suite.sh, so that killing it leaves no zombie and no job notice.
  ( setsid "$BUILD/$name" "$flag" "$conf" </dev/null >>"$SUITE/$name.log" 2>&1 &
    echo $! >"$SUITE/$name.pid" )
  if ! wait_until 30 ready "$name"; then
    fail_note "$name (pid $(pid_of "$name")) did not answer within 30 s after a restart"
    return 1
  fi
}

declare -gA FAULTS
FAULT_TOTAL=0
UNEXPECTED=0
count_fault() { FAULTS[$1]=$(( ${FAULTS[$1]:-0} + 1 )); FAULT_TOTAL=$((FAULT_TOTAL + 1)); }

# check_alive: a program that exited although nobody killed it is a bug:
# report it with the end of its log, and restart it so the run can go on.
check_alive() {
  local p pid
  for p in "${PROGS[@]}"; do
    pid=$(pid_of "$p")
    if gone "$pid"; then
      UNEXPECTED=$((UNEXPECTED + 1))
      say "UNEXPECTED EXIT: $p (pid $pid) is not running; the end of its log:"
      tail -n 15 "$SUITE/$p.log" | sed 's/^/    /' | tee -a "$LOG"
      start_prog "$p" || true
    fi
  done
}

# ---- the faults --------------------------------------------------------------------------

kill_prog() { # KIND NAME
  local pid down; pid=$(pid_of "$2"); down=$(rand_ms "$DOWN")
  say "FAULT $1: kill -9 $2 (pid $pid), down for ${down} ms"
  kill -KILL "$pid" 2>/dev/null || true
  wait_until 10 gone "$pid" || fail_note "$2 (pid $pid) survived kill -9"
  sleep_ms "$down"
  start_prog "$2" && say "  $2 back (pid $(pid_of "$2"))"
}

stall_prog() { # KIND NAME
  local pid hold; pid=$(pid_of "$2"); hold=$(rand_ms "$STALL")
  say "FAULT $1: SIGSTOP $2 (pid $pid) for ${hold} ms"
  kill -STOP "$pid" 2>/dev/null || true
  sleep_ms "$hold"
  kill -CONT "$pid" 2>/dev/null || true
  say "  $2 continued (SIGCONT)"
}

db_pid() { cat "$RUN_DIR/mariadb-$MARIADB_PORT/mysqld.pid" 2>/dev/null || echo 0; }

db_bounce() { # KIND
  local down pid; down=$(rand_ms "$DOWN"); pid=$(db_pid)
  if [ "$1" = db-crash ]; then
    say "FAULT db-crash: kill -9 mariadbd (pid $pid), down for ${down} ms"
    kill -KILL "$pid" 2>/dev/null || true
    wait_until 30 gone "$pid" || fail_note "mariadbd (pid $pid) survived kill -9"
  else
    say "FAULT db-restart: scripts/mariadb.sh stop (pid $pid), down for ${down} ms"
    scripts/mariadb.sh stop >>"$RUN_DIR/mariadb.log" 2>&1 || fail_note "mariadb.sh stop failed"
  fi
  sleep_ms "$down"
  if scripts/mariadb.sh start >>"$RUN_DIR/mariadb.log" 2>&1; then
    say "  mariadb back (pid $(db_pid))"
  else
    fail_note "mariadb did not start again (see $RUN_DIR/mariadb.log); trying once more"
    scripts/mariadb.sh start >>"$RUN_DIR/mariadb.log" 2>&1 || die "mariadb cannot be restarted"
  fi
}

# etcd-kill: run-suite.sh started etcd; it is started again with the same
# command line (the same data folder, so the leases and keys survive, as
# after a crash of a real registry node).
etcd_kill() {
  local pid down cmd=(); pid=$(pid_of etcd); down=$(rand_ms "$DOWN")
  mapfile -d '' cmd <"/proc/$pid/cmdline" || true
  [ ${#cmd[@]} -gt 0 ] || { fail_note "etcd (pid $pid) is not running"; return 1; }
  say "FAULT etcd-kill: kill -9 etcd (pid $pid), down for ${down} ms"
  kill -KILL "$pid" 2>/dev/null || true
  wait_until 10 gone "$pid" || fail_note "etcd (pid $pid) survived kill -9"
  sleep_ms "$down"
  echo "---- $(stamp) chaos.sh restarts etcd" >>"$SUITE/etcd.log"
  ( setsid "${cmd[@]}" </dev/null >>"$SUITE/etcd.log" 2>&1 & echo $! >"$SUITE/etcd.pid" )
  if wait_until 30 curl -sf --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"; then
    say "  etcd back (pid $(pid_of etcd))"
  else
    fail_note "etcd did not answer within 30 s after a restart"
    return 1
  fi
}

db_stall() {
  local pid hold; pid=$(db_pid); hold=$(rand_ms "$STALL")
  say "FAULT db-stall: SIGSTOP mariadbd (pid $pid) for ${hold} ms"
  kill -STOP "$pid" 2>/dev/null || true
  sleep_ms "$hold"
  kill -CONT "$pid" 2>/dev/null || true
  say "  mariadbd continued (SIGCONT)"
}

inject() { # KIND
  count_fault "$1"
  local t0; t0=$(date +%s%3N)
  case $1 in
    dtm-kill) kill_prog "$1" dtm ;;
    order-kill) kill_prog "$1" order-srv ;;
    stock-kill) kill_prog "$1" stock-srv ;;
    api-kill) kill_prog "$1" order-api ;;
    stall-order) stall_prog "$1" order-srv ;;
    stall-stock) stall_prog "$1" stock-srv ;;
    db-restart|db-crash) db_bounce "$1" ;;
    db-stall) db_stall ;;
    etcd-kill) etcd_kill ;;
  esac || true
  # start, end (ms since the epoch) and kind, to line refusals up with faults
  printf '%s\t%s\t%s\n' "$t0" "$(date +%s%3N)" "$1" >>"$RUN_DIR/faults.tsv"
  LAST_FAULT_END=$(date +%s%3N)
}

# The kinds in shuffled rounds: every kind comes once per round.
PLAN=()
next_kind() {
  if [ ${#PLAN[@]} -eq 0 ]; then
    PLAN=("${KINDS[@]}")
    local i j t
    for (( i = ${#PLAN[@]} - 1; i > 0; i-- )); do
      j=$(( RANDOM % (i + 1) )); t=${PLAN[i]}; PLAN[i]=${PLAN[j]}; PLAN[j]=$t
    done
  fi
  KIND=${PLAN[0]}
  PLAN=("${PLAN[@]:1}")
}

# ---- cleanup, whatever happens ---------------------------------------------------------

LOAD_PID=0 SAMPLER_PID=0 RESULT=2
cleanup() {
  local rc=$?
  [ "$LOAD_PID" != 0 ] && { kill "$LOAD_PID" 2>/dev/null || true; reap "$LOAD_PID"; }
  rm -f "$RUN_DIR/sampling"
  [ "$SAMPLER_PID" != 0 ] && reap "$SAMPLER_PID"
  local p
  for p in order-srv stock-srv; do kill -CONT "$(pid_of "$p")" 2>/dev/null || true; done
  kill -CONT "$(db_pid)" 2>/dev/null || true
  scripts/stop.sh >"$RUN_DIR/stop.log" 2>&1 || cat "$RUN_DIR/stop.log" >&2
  # etcd, in case stop.sh left it (only if that PID is still an etcd).
  local epid; epid=$(pid_of etcd)
  if [ "$epid" != 0 ] && tr '\0' ' ' <"/proc/$epid/cmdline" 2>/dev/null | grep -q "/etcd "; then
    kill -TERM "$epid" 2>/dev/null || true
    wait_until 10 gone "$epid" || kill -KILL "$epid" 2>/dev/null || true
  fi
  if [ "$RESULT" = 0 ] && [ "$KEEP" = 0 ]; then
    rm -rf "$RUN_DIR"
  else
    echo "chaos.sh: the run folder is kept: $RUN_DIR (faults.log, orders.tsv, suite/*.log)"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. the suite and the goods -----------------------------------------------------------

echo "chaos run: seed $SEED, $ORDERS orders at concurrency $CONC, $RATE/s; faults: ${KINDS[*]}"
echo "  run folder $RUN_DIR; MariaDB :$MARIADB_PORT, coordinator :$DTM_GRPC_PORT/:$DTM_HTTP_PORT," \
     "order-srv :$ORDER_SRV_PORT, stock-srv :$STOCK_SRV_PORT, order-api :$ORDER_API_PORT"
SUITE_LOG_LEVEL=${CHAOS_LOG_LEVEL:-info} scripts/run-suite.sh >"$RUN_DIR/run-suite.log" 2>&1 || {
  cat "$RUN_DIR/run-suite.log" >&2; die "the suite did not start"; }

# Each goods is asked for about ORDERS/4 x 2 units; the stocks run out at
# different times, so both outcomes keep happening while faults hit.
GOODS=(101 102 103 104)
UNKNOWN_GOODS=199
demand=$(( ORDERS / 2 ))
STOCKS=($(( demand / 20 + 1 )) $(( demand / 5 + 1 )) $(( demand * 2 / 5 + 1 )) $(( demand + 10 )))
: >"$RUN_DIR/initial.tsv"
for i in 0 1 2 3; do
  sql "DELETE FROM \`dtm-gozero-stock\`.stock WHERE goods_id IN (${GOODS[i]}, $UNKNOWN_GOODS);
       INSERT INTO \`dtm-gozero-stock\`.stock (goods_id, num) VALUES (${GOODS[i]}, ${STOCKS[i]})"
  printf '%s\t%s\n' "${GOODS[i]}" "${STOCKS[i]}" >>"$RUN_DIR/initial.tsv"
done
echo "  goods ${GOODS[*]} seeded with ${STOCKS[*]} units; goods $UNKNOWN_GOODS does not exist"

# ---- 2. load, stock samples and faults --------------------------------------------------------

touch "$RUN_DIR/sampling"
(
  while [ -f "$RUN_DIR/sampling" ]; do
    v=$(sql "SELECT MIN(num) FROM \`dtm-gozero-stock\`.stock
             WHERE goods_id IN ($(IFS=,; echo "${GOODS[*]}"))" 2>/dev/null) || v=
    [ -n "$v" ] && [ "$v" != NULL ] && echo "$v" >>"$RUN_DIR/samples"
    sleep 0.3
  done
) &
SAMPLER_PID=$!

T0=$(date +%s)
"$LOADER" -p "$ORDER_API_PORT" -n "$ORDERS" -c "$CONC" -r "$RATE" -t "$LOAD_SECS" \
  -g "$(IFS=,; echo "${GOODS[*]}")" -u "$UNKNOWN_GOODS" -s "$SEED" \
  >"$RUN_DIR/orders.tsv" 2>"$RUN_DIR/load.log" &
LOAD_PID=$!
say "load started (pid $LOAD_PID)"

load_running() { ! gone "$LOAD_PID"; }
while load_running; do
  # Sleep the gap in small steps, so the loop ends soon after the load does.
  end=$(( $(date +%s%N) / 1000000 + $(rand_ms "$GAP") ))
  while load_running && [ $(( $(date +%s%N) / 1000000 )) -lt "$end" ]; do sleep 0.2; done
  load_running || break
  check_alive
  next_kind
  inject "$KIND"
done
wait "$LOAD_PID" || fail_note "the load driver failed"
LOAD_PID=0
say "load done after $(( $(date +%s) - T0 )) s: $(cat "$RUN_DIR/load.log")"

for k in "${KINDS[@]}"; do
  while [ "${FAULTS[$k]:-0}" -lt "$MIN_EACH" ]; do
    sleep_ms "$(rand_ms "$GAP")"
    check_alive
    inject "$k"
  done
done
check_alive
FAULTS_END=$(date +%s)
FAULTS_END_MS=$(date +%s%3N)
say "faults over ($FAULT_TOTAL injected); every program is up; waiting for the sagas to finish"

# ---- 3. drain ------------------------------------------------------------------------------------

pending() {
  sql "SELECT COUNT(*) FROM dtm.trans_global WHERE status NOT IN ('succeed', 'failed')" 2>/dev/null ||
    echo unknown
}
deadline=$(( FAULTS_END + DRAIN_SECS ))
last_note=0
while :; do
  n=$(pending)
  [ "$n" = 0 ] && break
  now=$(date +%s)
  if [ "$now" -ge "$deadline" ]; then
    say "DRAIN DEADLINE: $n sagas still not final after $DRAIN_SECS s"
    break
  fi
  if [ $(( now - last_note )) -ge 10 ]; then
    say "  $n sagas not final yet"
    last_note=$now
  fi
  check_alive
  sleep 1
done
DRAIN_MS=$(( $(date +%s%3N) - FAULTS_END_MS ))
DRAIN=$(awk "BEGIN{printf \"%.1f\", $DRAIN_MS / 1000}")
SINCE_FAULT=$(awk "BEGIN{printf \"%.1f\", ($(date +%s%3N) - ${LAST_FAULT_END:-$FAULTS_END_MS}) / 1000}")
rm -f "$RUN_DIR/sampling"
reap "$SAMPLER_PID"; SAMPLER_PID=0
check_alive

# ---- 4. invariants and the summary -----------------------------------------------------------------

echo "checking the invariants"
touch "$RUN_DIR/samples"
CHECK_RC=0
scripts/chaos/check.sh "$RUN_DIR/orders.tsv" "$RUN_DIR/initial.tsv" "$RUN_DIR/samples" \
  "$RUN_DIR/result" | tee "$RUN_DIR/check.log" || CHECK_RC=$?
[ -s "$RUN_DIR/result" ] || die "the invariant checker failed (rc $CHECK_RC)"
# It sets these (KEY=VALUE lines written by check.sh):
accepted=0 succeeded=0 failed=0 lost=0 violations=0 in_store=0 stored_unaccepted=0
min_stock_sampled=none
# shellcheck disable=SC1091
. "$RUN_DIR/result"
violations=$(( violations + UNEXPECTED + NOT_RECOVERED ))

placed=$(grep -c . "$RUN_DIR/orders.tsv" || true)
refused=$(( placed - accepted ))
replies=$(awk -F'\t' '$2 != 200 || $3 == "-" { c[$2 == 0 ? "no connection" : ($2 == -1 ? "no reply" : "HTTP " $2)]++ }
  END { for (k in c) printf "%s%s x%d", (n++ ? ", " : ""), k, c[k] }' "$RUN_DIR/orders.tsv")
# Each refused order, charged to the fault that last started before it was
# sent; and, per kind, how long after that fault had been repaired (the
# program answered again) refusals still came.
by_fault=$(awk -F'\t' 'FNR == NR { start[++n] = $1; end[n] = $2; kind[n] = $3; next }
  ($2 != 200 || $3 == "-") && NF >= 9 {
    k = "before any fault"; f = 0
    for (i = 1; i <= n; i++) if (start[i] <= $9) { k = kind[i]; f = i }
    c[k]++
    if (f && $9 - end[f] > tail[k]) tail[k] = $9 - end[f]
  }
  END {
    for (k in c) {
      printf "%s%s %d", (m++ ? ", " : ""), k, c[k]
      if (tail[k] > 0) printf " (until %.1f s after repair)", tail[k] / 1000
    }
  }' "$RUN_DIR/faults.tsv" "$RUN_DIR/orders.tsv")
kinds=""
for k in "${KINDS[@]}"; do kinds+="${kinds:+, }$k ${FAULTS[$k]:-0}"; done
{
  echo "chaos summary (seed $SEED)"
  echo "  orders: $placed placed, $accepted accepted, $refused refused${replies:+ ($replies)}"
  echo "  faults: $FAULT_TOTAL ($kinds)"
  echo "  succeeded: $succeeded"
  echo "  failed: $failed"
  echo "  lost: $lost"
  echo "  violations: $violations (unexpected exits $UNEXPECTED, not recovered $NOT_RECOVERED)"
  echo "  drain: ${DRAIN} s after the load and the faults ended (${SINCE_FAULT} s after the last fault)"
  echo "  refusals by the fault last started before them: ${by_fault:-none}"
  echo "  sagas in the store: $in_store ($stored_unaccepted of orders that were not accepted)"
  echo "  lowest stock sampled: $min_stock_sampled"
} | tee "$RUN_DIR/summary.txt"
if [ "$lost" -eq 0 ] && [ "$violations" -eq 0 ] && [ "$CHECK_RC" -le 1 ]; then
  RESULT=0
  echo "chaos: PASS"
else
  RESULT=1
  echo "chaos: FAIL"
fi
exit "$RESULT"
}

main "$@"
