#!/usr/bin/env bash
# screenshots.sh [DIR [SHOTS_FLAGS…]]
#
# Saves PNGs of the console's pages in DIR (default out/screenshots), at
# 1280 and 390 px wide (NAME-1280.png, NAME-390.png), rendered by headless
# Chromium: the pages of internal/shotlist, one line each. With SHOTS_URL,
# SHOTS_USER and SHOTS_PASSWORD_FILE set it signs in to that running
# console (make demo: its own daemon and data) and shoots the pages whose
# ids SHOTS_FLAGS give (internal/tools/shots: -id NAME=VALUE…, -page
# NAME=/path…, -upload-stock S -upload-file F). Otherwise it renders them
# over a private database schema and the WeChat Pay simulator filled as a
# campaign leaves it (console/pages TestScreenshots; run it under
# scripts/with-postgres.sh) — docs/screenshots is made so. Installs
# Chromium and a CJK font with apt-get when missing and running as root.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(realpath -m "${1:-out/screenshots}")
mkdir -p "$dir"

scripts/need.sh chromium chromium
# Chinese text needs a CJK font; without one every character is a box.
if ! fc-list :lang=zh 2>/dev/null | grep . >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "screenshots: no CJK font; installing Debian's fonts-wqy-zenhei" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends fonts-wqy-zenhei >&2
  else
    echo "screenshots: no CJK font; Chinese renders as boxes. Install one: sudo apt-get install -y fonts-wqy-zenhei" >&2
  fi
fi

if [ -n "${SHOTS_URL:-}" ]; then
  go run ./internal/tools/shots -url "$SHOTS_URL" -user "${SHOTS_USER:?}" -password-file "${SHOTS_PASSWORD_FILE:?}" \
    -dir "$dir" "${@:2}" >/dev/null
  ls "$dir"
  exit 0
fi
ISSUER_SCREENSHOTS=$dir ISSUER_REQUIRE_CHROMIUM=1 go test -count=1 -run '^TestScreenshots$' ./console/pages/ >&2
ls "$dir"
