"""Per-route work counts of Index.search on GloVe: recall, QPS and what each query did
(distances computed, points expanded, groups opened, seeds), single thread.

    python benchmarks/route_stats.py [--index glove.mci] [--strategy mci] [--ef 16,64,256] \
        [--cases random:0.01,random:0.1,correlated:0.05] [--queries 200] [--param seeds=256 ...]

Builds the index with default parameters (and saves it to --index) unless that file exists.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import mcindex
from mcindex import datasets, evaluate, workloads


def routes(st: dict) -> str:
    names, counts = np.unique(st["strategy"], return_counts=True)
    return ", ".join(f"{n} {c}" for n, c in zip(names, counts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", default="glove-50.mci")
    ap.add_argument("--strategy", default="mci")
    ap.add_argument("--ef", default="16,64,256")
    ap.add_argument("--cases", default="random:0.01,random:0.1,correlated:0.05")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--param", action="append", default=[], help="extra Index.search argument, key=value (int)")
    args = ap.parse_args()
    extra = {key: int(value) for key, _, value in (p.partition("=") for p in args.param)}
    ds = datasets.load("glove-50", n_queries=args.queries)
    if not os.path.exists(args.index):
        mcindex.Index.build(ds.data, ds.metric, progress=True, stats_sample=0).save(args.index)
    index = mcindex.Index.load(args.index)
    print("| workload | selectivity | ef | recall@10 | QPS | distances | expansions | groups | seeds | routes | fallbacks |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for case in args.cases.split(","):
        name, s = case.split(":")
        wl = workloads.make(name, ds, float(s), seed=0)
        truth, _ = workloads.ground_truth(ds, wl, k=10)
        for ef in (int(e) for e in args.ef.split(",")):
            t0 = time.perf_counter()
            ids, _, st = index.search(ds.queries, 10, wl.filters, ef=ef, strategy=args.strategy, threads=1,
                                      return_stats=True, **extra)
            qps = ds.n_queries / (time.perf_counter() - t0)
            print(f"| {name} | {s} | {ef} | {evaluate.recall(ids, truth):.3f} | {qps:,.0f} | "
                  f"{st['distances'].mean():,.0f} | {st['expansions'].mean():,.0f} | {st['cliques'].mean():,.0f} | "
                  f"{st['seeds'].mean():,.0f} | {routes(st)} | {int(st['fallback'].sum())} |", flush=True)


if __name__ == "__main__":
    main()
