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
# The demo's own settings are not issuer's: issuer refuses ISSUER_* names it
# does not know, so they leave the environment once read.
demo_addr=${ISSUER_DEMO_ADDR:-127.0.0.1:0}
demo_hold=${ISSUER_DEMO_HOLD:-}
unset ISSUER_DEMO_ADDR ISSUER_DEMO_HOLD
# psql never waits at a pager on a terminal.
export PAGER=cat PSQL_PAGER=cat

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# announced FILE PREFIX LOG: what a process started in the background
# printed after PREFIX on a line of FILE, once it has (10 s at most; else
# its LOG, and the demo stops).
announced() {
  local value=
  for _ in $(seq 1 100); do
    value=$(sed -n "s/^$2//p" "$1" 2>/dev/null || true)
    [ -n "$value" ] && break
    sleep 0.1
  done
  [ -n "$value" ] || { cat "$3" >&2; exit 1; }
  printf '%s\n' "$value"
}

step "merchant and platform keys for the simulator ($keys)"
$issuer sim keys "$keys"

step "start the WeChat Pay simulator: hidden limit 300/s, 2% faults (500s, resets, hangs)"
$issuer sim --keys "$keys" --addr 127.0.0.1:0 --seed 7 \
  --stock 9856000:20000:1 --stock 9856001:5000:1 --stock 9856002:10000:1 --stock 9856003:10000:1 --product-stock 1212345:1000:1 --limit 300 \
  --fault-500-before 0.005 --fault-500-after 0.005 --fault-reset-after 0.005 --fault-hang-after 0.005 --hang-max 3s \
  >"$out/sim.out" 2>"$out/sim.log" &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null || true; wait $sim_pid 2>/dev/null || true' EXIT
sim_admin=$(announced "$out/sim.out" 'admin ' "$out/sim.log")
sim_url=${sim_admin%/sim/}
echo "simulator at $sim_url (admin $sim_admin)"

export ISSUER_CONFIG=$keys/issuer.yaml
export ISSUER_WXPAY_BASE_URL=$sim_url
export ISSUER_WXPAY_TIMEOUT=2s
export ISSUER_ISSUE_CONCURRENCY=32
export ISSUER_ISSUE_RATE_INITIAL=100
# ISSUER_DATABASE_URL from the environment overrides issuer.yaml's database_url.

step "migrate the database"
$issuer migrate

step "accounts for the console and the API: an admin, two operators, an analyst"
mkdir -p "$out/passwords" && chmod 700 "$out/passwords"
printf '  %-6s %-9s %s\n' name role password
for who in alice:admin otto:operator olga:operator ann:analyst; do
  name=${who%%:*} role=${who#*:}
  head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$out/passwords/$name"
  chmod 600 "$out/passwords/$name"
  $issuer user add "$name" --role "$role" --password-file "$out/passwords/$name" >/dev/null
  printf '  %-6s %-9s %s\n' "$name" "$role" "$(cat "$out/passwords/$name")"
done
echo "(demo passwords, also in $out/passwords/; the database keeps only argon2id hashes)"

step "start the daemon (issuer run): console, /api/v1, schedules, /healthz /readyz /metrics, COUPON.USE callbacks, /plugin/sign"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$out/plugin.token"
chmod 600 "$out/plugin.token"
# The demo runs each issue pass itself so that every step shows its own
# result; the daemon's scheduled pass would only race it.
ISSUER_HTTP_ADDR=$demo_addr ISSUER_SCHEDULES_ISSUE='@every 1h' ISSUER_APPROVAL_MIN_COUPONS=1000 ISSUER_PLUGIN_TOKEN_FILE=$out/plugin.token ISSUER_PLUGIN_STOCKS=1212345 ISSUER_RECONCILE_DIR=$out/flowfiles \
  $issuer run >"$out/daemon.out" 2>"$out/daemon.log" &
daemon_pid=$!
trap 'kill $daemon_pid $sim_pid 2>/dev/null || true; wait 2>/dev/null || true' EXIT
daemon_url=$(announced "$out/daemon.out" 'listening on ' "$out/daemon.log")
printf '\033[1mconsole: %s  (sign in as alice, otto, olga or ann; up while the demo runs)\033[0m\n' "$daemon_url"
echo "daemon at $daemon_url: healthz $(curl -fsS "$daemon_url/healthz"), readyz $(curl -fsS "$daemon_url/readyz")"
# WeChat Pay (the simulator) now sends COUPON.USE notifications to the daemon.
curl -fsS -X PUT -H 'Content-Type: application/json' -d "{\"url\":\"$daemon_url/callbacks/wxpay\"}" "${sim_admin}callback" >/dev/null
echo "the simulator sends COUPON.USE callbacks to $daemon_url/callbacks/wxpay"
echo "mini-program signing: POST /plugin/sign →"
curl -fsS -H "Authorization: Bearer $(cat "$out/plugin.token")" -H 'Content-Type: application/json' \
  -d '{"coupons":[{"stock_id":"1212345","out_request_no":"demo-0001"}]}' "$daemon_url/plugin/sign"
echo

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
# The counters, without the per-second series.
curl -fsS "${sim_admin}stats" | sed '/"per_second"/,$d'
echo "  ...}"

# Money guard from here on (the lists above were imported before it was
# set): a batch of 1,000 coupons or more waits for a second person.
export ISSUER_APPROVAL_MIN_COUPONS=1000
SIM_ADMIN=$sim_admin OUT=$out scripts/demo-guards.sh

if [ -x scripts/demo-reconcile.sh ]; then
  SIM_ADMIN=$sim_admin OUT=$out FAVOR_STOCK=9856000 FAVOR_BATCH=1 scripts/demo-reconcile.sh
fi

step "the daemon's view: metrics, job runs, callbacks stored"
curl -fsS "$daemon_url/metrics" | grep -E '^issuer_(coupons_issued_total|queue_recipients|limiter_rate|instances_live|callbacks_total|job_last_success)' || true
psql -X -q -P pager=off "$ISSUER_DATABASE_URL" -c "SELECT job, result, catch_up, to_char(scheduled_for AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') AS \"activation, Asia/Shanghai\", counts FROM job_runs ORDER BY id" 2>/dev/null || true
psql -X -q -t -P pager=off "$ISSUER_DATABASE_URL" -c "SELECT count(*) || ' COUPON.USE callbacks stored' FROM coupon_use_callbacks" 2>/dev/null || true

step "the console's pages, signed in as alice: screenshots in $out/screenshots/"
. "$out/guards.env"
# The pages of internal/shotlist that the demo's batches fill, and its
# cancelled batch.
SHOTS_URL=$daemon_url SHOTS_USER=alice SHOTS_PASSWORD_FILE=$out/passwords/alice scripts/screenshots.sh "$out/screenshots" \
  -id completed=1 -id halted="$CAP_BATCH" -id spend_cap="$CAP_BATCH" -id awaiting="$APPROVAL_BATCH" \
  -id stock=9856000 -id openid="$(sed -n 2p "$out/recipients.csv" | tr -d '\r' | cut -d, -f1)" \
  -page batch-cancelled="/batches/$CANCEL_BATCH" \
  -upload-stock 9856001 -upload-file "$out/recipients_gbk.csv" ||
  echo "screenshots skipped: see the message above" >&2

if [ -n "$demo_hold" ] && [ -t 0 ]; then
  printf '\nthe console stays up at %s: press Enter to stop the daemon and finish\n' "$daemon_url"
  read -r _
fi

step "stop the daemon with SIGTERM: in-flight work finishes, exit 0"
kill -TERM $daemon_pid
wait $daemon_pid && echo "daemon exited 0"
tail -n 2 "$out/daemon.log"


step "done: everything the demo wrote is in $out/"
ls "$out"
