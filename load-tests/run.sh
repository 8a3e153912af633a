#!/usr/bin/env bash
# One command for every load test (docs/performance.md):
#   load-tests/run.sh                      # département scale, SQLite and PostgreSQL (< 10 min)
#   load-tests/run.sh --scale national     # adds 1 000 000 plans / 25 000 000 interventions (hours)
#   load-tests/run.sh --backends sqlite --soak-minutes 10
# Every other flag goes to `loadgen run` (see `loadgen run --help`).
# Builds the release gateway and the load generator, runs every scenario
# against `saad-gateway serve` on 127.0.0.1, and writes
# load-tests/results/<date>-<commit>.md and .json.
# PostgreSQL: SAADGW_LOAD_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres);
# a scratch database is created and dropped.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"
command="load-tests/run.sh${*:+ $*}"
target="${CARGO_TARGET_DIR:-$repo/target}"
cargo build --release --locked -p saad-gateway --bin saad-gateway
cargo build --release --locked -p loadgen
# Private copies: a shared target directory may be rebuilt by someone else mid-run.
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
cp "$target/release/saad-gateway" "$target/release/loadgen" "$bin/"
"$bin/loadgen" run \
  --gateway "$bin/saad-gateway" \
  --repo "$repo" \
  --out "$repo/load-tests/results" \
  --command "$command" \
  "$@"
