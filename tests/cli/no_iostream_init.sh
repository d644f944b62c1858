#!/usr/bin/env bash
# jobgate constructs the standard streams only when CLI11 is about to print
# (src/cli/cli11.h): no file of the binary may hold <iostream>'s static
# std::ios_base::Init, which would build them, and the classic locale,
# before main() in every process. Fails naming the object files' symbols.
#   tests/cli/no_iostream_init.sh JOBGATE_BINARY
set -euo pipefail
bin=${1:?usage: no_iostream_init.sh JOBGATE_BINARY}
symbols=$(nm "$bin" 2>&1) || { echo "nm $bin: $symbols" >&2; exit 1; }
# A stripped binary would pass for the wrong reason.
grep -qE ' T main$' <<<"$symbols" || { echo "$bin has no symbol table to check" >&2; exit 1; }
if found=$(grep -E '_ZStL8__ioinit|ios_base4InitC1' <<<"$symbols" | grep -v ' U ' | grep -E '__ioinit'); then
  echo "$bin holds <iostream>'s static initialiser; include cli/cli11.h, never <iostream>:" >&2
  echo "$found" >&2
  exit 1
fi
# And the streams still work where CLI11 prints: help goes to stdout.
help=$("$bin" --help)
[[ $help == *"Usage:"* || $help == *"USAGE"* || $help == *"usage"* ]] || { echo "--help printed: $help" >&2; exit 1; }
echo "ok: no static std::ios_base::Init in $bin; --help prints"
