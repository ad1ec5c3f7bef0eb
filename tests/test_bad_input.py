"""Bad input to every public entry point raises a clear Python exception; awkward but valid
input (non-contiguous, read-only, other dtypes and byte orders, k > n, ef < k, empty batches)
is handled, not rejected. RELIABILITY.md, "Bad input"."""

from __future__ import annotations

import re

import numpy as np
import pytest

import mcindex
from mcindex import Bitmap, Collection, ExactIndex, Index, exact_search
from mcindex.collection import CollectionFormatError
from mcindex.persistence import IndexFormatError, load_index, save_index

N, DIM = 400, 8
STRATEGIES = ["auto", "exact", "mci", "graph"]


def points(n=N, dim=DIM, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((6, dim)) * 3
    return (centres[rng.integers(0, 6, n)] + rng.standard_normal((n, dim))).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    return points()


@pytest.fixture(scope="module")
def index(data):
    return Index.build(data, "l2", pool_size=32, min_clique_size=6, threads=2, progress=False, stats_sample=0)


@pytest.fixture(scope="module")
def cosine_index(data):
    return Index.build(data, "cosine", pool_size=32, min_clique_size=6, threads=2, progress=False,
                       stats_sample=0, calibrate=False)


@pytest.fixture(scope="module")
def collection(index):
    rng = np.random.default_rng(1)
    return Collection.from_index(index, {"price": rng.uniform(0, 100, N)})


def index_searcher(index, strategy):
    return lambda q, k=5, filter=None, **kw: index.search(q, k, filter, strategy=strategy, **kw)


# Every way of searching, as fn(queries, k, filter=None, **kw) -> (ids, dists).
def searchers(data, index, collection):
    exact = ExactIndex(data, "l2")
    return {
        "exact_search": lambda q, k=5, filter=None, **kw: exact_search(data, q, k, filter=filter, **kw),
        "ExactIndex.search": lambda q, k=5, filter=None, **kw: exact.search(q, k, filter=filter, **kw),
        **{f"Index.search[{s}]": index_searcher(index, s) for s in STRATEGIES},
        "Collection.search": lambda q, k=5, filter=None, **kw: collection.search(q, k, filter, **kw)[:2],
    }


def with_row(q, row, value):
    """q as float64 with every coordinate of one row set to value."""
    return np.where(np.arange(len(q))[:, None] == row, value, q)


SEARCHERS = ["exact_search", "ExactIndex.search", *[f"Index.search[{s}]" for s in STRATEGIES], "Collection.search"]


@pytest.fixture(scope="module")
def search(data, index, collection):
    table = searchers(data, index, collection)
    return lambda name: table[name]


# ---- queries ----------------------------------------------------------------------------------
BAD_QUERIES = [
    ("complex", lambda q: q.astype(np.complex64), TypeError, "real numbers"),
    ("bool", lambda q: q > 0, TypeError, "real numbers"),
    ("strings", lambda q: q.astype(str), TypeError, "real numbers"),
    ("objects", lambda q: q.astype(object), TypeError, "real numbers"),
    ("ragged list", lambda q: [[1.0, 2.0], [3.0]], TypeError, "2-D array of numbers|real numbers"),
    ("3-D", lambda q: q[None], ValueError, "2-D"),
    ("scalar", lambda q: np.float32(1.0), ValueError, "2-D"),
    ("wrong dim", lambda q: q[:, :3], ValueError, f"dim {DIM}"),
    ("dim 0", lambda q: q[:, :0], ValueError, "dim"),
    ("NaN", lambda q: with_row(q, 1, np.nan), ValueError, r"NaN or inf in 1 row\(s\): 1"),
    ("inf", lambda q: with_row(q, 2, -np.inf), ValueError, r"NaN or inf in 1 row\(s\): 2"),
    ("float64 beyond float32", lambda q: q.astype(np.float64) * 1e300, ValueError, "NaN or inf"),
    ("too large", lambda q: q * np.float32(1e30), ValueError, "too large for float32 distances"),
]


@pytest.mark.parametrize("name", SEARCHERS)
@pytest.mark.parametrize("label, make, exc, match", BAD_QUERIES, ids=[b[0] for b in BAD_QUERIES])
def test_bad_queries_raise_clear_errors(search, data, name, label, make, exc, match):
    with pytest.raises(exc, match=match):
        search(name)(make(data[:4].copy()))


@pytest.mark.parametrize("name", SEARCHERS)
@pytest.mark.parametrize("k, exc", [(0, ValueError), (-3, ValueError), (1.5, ValueError), (True, ValueError),
                                    ("3", ValueError)])
def test_bad_k(search, data, name, k, exc):
    with pytest.raises(exc, match="k must"):
        search(name)(data[:2], k)


@pytest.mark.parametrize("name", SEARCHERS)
@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_bad_thread_counts(search, data, name, threads):
    with pytest.raises(ValueError, match="threads"):
        search(name)(data[:2], threads=threads)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_bad_ef_and_strategy(index, data, strategy):
    with pytest.raises(ValueError, match="ef must be >= 1"):
        index.search(data[:2], 5, ef=0, strategy=strategy)
    with pytest.raises(TypeError, match="ef must be an int"):
        index.search(data[:2], 5, ef="64", strategy=strategy)
    with pytest.raises(ValueError, match="strategy"):
        index.search(data[:2], 5, strategy=strategy.upper() + "x")


def test_zero_vectors_under_cosine_are_rejected_everywhere(data, cosine_index):
    """Cosine is undefined for a zero vector: data and queries alike are refused, naming the row."""
    zero = data.copy()
    zero[[3, 17]] = 0
    with pytest.raises(ValueError, match=r"zero vector.*2 row\(s\): 3, 17"):
        Index.build(zero, "cosine", progress=False)
    with pytest.raises(ValueError, match="zero vector"):
        ExactIndex(zero, "cosine")
    with pytest.raises(ValueError, match="zero vector"):
        Collection.build(zero, None, metric="cosine", progress=False)
    queries = data[:4].copy()
    queries[2] = 0
    with pytest.raises(ValueError, match=r"queries has a zero vector.*: 2"):
        cosine_index.search(queries, 5)
    with pytest.raises(ValueError, match="queries has a zero vector"):
        exact_search(data, queries, 5, metric="cosine")
    # Tiny but non-zero rows are vectors like any other (norms are taken in float64).
    tiny = data[:4] * np.float32(1e-30)
    ids, _ = cosine_index.search(tiny, 3, strategy="exact")
    np.testing.assert_array_equal(ids, cosine_index.search(data[:4], 3, strategy="exact")[0])


@pytest.mark.parametrize("name", SEARCHERS)
def test_bad_filters(search, data, name):
    fn = search(name)
    q = data[:3]
    cases = [
        (np.ones(N - 1, bool), ValueError, f"shape \\({N},\\)"),             # mask of the wrong length
        (np.array([0, N]), ValueError, "out of range"),                      # id past the end
        (np.array([-1, 4]), ValueError, "out of range"),                     # negative id
        (np.array([0.5, 2.0]), TypeError, "bool .* or integer"),              # float ids
        (Bitmap.all(N + 1), ValueError, "size"),                             # bitmap of another size
        ([None, None], ValueError, "expected 3"),                             # per-query list too short
        ([1, 2, 3], TypeError, "list of ints|where must be"),                 # ambiguous list of ints
        (lambda ids: ids[:10] > 0, TypeError, "bool array of shape|where must be"),  # callable, wrong shape
        ("price < 5" if name != "Collection.search" else 42, TypeError, "unsupported filter|where must be"),
        (np.ones((3, N + 1), bool), ValueError, "shape"),                     # 2-D mask, wrong width
    ]
    for flt, exc, match in cases:
        if name == "Collection.search" and isinstance(flt, np.ndarray) and flt.dtype != np.bool_:
            continue  # a collection's where takes predicates, SQL, bitmaps and masks, not id arrays
        with pytest.raises(exc, match=match):
            fn(q, 5, filter=flt)


# ---- awkward but valid input is handled, not rejected ---------------------------------------------
def layouts(q):
    fortran = np.asfortranarray(q)
    strided = np.repeat(q, 2, axis=1)[:, ::2]
    readonly = q.copy()
    readonly.flags.writeable = False
    return {
        "fortran": fortran, "strided": strided, "read-only": readonly,
        "float64": q.astype(np.float64), "float16": q.astype(np.float16).astype(np.float32),
        "big-endian": q.astype(">f4"), "list": q.tolist(), "int": np.round(q).astype(np.int32),
    }


@pytest.mark.parametrize("name", SEARCHERS)
def test_layouts_and_dtypes_are_accepted(search, data, name):
    fn = search(name)
    q = data[:5] + np.float32(0.1)
    for label, variant in layouts(q).items():
        expected = np.ascontiguousarray(np.asarray(variant, dtype=np.float64), dtype=np.float32)
        ids, dists = fn(variant, 7)
        ref_ids, ref_d = fn(expected, 7)
        np.testing.assert_array_equal(ids, ref_ids, err_msg=label)
        np.testing.assert_array_equal(dists, ref_d, err_msg=label)
        if isinstance(variant, np.ndarray) and not variant.flags.writeable:
            assert not variant.flags.writeable  # never written to


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_read_only_and_strided_data_builds_the_same_index(data, metric):
    kw = dict(pool_size=24, min_clique_size=6, threads=1, progress=False, stats_sample=0, calibrate=False,
              deterministic=True)
    plain = Index.build(data, metric, **kw)
    readonly = data.copy()
    readonly.flags.writeable = False
    wide = np.zeros((N, 2 * DIM), np.float32)
    wide[:, ::2] = data
    for variant in (readonly, wide[:, ::2], np.asfortranarray(data), data.astype(">f4")):
        before = np.array(variant, copy=True)
        other = Index.build(variant, metric, **kw)
        for name, arr in plain._sections.items():
            np.testing.assert_array_equal(other._sections[name], arr, err_msg=name)
        np.testing.assert_array_equal(variant, before)  # the input is not modified (cosine normalises a copy)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_k_larger_than_n_is_padded(strategy):
    small = points(n=30, seed=4)
    index = Index.build(small, "l2", pool_size=16, min_clique_size=4, progress=False, stats_sample=0)
    ids, dists = index.search(small[:3], 50, strategy=strategy)
    assert ids.shape == (3, 50) and dists.shape == (3, 50)
    assert np.all(ids[:, 30:] == -1) and np.all(np.isinf(dists[:, 30:]))
    for row in ids:
        assert sorted(row[:30].tolist()) == list(range(30))  # every point, each once
    ref, _ = exact_search(small, small[:3], 50)
    np.testing.assert_array_equal(ids, ref)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_ef_below_k_is_raised_to_k(index, data, strategy):
    """ef < k: the list is raised to k (documented), so ef=1 searches exactly like ef=k."""
    q = data[:20] + np.float32(0.05)
    flt = Bitmap.from_mask(np.arange(N) % 3 == 0)
    for k in (1, 10, 40):
        low = index.search(q, k, flt, ef=1, strategy=strategy, threads=1)
        at_k = index.search(q, k, flt, ef=k, strategy=strategy, threads=1)
        np.testing.assert_array_equal(low[0], at_k[0])
        np.testing.assert_array_equal(low[1], at_k[1])
        assert np.all(low[0][:, : min(k, flt.count())] >= 0)


@pytest.mark.parametrize("name", SEARCHERS)
def test_empty_query_batch(search, data, name):
    ids, dists = search(name)(np.zeros((0, DIM), np.float32), 5)
    assert ids.shape == (0, 5) and dists.shape == (0, 5)
    assert ids.dtype == np.int64 and dists.dtype == np.float32


def test_huge_ef_and_k_do_not_allocate_for_slots_that_cannot_fill(index, data):
    ids, _ = index.search(data[:2], 3, ef=2**29, strategy="graph")
    np.testing.assert_array_equal(ids, index.search(data[:2], 3, ef=N, strategy="graph")[0])
    ids, _ = index.search(data[:1], 10**6, strategy="mci")
    assert ids.shape == (1, 10**6) and np.all(ids[0, N:] == -1)


# ---- data ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("label, make, exc, match", [
    ("empty", lambda d: d[:0], ValueError, "at least one row"),
    ("1-D", lambda d: d[0], ValueError, "2-D"),
    ("strings", lambda d: d.astype(str), TypeError, "real numbers"),
    ("NaN", lambda d: with_row(d, 9, np.nan), ValueError, r"NaN or inf in 1 row\(s\): 9"),
    ("too large", lambda d: d * np.float32(1e36), ValueError, "too large"),
])
def test_bad_data(data, label, make, exc, match):
    with pytest.raises(exc, match=match):
        Index.build(make(data), progress=False)
    with pytest.raises(exc, match=match):
        Collection.build(make(data), None, metric="l2", progress=False)
    if label != "empty":  # an empty ExactIndex is allowed: every search is padded
        with pytest.raises(exc, match=match):
            ExactIndex(make(data))


def test_empty_exact_index_pads(data):
    ids, dists = ExactIndex(data[:0]).search(data[:2], 3)
    assert np.all(ids == -1) and np.all(np.isinf(dists))


def test_an_index_file_with_no_points_loads_and_searches_padded(tmp_path, index):
    header = {"format": "mcindex", "format_version": 2, "metric": "l2", "n": 0, "dim": 4, "stride": 4,
              "entry_point": 0, "nav_degree": 4, "build_params": {}, "stats": {}, "mcindex_version": "0.1.0"}
    u8, u4 = np.zeros(1, np.uint64), np.zeros(0, np.uint32)
    sections = {"vectors": np.zeros((0, 4), np.float32), "nav_offsets": u8, "nav_neighbors": u4,
                "clique_offsets": u8, "clique_members": u4, "clique_thresholds": np.zeros(0, np.float32),
                "node_offsets": u8, "node_cliques": u4}
    save_index(tmp_path / "empty.mci", header, sections)
    full_index, index = index, Index.load(tmp_path / "empty.mci")
    for strategy in STRATEGIES:
        ids, dists, st = index.search(np.ones((2, 4), np.float32), 3, strategy=strategy, return_stats=True)
        assert np.all(ids == -1) and np.all(np.isinf(dists)) and list(st["valid"]) == [0, 0]
        assert set(st) == set(full_index.search(np.ones((1, DIM), np.float32), 1, return_stats=True)[2])
    assert index.stats()["n"] == 0


# ---- paths -------------------------------------------------------------------------------------------
def test_paths_that_do_not_exist_or_are_directories(index, collection, tmp_path):
    missing = tmp_path / "missing.mci"
    with pytest.raises(FileNotFoundError, match="missing.mci"):
        Index.load(missing)
    with pytest.raises(FileNotFoundError, match="missing.mci"):
        load_index(missing, mmap=True)
    with pytest.raises(IsADirectoryError, match=re.escape(str(tmp_path))):
        Index.load(tmp_path)
    with pytest.raises(IsADirectoryError, match="Is a directory"):
        index.save(tmp_path)
    with pytest.raises(FileNotFoundError, match="No such directory.*nowhere"):
        index.save(tmp_path / "nowhere" / "x.mci")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing half-written anywhere

    with pytest.raises(FileNotFoundError):
        Collection.load(tmp_path / "nothing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(CollectionFormatError, match="not a collection directory"):
        Collection.load(tmp_path / "file.txt")
    with pytest.raises(CollectionFormatError, match="not a collection"):
        Collection.load(tmp_path)
    with pytest.raises(FileNotFoundError):
        collection.save(tmp_path / "nowhere" / "c")
    with pytest.raises(FileExistsError):
        collection.save(tmp_path / "file.txt")
    with pytest.raises(IndexFormatError, match="not an mcindex file"):
        Index.load(tmp_path / "file.txt")


# ---- the command line -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_files(tmp_path_factory, data):
    d = tmp_path_factory.mktemp("cli")
    np.save(d / "vectors.npy", data)
    np.save(d / "queries.npy", data[:3])
    nan = data[:3].copy()
    nan[1, 2] = np.nan
    np.save(d / "nan.npy", nan)
    np.save(d / "strings.npy", data[:3].astype(str))
    (d / "garbage.npy").write_bytes(b"\x93NUMPY garbage")
    (d / "qdir.npy").mkdir()
    assert mcindex.cli.main(["build", str(d / "vectors.npy"), "-o", str(d / "c"), "--quiet", "--threads", "2",
                             "--param", "pool_size=24", "--param", "calibrate=false", "--param", "stats_sample=0"]) == 0
    Index.build(data[:50], progress=False, stats_sample=0, calibrate=False).save(d / "bare.mci")
    return d


@pytest.mark.parametrize("argv, fragment", [
    (["search", "{d}/c", "--queries", "{d}/nan.npy"], "NaN or inf"),
    (["search", "{d}/c", "--queries", "{d}/strings.npy"], "real numbers"),
    (["search", "{d}/c", "--queries", "{d}/garbage.npy"], "not a valid .npy file"),
    (["search", "{d}/c", "--queries", "{d}/qdir.npy"], "Is a directory"),
    (["search", "{d}/bare.mci", "--queries", "{d}/queries.npy"], "not a collection directory"),
    (["search", "{d}", "--queries", "{d}/queries.npy"], "not a collection"),
    (["search", "{d}/c", "--queries", "{d}/queries.npy", "--threads", "0"], "--threads"),
    (["search", "{d}/c", "--queries", "{d}/queries.npy", "--ef", "0"], "--ef"),
    (["search", "{d}/c", "--queries", "{d}/queries.npy", "-k", "-1"], "-k"),
    (["info", "{d}/garbage.npy"], "not an mcindex file"),
    (["info", "{d}/qdir.npy"], "not a collection"),
    (["build", "{d}/nan.npy", "-o", "{d}/never"], "NaN or inf"),
    (["build", "{d}/qdir.npy", "-o", "{d}/never"], "Is a directory"),
    (["build", "{d}/vectors.npy", "-o", "{d}/bare.mci", "--param", "calibrate=false"], "not a collection directory"),
])
def test_cli_bad_input_is_one_line_exit_2(cli_files, capsys, argv, fragment):
    code = mcindex.cli.main([a.format(d=cli_files) for a in argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("mcindex: error: ") and fragment in lines[0], err
    assert not (cli_files / "never").exists()


def test_structure_accessors_check_their_ids(index):
    groups = index.stats()["cliques"]
    for fn, count in ((index.clique_members, groups), (index.clique_threshold, groups),
                      (index.cliques_of, N), (index.neighbors, N), (index.one_hop, N)):
        fn(count - 1)
        with pytest.raises(IndexError, match="out of range"):
            fn(count)
        with pytest.raises(ValueError, match=">= 0"):
            fn(-1)
        with pytest.raises(TypeError, match="must be an int"):
            fn(1.0)
    with pytest.raises(ValueError, match="ef must be >= 1"):
        index.plan_rule(0)


# ---- integers beyond their range, deep predicates, huge k, 0/1 integer masks ---------------------------
@pytest.mark.parametrize("param", ["seeds", "idle_window", "max_hops", "ef"])
@pytest.mark.parametrize("value", [2**63, 2**64, 2**70])
def test_search_integers_beyond_their_range_name_the_parameter(index, data, param, value):
    """Python ints past what the core takes are a ValueError naming the parameter, not the
    binding's TypeError with its whole signature."""
    with pytest.raises(ValueError, match=rf"^{param} must be <= ") as err:
        index.search(data[:2], 5, **{param: value})
    assert len(str(err.value)) < 120


@pytest.mark.parametrize("param, value", [("seed", 2**64), ("seed", 2**70), ("degree", 2**63),
                                          ("pool_size", 2**64), ("stats_sample", 2**70)])
def test_build_integers_beyond_their_range_name_the_parameter(data, param, value):
    with pytest.raises(ValueError, match=rf"^{param} must be <= "):
        Index.build(data, "l2", progress=False, **{param: value})


@pytest.mark.parametrize("k", [2**63, 2**64])
def test_k_beyond_int64_is_a_value_error(index, data, k):
    with pytest.raises(ValueError, match="k must be a positive int"):
        index.search(data[:1], k)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_huge_k_runs_the_search_with_k_capped_at_n(index, data, strategy, monkeypatch):
    """k far above n: the core searches for at most n results with a list of at most n (its
    own allocations never grow with k) and the answer is padded to k."""
    from mcindex import _core

    seen = []
    real = _core.mci_search

    def spy(*args):
        seen.append((args[11], args[12]))  # k, ef
        return real(*args)

    monkeypatch.setattr(_core, "mci_search", spy)
    ids, dists = index.search(data[:2], 50_000, strategy=strategy, ef=10**9)
    assert seen == [(N, N)]
    assert ids.shape == (2, 50_000) and np.all(ids[:, N:] == -1) and np.all(np.isinf(dists[:, N:]))
    ref_ids, ref_d = index.search(data[:2], N, strategy=strategy, ef=N)
    np.testing.assert_array_equal(ids[:, :N], ref_ids)
    np.testing.assert_array_equal(dists[:, :N], ref_d)


def test_exact_search_with_huge_k_is_capped_and_padded(data, monkeypatch):
    from mcindex import _core

    seen = []
    real = _core.exact_search

    def spy(data_, q, k, *rest):
        seen.append(k)
        return real(data_, q, k, *rest)

    monkeypatch.setattr(_core, "exact_search", spy)
    ids, dists = exact_search(data, data[:2], 10**5)
    assert seen == [N] and ids.shape == (2, 10**5) and np.all(ids[:, N:] == -1)


def test_deep_predicates_have_a_depth_limit_and_long_chains_are_flat(collection, data):
    from functools import reduce
    from operator import or_

    from mcindex import col

    p = col("price") < 1
    with pytest.raises(ValueError, match="at most 64 levels"):
        for i in range(10_000):
            p = ~(p | (col("price") > 99 - i * 1e-3))
    many = reduce(or_, [col("price").between(i, i + 0.5) for i in range(10_000)])  # one level, 10,000 terms
    price = collection.column("price").values
    want = np.zeros(N, bool)
    for i in range(10_000):
        want |= (price >= i) & (price <= i + 0.5)
    assert collection.count(many) == want.sum()
    ids, _ = collection.search(data[:3], 5, many, strategy="exact")
    assert np.all(want[ids[ids >= 0]])
    assert (~~(col("price") < 5)) == (col("price") < 5)  # NOT NOT x is x


def test_integer_01_array_of_length_n_warns_that_it_is_read_as_ids(index, data):
    mask = (np.arange(N) % 2).astype(np.uint8)
    with pytest.warns(UserWarning, match=r"holding only 0 and 1 is read as a list of allowed ids.*astype\(bool\)"):
        ids, _ = index.search(data[:2], 5, mask, strategy="exact")
    assert set(ids[ids >= 0].tolist()) <= {0, 1}  # the documented reading: ids 0 and 1
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        index.search(data[:2], 5, mask.astype(bool))  # a real mask: no warning
        index.search(data[:2], 5, np.arange(N, dtype=np.int64))  # a real id list of length n: none
        index.search(data[:2], 5, np.array([0, 1]))  # a short id list: none
