"""One shard: a Ray actor that receives its rows, builds a :class:`~mcindex.Collection` over them,
checkpoints it, and answers searches.

Life of a shard::

    Shard(shard_no, checkpoint_dir)          # a checkpoint there? load it (recovery)
    add(vectors, columns, ids) ...           # batches of its rows, kept until finish
    finish(expected_rows, metric, kinds, index_params)
                                             # build, then Collection.save(checkpoint_dir)
    search(queries, k, where, params) ...    # Collection.search, external ids out

The driver creates the actor with ``max_restarts`` and ``max_task_retries``: when its process
dies, Ray starts a new one with the same constructor arguments, which finds the checkpoint and
loads it, and re-sends the call that was in flight. The constructor never raises (an exception
there would kill the actor for good with Ray's generic message); a checkpoint that cannot be
loaded is remembered and every later call raises :class:`~.errors.ShardError` with the reason.
A shard restarted before its checkpoint existed has lost its rows: ``finish`` compares the rows
it holds with the rows the driver sent and refuses, and ``search`` refuses on a shard that
holds no built collection, so a lost shard is never mistaken for an empty one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..collection import Collection
from ..collection.columns import RawColumn
from ..collection.ids import ExternalIds
from ..collection.storage import MANIFEST, sha256_of
from ..collection.table import build_columns
from ..index import Index
from .batches import concat_rows
from .errors import ShardError

__all__ = ["Shard", "shard_dir_name"]


def shard_dir_name(shard_no: int) -> str:
    """The directory of shard ``shard_no`` inside a sharded collection: ``shard-0003``."""
    return f"shard-{shard_no:04d}"


class Shard:
    """The actor class (wrapped with ``ray.remote`` by the driver); see the module docstring."""

    def __init__(self, shard_no: int, checkpoint_dir: str):
        self._no = int(shard_no)
        self._dir = os.fspath(checkpoint_dir)
        self._collection: Collection | None = None
        self._load_error: str | None = None
        self._vectors: list[np.ndarray] = []
        self._columns: list[list[RawColumn]] = []
        self._ids: list[np.ndarray] = []
        self._rows = 0
        if os.path.exists(os.path.join(self._dir, MANIFEST)):
            try:
                self._collection = Collection.load(self._dir)
            except Exception as exc:  # reported by every call; raising here would hide the reason
                self._load_error = f"{type(exc).__name__}: {exc}"

    # ---- build ----------------------------------------------------------------------------------
    def add(self, vectors: np.ndarray, columns: list[RawColumn], ids: np.ndarray) -> int:
        """Keep one batch of this shard's rows; returns the rows held so far."""
        if self._collection is not None:
            raise ShardError(f"shard {self._no} is already built; it takes no more rows")
        self._vectors.append(vectors)
        self._columns.append(columns)
        self._ids.append(ids)
        self._rows += int(vectors.shape[0])
        return self._rows

    def finish(self, expected_rows: int, metric: str, kinds: Mapping[str, str],
               index_params: Mapping[str, Any]) -> dict[str, Any]:
        """Build the collection over the rows received, save it to the checkpoint directory, and
        return :meth:`info` plus the SHA-256 of the checkpoint's manifest.

        Raises:
            ShardError: the shard holds other than ``expected_rows`` rows (its process restarted
                during the build and lost batches), or no rows.
        """
        if self._collection is not None and len(self._collection) == expected_rows:
            return self._finished_info()  # a retried call after a restart that found the checkpoint
        self._check_loaded()
        if self._rows != expected_rows:
            raise ShardError(f"shard {self._no} holds {self._rows} rows but {expected_rows} were sent to it: its "
                             f"process restarted during the build and lost rows; build the collection again")
        if self._rows == 0:
            raise ShardError(f"shard {self._no} received no rows")
        vectors = np.concatenate(self._vectors) if len(self._vectors) > 1 else self._vectors[0]
        ids = np.concatenate(self._ids) if len(self._ids) > 1 else self._ids[0]
        raw = [concat_rows([batch[i] for batch in self._columns]) for i in range(len(self._columns[0]))]
        self._vectors, self._columns, self._ids = [], [], []  # the collection keeps its own copies
        n = vectors.shape[0]
        columns = build_columns(raw, n, kinds)
        external = ExternalIds(ids, n)
        index = Index.build(vectors, metric, **dict(index_params))
        del vectors, raw
        collection = Collection(index, columns, external)
        collection.save(self._dir)
        self._collection = collection
        return self._finished_info()

    def _finished_info(self) -> dict[str, Any]:
        out = self.info()
        out["manifest_sha256"] = sha256_of(os.path.join(self._dir, MANIFEST))
        return out

    # ---- use ----------------------------------------------------------------------------------
    def _check_loaded(self) -> None:
        if self._load_error is not None:
            raise ShardError(f"shard {self._no}: cannot load its checkpoint {self._dir}: {self._load_error}")

    def _built(self) -> Collection:
        self._check_loaded()
        if self._collection is None:
            raise ShardError(f"shard {self._no} holds no built collection (no checkpoint in {self._dir}): "
                             f"it restarted before its build finished, or its checkpoint was removed")
        return self._collection

    def search(self, queries: np.ndarray, k: int, where: Any, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """:meth:`mcindex.Collection.search` on this shard's rows (external ids out)."""
        return self._built().search(queries, k, where, **dict(params))

    def save(self, directory: str) -> dict[str, Any]:
        """Save the collection to ``directory`` (:meth:`mcindex.Collection.save`, atomic); returns
        ``{"n", "manifest_sha256"}``."""
        c = self._built()
        c.save(directory)
        return {"n": len(c), "manifest_sha256": sha256_of(os.path.join(directory, MANIFEST))}

    def info(self) -> dict[str, Any]:
        """Where this shard runs and what it holds."""
        import ray

        ctx = ray.get_runtime_context()
        c = self._collection
        return {
            "shard": self._no, "built": c is not None, "n": len(c) if c is not None else 0,
            "rows_received": self._rows, "checkpoint": self._dir, "load_error": self._load_error,
            "pid": os.getpid(), "node_id": ctx.get_node_id(), "cpu_count": os.cpu_count(),
            "kinds": c.kinds if c is not None else None,
        }

    def pid(self) -> int:
        """The process id of the actor (tests kill it to check recovery)."""
        return os.getpid()

    def node_id(self) -> str:
        """The Ray node this actor runs on."""
        import ray

        return ray.get_runtime_context().get_node_id()

    def ping(self) -> bool:
        """True once the actor is up (and its checkpoint, if any, loaded)."""
        self._check_loaded()
        return True
