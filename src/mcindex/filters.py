"""Every filter form the API accepts, turned once into the one form the core takes: a Bitmap.

Accepted forms, for one query or for all:

* ``None`` -- every id is allowed;
* a numpy ``bool`` array of length ``n`` -- a mask;
* a numpy integer array -- the allowed ids (any order, duplicates allowed; packed into bits by
  the core, in the search call, so an id array costs what the same Bitmap costs plus one pass
  over the ids). An integer array
  of length ``n`` holding only 0 and 1 is almost always a mask in the wrong dtype: it is still
  read as ids (so it allows at most ids 0 and 1), with a ``UserWarning`` saying so;
* a :class:`~mcindex.Bitmap` of size ``n``;
* a callable ``f(ids: np.ndarray) -> np.ndarray[bool]`` -- called once with ``np.arange(n)``
  and turned into a bitmap. That costs O(n) per distinct callable (per query when each query
  has its own), so prefer masks or bitmaps in hot paths.

A ``list``/``tuple`` of length ``nq`` gives one filter per query; a 2-D bool array of shape
``(nq, n)`` does too. A list of plain ints is refused (pass allowed ids as a numpy array) because
it would otherwise be ambiguous.

:func:`resolve_filters` returns what the core's search calls take: a list of filters, each a
Bitmap's ``(words, ids, count)`` (:meth:`Bitmap.core`), a bool mask or an int64 id array (the
last two packed into bits by the core in the same call; a callable becomes a mask), and each
query's index into the list.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any, Union

import numpy as np

from .bitmap import Bitmap

__all__ = ["FilterLike", "explain_filter_error", "resolve_filters"]

FilterLike = Union[None, np.ndarray, Bitmap, Callable[[np.ndarray], np.ndarray]]
CoreFilters = tuple[list[Any] | None, np.ndarray | None]


def _core_form(f: Any, n: int, where: str) -> Any:
    """One filter in a form the core's search takes (None: every id allowed): a Bitmap's
    ``(words, ids, count)``, or a bool mask, which the core packs itself (no Bitmap is made for a
    filter that lives for one call). ``where`` names it in errors."""
    if f is None:
        return None
    if isinstance(f, Bitmap):
        if f.size != n:
            raise ValueError(f"{where}: Bitmap has size {f.size}, expected the number of points {n}")
        return f.core()
    if isinstance(f, np.ndarray):
        kind = f.dtype.kind
        if kind == "b":
            if f.shape != (n,):
                raise ValueError(f"{where}: a bool mask must have shape ({n},), got {f.shape}")
            return f if f.flags.c_contiguous else np.ascontiguousarray(f)
        if kind in "iu":
            if f.ndim != 1:
                raise ValueError(f"{where}: an id filter must be 1-D, got shape {f.shape}")
            if f.dtype != np.int64 or not f.flags.c_contiguous:
                if kind == "u" and f.size and int(f.max()) > 2**63 - 1:
                    raise ValueError(f"{where}: filter id {int(f.max())} is out of range [0, {n})")
                f = np.ascontiguousarray(f, dtype=np.int64)
            # Looked at only when the ends say it might be a 0/1 mask: the full scan is rare.
            if f.shape[0] == n > 2 and 0 <= f[0] <= 1 and 0 <= f[-1] <= 1 and 0 <= f.min() and f.max() <= 1:
                warnings.warn(f"{where}: an integer array of length n = {n} holding only 0 and 1 is read as a "
                              f"list of allowed ids (it allows ids {{{', '.join(map(str, np.unique(f)))}}}); for "
                              f"a mask, pass a bool array (mask.astype(bool))", UserWarning, stacklevel=5)
            return f  # packed by the core in the search call (see explain_filter_error)
        raise TypeError(f"{where}: filter arrays must be bool (a mask) or integer (ids), got dtype {f.dtype}")
    if callable(f):
        out = np.asarray(f(np.arange(n, dtype=np.int64)))
        if out.dtype != np.bool_ or out.shape != (n,):
            raise TypeError(
                f"{where}: a filter callable must return a bool array of shape ({n},), "
                f"got dtype {out.dtype} with shape {out.shape}"
            )
        return np.ascontiguousarray(out)
    raise TypeError(
        f"{where}: unsupported filter type {type(f).__name__}; expected None, a bool mask, "
        "an integer id array, a mcindex.Bitmap or a callable"
    )


def explain_filter_error(filter: Any, n: int) -> None:
    """Raise the friendly error for an id array out of range in ``filter``, if there is one.

    Id arrays go to the core as they are and are packed there, in the search call; when the core
    refuses one, the caller calls this to name the filter (and query) at fault."""
    per_query = filter if isinstance(filter, (list, tuple)) else [filter]
    for q, f in enumerate(per_query):
        if isinstance(f, np.ndarray) and f.dtype.kind in "iu" and f.ndim == 1:
            where = "filter" if per_query is not filter else f"filter of query {q}"
            try:
                Bitmap._from_ids(f, n)
            except ValueError as exc:
                raise ValueError(f"{where}: filter {exc}") from None


def resolve_filters(filter: Any, n: int, nq: int) -> CoreFilters:
    """Check ``filter`` (one for all queries or one per query) and turn it into the core's form:
    ``(filters, filter_of_query)``, where ``filters`` is None (no filter) or a list of
    ``(words, ids, count)`` triples and bool masks, and ``filter_of_query`` is None (every query
    has ``filters[0]``) or an int32 array (-1: no filter for that query).

    Raises ``TypeError`` for an unsupported form and ``ValueError`` for a wrong length or
    out-of-range id, naming the offending query for per-query filters.
    """
    if filter is None:
        return None, None
    if isinstance(filter, Bitmap):  # the common case first: no other checks to make
        if filter.size != n:
            raise ValueError(f"filter: Bitmap has size {filter.size}, expected the number of points {n}")
        return [filter.core()], None
    if isinstance(filter, np.ndarray) and filter.ndim == 1:
        one = _core_form(filter, n, "filter")
        return [one], None

    per_query: Sequence[Any] | None = None
    if isinstance(filter, (list, tuple)):
        per_query = filter
    elif isinstance(filter, np.ndarray) and filter.ndim == 2:
        if filter.dtype != np.bool_:
            raise TypeError(f"a 2-D filter must be a bool array of shape ({nq}, {n}), got dtype {filter.dtype}")
        per_query = list(filter)

    if per_query is None:
        one = _core_form(filter, n, "filter")
        return (None, None) if one is None else ([one], None)

    if len(per_query) != nq:
        raise ValueError(f"per-query filters: expected {nq} (one per query), got {len(per_query)}")
    if nq and all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in per_query):
        raise TypeError(
            "a list of ints is read as one filter per query; pass allowed ids as a numpy integer array"
        )
    filters: list[Any] = []
    of_query = np.full(nq, -1, dtype=np.int32)
    seen: dict[int, int] = {}  # id(filter object) -> index, so a shared filter is resolved once
    for q, f in enumerate(per_query):
        if f is None:
            continue
        key = id(f)
        if key in seen:
            of_query[q] = seen[key]
            continue
        one = _core_form(f, n, f"filter of query {q}")
        if one is None:
            continue
        seen[key] = len(filters)
        of_query[q] = len(filters)
        filters.append(one)
    if not filters:
        return None, None
    return filters, of_query
