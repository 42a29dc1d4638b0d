#!/usr/bin/env bash
# The whole pipeline on sample data. Run through `make demo`, which provides
# a database (ISSUER_DATABASE_URL) and bin/issuer. Everything it writes goes
# to ./out/.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${ISSUER_DATABASE_URL:?run through make demo (scripts/with-postgres.sh sets it)}"
issuer=bin/issuer
out=out
keys=$out/keys
rm -rf "$out" && mkdir -p "$out"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "merchant and platform keys for the simulator ($keys)"
$issuer sim keys "$keys"

step "start the WeChat Pay simulator: hidden limit 300/s, 2% faults (500s, resets, hangs)"
$issuer sim --keys "$keys" --addr 127.0.0.1:0 --seed 7 \
  --stock 9856000:20000:1 --product-stock 1212345:1000:1 --limit 300 \
  --fault-500-before 0.005 --fault-500-after 0.005 --fault-reset-after 0.005 --fault-hang-after 0.005 --hang-max 3s \
  >"$out/sim.out" 2>"$out/sim.log" &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null || true; wait $sim_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q '^admin ' "$out/sim.out" 2>/dev/null && break
  sleep 0.1
done
sim_admin=$(sed -n 's/^admin //p' "$out/sim.out")
sim_url=${sim_admin%/sim/}
[ -n "$sim_url" ] || { cat "$out/sim.log" >&2; exit 1; }
echo "simulator at $sim_url (admin $sim_admin)"

export ISSUER_CONFIG=$keys/issuer.yaml
export ISSUER_WXPAY_BASE_URL=$sim_url
export ISSUER_WXPAY_TIMEOUT=2s
export ISSUER_ISSUE_CONCURRENCY=32
export ISSUER_ISSUE_RATE_INITIAL=100
# ISSUER_DATABASE_URL from the environment overrides issuer.yaml's database_url.

step "migrate the database"
$issuer migrate

step "generate sample recipient lists (10,000 recipients + 25 duplicate lines; a GBK file from Excel)"
go run ./internal/tools/sample -n 10000 -dups 25 -o "$out/recipients.csv" -gbk "$out/recipients_gbk.csv" -gbk-n 500
wc -l "$out/recipients.csv" "$out/recipients_gbk.csv"

step "import the UTF-8 list for 代金券 stock 9856000"
$issuer import --stock 9856000 --name "November members" "$out/recipients.csv"

step "import the GBK list for 商品券 stock 1212345 (one bad line allowed, saved to $out/rejects_gbk.csv)"
$issuer import --stock 1212345 --kind product --name "VIP product coupons" \
  --max-rejects 1 --rejects "$out/rejects_gbk.csv" "$out/recipients_gbk.csv"

step "issue: adaptive rate limit, exactly once under injected faults"
$issuer issue

step "batches"
$issuer batch list
$issuer batch export 1 -o "$out/batch1.csv"
$issuer batch export 2 -o "$out/batch2.csv"
echo "exported $out/batch1.csv $out/batch2.csv"

step "the simulator's view: coupons issued, answers by code"
curl -fsS "$sim_admin"stats 2>/dev/null | head -c 600 || true
echo

if [ -x scripts/demo-reconcile.sh ]; then
  SIM_ADMIN=$sim_admin OUT=$out FAVOR_STOCK=9856000 FAVOR_BATCH=1 scripts/demo-reconcile.sh
fi
