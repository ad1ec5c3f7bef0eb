"""Degenerate data builds and searches correctly: identical points, many duplicates, fewer points
than the pool, one point, one dimension, 4096 dimensions, isolated outliers (every point must stay
reachable). Each case is checked against exact search. RELIABILITY.md, "Degenerate data"."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from mcindex import Bitmap, Index, exact_search
from mcindex.evaluate import recall

STRATEGIES = ["auto", "exact", "mci", "graph"]


def build(data, metric="l2", **kw):
    kw.setdefault("progress", False)
    kw.setdefault("stats_sample", 0)
    kw.setdefault("threads", 2)
    return Index.build(data, metric, **kw)


def check_answers(index, data, queries, k, metric, *, flt=None, min_recall=0.9, strategies=STRATEGIES, ef=64):
    """Every strategy returns valid ids, true distances, sorted rows, no repeats, and (by
    distance, since ties make ids ambiguous) the exact answer's quality."""
    true_ids, true_d = exact_search(data, queries, k, metric=metric, filter=flt)
    for strategy in strategies:
        ids, dists = index.search(queries, k, flt, strategy=strategy, ef=max(ef, k))
        assert ids.shape == (len(queries), k)
        for q in range(len(queries)):
            found = ids[q][ids[q] >= 0]
            assert np.unique(found).size == found.size, f"{strategy}: a point returned twice"
            assert np.all(found < len(data))
            assert np.all(np.diff(dists[q][: found.size]) >= 0)
            assert np.all(ids[q][found.size:] == -1) and np.all(np.isinf(dists[q][found.size:]))
        if strategy == "exact":
            np.testing.assert_allclose(dists, true_d, rtol=1e-5, atol=1e-5)
        else:
            # Recall by distance: a returned point counts when it is as near as the k-th true one.
            kth = true_d[:, -1:]
            hits = np.where(ids >= 0, dists <= kth + 1e-5, False).sum(axis=1)
            want = np.isfinite(true_d).sum(axis=1)
            assert (hits.sum() / max(want.sum(), 1)) >= min_recall, strategy


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_all_points_identical(metric):
    data = np.tile(np.array([[0.5, -1.0, 2.0, 0.25]], np.float32), (300, 1))
    index = build(data, metric, pool_size=40, min_clique_size=8)
    assert np.diff(index._sections["node_offsets"].astype(np.int64)).min() >= 1  # every point in a group
    queries = np.array([[0.5, -1.0, 2.0, 0.25], [3.0, 1.0, 0.0, -1.0]], np.float32)
    check_answers(index, data, queries, 10, metric, min_recall=1.0)
    ids, _ = index.search(queries, 10, np.array([5, 250]), strategy="mci")
    assert sorted(ids[0, :2].tolist()) == [5, 250]


def test_many_exact_duplicates():
    rng = np.random.default_rng(3)
    distinct = rng.standard_normal((150, 12)).astype(np.float32)
    data = np.repeat(distinct, 20, axis=0)[rng.permutation(3000)]  # each point 20 times
    index = build(data, pool_size=48, min_clique_size=8)
    queries = distinct[:20] + np.float32(0.01)
    check_answers(index, data, queries, 30, "l2")
    check_answers(index, data, queries, 10, "l2", flt=Bitmap.from_mask(np.arange(3000) % 4 == 0))


@pytest.mark.parametrize("n", [1, 2, 3, 7, 20])
@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_fewer_points_than_the_pool_and_k(n, metric):
    rng = np.random.default_rng(n)
    data = rng.standard_normal((n, 5)).astype(np.float32)
    index = build(data, metric, pool_size=200, min_clique_size=16, stats_sample=n)
    assert len(index) == n and index.stats()["memberships_min"] >= 1
    check_answers(index, data, data + np.float32(0.1), 10, metric, min_recall=1.0)


def test_one_dimension():
    rng = np.random.default_rng(5)
    data = rng.uniform(-100, 100, (2000, 1)).astype(np.float32)
    data[::7] = np.round(data[::7])  # some ties
    index = build(data, pool_size=32, min_clique_size=6)
    queries = rng.uniform(-110, 110, (30, 1)).astype(np.float32)
    check_answers(index, data, queries, 10, "l2", min_recall=0.95)
    check_answers(index, data, queries, 10, "l2", flt=data[:, 0] > 50, min_recall=0.95)


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_very_high_dimension(metric):
    rng = np.random.default_rng(6)
    centres = rng.standard_normal((5, 4096)).astype(np.float32)
    data = centres[rng.integers(0, 5, 400)] + np.float32(0.3) * rng.standard_normal((400, 4096)).astype(np.float32)
    index = build(data, metric, pool_size=32, min_clique_size=6, calibrate=False)
    assert index.dim == 4096
    queries = data[:10] + np.float32(0.05) * rng.standard_normal((10, 4096)).astype(np.float32)
    # Within a cluster the points are almost equidistant in 4096-d: the navigable graph keeps
    # few edges between clusters, and its route needs a longer list to cross (measured: recall
    # 0.82 at ef=64, 1.0 at 256). The clique route reaches 1.0 at 64.
    assert reachable_from_entry(index).all()
    check_answers(index, data, queries, 10, metric, min_recall=0.95, ef=256)
    check_answers(index, data, queries, 10, metric, min_recall=0.95, strategies=["mci"])


def reachable_from_entry(index):
    """Points reachable from the entry point along navigable-graph edges (breadth first)."""
    off, nbr = index._sections["nav_offsets"], index._sections["nav_neighbors"]
    seen = np.zeros(len(index), bool)
    start = int(index._header["entry_point"])
    seen[start] = True
    todo = deque([start])
    while todo:
        u = todo.popleft()
        for v in nbr[off[u]:off[u + 1]]:
            if not seen[v]:
                seen[v] = True
                todo.append(int(v))
    return seen


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_clustered_data_with_isolated_outliers_keeps_every_point_reachable(metric):
    rng = np.random.default_rng(8)
    centres = rng.standard_normal((4, 16)) * 2
    tight = centres[rng.integers(0, 4, 2500)] + 0.05 * rng.standard_normal((2500, 16))
    outliers = rng.standard_normal((25, 16)) * 40  # far from every cluster and from each other
    data = np.vstack([tight, outliers]).astype(np.float32)
    index = build(data, metric, pool_size=48, min_clique_size=8)
    n = len(data)
    assert reachable_from_entry(index).all(), "a point cannot be reached from the entry point"
    assert np.diff(index._sections["node_offsets"].astype(np.int64)).min() >= 1
    outlier_ids = np.arange(2500, n)
    for strategy in ("mci", "graph", "auto"):
        # Each outlier is found as its own nearest neighbour, with and without a filter.
        ids, _ = index.search(data[outlier_ids], 1, strategy=strategy)
        np.testing.assert_array_equal(ids[:, 0], outlier_ids)
        ids, _ = index.search(data[outlier_ids], 1, Bitmap.from_ids(outlier_ids, n), strategy=strategy)
        np.testing.assert_array_equal(ids[:, 0], outlier_ids)
    # ... and every point, each searched for by its own vector, through the graph route.
    ids, _ = index.search(data, 1, strategy="graph", threads=2)
    assert recall(ids, np.arange(n)[:, None]) >= 0.999


# ---- forced routes say when their answer may miss neighbours --------------------------------------
@pytest.fixture(scope="module")
def copies():
    """2,000 points, 10 exact copies of each (a forced clique traversal collapsed to mean
    recall 0.33 here under a 5% filter anti-correlated with the query, and said nothing)."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal((2000, 16)).astype(np.float32)
    data = np.repeat(base, 10, axis=0)
    queries = (base[rng.choice(2000, 100, replace=False)] + 0.1 * rng.standard_normal((100, 16))).astype(np.float32)
    index = Index.build(data, "l2", threads=2, progress=False, calibrate=False, stats_sample=0)
    return data, queries, index


def test_forced_traversal_reports_no_valid_point_near_the_query(copies):
    from mcindex import workloads

    data, queries, index = copies
    far = workloads.correlated(data, queries, 0.05, metric="l2").filters
    truth, _ = exact_search(data, queries, 10, filter=far)
    for strategy in ("mci", "graph"):
        ids, _, st = index.search(queries, 10, far, strategy=strategy, return_stats=True, threads=2)
        per_query = np.array([np.isin(truth[i], ids[i]).mean() for i in range(len(queries))])
        missed = per_query < 0.9
        # Every query whose answer missed neighbours is flagged, with its reason.
        assert np.all(st["early_stop"][missed]), (strategy, per_query[missed & ~st["early_stop"]])
        assert set(st["early_stop_reason"][st["early_stop"]]) <= {"no valid point near the query",
                                                                   "fewer than k found", "hop limit",
                                                                   "codes may misorder past the re-rank list"}
        assert not st["fallback"].any()  # forced: answered by the route itself
        np.testing.assert_array_equal(st["found"], (ids >= 0).sum(axis=1))
    # The planner takes the exact scan for the same queries: no early stop, full recall.
    ids, _, st = index.search(queries, 10, far, return_stats=True, threads=2)
    assert recall(ids, truth) == 1.0 and not st["early_stop"].any()


def test_random_filters_rarely_raise_the_flag(copies):
    data, queries, index = copies
    rng = np.random.default_rng(3)
    for share in (0.01, 0.05, 0.3):
        f = Bitmap.from_mask(rng.random(len(data)) < share)
        for strategy in ("mci", "graph"):
            _, _, st = index.search(queries, 10, f, strategy=strategy, return_stats=True, threads=2)
            assert st["early_stop"].mean() <= 0.05, (share, strategy, st["early_stop_reason"])


def test_hop_limit_and_short_answers_are_reported(copies):
    data, queries, index = copies
    rng = np.random.default_rng(4)
    broad = Bitmap.from_mask(rng.random(len(data)) < 0.5)
    _, _, st = index.search(queries, 10, broad, strategy="mci", max_hops=1, return_stats=True, threads=2)
    assert (st["early_stop_reason"] == "hop limit").mean() > 0.5
    # More valid points than the list holds (else every one is seeded), one seed, one hop.
    scattered = np.sort(rng.choice(len(data), 400, replace=False))
    ids, _, st = index.search(queries, 30, scattered, ef=30, strategy="mci", max_hops=1, seeds=1,
                              graph_links=False, return_stats=True, threads=2)
    short = (ids >= 0).sum(axis=1) < 30
    assert short.any()
    assert np.all(st["early_stop"][short]) and np.all(st["found"] == (ids >= 0).sum(axis=1))
