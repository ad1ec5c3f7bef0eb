"""Numeric columns: integers, floats and timestamps, indexed by their sorted order.

The index is the ids of the rows that hold a value, sorted by value (``order``), and those
values in that order (``keys``). Every comparison is a contiguous slice of ``order`` found with
``np.searchsorted``: ``x < v`` is ``order[:left(v)]``, ``x == v`` is ``order[left(v):right(v)]``,
``x != v`` the two slices around it, ``between(a, b)`` is ``order[left(a):right(b)]``.

Literals are compared exactly: ``int_column < 2.5`` is ``int_column <= 2``, an integer beyond
int64 is below or above every value, a timestamp literal finer than a microsecond falls between
two stored values. Timestamps are stored as ``datetime64[us]`` (DuckDB's ``TIMESTAMP``);
finer input is floored to the microsecond, time zones are converted to UTC and dropped.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import sys
from typing import Any

import numpy as np

from ..bitmap import Bitmap
from ._optional import require
from .columns import Column, RawColumn, check_valid_array, classify, comparison_ranges, object_kinds, rows_in_runs

__all__ = ["NumericColumn", "floor_us", "to_timestamp"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_US = np.dtype("datetime64[us]")
# ticks of each datetime64 unit finer than a microsecond, per microsecond
_FINER_THAN_US = {"ns": 1_000, "ps": 1_000_000, "fs": 1_000_000_000, "as": 1_000_000_000_000}
# a UTC offset ending an ISO-8601 date and time: Z, +02, +02:00, -0130
_UTC_OFFSET = re.compile(r"T.*([Zz]|[+-]\d\d(:?\d\d)?)$")


def to_timestamp(value: Any) -> np.datetime64 | None:
    """``value`` as a ``np.datetime64`` (its own unit), or None when it is not a timestamp.

    Accepts ``np.datetime64``, ``datetime.datetime`` (aware ones are converted to UTC),
    ``datetime.date``, pandas ``Timestamp`` and ISO-8601 strings (one with a UTC offset is
    converted to UTC; note that DuckDB ignores the offset of such a string in a SQL ``where``).
    Raises ValueError for an unparseable string.
    """
    if isinstance(value, np.datetime64):
        return value
    if hasattr(value, "to_datetime64") and not isinstance(value, np.generic):  # pandas Timestamp
        if getattr(value, "tzinfo", None) is not None:
            value = value.tz_convert("UTC").tz_localize(None)
        return value.to_datetime64()
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        return np.datetime64(value, "us")
    if isinstance(value, _dt.date):
        return np.datetime64(value, "D")
    if isinstance(value, (str, np.str_)):
        text = str(value).strip().replace(" ", "T", 1)
        try:
            if _UTC_OFFSET.search(text):  # numpy warns on offsets; datetime reads them (to the microsecond)
                return to_timestamp(_dt.datetime.fromisoformat(text))
            return np.datetime64(text)
        except ValueError:
            raise ValueError(f"cannot read {value!r} as a timestamp (use ISO 8601, e.g. '2024-01-31 12:00')") from None
    return None


def floor_us(ts: np.datetime64) -> tuple[int, bool] | str:
    """``(microseconds since the epoch, floored; whether that is exact)``, or ``"below"`` /
    ``"above"`` for a timestamp outside the ``datetime64[us]`` range (about +-290,000 years),
    which numpy's unit conversion would silently wrap around."""
    if np.isnat(ts):
        raise ValueError("comparing with NaT matches nothing; use .is_null() to select missing values")
    unit, _ = np.datetime_data(ts.dtype)
    ticks = int(ts.astype(np.int64))
    if unit in _FINER_THAN_US:
        per = _FINER_THAN_US[unit]
        return ticks // per, ticks % per == 0
    us = ts.astype(_US)
    if np.isnat(us) or us.astype(ts.dtype) != ts:  # out of range: the conversion overflowed
        return "above" if ticks > 0 else "below"
    return int(us.astype(np.int64)), True


class NumericColumn(Column):
    """An int64, float64 or ``datetime64[us]`` column, indexed by sorted order."""

    kind = "numeric"
    ARROW_TYPES = {"int64": "int64", "float64": "double", "timestamp[us]": "timestamp[us]"}

    def __init__(self, name: str, values: np.ndarray, valid: np.ndarray):
        super().__init__(name, valid)
        if values.dtype not in (np.int64, np.float64, _US):
            raise TypeError(f"column {name!r}: numeric values must be int64, float64 or datetime64[us], "
                            f"got {values.dtype}")
        values = np.ascontiguousarray(values)
        values.flags.writeable = False
        self.values = values
        rows = np.flatnonzero(self.valid)
        if values.dtype == _US:
            keys = values.view(np.int64)
        else:
            keys = values
        order = rows[np.argsort(keys[rows], kind="stable")]
        self.order = order
        self.keys = np.ascontiguousarray(keys[order])  # int64 (ints, timestamps in us) or float64

    @property
    def dtype(self) -> str:
        return "timestamp[us]" if self.values.dtype == _US else str(self.values.dtype)

    @property
    def is_timestamp(self) -> bool:
        return self.values.dtype == _US

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        if self.keys.size:
            lo, hi = self.values[self.order[0]], self.values[self.order[-1]]
            out["min"], out["max"] = (str(lo), str(hi)) if self.is_timestamp else (lo.item(), hi.item())
        return out

    # ---- construction --------------------------------------------------------------------------
    @classmethod
    def from_raw(cls, raw: RawColumn) -> NumericColumn:
        name = raw.name
        if raw.offsets is not None:
            raise TypeError(f"column {name!r} holds lists; a numeric column needs one number per row")
        v = raw.values
        null = np.zeros(v.shape[0], dtype=np.bool_) if raw.null is None else np.asarray(raw.null, dtype=np.bool_)
        if v.dtype == object:
            obj_null, kinds = object_kinds(v)
            null = null | obj_null
            present = v[~null]
            if kinds <= {"int"}:
                try:
                    values = np.zeros(v.shape[0], dtype=np.int64)
                    values[~null] = np.array(present.tolist(), dtype=np.int64)
                except OverflowError:
                    raise ValueError(f"column {name!r}: integers must fit in int64") from None
            elif kinds <= {"int", "float"}:
                try:
                    values = np.full(v.shape[0], np.nan)
                    values[~null] = np.array(present.tolist(), dtype=np.float64)
                except OverflowError:
                    raise ValueError(f"column {name!r}: an integer is beyond the float64 range") from None
            elif kinds == {"timestamp"}:
                values = np.zeros(v.shape[0], dtype=_US)
                values[~null] = np.array([np.datetime64(to_timestamp(x)).astype(_US) for x in present], dtype=_US)
            else:
                raise TypeError(f"column {name!r} holds {', '.join(sorted(kinds))} values; a numeric column "
                                f"needs numbers or timestamps")
        elif v.dtype == np.bool_:
            raise TypeError(f"column {name!r} holds booleans; give it kind 'boolean'")
        elif np.issubdtype(v.dtype, np.unsignedinteger) and v.size and v.max() > _INT64_MAX:
            raise ValueError(f"column {name!r}: unsigned integers must fit in int64")
        elif np.issubdtype(v.dtype, np.integer):
            values = v.astype(np.int64)
        elif np.issubdtype(v.dtype, np.floating):
            values = v.astype(np.float64)
            null = null | np.isnan(values)
        elif np.issubdtype(v.dtype, np.datetime64):
            null = null | np.isnat(v)
            values = v.astype(_US)
        else:
            raise TypeError(f"column {name!r} holds {v.dtype} values; a numeric column needs numbers or timestamps")
        if values.dtype == np.float64:
            values = values.copy()
            values[null] = np.nan
        elif values.dtype == _US:
            values = values.copy()
            values[null] = np.datetime64("NaT")
        else:
            values = values.copy()
            values[null] = 0
        return cls(name, values, ~null)

    # ---- literals ------------------------------------------------------------------------------
    def _refuse_literal(self, value: Any, hint: str = "") -> TypeError:
        return TypeError(f"column {self.name!r} is numeric ({self.dtype}); cannot compare it with "
                         f"{type(value).__name__} {value!r}{hint}")

    def _key(self, value: Any) -> tuple[int | float, bool] | str:
        """``value`` in the sort domain of ``keys``: ``(key, exact)`` where an inexact key is the
        largest representable value below ``value``; or ``"below"`` / ``"above"`` when
        ``value`` lies outside every representable value."""
        if self.is_timestamp:
            if classify(value) in ("bool", "int", "float"):
                raise self._refuse_literal(value, "; columns of timestamps compare with a datetime, a date, "
                                                  "np.datetime64 or an ISO string")
            ts = to_timestamp(value)
            if ts is None:
                raise self._refuse_literal(value)
            return floor_us(ts)
        kind = classify(value)
        if kind not in ("int", "float"):
            raise self._refuse_literal(value)
        if kind == "float" and np.isnan(value):
            raise ValueError("comparing with NaN matches nothing; use .is_null() to select missing values")
        if self.values.dtype == np.float64:
            try:
                return float(value), True  # rounds like DuckDB's cast of the literal to DOUBLE
            except OverflowError:  # an int beyond the float range: above or below every finite value
                return (sys.float_info.max, False) if value > 0 else (-math.inf, False)
        if kind == "float" and np.isinf(value):
            return "above" if value > 0 else "below"
        key = int(value) if kind == "int" else int(np.floor(value))
        if key > _INT64_MAX:
            return "above"
        if key < _INT64_MIN:
            return "below"
        return key, kind == "int" or key == value

    def _position(self, value: Any) -> tuple[int, int]:
        """``(left, right)``: how many valid rows are ``< value`` and ``<= value``."""
        key = self._key(value)
        if key == "below":
            return 0, 0
        if key == "above":
            return int(self.keys.size), int(self.keys.size)
        key, exact = key
        if exact:
            return int(np.searchsorted(self.keys, key, "left")), int(np.searchsorted(self.keys, key, "right"))
        # value lies strictly between key and the next representable value
        pos = int(np.searchsorted(self.keys, key, "right"))
        return pos, pos

    # ---- predicates ------------------------------------------------------------------------------
    def _slices(self, *bounds: tuple[int, int]) -> Bitmap:
        return rows_in_runs(self.order, bounds, self.n)

    def compare(self, op: str, value: Any) -> Bitmap:
        left, right = self._position(value)
        return self._slices(*comparison_ranges(op, left, right, int(self.keys.size)))

    def between(self, low: Any, high: Any) -> Bitmap:
        left, _ = self._position(low)
        _, right = self._position(high)
        return self._slices((left, right))

    def isin(self, values: list[Any]) -> Bitmap:
        return self._slices(*(self._position(v) for v in values))

    # ---- data ------------------------------------------------------------------------------------
    def take(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        ok = self._valid_rows(rows)
        out = self.values[np.where(rows >= 0, rows, 0)]
        if ok.all():
            return out
        if out.dtype == np.int64:
            out = out.astype(np.float64)
        out[~ok] = np.datetime64("NaT") if self.is_timestamp else np.nan
        return out

    def to_arrow(self, rows: np.ndarray | None = None) -> Any:
        pa = require("pyarrow", "Arrow output")
        if rows is None:
            values, ok = self.values, self.valid
        else:
            rows = np.asarray(rows, dtype=np.int64)
            ok = self._valid_rows(rows)
            values = self.values[np.where(rows >= 0, rows, 0)]
        typ = pa.timestamp("us") if self.is_timestamp else pa.from_numpy_dtype(self.values.dtype)
        return pa.array(values, type=typ, mask=~ok)

    def to_npz(self) -> dict[str, np.ndarray]:
        return {"values": self.values, "valid": self.valid}

    @classmethod
    def from_npz(cls, name: str, arrays: dict[str, np.ndarray], n: int) -> NumericColumn:
        valid = check_valid_array(arrays, "valid", n, name)
        values = arrays.get("values")
        if values is None or values.shape != (n,) or values.dtype not in (np.int64, np.float64, _US):
            raise ValueError(f"column {name!r}: missing or malformed 'values' array")
        if values.dtype != np.int64 and np.any(np.isnan(values[valid])):  # NaN / NaT mark missing values
            raise ValueError(f"column {name!r}: a row marked present holds {'NaT' if values.dtype == _US else 'NaN'}")
        return cls(name, values, valid)
