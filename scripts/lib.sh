#!/usr/bin/env bash
# Helpers shared by demo.sh and test.sh (sourced): start and stop asock-echo-server.
set -euo pipefail

SERVER_PID=
SERVER_PORT=

# start_echo_server BINARY BACKEND LOG [EXTRA ARGS...]
# Starts the server on a free port in the background and waits for its ready line.
# Sets SERVER_PID and SERVER_PORT. Returns 0 when ready, 3 when the backend cannot run on
# this machine (the server's own exit status for that), another non-zero status otherwise.
start_echo_server() {
  local binary=$1 backend=$2 log=$3
  shift 3
  # Emptied here, not only by the redirection below: that one happens in the child, and the
  # wait loop could otherwise read an older run's port from the file first.
  : >"$log"
  "$binary" --port 0 --backend "$backend" "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  local i status
  for ((i = 0; i < 200; i++)); do
    SERVER_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$log")
    [[ -n $SERVER_PORT ]] && return 0
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      status=0
      wait "$SERVER_PID" || status=$?
      SERVER_PID=
      [[ $status -ne 0 ]] || status=1
      return "$status"
    fi
    sleep 0.05
  done
  echo "asock-echo-server ($backend) did not get ready within 10 s:" >&2
  cat "$log" >&2
  kill_echo_server
  return 1
}

# stop_echo_server: SIGTERM, then waits up to 10 s. Returns the server's exit status
# (non-zero also when it had to be killed).
stop_echo_server() {
  [[ -n $SERVER_PID ]] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  local i status=0
  for ((i = 0; i < 200; i++)); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "asock-echo-server did not stop within 10 s of SIGTERM: killed" >&2
    kill_echo_server
    return 1
  fi
  wait "$SERVER_PID" || status=$?
  SERVER_PID=
  return "$status"
}

# kill_echo_server: for traps; never fails.
kill_echo_server() {
  if [[ -n ${SERVER_PID:-} ]]; then
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}
