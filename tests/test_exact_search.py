"""exact_search against a numpy brute force over the filtered subset, for every filter form."""

import numpy as np
import pytest
from conftest import brute_force

import mcindex
from mcindex import Bitmap, ExactIndex, exact_search

METRICS = ["l2", "ip", "cosine"]


def check(ids, dists, ref_ids, ref_dists):
    np.testing.assert_array_equal(ids, ref_ids)
    finite = np.isfinite(ref_dists)
    np.testing.assert_array_equal(np.isfinite(dists), finite)
    np.testing.assert_allclose(dists[finite], ref_dists[finite], rtol=1e-4, atol=1e-4)


@pytest.fixture
def small(rng):
    data = rng.standard_normal((700, 17)).astype(np.float32)
    queries = rng.standard_normal((13, 17)).astype(np.float32)
    return data, queries


@pytest.mark.parametrize("metric", METRICS)
def test_unfiltered(metric, small):
    data, queries = small
    ids, dists = exact_search(data, queries, 10, metric=metric, threads=2)
    assert ids.dtype == np.int64 and dists.dtype == np.float32 and ids.shape == (13, 10)
    check(ids, dists, *brute_force(data, queries, 10, metric))


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("form", ["mask", "ids", "ids_dense", "bitmap", "callable"])
def test_one_filter_every_form(metric, form, small, rng):
    data, queries = small
    n = len(data)
    density = 0.5 if form == "ids_dense" else 0.04  # 0.04 takes the id-list path, 0.5 the bitset
    mask = rng.random(n) < density
    f = {
        "mask": mask,
        "ids": rng.permutation(np.flatnonzero(mask)).astype(np.int32),
        "ids_dense": np.flatnonzero(mask),
        "bitmap": Bitmap.from_mask(mask),
        "callable": lambda ids: mask[ids],
    }[form]
    ids, dists = exact_search(data, queries, 10, metric=metric, filter=f)
    check(ids, dists, *brute_force(data, queries, 10, metric, mask))
    assert np.all(mask[ids[ids >= 0]])


@pytest.mark.parametrize("threads", [1, 2])
def test_per_query_filters_mixed_forms(threads, small, rng):
    data, queries = small
    n = len(data)
    masks, filters = [], []
    for q in range(len(queries)):
        m = rng.random(n) < rng.choice([0.01, 0.05, 0.3, 0.9])
        kind = q % 5
        if kind == 0:
            filters.append(m)
        elif kind == 1:
            filters.append(np.flatnonzero(m))
        elif kind == 2:
            filters.append(Bitmap.from_mask(m))
        elif kind == 3:
            filters.append(lambda ids, m=m: m[ids])
        else:
            filters.append(None)
            m = None
        masks.append(m)
    ids, dists = exact_search(data, queries, 7, filter=filters, threads=threads)
    check(ids, dists, *brute_force(data, queries, 7, "l2", masks))


def test_per_query_2d_mask_and_shared_object(small, rng):
    data, queries = small
    masks = rng.random((len(queries), len(data))) < 0.1
    ids, dists = exact_search(data, queries, 5, filter=masks)
    check(ids, dists, *brute_force(data, queries, 5, "l2", list(masks)))
    shared = Bitmap.from_mask(masks[0])
    ids2, _ = exact_search(data, queries, 5, filter=[shared] * len(queries))
    ref, _ = brute_force(data, queries, 5, "l2", masks[0])
    np.testing.assert_array_equal(ids2, ref)


def test_fewer_valid_than_k_and_empty_filter(small):
    data, queries = small
    ids, dists = exact_search(data, queries, 10, filter=np.array([3, 400, 7]))
    assert np.all(np.sort(ids[:, :3], axis=1) == [3, 7, 400])
    assert np.all(ids[:, 3:] == -1) and np.all(np.isinf(dists[:, 3:]))
    ids, dists = exact_search(data, queries, 4, filter=np.zeros(len(data), bool))
    assert np.all(ids == -1) and np.all(dists == np.inf)
    ids, dists = exact_search(data, queries, 4, filter=Bitmap.none(len(data)))
    assert np.all(ids == -1)
    ids, _ = exact_search(data, queries, 4, filter=np.array([], dtype=np.int64))
    assert np.all(ids == -1)


def test_k_larger_than_n_and_tiny_shapes(rng):
    data = rng.standard_normal((1, 1)).astype(np.float32)
    ids, dists = exact_search(data, np.array([[2.0]]), 3)
    assert ids.tolist() == [[0, -1, -1]]
    assert dists[0, 0] == pytest.approx((2.0 - data[0, 0]) ** 2, rel=1e-6)
    data = rng.standard_normal((50, 1)).astype(np.float32)
    q = rng.standard_normal((4, 1)).astype(np.float32)
    check(*exact_search(data, q, 60), *brute_force(data, q, 60))


def test_single_vector_query_float64_and_ties(rng):
    data = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [5.0, 5.0]])  # rows 0 and 2 tie
    ids, dists = exact_search(data, np.array([1.0, 0.0]), 3)
    assert ids.tolist() == [[0, 2, 1]]
    np.testing.assert_allclose(dists, [[0.0, 0.0, 2.0]])


def test_large_blocks_and_many_queries(rng):
    # Spans several 512-row blocks and query groups, on both the id-list and bitset paths.
    data = rng.standard_normal((5000, 8)).astype(np.float32)
    queries = rng.standard_normal((70, 8)).astype(np.float32)
    masks = [rng.random(5000) < s for s in np.resize([0.002, 0.03, 0.2, 1.0], 70)]
    filters = [np.flatnonzero(m) if i % 2 else m for i, m in enumerate(masks)]
    check(*exact_search(data, queries, 10, filter=filters, threads=2),
          *brute_force(data, queries, 10, "l2", masks))


def test_exact_index_reuse_and_repr(small):
    data, queries = small
    index = ExactIndex(data, "cosine")
    assert len(index) == 700 and index.dim == 17
    assert mcindex.simd_level() in repr(index)
    check(*index.search(queries, 3), *brute_force(data, queries, 3, "cosine"))


class TestBadInput:
    def test_metric_k_threads(self, small):
        data, queries = small
        with pytest.raises(ValueError, match="metric"):
            exact_search(data, queries, metric="hamming")
        for k in (0, -1, 2.5, True):
            with pytest.raises(ValueError, match="k must"):
                exact_search(data, queries, k)
        with pytest.raises(ValueError, match="threads"):
            exact_search(data, queries, threads=0)

    def test_shapes_and_dtypes(self, small):
        data, queries = small
        with pytest.raises(ValueError, match="dim 17"):
            exact_search(data, queries[:, :5])
        with pytest.raises(ValueError, match="2-D"):
            exact_search(data[0], queries)
        with pytest.raises(TypeError, match="real numbers"):
            exact_search(data.astype(str), queries)
        with pytest.raises(TypeError, match="real numbers"):
            exact_search(data > 0, queries)

    def test_nan_inf_and_zero_vectors(self, small):
        data, queries = small
        bad = data.copy()
        bad[[3, 9]] = np.nan
        with pytest.raises(ValueError, match="2 row.*3, 9"):
            exact_search(bad, queries)
        q = queries.copy()
        q[1, 0] = np.inf
        with pytest.raises(ValueError, match="queries has NaN or inf"):
            exact_search(data, q)
        zero = data.copy()
        zero[5] = 0
        with pytest.raises(ValueError, match="zero vector.*5"):
            exact_search(zero, queries, metric="cosine")

    def test_filters(self, small):
        data, queries = small
        n = len(data)
        with pytest.raises(ValueError, match=r"shape \(700,\)"):
            exact_search(data, queries, filter=np.ones(n + 1, bool))
        with pytest.raises(ValueError, match="out of range"):
            exact_search(data, queries, filter=np.array([0, n]))
        with pytest.raises(ValueError, match="out of range"):
            exact_search(data, queries, filter=np.array([-1]))
        with pytest.raises(TypeError, match="dtype float64"):
            exact_search(data, queries, filter=np.ones(n))
        with pytest.raises(ValueError, match="size 5"):
            exact_search(data, queries, filter=Bitmap.all(5))
        with pytest.raises(ValueError, match="expected 13"):
            exact_search(data, queries, filter=[None] * 3)
        with pytest.raises(TypeError, match="list of ints"):
            exact_search(data, queries, filter=list(range(13)))
        with pytest.raises(TypeError, match="unsupported filter type"):
            exact_search(data, queries, filter="price < 5")
        with pytest.raises(TypeError, match="callable must return a bool"):
            exact_search(data, queries, filter=lambda ids: ids)
        with pytest.raises(ValueError, match="filter of query 2"):
            exact_search(data, queries, filter=[None, None, np.array([n + 5])] + [None] * 10)
