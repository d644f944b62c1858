#!/usr/bin/env bash
# Writes cmake/startup-order.ld: the functions a short jobgate process runs,
# in a linker script that places them together at the start of the text
# segment (docs/benchmarks.md, "Process start-up": a short process pays a
# page fault for each part of the binary it touches, and the functions it
# runs are otherwise spread over 4 MB of text).
#
# The list comes from callgrind runs of a build's jobgate doing what a cron
# tick or a trigger does on the default store: `--version`, a first run on
# a new SQLite file (the schema is made), a guarded run, a skip, and the
# same with --json. Run it after changes that rename or add functions on
# those paths, then rebuild and check with bench/cli_bench.sh:
#   tools/startup-order/generate.sh [BUILD_DIR]   (default build-bench)
# Needs valgrind. Within a rank the names are sorted, so a regeneration's
# diff shows what changed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-bench}
jg=$(realpath "$build/jobgate" 2>/dev/null || echo "$build/jobgate")
out=$root/cmake/startup-order.ld
[[ -x $jg ]] || { echo "generate.sh: $jg is missing; build first" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "generate.sh: valgrind is missing (apt-get install valgrind)" >&2; exit 1; }

dir=$(mktemp -d /tmp/jobgate-startup-order-XXXXXX)
trap 'rm -rf "$dir"' EXIT
trace() {  # RANK ARGS...: one callgrind run of jobgate ARGS (the process itself, not its children)
  local rank=$1
  shift
  valgrind --tool=callgrind --demangle=no --callgrind-out-file="$dir/cg.$rank" "$jg" "$@" >/dev/null 2>"$dir/err.$rank" || {
    local rc=$?
    # A skip exits 0; anything else is a failed trace.
    echo "generate.sh: jobgate $* exited $rc under valgrind:" >&2
    cat "$dir/err.$rank" >&2
    exit 1
  }
}
# The rank orders the group: what every process runs (--version's start-up
# and exit) first, then a skip's functions, then a run's, so the commonest
# paths span the fewest pages.
db=$dir/jobs.db
trace 1 --version
trace 6 --store "sqlite:$db" run x --cooldown 0 -- true
trace 4 --store "sqlite:$db" run x --cooldown 0 -- true
trace 5 --store "sqlite:$db" run y --cooldown 0 --json -- true
trace 2 --store "sqlite:$db" run x --cooldown 1h -- true
trace 3 --store "sqlite:$db" run x --cooldown 1h --json -- true

python3 - "$jg" "$out" "$dir"/cg.* <<'PY'
import re, sys
binary, out = sys.argv[1], sys.argv[2]
files = sorted(sys.argv[3:], key=lambda f: int(f.rsplit(".", 1)[1]))
# valgrind names the object of code it ran from the binary's sections; in
# a binary already linked with this list, code outside the group can come
# out as "???": such a function counts when the binary defines its name.
import subprocess
defined, at, names_at = set(), {}, {}  # names; name -> address; address -> the names there
for line in subprocess.run(["nm", "--defined-only", binary], check=True, capture_output=True,
                           text=True).stdout.splitlines():
    parts = line.split()
    if len(parts) == 3:
        defined.add(parts[2])
        if parts[1] in "TtWw":
            at[parts[2]] = parts[0]
            names_at.setdefault(parts[0], []).append(parts[2])
rank = {}  # name -> the rank of the first trace that ran it
for r, path in enumerate(files):
    objects, functions, current, seen_here = {}, {}, None, set()
    for line in open(path, errors="replace"):
        m = re.match(r"^(c?ob|c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not m:
            continue
        kind, ident, name = m.groups()
        if kind.endswith("ob"):
            if name:
                objects[ident] = name
            if kind == "ob":
                current = objects.get(ident)
        else:
            if name:
                functions[ident] = name
            if kind == "fn" and current in (binary, "???"):
                name = re.sub(r"'\d+$", "", functions[ident])
                if current == binary or name in defined:
                    seen_here.add(name)
                    rank.setdefault(name, r)
    # Every trace runs main and the start-up of CLI11 and libstdc++ at least
    # (--version: ~50 functions); fewer means callgrind did not attribute
    # the code to this binary: write nothing rather than a useless list.
    if len(seen_here) < 30:
        sys.exit(f"generate.sh: {path}: only {len(seen_here)} functions of {binary} "
                 f"(objects seen: {sorted(set(objects.values()))})")
# A constructor's or destructor's variants are one function under several
# names (C1 is an alias of C2, D1 of D2), and the section is named after
# one of them, which need not be the one callgrind saw: list them all. A
# variant that does not exist matches nothing.
# Functions the compiler found identical are one function under several
# names too (-fipa-icf: make_unique<CommandLine> of a Wanted&& and of a
# const Wanted&), at one address: list every name the binary has there.
def variants(name):
    out = {name}
    if re.search(r"[CD][0-4](?=[EIB])", name):
        for c in "1234":
            for d in "0124":
                out.add(re.sub(r"([CD])[0-4](?=[EIB])", lambda m: m.group(1) + (c if m.group(1) == "C" else d), name))
    for v in list(out):
        out.update(names_at.get(at.get(v), []))
    return sorted(out)
# Only names a section can carry (mangled names, clones such as
# .constprop.0); callgrind's "0x..." entries are code without a symbol.
lines, seen = [], set()
for n in sorted((n for n in rank if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.$]*", n)), key=lambda n: (rank[n], n)):
    fresh = [v for v in variants(n) if v not in seen]
    seen.update(fresh)
    if fresh:
        lines.append(" ".join(f".text.{v} .text.startup.{v} .text.hot.{v}" for v in fresh))
with open(out, "w") as f:
    f.write("/* The functions a short jobgate process runs (--version, a first run, a\n"
            "   guarded run, a skip), placed together before the rest of the text so\n"
            "   that such a process touches few pages of it. Generated by\n"
            "   tools/startup-order/generate.sh; do not edit. Needs -ffunction-sections\n"
            "   (CMakeLists.txt); a name that no longer exists matches nothing. One\n"
            "   line per function, with the names its variants may have. */\n")
    f.write("SECTIONS\n{\n  .text.jobgate_start :\n  {\n")
    for line in lines:
        f.write(f"    *({line})\n")
    f.write("  }\n}\nINSERT BEFORE .text;\n")
print(f"{out}: {len(lines)} functions")
PY
