#!/usr/bin/env bash
# need.sh COMMAND DEBIAN_PACKAGE
#
# Makes sure COMMAND is on the PATH, installing DEBIAN_PACKAGE with apt-get
# when it is missing and we are root (as scripts/with-postgres.sh does for
# PostgreSQL); otherwise says how to install it and fails.
#   scripts/need.sh promtool prometheus
#   scripts/need.sh chromium chromium
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: scripts/need.sh COMMAND DEBIAN_PACKAGE" >&2
  exit 2
fi
cmd=$1 pkg=$2

if command -v "$cmd" >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "need: $cmd not found; installing Debian's $pkg" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "$pkg" >&2
  command -v "$cmd" >/dev/null 2>&1 || { echo "need: $pkg installed but $cmd not found" >&2; exit 1; }
  exit 0
fi
echo "need: $cmd not found. Install it with: sudo apt-get install -y $pkg" >&2
exit 1
