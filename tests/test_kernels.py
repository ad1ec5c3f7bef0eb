"""Every compiled SIMD level against numpy, on awkward dimensions."""

import numpy as np
import pytest

import mcindex
from mcindex import _core

DIMS = [1, 3, 17, 50, 128, 384, 960]
LEVELS = _core.available_simd_levels()


def test_scalar_always_available_and_active_level_listed():
    assert "scalar" in LEVELS
    assert mcindex.simd_level() in LEVELS


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("batched", [False, True])
def test_kernels_match_numpy(level, dim, batched, rng):
    a = rng.standard_normal((4, dim)).astype(np.float32)
    b = rng.standard_normal((9, dim)).astype(np.float32)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    l2 = _core.kernel_pairwise(level, "l2sq", a, b, batched)
    dot = _core.kernel_pairwise(level, "dot", a, b, batched)
    ref_l2 = ((a64[:, None, :] - b64[None, :, :]) ** 2).sum(-1)
    ref_dot = a64 @ b64.T
    scale = np.sqrt(dim)  # float32 rounding grows with the number of terms
    np.testing.assert_allclose(l2, ref_l2, rtol=1e-5, atol=1e-5 * scale)
    np.testing.assert_allclose(dot, ref_dot, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("level", LEVELS)
def test_cosine_on_unit_vectors(level, rng):
    a = rng.standard_normal((3, 50)).astype(np.float32)
    b = rng.standard_normal((5, 50)).astype(np.float32)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    cos = 1.0 - _core.kernel_pairwise(level, "dot", a, b)
    ref = 1.0 - a.astype(np.float64) @ b.astype(np.float64).T
    np.testing.assert_allclose(cos, ref, atol=1e-6)


def test_unknown_level_is_a_clear_error(rng):
    a = rng.standard_normal((1, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="SIMD level"):
        _core.kernel_pairwise("sse9", "dot", a, a)
