#!/usr/bin/env bash
# Prints the performance figures. Run through `make bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ISSUER_DATABASE_URL:?run through make bench (scripts/with-postgres.sh sets it)}"
echo "# issuer benchmarks ($(nproc) cores, $(go version | cut -d' ' -f3))"
go run ./internal/tools/bench import
go run ./internal/tools/bench crypto
go run ./internal/tools/bench reconcile
go run ./internal/tools/bench limiter
go run ./internal/tools/bench issue
