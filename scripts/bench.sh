#!/usr/bin/env bash
# Prints the performance figures. Run through `make bench`, or
# `scripts/with-postgres.sh scripts/bench.sh SECTION…` for some sections
# only (import crypto reconcile limiter models issue console).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ISSUER_DATABASE_URL:?run through make bench (scripts/with-postgres.sh sets it)}"
sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(import crypto reconcile limiter models issue console)
echo "# issuer benchmarks ($(nproc) cores, $(go version | cut -d' ' -f3))"
make -s build # bin/issuer as `make build` makes it (versioned)
go build -o bin/bench ./internal/tools/bench
for s in "${sections[@]}"; do
  bin/bench "$s"
done
