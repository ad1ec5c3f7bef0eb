"""Sharded collections on Ray: one collection split over many processes and machines.

* :class:`ShardedCollection` -- build (rows partitioned and streamed to shard actors), search
  (fan-out, exact merge of the per-shard top-k), save / load, close (``sharded.py``);
* partitions: hash of the id or nearest k-means centroid (``partition.py``); the top-k merge
  (``merge.py``); the shard actor (``shard.py``); input batches (``batches.py``); the directory
  format (``storage.py``); errors (``errors.py``).

Needs Ray: ``pip install "mcindex[distributed]"``. ``import mcindex`` never imports Ray; this
package does.
"""

from __future__ import annotations

try:
    import ray  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised where Ray is not installed
    raise ImportError("mcindex.distributed needs Ray: pip install 'mcindex[distributed]'") from exc

from .errors import ShardError, ShardTimeoutError, ShardUnavailableError
from .partition import PARTITIONS
from .sharded import ACTOR_DEFAULTS, ShardedCollection

__all__ = ["ACTOR_DEFAULTS", "PARTITIONS", "ShardError", "ShardTimeoutError", "ShardUnavailableError",
           "ShardedCollection"]
