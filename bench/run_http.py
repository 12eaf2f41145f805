#!/usr/bin/env python3
"""Runs the HTTP/1.1 plaintext benchmark (the TechEmpower shape): asock and its peers under wrk.

Every HTTP server is started once, each on its own free port: asock's example server
(bench-http-asock, built from examples/http_server.c; io_uring and epoll with one thread, and
io_uring with two), the same job on Asio and on libuv, a bare-epoll and a bare-liburing ceiling
(bench/servers/http_*.c*, all sharing examples/http_plaintext.h through bench_http.c), and nginx
(Debian nginx-light, bench/http/nginx.conf: one process that is its own worker). They sleep while
another one is loaded. For each shape (connections x pipelining depth) and each repetition, the
servers are loaded in turn (A B C ... then B C ... A), so that a slow phase of the machine hits
every server alike; the figures kept are the medians over the repetitions.

The load is wrk with one thread and bench/http/pipeline.lua, which writes DEPTH pipelined
"GET /plaintext" requests at a time and prints wrk's figures as JSON at the end. A run with any
error (connect, read, write, timeout) or any non-2xx/3xx response is a failed run. Latency is
per batch (write to last response), from the samples wrk recorded: pipeline.lua undoes wrk 4.1's
coordinated-omission correction, which pipelining breaks (its p99 can even read 0). Before the
runs, each server is checked once: two pipelined requests must get two 200 responses with the
body "Hello, World!" and a Date header.

With two or more CPUs wrk runs on the first allowed CPU and every server on the second (unless
--no-pin); the two-thread asock server is pinned to both (it cannot run two threads on one CPU),
so it shares a CPU with wrk, and its table row says so.

Server CPU per request = CPU time of all the server's threads from just before wrk starts to
just after it exits (the sum of /proc/PID/task/*/schedstat, nanoseconds; /proc/PID/stat utime +
stime, clock ticks, where schedstat is missing) / the requests wrk completed.

Writes OUT/http.json (every run and the medians) and OUT/http.md (tables, ratios). Exits
non-zero if a run failed or a server misbehaved; the results of the other runs are still written.

Standard library only.
"""
import argparse
import datetime
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
PIPELINE_LUA = os.path.join(HERE, "http", "pipeline.lua")
NGINX_CONF = os.path.join(HERE, "http", "nginx.conf")

METRICS = ("requests_per_sec", "p50_us", "p99_us", "server_cpu_us_per_req")
# Per metric: its column title, and whether a higher value is better.
METRIC_INFO = {
    "requests_per_sec": ("requests/s", True),
    "p50_us": ("p50 µs", False),
    "p99_us": ("p99 µs", False),
    "server_cpu_us_per_req": ("server CPU µs/request", False),
}
# wrk's error counts; status_errors: responses with a status above 399 (what wrk prints as
# "Non-2xx or 3xx responses").
# Shown in the shape tables only: how busy the server's CPU was (100 = one CPU all the time). Far
# below 100 means the load generator, not the server, set the pace.
BUSY = "server_busy_pct"
WRK_ERRORS = ("connect_errors", "read_errors", "write_errors", "timeouts", "status_errors")


@dataclass(frozen=True)
class Server:
    name: str
    binary: str  # in BUILD/bench/servers; "nginx": the system's nginx with bench/http/nginx.conf
    args: tuple = ()
    threads: int = 1  # > 1: pinned to the server CPU and the wrk CPU alike


SERVERS = (
    Server("asock-io_uring", "bench-http-asock", ("--backend", "io_uring")),
    Server("asock-epoll", "bench-http-asock", ("--backend", "epoll")),
    Server("asock-io_uring-2t", "bench-http-asock", ("--backend", "io_uring", "--threads", "2"), threads=2),
    Server("asock-io_uring-2t-per-loop", "bench-http-asock", ("--backend", "io_uring", "--threads", "2", "--per-loop"), threads=2),
    Server("asio-epoll", "bench-http-asio-epoll"),
    Server("libuv", "bench-http-libuv"),
    Server("ceiling-epoll", "bench-http-ceiling-epoll"),
    Server("ceiling-io_uring", "bench-http-ceiling-uring"),
    Server("nginx", "nginx"),
)
ASOCK = "asock-io_uring"  # the server the ratios are of
ASOCK_SERVERS = ("asock-io_uring", "asock-epoll", "asock-io_uring-2t", "asock-io_uring-2t-per-loop")
CEILINGS = ("ceiling-epoll", "ceiling-io_uring")
# A server's exit status at start when the machine cannot run its backend (io_uring disabled).
SKIP_STATUS = 3


@dataclass(frozen=True)
class Shape:
    key: str
    label: str
    connections: int
    depth: int


SHAPES = [Shape(f"{c}c-d{d}", f"{c} connections, depth {d}", c, d) for c in (16, 256) for d in (1, 16)]
QUICK_SHAPES = ("256c-d1", "256c-d16")  # the shapes the targets are judged on


def log(message):
    print(message, file=sys.stderr, flush=True)


def pinned_to(cpus):
    """A preexec_fn that pins the child (and the threads it will start) to a set of CPUs."""
    return None if not cpus else (lambda: os.sched_setaffinity(0, cpus))


def process_cpu_ns(pid):
    """CPU time of all the process's threads so far, in ns (None if it is gone)."""
    total, seen = 0, False
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat") as source:
                    total += int(source.read().split()[0])
                    seen = True
            except (OSError, ValueError, IndexError):
                continue  # a thread that just ended, or no schedstat
        if seen:
            return total
        with open(f"/proc/{pid}/stat") as source:
            fields = source.read().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Instance:
    """One running HTTP server process."""

    def __init__(self, server, build_dir, log_dir, cpus):
        self.server = server
        self.cpus = cpus
        self.log_path = os.path.join(log_dir, server.name + ".log")
        self.port = None
        self.failed = None  # why this server is out of the race, once it is
        self.skipped = False  # failed because the machine cannot run it: not an error
        self.temp_dir = None
        if server.binary == "nginx":
            self.port = free_port()
            self.temp_dir = tempfile.mkdtemp(prefix="asock-bench-nginx-")
            with open(NGINX_CONF) as source:
                config = source.read().replace("@PORT@", str(self.port)).replace("@TMP@", self.temp_dir)
            config_path = os.path.join(self.temp_dir, "nginx.conf")
            with open(config_path, "w") as out:
                out.write(config)
            command = [shutil.which("nginx") or "/usr/sbin/nginx", "-p", self.temp_dir, "-e",
                       os.path.join(self.temp_dir, "error.log"), "-c", config_path]
        else:
            command = [os.path.join(build_dir, "bench", "servers", server.binary), "--port", "0", *server.args]
        with open(self.log_path, "w") as log_file:
            self.process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, preexec_fn=pinned_to(cpus))

    def wait_ready(self, timeout=10.0):
        """Waits for the ready line (nginx: for its port to accept); sets self.failed if the
        server exits or stays silent."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.temp_dir is not None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                    return
                except OSError:
                    pass
            else:
                with open(self.log_path) as log_file:
                    match = re.search(r"listening on 127\.0\.0\.1:(\d+)", log_file.read())
                if match:
                    self.port = int(match.group(1))
                    return
            if self.process.poll() is not None:
                self.failed = f"exited with status {self.process.returncode} at start: {self.log_tail()}"
                self.skipped = self.process.returncode == SKIP_STATUS and self.temp_dir is None
                return
            time.sleep(0.02)
        self.failed = "not ready within 10 s"
        self.process.kill()

    def log_tail(self):
        text = ""
        for path in [self.log_path] + ([os.path.join(self.temp_dir, "error.log")] if self.temp_dir else []):
            if os.path.exists(path):
                with open(path) as log_file:
                    text += log_file.read()
        return " | ".join(text.strip().splitlines()[-3:])

    def alive(self):
        if self.failed is None and self.process.poll() is not None:
            self.failed = f"died (status {self.process.returncode}): {self.log_tail()}"
        return self.failed is None

    def stop(self):
        """SIGTERM; an error message unless it exits with status 0 within 2 seconds."""
        try:
            if self.process.poll() is not None:
                return None if self.failed else f"exited early (status {self.process.returncode})"
            self.process.send_signal(signal.SIGTERM)
            try:
                status = self.process.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return "still running 2 s after SIGTERM (killed)"
            return None if status == 0 else f"exit status {status} after SIGTERM: {self.log_tail()}"
        finally:
            if self.temp_dir is not None:
                shutil.rmtree(self.temp_dir, ignore_errors=True)


def read_responses(sock, count, timeout=3.0):
    """Reads count HTTP responses (with Content-Length) from sock: [(head, body)], or raises."""
    sock.settimeout(timeout)
    data, responses = b"", []
    while len(responses) < count:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            head = data[:end].decode("latin-1")
            length = re.search(r"(?im)^content-length:\s*(\d+)\s*$", head)
            if length is None:
                raise ValueError(f"a response without Content-Length: {head!r}")
            size = end + 4 + int(length.group(1))
            if len(data) >= size:
                responses.append((head, data[end + 4:size]))
                data = data[size:]
                continue
        chunk = sock.recv(65536)
        if not chunk:
            raise ValueError(f"connection closed after {len(responses)} of {count} responses")
        data += chunk
    return responses


def check_server(port):
    """None if two pipelined requests get two correct responses, else what is wrong."""
    request = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3.0) as sock:
            sock.sendall(request * 2)
            for head, body in read_responses(sock, 2):
                if not head.startswith("HTTP/1.1 200 "):
                    return f"status line {head.splitlines()[0]!r}"
                if body != b"Hello, World!":
                    return f"body {body!r}"
                if not re.search(r"(?im)^date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r?$", head):
                    return "no Date header"
    except (OSError, ValueError) as error:
        return f"check request failed: {error}"
    return None


def run_wrk(instance, shape, rep, args, cpus):
    """One measured run (round rep, from 1). Returns (result dict, None) or (None, error message)."""
    command = ["wrk", "-t1", f"-c{shape.connections}", f"-d{args.seconds}s", "--timeout", "5s", "--latency",
               "-s", PIPELINE_LUA, f"http://127.0.0.1:{instance.port}/", "--", str(shape.depth)]
    pid = instance.process.pid
    environment = dict(os.environ, PIPELINE_CONNECTIONS=str(shape.connections), PIPELINE_DEPTH=str(shape.depth))
    cpu_before = process_cpu_ns(pid)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.seconds + 60,
                              preexec_fn=pinned_to(cpus), env=environment)
    except subprocess.TimeoutExpired:
        return None, "wrk did not finish in time"
    cpu_after = process_cpu_ns(pid)
    match = re.search(r"^wrk-json (\{.*\})$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or match is None:
        return None, f"wrk status {done.returncode}: {(done.stderr.strip() or done.stdout.strip())[-300:]}"
    figures = json.loads(match.group(1))
    errors = {key: figures[key] for key in WRK_ERRORS if figures[key]}
    if errors:
        return None, "wrk counted " + ", ".join(f"{key} {value}" for key, value in errors.items())
    if figures["requests"] == 0 or figures["duration_us"] == 0:
        return None, "no request completed (the server stalled)"
    if cpu_before is None or cpu_after is None:
        return None, "the server's CPU time could not be read (did it exit?)"
    # The latencies wrk recorded (pipeline.lua undoes wrk's correction); wrk's own figures only
    # where the script could not read its histogram, and never wrk's 0 (its percentile search failed).
    recorded = figures["p50_us"] is not None
    result = {
        "rep": rep,
        "requests": figures["requests"],
        "requests_per_sec": figures["requests"] / (figures["duration_us"] / 1e6),
        "p50_us": figures["p50_us"] if recorded else (figures["wrk_p50_us"] or None),
        "p99_us": figures["p99_us"] if recorded else (figures["wrk_p99_us"] or None),
        "latency_source": "recorded" if recorded else "wrk",
        "server_cpu_us_per_req": (cpu_after - cpu_before) / 1000 / figures["requests"],
        BUSY: (cpu_after - cpu_before) / 1000 / figures["duration_us"] * 100,
        "wrk": figures,
    }
    return result, None


def server_cpus(server, layout):
    """The CPUs a server is pinned to (None: not pinned)."""
    wrk_cpu, one_cpu = layout
    if one_cpu is None:
        return None
    return {one_cpu} if server.threads == 1 else {wrk_cpu, one_cpu}


def start_instances(servers, args, layout):
    log_dir = os.path.join(args.out_dir, "logs-http")
    os.makedirs(log_dir, exist_ok=True)
    instances = {}
    for server in servers:
        if server.binary == "nginx":
            if shutil.which("nginx") is None and not os.access("/usr/sbin/nginx", os.X_OK):
                continue
        elif not os.access(os.path.join(args.build_dir, "bench", "servers", server.binary), os.X_OK):
            continue
        instances[server.name] = Instance(server, args.build_dir, log_dir, server_cpus(server, layout))
    for instance in instances.values():
        instance.wait_ready()
        if instance.failed is None:
            problem = check_server(instance.port)
            if problem:
                instance.failed = f"wrong answer to the check request: {problem}"
        log(f"  {instance.server.name}: " + (f"port {instance.port}" if instance.failed is None else instance.failed))
    return instances


def run_all(instances, servers, shapes, args, wrk_cpus):
    """The interleaved runs. Returns ({shape: {server: [result, ...]}}, [error, ...])."""
    plan = [(shape, rep, server) for shape in shapes for rep in range(args.reps)
            for server in servers[rep % len(servers):] + servers[:rep % len(servers)] if server.name in instances]
    runs = {shape.key: {} for shape in shapes}
    errors = []
    started = time.monotonic()
    for index, (shape, rep, server) in enumerate(plan, 1):
        instance = instances[server.name]
        if not instance.alive():
            continue
        result, error = run_wrk(instance, shape, rep + 1, args, wrk_cpus)
        if error is None and not instance.alive():
            error = instance.failed
        elapsed = time.monotonic() - started
        eta = elapsed / index * (len(plan) - index)
        prefix = f"[{index}/{len(plan)} {elapsed:4.0f}s, ~{eta:3.0f}s left] {shape.key} rep {rep + 1}/{args.reps} {server.name}"
        if error:
            errors.append({"server": server.name, "shape": shape.key, "rep": rep + 1, "error": error})
            log(f"{prefix}: ERROR {error}")
            continue
        runs[shape.key].setdefault(server.name, []).append(result)
        log(f"{prefix}: {result['requests_per_sec']:,.0f} req/s, p50 {fmt(result['p50_us'])} µs, "
            f"p99 {fmt(result['p99_us'])} µs, {result['server_cpu_us_per_req']:.3f} µs CPU/req")
    return runs, errors


def medians(runs):
    """Per metric, the median over the runs that have it (None if none has)."""
    result = {}
    for metric in METRICS + (BUSY,):
        values = [run[metric] for run in runs if run.get(metric) is not None]
        result[metric] = statistics.median(values) if values else None
    return result


def fmt(value):
    """A figure with 3 significant digits at most, without exponent for the usual ranges."""
    if value is None:
        return "–"
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value >= 1 else f"{value:.2g}"


def cpus_label(data, server):
    cpus = data["meta"]["server_cpus"].get(server)
    if not cpus:
        return "not pinned"
    label = "CPU " + ",".join(str(c) for c in cpus)
    return label + " (shared with wrk)" if data["meta"]["wrk_cpu"] in cpus else label


def shape_tables(data):
    lines = []
    headers = ["server"] + [METRIC_INFO[m][0] for m in METRICS] + ["server CPU busy %", "pinned to"]
    for shape in data["shapes"]:
        rows = data["results"].get(shape["key"], {})
        if not rows:
            continue
        lines += [f"### HTTP: {shape['label']}", "", "| " + " | ".join(headers) + " |",
                  "|---|" + "---:|" * (len(METRICS) + 1) + "---|"]
        for server in data["servers"]:
            if server in rows:
                lines.append(f"| {server} | " + " | ".join(fmt(rows[server][m]) for m in METRICS + (BUSY,))
                             + f" | {cpus_label(data, server)} |")
        lines.append("")
    return lines


def best(rows, names, metric):
    """(name, value) of the best of names in rows for the metric, or (None, None)."""
    measured = [(rows[n][metric], n) for n in names if n in rows and rows[n].get(metric)]
    if not measured:
        return None, None
    value, name = (max if METRIC_INFO[metric][1] else min)(measured)
    return name, value


def ratio_tables(data):
    """asock-io_uring / every peer, per compared metric (a row per shape); then each asock
    server / the better ceiling."""
    peers = [s for s in data["servers"] if s not in ASOCK_SERVERS]
    lines = []
    for metric in METRICS:
        title, higher_better = METRIC_INFO[metric]
        better = "above 1 is better" if higher_better else "below 1 is better"
        lines += [f"### HTTP ratios: {ASOCK} / peer, {title} ({better})", "",
                  "| shape | " + " | ".join(peers) + " |", "|---|" + "---:|" * len(peers)]
        for shape in data["shapes"]:
            rows = data["results"].get(shape["key"], {})
            if ASOCK not in rows:
                continue
            mine = rows[ASOCK][metric]
            cells = [f"{mine / rows[p][metric]:.2f}" if mine and rows.get(p, {}).get(metric) else "–" for p in peers]
            lines.append(f"| {shape['label']} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["### HTTP ratios: asock / the better ceiling (requests/s: the higher ceiling, above 1 is better; "
              "CPU/request: the lower ceiling, below 1 is better)", "",
              "| shape | server | requests/s ratio | better ceiling (requests/s) | CPU/request ratio | better ceiling (CPU) |",
              "|---|---|---:|---|---:|---|"]
    for shape in data["shapes"]:
        rows = data["results"].get(shape["key"], {})
        rps_name, rps = best(rows, CEILINGS, "requests_per_sec")
        cpu_name, cpu = best(rows, CEILINGS, "server_cpu_us_per_req")
        for asock in ASOCK_SERVERS:
            if asock not in rows:
                continue
            rps_ratio = f"{rows[asock]['requests_per_sec'] / rps:.2f}" if rps else "–"
            cpu_ratio = f"{rows[asock]['server_cpu_us_per_req'] / cpu:.2f}" if cpu else "–"
            lines.append(f"| {shape['label']} | {asock} | {rps_ratio} | {rps_name or '–'} | {cpu_ratio} | {cpu_name or '–'} |")
    lines.append("")
    return lines


def write_markdown(data, path):
    meta = data["meta"]
    pinning = (f"wrk on CPU {meta['wrk_cpu']}, each one-thread server on CPU {meta['server_cpu']}, "
               f"the two-thread asock server on both" if meta["server_cpu"] is not None else "nothing pinned")
    lines = [f"Medians of {meta['reps']} interleaved run(s) of {meta['seconds']} s each per server and shape "
             f"(`wrk -t1 -cC -d{meta['seconds']}s --latency -s bench/http/pipeline.lua -- DEPTH`; {pinning}). "
             "Server CPU µs/request = CPU time of all the server's threads while wrk ran / requests completed. "
             "Latency: of a batch of DEPTH requests, from its write to its last response, as wrk recorded it "
             "(without wrk 4.1's coordinated-omission correction, which pipelining breaks: see bench/http/pipeline.lua). "
             "Server CPU busy % = that CPU time / wrk's run time (100: one CPU all the time): well below 100, "
             "wrk (one thread) set the pace, and requests/s compares wrk more than the servers. "
             "asock-io_uring-2t is asock with `--threads 2` (two loops, one listening socket, connections handed to the loops in turn); asock-io_uring-2t-per-loop adds `--per-loop` (a listening socket per loop, SO_REUSEPORT).", ""]
    lines += shape_tables(data)
    lines += ratio_tables(data)
    if data["errors"]:
        lines += ["### HTTP errors", ""] + [f"- {e['server']} {e['shape']} rep {e['rep']}: {e['error']}"
                                            for e in data["errors"]] + [""]
    with open(path, "w") as out:
        out.write("\n".join(lines))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", default="build/bench", help="the bench preset's build directory")
    parser.add_argument("--out-dir", default="build/bench/results")
    parser.add_argument("--seconds", type=float,
                        help="seconds per wrk run, rounded up to a whole number for wrk (default 2, 1 with --quick)")
    parser.add_argument("--reps", type=int, help="repetitions per server and shape (default 3, 1 with --quick)")
    parser.add_argument("--servers", help="comma-separated server names: " + ",".join(s.name for s in SERVERS))
    parser.add_argument("--shapes", help="comma-separated shape keys: " + ",".join(s.key for s in SHAPES))
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: the two 256-connection shapes, one repetition of 1 s")
    parser.add_argument("--no-pin", action="store_true", help="let the scheduler place wrk and the servers")
    args = parser.parse_args()
    args.seconds = max(1, math.ceil(args.seconds or (1 if args.quick else 2)))
    args.reps = args.reps or (1 if args.quick else 3)
    return args


def select(items, names, key, what):
    """The items whose key(item) is in the comma-separated names (all if names is empty)."""
    if not names:
        return list(items)
    wanted = names.split(",")
    unknown = set(wanted) - {key(item) for item in items}
    if unknown:
        sys.exit(f"run_http.py: unknown {what}: {', '.join(sorted(unknown))}")
    return [item for item in items if key(item) in wanted]


def cpu_layout(pin):
    """(wrk CPU, server CPU), or (None, None): not pinned."""
    allowed = sorted(os.sched_getaffinity(0))
    return (allowed[0], allowed[1]) if pin and len(allowed) >= 2 else (None, None)


def version_of(command):
    try:
        done = subprocess.run(command, capture_output=True, text=True)
    except OSError:
        return None
    text = (done.stdout + done.stderr).strip()
    return text.splitlines()[0] if text else None


def main():
    args = parse_args()
    servers = select(SERVERS, args.servers, lambda s: s.name, "server")
    shapes = select(SHAPES, args.shapes, lambda s: s.key, "shape")
    if args.quick and not args.shapes:
        shapes = [s for s in shapes if s.key in QUICK_SHAPES]
    if shutil.which("wrk") is None:
        sys.exit("run_http.py: no wrk (apt-get install wrk, or bash scripts/setup.sh --bench)")
    os.makedirs(args.out_dir, exist_ok=True)
    layout = cpu_layout(not args.no_pin)
    wrk_cpus = None if layout[0] is None else {layout[0]}
    began = time.monotonic()
    log(f"run_http.py: {len(shapes)} shapes x {args.reps} reps, {args.seconds} s each; wrk on CPU {layout[0]}, "
        f"servers on CPU {layout[1]}; starting servers")
    instances = start_instances(servers, args, layout)
    try:
        runs, errors = run_all(instances, servers, shapes, args, wrk_cpus)
    finally:
        stop_errors = {name: i.stop() for name, i in instances.items()}
    errors += [{"server": name, "shape": "-", "rep": 0, "error": i.failed}
               for name, i in instances.items() if i.failed and not i.skipped]
    errors += [{"server": name, "shape": "-", "rep": 0, "error": e} for name, e in stop_errors.items() if e]
    skipped = {name: i.failed for name, i in instances.items() if i.skipped}
    missing = [s.name for s in servers if s.name not in instances]
    ran = [s.name for s in servers if any(s.name in per_shape for per_shape in runs.values())]
    data = {
        "meta": {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                 "seconds": args.seconds, "reps": args.reps, "quick": args.quick,
                 "wrk_cpu": layout[0], "server_cpu": layout[1],
                 "server_cpus": {s.name: sorted(server_cpus(s, layout) or []) for s in servers},
                 "wrk": re.sub(r"\s*Copyright.*", "", version_of(["wrk", "--version"]) or "") or None,
                 "nginx": version_of(["nginx", "-v"]),
                 "wall_seconds": round(time.monotonic() - began, 1), "not_built": missing, "skipped": skipped},
        "shapes": [vars(s) for s in shapes],
        "servers": ran,
        "results": {shape: {server: dict(medians(results), runs=results) for server, results in per_server.items()}
                    for shape, per_server in runs.items()},
        "errors": errors,
    }
    with open(os.path.join(args.out_dir, "http.json"), "w") as out:
        json.dump(data, out, indent=1)
    write_markdown(data, os.path.join(args.out_dir, "http.md"))
    log(f"run_http.py: done in {data['meta']['wall_seconds']:.0f} s; wrote {args.out_dir}/http.json, http.md"
        + (f"; not built: {', '.join(missing)}" if missing else ""))
    for error in errors:
        log(f"ERROR {error['server']} {error['shape']}: {error['error']}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
