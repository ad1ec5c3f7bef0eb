"""Argument checks shared by the Python API: one message style for every module."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from . import _core

#: The metric names, as the core defines them: "l2" (squared L2), "ip" (negative inner product),
#: "cosine" (1 - cosine similarity).
METRICS: tuple[str, ...] = tuple(_core.METRICS)
#: Cores of this machine, read once (os.cpu_count() costs microseconds per call).
CPUS = max(os.cpu_count() or 1, 1)


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


def check_metric(metric: Any) -> str:
    """A metric name, lower-cased."""
    if not isinstance(metric, str) or metric.lower() not in METRICS:
        raise ValueError(f"metric must be one of {sorted(METRICS)}, got {metric!r}")
    return metric.lower()


def check_threads(threads: Any) -> int:
    """``None`` -> all cores (0 for the core); otherwise a positive int (capped at 4x the cores)."""
    if threads is None:
        return 0
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads must be None or a positive int, got {threads!r}")
    return min(int(threads), CPUS * 4)


def check_k(k: Any) -> int:
    """k must be a positive int (at most 2**63 - 1)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= INT_MAX:
        raise ValueError(f"k must be a positive int below 2**63, got {k!r}")
    return int(k)
