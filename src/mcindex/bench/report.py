"""Presenting a benchmark run: text tables, the JSON record and recall-vs-QPS plots.

Files for one run share a stem, ``bench-<dataset>-<YYYYmmdd-HHMMSS>``:
``<stem>.json`` (everything, see :meth:`BenchResult.to_dict`) and ``<stem>-<workload>.png``
(one figure per workload, one subplot per selectivity, one line per index). Plots need
matplotlib (the ``bench`` extra); without it they are skipped.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .harness import RECALL_TARGETS, BenchResult, Curve

__all__ = ["file_stem", "format_best", "format_result", "format_sweeps", "plot_result", "write_json"]


def _fmt_qps(qps: float | None) -> str:
    if qps is None or (isinstance(qps, float) and math.isnan(qps)):
        return "-"
    if qps >= 100:
        return f"{qps:,.0f}"
    if qps >= 1:
        return f"{qps:.1f}"
    return f"{qps:.3f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    """A plain aligned text table (markdown-compatible pipes)."""
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "| " + " | ".join(parts) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if i in right else ("-" * (w + 2))
                         for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def _groups(curves: Sequence[Curve]) -> dict[tuple[str, float], list[Curve]]:
    groups: dict[tuple[str, float], list[Curve]] = {}
    for c in curves:
        groups.setdefault((c.workload, c.selectivity), []).append(c)
    return groups


def format_sweeps(curves: Sequence[Curve]) -> str:
    """One row per measured knob value: index, knob, recall, QPS (``*``: cut short by time)."""
    rows = []
    for c in curves:
        for p in c.points:
            knob = "-" if c.knob_name is None else f"{c.knob_name}={p.knob}"
            qps = _fmt_qps(p.qps) + ("" if p.complete else f" *({p.n_queries}q)")
            rows.append([c.index, knob, f"{p.recall:.4f}", f"{p.worst_recall:.2f}", qps])
    return _table(["index", "knob", "recall", "worst query", "QPS"], rows, right={2, 3, 4})


def format_best(curves: Sequence[Curve]) -> str:
    """Best QPS reaching each recall target per index ("-": never reached)."""
    header = ["index", *(f"QPS@{t:.2f}" for t in RECALL_TARGETS), "max recall", "worst query@0.95"]
    rows = []
    for c in curves:
        best = [_fmt_qps(c.best_qps(t)) for t in RECALL_TARGETS]
        top = max((p.recall for p in c.points), default=float("nan"))
        at95 = c.best_point(0.95)
        rows.append([c.index, *best, f"{top:.4f}", "-" if at95 is None else f"{at95.worst_recall:.2f}"])
    return _table(header, rows, right=set(range(1, len(header))))


def format_result(result: BenchResult) -> str:
    """The whole run as text: builds, then per (workload, selectivity) sweeps and best QPS."""
    cfg = result.config
    ds = result.dataset
    out = [
        f"dataset {ds['name']}: n={ds['n']:,} dim={ds['dim']} queries={ds['n_queries']:,} metric={ds['metric']}; "
        f"k={cfg.k} threads={cfg.threads} seed={cfg.seed}; simd={result.machine.get('simd_level')}",
        "",
        _table(["index", "params", "build s", "MiB"],
               [[r.name, " ".join(f"{k}={v}" for k, v in r.params.items()) or "-",
                 f"{r.build_seconds:.2f}" + (" (shared)" if r.shared_build else ""),
                 f"{r.index_bytes / 2**20:.1f}"] for r in result.indexes],
               right={2, 3}),
    ]
    for (workload, sel), curves in _groups(result.curves).items():
        achieved = curves[0].achieved_selectivity
        out += ["", f"## workload={workload} selectivity={sel:g} (achieved mean {achieved:.4g})", "",
                format_sweeps(curves), "", format_best(curves)]
        cut = [c for c in curves if c.stop_reason == "time"]
        if cut:
            out.append("* = time budget hit, measured on the queries done; higher knob values skipped for: "
                       + ", ".join(c.index for c in cut))
    return "\n".join(out)


def file_stem(result: BenchResult) -> str:
    """``bench-<dataset>-<YYYYmmdd-HHMMSS>`` from the run's dataset name and date."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(result.dataset["name"]))[:64] or "dataset"
    stamp = re.sub(r"[^0-9]", "", result.date[:19])
    stamp = f"{stamp[:8]}-{stamp[8:14]}" if len(stamp) >= 14 else stamp
    return f"bench-{name}-{stamp}"


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN/inf floats become None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_json(result: BenchResult, out_dir: str | Path, stem: str | None = None) -> Path:
    """Write the run's JSON record into ``out_dir`` (created if needed); returns the path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{stem or file_stem(result)}.json"
    path.write_text(json.dumps(_clean(result.to_dict()), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path


def plot_result(result: BenchResult, out_dir: str | Path, stem: str | None = None) -> list[Path]:
    """One recall-vs-QPS PNG per workload (log QPS axis, a subplot per selectivity).

    Returns the written paths; an empty list when matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = stem or file_stem(result)
    index_names = list(dict.fromkeys(c.index for c in result.curves))
    cmap = plt.get_cmap("tab10")
    colors = {name: cmap(i % 10) for i, name in enumerate(index_names)}
    markers = {name: "osD^v<>phX"[i % 10] for i, name in enumerate(index_names)}
    paths = []
    for workload in dict.fromkeys(c.workload for c in result.curves):
        curves = [c for c in result.curves if c.workload == workload]
        sels = list(dict.fromkeys(c.selectivity for c in curves))
        ncols = min(3, len(sels))
        nrows = math.ceil(len(sels) / ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(5.0 * ncols, 4.0 * nrows), squeeze=False)
        for ax, sel in zip(axes.flat, sels):
            for c in (c for c in curves if c.selectivity == sel):
                xs = [p.recall for p in c.points]
                ys = [max(p.qps, 1e-3) for p in c.points]
                ax.plot(xs, ys, marker=markers[c.index], color=colors[c.index], label=c.index,
                        linestyle="-" if len(xs) > 1 else "none", markersize=5)
            ax.set_yscale("log")
            ax.set_title(f"selectivity {sel:g}")
            ax.set_xlabel(f"recall@{result.config.k}")
            ax.set_ylabel("queries per second (log)")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize="small")
        for ax in list(axes.flat)[len(sels):]:
            ax.set_visible(False)
        ds = result.dataset
        fig.suptitle(f"{ds['name']} (n={ds['n']:,}, {ds['metric']}), workload {workload}, "
                     f"k={result.config.k}, threads={result.config.threads}")
        fig.tight_layout()
        path = out / f"{stem}-{re.sub(r'[^A-Za-z0-9_-]+', '_', workload)}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
