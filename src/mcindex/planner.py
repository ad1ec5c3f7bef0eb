"""The search planner's rules: which strategy answers a query, from the index's cost table.

Each query is answered by one of three strategies: the exact scan over the valid points, the clique
traversal, or the navigable graph. Which is fastest depends mostly on the fraction ``s`` of
points the filter allows: the scan costs ``s * n`` streaming distance computations, a traversal
a roughly constant number of random-access ones that grows as the valid points thin out.

The build measures this (:mod:`mcindex.calibration`) into a cost table: per selectivity, the
exact scan's cost and each traversal's cost and recall along a ladder of ``ef``. Here that
table becomes, for a search's ``ef``, the rule the core applies per query (:func:`rule_for`):
two thresholds on ``s`` (exact below, graph above, cliques between) and the cost of one
traversal distance in scan distances, which bounds how long a planned traversal may run before
the query is handed to the exact scan (filters anti-correlated with the query, where traversals
crawl). The strategy choice itself, and the budget, idle and anti-correlation rules, are the core's
(``cpp/search/planner.hpp``). A table read from a file is checked here (:func:`check_rule`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .file_fields import IndexFormatError, int_field, real_field

#: ef values measured per strategy.
EF_LADDER = (16, 32, 64, 128, 256)

#: Keys and values of a rule that nothing overrides (the thresholds of an index without a cost
#: table come from :func:`uncalibrated`).
DEFAULT = {"exact_max_fraction": 0.08, "graph_min_fraction": 0.3, "exact_cost_ratio": 0.0,
           "exact_min_valid": 2000}

# The model behind the rule of an index built without calibration (calibrate=False). A filtered
# graph walk needs about GRAPH_DISTANCES / s distances for recall 0.95 when a share s of the
# points pass (560 on GloVe-400k, 10% valid), each costing SCAN_RATIO distances of the exact
# scan (2.3 measured: random access against a streamed scan); the scan costs s * n. They meet at
# s* = sqrt(GRAPH_DISTANCES * SCAN_RATIO / n): 6% at 400k points, 14% at 64k. The clique
# traversal saves distances over the graph walk just above s* where each distance is cheap
# (GloVe, 50-d: 1.4x the graph walk's QPS at 10%), not at 384-d, where it never beat both
# other strategies under random filters: it gets the band [s*, 2.5 s*] up to MCI_MAX_DIM.
GRAPH_DISTANCES = 560.0
SCAN_RATIO = 2.3
MCI_MAX_DIM = 128


def uncalibrated(n: int, dim: int) -> dict[str, float]:
    """The thresholds and cost ratio for an index with no cost table (see the model above)."""
    s_star = min(1.0, math.sqrt(GRAPH_DISTANCES * SCAN_RATIO / max(n, 1)))
    graph_min = min(1.01, 2.5 * s_star) if dim <= MCI_MAX_DIM else s_star
    return {"exact_max_fraction": round(s_star, 5), "graph_min_fraction": round(graph_min, 5),
            "exact_cost_ratio": SCAN_RATIO}


def rule_for(stored: Mapping[str, Any], ef: int, n: int, dim: int) -> dict[str, Any]:
    """The rule for searches with this ``ef`` over ``n`` points of ``dim`` dimensions:
    ``"exact"`` while at most ``exact_max_valid`` points pass the filter, ``"graph"`` from
    ``graph_min_fraction`` of them, ``"mci"`` between (``stored``: the index's checked planner
    entry, {} for none). With a cost table the thresholds come from it, so they move with
    ``ef``: a higher ef makes the traversals dearer and the scan wins more often; without one,
    from :func:`uncalibrated`. Values stored in the entry override both."""
    rule = dict(DEFAULT)
    if stored.get("table"):
        rule.update({k: v for k, v in stored.items() if k != "table"})
        rule.update(thresholds(stored["table"], ef))
    else:
        rule.update(uncalibrated(n, dim))
        rule.update({k: v for k, v in stored.items() if k != "table"})
    # A fraction from a file may be anything up to 2: exact_max_valid stays an int64.
    rule["exact_max_valid"] = min(max(int(rule["exact_min_valid"]), int(rule["exact_max_fraction"] * n)), 2**63 - 1)
    rule["table"] = stored.get("table", [])
    return rule


def _at(curve: list[list[float]], ef: float) -> tuple[float, float]:
    """(microseconds, recall) of a strategy at ``ef``, interpolated in log(ef) along its measured
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
    """Microseconds the clique strategy needs to reach ``want`` recall (inf when it never did)."""
    for ef, us, r in curve:
        if r >= want:
            return us
    return math.inf


def winners(table: list[dict[str, Any]], ef: int) -> list[str]:
    """The cheapest strategy at each calibrated selectivity for a search with this ``ef``.

    The graph strategy runs at the caller's ``ef``; the clique strategy is charged for the smallest
    measured ef at which it reaches the graph strategy's recall (equal recall, not equal ef: the
    two strategies' ef mean different amounts of work); the exact scan is always exact.
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
        for strategy in ("mci", "graph"):
            curve = row.get(strategy, [])
            if not isinstance(curve, list) or len(curve) > len(EF_LADDER) * 4:
                raise IndexFormatError(f"{at}[{strategy!r}] must be a list of at most {len(EF_LADDER) * 4} points")
            last = 0
            for j, point in enumerate(curve):
                pat = f"{at}[{strategy!r}][{j}]"
                if not isinstance(point, list) or len(point) != 3:
                    raise IndexFormatError(f"{pat} must be [ef, microseconds, recall], got {point!r:.60}")
                ef = int_field(point[0], f"{pat}[0] (ef)", 1, _MAX_EF)
                real_field(point[1], f"{pat}[1] (microseconds)", 0.0, 1e12)
                real_field(point[2], f"{pat}[2] (recall)", 0.0, 1.0)
                if ef <= last:
                    raise IndexFormatError(f"{pat}[0] (ef) = {ef} must be above the previous point's {last}")
                last = ef
