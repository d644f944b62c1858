#!/usr/bin/env bash
# Builds jobgate and passes every test: unit, store conformance, simulation,
# real multi-process tests; then the unit tests and the simulation again
# under AddressSanitizer + UndefinedBehaviorSanitizer. Installs what is
# missing first. Warnings are errors.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/deps.sh"

jobs=$(nproc)
echo "== build (release, -Werror)"
"$root/scripts/build.sh" build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJOBGATE_WERROR=ON
echo "== tests"
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 300

echo "== build (ASan + UBSan)"
"$root/scripts/build.sh" build-asan -DCMAKE_BUILD_TYPE=Debug -DJOBGATE_WERROR=ON -DJOBGATE_SANITIZE=ON \
  -DJOBGATE_BUILD_BENCH=OFF
echo "== tests under ASan + UBSan (unit, conformance, simulation)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 600 -L 'unit|sim'
