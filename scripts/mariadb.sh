#!/usr/bin/env bash
# mariadb.sh start|stop|status|sql: a private MariaDB server for cdtm, without
# systemd. Its data lives in $CDTM_RUN/mariadb-$MARIADB_PORT (under .run/,
# which git ignores); it listens on 127.0.0.1:$MARIADB_PORT (default 3306) and
# on a socket in the same folder. `start` also loads sql/*.sql, which is
# idempotent, so it is safe to run against a server that is already up.
#   MARIADB_PORT   TCP port (default 3306; tests pick a free one)
#   CDTM_RUN       run folder (default <repo>/.run)
#   mariadb.sh sql [mariadb args]   runs the mariadb client as root on it
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PORT=${MARIADB_PORT:-3306}
DIR=$CDTM_RUN/mariadb-$PORT
SOCK=$DIR/mysqld.sock
PIDFILE=$DIR/mysqld.pid

die() { echo "mariadb.sh: $*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 ||
    die "$1 not found; run ./scripts/install-deps.sh (as root) first"
}

ping_db() { mariadb-admin --no-defaults --socket="$SOCK" -uroot ping; }

pid_alive() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

load_sql() {
  local f
  for f in "$CDTM_ROOT"/sql/*.sql; do
    mariadb --no-defaults --socket="$SOCK" -uroot <"$f" ||
      die "loading $(basename "$f") failed"
  done
}

start() {
  need mariadbd; need mariadb-install-db; need mariadb-admin
  mkdir -p "$DIR"
  if pid_alive && ping_db >/dev/null 2>&1; then
    load_sql
    echo "mariadb: already running on 127.0.0.1:$PORT (pid $(cat "$PIDFILE"))"
    return 0
  fi
  if [ ! -d "$DIR/data/mysql" ]; then
    rm -rf "$DIR/data"
    mariadb-install-db --no-defaults --datadir="$DIR/data" --user=root \
      --auth-root-authentication-method=normal --skip-test-db \
      >"$DIR/install.log" 2>&1 || die "install-db failed: $(tail -5 "$DIR/install.log")"
  fi
  # setsid: the server outlives the script and is not hit by the caller's ^C.
  setsid mariadbd --no-defaults --datadir="$DIR/data" --user=root \
    --port="$PORT" --bind-address=127.0.0.1 --socket="$SOCK" \
    --pid-file="$PIDFILE" --log-error="$DIR/err.log" --skip-name-resolve \
    --max-connections=1000 --innodb-buffer-pool-size=128M \
    </dev/null >/dev/null 2>&1 &
  if ! wait_until 30 ping_db; then
    tail -20 "$DIR/err.log" >&2 || true
    die "server did not become ready within 30 s (log: $DIR/err.log)"
  fi
  load_sql
  echo "mariadb: running on 127.0.0.1:$PORT (pid $(cat "$PIDFILE"), socket $SOCK)"
}

stop() {
  if ! pid_alive; then
    echo "mariadb: not running on port $PORT"
    return 0
  fi
  local pid; pid=$(cat "$PIDFILE")
  mariadb-admin --no-defaults --socket="$SOCK" -uroot shutdown >/dev/null 2>&1 ||
    kill "$pid" 2>/dev/null || true
  if ! wait_until 30 bash -c "! kill -0 $pid"; then
    kill -9 "$pid" 2>/dev/null || true
  fi
  echo "mariadb: stopped (port $PORT)"
}

status() {
  if pid_alive && ping_db >/dev/null 2>&1; then
    echo "mariadb: running on 127.0.0.1:$PORT (pid $(cat "$PIDFILE"))"
  else
    echo "mariadb: not running on port $PORT"
    return 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  sql) shift; exec mariadb --no-defaults --socket="$SOCK" -uroot "$@" ;;
  *) echo "usage: $0 start|stop|status|sql [args]" >&2; exit 2 ;;
esac
