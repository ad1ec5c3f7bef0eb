import numpy as np
import pytest

from mcindex import Bitmap


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 1000])
def test_mask_roundtrip_and_count(n, rng):
    mask = rng.random(n) < 0.3
    bm = Bitmap.from_mask(mask)
    assert len(bm) == n
    assert bm.count() == int(mask.sum())
    np.testing.assert_array_equal(bm.to_mask(), mask)
    np.testing.assert_array_equal(bm.to_ids(), np.flatnonzero(mask))
    assert bm.words.shape == ((n + 63) // 64,)


@pytest.mark.parametrize("n", [1, 64, 100])
def test_algebra_matches_numpy(n, rng):
    a, b = rng.random(n) < 0.5, rng.random(n) < 0.5
    A, B = Bitmap.from_mask(a), Bitmap.from_mask(b)
    np.testing.assert_array_equal((A & B).to_mask(), a & b)
    np.testing.assert_array_equal((A | B).to_mask(), a | b)
    np.testing.assert_array_equal((A ^ B).to_mask(), a ^ b)
    np.testing.assert_array_equal((A - B).to_mask(), a & ~b)
    np.testing.assert_array_equal((~A).to_mask(), ~a)
    assert (~A).count() == n - A.count()  # tail bits stay clear


def test_from_ids_all_none_contains():
    bm = Bitmap.from_ids(np.array([5, 1, 5, 99]), 100)
    assert bm.count() == 3 and 5 in bm and 2 not in bm and 100 not in bm
    assert Bitmap.all(70).count() == 70 and Bitmap.none(70).count() == 0
    assert Bitmap.from_ids([], 10).count() == 0
    assert Bitmap.from_ids([3], 10) == Bitmap.from_mask(np.arange(10) == 3)


def test_bad_input():
    with pytest.raises(ValueError, match="out of range"):
        Bitmap.from_ids([10], 10)
    with pytest.raises(ValueError, match="out of range"):
        Bitmap.from_ids([-1], 10)
    with pytest.raises(TypeError, match="integers"):
        Bitmap.from_ids(np.array([1.5]), 10)
    with pytest.raises(TypeError, match="bool"):
        Bitmap.from_mask(np.array([0, 1]))
    with pytest.raises(ValueError, match="sizes differ"):
        Bitmap.all(3) & Bitmap.all(4)
    with pytest.raises(TypeError):
        Bitmap.all(3) & np.ones(3, bool)
    with pytest.raises(ValueError, match=">= 0"):
        Bitmap.all(-1)
