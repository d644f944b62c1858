#!/usr/bin/env bash
# What every jobgate process maps before main(): the C library and the
# loader, nothing else. Each further DT_NEEDED library costs each process
# its mapping, relocation and initialisers (libm alone: 13 page faults on
# `jobgate --version`); the stores' libraries are loaded with dlopen when a
# store opens (docs/benchmarks.md, "Process start-up"). Fails naming the
# library and where to look.
#   tests/cli/needed_libraries.sh JOBGATE_BINARY
set -euo pipefail
bin=${1:?usage: needed_libraries.sh JOBGATE_BINARY}
dynamic=$(readelf -d "$bin" 2>&1) || { echo "readelf -d $bin: $dynamic" >&2; exit 1; }
needed=$(sed -nE 's/.*\(NEEDED\).*\[(.*)\]/\1/p' <<<"$dynamic")
[[ -n $needed ]] || { echo "$bin has no DT_NEEDED entries (not a dynamic executable?)" >&2; exit 1; }
status=0
while read -r lib; do
  case $lib in
    libc.so.6 | ld-linux-*.so.*) ;;
    *)
      echo "$bin needs $lib at start-up; load it with dlopen where it is used, or find the" >&2
      echo "symbol that pulls it in: link with -Wl,--trace-symbol=NAME (readelf --dyn-syms)" >&2
      status=1
      ;;
  esac
done <<<"$needed"
[[ $status -eq 0 ]] && echo "ok: $bin needs only" $needed
exit $status
