#!/usr/bin/env bash
# compose-smoke.sh: proves that the Docker stack (docker-compose.yml) works as
# a fixture, from a clean clone, on a machine like the project's (Debian 12,
# no Docker Hub, no systemd). Run it as root; CI runs it from .ci/run.
#
#   1. installs what is missing (docker.io, docker-compose, curl; debootstrap
#      only when the base image must be made), with apt;
#   2. uses the running Docker daemon, or starts one by hand (data root and
#      PID under .run/docker/, log .run/dockerd.log) and stops it at the end;
#   3. makes the base image when it is missing: local/<suite>:minbase with
#      debootstrap + docker import; any other CDTM_BASE_IMAGE is pulled;
#   4. builds the images (docker-compose build) and brings the stack up (-d);
#   5. waits for order-api's /api/ping, checks that dtm, order-srv and
#      stock-srv registered in etcd (go-zero's <key>/<lease> layout), places an order that succeeds
#      (goods 1, num 1: 200 succeed) and one the saga compensates (num 1000:
#      409 failed), and checks the rows through `docker-compose exec mariadb`:
#      row_state 0 and -1, the stock down by exactly 1;
#   6. ALWAYS brings the stack down (docker-compose down -v), prints a summary
#      with the time of each phase, and exits non-zero on any failure, after
#      printing the logs of the service that failed.
#
#   CDTM_BASE_IMAGE        base of both Dockerfiles (default local/bookworm:minbase)
#   CDTM_DEBIAN_MIRROR     debootstrap's mirror (default http://deb.debian.org/debian)
#   CDTM_DEBIAN_SECURITY_MIRROR   the base image's security archive
#                          (default http://deb.debian.org/debian-security)
#   COMPOSE_PROJECT_NAME   default cdtm-smoke, so that a stack of your own is left alone
#   CDTM_ORDER_API_PORT, CDTM_DTM_HTTP_PORT, CDTM_DTM_GRPC_PORT, CDTM_MARIADB_PORT
#       host ports; when unset, the defaults (8889 36789 36790 3306) or, if one
#       is busy, a free port.
#   SMOKE_UP_SECS (240)    deadline of `up`, which waits for the healthchecks
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

T0=$(date +%s)
BASE_IMAGE=${CDTM_BASE_IMAGE:-local/bookworm:minbase}
MIRROR=${CDTM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${CDTM_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
UP_SECS=${SMOKE_UP_SECS:-240}
DOCKER_DIR=$CDTM_RUN/docker
export CDTM_BASE_IMAGE=$BASE_IMAGE
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-cdtm-smoke}
# docker-compose 1.29 builds through the daemon's API (the legacy builder):
# there is no buildx here for a BuildKit build through the docker CLI.
export COMPOSE_DOCKER_CLI_BUILD=0 DOCKER_BUILDKIT=0

STARTED_DOCKERD=0
STACK_UP=0
FAILED_SERVICE=""   # set by a check that knows which service let it down
SUMMARY=()          # "phase: N s" lines

say() { printf '\n=== %s\n' "$*"; }
die() { echo "compose-smoke.sh: FAIL: $*" >&2; exit 1; }

# phase NAME: ends the previous phase (recording its time) and starts NAME.
PHASE="" PHASE_T0=$T0
phase() {
  local now; now=$(date +%s)
  [ -n "$PHASE" ] && SUMMARY+=("$(printf '%-28s %4d s' "$PHASE" $((now - PHASE_T0)))")
  PHASE=$1 PHASE_T0=$now
  [ -n "$1" ] && say "$1"
  return 0
}

# poll SECS WHAT CMD...: runs CMD every 0.5 s until it succeeds; dies after SECS.
poll() {
  local secs=$1 what=$2; shift 2
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || die "$what: not within $secs s"
    sleep 0.5
  done
}

dc() { docker-compose "$@"; }

# ---- failure report and clean-up (always) ----------------------------------------

# Prints "service status health" for each service of the stack.
stack_states() {
  local s id
  for s in $(dc config --services 2>/dev/null); do
    id=$(dc ps -q "$s" 2>/dev/null || true)
    if [ -z "$id" ]; then echo "$s absent -"; continue; fi
    docker inspect -f "$s {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}-{{end}}" \
      "$id" 2>/dev/null || echo "$s unknown -"
  done
}

report_failure() {
  echo >&2
  echo "---- state of the stack" >&2
  local states; states=$(stack_states)
  printf '%s\n' "$states" | sed 's/^/  /' >&2
  # The failing services: the one a check named, else any not running+healthy.
  local bad=$FAILED_SERVICE
  [ -n "$bad" ] || bad=$(printf '%s\n' "$states" | awk '$2 != "absent" && !($2 == "running" && $3 == "healthy") { print $1 }')
  [ -n "$bad" ] || bad=$(printf '%s\n' "$states" | awk '$2 != "absent" { print $1 }')
  local s id
  for s in $bad; do
    echo "---- logs of $s (last 80 lines)" >&2
    dc logs --no-color --tail=80 "$s" >&2 2>&1 || true
    id=$(dc ps -q "$s" 2>/dev/null || true)
    if [ -n "$id" ]; then
      echo "---- last healthcheck of $s" >&2
      docker inspect -f '{{if .State.Health}}{{range .State.Health.Log}}exit {{.ExitCode}}: {{.Output}}{{end}}{{end}}' \
        "$id" 2>/dev/null | tail -n 6 >&2 || true
    fi
  done
}

stop_dockerd() {
  local pid
  pid=$(cat "$DOCKER_DIR/dockerd.pid" 2>/dev/null || echo "$DOCKERD_PID")
  echo "stopping the Docker daemon this script started (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || return 0
  local deadline=$(( $(date +%s) + 30 ))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "dockerd did not stop within 30 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
}

on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [ "$rc" -ne 0 ] && [ "$STACK_UP" = 1 ]; then report_failure; fi
  if [ "$STACK_UP" = 1 ]; then
    phase "down -v"
    timeout 120 docker-compose down -v --remove-orphans --timeout 10 ||
      { echo "compose-smoke.sh: docker-compose down failed" >&2; rc=1; }
  fi
  if [ "$STARTED_DOCKERD" = 1 ]; then phase "stop dockerd"; stop_dockerd; fi
  phase ""
  echo
  echo "=== summary"
  printf '  %s\n' "${SUMMARY[@]}"
  printf '  %-28s %4d s\n' "total" $(( $(date +%s) - T0 ))
  if [ "$rc" -eq 0 ]; then echo "compose-smoke.sh: PASS"; else echo "compose-smoke.sh: FAIL (exit $rc)"; fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- 1. tools ----------------------------------------------------------------------

APT_UPDATED=0
apt_install() {
  [ "$(id -u)" = 0 ] || die "missing $*: run this script as root (or: sudo apt-get install $*)"
  echo "installing $* (apt)"
  if [ "$APT_UPDATED" = 0 ]; then apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

phase "tools"
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  apt_install "${missing[@]}"
fi
echo "docker-compose $(docker-compose version --short 2>/dev/null), $(docker --version)"

# ---- 2. the Docker daemon ----------------------------------------------------------

phase "docker daemon"
if docker info >/dev/null 2>&1; then
  echo "using the running Docker daemon"
else
  mkdir -p "$DOCKER_DIR"
  # setsid: a ^C in the terminal must not reach dockerd before `down` has run.
  setsid dockerd --data-root "$DOCKER_DIR/root" --pidfile "$DOCKER_DIR/dockerd.pid" \
    </dev/null >"$CDTM_RUN/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  STARTED_DOCKERD=1
  deadline=$(( $(date +%s) + 60 ))
  until docker info >/dev/null 2>&1; do
    if ! kill -0 "$DOCKERD_PID" 2>/dev/null; then
      STARTED_DOCKERD=0
      tail -n 20 "$CDTM_RUN/dockerd.log" >&2
      die "dockerd exited during start-up (log: $CDTM_RUN/dockerd.log)"
    fi
    [ "$(date +%s)" -lt "$deadline" ] ||
      { tail -n 20 "$CDTM_RUN/dockerd.log" >&2; die "dockerd did not answer within 60 s"; }
    sleep 0.2
  done
  echo "started dockerd (pid $DOCKERD_PID; data root $DOCKER_DIR/root, log $CDTM_RUN/dockerd.log)"
fi

# ---- 3. the base image ---------------------------------------------------------------

phase "base image"
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  echo "$BASE_IMAGE is present"
elif [[ $BASE_IMAGE =~ ^local/([a-z]+):minbase$ ]]; then
  # A local/ name is never pulled (a registry could serve anything under it):
  # it is made here, from Debian's mirror.
  suite=${BASH_REMATCH[1]}
  command -v debootstrap >/dev/null || apt_install debootstrap
  rootfs=$CDTM_RUN/rootfs
  rm -rf "$rootfs"
  echo "debootstrap --variant=minbase $suite $rootfs $MIRROR (about 80 s)"
  timeout 600 debootstrap --variant=minbase "$suite" "$rootfs" "$MIRROR" \
    >"$CDTM_RUN/debootstrap.log" 2>&1 ||
    { tail -n 20 "$CDTM_RUN/debootstrap.log" >&2; die "debootstrap failed (log: $CDTM_RUN/debootstrap.log)"; }
  # debootstrap lists only "$suite main"; like Debian's official images, the
  # base also gets the point-release updates and the security archive, so
  # that the images' libraries are the patched ones (a Debian 12 host has
  # them too: the tests run against those versions).
  printf 'deb %s %s main\n' "$MIRROR" "$suite" "$MIRROR" "$suite-updates" \
    "$SECURITY_MIRROR" "$suite-security" >"$rootfs/etc/apt/sources.list"
  tar -C "$rootfs" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
  echo "imported $BASE_IMAGE ($(docker image inspect -f '{{.Size}}' "$BASE_IMAGE" | awk '{printf "%d MB", $1/1e6}'))"
else
  timeout 300 docker pull "$BASE_IMAGE" ||
    die "$BASE_IMAGE is not present and cannot be pulled (unset CDTM_BASE_IMAGE to make local/bookworm:minbase)"
fi

# ---- 4. build ----------------------------------------------------------------------

phase "build images"
BUILD_LOG=$CDTM_RUN/compose-build.log
mkdir -p "$CDTM_RUN"
# The four program services share one image (cdtm:local): build it once, next
# to mariadb's, then let the other three find it in the cache.
if ! { dc build --parallel mariadb etcd dtm && dc build order-srv stock-srv order-api; } \
     >"$BUILD_LOG" 2>&1; then
  tail -n 60 "$BUILD_LOG" >&2
  die "docker-compose build failed (log: $BUILD_LOG)"
fi
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^cdtm(-mariadb|-etcd)?:local ' | sed 's/^/  /'

# ---- 5. up -------------------------------------------------------------------------

phase "up (healthchecks)"
# choose_port VAR DEFAULT: keeps VAR if set; else DEFAULT, or a free port if it is busy.
choose_port() {
  local var=$1 def=$2
  if [ -z "${!var:-}" ]; then
    if port_open "$def"; then
      printf -v "$var" '%s' "$(free_port)"
      echo "port $def is busy: publishing on ${!var} instead ($var)"
    else
      printf -v "$var" '%s' "$def"
    fi
  fi
  export "${var?}"
}
choose_port CDTM_ORDER_API_PORT 8889
choose_port CDTM_DTM_HTTP_PORT 36789
choose_port CDTM_DTM_GRPC_PORT 36790
choose_port CDTM_MARIADB_PORT 3306
API=http://127.0.0.1:$CDTM_ORDER_API_PORT
DTM_HTTP=http://127.0.0.1:$CDTM_DTM_HTTP_PORT/api/dtmsvr

STACK_UP=1 # from here on, the exit trap brings the stack down
timeout "$UP_SECS" docker-compose up -d || die "docker-compose up -d failed (or took over $UP_SECS s)"
FAILED_SERVICE=order-api
poll 60 "order-api's $API/api/ping" curl -sf --max-time 2 "$API/api/ping"
FAILED_SERVICE=""
# docker-compose 1.29 counts a dependency that has EXITED as healthy (it
# looks only at running containers), so `up` succeeding proves little: every
# service must be running and healthy now.
wait_all_healthy() {
  local states dead deadline=$(( $(date +%s) + 60 ))
  while :; do
    states=$(stack_states)
    dead=$(printf '%s\n' "$states" | awk '$2 != "running" && $2 != "created" { print $1 }')
    if [ -n "$dead" ]; then
      FAILED_SERVICE=$dead
      die "not running: $(echo $dead)"
    fi
    printf '%s\n' "$states" | awk '$3 != "healthy"' | grep -q . || return 0
    [ "$(date +%s)" -lt "$deadline" ] || die "not every service is healthy after 60 s"
    sleep 0.5
  done
}
wait_all_healthy
echo "order-api answers on $API; the coordinator on $DTM_HTTP"
stack_states | sed 's/^/  /'

# Discovery: each program registered its container's address in etcd under
# go-zero's key layout (<key>/<lease id in decimal>).
registered() {
  timeout 10 docker-compose exec -T etcd etcdctl get --prefix "$1/" |
    awk -v k="$1" 'NR % 2 == 1 { ok = ($0 ~ "^" k "/[0-9]+$") } NR % 2 == 0 && ok && /^[^ ]+:[0-9]+$/ { n++ } END { exit n ? 0 : 1 }'
}
for key in dtmservice order.rpc stock.rpc; do
  FAILED_SERVICE=etcd
  poll 30 "etcd key $key/<lease>" registered "$key"
  echo "  etcd: $key/<lease> -> $(timeout 10 docker-compose exec -T etcd etcdctl get --prefix --print-value-only "$key/" | head -n 1)"
done
FAILED_SERVICE=""

# ---- 6. orders ----------------------------------------------------------------------

phase "orders and rows"
sql() { timeout 30 docker-compose exec -T mariadb mariadb -N -B -e "$1"; }
stock() { sql 'SELECT num FROM `dtm-gozero-stock`.stock WHERE goods_id = 1'; }

# place NUM: POST /order/quickCreate?wait=true for goods 1; sets CODE, BODY, GID.
place() {
  local out
  out=$(curl -s --max-time 60 -w '\n%{http_code}' -X POST "$API/order/quickCreate?wait=true" \
    -H 'Content-Type: application/json' -d "{\"userId\":1,\"goodsId\":1,\"num\":$1}") ||
    { FAILED_SERVICE=order-api; die "POST $API/order/quickCreate failed (curl exit $?)"; }
  BODY=${out%$'\n'*}
  CODE=${out##*$'\n'}
  GID=$(printf '%s' "$BODY" | sed -n 's/.*"gid":"\([A-Za-z0-9_.:-]*\)".*/\1/p')
  echo "  num=$1: HTTP $CODE $BODY"
}

# expect_sql WHAT WANT QUERY: polls QUERY (a single value) until it is WANT.
expect_sql() {
  local what=$1 want=$2 q=$3 got="" deadline=$(( $(date +%s) + 30 ))
  while :; do
    got=$(sql "$q" 2>/dev/null) || got="(query failed)"
    [ "$got" = "$want" ] && { echo "  $what: $got"; return 0; }
    if [ "$(date +%s)" -ge "$deadline" ]; then
      FAILED_SERVICE=${FAILED_SERVICE:-$4}
      die "$what: expected $want, got '$got' (after 30 s)"
    fi
    sleep 0.5
  done
}

stock_before=$(stock) || { FAILED_SERVICE=mariadb; die "cannot read the stock"; }
[[ $stock_before =~ ^[0-9]+$ ]] || { FAILED_SERVICE=mariadb; die "stock of goods 1 is '$stock_before'"; }
echo "  stock of goods 1 before: $stock_before"

place 1
[ "$CODE" = 200 ] && [[ $BODY == *'"status":"succeed"'* ]] && [ -n "$GID" ] ||
  { FAILED_SERVICE=dtm; die "order of 1 unit: expected 200 succeed, got $CODE $BODY"; }
GID_OK=$GID

place 1000
[ "$CODE" = 409 ] && [[ $BODY == *'"status":"failed"'* ]] && [ -n "$GID" ] ||
  { FAILED_SERVICE=dtm; die "order of 1000 units: expected 409 failed, got $CODE $BODY"; }
GID_FAIL=$GID

expect_sql "order $GID_OK row_state" 0 \
  "SELECT row_state FROM \`dtm-gozero-order\`.\`order\` WHERE gid = '$GID_OK'" order-srv
expect_sql "order $GID_FAIL row_state (compensated)" -1 \
  "SELECT row_state FROM \`dtm-gozero-order\`.\`order\` WHERE gid = '$GID_FAIL'" order-srv
expect_sql "stock of goods 1 after" $((stock_before - 1)) \
  'SELECT num FROM `dtm-gozero-stock`.stock WHERE goods_id = 1' stock-srv

# The coordinator's own view, through its published HTTP port.
# The reply is {"branches":[...],"transaction":{..."status":"..."...}}.
saga_status() {
  curl -s --max-time 5 "$DTM_HTTP/query?gid=$1" |
    sed -n 's/.*"transaction":{[^}]*"status":"\([a-z]*\)".*/\1/p'
}
saga_is() { [ "$(saga_status "$1")" = "$2" ]; }
FAILED_SERVICE=dtm
for gid in "$GID_OK" "$GID_FAIL"; do
  want=succeed; [ "$gid" = "$GID_FAIL" ] && want=failed
  poll 30 "coordinator: saga $gid $want" saga_is "$gid" "$want"
  echo "  coordinator ($DTM_HTTP/query): saga $gid $want"
done
FAILED_SERVICE=""
phase ""
echo
echo "the stack works: 200 succeed, 409 failed + compensated, stock $stock_before -> $((stock_before - 1))"
