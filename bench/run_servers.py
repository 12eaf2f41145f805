#!/usr/bin/env python3
"""Runs the echo-server benchmark: asock and its peers under the same closed-loop load.

Every echo server of bench/servers is started once (and once more in --gather mode), each on
its own free port; they sleep while another one is loaded. Then, for each traffic shape and
each repetition, the servers are loaded in turn (A B C ... A B C ...), so that a slow phase of
the machine hits every server alike. Each run is one bench-loadgen process (closed loop, one
thread) that reports round trips/s, MiB/s, latency percentiles and the CPU time the server
used per round trip (--server-pid). The figures kept are the medians over the repetitions.

With two or more CPUs the load generator runs on the first allowed CPU and every server on
the second (unless --no-pin), so that a server never competes with its load for a CPU and
the figures do not depend on where the scheduler happened to put the two processes: on the
same CPU a wake-up is a context switch, on two CPUs it is an inter-processor interrupt, and
on a virtual machine the two differ by tens of microseconds.

Writes OUT/servers.json (every run and the medians), OUT/servers.md (tables) and
OUT/benchmarks.png (gnuplot; skipped with a message if gnuplot is missing). Exits non-zero
if a run failed (connection error, echoed bytes that differ) or a server misbehaved; the
results of the other runs are still written.

Standard library only.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

LOADGEN = "bench-loadgen"
METRICS = ("round_trips_per_sec", "mib_per_sec", "p50_us", "p99_us", "server_cpu_us_per_rt")
# Per metric: its column title, and whether a higher value is better.
METRIC_INFO = {
    "round_trips_per_sec": ("round trips/s", True),
    "mib_per_sec": ("MiB/s", True),
    "p50_us": ("p50 µs", False),
    "p99_us": ("p99 µs", False),
    "server_cpu_us_per_rt": ("server CPU µs/rt", False),
}


@dataclass(frozen=True)
class Server:
    name: str
    binary: str
    args: tuple = ()
    only_shapes: tuple = ()  # empty: every shape


SERVERS = (
    Server("asock-io_uring", "bench-echo-asock", ("--backend", "io_uring")),
    Server("asock-epoll", "bench-echo-asock", ("--backend", "epoll")),
    Server("asio-epoll", "bench-echo-asio-epoll"),
    Server("asio-io_uring", "bench-echo-asio-uring"),
    Server("libuv", "bench-echo-libuv"),
    Server("ceiling-epoll", "bench-echo-ceiling-epoll"),
    Server("ceiling-io_uring", "bench-echo-ceiling-uring"),
    # Busy polling trades CPU for wake-up latency: only the latency shape is of interest.
    Server("asock-io_uring-spin", "bench-echo-asock", ("--backend", "io_uring", "--busy-poll", "50"), ("1x64B",)),
    # The least latency by spinning: epoll_wait with timeout 0 for the same 50 µs window, then
    # a sleep (the floor for asock's busy-poll mode on this machine; only the latency shape).
    # A server that never slept would take CPU 1 from every server measured meanwhile.
    Server("ceiling-epoll-spin", "bench-echo-ceiling-epoll", ("--busy-poll", "50"), ("1x64B",)),
)
# Opt-in only (--servers NAME): the io_uring ceiling with one kernel feature each (issue 13;
# echo_ceiling_uring.c says what each flag does; a feature the kernel refuses is left off and
# the server's log says so on its "features:" line).
EXPERIMENT_SERVERS = tuple(
    Server(f"ceiling-io_uring+{feature}", "bench-echo-ceiling-uring", (f"--{flag}",))
    for feature, flag in (("poll-first", "poll-first"), ("multishot", "multishot"), ("fixed-files", "fixed-files"),
                          ("reg-ring", "reg-ring"), ("send-zc", "send-zc"), ("all", "all-features"),
                          ("bundle", "bundle"), ("multishot-64k", "multishot-64k"))
)
ASOCK_SERVERS = ("asock-io_uring", "asock-epoll")
# A server's exit status at start when the machine cannot run its backend (io_uring disabled).
SKIP_STATUS = 3


@dataclass(frozen=True)
class Shape:
    key: str
    label: str
    connections: int
    size: int
    gather: bool = False  # served by the --gather instances


def size_label(size):
    return f"{size // 1024} KiB" if size % 1024 == 0 else f"{size} B"


def ping_pong_shapes():
    return [
        Shape(f"{c}x{size_label(s).replace(' ', '')}", f"{c} × {size_label(s)}", c, s)
        for c in (1, 16, 256, 1000)
        for s in (64, 1024, 16384)
    ]


SHAPES = ping_pong_shapes() + [
    Shape("stream", "stream: 1 × 64 KiB", 1, 65536),
    Shape("gather", "gather: 16 × 1040 B, 2 buffers", 16, 1040, gather=True),
    Shape("gather-baseline", "16 × 1040 B, 1 buffer", 16, 1040),
]
QUICK_SHAPES = ("1x64B", "16x1KiB", "256x1KiB", "1000x16KiB", "stream", "gather", "gather-baseline")
# The shapes the targets are judged on get more repetitions (--target-reps): their
# run-to-run spread on a shared two-core VM is several per cent, as large as the margins.
TARGET_SHAPES = ("1x64B", "16x1KiB", "256x1KiB", "16x16KiB", "256x16KiB")


def reps_for(shape, args):
    return args.target_reps if shape.key in TARGET_SHAPES else args.reps


def log(message):
    print(message, file=sys.stderr, flush=True)


def pinned_to(cpu):
    """A preexec_fn that pins the child (and the threads it will start) to one CPU."""
    return None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu}))


class Instance:
    """One running echo server process."""

    def __init__(self, server, gather, build_dir, log_dir, cpu):
        self.server = server
        self.gather = gather
        self.label = server.name + (" --gather" if gather else "")
        self.log_path = os.path.join(log_dir, server.name + ("-gather" if gather else "") + ".log")
        binary = os.path.join(build_dir, "bench", "servers", server.binary)
        command = [binary, "--port", "0", *server.args] + (["--gather"] if gather else [])
        with open(self.log_path, "w") as log_file:
            self.process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, preexec_fn=pinned_to(cpu))
        self.port = None
        self.failed = None  # why this server is out of the race, once it is
        self.skipped = False  # failed because the machine cannot run it: not an error

    def wait_ready(self, timeout=10.0):
        """Waits for the ready line; sets self.failed if the server exits or stays silent."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log_path) as log_file:
                match = re.search(r"listening on 127\.0\.0\.1:(\d+)", log_file.read())
            if match:
                self.port = int(match.group(1))
                return
            if self.process.poll() is not None:
                self.failed = f"exited with status {self.process.returncode} at start: {self.log_tail()}"
                self.skipped = self.process.returncode == SKIP_STATUS
                return
            time.sleep(0.02)
        self.failed = "no ready line within 10 s"
        self.process.kill()

    def log_tail(self):
        with open(self.log_path) as log_file:
            return " | ".join(log_file.read().strip().splitlines()[-3:])

    def alive(self):
        if self.failed is None and self.process.poll() is not None:
            self.failed = f"died (status {self.process.returncode}): {self.log_tail()}"
        return self.failed is None

    def stop(self):
        """SIGTERM; an error message unless it exits with status 0 within a second."""
        if self.process.poll() is not None:
            return None if self.failed else f"exited early (status {self.process.returncode})"
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return "still running 1 s after SIGTERM (killed)"
        return None if status == 0 else f"exit status {status} after SIGTERM: {self.log_tail()}"


def run_loadgen(loadgen, instance, shape, args, cpu):
    """One measured run. Returns (result dict, None) or (None, error message)."""
    command = [loadgen, "--port", str(instance.port), "--connections", str(shape.connections),
               "--size", str(shape.size), "--seconds", str(args.seconds), "--warmup", str(args.warmup),
               "--server-pid", str(instance.process.pid)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.seconds + args.warmup + 60,
                              preexec_fn=pinned_to(cpu))
    except subprocess.TimeoutExpired:
        return None, "bench-loadgen did not finish in time"
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
    if done.returncode != 0 or result is None or result.get("errors", 1) != 0:
        return None, f"bench-loadgen status {done.returncode}: {done.stderr.strip() or done.stdout.strip()}"
    if result["round_trips"] == 0:
        return None, "no round trip completed in the measured window (the server stalled)"
    return result, None


def start_instances(servers, shapes, args, server_cpu):
    """Starts every server needed (a --gather instance too if a gather shape is run)."""
    log_dir = os.path.join(args.out_dir, "logs")
    os.makedirs(log_dir, exist_ok=True)
    modes = sorted({shape.gather for shape in shapes})
    instances = {}
    for server in servers:
        if not os.access(os.path.join(args.build_dir, "bench", "servers", server.binary), os.X_OK):
            continue
        for gather in modes:
            if server.only_shapes and not any(s.key in server.only_shapes and s.gather == gather for s in shapes):
                continue
            instances[(server.name, gather)] = Instance(server, gather, args.build_dir, log_dir, server_cpu)
    for instance in instances.values():
        instance.wait_ready()
        log(f"  {instance.label}: " + (f"port {instance.port}" if instance.failed is None else instance.failed))
    return instances


def run_all(instances, servers, shapes, args, loadgen_cpu):
    """The interleaved runs. Returns ({shape: {server: [result, ...]}}, [error, ...])."""
    # Each round starts one server further along (A B C, B C A, C A B ...), so that no server
    # is always the first one loaded after a change of shape.
    plan = [(shape, rep, server) for shape in shapes for rep in range(reps_for(shape, args))
            for server in servers[rep % len(servers):] + servers[:rep % len(servers)]
            if (server.name, shape.gather) in instances and (not server.only_shapes or shape.key in server.only_shapes)]
    runs = {shape.key: {} for shape in shapes}
    errors = []
    started = time.monotonic()
    loadgen = os.path.join(args.build_dir, "bench", "servers", LOADGEN)
    for index, (shape, rep, server) in enumerate(plan, 1):
        instance = instances[(server.name, shape.gather)]
        if not instance.alive():
            continue
        result, error = run_loadgen(loadgen, instance, shape, args, loadgen_cpu)
        elapsed = time.monotonic() - started
        eta = elapsed / index * (len(plan) - index)
        prefix = f"[{index}/{len(plan)} {elapsed:4.0f}s, ~{eta:3.0f}s left] {shape.key} rep {rep + 1}/{reps_for(shape, args)} {server.name}"
        if error:
            errors.append({"server": server.name, "shape": shape.key, "rep": rep + 1, "error": error})
            log(f"{prefix}: ERROR {error}")
            continue
        runs[shape.key].setdefault(server.name, []).append(result)
        log(f"{prefix}: {result['round_trips_per_sec']:.0f} rt/s, p50 {result['p50_us']:.0f} µs, "
            f"p99 {result['p99_us']:.0f} µs, {result['server_cpu_us_per_rt']:.2f} µs CPU/rt")
    return runs, errors


def medians(runs):
    return {metric: statistics.median(run[metric] for run in runs) for metric in METRICS}


def fmt(value):
    """A figure with 3 significant digits at most, without exponent for the usual ranges."""
    if value is None:
        return "–"
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value >= 1 else f"{value:.2g}"


def shape_tables(data):
    lines = []
    headers = ["server"] + [METRIC_INFO[m][0] for m in METRICS]
    for shape in data["shapes"]:
        rows = data["results"].get(shape["key"], {})
        if not rows:
            continue
        lines += [f"### {shape['label']}", "", "| " + " | ".join(headers) + " |",
                  "|" + "---|" + "---:|" * len(METRICS)]
        for server in data["servers"]:
            if server in rows:
                lines.append(f"| {server} | " + " | ".join(fmt(rows[server][m]) for m in METRICS) + " |")
        lines.append("")
    return lines


def ratio_tables(data):
    """For each asock server and each compared metric: asock / peer, a row per shape."""
    peers = [s for s in data["servers"] if not s.startswith("asock")]
    lines = []
    for asock in ASOCK_SERVERS:
        for metric in ("round_trips_per_sec", "server_cpu_us_per_rt", "p50_us", "p99_us"):
            title, higher_better = METRIC_INFO[metric]
            better = "above 1 is better" if higher_better else "below 1 is better"
            lines += [f"### {asock} / peer: {title} ({better})", "",
                      "| shape | " + " | ".join(peers) + " |", "|---|" + "---:|" * len(peers)]
            for shape in data["shapes"]:
                rows = data["results"].get(shape["key"], {})
                if asock not in rows:
                    continue
                cells = [f"{rows[asock][metric] / rows[p][metric]:.2f}" if rows.get(p, {}).get(metric) else "–"
                         for p in peers]
                lines.append(f"| {shape['label']} | " + " | ".join(cells) + " |")
            lines.append("")
    return lines


def write_markdown(data, path):
    meta = data["meta"]
    lines = ["## Echo servers", "",
             f"Medians of {meta['reps']} interleaved run(s) of {meta['seconds']} s each (after {meta['warmup']} s of warm-up; "
             f"{meta.get('target_reps', meta['reps'])} runs for the shapes the targets use: {', '.join(meta.get('target_shapes', []))}); "
             "server CPU µs/rt = CPU time of all the server's threads during the measured window / round trips.", ""]
    lines += shape_tables(data)
    lines += ["## Ratios: asock / peer, same run", ""] + ratio_tables(data)
    if data["errors"]:
        lines += ["## Errors", ""] + [f"- {e['server']} {e['shape']} rep {e['rep']}: {e['error']}" for e in data["errors"]] + [""]
    with open(path, "w") as out:
        out.write("\n".join(lines))


def write_plot(data, out_dir):
    """OUT/benchmarks.png: server CPU per round trip and p99 by shape, a bar per server."""
    if shutil.which("gnuplot") is None:
        log("gnuplot not found (apt-get install gnuplot-nox): no plot")
        return
    servers = data["servers"]
    for metric in ("server_cpu_us_per_rt", "p99_us"):
        with open(os.path.join(out_dir, f"plot-{metric}.dat"), "w") as out:
            out.write("shape " + " ".join(f'"{s}"' for s in servers) + "\n")
            for shape in data["shapes"]:
                rows = data["results"].get(shape["key"], {})
                values = [f"{rows[s][metric]:.4g}" if s in rows and rows[s][metric] > 0 else "?" for s in servers]
                out.write(f'"{shape["label"]}" ' + " ".join(values) + "\n")
    script = f"""
set terminal pngcairo noenhanced size 1800,1200 font ",10"
set output "{out_dir}/benchmarks.png"
set multiplot layout 2,1
set style data histograms
set style histogram clustered gap 2
set style fill solid 0.85 noborder
set datafile missing "?"
set logscale y
set grid ytics mytics
set key outside right top
set xtics rotate by -25 nomirror
set bmargin 6
set title "Server CPU per round trip (µs, log scale, lower is better)"
plot for [i=2:{len(servers) + 1}] "{out_dir}/plot-server_cpu_us_per_rt.dat" using i:xtic(1) title columnheader(i)
set title "p99 round-trip latency (µs, log scale, lower is better)"
plot for [i=2:{len(servers) + 1}] "{out_dir}/plot-p99_us.dat" using i:xtic(1) title columnheader(i)
unset multiplot
"""
    done = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if done.returncode != 0:
        log(f"gnuplot failed: {done.stderr.strip()}")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", default="build/bench", help="the bench preset's build directory")
    parser.add_argument("--out-dir", default="build/bench/results")
    parser.add_argument("--seconds", type=float, help="measured seconds per run (default 1.0, 0.5 with --quick)")
    parser.add_argument("--warmup", type=float, default=0.2, help="warm-up seconds per run, not counted")
    parser.add_argument("--reps", type=int, help="repetitions per server and shape (default 3, 1 with --quick)")
    parser.add_argument("--target-reps", type=int,
                        help="repetitions of the shapes the targets are judged on: " + ", ".join(TARGET_SHAPES)
                        + " (default 5, or --reps with --quick; never fewer than --reps)")
    parser.add_argument("--servers", help="comma-separated server names (default: all built, without the opt-in "
                        "experiments: " + ",".join(s.name for s in EXPERIMENT_SERVERS) + ")")
    parser.add_argument("--shapes", help="comma-separated shape keys: " + ",".join(s.key for s in SHAPES))
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer shapes, one repetition")
    parser.add_argument("--no-pin", action="store_true", help="let the scheduler place the loadgen and servers")
    args = parser.parse_args()
    args.seconds = args.seconds or (0.5 if args.quick else 1.0)
    args.reps = args.reps or (1 if args.quick else 3)
    args.target_reps = max(args.reps, args.target_reps or (args.reps if args.quick else 5))
    return args


def select(items, names, key, what):
    """The items whose key(item) is in the comma-separated names (all if names is empty)."""
    if not names:
        return list(items)
    wanted = names.split(",")
    unknown = set(wanted) - {key(item) for item in items}
    if unknown:
        sys.exit(f"run_servers.py: unknown {what}: {', '.join(sorted(unknown))}")
    return [item for item in items if key(item) in wanted]


def cpu_layout(pin):
    """(loadgen CPU, server CPU), or (None, None): not pinned."""
    allowed = sorted(os.sched_getaffinity(0))
    return (allowed[0], allowed[1]) if pin and len(allowed) >= 2 else (None, None)


def main():
    args = parse_args()
    servers = select(SERVERS + EXPERIMENT_SERVERS if args.servers else SERVERS, args.servers, lambda s: s.name, "server")
    shapes = select(SHAPES, args.shapes, lambda s: s.key, "shape")
    if args.quick and not args.shapes:
        shapes = [s for s in shapes if s.key in QUICK_SHAPES]
    os.makedirs(args.out_dir, exist_ok=True)
    if not os.access(os.path.join(args.build_dir, "bench", "servers", LOADGEN), os.X_OK):
        sys.exit(f"run_servers.py: no {LOADGEN} in {args.build_dir}/bench/servers (build the bench preset first)")
    loadgen_cpu, server_cpu = cpu_layout(not args.no_pin)
    began = time.monotonic()
    log(f"run_servers.py: {len(shapes)} shapes x {args.reps} reps ({args.target_reps} for "
        f"{', '.join(TARGET_SHAPES)}), {args.seconds} s each; "
        f"loadgen on CPU {loadgen_cpu}, servers on CPU {server_cpu}; starting servers")
    instances = start_instances(servers, shapes, args, server_cpu)
    try:
        runs, errors = run_all(instances, servers, shapes, args, loadgen_cpu)
    finally:
        stop_errors = {i.label: i.stop() for i in instances.values()}
    errors += [{"server": i.label, "shape": "-", "rep": 0, "error": i.failed}
               for i in instances.values() if i.failed and not i.skipped]
    errors += [{"server": label, "shape": "-", "rep": 0, "error": e} for label, e in stop_errors.items() if e]
    skipped = {i.label: i.failed for i in instances.values() if i.skipped}
    missing = [s.name for s in servers if not any(key[0] == s.name for key in instances)]
    ran = [s.name for s in servers if any(s.name in per_shape for per_shape in runs.values())]
    data = {
        "meta": {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                 "seconds": args.seconds, "warmup": args.warmup, "reps": args.reps, "target_reps": args.target_reps,
                 "target_shapes": list(TARGET_SHAPES), "quick": args.quick,
                 "loadgen_cpu": loadgen_cpu, "server_cpu": server_cpu,
                 "wall_seconds": round(time.monotonic() - began, 1), "not_built": missing, "skipped": skipped},
        "shapes": [vars(s) for s in shapes],
        "servers": ran,
        "results": {shape: {server: dict(medians(results), runs=results) for server, results in per_server.items()}
                    for shape, per_server in runs.items()},
        "errors": errors,
    }
    with open(os.path.join(args.out_dir, "servers.json"), "w") as out:
        json.dump(data, out, indent=1)
    write_markdown(data, os.path.join(args.out_dir, "servers.md"))
    write_plot(data, args.out_dir)
    log(f"run_servers.py: done in {data['meta']['wall_seconds']:.0f} s; wrote {args.out_dir}/servers.json, "
        f"servers.md, benchmarks.png" + (f"; not built: {', '.join(missing)}" if missing else ""))
    for error in errors:
        log(f"ERROR {error['server']} {error['shape']}: {error['error']}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
