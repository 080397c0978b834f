#!/usr/bin/env bash
# check.sh: the invariant checker of a chaos run (scripts/chaos.sh). It reads
# the run's MariaDB after every saga has had its chance to finish and tells
# whether the saga's promises held, whatever faults were injected:
#
#   lost     an ACCEPTED order (order-api answered 200 with a gid) whose saga
#            is missing from the coordinator's store or is not final
#            (succeed/failed)
#   violations, by name:
#     saga_not_final            any saga in the store still not final (the
#                               accepted ones are counted as lost instead)
#     succeed_without_order     a succeeded saga without an order row in
#                               row_state 0
#     failed_with_live_order    a failed saga whose order row is not -1
#     order_without_saga        an order row whose gid the coordinator does not
#                               know, or knows as not final
#     order_differs             an order row whose goods or num is not what
#                               the load driver asked for
#     succeed_not_deducted      a succeeded saga without a committed deduct
#                               (barrier row 02/action written by the action)
#     failed_deduct_kept        a failed saga whose deduct committed and was
#                               never compensated (no 02/compensate row)
#     double_barrier            more than one barrier row for a (gid, branch,
#                               op) (e.g. a deduct applied twice)
#     stock_mismatch            for a goods: initial - final stock differs from
#                               the units of its succeeded orders
#     negative_stock            a stock below 0, now or in any sample taken
#                               during the run
#
#   check.sh ORDERS_TSV INITIAL_STOCK_TSV SAMPLES_FILE RESULT_FILE
#     ORDERS_TSV     the load driver's output (scripts/chaos/load.c)
#     INITIAL_STOCK  lines "goods_id <TAB> units" as seeded before the run
#     SAMPLES_FILE   one minimum stock per line, sampled during the run
#     RESULT_FILE    written: KEY=VALUE lines (accepted, succeeded, failed,
#                    lost, violations, v_<name>) that chaos.sh sources
#   Environment: MARIADB_PORT, CDTM_RUN (the run's server, reached through
#   scripts/mariadb.sh sql), CHAOS_STORE_DB (default dtm).
# Details of the first offending gids of each kind go to stdout.
# Exit status: 0 when lost = 0 and violations = 0, 1 otherwise, 2 on error.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -eq 4 ] || { echo "usage: $0 ORDERS_TSV INITIAL_STOCK_TSV SAMPLES_FILE RESULT_FILE" >&2; exit 2; }
ORDERS=$1 INITIAL=$2 SAMPLES=$3 RESULT=$4
STORE=${CHAOS_STORE_DB:-dtm}
case $STORE in *[!A-Za-z0-9_]*|'') echo "check.sh: bad store name '$STORE'" >&2; exit 2 ;; esac

sql() { "$ROOT/scripts/mariadb.sh" sql -N -B -e "$1"; }
# Backquoted SQL identifiers (the names hold '-'), not shell expansions.
# shellcheck disable=SC2016
O='`dtm-gozero-order`.`order`'
# shellcheck disable=SC2016
S='`dtm-gozero-stock`.stock'
B='dtm_barrier.barrier'
G="$STORE.trans_global"
FINAL="('succeed','failed')"

# ---- the run's orders and initial stock, as tables ----------------------------------

# gids come from the coordinator; only the characters a gid may hold are
# let into the SQL (anything else would be a bug to report, not to quote).
{
  echo "DROP DATABASE IF EXISTS chaos_check; CREATE DATABASE chaos_check;"
  echo "CREATE TABLE chaos_check.orders (seq INT PRIMARY KEY, http INT, gid VARCHAR(128),"
  echo "  goods BIGINT, num INT, accepted TINYINT, KEY (gid));"
  echo "CREATE TABLE chaos_check.initial (goods_id BIGINT PRIMARY KEY, num INT);"
  awk -F'\t' '
    NF >= 6 && $1 ~ /^[0-9]+$/ && $2 ~ /^-?[0-9]+$/ && $5 ~ /^[0-9]+$/ && $6 ~ /^[0-9]+$/ {
      gid = ($3 ~ /^[A-Za-z0-9_.:-]+$/) ? "'\''" $3 "'\''" : "NULL"
      acc = ($2 == 200 && gid != "NULL") ? 1 : 0
      row = sprintf("(%d,%d,%s,%s,%d,%d)", $1, $2, gid, $5, $6, acc)
      if (n++ % 500 == 0) {
        if (n > 1) print ";"
        printf "INSERT INTO chaos_check.orders VALUES %s", row
      } else printf ",%s", row
    }
    END { if (n) print ";" }' "$ORDERS"
  awk -F'\t' '$1 ~ /^[0-9]+$/ && $2 ~ /^-?[0-9]+$/ {
      printf "INSERT INTO chaos_check.initial VALUES (%s,%s);\n", $1, $2 }' "$INITIAL"
} | "$ROOT/scripts/mariadb.sh" sql || { echo "check.sh: cannot load the run's orders" >&2; exit 2; }

# ---- counts -----------------------------------------------------------------------

count() { sql "$1"; }
accepted=$(count "SELECT COUNT(*) FROM chaos_check.orders WHERE accepted = 1")
succeeded=$(count "SELECT COUNT(*) FROM chaos_check.orders o JOIN $G g ON g.gid = o.gid
                   WHERE o.accepted = 1 AND g.status = 'succeed'")
failed=$(count "SELECT COUNT(*) FROM chaos_check.orders o JOIN $G g ON g.gid = o.gid
                WHERE o.accepted = 1 AND g.status = 'failed'")
stored_unaccepted=$(count "SELECT COUNT(*) FROM chaos_check.orders o JOIN $G g ON g.gid = o.gid
                           WHERE o.accepted = 0")
in_store=$(count "SELECT COUNT(*) FROM $G")

LOST_SQL="SELECT o.gid, COALESCE(g.status, '(not in the store)') FROM chaos_check.orders o
          LEFT JOIN $G g ON g.gid = o.gid
          WHERE o.accepted = 1 AND (g.gid IS NULL OR g.status NOT IN $FINAL)"

# ---- the invariants: each is a query listing the offending rows -------------------------

declare -A CHECKS
CHECKS[saga_not_final]="SELECT g.gid, g.status FROM $G g
  LEFT JOIN chaos_check.orders o ON o.gid = g.gid AND o.accepted = 1
  WHERE g.status NOT IN $FINAL AND o.gid IS NULL"
CHECKS[succeed_without_order]="SELECT g.gid, COALESCE(r.row_state, '(no row)') FROM $G g
  LEFT JOIN $O r ON r.gid = g.gid
  WHERE g.status = 'succeed' AND (r.id IS NULL OR r.row_state <> 0)"
CHECKS[failed_with_live_order]="SELECT g.gid, r.row_state FROM $G g JOIN $O r ON r.gid = g.gid
  WHERE g.status = 'failed' AND r.row_state <> -1"
CHECKS[order_without_saga]="SELECT r.gid, COALESCE(g.status, '(not in the store)') FROM $O r
  LEFT JOIN $G g ON g.gid = r.gid
  WHERE g.gid IS NULL OR g.status NOT IN $FINAL"
CHECKS[order_differs]="SELECT r.gid, CONCAT(r.goods_id, 'x', r.num, ' ordered ', o.goods, 'x', o.num)
  FROM $O r JOIN chaos_check.orders o ON o.gid = r.gid
  WHERE r.goods_id <> o.goods OR r.num <> o.num"
CHECKS[succeed_not_deducted]="SELECT g.gid, 'no 02/action barrier row of the deduct' FROM $G g
  WHERE g.status = 'succeed' AND NOT EXISTS (SELECT 1 FROM $B b WHERE b.gid = g.gid
    AND b.branch_id = '02' AND b.op = 'action' AND b.reason = 'action')"
CHECKS[failed_deduct_kept]="SELECT g.gid, 'deduct committed, no 02/compensate' FROM $G g
  WHERE g.status = 'failed'
    AND EXISTS (SELECT 1 FROM $B b WHERE b.gid = g.gid AND b.branch_id = '02'
                AND b.op = 'action' AND b.reason = 'action')
    AND NOT EXISTS (SELECT 1 FROM $B b WHERE b.gid = g.gid AND b.branch_id = '02'
                    AND b.op = 'compensate')"
CHECKS[double_barrier]="SELECT CONCAT(gid, ' ', branch_id, '/', op), COUNT(*) FROM $B
  GROUP BY gid, branch_id, op HAVING COUNT(*) > 1"
CHECKS[stock_mismatch]="SELECT i.goods_id, CONCAT('initial ', i.num, ' final ', COALESCE(s.num, 'none'),
    ' but succeeded orders took ', COALESCE(t.units, 0))
  FROM chaos_check.initial i LEFT JOIN $S s ON s.goods_id = i.goods_id
  LEFT JOIN (SELECT r.goods_id, SUM(r.num) AS units FROM $O r JOIN $G g ON g.gid = r.gid
             WHERE g.status = 'succeed' GROUP BY r.goods_id) t ON t.goods_id = i.goods_id
  WHERE s.num IS NULL OR i.num - s.num <> COALESCE(t.units, 0)"
CHECKS[negative_stock]="SELECT goods_id, num FROM $S WHERE num < 0
  AND goods_id IN (SELECT goods_id FROM chaos_check.initial)"

# Lists up to 5 offending rows of a query and sets N to how many there are.
report() { # NAME QUERY [LABEL]
  local rows
  rows=$(sql "$2") || { echo "check.sh: query $1 failed" >&2; exit 2; }
  N=$(printf '%s' "$rows" | grep -c . || true)
  if [ "$N" -gt 0 ]; then
    echo "  ${3:-VIOLATION} $1: $N"
    printf '%s\n' "$rows" | head -5 | sed 's/^/      /'
  fi
}

: >"$RESULT"
violations=0
for name in saga_not_final succeed_without_order failed_with_live_order order_without_saga \
            order_differs succeed_not_deducted failed_deduct_kept double_barrier \
            stock_mismatch negative_stock; do
  report "$name" "${CHECKS[$name]}"
  if [ "$name" = negative_stock ]; then
    # The samples taken during the run count too.
    low=$(sort -n "$SAMPLES" 2>/dev/null | head -1)
    if [ -n "$low" ] && [ "$low" -lt 0 ]; then
      echo "  VIOLATION negative_stock: a sample during the run saw $low"
      N=$((N + 1))
    fi
    echo "min_stock_sampled=${low:-none}" >>"$RESULT"
  fi
  echo "v_$name=$N" >>"$RESULT"
  violations=$((violations + N))
done
report accepted_but_not_final "$LOST_SQL" LOST
lost=$N

cat >>"$RESULT" <<EOF
accepted=$accepted
succeeded=$succeeded
failed=$failed
lost=$lost
violations=$violations
stored_unaccepted=$stored_unaccepted
in_store=$in_store
EOF
[ "$lost" -eq 0 ] && [ "$violations" -eq 0 ]
