#!/usr/bin/env bash
# Counts the system calls (and io_uring completions) one echo server makes per round trip:
# the check that asock does the same kernel work as the hand-written ceilings.
#
#   bench/count_syscalls.sh [--connections N] [--size S] [--seconds D] -- SERVER [ARGS...]
#   e.g. bench/count_syscalls.sh --connections 16 --size 1024 -- \
#          build/bench/bench/servers/bench-echo-asock --backend epoll
#
# Needs perf with tracepoints (root, or perf_event_paranoid <= -1) and a bench build.
# The server runs on CPU 1, the load generator on CPU 0, as in bench/run_servers.py.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
connections=16 size=1024 seconds=2
while [[ $# -gt 0 && $1 != -- ]]; do
  case $1 in
    --connections) connections=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    *) echo "count_syscalls.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ ${1:-} == -- ]] && shift
[[ $# -ge 1 ]] || { echo "count_syscalls.sh: no server given" >&2; exit 2; }
loadgen="$root/build/bench/bench/servers/bench-loadgen"
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

taskset -c 1 "$@" --port 0 >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q listening "$work/server.log" && break; sleep 0.05; done
port=$(grep -o '127.0.0.1:[0-9]*' "$work/server.log" | head -1 | cut -d: -f2)
[[ -n $port ]] || { echo "count_syscalls.sh: the server did not start" >&2; cat "$work/server.log" >&2; exit 1; }

events=()
for call in recvmsg sendmsg recvfrom sendto epoll_wait epoll_pwait read write io_uring_enter; do
  events+=("syscalls:sys_enter_$call")
done
events+=(io_uring:io_uring_complete context-switches)
perf stat -x, -e "$(IFS=,; echo "${events[*]}")" -p "$server" -o "$work/perf.csv" -- sleep "$(awk "BEGIN { print $seconds + 0.2 }")" &
perf_pid=$!
taskset -c 0 "$loadgen" --port "$port" --connections "$connections" --size "$size" --seconds "$seconds" \
  --warmup 0.1 --server-pid "$server" >"$work/load.json"
wait "$perf_pid"
python3 - "$work/load.json" "$work/perf.csv" <<'PY'
import json, sys
load = json.load(open(sys.argv[1]))
round_trips = load["round_trips"]
print(f"{round_trips} round trips ({load['round_trips_per_sec']:.0f}/s, {load['server_cpu_us_per_rt']:.2f} µs server CPU each)")
for line in open(sys.argv[2]):
    fields = line.strip().split(",")
    if len(fields) < 3 or not fields[0].replace(".", "").isdigit():
        continue
    count, event = float(fields[0]), fields[2]
    if count:
        print(f"  {event:40} {count / round_trips:6.2f} per round trip")
PY
