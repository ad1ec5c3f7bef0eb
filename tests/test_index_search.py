"""Index.search: every route and the planner against exact filtered search."""

import numpy as np
import pytest

from mcindex import Bitmap, Index, exact_search, workloads
from mcindex.evaluate import recall


def clustered(n, dim, seed=0, clusters=12):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)) * 3
    return (centres[rng.integers(0, clusters, n)] + rng.standard_normal((n, dim))).astype(np.float32)


@pytest.fixture(scope="module")
def setup():
    data = clustered(6000, 16, seed=1)
    queries = clustered(40, 16, seed=2)
    index = Index.build(data, "l2", pool_size=64, min_clique_size=8, threads=2, progress=False, stats_sample=0)
    return data, queries, index


@pytest.mark.parametrize("strategy", ["exact", "mci", "graph", "auto"])
@pytest.mark.parametrize("selectivity", [0.02, 0.2, 1.0])
def test_recall_against_exact(setup, strategy, selectivity):
    data, queries, index = setup
    wl = workloads.random(len(data), len(queries), selectivity, seed=3)
    flt = None if selectivity == 1.0 else wl.filters
    true_ids, true_d = exact_search(data, queries, 10, filter=flt)
    ids, dists = index.search(queries, 10, flt, ef=128, strategy=strategy, threads=2)
    assert ids.shape == (40, 10) and ids.dtype == np.int64 and dists.dtype == np.float32
    # Every returned id passes its query's filter and its distance is the true one.
    for qi in range(len(queries)):
        got = ids[qi][ids[qi] >= 0]
        if flt is not None:
            assert np.all(wl.filters[qi].to_mask()[got])
        ref = ((data[got] - queries[qi]) ** 2).sum(1)
        np.testing.assert_allclose(dists[qi][: got.size], ref, rtol=1e-4, atol=1e-4)
        assert np.all(np.diff(dists[qi][: got.size]) >= 0)
    r = recall(ids, true_ids)
    if strategy == "exact":
        np.testing.assert_array_equal(ids, true_ids)
    elif strategy == "graph" and selectivity == 0.02:
        assert r > 0.3  # the graph route is not meant for selective filters; it must still be sane
    else:
        assert r >= 0.9, f"{strategy} at {selectivity}: recall {r:.3f}"


def test_correlated_filter_mci_finds_far_points(setup):
    data, queries, index = setup
    wl = workloads.correlated(data, queries, 0.05, metric="l2")
    true_ids, _ = exact_search(data, queries, 10, filter=wl.filters)
    ids, _ = index.search(queries, 10, wl.filters, ef=128, strategy="mci")
    assert recall(ids, true_ids) >= 0.9


def test_planner_and_stats(setup):
    data, queries, index = setup
    n = len(data)
    tiny = np.arange(0, n, n // 50)
    filters = [tiny, None] + [Bitmap.from_mask(np.arange(n) % m == 0) for m in range(2, len(queries))]
    ids, dists, st = index.search(queries, 10, filters, return_stats=True)
    rule = index.planner

    def expected(valid):
        if valid <= rule["exact_max_valid"]:
            return "exact"
        return "graph" if valid >= rule["graph_min_fraction"] * n else "mci"

    assert list(st["strategy"]) == [expected(v) for v in st["valid"]]
    assert st["strategy"][0] == "exact" and st["strategy"][1] == "graph"
    assert st["valid"][0] == tiny.size and st["valid"][1] == n and st["valid"][2] == filters[2].count()
    assert st["distances"][0] == tiny.size           # the exact route scores each valid point once
    assert set(st) == {"strategy", "valid", "distances", "expansions", "cliques", "seeds", "fallback"}
    _, _, st = index.search(queries[:3], 10, filters[5], strategy="mci", return_stats=True)
    assert np.all(st["strategy"] == "mci") and np.all(st["seeds"] > 0) and np.all(st["cliques"] > 0)


def test_empty_and_tiny_filters_pad(setup):
    data, queries, index = setup
    for strategy in ["auto", "mci", "graph", "exact"]:
        ids, dists = index.search(queries[:3], 5, np.zeros(len(data), bool), strategy=strategy)
        assert np.all(ids == -1) and np.all(np.isinf(dists))
        ids, dists = index.search(queries[:3], 5, np.array([7, 99]), strategy=strategy, ef=64)
        assert np.all(ids[:, 2:] == -1) and set(ids.ravel().tolist()) <= {7, 99, -1}
        if strategy != "graph":  # the graph route may miss a 2-point filter: the planner never sends it one
            assert np.all(np.sort(ids[:, :2], axis=1) == [7, 99])


def test_search_after_save_load_mmap(setup, tmp_path):
    data, queries, index = setup
    index.save(tmp_path / "i.mci")
    loaded = Index.load(tmp_path / "i.mci", mmap=True)
    flt = Bitmap.from_mask(np.arange(len(data)) % 7 == 0)
    a = index.search(queries, 10, flt, strategy="mci")
    b = loaded.search(queries, 10, flt, strategy="mci")
    np.testing.assert_array_equal(a[0], b[0])


def test_cosine_and_single_query(rng=None):
    data = clustered(2000, 8, seed=5)
    index = Index.build(data, "cosine", pool_size=48, min_clique_size=8, progress=False, stats_sample=0)
    q = data[17] * 2.0
    ids, dists = index.search(q, 5, strategy="exact")
    assert ids.shape == (1, 5) and ids[0, 0] == 17 and dists[0, 0] == pytest.approx(0.0, abs=1e-5)


def test_bad_search_arguments(setup):
    data, queries, index = setup
    with pytest.raises(ValueError, match="strategy"):
        index.search(queries, 10, strategy="hnsw")
    with pytest.raises(ValueError, match="dim 16"):
        index.search(queries[:, :3], 10)
    with pytest.raises(ValueError, match="k must"):
        index.search(queries, 0)
    with pytest.raises(TypeError, match="ef must be an int"):
        index.search(queries, 10, ef=1.5)
    with pytest.raises(ValueError, match="out of range"):
        index.search(queries, 10, np.array([len(data)]))
