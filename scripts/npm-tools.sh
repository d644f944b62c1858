#!/usr/bin/env bash
# Installs the npm packages of tools/ directories (tools/dynamo, tools/cron)
# from their package-lock.json, only when node_modules is missing or older
# than the lock: a no-op of a few stat calls otherwise.
#   scripts/npm-tools.sh tools/cron [tools/dynamo ...]   (relative to the root, or absolute)
# One npm at a time per directory (flock), so concurrent test runs and
# scripts/dynalite.sh share one install. Safe under set -euo pipefail, as
# root, without stdin.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

die() {
  echo "npm-tools.sh: $*" >&2
  exit 1
}

# npm writes node_modules/.package-lock.json on every install, so its age
# says when the tree was last made; touched after `npm ci` in case npm kept
# an older one.
up_to_date() {
  local marker="$1/node_modules/.package-lock.json"
  [[ -f "$marker" && ! "$1/package-lock.json" -nt "$marker" ]]
}

ensure() {
  local dir=$1
  [[ "$dir" == /* ]] || dir="$root/$dir"
  [[ -f "$dir/package-lock.json" ]] || die "$dir has no package-lock.json"
  if up_to_date "$dir"; then return 0; fi
  command -v npm >/dev/null || die "npm not found (scripts/deps.sh installs it)"
  local lock
  lock="${TMPDIR:-/tmp}/jobgate-npm-$(printf '%s' "$dir" | cksum | cut -d' ' -f1).lock"
  (
    flock -w 600 9 || die "timed out waiting for another npm ci in $dir"
    if up_to_date "$dir"; then exit 0; fi
    echo "npm-tools.sh: npm ci in ${dir#"$root"/}" >&2
    cd "$dir"
    npm ci --no-audit --no-fund --loglevel=error </dev/null >&2
    touch "$dir/node_modules/.package-lock.json"
  ) 9>"$lock"
}

(($# > 0)) || die "usage: $0 TOOLS_DIR..."
for d in "$@"; do ensure "$d"; done
