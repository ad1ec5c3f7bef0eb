"""Column kinds of a collection's attribute table, and what every kind shares.

Each attribute column is one :class:`Column` holding its values and the index that predicates
read, both built once when the collection is built (or loaded):

==============  ========================================  =============================================
kind            values                                    index, and what a predicate costs
==============  ========================================  =============================================
``numeric``     int64, float64 or timestamps              the valid rows sorted by value: a comparison or
                (``datetime64[us]``)                      range is two ``np.searchsorted`` and one slice
``categorical`` one label per row (strings or ints)       rows grouped by label (CSR postings): one slice
                                                          per label asked for
``boolean``     True / False                              as categorical, with the two labels
``multi_label`` a list of string labels per row           postings per label (sorted row ids): union or
                                                          intersection of the labels asked for
``keywords``    a text per row, matched by its words      as multi_label, over the lower-cased words
==============  ========================================  =============================================

A predicate compiles to a :class:`~mcindex.Bitmap` in time proportional to the number of
matching rows (or to the ``n / 64`` words of a bitmap for ``&``, ``|``, ``~``), with no Python
loop over rows.

Missing values (``None``, ``NaN``, ``NaT``, a null in pandas or Arrow) are kept as a per-column
mask. A missing value never satisfies a comparison, membership or containment test, nor its
negation (SQL three-valued logic, see :mod:`mcindex.collection.predicates`); only
``is_null()`` selects it.
"""

from __future__ import annotations

import datetime as _dt
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..bitmap import Bitmap
from ._factorize import fast_object_kinds

__all__ = [
    "KINDS",
    "Column",
    "RawColumn",
    "ids_to_bitmap",
    "infer_kind",
]

KINDS = ("numeric", "categorical", "boolean", "multi_label", "keywords")
"""Every column kind, in the order :func:`infer_kind` documents them."""

#: Comparison operators as the predicate tree names them, with their SQL spelling.
OPS = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "=", "ne": "!="}


def comparison_ranges(op: str, left: int, right: int, m: int) -> list[tuple[int, int]]:
    """The runs of a sorted order that ``op`` selects, given how many entries sort ``< value``
    (``left``) and ``<= value`` (``right``) out of ``m``. Numeric and categorical columns share it."""
    return {
        "lt": [(0, left)], "le": [(0, right)], "gt": [(right, m)], "ge": [(left, m)],
        "eq": [(left, right)], "ne": [(0, left), (right, m)],
    }[op]


def rows_in_runs(order: np.ndarray, runs: Any, n: int) -> Bitmap:
    """A Bitmap of the row ids ``order[a:b]`` for each run ``(a, b)`` (empty runs skipped)."""
    parts = [order[a:b] for a, b in runs if b > a]
    ids = parts[0] if len(parts) == 1 else (np.concatenate(parts) if parts else np.empty(0, np.int64))
    return ids_to_bitmap(ids, n)


def ids_to_bitmap(ids: np.ndarray, n: int) -> Bitmap:
    """A Bitmap of ``n`` ids with ``ids`` set (any order, duplicates allowed, no range check).

    Few ids are OR-ed into zeroed words (time proportional to the ids plus the ``n / 64``
    words); more go through a bool mask, which numpy packs faster than it scatters bits.
    """
    nwords = (n + 63) // 64
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size <= nwords:
        words = np.zeros(nwords, dtype=np.uint64)
        if ids.size:
            np.bitwise_or.at(words, ids >> 6, np.left_shift(np.uint64(1), (ids & 63).astype(np.uint64)))
        return Bitmap(words, n)
    mask = np.zeros(n, dtype=np.bool_)
    mask[ids] = True
    return Bitmap.from_mask(mask)


# ---- raw input, as the table adapters hand it over -------------------------------------------
@dataclass
class RawColumn:
    """One attribute column as read from the user's table, before its kind is decided.

    ``values`` is 1-D: a typed numpy array (bool, integer, float, ``datetime64``, ``str``), with
    ``null`` marking missing rows, or an object array of Python values where ``None`` / NaN /
    NaT mark them. For a list column (Arrow ``list<string>``), ``values`` holds the flattened
    items and ``offsets`` (int64, ``n + 1``) delimits each row's items; ``null`` marks null lists.
    """

    name: str
    values: np.ndarray
    null: np.ndarray | None = None
    offsets: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.offsets.size - 1) if self.offsets is not None else int(self.values.shape[0])


def is_missing(v: Any) -> bool:
    """Whether one Python value is a missing value: None, NaN, NaT or pandas' NA."""
    if v is None:
        return True
    if isinstance(v, (str, bytes, list, tuple, np.ndarray, dict, set, frozenset)):
        return False
    try:
        return bool(v != v)  # NaN, NaT
    except (TypeError, ValueError):  # pandas.NA refuses bool()
        return type(v).__name__ in ("NAType", "NaTType")


_EXACT_KINDS = {bool: "bool", int: "int", float: "float", str: "str", list: "list", tuple: "list"}


def classify(v: Any) -> str:
    """The kind of one non-missing Python value: bool, int, float, str, timestamp, list or other."""
    kind = _EXACT_KINDS.get(type(v))
    if kind is not None:
        return kind
    if isinstance(v, (bool, np.bool_)):
        return "bool"
    if isinstance(v, np.timedelta64):  # a subclass of np.signedinteger, but not a number to compare with
        return "other"
    if isinstance(v, (int, np.integer)):
        return "int"
    if isinstance(v, (float, np.floating)):
        return "float"
    if isinstance(v, (str, np.str_)):
        return "str"
    if isinstance(v, (_dt.datetime, _dt.date, np.datetime64)) or hasattr(v, "to_datetime64"):
        return "timestamp"
    if isinstance(v, (list, tuple, np.ndarray)):
        return "list"
    return "other"


def object_kinds(values: np.ndarray) -> tuple[np.ndarray, set[str]]:
    """For an object array: the missing-value mask and the set of kinds of the other values.

    Plain Python values (str, int, float, bool, list, None) are sorted out by C-level passes
    (:func:`._factorize.fast_object_kinds`); anything else (numpy scalars, timestamps, pandas'
    NA, ...) one value at a time."""
    fast = fast_object_kinds(values)
    if fast is not None:
        return fast
    null = np.zeros(values.shape[0], dtype=np.bool_)
    kinds: set[str] = set()
    for i, v in enumerate(values.tolist()):
        kind = _EXACT_KINDS.get(type(v))
        if kind is None:
            if is_missing(v):
                null[i] = True
                continue
            kind = classify(v)
        elif kind == "float" and v != v:  # NaN
            null[i] = True
            continue
        kinds.add(kind)
    return null, kinds


def infer_kind(raw: RawColumn) -> str:
    """The kind a column gets when ``kinds=`` does not name it.

    bool -> ``boolean``; integers, floats and timestamps (``datetime64``, ``datetime``,
    ``date``, pandas ``Timestamp``) -> ``numeric``; strings -> ``categorical``; lists of
    strings -> ``multi_label``. Text meant to be matched word by word (``keywords``), and
    integer codes meant as labels (``categorical``), must be asked for with ``kinds=``.

    Raises:
        TypeError: mixed or unsupported values, naming the column.
        ValueError: every value is missing (the kind cannot be told; pass ``kinds=``).
    """
    if raw.offsets is not None:
        return "multi_label"
    v = raw.values
    if v.dtype == np.bool_:
        return "boolean"
    if np.issubdtype(v.dtype, np.integer) or np.issubdtype(v.dtype, np.floating) \
            or np.issubdtype(v.dtype, np.datetime64):
        return "numeric"
    if v.dtype.kind == "U":
        return "categorical"
    if v.dtype != object:
        raise TypeError(f"column {raw.name!r}: unsupported dtype {v.dtype}")
    _, kinds = object_kinds(v)
    if not kinds:
        raise ValueError(f"column {raw.name!r} holds only missing values, so its kind cannot be inferred; "
                         f"name it with kinds={{{raw.name!r}: ...}} (one of {', '.join(KINDS)})")
    if kinds == {"bool"}:
        return "boolean"
    if kinds <= {"int", "float"} or kinds == {"timestamp"}:
        return "numeric"
    if kinds == {"str"}:
        return "categorical"
    if kinds == {"list"}:
        return "multi_label"
    raise TypeError(f"column {raw.name!r} mixes values of kinds {', '.join(sorted(kinds))}; "
                    f"give it one type (or a kind with kinds=)")


# ---- the column ---------------------------------------------------------------------------------
class Column(ABC):
    """One attribute column: values, missing-value mask and the index predicates read.

    Subclasses implement the predicates their kind supports; the others raise ``TypeError``
    naming the column, its kind and what would work.
    """

    kind: ClassVar[str]
    #: Each dtype of the kind (see :attr:`dtype`) and the Arrow type it is saved as
    #: (``str(pyarrow type)``); a saved file holding any other type is refused.
    ARROW_TYPES: ClassVar[dict[str, str]]

    def __init__(self, name: str, valid: np.ndarray):
        valid = np.ascontiguousarray(valid, dtype=np.bool_)
        valid.flags.writeable = False
        self.name = name
        self.n = int(valid.size)
        self.valid = valid
        self.valid_bitmap = Bitmap.from_mask(valid)

    # ---- description -------------------------------------------------------------------------
    @property
    @abstractmethod
    def dtype(self) -> str:
        """The value type within the kind: ``int64``, ``float64``, ``timestamp[us]``, ``str``,
        ``bool``, ``list<str>`` or ``text``."""

    def null_count(self) -> int:
        """Number of rows whose value is missing."""
        return self.n - self.valid_bitmap.count()

    def describe(self) -> dict[str, Any]:
        """Kind, type and counts, as recorded in a collection's manifest and shown by ``info``."""
        return {"name": self.name, "kind": self.kind, "dtype": self.dtype, "nulls": self.null_count()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, n={self.n}, dtype={self.dtype!r})"

    # ---- predicates (each returns the rows where the test is TRUE) -----------------------------
    def _refuse(self, what: str, works_on: str) -> TypeError:
        return TypeError(f"column {self.name!r} is {self.kind} ({self.dtype}); {what} works on {works_on} columns")

    def compare(self, op: str, value: Any) -> Bitmap:
        """Rows whose value ``op`` (lt, le, gt, ge, eq, ne) ``value`` holds."""
        raise self._refuse(f"comparison {OPS.get(op, op)!r}", "numeric, categorical and boolean")

    def between(self, low: Any, high: Any) -> Bitmap:
        """Rows with ``low <= value <= high``."""
        raise self._refuse(".between()", "numeric and categorical")

    def isin(self, values: list[Any]) -> Bitmap:
        """Rows whose value is one of ``values``."""
        raise self._refuse(".isin()", "numeric, categorical and boolean")

    def contains(self, labels: list[str], mode: str) -> Bitmap:
        """Rows whose labels include any (``mode="any"``) or all (``"all"``) of ``labels``."""
        raise self._refuse(".contains()", "multi_label and keywords")

    def truth(self) -> Bitmap:
        """Rows whose value is True (a boolean column used as a predicate)."""
        raise self._refuse("using a column as a condition", "boolean")

    # ---- data -------------------------------------------------------------------------------------
    @abstractmethod
    def take(self, rows: np.ndarray) -> np.ndarray:
        """Values of ``rows`` (int64, ``-1`` = no row) as a numpy array for users: numeric as
        int64 (float64 with NaN where missing), float64 or ``datetime64[us]`` (NaT); other kinds
        as an object array (``None`` where missing), lists as Python lists."""

    @abstractmethod
    def to_arrow(self, rows: np.ndarray | None = None) -> Any:
        """Values of ``rows`` (all rows when None; ``-1`` = null) as a pyarrow Array."""

    def sql_arrow(self) -> Any:
        """The column as DuckDB sees it in ``where`` strings (default: :meth:`to_arrow`)."""
        return self.to_arrow()

    @abstractmethod
    def to_npz(self) -> dict[str, np.ndarray]:
        """Plain numpy arrays (no objects) from which :meth:`from_npz` rebuilds the column."""

    @classmethod
    @abstractmethod
    def from_npz(cls, name: str, arrays: dict[str, np.ndarray], n: int) -> Column:
        """The column saved by :meth:`to_npz` (ValueError when the arrays are inconsistent)."""

    @classmethod
    @abstractmethod
    def from_raw(cls, raw: RawColumn) -> Column:
        """Build the column (and its index) from user input."""

    # ---- helpers for subclasses -------------------------------------------------------------
    def _valid_rows(self, rows: np.ndarray) -> np.ndarray:
        """Which of ``rows`` (``-1`` = no row) hold a value."""
        rows = np.asarray(rows, dtype=np.int64)
        ok = rows >= 0
        ok[ok] = self.valid[rows[ok]]
        return ok


# ---- reading saved columns (.npz) -----------------------------------------------------------------
# A saved file may have been crafted (its checksum recomputed): every array is checked for dtype,
# shape and range before a column is built from it, and a failed check is a ValueError naming the
# column, which the loader reports naming the file.
def npz_array(arrays: dict[str, np.ndarray], key: str, name: str, dtype: Any, length: int | None = None) -> np.ndarray:
    """``arrays[key]``: a 1-D array of ``dtype`` (of ``length`` entries when given)."""
    arr = arrays.get(key)
    if arr is None:
        raise ValueError(f"column {name!r}: missing {key!r} array")
    want = np.dtype(dtype)
    if arr.dtype != want or arr.ndim != 1 or (length is not None and arr.shape[0] != length):
        shape = f"({length},)" if length is not None else "1-D"
        raise ValueError(f"column {name!r}: {key!r} array is {arr.dtype} of shape {arr.shape}, expected {want} "
                         f"{shape}")
    return arr


def check_valid_array(arrays: dict[str, np.ndarray], key: str, n: int, name: str) -> np.ndarray:
    """``arrays[key]`` as a bool mask of length ``n`` (ValueError naming the column otherwise)."""
    return npz_array(arrays, key, name, np.bool_, n)


def check_labels_sorted(labels: np.ndarray, name: str) -> None:
    """Labels must be strictly increasing: lookups binary-search them."""
    if labels.size > 1 and not np.all(labels[1:] > labels[:-1]):
        raise ValueError(f"column {name!r}: labels are not sorted and distinct")


def check_codes(codes: np.ndarray, low: int, high: int, name: str) -> None:
    """Every code lies in ``[low, high)``."""
    if codes.size and (int(codes.min()) < low or int(codes.max()) >= high):
        raise ValueError(f"column {name!r}: a code lies outside [{low}, {high})")

