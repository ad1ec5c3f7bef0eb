"""The Maximal Clique Index: a thin Python face over the core's index object.

:class:`Index` keeps the header (what the index is and how it was built) and the arrays, and
hands the arrays once to ``mcindex._core.Index``, which checks them and keeps them alive; a
search is then one call with the queries, the filter and the knobs. Building lives in
:mod:`mcindex.index_build`, calibration of the planner in :mod:`mcindex.calibration`, the
planner's rules in :mod:`mcindex.planner`, statistics in :mod:`mcindex.index_stats`, the file
in :mod:`mcindex.persistence`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _core, index_build, planner
from ._checks import CPUS, check_int, check_k, check_threads
from .calibration import calibrate as _calibrate
from .exact import query_matrix
from .filters import explain_filter_error, resolve_filters
from .index_stats import sample_stats, structure
from .persistence import load_index, save_index

__all__ = ["Index", "STRATEGIES"]

STRATEGIES: tuple[str, ...] = tuple(_core.STRATEGIES)
# Why a planned traversal was answered by the exact scan (stats["fallback_reason"]).
_FALLBACK_REASONS = ("", "no valid point near the query", "distance budget", "idle walk")
# Why a forced traversal's answer may miss neighbours (stats["early_stop_reason"]).
_EARLY_STOP_REASONS = ("", "no valid point near the query", "hop limit", "fewer than k found",
                       "codes may misorder past the re-rank list")
_STAT_COLUMNS = ("strategy", "valid", "distances", "expansions", "cliques", "seeds", "fallback", "found", "early_stop")

_F32 = np.dtype(np.float32)


def default_rerank(k: int, ef: int) -> int:
    """Candidates re-scored with float vectors when the index has codes: the ef-long list, at
    least 4k (8-bit codes rank the true neighbours among the first few dozen: on GloVe-400k an
    exact scan of codes re-scoring 2k found 0.995-0.999 of them)."""
    return max(4 * k, ef)


class Index:
    """A Maximal Clique Index over a fixed set of vectors.

    Build with :meth:`Index.build`, search with :meth:`search`, persist with :meth:`save` /
    :meth:`Index.load`; :meth:`stats` describes the structure. An index is immutable: any
    number of threads may search it (and save it) at once. RELIABILITY.md lists what is
    guaranteed for bad input, hostile files, interrupts and memory.
    """

    def __init__(self, header: dict[str, Any], sections: dict[str, np.ndarray]):
        # Internal: use Index.build or Index.load. The core checks the arrays once, here.
        self._header = header
        self._sections = sections
        s = sections
        self._core = _core.Index(s["vectors"], int(header["dim"]), str(header["metric"]), s["nav_offsets"],
                                 s["nav_neighbors"], int(header["entry_point"]), s["clique_offsets"],
                                 s["clique_members"], s["node_offsets"], s["node_cliques"],
                                 s.get("codes"), s.get("code_ranges"), s.get("code_exceptions"),
                                 float(header.get("code_error", -1.0)))
        self._n, self._dim = int(header["n"]), int(header["dim"])
        self._rules: dict[int, dict[str, Any]] = {}
        self._params: dict[tuple[Any, ...], Any] = {}

    # ---- construction ---------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        data: Any,
        metric: str = "l2",
        *,
        pool_size: int = 200,
        min_clique_size: int = 16,
        alpha: float = 1.2,
        degree: int = 32,
        build_list: int = 100,
        min_memberships: int = 2,
        hub_cap: int = 64,
        clique_quota: int = 4,
        extend_cliques: bool = True,
        alpha_max: float = 100.0,
        fallback_size: int | None = None,
        pool_method: str = "search",
        pool_search_list: int | None = None,
        threads: int | None = None,
        seed: int = 0,
        deterministic: bool = False,
        progress: bool | Callable[[str, int, int], None] = True,
        stats_sample: int = 1000,
        calibrate: bool = True,
        codes: str = "sq8",
    ) -> Index:
        """Build the index.

        Args (our name / paper's / nearest FAISS-hnswlib equivalent; cost):
            data: ``(n, dim)`` vectors; float64 and integer input is converted to float32.
                Rows with NaN or inf are rejected with their row numbers.
            metric: ``"l2"``, ``"ip"`` or ``"cosine"`` (vectors normalised; zero rows rejected).
            pool_size: neighbours gathered per point for densification (paper: pool, 200).
                Build time and peak memory (``4 * n * pool_size`` bytes) grow linearly; larger
                pools allow larger cliques and higher one-hop recall.
            min_clique_size: smallest clique accepted (paper: tau, 15-50). Larger means fewer,
                denser cliques (less memory) but more rounds before sparse regions are covered.
            alpha: first threshold factor and additive step of the schedule (paper: alpha0).
            degree: max out-degree of the navigable graph (like HNSW's M; Vamana's R). Memory
                ``~4 * degree`` bytes per point; more degree, better broad-filter search.
            build_list: candidate list while inserting into the navigable graph (like
                efConstruction; Vamana's L). Build time grows roughly linearly.
            min_memberships: a point counts as covered once in this many cliques; the
                densification rounds continue until every point is (then one fallback round
                guarantees at least one clique per point). Raising it adds cliques (memory) and
                raises the share of each point's neighbours one hop away: on 100k GloVe points
                1 -> 2 -> 3 gave 0.79 -> 0.88 -> 0.93 of the 10 nearest at 55 -> 81 -> 105
                bytes of cliques per point.
            hub_cap: points already in this many cliques are left out of further pools, which
                bounds how much any one point is duplicated.
            clique_quota: cliques one seed may add per round (strict mode only).
            extend_cliques: store, instead of the strict clique, the seed's whole local graph
                (the seed and every pool member within its threshold) once that graph holds a
                clique of at least ``min_clique_size``: one larger clique per seed, the variant
                the method's author settled on. On 100k GloVe points: 0.79 of the 10 nearest
                one hop away at 55 bytes of cliques per point, versus 0.48 at 73 for strict
                cliques.
            alpha_max: past this threshold factor, still-uncovered seeds get a fallback clique.
            fallback_size: size of a fallback clique (default ``min_clique_size``).
            pool_method: how the kNN pool is gathered: ``"search"`` (a best-first search of the
                navigable graph from each point, see ``pool_search_list``) or ``"two_hop"``
                (the nearest of each point's neighbours and their neighbours: about
                ``degree**2`` distances per point, faster, lower pool recall).
            pool_search_list: candidate list of each pool search (default
                ``min(100, pool_size + 1)``). Every point the search scores is a pool
                candidate, so a list shorter than the pool still fills it: on GloVe-400k, 100
                instead of 201 cut the pool phase from 68 s to 48 s and pool recall from 0.91
                to 0.83, while the share of each point's 10 nearest one hop away stayed at 0.85.
            threads: build threads (default: all cores). The GIL is released throughout.
            seed: seeds the insertion and seed orders.
            deterministic: bit-identical index for the same inputs, seed and machine (same
                SIMD level, see ``MCINDEX_SIMD``), whatever ``threads`` says. The navigable graph
                and the pool are deterministic anyway; the clique cover then runs on one thread.
            progress: show a progress bar on stderr (``True``), nothing (``False``), or call
                ``progress(phase, done, total)``.
            stats_sample: points sampled after the build to measure one-hop coverage of
                exact neighbours and pool recall (an exact search of that many points; 0 skips).
            calibrate: time the three search strategies on sample queries and random filters
                after the build and set the planner's thresholds from them
                (:func:`mcindex.calibration.calibrate`; a few seconds at 400k points). ``False``
                plans by a cost model of ``n`` and ``dim`` instead
                (:func:`mcindex.planner.uncalibrated`).
            codes: how the search reads vectors: ``"sq8"`` (the default: an 8-bit code per
                coordinate, trained per dimension from the 0.1% and 99.9% quantiles; every
                strategy, the exact scan included, ranks candidates by codes, a quarter of the
                bytes of floats, and re-scores a short list, ``rerank`` in :meth:`search`, with
                the float vectors, which can then stay on disk when the index is
                memory-mapped; ``n * dim`` bytes more) or ``"none"`` (float32 only: the exact
                strategy is then exact by construction). On GloVe-400k and 64k x 384 text
                embeddings sq8 answered 1.2-3x faster at equal recall (BENCHMARKS.md).
        """
        params = index_build.check_params(
            pool_size, min_clique_size, alpha, degree, build_list, min_memberships, hub_cap, clique_quota,
            extend_cliques, alpha_max, fallback_size, pool_method, pool_search_list, threads, seed, deterministic,
            codes)
        stats_sample = check_int(stats_sample, "stats_sample", 0)
        header, sections, sample, pools = index_build.build_arrays(data, metric, params, stats_sample=stats_sample,
                                                                  progress=progress)
        index = cls(header, sections)
        if stats_sample:
            header["stats"] = sample_stats(index, sample, pools)
        if calibrate:
            step, bar = index_build.calibration_progress(progress)
            t0 = time.perf_counter()
            try:
                header["planner"] = _calibrate(index, seed=params["seed"], progress=step)
            finally:
                if bar is not None:
                    bar.close()
            header["build"]["calibration_seconds"] = time.perf_counter() - t0
            index._rules.clear()
            index._params.clear()
        return index

    # ---- persistence ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to one file (see :mod:`mcindex.persistence` for the format).

        The file is written to a temporary name in the same folder, fsynced and renamed over
        ``path``, so a failed, interrupted or killed save never leaves a half-written file in
        place of a good one: ``path`` holds the old index or the new one. A temporary file left
        by a killed save is deleted by the next save to ``path``. Searches of this index may run
        in other threads meanwhile; the GIL is released while the bytes are checksummed and
        written.

        Raises:
            IsADirectoryError: ``path`` is a directory.
            FileNotFoundError: the folder of ``path`` does not exist.
            OSError: the file could not be written (the old file, if any, is untouched).
        """
        save_index(path, self._header, self._sections)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = False) -> Index:
        """Read an index saved by :meth:`save`, verifying magic, version, sizes, checksums and
        every structural invariant first. ``mmap=True`` maps the file read-only instead of
        reading it into memory.

        Raises:
            IndexFormatError: (a ``ValueError``) the file is not an index, is truncated,
                corrupted (any byte), of a newer format version, or holds ids or offsets out
                of range; the message names the file and the problem. Nothing is read out of
                bounds first: every length is checked against the file size before use.
            FileNotFoundError, IsADirectoryError, PermissionError: ``path`` cannot be opened.
        """
        header, sections = load_index(path, mmap=mmap)
        return cls(header, sections)

    # ---- search -------------------------------------------------------------------------------
    def search(
        self,
        queries: Any,
        k: int = 10,
        filter: Any = None,
        *,
        ef: int = 64,
        strategy: str = "auto",
        threads: int | None = None,
        return_stats: bool = False,
        seeds: int = 0,
        idle_window: int = 0,
        max_hops: int = 0,
        graph_links: bool = True,
        rerank: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """The ``k`` nearest points of each query among those its filter allows.

        Args:
            queries: ``(nq, dim)`` vectors, or one ``(dim,)`` vector.
            k: neighbours per query. ``k`` larger than the number of points (or than the
                points a filter allows) is fine: the missing slots are padded.
            filter: any form :func:`mcindex.exact_search` takes, one for all queries or one
                per query.
            ef: candidate list of the graph strategies: the recall/speed knob, like HNSW's
                efSearch. An ``ef`` below ``k`` is raised to ``k`` (the list must hold the
                ``k`` results), so ``ef=1`` and ``ef=k`` search alike.
            strategy: ``"auto"`` (the planner picks per query from the valid count),
                ``"mci"`` (clique traversal), ``"graph"`` (navigable graph), ``"exact"``.
            threads: threads over queries (default: all cores); the GIL is released, and
                Ctrl-C stops a long batch within a fraction of a second (KeyboardInterrupt;
                the index is untouched).
            return_stats: also return per-query records as a dict of arrays: ``strategy``
                (the strategy taken), ``valid``, ``distances``, ``expansions``, ``cliques``,
                ``seeds``, ``found`` (valid results returned), ``fallback`` /
                ``fallback_reason`` (a planned traversal handed the query to the exact scan)
                and ``early_stop`` / ``early_stop_reason``: a traversal the caller forced
                (``strategy="mci"`` or ``"graph"``) whose answer may miss neighbours: no point
                it scored near the query passes the filter (the planner would have used the
                exact scan), the clique traversal hit ``max_hops`` while still improving, or
                it found fewer than ``min(k, valid)`` results, or (with codes) its re-rank
                list was full and a point ranked past it by its code could be nearer than the
                k-th result (the codes misplace a vector by at most the header's
                ``code_error``; ``"codes may misorder past the re-rank list"``). The exact
                scan stays exact with codes: such a query is scanned again with the floats.
            seeds: clique traversal: spread seeds (0: ``16 + valid / 512``).
            idle_window: clique traversal stops after this many expansions that did not
                change the top k (0: ``max(ef, 16)``).
            max_hops: expansion cap of the clique traversal (0: ``8 * max(k, ef)``).
            graph_links: clique traversal also follows the navigable graph's edges.
            rerank: with codes (``Index.build(codes="sq8")``), candidates per query ranked by
                their codes and re-scored with the float vectors (raised to ``k``; default
                ``max(4 * k, ef)``); the traversal keeps a list at least this long. A filter
                passing at most this many points is answered by scanning their floats once.
                Ignored without codes.

        Returns:
            ``(ids, distances)`` like :func:`mcindex.exact_search` (padded with -1 / inf),
            plus the stats dict when ``return_stats``. An empty batch (``(0, dim)`` queries)
            gives ``(0, k)`` arrays.

        Raises:
            TypeError: queries that are not real numbers; non-integer ``k``, ``ef`` etc.
            ValueError: wrong query dimension, NaN/inf in queries, zero queries under cosine,
                ``k`` / ``ef`` / ``threads`` < 1, a bad filter (wrong length, ids out of
                range), an unknown strategy.
        """
        # One query per call is how servers search: this path is kept to a few dictionary and
        # type checks before the core call (the knobs' checks run once per distinct set of knobs).
        key = (k, ef, strategy, threads, seeds, idle_window, max_hops, graph_links, rerank)
        params = self._params.get(key)
        if params is None or not (type(k) is int and type(ef) is int and type(strategy) is str
                                  and (threads is None or type(threads) is int) and type(seeds) is int
                                  and type(idle_window) is int and type(max_hops) is int
                                  and type(graph_links) is bool and (rerank is None or type(rerank) is int)):
            params = self._search_params(*key)
        if type(queries) is np.ndarray and queries.dtype is _F32 and queries.ndim == 1 \
                and queries.shape[0] == self._dim:
            q = queries.reshape(1, self._dim)
        else:
            q = query_matrix(queries, self._dim)
        filters, of_query = (None, None) if filter is None else resolve_filters(filter, self._n, q.shape[0])
        ids = np.empty((q.shape[0], params.k), np.int64)
        dists = np.empty((q.shape[0], params.k), np.float32)
        try:
            raw = self._core.search(q, params, filters, of_query, ids, dists, return_stats)
        except ValueError:
            explain_filter_error(filter, self._n)
            raise
        if not return_stats:
            return ids, dists
        stats = {name: raw[:, i] for i, name in enumerate(_STAT_COLUMNS)}
        stats["strategy"] = np.array(STRATEGIES, dtype=object)[raw[:, 0]].astype(str)
        stats["fallback"] = raw[:, 6] > 0
        stats["fallback_reason"] = np.array(_FALLBACK_REASONS, dtype=object)[raw[:, 6]].astype(str)
        stats["early_stop"] = raw[:, 8] > 0
        stats["early_stop_reason"] = np.array(_EARLY_STOP_REASONS, dtype=object)[raw[:, 8]].astype(str)
        return ids, dists, stats

    def _search_params(self, k: Any, ef: Any, strategy: Any, threads: Any, seeds: Any, idle_window: Any,
                       max_hops: Any, graph_links: Any, rerank: Any) -> Any:
        """The core's SearchParams for these knobs, checked with friendly messages and kept for
        the next call with the same knobs (a search is then one lookup away from the core)."""
        key = (k, ef, strategy, threads, seeds, idle_window, max_hops, graph_links, rerank)
        k = check_k(k)
        ef = check_int(ef, "ef")
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {sorted(STRATEGIES)}, got {strategy!r}")
        p = _core.SearchParams()
        p.k = k
        p.ef = ef
        p.strategy = strategy
        p.threads = check_threads(threads) or CPUS
        p.seeds = check_int(seeds, "seeds", 0)
        p.idle_window = check_int(idle_window, "idle_window", 0)
        p.max_hops = check_int(max_hops, "max_hops", 0)
        p.graph_links = bool(graph_links)
        p.rerank = default_rerank(k, ef) if rerank is None else check_int(rerank, "rerank", 0)
        n = max(len(self), 1)
        rule = self._rule(min(max(ef, min(k, n)), n))  # the list the search keeps: ef raised to k, at most n
        p.exact_max_valid = rule["exact_max_valid"]
        p.graph_min_fraction = float(rule["graph_min_fraction"])
        p.exact_cost_ratio = float(rule["exact_cost_ratio"])
        p.validate()
        if all(type(x) in (int, str, bool, type(None)) for x in key):  # the types the fast path checks
            if len(self._params) >= 256:
                self._params.clear()
            self._params[key] = p
        return p

    @property
    def planner(self) -> dict[str, Any]:
        """The planner's rule for ``strategy="auto"`` at the default ``ef`` (see :meth:`plan_rule`)."""
        return self.plan_rule(64)

    def plan_rule(self, ef: int) -> dict[str, Any]:
        """The planner's rule for searches with this ``ef`` (:func:`mcindex.planner.rule_for`):
        ``"exact"`` while at most ``exact_max_valid`` points pass the filter, ``"graph"`` from
        ``graph_min_fraction`` of them, ``"mci"`` between, and the cost table it comes from. A
        planned traversal is handed to the exact scan when it finds no valid point near the
        query, or spends more than ``2 * valid / exact_cost_ratio`` distance computations."""
        return dict(self._rule(check_int(ef, "ef")))

    def _rule(self, ef: int) -> dict[str, Any]:
        rule = self._rules.get(ef)
        if rule is None:
            if len(self._rules) >= 256:  # a few ef values in practice; never unbounded
                self._rules.clear()
            rule = self._rules[ef] = planner.rule_for(self._header.get("planner", {}), ef, self._n, self._dim)
        return rule

    # ---- basic properties -----------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def metric(self) -> str:
        return str(self._header["metric"])

    @property
    def format_version(self) -> int:
        """Version of the file format the index was saved in (or will be saved in, if built)."""
        return int(self._header["format_version"])

    @property
    def mcindex_version(self) -> str:
        """The mcindex version that built the index."""
        return str(self._header.get("mcindex_version", "?"))

    @property
    def build_params(self) -> dict[str, Any]:
        return dict(self._header["build_params"])

    @property
    def vectors(self) -> np.ndarray:
        """The stored vectors (normalised for cosine), ``(n, dim)`` view, read-only."""
        v = self._sections["vectors"][:, : self.dim]
        v.flags.writeable = False
        return v

    def _check_id(self, i: Any, what: str, count: int) -> int:
        i = check_int(i, what, 0)
        if i >= count:
            raise IndexError(f"{what} {i} is out of range [0, {count})")
        return i

    def clique_members(self, c: int) -> np.ndarray:
        """Member ids of clique ``c``."""
        off = self._sections["clique_offsets"]
        c = self._check_id(c, "clique", off.size - 1)
        return self._sections["clique_members"][off[c]: off[c + 1]]

    def clique_threshold(self, c: int) -> float:
        """Squared-L2 threshold clique ``c`` was formed with (``inf`` for a fallback clique)."""
        c = self._check_id(c, "clique", self._sections["clique_thresholds"].size)
        return float(self._sections["clique_thresholds"][c])

    def cliques_of(self, v: int) -> np.ndarray:
        """Cliques point ``v`` belongs to (ascending)."""
        off = self._sections["node_offsets"]
        v = self._check_id(v, "point", len(self))
        return self._sections["node_cliques"][off[v]: off[v + 1]]

    def neighbors(self, v: int) -> np.ndarray:
        """Out-neighbours of ``v`` in the navigable graph."""
        off = self._sections["nav_offsets"]
        v = self._check_id(v, "point", len(self))
        return self._sections["nav_neighbors"][off[v]: off[v + 1]]

    def one_hop(self, v: int) -> np.ndarray:
        """Points reachable from ``v`` through one of its cliques (excluding ``v``)."""
        cliques = self.cliques_of(v)
        if cliques.size == 0:
            return np.empty(0, dtype=np.uint32)
        off = self._sections["clique_offsets"]
        members = np.concatenate([self._sections["clique_members"][off[c]: off[c + 1]] for c in cliques])
        reach = np.unique(members)
        return reach[reach != v]

    # ---- statistics -------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Sizes, structure and build figures of the index (see the README for each key)."""
        return structure(self._header, self._sections)

    def __repr__(self) -> str:
        return (f"Index(n={len(self)}, dim={self.dim}, metric={self.metric!r}, "
                f"cliques={self._sections['clique_offsets'].size - 1}, simd={_core.simd_level()!r})")

