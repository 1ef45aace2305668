#!/usr/bin/env bash
# Run a command against LocalStack run on the host without Docker
# (scripts/localstack.sh): start it if this script's one is not running, and
# stop it afterwards only if this script started it.
#
# The command sees EMULATOR=localstack, AWS_ENDPOINT_URL, and
# TF_VAR_create_http_api=false (LocalStack Community has no HTTP APIs).
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
pid_file=${BUILD_DIR:-$repo_root/build}/localstack/localstack.pid

started_here=false
if ! { [[ -f $pid_file ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; }; then
  started_here=true
fi

"$repo_root/scripts/localstack.sh" up
endpoint=$("$repo_root/scripts/localstack.sh" url)

status=0
EMULATOR=localstack AWS_ENDPOINT_URL=$endpoint TF_VAR_create_http_api=false "$@" || status=$?

if $started_here; then
  "$repo_root/scripts/localstack.sh" down
fi
exit $status
