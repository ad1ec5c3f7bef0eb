"""Property-based checks (hypothesis): Bitmap algebra and exact_search against brute force on
arbitrary small shapes, metrics, k and filters."""

import numpy as np
from conftest import brute_force
from hypothesis import given, settings
from hypothesis import strategies as st

from mcindex import Bitmap, exact_search


@st.composite
def masks(draw, n=None):
    n = draw(st.integers(0, 300)) if n is None else n
    bits = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return np.array(bits, dtype=bool)


@given(st.integers(0, 300).flatmap(lambda n: st.tuples(masks(n), masks(n))))
def test_bitmap_algebra(pair):
    a, b = pair
    A, B = Bitmap.from_mask(a), Bitmap.from_mask(b)
    assert (A & B).count() == int((a & b).sum())
    assert (A | B).count() == int((a | b).sum())
    np.testing.assert_array_equal((~A).to_mask(), ~a)
    np.testing.assert_array_equal((A ^ B).to_mask(), a ^ b)
    assert Bitmap.from_ids(np.flatnonzero(a), len(a)) == A


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 120),
    dim=st.integers(1, 20),
    nq=st.integers(1, 6),
    k=st.integers(1, 15),
    metric=st.sampled_from(["l2", "ip", "cosine"]),
    density=st.floats(0.0, 1.0),
    form=st.sampled_from(["none", "mask", "ids", "bitmap", "per_query"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_exact_search_matches_brute_force(n, dim, nq, k, metric, density, form, seed):
    rng = np.random.default_rng(seed)
    # Integers-valued coordinates create exact distance ties, exercising the id tie-break.
    data = rng.integers(-3, 4, (n, dim)).astype(np.float32)
    data[np.all(data == 0, axis=1), 0] = 1  # cosine needs non-zero rows
    queries = rng.integers(-3, 4, (nq, dim)).astype(np.float32)
    queries[np.all(queries == 0, axis=1), 0] = 1
    mask = rng.random(n) < density
    if form == "none":
        flt, ref_masks = None, None
    elif form == "mask":
        flt, ref_masks = mask, mask
    elif form == "ids":
        flt, ref_masks = np.flatnonzero(mask), mask
    elif form == "bitmap":
        flt, ref_masks = Bitmap.from_mask(mask), mask
    else:
        ref_masks = [rng.random(n) < density for _ in range(nq)]
        flt = [Bitmap.from_mask(m) for m in ref_masks]
    ids, dists = exact_search(data, queries, k, metric=metric, filter=flt, threads=2)
    ref_ids, ref_d = brute_force(data, queries, k, metric, ref_masks)
    finite = np.isfinite(ref_d)
    np.testing.assert_array_equal(ids == -1, ~finite)
    np.testing.assert_allclose(dists[finite], ref_d[finite], rtol=1e-4, atol=1e-4)
    if metric == "l2" or metric == "ip":
        # Integer coordinates: distances are exact in float32, so ids must match, ties by id.
        np.testing.assert_array_equal(ids, ref_ids)
