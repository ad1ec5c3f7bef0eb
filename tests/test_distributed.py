"""Sharded collections on Ray (mcindex.distributed): partitions, merge, build, search against
exact search over the union, save/load, bad input, and shard failures (an actor killed for
good, an actor's process SIGKILLed in the middle of a query).

One local Ray instance (2 CPUs) serves the whole module; the multi-node cluster test is in
test_distributed_cluster.py.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")

import mcindex  # noqa: E402
from mcindex import Bitmap, Collection, col  # noqa: E402
from mcindex.collection import CollectionFormatError  # noqa: E402
from mcindex.collection.columns import RawColumn  # noqa: E402
from mcindex.distributed import (ShardedCollection, ShardTimeoutError,  # noqa: E402
                                 ShardUnavailableError)
from mcindex.distributed import partition as part  # noqa: E402
from mcindex.distributed.batches import concat_rows, take_rows  # noqa: E402
from mcindex.distributed.merge import merge_topk  # noqa: E402

FAST = {"calibrate": False, "stats_sample": 0, "progress": False}
N, DIM = 3000, 16


# ---- pure functions, no Ray needed ---------------------------------------------------------------
def test_hash_partition_is_pinned_and_stable_across_processes():
    ids = np.array([0, 1, 2, 12345, 2**62], dtype=np.int64)
    # splitmix64 of 0 is a published constant; a change here would move every row to another shard
    assert int(part.splitmix64(np.array([0]))[0]) == 0xE220A8397B1DCDAF
    shards = part.hash_shards(ids, 7).tolist()
    strs = ["sku-1", "sku-2", "ünïcode", ""]
    str_shards = part.hash_shards(np.array(strs, dtype=object), 7).tolist()
    code = ("import numpy as np; from mcindex.distributed import partition as p; "
            "print(p.hash_shards(np.array([0, 1, 2, 12345, 2**62]), 7).tolist(), "
            "p.hash_shards(np.array(['sku-1', 'sku-2', 'ünïcode', ''], dtype=object), 7).tolist())")
    env = dict(os.environ, PYTHONHASHSEED="12345")  # a different str hash salt: must not matter
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == f"{shards} {str_shards}"
    # near-equal shard sizes for consecutive row numbers
    sizes = np.bincount(part.hash_shards(np.arange(100_000), 8), minlength=8)
    assert sizes.min() > 0.95 * 100_000 / 8


def test_cluster_partition_finds_clusters_and_caps_imbalance():
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((4, 8)) * 20
    labels = rng.integers(0, 4, 4000)
    x = (centres[labels] + rng.standard_normal((4000, 8))).astype(np.float32)
    cents = part.kmeans(x[:1000], 4, "l2", seed=3)
    assert np.array_equal(cents, part.kmeans(x[:1000], 4, "l2", seed=3))  # deterministic
    got = part.assign(x, cents, "l2")
    # every true cluster maps to exactly one shard
    for c in range(4):
        assert len(set(got[labels == c].tolist())) == 1
    assert len(set(got.tolist())) == 4
    # one huge cluster: capped at 1.25 x the mean, overflow to the next-nearest shards
    skewed = np.concatenate([x[labels == 0]] * 6 + [x[labels != 0]])
    cap = int(np.ceil(1.25 * len(skewed) / 4))
    room = np.full(4, cap, dtype=np.int64)
    s = part.assign(skewed, cents, "l2", room)
    sizes = np.bincount(s, minlength=4)
    assert sizes.max() <= cap and sizes.sum() == len(skewed)
    assert np.array_equal(room, cap - sizes)
    # cosine: centroids are unit vectors
    assert np.allclose(np.linalg.norm(part.kmeans(x[:500], 3, "cosine"), axis=1), 1, atol=1e-5)
    with pytest.raises(ValueError, match="distinct"):
        part.kmeans(np.ones((50, 4), np.float32), 3, "l2")


def test_merge_topk_matches_a_sort_of_the_union():
    rng = np.random.default_rng(2)
    nq, k = 30, 7
    ids, dists = [], []
    for s in range(3):
        d = np.sort(rng.integers(0, 20, (nq, k)).astype(np.float32), axis=1)  # many ties
        i = rng.permutation(10_000)[: nq * k].reshape(nq, k) + s * 10_000
        d[:, -2:] = np.inf if s == 2 else d[:, -2:]
        i[d == np.inf] = -1
        ids.append(i)
        dists.append(d)
    got_i, got_d, src = merge_topk(ids, dists, k)
    all_i, all_d = np.concatenate(ids, 1), np.concatenate(dists, 1)
    for q in range(nq):
        order = sorted(range(all_i.shape[1]), key=lambda j: (all_d[q, j], all_i[q, j] if all_i[q, j] >= 0 else 1e18))
        assert got_i[q].tolist() == [int(all_i[q, j]) if np.isfinite(all_d[q, j]) else -1 for j in order[:k]]
        assert np.array_equal(got_d[q], all_d[q, order[:k]])
    flat = np.concatenate([a.ravel() for a in ids])
    assert np.array_equal(flat[src[src >= 0]], got_i[src >= 0])
    # str ids, fewer candidates than k: padded with None / inf
    si, sd, _ = merge_topk([np.array([["b", None]], dtype=object)], [np.array([[1.0, np.inf]], np.float32)], 3)
    assert si.tolist() == [["b", None, None]] and sd[0, 0] == 1.0 and np.isinf(sd[0, 1:]).all()


def test_take_and_concat_rows_of_list_columns():
    col_ = RawColumn("tags", np.array(["a", "b", "c", "d", "e"], dtype=object), np.array([False, True, False]),
                     np.array([0, 2, 2, 5]))
    t = take_rows(col_, np.array([2, 0]))
    assert t.offsets.tolist() == [0, 3, 5] and t.values.tolist() == ["c", "d", "e", "a", "b"]
    assert t.null.tolist() == [False, False]
    both = concat_rows([t, take_rows(col_, np.array([1]))])
    assert both.offsets.tolist() == [0, 3, 5, 5] and both.null.tolist() == [False, False, True]


def test_shards_go_to_nodes_in_proportion_to_their_cpus(monkeypatch):
    from mcindex.distributed import placement

    nodes = [{"NodeID": "big", "Alive": True, "Resources": {"CPU": 4.0}},
             {"NodeID": "small", "Alive": True, "Resources": {"CPU": 2.0}},
             {"NodeID": "head-kept-free", "Alive": True, "Resources": {"CPU": 0.0}},
             {"NodeID": "gone", "Alive": False, "Resources": {"CPU": 64.0}},
             {"NodeID": "gpu-only", "Alive": True, "Resources": {"GPU": 1.0}}]
    monkeypatch.setattr(placement.ray, "nodes", lambda: nodes)
    plan = placement.plan_nodes(6)
    assert plan.count("big") == 4 and plan.count("small") == 2 and len(plan) == 6
    assert placement.plan_nodes(1) == ["big"]
    assert placement.plan_nodes(3) == ["big", "small", "big"]  # 2/4 ties 1/2: to the node holding fewer
    monkeypatch.setattr(placement.ray, "nodes", lambda: nodes[2:])
    assert placement.plan_nodes(4) is None  # nobody reports CPUs: left to Ray


# ---- with Ray ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_local():
    # Our own short temp dir (Ray's socket paths must stay short) and 2 CPUs, shut down after.
    tmp = tempfile.mkdtemp(prefix="mcray-", dir="/tmp")
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=tmp, log_to_driver=False)
    yield
    ray.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)


def make_data(n=N, dim=DIM, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((8, dim)) * 3
    x = (centres[rng.integers(0, 8, n)] + rng.standard_normal((n, dim))).astype(np.float32)
    price = rng.uniform(0, 100, n)
    price[::37] = np.nan
    attrs = {
        "price": price,
        "cat": rng.choice(["shoes", "hats", "bags"], n),
        "tags": [list(rng.choice(["sale", "new", "eco"], rng.integers(0, 3), replace=False)) for _ in range(n)],
        "in_stock": rng.random(n) < 0.7,
    }
    return x, attrs


@pytest.fixture(scope="module")
def data():
    x, attrs = make_data()
    queries = x[np.random.default_rng(5).choice(N, 40, replace=False)] + 0.05
    return x, attrs, queries


@pytest.fixture(scope="module")
def reference(data):
    x, attrs, _ = data
    return Collection.build(x, attrs, metric="l2", threads=1, **FAST)


@pytest.fixture(scope="module")
def hashed(ray_local, data):
    x, attrs, _ = data
    sc = ShardedCollection.build(x, attrs, shards=4, metric="l2", batch_size=700, threads=1, **FAST)
    yield sc
    sc.close()


def assert_same(got_ids, got_d, want_ids, want_d):
    """Equal answers, allowing only a different order (or choice, at the k-th place) among
    equal distances."""
    assert got_ids.shape == want_ids.shape
    np.testing.assert_allclose(got_d, want_d, rtol=1e-5, atol=1e-5)
    for q in range(want_ids.shape[0]):
        for j in range(want_ids.shape[1]):
            d = want_d[q, j]
            tied = np.isfinite(d) and np.sum(np.isclose(want_d[q], d, rtol=1e-5, atol=1e-5)) > 1
            if not tied:
                assert got_ids[q, j] == want_ids[q, j], (q, j)


WHERES = [
    None,
    (col("price") < 40) & col("tags").contains("sale"),
    (col("cat") == "hats") | ~col("in_stock"),
    col("price").is_null(),
]


@pytest.mark.parametrize("where", WHERES, ids=["none", "price-tags", "cat-or-not-stock", "null"])
def test_hash_exact_equals_exact_search_over_the_union(hashed, reference, data, where):
    _, _, q = data
    got = hashed.search(q, 10, where, strategy="exact")
    want = reference.search(q, 10, where, strategy="exact")
    assert_same(got[0], got[1], want[0], want[1])


def test_against_brute_force_with_a_numpy_mask(hashed, data):
    x, attrs, q = data
    mask = (attrs["price"] < 30) & (attrs["cat"] == "shoes")  # NaN < 30 is False, like SQL
    want_i, want_d = mcindex.exact_search(x, q, k=15, filter=mask)
    got_i, got_d = hashed.search(q, 15, (col("price") < 30) & (col("cat") == "shoes"), strategy="exact")
    assert_same(got_i, got_d, want_i, want_d)


def test_sql_where_and_per_query_list(hashed, reference, data):
    pytest.importorskip("duckdb")
    _, _, q = data
    sql = "price < 50 AND list_contains(tags, 'eco')"
    got = hashed.search(q, 10, sql, strategy="exact")
    want = reference.search(q, 10, sql, strategy="exact")
    assert_same(got[0], got[1], want[0], want[1])
    per = [WHERES[i % len(WHERES)] for i in range(len(q) - 1)] + [sql]
    got = hashed.search(q, 10, per, strategy="exact")
    want = reference.search(q, 10, per, strategy="exact")
    assert_same(got[0], got[1], want[0], want[1])


def test_default_strategy_recall_and_stats(hashed, reference, data):
    _, _, q = data
    where = col("price") < 60
    got_i, got_d, stats = hashed.search(q, 10, where, return_stats=True)
    want_i, _ = reference.search(q, 10, where, strategy="exact")
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got_i, want_i, strict=True)])
    assert recall >= 0.9
    assert np.array_equal(stats["valid"], np.full(len(q), reference.count(where)))
    assert len(stats["shards"]) == 4 and all(s is not None for s in stats["shards"])


def test_padding_empty_filter_and_one_query(hashed, reference, data):
    _, _, q = data
    few = col("price") < 2  # a few dozen rows over all shards, fewer than k
    got = hashed.search(q, 100, few, strategy="exact")
    want = reference.search(q, 100, few, strategy="exact")
    assert_same(got[0], got[1], want[0], want[1])
    assert (got[0] == -1).any() and np.isinf(got[1][got[0] == -1]).all()
    # k beyond a shard's size (each shard holds ~750 rows)
    got = hashed.search(q[:3], 1000, None, strategy="exact")
    want = reference.search(q[:3], 1000, None, strategy="exact")
    assert_same(got[0], got[1], want[0], want[1])
    ids, dists = hashed.search(q, 5, col("price") > 1000)
    assert (ids == -1).all() and np.isinf(dists).all()
    ids, dists = hashed.search(q[0], 5, None, strategy="exact")
    assert ids.shape == (1, 5) and dists.shape == (1, 5)
    want = reference.search(q[0], 5, None, strategy="exact")
    assert_same(ids, dists, want[0], want[1])


def test_return_attributes_are_the_rows_of_the_results(hashed, reference, data):
    pytest.importorskip("pyarrow")
    _, _, q = data
    where = col("price") < 3
    ids, _, table = hashed.search(q[:5], 40, where, strategy="exact", return_attributes="arrow")
    want = reference.search(q[:5], 40, where, strategy="exact", return_attributes="arrow")
    assert np.array_equal(ids, want[0])
    assert table.equals(want[2])
    _, _, np_rows = hashed.search(q[:5], 40, where, strategy="exact", return_attributes="numpy")
    assert np.array_equal(np_rows["cat"], want[2].column("cat").to_numpy(zero_copy_only=False).astype(object))


def test_bad_input_fails_in_the_driver(hashed, data):
    x, attrs, q = data
    with pytest.raises(ValueError, match="dim 16"):
        hashed.search(np.zeros((2, 5), np.float32), 5)
    with pytest.raises(ValueError, match="k must be"):
        hashed.search(q, 0)
    with pytest.raises(TypeError, match="row number"):
        hashed.search(q, 5, Bitmap.from_mask(np.ones(N, bool)))
    with pytest.raises(TypeError, match="row number"):
        hashed.search(q, 5, np.ones(N, bool))
    with pytest.raises(ValueError, match="one per query"):
        hashed.search(q, 5, [None, None])
    with pytest.raises(TypeError, match="unknown search parameter"):
        hashed.search(q, 5, efx=3)
    with pytest.raises(ValueError, match="unknown column"):  # raised by the shards, passed on as is
        hashed.search(q, 5, col("nope") < 3)
    with pytest.raises(ValueError, match="probe needs"):
        hashed.search(q, 5, probe=1)
    with pytest.raises(ValueError, match="shards must be"):
        ShardedCollection.build(x, shards=0, metric="l2")
    with pytest.raises(ValueError, match="must not exceed"):
        ShardedCollection.build(x[:3], shards=4, metric="l2")
    with pytest.raises(ValueError, match="partition must be"):
        ShardedCollection.build(x, shards=2, metric="l2", partition="range")
    with pytest.raises(ValueError, match="rows but there are"):
        ShardedCollection.build(x, {"price": attrs["price"][:10]}, shards=2, metric="l2")
    with pytest.raises(TypeError, match="unknown index parameter"):
        ShardedCollection.build(x, shards=2, metric="l2", degre=3)
    bad = x.copy()
    bad[2500] = np.nan
    with pytest.raises(ValueError, match="starting at row 2000"):
        ShardedCollection.build(bad, shards=2, metric="l2", batch_size=1000, **FAST)


def test_duplicate_ids_are_refused_whatever_the_partition(ray_local):
    x, _ = make_data(200)
    ids = [f"id-{i % 150}" for i in range(200)]
    with pytest.raises(ValueError, match="unique"):
        ShardedCollection.build(x, shards=2, metric="l2", ids=ids, partition="cluster", batch_size=120, **FAST)


def test_cluster_partition_str_ids_probe_and_save_load(ray_local, data, reference, tmp_path):
    x, attrs, q = data
    ids = np.array([f"sku-{i:05d}" for i in range(N)], dtype=object)
    sc = ShardedCollection.build(x, attrs, shards=3, metric="l2", partition="cluster", ids=ids, batch_size=1000,
                                 sample=1000, path=tmp_path / "c.mcs", threads=1, **FAST)
    try:
        info = sc.info()
        assert info["partition"] == "cluster" and sum(info["shard_sizes"]) == N
        assert info["imbalance"] <= 2.0 + 1e-9
        where = col("in_stock")
        got_i, got_d = sc.search(q, 10, where, strategy="exact")
        want_i, want_d = reference.search(q, 10, where, strategy="exact")
        assert_same(got_i, got_d, ids[want_i], want_d)
        # probe=1: one shard per query; neighbours in clustered data mostly share it
        p_i, _ = sc.search(q, 10, where, strategy="exact", probe=1)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(p_i, got_i, strict=True)])
        assert recall >= 0.6
        # empty result with str ids: None
        e_i, _ = sc.search(q[:2], 3, col("price") > 1e9)
        assert e_i.tolist() == [[None] * 3] * 2
        # the build wrote a loadable directory; load reproduces the centroids and the answers
        again = ShardedCollection.load(tmp_path / "c.mcs")
        try:
            assert np.array_equal(again.centroids, sc.centroids)
            a_i, a_d = again.search(q, 10, where, strategy="exact")
            assert np.array_equal(a_i, got_i) and np.array_equal(a_d, got_d)
            assert np.array_equal(again.search(q, 10, where, strategy="exact", probe=1)[0], p_i)
        finally:
            again.close()
        # save elsewhere, then over an older save
        sc.save(tmp_path / "copy.mcs")
        sc.save(tmp_path / "copy.mcs")
        assert sorted(os.listdir(tmp_path / "copy.mcs")) == ["manifest.json", "shard-0000", "shard-0001", "shard-0002"]
    finally:
        sc.close()
    assert os.path.isdir(tmp_path / "c.mcs")  # close never removes a saved directory

    # damage: each is refused with a message naming what is wrong
    base = tmp_path / "copy.mcs"

    def damaged(name, fn):
        d = tmp_path / name
        shutil.copytree(base, d)
        fn(d)
        return d

    d = damaged("m1", lambda d: (d / "manifest.json").write_text("{not json"))
    with pytest.raises(CollectionFormatError, match="corrupted manifest"):
        ShardedCollection.load(d)
    d = damaged("m2", lambda d: shutil.rmtree(d / "shard-0001"))
    with pytest.raises(CollectionFormatError, match="shard 1 is missing"):
        ShardedCollection.load(d)

    def flip_index_byte(d):
        p = d / "shard-0002" / "index.mci"
        raw = bytearray(p.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        p.write_bytes(bytes(raw))
    d = damaged("m3", flip_index_byte)
    with pytest.raises(CollectionFormatError, match=r"shard 2 .*checksum mismatch"):
        ShardedCollection.load(d)

    def edit_shard_manifest(d):
        p = d / "shard-0000" / "manifest.json"
        m = json.loads(p.read_text())
        m["mcindex_version"] = "9.9"
        p.write_text(json.dumps(m))
    d = damaged("m4", edit_shard_manifest)
    with pytest.raises(CollectionFormatError, match="shard 0: checksum mismatch"):
        ShardedCollection.load(d)

    def future(d):
        p = d / "manifest.json"
        m = json.loads(p.read_text())
        m["format_version"] = 99
        p.write_text(json.dumps(m))
    with pytest.raises(CollectionFormatError, match="version 99"):
        ShardedCollection.load(damaged("m5", future))
    with pytest.raises(FileNotFoundError):
        ShardedCollection.load(tmp_path / "nothing-here")
    with pytest.raises(FileExistsError):  # build never writes into a non-empty directory
        ShardedCollection.build(x, shards=2, metric="l2", path=base)


def test_streamed_batches_memmap_and_tables_give_the_same_collection(ray_local, data, tmp_path):
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    x, attrs, q = data
    n = 1200
    ids = np.random.default_rng(3).choice(10**9, n, replace=False).astype(np.int64)
    frame = pd.DataFrame({k: v[:n] for k, v in attrs.items()})
    path = tmp_path / "x.f32"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(n, DIM))
    mm[:] = x[:n]
    mm.flush()
    mm = np.memmap(path, dtype=np.float32, mode="r", shape=(n, DIM))

    def batches():
        for a in range(0, n, 250):
            yield x[:n][a:a + 250], pa.Table.from_pandas(frame.iloc[a:a + 250], preserve_index=False), ids[a:a + 250]

    where = (col("price") < 50) & col("tags").contains_any(["new", "eco"])
    want = Collection.build(x[:n], frame, metric="cosine", ids=ids, threads=1, **FAST).search(
        q, 8, where, strategy="exact")
    for source, kwargs in [(mm, {"attributes": frame, "ids": ids}), (batches(), {})]:
        with ShardedCollection.build(source, shards=2, metric="cosine", batch_size=300, threads=1,
                                     **kwargs, **FAST) as sc:
            assert len(sc) == n and sc.dim == DIM and sc.metric == "cosine"
            got = sc.search(q, 8, where, strategy="exact")
            assert_same(got[0], got[1], want[0], want[1])


def test_pickled_client_shares_the_actors(hashed, data):
    _, _, q = data
    want = hashed.search(q, 5, None, strategy="exact")
    copy = pickle.loads(pickle.dumps(hashed))
    assert np.array_equal(copy.search(q, 5, None, strategy="exact")[0], want[0])
    copy.close()  # a copy does not own the actors
    assert np.array_equal(hashed.search(q, 5, None, strategy="exact")[0], want[0])

    @ray.remote(num_cpus=0)
    def search_elsewhere(client, queries):
        return client.search(queries, 5, None, strategy="exact")[0]

    assert np.array_equal(ray.get(search_elsewhere.remote(hashed, q)), want[0])


def test_timeout_names_the_slow_shards(hashed, data):
    _, _, q = data
    big = np.repeat(q, 200, axis=0)
    with pytest.raises(ShardTimeoutError, match="did not answer") as err:
        hashed.search(big, 10, None, strategy="exact", timeout=0)
    assert err.value.shards  # names them
    hashed.search(q, 5)  # the shards are fine afterwards


def test_dead_shard_raises_or_returns_flagged_partial(ray_local, data):
    x, attrs, q = data
    sc = ShardedCollection.build(x[:800], {"price": attrs["price"][:800]}, shards=2, metric="l2", threads=1, **FAST)
    try:
        complete = sc.search(q, 5, None, strategy="exact", allow_partial=True)
        assert complete[2] == {"partial": False, "failed_shards": [], "timed_out_shards": [], "errors": {}}
        ray.kill(sc.actors[1], no_restart=True)
        with pytest.raises(ShardUnavailableError, match="shard 1") as err:
            sc.search(q, 5, None, strategy="exact")
        assert err.value.shards == [1]
        ids, dists, flag = sc.search(q, 5, None, strategy="exact", allow_partial=True)
        assert flag["partial"] is True and flag["failed_shards"] == [1]
        # what came back is exactly shard 0's answer: exact search over shard 0's rows
        rows0 = np.array(sorted(set(range(800)) - set(np.flatnonzero(
            part.hash_shards(np.arange(800), 2) == 1).tolist())))
        want_i, want_d = mcindex.exact_search(x[rows0], q, k=5)
        assert_same(ids, dists, rows0[want_i], want_d)
        assert "error" in sc.info()["shards"][1]
    finally:
        sc.close()
    with pytest.raises(ValueError, match="closed"):
        sc.search(q, 5)


def test_shard_process_killed_mid_query_is_restarted_and_the_query_retried(ray_local, data, reference):
    x, attrs, q = data
    sc = ShardedCollection.build(x, attrs, shards=2, metric="l2", threads=1, **FAST)
    try:
        victim = sc.actors[0]
        where = col("price") < 80
        # A batch that keeps the shards busy for about a second, timed undisturbed first.
        big = np.repeat(q, 300, axis=0) + np.float32(0.01)
        while True:
            t0 = time.perf_counter()
            sc.search(big, 10, where, strategy="exact", threads=1)
            took = time.perf_counter() - t0
            if took > 0.5 or len(big) > 200_000:
                break
            big = np.concatenate([big, big + np.float32(0.01)])
        want = reference.search(big, 10, where, strategy="exact", threads=1)
        landed = False
        for attempt in range(3):  # until a kill lands while the query is in flight (max_restarts is 3)
            pid = ray.get(victim.pid.remote())
            result: dict = {}

            def run():
                result["out"] = sc.search(big, 10, where, strategy="exact", threads=1)
            th = threading.Thread(target=run)
            t0 = time.perf_counter()
            th.start()
            time.sleep(took / 3)
            in_flight = th.is_alive()
            os.kill(pid, signal.SIGKILL)
            th.join(timeout=120)
            assert not th.is_alive() and "out" in result
            got = result["out"]
            assert_same(got[0], got[1], want[0], want[1])
            assert ray.get(victim.pid.remote()) != pid  # restarted; it reloaded its checkpoint to answer
            if in_flight:
                landed = True
                print(f"{len(big)} queries ({took:.1f} s undisturbed): kill landed mid-query on attempt "
                      f"{attempt + 1}; {time.perf_counter() - t0:.1f} s with the restart")  # pytest -s
                break
        assert landed
        assert sc.info()["shards"][0]["n"] == sc.shard_sizes[0]
    finally:
        sc.close()


def test_close_ends_actors_and_removes_the_temporary_checkpoints(ray_local, data):
    x, _, q = data
    sc = ShardedCollection.build(x[:400], shards=2, metric="ip", threads=1, **FAST)
    tmpdir = sc.info()["shards"][0]["checkpoint"]
    assert os.path.isdir(tmpdir)
    actor = sc.actors[0]
    sc.close()
    assert not os.path.exists(os.path.dirname(tmpdir))
    # ray.kill is asynchronous: a call sent right after it may still be answered. The actor must
    # be gone within 30 s.
    deadline = time.monotonic() + 30
    with pytest.raises(ray.exceptions.RayActorError):
        while time.monotonic() < deadline:
            ray.get(actor.pid.remote(), timeout=30)
            time.sleep(0.1)
