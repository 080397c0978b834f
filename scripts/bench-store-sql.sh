#!/usr/bin/env bash
# bench-store-sql.sh: what MariaDB spends on the store's writes of one saga,
# split into its statements and its rows (docs/benchmarks.md, "What MariaDB's
# share is made of"). It starts a private MariaDB (port 3410, data under
# .run/bench-sql/, emptied first), then has mariadb-slap run three scripts of
# bench/sql/ from 10 connections, each a saga's writes in DTM's schema:
#
#   saga-writes.sql     the two transactions a lone saga writes: the global
#                       row and its 4 branch rows, then 2 branch rows and the
#                       global row set to succeed (9 statements with the SET
#                       of the gid and the two START TRANSACTIONs)
#   no-branch-rows.sql  the same 9 statements, the two on branch rows
#                       touching no row
#   global-only.sql     without the two statements on branch rows (7)
#
# and prints MariaDB's CPU per saga for each (utime + stime of mariadbd over
# the run, from /proc). The differences give a statement's cost and a row's.
# mariadb-slap sends every statement in its own round trip, as text.
#   STORE_SQL_SAGAS   sagas per script and round (default 15000)
#   STORE_SQL_ROUNDS  rounds, the scripts alternating (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
export CDTM_RUN=${CDTM_RUN:-$PWD/.run/bench-sql}
export MARIADB_PORT=${MARIADB_PORT:-3410}
. scripts/lib.sh

SAGAS=${STORE_SQL_SAGAS:-15000}
ROUNDS=${STORE_SQL_ROUNDS:-3}
SCRIPTS=(saga-writes no-branch-rows global-only)
die() { echo "bench-store-sql.sh: $*" >&2; exit 1; }
command -v mariadb-slap >/dev/null || die "mariadb-slap not found: run ./scripts/install-deps.sh"
case $SAGAS in '' | *[!0-9]*) die "STORE_SQL_SAGAS must be a number" ;; esac
case $ROUNDS in '' | *[!0-9]*) die "STORE_SQL_ROUNDS must be a number" ;; esac

mkdir -p "$CDTM_RUN"
started=0
cleanup() {
  if [ "$started" = 1 ]; then ./scripts/mariadb.sh stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
if ! ./scripts/mariadb.sh status >/dev/null 2>&1; then started=1; fi
./scripts/mariadb.sh start >/dev/null
sql() { ./scripts/mariadb.sh sql -N -B "$@"; }
sql -e "TRUNCATE dtm.trans_global; TRUNCATE dtm.trans_branch_op"
PID=$(cat "$CDTM_RUN/mariadb-$MARIADB_PORT/mysqld.pid")
TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }

echo "MariaDB's CPU per saga, 10 connections, $SAGAS sagas per script and round"
for r in $(seq 1 "$ROUNDS"); do
  for s in "${SCRIPTS[@]}"; do
    f=bench/sql/$s.sql
    statements=$(grep -c ';$' "$f")
    c0=$(cpu_ticks)
    t0=$(date +%s%N)
    mariadb-slap --no-defaults -uroot --host=127.0.0.1 --port="$MARIADB_PORT" --concurrency=10 \
      --iterations=1 --number-of-queries=$((SAGAS * statements)) --query="$f" --delimiter=";" \
      --create-schema=dtm >/dev/null || die "mariadb-slap failed on $f"
    t1=$(date +%s%N)
    c1=$(cpu_ticks)
    awk -v r="$r" -v s="$s" -v n="$SAGAS" -v st="$statements" -v c=$((c1 - c0)) -v hz="$TICK" \
      -v ns=$((t1 - t0)) 'BEGIN {
        printf "round %d  %-15s %d statements: %6.0f us of MariaDB CPU per saga, %6.0f sagas/s\n",
          r, s, st, c / hz / n * 1e6, n / (ns / 1e9) }'
  done
done
# The scripts wrote what they say: every global row succeeded, and only
# saga-writes.sql added branch rows (4 each, 2 of them succeeded).
sql -e "SELECT CONCAT('rows: ', COUNT(*), ' global, ', SUM(status = 'succeed'), ' succeeded') FROM dtm.trans_global;
  SELECT CONCAT('rows: ', COUNT(*), ' branch, ', COALESCE(SUM(status = 'succeed'), 0), ' succeeded')
  FROM dtm.trans_branch_op"
