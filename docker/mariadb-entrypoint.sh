#!/bin/sh
# mariadb-entrypoint.sh: PID 1 of the mariadb container. On the first start
# (no marker in the data folder) it creates the system tables, loads
# /docker-entrypoint-initdb.d/*.sql (the repository's sql/) through a private
# server that listens on no TCP port and on a socket of its own, stops it, and
# then runs the real server in the foreground on 0.0.0.0:3306. So the
# healthcheck (`mariadb-admin ping` on the default socket) cannot succeed
# before the SQL is in place, and `docker-compose exec mariadb mariadb`
# always reaches the real server as root (unix-socket authentication).
# Extra arguments are passed to mariadbd, after this script's own options.
set -eu

DATADIR=/var/lib/mysql
MARKER=$DATADIR/.cdtm-initialized
INIT_SOCK=/run/mysqld/init.sock
INIT_SECS=${MARIADB_INIT_SECS:-120}

# The options both servers share. --no-defaults (which mariadbd wants first):
# nothing from /etc/mysql, whose bind-address is 127.0.0.1, changes them.
COMMON="--no-defaults --user=mysql --datadir=$DATADIR --skip-name-resolve
  --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci --max-connections=500"

log() { echo "mariadb-entrypoint: $*" >&2; }

mkdir -p /run/mysqld
chown mysql:mysql /run/mysqld "$DATADIR"

if [ ! -f "$MARKER" ]; then
    # A folder without the marker is new, or left by an interrupted first
    # start: either way it is ours to rebuild from scratch.
    log "first start: creating the system tables, then loading" \
        "$(cd /docker-entrypoint-initdb.d && echo *.sql)"
    find "$DATADIR" -mindepth 1 -delete
    mariadb-install-db --no-defaults --user=mysql --datadir="$DATADIR" --skip-test-db \
        --auth-root-authentication-method=socket >/tmp/install-db.log 2>&1 ||
        { cat /tmp/install-db.log >&2; log "mariadb-install-db failed"; exit 1; }

    # shellcheck disable=SC2086 # COMMON is a list of words
    mariadbd $COMMON --skip-networking --socket="$INIT_SOCK" --pid-file=/run/mysqld/init.pid "$@" &
    pid=$!
    deadline=$(( $(date +%s) + INIT_SECS ))
    until mariadb-admin --no-defaults --socket="$INIT_SOCK" -uroot ping >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then log "the init server exited"; exit 1; fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            log "the init server did not answer within $INIT_SECS s"; kill "$pid"; exit 1
        fi
        sleep 0.2
    done
    for f in /docker-entrypoint-initdb.d/*.sql; do
        log "loading $(basename "$f")"
        mariadb --no-defaults --socket="$INIT_SOCK" -uroot <"$f" ||
            { log "loading $f failed"; kill "$pid"; exit 1; }
    done
    mariadb-admin --no-defaults --socket="$INIT_SOCK" -uroot shutdown
    wait "$pid" || true
    touch "$MARKER"
    log "first start done"
fi

log "starting mariadbd on 0.0.0.0:3306"
# exec: mariadbd becomes PID 1 and gets `docker stop`'s SIGTERM (a clean shutdown).
# shellcheck disable=SC2086
exec mariadbd $COMMON --bind-address=0.0.0.0 --port=3306 --socket=/run/mysqld/mysqld.sock \
    --pid-file=/run/mysqld/mysqld.pid "$@"
