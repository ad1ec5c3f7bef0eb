"""Workload generators hit their selectivities; ground truth matches brute force and is cached."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

import mcindex
import mcindex.exact
from mcindex import Bitmap, workloads
from mcindex.datasets import Dataset, synthetic
from mcindex.workloads import (
    WORKLOADS,
    Workload,
    correlated,
    ground_truth,
    label,
    make,
    multi_label,
    numeric_range,
)


def _counts(w: Workload) -> np.ndarray:
    return np.array([f.count() for f in w.filters])


def _distances(data: np.ndarray, queries: np.ndarray, metric: str) -> np.ndarray:
    """Brute-force float64 distance matrix (queries x data) in the package convention."""
    x, q = data.astype(np.float64), queries.astype(np.float64)
    if metric == "l2":
        return ((q[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    if metric == "ip":
        return -(q @ x.T)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    return 1.0 - q @ x.T


# ---- random ------------------------------------------------------------------------------
@pytest.mark.parametrize("s", [0.001, 0.013, 0.5, 1.0])
def test_random_has_exact_selectivity(s):
    n = 1000
    w = workloads.random(n, 30, s, seed=1)
    expected = max(1, math.floor(s * n + 0.5))
    assert w.name == "random" and w.target == s and w.n == n and w.n_queries == 30
    assert np.all(_counts(w) == expected)
    np.testing.assert_allclose(w.selectivity, expected / n)


def test_random_subsets_differ_per_query_and_follow_the_seed():
    w = workloads.random(2000, 20, 0.1, seed=5)
    masks = {f.words.tobytes() for f in w.filters}
    assert len(masks) == 20
    again = workloads.random(2000, 20, 0.1, seed=5)
    assert all(a == b for a, b in zip(w.filters, again.filters, strict=True))
    other = workloads.random(2000, 20, 0.1, seed=6)
    assert any(a != b for a, b in zip(w.filters, other.filters, strict=True))
    # Small selectivities still leave one point to find.
    assert _counts(workloads.random(100, 5, 1e-6)).tolist() == [1] * 5


# ---- label --------------------------------------------------------------------------------
def test_label_uniform_from_selectivity():
    n, s = 10_000, 0.02
    w = label(n, 200, selectivity=s, seed=2)
    assert w.params["n_labels"] == 50 and w.target == s
    # Labels are dealt evenly, so every query sees n/L points up to one.
    assert np.all(np.abs(_counts(w) - n / 50) <= 1)
    # Filters are label classes: any two are identical or disjoint.
    distinct = {f.words.tobytes(): f for f in w.filters}.values()
    union = Bitmap.none(n)
    for f in distinct:
        assert (union & f).count() == 0
        union = union | f
    # Queries pick labels uniformly: 200 draws over 50 labels hit many of them.
    assert len(distinct) > 30


def test_label_zipf_is_skewed_and_queries_follow_frequency():
    n = 20_000
    w = label(n, 400, n_labels=20, distribution="zipf", zipf_a=1.2, seed=3)
    assert w.target is None and w.params["distribution"] == "zipf"
    sel = w.selectivity
    weights = 1.0 / np.arange(1, 21) ** 1.2
    p = weights / weights.sum()
    assert abs(sel.max() - p[0]) < 0.02  # the most frequent label has ~p[0] of the points
    assert sel.min() < p[0] / 5  # ... and rare labels appear too
    # Picking labels in proportion to frequency makes the mean selectivity sum(p^2).
    assert abs(sel.mean() - (p**2).sum()) < 0.25 * (p**2).sum()


def test_label_validation():
    with pytest.raises(ValueError, match="exactly one"):
        label(100, 5)
    with pytest.raises(ValueError, match="exactly one"):
        label(100, 5, n_labels=3, selectivity=0.5)
    with pytest.raises(ValueError, match="zipf"):
        label(100, 5, selectivity=0.5, distribution="zipf")
    with pytest.raises(ValueError, match="only 100 points"):
        label(100, 5, selectivity=0.001)
    with pytest.raises(ValueError, match="distribution"):
        label(100, 5, n_labels=3, distribution="normal")
    with pytest.raises(ValueError, match="zipf_a"):
        label(100, 5, n_labels=3, distribution="zipf", zipf_a=0)


# ---- multi_label --------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["and", "or"])
@pytest.mark.parametrize("m", [1, 2, 3])
def test_multi_label_hits_selectivity(mode, m):
    n, s, nq = 20_000, 0.05, 200
    w = multi_label(n, nq, s, labels_per_query=m, mode=mode, seed=4)
    assert w.target == s and w.params["mode"] == mode
    std = math.sqrt(s * (1 - s) / n)
    # Each query's count is Binomial(n, s); the mean over 200 queries is much tighter.
    assert np.all(np.abs(w.selectivity - s) < 6 * std)
    assert abs(w.selectivity.mean() - s) < 0.05 * s


def test_multi_label_combines_label_sets():
    # With 3 labels and 2 per query there are 3 distinct filters, one per pair of labels.
    # AND: every pairwise intersection is the set of points with all three labels.
    # OR: every pairwise union is the set of points with any of the three labels.
    for mode, merge in (("and", lambda a, b: a & b), ("or", lambda a, b: a | b)):
        w = multi_label(5000, 60, 0.2, labels_per_query=2, mode=mode, n_labels=3, seed=9)
        distinct = list({f.words.tobytes(): f for f in w.filters}.values())
        assert len(distinct) == 3
        a, b, c = distinct
        assert merge(a, b) == merge(a, c) == merge(b, c)
        assert merge(a, b) != a
    with pytest.raises(ValueError, match="labels_per_query"):
        multi_label(100, 5, 0.1, labels_per_query=5, n_labels=4)
    with pytest.raises(ValueError, match="mode"):
        multi_label(100, 5, 0.1, mode="xor")


# ---- range -----------------------------------------------------------------------------------
def test_range_over_a_permutation_is_exact_and_contiguous():
    n, s = 5000, 0.03
    attribute = np.random.default_rng(0).permutation(n)
    w = numeric_range(attribute, 100, s, seed=1)
    assert w.name == "range"
    assert np.all(_counts(w) == round(s * n))
    starts = []
    for f in w.filters:
        values = np.sort(attribute[f.to_ids()])
        assert np.all(np.diff(values) == 1)  # a contiguous interval of attribute values
        starts.append(values[0])
    assert len(set(starts)) > 50  # random starts


def test_range_with_ties_and_gaps():
    n = 4000
    rng = np.random.default_rng(2)
    attribute = rng.integers(0, 500, size=n) * 3  # ties and gaps
    w = numeric_range(attribute, 200, 0.1, seed=3)
    assert np.all(_counts(w) >= 400)  # ties can only add points
    assert abs(w.selectivity.mean() - 0.1) < 0.01
    with pytest.raises(TypeError, match="integer"):
        numeric_range(np.linspace(0, 1, 10), 2, 0.5)
    with pytest.raises(ValueError, match="1-D"):
        numeric_range(np.zeros((2, 2), dtype=np.int64), 2, 0.5)


# ---- correlated ------------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_correlated_keeps_exactly_the_farthest_points(metric):
    ds = synthetic(700, 8, 5, n_queries=40, seed=6, metric=metric)
    s = 0.2
    w = correlated(ds.data, ds.queries, s, metric=metric)
    m = round(s * ds.n)
    assert np.all(_counts(w) == m)
    dist = _distances(ds.data, ds.queries, metric)
    scale = np.abs(dist).max()
    for i, f in enumerate(w.filters):
        mask = f.to_mask()
        # Every allowed point is at least as far as every disallowed one (float32 slack).
        assert dist[i, mask].min() >= dist[i, ~mask].max() - 1e-5 * scale


def test_correlated_memory_bound_batches(monkeypatch):
    # Force tiny distance blocks (one query at a time): same answer as the default batching.
    ds = synthetic(300, 4, 3, n_queries=10, seed=1)
    full = correlated(ds.data, ds.queries, 0.5, metric="l2")
    monkeypatch.setattr(workloads, "_DISTANCE_BLOCK", 1)
    small = correlated(ds.data, ds.queries, 0.5, metric="l2")
    assert all(a == b for a, b in zip(full.filters, small.filters, strict=True))
    assert all(f.count() == 300 for f in correlated(ds.data, ds.queries, 1.0, metric="l2").filters)


def test_correlated_validation():
    with pytest.raises(ValueError, match="zero vector"):
        correlated(np.zeros((5, 2)), np.ones((1, 2)), 0.5, metric="cosine")
    with pytest.raises(ValueError, match="dimension"):
        correlated(np.ones((5, 2)), np.ones((1, 3)), 0.5, metric="l2")
    with pytest.raises(ValueError, match="unknown metric"):
        correlated(np.ones((5, 2)), np.ones((1, 2)), 0.5, metric="l1")


# ---- make, validation, keys -------------------------------------------------------------
@pytest.fixture(scope="module")
def small() -> Dataset:
    return synthetic(600, 8, 6, n_queries=25, seed=11)


@pytest.mark.parametrize("name", WORKLOADS)
def test_make_dispatches_every_workload(small, name):
    w = make(name, small, 0.1, seed=2)
    assert w.name == name and w.n_queries == small.n_queries and w.n == small.n
    assert w.target == 0.1
    assert abs(w.selectivity.mean() - 0.1) < 0.03
    assert make(name, small, 0.1, seed=2).key() == w.key()


def test_make_range_uses_the_rank_attribute(small):
    rank = np.arange(small.n)[::-1].copy()
    ds = Dataset("ranked", small.data, small.queries, "l2", {"rank": rank})
    w = make("range", ds, 0.05, seed=0)
    for f in w.filters:
        r = np.sort(rank[f.to_ids()])
        assert np.all(np.diff(r) == 1)


def test_make_rejects_unknown_names(small):
    with pytest.raises(ValueError, match="random, label, multi_label, range, correlated"):
        make("zipf", small, 0.1)


@pytest.mark.parametrize("bad,error", [
    (0.0, ValueError), (-0.1, ValueError), (1.5, ValueError), (float("nan"), ValueError),
    ("0.1", TypeError), (True, TypeError), (None, TypeError),
])
def test_selectivity_is_validated(small, bad, error):
    with pytest.raises(error):
        workloads.random(100, 5, bad)
    with pytest.raises(error):
        make("correlated", small, bad)


def test_counts_are_validated():
    with pytest.raises(ValueError, match="n_queries"):
        workloads.random(100, 0, 0.5)
    with pytest.raises(ValueError, match="n must be"):
        workloads.random(0, 3, 0.5)
    with pytest.raises(TypeError, match="n_queries"):
        workloads.random(100, 2.0, 0.5)
    with pytest.raises(ValueError, match="seed"):
        workloads.random(100, 2, 0.5, seed=-1)


def test_workload_checks_its_fields():
    f = Bitmap.all(4)
    with pytest.raises(ValueError, match="shape"):
        Workload("random", [f, f], np.ones(3), None, {})
    with pytest.raises(ValueError, match="size"):
        Workload("random", [f, Bitmap.all(5)], np.ones(2), None, {})
    with pytest.raises(TypeError, match="Bitmap"):
        Workload("random", [np.ones(4, dtype=bool)], np.ones(1), None, {})


def test_key_is_stable_across_processes_and_sensitive_to_arguments():
    w = workloads.random(500, 4, 0.25, seed=3)
    code = ("from mcindex import workloads; "
            "print(workloads.random(500, 4, 0.25, seed=3).key())")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip().splitlines()[-1] == w.key()
    keys = {w.key(), workloads.random(500, 4, 0.25, seed=4).key(), workloads.random(500, 4, 0.5, seed=3).key(),
            workloads.random(501, 4, 0.25, seed=3).key(), label(500, 4, selectivity=0.25, seed=3).key()}
    assert len(keys) == 5


# ---- ground truth ------------------------------------------------------------------------------
def _reference(ds: Dataset, w: Workload, k: int) -> tuple[np.ndarray, np.ndarray]:
    """numpy brute force over each query's allowed subset, padded with -1 / inf."""
    dist = _distances(ds.data, ds.queries, ds.metric)
    ids = np.full((ds.n_queries, k), -1, dtype=np.int64)
    out = np.full((ds.n_queries, k), np.inf)
    for i, f in enumerate(w.filters):
        allowed = f.to_ids()
        order = allowed[np.argsort(dist[i, allowed], kind="stable")][:k]
        ids[i, :order.size] = order
        out[i, :order.size] = dist[i, order]
    return ids, out


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
@pytest.mark.parametrize("name", ["random", "label", "correlated"])
def test_ground_truth_matches_brute_force(tmp_path, metric, name):
    ds = synthetic(400, 8, 4, n_queries=15, seed=3, metric=metric)
    w = make(name, ds, 0.02, seed=1)  # 8 allowed points per query: fewer than k
    k = 12
    ids, dist = ground_truth(ds, w, k, cache=False)
    assert ids.shape == dist.shape == (15, k) and ids.dtype == np.int64 and dist.dtype == np.float32
    ref_ids, ref_dist = _reference(ds, w, k)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-4, atol=1e-4)
    assert np.all(ids[:, 8:] == -1) and np.all(np.isinf(dist[:, 8:]))


def test_ground_truth_with_more_allowed_points_than_k(small):
    w = make("multi_label", small, 0.3, seed=0)
    ids, dist = ground_truth(small, w, 10, cache=False)
    ref_ids, ref_dist = _reference(small, w, 10)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-4, atol=1e-4)


def _forbid_exact_search(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("exact_search called although the result is cached")
    monkeypatch.setattr(mcindex.exact, "exact_search", boom)


def test_ground_truth_cache_is_hit(tmp_path, small, monkeypatch):
    w = make("random", small, 0.2, seed=0)
    first = ground_truth(small, w, 10, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1 and files[0].name.startswith("synthetic-random-k10-")
    assert not list(tmp_path.glob("*.tmp"))  # the temporary file was renamed into place

    _forbid_exact_search(monkeypatch)
    second = ground_truth(small, w, 10, cache_dir=tmp_path)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    # Anything that changes the answer is a miss: k, the workload, the data, or cache=False.
    for call in (lambda: ground_truth(small, w, 11, cache_dir=tmp_path),
                 lambda: ground_truth(small, make("random", small, 0.2, seed=1), 10, cache_dir=tmp_path),
                 lambda: ground_truth(Dataset(small.name, small.data + 1, small.queries, small.metric),
                                      w, 10, cache_dir=tmp_path),
                 lambda: ground_truth(small, w, 10, cache=False, cache_dir=tmp_path)):
        with pytest.raises(AssertionError, match="cached"):
            call()


def test_ground_truth_cache_location_and_corruption(tmp_path, small, monkeypatch):
    monkeypatch.setenv("MCINDEX_CACHE", str(tmp_path / "env"))
    w = make("label", small, 0.1, seed=0)
    first = ground_truth(small, w, 5)
    (path,) = (tmp_path / "env" / "groundtruth").glob("*.npz")
    path.write_bytes(b"garbage")  # a damaged entry is recomputed and rewritten
    again = ground_truth(small, w, 5)
    np.testing.assert_array_equal(first[0], again[0])
    _forbid_exact_search(monkeypatch)
    np.testing.assert_array_equal(ground_truth(small, w, 5)[0], first[0])


def test_ground_truth_validation(small):
    w = workloads.random(small.n + 1, small.n_queries, 0.5)
    with pytest.raises(ValueError, match="size"):
        ground_truth(small, w, 5, cache=False)
    w = workloads.random(small.n, small.n_queries + 1, 0.5)
    with pytest.raises(ValueError, match="queries"):
        ground_truth(small, w, 5, cache=False)
    with pytest.raises(ValueError, match="k must be"):
        ground_truth(small, make("random", small, 0.5), 0, cache=False)
