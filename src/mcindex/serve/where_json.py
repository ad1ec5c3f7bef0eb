"""Filters written as JSON, for HTTP clients: translated into :func:`mcindex.col` predicates.

A SQL ``where`` string needs DuckDB on the server; this form needs nothing but the core, and
is easy to build from any language. One node is a JSON object of one of these shapes::

    {"col": "price", "op": "<", "value": 50}              # < <= > >= == (or =) !=
    {"col": "price", "op": "between", "value": [10, 50]}  # inclusive, like SQL BETWEEN
    {"col": "category", "op": "in", "value": ["shoes", "hats"]}
    {"col": "tags", "op": "contains", "value": "sale"}
    {"col": "tags", "op": "contains_any", "value": ["sale", "new"]}   # also contains_all
    {"col": "price", "op": "is_null"}                      # also not_null; no "value"
    {"and": [node, node, ...]}   {"or": [node, ...]}   {"not": node}

Literals are strings, finite numbers or booleans (timestamps as ISO-8601 strings); ``null``
and NaN are refused, as with the Python predicates: missing values only match
``is_null``. Missing values follow SQL's three-valued logic exactly as
:mod:`mcindex.collection.predicates` describes.

Every error is a :class:`WhereError` (a ``ValueError``) whose message starts with the path of
the offending node, e.g. ``where.and[1].op: unknown op 'like'; ops: ...``. The tree is
bounded (depth, node count, literal count) so a request cannot make the server recurse or
allocate without limit.
"""

from __future__ import annotations

import math
from collections.abc import Collection as _Names
from typing import Any

from ..collection.predicates import Predicate, col

__all__ = ["MAX_DEPTH", "MAX_NODES", "MAX_VALUES", "OPS", "WhereError", "predicate_from_json"]

MAX_DEPTH = 32        # nesting of and / or / not
MAX_NODES = 512       # nodes in the whole tree
MAX_VALUES = 10_000   # literals in the whole tree (in / contains_any lists)

_COMPARE = {"<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__", "==": "__eq__", "=": "__eq__",
            "!=": "__ne__"}
_LISTS = {"in": "isin", "contains_any": "contains_any", "contains_all": "contains_all"}
_NULLS = {"is_null": "is_null", "not_null": "not_null"}
#: every op a leaf may name
OPS = (*_COMPARE, "between", *_LISTS, "contains", *_NULLS)


class WhereError(ValueError):
    """A JSON filter that is not well formed; the message names the node."""


class _Budget:
    """Counts nodes and literals across the whole tree."""

    def __init__(self) -> None:
        self.nodes = 0
        self.values = 0

    def node(self, path: str) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise WhereError(f"{path}: the filter has more than {MAX_NODES} nodes")

    def literals(self, count: int, path: str) -> None:
        self.values += count
        if self.values > MAX_VALUES:
            raise WhereError(f"{path}: the filter has more than {MAX_VALUES} values")


def predicate_from_json(node: Any, columns: _Names[str] | None = None, *, path: str = "where") -> Predicate:
    """The predicate a JSON filter describes.

    Args:
        node: the decoded JSON object (see the module docstring for the shapes).
        columns: the column names that exist, to refuse unknown ones early with the node's
            path; None to leave that check to the collection.
        path: prefix of error messages.

    Raises:
        WhereError: a malformed node, an unknown op or column, a bad literal, or a tree over
            the size bounds.
    """
    return _node(node, columns, path, 0, _Budget())


def _node(node: Any, columns: _Names[str] | None, path: str, depth: int, budget: _Budget) -> Predicate:
    if depth > MAX_DEPTH:
        raise WhereError(f"{path}: the filter is nested more than {MAX_DEPTH} levels deep")
    budget.node(path)
    if not isinstance(node, dict):
        raise WhereError(f"{path}: expected an object such as {{\"col\": ..., \"op\": ..., \"value\": ...}} or "
                         f"{{\"and\": [...]}}, got {_json_type(node)}")
    for key in ("and", "or", "not"):
        if key in node:
            if len(node) != 1:
                raise WhereError(f"{path}: an {key!r} node has no other keys, got {_keys(node)}")
            return _combine(key, node[key], columns, f"{path}.{key}", depth, budget)
    return _leaf(node, columns, path, budget)


def _combine(key: str, children: Any, columns: _Names[str] | None, path: str, depth: int,
             budget: _Budget) -> Predicate:
    if key == "not":
        return ~_node(children, columns, path, depth + 1, budget)
    if not isinstance(children, list) or not children:
        raise WhereError(f"{path}: expected a non-empty list of filters, got {_json_type(children)}")
    parts = [_node(child, columns, f"{path}[{i}]", depth + 1, budget) for i, child in enumerate(children)]
    out = parts[0]
    for part in parts[1:]:
        out = (out & part) if key == "and" else (out | part)
    return out


def _leaf(node: dict[str, Any], columns: _Names[str] | None, path: str, budget: _Budget) -> Predicate:
    extra = set(node) - {"col", "op", "value"}
    if extra:
        raise WhereError(f"{path}: unknown key(s) {', '.join(sorted(map(repr, extra)))}; a filter is "
                         f"{{\"col\", \"op\", \"value\"}} or one of \"and\", \"or\", \"not\"")
    name, op = node.get("col"), node.get("op")
    if not isinstance(name, str) or not name:
        raise WhereError(f"{path}.col: expected a column name (a non-empty string), got {_json_type(name)}")
    if columns is not None and name not in columns:
        raise WhereError(f"{path}.col: unknown column {name!r}; available columns: "
                         f"{', '.join(columns) or '(none)'}")
    if not isinstance(op, str) or op not in OPS:
        shown = repr(op) if isinstance(op, str) else _json_type(op)
        raise WhereError(f"{path}.op: unknown op {shown}; ops: {', '.join(OPS)}")
    c = col(name)
    if op in _NULLS:
        if "value" in node:
            raise WhereError(f"{path}.value: {op!r} takes no value")
        return getattr(c, _NULLS[op])()
    if "value" not in node:
        raise WhereError(f"{path}.value: {op!r} needs a value")
    value = node["value"]
    vpath = f"{path}.value"
    if op in _COMPARE or op == "contains":
        budget.literals(1, vpath)
        literal = _scalar(value, vpath)
        return c.contains(literal) if op == "contains" else getattr(c, _COMPARE[op])(literal)
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise WhereError(f"{vpath}: 'between' takes [low, high], got {_json_type(value)}")
        budget.literals(2, vpath)
        return c.between(_scalar(value[0], f"{vpath}[0]"), _scalar(value[1], f"{vpath}[1]"))
    if not isinstance(value, list):
        raise WhereError(f"{vpath}: {op!r} takes a list of values, got {_json_type(value)}")
    budget.literals(len(value), vpath)
    return getattr(c, _LISTS[op])([_scalar(v, f"{vpath}[{i}]") for i, v in enumerate(value)])


def _scalar(value: Any, path: str) -> str | int | float | bool:
    """A literal: a string, a finite number or a boolean."""
    if value is None:
        raise WhereError(f"{path}: null matches nothing; use {{\"op\": \"is_null\"}} or \"not_null\"")
    if isinstance(value, float) and not math.isfinite(value):
        raise WhereError(f"{path}: {value} is not a usable literal; use a finite number")
    if isinstance(value, (str, bool, int, float)):
        return value
    raise WhereError(f"{path}: expected a string, a number or a boolean, got {_json_type(value)}")


def _json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _keys(node: dict[str, Any]) -> str:
    return ", ".join(map(repr, node))
