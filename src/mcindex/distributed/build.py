"""Building a sharded collection: the arguments checked, the input streamed to the shard actors in
batches, and every shard's collection built.

:func:`build_shards` does the work of :meth:`ShardedCollection.build
<mcindex.distributed.ShardedCollection.build>` (whose docstring has the arguments). The input is
read one batch at a time (:mod:`.batches`); each batch is partitioned (:mod:`.partition`: by hash
of the id, or by the nearest of k-means centroids learned from a sample first) and its rows sent
to their shards, with at most ``max_in_flight`` sends not yet received, so the driver's memory
stays bounded whatever the number of rows. The driver keeps only what it must check over all
shards: the rows each shard was sent (a shard restarted before its checkpoint existed has lost
them, and its ``finish`` refuses) and the ids, which must be unique over all shards. Then every
shard builds and checkpoints its collection, in parallel.
"""

from __future__ import annotations

import inspect
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import ray

from .._checks import check_int
from .._progress import Progress
from ..collection.columns import KINDS
from ..exact import as_matrix, check_metric
from ..index import Index
from . import partition as part
from . import ray_calls
from .batches import Batch, infer_kinds, iter_batches, take_rows
from .placement import default_threads
from .shard import shard_dir_name

__all__ = ["build_shards"]

_BUILD_PARAMS = set(inspect.signature(Index.build).parameters) - {"cls", "data", "metric"}


def build_shards(vectors: Any, attributes: Any, *, shards: int, metric: str, partition: str, ids: Any,
                 kinds: Mapping[str, str] | None, batch_size: int, path: str | os.PathLike[str] | None,
                 progress: bool, balance: float | None, sample: int, seed: int, max_in_flight: int | None,
                 actor_options: Mapping[str, Any] | None, index_params: dict[str, Any]
                 ) -> tuple[list[Any], dict[str, Any], str]:
    """Check the arguments (before any actor starts, as far as the input allows), start one actor
    per shard, stream the rows to them and build every shard; return ``(actors, metadata of the
    sharded collection, checkpoint root)``. On failure the actors are ended and a root this call
    created is removed."""
    shards = check_int(shards, "shards")
    metric = check_metric(metric)
    if partition not in part.PARTITIONS:
        raise ValueError(f"partition must be one of {', '.join(map(repr, part.PARTITIONS))}, got {partition!r}")
    batch_size = check_int(batch_size, "batch_size")
    sample = check_int(sample, "sample")
    seed = check_int(seed, "seed", 0)
    if balance is not None and (isinstance(balance, bool) or not isinstance(balance, (int, float))
                                or not math.isfinite(balance) or balance < 1):
        raise ValueError(f"balance must be a number >= 1 or None, got {balance!r}")
    unknown = sorted(set(index_params) - _BUILD_PARAMS)
    if unknown:
        raise TypeError(f"unknown index parameter(s) {', '.join(unknown)}; Index.build takes "
                        f"{', '.join(sorted(_BUILD_PARAMS))}")
    kinds = dict(kinds or {})
    for name, kind in kinds.items():
        if kind not in KINDS:
            raise ValueError(f"column {name!r}: unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    in_flight = 2 * shards if max_in_flight is None else check_int(max_in_flight, "max_in_flight")
    n_known, batches = iter_batches(vectors, attributes, ids, batch_size)
    if n_known is not None and shards > n_known:
        raise ValueError(f"shards ({shards}) must not exceed the number of vectors ({n_known})")

    root, created = _prepare_path(path)
    actors: list[Any] = []
    try:
        actors = ray_calls.start_actors(actor_options, [os.path.join(root, shard_dir_name(s)) for s in range(shards)])
        builder = _Builder(actors, metric, partition, n_known, balance, sample, seed, in_flight, progress)
        centroids = None
        if partition == "cluster":
            centroids, batches = builder.learn_centroids(vectors if n_known is not None else None, batches)
        stats = builder.stream(batches, centroids)
        for name, kind in kinds.items():
            if name not in stats["kinds"]:
                raise ValueError(f"kinds= names unknown column {name!r}; columns: "
                                 f"{', '.join(stats['kinds']) or '(none)'}")
        final_kinds = {**stats["kinds"], **kinds}
        missing = [c for c in stats["columns"] if c not in final_kinds]
        if missing:
            raise ValueError(f"column {missing[0]!r} holds only missing values, so its kind cannot be inferred; "
                             f"name it with kinds={{{missing[0]!r}: ...}} (one of {', '.join(KINDS)})")
        placement = ray_calls.placement_of(actors)
        infos = builder.finish({c: final_kinds[c] for c in stats["columns"]}, index_params, placement)
    except BaseException:
        ray_calls.end(actors)
        if created:
            shutil.rmtree(root, ignore_errors=True)
        raise
    meta = {
        "n": int(stats["n"]), "dim": int(stats["dim"]), "metric": metric, "ids": stats["ids"],
        "columns": [[c, final_kinds[c]] for c in stats["columns"]],
        "partition": {"kind": partition} if partition == "hash" else
        {"kind": "cluster", "balance": balance, "seed": seed, "centroids": centroids},
        "shard_sizes": [int(i["n"]) for i in infos], "shard_manifests": [i["manifest_sha256"] for i in infos],
        "path": None if path is None else root, "placement": placement,
    }
    return actors, meta, root


def _prepare_path(path: str | os.PathLike[str] | None) -> tuple[str, bool]:
    """(checkpoint root, whether this call created it): ``path``, which must not exist or be an
    empty directory, or a new temporary directory."""
    if path is None:
        return tempfile.mkdtemp(prefix="mcindex-shards-"), True
    root = os.path.abspath(os.fspath(path))
    if os.path.lexists(root):
        if not os.path.isdir(root) or os.path.islink(root) or os.listdir(root):
            raise FileExistsError(f"{root} exists and is not an empty directory; build into a new path "
                                  f"(save() replaces an existing sharded collection atomically)")
        return root, False
    parent = os.path.dirname(root)
    if not os.path.isdir(parent):
        raise FileNotFoundError(2, "No such directory", parent)
    os.mkdir(root)
    return root, True


class _Builder:
    """The streaming part of :func:`build_shards`: partition each batch, send its rows
    to their shards with bounded in-flight sends, and track what each shard must have received."""

    def __init__(self, actors: list[Any], metric: str, partition: str, n: int | None, balance: float | None,
                 sample: int, seed: int, in_flight: int, progress: bool):
        self.actors = actors
        self.shards = len(actors)
        self.metric = metric
        self.partition = partition
        self.n = n
        self.balance = balance
        self.sample = sample
        self.seed = seed
        self.in_flight = in_flight
        self.progress = progress
        self.sent = np.zeros(self.shards, dtype=np.int64)

    def learn_centroids(self, array: Any, batches: Iterator[Batch]) -> tuple[np.ndarray, Iterator[Batch]]:
        """k-means centroids from a sample: random rows of an array input, else the first rows
        of the stream (those batches are kept and replayed, so the driver holds at most
        ``sample`` rows plus one batch)."""
        if array is not None:
            if not hasattr(array, "shape"):  # a list of rows
                array = as_matrix(array, "vectors")
            rng = np.random.default_rng(self.seed)
            pick = np.sort(rng.choice(self.n, size=min(self.sample, self.n), replace=False))
            rows = as_matrix(array[pick], "vectors")
            return part.kmeans(rows, self.shards, self.metric, seed=self.seed), batches
        held: list[Batch] = []
        count = 0
        for b in batches:
            held.append(b)
            count += len(b)
            if count >= self.sample:
                break
        if count < self.shards:
            raise ValueError(f"shards ({self.shards}) must not exceed the number of vectors ({count})")
        rows = np.concatenate([b.vectors for b in held])[: self.sample]
        centroids = part.kmeans(rows, self.shards, self.metric, seed=self.seed)

        def replay() -> Iterator[Batch]:
            while held:
                yield held.pop(0)
            yield from batches
        return centroids, replay()

    def _shards_of(self, b: Batch, centroids: np.ndarray | None, digests: np.ndarray | None) -> np.ndarray:
        if self.partition == "hash":
            if digests is not None:
                return (digests[:, 0] % np.uint64(self.shards)).astype(np.int64)
            keys = b.ids if b.ids is not None else np.arange(b.start, b.start + len(b), dtype=np.int64)
            return part.hash_shards(keys, self.shards)
        room = None
        if self.balance is not None:
            total = self.n if self.n is not None else b.start + len(b)
            cap = math.ceil(self.balance * total / self.shards)
            room = np.maximum(cap - self.sent, 0)
        return part.assign(b.vectors, centroids, self.metric, room)

    def stream(self, batches: Iterator[Batch], centroids: np.ndarray | None) -> dict[str, Any]:
        """Send every batch; returns n, dim, id kind, column names and inferred kinds."""
        pending: list[Any] = []
        keys: list[np.ndarray] = []   # int ids, or 128-bit digests of str ids, for the duplicate check
        n, dim, id_kind, names = 0, None, None, None
        kinds: dict[str, str] = {}
        bar = Progress(total=self.n, desc="sending rows to shards", silent=not self.progress)
        for b in batches:
            cols = [c.name for c in b.columns]
            if names is None:
                names, dim = cols, b.vectors.shape[1]
                id_kind = None if b.ids is None else ("str" if b.ids.dtype == object else "int64")
            elif cols != names:
                raise ValueError(f"the batch starting at row {b.start} has columns {cols}, the first had {names}")
            this_kind = None if b.ids is None else ("str" if b.ids.dtype == object else "int64")
            if this_kind != id_kind:
                raise TypeError(f"ids must all be int64 or all str; the batch starting at row {b.start} holds "
                                f"{this_kind} ids, earlier batches {id_kind}")
            infer_kinds(b.columns, kinds)
            digests = part.str_digests(b.ids) if id_kind == "str" else None
            if id_kind == "str":
                keys.append(digests)
            elif id_kind == "int64":
                keys.append(b.ids)
            shard_of = self._shards_of(b, centroids, digests)
            ids = b.ids if b.ids is not None else np.arange(b.start, b.start + len(b), dtype=np.int64)
            order = np.argsort(shard_of, kind="stable")
            bounds = np.searchsorted(shard_of[order], np.arange(self.shards + 1))
            for s in range(self.shards):
                rows = order[bounds[s]:bounds[s + 1]]
                if rows.size == 0:
                    continue
                pending.append(self.actors[s].add.remote(
                    b.vectors[rows], [take_rows(c, rows) for c in b.columns], ids[rows]))
                self.sent[s] += rows.size
            n += len(b)
            bar.update(len(b))
            if len(pending) > self.in_flight:  # backpressure: wait until the shards catch up
                done, pending = ray.wait(pending, num_returns=len(pending) - self.in_flight)
                ray_calls.gather(self.actors, done, "sending rows")
        ray_calls.gather(self.actors, pending, "sending rows")
        bar.clear()
        _check_unique(keys, id_kind)
        empty = np.flatnonzero(self.sent == 0)
        if empty.size:
            raise ValueError(f"shard(s) {empty.tolist()} received no rows ({n} rows over {self.shards} shards); "
                             f"use fewer shards")
        return {"n": n, "dim": dim, "ids": id_kind, "columns": names or [], "kinds": kinds}

    def finish(self, kinds: dict[str, str], index_params: dict[str, Any],
               placement: list[tuple[str, float, int]]) -> list[dict[str, Any]]:
        """Every shard builds and checkpoints its collection, in parallel."""
        refs = []
        for s, a in enumerate(self.actors):
            params = {"progress": False, **index_params}
            if "threads" not in params:
                params["threads"] = default_threads(placement[s])
            refs.append(a.finish.remote(int(self.sent[s]), self.metric, kinds, params))
        bar = Progress(total=self.shards, desc="building shards", silent=not self.progress)
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            bar.update(len(done))
        bar.clear()
        return ray_calls.gather(self.actors, refs, "build")


def _check_unique(keys: list[np.ndarray], id_kind: str | None) -> None:
    """ids must be unique over all shards (the hash partition puts equal ids on one shard, which
    would catch them; the cluster partition would not, so the driver checks, 8-16 bytes per row)."""
    if id_kind is None or not keys:
        return
    if id_kind == "int64":
        allk = np.concatenate(keys)
        s = np.sort(allk)
        dup = np.flatnonzero(s[1:] == s[:-1])
        if dup.size:
            raise ValueError(f"ids must be unique; {int(s[dup[0]])!r} appears more than once")
        return
    allk = np.concatenate(keys)
    order = np.lexsort((allk[:, 1], allk[:, 0]))
    s = allk[order]
    same = np.flatnonzero((s[1:] == s[:-1]).all(axis=1))
    if same.size:
        rows = sorted((int(order[same[0]]), int(order[same[0] + 1])))
        raise ValueError(f"ids must be unique; rows {rows[0]} and {rows[1]} have the same id")
