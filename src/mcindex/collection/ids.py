"""External ids: the user's int64 or string keys of the rows, mapped to internal row numbers.

Internal ids are the row numbers ``0 .. n-1`` the index uses. With external ids, searches report
external ids and empty result slots hold ``-1`` (int64 ids, which must therefore be >= 0, as in
FAISS's ``IndexIDMap``) or ``None`` (string ids, returned as an object array). Lookups go
through a sorted copy of the ids (``np.searchsorted``), so mapping ``m`` ids costs
``O(m log n)`` with no Python loop for int64 ids.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._encoding import decode_strings, encode_strings
from .columns import classify, object_kinds

__all__ = ["ExternalIds"]


class ExternalIds:
    """Unique external ids, one per row: int64 (>= 0) or str."""

    def __init__(self, values: Any, n: int):
        values = self._normalise(values)
        if values.shape != (n,):
            raise ValueError(f"ids must have one entry per vector ({n}), got {values.shape[0]}")
        order = np.argsort(values, kind="stable")
        ordered = values[order]
        if n > 1:
            dup = np.flatnonzero(ordered[1:] == ordered[:-1])
            if dup.size:
                first = ordered[dup[0]]
                first = first.item() if isinstance(first, np.generic) else first
                raise ValueError(f"ids must be unique; {first!r} appears more than once")
        values.flags.writeable = False
        self.values = values
        self._order = order
        self._sorted = ordered

    @staticmethod
    def _normalise(values: Any) -> np.ndarray:
        if hasattr(values, "to_pylist"):  # a pyarrow Array / ChunkedArray
            values = values.to_pylist()
        if isinstance(values, np.ndarray):
            arr = values
        elif isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
            raise TypeError(f"ids must be a 1-D sequence of int64 or str, got {type(values).__name__}")
        else:  # element by element: np.asarray would turn [1, "a"] into strings
            arr = np.fromiter(values, dtype=object, count=len(values))
        if arr.ndim != 1:
            raise ValueError(f"ids must be 1-D, got shape {arr.shape}")
        if arr.dtype == np.bool_:
            raise TypeError("ids must be int64 or str, got bool")
        if np.issubdtype(arr.dtype, np.integer):
            if arr.size and (int(arr.min()) < 0 or (arr.dtype == np.uint64 and int(arr.max()) > 2**63 - 1)):
                raise ValueError("int ids must be >= 0 (-1 marks an empty result slot) and fit in int64")
            return arr.astype(np.int64)
        if arr.dtype.kind == "U":
            arr = arr.astype(object)
        if arr.dtype == object:
            missing, kinds = object_kinds(arr)
            if missing.any():
                first = int(np.flatnonzero(missing)[0])
                raise ValueError(f"ids must not be missing; id {first} is {arr[first]!r}")
            if kinds <= {"str"}:
                return np.fromiter(map(str, arr.tolist()), dtype=object, count=arr.size)
            if kinds <= {"int"}:
                try:
                    return ExternalIds._normalise(np.array(arr.tolist(), dtype=np.int64))
                except OverflowError:
                    raise ValueError("int ids must be >= 0 (-1 marks an empty result slot) and fit in int64") from None
            raise TypeError(f"ids must all be int64 or all str, got {', '.join(sorted(kinds))}")
        raise TypeError(f"ids must be int64 or str, got dtype {arr.dtype}")

    @property
    def kind(self) -> str:
        """``"int64"`` or ``"str"``."""
        return "int64" if self.values.dtype == np.int64 else "str"

    def __len__(self) -> int:
        return int(self.values.size)

    def to_external(self, internal: np.ndarray) -> np.ndarray:
        """External ids of internal ``ids`` (any shape); ``-1`` becomes ``-1`` / ``None``."""
        internal = np.asarray(internal, dtype=np.int64)
        hit = internal >= 0
        if self.kind == "int64":
            out = np.full(internal.shape, -1, dtype=np.int64)
        else:
            out = np.full(internal.shape, None, dtype=object)
        out[hit] = self.values[internal[hit]]
        return out

    def to_internal(self, external: Any) -> np.ndarray:
        """Internal row numbers of external ids (1-D); ``KeyError`` naming the first unknown id."""
        ext = np.asarray(external, dtype=np.int64 if self.kind == "int64" else object).ravel()
        if self.kind == "str":
            if any(classify(v) != "str" for v in ext):
                raise TypeError("these ids are strings")
        pos = np.searchsorted(self._sorted, ext)
        pos_c = np.minimum(pos, max(self._sorted.size - 1, 0))
        found = (pos < self._sorted.size) & (self._sorted[pos_c] == ext) if self._sorted.size else \
            np.zeros(ext.size, np.bool_)
        if not np.all(found):
            bad = ext[np.flatnonzero(~found)[0]]
            raise KeyError(f"unknown id {bad.item() if isinstance(bad, np.generic) else bad!r}")
        return self._order[pos_c].astype(np.int64)

    # ---- persistence ----------------------------------------------------------------------------
    def to_npz(self) -> dict[str, np.ndarray]:
        if self.kind == "int64":
            return {"ids": self.values}
        blob, offsets = encode_strings(self.values)
        return {"ids_blob": blob, "ids_offsets": offsets}

    @classmethod
    def from_npz(cls, arrays: dict[str, np.ndarray], n: int) -> ExternalIds:
        if "ids" in arrays:
            ids = arrays["ids"]
            if ids.dtype != np.int64 or ids.ndim != 1:
                raise ValueError(f"ids: expected a 1-D int64 array, got {ids.dtype} of shape {ids.shape}")
            return cls(ids, n)
        if "ids_blob" in arrays and "ids_offsets" in arrays:
            return cls(decode_strings(arrays["ids_blob"], arrays["ids_offsets"], "ids"), n)
        raise ValueError("ids file holds no ids")
