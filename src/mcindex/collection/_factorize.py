"""Column values to sorted labels and codes, and object arrays sorted out, without Python
bytecode per row.

Building a column's index must not cost one interpreted Python step per row. numpy sorts
numbers natively, but sorting an object array of strings (``np.unique``) compares them one
Python call at a time, and a ``for`` loop over a million rows costs about a second. Here every
per-row pass is a C-level one: ``list(map(...))``, ``set(...)``, ``dict`` lookups, ``np.fromiter``
and numpy's elementwise comparisons of object arrays.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

__all__ = ["factorize", "fast_object_kinds", "flatten_lists"]

#: Python types whose kind is known from the type alone (see columns.classify).
FAST_KINDS: dict[type, str] = {bool: "bool", int: "int", float: "float", str: "str", list: "list", tuple: "list"}
_NONE = type(None)


def fast_object_kinds(values: np.ndarray) -> tuple[np.ndarray, set[str]] | None:
    """``(missing mask, kinds of the other values)`` of an object array whose values are all
    plain ``bool``, ``int``, ``float``, ``str``, ``list``, ``tuple`` or ``None``; None for any
    other content (the caller then classifies value by value). NaN floats count as missing."""
    items = values.tolist()
    types = set(map(type, items))
    if not types <= FAST_KINDS.keys() | {_NONE}:
        return None
    null = np.zeros(len(items), dtype=np.bool_)
    if _NONE in types:
        null |= values == None  # noqa: E711  (elementwise on an object array)
    kinds = {FAST_KINDS[t] for t in types if t is not _NONE}
    if float in types:
        nan = values != values  # only NaN differs from itself among these types
        null |= nan
        is_float = np.fromiter(map(type, items), dtype=object, count=len(items)) == float
        if not (is_float & ~nan).any():
            kinds.discard("float")  # only NaNs: missing values, not floats
    return null, kinds


def factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, codes)``: the distinct values sorted (numbers numerically, strings by code
    point, like DuckDB's binary collation) and each value's index among them (int32).

    ``values`` is a 1-D array without missing values: numbers, ``<U`` strings, or an object
    array of hashable values of one kind. String labels come back as an object array of str.
    """
    if values.dtype.kind in "iufb":
        labels, codes = np.unique(values, return_inverse=True)
        return labels, codes.astype(np.int32).reshape(-1)
    items = values.tolist()
    labels = sorted(set(items))
    lookup = {label: i for i, label in enumerate(labels)}
    codes = np.fromiter(map(lookup.__getitem__, items), dtype=np.int32, count=len(items))
    out = np.empty(len(labels), dtype=object)
    out[:] = [str(x) for x in labels] if values.dtype.kind == "U" or (labels and isinstance(labels[0], str)) \
        else labels
    return out, codes


def flatten_lists(rows: list[Any]) -> tuple[list[Any], np.ndarray]:
    """``(items, lengths)`` of a list of lists / tuples (C-level passes)."""
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    return list(itertools.chain.from_iterable(rows)), lengths
