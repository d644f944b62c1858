#!/usr/bin/env bash
# The cost of `jobgate run` as a process, against `flock FILE true` and the
# floor (floor_cli: a fresh process doing the same SQLite work), measured in
# one run by cli_bench (round-robin, shuffled). docs/benchmarks.md explains
# the figures.
#   bench/cli_bench.sh BUILD_DIR [ROUNDS]        (default 150 rounds)
# Prints cli_bench's table, then the ratios and whether the targets hold:
#   jobgate run (a guarded run) <= 2 x flock + floor;
#   and the process start-up targets: jobgate --version <= 1.3 x /bin/true,
#   a skip <= 1.2 x the floor process reading the item (floor_cli
#   --skip-check), jobgate run -- true <= 1.15 x (floor + /bin/true), and
#   the same against the floor process supervising `true` itself
#   (floor_cli --supervise: the sentinel's fork, the workload's clone and exec).
set -euo pipefail

build=${1:?usage: bench/cli_bench.sh BUILD_DIR [ROUNDS]}
rounds=${2:-150}
jg=$build/jobgate
floor=$build/bench/floor_cli
driver=$build/bench/cli_bench
probe_linked_curl=$build/bench/startup_probe_linked_curl
probe_sqlite=$build/bench/startup_probe_sqlite
probe_cxx=$build/bench/startup_probe_cxx
nopie=$build/bench/jobgate_nopie
for bin in "$jg" "$floor" "$driver" "$probe_linked_curl" "$probe_sqlite" "$probe_cxx" "$nopie"; do
  [[ -x $bin ]] || { echo "cli_bench.sh: $bin is missing; build first (scripts/bench.sh does)" >&2; exit 1; }
done
command -v flock >/dev/null || { echo "cli_bench.sh: flock (util-linux) is missing" >&2; exit 1; }

dir=$(mktemp -d /tmp/jobgate-cli-bench-XXXXXX)
holders=()
cleanup() {
  for pid in "${holders[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

# Each command gets its own database: a process closing the last connection
# to a file changes what the next opener pays (WAL recovery), so commands
# must not share files.
prepare() {  # DB JOB [run flags]: the schema and a state row, by jobgate itself
  local db=$1 job=$2
  shift 2
  "$jg" --store "sqlite:$dir/$db" run "$job" "$@" -- true >/dev/null
}
prepare run.db x --cooldown 0
prepare skip.db y --cooldown 1h
prepare floor.db f --cooldown 0
prepare floor-skip.db y --cooldown 1h
prepare floor-default.db f --cooldown 0
prepare run-held.db x --cooldown 0
prepare floor-held.db f --cooldown 0
prepare floor-supervised.db f --cooldown 0
prepare skip-nopie.db y --cooldown 1h
prepare run-nopie.db x --cooldown 0

# (d) must be the skip path: the second invocation reports a cooldown skip
# with one read and no write.
skip_json=$("$jg" --store "sqlite:$dir/skip.db" run y --cooldown 1h --json -- true)
for want in '"outcome":"skipped"' '"reason":"cooldown"' '"store_reads":1' '"store_writes":0'; do
  [[ $skip_json == *"$want"* ]] || { echo "cli_bench.sh: the skip path printed $skip_json" >&2; exit 1; }
done

# Another connection holds these two files open for the whole run.
for db in run-held.db floor-held.db; do
  "$floor" --hold "$dir/$db" >"$dir/$db.hold" &
  holders+=($!)
  for _ in $(seq 100); do [[ -s $dir/$db.hold ]] && break; sleep 0.05; done
  [[ -s $dir/$db.hold ]] || { echo "cli_bench.sh: the holder of $db did not start" >&2; exit 1; }
done

# --skip-exit-code 3 makes a guarded run that skipped fail the benchmark.
store() { echo "--store sqlite:$dir/$1"; }
results=$("$driver" --rounds "$rounds" --warmup 10 \
  "true:0:/bin/true" \
  "flock:0:flock $dir/lockfile true" \
  "jobgate_run:0:$jg $(store run.db) run x --cooldown 0 --skip-exit-code 3 -- true" \
  "jobgate_skip:3:$jg $(store skip.db) run y --cooldown 1h --skip-exit-code 3 -- true" \
  "floor:0:$floor $dir/floor.db f" \
  "floor_skip:3:$floor $dir/floor-skip.db y --skip-check" \
  "jobgate_version:0:$jg --version" \
  "floor_sqlite_close:0:$floor $dir/floor-default.db f --sqlite-default-close" \
  "jobgate_run_held:0:$jg $(store run-held.db) run x --cooldown 0 --skip-exit-code 3 -- true" \
  "floor_held:0:$floor $dir/floor-held.db f" \
  "floor_supervised:0:$floor $dir/floor-supervised.db f --supervise true" \
  "probe_linked_curl:0:$probe_linked_curl" \
  "probe_sqlite:0:$probe_sqlite" \
  "probe_cxx:0:$probe_cxx" \
  "nopie_version:0:$nopie --version" \
  "nopie_skip:3:$nopie $(store skip-nopie.db) run y --cooldown 1h --skip-exit-code 3 -- true" \
  "nopie_run:0:$nopie $(store run-nopie.db) run x --cooldown 0 --skip-exit-code 3 -- true")
echo "$results"

# Ratios from this one run: on the wall-time median, on the wall-time mean
# (which carries the WAL checkpoint that every ~15th closing process pays)
# and on the median CPU time (user + sys of the process and its children),
# which competing load on the machine disturbs least.
echo "$results" | awk '
  $1 == "RESULT" { t["wall median", $2] = $4; t["wall mean", $2] = $3; t["cpu median", $2] = $9 }
  function start(what, us, floor_us, target) {
    printf "  %-44s %7.0f / %6.0f us = %.2fx (process start-up target <= %.2fx: %s)\n",
           what, us, floor_us, us / floor_us, target, (us <= target * floor_us ? "met" : "MISSED")
  }
  function check(what, m, run, flk, flr,   bound) {
    bound = 2 * flk + flr
    printf "  %-38s %7.0f us <= 2 x %5.0f + %5.0f = %6.0f us : %-6s (%.2fx of the bound)\n",
           what, run, flk, flr, bound, (run <= bound ? "met" : "MISSED"), run / bound
  }
  END {
    split("wall median,wall mean,cpu median", views, ",")
    for (k = 1; k <= 3; k++) {
      m = views[k]
      printf "\n[%s] jobgate_run/floor %.2fx  jobgate_run/flock %.2fx  jobgate_skip/true %.2fx  floor_sqlite_close/floor %.2fx\n",
             m, t[m, "jobgate_run"] / t[m, "floor"], t[m, "jobgate_run"] / t[m, "flock"],
             t[m, "jobgate_skip"] / t[m, "true"], t[m, "floor_sqlite_close"] / t[m, "floor"]
      check("jobgate run (guarded)", m, t[m, "jobgate_run"], t[m, "flock"], t[m, "floor"])
      start("jobgate --version / /bin/true", t[m, "jobgate_version"], t[m, "true"], 1.3)
      start("skip / floor process reading the item", t[m, "jobgate_skip"], t[m, "floor_skip"], 1.2)
      start("run -- true / (floor attempt + /bin/true)", t[m, "jobgate_run"], t[m, "floor"] + t[m, "true"], 1.15)
      start("run -- true / floor attempt supervising true", t[m, "jobgate_run"], t[m, "floor_supervised"], 1.15)
      check("jobgate run, another connection open", m, t[m, "jobgate_run_held"], t[m, "flock"], t[m, "floor_held"])
      printf "  start-up of an empty main: with jobgate'"'"'s former libraries (libcurl...) %.0f us, libsqlite3 alone (what a sqlite: invocation loads) %.0f us, /bin/true %.0f us\n",
             t[m, "probe_linked_curl"], t[m, "probe_sqlite"], t[m, "true"]
      start("jobgate --version / empty C++ main (probe_cxx)", t[m, "jobgate_version"], t[m, "probe_cxx"], 1.3)
      printf "  the C++ runtime alone (probe_cxx / /bin/true): %.2fx\n", t[m, "probe_cxx"] / t[m, "true"]
      printf "  without PIE (bench/jobgate_nopie, not what ships): --version %.2fx /bin/true, skip %.2fx the floor skip, run %.2fx the supervised floor\n",
             t[m, "nopie_version"] / t[m, "true"], t[m, "nopie_skip"] / t[m, "floor_skip"], t[m, "nopie_run"] / t[m, "floor_supervised"]
    }
  }'
