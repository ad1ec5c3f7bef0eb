"""A collection: vectors plus an attribute table, searched under filters written as predicates.

Users hold items (a vector and attributes such as category, tags, price, date) and ask "the 10
nearest in stock, category shoes, under 50". A :class:`Collection` pairs an :class:`~mcindex.Index`
with per-column attribute indexes (:mod:`.columns`) so that such a condition, written as a Python
predicate (:func:`~.predicates.col`) or as a SQL expression (DuckDB, :mod:`.sql`), compiles into
the :class:`~mcindex.Bitmap` the index search takes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import _core
from ..bitmap import Bitmap
from ..exact import as_matrix, check_k
from ..index import Index
from .columns import Column
from .ids import ExternalIds
from .predicates import Col, Predicate, compile_predicate
from .sql import SqlFilter, SqlLimits
from .storage import FORMAT_VERSION, load_collection, save_collection
from .table import build_columns, make_table, read_attributes, resolve_format

__all__ = ["Collection"]

Where = Predicate | Col | str | Bitmap | np.ndarray | None


class Collection:
    """Vectors, their attributes and optional external ids, searchable under attribute filters.

    Build one with :meth:`Collection.build` (or :meth:`Collection.from_index` around an index you
    already have), search with :meth:`search`, persist with :meth:`save` / :meth:`Collection.load`.

    Example::

        from mcindex import Collection, col
        c = Collection.build(vectors, {"price": price, "category": category, "tags": tags},
                             metric="cosine", ids=skus)
        ids, dists = c.search(q, k=10, where=(col("price") < 50) & (col("category") == "shoes"))
        ids, dists = c.search(q, k=10, where="price < 50 AND list_contains(tags, 'sale')")
    """

    def __init__(self, index: Index, columns: Mapping[str, Column], ids: ExternalIds | None = None,
                 sql_limits: SqlLimits | None = None):
        # Internal: use Collection.build, Collection.from_index or Collection.load.
        self._index = index
        self._columns = dict(columns)
        self._ids = ids
        self._sql = SqlFilter(self._columns, len(index), sql_limits)

    # ---- construction ---------------------------------------------------------------------------
    @classmethod
    def build(cls, vectors: Any, attributes: Any = None, *, metric: str, ids: Any = None,
              kinds: Mapping[str, str] | None = None, sql_limits: SqlLimits | None = None,
              **index_params: Any) -> Collection:
        """Build the index over ``vectors`` and the attribute indexes over ``attributes``.

        Args:
            vectors: ``(n, dim)`` real array.
            attributes: one value per row per column: a dict of numpy arrays / lists / pandas
                Series / Arrow arrays, a pandas DataFrame, or a pyarrow Table; None for none.
                Missing values (None, NaN, NaT, nulls) are allowed and never match a predicate
                (see :mod:`mcindex.collection.predicates`).
            metric: ``"l2"``, ``"ip"`` or ``"cosine"``.
            ids: optional external ids, one per row, unique: int64 (>= 0) or str. Searches then
                report these instead of row numbers.
            kinds: column kinds to use instead of the inferred ones, e.g.
                ``{"tags": "multi_label", "description": "keywords", "shop": "categorical"}``;
                see :mod:`mcindex.collection.columns`.
            sql_limits: the time budget, memory limit and connections of SQL ``where``
                strings (default ``SqlLimits()``: 1 s, 256 MiB, 4); see :attr:`sql_limits`.
            **index_params: passed to :meth:`mcindex.Index.build` (``threads``, ``progress``,
                ``degree``, ...).

        The attributes and ids are checked before the (expensive) index build starts.
        """
        arr = as_matrix(vectors, "vectors")
        if arr.shape[0] == 0:
            raise ValueError("vectors must have at least one row")
        n = arr.shape[0]
        columns = build_columns(read_attributes(attributes), n, kinds)
        ext = None if ids is None else ExternalIds(ids, n)
        index = Index.build(arr, metric, **index_params)
        return cls(index, columns, ext, sql_limits)

    @classmethod
    def from_index(cls, index: Index, attributes: Any = None, *, ids: Any = None,
                   kinds: Mapping[str, str] | None = None, sql_limits: SqlLimits | None = None) -> Collection:
        """A collection around an index already built (or loaded) over the same rows, in order
        (``sql_limits`` as in :meth:`build`)."""
        if not isinstance(index, Index):
            raise TypeError(f"index must be a mcindex.Index, got {type(index).__name__}")
        n = len(index)
        columns = build_columns(read_attributes(attributes), n, kinds)
        return cls(index, columns, None if ids is None else ExternalIds(ids, n), sql_limits)

    # ---- persistence ------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], *, attributes_format: str = "auto") -> None:
        """Write the collection to the directory ``path``, atomically replacing an older collection
        there (see :mod:`mcindex.collection.storage` for the layout and guarantees).

        ``attributes_format``: ``"arrow"`` (Arrow IPC, needs pyarrow), ``"npz"`` (numpy only), or
        ``"auto"``: arrow when pyarrow is installed.
        """
        save_collection(path, self._index, self._columns, self._ids, attributes_format=attributes_format)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = False,
             sql_limits: SqlLimits | None = None) -> Collection:
        """Read a collection saved by :meth:`save`, verifying the manifest's version and every
        file's size and SHA-256 first (:class:`~mcindex.collection.CollectionFormatError`, a
        ``ValueError``, on any mismatch). The attribute indexes are rebuilt from the stored
        values. ``mmap=True`` memory-maps the index file; ``sql_limits`` as in :meth:`build`
        (limits are settings of the process, not saved)."""
        index, columns, ids, _ = load_collection(path, mmap=mmap)
        return cls(index, columns, ids, sql_limits)

    # ---- properties ----------------------------------------------------------------------------
    @property
    def index(self) -> Index:
        """The vector index."""
        return self._index

    @property
    def kinds(self) -> dict[str, str]:
        """Column name -> kind, in column order."""
        return {name: c.kind for name, c in self._columns.items()}

    @property
    def sql_limits(self) -> SqlLimits:
        """What one SQL ``where`` string may cost: a :class:`~mcindex.collection.SqlLimits`
        (time budget, memory limit, DuckDB connections). A filter over a limit raises
        :class:`~mcindex.collection.FilterLimitError` (a ``ValueError``) naming it. Assign new
        limits to change them; filters already running finish under the old ones::

            c.sql_limits = SqlLimits(time_budget=0.5, memory_limit=128 << 20)
        """
        return self._sql.limits

    @sql_limits.setter
    def sql_limits(self, limits: SqlLimits) -> None:
        self._sql.limits = limits

    @property
    def column_names(self) -> list[str]:
        return list(self._columns)

    def column(self, name: str) -> Column:
        """The column object (values and index) named ``name``."""
        try:
            return self._columns[name]
        except KeyError:
            raise ValueError(f"unknown column {name!r}; available columns: "
                             f"{', '.join(self._columns) or '(none)'}") from None

    @property
    def ids(self) -> np.ndarray | None:
        """The external ids (int64 array or object array of str), or None."""
        return None if self._ids is None else self._ids.values

    @property
    def dim(self) -> int:
        return self._index.dim

    @property
    def metric(self) -> str:
        return self._index.metric

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        cols = ", ".join(f"{name}: {c.kind}" for name, c in self._columns.items())
        ids = f", ids={self._ids.kind}" if self._ids is not None else ""
        return (f"Collection(n={len(self)}, dim={self.dim}, metric={self.metric!r}, columns={{{cols}}}{ids}, "
                f"simd={_core.simd_level()!r})")

    # ---- filters --------------------------------------------------------------------------------
    def compile(self, where: Where) -> Bitmap | None:
        """The rows ``where`` selects, as a Bitmap (None for None: no filter).

        ``where`` is a predicate (``col("price") < 50``, a boolean ``col("in_stock")``), a SQL
        expression string evaluated by DuckDB, a ready :class:`~mcindex.Bitmap`, or a bool mask
        of length ``n``.

        Raises:
            FilterLimitError: a SQL string over the time budget, the memory limit or the size
                guard of :attr:`sql_limits` (a ``ValueError``; the message names the limit).
            ValueError: unknown column, bad SQL (DuckDB's message), a wrong-size bitmap or mask.
            TypeError: an operation or literal the column's kind does not support.
            ImportError: a SQL string without duckdb / pyarrow installed (the ``sql`` extra).
        """
        n = len(self)
        if where is None:
            return None
        if isinstance(where, (Predicate, Col)):
            return compile_predicate(where, self._columns)
        if isinstance(where, str):
            return self._sql.compile(where)
        if isinstance(where, Bitmap):
            if where.size != n:
                raise ValueError(f"a Bitmap filter must have size {n}, got {where.size}")
            return where
        if isinstance(where, np.ndarray) and where.dtype == np.bool_:
            if where.shape != (n,):
                raise ValueError(f"a bool mask filter must have shape ({n},), got {where.shape}")
            return Bitmap.from_mask(where)
        raise TypeError(f"where must be a predicate (mcindex.col(...)), a SQL string, a Bitmap, a bool mask or None, "
                        f"got {type(where).__name__}")

    def count(self, where: Where) -> int:
        """How many rows ``where`` selects."""
        bm = self.compile(where)
        return len(self) if bm is None else bm.count()

    def _compile_per_query(self, where: Sequence[Where], nq: int) -> list[Bitmap | None]:
        if len(where) != nq:
            raise ValueError(f"per-query where: expected {nq} entries (one per query), got {len(where)}")
        cache: dict[Any, Bitmap | None] = {}
        out: list[Bitmap | None] = []
        for w in where:
            if isinstance(w, str):
                key: Any = ("sql", w.strip())
            elif isinstance(w, Predicate):
                key = ("pred", w.key)
            elif isinstance(w, Col):
                key = ("col", w.name)
            elif w is None:
                key = None
            else:
                key = ("obj", id(w))
            if key not in cache:
                cache[key] = self.compile(w)
            out.append(cache[key])
        return out

    # ---- search -------------------------------------------------------------------------------
    def search(self, queries: Any, k: int = 10, where: Where | Sequence[Where] = None, *,
               return_attributes: bool | str = False, **search_params: Any) -> tuple[Any, ...]:
        """The ``k`` nearest rows of each query among those ``where`` selects.

        Args:
            queries: ``(nq, dim)`` vectors or one ``(dim,)`` vector.
            k: neighbours per query.
            where: one filter for every query, or a list with one per query (each distinct
                predicate or string is compiled once); see :meth:`compile` for the forms.
            return_attributes: also return the attribute rows of the results: ``True`` (a
                pyarrow Table when pyarrow is installed, else a pandas DataFrame, else a dict
                of numpy arrays) or one of ``"arrow"``, ``"pandas"``, ``"numpy"``. The table
                has ``nq * k`` rows: row ``q * k + j`` describes ``ids[q, j]``; empty slots
                are all-missing rows.
            **search_params: passed to :meth:`mcindex.Index.search` (``ef``, ``strategy``,
                ``threads``, ``return_stats``, ...).

        Returns:
            ``(ids, distances)``, plus the attribute table when asked, plus the stats dict with
            ``return_stats=True`` (last). ``ids`` are external ids when the collection has them:
            int64 with ``-1`` in empty slots, or an object array of str with ``None`` there;
            otherwise row numbers with ``-1``. ``distances`` are float32 with ``inf`` in empty
            slots (a filter may select fewer than ``k`` rows, or none).
        """
        k = check_k(k)
        fmt = resolve_format(return_attributes) if return_attributes is not False else None
        q = as_matrix(queries, "queries", dim=self.dim, allow_1d=True)
        if isinstance(where, (list, tuple)):
            filters: Any = self._compile_per_query(where, q.shape[0])
        else:
            filters = self.compile(where)
        result = self._index.search(q, k, filters, **search_params)
        ids, dists = result[0], result[1]
        out: list[Any] = [self._ids.to_external(ids) if self._ids is not None else ids, dists]
        if fmt is not None:
            out.append(make_table(self._columns, ids.ravel(), fmt))
        if len(result) > 2:
            out.append(result[2])
        return tuple(out)

    def attributes(self, rows: Any = None, *, format: bool | str = True) -> Any:
        """The attribute rows ``rows`` (row numbers; all rows when None) as a table, in the format
        ``search(return_attributes=...)`` uses."""
        rows = np.arange(len(self), dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < -1 or rows.max() >= len(self)):
            raise ValueError(f"row numbers must lie in [0, {len(self)})")
        return make_table(self._columns, rows, resolve_format(format))

    def rows_of(self, ids: Any) -> np.ndarray:
        """Row numbers of external ids (``KeyError`` for an unknown one; identity without ids)."""
        if self._ids is None:
            rows = np.asarray(ids, dtype=np.int64).ravel()
            if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
                raise KeyError(f"row numbers must lie in [0, {len(self)})")
            return rows
        return self._ids.to_internal(ids)

    # ---- description ---------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """Sizes, columns, index parameters and statistics, format version and SIMD level."""
        return {
            "n": len(self), "dim": self.dim, "metric": self.metric,
            "format_version": FORMAT_VERSION,
            "ids": None if self._ids is None else self._ids.kind,
            "columns": [c.describe() for c in self._columns.values()],
            "simd": _core.simd_level(),
            "index": self._index.stats(),
        }
