#!/usr/bin/env python3
"""Runs the one-way stream benchmark (issue 13, item 4): one connection on 127.0.0.1, 64 KiB
sends, no echo, asock on one side, beside this machine's limit measured in the same run.

Shapes (bench/stream/: each a sink and a source process):
  limit                       bench-stream-plain-source -> bench-stream-plain-sink (blocking
                              send/recv: the machine's limit for one stream)
  epoll-sink                  bench-stream-plain-source -> bench-stream-plain-sink --epoll (the
                              same sink non-blocking with epoll: what an event-driven receiver
                              without any library gets; a reference, not a target)
  asock-sink io_uring / epoll bench-stream-plain-source -> bench-stream-asock-sink
  asock-source io_uring/epoll bench-stream-asock-source -> bench-stream-plain-sink

Each round runs every shape once, in turn (interleaved rounds, the order shifted by one each
round, so that a slow phase of the machine hits all of them); each run is a fresh pair of
processes, the source on the first allowed CPU and the sink on the second (unless --no-pin).
The source sends for WARMUP + SECONDS and reports the bytes of the last SECONDS (MiB/s = 2^20
bytes per second). Every process reports the CPU time of all its threads over its whole life
(getrusage); CPU s/GiB is that over the bytes of the whole run (warm-up included), given for
the asock process of the shape and, for the limit, for each of its two sides.

Figures: per shape the median MiB/s over the rounds and the lowest–highest, the ratio of the
medians to the limit's, and the verdict on the issue's target (asock >= 0.9x the limit).
Writes OUT/stream.json and OUT/stream.md. Exits non-zero if a run failed; the results of the
others are still written. Standard library only.
"""
import argparse
import datetime
import json
import os
import signal
import statistics
import subprocess
import sys
import time

TARGET = 0.9  # asock's MiB/s / the limit's, at least
SKIP_STATUS = 3  # a program's exit status when the machine cannot run its backend
GIB = 1 << 30

# (key, label, source (binary, args), sink (binary, args), which side is asock or None)
SHAPES = (
    ("limit", "limit: plain source → plain sink", ("bench-stream-plain-source", ()), ("bench-stream-plain-sink", ()), None),
    # Not asock: the plain sink written as an event loop would be (non-blocking, epoll): what any
    # event-driven receiver gets here, beside the blocking limit.
    ("epoll-sink", "plain source → plain epoll sink (reference)", ("bench-stream-plain-source", ()),
     ("bench-stream-plain-sink", ("--epoll",)), None),
    ("asock-sink-io_uring", "plain source → asock sink (io_uring)", ("bench-stream-plain-source", ()),
     ("bench-stream-asock-sink", ("--backend", "io_uring")), "sink"),
    ("asock-sink-epoll", "plain source → asock sink (epoll)", ("bench-stream-plain-source", ()),
     ("bench-stream-asock-sink", ("--backend", "epoll")), "sink"),
    ("asock-source-io_uring", "asock source (io_uring) → plain sink", ("bench-stream-asock-source", ("--backend", "io_uring")),
     ("bench-stream-plain-sink", ()), "source"),
    ("asock-source-epoll", "asock source (epoll) → plain sink", ("bench-stream-asock-source", ("--backend", "epoll")),
     ("bench-stream-plain-sink", ()), "source"),
)


def log(message):
    print(message, file=sys.stderr, flush=True)


def pinned_to(cpu):
    """A preexec_fn that pins the child (and the threads it will start) to one CPU."""
    return None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu}))


def find_binary(build_dir, name):
    for sub in ("bench/servers", "bench", "."):
        path = os.path.join(build_dir, sub, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def read_lines(path):
    try:
        with open(path) as source:
            return source.read().splitlines()
    except OSError:
        return []


def wait_for_line(path, process, predicate, timeout):
    """The first line of the file at path that satisfies predicate, waiting up to timeout s
    (None if the process ends first or the time runs out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in read_lines(path):
            if predicate(line):
                return line
        if process.poll() is not None:
            for line in read_lines(path):
                if predicate(line):
                    return line
            return None
        time.sleep(0.01)
    return None


def json_line(line):
    return line.startswith("{")


def stop(process, timeout=5):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None


def run_once(binaries, shape, seconds, warmup, layout, work_dir, rep):
    """One run of a shape: {"mib_per_sec", "source": {...}, "sink": {...}} or {"error"} or {"skipped"}."""
    key, _, (source_name, source_args), (sink_name, sink_args), _ = shape
    source_cpu, sink_cpu = layout
    sink_out = os.path.join(work_dir, f"{key}-{rep}.sink.out")
    sink_err = os.path.join(work_dir, f"{key}-{rep}.sink.err")
    with open(sink_out, "w") as out, open(sink_err, "w") as err:
        sink = subprocess.Popen([binaries[sink_name], "--port", "0", *sink_args], stdout=out, stderr=err,
                                preexec_fn=pinned_to(sink_cpu))
    try:
        ready = wait_for_line(sink_out, sink, lambda line: line.startswith("listening on "), 10)
        if ready is None:
            status = sink.poll()
            if status == SKIP_STATUS:
                return {"skipped": f"{sink_name} {' '.join(sink_args)}: backend not available"}
            return {"error": f"{sink_name} did not start (status {status}): {' '.join(read_lines(sink_err))[-300:]}"}
        port = ready.split(":")[-1].split()[0]
        source = subprocess.run([binaries[source_name], "--port", port, "--seconds", str(seconds), "--warmup", str(warmup),
                                 *source_args], capture_output=True, text=True, timeout=seconds + warmup + 30,
                                preexec_fn=pinned_to(source_cpu))
        if source.returncode == SKIP_STATUS:
            return {"skipped": f"{source_name} {' '.join(source_args)}: backend not available"}
        source_report = next((json.loads(l) for l in source.stdout.splitlines() if json_line(l)), None)
        if source.returncode != 0 or source_report is None:
            return {"error": f"{source_name} failed (status {source.returncode}): {source.stderr.strip()[-300:]}"}
        sink_line = wait_for_line(sink_out, sink, json_line, 10)
        if sink_line is None:
            return {"error": f"{sink_name} reported nothing at the end of the stream: {' '.join(read_lines(sink_err))[-300:]}"}
        sink_report = json.loads(sink_line)
    except subprocess.TimeoutExpired:
        return {"error": f"{source_name} did not finish in time"}
    finally:
        status = stop(sink)
    if status not in (0, None) and status != -signal.SIGTERM:
        return {"error": f"{sink_name} exited with status {status}"}
    if sink_report["total_bytes"] != source_report["total_bytes"]:
        return {"error": f"the sink received {sink_report['total_bytes']} bytes, the source sent {source_report['total_bytes']}"}
    return {"mib_per_sec": source_report["mib_per_sec"], "source": source_report, "sink": sink_report}


def cpu_s_per_gib(report):
    return report["cpu_seconds"] / (report["total_bytes"] / GIB) if report.get("total_bytes") else None


def cpu_layout(pin):
    allowed = sorted(os.sched_getaffinity(0))
    if not pin or len(allowed) < 2:
        return (None, None), "not pinned" if pin else "not pinned (--no-pin)"
    return (allowed[0], allowed[1]), f"source pinned to CPU {allowed[0]}, sink to CPU {allowed[1]}"


def summarize(runs, asock_side):
    ok = [r for r in runs if "mib_per_sec" in r]
    if not ok:
        return None
    rates = [r["mib_per_sec"] for r in ok]
    summary = {"mib_per_sec": statistics.median(rates), "min": min(rates), "max": max(rates), "rounds": len(ok)}
    for side in ("source", "sink"):
        values = [v for v in (cpu_s_per_gib(r[side]) for r in ok) if v is not None]
        summary[f"{side}_cpu_s_per_gib"] = statistics.median(values) if values else None
    if asock_side:
        summary["asock_cpu_s_per_gib"] = summary[f"{asock_side}_cpu_s_per_gib"]
    return summary


def write_markdown(path, data):
    meta, results = data["meta"], data["results"]
    limit = results.get("limit")
    limit_rate = limit["mib_per_sec"] if limit else None
    lines = [f"One connection on 127.0.0.1, 64 KiB application buffers, no echo; {meta['reps']} interleaved round(s) of "
             f"{meta['seconds']} s (+{meta['warmup']} s warm-up) per shape, {meta['layout']}. MiB/s: median over the rounds "
             "(lowest–highest); ratio: median / the limit's median. CPU s/GiB: CPU time of the whole process (all "
             "threads, getrusage) over the bytes of its run; for asock rows the asock process, for the limit the "
             "plain source / plain sink.", "",
             "| shape | MiB/s | lowest–highest | ratio to limit | CPU s/GiB | target ≥ 0.9× limit |",
             "|---|---:|---:|---:|---:|---|"]
    for key, label, _, _, asock_side in SHAPES:
        s = results.get(key)
        if s is None:
            why = data["skipped"].get(key) or "failed"
            lines.append(f"| {label} | – | – | – | – | not measured ({why}) |")
            continue
        rate = f"{s['mib_per_sec']:.0f}"
        span = f"{s['min']:.0f}–{s['max']:.0f}"
        if asock_side is None:
            cpu = f"source {s['source_cpu_s_per_gib']:.3f} / sink {s['sink_cpu_s_per_gib']:.3f}"
            if key == "limit":
                lines.append(f"| {label} | {rate} | {span} | 1.00 | {cpu} | (the limit) |")
            else:
                ratio = f"{s['mib_per_sec'] / limit_rate:.2f}" if limit_rate else "–"
                lines.append(f"| {label} | {rate} | {span} | {ratio} | {cpu} | (no library: a reference) |")
            continue
        ratio = s["mib_per_sec"] / limit_rate if limit_rate else None
        s["ratio_to_limit"] = ratio
        verdict = "–" if ratio is None else ("met" if ratio >= TARGET else "not met")
        cpu = f"{s['asock_cpu_s_per_gib']:.3f}" if s.get("asock_cpu_s_per_gib") is not None else "–"
        lines.append(f"| {label} | {rate} | {span} | {'–' if ratio is None else f'{ratio:.2f}'} | {cpu} | {verdict} |")
    verdicts = []
    for key, label, _, _, asock_side in SHAPES:
        s = results.get(key)
        if asock_side and s and s.get("ratio_to_limit") is not None:
            verdicts.append(f"{key} {s['ratio_to_limit']:.2f}x ({'met' if s['ratio_to_limit'] >= TARGET else 'not met'})")
    lines += ["", f"**Verdict** (target: asock ≥ {TARGET}× the machine's limit): " + ("; ".join(verdicts) or "not measured") + "."]
    if data["errors"]:
        lines += ["", "Failed runs:", ""] + [f"- {e}" for e in data["errors"]]
    with open(path, "w") as out:
        out.write("\n".join(lines) + "\n")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", default="build/bench")
    parser.add_argument("--out-dir", default=None, help="default: BUILD_DIR/results")
    parser.add_argument("--seconds", type=float, default=None, help="measured seconds per run (default 2, --quick 1)")
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--reps", type=int, default=None, help="rounds (default 3, --quick 1)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: one round of 1 s")
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args()
    seconds = args.seconds if args.seconds else (1.0 if args.quick else 2.0)
    reps = args.reps if args.reps else (1 if args.quick else 3)
    out_dir = args.out_dir or os.path.join(args.build_dir, "results")
    work_dir = os.path.join(out_dir, "logs-stream")
    os.makedirs(work_dir, exist_ok=True)

    binaries = {}
    for shape in SHAPES:
        for name in (shape[2][0], shape[3][0]):
            path = find_binary(args.build_dir, name)
            if path is None:
                sys.exit(f"run_stream.py: no {name} in {args.build_dir} (cmake --build {args.build_dir} --target bench_stream)")
            binaries[name] = path
    layout, layout_label = cpu_layout(not args.no_pin)

    started = time.monotonic()
    runs = {shape[0]: [] for shape in SHAPES}
    skipped, errors = {}, []
    for rep in range(reps):
        order = SHAPES[rep % len(SHAPES):] + SHAPES[:rep % len(SHAPES)]
        for shape in order:
            key = shape[0]
            if key in skipped:
                continue
            result = run_once(binaries, shape, seconds, args.warmup, layout, work_dir, rep)
            result["rep"] = rep
            if "skipped" in result:
                skipped[key] = result["skipped"]
                log(f"[{rep + 1}/{reps}] {key}: skipped ({result['skipped']})")
                continue
            if "error" in result:
                errors.append(f"{key}, round {rep + 1}: {result['error']}")
                log(f"[{rep + 1}/{reps}] {key}: FAILED: {result['error']}")
            else:
                log(f"[{rep + 1}/{reps}] {key}: {result['mib_per_sec']:.0f} MiB/s")
            runs[key].append(result)

    results = {}
    for key, _, _, _, asock_side in SHAPES:
        summary = summarize(runs[key], asock_side)
        if summary is not None:
            summary["runs"] = runs[key]
            results[key] = summary
    data = {"meta": {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "seconds": seconds, "warmup": args.warmup,
                     "reps": reps, "layout": layout_label, "kernel": os.uname().release,
                     "wall_seconds": time.monotonic() - started, "target": TARGET},
            "shapes": [{"key": s[0], "label": s[1], "asock_side": s[4]} for s in SHAPES],
            "results": results, "skipped": skipped, "errors": errors}
    markdown = write_markdown(os.path.join(out_dir, "stream.md"), data)  # also sets the ratios
    with open(os.path.join(out_dir, "stream.json"), "w") as out:
        json.dump(data, out, indent=1)
    print(markdown)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
