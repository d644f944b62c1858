#!/usr/bin/env bash
# Starts, stops and describes the DynamoDB emulator (dynalite, in memory, on
# 127.0.0.1 only) that the DynamoDB tests and benchmark run against.
#
#   scripts/dynalite.sh start    install tools/dynamo's npm packages if needed,
#                                start dynalite unless it already runs, wait
#                                until it answers; prints the endpoint
#   scripts/dynalite.sh env      print the shell exports for the running one:
#                                eval "$(scripts/dynalite.sh env)"
#   scripts/dynalite.sh status   exit 0 when it runs and answers
#   scripts/dynalite.sh stop     stop it (no-op when it does not run)
#
# State (pid, port, log) lives in $JOBGATE_DYNALITE_DIR, else
# ${JOBGATE_TEST_TMP:-${TMPDIR:-/tmp}}/jobgate-dynalite; give each concurrent
# test run its own. Safe under set -euo pipefail, as root, without stdin;
# every command is idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/tools/dynamo"
state=${JOBGATE_DYNALITE_DIR:-${JOBGATE_TEST_TMP:-${TMPDIR:-/tmp}}/jobgate-dynalite}
pidfile="$state/pid"
portfile="$state/port"
logfile="$state/log"

die() {
  echo "dynalite.sh: $*" >&2
  exit 1
}

# Installs tools/dynamo/node_modules from the lock when it is missing or
# outdated (scripts/npm-tools.sh, shared with tools/cron).
ensure_packages() { "$root/scripts/npm-tools.sh" "$tools"; }

# The pid of our running dynalite, or nothing. A stale pid file (the process
# died, or the pid was reused by something else) counts as not running.
running_pid() {
  [[ -f "$pidfile" ]] || return 0
  local pid
  pid=$(<"$pidfile")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  local cmdline=""
  [[ -r "/proc/$pid/cmdline" ]] && cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  if [[ "$cmdline" == *"$tools/serve.mjs"* ]]; then echo "$pid"; fi
}

# True when dynalite at 127.0.0.1:$1 answers a DynamoDB request.
answers() {
  curl -sf -m 2 -o /dev/null -X POST "http://127.0.0.1:$1/" \
    -H 'Content-Type: application/x-amz-json-1.0' \
    -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
    -H 'X-Amz-Date: 20240101T000000Z' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=0' \
    -d '{}'
}

endpoint() { echo "http://127.0.0.1:$(<"$portfile")"; }

start() {
  mkdir -p "$state"
  local pid
  pid=$(running_pid)
  if [[ -n "$pid" && -f "$portfile" ]] && answers "$(<"$portfile")"; then
    echo "dynalite already running at $(endpoint) (pid $pid)" >&2
    return 0
  fi
  [[ -z "$pid" ]] || stop
  ensure_packages
  rm -f "$pidfile" "$portfile"
  # Port 0: the kernel picks a free port, so there is no collision to retry.
  # setsid: the server outlives this script and is not hit by the terminal's
  # signals; its output goes to the log, never to the caller's pipes.
  # serve.mjs writes its own pid: setsid may fork, so $! need not be it.
  # 8>&-: the server must not inherit (and hold forever) the state lock.
  setsid node "$tools/serve.mjs" --port-file "$portfile" --pid-file "$pidfile" \
    --create-table-ms "${JOBGATE_DYNALITE_CREATE_TABLE_MS:-0}" </dev/null >"$logfile" 2>&1 8>&- &
  local i
  for ((i = 0; i < 600; ++i)); do
    if [[ -f "$portfile" ]] && answers "$(<"$portfile")"; then
      echo "dynalite running at $(endpoint) (pid $(<"$pidfile"), log $logfile)" >&2
      return 0
    fi
    if [[ -f "$pidfile" && -z "$(running_pid)" ]] || grep -q '^dynalite: ' "$logfile" 2>/dev/null; then
      cat "$logfile" >&2 || true
      die "dynalite exited during start-up (log above)"
    fi
    sleep 0.05
  done
  stop
  die "dynalite did not answer within 30 s (log: $logfile)"
}

stop() {
  local pid i
  pid=$(running_pid)
  if [[ -n "$pid" ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; ++i)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile" "$portfile" "$state/aws-empty"
}

# Everything a DynamoDB test needs, and nothing of the user's real AWS setup:
# no profile, no config or credentials file, no session token, no endpoint
# override that could send a test to a real account. The config and
# credentials files are an empty regular file rather than /dev/null, which
# some readers refuse.
print_env() {
  [[ -n "$(running_pid)" && -f "$portfile" ]] || die "not running (scripts/dynalite.sh start)"
  [[ -f "$state/aws-empty" && ! -s "$state/aws-empty" ]] || : >"$state/aws-empty"
  cat <<EOF
export JOBGATE_TEST_DYNAMODB_ENDPOINT=$(endpoint)
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=$state/aws-empty
export AWS_SHARED_CREDENTIALS_FILE=$state/aws-empty
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_DYNAMODB AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN
EOF
}

# start and stop hold the state directory's lock: two callers sharing a
# directory get one dynalite, never two.
locked() {
  mkdir -p "$state"
  exec 8>"$state/lock"
  flock -w 60 8 || die "timed out waiting for the lock on $state"
  "$@"
}

case "${1:-}" in
  start) locked start ;;
  stop) locked stop ;;
  env) print_env ;;
  status)
    pid=$(running_pid)
    if [[ -z "$pid" || ! -f "$portfile" ]] || ! answers "$(<"$portfile")"; then die "not running"; fi
    echo "dynalite running at $(endpoint) (pid $pid)"
    ;;
  *)
    echo "usage: $0 start|stop|env|status" >&2
    exit 2
    ;;
esac
