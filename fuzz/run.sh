#!/usr/bin/env bash
# Runs every fuzz target for a bounded time: `fuzz/run.sh [seconds-per-target]`.
# New corpus entries go to a temporary directory; the seeds in fuzz/seeds stay as
# they are. A crash stops the run (non-zero exit); its input is in fuzz/artifacts/:
# add it to the seeds and a regression test before fixing.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
# cargo-fuzz needs nightly flags (-Zsanitizer); the stable toolchain allows them so.
export RUSTC_BOOTSTRAP=1
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for target in $(cargo fuzz list); do
  mkdir -p "$work/$target"
  echo "fuzz: $target for ${secs}s"
  cargo fuzz run "$target" "$work/$target" "seeds/$target" -- -max_total_time="$secs" -rss_limit_mb=2048 2>&1 \
    | grep -E "^(#[0-9]+\s+DONE|Done|==[0-9]+==|SUMMARY|thread '.*' panicked|INFO: seed corpus)" || true
  test "${PIPESTATUS[0]}" -eq 0
done
echo "fuzz: all targets ran ${secs}s without a crash"
