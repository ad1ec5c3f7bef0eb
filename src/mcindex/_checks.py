"""Argument checks shared by the Python API: one message style for every module."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


#: Largest value of an integer argument unless a call says otherwise: the core reads sizes and
#: counts as 64-bit integers, and Python ints beyond that cannot reach it.
INT_MAX = 2**63 - 1


def check_int(value: Any, what: str, minimum: int = 1, maximum: int = INT_MAX) -> int:
    """``value`` as an int in ``[minimum, maximum]``: TypeError for a non-integer (bools
    included), ValueError naming ``what`` for one out of range."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {value}")
    if value > maximum:
        raise ValueError(f"{what} must be <= {maximum}, got {value}")
    return int(value)


def max_magnitude(dim: int) -> float:
    """Largest ``|x|`` a coordinate may have in ``dim`` dimensions: any squared L2 distance or
    inner product of two such vectors then stays finite in float32 (``4 * dim * x**2`` below
    the float32 maximum), so no distance is ever inf (the value that marks an empty result
    slot) or NaN. About 8e17 at dim 128."""
    return math.sqrt(float(np.finfo(np.float32).max) / (4.0 * max(dim, 1)))
