#!/usr/bin/env bash
# The Lambda package (scripts/package-lambda.sh) is complete and runs alone:
#
#   tests/lambda/package_test.sh JOBGATE_BINARY
#
# 1. every ELF file in the unpacked zip finds each DT_NEEDED library inside
#    the bundle, with no RPATH/RUNPATH, and every symbol version it needs
#    from a bundled library is defined there: nothing is needed from the
#    system, so glibc 2.34 on Lambda cannot be too old. The check is shown
#    to fail on trees with a library taken out.
# 2. the bootstrap starts jobgate with env -i and Lambda's variables only,
#    and every shared object jobgate loads, libcurl's dlopen included, comes
#    from runtime/lib (LD_DEBUG=libs of the loader, /proc/PID/maps), while
#    a workload it starts maps none of them.
#
# A bash script rather than GoogleTest: what it checks is files (objdump)
# and what a shell and the loader do with a shell script; C++ would only
# spawn these same commands. Helpers for the end-to-end test of the runtime
# are in lambda_sandbox.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=tests/lambda/lambda_sandbox.sh
source "$here/lambda_sandbox.sh"
binary=${1:?usage: package_test.sh JOBGATE_BINARY}

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
pass() { echo "ok: $*"; }

for tool in zip unzip objdump readelf strip ldd; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found (scripts/deps.sh installs it)" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/jobgate-lambda-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# ---- package, unpack -----------------------------------------------------------------------

lambda_sandbox_package "$binary" "$tmp"
task="$tmp/task"
lib="$task/runtime/lib"

# ---- 1. the bundle is closed ------------------------------------------------------------------

# What each ELF file of the unpacked package says about its loading
# (objdump -p), one line per fact, prefixed with the file's path in the tree:
#   ELF             the file is an ELF object
#   N soname        a DT_NEEDED entry
#   P path          an RPATH or RUNPATH (searched before --library-path)
#   D version       a symbol version it defines (.gnu.version_d)
#   R file version  a symbol version it needs from file (.gnu.version_r)
# Read once: the trees checked below differ from it only in which files are
# present, never in a file's contents (each process costs here).
facts="$tmp/facts"
while IFS= read -r -d '' f; do
  objdump -p "$f" >"$tmp/objdump" 2>/dev/null || continue  # not ELF
  awk -v rel="${f#"$task"/}" '
    BEGIN { print rel, "ELF" }
    /^Dynamic Section:/ { s = "dyn"; next }
    /^Version definitions:/ { s = "def"; next }
    /^Version References:/ { s = "ref"; next }
    s == "dyn" && $1 == "NEEDED" { print rel, "N", $2 }
    s == "dyn" && ($1 == "RPATH" || $1 == "RUNPATH") { print rel, "P", $2 }
    s == "def" && /^[0-9]+ 0x/ { print rel, "D", $4 }
    s == "ref" && /required from/ { f = $3; sub(/:$/, "", f) }
    s == "ref" && /^ +0x/ { print rel, "R", f, $4 }' "$tmp/objdump" >>"$facts"
done < <(find "$task" -type f -print0 | sort -z)

# check_bundle TREE: every ELF file of TREE finds each DT_NEEDED library in
# runtime/lib and each symbol version it needs from a bundled library
# defined there; none has an RPATH/RUNPATH. Prints the symbol versions
# needed from outside the bundle (none, when the loader and libc are in
# it), fails when any check does or one of those is newer than GLIBC_2.34.
check_bundle() {
  local tree=$1
  {
    (cd "$tree" && find . -type f | sed 's|^\./|HAVE |')
    cat "$facts"
  } | awk '
    function newer_than_2_34(v,  p) {
      if (v !~ /^GLIBC_/) return 0
      split(substr(v, 7), p, ".")
      return p[1] > 2 || (p[1] == 2 && p[2] > 34)
    }
    # Each file present; bundled libraries by soname.
    $1 == "HAVE" { present[$2] = 1; if ($2 ~ /^runtime\/lib\/[^\/]+$/) { b = $2; sub(/.*\//, "", b); have[b] = 1 }; next }
    !($1 in present) { next }
    $2 == "ELF" { elves++; next }
    $2 == "D" && $1 ~ /^runtime\/lib\/[^\/]+$/ { b = $1; sub(/.*\//, "", b); def[b " " $3] = 1; next }
    { rows[++n] = "F " $0 }
    END {
      for (i = 1; i <= n; i++) {
        split(rows[i], r, " ")
        if (r[3] == "N" && !(r[4] in have)) { print "  " r[2] " needs " r[4] ": not in runtime/lib" > "/dev/stderr"; bad = 1 }
        if (r[3] == "P") { print "  " r[2] " has an RPATH/RUNPATH " r[4] > "/dev/stderr"; bad = 1 }
        if (r[3] != "R") continue
        if (r[4] in have) {
          if (!((r[4] " " r[5]) in def)) { print "  " r[2] " needs " r[4] " " r[5] ", not defined by the bundled one" > "/dev/stderr"; bad = 1 }
        } else {
          outside[++o] = r[4] " " r[5] " (for " r[2] ")"
          if (newer_than_2_34(r[5])) { print "  " r[2] " needs " r[4] " " r[5] ": newer than provided.al2023 glibc 2.34" > "/dev/stderr"; bad = 1 }
        }
      }
      print "  " elves + 0 " ELF files; symbol versions needed from outside the bundle: " o + 0
      for (i = 1; i <= o; i++) print "    " outside[i]
      exit bad
    }'
}

echo "== the bundle"
if check_bundle "$task"; then pass "every ELF file's libraries and symbol versions are in the bundle"; else fail "the bundle is not closed"; fi
max_glibc=$(awk '$2 == "R" && $4 ~ /^GLIBC_2/ { print $4 }' "$facts" | sort -uV | tail -n 1)
echo "  newest glibc version needed (from the bundled libc): $max_glibc"

# dlopened libraries: every SharedLibrary::Open("…") in src/ is bundled (the
# DT_NEEDED walk above cannot see them).
while read -r so; do
  if [[ -f "$lib/$so" ]]; then pass "dlopened $so is bundled"; else fail "dlopened $so is not in runtime/lib"; fi
done < <(grep -rhoE 'SharedLibrary::Open\("[^"]+"' "$root/src" | sed -E 's/.*\("//; s/"$//' | sort -u)

# The check is real: a tree with one library taken out fails it.
for missing in libc.so.6 libnghttp2.so.14; do
  cp -a "$task" "$tmp/broken"
  rm "$tmp/broken/runtime/lib/$missing"
  if out=$(check_bundle "$tmp/broken" 2>&1); then
    fail "check_bundle passed a tree without $missing"
  else
    pass "check_bundle fails without $missing:"
    printf '%s\n' "$out" | grep -E "needs $missing|GLIBC_2\.3[5-9]" | sed -n '1,4s/^/      /p'
  fi
  rm -rf "$tmp/broken"
done
cp -a "$task" "$tmp/broken"
rm "$tmp/broken/runtime/lib/libc.so.6"
out=$(check_bundle "$tmp/broken" 2>/dev/null || true)
if grep -q 'libc.so.6 GLIBC_2.36' <<<"$out"; then
  pass "without libc.so.6, GLIBC_2.36 (arc4random) shows as needed from outside"
else
  fail "without libc.so.6, GLIBC_2.36 is not reported as needed from outside"
fi
rm -rf "$tmp/broken"

# ---- the zip's layout ----------------------------------------------------------------------------

echo "== the layout"
entries=$(cd "$task" && find . -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' ')
[[ "$entries" == "bin bootstrap runtime " ]] && pass "top level: $entries" || fail "top level is '$entries'"
# Nothing loadable where Lambda's LD_LIBRARY_PATH looks (/var/task, /var/task/lib).
stray=$(find "$task" "$task/lib" -maxdepth 1 -type f -name '*.so*' 2>/dev/null || true)
[[ -z "$stray" ]] && pass "no library in the task root or task/lib" || fail "libraries on Lambda's LD_LIBRARY_PATH: $stray"
for x in bootstrap bin/jobgate runtime/lib/ld-linux-x86-64.so.2; do
  [[ "$(stat -c %a "$task/$x")" == 755 ]] || fail "$x is mode $(stat -c %a "$task/$x") after unzip, want 755"
done
unreadable=$(find "$task" ! -perm -o+r)
[[ -z "$unreadable" ]] && pass "modes survive the zip; everything world-readable" || fail "not world-readable: $unreadable"
if readelf -S "$task/bin/jobgate" | grep -qE '\.(symtab|debug_info)'; then fail "bin/jobgate is not stripped"; else pass "bin/jobgate stripped"; fi

# ---- 2. it starts with Lambda's environment alone ----------------------------------------------

echo "== the bootstrap"
# As Lambda runs it (LAMBDA_TASK_ROOT), and by its own path without it.
if out=$(lambda_sandbox_exec "$task" -- "$task/bootstrap" --help 2>&1) && [[ "$out" == *"Usage: jobgate lambda"* ]]; then
  pass "bootstrap --help is jobgate lambda's"
else
  fail "bootstrap --help: $out"
fi
if out=$(cd "$tmp" && env -i PATH=/usr/bin:/bin ./task/bootstrap --help 2>&1) && [[ "$out" == *"Usage: jobgate lambda"* ]]; then
  pass "bootstrap finds its root without LAMBDA_TASK_ROOT"
else
  fail "bootstrap without LAMBDA_TASK_ROOT: $out"
fi

# The runtime starts and asks the Runtime API of AWS_LAMBDA_RUNTIME_API for
# an invocation, through the bundled libcurl: nothing listens on port 1, so
# it fails closed (69). The end-to-end run against a Runtime API is
# tests/lambda_runtime's.
set +e
LAMBDA_SANDBOX_RUNTIME_API=127.0.0.1:1 lambda_sandbox_exec "$task" JOBGATE_STORE="sqlite:$tmp/runtime.db" JOBGATE_JOB=probe \
  -- "$task/bootstrap" >"$tmp/runtime.out" 2>&1
runtime_rc=$?
set -e
if [[ $runtime_rc == 69 ]] && grep -q 'Runtime API' "$tmp/runtime.out"; then
  pass "bootstrap runs jobgate lambda, which calls the Runtime API at AWS_LAMBDA_RUNTIME_API"
else
  fail "bootstrap with no Runtime API exited $runtime_rc: $(cat "$tmp/runtime.out")"
fi

# The bootstrap's exact loader line, with `lambda` taken out, to run other
# commands of the bundled jobgate.
sed 's/ lambda "\$@"$/ "$@"/' "$task/bootstrap" >"$tmp/jobgate-cli"
chmod 755 "$tmp/jobgate-cli"
[[ $(diff "$task/bootstrap" "$tmp/jobgate-cli" | grep -c '^>') == 1 ]] || fail "the bootstrap's exec line is not the expected one"
cli() { lambda_sandbox_exec "$task" "$@"; }

want_version=$("$binary" --version)
got_version=$(cli -- "$tmp/jobgate-cli" --version)
[[ "$got_version" == "$want_version" ]] && pass "--version through the loader line: $got_version" ||
  fail "--version through the loader line said '$got_version', want '$want_version'"

# LD_DEBUG=libs: each library lookup and the files tried. The bootstrap's
# /bin/sh reports first (same pid: it execs); jobgate's part starts after
# sh's "transferring control". The store opens libcrypto and libcurl with
# dlopen, then fails closed (69) on the refused port.
set +e
cli LD_DEBUG=libs -- "$tmp/jobgate-cli" --store 'dynamodb://jobs?endpoint=http://127.0.0.1:1&max_attempts=1' status \
  >"$tmp/status.out" 2>"$tmp/ld_debug"
status_rc=$?
set -e
[[ $status_rc == 69 ]] && pass "dynamodb status on a refused port exits 69" || fail "dynamodb status exited $status_rc, want 69"
awk 'seen { print } /transferring control:/ && !seen { seen = 1 }' "$tmp/ld_debug" >"$tmp/ld_debug.jobgate"
awk '/transferring control:/ { exit } { print }' "$tmp/ld_debug" >"$tmp/ld_debug.sh"
tried_outside=$(grep -E 'trying file=' "$tmp/ld_debug.jobgate" | grep -vF "trying file=$lib/" || true)
[[ -z "$tried_outside" ]] && pass "jobgate tried no library file outside runtime/lib" ||
  fail "jobgate looked outside the bundle: $tried_outside"
if grep -q 'search cache=' "$tmp/ld_debug.jobgate"; then fail "jobgate fell back to ld.so.cache"; else pass "no ld.so.cache lookup"; fi
for so in libcrypto.so.3 libcurl.so.4 libnghttp2.so.14 libc.so.6; do
  grep -qF "trying file=$lib/$so" "$tmp/ld_debug.jobgate" && pass "$so loaded from runtime/lib" ||
    fail "$so: no load from runtime/lib in LD_DEBUG"
done
grep -qF "transferring control: $task/bin/jobgate" "$tmp/ld_debug.jobgate" || fail "LD_DEBUG never reached jobgate"
# It looked in the task root and task/lib (on LD_LIBRARY_PATH) and found
# nothing there: the loader loads the first file it tries that exists.
loaded_from_task=$(sed -n 's/.*trying file=//p' "$tmp/ld_debug.sh" | grep -F "$task" |
  while read -r f; do [[ -e "$f" ]] && echo "$f"; done || true)
if [[ -n "$loaded_from_task" ]]; then
  fail "the bootstrap's /bin/sh loaded files of the package: $loaded_from_task"
elif ! grep -qF "trying file=$task/lib/" "$tmp/ld_debug.sh"; then
  fail "the bootstrap's /bin/sh did not search the task's lib/: is LD_LIBRARY_PATH as Lambda sets it?"
else
  pass "the bootstrap's /bin/sh, with Lambda's LD_LIBRARY_PATH, loaded nothing of the package"
fi

# /proc/PID/maps: jobgate runs a workload that saves its parent's (jobgate's)
# and its own maps. Every shared object jobgate maps is in runtime/lib; the
# workload, started with Lambda's LD_LIBRARY_PATH, maps none of the package.
sos() { awk '$6 ~ /^\// && $6 ~ /\.so(\.|$)/ { print $6 }' "$1" | sort -u; }
check_maps() {
  local what=$1 parent=$2 child=$3 need=$4
  local foreign
  foreign=$(sos "$parent" | grep -vF "$lib/" || true)
  [[ -z "$foreign" ]] && pass "$what: jobgate maps $(sos "$parent" | wc -l) shared objects, all from runtime/lib" ||
    fail "$what: jobgate maps shared objects from outside the bundle: $foreign"
  for so in $need; do
    grep -qxF "$lib/$so" <(sos "$parent") || fail "$what: $so not mapped from runtime/lib"
  done
  if grep -qF "$task" "$child"; then
    fail "$what: the workload maps files of the package: $(grep -F "$task" "$child" | head -3)"
  else
    pass "$what: the workload maps nothing of the package ($(sos "$child" | tr '\n' ' '))"
  fi
}
probe='cat /proc/$PPID/maps >"$MAPS_OUT.parent"; cat /proc/$$/maps >"$MAPS_OUT.child"'
cli MAPS_OUT="$tmp/maps-sqlite" -- "$tmp/jobgate-cli" --store "sqlite:$tmp/jobs.db" run maps-probe -- /bin/sh -c "$probe" \
  >/dev/null || fail "run with the sqlite store failed"
check_maps "sqlite run" "$tmp/maps-sqlite.parent" "$tmp/maps-sqlite.child" "ld-linux-x86-64.so.2 libc.so.6 libsqlite3.so.0"

# The check is real: with a libc in task/lib, where Lambda's LD_LIBRARY_PATH
# looks, the same workload maps it (here it is this machine's own libc, so
# nothing crashes; on Lambda's older system it would).
cp -a "$task" "$tmp/badtask"
mkdir "$tmp/badtask/lib"
cp "$lib/libc.so.6" "$tmp/badtask/lib/"
lambda_sandbox_exec "$tmp/badtask" -- /bin/sh -c 'cat /proc/$$/maps' >"$tmp/maps-bad"
if grep -qF "$tmp/badtask/lib/libc.so.6" "$tmp/maps-bad"; then
  pass "a libc left in task/lib is mapped by the workload: the check above would see it"
else
  fail "a libc in task/lib was not picked up by /bin/sh: the sandbox's LD_LIBRARY_PATH is not Lambda's"
fi
rm -rf "$tmp/badtask"

# With libcurl loaded: needs a DynamoDB endpoint (scripts/test.sh starts dynalite).
if [[ -n "${JOBGATE_TEST_DYNAMODB_ENDPOINT:-}" ]]; then
  table="lambda_pkg_$$_$RANDOM"
  url="dynamodb://$table?endpoint=$JOBGATE_TEST_DYNAMODB_ENDPOINT"
  # dynalite keeps tables in memory for its run; delete ours anyway (it
  # checks no signature, as scripts/dynalite.sh's probe relies on too).
  drop_table() {
    curl -sf -m 5 -o /dev/null -X POST "$JOBGATE_TEST_DYNAMODB_ENDPOINT/" \
      -H 'Content-Type: application/x-amz-json-1.0' -H 'X-Amz-Target: DynamoDB_20120810.DeleteTable' \
      -H 'X-Amz-Date: 20240101T000000Z' \
      -H 'Authorization: AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=0' \
      -d "{\"TableName\": \"$table\"}" || true
  }
  trap 'drop_table; rm -rf "$tmp"' EXIT
  cli -- "$tmp/jobgate-cli" --store "$url" init >/dev/null 2>&1 || fail "init on dynalite failed"
  cli MAPS_OUT="$tmp/maps-dynamo" -- "$tmp/jobgate-cli" --store "$url" run maps-probe -- /bin/sh -c "$probe" \
    >/dev/null || fail "run with the dynamodb store failed"
  check_maps "dynamodb run" "$tmp/maps-dynamo.parent" "$tmp/maps-dynamo.child" "libcurl.so.4 libcrypto.so.3 libssl.so.3"
else
  echo "skip: maps with libcurl loaded (JOBGATE_TEST_DYNAMODB_ENDPOINT not set; scripts/test.sh sets it)"
fi

if ((failures > 0)); then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
