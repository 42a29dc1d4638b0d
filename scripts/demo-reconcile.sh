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
