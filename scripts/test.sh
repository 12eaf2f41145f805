#!/usr/bin/env bash
# The test command. With no argument it runs every stage below, in this order; with stage
# names it runs only those (still in this order). Exits non-zero on any failure and ends with
# one summary line per stage. `scripts/test.sh --help` lists the stages.
#
# Environment:
#   ASOCK_TEST_JOBS          parallel ctest jobs (default 2)
#   ASOCK_REQUIRE_IO_URING   1: a test that would skip because io_uring cannot be used fails
#                            instead (tests/support/helpers.h); 0: such tests may skip.
#                            Unset: 1 on Linux 6.0 or later with kernel.io_uring_disabled 0
#                            (where io_uring should work), 0 elsewhere. Set it to 0 in a
#                            container whose seccomp profile forbids io_uring.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# name|what it does: the stages, in the order they run.
stage_table=(
  "ci|the ci preset (warnings are errors): configure, build, every test"
  "asan|the asan preset (ASan + UBSan): every test, then the fault walk's totals"
  "tsan|the tsan preset (ThreadSanitizer, tests/tsan.supp): every test"
  "fuzz|60 s of the API fuzzer (scripts/fuzz.sh: clang-14, the fuzz preset)"
  "examples|coroutine echo server with the C and C++ clients (by address and by name), IPv6 and IPv4; the echo server's idle timeout; the HTTP server against curl, wrk, Python (ci build*)"
  "package|install the ci build, build and run consumers (scripts/package_test.sh; ci build*)"
  "win64|the Windows build (mingw-w64), every test executable under Wine"
  "echo|the asan asock-echo-server under asock-loadgen, and the asan HTTP server's smoke test, each Linux backend (asan build*)"
)
stage_names=()
for entry in "${stage_table[@]}"; do
  stage_names+=("${entry%%|*}")
done

usage() {
  echo "usage: scripts/test.sh [--help] [STAGE...]"
  echo
  echo "Runs the given stages, or all of them, in this order:"
  local entry
  for entry in "${stage_table[@]}"; do
    printf '  %-9s %s\n' "${entry%%|*}" "${entry#*|}"
  done
  echo "  *: that build is made (configured and built, not tested) if its stage is not run too"
  echo
  echo "Examples: scripts/test.sh ci; scripts/test.sh asan win64. ctest labels run one suite of a"
  echo "build: ctest --preset ci -L contract (labels: contract cpp engine fault stress c11 headers;"
  echo "win32-unit in win64)."
  echo "Environment: ASOCK_TEST_JOBS (ctest jobs, default 2), ASOCK_REQUIRE_IO_URING (see the top of"
  echo "this script: 1 makes a missing io_uring a failure instead of a skip)."
}

selected=()
for argument in "$@"; do
  case "$argument" in
    -h | --help)
      usage
      exit 0
      ;;
  esac
  if [[ " ${stage_names[*]} " != *" $argument "* ]]; then
    echo "test.sh: unknown stage '$argument'" >&2
    usage >&2
    exit 2
  fi
  selected+=("$argument")
done
[[ ${#selected[@]} -ne 0 ]] || selected=("${stage_names[@]}")
wanted() { [[ " ${selected[*]} " == *" $1 "* ]]; }

bash scripts/setup.sh
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

jobs=${ASOCK_TEST_JOBS:-2}
summary=()
built=()
failed=0
mkdir -p build

# Whether this machine should have io_uring: Linux 6.0 or later (what asock's io_uring backend
# needs) and not turned off by the administrator (kernel.io_uring_disabled). A seccomp profile
# that forbids it cannot be seen from here: ASOCK_REQUIRE_IO_URING=0 says so.
io_uring_expected() {
  local major disabled=0
  [[ $(uname -s) == Linux ]] || return 1
  major=$(uname -r | cut -d. -f1)
  [[ $major =~ ^[0-9]+$ ]] && ((major >= 6)) || return 1
  [[ ! -r /proc/sys/kernel/io_uring_disabled ]] || disabled=$(cat /proc/sys/kernel/io_uring_disabled)
  [[ $disabled == 0 ]]
}
if [[ -z ${ASOCK_REQUIRE_IO_URING:-} ]]; then
  if io_uring_expected; then
    ASOCK_REQUIRE_IO_URING=1
  else
    ASOCK_REQUIRE_IO_URING=0
  fi
fi
export ASOCK_REQUIRE_IO_URING
if [[ $ASOCK_REQUIRE_IO_URING == 1 ]]; then
  io_uring_line="io_uring: required (ASOCK_REQUIRE_IO_URING=1, Linux $(uname -r)): a test that cannot use it fails"
else
  io_uring_line="io_uring: not required (ASOCK_REQUIRE_IO_URING=$ASOCK_REQUIRE_IO_URING): tests that need it skip where it cannot be used"
fi
echo "== $io_uring_line"

# build_preset PRESET: configure and build once per run; false (with a summary line) on failure.
build_preset() {
  local preset=$1
  [[ " ${built[*]} " == *" $preset "* ]] && return 0
  echo "== $preset: configure, build"
  if ! cmake --preset "$preset" >/dev/null; then
    summary+=("$preset: configure FAILED")
    failed=1
    return 1
  fi
  if ! cmake --build --preset "$preset"; then
    summary+=("$preset: build FAILED")
    failed=1
    return 1
  fi
  built+=("$preset")
}

# run_preset PRESET: configure, build, test; one summary line.
run_preset() {
  local preset=$1 log="build/test-$1.log" status=0
  build_preset "$preset" || return 0
  echo "== $preset: test"
  ctest --preset "$preset" -j "$jobs" 2>&1 | tee "$log" || status=$?
  local line
  line=$(grep -E '^[0-9]+% tests passed' "$log" | tail -n 1 || true)
  if [[ $status -ne 0 ]]; then
    summary+=("$preset: FAILED: ${line:-ctest exited with status $status} (log: $log)")
    failed=1
  else
    summary+=("$preset: ${line:-ok}")
  fi
}

# The fault walk's totals (ctest ran it test by test; one process gives the sums docs quote).
fault_walk_totals() {
  local walk
  walk=$(build/asan/tests/asock_fault_tests --gtest_filter='*FaultWalk*' 2>/dev/null | grep -F '[ fault walk ] total:' || true)
  if [[ -n $walk ]]; then
    summary+=("fault walk (asan): ${walk#*total: }")
  else
    summary+=("fault walk (asan): FAILED: no total printed (build/asan/tests/asock_fault_tests --gtest_filter='*FaultWalk*')")
    failed=1
  fi
}

# One minute of the API fuzzer (clang-14, ASan + UBSan, both backends); fails on any crash.
fuzz_stage() {
  echo "== fuzz: 60 s"
  if bash scripts/fuzz.sh 60 | tee build/test-fuzz.log; then
    summary+=("$(grep -E '^fuzz: [0-9]+ executions' build/test-fuzz.log | tail -n 1)")
  else
    summary+=("fuzz: FAILED (build/test-fuzz.log, build/fuzz/artifacts/)")
    failed=1
  fi
}

# idle_timeout_smoke LOG: asock-echo-server --idle-timeout-ms 200 closes a connection that sends
# nothing (within 2 s) and still echoes for a client that talks. Returns non-zero on failure.
# The server writes LOG; the client and the checks write LOG's -client.log beside it.
idle_timeout_smoke() {
  local bin=build/ci/examples log=$1 client_log=${1%.log}-client.log started elapsed
  : >"$client_log"
  start_echo_server "$bin/asock-echo-server" epoll "$log" --idle-timeout-ms 200 || return 1
  "$bin/asock-echo-client" --port "$SERVER_PORT" >>"$client_log" 2>&1 || { stop_echo_server; return 1; }
  started=$(date +%s%N)
  { exec 3<>"/dev/tcp/127.0.0.1/$SERVER_PORT"; } 2>>"$client_log" || { stop_echo_server; return 1; }
  timeout 2 cat <&3 >/dev/null || { exec 3<&-; stop_echo_server; return 1; }
  exec 3<&-
  elapsed=$((($(date +%s%N) - started) / 1000000))
  echo "a silent connection was closed by the server after $elapsed ms" >>"$client_log"
  stop_echo_server || return 1
  grep -q 'closed an idle connection' "$log" && ((elapsed >= 190))
}

# examples_smoke: the C++ coroutine echo server (accept) with the C and C++ clients (connect;
# the C client also by name, --host localhost), over IPv6 and IPv4 loopback; the C echo server's
# --idle-timeout-ms. ci build.
examples_smoke() {
  local bin=build/ci/examples address log port pid i ok=1
  echo "== examples: accept and connect over loopback"
  for address in ::1 127.0.0.1; do
    log=build/test-examples-$address.log
    "$bin/asock-echo-coro" --port 0 --address "$address" >"$log" 2>&1 &
    pid=$!
    port=
    for ((i = 0; i < 100; i++)); do
      sleep 0.05
      port=$(sed -n 's/.*\]:\([0-9][0-9]*\).*/\1/p' "$log")
      [[ -z $port ]] || break
    done
    if [[ -z $port ]] || ! "$bin/asock-echo-client" --address "$address" --port "$port" >>"$log" 2>&1 ||
      ! "$bin/asock-echo-client-coro" --address "$address" --port "$port" --count 500 >>"$log" 2>&1; then
      ok=0
    fi
    # By name: localhost has 127.0.0.1 everywhere (and maybe ::1, refused here: IPv4 then wins).
    if [[ $address == 127.0.0.1 ]] && ! "$bin/asock-echo-client" --host localhost --port "$port" >>"$log" 2>&1; then
      ok=0
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  idle_timeout_smoke build/test-examples-idle.log || ok=0
  if [[ $ok -eq 1 ]]; then
    summary+=("examples (ci): coroutine echo server with the C and C++ clients (by address and by name), IPv6 and IPv4; echo server --idle-timeout-ms: ok")
  else
    summary+=("examples (ci): FAILED (build/test-examples-*.log)")
    failed=1
  fi
}

# The installed package: find_package and pkg-config consumers, C and C++.
package_stage() {
  echo "== package: install and build consumers"
  if bash scripts/package_test.sh build/ci | tee build/test-package.log; then
    summary+=("$(tail -n 1 build/test-package.log)")
  else
    summary+=("package: FAILED (build/test-package.log)")
    failed=1
  fi
}

# The Windows build: cross-compiled with mingw-w64, every test binary run under Wine. The
# first Wine start on a machine creates its prefix (about 15 s): done once here, up front.
win64_stage() {
  echo "== win64: preparing Wine"
  WINEDEBUG=-all wineboot -i >/dev/null 2>&1 || true
  run_preset win64
}

# echo_smoke: the asan build's asock-echo-server under asock-loadgen, 1 s per backend; the
# sanitizers make the server exit non-zero on any error they find.
echo_smoke() {
  local bin=build/asan/examples backend status result
  echo "== echo: the asan build's echo server under load"
  for backend in io_uring epoll; do
    status=0
    start_echo_server "$bin/asock-echo-server" "$backend" "build/test-echo-$backend.log" --threads 2 || status=$?
    if [[ $status -eq 3 && $backend == io_uring ]]; then
      if [[ $ASOCK_REQUIRE_IO_URING == 1 ]]; then
        summary+=("echo smoke (asan) io_uring: FAILED: io_uring not available here, and ASOCK_REQUIRE_IO_URING=1 requires it")
        failed=1
      else
        summary+=("echo smoke (asan) io_uring: skipped, io_uring not available here")
      fi
      continue
    elif [[ $status -ne 0 ]]; then
      summary+=("echo smoke (asan) $backend: FAILED: the server did not start (build/test-echo-$backend.log)")
      failed=1
      continue
    fi
    status=0
    result=$("$bin/asock-loadgen" --port "$SERVER_PORT" --connections 8 --size 100000 --seconds 1 --warmup 0.2) || status=$?
    stop_echo_server || status=$?
    if [[ $status -ne 0 ]]; then
      summary+=("echo smoke (asan) $backend: FAILED: $result (server log: build/test-echo-$backend.log)")
      failed=1
    else
      summary+=("echo smoke (asan) $backend: ok, $(sed -n 's/.*"round_trips":\([0-9]*\).*/\1/p' <<<"$result") round trips checked")
    fi
  done
}

# http_smoke BUILD LABEL: asock-http-server of that build against curl, wrk and Python's socket
# (tests/http/http_smoke.py), on each Linux backend with one loop, and on two loops: one
# listener whose connections go round robin over them (2-loops), and a listening socket per
# loop (--per-loop); one summary line per run.
http_smoke() {
  local build=$1 label=$2 run backend status log
  echo "== http: asock-http-server ($label build) against curl, wrk and Python"
  for run in io_uring epoll io_uring-2-loops io_uring-per-loop; do
    backend=${run%%-*}
    log=build/test-http-$label-$run.log
    status=0
    local extra=()
    case $run in
      *-2-loops) extra=(--threads 2) ;;
      *-per-loop) extra=(--threads 2 --per-loop) ;;
    esac
    python3 tests/http/http_smoke.py --binary "build/$build/examples/asock-http-server" --backend "$backend" "${extra[@]}" >"$log" 2>&1 || status=$?
    cat "$log"
    if [[ $status -eq 77 && ( $backend != io_uring || $ASOCK_REQUIRE_IO_URING != 1 ) ]]; then
      summary+=("http smoke ($label) $run: skipped, the backend cannot run here")
    elif [[ $status -ne 0 ]]; then
      summary+=("http smoke ($label) $run: FAILED ($log)")
      failed=1
    else
      summary+=("http smoke ($label) $run: ok, $(grep -c '^  ok' "$log") checks, $(sed -n 's/.*wrk, pipelined: \([0-9]*\) responses.*/\1/p' "$log") wrk responses checked")
    fi
  done
}

trap 'kill_echo_server' EXIT
trap 'exit 130' INT TERM

# run_stage NAME: runs the stage and appends its duration to the summary.
durations=()
run_stage() {
  local stage=$1 started=$SECONDS
  case "$stage" in
    ci) run_preset ci ;;
    asan)
      run_preset asan
      [[ " ${built[*]} " != *" asan "* ]] || fault_walk_totals
      ;;
    tsan) run_preset tsan ;;
    fuzz) fuzz_stage ;;
    examples) build_preset ci && { examples_smoke; http_smoke ci ci; } ;;
    package) build_preset ci && package_stage ;;
    win64) win64_stage ;;
    echo) build_preset asan && { echo_smoke; http_smoke asan asan; } ;;
  esac
  durations+=("$stage $((SECONDS - started)) s")
}

for stage in "${stage_names[@]}"; do
  if wanted "$stage"; then
    run_stage "$stage"
  fi
done

echo
echo "== summary (stages: ${selected[*]})"
printf '  %s\n' "$io_uring_line" "${summary[@]}"
echo "  durations: $(printf '%s, ' "${durations[@]}" | sed 's/, $//'); total ${SECONDS} s"
if [[ $failed -ne 0 ]]; then
  echo "test.sh: FAILED"
  exit 1
fi
echo "test.sh: all passed"
