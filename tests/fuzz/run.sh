#!/usr/bin/env sh
# Runs every cargo-fuzz target of the ESPPADOM readers for a set time.
#
#   tests/fuzz/run.sh [SECONDS]     (default 60 per target)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly-capable
# compiler (RUSTC_BOOTSTRAP=1 is set for the stable toolchain). Builds into
# $CARGO_TARGET_DIR (default /work/fuzz-target). Crashes land in
# tests/fuzz/artifacts/<target>/; each libFuzzer summary (#N executions,
# stat::number_of_executed_units) is kept in tests/fuzz/logs/<target>.log.
set -eu
seconds="${1:-60}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/fuzz-target}"
export RUSTC_BOOTSTRAP=1
mkdir -p "$here/logs"
status=0
cd "$root"
for target in $(cargo fuzz list --fuzz-dir tests/fuzz); do
    echo "== $target: ${seconds}s"
    if cargo fuzz run --fuzz-dir tests/fuzz "$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$here/logs/$target.log" 2>&1; then
        echo "   ok"
    else
        echo "   FAILED (crash or build error): see $here/logs/$target.log"
        status=1
    fi
    grep -E '^(Done|#[0-9]+ *DONE)|stat::number_of_executed_units' "$here/logs/$target.log" || true
done
exit "$status"
