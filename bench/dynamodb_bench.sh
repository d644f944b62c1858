#!/usr/bin/env bash
# The DynamoDB benchmark: jobgate's skip path and a guarded run against one
# dynalite of its own, as store calls per invocation (what --json reports and
# the HTTP requests a pass-through proxy saw) and as time next to the floor,
# the same calls made raw by the AWS SDK for JavaScript in the same run
# (tools/dynamo/bench.mjs). Figures: docs/benchmarks.md, "DynamoDB".
#
#   bench/dynamodb_bench.sh [BUILD_DIR] [ITERATIONS]     defaults: build 200
#   JOBGATE=/path/to/jobgate bench/dynamodb_bench.sh
#
# Exits non-zero when the call targets (skip = 1 call; run <= 1 read +
# 3 writes) are not met.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
iterations=${2:-200}
jobgate=${JOBGATE:-$root/$build/jobgate}
[[ -x "$jobgate" ]] || { echo "dynamodb_bench: no jobgate at $jobgate (build first)" >&2; exit 2; }

JOBGATE_DYNALITE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/jobgate-dynalite-bench.XXXXXX")
export JOBGATE_DYNALITE_DIR
cleanup() {
  "$root/scripts/dynalite.sh" stop || true
  rm -rf "$JOBGATE_DYNALITE_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"$root/scripts/dynalite.sh" start
dynalite_env=$("$root/scripts/dynalite.sh" env)
eval "$dynalite_env"
node "$root/tools/dynamo/bench.mjs" --jobgate "$jobgate" --endpoint "$JOBGATE_TEST_DYNAMODB_ENDPOINT" \
  --iterations "$iterations" </dev/null
