"""Index.build: structure invariants, strict-clique geometry, determinism, edge cases, GIL, Ctrl-C."""

import os
import signal
import threading
import time

import numpy as np
import pytest

import mcindex
from mcindex import Bitmap, Index


def clustered(n, dim, seed=0, clusters=8):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)) * 4
    return (centres[rng.integers(0, clusters, n)] + rng.standard_normal((n, dim))).astype(np.float32)


def build(data, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("stats_sample", 0)
    return Index.build(data, **kw)


def check_structure(index, min_memberships=1):
    n = len(index)
    s = index._sections
    co, cm = s["clique_offsets"], s["clique_members"]
    no, nc = s["node_offsets"], s["node_cliques"]
    C = co.size - 1
    assert co[0] == 0 and no[0] == 0 and co[-1] == cm.size and no[-1] == nc.size
    assert np.all(np.diff(co.astype(np.int64)) >= 1)  # no empty group
    assert cm.size == nc.size and (cm.size == 0 or cm.max() < n) and (nc.size == 0 or nc.max() < C)
    # Every point covered, as often as asked.
    assert np.diff(no.astype(np.int64)).min() >= min_memberships
    # The two CSRs are the same relation seen from both sides.
    pairs_from_cliques = set()
    for c in range(C):
        members = cm[co[c]:co[c + 1]]
        assert np.unique(members).size == members.size, f"group {c} repeats a member"
        pairs_from_cliques.update((int(v), c) for v in members)
    pairs_from_nodes = set()
    for v in range(n):
        groups = nc[no[v]:no[v + 1]]
        assert np.all(np.diff(groups.astype(np.int64)) > 0), f"groups of {v} not sorted/unique"
        pairs_from_nodes.update((v, int(c)) for c in groups)
    assert pairs_from_cliques == pairs_from_nodes
    # Navigable graph: degree bound, ids in range, no self loops.
    nav_o, nav_n = s["nav_offsets"], s["nav_neighbors"]
    deg = np.diff(nav_o.astype(np.int64))
    assert deg.max() <= index.build_params["degree"] and (nav_n.size == 0 or nav_n.max() < n)
    src = np.repeat(np.arange(n), deg)
    assert not np.any(nav_n == src)


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
@pytest.mark.parametrize("extend", [True, False])
def test_structure_invariants(metric, extend):
    data = clustered(1500, 12, seed=1)
    index = build(data, metric=metric, extend_cliques=extend, pool_size=64, min_clique_size=8, threads=2)
    assert len(index) == 1500 and index.dim == 12 and index.metric == metric
    check_structure(index)


def test_min_memberships_is_reached_without_repeating_groups():
    index = build(clustered(1200, 8), pool_size=48, min_clique_size=6, min_memberships=3, hub_cap=64)
    check_structure(index, min_memberships=1)  # the guarantee: every point in some group
    memberships = np.diff(index._sections["node_offsets"].astype(np.int64))
    # The target: points whose seed ball cannot grow past a group they already seeded stop
    # short rather than store that group again; they must be rare.
    assert np.mean(memberships >= 3) > 0.97
    groups = {tuple(sorted(index.clique_members(c).tolist()))
              for c in range(index._sections["clique_offsets"].size - 1)}
    assert len(groups) == index._sections["clique_offsets"].size - 1, "a group was stored twice"


def test_tiny_inputs_get_one_fallback_group_each_at_most():
    index = build(clustered(2, 3), pool_size=8)  # n <= min_clique_size: fallback only
    assert index._sections["clique_offsets"].size - 1 == 1  # {a, b} once, not {a, b} and {b, a}


def test_strict_cliques_are_pairwise_within_threshold():
    data = clustered(1000, 10, seed=2)
    index = build(data, extend_cliques=False, pool_size=48, min_clique_size=6, threads=2)
    vec = index.vectors.astype(np.float64)
    checked = 0
    for c in range(index._sections["clique_offsets"].size - 1):
        theta = index.clique_threshold(c)
        if not np.isfinite(theta):
            continue  # fallback groups make no geometric promise
        m = vec[index.clique_members(c)]
        d = ((m[:, None, :] - m[None, :, :]) ** 2).sum(-1)
        assert d.max() <= theta * (1 + 1e-5) + 1e-6, f"group {c}: {d.max()} > {theta}"
        assert m.shape[0] >= 6
        checked += 1
    assert checked > 0


def test_deterministic_is_reproducible_across_thread_counts():
    data = clustered(2500, 16, seed=3)
    a = build(data, deterministic=True, threads=2, seed=7)
    b = build(data, deterministic=True, threads=1, seed=7)
    for name in a._sections:
        np.testing.assert_array_equal(a._sections[name], b._sections[name], err_msg=name)
    c = build(data, deterministic=True, seed=8)
    assert not np.array_equal(a._sections["clique_members"], c._sections["clique_members"])


@pytest.mark.parametrize("n", [1, 2, 3, 17])
def test_tiny_inputs_smaller_than_pool(n):
    index = build(clustered(n, 5, seed=n), pool_size=200, stats_sample=n)
    check_structure(index)
    assert index.stats()["n"] == n


def test_duplicated_points():
    base = clustered(30, 6, seed=4)
    data = np.repeat(base, 25, axis=0)
    index = build(data, pool_size=40, min_clique_size=8, stats_sample=100)
    check_structure(index)
    assert index.stats()["nn10_one_hop"] > 0.9  # exact duplicates are each other's neighbours


def test_float64_and_cosine_normalisation():
    data = clustered(400, 7).astype(np.float64) * 3
    index = build(data, metric="cosine", pool_size=32, min_clique_size=6)
    np.testing.assert_allclose(np.linalg.norm(index.vectors, axis=1), 1.0, rtol=1e-5)
    assert index.vectors.dtype == np.float32
    assert index._sections["vectors"].ctypes.data % 64 == 0


def test_stats_keys_and_one_hop_quality():
    data = clustered(3000, 16, seed=5)
    index = build(data, pool_size=64, min_clique_size=8, stats_sample=200, threads=2)
    st = index.stats()
    for key in ("n", "dim", "metric", "cliques", "nav_degree_max", "clique_size_mean", "clique_size_max",
                "memberships_mean", "one_hop_reach_mean", "nn10_one_hop", "nn100_one_hop", "graph_bytes",
                "vector_bytes", "build_phase_seconds", "densification_rounds", "pool_recall"):
        assert key in st, key
    assert set(st["build_phase_seconds"]) == {"navigable_graph", "knn_pool", "clique_cover", "csr"}
    assert st["pool_recall"] > 0.9
    assert st["nn10_one_hop"] > 0.5
    memberships = np.diff(index._sections["node_offsets"].astype(np.int64))
    short = int(np.sum(memberships < index.build_params["min_memberships"]))
    assert sum(r["newly_covered"] for r in st["densification_rounds"]) == 3000 - short


class TestBadInput:
    def test_nan_rows_named(self):
        data = clustered(100, 4)
        data[[7, 42]] = np.nan
        with pytest.raises(ValueError, match="7, 42"):
            build(data)

    def test_zero_vector_cosine(self):
        data = clustered(100, 4)
        data[3] = 0
        with pytest.raises(ValueError, match="zero vector"):
            build(data, metric="cosine")

    @pytest.mark.parametrize("kw", [{"pool_size": 0}, {"min_clique_size": -1}, {"alpha": 0.5},
                                    {"threads": 0}, {"hub_cap": 1, "min_memberships": 2},
                                    {"alpha": float("nan")}, {"seed": -1}, {"pool_method": "nn-descent"}])
    def test_bad_parameters(self, kw):
        with pytest.raises(ValueError):
            build(clustered(50, 4), **kw)

    @pytest.mark.parametrize("kw", [{"degree": 1.5}, {"pool_size": True}, {"seed": "0"}])
    def test_wrong_parameter_types(self, kw):
        with pytest.raises(TypeError, match="must be an int"):
            build(clustered(50, 4), **kw)

    def test_empty_and_bad_metric(self):
        with pytest.raises(ValueError, match="at least one row"):
            build(np.zeros((0, 4), np.float32))
        with pytest.raises(ValueError, match="metric"):
            build(clustered(10, 4), metric="manhattan")


def test_build_releases_the_gil():
    data = clustered(40000, 16, seed=6)
    done = threading.Event()
    ticks = 0

    def run():
        build(data, threads=1, pool_size=64)
        done.set()

    t = threading.Thread(target=run)
    start = time.perf_counter()
    t.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    t.join()
    elapsed = time.perf_counter() - start
    # With the GIL held for the build, this loop could not have run during it.
    assert ticks > 0.2 * elapsed / 0.001 * 0.5, (ticks, elapsed)


def test_keyboard_interrupt_stops_the_build_cleanly():
    data = clustered(60000, 32, seed=7)
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        build(data, threads=2)
    timer.join()
    assert time.perf_counter() - start < 10
    check_structure(build(clustered(500, 8), pool_size=32, min_clique_size=6))  # still usable


def test_progress_callback_and_its_errors():
    seen = []
    build(clustered(3000, 8), progress=lambda phase, done, total: seen.append(phase))
    assert {"navigable graph", "kNN pool", "clique cover"} <= set(seen)

    def stop(phase, done, total):
        if phase == "kNN pool":
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        build(clustered(3000, 8), progress=stop)


def test_repr_and_simd():
    index = build(clustered(300, 4), pool_size=32, min_clique_size=4)
    assert mcindex.simd_level() in repr(index) and "cliques=" in repr(index)


@pytest.mark.parametrize("mmap", [False, True])
def test_save_load_roundtrip_identical(tmp_path, mmap):
    index = build(clustered(800, 9), metric="cosine", pool_size=40, min_clique_size=6, stats_sample=50)
    path = tmp_path / "idx.mci"
    index.save(path)
    loaded = Index.load(path, mmap=mmap)
    assert loaded._header == index._header
    assert set(loaded._sections) == set(index._sections)
    for name, arr in index._sections.items():
        np.testing.assert_array_equal(loaded._sections[name], arr, err_msg=name)
    assert loaded.stats() == index.stats()
    assert len(loaded) == 800 and loaded.metric == "cosine"


def test_load_rejects_damaged_files(tmp_path):
    from mcindex.persistence import IndexFormatError

    index = build(clustered(300, 5), pool_size=32, min_clique_size=6)
    path = tmp_path / "idx.mci"
    index.save(path)
    raw = path.read_bytes()
    cases = {
        "truncated": raw[: len(raw) // 2],
        "checksum": raw[:-200] + bytes([raw[-200] ^ 0xFF]) + raw[-199:],
        "magic": b"NOTMCIDX" + raw[8:],
        "version": raw[:8] + (99).to_bytes(4, "little") + raw[12:],
    }
    for what, data in cases.items():
        bad = tmp_path / f"{what}.mci"
        bad.write_bytes(data)
        with pytest.raises(IndexFormatError):
            Index.load(bad)
    index.save(path)  # a good save over a good file still works
    assert len(Index.load(path)) == 300


def test_oversized_parameters_are_clamped_not_trusted():
    data = clustered(40, 4)
    index = build(data, pool_size=2**62, degree=2**62, build_list=2**40, pool_search_list=2**40, stats_sample=10)
    check_structure(index)


def test_core_binding_rejects_what_python_would_never_send():
    """The binding is the last line of defence: what could make the core read out of bounds is
    refused even when the Python layer is bypassed."""
    from mcindex import _core

    data = clustered(100, 4)
    q = data[:2].copy()
    words = Bitmap.from_mask(np.arange(100) % 3 == 0).words
    with pytest.raises(ValueError, match="k must be"):
        _core.exact_search(data, q, 0, "l2", None, None, 1)
    dup = np.array([5, 5, 7], dtype=np.uint32)  # unsorted / repeated ids would overrun a buffer
    with pytest.raises(ValueError, match="strictly increasing"):
        _core.exact_search(data, q, 3, "l2", [(words, dup, 3)], None, 1)
    with pytest.raises(ValueError, match="out of range"):
        _core.exact_search(data, q, 3, "l2", [(words, np.array([5, 100], np.uint32), 2)], None, 1)
    with pytest.raises(ValueError, match="wrong number of words"):
        _core.exact_search(data, q, 3, "l2", [(words[:1], None, 3)], None, 1)
    past = words.copy()
    past[-1] |= np.uint64(1) << np.uint64(63)  # bit 127: past n = 100
    with pytest.raises(ValueError, match="bits set past"):
        _core.exact_search(data, q, 3, "l2", [(past, None, 34)], None, 1)
    with pytest.raises(ValueError, match="filter index out of range"):
        _core.exact_search(data, q, 3, "l2", [(words, None, 34)], np.array([0, 1], np.int32), 1)
    ids, _ = _core.exact_search(data, q, 10**6, "l2", None, None, 1)  # huge k: padded, no huge heap
    assert ids.shape == (2, 10**6) and np.all(ids[:, 100:] == -1)


def test_core_index_checks_its_arrays_once(tmp_path):
    """Arrays an Index file would never hold are refused when the core index is made."""
    from mcindex import _core

    index = build(clustered(60, 4), stats_sample=0)
    s, h = index._sections, index._header
    args = lambda **kw: {**dict(vectors=s["vectors"], dim=h["dim"], metric=h["metric"], nav_offsets=s["nav_offsets"],
                                nav_neighbors=s["nav_neighbors"], entry_point=h["entry_point"],
                                clique_offsets=s["clique_offsets"], clique_members=s["clique_members"],
                                node_offsets=s["node_offsets"], node_cliques=s["node_cliques"]), **kw}
    _core.Index(**args())
    bad_neighbors = s["nav_neighbors"].copy()
    bad_neighbors[0] = 60
    for kw, message in [({"nav_neighbors": bad_neighbors}, "navigable graph: value 0 is out of range"),
                        ({"entry_point": 60}, "entry point"),
                        ({"nav_offsets": s["nav_offsets"][::-1].copy()}, "navigable graph"),
                        ({"node_offsets": s["node_offsets"][:-1].copy()}, "rows"),
                        ({"metric": "hamming"}, "metric"),
                        ({"dim": 0}, "dim")]:
        with pytest.raises(ValueError, match=message):
            _core.Index(**args(**kw))
