#!/usr/bin/env bash
# The main job: build jobgate (installing what is missing) and run its demo.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh" build
"$root/scripts/build.sh" build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJOBGATE_BUILD_TESTS=OFF -DJOBGATE_BUILD_BENCH=OFF \
  >/dev/null
exec "$root/build/jobgate" demo
