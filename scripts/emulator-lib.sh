# Sourced by emulator.sh (MiniStack) and localstack.sh: health checks and
# process handling of an emulator this repository starts. The caller defines
# endpoint_url() and sets emulator_name, pid_file, log_file and start_timeout.

healthy() {
  curl --silent --fail --max-time 2 "$(endpoint_url)/_localstack/health" >/dev/null 2>&1
}

# wait_healthy [PID]: until the endpoint answers, or start_timeout passes, or
# PID (the process just started) exits.
wait_healthy() {
  local deadline=$((SECONDS + start_timeout)) started=${1:-}
  until healthy; do
    if ((SECONDS >= deadline)) || { [[ -n $started ]] && ! kill -0 "$started" 2>/dev/null; }; then
      echo "$emulator_name at $(endpoint_url) is not healthy after ${start_timeout}s (or exited)" >&2
      [[ -f $log_file ]] && tail -n 40 "$log_file" >&2
      return 1
    fi
    sleep 0.5
  done
}

running_pid() {
  [[ -f $pid_file ]] || return 1
  local pid
  pid=$(cat "$pid_file")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# stop_pids PID...: TERM, then KILL what is still alive after 10 s.
stop_pids() {
  local pid
  (($#)) || return 0
  kill "$@" 2>/dev/null || true
  for _ in $(seq 1 50); do
    local alive=()
    for pid in "$@"; do
      kill -0 "$pid" 2>/dev/null && alive+=("$pid")
    done
    ((${#alive[@]})) || return 0
    sleep 0.2
  done
  kill -9 "${alive[@]}" 2>/dev/null || true
}
