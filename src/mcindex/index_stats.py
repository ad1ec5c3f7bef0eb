"""What an index reports about itself: sizes and structure (:func:`structure`) and, measured
once after the build on sampled points, how many exact neighbours lie one clique away and how
good the kNN pool was (:func:`sample_stats`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .exact import ExactIndex

if TYPE_CHECKING:
    from .index import Index

__all__ = ["sample_stats", "structure"]

_GRAPH_SECTIONS = ("nav_offsets", "nav_neighbors", "clique_offsets", "clique_members", "node_offsets", "node_cliques")


def sample_stats(index: Index, sample: np.ndarray, pools: np.ndarray) -> dict[str, Any]:
    """One-hop coverage of exact neighbours and pool recall, on the sampled points."""
    n = len(index)
    k_exact = min(max(100, pools.shape[1]), n - 1)
    if k_exact < 1 or sample.size == 0:
        return {"sample": int(sample.size)}
    # Cosine vectors are stored unit length: L2 orders them as cosine does.
    exact = ExactIndex(index.vectors, "ip" if index.metric == "ip" else "l2")
    ids, _ = exact.search(index.vectors[sample.astype(np.int64)], k_exact + 1)
    cover10, cover100, reach, pool_recall = [], [], [], []
    for row, v in enumerate(sample):
        truth = ids[row][(ids[row] != v) & (ids[row] >= 0)][:k_exact]
        hop = index.one_hop(int(v))
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


def structure(header: Mapping[str, Any], sections: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Sizes, structure and build figures of an index (see the README for each key)."""
    n = int(header["n"])
    s = sections
    clique_sizes = np.diff(s["clique_offsets"].astype(np.int64))
    memberships = np.diff(s["node_offsets"].astype(np.int64))
    nav_deg = np.diff(s["nav_offsets"].astype(np.int64))
    graph_bytes = int(sum(s[name].nbytes for name in _GRAPH_SECTIONS))
    build = header.get("build", {})
    out: dict[str, Any] = {
        "n": n, "dim": int(header["dim"]), "metric": str(header["metric"]),
        "cliques": int(clique_sizes.size),
        "clique_size_mean": float(clique_sizes.mean()) if clique_sizes.size else 0.0,
        "clique_size_max": int(clique_sizes.max()) if clique_sizes.size else 0,
        "memberships_mean": float(memberships.mean()) if n else 0.0,
        "memberships_min": int(memberships.min()) if n else 0,
        "memberships_max": int(memberships.max()) if n else 0,
        "nav_degree_max": int(nav_deg.max()) if n else 0,
        "nav_degree_mean": float(nav_deg.mean()) if n else 0.0,
        "nav_degree_limit": int(header["nav_degree"]),
        "graph_bytes": graph_bytes,
        "graph_bytes_per_point": graph_bytes / n if n else 0.0,
        "clique_bytes_per_point": (graph_bytes - s["nav_offsets"].nbytes - s["nav_neighbors"].nbytes) / n if n else 0.0,
        "vector_bytes": int(s["vectors"].nbytes),
        "build_seconds": build.get("seconds"),
        "build_phase_seconds": build.get("phase_seconds", {}),
        "densification_rounds": build.get("rounds", []),
        # Files written before the vocabulary settled on "clique" say "fallback_groups".
        "fallback_cliques": build.get("fallback_cliques", build.get("fallback_groups", 0)),
        "build_params": dict(header["build_params"]),
    }
    # Sampled figures from the header (typed when loaded); they never replace a computed one.
    out.update({k: v for k, v in header.get("stats", {}).items() if k not in out})
    return out
