"""Exact filtered k-nearest-neighbour search: the reference every index is measured against."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from . import _core
from ._checks import INT_MAX, max_magnitude
from .filters import resolve_filters

__all__ = ["METRICS", "ExactIndex", "exact_search"]

METRICS = {"l2": 0, "ip": 1, "cosine": 2}


def check_metric(metric: Any) -> str:
    """Validate a metric name; returns it lower-cased."""
    if not isinstance(metric, str) or metric.lower() not in METRICS:
        raise ValueError(f"metric must be one of {sorted(METRICS)}, got {metric!r}")
    return metric.lower()


def check_threads(threads: Any) -> int:
    """``None`` -> all cores (0 for the core); otherwise a positive int."""
    if threads is None:
        return 0
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads must be None or a positive int, got {threads!r}")
    return min(int(threads), max(os.cpu_count() or 1, 1) * 4)


def check_k(k: Any) -> int:
    """k must be a positive int (at most 2**63 - 1)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= INT_MAX:
        raise ValueError(f"k must be a positive int below 2**63, got {k!r}")
    return int(k)


def pad_results(ids: np.ndarray, dists: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, dists)`` widened to ``k`` columns with id -1 and distance inf.

    Searches run with ``k`` capped at the number of points, so that nothing the search itself
    allocates (heaps, candidate lists) grows with a huge ``k``; only the output has the shape
    the caller asked for."""
    nq, found = ids.shape
    if found >= k:
        return ids, dists
    out_ids = np.full((nq, k), -1, dtype=np.int64)
    out_dists = np.full((nq, k), np.inf, dtype=np.float32)
    out_ids[:, :found] = ids
    out_dists[:, :found] = dists
    return out_ids, out_dists


def _rows(bad: np.ndarray) -> str:
    """"3 row(s): 4, 9, 12" for a bool mask or an array of row numbers."""
    rows = np.flatnonzero(bad) if bad.dtype == np.bool_ else bad
    return f"{rows.size} row(s): " + ", ".join(map(str, rows[:10])) + (" ..." if rows.size > 10 else "")


def as_matrix(x: Any, name: str, *, dim: int | None = None, allow_1d: bool = False) -> np.ndarray:
    """A C-contiguous float32 2-D copy or view of ``x``, with finite values of a magnitude
    whose distances stay finite (:func:`max_magnitude`).

    float64 (and other real dtypes, any byte order) are converted; non-contiguous and read-only
    arrays are copied or read as they are (never written); a 1-D array is one row when
    ``allow_1d``. Zero rows (``(0, dim)``) are allowed.

    Raises:
        TypeError: not an array of real numbers (bool, complex, strings, objects, ragged lists).
        ValueError: wrong number of dimensions, dim 0, a dim other than ``dim``, NaN or inf, or
            values too large (the rows are named).
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:  # e.g. ragged lists
        raise TypeError(f"{name} must be a 2-D array of numbers: {exc}") from None
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim == 1 and allow_1d:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows x dim), got shape {arr.shape}")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} must have dim >= 1, got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name} must have dim {dim} like the data, got {arr.shape[1]}")
    with np.errstate(over="ignore", invalid="ignore"):  # float64 beyond float32 becomes inf: reported below
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.shape[0] == 0:
        return arr
    # Largest |x| per row, without an n x dim temporary; NaN propagates, inf stays inf.
    magnitude = np.maximum(arr.max(axis=1), -arr.min(axis=1))
    limit = max_magnitude(arr.shape[1])
    bad = ~(magnitude <= limit)
    if bad.any():
        finite = np.isfinite(magnitude)
        if not finite.all():
            raise ValueError(f"{name} has NaN or inf in {_rows(~finite)}")
        raise ValueError(f"{name} has values too large for float32 distances (|x| > {limit:.3g}) in "
                         f"{_rows(bad)}; rescale the vectors")
    return arr


_NORM_ROWS = 1 << 16


def normalize_rows(arr: np.ndarray, name: str) -> np.ndarray:
    """Unit-length float32 copy of ``arr`` for cosine; zero rows are an error (cosine is
    undefined for them). Norms are taken in float64, so tiny rows (say 1e-30) do not underflow
    to a "zero vector"."""
    out = np.empty(arr.shape, dtype=np.float32)
    for start in range(0, arr.shape[0], _NORM_ROWS):  # float64 temporaries of bounded size
        block = arr[start:start + _NORM_ROWS].astype(np.float64)
        norms = np.sqrt(np.einsum("ij,ij->i", block, block))
        zero = norms == 0
        if zero.any():
            raise ValueError(f"{name} has a zero vector, for which cosine is undefined, in "
                             f"{_rows(np.flatnonzero(zero) + start)}")
        out[start:start + _NORM_ROWS] = block / norms[:, None]
    return out


class ExactIndex:
    """Brute-force filtered search over a fixed set of vectors (like FAISS ``IndexFlat``).

    The data are validated (and, for cosine, normalised) once here, so repeated searches pay
    only for the scan. Distances are "smaller is closer": squared L2 for ``"l2"``, the negative
    inner product for ``"ip"``, ``1 - cosine similarity`` for ``"cosine"``.
    """

    def __init__(self, data: Any, metric: str = "l2"):
        self.metric = check_metric(metric)
        arr = as_matrix(data, "data")
        if arr.shape[0] >= 2**32 - 1:
            raise ValueError(f"at most 2**32 - 2 points are supported, got {arr.shape[0]}")
        self._data = normalize_rows(arr, "data") if self.metric == "cosine" else arr

    def __len__(self) -> int:
        return self._data.shape[0]

    @property
    def dim(self) -> int:
        return self._data.shape[1]

    @property
    def nbytes(self) -> int:
        """Bytes held for the vectors."""
        return int(self._data.nbytes)

    def search(self, queries: Any, k: int = 10, *, filter: Any = None, threads: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest allowed points of each query; see :func:`exact_search`."""
        k = check_k(k)
        nthreads = check_threads(threads)
        q = as_matrix(queries, "queries", dim=self.dim, allow_1d=True)
        if self.metric == "cosine":
            q = normalize_rows(q, "queries")
        resolved = resolve_filters(filter, len(self), q.shape[0])
        ids, dists = _core.exact_search(self._data, q, min(k, max(len(self), 1)), METRICS[self.metric],
                                        resolved.words, resolved.ids, resolved.of_query, nthreads)
        return pad_results(ids, dists, k)

    def __repr__(self) -> str:
        return f"ExactIndex(n={len(self)}, dim={self.dim}, metric={self.metric!r}, simd={_core.simd_level()!r})"


def exact_search(data: Any, queries: Any, k: int = 10, *, metric: str = "l2", filter: Any = None,
                 threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours of each query among the points its filter allows.

    Args:
        data: ``(n, dim)`` vectors (float32; other real dtypes are converted).
        queries: ``(nq, dim)`` vectors, or one ``(dim,)`` vector.
        k: neighbours per query.
        metric: ``"l2"`` (squared L2), ``"ip"`` (negative inner product) or ``"cosine"``
            (``1 - cosine similarity``; zero vectors are rejected). Smaller is always closer.
        filter: the allowed ids, one filter for all queries or a list with one per query; see
            :mod:`mcindex.filters` for the accepted forms (bool mask, id array, Bitmap, callable).
        threads: threads to run queries on (default: all cores). The GIL is released.

    Returns:
        ``(ids, distances)``: int64 and float32 arrays of shape ``(nq, k)``, each row sorted by
        distance (ties by id). When fewer than ``k`` points are allowed, the remaining slots hold
        id ``-1`` and distance ``+inf``.

    Cost: O(nq * |allowed| * dim) distance work; a selective id-array filter is walked directly,
    a mask or bitmap costs an extra n/64 word reads per query. Validation converts and checks
    ``data`` on every call; use :class:`ExactIndex` to search the same data repeatedly.
    """
    return ExactIndex(data, metric).search(queries, k, filter=filter, threads=threads)
