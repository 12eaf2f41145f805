#!/usr/bin/env python3
"""Runs the in-process benchmarks (bench/inproc) and writes their figures.

    run_inproc.py --build-dir B --out-dir O [--quick]

For each library whose program was built (B/bench/inproc/*-inproc), it measures:
  instructions_per_rt           callgrind, (Ir(N2) - Ir(N1)) / (N2 - N1), so start-up cancels
  allocs_per_rt                 heap allocations per round trip after a warm-up (native run)
  idle_socket_bytes             live heap bytes per open idle socket (native run)
  pending_receive_socket_bytes  the same with one receive pending on each socket

and writes O/inproc.json ({"libraries": {name: {figure: float or null}}}, every library and
figure present, null when not measured), O/inproc.md (a markdown fragment) and keeps the
callgrind files in O/callgrind/ for callgrind_annotate. Standard library only.
"""
import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

# (library, program, arguments): the order of the table.
PROGRAMS = [
    ("asock-io_uring", "asock-inproc", ["--backend", "io_uring"]),
    ("asock-epoll", "asock-inproc", ["--backend", "epoll"]),
    ("asio-epoll", "asio-epoll-inproc", []),
    ("asio-io_uring", "asio-io_uring-inproc", []),
    ("libuv", "libuv-inproc", []),
]
ASOCK = ["asock-io_uring", "asock-epoll"]
FIGURES = ["instructions_per_rt", "allocs_per_rt", "idle_socket_bytes", "pending_receive_socket_bytes"]

SETTINGS = {
    False: {"callgrind_round_trips": (2000, 12000), "allocation_round_trips": 20000, "sockets": 10000},
    True: {"callgrind_round_trips": (500, 2500), "allocation_round_trips": 5000, "sockets": 2000},
}

EXIT_UNAVAILABLE = 3  # the program's "not measurable here" (inproc.h)
# A callgrind run takes a few seconds. Valgrind 3.19 keeps its global lock while a thread
# sleeps in io_uring_enter, so a program whose loop must be woken by another thread (asock
# on io_uring) never ends; it also ignores SIGTERM then, hence the kill after a timeout.
CALLGRIND_TIMEOUT_S = 20
IO_URING_HANG = ("this valgrind keeps every other thread stopped while one sleeps in io_uring_enter, "
                 "so a loop thread that another thread must wake never wakes")
NATIVE_TIMEOUT_S = 60


class Unmeasured(Exception):
    """A figure that could not be measured; the message says why."""


class TimedOut(Unmeasured):
    """A run killed at its time limit."""


def log(message):
    print(f"run_inproc: {message}", file=sys.stderr, flush=True)


def run(command, timeout):
    """Runs command; returns its stdout. Raises Unmeasured on a timeout or a failure."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:  # subprocess.run has sent SIGKILL
        raise TimedOut(f"did not finish in {timeout} s (killed)") from None
    if done.returncode != 0:
        last_line = (done.stderr.strip().splitlines() or ["no message"])[-1].removeprefix("inproc: ")
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


def callgrind_difference(library, program, arguments, round_trips, callgrind_dir):
    """(Ir(N2) - Ir(N1)) / (N2 - N1) over two callgrind runs of the ping-pong."""
    totals = []
    for count in round_trips:
        out_file = callgrind_dir / f"{library}-{count}.out"
        command = ["valgrind", "--tool=callgrind", "--collect-atstart=yes", f"--callgrind-out-file={out_file}",
                   str(program), *arguments, "--mode", "ping-pong", "--round-trips", str(count)]
        try:
            run(command, CALLGRIND_TIMEOUT_S)
        except Unmeasured:
            out_file.unlink(missing_ok=True)  # a killed run leaves a truncated file
            raise
        totals.append(callgrind_total(out_file))
    return (totals[1] - totals[0]) / (round_trips[1] - round_trips[0])


def instructions_per_round_trip(library, program, arguments, round_trips, callgrind_dir):
    if shutil.which("valgrind") is None:
        raise Unmeasured("valgrind is not installed")
    try:
        return callgrind_difference(library, program, arguments, round_trips, callgrind_dir)
    except TimedOut as error:
        hint = f"; {IO_URING_HANG}" if "io_uring" in library else ""
        raise Unmeasured(f"{valgrind_version()}: {error}{hint}") from None
    except Unmeasured as error:
        raise Unmeasured(f"{valgrind_version()}: {error}") from None


def measure(library, program, arguments, settings, callgrind_dir, notes):
    """All figures of one library; a figure that fails is None, with a note."""
    steps = {  # each returns {figure: value}
        "instructions_per_rt": lambda: {"instructions_per_rt": instructions_per_round_trip(
            library, program, arguments, settings["callgrind_round_trips"], callgrind_dir)},
        "allocs_per_rt": lambda: run_program(
            program, arguments, ["--mode", "allocations", "--round-trips", str(settings["allocation_round_trips"])]),
        "sockets": lambda: run_program(program, arguments, ["--mode", "sockets", "--sockets", str(settings["sockets"])]),
    }
    figures = dict.fromkeys(FIGURES)
    for step, measure_step in steps.items():
        log(f"{library}: {step}")
        try:
            result = measure_step()
        except Unmeasured as error:
            notes.append(f"{library}, {step}: {error}")
            continue
        figures.update({name: float(value) for name, value in result.items() if name in FIGURES})
    return figures


def cell(value, digits):
    return "n/a" if value is None else f"{value:,.{digits}f}"


def ratio(numerator, denominator):
    if numerator is None or not denominator:
        return "n/a"
    return f"{numerator / denominator:.2f}"


def markdown(libraries, notes, settings):
    n1, n2 = settings["callgrind_round_trips"]
    lines = [
        "## In-process figures (callgrind, allocation counter)",
        "",
        "| library | instructions / round trip | heap allocations / round trip "
        "| heap bytes / idle socket | heap bytes / socket with a receive pending |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, figures in libraries.items():
        lines.append(f"| {name} | {cell(figures['instructions_per_rt'], 0)} | {cell(figures['allocs_per_rt'], 2)} "
                     f"| {cell(figures['idle_socket_bytes'], 0)} | {cell(figures['pending_receive_socket_bytes'], 0)} |")
    lines += ["", "Instructions per round trip, asock over each peer (below 1: asock executes fewer):", "",
              "| peer | " + " | ".join(f"{name} / peer" for name in ASOCK) + " |",
              "|---|" + "---:|" * len(ASOCK)]
    for peer in (name for name in libraries if name not in ASOCK):
        peer_value = libraries[peer]["instructions_per_rt"]
        lines.append(f"| {peer} | " + " | ".join(
            ratio(libraries[name]["instructions_per_rt"], peer_value) for name in ASOCK) + " |")
    lines += ["",
              f"Each program drives both ends of one loopback TCP connection (TCP_NODELAY) on one I/O thread: A sends "
              f"64 bytes, B receives them (into 128 bytes of room) and echoes them, A checks them; instructions are "
              f"callgrind's user-space Ir of the whole "
              f"process (every thread) as (Ir({n2}) - Ir({n1})) / {n2 - n1} round trips, so start-up cost cancels.",
              f"Allocations are the calls to malloc, calloc, realloc, the aligned allocators and operator new, counted "
              f"by wrappers linked into each program, over {settings['allocation_round_trips']} round trips after as "
              f"many of warm-up; heap bytes are the growth of live heap (malloc_usable_size of each block) over "
              f"{settings['sockets']} sockets opened on the library ({settings['sockets'] // 2} loopback TCP pairs), "
              f"including the socket objects (tcp::socket, uv_tcp_t) the Asio and libuv programs allocate themselves."]
    if notes:
        lines += ["", "Not measured:", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", required=True, type=Path)
    parser.add_argument("--out-dir", required=True, type=Path)
    parser.add_argument("--quick", action="store_true", help="fewer round trips and sockets")
    options = parser.parse_args()

    settings = SETTINGS[options.quick]
    program_dir = options.build_dir / "bench" / "inproc"
    callgrind_dir = options.out_dir / "callgrind"
    callgrind_dir.mkdir(parents=True, exist_ok=True)

    libraries, notes = {}, []
    for library, program_name, arguments in PROGRAMS:
        program = program_dir / program_name
        if not program.exists():
            notes.append(f"{library}: {program} not built")
            libraries[library] = dict.fromkeys(FIGURES)
            continue
        libraries[library] = measure(library, program, arguments, settings, callgrind_dir, notes)

    (options.out_dir / "inproc.json").write_text(json.dumps({"libraries": libraries}, indent=2) + "\n")
    report = markdown(libraries, notes, settings)
    (options.out_dir / "inproc.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
