"""Batch search throughput with 1 and 2 threads (the issue-4 target: 2 threads >= 1.8x 1 thread).

    python benchmarks/thread_scaling.py [--index glove-50.mci] [--queries 1000] [--ef 64] \
        [--cases random:0.01,random:0.1,random:0.3,random:1] [--rounds 3]

Each (case, threads) is timed over the whole batch in one call, best of --rounds, alternating
1 and 2 threads so both see the same machine. Builds and saves the index if the file is missing.
"""

from __future__ import annotations

import argparse
import os
import time

import mcindex
from mcindex import datasets, evaluate, workloads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", default="glove-50.mci")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--ef", type=int, default=64)
    ap.add_argument("--cases", default="random:0.01,random:0.1,random:0.3,random:1")
    ap.add_argument("--strategy", default="auto")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    ds = datasets.load("glove-50", n_queries=args.queries)
    if not os.path.exists(args.index):
        mcindex.Index.build(ds.data, ds.metric, progress=True, stats_sample=0).save(args.index)
    index = mcindex.Index.load(args.index)
    print(f"| workload | selectivity | routes | recall@10 | QPS 1 thread | QPS 2 threads | ratio |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for case in args.cases.split(","):
        name, s = case.split(":")
        wl = workloads.make(name, ds, float(s), seed=0) if float(s) < 1 else None
        flt = wl.filters if wl else None
        truth, _ = workloads.ground_truth(ds, wl, k=10) if wl else mcindex.exact_search(
            ds.data, ds.queries, 10, metric=ds.metric)
        best = {1: float("inf"), 2: float("inf")}
        for _ in range(args.rounds):
            for threads in (1, 2):
                t0 = time.perf_counter()
                ids, _, st = index.search(ds.queries, 10, flt, ef=args.ef, strategy=args.strategy,
                                          threads=threads, return_stats=True)
                best[threads] = min(best[threads], time.perf_counter() - t0)
        routes = ", ".join(f"{r} {int((st['strategy'] == r).sum())}" for r in ("exact", "mci", "graph")
                           if (st["strategy"] == r).any())
        q1, q2 = ds.n_queries / best[1], ds.n_queries / best[2]
        print(f"| {name} | {s} | {routes} | {evaluate.recall(ids, truth):.3f} | {q1:,.0f} | {q2:,.0f} | "
              f"{q2 / q1:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
