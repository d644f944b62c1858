#!/usr/bin/env bash
# The dashboard in a real browser against a real `jobgate serve`:
#
#   tests/browser/dashboard_test.sh JOBGATE_BINARY ARTIFACTS_DIR
#
# Makes runs of two jobs on a SQLite store (one succeeding and failing, one
# holding its lease), starts `serve --listen 127.0.0.1:0` with a token, and
# has headless Chromium (Debian's, driven by puppeteer-core from npm,
# tools/browser) load the page, find the jobs, open a job page with its
# history and timeline, pause and resume the job through the buttons (the
# token typed into the page's dialog) and read each change back from the
# store with `jobgate status`. Screenshots of the jobs page (desktop and
# phone) and of the job page are left in ARTIFACTS_DIR.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=${1:?usage: dashboard_test.sh JOBGATE_BINARY ARTIFACTS_DIR}
artifacts=${2:?usage: dashboard_test.sh JOBGATE_BINARY ARTIFACTS_DIR}

chromium=${CHROMIUM:-/usr/bin/chromium}
[[ -x "$chromium" ]] || { echo "FAIL: $chromium not found (scripts/deps.sh installs Debian's chromium)" >&2; exit 1; }
command -v node >/dev/null || { echo "FAIL: node not found (scripts/deps.sh installs it)" >&2; exit 1; }
"$root/scripts/npm-tools.sh" tools/browser

tmp=$(mktemp -d "${TMPDIR:-/tmp}/jobgate-dashboard.XXXXXX")
serve_pid=""
holder_pid=""
# The EXIT trap must not change the exit status: `wait` on a killed child
# returns its signal status (137), which became the script's.
cleanup() {
  local rc=$?
  if [[ -n "$serve_pid" ]]; then kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
  if [[ -n "$holder_pid" ]]; then kill -9 "$holder_pid" 2>/dev/null || true; wait "$holder_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
rm -rf "$artifacts"
mkdir -p "$artifacts"

store="sqlite:$tmp/jobs.db"
jg() { "$binary" --store "$store" "$@"; }
jg init >/dev/null
cat >"$tmp/jobs.toml" <<'TOML'
[jobs.nightly-backup]
command = "sleep 0.05"

[jobs.reports]
command = "sleep 60"
lease = "2m"
TOML
jg apply "$tmp/jobs.toml" >/dev/null
# A history with a failure in it (the timeline's colours): five runs that
# succeed with different durations, then one that fails.
for d in 0.05 0.2 0.1 0.3 0.15; do jg run nightly-backup -- sleep "$d"; done
jg run nightly-backup -- sh -c 'echo "disk full" >&2; exit 3' 2>/dev/null || true
# A job that is running (holder, fence, lease) while the page looks at it.
# Started as the binary itself, not through jg(): $! must be jobgate's pid.
"$binary" --store "$store" run reports >/dev/null 2>&1 &
holder_pid=$!

printf '%s\n' "dashboard-test-$RANDOM$RANDOM" >"$tmp/token"
chmod 600 "$tmp/token"
"$binary" --store "$store" serve --listen 127.0.0.1:0 --http-token-file "$tmp/token" >"$tmp/serve.out" \
  2>"$tmp/serve.err" &
serve_pid=$!
address=""
for _ in $(seq 100); do
  address=$(sed -n 's/.*listening address=\([0-9.]*:[0-9]*\).*/\1/p' "$tmp/serve.out")
  [[ -n "$address" ]] && break
  sleep 0.1
done
[[ -n "$address" ]] || { echo "FAIL: serve did not listen:" >&2; cat "$tmp/serve.out" "$tmp/serve.err" >&2; exit 1; }
echo "serve listens on $address"

status_cmd="$(printf '%q --store %q status nightly-backup --json' "$binary" "$store")"
rc=0
CHROMIUM="$chromium" node "$here/dashboard.mjs" --url "http://$address" --token-file "$tmp/token" \
  --job nightly-backup --artifacts "$artifacts" --status-cmd "$status_cmd" || rc=$?
cp "$tmp/serve.out" "$tmp/serve.err" "$artifacts/" 2>/dev/null || true
if [[ $rc -ne 0 ]]; then
  echo "FAIL: the dashboard test failed ($rc); screenshots and serve's log in $artifacts" >&2
  exit "$rc"
fi
for shot in jobs.png jobs-phone.png job.png; do
  [[ -s "$artifacts/$shot" ]] || { echo "FAIL: no screenshot $shot" >&2; exit 1; }
done
# The token never reaches serve's output.
if grep -qF "$(cat "$tmp/token")" "$tmp/serve.out" "$tmp/serve.err"; then
  echo "FAIL: the token appears in serve's output" >&2
  exit 1
fi
echo "ok: dashboard; screenshots in $artifacts"
