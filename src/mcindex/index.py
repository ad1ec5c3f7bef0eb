"""The Maximal Clique Index: build, inspect, save and load.

Build (all in the C++ core, GIL released, interruptible with Ctrl-C):

1. a sparse navigable graph (Vamana-style: greedy search + RobustPrune, degree <= ``degree``,
   one entry point), built lock-free in batches of doubling size;
2. the kNN pool: each point's ``pool_size`` approximate nearest neighbours, the nearest of
   the points scored while searching that graph from the point itself, with no pruning;
3. rounds of local densification: each uncovered seed links the members of its pool that lie
   within ``alpha * r`` of it (``r``: distance to its nearest pool member) whenever they are
   that close to each other, enumerates the maximal cliques of that local graph
   (Bron-Kerbosch with pivoting, degeneracy order) and keeps cliques of at least
   ``min_clique_size`` that cover an uncovered point (by default storing the seed's whole local
   graph once it holds such a clique, see ``extend_cliques``); ``alpha`` grows between rounds
   (+alpha after a productive round, x2 after a poor one) and past ``alpha_max`` a seed still in
   no group gets a fallback group, so every point belongs to at least one group;
4. two CSRs: group -> members and point -> groups (uint32 ids, uint64 offsets).

Distances follow the package convention (smaller is closer). The clique geometry is squared
L2 on the stored vectors (for cosine these are unit vectors, where it equals ``2 - 2 cos``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _core
from ._checks import check_int
from ._progress import Progress
from .exact import METRICS, ExactIndex, as_matrix, check_k, check_metric, check_threads, normalize_rows, pad_results
from .filters import resolve_filters
from . import persistence, planner
from .persistence import load_index, save_index

__all__ = ["Index", "STRATEGIES"]

# Why a planned traversal was answered by the exact scan (stats["fallback_reason"]).
_FALLBACK_REASONS = ("", "no valid point near the query", "distance budget", "idle walk")
# Why a forced traversal's answer may miss neighbours (stats["early_stop_reason"]).
_EARLY_STOP_REASONS = ("", "no valid point near the query", "hop limit", "fewer than k found")
STRATEGIES = {"auto": 0, "mci": 1, "graph": 2, "exact": 3}
_STRATEGY_NAMES = {v: k for k, v in STRATEGIES.items()}

FORMAT_VERSION = persistence.FORMAT_VERSION


def _packed_rows(data: np.ndarray) -> np.ndarray:
    """A copy of ``data`` as unpadded float32 rows starting on a 64-byte boundary.

    Rows are not padded: the kernels load unaligned, and padding 50 floats to 64 cost 28% more
    vector memory on GloVe, which the index budget (no more than FAISS HNSW) cannot afford.
    """
    n, dim = data.shape
    raw = np.empty(n * dim + 16, dtype=np.float32)
    shift = (-raw.ctypes.data % 64) // 4
    out = raw[shift: shift + n * dim].reshape(n, dim)
    out[...] = data
    return out


def _positive_float(value: Any, name: str, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not np.isfinite(value) or value < minimum:
        raise ValueError(f"{name} must be a finite number >= {minimum}, got {value!r}")
    return float(value)


class Index:
    """A Maximal Clique Index over a fixed set of vectors.

    Build with :meth:`Index.build`, search with :meth:`search`, persist with :meth:`save` /
    :meth:`Index.load`; :meth:`stats` describes the structure. An index is immutable: any
    number of threads may search it (and save it) at once. RELIABILITY.md lists what is
    guaranteed for bad input, hostile files, interrupts and memory.
    """

    def __init__(self, header: dict[str, Any], sections: dict[str, np.ndarray]):
        # Internal: use Index.build or Index.load.
        self._header = header
        self._sections = sections

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
    ) -> Index:
        """Build the index.

        Args (our name / paper's / nearest FAISS-hnswlib equivalent; cost):
            data: ``(n, dim)`` vectors; float64 and integer input is converted to float32.
                Rows with NaN or inf are rejected with their row numbers.
            metric: ``"l2"``, ``"ip"`` or ``"cosine"`` (vectors normalised; zero rows rejected).
            pool_size: neighbours gathered per point for densification (paper: pool, 200).
                Build time and peak memory (``4 * n * pool_size`` bytes) grow linearly; larger
                pools allow larger groups and higher one-hop recall.
            min_clique_size: smallest group accepted (paper: tau, 15-50). Larger means fewer,
                denser groups (less memory) but more rounds before sparse regions are covered.
            alpha: first threshold factor and additive step of the schedule (paper: alpha0).
            degree: max out-degree of the navigable graph (like HNSW's M; Vamana's R). Memory
                ``~4 * degree`` bytes per point; more degree, better broad-filter search.
            build_list: candidate list while inserting into the navigable graph (like
                efConstruction; Vamana's L). Build time grows roughly linearly.
            min_memberships: a point counts as covered once in this many groups; the
                densification rounds continue until every point is (then one fallback round
                guarantees at least one group per point). Raising it adds groups (memory) and
                raises the share of each point's neighbours one hop away: on 100k GloVe points
                1 -> 2 -> 3 gave 0.79 -> 0.88 -> 0.93 of the 10 nearest at 55 -> 81 -> 105
                bytes of groups per point.
            hub_cap: points already in this many groups are left out of further pools, which
                bounds how much any one point is duplicated.
            clique_quota: cliques one seed may add per round (strict mode only).
            extend_cliques: store, instead of the strict clique, the seed's whole local graph
                (the seed and every pool member within its threshold) once that graph holds a
                clique of at least ``min_clique_size``: one larger group per seed, the variant
                the method's author settled on. On 100k GloVe points: 0.79 of the 10 nearest
                one hop away at 55 bytes of groups per point, versus 0.48 at 73 for strict
                cliques.
            alpha_max: past this threshold factor, still-uncovered seeds get a fallback group.
            fallback_size: size of a fallback group (default ``min_clique_size``).
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
            calibrate: time the three search routes on sample queries and random filters
                after the build and set the planner's thresholds from them
                (:func:`mcindex.planner.calibrate`; a few seconds at 400k points). ``False``
                keeps the default rule, which was measured on GloVe-400k.
        """
        metric = check_metric(metric)
        pool_size = check_int(pool_size, "pool_size")
        min_clique_size = check_int(min_clique_size, "min_clique_size")
        alpha = _positive_float(alpha, "alpha", 1.0)
        degree = check_int(degree, "degree")
        build_list = check_int(build_list, "build_list")
        min_memberships = check_int(min_memberships, "min_memberships")
        hub_cap = check_int(hub_cap, "hub_cap")
        clique_quota = check_int(clique_quota, "clique_quota")
        alpha_max = _positive_float(alpha_max, "alpha_max", alpha)
        fallback_size = check_int(min_clique_size if fallback_size is None else fallback_size, "fallback_size")
        stats_sample = check_int(stats_sample, "stats_sample", 0)
        pool_search_list = check_int(pool_search_list or min(100, pool_size + 1), "pool_search_list")
        if pool_method not in ("search", "two_hop"):
            raise ValueError(f"pool_method must be 'search' or 'two_hop', got {pool_method!r}")
        seed = check_int(seed, "seed", 0, 2**64 - 1)
        threads = check_threads(threads) or (os.cpu_count() or 1)
        if hub_cap < min_memberships:
            raise ValueError(f"hub_cap ({hub_cap}) must be >= min_memberships ({min_memberships})")

        arr = as_matrix(data, "data")
        if arr.shape[0] == 0:
            raise ValueError("data must have at least one row")
        if arr.shape[0] >= 2**32 - 1:
            raise ValueError(f"at most 2**32 - 2 points are supported, got {arr.shape[0]}")
        if metric == "cosine":
            arr = normalize_rows(arr, "data")
        n, dim = arr.shape
        vectors = _packed_rows(arr)
        del arr

        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, size=min(stats_sample, n), replace=False)).astype(np.uint32)
        # The graph and pool phases do not depend on the thread count; the cover's races do,
        # so a deterministic build runs only the cover on one thread.
        cover_threads = 1 if deterministic else threads
        params = {
            "pool_size": pool_size, "min_clique_size": min_clique_size, "alpha": alpha,
            "degree": degree, "build_list": build_list, "min_memberships": min_memberships,
            "hub_cap": hub_cap, "clique_quota": clique_quota, "extend_cliques": bool(extend_cliques),
            "alpha_max": alpha_max, "fallback_size": fallback_size, "pool_method": pool_method,
            "pool_search_list": pool_search_list, "seed": seed,
            "deterministic": bool(deterministic), "threads": threads,
        }

        bar = None if callable(progress) else Progress(silent=progress is False)

        def show(phase: str, done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.count, desc=f"build: {phase}")

        callback = progress if callable(progress) else show
        t0 = time.perf_counter()
        try:
            built = _core.build_mci(
                vectors, dim, METRICS[metric], degree, build_list,
                1.0 if metric == "ip" else 1.2,  # RobustPrune's slack needs non-negative distances
                pool_size, min_clique_size, clique_quota, min_memberships, hub_cap,
                bool(extend_cliques), alpha, alpha_max, fallback_size, pool_method == "two_hop",
                pool_search_list, seed, threads, cover_threads,
                sample, callback)
        finally:
            if bar is not None:
                bar.close()
        build_seconds = time.perf_counter() - t0

        sections = {
            "vectors": vectors,
            "nav_offsets": built["nav_offsets"],
            "nav_neighbors": built["nav_neighbors"],
            "clique_offsets": built["clique_offsets"],
            "clique_members": built["clique_members"],
            "clique_thresholds": built["clique_thresholds"],
            "node_offsets": built["node_offsets"],
            "node_cliques": built["node_cliques"],
        }
        build_info = {
            "seconds": build_seconds,
            "phase_seconds": dict(built["phase_seconds"]),
            "rounds": list(built["rounds"]),
            "fallback_groups": int(built["fallback_groups"]),
        }
        # Out-degrees stay within `degree`, except, very rarely, a repair edge that keeps a point
        # reachable from the entry point when every candidate row was full (see the C++ build).
        nav_degree = max(degree, int(np.diff(built["nav_offsets"]).max(initial=0)))
        header = {
            "format": "mcindex", "format_version": FORMAT_VERSION, "metric": metric, "n": n,
            "dim": dim, "stride": int(vectors.shape[1]), "entry_point": int(built["entry_point"]),
            "nav_degree": nav_degree, "build_params": params, "build": build_info, "stats": {},
            "mcindex_version": _package_version(),
        }
        index = cls(header, sections)
        if stats_sample:
            pools = built["sample_pools"].reshape(sample.size, int(built["pool_width"]))
            index._header["stats"] = index._sample_stats(sample, pools)
        if calibrate:
            t0 = time.perf_counter()
            if callable(progress):
                index._header["planner"] = planner.calibrate(
                    index, seed=seed, progress=lambda done, total: progress("calibrate planner", done, total))
            else:
                with Progress(desc="build: calibrate planner", silent=progress is False) as cal_bar:
                    def step(done: int, total: int) -> None:
                        cal_bar.total = total
                        cal_bar.update(done - cal_bar.count)
                    index._header["planner"] = planner.calibrate(index, seed=seed, progress=step)
            index._header["build"]["calibration_seconds"] = time.perf_counter() - t0
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
    ) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """The ``k`` nearest points of each query among those its filter allows.

        Args:
            queries: ``(nq, dim)`` vectors, or one ``(dim,)`` vector.
            k: neighbours per query. ``k`` larger than the number of points (or than the
                points a filter allows) is fine: the missing slots are padded.
            filter: any form :func:`mcindex.exact_search` takes, one for all queries or one
                per query.
            ef: candidate list of the graph routes: the recall/speed knob, like HNSW's
                efSearch. An ``ef`` below ``k`` is raised to ``k`` (the list must hold the
                ``k`` results), so ``ef=1`` and ``ef=k`` search alike.
            strategy: ``"auto"`` (the planner picks per query from the valid count),
                ``"mci"`` (clique traversal), ``"graph"`` (navigable graph), ``"exact"``.
            threads: threads over queries (default: all cores); the GIL is released, and
                Ctrl-C stops a long batch within a fraction of a second (KeyboardInterrupt;
                the index is untouched).
            return_stats: also return per-query records as a dict of arrays: ``strategy``
                (the route taken), ``valid``, ``distances``, ``expansions``, ``cliques``,
                ``seeds``, ``found`` (valid results returned), ``fallback`` /
                ``fallback_reason`` (a planned traversal handed the query to the exact scan)
                and ``early_stop`` / ``early_stop_reason``: a traversal the caller forced
                (``strategy="mci"`` or ``"graph"``) whose answer may miss neighbours: no point
                it scored near the query passes the filter (the planner would have used the
                exact scan), the clique traversal hit ``max_hops`` while still improving, or
                it found fewer than ``min(k, valid)`` results.
            seeds: clique traversal: spread seeds (0: ``16 + valid / 512``).
            idle_window: clique traversal stops after this many expansions that did not
                change the top k (0: ``max(ef, 16)``).
            max_hops: expansion cap of the clique traversal (0: ``8 * max(k, ef)``).
            graph_links: clique traversal also follows the navigable graph's edges.

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
        k = check_k(k)
        ef = check_int(ef, "ef")
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {sorted(STRATEGIES)}, got {strategy!r}")
        nthreads = check_threads(threads) or (os.cpu_count() or 1)
        seeds = check_int(seeds, "seeds", 0)
        idle_window = check_int(idle_window, "idle_window", 0)
        max_hops = check_int(max_hops, "max_hops", 0)
        q = as_matrix(queries, "queries", dim=self.dim, allow_1d=True)
        if self.metric == "cosine":
            q = normalize_rows(q, "queries")
        n = len(self)
        resolved = resolve_filters(filter, n, q.shape[0], need_words=True)
        if n == 0:  # only a crafted file holds no points (build refuses): nothing to find
            return _empty_result(q.shape[0], k, return_stats)
        # The search allocates for at most n results and an ef-long list of at most n points
        # (and the core's 2**30); the output is padded to the k asked for.
        k_core = min(k, n)
        ef = min(max(ef, k_core), n, 2**30)
        s = self._sections
        rule = self.plan_rule(ef)
        ids, dists, raw = _core.mci_search(
            s["vectors"], self.dim, METRICS[self.metric], s["nav_offsets"], s["nav_neighbors"],
            int(self._header["entry_point"]), s["clique_offsets"], s["clique_members"], s["node_offsets"],
            s["node_cliques"], q, k_core, ef, STRATEGIES[strategy], nthreads, seeds, idle_window, max_hops,
            bool(graph_links), rule["exact_max_valid"], rule["graph_min_fraction"], rule["exact_cost_ratio"],
            resolved.words, resolved.ids, resolved.of_query, np.asarray(resolved.counts, dtype=np.uint64))
        ids, dists = pad_results(ids, dists, k)
        if not return_stats:
            return ids, dists
        stats = {
            "strategy": np.array([_STRATEGY_NAMES[int(c)] for c in raw[:, 0]]),
            "valid": raw[:, 1], "distances": raw[:, 2], "expansions": raw[:, 3],
            "cliques": raw[:, 4], "seeds": raw[:, 5], "fallback": raw[:, 6] > 0,
            "fallback_reason": np.array([_FALLBACK_REASONS[int(c)] for c in raw[:, 6]]),
            "found": raw[:, 7], "early_stop": raw[:, 8] > 0,
            "early_stop_reason": np.array([_EARLY_STOP_REASONS[int(c)] for c in raw[:, 8]]),
        }
        return ids, dists, stats

    @property
    def planner(self) -> dict[str, Any]:
        """The planner's rule for ``strategy="auto"`` at the default ``ef`` (see :meth:`plan_rule`)."""
        return self.plan_rule(64)

    def plan_rule(self, ef: int) -> dict[str, Any]:
        """The planner's rule for searches with this ``ef``: ``"exact"`` while at most
        ``exact_max_valid`` points pass the filter, ``"graph"`` from ``graph_min_fraction`` of
        them, ``"mci"`` between. The thresholds come from the cost table measured at build time
        (``table``; see :mod:`mcindex.planner`), so they move with ``ef``: a higher ef makes the
        traversals dearer and the scan wins more often. A planned traversal is handed to the
        exact scan when it finds no valid point near the query, or spends more than
        ``2 * valid / exact_cost_ratio`` distance computations."""
        ef = check_int(ef, "ef")
        stored = self._header.get("planner", {})
        rule = dict(planner.DEFAULT, **{k: v for k, v in stored.items() if k != "table"})
        if stored.get("table"):
            rule.update(planner.thresholds(stored["table"], ef))
        rule["exact_max_valid"] = min(max(int(rule["exact_min_valid"]), int(rule["exact_max_fraction"] * len(self))),
                                      2**63)  # a fraction from a file may be anything up to 2**32
        rule["table"] = stored.get("table", [])
        return rule

    # ---- basic properties -----------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._header["n"])

    @property
    def dim(self) -> int:
        return int(self._header["dim"])

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
        """Member ids of group ``c``."""
        off = self._sections["clique_offsets"]
        c = self._check_id(c, "group", off.size - 1)
        return self._sections["clique_members"][off[c]: off[c + 1]]

    def clique_threshold(self, c: int) -> float:
        """Squared-L2 threshold group ``c`` was formed with (``inf`` for a fallback group)."""
        c = self._check_id(c, "group", self._sections["clique_thresholds"].size)
        return float(self._sections["clique_thresholds"][c])

    def cliques_of(self, v: int) -> np.ndarray:
        """Groups point ``v`` belongs to (ascending)."""
        off = self._sections["node_offsets"]
        v = self._check_id(v, "point", len(self))
        return self._sections["node_cliques"][off[v]: off[v + 1]]

    def neighbors(self, v: int) -> np.ndarray:
        """Out-neighbours of ``v`` in the navigable graph."""
        off = self._sections["nav_offsets"]
        v = self._check_id(v, "point", len(self))
        return self._sections["nav_neighbors"][off[v]: off[v + 1]]

    def one_hop(self, v: int) -> np.ndarray:
        """Points reachable from ``v`` through one of its groups (excluding ``v``)."""
        groups = self.cliques_of(v)
        if groups.size == 0:
            return np.empty(0, dtype=np.uint32)
        off = self._sections["clique_offsets"]
        members = np.concatenate([self._sections["clique_members"][off[c]: off[c + 1]] for c in groups])
        reach = np.unique(members)
        return reach[reach != v]

    # ---- statistics -------------------------------------------------------------------------
    def _graph_bytes(self) -> int:
        names = ("nav_offsets", "nav_neighbors", "clique_offsets", "clique_members", "node_offsets", "node_cliques")
        return int(sum(self._sections[s].nbytes for s in names))

    def _sample_stats(self, sample: np.ndarray, pools: np.ndarray) -> dict[str, Any]:
        """One-hop coverage of exact neighbours and pool recall, on sampled points."""
        n = len(self)
        k_exact = min(max(100, pools.shape[1]), n - 1)
        if k_exact < 1:
            return {"sample": int(sample.size)}
        exact = ExactIndex(self.vectors, "l2")  # cosine vectors are unit: same order as cosine
        if self.metric == "ip":
            exact = ExactIndex(self.vectors, "ip")
        ids, _ = exact.search(self.vectors[sample.astype(np.int64)], k_exact + 1)
        cover10, cover100, reach, pool_recall = [], [], [], []
        for row, v in enumerate(sample):
            truth = ids[row][(ids[row] != v) & (ids[row] >= 0)][:k_exact]
            hop = self.one_hop(int(v))
            reach.append(hop.size)
            cover10.append(np.isin(truth[:10], hop).mean() if truth.size else 1.0)
            cover100.append(np.isin(truth[:100], hop).mean() if truth.size else 1.0)
            pool = pools[row][pools[row] != np.uint32(0xFFFFFFFF)]
            top = truth[: pools.shape[1]]
            pool_recall.append(np.isin(top, pool).mean() if top.size else 1.0)
        return {
            "sample": int(sample.size),
            "one_hop_reach_mean": float(np.mean(reach)),
            "nn10_one_hop": float(np.mean(cover10)),
            "nn100_one_hop": float(np.mean(cover100)),
            "pool_recall": float(np.mean(pool_recall)),
        }

    def stats(self) -> dict[str, Any]:
        """Sizes, structure and build figures of the index (see the README for each key)."""
        n = len(self)
        s = self._sections
        clique_sizes = np.diff(s["clique_offsets"].astype(np.int64))
        memberships = np.diff(s["node_offsets"].astype(np.int64))
        nav_deg = np.diff(s["nav_offsets"].astype(np.int64))
        graph_bytes = self._graph_bytes()
        build = self._header.get("build", {})
        out: dict[str, Any] = {
            "n": n, "dim": self.dim, "metric": self.metric,
            "cliques": int(clique_sizes.size),
            "clique_size_mean": float(clique_sizes.mean()) if clique_sizes.size else 0.0,
            "clique_size_max": int(clique_sizes.max()) if clique_sizes.size else 0,
            "memberships_mean": float(memberships.mean()) if n else 0.0,
            "memberships_min": int(memberships.min()) if n else 0,
            "memberships_max": int(memberships.max()) if n else 0,
            "nav_degree_max": int(nav_deg.max()) if n else 0,
            "nav_degree_mean": float(nav_deg.mean()) if n else 0.0,
            "nav_degree_limit": int(self._header["nav_degree"]),
            "graph_bytes": graph_bytes,
            "graph_bytes_per_point": graph_bytes / n if n else 0.0,
            "clique_bytes_per_point": (graph_bytes - s["nav_offsets"].nbytes - s["nav_neighbors"].nbytes) / n if n else 0.0,
            "vector_bytes": int(s["vectors"].nbytes),
            "build_seconds": build.get("seconds"),
            "build_phase_seconds": build.get("phase_seconds", {}),
            "densification_rounds": build.get("rounds", []),
            "fallback_groups": build.get("fallback_groups", 0),
            "build_params": self.build_params,
        }
        # Sampled figures from the header (typed when loaded); they never replace a computed one.
        out.update({k: v for k, v in self._header.get("stats", {}).items() if k not in out})
        return out

    def __repr__(self) -> str:
        return (f"Index(n={len(self)}, dim={self.dim}, metric={self.metric!r}, "
                f"cliques={self._sections['clique_offsets'].size - 1}, simd={_core.simd_level()!r})")


def _empty_result(nq: int, k: int, return_stats: bool
                  ) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    ids = np.full((nq, k), -1, dtype=np.int64)
    dists = np.full((nq, k), np.inf, dtype=np.float32)
    if not return_stats:
        return ids, dists
    zeros = np.zeros(nq, dtype=np.int64)
    stats = {"strategy": np.full(nq, "exact"), "valid": zeros, "distances": zeros.copy(),
             "expansions": zeros.copy(), "cliques": zeros.copy(), "seeds": zeros.copy(),
             "fallback": np.zeros(nq, dtype=bool), "fallback_reason": np.full(nq, _FALLBACK_REASONS[0]),
             "found": zeros.copy(), "early_stop": np.zeros(nq, dtype=bool),
             "early_stop_reason": np.full(nq, _EARLY_STOP_REASONS[0])}
    return ids, dists, stats


def _package_version() -> str:
    from . import __version__

    return __version__
