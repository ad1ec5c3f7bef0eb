"""ShardedCollection: a collection split over Ray actors, searched as one (the client).

The driver (this object) holds no vectors: only the shard actors' handles and a little
metadata, so it pickles cheaply and a copy in another Ray process (a web server replica, a
task) searches the same actors; only the process that built or loaded it ends them. A search
checks its arguments here, fans out to the shards in parallel (all of them, or with ``probe``
the shards nearest each query) and merges their top-k lists (:mod:`.merge`).

The rest lives next to it: the build (:mod:`.build`: streamed input, batches sent to the
shards), which node each shard runs on (:mod:`.placement`), the Ray calls and how a failed or
slow shard is reported (:mod:`.ray_calls`: results are never silently partial), the shard actor
(:mod:`.shard`) and the directory format (:mod:`.storage`).
"""

from __future__ import annotations

import inspect
import os
import shutil
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._checks import check_int
from ..bitmap import Bitmap
from ..collection.predicates import Col, Predicate
from ..collection.storage import CollectionFormatError, replacing_directory, write_manifest
from ..collection.table import resolve_format
from ..exact import as_matrix, check_k, normalize_rows
from ..index import Index
from . import partition as part
from . import ray_calls
from .build import build_shards
from .merge import merge_topk
from .placement import default_threads
from .shard import shard_dir_name
from .storage import FORMAT_VERSION, MAX_MANIFEST_BYTES, make_manifest, read_manifest, verify_shard_manifests

__all__ = ["ShardedCollection"]

_SEARCH_PARAMS = set(inspect.signature(Index.search).parameters) - {"self", "queries", "k", "filter"}


def _check_where(where: Any, nq: int) -> None:
    """The ``where`` forms a sharded search accepts, checked before anything is sent."""
    def one(w: Any, what: str) -> None:
        if w is None or isinstance(w, (Predicate, Col, str)):
            return
        if isinstance(w, Bitmap) or (isinstance(w, np.ndarray) and w.dtype == np.bool_):
            raise TypeError(f"{what}: a {type(w).__name__} selects rows by row number, and every shard numbers its "
                            f"rows differently; use a predicate (mcindex.col(...)) or a SQL string, which each "
                            f"shard evaluates on its own rows")
        raise TypeError(f"{what} must be a predicate (mcindex.col(...)), a SQL string or None, got {type(w).__name__}")

    if isinstance(where, (list, tuple)):
        if len(where) != nq:
            raise ValueError(f"per-query where: expected {nq} entries (one per query), got {len(where)}")
        for i, w in enumerate(where):
            one(w, f"where[{i}]")
    else:
        one(where, "where")


class ShardedCollection:
    """A :class:`~mcindex.Collection` partitioned into shards, each a Ray actor, searched as one.

    Build with :meth:`build`, reopen with :meth:`load`, search with :meth:`search`; :meth:`close`
    (or a ``with`` block) ends the actors. Results equal those of one collection over all rows
    for ``strategy="exact"`` (ties in distance aside), and carry the external ids (the global
    row numbers when no ids were given).

    Example::

        import mcindex
        from mcindex.distributed import ShardedCollection
        with ShardedCollection.build(vectors, {"price": price}, shards=4, metric="cosine",
                                     path="/shared/shop.mcs") as sc:
            ids, dists = sc.search(queries, k=10, where=mcindex.col("price") < 50)
    """

    def __init__(self, actors: Sequence[Any], meta: dict[str, Any], *, owner: bool, tempdir: str | None = None):
        # Internal: use ShardedCollection.build or ShardedCollection.load.
        self._actors = list(actors)
        self._meta = meta
        self._owner = owner
        self._tempdir = tempdir
        self._closed = False
        self._finalizer = weakref.finalize(self, shutil.rmtree, tempdir, True) if owner and tempdir else None

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def build(cls, vectors: Any, attributes: Any = None, *, shards: int, metric: str, partition: str = "hash",
              ids: Any = None, kinds: Mapping[str, str] | None = None, batch_size: int = 10_000,
              path: str | os.PathLike[str] | None = None, progress: bool = True, balance: float | None = 2.0,
              sample: int = 20_000, seed: int = 0, max_in_flight: int | None = None,
              actor_options: Mapping[str, Any] | None = None, **index_params: Any) -> ShardedCollection:
        """Partition the rows into ``shards`` shard actors, stream them there, and build each
        shard's collection (in parallel, one per actor).

        Args:
            vectors: ``(n, dim)`` array (numpy, ``np.memmap``: read one batch at a time), or an
                iterable of batches: each a vectors array, ``(vectors, attributes)`` or
                ``(vectors, attributes, ids)`` (see :mod:`mcindex.distributed.batches`).
            attributes: a dict of columns, a pandas DataFrame or a pyarrow Table, sliced per
                batch (with array ``vectors`` only). Column kinds are inferred from the values
                (or given in ``kinds``) once for all shards, so every shard agrees.
            shards: number of shards (>= 1, <= n); each one a Ray actor.
            metric: ``"l2"``, ``"ip"`` or ``"cosine"``.
            partition: ``"hash"`` (shard = hash of the id: equal sizes, every query asks every
                shard) or ``"cluster"`` (k-means centroids from a sample of ``sample`` rows:
                shards hold nearby vectors, so ``search(probe=p)`` may ask only the ``p``
                nearest shards). See :mod:`mcindex.distributed.partition`.
            ids: external ids (int64 >= 0, or str), unique over all rows; default: the global
                row numbers ``0 .. n-1``, so results mean the same whatever shard answered.
            kinds: column kinds, as for :meth:`mcindex.Collection.build`.
            batch_size: rows read, checked and sent per batch. The driver holds one batch, plus
                at most ``max_in_flight`` sends not yet received by their shards (default
                ``2 * shards``): memory stays bounded whatever ``n`` is.
            path: directory to build into (must not exist, or be empty): the shards checkpoint
                there and a manifest is written at the end, so the result is also saved
                (:meth:`load` reopens it). Default: a temporary directory, removed by
                :meth:`close`. Shard actors restart from these checkpoints, so on a cluster of
                several machines ``path`` must be on storage every node sees (NFS, a shared
                volume), or a shard restarted on another node cannot recover.
            progress: show progress on stderr (rows sent, shards built).
            balance: cluster partition: no shard takes more than ``balance`` times the mean
                shard size (rows past that go to their next-nearest shard); None: no cap.
                With an iterable of unknown length the cap applies to the rows seen so far.
            sample: cluster partition: rows k-means learns from (a random sample of an array;
                the first rows of an iterable).
            seed: seeds the sample and k-means.
            actor_options: Ray actor options overriding :data:`~.ray_calls.ACTOR_DEFAULTS` (e.g.
                ``{"num_cpus": 1, "memory": 8 << 30}``). Without a ``scheduling_strategy`` in
                them, every alive node with CPUs takes shards in proportion to its CPUs (nodes
                started with ``--num-cpus 0`` take none), each shard pinned to its node: it
                restarts there if its process dies, and a search reports it unavailable if the
                node is lost (``load`` places the shards again on the nodes alive then); see
                :mod:`mcindex.distributed.placement`.
            **index_params: passed to :meth:`mcindex.Index.build` on every shard (``threads``
                default: the node's CPUs divided among the shards on it).

        Raises:
            ValueError / TypeError: bad arguments or data (before any actor is created where the
                input allows: shapes, lengths, parameters), duplicate ids, a shard left empty.
            FileExistsError: ``path`` exists and is not an empty directory.
            ShardError / ShardUnavailableError: a shard failed or died during the build.
        """
        actors, meta, root = build_shards(
            vectors, attributes, shards=shards, metric=metric, partition=partition, ids=ids, kinds=kinds,
            batch_size=batch_size, path=path, progress=progress, balance=balance, sample=sample, seed=seed,
            max_in_flight=max_in_flight, actor_options=actor_options, index_params=index_params)
        out = cls(actors, meta, owner=True, tempdir=root if path is None else None)
        if path is not None:
            write_manifest(root, out._manifest([shard_dir_name(s) for s in range(out.num_shards)]),
                           max_bytes=MAX_MANIFEST_BYTES)
        return out

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, actor_options: Mapping[str, Any] | None = None
             ) -> ShardedCollection:
        """Reopen a sharded collection saved by :meth:`save` (or built with ``path=``): one actor
        per shard, each loading and verifying its directory, which stays its checkpoint.

        The manifest and each shard's manifest checksum are checked here before any actor
        starts; each shard's files when it loads. Connects to Ray first if needed (``RAY_ADDRESS``).
        ``actor_options`` and the placement of shards on nodes are as in :meth:`build`.

        Raises:
            FileNotFoundError: ``path`` does not exist.
            CollectionFormatError: (a ``ValueError``) a missing, damaged or inconsistent manifest
                or shard, naming it.
        """
        root = os.path.abspath(os.fspath(path))
        manifest = read_manifest(root)
        verify_shard_manifests(root, manifest)
        actors = ray_calls.start_actors(actor_options, [os.path.join(root, s["dir"]) for s in manifest["shards"]])
        try:
            infos = ray_calls.gather(actors, [a.info.remote() for a in actors], "load")
            for i, info in enumerate(infos):
                if info["load_error"]:
                    raise CollectionFormatError(f"{root}: shard {i} ({manifest['shards'][i]['dir']}): "
                                                f"{info['load_error']}")
                if info["n"] != manifest["shards"][i]["n"]:
                    raise CollectionFormatError(f"{root}: shard {i} holds {info['n']} rows, the manifest says "
                                                f"{manifest['shards'][i]['n']}")
        except BaseException:
            ray_calls.end(actors)
            raise
        p = manifest["partition"]
        if p["kind"] == "cluster":
            p = {**p, "centroids": np.asarray(p["centroids"], dtype=np.float32)}
        meta = {
            "n": manifest["n"], "dim": manifest["dim"], "metric": manifest["metric"], "ids": manifest.get("ids"),
            "columns": manifest["columns"], "partition": p,
            "shard_sizes": [s["n"] for s in manifest["shards"]],
            "shard_manifests": [s["manifest_sha256"] for s in manifest["shards"]],
            "path": root, "placement": ray_calls.placement_of(actors),
        }
        return cls(actors, meta, owner=True)

    # ---- persistence ----------------------------------------------------------------------------
    def _manifest(self, dirs: Sequence[str]) -> dict[str, Any]:
        from .._version import __version__

        m = self._meta
        p = dict(m["partition"])
        if p["kind"] == "cluster":
            p["centroids"] = [[float(x) for x in row] for row in np.asarray(p["centroids"])]
        return make_manifest(
            version=__version__, n=m["n"], dim=m["dim"], metric=m["metric"], ids=m["ids"], columns=m["columns"],
            partition=p, shards=[{"dir": d, "n": size, "manifest_sha256": sha}
                                 for d, size, sha in zip(dirs, m["shard_sizes"], m["shard_manifests"], strict=True)])

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save every shard (each actor writes its own ``shard-XXXX`` directory, in parallel)
        and the manifest to the directory ``path``, replacing an older sharded collection there
        only once all of it is written (see :mod:`mcindex.distributed.storage`). On a cluster
        of several machines ``path`` must be on storage every node sees.

        Raises:
            FileExistsError: ``path`` exists and is not a (sharded) collection directory.
            ShardUnavailableError: a shard could not save (nothing at ``path`` changes).
        """
        self._check_open()
        with replacing_directory(path, "sharded collection") as tmp:
            dirs = [shard_dir_name(s) for s in range(self.num_shards)]
            refs = [a.save.remote(os.path.join(tmp, d)) for a, d in zip(self._actors, dirs, strict=True)]
            results = ray_calls.gather(self._actors, refs, "save")
            self._meta["shard_manifests"] = [r["manifest_sha256"] for r in results]
            write_manifest(tmp, self._manifest(dirs), max_bytes=MAX_MANIFEST_BYTES)

    # ---- properties ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._meta["n"])

    @property
    def dim(self) -> int:
        return int(self._meta["dim"])

    @property
    def metric(self) -> str:
        return str(self._meta["metric"])

    @property
    def num_shards(self) -> int:
        return len(self._actors)

    @property
    def shard_sizes(self) -> list[int]:
        """Rows per shard, in shard order."""
        return list(self._meta["shard_sizes"])

    @property
    def partition(self) -> str:
        """``"hash"`` or ``"cluster"``."""
        return str(self._meta["partition"]["kind"])

    @property
    def centroids(self) -> np.ndarray | None:
        """The cluster partition's ``(shards, dim)`` centroids (None for hash)."""
        c = self._meta["partition"].get("centroids")
        return None if c is None else np.asarray(c, dtype=np.float32)

    @property
    def kinds(self) -> dict[str, str]:
        """Column name -> kind, in column order."""
        return {name: kind for name, kind in self._meta["columns"]}

    @property
    def actors(self) -> list[Any]:
        """The shard actors' handles, in shard order (for monitoring and tests)."""
        return list(self._actors)

    def __repr__(self) -> str:
        state = ", closed" if self._closed else ""
        return (f"ShardedCollection(n={len(self)}, dim={self.dim}, metric={self.metric!r}, shards={self.num_shards}, "
                f"partition={self.partition!r}{state})")

    def info(self, *, timeout: float | None = 30.0) -> dict[str, Any]:
        """Sizes, partition, and each shard's state (node, pid, rows, checkpoint).

        A shard that does not answer within ``timeout`` seconds, or is dead, is reported with
        ``"error"`` instead of failing the call (info is for monitoring)."""
        self._check_open()
        shards = ray_calls.ask_each([a.info.remote() for a in self._actors], timeout)
        sizes = self.shard_sizes
        mean = len(self) / max(1, self.num_shards)
        return {
            "n": len(self), "dim": self.dim, "metric": self.metric, "num_shards": self.num_shards,
            "ids": self._meta["ids"], "columns": self.kinds, "partition": self.partition,
            "shard_sizes": sizes, "imbalance": max(sizes) / mean if mean else 1.0,
            "path": self._meta["path"], "format_version": FORMAT_VERSION,
            "nodes": len({s.get("node_id") for s in shards if "node_id" in s}),
            "shards": shards,
        }

    # ---- search -------------------------------------------------------------------------------
    def search(self, queries: Any, k: int = 10, where: Any = None, *, allow_partial: bool = False,
               timeout: float | None = None, probe: int | None = None, return_attributes: bool | str = False,
               **search_params: Any) -> tuple[Any, ...]:
        """The ``k`` nearest rows of each query among those ``where`` selects, over all shards.

        Args:
            queries, k: as :meth:`mcindex.Collection.search` (checked here, before fan-out).
            where: a predicate (``mcindex.col(...)``), a SQL string (every node needs the
                ``sql`` extra), None, or a list of these with one per query. Each shard
                applies it to its own rows. Bitmaps and bool masks select by row number,
                which differs per shard, and are refused (``TypeError``).
            allow_partial: if a shard is down or too slow, return what the others found and say
                so (see Returns) instead of raising.
            timeout: seconds to wait for the shards (None: as long as it takes, including a
                dead shard's restart and the retried call).
            probe: cluster partition only: ask just the ``probe`` shards whose centroids are
                nearest each query (faster, approximate: a row in another shard is missed).
                None: every shard (the merge is then exact for ``strategy="exact"``).
            return_attributes: also return the result rows' attributes, as
                :meth:`mcindex.Collection.search` does.
            **search_params: passed to each shard's :meth:`mcindex.Index.search` (``ef``,
                ``strategy``, ``threads``, ``return_stats``, ...). ``threads`` defaults to the
                node's CPUs divided among the shards placed on it.

        Returns:
            ``(ids, distances)`` shaped and padded like :meth:`mcindex.Collection.search`
            (external ids; ``-1``/``None`` and ``inf`` in empty slots), then the attribute table
            when asked, then the stats dict with ``return_stats=True`` (``"valid"``: rows the
            filter selects over all asked shards, per query; ``"shards"``: each shard's own
            stats, None for shards not asked or missing). With ``allow_partial=True`` a last
            element is always added: ``{"partial": bool, "failed_shards": [...],
            "timed_out_shards": [...], "errors": {shard: reason}}``; ``partial`` is True
            exactly when some shard's rows are missing from the answer.

        Raises:
            ValueError / TypeError: bad queries, ``k``, ``where`` or parameters (the same errors
                as ``Collection.search``), or an error a shard raised for them (unknown column,
                bad SQL).
            ShardUnavailableError: a shard is down for good (unless ``allow_partial``), or
                every shard is.
            ShardTimeoutError: shards did not answer within ``timeout`` (unless ``allow_partial``).
        """
        self._check_open()
        k = check_k(k)
        q = as_matrix(queries, "queries", dim=self.dim, allow_1d=True)
        if self.metric == "cosine":
            normalize_rows(q, "queries")  # only to reject zero queries here; each shard normalises
        nq = q.shape[0]
        _check_where(where, nq)
        fmt = resolve_format(return_attributes) if return_attributes is not False else None
        unknown = sorted(set(search_params) - _SEARCH_PARAMS)
        if unknown:
            raise TypeError(f"unknown search parameter(s) {', '.join(unknown)}; Index.search takes "
                            f"{', '.join(sorted(_SEARCH_PARAMS))}")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                    or not timeout >= 0):
            raise ValueError(f"timeout must be a number of seconds >= 0 or None, got {timeout!r}")
        return_stats = bool(search_params.get("return_stats", False))
        params = dict(search_params)
        if return_attributes is not False:
            params["return_attributes"] = fmt

        # Which queries each shard answers: all of them, or (probe) those it is near.
        subsets = self._route(q, probe)
        refs: dict[int, Any] = {}
        everyone = any(sub is None for sub in subsets.values())
        whole = ray_calls.share(q) if everyone else None
        for s, sub in subsets.items():
            shard_params = params if "threads" in params else \
                {**params, "threads": default_threads(self._meta["placement"][s])}
            if sub is None:
                refs[s] = self._actors[s].search.remote(whole, k, where, shard_params)
            else:
                w = [where[i] for i in sub] if isinstance(where, (list, tuple)) else where
                refs[s] = self._actors[s].search.remote(q[sub], k, w, shard_params)
        answers, failed, slow = ray_calls.collect(refs, timeout)
        ray_calls.raise_for_missing(answers, failed, slow, shards=self.num_shards, timeout=timeout,
                                    allow_partial=allow_partial)
        out = self._merge(answers, subsets, nq, k, fmt, return_stats)
        if allow_partial:
            out.append({"partial": bool(failed or slow), "failed_shards": sorted(failed),
                        "timed_out_shards": sorted(slow), "errors": {**failed,
                                                                     **{s: "timeout" for s in slow}}})
        return tuple(out)

    def _route(self, q: np.ndarray, probe: int | None) -> dict[int, np.ndarray | None]:
        """Shard -> the query rows it answers (None: all of them)."""
        if probe is None:
            return {s: None for s in range(self.num_shards)}
        probe = check_int(probe, "probe")
        if self.partition != "cluster":
            raise ValueError("probe needs partition='cluster' (a hash partition spreads every neighbourhood over "
                             "all shards)")
        probe = min(probe, self.num_shards)
        if probe == self.num_shards:
            return {s: None for s in range(self.num_shards)}
        near = part.nearest_centroids(q, self.centroids, self.metric, probe)  # (nq, probe)
        subsets = {}
        for s in range(self.num_shards):
            rows = np.flatnonzero((near == s).any(axis=1))
            if rows.size:
                subsets[s] = rows
        return subsets

    def _merge(self, answers: dict[int, tuple[Any, ...]], subsets: dict[int, np.ndarray | None], nq: int, k: int,
               fmt: str | None, return_stats: bool) -> list[Any]:
        """Expand each shard's answer to all ``nq`` queries (padding queries it was not asked),
        merge, and gather the attribute rows and stats of the winners."""
        order = sorted(answers)
        str_ids = self._meta["ids"] == "str"
        ids_l, d_l, qmaps = [], [], []
        for s in order:
            a = answers[s]
            sub = subsets[s]
            if sub is None:
                ids_l.append(np.asarray(a[0]))
                d_l.append(np.asarray(a[1], dtype=np.float32))
                qmaps.append(np.arange(nq))
            else:
                full_i = np.full((nq, k), None if str_ids else -1, dtype=object if str_ids else np.int64)
                full_d = np.full((nq, k), np.inf, dtype=np.float32)
                full_i[sub], full_d[sub] = a[0], a[1]
                qmap = np.full(nq, -1, dtype=np.int64)
                qmap[sub] = np.arange(sub.size)
                ids_l.append(full_i)
                d_l.append(full_d)
                qmaps.append(qmap)
        ids, dists, source = merge_topk(ids_l, d_l, k)
        out: list[Any] = [ids, dists]
        if fmt is not None:
            out.append(_gather_rows([answers[s][2] for s in order], qmaps, source, nq, k, fmt))
        if return_stats:
            pos = 3 if fmt is not None else 2
            per_shard: list[Any] = [None] * self.num_shards
            valid = np.zeros(nq, dtype=np.int64)
            for s, qmap in zip(order, qmaps, strict=True):
                st = answers[s][pos]
                per_shard[s] = st
                asked = qmap >= 0
                valid[asked] += np.asarray(st["valid"], dtype=np.int64)[qmap[asked]]
            out.append({"valid": valid, "shards": per_shard})
        return out

    # ---- lifetime -------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("this ShardedCollection is closed")

    def close(self) -> None:
        """End the shard actors and remove the temporary checkpoint directory, if any (only the
        process that built or loaded the collection does that; closing a pickled copy just
        stops that copy from being used). Saved directories are never removed."""
        if self._closed:
            return
        self._closed = True
        if not self._owner:
            return
        ray_calls.end(self._actors)
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self) -> ShardedCollection:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        # A copy is a client of the same actors, never their owner (see close()).
        return {"actors": self._actors, "meta": self._meta, "closed": self._closed}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._actors = state["actors"]
        self._meta = state["meta"]
        self._owner = False
        self._tempdir = None
        self._closed = state["closed"]
        self._finalizer = None


# ---- helpers --------------------------------------------------------------------------------------
def _gather_rows(tables: list[Any], qmaps: list[np.ndarray], source: np.ndarray, nq: int, k: int, fmt: str) -> Any:
    """The attribute rows of the merged results, taken from the shards' tables.

    ``source`` holds flat positions into the shards' expanded ``(nq, k)`` blocks; shard ``i``'s
    table has ``k`` rows per query it was asked. An empty slot takes the last row of the same
    query in a shard that was asked it: that row is empty too (the merge found fewer than ``k``
    rows, so every asked shard did)."""
    block = nq * k
    sizes = [len(t) if not isinstance(t, dict) else (len(next(iter(t.values()))) if t else 0) for t in tables]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    flat = source.ravel()
    rows = np.empty(flat.size, dtype=np.int64)
    hit = flat >= 0
    shard = flat[hit] // block
    within = flat[hit] % block
    qq, jj = within // k, within % k
    qmap_all = np.stack(qmaps)  # (shards, nq)
    rows[hit] = offsets[shard] + qmap_all[shard, qq] * k + jj
    if not hit.all():
        q_empty = np.flatnonzero(~hit) // k
        first = np.argmax(qmap_all[:, q_empty] >= 0, axis=0)  # a shard asked that query
        rows[~hit] = offsets[first] + qmap_all[first, q_empty] * k + (k - 1)
    if fmt == "arrow":
        import pyarrow as pa

        return pa.concat_tables(tables, promote_options="default").take(pa.array(rows))
    if fmt == "pandas":
        import pandas as pd

        return pd.concat(tables, ignore_index=True).iloc[rows].reset_index(drop=True)
    if not tables or not tables[0]:
        return {}
    return {name: np.concatenate([t[name] for t in tables])[rows] for name in tables[0]}
