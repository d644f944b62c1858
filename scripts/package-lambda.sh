#!/usr/bin/env bash
# Packages jobgate as an AWS Lambda custom runtime for provided.al2023,
# x86_64 (docs/deploy/lambda.md, "Packaging").
#
#   scripts/package-lambda.sh [--binary PATH] [--out FILE.zip] [--dir DIR]
#
#   --binary PATH  the jobgate to package (default: a release build in
#                  build-lambda/, tests and benchmarks off)
#   --out FILE     the zip to write (default: build-lambda/jobgate-lambda.zip)
#   --dir DIR      also leave the unpacked tree in DIR (emptied first when
#                  it holds an earlier one; refused when it holds other files)
#
# provided.al2023 has glibc 2.34 and this Debian 12 builds against 2.36
# (jobgate needs arc4random@GLIBC_2.36, _dl_find_object@GLIBC_2.35), so, as
# aws-lambda-cpp's packager does, the zip carries its own dynamic loader and
# every shared library jobgate loads: those it is linked with and those it
# dlopens (libcurl, libcrypto: src/aws/shared_library.h), with their whole
# dependency closure, glibc's included. The layout:
#
#   bootstrap            /bin/sh: exec runtime/lib/ld-linux-x86-64.so.2
#                        --library-path runtime/lib bin/jobgate lambda "$@"
#   bin/jobgate          stripped
#   runtime/lib/         the loader and the libraries, named by soname
#
# runtime/lib, not lib: Lambda gives the runtime, and so every workload
# jobgate starts, LD_LIBRARY_PATH=...:/var/task:/var/task/lib:/opt/lib. A
# libc there would be loaded by the system's programs (/bin/sh -c ...) with
# the system's loader, and they would crash. --library-path reaches only
# the jobgate process (its dlopen included), never its children's
# environment.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

die() {
  echo "package-lambda.sh: $*" >&2
  exit 1
}

binary=""
out=""
keep_dir=""
while (($#)); do
  case "$1" in
    --binary) binary=${2:?--binary needs a path}; shift 2 ;;
    --out) out=${2:?--out needs a file}; shift 2 ;;
    --dir) keep_dir=${2:?--dir needs a directory}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ "$(uname -m)" == x86_64 ]] || die "builds for Lambda x86_64 only; this machine is $(uname -m)"

# Missing zip: install it the way scripts/deps.sh installs packages.
if ! command -v zip >/dev/null; then
  echo "package-lambda.sh: installing zip" >&2
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends zip >/dev/null
fi

if [[ -z "$binary" ]]; then
  "$root/scripts/deps.sh" build
  echo "== build (release, for Lambda) in build-lambda/" >&2
  "$root/scripts/build.sh" build-lambda -DCMAKE_BUILD_TYPE=Release -DJOBGATE_BUILD_TESTS=OFF \
    -DJOBGATE_BUILD_BENCH=OFF
  binary="$root/build-lambda/jobgate"
fi
[[ -f "$binary" && -x "$binary" ]] || die "no executable at '$binary'"
[[ -n "$out" ]] || out="$root/build-lambda/jobgate-lambda.zip"
out_dir=$(dirname "$out")
mkdir -p "$out_dir"
out="$(cd "$out_dir" && pwd)/$(basename "$out")"

# The libraries jobgate dlopens, by the soname it asks for: every
# SharedLibrary::Open("…") in src/ (tests/lambda checks the bundle has them).
mapfile -t dlopened < <(grep -rhoE 'SharedLibrary::Open\("[^"]+"' "$root/src" | sed -E 's/.*\("//; s/"$//' | sort -u)
((${#dlopened[@]} > 0)) || die "found no SharedLibrary::Open(\"…\") in $root/src"

ldconfig_bin=$(command -v ldconfig || echo /sbin/ldconfig)
# The file the system's loader would load for a soname, as jobgate's own
# dlopen would find it here. awk reads to the end: leaving at the first
# match could kill ldconfig with SIGPIPE, and under pipefail that failed the
# whole script, silently, now and then.
resolve_soname() {
  "$ldconfig_bin" -p | awk -v n="$1" '$1 == n && /x86-64/ && !found { print $NF; found = 1 }'
}

# ldd lists the whole closure of what it is given (soname => path), the
# loader as a bare path. LD_LIBRARY_PATH unset: only the system's libraries.
closure() {
  env -u LD_LIBRARY_PATH -u LD_PRELOAD ldd "$@" | awk '
    $2 == "=>" && $3 == "not" { print "package-lambda.sh: " $1 " not found (ldd)" > "/dev/stderr"; missing = 1; next }
    $2 == "=>" && $3 ~ /^\// { print $1, $3; next }
    $1 ~ /^\// && $1 ~ /ld-linux/ { n = $1; sub(/.*\//, "", n); print n, $1 }
    END { exit missing }'
}

work=$(mktemp -d "${TMPDIR:-/tmp}/jobgate-lambda.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree="$work/tree"
lib="$tree/runtime/lib"
mkdir -p "$tree/bin" "$lib"

libs=("$binary")
for so in "${dlopened[@]}"; do
  path=$(resolve_soname "$so")
  [[ -n "$path" ]] || die "$so (dlopened by jobgate) is not installed: scripts/deps.sh build"
  libs+=("$path")
  printf '%s %s\n' "$so" "$path" >>"$work/closure"
done
closure "${libs[@]}" >>"$work/closure" || die "a library of the closure is missing on this machine"
while read -r soname path; do
  [[ -e "$lib/$soname" ]] && continue
  cp -L "$path" "$lib/$soname"
done < <(sort -u "$work/closure")
[[ -f "$lib/ld-linux-x86-64.so.2" ]] || die "ldd named no ld-linux-x86-64.so.2 for $binary"

cp "$binary" "$tree/bin/jobgate"
strip --strip-all "$tree/bin/jobgate"

# The root: LAMBDA_TASK_ROOT (Lambda sets it to /var/task), else the
# script's own directory. Parameter expansion only: no process but the
# loader's is started.
cat >"$tree/bootstrap" <<'EOF'
#!/bin/sh
# jobgate's Lambda bootstrap (scripts/package-lambda.sh): jobgate runs under
# its own loader and libraries; its children get Lambda's environment as is.
case "$0" in */*) here=${0%/*} ;; *) here=. ;; esac
root=${LAMBDA_TASK_ROOT:-$here}
exec "$root/runtime/lib/ld-linux-x86-64.so.2" --library-path "$root/runtime/lib" "$root/bin/jobgate" lambda "$@"
EOF

# Lambda runs the code as another user than the files' owner: everything
# readable, the three things executed executable.
find "$tree" -type d -exec chmod 755 {} +
find "$tree" -type f -exec chmod 644 {} +
chmod 755 "$tree/bootstrap" "$tree/bin/jobgate" "$lib/ld-linux-x86-64.so.2"

rm -f "$out"
(cd "$tree" && zip -qr -X "$out" bootstrap bin runtime)
if [[ -n "$keep_dir" ]]; then
  # Emptied first only when it is absent, empty or an earlier tree.
  if [[ -d "$keep_dir" && -n "$(ls -A "$keep_dir")" && ! -f "$keep_dir/bootstrap" ]]; then
    die "--dir $keep_dir is neither empty nor an earlier package tree; not emptying it"
  fi
  mkdir -p "$keep_dir"
  find "$keep_dir" -mindepth 1 -delete
  cp -a "$tree/." "$keep_dir/"
fi
echo "$out: $(stat -c %s "$out") bytes ($(ls "$lib" | wc -l) libraries in runtime/lib)"
