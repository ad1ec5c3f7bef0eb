"""Turns every filter form the API accepts into what the core reads: bitset words or id lists.

Accepted forms, for one query or for all:

* ``None`` -- every id is allowed;
* a numpy ``bool`` array of length ``n`` -- a mask;
* a numpy integer array -- the allowed ids (any order, duplicates allowed). An integer array
  of length ``n`` holding only 0 and 1 is almost always a mask in the wrong dtype: it is still
  read as ids (so it allows at most ids 0 and 1), with a ``UserWarning`` saying so;
* a :class:`~mcindex.Bitmap` of size ``n``;
* a callable ``f(ids: np.ndarray) -> np.ndarray[bool]`` -- called once with ``np.arange(n)``
  and turned into a bitmap. That costs O(n) per distinct callable (per query when each query
  has its own), so prefer masks or bitmaps in hot paths.

A ``list``/``tuple`` of length ``nq`` gives one filter per query; a 2-D bool array of shape
``(nq, n)`` does too. A list of plain ints is refused (pass allowed ids as a numpy array) because
it would otherwise be ambiguous.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from .bitmap import Bitmap

__all__ = ["FilterLike", "ResolvedFilters", "resolve_filters"]

FilterLike = Union[None, np.ndarray, Bitmap, Callable[[np.ndarray], np.ndarray]]

# An id list is walked directly when it holds at most n / 16 ids; a denser one is turned into a
# bitset, whose sequential scan reads memory in order.
_ID_LIST_MAX_FRACTION = 1 / 16


@dataclass
class ResolvedFilters:
    """Distinct filters in core form plus the filter index of each query (-1: no filter)."""

    words: list[np.ndarray | None]
    ids: list[np.ndarray | None]
    of_query: np.ndarray | None  # int32[nq], or None when no query has a filter
    counts: list[int]  # allowed ids per distinct filter

    def count_of_query(self, q: int, n: int) -> int:
        """Number of ids query ``q`` may return."""
        if self.of_query is None or self.of_query[q] < 0:
            return n
        return self.counts[self.of_query[q]]


def _from_ids(ids: np.ndarray, n: int, where: str) -> tuple[np.ndarray | None, np.ndarray | None, int]:
    if ids.ndim != 1:
        raise ValueError(f"{where}: an id filter must be 1-D, got shape {ids.shape}")
    if ids.size:
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= n:
            raise ValueError(f"{where}: filter id {lo if lo < 0 else hi} is out of range [0, {n})")
        if ids.size == n and n > 2 and hi <= 1:
            warnings.warn(f"{where}: an integer array of length n = {n} holding only 0 and 1 is read as a list "
                          f"of allowed ids (it allows ids {{{', '.join(map(str, range(lo, hi + 1)))}}}); for a "
                          f"mask, pass a bool array (mask.astype(bool))", UserWarning, stacklevel=4)
    unique = np.unique(ids)
    if unique.size <= n * _ID_LIST_MAX_FRACTION:
        return None, unique.astype(np.uint32), int(unique.size)
    bm = Bitmap.from_ids(unique, n)
    return bm.words, None, int(unique.size)


def _from_bitmap(bm: Bitmap, n: int, where: str) -> tuple[np.ndarray | None, np.ndarray | None, int]:
    if bm.size != n:
        raise ValueError(f"{where}: Bitmap has size {bm.size}, expected the number of points {n}")
    return bm.words, None, bm.count()


def _resolve_one(f: Any, n: int, where: str) -> tuple[np.ndarray | None, np.ndarray | None, int] | None:
    """Core form of one filter, or None for "everything allowed"."""
    if f is None:
        return None
    if isinstance(f, Bitmap):
        return _from_bitmap(f, n, where)
    if isinstance(f, np.ndarray):
        if f.dtype == np.bool_:
            if f.shape != (n,):
                raise ValueError(f"{where}: a bool mask must have shape ({n},), got {f.shape}")
            return _from_bitmap(Bitmap.from_mask(f), n, where)
        if np.issubdtype(f.dtype, np.integer):
            return _from_ids(f, n, where)
        raise TypeError(f"{where}: filter arrays must be bool (a mask) or integer (ids), got dtype {f.dtype}")
    if callable(f):
        out = np.asarray(f(np.arange(n, dtype=np.int64)))
        if out.dtype != np.bool_ or out.shape != (n,):
            raise TypeError(
                f"{where}: a filter callable must return a bool array of shape ({n},), "
                f"got dtype {out.dtype} with shape {out.shape}"
            )
        return _from_bitmap(Bitmap.from_mask(out), n, where)
    raise TypeError(
        f"{where}: unsupported filter type {type(f).__name__}; expected None, a bool mask, "
        "an integer id array, a mcindex.Bitmap or a callable"
    )


def resolve_filters(filter: Any, n: int, nq: int, *, need_words: bool = False) -> ResolvedFilters:
    """Validate ``filter`` (one for all queries or one per query) and convert it for the core.

    With ``need_words`` every filter also carries its bitset (graph traversals test membership
    of arbitrary ids), even when it is given as a short id list.

    Raises ``TypeError`` for an unsupported form and ``ValueError`` for a wrong length or
    out-of-range id, naming the offending query for per-query filters.
    """
    resolved = _resolve(filter, n, nq)
    if need_words:
        for i, (words, ids) in enumerate(zip(resolved.words, resolved.ids)):
            if words is None and ids is not None:
                resolved.words[i] = Bitmap.from_ids(ids, n).words
    return resolved


def _resolve(filter: Any, n: int, nq: int) -> ResolvedFilters:
    if filter is None:
        return ResolvedFilters([], [], None, [])

    per_query: Sequence[Any] | None = None
    if isinstance(filter, (list, tuple)):
        per_query = filter
    elif isinstance(filter, np.ndarray) and filter.ndim == 2:
        if filter.dtype != np.bool_:
            raise TypeError(f"a 2-D filter must be a bool array of shape ({nq}, {n}), got dtype {filter.dtype}")
        per_query = list(filter)

    if per_query is None:
        one = _resolve_one(filter, n, "filter")
        if one is None:
            return ResolvedFilters([], [], None, [])
        words, ids, count = one
        return ResolvedFilters([words], [ids], np.zeros(nq, dtype=np.int32), [count])

    if len(per_query) != nq:
        raise ValueError(f"per-query filters: expected {nq} (one per query), got {len(per_query)}")
    if nq and all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in per_query):
        raise TypeError(
            "a list of ints is read as one filter per query; pass allowed ids as a numpy integer array"
        )
    words: list[np.ndarray | None] = []
    ids: list[np.ndarray | None] = []
    counts: list[int] = []
    of_query = np.full(nq, -1, dtype=np.int32)
    seen: dict[int, int] = {}  # id(filter object) -> index, so a shared filter is resolved once
    for q, f in enumerate(per_query):
        if f is None:
            continue
        key = id(f)
        if key in seen:
            of_query[q] = seen[key]
            continue
        one = _resolve_one(f, n, f"filter of query {q}")
        if one is None:
            continue
        seen[key] = len(words)
        of_query[q] = len(words)
        words.append(one[0])
        ids.append(one[1])
        counts.append(one[2])
    if not words:
        return ResolvedFilters([], [], None, [])
    return ResolvedFilters(words, ids, of_query, counts)
