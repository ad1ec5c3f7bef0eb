"""Build time against n, and a power-law fit to extrapolate it (the capacity plan in SCALING.md).

    python benchmarks/build_rate.py --sizes 100000,400000,1000000 --dim 128 --threads 2 \
        [--clusters 1024] [--save-dir DIR] [--out bench-results]

Builds one `Index` per size on `datasets.synthetic(n, dim, clusters)` (clustered Gaussian data,
deterministic) with default parameters, and records the build's wall time and its phases, build
seconds, points per second, index bytes and bytes per vector. Then fits
``seconds = a * n ** b`` by least squares on log-log and prints the extrapolation to 10M, 100M
and 1B points (one machine's worth of cores, as measured: divide by the cores you add).
Each size runs in this process, smallest first; pass ``--save-dir`` to keep the indexes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from typing import Any

import numpy as np

import mcindex
from mcindex import datasets


def fit_power_law(n: np.ndarray, seconds: np.ndarray) -> tuple[float, float]:
    """``(a, b)`` with ``seconds ~= a * n ** b``, least squares in log-log space."""
    b, log_a = np.polyfit(np.log(n), np.log(seconds), 1)
    return float(np.exp(log_a)), float(b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,400000,1000000")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--clusters", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save-dir", default=None, help="keep each index as DIR/synthetic-<n>x<dim>.mci")
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    rows: list[dict[str, Any]] = []
    print(f"| n | dim | build s | CPU s | load | points/s | index MiB | bytes/vector | phases (s) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for n in sizes:
        ds = datasets.synthetic(n=n, dim=args.dim, clusters=args.clusters, n_queries=1, seed=0)
        t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        index = mcindex.Index.build(ds.data, "l2", threads=args.threads, progress=False)
        seconds = time.perf_counter() - t0  # everything a user waits for, calibration included
        c1 = resource.getrusage(resource.RUSAGE_SELF)
        # CPU seconds over all threads: less sensitive than wall time to other work on the machine.
        cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
        load = os.getloadavg()[0]
        stats = index.stats()
        nbytes = int(stats["graph_bytes"] + stats["vector_bytes"])
        row = {"n": n, "dim": args.dim, "build_seconds": round(seconds, 2), "cpu_seconds": round(cpu, 1),
               "load_average_1min": round(load, 2), "points_per_second": round(n / seconds),
               "index_bytes": nbytes, "bytes_per_vector": round(nbytes / n, 1),
               "raw_vector_bytes": n * args.dim * 4, "phases": {k: round(v, 1) for k, v in stats["build_phase_seconds"].items()}}
        # The rest: the planner's calibration and the sample statistics the build reports.
        row["phases"]["other"] = round(seconds - sum(stats["build_phase_seconds"].values()), 1)
        rows.append(row)
        print(f"| {n:,} | {args.dim} | {seconds:,.1f} | {cpu:,.1f} | {load:.1f} | {n / seconds:,.0f} | {nbytes / 2**20:,.1f} | "
              f"{nbytes / n:,.1f} | {row['phases']} |", flush=True)
        if args.save_dir:
            os.makedirs(args.save_dir, exist_ok=True)
            index.save(os.path.join(args.save_dir, f"synthetic-{n}x{args.dim}.mci"))
        del index, ds
    result: dict[str, Any] = {"command": "python benchmarks/build_rate.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "threads": args.threads, "mcindex": mcindex.__version__, "rows": rows}
    if len(rows) >= 2:
        sizes_n = np.array([r["n"] for r in rows], float)
        for key, what in (("build_seconds", "wall"), ("cpu_seconds", "cpu")):
            a, b = fit_power_law(sizes_n, np.array([r[key] for r in rows]))
            fit = result.setdefault("fit", {})[what] = {"a": a, "b": b, "formula": f"{what} seconds = {a:.3g} * n^{b:.3f}"}
            print(f"\nfit: {what} seconds = {a:.3g} * n^{b:.3f}  (threads={args.threads})")
            for n in (10**7, 10**8, 10**9):
                s = a * n**b
                fit[f"seconds_at_{n}"] = s
                print(f"  n = {n:>13,}: {s:,.0f} s = {s / 3600:,.1f} h = {s / 86400:,.2f} days")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"build-rate-{args.dim}d-{time.strftime('%Y%m%d-%H%M%S')}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
