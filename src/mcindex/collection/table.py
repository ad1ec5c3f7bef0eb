"""The attribute table in and out: dicts of arrays or lists, pandas DataFrames, Arrow tables.

:func:`read_attributes` turns what the user passes into :class:`~.columns.RawColumn` objects
(pandas and pyarrow are only touched when the input is theirs, so neither is needed otherwise);
:func:`build_columns` decides each column's kind and builds its index; :func:`make_table` returns
rows in the format asked for.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._optional import available, require
from .columns import KINDS, Column, RawColumn
from .kinds import build_column

__all__ = ["TABLE_FORMATS", "build_columns", "make_table", "read_attributes", "resolve_format"]

TABLE_FORMATS = ("arrow", "pandas", "numpy")

#: Column names the collection keeps for itself (the row number in SQL).
RESERVED = ("__mcindex_row__",)


def _is_pandas_frame(x: Any) -> bool:
    return type(x).__module__.startswith("pandas") and hasattr(x, "columns") and hasattr(x, "dtypes")


def _is_pandas_series(x: Any) -> bool:
    return type(x).__module__.startswith("pandas") and hasattr(x, "dtype") and hasattr(x, "isna")


def _is_arrow(x: Any) -> bool:
    return type(x).__module__.startswith("pyarrow")


# ---- input --------------------------------------------------------------------------------------
def _raw_from_arrow(name: str, arr: Any) -> RawColumn:
    pa = require("pyarrow", "reading Arrow data")
    pc = require("pyarrow.compute", "reading Arrow data")
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    t = arr.type
    null = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)
    if pa.types.is_boolean(t):
        return RawColumn(name, np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.bool_), null)
    if pa.types.is_integer(t):
        return RawColumn(name, arr.fill_null(0).to_numpy(zero_copy_only=False), null)
    if pa.types.is_floating(t):
        return RawColumn(name, arr.cast(pa.float64()).fill_null(float("nan")).to_numpy(zero_copy_only=False), null)
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        # Arrow keeps time-zoned timestamps in UTC already; the zone is dropped.
        target = pa.timestamp("us", tz=t.tz) if pa.types.is_timestamp(t) else pa.timestamp("us")
        us = pc.cast(arr, target, safe=False).cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        return RawColumn(name, us.view("datetime64[us]"), null)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        values = arr.to_numpy(zero_copy_only=False).astype(object)
        return RawColumn(name, values, null)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        lengths = pc.list_value_length(arr).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        offsets = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = pc.list_flatten(arr)
        items = flat.to_numpy(zero_copy_only=False)
        if flat.null_count:
            items = items.astype(object)
            items[np.asarray(flat.is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)] = None
        return RawColumn(name, np.asarray(items), null, offsets)
    raise TypeError(f"column {name!r}: unsupported Arrow type {t}")


def _raw_from_series(name: str, s: Any) -> RawColumn:
    pd = sys.modules["pandas"]
    dtype = s.dtype
    null = np.asarray(s.isna().to_numpy(), dtype=np.bool_)
    api = pd.api.types
    if isinstance(dtype, pd.CategoricalDtype):
        values = s.astype(object).to_numpy(dtype=object)
    elif api.is_bool_dtype(dtype):
        values = s.to_numpy(dtype=np.bool_, na_value=False)
    elif api.is_integer_dtype(dtype):
        values = s.to_numpy(dtype=np.uint64 if api.is_unsigned_integer_dtype(dtype) else np.int64, na_value=0)
    elif api.is_float_dtype(dtype):
        values = s.to_numpy(dtype=np.float64, na_value=np.nan)
    elif api.is_datetime64_any_dtype(dtype):
        if getattr(dtype, "tz", None) is not None:
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        values = s.to_numpy(dtype="datetime64[us]")
    else:
        values = s.to_numpy(dtype=object)
    if values.dtype == object:
        values = values.copy()
        values[null] = None
    return RawColumn(name, values, null)


def _raw_from_sequence(name: str, x: Any) -> RawColumn:
    if isinstance(x, np.ndarray):
        if x.ndim != 1:
            raise ValueError(f"column {name!r} must be 1-D (one value per row), got shape {x.shape}")
        if x.dtype.kind == "S":
            raise TypeError(f"column {name!r} holds bytes; decode them to str first")
        return RawColumn(name, x)
    if isinstance(x, (str, bytes)) or not hasattr(x, "__len__"):
        raise TypeError(f"column {name!r} must be a sequence with one value per row, got {type(x).__name__}")
    # Element by element into an object array: np.asarray would silently turn [1, "a"] into strings.
    values = np.fromiter(x, dtype=object, count=len(x))
    return RawColumn(name, values)


def read_attributes(attributes: Any) -> list[RawColumn]:
    """The columns of a dict of arrays / lists / Series / Arrow arrays, a pandas DataFrame or a
    pyarrow Table (or RecordBatch), in order."""
    if attributes is None:
        return []
    if _is_pandas_frame(attributes):
        out = []
        for name in attributes.columns:
            if not isinstance(name, str):
                raise TypeError(f"column names must be strings, got {type(name).__name__} {name!r}")
            out.append(_raw_from_series(name, attributes[name]))
        return out
    if _is_arrow(attributes) and hasattr(attributes, "column_names"):
        return [_raw_from_arrow(name, attributes.column(name)) for name in attributes.column_names]
    if not isinstance(attributes, Mapping):
        raise TypeError("attributes must be a dict of columns, a pandas DataFrame or a pyarrow Table, got "
                        f"{type(attributes).__name__}")
    out = []
    for name, values in attributes.items():
        if not isinstance(name, str):
            raise TypeError(f"column names must be strings, got {type(name).__name__} {name!r}")
        if _is_pandas_series(values):
            out.append(_raw_from_series(name, values))
        elif _is_arrow(values):
            out.append(_raw_from_arrow(name, values))
        else:
            out.append(_raw_from_sequence(name, values))
    return out


def build_columns(raw: list[RawColumn], n: int, kinds: Mapping[str, str] | None = None) -> dict[str, Column]:
    """Each raw column built with its kind (``kinds[name]``, else inferred) and checked to have
    ``n`` rows.

    Raises:
        ValueError: a wrong row count, a duplicate or reserved name, an unknown kind, or
            ``kinds`` naming a column that does not exist.
        TypeError: values that do not fit the kind.
    """
    kinds = dict(kinds or {})
    names = [r.name for r in raw]
    unknown = sorted(set(kinds) - set(names))
    if unknown:
        raise ValueError(f"kinds= names unknown column(s) {', '.join(map(repr, unknown))}; "
                         f"columns: {', '.join(names) or '(none)'}")
    for name, kind in kinds.items():
        if kind not in KINDS:
            raise ValueError(f"column {name!r}: unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    out: dict[str, Column] = {}
    for r in raw:
        if not r.name:
            raise ValueError("column names must be non-empty")
        if r.name in RESERVED:
            raise ValueError(f"column name {r.name!r} is reserved")
        if r.name in out:
            raise ValueError(f"duplicate column {r.name!r}")
        if len(r) != n:
            raise ValueError(f"column {r.name!r} has {len(r)} rows but there are {n} vectors")
        out[r.name] = build_column(r, kinds.get(r.name))
    return out


# ---- output -----------------------------------------------------------------------------------
def resolve_format(fmt: Any) -> str:
    """``True``/``"auto"`` -> arrow if pyarrow is installed, else pandas if it is, else numpy."""
    if fmt is True or fmt == "auto":
        if available("pyarrow"):
            return "arrow"
        return "pandas" if available("pandas") else "numpy"
    if fmt not in TABLE_FORMATS:
        raise ValueError(f"table format must be True, 'auto' or one of {', '.join(TABLE_FORMATS)}, got {fmt!r}")
    return str(fmt)


def make_table(columns: Mapping[str, Column], rows: np.ndarray, fmt: str) -> Any:
    """The attributes of ``rows`` (int64; ``-1`` gives an all-missing row) as a pyarrow Table,
    a pandas DataFrame or a dict of numpy arrays (see :meth:`Column.take` for their dtypes)."""
    rows = np.asarray(rows, dtype=np.int64)
    if fmt == "arrow":
        pa = require("pyarrow", "attributes as an Arrow table")
        return pa.table({name: c.to_arrow(rows) for name, c in columns.items()})
    data = {name: c.take(rows) for name, c in columns.items()}
    if fmt == "pandas":
        pd = require("pandas", "attributes as a pandas DataFrame")
        return pd.DataFrame(data, index=pd.RangeIndex(rows.size))
    return data
