"""Filter predicates built in Python (``col("price") < 50``) and compiled into a Bitmap.

Build a predicate from :func:`col` and combine predicates with ``&``, ``|`` and ``~``::

    (col("price") < 50) & (col("category") == "shoes") & col("tags").contains("sale")
    col("date").between("2024-01-01", "2024-06-30") | col("brand").isin(["a", "b"])
    ~col("tags").contains_any(["used", "refurbished"]) & col("in_stock")

Python's ``and``, ``or``, ``not`` and chained comparisons (``1 < col("x") < 5``) cannot be
overloaded: they raise ``TypeError`` instead of silently doing the wrong thing.

Missing values: SQL three-valued logic
======================================
A comparison, ``isin``, ``between`` or ``contains*`` on a row whose value is missing is
UNKNOWN, not FALSE: the row does not match, and it does not match the negation either.
``~(col("x") == 1)`` therefore selects the rows where ``x`` holds a value other than 1, exactly
like SQL's ``NOT (x = 1)`` and ``x != 1``; ``is_null()`` / ``not_null()`` are the only tests a
missing value satisfies. ``&`` and ``|`` follow SQL too (``FALSE & UNKNOWN`` is FALSE,
``TRUE | UNKNOWN`` is TRUE). The same condition written as a DuckDB ``where`` string selects
the same rows (:meth:`Predicate.to_sql` writes it).

Compilation (:func:`compile_predicate`) evaluates each node to the bitmap of rows where it is
TRUE, and where needed (under ``~``) the rows where it is FALSE; for a leaf, FALSE is "has a
value and is not TRUE". Each leaf reads its column's index (see :mod:`.columns`), so a predicate
costs time proportional to the rows it matches plus ``n / 64`` words per ``&``, ``|``, ``~``.
"""

from __future__ import annotations

import datetime as _dt
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..bitmap import Bitmap
from .columns import OPS, Column

__all__ = ["Col", "Predicate", "col", "compile_predicate"]

_NOT_BOOL = ("a predicate has no truth value: combine predicates with & | ~ (not 'and', 'or', 'not'), "
             "and write ranges as col(...).between(a, b) or two comparisons joined with &")


def _check_scalar(value: Any, what: str, several: str = ".isin([...])") -> Any:
    """Refuse literals that can never mean what the user wants."""
    if value is None:
        raise TypeError(f"{what}: comparing with None matches nothing; use .is_null() / .not_null()")
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        raise ValueError(f"{what}: comparing with NaN matches nothing; use .is_null() / .not_null()")
    if isinstance(value, np.datetime64) and np.isnat(value):
        raise ValueError(f"{what}: comparing with NaT matches nothing; use .is_null() / .not_null()")
    if isinstance(value, (Predicate, Col)):
        raise TypeError(f"{what}: comparing two columns is not supported; compare a column with a value")
    if isinstance(value, (list, tuple, set, dict, np.ndarray)):
        raise TypeError(f"{what}: expected one value, got {type(value).__name__}; use {several} for several")
    return value


def _values(values: Any, what: str) -> tuple[Any, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{what} takes a list of values, got {type(values).__name__} {values!r}")
    return tuple(_check_scalar(v, what) for v in values)


def _freeze(value: Any) -> Any:
    """A hashable, type-aware key for a literal (so 1, 1.0 and True stay distinct)."""
    if isinstance(value, np.generic):
        value = value.item() if not isinstance(value, np.datetime64) else value
    return type(value).__name__, value


# ---- SQL text of literals ----------------------------------------------------------------------
def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_literal(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isinf(value):
            return "CAST('inf' AS DOUBLE)" if value > 0 else "CAST('-inf' AS DOUBLE)"
        return repr(value)
    if isinstance(value, (str, np.str_)):
        return "'" + str(value).replace("'", "''") + "'"
    from .numeric import to_timestamp

    ts = to_timestamp(value) if isinstance(value, (_dt.date, np.datetime64)) or hasattr(value, "to_datetime64") \
        else None
    if ts is not None:
        return _sql_timestamp(ts)
    raise TypeError(f"no SQL form for {type(value).__name__} {value!r}")


def _sql_timestamp(ts: np.datetime64) -> str:
    """A timestamp literal as DuckDB compares it with a ``TIMESTAMP`` (microsecond) column, the
    way :class:`~.numeric.NumericColumn` does: exact to the microsecond; a value finer than that
    lies strictly between two microseconds, written as the ``TIMESTAMP_NS`` half-way between
    them (every comparison with a microsecond value then comes out the same); beyond the
    microsecond range it is DuckDB's infinite timestamp."""
    from .numeric import floor_us

    key = floor_us(ts)
    if isinstance(key, str):
        return "CAST('infinity' AS TIMESTAMP)" if key == "above" else "CAST('-infinity' AS TIMESTAMP)"
    us, exact = key
    text = str(np.datetime64(us, "us")).replace("T", " ")
    return f"TIMESTAMP '{text}'" if exact else f"TIMESTAMP_NS '{text}500'"


# ---- the tree -----------------------------------------------------------------------------------
class Predicate(ABC):
    """A boolean condition over the attribute columns. Immutable; equal predicates (same tree,
    same literals) compare and hash equal, so per-query lists compile each distinct one once."""

    __slots__ = ()

    @property
    @abstractmethod
    def key(self) -> tuple[Any, ...]:
        """A hashable description of the tree."""

    @abstractmethod
    def to_sql(self) -> str:
        """The same condition as a DuckDB SQL expression, selecting the same rows (NULLs
        included) from the table :mod:`.sql` registers. Labels are written as given: a
        ``keywords`` column is a list of lower-cased words in SQL, so write words in lower case
        for the two to agree (the Python predicate lower-cases them itself)."""

    @abstractmethod
    def columns(self) -> set[str]:
        """Names of the columns the predicate reads."""

    @abstractmethod
    def _true(self, ctx: _Compiler) -> Bitmap:
        """Rows where the predicate is TRUE."""

    @abstractmethod
    def _false(self, ctx: _Compiler) -> Bitmap:
        """Rows where it is FALSE (neither TRUE nor UNKNOWN)."""

    def __and__(self, other: Any) -> Predicate:
        return And(self, _as_predicate(other, "&"))

    def __rand__(self, other: Any) -> Predicate:
        return And(_as_predicate(other, "&"), self)

    def __or__(self, other: Any) -> Predicate:
        return Or(self, _as_predicate(other, "|"))

    def __ror__(self, other: Any) -> Predicate:
        return Or(_as_predicate(other, "|"), self)

    def __invert__(self) -> Predicate:
        # NOT NOT x is x in SQL's three-valued logic too (NOT UNKNOWN is UNKNOWN).
        return self.child if isinstance(self, Not) else Not(self)

    def __bool__(self) -> bool:
        raise TypeError(_NOT_BOOL)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Predicate) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"<predicate {self.to_sql()}>"


def _as_predicate(x: Any, op: str) -> Predicate:
    if isinstance(x, Predicate):
        return x
    if isinstance(x, Col):
        return Truth(x.name)
    raise TypeError(f"cannot combine a predicate with {type(x).__name__} using {op}")


class _Leaf(Predicate):
    """A test of one column: FALSE wherever the column has a value and the test is not TRUE."""

    __slots__ = ("column",)
    column: str

    def columns(self) -> set[str]:
        return {self.column}

    def _false(self, ctx: _Compiler) -> Bitmap:
        return ctx.column(self.column).valid_bitmap - ctx.true(self)


class Compare(_Leaf):
    __slots__ = ("op", "value")

    def __init__(self, column: str, op: str, value: Any):
        self.column, self.op = column, op
        self.value = _check_scalar(value, f"col({column!r}) {OPS[op]} ...")

    @property
    def key(self) -> tuple[Any, ...]:
        return ("cmp", self.column, self.op, _freeze(self.value))

    def to_sql(self) -> str:
        return f"({_quote_ident(self.column)} {OPS[self.op]} {_sql_literal(self.value)})"

    def _true(self, ctx: _Compiler) -> Bitmap:
        return ctx.column(self.column).compare(self.op, self.value)


class Between(_Leaf):
    __slots__ = ("low", "high")

    def __init__(self, column: str, low: Any, high: Any):
        self.column = column
        self.low = _check_scalar(low, f"col({column!r}).between")
        self.high = _check_scalar(high, f"col({column!r}).between")

    @property
    def key(self) -> tuple[Any, ...]:
        return ("between", self.column, _freeze(self.low), _freeze(self.high))

    def to_sql(self) -> str:
        return f"({_quote_ident(self.column)} BETWEEN {_sql_literal(self.low)} AND {_sql_literal(self.high)})"

    def _true(self, ctx: _Compiler) -> Bitmap:
        return ctx.column(self.column).between(self.low, self.high)


class IsIn(_Leaf):
    __slots__ = ("values",)

    def __init__(self, column: str, values: Any):
        self.column = column
        self.values = _values(values, f"col({column!r}).isin")

    @property
    def key(self) -> tuple[Any, ...]:
        return ("isin", self.column, tuple(sorted({_freeze(v) for v in self.values}, key=repr)))

    def to_sql(self) -> str:
        c = _quote_ident(self.column)
        if not self.values:  # IN () is not SQL; FALSE for a value, NULL for a missing one
            return f"(CASE WHEN {c} IS NULL THEN NULL ELSE FALSE END)"
        return f"({c} IN ({', '.join(_sql_literal(v) for v in self.values)}))"

    def _true(self, ctx: _Compiler) -> Bitmap:
        return ctx.column(self.column).isin(list(self.values))


class Contains(_Leaf):
    __slots__ = ("mode", "labels", "single")

    def __init__(self, column: str, labels: Any, mode: str, single: bool = False):
        self.column, self.mode, self.single = column, mode, single
        self.labels = (_check_scalar(labels, f"col({column!r}).contains", ".contains_any([...])"),) if single \
            else _values(labels, f"col({column!r}).contains_{mode}")

    @property
    def key(self) -> tuple[Any, ...]:
        return ("contains", self.column, self.mode, tuple(sorted({_freeze(v) for v in self.labels}, key=repr)))

    def to_sql(self) -> str:
        c = _quote_ident(self.column)
        labels = [_sql_literal(v) for v in self.labels]
        if self.single:
            return f"list_contains({c}, {labels[0]})"
        fn = "list_has_any" if self.mode == "any" else "list_has_all"
        return f"{fn}({c}, [{', '.join(labels)}]::VARCHAR[])"

    def _true(self, ctx: _Compiler) -> Bitmap:
        return ctx.column(self.column).contains(list(self.labels), self.mode)


class IsNull(Predicate):
    __slots__ = ("column", "negate")

    def __init__(self, column: str, negate: bool):
        self.column, self.negate = column, negate

    @property
    def key(self) -> tuple[Any, ...]:
        return ("null", self.column, self.negate)

    def columns(self) -> set[str]:
        return {self.column}

    def to_sql(self) -> str:
        return f"({_quote_ident(self.column)} IS {'NOT ' if self.negate else ''}NULL)"

    def _true(self, ctx: _Compiler) -> Bitmap:
        valid = ctx.column(self.column).valid_bitmap
        return valid if self.negate else ~valid

    def _false(self, ctx: _Compiler) -> Bitmap:
        valid = ctx.column(self.column).valid_bitmap
        return ~valid if self.negate else valid


class Truth(_Leaf):
    """A boolean column used as a condition: TRUE where it holds True."""

    __slots__ = ()

    def __init__(self, column: str):
        self.column = column

    @property
    def key(self) -> tuple[Any, ...]:
        return ("truth", self.column)

    def to_sql(self) -> str:
        return _quote_ident(self.column)

    def _true(self, ctx: _Compiler) -> Bitmap:
        return ctx.column(self.column).truth()


#: Deepest predicate tree accepted: deeper nesting is almost certainly generated by mistake,
#: and compiling it recursively would exhaust Python's stack. Chains of one operator
#: (``a | b | c | ...``, built by a loop or ``functools.reduce``) are flattened and stay shallow.
MAX_DEPTH = 64


def _depth(p: Predicate) -> int:
    return p._depth if isinstance(p, _Combined) else 1


def _check_depth(depth: int) -> int:
    if depth > MAX_DEPTH:
        raise ValueError(f"predicate nested {depth} levels deep; at most {MAX_DEPTH} levels of &, | and ~ are "
                         f"supported (chains of one operator do not count: a | b | c is one level)")
    return depth


class _Combined(Predicate):
    """A node over other predicates. Its depth is known at construction; its key is computed
    on first use and kept (a loop building ``a | b | c | ...`` must not recompute the keys
    of all earlier terms at every step)."""

    __slots__ = ("_key", "_depth")

    @property
    def key(self) -> tuple[Any, ...]:
        if self._key is None:
            self._key = self._make_key()
        return self._key

    @abstractmethod
    def _make_key(self) -> tuple[Any, ...]:
        """The key, from the children's keys."""


class _Chain(_Combined):
    """``AND`` / ``OR`` of two or more predicates, flattened: ``(a | b) | c`` is ``a | b | c``."""

    __slots__ = ("parts",)
    _word = ""

    def __init__(self, left: Predicate, right: Predicate):
        parts: list[Predicate] = []
        depth = 1
        for p in (left, right):
            if type(p) is type(self):  # its depth is already 1 + the deepest of its parts
                parts.extend(p.parts)
                depth = max(depth, p._depth)
            else:
                parts.append(p)
                depth = max(depth, 1 + _depth(p))
        self.parts = tuple(parts)
        self._key = None
        self._depth = _check_depth(depth)

    def _make_key(self) -> tuple[Any, ...]:
        return (self._word.lower(), tuple(p.key for p in self.parts))

    def columns(self) -> set[str]:
        return set().union(*(p.columns() for p in self.parts))

    def to_sql(self) -> str:
        return "(" + f" {self._word} ".join(p.to_sql() for p in self.parts) + ")"


class And(_Chain):
    __slots__ = ()
    _word = "AND"

    def _true(self, ctx: _Compiler) -> Bitmap:
        return _fold(Bitmap.__and__, (ctx.true(p) for p in self.parts))

    def _false(self, ctx: _Compiler) -> Bitmap:
        return _fold(Bitmap.__or__, (ctx.false(p) for p in self.parts))


class Or(_Chain):
    __slots__ = ()
    _word = "OR"

    def _true(self, ctx: _Compiler) -> Bitmap:
        return _fold(Bitmap.__or__, (ctx.true(p) for p in self.parts))

    def _false(self, ctx: _Compiler) -> Bitmap:
        return _fold(Bitmap.__and__, (ctx.false(p) for p in self.parts))


def _fold(op: Any, bitmaps: Iterable[Bitmap]) -> Bitmap:
    it = iter(bitmaps)
    out = next(it)
    for b in it:
        out = op(out, b)
    return out


class Not(_Combined):
    __slots__ = ("child",)

    def __init__(self, child: Predicate):
        self.child = child
        self._key = None
        self._depth = _check_depth(1 + _depth(child))

    def _make_key(self) -> tuple[Any, ...]:
        return ("not", self.child.key)

    def columns(self) -> set[str]:
        return self.child.columns()

    def to_sql(self) -> str:
        return f"(NOT {self.child.to_sql()})"

    def _true(self, ctx: _Compiler) -> Bitmap:
        return ctx.false(self.child)

    def _false(self, ctx: _Compiler) -> Bitmap:
        return ctx.true(self.child)


# ---- column references ----------------------------------------------------------------------------
class Col:
    """A reference to an attribute column; its operators and methods build predicates.

    A boolean column can be used as a condition on its own: ``col("in_stock") & ...``,
    ``~col("in_stock")``.
    """

    __slots__ = ("name",)
    __hash__ = None  # type: ignore[assignment]  # == builds a predicate

    def __init__(self, name: str):
        if not isinstance(name, str) or not name:
            raise TypeError(f"a column name must be a non-empty str, got {name!r}")
        self.name = name

    def __repr__(self) -> str:
        return f"col({self.name!r})"

    def __lt__(self, value: Any) -> Predicate:
        return Compare(self.name, "lt", value)

    def __le__(self, value: Any) -> Predicate:
        return Compare(self.name, "le", value)

    def __gt__(self, value: Any) -> Predicate:
        return Compare(self.name, "gt", value)

    def __ge__(self, value: Any) -> Predicate:
        return Compare(self.name, "ge", value)

    def __eq__(self, value: Any) -> Predicate:  # type: ignore[override]
        return Compare(self.name, "eq", value)

    def __ne__(self, value: Any) -> Predicate:  # type: ignore[override]
        return Compare(self.name, "ne", value)

    def between(self, low: Any, high: Any) -> Predicate:
        """``low <= value <= high`` (inclusive, like SQL's BETWEEN; empty when low > high)."""
        return Between(self.name, low, high)

    def isin(self, values: Iterable[Any]) -> Predicate:
        """The value is one of ``values`` (numeric, categorical and boolean columns)."""
        return IsIn(self.name, values)

    def contains(self, label: str) -> Predicate:
        """The row's labels (multi_label) or words (keywords) include ``label``."""
        return Contains(self.name, label, "any", single=True)

    def contains_any(self, labels: Iterable[str]) -> Predicate:
        """The row's labels include at least one of ``labels`` (none given: no row)."""
        return Contains(self.name, labels, "any")

    def contains_all(self, labels: Iterable[str]) -> Predicate:
        """The row's labels include every one of ``labels`` (none given: every non-missing row)."""
        return Contains(self.name, labels, "all")

    def is_null(self) -> Predicate:
        """The value is missing (None, NaN, NaT, null)."""
        return IsNull(self.name, negate=False)

    def not_null(self) -> Predicate:
        """The value is present."""
        return IsNull(self.name, negate=True)

    # a boolean column as a condition
    def __and__(self, other: Any) -> Predicate:
        return Truth(self.name) & other

    def __rand__(self, other: Any) -> Predicate:
        return _as_predicate(other, "&") & Truth(self.name)

    def __or__(self, other: Any) -> Predicate:
        return Truth(self.name) | other

    def __ror__(self, other: Any) -> Predicate:
        return _as_predicate(other, "|") | Truth(self.name)

    def __invert__(self) -> Predicate:
        return ~Truth(self.name)

    def __bool__(self) -> bool:
        raise TypeError(_NOT_BOOL)


def col(name: str) -> Col:
    """A reference to the attribute column ``name``, to build predicates from:
    ``col("price") < 50``, ``col("tags").contains("sale")``, ``col("date").is_null()``."""
    return Col(name)


# ---- compilation ---------------------------------------------------------------------------------
class _Compiler:
    """Evaluates one predicate tree; shared sub-trees (equal keys) are evaluated once."""

    def __init__(self, columns: Mapping[str, Column]):
        self._columns = columns
        self._memo: dict[tuple[bool, tuple[Any, ...]], Bitmap] = {}

    def column(self, name: str) -> Column:
        try:
            return self._columns[name]
        except KeyError:
            available = ", ".join(self._columns) or "(none)"
            raise ValueError(f"unknown column {name!r}; available columns: {available}") from None

    def true(self, p: Predicate) -> Bitmap:
        k = (True, p.key)
        if k not in self._memo:
            self._memo[k] = p._true(self)
        return self._memo[k]

    def false(self, p: Predicate) -> Bitmap:
        k = (False, p.key)
        if k not in self._memo:
            self._memo[k] = p._false(self)
        return self._memo[k]


def compile_predicate(predicate: Predicate | Col, columns: Mapping[str, Column]) -> Bitmap:
    """The rows (a Bitmap) where ``predicate`` is TRUE.

    Raises:
        ValueError: an unknown column (naming it and the available ones), or a literal that
            cannot match (NaN, an unparseable timestamp).
        TypeError: an operation the column's kind does not support, or a literal of the wrong
            type (e.g. ``col("category") < 5`` on a string column).
    """
    if isinstance(predicate, Col):
        predicate = Truth(predicate.name)
    if not isinstance(predicate, Predicate):
        raise TypeError(f"expected a predicate, got {type(predicate).__name__}")
    return _Compiler(columns).true(predicate)
