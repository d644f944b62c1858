#!/usr/bin/env bash
# Builds jobgate and passes every test: unit, store conformance, simulation,
# real multi-process tests, DynamoDB tests against dynalite, PostgreSQL
# tests against a throwaway PostgreSQL 15 and PgBouncer, the crontab
# engine against croner (npm); then the unit tests and the simulation again
# under AddressSanitizer + UndefinedBehaviorSanitizer. Installs what is
# missing first. Warnings are errors.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/deps.sh"

jobs=$(nproc)
echo "== build (release, -Werror)"
"$root/scripts/build.sh" build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJOBGATE_WERROR=ON -DJOBGATE_BUILD_TESTS=ON \
  -DJOBGATE_BUILD_BENCH=ON

# The DynamoDB tests (store conformance, tests/dynamo) run against dynalite,
# in memory on 127.0.0.1, one per test run, stopped on any exit: tests
# failing, set -e, Ctrl-C. Its exports are the test identity only (dummy
# keys, no profile, no config or credentials file, no session token, no
# endpoint override), so nothing of a real AWS setup can leak into a test.
JOBGATE_DYNALITE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/jobgate-dynalite.XXXXXX")
export JOBGATE_DYNALITE_DIR
# The PostgreSQL tests (tests/postgres) run against a cluster made in its own
# directory for this run (scripts/postgres.sh), stopped and removed with
# dynalite on any exit.
JOBGATE_POSTGRES_DIR=$(mktemp -d "${TMPDIR:-/tmp}/jobgate-postgres.XXXXXX")
export JOBGATE_POSTGRES_DIR
stop_servers() {
  "$root/scripts/dynalite.sh" stop || true
  rm -rf "$JOBGATE_DYNALITE_DIR"
  "$root/scripts/postgres.sh" stop || true
  rm -rf "$JOBGATE_POSTGRES_DIR"
}
trap stop_servers EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
echo "== dynalite"
"$root/scripts/dynalite.sh" start
dynalite_env=$("$root/scripts/dynalite.sh" env)
eval "$dynalite_env"
echo "DynamoDB tests against $JOBGATE_TEST_DYNAMODB_ENDPOINT"
echo "== postgres"
"$root/scripts/postgres.sh" start
postgres_env=$("$root/scripts/postgres.sh" env)
eval "$postgres_env"
# Fail, rather than skip, the PostgreSQL tests when the server is missing.
export JOBGATE_REQUIRE_POSTGRES=1
echo "PostgreSQL tests against $JOBGATE_TEST_POSTGRES_URL, through PgBouncer at $JOBGATE_TEST_PGBOUNCER_URL"

# croner for the differential schedule test (tests/cron_diff); required
# here, so that a missing install fails the run instead of skipping the test.
# The Prometheus parser for the metrics parse test (tests/metrics), which
# would install it itself; here, once, before the tests run in parallel.
echo "== npm tools"
"$root/scripts/npm-tools.sh" tools/cron tools/prom
export JOBGATE_REQUIRE_NODE_TOOLS=1

echo "== tests"
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 300

echo "== build (ASan + UBSan)"
"$root/scripts/build.sh" build-asan -DCMAKE_BUILD_TYPE=Debug -DJOBGATE_WERROR=ON -DJOBGATE_SANITIZE=ON \
  -DJOBGATE_BUILD_TESTS=ON -DJOBGATE_BUILD_BENCH=OFF
echo "== tests under ASan + UBSan (unit, conformance incl. DynamoDB, simulation, DynamoDB faults, PostgreSQL)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# dynamo: the sanitized binary through the fault proxy walks the HTTP
# client's error paths (dropped connections, 5xx, retries). postgres: the
# sanitized binary through libpq's failures (refused logins, a server
# restarted under a run, PgBouncer).
ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 600 -L 'unit|sim|dynamo|postgres'
