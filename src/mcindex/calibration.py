"""Calibration of the planner, a step of the build: time every strategy on the index's own data.

:func:`calibrate` runs sample queries (base points moved off themselves) under random filters
at a grid of selectivities, each strategy at the smallest ``ef`` of a ladder that reaches the
target recall, and returns the cost table :mod:`mcindex.planner` turns into rules.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from .bitmap import Bitmap
from .evaluate import recall as _recall
from .planner import DEFAULT, EF_LADDER

if TYPE_CHECKING:
    from .index import Index

__all__ = ["GRID", "calibrate"]

#: Selectivities the calibration measures.
GRID = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)


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
    neighbours, which makes every strategy look cheaper than it is."""
    base = np.ascontiguousarray(index.vectors[own], dtype=np.float32)
    _, d = index.search(base, 2, strategy="exact", threads=1)
    near = np.sqrt(np.maximum(d[:, 1], 0.0)) if index.metric == "l2" else np.sqrt(np.maximum(2 * d[:, 1], 0.0))
    step = rng.standard_normal(base.shape).astype(np.float32)
    step *= (near / np.maximum(np.linalg.norm(step, axis=1), 1e-12))[:, None]
    return np.ascontiguousarray(base + step, dtype=np.float32)


def calibrate(index: Index, *, n_queries: int = 64, k: int = 10, repeats: int = 2, seed: int = 0,
              progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Measure the strategies on ``index`` and return the planner's cost table.

    Args:
        index: a built index.
        n_queries: sample queries (base points moved off themselves) per selectivity.
        k: neighbours per query.
        repeats: each timing is the best of this many runs (the machine may be shared).
        seed: seeds the sample.
        progress: called as ``progress(done, total)`` after each selectivity.

    Returns:
        ``{"table", "exact_cost_ratio", "exact_min_valid"}``. ``table`` holds one row per
        selectivity: the exact scan's microseconds per query, and for ``"mci"`` and ``"graph"``
        a list of ``[ef, microseconds, recall]`` along :data:`EF_LADDER` (cut off once a strategy
        is 2x slower than the scan, or than the graph strategy at the same recall). :func:`thresholds` turns it into the rule for a given
        ``ef``.
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
        t_exact, (truth, _) = _timed(lambda: index.search(queries, k, filters, strategy="exact", threads=1), repeats)
        row: dict[str, Any] = {"selectivity": s, "exact": round(1e6 * t_exact / len(own), 2)}
        for strategy in ("graph", "mci"):
            row[strategy] = []
            for ef in EF_LADDER:
                t, (ids, _, st) = _timed(lambda: index.search(queries, k, filters, ef=ef, strategy=strategy, threads=1,
                                                              return_stats=True), repeats)
                us, r = 1e6 * t / len(own), float(_recall(ids, truth))
                row[strategy].append([ef, round(us, 2), round(r, 4)])
                if strategy == "graph" and s >= 0.05:
                    # one traversal distance in exact-scan distances: (t / dists) / (t_exact / valid)
                    ratios.append((t / st["distances"].sum()) / (t_exact / (s * n * len(own))))
                # Stop climbing once the strategy cannot win here at a higher ef (twice the scan's
                # cost, or twice the graph's at this recall) or has nothing left to gain.
                rival = min([row["exact"]] + [g_us for _, g_us, g_r in row["graph"] if strategy == "mci" and g_r >= r])
                if us > 2 * rival or r >= 0.999:
                    break
        table.append(row)
        if progress is not None:
            progress(step + 1, len(grid))
    return {"table": table, "exact_cost_ratio": round(float(np.median(ratios)), 3) if ratios else 0.0,
            "exact_min_valid": DEFAULT["exact_min_valid"]}
