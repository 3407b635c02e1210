"""Load on `derive serve` (issue 28): 20 concurrent clients, each deriving the 2-2-1 network and
checking a set of answers on it, again and again for 30 s, against a local server only
(127.0.0.1). Every response must be a page without an error. Prints the median and p95 latency
of each kind of request.

Run: python bench/bench_serve.py [--clients 20] [--seconds 30] [--workers 1]
(--workers N starts `uvicorn derive.serve.app:app --workers N`, as the README says for a class.)"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NET = {"build": "mlp", "inputs": "[1, 2]", "weights": "[[[0.1, 0.2], [0.3, -0.4]], [[0.5, -0.6]]]",
       "biases": "[[0.1, 0.1], [0.2]]", "targets": "[1]", "activation": "sigmoid",
       "loss": "half_squared_error", "lr": "0.5"}
# a student's answers: some right, one wrong (diagnosed), one carried forward
ANSWERS = {"answer:z1_1": "0.5", "answer:a1_1": "0.6225", "answer:z1_2": "-0.4", "answer:a1_2": "0.4013",
           "answer:z2_1": "0.2707", "answer:a2_1": "0.9", "answer:L": "0.005", "answer:dL/da2_1": "-0.43"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(port: int, workers: int) -> subprocess.Popen:
    if workers > 1:
        command = [sys.executable, "-m", "uvicorn", "derive.serve.app:app", "--host", "127.0.0.1",
                   "--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    else:
        command = [sys.executable, "-m", "derive.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=dict(os.environ, PYTHONPATH=str(ROOT)))
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the server did not start")


def post(url: str, form: dict) -> str:
    data = urllib.parse.urlencode(form).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=120) as r:
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status}")
        return r.read().decode("utf-8")


def client(base: str, until: float, times: dict, errors: list, lock: threading.Lock):
    while time.monotonic() < until:
        for kind, path, form, expect in (("derive", "/", NET, "2-2-1 network"),
                                         ("check", "/check", {**NET, **ANSWERS}, "class=\"steps\"")):
            started = time.perf_counter()
            try:
                page = post(base + path, form)
                if 'class="error"' in page or expect not in page:
                    raise RuntimeError(f"{kind}: unexpected page")
            except Exception as e:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(f"{kind}: {e}")
                continue
            with lock:
                times[kind].append(time.perf_counter() - started)


def p95(values: list) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    port = free_port()
    server = start(port, args.workers)
    base = f"http://127.0.0.1:{port}"
    try:
        post(base + "/", NET)  # warm up (imports, caches)
        times, errors, lock = {"derive": [], "check": []}, [], threading.Lock()
        until = time.monotonic() + args.seconds
        threads = [threading.Thread(target=client, args=(base, until, times, errors, lock))
                   for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        alive = post(base + "/", NET)  # the server still answers
    finally:
        server.terminate()
        server.wait(10)
    total = sum(map(len, times.values()))
    print(f"derive serve, {args.workers} worker(s), {args.clients} concurrent clients for {args.seconds:g} s "
          f"(2-2-1 network: derive, then check 8 answers): {total} requests, {len(errors)} errors, "
          f"{total / args.seconds:.1f} requests/s")
    for kind, values in times.items():
        if values:
            print(f"  {kind:6s}: {len(values)} requests, median {statistics.median(values) * 1000:.0f} ms, "
                  f"p95 {p95(values) * 1000:.0f} ms")
    if errors:
        print("  first errors:", *errors[:5], sep="\n    ")
    assert "2-2-1 network" in alive
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
