"""The search planner: which route answers a query, calibrated on the index's own data.

Each query is answered by one of three routes: the exact scan over the valid points, the clique
traversal, or the navigable graph. Which is fastest depends mostly on the fraction ``s`` of
points the filter allows: the scan costs ``s * n`` streaming distance computations, a traversal
a roughly constant number of random-access ones that grows as the valid points thin out.

:func:`calibrate` measures this at build time: for a grid of selectivities it times every route
on sample queries (random base points, random filters), each route at the smallest ``ef`` of a
ladder that reaches the target recall, and records where the cheapest route changes. The
resulting rule is two thresholds on ``s`` (exact below, graph above, cliques between) plus the
cost of one traversal distance in scan distances, which bounds how long a planned traversal may
run before the query is handed to the exact scan (filters anti-correlated with the query, where
traversals crawl).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .bitmap import Bitmap
from .evaluate import recall as _recall

if TYPE_CHECKING:
    from .index import Index

#: Selectivities the calibration measures.
GRID = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
#: ef values tried per route, in order; the first that reaches the target recall is used.
EF_LADDER = (16, 24, 32, 48, 64, 96, 128, 192, 256)
ROUTES = ("exact", "mci", "graph")

#: The rule used before calibration (and by indexes saved without one): GloVe-400k figures.
DEFAULT = {"exact_max_fraction": 0.08, "graph_min_fraction": 0.3, "exact_cost_ratio": 0.0,
           "exact_min_valid": 2000}


def _timed(fn: Any, repeats: int) -> tuple[float, Any]:
    best, out = math.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _random_filters(n: int, s: float, exclude: np.ndarray, rng: np.random.Generator) -> list[Bitmap]:
    """One random filter per query, each admitting about s * n points but never the query's own
    base point (the sample queries are base points; finding themselves would flatter the graphs)."""
    count = max(1, min(n - 1, round(s * n)))
    out = []
    for own in exclude:
        ids = rng.choice(n - 1, size=count, replace=False)
        ids[ids >= own] += 1
        out.append(Bitmap.from_ids(np.sort(ids), n))
    return out


def _sample_queries(index: Index, own: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Base points moved by their nearest-neighbour distance in a random direction: real
    queries are not base points, and a base point's own graph edges lead straight to its
    neighbours, which makes every route look cheaper than it is."""
    base = np.ascontiguousarray(index.vectors[own], dtype=np.float32)
    _, d = index.search(base, 2, strategy="exact", threads=1)
    near = np.sqrt(np.maximum(d[:, 1], 0.0)) if index.metric == "l2" else np.sqrt(np.maximum(2 * d[:, 1], 0.0))
    step = rng.standard_normal(base.shape).astype(np.float32)
    step *= (near / np.maximum(np.linalg.norm(step, axis=1), 1e-12))[:, None]
    return np.ascontiguousarray(base + step, dtype=np.float32)


def calibrate(index: Index, *, n_queries: int = 100, k: int = 10, target_recall: float = 0.95,
              repeats: int = 2, seed: int = 0,
              progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Measure the routes on ``index`` and return the planner rule (see the module docstring).

    Args:
        index: a built index.
        n_queries: sample queries (random base points) per selectivity.
        k: neighbours per query.
        target_recall: a route counts at a selectivity only with an ef that reaches this mean
            recall@k; its cost is measured at the smallest such ef of :data:`EF_LADDER`.
        repeats: each timing is the best of this many runs (the machine may be shared).
        seed: seeds the sample.
        progress: called as ``progress(done, total)`` after each selectivity.

    Returns:
        ``{"exact_max_fraction", "graph_min_fraction", "exact_cost_ratio", "exact_min_valid",
        "table"}``; ``table`` lists, per selectivity, each route's microseconds per query, ef and
        recall.
    """
    n = len(index)
    if n < 4 * k:
        return dict(DEFAULT, exact_min_valid=n, table=[])
    rng = np.random.default_rng(seed)
    own = rng.choice(n, size=min(n_queries, n), replace=False)
    queries = _sample_queries(index, own, rng)
    table: list[dict[str, Any]] = []
    ratios: list[float] = []
    grid = [s for s in GRID if s * n >= 2 * k]
    for step, s in enumerate(grid):
        filters = None if s >= 1.0 else _random_filters(n, s, own, rng)
        row: dict[str, Any] = {"selectivity": s}
        t_exact, (truth, _) = _timed(lambda: index.search(queries, k, filters, strategy="exact", threads=1), repeats)
        row["exact"] = {"us": 1e6 * t_exact / len(own), "ef": 0, "recall": 1.0}
        for route in ("mci", "graph"):
            for ef in EF_LADDER:
                t, (ids, _, st) = _timed(lambda: index.search(queries, k, filters, ef=ef, strategy=route, threads=1,
                                                              return_stats=True), repeats)
                r = _recall(ids, truth)
                if r >= target_recall or ef == EF_LADDER[-1]:
                    row[route] = {"us": 1e6 * t / len(own), "ef": ef, "recall": round(float(r), 4),
                                  "distances": float(st["distances"].mean())}
                    if route == "graph" and s >= 0.05:
                        # one traversal distance in exact-scan distances: (t / dists) / (t_exact / valid)
                        ratios.append((t / st["distances"].sum()) / (t_exact / (s * n * len(own))))
                    break
        table.append(row)
        if progress is not None:
            progress(step + 1, len(grid))
    return dict(_rule(table, n), exact_cost_ratio=round(float(np.median(ratios)), 3) if ratios else 0.0,
                exact_min_valid=DEFAULT["exact_min_valid"], table=table)


def _cheapest(row: dict[str, Any], target_recall: float = 0.95) -> str:
    ok = [r for r in ROUTES if r in row and row[r]["recall"] >= target_recall]
    return min(ok, key=lambda r: row[r]["us"])


def _rule(table: list[dict[str, Any]], n: int) -> dict[str, float]:
    """Thresholds from the per-selectivity winners: exact up to the last selectivity where the
    scan wins before anything else does, graph from the first one after which it always wins."""
    if not table:
        return {k: DEFAULT[k] for k in ("exact_max_fraction", "graph_min_fraction")}
    best = [_cheapest(row) for row in table]
    s = [row["selectivity"] for row in table]
    i = 0
    while i < len(best) and best[i] == "exact":
        i += 1
    exact_max = 1.0 if i == len(best) else (s[i] if i == 0 else math.sqrt(s[i - 1] * s[i]))
    if i == 0:
        exact_max = s[0] / 2
    j = len(best)
    while j > 0 and best[j - 1] == "graph":
        j -= 1
    if j == len(best):
        graph_min = 1.01  # never: the graph route did not win even unfiltered
    elif j == 0:
        graph_min = 0.0
    else:
        graph_min = math.sqrt(s[j - 1] * s[j])
    graph_min = max(graph_min, exact_max)
    return {"exact_max_fraction": round(exact_max, 5), "graph_min_fraction": round(graph_min, 5)}


def check_rule(rule: Any, where: str) -> None:
    """Raise :class:`~mcindex.persistence.IndexFormatError` unless ``rule`` is a usable planner rule
    (it comes from a file, so it may be anything)."""
    from .persistence import IndexFormatError

    if not isinstance(rule, Mapping):
        raise IndexFormatError(f"{where} must be a dict, got {type(rule).__name__}")
    for key in ("exact_max_fraction", "graph_min_fraction", "exact_cost_ratio", "exact_min_valid"):
        value = rule.get(key, DEFAULT[key])
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0 <= value <= 2**32:
            raise IndexFormatError(f"{where}[{key!r}] must be a finite number >= 0, got {value!r}")
