#!/usr/bin/env bash
# The benchmark command (issue 4): builds the bench preset (asock, the peers' echo and HTTP
# servers, the load generator), runs the echo-server benchmark (bench/run_servers.py), the HTTP
# plaintext one (issue 13, bench/run_http.py: wrk against asock, Asio, libuv, two ceilings and
# nginx), the one-way stream (issue 13, bench/run_stream.py: one connection, 64 KiB sends, asock
# beside the machine's limit) and, when it exists, the in-process one (bench/inproc/run_inproc.py), then writes
# docs/benchmarks.md and docs/benchmarks.png (bench/report.py). Raw results: build/bench/results.
# Environment: ASOCK_BENCH_SECONDS (measured seconds per run, default 1 for echo, 2 for HTTP,
# where it is rounded up to whole seconds for wrk), ASOCK_BENCH_REPS (repetitions, default 3),
# ASOCK_BENCH_TARGET_REPS (repetitions of the echo shapes the targets are judged on, default 5),
# ASOCK_BENCH_QUICK=1 (a smoke run of about a minute: fewer shapes, one repetition, 0.5 s per
# echo run and 1 s per HTTP run unless ASOCK_BENCH_SECONDS says otherwise).
# The timer benchmark (issue 12, bench/timers/run_timers.py) runs last, after the in-process one.
#   scripts/bench.sh timers   builds and runs only the timer benchmark, then rewrites only the
#                             "Timers" section of docs/benchmarks.md (a few minutes).
#   scripts/bench.sh http     builds and runs only the HTTP benchmark, then rewrites only the
#                             "HTTP plaintext" section of docs/benchmarks.md (about 4 minutes).
#   scripts/bench.sh stream   builds and runs only the one-way stream benchmark, then rewrites only
#                             the "One-way stream" section of docs/benchmarks.md (about 1 minute).
#   scripts/bench.sh kernel   runs only the kernel-feature experiments (issue 13: the io_uring
#                             ceiling with each feature against itself without, run_servers.py's
#                             experiment servers; results in RESULTS/kernel), then rewrites only the
#                             "Kernel features" section (about 6 minutes). The full run has it too.
# ASOCK_BENCH_BUILD_DIR: the build directory (default build/bench); results go to its results/.
# Exits non-zero if any run failed (the report is still written, with the errors).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

stage="${1:-all}"
case "$stage" in
  all | timers | http | stream | kernel) ;;
  *)
    echo "usage: scripts/bench.sh [timers|http|stream|kernel]" >&2
    exit 2
    ;;
esac

bash scripts/setup.sh --bench

build_dir="${ASOCK_BENCH_BUILD_DIR:-build/bench}"
results="$build_dir/results"
runner_args=(--build-dir "$build_dir" --out-dir "$results")
http_args=(--build-dir "$build_dir" --out-dir "$results")
stream_args=(--build-dir "$build_dir" --out-dir "$results")
knobs=()  # the environment of this run, recorded in the report's command line
if [[ -n ${ASOCK_BENCH_BUILD_DIR:-} ]]; then
  knobs+=("ASOCK_BENCH_BUILD_DIR=$ASOCK_BENCH_BUILD_DIR")
fi
if [[ -n ${ASOCK_BENCH_SECONDS:-} ]]; then
  runner_args+=(--seconds "$ASOCK_BENCH_SECONDS")
  http_args+=(--seconds "$ASOCK_BENCH_SECONDS")
  stream_args+=(--seconds "$ASOCK_BENCH_SECONDS")
  knobs+=("ASOCK_BENCH_SECONDS=$ASOCK_BENCH_SECONDS")
fi
if [[ -n ${ASOCK_BENCH_REPS:-} ]]; then
  runner_args+=(--reps "$ASOCK_BENCH_REPS")
  http_args+=(--reps "$ASOCK_BENCH_REPS")
  stream_args+=(--reps "$ASOCK_BENCH_REPS")
  knobs+=("ASOCK_BENCH_REPS=$ASOCK_BENCH_REPS")
fi
if [[ -n ${ASOCK_BENCH_TARGET_REPS:-} ]]; then
  runner_args+=(--target-reps "$ASOCK_BENCH_TARGET_REPS")
  knobs+=("ASOCK_BENCH_TARGET_REPS=$ASOCK_BENCH_TARGET_REPS")
fi
timer_args=(--build-dir "$build_dir" --out-dir "$results")
# The kernel-feature experiments: the plain io_uring ceiling and each of its feature variants, on
# the shapes where a feature could show (5 rounds each unless ASOCK_BENCH_REPS says otherwise).
kernel_servers=$(python3 -c 'import sys; sys.path.insert(0, "bench"); import run_servers as r
print(",".join(["ceiling-io_uring"] + [s.name for s in r.EXPERIMENT_SERVERS if s.name.startswith("ceiling-io_uring+")]))')
kernel_reps=${ASOCK_BENCH_REPS:-5}
[[ ${ASOCK_BENCH_QUICK:-0} != 1 || -n ${ASOCK_BENCH_REPS:-} ]] || kernel_reps=1
kernel_args=(--build-dir "$build_dir" --out-dir "$results/kernel" --servers "$kernel_servers"
  --shapes 16x1KiB,256x1KiB,16x16KiB,256x16KiB,stream --reps "$kernel_reps" --target-reps "$kernel_reps")
[[ -z ${ASOCK_BENCH_SECONDS:-} ]] || kernel_args+=(--seconds "$ASOCK_BENCH_SECONDS")
if [[ ${ASOCK_BENCH_QUICK:-0} == 1 ]]; then
  kernel_args+=(--quick)
  runner_args+=(--quick)
  http_args+=(--quick)
  stream_args+=(--quick)
  timer_args+=(--quick)
  knobs+=("ASOCK_BENCH_QUICK=1")
fi
command_line="${knobs[*]}${knobs[*]:+ }scripts/bench.sh${1:+ $1}"
timer_args+=(--command "$command_line")

echo "== building (bench preset, $build_dir)"
cmake --preset bench -B "$build_dir" >/dev/null

# section_only TARGET SECTION WHAT SCRIPT REPORT_FLAG RESULT_FILES RUNNER_ARGS...: builds TARGET,
# runs SCRIPT alone, rewrites only the SECTION section of docs/benchmarks.md (report.py
# REPORT_FLAG), and exits: non-zero if a run failed. RESULT_FILES: what a previous run left in
# the results directory, removed first (space-separated).
section_only() {
  local target=$1 section=$2 what=$3 script=$4 flag=$5 files=$6 status=0 file
  shift 6
  cmake --build "$build_dir" --target "$target"
  mkdir -p "$results"
  for file in $files; do
    rm -rf "${results:?}/$file"
  done
  echo "== $what ($script)"
  python3 "$script" "$@" || status=$?
  echo "== report (bench/report.py $flag)"
  python3 bench/report.py --results "$results" --output docs/benchmarks.md "$flag" --command "$command_line"
  echo "bench.sh: done in ${SECONDS} s; rewrote the $section section of docs/benchmarks.md ($results: raw results)"
  if [[ $status -ne 0 ]]; then
    echo "bench.sh: FAILED: some $what runs failed (see the errors above and in docs/benchmarks.md)" >&2
    exit 1
  fi
  exit 0
}

case "$stage" in
  timers) section_only bench/timers/all Timers timer bench/timers/run_timers.py --timers-only \
    "timers.json timers.md callgrind-timers" "${timer_args[@]}" ;;
  http) section_only bench_http "HTTP plaintext" HTTP bench/run_http.py --http-only \
    "http.json http.md logs-http" "${http_args[@]}" ;;
  stream) section_only bench_stream "One-way stream" stream bench/run_stream.py --stream-only \
    "stream.json stream.md logs-stream" "${stream_args[@]}" ;;
  kernel) section_only bench_echo_ceiling_uring "Kernel features" kernel-feature bench/run_servers.py --kernel-only \
    "kernel" "${kernel_args[@]}" ;;
esac

cmake --build "$build_dir"

rm -rf "$results"
mkdir -p "$results"
status=0
echo "== echo servers (bench/run_servers.py)"
python3 bench/run_servers.py "${runner_args[@]}" || status=$?
echo "== HTTP plaintext (bench/run_http.py)"
python3 bench/run_http.py "${http_args[@]}" || status=$?
echo "== one-way stream (bench/run_stream.py)"
python3 bench/run_stream.py "${stream_args[@]}" || status=$?
echo "== kernel features (bench/run_servers.py, the io_uring ceiling's experiment servers)"
python3 bench/run_servers.py "${kernel_args[@]}" || status=$?
if [[ -f bench/inproc/run_inproc.py ]]; then
  echo "== in-process (bench/inproc/run_inproc.py)"
  python3 bench/inproc/run_inproc.py --build-dir "$build_dir" --out-dir "$results" || status=$?
fi
echo "== timers (bench/timers/run_timers.py)"
python3 bench/timers/run_timers.py "${timer_args[@]}" || status=$?
echo "== report (bench/report.py)"
python3 bench/report.py --results "$results" --build-dir "$build_dir" --output docs/benchmarks.md \
  --command "$command_line"
echo "bench.sh: done in ${SECONDS} s; wrote docs/benchmarks.md, docs/benchmarks.png ($results: raw results)"
if [[ $status -ne 0 ]]; then
  echo "bench.sh: FAILED: some runs failed (see the errors above and in docs/benchmarks.md)" >&2
  exit 1
fi
