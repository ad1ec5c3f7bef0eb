"""Filtered search through a Collection: predicate compile time next to search time, and recall
against exact search over the same compiled filter. Single-thread search by default.

    python benchmarks/collection_bench.py [--dataset glove-50] [--queries 1000] [--k 10] [--ef 64] \
        [--collection glove-50.mcc] [--limit N] [--build-threads 2] [--out bench-results]

The attributes come from mcindex.workloads_attributes (GloVe's words: frequency rank, length,
first letter, suffix / digit / punctuation tags); the conditions are its ``queries()``, each
applied to every query vector. Per condition the table reports the selectivity, the time to
compile the Python predicate and the SQL string (DuckDB, when installed) into a bitmap (median
of --repeats), the search time per query given that bitmap (median of --search-repeats runs), QPS, recall@k against
``mcindex.exact_search`` with the same bitmap, the exact search time per query, and the share
of queries each route answered (in brackets: the share of planned traversals that overran their
budget and were answered by the exact scan after all).

The collection is built (index defaults; a few minutes on GloVe-400k with 2 threads) and saved
to --collection unless that directory already holds one. --limit keeps only the first N base
rows, for a quick smoke run. Results also go to a JSON file in --out, with the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time

import numpy as np

import mcindex
from mcindex import Collection, datasets, evaluate, workloads_attributes
from mcindex.collection._optional import available


def _median_ms(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, out


def _load_or_build(args, ds, attrs) -> tuple[Collection, float | None]:
    if args.collection and os.path.exists(os.path.join(args.collection, "manifest.json")):
        c = Collection.load(args.collection)
        if len(c) != ds.n:
            sys.exit(f"{args.collection} holds {len(c)} rows but the dataset has {ds.n}; remove it or change --limit")
        return c, None
    t0 = time.perf_counter()
    c = Collection.build(ds.data, attrs, metric=ds.metric, threads=args.build_threads, progress=True)
    seconds = time.perf_counter() - t0
    if args.collection:
        c.save(args.collection)
    return c, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="glove-50", help="glove-50, synthetic, or a vector file")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--ef", type=int, default=64)
    ap.add_argument("--strategy", default="auto", choices=["auto", "mci", "graph", "exact"])
    ap.add_argument("--threads", type=int, default=1, help="search threads (default: 1)")
    ap.add_argument("--build-threads", type=int, default=None, help="build threads (default: every core)")
    ap.add_argument("--collection", default=None, help="collection directory to load, or to save after building")
    ap.add_argument("--limit", type=int, default=None, help="keep only the first N base rows (smoke runs)")
    ap.add_argument("--repeats", type=int, default=5, help="repetitions of each compile timing (median)")
    ap.add_argument("--search-repeats", type=int, default=3,
                    help="repetitions of each search over all queries, indexed and exact (median; default 3)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args()

    ds = datasets.load(args.dataset, n_queries=args.queries, seed=args.seed)
    if args.limit is not None and args.limit < ds.n:
        ds = datasets.Dataset(ds.name, ds.data[: args.limit], ds.queries, ds.metric,
                              {k: v[: args.limit] for k, v in ds.attributes.items()})
    t0 = time.perf_counter()
    attrs = workloads_attributes.attributes_for(ds, seed=args.seed)
    attr_seconds = time.perf_counter() - t0
    collection, build_seconds = _load_or_build(args, ds, attrs)
    exact = mcindex.ExactIndex(collection.index.vectors, collection.metric)
    sql = available("duckdb") and available("pyarrow")
    if sql:  # the first SQL filter registers the table with DuckDB; keep that out of the timings
        t0 = time.perf_counter()
        collection.compile("rank >= 0")
        sql_setup_ms = (time.perf_counter() - t0) * 1e3
    else:
        sql_setup_ms = None

    rows = []
    for q in workloads_attributes.queries():
        pred_ms, bitmap = _median_ms(lambda: collection.compile(q.predicate), args.repeats)
        sql_ms, same = None, None
        if sql:
            sql_ms, sql_bitmap = _median_ms(lambda: collection.compile(q.sql), args.repeats)
            same = sql_bitmap == bitmap
        search_ms, (ids, _, stats) = _median_ms(
            lambda: collection.search(ds.queries, args.k, where=bitmap, ef=args.ef, strategy=args.strategy,
                                      threads=args.threads, return_stats=True), args.search_repeats)
        exact_ms, (truth, _) = _median_ms(lambda: exact.search(ds.queries, args.k, filter=bitmap, threads=args.threads),
                                          args.search_repeats)
        search_s, exact_s = search_ms / 1e3, exact_ms / 1e3
        routes = {r: float(np.mean(stats["strategy"] == r)) for r in ("exact", "mci", "graph")}
        routes["fallback"] = float(np.mean(stats["fallback"])) if "fallback" in stats else 0.0
        rows.append({
            "condition": q.name, "predicate": q.predicate.to_sql(), "sql": q.sql,
            "matches": bitmap.count(), "selectivity": bitmap.count() / len(collection),
            "compile_predicate_ms": pred_ms, "compile_sql_ms": sql_ms, "sql_same_rows": same,
            "search_ms_per_query": search_s * 1e3 / ds.n_queries, "qps": ds.n_queries / search_s,
            "recall": evaluate.recall(ids, truth, args.k), "exact_ms_per_query": exact_s * 1e3 / ds.n_queries,
            "routes": routes,
        })

    head = (f"{ds.name}: {len(collection):,} x {collection.dim} ({collection.metric}), {ds.n_queries} queries, "
            f"k={args.k}, ef={args.ef}, strategy={args.strategy}, search threads={args.threads}, "
            f"simd={mcindex.simd_level()}; attributes {attr_seconds:.1f} s"
            + (f", collection build {build_seconds:.1f} s" if build_seconds is not None else ", collection loaded")
            + (f", DuckDB table setup {sql_setup_ms:.0f} ms" if sql_setup_ms is not None else ", no DuckDB"))
    print(head, "\n")
    print("| condition | selectivity | compile ms (predicate) | compile ms (SQL) | search ms/query | QPS "
          f"| recall@{args.k} | exact ms/query | routes exact/mci/graph (fallback to exact) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        sql_cell = "-" if r["compile_sql_ms"] is None else f"{r['compile_sql_ms']:.2f}" + ("" if r["sql_same_rows"] else " (DIFFERENT ROWS)")
        routes = "/".join(f"{r['routes'][k]:.2f}" for k in ("exact", "mci", "graph"))
        routes += f" ({r['routes']['fallback']:.2f})"
        print(f"| {r['condition']} | {r['selectivity']:.4f} | {r['compile_predicate_ms']:.2f} | {sql_cell} | "
              f"{r['search_ms_per_query']:.3f} | {r['qps']:,.0f} | {r['recall']:.3f} | "
              f"{r['exact_ms_per_query']:.3f} | {routes} |")

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"collection-{ds.name}-{time.strftime('%Y%m%d-%H%M%S')}.json")
    with open(path, "w") as f:
        json.dump({"command": shlex.join([sys.executable, *sys.argv]), "machine": platform.platform(),
                   "simd": mcindex.simd_level(), "dataset": ds.name, "n": len(collection), "queries": ds.n_queries,
                   "k": args.k, "ef": args.ef, "strategy": args.strategy, "threads": args.threads,
                   "build_seconds": build_seconds, "attribute_seconds": attr_seconds, "sql_setup_ms": sql_setup_ms,
                   "results": rows}, f, indent=1)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
