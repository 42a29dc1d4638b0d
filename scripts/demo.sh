#!/usr/bin/env bash
# The whole pipeline on sample data. Run through `make demo`, which provides
# a database (ISSUER_DATABASE_URL) and bin/issuer.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${ISSUER_DATABASE_URL:?run through make demo (scripts/with-postgres.sh sets it)}"
issuer=bin/issuer
out=out
mkdir -p "$out"
export ISSUER_CONFIG=
export ISSUER_WXPAY_MCHID=${ISSUER_WXPAY_MCHID:-1900000109}
export ISSUER_WXPAY_APPID=${ISSUER_WXPAY_APPID:-wx233544546545989}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

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

step "batches"
$issuer batch list
