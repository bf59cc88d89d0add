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
export PIXIE_DATA_DIR="$work/data"
port=$((20000 + RANDOM % 20000))
taskset -c 0 "$bin" serve --listen "127.0.0.1:$port" >"$work/serve.out" 2>"$work/serve.err" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
until curl -sf -o /dev/null "http://127.0.0.1:$port/healthz"; do sleep 0.05; done
client() { "$bin" app create --env default --name "$1" --redirect-uri http://127.0.0.1/callback --public --id-token-alg "$1" \
  | sed -n 's/.*"client_id": "\(.*\)".*/\1/p'; }
es=$(client ES256); rs=$(client RS256)
echo 'bench password' | "$bin" user create --env default --username bench --password-stdin >/dev/null
run() { # alg client C mode
  echo 'bench password' | taskset -c 1 "$bin" bench --issuer "http://127.0.0.1:$port/default" --client-id "$2" \
    --username bench --concurrency "$3" --duration "$secs" --warmup 3 --mode "$4" --json
}
echo "| ID token | mode | C | per second | errors | p50 ms | p90 ms | p99 ms | max ms |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for alg in ES256 RS256; do
  id=$es; [ "$alg" = RS256 ] && id=$rs
  for c in 1 16 64; do
    j=$(run "$alg" "$id" "$c" flow || true)
    python3 - "$alg" "$c" "$j" <<'PY'
import json, sys
alg, c, j = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
l = j["latency_ms"].get("flow", {})
print(f"| {alg} | flow | {c} | {j['per_second']:.0f} | {j['errors']} | {l.get('p50',0):.2f} | {l.get('p90',0):.2f} | {l.get('p99',0):.2f} | {l.get('max',0):.2f} |")
PY
  done
done
j=$(run - "$es" 16 discovery || true)
python3 - "$j" <<'PY'
import json, sys
j = json.loads(sys.argv[1]); l = j["latency_ms"]["discovery"]
print(f"| - | discovery | 16 | {j['per_second']:.0f} | {j['errors']} | {l['p50']:.2f} | {l['p90']:.2f} | {l['p99']:.2f} | {l['max']:.2f} |")
PY
echo
echo "Peak RSS of the server: $(grep VmHWM /proc/$server/status | awk '{print $2, $3}')"
