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
#: ef values measured per route.
EF_LADDER = (16, 32, 64, 128, 256)

#: The rule used before calibration (and by indexes saved without one): GloVe-400k figures.
DEFAULT = {"exact_max_fraction": 0.08, "graph_min_fraction": 0.3, "exact_cost_ratio": 0.0,
           "exact_min_valid": 2000}
ROUTES = ("exact", "mci", "graph")


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


def calibrate(index: Index, *, n_queries: int = 64, k: int = 10, repeats: int = 2, seed: int = 0,
              progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Measure the routes on ``index`` and return the planner's cost table.

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
        a list of ``[ef, microseconds, recall]`` along :data:`EF_LADDER` (cut off once a route
        is 2x slower than the scan, or than the graph route at the same recall). :func:`thresholds` turns it into the rule for a given
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
        for route in ("graph", "mci"):
            row[route] = []
            for ef in EF_LADDER:
                t, (ids, _, st) = _timed(lambda: index.search(queries, k, filters, ef=ef, strategy=route, threads=1,
                                                              return_stats=True), repeats)
                us, r = 1e6 * t / len(own), float(_recall(ids, truth))
                row[route].append([ef, round(us, 2), round(r, 4)])
                if route == "graph" and s >= 0.05:
                    # one traversal distance in exact-scan distances: (t / dists) / (t_exact / valid)
                    ratios.append((t / st["distances"].sum()) / (t_exact / (s * n * len(own))))
                # Stop climbing once the route cannot win here at a higher ef (twice the scan's
                # cost, or twice the graph's at this recall) or has nothing left to gain.
                rival = min([row["exact"]] + [g_us for _, g_us, g_r in row["graph"] if route == "mci" and g_r >= r])
                if us > 2 * rival or r >= 0.999:
                    break
        table.append(row)
        if progress is not None:
            progress(step + 1, len(grid))
    return {"table": table, "exact_cost_ratio": round(float(np.median(ratios)), 3) if ratios else 0.0,
            "exact_min_valid": DEFAULT["exact_min_valid"]}


def _at(curve: list[list[float]], ef: float) -> tuple[float, float]:
    """(microseconds, recall) of a route at ``ef``, interpolated in log(ef) along its measured
    curve; beyond the last measured point the cost grows in proportion to ef."""
    efs = [c[0] for c in curve]
    if ef <= efs[0]:
        return curve[0][1], curve[0][2]
    if ef >= efs[-1]:
        return curve[-1][1] * ef / efs[-1], curve[-1][2]
    i = next(j for j in range(1, len(efs)) if efs[j] >= ef)
    w = math.log(ef / efs[i - 1]) / math.log(efs[i] / efs[i - 1])
    return ((1 - w) * curve[i - 1][1] + w * curve[i][1], (1 - w) * curve[i - 1][2] + w * curve[i][2])


def _mci_cost_for_recall(curve: list[list[float]], want: float) -> float:
    """Microseconds the clique route needs to reach ``want`` recall (inf when it never did)."""
    for ef, us, r in curve:
        if r >= want:
            return us
    return math.inf


def winners(table: list[dict[str, Any]], ef: int) -> list[str]:
    """The cheapest route at each calibrated selectivity for a search with this ``ef``.

    The graph route runs at the caller's ``ef``; the clique route is charged for the smallest
    measured ef at which it reaches the graph route's recall (equal recall, not equal ef: the
    two routes' ef mean different amounts of work); the exact scan is always exact.
    """
    out = []
    for row in table:
        cost = {"exact": row["exact"]}
        if row.get("graph"):
            g_us, g_recall = _at(row["graph"], ef)
            cost["graph"] = g_us
            if row.get("mci"):
                cost["mci"] = _mci_cost_for_recall(row["mci"], g_recall)
        out.append(min(cost, key=lambda r: cost[r]))
    return out


def thresholds(table: list[dict[str, Any]], ef: int) -> dict[str, float]:
    """The rule for ``ef``: exact up to the last selectivity where the scan wins before anything
    else does, graph from the first one after which it always wins, cliques between; each
    threshold at the geometric middle between the neighbouring calibrated selectivities."""
    if not table:
        return {key: DEFAULT[key] for key in ("exact_max_fraction", "graph_min_fraction")}
    best = winners(table, ef)
    s = [row["selectivity"] for row in table]
    i = 0
    while i < len(best) and best[i] == "exact":
        i += 1
    exact_max = 1.0 if i == len(best) else (s[0] / 2 if i == 0 else math.sqrt(s[i - 1] * s[i]))
    j = len(best)
    while j > 0 and best[j - 1] == "graph":
        j -= 1
    graph_min = 1.01 if j == len(best) else (0.0 if j == 0 else math.sqrt(s[j - 1] * s[j]))
    return {"exact_max_fraction": round(exact_max, 5), "graph_min_fraction": round(max(graph_min, exact_max), 5)}


#: Keys of a stored rule; ranges of its numbers. The fractions are compared with the valid share
#: of the points (above 1: never), the ratio prices a traversal distance in scan distances.
_RULE_RANGES = {"exact_max_fraction": (0.0, 2.0), "graph_min_fraction": (0.0, 2.0),
                "exact_cost_ratio": (0.0, 1e9)}
_MAX_ROWS = 1000  # rows of a cost table (calibration writes one per selectivity: 10)
_MAX_EF = 2**31 - 1


def check_rule(rule: Any, where: str) -> None:
    """Raise :class:`~mcindex.index_header.IndexFormatError` unless ``rule`` is a usable planner
    rule: it comes from a file, so it may be anything. Every number is type- and range-checked
    (a string cost, 1e400, a huge ``ef`` or an unknown key are refused here, never met later by
    a search)."""
    from .index_header import IndexFormatError, int_field, real_field

    if not isinstance(rule, Mapping):
        raise IndexFormatError(f"{where} must be a dict, got {type(rule).__name__}")
    unknown = sorted(set(rule) - set(DEFAULT) - {"table"}, key=str)
    if unknown:
        raise IndexFormatError(f"{where} has unknown key(s): {', '.join(repr(k)[:40] for k in unknown[:5])}")
    for key, (low, high) in _RULE_RANGES.items():
        if key in rule:
            real_field(rule[key], f"{where}[{key!r}]", low, high)
    if "exact_min_valid" in rule:
        int_field(rule["exact_min_valid"], f"{where}['exact_min_valid']", 0, 2**63 - 1)
    table = rule.get("table", [])
    if not isinstance(table, list) or len(table) > _MAX_ROWS:
        raise IndexFormatError(f"{where}['table'] must be a list of at most {_MAX_ROWS} rows, got {type(table).__name__}")
    previous = 0.0
    for i, row in enumerate(table):
        at = f"{where}['table'][{i}]"
        if not isinstance(row, Mapping) or "selectivity" not in row or "exact" not in row:
            raise IndexFormatError(f"{at} must be a dict with 'selectivity' and 'exact'")
        extra = sorted(set(row) - {"selectivity", "exact", "mci", "graph"}, key=str)
        if extra:
            raise IndexFormatError(f"{at} has unknown key(s): {', '.join(repr(k)[:40] for k in extra[:5])}")
        s = real_field(row["selectivity"], f"{at}['selectivity']", 0.0, 1.0)
        if not previous < s:
            raise IndexFormatError(f"{at}['selectivity'] = {s} must be > 0 and above the previous row's")
        previous = s
        real_field(row["exact"], f"{at}['exact']", 0.0, 1e12)
        for route in ("mci", "graph"):
            curve = row.get(route, [])
            if not isinstance(curve, list) or len(curve) > len(EF_LADDER) * 4:
                raise IndexFormatError(f"{at}[{route!r}] must be a list of at most {len(EF_LADDER) * 4} points")
            last = 0
            for j, point in enumerate(curve):
                pat = f"{at}[{route!r}][{j}]"
                if not isinstance(point, list) or len(point) != 3:
                    raise IndexFormatError(f"{pat} must be [ef, microseconds, recall], got {point!r:.60}")
                ef = int_field(point[0], f"{pat}[0] (ef)", 1, _MAX_EF)
                real_field(point[1], f"{pat}[1] (microseconds)", 0.0, 1e12)
                real_field(point[2], f"{pat}[2] (recall)", 0.0, 1.0)
                if ef <= last:
                    raise IndexFormatError(f"{pat}[0] (ef) = {ef} must be above the previous point's {last}")
                last = ef
