"""``mcindex demo``: build the best index the package has (the clique index) and run filtered
queries.

Runs in well under a minute on 2 cores with nothing but the package installed: the data is
:func:`mcindex.datasets.synthetic` with a fixed seed (50,000 x 64; 5,000 x 32 with ``quick``),
or GloVe 400k x 50 with ``dataset="glove-50"`` when the ``glove`` extra is installed. Queries
come from two workloads ("label" and "range") at 1%, 10% and 50%; each row reports recall@10
against exact search, the QPS of the index and of exact search (:class:`mcindex.ExactIndex`),
both single-threaded, best of two runs, and the strategies the planner chose.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from ._progress import Progress

__all__ = ["DemoResult", "DemoRow", "format_rows", "run_demo"]

SEED = 7
FULL_SIZE = (50_000, 64)
QUICK_SIZE = (5_000, 32)
CLUSTERS = 64
K = 10
CASES = (("label", 0.01), ("label", 0.1), ("range", 0.01), ("range", 0.1), ("range", 0.5))
_REPEATS = 2  # best of two timed runs: the first warms the caches


@dataclass
class DemoRow:
    """One workload at one selectivity."""

    workload: str
    selectivity: float  # requested
    achieved: float  # mean achieved fraction of allowed points
    recall: float  # recall@K of the index against exact search
    qps: float  # the index, single thread
    exact_qps: float  # exact search, single thread
    strategies: str = ""  # the planner's choices, e.g. "graph 190, exact 10"


@dataclass
class DemoResult:
    """What the demo ran and measured."""

    dataset: str
    n: int
    dim: int
    n_queries: int
    metric: str
    index: str
    build_seconds: float
    rows: list[DemoRow] = field(default_factory=list)


def _best_index(data: np.ndarray, metric: str) -> Any:
    """The best index this package has, built over ``data``: the clique index, whose planner
    picks exact scan, clique traversal or the navigable graph per query.

    The returned object must offer ``search(queries, k, *, filter, threads) -> (ids, distances)``
    with one filter per query.
    """
    from .index import Index

    return Index.build(data, metric, progress=False, stats_sample=0)


def _timed_search(index: Any, queries: np.ndarray, filters: list[Any], repeats: int = _REPEATS
                  ) -> tuple[np.ndarray, float]:
    """Ids from ``index.search`` (single thread) and the best wall time of ``repeats`` runs."""
    best = float("inf")
    ids = np.empty((0, K), dtype=np.int64)
    for _ in range(repeats):
        start = time.perf_counter()
        ids, _ = index.search(queries, K, filter=filters, threads=1)
        best = min(best, time.perf_counter() - start)
    return ids, best


def _load(dataset: str, n_queries: int, quick: bool) -> Any:
    from . import datasets

    if dataset == "synthetic":
        n, dim = QUICK_SIZE if quick else FULL_SIZE
        return datasets.synthetic(n=n, dim=dim, clusters=CLUSTERS, n_queries=n_queries, seed=SEED)
    if dataset == "glove-50":
        return datasets.load("glove-50", n_queries=n_queries, seed=SEED)
    raise ValueError(f"unknown demo dataset {dataset!r}; choose synthetic or glove-50")


def run_demo(*, dataset: str = "synthetic", n_queries: int | None = None, quick: bool = False,
             silent: bool = False, log: TextIO | None = None) -> DemoResult:
    """Build :func:`_best_index` and measure it on filtered queries (see the module docstring).

    Args:
        dataset: "synthetic" (built in) or "glove-50" (needs ``pip install "mcindex[glove]"``).
        n_queries: Queries per workload (default 200, 50 with ``quick``).
        quick: A smaller synthetic dataset and fewer queries.
        silent: No progress bar.
        log: Where to write status lines (None: nowhere).
    """
    from . import workloads
    from .evaluate import recall
    from .exact import ExactIndex

    if n_queries is None:
        n_queries = 50 if quick else 200
    if n_queries < 1:
        raise ValueError(f"n_queries must be >= 1, got {n_queries}")

    with Progress(2 + 2 * len(CASES), "demo", silent=silent) as bar:
        bar.set_description("loading data")
        ds = _load(dataset, n_queries, quick)
        bar.update(desc="building index")
        start = time.perf_counter()
        index = _best_index(ds.data, ds.metric)
        build_seconds = time.perf_counter() - start
        exact = ExactIndex(ds.data, ds.metric)
        bar.update()
        result = DemoResult(dataset=ds.name, n=ds.n, dim=ds.dim, n_queries=ds.n_queries, metric=ds.metric,
                            index=type(index).__name__, build_seconds=build_seconds)
        if log is not None:
            log.write(f"{ds.name}: {ds.n:,} x {ds.dim} ({ds.metric}), {ds.n_queries} queries; "
                      f"built {result.index} in {build_seconds:.2f} s\n")
            log.flush()
        for name, sel in CASES:
            bar.set_description(f"{name} s={sel:g}")
            wl = workloads.make(name, ds, sel, seed=SEED)
            true_ids, exact_seconds = _timed_search(exact, ds.queries, wl.filters)
            bar.update()
            ids, seconds = _timed_search(index, ds.queries, wl.filters)
            _, _, stats = index.search(ds.queries, K, wl.filters, threads=1, return_stats=True)
            names, counts = np.unique(stats["strategy"], return_counts=True)
            strategies = ", ".join(f"{name} {count}" for count, name in sorted(zip(counts, names), reverse=True))
            bar.update()
            result.rows.append(DemoRow(
                workload=name, selectivity=sel, achieved=float(np.mean(wl.selectivity)),
                recall=recall(ids, true_ids, K),
                qps=ds.n_queries / seconds if seconds > 0 else float("inf"),
                exact_qps=ds.n_queries / exact_seconds if exact_seconds > 0 else float("inf"),
                strategies=strategies,
            ))
    return result


def format_rows(result: DemoResult) -> str:
    """The demo's results as a markdown table with a one-line header."""
    header = ["workload", "selectivity", f"recall@{K}", "QPS", "exact QPS", "planner's strategies"]
    rows = [[r.workload, f"{r.selectivity:g} ({r.achieved:.3g})", f"{r.recall:.3f}",
             f"{r.qps:,.0f}", f"{r.exact_qps:,.0f}", r.strategies] for r in result.rows]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    right = {2, 3, 4}

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if i in right else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    sep = "|" + "|".join("-" * (w + 1) + ":" if i in right else "-" * (w + 2) for i, w in enumerate(widths)) + "|"
    title = (f"{result.index} on {result.dataset} ({result.n:,} x {result.dim}, {result.metric}), "
             f"{result.n_queries} queries per row, k={K}, single thread; "
             f"selectivity = requested (achieved)")
    return "\n".join([title, "", line(header), sep, *(line(r) for r in rows)])
