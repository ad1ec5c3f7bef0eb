"""``mcindex serve``: its help, and every way it refuses to start (no Ray Serve installed, a bad
path, a bad port, a sharded collection before mcindex.distributed lands) - one line on stderr,
exit code 2, and no Ray started. What a path holds (mcindex.serve.loading), without Ray."""

import json
import sys

import numpy as np
import pytest

from mcindex.cli import main
from mcindex.serve.loading import describe_path, load_servable
from serve_data import queries, shop


def run(capsys, argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve-cli")
    shop().save(d / "shop.mcc")
    shop().index.save(d / "shop.mci")
    return d


def test_help(capsys):
    code, out, _ = run(capsys, ["serve", "--help"])
    assert code == 0
    assert "mcindex serve shop.mcc --ray --replicas 2" in out and "POST /search" in out
    assert 'pip install "mcindex[serve]"' in out and 'pip install "mcindex[distributed]"' in out


@pytest.mark.parametrize("also_missing", [(), ("fastapi", "uvicorn")])
def test_without_ray_serve(capsys, monkeypatch, saved, also_missing):
    for module in ("ray",) + also_missing:
        monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    code, out, err = run(capsys, ["serve", saved / "shop.mcc", "--ray"])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and 'pip install "mcindex[distributed]"' in err and err.startswith("mcindex: error:")


@pytest.mark.parametrize("module", ["fastapi", "uvicorn"])
def test_without_the_serve_extra(capsys, monkeypatch, saved, module):
    monkeypatch.setitem(sys.modules, module, None)
    code, out, err = run(capsys, ["serve", saved / "shop.mcc"])
    assert code == 2 and out == "" and err.count("\n") == 1 and 'pip install "mcindex[serve]"' in err


def test_ray_options_need_ray(capsys, saved):
    for argv in (["--replicas", "2"], ["--ray-address", "auto"], ["--num-cpus", "1"], ["--ray-temp-dir", "/tmp/x"]):
        code, _, err = run(capsys, ["serve", saved / "shop.mcc", *argv])
        assert code == 2 and "need --ray" in err and err.count("\n") == 1, argv


def _needs_serve():
    pytest.importorskip("fastapi")
    pytest.importorskip("ray.serve")


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: d / "missing.mcc", "No such file or directory"),
    (lambda d: d, "not a collection directory (no manifest.json)"),
    (lambda d: d / "shop.mcc" / "ids.npz", "not an mcindex index file or collection directory"),
])
def test_bad_paths(capsys, saved, make, message):
    _needs_serve()
    code, out, err = run(capsys, ["serve", make(saved)])
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err


def test_bad_arguments(capsys, saved):
    for argv, message in ([["--port", "0"], "a port number (1-65535)"],
                          [["--ray", "--replicas", "0"], "positive integer"],
                          [["--max-body-mb", "-1"], "positive number"]):
        code, _, err = run(capsys, ["serve", saved / "shop.mcc", *argv])
        assert code == 2 and message in err and err.count("\n") == 1


def test_sharded_directory_is_recognised_and_verified_before_ray_starts(capsys, tmp_path):
    _needs_serve()
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "mcindex-sharded-collection", "shards": []}))
    assert describe_path(tmp_path) == "sharded"
    code, _, err = run(capsys, ["serve", tmp_path])
    assert code == 2 and "manifest" in err and err.count("\n") == 1


def test_loading(saved, tmp_path):
    assert describe_path(saved / "shop.mcc") == "collection"
    assert describe_path(saved / "shop.mci") == "index"
    q = queries(2)
    loaded = load_servable(saved / "shop.mcc")
    for a, b in zip(loaded.search(q, 5, threads=1), shop().search(q, 5, threads=1), strict=True):
        np.testing.assert_array_equal(a, b)
    bare = load_servable(saved / "shop.mci")  # no attributes, row numbers as ids
    assert bare.column_names == [] and len(bare) == len(shop())
    ids, _ = bare.search(q, 5, threads=1)
    assert ids.tolist() == shop().rows_of(shop().search(q, 5, threads=1)[0].ravel()).reshape(2, 5).tolist()
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="unreadable manifest"):
        describe_path(tmp_path)


def test_import_mcindex_does_not_import_ray_or_fastapi():
    import subprocess

    code = ("import sys, mcindex, mcindex.cli, mcindex.serve, mcindex.serve.where_json; mcindex.cli.build_parser(); "
            "heavy = [m for m in ('ray', 'fastapi', 'pydantic', 'starlette') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def _listening_sockets(pid: int) -> list[str]:
    """``host:port`` of every TCP socket in LISTEN state held by ``pid`` or its descendants."""
    import os
    import socket
    import struct

    pids, todo = set(), [pid]
    while todo:
        p = todo.pop()
        pids.add(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    inodes = set()
    for p in pids:
        try:
            for fd in os.listdir(f"/proc/{p}/fd"):
                target = os.readlink(f"/proc/{p}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            pass
    out = []
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] != "0A" or cols[9] not in inodes:  # 0A: LISTEN
                continue
            hexaddr, hexport = cols[1].split(":")
            raw = bytes.fromhex(hexaddr)
            raw = b"".join(struct.pack("<I", w) for w in struct.unpack(">" + "I" * (len(raw) // 4), raw))
            out.append(f"{socket.inet_ntop(family, raw)}:{int(hexport, 16)}")
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_serve_without_ray_listens_on_the_given_host_only(saved):
    """`mcindex serve` of a collection is one uvicorn process: the only socket it listens on is
    HOST:PORT (Ray, started before, opened a dozen ports on every interface), it answers like a
    local search, and SIGTERM stops it cleanly."""
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    import http.client
    import signal
    import socket
    import subprocess
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "mcindex.cli", "serve", str(saved / "shop.mcc"), "--port",
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # printed once the socket listens
        assert f"at http://127.0.0.1:{port}" in line and "no Ray" in line, (line, proc.stderr.read())
        assert _listening_sockets(proc.pid) == [f"127.0.0.1:{port}"]
        q = queries(2)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/search", body=json.dumps({"queries": q.tolist(), "k": 5}),
                     headers={"content-type": "application/json"})
        body = json.loads(conn.getresponse().read())
        want, _ = shop().search(q, 5, threads=1)
        assert body["ids"] == want.tolist()
        proc.send_signal(signal.SIGTERM)
        began = time.monotonic()
        assert proc.wait(timeout=30) == 0
        assert time.monotonic() - began < 15
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sql_limit_flags_reach_the_app(capsys, monkeypatch, saved, tmp_path):
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    import mcindex.serve.local as local
    from mcindex import SqlLimits

    seen = []
    monkeypatch.setattr(local, "run_local", lambda path, **kwargs: seen.append(kwargs["app_options"]))
    assert run(capsys, ["serve", saved / "shop.mcc"])[0] == 0
    assert "sql_limits" not in seen[-1]  # the collection keeps its own (the defaults)
    argv = ["serve", saved / "shop.mcc", "--sql-time-budget", "0.5", "--sql-memory-mb", "64", "--sql-connections", "2"]
    assert run(capsys, argv)[0] == 0
    assert seen[-1]["sql_limits"] == SqlLimits(time_budget=0.5, memory_limit=64 << 20, connections=2)
    assert run(capsys, ["serve", saved / "shop.mcc", "--sql-connections", "8"])[0] == 0
    assert seen[-1]["sql_limits"] == SqlLimits(connections=8)
    for flags, message in ([["--sql-memory-mb", "0.5"], "--sql-memory-mb must be at least 1"],
                           [["--sql-time-budget", "5000"], "time_budget must be a number of seconds in (0, 3600]"],
                           [["--sql-connections", "0"], "positive integer"]):
        code, out, err = run(capsys, ["serve", saved / "shop.mcc", *flags])
        assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "mcindex-sharded-collection", "shards": []}))
    code, _, err = run(capsys, ["serve", tmp_path, "--sql-time-budget", "2"])
    assert code == 2 and "a sharded collection's shards apply the defaults" in err and err.count("\n") == 1
