#!/usr/bin/env bash
# Measures pixie on this machine as BENCHMARKS.md reports it: a release build, a
# durable SQLite store in a temp dir, the server pinned to CPU 0 and `pixie bench` on
# CPU 1, C = 1, 16, 64, ES256 and RS256 ID tokens, plus the discovery ceiling.
# Usage: bench/pixie.sh [seconds-per-run]   (prints a markdown table)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
cargo build --release -q
bin="$PWD/target/release/pixie"
work="$(mktemp -d)"
source bench/lib.sh
trap 'kill $pixie_pid 2>/dev/null || true; rm -rf "$work"' EXIT
start_pixie
echo "| ID token | mode | C | per second | errors | p50 ms | p90 ms | p99 ms | max ms |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for alg in ES256 RS256; do
  id=$pixie_es; [ "$alg" = RS256 ] && id=$pixie_rs
  for c in 1 16 64; do
    read -r ps err p50 p90 p99 max < <(fields "$(run_bench "$pixie_issuer" "$id" "$c" flow flows)" flow)
    echo "| $alg | flow | $c | $ps | $err | $p50 | $p90 | $p99 | $max |"
  done
done
# The same flow with a DPoP proof on every token request (RFC 9449; ES256, a key per
# worker): what sender-constrained tokens cost.
for c in 1 16 64; do
  read -r ps err p50 p90 p99 max < <(fields "$(run_bench "$pixie_issuer" "$pixie_es" "$c" flow flows --dpop)" flow)
  echo "| ES256 + DPoP | flow | $c | $ps | $err | $p50 | $p90 | $p99 | $max |"
done
read -r ps err p50 p90 p99 max < <(fields "$(run_bench "$pixie_issuer" "$pixie_es" 16 discovery flows)" discovery)
echo "| - | discovery | 16 | $ps | $err | $p50 | $p90 | $p99 | $max |"
echo
echo "Peak RSS of the server: $(peak_rss_mib "$pixie_pid") MiB"
