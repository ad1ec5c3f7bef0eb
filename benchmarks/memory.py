"""Memory of mcindex: peak RSS of a build against the raw vector bytes, RSS after ``del index``,
and RSS growth over many build/search/save/load/free cycles (a leak check).

Each measurement runs in a fresh child process (this script re-invoked), so the figures are
the build's own and not the leftovers of an earlier one. Linux only (reads /proc/self/status).

    python benchmarks/memory.py build --n 1000000 --dim 128 --threads 2      # several minutes
    python benchmarks/memory.py leak --cycles 1000
    python benchmarks/memory.py build --n 100000 --dim 32 --json             # machine-readable

``build`` reports, in MB: ``raw`` (n * dim * 4, the vectors as float32), ``baseline`` (RSS with
the data generated, before the build), ``peak`` (VmHWM during the build: the peak counter is
reset just before it), ``built`` (RSS with the index alive), ``after_del`` (RSS after
``del index`` and a garbage collection), ``after_trim`` (then after glibc's ``malloc_trim(0)``:
memory the allocator kept for reuse goes back) and their ratios to ``raw``. ``leak`` reports RSS after
``--warmup`` cycles and after all of them, and the growth per 1,000 cycles.
tests/test_memory.py runs CI-sized versions of both.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

MB = 1 << 20


def status_kb(field: str) -> int:
    """A field of /proc/self/status in kB (VmRSS, VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def rss_mb() -> float:
    return status_kb("VmRSS") / 1024


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def malloc_trim() -> float | None:
    """RSS after mcindex.release_memory() (glibc's malloc_trim(0): free heap memory back to the
    system; None without glibc): what is left after it is held, not merely cached."""
    import mcindex

    return rss_mb() if mcindex.release_memory() else None


# ---- the measurements (run in the child) ---------------------------------------------------------
def measure_build(n: int, dim: int, threads: int, seed: int, params: dict[str, Any]) -> dict[str, Any]:
    from mcindex import Index

    data = np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)
    gc.collect()
    baseline = rss_mb()
    exact_peak = reset_peak()
    t0 = time.perf_counter()
    index = Index.build(data, "l2", threads=threads, progress=False, seed=seed, **params)
    seconds = time.perf_counter() - t0
    peak = status_kb("VmHWM") / 1024
    built = rss_mb()
    index_mb = (sum(a.nbytes for a in index._sections.values())) / MB
    del index
    gc.collect()
    after = rss_mb()
    trimmed = malloc_trim()
    raw = n * dim * 4 / MB
    return {
        "n": n, "dim": dim, "threads": threads, "params": params, "build_seconds": round(seconds, 1),
        "raw_mb": round(raw, 1), "index_mb": round(index_mb, 1), "baseline_mb": round(baseline, 1),
        "peak_mb": round(peak, 1), "built_mb": round(built, 1), "after_del_mb": round(after, 1),
        "peak_over_baseline_per_raw": round((peak - baseline) / raw, 2),
        "peak_per_raw": round(peak / raw, 2),
        "retained_after_del_mb": round(after - baseline, 1),
        "retained_after_trim_mb": None if trimmed is None else round(trimmed - baseline, 1),
        "peak_reset": exact_peak,
    }


def cycle(rng: np.random.Generator, directory: str, n: int = 1000, dim: int = 32) -> None:
    """One build / search (every route) / save / load / free cycle of a small index."""
    from mcindex import Bitmap, Index, exact_search

    data = rng.standard_normal((n, dim), dtype=np.float32)
    queries = rng.standard_normal((200, dim), dtype=np.float32)
    # calibrate=False: the planner's calibration is Python timing searches (seconds at this size);
    # the searches below cover the same native code.
    index = Index.build(data, "cosine", pool_size=32, threads=2, progress=False, stats_sample=50, calibrate=False)
    flt = Bitmap.from_mask(rng.random(n) < 0.3)
    for strategy in ("auto", "mci", "graph", "exact"):
        index.search(queries, 10, flt, strategy=strategy, return_stats=True)
    exact_search(data, queries, 10, filter=flt)
    path = os.path.join(directory, "cycle.mci")
    index.save(path)
    for mmap in (False, True):
        Index.load(path, mmap=mmap).search(queries[:10], 5)
    try:  # bad input on the way: errors must not leak either
        index.search(queries[:, :3], 10)
    except ValueError:
        pass
    del index


def measure_leak(cycles: int, warmup: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    samples = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        for i in range(cycles):
            cycle(rng, directory)
            if i + 1 == warmup or (i + 1) % max(1, cycles // 10) == 0:
                gc.collect()
                samples.append((i + 1, round(rss_mb(), 1)))
    gc.collect()
    warm = next(rss for c, rss in samples if c == warmup)
    final = rss_mb()
    return {
        "cycles": cycles, "warmup": warmup, "seconds": round(time.perf_counter() - t0, 1),
        "rss_after_warmup_mb": warm, "rss_final_mb": round(final, 1),
        "growth_mb": round(final - warm, 1),
        "growth_per_1000_cycles_mb": round((final - warm) * 1000 / max(1, cycles - warmup), 1),
        "samples": samples,
    }


# ---- the parent: run the measurement in a fresh process ---------------------------------------------
def run_child(argv: list[str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), *argv, "--child"], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"measurement failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    b = sub.add_parser("build", help="peak RSS of one build, and RSS after del")
    b.add_argument("--n", type=int, default=1_000_000)
    b.add_argument("--dim", type=int, default=128)
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--param", action="append", default=[], metavar="NAME=INT",
                   help="an Index.build integer parameter, e.g. pool_size=64 (repeatable)")
    leak = sub.add_parser("leak", help="RSS growth over build/search/save/load/free cycles")
    leak.add_argument("--cycles", type=int, default=1000)
    leak.add_argument("--warmup", type=int, default=100)
    for p in (b, leak):
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--json", action="store_true", help="print one JSON line")
        p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not os.path.exists("/proc/self/status"):
        print("memory.py needs Linux (/proc/self/status)", file=sys.stderr)
        return 2

    if args.child:
        if args.what == "build":
            params = {k: int(v) if v.lstrip("-").isdigit() else v for k, v in (p.split("=", 1) for p in args.param)}
            out = measure_build(args.n, args.dim, args.threads, args.seed, params)
        else:
            out = measure_leak(args.cycles, args.warmup, args.seed)
        print(json.dumps(out))
        return 0

    forwarded = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--json"]
    result = run_child(forwarded)
    result["command"] = "python benchmarks/memory.py " + " ".join(forwarded)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>28}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
