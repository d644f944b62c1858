#!/usr/bin/env bash
# Builds Release in build-bench and runs the benchmarks, each against its
# floor in the same run, printing the ratios (docs/benchmarks.md has the
# figures and what each floor is). A few minutes at most with the defaults.
#   scripts/bench.sh            everything
#   scripts/bench.sh sqlite     only bench/sqlite_bench (library, kept connection) and
#                               bench/sqlite_throughput (guarded runs per second on one
#                               file from 1, 2, 8 threads and 8 processes)
#   scripts/bench.sh cli        only bench/cli_bench.sh (whole processes)
#   scripts/bench.sh lambda     only bench/lambda_cold_start (the Lambda runtime's
#                               cold start, `jobgate lambda` and the packaged bootstrap,
#                               on SQLite, then on DynamoDB: starts dynalite)
#   scripts/bench.sh schedule   only bench/due_bench (`tick` with 1,000,000 jobs, 100
#                               due, on SQLite) and bench/next_bench (NextAfter fire
#                               times per second against croner, npm; installs
#                               tools/cron's packages)
#   scripts/bench.sh postgres   only bench/postgres_bench (guarded runs and the skip
#                               path, 1 and 8 invokers, against pgbench running the
#                               store's statements; a throwaway server from
#                               scripts/postgres.sh)
# Knobs: SQLITE_BENCH_ARGS, SQLITE_THROUGHPUT_ARGS (e.g. --window=1 --rounds=9), DUE_BENCH_ARGS, NEXT_BENCH_ARGS (extra Google
# Benchmark flags, e.g. --benchmark_repetitions=15), CLI_ROUNDS (default 150),
# POSTGRES_BENCH_ARGS (e.g. --rounds=21 --window=0.5).
# Ratios are only meaningful within one run: do not compare absolute times
# across runs, and prefer a quiet machine (the load average is printed).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-bench
what=${1:-all}

"$root/scripts/deps.sh" build
# Google Benchmark and flock, only when missing (deps.sh's full list would
# also install node for the DynamoDB tests).
missing=()
for p in libbenchmark-dev util-linux; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
# Only what the chosen part runs; one compiler per core.
targets=()
[[ $what == all || $what == sqlite ]] && targets+=(sqlite_bench sqlite_throughput)
[[ $what == all || $what == cli ]] && targets+=(jobgate floor_cli cli_bench startup_probe_linked_curl startup_probe_sqlite startup_probe_cxx jobgate_nopie)
[[ $what == all || $what == lambda ]] && targets+=(jobgate lambda_floor lambda_cold_start)
[[ $what == all || $what == schedule ]] && targets+=(due_bench next_bench)
[[ $what == all || $what == postgres ]] && targets+=(postgres_bench)
((${#targets[@]} > 0)) || { echo "usage: $0 [sqlite|cli|lambda|schedule|postgres]" >&2; exit 2; }
# The PostgreSQL server and pgbench (postgresql) and the pgbouncer that
# scripts/postgres.sh also starts: deps.sh's test list has them.
if [[ $what == all || $what == postgres ]]; then
  [[ -x /usr/lib/postgresql/15/bin/pgbench && -x /usr/sbin/pgbouncer ]] || "$root/scripts/deps.sh"
fi
cmake --build "$build" --parallel "$(nproc)" --target "${targets[@]}"

echo "== $(date -u +%FT%TZ) $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ $what == all || $what == sqlite ]]; then
  echo "== bench/sqlite_bench: skip path and guarded run, jobgate vs the SQLite C API floor"
  # shellcheck disable=SC2086  # SQLITE_BENCH_ARGS is a list of flags
  "$build/bench/sqlite_bench" ${SQLITE_BENCH_ARGS:-}
  echo "== bench/sqlite_throughput: guarded runs/s on one file, 1/2/8 threads and 8 processes, jobgate vs the floor"
  # shellcheck disable=SC2086  # SQLITE_THROUGHPUT_ARGS is a list of flags
  "$build/bench/sqlite_throughput" ${SQLITE_THROUGHPUT_ARGS:-}
fi
if [[ $what == all || $what == cli ]]; then
  echo "== bench/cli_bench.sh: jobgate run as a process vs flock and the floor process"
  "$root/bench/cli_bench.sh" "$build" "${CLI_ROUNDS:-150}"
fi
if [[ $what == all || $what == lambda ]]; then
  echo "== bench/lambda_cold_start: init to the first invocation/next and RSS, vs a minimal libcurl runtime"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  bash "$root/tests/lambda/lambda_sandbox.sh" package "$build/jobgate" "$tmp" >/dev/null
  "$build/jobgate" --store "sqlite:$tmp/bench.db" init >/dev/null
  # One run first: every measured invocation is then a gated one (its slot is done).
  "$build/bench/lambda_cold_start" --rounds 1 --store "sqlite:$tmp/bench.db" "prime:$build/jobgate lambda -- true" \
    >/dev/null
  "$build/bench/lambda_cold_start" --rounds "${LAMBDA_ROUNDS:-40}" --store "sqlite:$tmp/bench.db" \
    "floor:$build/bench/lambda_floor" "jobgate:$build/jobgate lambda -- true" "bootstrap:$tmp/task/bootstrap -- true"
  # The seed deployment's store: DynamoDB (dynalite on 127.0.0.1), with the
  # variables Lambda sets for the function's role.
  echo "== the same on a DynamoDB store (dynalite)"
  export JOBGATE_DYNALITE_DIR=$tmp/dynalite
  trap '"$root/scripts/dynalite.sh" stop >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
  "$root/scripts/dynalite.sh" start >/dev/null 2>&1
  endpoint=$(JOBGATE_DYNALITE_DIR=$tmp/dynalite "$root/scripts/dynalite.sh" env | sed -n 's/^export JOBGATE_TEST_DYNAMODB_ENDPOINT=//p')
  aws_env=(--env AWS_ACCESS_KEY_ID=test --env AWS_SECRET_ACCESS_KEY=test --env AWS_SESSION_TOKEN=test
           --env AWS_DEFAULT_REGION=us-east-1)
  dynamo="dynamodb://job_control?region=us-east-1&endpoint=$endpoint"
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "$build/jobgate" --store "$dynamo" init >/dev/null
  "$build/bench/lambda_cold_start" --rounds 1 --store "$dynamo" "${aws_env[@]}" "prime:$build/jobgate lambda -- true" \
    >/dev/null
  "$build/bench/lambda_cold_start" --rounds "${LAMBDA_ROUNDS:-40}" --store "$dynamo" "${aws_env[@]}" \
    "floor:$build/bench/lambda_floor" "jobgate:$build/jobgate lambda -- true" "bootstrap:$tmp/task/bootstrap -- true"
  "$root/scripts/dynalite.sh" stop >/dev/null
fi
if [[ $what == all || $what == schedule ]]; then
  echo "== bench/due_bench: tick with 1,000,000 jobs (100 due) on SQLite, ListDue vs the same query on the C API"
  # shellcheck disable=SC2086  # DUE_BENCH_ARGS is a list of flags
  "$build/bench/due_bench" ${DUE_BENCH_ARGS:-}
  echo "== bench/next_bench: Schedule::NextAfter fire times per second vs croner (npm) in the same run"
  "$root/scripts/npm-tools.sh" tools/cron
  # shellcheck disable=SC2086  # NEXT_BENCH_ARGS is a list of flags
  "$build/bench/next_bench" ${NEXT_BENCH_ARGS:-}
fi
if [[ $what == all || $what == postgres ]]; then
  echo "== bench/postgres_bench: guarded runs and the skip path on PostgreSQL, 1 and 8 invokers, vs pgbench"
  pgdir=$(mktemp -d)
  # Replaces the lambda part's trap: clean up after both.
  trap 'JOBGATE_POSTGRES_DIR="$pgdir" "$root/scripts/postgres.sh" stop >/dev/null 2>&1 || true
        rm -rf "$pgdir" ${tmp:+"$tmp"}' EXIT
  JOBGATE_POSTGRES_DIR=$pgdir "$root/scripts/postgres.sh" start >/dev/null
  # JOBGATE_TEST_POSTGRES_URL (the server itself, not PgBouncer), PGPASSWORD
  # and JOBGATE_TEST_POSTGRES_BIN, where pgbench is.
  eval "$(JOBGATE_POSTGRES_DIR=$pgdir "$root/scripts/postgres.sh" env)"
  # shellcheck disable=SC2086  # POSTGRES_BENCH_ARGS is a list of flags
  "$build/bench/postgres_bench" --pgbench="$JOBGATE_TEST_POSTGRES_BIN/pgbench" ${POSTGRES_BENCH_ARGS:-}
fi
echo "== done, load average $(cut -d' ' -f1-3 /proc/loadavg)"
