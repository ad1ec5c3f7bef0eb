"""mcindex: nearest-neighbour search under arbitrary filters (the Maximal Clique Index).

Start with :func:`exact_search` / :class:`ExactIndex` (the exact reference), :class:`Bitmap`
(filters), and the submodules ``datasets``, ``workloads`` and ``evaluate``.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import _core
from .bitmap import Bitmap
from .exact import ExactIndex, exact_search
from .index import Index

__version__ = "0.1.0"

__all__ = ["Bitmap", "ExactIndex", "Index", "exact_search", "simd_level", "__version__",
           "datasets", "workloads", "evaluate"]

_SUBMODULES = {"datasets", "workloads", "evaluate", "bench", "cli", "demo", "filters"}


def simd_level() -> str:
    """The SIMD instruction set the distance kernels use here: avx512, avx2, neon or scalar.

    Set the environment variable ``MCINDEX_SIMD`` (e.g. ``scalar``) before import to cap it.
    """
    return _core.simd_level()


def __getattr__(name: str) -> Any:
    # Submodules load on first use so `import mcindex` stays fast and extras stay optional.
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'mcindex' has no attribute {name!r}")
