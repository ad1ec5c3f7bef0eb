"""SQ8 (8-bit scalar quantisation): the asymmetric kernels at every compiled SIMD level against
numpy on the reconstructed vectors, and the training and encoding that make the codes."""

import numpy as np
import pytest

from mcindex import _core

DIMS = [1, 3, 17, 50, 128, 384, 960]
LEVELS = _core.available_simd_levels()
MODES = ["single", "gather", "range"]  # one row at a time; batch over ids; batch over rows 0..n-1
F32_EPS = np.finfo(np.float32).eps


def _data(kind, n, dim, rng):
    x = rng.standard_normal((n, dim)).astype(np.float32)
    if kind == "outliers":  # a few rows far out: training clips them, encoding clamps them
        rows = rng.choice(n, size=max(1, n // 50), replace=False)
        x[rows] *= 1000.0
    elif kind == "constant":  # some dimensions take one value (zero and non-zero)
        x[:, ::3] = 0.0
        x[:, 1::3] = 7.25
    elif kind == "offset":  # far from the origin, narrow range: the lo term matters
        x = (100.0 + 0.01 * x).astype(np.float32)
    return x


def _reconstruct(codes, lo, scale):
    return lo.astype(np.float64) + scale.astype(np.float64) * codes.astype(np.float64)


def _pairwise(level, kind, q, codes, lo, scale, mode):
    return _core.sq8_pairwise(level, kind, q, codes, lo, scale, batched=mode != "single", gather=mode == "gather")


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("data", ["random", "outliers", "constant", "offset"])
def test_sq8_kernels_match_numpy(level, dim, mode, data, rng):
    base = _data(data, 40, dim, rng)
    lo, scale = _core.sq8_train(base)
    codes = _core.sq8_encode(base, lo, scale)
    q = _data(data, 3, dim, rng)
    recon = _reconstruct(codes, lo, scale)
    q64 = q.astype(np.float64)
    ref_l2 = ((q64[:, None, :] - recon[None, :, :]) ** 2).sum(-1)
    ref_ip = q64 @ recon.T
    l2 = _pairwise(level, "l2sq", q, codes, lo, scale, mode)
    ip = _pairwise(level, "dot", q, codes, lo, scale, mode)
    assert l2.shape == ip.shape == (3, 40) and l2.dtype == ip.dtype == np.float32
    # float32 sums of dim terms: the error grows with sqrt(dim) times the size of the terms (for
    # L2, of q - lo and scale * code, what the kernel subtracts; for the inner product, of q * lo
    # and q * scale * code).
    tol = np.sqrt(dim) * F32_EPS * 8
    terms_l2 = tol * ((np.abs(q64 - lo) + 255 * scale.astype(np.float64)) ** 2).sum(-1)[:, None]
    terms_ip = tol * (np.abs(q64) @ (np.abs(lo) + 255 * scale).astype(np.float64))[:, None]
    assert np.all(np.abs(l2 - ref_l2) <= 1e-5 * np.abs(ref_l2) + terms_l2)
    assert np.all(np.abs(ip - ref_ip) <= 1e-5 * np.abs(ref_ip) + terms_ip)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("dim", [3, 17, 50, 384])
def test_sq8_levels_agree_with_scalar(level, dim, rng):
    """The SIMD kernels compute the scalar reference's sums up to float32 reassociation."""
    base = rng.standard_normal((30, dim)).astype(np.float32)
    lo, scale = _core.sq8_train(base)
    codes = _core.sq8_encode(base, lo, scale)
    q = rng.standard_normal((2, dim)).astype(np.float32)
    for kind in ("l2sq", "dot"):
        ref = _core.sq8_pairwise("scalar", kind, q, codes, lo, scale)
        for mode in MODES:
            got = _pairwise(level, kind, q, codes, lo, scale, mode)
            np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-5 * np.sqrt(dim))


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("dim", [1, 17, 50, 384])
@pytest.mark.parametrize("mode", MODES)
def test_sq8_padded_rows_read_only_dim_bytes(level, dim, mode, rng):
    """Code rows wider than dim (a padded stride): the kernels read the first dim bytes only."""
    base = rng.standard_normal((20, dim)).astype(np.float32)
    lo, scale = _core.sq8_train(base)
    codes = _core.sq8_encode(base, lo, scale)
    padded = np.full((20, dim + 13), 255, dtype=np.uint8)
    padded[:, :dim] = codes
    q = rng.standard_normal((2, dim)).astype(np.float32)
    for kind in ("l2sq", "dot"):
        np.testing.assert_array_equal(_pairwise(level, kind, q, padded, lo, scale, mode),
                                      _pairwise(level, kind, q, codes, lo, scale, mode))


@pytest.mark.parametrize("level", LEVELS)
def test_sq8_metric_identities(level, rng):
    """sq8_l2 is numpy's squared L2 to the reconstruction; sq8_dot + sum(q * lo) its inner product;
    and an exact code (a vector equal to its reconstruction) gives the float kernels' values."""
    dim = 50
    base = rng.standard_normal((25, dim)).astype(np.float32)
    lo, scale = _core.sq8_train(base)
    codes = _core.sq8_encode(base, lo, scale)
    recon = (lo + scale * codes.astype(np.float32)).astype(np.float32)
    q = rng.standard_normal((4, dim)).astype(np.float32)
    l2 = _core.sq8_pairwise(level, "l2sq", q, codes, lo, scale, batched=True)
    ip = _core.sq8_pairwise(level, "dot", q, codes, lo, scale, batched=True)
    np.testing.assert_allclose(l2, _core.kernel_pairwise(level, "l2sq", q, recon), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(ip, _core.kernel_pairwise(level, "dot", q, recon), rtol=1e-5, atol=1e-4)
    q64, r64 = q.astype(np.float64), _reconstruct(codes, lo, scale)
    np.testing.assert_allclose(l2, ((q64[:, None] - r64[None]) ** 2).sum(-1), rtol=1e-5, atol=1e-4)
    w = q64 * scale  # the decomposition the storage relies on
    np.testing.assert_allclose(w @ codes.T.astype(np.float64) + (q64 @ lo)[:, None], q64 @ r64.T, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ip, q64 @ r64.T, rtol=1e-5, atol=1e-4)


def test_sq8_distance_to_own_code_is_small(rng):
    """A stored vector is nearest (or near-nearest) to its own code: the quantisation error is small."""
    dim = 128
    base = rng.standard_normal((200, dim)).astype(np.float32)
    lo, scale = _core.sq8_train(base)
    codes = _core.sq8_encode(base, lo, scale)
    l2 = _core.sq8_pairwise(LEVELS[-1], "l2sq", base[:20], codes, lo, scale, batched=True)
    assert np.all(np.argmin(l2, axis=1) == np.arange(20))
    assert np.all(np.diag(l2[:, :20]) <= (scale.astype(np.float64) ** 2).sum() / 4 * 1.01)


# ---- training and encoding ---------------------------------------------------------------------
@pytest.mark.parametrize("dim", [1, 3, 17, 50, 384])
def test_sq8_codes_round_trip_within_half_a_step(dim, rng):
    x = rng.standard_normal((5000, dim)).astype(np.float32) * rng.uniform(0.01, 100, dim).astype(np.float32)
    x += rng.uniform(-50, 50, dim).astype(np.float32)
    lo, scale = _core.sq8_train(x)
    assert lo.dtype == scale.dtype == np.float32 and lo.shape == scale.shape == (dim,)
    assert np.all(scale > 0)
    codes = _core.sq8_encode(x, lo, scale)
    assert codes.dtype == np.uint8 and codes.shape == x.shape
    lo64, s64, x64 = lo.astype(np.float64), scale.astype(np.float64), x.astype(np.float64)
    hi = lo64 + 255 * s64
    recon = lo64 + s64 * codes
    slack = 4 * F32_EPS * (np.abs(x64) + np.abs(lo64) + 255 * s64)
    inside = (x64 >= lo64) & (x64 <= hi)
    assert inside.mean() > 0.99
    err = np.abs(recon - x64)
    assert np.all(err[inside] <= (s64 / 2 + slack)[inside])
    # Outside [lo, hi] a value is clamped to the nearest end.
    below, above = x64 < lo64, x64 > hi
    assert np.all(codes[below] == 0) and np.all(codes[above] == 255)
    assert below.any() and above.any()  # the quantiles leave a few values out at each end


def test_sq8_encode_rounds_to_the_nearest_code():
    lo = np.zeros(6, np.float32)
    scale = np.ones(6, np.float32)
    x = np.array([[0.49, 0.5, 1.51, 254.4, 254.6, 1e30], [-3, -0.0, 2.5, 255, 300, -1e30]], np.float32)
    codes = _core.sq8_encode(x, lo, scale)
    np.testing.assert_array_equal(codes, [[0, 1, 2, 254, 255, 255], [0, 0, 3, 255, 255, 0]])


def test_sq8_training_uses_quantiles_not_extremes(rng):
    x = rng.uniform(-1, 1, (20000, 8)).astype(np.float32)
    x[:5, :] = 1e6  # five huge outliers per dimension (0.025% of the rows)
    x[5:10, :] = -1e6
    lo, scale = _core.sq8_train(x)
    hi = lo + 255 * scale
    np.testing.assert_allclose(lo, -0.998, atol=3e-3)  # the 0.1% quantile of U(-1, 1)
    np.testing.assert_allclose(hi, 0.998, atol=3e-3)
    # With the extremes (quantiles 0 and 1) the outliers would set the range.
    lo_all, scale_all = _core.sq8_train(x, lower=0.0, upper=1.0)
    np.testing.assert_array_equal(lo_all, -1e6)
    assert np.all(scale_all > 7000)
    # The outliers are clamped, the rest keeps its resolution.
    codes = _core.sq8_encode(x, lo, scale)
    assert np.all(codes[:5] == 255) and np.all(codes[5:10] == 0)
    recon = lo + scale * codes[10:].astype(np.float32)
    assert np.abs(recon - x[10:]).max() <= scale.max() * 0.51 + 2e-3


def test_sq8_training_samples_rows(rng):
    x = rng.standard_normal((30000, 4)).astype(np.float32)
    lo_all, scale_all = _core.sq8_train(x, sample=0)
    lo, scale = _core.sq8_train(x, sample=5000, seed=1)
    lo2, scale2 = _core.sq8_train(x, sample=5000, seed=1)
    lo3, _ = _core.sq8_train(x, sample=5000, seed=2)
    np.testing.assert_array_equal(lo, lo2)  # deterministic for a seed
    np.testing.assert_array_equal(scale, scale2)
    assert not np.array_equal(lo, lo3)
    np.testing.assert_allclose(lo, lo_all, atol=0.3)  # a sample's 0.1% quantile is near the full one
    np.testing.assert_allclose(scale, scale_all, rtol=0.1)
    np.testing.assert_allclose(lo_all, np.quantile(x, 0.001, axis=0), atol=0.05)


def test_sq8_constant_dimensions_get_a_tiny_positive_scale(rng):
    x = rng.standard_normal((300, 5)).astype(np.float32)
    x[:, 1] = 0.0
    x[:, 3] = -12.5
    lo, scale = _core.sq8_train(x)
    assert np.all(scale > 0) and np.all(np.isfinite(scale))
    assert lo[1] == 0.0 and lo[3] == -12.5
    assert scale[1] < 1e-30 and scale[3] < 1e-7
    codes = _core.sq8_encode(x, lo, scale)
    assert np.all(codes[:, 1] == 0) and np.all(codes[:, 3] == 0)
    recon = lo + scale * codes.astype(np.float32)
    np.testing.assert_array_equal(recon[:, [1, 3]], x[:, [1, 3]])  # exact
    # Later values off the constant clamp, without overflow or NaN.
    y = np.array([[0, 1e-3, 0, -12.0, 0], [0, -5.0, 0, -13.0, 0]], np.float32)
    np.testing.assert_array_equal(_core.sq8_encode(y, lo, scale)[:, [1, 3]], [[255, 255], [0, 0]])


def test_sq8_one_row_and_wide_ranges():
    lo, scale = _core.sq8_train(np.array([[1.0, -2.0, 3e38]], np.float32))
    np.testing.assert_array_equal(lo, np.array([1.0, -2.0, 3e38], np.float32))
    assert np.all(scale > 0) and np.all(np.isfinite(scale))
    x = np.array([[-3e38, 0.0], [3e38, 1.0]], np.float32)  # hi - lo overflows float32
    lo, scale = _core.sq8_train(x, lower=0.0, upper=1.0)
    assert np.isfinite(scale[0]) and scale[0] > 2e36
    codes = _core.sq8_encode(x, lo, scale)
    np.testing.assert_array_equal(codes, [[0, 0], [255, 255]])


def test_sq8_bad_input_is_a_clear_error(rng):
    x = rng.standard_normal((10, 4)).astype(np.float32)
    lo, scale = _core.sq8_train(x)
    codes = _core.sq8_encode(x, lo, scale)
    with pytest.raises(ValueError, match="NaN or inf"):
        _core.sq8_train(np.full((3, 4), np.nan, np.float32))
    with pytest.raises(ValueError, match="quantile|lower"):
        _core.sq8_train(x, lower=0.9, upper=0.1)
    with pytest.raises(ValueError, match="one entry per dimension"):
        _core.sq8_encode(x, lo[:3], scale[:3])
    with pytest.raises(ValueError, match="positive"):
        _core.sq8_encode(x, lo, np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="SIMD level"):
        _core.sq8_pairwise("sse9", "l2sq", x, codes, lo, scale)
    with pytest.raises(ValueError, match="kind"):
        _core.sq8_pairwise("scalar", "cos", x, codes, lo, scale)
    with pytest.raises(ValueError, match="shorter"):
        _core.sq8_pairwise("scalar", "l2sq", x, codes[:, :3].copy(), lo, scale)
