#!/usr/bin/env bash
# The benchmark command (issue 4): builds the bench preset (asock, the peers' echo servers,
# the load generator), runs the echo-server benchmark (bench/run_servers.py) and, when it
# exists, the in-process one (bench/inproc/run_inproc.py), then writes docs/benchmarks.md
# and docs/benchmarks.png (bench/report.py). Raw results: build/bench/results.
# Environment: ASOCK_BENCH_SECONDS (measured seconds per run, default 1), ASOCK_BENCH_REPS
# (repetitions, default 3), ASOCK_BENCH_TARGET_REPS (repetitions of the shapes the targets
# are judged on, default 5), ASOCK_BENCH_QUICK=1 (a smoke run of about a minute: fewer
# shapes, one repetition, 0.5 s per run unless ASOCK_BENCH_SECONDS says otherwise).
# Exits non-zero if any run failed (the report is still written, with the errors).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh --bench

results=build/bench/results
runner_args=(--build-dir build/bench --out-dir "$results")
knobs=()  # the environment of this run, recorded in the report's command line
if [[ -n ${ASOCK_BENCH_SECONDS:-} ]]; then
  runner_args+=(--seconds "$ASOCK_BENCH_SECONDS")
  knobs+=("ASOCK_BENCH_SECONDS=$ASOCK_BENCH_SECONDS")
fi
if [[ -n ${ASOCK_BENCH_REPS:-} ]]; then
  runner_args+=(--reps "$ASOCK_BENCH_REPS")
  knobs+=("ASOCK_BENCH_REPS=$ASOCK_BENCH_REPS")
fi
if [[ -n ${ASOCK_BENCH_TARGET_REPS:-} ]]; then
  runner_args+=(--target-reps "$ASOCK_BENCH_TARGET_REPS")
  knobs+=("ASOCK_BENCH_TARGET_REPS=$ASOCK_BENCH_TARGET_REPS")
fi
if [[ ${ASOCK_BENCH_QUICK:-0} == 1 ]]; then
  runner_args+=(--quick)
  knobs+=("ASOCK_BENCH_QUICK=1")
fi

echo "== building (bench preset)"
cmake --preset bench >/dev/null
cmake --build --preset bench

rm -rf "$results"
mkdir -p "$results"
status=0
echo "== echo servers (bench/run_servers.py)"
python3 bench/run_servers.py "${runner_args[@]}" || status=$?
if [[ -f bench/inproc/run_inproc.py ]]; then
  echo "== in-process (bench/inproc/run_inproc.py)"
  python3 bench/inproc/run_inproc.py --build-dir build/bench --out-dir "$results" || status=$?
fi
echo "== report (bench/report.py)"
python3 bench/report.py --results "$results" --build-dir build/bench --output docs/benchmarks.md \
  --command "${knobs[*]}${knobs[*]:+ }scripts/bench.sh"
echo "bench.sh: done in ${SECONDS} s; wrote docs/benchmarks.md, docs/benchmarks.png ($results: raw results)"
if [[ $status -ne 0 ]]; then
  echo "bench.sh: FAILED: some runs failed (see the errors above and in docs/benchmarks.md)" >&2
  exit 1
fi
