#!/usr/bin/env python3
"""Assembles docs/benchmarks.md from the benchmark results and checks asock's targets.

Reads RESULTS/servers.json and servers.md (bench/run_servers.py), RESULTS/inproc.json and
inproc.md when present (bench/inproc/run_inproc.py), RESULTS/http.json and http.md when present
(bench/run_http.py: the "HTTP plaintext" section, with its targets), RESULTS/timers.md when
present, RESULTS/stream.json and stream.md when present (bench/run_stream.py: the "One-way stream"
section), RESULTS/timers.md when present (bench/timers/run_timers.py: the "Timers" section, appended as it is), and
RESULTS/benchmarks.png. Writes the markdown file (machine, method, targets with PASS/MISS, the
tables, the plot), copies the plot next to it, and prints the targets and tables to stdout.

--timers-only: replaces only the "## Timers" section of the existing markdown file with
RESULTS/timers.md (appends it if the file has none), leaving the rest as it was.
--http-only: replaces only the "## HTTP plaintext" section with one built from RESULTS/http.json
and http.md (inserted before the Timers section, or appended, if the file has none).
--stream-only: replaces only the "## One-way stream" section with one built from RESULTS/stream.json
and stream.md (inserted before the Timers section, or appended, if the file has none).

Standard library only.
"""
import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys

CEILINGS = ("ceiling-epoll", "ceiling-io_uring")
ASIO = ("asio-epoll", "asio-io_uring")
PEER_PACKAGES = ("libasio-dev", "libuv1-dev", "liburing-dev")


def read_json(path):
    if not os.path.exists(path):
        return None
    with open(path) as source:
        return json.load(source)


def read_text(path):
    if not os.path.exists(path):
        return None
    with open(path) as source:
        return source.read().strip()


class Figures:
    """Looks up medians: servers.json per shape and server, inproc.json per library."""

    def __init__(self, servers, inproc):
        self.results = (servers or {}).get("results", {})
        self.libraries = (inproc or {}).get("libraries", {})

    def server(self, shape, name, metric):
        value = self.results.get(shape, {}).get(name, {}).get(metric)
        return value if value else None  # 0 means "not measured" (no round trip)

    def inproc(self, name, metric):
        return self.libraries.get(name, {}).get(metric)

    def best(self, shape, names, metric, higher_better):
        """(name, value) of the best of names at that shape, or (None, None)."""
        measured = [(self.server(shape, n, metric), n) for n in names if self.server(shape, n, metric) is not None]
        if not measured:
            return None, None
        value, name = (max if higher_better else min)(measured)
        return name, value

    def paired(self, shape, mine, theirs, metric):
        """min–max of the ratio mine / theirs over the rounds of the run (round i of both
        servers ran back to back), or "–": how far the machine's noise moves the ratio."""
        a = self.results.get(shape, {}).get(mine, {}).get("runs", [])
        b = self.results.get(shape, {}).get(theirs, {}).get("runs", [])
        ratios = [x[metric] / y[metric] for x, y in zip(a, b) if x.get(metric) and y.get(metric)]
        if len(a) != len(b) or len(ratios) < 2:
            return "–"
        return f"{min(ratios):.2f}–{max(ratios):.2f}"

    def peers(self, shape):
        return [n for n in self.results.get(shape, {}) if not n.startswith("asock")]


def fmt(value):
    if value is None:
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def row(target, mine, mine_name, theirs, theirs_name, limit, higher_better, spread="–"):
    """One line of the targets table: the ratio mine / theirs against the limit."""
    if mine is None or theirs is None:
        return [target, "–", "–", "–", "n/a (not measured)"]
    ratio = mine / theirs
    passed = ratio >= limit if higher_better else ratio <= limit
    measured = f"{mine_name} {fmt(mine)} vs {theirs_name} {fmt(theirs)}"
    return [target, measured, f"{ratio:.2f}", spread, "PASS" if passed else "MISS"]


def server_row(f, shape, target, mine_name, theirs_name, metric, limit, higher_better):
    """row() for an echo-server figure, with the per-round spread of the ratio."""
    return row(target, f.server(shape, mine_name, metric), mine_name, f.server(shape, theirs_name, metric),
               theirs_name, limit, higher_better, f.paired(shape, mine_name, theirs_name, metric))


def server_targets(f):
    """Issue 13's echo targets (asock against the peers of the same run)."""
    rows = []
    cpu = "server_cpu_us_per_rt"
    for shape, label in (("16x1KiB", "16 × 1 KiB"), ("256x1KiB", "256 × 1 KiB")):
        rows.append(server_row(f, shape, f"CPU/rt {label}: asock-io_uring ≤ 0.85 × asio-epoll", "asock-io_uring",
                               "asio-epoll", cpu, 0.85, False))
        name, _ = f.best(shape, CEILINGS, cpu, False)
        rows.append(server_row(f, shape, f"CPU/rt {label}: asock-io_uring ≤ 0.95 × the better ceiling",
                               "asock-io_uring", name, cpu, 0.95, False))
        rows.append(server_row(f, shape, f"CPU/rt {label}: asock-epoll ≤ 1.1 × ceiling-epoll", "asock-epoll",
                               "ceiling-epoll", cpu, 1.1, False))
    for shape, label in (("16x16KiB", "16 × 16 KiB"), ("256x16KiB", "256 × 16 KiB")):
        name, _ = f.best(shape, f.peers(shape), cpu, False)
        rows.append(server_row(f, shape, f"CPU/rt {label}: asock-io_uring ≤ 1.0 × every peer (the best shown)",
                               "asock-io_uring", name, cpu, 1.0, False))
    name, _ = f.best("1x64B", ASIO, "p50_us", False)
    rows.append(server_row(f, "1x64B", "p50 1 × 64 B: asock-io_uring-spin ≤ 0.6 × asio (the better one)",
                           "asock-io_uring-spin", name, "p50_us", 0.6, False))
    # Not a target: how close the busy-poll mode comes to a server that never sleeps at all.
    floor = server_row(f, "1x64B", "(reference) p50 1 × 64 B: asock-io_uring-spin vs ceiling-epoll-spin, the "
                       "machine's floor for a spinning server", "asock-io_uring-spin", "ceiling-epoll-spin", "p50_us",
                       1.0, False)
    rows.append(floor[:4] + ["–" if floor[4].startswith("n/a") else "info"])
    return rows


def inproc_targets(f):
    rows = []
    for asock in ("asock-io_uring", "asock-epoll"):
        rows.append(row(f"instructions/rt: {asock} ≤ 0.7 × asio-epoll", f.inproc(asock, "instructions_per_rt"), asock,
                        f.inproc("asio-epoll", "instructions_per_rt"), "asio-epoll", 0.7, False))
    for asock in ("asock-io_uring", "asock-epoll"):
        allocs = f.inproc(asock, "allocs_per_rt")
        rows.append([f"allocs/rt: {asock} = 0", "–" if allocs is None else f"{allocs:g}", "–", "–",
                     "n/a (not measured)" if allocs is None else ("PASS" if allocs == 0 else "MISS")])
        idle = f.inproc(asock, "idle_socket_bytes")
        rows.append([f"idle socket bytes: {asock} ≤ 192", fmt(idle), "–", "–",
                     "n/a (not measured)" if idle is None else ("PASS" if idle <= 192 else "MISS")])
    return rows


def targets_table(f):
    lines = ["| target | measured (medians) | ratio | per-round ratios | result |", "|---|---|---:|---:|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in server_targets(f) + inproc_targets(f)]
    return lines


def command_output(command):
    try:
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def compiler(build_dir):
    """The first line of `--version` of the C++ compiler the build used."""
    cache = read_text(os.path.join(build_dir, "CMakeCache.txt")) or ""
    match = re.search(r"^CMAKE_CXX_COMPILER:\w+=(.+)$", cache, re.MULTILINE)
    # realpath: /usr/bin/c++ is an alternatives link; its target names the compiler.
    output = command_output([os.path.realpath(match.group(1)) if match else "c++", "--version"])
    return output.splitlines()[0] if output else "unknown"


def cpu_model():
    cpuinfo = read_text("/proc/cpuinfo") or ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    virtual = re.search(r"^flags\s*:.*\bhypervisor\b", cpuinfo, re.MULTILINE)
    return (model.group(1) if model else "unknown") + (" (virtual machine)" if virtual else "")


def machine_table(servers, build_dir, command):
    packages = command_output(["dpkg-query", "-W", "-f", "${Package} ${Version}, ", *PEER_PACKAGES]) or "unknown"
    meta = servers["meta"]
    runs = sum(len(r["runs"]) for per_shape in servers["results"].values() for r in per_shape.values())
    return ["| | |", "|---|---|",
            f"| date | {meta['date']} |",
            f"| CPUs | {os.cpu_count()} × {cpu_model()} |",
            f"| kernel | Linux {platform.release()} |",
            f"| compiler | {compiler(build_dir)} |",
            f"| peers (Debian packages) | {packages.rstrip(', ')} |",
            f"| command | `{command}` |",
            f"| echo-server runs | {runs} in {meta['wall_seconds']:.0f} s |"]


def method(meta, shapes):
    pinning = (f"the load generator is pinned to CPU {meta['loadgen_cpu']} and every server to CPU {meta['server_cpu']}"
               if meta["server_cpu"] is not None else "nothing is pinned to a CPU")
    return [
        "- **Servers** (`bench/servers/`): one echo server per library, all doing the same job with the same "
        "command line: one I/O thread, a 64 KiB buffer per connection, receive, send back exactly the bytes "
        "received, receive again; TCP_NODELAY. asock runs its example server (`examples/echo_server.c`). The "
        "*ceilings* are servers written for this one job on the bare system calls (an epoll loop; liburing "
        "directly): what a library could at best approach. `asock-io_uring-spin` is asock with "
        "`execution_engine_linux_set_busy_poll(engine, 50)`, run on the 1 × 64 B shape only.",
        "- **Load**: `bench-loadgen` (`examples/loadgen.cpp`), one thread, closed loop: each connection sends a "
        "message, waits for the whole echo, checks it byte for byte, sends the next. Connections are opened "
        f"before the run; the first {meta['warmup']} s are warm-up, then {meta['seconds']} s are measured. "
        "Latency is from the first byte sent to the last byte back.",
        "- **Shapes** (connections × message size): " + "; ".join(s["label"] for s in shapes) + ". *stream* is "
        "ping-pong with 64 KiB messages; *gather* sends each echo as two buffers (16 B + the rest) in one gathered "
        "send, against the same shape with one buffer.",
        f"- **Interleaving, medians**: all servers run at once (idle when not loaded); for each shape and each of "
        f"{meta['reps']} repetition(s) ({meta.get('target_reps', meta['reps'])} for the shapes the targets use), the servers are loaded in turn (A B C …, then B C … A, each round starting one server further along), so that a slow phase of "
        "the machine hits all of them. Every figure is the median over the repetitions; ratios compare medians "
        f"of the same run. {pinning[0].upper() + pinning[1:]}.",
        "- **Server CPU per round trip** = CPU time of all the server's threads during the measured window "
        "(sum of `/proc/PID/task/*/schedstat`, ns) / round trips in the window. It counts the server's user "
        "and kernel time, including the system calls that move the bytes, so it is the server's whole cost "
        "per echo; idle time (blocked in the kernel) is not counted.",
        "- Ratios are asock / peer: below 1 is better for CPU and latency, above 1 for round trips/s and MiB/s. "
        "A target's verdict is on the ratio of the medians; *per-round ratios* gives the lowest and highest ratio "
        "of single rounds (asock's run and the peer's, back to back in the same round), which shows how far this "
        "machine's noise moves a ratio between one run and the next.",
    ] + ([
        "- On a virtual machine, waking a thread that sleeps on the other CPU goes through the hypervisor: at one "
        "connection that wake-up, paid by every server alike, dominates the CPU per round trip and the latency.",
    ] if "virtual machine" in cpu_model() else [])


def build_document(servers, inproc_md, f, results_dir, build_dir, command):
    lines = ["# Benchmarks", "",
             "Generated by `bench/report.py` from the results of the command below; regenerate rather than edit.", "",
             "## Machine", ""] + machine_table(servers, build_dir, command)
    lines += ["", "## Method", ""] + method(servers["meta"], servers["shapes"])
    lines += ["", "## Targets", ""] + targets_table(f)
    if os.path.exists(os.path.join(results_dir, "benchmarks.png")):
        lines += ["", "![Server CPU per round trip and p99 latency by shape](benchmarks.png)"]
    lines += ["", read_text(os.path.join(results_dir, "servers.md")) or "(no servers.md)"]
    lines += ["", "## In-process measurements", "",
              inproc_md or "Not measured: `bench/inproc/run_inproc.py` left no `inproc.md` in the results."]
    http = read_json(os.path.join(results_dir, "http.json"))
    if http is not None:
        lines += [""] + http_section(http, read_text(os.path.join(results_dir, "http.md")), command)
    stream = read_json(os.path.join(results_dir, "stream.json"))
    if stream is not None:
        lines += [""] + stream_section(stream, read_text(os.path.join(results_dir, "stream.md")), command)
    kernel = read_json(os.path.join(results_dir, "kernel", "servers.json"))
    if kernel is not None:
        lines += [""] + kernel_section(kernel, command)
    timers_md = read_text(os.path.join(results_dir, "timers.md"))
    if timers_md:
        lines += ["", timers_md]
    return "\n".join(lines) + "\n"


# The HTTP plaintext benchmark (issue 13): bench/run_http.py's results and the targets.
HTTP_HEADING = "## HTTP plaintext"
HTTP_ASOCK = "asock-io_uring"
HTTP_CEILINGS = ("ceiling-epoll", "ceiling-io_uring")
HTTP_RPS = "requests_per_sec"
HTTP_CPU = "server_cpu_us_per_req"


class HttpFigures:
    """Looks up http.json: medians per shape and server, and the ratios of single rounds."""

    def __init__(self, http):
        self.results = http.get("results", {})

    def median(self, shape, server, metric):
        value = self.results.get(shape, {}).get(server, {}).get(metric)
        return value if value else None

    def better_ceiling(self, shape, metric, higher_better):
        """The ceiling with the better median at that shape (None if neither was measured)."""
        measured = [(self.median(shape, c, metric), c) for c in HTTP_CEILINGS if self.median(shape, c, metric)]
        return (max if higher_better else min)(measured)[1] if measured else None

    def round_range(self, shape, mine, theirs, metric):
        """min–max of mine / theirs over the rounds both completed (round i of every server ran
        back to back), or "–" with fewer than two rounds."""
        def by_round(server):
            return {run["rep"]: run.get(metric) for run in self.results.get(shape, {}).get(server, {}).get("runs", [])}
        a, b = by_round(mine), by_round(theirs)
        ratios = [a[r] / b[r] for r in a if r in b and a[r] and b[r]]
        return f"{min(ratios):.2f}–{max(ratios):.2f}" if len(ratios) >= 2 else "–"


def http_target(f, shape, label, metric, theirs, limit, higher_better):
    """One row of the HTTP targets table: asock-io_uring / theirs at shape against the limit."""
    what = "requests/s" if metric == HTTP_RPS else "CPU/request"
    target = f"{label}: {what} {'≥' if higher_better else '≤'} {limit:g} × {theirs or 'the better ceiling'}"
    mine, other = f.median(shape, HTTP_ASOCK, metric), f.median(shape, theirs, metric) if theirs else None
    if mine is None or other is None:
        return [target, "–", "–", f"{limit:g}", "–", "not measured"]
    ratio = mine / other
    met = ratio >= limit if higher_better else ratio <= limit
    unit = "" if metric == HTTP_RPS else " µs"
    return [target, f"{HTTP_ASOCK} {fmt(mine)}{unit} vs {theirs} {fmt(other)}{unit}", f"{ratio:.2f}", f"{limit:g}",
            f.round_range(shape, HTTP_ASOCK, theirs, metric), "met" if met else "not met"]


def http_targets_table(http):
    """Issue 13's HTTP targets, asock-io_uring (one thread) against its peers in the same run."""
    f = HttpFigures(http)
    deep, shallow = "256c-d16", "256c-d1"
    deep_label, shallow_label = "256 conns, depth 16", "256 conns, depth 1"
    rows = [
        http_target(f, deep, deep_label, HTTP_RPS, "nginx", 5, True),
        http_target(f, deep, deep_label, HTTP_RPS, f.better_ceiling(deep, HTTP_RPS, True), 0.9, True),
        http_target(f, deep, deep_label, HTTP_CPU, f.better_ceiling(deep, HTTP_CPU, False), 1.15, False),
        http_target(f, deep, deep_label, HTTP_CPU, "asio-epoll", 0.8, False),
        http_target(f, deep, deep_label, HTTP_CPU, "libuv", 0.8, False),
        http_target(f, shallow, shallow_label, HTTP_CPU, "nginx", 0.75, False),
        http_target(f, shallow, shallow_label, HTTP_CPU, f.better_ceiling(shallow, HTTP_CPU, False), 1.05, False),
    ]
    lines = ["| target (asock-io_uring, 1 thread) | measured (medians) | ratio | limit | per-round ratios | verdict |",
             "|---|---|---:|---:|---:|---|"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def http_section(http, http_md, command):
    """The "## HTTP plaintext" section: how it was run, the targets, run_http.py's tables."""
    meta = http["meta"]
    shapes = "; ".join(s["label"] for s in http.get("shapes", []))
    lines = [f"{HTTP_HEADING} (issue 13)", "",
             f"Run {meta['date']} by `{command}` ({meta['reps']} interleaved round(s) of {meta['seconds']} s per "
             f"server and shape, {meta['wall_seconds']:.0f} s in all; {meta.get('wrk') or 'wrk'}; "
             f"{meta.get('nginx') or 'nginx not found'}). Shapes: {shapes}.", "",
             "- **Servers**: one I/O thread each (asock-io_uring-2t: two), the TechEmpower *plaintext* job: keep-alive, "
             "pipelining (every complete request in the input answered, the batch sent in one write), a 16 KiB "
             "request buffer, `400` and close on a malformed or oversized request. asock runs its example server "
             "(`examples/http_server.c`); Asio, libuv and the two ceilings (bare epoll, bare liburing) are in "
             "`bench/servers/http_*`; all of them parse and answer with `examples/http_plaintext.h`, so they differ "
             "only in how they move bytes. nginx (`nginx-light`) runs `bench/http/nginx.conf`: one process that is "
             "its own worker, access log off.",
             "- **Load**: `wrk -t1` with `bench/http/pipeline.lua` (DEPTH pipelined `GET /plaintext` per write); "
             "a run with any socket error or non-2xx/3xx response fails. Latency is per batch (write to last "
             "response) from wrk's recorded samples, without wrk's coordinated-omission correction.",
             "- **Server CPU per request**: CPU time of all the server's threads (`/proc/PID/task/*/schedstat`) "
             "while wrk ran / requests completed. Each verdict is on the ratio of the medians; *per-round ratios* "
             "gives the lowest and highest ratio of single rounds.", "",
             "### HTTP targets", ""] + http_targets_table(http)
    lines += ["", http_md or "(no http.md)"]
    return lines


# The one-way stream (issue 13, item 4): bench/run_stream.py's results.
STREAM_HEADING = "## One-way stream"


def stream_section(stream, stream_md, command):
    """The "## One-way stream" section: how it was run and run_stream.py's table and verdict."""
    meta = stream["meta"]
    return [f"{STREAM_HEADING} (issue 13)", "",
            f"Run {meta['date']} by `{command}` ({meta['reps']} interleaved round(s) of {meta['seconds']} s + "
            f"{meta['warmup']} s warm-up per shape, {meta['wall_seconds']:.0f} s in all; kernel {meta['kernel']}).", "",
            "- **Shapes**: one TCP connection, the source writes 64 KiB buffers for the whole run, the sink reads "
            "into a 64 KiB buffer; nothing comes back. *The limit* is two plain processes, blocking `send` and "
            "blocking `recv` (`bench/stream/stream_plain_*.c`), measured in the same run: what this machine moves "
            "through one loopback stream. The asock rows put asock (one engine thread, `bench/stream/stream_asock_*.c`) "
            "on one side: the sink with back-to-back 64 KiB receives, the source with two 64 KiB sends in flight.",
            "- **Figures**: MiB/s is counted by the source over the measured window (after the warm-up); the target "
            "(issue 13: asock ≥ 0.9× the machine's limit) is judged on the ratio of the medians.", "",
            stream_md or "(no stream.md)"]


# The kernel features of issue 13, tried on the bare io_uring ceiling (bench/run_servers.py's
# experiment servers, run into RESULTS/kernel/): each against the plain ceiling in the same run.
KERNEL_HEADING = "## Kernel features"
KERNEL_BASE = "ceiling-io_uring"
KERNEL_FEATURES = {
    "poll-first": "`IORING_RECVSEND_POLL_FIRST` on a recv after one that drained the socket (5.19)",
    "multishot": "one multishot recv per connection into a ring of provided buffers (1024 × 16 KiB), copied "
                 "into the connection's buffer (6.0)",
    "multishot-64k": "the same with 64 KiB provided buffers",
    "bundle": "multishot recv with `IORING_RECVSEND_BUNDLE`: one completion for several provided buffers (6.10)",
    "fixed-files": "each socket also in a registered (fixed) file table, operations with `IOSQE_FIXED_FILE`",
    "reg-ring": "a registered ring descriptor (`io_uring_register_ring_fd`)",
    "send-zc": "`IORING_OP_SEND_ZC` for sends of 16 KiB or more (6.0)",
    "all": "all of poll-first, multishot, fixed-files, reg-ring and send-zc together",
}
# A feature counts as a gain at a shape when its CPU per round trip is at most this fraction of
# the plain ceiling's, both as the ratio of the medians and as the median of the per-round
# ratios (one lucky round does not make a gain); as a cost when both are above the inverse.
KERNEL_GAIN = 0.97


def kernel_verdict(ratio, round_ratios):
    if ratio is None:
        return "–"
    typical = statistics.median(round_ratios) if round_ratios else ratio
    if ratio <= KERNEL_GAIN and typical <= KERNEL_GAIN:
        return "gain"
    if ratio >= 1 / KERNEL_GAIN and typical >= 1 / KERNEL_GAIN:
        return "cost"
    return "no gain"


def kernel_section(kernel, command):
    """The "## Kernel features" section: each feature's server CPU per round trip against the plain
    io_uring ceiling, shape by shape, with the spread of single rounds and a verdict."""
    meta = kernel["meta"]
    results = kernel.get("results", {})
    f = Figures(kernel, None)
    shapes = [s for s in kernel.get("shapes", []) if s["key"] in results]
    variants = sorted({n for shape in results.values() for n in shape if n.startswith(KERNEL_BASE + "+")},
                      key=lambda n: list(KERNEL_FEATURES).index(n.split("+", 1)[1])
                      if n.split("+", 1)[1] in KERNEL_FEATURES else 99)
    cpu = "server_cpu_us_per_rt"
    lines = [f"{KERNEL_HEADING} (issue 13)", "",
             f"Run {meta['date']} by `{command}` ({meta['reps']} interleaved rounds of {meta['seconds']} s per "
             f"shape, {meta['wall_seconds']:.0f} s in all). Each feature is tried where it is cheapest to use, on "
             f"the bare liburing echo server (`bench/servers/echo_ceiling_uring.c`, one flag per feature, probed "
             f"at start-up), against the same server without it, in the same interleaved run as the echo "
             f"benchmark's method. A cell is the feature's server CPU per round trip / the plain ceiling's (ratio "
             f"of medians; below 1 is a saving), then the lowest–highest ratio of single rounds, then the verdict: "
             f"*gain* when both the ratio of the medians and the median of the per-round ratios are ≤ {KERNEL_GAIN}, "
             f"*cost* when both are ≥ {1 / KERNEL_GAIN:.2f}, else *no gain*.",
             "", "| feature | " + " | ".join(s["label"] for s in shapes) + " |",
             "|---|" + "---:|" * len(shapes),
             f"| plain ceiling, µs/rt | " + " | ".join(fmt(f.server(s["key"], KERNEL_BASE, cpu)) for s in shapes) + " |"]
    for name in variants:
        cells = []
        for s in shapes:
            mine, base = f.server(s["key"], name, cpu), f.server(s["key"], KERNEL_BASE, cpu)
            if mine is None or base is None:
                cells.append("–")
                continue
            a = results[s["key"]][name].get("runs", [])
            b = results[s["key"]][KERNEL_BASE].get("runs", [])
            rounds = [x[cpu] / y[cpu] for x, y in zip(a, b) if x.get(cpu) and y.get(cpu)]
            spread = f" ({min(rounds):.2f}–{max(rounds):.2f})" if len(rounds) >= 2 else ""
            cells.append(f"{mine / base:.2f}{spread} {kernel_verdict(mine / base, rounds)}")
        lines.append(f"| {name.split('+', 1)[1]} | " + " | ".join(cells) + " |")
    lines += [""] + [f"- **{name.split('+', 1)[1]}**: {KERNEL_FEATURES.get(name.split('+', 1)[1], '')}"
                     for name in variants]
    lines += ["", "asock uses a feature only where this table shows a gain without a cost elsewhere; "
              "`docs/design.md` (\"Kernel features\") records what asock uses and why."]
    return lines


def write_kernel_only(results_dir, output, command):
    write_json_section(results_dir, output, os.path.join("kernel", "servers.json"), "scripts/bench.sh kernel",
                       lambda kernel: kernel_section(kernel, command), KERNEL_HEADING, "Kernel features")


TIMERS_HEADING = "## Timers"


def replace_section(document, heading, section, before=None):
    """document with its section that starts with heading (up to the next "## " heading)
    replaced by section; without one, section goes before the section starting with `before`
    if there is one, else at the end."""
    lines = document.rstrip("\n").split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith(heading)), None)
    if start is None:
        at = next((i for i, line in enumerate(lines) if before and line.startswith(before)), None)
        if at is None:
            return "\n".join(lines) + "\n\n" + section.strip() + "\n"
        return "\n".join(lines[:at] + section.strip().split("\n") + [""] + lines[at:]) + "\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    kept_after = lines[end:]
    return "\n".join(lines[:start] + section.strip().split("\n") + ([""] + kept_after if kept_after else [])) + "\n"


def rewrite_section(output, heading, title, section, before):
    """Replaces the section of the output file that starts with heading (see replace_section),
    and prints it."""
    document = read_text(output)
    if document is None:
        sys.exit(f"report.py: no {output} to put the {title} section in (run scripts/bench.sh once)")
    with open(output, "w") as out:
        out.write(replace_section(document, heading, section, before=before))
    print(section)
    print(f"report.py: rewrote the {title} section of {output}", file=sys.stderr)


def write_timers_only(results_dir, output):
    section = read_text(os.path.join(results_dir, "timers.md"))
    if section is None:
        sys.exit(f"report.py: no timers.md in {results_dir} (run bench/timers/run_timers.py first)")
    rewrite_section(output, TIMERS_HEADING, "Timers", section, None)


def write_json_section(results_dir, output, name, producer, lines_of, heading, title):
    """Rewrites one section (before the Timers one) from RESULTS/name, which producer writes:
    lines_of(the parsed JSON) gives its lines."""
    data = read_json(os.path.join(results_dir, name))
    if data is None:
        sys.exit(f"report.py: no {name} in {results_dir} (run {producer} first)")
    rewrite_section(output, heading, title, "\n".join(lines_of(data)), TIMERS_HEADING)


def write_http_only(results_dir, output, command):
    write_json_section(results_dir, output, "http.json", "bench/run_http.py",
                       lambda http: http_section(http, read_text(os.path.join(results_dir, "http.md")), command),
                       HTTP_HEADING, "HTTP plaintext")


def write_stream_only(results_dir, output, command):
    write_json_section(results_dir, output, "stream.json", "bench/run_stream.py",
                       lambda stream: stream_section(stream, read_text(os.path.join(results_dir, "stream.md")), command),
                       STREAM_HEADING, "One-way stream")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default="build/bench/results", help="the directory run_servers.py wrote")
    parser.add_argument("--build-dir", default="build/bench", help="for the compiler version")
    parser.add_argument("--output", default="docs/benchmarks.md")
    parser.add_argument("--command", default="scripts/bench.sh", help="the command to record as the one run")
    parser.add_argument("--timers-only", action="store_true",
                        help="replace only the Timers section of --output with RESULTS/timers.md")
    parser.add_argument("--http-only", action="store_true",
                        help="replace only the HTTP plaintext section of --output with one from RESULTS/http.json")
    parser.add_argument("--stream-only", action="store_true",
                        help="replace only the One-way stream section of --output with one from RESULTS/stream.json")
    parser.add_argument("--kernel-only", action="store_true",
                        help="replace only the Kernel features section of --output with one from RESULTS/kernel/")
    return parser.parse_args()


def main():
    args = parse_args()
    if args.timers_only:
        write_timers_only(args.results, args.output)
        return
    if args.http_only:
        write_http_only(args.results, args.output, args.command)
        return
    if args.stream_only:
        write_stream_only(args.results, args.output, args.command)
        return
    if args.kernel_only:
        write_kernel_only(args.results, args.output, args.command)
        return
    servers = read_json(os.path.join(args.results, "servers.json"))
    if servers is None:
        sys.exit(f"report.py: no servers.json in {args.results} (run bench/run_servers.py first)")
    inproc = read_json(os.path.join(args.results, "inproc.json"))
    figures = Figures(servers, inproc)
    document = build_document(servers, read_text(os.path.join(args.results, "inproc.md")), figures, args.results,
                              args.build_dir, args.command)
    with open(args.output, "w") as out:
        out.write(document)
    plot = os.path.join(args.results, "benchmarks.png")
    if os.path.exists(plot):
        shutil.copy(plot, os.path.join(os.path.dirname(args.output) or ".", "benchmarks.png"))
    print(document)
    print(f"report.py: wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
