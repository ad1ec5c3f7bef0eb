"""ShardedCollection: a collection split over Ray actors, searched as one.

The driver (this object) partitions rows (:mod:`.partition`), streams them to one
:class:`~.shard.Shard` actor per shard, fans each search out to the shards in parallel, and
merges their top-k lists (:mod:`.merge`). It holds no vectors itself: only actor handles and a
little metadata, so it pickles cheaply and a copy in another Ray process (a web server
replica, a task) searches the same actors.

Failure handling, in one place:

* An actor whose process dies is restarted by Ray (``max_restarts``), reloads its shard from
  its checkpoint directory, and Ray re-sends the call that was in flight (``max_task_retries``):
  the search waits, then returns the full answer.
* A shard that stays down (restarts exhausted, checkpoint gone or damaged) makes the search
  raise :class:`~.errors.ShardUnavailableError` naming it; a ``timeout`` that expires raises
  :class:`~.errors.ShardTimeoutError` naming the slow shards. With ``allow_partial=True`` the
  search instead returns what the other shards found plus a trailing dict saying
  ``partial=True`` and which shards are missing. Results are never silently partial.
"""

from __future__ import annotations

import inspect
import math
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import ray
from ray.exceptions import RayActorError, RayError, RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from .._checks import check_int
from .._progress import Progress
from ..bitmap import Bitmap
from ..collection.columns import KINDS
from ..collection.predicates import Col, Predicate
from ..collection.storage import CollectionFormatError, replacing_directory, write_manifest
from ..collection.table import resolve_format
from ..exact import as_matrix, check_k, check_metric, normalize_rows
from ..index import Index
from . import partition as part
from .batches import Batch, infer_kinds, iter_batches, take_rows
from .errors import ShardError, ShardTimeoutError, ShardUnavailableError
from .merge import merge_topk
from .shard import Shard, shard_dir_name
from .storage import FORMAT_VERSION, MAX_MANIFEST_BYTES, make_manifest, read_manifest, verify_shard_manifests

__all__ = ["ShardedCollection"]

#: How shard actors are created unless ``actor_options`` says otherwise. ``num_cpus=0``: an
#: actor reserves no CPU, so any number of shards fit on a node (four on a 2-CPU machine);
#: the work's parallelism is set by ``threads``, which defaults to the node's CPUs divided
#: among the shards placed there. No ``scheduling_strategy``: unless the caller gives one, the
#: shards are spread over the alive nodes in proportion to their CPUs (see ``build``).
ACTOR_DEFAULTS: dict[str, Any] = {"num_cpus": 0, "max_restarts": 3, "max_task_retries": 3}

_BUILD_PARAMS = set(inspect.signature(Index.build).parameters) - {"cls", "data", "metric"}
_SEARCH_PARAMS = set(inspect.signature(Index.search).parameters) - {"self", "queries", "k", "filter"}
_USER_ERRORS = (ValueError, TypeError, ImportError, KeyError)
_INLINE_BYTES = 64 << 10  # below Ray's own inline limit (100 KiB) for task arguments


def _ensure_ray() -> None:
    """Connect to Ray if this process is not connected yet. ``ray.init()`` joins the cluster
    named by ``RAY_ADDRESS`` (or one started on this machine with ``ray start``), else starts a
    local one."""
    if not ray.is_initialized():
        ray.init()


def _plan_nodes(shards: int) -> list[str] | None:
    """A node for each shard: every alive node with CPUs takes shards in proportion to its CPUs
    (the next shard goes where shards per CPU stays lowest; on a tie, to the node holding fewer
    shards, then the one with more CPUs, then by id). None when no node reports CPUs.

    Ray's ``SPREAD`` is best effort and blind to capacity for actors that reserve no CPU: on a
    live two-node cluster it put all four shards on one node in about one build in ten, and it would put
    shards on a head node started with ``--num-cpus 0`` to keep it free."""
    cpus = {n["NodeID"]: float(n.get("Resources", {}).get("CPU", 0.0)) for n in ray.nodes() if n.get("Alive")}
    order = sorted((node for node, c in cpus.items() if c > 0), key=lambda node: (-cpus[node], node))
    if not order:
        return None
    placed = dict.fromkeys(order, 0)
    plan = []
    for _ in range(shards):
        node = min(order, key=lambda nd: ((placed[nd] + 1) / cpus[nd], placed[nd]))
        placed[node] += 1
        plan.append(node)
    return plan


def _start_actors(options: Mapping[str, Any], shard_dirs: Sequence[str]) -> list[Any]:
    """One shard actor per directory (each loads its checkpoint, if there is one, as it starts).

    Unless ``options`` names a ``scheduling_strategy``, shard ``s`` is pinned to node
    ``_plan_nodes(...)[s]``. The pin is strict: with ``soft=True`` Ray started some shard of the
    two-node test cluster off its planned node in 18 of 20 builds, and in 3 a shard was still
    off after four more starts. A shard whose process dies restarts on its node, from its checkpoint; a shard
    whose node is gone cannot be scheduled, which a search reports as unavailable, naming it
    (``load`` places the shards again, on the nodes alive then)."""
    cls = ray.remote(Shard)
    plan = None if "scheduling_strategy" in options else _plan_nodes(len(shard_dirs))
    if plan is None:
        opts = {"scheduling_strategy": "SPREAD", **options}
        return [cls.options(**opts).remote(s, d) for s, d in enumerate(shard_dirs)]
    return [cls.options(**options, scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(s, d)
            for s, (node, d) in enumerate(zip(plan, shard_dirs))]


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


def _unwrap(exc: BaseException) -> BaseException:
    """The shard's own exception inside Ray's wrapper (``RayTaskError.cause``)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(exc, RayTaskError) and isinstance(cause, BaseException) else exc


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}"


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
            actor_options: Ray actor options overriding :data:`ACTOR_DEFAULTS` (e.g.
                ``{"num_cpus": 1, "memory": 8 << 30}``). Without a ``scheduling_strategy`` in
                them, every alive node with CPUs takes shards in proportion to its CPUs (nodes
                started with ``--num-cpus 0`` take none), each shard pinned to its node: it
                restarts there if its process dies, and a search reports it unavailable if the
                node is lost (``load`` places the shards again on the nodes alive then).
            **index_params: passed to :meth:`mcindex.Index.build` on every shard (``threads``
                default: the node's CPUs divided among the shards on it).

        Raises:
            ValueError / TypeError: bad arguments or data (before any actor is created where the
                input allows: shapes, lengths, parameters), duplicate ids, a shard left empty.
            FileExistsError: ``path`` exists and is not an empty directory.
            ShardError / ShardUnavailableError: a shard failed or died during the build.
        """
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

        root, created = cls._prepare_path(path)
        options = {**ACTOR_DEFAULTS, **dict(actor_options or {})}
        _ensure_ray()
        actors: list[Any] = []
        try:
            actors = _start_actors(options, [os.path.join(root, shard_dir_name(s)) for s in range(shards)])
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
            placement = _placement(actors)
            infos = builder.finish({c: final_kinds[c] for c in stats["columns"]}, index_params, placement)
        except BaseException:
            for a in actors:
                ray.kill(a, no_restart=True)
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
        out = cls(actors, meta, owner=True, tempdir=root if path is None else None)
        if path is not None:
            write_manifest(root, out._manifest([shard_dir_name(s) for s in range(shards)]),
                           max_bytes=MAX_MANIFEST_BYTES)
        return out

    @staticmethod
    def _prepare_path(path: str | os.PathLike[str] | None) -> tuple[str, bool]:
        """(checkpoint root, whether this call created it)."""
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
        options = {**ACTOR_DEFAULTS, **dict(actor_options or {})}
        _ensure_ray()
        actors = _start_actors(options, [os.path.join(root, s["dir"]) for s in manifest["shards"]])
        try:
            infos = _gather(actors, [a.info.remote() for a in actors], "load")
            for i, info in enumerate(infos):
                if info["load_error"]:
                    raise CollectionFormatError(f"{root}: shard {i} ({manifest['shards'][i]['dir']}): "
                                                f"{info['load_error']}")
                if info["n"] != manifest["shards"][i]["n"]:
                    raise CollectionFormatError(f"{root}: shard {i} holds {info['n']} rows, the manifest says "
                                                f"{manifest['shards'][i]['n']}")
        except BaseException:
            for a in actors:
                ray.kill(a, no_restart=True)
            raise
        p = manifest["partition"]
        if p["kind"] == "cluster":
            p = {**p, "centroids": np.asarray(p["centroids"], dtype=np.float32)}
        meta = {
            "n": manifest["n"], "dim": manifest["dim"], "metric": manifest["metric"], "ids": manifest.get("ids"),
            "columns": manifest["columns"], "partition": p,
            "shard_sizes": [s["n"] for s in manifest["shards"]],
            "shard_manifests": [s["manifest_sha256"] for s in manifest["shards"]],
            "path": root, "placement": _placement(actors),
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
            results = _gather(self._actors, [a.save.remote(os.path.join(tmp, d)) for a, d in zip(self._actors, dirs,
                                                                                                  strict=True)], "save")
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
        refs = [a.info.remote() for a in self._actors]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout)
        ready_set = set(ready)
        shards = []
        for s, ref in enumerate(refs):
            if ref not in ready_set:
                shards.append({"shard": s, "error": f"no answer within {timeout} s"})
                continue
            try:
                shards.append(ray.get(ref))
            except Exception as exc:  # a dead shard is information here, not an error
                shards.append({"shard": s, "error": _describe(_unwrap(exc))})
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
        # One copy in the object store for every shard, unless the batch is small: Ray then sends
        # it inline with each call, which saves a store round trip (about 1 ms per search).
        everyone = any(sub is None for sub in subsets.values())
        whole = (ray.put(q) if q.nbytes > _INLINE_BYTES else q) if everyone else None
        for s, sub in subsets.items():
            shard_params = params if "threads" in params else {**params, "threads": self._default_threads(s)}
            if sub is None:
                refs[s] = self._actors[s].search.remote(whole, k, where, shard_params)
            else:
                w = [where[i] for i in sub] if isinstance(where, (list, tuple)) else where
                refs[s] = self._actors[s].search.remote(q[sub], k, w, shard_params)
        answers, failed, slow = _collect(refs, timeout)
        if (failed or slow) and not (allow_partial and answers):
            names = ", ".join(f"shard {s}: {why}" for s, why in sorted(failed.items()))
            if failed:
                extra = f"; shard(s) {sorted(slow)} also did not answer within {timeout} s" if slow else ""
                raise ShardUnavailableError(
                    f"{len(failed)} of {self.num_shards} shard(s) unavailable ({names}){extra}; "
                    f"{'no shard answered' if allow_partial else 'pass allow_partial=True to accept partial results'}",
                    sorted(failed), [failed[s] for s in sorted(failed)])
            raise ShardTimeoutError(f"shard(s) {sorted(slow)} did not answer within {timeout} s"
                                    + ("" if allow_partial else "; pass allow_partial=True to accept partial results"),
                                    sorted(slow))
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

    def _default_threads(self, shard: int) -> int:
        node, cpus, on_node = self._meta["placement"][shard]
        return max(1, int(cpus) // max(1, on_node))

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
        for a in self._actors:
            try:
                ray.kill(a, no_restart=True)
            except Exception:  # already gone, or Ray shut down first: nothing left to end
                pass
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
def _placement(actors: Sequence[Any]) -> list[tuple[str, float, int]]:
    """Per shard: (node id, the node's CPUs as Ray knows them, shards on that node)."""
    nodes = _gather(actors, [a.node_id.remote() for a in actors], "start")
    cpus = {n["NodeID"]: n.get("Resources", {}).get("CPU", 1.0) for n in ray.nodes() if n.get("Alive", True)}
    count: dict[str, int] = {}
    for node in nodes:
        count[node] = count.get(node, 0) + 1
    return [(node, float(cpus.get(node, os.cpu_count() or 1)), count[node]) for node in nodes]


def _collect(refs: Mapping[int, Any], timeout: float | None
             ) -> tuple[dict[int, Any], dict[int, str], list[int]]:
    """Wait for the shards' answers: (answers, failed shard -> reason, shards that timed out).

    A shard's own ValueError / TypeError (a bad ``where`` it could not compile, say) is the
    caller's mistake, identical on every shard: it is raised as is."""
    by_ref = {ref: s for s, ref in refs.items()}
    ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout)
    answers: dict[int, Any] = {}
    failed: dict[int, str] = {}
    for ref in ready:
        s = by_ref[ref]
        try:
            answers[s] = ray.get(ref)
        except RayActorError as exc:
            failed[s] = _describe(exc)
        except RayTaskError as exc:
            cause = _unwrap(exc)
            if isinstance(cause, _USER_ERRORS):
                raise cause from None
            failed[s] = _describe(cause)
        except RayError as exc:  # e.g. the result object was lost with its node
            failed[s] = _describe(exc)
    slow = sorted(set(refs) - set(answers) - set(failed))
    return answers, failed, slow


def _gather(actors: Sequence[Any], refs: Sequence[Any], what: str) -> list[Any]:
    """Every shard's answer, in order; ShardUnavailableError naming the shards that failed."""
    answers, failed, _ = _collect(dict(enumerate(refs)), None)
    if failed:
        names = ", ".join(f"shard {s}: {why}" for s, why in sorted(failed.items()))
        raise ShardUnavailableError(f"{what} failed on {len(failed)} of {len(actors)} shard(s) ({names})",
                                    sorted(failed), [failed[s] for s in sorted(failed)])
    return [answers[s] for s in range(len(refs))]


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


class _Builder:
    """The streaming part of :meth:`ShardedCollection.build`: partition each batch, send its rows
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
                _gather(self.actors, done, "sending rows")
        _gather(self.actors, pending, "sending rows")
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
                _, cpus, on_node = placement[s]
                params["threads"] = max(1, int(cpus) // max(1, on_node))
            refs.append(a.finish.remote(int(self.sent[s]), self.metric, kinds, params))
        bar = Progress(total=self.shards, desc="building shards", silent=not self.progress)
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            bar.update(len(done))
        bar.clear()
        return _gather(self.actors, refs, "build")


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
