"""Categorical and boolean columns: one label per row, indexed by rows grouped per label.

Labels (strings or integers) are kept sorted and each row stores the code of its label
(``-1`` when missing). The index is the valid rows ordered by code, with ``offsets[c]`` where
code ``c`` starts (a CSR of postings). Because codes follow the label order, ``x == v`` is one
slice, ``x.isin(vs)`` one slice per label, and ``x < v`` / ``between`` (strings compare by code
point, like DuckDB's default binary collation) one contiguous slice too.

A boolean column is a categorical column with the labels False and True; it supports ``==``,
``!=``, ``isin`` and use as a condition on its own (``col("in_stock") & ...``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..bitmap import Bitmap
from ._encoding import decode_strings, encode_strings
from ._optional import require
from ._factorize import factorize
from .columns import (Column, RawColumn, check_codes, check_labels_sorted, classify, comparison_ranges, npz_array,
                      object_kinds, rows_in_runs)

__all__ = ["BooleanColumn", "CategoricalColumn"]


class CategoricalColumn(Column):
    """One label per row: strings (an object array of ``str``) or int64 codes chosen by the user."""

    kind = "categorical"
    ARROW_TYPES = {"str": "string", "int64": "int64"}

    def __init__(self, name: str, labels: np.ndarray, codes: np.ndarray):
        codes = np.ascontiguousarray(codes, dtype=np.int32)
        super().__init__(name, codes >= 0)
        if codes.size and int(codes.max(initial=-1)) >= labels.size:
            raise ValueError(f"column {name!r}: a label code is out of range")
        codes.flags.writeable = False
        self.labels = labels
        self.codes = codes
        rows = np.flatnonzero(self.valid)
        self.order = rows[np.argsort(codes[rows], kind="stable")]
        self.offsets = np.searchsorted(codes[self.order], np.arange(labels.size + 1), "left").astype(np.int64)

    @property
    def dtype(self) -> str:
        return "int64" if self.labels.dtype == np.int64 else "str"

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["labels"] = int(self.labels.size)
        return out

    def label_counts(self) -> dict[Any, int]:
        """Rows per label."""
        return {lab.item() if isinstance(lab, np.generic) else lab: int(c)
                for lab, c in zip(self.labels, np.diff(self.offsets))}

    # ---- construction --------------------------------------------------------------------------
    @classmethod
    def from_raw(cls, raw: RawColumn) -> CategoricalColumn:
        name = raw.name
        if raw.offsets is not None:
            raise TypeError(f"column {name!r} holds lists; give it kind 'multi_label'")
        v = raw.values
        null = np.zeros(v.shape[0], dtype=np.bool_) if raw.null is None else np.asarray(raw.null, dtype=np.bool_)
        if v.dtype.kind == "U":
            present = v[~null]
        elif v.dtype == object:
            obj_null, kinds = object_kinds(v)
            null = null | obj_null
            present = v[~null]
            if kinds and kinds <= {"int"}:
                present = np.array(present.tolist(), dtype=np.int64)
            elif not kinds <= {"str"}:
                raise TypeError(f"column {name!r} holds {', '.join(sorted(kinds))} values; a categorical column "
                                f"needs strings or integers")
        elif v.dtype == np.bool_:
            raise TypeError(f"column {name!r} holds booleans; give it kind 'boolean'")
        elif np.issubdtype(v.dtype, np.integer):
            present = v[~null]
            if present.dtype == np.uint64 and present.size and present.max() > np.iinfo(np.int64).max:
                raise ValueError(f"column {name!r}: integer labels must fit in int64")
            present = present.astype(np.int64)
        elif np.issubdtype(v.dtype, np.floating):
            null = null | np.isnan(v)
            present = v[~null]
            if np.any(present != np.round(present)):
                raise TypeError(f"column {name!r} holds non-integral floats; a categorical column needs strings "
                                f"or integers")
            if present.size and (present.min() < -(2.0**63) or present.max() >= 2.0**63):
                raise ValueError(f"column {name!r}: integer labels must fit in int64")
            present = present.astype(np.int64)
        else:
            raise TypeError(f"column {name!r} holds {v.dtype} values; a categorical column needs strings or integers")
        labels, inverse = factorize(present)
        if labels.dtype != object:
            labels = labels.astype(np.int64)
        codes = np.full(v.shape[0], -1, dtype=np.int32)
        codes[~null] = inverse
        return cls(name, labels, codes)

    # ---- literals ----------------------------------------------------------------------------
    def _check_literal(self, value: Any) -> Any:
        want = "str" if self.dtype == "str" else "int"
        if classify(value) != want:
            noun = "strings" if want == "str" else "integers"
            raise TypeError(f"column {self.name!r} is categorical with {noun} as labels; cannot compare it with "
                            f"{type(value).__name__} {value!r}")
        return str(value) if want == "str" else int(value)

    def _code_range(self, value: Any) -> tuple[int, int]:
        """``(left, right)`` in code space: codes of labels ``< value`` and ``<= value``."""
        value = self._check_literal(value)
        return (int(np.searchsorted(self.labels, value, "left")),
                int(np.searchsorted(self.labels, value, "right")))

    def _codes(self, *ranges: tuple[int, int]) -> Bitmap:
        # Code ranges to row runs: the rows of codes [a, b) are order[offsets[a]:offsets[b]].
        return rows_in_runs(self.order, [(self.offsets[a], self.offsets[b]) for a, b in ranges], self.n)

    # ---- predicates --------------------------------------------------------------------------
    def compare(self, op: str, value: Any) -> Bitmap:
        left, right = self._code_range(value)
        return self._codes(*comparison_ranges(op, left, right, int(self.labels.size)))

    def between(self, low: Any, high: Any) -> Bitmap:
        return self._codes((self._code_range(low)[0], self._code_range(high)[1]))

    def isin(self, values: list[Any]) -> Bitmap:
        return self._codes(*(self._code_range(v) for v in values))

    # ---- data ------------------------------------------------------------------------------------
    def _label_objects(self) -> np.ndarray:
        if self.labels.dtype == object:
            return self.labels
        out = np.empty(self.labels.size, dtype=object)
        out[:] = self.labels.tolist()
        return out

    def take(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        ok = self._valid_rows(rows)
        out = np.full(rows.shape, None, dtype=object)
        out[ok] = self._label_objects()[self.codes[rows[ok]]]
        return out

    def to_arrow(self, rows: np.ndarray | None = None) -> Any:
        pa = require("pyarrow", "Arrow output")
        rows = np.arange(self.n, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        ok = self._valid_rows(rows)
        codes = self.codes[np.where(ok, rows, 0)] if rows.size else np.empty(0, np.int32)
        if self.dtype == "str":
            values = self.labels[np.where(ok, codes, 0)] if self.labels.size else np.full(rows.size, "", object)
            return pa.array(values, type=pa.string(), mask=~ok)
        values = self.labels[np.where(ok, codes, 0)] if self.labels.size else np.zeros(rows.size, np.int64)
        return pa.array(values, type=pa.int64(), mask=~ok)

    def to_npz(self) -> dict[str, np.ndarray]:
        if self.dtype == "str":
            blob, offsets = encode_strings(self.labels)
            return {"codes": self.codes, "labels_blob": blob, "labels_offsets": offsets}
        return {"codes": self.codes, "labels": self.labels}

    @classmethod
    def from_npz(cls, name: str, arrays: dict[str, np.ndarray], n: int) -> CategoricalColumn:
        codes = npz_array(arrays, "codes", name, np.int32, n)
        if "labels_blob" in arrays and "labels_offsets" in arrays:
            labels = decode_strings(arrays["labels_blob"], arrays["labels_offsets"], f"column {name!r} labels")
        elif "labels" in arrays:
            labels = npz_array(arrays, "labels", name, np.int64)
        else:
            raise ValueError(f"column {name!r}: missing labels")
        check_labels_sorted(labels, name)
        check_codes(codes, -1, labels.size, name)  # -1: missing
        return cls(name, labels, codes)


class BooleanColumn(CategoricalColumn):
    """True / False per row (labels ``[False, True]``)."""

    kind = "boolean"
    ARROW_TYPES = {"bool": "bool"}

    def __init__(self, name: str, codes: np.ndarray):
        super().__init__(name, np.array([False, True]), codes)

    @property
    def dtype(self) -> str:
        return "bool"

    @classmethod
    def from_raw(cls, raw: RawColumn) -> BooleanColumn:
        name = raw.name
        if raw.offsets is not None:
            raise TypeError(f"column {name!r} holds lists; a boolean column needs True / False per row")
        v = raw.values
        null = np.zeros(v.shape[0], dtype=np.bool_) if raw.null is None else np.asarray(raw.null, dtype=np.bool_)
        if v.dtype == object:
            obj_null, kinds = object_kinds(v)
            null = null | obj_null
            if not kinds <= {"bool"}:
                raise TypeError(f"column {name!r} holds {', '.join(sorted(kinds))} values; a boolean column needs "
                                f"True / False")
            values = np.zeros(v.shape[0], dtype=np.bool_)
            values[~null] = np.array(v[~null].tolist(), dtype=np.bool_)
        elif v.dtype == np.bool_:
            values = v
        else:
            raise TypeError(f"column {name!r} holds {v.dtype} values; a boolean column needs True / False")
        codes = np.where(null, -1, values.astype(np.int32)).astype(np.int32)
        return cls(name, codes)

    def _check_literal(self, value: Any) -> Any:
        if classify(value) != "bool":
            raise TypeError(f"column {self.name!r} is boolean; compare it with True or False, not "
                            f"{type(value).__name__} {value!r}")
        return bool(value)

    def compare(self, op: str, value: Any) -> Bitmap:
        if op not in ("eq", "ne"):
            raise TypeError(f"column {self.name!r} is boolean; it supports == and != (and isin), not ordering")
        return super().compare(op, value)

    def between(self, low: Any, high: Any) -> Bitmap:
        raise self._refuse(".between()", "numeric and categorical")

    def truth(self) -> Bitmap:
        return self._codes((1, 2))

    def take(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        ok = self._valid_rows(rows)
        values = self.codes[np.where(ok, rows, 0)] == 1 if rows.size else np.zeros(0, np.bool_)
        if ok.all():
            return values
        out = np.full(rows.shape, None, dtype=object)
        out[ok] = values[ok]
        return out

    def to_arrow(self, rows: np.ndarray | None = None) -> Any:
        pa = require("pyarrow", "Arrow output")
        rows = np.arange(self.n, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        ok = self._valid_rows(rows)
        values = self.codes[np.where(ok, rows, 0)] == 1 if rows.size else np.zeros(0, np.bool_)
        return pa.array(values, type=pa.bool_(), mask=~ok)

    def to_npz(self) -> dict[str, np.ndarray]:
        return {"codes": self.codes}

    @classmethod
    def from_npz(cls, name: str, arrays: dict[str, np.ndarray], n: int) -> BooleanColumn:
        codes = npz_array(arrays, "codes", name, np.int32, n)
        check_codes(codes, -1, 2, name)  # -1 missing, 0 False, 1 True
        return cls(name, codes)
