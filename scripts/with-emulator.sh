#!/usr/bin/env bash
# Run a command against a healthy emulator: start one if none runs, and stop
# it afterwards only if this script started it (a `make up` one is kept).
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
pid_file=${BUILD_DIR:-$repo_root/build}/emulator/ministack.pid

started_here=false
if [[ -z "${AWS_ENDPOINT_URL:-}" && "${EMULATOR:-ministack}" == ministack ]] &&
  ! { [[ -f $pid_file ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; }; then
  started_here=true
fi

"$repo_root/scripts/emulator.sh" up
endpoint=$("$repo_root/scripts/emulator.sh" url)

status=0
AWS_ENDPOINT_URL=$endpoint "$@" || status=$?

if $started_here; then
  "$repo_root/scripts/emulator.sh" down
fi
exit $status
