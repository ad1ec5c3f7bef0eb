"""The benchmark sweep: build each index once, then for every (workload, selectivity) sweep
each index's search knob and measure recall@k and QPS.

Measurement rules (also in benchmarks/README.md):

* QPS = queries run / wall seconds spent inside ``adapter.search`` (filter generation and
  ground truth are outside the clock). ``threads`` is passed to every search; the default is 1.
* recall@k = :func:`mcindex.evaluate.recall` against exact filtered ground truth from
  :func:`mcindex.workloads.ground_truth` (cached on disk).
* A knob sweep goes from the cheapest value up and stops early once recall reaches
  ``recall_stop`` (0.999) or once one knob value used up its time budget
  (``max_seconds_per_point``).
* Time guard: the queries of one knob value are sent in chunks. The first chunk is one query;
  from its time the harness predicts the rest. If the rest fits comfortably in the remaining
  budget it is sent as one batch, otherwise in chunks of about a tenth of the budget. When the
  budget is spent the point is recorded from the queries done so far (``complete: false``,
  recall over those queries, QPS over their time) and the sweep of that index stops. One call
  into an engine cannot be interrupted, so a point can overrun its budget by about one chunk
  (worst case one very slow query); nothing waits forever on a slow peer.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

import numpy as np

from .._progress import Progress
from ..bitmap import Bitmap
from . import indexes as _indexes

__all__ = [
    "RECALL_TARGETS",
    "BenchConfig",
    "BenchResult",
    "Curve",
    "IndexReport",
    "Point",
    "machine_info",
    "measure",
    "run_bench",
    "sweep",
]

RECALL_TARGETS = (0.90, 0.95, 0.99)
SCHEMA_VERSION = 1

# A chunk runs as the whole remainder only when its predicted time is at most this share of
# the remaining budget (guards against a fast first query under-predicting the rest).
_FIT_SAFETY = 0.5
# Otherwise chunks aim at this share of the budget each.
_CHUNK_SHARE = 0.1


@dataclass
class Point:
    """One knob value measured over a query batch."""

    knob: int | None
    recall: float
    qps: float
    seconds: float
    n_queries: int
    complete: bool  # False when the time budget cut the batch short
    worst_recall: float = float("nan")  # lowest per-query recall@k: a collapse the mean hides


@dataclass
class Curve:
    """One index's sweep for one (workload, selectivity)."""

    workload: str
    selectivity: float  # requested
    achieved_selectivity: float  # mean over the queries' filters
    index: str
    knob_name: str | None
    points: list[Point]
    stop_reason: str  # "swept" (all values), "recall" (reached recall_stop), "time" (budget)

    def best_point(self, target: float) -> Point | None:
        """The fastest point with recall >= ``target``; None if none reaches it."""
        ok = [p for p in self.points if p.recall >= target]
        return max(ok, key=lambda p: p.qps) if ok else None

    def best_qps(self, target: float) -> float | None:
        """Highest QPS among points with recall >= ``target``; None if none reaches it."""
        qps = [p.qps for p in self.points if p.recall >= target]
        return max(qps) if qps else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["best_qps"] = {f"{t:.2f}": self.best_qps(t) for t in RECALL_TARGETS}
        return out


@dataclass
class IndexReport:
    """What building one index cost."""

    name: str
    params: dict[str, Any]
    knob_name: str | None
    knob_values: list[int | None]
    build_seconds: float
    index_bytes: int
    shared_build: bool
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class BenchConfig:
    """Everything that defines a benchmark run (validated by :meth:`validate`)."""

    dataset: str = "synthetic"
    workloads: tuple[str, ...] = ("random",)
    selectivities: tuple[float, ...] = (0.01, 0.1, 1.0)
    indexes: tuple[str, ...] = ("exact",)
    n_queries: int = 1000
    k: int = 10
    threads: int = 1
    build_threads: int | None = None  # None: every core (builds are timed, searches stay single-thread)
    seed: int = 0
    max_seconds_per_point: float = 60.0
    recall_stop: float = 0.999
    knobs: dict[str, tuple[int, ...]] = field(default_factory=dict)  # per index, overrides defaults
    gt_cache: bool = True
    cache_dir: str | None = None

    def validate(self) -> None:
        """Raise ValueError for a bad setting (before any work)."""
        from ..workloads import WORKLOADS

        if not self.workloads:
            raise ValueError("at least one workload is needed")
        for w in self.workloads:
            if w not in WORKLOADS:
                raise ValueError(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
        if not self.selectivities:
            raise ValueError("at least one selectivity is needed")
        for s in self.selectivities:
            if not 0.0 < s <= 1.0:
                raise ValueError(f"selectivity must be in (0, 1], got {s:g}")
        if not self.indexes:
            raise ValueError("at least one index is needed")
        for name in self.indexes:
            _indexes.get(name)
        for name, values in self.knobs.items():
            if name not in self.indexes:
                raise ValueError(f"knob values given for {name!r}, which is not among the indexes")
            if _indexes.get(name).knob_name is None:
                raise ValueError(f"index {name!r} has no search knob")
            if not values or any(v < 1 for v in values):
                raise ValueError(f"knob values for {name!r} must be positive integers")
        for what, value in (("queries", self.n_queries), ("k", self.k), ("threads", self.threads)):
            if value < 1:
                raise ValueError(f"{what} must be >= 1, got {value}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if not self.max_seconds_per_point > 0:
            raise ValueError(f"max seconds per point must be > 0, got {self.max_seconds_per_point}")
        if not 0.0 < self.recall_stop <= 1.0:
            raise ValueError(f"recall stop must be in (0, 1], got {self.recall_stop}")


@dataclass
class BenchResult:
    """A finished run: configuration, machine, builds and curves. ``to_dict`` is the JSON."""

    config: BenchConfig
    command: str
    date: str
    machine: dict[str, Any]
    dataset: dict[str, Any]
    indexes: list[IndexReport]
    curves: list[Curve]
    ground_truth_seconds: dict[str, float]
    total_seconds: float

    def to_dict(self) -> dict[str, Any]:
        config = asdict(self.config)
        config["knobs"] = {k: list(v) for k, v in self.config.knobs.items()}
        return {
            "schema": SCHEMA_VERSION,
            "command": self.command,
            "date": self.date,
            "machine": self.machine,
            "config": config,
            "dataset": self.dataset,
            "indexes": [asdict(r) for r in self.indexes],
            "results": [c.to_dict() for c in self.curves],
            "recall_targets": list(RECALL_TARGETS),
            "ground_truth_seconds": self.ground_truth_seconds,
            "total_seconds": self.total_seconds,
        }


# ---- machine description ---------------------------------------------------------------
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """Platform, CPU model, core counts, SIMD level and library versions, for the report."""
    from .. import simd_level

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "simd_level": simd_level(),
        "versions": {
            "mcindex": _version("mcindex"),
            "numpy": np.__version__,
            "faiss": _version("faiss-cpu") or _version("faiss"),
            "hnswlib": _version("hnswlib"),
            "matplotlib": _version("matplotlib"),
        },
        "env": {key: os.environ[key] for key in ("OMP_NUM_THREADS", "MCINDEX_SIMD", "OPENBLAS_CORETYPE")
                if key in os.environ},
    }


# ---- measuring -------------------------------------------------------------------------
def measure(adapter: _indexes.IndexAdapter, queries: np.ndarray, filters: Sequence[Bitmap],
            true_ids: np.ndarray, k: int, knob: int | None, *, threads: int = 1,
            max_seconds: float = 60.0) -> Point:
    """Run every query at one knob value (within the time budget) and score it.

    See the module docstring for how the budget is enforced.
    """
    from ..evaluate import recall_per_query

    nq = queries.shape[0]
    found = np.full((nq, k), -1, dtype=np.int64)
    done = 0
    elapsed = 0.0
    chunk = 1
    while done < nq:
        end = min(nq, done + chunk)
        start = time.perf_counter()
        ids = adapter.search(queries[done:end], k, filters[done:end], knob, threads=threads)
        elapsed += time.perf_counter() - start
        found[done:end] = ids
        done = end
        if elapsed >= max_seconds or done == nq:
            break
        per_query = elapsed / done
        remaining = max_seconds - elapsed
        if per_query * (nq - done) <= _FIT_SAFETY * remaining:
            chunk = nq - done
        else:
            chunk = max(1, min(nq - done, int(_CHUNK_SHARE * max_seconds / max(per_query, 1e-9))))
    recalls = recall_per_query(found[:done], true_ids[:done], k)
    qps = done / elapsed if elapsed > 0 else float("inf")
    return Point(knob=knob, recall=float(recalls.mean()), qps=qps, seconds=elapsed, n_queries=done,
                 complete=done == nq, worst_recall=float(recalls.min()))


def sweep(adapter: _indexes.IndexAdapter, queries: np.ndarray, filters: Sequence[Bitmap],
          true_ids: np.ndarray, k: int, knobs: Sequence[int | None], *, threads: int = 1,
          max_seconds: float = 60.0, recall_stop: float = 0.999,
          progress: Progress | None = None) -> tuple[list[Point], str]:
    """Measure knob values in order; stop at ``recall_stop`` or when a point runs out of time.

    Returns the points and why the sweep ended: "swept", "recall" or "time".
    """
    points: list[Point] = []
    reason = "swept"
    for i, knob in enumerate(knobs):
        point = measure(adapter, queries, filters, true_ids, k, knob, threads=threads, max_seconds=max_seconds)
        points.append(point)
        if progress is not None:
            progress.update()
        if not point.complete:
            reason = "time"
        elif point.recall >= recall_stop and i + 1 < len(knobs):
            reason = "recall"
        else:
            continue
        if progress is not None:
            progress.update(len(knobs) - i - 1)  # the skipped values count as done
        break
    return points, reason


# ---- the run ---------------------------------------------------------------------------
def _log(stream: TextIO | None, message: str) -> None:
    if stream is not None:
        stream.write(message + "\n")
        stream.flush()


def run_bench(config: BenchConfig, *, dataset: Any = None, command: str | None = None,
              silent: bool = False, log: TextIO | None = None) -> BenchResult:
    """Run the whole sweep described by ``config``.

    Args:
        config: What to run. Validated first; every index's library is checked before any
            long work (:class:`~mcindex.bench.indexes.MissingDependency`).
        dataset: A ready :class:`~mcindex.datasets.Dataset` to use instead of loading
            ``config.dataset`` (its queries are used as they are).
        command: The command line to record (default: ``sys.argv`` joined).
        silent: No progress bars.
        log: Where to write one-line status messages (e.g. ``sys.stderr``); None for quiet.
    """
    from .. import datasets as _datasets
    from .. import workloads as _workloads

    config.validate()
    _indexes.check_available(config.indexes)
    run_start = time.perf_counter()
    date = _dt.datetime.now(_dt.UTC).astimezone().isoformat(timespec="seconds")
    if command is None:
        command = shlex.join(sys.argv)

    if dataset is None:
        _log(log, f"loading dataset {config.dataset} ...")
        dataset = _datasets.load(config.dataset, n_queries=config.n_queries, seed=config.seed)
    queries = np.ascontiguousarray(dataset.queries, dtype=np.float32)
    data = np.ascontiguousarray(dataset.data, dtype=np.float32)

    # Workloads and ground truth first: a bad workload fails before any long build.
    pairs = [(w, s) for w in config.workloads for s in config.selectivities]
    workloads: dict[tuple[str, float], Any] = {}
    truths: dict[tuple[str, float], np.ndarray] = {}
    gt_seconds: dict[str, float] = {}
    with Progress(len(pairs), "workloads + ground truth", silent=silent) as bar:
        for w, s in pairs:
            wl = _workloads.make(w, dataset, s, seed=config.seed)
            start = time.perf_counter()
            ids, _ = _workloads.ground_truth(dataset, wl, k=config.k, cache=config.gt_cache,
                                             cache_dir=config.cache_dir)
            gt_seconds[f"{w}@{s:g}"] = time.perf_counter() - start
            workloads[(w, s)] = wl
            truths[(w, s)] = ids
            bar.update()

    # Build every index once.
    built: list[_indexes.IndexAdapter] = []
    reports: list[IndexReport] = []
    shared: dict[Any, Any] = {}
    for name in config.indexes:
        adapter = _indexes.create(name)
        _log(log, f"building {name} on {dataset.n} x {dataset.dim} ...")
        adapter.build(data, dataset.metric, threads=config.build_threads or os.cpu_count() or 1, shared=shared)
        knobs: list[int | None] = list(config.knobs.get(name, ())) or adapter.knob_values(config.k)
        nbytes = adapter.index_bytes()
        built.append(adapter)
        reports.append(IndexReport(name=name, params=adapter.params(), knob_name=adapter.knob_name,
                                   knob_values=knobs, build_seconds=adapter.build_seconds,
                                   index_bytes=nbytes, shared_build=adapter.shared_build,
                                   details=adapter.details()))
        _log(log, f"built {name} in {adapter.build_seconds:.1f} s ({nbytes / 2**20:.1f} MiB)"
                  + (" [shared build]" if adapter.shared_build else ""))
    shared.clear()

    curves: list[Curve] = []
    total_points = len(pairs) * sum(len(r.knob_values) for r in reports)
    with Progress(total_points, "sweeping", silent=silent) as bar:
        for w, s in pairs:
            wl = workloads.pop((w, s))
            true_ids = truths.pop((w, s))
            for adapter, report in zip(built, reports):
                bar.set_description(f"{w} s={s:g} {adapter.name}")
                points, reason = sweep(adapter, queries, wl.filters, true_ids, config.k, report.knob_values,
                                       threads=config.threads, max_seconds=config.max_seconds_per_point,
                                       recall_stop=config.recall_stop, progress=bar)
                curves.append(Curve(workload=w, selectivity=s,
                                    achieved_selectivity=float(np.mean(wl.selectivity)),
                                    index=adapter.name, knob_name=adapter.knob_name,
                                    points=points, stop_reason=reason))
                if reason == "time":
                    bar.clear()
                    _log(log, f"note: {adapter.name} on {w} s={s:g} hit the {config.max_seconds_per_point:g} s "
                              f"budget at {adapter.knob_name}={points[-1].knob}; higher values skipped")

    return BenchResult(
        config=config,
        command=command,
        date=date,
        machine=machine_info(),
        dataset={"name": dataset.name, "n": dataset.n, "dim": dataset.dim,
                 "n_queries": dataset.n_queries, "metric": dataset.metric},
        indexes=reports,
        curves=curves,
        ground_truth_seconds=gt_seconds,
        total_seconds=time.perf_counter() - run_start,
    )
