"""Filtered-search workloads: one filter (a :class:`~mcindex.Bitmap`) per query.

Five generators, each named after the kind of predicate it models:

========================  ==================================================================
``random``                an independent random subset per query, exactly ``round(s*n)`` ids
``label``                 one label per point; a query keeps the points with its label
``multi_label``           several labels per point; a query ANDs or ORs ``m`` labels
``range`` (numeric_range) an integer attribute; a query keeps an interval covering ``s * n``
``correlated``            a query keeps the points FAR from it (the hard case for graphs)
========================  ==================================================================

:func:`make` builds any of them for a :class:`~mcindex.datasets.Dataset`, and
:func:`ground_truth` computes (and caches on disk) the exact filtered neighbours.

Selectivity ``s`` is the fraction of base points a filter allows. Counts use
``round_half_up(s * n)`` with a minimum of one point (``s`` must lie in ``(0, 1]``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._checks import check_int as _check_int
from .bitmap import Bitmap

if TYPE_CHECKING:
    from .datasets import Dataset

__all__ = [
    "WORKLOADS",
    "Workload",
    "correlated",
    "ground_truth",
    "label",
    "make",
    "multi_label",
    "numeric_range",
    "random",
]

WORKLOADS = ("random", "label", "multi_label", "range", "correlated")
"""Workload names accepted by :func:`make`."""

# Bump when a generator's algorithm changes, so old cache entries are not reused.
_GENERATOR_VERSION = 1
# Distance matrix elements computed at once by `correlated` (float32: 32 MiB).
_DISTANCE_BLOCK = 1 << 23
_FINGERPRINT_ROWS = 64


# ---- the workload ------------------------------------------------------------------------
@dataclass(eq=False, repr=False)
class Workload:
    """Per-query filters plus what was asked for and what was achieved.

    Attributes:
        name: "random", "label", "multi_label", "range" or "correlated".
        filters: One :class:`~mcindex.Bitmap` per query, all of the same size ``n``.
        selectivity: Achieved fraction of allowed points per query, float64 ``[n_queries]``.
        target: Requested selectivity, or None when the workload was specified otherwise
            (e.g. a label workload given ``n_labels``).
        params: JSON-serialisable arguments that regenerate the workload (they include the
            seed, and fingerprints instead of arrays); :meth:`key` hashes them.
    """

    name: str
    filters: list[Bitmap]
    selectivity: np.ndarray
    target: float | None
    params: dict[str, Any]

    def __post_init__(self) -> None:
        self.filters = list(self.filters)
        if not self.filters:
            raise ValueError("a workload needs at least one query filter")
        size = None
        for i, f in enumerate(self.filters):
            if not isinstance(f, Bitmap):
                raise TypeError(f"filters[{i}] must be a Bitmap, got {type(f).__name__}")
            if size is None:
                size = f.size
            elif f.size != size:
                raise ValueError(f"filters[{i}] has size {f.size} but filters[0] has size {size}")
        self.selectivity = np.asarray(self.selectivity, dtype=np.float64)
        if self.selectivity.shape != (len(self.filters),):
            raise ValueError(
                f"selectivity must have shape ({len(self.filters)},), got {self.selectivity.shape}"
            )

    @property
    def n(self) -> int:
        """Universe size (number of base points) of every filter."""
        return self.filters[0].size

    @property
    def n_queries(self) -> int:
        """Number of queries (filters)."""
        return len(self.filters)

    def key(self) -> str:
        """A stable identifier: SHA-256 of canonical JSON of name, params and target.

        Identical across processes and machines for identical arguments (unlike ``hash()``).
        """
        canonical = json.dumps(
            {"name": self.name, "params": _jsonable(self.params), "target": self.target,
             "version": _GENERATOR_VERSION},
            sort_keys=True, separators=(",", ":"), allow_nan=False,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]

    def __repr__(self) -> str:
        target = "None" if self.target is None else f"{self.target:g}"
        return (f"Workload(name={self.name!r}, n={self.n}, n_queries={self.n_queries}, target={target}, "
                f"mean_selectivity={float(self.selectivity.mean()):.4g})")


def _jsonable(value: Any) -> Any:
    """Turn numpy scalars / tuples into plain JSON types (for a canonical key)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"workload params must be JSON-serialisable, got {type(value).__name__}")


# ---- argument checks ----------------------------------------------------------------------


def _check_selectivity(s: Any) -> float:
    if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, float, np.integer, np.floating)):
        raise TypeError(f"selectivity must be a number in (0, 1], got {type(s).__name__}")
    s = float(s)
    if not (0.0 < s <= 1.0):  # also rejects NaN
        raise ValueError(f"selectivity must be in (0, 1], got {s}")
    return s


def _count_for(s: float, n: int) -> int:
    """Points a selectivity asks for: round half up, at least 1, at most n."""
    return min(n, max(1, math.floor(s * n + 0.5)))


def _fingerprint(arr: np.ndarray) -> str:
    """Cheap content hash: shape, dtype, up to 64 evenly spaced rows and the column sums."""
    arr = np.asarray(arr)
    h = hashlib.sha256()
    h.update(repr((arr.shape, arr.dtype.str)).encode())
    if arr.size:
        rows = np.unique(np.linspace(0, arr.shape[0] - 1, _FINGERPRINT_ROWS).astype(np.int64))
        h.update(np.ascontiguousarray(arr[rows]).tobytes())
        h.update(np.asarray(arr.sum(axis=0, dtype=np.float64)).tobytes())
    return h.hexdigest()[:32]


def _finish(name: str, filters: list[Bitmap], n: int, target: float | None, params: dict[str, Any]) -> Workload:
    selectivity = np.array([f.count() for f in filters], dtype=np.float64) / n
    return Workload(name, filters, selectivity, target, params)


# ---- generators ---------------------------------------------------------------------------
def random(n: int, n_queries: int, selectivity: float, *, seed: int = 0) -> Workload:
    """Independent random subsets of exactly ``round(s * n)`` ids (at least 1) per query.

    Every query gets its own subset, so achieved selectivity equals the target up to rounding.
    Cost: O(n) time and memory per query.

    Args:
        n: Number of base points (>= 1).
        n_queries: Number of queries (>= 1).
        selectivity: Fraction of points each filter allows, in (0, 1].
        seed: Random seed (>= 0).
    """
    n = _check_int(n, "n", 1)
    n_queries = _check_int(n_queries, "n_queries", 1)
    s = _check_selectivity(selectivity)
    seed = _check_int(seed, "seed", 0)
    m = _count_for(s, n)
    rng = np.random.default_rng(seed)
    filters = [Bitmap.from_ids(rng.choice(n, size=m, replace=False), n) for _ in range(n_queries)]
    params = {"n": n, "n_queries": n_queries, "seed": seed}
    return _finish("random", filters, n, s, params)


def label(n: int, n_queries: int, *, n_labels: int | None = None, selectivity: float | None = None,
          distribution: str = "uniform", zipf_a: float = 1.2, seed: int = 0) -> Workload:
    """One label per point; each query allows exactly the points carrying its label.

    Give exactly one of ``n_labels`` and ``selectivity``. With ``selectivity`` (uniform only)
    there are ``L = round(1 / s)`` labels.

    - ``distribution="uniform"``: labels are dealt evenly (every label has ``n // L`` or
      ``n // L + 1`` points, shuffled); each query picks a label uniformly, so the achieved
      selectivity is ``1 / L`` up to rounding.
    - ``distribution="zipf"``: point labels are drawn with ``P(label l) ∝ 1 / (l + 1) ** zipf_a``;
      each query picks a label with probability proportional to its number of points (popular
      labels are queried more), so selectivities vary widely between queries.

    Cost: O(n) to assign labels, plus O(n) per distinct label queried.

    Raises:
        ValueError: both or neither of ``n_labels``/``selectivity``, ``selectivity`` with zipf,
            more labels than points, or an unknown distribution.
    """
    n = _check_int(n, "n", 1)
    n_queries = _check_int(n_queries, "n_queries", 1)
    seed = _check_int(seed, "seed", 0)
    if distribution not in ("uniform", "zipf"):
        raise ValueError(f"distribution must be 'uniform' or 'zipf', got {distribution!r}")
    if (n_labels is None) == (selectivity is None):
        raise ValueError("give exactly one of n_labels or selectivity")
    target: float | None = None
    if selectivity is not None:
        if distribution != "uniform":
            raise ValueError("selectivity sets the label count only for distribution='uniform'; "
                             "pass n_labels for 'zipf'")
        target = _check_selectivity(selectivity)
        n_labels = max(1, math.floor(1.0 / target + 0.5))
        if n_labels > n:
            raise ValueError(f"selectivity {target} needs {n_labels} labels but there are only {n} points")
    n_labels = _check_int(n_labels, "n_labels", 1)
    if n_labels > n:
        raise ValueError(f"n_labels ({n_labels}) must not exceed n ({n})")
    if distribution == "zipf":
        if (isinstance(zipf_a, (bool, np.bool_)) or not isinstance(zipf_a, (int, float, np.integer, np.floating))
                or not 0 < zipf_a < math.inf):
            raise ValueError(f"zipf_a must be a positive finite number, got {zipf_a!r}")
        zipf_a = float(zipf_a)

    rng = np.random.default_rng(seed)
    if distribution == "uniform":
        labels = rng.permutation(np.arange(n, dtype=np.int64) % n_labels)
    else:
        weights = 1.0 / np.arange(1, n_labels + 1, dtype=np.float64) ** zipf_a
        labels = rng.choice(n_labels, size=n, p=weights / weights.sum())
    counts = np.bincount(labels, minlength=n_labels)
    if distribution == "uniform":
        query_labels = rng.integers(0, n_labels, size=n_queries)
    else:
        query_labels = rng.choice(n_labels, size=n_queries, p=counts / n)

    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    by_label: dict[int, Bitmap] = {}
    filters = []
    for q in query_labels.tolist():
        if q not in by_label:
            by_label[q] = Bitmap.from_ids(order[starts[q]:starts[q + 1]], n)
        filters.append(by_label[q])
    params = {"n": n, "n_queries": n_queries, "n_labels": n_labels, "distribution": distribution,
              "zipf_a": zipf_a if distribution == "zipf" else None, "seed": seed}
    return _finish("label", filters, n, target, params)


def multi_label(n: int, n_queries: int, selectivity: float, *, labels_per_query: int = 2, mode: str = "and",
                n_labels: int = 16, seed: int = 0) -> Workload:
    """Several labels per point; a query allows points with ALL (``"and"``) or ANY (``"or"``) of its labels.

    Each point carries each of ``n_labels`` labels independently with probability ``p``, chosen
    so a query over ``m = labels_per_query`` distinct labels has expected selectivity ``s``:
    ``p = s ** (1/m)`` for "and", ``p = 1 - (1 - s) ** (1/m)`` for "or". A query picks its
    ``m`` labels uniformly without replacement. The achieved count is Binomial(n, s), so the
    per-query selectivity is ``s ± sqrt(s (1 - s) / n)``.

    Cost: O(n * n_labels) to assign labels, O(n * m / 64) per query.

    Args:
        n: Number of base points (>= 1).
        n_queries: Number of queries (>= 1).
        selectivity: Expected fraction allowed per query, in (0, 1].
        labels_per_query: ``m``, distinct labels combined per query (1 <= m <= n_labels).
        mode: "and" or "or".
        n_labels: Label vocabulary size (>= labels_per_query).
        seed: Random seed (>= 0).
    """
    n = _check_int(n, "n", 1)
    n_queries = _check_int(n_queries, "n_queries", 1)
    s = _check_selectivity(selectivity)
    m = _check_int(labels_per_query, "labels_per_query", 1)
    n_labels = _check_int(n_labels, "n_labels", 1)
    seed = _check_int(seed, "seed", 0)
    if m > n_labels:
        raise ValueError(f"labels_per_query ({m}) must not exceed n_labels ({n_labels})")
    if mode not in ("and", "or"):
        raise ValueError(f"mode must be 'and' or 'or', got {mode!r}")
    p = s ** (1.0 / m) if mode == "and" else 1.0 - (1.0 - s) ** (1.0 / m)

    rng = np.random.default_rng(seed)
    label_sets = [Bitmap.from_mask(rng.random(n) < p) for _ in range(n_labels)]
    combine = (lambda a, b: a & b) if mode == "and" else (lambda a, b: a | b)
    filters = []
    for _ in range(n_queries):
        picked = rng.choice(n_labels, size=m, replace=False)
        filters.append(reduce(combine, (label_sets[i] for i in picked.tolist())))
    params = {"n": n, "n_queries": n_queries, "labels_per_query": m, "mode": mode, "n_labels": n_labels,
              "seed": seed}
    return _finish("multi_label", filters, n, s, params)


def numeric_range(attribute: Any, n_queries: int, selectivity: float, *, seed: int = 0) -> Workload:
    """Range predicates ``lo <= attribute < hi`` over an integer attribute (the "range" workload).

    Each query's interval starts at a uniformly random position in sorted order and spans
    ``round(s * n)`` consecutive values (at least 1), so with distinct values (e.g. GloVe's
    frequency rank, or a permutation) the achieved selectivity is exact; ties at the interval
    ends can only add points.

    Cost: O(n log n) once to sort, O(n) per query.

    Args:
        attribute: 1-D integer array, one value per base point.
        n_queries: Number of queries (>= 1).
        selectivity: Fraction of points each interval covers, in (0, 1].
        seed: Random seed (>= 0).
    """
    attribute = np.asarray(attribute)
    if attribute.dtype == np.bool_ or not np.issubdtype(attribute.dtype, np.integer):
        raise TypeError(f"attribute must be an integer array, got dtype {attribute.dtype}")
    if attribute.ndim != 1 or attribute.shape[0] == 0:
        raise ValueError(f"attribute must be a non-empty 1-D array, got shape {attribute.shape}")
    if attribute.dtype == np.uint64 and int(attribute.max()) > np.iinfo(np.int64).max - 1:
        raise ValueError("attribute values must fit in int64")
    attribute = attribute.astype(np.int64, copy=False)
    if int(attribute.max()) == np.iinfo(np.int64).max:
        raise ValueError("attribute values must be below the int64 maximum (ranges are half-open)")
    n_queries = _check_int(n_queries, "n_queries", 1)
    s = _check_selectivity(selectivity)
    seed = _check_int(seed, "seed", 0)
    n = attribute.shape[0]
    width = _count_for(s, n)
    ordered = np.sort(attribute)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n - width + 1, size=n_queries)
    lows = ordered[starts]
    highs = ordered[starts + width - 1] + 1
    filters = [Bitmap.from_mask((attribute >= lo) & (attribute < hi))
               for lo, hi in zip(lows.tolist(), highs.tolist(), strict=True)]
    params = {"n": n, "n_queries": n_queries, "attribute": _fingerprint(attribute), "seed": seed}
    return _finish("range", filters, n, s, params)


def correlated(data: Any, queries: Any, selectivity: float, *, metric: str, seed: int = 0) -> Workload:
    """Filters that allow only the points FAR from each query (negatively correlated).

    A query allows exactly its ``round(s * n)`` farthest base points (at least 1) under
    ``metric`` (package convention: "l2" squared Euclidean, "ip" negative inner product,
    "cosine" one minus cosine similarity), i.e. those beyond the ``(1 - s)``-quantile of its
    distances. Nearest neighbours are then never allowed, which defeats search that walks
    outward from the query. Ties at the boundary are broken arbitrarily (deterministically).
    Distances are computed in float32.

    Cost: O(n_queries * n * dim) time; memory O(n * dim) plus a bounded block of distances
    (queries are processed in batches of at most 64 with at most 2**23 distances at a time).

    Args:
        data: Base vectors ``(n, dim)``.
        queries: Query vectors ``(n_queries, dim)``.
        selectivity: Fraction of points each filter allows, in (0, 1].
        metric: "l2", "ip" or "cosine".
        seed: Recorded in ``params`` for a uniform interface; the result is deterministic.

    Raises:
        ValueError: shape mismatch, unknown metric, or a zero vector with "cosine".
    """
    from .datasets import METRICS, _as_matrix

    data = _as_matrix(data, "data")
    queries = _as_matrix(queries, "queries")
    if data.shape[0] == 0 or queries.shape[0] == 0:
        raise ValueError(f"data and queries need at least one row, got {data.shape} and {queries.shape}")
    if data.shape[1] != queries.shape[1]:
        raise ValueError(f"queries have dimension {queries.shape[1]} but data has {data.shape[1]}")
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; valid metrics: {', '.join(METRICS)}")
    s = _check_selectivity(selectivity)
    seed = _check_int(seed, "seed", 0)
    n, nq = data.shape[0], queries.shape[0]
    m = _count_for(s, n)
    params = {"n": n, "n_queries": nq, "metric": metric, "data": _fingerprint(data),
              "queries": _fingerprint(queries), "seed": seed}

    base, probes = data, queries
    if metric == "cosine":
        base, probes = _normalised(data, "data"), _normalised(queries, "queries")
    base_sq = np.einsum("ij,ij->i", base, base) if metric == "l2" else None

    filters: list[Bitmap] = []
    batch = max(1, min(64, _DISTANCE_BLOCK // n))
    for start in range(0, nq, batch):
        q = probes[start:start + batch]
        dots = q @ base.T
        if metric == "l2":
            q_sq = np.einsum("ij,ij->i", q, q)
            dist = base_sq[None, :] - 2.0 * dots + q_sq[:, None]
        elif metric == "ip":
            dist = -dots
        else:
            dist = 1.0 - dots
        if m == n:
            filters.extend(Bitmap.all(n) for _ in range(q.shape[0]))
            continue
        far = np.argpartition(dist, n - m, axis=1)[:, n - m:]
        filters.extend(Bitmap.from_ids(row, n) for row in far)
    return _finish("correlated", filters, n, s, params)


def _normalised(x: np.ndarray, what: str) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValueError(f"cosine metric: {what} row {int(zero[0])} is a zero vector")
    return (x / norms[:, None]).astype(np.float32, copy=False)


# ---- dispatch -------------------------------------------------------------------------------
def make(name: str, dataset: Dataset, selectivity: float, *, seed: int = 0) -> Workload:
    """Build workload ``name`` (one of :data:`WORKLOADS`) for ``dataset`` at ``selectivity``.

    - "random": :func:`random` over ``dataset.n``.
    - "label": :func:`label`, uniform, ``round(1 / s)`` labels.
    - "multi_label": :func:`multi_label` with its defaults (2 labels per query, "and").
    - "range": :func:`numeric_range` over ``dataset.attributes["rank"]`` when present (GloVe's
      frequency rank), otherwise over a random permutation of ``0..n-1`` seeded by ``seed``.
    - "correlated": :func:`correlated` with ``dataset.metric``.

    Cost: that generator's.

    Raises:
        ValueError: unknown name (the message lists the valid ones) or bad selectivity.
    """
    from .datasets import Dataset

    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a Dataset, got {type(dataset).__name__}")
    if name == "random":
        return random(dataset.n, dataset.n_queries, selectivity, seed=seed)
    if name == "label":
        return label(dataset.n, dataset.n_queries, selectivity=selectivity, seed=seed)
    if name == "multi_label":
        return multi_label(dataset.n, dataset.n_queries, selectivity, seed=seed)
    if name == "range":
        seed = _check_int(seed, "seed", 0)
        attribute = dataset.attributes.get("rank")
        if attribute is None:
            attribute = np.random.default_rng(seed).permutation(dataset.n)
        return numeric_range(attribute, dataset.n_queries, selectivity, seed=seed)
    if name == "correlated":
        return correlated(dataset.data, dataset.queries, selectivity, metric=dataset.metric, seed=seed)
    raise ValueError(f"unknown workload {name!r}; valid workloads: {', '.join(WORKLOADS)}")


# ---- ground truth ---------------------------------------------------------------------------
def _default_cache_dir() -> Path:
    root = os.environ.get("MCINDEX_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "mcindex"
    return base / "groundtruth"


def _filters_digest(filters: list[Bitmap]) -> str:
    h = hashlib.sha256()
    for f in filters:
        h.update(f.words.tobytes())
    return h.hexdigest()[:32]


def ground_truth(dataset: Dataset, workload: Workload, k: int = 100, *, cache: bool = True,
                 cache_dir: str | os.PathLike[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact filtered k nearest neighbours of every query, cached on disk.

    Runs ``mcindex.exact_search(dataset.data, dataset.queries, k, metric=dataset.metric,
    filter=workload.filters)``: query ``i`` sees only the ids allowed by ``workload.filters[i]``;
    slots past the number of allowed points hold id -1 and distance +inf.

    The result is stored as ``.npz`` in ``cache_dir`` (default ``$MCINDEX_CACHE/groundtruth``,
    or ``~/.cache/mcindex/groundtruth`` when ``MCINDEX_CACHE`` is unset), keyed by the dataset
    name, shape and a fingerprint of its vectors, the workload's :meth:`~Workload.key` and a
    digest of its filters, the metric and ``k``. Files are written atomically (temporary file
    + ``os.replace``); an unreadable cache entry is recomputed, an unwritable cache directory
    only warns.

    Cost: one exact scan, O(n_queries * n * dim), on a miss; loading the file on a hit (plus
    hashing the filters, O(n_queries * n / 8) bytes).

    Args:
        dataset: The dataset the workload was made for.
        workload: One filter per query of ``dataset``.
        k: Neighbours per query (>= 1).
        cache: Read and write the on-disk cache.
        cache_dir: Cache directory; overrides the default.

    Returns:
        ``(ids, distances)``: int64 and float32 arrays of shape ``(n_queries, k)``, rows sorted
        by increasing distance.
    """
    from .datasets import Dataset

    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a Dataset, got {type(dataset).__name__}")
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a Workload, got {type(workload).__name__}")
    k = _check_int(k, "k", 1)
    if workload.n_queries != dataset.n_queries:
        raise ValueError(f"workload has {workload.n_queries} filters but dataset has {dataset.n_queries} queries")
    if workload.n != dataset.n:
        raise ValueError(f"workload filters have size {workload.n} but dataset has {dataset.n} points")

    path: Path | None = None
    full_key = ""
    if cache:
        full_key = json.dumps(
            {"dataset": dataset.name, "n": dataset.n, "dim": dataset.dim, "n_queries": dataset.n_queries,
             "metric": dataset.metric, "data": _fingerprint(dataset.data),
             "queries": _fingerprint(dataset.queries), "workload": workload.key(),
             "filters": _filters_digest(workload.filters), "k": k},
            sort_keys=True, separators=(",", ":"),
        )
        digest = hashlib.sha256(full_key.encode()).hexdigest()[:32]
        safe_name = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset.name)[:64]
        directory = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
        path = directory / f"{safe_name}-{workload.name}-k{k}-{digest}.npz"
        hit = _read_cache(path, full_key, (dataset.n_queries, k))
        if hit is not None:
            return hit

    from .exact import exact_search

    ids, distances = exact_search(dataset.data, dataset.queries, k, metric=dataset.metric,
                                  filter=workload.filters)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    distances = np.ascontiguousarray(distances, dtype=np.float32)
    if ids.shape != (dataset.n_queries, k) or distances.shape != ids.shape:
        raise RuntimeError(f"exact_search returned shapes {ids.shape} and {distances.shape}, "
                           f"expected ({dataset.n_queries}, {k})")
    if path is not None:
        _write_cache(path, full_key, ids, distances)
    return ids, distances


def _read_cache(path: Path, full_key: str, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != full_key:
                return None
            ids, distances = z["ids"], z["distances"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # corrupt or foreign file: recompute and overwrite
    if ids.shape != shape or distances.shape != shape:
        return None
    return ids.astype(np.int64, copy=False), distances.astype(np.float32, copy=False)


def _write_cache(path: Path, full_key: str, ids: np.ndarray, distances: np.ndarray) -> None:
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, ids=ids, distances=distances, key=np.array(full_key))
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        warnings.warn(f"could not write the ground-truth cache {path}: {exc}", RuntimeWarning, stacklevel=3)
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
