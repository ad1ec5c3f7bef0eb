"""mcindex: nearest-neighbour search under arbitrary filters (the Maximal Clique Index).

Start with :class:`Collection` and :func:`col` (vectors plus attributes, searched under
predicates), :class:`Index`, :func:`exact_search` / :class:`ExactIndex` (the exact reference),
:class:`Bitmap` (filters), and the submodules ``datasets``, ``workloads`` and ``evaluate``.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import _core
from .bitmap import Bitmap
from .exact import ExactIndex, exact_search
from .index import Index

from ._version import __version__

__all__ = ["Bitmap", "Collection", "ExactIndex", "FilterLimitError", "Index", "SqlLimits", "col", "exact_search",
           "release_memory", "simd_level", "__version__", "datasets", "workloads", "evaluate"]

_SUBMODULES = {"datasets", "workloads", "evaluate", "bench", "cli", "demo", "filters", "collection",
               "workloads_attributes"}
# Names re-exported lazily from a submodule: name -> submodule.
_LAZY_NAMES = {"Collection": "collection", "col": "collection", "SqlLimits": "collection",
               "FilterLimitError": "collection"}


def simd_level() -> str:
    """The SIMD instruction set the distance kernels use here: avx512, avx2, neon or scalar.

    Set the environment variable ``MCINDEX_SIMD`` (e.g. ``scalar``) before import to cap it.
    """
    return _core.simd_level()


def release_memory() -> bool:
    """Return memory that was freed (e.g. by ``del index``) but kept by the C allocator to the
    system; True if that was possible here (glibc), False otherwise.

    Freeing an index frees every byte it held: its large arrays go back to the system at once,
    smaller ones (below glibc's mmap threshold, up to 32 MB) stay in the allocator's free lists
    and are reused by the next allocation, so RSS does not grow over repeated builds. Call this
    after deleting a big index when the process's RSS itself matters (RELIABILITY.md, "Memory").
    """
    return bool(_core.release_memory())


def __getattr__(name: str) -> Any:
    # Submodules load on first use so `import mcindex` stays fast and extras stay optional.
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(f".{_LAZY_NAMES[name]}", __name__), name)
    raise AttributeError(f"module 'mcindex' has no attribute {name!r}")
