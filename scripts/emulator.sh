#!/usr/bin/env bash
# Start, stop or wait for the AWS emulator the local stack and tests use.
#
#   emulator.sh up      start MiniStack on 127.0.0.1:$EMULATOR_PORT (or reuse a
#                       running one), wait until it is healthy; its functions'
#                       AWS calls are recorded in $IAM_CALL_LOG_DIR (default
#                       build/iam/calls) for the IAM check
#   emulator.sh down    stop the MiniStack this script started (by its PID)
#   emulator.sh url     print the endpoint URL
#
# With EMULATOR=localstack, or AWS_ENDPOINT_URL already set, nothing is
# started: the script only waits for that endpoint to be healthy.
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$repo_root/build}
state_dir=$build_dir/emulator
port=${EMULATOR_PORT:-4566}
emulator=${EMULATOR:-ministack}
venv=${EMULATOR_VENV:-$repo_root/.venv-emulator}
pid_file=$state_dir/ministack.pid
log_file=$state_dir/ministack.log
emulator_name=emulator
start_timeout=${EMULATOR_START_TIMEOUT:-90}
# The IAM check (tests/iam_check): where the deployed functions' AWS calls are recorded.
recorder_dir=$repo_root/tests/iam_check/recorder
call_log_dir=${IAM_CALL_LOG_DIR:-$repo_root/build/iam/calls}
# shellcheck source=scripts/emulator-lib.sh
source "$repo_root/scripts/emulator-lib.sh"

endpoint_url() {
  if [[ -n "${AWS_ENDPOINT_URL:-}" ]]; then
    echo "$AWS_ENDPOINT_URL"
  else
    echo "http://127.0.0.1:$port"
  fi
}

install_emulator() {
  local stamp=$venv/.installed-$(sha256sum "$repo_root/requirements/emulator.txt" | cut -c1-16)
  [[ -f $stamp ]] && return 0
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$repo_root/requirements/emulator.txt"
  rm -f "$venv"/.installed-*
  touch "$stamp"
}

up() {
  if [[ -n "${AWS_ENDPOINT_URL:-}" || $emulator == localstack ]]; then
    echo "using the emulator at $(endpoint_url) (not started by this script)"
    wait_healthy
    return
  fi
  if [[ $emulator != ministack ]]; then
    echo "EMULATOR must be ministack or localstack, not '$emulator'" >&2
    return 2
  fi
  if pid=$(running_pid); then
    wait_healthy
    echo "MiniStack already running (PID $pid) at $(endpoint_url)"
    return
  fi
  if healthy; then
    echo "port $port already serves an emulator this script did not start; stop it or set EMULATOR_PORT" >&2
    return 1
  fi
  install_emulator
  mkdir -p "$state_dir" "$call_log_dir"
  # Bound to loopback only. Lambda handlers run as subprocesses of this
  # interpreter, with the emulator venv's boto3 standing in for the runtime's.
  # They inherit its environment, so the IAM check's call recorder (its
  # sitecustomize on PYTHONPATH) writes each function's AWS calls to
  # $call_log_dir; the server itself names no principal and records nothing.
  env -u IAM_CALL_PRINCIPAL -u AWS_LAMBDA_FUNCTION_NAME \
    PYTHONPATH="$recorder_dir${PYTHONPATH:+:$PYTHONPATH}" IAM_CALL_LOG_DIR="$call_log_dir" \
    BIND_HOST=127.0.0.1 GATEWAY_PORT=$port LAMBDA_EXECUTOR=local \
    nohup "$venv/bin/ministack" >"$log_file" 2>&1 </dev/null &
  echo $! >"$pid_file"
  wait_healthy "$(cat "$pid_file")"
  echo "MiniStack started (PID $(cat "$pid_file")) at $(endpoint_url); log: $log_file"
}

down() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$pid_file"
    echo "MiniStack is not running"
    return
  fi
  stop_pids "$pid"
  rm -f "$pid_file"
  echo "MiniStack (PID $pid) stopped"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  url) endpoint_url ;;
  *)
    echo "usage: $0 up|down|url" >&2
    exit 2
    ;;
esac
