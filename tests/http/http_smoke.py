#!/usr/bin/env python3
"""The HTTP smoke test of asock-http-server (examples/http_server.c), run by scripts/test.sh's
examples stage on each Linux backend, against peers nobody here wrote:

- curl: three requests on one kept-alive connection, each a 200 with "Hello, World!", a Date
  and Content-Length 13;
- wrk: a short pipelined run (16 connections, 16 requests per write) whose Lua script checks
  every response (tests/http/checked_pipeline.lua);
- Python's socket: a malformed request, an oversized one, "Connection: close", HTTP/1.0, 100
  requests in one write, a request dribbled a byte at a time, a body with Content-Length;
- SIGTERM: the server stops with status 0.

Usage: http_smoke.py --binary PATH [--backend io_uring|epoll] [--seconds S] [--threads T] [--per-loop]
Prints one line per check; exits 1 if any failed, 77 if the backend cannot run on this machine.
"""
import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BODY = b"Hello, World!"
SKIPPED = 77
failures = []


def check(name, ok, detail=""):
    print(f"  {'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}")
    if not ok:
        failures.append(name)


def start(binary, backend, extra):
    args = [binary, "--port", "0", "--idle-timeout-ms", "5000"] + (["--backend", backend] if backend else []) + extra
    server = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = server.stdout.readline()
    match = re.search(r"127\.0\.0\.1:(\d+)", line)
    if not match:
        server.kill()
        if server.wait() == 3:  # the backend cannot run here (io_uring forbidden)
            print(f"http_smoke: skipped: {line.strip()}")
            sys.exit(SKIPPED)
        sys.exit(f"http_smoke: the server did not start: {line!r}")
    return server, int(match.group(1))


def exchange(port, data, dribble=False, timeout=5.0):
    """Sends data, closes the sending side, and reads until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        if dribble:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(len(data)):
                s.sendall(data[i : i + 1])
                time.sleep(0.001)
        else:
            s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        received = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return received, True
                received += chunk
        except (socket.timeout, ConnectionResetError):
            return received, False


def responses(received):
    return received.count(b"HTTP/1.1 200 OK\r\n"), received.count(b"\r\n\r\n" + BODY)


def run(binary, backend, seconds, extra):
    server, port = start(binary, backend, extra)
    url = f"http://127.0.0.1:{port}/plaintext"
    try:
        curl = subprocess.run(["curl", "-sv", url, url, url], capture_output=True, text=True, timeout=20)
        check("curl: three 200s with the body", curl.returncode == 0 and curl.stdout == BODY.decode() * 3, curl.stdout[:80])
        check("curl: one kept-alive connection", "Re-using existing connection" in curl.stderr or "Reusing existing" in curl.stderr)
        check("curl: Date and Content-Length 13", re.search(r"< Date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", curl.stderr) is not None
              and "< Content-Length: 13" in curl.stderr)

        wrk = subprocess.run(["wrk", "-t1", "-c16", f"-d{seconds}s", "-s", os.path.join(HERE, "checked_pipeline.lua"), url, "--", "16"],
                             capture_output=True, text=True, timeout=seconds + 30)
        counted = re.search(r"checked (\d+) bad (\d+)", wrk.stdout)
        checked = int(counted.group(1)) if counted else 0
        bad = int(counted.group(2)) if counted else -1
        clean = "Non-2xx" not in wrk.stdout and "Socket errors" not in wrk.stdout
        check(f"wrk, pipelined: {checked} responses checked, none bad", wrk.returncode == 0 and checked > 1000 and bad == 0 and clean,
              wrk.stdout[-400:])

        received, closed = exchange(port, b"BAD\r\n\r\n")
        check("malformed: 400 and close", received.startswith(b"HTTP/1.1 400 ") and closed, repr(received[:60]))
        received, closed = exchange(port, b"GET / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n")
        check("oversized: 400 and close", received.startswith(b"HTTP/1.1 400 ") and closed, repr(received[:60]))
        received, closed = exchange(port, b"GET / HTTP/1.1\r\nX: 1\n\r\n")
        check("a bare LF: 400 and close", received.startswith(b"HTTP/1.1 400 ") and closed, repr(received[:60]))
        received, closed = exchange(port, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        check("Connection: close: one response, then close", responses(received) == (1, 1) and closed, repr(received[-40:]))
        received, closed = exchange(port, b"GET / HTTP/1.0\r\n\r\n")
        check("HTTP/1.0: one response, then close", responses(received) == (1, 1) and closed)
        received, closed = exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 100)
        check("100 pipelined in one write: 100 responses", responses(received) == (100, 100), str(responses(received)))
        received, closed = exchange(port, b"GET /a HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", dribble=True)
        check("a request a byte at a time: one response", responses(received) == (1, 1), repr(received[:60]))
        received, closed = exchange(port, b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n")
        check("a body with Content-Length, then a GET: two responses", responses(received) == (2, 2))
        received, closed = exchange(port, b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        check("Transfer-Encoding (not supported): 400", received.startswith(b"HTTP/1.1 400 ") and closed)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            status = server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            status = "hung"
    check("SIGTERM: a clean stop (status 0)", status == 0, str(status))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--backend", choices=("io_uring", "epoll"))
    parser.add_argument("--seconds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="the server's loop threads")
    parser.add_argument("--per-loop", action="store_true", help="the server listens with a socket per loop")
    args = parser.parse_args()
    extra = ["--threads", str(args.threads)] + (["--per-loop"] if args.per_loop else [])
    print(f"asock-http-server {args.backend or '(default backend)'} {' '.join(extra)}:")
    run(args.binary, args.backend, args.seconds, extra)
    if failures:
        print(f"http_smoke: {len(failures)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
