#!/usr/bin/env bash
# The test command: configures, builds and runs every test with the ci preset (warnings are
# errors), then with the asan preset (AddressSanitizer + UBSan; it includes the fault-injection
# walk), then with the tsan preset (ThreadSanitizer, suppressions in tests/tsan.supp), runs the
# API fuzzer for 60 s (clang, scripts/fuzz.sh), installs the ci build and builds consumers
# against the installed package (scripts/package_test.sh), runs the Windows build (win64
# preset: mingw-w64, tests under Wine), then the example echo server of the asan build under a
# short load on each Linux backend. Exits non-zero on any failure. Environment:
# ASOCK_TEST_JOBS (parallel ctest jobs, default 2).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
source scripts/lib.sh

jobs=${ASOCK_TEST_JOBS:-2}
summary=()
built=()
failed=0

# run_preset PRESET: configure, build, test; one summary line.
run_preset() {
  local preset=$1 log="build/test-$1.log" status=0
  echo "== $preset: configure, build, test"
  mkdir -p build
  if ! cmake --preset "$preset" >/dev/null; then
    summary+=("$preset: configure FAILED")
    failed=1
    return
  fi
  if ! cmake --build --preset "$preset"; then
    summary+=("$preset: build FAILED")
    failed=1
    return
  fi
  built+=("$preset")
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

# echo_smoke: the asan build's asock-echo-server under asock-loadgen, 1 s per backend; the
# sanitizers make the server exit non-zero on any error they find.
echo_smoke() {
  local bin=build/asan/examples backend status result
  for backend in io_uring epoll; do
    status=0
    start_echo_server "$bin/asock-echo-server" "$backend" "build/test-echo-$backend.log" --threads 2 || status=$?
    if [[ $status -eq 3 && $backend == io_uring ]]; then
      summary+=("echo smoke (asan) io_uring: skipped, io_uring not available here")
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

# examples_smoke: the C++ coroutine echo server (accept) with the C and C++ clients (connect),
# over IPv6 and IPv4 loopback, ci build.
examples_smoke() {
  local bin=build/ci/examples address log port pid i ok=1
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
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ $ok -eq 1 ]]; then
    summary+=("examples (ci): coroutine echo server with the C and C++ clients, IPv6 and IPv4: ok")
  else
    summary+=("examples (ci): FAILED (build/test-examples-*.log)")
    failed=1
  fi
}

trap 'kill_echo_server' EXIT
trap 'exit 130' INT TERM

run_preset ci
run_preset asan
run_preset tsan
# The fault walk's totals (ctest ran it test by test; one process gives the sums docs quote).
if [[ " ${built[*]} " == *" asan "* ]]; then
  walk=$(build/asan/tests/asock_fault_tests --gtest_filter='*FaultWalk*' 2>/dev/null | grep -F '[ fault walk ] total:' || true)
  summary+=("fault walk (asan): ${walk#*total: }")
fi
# One minute of the API fuzzer (clang-14, ASan + UBSan, both backends); fails on any crash.
echo "== fuzz: 60 s"
if bash scripts/fuzz.sh 60 | tee build/test-fuzz.log; then
  summary+=("$(grep -E '^fuzz: [0-9]+ executions' build/test-fuzz.log | tail -n 1)")
else
  summary+=("fuzz: FAILED (build/test-fuzz.log, build/fuzz/artifacts/)")
  failed=1
fi
# The installed package: find_package and pkg-config consumers, C and C++; the examples.
if [[ " ${built[*]} " == *" ci "* ]]; then
  echo "== examples: accept and connect over loopback"
  examples_smoke
  echo "== package: install and build consumers"
  if bash scripts/package_test.sh build/ci | tee build/test-package.log; then
    summary+=("$(tail -n 1 build/test-package.log)")
  else
    summary+=("package: FAILED (build/test-package.log)")
    failed=1
  fi
fi
# The Windows build: cross-compiled with mingw-w64, every test binary run under Wine. The
# first Wine start on a machine creates its prefix (about 15 s): done once here, up front.
echo "== win64: preparing Wine"
WINEDEBUG=-all wineboot -i >/dev/null 2>&1 || true
run_preset win64
if [[ " ${built[*]} " == *" asan "* ]]; then
  echo "== asan: echo server smoke"
  echo_smoke
fi

echo
echo "== summary"
printf '  %s\n' "${summary[@]}"
if [[ $failed -ne 0 ]]; then
  echo "test.sh: FAILED"
  exit 1
fi
echo "test.sh: all passed"
