#!/usr/bin/env bash
# leakcheck.sh: runs the four executables (dtm, order-srv, stock-srv,
# order-api) built with AddressSanitizer + LeakSanitizer under a load of
# orders, stops each with SIGTERM, and fails if any reports a leak or another
# sanitizer error, or does not exit with status 0.
#
#  1. Builds with -DCDTM_SANITIZE=ON into CDTM_BUILD_DIR (default build-asan).
#  2. Starts a MariaDB of its own on a free port (scripts/mariadb.sh, in a run
#     folder under .run/), an etcd on free ports when LEAK_DISCOVERY=etcd (the
#     default when etcd is installed; the services register there and find
#     each other as in the demo; "none": plain host:port targets), and the
#     four programs as its own children, each with ASAN_OPTIONS=detect_leaks=1
#     and a log_path of its own (<run>/asan/<name>.<pid>).
#  3. Places orders through order-api for LEAK_LOAD_SECS (60) seconds at
#     LEAK_RATE (15) orders/s, a quarter of them with ?wait=true, against goods
#     with little stock so that sagas both succeed and compensate
#     (scripts/chaos/load.c); then a few GET /order/{gid}, coordinator
#     queries and bad requests, so those paths run too.
#  4. Unless LEAK_DRAIN=1 (wait until every saga is final first), stops the
#     programs at once, with sagas possibly in flight: order-api, stock-srv,
#     order-srv, then dtm, each with SIGTERM, allowing LEAK_STOP_SECS (30)
#     before SIGKILL.
#  5. Prints, per program, its exit status and what the sanitizers reported
#     (the leak summary and the first stacks), and exits 1 if anything was
#     reported or a status was not 0; 2 when the run could not be set up.
# The run folder is removed after a clean pass, kept otherwise (LEAK_KEEP=1
# keeps it always).
#
#   scripts/leakcheck.sh        CDTM_BUILD_DIR  LEAK_LOAD_SECS  LEAK_RATE
#   LEAK_DRAIN  LEAK_STOP_SECS  LEAK_KEEP  LEAK_DISCOVERY
set -euo pipefail

# One function, read whole before it runs (editing the file mid-run is safe).
main() {
cd "$(dirname "$0")/.."
. scripts/lib.sh

BUILD=${CDTM_BUILD_DIR:-build-asan}
case $BUILD in /*) ;; *) BUILD=$CDTM_ROOT/$BUILD ;; esac
LOAD_SECS=${LEAK_LOAD_SECS:-60}
RATE=${LEAK_RATE:-15}
DRAIN=${LEAK_DRAIN:-0}
STOP_SECS=${LEAK_STOP_SECS:-30}
KEEP=${LEAK_KEEP:-0}
if command -v etcd >/dev/null && command -v etcdctl >/dev/null; then
  DISCOVERY=${LEAK_DISCOVERY:-etcd}
else
  DISCOVERY=${LEAK_DISCOVERY:-none}
fi
case $DISCOVERY in etcd|none) ;; *) echo "leakcheck.sh: LEAK_DISCOVERY must be etcd or none" >&2; exit 2 ;; esac
PROGS=(dtm order-srv stock-srv order-api)
die() { echo "leakcheck.sh: $*" >&2; exit 2; }

# ---- 1. build ----------------------------------------------------------------------------

echo "building with -DCDTM_SANITIZE=ON into $BUILD"
cmake -S . -B "$BUILD" -DCDTM_SANITIZE=ON >/dev/null || die "cmake failed"
cmake --build "$BUILD" -j"$(nproc)" --target "${PROGS[@]}" >"$BUILD/leakcheck-build.log" 2>&1 || {
  tail -30 "$BUILD/leakcheck-build.log" >&2; die "the sanitizer build failed"; }

# ---- 2. MariaDB and the programs ------------------------------------------------------------

RUN_DIR=$CDTM_RUN/leak-$$
mkdir -p "$RUN_DIR/asan"
export CDTM_RUN=$RUN_DIR
declare -gA PID PORT
# Free ports, all different (free_port picks at random, so two could match).
for k in mariadb dtm dtm-http order-srv stock-srv order-api etcd etcd-peer; do
  for _try in $(seq 20); do
    PORT[$k]=$(free_port) || die "no free port"
    dup=0
    for o in "${!PORT[@]}"; do [ "$o" != "$k" ] && [ "${PORT[$o]}" = "${PORT[$k]}" ] && dup=1; done
    [ "$dup" = 0 ] && break
  done
done
export MARIADB_PORT=${PORT[mariadb]}
RESULT=2
ETCD_PID=

cleanup() {
  local rc=$? p
  for p in "${PROGS[@]}"; do
    [ -n "${PID[$p]:-}" ] && kill -KILL "${PID[$p]}" 2>/dev/null || true
  done
  scripts/mariadb.sh stop >/dev/null 2>&1 || true
  [ -n "$ETCD_PID" ] && { kill -TERM "$ETCD_PID" 2>/dev/null || true; wait "$ETCD_PID" 2>/dev/null || true; }
  if [ "$RESULT" = 0 ] && [ "$KEEP" = 0 ]; then
    rm -rf "$RUN_DIR"
  else
    echo "leakcheck.sh: the run folder is kept: $RUN_DIR (asan/, *.log)"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

scripts/mariadb.sh start >"$RUN_DIR/mariadb.log" 2>&1 || { cat "$RUN_DIR/mariadb.log" >&2; die "MariaDB did not start"; }
DB="tcp(127.0.0.1:$MARIADB_PORT)"
ETCD=127.0.0.1:${PORT[etcd]}
if [ "$DISCOVERY" = etcd ]; then
  etcd --name leak --data-dir "$RUN_DIR/etcd.data" \
    --listen-client-urls "http://$ETCD" --advertise-client-urls "http://$ETCD" \
    --listen-peer-urls "http://127.0.0.1:${PORT[etcd-peer]}" \
    --initial-advertise-peer-urls "http://127.0.0.1:${PORT[etcd-peer]}" \
    --initial-cluster "leak=http://127.0.0.1:${PORT[etcd-peer]}" </dev/null >"$RUN_DIR/etcd.log" 2>&1 &
  ETCD_PID=$!
  wait_until 30 curl -sf --max-time 2 "http://$ETCD/health" || die "etcd did not start (log: $RUN_DIR/etcd.log)"
  DTM_TARGET=etcd://$ETCD/dtmservice
  ORDER_TARGET=etcd://$ETCD/order.rpc
  STOCK_TARGET=etcd://$ETCD/stock.rpc
else
  DTM_TARGET=127.0.0.1:${PORT[dtm]}
  ORDER_TARGET=127.0.0.1:${PORT[order-srv]}
  STOCK_TARGET=127.0.0.1:${PORT[stock-srv]}
fi
cat >"$RUN_DIR/dtm.yml" <<EOF
Store:
  Driver: mysql
  Host: 127.0.0.1
  Port: $MARIADB_PORT
  User: dtm
  Password: dtm
  Db: dtm
HttpPort: ${PORT[dtm-http]}
GrpcPort: ${PORT[dtm]}
RetryInterval: 1
TransCronInterval: 1
EOF
for svc in order stock; do
  cat >"$RUN_DIR/$svc-srv.yaml" <<EOF
ListenOn: 127.0.0.1:${PORT[$svc-srv]}
DB:
  DataSource: "${svc}_srv:${svc}_srv@$DB/dtm-gozero-$svc"
EOF
done
if [ "$DISCOVERY" = etcd ]; then
  printf 'MicroService:\n  Driver: dtm-driver-gozero\n  Target: etcd://%s/dtmservice\n  EndPoint: 127.0.0.1:%s\n' \
    "$ETCD" "${PORT[dtm]}" >>"$RUN_DIR/dtm.yml"
  for svc in order stock; do
    printf 'Etcd:\n  Hosts: [%s]\n  Key: %s.rpc\n' "$ETCD" "$svc" >>"$RUN_DIR/$svc-srv.yaml"
  done
fi
cat >"$RUN_DIR/order-api.yaml" <<EOF
Name: order-api
Host: 127.0.0.1
Port: ${PORT[order-api]}
Dtm:
  Target: $DTM_TARGET
  HttpTarget: http://127.0.0.1:${PORT[dtm-http]}/api/dtmsvr
  WaitTimeout: 10000
OrderRpcConf:
  Target: $ORDER_TARGET
StockRpcConf:
  Target: $STOCK_TARGET
EOF

http_ok() { curl -sf -o /dev/null --max-time 2 "$1"; }
ready() {
  case $1 in
    dtm) port_open "${PORT[dtm]}" && http_ok "http://127.0.0.1:${PORT[dtm-http]}/api/ping" ;;
    order-api) http_ok "http://127.0.0.1:${PORT[order-api]}/api/ping" ;;
    *) port_open "${PORT[$1]}" ;;
  esac
}
# The programs are our children, so that `wait` gives their exit status.
start() {
  local name=$1 flag=-f conf=$RUN_DIR/$1.yaml
  [ "$name" = dtm ] && { flag=-c; conf=$RUN_DIR/dtm.yml; }
  ASAN_OPTIONS="detect_leaks=1:log_path=$RUN_DIR/asan/$name:abort_on_error=0" \
  UBSAN_OPTIONS="print_stacktrace=1:log_path=$RUN_DIR/asan/$name" \
    "$BUILD/$name" "$flag" "$conf" </dev/null >"$RUN_DIR/$name.log" 2>&1 &
  PID[$name]=$!
  wait_until 60 ready "$name" || { tail -20 "$RUN_DIR/$name.log" >&2; die "$name did not start"; }
  echo "  $name ready (pid ${PID[$name]})"
}
echo "starting the suite under the sanitizers (run folder $RUN_DIR; discovery: $DISCOVERY)"
for p in "${PROGS[@]}"; do start "$p"; done

# ---- 3. load ------------------------------------------------------------------------------------

sql() { scripts/mariadb.sh sql -N -B -e "$1"; }
sql "DELETE FROM \`dtm-gozero-stock\`.stock WHERE goods_id IN (201, 202, 299);
     INSERT INTO \`dtm-gozero-stock\`.stock (goods_id, num) VALUES (201, $(( RATE * LOAD_SECS / 4 ))), (202, 1000000)"
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -o "$RUN_DIR/load" scripts/chaos/load.c ||
  die "cannot compile scripts/chaos/load.c"
echo "placing orders for $LOAD_SECS s at $RATE/s"
"$RUN_DIR/load" -p "${PORT[order-api]}" -n $(( RATE * LOAD_SECS )) -c 8 -r "$RATE" \
  -t $(( LOAD_SECS + 5 )) -g 201,202 -u 299 -w 25 -s 7 >"$RUN_DIR/orders.tsv" 2>"$RUN_DIR/load.log" ||
  die "the load driver failed"
cat "$RUN_DIR/load.log"

API=http://127.0.0.1:${PORT[order-api]}
DTM=http://127.0.0.1:${PORT[dtm-http]}/api/dtmsvr
for gid in $(awk -F'\t' '$3 != "-" { print $3 }' "$RUN_DIR/orders.tsv" | head -20); do
  curl -s -o /dev/null --max-time 10 "$API/order/$gid" || true
  curl -s -o /dev/null --max-time 10 "$DTM/query?gid=$gid" || true
done
for body in '{"userId":1' '{"userId":1,"goodsId":1}' '[1]' '{"userId":1,"goodsId":1,"num":1e99}'; do
  curl -s -o /dev/null --max-time 10 -X POST "$API/order/quickCreate" -d "$body" || true
done
curl -s -o /dev/null --max-time 10 "$API/order/no-such-gid" || true
curl -s -o /dev/null --max-time 10 "$DTM/newGid" || true
curl -s -o /dev/null --max-time 10 -X POST "$DTM/submit" -d '{"gid":"x","trans_type":"nope"}' || true

if [ "$DRAIN" = 1 ]; then
  echo "waiting until every saga is final"
  wait_until 120 bash -c "[ \"\$(MARIADB_PORT=$MARIADB_PORT CDTM_RUN=$RUN_DIR scripts/mariadb.sh sql -N -B \
    -e \"SELECT COUNT(*) FROM dtm.trans_global WHERE status NOT IN ('succeed','failed')\")\" = 0 ]" ||
    echo "  (some sagas are still not final; stopping anyway)"
fi

# ---- 4. stop, 5. report ----------------------------------------------------------------------------

bad=0
declare -gA STATUS
for p in order-api stock-srv order-srv dtm; do
  pid=${PID[$p]}
  kill -TERM "$pid" 2>/dev/null || true
  t0=$(date +%s%N)
  if ! wait_until "$STOP_SECS" bash -c "! kill -0 $pid 2>/dev/null || grep -q '^[0-9]* ([^)]*) Z' /proc/$pid/stat"; then
    kill -KILL "$pid" 2>/dev/null || true
    STATUS[$p]="did not exit within $STOP_SECS s of SIGTERM (killed)"
    bad=1
  fi
  rc=0; wait "$pid" || rc=$?
  PID[$p]=
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  if [ -z "${STATUS[$p]:-}" ]; then
    STATUS[$p]="exit status $rc after SIGTERM ($ms ms)"
    [ "$rc" = 0 ] || bad=1
  fi
done

echo
echo "leak check summary ($LOAD_SECS s of load, discovery $DISCOVERY; sagas were $([ "$DRAIN" = 1 ] && echo drained || echo "possibly in flight") at SIGTERM)"
for p in "${PROGS[@]}"; do
  reports=$(ls "$RUN_DIR/asan/$p".* 2>/dev/null || true)
  if [ -z "$reports" ]; then
    echo "  $p: ${STATUS[$p]}; no sanitizer report"
    continue
  fi
  bad=1
  leaked=$(grep -h "^SUMMARY: AddressSanitizer: .* leaked" $reports | head -1 || true)
  echo "  $p: ${STATUS[$p]}; sanitizer reports: ${leaked:-see below}"
  for f in $reports; do
    echo "    --- $f (the first 60 lines)"
    sed -n '1,60p' "$f" | sed 's/^/    /'
  done
done
if [ "$bad" = 0 ]; then
  RESULT=0
  echo "leakcheck: PASS"
else
  RESULT=1
  echo "leakcheck: FAIL"
fi
exit "$RESULT"
}

main "$@"
