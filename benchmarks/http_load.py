"""End-to-end HTTP latency and throughput of ``mcindex serve``: a small, bounded load test.

Sends ``POST /search`` requests from ``--concurrency`` threads, each with its own keep-alive
connection, until ``--requests`` have been answered or ``--max-seconds`` have passed (whichever
comes first), and reports latency percentiles (ms, from sending the request to reading the
whole response), requests/s, queries/s and errors. Standard library only.

    # against a running server
    python benchmarks/http_load.py --url http://127.0.0.1:8000 --requests 2000 --concurrency 8
    # start `mcindex serve PATH` on a free port, wait for /health, measure, stop it: one command
    python benchmarks/http_load.py --start shop.mcc --concurrency 8 --requests 2000 --json
    # the same under Ray Serve with two replicas
    python benchmarks/http_load.py --start shop.mcc --ray --replicas 2 --concurrency 8 --requests 2000
    # a filter: a JSON filter object, or anything else as a SQL expression
    python benchmarks/http_load.py --url ... --where '{"col": "price", "op": "<", "value": 50}' --batch 4

Queries are random Gaussian vectors of the collection's dimension (read from ``/info``), a pool
of ``--pool`` bodies encoded before the clock starts. The client shares the machine with the
server when both run on loopback: on few cores its own CPU use lowers the figures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any
from urllib.parse import urlsplit

__all__ = ["run_load", "start_server"]


# ---- one connection -------------------------------------------------------------------------------
class Client:
    """A keep-alive HTTP connection that reconnects after a failure."""

    def __init__(self, host: str, port: int, timeout: float):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        headers = {"content-type": "application/json"} if body is not None else {}
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def get_json(url: str, path: str, timeout: float = 10.0) -> Any:
    parts = urlsplit(url)
    client = Client(parts.hostname or "127.0.0.1", parts.port or 80, timeout)
    try:
        status, body = client.request("GET", path)
    finally:
        client.close()
    if status != 200:
        raise RuntimeError(f"GET {path}: HTTP {status}: {body[:200]!r}")
    return json.loads(body)


# ---- the load ---------------------------------------------------------------------------------------
def make_bodies(dim: int, *, pool: int, batch: int, k: int, where: Any, ef: int | None, strategy: str | None,
                seed: int) -> list[bytes]:
    """``pool`` request bodies of ``batch`` random queries each, encoded once."""
    rng = random.Random(seed)
    bodies = []
    for _ in range(pool):
        request: dict[str, Any] = {"queries": [[round(rng.gauss(0.0, 1.0), 5) for _ in range(dim)]
                                               for _ in range(batch)], "k": k}
        if where is not None:
            request["where"] = where
        if ef is not None:
            request["ef"] = ef
        if strategy is not None:
            request["strategy"] = strategy
        bodies.append(json.dumps(request).encode())
    return bodies


def percentile(sorted_values: list[float], p: float) -> float:
    """The p-th percentile (0-100) by the nearest-rank method."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def run_load(url: str, *, requests: int, concurrency: int, max_seconds: float, k: int = 10, batch: int = 1,
             where: Any = None, ef: int | None = None, strategy: str | None = None, warmup: int = 20,
             pool: int = 256, seed: int = 0, timeout: float = 30.0) -> dict[str, Any]:
    """Measure ``POST /search`` at ``url``; returns the figures as a dict (see the module doc)."""
    info = get_json(url, "/info")
    bodies = make_bodies(int(info["dim"]), pool=pool, batch=batch, k=k, where=where, ef=ef, strategy=strategy,
                         seed=seed)
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80

    warm = Client(host, port, timeout)
    try:
        for i in range(warmup):  # first requests pay for connections, caches, lazy imports
            status, payload = warm.request("POST", "/search", bodies[i % len(bodies)])
            if status != 200:
                raise RuntimeError(f"warm-up request refused: HTTP {status}: {payload[:300]!r}")
    finally:
        warm.close()

    lock = threading.Lock()
    issued = 0
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    deadline = time.perf_counter() + max_seconds

    def worker() -> None:
        nonlocal issued
        client = Client(host, port, timeout)
        mine: list[float] = []
        counts: dict[str, int] = {}
        try:
            while time.perf_counter() < deadline:
                with lock:
                    if issued >= requests:
                        break
                    i = issued
                    issued += 1
                body = bodies[i % len(bodies)]
                start = time.perf_counter()
                try:
                    status, _ = client.request("POST", "/search", body)
                    key = str(status)
                except (OSError, http.client.HTTPException) as exc:
                    key = type(exc).__name__
                mine.append(time.perf_counter() - start)
                counts[key] = counts.get(key, 0) + 1
        finally:
            client.close()
            with lock:
                latencies.extend(mine)
                for key, count in counts.items():
                    statuses[key] = statuses.get(key, 0) + count

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began

    ms = sorted(x * 1000.0 for x in latencies)
    done = len(ms)
    ok = statuses.get("200", 0)
    return {
        "url": url, "n": info.get("n"), "dim": info.get("dim"), "metric": info.get("metric"),
        "requests": done, "ok": ok, "errors": done - ok, "statuses": statuses,
        "concurrency": concurrency, "batch": batch, "k": k, "where": where, "ef": ef, "strategy": strategy,
        "seconds": round(wall, 3), "stopped_by": "time" if done < requests else "count",
        "latency_ms": {"p50": percentile(ms, 50), "p90": percentile(ms, 90), "p99": percentile(ms, 99),
                       "max": ms[-1] if ms else math.nan, "mean": sum(ms) / done if done else math.nan},
        "requests_per_s": ok / wall if wall > 0 else math.nan,
        "queries_per_s": ok * batch / wall if wall > 0 else math.nan,
    }


# ---- starting a server ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(path: str, *, ray: bool, replicas: int, serve_args: list[str], timeout: float, log: Any
                 ) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``mcindex serve PATH`` (``--ray --replicas R`` when ``ray``) on a free loopback port;
    return the process and its URL once ``/health`` answers 200. Its output goes to ``log``."""
    port = free_port()
    cmd = [sys.executable, "-m", "mcindex.cli", "serve", path, "--port", str(port),
           *(["--ray", "--replicas", str(replicas)] if ray else []), *serve_args]
    print(f"starting: {shlex.join(cmd)}", file=sys.stderr)
    # A session of its own: a Ctrl-C here must not reach Ray's processes before we stop it cleanly.
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"mcindex serve exited with code {proc.returncode} (see {log.name})")
        try:
            client = Client("127.0.0.1", port, 5.0)
            try:
                if client.request("GET", "/health")[0] == 200:
                    print(f"server up after {time.monotonic() - began:.1f} s", file=sys.stderr)
                    return proc, url
            finally:
                client.close()
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.5)
    stop_server(proc)
    raise RuntimeError(f"mcindex serve did not answer /health within {timeout:g} s (see {log.name})")


def stop_server(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """SIGTERM to ``mcindex serve`` (it shuts Serve and Ray down), then SIGKILL to its whole
    session if it is still there after ``timeout`` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# ---- command line ---------------------------------------------------------------------------------
def format_result(r: dict[str, Any]) -> str:
    lat = r["latency_ms"]
    return (f"{r['requests']} requests ({r['ok']} ok, {r['errors']} errors) in {r['seconds']:.1f} s, "
            f"concurrency {r['concurrency']}, batch {r['batch']}, k {r['k']}: "
            f"latency p50 {lat['p50']:.2f} ms, p90 {lat['p90']:.2f}, p99 {lat['p99']:.2f}, max {lat['max']:.2f}; "
            f"{r['requests_per_s']:.0f} requests/s, {r['queries_per_s']:.0f} queries/s"
            + (f"; statuses {r['statuses']}" if r["errors"] else ""))


def parse_where(text: str | None) -> Any:
    """A JSON filter object when ``text`` is one, else the text as a SQL expression."""
    if text is None:
        return None
    if text.lstrip().startswith("{"):
        return json.loads(text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8000")
    target.add_argument("--start", metavar="PATH", help="start 'mcindex serve PATH' on a free port, measure, stop it")
    parser.add_argument("--requests", type=int, default=1000, help="requests to send (default: 1000)")
    parser.add_argument("--concurrency", type=int, default=1, help="parallel connections (default: 1)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="stop after this long (default: 60)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1, help="queries per request (default: 1)")
    parser.add_argument("--where", help="a JSON filter object, or a SQL expression")
    parser.add_argument("--ef", type=int, default=None)
    parser.add_argument("--strategy", choices=["auto", "mci", "graph", "exact"], default=None)
    parser.add_argument("--warmup", type=int, default=20, help="requests sent before measuring (default: 20)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ray", action="store_true", help="with --start: serve under Ray Serve (mcindex serve --ray)")
    parser.add_argument("--replicas", type=int, default=1, help="with --start --ray (default: 1)")
    parser.add_argument("--serve-arg", action="append", default=[], metavar="ARG",
                        help="with --start: an extra argument for mcindex serve (repeatable), "
                             "e.g. --serve-arg=--ray-temp-dir=/tmp/rayB")
    parser.add_argument("--start-timeout", type=float, default=180.0, help="seconds to wait for /health")
    parser.add_argument("--server-log", default=None, help="with --start: file for the server's output "
                                                           "(default: a temporary file)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    for name in ("requests", "concurrency", "k", "batch", "replicas"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    if args.max_seconds <= 0:
        parser.error("--max-seconds must be > 0")
    try:
        where = parse_where(args.where)
    except json.JSONDecodeError as exc:
        parser.error(f"--where: not valid JSON: {exc}")

    proc = None
    url = args.url
    log = None
    try:
        if args.start:
            import tempfile

            log = open(args.server_log, "wb") if args.server_log else tempfile.NamedTemporaryFile(
                prefix="mcindex-serve-", suffix=".log", delete=False)
            proc, url = start_server(args.start, ray=args.ray, replicas=args.replicas, serve_args=args.serve_arg,
                                     timeout=args.start_timeout, log=log)
        result = run_load(url, requests=args.requests, concurrency=args.concurrency, max_seconds=args.max_seconds,
                          k=args.k, batch=args.batch, where=where, ef=args.ef, strategy=args.strategy,
                          warmup=args.warmup, seed=args.seed)
    except (RuntimeError, OSError) as exc:
        print(f"http_load: error: {exc}", file=sys.stderr)
        return 1
    finally:
        if proc is not None:
            stop_server(proc)
        if log is not None:
            log.close()
    result["server"] = None if not args.start else "ray" if args.ray else "uvicorn"
    result["replicas"] = args.replicas if args.start and args.ray else None
    result["command"] = shlex.join(["python", "benchmarks/http_load.py", *(sys.argv[1:] if argv is None else argv)])
    result["cpus"] = os.cpu_count()
    print(json.dumps(result, indent=1) if args.json else format_result(result))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
