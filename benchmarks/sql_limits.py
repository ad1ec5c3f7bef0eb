"""SQL filters under limits: how long a slow filter runs, how much a cheap request waits while it
runs (in-process and over HTTP), and the peak memory of hostile filters.

    python benchmarks/sql_limits.py latency            # in-process and HTTP, 1,500 rows
    python benchmarks/sql_limits.py memory             # each hostile filter in a fresh process
    python benchmarks/sql_limits.py filters --rows 1000000  # ordinary filters, no index built

``latency`` builds a collection with price / category / tags columns and runs the 82-character
cross join of the issue (``SLOW``) under the default limits (1 s, 256 MiB, 4 connections):
alone; then with a cheap SQL filter (``price < 50``) and a cheap predicate searched one after
another in another thread (the median of up to 100 against the median of 100 alone); then the
same over HTTP with ``mcindex.serve.make_app`` on a uvicorn server on loopback, plus eight slow
requests at once. ``memory`` runs each filter of ``HOSTILE`` in a child process and reports
its peak RSS above the RSS before the filter (VmHWM, reset first) and how it ended. ``filters``
times ordinary filters (``ORDINARY``) over ``--rows`` rows (the median of 10, ms), the scale
the default time budget is set against. Linux only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

SLOW = "(SELECT count(*) FROM range(20000) a, range(20000) b WHERE a.range + b.range = price) > 0"
CHEAP = "price < 50"
HOSTILE = {
    "cross join (time budget)": SLOW,
    "list of 1e9 rows (memory limit)": "(SELECT len(list(r.range)) FROM range(1000000000) r) > 0",
    "string_agg of 1e8 rows (memory limit)":
        "(SELECT length(string_agg(r.range::VARCHAR, '')) FROM range(100000000) r) > 0",
    "recursive doubling CTE (memory limit)": "(WITH RECURSIVE t(s) AS (SELECT 'x' UNION ALL SELECT s || s FROM t "
                                             "WHERE length(s) < 2000000000) SELECT max(length(s)) FROM t) > 0",
    "repeat('x', 300000000) (size guard)": "length(repeat('x', 300000000)) > 0",
    "lpad per row (size guard)": "length(lpad(category, 1000000, 'x')) > 0",
    "hex nested 16 times (size guard)": "length(" + "hex(" * 16 + "category" + ")" * 16 + ") > 0",
    "hex nested 13 times (allowed: 8,192 times longer)": "length(" + "hex(" * 13 + "category" + ")" * 13 + ") > 0",
    "a 0.5 MB sub-query result joined to every row (not bounded)":
        "length((SELECT string_agg(r.range::VARCHAR, '') FROM range(100000) r) || category) > 0",
}


ORDINARY = [
    "price < 50",
    "price < 50 AND category = 'shoes'",
    "list_contains(tags, 'sale') AND price BETWEEN 10 AND 20",
    "category IN ('hats', 'bags') OR lower(category) LIKE 'sh%'",
]


def attributes(rows: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    tags = np.array([[], ["sale"], ["new"], ["sale", "eco"]], dtype=object)
    return {"price": rng.uniform(0, 100, rows), "category": rng.choice(["shoes", "hats", "bags"], rows),
            "tags": list(tags[rng.integers(0, len(tags), rows)])}


def filters(rows: int) -> dict[str, Any]:
    """Median ms of each ordinary filter over ``rows`` rows (the attribute columns alone)."""
    from mcindex.collection.sql import SqlFilter
    from mcindex.collection.table import build_columns, read_attributes

    sql = SqlFilter(build_columns(read_attributes(attributes(rows)), rows, None), rows)
    out: dict[str, Any] = {"rows": rows}
    for where in ORDINARY:
        sql.compile(where)
        out[where] = {"ms": 1e3 * statistics.median(timed(lambda: sql.compile(where)) for _ in range(10)),
                      "matches": sql.compile(where).count()}
    return out


def collection(rows: int) -> Any:
    from mcindex import Collection

    vectors = np.random.default_rng(1).standard_normal((rows, 16)).astype(np.float32)
    return Collection.build(vectors, attributes(rows), metric="l2", threads=2, progress=False, calibrate=False,
                            stats_sample=0)


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    try:
        fn()
    except ValueError:
        pass
    return time.perf_counter() - start


def alone_and_during(slow: Callable[[], Any], cheap: Callable[[], Any], budget: float,
                     count: int = 100) -> dict[str, float]:
    """Median latency of ``cheap`` alone and while ``slow`` runs in another thread (ms)."""
    cheap()
    alone = [timed(cheap) for _ in range(count)]
    worker = threading.Thread(target=lambda: timed(slow))
    worker.start()
    time.sleep(0.05)
    during, stop = [], time.perf_counter() + 0.6 * budget
    while len(during) < count and time.perf_counter() < stop:
        during.append(timed(cheap))
    still = worker.is_alive()
    worker.join()
    return {"alone_ms": 1e3 * statistics.median(alone), "during_ms": 1e3 * statistics.median(during),
            "added_ms": 1e3 * (statistics.median(during) - statistics.median(alone)), "n_during": len(during),
            "overlapped": still}


def latency(rows: int) -> dict[str, Any]:
    from mcindex import col

    c = collection(rows)
    q = c.index.vectors[:1] + 0.01
    budget = c.sql_limits.time_budget
    c.count(CHEAP)
    out: dict[str, Any] = {"rows": rows, "limits": c.sql_limits.describe()}
    out["slow_alone_s"] = timed(lambda: c.count(SLOW))
    out["cheap_sql_count_ms"] = 1e3 * statistics.median(timed(lambda: c.count(CHEAP)) for _ in range(30))
    slow = lambda: c.search(q, 10, SLOW, threads=1)  # noqa: E731
    out["in_process_sql"] = alone_and_during(slow, lambda: c.search(q, 10, CHEAP, threads=1), budget)
    out["in_process_predicate"] = alone_and_during(slow, lambda: c.search(q, 10, col("price") < 50, threads=1),
                                                   budget)
    out.update(over_http(c, q.tolist(), budget))
    return out


def over_http(c: Any, q: list, budget: float) -> dict[str, Any]:
    import uvicorn

    from mcindex.serve import make_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(make_app(c), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    local = threading.local()

    def post(where: Any) -> int:
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        local.conn.request("POST", "/search", json.dumps({"queries": q, "k": 10, "where": where}),
                           {"Content-Type": "application/json"})
        response = local.conn.getresponse()
        response.read()
        return response.status

    out: dict[str, Any] = {}
    try:
        out["http_slow_alone_s"] = timed(lambda: post(SLOW))
        out["http_sql"] = alone_and_during(lambda: post(SLOW), lambda: post(CHEAP), budget)
        out["http_json"] = alone_and_during(lambda: post(SLOW), lambda: post({"col": "price", "op": "<", "value": 50}),
                                            budget)
        statuses: list[int] = []
        workers = [threading.Thread(target=lambda: statuses.append(post(SLOW))) for _ in range(8)]
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        out["http_eight_slow_s"] = time.perf_counter() - start
        out["http_eight_slow_statuses"] = sorted(statuses)
    finally:
        server.should_exit = True
        thread.join(10)
    return out


def _vm(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


def one_filter(where: str, rows: int) -> dict[str, Any]:
    """Runs in a child: the filter's wall time, outcome and peak RSS above the RSS before it."""
    c = collection(rows)
    c.count(CHEAP)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS
    before = _vm("VmRSS")
    start = time.perf_counter()
    try:
        outcome = f"{c.count(where)} rows"
    except ValueError as exc:
        outcome = f"{type(exc).__name__}: {str(exc).split(': ', 1)[-1][:80]}"
    return {"seconds": time.perf_counter() - start, "peak_above_mb": _vm("VmHWM") - before, "outcome": outcome}


def memory(rows: int) -> dict[str, Any]:
    out = {}
    for name, where in HOSTILE.items():
        child = subprocess.run([sys.executable, __file__, "_one", "--rows", str(rows), "--where", where],
                               capture_output=True, text=True, timeout=600)
        out[name] = json.loads(child.stdout) if child.returncode == 0 else {"error": child.stderr[-300:]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["latency", "memory", "filters", "_one"])
    parser.add_argument("--rows", type=int, default=1500)
    parser.add_argument("--where", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.what == "_one":
        print(json.dumps(one_filter(args.where, args.rows)))
        return
    result = {"latency": latency, "memory": memory, "filters": filters}[args.what](args.rows)
    print(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
