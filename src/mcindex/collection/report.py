"""Text, JSON and CSV output of search results and collection information (the command line)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["format_info", "format_results", "to_jsonable"]

RESULT_FIELDS = ("query", "rank", "id", "distance")


def to_jsonable(value: Any) -> Any:
    """A value as plain JSON data: numpy scalars unwrapped, NaN / NaT / None as None,
    timestamps as ISO-8601 strings, lists element by element."""
    if value is None:
        return None
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else str(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _results(ids: np.ndarray, dists: np.ndarray, attributes: Mapping[str, np.ndarray] | None
             ) -> list[list[dict[str, Any]]]:
    """Per query, its non-empty result slots as dicts (id, distance, attributes)."""
    nq, k = ids.shape
    out = []
    for q in range(nq):
        rows = []
        for j in range(k):
            ident = ids[q, j]
            if ident is None or (not isinstance(ident, str) and int(ident) < 0):
                continue
            row = {"id": to_jsonable(ident), "distance": float(dists[q, j])}
            if attributes is not None:
                row["attributes"] = {name: to_jsonable(values[q * k + j]) for name, values in attributes.items()}
            rows.append(row)
        out.append(rows)
    return out


def _flat_rows(results: list[list[dict[str, Any]]]) -> tuple[list[str], list[list[Any]]]:
    names: list[str] = []
    for rows in results:
        for row in rows:
            names = list(row.get("attributes", {}))
            break
        if names:
            break
    shown = [f"attr_{n}" if n in RESULT_FIELDS else n for n in names]
    header = list(RESULT_FIELDS) + shown
    table = []
    for q, rows in enumerate(results):
        for rank, row in enumerate(rows, start=1):
            attrs = row.get("attributes", {})
            table.append([q, rank, row["id"], row["distance"], *(attrs.get(n) for n in names)])
    return header, table


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


def format_results(ids: np.ndarray, dists: np.ndarray, attributes: Mapping[str, np.ndarray] | None,
                   fmt: str) -> str:
    """Search results as ``table`` (aligned text), ``csv`` or ``json``.

    Table and CSV have one line per result: query (0-based), rank (1-based), id, distance and
    the attribute columns (renamed ``attr_<name>`` if they clash with those four). Empty slots
    are left out, so a query that matched fewer than k rows has fewer lines. JSON is a list with
    one object per query: ``{"query": q, "results": [{"id", "distance", "attributes"}...]}``.
    Lists are joined with ``;`` in table and CSV output; a missing value is ``NULL`` in a
    table, an empty field in CSV and ``null`` in JSON.
    """
    results = _results(ids, dists, attributes)
    if fmt == "json":
        return json.dumps([{"query": q, "results": rows} for q, rows in enumerate(results)], indent=1)
    header, table = _flat_rows(results)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        for row in table:
            writer.writerow(["" if v is None else (";".join(map(str, v)) if isinstance(v, list) else v)
                             for v in row])
        return buf.getvalue().rstrip("\n")
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; choose table, json or csv")
    cells = [[_cell(v) for v in row] for row in table]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    numeric = {0, 1, 3}

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if i in numeric else v.ljust(w)
                         for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    lines = [line(header), line(["-" * w for w in widths])] + [line(r) for r in cells]
    if not cells:
        lines.append("(no results: the filter matched no rows)")
    return "\n".join(lines)


# ---- info ------------------------------------------------------------------------------------------
def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _index_lines(stats: Mapping[str, Any], planner: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    s = stats
    out = [
        ("cliques", f"{s['cliques']:,}, size mean {s['clique_size_mean']:.1f}, max {s['clique_size_max']}"),
        ("cliques per point", f"mean {s['memberships_mean']:.2f}, min {s['memberships_min']}, "
                             f"max {s['memberships_max']}"),
        ("navigable graph degree", f"mean {s['nav_degree_mean']:.1f}, max {s['nav_degree_max']} "
                                   f"(limit {s['nav_degree_limit']})"),
        ("graph bytes / point", f"{s['graph_bytes_per_point']:.1f} (cliques {s['clique_bytes_per_point']:.1f})"),
        ("graph / vector bytes", f"{_bytes(s['graph_bytes'])} / {_bytes(s['vector_bytes'])}"),
    ]
    if "nn10_one_hop" in s:
        out.append(("10-NN one hop away", f"{s['nn10_one_hop']:.3f} (100-NN {s['nn100_one_hop']:.3f}, "
                                          f"sample of {s['sample']})"))
    if s.get("build_seconds") is not None:
        phases = ", ".join(f"{k} {v:.2f}" for k, v in s.get("build_phase_seconds", {}).items())
        out.append(("build seconds", f"{s['build_seconds']:.2f} ({phases})"))
    if planner:
        out.append(("planner", f"exact scan up to {planner['exact_max_valid']:,} valid points, navigable graph "
                               f"from {planner['graph_min_fraction']:.0%} of the points valid, clique traversal "
                               f"between"))
    params = " ".join(f"{k}={v}" for k, v in s.get("build_params", {}).items())
    out.append(("build parameters", params))
    return out


def _aligned(pairs: list[tuple[str, str]], indent: str = "") -> list[str]:
    width = max((len(k) for k, _ in pairs), default=0)
    return [f"{indent}{k.ljust(width)}  {v}" for k, v in pairs]


def format_info(info: Mapping[str, Any]) -> str:
    """The ``mcindex info`` report of a collection directory or a bare index file (see
    :func:`mcindex.cli` for the dict built for each)."""
    lines: list[str] = []
    head = [(info["kind"], info["path"])]
    if info["kind"] == "collection":
        head.append(("format", f"mcindex-collection v{info['format_version']} (written by mcindex "
                               f"{info['mcindex_version']}), index file v{info['index_format_version']}"))
    else:
        head.append(("format", f"index file v{info['index_format_version']} (written by mcindex "
                               f"{info['mcindex_version']})"))
    head.append(("vectors", f"{info['n']:,} x {info['dim']}, metric {info['metric']}"))
    if info["kind"] == "collection":
        head.append(("ids", info["ids"] or "none (results are row numbers)"))
    head.append(("simd", info["simd"]))
    if info.get("files"):
        head.append(("files", ", ".join(f"{name} {_bytes(size)}" for name, size in info["files"].items())
                     + (" (sizes and SHA-256 verified)" if info["kind"] == "collection" else "")))
    lines += _aligned(head)
    if info["kind"] == "collection":
        lines += ["", "columns"]
        columns = info["columns"]
        if not columns:
            lines.append("  (none)")
        else:
            rows = [["name", "kind", "type", "missing", "detail"]]
            for c in columns:
                detail = []
                if "labels" in c:
                    detail.append(f"{c['labels']:,} labels")
                if "min" in c:
                    lo, hi = (f"{v:.6g}" if isinstance(v, float) else str(v) for v in (c["min"], c["max"]))
                    detail.append(f"min {lo}, max {hi}")
                rows.append([c["name"], c["kind"], c["dtype"], f"{c['nulls']:,}", ", ".join(detail)])
            widths = [max(len(r[i]) for r in rows) for i in range(5)]
            lines += ["  " + "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
    lines += ["", "index"]
    lines += _aligned(_index_lines(info["index"], info.get("planner")), indent="  ")
    return "\n".join(lines)
