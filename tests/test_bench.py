"""The benchmark harness, its index adapters and its reports, on a tiny synthetic dataset."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest

from mcindex import Bitmap, datasets, exact_search, workloads
from mcindex._progress import Progress
from mcindex.bench import BenchConfig, IndexAdapter, MissingDependency, harness, indexes, report, run_bench

K = 10


@pytest.fixture(scope="module")
def ds() -> datasets.Dataset:
    return datasets.synthetic(n=2000, dim=16, clusters=8, n_queries=40, seed=3)


def _config(tmp_path, **kw) -> BenchConfig:
    base = dict(dataset="synthetic", workloads=("random",), selectivities=(0.05, 1.0), indexes=("exact",),
                n_queries=40, k=K, cache_dir=str(tmp_path / "gt"))
    base.update(kw)
    return BenchConfig(**base)


def _allowed(ids: np.ndarray, filters: list[Bitmap]) -> bool:
    """Every returned id (not -1) is allowed by its query's filter."""
    for row, bm in zip(ids, filters):
        mask = bm.to_mask()
        valid = row[row >= 0]
        if not mask[valid].all():
            return False
    return True


def _built(name: str, ds: datasets.Dataset, **params) -> IndexAdapter:
    cls = indexes.get(name)
    for module in cls.requires:
        pytest.importorskip(module)
    adapter = indexes.create(name, **params)
    adapter.build(ds.data, ds.metric)
    return adapter


# ---- the harness with exact search ---------------------------------------------------------
def test_exact_index_has_recall_one_everywhere(ds, tmp_path):
    result = run_bench(_config(tmp_path, workloads=("random", "label")), dataset=ds, silent=True)
    assert [(c.workload, c.selectivity) for c in result.curves] == [
        ("random", 0.05), ("random", 1.0), ("label", 0.05), ("label", 1.0)]
    for curve in result.curves:
        assert curve.index == "exact" and curve.knob_name is None
        assert len(curve.points) == 1
        point = curve.points[0]
        assert point.knob is None and point.complete and point.n_queries == ds.n_queries
        assert point.recall == 1.0
        assert point.qps > 0 and point.seconds > 0
        assert curve.best_qps(0.99) == point.qps
    sels = {c.selectivity: c.achieved_selectivity for c in result.curves if c.workload == "random"}
    assert sels[1.0] == 1.0 and 0.03 < sels[0.05] < 0.07
    (build,) = result.indexes
    assert build.name == "exact" and build.index_bytes == ds.data.nbytes and build.build_seconds >= 0


def test_exact_adapter_matches_exact_search_and_pads(ds):
    adapter = _built("exact", ds)
    wl = workloads.make("random", ds, 0.05, seed=1)
    ids = adapter.search(ds.queries, K, wl.filters)
    expected, _ = exact_search(ds.data, ds.queries, K, metric=ds.metric, filter=wl.filters)
    np.testing.assert_array_equal(ids, expected)
    tiny = [Bitmap.from_ids(np.array([5, 17, 1999]), ds.n)] * 2
    ids = adapter.search(ds.queries[:2], K, tiny)
    assert ids.shape == (2, K) and ids.dtype == np.int64
    for row in ids:
        assert sorted(row[:3].tolist()) == [5, 17, 1999] and (row[3:] == -1).all()


# ---- FAISS and hnswlib peers ---------------------------------------------------------------
def test_faiss_flat_returns_the_exact_ids(ds, tmp_path):
    pytest.importorskip("faiss")
    wl = workloads.make("label", ds, 0.05, seed=2)
    flat = _built("faiss-flat", ds)
    exact = _built("exact", ds)
    np.testing.assert_array_equal(flat.search(ds.queries, K, wl.filters), exact.search(ds.queries, K, wl.filters))
    # Threads split the query loop; the answers must not change.
    np.testing.assert_array_equal(flat.search(ds.queries, K, wl.filters, threads=2),
                                  exact.search(ds.queries, K, wl.filters))
    result = run_bench(_config(tmp_path, indexes=("exact", "faiss-flat")), dataset=ds, silent=True)
    for curve in result.curves:
        assert [p.recall for p in curve.points] == [1.0]


def test_faiss_flat_cosine_matches_exact(ds):
    pytest.importorskip("faiss")
    cos = datasets.Dataset("cos", ds.data, ds.queries, "cosine", {})
    wl = workloads.make("random", cos, 0.2, seed=4)
    flat = _built("faiss-flat", cos)
    true_ids, _ = exact_search(cos.data, cos.queries, K, metric="cosine", filter=wl.filters)
    found = flat.search(cos.queries, K, wl.filters)
    assert (found == true_ids).mean() > 0.99  # float rounding may swap exact ties only


# The lowest recall each adapter must reach in the test below where 0.95 is not sensible. The
# 8-bit ones rank by decoded codes (measured 0.92-0.99 here; test_sq8_adapters_rank_by_their_codes
# checks them exactly); HNSW with M=16 under "ip" reaches 0.97-0.99 only at efSearch 1024. Each
# floor stays far above what an ignored filter (~0.3) or l2 taken for ip (~0.13) would give.
_RECALL_FLOOR = {"faiss-sq8": 0.85, "faiss-hnsw-sq8": 0.85, "faiss-hnsw-m16": 0.9}
_ALL_ADAPTERS = ["exact", "faiss-flat", "faiss-sq8", "faiss-hnsw", "faiss-hnsw-m16", "faiss-hnsw-m48",
                 "faiss-hnsw-sq8", "hnsw-postfilter", "hnswlib"]


@pytest.mark.parametrize("name", _ALL_ADAPTERS)
@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_every_adapter_maps_every_metric(ds, name, metric):
    data = ds.data + np.float32(0.5)  # away from the origin, so ip and cosine rank differently
    queries = ds.queries + np.float32(0.5)
    wl = workloads.random(ds.n, ds.n_queries, 0.3, seed=7)
    adapter = _built(name, datasets.Dataset("m", data, queries, metric, {}))
    # post-filtering's knob is an oversampling factor; the rest take efSearch / ef (or ignore it)
    knob = {"hnsw-postfilter": 4, "faiss-hnsw-m16": 1024}.get(name, 256)
    found = adapter.search(queries, K, wl.filters, knob)
    true_ids, _ = exact_search(data, queries, K, metric=metric, filter=wl.filters)
    assert _allowed(found, wl.filters)
    hits = np.mean([len(set(f) & set(t)) / K for f, t in zip(found.tolist(), true_ids.tolist())])
    assert hits >= _RECALL_FLOOR.get(name, 0.95), f"{name} with {metric}: recall {hits:.3f}"


def test_faiss_hnsw_sweep(ds, tmp_path):
    pytest.importorskip("faiss")
    cfg = _config(tmp_path, indexes=("faiss-hnsw",), selectivities=(0.02, 0.5),
                  knobs={"faiss-hnsw": (10, 20, 40)}, recall_stop=1.0)
    result = run_bench(cfg, dataset=ds, silent=True)
    (build,) = result.indexes
    assert build.knob_name == "efSearch" and build.knob_values == [10, 20, 40]
    assert build.build_seconds > 0 and build.index_bytes > ds.data.nbytes
    for curve in result.curves:
        assert [p.knob for p in curve.points][0] == 10
        for p in curve.points:
            assert 0.0 <= p.recall <= 1.0 and p.qps > 0 and p.complete
    at_half = next(c for c in result.curves if c.selectivity == 0.5)
    assert max(p.recall for p in at_half.points) > 0.8
    # Filtered answers only contain allowed ids.
    adapter = _built("faiss-hnsw", ds)
    wl = workloads.make("random", ds, 0.02, seed=0)
    assert _allowed(adapter.search(ds.queries, K, wl.filters, 32), wl.filters)


def test_sweep_stops_once_recall_is_reached(ds, tmp_path):
    pytest.importorskip("faiss")
    cfg = _config(tmp_path, indexes=("faiss-hnsw",), selectivities=(1.0,),
                  knobs={"faiss-hnsw": (1024, 2048)})
    (curve,) = run_bench(cfg, dataset=ds, silent=True).curves
    assert curve.stop_reason == "recall"
    assert [p.knob for p in curve.points] == [1024] and curve.points[0].recall >= 0.999


@pytest.mark.parametrize("name", ["faiss-sq8", "faiss-hnsw-sq8"])
@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_sq8_adapters_rank_by_their_codes(ds, name, metric):
    """FAISS's SQ8 distances are those to the decoded codes: the flat scan must return exactly
    the filtered exact answers over the decoded vectors, the HNSW over codes nearly so."""
    data = ds.data + np.float32(0.5)
    queries = ds.queries + np.float32(0.5)
    wl = workloads.random(ds.n, ds.n_queries, 0.3, seed=8)
    adapter = _built(name, datasets.Dataset("m", data, queries, metric, {}))
    decoded = adapter._index.reconstruct_n(0, ds.n)
    assert decoded.shape == data.shape and not np.array_equal(decoded, data)  # 8-bit, not the floats
    if metric == "cosine":  # the adapters normalise, then rank by inner product
        queries_seen = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        true_ids, _ = exact_search(decoded, queries_seen, K, metric="ip", filter=wl.filters)
    else:
        true_ids, _ = exact_search(decoded, queries, K, metric=metric, filter=wl.filters)
    found = adapter.search(queries, K, wl.filters, 1024)
    assert _allowed(found, wl.filters) and (found >= 0).all()
    hits = np.mean([len(set(f) & set(t)) / K for f, t in zip(found.tolist(), true_ids.tolist())])
    # measured: 1.0 everywhere but HNSW under "ip" (0.99: greedy search under inner product)
    assert hits >= (0.99 if name == "faiss-sq8" else 0.97), f"{name} with {metric}: {hits:.3f}"


@pytest.mark.parametrize("name, floor", [("faiss-sq8", 0.8), ("faiss-hnsw-sq8", 0.9), ("faiss-hnsw-m16", 0.9),
                                         ("faiss-hnsw-m48", 0.9)])
@pytest.mark.parametrize("selectivity", [0.02, 0.5])
def test_new_faiss_peers_filter_and_find_the_neighbours(ds, name, floor, selectivity):
    wl = workloads.make("random", ds, selectivity, seed=9)
    adapter = _built(name, ds)
    true_ids, _ = exact_search(ds.data, ds.queries, K, metric=ds.metric, filter=wl.filters)
    # FAISS's filtered HNSW keeps efSearch candidates, allowed or not: at 2% it needs about
    # k / 0.02 to fill k (measured here: efSearch 256 leaves rows short, 1024 does not)
    found = adapter.search(ds.queries, K, wl.filters, 1024)
    assert _allowed(found, wl.filters) and (found >= 0).all()
    hits = np.mean([len(set(f) & set(t)) / K for f, t in zip(found.tolist(), true_ids.tolist())])
    assert hits >= floor, f"{name} at selectivity {selectivity}: recall {hits:.3f}"
    # one query at a time over Python threads: the answers do not depend on the split
    np.testing.assert_array_equal(adapter.search(ds.queries, K, wl.filters, 1024, threads=2), found)
    # a filter allowing nothing: every row -1; allowing everything: the unfiltered path
    assert (adapter.search(ds.queries[:2], K, [Bitmap.none(ds.n)] * 2, 64) == -1).all()
    assert (adapter.search(ds.queries[:2], K, [Bitmap.all(ds.n)] * 2, 64) >= 0).all()


def test_faiss_variants_are_named_configurations(ds):
    pytest.importorskip("faiss")
    params = {name: indexes.create(name).params() for name in
              ("faiss-hnsw", "faiss-hnsw-m16", "faiss-hnsw-m48", "faiss-hnsw-sq8", "faiss-sq8")}
    assert params["faiss-hnsw"] == {"M": 32, "efConstruction": 200}
    assert params["faiss-hnsw-m16"] == {"M": 16, "efConstruction": 200}
    assert params["faiss-hnsw-m48"] == {"M": 48, "efConstruction": 200}
    assert params["faiss-hnsw-sq8"] == {"M": 32, "efConstruction": 200, "quantizer": "QT_8bit"}
    assert params["faiss-sq8"] == {"quantizer": "QT_8bit"}
    assert indexes.create("faiss-hnsw", M=48).M == 48 and indexes.create("faiss-hnsw-m16", M=8).M == 8
    for name in ("faiss-hnsw-m16", "faiss-hnsw-m48", "faiss-hnsw-sq8"):
        assert indexes.get(name).knob_name == "efSearch"
    assert indexes.get("faiss-sq8").knob_name is None
    # one run: graphs of different M or storage are built apart; post-filtering still shares M=32
    shared: dict = {}
    built = {}
    for name in ("faiss-hnsw", "faiss-hnsw-m16", "faiss-hnsw-m48", "faiss-hnsw-sq8", "hnsw-postfilter"):
        built[name] = indexes.create(name)
        built[name].build(ds.data, ds.metric, shared=shared)
    assert [n for n, a in built.items() if a.shared_build] == ["hnsw-postfilter"]
    assert built["hnsw-postfilter"]._index is built["faiss-hnsw"]._index
    assert [built[n]._index.hnsw.nb_neighbors(0) for n in ("faiss-hnsw-m16", "faiss-hnsw", "faiss-hnsw-m48")] == [
        32, 64, 96]  # level 0 holds 2 * M neighbours


def test_faiss_index_bytes_count_codes_and_graph(ds):
    """Serialised sizes: SQ8 holds one byte per value (plus its trained ranges), the HNSW graph is
    the same whichever storage it sits on, and a larger M costs more."""
    sizes = {name: _built(name, ds).index_bytes()
             for name in ("faiss-flat", "faiss-sq8", "faiss-hnsw", "faiss-hnsw-sq8", "faiss-hnsw-m16",
                          "faiss-hnsw-m48")}
    codes = ds.n * ds.dim
    assert 4 * codes <= sizes["faiss-flat"] < 4 * codes + 1024
    assert codes + 2 * 4 * ds.dim <= sizes["faiss-sq8"] < codes + 1024  # codes + per-dimension min and range
    graph = sizes["faiss-hnsw"] - sizes["faiss-flat"]
    assert graph >= ds.n * 2 * 32 * 4  # level 0 alone: 2M int32 slots per point
    assert abs((sizes["faiss-hnsw-sq8"] - sizes["faiss-sq8"]) - graph) < 256  # the same graph over codes
    assert sizes["faiss-hnsw-m16"] < sizes["faiss-hnsw"] < sizes["faiss-hnsw-m48"]


def test_cli_bench_runs_the_new_faiss_peers(capsys, tmp_path, monkeypatch):
    pytest.importorskip("faiss")
    from mcindex.cli import main

    monkeypatch.setenv("MCINDEX_CACHE", str(tmp_path / "cache"))
    small = datasets.synthetic(n=1500, dim=16, clusters=8, n_queries=1, seed=4)
    np.save(tmp_path / "tiny.npy", small.data)
    names = ["faiss-hnsw-sq8", "faiss-sq8", "faiss-hnsw-m16", "faiss-hnsw-m48"]
    assert main(["bench", "--help"]) == 0
    help_text = capsys.readouterr().out
    for name in names:
        assert f"  {name} " in help_text
    out_dir = tmp_path / "results"
    rc = main(["bench", "--quiet", "--dataset", str(tmp_path / "tiny.npy"), "--queries", "20",
               "--selectivity", "0.1,1", "--index", ",".join(names), "--build-threads", "1",
               "--knob", "faiss-hnsw-sq8=16,256", "--knob", "faiss-hnsw-m16=16,256",
               "--knob", "faiss-hnsw-m48=16,256", "--no-plot", "--out", str(out_dir)])
    assert rc == 0
    out = capsys.readouterr().out
    (path,) = out_dir.glob("bench-tiny-*.json")
    record = json.loads(path.read_text())
    builds = {r["name"]: r for r in record["indexes"]}
    assert list(builds) == names
    assert [builds[n]["params"].get("M") for n in names] == [32, None, 16, 48]
    for name in names:
        assert builds[name]["index_bytes"] > 0 and builds[name]["build_seconds"] > 0
        assert not builds[name]["shared_build"] and name in out
    assert builds["faiss-sq8"]["index_bytes"] < record["dataset"]["n"] * record["dataset"]["dim"] * 4
    curves = [(r["index"], r["selectivity"]) for r in record["results"]]
    assert sorted(curves) == sorted((n, s) for n in names for s in (0.1, 1.0))
    for res in record["results"]:
        best = max(p["recall"] for p in res["points"])
        assert best >= 0.8, (res["index"], res["selectivity"], best)
        assert all(p["complete"] and p["qps"] > 0 for p in res["points"])


def test_postfilter_keeps_only_allowed_ids_and_shares_the_graph(ds, tmp_path):
    pytest.importorskip("faiss")
    wl = workloads.make("random", ds, 0.1, seed=5)
    shared: dict = {}
    hnsw = indexes.create("faiss-hnsw")
    post = indexes.create("hnsw-postfilter")
    hnsw.build(ds.data, ds.metric, shared=shared)
    post.build(ds.data, ds.metric, shared=shared)
    assert post.shared_build and not hnsw.shared_build and post.build_seconds == hnsw.build_seconds
    ids = post.search(ds.queries, K, wl.filters, 64)
    assert _allowed(ids, wl.filters)
    everything = [Bitmap.all(ds.n)] * ds.n_queries
    np.testing.assert_array_equal(post.search(ds.queries, K, everything, 64),
                                  hnsw.search(ds.queries, K, everything, 64))
    empty = [Bitmap.none(ds.n)] * 2
    assert (post.search(ds.queries[:2], K, empty, 64) == -1).all()


def test_hnswlib_filters_and_pads(ds):
    adapter = _built("hnswlib", ds)
    wl = workloads.make("random", ds, 0.05, seed=6)
    ids = adapter.search(ds.queries, K, wl.filters, 64)
    assert _allowed(ids, wl.filters) and (ids >= 0).all()
    few = [Bitmap.from_ids(np.array([3, 11, 400]), ds.n)] * 2
    ids = adapter.search(ds.queries[:2], K, few, 64)
    for row in ids:  # hnswlib raises when it cannot fill k; the adapter pads with -1
        assert set(row[row >= 0].tolist()) <= {3, 11, 400} and (row[3:] == -1).all()
    # one filter object shared by the batch (converted once): empty, everything, and mixed with another
    assert (adapter.search(ds.queries[:2], K, [Bitmap.none(ds.n)] * 2, 64) == -1).all()
    everything = adapter.search(ds.queries[:2], K, [Bitmap.all(ds.n)] * 2, 64)
    two = [Bitmap.all(ds.n), Bitmap.all(ds.n)]  # two objects, each converted
    np.testing.assert_array_equal(everything, adapter.search(ds.queries[:2], K, two, 64))
    mixed = adapter.search(ds.queries[:3], K, [few[0], Bitmap.all(ds.n), few[0]], 64)
    assert set(mixed[0][mixed[0] >= 0].tolist()) <= {3, 11, 400} and (mixed[1] >= 0).all()
    np.testing.assert_array_equal(mixed[1], everything[1])


# ---- time guard, registry, missing libraries ------------------------------------------------
class _SlowIndex(IndexAdapter):
    """A fake engine: exact answers, 20 ms per query, knob ignored."""

    name = "slow-test"
    knob_name = "effort"
    default_knobs = (1, 2, 3)

    def _build(self, data, metric, threads, shared):
        self._data = data

    def _search(self, queries, k, filters, knob_value, threads):
        time.sleep(0.02 * queries.shape[0])
        return exact_search(self._data, queries, k, metric=self.metric, filter=filters)[0]

    def index_bytes(self):
        return 0


def test_time_budget_cuts_a_point_short_and_stops_the_sweep(ds):
    adapter = _SlowIndex()
    adapter.build(ds.data, ds.metric)
    wl = workloads.make("random", ds, 0.1, seed=0)
    true_ids, _ = workloads.ground_truth(ds, wl, k=K, cache=False)
    start = time.perf_counter()
    points, reason = harness.sweep(adapter, ds.queries, wl.filters, true_ids, K, [1, 2, 3], max_seconds=0.2)
    wall = time.perf_counter() - start
    assert reason == "time" and len(points) == 1
    (p,) = points
    assert not p.complete and 1 <= p.n_queries < ds.n_queries
    assert p.seconds >= 0.2 and wall < 1.5
    assert p.recall == 1.0 and p.qps == pytest.approx(p.n_queries / p.seconds)


def test_registered_index_runs_by_name(ds, tmp_path, monkeypatch):
    monkeypatch.setitem(indexes._REGISTRY, "slow-test", _SlowIndex)
    assert "slow-test" in indexes.available()
    cfg = _config(tmp_path, indexes=("slow-test",), selectivities=(0.5,), n_queries=ds.n_queries,
                  max_seconds_per_point=0.1)
    (curve,) = run_bench(cfg, dataset=ds, silent=True).curves
    assert curve.index == "slow-test" and curve.knob_name == "effort" and curve.stop_reason == "time"
    text = report.format_result(run_bench(cfg, dataset=ds, silent=True))
    assert "*(" in text and "time budget hit" in text


def test_missing_library_fails_before_any_work(tmp_path, monkeypatch):
    class NeedsNothingReal(_SlowIndex):
        name = "needs-missing"
        requires = ("mcindex_no_such_module_xyz",)

    monkeypatch.setitem(indexes._REGISTRY, "needs-missing", NeedsNothingReal)

    def no_load(*args, **kwargs):
        raise AssertionError("the dataset must not be loaded before the dependency check")

    monkeypatch.setattr(datasets, "load", no_load)
    with pytest.raises(MissingDependency, match=r'pip install "mcindex\[bench\]"'):
        run_bench(_config(tmp_path, dataset="glove-50", indexes=("exact", "needs-missing")), silent=True)


@pytest.mark.parametrize("change, message", [
    ({"workloads": ("nope",)}, "unknown workload"),
    ({"selectivities": (0.0,)}, "selectivity"),
    ({"indexes": ("nope",)}, "unknown index"),
    ({"k": 0}, "k must be"),
    ({"knobs": {"exact": (1,)}}, "no search knob"),
    ({"knobs": {"faiss-hnsw": (10,)}}, "not among the indexes"),
])
def test_config_rejects_bad_settings(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        _config(tmp_path, **change).validate()


def test_adapter_search_validates_input(ds):
    adapter = _built("exact", ds)
    with pytest.raises(ValueError, match="one filter per query"):
        adapter.search(ds.queries[:3], K, [Bitmap.all(ds.n)] * 2)
    with pytest.raises(ValueError, match="Bitmap of size"):
        adapter.search(ds.queries[:1], K, [Bitmap.all(ds.n + 1)])
    with pytest.raises(RuntimeError, match="built"):
        indexes.create("exact").search(ds.queries[:1], K, [Bitmap.all(ds.n)])


# ---- reports ---------------------------------------------------------------------------------
def test_json_record_has_the_documented_keys(ds, tmp_path):
    result = run_bench(_config(tmp_path), dataset=ds, silent=True, command="mcindex bench --test")
    path = report.write_json(result, tmp_path / "out")
    record = json.loads(path.read_text())
    assert path.name.startswith("bench-synthetic-") and path.suffix == ".json"
    assert set(record) >= {"schema", "command", "date", "machine", "config", "dataset", "indexes", "results",
                           "recall_targets", "ground_truth_seconds", "total_seconds"}
    assert record["command"] == "mcindex bench --test"
    machine = record["machine"]
    assert set(machine) >= {"platform", "cpu_model", "simd_level", "versions", "cpu_count"}
    assert machine["simd_level"] in ("avx512", "avx2", "neon", "scalar")
    assert set(machine["versions"]) >= {"mcindex", "numpy", "faiss", "hnswlib"}
    assert machine["versions"]["numpy"] == np.__version__
    assert record["config"]["selectivities"] == [0.05, 1.0] and record["config"]["k"] == K
    assert record["dataset"] == {"name": "synthetic", "n": 2000, "dim": 16, "n_queries": 40, "metric": "l2"}
    (build,) = record["indexes"]
    assert set(build) >= {"name", "build_seconds", "index_bytes", "knob_name", "knob_values", "params"}
    assert len(record["results"]) == 2
    for res in record["results"]:
        assert set(res) >= {"workload", "selectivity", "achieved_selectivity", "index", "knob_name", "points",
                            "best_qps", "stop_reason"}
        assert set(res["best_qps"]) == {"0.90", "0.95", "0.99"}
        (point,) = res["points"]
        assert set(point) == {"knob", "recall", "qps", "seconds", "n_queries", "complete", "worst_recall"}
        assert point["worst_recall"] == 1.0  # the exact index gets every query right
        assert point["recall"] == 1.0 and res["best_qps"]["0.99"] == point["qps"]


def test_text_report_shows_sweeps_and_best_qps(ds, tmp_path):
    pytest.importorskip("faiss")
    cfg = _config(tmp_path, indexes=("exact", "faiss-hnsw"), selectivities=(0.01,),
                  knobs={"faiss-hnsw": (10, 20)})
    text = report.format_result(run_bench(cfg, dataset=ds, silent=True))
    assert "## workload=random selectivity=0.01" in text
    assert "efSearch=10" in text and "efSearch=20" in text and "QPS@0.90" in text and "QPS@0.99" in text


def test_best_qps_picks_the_fastest_point_reaching_each_target():
    points = [harness.Point(knob=k, recall=r, qps=q, seconds=1.0, n_queries=10, complete=True, worst_recall=r - 0.5)
              for k, r, q in [(10, 0.50, 900.0), (20, 0.91, 500.0), (40, 0.93, 700.0), (80, 0.96, 100.0)]]
    curve = harness.Curve("random", 0.01, 0.01, "x", "ef", points, "swept")
    assert curve.best_qps(0.90) == 700.0 and curve.best_qps(0.95) == 100.0 and curve.best_qps(0.99) is None
    best_row = report.format_best([curve]).splitlines()[2]
    assert [c.strip() for c in best_row.strip("|").split("|")] == ["x", "700", "100", "-", "0.9600", "0.46"]
    assert curve.to_dict()["best_qps"] == {"0.90": 700.0, "0.95": 100.0, "0.99": None}


def test_plots_are_png_per_workload(ds, tmp_path):
    pytest.importorskip("matplotlib")
    result = run_bench(_config(tmp_path, workloads=("random", "label")), dataset=ds, silent=True)
    paths = report.plot_result(result, tmp_path / "png")
    assert [p.name.rsplit("-", 1)[-1] for p in paths] == ["random.png", "label.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- progress bar ------------------------------------------------------------------------------
def test_progress_draws_only_when_asked():
    quiet = io.StringIO()
    with Progress(3, "x", stream=quiet, delay=0.0) as bar:  # not a TTY: nothing
        bar.update(3)
    assert quiet.getvalue() == ""
    shown = io.StringIO()
    with Progress(4, "task", stream=shown, delay=0.0, force=True) as bar:
        bar.update(2)
    out = shown.getvalue()
    assert "task: [" in out and "2/4" in out and out.endswith("\r")  # erased on close
    silent = io.StringIO()
    with Progress(4, stream=silent, delay=0.0, force=True, silent=True) as bar:
        bar.update(4)
    assert silent.getvalue() == ""
    late = io.StringIO()
    with Progress(4, stream=late, delay=60.0, force=True) as bar:  # short task: never shown
        bar.update(4)
    assert late.getvalue() == ""


def test_mci_routes_share_one_build_and_find_the_answer(ds, tmp_path):
    cfg = _config(tmp_path, indexes=("mci", "mci-cliques", "mci-graph"), selectivities=(0.1, 1.0),
                  knobs={"mci": (128,), "mci-cliques": (128,), "mci-graph": (128,)})
    result = run_bench(cfg, dataset=ds, silent=True, command="mcindex bench --test")
    builds = {r.name: r for r in result.indexes}
    assert not builds["mci"].shared_build and builds["mci-cliques"].shared_build and builds["mci-graph"].shared_build
    assert builds["mci"].details["n"] == ds.n and builds["mci"].index_bytes > ds.data.nbytes
    for curve in result.curves:
        assert curve.points[0].recall >= 0.9, (curve.index, curve.selectivity, curve.points[0].recall)
