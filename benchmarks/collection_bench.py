"""Filtered search through a Collection against its peers on a realistic attribute workload:
predicate compile time next to recall@k and QPS of every engine, all in one run.

    python benchmarks/collection_bench.py --dataset glove-50 --queries 1000 \
        --engines mcindex,mcindex-1q,faiss-hnsw,hnswlib,faiss-flat,exact \
        --max-seconds-per-point 20 --build-threads 2 --collection bench-results/glove-50.mcc --out bench-results

The attributes come from :mod:`mcindex.workloads_attributes` (GloVe's words: frequency rank,
length, first letter, suffix / digit / punctuation tags); the conditions are its ``queries()``
(a range AND a category, a tag OR a tag, negations, ...), each applied to every query vector.
Per condition:

* the condition is compiled into a bitmap twice, as a Python predicate and as a SQL string
  through DuckDB (median of --repeats; the two must select the same rows), and its
  selectivity is reported;
* the ground truth is mcindex's exact search over that bitmap;
* every engine searches the same queries under the same bitmap, single thread, sweeping its
  knob from the cheapest value up like ``mcindex bench`` (``mcindex.bench.harness.sweep``:
  recall@k against the ground truth and QPS per knob value, a time budget per point, stop at
  --recall-stop). The table gives the best QPS reaching recall 0.95 and the knob that did.

Engines (the peers are the adapters of ``mcindex bench``, ``mcindex.bench.indexes``):

=============  ================================================================================
mcindex        ``Collection.search(queries, k, where=bitmap, ef=...)``: the whole batch in one
               call with the one shared filter, as a user calls it. Knob: ef.
mcindex-1q     the same, one query per call (as the peers are called). Knob: ef.
faiss-hnsw     FAISS ``IndexHNSWFlat`` (M=32, efConstruction=200), ``SearchParametersHNSW`` with
               an ``IDSelectorBitmap`` over the compiled bitmap; one query per call. Knob: efSearch.
hnswlib        hnswlib (M=32, ef_construction=200), ``knn_query(filter=...)`` with a Python
               callable over the compiled mask; one query per call. Knob: ef.
faiss-flat     FAISS ``IndexFlatIP`` / ``IndexFlatL2`` with an ``IDSelectorBitmap``; exact.
exact          mcindex's exact filtered search (``ExactIndex``), the whole batch in one call.
=============  ================================================================================

QPS counts search calls only: the compile time is reported next to it (a bitmap serves a whole
batch; a caller with one query per condition pays compile + 1/QPS). Builds use
--build-threads; every search is single thread. The mcindex collection is loaded from
--collection when that directory holds one over the same rows, else built (and saved there).
--n keeps the first N base rows for a quick run. Results go to a JSON file in --out with the
command line, the machine, every sweep point and the compile times.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import mcindex
from mcindex import Bitmap, Collection, datasets, workloads_attributes
from mcindex.bench import indexes as peers
from mcindex.bench.harness import Curve, machine_info, sweep
from mcindex.bench.report import format_best, format_sweeps
from mcindex.collection._optional import available

PEERS = ("faiss-hnsw", "hnswlib", "faiss-flat", "exact")
ENGINES = ("mcindex", "mcindex-1q", *PEERS)
TARGET = 0.95


class CollectionAdapter(peers.IndexAdapter):
    """A built :class:`Collection` as a benchmark engine: the bitmap shared by all queries is
    passed once as ``where`` (``mcindex``), or each query searched on its own (``mcindex-1q``)."""

    knob_name = "ef"
    default_knobs = peers.MCIAdapter.default_knobs

    def __init__(self, collection: Collection, *, one_query_per_call: bool, strategy: str = "auto") -> None:
        super().__init__()
        self.name = "mcindex-1q" if one_query_per_call else "mcindex"
        self.collection = collection
        self.one_query_per_call = one_query_per_call
        self.strategy = strategy

        # built (or loaded) before, and timed on its own: attached, not built
        self.metric, self.n, self.dim, self.shared_build = collection.metric, len(collection), collection.dim, True

    def _build(self, data: np.ndarray, metric: str, threads: int, shared: dict[Any, Any]) -> None:
        raise RuntimeError("a CollectionAdapter wraps a collection that is already built")

    def _search(self, queries: np.ndarray, k: int, filters: list[Bitmap], knob_value: int | None,
                threads: int) -> np.ndarray:
        ef = int(knob_value or 64)
        shared = all(f is filters[0] for f in filters)
        if not self.one_query_per_call:
            where: Any = filters[0] if shared else filters
            return self.collection.search(queries, k, where=where, ef=ef, strategy=self.strategy, threads=threads)[0]
        out = np.empty((queries.shape[0], k), dtype=np.int64)
        for i in range(queries.shape[0]):
            out[i] = self.collection.search(queries[i:i + 1], k, where=filters[i], ef=ef, strategy=self.strategy,
                                            threads=1)[0][0]
        return out

    def index_bytes(self) -> int:
        st = self.collection.index.stats()
        return int(st["graph_bytes"] + st["vector_bytes"])


def _median_ms(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3, out


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _load_or_build(args: argparse.Namespace, ds: datasets.Dataset, attrs: dict[str, Any]
                   ) -> tuple[Collection, float | None]:
    if args.collection and os.path.exists(os.path.join(args.collection, "manifest.json")):
        c = Collection.load(args.collection)
        if len(c) == ds.n and c.dim == ds.dim and np.allclose(c.index.vectors[:5], _stored(ds, c.metric), atol=1e-5):
            _log(f"loaded {args.collection}")
            return c, None
        sys.exit(f"{args.collection} holds another collection ({len(c)} rows); remove it or change --n / --collection")
    _log(f"building the collection on {ds.n:,} x {ds.dim} ...")
    start = time.perf_counter()
    c = Collection.build(ds.data, attrs, metric=ds.metric, threads=args.build_threads, progress=True)
    seconds = time.perf_counter() - start
    if args.collection:
        c.save(args.collection)
    return c, seconds


def _stored(ds: datasets.Dataset, metric: str) -> np.ndarray:
    """The base vectors as the index stores them (unit rows for cosine)."""
    x = ds.data[:5]
    return x / np.linalg.norm(x, axis=1, keepdims=True) if metric == "cosine" else x


def _build_peers(names: list[str], ds: datasets.Dataset, threads: int) -> list[peers.IndexAdapter]:
    peers.check_available(names)
    built, shared = [], {}
    for name in names:
        adapter = peers.create(name)
        _log(f"building {name} on {ds.n:,} x {ds.dim} with {threads} thread(s) ...")
        adapter.build(ds.data, ds.metric, threads=threads, shared=shared)
        _log(f"built {name} in {adapter.build_seconds:.1f} s ({adapter.index_bytes() / 2**20:.1f} MiB)")
        built.append(adapter)
    return built


def _cell(curve: Curve) -> str:
    """Best QPS at recall >= TARGET with its knob, or the best recall reached."""
    point = curve.best_point(TARGET)
    if point is None:
        top = max((p.recall for p in curve.points), default=float("nan"))
        return f"- (max {top:.3f})"
    knob = "" if curve.knob_name is None else f" ({curve.knob_name}={point.knob})"
    return f"{point.qps:,.0f}{knob}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="glove-50", help="glove-50, synthetic, or a vector file")
    ap.add_argument("--n", "--limit", dest="n", type=int, default=None, help="keep only the first N base rows")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, from {', '.join(ENGINES)}")
    ap.add_argument("--strategy", default="auto", choices=["auto", "mci", "graph", "exact"],
                    help="mcindex's search route (default: the planner's choice)")
    ap.add_argument("--max-seconds-per-point", type=float, default=20.0,
                    help="time budget of one knob value over all queries (the rest is skipped)")
    ap.add_argument("--recall-stop", type=float, default=0.999, help="stop a sweep once recall reaches this")
    ap.add_argument("--build-threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--collection", default=None, help="collection directory to load, or to save after building")
    ap.add_argument("--repeats", type=int, default=5, help="repetitions of each compile timing (median)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown or not engines:
        ap.error(f"unknown engine(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(ENGINES)}")
    command = shlex.join(["python", *sys.argv])

    ds = datasets.load(args.dataset, n_queries=args.queries, seed=args.seed)
    if args.n is not None and args.n < ds.n:
        ds = datasets.Dataset(ds.name, ds.data[: args.n], ds.queries, ds.metric,
                              {k: v[: args.n] for k, v in ds.attributes.items()})
    start = time.perf_counter()
    attrs = workloads_attributes.attributes_for(ds, seed=args.seed)
    attr_seconds = time.perf_counter() - start
    collection, build_seconds = _load_or_build(args, ds, attrs)
    peer_names = [e for e in engines if e in PEERS]
    adapters: list[peers.IndexAdapter] = [CollectionAdapter(collection, one_query_per_call=e == "mcindex-1q",
                                                            strategy=args.strategy)
                                          for e in engines if e.startswith("mcindex")]
    adapters += _build_peers(peer_names, ds, args.build_threads)
    exact = mcindex.ExactIndex(ds.data, ds.metric)
    sql = available("duckdb") and available("pyarrow")
    if sql:  # the first SQL filter hands the table to DuckDB: kept out of the compile timings
        start = time.perf_counter()
        collection.compile("rank >= 0")
        sql_setup_ms = (time.perf_counter() - start) * 1e3
    else:
        sql_setup_ms = None

    rows, curves = [], []
    for q in workloads_attributes.queries():
        pred_ms, bitmap = _median_ms(lambda: collection.compile(q.predicate), args.repeats)
        sql_ms, same = None, None
        if sql:
            sql_ms, sql_bitmap = _median_ms(lambda: collection.compile(q.sql), args.repeats)
            same = sql_bitmap == bitmap
        filters = [bitmap] * ds.n_queries
        truth, _ = exact.search(ds.queries, args.k, filter=bitmap, threads=args.build_threads)
        row = {"condition": q.name, "predicate": q.predicate.to_sql(), "sql": q.sql, "matches": bitmap.count(),
               "selectivity": bitmap.count() / len(collection), "compile_predicate_ms": pred_ms,
               "compile_sql_ms": sql_ms, "sql_same_rows": same, "engines": {}}
        for adapter in adapters:
            _log(f"{q.name}: {adapter.name} ...")
            knobs = adapter.knob_values(args.k)
            points, reason = sweep(adapter, ds.queries, filters, truth, args.k, knobs, threads=1,
                                   max_seconds=args.max_seconds_per_point, recall_stop=args.recall_stop)
            curve = Curve(workload=q.name, selectivity=row["selectivity"], achieved_selectivity=row["selectivity"],
                          index=adapter.name, knob_name=adapter.knob_name, points=points, stop_reason=reason)
            curves.append(curve)
            best = curve.best_point(TARGET)
            row["engines"][adapter.name] = {"best_qps_at_0.95": None if best is None else best.qps,
                                            "knob_at_0.95": None if best is None else best.knob,
                                            "max_recall": max(p.recall for p in points), "stop": reason}
        rows.append(row)

    head = (f"{ds.name}: {len(collection):,} x {collection.dim} ({collection.metric}), {ds.n_queries} queries, "
            f"k={args.k}, single-thread searches, simd={mcindex.simd_level()}; attributes {attr_seconds:.1f} s, "
            + (f"collection build {build_seconds:.1f} s" if build_seconds is not None else "collection loaded")
            + "".join(f", {a.name} build {a.build_seconds:.1f} s" for a in adapters if not a.shared_build)
            + (f"; DuckDB table setup {sql_setup_ms:.0f} ms" if sql_setup_ms is not None else "; no DuckDB"))
    print(command, "\n")
    print(head, "\n")
    names = [a.name for a in adapters]
    print(f"Best QPS at recall@{args.k} >= {TARGET} (knob that reached it; '-': never reached, with the best recall)\n")
    print("| condition | selectivity | compile ms (predicate) | compile ms (SQL) | " + " | ".join(names) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(names))
    curve_of = {(c.workload, c.index): c for c in curves}
    for r in rows:
        sql_cell = "-" if r["compile_sql_ms"] is None else (
            f"{r['compile_sql_ms']:.2f}" + ("" if r["sql_same_rows"] else " (DIFFERENT ROWS)"))
        cells = [_cell(curve_of[(r["condition"], n)]) for n in names]
        print(f"| {r['condition']} | {r['selectivity']:.4f} | {r['compile_predicate_ms']:.2f} | {sql_cell} | "
              + " | ".join(cells) + " |")
    for r in rows:
        group = [c for c in curves if c.workload == r["condition"]]
        print(f"\n## {r['condition']} (selectivity {r['selectivity']:.4f}): {r['predicate']}\n")
        print(format_sweeps(group), "\n")
        print(format_best(group))

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"collection-{ds.name}-{time.strftime('%Y%m%d-%H%M%S')}.json")
    with open(path, "w") as f:
        json.dump({"command": command, "machine": machine_info(), "dataset": ds.name, "n": len(collection),
                   "dim": collection.dim, "metric": collection.metric, "queries": ds.n_queries, "k": args.k,
                   "strategy": args.strategy, "max_seconds_per_point": args.max_seconds_per_point,
                   "collection_build_seconds": build_seconds, "attribute_seconds": attr_seconds,
                   "sql_setup_ms": sql_setup_ms,
                   "builds": {a.name: {"seconds": None if a.shared_build else a.build_seconds,
                                       "bytes": a.index_bytes(), "params": a.params()} for a in adapters},
                   "results": rows, "curves": [dataclasses.asdict(c) for c in curves]}, f, indent=1, default=float)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
