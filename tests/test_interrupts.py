"""Ctrl-C (SIGINT) during a long batch search or a build returns control within a second and
leaves nothing corrupted: a child process is interrupted in the middle of each call, must raise
KeyboardInterrupt within 1 s of the signal, and must then search (or build) exactly as before.
RELIABILITY.md, "Interrupts"."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

LIMIT = 1.0  # seconds from SIGINT to KeyboardInterrupt

# Runs the scenarios named on the command line one after the other. For each it prints
# "start <name>", runs a call lasting seconds, and prints "interrupted <monotonic time>" when
# SIGINT stops it (or "finished"), then "ok" if the process still computes what it did before.
CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    from mcindex import Bitmap, ExactIndex, Index

    rng = np.random.default_rng(0)

    def say(*words):
        print(*words, flush=True)

    def interruptible(name, call):
        say("start", name)
        try:
            call()
            say("finished")
        except KeyboardInterrupt:
            say("interrupted", time.monotonic())

    def search_scenario(name, search, queries):
        probe = queries[:50].copy()
        before = search(probe)
        interruptible(name, lambda: search(queries))
        after = search(probe)
        same = np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])
        say("ok" if same else "differs")

    def build_scenario(name, data, params):
        def progress(phase, done, total):
            if phase == name and not started:
                started.append(phase)
                say("start", phase)  # the phase under test has begun
        started = []
        try:
            Index.build(data, threads=2, progress=progress, stats_sample=0, calibrate=False, **params)
            say("finished")
        except KeyboardInterrupt:
            say("interrupted", time.monotonic())
        # Nothing is left half-built: a new build in the same process works and finds every point.
        small = data[:1000]
        again = Index.build(small, threads=2, progress=False, stats_sample=0, calibrate=False, pool_size=16)
        found = again.search(small, 1, strategy="graph")[0][:, 0]
        say("ok" if np.array_equal(found, np.arange(1000)) else "differs")

    exact_data = rng.standard_normal((100000, 32)).astype(np.float32)
    exact = ExactIndex(exact_data)
    exact_queries = rng.standard_normal((20000, 32)).astype(np.float32)
    small = rng.standard_normal((3000, 16)).astype(np.float32)
    index = Index.build(small, threads=2, progress=False, stats_sample=0, calibrate=False, pool_size=32)
    half = Bitmap.from_mask(np.arange(len(small)) % 2 == 0)
    many = rng.standard_normal((400000, 16)).astype(np.float32)
    build_data = rng.standard_normal((50000, 16)).astype(np.float32)
    fast_graph = dict(degree=8, build_list=16)
    # Parameters that make the phase under test the long one (seconds) and the others short.
    build_params = {"navigable graph": {},
                    "kNN pool": dict(fast_graph, pool_size=200, pool_search_list=201),
                    "clique cover": dict(fast_graph, pool_method="two_hop", pool_size=64, min_memberships=3)}

    for name in sys.argv[1].split(","):
        kind, _, arg = name.partition(":")
        if kind == "exact_search":
            threads = int(arg)
            search_scenario(name, lambda q: exact.search(q, 10, threads=threads), exact_queries)
        elif kind == "index":
            strategy, threads = arg.split("/")
            search_scenario(name, lambda q: index.search(q, 10, half, strategy=strategy, threads=int(threads), ef=128),
                            many)
        else:
            build_scenario(arg, build_data, build_params[arg])
""")

SEARCHES = ["exact_search:1", "exact_search:2", "index:exact/2", "index:graph/1", "index:mci/2", "index:auto/2"]
BUILDS = ["build:navigable graph", "build:kNN pool", "build:clique cover"]


def latencies(scenarios: list[str], delay: float) -> dict[str, float]:
    """Run the scenarios in one child; SIGINT each `delay` s after it starts; the latencies."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, ",".join(scenarios)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out: dict[str, float] = {}
    try:
        for name in scenarios:
            line = proc.stdout.readline()
            assert line.startswith("start"), (name, line, proc.stderr.read() if proc.poll() is not None else "")
            time.sleep(delay)
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            result = proc.stdout.readline().split()
            assert result[:1] == ["interrupted"], f"{name}: the call finished before the signal ({result})"
            out[name] = float(result[1]) - sent
            assert proc.stdout.readline().strip() == "ok", f"{name}: results differ after the interrupt"
        proc.wait(timeout=60)
        assert proc.returncode == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    return out


def test_ctrl_c_stops_a_batch_search_within_a_second():
    measured = latencies(SEARCHES, 0.5)
    print({name: round(t, 3) for name, t in measured.items()})  # the figures (pytest -s)
    slow = {name: t for name, t in measured.items() if t >= LIMIT}
    assert not slow, f"seconds from SIGINT to KeyboardInterrupt: {slow}"


def test_ctrl_c_stops_each_build_phase_within_a_second():
    measured = latencies(BUILDS, 0.3)
    print({name: round(t, 3) for name, t in measured.items()})
    slow = {name: t for name, t in measured.items() if t >= LIMIT}
    assert not slow, f"seconds from SIGINT to KeyboardInterrupt: {slow}"
