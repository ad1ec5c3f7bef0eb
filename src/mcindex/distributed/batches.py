"""The build's input, one batch at a time: slicing arrays and tables, and moving rows of
attribute columns between batches and shards.

The driver never holds more than one batch of the user's data in a converted form:

* ``vectors`` as an array (a numpy array, an ``np.memmap``, anything with ``shape`` that slices
  like one, or a list of rows) is sliced ``[a:b]``; a memory map reads only that slice.
  Attributes (a dict of columns, a pandas DataFrame, a pyarrow Table) and ids are sliced alike.
* ``vectors`` as any other iterable (a generator, an iterator) yields batches: each item is a
  ``vectors`` array, or ``(vectors, attributes)``, or ``(vectors, attributes, ids)``
  (``attributes`` may be None). Ids must then come with every batch or with none.

Each batch is turned into :class:`~mcindex.collection.columns.RawColumn` objects (the form the
collection's table readers produce), which :func:`take_rows` splits among shards and
:func:`concat_rows` joins again on a shard.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..collection.columns import RawColumn, infer_kind
from ..collection.ids import ExternalIds
from ..collection.table import _is_arrow, _is_pandas_frame, _is_pandas_series, read_attributes
from ..exact import as_matrix

__all__ = ["Batch", "concat_rows", "infer_kinds", "iter_batches", "take_rows"]


@dataclass
class Batch:
    """Rows ``start .. start + len(vectors)`` of the input, checked and converted."""

    start: int
    vectors: np.ndarray            # float32, C-contiguous, finite
    columns: list[RawColumn]
    ids: np.ndarray | None         # int64 (>= 0) or object array of str; None: row numbers

    def __len__(self) -> int:
        return int(self.vectors.shape[0])


def _is_array_like(x: Any) -> bool:
    return isinstance(x, (np.ndarray, list, tuple)) or (hasattr(x, "shape") and hasattr(x, "__getitem__"))


def _rows_of_table(attributes: Any) -> list[tuple[str, int]]:
    """(column name, length) of each column of an attribute table, without converting it."""
    if _is_pandas_frame(attributes):
        return [(str(name), len(attributes)) for name in attributes.columns]
    if _is_arrow(attributes) and hasattr(attributes, "column_names"):
        return [(name, attributes.num_rows) for name in attributes.column_names]
    if not isinstance(attributes, Mapping):
        raise TypeError("attributes must be a dict of columns, a pandas DataFrame or a pyarrow Table, got "
                        f"{type(attributes).__name__}")
    out = []
    for name, values in attributes.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
            raise TypeError(f"column {name!r} must be a sequence with one value per row, got {type(values).__name__}")
        out.append((name, len(values)))
    return out


def _slice_column(values: Any, a: int, b: int) -> Any:
    if _is_pandas_series(values):
        return values.iloc[a:b]
    if _is_arrow(values):
        return values.slice(a, b - a)
    return values[a:b]


def _slice_table(attributes: Any, a: int, b: int) -> Any:
    if attributes is None:
        return None
    if _is_pandas_frame(attributes):
        return attributes.iloc[a:b]
    if _is_arrow(attributes) and hasattr(attributes, "column_names"):
        return attributes.slice(a, b - a)
    return {name: _slice_column(values, a, b) for name, values in attributes.items()}


def _check_batch(start: int, vectors: Any, attributes: Any, ids: Any, dim: int | None, what: str) -> Batch:
    try:
        arr = as_matrix(vectors, "vectors", dim=dim)
    except ValueError as exc:  # row numbers in as_matrix's message are relative to the batch
        raise ValueError(f"{exc} (in {what} starting at row {start})") from None
    m = arr.shape[0]
    columns = read_attributes(attributes)
    for c in columns:
        if len(c) != m:
            raise ValueError(f"column {c.name!r} has {len(c)} rows in {what} starting at row {start}, "
                             f"which has {m} vectors")
    ext = None
    if ids is not None:
        try:
            ext = ExternalIds(ids, m).values
        except ValueError as exc:
            raise ValueError(f"{exc} (in {what} starting at row {start})") from None
    return Batch(start, arr, columns, ext)


def iter_batches(vectors: Any, attributes: Any, ids: Any, batch_size: int) -> tuple[int | None, Iterator[Batch]]:
    """``(n or None, batches)``: the number of rows when known up front, and the checked batches.

    Raises (before any batch is produced, where the input allows):
        ValueError: columns or ids of a length other than the number of vectors, an empty
            input, 1-D vectors.
        TypeError: attributes or ids given separately with an iterable of batches.
    """
    if _is_array_like(vectors):
        if isinstance(vectors, (list, tuple)):
            vectors = as_matrix(vectors, "vectors")
        shape = getattr(vectors, "shape", None)
        if shape is None or len(shape) != 2:
            raise ValueError(f"vectors must be 2-D (rows x dim), got shape {shape}")
        n = int(shape[0])
        if n == 0:
            raise ValueError("vectors must have at least one row")
        if attributes is not None:
            for name, length in _rows_of_table(attributes):
                if length != n:
                    raise ValueError(f"column {name!r} has {length} rows but there are {n} vectors")
        if ids is not None:
            if isinstance(ids, (str, bytes)) or not hasattr(ids, "__len__"):
                raise TypeError(f"ids must be a 1-D sequence of int64 or str, got {type(ids).__name__}")
            if len(ids) != n:
                raise ValueError(f"ids must have one entry per vector ({n}), got {len(ids)}")

        def sliced() -> Iterator[Batch]:
            for a in range(0, n, batch_size):
                b = min(n, a + batch_size)
                yield _check_batch(a, vectors[a:b], _slice_table(attributes, a, b),
                                   None if ids is None else _slice_column(ids, a, b), int(shape[1]), "the batch")
        return n, sliced()

    if attributes is not None or ids is not None:
        raise TypeError("with an iterable of batches, pass attributes and ids inside each batch "
                        "((vectors, attributes, ids) tuples), not as arguments")
    try:
        source = iter(vectors)
    except TypeError:
        raise TypeError(f"vectors must be an array or an iterable of batches, got {type(vectors).__name__}") from None

    def streamed() -> Iterator[Batch]:
        start, dim, with_ids = 0, None, None
        for item in source:
            if isinstance(item, tuple):
                if not 1 <= len(item) <= 3:
                    raise ValueError(f"a batch must be vectors, (vectors, attributes) or (vectors, attributes, ids); "
                                     f"got a tuple of {len(item)}")
                v, a, i = (tuple(item) + (None, None))[:3]
            else:
                v, a, i = item, None, None
            if with_ids is None:
                with_ids = i is not None
            elif with_ids != (i is not None):
                raise ValueError(f"ids must come with every batch or with none; the batch starting at row {start} "
                                 f"{'lacks' if with_ids else 'has'} them")
            batch = _check_batch(start, v, a, i, dim, "the batch")
            if len(batch) == 0:
                continue
            dim = batch.vectors.shape[1]
            start += len(batch)
            yield batch
        if start == 0:
            raise ValueError("vectors must have at least one row (the iterable yielded none)")
    return None, streamed()


def infer_kinds(columns: list[RawColumn], known: dict[str, str]) -> None:
    """Add to ``known`` the kind of each column it lacks, inferred from this batch's values
    (a column whose values are all missing here is left for a later batch)."""
    for c in columns:
        if c.name in known:
            continue
        try:
            known[c.name] = infer_kind(c)
        except ValueError:  # only missing values so far
            pass


# ---- rows of raw columns ------------------------------------------------------------------------
def take_rows(column: RawColumn, rows: np.ndarray) -> RawColumn:
    """The rows ``rows`` (int64 positions) of a raw column, list columns included."""
    null = None if column.null is None else column.null[rows]
    if column.offsets is None:
        return RawColumn(column.name, column.values[rows], null)
    starts = column.offsets[rows]
    lengths = column.offsets[rows + 1] - starts
    offsets = np.zeros(rows.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    # item positions: each chosen row's items, consecutive, without a Python loop
    items = np.repeat(starts - offsets[:-1], lengths) + np.arange(int(offsets[-1]), dtype=np.int64)
    return RawColumn(column.name, column.values[items], null, offsets)


def concat_rows(parts: list[RawColumn]) -> RawColumn:
    """One raw column of the rows of ``parts`` (the same column from several batches), in order."""
    name = parts[0].name
    if len(parts) == 1:
        return parts[0]
    values = np.concatenate([p.values for p in parts])
    null = None
    if any(p.null is not None for p in parts):
        null = np.concatenate([p.null if p.null is not None else np.zeros(len(p), np.bool_) for p in parts])
    offsets = None
    if any(p.offsets is not None for p in parts):
        if not all(p.offsets is not None for p in parts):
            raise TypeError(f"column {name!r} arrives as lists in some batches and as values in others")
        shifted, base = [np.zeros(1, np.int64)], 0
        for p in parts:
            shifted.append(p.offsets[1:] + base)
            base += int(p.offsets[-1])
        offsets = np.concatenate(shifted)
    return RawColumn(name, values, null, offsets)
