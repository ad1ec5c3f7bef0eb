"""Argument checks shared by the Python API: one message style for every module."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_int(value: Any, what: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``: TypeError for a non-integer (bools included),
    ValueError for one that is too small."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {value}")
    return int(value)
