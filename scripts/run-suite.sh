#!/usr/bin/env bash
# run-suite.sh: starts the whole place-order demo on 127.0.0.1, from the
# build folder: MariaDB (scripts/mariadb.sh), the coordinator `dtm`,
# order-srv, stock-srv and order-api. It writes each program's config into
# the suite folder, its log to <name>.log and its PID to <name>.pid there, and
# waits for each to answer (a port, or HTTP /api/ping) before starting the
# next. scripts/stop.sh stops everything this started. Used by demo.sh (and by
# anything else that needs a running suite).
#
#   CDTM_BUILD_DIR   where the binaries are (default build)
#   CDTM_SUITE_DIR   configs, logs, PIDs   (default .run/suite)
#   MARIADB_PORT     3306     DTM_HTTP_PORT    36789   DTM_GRPC_PORT  36790
#   ORDER_SRV_PORT   9001     STOCK_SRV_PORT   9002    ORDER_API_PORT 8889
#   SUITE_LOG_LEVEL  info     SUITE_READY_SECS 30 (per program)
# The defaults are the upstream demo's ports; a port already in use stops the
# script with a message naming it. On success it prints the URLs and writes
# them, sourceable, to <suite dir>/env.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

BUILD=${CDTM_BUILD_DIR:-build}
case $BUILD in /*) ;; *) BUILD=$CDTM_ROOT/$BUILD ;; esac
SUITE=${CDTM_SUITE_DIR:-$CDTM_RUN/suite}
MARIADB_PORT=${MARIADB_PORT:-3306}
DTM_HTTP_PORT=${DTM_HTTP_PORT:-36789}
DTM_GRPC_PORT=${DTM_GRPC_PORT:-36790}
ORDER_SRV_PORT=${ORDER_SRV_PORT:-9001}
STOCK_SRV_PORT=${STOCK_SRV_PORT:-9002}
ORDER_API_PORT=${ORDER_API_PORT:-8889}
LOG_LEVEL=${SUITE_LOG_LEVEL:-info}
READY_SECS=${SUITE_READY_SECS:-30}
PROGS=(dtm order-srv stock-srv order-api) # start order; stop.sh goes backwards

die() { echo "run-suite.sh: $*" >&2; exit 1; }

# ---- checks before anything starts ------------------------------------------------

for p in "${PROGS[@]}"; do
  [ -x "$BUILD/$p" ] ||
    die "$BUILD/$p is missing: build first (cmake -S . -B build && cmake --build build)"
done
command -v curl >/dev/null || die "curl not found; run ./scripts/install-deps.sh (as root)"

mkdir -p "$SUITE"
for p in "${PROGS[@]}"; do
  if [ -f "$SUITE/$p.pid" ] && kill -0 "$(cat "$SUITE/$p.pid")" 2>/dev/null; then
    die "the suite is already running ($p, pid $(cat "$SUITE/$p.pid")); scripts/stop.sh stops it"
  fi
done

check_port() { # PORT WHAT VARIABLE
  if port_open "$1"; then
    die "port $1 ($2) is busy: stop what listens there, or choose another port with $3=<port>"
  fi
}
check_port "$DTM_HTTP_PORT" "coordinator HTTP" DTM_HTTP_PORT
check_port "$DTM_GRPC_PORT" "coordinator gRPC" DTM_GRPC_PORT
check_port "$ORDER_SRV_PORT" "order-srv gRPC" ORDER_SRV_PORT
check_port "$STOCK_SRV_PORT" "stock-srv gRPC" STOCK_SRV_PORT
check_port "$ORDER_API_PORT" "order-api HTTP" ORDER_API_PORT

# From here on, a failure stops whatever this run has started.
rm -f "$SUITE"/*.pid "$SUITE/mariadb.started"
on_exit() {
  local rc=$?
  [ "$rc" -eq 0 ] && return 0
  echo "run-suite.sh: start-up failed; stopping what was started" >&2
  CDTM_SUITE_DIR=$SUITE ./scripts/stop.sh >&2 || true
  exit "$rc"
}
trap on_exit EXIT

# ---- MariaDB -------------------------------------------------------------------------

export MARIADB_PORT
if ./scripts/mariadb.sh status >/dev/null 2>&1; then
  # Ours already (e.g. left by a test run): reuse it; start only reloads sql/*.sql.
  ./scripts/mariadb.sh start
else
  check_port "$MARIADB_PORT" "MariaDB" MARIADB_PORT
  ./scripts/mariadb.sh start
  # stop.sh stops MariaDB only when this script started it.
  echo "$MARIADB_PORT" >"$SUITE/mariadb.started"
fi

# ---- configs -----------------------------------------------------------------------------

DB="tcp(127.0.0.1:$MARIADB_PORT)"
cat >"$SUITE/dtm.yml" <<EOF
# The coordinator (DTM's conf.yml keys), written by scripts/run-suite.sh.
Store:
  Driver: mysql
  Host: 127.0.0.1
  Port: $MARIADB_PORT
  User: dtm
  Password: dtm
  Db: dtm
BindAddress: 127.0.0.1
HttpPort: $DTM_HTTP_PORT
GrpcPort: $DTM_GRPC_PORT
# cdtm accepts less than DTM's minimum of 10 s: a branch that was down is
# retried within seconds in the demo.
RetryInterval: 2
LogLevel: $LOG_LEVEL
EOF
cat >"$SUITE/order-srv.yaml" <<EOF
Name: order.rpc
ListenOn: 127.0.0.1:$ORDER_SRV_PORT
LogLevel: $LOG_LEVEL
DB:
  DataSource: "order_srv:order_srv@$DB/dtm-gozero-order?charset=utf8mb4&parseTime=true&loc=UTC"
EOF
cat >"$SUITE/stock-srv.yaml" <<EOF
Name: stock.rpc
ListenOn: 127.0.0.1:$STOCK_SRV_PORT
LogLevel: $LOG_LEVEL
DB:
  DataSource: "stock_srv:stock_srv@$DB/dtm-gozero-stock?charset=utf8mb4&parseTime=true&loc=UTC"
EOF
cat >"$SUITE/order-api.yaml" <<EOF
Name: order-api
Host: 127.0.0.1
Port: $ORDER_API_PORT
LogLevel: $LOG_LEVEL
Dtm:
  Target: 127.0.0.1:$DTM_GRPC_PORT
  HttpTarget: http://127.0.0.1:$DTM_HTTP_PORT/api/dtmsvr
OrderRpcConf:
  Target: 127.0.0.1:$ORDER_SRV_PORT
StockRpcConf:
  Target: 127.0.0.1:$STOCK_SRV_PORT
DB:
  DataSource: "order_srv:order_srv@$DB/dtm-gozero-order?charset=utf8mb4&parseTime=true&loc=UTC"
EOF

# ---- the programs --------------------------------------------------------------------------

# start NAME ARGS...: runs $BUILD/NAME in its own session (so that a ^C in
# the terminal does not reach it), logging to NAME.log (a fresh one each run),
# PID in NAME.pid.
start() {
  local name=$1; shift
  setsid "$BUILD/$name" "$@" </dev/null >"$SUITE/$name.log" 2>&1 &
  echo $! >"$SUITE/$name.pid"
}

http_ok() { curl -sf -o /dev/null --max-time 2 "$1"; }

# ready NAME WHAT CMD...: waits until CMD succeeds, failing early when NAME died.
ready() {
  local name=$1 what=$2; shift 2
  local pid; pid=$(cat "$SUITE/$name.pid")
  local deadline=$(( $(date +%s) + READY_SECS ))
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$SUITE/$name.log" >&2 || true
      die "$name exited during start-up (log: $SUITE/$name.log)"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      tail -n 20 "$SUITE/$name.log" >&2 || true
      die "$name did not answer on $what within ${READY_SECS} s (log: $SUITE/$name.log)"
    fi
    sleep 0.1
  done
  echo "  $name ready on $what (pid $pid)"
}

echo "starting the suite (logs and PIDs in $SUITE)"
start dtm -c "$SUITE/dtm.yml"
ready dtm "gRPC :$DTM_GRPC_PORT" port_open "$DTM_GRPC_PORT"
ready dtm "HTTP :$DTM_HTTP_PORT" http_ok "http://127.0.0.1:$DTM_HTTP_PORT/api/ping"
start order-srv -f "$SUITE/order-srv.yaml"
ready order-srv "gRPC :$ORDER_SRV_PORT" port_open "$ORDER_SRV_PORT"
start stock-srv -f "$SUITE/stock-srv.yaml"
ready stock-srv "gRPC :$STOCK_SRV_PORT" port_open "$STOCK_SRV_PORT"
start order-api -f "$SUITE/order-api.yaml"
ready order-api "HTTP :$ORDER_API_PORT" http_ok "http://127.0.0.1:$ORDER_API_PORT/api/ping"

cat >"$SUITE/env" <<EOF
# Written by scripts/run-suite.sh: source it to reach the running suite.
MARIADB_PORT=$MARIADB_PORT
DTM_HTTP_PORT=$DTM_HTTP_PORT
DTM_GRPC_PORT=$DTM_GRPC_PORT
ORDER_SRV_PORT=$ORDER_SRV_PORT
STOCK_SRV_PORT=$STOCK_SRV_PORT
ORDER_API_PORT=$ORDER_API_PORT
ORDER_API_URL=http://127.0.0.1:$ORDER_API_PORT
DTM_HTTP_URL=http://127.0.0.1:$DTM_HTTP_PORT/api/dtmsvr
EOF
trap - EXIT
echo "suite running: order-api http://127.0.0.1:$ORDER_API_PORT, coordinator" \
  "http://127.0.0.1:$DTM_HTTP_PORT/api/dtmsvr (gRPC :$DTM_GRPC_PORT), MariaDB :$MARIADB_PORT"
