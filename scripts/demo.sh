#!/usr/bin/env bash
# demo.sh: the place-order saga, end to end, for a newcomer on a fresh machine.
#
# It installs what is missing (scripts/install-deps.sh), builds (cmake, folder
# `build`), starts MariaDB, the coordinator, order-srv, stock-srv and order-api
# on 127.0.0.1 (scripts/run-suite.sh), with etcd as the service registry as in
# the go-zero demo (CDTM_DISCOVERY=none: without etcd, on host:port targets),
# shows what the services registered, then places two orders and shows, for
# each, the curl command, the reply, the saga's status and branches as the
# coordinator reports them, the order row and the stock before and after:
#   1. an order that succeeds;
#   2. an order for more than the stock, which the saga compensates.
# At the end it stops everything it started, unless --keep is given.
#
#   scripts/demo.sh [--keep]
#   CDTM_BUILD_DIR (build), CDTM_DISCOVERY (etcd) and the ports of
#   run-suite.sh (ETCD_PORT, MARIADB_PORT, ORDER_API_PORT, ...) can be changed
#   through the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

KEEP=0
for a in "$@"; do
  case $a in
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--keep]" >&2; exit 2 ;;
  esac
done

export CDTM_BUILD_DIR=${CDTM_BUILD_DIR:-build}
SUITE=${CDTM_SUITE_DIR:-$CDTM_RUN/suite}
GOODS=1   # the demo's goods (sql/30-stock.sql seeds it with 100 units)
USER_ID=7

if [ -t 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD='' PLAIN=''; fi
say() { printf '\n%s%s%s\n' "$BOLD" "$*" "$PLAIN"; }
note() { printf '%s\n' "$*" | fold -s -w 100 | sed 's/^/   /'; }
die() { echo "demo.sh: $*" >&2; exit 1; }

# ---- 1. dependencies ---------------------------------------------------------------

missing=()
for c in cmake gcc pkg-config protoc-c mariadbd mariadb-install-db mariadb mariadb-admin curl; do
  command -v "$c" >/dev/null 2>&1 || missing+=("$c")
done
if [ "${CDTM_DISCOVERY:-etcd}" = etcd ]; then
  for c in etcd etcdctl; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
fi
for m in grpc libprotobuf-c jansson libmariadb yaml-0.1; do
  pkg-config --exists "$m" 2>/dev/null || missing+=("$m")
done
[ -f /usr/include/civetweb.h ] || missing+=(civetweb.h)
if [ ${#missing[@]} -gt 0 ]; then
  say "Installing what is missing (${missing[*]})"
  ./scripts/install-deps.sh
fi

# ---- 2. build ----------------------------------------------------------------------------

say "Building into $CDTM_BUILD_DIR/"
cmake -S . -B "$CDTM_BUILD_DIR" >/dev/null
cmake --build "$CDTM_BUILD_DIR" -j"$(nproc)" --target dtm order-srv stock-srv order-api >/dev/null ||
  die "the build failed; run: cmake --build $CDTM_BUILD_DIR"

# ---- 3. start ------------------------------------------------------------------------------

say "Starting the suite"
./scripts/run-suite.sh
if [ "$KEEP" = 0 ]; then
  trap 'say "Stopping what the demo started"; ./scripts/stop.sh' EXIT
fi
# shellcheck disable=SC1091
. "$SUITE/env"
export MARIADB_PORT
API=$ORDER_API_URL

if [ "$CDTM_DISCOVERY" = etcd ]; then
  say "The service registry: etcd on $ETCD_ENDPOINT"
  echo "   \$ etcdctl --endpoints=$ETCD_ENDPOINT get --prefix ''   (key, then value)"
  ETCDCTL_API=3 etcdctl --endpoints="$ETCD_ENDPOINT" get --prefix '' | sed 's/^/     /'
  note "Each service registered itself as go-zero does: the key <name>/<lease id in decimal> holds" \
    "its gRPC address under a 10 s lease that it keeps alive (if the process dies, the key goes" \
    "within 10 s). The coordinator registered its EndPoint under dtmservice/ (conf.yml's" \
    "MicroService block). order-api finds the coordinator at etcd://$ETCD_ENDPOINT/dtmservice and" \
    "writes branch URLs such as etcd://$ETCD_ENDPOINT/order.rpc/pb.order/create, which the" \
    "coordinator splits at the second '/' (server etcd://$ETCD_ENDPOINT/order.rpc, method" \
    "/pb.order/create) and resolves to a registered instance, as DTM's go-zero driver does."
fi

sql() { ./scripts/mariadb.sh sql -N -B -e "$1"; }
stock() { sql "SELECT num FROM \`dtm-gozero-stock\`.stock WHERE goods_id = $GOODS"; }

# The demo starts from the seed, so that every run tells the same story.
sql "UPDATE \`dtm-gozero-stock\`.stock SET num = 100 WHERE goods_id = $GOODS"

# place NUM: places an order with ?wait=true, shows the command and the reply,
# and sets GID, CODE and REPLY.
place() {
  local body="{\"userId\":$USER_ID,\"goodsId\":$GOODS,\"num\":$1}"
  echo "   \$ curl -s -X POST '$API/order/quickCreate?wait=true' \\"
  echo "       -H 'Content-Type: application/json' -d '$body'"
  local out
  out=$(curl -s --max-time 60 -w '\n%{http_code}' -X POST "$API/order/quickCreate?wait=true" \
    -H 'Content-Type: application/json' -d "$body")
  REPLY=${out%$'\n'*}
  CODE=${out##*$'\n'}
  echo "   HTTP $CODE  $REPLY"
  GID=$(printf '%s' "$REPLY" | sed -n 's/.*"gid":"\([A-Za-z0-9_.:-]*\)".*/\1/p')
  [ -n "$GID" ] || die "order-api gave no gid (is the suite healthy? logs in $SUITE)"
}

# show_saga: the coordinator's view of $GID through order-api's GET
# /order/{gid} (which asks the coordinator's query API), polled until final.
show_saga() {
  local view status deadline=$(( $(date +%s) + 30 ))
  while :; do
    view=$(curl -s --max-time 10 "$API/order/$GID")
    status=$(printf '%s' "$view" | sed -n 's/^{"gid":"[^"]*","status":"\([a-z]*\)".*/\1/p')
    case $status in succeed|failed) break ;; esac
    [ "$(date +%s)" -lt "$deadline" ] || break
    sleep 0.5
  done
  echo "   \$ curl -s $API/order/$GID"
  echo "     (order-api asks the coordinator: curl -s '$DTM_HTTP_URL/query?gid=$GID')"
  echo "   saga $GID: $status"
  printf '%s' "$view" | grep -o '{"branch_id":"[^"]*","op":"[^"]*","status":"[^"]*"}' |
    sed 's/{"branch_id":"\([^"]*\)","op":"\([^"]*\)","status":"\([^"]*\)"}/\1 \2 \3/' |
    while read -r id op st; do
      case $id/$op in
        01/action) what="order-srv /pb.order/create" ;;
        01/compensate) what="order-srv /pb.order/createRollback" ;;
        02/action) what="stock-srv /pb.stock/deduct" ;;
        02/compensate) what="stock-srv /pb.stock/deductRollback" ;;
        *) what="" ;;
      esac
      printf '     branch %s %-10s %-9s (%s)\n' "$id" "$op" "$st" "$what"
    done
}

show_order() {
  echo "   order row in \`dtm-gozero-order\`.\`order\`:"
  sql "SELECT CONCAT('     id=', id, ' user_id=', user_id, ' goods_id=', goods_id, ' num=', num,
       ' row_state=', row_state) FROM \`dtm-gozero-order\`.\`order\` WHERE gid = '$GID'" |
    grep . || echo "     (none)"
}

# ---- 4. an order that succeeds -------------------------------------------------------------

say "Order 1: 2 units of goods $GOODS (there are $(stock) in stock)"
before=$(stock)
place 2
show_saga
show_order
echo "   stock of goods $GOODS: $before -> $(stock)"
GID1=$GID
note "What happened: order-api asked the coordinator for a gid and submitted a saga of two" \
  "steps. The coordinator called order-srv's create (a new order row, row_state 0 = awaiting" \
  "payment), then stock-srv's deduct. Both succeeded, so the saga is 'succeed'. The two" \
  "compensate branches stay 'prepared': they never had to run. (The coordinator lists each" \
  "step's compensate row before its action row: that is the order in which DTM stores them.)"

# ---- 5. an order for more than the stock ---------------------------------------------------

left=$(stock)
say "Order 2: $((left + 1)) units of goods $GOODS, one more than the $left in stock"
place $((left + 1))
show_saga
show_order
echo "   stock of goods $GOODS: $left -> $(stock)"
note "What happened: the order row was created first (step 1 succeeded), but stock-srv's deduct" \
  "found too little stock and answered gRPC Aborted (\"FAILURE\"): a business refusal, so the" \
  "saga must not be retried but undone. The coordinator stored 'aborting' and ran the" \
  "compensations in reverse order: deductRollback (the barrier saw that deduct never" \
  "committed, so nothing is put back: a null compensation) and createRollback, which set the" \
  "order's row_state to -1 = cancelled. The stock is unchanged and the saga is 'failed';" \
  "order-api answered 409 because it was asked to wait (?wait=true)."

# ---- 6. the end ------------------------------------------------------------------------------

if [ "$KEEP" = 1 ]; then
  say "The suite keeps running (logs in $SUITE/*.log). Try:"
  echo "   curl -s -X POST '$API/order/quickCreate?wait=true' -H 'Content-Type: application/json' \\"
  echo "        -d '{\"userId\":1,\"goodsId\":1,\"num\":1}'"
  echo "   curl -s -X POST $API/order/quickCreate -d '{\"userId\":1,\"goodsId\":2,\"num\":1}'   # no wait: 'submitted'"
  echo "   curl -s $API/order/$GID1"
  echo "   curl -s '$DTM_HTTP_URL/query?gid=$GID1'"
  echo "   MARIADB_PORT=$MARIADB_PORT scripts/mariadb.sh sql -e 'SELECT * FROM \`dtm-gozero-stock\`.stock'"
  [ "$CDTM_DISCOVERY" = etcd ] &&
    echo "   ETCDCTL_API=3 etcdctl --endpoints=$ETCD_ENDPOINT get --prefix order.rpc/"
  echo "Stop everything with: ${CDTM_SUITE_DIR:+CDTM_SUITE_DIR=$CDTM_SUITE_DIR }scripts/stop.sh"
  [ "$CDTM_DISCOVERY" = etcd ] && [ -f "$SUITE/etcd.pid" ] &&
    echo "and etcd with: kill $(cat "$SUITE/etcd.pid")"
fi
