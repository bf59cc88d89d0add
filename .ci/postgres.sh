#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for the tests and exports PIXIE_TEST_DATABASE_URL.
# Source it: `. .ci/postgres.sh`. Installs Debian's postgresql when missing; the
# cluster lives in a temporary directory and is stopped when the shell exits.
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
fi
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
PG_DATA="$(mktemp -d /tmp/pixie-pg.XXXXXX)"
trap 'runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast stop >/dev/null 2>&1 || true; rm -rf "$PG_DATA"' EXIT
chown postgres "$PG_DATA"
runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# A free port, tried a few times: another process may take it between the check and the start.
for attempt in 1 2 3 4 5; do
  PG_PORT="${PIXIE_PG_PORT:-$(free_port)}"
  if runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" -w \
    -o "-p $PG_PORT -k $PG_DATA -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off" start >/dev/null; then
    break
  fi
  [ "$attempt" -lt 5 ] || { tail -5 "$PG_DATA/server.log" >&2; exit 1; }
done
export PIXIE_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on port $PG_PORT for the tests"
