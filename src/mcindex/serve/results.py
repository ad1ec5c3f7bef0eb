"""Search results as JSON data: null for empty slots (JSON has no inf), ids kept as given.

The functions accept what ``Collection.search`` returns (numpy arrays; attributes as a dict of
arrays, a pandas DataFrame or a pyarrow Table) and also plain lists, so that any collection with
the same ``search`` interface (e.g. a sharded one) can be served.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..collection.report import to_jsonable

__all__ = ["attributes_json", "distances_json", "ids_json"]


def ids_json(ids: Any) -> list[list[Any]]:
    """``(nq, k)`` ids as lists: int64 ids with ``-1`` (or str ids with None) in empty slots
    become null there."""
    arr = np.asarray(ids)
    if arr.dtype == object:  # str ids: None already marks an empty slot
        return [[None if v is None else (v if isinstance(v, str) else to_jsonable(v)) for v in row]
                for row in arr.tolist()]
    out = arr.astype(np.int64).astype(object)
    out[arr < 0] = None
    return out.tolist()


def distances_json(distances: Any) -> list[list[float | None]]:
    """``(nq, k)`` distances as lists of floats, with null where a slot is empty (inf)."""
    arr = np.asarray(distances, dtype=np.float64)
    out = arr.astype(object)
    out[~np.isfinite(arr)] = None
    return out.tolist()


def _columns(table: Any) -> dict[str, list[Any]]:
    """Column name -> JSON values, from a dict of arrays, a DataFrame or an Arrow table."""
    if hasattr(table, "to_pydict"):  # pyarrow
        raw: Mapping[str, Any] = table.to_pydict()
    elif hasattr(table, "to_dict") and hasattr(table, "columns"):  # pandas
        raw = {str(name): table[name].to_numpy() for name in table.columns}
    else:
        raw = table
    return {str(name): to_jsonable(list(values)) for name, values in raw.items()}


def attributes_json(table: Any, ids: list[list[Any]]) -> list[list[dict[str, Any] | None]]:
    """The attribute rows of the results, shaped like ``ids`` (``table`` row ``q * k + j``
    describes ``ids[q][j]``), with null for empty slots."""
    columns = _columns(table)
    out: list[list[dict[str, Any] | None]] = []
    for q, row in enumerate(ids):
        k = len(row)
        out.append([None if ident is None else {name: values[q * k + j] for name, values in columns.items()}
                    for j, ident in enumerate(row)])
    return out
