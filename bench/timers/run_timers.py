#!/usr/bin/env python3
"""Runs the timer benchmarks (bench/timers) of asock, Asio and libuv and writes their figures.

    run_timers.py --build-dir B --out-dir O [--quick] [--command TEXT]

Every library's program (B/bench/timers/*-timers) is run in the same invocation, on the same
machine: each native figure is the median of REPS repetitions, interleaved (for each
repetition and each mode, the libraries in turn, each round starting one library further
along), so that a slow phase of the machine hits all of them. Figures:

  sc_ns, sc_ir           start + cancel of one timer: process CPU ns per pair (native, 1,000,000
                         pairs in batches of 64) and instructions per pair (callgrind,
                         (Ir(N2) - Ir(N1)) / (N2 - N1), so start-up and teardown cancel out)
  sc_wall_ns             the same pairs, wall-clock ns per pair
  sc_allocs              heap allocations per pair after the first batch
  pending_ns, pending_ir the same with 100,000 other timers pending (long delays)
  foreign_ns, foreign_ir asock only: the pairs called from a thread that is not the loop's
  created_bytes          live heap bytes per created timer (100,000 timers), the object or
                         handle the program keeps per timer included
  pending_bytes          the same once every timer is started
  object_size            sizeof(asio::steady_timer), sizeof(uv_timer_t); 0 for asock's handle
  start_ns, fire_ns      100,000 timers with spread deadlines: process CPU ns per start, and
                         per fire (from the last start to the last fire); they must fire in
                         deadline order (the program fails otherwise)

Writes O/timers.json ({"libraries": {name: {figure: float or null}}}), O/timers.md (a markdown
section for docs/benchmarks.md) and keeps the callgrind files in O/callgrind-timers/.
Standard library only.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

# (library, program, arguments): the order of the table.
PROGRAMS = [
    ("asock-io_uring", "asock-timers", ["--backend", "io_uring"]),
    ("asock-epoll", "asock-timers", ["--backend", "epoll"]),
    ("asio", "asio-timers", []),
    ("libuv", "libuv-timers", []),
]
ASOCK = ["asock-io_uring", "asock-epoll"]
PEERS = ["asio", "libuv"]
FIGURES = ["sc_ns", "sc_wall_ns", "sc_ir", "sc_allocs", "pending_ns", "pending_ir", "foreign_ns", "foreign_wall_ns",
           "foreign_ir", "created_bytes", "pending_bytes", "object_size", "start_ns", "fire_ns"]

SETTINGS = {
    False: {"reps": 5, "pairs": 1_000_000, "pending": 100_000, "timers": 100_000, "callgrind_pairs": (20_000, 120_000)},
    True: {"reps": 1, "pairs": 200_000, "pending": 100_000, "timers": 100_000, "callgrind_pairs": (5_000, 25_000)},
}

EXIT_UNAVAILABLE = 3  # the program's "not measurable here" (timer_bench.h)
NATIVE_TIMEOUT_S = 60
CALLGRIND_TIMEOUT_S = 60
# Valgrind 3.19 keeps its global lock while a thread sleeps in io_uring_enter, so a loop thread
# that another thread must wake never wakes (bench/inproc/run_inproc.py); killed at the timeout.
IO_URING_HANG = ("this valgrind keeps every other thread stopped while one sleeps in io_uring_enter, "
                 "so a loop thread that another thread must wake never wakes")


class Unmeasured(Exception):
    """A figure that could not be measured; the message says why."""


class TimedOut(Unmeasured):
    """A run killed at its time limit."""


def log(message):
    print(f"run_timers: {message}", file=sys.stderr, flush=True)


def run(command, timeout):
    """Runs command; returns its stdout. Raises Unmeasured on a timeout or a failure."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:  # subprocess.run has sent SIGKILL
        raise TimedOut(f"did not finish in {timeout} s (killed)") from None
    if done.returncode != 0:
        last_line = (done.stderr.strip().splitlines() or ["no message"])[-1].removeprefix("timers: ")
        if done.returncode == EXIT_UNAVAILABLE:
            raise Unmeasured(last_line)  # "not measurable here: <why>"
        raise Unmeasured(f"failed (exit status {done.returncode}): {last_line}")
    return done.stdout


def run_program(program, arguments, mode_arguments):
    output = run([str(program), *arguments, *mode_arguments], NATIVE_TIMEOUT_S)
    return json.loads(output.strip().splitlines()[-1])


def valgrind_version():
    return subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout.strip()


def callgrind_total(path):
    """The Ir total of a callgrind output file (its "summary:" or "totals:" line)."""
    for line in path.read_text().splitlines():
        match = re.match(r"(?:summary|totals):\s+(\d+)", line)
        if match:
            return int(match.group(1))
    raise Unmeasured(f"no totals in {path}")


def instructions_per_pair(name, program, arguments, mode_arguments, counts, callgrind_dir):
    """(Ir(N2) - Ir(N1)) / (N2 - N1) over two callgrind runs of the start-cancel mode."""
    if shutil.which("valgrind") is None:
        raise Unmeasured("valgrind is not installed")
    totals = []
    for count in counts:
        out_file = callgrind_dir / f"{name}-{count}.out"
        command = ["valgrind", "--tool=callgrind", "--collect-atstart=yes", f"--callgrind-out-file={out_file}",
                   str(program), *arguments, "--mode", "start-cancel", *mode_arguments, "--count", str(count)]
        try:
            run(command, CALLGRIND_TIMEOUT_S)
        except TimedOut as error:
            out_file.unlink(missing_ok=True)  # a killed run leaves a truncated file
            hint = f"; {IO_URING_HANG}" if "io_uring" in name else ""
            raise TimedOut(f"{valgrind_version()}: {error}{hint}") from None
        except Unmeasured as error:
            out_file.unlink(missing_ok=True)
            raise Unmeasured(f"{valgrind_version()}: {error}") from None
        totals.append(callgrind_total(out_file))
    return (totals[1] - totals[0]) / (counts[1] - counts[0])


def native_modes(settings, library):
    """(step, mode arguments, {figure: key of the program's output}) of the native runs."""
    pairs, pending, timers = str(settings["pairs"]), str(settings["pending"]), str(settings["timers"])
    modes = [
        ("start-cancel", ["--mode", "start-cancel", "--count", pairs],
         {"sc_ns": "cpu_ns_per_pair", "sc_wall_ns": "wall_ns_per_pair", "sc_allocs": "allocs_per_pair"}),
        ("start-cancel, timers pending", ["--mode", "start-cancel", "--count", pairs, "--pending", pending],
         {"pending_ns": "cpu_ns_per_pair"}),
        ("memory", ["--mode", "memory", "--count", timers],
         {"created_bytes": "created_bytes_per_timer", "pending_bytes": "pending_bytes_per_timer",
          "object_size": "object_size"}),
        ("fire", ["--mode", "fire", "--count", timers],
         {"start_ns": "start_cpu_ns_per_timer", "fire_ns": "fire_cpu_ns_per_timer"}),
    ]
    if library in ASOCK:
        modes.append(("start-cancel, foreign thread", ["--mode", "start-cancel", "--count", pairs, "--thread", "foreign"],
                      {"foreign_ns": "cpu_ns_per_pair", "foreign_wall_ns": "wall_ns_per_pair"}))
    return modes


def callgrind_modes(settings, library):
    """(step, figure, mode arguments) of the callgrind runs."""
    modes = [("start-cancel", "sc_ir", []),
             ("start-cancel, timers pending", "pending_ir", ["--pending", str(settings["pending"])])]
    if library in ASOCK:
        modes.append(("start-cancel, foreign thread", "foreign_ir", ["--thread", "foreign"]))
    return modes


def measure_native(programs, settings, notes):
    """{library: {figure: [values of the repetitions]}}, the libraries interleaved."""
    samples = {library: {} for library, _, _ in programs}
    for rep in range(settings["reps"]):
        order = programs[rep % len(programs):] + programs[:rep % len(programs)]
        for step_index in range(max(len(native_modes(settings, library)) for library, _, _ in programs)):
            for library, program, arguments in order:
                modes = native_modes(settings, library)
                if step_index >= len(modes):
                    continue
                step, mode_arguments, keys = modes[step_index]
                log(f"repetition {rep + 1}/{settings['reps']}: {library}: {step}")
                try:
                    result = run_program(program, arguments, mode_arguments)
                except Unmeasured as error:
                    notes.append(f"{library}, {step}: {error}")  # a later repetition may still measure it
                    continue
                for figure, key in keys.items():
                    samples[library].setdefault(figure, []).append(float(result[key]))
    return samples


def measure_callgrind(programs, settings, callgrind_dir, notes):
    """{library: {figure: instructions per pair}}; a library whose run hung is not run again."""
    figures = {library: {} for library, _, _ in programs}
    for library, program, arguments in programs:
        for step, figure, mode_arguments in callgrind_modes(settings, library):
            log(f"callgrind: {library}: {step}")
            try:
                figures[library][figure] = instructions_per_pair(
                    f"{library}-{figure}", program, arguments, mode_arguments, settings["callgrind_pairs"],
                    callgrind_dir)
            except TimedOut as error:
                notes.append(f"{library}, callgrind: {error}")
                break
            except Unmeasured as error:
                notes.append(f"{library}, {step} (callgrind): {error}")
    return figures


def cell(value, digits=0):
    return "n/a" if value is None else f"{value:,.{digits}f}"


def ratio(numerator, denominator):
    if numerator is None or not denominator:
        return "n/a"
    return f"{numerator / denominator:.2f}"


def figure_cell(figures, figure, digits):
    if figure == "object_size" and figures[figure] == 0:
        return "opaque"  # asock's handle: its memory is in the heap columns
    return cell(figures[figure], digits)


def table(libraries, columns, names):
    lines = ["| library | " + " | ".join(title for title, _, _ in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(figure_cell(libraries[name], figure, digits)
                                                  for _, figure, digits in columns) + " |")
    return lines


def ratio_table(libraries, figures):
    pairs = [(mine, peer) for mine in ASOCK for peer in PEERS]
    lines = ["| figure | " + " | ".join(f"{mine} / {peer}" for mine, peer in pairs) + " |",
             "|---|" + "---:|" * len(pairs)]
    for title, figure in figures:
        lines.append(f"| {title} | " + " | ".join(
            ratio(libraries[mine][figure], libraries[peer][figure]) for mine, peer in pairs) + " |")
    return lines


def markdown(libraries, notes, settings, meta):
    pairs, pending, timers = settings["pairs"], settings["pending"], settings["timers"]
    n1, n2 = settings["callgrind_pairs"]
    lines = [
        "## Timers (issue 12)",
        "",
        f"Measured {meta['date']} on {meta['cpus']}, Linux {meta['kernel']}, by `{meta['command']}` "
        f"({meta['wall_seconds']:.0f} s; every repetition in `results/timers.json` of the build directory). asock's timers (`async_timer.h`) against "
        "Asio's `asio::steady_timer` (default reactor: epoll) and libuv's `uv_timer_t`.",
        "",
    ]
    lines += table(libraries, [
        ("start + cancel ns", "sc_ns", 0),
        ("start + cancel instructions", "sc_ir", 0),
        (f"the same, {pending:,} pending: ns", "pending_ns", 0),
        ("instructions", "pending_ir", 0),
        ("heap allocations / pair", "sc_allocs", 2),
        ("heap bytes / created timer", "created_bytes", 0),
        ("heap bytes / pending timer", "pending_bytes", 0),
        ("sizeof", "object_size", 0),
        (f"start ns ({timers:,} spread)", "start_ns", 0),
        ("fire ns", "fire_ns", 0),
    ], [name for name, _, _ in PROGRAMS])
    lines += ["", "asock's pairs called from a thread other than the loop's (the start and the cancel are handed "
              "to the loop; the caller waits for each batch's cancellations):", ""]
    lines += table(libraries, [("start + cancel ns (CPU, both threads)", "foreign_ns", 0),
                               ("wall-clock ns", "foreign_wall_ns", 0),
                               ("instructions", "foreign_ir", 0)], ASOCK)
    lines += ["", "Ratios asock / peer (below 1: asock costs less):", ""]
    lines += ratio_table(libraries, [("start + cancel ns", "sc_ns"), ("start + cancel instructions", "sc_ir"),
                                     (f"start + cancel ns, {pending:,} pending", "pending_ns"),
                                     (f"start + cancel instructions, {pending:,} pending", "pending_ir"),
                                     ("heap bytes / pending timer", "pending_bytes"),
                                     ("start ns (spread)", "start_ns"), ("fire ns", "fire_ns")])
    lines += [
        "",
        f"- **start + cancel**: {pairs:,} pairs on one loop, called from inside a callback on the loop's thread, in "
        "batches of 64 timers: each timer of a batch is started (delay 1 h) and cancelled at once; the next batch "
        "starts when the batch's cancelled callbacks have all run (asock: `ASYNC_TIMER_CANCELLED`; Asio: the "
        "handler with `operation_aborted`). libuv's `uv_timer_stop` calls no callback: its pair is complete when "
        "the call returns. ns = CPU time of the process (all threads) / pairs, the median of "
        f"{settings['reps']} interleaved run(s); wall-clock ns are in timers.json. Instructions are callgrind's Ir "
        f"of the whole process as (Ir({n2:,}) - Ir({n1:,})) / {n2 - n1:,} pairs, so set-up and teardown cancel "
        f"out. *{pending:,} pending*: the same with {pending:,} other timers waiting (delays of an hour, spread "
        "over a second), so that the heap is deep.",
        "- **Why the pairs differ**: asock's start and cancel each post an operation to the loop's inbox, also "
        "from the loop's own thread (so that no callback runs inside the call), and the cancel ends in a callback; "
        "libuv's pair is an insertion into and a removal from its heap, in the caller's `uv_timer_t`, with no "
        "callback. Asio reprograms its timerfd whenever its earliest deadline changes: with no other timer "
        "pending, every pair makes a `timerfd_settime` system call (strace: one per pair), which is most of its "
        "ns; with 100,000 pending it makes none. Its handler memory is recycled only a few blocks per thread, so "
        "with 64 waits outstanding nearly every `async_wait` allocates.",
        "- **memory**: live heap bytes (malloc_usable_size of every block, counted by wrappers linked into each "
        f"program) per timer over {timers:,} timers, once created and once all started; they include what the "
        "program keeps per timer: the `steady_timer` / `uv_timer_t` objects (one array), asock's handle pointer. "
        "*sizeof* is the object's size (asock's handle is opaque). A pending start costs asock an operation "
        "block besides the handle, and Asio a handler block besides the timer; libuv's `uv_timer_t` is its own "
        "heap node.",
        f"- **firing**: {timers:,} timers started from one callback with 10 different delays (200 ms apart, "
        "assigned in a scrambled order); all fire, and the program fails unless they fire in deadline order "
        "(equal delays: in the order started), which every run here did. start ns = CPU time of the starts / "
        "timers; fire ns = CPU time from the last start to the last fire / timers (the loop's sleeps cost none).",
    ]
    if notes:
        lines += ["", "Not measured:", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def cpu_description():
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    virtual = re.search(r"^flags\s*:.*\bhypervisor\b", cpuinfo, re.MULTILINE)
    return f"{os.cpu_count()} × " + (model.group(1) if model else "unknown CPU") + (" (virtual machine)" if virtual else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", required=True, type=Path)
    parser.add_argument("--out-dir", required=True, type=Path)
    parser.add_argument("--quick", action="store_true", help="one repetition, fewer pairs")
    parser.add_argument("--command", default="bench/timers/run_timers.py", help="the command to record")
    options = parser.parse_args()

    began = datetime.datetime.now(datetime.timezone.utc)
    settings = SETTINGS[options.quick]
    program_dir = options.build_dir / "bench" / "timers"
    callgrind_dir = options.out_dir / "callgrind-timers"
    callgrind_dir.mkdir(parents=True, exist_ok=True)

    notes, programs = [], []
    for library, program_name, arguments in PROGRAMS:
        program = program_dir / program_name
        if program.exists():
            programs.append((library, program, arguments))
        else:
            notes.append(f"{library}: {program} not built")

    samples = measure_native(programs, settings, notes)
    instructions = measure_callgrind(programs, settings, callgrind_dir, notes)
    libraries = {}
    for library, _, _ in PROGRAMS:
        figures = dict.fromkeys(FIGURES)
        figures.update({f: statistics.median(v) for f, v in samples.get(library, {}).items()})
        figures.update(instructions.get(library, {}))
        libraries[library] = figures

    notes = list(dict.fromkeys(notes))  # a step that failed in every repetition: once
    meta = {"date": began.isoformat(timespec="seconds"), "cpus": cpu_description(), "kernel": platform.release(),
            "command": options.command, "reps": settings["reps"],
            "wall_seconds": (datetime.datetime.now(datetime.timezone.utc) - began).total_seconds()}
    (options.out_dir / "timers.json").write_text(
        json.dumps({"meta": meta, "libraries": libraries, "samples": samples, "notes": notes}, indent=2) + "\n")
    report = markdown(libraries, notes, settings, meta)
    (options.out_dir / "timers.md").write_text(report)
    print(report)
    failures = [note for note in notes if "failed" in note]
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
