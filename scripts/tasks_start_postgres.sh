#!/usr/bin/env bash
# Starts a private PostgreSQL server for the DB task's tests and prints `export` lines:
#   eval "$(bash scripts/tasks_start_postgres.sh)"        # start; sets CYCLEQD_POSTGRES_URL
#   bash scripts/tasks_start_postgres.sh --stop            # stop the one named by CYCLEQD_POSTGRES_DATA
# The server is a fresh cluster in a temporary folder, listening on 127.0.0.1 only (no Unix
# socket) on a free port. Tests connect as the role `cycleqd`, which owns the database
# `cycleqd` and is not a superuser. Installs Debian's `postgresql` package when missing.
set -euo pipefail

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-}" = "--stop" ]; then
  dir="${CYCLEQD_POSTGRES_DATA:?CYCLEQD_POSTGRES_DATA is not set: nothing to stop}"
  bin=$(cat "$dir/bindir")
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast stop >&2 || true
  rm -rf "$dir"
  exit 0
fi

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
bin=$(find_bin)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "PostgreSQL is not installed and installing it needs root (apt-get install postgresql)" >&2
    exit 1
  fi
  # Only the binaries are wanted: no default cluster started by the package.
  mkdir -p /etc/postgresql-common
  [ -f /etc/postgresql-common/createcluster.conf ] ||
    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >&2
  bin=$(find_bin)
fi

dir=$(mktemp -d /tmp/cycleqd-postgres.XXXXXX)
chmod 755 "$dir"
echo "$bin" > "$dir/bindir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
super_pw=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
user_pw=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
printf '%s\n' "$super_pw" > "$dir/superuser-password"
chmod 600 "$dir/superuser-password"
[ "$(id -u)" = 0 ] && chown postgres "$dir/superuser-password"

as_owner "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$dir/superuser-password" \
  --auth-host=scram-sha-256 --auth-local=reject -E UTF8 --no-instructions >&2
as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50" \
  start >&2

PGPASSWORD="$super_pw" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q >&2 <<SQL
CREATE ROLE cycleqd LOGIN PASSWORD '$user_pw' NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE DATABASE cycleqd OWNER cycleqd;
SQL

echo "export CYCLEQD_POSTGRES_URL='postgres://cycleqd:$user_pw@127.0.0.1:$port/cycleqd'"
echo "export CYCLEQD_POSTGRES_DATA='$dir'"
