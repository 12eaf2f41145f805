#!/usr/bin/env bash
# The demo: builds the release preset, then for each Linux backend runs asock-echo-server
# (asock's C API) under load from asock-loadgen (a plain epoll client) for a few shapes of
# traffic and prints one table. Environment: ASOCK_DEMO_SECONDS (measured seconds per run,
# default 3), ASOCK_DEMO_THREADS (server threads, default 1), ASOCK_REQUIRE_IO_URING=1 (a
# machine without io_uring fails the demo instead of skipping its io_uring half).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
source scripts/lib.sh

seconds=${ASOCK_DEMO_SECONDS:-3}
threads=${ASOCK_DEMO_THREADS:-1}
shapes=("1 64" "16 1024" "64 16384" "4 262144")   # connections, message size in bytes

echo "== building (release preset)"
cmake --preset release >/dev/null
cmake --build --preset release
server=build/release/examples/asock-echo-server
loadgen=build/release/examples/asock-loadgen

work=$(mktemp -d)
trap 'kill_echo_server; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

json_field() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1"; }
human_size() {
  if (($1 % 1048576 == 0)); then echo "$(($1 / 1048576)) MiB"
  elif (($1 % 1024 == 0)); then echo "$(($1 / 1024)) KiB"
  else echo "$1 B"; fi
}

rows=()
failed=0
for backend in io_uring epoll; do
  status=0
  start_echo_server "$server" "$backend" "$work/server-$backend.log" --threads "$threads" || status=$?
  if [[ $status -eq 3 && $backend == io_uring && ${ASOCK_REQUIRE_IO_URING:-0} != 1 ]]; then
    echo "== io_uring: not available on this machine (kernel or seccomp forbids it): skipped"
    continue
  elif [[ $status -ne 0 ]]; then
    echo "== $backend: asock-echo-server failed to start (status $status):" >&2
    cat "$work/server-$backend.log" >&2
    failed=1
    continue
  fi
  echo "== $(head -n 1 "$work/server-$backend.log")"
  for shape in "${shapes[@]}"; do
    read -r connections size <<<"$shape"
    echo "   $backend: $connections connection(s) x $(human_size "$size"), ${seconds} s"
    result=$("$loadgen" --port "$SERVER_PORT" --connections "$connections" --size "$size" --seconds "$seconds") || failed=1
    if [[ -z $result ]]; then
      rows+=("$(printf '%-8s | %11s | %8s | %13s | %8s | %9s | %9s | %s' "$backend" "$connections" "$(human_size "$size")" - - - - "loadgen failed")")
      continue
    fi
    errors=$(json_field "$result" errors)
    [[ $errors == 0 ]] || failed=1
    rows+=("$(printf '%-8s | %11s | %8s | %13s | %8s | %9s | %9s | %s' "$backend" "$connections" "$(human_size "$size")" \
      "$(json_field "$result" round_trips_per_sec)" "$(json_field "$result" mib_per_sec)" \
      "$(json_field "$result" p50_us)" "$(json_field "$result" p99_us)" "$errors")")
  done
  if ! stop_echo_server; then
    echo "== $backend: asock-echo-server did not exit cleanly:" >&2
    cat "$work/server-$backend.log" >&2
    failed=1
  fi
done

echo
echo "asock echo server, ${threads} server thread(s), closed-loop load over 127.0.0.1 (${seconds} s per row)"
echo "backend  | connections |     size | round trips/s |    MiB/s |    p50 µs |    p99 µs | errors"
echo "---------+-------------+----------+---------------+----------+-----------+-----------+-------"
printf '%s\n' "${rows[@]}"
echo
echo "MiB/s: payload echoed (message size x round trips). Latency: from the first byte sent to the last byte back."
if [[ $failed -ne 0 ]]; then
  echo "demo: FAILED (see the messages above)" >&2
  exit 1
fi
