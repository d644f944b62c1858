#!/usr/bin/env bash
# The functions of cmake/startup-order.ld (what a short jobgate process
# runs) sit together in the binary's .text.jobgate_start section, before the
# rest of the text (src/CMakeLists.txt says why). Fails when the linker did
# not apply the list, or when most of its names no longer match functions
# of the binary (regenerate with tools/startup-order/generate.sh).
#   tests/cli/startup_order.sh JOBGATE_BINARY STARTUP_ORDER_LD
set -euo pipefail
bin=${1:?usage: startup_order.sh JOBGATE_BINARY STARTUP_ORDER_LD}
list=${2:?usage: startup_order.sh JOBGATE_BINARY STARTUP_ORDER_LD}
sections=$(readelf -SW "$bin")
symbols=$(nm --defined-only "$bin")
grep -qE ' T main$' <<<"$symbols" || { echo "$bin has no symbol table to check" >&2; exit 1; }
python3 - "$list" <(echo "$sections") <(echo "$symbols") <<'PY'
import re, sys
listed, sections, symbols = sys.argv[1:4]
bounds = None
for line in open(sections):
    m = re.search(r"\]\s+\.text\.jobgate_start\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", line)
    if m:
        start = int(m.group(1), 16)
        bounds = (start, start + int(m.group(2), 16))
if not bounds:
    sys.exit("no .text.jobgate_start section: the linker did not apply the start-up order")
functions = []  # one line per function: the names of its variants
for line in open(listed):
    if line.strip().startswith("*("):
        functions.append([m for m in re.findall(r"\.text\.(?!startup\.|hot\.)(\S+?)(?=[ )])", line)])
address = {}
for line in open(symbols):
    parts = line.split()
    if len(parts) == 3 and parts[1] in "TtWw":
        address[parts[2]] = int(parts[0], 16)
present = [[n for n in names if n in address] for names in functions]
present = [names for names in present if names]
outside = [names[0] for names in present if not any(bounds[0] <= address[n] < bounds[1] for n in names)]
print(f"{len(functions)} functions listed, {len(present)} with a symbol in the binary, "
      f"{len(present) - len(outside)} of them inside .text.jobgate_start [{bounds[0]:#x}, {bounds[1]:#x})")
if len(functions) < 100:
    sys.exit(f"{listed} lists only {len(functions)} functions; a short process runs ~500: regenerate it "
             "(tools/startup-order/generate.sh)")
if len(present) < len(functions) // 2:
    sys.exit("fewer than half of the listed functions exist: regenerate cmake/startup-order.ld "
             "(tools/startup-order/generate.sh)")
if len(outside) > 0.05 * len(present):
    sys.exit("functions of the list placed elsewhere: " + " ".join(outside[:10]))
if not bounds[0] <= address["main"] < bounds[1]:
    sys.exit(f"main is outside the start-up group ({address['main']:#x})")
PY
