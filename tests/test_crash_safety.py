"""Saves killed at random moments (SIGKILL to a child process that saves over and over) leave the
previous file intact: the path always holds the old or the new index, byte for byte, and the
temporary file a killed writer leaves is removed by the next save. RELIABILITY.md, "Files"."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from mcindex import Collection, Index
from mcindex import atomic_files, persistence

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

KILLS = int(os.environ.get("MCINDEX_KILL_ROUNDS", "6"))  # more: MCINDEX_KILL_ROUNDS=100


def index_pair(n):
    rng = np.random.default_rng(n)
    a = rng.standard_normal((n, 64)).astype(np.float32)
    kw = dict(pool_size=16, min_clique_size=4, degree=8, build_list=24, threads=2, progress=False, stats_sample=0,
              calibrate=False)
    return Index.build(a, **kw), Index.build(a[::-1].copy(), **kw)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("pair")
    a, b = index_pair(15000)  # 5.5 MB files: a save takes ~45 ms, most of it writing the file
    a.save(d / "a.mci")
    b.save(d / "b.mci")
    return d


SAVER = textwrap.dedent("""
    import sys
    from mcindex import Collection, Index
    kind, a_path, b_path, target = sys.argv[1:]
    load = Index.load if kind == "index" else Collection.load
    a, b = load(a_path), load(b_path)
    print("ready", flush=True)
    while True:
        a.save(target)
        b.save(target)
""")


def kill_mid_save(kind, a_path, b_path, target, rng):
    """Start a saver, let it run a random while, SIGKILL it."""
    proc = subprocess.Popen([sys.executable, "-c", SAVER, kind, str(a_path), str(b_path), str(target)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        time.sleep(rng.uniform(0.0, 0.3))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def test_killed_index_saves_leave_the_old_or_the_new_file(pair, tmp_path):
    rng = random.Random(1)
    a_bytes, b_bytes = (pair / "a.mci").read_bytes(), (pair / "b.mci").read_bytes()
    target = tmp_path / "target.mci"
    target.write_bytes(a_bytes)
    mid_save = rounds = 0
    # At least KILLS rounds, and more until one kill has landed in the middle of writing a file
    # (about half do: measured 48 of 100), so interrupted writes are tested, not only kills
    # between saves.
    while rounds < KILLS or (mid_save == 0 and rounds < KILLS + 30):
        rounds += 1
        kill_mid_save("index", pair / "a.mci", pair / "b.mci", target, rng)
        content = target.read_bytes()
        assert content in (a_bytes, b_bytes), "the target holds neither index"
        Index.load(target, mmap=True)  # and it loads
        leftovers = [p.name for p in tmp_path.iterdir() if p.name != "target.mci"]
        assert len(leftovers) <= 1 and all(atomic_files.temp_pattern("target.mci").match(x) for x in leftovers)
        mid_save += len(leftovers)
        # The next save (here: of the index it holds) removes the dead writer's temporary file.
        Index.load(target).save(target)
        assert [p.name for p in tmp_path.iterdir()] == ["target.mci"]
        assert target.read_bytes() == content
    print(f"{rounds} kills, {mid_save} in the middle of writing a file")  # the figures (pytest -s)
    assert mid_save >= 1


def test_stale_temp_of_a_live_writer_is_left_alone(pair, tmp_path):
    target = tmp_path / "t.mci"
    index = Index.load(pair / "a.mci")
    live_tmp, fd = atomic_files.open_temp_file(str(tmp_path), "t.mci")  # holds the writer's lock
    try:
        index.save(target)
        assert os.path.exists(live_tmp)  # another writer's file in progress: untouched
    finally:
        os.close(fd)
    index.save(target)  # its writer is gone now (lock released): removed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.mci"]


def test_interrupted_save_keeps_the_old_file(pair, tmp_path, monkeypatch):
    """Ctrl-C (or any exception) in the middle of writing: old file intact, no temporary left."""
    target = tmp_path / "t.mci"
    Index.load(pair / "a.mci").save(target)
    before = target.read_bytes()
    calls = []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)

    real = persistence._bytes_of
    monkeypatch.setattr(persistence, "_bytes_of", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Index.load(pair / "b.mci").save(target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.mci"]


def test_killed_collection_saves_leave_a_whole_collection(tmp_path):
    rng = np.random.default_rng(2)
    n = 10000
    vectors = rng.standard_normal((n, 32)).astype(np.float32)
    kw = dict(pool_size=16, min_clique_size=4, degree=8, build_list=24, threads=2, progress=False, stats_sample=0,
              calibrate=False)
    a = Collection.build(vectors, {"x": rng.integers(0, 9, n)}, metric="l2", **kw)
    b = Collection.build(vectors[::-1].copy(), {"x": rng.integers(0, 9, n), "y": rng.random(n)}, metric="l2", **kw)
    a.save(tmp_path / "a")
    b.save(tmp_path / "b")
    target = tmp_path / "target"
    a.save(target)
    r = random.Random(3)
    for _ in range(max(2, KILLS // 3)):
        kill_mid_save("collection", tmp_path / "a", tmp_path / "b", target, r)
        loaded = Collection.load(target)  # verifies every checksum
        assert loaded.column_names in (["x"], ["x", "y"])
        Collection.load(target).save(target)  # the next save removes a dead writer's directory
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "target"]
    assert atomic_files.remove_stale_temps(str(tmp_path), "target") == []
