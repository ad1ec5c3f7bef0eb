"""Building an index: check the arguments, run the core's build, assemble header and sections.

The build itself runs in the C++ core with the GIL released and can be stopped with Ctrl-C:

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
   no clique gets a fallback clique, so every point belongs to at least one;
4. two CSRs: clique -> members and point -> cliques (uint32 ids, uint64 offsets).

Distances follow the package convention (smaller is closer). The clique geometry is squared
L2 on the stored vectors (for cosine these are unit vectors, where it equals ``2 - 2 cos``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _core
from ._checks import CPUS, check_int, check_metric, check_threads
from ._progress import Progress
from .bitmap import Bitmap
from .exact import as_matrix, normalize_rows

__all__ = ["CODES", "build_arrays"]

#: Storage kinds of the vectors a search reads: "none" (float32 only) or "sq8" (8-bit codes, a
#: quarter of the bytes, searched first; the float vectors re-score a short list).
CODES = ("none", "sq8")

ProgressArg = bool | Callable[[str, int, int], None]


def packed_rows(data: np.ndarray) -> np.ndarray:
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


def check_params(pool_size: int, min_clique_size: int, alpha: float, degree: int, build_list: int,
                 min_memberships: int, hub_cap: int, clique_quota: int, extend_cliques: bool, alpha_max: float,
                 fallback_size: int | None, pool_method: str, pool_search_list: int | None, threads: int | None,
                 seed: int, deterministic: bool, codes: str) -> dict[str, Any]:
    """The build keywords checked and completed, as the header records them."""
    if codes not in CODES:
        raise ValueError(f"codes must be one of {CODES}, got {codes!r}")
    pool_size = check_int(pool_size, "pool_size")
    min_clique_size = check_int(min_clique_size, "min_clique_size")
    alpha = _positive_float(alpha, "alpha", 1.0)
    if pool_method not in ("search", "two_hop"):
        raise ValueError(f"pool_method must be 'search' or 'two_hop', got {pool_method!r}")
    params = {
        "pool_size": pool_size, "min_clique_size": min_clique_size, "alpha": alpha,
        "degree": check_int(degree, "degree"), "build_list": check_int(build_list, "build_list"),
        "min_memberships": check_int(min_memberships, "min_memberships"), "hub_cap": check_int(hub_cap, "hub_cap"),
        "clique_quota": check_int(clique_quota, "clique_quota"), "extend_cliques": bool(extend_cliques),
        "alpha_max": _positive_float(alpha_max, "alpha_max", alpha),
        "fallback_size": check_int(min_clique_size if fallback_size is None else fallback_size, "fallback_size"),
        "pool_method": pool_method,
        "pool_search_list": check_int(pool_search_list or min(100, pool_size + 1), "pool_search_list"),
        "seed": check_int(seed, "seed", 0, 2**64 - 1), "deterministic": bool(deterministic),
        "threads": check_threads(threads) or CPUS, "codes": codes,
    }
    if params["hub_cap"] < params["min_memberships"]:
        raise ValueError(f"hub_cap ({params['hub_cap']}) must be >= min_memberships ({params['min_memberships']})")
    return params


def _core_params(params: dict[str, Any]) -> Any:
    p = _core.BuildParams()
    for key, value in params.items():
        if key != "codes":  # made after the graph, from the vectors (add_codes)
            setattr(p, key, value)
    p.validate()
    return p


def build_arrays(data: Any, metric: str, params: dict[str, Any], *, stats_sample: int,
                 progress: ProgressArg) -> tuple[dict[str, Any], dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Run the core's build; return ``(header, sections, sample, sample_pools)`` (the sample and
    its kNN pool rows feed :func:`mcindex.index_stats.sample_stats`)."""
    metric = check_metric(metric)
    arr = as_matrix(data, "data")
    if arr.shape[0] == 0:
        raise ValueError("data must have at least one row")
    if arr.shape[0] >= 2**32 - 1:
        raise ValueError(f"at most 2**32 - 2 points are supported, got {arr.shape[0]}")
    if metric == "cosine":
        arr = normalize_rows(arr, "data")
    n, dim = arr.shape
    vectors = packed_rows(arr)
    del arr
    rng = np.random.default_rng(params["seed"])
    sample = np.sort(rng.choice(n, size=min(stats_sample, n), replace=False)).astype(np.uint32)

    bar = None if callable(progress) else Progress(silent=progress is False)

    def show(phase: str, done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.count, desc=f"build: {phase}")

    t0 = time.perf_counter()
    try:
        built = _core.build_index(vectors, dim, metric, _core_params(params), sample,
                                  progress if callable(progress) else show)
    finally:
        if bar is not None:
            bar.close()
    sections = {name: vectors if name == "vectors" else built[name] for name in
                ("vectors", "nav_offsets", "nav_neighbors", "clique_offsets", "clique_members", "clique_thresholds",
                 "node_offsets", "node_cliques")}
    # Out-degrees stay within `degree`, except, very rarely, a repair edge that keeps a point
    # reachable from the entry point when every candidate row was full (see the C++ build).
    nav_degree = max(params["degree"], int(np.diff(built["nav_offsets"]).max(initial=0)))
    header = {
        "format": "mcindex", "format_version": 2, "metric": metric, "n": n, "dim": dim,
        "stride": int(vectors.shape[1]), "entry_point": int(built["entry_point"]), "nav_degree": nav_degree,
        "build_params": params,
        "build": {"seconds": time.perf_counter() - t0, "phase_seconds": dict(built["phase_seconds"]),
                  "rounds": list(built["rounds"]), "fallback_cliques": int(built["fallback_cliques"])},
        "stats": {}, "mcindex_version": _package_version(),
    }
    if params["codes"] == "sq8":
        add_codes(header, sections)
    pools = built["sample_pools"].reshape(sample.size, int(built["pool_width"])) if sample.size else \
        np.empty((0, 0), np.uint32)
    return header, sections, sample, pools


#: A vector whose code misses it by more than this many times the median miss (in squared L2) is
#: an exception, scored with its float row: quantile ranges clamp outliers of the whole data,
#: whose codes then sit far from them (found by the degenerate-data tests).
EXCEPTION_FACTOR = 16.0
#: ... unless the miss is below this fraction of the typical distance to a nearest neighbour: a
#: code that moves a vector by a small share of its neighbour gap cannot reorder its neighbours,
#: and exceptions then stay rare on data whose per-dimension tails are long (sentence embeddings).
NEIGHBOUR_SHARE = 0.05
_GAP_SAMPLE = 2000
#: Ranges retrained without the first round's exceptions are kept while at most this share of
#: the vectors are exceptions (each costs a float row read instead of a code).
MAX_EXCEPTION_SHARE = 0.05
_TRAIN_ROWS = 100_000


def _middle(x: np.ndarray) -> float:
    """The upper median: np.partition rather than np.median, whose first call imports modules
    that stay resident (measured by tests/test_memory.py as memory a build keeps)."""
    return float(np.partition(x, len(x) // 2)[len(x) // 2])


def neighbour_gap(vectors: np.ndarray, offsets: np.ndarray, neighbours: np.ndarray) -> float:
    """Median, over up to _GAP_SAMPLE evenly spaced nodes, of the L2 distance to the nearest of their
    navigable-graph neighbours (which hold each node's near neighbours): 0 without edges."""
    n = len(vectors)
    nodes = range(0, n, max(1, n // _GAP_SAMPLE))
    gaps = []
    for i in nodes:
        row = neighbours[offsets[i]:offsets[i + 1]]
        if row.size:
            diff = vectors[row].astype(np.float64) - vectors[i]
            gaps.append(float(np.sqrt(np.min(np.einsum("ij,ij->i", diff, diff)))))
    return _middle(np.asarray(gaps)) if gaps else 0.0


def _encode(vectors: np.ndarray, gap: float, exclude: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Ranges from quantiles of the vectors (``exclude`` left out), their codes, each vector's
    exception flag (its code's squared miss beyond EXCEPTION_FACTOR times the median miss and
    beyond NEIGHBOUR_SHARE of ``gap``) and the largest miss (L2) of the others."""
    lo, scale = _core.sq8_train(vectors, sample=_TRAIN_ROWS, exclude=exclude)
    codes, miss = _core.sq8_encode_miss(vectors, lo, scale)
    limit = max(EXCEPTION_FACTOR * _middle(miss), (NEIGHBOUR_SHARE * gap) ** 2,
                float(np.finfo(np.float32).tiny))
    exceptions = miss > limit
    error = float(np.sqrt(miss[~exceptions].max())) if not exceptions.all() else 0.0
    return lo, scale, codes, exceptions, error


def add_codes(header: dict[str, Any], sections: dict[str, np.ndarray]) -> None:
    """8-bit codes of the vectors: the sections ``codes``, ``code_ranges`` and
    ``code_exceptions``, the header's ``code_error`` (the largest distance from a vector to its
    code's reconstruction, exceptions aside) and header version 3.

    The ranges of each dimension are the 0.1% and 99.9% quantiles of up to 100,000 rows. A few
    far outliers still widen them until tight clusters share one code, which leaves a graph walk
    among ties; so when the first round has exceptions, the ranges are trained again without
    them (kept unless more than MAX_EXCEPTION_SHARE of the vectors become exceptions)."""
    vectors = np.ascontiguousarray(sections["vectors"][:, : int(header["dim"])])
    gap = neighbour_gap(vectors, sections["nav_offsets"], sections["nav_neighbors"])
    lo, scale, codes, exceptions, error = _encode(vectors, gap)
    if exceptions.any() and not exceptions.all():
        second = _encode(vectors, gap, exclude=exceptions)
        if second[3].sum() <= max(int(exceptions.sum()), MAX_EXCEPTION_SHARE * len(vectors)):
            lo, scale, codes, exceptions, error = second
    sections["codes"] = codes
    sections["code_ranges"] = np.ascontiguousarray(np.stack([lo, scale]), dtype=np.float32)
    sections["code_exceptions"] = Bitmap.from_mask(exceptions).words.copy()
    header["codes"] = "sq8"
    header["code_error"] = error * (1 + 1e-6)  # a bound: rounded up past float error
    header["format_version"] = 3


def calibration_progress(progress: ProgressArg) -> tuple[Callable[[int, int], None] | None, Progress | None]:
    """The calibration's ``progress(done, total)`` for a build's ``progress`` argument, and the
    bar to close afterwards (None when the caller's callback reports)."""
    if callable(progress):
        return (lambda done, total: progress("calibrate planner", done, total)), None
    bar = Progress(desc="build: calibrate planner", silent=progress is False)

    def step(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.count)
    return step, bar


def _package_version() -> str:
    from ._version import __version__

    return __version__
