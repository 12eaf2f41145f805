#!/usr/bin/env bash
# Fuzzes the API: builds the libFuzzer target tests/fuzz/api_fuzzer.cpp with the fuzz preset
# (clang-14, ASan + UBSan, libFuzzer coverage of the library too) and runs it for SECONDS
# (default 60) from the seed corpus tests/fuzz/corpus (left untouched: what the run finds goes
# to $ASOCK_FUZZ_BUILD_DIR/corpus). Exits non-zero on a crash, a contract violation, a leak
# or a hang (-timeout); the input that did it is saved under $ASOCK_FUZZ_BUILD_DIR/artifacts
# (replay it: asock_api_fuzzer FILE, with ASOCK_FUZZ_TRACE=1 to print its steps). Prints the
# number of executions.
#
# Usage: scripts/fuzz.sh [SECONDS]
# Environment: ASOCK_FUZZ_BUILD_DIR (default build/fuzz), ASOCK_FUZZ_JOBS (build jobs,
# default 2), ASOCK_FUZZ_ARGS (more libFuzzer flags, e.g. "-seed=1").
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
seconds=${1:-60}
build=${ASOCK_FUZZ_BUILD_DIR:-build/fuzz}
jobs=${ASOCK_FUZZ_JOBS:-2}

bash scripts/setup.sh
# clang and libFuzzer's runtime, besides what setup.sh installs.
missing=()
for package in clang-14 libclang-rt-14-dev; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [[ ${#missing[@]} -ne 0 ]]; then
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  echo "fuzz.sh: installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "== fuzz: configure, build ($build)"
cmake --preset fuzz -B "$build" >/dev/null
cmake --build "$build" --target asock_api_fuzzer -j "$jobs"

mkdir -p "$build/corpus" "$build/artifacts"
log="$build/fuzz.log"
echo "== fuzz: running for $seconds s (log: $log)"
status=0
# -timeout: an input running longer is a hang (each input bounds its own waits to a few
# seconds). -rss_limit_mb: ASan's shadow memory and the engines' rings need some room.
# shellcheck disable=SC2086
"$build/tests/fuzz/asock_api_fuzzer" "$build/corpus" tests/fuzz/corpus \
  -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -max_len=4096 \
  -artifact_prefix="$build/artifacts/" -print_final_stats=1 ${ASOCK_FUZZ_ARGS:-} >"$log" 2>&1 || status=$?

grep -E 'CONTRACT VIOLATION|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY' "$log" | head -n 20 || true
executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
coverage=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)
echo "fuzz: ${executions:-0} executions in $seconds s (${coverage:-no coverage line}), corpus $(find "$build/corpus" -type f | wc -l) inputs"
if [[ $status -ne 0 ]]; then
  echo "fuzz.sh: FAILED (status $status): see $log and $build/artifacts/"
  exit 1
fi
echo "fuzz.sh: no crash"
