"""Reading vectors and attribute tables from files, for ``mcindex build`` and ``mcindex search``.

Vectors: ``.npy``, ``.fvecs``, ``.bvecs``, ``.hdf5`` / ``.h5`` (ann-benchmarks layout; ``train``
for a build, ``test`` for queries), and ``.parquet`` with a list or fixed-size-list column of
numbers (``--vector-column``; the other columns of that file can serve as the attributes).

Attributes: ``.parquet``, ``.csv`` and ``.jsonl`` / ``.ndjson`` (one JSON object per line),
read with pyarrow (or pandas for CSV / JSON lines when pyarrow is missing). Lists come natively
from Parquet and JSON lines; in a CSV a column given kind ``multi_label`` is a string split on
a separator (``;`` by default).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import datasets
from .._files import check_regular
from ._optional import available, require
from .columns import is_missing

__all__ = ["ATTRIBUTE_EXTENSIONS", "VECTOR_EXTENSIONS", "read_attribute_file", "read_vector_file", "split_lists"]

VECTOR_EXTENSIONS = (".npy", ".fvecs", ".bvecs", ".hdf5", ".h5", ".parquet")
ATTRIBUTE_EXTENSIONS = (".parquet", ".csv", ".jsonl", ".ndjson")
DEFAULT_VECTOR_COLUMNS = ("vector", "embedding", "emb", "vectors")


def _check_exists(path: str) -> None:
    """A regular file (a FIFO or a device would make the readers below wait forever)."""
    check_regular(path)


def _vectors_from_arrow(path: str, column: Any, name: str) -> np.ndarray:
    pa = require("pyarrow", f"reading vectors from {path}")
    pc = require("pyarrow.compute", f"reading vectors from {path}")
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type) or pa.types.is_fixed_size_list(arr.type)):
        raise ValueError(f"{path}: column {name!r} is {arr.type}, not a list of numbers")
    item = arr.type.value_type
    if not (pa.types.is_floating(item) or pa.types.is_integer(item)):
        raise ValueError(f"{path}: column {name!r} must hold numbers, got lists of {item}")
    if arr.null_count:
        raise ValueError(f"{path}: column {name!r} has {arr.null_count} missing vector(s)")
    lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False)
    if lengths.size == 0:
        raise ValueError(f"{path}: no vectors")
    if np.any(lengths != lengths[0]):
        bad = int(np.flatnonzero(lengths != lengths[0])[0])
        raise ValueError(f"{path}: vector {bad} has dimension {lengths[bad]} but vector 0 has {lengths[0]}")
    flat = pc.list_flatten(arr)
    if flat.null_count:
        raise ValueError(f"{path}: column {name!r} has missing numbers inside its vectors")
    return flat.to_numpy(zero_copy_only=False).astype(np.float32).reshape(len(arr), int(lengths[0]))


def read_vector_file(path: str | os.PathLike[str], *, vector_column: str | None = None, key: str = "train"
                     ) -> tuple[np.ndarray, Any]:
    """``(vectors, rest)``: the vectors of a file and, for Parquet, the table of its other
    columns (None for the other formats). ``key`` picks the HDF5 dataset ("train" / "test").

    Raises FileNotFoundError for a missing file, ValueError for a malformed one or an unknown
    extension, ImportError when pyarrow / h5py is needed and missing.
    """
    text = os.fspath(path)
    _check_exists(text)
    suffix = Path(text).suffix.lower()
    if suffix == ".parquet":
        pq = require("pyarrow.parquet", f"reading {text}")
        try:
            table = pq.read_table(text)
        except Exception as exc:  # pyarrow raises its own error types for a bad file
            raise ValueError(f"{text}: not a readable Parquet file: {exc}") from None
        names = table.column_names
        name = vector_column
        if name is None:
            name = next((c for c in DEFAULT_VECTOR_COLUMNS if c in names), None)
        if name is None or name not in names:
            pa = require("pyarrow", f"reading {text}")
            lists = [c for c in names if pa.types.is_list(table.schema.field(c).type)
                     or pa.types.is_fixed_size_list(table.schema.field(c).type)
                     or pa.types.is_large_list(table.schema.field(c).type)]
            what = f"no column {name!r}" if name else f"no column named {', '.join(DEFAULT_VECTOR_COLUMNS)}"
            raise ValueError(f"{text}: {what}; choose the vector column with --vector-column "
                             f"(list columns: {', '.join(lists) or 'none'})")
        vectors = _vectors_from_arrow(text, table.column(name), name)
        return vectors, table.drop_columns([name])
    if suffix in VECTOR_EXTENSIONS:
        return datasets.read_vectors(text, key=key), None
    raise ValueError(f"{text}: unknown vector file extension {suffix!r}; supported: {', '.join(VECTOR_EXTENSIONS)}")


def read_attribute_file(path: str | os.PathLike[str]) -> Any:
    """A pyarrow Table (or a pandas DataFrame without pyarrow) of a Parquet, CSV or JSON-lines file."""
    text = os.fspath(path)
    _check_exists(text)
    suffix = Path(text).suffix.lower()
    if suffix not in ATTRIBUTE_EXTENSIONS:
        raise ValueError(f"{text}: unknown attribute file extension {suffix!r}; supported: "
                         f"{', '.join(ATTRIBUTE_EXTENSIONS)}")
    try:
        if available("pyarrow"):
            if suffix == ".parquet":
                return require("pyarrow.parquet", f"reading {text}").read_table(text)
            if suffix == ".csv":
                return require("pyarrow.csv", f"reading {text}").read_csv(text)
            return require("pyarrow.json", f"reading {text}").read_json(text)
        pd = require("pandas", f"reading {text} (or install pyarrow)")
        if suffix == ".parquet":
            require("pyarrow", f"reading {text}")
        if suffix == ".csv":
            return pd.read_csv(text)
        return pd.read_json(text, lines=True)
    except (ImportError, FileNotFoundError):
        raise
    except Exception as exc:  # parser errors of pyarrow / pandas
        raise ValueError(f"{text}: cannot read it as {suffix[1:]}: {' '.join(str(exc).split())}") from None


def split_lists(table: Any, names: Sequence[str], separator: str) -> Any:
    """``table`` as a dict of columns, with the string columns ``names`` split on ``separator``
    into lists of labels (blank labels dropped, spaces stripped; a missing string stays
    missing). Columns that are not strings (e.g. lists already) are left as they are."""
    if not names:
        return table
    arrow = hasattr(table, "column_names")
    out: dict[str, Any] = {}
    for name in (table.column_names if arrow else list(table.columns)):
        column = table.column(name) if arrow else table[name]
        if name in names:
            values = column.to_pylist() if arrow else list(column)
            if all(is_missing(v) or isinstance(v, str) for v in values):
                out[name] = [None if is_missing(v) else [t.strip() for t in v.split(separator) if t.strip()]
                             for v in values]
                continue
        out[name] = column
    return out
