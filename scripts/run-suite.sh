#!/usr/bin/env bash
# run-suite.sh: starts the whole place-order demo on 127.0.0.1, from the
# build folder: etcd (the service registry), MariaDB (scripts/mariadb.sh), the
# coordinator `dtm`, order-srv, stock-srv and order-api. It writes each
# program's config into the suite folder, its log to <name>.log and its PID to
# <name>.pid there, and waits for each to answer (a port or HTTP /api/ping,
# and its key in etcd) before starting the next. scripts/stop.sh stops
# everything this started. Used by demo.sh (and by anything else that needs a
# running suite).
#
# Discovery, as in the go-zero demo (README, "Service discovery"): the
# services and the coordinator register in etcd (order.rpc/<lease>,
# stock.rpc/<lease>, dtmservice/<lease>); order-api writes branch URLs
# etcd://127.0.0.1:<etcd port>/order.rpc/pb.order/create and finds the
# coordinator at etcd://127.0.0.1:<etcd port>/dtmservice. CDTM_DISCOVERY=none
# runs without etcd, on plain host:port targets.
#
#   CDTM_BUILD_DIR   where the binaries are (default build)
#   CDTM_SUITE_DIR   configs, logs, PIDs   (default .run/suite)
#   CDTM_DISCOVERY   etcd (default) or none
#   ETCD_PORT        2379     ETCD_PEER_PORT   2380    (data: <suite dir>/etcd.data, fresh each run)
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
DISCOVERY=${CDTM_DISCOVERY:-etcd}
ETCD_PORT=${ETCD_PORT:-2379}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-2380}
ETCD=127.0.0.1:$ETCD_PORT
LOG_LEVEL=${SUITE_LOG_LEVEL:-info}
READY_SECS=${SUITE_READY_SECS:-30}
PROGS=(dtm order-srv stock-srv order-api) # start order; stop.sh goes backwards

die() { echo "run-suite.sh: $*" >&2; exit 1; }

# ---- checks before anything starts ------------------------------------------------

case $DISCOVERY in
  etcd|none) ;;
  *) die "CDTM_DISCOVERY must be etcd or none, not '$DISCOVERY'" ;;
esac
for p in "${PROGS[@]}"; do
  [ -x "$BUILD/$p" ] ||
    die "$BUILD/$p is missing: build first (cmake -S . -B build && cmake --build build)"
done
command -v curl >/dev/null || die "curl not found; run ./scripts/install-deps.sh (as root)"
if [ "$DISCOVERY" = etcd ]; then
  ETCD_BIN=$(command -v etcd) && ETCDCTL=$(command -v etcdctl) ||
    die "etcd or etcdctl not found; run ./scripts/install-deps.sh (as root), or set CDTM_DISCOVERY=none"
fi

mkdir -p "$SUITE"
for p in etcd "${PROGS[@]}"; do
  if [ -f "$SUITE/$p.pid" ] && kill -0 "$(cat "$SUITE/$p.pid")" 2>/dev/null; then
    die "the suite is already running ($p, pid $(cat "$SUITE/$p.pid")); scripts/stop.sh stops it"
  fi
done

check_port() { # PORT WHAT VARIABLE
  if port_open "$1"; then
    die "port $1 ($2) is busy: stop what listens there, or choose another port with $3=<port>"
  fi
}
if [ "$DISCOVERY" = etcd ]; then
  check_port "$ETCD_PORT" "etcd clients" ETCD_PORT
  check_port "$ETCD_PEER_PORT" "etcd peers" ETCD_PEER_PORT
fi
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
  CDTM_SUITE_DIR=$SUITE ./scripts/stop.sh >&2 || true # etcd included
  exit "$rc"
}
trap on_exit EXIT

# ---- etcd ------------------------------------------------------------------------------

if [ "$DISCOVERY" = etcd ]; then
  # A fresh registry each run: no key left by an earlier run's instances.
  rm -rf "$SUITE/etcd.data"
  setsid "$ETCD_BIN" --name cdtm --data-dir "$SUITE/etcd.data" \
    --listen-client-urls "http://$ETCD" --advertise-client-urls "http://$ETCD" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "cdtm=http://127.0.0.1:$ETCD_PEER_PORT" \
    </dev/null >"$SUITE/etcd.log" 2>&1 &
  echo $! >"$SUITE/etcd.pid"
  etcd_healthy() { curl -sf --max-time 2 "http://$ETCD/health" | grep -q '"health":"true"'; }
  if ! wait_until "$READY_SECS" etcd_healthy; then
    tail -n 20 "$SUITE/etcd.log" >&2 || true
    die "etcd did not become healthy on $ETCD within ${READY_SECS} s (log: $SUITE/etcd.log)"
  fi
  echo "  etcd ready on $ETCD (pid $(cat "$SUITE/etcd.pid"))"
fi
# registered KEY: true once an instance is registered under "KEY/".
registered() { ETCDCTL_API=3 "$ETCDCTL" --endpoints="$ETCD" get --prefix --keys-only "$1/" | grep -q .; }

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
if [ "$DISCOVERY" = etcd ]; then
  # The seed tutorial's settings (demo.md §6), on this etcd.
  cat >>"$SUITE/dtm.yml" <<EOF
MicroService:
  Driver: dtm-driver-gozero
  Target: etcd://$ETCD/dtmservice
  EndPoint: 127.0.0.1:$DTM_GRPC_PORT
EOF
  printf 'Etcd:\n  Hosts: [%s]\n  Key: order.rpc\n' "$ETCD" >>"$SUITE/order-srv.yaml"
  printf 'Etcd:\n  Hosts: [%s]\n  Key: stock.rpc\n' "$ETCD" >>"$SUITE/stock-srv.yaml"
  DTM_TARGET=etcd://$ETCD/dtmservice
  ORDER_TARGET=etcd://$ETCD/order.rpc
  STOCK_TARGET=etcd://$ETCD/stock.rpc
else
  DTM_TARGET=127.0.0.1:$DTM_GRPC_PORT
  ORDER_TARGET=127.0.0.1:$ORDER_SRV_PORT
  STOCK_TARGET=127.0.0.1:$STOCK_SRV_PORT
fi
cat >"$SUITE/order-api.yaml" <<EOF
Name: order-api
Host: 127.0.0.1
Port: $ORDER_API_PORT
LogLevel: $LOG_LEVEL
Dtm:
  Target: $DTM_TARGET
  HttpTarget: http://127.0.0.1:$DTM_HTTP_PORT/api/dtmsvr
OrderRpcConf:
  Target: $ORDER_TARGET
StockRpcConf:
  Target: $STOCK_TARGET
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
[ "$DISCOVERY" = none ] || ready dtm "etcd key dtmservice/" registered dtmservice
start order-srv -f "$SUITE/order-srv.yaml"
ready order-srv "gRPC :$ORDER_SRV_PORT" port_open "$ORDER_SRV_PORT"
[ "$DISCOVERY" = none ] || ready order-srv "etcd key order.rpc/" registered order.rpc
start stock-srv -f "$SUITE/stock-srv.yaml"
ready stock-srv "gRPC :$STOCK_SRV_PORT" port_open "$STOCK_SRV_PORT"
[ "$DISCOVERY" = none ] || ready stock-srv "etcd key stock.rpc/" registered stock.rpc
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
CDTM_DISCOVERY=$DISCOVERY
ETCD_ENDPOINT=$([ "$DISCOVERY" = none ] || echo "$ETCD")
EOF
trap - EXIT
echo "suite running: order-api http://127.0.0.1:$ORDER_API_PORT, coordinator" \
  "http://127.0.0.1:$DTM_HTTP_PORT/api/dtmsvr (gRPC :$DTM_GRPC_PORT), MariaDB :$MARIADB_PORT," \
  "$([ "$DISCOVERY" = none ] && echo "no discovery" || echo "etcd $ETCD")"
