#!/usr/bin/env bash
# with-postgres.sh CMD [ARGS...]
#
# Runs CMD with ISSUER_DATABASE_URL pointing at a PostgreSQL database. If the
# variable is already set it is used as is. Otherwise an ephemeral cluster is
# created in a temporary directory (fsync off, loopback only, a free port),
# and always stopped and removed afterwards, also on failure or Ctrl-C.
# ISSUER_PGDATA and ISSUER_PGBIN are exported so tests can restart it.
set -euo pipefail

if [ -n "${ISSUER_DATABASE_URL:-}" ]; then
  exec "$@"
fi

find_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  done
  if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir; return 0
  fi
  return 1
}

bindir=$(find_bindir || true)
if [ -z "$bindir" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "with-postgres: PostgreSQL server binaries not found; installing Debian's postgresql" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    bindir=$(find_bindir) || { echo "with-postgres: postgresql installed but initdb not found" >&2; exit 1; }
  else
    echo "with-postgres: PostgreSQL server binaries (initdb, pg_ctl) not found." >&2
    echo "  Install them with: sudo apt-get install -y postgresql" >&2
    echo "  or set ISSUER_DATABASE_URL to an existing database." >&2
    exit 1
  fi
fi

# initdb refuses to run as root: run the server as the postgres user.
as_pg=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  as_pg=(runuser -u postgres --)
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/issuer-pg.XXXXXX")
chmod 755 "$dir"
[ ${#as_pg[@]} -gt 0 ] && chown postgres "$dir"
data="$dir/data"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  "${as_pg[@]}" "$bindir/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"${as_pg[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
  "${as_pg[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; exit 1; }

started=
for _ in $(seq 1 20); do
  port=$(( 20000 + RANDOM % 40000 ))
  if "${as_pg[@]}" "$bindir/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=256MB" \
      start >/dev/null 2>&1; then
    started=1; break
  fi
done
if [ -z "$started" ]; then
  echo "with-postgres: could not start PostgreSQL; server log:" >&2
  cat "$dir/server.log" >&2 || true
  exit 1
fi
"${as_pg[@]}" "$bindir/createdb" -h "$dir" -p "$port" -U postgres issuer

export ISSUER_DATABASE_URL="postgres://postgres@127.0.0.1:$port/issuer?sslmode=disable"
export ISSUER_PGDATA="$data" ISSUER_PGBIN="$bindir" ISSUER_PGPORT="$port" ISSUER_PGSOCKET="$dir"
if [ ${#as_pg[@]} -gt 0 ]; then export ISSUER_PGUSER=postgres; fi
"$@"
