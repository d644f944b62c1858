#!/usr/bin/env bash
# A Lambda provided.al2023 environment on this machine, for the tests of the
# package (scripts/package-lambda.sh): the unpacked zip in a directory that
# stands for /var/task, and exactly the variables Lambda gives a custom
# runtime, with that directory in place of /var/task.
#
#   lambda_sandbox.sh package JOBGATE DIR
#                                        package that binary
#                                        (scripts/package-lambda.sh) into
#                                        DIR/jobgate-lambda.zip and unpack it
#                                        into DIR/task, which stands for /var/task
#   lambda_sandbox.sh unpack ZIP DIR     unzip the package into DIR (created)
#   lambda_sandbox.sh env DIR            print the environment, one VAR=VALUE a line
#   lambda_sandbox.sh exec DIR [VAR=VALUE...] -- PROGRAM [ARGS...]
#                                        run PROGRAM with env -i, that
#                                        environment and the VAR=VALUEs (which
#                                        override it), e.g. DIR/bootstrap
#
# Or source it and call lambda_sandbox_package / _unpack / _env / _exec. The
# credentials are dummies and AWS_LAMBDA_RUNTIME_API is
# $LAMBDA_SANDBOX_RUNTIME_API (default 127.0.0.1:9001): a test that serves a
# fake Runtime API passes its own address there or as a VAR=VALUE.

lambda_sandbox_package() {
  local binary=$1 dir=$2
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  "$root/scripts/package-lambda.sh" --binary "$binary" --out "$dir/jobgate-lambda.zip" &&
    lambda_sandbox_unpack "$dir/jobgate-lambda.zip" "$dir/task"
}

lambda_sandbox_unpack() {
  local zip=$1 dir=$2
  mkdir -p "$dir"
  unzip -q -o "$zip" -d "$dir"
}

# Lambda's documented runtime variables ("Defined runtime environment
# variables"); the directory replaces /var/task everywhere, LD_LIBRARY_PATH
# included, so a library left in DIR or DIR/lib would be found by every
# program the test starts, as it would be on Lambda.
lambda_sandbox_env() {
  local task=$1
  cat <<EOF
LAMBDA_TASK_ROOT=$task
LAMBDA_RUNTIME_DIR=/var/runtime
LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:$task:$task/lib:/opt/lib
PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin
LANG=en_US.UTF-8
TZ=:UTC
_HANDLER=bootstrap
AWS_REGION=us-east-1
AWS_DEFAULT_REGION=us-east-1
AWS_LAMBDA_FUNCTION_NAME=jobgate-sandbox
AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128
AWS_LAMBDA_FUNCTION_VERSION=\$LATEST
AWS_LAMBDA_INITIALIZATION_TYPE=on-demand
AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/jobgate-sandbox
AWS_LAMBDA_LOG_STREAM_NAME=2026/01/01/[\$LATEST]0123456789abcdef0123456789abcdef
AWS_LAMBDA_RUNTIME_API=${LAMBDA_SANDBOX_RUNTIME_API:-127.0.0.1:9001}
AWS_ACCESS_KEY_ID=AKIDLAMBDASANDBOX
AWS_SECRET_ACCESS_KEY=lambda-sandbox-secret
AWS_SESSION_TOKEN=lambda-sandbox-token
EOF
}

lambda_sandbox_exec() {
  local task=$1
  shift
  local -a vars
  mapfile -t vars < <(lambda_sandbox_env "$task")
  while (($#)) && [[ "$1" != -- ]]; do
    vars+=("$1")
    shift
  done
  [[ "${1:-}" == -- ]] || { echo "lambda_sandbox_exec: missing -- PROGRAM" >&2; return 2; }
  shift
  env -i "${vars[@]}" "$@"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  cmd=${1:-}
  shift || true
  case "$cmd" in
    package) lambda_sandbox_package "$@" ;;
    unpack) lambda_sandbox_unpack "$@" ;;
    env) lambda_sandbox_env "$@" ;;
    exec) lambda_sandbox_exec "$@" ;;
    *) echo "usage: $0 package JOBGATE DIR | unpack ZIP DIR | env DIR | exec DIR [VAR=VALUE...] -- PROGRAM [ARGS...]" >&2; exit 2 ;;
  esac
fi
