"""Index adapters: one small class per engine the benchmark can sweep, found by name.

Every adapter follows :class:`IndexAdapter`:

* ``build(data, metric, threads=...)`` builds once (timed into ``build_seconds``);
* ``search(queries, k, filters, knob_value, threads=...)`` returns ids ``int64[nq, k]``,
  padded with -1 where fewer than ``k`` allowed points were found;
* ``knob_name`` / ``default_knobs`` describe the one search setting the harness sweeps
  (``None`` / ``()`` for engines without one, which are measured once);
* ``index_bytes()`` reports the memory the built index holds.

Engines register themselves with :func:`register`; :func:`create` makes one by name. A new
engine (e.g. "mci") is one subclass decorated with ``@register``. The harness makes every
adapter by name alone, so a configuration a user can ask for with ``--index`` is a registered
name of its own: ``faiss-hnsw-m16`` / ``faiss-hnsw-m48`` are subclasses of ``faiss-hnsw`` that
change its default M.

Metrics follow the package convention ("l2", "ip", "cosine"). For cosine the FAISS adapters
normalise data and queries and use inner product; hnswlib uses its own "cosine" space.

A filter that allows every point is searched as "no filter": each engine has a faster
unfiltered path, and a caller with nothing to filter would use it.

The FAISS and hnswlib engines are optional (the ``bench`` extra); :func:`check_available`
raises :class:`MissingDependency` naming ``pip install "mcindex[bench]"`` before any work.
"""

from __future__ import annotations

import abc
import importlib
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import numpy as np

from .._checks import METRICS
from ..bitmap import Bitmap

__all__ = [
    "METRICS",
    "ExactAdapter",
    "FaissFlatAdapter",
    "FaissHNSWAdapter",
    "FaissHNSWM16Adapter",
    "FaissHNSWM48Adapter",
    "FaissHNSWSQ8Adapter",
    "FaissSQ8Adapter",
    "HNSWPostfilterAdapter",
    "HnswlibAdapter",
    "IndexAdapter",
    "MissingDependency",
    "available",
    "check_available",
    "create",
    "get",
    "register",
]


_BENCH_EXTRA = 'pip install "mcindex[bench]"'


class MissingDependency(ImportError):
    """An index's optional library is not installed."""


def _import(module: str, index_name: str) -> Any:
    """Import ``module`` or raise :class:`MissingDependency` telling how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            f'index "{index_name}" needs the Python package "{module}", which is not installed; '
            f"install the benchmark extra with: {_BENCH_EXTRA}"
        ) from exc


def _normalized(x: np.ndarray) -> np.ndarray:
    """Unit-length float32 rows; zero rows are an error (cosine is undefined for them)."""
    norms = np.linalg.norm(x, axis=1)
    if np.any(norms == 0):
        raise ValueError(f"cosine metric: {int(np.count_nonzero(norms == 0))} zero vector(s) in the input")
    return np.ascontiguousarray(x / norms[:, None], dtype=np.float32)


def _is_full(bm: Bitmap) -> bool:
    """True when the filter allows every point (searched as no filter)."""
    return bm.count() == bm.size


def _per_query(n_queries: int, one: Callable[[int], None], threads: int,
               init: Callable[[], None] | None = None) -> None:
    """Call ``one(i)`` for every query, on ``threads`` Python threads when > 1.

    The FAISS and hnswlib calls release the GIL, so threads overlap their searches. Each
    thread takes a contiguous slice of the queries.
    """
    if threads <= 1 or n_queries <= 1:
        if init is not None:
            init()
        for i in range(n_queries):
            one(i)
        return

    def run_slice(lo: int, hi: int) -> None:
        if init is not None:
            init()
        for i in range(lo, hi):
            one(i)

    bounds = np.linspace(0, n_queries, min(threads, n_queries) + 1).astype(int)
    with ThreadPoolExecutor(max_workers=len(bounds) - 1) as pool:
        futures = [pool.submit(run_slice, int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:])]
        for fut in futures:
            fut.result()


class IndexAdapter(abc.ABC):
    """What the harness needs from an engine. Subclass, set the class attributes, implement
    :meth:`_build`, :meth:`_search` and :meth:`index_bytes`, and decorate with :func:`register`.

    Class attributes:
        name: the registry name (``--index NAME``).
        knob_name: the swept search setting, e.g. ``"efSearch"``; None if there is none.
        default_knobs: knob values swept by default, cheapest first. Values below ``k`` are
            dropped for engines whose knob must be ``>= k`` (``knob_min_is_k``).
        requires: importable modules the engine needs (checked by :meth:`check_available`).

    Attributes set by :meth:`build`:
        build_seconds: wall time of the build (for a shared build, the original build's time).
        shared_build: True when the built structure was reused from another adapter in the
            same run (``hnsw-postfilter`` searches the ``faiss-hnsw`` graph).
    """

    name: ClassVar[str] = ""
    knob_name: ClassVar[str | None] = None
    default_knobs: ClassVar[tuple[int, ...]] = ()
    knob_min_is_k: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.build_seconds: float = math.nan
        self.shared_build: bool = False
        self.metric: str | None = None
        self.n: int = 0
        self.dim: int = 0

    # ---- what the harness calls ---------------------------------------------------
    @classmethod
    def check_available(cls) -> None:
        """Raise :class:`MissingDependency` if a required library is missing."""
        for module in cls.requires:
            _import(module, cls.name)

    def knob_values(self, k: int) -> list[int | None]:
        """The default sweep for ``k`` neighbours: ``[None]`` when there is no knob."""
        if self.knob_name is None:
            return [None]
        values: list[int | None] = [v for v in self.default_knobs if not self.knob_min_is_k or v >= k]
        return values or [k]

    def details(self) -> dict[str, Any]:
        """Extra build-side figures for the report (e.g. the clique index's statistics)."""
        return {}

    def params(self) -> dict[str, Any]:
        """Construction parameters, recorded in the benchmark report."""
        return {}

    def build(self, data: np.ndarray, metric: str, *, threads: int = 1,
              shared: dict[Any, Any] | None = None) -> None:
        """Build over ``data`` (float32 ``[n, d]``) for ``metric``; time it into ``build_seconds``.

        ``shared`` is one dict per benchmark run (same data and metric for every adapter):
        adapters may store or reuse an expensive structure there under their own keys.
        """
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        data = np.ascontiguousarray(data, dtype=np.float32)
        if data.ndim != 2 or data.shape[0] == 0:
            raise ValueError(f"data must be a non-empty 2-D array, got shape {data.shape}")
        self.metric = metric
        self.n, self.dim = data.shape
        start = time.perf_counter()
        self._build(data, metric, threads, shared if shared is not None else {})
        if not self.shared_build:
            self.build_seconds = time.perf_counter() - start

    def search(self, queries: np.ndarray, k: int, filters: Sequence[Bitmap],
               knob_value: int | None = None, *, threads: int = 1) -> np.ndarray:
        """Ids (int64 ``[nq, k]``, -1 padded) of the ``k`` nearest allowed points per query.

        ``filters[i]`` is query ``i``'s allowed set (a :class:`Bitmap` over the ``n`` points).
        """
        if self.metric is None:
            raise RuntimeError(f"index {self.name!r} must be built before searching")
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"queries must have shape (nq, {self.dim}), got {queries.shape}")
        if len(filters) != queries.shape[0]:
            raise ValueError(f"need one filter per query: {len(filters)} filters for {queries.shape[0]} queries")
        for bm in filters:
            if not isinstance(bm, Bitmap) or bm.size != self.n:
                raise ValueError(f"each filter must be a Bitmap of size {self.n}")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        ids = self._search(queries, k, list(filters), knob_value, threads)
        ids = np.asarray(ids, dtype=np.int64)
        if ids.shape != (queries.shape[0], k):
            raise RuntimeError(f"index {self.name!r} returned shape {ids.shape}, expected {(queries.shape[0], k)}")
        return ids

    # ---- what an engine implements -----------------------------------------------
    @abc.abstractmethod
    def _build(self, data: np.ndarray, metric: str, threads: int, shared: dict[Any, Any]) -> None:
        """Build the engine's structure (``data`` is float32 C-contiguous)."""

    @abc.abstractmethod
    def _search(self, queries: np.ndarray, k: int, filters: list[Bitmap],
                knob_value: int | None, threads: int) -> np.ndarray:
        """Search (inputs validated); return ids of shape ``[nq, k]``."""

    @abc.abstractmethod
    def index_bytes(self) -> int:
        """Bytes of memory the built index holds (vectors included)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, n={self.n}, dim={self.dim}, metric={self.metric!r})"


# ---- registry ------------------------------------------------------------------------
_REGISTRY: dict[str, type[IndexAdapter]] = {}


def register(cls: type[IndexAdapter]) -> type[IndexAdapter]:
    """Class decorator: make ``cls`` available as ``--index cls.name``."""
    if not (isinstance(cls, type) and issubclass(cls, IndexAdapter)) or not cls.name:
        raise TypeError("register() takes an IndexAdapter subclass with a non-empty `name`")
    _REGISTRY[cls.name] = cls
    return cls


def available() -> tuple[str, ...]:
    """Registered index names, in registration order."""
    return tuple(_REGISTRY)


def get(name: str) -> type[IndexAdapter]:
    """The adapter class registered as ``name`` (ValueError listing the names if unknown)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown index {name!r}; choose from {', '.join(available())}") from None


def create(name: str, **params: Any) -> IndexAdapter:
    """A new, unbuilt adapter by name (``params`` go to its constructor)."""
    return get(name)(**params)


def check_available(names: Sequence[str]) -> None:
    """Fail fast: unknown names raise ValueError, missing libraries :class:`MissingDependency`."""
    for name in names:
        get(name).check_available()


# ---- engines -------------------------------------------------------------------------
@register
class ExactAdapter(IndexAdapter):
    """mcindex's exact search (:class:`mcindex.ExactIndex`): the whole batch in one call, the
    per-query filters handed to the core, which loops and parallelises in C++. No knob."""

    name = "exact"

    def __init__(self) -> None:
        super().__init__()
        self._index: Any = None

    def _build(self, data: np.ndarray, metric: str, threads: int, shared: dict[Any, Any]) -> None:
        from ..exact import ExactIndex

        self._index = ExactIndex(data, metric)

    def _search(self, queries: np.ndarray, k: int, filters: list[Bitmap],
                knob_value: int | None, threads: int) -> np.ndarray:
        per_query = [None if _is_full(bm) else bm for bm in filters]
        flt = None if all(f is None for f in per_query) else per_query
        ids, _ = self._index.search(queries, k, filter=flt, threads=threads)
        return ids

    def index_bytes(self) -> int:
        return int(self._index.nbytes) if self._index is not None else 0


@register
class MCIAdapter(IndexAdapter):
    """The Maximal Clique Index (:class:`mcindex.Index`, default build parameters) searched
    with its planner (``strategy="auto"``). Knob: ``ef``. The whole batch goes to the core in
    one call with the per-query filters. ``mci-cliques`` and ``mci-graph`` force one strategy
    each on the same built index."""

    name = "mci"
    knob_name = "ef"
    default_knobs = (10, 16, 32, 64, 128, 256, 512)
    strategy = "auto"

    def __init__(self, **build_params: Any) -> None:
        super().__init__()
        self._build_params = build_params
        self._index: Any = None

    def params(self) -> dict[str, Any]:
        base = dict(self._index.build_params) if self._index is not None else dict(self._build_params)
        return {**base, "strategy": self.strategy}

    def _build(self, data: np.ndarray, metric: str, threads: int, shared: dict[Any, Any]) -> None:
        from ..index import Index

        key = ("mcindex.Index", metric, tuple(sorted(self._build_params.items())))
        owner = shared.get(key)
        if owner is not None:  # built earlier in this run by another mci strategy
            self._index, self.build_seconds = owner._index, owner.build_seconds
            self.shared_build = True
            return
        self._index = Index.build(data, metric, threads=threads, progress=False, **self._build_params)
        shared[key] = self

    def _search(self, queries: np.ndarray, k: int, filters: list[Bitmap],
                knob_value: int | None, threads: int) -> np.ndarray:
        per_query = [None if _is_full(bm) else bm for bm in filters]
        flt = None if all(f is None for f in per_query) else per_query
        ids, _ = self._index.search(queries, k, flt, ef=int(knob_value or 64), strategy=self.strategy,
                                    threads=threads)
        return ids

    def details(self) -> dict[str, Any]:
        return self._index.stats() if self._index is not None else {}

    def index_bytes(self) -> int:
        if self._index is None:
            return 0
        st = self._index.stats()
        return int(st["graph_bytes"] + st["vector_bytes"])


@register
class MCICliquesAdapter(MCIAdapter):
    """The clique index with every query sent to the clique traversal."""

    name = "mci-cliques"
    strategy = "mci"


@register
class MCIGraphAdapter(MCIAdapter):
    """The clique index with every query sent to its navigable graph."""

    name = "mci-graph"
    strategy = "graph"


class _FaissBase(IndexAdapter):
    """Shared FAISS plumbing: metric mapping, cosine normalisation, bitmap selectors."""

    requires = ("faiss",)

    def __init__(self) -> None:
        super().__init__()
        self._faiss: Any = None
        self._index: Any = None

    def _faiss_metric(self, metric: str) -> int:
        return self._faiss.METRIC_L2 if metric == "l2" else self._faiss.METRIC_INNER_PRODUCT

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        return _normalized(x) if self.metric == "cosine" else x

    def _selector(self, bm: Bitmap) -> tuple[Any, np.ndarray]:
        """An ``IDSelectorBitmap`` over ``bm`` and the byte buffer it points into.

        The Bitmap's words are little-endian uint64, so bit ``i`` sits in byte ``i >> 3`` at
        bit ``i & 7``: exactly FAISS's layout. The caller must keep the buffer alive while the
        selector is in use.
        """
        buf = bm.words.view(np.uint8)
        return self._faiss.IDSelectorBitmap(bm.size, self._faiss.swig_ptr(buf)), buf

    def index_bytes(self) -> int:
        """The length of ``faiss.serialize_index``: everything the index holds in memory, i.e.
        the float vectors or 8-bit codes (plus the quantizer's trained ranges) and, for HNSW,
        the level of every point and its neighbour lists (all allocated slots, int32 each)."""
        if self._index is None:
            return 0
        return int(self._faiss.serialize_index(self._index).nbytes)


@register
class FaissFlatAdapter(_FaissBase):
    """FAISS ``IndexFlatL2`` / ``IndexFlatIP`` with an ``IDSelectorBitmap`` per query, searched
    one query at a time (FAISS takes one selector per call). No knob."""

    name = "faiss-flat"

    def _new_index(self, metric: str) -> Any:
        """The empty FAISS index this adapter scans."""
        faiss = self._faiss
        return faiss.IndexFlatL2(self.dim) if metric == "l2" else faiss.IndexFlatIP(self.dim)

    def _build(self, data: np.ndarray, metric: str, threads: int, shared: dict[Any, Any]) -> None:
        faiss = self._faiss = _import("faiss", self.name)
        faiss.omp_set_num_threads(threads)
        x = self._prepare(data)
        index = self._new_index(metric)
        if not index.is_trained:  # a quantizer learns its ranges first (part of the timed build)
            index.train(x)
        index.add(x)
        self._index = index

    def _search(self, queries: np.ndarray, k: int, filters: list[Bitmap],
                knob_value: int | None, threads: int) -> np.ndarray:
        faiss = self._faiss
        q = self._prepare(queries)
        out = np.full((q.shape[0], k), -1, dtype=np.int64)

        def one(i: int) -> None:
            bm = filters[i]
            if _is_full(bm):
                _, ids = self._index.search(q[i:i + 1], k)
            else:
                sel, buf = self._selector(bm)
                _, ids = self._index.search(q[i:i + 1], k, params=faiss.SearchParameters(sel=sel))
                del buf  # kept alive until the search returned
            out[i] = ids[0]

        _per_query(q.shape[0], one, threads, init=lambda: faiss.omp_set_num_threads(1))
        return out


@register
class FaissSQ8Adapter(FaissFlatAdapter):
    """FAISS ``IndexScalarQuantizer`` with ``QT_8bit`` (one byte per dimension, each dimension's
    range learnt from the data): a flat scan over 8-bit codes with an ``IDSelectorBitmap`` per
    query, one query at a time. Distances are computed on the decoded codes, so the ranking is
    approximate and recall is below 1 (reported as measured). No knob."""

    name = "faiss-sq8"

    def params(self) -> dict[str, Any]:
        return {"quantizer": "QT_8bit"}

    def _new_index(self, metric: str) -> Any:
        faiss = self._faiss
        return faiss.IndexScalarQuantizer(self.dim, faiss.ScalarQuantizer.QT_8bit, self._faiss_metric(metric))


@register
class FaissHNSWAdapter(_FaissBase):
    """FAISS ``IndexHNSWFlat`` (M=32, efConstruction=200) with an ``IDSelectorBitmap`` per query
    in ``SearchParametersHNSW``; one query at a time. Knob: ``efSearch`` (>= k).

    ``faiss-hnsw-m16`` and ``faiss-hnsw-m48`` are the same with M=16 and M=48 (each its own
    build); ``faiss-hnsw-sq8`` stores 8-bit codes instead of floats.
    """

    name = "faiss-hnsw"
    knob_name = "efSearch"
    default_knobs = (10, 16, 32, 64, 128, 256, 512, 1024)
    default_M: ClassVar[int] = 32

    def __init__(self, M: int | None = None, ef_construction: int = 200) -> None:
        super().__init__()
        self.M = self.default_M if M is None else M
        self.ef_construction = ef_construction

    def params(self) -> dict[str, Any]:
        return {"M": self.M, "efConstruction": self.ef_construction}

    def _new_index(self, metric: str) -> Any:
        """The empty FAISS HNSW index (its efConstruction is set by :meth:`_build`)."""
        return self._faiss.IndexHNSWFlat(self.dim, self.M, self._faiss_metric(metric))

    def _build(self, data: np.ndarray, metric: str, threads: int, shared: dict[Any, Any]) -> None:
        faiss = self._faiss = _import("faiss", self.name)
        index = self._new_index(metric)
        key = (f"faiss.{type(index).__name__}", metric, self.M, self.ef_construction)
        owner = shared.get(key)
        if owner is not None:  # built earlier in this run (its build() has set build_seconds)
            self._index, self.build_seconds = owner._index, owner.build_seconds
            self.shared_build = True
            return
        faiss.omp_set_num_threads(threads)
        index.hnsw.efConstruction = self.ef_construction
        x = self._prepare(data)
        if not index.is_trained:  # a quantized storage learns its ranges first (part of the timed build)
            index.train(x)
        index.add(x)
        self._index = index
        shared[key] = self

    def _search(self, queries: np.ndarray, k: int, filters: list[Bitmap],
                knob_value: int | None, threads: int) -> np.ndarray:
        faiss = self._faiss
        ef = max(int(knob_value if knob_value is not None else 64), k)
        q = self._prepare(queries)
        out = np.full((q.shape[0], k), -1, dtype=np.int64)

        def one(i: int) -> None:
            bm = filters[i]
            if _is_full(bm):
                params = faiss.SearchParametersHNSW(efSearch=ef)
                _, ids = self._index.search(q[i:i + 1], k, params=params)
            else:
                sel, buf = self._selector(bm)
                params = faiss.SearchParametersHNSW(sel=sel, efSearch=ef)
                _, ids = self._index.search(q[i:i + 1], k, params=params)
                del buf
            out[i] = ids[0]

        _per_query(q.shape[0], one, threads, init=lambda: faiss.omp_set_num_threads(1))
        return out


@register
class FaissHNSWM16Adapter(FaissHNSWAdapter):
    """``faiss-hnsw`` with M=16: a sparser graph, cheaper per hop, smaller."""

    name = "faiss-hnsw-m16"
    default_M = 16


@register
class FaissHNSWM48Adapter(FaissHNSWAdapter):
    """``faiss-hnsw`` with M=48: a denser graph, better connected under selective filters."""

    name = "faiss-hnsw-m48"
    default_M = 48


@register
class FaissHNSWSQ8Adapter(FaissHNSWAdapter):
    """FAISS ``IndexHNSWSQ`` with ``QT_8bit`` storage (M=32, efConstruction=200): the HNSW graph
    over one-byte-per-dimension codes (trained on the data), with an ``IDSelectorBitmap`` per
    query in ``SearchParametersHNSW``; one query at a time. The graph is built and searched on
    the decoded codes, so recall levels off a little below 1 whatever efSearch is. Knob:
    ``efSearch`` (>= k)."""

    name = "faiss-hnsw-sq8"

    def params(self) -> dict[str, Any]:
        return {**super().params(), "quantizer": "QT_8bit"}

    def _new_index(self, metric: str) -> Any:
        faiss = self._faiss
        return faiss.IndexHNSWSQ(self.dim, faiss.ScalarQuantizer.QT_8bit, self.M, self._faiss_metric(metric))


@register
class HNSWPostfilterAdapter(FaissHNSWAdapter):
    """The ``faiss-hnsw`` graph searched WITHOUT a filter for ``k' = min(n, ceil(f * k / s))``
    candidates (``s``: the query's own selectivity, efSearch = ``k'``), then the first ``k``
    allowed ones kept: the "post-filtering" baseline. Knob: the oversampling factor ``f``; at
    ``f = 1`` the candidates hold only about ``k`` allowed points on average, so recall levels
    off near 0.9, and larger ``f`` buys recall with time.

    Shares the built graph with ``faiss-hnsw`` when both are in one run.
    """

    name = "hnsw-postfilter"
    knob_name = "oversample"
    default_knobs = (1, 2, 4, 8, 16)
    knob_min_is_k = False

    def _search(self, queries: np.ndarray, k: int, filters: list[Bitmap],
                knob_value: int | None, threads: int) -> np.ndarray:
        faiss = self._faiss
        factor = float(knob_value if knob_value is not None else 1)
        q = self._prepare(queries)
        out = np.full((q.shape[0], k), -1, dtype=np.int64)

        def one(i: int) -> None:
            bm = filters[i]
            allowed = bm.count()
            if allowed == 0:
                return
            k_wide = min(self.n, math.ceil(factor * k * self.n / allowed))
            params = faiss.SearchParametersHNSW(efSearch=k_wide)
            _, ids = self._index.search(q[i:i + 1], k_wide, params=params)
            cand = ids[0][ids[0] >= 0]
            words = bm.words
            keep = ((words[cand >> 6] >> (cand & 63).astype(np.uint64)) & np.uint64(1)).astype(bool)
            hits = cand[keep][:k]
            out[i, : hits.shape[0]] = hits

        _per_query(q.shape[0], one, threads, init=lambda: faiss.omp_set_num_threads(1))
        return out


@register
class HnswlibAdapter(IndexAdapter):
    """hnswlib (M=32, ef_construction=200), searched one query at a time with ``set_ef`` and a
    Python ``filter`` callable over a per-query bool mask (hnswlib calls it per candidate).
    Fewer than ``k`` allowed results (hnswlib raises RuntimeError) are padded with -1.
    Knob: ``ef`` (>= k)."""

    name = "hnswlib"
    knob_name = "ef"
    default_knobs = (10, 16, 32, 64, 128, 256, 512, 1024)
    requires = ("hnswlib",)

    _SPACES = {"l2": "l2", "ip": "ip", "cosine": "cosine"}

    def __init__(self, M: int = 32, ef_construction: int = 200, seed: int = 100) -> None:
        super().__init__()
        self.M = M
        self.ef_construction = ef_construction
        self.seed = seed
        self._index: Any = None

    def params(self) -> dict[str, Any]:
        return {"M": self.M, "ef_construction": self.ef_construction}

    def _build(self, data: np.ndarray, metric: str, threads: int, shared: dict[Any, Any]) -> None:
        hnswlib = _import("hnswlib", self.name)
        index = hnswlib.Index(space=self._SPACES[metric], dim=self.dim)
        index.init_index(max_elements=self.n, M=self.M, ef_construction=self.ef_construction,
                         random_seed=self.seed)
        index.set_num_threads(threads)
        index.add_items(data, np.arange(self.n, dtype=np.int64), num_threads=threads)
        self._index = index

    def _query(self, q: np.ndarray, k: int, filter_fn: Callable[[int], Any] | None) -> np.ndarray:
        """One query; -1 padded when hnswlib cannot return ``k`` allowed points."""
        try:
            labels, _ = self._index.knn_query(q, k=k, num_threads=1, filter=filter_fn)
            return labels[0].astype(np.int64)
        except RuntimeError:
            pass
        # hnswlib returns all-or-nothing: retry with smaller k to keep what it did find.
        lo, hi, best = 0, k - 1, np.empty(0, dtype=np.int64)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            try:
                labels, _ = self._index.knn_query(q, k=mid, num_threads=1, filter=filter_fn)
                best, lo = labels[0].astype(np.int64), mid
            except RuntimeError:
                hi = mid - 1
        row = np.full(k, -1, dtype=np.int64)
        row[: best.shape[0]] = best
        return row

    def _search(self, queries: np.ndarray, k: int, filters: list[Bitmap],
                knob_value: int | None, threads: int) -> np.ndarray:
        ef = max(int(knob_value if knob_value is not None else 64), k)
        # set_ef is index-wide in hnswlib: set once per call, before any thread searches.
        self._index.set_ef(ef)
        out = np.full((queries.shape[0], k), -1, dtype=np.int64)

        # Each distinct filter is turned into its callback once, before the clock-sensitive loop
        # (a batch sharing one filter would otherwise pay an n-byte conversion per query).
        # bytes indexing is the cheapest per-candidate test hnswlib can call back into.
        callbacks: dict[int, Callable[[int], Any] | None | bool] = {}
        for bm in filters:
            if id(bm) not in callbacks:
                count = bm.count()
                callbacks[id(bm)] = None if count == bm.size else (
                    False if count == 0 else bytes(bm.to_mask().view(np.uint8)).__getitem__)

        def one(i: int) -> None:
            fn = callbacks[id(filters[i])]
            if fn is not False:  # False: nothing allowed, the row stays -1
                out[i] = self._query(queries[i:i + 1], k, fn)

        _per_query(queries.shape[0], one, threads)
        return out

    def index_bytes(self) -> int:
        return int(self._index.index_file_size()) if self._index is not None else 0
