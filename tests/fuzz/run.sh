#!/usr/bin/env sh
# Runs every cargo-fuzz target (the ESPPADOM readers and the JSON bodies)
# for a set time, or only the targets named after the time.
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]     (default 60 s per target, all)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly-capable
# compiler (RUSTC_BOOTSTRAP=1 is set for the stable toolchain). Builds into
# $CARGO_TARGET_DIR (default /work/fuzz-target). Crashes land in
# tests/fuzz/artifacts/<target>/; each libFuzzer summary (#N executions,
# stat::number_of_executed_units) is kept in tests/fuzz/logs/<target>.log.
set -eu
seconds="${1:-60}"
[ $# -gt 0 ] && shift
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/fuzz-target}"
export RUSTC_BOOTSTRAP=1
mkdir -p "$here/logs"
status=0
cd "$root"
targets="$*"
[ -n "$targets" ] || targets="$(cargo fuzz list --fuzz-dir tests/fuzz)"
for target in $targets; do
    echo "== $target: ${seconds}s"
    # Seeds kept in git (tests/fuzz/seeds/<target>/) join the working
    # corpus (tests/fuzz/corpus/<target>/, ignored) when there are any.
    mkdir -p "$here/corpus/$target"
    seeds=""
    [ -d "$here/seeds/$target" ] && seeds="$here/seeds/$target"
    # shellcheck disable=SC2086
    if cargo fuzz run --fuzz-dir tests/fuzz "$target" "$here/corpus/$target" $seeds -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$here/logs/$target.log" 2>&1; then
        echo "   ok"
    else
        echo "   FAILED (crash or build error): see $here/logs/$target.log"
        status=1
    fi
    grep -E '^(Done|#[0-9]+ *DONE)|stat::number_of_executed_units' "$here/logs/$target.log" || true
done
exit "$status"
