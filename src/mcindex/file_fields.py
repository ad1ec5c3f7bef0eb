"""Typed checks of values read from files: a wrong type or range is an IndexFormatError naming
the field, never a TypeError or OverflowError later. Shared by the header and the planner."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["IndexFormatError", "dict_field", "int_field", "is_int", "real_field", "scalar_field", "short",
           "text_field"]

MAX_TEXT = 4096  # characters of any string in a header
MAX_ITEMS = 4096  # entries of any list or dict in a header
_INT64 = 2**63


class IndexFormatError(ValueError):
    """An index (in memory or in a file) is malformed, corrupt, truncated or of an unknown version."""


def short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def int_field(value: Any, where: str, low: float, high: float) -> int:
    """``value`` as an int in ``[low, high]``, else :class:`IndexFormatError` naming ``where``."""
    if not is_int(value) or not low <= value <= high:
        raise IndexFormatError(f"{where} must be an int in [{int(low)}, {int(high)}], got {short(value)}")
    return int(value)


def real_field(value: Any, where: str, low: float, high: float) -> float:
    """``value`` as a finite real number in ``[low, high]`` (ints accepted, no bool, no str)."""
    ok = (is_int(value) or isinstance(value, (float, np.floating))) and not isinstance(value, bool)
    # Compare before converting: float(10**400) would raise OverflowError.
    if not ok or (not is_int(value) and not math.isfinite(value)) or not low <= value <= high:
        raise IndexFormatError(f"{where} must be a finite number in [{low:g}, {high:g}], got {short(value)}")
    return float(value)


def text_field(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise IndexFormatError(f"{where} must be a string of at most {MAX_TEXT} characters, got {short(value)}")
    return value


def scalar_field(value: Any, where: str) -> None:
    """A field this version does not read: any plain JSON scalar (old files hold a few)."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return
    if isinstance(value, str):
        text_field(value, where)
    elif is_int(value):
        int_field(value, where, -_INT64, _INT64 - 1)
    elif isinstance(value, (float, np.floating)):
        real_field(value, where, -math.inf, math.inf)
    else:
        raise IndexFormatError(f"{where} must be a number, a string, a bool or null, got {short(value)}")


def dict_field(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise IndexFormatError(f"{where} must be a dict, got {type(value).__name__}")
    if len(value) > MAX_ITEMS:
        raise IndexFormatError(f"{where} has {len(value)} entries, at most {MAX_ITEMS} are allowed")
    for key in value:
        text_field(key, f"a key of {where}")
    return value
