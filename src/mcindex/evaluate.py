"""Recall of approximate results against exact (ground-truth) neighbours.

Id -1 marks an empty slot on both sides (a search that found fewer than k results, or a
filter that allows fewer than k points). Recall at ``k`` of one query is::

    |set(found[:k]) ∩ set(valid true[:k])| / min(k, number of valid true ids in true[:k])

so a query whose filter allows only 3 points scores 1.0 when all 3 are found, and a query with
no valid true id scores 1.0 (there was nothing to find). Duplicate ids in ``found`` count once;
-1 in ``found`` never matches.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["recall", "recall_per_query"]


def _as_ids(x: Any, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (queries, k), got shape {x.shape}")
    if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.integer) or x.size == 0):
        raise TypeError(f"{what} must hold integer ids, got dtype {x.dtype}")
    return x.astype(np.int64, copy=False)


def recall_per_query(found_ids: Any, true_ids: Any, k: int | None = None) -> np.ndarray:
    """Recall@k of each query (see the module docstring for the definition).

    Args:
        found_ids: Integer ids returned by the search, shape ``(n_queries, k_found)``; -1 = empty.
        true_ids: Exact neighbour ids, shape ``(n_queries, k_true)``, nearest first; -1 = empty.
        k: Cut-off; defaults to ``found_ids.shape[1]`` (the number of results asked for). Must
            satisfy ``1 <= k <= true_ids.shape[1]``; ``found_ids`` may have fewer columns than
            ``k`` (missing slots count as not found).

    Returns:
        float64 array ``[n_queries]`` with values in [0, 1].

    Cost: O(n_queries * k * log(n_queries * k)) (one vectorised sort).

    Raises:
        ValueError: not 2-D, different numbers of rows, or ``k`` out of range.
        TypeError: non-integer ids or ``k``.
    """
    found = _as_ids(found_ids, "found_ids")
    true = _as_ids(true_ids, "true_ids")
    if found.shape[0] != true.shape[0]:
        raise ValueError(f"found_ids has {found.shape[0]} rows but true_ids has {true.shape[0]}")
    if k is None:
        k = found.shape[1]
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if k > true.shape[1]:
        raise ValueError(f"true_ids has only {true.shape[1]} columns; cannot score recall@{k}")
    nq = found.shape[0]
    if nq == 0:
        return np.zeros(0, dtype=np.float64)
    found = found[:, :k]
    true = true[:, :k]

    # Encode (row, id) pairs as single int64 keys so one sort handles every query at once.
    top = int(max(found.max(initial=-1), true.max(initial=-1)))
    stride = top + 1
    if top < 0 or nq * stride >= 2**62:
        return _recall_loop(found, true, k)
    rows_f = np.broadcast_to(np.arange(nq, dtype=np.int64)[:, None], found.shape)
    rows_t = np.broadcast_to(np.arange(nq, dtype=np.int64)[:, None], true.shape)
    keys_true = np.unique((rows_t * stride + true)[true >= 0])
    keys_found = np.unique((rows_f * stride + found)[found >= 0])
    hits = np.intersect1d(keys_found, keys_true, assume_unique=True)
    n_hits = np.bincount(hits // stride, minlength=nq)
    n_valid = np.bincount(keys_true // stride, minlength=nq)
    return _ratio(n_hits, n_valid, k)


def _recall_loop(found: np.ndarray, true: np.ndarray, k: int) -> np.ndarray:
    """Row-by-row fallback for id ranges too large to pack into int64 keys (or no valid ids)."""
    n_hits = np.zeros(found.shape[0], dtype=np.int64)
    n_valid = np.zeros(found.shape[0], dtype=np.int64)
    for i in range(found.shape[0]):
        t = np.unique(true[i][true[i] >= 0])
        f = np.unique(found[i][found[i] >= 0])
        n_valid[i] = t.size
        n_hits[i] = np.intersect1d(f, t, assume_unique=True).size
    return _ratio(n_hits, n_valid, k)


def _ratio(n_hits: np.ndarray, n_valid: np.ndarray, k: int) -> np.ndarray:
    denom = np.minimum(n_valid, k)
    out = np.ones(n_hits.shape[0], dtype=np.float64)
    has = denom > 0
    out[has] = n_hits[has] / denom[has]
    return out


def recall(found_ids: Any, true_ids: Any, k: int | None = None) -> float:
    """Mean recall@k over queries: ``recall_per_query(found_ids, true_ids, k).mean()``.

    Arguments, cost and errors as :func:`recall_per_query`; also raises ValueError when there
    are no queries (the mean is undefined).
    """
    per_query = recall_per_query(found_ids, true_ids, k)
    if per_query.size == 0:
        raise ValueError("cannot compute recall over zero queries")
    return float(per_query.mean())
