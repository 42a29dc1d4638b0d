#!/usr/bin/env bash
# The reconciliation half of the demo, run by scripts/demo.sh once coupons
# are issued: the simulator redeems ~30% and refunds ~5% of the issued
# 代金券, issuer fetches, verifies and loads the use-flow and refund-flow
# files, and writes the batch and reconciliation reports to $OUT.
#
# Needs, from demo.sh: SIM_ADMIN (the simulator's admin root, …/sim/), OUT,
# FAVOR_STOCK, FAVOR_BATCH, the ISSUER_* environment and bin/issuer.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${SIM_ADMIN:?the admin URL of the simulator, ending in /sim/}"
: "${OUT:=out}"
: "${FAVOR_STOCK:=9856000}"
: "${FAVOR_BATCH:=1}"
issuer=bin/issuer
export ISSUER_RECONCILE_DIR=$OUT/flowfiles

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

sim() { # sim ACTION FRACTION → count
  curl -fsS -X POST -H 'Content-Type: application/json' \
    -d "{\"stock_id\":\"$FAVOR_STOCK\",\"fraction\":$2}" "${SIM_ADMIN}$1" |
    sed -n 's/.*"count":[[:space:]]*\([0-9]*\).*/\1/p'
}

step "customers use ~30% of the 代金券 of stock $FAVOR_STOCK, and ~5% are refunded"
used=$(sim redeem 0.30)
refunded=$(sim refund 0.1667) # of those used: ~5% of those issued
echo "simulator: $used coupons used, $refunded refunded"

# The reports count usage so far from stored COUPON.USE callbacks until the
# use-flow is loaded, and compare the two after: they are written once every
# notification the simulator queued is delivered (or given up on) and every
# delivered one is stored. The wait is bounded: CALLBACK_WAIT seconds.
sim_stat() { # sim_stat NAME → the simulator's counter
  curl -fsS "${SIM_ADMIN}stats" | tr -d ' \n' | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
}
stored_callbacks() {
  psql -X -q -t -A "$ISSUER_DATABASE_URL" -c "SELECT count(*) FROM coupon_use_callbacks"
}
step "wait until the simulator's COUPON.USE callbacks are all stored"
deadline=$((SECONDS + ${CALLBACK_WAIT:-120}))
while :; do
  queued=$(sim_stat redeemed) delivered=$(sim_stat callbacks) failed=$(sim_stat callback_failures) stored=$(stored_callbacks)
  if [ $((delivered + failed)) -ge "$queued" ] && [ "$stored" -ge "$delivered" ]; then
    break
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "timed out after ${CALLBACK_WAIT:-120}s waiting for COUPON.USE callbacks: the simulator queued $queued," \
      "delivered $delivered, gave up on $failed; $stored stored. Reports now would undercount usage; see $OUT/daemon.log." >&2
    exit 1
  fi
  sleep 0.5
done
echo "simulator: $queued callbacks queued, $delivered delivered, $failed given up; $stored stored by the daemon"
if [ "$failed" -gt 0 ]; then
  echo "the reports list the uses of the $failed callbacks given up on as use_without_callback"
fi

step "before the files: usage so far, from the callbacks"
$issuer report reconcile --stock "$FAVOR_STOCK"

step "the stock ends; WeChat Pay publishes its files from 10:00 the next day: move the simulator's calendar 36h on"
curl -fsS -X POST "${SIM_ADMIN}stocks/$FAVOR_STOCK/expire"
curl -fsS -X PUT -H 'Content-Type: application/json' -d '{"offset":"36h"}' "${SIM_ADMIN}clock" >/dev/null

step "reconcile: download the use-flow and refund-flow files, verify their SHA1, load them"
$issuer reconcile --stock "$FAVOR_STOCK"

step "reconcile again: the same files change nothing"
$issuer reconcile --stock "$FAVOR_STOCK"

step "reports"
$issuer report batch "$FAVOR_BATCH" --format xlsx -o "$OUT/report_batch_$FAVOR_BATCH.xlsx"
$issuer report batch "$FAVOR_BATCH" --format csv -o "$OUT/report_batch_$FAVOR_BATCH.csv"
$issuer report reconcile --format xlsx -o "$OUT/report_reconcile.xlsx"
$issuer report reconcile --format csv -o "$OUT/report_reconcile.csv"
echo "batch report:          $OUT/report_batch_$FAVOR_BATCH.xlsx $OUT/report_batch_$FAVOR_BATCH.csv"
echo "reconciliation report: $OUT/report_reconcile.xlsx $OUT/report_reconcile.csv"
echo "raw flow files:        $ISSUER_RECONCILE_DIR/$FAVOR_STOCK/"

step "the reconciliation report"
$issuer report reconcile --stock "$FAVOR_STOCK"
