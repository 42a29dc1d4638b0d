#!/usr/bin/env bash
# The operations half of the demo, run by scripts/demo.sh with the daemon
# and the simulator up: a batch cancelled mid-run while WeChat Pay answers
# "500" after issuing, its rows in doubt settled by asking WeChat Pay, then
# the money guards (second-person approval, spend cap, duplicate file,
# send window). Writes $OUT/guards.env naming the batches it made.
#
# Needs, from demo.sh: SIM_ADMIN (…/sim/), OUT, the ISSUER_* environment
# (ISSUER_APPROVAL_MIN_COUPONS set), the accounts otto and olga, bin/issuer
# and the simulator's stocks 9856001, 9856002 and 9856003.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${SIM_ADMIN:?the admin URL of the simulator, ending in /sim/}"
: "${OUT:=out}"
: "${ISSUER_APPROVAL_MIN_COUPONS:?set approval.min_coupons for the demo}"
issuer=bin/issuer
log=$OUT/guards.log # the commands' own logs (one line per row settled, per pass)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
sim_put() { curl -fsS -X PUT -H 'Content-Type: application/json' -d "$2" "${SIM_ADMIN}$1" >/dev/null; }
batch_id() { tr -d ' \n' | sed -n 's/.*"batch_id":\([0-9]*\).*/\1/p'; }
count() { # count ID STATUS → rows of batch ID in STATUS
  $issuer batch show "$1" --json | tr -d ' \n' | sed -n "s/.*\"counts\":{[^}]*\"$2\":\([0-9]*\).*/\1/p"
}
sample() { go run ./internal/tools/sample -n "$1" -seed "$2" -o "$3"; }
quiet() { "$@" 2>>"$log"; }
refused() { # refused CMD… → runs CMD, which must fail, and prints why
  if "$@" 2>"$OUT/refused.err" >/dev/null; then echo "not refused: $*" >&2; exit 1; fi
  grep '^issuer:' "$OUT/refused.err"
}

# The command line acts as an account only with that account's credential:
# an API token of each (shown once, stored hashed; a day is enough here).
# Without one it is cli:<os user>, who imports, pauses and cancels only.
otto_token=$($issuer user token otto --expires 1d 2>>"$log")
olga_token=$($issuer user token olga --expires 1d 2>>"$log")
otto() { ISSUER_TOKEN=$otto_token "$@"; }
olga() { ISSUER_TOKEN=$olga_token "$@"; }

faults_before=$(curl -fsS "${SIM_ADMIN}faults")
limit_before=$(curl -fsS "${SIM_ADMIN}limit")

step "cancel a batch mid-run while WeChat Pay answers 500 after issuing one send in four"
# The coupon exists but the answer does not say so: such a row is in doubt,
# never "failed" and never sent under a new out_request_no.
sim_put faults '{"after_500":0.25}'
sim_put limit '{"qps":60}'
sample 900 21 "$OUT/cancel.csv"
cancel_batch=$(quiet otto $issuer import --stock 9856001 --name "cancelled mid-run" --as otto --json "$OUT/cancel.csv" | batch_id)
$issuer issue --batch "$cancel_batch" >"$OUT/cancel-issue.out" 2>>"$log" &
issue_pid=$!
for _ in $(seq 1 150); do
  [ "$(count "$cancel_batch" issued)" -ge 150 ] 2>/dev/null && break
  sleep 0.2
done
echo "batch $cancel_batch: $(count "$cancel_batch" issued) issued so far; cancelling it while the pass runs"
echo "\$ issuer batch cancel $cancel_batch"
quiet $issuer batch cancel "$cancel_batch"
wait $issue_pid
$issuer batch show "$cancel_batch"

step "rows in doubt anywhere: list them, then settle them by asking WeChat Pay which coupons each user holds (nothing is sent)"
echo "\$ issuer review list"
$issuer review list | sed -n 1,12p
echo "\$ issuer review resolve"
quiet $issuer review resolve
sim_put faults '{}'
sim_put limit "$limit_before"

step "money guard: $ISSUER_APPROVAL_MIN_COUPONS coupons or more (approval.min_coupons) wait for a second person"
sample "$ISSUER_APPROVAL_MIN_COUPONS" 22 "$OUT/approval.csv"
approval_batch=$(quiet otto $issuer import --stock 9856002 --name "needs approval" --as otto --json "$OUT/approval.csv" | batch_id)
$issuer batch show "$approval_batch" | sed -n 1,3p
echo "\$ issuer issue --batch $approval_batch"
refused $issuer issue --batch "$approval_batch"
echo "after that: $(count "$approval_batch" issued) issued (it waits for approval)"
echo "\$ issuer batch approve $approval_batch   # no credential: cli:$(id -un)"
refused $issuer batch approve "$approval_batch"
echo "\$ ISSUER_TOKEN=<otto's token> issuer batch approve $approval_batch --as otto   # the uploader"
refused otto $issuer batch approve "$approval_batch" --as otto
echo "\$ ISSUER_TOKEN=<olga's token> issuer batch approve $approval_batch --as olga"
quiet olga $issuer batch approve "$approval_batch" --as olga
quiet $issuer issue --batch "$approval_batch" | sed -n 1p
echo "approved by olga: $(count "$approval_batch" issued) of $ISSUER_APPROVAL_MIN_COUPONS issued"

step "money guard: a spend cap of 50 yuan on a batch of 200 one-yuan coupons"
sample 200 23 "$OUT/cap.csv"
cap_batch=$(quiet otto $issuer import --stock 9856002 --name "spend cap 50 yuan" --max-amount-yuan 50 --as otto --json "$OUT/cap.csv" | batch_id)
echo "\$ issuer issue --batch $cap_batch"
# The pass halts the batch at its cap, and says so with exit status 1.
$issuer issue --batch "$cap_batch" >/dev/null 2>"$OUT/cap.err" || grep '^issuer:' "$OUT/cap.err"
$issuer batch show "$cap_batch" | grep -E '^(batch|status|recipients|spend cap|amount)' 
issued=$(count "$cap_batch" issued)
echo "issued $issued coupons of 1 yuan: exactly the cap"
[ "$issued" -eq 50 ] || { echo "spend cap: want 50 issued, got $issued" >&2; exit 1; }

step "spend cap under a storm: 500 after issuing one send in five, the hidden limit collapsing to 10/s and back, then cancel and settle"
# A row whose send was answered 500 after WeChat Pay issued its coupon stays
# in doubt whatever later answers say (a 429, a halt): it keeps its share of
# the cap, and the cancel sends it to review, where a query settles it.
sim_put faults '{"after_500":0.2}'
sample 900 25 "$OUT/storm.csv"
storm_batch=$(quiet otto $issuer import --stock 9856003 --name "spend cap 300 yuan in a storm" --max-amount-yuan 300 --as otto --json "$OUT/storm.csv" | batch_id)
$issuer issue --batch "$storm_batch" >/dev/null 2>>"$log" &
issue_pid=$!
for _ in $(seq 1 3); do
  sim_put limit '{"qps":10}'; sleep 0.4
  sim_put limit '{"qps":300}'; sleep 0.4
done
sim_put limit '{"qps":10}'
echo "\$ issuer batch cancel $storm_batch   # while the pass runs, throttled"
quiet otto $issuer batch cancel "$storm_batch" || true
wait $issue_pid || true
sim_put faults '{}'
sleep 5 # settlement asks only about sends older than twice the call timeout
echo "\$ issuer review resolve --batch $storm_batch"
$issuer review resolve --batch "$storm_batch" 2>>"$log"
$issuer batch show "$storm_batch" | grep -E '^(batch|status|recipients|in doubt|spend cap)'
ledger=$(curl -fsS "${SIM_ADMIN}ledger?stock=9856003" | grep -o '"coupon_id"' | wc -l)
issued=$(count "$storm_batch" issued)
echo "WeChat Pay issued $ledger one-yuan coupons under the 300-yuan cap; issuer's books say $issued issued, $(count "$storm_batch" review) in review"
[ "$ledger" -le 300 ] || { echo "spend cap: WeChat Pay issued $ledger > 300" >&2; exit 1; }
[ "$ledger" -eq "$issued" ] || { echo "books: WeChat Pay issued $ledger, issuer says $issued issued" >&2; exit 1; }
sim_put limit "$limit_before"

step "money guard: the same file again for the same stock is refused"
echo "\$ issuer import --stock 9856002 $OUT/approval.csv"
refused otto $issuer import --stock 9856002 --as otto "$OUT/approval.csv"

step "money guard: a send window that excludes now issues nothing"
tz=${ISSUER_TIMEZONE:-Asia/Shanghai}
window="$(TZ=$tz date -d '+2 hours' +%H:00)-$(TZ=$tz date -d '+3 hours' +%H:00)"
sample 100 24 "$OUT/window.csv"
window_batch=$(quiet otto $issuer import --stock 9856002 --name "window $window" --window "$window" --as otto --json "$OUT/window.csv" | batch_id)
quiet $issuer issue --batch "$window_batch" | sed -n 1p
$issuer batch show "$window_batch" | grep -E '^(batch|status|recipients|window|next)' 
echo "window $window ($tz): $(count "$window_batch" issued) issued now"

sim_put faults "$faults_before"
cat >"$OUT/guards.env" <<EOF
CANCEL_BATCH=$cancel_batch
APPROVAL_BATCH=$approval_batch
CAP_BATCH=$cap_batch
STORM_BATCH=$storm_batch
WINDOW_BATCH=$window_batch
EOF
