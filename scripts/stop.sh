#!/usr/bin/env bash
# stop.sh: stops what scripts/run-suite.sh started, by the PIDs it recorded
# in the suite folder: order-api, stock-srv, order-srv, the coordinator, etcd, then
# MariaDB when run-suite.sh was the one that started it. Each program gets
# SIGTERM (an orderly stop) and, after 15 s, SIGKILL. Safe to run twice.
#   CDTM_SUITE_DIR   the suite folder (default .run/suite)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

SUITE=${CDTM_SUITE_DIR:-$CDTM_RUN/suite}
[ -d "$SUITE" ] || { echo "stop.sh: nothing to stop ($SUITE does not exist)"; exit 0; }

# stop_prog NAME: stops the process in NAME.pid if it is still that program
# (a PID can be reused by an unrelated process after a reboot or a crash).
stop_prog() {
  local name=$1 f="$SUITE/$1.pid" pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "  $name: not running"
  elif ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "/$name "; then
    echo "  $name: pid $pid is another program now; left alone"
  else
    kill -TERM "$pid" 2>/dev/null || true
    if wait_until 15 bash -c "! kill -0 $pid 2>/dev/null"; then
      echo "  $name: stopped (pid $pid)"
    else
      kill -KILL "$pid" 2>/dev/null || true
      echo "  $name: killed after 15 s (pid $pid)"
    fi
  fi
  rm -f "$f"
}

echo "stopping the suite ($SUITE)"
for p in order-api stock-srv order-srv dtm etcd; do stop_prog "$p"; done

if [ -f "$SUITE/mariadb.started" ]; then
  MARIADB_PORT=$(cat "$SUITE/mariadb.started") ./scripts/mariadb.sh stop
  rm -f "$SUITE/mariadb.started"
fi
rm -f "$SUITE/env"
