"""Sharded collections on Ray: one collection split over many processes and machines.

* :class:`ShardedCollection` -- the client: search (fan-out, exact merge of the per-shard
  top-k), info, save / load, close, pickling (``sharded.py``);
* the build: arguments checked, input streamed to the shard actors in batches (``build.py``);
  which node each shard runs on (``placement.py``); the Ray calls: actors started and ended,
  failures reported as the errors below (``ray_calls.py``);
* partitions: hash of the id or nearest k-means centroid (``partition.py``); the top-k merge
  (``merge.py``); the shard actor (``shard.py``); input batches (``batches.py``); the directory
  format (``storage.py``); errors (``errors.py``).

Needs Ray: ``pip install "mcindex[distributed]"``. ``import mcindex`` never imports Ray; this
package does when Ray is installed. Without Ray, the file format (``storage``), the partition
functions and the errors still import (so sharded directories can be checked anywhere), and
``ShardedCollection`` raises ImportError saying what to install.
"""

from __future__ import annotations

from .errors import ShardError, ShardTimeoutError, ShardUnavailableError
from .partition import PARTITIONS

__all__ = ["ACTOR_DEFAULTS", "PARTITIONS", "ShardError", "ShardTimeoutError", "ShardUnavailableError",
           "ShardedCollection"]

try:
    import ray  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised where Ray is not installed
    _NO_RAY: ImportError | None = exc
else:
    _NO_RAY = None
    from .ray_calls import ACTOR_DEFAULTS
    from .sharded import ShardedCollection


def __getattr__(name: str) -> object:  # reached only for names not set above: without Ray
    if name in ("ACTOR_DEFAULTS", "ShardedCollection"):
        raise ImportError("mcindex.distributed needs Ray: pip install 'mcindex[distributed]'") from _NO_RAY
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
