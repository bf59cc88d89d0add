#!/usr/bin/env bash
# Where a flow's SQLite WAL goes: N seconds of flows (C = 16 unless C is set) against a
# fresh pixie (`normal`), then every frame of the WAL mapped to the table or index of its
# page (SQLite's dbstat), per flow. Short runs only: a WAL restart (past 64 MiB) would
# drop the frames before it.
# Usage: bench/wal-frames.sh [seconds]     (default 2; needs python3 with sqlite3)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-2}"
cargo build --release -q
bin="$PWD/target/release/pixie"
work="$(mktemp -d)"
source bench/lib.sh
pixie_pid=''
trap 'kill $pixie_pid 2>/dev/null || true; rm -rf "$work"' EXIT
start_pixie normal
echo 'bench password' | taskset -c 1 "$bin" bench --issuer "$pixie_issuer" --client-id "$pixie_es" --username bench \
  --concurrency "${C:-16}" --mode flow --signin flows --duration "$secs" --warmup 0 --json >"$work/b.json"
kill -STOP "$pixie_pid"
mkdir "$work/copy"
cp "$PIXIE_DATA_DIR/pixie.db" "$PIXIE_DATA_DIR/pixie.db-wal" "$work/copy/"
kill -CONT "$pixie_pid"
python3 - "$work/copy" "$work/b.json" <<'PY'
import collections, json, sqlite3, struct, sys
d, bench = sys.argv[1], json.load(open(sys.argv[2]))
wal = open(d + "/pixie.db-wal", "rb").read()
_, _, page_size, _, salt1, salt2, _, _ = struct.unpack(">IIIIIIII", wal[:32])
pages, commits, off = [], 0, 32
while off + 24 + page_size <= len(wal):
    page, db_size, s1, s2 = struct.unpack(">IIII", wal[off:off + 16])
    if (s1, s2) != (salt1, salt2):
        break
    pages.append(page)
    commits += db_size != 0
    off += 24 + page_size
name = {p: n for n, p in sqlite3.connect(d + "/pixie.db").execute("SELECT name, pageno FROM dbstat")}
flows = bench["completed"]
print(f"{flows} flows, {len(pages)} frames of {page_size} bytes in {commits} commits: "
      f"{len(pages) / flows:.2f} frames per flow, {len(pages) / max(commits, 1):.1f} per commit")
by = collections.Counter(name.get(p, "(new page)") for p in pages)
for n, k in by.most_common(15):
    print(f"  {n:34} {k / flows:5.2f} per flow")
PY
