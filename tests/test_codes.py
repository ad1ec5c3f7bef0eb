"""Indexes with 8-bit codes (codes="sq8"): every strategy ranks by codes and re-scores a short
list with the float vectors; exact when that list covers the valid set; the file keeps the
codes (version 3) and refuses code sections that disagree with the header."""

from __future__ import annotations

import numpy as np
import pytest

from mcindex import Bitmap, Index, exact_search
from mcindex.evaluate import recall
from mcindex.persistence import IndexFormatError, load_index, save_index

STRATEGIES = ["auto", "exact", "mci", "graph"]


def clustered(n=3000, dim=24, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, dim)) * 3
    return (centres[rng.integers(0, 20, n)] + rng.standard_normal((n, dim))).astype(np.float32)


@pytest.fixture(scope="module", params=["l2", "ip", "cosine"])
def built(request):
    data = clustered()
    index = Index.build(data, request.param, pool_size=32, min_clique_size=6, threads=2, progress=False,
                        stats_sample=0, calibrate=False, codes="sq8")
    queries = (data[:40] + 0.05 * np.random.default_rng(1).standard_normal((40, data.shape[1]))).astype(np.float32)
    return data, queries, index, request.param


def test_codes_are_the_quantised_vectors(built):
    data, _, index, metric = built
    s = index._sections
    assert index._header["codes"] == "sq8" and index.format_version == 3
    lo, step = s["code_ranges"]
    recon = lo + step * s["codes"].astype(np.float32)
    vectors = index.vectors
    inside = (vectors >= lo) & (vectors <= lo + 255 * step)
    err = np.abs(recon - vectors)
    assert np.all(err[inside] <= step.repeat(1)[None, :].repeat(len(vectors), 0)[inside] / 2 + 1e-5)
    assert s["codes"].shape == (len(data), data.shape[1]) and s["codes"].dtype == np.uint8


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_results_are_true_distances_and_close_to_exact(built, strategy):
    data, queries, index, metric = built
    true_ids, _ = exact_search(data, queries, 10, metric=metric)
    ids, dists = index.search(queries, 10, strategy=strategy, ef=64, threads=1)
    # Distances are re-scored with the float vectors: exactly what exact search reports per id.
    full_ids, full_d = exact_search(data, queries, len(data), metric=metric)
    for q in range(len(queries)):
        where = {int(i): d for i, d in zip(full_ids[q], full_d[q])}
        np.testing.assert_allclose(dists[q], [where[int(i)] for i in ids[q]], rtol=1e-5, atol=1e-5)
        assert np.all(np.diff(dists[q]) >= 0)
    assert recall(ids, true_ids) >= (0.99 if strategy in ("exact", "mci") else 0.9)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_rerank_covering_the_valid_set_is_exact(built, strategy):
    data, queries, index, metric = built
    mask = np.random.default_rng(2).random(len(data)) < 0.05  # about 150 valid
    valid = int(mask.sum())
    true_ids, true_d = exact_search(data, queries, 10, metric=metric, filter=mask)
    ids, dists = index.search(queries, 10, Bitmap.from_mask(mask), strategy="exact", rerank=valid, threads=1)
    np.testing.assert_array_equal(ids, true_ids)
    np.testing.assert_allclose(dists, true_d, rtol=1e-6, atol=1e-6)
    if strategy != "exact":  # the traversals with a list covering the valid set find them all too
        ids, _ = index.search(queries, 10, Bitmap.from_mask(mask), strategy=strategy, ef=valid, rerank=valid,
                              threads=1)
        assert recall(ids, true_ids) >= 0.99


def test_codes_survive_save_and_load_and_match_the_plain_index(built, tmp_path):
    data, queries, index, metric = built
    index.save(tmp_path / "c.mci")
    for mmap in (False, True):
        loaded = Index.load(tmp_path / "c.mci", mmap=mmap)
        assert loaded._header["codes"] == "sq8"
        for a, b in zip(loaded.search(queries, 10, threads=1), index.search(queries, 10, threads=1)):
            np.testing.assert_array_equal(a, b)


def test_code_sections_that_disagree_with_the_header_are_refused(built, tmp_path):
    _, _, index, _ = built
    h, s = dict(index._header), dict(index._sections)
    cases = [
        ({k: v for k, v in dict(h, codes="none").items() if k != "code_error"}, s, "unknown section"),
        (dict(h, codes="none"), s, "code_error.*only allowed"),
        ({k: v for k, v in h.items() if k != "code_error"}, s, "code_error"),
        (dict(h, code_error=-1.0), s, "code_error"),
        (dict(h, code_error=float("nan")), s, "code_error"),
        (dict(h, code_error="0.1"), s, "code_error"),
        (h, {k: v for k, v in s.items() if k != "codes"}, "missing section 'codes'"),
        (h, dict(s, codes=s["codes"][:-1]), "codes has shape"),
        (h, dict(s, code_ranges=s["code_ranges"][:1]), "code_ranges has shape"),
        (h, dict(s, code_ranges=np.stack([s["code_ranges"][0], -s["code_ranges"][1]])), "positive step"),
        (h, dict(s, code_ranges=np.stack([s["code_ranges"][0] + np.float32(np.inf), s["code_ranges"][1]])),
         "not finite"),
        (dict(h, codes="sq4"), s, "header\\['codes'\\]"),
        (dict(h, format_version=2), s, "needs format version 3"),
    ]
    for header, sections, message in cases:
        with pytest.raises(IndexFormatError, match=message):
            save_index(tmp_path / "bad.mci", header, sections)


def test_an_index_without_codes_is_still_written_as_version_2(tmp_path):
    data = clustered(400, 8)
    index = Index.build(data, "l2", pool_size=16, min_clique_size=4, progress=False, stats_sample=0, calibrate=False,
                        codes="none")
    index.save(tmp_path / "p.mci")
    header, sections = load_index(tmp_path / "p.mci")
    assert header["format_version"] == 2 and "codes" not in sections


def test_bad_codes_and_rerank_arguments(built):
    data, queries, index, _ = built
    with pytest.raises(ValueError, match="codes must be one of"):
        Index.build(data, "l2", codes="sq4", progress=False)
    with pytest.raises(ValueError, match="rerank must be >= 0"):
        index.search(queries, 10, rerank=-1)
    with pytest.raises(TypeError, match="rerank must be an int"):
        index.search(queries, 10, rerank=2.5)


@pytest.mark.parametrize("rerank", [None, 10])
@pytest.mark.parametrize("share", [1.0, 0.3])
def test_the_exact_strategy_stays_exact_with_codes(built, rerank, share):
    """Codes rank the scan; a query whose re-rank list could hide a nearer point (by the
    header's code_error) is scanned again with the floats, so the answer is exact search's."""
    data, queries, index, metric = built
    mask = np.random.default_rng(3).random(len(data)) < share
    true_ids, true_d = exact_search(data, queries, 10, metric=metric, filter=mask)
    ids, dists, st = index.search(queries, 10, Bitmap.from_mask(mask), strategy="exact", rerank=rerank,
                                  threads=1, return_stats=True)
    np.testing.assert_allclose(dists, true_d, rtol=1e-5, atol=1e-5)
    assert recall(ids, true_ids) == 1.0
    assert not st["early_stop"].any()


def test_tight_cosine_clusters_stay_rankable():
    """Many near-duplicates per direction (sentence embeddings of similar texts): codes of the
    cosine metric are compared by L2 between unit vectors, which ranks inside a tight cluster."""
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((30, 32))
    data = (centres[rng.integers(0, 30, 3000)] * 10 + 0.05 * rng.standard_normal((3000, 32))).astype(np.float32)
    index = Index.build(data, "cosine", pool_size=32, threads=2, progress=False, stats_sample=0, calibrate=False)
    queries = data[:50] + np.float32(0.01) * rng.standard_normal((50, 32)).astype(np.float32)
    true_ids, _ = exact_search(data, queries, 10, metric="cosine")
    for strategy in ("exact", "graph", "mci"):
        ids, _ = index.search(queries, 10, strategy=strategy, ef=64, threads=1)
        assert recall(ids, true_ids) >= (1.0 if strategy == "exact" else 0.95), strategy


def test_code_error_bounds_every_non_exception(built):
    _, _, index, _ = built
    s = index._sections
    lo, step = s["code_ranges"]
    recon = (lo + step * s["codes"].astype(np.float32)).astype(np.float64)
    miss = np.sqrt(((recon - index.vectors.astype(np.float64)) ** 2).sum(axis=1))
    exceptions = np.unpackbits(s["code_exceptions"].view(np.uint8), bitorder="little")[: len(index)].astype(bool)
    assert index._header["code_error"] >= miss[~exceptions].max()
