#!/usr/bin/env bash
# pixie against oidc-provider 9.x on this machine, in one go: each server in turn pinned
# to CPU 0 (pixie on a durable SQLite store in a temp dir; oidc-provider on Node 22 from
# the npm registry, on an in-memory store), `pixie bench` on CPU 1, C = 1, 16, 64,
# ES256 and RS256 ID tokens, a warm-up of 3 s then N seconds each. Both servers: one
# public client per algorithm, PKCE S256 required, ES256 JWT access tokens, one user
# signed in once. oidc-provider runs with whichever in-memory adapter is faster here
# (its own LRU development adapter or plain Maps: both measured first, at C = 16).
# Each server's HTTP ceiling (discovery requests/s, C = 16) is measured in the same run.
# Prints a markdown table with the ratio pixie / oidc-provider.
# Usage: bench/compare.sh [seconds-per-run]     (default 20; needs node and npm)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
command -v node >/dev/null && command -v npm >/dev/null || { echo "compare.sh needs node and npm" >&2; exit 2; }
cargo build --release -q
bin="$PWD/target/release/pixie"
work="$(mktemp -d)"
source bench/lib.sh
pixie_pid='' op_pid=''
trap 'kill $pixie_pid $op_pid 2>/dev/null || true; rm -rf "$work"' EXIT
declare -A result

# pixie with `normal` durability for the table (as oidc-provider's in-memory store, it
# does not wait for a disk), then with `full` (the default) at C = 16 and 64.
start_pixie normal
for alg in ES256 RS256; do
  id=$pixie_es; [ "$alg" = RS256 ] && id=$pixie_rs
  for c in 1 16 64; do result[pixie,$alg,$c]=$(fields "$(run_bench "$pixie_issuer" "$id" "$c" flow flows)" flow); done
done
result[pixie,discovery]=$(fields "$(run_bench "$pixie_issuer" "$pixie_es" 16 discovery flows)" discovery)
pixie_rss=$(peak_rss_mib "$pixie_pid")
kill "$pixie_pid"; wait "$pixie_pid" 2>/dev/null || true; pixie_pid=''
start_pixie full
for c in 16 64; do result[full,$c]=$(fields "$(run_bench "$pixie_issuer" "$pixie_es" "$c" flow flows)" flow); done
full_rss=$(peak_rss_mib "$pixie_pid")
kill "$pixie_pid"; wait "$pixie_pid" 2>/dev/null || true; pixie_pid=''

# The scale-out set-up: pixie on PostgreSQL (its defaults: fsync and synchronous commit
# on), both on CPU 0, the load on CPU 1; and what a flow costs the database
# (transactions and statements per flow, from pg_stat_database and pg_stat_statements).
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [ -n "$pg_bin" ] && [ "$(id -u)" = 0 ]; then
  pg_data="$(mktemp -d /tmp/pixie-bench-pg.XXXXXX)"
  chown postgres "$pg_data"
  runuser -u postgres -- "$pg_bin/initdb" -D "$pg_data" -A trust -U postgres >/dev/null
  pg_port=$(free_port)
  taskset -c 0 runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_data/log" -w \
    -o "-p $pg_port -k $pg_data -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_stat_statements" start >/dev/null
  psql_() { runuser -u postgres -- "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -At -c "$1" postgres; }
  psql_ "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
  export PIXIE_DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
  start_pixie full pg
  for c in 16 64; do result[pg,$c]=$(fields "$(run_bench "$pixie_issuer" "$pixie_es" "$c" flow flows)" flow); done
  psql_ "SELECT pg_stat_statements_reset()" >/dev/null
  x0=$(psql_ "SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'")
  n=$(echo 'bench password' | taskset -c 1 "$bin" bench --issuer "$pixie_issuer" --client-id "$pixie_es" --username bench \
      --concurrency 1 --mode flow --signin flows --duration 5 --warmup 0 --json \
      | python3 -c 'import json, sys; j = json.load(sys.stdin); print(j.get("completed", j.get("count", 0)))')
  x1=$(psql_ "SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'")
  calls=$(psql_ "SELECT sum(calls) FROM pg_stat_statements WHERE query NOT ILIKE '%pg_stat%'")
  pg_per_flow=$(python3 -c "print(f'{($x1 - $x0) / $n:.1f} transactions and {$calls / $n:.1f} statements per flow ({$n} flows at C = 1)' if $n else '-')")
  pg_version=$("$pg_bin/postgres" --version | awk '{print $3}')
  kill "$pixie_pid"; wait "$pixie_pid" 2>/dev/null || true; pixie_pid=''
  unset PIXIE_DATABASE_URL
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_data" -m fast stop >/dev/null
  rm -rf "$pg_data"
fi

# oidc-provider at its best: each adapter at C = 16 (ES256), then the faster for all runs.
declare -A adapter_rate
for adapter in default map; do
  start_oidc_provider "$adapter"
  read -r rate _ <<<"$(fields "$(run_bench "$op_issuer" bench-es256 16 flow interaction)" flow)"
  adapter_rate[$adapter]=$rate
  kill "$op_pid"; wait "$op_pid" 2>/dev/null || true; op_pid=''
done
best=map; [ "${adapter_rate[default]%.*}" -gt "${adapter_rate[map]%.*}" ] && best=default
start_oidc_provider "$best"
op_version=$(node -p "require('$work/op/node_modules/oidc-provider/package.json').version")
op_node=$("$(node22)" --version)
for alg in ES256 RS256; do
  id=bench-$(echo "$alg" | tr '[:upper:]' '[:lower:]')
  for c in 1 16 64; do result[op,$alg,$c]=$(fields "$(run_bench "$op_issuer" "$id" "$c" flow interaction)" flow); done
done
result[op,discovery]=$(fields "$(run_bench "$op_issuer" bench-es256 16 discovery interaction)" discovery)
op_rss=$(peak_rss_mib "$op_pid")

echo "pixie $("$bin" --version | awk '{print $2}') (SQLite, --sqlite-durability normal) vs oidc-provider $op_version (in-memory, $best adapter) on node $op_node;" \
  "$(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo); $secs s per run."
echo
echo "| ID token | C | pixie flows/s | oidc-provider flows/s | ratio | pixie p50 / p99 ms | oidc-provider p50 / p99 ms | errors (pixie / oidc-provider) |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for alg in ES256 RS256; do
  for c in 1 16 64; do
    read -r pps perr pp50 _ pp99 _ <<<"${result[pixie,$alg,$c]}"
    read -r ops oerr op50 _ op99 _ <<<"${result[op,$alg,$c]}"
    ratio=$(python3 -c "print(f'{$pps / $ops:.2f}' if $ops else '-')")
    echo "| $alg | $c | $pps | $ops | $ratio | $pp50 / $pp99 | $op50 / $op99 | $perr / $oerr |"
  done
done
read -r pd _ <<<"${result[pixie,discovery]}"
read -r od _ <<<"${result[op,discovery]}"
echo
echo "oidc-provider's adapters at C = 16, ES256: default (LRU) ${adapter_rate[default]} flows/s, plain Map ${adapter_rate[map]} flows/s; the table uses $best."
echo "HTTP ceiling (discovery, C = 16): pixie $pd requests/s, oidc-provider $od requests/s."
echo "pixie's ES256 flows/s at C = 16 against half its discovery rate: $(python3 -c "r='${result[pixie,ES256,16]}'.split()[0]; print(f'{100 * float(r) / ($pd / 2):.0f} %' if $pd else '-')")."
for c in 16 64; do
  read -r fps ferr fp50 _ fp99 _ <<<"${result[full,$c]}"
  read -r nps _ <<<"${result[pixie,ES256,$c]}"
  echo "pixie with --sqlite-durability full (the default), ES256, C = $c: $fps flows/s ($(python3 -c "print(f'{100 * $fps / $nps:.0f}' if $nps else '-')") % of normal), p50 / p99 $fp50 / $fp99 ms, $ferr errors."
done
if [ -n "${result[pg,16]:-}" ]; then
  for c in 16 64; do
    read -r gps gerr gp50 _ gp99 _ <<<"${result[pg,$c]}"
    echo "pixie on PostgreSQL $pg_version (fsync and synchronous_commit on; pixie and the database on CPU 0), ES256, C = $c: $gps flows/s, p50 / p99 $gp50 / $gp99 ms, $gerr errors."
  done
  echo "PostgreSQL per flow: $pg_per_flow (statements as pg_stat_statements counts them, BEGIN and COMMIT included: each is a round trip)."
fi
echo "Peak RSS over its runs: pixie $pixie_rss MiB (normal), $full_rss MiB (full), oidc-provider $op_rss MiB."
