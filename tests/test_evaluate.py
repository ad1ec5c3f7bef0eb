"""Recall on hand-made cases: -1 slots, queries with fewer than k valid points, duplicates."""

from __future__ import annotations

import numpy as np
import pytest

from mcindex.evaluate import recall, recall_per_query


def test_perfect_and_partial_recall():
    true = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    found = np.array([[4, 3, 2, 1], [5, 9, 10, 6]])  # order does not matter
    np.testing.assert_allclose(recall_per_query(found, true), [1.0, 0.5])
    assert recall(found, true) == pytest.approx(0.75)


def test_k_cuts_both_sides():
    true = np.array([[1, 2, 3, 4]])
    found = np.array([[2, 1, 4, 3]])
    assert recall(found, true, k=2) == pytest.approx(1.0)  # {2,1} vs {1,2}
    assert recall(found[:, [2, 3, 0, 1]], true, k=2) == 0.0  # {4,3} vs {1,2}
    # Default k is the number of results returned, scored against the first k true ids.
    assert recall(np.array([[1, 2]]), true) == 1.0


def test_fewer_valid_true_ids_than_k():
    # The filter allowed only two points; finding both is perfect recall.
    true = np.array([[7, 9, -1, -1], [3, -1, -1, -1]])
    found = np.array([[9, 7, 11, 12], [-1, -1, -1, -1]])
    np.testing.assert_allclose(recall_per_query(found, true), [1.0, 0.0])
    found = np.array([[9, -1, -1, -1], [3, 4, -1, -1]])
    np.testing.assert_allclose(recall_per_query(found, true), [0.5, 1.0])


def test_minus_one_never_matches_and_empty_queries_score_one():
    true = np.array([[-1, -1, -1], [1, -1, -1]])
    found = np.array([[-1, -1, -1], [-1, -1, -1]])
    np.testing.assert_allclose(recall_per_query(found, true), [1.0, 0.0])


def test_duplicates_in_found_count_once():
    true = np.array([[1, 2, 3]])
    found = np.array([[1, 1, 1]])
    assert recall(found, true) == pytest.approx(1 / 3)


def test_found_narrower_than_k():
    true = np.array([[1, 2, 3, 4]])
    assert recall(np.array([[1, 2]]), true, k=4) == pytest.approx(0.5)


def test_large_ids_use_the_fallback():
    big = 2**61
    true = np.array([[big, big + 1], [0, 1]], dtype=np.int64)
    found = np.array([[big + 1, 5], [1, 0]], dtype=np.int64)
    np.testing.assert_allclose(recall_per_query(found, true), [0.5, 1.0])


def test_matches_a_simple_loop_on_random_data():
    rng = np.random.default_rng(0)
    true = rng.integers(-1, 50, size=(300, 10))
    found = rng.integers(-1, 50, size=(300, 10))
    expected = []
    for f, t in zip(found, true, strict=True):
        valid = set(t[t >= 0].tolist())
        hit = len(valid & set(f[f >= 0].tolist()))
        expected.append(1.0 if not valid else hit / min(10, len(valid)))
    np.testing.assert_allclose(recall_per_query(found, true), expected)


def test_validation():
    with pytest.raises(ValueError, match="2-D"):
        recall(np.array([1, 2]), np.array([[1, 2]]))
    with pytest.raises(ValueError, match="rows"):
        recall(np.zeros((2, 3), dtype=int), np.zeros((3, 3), dtype=int))
    with pytest.raises(ValueError, match="only 3 columns"):
        recall(np.zeros((2, 3), dtype=int), np.zeros((2, 3), dtype=int), k=4)
    with pytest.raises(ValueError, match="k must be"):
        recall(np.zeros((2, 3), dtype=int), np.zeros((2, 3), dtype=int), k=0)
    with pytest.raises(TypeError, match="integer"):
        recall(np.zeros((2, 3)), np.zeros((2, 3), dtype=int))
    with pytest.raises(TypeError, match="k must be"):
        recall(np.zeros((2, 3), dtype=int), np.zeros((2, 3), dtype=int), k=2.0)
    with pytest.raises(ValueError, match="zero queries"):
        recall(np.zeros((0, 3), dtype=int), np.zeros((0, 3), dtype=int))
    assert recall_per_query(np.zeros((0, 3), dtype=int), np.zeros((0, 3), dtype=int)).shape == (0,)
